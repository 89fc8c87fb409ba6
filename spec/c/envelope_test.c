/* envelope_test — core/envelope.c against the wire bytes written out literally, every
 * truncation of them, hostile lengths, and the heartbeat presence report. */
#include "envelope.h"

#include <string.h>

#include "check.h"

/* A room message from "n1" to room "ab", except client 0x0102030405060708, text "hi". */
static const uint8_t room_wire[] = {
    0x01,                               /* version */
    0x02,                               /* kind: room */
    0x00,                               /* flags: text */
    0x02, 'n', '1',                     /* origin */
    0x00, 0x02, 'a', 'b',               /* target */
    0x00, 0x01,                         /* one except id */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    'h', 'i',                           /* payload */
};

/* A binary broadcast from "node-2", no target, no except, payload 00 ff. */
static const uint8_t broadcast_wire[] = {
    0x01, 0x01, 0x01, 0x06, 'n', 'o', 'd', 'e', '-', '2',
    0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
};

static void test_encode_room(void)
{
    uint64_t except[1] = { 0x0102030405060708ull };
    struct envelope e = { .kind = ENVELOPE_ROOM, .origin = "n1", .origin_len = 2,
                          .target = "ab", .target_len = 2, .except = except, .nexcept = 1,
                          .payload = "hi", .payload_len = 2 };
    uint8_t out[64];
    CHECK(envelope_size(&e) == sizeof room_wire, "room: size is %zu", sizeof room_wire);
    size_t n = envelope_encode(&e, out, sizeof out);
    CHECK(n == sizeof room_wire && memcmp(out, room_wire, n) == 0, "room: encodes to the literal bytes");
    CHECK(envelope_encode(&e, out, sizeof room_wire - 1) == 0, "room: refuses a buffer one byte short");
}

static void test_encode_broadcast(void)
{
    struct envelope e = { .kind = ENVELOPE_BROADCAST, .flags = ENVELOPE_FLAG_BINARY,
                          .origin = "node-2", .origin_len = 6, .payload = "\x00\xff", .payload_len = 2 };
    uint8_t out[64];
    size_t n = envelope_encode(&e, out, sizeof out);
    CHECK(n == sizeof broadcast_wire && memcmp(out, broadcast_wire, n) == 0,
          "binary broadcast: encodes to the literal bytes");
}

static void test_decode_room(void)
{
    struct envelope e;
    int rc = envelope_decode(room_wire, sizeof room_wire, &e);
    CHECK(rc == 0, "room: decodes (%d)", rc);
    CHECK(e.kind == ENVELOPE_ROOM && e.flags == 0, "room: kind and flags");
    CHECK(e.origin_len == 2 && memcmp(e.origin, "n1", 2) == 0, "room: origin");
    CHECK(e.target_len == 2 && memcmp(e.target, "ab", 2) == 0, "room: target");
    CHECK(e.nexcept == 1 && envelope_except_at(&e, 0) == 0x0102030405060708ull, "room: except id");
    CHECK(e.payload_len == 2 && memcmp(e.payload, "hi", 2) == 0, "room: payload");
}

/* Cutting inside the header must fail cleanly; cutting inside the payload is a shorter
 * payload (the envelope does not carry the payload length: the broker frames messages). */
static void test_every_truncation(void)
{
    size_t header = sizeof room_wire - 2;
    int header_ok = 1, payload_ok = 1;
    for (size_t cut = 0; cut < sizeof room_wire; cut++) {
        struct envelope e;
        int rc = envelope_decode(room_wire, cut, &e);
        if (cut < header && rc != ENVELOPE_ERR_SHORT) {
            header_ok = 0;
            printf("# cut at %zu: rc %d\n", cut, rc);
        }
        if (cut >= header && (rc != 0 || e.payload_len != cut - header)) payload_ok = 0;
    }
    CHECK(header_ok, "every cut inside the header is ENVELOPE_ERR_SHORT");
    CHECK(payload_ok, "every cut inside the payload decodes with a shorter payload");
}

