#include "backpressure.h"

#include <stdlib.h>

#include "config.h"
#include "conn.h"
#include "frame.h"
#include "lh_errors.h"
#include "log.h"
#include "metrics.h"

/* Bounded so a script that never returns from its hooks cannot make this grow forever;
 * beyond it drops are still counted. */
#define DROPPED_PENDING_MAX 65536

static struct dropped_send *dropped;
static uint32_t ndropped, dropped_cap;
static int record_drops;

void backpressure_record_drops(int on) { record_drops = on; }

int backpressure_has_dropped(void) { return ndropped != 0; }

struct dropped_send *backpressure_take_dropped(uint32_t *n)
{
    struct dropped_send *batch = dropped;
    *n = ndropped;
    dropped = NULL;
    ndropped = dropped_cap = 0;
    return batch;
}

static void note_dropped(struct conn *c, struct frame *f)
{
    metrics.dropped[config.sendq_policy]++;   /* enum sendq_policy order = enum drop_policy */
    if (!record_drops) return;
    if (ndropped == dropped_cap) {
        if (dropped_cap == DROPPED_PENDING_MAX) return;
        uint32_t cap = dropped_cap ? dropped_cap * 2 : 64;
        struct dropped_send *d = realloc(dropped, cap * sizeof *d);
        if (!d) return;
        dropped = d;
        dropped_cap = cap;
    }
    dropped[ndropped++] = (struct dropped_send){ c->id, frame_ref(f) };
}

/* 1 when queueing f would pass a bound. The byte bound never refuses the only frame: a
 * message larger than the bound still goes to a client with an empty queue. */
static int over_bound(const struct conn *c, const struct frame *f)
{
    const struct sendq *q = &c->q;
    return (config.sendq_messages && q->msgs >= config.sendq_messages) ||
           (config.sendq_bytes && q->bytes + f->len > config.sendq_bytes && q->count > 0);
}

/* 1 when f would fit once every frame not yet started is dropped: only a partly written
 * head stays. Evicting is pointless otherwise. */
static int fits_after_eviction(const struct conn *c, const struct frame *f)
{
    uint64_t kept_bytes = sendq_started_rest(&c->q);
    uint32_t kept = kept_bytes ? 1 : 0;
    return !(config.sendq_messages && kept >= config.sendq_messages) &&
           !(config.sendq_bytes && kept_bytes + f->len > config.sendq_bytes && kept > 0);
}

int backpressure_takes(const struct conn *c, const struct frame *f)
{
    return conn_writable(c) && !over_bound(c, f);
}

int backpressure_send(struct conn *c, struct frame *f)
{
    if (!conn_writable(c)) return LH_ERR_CLOSED;
    if (over_bound(c, f) && !c->write_blocked) conn_flush(c);
    if (over_bound(c, f)) {
        struct frame *old;
        switch (config.sendq_policy) {
        case SENDQ_DROP_NEWEST:
            note_dropped(c, f);
            return LH_ERR_QUEUE_FULL;
        case SENDQ_DROP_OLDEST:
            while (fits_after_eviction(c, f) && over_bound(c, f) && (old = sendq_drop_oldest(&c->q))) {
                note_dropped(c, old);
                frame_unref(old);
            }
            if (over_bound(c, f)) {
                note_dropped(c, f);
                return LH_ERR_QUEUE_FULL;
            }
            break;
        case SENDQ_CLOSE:
            log_warn(c->id, "send queue full (%u messages, %llu bytes): closing slow client",
                     c->q.msgs, (unsigned long long)c->q.bytes);
            /* The queue is full, so a close frame would wait behind it: what has not
             * started going out is dropped (and reported as dropped), the close goes now. */
            while ((old = sendq_drop_oldest(&c->q))) {
                note_dropped(c, old);
                frame_unref(old);
            }
            note_dropped(c, f);
            conn_close_now(c, 1008, "send queue overflow");
            return LH_ERR_QUEUE_FULL;
        }
    }
    if (conn_queue(c, f) != 0) return LH_ERR_NOMEM;
    metrics.messages_sent++;
    return LH_OK;
}
