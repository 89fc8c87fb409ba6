/* server.h — the process around the loop: the pass's flush, signals (SIGHUP reload,
 * SIGTERM/SIGINT drain then stop), the script file watcher and the open-file limit. */
#ifndef LUAHUB_SERVER_H
#define LUAHUB_SERVER_H

/* Holds SIGHUP, SIGTERM and SIGINT back until server_run handles them: called before the
 * socket listens, so a signal sent as soon as it accepts is never met by the default
 * action (killed by SIGTERM, exit 143) in the window before the loop runs. */
void server_hold_signals(void);
/* Runs the loop until stopped (the listener is open); returns the process exit status. */
int server_run(void);
/* A loop pass's writes (its ev_prepare; the C tests' and fuzzers' passes): the pass's
 * share of the dirty clients (conn_flush_begin), the held broadcasts settled first. 1
 * when clients are left dirty for the next pass. */
int server_flush_pass(void);
/* Stops without a drain, as a second SIGTERM does: every client gets 1001 and the loop
 * ends; why is logged. Called from the loop (parent.c). */
void server_stop_now(const char *why);
/* Seconds since the loop started. */
double server_uptime(void);

#endif
