#include "hub.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "backpressure.h"
#include "config.h"
#include "deflate.h"
#include "fanout_batch.h"
#include "group.h"
#include "http.h"
#include "log.h"
#include "meta.h"
#include "metrics.h"
#include "room.h"
#include "utf8.h"

/* Every open client is a member of one group that lives on empty, so broadcast, room and
 * user sends share one fan-out loop over a member array. */
static struct group *everyone;
static const struct hub_script_events *script;
static const struct hub_relay *relay;
static const struct hub_admin *admin;
static int draining;

void hub_set_script(const struct hub_script_events *ev) { script = ev; }
void hub_set_relay(const struct hub_relay *r) { relay = r; }
void hub_set_admin(const struct hub_admin *a) { admin = a; }
void hub_set_draining(int on) { draining = on; }
int hub_draining(void) { return draining; }

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

uint32_t hub_count(void) { return everyone ? everyone->count : 0; }

size_t hub_client_ids(uint64_t *out, size_t cap)
{
    uint32_t n = hub_count();
    for (uint32_t i = 0; i < n && i < cap; i++) out[i] = everyone->members[i].client->conn.id;
    return n;
}

struct client *hub_any(uint64_t id)
{
    struct conn *c = conn_by_id(id);
    return c ? client_of(c) : NULL;
}

struct client *hub_client(uint64_t id)
{
    struct client *cl = hub_any(id);
    return cl && cl->in_hub ? cl : NULL;
}

/* ------------------------------------------------------------------ transport events */

static void log_refusal(struct conn *c, const struct admission *a)
{
    char addr[64];
    conn_remote_addr(c, addr, sizeof addr);
    log_info(c->id, "upgrade from %s rejected by before_connect: %d %s", addr, a->status, a->reason);
    metrics.refused[a->status == 429 ? REFUSE_USER_LIMIT : REFUSE_HOOK]++;
}

/* An upgrade asking for an admin socket: let in with a live ticket, refused without one;
 * the script never sees either. 0 when the upgrade is not asking. */
static int admit_admin(struct conn *c, const struct http_req *r, struct admission *a)
{
    int ticket = admin ? admin->check(r->buf + r->url.off, r->url.len) : 0;
    if (ticket == 0) return 0;
    if (ticket < 0 || !config.api_key) {
        char addr[64];
        conn_remote_addr(c, addr, sizeof addr);
        log_info(c->id, "admin upgrade from %s refused: no valid ticket", addr);
        metrics.refused[REFUSE_HANDSHAKE]++;
        *a = (struct admission){ 401, NULL, "admin ticket missing, used or expired" };
        return 1;
    }
    client_of(c)->admin = 1;
    return 1;
}

/* Admission: the hub's own limits first, then the script's before_connect hooks. */
void hub_on_admit(struct conn *c, const struct http_req *r, struct admission *a)
{
    char addr[64];
    if (!draining && admit_admin(c, r, a)) return;
    if (config.limit_connections && hub_count() >= config.limit_connections) {
        conn_remote_addr(c, addr, sizeof addr);
        log_warn(c->id, "upgrade from %s refused: %u connections is the limit", addr,
                 config.limit_connections);
        metrics.refused[REFUSE_LIMIT]++;
        *a = (struct admission){ 503, "Retry-After: 5\r\n", "connection limit reached" };
        return;
    }
    if (draining) {
        metrics.refused[REFUSE_DRAINING]++;
        *a = (struct admission){ 503, "Retry-After: 5\r\n", "server is draining" };
        return;
    }
    if (!script) return;
    script->admit(client_of(c), r, a);
    if (a->status > 0) log_refusal(c, a);
}

void hub_admit_done(uint64_t id, const struct admission *a)
{
    struct conn *c = conn_by_id(id);
    if (!c || !c->admit_pending) return;   /* timed out, or the peer left */
    if (a->status > 0) log_refusal(c, a);
    conn_admit(c, a);
}

void hub_on_open(struct conn *c)
{
    struct client *cl = client_of(c);
    if (cl->admin) {
        admin->open(cl);
        return;
    }
    batch_settle();   /* a run's members are fixed: a newcomer gets none of it */
    if (group_add(everyone_group(), cl, &cl->hub_index) != 0) {
        log_error(c->id, "out of memory adding a client");
        conn_kill(c, 1011);
        return;
    }
    cl->in_hub = 1;
    if (log_min_level <= LOG_DEBUG) {   /* the address is only formatted for the line */
        char addr[64];
        conn_remote_addr(c, addr, sizeof addr);
        log_debug(c->id, "connected from %s", addr);
    }
    if (script) cl->task_waiting = (uint8_t)script->open(cl);
}

