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

void lua_bridge_on_open(struct conn *c);
void lua_bridge_on_message(struct conn *c, int opcode, const uint8_t *data, size_t len);
void lua_bridge_on_close(struct conn *c, int code);

#endif
