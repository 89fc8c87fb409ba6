/* cluster_redis.c — the Redis pub/sub adapter: hiredis async contexts on the libev loop
 * (hiredis's own libev adapter). Two connections, as Redis requires: once a connection
 * subscribes it may only (un)subscribe, so PUBLISH goes on the other.
 *
 * Life of a connection: connect() opens both contexts; each AUTHs when the URL has a
 * password; when both are ready the core hears `up` and subscribes. The first failure of
 * either (connect error, AUTH refused, connection lost, CONNECT_TIMEOUT) frees both and
 * reports `down` once; the core retries later with a fresh connect(). Pub/sub channels
 * are shared by all Redis databases, so a /db in the URL is accepted and has no effect. */
#include "cluster.h"

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_link.h"

#define CONNECT_TIMEOUT 5.0
/* Publishes are refused while this many bytes wait unsent to Redis: a stalled broker
 * must not grow the process without bound. */
#define OUTPUT_MAX (64u << 20)

/* An UNSUBSCRIBE sent and not yet confirmed. hiredis keeps one callback per channel and
 * drops it when the unsubscribe confirmation arrives, so a SUBSCRIBE sent in between would
 * lose its callback: it is held here (resubscribe) and sent after the confirmation. */
struct unsub {
    struct unsub *next;
    int resubscribe;
    size_t len;
    char channel[];
};

struct redis {
    struct cluster_adapter base;
    struct cluster_events ev;
    struct broker_url url;
    redisAsyncContext *pub, *sub;
    int pub_ready, sub_ready, up;
    ev_timer connect_timer;
    struct unsub *unsubs;
};

static void fail(struct redis *r, const char *why);

static struct unsub **unsub_find(struct redis *r, const char *ch, size_t len)
{
    struct unsub **u = &r->unsubs;
    while (*u && ((*u)->len != len || memcmp((*u)->channel, ch, len) != 0)) u = &(*u)->next;
    return u;
}

static void unsubs_clear(struct redis *r)
{
    while (r->unsubs) {
        struct unsub *next = r->unsubs->next;
        free(r->unsubs);
        r->unsubs = next;
    }
}

static void maybe_up(struct redis *r)
{
    if (r->up || !r->pub_ready || !r->sub_ready) return;
    r->up = 1;
    ev_timer_stop(EV_DEFAULT, &r->connect_timer);
    r->ev.up();
}

static struct redis *owner(const redisAsyncContext *ac) { return ac->data; }

/* hiredis frees a context after its connect callback reports failure and after its
 * disconnect callback: forget it first so fail() does not free it again. */
static void forget(struct redis *r, const redisAsyncContext *ac)
{
    if (ac == r->pub) r->pub = NULL;
    if (ac == r->sub) r->sub = NULL;
}

static void auth_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis *r = privdata;
    redisReply *rep = reply;
    if (!rep) return;                    /* context freed */
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[300];
        snprintf(why, sizeof why, "AUTH refused: %s", rep->str);
        fail(r, why);
        return;
    }
    if (ac == r->pub) r->pub_ready = 1;
    if (ac == r->sub) r->sub_ready = 1;
    maybe_up(r);
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct redis *r = owner(ac);
    if (status != REDIS_OK) {
        forget(r, ac);
        fail(r, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    if (redis_link_auth((redisAsyncContext *)ac, &r->url, auth_cb, r)) return;
    if (ac == r->pub) r->pub_ready = 1;
    if (ac == r->sub) r->sub_ready = 1;
    maybe_up(r);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct redis *r = owner(ac);
    if (ac != r->pub && ac != r->sub) return;   /* freed by fail() itself */
    forget(r, ac);
    fail(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* Frees whichever context is still open and reports down, once per connection. */
static void fail(struct redis *r, const char *why)
{
    int was_open = r->pub || r->sub || r->up || ev_is_active(&r->connect_timer);
    redisAsyncContext *pub = r->pub, *sub = r->sub;
    r->pub = r->sub = NULL;
    r->pub_ready = r->sub_ready = r->up = 0;
    ev_timer_stop(EV_DEFAULT, &r->connect_timer);
    unsubs_clear(r);
    if (pub) redisAsyncFree(pub);
    if (sub) redisAsyncFree(sub);
    if (was_open) r->ev.down(why);
}

static void connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    fail(w->data, "connect timed out");
}

static redisAsyncContext *open_context(struct redis *r)
{
    char why[256];   /* the core reports "connect failed" and retries */
    return redis_link_open(&r->url, r, connect_cb, disconnect_cb, why, sizeof why);
}

static int redis_connect(struct cluster_adapter *a)
{
    struct redis *r = (struct redis *)a;
    if (r->pub || r->sub) return 0;
    r->pub = open_context(r);
    r->sub = r->pub ? open_context(r) : NULL;
    if (!r->sub) {
        if (r->pub) redisAsyncFree(r->pub);
        r->pub = NULL;
        return -1;
    }
    ev_timer_set(&r->connect_timer, CONNECT_TIMEOUT, 0);
    ev_timer_start(EV_DEFAULT, &r->connect_timer);
    return 0;
}

static void publish_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis *r = privdata;
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR) r->ev.error(rep->str);
}

