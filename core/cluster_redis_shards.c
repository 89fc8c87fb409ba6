/* cluster_redis_shards.c — the Redis Cluster adapter (cluster.url redis-cluster://...):
 * sharded pub/sub (Redis 7's SSUBSCRIBE / SPUBLISH), so a channel's traffic goes to the
 * one shard serving the channel's hash slot instead of to every node of the cluster.
 *
 * Topology: CLUSTER SLOTS, asked of any address we know (the URL's seeds first, then
 * every master and replica a previous answer named), gives the master of each slot. Per
 * master two connections, as Redis requires (a subscribed connection may only
 * (un)subscribe): `pub` for SPUBLISH, `sub` for SSUBSCRIBE. A channel is subscribed on
 * the master of its slot; the adapter keeps the set of channels the core wants, because
 * the core subscribes once and a shard can change under it.
 *
 * Faults are handled per shard, inside the adapter: a lost connection, a MOVED / ASK /
 * CLUSTERDOWN reply, or a `sunsubscribe` we did not ask for (Redis 7 sends one when a
 * channel's slot leaves the node) asks the cluster again after a short delay (0.1 s
 * doubling to 1 s while it stays broken, then every REFRESH_PERIOD), connects to the
 * masters it now names and subscribes each channel where its slot now lives. Meanwhile
 * publishes to that shard's slots are refused (the core counts them) and the other shards
 * carry on. The core hears `up` once every master is connected (or, after 5 s, once some
 * are), and `down` only when no known address answers at all.
 *
 * hiredis 0.14's async API knows SUBSCRIBE but not SSUBSCRIBE (it would take an
 * `smessage` for some command's reply), so each connection is a hiredis context in
 * non-blocking mode on our own ev_io: hiredis writes the commands and parses the replies,
 * and this file knows which reply is what. */
#include "cluster.h"

#include <ev.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "redis_slot.h"

#define CONNECT_TIMEOUT 5.0
#define OUTPUT_MAX (64u << 20)        /* publishes refused past this many unsent bytes */
#define NODES_MAX 64                  /* masters (owner[] holds an index + 1 in a byte) */
#define KNOWN_MAX 128                 /* addresses remembered to ask for the slots */
#define REFRESH_PERIOD 5.0
#define RETRY_MIN 0.1
#define RETRY_MAX 1.0

struct shards;
struct node;

enum link_kind { LINK_ASK, LINK_PUB, LINK_SUB };
enum link_state { LINK_CLOSED, LINK_CONNECTING, LINK_AUTH, LINK_READY };

struct link {
    struct shards *s;
    struct node *node;                /* NULL for the topology question */
    enum link_kind kind;
    enum link_state state;
    redisContext *c;
    ev_io io;
    ev_timer timer;                   /* connect timeout */
};

struct addr {
    char host[64];
    int port;
};

struct node {                         /* a master */
    struct addr at;
    uint32_t id;                      /* never reused: channels name their node by it */
    int seen;                         /* named by the answer being applied */
    struct link pub, sub;
};

struct channel {
    struct channel *next;             /* hash chain */
    unsigned slot;
    uint32_t on;                      /* node whose sub link has our SSUBSCRIBE; 0: none */
    size_t len;
    char name[];
};

struct shards {
    struct cluster_adapter base;
    struct cluster_events ev;
    struct broker_url url;            /* the first seed: credentials */
    struct addr known[KNOWN_MAX];
    int nknown, next_ask, asked;
    struct node *nodes[NODES_MAX];
    int nnodes;
    uint8_t owner[REDIS_SLOTS];       /* index + 1 in nodes; 0: no master known */
    struct link ask;
    ev_timer refresh, deadline;
    double retry_delay;
    int up, starting;
    uint32_t next_id;
    struct channel **table;
    size_t nbuckets, nchannels;
};

static void link_ready(struct link *l);
static void link_failed(struct link *l, const char *why);
static void on_reply(struct link *l, redisReply *r);
static void discover(struct shards *s);

/* ------------------------------------------------------------------ the channel set */

static size_t bucket(const struct shards *s, const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h & (s->nbuckets - 1);
}

static struct channel **channel_find(struct shards *s, const char *name, size_t len)
{
    if (!s->nbuckets) return NULL;
    struct channel **c = &s->table[bucket(s, name, len)];
    while (*c && ((*c)->len != len || memcmp((*c)->name, name, len) != 0)) c = &(*c)->next;
    return *c ? c : NULL;
}

