/* loadgen_test — the load generator's frame parser, message stamps, latency
 * histogram and room-protocol frame reader (bench/loadgen): a wrong parser or
 * percentile would make every benchmark number wrong, and a wrong protocol
 * reader would pass or fail the storm's exactly-once check for nothing. Frames
 * are fed in every split, as wslay's tests do. Also which process holds a
 * connection's far end (--kill-one picks its victim by it). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "hist.h"
#include "payload.h"
#include "pframe.h"
#include "procstat.h"
#include "wsframe.h"

struct seen {
    int messages, pings, closes;
    uint64_t lengths[8];
    uint8_t heads[8][8];
    int opcodes[8];
};

static int on_message(void *ud, int opcode, const uint8_t *head, size_t head_len, uint64_t len)
{
    struct seen *s = ud;

    if (s->messages < 8) {
        s->lengths[s->messages] = len;
        s->opcodes[s->messages] = opcode;
        memcpy(s->heads[s->messages], head, head_len < 8 ? head_len : 8);
    }
    s->messages++;
    return 0;
}

static int on_control(void *ud, int opcode, const uint8_t *payload, size_t len)
{
    struct seen *s = ud;

    if (opcode == WSFRAME_OP_PING)
        s->pings++;
    if (opcode == WSFRAME_OP_CLOSE)
        s->closes++;
    return 0;
}

static const struct wsframe_handler handler = { on_message, on_control };

/* The server frames below, written out literally:
 *   text "Hello"; ping "hi"; binary of 300 x 'b' (16-bit length);
 *   text "ab" in two fragments with a ping between them; close 1000. */
static size_t put(uint8_t *out, size_t at, const uint8_t *bytes, size_t len)
{
    memcpy(out + at, bytes, len);
    return at + len;
}

static size_t build_stream(uint8_t *out)
{
    size_t n = 0;
    static const uint8_t text[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
    static const uint8_t ping[] = { 0x89, 0x02, 'h', 'i' };
    static const uint8_t bin_head[] = { 0x82, 0x7e, 0x01, 0x2c };
    static const uint8_t frag1[] = { 0x01, 0x01, 'a' };
    static const uint8_t frag2[] = { 0x80, 0x01, 'b' };
    static const uint8_t close[] = { 0x88, 0x02, 0x03, 0xe8 };

    n = put(out, n, text, sizeof(text));
    n = put(out, n, ping, sizeof(ping));
    n = put(out, n, bin_head, sizeof(bin_head));
    memset(out + n, 'b', 300);
    n += 300;
    n = put(out, n, frag1, sizeof(frag1));
    n = put(out, n, ping, sizeof(ping));
    n = put(out, n, frag2, sizeof(frag2));
    return put(out, n, close, sizeof(close));
}

/* Whether the parser reported exactly the messages and control frames of
 * build_stream, in order. */
static int seen_stream(const struct seen *s)
{
    return s->messages == 3 && s->pings == 2 && s->closes == 1 &&
           s->opcodes[0] == WSFRAME_OP_TEXT && s->lengths[0] == 5 &&
           memcmp(s->heads[0], "Hello", 5) == 0 &&
           s->opcodes[1] == WSFRAME_OP_BINARY && s->lengths[1] == 300 && s->heads[1][0] == 'b' &&
           s->opcodes[2] == WSFRAME_OP_TEXT && s->lengths[2] == 2 &&
           memcmp(s->heads[2], "ab", 2) == 0;
}

static void test_parser_splits(void)
{
    uint8_t stream[512];
    size_t len = build_stream(stream);
    struct wsframe_parser p;
    struct seen s;

    /* Whole (split 0 and len), then every split point, then byte by byte. */
    for (size_t split = 0; split <= len; split++) {
        memset(&s, 0, sizeof(s));
        wsframe_parser_init(&p);
        int first = wsframe_parse(&p, stream, split, &handler, &s);
        int second = wsframe_parse(&p, stream + split, len - split, &handler, &s);
        CHECK(first == 0 && second == 0 && seen_stream(&s),
              "stream split at byte %zu of %zu: 3 messages, 2 pings, 1 close", split, len);
    }
    memset(&s, 0, sizeof(s));
    wsframe_parser_init(&p);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++)
        rc = wsframe_parse(&p, stream + i, 1, &handler, &s);
    CHECK(rc == 0 && seen_stream(&s), "stream fed byte by byte: 3 messages, 2 pings, 1 close");
}

