/* backpressure_test — core/backpressure.c over real connections: the server end of a
 * socketpair upgraded through the transport (conn.c, ws.c), whose events go to stubs
 * here (no hub, no Lua). Each policy under and over the message and the byte bound:
 *
 *   - under the bounds a frame is queued and counted, and written late (at the flush);
 *   - a full queue is written out first when the socket takes it: a client that reads
 *     loses nothing, under every policy;
 *   - a byte bound never refuses the only frame of an empty queue;
 *   - over a bound with a full socket (a 256 KiB frame, partly written into a socket
 *     with a small send buffer, is the queue's head): drop_newest refuses the new frame,
 *     drop_oldest evicts the oldest frames not yet started but never the partly written
 *     head, close drops everything not started and sends a 1008 close at once.
 *
 * What the client reads is compared with the frames written out literally; drops are
 * checked in metrics.dropped and in backpressure_take_dropped (recorded only while
 * recording is on). */
#include "backpressure.h"

#include <stdlib.h>

#include "check.h"
#include "frame.h"
#include "lh_errors.h"
#include "metrics.h"
#include "test_client.h"

#define BIG_LEN (256 * 1024)
#define BIG_FILL 0x5a
#define SMALL_SNDBUF 4096

static int closes;                        /* close events reported by the transport */
static int last_close_code;

static void admit(struct conn *c, const struct http_req *r, struct admission *a) {}
static void opened(struct conn *c) {}
static void message(struct conn *c, int opcode, const uint8_t *data, size_t len) {}
static void closed(struct conn *c)
{
    closes++;
    last_close_code = conn_close_code(c);
}
static struct frame *http(struct conn *c, const struct http_req *r) { return NULL; }
static int released(struct conn *c) { return 0; }

static const struct transport_events stub_events = {
    .admit = admit, .open = opened, .message = message, .close = closed, .http = http,
    .release = released,
};

static struct frame *text(const char *s)
{
    return frame_ws(WS_TEXT, s, strlen(s));
}

static void bounds(enum sendq_policy policy, uint32_t messages, uint64_t bytes)
{
    config.sendq_policy = policy;
    config.sendq_messages = messages;
    config.sendq_bytes = bytes;
}

/* Puts a 256 KiB frame at the head of c's queue, partly written: the socket is full and
 * stays full until the client reads. Returns the frame (the test's reference). */
static struct frame *fill_socket(struct conn *c)
{
    uint8_t *payload = malloc(BIG_LEN);
    memset(payload, BIG_FILL, BIG_LEN);
    struct frame *big = frame_ws(WS_BINARY, payload, BIG_LEN);
    free(payload);
    uint32_t messages = config.sendq_messages;
    uint64_t bytes = config.sendq_bytes;
    config.sendq_messages = 0;
    config.sendq_bytes = 0;
    int rc = backpressure_send(c, big);
    config.sendq_messages = messages;
    config.sendq_bytes = bytes;
    conn_flush(c);
    CHECK(rc == LH_OK && c->q.count == 1 && c->q.head_off > 0 && c->write_blocked,
          "set up: a 256 KiB frame partly written (%u of %u bytes), the socket full", c->q.head_off,
          big->len);
    return big;
}

/* The client reads the whole 256 KiB frame: its literal header, then every payload byte. */
static int read_big(struct test_client *cl)
{
    static const uint8_t head[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x04, 0x00, 0x00 };
    uint8_t *got = malloc(sizeof head + BIG_LEN);
    size_t n = test_client_read(cl, got, sizeof head + BIG_LEN);
    int ok = n == sizeof head + BIG_LEN && memcmp(got, head, sizeof head) == 0;
    for (size_t i = sizeof head; ok && i < n; i++) ok = got[i] == BIG_FILL;
    if (!ok) printf("# read %zu bytes of the big frame\n", n);
    free(got);
    return ok;
}

/* Checks the records since the last take: exactly want[0..n), each for cl's id, in order. */
static int took_dropped(const struct test_client *cl, struct frame *const *want, uint32_t n)
{
    uint32_t got;
    struct dropped_send *d = backpressure_take_dropped(&got);
    int ok = got == n && (n == 0) == (d == NULL);
    for (uint32_t i = 0; i < got; i++) {
        if (i >= n || d[i].id != cl->id || d[i].frame != want[i]) ok = 0;
        frame_unref(d[i].frame);
    }
    if (!ok) printf("# %u drops recorded, %u expected\n", got, n);
    free(d);
    return ok;
}

