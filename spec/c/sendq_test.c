/* sendq_test — core/sendq.c alone: the ring of frame references a connection writes
 * from. Pushes and writes (sendq_consume) that cross the ring's wrap, a partly written
 * head in every iov, growth while wrapped, sendq_drop_oldest passing over a partly
 * written head (also across the wrap), and the queued_frames/queued_bytes gauges and
 * frame references all back where they started. Combined frames (frame_combine): counted
 * as their messages, each counted off when written, and taken apart by a drop so that
 * only the oldest unsent message goes, also from inside a partly written one. The bytes
 * a writer would send (what sendq_iov points at) are compared with the frames written
 * out literally. */
#include "sendq.h"

#include <string.h>

#include "check.h"
#include "metrics.h"

/* The test keeps one reference to each frame; the queue takes another. */
static struct frame *text(const char *s)
{
    return frame_ws(WS_TEXT, s, strlen(s));
}

static void push(struct sendq *q, struct frame *f)
{
    if (sendq_push(q, frame_ref(f)) != 0) {
        printf("# out of memory\n");
        frame_unref(f);
    }
}

/* What a writev of the whole queue would send: 1 when it is exactly want[0..n). */
static int iov_is(const struct sendq *q, const uint8_t *want, size_t n)
{
    struct iovec iov[16];
    uint8_t got[256];
    size_t len = 0;
    int k = sendq_iov(q, iov, 16);
    for (int i = 0; i < k; i++) {
        if (len + iov[i].iov_len > sizeof got) return 0;
        memcpy(got + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    if (len != n || memcmp(got, want, n) != 0) {
        printf("# the queue would write %zu bytes:", len);
        for (size_t i = 0; i < len; i++) printf(" %02x", got[i]);
        printf("\n");
        return 0;
    }
    return len == q->bytes;
}

static void test_push_and_consume(void)
{
    struct sendq q = { 0 };
    struct frame *a = text("a"), *bb = text("bb"), *ccc = text("ccc");
    int64_t frames0 = metrics.queued_frames, bytes0 = metrics.queued_bytes;

    push(&q, a);
    push(&q, bb);
    push(&q, ccc);
    static const uint8_t all[] = { 0x81, 0x01, 'a', 0x81, 0x02, 'b', 'b', 0x81, 0x03, 'c', 'c', 'c' };
    CHECK(q.count == 3 && q.bytes == 12, "three frames queued: 3 frames, 12 bytes (%u, %llu)",
          q.count, (unsigned long long)q.bytes);
    CHECK(metrics.queued_frames - frames0 == 3 && metrics.queued_bytes - bytes0 == 12,
          "the gauges count them");
    CHECK(a->refs == 2 && bb->refs == 2 && ccc->refs == 2, "the queue holds one reference to each");
    CHECK(iov_is(&q, all, sizeof all), "the iov is the three frames in order");

    struct iovec iov[2];
    CHECK(sendq_iov(&q, iov, 2) == 2 && iov[1].iov_base == bb->data && iov[1].iov_len == 4,
          "sendq_iov fills no more than max entries");

    sendq_consume(&q, 1);
    CHECK(q.count == 3 && q.head_off == 1 && q.bytes == 11, "one byte written: the head is partly written");
    CHECK(iov_is(&q, all + 1, sizeof all - 1), "the iov starts inside the head");
    CHECK(sendq_iov(&q, iov, 1) == 1 && iov[0].iov_base == a->data + 1 && iov[0].iov_len == 2,
          "the head's entry starts after the written byte");

    sendq_consume(&q, 2 + 4 + 1);
    CHECK(q.count == 1 && q.head_off == 1 && q.bytes == 4,
          "one write finishing two frames and starting the third");
    CHECK(a->refs == 1 && bb->refs == 1 && ccc->refs == 2,
          "finished frames are unreferenced, the started one is not");
    CHECK(iov_is(&q, all + 8, 4), "the iov is the rest of the third frame");

    sendq_consume(&q, 4);
    CHECK(sendq_empty(&q) && q.head_off == 0 && q.bytes == 0, "written out: empty, no partial head");
    CHECK(metrics.queued_frames == frames0 && metrics.queued_bytes == bytes0, "the gauges are back");
    sendq_release(&q);
    frame_unref(a);
    frame_unref(bb);
    frame_unref(ccc);
}

/* The ring starts at 4 entries: after two frames are written the next pushes wrap to
 * slots 0 and 1; a push into the full wrapped ring grows it and keeps the order. */
static void test_wrap_and_grow(void)
{
    struct sendq q = { 0 };
    struct frame *f[7];
    const char *payload[7] = { "0", "1", "2", "3", "4", "5", "6" };
    for (int i = 0; i < 7; i++) f[i] = text(payload[i]);

    for (int i = 0; i < 4; i++) push(&q, f[i]);
    CHECK(sendq_cap(&q) == 4, "four frames fill the first ring (cap %u)", sendq_cap(&q));
    sendq_consume(&q, 3 + 3);
    push(&q, f[4]);
    push(&q, f[5]);
    CHECK(sendq_cap(&q) == 4 && q.head == 2 && q.count == 4,
          "two written, two pushed: the ring wrapped without growing");
    CHECK(q.ring[0] == f[4] && q.ring[1] == f[5], "the new frames sit in slots 0 and 1");
    static const uint8_t wrapped[] = { 0x81, 0x01, '2', 0x81, 0x01, '3', 0x81, 0x01, '4', 0x81, 0x01, '5' };
    CHECK(iov_is(&q, wrapped, sizeof wrapped), "the iov follows the ring across the wrap");

    sendq_consume(&q, 3 + 3 + 2);
    CHECK(q.head == 0 && q.head_off == 2 && q.count == 2,
          "a write across the wrap: head in slot 0, partly written");
    CHECK(iov_is(&q, wrapped + 8, 4), "the iov is the rest of '4' and all of '5'");

    push(&q, f[6]);
    push(&q, f[0]);
    push(&q, f[1]);
    CHECK(sendq_cap(&q) == 8 && q.head == 0 && q.count == 5, "a push into the full ring grows it (cap %u, count %u)",
          sendq_cap(&q), q.count);
    static const uint8_t grown[] = { '4', 0x81, 0x01, '5', 0x81, 0x01, '6', 0x81, 0x01,
                                     '0', 0x81, 0x01, '1' };
    CHECK(iov_is(&q, grown, sizeof grown), "growth keeps the order and the partly written head");

    sendq_clear(&q);
    CHECK(sendq_empty(&q) && q.bytes == 0 && q.head_off == 0, "clear empties the queue, partial head too");
    int refs_ok = 1;
    for (int i = 0; i < 7; i++) refs_ok &= f[i]->refs == 1;
    CHECK(refs_ok, "every frame is back to the test's own reference");
    sendq_release(&q);
    CHECK(q.ring == NULL && sendq_cap(&q) == 0, "release frees the ring");
    for (int i = 0; i < 7; i++) frame_unref(f[i]);
}

static void test_drop_oldest(void)
{
    struct sendq q = { 0 };
    struct frame *a = text("a"), *bb = text("bb"), *ccc = text("ccc"), *d = text("d");
    int64_t frames0 = metrics.queued_frames, bytes0 = metrics.queued_bytes;

    CHECK(sendq_drop_oldest(&q) == NULL, "nothing to drop from an empty queue");
    push(&q, a);
    push(&q, bb);
    push(&q, ccc);
    struct frame *got = sendq_drop_oldest(&q);
    CHECK(got == a && q.count == 2 && q.bytes == 9, "no partial head: the head itself is dropped");
    frame_unref(got);
    static const uint8_t rest[] = { 0x81, 0x02, 'b', 'b', 0x81, 0x03, 'c', 'c', 'c' };
    CHECK(iov_is(&q, rest, sizeof rest), "the iov is what is left");

    sendq_consume(&q, 1);
    got = sendq_drop_oldest(&q);
    CHECK(got == ccc && q.count == 1 && q.head_off == 1 && q.bytes == 3,
          "a partly written head is passed over: the next frame is dropped");
    frame_unref(got);
    CHECK(iov_is(&q, rest + 1, 3), "the head keeps its written offset");
    CHECK(sendq_drop_oldest(&q) == NULL, "a partly written head alone is never dropped");

    /* ring of 4 with the head in slot 3, partly written, and the next frame in slot 0 */
    sendq_consume(&q, 3);
    push(&q, a);
    push(&q, d);
    CHECK(q.head == 3 && q.count == 2 && q.ring[0] == d, "set up: head in the last slot, the next in slot 0");
    sendq_consume(&q, 2);
    got = sendq_drop_oldest(&q);
    CHECK(got == d && q.count == 1 && q.head == 0 && q.ring[0] == a && q.head_off == 2,
          "across the wrap: the partly written head moves into the dropped frame's slot");
    frame_unref(got);
    CHECK(iov_is(&q, (const uint8_t *)"a", 1), "the head's last byte is all that is left to write");

    push(&q, bb);
    push(&q, ccc);
    sendq_drop_unsent(&q);
    CHECK(q.count == 1 && q.head_off == 2 && q.bytes == 1 && q.ring[q.head] == a,
          "drop_unsent keeps only the partly written head");
    sendq_consume(&q, 1);
    CHECK(sendq_empty(&q), "the head written out: empty");
    CHECK(metrics.queued_frames == frames0 && metrics.queued_bytes == bytes0, "the gauges are back");
    CHECK(a->refs == 1 && bb->refs == 1 && ccc->refs == 1 && d->refs == 1,
          "every frame is back to the test's own reference");
    sendq_release(&q);
    frame_unref(a);
    frame_unref(bb);
    frame_unref(ccc);
    frame_unref(d);
}

/* a: "a" (3 bytes), bb (4), ccc (5) combined; then d (3) on its own. */
static void test_combined(void)
{
    struct sendq q = { 0 };
    int64_t frames0 = metrics.queued_frames, bytes0 = metrics.queued_bytes;
    struct frame *a = text("a"), *bb = text("bb"), *ccc = text("ccc"), *d = text("d");
    struct frame *parts[3] = { frame_ref(a), frame_ref(bb), frame_ref(ccc) };
    struct frame *all = frame_combine(parts, 3, 12);
    CHECK(all && all->len == 12 && frame_messages(all) == 3 && a->refs == 2,
          "combined: 12 bytes, 3 messages, holding a reference to each part");
    push(&q, all);
    push(&q, d);
    static const uint8_t want[] = { 0x81, 1, 'a', 0x81, 2, 'b', 'b', 0x81, 3, 'c', 'c', 'c', 0x81, 1, 'd' };
    CHECK(q.count == 2 && q.msgs == 4 && q.bytes == 15 && iov_is(&q, want, sizeof want),
          "queued: 2 frames, 4 messages, the bytes of all four in order");
    CHECK(metrics.queued_frames - frames0 == 4, "the gauge counts messages");
    sendq_consume(&q, 5);   /* "a" and 2 bytes of "bb" */
    CHECK(q.msgs == 3 && q.head_off == 5 && sendq_started_rest(&q) == 2 && metrics.queued_frames - frames0 == 3,
          "a written inside the combined frame: 3 messages left, 2 bytes of bb in flight");
    struct frame *got = sendq_drop_oldest(&q);
    static const uint8_t rest[] = { 'b', 'b', 0x81, 1, 'd' };
    CHECK(got == ccc && q.msgs == 2 && iov_is(&q, rest, sizeof rest),
          "drop_oldest takes the combined frame apart and drops ccc, not the bb in flight");
    CHECK(q.count == 2 && q.ring[q.head] == bb && q.head_off == 2 && q.bytes == 2 + 3,
          "left: the rest of bb, then d");
    frame_unref(got);
    CHECK(all->refs == 1, "the queue let go of the combined frame (the test's reference is left)");
    sendq_consume(&q, 2);
    CHECK(q.msgs == 1 && q.head_off == 0 && q.ring[q.head] == d, "bb written: d is next, unstarted");
    /* a combined frame not yet started, behind a partly written one */
    parts[0] = frame_ref(a);
    parts[1] = frame_ref(bb);
    struct frame *two = frame_combine(parts, 2, 7);
    push(&q, two);
    sendq_consume(&q, 1);
    got = sendq_drop_oldest(&q);
    CHECK(got == a && q.msgs == 2 && q.count == 2 && q.ring[q.head] == d,
          "behind a partly written d, the combined frame's first message is the oldest unsent");
    frame_unref(got);
    sendq_consume(&q, 2 + 4);
    CHECK(sendq_empty(&q) && q.msgs == 0, "d and bb written: empty");
    /* a combined frame written at a message boundary: the next part is unstarted */
    parts[0] = frame_ref(a);
    parts[1] = frame_ref(bb);
    parts[2] = frame_ref(ccc);
    struct frame *three = frame_combine(parts, 3, 12);
    push(&q, three);
    sendq_consume(&q, 3);
    CHECK(sendq_started_rest(&q) == 0 && q.msgs == 2, "stopped after a: nothing in flight");
    got = sendq_drop_oldest(&q);
    CHECK(got == bb && q.msgs == 1 && q.count == 1 && q.ring[q.head] == ccc && q.head_off == 0,
          "drop_oldest drops bb, the next message; ccc is left");
    frame_unref(got);
    sendq_drop_unsent(&q);
    CHECK(sendq_empty(&q), "drop_unsent: nothing was in flight, nothing left");
    CHECK(metrics.queued_frames == frames0 && metrics.queued_bytes == bytes0, "the gauges are back");
    frame_unref(all);
    frame_unref(two);
    frame_unref(three);
    CHECK(a->refs == 1 && bb->refs == 1 && ccc->refs == 1 && d->refs == 1,
          "every frame is back to the test's own reference");
    sendq_release(&q);
    frame_unref(a);
    frame_unref(bb);
    frame_unref(ccc);
    frame_unref(d);
}

int main(void)
{
    test_push_and_consume();
    test_wrap_and_grow();
    test_drop_oldest();
    test_combined();
    return check_summary();
}