static void test_parser_errors(void)
{
    static const uint8_t masked[] = { 0x81, 0x81, 1, 2, 3, 4, 'x' };
    static const uint8_t long_ping[] = { 0x89, 0x7e, 0x00, 0x80 };
    static const uint8_t lone_cont[] = { 0x80, 0x00 };
    struct wsframe_parser p;
    struct seen s = { 0 };

    wsframe_parser_init(&p);
    CHECK(wsframe_parse(&p, masked, sizeof(masked), &handler, &s) == WSFRAME_ERR_MASKED,
          "a masked server frame is refused");
    wsframe_parser_init(&p);
    CHECK(wsframe_parse(&p, long_ping, sizeof(long_ping), &handler, &s) == WSFRAME_ERR_CONTROL,
          "a 128-byte ping is refused");
    wsframe_parser_init(&p);
    CHECK(wsframe_parse(&p, lone_cont, sizeof(lone_cont), &handler, &s) ==
              WSFRAME_ERR_CONTINUATION,
          "a continuation without a message is refused");
}

static void test_encode_masked(void)
{
    /* RFC 6455 §5.7: a masked "Hello" with key 37 fa 21 3d. */
    static const uint8_t expect[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                      0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    uint8_t out[32];
    uint32_t key;

    memcpy(&key, expect + 2, 4);
    CHECK(wsframe_encode_masked(out, WSFRAME_OP_TEXT, (const uint8_t *)"Hello", 5, key) ==
              sizeof(expect) && memcmp(out, expect, sizeof(expect)) == 0,
          "masked \"Hello\" is the frame of RFC 6455 section 5.7");
}

static void test_payload(void)
{
    struct payload_template t;
    uint8_t msg[256];
    uint64_t ns;
    uint32_t seq, src;

    CHECK(payload_template_init(&t, NULL, 64) == 0 && t.size == 64,
          "a plain 64-byte message is 64 bytes");
    payload_write(&t, msg, 0x0123456789abcdefULL, 42, 7);
    CHECK(payload_find(msg, t.size, &ns, &seq, &src) == 0 && ns == 0x0123456789abcdefULL &&
              seq == 42 && src == 7,
          "the stamp of a plain message decodes to its time, sequence and source");
    payload_template_free(&t);

    CHECK(payload_template_init(&t, "{\"text\":\"%s\"}", 10) == 0 &&
              t.size == 11 + PAYLOAD_STAMP_LEN,
          "a template smaller than the stamp grows to template + stamp");
    payload_write(&t, msg, 5, 6, 8);
    CHECK(memcmp(msg, "{\"text\":\"@LG", 12) == 0 && memcmp(msg + t.size - 2, "\"}", 2) == 0,
          "the stamp goes where the template's %%s was");
    CHECK(payload_find(msg, t.size, &ns, &seq, &src) == 0 && ns == 5 && seq == 6 && src == 8,
          "a stamp inside JSON is found and decoded");
    CHECK(payload_find(msg, t.size - 3, &ns, &seq, &src) == -1,
          "a stamp cut short is not found");
    size_t decoded = 0;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        payload_write(&t, msg, x, (uint32_t)(x >> 7), (uint32_t)(x >> 29));
        decoded += payload_find(msg, t.size, &ns, &seq, &src) == 0 && ns == x &&
                   seq == (uint32_t)(x >> 7) && src == (uint32_t)(x >> 29);
    }
    CHECK(decoded == 1000, "1,000 stamps of pseudo-random values decode to what was written");
    size_t refused = 0;
    for (size_t i = 3; i < PAYLOAD_STAMP_LEN; i++) {
        uint8_t bad[256];
        memcpy(bad, msg, t.size);
        bad[9 + i] = (uint8_t)"gG:/ \xff"[i % 6];
        refused += payload_find(bad, t.size, &ns, &seq, &src) == -1;
    }
    CHECK(refused == PAYLOAD_STAMP_LEN - 3,
          "a stamp with any digit that is not lowercase hex is refused");
    payload_template_free(&t);
    CHECK(payload_template_init(&t, "no placeholder", 64) == -1,
          "a template without %%s is refused");
}

