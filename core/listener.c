/* listener.c — the listening socket and the accept loop: each accepted socket becomes a
 * connection (conn_new); nothing else happens here. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "metrics.h"

/* The listen() backlog, and the most connections one loop pass accepts: the queue is
 * emptied (the kernel holds at most this many, capped by net.core.somaxconn), and no
 * more are taken in one pass, so a flood of connects cannot keep the loop here. A
 * smaller batch made a queue drain at batch / pass time: after one worker of
 * --workers died, a survivor whose every pass wrote a broadcast to 10,000 clients
 * (about a second a pass on a loaded box) took its share of the reconnects 64 a
 * second, for up to 13 s (docs/benchmarks.md, "The whole box"). */
#define LISTEN_BACKLOG 4096
/* Descriptors kept for what is not a client: probe and /metrics requests while clients
 * hold everything else, static files, broker reconnects. */
#define FD_RESERVE 32

static int listen_fd = -1;
/* Held open so that at the descriptor limit one pending connection can still be taken
 * and closed at once, a clear refusal instead of a hang in the accept queue. */
static int spare_fd = -1;
static ev_io accept_watcher;
static ev_timer accept_pause;         /* after EMFILE: stop accepting for a moment */

static int split_addr(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':') return -1;
        snprintf(host, hl, "%.*s", (int)(end - addr - 1), addr + 1);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) return -1;
        snprintf(host, hl, "%.*s", (int)(colon - addr), addr);
    }
    snprintf(port, pl, "%s", colon + 1);
    return port[0] ? 0 : -1;
}

int listener_open(const char *addr, int reuse_port, char *err, size_t errlen)
{
    char host[256], port[16];
    if (split_addr(addr, host, sizeof host, port, sizeof port) != 0) {
        snprintf(err, errlen, "listen address '%s' is not HOST:PORT", addr);
        return -1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *res;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "listen address '%s': %s", addr, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    listen_fd = fd;
    return 0;
}

/* At EMFILE: frees the spare descriptor for one accept, closes that connection, takes
 * the spare back. 0 when there was nothing to refuse. */
static int refuse_one(void)
{
    static struct log_limit lim;
    if (spare_fd < 0) return 0;
    close(spare_fd);
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        metrics.refused[REFUSE_CAPACITY]++;
        log_limited(&lim, LOG_WARN, 0, "accept: out of descriptors (%u connections open): refused a connection",
                    conn_open_count());
    }
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    for (int i = 0; i < LISTEN_BACKLOG; i++) {
        struct sockaddr_in6 sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE && refuse_one()) continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: pause accepting instead of spinning on a ready listener. */
                log_warn(0, "accept: %s (%u connections open); pausing accepts for 100ms",
                         strerror(errno), conn_open_count());
                ev_io_stop(loop, &accept_watcher);
                ev_timer_set(&accept_pause, 0.1, 0);
                ev_timer_start(loop, &accept_pause);
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_new(fd, (struct sockaddr *)&sa, sl);
    }
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_io_start(loop, &accept_watcher);
}

/* Raises the open-file limit to its hard maximum and tells the transport where the
 * reserve begins. */
static void set_capacity(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t usable = rl.rlim_cur > 2 * FD_RESERVE ? rl.rlim_cur - FD_RESERVE : rl.rlim_cur / 2;
    if (usable > INT_MAX) usable = INT_MAX;
    conn_set_capacity((int)usable);
    log_info(0, "open-file limit %llu: room for about %llu connections, %d kept for probes",
             (unsigned long long)rl.rlim_cur, (unsigned long long)usable, FD_RESERVE);
}

void listener_start(void)
{
    set_capacity();
    if (spare_fd < 0) spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ev_io_init(&accept_watcher, accept_cb, listen_fd, EV_READ);
    ev_io_start(EV_DEFAULT, &accept_watcher);
    ev_init(&accept_pause, accept_resume_cb);
}

void listener_close(void)
{
    if (listen_fd < 0) return;
    ev_io_stop(EV_DEFAULT, &accept_watcher);
    ev_timer_stop(EV_DEFAULT, &accept_pause);
    close(listen_fd);
    listen_fd = -1;
    if (spare_fd >= 0) close(spare_fd);
    spare_fd = -1;
}

