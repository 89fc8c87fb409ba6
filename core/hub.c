#include "hub.h"
#include "lh_api.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster.h"
#include "config.h"
#include "conn.h"
#include "deflate.h"
#include "group.h"
#include "log.h"
#include "lua_bridge.h"
#include "meta.h"
#include "metrics.h"
#include "room.h"
#include "utf8.h"
#include "ws.h"

/* Every open client is a member of one group that lives on empty, so broadcast, room and
 * user sends share one fan-out loop over a member array. */
static struct group *everyone;

/* on_send_dropped events wait here until the fan-out that caused them has returned. */
struct dropped_event { uint64_t id; struct frame *frame; };
#define DROPPED_PENDING_MAX 65536
static struct dropped_event *dropped;
static uint32_t ndropped, dropped_cap;
static int want_dropped;

static struct group *everyone_group(void)
{
    if (!everyone) {
        everyone = calloc(1, sizeof *everyone + 1);
        if (!everyone) {
            log_error(0, "out of memory creating the client set");
            abort();
        }
    }
    return everyone;
}

void hub_add(struct conn *c)
{
    if (c->in_hub) return;
    if (group_add(everyone_group(), c, &c->hub_index) != 0) {
        log_error(c->id, "out of memory adding a client");
        conn_kill(c, 1011);
        return;
    }
    c->in_hub = 1;
    c->connected_at = ev_now(EV_DEFAULT);
}

/* Out of the client set and every room; the user id stays readable until the end of
 * hub_remove so after_disconnect can still tell whose connection closed. */
static void detach(struct conn *c)
{
    if (!c->in_hub) return;
    group_remove(NULL, everyone, c->hub_index);
    c->in_hub = 0;
    room_leave_all(c);
}

void hub_remove(struct conn *c)
{
    if (!c->in_hub) return;
    /* Lua runs before_disconnect (client still everywhere), lh_detach, after_disconnect */
    lua_bridge_on_close(c, ws_final_code(c));
    detach(c);
    user_clear(c);
}

void lh_detach(uint64_t id)
{
    struct conn *c = conn_by_id(id);
    if (c) detach(c);
}

uint32_t hub_count(void) { return everyone ? everyone->count : 0; }

void hub_note_dropped(struct conn *c, struct frame *f)
{
    metrics.dropped[config.sendq_policy]++;   /* enum sendq_policy order = enum drop_policy */
    if (!want_dropped) return;
    if (ndropped == dropped_cap) {
        if (dropped_cap == DROPPED_PENDING_MAX) return;   /* counted, hook skipped */
        uint32_t cap = dropped_cap ? dropped_cap * 2 : 64;
        struct dropped_event *d = realloc(dropped, cap * sizeof *d);
        if (!d) return;
        dropped = d;
        dropped_cap = cap;
    }
    dropped[ndropped++] = (struct dropped_event){ c->id, frame_ref(f) };
}

void hub_fire_dropped(void)
{
    /* hooks may drop more sends: take the batch, then loop until none are left */
    while (ndropped) {
        uint32_t n = ndropped;
        struct dropped_event *batch = dropped;
        dropped = NULL;
        ndropped = dropped_cap = 0;
        for (uint32_t i = 0; i < n; i++) {
            struct frame *f = batch[i].frame;
            const uint8_t *p = f->data + (f->len - f->payload_len);
            size_t len = f->payload_len;
            /* the hook sees the message as sent, so a compressed frame is inflated */
            if (!(f->data[0] & 0x40) || deflate_inflate(p, len, SIZE_MAX - 1, &p, &len) == 0)
                lua_bridge_on_dropped(batch[i].id, p, len, (f->data[0] & 0x0f) == WS_BINARY);
            frame_unref(f);
        }
        free(batch);
    }
}

void lh_want_dropped(int on) { want_dropped = on; }

static struct conn *client(uint64_t id)
{
    struct conn *c = conn_by_id(id);
    return c && c->in_hub ? c : NULL;
}

/* One message on its way to one or many recipients: encoded at most once plain and once
 * compressed (permessage-deflate), each frame shared by every recipient that takes it. */
struct outgoing {
    const char *data;
    size_t len;
    int opcode;
    struct frame *plain, *deflated;
};

static int outgoing_init(struct outgoing *o, const char *data, size_t len, int binary)
{
    /* A text frame must carry valid UTF-8 or conforming clients fail the connection. */
    if (!binary && !utf8_valid((const uint8_t *)data, len)) return LH_ERR_BAD_ARG;
    *o = (struct outgoing){ data, len, binary ? WS_BINARY : WS_TEXT, NULL, NULL };
    return LH_OK;
}