/* A phase's percentiles from two snapshots of one cumulative histogram: 1,000 fast
 * recordings (1 us) before, 100 slow ones (50 ms) after. */
static void test_hist_subtract(void)
{
    static struct hist whole, before;
    hist_init(&whole);
    for (int i = 0; i < 1000; i++)
        hist_record(&whole, 1000);
    before = whole;
    for (int i = 0; i < 100; i++)
        hist_record(&whole, 50000000);
    CHECK(hist_quantile(&whole, 0.5) < 2000, "the whole's median is a fast one");
    hist_subtract(&whole, &before);
    CHECK(whole.count == 100, "only the later recordings are left");
    uint64_t p50 = hist_quantile(&whole, 0.5);
    CHECK(p50 > 49000000 && p50 < 51000000, "the later phase's median is 50 ms");
}

/* A real loopback connection in this process: the accepted end is found by its peer's
 * address and port in /proc/net/tcp and in this process's descriptors, not in another
 * process's, and not by the port alone (with several source addresses one port is in
 * use on each). */
static void test_socket_owner(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(lfd >= 0 && cfd >= 0, "sockets");
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 4) == 0 &&
          getsockname(lfd, (struct sockaddr *)&a, &len) == 0, "a listener on a free port");
    CHECK(connect(cfd, (struct sockaddr *)&a, sizeof(a)) == 0, "connected");
    int afd = accept(lfd, NULL, NULL);
    struct sockaddr_in me;
    len = sizeof(me);
    getsockname(cfd, (struct sockaddr *)&me, &len);
    pid_t pids[2] = { getppid(), getpid() };
    uint32_t peer = me.sin_addr.s_addr, other = htonl(INADDR_LOOPBACK + 2);
    CHECK(procstat_socket_owner(pids, 2, ntohs(a.sin_port), peer, ntohs(me.sin_port)) == getpid(),
          "the accepted end is this process's");
    CHECK(procstat_socket_owner(pids, 1, ntohs(a.sin_port), peer, ntohs(me.sin_port)) == -1,
          "no other process holds it");
    CHECK(procstat_socket_owner(pids, 2, ntohs(a.sin_port), peer, 1) == -1, "no connection from port 1");
    CHECK(procstat_socket_owner(pids, 2, ntohs(a.sin_port), other, ntohs(me.sin_port)) == -1,
          "no connection from that port on 127.0.0.3");
    close(afd);
    close(cfd);
    close(lfd);
}

static void test_hist(void)
{
    static struct hist h;

    hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        hist_record(&h, v * 1000);           /* 1 us .. 100 ms, uniform */
    uint64_t p50 = hist_quantile(&h, 0.5), p99 = hist_quantile(&h, 0.99);
    CHECK(p50 > 49600000 && p50 < 50400000, "p50 of 1 us..100 ms within 0.8%%: %llu ns",
          (unsigned long long)p50);
    CHECK(p99 > 98200000 && p99 < 99800000, "p99 of 1 us..100 ms within 0.8%%: %llu ns",
          (unsigned long long)p99);
    CHECK(hist_quantile(&h, 1.0) == 100000000, "p100 is the maximum recorded");
    CHECK(h.min == 1000, "the minimum is kept exactly");
}


/* ---- whole messages (whole_max) ------------------------------------------ */

struct whole_seen {
    int messages;
    size_t head_len;
    uint64_t len;
    uint8_t bytes[400];
};

static int on_whole(void *ud, int opcode, const uint8_t *head, size_t head_len, uint64_t len)
{
    struct whole_seen *w = ud;

    w->messages++;
    w->head_len = head_len;
    w->len = len;
    memcpy(w->bytes, head, head_len < sizeof(w->bytes) ? head_len : sizeof(w->bytes));
    return 0;
}

