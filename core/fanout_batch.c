#include "fanout_batch.h"

#include <stdlib.h>

#include "client.h"
#include "config.h"
#include "conn.h"
#include "frame.h"
#include "group.h"
#include "log.h"
#include "metrics.h"

/* A run's combined frame stays below this: its bytes are copied once per run, and a
 * frame's length must fit in 32 bits. */
#define BATCH_BYTES_MAX (1024 * 1024)

/* At most one run is open: a broadcast to another group settles it first, which keeps
 * every recipient's order of messages across groups. */
static struct group *run_group;      /* NULL: no run open */
static uint32_t run_nref;            /* members that took the first message: all of g */
static uint32_t run_events;          /* conn_unwritable_events when the run opened */
static struct batch_room run_room;
static uint32_t run_bound_messages; /* send_queue.messages and .bytes the room was for */
static uint64_t run_bound_bytes;
/* The held frames, one reference each; the array is kept from run to run. */
static struct frame **held;
static uint32_t nheld, held_cap;
static uint64_t held_bytes;

void batch_open(struct group *g, uint32_t nref, const struct batch_room *room)
{
    batch_settle();
    run_group = g;
    run_nref = nref;
    run_events = conn_unwritable_events;
    run_room = *room;
    run_bound_messages = config.sendq_messages;
    run_bound_bytes = config.sendq_bytes;
}

int batch_open_for(const struct group *g) { return g == run_group; }

int batch_append(struct group *g, struct frame *f)
{
    /* a reload may change the bounds between two handler calls of a pass */
    if (g != run_group || conn_unwritable_events != run_events ||
        run_bound_messages != config.sendq_messages || run_bound_bytes != config.sendq_bytes)
        return -1;
    /* The checks backpressure_send would make for each member, against the fullest
     * queue: none of them could refuse f, so no policy can apply. */
    if ((int64_t)nheld + 1 > run_room.messages ||
        (int64_t)(held_bytes + f->len) > run_room.bytes || held_bytes + f->len > BATCH_BYTES_MAX)
        return -1;
    if (nheld == held_cap) {
        uint32_t cap = held_cap ? held_cap * 2 : 64;
        struct frame **h = realloc(held, cap * sizeof *h);
        if (!h) return -1;
        held = h;
        held_cap = cap;
    }
    held[nheld++] = frame_ref(f);
    held_bytes += f->len;
    metrics.messages_sent += run_nref;
    return (int)run_nref;
}

/* Queues f (holding nmsgs of the run's messages) to the members of g that can still
 * write it; the ones that cannot are taken off messages_sent, which counted them. With
 * direct (the pass's flush), a member with nothing else to write gets f handed to the
 * write batch instead (conn_send_now). */
static void queue_to_members(struct group *g, struct frame *f, uint32_t nmsgs, int direct)
{
    uint32_t taken = 0;
    for (uint32_t i = 0; i < g->count; i++) {
        struct conn *c = &g->members[i].client->conn;
        /* Every member took the run's first message. One killed since, or whose close
         * frame is queued, would never have written these (its unsent frames are dropped
         * or released unreported); one with a close waiting (want_close) writes its
         * queue first, so it still gets them. */
        if (c->phase != PHASE_WS || c->killed || c->close_queued) {
            metrics.messages_sent -= nmsgs;
            continue;
        }
        if (direct && conn_send_now(c, f) == 0) continue;
        if (sendq_push(&c->q, f) != 0) {
            log_error(c->id, "out of memory queueing %u broadcast messages: the client misses them", nmsgs);
            metrics.messages_sent -= nmsgs;
            continue;
        }
        conn_mark_dirty(c);
        taken++;
    }
    f->refs += taken;   /* the queues' references, added once rather than per recipient */
}

int batch_holding(void) { return nheld != 0; }

static void settle(int direct)
{
    struct group *g = run_group;
    run_group = NULL;
    if (!nheld) return;
    /* Several messages go as one combined frame: one queue entry per recipient, written
     * as one piece, taken apart only by a drop (sendq.c). */
    struct frame *f = nheld == 1 ? held[0] : frame_combine(held, nheld, held_bytes);
    if (f) {
        queue_to_members(g, f, nheld, direct);
        frame_unref(f);   /* the run's reference (a combined frame holds the parts') */
    } else {
        /* no memory for the combined copy: each message on its own, as without a run */
        for (uint32_t i = 0; i < nheld; i++) {
            queue_to_members(g, held[i], 1, direct);
            frame_unref(held[i]);
        }
    }
    nheld = 0;
    held_bytes = 0;
}

void batch_settle(void) { settle(0); }

void batch_settle_for_flush(void) { settle(1); }
