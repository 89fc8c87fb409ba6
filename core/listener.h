/* listener.h — the transport's listening socket: bind, accept, hand each socket to
 * conn_new. The last 32 descriptors of the open-file limit are a reserve: connections
 * accepted into it get their plain HTTP requests (the probes) answered but no upgrade
 * (conn_set_capacity). At the limit itself a spare descriptor lets each pending
 * connection be accepted and closed at once, counted and logged, instead of hanging. */
#ifndef LUAHUB_LISTENER_H
#define LUAHUB_LISTENER_H

#include <stddef.h>

/* Binds and listens on "host:port" ("[::1]:port" for IPv6). -1 with the cause in err. */
int listener_open(const char *addr, int reuse_port, char *err, size_t errlen);
/* Raises the open-file limit to its maximum, sets the reserve, starts accepting. */
void listener_start(void);
void listener_close(void);

#endif
