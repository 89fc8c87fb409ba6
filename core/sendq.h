/* sendq.h — a connection's outgoing data: a ring of frame references plus the number of
 * bytes of the head frame already written. Holding a reference is the whole cost of a
 * queued broadcast for a recipient; the ring grows by doubling and is kept, so a steady
 * stream makes no allocation per message. Bounds and drop policies live in backpressure.c.
 *
 * A frame may be a combined one (frame_combine: a pass's broadcasts to one group, one
 * reference per recipient); the queue still counts and drops messages: msgs counts each
 * of its parts until that part is written, and a drop takes a combined frame apart into
 * its parts first, so only the messages dropped go. */
#ifndef LUAHUB_SENDQ_H
#define LUAHUB_SENDQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "frame.h"

/* 32 bytes, in the first cache line of every connection (conn.h). */
struct sendq {
    struct frame **ring;
    uint64_t bytes;              /* unwritten bytes in the queue */
    uint32_t head : 27;          /* the ring holds at most 2^26 frames */
    uint32_t cap_log2 : 5;       /* the ring's size is a power of two: sendq_cap */
    uint32_t count;              /* frames in the ring */
    uint32_t head_off;           /* bytes of ring[head] already written */
    uint32_t msgs;               /* messages not yet wholly written */
};

static inline uint32_t sendq_cap(const struct sendq *q) { return q->ring ? 1u << q->cap_log2 : 0; }

/* Takes over the caller's reference on success; returns -1 (and keeps nothing) on ENOMEM. */
int sendq_push(struct sendq *q, struct frame *f);
/* Drops the oldest message that has not started going out; NULL if none can be dropped
 * (or a combined frame could not be taken apart: ENOMEM). The caller owns the returned
 * reference. */
struct frame *sendq_drop_oldest(struct sendq *q);
/* Bytes left of the message being written (0 when the head has not started or stopped
 * at a message boundary): what a drop cannot take. */
uint32_t sendq_started_rest(const struct sendq *q);
/* Fills iov from the queue head; returns the number of entries used. */
int sendq_iov(const struct sendq *q, struct iovec *iov, int max);
/* Marks n bytes as written, unreferencing finished frames. */
void sendq_consume(struct sendq *q, size_t n);
void sendq_clear(struct sendq *q);
/* Drops every message that has not started going out (a partly written one stays, or
 * the byte stream would lose its framing). */
void sendq_drop_unsent(struct sendq *q);
/* Frees the ring itself (after sendq_clear); the next push allocates again. */
void sendq_release(struct sendq *q);
static inline int sendq_empty(const struct sendq *q) { return q->count == 0; }

#endif
