/* script_api.c — the FFI surface: every lh_* function of lh_api.h but the settings
 * (config.c), each a thin call into the layer that owns the state. This file is the
 * script bridge's way down; nothing in the core calls these. */
#include "lh_api.h"

#include <ev.h>
#include <malloc.h>
#include <string.h>
#include <strings.h>

#include "cluster.h"
#include "group.h"
#include "guard.h"
#include "hub.h"
#include "log.h"
#include "lua_bridge.h"
#include "meta.h"
#include "metrics.h"
#include "outbound_http.h"
#include "reqhead.h"
#include "room.h"
#include "server.h"
#include "timer.h"

/* ------------------------------------------------------------------ sends */

int lh_send(uint64_t id, const char *data, size_t len, int binary)
{
    return hub_send(id, data, len, binary);
}

int lh_broadcast(const char *data, size_t len, int binary, const uint64_t *except, size_t nexcept)
{
    return hub_fan_out(HUB_ALL, NULL, 0, data, len, binary, except, nexcept);
}

int lh_to_room(const char *room, size_t rlen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept)
{
    return hub_fan_out(HUB_ROOM, room, rlen, data, len, binary, except, nexcept);
}

int lh_to_user(const char *uid, size_t ulen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept)
{
    return hub_fan_out(HUB_USER, uid, ulen, data, len, binary, except, nexcept);
}

int lh_close(uint64_t id, int code, const char *reason, size_t reason_len)
{
    return hub_close(id, code, reason, reason_len);
}

int lh_is_open(uint64_t id)
{
    struct client *cl = hub_client(id);
    return cl && conn_writable(&cl->conn);
}

uint32_t lh_count(void) { return hub_count(); }

void lh_want_dropped(int on) { hub_want_dropped(on); }

void lh_want_admit(int on) { lua_bridge_want_admit(on); }

/* A client whose state the script may still change: one being admitted (before_connect)
 * or open. From client:close on, and in its close hooks, changes answer closed, as sends
 * do; its state stays readable until it is freed. */
static struct client *changeable(uint64_t id)
{
    struct client *cl = hub_any(id);
    if (!cl || cl->conn.killed) return NULL;
    return cl->conn.phase == PHASE_HTTP || conn_writable(&cl->conn) ? cl : NULL;
}

/* ------------------------------------------------------------------ rooms */

int lh_join(uint64_t id, const char *room, size_t len)
{
    struct client *cl = hub_client(id);
    return cl && conn_writable(&cl->conn) ? room_join(cl, room, len) : LH_ERR_CLOSED;
}

int lh_leave(uint64_t id, const char *room, size_t len)
{
    struct client *cl = hub_client(id);
    return cl ? room_leave(cl, room, len) : LH_ERR_CLOSED;
}

int lh_leave_all(uint64_t id)
{
    struct client *cl = hub_client(id);
    if (!cl) return LH_ERR_CLOSED;
    room_leave_all(cl);
    return LH_OK;
}

void lh_detach(uint64_t id)
{
    struct client *cl = hub_any(id);
    if (cl) hub_detach(cl);
}

int lh_in_room(uint64_t id, const char *room, size_t len)
{
    struct client *cl = hub_client(id);
    return cl && room_member_of(cl, room, len);
}

int lh_client_rooms(uint64_t id)
{
    struct client *cl = hub_client(id);
    return cl ? cl->nrooms : 0;
}

const char *lh_client_room(uint64_t id, int i, size_t *len)
{
    struct client *cl = hub_client(id);
    if (!cl || i < 0 || i >= cl->nrooms) return NULL;
    *len = cl->rooms[i].room->name_len;
    return cl->rooms[i].room->name;
}

static int group_size(const struct group_index *ix, const char *name, size_t len)
{
    struct group *g = group_find(ix, name, len);
    return g ? (int)g->count : 0;
}

static uint64_t group_member_id(const struct group_index *ix, const char *name, size_t len, uint32_t i)
{
    struct group *g = group_find(ix, name, len);
    return g && i < g->count ? g->members[i].client->conn.id : 0;
}

int lh_room_size(const char *room, size_t len) { return group_size(&room_index, room, len); }

uint64_t lh_room_member(const char *room, size_t len, uint32_t i)
{
    return group_member_id(&room_index, room, len, i);
}

uint32_t lh_room_total(void) { return room_index.count; }

/* Every group's name, NUL-terminated, into buf as far as it fits; the bytes needed. */
static size_t group_names(const struct group_index *ix, char *buf, size_t cap)
{
    size_t need = 0;
    GROUP_FOREACH(ix, g) {
        if (need + g->name_len + 1 <= cap) memcpy(buf + need, g->name, g->name_len + 1);
        need += g->name_len + 1;
    }
    return need;
}

size_t lh_room_names(char *buf, size_t cap) { return group_names(&room_index, buf, cap); }
size_t lh_user_names(char *buf, size_t cap) { return group_names(&user_index, buf, cap); }

size_t lh_client_ids(uint64_t *ids, size_t cap) { return hub_client_ids(ids, cap); }

/* Presence records into buf as far as they fit: (u64 id, u16 user length, user, u8 node),
 * numbers in host order. */
struct presence_out {
    uint8_t *buf;
    size_t cap, need;
};

