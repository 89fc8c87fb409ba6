/* parent.c — `--parent-pid PID`: the server stops when that process ends, however it
 * ends. luahub.testing passes the spec process's PID, so a server started by a spec never
 * outlives it, even when busted is killed with SIGKILL and no cleanup runs. A pidfd
 * (Linux 5.3) turns readable once the process has exited: no polling, and no mistaking a
 * later process that was given the same PID. */
#include "parent.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

static ev_io watcher;
static int watched;
static void (*on_gone)(const char *why);

static void parent_gone_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    ev_io_stop(loop, w);
    close(w->fd);
    char why[64];
    snprintf(why, sizeof why, "parent process %d ended", watched);
    on_gone(why);
}

int parent_watch(int pid, void (*gone)(const char *why), char *err, size_t errlen)
{
    int fd = pidfd_open(pid, 0);
    if (fd < 0) {
        snprintf(err, errlen, "--parent-pid %d: %s", pid,
                 errno == ESRCH ? "no such process (it has ended already)" : strerror(errno));
        return -1;
    }
    watched = pid;
    on_gone = gone;
    ev_io_init(&watcher, parent_gone_cb, fd, EV_READ);
    ev_io_start(EV_DEFAULT, &watcher);
    return 0;
}
