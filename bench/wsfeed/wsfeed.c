/* wsfeed.c — what the wslay glue (core/ws.c) costs per received message, without Lua,
 * sockets or the loop in the measured part.
 *
 * One connection is upgraded for real (a socketpair, the transport's own request path),
 * then a stream of masked client frames built here is handed to ws_feed in slices, as
 * conn.c's read loop hands it what read() returned. The transport's events go to stubs
 * that count messages and bytes; a run fails when a message is missing or the
 * connection failed, so every figure is for input the glue accepted whole.
 *
 * --glue frame runs the same stream through a prototype of the receive side on wslay's
 * lower-level API (wslay_frame_recv) instead of the event API: it exists here only to
 * measure what switching would save (docs/architecture.md, "wslay: the event API,
 * measured"). --utf8 times utf8_valid alone over the same payloads (what the hub's
 * re-check of a forwarded text message costs).
 *
 * The measured loops are the functions run_glue and run_utf8, so callgrind can collect
 * them alone (--toggle-collect; scripts/bench-wsfeed.sh). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "utf8.h"
#include "ws.h"

/* One pass over the stream is about this long: it stays in the caches as the bytes of a
 * read() do, and a pass always ends at a message boundary (so the context goes back to
 * ws.c's pool once per pass, as when a read ends between messages). */
#define PASS_BYTES (256 * 1024)
#define REPEATS_MAX 101

enum glue { GLUE_EVENT, GLUE_FRAME };

static struct {
    enum glue glue;
    size_t size;                 /* payload bytes per message */
    unsigned fragments;          /* frames per message */
    int binary, multibyte, utf8_only;
    size_t read;                 /* bytes per ws_feed call; 0: one message per call */
    uint64_t bytes, messages;    /* run until either is reached (whole passes) */
    int repeats;
} opt = { GLUE_EVENT, 1024, 1, 0, 0, 0, 64 * 1024, 64ull << 20, 1000000, 7 };

/* ------------------------------------------------------------------ the input */

static const char ascii_text[] = "{\"type\":\"chat\",\"room\":\"lobby\",\"text\":\"the quick brown fox jumps over the lazy dog\"} ";
/* 1-, 2-, 3- and 4-byte code points; a payload cut anywhere may end inside one, so the
 * fill below stops at the last whole code point and pads with ASCII. */
static const char multibyte_text[] = "Grüße, мир, 世界 — ok ✓ 😀 ";

struct stream {
    uint8_t *bytes;
    size_t len;
    size_t *message_end;         /* offset after each message, for --read message */
    uint64_t messages;           /* per pass */
    uint8_t *payload;            /* one message's payload, unmasked */
};

static void fill_payload(uint8_t *p, size_t n)
{
    if (opt.binary) {
        for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131 + 7);
        return;
    }
    const char *pattern = opt.multibyte ? multibyte_text : ascii_text;
    size_t plen = strlen(pattern), i = 0;
    while (i < n) {
        size_t k = n - i < plen ? n - i : plen;
        /* back off to a code point boundary: no continuation byte right after the cut */
        while (k < plen && k > 0 && (pattern[k] & 0xc0) == 0x80) k--;
        if (k == 0) {
            memset(p + i, '.', n - i);
            break;
        }
        memcpy(p + i, pattern, k);
        i += k;
    }
}

static size_t header_len(uint64_t payload_len)
{
    return 2 + (payload_len < 126 ? 0 : payload_len < 65536 ? 2 : 8) + 4;
}

/* Appends one masked client frame; the masking key changes with every frame. */
static uint8_t *put_frame(uint8_t *out, int opcode, int fin, const uint8_t *payload, size_t n,
                          uint32_t *seed)
{
    *out++ = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        *out++ = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        *out++ = 0x80 | 126;
        *out++ = (uint8_t)(n >> 8);
        *out++ = (uint8_t)n;
    } else {
        *out++ = 0x80 | 127;
        for (int i = 7; i >= 0; i--) *out++ = (uint8_t)((uint64_t)n >> (8 * i));
    }
    *seed = *seed * 1664525u + 1013904223u;
    uint8_t key[4] = { (uint8_t)(*seed >> 24), (uint8_t)(*seed >> 16), (uint8_t)(*seed >> 8),
                       (uint8_t)*seed };
    memcpy(out, key, 4);
    out += 4;
    for (size_t i = 0; i < n; i++) out[i] = payload[i] ^ key[i & 3];
    return out + n;
}

