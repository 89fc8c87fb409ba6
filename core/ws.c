#include "ws.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "config.h"
#include "deflate.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "utf8.h"

/* A wslay event context costs about 12 KiB (two 4 KiB frame buffers), far more than a
 * connection may cost at rest. So a connection holds one only while bytes of a frame or
 * message are in flight: when a read ends exactly at a message boundary (ws_stream
 * tracks frame boundaries from the headers) and wslay has nothing to send, the context
 * goes back to a pool and the reassembly state is freed. A context at a boundary is in
 * the same state as a fresh one; contexts that saw a close or an error are never pooled.
 * wslay fixes user_data at creation, so it points at the pool entry, which names the
 * connection it currently serves. */
struct ws_ctx {
    wslay_event_context_ptr ctx;
    struct conn *conn;
    struct ws_ctx *next_free;
};

#define WS_POOL_MAX 64
static struct ws_ctx *pool;
static int pool_size;

/* Per-message state; exists only while a message is being received. */
struct ws {
    struct ws_ctx *wc;
    uint8_t *msg;                 /* reassembly of multi-frame / multi-chunk messages */
    size_t msg_len, msg_cap;
    const uint8_t *direct;        /* whole single-frame payload, valid until msg_recv */
    size_t direct_len;
    uint8_t msg_opcode;
    uint8_t compressed;           /* RSV1 on the message's first frame (permessage-deflate) */
    uint8_t frame_opcode;
    uint8_t frame_fin;
    uint64_t frame_payload_len;
    size_t frame_received;
    uint64_t msg_total;           /* payload bytes announced for the current message */
    double started;               /* when its first bytes arrived (message_timeout) */
};

/* Bytes of every reassembly buffer (msg_cap of each struct ws), bounded by
 * limits.reassembly_bytes: many peers each holding a partial message just under
 * max_message_size must not add up to all memory. */
static size_t reassembly_bytes;

/* The bytes being fed: recv_cb serves them to wslay during ws_feed only. */
static const uint8_t *feed_in;
static size_t feed_len;

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    if (feed_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < feed_len ? len : feed_len;
    memcpy(buf, feed_in, n);
    feed_in += n;
    feed_len -= n;
    return (ssize_t)n;
}