static void hang_up(struct test_client *cl, const char *what)
{
    CHECK(test_client_hang_up(cl), "%s: torn down when the client hangs up", what);
    CHECK(metrics.queued_frames == 0 && metrics.queued_bytes == 0,
          "%s: nothing left counted as queued", what);
}

static void test_under_bounds(void)
{
    struct test_client cl;
    CHECK(test_client_open_ws(&cl, 0), "under the bounds: the client is upgraded");
    struct conn *c = cl.conn;
    bounds(SENDQ_DROP_NEWEST, 4, 1024);
    struct frame *one = text("one"), *two = text("two"), *three = text("three");
    uint64_t sent = metrics.messages_sent, dropped = metrics.dropped[DROP_NEWEST];
    int rc1 = backpressure_send(c, one), rc2 = backpressure_send(c, two), rc3 = backpressure_send(c, three);
    CHECK(rc1 == LH_OK && rc2 == LH_OK && rc3 == LH_OK, "three frames under the bounds: LH_OK");
    CHECK(c->q.count == 3 && c->q.bytes == 5 + 5 + 7, "queued: 3 frames, 17 bytes (%u, %llu)", c->q.count,
          (unsigned long long)c->q.bytes);
    CHECK(metrics.messages_sent - sent == 3 && metrics.dropped[DROP_NEWEST] == dropped,
          "counted as sent, none dropped");
    CHECK(one->refs == 2 && two->refs == 2 && three->refs == 2, "the queue holds its own reference to each");
    uint8_t b;
    CHECK(test_client_read_now(&cl, &b, 1) == 0, "nothing written before the flush");
    server_flush_pass();
    static const uint8_t wire[] = { 0x81, 0x03, 'o', 'n', 'e', 0x81, 0x03, 't', 'w', 'o',
                                    0x81, 0x05, 't', 'h', 'r', 'e', 'e' };
    CHECK(test_client_expect(&cl, wire, sizeof wire), "the flush writes them in order");
    CHECK(one->refs == 1 && c->q.count == 0, "written frames are let go");
    frame_unref(one);
    frame_unref(two);
    frame_unref(three);
    hang_up(&cl, "under the bounds");
}

/* Writes are late, so a queue can fill within one pass while its socket would take it
 * all: a send over the bound writes the queue out first and then fits. */
static void test_full_queue_written_first(enum sendq_policy policy, const char *name)
{
    struct test_client cl;
    CHECK(test_client_open_ws(&cl, 0), "%s, reading client: upgraded", name);
    struct conn *c = cl.conn;
    bounds(policy, 2, 0);
    struct frame *a = text("a"), *b = text("b"), *z = text("z");
    uint64_t dropped = metrics.dropped[policy];
    int rc1 = backpressure_send(c, a), rc2 = backpressure_send(c, b);
    uint8_t byte;
    CHECK(rc1 == LH_OK && rc2 == LH_OK && c->q.count == 2 && test_client_read_now(&cl, &byte, 1) == 0,
          "%s: two frames fill the queue, not written yet", name);
    int rc3 = backpressure_send(c, z);
    static const uint8_t ab[] = { 0x81, 0x01, 'a', 0x81, 0x01, 'b' };
    CHECK(test_client_expect(&cl, ab, sizeof ab), "%s: the third send writes the full queue out first", name);
    CHECK(rc3 == LH_OK && c->q.count == 1 && metrics.dropped[policy] == dropped && conn_writable(c),
          "%s: then the third is queued; nothing dropped, nothing closed", name);
    server_flush_pass();
    static const uint8_t zz[] = { 0x81, 0x01, 'z' };
    CHECK(test_client_expect(&cl, zz, sizeof zz), "%s: the client gets all three", name);
    frame_unref(a);
    frame_unref(b);
    frame_unref(z);
    hang_up(&cl, name);
}

static void test_byte_bound_takes_the_only_frame(void)
{
    struct test_client cl;
    CHECK(test_client_open_ws(&cl, 0), "byte bound: upgraded");
    bounds(SENDQ_DROP_NEWEST, 0, 4);
    struct frame *hello = text("hello");
    CHECK(backpressure_send(cl.conn, hello) == LH_OK && cl.conn->q.count == 1,
          "a 7-byte frame over a 4-byte bound is queued when the queue is empty");
    server_flush_pass();
    static const uint8_t wire[] = { 0x81, 0x05, 'h', 'e', 'l', 'l', 'o' };
    CHECK(test_client_expect(&cl, wire, sizeof wire), "and written");
    frame_unref(hello);
    hang_up(&cl, "byte bound");
}