/* Frame i of a message carries payload bytes [fragment_start(i), fragment_start(i + 1)). */
static size_t fragment_start(unsigned i)
{
    return opt.size * i / opt.fragments;
}

static size_t message_wire_len(void)
{
    size_t len = 0;
    for (unsigned i = 0; i < opt.fragments; i++) {
        size_t n = fragment_start(i + 1) - fragment_start(i);
        len += header_len(n) + n;
    }
    return len;
}

static int stream_build(struct stream *s)
{
    size_t wire = message_wire_len();
    s->messages = PASS_BYTES / wire ? PASS_BYTES / wire : 1;
    s->len = wire * s->messages;
    s->bytes = malloc(s->len);
    s->message_end = malloc(s->messages * sizeof *s->message_end);
    s->payload = malloc(opt.size ? opt.size : 1);
    if (!s->bytes || !s->message_end || !s->payload) return -1;
    fill_payload(s->payload, opt.size);
    uint8_t *out = s->bytes;
    uint32_t seed = 1;
    for (uint64_t m = 0; m < s->messages; m++) {
        for (unsigned i = 0; i < opt.fragments; i++) {
            int opcode = i ? WS_CONT : opt.binary ? WS_BINARY : WS_TEXT;
            out = put_frame(out, opcode, i + 1 == opt.fragments, s->payload + fragment_start(i),
                            fragment_start(i + 1) - fragment_start(i), &seed);
        }
        s->message_end[m] = (size_t)(out - s->bytes);
    }
    return 0;
}

/* ------------------------------------------------------------------ the transport's events */

static struct {
    uint64_t messages, bytes, wrong;
    const uint8_t *expect;
} got;

static void on_admit(struct conn *c, const struct http_req *r, struct admission *a) {}
static void on_open(struct conn *c) {}
static void on_close(struct conn *c) {}
static struct frame *on_http(struct conn *c, const struct http_req *r) { return NULL; }

/* Counts; the first and last byte are compared so a misplaced payload is caught without
 * a memcmp adding per-byte work to the measured loop. */
static void on_message(struct conn *c, int opcode, const uint8_t *data, size_t len)
{
    got.messages++;
    got.bytes += len;
    if (opcode != (opt.binary ? WS_BINARY : WS_TEXT) || len != opt.size ||
        (len && (data[0] != got.expect[0] || data[len - 1] != got.expect[len - 1])))
        got.wrong++;
}

static const struct transport_events stub_events = {
    .admit = on_admit, .open = on_open, .message = on_message, .close = on_close, .http = on_http,
};

static const char upgrade_request[] =
    "GET /ws HTTP/1.1\r\nHost: bench.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/* A connection upgraded through conn.c's request path (as in spec/c/test_client.h): the
 * server end of a socketpair goes to conn_new, the request is written to the other end
 * and one loop pass answers it. The client end is returned so it stays open. */
static struct conn *open_upgraded(int *client_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return NULL;
    struct sockaddr_in peer = { .sin_family = AF_INET };
    struct conn *c = conn_new(sv[0], (struct sockaddr *)&peer, sizeof peer);
    if (!c || write(sv[1], upgrade_request, sizeof upgrade_request - 1) != sizeof upgrade_request - 1)
        return NULL;
    ev_run(EV_DEFAULT, EVRUN_NOWAIT);
    server_flush_pass();
    char answer[512];
    ssize_t n = read(sv[1], answer, sizeof answer);
    if (n < 12 || memcmp(answer, "HTTP/1.1 101", 12) != 0 || c->phase != PHASE_WS) return NULL;
    *client_fd = sv[1];
    return c;
}

/* ------------------------------------------------------------------ the wslay_frame prototype */

/* The receive side on wslay_frame_recv, far enough for this benchmark's input (masked data
 * frames, fragmented or not, no control frames, no compression): the checks wslay's event
 * API and ws.c make on data frames, ws.c's reassembly, direct delivery and per-message
 * bookkeeping, and a context taken from a pool while bytes are in flight and given back
 * at a boundary, as ws.c does (the per-message state lives with it: no allocation per
 * acquire). What differs from the event API:
 *  - UTF-8 is checked with our utf8_feed (8 ASCII bytes per step) in place of wslay's
 *    byte-at-a-time DFA;
 *  - where a message ends is known from the frames wslay_frame_recv reports (header bytes
 *    follow from payload_length: wslay refuses a length not in its shortest form), so
 *    nothing re-reads the headers as ws_stream_track does;
 *  - no event-API bookkeeping per frame (iocb reset, imsg state, callbacks).
 * What stays: wslay_frame_recv also reads through its recv callback into its own 4 KiB
 * buffer and unmasks there, so the copy into that buffer, the 4 KiB chunks and the
 * reassembly copy of a payload over ~4 KiB are the same as with the event API. */
