/* server.h — the process around the loop: the once-per-pass flush, signals (SIGHUP
 * reload, SIGTERM/SIGINT drain then stop), the script file watcher and the open-file
 * limit. */
#ifndef LUAHUB_SERVER_H
#define LUAHUB_SERVER_H

/* Runs the loop until stopped (the listener is open); returns the process exit status. */
/* Holds SIGHUP, SIGTERM and SIGINT back until server_run handles them: called before the
 * socket listens, so a signal sent as soon as it accepts is never met by the default
 * action (killed by SIGTERM, exit 143) in the window before the loop runs. */
void server_hold_signals(void);
int server_run(void);
/* Stops without a drain, as a second SIGTERM does: every client gets 1001 and the loop
 * ends; why is logged. Called from the loop (parent.c). */
void server_stop_now(const char *why);
/* Seconds since the loop started. */
double server_uptime(void);

#endif
