/* json_field_fuzz — lh_json_field against the decoder it stands in for.
 * Input: [name byte] [text...]; the name byte's low bit picks the member looked up,
 * "type" or "a" (a one-letter name also hits keys that share a prefix with it).
 * Findings, next to what the sanitizers see: lua-cjson's decode (cjson.safe, as
 * msg:json() calls it) of the same text disagreeing with a definite answer: a 1 whose
 * string is not the decoded object's member, or a 0 where the decoded object has the
 * member. -1 (the decoder decides) is always allowed. */
#include "fuzz.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

/* (text, name, result, value) -> true when the decoder agrees, else what it says. */
static const char json_field_fuzz_check[] =
    "local cjson = require 'cjson.safe'\n"
    "return function(text, name, r, v)\n"
    "  local d = cjson.decode(text)\n"
    "  local want = type(d) == 'table' and d[name] or nil\n"
    "  if r == 1 and want ~= v then return 'decoder: ' .. tostring(want) end\n"
    "  if r == 0 and want ~= nil then return 'decoder found ' .. tostring(want) end\n"
    "  return true\n"
    "end\n";

static lua_State *json_field_fuzz_L;

int fuzz_json_field(const uint8_t *data, size_t size)
{
    lua_State *L = json_field_fuzz_L;
    if (size < 1) return 0;
    if (!L) {
        L = json_field_fuzz_L = luaL_newstate();
        if (!L) fuzz_fail("luaL_newstate failed");
        luaL_openlibs(L);
        if (luaL_loadstring(L, json_field_fuzz_check) != 0 || lua_pcall(L, 0, 1, 0) != 0)
            fuzz_fail("json_field driver: %s", lua_tostring(L, -1));
        lua_setfield(L, LUA_REGISTRYINDEX, "json_field_fuzz_check");
    }
    const char *name = data[0] & 1 ? "a" : "type";
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    uint32_t span[2] = { 0, 0 };
    int r = lh_json_field(text, len, name, strlen(name), span);
    if (r < -1 || r > 1) fuzz_fail("result %d", r);
    if (r == 1 && (span[0] > len || span[1] > len - span[0]))
        fuzz_fail("value %u+%u past %zu", span[0], span[1], len);

    lua_getfield(L, LUA_REGISTRYINDEX, "json_field_fuzz_check");
    lua_pushlstring(L, text, len);
    lua_pushstring(L, name);
    lua_pushinteger(L, r);
    if (r == 1) lua_pushlstring(L, text + span[0], span[1]);
    else lua_pushnil(L);
    if (lua_pcall(L, 4, 1, 0) != 0) fuzz_fail("json_field driver: %s", lua_tostring(L, -1));
    if (!lua_toboolean(L, -1) || lua_type(L, -1) == LUA_TSTRING)
        fuzz_fail("lh_json_field said %d for %.*s; %s", r, (int)(len > 200 ? 200 : len), text,
                  lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_json_field(data, size); }
#endif
