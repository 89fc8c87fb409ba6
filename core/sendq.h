/* sendq.h — a connection's outgoing data: a ring of frame references plus the number of
 * bytes of the head frame already written. Holding a reference is the whole cost of a
 * queued broadcast for a recipient; the ring grows by doubling and is kept, so a steady
 * stream makes no allocation per message. Bounds and drop policies live in backpressure.c. */
#ifndef LUAHUB_SENDQ_H
#define LUAHUB_SENDQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "frame.h"

struct sendq {
    struct frame **ring;
    uint32_t head, count, cap;
    uint32_t head_off;      /* bytes of ring[head] already written */
    uint64_t bytes;         /* unwritten bytes in the queue */
};

/* Takes over the caller's reference on success; returns -1 (and keeps nothing) on ENOMEM. */
int sendq_push(struct sendq *q, struct frame *f);
/* Appends n frames whose references the queue takes over (the caller has counted them;
 * bytes is the sum of their lengths): one capacity check and a copy of the pointers, for
 * the fan-out batch. -1 (and nothing queued) on ENOMEM. */
int sendq_push_many(struct sendq *q, struct frame *const *f, uint32_t n, uint64_t bytes);
/* Drops the oldest frame that has not started going out; NULL if none can be dropped.
 * The caller owns the returned reference. */
struct frame *sendq_drop_oldest(struct sendq *q);
/* Fills iov from the queue head; returns the number of entries used. */
int sendq_iov(const struct sendq *q, struct iovec *iov, int max);
/* Marks n bytes as written, unreferencing finished frames. */
void sendq_consume(struct sendq *q, size_t n);
void sendq_clear(struct sendq *q);
/* Drops every frame that has not started going out (a partly written head stays, or the
 * byte stream would lose its framing). */
void sendq_drop_unsent(struct sendq *q);
/* Frees the ring itself (after sendq_clear); the next push allocates again. */
void sendq_release(struct sendq *q);
static inline int sendq_empty(const struct sendq *q) { return q->count == 0; }

#endif
