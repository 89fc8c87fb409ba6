/* outbound_redis.c — see outbound_redis.h.
 *
 * A call ends exactly once (task.h): with its reply, or with a failure from a libev
 * callback (its deadline, the connection's failure, hiredis freeing the context) or from
 * the shutdown. A call that fails before it could start (busy, disconnected) still ends
 * from the loop: its deadline timer is set to 0 s, so no task is woken inside the
 * lh_redis_call that started it. A call's memory has up to three holders: the waiting
 * task until the call ends, hiredis until it has called the reply callback (once, with
 * a reply or with NULL when it frees the context), and the held list while the
 * connection is being made; the last one to let go frees it (release). */
#include "outbound_redis.h"

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backoff.h"
#include "broker_url.h"
#include "config.h"
#include "lh_api.h"
#include "lh_errors.h"
#include "log.h"
#include "metrics.h"
#include "redis_link.h"
#include "redis_reply.h"
#include "redis_slot.h"
#include "task.h"

/* Distinct URLs a process may open: a script that built URLs per request would
 * otherwise open connections without bound, as they live for the process. */
#define CLIENTS_MAX 64
/* Calls are refused (busy) while this many bytes wait unsent to one server: a stalled
 * server must not grow the process without bound. */
#define OUTPUT_MAX (64u << 20)

enum state {
    CONNECTING,   /* an attempt is due (timer at 0 s) or under way (ac set): calls are held */
    UP,           /* calls are sent */
    DOWN,         /* waiting out the backoff: calls fail with `connect` */
};

struct call;

struct client {
    char *url;                  /* as the script gave it: what open matches */
    char *name;                 /* the URL with its password masked, for messages and logs */
    struct broker_url addr;
    redisAsyncContext *ac;
    enum state state;
    int handshake;              /* AUTH / SELECT replies still awaited */
    int failures;               /* attempts failed in a row, for the backoff */
    int outage_logged;
    double down_since;
    ev_timer timer;             /* CONNECTING: the attempt's start, then its deadline; DOWN: the backoff */
    char cause[256];            /* why the last attempt failed or the connection was lost */
    struct call *held, **held_tail;
};

struct call {
    struct client *c;
    struct call *prev, *next;   /* every call not yet freed, for the shutdown */
    struct call *held_next;
    uint32_t wait;
    unsigned ended : 1, in_hiredis : 1, held : 1;
    enum outbound_result early; /* OUT_OK, or why it ends when its 0 s timer fires */
    char *early_detail;
    double started;
    ev_timer timer;
    char *cmd;                  /* the formatted command while held */
    size_t len;
};

static struct client *clients[CLIENTS_MAX];
static int nclients;
static struct call *live;
static int shutting_down;

/* What a call ended with, for push_outcome: a reply (OUT_OK) or a failure's detail. */
struct outcome {
    enum outbound_result result;
    const redisReply *reply;
    const char *detail;
    size_t len;
};

static int push_outcome(lua_State *L, void *ctx)
{
    const struct outcome *o = ctx;
    if (o->result == OUT_OK) {
        redis_reply_push(L, o->reply);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, metrics_outbound_results[o->result]);
    lua_pushlstring(L, o->detail, o->len);
    return 3;
}

/* ------------------------------------------------------------------ a call's life */

static void release(struct call *k)
{
    if (!k->ended || k->in_hiredis || k->held) return;
    if (k->prev) k->prev->next = k->next;
    else live = k->next;
    if (k->next) k->next->prev = k->prev;
    metrics.outbound_in_flight[OUTBOUND_REDIS]--;
    free(k->cmd);
    free(k->early_detail);
    free(k);
}

static void end_call(struct call *k, const struct outcome *o)
{
    k->ended = 1;
    ev_timer_stop(EV_DEFAULT, &k->timer);
    metrics.outbound_calls[OUTBOUND_REDIS][o->result]++;
    histogram_observe(&metrics.outbound_seconds[OUTBOUND_REDIS], metrics_clock() - k->started);
    task_wake(k->wait, push_outcome, (void *)o);
}

static void end_failure(struct call *k, enum outbound_result result, const char *detail)
{
    struct outcome o = { result, NULL, detail, strlen(detail) };
    end_call(k, &o);
}