static int table_grow(struct shards *s)
{
    size_t n = s->nbuckets ? s->nbuckets * 2 : 64;
    struct channel **t = calloc(n, sizeof *t);
    if (!t) return -1;
    struct channel **old = s->table;
    size_t oldn = s->nbuckets;
    s->table = t;
    s->nbuckets = n;
    for (size_t b = 0; b < oldn; b++) {
        for (struct channel *c = old[b], *next; c; c = next) {
            next = c->next;
            size_t i = bucket(s, c->name, c->len);
            c->next = t[i];
            t[i] = c;
        }
    }
    free(old);
    return 0;
}

static struct channel *channel_add(struct shards *s, const char *name, size_t len)
{
    if (s->nchannels >= s->nbuckets && table_grow(s) != 0) return NULL;
    struct channel *c = malloc(sizeof *c + len + 1);
    if (!c) return NULL;
    c->slot = redis_slot(name, len);
    c->on = 0;
    c->len = len;
    memcpy(c->name, name, len);
    c->name[len] = 0;
    size_t i = bucket(s, name, len);
    c->next = s->table[i];
    s->table[i] = c;
    s->nchannels++;
    return c;
}

#define CHANNELS_FOREACH(s, c)                                         \
    for (size_t b_ = 0; b_ < (s)->nbuckets; b_++)                      \
        for (struct channel *c = (s)->table[b_]; c; c = c->next)

static void channels_clear(struct shards *s)
{
    for (size_t b = 0; b < s->nbuckets; b++) {
        while (s->table[b]) {
            struct channel *next = s->table[b]->next;
            free(s->table[b]);
            s->table[b] = next;
        }
    }
    free(s->table);
    s->table = NULL;
    s->nbuckets = s->nchannels = 0;
}

/* ------------------------------------------------------------------ connections */

static void watch(struct link *l, int events)
{
    if (ev_is_active(&l->io) && (l->io.events & (EV_READ | EV_WRITE)) == events) return;
    ev_io_stop(EV_DEFAULT, &l->io);
    ev_io_set(&l->io, l->c->fd, events);
    ev_io_start(EV_DEFAULT, &l->io);
}

/* After appending a command: written when the socket takes it, with everything else
 * appended in the same loop pass. */
static void want_write(struct link *l)
{
    if (l->state == LINK_AUTH || l->state == LINK_READY) watch(l, EV_READ | EV_WRITE);
}

static void link_close(struct link *l)
{
    if (l->state == LINK_CLOSED) return;
    ev_io_stop(EV_DEFAULT, &l->io);
    ev_timer_stop(EV_DEFAULT, &l->timer);
    redisFree(l->c);
    l->c = NULL;
    l->state = LINK_CLOSED;
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct link *l = w->data;
    if (l->state == LINK_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(l->c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            link_failed(l, strerror(err));
            return;
        }
        ev_timer_stop(EV_DEFAULT, &l->timer);
        const struct broker_url *u = &l->s->url;
        if (u->password[0]) {
            if (u->user[0]) redisAppendCommand(l->c, "AUTH %s %s", u->user, u->password);
            else redisAppendCommand(l->c, "AUTH %s", u->password);
            l->state = LINK_AUTH;
            want_write(l);
        } else {
            link_ready(l);
        }
        return;
    }
    redisContext *c = l->c;
    if (revents & EV_READ) {
        if (redisBufferRead(c) != REDIS_OK) {
            link_failed(l, c->errstr[0] ? c->errstr : "connection closed");
            return;
        }
        void *reply;
        /* A reply may close the link and open it again on a new context (a failed
         * topology answer tries the next address): c is then freed, so stop reading it. */
        while (l->state != LINK_CLOSED && l->c == c) {
            if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
                link_failed(l, c->errstr[0] ? c->errstr : "protocol error");
                return;
            }
            if (!reply) break;
            on_reply(l, reply);
            freeReplyObject(reply);
        }
        if (l->c != c) return;
    }
    if (l->state != LINK_CLOSED && (revents & EV_WRITE)) {
        int done = 0;
        if (redisBufferWrite(l->c, &done) != REDIS_OK) {
            link_failed(l, l->c->errstr[0] ? l->c->errstr : "write failed");
            return;
        }
        if (done) watch(l, EV_READ);
    }
}

static void link_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    link_failed(w->data, "connect timed out");
}

