#include "cluster.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "config.h"
#include "conn.h"
#include "group.h"
#include "hub.h"
#include "log.h"
#include "metrics.h"
#include "room.h"
#include "utf8.h"

#define MISSED_BEATS 3
#define PEERS_MAX 1024
/* A heartbeat lists rooms (name, members) until its payload reaches this size; the rest
 * are counted but not named (hub.global_room_count(room) then misses them). */
#define HEARTBEAT_ROOM_BYTES 60000
/* The members report: under NATS's default 1 MiB message limit with room to spare. */
#define PRESENCE_BYTES (768 * 1024)
/* Except lists up to this length are decoded on the stack. */
#define EXCEPT_STACK 64

/* Another node as its last heartbeat described it. report is a copy of that heartbeat's
 * payload, owned by the peer and replaced by the next one. */
struct peer {
    char id[ENVELOPE_ORIGIN_MAX + 1];
    size_t id_len;
    double last_seen, interval;
    struct heartbeat hb;             /* room_list points into report */
    uint8_t *report;
    uint8_t *presence;               /* its last presence report (validated), or NULL */
    size_t presence_len;
};

static struct {
    struct cluster_adapter *adapter;
    char *shown;                     /* cluster.url with its password masked, for logs */
    char node_id[ENVELOPE_ORIGIN_MAX + 1];
    size_t node_len;
    char *prefix;                    /* channel_prefix as it was at startup */
    char *url_text;                  /* cluster.url as it was at startup */
    unsigned tag;
    double heartbeat;
    int up, ever_up, outage_logged, attempts, bad_envelope_logged, presence_cut_logged;
    double down_since;
    ev_timer retry, beat;
    struct peer *peers;
    int npeers;
    uint8_t *buf;                    /* envelope scratch, reused by every relay */
    size_t buf_cap;
    char *chan;                      /* channel scratch */
    size_t chan_cap;
    char cause[256];                 /* why the broker is down, for cluster_down_cause */
    const struct cluster_reply_handler *replies;
} cl;

/* ------------------------------------------------------------------ node identity */

static unsigned node_tag(const char *id, size_t len);
static int worker_index = -1, worker_master;

void cluster_set_worker(int index, int master_pid)
{
    worker_index = index;
    worker_master = master_pid;
}

/* Worker index's name: "BASE-wI", or "BASE-wI-K" with the smallest K whose tag no
 * lower-indexed sibling's name has. Every worker makes the same choices for the indexes
 * below its own, so the siblings of one master never share a tag (hashed, 12-bit tags of
 * 8 names would collide about once in 140 masters). */
static void worker_node_id(const char *base, char *out, size_t outlen)
{
    unsigned taken[64];
    for (int i = 0; i <= worker_index && i < 64; i++) {
        for (int k = 0;; k++) {
            if (k == 0) snprintf(out, outlen, "%s-w%d", base, i);
            else snprintf(out, outlen, "%s-w%d-%d", base, i, k);
            unsigned tag = node_tag(out, strlen(out));
            int clash = 0;
            for (int j = 0; j < i; j++) clash |= taken[j] == tag;
            if (!clash) {
                taken[i] = tag;
                break;
            }
        }
    }
}

/* cluster.node_id, else "HOSTNAME-PID". Fixed once the cluster starts: a script may ask
 * before its config is applied, and a reload does not rename a running node. */
const char *cluster_node_id(void) { return cluster_node_id_for(config.cluster_node_id); }

const char *cluster_node_id_for(const char *configured)
{
    static char fallback[ENVELOPE_ORIGIN_MAX + 1];
    /* room for the suffix: a base of 255 bytes then fails cluster_start's length check */
    static char worker[ENVELOPE_ORIGIN_MAX + 32];
    if (cl.adapter) return cl.node_id;
    const char *base = configured && configured[0] ? configured : NULL;
    if (!base) {
        if (!fallback[0]) {
            char host[200] = "luahub";
            gethostname(host, sizeof host - 1);
            host[sizeof host - 1] = 0;
            snprintf(fallback, sizeof fallback, "%s-%d", host,
                     worker_index >= 0 ? worker_master : (int)getpid());
        }
        base = fallback;
    }
    if (worker_index < 0) return base;
    worker_node_id(base, worker, sizeof worker);
    return worker;
}

