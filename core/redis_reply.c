/* redis_reply.c — see redis_reply.h. hiredis 0.14 parses at most 7 levels of nested
 * arrays, so the recursion is shallow. */
#include "redis_reply.h"

#include <lauxlib.h>
#include <lua.h>

/* What a table slot costs beyond its value, roughly (a TValue and its hash share). */
#define SLOT_BYTES 16

void redis_reply_push(struct lua_State *L, const redisReply *r)
{
    luaL_checkstack(L, 3, "redis reply nested too deep");
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        lua_pushlstring(L, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        lua_pushnumber(L, (lua_Number)r->integer);
        break;
    case REDIS_REPLY_ARRAY:
        lua_createtable(L, r->elements > (size_t)0x7fffffff ? 0 : (int)r->elements, 0);
        for (size_t i = 0; i < r->elements; i++) {
            redis_reply_push(L, r->element[i]);
            lua_rawseti(L, -2, (int)(i + 1));
        }
        break;
    case REDIS_REPLY_ERROR:
        lua_createtable(L, 0, 1);
        lua_pushlstring(L, r->str, r->len);
        lua_setfield(L, -2, "err");
        break;
    default:   /* REDIS_REPLY_NIL */
        lua_pushlightuserdata(L, NULL);
        break;
    }
}

size_t redis_reply_bytes(const redisReply *r)
{
    size_t n = SLOT_BYTES;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) n += redis_reply_bytes(r->element[i]);
    else if (r->type != REDIS_REPLY_INTEGER && r->type != REDIS_REPLY_NIL)
        n += r->len;
    return n;
}
