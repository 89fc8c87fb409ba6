#include "ws.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "lua_bridge.h"
#include "metrics.h"

/* Reassembly of fragmented (or multi-chunk) messages. A single-frame message whose payload
 * arrives in one chunk is dispatched straight from wslay's buffer without a copy. */
struct ws {
    wslay_event_context_ptr ctx;
    const uint8_t *in;            /* bytes being fed */
    size_t in_len;
    uint8_t *msg;
    size_t msg_len, msg_cap;
    const uint8_t *direct;        /* whole single-frame payload, valid until msg_recv */
    size_t direct_len;
    uint8_t msg_opcode;           /* opcode of the data message being received */
    uint8_t frame_opcode;
    uint8_t frame_fin;
    uint64_t frame_payload_len;
    size_t frame_received;
    uint64_t msg_total;           /* payload bytes announced for the current data message */
    uint16_t fail_code;           /* set when we fail the connection ourselves */
};

/* Fails the connection with code: wslay stops reading, and ws_feed sends our close frame
 * instead of whatever wslay queued. Used for what wslay does not check itself with
 * no_buffering (total size of a fragmented message), or answers without a status code
 * (oversized or fragmented control frames, a 1-byte close payload). */
static void fail(struct conn *c, uint16_t code)
{
    struct ws *w = c->ws;
    if (w->fail_code) return;
    w->fail_code = code;
    wslay_event_shutdown_read(w->ctx);
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    struct conn *c = user;
    struct ws *w = c->ws;
    if (w->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < w->in_len ? len : w->in_len;
    memcpy(buf, w->in, n);
    w->in += n;
    w->in_len -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    if (conn_send_ctrl(user, data, len) != 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static void frame_start_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *a, void *user)
{
    struct conn *c = user;
    struct ws *w = c->ws;
    w->frame_opcode = a->opcode;
    w->frame_fin = a->fin;
    w->frame_payload_len = a->payload_length;
    w->frame_received = 0;
    if (a->opcode == WS_TEXT || a->opcode == WS_BINARY) {
        w->msg_opcode = a->opcode;
        w->msg_len = 0;
        w->msg_total = 0;
        w->direct = NULL;
    }
    if (a->opcode == WS_CLOSE && a->payload_length == 1) {
        fail(c, 1002);
        return;
    }
    if (a->opcode == WS_TEXT || a->opcode == WS_BINARY || a->opcode == WS_CONT) {
        w->msg_total += a->payload_length;
        if (w->msg_total > config.max_message_size) fail(c, 1009);
    }
}

static int msg_append(struct ws *w, const uint8_t *p, size_t n)
{
    if (w->msg_len + n > w->msg_cap) {
        size_t cap = w->msg_cap ? w->msg_cap : 4096;
        while (cap < w->msg_len + n) cap *= 2;
        uint8_t *m = realloc(w->msg, cap);
        if (!m) return -1;
        w->msg = m;
        w->msg_cap = cap;
    }
    memcpy(w->msg + w->msg_len, p, n);
    w->msg_len += n;
    return 0;
}

static void frame_chunk_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *a, void *user)
{
    struct conn *c = user;
    struct ws *w = c->ws;
    uint8_t op = w->frame_opcode;
    if (w->fail_code) return;
    if (op != WS_TEXT && op != WS_BINARY && op != WS_CONT) return;
    if (op != WS_CONT && w->frame_fin && w->frame_received == 0 &&
        a->data_length == w->frame_payload_len) {
        w->direct = a->data;
        w->direct_len = a->data_length;
    } else if (msg_append(w, a->data, a->data_length) != 0) {
        log_error(c->id, "out of memory reassembling a %zu-byte message", w->msg_len);
        conn_kill(c, 1011);
    }
    w->frame_received += a->data_length;
}

/* limits.message_rate: a token bucket per connection holding one second's worth of
 * messages; an empty bucket means the message is dropped (the script's hooks see it). */
static int rate_allows(struct conn *c)
{
    double rate = config.limit_message_rate;
    if (rate <= 0) return 1;
    double burst = rate < 1 ? 1 : rate;
    ev_tstamp now = ev_now(EV_DEFAULT);
    if (c->rate_last == 0) c->rate_tokens = burst;
    else c->rate_tokens += (now - c->rate_last) * rate;
    if (c->rate_tokens > burst) c->rate_tokens = burst;
    c->rate_last = now;
    if (c->rate_tokens < 1) return 0;
    c->rate_tokens -= 1;
    return 1;
}

static void msg_recv_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                        void *user)
{
    struct conn *c = user;
    struct ws *w = c->ws;
    switch (a->opcode) {
    case WS_TEXT:
    case WS_BINARY: {
        if (w->fail_code) return;
        const uint8_t *p = w->direct ? w->direct : w->msg;
        size_t n = w->direct ? w->direct_len : w->msg_len;
        w->direct = NULL;
        w->msg_len = 0;
        if (c->killed || c->close_queued) return;
        metrics.messages_received[a->opcode == WS_BINARY]++;
        c->last_active = ev_now(EV_DEFAULT);
        int limited = !rate_allows(c);
        if (limited) metrics.errors[ERR_RATE_LIMITED]++;
        lua_bridge_on_message(c, a->opcode, p, n, limited);
        /* a burst of one big message should not pin its buffer for the connection's life */
        if (w->msg_cap > 65536) {
            free(w->msg);
            w->msg = NULL;
            w->msg_cap = 0;
        }
        break;
    }
    case WS_PONG:
        c->last_pong = ev_now(EV_DEFAULT);
        break;
    default:
        break;
    }
}