static void link_init(struct link *l, struct shards *s, struct node *node, enum link_kind kind)
{
    l->s = s;
    l->node = node;
    l->kind = kind;
    l->state = LINK_CLOSED;
    ev_init(&l->io, io_cb);
    l->io.data = l;
    ev_init(&l->timer, link_timeout_cb);
    l->timer.data = l;
}

/* Starts connecting; a connect that fails at once is reported through link_failed. */
static void link_open(struct link *l, const struct addr *a)
{
    redisContext *c = redisConnectNonBlock(a->host, a->port);
    if (!c || c->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", c ? c->errstr : "out of memory");
        redisFree(c);
        link_failed(l, why);
        return;
    }
    l->c = c;
    l->state = LINK_CONNECTING;
    watch(l, EV_WRITE);
    ev_timer_set(&l->timer, CONNECT_TIMEOUT, 0);
    ev_timer_start(EV_DEFAULT, &l->timer);
}

/* ------------------------------------------------------------------ shards */

static struct node *node_of_slot(const struct shards *s, unsigned slot)
{
    return s->owner[slot] ? s->nodes[s->owner[slot] - 1] : NULL;
}

/* Asks the cluster again after the current retry delay (sooner if already due), and
 * doubles the delay for the next fault. */
static void trouble(struct shards *s)
{
    if (!ev_is_active(&s->refresh) || ev_timer_remaining(EV_DEFAULT, &s->refresh) > s->retry_delay) {
        ev_timer_stop(EV_DEFAULT, &s->refresh);
        ev_timer_set(&s->refresh, s->retry_delay, 0);
        ev_timer_start(EV_DEFAULT, &s->refresh);
    }
    s->retry_delay = s->retry_delay * 2 < RETRY_MAX ? s->retry_delay * 2 : RETRY_MAX;
}

/* Where a channel should be subscribed, it is: unsubscribed from a node that no longer
 * serves its slot, subscribed on the one that does once its sub link is ready. */
static void sync_channel(struct shards *s, struct channel *ch)
{
    struct node *want = node_of_slot(s, ch->slot);
    if (want && ch->on == want->id) return;
    for (int i = 0; i < s->nnodes && ch->on; i++) {
        struct node *n = s->nodes[i];
        if (n->id != ch->on || n->sub.state != LINK_READY) continue;
        redisAppendCommand(n->sub.c, "SUNSUBSCRIBE %b", ch->name, ch->len);
        want_write(&n->sub);
    }
    ch->on = 0;
    if (!want || want->sub.state != LINK_READY) return;
    if (redisAppendCommand(want->sub.c, "SSUBSCRIBE %b", ch->name, ch->len) != REDIS_OK) return;
    want_write(&want->sub);
    ch->on = want->id;
}

static void sync_all(struct shards *s)
{
    CHANNELS_FOREACH(s, ch) sync_channel(s, ch);
}

static int all_ready(const struct shards *s)
{
    if (!s->nnodes) return 0;
    for (int i = 0; i < s->nnodes; i++)
        if (s->nodes[i]->pub.state != LINK_READY || s->nodes[i]->sub.state != LINK_READY) return 0;
    for (unsigned slot = 0; slot < REDIS_SLOTS; slot++)
        if (!s->owner[slot]) return 0;
    return 1;
}

static void check_ready(struct shards *s)
{
    if (!all_ready(s)) return;
    s->retry_delay = RETRY_MIN;
    if (s->up) return;
    s->up = 1;
    s->starting = 0;
    ev_timer_stop(EV_DEFAULT, &s->deadline);
    s->ev.up();
}

static void node_free(struct shards *s, struct node *n)
{
    CHANNELS_FOREACH(s, ch) if (ch->on == n->id) ch->on = 0;
    link_close(&n->pub);
    link_close(&n->sub);
    free(n);
}

/* Everything closed, the channel set emptied (the core subscribes again after `up`),
 * `down` reported once. */
static void fail_all(struct shards *s, const char *why)
{
    int was = s->up || s->starting;
    link_close(&s->ask);
    for (int i = 0; i < s->nnodes; i++) node_free(s, s->nodes[i]);
    s->nnodes = 0;
    memset(s->owner, 0, sizeof s->owner);
    channels_clear(s);
    ev_timer_stop(EV_DEFAULT, &s->refresh);
    ev_timer_stop(EV_DEFAULT, &s->deadline);
    s->up = s->starting = 0;
    s->asked = 0;
    if (was) s->ev.down(why);
}

