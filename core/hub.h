/* hub.h — the set of open WebSocket clients and the operations Lua calls on them through
 * the FFI (lh_* functions, declared again in lua/luahub/ffi.lua). A message to many
 * recipients is encoded once into one frame and each recipient's queue takes a
 * reference: no per-recipient copy or allocation. Ids are connection ids; errors are
 * the negative enum lh_err codes. */
#ifndef LUAHUB_HUB_H
#define LUAHUB_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct conn;

void hub_add(struct conn *c);
/* Runs the disconnect hooks, then leaves every room and the user index; idempotent. */
void hub_remove(struct conn *c);
uint32_t hub_count(void);
/* A send to c was dropped by its queue policy: counted, and queued for on_send_dropped. */
void hub_note_dropped(struct conn *c, struct frame *f);
/* Runs the on_send_dropped hooks recorded since the last call (never inside a fan-out). */
void hub_fire_dropped(void);

/* Sends: binary selects the opcode; text must be valid UTF-8. except lists ids to skip.
 * Fan-outs return the number of recipients queued. */
/* A message relayed from another node (cluster.c): fanned out to this node's clients only
 * (kind is an enum envelope_kind: broadcast, room or user), never relayed again. */
int hub_deliver(int kind, const char *target, size_t tlen, const char *data, size_t len, int binary,
                const uint64_t *except, size_t nexcept);

/* Takes a closing client out of the client set and its rooms (between the disconnect hooks). */
/* Writes all room names, each followed by NUL, into buf; returns the bytes needed. */





#endif
