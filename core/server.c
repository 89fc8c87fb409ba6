#include "server.h"

#include <ev.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "fanout_batch.h"
#include "guard.h"
#include "hub.h"
#include "listener.h"
#include "log.h"
#include "lua_bridge.h"
#include "lua_modules.h"
#include "notify.h"
#include "write_ring.h"

#define STOP_GRACE_SECONDS 2.0

static ev_prepare flush_watcher;
/* Active while dirty clients wait for the next pass: the loop polls without blocking. */
static ev_idle more_watcher;
static ev_signal sighup_watcher, sigterm_watcher, sigint_watcher;
static ev_stat script_watcher;
static ev_timer script_settle;
static ev_timer stop_deadline, drain_tick;
static ev_tstamp drain_ends;
static int stopping;

static ev_tstamp started_at;

double server_uptime(void) { return ev_now(EV_DEFAULT) - started_at; }

static void more_cb(struct ev_loop *loop, ev_idle *w, int revents) {}

int server_flush_pass(void)
{
    int more;
    conn_flush_begin();
    /* The pass's held broadcasts, before the flush writes the queues; again while the
     * close hooks the flush runs (a killed connection's) left some held, or they would
     * wait for the next event. */
    do {
        batch_settle_for_flush();
        more = conn_flush_dirty();
    } while (batch_holding());
    return more;
}

static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    hub_fire_dropped();
    int more = server_flush_pass();
    /* What the flush's own sends dropped (a close hook's) is reported by the next pass,
     * which must not wait for an event. */
    if (more || hub_dropped_pending())
        ev_idle_start(loop, &more_watcher);
    else
        ev_idle_stop(loop, &more_watcher);
    /* not before every answer is written: a drain's 503s to reconnecting clients */
    if (stopping && hub_count() == 0 && !more) ev_break(loop, EVBREAK_ALL);
}

static char watched_file[PATH_MAX];

/* watch = true watches the file the script resolves to (lua_modules_resolve: a symlink's
 * target, whose own stat is what changes on a save), resolved again after each reload. */
static void watch_script(struct ev_loop *loop)
{
    if (!config.watch) return;
    ev_stat_stop(loop, &script_watcher);
    lua_modules_resolve(lua_bridge_script(), watched_file, sizeof watched_file);
    ev_stat_set(&script_watcher, watched_file, 0.25);
    ev_stat_start(loop, &script_watcher);
}

static void reload(void)
{
    notify_state("RELOADING=1");
    lua_bridge_reload();
    watch_script(EV_DEFAULT);
    notify_state("READY=1");
}

static void reload_cb(struct ev_loop *loop, ev_signal *w, int revents) { reload(); }

/* watch = true: reload once the script file has stopped changing for SETTLE seconds.
 * A save is often a truncate then a write; reloading in between would load an empty
 * script, which is valid Lua and would replace every handler with nothing. */
#define SCRIPT_SETTLE_SECONDS 0.2

static void script_settled_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    log_info(0, "%s changed: reloading", lua_bridge_script());
    reload();
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
    batch_settle();
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
    batch_settle();
    int n = conn_close_idle(config.drain_timeout, 1001, "server draining");
    if (n) log_info(0, "drain: closed %d clients idle for %.1fs", n, config.drain_timeout);
}

void server_stop_now(const char *why)
{
    if (!stopping) {
        stopping = 1;
        notify_state("STOPPING=1");
        hub_set_draining(1);
    }
    close_remaining(EV_DEFAULT, why);
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
    notify_state("STOPPING=1");
    hub_set_draining(1);
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

static void stop_signal(int signum)
{
    guard_stop_requested();
    ev_feed_signal(signum);
}

void server_hold_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

/* Per process: a worker sets up its own ring after its fork. */
static void start_write_ring(void)
{
    if (config.io_uring == IO_URING_OFF) {
        log_info(0, "writes: writev (io_uring = \"off\")");
        return;
    }
    int r = write_ring_start();
    if (r == 0)
        log_info(0, "writes: io_uring, up to %d sends per submission", WRITE_RING_ENTRIES);
    else
        log_warn(0, "writes: writev (io_uring unavailable: %s)", strerror(-r));
}

int server_run(void)
{
    struct ev_loop *loop = EV_DEFAULT;
    signal(SIGPIPE, SIG_IGN);
    started_at = ev_now(loop);

    listener_start();
    ev_prepare_init(&flush_watcher, flush_cb);
    ev_prepare_start(loop, &flush_watcher);
    ev_idle_init(&more_watcher, more_cb);
    ev_init(&script_watcher, script_changed_cb);
    ev_init(&script_settle, script_settled_cb);
    watch_script(loop);
    ev_signal_init(&sighup_watcher, reload_cb, SIGHUP);
    ev_signal_start(loop, &sighup_watcher);
    ev_signal_init(&sigterm_watcher, stop_cb, SIGTERM);
    ev_signal_start(loop, &sigterm_watcher);
    ev_signal_init(&sigint_watcher, stop_cb, SIGINT);
    ev_signal_start(loop, &sigint_watcher);
    /* A stop signal must work while a script call holds the loop: it first tells the
     * guard (which ends that call now) and then libev, as libev's own handler would. */
    struct sigaction sa = { .sa_handler = stop_signal };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* main held these back from before the socket listened (server_hold_signals): one
     * that came meanwhile is handled now, by the handlers above */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    start_write_ring();
    log_info(0, "listening on %s (WebSocket at %s%s%s)", config.listen, config.ws_path,
             config.static_dir ? ", static files from " : "",
             config.static_dir ? config.static_dir : "");
    notify_start();
    notify_state("READY=1");
    ev_run(loop, 0);
    listener_close();
    log_info(0, "stopped");
    return 0;
}
