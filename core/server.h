/* server.h — the event loop's fixed parts: the listening socket, the once-per-pass flush,
 * signals (SIGHUP reload, SIGTERM/SIGINT stop) and the open-file limit. */
#ifndef LUAHUB_SERVER_H
#define LUAHUB_SERVER_H

#include <stddef.h>

/* Binds and listens on "host:port" ("[::1]:port" for IPv6). -1 with the cause in err. */
int server_listen(const char *addr, int reuse_port, char *err, size_t errlen);
/* Runs the loop until stopped; returns the process exit status. */
int server_run(void);
/* 1 once a stop signal arrived: new upgrades are refused with 503. */
int server_draining(void);
/* Seconds since the loop started. */
double server_uptime(void);
/* FFI: seconds since the loop started. */

#endif