static struct frame *outgoing_frame(struct outgoing *o, const struct conn *c)
{
    if (c->deflate && o->len >= DEFLATE_MIN_SIZE) {
        if (!o->deflated) o->deflated = deflate_frame(o->opcode, o->data, o->len);
        if (o->deflated) return o->deflated;
    }
    if (!o->plain) o->plain = frame_ws(o->opcode, o->data, o->len);
    return o->plain;
}

static void outgoing_done(struct outgoing *o)
{
    if (o->plain) frame_unref(o->plain);
    if (o->deflated) frame_unref(o->deflated);
}

static int outgoing_send(struct outgoing *o, struct conn *c)
{
    struct frame *f = outgoing_frame(o, c);
    return f ? conn_send(c, f) : LH_ERR_NOMEM;
}

static int is_excepted(uint64_t id, const uint64_t *except, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (except[i] == id) return 1;
    return 0;
}

static int fan_out(struct group *g, const char *data, size_t len, int binary,
                   const uint64_t *except, size_t nexcept)
{
    if (!g || g->count == 0) return 0;
    double started = metrics_clock();
    struct outgoing o;
    int r = outgoing_init(&o, data, len, binary);
    if (r != LH_OK) return r;
    int sent = 0;
    for (uint32_t i = 0; i < g->count; i++) {
        struct conn *c = g->members[i].conn;
        if (nexcept && is_excepted(c->id, except, nexcept)) continue;
        if (outgoing_send(&o, c) == LH_OK) sent++;
    }
    outgoing_done(&o);
    histogram_observe(&metrics.broadcast_seconds, metrics_clock() - started);
    return sent;
}

int lh_send(uint64_t id, const char *data, size_t len, int binary)
{
    struct conn *c = client(id);
    if (!c) return cluster_relay_client(id, data, len, binary);
    struct outgoing o;
    int r = outgoing_init(&o, data, len, binary);
    if (r != LH_OK) return r;
    r = outgoing_send(&o, c);
    outgoing_done(&o);
    return r;
}

int lh_broadcast(const char *data, size_t len, int binary, const uint64_t *except, size_t nexcept)
{
    return cluster_relay(fan_out(everyone, data, len, binary, except, nexcept),
                         ENVELOPE_BROADCAST, NULL, 0, data, len, binary, except, nexcept);
}

int lh_to_room(const char *room, size_t rlen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept)
{
    return cluster_relay(fan_out(group_find(&room_index, room, rlen), data, len, binary, except, nexcept),
                         ENVELOPE_ROOM, room, rlen, data, len, binary, except, nexcept);
}

int lh_to_user(const char *uid, size_t ulen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept)
{
    return cluster_relay(fan_out(group_find(&user_index, uid, ulen), data, len, binary, except, nexcept),
                         ENVELOPE_USER, uid, ulen, data, len, binary, except, nexcept);
}

int hub_deliver(int kind, const char *target, size_t tlen, const char *data, size_t len, int binary,
                const uint64_t *except, size_t nexcept)
{
    struct group *g = kind == ENVELOPE_BROADCAST ? everyone
                    : group_find(kind == ENVELOPE_ROOM ? &room_index : &user_index, target, tlen);
    return fan_out(g, data, len, binary, except, nexcept);
}

int lh_close(uint64_t id, int code, const char *reason, size_t reason_len)
{
    struct conn *c = client(id);
    if (!c) return LH_ERR_CLOSED;
    if (reason_len && !utf8_valid((const uint8_t *)reason, reason_len)) return LH_ERR_BAD_ARG;
    return conn_close(c, code, reason, reason_len);
}

int lh_is_open(uint64_t id)
{
    struct conn *c = client(id);
    return c && !c->want_close && !c->close_queued && !c->killed;
}

uint32_t lh_count(void) { return hub_count(); }

int lh_join(uint64_t id, const char *room, size_t len)
{
    struct conn *c = client(id);
    return c ? room_join(c, room, len) : LH_ERR_CLOSED;
}

int lh_leave(uint64_t id, const char *room, size_t len)
{
    struct conn *c = client(id);
    return c ? room_leave(c, room, len) : LH_ERR_CLOSED;
}

int lh_leave_all(uint64_t id)
{
    struct conn *c = client(id);
    if (!c) return LH_ERR_CLOSED;
    room_leave_all(c);
    return LH_OK;
}

int lh_in_room(uint64_t id, const char *room, size_t len)
{
    struct conn *c = client(id);
    return c && room_member_of(c, room, len);
}