static const struct wsframe_handler whole_handler = { on_whole, on_control };

/* A 300-byte text message as two fragments (100 + 200 bytes), bytes i % 251. */
static size_t build_fragmented(uint8_t *out, uint8_t *payload)
{
    size_t n = 0;

    for (int i = 0; i < 300; i++)
        payload[i] = (uint8_t)(i % 251);
    out[n++] = 0x01;
    out[n++] = 100;
    memcpy(out + n, payload, 100);
    n += 100;
    out[n++] = 0x80;
    out[n++] = 0x7e;
    out[n++] = 0;
    out[n++] = 200;
    memcpy(out + n, payload + 100, 200);
    return n + 200;
}

static void test_whole_messages(void)
{
    uint8_t stream[512], payload[300];
    size_t len = build_fragmented(stream, payload);
    struct wsframe_parser p;
    struct whole_seen w;
    int all_whole = 1, all_heads = 1;

    for (size_t split = 0; split <= len; split++) {
        memset(&w, 0, sizeof(w));
        wsframe_parser_init(&p);
        p.whole_max = 1024;
        wsframe_parse(&p, stream, split, &whole_handler, &w);
        wsframe_parse(&p, stream + split, len - split, &whole_handler, &w);
        if (!(w.messages == 1 && w.len == 300 && w.head_len == 300 &&
              memcmp(w.bytes, payload, 300) == 0))
            all_whole = 0;
        wsframe_parser_free(&p);
        if (p.whole != NULL || p.whole_max != 1024)
            all_whole = 0;

        memset(&w, 0, sizeof(w));
        wsframe_parser_init(&p);
        p.whole_max = 200;
        wsframe_parse(&p, stream, split, &whole_handler, &w);
        wsframe_parse(&p, stream + split, len - split, &whole_handler, &w);
        if (!(w.messages == 1 && w.len == 300 && w.head_len == WSFRAME_HEAD_MAX &&
              memcmp(w.bytes, payload, WSFRAME_HEAD_MAX) == 0))
            all_heads = 0;
        wsframe_parser_free(&p);
    }
    CHECK(all_whole, "a fragmented 300-byte message split anywhere arrives whole under whole_max 1024");
    CHECK(all_heads, "over whole_max (200) the same message arrives as its first %d bytes",
          WSFRAME_HEAD_MAX);

    memset(&w, 0, sizeof(w));
    wsframe_parser_init(&p);
    p.whole_max = 1024;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++)
        rc = wsframe_parse(&p, stream + i, 1, &whole_handler, &w);
    CHECK(rc == 0 && w.messages == 1 && w.head_len == 300 && memcmp(w.bytes, payload, 300) == 0,
          "fed byte by byte, the message is gathered whole");
    wsframe_parser_free(&p);
}

/* ---- room protocol frames (pframe) ---------------------------------------- */

static int parse_text(const char *text, struct pframe *f)
{
    return pframe_parse((const uint8_t *)text, strlen(text), f);
}

