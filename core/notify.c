#include "notify.h"

#include <ev.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

static int fd = -1;
static struct sockaddr_un addr;
static socklen_t addr_len;
static ev_timer ping;

void notify_state(const char *state)
{
    if (fd < 0) return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len) < 0)
        log_debug(0, "notify: %s: %m", state);
}

static void ping_cb(struct ev_loop *loop, ev_timer *w, int revents) { notify_state("WATCHDOG=1"); }

void notify_start(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0] || strlen(path) >= sizeof addr.sun_path) return;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_warn(0, "notify: cannot open a socket for NOTIFY_SOCKET: %m");
        return;
    }
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path));
    if (path[0] == '@') addr.sun_path[0] = 0;   /* abstract namespace */
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    /* WATCHDOG_PID, when set, names the process the pings are expected from */
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (usec && (!pid || atol(pid) == (long)getpid())) {
        double interval = atof(usec) / 1e6 / 2;
        if (interval > 0) {
            ev_timer_init(&ping, ping_cb, interval, interval);
            ev_timer_start(EV_DEFAULT, &ping);
        }
    }
}
