/* redis_reply_test — redis_reply_push and redis_reply_bytes on replies built by hand:
 * each reply type's Lua value, nesting, binary strings, nil keeping its array slot. */
#include "redis_reply.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>

#include "check.h"

static redisReply str(int type, const char *s, size_t len)
{
    return (redisReply){ .type = type, .str = (char *)s, .len = len };
}

int main(void)
{
    lua_State *L = luaL_newstate();
    redisReply status = str(REDIS_REPLY_STATUS, "OK", 2);
    redisReply bulk = str(REDIS_REPLY_STRING, "a\0b\r\n", 5);
    redisReply err = str(REDIS_REPLY_ERROR, "ERR inner", 9);
    redisReply num = { .type = REDIS_REPLY_INTEGER, .integer = -42 };
    redisReply big = { .type = REDIS_REPLY_INTEGER, .integer = 1LL << 53 };
    redisReply nil = { .type = REDIS_REPLY_NIL };

    redis_reply_push(L, &status);
    CHECK(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "OK") == 0, "status -> string");
    size_t len;
    redis_reply_push(L, &bulk);
    const char *s = lua_tolstring(L, -1, &len);
    CHECK(len == 5 && memcmp(s, "a\0b\r\n", 5) == 0, "bulk -> the same bytes, NUL included");
    redis_reply_push(L, &num);
    CHECK(lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) == -42, "integer -> number");
    redis_reply_push(L, &big);
    CHECK(lua_tonumber(L, -1) == 9007199254740992.0, "2^53 is exact");
    redis_reply_push(L, &nil);
    CHECK(lua_type(L, -1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == NULL,
          "nil -> light userdata NULL (cjson.null)");
    lua_settop(L, 0);

    /* { 1, { "a\0b\r\n", NULL }, { err = "ERR inner" } } */
    redisReply *inner_el[] = { &bulk, &nil };
    redisReply inner = { .type = REDIS_REPLY_ARRAY, .elements = 2, .element = inner_el };
    redisReply *outer_el[] = { &num, &inner, &err };
    redisReply outer = { .type = REDIS_REPLY_ARRAY, .elements = 3, .element = outer_el };
    redis_reply_push(L, &outer);
    CHECK(lua_type(L, 1) == LUA_TTABLE && lua_objlen(L, 1) == 3, "array -> a table of its length");
    lua_rawgeti(L, 1, 2);
    CHECK(lua_type(L, -1) == LUA_TTABLE && lua_objlen(L, -1) == 2, "a nested array is a table");
    lua_rawgeti(L, -1, 2);
    CHECK(lua_type(L, -1) == LUA_TLIGHTUSERDATA, "nil keeps its slot in an array");
    lua_settop(L, 1);
    lua_rawgeti(L, 1, 3);
    lua_getfield(L, -1, "err");
    CHECK(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "ERR inner") == 0,
          "an error inside an array -> { err = message }");
    lua_settop(L, 0);

    redisReply empty = { .type = REDIS_REPLY_ARRAY, .elements = 0 };
    redis_reply_push(L, &empty);
    CHECK(lua_type(L, -1) == LUA_TTABLE && lua_objlen(L, -1) == 0, "an empty array -> {}");

    CHECK(redis_reply_bytes(&bulk) > 5 && redis_reply_bytes(&outer) > redis_reply_bytes(&inner) +
          redis_reply_bytes(&err), "bytes grow with the strings and slots a reply holds");
    lua_close(L);
    return check_summary();
}
