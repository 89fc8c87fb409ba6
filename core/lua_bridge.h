/* lua_bridge.h — the one place C calls into Lua. The script runs in a single lua_State
 * owned here; the Lua side (lua/luahub/init.lua) exposes dispatchers the core calls
 * (registered with the hub, the timers and plain HTTP by app.c) and reaches back into C
 * through the LuaJIT FFI (lh_api.h, implemented by script_api.c).
 * Hot reload loads the script into a fresh state and swaps only if it loaded and its
 * setup ran; C state (connections, queues) is untouched either way. */
#ifndef LUAHUB_LUA_BRIDGE_H
#define LUAHUB_LUA_BRIDGE_H

#include <stddef.h>
#include <stdint.h>


/* Loads script (and applies its config plus the JSON overrides). On failure returns -1
 * with a one-line cause in err ("hub.lua:12: ..." for syntax errors). */
int lua_bridge_load(const char *script, const char *overrides_json, char *err, size_t errlen);
/* Reloads the script given to lua_bridge_load; logs the outcome; 0 on success. */
int lua_bridge_reload(void);
void lua_bridge_shutdown(void);
/* The script being served (for the file watcher). */
const char *lua_bridge_script(void);

struct admission;
struct client;
struct conn;
struct frame;
struct http_req;

/* The hub's script events (struct hub_script_events). Each runs as a task (task.h) that
 * may wait: open, message and close return 1 when it does, admit sets ADMIT_LATER, and
 * the plain HTTP route returns CONN_ANSWER_LATER; the answer follows when it ends. */
void lua_bridge_admit(struct client *cl, const struct http_req *r, struct admission *a);
/* Whether the script has before_connect hooks (it says so when one is added and after
 * it loads): without one, an upgrade builds no request table for it. */
void lua_bridge_want_admit(int on);
int lua_bridge_on_open(struct client *cl);
int lua_bridge_on_message(struct client *cl, int opcode, const uint8_t *data, size_t len, int limited);
int lua_bridge_on_close(struct client *cl, int code, const char *reason);
void lua_bridge_on_dropped(uint64_t id, const uint8_t *data, size_t len, int binary);
/* The timer dispatcher (timer_on_fire). */
void lua_bridge_on_timer(uint32_t id, int once);
/* The plain HTTP side (struct serve_script): a route's response or NULL when none
 * matches; an authorized /api/ request; the script's own /metrics series. */
struct frame *lua_bridge_http(struct conn *c, const struct http_req *r);
struct frame *lua_bridge_api(struct conn *c, const struct http_req *r);
const char *lua_bridge_metrics_text(size_t *len);

#endif