/* The 12-bit tag of a node id, never 0 (so that an id without a cluster is never a
 * remote one). Every node computes its peers' tags the same way. */
static unsigned node_tag(const char *id, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)id[i]) * 16777619u;
    unsigned tag = (h ^ (h >> 12) ^ (h >> 24)) & CONN_TAG_MASK;
    return tag ? tag : 1;
}

static unsigned tag_of_id(uint64_t id) { return (unsigned)(id >> CONN_TAG_SHIFT) & CONN_TAG_MASK; }

int cluster_is_remote(uint64_t id)
{
    unsigned tag = tag_of_id(id);
    return cl.adapter && tag && tag != cl.tag;
}

/* ------------------------------------------------------------------ scratch buffers */

static int reserve(void **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *b = realloc(*buf, n);
    if (!b) return -1;
    *buf = b;
    *cap = n;
    return 0;
}

struct chan {
    const char *name;                /* NULL on allocation failure */
    size_t len;
};

/* The channel PREFIX.KIND[.NAME] in the shared scratch buffer (valid until the next call). */
static struct chan channel(const char *kind, const char *name, size_t len)
{
    const char *prefix = cl.prefix;
    size_t plen = strlen(prefix), klen = strlen(kind);
    if (reserve((void **)&cl.chan, &cl.chan_cap, plen + klen + 3 * len + 4) != 0)
        return (struct chan){ NULL, 0 };
    char *p = cl.chan;
    memcpy(p, prefix, plen);
    p += plen;
    *p++ = '.';
    memcpy(p, kind, klen);
    p += klen;
    if (name) {
        static const char hex[] = "0123456789ABCDEF";
        *p++ = '.';
        if (len == 0) *p++ = '~';
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)name[i];
            if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '_' || ch == '-') {
                *p++ = (char)ch;
            } else {
                *p++ = '%';
                *p++ = hex[ch >> 4];
                *p++ = hex[ch & 15];
            }
        }
    }
    *p = 0;
    return (struct chan){ cl.chan, (size_t)(p - cl.chan) };
}

static struct chan node_channel(unsigned tag)
{
    char hex[8];
    int n = snprintf(hex, sizeof hex, "%03x", tag);
    return channel("node", hex, (size_t)n);
}

/* ------------------------------------------------------------------ subscriptions */

static void subscribe(struct chan ch, int on)
{
    if (!ch.name) return;
    const struct cluster_adapter_ops *ops = cl.adapter->ops;
    int rc = on ? ops->subscribe(cl.adapter, ch.name, ch.len) : ops->unsubscribe(cl.adapter, ch.name, ch.len);
    if (rc != 0) log_debug(0, "cluster: %s %s failed", on ? "subscribe" : "unsubscribe", ch.name);
}

void cluster_interest(int scope, const char *name, size_t len, int on)
{
    if (!cl.adapter || !cl.up) return;   /* (re)connecting subscribes from the indexes */
    subscribe(channel(scope == HUB_ROOM ? "room" : "user", name, len), on);
}

/* After every (re)connect: the global and node channels, and one channel per local room
 * and user, read from the room and user indexes, which are the only record of interest. */
static void subscribe_all(void)
{
    subscribe(channel("all", NULL, 0), 1);
    subscribe(node_channel(cl.tag), 1);
    GROUP_FOREACH(&room_index, g) subscribe(channel("room", g->name, g->name_len), 1);
    GROUP_FOREACH(&user_index, g) subscribe(channel("user", g->name, g->name_len), 1);
}

/* ------------------------------------------------------------------ relay */

static int publish(struct chan ch, const struct envelope *e)
{
    size_t need = envelope_size(e);
    if (!ch.name || need == 0 || reserve((void **)&cl.buf, &cl.buf_cap, need) != 0) {
        metrics.relay_errors++;
        return -1;
    }
    size_t n = envelope_encode(e, cl.buf, cl.buf_cap);
    if (!cl.up || cl.adapter->ops->publish(cl.adapter, ch.name, ch.len, cl.buf, n) != 0) {
        metrics.relay_errors++;
        return -1;
    }
    metrics.relay_published++;
    return 0;
}

