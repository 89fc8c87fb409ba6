/* ws_stream.h — frame boundaries of an incoming WebSocket byte stream, followed from the
 * frame headers alone (2..14 bytes each), without parsing payloads. ws.c uses it to know
 * when wslay holds nothing of a frame or message in progress (so its context can go back
 * to the pool) and to hand wslay each close frame alone and whole. A leaf: no I/O, no
 * connection, tested on its own. */
#ifndef LUAHUB_WS_STREAM_H
#define LUAHUB_WS_STREAM_H

#include <stddef.h>
#include <stdint.h>

struct ws_stream {
    uint8_t hdr[14];
    uint8_t hdr_len : 4;         /* header bytes of the next frame seen so far */
    uint8_t in_message : 1;      /* a fragmented data message is open */
    uint8_t held_len;
    uint64_t payload_left;       /* payload bytes of the current frame still to come */
    uint8_t *held;               /* start of a close frame waiting for the rest (ws.c) */
};

/* Advances s over up to n bytes at p; stops before the first byte of a close frame's
 * header and returns how many bytes it took. */
size_t ws_stream_track(struct ws_stream *s, const uint8_t *p, size_t n);
/* 1 when s stands between messages: no header, payload or fragmented message open. */
int ws_stream_at_boundary(const struct ws_stream *s);
/* Length of the close frame at p if all of it is in the n bytes, 0 if not yet. A close
 * frame longer than a control frame may be is reported whole-length too: wslay refuses
 * it from its header. */
size_t ws_stream_close_length(const uint8_t *p, size_t n);

#endif
