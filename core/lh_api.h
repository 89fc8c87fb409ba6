/* lh_api.h — every C function a script reaches through the LuaJIT FFI, and nothing else.
 * This header is the one source of the C-Lua contract: the core's definitions include it
 * (so the compiler checks them against it) and scripts/gen_contract.lua turns it into the
 * ffi.cdef of lua/luahub/contract.lua. It holds plain C declarations only (no macros, no
 * other includes), so the FFI can parse it as written.
 *
 * Ids are client ids (see conn.h); an int result is >= 0 on success or a negative
 * enum lh_err code (lh_errors.h). Strings come as (pointer, length) pairs, not
 * NUL-terminated; a returned const char * stays valid until the next call into the core. */
#ifndef LUAHUB_LH_API_H
#define LUAHUB_LH_API_H

#include <stddef.h>
#include <stdint.h>

/* sends: binary selects the opcode; text must be valid UTF-8; except lists ids to skip;
 * fan-outs return the number of recipients queued */
int lh_send(uint64_t id, const char *data, size_t len, int binary);
int lh_broadcast(const char *data, size_t len, int binary, const uint64_t *except, size_t nexcept);
int lh_to_room(const char *room, size_t rlen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept);
int lh_to_user(const char *uid, size_t ulen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept);
int lh_close(uint64_t id, int code, const char *reason, size_t reason_len);
int lh_is_open(uint64_t id);
uint32_t lh_count(void);
void lh_want_dropped(int on);
void lh_want_admit(int on);

/* rooms */
int lh_join(uint64_t id, const char *room, size_t len);
int lh_leave(uint64_t id, const char *room, size_t len);
int lh_leave_all(uint64_t id);
void lh_detach(uint64_t id);
int lh_in_room(uint64_t id, const char *room, size_t len);
int lh_client_rooms(uint64_t id);
const char *lh_client_room(uint64_t id, int i, size_t *len);
int lh_room_size(const char *room, size_t len);
uint64_t lh_room_member(const char *room, size_t len, uint32_t i);
uint32_t lh_room_total(void);
size_t lh_room_names(char *buf, size_t cap);
/* presence: this node's user ids (as lh_room_names) and client ids (up to cap; returns how
 * many there are); a room's members on every live node as records (u64 client id, u16
 * user id length, user id, u8 node index as lh_cluster_node counts), host byte order, as
 * far as they fit in cap; returns the bytes needed */
size_t lh_user_names(char *buf, size_t cap);
size_t lh_client_ids(uint64_t *ids, size_t cap);
size_t lh_presence(const char *room, size_t len, uint8_t *buf, size_t cap);

/* users and metadata */
int lh_set_user(uint64_t id, const char *uid, size_t len);
const char *lh_user_of(uint64_t id, size_t *len);
int lh_user_size(const char *uid, size_t len);
uint64_t lh_user_member(const char *uid, size_t len, uint32_t i);
int lh_meta_set(uint64_t id, const char *k, size_t kl, const char *v, size_t vl);
const char *lh_meta_get(uint64_t id, const char *k, size_t kl, size_t *vl);
int lh_meta_del(uint64_t id, const char *k, size_t kl);

/* the upgrade request and the peer */
const char *lh_header(uint64_t id, const char *name, size_t nl, size_t *len);
const char *lh_target(uint64_t id, size_t *len);
int lh_remote_addr(uint64_t id, char *buf, size_t len);
double lh_connected_at(uint64_t id);

/* cluster (single node: the node id is "", nothing is remote, counts are local) */
/* configured: the script's cluster.node_id when it set one (its config may not be applied
 * yet), else NULL */
const char *lh_node_id(const char *configured);
int lh_is_remote(uint64_t id);
double lh_global_count(void);
double lh_global_room_count(const char *room, size_t len);
int lh_cluster_nodes(void);
const char *lh_cluster_node(int i, size_t *len, double *clients, double *rooms, double *age);

/* timers: ids > 0; the core calls back the script's timer dispatcher */
uint32_t lh_timer_start(double after, double repeat);
void lh_timer_cancel(uint32_t id);

