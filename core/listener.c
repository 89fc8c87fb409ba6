/* listener.c — the listening socket and the accept loop: each accepted socket becomes a
 * connection (conn_new); nothing else happens here. */
#include "listener.h"

#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"

#define ACCEPT_BATCH 64

static int listen_fd = -1;
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
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    listen_fd = fd;
    return 0;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_in6 sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
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

void listener_start(void)
{
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
}