/* wslay's control frames (pongs, its close echo) go to the connection's ctrl buffer. When
 * that is full the peer sends pings faster than it reads the pongs: it is dropped. The
 * context, whose writing wslay has now disabled, is never pooled (feed_wslay). */
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct conn *c = ((struct ws_ctx *)user)->conn;
    if (conn_send_ctrl(c, data, len) != 0) {
        static struct log_limit lim;
        log_limited(&lim, LOG_INFO, c->id, "control frames pile up unread (%u bytes): dropping the client",
                    conn_ctrl_len(c));
        metrics.errors[ERR_PROTOCOL]++;
        conn_kill(c, 1008);
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

/* Encodes a close frame ourselves: once it is queued nothing else may follow, so wslay's
 * own queue (an echo, pongs) is abandoned from then on (see pull_ctrl). */
static void queue_close(struct conn *c, int code, const char *reason, size_t reason_len)
{
    if (c->close_queued) return;
    if (reason_len > 123) reason_len = 123;
    /* 1005 means "no status code": answer a close that carried none with an empty one */
    uint8_t f[2 + 2 + 123] = { 0x80 | WS_CLOSE, (uint8_t)(code == 1005 ? 0 : 2 + reason_len),
                               (uint8_t)(code >> 8), (uint8_t)code };
    if (code == 1005) reason_len = 0;
    if (reason_len) memcpy(f + 4, reason, reason_len);
    if (!c->close_code) c->close_code = (uint16_t)code;
    c->close_queued = 1;
    conn_unwritable_events++;
    if (conn_send_ctrl(c, f, code == 1005 ? 2 : 4 + reason_len) != 0) conn_kill(c, code);
}

/* Fails the connection with code: wslay stops reading, and our close frame goes out
 * behind the replies already queued (a valid message read just before the bad bytes keeps
 * its answer). Used where wslay does not check with no_buffering (total size of a
 * fragmented message) or answers without a status code (bad control frames, a 1-byte
 * close payload), and for UTF-8 and inflate failures. */
static void fail(struct conn *c, uint16_t code)
{
    if (c->ws) wslay_event_shutdown_read(c->ws->wc->ctx);
    if (c->failed || c->close_queued) return;
    c->failed = 1;
    metrics.errors[ERR_PROTOCOL]++;
    if (c->want_close) return;              /* a close already waits behind the data */
    c->want_close = 1;
    conn_unwritable_events++;
    c->close_code = code;
    conn_mark_dirty(c);
}

static void frame_start_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *a, void *user)
{
    struct conn *c = ((struct ws_ctx *)user)->conn;
    struct ws *w = c->ws;
    w->frame_opcode = a->opcode;
    w->frame_fin = a->fin;
    w->frame_payload_len = a->payload_length;
    w->frame_received = 0;
    if (a->opcode == WS_TEXT || a->opcode == WS_BINARY) {
        w->msg_opcode = a->opcode;
        w->compressed = (a->rsv & WSLAY_RSV1_BIT) != 0;
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

/* 0, -1 out of memory, -2 past limits.reassembly_bytes. */
static int msg_append(struct ws *w, const uint8_t *p, size_t n)
{
    if (n == 0) return 0;   /* an empty fragment: msg may still be NULL (no offset on NULL) */
    if (w->msg_len + n > w->msg_cap) {
        size_t cap = w->msg_cap ? w->msg_cap : 4096;
        while (cap < w->msg_len + n) cap *= 2;
        if (config.limit_reassembly_bytes &&
            reassembly_bytes - w->msg_cap + cap > config.limit_reassembly_bytes)
            return -2;
        uint8_t *m = realloc(w->msg, cap);
        if (!m) return -1;
        reassembly_bytes = reassembly_bytes - w->msg_cap + cap;
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
    struct conn *c = ((struct ws_ctx *)user)->conn;
    struct ws *w = c->ws;
    uint8_t op = w->frame_opcode;
    if (c->close_queued || c->failed) return;
    if (op != WS_TEXT && op != WS_BINARY && op != WS_CONT) return;
    if (op != WS_CONT && w->frame_fin && w->frame_received == 0 &&
        a->data_length == w->frame_payload_len) {
        w->direct = a->data;
        w->direct_len = a->data_length;
    } else {
        int rc = msg_append(w, a->data, a->data_length);
        if (rc == -2) {
            static struct log_limit lim;
            log_limited(&lim, LOG_WARN, c->id, "messages being reassembled hold %zu bytes "
                        "(limits.reassembly_bytes): closing with 1013", reassembly_bytes);
            fail(c, 1013);
        } else if (rc != 0) {
            log_error(c->id, "out of memory reassembling a %zu-byte message", w->msg_len);
            conn_kill(c, 1011);
        }
    }
    w->frame_received += a->data_length;
}

static void msg_recv_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                        void *user)
{
    struct conn *c = ((struct ws_ctx *)user)->conn;
    struct ws *w = c->ws;
    switch (a->opcode) {
    case WS_TEXT:
    case WS_BINARY: {
        const uint8_t *p = w->direct ? w->direct : w->msg;
        size_t n = w->direct ? w->direct_len : w->msg_len;
        if (!p) p = (const uint8_t *)"";   /* empty fragments only: Lua takes NULL for nil */
        w->direct = NULL;
        w->msg_len = 0;
        if (c->killed || c->close_queued || c->failed) return;
        if (w->compressed) {
            int z = deflate_inflate(p, n, config.max_message_size, &p, &n);
            if (z != 0) {
                fail(c, z == -1 ? 1009 : 1007);
                return;
            }
            /* wslay leaves UTF-8 of compressed text to us: it saw only deflate bytes */
            if (a->opcode == WS_TEXT && !utf8_valid(p, n)) {
                fail(c, 1007);
                return;
            }
        }
        metrics.messages_received[a->opcode == WS_BINARY]++;
        c->last_active = ev_now(EV_DEFAULT);
        conn_deliver(c, a->opcode, p, n);
        break;
    }
    case WS_PONG:
        c->last_pong = ev_now(EV_DEFAULT);
        break;
    case WS_CLOSE:
        /* wslay 1.1.1 skips the first two bytes of every chunk of a close payload, not
         * of the payload, when it checks the reason's UTF-8: a close split across reads
         * passed with any reason, and its echo would carry it. */
        if (a->msg_length > 2 && !utf8_valid(a->msg + 2, a->msg_length - 2)) {
            fail(c, 1007);
            return;
        }
        if (c->close_queued || c->want_close) break;
        /* Echo the close after the data already queued for this client (RFC 6455 5.5.1
         * lets an endpoint finish sending first): the same path as a server close. */
        c->close_code = a->status_code ? a->status_code : 1005;
        free(c->close_reason);
        c->close_reason = a->msg_length > 2 ? strndup((const char *)a->msg + 2, a->msg_length - 2) : NULL;
        c->want_close = 1;
        conn_unwritable_events++;
        conn_mark_dirty(c);
        break;
    default:
        break;
    }
}

static struct ws_ctx *ctx_acquire(struct conn *c)
{
    struct ws_ctx *wc = pool;
    if (wc) {
        pool = wc->next_free;
        pool_size--;
    } else {
        wc = calloc(1, sizeof *wc);
        if (!wc) return NULL;
        struct wslay_event_callbacks cbs = {
            .recv_callback = recv_cb,
            .send_callback = send_cb,
            .on_frame_recv_start_callback = frame_start_cb,
            .on_frame_recv_chunk_callback = frame_chunk_cb,
            .on_msg_recv_callback = msg_recv_cb,
        };
        if (wslay_event_context_server_init(&wc->ctx, &cbs, wc) != 0) {
            free(wc);
            return NULL;
        }
        wslay_event_config_set_no_buffering(wc->ctx, 1);
    }
    wslay_event_config_set_allowed_rsv_bits(wc->ctx, c->deflate ? WSLAY_RSV1_BIT : WSLAY_RSV_NONE);
    /* max_message_size may have changed with a reload since this context was made. wslay
     * applies its limit to control frames too, so it never goes below a control frame's
     * 125 bytes; data messages are held to max_message_size by frame_start_cb. */
    wslay_event_config_set_max_recv_msg_length(wc->ctx, config.max_message_size < 125 ? 125 : config.max_message_size);
    wc->conn = c;
    return wc;
}

static void ctx_release(struct ws_ctx *wc, int reusable)
{
    if (reusable && pool_size < WS_POOL_MAX) {
        wc->conn = NULL;
        wc->next_free = pool;
        pool = wc;
        pool_size++;
        return;
    }
    wslay_event_context_free(wc->ctx);
    free(wc);
}

static void ws_release(struct conn *c, int reusable)
{
    struct ws *w = c->ws;
    if (!w) return;
    ctx_release(w->wc, reusable);
    reassembly_bytes -= w->msg_cap;
    free(w->msg);
    free(w);
    c->ws = NULL;
}

void ws_free(struct conn *c)
{
    ws_release(c, 0);
    if (c->stream) free(c->stream->held);
    free(c->stream);
    c->stream = NULL;
}

/* The close frame wslay wrote into ctrl from offset `from` on (it is the last frame wslay
 * writes), taken back out; returns its code (1002 when it carried none: RFC 6455 wants one
 * for a protocol error). Server frames are unmasked and control frames short, so the
 * frames there are walked from their 2-byte headers. */
static uint16_t take_back_close(struct conn *c, uint32_t from)
{
    uint32_t at = from;
    while (at + 2 <= conn_ctrl_len(c)) {
        uint8_t *f = c->ctrl->data + at;
        uint32_t len = f[1] & 0x7f;
        if ((f[0] & 0x0f) == WS_CLOSE) {
            uint16_t code = len >= 2 && at + 4 <= c->ctrl->len ? (uint16_t)(f[2] << 8 | f[3]) : 1002;
            c->ctrl->len = at;
            return code;
        }
        at += 2 + len;
    }
    return 1002;
}

/* Moves whatever control frames wslay queued (pongs) into c->ctrl. */
static void pull_ctrl(struct conn *c)
{
    wslay_event_context_ptr ctx = c->ws->wc->ctx;
    /* Our close is out, or one of ours waits behind queued data: nothing wslay queued
     * may go (after a close it would only hold its own close echo). */
    if (c->close_queued || c->want_close) return;
    uint32_t before = conn_ctrl_len(c);
    if (wslay_event_want_write(ctx)) wslay_event_send(ctx);
    /* wslay failed the connection itself, on a frame it refused: its close would go out
     * ahead of the replies already queued; it goes behind them, as every failure does. */
    if (wslay_event_get_close_sent(ctx)) fail(c, take_back_close(c, before));
}

static int feed_wslay(struct conn *c, const struct ws_stream *s, const uint8_t *buf, size_t len);

/* After a read: c keeps a tracker of its own only while the stream is inside a frame or a
 * message or holds part of a close frame; between messages (an idle client) it holds none. */
static int keep_stream(struct conn *c, const struct ws_stream *s)
{
    int rest = !ws_stream_at_boundary(s) || s->held;
    if (s != c->stream) {
        if (!rest) return 0;
        if (!(c->stream = malloc(sizeof *c->stream))) {
            free(s->held);
            return -1;
        }
        *c->stream = *s;
    } else if (!rest) {
        free(c->stream);
        c->stream = NULL;
    }
    return 0;
}

/* wslay 1.1.1 checks a close reason's UTF-8 per chunk, skipping the first two bytes of
 * every chunk: a close frame whose payload comes in two chunks is misjudged either way.
 * So a close frame always reaches wslay alone and whole: the bytes before it are fed
 * first (wslay consumes them, its buffer is then empty), an incomplete one waits in
 * stream.held for the rest. */
int ws_feed(struct conn *c, const uint8_t *buf, size_t len)
{
    struct ws_stream fresh = { 0 }, *s = c->stream ? c->stream : &fresh;
    uint8_t *joined = NULL;
    if (s->held) {
        joined = malloc(s->held_len + len);
        if (!joined) return -1;
        memcpy(joined, s->held, s->held_len);
        memcpy(joined + s->held_len, buf, len);
        len += s->held_len;
        buf = joined;
        free(s->held);
        s->held = NULL;
        s->held_len = 0;
    }
    int r = 0;
    size_t off = 0;
    while (off < len && r == 0) {
        size_t n = ws_stream_track(s, buf + off, len - off);
        if (n) {
            r = feed_wslay(c, s, buf + off, n);
            off += n;
            continue;
        }
        n = ws_stream_close_length(buf + off, len - off);
        if (n == 0) {
            if (!(s->held = malloc(len - off))) {
                r = -1;
                break;
            }
            memcpy(s->held, buf + off, len - off);
            s->held_len = (uint8_t)(len - off);     /* < 2 + 4 + 125 */
            break;
        }
        s->payload_left = 0;                      /* a control frame ends where it began */
        r = feed_wslay(c, s, buf + off, n);
        off += n;
    }
    free(joined);
    return keep_stream(c, s) != 0 ? -1 : r;
}

static int feed_wslay(struct conn *c, const struct ws_stream *s, const uint8_t *buf, size_t len)
{
    if (c->failed || (c->close_queued && !c->ws)) return 0;
    if (!c->ws) {
        struct ws *w = calloc(1, sizeof *w);
        if (!w || !(w->wc = ctx_acquire(c))) {
            free(w);
            return -1;
        }
        w->started = ev_now(EV_DEFAULT);
        c->ws = w;
    }
    feed_in = buf;
    feed_len = len;
    int r = wslay_event_recv(c->ws->wc->ctx);
    feed_in = NULL;
    feed_len = 0;
    /* wslay_frame_recv rejects bad control frames itself and wslay would then queue a
     * close without a status code; RFC 6455 asks for 1002. */
    if (r != 0 && !c->killed) fail(c, 1002);
    if (c->killed) return 0;
    pull_ctrl(c);
    if (r != 0) return 0;
    wslay_event_context_ptr ctx = c->ws->wc->ctx;
    if (!c->close_queued && !c->failed && ws_stream_at_boundary(s) && wslay_event_get_read_enabled(ctx) &&
        wslay_event_get_write_enabled(ctx) && !wslay_event_want_write(ctx))
        ws_release(c, 1);
    return 0;
}

void ws_queue_close(struct conn *c, int code, const char *reason, size_t reason_len)
{
    queue_close(c, code, reason, reason_len);
    conn_mark_dirty(c);
}

void ws_queue_ping(struct conn *c)
{
    static const uint8_t ping[2] = { 0x80 | WS_PING, 0 };
    if (!c->close_queued) conn_send_ctrl(c, ping, sizeof ping);
}

int ws_read_enabled(const struct conn *c)
{
    return !c->ws || wslay_event_get_read_enabled(c->ws->wc->ctx);
}


double ws_message_deadline(const struct conn *c)
{
    if (!c->ws || c->failed || c->close_queued || config.message_timeout <= 0) return 0;
    return c->ws->started + config.message_timeout;
}

void ws_fail(struct conn *c, int code)
{
    fail(c, (uint16_t)code);
}