/* waits (task.h): an operation a script waits on returns a wait id (> 0) for the task to
 * yield, or a negative enum lh_err */
int lh_sleep(double seconds);

/* outbound HTTP (outbound_http.h), a wait like lh_sleep; headers is a block of
 * "Name: value\r\n" lines, body NULL for none, timeout <= 0 for outbound.timeout */
int lh_http_request(const char *method, size_t method_len, const char *url, size_t url_len,
                    const char *headers, size_t headers_len, const char *body, size_t body_len,
                    double timeout);

/* shared dictionaries (shdict.h), named by the index lh_shared_declare returns; ints are
 * >= 0 or a negative enum lh_err as everywhere. A value's type: 0 none, 1 string, 2
 * number, 3 boolean (in num as 0 or 1); a store's mode: 0 set, 1 add, 2 replace, evicting
 * least recently used keys when evict is 1 (it returns 1 when it did). Expiries are
 * seconds from now (the loop's clock), 0 for none. lh_shared_declared ends a config's
 * declarations: the dictionaries it did not declare are hidden from the script. */
int lh_shared_declare(const char *name, size_t len, uint64_t bytes);
void lh_shared_declared(void);
int lh_shared_get(int d, const char *key, size_t klen, const char **str, size_t *len, double *num,
                  uint32_t *flags);
int lh_shared_set(int d, const char *key, size_t klen, int type, const char *str, size_t len,
                  double num, uint32_t flags, double ttl, int mode, int evict);
int lh_shared_incr(int d, const char *key, size_t klen, double by, const double *init,
                   double init_ttl, double *value);
int lh_shared_delete(int d, const char *key, size_t klen);
int lh_shared_ttl(int d, const char *key, size_t klen, double *left);
int lh_shared_expire(int d, const char *key, size_t klen, double ttl);
int lh_shared_flush_all(int d);
int lh_shared_flush_expired(int d, uint32_t max);
/* live keys from the most recently used: *cursor 0 starts; NULL at the end */
const char *lh_shared_next_key(int d, uint32_t *cursor, size_t *len);
double lh_shared_free_space(int d);
double lh_shared_capacity(int d);

/* process: logs, clocks, state, counters */
void lh_log(int level, uint64_t client, const char *msg, size_t len, const char *fields_json);
void lh_set_log(int level, int format);
double lh_now(void);
double lh_clock(void);
double lh_uptime(void);
int lh_draining(void);
uint64_t lh_heap_bytes(void);
void lh_count_error(const char *type);
/* the script location about to run, for a script_timeout report; kept, not copied: the
 * string must live while the function it names runs */
void lh_guard_where(const char *location);

/* settings, by their path in config_keys.h ("send_queue.policy"): 0, or -1 with a message
 * naming the key in err. A number sets a boolean, count, bytes, positive, seconds or rate
 * key; a string a string-like or enum key, or origins' "same" / "*"; lists (origins,
 * strings) are cleared, then given one entry at a time. */
int lh_config_set_number(const char *key, double value, char *err, size_t errlen);
int lh_config_set_string(const char *key, const char *value, char *err, size_t errlen);
int lh_config_add_string(const char *key, const char *value, char *err, size_t errlen);
void lh_config_clear_list(const char *key);

/* hub.redis (outbound_redis.c): one connection per distinct URL, kept across reloads.
 * open returns its handle (>= 0), or -1 with the cause in err. call starts one command
 * (arguments with their lengths, binary-safe; timeout <= 0: outbound.timeout) and returns
 * the wait id the script yields (> 0), LH_ERR_BAD_ARG for a command that would change the
 * state of the shared connection (pub/sub, MONITOR, transactions, SELECT), or
 * LH_ERR_CLOSED after the shutdown. */
int lh_redis_open(const char *url, size_t len, char *err, size_t errlen);
int lh_redis_call(int client, int argc, const char **argv, const size_t *lens, double timeout);
/* The Redis Cluster hash slot (0..16383) of a key (redis_slot.h), for hub.redis on a
 * Redis Cluster (lua/luahub/redis_cluster.lua). */
int lh_redis_slot(const char *key, size_t len);

