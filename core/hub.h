/* hub.h — the set of open WebSocket clients and the operations Lua calls on them through
 * the FFI (lh_* functions). A message to many recipients is encoded once into one frame
 * and each recipient's queue takes a reference: no per-recipient copy or allocation. */
#ifndef LUAHUB_HUB_H
#define LUAHUB_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct conn;

void hub_add(struct conn *c);
/* Removes c from the hub and runs the disconnect hooks; idempotent. */
void hub_remove(struct conn *c);
uint32_t hub_count(void);
/* A send to c was dropped by its queue policy (counted; hooks see it). */
void hub_note_dropped(struct conn *c, struct frame *f);

/* FFI surface (declared again in lua/luahub/ffi.lua): ids are connection ids, errors
 * are the negative enum conn_err codes. */
int lh_send(uint64_t id, const char *data, size_t len, int binary);
int lh_close(uint64_t id, int code, const char *reason, size_t reason_len);
int lh_broadcast(const char *data, size_t len, int binary, uint64_t except_id);
uint32_t lh_count(void);
int lh_is_open(uint64_t id);
int lh_remote_addr(uint64_t id, char *buf, size_t len);
void lh_log(int level, uint64_t client, const char *msg, size_t len, const char *fields_json);
uint64_t lh_dropped_total(void);
double lh_now(void);

#endif
