/* ws_stream_test — core/ws_stream.c alone: frame boundaries followed from the headers.
 * One client stream of literal frames (7-, 16- and 64-bit lengths, masked and not, a
 * fragmented text message with a ping and a continuation between its parts, a pong
 * between messages, empty frames, a header whose second byte is 0x88, payloads made of
 * 0x88 bytes that look like close headers) ending in a close frame, fed whole, byte by
 * byte, and cut in two at every offset: the tracker must stop exactly before the close
 * frame and be at a boundary exactly at each message end. Then close frames alone:
 * ws_stream_close_length at every prefix. */
#include "ws_stream.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

#define M 0x37, 0xfa, 0x21, 0x3d            /* the RFC 6455 example's masking key */
#define FILL 0x88                            /* payload byte: a close frame's first byte */

/* One frame of the stream: its header written out, then payload_len payload bytes,
 * literal when payload is given, else FILL. message_end: a message is complete after it. */
struct piece {
    uint8_t header[14];
    size_t header_len;
    const char *payload;
    size_t payload_len;
    int message_end;
};

static const struct piece pieces[] = {
    /* "Hello", unmasked and masked (RFC 6455 section 5.7) */
    { { 0x81, 0x05 }, 2, "Hello", 5, 1 },
    { { 0x81, 0x85, M }, 6, "\x7f\x9f\x4d\x51\x58", 5, 1 },
    /* masked binary, 8 bytes: the header's second byte is 0x88 */
    { { 0x82, 0x88, M }, 6, NULL, 8, 1 },
    /* "Hel" + ping + "l" + "o": a fragmented text message, a control frame inside it */
    { { 0x01, 0x03 }, 2, "Hel", 3, 0 },
    { { 0x89, 0x82, 0x01, 0x02, 0x03, 0x04 }, 6, "\x70\x6b", 2, 0 },   /* "qi" */
    { { 0x00, 0x01 }, 2, "l", 1, 0 },
    { { 0x80, 0x01 }, 2, "o", 1, 1 },
    /* an empty pong between messages, an empty masked text message */
    { { 0x8a, 0x00 }, 2, NULL, 0, 1 },
    { { 0x81, 0x80, M }, 6, NULL, 0, 1 },
    /* 16-bit lengths: 256 unmasked, 126 (the smallest) masked */
    { { 0x82, 0x7e, 0x01, 0x00 }, 4, NULL, 256, 1 },
    { { 0x82, 0xfe, 0x00, 0x7e, M }, 8, NULL, 126, 1 },
    /* 64-bit lengths: 65536 unmasked and masked */
    { { 0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 }, 10, NULL, 65536, 1 },
    { { 0x82, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, M }, 14, NULL, 65536, 1 },
};

/* close 1000, masked */
static const uint8_t close_frame[] = { 0x88, 0x82, M, 0x37 ^ 0x03, 0xfa ^ 0xe8 };

static uint8_t *stream;
static size_t stream_len, close_at;   /* close_at: offset of the close frame */
static uint8_t *boundary;             /* boundary[k]: a message ends after k bytes */

static void build_stream(void)
{
    size_t n = sizeof close_frame;
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++)
        n += pieces[i].header_len + pieces[i].payload_len;
    stream = malloc(n);
    boundary = calloc(n + 1, 1);
    boundary[0] = 1;
    size_t at = 0;
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) {
        const struct piece *p = &pieces[i];
        memcpy(stream + at, p->header, p->header_len);
        at += p->header_len;
        if (p->payload) memcpy(stream + at, p->payload, p->payload_len);
        else memset(stream + at, FILL, p->payload_len);
        at += p->payload_len;
        boundary[at] = (uint8_t)p->message_end;
    }
    close_at = at;
    memcpy(stream + at, close_frame, sizeof close_frame);
    stream_len = at + sizeof close_frame;
}

static void test_whole(void)
{
    struct ws_stream s = { 0 };
    CHECK(ws_stream_at_boundary(&s), "a fresh tracker is at a boundary");
    size_t took = ws_stream_track(&s, stream, stream_len);
    CHECK(took == close_at, "fed whole: stops before the close frame (%zu of %zu, close at %zu)", took,
          stream_len, close_at);
    CHECK(ws_stream_at_boundary(&s), "and stands at a boundary there");
    CHECK(ws_stream_track(&s, stream + took, stream_len - took) == 0,
          "fed again from the close frame: takes nothing");
}

static void test_byte_by_byte(void)
{
    struct ws_stream s = { 0 };
    size_t at = 0, bad_boundary = 0, first_bad = SIZE_MAX;
    while (at < stream_len && ws_stream_track(&s, stream + at, 1) == 1) {
        at++;
        if (ws_stream_at_boundary(&s) != boundary[at]) {
            bad_boundary++;
            if (first_bad == SIZE_MAX) first_bad = at;
        }
    }
    if (first_bad != SIZE_MAX) printf("# first wrong after byte %zu\n", first_bad);
    CHECK(at == close_at, "byte by byte: takes every byte up to the close frame, none of it (%zu)", at);
    CHECK(bad_boundary == 0,
          "byte by byte: at a boundary exactly after each message (%zu wrong)", bad_boundary);
}

