#include "sendq.h"

#include "metrics.h"

#include <stdlib.h>
#include <string.h>

/* The ring's size is always a power of two, so a ring position is a mask, not a
 * division: the push runs once per recipient of every broadcast. */
#define SENDQ_INITIAL_LOG2 2
#define SENDQ_MAX_LOG2 26
#define AT(q, i) ((i) & (sendq_cap(q) - 1))

/* Room for `more` frames beyond count; the ring is made linear (head 0) when it grows. */
static int reserve(struct sendq *q, uint32_t more)
{
    uint32_t cap = sendq_cap(q);
    if (cap - q->count >= more) return 0;
    uint32_t log2 = q->ring ? q->cap_log2 : SENDQ_INITIAL_LOG2;
    while ((1u << log2) - q->count < more)
        if (++log2 > SENDQ_MAX_LOG2) return -1;
    struct frame **ring = malloc(((size_t)1 << log2) * sizeof *ring);
    if (!ring) return -1;
    for (uint32_t i = 0; i < q->count; i++) ring[i] = q->ring[AT(q, q->head + i)];
    free(q->ring);
    q->ring = ring;
    q->cap_log2 = log2 & 31;
    q->head = 0;
    return 0;
}

int sendq_push(struct sendq *q, struct frame *f)
{
    if (q->count == sendq_cap(q) && reserve(q, 1) != 0) return -1;
    q->ring[AT(q, q->head + q->count)] = f;
    q->count++;
    q->bytes += f->len;
    uint32_t m = frame_messages(f);
    q->msgs += m;
    metrics.queued_frames += m;
    metrics.queued_bytes += f->len;
    return 0;
}

/* Parts of a combined frame wholly within its first off bytes; *start gets where the
 * next part starts. */
static uint32_t parts_done(const struct frame *f, uint32_t off, uint32_t *start)
{
    uint32_t d = 0, at = 0;
    struct frame *const *parts = frame_parts(f);
    while (d < f->nparts && at + parts[d]->len <= off) at += parts[d++]->len;
    if (start) *start = at;
    return d;
}

uint32_t sendq_started_rest(const struct sendq *q)
{
    if (!q->count || !q->head_off) return 0;
    const struct frame *f = q->ring[q->head];
    if (!f->nparts) return f->len - q->head_off;
    uint32_t start, d = parts_done(f, q->head_off, &start);
    return start == q->head_off ? 0 : frame_parts(f)[d]->len - (q->head_off - start);
}

/* Replaces the combined frame at head + i (i is 0 or 1) by its parts not yet written,
 * each as a frame of its own; the bytes and messages queued stay the same. */
static int split(struct sendq *q, uint32_t i)
{
    struct frame *f = q->ring[AT(q, q->head + i)];
    uint32_t start = 0, d = i == 0 ? parts_done(f, q->head_off, &start) : 0;
    uint32_t n = f->nparts - d;   /* >= 1: a wholly written head is never still queued */
    if (reserve(q, n - 1) != 0) return -1;
    struct frame *before = i ? q->ring[q->head] : NULL;
    q->head = AT(q, q->head + sendq_cap(q) - (n - 1));   /* the new entries go in front */
    if (before) q->ring[q->head] = before;
    struct frame **parts = frame_parts(f);
    for (uint32_t k = 0; k < n; k++) q->ring[AT(q, q->head + i + k)] = frame_ref(parts[d + k]);
    q->count += n - 1;
    if (i == 0) q->head_off -= start;
    frame_unref(f);
    return 0;
}

struct frame *sendq_drop_oldest(struct sendq *q)
{
    if (q->count && q->head_off && q->ring[q->head]->nparts && split(q, 0) != 0) return NULL;
    /* A partly written head must finish, or the byte stream would lose its framing. */
    uint32_t skip = q->head_off ? 1 : 0;
    if (q->count <= skip) return NULL;
    if (q->ring[AT(q, q->head + skip)]->nparts && split(q, skip) != 0) return NULL;
    uint32_t at = AT(q, q->head + skip);
    struct frame *f = q->ring[at];
    /* Close the gap by shifting the (at most one) frame in front of it forward. */
    if (skip) q->ring[at] = q->ring[q->head];
    q->head = AT(q, q->head + 1);
    q->count--;
    q->bytes -= f->len;
    q->msgs--;
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
        uint32_t done = f->nparts ? parts_done(f, q->head_off, NULL) : 0;
        if (n < left) {
            q->head_off += (uint32_t)n;
            if (f->nparts) {
                /* the parts finished inside a combined frame are written messages */
                uint32_t now = parts_done(f, q->head_off, NULL);
                q->msgs -= now - done;
                metrics.queued_frames -= now - done;
            }
            return;
        }
        n -= left;
        q->head_off = 0;
        q->head = AT(q, q->head + 1);
        q->count--;
        q->msgs -= frame_messages(f) - done;
        metrics.queued_frames -= frame_messages(f) - done;
        frame_unref(f);
    }
    /* Zero-length frames never reach here: every frame has at least a 2-byte header. */
}

void sendq_clear(struct sendq *q)
{
    metrics.queued_frames -= q->msgs;
    metrics.queued_bytes -= (int64_t)q->bytes;
    while (q->count) {
        frame_unref(q->ring[q->head]);
        q->head = AT(q, q->head + 1);
        q->count--;
    }
    q->head = q->head_off = 0;
    q->msgs = 0;
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
    q->cap_log2 = 0;
}
