-- The C functions the core exports to Lua (core/hub.h, core/timer.h, core/config.h,
-- core/log.h, core/cluster.h), declared once. Returns ffi.C; every other module calls the core through it.
local ffi = require "ffi"

ffi.cdef [[
int lh_send(uint64_t id, const char *data, size_t len, int binary);
int lh_broadcast(const char *data, size_t len, int binary, const uint64_t *except, size_t nexcept);
int lh_to_room(const char *room, size_t rlen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept);
int lh_to_user(const char *uid, size_t ulen, const char *data, size_t len, int binary,
               const uint64_t *except, size_t nexcept);
int lh_close(uint64_t id, int code, const char *reason, size_t reason_len);
int lh_is_open(uint64_t id);
uint32_t lh_count(void);

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
void lh_set_log(int level, int format);
void lh_count_error(const char *type);
uint64_t lh_heap_bytes(void);
double lh_clock(void);
double lh_uptime(void);
int lh_draining(void);

const char *lh_node_id(void);
int lh_is_remote(uint64_t id);
double lh_global_count(void);
double lh_global_room_count(const char *room, size_t len);
int lh_cluster_nodes(void);
const char *lh_cluster_node(int i, size_t *len, double *clients, double *rooms, double *age);

uint32_t lh_timer_start(double after, double repeat);
void lh_timer_cancel(uint32_t id);

int lh_config_set_number(const char *key, double value, char *err, size_t errlen);
int lh_config_set_string(const char *key, const char *value, char *err, size_t errlen);
int lh_config_add_string(const char *key, const char *value, char *err, size_t errlen);
void lh_config_clear_list(const char *key);
]]

return ffi.C