struct frame_glue {
    wslay_frame_context_ptr ctx;   /* while bytes are in flight, else in frame_pool */
    struct conn *conn;
    double started;                /* set as ws.c sets it (message_timeout reads it) */
    const uint8_t *in;
    size_t in_len;
    uint64_t fed, taken;         /* stream bytes given to wslay / accounted for in frames */
    uint64_t frame_left;         /* payload bytes of the current frame still to come */
    uint8_t in_frame, frame_fin, msg_opcode, in_message, direct_ok;
    uint32_t utf8;
    uint64_t msg_total;
    uint8_t *msg;
    size_t msg_len, msg_cap;
    const uint8_t *direct;
    size_t direct_len;
};

/* ws.c's pool, one entry deep: one connection here. wslay fixes user_data at creation,
 * so a real port points it at the pool entry as ws.c does. */
static wslay_frame_context_ptr frame_pool;

static ssize_t frame_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
    struct frame_glue *g = user;
    if (g->in_len == 0) return -1;              /* wslay_frame_recv: WSLAY_ERR_WANT_READ */
    size_t n = len < g->in_len ? len : g->in_len;
    memcpy(buf, g->in, n);
    g->in += n;
    g->in_len -= n;
    return (ssize_t)n;
}

/* ws.c's msg_append (its limits.reassembly_bytes test, two compares per growth, left out).
 * Out of line so callgrind can name its copies (bench/wsfeed/shares.lua): one call per
 * chunk of a message that is not delivered whole, at most one per 4 KiB. */
__attribute__((noinline)) static int frame_glue_append(struct frame_glue *g, const uint8_t *p, size_t n)
{
    if (n == 0) return 0;
    if (g->msg_len + n > g->msg_cap) {
        size_t cap = g->msg_cap ? g->msg_cap : 4096;
        while (cap < g->msg_len + n) cap *= 2;
        uint8_t *m = realloc(g->msg, cap);
        if (!m) return -1;
        g->msg = m;
        g->msg_cap = cap;
    }
    memcpy(g->msg + g->msg_len, p, n);
    g->msg_len += n;
    return 0;
}

/* A frame's first chunk: the checks wslay_event_recv and frame_start_cb make. */
static int frame_glue_start(struct frame_glue *g, const struct wslay_frame_iocb *io)
{
    if (!io->mask || io->rsv) return -1;                        /* 1002 */
    if (io->opcode == WS_TEXT || io->opcode == WS_BINARY) {
        if (g->in_message) return -1;                           /* 1002 */
        g->msg_opcode = io->opcode;
        g->msg_len = 0;
        g->msg_total = 0;
        g->utf8 = UTF8_OK;
        g->in_message = 1;
    } else if (io->opcode != WS_CONT || !g->in_message) {
        return -1;         /* control frames are not in this input; a port takes ws.c's path */
    }
    g->msg_total += io->payload_length;
    if (g->msg_total > config.max_message_size) return -1;     /* 1009 */
    g->in_frame = 1;
    g->frame_fin = io->fin;
    g->frame_left = io->payload_length;
    g->direct_ok = io->opcode != WS_CONT && io->fin;
    g->taken += header_len(io->payload_length);
    return 0;
}

static const struct wslay_frame_callbacks frame_cbs = { .recv_callback = frame_recv_cb };

