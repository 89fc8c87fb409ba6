#include "server.h"
#include "lh_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"
#include "config.h"
#include "conn.h"
#include "hub.h"
#include "log.h"
#include "lua_bridge.h"

#define ACCEPT_BATCH 64
#define STOP_GRACE_SECONDS 2.0

static int listen_fd = -1;
static ev_io accept_watcher;
static ev_timer accept_pause;         /* after EMFILE: stop accepting for a moment */
static ev_prepare flush_watcher;
static ev_signal sighup_watcher, sigterm_watcher, sigint_watcher;
static ev_stat script_watcher;
static ev_timer script_settle;
static ev_timer stop_deadline, drain_tick;
static ev_tstamp drain_ends;
static int stopping;

int server_draining(void) { return stopping; }

static ev_tstamp started_at;

double server_uptime(void) { return ev_now(EV_DEFAULT) - started_at; }
double lh_uptime(void) { return server_uptime(); }

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

int server_listen(const char *addr, int reuse_port, char *err, size_t errlen)
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
    if (!stopping) ev_io_start(loop, &accept_watcher);
}

static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    hub_fire_dropped();
    conn_flush_dirty();
    if (stopping && hub_count() == 0) ev_break(loop, EVBREAK_ALL);
}

static void reload_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    lua_bridge_reload();
}

/* watch = true: reload once the script file has stopped changing for SETTLE seconds.
 * A save is often a truncate then a write; reloading in between would load an empty
 * script, which is valid Lua and would replace every handler with nothing. */
#define SCRIPT_SETTLE_SECONDS 0.2

static void script_settled_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    log_info(0, "%s changed: reloading", lua_bridge_script());
    lua_bridge_reload();
}

static void script_changed_cb(struct ev_loop *loop, ev_stat *w, int revents)
{
    ev_timer_stop(loop, &script_settle);
    ev_timer_set(&script_settle, SCRIPT_SETTLE_SECONDS, 0);
    ev_timer_start(loop, &script_settle);
}

static void stop_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    log_warn(0, "%u clients still open %.0fs after the last close: exiting", hub_count(),
             STOP_GRACE_SECONDS);
    ev_break(loop, EVBREAK_ALL);
}

/* The end of a drain: every remaining client gets 1001 after its queued data; the loop
 * ends when they are gone or STOP_GRACE_SECONDS later. */
static void close_remaining(struct ev_loop *loop, const char *why)
{
    log_info(0, "%s: closing the remaining %u clients", why, hub_count());
    ev_timer_stop(loop, &drain_tick);
    conn_close_all(1001, "server shutting down");
    ev_timer_stop(loop, &stop_deadline);
    ev_timer_init(&stop_deadline, stop_deadline_cb, STOP_GRACE_SECONDS, 0);
    ev_timer_start(loop, &stop_deadline);
}

static void drain_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    if (ev_now(loop) >= drain_ends) {
        close_remaining(loop, "drain deadline passed");
        return;
    }
    int n = conn_close_idle(config.drain_timeout, 1001, "server draining");
    if (n) log_info(0, "drain: closed %d clients idle for %.1fs", n, config.drain_timeout);
}

/* SIGTERM/SIGINT: drain. The listener stays open so probes answer (readyz 503) and new
 * upgrades get 503; clients keep sending and receiving; those idle for drain_timeout are
 * closed with 1001; after 2 x drain_timeout, or on a second signal, everyone is. The
 * process exits 0 once no client is left. */
static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    if (stopping) {
        close_remaining(loop, "second signal");
        return;
    }
    stopping = 1;
    log_info(0, "signal %d: draining %u clients (idle timeout %.1fs)", w->signum, hub_count(),
             config.drain_timeout);
    if (config.drain_timeout <= 0) {
        close_remaining(loop, "no drain timeout");
        return;
    }
    drain_ends = ev_now(loop) + 2 * config.drain_timeout;
    double tick = config.drain_timeout / 4;
    if (tick > 1) tick = 1;
    if (tick < 0.02) tick = 0.02;
    ev_timer_init(&drain_tick, drain_tick_cb, tick, tick);
    ev_timer_start(loop, &drain_tick);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* a few descriptors stay for the listener, logs, static files and brokers */
    log_info(0, "open-file limit %llu: room for about %llu connections",
             (unsigned long long)rl.rlim_cur,
             (unsigned long long)(rl.rlim_cur > 32 ? rl.rlim_cur - 32 : 0));
}

int server_run(void)
{
    struct ev_loop *loop = EV_DEFAULT;
    signal(SIGPIPE, SIG_IGN);
    started_at = ev_now(loop);
    raise_fd_limit();

    ev_io_init(&accept_watcher, accept_cb, listen_fd, EV_READ);
    ev_io_start(loop, &accept_watcher);
    ev_init(&accept_pause, accept_resume_cb);
    ev_prepare_init(&flush_watcher, flush_cb);
    ev_prepare_start(loop, &flush_watcher);
    if (config.watch) {
        ev_stat_init(&script_watcher, script_changed_cb, lua_bridge_script(), 0.25);
        ev_init(&script_settle, script_settled_cb);
        ev_stat_start(loop, &script_watcher);
    }
    ev_signal_init(&sighup_watcher, reload_cb, SIGHUP);
    ev_signal_start(loop, &sighup_watcher);
    ev_signal_init(&sigterm_watcher, stop_cb, SIGTERM);
    ev_signal_start(loop, &sigterm_watcher);
    ev_signal_init(&sigint_watcher, stop_cb, SIGINT);
    ev_signal_start(loop, &sigint_watcher);

    char err[512];
    if (cluster_start(err, sizeof err) != 0) {
        log_error(0, "%s", err);
        return 1;
    }
    log_info(0, "listening on %s (WebSocket at %s%s%s)", config.listen, config.ws_path,
             config.static_dir ? ", static files from " : "",
             config.static_dir ? config.static_dir : "");
    ev_run(loop, 0);
    cluster_stop();
    if (listen_fd >= 0) close(listen_fd);
    log_info(0, "stopped");
    return 0;
}

int lh_draining(void) { return stopping; }
