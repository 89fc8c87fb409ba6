/* redis_reply.h — a hiredis reply as the Lua values hub.redis returns (docs/lua-api.md,
 * "hub.redis"): status and bulk strings as strings, integers as numbers, arrays as
 * tables (nested), nil as a light userdata NULL (the value of cjson.null and
 * hub.redis.null: a nil inside an array keeps its slot), and an error inside an array as
 * { err = message }. An error reply at the top is the caller's: it is a failure
 * (nil, "redis", message), not a value. */
#ifndef LUAHUB_REDIS_REPLY_H
#define LUAHUB_REDIS_REPLY_H

#include <hiredis/hiredis.h>
#include <stddef.h>

struct lua_State;

/* Pushes r as one value; raises a Lua error only if L cannot grow its stack. */
void redis_reply_push(struct lua_State *L, const redisReply *r);

/* About how many bytes of Lua memory r becomes: its strings plus a slot per element, so
 * a reply can be refused (too_large) before it is pushed. */
size_t redis_reply_bytes(const redisReply *r);

#endif