static int frame_glue_feed(struct frame_glue *g, const uint8_t *buf, size_t len)
{
    struct conn *c = g->conn;
    if (c->failed || c->close_queued) return 0;
    if (!g->ctx) {
        g->ctx = frame_pool;
        frame_pool = NULL;
        if (!g->ctx && wslay_frame_context_init(&g->ctx, &frame_cbs, g) != 0) return -1;
        g->started = ev_now(EV_DEFAULT);
    }
    g->in = buf;
    g->in_len = len;
    g->fed += len;
    for (;;) {
        struct wslay_frame_iocb io;
        ssize_t r = wslay_frame_recv(g->ctx, &io);
        if (r == WSLAY_ERR_WANT_READ) break;
        if (r < 0) return -1;
        if (!g->in_frame && frame_glue_start(g, &io) != 0) return -1;
        if (g->msg_opcode == WS_TEXT && (g->utf8 = utf8_feed(g->utf8, io.data, io.data_length)) == UTF8_BAD)
            return -1;                                          /* 1007 */
        if (g->direct_ok && io.data_length == g->frame_left) {
            g->direct = io.data;
            g->direct_len = io.data_length;
        } else if (frame_glue_append(g, io.data, io.data_length) != 0) {
            return -1;
        }
        g->direct_ok = 0;
        g->frame_left -= io.data_length;
        g->taken += io.data_length;
        if (g->frame_left) continue;
        g->in_frame = 0;
        if (!g->frame_fin) continue;
        if (g->msg_opcode == WS_TEXT && g->utf8 != UTF8_OK) return -1;  /* 1007 */
        g->in_message = 0;
        const uint8_t *p = g->direct ? g->direct : g->msg;
        size_t n = g->direct ? g->direct_len : g->msg_len;
        g->direct = NULL;
        if (c->killed || c->close_queued || c->failed) continue;
        metrics.messages_received[g->msg_opcode == WS_BINARY]++;
        c->last_active = ev_now(EV_DEFAULT);
        conn_deliver(c, g->msg_opcode, p ? p : (const uint8_t *)"", n);
    }
    /* at a boundary wslay holds no byte: the context goes back to the pool */
    if (g->fed == g->taken && !g->in_message) {
        free(g->msg);
        g->msg = NULL;
        g->msg_len = g->msg_cap = 0;
        frame_pool = g->ctx;
        g->ctx = NULL;
    }
    return 0;
}

/* ------------------------------------------------------------------ the measured loops */

typedef int feed_fn(void *target, const uint8_t *buf, size_t len);

static int feed_event(void *c, const uint8_t *buf, size_t len) { return ws_feed(c, buf, len); }
static int feed_frame(void *g, const uint8_t *buf, size_t len) { return frame_glue_feed(g, buf, len); }

/* Feeds the stream `passes` times in slices of opt.read bytes (or one message each). */
__attribute__((noinline)) static int run_glue(feed_fn *feed, void *target, const struct stream *s,
                                              uint64_t passes)
{
    for (uint64_t p = 0; p < passes; p++) {
        size_t off = 0;
        for (uint64_t m = 0; off < s->len; m++) {
            size_t end = opt.read ? (s->len - off < opt.read ? s->len : off + opt.read) : s->message_end[m];
            if (feed(target, s->bytes + off, end - off) != 0) return -1;
            off = end;
        }
    }
    return 0;
}

__attribute__((noinline)) static uint64_t run_utf8(const uint8_t *p, size_t n, uint64_t calls)
{
    uint64_t valid = 0;
    for (uint64_t i = 0; i < calls; i++) valid += (uint64_t)utf8_valid(p, n);
    return valid;
}

static double thread_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, uint64_t messages, double *ns, int n)
{
    qsort(ns, (size_t)n, sizeof *ns, by_value);
    double median = ns[n / 2];
    printf("%s size=%zu fragments=%u opcode=%s messages=%llu ns_per_msg=%.1f ns_min=%.1f ns_max=%.1f MB_s=%.1f\n",
           what, opt.size, opt.fragments, opt.binary ? "binary" : opt.multibyte ? "text-multibyte" : "text",
           (unsigned long long)messages, median, ns[0], ns[n - 1],
           median > 0 ? (double)opt.size / median * 1e3 : 0.0);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
"usage: wsfeed [options]\n"
"  --glue event|frame  core/ws.c (wslay's event API) or the wslay_frame prototype [event]\n"
"  --size BYTES        payload bytes per message [1024]\n"
"  --fragments N       frames per message [1]\n"
"  --binary            binary messages (default: text)\n"
"  --multibyte         text with 2-, 3- and 4-byte code points (default: ASCII)\n"
"  --read BYTES|message  bytes per ws_feed call, or one whole message per call [65536]\n"
"  --bytes N           stream bytes per repeat, in whole passes of ~256 KiB [67108864]\n"
"  --messages N        at most this many messages per repeat [1000000]\n"
"  --repeat R          repeats; the median and the extremes are reported [7]\n"
"  --utf8              time utf8_valid alone over one message's payload instead\n"
"Prints one line: size, fragments, opcode, messages per repeat, ns per message (median,\n"
"min, max over the repeats, thread CPU time) and payload MB/s at the median.\n");
}