/* Ends k from the loop, at once: its deadline becomes 0 s. */
static void fail_soon(struct call *k, enum outbound_result result, const char *detail)
{
    k->early = result;
    k->early_detail = strdup(detail);
    ev_timer_stop(EV_DEFAULT, &k->timer);
    ev_timer_set(&k->timer, 0, 0);
    ev_timer_start(EV_DEFAULT, &k->timer);
}

static void call_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct call *k = w->data;
    if (k->early) {
        end_failure(k, k->early, k->early_detail ? k->early_detail : "");
    } else {
        char why[400];
        snprintf(why, sizeof why, "%s: no reply within %.3gs", k->c->name,
                 metrics_clock() - k->started);
        end_failure(k, OUT_TIMEOUT, why);   /* a reply that comes later is discarded */
    }
    release(k);
}

static void down(struct client *c, const char *why);

/* hiredis calls this once per sent command: with its reply, or with NULL when it frees
 * the context (a loss it saw, or our own redisAsyncFree). */
static void call_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct call *k = privdata;
    struct client *c = k->c;
    const redisReply *r = reply;
    char why[512];
    k->in_hiredis = 0;
    if (!r && ac == c->ac) {
        /* hiredis is freeing a connection we did not drop: lost. Mark it before any task
         * resumes, so a call a woken task makes fails with `connect`, not on this context. */
        c->ac = NULL;
        down(c, ac->errstr[0] ? ac->errstr : "connection closed");
    }
    if (k->ended) {
        /* timed out before: the late reply is dropped */
    } else if (!r) {
        snprintf(why, sizeof why, "%s: %s", c->name,
                 shutting_down ? "shutting down" : "connection lost with the call in flight");
        end_failure(k, OUT_CLOSED, why);
    } else if (r->type == REDIS_REPLY_ERROR) {
        struct outcome o = { OUT_REDIS, NULL, r->str, r->len };
        end_call(k, &o);
    } else if (redis_reply_bytes(r) > config.outbound_max_response_bytes) {
        snprintf(why, sizeof why, "%s: a reply of about %zu bytes (outbound.max_response_bytes is %llu)",
                 c->name, redis_reply_bytes(r), (unsigned long long)config.outbound_max_response_bytes);
        end_failure(k, OUT_TOO_LARGE, why);
    } else {
        struct outcome o = { OUT_OK, r, NULL, 0 };
        end_call(k, &o);
    }
    release(k);
}

/* Writes k behind the calls in flight (hiredis buffers it; the loop writes it). */
static int send_call(struct call *k)
{
    if (redisAsyncFormattedCommand(k->c->ac, call_cb, k, k->cmd, k->len) != REDIS_OK) return -1;
    k->in_hiredis = 1;
    free(k->cmd);
    k->cmd = NULL;
    return 0;
}

/* ------------------------------------------------------------------ a connection's life */

static void connect_detail(const struct client *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s: %s", c->name, c->cause);
}

/* Ends or sends every held call, in the order they were made. */
static void flush_held(struct client *c)
{
    char why[512];
    struct call *k;
    while ((k = c->held)) {
        c->held = k->held_next;
        if (!c->held) c->held_tail = &c->held;
        k->held = 0;
        if (k->ended) {
            /* its deadline passed while held */
        } else if (c->state != UP) {
            connect_detail(c, why, sizeof why);
            end_failure(k, OUT_CONNECT, why);
        } else if (send_call(k) != 0) {
            snprintf(why, sizeof why, "%s: connection lost", c->name);
            end_failure(k, OUT_CLOSED, why);
        }
        release(k);
    }
}

/* The connection failed or was lost (and is already dropped): held calls fail, and the
 * next attempt waits out the backoff. Logged once per outage. */
static void down(struct client *c, const char *why)
{
    int was_up = c->state == UP;
    c->state = DOWN;
    snprintf(c->cause, sizeof c->cause, "%s", why);
    if (was_up || !c->outage_logged) {
        log_warn(0, "hub.redis %s: %s: %s; reconnecting", c->name,
                 was_up ? "connection lost" : "cannot connect", why);
        c->outage_logged = 1;
        c->down_since = ev_now(EV_DEFAULT);
    } else {
        log_debug(0, "hub.redis %s: attempt %d failed: %s", c->name, c->failures + 1, why);
    }
    ev_timer_stop(EV_DEFAULT, &c->timer);
    ev_timer_set(&c->timer, backoff_delay(c->failures++), 0);
    ev_timer_start(EV_DEFAULT, &c->timer);
    flush_held(c);
}

