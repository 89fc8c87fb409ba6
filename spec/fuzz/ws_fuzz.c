/* ws_fuzz — the WebSocket frame path as a client drives it: two clients connect over
 * socketpairs and upgrade through the real HTTP phase; the fuzzed one then sends the
 * input's bytes in reads cut where the input says, each read followed by a loop pass
 * (read, ws_feed/wslay, permessage-deflate, Lua dispatch of spec/fuzz/hub.lua, sends,
 * the flush). The other client is a bystander in the same room and user, so fan-outs
 * share frames between two queues. Then both hang up.
 *
 * Input: [settings] [read-split seed] [bytes the client sends after the handshake...]
 *   settings bits 0-1  max_message_size: 0 default (1 MiB), 1 16, 2 200, 3 5000
 *                bit 2  compression on; the fuzzed client offers permessage-deflate
 *                bit 3  limits.message_rate 2
 *                bits 4-5  send_queue.messages 2 with policy 1 drop_newest,
 *                          2 drop_oldest, 3 close (0: defaults)
 *                bit 6  the first read is sent with the upgrade request
 *                bit 7  the bystander offers permessage-deflate too
 * Checks besides the sanitizers: both clients get a 101 and then only well-formed
 * server frames with nothing after a close frame (fuzz_check_ws_output); no error is
 * logged; every connection, room and queued frame is gone after the hang-up. */
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

int fuzz_ws(const uint8_t *data, size_t size)
{
    fuzz_setup_server();
    if (size < 2) return 0;
    uint8_t settings = data[0];
    ws_fuzz_apply_settings(settings);

    struct fuzz_client clients[2];     /* [0] fuzzed, [1] bystander */
    struct fuzz_reads reads;
    const uint8_t *chunk = NULL;
    size_t n = 0;
    fuzz_reads_init(&reads, data + 2, size - 2, data[1]);
    fuzz_client_open(&clients[1]);
    ws_fuzz_upgrade(&clients[1], settings & 0x80, NULL, 0);
    fuzz_client_open(&clients[0]);
    if (settings & 0x40) n = fuzz_reads_next(&reads, &chunk);
    size_t with_head = n < WS_FUZZ_WITH_HEAD_MAX ? n : WS_FUZZ_WITH_HEAD_MAX;
    ws_fuzz_upgrade(&clients[0], settings & 4, chunk, with_head);
    fuzz_pass(clients, 2);
    if (n > with_head && fuzz_client_write(&clients[0], chunk + with_head, n - with_head) == 0)
        fuzz_pass(clients, 2);
    while ((n = fuzz_reads_next(&reads, &chunk)) > 0) {
        if (fuzz_client_write(&clients[0], chunk, n) != 0) break;
        fuzz_pass(clients, 2);
    }
    fuzz_pass(clients, 2);
    fuzz_hang_up(clients, 2);
    fuzz_check_ws_output(&clients[0], "fuzzed client");
    fuzz_check_ws_output(&clients[1], "bystander");
    fuzz_finish(clients, 2);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_ws(data, size); }
#endif