static void test_pframe_frames(void)
{
    struct pframe f;

    CHECK(parse_text("{\"push\":\"pub\",\"room\":\"storm\",\"epoch\":\"e1.2\",\"offset\":46,"
                     "\"data\":{\"s\":\"a \\\"}\\\" b\",\"n\":[1,{\"x\":null}]}}", &f) == 0 &&
              f.kind == PFRAME_PUB && f.has_offset && f.offset == 46 &&
              pframe_span_is(f.epoch, "e1.2") &&
              pframe_span_is(f.data, "{\"s\":\"a \\\"}\\\" b\",\"n\":[1,{\"x\":null}]}"),
          "a publication push: its epoch, offset and data (quotes and brackets inside strings skipped)");
    CHECK(parse_text(" {\"id\":1,\"result\":{\"version\":1,\"client\":\"1048577\"}} ", &f) == 0 &&
              f.kind == PFRAME_RESULT && f.id == 1 && !f.has_offset && f.recovered == -1,
          "a connect reply is a result with its id and no position");
    CHECK(parse_text("{\"id\":1003,\"result\":{\"epoch\":\"e\",\"offset\":7}}", &f) == 0 &&
              f.kind == PFRAME_RESULT && f.id == 1003 && f.offset == 7 &&
              pframe_span_is(f.epoch, "e"),
          "a publish ack carries the publication's position");
    CHECK(parse_text("{\"id\":2,\"error\":{\"code\":\"forbidden\",\"message\":\"no\"}}", &f) == 0 &&
              f.kind == PFRAME_ERROR && f.id == 2 && pframe_span_is(f.code, "forbidden"),
          "an error reply gives its code");
    CHECK(parse_text("{\"push\":\"msg\",\"data\":1}", &f) == 0 && f.kind == PFRAME_OTHER,
          "a push other than pub is OTHER");
    CHECK(parse_text("{\"id\":\"a\",\"result\":{}}", &f) == 0 && f.id == -1,
          "a string id is no id");
    CHECK(parse_text("{\"push\":\"pub\",\"offset\":-1}", &f) == -1 &&
              parse_text("{\"push\":\"pub\",\"offset\":1.5}", &f) == -1 &&
              parse_text("{\"push\":\"pub\",\"epoch\":3}", &f) == -1,
          "an offset that is not a whole number, or an epoch that is not a string, is refused");
    CHECK(parse_text("{\"push\":\"pub\",\"data\":{\"a\":1}", &f) == -1 &&
              parse_text("{\"id\":1} x", &f) == -1 && parse_text("[1]", &f) == -1 &&
              parse_text("", &f) == -1 && parse_text("{\"a\" 1}", &f) == -1 &&
              parse_text("{\"a\":\"unterminated}", &f) == -1,
          "truncated text, trailing bytes, a non-object, a missing colon or an open string are refused");

    char deep[200] = "{\"d\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    CHECK(parse_text(deep, &f) == -1, "nesting deeper than 32 is refused");
}

static void test_pframe_publications(void)
{
    const char *reply = "{\"id\":2,\"result\":{\"epoch\":\"e1\",\"offset\":45,\"recovered\":true,"
                        "\"publications\":[{\"offset\":43,\"data\":{\"s\":\"x\"}},"
                        " {\"data\":\"]\",\"offset\":44} ,{\"offset\":45,\"data\":[]}]}}";
    struct pframe f;
    struct pframe_cursor c;
    struct pframe_span data;
    uint64_t offsets[4];
    int n = 0, rc;

    CHECK(parse_text(reply, &f) == 0 && f.kind == PFRAME_RESULT && f.id == 2 &&
              f.offset == 45 && f.recovered == 1 && f.pubs.p != NULL,
          "a subscribe reply: the room's position, recovered, and the publications");
    pframe_pubs_begin(&c, f.pubs);
    while (n < 4 && (rc = pframe_pubs_next(&c, &offsets[n], &data)) == 1) {
        if (n == 1 && !pframe_span_is(data, "\"]\""))
            break;
        n++;
    }
    CHECK(rc == 0 && n == 3 && offsets[0] == 43 && offsets[1] == 44 && offsets[2] == 45,
          "its publications are walked in order, fields in any order");

    CHECK(parse_text("{\"id\":2,\"result\":{\"recovered\":false,\"publications\":[]}}", &f) == 0 &&
              f.recovered == 0,
          "recovered false is read");
    pframe_pubs_begin(&c, f.pubs);
    CHECK(pframe_pubs_next(&c, &offsets[0], &data) == 0, "an empty list ends at once");

    CHECK(parse_text("{\"result\":{\"publications\":[{\"data\":1}]}}", &f) == 0, "parsed");
    pframe_pubs_begin(&c, f.pubs);
    CHECK(pframe_pubs_next(&c, &offsets[0], &data) == -1, "an entry without an offset is malformed");
    CHECK(parse_text("{\"result\":{\"publications\":{}}}", &f) == -1,
          "publications that are not a list are refused");
}

int main(void)
{
    test_parser_splits();
    test_parser_errors();
    test_encode_masked();
    test_payload();
    test_hist();
    test_hist_subtract();
    test_socket_owner();
    test_whole_messages();
    test_pframe_frames();
    test_pframe_publications();
    return check_summary();
}