static int parse(int argc, char **argv)
{
    static const struct option longs[] = {
        { "glue", required_argument, NULL, 'g' }, { "size", required_argument, NULL, 's' },
        { "fragments", required_argument, NULL, 'f' }, { "binary", no_argument, NULL, 'b' },
        { "multibyte", no_argument, NULL, 'm' }, { "read", required_argument, NULL, 'r' },
        { "bytes", required_argument, NULL, 'B' }, { "messages", required_argument, NULL, 'M' },
        { "repeat", required_argument, NULL, 'R' }, { "utf8", no_argument, NULL, 'u' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'g':
            if (strcmp(optarg, "event") && strcmp(optarg, "frame")) return -1;
            opt.glue = strcmp(optarg, "event") ? GLUE_FRAME : GLUE_EVENT;
            break;
        case 's': opt.size = strtoull(optarg, NULL, 10); break;
        case 'f': opt.fragments = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'b': opt.binary = 1; break;
        case 'm': opt.multibyte = 1; break;
        case 'r': opt.read = strcmp(optarg, "message") ? strtoull(optarg, NULL, 10) : 0; break;
        case 'B': opt.bytes = strtoull(optarg, NULL, 10); break;
        case 'M': opt.messages = strtoull(optarg, NULL, 10); break;
        case 'R': opt.repeats = atoi(optarg); break;
        case 'u': opt.utf8_only = 1; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind != argc || opt.fragments < 1 || opt.repeats < 1 || opt.repeats > REPEATS_MAX ||
        opt.messages < 1 || opt.size > (1u << 30) || (opt.utf8_only && opt.binary))
        return -1;
    return 0;
}

static int bench_utf8(const struct stream *s)
{
    uint64_t calls = opt.bytes / (opt.size ? opt.size : 1);
    if (calls > opt.messages) calls = opt.messages;
    if (calls == 0) calls = 1;
    double ns[REPEATS_MAX];
    for (int r = 0; r < opt.repeats; r++) {
        double t0 = thread_seconds();
        if (run_utf8(s->payload, opt.size, calls) != calls) {
            fprintf(stderr, "wsfeed: the payload is not valid UTF-8\n");
            return 1;
        }
        ns[r] = (thread_seconds() - t0) * 1e9 / (double)calls;
    }
    report("utf8_valid", calls, ns, opt.repeats);
    return 0;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (!ev_default_loop(0)) return 1;
    log_min_level = LOG_ERROR;
    config_defaults(&config);
    conn_init(&stub_events, sizeof(struct conn));
    struct stream s;
    if (stream_build(&s) != 0) return 1;
    if (opt.utf8_only) return bench_utf8(&s);

    int client_fd;
    struct conn *c = open_upgraded(&client_fd);
    if (!c) {
        fprintf(stderr, "wsfeed: the upgrade failed\n");
        return 1;
    }
    struct frame_glue g = { .conn = c };

    uint64_t passes = (opt.bytes + s.len - 1) / s.len;
    if (passes * s.messages > opt.messages) passes = opt.messages / s.messages;
    if (passes == 0) passes = 1;
    uint64_t messages = passes * s.messages;
    got.expect = s.payload;
    double ns[REPEATS_MAX];
    for (int r = 0; r < opt.repeats; r++) {
        got.messages = got.bytes = 0;
        double t0 = thread_seconds();
        int rc = opt.glue == GLUE_EVENT ? run_glue(feed_event, c, &s, passes) : run_glue(feed_frame, &g, &s, passes);
        ns[r] = (thread_seconds() - t0) * 1e9 / (double)messages;
        if (rc != 0 || got.messages != messages || got.bytes != messages * opt.size || got.wrong ||
            c->failed || c->killed) {
            fprintf(stderr, "wsfeed: %llu of %llu messages delivered (%llu wrong), connection %s\n",
                    (unsigned long long)got.messages, (unsigned long long)messages,
                    (unsigned long long)got.wrong, c->failed || c->killed ? "failed" : "open");
            return 1;
        }
    }
    char what[64];
    snprintf(what, sizeof what, "glue=%s read=%zu", opt.glue == GLUE_EVENT ? "event" : "frame", opt.read);
    report(what, messages, ns, opt.repeats);
    if (frame_pool) wslay_frame_context_free(frame_pool);
    close(client_fd);
    return 0;
}