struct client_extra *client_extra(struct client *c)
{
    if (!c->extra) c->extra = calloc(1, sizeof *c->extra);
    return c->extra;
}

void client_extra_trim(struct client *c)
{
    struct client_extra *x = c->extra;
    if (x && !x->nmeta && !x->held.count && x->rate_last == 0) {
        free(x->meta);
        free(x);
        c->extra = NULL;
    }
}

static int holding(const struct client *cl) { return cl->extra && cl->extra->held.count; }

/* limits.message_rate: a token bucket per client holding one second's worth of messages;
 * an empty bucket means the message is not handled (the script's hooks see it). Without
 * memory for the bucket the message goes through. */
static int rate_allows(struct client *cl)
{
    double rate = config.limit_message_rate;
    if (rate <= 0) return 1;
    struct client_extra *x = client_extra(cl);
    if (!x) return 1;
    double burst = rate < 1 ? 1 : rate;
    ev_tstamp now = ev_now(EV_DEFAULT);
    if (x->rate_last == 0) x->rate_tokens = burst;
    else x->rate_tokens += (now - x->rate_last) * rate;
    if (x->rate_tokens > burst) x->rate_tokens = burst;
    x->rate_last = now;
    if (x->rate_tokens < 1) return 0;
    x->rate_tokens -= 1;
    return 1;
}

/* The text message being handled: the transport checked its UTF-8, so a send of exactly
 * these bytes (a handler forwarding the message it got) need not check them again. A
 * Lua string never has this pointer, so anything rewritten is still checked. */
static const uint8_t *handled_text;
static size_t handled_text_len;

static int text_valid(const char *data, size_t len)
{
    if ((const uint8_t *)data == handled_text && len == handled_text_len) return 1;
    return utf8_valid((const uint8_t *)data, len);
}

static void handle_message(struct client *cl, int opcode, const uint8_t *data, size_t len,
                           int limited)
{
    if (opcode == WS_TEXT) {
        handled_text = data;
        handled_text_len = len;
    }
    cl->task_waiting = (uint8_t)script->message(cl, opcode, data, len, limited);
    handled_text = NULL;
}

/* Keeps a copy of a message for after the waiting task; past limits.waiting_messages the
 * client is not read from until they are handled. */
static void hold_message(struct client *cl, int opcode, const uint8_t *data, size_t len,
                         int limited)
{
    struct held_message *m = malloc(sizeof *m + len);
    struct client_extra *x = m ? client_extra(cl) : NULL;
    if (!x) {
        free(m);
        log_error(cl->conn.id, "out of memory holding a %zu-byte message while the client's handler waits", len);
        conn_kill(&cl->conn, 1011);
        return;
    }
    *m = (struct held_message){ NULL, (uint32_t)len, (uint8_t)opcode, (uint8_t)limited };
    memcpy(m->data, data, len);
    struct held_queue *q = &x->held;
    if (q->tail) q->tail->next = m;
    else q->head = m;
    q->tail = m;
    if (++q->count >= config.limit_waiting_messages && config.limit_waiting_messages)
        conn_pause_reading(&cl->conn, 1);
}

void hub_on_message(struct conn *c, int opcode, const uint8_t *data, size_t len)
{
    struct client *cl = client_of(c);
    if (!cl->in_hub) return;
    int limited = !rate_allows(cl);
    if (limited) metrics.errors[ERR_RATE_LIMITED]++;
    if (!script) return;
    if (cl->task_waiting || holding(cl)) hold_message(cl, opcode, data, len, limited);
    else handle_message(cl, opcode, data, len, limited);
}

static uint32_t *hub_slot(struct client *cl, const struct group *g) { return &cl->hub_index; }

void hub_detach(struct client *cl)
{
    if (!cl->in_hub) return;
    batch_settle();   /* what was broadcast before the client left still reaches it */
    group_remove(NULL, everyone, cl->hub_index, hub_slot);
    cl->in_hub = 0;
    room_leave_all(cl);
}

static void release_state(struct client *cl)
{
    hub_detach(cl);
    user_clear(cl);
    meta_free(cl);
    if (cl->extra) cl->extra->rate_last = 0;
    client_extra_trim(cl);
}

/* The script's close hooks run first (before_disconnect sees the client everywhere, then
 * it calls hub_detach, then after_disconnect can still read the user id); then whatever
 * the script left is released. While a task of the client waits, they run after it. */
static void run_close(struct client *cl)
{
    cl->close_due = 0;
    struct conn *c = &cl->conn;
    if (script && cl->in_hub &&
        (cl->task_waiting = (uint8_t)script->close(cl, conn_close_code(c), c->close_reason ? c->close_reason : "")))
        return;
    release_state(cl);
    if (cl->conn_held) conn_free_held(c);
}