static void test_drop_newest(int byte_bound)
{
    const char *name = byte_bound ? "drop_newest, byte bound" : "drop_newest, message bound";
    struct test_client cl;
    CHECK(test_client_open_ws(&cl, SMALL_SNDBUF), "%s: upgraded", name);
    struct conn *c = cl.conn;
    struct frame *big = fill_socket(c);
    /* room for the big frame's rest and two 5-byte frames */
    if (byte_bound) bounds(SENDQ_DROP_NEWEST, 0, c->q.bytes + 10);
    else bounds(SENDQ_DROP_NEWEST, 3, 0);
    struct frame *f1 = text("one"), *f2 = text("two"), *f3 = text("333"), *f4 = text("444");
    uint64_t dropped = metrics.dropped[DROP_NEWEST], sent = metrics.messages_sent;

    backpressure_record_drops(1);
    int rc1 = backpressure_send(c, f1), rc2 = backpressure_send(c, f2);
    CHECK(rc1 == LH_OK && rc2 == LH_OK && c->q.count == 3, "%s: two frames fit behind the big one", name);
    CHECK(backpressure_send(c, f3) == LH_ERR_QUEUE_FULL, "%s: the third is refused: LH_ERR_QUEUE_FULL", name);
    CHECK(c->q.count == 3 && metrics.dropped[DROP_NEWEST] - dropped == 1 && metrics.messages_sent - sent == 2,
          "%s: the queue is unchanged, one drop counted, two sends", name);
    CHECK(f3->refs == 2, "%s: the record holds a reference to the dropped frame", name);
    CHECK(took_dropped(&cl, &f3, 1), "%s: recorded for backpressure_take_dropped (id and frame)", name);
    CHECK(f3->refs == 1, "%s: the taker let go of it", name);

    backpressure_record_drops(0);
    CHECK(backpressure_send(c, f4) == LH_ERR_QUEUE_FULL && metrics.dropped[DROP_NEWEST] - dropped == 2,
          "%s, recording off: refused and still counted", name);
    CHECK(f4->refs == 1 && took_dropped(&cl, NULL, 0), "%s, recording off: nothing recorded", name);

    CHECK(read_big(&cl), "%s: the client gets the big frame whole", name);
    static const uint8_t wire[] = { 0x81, 0x03, 'o', 'n', 'e', 0x81, 0x03, 't', 'w', 'o' };
    CHECK(test_client_expect(&cl, wire, sizeof wire) && test_client_expect_nothing(&cl),
          "%s: then the two that fitted, and nothing else", name);
    CHECK(conn_writable(c), "%s: the client stays open", name);
    frame_unref(big);
    frame_unref(f1);
    frame_unref(f2);
    frame_unref(f3);
    frame_unref(f4);
    hang_up(&cl, name);
}

static void test_drop_oldest(void)
{
    const char *name = "drop_oldest";
    struct test_client cl;
    CHECK(test_client_open_ws(&cl, SMALL_SNDBUF), "%s: upgraded", name);
    struct conn *c = cl.conn;
    struct frame *big = fill_socket(c);
    bounds(SENDQ_DROP_OLDEST, 3, 0);
    struct frame *f1 = text("one"), *f2 = text("two"), *f3 = text("333"), *f4 = text("444");
    uint64_t dropped = metrics.dropped[DROP_OLDEST];
    backpressure_record_drops(1);
    int rc1 = backpressure_send(c, f1), rc2 = backpressure_send(c, f2);
    CHECK(rc1 == LH_OK && rc2 == LH_OK && c->q.count == 3, "%s: the queue is full (3 messages)", name);
    CHECK(backpressure_send(c, f3) == LH_OK && c->q.count == 3, "%s: a fourth is queued", name);
    CHECK(metrics.dropped[DROP_OLDEST] - dropped == 1 && took_dropped(&cl, &f1, 1),
          "%s: by dropping the oldest frame not started (\"one\"), not the partly written head", name);
    CHECK(backpressure_send(c, f4) == LH_OK && took_dropped(&cl, &f2, 1),
          "%s: a fifth drops the next oldest (\"two\")", name);
    CHECK(c->q.ring[c->q.head] == big && c->q.head_off > 0,
          "%s: the head is still the big frame, partly written", name);

    /* byte bound: a 10-byte frame needs both 5-byte frames gone */
    bounds(SENDQ_DROP_OLDEST, 0, c->q.bytes);
    struct frame *ten = text("tentenXX");
    CHECK(backpressure_send(c, ten) == LH_OK && c->q.count == 2 && c->q.ring[c->q.head] == big,
          "%s, byte bound: a 10-byte frame evicts the two 5-byte ones", name);
    struct frame *evicted[] = { f3, f4 };
    CHECK(metrics.dropped[DROP_OLDEST] - dropped == 4 && took_dropped(&cl, evicted, 2),
          "%s, byte bound: both recorded, oldest first", name);
    /* a frame that would not fit even alone behind the head evicts nothing in vain */
    struct frame *twelve = text("twelve-byte");
    CHECK(backpressure_send(c, twelve) == LH_ERR_QUEUE_FULL && c->q.count == 2 &&
          metrics.dropped[DROP_OLDEST] - dropped == 5 && took_dropped(&cl, &twelve, 1),
          "%s, byte bound: a frame that cannot fit behind the head is refused alone", name);
    frame_unref(twelve);
    backpressure_record_drops(0);

    CHECK(read_big(&cl), "%s: the client gets the big frame whole", name);
    static const uint8_t wire[] = { 0x81, 0x08, 't', 'e', 'n', 't', 'e', 'n', 'X', 'X' };
    CHECK(test_client_expect(&cl, wire, sizeof wire) && test_client_expect_nothing(&cl),
          "%s: then the newest frame, and nothing else", name);
    frame_unref(big);
    frame_unref(f1);
    frame_unref(f2);
    frame_unref(f3);
    frame_unref(f4);
    frame_unref(ten);
    hang_up(&cl, name);
}