/* After a local fan-out (the hub has checked the text): the same send for the nodes with
 * interest in its channel. */
static void relay_fan_out(enum hub_target to, const char *target, size_t tlen, const char *data,
                          size_t len, int binary, const uint64_t *except, size_t nexcept)
{
    if (!cl.adapter) return;
    enum envelope_kind kind = to == HUB_ALL ? ENVELOPE_BROADCAST
                            : to == HUB_ROOM ? ENVELOPE_ROOM : ENVELOPE_USER;
    struct chan ch = to == HUB_ALL ? channel("all", NULL, 0)
                   : channel(to == HUB_ROOM ? "room" : "user", target, tlen);
    struct envelope e = { .kind = (uint8_t)kind, .flags = binary ? ENVELOPE_FLAG_BINARY : 0,
                          .origin = cl.node_id, .origin_len = cl.node_len,
                          .target = target, .target_len = tlen,
                          .except = except, .nexcept = nexcept, .payload = data, .payload_len = len };
    publish(ch, &e);
}

static int relay_to_client(uint64_t id, const char *data, size_t len, int binary)
{
    if (!cluster_is_remote(id)) return LH_ERR_CLOSED;
    if (!binary && !utf8_valid((const uint8_t *)data, len)) return LH_ERR_BAD_ARG;
    uint8_t target[8];
    envelope_put_u64(target, id);
    struct envelope e = { .kind = ENVELOPE_CLIENT, .flags = binary ? ENVELOPE_FLAG_BINARY : 0,
                          .origin = cl.node_id, .origin_len = cl.node_len,
                          .target = (const char *)target, .target_len = 8,
                          .payload = data, .payload_len = len };
    return publish(node_channel(tag_of_id(id)), &e) == 0 ? LH_OK : LH_ERR_CLOSED;
}

/* ------------------------------------------------------------------ presence */

static struct peer *peer_find(const char *id, size_t len)
{
    for (int i = 0; i < cl.npeers; i++)
        if (cl.peers[i].id_len == len && memcmp(cl.peers[i].id, id, len) == 0) return &cl.peers[i];
    return NULL;
}

static void peer_remove(int i)
{
    free(cl.peers[i].report);
    free(cl.peers[i].presence);
    cl.peers[i] = cl.peers[--cl.npeers];
}

/* A heartbeat from another node: its counts and room list replace the previous ones. A
 * node first seen is logged, and warned about if its client-id tag equals ours (client
 * sends to either would reach both: give the nodes node ids with different tags). */
static void presence_update(const struct envelope *e)
{
    struct heartbeat hb;
    if (heartbeat_decode(e->payload, e->payload_len, &hb) != 0) {
        metrics.relay_errors++;
        return;
    }
    uint8_t *report = malloc(e->payload_len);
    if (!report) return;
    memcpy(report, e->payload, e->payload_len);
    struct peer *p = peer_find(e->origin, e->origin_len);
    if (!p) {
        if (cl.npeers == PEERS_MAX) {
            free(report);
            return;
        }
        if (!cl.peers && !(cl.peers = calloc(PEERS_MAX, sizeof *cl.peers))) {
            free(report);
            return;
        }
        p = &cl.peers[cl.npeers++];
        memset(p, 0, sizeof *p);
        memcpy(p->id, e->origin, e->origin_len);
        p->id_len = e->origin_len;
        unsigned tag = node_tag(p->id, p->id_len);
        log_info(0, "cluster: node %s joined (%u clients)", p->id, hb.clients);
        if (tag == cl.tag)
            log_error(0, "cluster: node %s has the same client-id tag (%03x) as this node %s: "
                      "client sends may reach the wrong node; change one node_id", p->id, tag, cl.node_id);
    }
    free(p->report);
    p->report = report;
    p->hb = hb;
    p->hb.room_list = report + HEARTBEAT_HEAD;
    p->interval = hb.interval_ms / 1000.0;
    p->last_seen = ev_now(EV_DEFAULT);
}

