/* lua_bridge.h — the one place C calls into Lua. The script runs in a single lua_State
 * owned here; the Lua side (lua/luahub/init.lua) exposes three dispatchers the core calls
 * (open, message, close) and reaches back into C through the LuaJIT FFI (hub.h).
 * Hot reload loads the script into a fresh state and swaps only if it loaded and its
 * setup ran; C state (connections, queues) is untouched either way. */
#ifndef LUAHUB_LUA_BRIDGE_H
#define LUAHUB_LUA_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

struct conn;

/* Loads script (and applies its config plus the JSON overrides). On failure returns -1
 * with a one-line cause in err ("hub.lua:12: ..." for syntax errors). */
int lua_bridge_load(const char *script, const char *overrides_json, char *err, size_t errlen);
/* Reloads the script given to lua_bridge_load; logs the outcome; 0 on success. */
int lua_bridge_reload(void);
void lua_bridge_shutdown(void);
/* The script being served (for the file watcher). */
const char *lua_bridge_script(void);

struct http_req;
struct frame;

void lua_bridge_on_open(struct conn *c);
/* limited: the message exceeded limits.message_rate; hooks see it, the handler does not. */
void lua_bridge_on_message(struct conn *c, int opcode, const uint8_t *data, size_t len, int limited);
void lua_bridge_on_close(struct conn *c, int code);
void lua_bridge_on_dropped(uint64_t id, const uint8_t *data, size_t len, int binary);
void lua_bridge_on_timer(uint32_t id, int once);
/* before_connect hooks: 0 to accept, else the HTTP status to refuse with (reason filled). */
int lua_bridge_before_connect(struct conn *c, const struct http_req *r, char *reason, size_t len);
/* GET /metrics: the core's series plus the script's (middleware.metrics). */
struct frame *lua_bridge_metrics(void);
/* An authorized /api/ request (publish, stats), answered by the Lua module. */
struct frame *lua_bridge_api(struct conn *c, const struct http_req *r);
/* A Lua HTTP route's response, or NULL when no route matches. */
struct frame *lua_bridge_http(struct conn *c, const struct http_req *r);

#endif