static void remember(struct shards *s, const char *host, size_t hlen, long port)
{
    if (!hlen || hlen >= sizeof s->known[0].host || port <= 0 || port > 65535) return;
    for (int i = 0; i < s->nknown; i++)
        if (s->known[i].port == port && strlen(s->known[i].host) == hlen &&
            memcmp(s->known[i].host, host, hlen) == 0)
            return;
    if (s->nknown == KNOWN_MAX) return;
    memcpy(s->known[s->nknown].host, host, hlen);
    s->known[s->nknown].host[hlen] = 0;
    s->known[s->nknown++].port = (int)port;
}

/* A CLUSTER SLOTS entry's endpoint: [host, port, id, ...]; an empty host means the
 * address we asked. 0, or -1 when malformed. */
static int endpoint(const redisReply *e, const struct addr *asked, struct addr *out)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    const redisReply *h = e->element[0];
    if (h->len >= sizeof out->host || strcmp(h->str, "?") == 0) return -1;
    snprintf(out->host, sizeof out->host, "%s", h->len ? h->str : asked->host);
    out->port = (int)e->element[1]->integer;
    return out->port > 0 && out->port <= 65535 ? 0 : -1;
}

static struct node *node_for(struct shards *s, const struct addr *a)
{
    for (int i = 0; i < s->nnodes; i++)
        if (s->nodes[i]->at.port == a->port && strcmp(s->nodes[i]->at.host, a->host) == 0)
            return s->nodes[i];
    if (s->nnodes == NODES_MAX) return NULL;
    struct node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->at = *a;
    n->id = ++s->next_id;
    link_init(&n->pub, s, n, LINK_PUB);
    link_init(&n->sub, s, n, LINK_SUB);
    s->nodes[s->nnodes++] = n;
    return n;
}

/* The answer to CLUSTER SLOTS becomes the topology: nodes kept when still masters, new
 * masters connected, old ones closed, every channel moved where its slot now lives. */
static int apply_slots(struct shards *s, const redisReply *r, const struct addr *asked)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return -1;
    for (int i = 0; i < s->nnodes; i++) s->nodes[i]->seen = 0;
    uint8_t owner[REDIS_SLOTS];
    memset(owner, 0, sizeof owner);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        struct addr master;
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER || endpoint(e->element[2], asked, &master) != 0)
            continue;
        long long from = e->element[0]->integer, to = e->element[1]->integer;
        struct node *n = node_for(s, &master);
        if (!n || from < 0 || to >= REDIS_SLOTS || from > to) continue;
        n->seen = 1;
        int index = 0;
        while (s->nodes[index] != n) index++;
        memset(owner + from, index + 1, (size_t)(to - from + 1));
        for (size_t k = 2; k < e->elements; k++) {
            struct addr a;
            if (endpoint(e->element[k], asked, &a) == 0) remember(s, a.host, strlen(a.host), a.port);
        }
    }
    /* masters no longer named go; the survivors close up, so indexes change: owner[] is
     * rewritten through the old index -> new index map */
    uint8_t renumber[NODES_MAX + 1] = { 0 };
    int kept = 0;
    for (int i = 0; i < s->nnodes; i++) {
        struct node *n = s->nodes[i];
        if (!n->seen) {
            log_info(0, "cluster: redis-cluster master %s:%d no longer serves slots", n->at.host, n->at.port);
            node_free(s, n);
            continue;
        }
        renumber[i + 1] = (uint8_t)(kept + 1);
        s->nodes[kept++] = n;
    }
    s->nnodes = kept;
    for (unsigned slot = 0; slot < REDIS_SLOTS; slot++) s->owner[slot] = renumber[owner[slot]];
    for (int i = 0; i < s->nnodes; i++) {
        struct node *n = s->nodes[i];
        if (n->pub.state == LINK_CLOSED) link_open(&n->pub, &n->at);
        if (n->sub.state == LINK_CLOSED) link_open(&n->sub, &n->at);
    }
    sync_all(s);
    return 0;
}

/* ------------------------------------------------------------------ the topology question */

/* The next known address is asked for the slots; after every one failed in a row the
 * core hears `down` while nothing works, else a retry is scheduled. */
static void discover(struct shards *s)
{
    if (s->ask.state != LINK_CLOSED) return;
    if (s->asked >= s->nknown) {
        s->asked = 0;
        int serving = 0;
        for (int i = 0; i < s->nnodes; i++) serving |= s->nodes[i]->pub.state == LINK_READY;
        if (!serving) {
            fail_all(s, "no Redis Cluster node answers CLUSTER SLOTS");
            return;
        }
        trouble(s);
        return;
    }
    s->asked++;
    link_open(&s->ask, &s->known[s->next_ask++ % s->nknown]);
}