/* A node is evicted once MISSED_BEATS of its heartbeats are overdue (by its own stated
 * interval, or ours when it states none). */
static void presence_sweep(double now)
{
    for (int i = cl.npeers - 1; i >= 0; i--) {
        struct peer *p = &cl.peers[i];
        double interval = p->interval > 0 ? p->interval : cl.heartbeat;
        if (now - p->last_seen > MISSED_BEATS * interval) {
            log_info(0, "cluster: node %s missed %d heartbeats: evicted", p->id, MISSED_BEATS);
            peer_remove(i);
        }
    }
}

/* This node's presence report into out: the counts, then (name, members) for every room
 * until one does not fit. Returns its size. */
static size_t presence_report(uint8_t *out, size_t cap)
{
    struct heartbeat hb = { .clients = hub_count(), .rooms = room_index.count,
                            .interval_ms = (uint32_t)(cl.heartbeat * 1000) };
    size_t n = heartbeat_encode_head(&hb, out, cap);
    GROUP_FOREACH(&room_index, g) {
        size_t m = heartbeat_encode_room(g->name, g->name_len, g->count, out + n, cap - n);
        if (!m) return n;
        n += m;
    }
    return n;
}

/* The members of this node's rooms into out: (room, count, (client id, user id)...) for
 * every room until one does not fit whole. Returns its size; *cut is set when a room was
 * left out. */
static size_t members_report(uint8_t *out, size_t cap, int *cut)
{
    size_t n = 0;
    *cut = 0;
    GROUP_FOREACH(&room_index, g) {
        size_t at = n, m = presence_encode_room(g->name, g->name_len, g->count, out + n, cap - n);
        for (uint32_t i = 0; m && i < g->count; i++) {
            struct client *c = g->members[i].client;
            const char *user = c->user ? c->user->name : "";
            size_t k = presence_encode_member(c->conn.id, user, c->user ? c->user->name_len : 0,
                                              out + at + m, cap - at - m);
            m = k ? m + k : 0;
        }
        if (!m) {
            *cut = 1;
            return at;
        }
        n = at + m;
    }
    return n;
}

static void send_heartbeat(void)
{
    if (!cl.up || cl.heartbeat <= 0) return;
    static uint8_t report[HEARTBEAT_HEAD + HEARTBEAT_ROOM_BYTES];
    size_t n = presence_report(report, sizeof report);
    struct envelope e = { .kind = ENVELOPE_HEARTBEAT, .origin = cl.node_id, .origin_len = cl.node_len,
                          .payload = (const char *)report, .payload_len = n };
    publish(channel("all", NULL, 0), &e);
    /* the members follow on the same channel, so every node has the heartbeat first */
    static uint8_t *members;
    if (!members && !(members = malloc(PRESENCE_BYTES))) return;
    int cut;
    e.kind = ENVELOPE_PRESENCE;
    e.payload = (const char *)members;
    e.payload_len = members_report(members, PRESENCE_BYTES, &cut);
    if (cut && !cl.presence_cut_logged++)
        log_warn(0, "cluster: the members of this node's rooms exceed %d bytes; the other nodes see "
                    "the rooms that fit (hub.presence is partial there)", PRESENCE_BYTES);
    publish(channel("all", NULL, 0), &e);
}

/* The members a node reported: kept whole (validated) until the next report. */
static void presence_members(const struct envelope *e)
{
    struct peer *p = peer_find(e->origin, e->origin_len);
    if (!p) return;   /* a node is known from its heartbeat, which comes first */
    if (presence_validate((const uint8_t *)e->payload, e->payload_len) != 0) {
        metrics.relay_errors++;
        return;
    }
    uint8_t *copy = malloc(e->payload_len ? e->payload_len : 1);
    if (!copy) return;
    memcpy(copy, e->payload, e->payload_len);
    free(p->presence);
    p->presence = copy;
    p->presence_len = e->payload_len;
}