static void test_close(void)
{
    const char *name = "close";
    struct test_client cl;
    CHECK(test_client_open_ws(&cl, SMALL_SNDBUF), "%s: upgraded", name);
    struct conn *c = cl.conn;
    struct frame *big = fill_socket(c);
    bounds(SENDQ_CLOSE, 3, 0);
    struct frame *f1 = text("one"), *f2 = text("two"), *f3 = text("333"), *f4 = text("444");
    uint64_t dropped = metrics.dropped[DROP_CLOSE];
    int closes0 = closes;
    backpressure_record_drops(1);
    int rc1 = backpressure_send(c, f1), rc2 = backpressure_send(c, f2);
    CHECK(rc1 == LH_OK && rc2 == LH_OK && c->q.count == 3, "%s: the queue is full (3 messages)", name);
    CHECK(backpressure_send(c, f3) == LH_ERR_QUEUE_FULL, "%s: the next send: LH_ERR_QUEUE_FULL", name);
    CHECK(c->q.count == 1 && c->q.ring[c->q.head] == big, "%s: only the partly written head is left", name);
    struct frame *all[] = { f1, f2, f3 };
    CHECK(metrics.dropped[DROP_CLOSE] - dropped == 3 && took_dropped(&cl, all, 3),
          "%s: the two queued and the new one counted and recorded, in order", name);
    CHECK(c->close_queued && !conn_writable(c),
          "%s: a close is queued; the client takes no more frames", name);
    CHECK(backpressure_send(c, f4) == LH_ERR_CLOSED && metrics.dropped[DROP_CLOSE] - dropped == 3,
          "%s: a later send is LH_ERR_CLOSED, not another drop", name);
    backpressure_record_drops(0);

    CHECK(read_big(&cl), "%s: the client gets the big frame whole", name);
    /* 1008 (0x03f0), "send queue overflow" */
    static const uint8_t close_frame[] = { 0x88, 0x15, 0x03, 0xf0, 's', 'e', 'n', 'd', ' ', 'q', 'u',
                                           'e', 'u', 'e', ' ', 'o', 'v', 'e', 'r', 'f', 'l', 'o', 'w' };
    CHECK(test_client_expect(&cl, close_frame, sizeof close_frame), "%s: then the close frame, 1008", name);
    CHECK(test_client_expect_eof(&cl), "%s: then the server shuts its side", name);
    CHECK(closes - closes0 == 1 && last_close_code == 1008, "%s: the close is reported once, with 1008 (%d)",
          name, last_close_code);
    frame_unref(big);
    frame_unref(f1);
    frame_unref(f2);
    frame_unref(f3);
    frame_unref(f4);
    hang_up(&cl, name);
}

int main(void)
{
    conn_init(&stub_events, sizeof(struct conn));
    test_setup();
    for (int ring = 0; ring < 2; ring++) {
        if (ring && !test_write_ring()) break;
        test_under_bounds();
        test_full_queue_written_first(SENDQ_DROP_NEWEST, "drop_newest");
        test_full_queue_written_first(SENDQ_DROP_OLDEST, "drop_oldest");
        test_full_queue_written_first(SENDQ_CLOSE, "close");
        test_byte_bound_takes_the_only_frame();
        test_drop_newest(0);
        test_drop_newest(1);
        test_drop_oldest();
        test_close();
        if (ring) CHECK_WRITE_RING_DONE();
    }
    config_free(&config);
    return check_summary();
}