static void test_every_cut(void)
{
    size_t bad = 0, first_bad = SIZE_MAX;
    for (size_t cut = 0; cut <= stream_len; cut++) {
        struct ws_stream s = { 0 };
        size_t first = ws_stream_track(&s, stream, cut);
        size_t want_first = cut < close_at ? cut : close_at;
        int ok = first == want_first && ws_stream_at_boundary(&s) == boundary[want_first];
        size_t second = ws_stream_track(&s, stream + first, stream_len - first);
        ok = ok && first + second == close_at && ws_stream_at_boundary(&s);
        if (!ok) {
            bad++;
            if (first_bad == SIZE_MAX) first_bad = cut;
        }
    }
    if (first_bad != SIZE_MAX) printf("# first wrong cut at %zu\n", first_bad);
    CHECK(bad == 0, "every cut in two (%zu cuts): the right boundary state after the first part, "
          "the close frame found after the second (%zu wrong)", stream_len + 1, bad);
}

static void test_close_inside_a_message(void)
{
    static const uint8_t in[] = { 0x01, 0x03, 'H', 'e', 'l', 0x88, 0x80, M };
    struct ws_stream s = { 0 };
    CHECK(ws_stream_track(&s, in, sizeof in) == 5 && !ws_stream_at_boundary(&s),
          "a close between fragments: stops before it, with the message still open");
    struct ws_stream fresh = { 0 };
    CHECK(ws_stream_track(&fresh, in + 5, sizeof in - 5) == 0, "a close frame first: takes nothing");
}

/* ws_stream_close_length(p, n) for every n from 0 to all of frame plus two bytes after
 * it: 0 until the frame is whole, then its length. */
static int close_length_at_every_prefix(const uint8_t *frame, size_t len, size_t want)
{
    uint8_t buf[256];
    memcpy(buf, frame, len);
    buf[len] = 0x81;                       /* the start of the next frame */
    buf[len + 1] = 0x00;
    for (size_t n = 0; n <= len + 2; n++) {
        size_t got = ws_stream_close_length(buf, n);
        if (got != (n < want ? 0 : want)) {
            printf("# %zu bytes: %zu\n", n, got);
            return 0;
        }
    }
    return 1;
}

static void test_close_length(void)
{
    static const uint8_t empty[] = { 0x88, 0x00 };
    static const uint8_t empty_masked[] = { 0x88, 0x80, M };
    static const uint8_t code[] = { 0x88, 0x02, 0x03, 0xe8 };
    static const uint8_t reason_masked[] = { 0x88, 0x85, M, 0x34, 0x12, 0x43, 0x44, 0x52 };  /* 1000 "bye" */
    CHECK(close_length_at_every_prefix(empty, sizeof empty, 2), "empty close: 0 until 2 bytes, then 2");
    CHECK(close_length_at_every_prefix(empty_masked, sizeof empty_masked, 6), "empty masked close: 6");
    CHECK(close_length_at_every_prefix(code, sizeof code, 4), "close 1000: 4");
    CHECK(close_length_at_every_prefix(reason_masked, sizeof reason_masked, 11),
          "masked close with a reason: 11");
    CHECK(close_length_at_every_prefix(close_frame, sizeof close_frame, 8), "the stream's close frame: 8");

    uint8_t longest[2 + 4 + 125] = { 0x88, 0xfd, M, 0x03, 0xe8 };
    CHECK(close_length_at_every_prefix(longest, sizeof longest, sizeof longest),
          "a close of 125 bytes, the most a control frame may carry: 131");

    /* 126 and 127 in the 7-bit length are 16- and 64-bit lengths, too long for any
     * control frame: whatever is there is handed on for wslay to refuse. */
    static const uint8_t len16[] = { 0x88, 0x7e, 0x00, 0x7e, 0x03, 0xe8 };
    static const uint8_t len64[] = { 0x88, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x7e };
    CHECK(ws_stream_close_length(len16, 0) == 0 && ws_stream_close_length(len16, 1) == 0,
          "oversize: nothing until the length byte");
    int all = 1;
    for (size_t n = 2; n <= sizeof len16; n++) all &= ws_stream_close_length(len16, n) == n;
    for (size_t n = 2; n <= sizeof len64; n++) all &= ws_stream_close_length(len64, n) == n;
    CHECK(all, "oversize (16- and 64-bit lengths): every prefix from 2 bytes is reported whole");
}

int main(void)
{
    build_stream();
    test_whole();
    test_byte_by_byte();
    test_every_cut();
    test_close_inside_a_message();
    test_close_length();
    free(stream);
    free(boundary);
    return check_summary();
}