void cluster_room_members(const char *room, size_t len, cluster_member_fn fn, void *ctx)
{
    for (int i = 0; i < cl.npeers; i++) {
        const struct peer *p = &cl.peers[i];
        size_t pos = 0;
        struct presence_room r;
        while (p->presence && presence_next_room(p->presence, p->presence_len, &pos, &r)) {
            if (r.len != len || memcmp(r.name, room, len) != 0) continue;
            size_t at = 0;
            for (uint32_t m = 0; m < r.members; m++) {
                uint64_t id;
                const char *user;
                size_t ulen;
                presence_member(&r, &at, &id, &user, &ulen);
                fn(ctx, i + 1, id, user, ulen);
            }
            break;
        }
    }
}

static void beat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    presence_sweep(ev_now(loop));
    send_heartbeat();
}

double cluster_global_count(void)
{
    double n = hub_count();
    for (int i = 0; i < cl.npeers; i++) n += cl.peers[i].hb.clients;
    return n;
}

static uint32_t peer_room_members(const struct peer *p, const char *room, size_t len)
{
    size_t pos = 0, nl;
    const char *name;
    uint32_t members;
    while (heartbeat_next_room(&p->hb, &pos, &name, &nl, &members))
        if (nl == len && memcmp(name, room, len) == 0) return members;
    return 0;
}

/* Distinct room names over this node and every peer's report, counted in a scratch
 * group index (only names, no members), which is emptied again before returning. */
static double distinct_rooms(void)
{
    struct group_index seen = { 0 };
    GROUP_FOREACH(&room_index, g) group_get(&seen, g->name, g->name_len);
    for (int i = 0; i < cl.npeers; i++) {
        size_t pos = 0, nl;
        const char *name;
        uint32_t members;
        while (heartbeat_next_room(&cl.peers[i].hb, &pos, &name, &nl, &members)) group_get(&seen, name, nl);
    }
    double n = seen.count;
    for (uint32_t b = 0; b < seen.nbuckets; b++)
        while (seen.buckets[b]) group_free_if_empty(&seen, seen.buckets[b]);
    free(seen.buckets);
    return n;
}

double cluster_global_room_count(const char *room, size_t len)
{
    if (!room) return distinct_rooms();
    struct group *g = group_find(&room_index, room, len);
    double n = g ? g->count : 0;
    for (int i = 0; i < cl.npeers; i++) n += peer_room_members(&cl.peers[i], room, len);
    return n;
}

int cluster_nodes(void) { return 1 + cl.npeers; }

const char *cluster_node(int i, size_t *len, double *clients, double *rooms, double *age)
{
    if (i == 0) {
        const char *self = cluster_node_id();
        *len = strlen(self);
        *clients = hub_count();
        *rooms = room_index.count;
        *age = 0;
        return self;
    }
    if (i < 0 || i > cl.npeers) return NULL;
    const struct peer *p = &cl.peers[i - 1];
    *len = p->id_len;
    *clients = p->hb.clients;
    *rooms = p->hb.rooms;
    *age = ev_now(EV_DEFAULT) - p->last_seen;
    return p->id;
}

/* ------------------------------------------------------------------ receiving */

/* One message from the broker: decoded, dropped if it is our own (Redis echoes a
 * publisher's messages back to it), then delivered to local clients once, through the
 * same fan-out as a local send (one frame encoding for all recipients). */
static void on_message(const char *ch, size_t clen, const uint8_t *data, size_t len)
{
    struct envelope e;
    int rc = envelope_decode(data, len, &e);
    if (rc != 0) {
        metrics.relay_errors++;
        if (!cl.bad_envelope_logged++)
            log_warn(0, "cluster: %s on channel %.*s (further ones are only counted)",
                     envelope_strerror(rc), (int)clen, ch);
        return;
    }
    if (e.origin_len == cl.node_len && memcmp(e.origin, cl.node_id, cl.node_len) == 0) return;
    metrics.relay_received[e.kind]++;
    int binary = e.flags & ENVELOPE_FLAG_BINARY;
    switch (e.kind) {
    case ENVELOPE_HEARTBEAT:
        presence_update(&e);
        return;
    case ENVELOPE_PRESENCE:
        presence_members(&e);
        return;
    case ENVELOPE_CLIENT:
        if (e.target_len == 8)
            hub_send(envelope_get_u64((const uint8_t *)e.target), e.payload, e.payload_len, binary);
        return;
    default: {
        uint64_t stack[EXCEPT_STACK], *except = stack;
        if (e.nexcept > EXCEPT_STACK && !(except = malloc(e.nexcept * sizeof *except))) return;
        for (size_t i = 0; i < e.nexcept; i++) except[i] = envelope_except_at(&e, i);
        enum hub_target to = e.kind == ENVELOPE_BROADCAST ? HUB_ALL
                           : e.kind == ENVELOPE_ROOM ? HUB_ROOM : HUB_USER;
        hub_deliver(to, e.target, e.target_len, e.payload, e.payload_len, binary, except, e.nexcept);
        if (except != stack) free(except);
    }
    }
}