/* requests over the cluster's NATS connection (outbound_nats.c; JetStream's API for room
 * history): n requests (subjects and payloads with their lengths, copied before it
 * returns; n at most 4096) written at once; returns the wait id the script yields (> 0):
 * it resumes with a table of the n answers (a string, or the status number of an answer
 * without a payload: 503 when nothing listens on the subject) or nil, code, detail
 * (connect, timeout, closed, busy, too_large). LH_ERR_BAD_ARG for no request, too many
 * or a subject with blanks; LH_ERR_CLOSED after the shutdown. timeout <= 0:
 * outbound.timeout. */
int lh_nats_request(uint32_t n, const char **subjects, const size_t *slens, const char **data,
                    const size_t *lens, double timeout);
/* how many times the NATS connection was lost (or an attempt failed) since the first
 * lh_nats_* call: what a node learnt from the server (a stream's epoch) holds while this
 * stays the same */
uint32_t lh_nats_losses(void);

/* room history (history.h; docs/lua-api.md, "History"): positions are (epoch, offset).
 * bounds: the room's size (0: no history) and *ttl as the config gives them. append (this
 * process's history only) stores a publication: LH_OK, LH_ERR_BAD_ARG when the room has no
 * history, LH_ERR_NOMEM. read: the publications after (epoch, since), or with epoch NULL
 * the last limit ones (0: all kept); their count, or LH_ERR_UNRECOVERABLE. Both leave the
 * room's position for lh_history_position (the epoch, NUL-terminated) and read's entries
 * for lh_history_entry (i from 0; NULL past them), valid until the next call into the core.
 * count: the metrics, event 0 an append, 1 a recovery served, 2 an unrecoverable one.
 * broker: the running cluster's URL and channel prefix, where the history lives then;
 * NULL on a single node. */
uint32_t lh_history_bounds(const char *room, size_t len, double *ttl);
int lh_history_append(const char *room, size_t rlen, const char *data, size_t len, int binary);
int lh_history_read(const char *room, size_t rlen, const char *epoch, size_t elen, uint64_t since,
                    uint32_t limit);
const char *lh_history_position(uint64_t *offset);
const char *lh_history_entry(uint32_t i, uint64_t *offset, int *binary, size_t *len);
void lh_history_count(int event);
const char *lh_history_broker(const char **prefix);
/* history.rooms: rules are cleared, then given one at a time (history_policy.h); a size
 * or ttl of -1 is the default's. LH_ERR_BAD_ARG for a `*` before the end. */
void lh_history_rules_clear(void);
int lh_history_rule(const char *name, size_t len, double size, double ttl);
/* watch: the members of core room PREFIX..R also keep room R's history position (the room
 * protocol's subscribers). LH_ERR_BAD_ARG for an empty prefix, one of 32 bytes or more, or
 * past 8 prefixes (kept for the process's life, across reloads). */
int lh_history_watch(const char *prefix, size_t len);

/* a file compiled into the binary beside the runtime modules, by its name under lua/
 * ("luahub/protocol/luahub.js"): its bytes (size in *size), or NULL */
const char *lh_embedded_file(const char *name, size_t len, size_t *size);

/* encodings: strict base64 (RFC 4648: standard alphabet, "=" only as the last one or two
 * characters, length a multiple of 4) into out, which holds len / 4 * 3 bytes; the decoded
 * length goes to *outlen. 0, or LH_ERR_BAD_ARG for anything else. */
int lh_base64_decode(const char *in, size_t len, char *out, size_t *outlen);
/* 1 when s is valid UTF-8, else 0 */
int lh_utf8_valid(const char *s, size_t len);
/* a top-level member of a JSON object, read without decoding the rest (json_field.c):
 * 1 when the text is an object whose last member named name is a string without escapes,
 * its bytes at text + span[0], span[1] long; 0 when the decoder could not find such a
 * member (the text is not an object, or an object without it); -1 when only a decode can
 * tell (malformed or unusual text, escapes, a value of another type, 4 GiB or more).
 * 32-bit span: the FFI hands those to Lua as plain numbers, where size_t would be boxed. */
int lh_json_field(const char *text, size_t len, const char *name, size_t nlen, uint32_t *span);

#endif
