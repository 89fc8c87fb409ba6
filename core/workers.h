/* workers.h — `luahub --workers N`: one master process that starts N luahub worker
 * processes on one port (each binds it with SO_REUSEPORT and the kernel spreads the
 * connections), restarts a worker that dies (with a growing delay, so a crash loop does
 * not spin) or hangs (no watchdog ping for --watchdog seconds), and passes signals on
 * (SIGHUP: every worker reloads; SIGTERM/SIGINT: every worker drains and stops). The
 * master runs no script: it cannot be taken down by one.
 *
 * A worker is this binary run again with the master's arguments and `--worker I`. It
 * talks to the master with the service manager's notify protocol (notify.c), which it
 * speaks to systemd when run alone: READY=1, RELOADING=1, STOPPING=1 and WATCHDOG=1
 * datagrams to the master's socket, which the kernel stamps with the sender's PID. */
#ifndef LUAHUB_WORKERS_H
#define LUAHUB_WORKERS_H

#include <stddef.h>

#define WORKERS_MAX 64
#define WORKERS_WATCHDOG_DEFAULT 10.0

/* "auto" (one per online CPU) or 1..WORKERS_MAX; -1 when it is neither. */
int workers_parse_count(const char *text);

/* Runs the master until every worker has stopped; returns the process exit status: 0
 * when every worker stopped with 0 after a stop signal, 1 when the first start failed
 * or a worker ended otherwise while stopping. worker_argv is the command line a worker
 * runs (argv[0] is replaced by this binary), without --worker I and --parent-pid, which
 * the master adds; parent_pid > 0: stop when that process ends. */
int workers_run(int count, double watchdog, char **worker_argv, int parent_pid);

#endif
