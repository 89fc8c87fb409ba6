-- The C functions the core exports to Lua (core/hub.h, core/config.h), declared once.
-- Returns ffi.C; every other module calls the core through it.
local ffi = require "ffi"

ffi.cdef [[
int lh_send(uint64_t id, const char *data, size_t len, int binary);
int lh_close(uint64_t id, int code, const char *reason, size_t reason_len);
int lh_broadcast(const char *data, size_t len, int binary, uint64_t except_id);
uint32_t lh_count(void);
int lh_is_open(uint64_t id);
int lh_remote_addr(uint64_t id, char *buf, size_t len);
void lh_log(int level, uint64_t client, const char *msg, size_t len, const char *fields_json);
uint64_t lh_dropped_total(void);
double lh_now(void);
void lh_set_log(int level, int format);
int lh_config_set_number(const char *key, double value, char *err, size_t errlen);
int lh_config_set_string(const char *key, const char *value, char *err, size_t errlen);
int lh_config_add_string(const char *key, const char *value, char *err, size_t errlen);
void lh_config_clear_list(const char *key);
]]

return ffi.C