int ws_start(struct conn *c)
{
    struct ws *w = calloc(1, sizeof *w);
    if (!w) return -1;
    struct wslay_event_callbacks cbs = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .on_frame_recv_start_callback = frame_start_cb,
        .on_frame_recv_chunk_callback = frame_chunk_cb,
        .on_msg_recv_callback = msg_recv_cb,
    };
    if (wslay_event_context_server_init(&w->ctx, &cbs, c) != 0) {
        free(w);
        return -1;
    }
    wslay_event_config_set_no_buffering(w->ctx, 1);
    wslay_event_config_set_max_recv_msg_length(w->ctx, config.max_message_size);
    c->ws = w;
    return 0;
}

void ws_free(struct conn *c)
{
    struct ws *w = c->ws;
    if (!w) return;
    wslay_event_context_free(w->ctx);
    free(w->msg);
    free(w);
    c->ws = NULL;
}

/* Moves whatever control frames wslay queued (pong, close echo) into c->ctrl. */
static void pull_ctrl(struct conn *c)
{
    struct ws *w = c->ws;
    if (w->fail_code) return;   /* our close frame is out; wslay's queue is abandoned */
    if (wslay_event_want_write(w->ctx)) wslay_event_send(w->ctx);
    if (wslay_event_get_close_sent(w->ctx) && !c->close_queued) {
        c->close_queued = 1;
        conn_mark_dirty(c);
    }
}

int ws_feed(struct conn *c, const uint8_t *buf, size_t len)
{
    struct ws *w = c->ws;
    if (w->fail_code) return 0;
    w->in = buf;
    w->in_len = len;
    int r = wslay_event_recv(w->ctx);
    w->in = NULL;
    w->in_len = 0;
    /* wslay_frame_recv rejects bad control frames itself and wslay then queues a close
     * without a status code; we answer 1002 as RFC 6455 asks. */
    if (r != 0 && !w->fail_code && !wslay_event_get_close_sent(w->ctx)) fail(c, 1002);
    if (w->fail_code && !c->close_queued) {
        uint8_t close_frame[4] = { 0x80 | WS_CLOSE, 2, (uint8_t)(w->fail_code >> 8),
                                   (uint8_t)w->fail_code };
        c->close_code = w->fail_code;
        c->close_queued = 1;
        return conn_send_ctrl(c, close_frame, sizeof close_frame) == 0 ? 0 : -1;
    }
    pull_ctrl(c);
    return r != 0 ? -1 : 0;
}

void ws_queue_close(struct conn *c, int code, const char *reason, size_t reason_len)
{
    if (reason_len > 123) reason_len = 123;
    wslay_event_queue_close(c->ws->ctx, (uint16_t)code, (const uint8_t *)reason, reason_len);
    pull_ctrl(c);
}

void ws_queue_ping(struct conn *c)
{
    struct wslay_event_msg m = { .opcode = WS_PING, .msg = NULL, .msg_length = 0 };
    if (wslay_event_queue_msg(c->ws->ctx, &m) == 0) pull_ctrl(c);
}

int ws_read_enabled(const struct conn *c) { return wslay_event_get_read_enabled(c->ws->ctx); }

int ws_close_received(const struct conn *c) { return wslay_event_get_close_received(c->ws->ctx); }

int ws_final_code(const struct conn *c)
{
    if (!c->ws || c->ws->fail_code) return c->close_code ? c->close_code : 1006;
    if (wslay_event_get_close_received(c->ws->ctx))
        return wslay_event_get_status_code_received(c->ws->ctx);
    if (wslay_event_get_close_sent(c->ws->ctx))
        return wslay_event_get_status_code_sent(c->ws->ctx);
    return c->close_code ? c->close_code : 1006;
}