static int redis_publish(struct cluster_adapter *a, const char *ch, size_t clen,
                         const uint8_t *data, size_t len)
{
    struct redis *r = (struct redis *)a;
    if (!r->up || sdslen(r->pub->c.obuf) > OUTPUT_MAX) return -1;
    return redisAsyncCommand(r->pub, publish_cb, r, "PUBLISH %b %b", ch, clen, data, len) == REDIS_OK ? 0 : -1;
}

/* Every reply on the subscriber connection: messages, and the confirmations of
 * (un)subscribes (an unsubscribe confirmation releases a held resubscribe). */
static void sub_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis *r = privdata;
    redisReply *rep = reply;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3) return;
    redisReply *type = rep->element[0], *ch = rep->element[1], *body = rep->element[2];
    if (type->type != REDIS_REPLY_STRING || ch->type != REDIS_REPLY_STRING) return;
    if (strcmp(type->str, "message") == 0 && body->type == REDIS_REPLY_STRING) {
        r->ev.message(ch->str, ch->len, (const uint8_t *)body->str, body->len);
    } else if (strcmp(type->str, "unsubscribe") == 0) {
        struct unsub **u = unsub_find(r, ch->str, ch->len);
        if (!*u) return;
        struct unsub *done = *u;
        *u = done->next;
        if (done->resubscribe)
            redisAsyncCommand(r->sub, sub_cb, r, "SUBSCRIBE %b", done->channel, done->len);
        free(done);
    }
}

static int redis_subscribe(struct cluster_adapter *a, const char *ch, size_t clen)
{
    struct redis *r = (struct redis *)a;
    if (!r->up) return -1;
    struct unsub *pending = *unsub_find(r, ch, clen);
    if (pending) {
        pending->resubscribe = 1;
        return 0;
    }
    return redisAsyncCommand(r->sub, sub_cb, r, "SUBSCRIBE %b", ch, clen) == REDIS_OK ? 0 : -1;
}

static int redis_unsubscribe(struct cluster_adapter *a, const char *ch, size_t clen)
{
    struct redis *r = (struct redis *)a;
    if (!r->up) return -1;
    struct unsub *pending = *unsub_find(r, ch, clen);
    if (pending) {
        pending->resubscribe = 0;
        return 0;
    }
    struct unsub *u = malloc(sizeof *u + clen);
    if (!u) return -1;
    if (redisAsyncCommand(r->sub, NULL, NULL, "UNSUBSCRIBE %b", ch, clen) != REDIS_OK) {
        free(u);
        return -1;
    }
    u->resubscribe = 0;
    u->len = clen;
    memcpy(u->channel, ch, clen);
    u->next = r->unsubs;
    r->unsubs = u;
    return 0;
}

static void redis_close(struct cluster_adapter *a)
{
    struct redis *r = (struct redis *)a;
    redisAsyncContext *pub = r->pub, *sub = r->sub;
    r->pub = r->sub = NULL;
    ev_timer_stop(EV_DEFAULT, &r->connect_timer);
    unsubs_clear(r);
    if (pub) redisAsyncFree(pub);
    if (sub) redisAsyncFree(sub);
    free(r);
}

static const struct cluster_adapter_ops redis_ops = {
    "redis", redis_connect, redis_publish, redis_subscribe, redis_unsubscribe, redis_close, NULL,
};

struct cluster_adapter *cluster_redis_new(const struct broker_url *u, const struct cluster_events *ev)
{
    struct redis *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->base.ops = &redis_ops;
    r->ev = *ev;
    r->url = *u;
    ev_init(&r->connect_timer, connect_timeout_cb);
    r->connect_timer.data = r;
    return &r->base;
}