static const struct addr *asked_addr(const struct shards *s)
{
    return &s->known[(s->next_ask + s->nknown - 1) % s->nknown];
}

static void ask_failed(struct shards *s, const char *why)
{
    const struct addr *a = asked_addr(s);
    log_debug(0, "cluster: redis-cluster %s:%d cannot tell the slots: %s", a->host, a->port, why);
    link_close(&s->ask);
    if (s->asked >= s->nknown && !s->up) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s:%d: %s", a->host, a->port, why);
        fail_all(s, msg);
        return;
    }
    discover(s);
}

static void refresh_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct shards *s = w->data;
    s->asked = 0;
    discover(s);
}

/* Not every master connected in time: with some of them the node starts anyway (their
 * shards work; the others follow when they can be reached), with none it is down. */
static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct shards *s = w->data;
    int ready = 0;
    for (int i = 0; i < s->nnodes; i++)
        ready += s->nodes[i]->pub.state == LINK_READY && s->nodes[i]->sub.state == LINK_READY;
    if (!ready) {
        fail_all(s, "no Redis Cluster master connected within 5 s");
        return;
    }
    log_warn(0, "cluster: redis-cluster: %d of %d masters connected within 5 s; starting with "
                "those, the others' slots follow once they can be reached", ready, s->nnodes);
    s->up = 1;
    s->starting = 0;
    s->ev.up();
}

/* ------------------------------------------------------------------ replies */

static int redirected(const char *err)
{
    return strncmp(err, "MOVED ", 6) == 0 || strncmp(err, "ASK ", 4) == 0 ||
           strncmp(err, "CLUSTERDOWN", 11) == 0 || strncmp(err, "TRYAGAIN", 8) == 0;
}