/* ------------------------------------------------------------------ connection state */

static void schedule_retry(void)
{
    double delay = backoff_delay(cl.attempts);
    cl.attempts++;
    ev_timer_stop(EV_DEFAULT, &cl.retry);
    ev_timer_set(&cl.retry, delay, 0);
    ev_timer_start(EV_DEFAULT, &cl.retry);
}

/* The loss is logged once per outage; the retries that follow only at debug level. */
static void on_down(const char *why)
{
    int was_up = cl.up;
    cl.up = 0;
    snprintf(cl.cause, sizeof cl.cause, "%s", why);
    if (was_up || !cl.outage_logged) {
        log_warn(0, "cluster: %s %s %s: %s; local delivery continues, reconnecting",
                 cl.adapter->ops->name, was_up ? "connection lost to" : "cannot reach", cl.shown, why);
        cl.outage_logged = 1;
        cl.down_since = ev_now(EV_DEFAULT);
    } else {
        log_debug(0, "cluster: reconnect attempt %d failed: %s", cl.attempts, why);
    }
    schedule_retry();
    /* after the retry is scheduled: a task woken here that asks again must see a backoff
     * (fail at once with connect), not a connection being made (be held) */
    if (cl.replies) cl.replies->lost(why);
}

static void on_up(void)
{
    cl.up = 1;
    if (cl.ever_up) {
        metrics.relay_reconnects++;
        log_info(0, "cluster: reconnected to %s %s after %.1fs", cl.adapter->ops->name, cl.shown,
                 ev_now(EV_DEFAULT) - cl.down_since);
    } else {
        log_info(0, "cluster: node %s (client-id tag %03x) connected to %s %s", cl.node_id,
                 cl.tag, cl.adapter->ops->name, cl.shown);
    }
    cl.ever_up = 1;
    cl.outage_logged = 0;
    cl.attempts = 0;
    cl.cause[0] = 0;
    subscribe_all();
    send_heartbeat();
    if (cl.replies) cl.replies->up();
}

static void on_error(const char *why)
{
    metrics.relay_errors++;
    log_debug(0, "cluster: %s", why);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    if (cl.adapter->ops->connect(cl.adapter) != 0) on_down("connect failed");
}

static void on_reply(uint64_t token, int status, const uint8_t *data, size_t len)
{
    if (cl.replies) cl.replies->reply(token, status, data, len);
}

static const struct cluster_events events = { on_up, on_down, on_message, on_error, on_reply };

void cluster_set_reply_handler(const struct cluster_reply_handler *h) { cl.replies = h; }

int cluster_request(const char *subject, size_t slen, const uint8_t *data, size_t len, uint64_t token)
{
    if (!cl.adapter || !cl.up || !cl.adapter->ops->request) return -1;
    return cl.adapter->ops->request(cl.adapter, subject, slen, data, len, token);
}

int cluster_connecting(void) { return cl.adapter && !cl.up && !ev_is_active(&cl.retry); }

const char *cluster_down_cause(void) { return cl.up ? "" : cl.cause[0] ? cl.cause : "not connected yet"; }

uint64_t cluster_id_tag(void) { return cl.adapter ? (uint64_t)cl.tag << CONN_TAG_SHIFT : 0; }

const struct hub_relay cluster_relay = {
    .fan_out = relay_fan_out,
    .to_client = relay_to_client,
};