int lh_client_rooms(uint64_t id)
{
    struct conn *c = client(id);
    return c ? c->nrooms : 0;
}

const char *lh_client_room(uint64_t id, int i, size_t *len)
{
    struct conn *c = client(id);
    if (!c || i < 0 || i >= c->nrooms) return NULL;
    *len = c->rooms[i].room->name_len;
    return c->rooms[i].room->name;
}

static int group_size(const struct group_index *ix, const char *name, size_t len)
{
    struct group *g = group_find(ix, name, len);
    return g ? (int)g->count : 0;
}

static uint64_t group_member_id(const struct group_index *ix, const char *name, size_t len, uint32_t i)
{
    struct group *g = group_find(ix, name, len);
    return g && i < g->count ? g->members[i].conn->id : 0;
}

int lh_room_size(const char *room, size_t len) { return group_size(&room_index, room, len); }

uint64_t lh_room_member(const char *room, size_t len, uint32_t i)
{
    return group_member_id(&room_index, room, len, i);
}

uint32_t lh_room_total(void) { return room_index.count; }

size_t lh_room_names(char *buf, size_t cap)
{
    size_t need = 0;
    GROUP_FOREACH(&room_index, g) {
        if (need + g->name_len + 1 <= cap) memcpy(buf + need, g->name, g->name_len + 1);
        need += g->name_len + 1;
    }
    return need;
}

int lh_set_user(uint64_t id, const char *uid, size_t len)
{
    struct conn *c = conn_by_id(id);
    return c ? user_set(c, uid, len) : LH_ERR_CLOSED;
}

const char *lh_user_of(uint64_t id, size_t *len)
{
    struct conn *c = conn_by_id(id);
    if (!c || !c->user) return NULL;
    *len = c->user->name_len;
    return c->user->name;
}

int lh_user_size(const char *uid, size_t len) { return group_size(&user_index, uid, len); }

uint64_t lh_user_member(const char *uid, size_t len, uint32_t i)
{
    return group_member_id(&user_index, uid, len, i);
}

int lh_meta_set(uint64_t id, const char *k, size_t kl, const char *v, size_t vl)
{
    struct conn *c = conn_by_id(id);
    return c ? meta_set(c, k, kl, v, vl) : LH_ERR_CLOSED;
}

const char *lh_meta_get(uint64_t id, const char *k, size_t kl, size_t *vl)
{
    struct conn *c = conn_by_id(id);
    return c ? meta_get(c, k, kl, vl) : NULL;
}

int lh_meta_del(uint64_t id, const char *k, size_t kl)
{
    struct conn *c = conn_by_id(id);
    return c ? meta_del(c, k, kl) : LH_ERR_CLOSED;
}

/* Header lookup in the kept request head ("Name: value\r\n" lines after the request line). */
const char *lh_header(uint64_t id, const char *name, size_t nl, size_t *len)
{
    struct conn *c = conn_by_id(id);
    if (!c || !c->req_head) return NULL;
    const char *p = c->req_head, *end = p + c->req_head_len;
    const char *line = memchr(p, '\n', (size_t)(end - p));
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon && (size_t)(colon - line) == nl && strncasecmp(line, name, nl) == 0) {
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *len = (size_t)(ve - v);
            return v;
        }
        line = eol;
    }
    return NULL;
}

const char *lh_target(uint64_t id, size_t *len)
{
    struct conn *c = conn_by_id(id);
    if (!c || !c->req_head) return NULL;
    const char *sp = memchr(c->req_head, ' ', c->req_head_len);
    if (!sp) return NULL;
    const char *end = c->req_head + c->req_head_len;
    const char *sp2 = memchr(sp + 1, ' ', (size_t)(end - sp - 1));
    if (!sp2) return NULL;
    *len = (size_t)(sp2 - sp - 1);
    return sp + 1;
}

int lh_remote_addr(uint64_t id, char *buf, size_t len)
{
    struct conn *c = conn_by_id(id);
    if (!c) return LH_ERR_CLOSED;
    conn_remote_addr(c, buf, len);
    return LH_OK;
}

double lh_connected_at(uint64_t id)
{
    struct conn *c = conn_by_id(id);
    return c ? c->connected_at : 0;
}

void lh_log(int level, uint64_t client_id, const char *msg, size_t len, const char *fields_json)
{
    if (level < LOG_DEBUG || level > LOG_ERROR) level = LOG_INFO;
    log_write((enum log_level)level, client_id, msg, len, fields_json);
}

double lh_now(void) { return ev_now(EV_DEFAULT); }
