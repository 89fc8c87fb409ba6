/* fanout_batch.h — a loop pass's run of broadcasts to one group, queued to the members
 * recipient by recipient instead of message by message.
 *
 * A run opens in one of two ways. When every member would take the broadcast as it is
 * (backpressure_takes: under both bounds, no permessage-deflate member), the run opens
 * holding it and no member's queue is touched yet. Otherwise it goes to every member
 * through the full send path (backpressure.c: a write first, bounds, policies, dropped
 * records), and when every member that takes frames took it, the run opens empty. The
 * next broadcasts to the same group (no except list) only append their frame here, as
 * long as every member's queue has room for them under send_queue.messages and .bytes;
 * those sends cannot be refused, so they are counted as sent at once. batch_settle then
 * combines the held frames into one (frame_combine) and queues it to each member: its
 * struct and ring are touched once per run, not once per message, and the flush writes
 * the run as one piece. The queue counts the combined frame as its messages and takes it
 * apart when it must drop some (sendq.h), so bounds, drops, the dropped hook and the
 * metrics work on messages exactly as before.
 *
 * batch_settle must run before anything else may look at or change a member's queue or
 * the group: any other send, a close, a join or leave, the pass's flush. Connections that
 * stop taking frames (conn_unwritable_events) end the run: the next broadcast settles
 * and starts over. */
#ifndef LUAHUB_FANOUT_BATCH_H
#define LUAHUB_FANOUT_BATCH_H

#include <stdint.h>

struct frame;
struct group;

/* The room left, after the first message of a run, in the fullest member's queue:
 * messages and bytes under the bounds (INT64_MAX for a bound that is off). */
struct batch_room {
    int64_t messages, bytes;
};

/* Starts a run for g that will reach nref members, each with at least room left (after
 * the run's first message when that went through the send path). Settles any other run
 * first. */
void batch_open(struct group *g, uint32_t nref, const struct batch_room *room);
/* 1 while a run for g is open (a broadcast to g may go to batch_append). */
int batch_open_for(const struct group *g);
/* Holds f (taking a reference) for the open run of g: the number of members it will
 * reach, or -1 when the run cannot take it (no run for g, a connection stopped taking
 * frames, the bounds changed, a queue would pass a bound, or the run holds 1 MiB) and
 * the caller must settle and send it the usual way. */
int batch_append(struct group *g, struct frame *f);
/* Queues the held frames to the run's members and ends the run. Cheap when none. */
void batch_settle(void);
/* batch_settle for the pass's flush (server.c), right before conn_flush_dirty: members
 * with nothing else to write get the run's frame handed to the write batch instead of
 * queued (conn_send_now). */
void batch_settle_for_flush(void);
/* 1 while a run holds frames not yet queued (a close hook run by the flush broadcast
 * twice): the flush settles and writes again. */
int batch_holding(void);

#endif