const char *cluster_broker_url(const char **prefix)
{
    if (!cl.adapter) return NULL;
    *prefix = cl.prefix;
    return cl.url_text;
}

const char *cluster_status(void)
{
    if (!cl.adapter) return NULL;
    return cl.up ? "ok" : "degraded";
}

/* ------------------------------------------------------------------ start and stop */

int cluster_start(char *err, size_t errlen)
{
    if (!config.cluster_adapter) return 0;
    if (!config.cluster_url) {
        snprintf(err, errlen, "cluster.url is required with cluster.adapter");
        return -1;
    }
    char why[512];
    struct broker_url urls[BROKER_URL_HOSTS_MAX];
    int nurls = broker_url_parse_list(config.cluster_url, urls, BROKER_URL_HOSTS_MAX, why, sizeof why);
    if (nurls < 0) {
        snprintf(err, errlen, "cluster.url %s", why);
        return -1;
    }
    /* redis-cluster:// is the Redis adapter against a Redis Cluster (sharded pub/sub) */
    int sharded = strcmp(urls[0].scheme, "redis-cluster") == 0;
    if (strcmp(urls[0].scheme, config.cluster_adapter) != 0 &&
        !(sharded && strcmp(config.cluster_adapter, "redis") == 0)) {
        snprintf(err, errlen, "cluster.url \"%s\" does not match cluster.adapter \"%s\"",
                 config.cluster_url, config.cluster_adapter);
        return -1;
    }
    if (nurls > 1 && strcmp(urls[0].scheme, "redis") == 0) {
        snprintf(err, errlen, "cluster.url: a redis:// URL names one server; for a Redis Cluster "
                              "list its nodes in redis-cluster://host:port,host:port");
        return -1;
    }
    if (strlen(cluster_node_id()) > ENVELOPE_ORIGIN_MAX) {
        snprintf(err, errlen, "cluster.node_id: at most %d bytes", ENVELOPE_ORIGIN_MAX);
        return -1;
    }
    snprintf(cl.node_id, sizeof cl.node_id, "%s", cluster_node_id());
    cl.node_len = strlen(cl.node_id);
    cl.tag = node_tag(cl.node_id, cl.node_len);
    cl.heartbeat = config.cluster_heartbeat;
    cl.prefix = strdup(config.cluster_channel_prefix ? config.cluster_channel_prefix : "luahub");
    cl.url_text = strdup(config.cluster_url);
    cl.shown = broker_url_masked(config.cluster_url);
    srand48((long)getpid() ^ (long)ev_time());
    cl.adapter = strcmp(config.cluster_adapter, "nats") == 0 ? cluster_nats_new(urls, nurls, &events)
               : sharded ? cluster_redis_shards_new(urls, nurls, &events)
               : cluster_redis_new(&urls[0], &events);
    if (!cl.adapter || !cl.prefix || !cl.url_text || !cl.shown) {
        snprintf(err, errlen, "cluster: out of memory");
        return -1;
    }
    ev_init(&cl.retry, retry_cb);
    if (cl.heartbeat > 0) {
        ev_timer_init(&cl.beat, beat_cb, cl.heartbeat, cl.heartbeat);
        ev_timer_start(EV_DEFAULT, &cl.beat);
    }
    if (cl.adapter->ops->connect(cl.adapter) != 0) on_down("connect failed");
    return 0;
}

void cluster_stop(void)
{
    if (!cl.adapter) return;
    ev_timer_stop(EV_DEFAULT, &cl.retry);
    ev_timer_stop(EV_DEFAULT, &cl.beat);
    cl.up = 0;
    cl.adapter->ops->close(cl.adapter);
    cl.adapter = NULL;
    while (cl.npeers) peer_remove(cl.npeers - 1);
    free(cl.peers);
    free(cl.buf);
    free(cl.chan);
    free(cl.prefix);
    free(cl.url_text);
    free(cl.shown);
    cl.prefix = cl.url_text = cl.shown = NULL;
    cl.peers = NULL;
    cl.buf = NULL;
    cl.chan = NULL;
    cl.buf_cap = cl.chan_cap = 0;
}
