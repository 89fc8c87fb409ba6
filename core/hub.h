/* hub.h — the set of open WebSocket clients and the operations Lua calls on them through
 * the FFI (lh_* functions, declared again in lua/luahub/ffi.lua). A message to many
 * recipients is encoded once into one frame and each recipient's queue takes a
 * reference: no per-recipient copy or allocation. Ids are connection ids; errors are
 * the negative enum conn_err codes. */
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
int lh_send(uint64_t id, const char *data, size_t len, int binary);
int lh_broadcast(const char *data, size_t len, int binary, const uint64_t *except, size_t nexcept);
int lh_to_room(const char *room, size_t rlen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept);
int lh_to_user(const char *uid, size_t ulen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept);
int lh_close(uint64_t id, int code, const char *reason, size_t reason_len);
int lh_is_open(uint64_t id);
uint32_t lh_count(void);
/* A message relayed from another node (cluster.c): fanned out to this node's clients only
 * (kind is an enum envelope_kind: broadcast, room or user), never relayed again. */
int hub_deliver(int kind, const char *target, size_t tlen, const char *data, size_t len, int binary,
                const uint64_t *except, size_t nexcept);

int lh_join(uint64_t id, const char *room, size_t len);
int lh_leave(uint64_t id, const char *room, size_t len);
int lh_leave_all(uint64_t id);
/* Takes a closing client out of the client set and its rooms (between the disconnect hooks). */
void lh_detach(uint64_t id);
int lh_in_room(uint64_t id, const char *room, size_t len);
int lh_client_rooms(uint64_t id);
const char *lh_client_room(uint64_t id, int i, size_t *len);
int lh_room_size(const char *room, size_t len);
uint64_t lh_room_member(const char *room, size_t len, uint32_t i);
uint32_t lh_room_total(void);
/* Writes all room names, each followed by NUL, into buf; returns the bytes needed. */
size_t lh_room_names(char *buf, size_t cap);

int lh_set_user(uint64_t id, const char *uid, size_t len);
const char *lh_user_of(uint64_t id, size_t *len);
int lh_user_size(const char *uid, size_t len);
uint64_t lh_user_member(const char *uid, size_t len, uint32_t i);

int lh_meta_set(uint64_t id, const char *k, size_t kl, const char *v, size_t vl);
const char *lh_meta_get(uint64_t id, const char *k, size_t kl, size_t *vl);
int lh_meta_del(uint64_t id, const char *k, size_t kl);

const char *lh_header(uint64_t id, const char *name, size_t nl, size_t *len);
const char *lh_target(uint64_t id, size_t *len);
int lh_remote_addr(uint64_t id, char *buf, size_t len);
double lh_connected_at(uint64_t id);
void lh_want_dropped(int on);

void lh_log(int level, uint64_t client, const char *msg, size_t len, const char *fields_json);
double lh_now(void);

#endif
