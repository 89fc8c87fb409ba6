/* ws_fuzz — the WebSocket frame path as a client drives it: two clients connect over
 * socketpairs and upgrade through the real HTTP phase; the fuzzed one then sends the
 * input's bytes in reads cut where the input says, each read followed by a loop pass
 * (read, ws_feed/wslay, permessage-deflate, Lua dispatch of spec/fuzz/hub.lua, sends,
 * the flush). The other client is a bystander in the same room and user, so fan-outs
 * share frames between two queues. Then a third client, the prober, connects and pings,
 * and all three hang up.
 *
 * Input: [settings] [flood] [read-split seed] [bytes the client sends after the handshake...]
 *   settings bits 0-1  max_message_size: 0 default (1 MiB), 1 16, 2 200, 3 5000
 *                bit 2  compression on; the fuzzed client offers permessage-deflate
 *                bit 3  limits.message_rate 2
 *                bits 4-5  send_queue.messages 2 with policy 1 drop_newest,
 *                          2 drop_oldest, 3 close (0: defaults)
 *                bit 6  the first read is sent with the upgrade request
 *                bit 7  the bystander offers permessage-deflate too
 *   flood    bit 0  the fuzzed client does not read, and the server's end of its socket
 *                   has a small send buffer: what the server sends it piles up in the
 *                   server (send queue, control frames: pongs to a ping flood)
 *            bits 1-3  k: the bytes are sent 4^k times (at most WS_FUZZ_FLOOD_MAX bytes
 *                   in all), the copies after the first in large writes: a few frames
 *                   become a flood
 *            bits 4-7  p: the copies leave out the first p bytes (0-15), which are sent
 *                   once: a flood inside a fragmented message, after a first frame...
 * Checks besides the sanitizers: every client gets a 101 and then only well-formed
 * server frames with nothing after a close frame (fuzz_check_ws_output); the prober's
 * ping, the first frame after the fuzzed input whose WebSocket state may come from the
 * context pool (ws.c), is answered with a pong carrying its payload; no error is logged;
 * every connection, room and queued frame is gone after the hang-up. */
#include "fuzz.h"

static const char ws_fuzz_upgrade_request[] =
    "GET /ws?room=lobby&name=fuzz%20er HTTP/1.1\r\n"
    "Host: fuzz.test\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";
static const char ws_fuzz_deflate_offer[] =
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/* Bytes sent in one write with the upgrade request at most: with the request they fit
 * the server's head buffer (HTTP_HEAD_MAX), as a browser's first frames would. */
#define WS_FUZZ_WITH_HEAD_MAX 4096
/* A flood: all copies of the input together at most, and the size of each write. */
#define WS_FUZZ_FLOOD_MAX (1u << 20)
#define WS_FUZZ_FLOOD_WRITE (64u << 10)
/* The send buffer of the server's end for a fuzzed client that does not read. */
#define WS_FUZZ_UNREAD_SNDBUF 4096

/* What the prober pings with, the largest payload a control frame may carry (125 bytes),
 * whatever max_message_size is (a limit on messages); its pong must carry it back. */
static const uint8_t ws_fuzz_probe[] =
    "prober's ping, 125 bytes: a well-behaved client pings with up to this much and gets "
    "its pong, whatever the fuzzed client did.";

/* The upgrade request, and first_len (<= WS_FUZZ_WITH_HEAD_MAX) bytes after its head. */
static void ws_fuzz_upgrade(struct fuzz_client *cl, int deflate, const uint8_t *first, size_t first_len)
{
    char req[512];
    int n = snprintf(req, sizeof req, "%s%s\r\n", ws_fuzz_upgrade_request, deflate ? ws_fuzz_deflate_offer : "");
    uint8_t buf[sizeof req + WS_FUZZ_WITH_HEAD_MAX];
    memcpy(buf, req, (size_t)n);
    if (first_len) memcpy(buf + n, first, first_len);
    if (fuzz_client_write(cl, buf, (size_t)n + first_len) != 0) fuzz_fail("cannot send the upgrade");
}

static void ws_fuzz_apply_settings(uint8_t settings)
{
    static const uint64_t sizes[] = { 1048576, 16, 200, 5000 };
    static const enum sendq_policy policies[] = { SENDQ_DROP_NEWEST, SENDQ_DROP_NEWEST,
                                                  SENDQ_DROP_OLDEST, SENDQ_CLOSE };
    config.max_message_size = sizes[settings & 3];
    config.compression = (settings & 4) != 0;
    if (settings & 8) config.limit_message_rate = 2;
    if (settings & 0x30) {
        config.sendq_messages = 2;
        config.sendq_policy = policies[(settings >> 4) & 3];
    }
}

/* Sends `copies` more copies of p[0..n) back to back in writes of WS_FUZZ_FLOOD_WRITE
 * bytes, a loop pass after each, until the server stops taking them (it dropped the
 * client, or stopped reading). */
