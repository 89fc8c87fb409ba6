#include "sendq.h"

#include "metrics.h"

#include <stdlib.h>
#include <string.h>

/* cap is always a power of two, so a ring position is a mask, not a division: the
 * push runs once per recipient of every broadcast. */
#define SENDQ_INITIAL_CAP 4
#define AT(q, i) ((i) & ((q)->cap - 1))

static int grow(struct sendq *q)
{
    uint32_t cap = q->cap ? q->cap * 2 : SENDQ_INITIAL_CAP;
    struct frame **ring = malloc(cap * sizeof *ring);
    if (!ring) return -1;
    for (uint32_t i = 0; i < q->count; i++) ring[i] = q->ring[AT(q, q->head + i)];
    free(q->ring);
    q->ring = ring;
    q->cap = cap;
    q->head = 0;
    return 0;
}

int sendq_push(struct sendq *q, struct frame *f)
{
    if (q->count == q->cap && grow(q) != 0) return -1;
    q->ring[AT(q, q->head + q->count)] = f;
    q->count++;
    q->bytes += f->len;
    metrics.queued_frames++;
    metrics.queued_bytes += f->len;
    return 0;
}

int sendq_push_many(struct sendq *q, struct frame *const *f, uint32_t n, uint64_t bytes)
{
    while (q->cap - q->count < n)
        if (grow(q) != 0) return -1;
    uint32_t at = AT(q, q->head + q->count);
    uint32_t first = q->cap - at < n ? q->cap - at : n;   /* up to the ring's end */
    memcpy(q->ring + at, f, first * sizeof *f);
    memcpy(q->ring, f + first, (n - first) * sizeof *f);
    q->count += n;
    q->bytes += bytes;
    metrics.queued_frames += n;
    metrics.queued_bytes += (int64_t)bytes;
    return 0;
}

struct frame *sendq_drop_oldest(struct sendq *q)
{
    /* A partly written head must finish, or the byte stream would lose its framing. */
    uint32_t skip = q->head_off ? 1 : 0;
    if (q->count <= skip) return NULL;
    uint32_t at = AT(q, q->head + skip);
    struct frame *f = q->ring[at];
    /* Close the gap by shifting the (at most one) frame in front of it forward. */
    if (skip) q->ring[at] = q->ring[q->head];
    q->head = AT(q, q->head + 1);
    q->count--;
    q->bytes -= f->len;
    metrics.queued_frames--;
    metrics.queued_bytes -= f->len;
    return f;
}

int sendq_iov(const struct sendq *q, struct iovec *iov, int max)
{
    int n = 0;
    for (uint32_t i = 0; i < q->count && n < max; i++, n++) {
        struct frame *f = q->ring[AT(q, q->head + i)];
        size_t off = i == 0 ? q->head_off : 0;
        iov[n].iov_base = f->data + off;
        iov[n].iov_len = f->len - off;
    }
    return n;
}

void sendq_consume(struct sendq *q, size_t n)
{
    q->bytes -= n;
    metrics.queued_bytes -= (int64_t)n;
    while (n > 0) {
        struct frame *f = q->ring[q->head];
        size_t left = f->len - q->head_off;
        if (n < left) {
            q->head_off += (uint32_t)n;
            return;
        }
        n -= left;
        q->head_off = 0;
        q->head = AT(q, q->head + 1);
        q->count--;
        metrics.queued_frames--;
        frame_unref(f);
    }
    /* Zero-length frames never reach here: every frame has at least a 2-byte header. */
}

void sendq_clear(struct sendq *q)
{
    metrics.queued_frames -= q->count;
    metrics.queued_bytes -= (int64_t)q->bytes;
    while (q->count) {
        frame_unref(q->ring[q->head]);
        q->head = AT(q, q->head + 1);
        q->count--;
    }
    q->head = q->head_off = 0;
    q->bytes = 0;
}

void sendq_drop_unsent(struct sendq *q)
{
    struct frame *f;
    while ((f = sendq_drop_oldest(q))) frame_unref(f);
}

void sendq_release(struct sendq *q)
{
    sendq_clear(q);
    free(q->ring);
    q->ring = NULL;
    q->cap = 0;
}