void hub_on_close(struct conn *c)
{
    struct client *cl = client_of(c);
    log_debug(c->id, "closed: %d %s", conn_close_code(c), c->close_reason ? c->close_reason : "");
    if (cl->admin) admin->close(cl);
    cl->close_due = 1;
    if (!cl->task_waiting && !holding(cl)) run_close(cl);
}

int hub_on_release(struct conn *c)
{
    struct client *cl = client_of(c);
    if (cl->task_waiting || holding(cl) || cl->close_due) {
        cl->conn_held = 1;
        return 1;
    }
    release_state(cl);
    return 0;
}

void hub_task_done(uint64_t id)
{
    struct client *cl = hub_any(id);
    if (!cl || !cl->task_waiting) return;
    cl->task_waiting = 0;
    while (holding(cl) && !cl->task_waiting) {
        struct held_queue *q = &cl->extra->held;
        struct held_message *m = q->head;
        q->head = m->next;
        if (!m->next) q->tail = NULL;
        if (--q->count == 0) client_extra_trim(cl);
        if (cl->in_hub) handle_message(cl, m->opcode, m->data, m->len, m->limited);
        free(m);
    }
    if (cl->task_waiting) return;
    if (cl->close_due) {
        run_close(cl);
        return;
    }
    conn_pause_reading(&cl->conn, 0);
}

/* ------------------------------------------------------------------ dropped sends */

void hub_want_dropped(int on) { backpressure_record_drops(on); }

int hub_dropped_pending(void) { return backpressure_has_dropped(); }

void hub_fire_dropped(void)
{
    /* hooks may drop more sends: take the batch, then loop until none are left */
    uint32_t n;
    struct dropped_send *batch;
    while ((batch = backpressure_take_dropped(&n))) {
        for (uint32_t i = 0; i < n; i++) {
            struct frame *f = batch[i].frame;
            const uint8_t *p = f->data + (f->len - f->payload_len);
            size_t len = f->payload_len;
            /* the hook sees the message as sent, so a compressed frame is inflated */
            if (script && (!(f->data[0] & 0x40) || deflate_inflate(p, len, SIZE_MAX - 1, &p, &len) == 0))
                script->dropped(batch[i].id, p, len, (f->data[0] & 0x0f) == WS_BINARY);
            frame_unref(f);
        }
        free(batch);
    }
}

/* ------------------------------------------------------------------ fan-out */

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
    if (!binary && !text_valid(data, len)) return LH_ERR_BAD_ARG;
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

static int outgoing_send(struct outgoing *o, struct client *cl)
{
    struct frame *f = outgoing_frame(o, &cl->conn);
    return f ? backpressure_send(&cl->conn, f) : LH_ERR_NOMEM;
}

/* The ids a fan-out skips. A short list is scanned; a long one is sorted once and
 * searched, so a fan-out costs O(members x log except), not O(members x except). */
#define EXCEPT_SCAN_MAX 8

struct except_set {
    const uint64_t *ids;
    size_t n;
    uint64_t *sorted;            /* owned copy when n > EXCEPT_SCAN_MAX */
};

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int except_init(struct except_set *e, const uint64_t *ids, size_t n)
{
    *e = (struct except_set){ ids, n, NULL };
    if (n <= EXCEPT_SCAN_MAX) return 0;
    if (!(e->sorted = malloc(n * sizeof *ids))) return -1;
    memcpy(e->sorted, ids, n * sizeof *ids);
    qsort(e->sorted, n, sizeof *ids, cmp_id);
    e->ids = e->sorted;
    return 0;
}

static int is_excepted(const struct except_set *e, uint64_t id)
{
    if (!e->sorted) {
        for (size_t i = 0; i < e->n; i++)
            if (e->ids[i] == id) return 1;
        return 0;
    }
    return bsearch(&id, e->ids, e->n, sizeof id, cmp_id) != NULL;
}

static struct group *target_group(enum hub_target to, const char *target, size_t tlen)
{
    if (to == HUB_ALL) return everyone;
    return group_find(to == HUB_ROOM ? &room_index : &user_index, target, tlen);
}

static void note_room(struct batch_room *room, const struct sendq *q)
{
    if (config.sendq_messages && (int64_t)config.sendq_messages - q->msgs < room->messages)
        room->messages = (int64_t)config.sendq_messages - q->msgs;
    if (config.sendq_bytes && (int64_t)config.sendq_bytes - (int64_t)q->bytes < room->bytes)
        room->bytes = (int64_t)config.sendq_bytes - (int64_t)q->bytes;
}