static void ws_fuzz_flood(struct fuzz_client *clients, int nclients, const uint8_t *p, size_t n,
                          size_t copies)
{
    static uint8_t buf[WS_FUZZ_FLOOD_WRITE];
    size_t fill = 0;
    for (size_t i = 0; i < copies; i++) {
        if (fill + n > sizeof buf) {
            if (fuzz_client_write(&clients[0], buf, fill) != 0) return;
            fuzz_pass(clients, nclients);
            fill = 0;
        }
        memcpy(buf + fill, p, n);
        fill += n;
    }
    if (fill && fuzz_client_write(&clients[0], buf, fill) == 0) fuzz_pass(clients, nclients);
}

/* The prober: connects, pings with a payload and must get the pong back. Its ping is the
 * first frame read after the fuzzed input, so its WebSocket state is the context the
 * fuzzed client last gave back to ws.c's pool, if any: one that can no longer write
 * (wslay disabled writing after a failed send) would answer no ping, for anyone, ever. */
static void ws_fuzz_probe_send(struct fuzz_client *clients, int nclients)
{
    struct fuzz_client *prober = &clients[nclients - 1];
    static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    uint8_t ping[2 + 4 + sizeof ws_fuzz_probe];
    size_t n = sizeof ws_fuzz_probe - 1;
    ping[0] = 0x80 | WS_PING;
    ping[1] = 0x80 | (uint8_t)n;
    memcpy(ping + 2, mask, 4);
    for (size_t i = 0; i < n; i++) ping[6 + i] = ws_fuzz_probe[i] ^ mask[i % 4];
    fuzz_client_open(prober, 0);
    ws_fuzz_upgrade(prober, 0, NULL, 0);
    fuzz_pass(clients, nclients);
    if (fuzz_client_write(prober, ping, 6 + n) != 0) fuzz_fail("prober: cannot send its ping");
    fuzz_pass(clients, nclients);
    fuzz_pass(clients, nclients);
}

static void ws_fuzz_probe_check(const struct fuzz_client *prober)
{
    struct fuzz_ws_frame f;
    size_t at = fuzz_ws_frames_start(prober), n = sizeof ws_fuzz_probe - 1;
    int frames = 0;
    unsigned close_code = 0;
    while (fuzz_ws_frame_next(prober, &at, &f)) {
        if (f.opcode == WS_PONG && f.len == n && memcmp(f.payload, ws_fuzz_probe, n) == 0) return;
        if (f.opcode == WS_CLOSE) close_code = f.len >= 2 ? (unsigned)(f.payload[0] << 8 | f.payload[1]) : 1005;
        frames++;
    }
    if (close_code) fuzz_fail("prober: its %zu-byte ping was answered with a close (%u)", n, close_code);
    fuzz_fail("prober: its %zu-byte ping got no pong (%d other frames): a pooled wslay context that "
              "cannot write?", n, frames);
}

int fuzz_ws(const uint8_t *data, size_t size)
{
    fuzz_setup_server();
    if (size < 3) return 0;
    uint8_t settings = data[0], flood = data[1];
    ws_fuzz_apply_settings(settings);

    struct fuzz_client clients[3];     /* [0] fuzzed, [1] bystander, [2] prober */
    struct fuzz_reads reads;
    const uint8_t *chunk = NULL;
    const uint8_t *input = data + 3;
    size_t n = 0, input_len = size - 3;
    fuzz_reads_init(&reads, input, input_len, data[2]);
    fuzz_client_open(&clients[1], 0);
    ws_fuzz_upgrade(&clients[1], settings & 0x80, NULL, 0);
    fuzz_client_open(&clients[0], flood & 1 ? WS_FUZZ_UNREAD_SNDBUF : 0);
    clients[0].unread = flood & 1;
    if (settings & 0x40) n = fuzz_reads_next(&reads, &chunk);
    size_t with_head = n < WS_FUZZ_WITH_HEAD_MAX ? n : WS_FUZZ_WITH_HEAD_MAX;
    ws_fuzz_upgrade(&clients[0], settings & 4, chunk, with_head);
    fuzz_pass(clients, 2);
    int taking = 1;
    if (n > with_head && fuzz_client_write(&clients[0], chunk + with_head, n - with_head) == 0)
        fuzz_pass(clients, 2);
    while ((n = fuzz_reads_next(&reads, &chunk)) > 0) {
        if (fuzz_client_write(&clients[0], chunk, n) != 0) {
            taking = 0;
            break;
        }
        fuzz_pass(clients, 2);
    }
    size_t copies = (size_t)1 << (2 * ((flood >> 1) & 7)), once = flood >> 4;
    if (once > input_len) once = input_len;
    size_t unit = input_len - once;
    if (unit && copies > WS_FUZZ_FLOOD_MAX / unit) copies = WS_FUZZ_FLOOD_MAX / unit;
    if (taking && unit && copies > 1) ws_fuzz_flood(clients, 2, input + once, unit, copies - 1);
    fuzz_pass(clients, 2);
    ws_fuzz_probe_send(clients, 3);
    fuzz_hang_up(clients, 3);
    fuzz_check_ws_output(&clients[0], "fuzzed client");
    fuzz_check_ws_output(&clients[1], "bystander");
    fuzz_check_ws_output(&clients[2], "prober");
    ws_fuzz_probe_check(&clients[2]);
    fuzz_finish(clients, 3);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_ws(data, size); }
#endif
