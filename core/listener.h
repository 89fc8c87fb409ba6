/* listener.h — the transport's listening socket: bind, accept, hand each socket to
 * conn_new. Out of descriptors (EMFILE), accepting pauses for 100 ms instead of spinning. */
#ifndef LUAHUB_LISTENER_H
#define LUAHUB_LISTENER_H

#include <stddef.h>

/* Binds and listens on "host:port" ("[::1]:port" for IPv6). -1 with the cause in err. */
int listener_open(const char *addr, int reuse_port, char *err, size_t errlen);
/* Starts accepting on the default loop. */
void listener_start(void);
void listener_close(void);

#endif