/* Opens a run for g that holds f, when every member would take f as it is (none at a
 * bound, none with permessage-deflate): then no member's queue is touched before the run
 * settles, and all of the pass's broadcasts to g reach each member as one frame. The
 * number of members, or -1 when some member needs the send path. */
static int hold_for_members(struct group *g, struct frame *f)
{
    struct batch_room room = { INT64_MAX, INT64_MAX };
    for (uint32_t i = 0; i < g->count; i++) {
        const struct conn *c = &g->members[i].client->conn;
        if (c->deflate || !backpressure_takes(c, f)) return -1;
        note_room(&room, &c->q);
    }
    batch_open(g, g->count, &room);
    return batch_append(g, f);
}

/* Queues one message to every member of g but the excepted; text already checked. A
 * message without an except list goes to the pass's batch for g when it can
 * (fanout_batch.h): the open run, or a new run that holds it; otherwise through the send
 * path to every member, which opens a run for the next ones when all of them took it. */
static int fan_out(struct group *g, const char *data, size_t len, int binary,
                   const uint64_t *except, size_t nexcept)
{
    if (!g || g->count == 0) return 0;
    double started = metrics_clock();
    struct outgoing o = { data, len, binary ? WS_BINARY : WS_TEXT, NULL, NULL };
    int sent;
    if (!nexcept) {
        if (!(o.plain = frame_ws(o.opcode, data, len))) return LH_ERR_NOMEM;
        if (batch_open_for(g) && (sent = batch_append(g, o.plain)) >= 0) goto done;
        batch_settle();
        if ((sent = hold_for_members(g, o.plain)) >= 0) goto done;
    }
    batch_settle();
    struct except_set ex;
    if (except_init(&ex, except, nexcept) != 0) {
        outgoing_done(&o);
        return LH_ERR_NOMEM;
    }
    /* the batch takes the plain frames only, and needs every member to have taken this */
    int batchable = !nexcept;
    struct batch_room room = { INT64_MAX, INT64_MAX };
    sent = 0;
    for (uint32_t i = 0; i < g->count; i++) {
        struct client *cl = g->members[i].client;
        if (nexcept && is_excepted(&ex, cl->conn.id)) continue;
        if (cl->conn.deflate) batchable = 0;
        if (outgoing_send(&o, cl) != LH_OK) {
            batchable = 0;
            continue;
        }
        sent++;
        note_room(&room, &cl->conn.q);
    }
    free(ex.sorted);
    if (batchable) batch_open(g, (uint32_t)sent, &room);
done:
    outgoing_done(&o);
    histogram_observe(&metrics.broadcast_seconds, metrics_clock() - started);
    return sent;
}

int hub_deliver(enum hub_target to, const char *target, size_t tlen, const char *data,
                size_t len, int binary, const uint64_t *except, size_t nexcept)
{
    if (!binary && !text_valid(data, len)) return LH_ERR_BAD_ARG;
    return fan_out(target_group(to, target, tlen), data, len, binary, except, nexcept);
}

int hub_fan_out(enum hub_target to, const char *target, size_t tlen, const char *data,
                size_t len, int binary, const uint64_t *except, size_t nexcept)
{
    int sent = hub_deliver(to, target, tlen, data, len, binary, except, nexcept);
    /* a send refused here (text that is not UTF-8) is not relayed either */
    if (sent >= 0 && relay) relay->fan_out(to, target, tlen, data, len, binary, except, nexcept);
    return sent;
}

int hub_send(uint64_t id, const char *data, size_t len, int binary)
{
    batch_settle();   /* a direct send goes behind the broadcasts made before it */
    struct client *cl = hub_client(id);
    if (!cl) return relay ? relay->to_client(id, data, len, binary) : LH_ERR_CLOSED;
    struct outgoing o;
    int r = outgoing_init(&o, data, len, binary);
    if (r != LH_OK) return r;
    r = outgoing_send(&o, cl);
    outgoing_done(&o);
    return r;
}

int hub_close(uint64_t id, int code, const char *reason, size_t reason_len)
{
    struct client *cl = hub_client(id);
    if (!cl) return LH_ERR_CLOSED;
    if (reason_len && !utf8_valid((const uint8_t *)reason, reason_len)) return LH_ERR_BAD_ARG;
    if (reason_len > 123) return LH_ERR_BAD_ARG;
    batch_settle();   /* the close goes behind the broadcasts made before it */
    return conn_close(&cl->conn, code, reason, reason_len) == 0 ? LH_OK : LH_ERR_CLOSED;
}