/* Drops a connection we give up on; hiredis ends the calls it holds (call_cb, NULL). */
static void drop(struct client *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    down(c, why);
    if (ac) redisAsyncFree(ac);
}

static void up(struct client *c)
{
    c->state = UP;
    c->failures = 0;
    ev_timer_stop(EV_DEFAULT, &c->timer);
    if (c->outage_logged)
        log_info(0, "hub.redis %s: connected after %.1fs", c->name, ev_now(EV_DEFAULT) - c->down_since);
    c->outage_logged = 0;
    flush_held(c);
}

static void handshake_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct client *c = ac->data;
    const redisReply *r = reply;
    if (!r || ac != c->ac) return;   /* the context is going: whoever drops it reports */
    if (r->type == REDIS_REPLY_ERROR) {
        char why[400];
        snprintf(why, sizeof why, "%s refused: %s", (const char *)privdata, r->str);
        drop(c, why);
        return;
    }
    if (--c->handshake == 0) up(c);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct client *c = ac->data;
    if (ac != c->ac) return;
    if (status != REDIS_OK) {
        c->ac = NULL;   /* hiredis frees it after this callback */
        down(c, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    /* Calls wait for the handshake rather than follow it in the pipeline: behind a
     * SELECT that failed they would run on database 0. */
    c->handshake = redis_link_auth(ac, &c->addr, handshake_cb, "AUTH");
    if (c->addr.db) {
        redisAsyncCommand(ac, handshake_cb, "SELECT", "SELECT %d", c->addr.db);
        c->handshake++;
    }
    if (!c->handshake) up(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct client *c = ac->data;
    if (ac != c->ac) return;   /* dropped by us, or already reported by call_cb */
    c->ac = NULL;
    down(c, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void attempt(struct client *c)
{
    char why[256];
    c->state = CONNECTING;
    c->ac = redis_link_open(&c->addr, c, on_connect, on_disconnect, why, sizeof why);
    if (!c->ac) {
        down(c, why);
        return;
    }
    ev_timer_set(&c->timer, config.outbound_connect_timeout, 0);
    ev_timer_start(EV_DEFAULT, &c->timer);
}

static void client_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct client *c = w->data;
    if (c->ac) {
        char why[64];
        snprintf(why, sizeof why, "connect timed out after %gs", config.outbound_connect_timeout);
        drop(c, why);
    } else {
        attempt(c);
    }
}

/* ------------------------------------------------------------------ the script's side */

static struct client *client_new(const char *url, char *err, size_t errlen)
{
    struct client *c = calloc(1, sizeof *c);
    char why[512];
    if (!c || !(c->url = strdup(url)) || !(c->name = broker_url_masked(url))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (broker_url_parse(url, &c->addr, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    if (strcmp(c->addr.scheme, "redis") != 0) {
        snprintf(err, errlen, "\"%s\": expected redis://[[user]:password@]host[:port][/db]", c->name);
        goto fail;
    }
    c->held_tail = &c->held;
    c->state = CONNECTING;
    ev_timer_init(&c->timer, client_timer_cb, 0, 0);   /* the first attempt, on the loop */
    c->timer.data = c;
    ev_timer_start(EV_DEFAULT, &c->timer);
    return c;
fail:
    if (c) {
        free(c->url);
        free(c->name);
        free(c);
    }
    return NULL;
}

int lh_redis_open(const char *url, size_t len, char *err, size_t errlen)
{
    for (int i = 0; i < nclients; i++)
        if (strlen(clients[i]->url) == len && memcmp(clients[i]->url, url, len) == 0) return i;
    if (memchr(url, 0, len)) {
        snprintf(err, errlen, "the URL holds a NUL byte");
        return -1;
    }
    if (nclients == CLIENTS_MAX) {
        snprintf(err, errlen, "at most %d distinct Redis URLs per process", CLIENTS_MAX);
        return -1;
    }
    char *s = strndup(url, len);
    struct client *c = s ? client_new(s, err, errlen) : NULL;
    if (!s) snprintf(err, errlen, "out of memory");
    free(s);
    if (!c) return -1;
    clients[nclients] = c;
    return nclients++;
}

/* Commands that change the state of the connection every call shares: after them
 * replies no longer match calls one to one (pub/sub, MONITOR: hiredis would call a
 * call's callback again and again), or other tasks' calls would run inside a
 * transaction, on another database, or in another protocol. */
static int changes_connection(int argc, const char **argv, const size_t *lens)
{
    static const char *const refused[] = {
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
        "MONITOR", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SELECT", "RESET", "HELLO",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (lens[0] == strlen(refused[i]) && strncasecmp(argv[0], refused[i], lens[0]) == 0) return 1;
    return argc > 1 && lens[0] == 6 && strncasecmp(argv[0], "CLIENT", 6) == 0 && lens[1] == 5 &&
           strncasecmp(argv[1], "REPLY", 5) == 0;
}

static int busy(const struct client *c, char *why, size_t len)
{
    int64_t n = metrics.outbound_in_flight[OUTBOUND_HTTP] + metrics.outbound_in_flight[OUTBOUND_REDIS] +
                metrics.outbound_in_flight[OUTBOUND_NATS];
    if (n >= (int64_t)config.outbound_max_in_flight) {
        snprintf(why, len, "%s: %lld outbound calls in flight (outbound.max_in_flight)", c->name,
                 (long long)n);
        return 1;
    }
    if (c->state == UP && sdslen(c->ac->c.obuf) > OUTPUT_MAX) {
        snprintf(why, len, "%s: %zu bytes wait unsent to the server", c->name, sdslen(c->ac->c.obuf));
        return 1;
    }
    return 0;
}

int lh_redis_call(int client, int argc, const char **argv, const size_t *lens, double timeout)
{
    if (shutting_down) return LH_ERR_CLOSED;
    if (client < 0 || client >= nclients || argc < 1 || changes_connection(argc, argv, lens))
        return LH_ERR_BAD_ARG;
    struct client *c = clients[client];
    /* Everything that can fail for want of memory comes before the wait id, which must
     * then end exactly once. */
    struct call *k = calloc(1, sizeof *k);
    char *cmd = NULL;
    int len = k ? redisFormatCommandArgv(&cmd, argc, argv, lens) : -1;
    uint32_t wait = len >= 0 ? task_wait_new() : 0;
    if (!wait) {
        free(cmd);
        free(k);
        return LH_ERR_NOMEM;
    }
    k->c = c;
    k->wait = wait;
    k->cmd = cmd;
    k->len = (size_t)len;
    k->started = metrics_clock();
    ev_timer_init(&k->timer, call_timer_cb, timeout > 0 ? timeout : config.outbound_timeout, 0);
    k->timer.data = k;

    char why[512];
    int refused = busy(c, why, sizeof why);
    k->next = live;
    if (live) live->prev = k;
    live = k;
    metrics.outbound_in_flight[OUTBOUND_REDIS]++;
    if (refused) {
        fail_soon(k, OUT_BUSY, why);
    } else if (c->state == DOWN) {
        connect_detail(c, why, sizeof why);
        fail_soon(k, OUT_CONNECT, why);
    } else if (c->state == CONNECTING) {
        k->held = 1;
        *c->held_tail = k;
        c->held_tail = &k->held_next;
        ev_timer_start(EV_DEFAULT, &k->timer);
    } else if (send_call(k) != 0) {
        snprintf(why, sizeof why, "%s: connection lost", c->name);
        fail_soon(k, OUT_CLOSED, why);
    } else {
        ev_timer_start(EV_DEFAULT, &k->timer);
    }
    return (int)wait;
}

int lh_redis_slot(const char *key, size_t len) { return (int)redis_slot(key, len); }

void outbound_redis_shutdown(void)
{
    shutting_down = 1;
    char why[512];
    struct call *k = live, *next;
    for (; k; k = next) {
        next = k->next;
        k->held = 0;
        if (!k->ended) {
            snprintf(why, sizeof why, "%s: shutting down", k->c->name);
            end_failure(k, OUT_CLOSED, why);
        }
        release(k);   /* what hiredis still holds goes when its context is freed below */
    }
    for (int i = 0; i < nclients; i++) {
        struct client *c = clients[i];
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        ev_timer_stop(EV_DEFAULT, &c->timer);
        if (ac) redisAsyncFree(ac);
        free(c->url);
        free(c->name);
        free(c);
    }
    nclients = 0;
}
