/* frame.h — refcounted, ready-to-write byte buffers: an encoded server WebSocket frame
 * (unmasked, so identical for every recipient) or a raw HTTP response. A broadcast encodes
 * one frame and every recipient's send queue holds a reference to it; the last
 * frame_unref frees it. Frames are immutable once queued. */
#ifndef LUAHUB_FRAME_H
#define LUAHUB_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode { WS_CONT = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

struct frame {
    uint32_t refs;
    uint32_t len;          /* bytes in data */
    uint32_t payload_len;  /* message size as the application sees it (for hooks/metrics);
                            * 0 in a combined frame */
    uint32_t nparts;       /* 0, or a combined frame's messages (frame_combine) */
    uint8_t data[];
};

/* A FIN frame with the given opcode around a copy of payload. NULL on allocation failure. */
struct frame *frame_ws(int opcode, const void *payload, size_t len);
/* An uninitialised raw buffer of len bytes (HTTP responses); the caller fills data. */
struct frame *frame_raw(size_t len);

/* One frame holding the bytes of n >= 2 frames back to back, written as one, and
 * references to the n frames themselves, which a send queue takes apart again when it
 * must drop some of the messages (sendq.c). Takes over the caller's references to the
 * parts; bytes is the sum of their lengths. NULL on allocation failure (the parts are
 * still the caller's). */
struct frame *frame_combine(struct frame *const *parts, uint32_t n, uint64_t bytes);
/* A combined frame's parts, in order. */
static inline struct frame **frame_parts(const struct frame *f)
{
    return (struct frame **)(void *)(f->data + ((f->len + 7u) & ~7u));
}
/* The messages f carries. */
static inline uint32_t frame_messages(const struct frame *f) { return f->nparts ? f->nparts : 1; }

static inline struct frame *frame_ref(struct frame *f) { f->refs++; return f; }
void frame_unref(struct frame *f);

/* Size of the header frame_ws writes for a payload of len bytes. */
size_t frame_header_len(size_t len);

#endif