static void sub_reply(struct link *l, redisReply *r)
{
    struct shards *s = l->s;
    if (r->type == REDIS_REPLY_ERROR) {
        /* an SSUBSCRIBE refused (MOVED: the slot left this node); the reply does not say
         * which channel, so the node's subscriptions are made again from a new link */
        s->ev.error(r->str);
        link_failed(l, r->str);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    const redisReply *ch = r->element[1], *body = r->element[2];
    if (strcmp(kind, "smessage") == 0 && body->type == REDIS_REPLY_STRING) {
        s->ev.message(ch->str, ch->len, (const uint8_t *)body->str, body->len);
    } else if (strcmp(kind, "sunsubscribe") == 0) {
        /* not ours when the channel is still wanted here: its slot moved away. (A channel
         * left and joined again within one round trip looks the same: it costs one
         * needless CLUSTER SLOTS, and the channel is subscribed again.) */
        struct channel **c = channel_find(s, ch->str, ch->len);
        if (c && (*c)->on == l->node->id) {
            (*c)->on = 0;
            trouble(s);
        }
    }
}

static void on_reply(struct link *l, redisReply *r)
{
    struct shards *s = l->s;
    if (l->state == LINK_AUTH) {
        if (r->type == REDIS_REPLY_ERROR) {
            char why[300];
            snprintf(why, sizeof why, "AUTH refused: %s", r->str);
            link_failed(l, why);
            return;
        }
        link_ready(l);
        return;
    }
    switch (l->kind) {
    case LINK_ASK:
        if (r->type == REDIS_REPLY_ERROR) {
            ask_failed(s, r->str);
        } else if (apply_slots(s, r, asked_addr(s)) != 0) {
            ask_failed(s, "CLUSTER SLOTS named no slots");
        } else {
            link_close(&s->ask);
            s->asked = 0;
            ev_timer_stop(EV_DEFAULT, &s->refresh);
            ev_timer_set(&s->refresh, REFRESH_PERIOD, 0);
            ev_timer_start(EV_DEFAULT, &s->refresh);
            if (!all_ready(s)) trouble(s);
            check_ready(s);
        }
        return;
    case LINK_PUB:
        if (r->type == REDIS_REPLY_ERROR) {
            s->ev.error(r->str);
            if (redirected(r->str)) trouble(s);
        }
        return;
    case LINK_SUB:
        sub_reply(l, r);
        return;
    }
}

static void link_ready(struct link *l)
{
    struct shards *s = l->s;
    l->state = LINK_READY;
    ev_timer_stop(EV_DEFAULT, &l->timer);
    watch(l, EV_READ);
    if (l->kind == LINK_ASK) {
        redisAppendCommand(l->c, "CLUSTER SLOTS");
        want_write(l);
        return;
    }
    if (l->kind == LINK_SUB) sync_all(s);
    check_ready(s);
}

/* A connection lost or refused: the question goes to the next address; a master's link
 * is closed (its channels wait, unsubscribed) and the cluster asked again. */
static void link_failed(struct link *l, const char *cause)
{
    struct shards *s = l->s;
    char why[200];   /* cause may be the context's errstr, which closing frees */
    snprintf(why, sizeof why, "%s", cause);
    if (l->kind == LINK_ASK) {
        ask_failed(s, why);
        return;
    }
    struct node *n = l->node;
    if (l->state == LINK_READY && s->up)
        log_warn(0, "cluster: redis-cluster master %s:%d lost (%s): its slots' traffic waits for the "
                    "cluster to serve them again", n->at.host, n->at.port, why);
    link_close(l);
    if (l->kind == LINK_SUB) CHANNELS_FOREACH(s, ch) if (ch->on == n->id) ch->on = 0;
    s->ev.error(why);
    trouble(s);
}

/* ------------------------------------------------------------------ the adapter */

static int shards_connect(struct cluster_adapter *a)
{
    struct shards *s = (struct shards *)a;
    if (s->up || s->starting) return 0;
    s->starting = 1;
    s->asked = 0;
    s->retry_delay = RETRY_MIN;
    ev_timer_set(&s->deadline, CONNECT_TIMEOUT, 0);
    ev_timer_start(EV_DEFAULT, &s->deadline);
    discover(s);
    return 0;
}

static int shards_publish(struct cluster_adapter *a, const char *ch, size_t clen,
                          const uint8_t *data, size_t len)
{
    struct shards *s = (struct shards *)a;
    struct node *n = s->up ? node_of_slot(s, redis_slot(ch, clen)) : NULL;
    if (!n || n->pub.state != LINK_READY || sdslen(n->pub.c->obuf) > OUTPUT_MAX)
        return -1;
    if (redisAppendCommand(n->pub.c, "SPUBLISH %b %b", ch, clen, data, len) != REDIS_OK) return -1;
    want_write(&n->pub);
    return 0;
}

static int shards_subscribe(struct cluster_adapter *a, const char *name, size_t len)
{
    struct shards *s = (struct shards *)a;
    if (!s->up) return -1;
    if (channel_find(s, name, len)) return 0;
    struct channel *ch = channel_add(s, name, len);
    if (!ch) return -1;
    sync_channel(s, ch);
    return 0;
}

static int shards_unsubscribe(struct cluster_adapter *a, const char *name, size_t len)
{
    struct shards *s = (struct shards *)a;
    if (!s->up) return -1;
    struct channel **c = channel_find(s, name, len);
    if (!c) return 0;
    struct channel *ch = *c;
    for (int i = 0; i < s->nnodes && ch->on; i++) {
        struct node *n = s->nodes[i];
        if (n->id != ch->on || n->sub.state != LINK_READY) continue;
        redisAppendCommand(n->sub.c, "SUNSUBSCRIBE %b", ch->name, ch->len);
        want_write(&n->sub);
    }
    *c = ch->next;
    free(ch);
    s->nchannels--;
    return 0;
}

static void shards_close(struct cluster_adapter *a)
{
    struct shards *s = (struct shards *)a;
    s->up = s->starting = 0;   /* fail_all reports nothing */
    fail_all(s, "closed");
    free(s);
}

static const struct cluster_adapter_ops shards_ops = {
    "redis-cluster", shards_connect, shards_publish, shards_subscribe, shards_unsubscribe, shards_close, NULL,
};

struct cluster_adapter *cluster_redis_shards_new(const struct broker_url *u, int n,
                                                 const struct cluster_events *ev)
{
    struct shards *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base.ops = &shards_ops;
    s->ev = *ev;
    s->url = u[0];
    for (int i = 0; i < n; i++) remember(s, u[i].host, strlen(u[i].host), u[i].port);
    link_init(&s->ask, s, NULL, LINK_ASK);
    ev_init(&s->refresh, refresh_cb);
    s->refresh.data = s;
    ev_init(&s->deadline, deadline_cb);
    s->deadline.data = s;
    s->retry_delay = RETRY_MIN;
    return &s->base;
}
