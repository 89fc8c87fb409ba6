/* notify.h — the service manager's readiness and watchdog protocol (systemd's
 * Type=notify, sd_notify(3)): datagrams to $NOTIFY_SOCKET. Without that variable every
 * call does nothing. The watchdog ping comes from a loop timer, so a loop that stops
 * turning (a script stuck where the guard cannot end it) stops the pings, and the
 * manager restarts the service after WatchdogSec. */
#ifndef LUAHUB_NOTIFY_H
#define LUAHUB_NOTIFY_H

/* Reads $NOTIFY_SOCKET and $WATCHDOG_USEC; starts the watchdog pings when asked for. */
void notify_start(void);
/* "READY=1", "RELOADING=1", "STOPPING=1", or "STATUS=..." lines. */
void notify_state(const char *state);

#endif
