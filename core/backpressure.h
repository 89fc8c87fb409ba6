/* backpressure.h — a client's send queue under its bounds (send_queue.messages and
 * .bytes) and what happens when it is full (send_queue.policy): drop the newest message,
 * drop the oldest ones not yet started, or close the slow client with 1008. Before a
 * policy applies, the queue is written out once: writes are late (once per loop pass),
 * so a queue can fill within one pass while its socket would take everything, and only
 * clients whose sockets are full should ever lose messages.
 *
 * Every dropped send is counted, and recorded (id and a frame reference) while the script
 * wants them reported; the hub hands the records to the script after the fan-out. */
#ifndef LUAHUB_BACKPRESSURE_H
#define LUAHUB_BACKPRESSURE_H

#include <stdint.h>

struct conn;
struct frame;

struct dropped_send {
    uint64_t id;
    struct frame *frame;         /* one reference, the taker's to drop */
};

/* Queues f for c under the policy. LH_OK, LH_ERR_CLOSED (c takes no frames),
 * LH_ERR_QUEUE_FULL (f or c was dropped by the policy) or LH_ERR_NOMEM. */
int backpressure_send(struct conn *c, struct frame *f);
/* 1 when backpressure_send(c, f) would queue f as it is: c takes frames and its queue
 * is under both bounds with f added (no write first, no policy). */
int backpressure_takes(const struct conn *c, const struct frame *f);
/* Whether drops are recorded for backpressure_take_dropped (counted either way). */
void backpressure_record_drops(int on);
/* The records since the last call; the caller frees the array and unrefs each frame.
 * NULL with *n = 0 when there are none. */
struct dropped_send *backpressure_take_dropped(uint32_t *n);
/* 1 while records wait for backpressure_take_dropped. */
int backpressure_has_dropped(void);

#endif