static void test_hostile(void)
{
    struct envelope e;
    uint8_t bad[sizeof room_wire];

    memcpy(bad, room_wire, sizeof bad);
    bad[0] = 2;
    CHECK(envelope_decode(bad, sizeof bad, &e) == ENVELOPE_ERR_VERSION, "unknown version refused");

    memcpy(bad, room_wire, sizeof bad);
    bad[1] = 0;
    CHECK(envelope_decode(bad, sizeof bad, &e) == ENVELOPE_ERR_KIND, "kind 0 refused");
    bad[1] = ENVELOPE__KINDS;
    CHECK(envelope_decode(bad, sizeof bad, &e) == ENVELOPE_ERR_KIND, "kind past the last refused");

    memcpy(bad, room_wire, sizeof bad);
    bad[3] = 0;
    CHECK(envelope_decode(bad, sizeof bad, &e) == ENVELOPE_ERR_ORIGIN, "empty origin refused");

    memcpy(bad, room_wire, sizeof bad);
    bad[3] = 0xff;
    CHECK(envelope_decode(bad, sizeof bad, &e) == ENVELOPE_ERR_SHORT, "origin length past the end");

    memcpy(bad, room_wire, sizeof bad);
    bad[6] = 0xff; bad[7] = 0xff;
    CHECK(envelope_decode(bad, sizeof bad, &e) == ENVELOPE_ERR_SHORT, "target length past the end");

    memcpy(bad, room_wire, sizeof bad);
    bad[10] = 0xff; bad[11] = 0xff;
    CHECK(envelope_decode(bad, sizeof bad, &e) == ENVELOPE_ERR_SHORT, "except count past the end");
}

static void test_limits(void)
{
    char origin[256];
    memset(origin, 'x', sizeof origin);
    struct envelope e = { .kind = ENVELOPE_BROADCAST, .origin = origin, .origin_len = 256 };
    CHECK(envelope_size(&e) == 0, "a 256-byte origin is over the limit");
    e.origin_len = 255;
    CHECK(envelope_size(&e) == ENVELOPE_HEAD_MIN + 255, "a 255-byte origin fits");
    e.origin_len = 0;
    CHECK(envelope_size(&e) == 0, "an empty origin is refused when encoding");
    e.origin_len = 1;
    e.target_len = 65536;
    CHECK(envelope_size(&e) == 0, "a 64 KiB target is over the limit");
}

static void test_client_target(void)
{
    uint8_t id[8];
    envelope_put_u64(id, 0x00100000000abcdeull);
    static const uint8_t want[8] = { 0x00, 0x10, 0x00, 0x00, 0x00, 0x0a, 0xbc, 0xde };
    CHECK(memcmp(id, want, 8) == 0, "client id target is big-endian");
    CHECK(envelope_get_u64(id) == 0x00100000000abcdeull, "client id target round-trips");
}

static void test_heartbeat(void)
{
    static const uint8_t wire[] = {
        0x00, 0x00, 0x00, 0x07,             /* clients */
        0x00, 0x00, 0x00, 0x02,             /* rooms */
        0x00, 0x00, 0x00, 0xc8,             /* interval 200 ms */
        0x00, 0x01, 'a', 0x00, 0x00, 0x00, 0x03,
        0x00, 0x02, 'b', 'c', 0x00, 0x00, 0x00, 0x04,
    };
    uint8_t out[64];
    struct heartbeat h = { .clients = 7, .rooms = 2, .interval_ms = 200 };
    size_t n = heartbeat_encode_head(&h, out, sizeof out);
    n += heartbeat_encode_room("a", 1, 3, out + n, sizeof out - n);
    n += heartbeat_encode_room("bc", 2, 4, out + n, sizeof out - n);
    CHECK(n == sizeof wire && memcmp(out, wire, n) == 0, "heartbeat: encodes to the literal bytes");
    CHECK(heartbeat_encode_room("bc", 2, 4, out, 7) == 0, "heartbeat: a room entry that does not fit is refused");

    struct heartbeat d;
    CHECK(heartbeat_decode((const char *)wire, sizeof wire, &d) == 0 && d.clients == 7 &&
          d.rooms == 2 && d.interval_ms == 200, "heartbeat: decodes the counts");
    size_t pos = 0, len;
    const char *name;
    uint32_t members;
    int ok = heartbeat_next_room(&d, &pos, &name, &len, &members) && len == 1 && name[0] == 'a' && members == 3;
    ok = ok && heartbeat_next_room(&d, &pos, &name, &len, &members) && len == 2 &&
         memcmp(name, "bc", 2) == 0 && members == 4;
    ok = ok && !heartbeat_next_room(&d, &pos, &name, &len, &members);
    CHECK(ok, "heartbeat: iterates both rooms, then stops");

    int cuts_ok = 1;
    for (size_t cut = 0; cut < sizeof wire; cut++) {
        int rc = heartbeat_decode((const char *)wire, cut, &d);
        int whole = cut == HEARTBEAT_HEAD || cut == HEARTBEAT_HEAD + 7;
        if ((rc == 0) != whole) cuts_ok = 0;
    }
    CHECK(cuts_ok, "heartbeat: every cut inside a field or room entry is refused");
}

int main(void)
{
    test_encode_room();
    test_encode_broadcast();
    test_decode_room();
    test_every_truncation();
    test_hostile();
    test_limits();
    test_client_target();
    test_heartbeat();
    return check_summary();
}