static void put_member(void *ctx, int node, uint64_t id, const char *user, size_t ulen)
{
    struct presence_out *o = ctx;
    size_t n = 11 + ulen;
    if (o->need + n <= o->cap) {
        uint8_t *p = o->buf + o->need;
        uint16_t ul = (uint16_t)ulen;
        memcpy(p, &id, 8);
        memcpy(p + 8, &ul, 2);
        memcpy(p + 10, user, ulen);
        p[10 + ulen] = (uint8_t)node;
    }
    o->need += n;
}

size_t lh_presence(const char *room, size_t len, uint8_t *buf, size_t cap)
{
    struct presence_out o = { buf, cap, 0 };
    struct group *g = group_find(&room_index, room, len);
    for (uint32_t i = 0; g && i < g->count; i++) {
        const struct client *c = g->members[i].client;
        put_member(&o, 0, c->conn.id, c->user ? c->user->name : "", c->user ? c->user->name_len : 0);
    }
    cluster_room_members(room, len, put_member, &o);
    return o.need;
}

/* ------------------------------------------------------------------ users and metadata */

int lh_set_user(uint64_t id, const char *uid, size_t len)
{
    struct client *cl = changeable(id);
    return cl ? user_set(cl, uid, len) : LH_ERR_CLOSED;
}

const char *lh_user_of(uint64_t id, size_t *len)
{
    struct client *cl = hub_any(id);
    if (!cl || !cl->user) return NULL;
    *len = cl->user->name_len;
    return cl->user->name;
}

int lh_user_size(const char *uid, size_t len) { return group_size(&user_index, uid, len); }

uint64_t lh_user_member(const char *uid, size_t len, uint32_t i)
{
    return group_member_id(&user_index, uid, len, i);
}

int lh_meta_set(uint64_t id, const char *k, size_t kl, const char *v, size_t vl)
{
    struct client *cl = changeable(id);
    return cl ? meta_set(cl, k, kl, v, vl) : LH_ERR_CLOSED;
}

const char *lh_meta_get(uint64_t id, const char *k, size_t kl, size_t *vl)
{
    struct client *cl = hub_any(id);
    return cl ? meta_get(cl, k, kl, vl) : NULL;
}

int lh_meta_del(uint64_t id, const char *k, size_t kl)
{
    struct client *cl = hub_any(id);
    return cl ? meta_del(cl, k, kl) : LH_ERR_CLOSED;
}

/* ------------------------------------------------------------------ the request and the peer */

/* Header lookup in the kept request (reqhead.h). */
const char *lh_header(uint64_t id, const char *name, size_t nl, size_t *len)
{
    struct conn *c = conn_by_id(id);
    return c && c->req_head ? reqhead_header(c->req_head, name, nl, len) : NULL;
}

const char *lh_target(uint64_t id, size_t *len)
{
    struct conn *c = conn_by_id(id);
    return c && c->req_head ? reqhead_target(c->req_head, len) : NULL;
}

int lh_remote_addr(uint64_t id, char *buf, size_t len)
{
    struct conn *c = conn_by_id(id);
    if (!c) return LH_ERR_CLOSED;
    conn_remote_addr(c, buf, len);
    return LH_OK;
}

/* The upgrade's time: phase_since, until a closed connection lingers (its handle is
 * gone by then). */
double lh_connected_at(uint64_t id)
{
    struct client *cl = hub_any(id);
    return cl ? cl->conn.phase_since : 0;
}

/* ------------------------------------------------------------------ cluster */

const char *lh_node_id(const char *configured) { return cluster_node_id_for(configured); }
int lh_is_remote(uint64_t id) { return cluster_is_remote(id); }
double lh_global_count(void) { return cluster_global_count(); }

double lh_global_room_count(const char *room, size_t len)
{
    return cluster_global_room_count(room, len);
}

int lh_cluster_nodes(void) { return cluster_nodes(); }

const char *lh_cluster_node(int i, size_t *len, double *clients, double *rooms, double *age)
{
    return cluster_node(i, len, clients, rooms, age);
}

/* ------------------------------------------------------------------ timers */

uint32_t lh_timer_start(double after, double repeat) { return timer_start(after, repeat); }
void lh_timer_cancel(uint32_t id) { timer_cancel(id); }

/* ------------------------------------------------------------------ outbound calls */

int lh_http_request(const char *method, size_t method_len, const char *url, size_t url_len,
                    const char *headers, size_t headers_len, const char *body, size_t body_len,
                    double timeout)
{
    return outbound_http_request(method, method_len, url, url_len, headers, headers_len, body,
                                 body_len, timeout);
}

/* ------------------------------------------------------------------ process */

void lh_log(int level, uint64_t client_id, const char *msg, size_t len, const char *fields_json)
{
    if (level < LOG_DEBUG || level > LOG_ERROR) level = LOG_INFO;
    log_write((enum log_level)level, client_id, msg, len, fields_json);
}

void lh_set_log(int level, int format) { log_configure(level, format); }
double lh_now(void) { return ev_now(EV_DEFAULT); }
double lh_clock(void) { return metrics_clock(); }
double lh_uptime(void) { return server_uptime(); }
int lh_draining(void) { return hub_draining(); }

uint64_t lh_heap_bytes(void) { return metrics_heap_bytes(); }

void lh_count_error(const char *type) { metrics_count_error(type); }

void lh_guard_where(const char *location) { guard_where(location); }
