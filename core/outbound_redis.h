/* outbound_redis.h — hub.redis: Redis servers a script calls and waits on
 * (lua/luahub/redis_client.lua; the lh_redis_* functions of lh_api.h are defined here).
 *
 * One hiredis async connection per distinct URL, on the process's loop, pipelined: every
 * call is written at once behind the others and replies come back in order. A connection
 * lives for the process, so a reload that asks for the same URL gets it back without
 * reconnecting. It connects on the loop (AUTH and SELECT first), and after a failure or
 * a loss tries again after a backoff (backoff.h). Calls made while an attempt is under
 * way are held and sent once it succeeds; calls made while it waits out a backoff fail
 * at once with `connect`; calls in flight when it is lost fail with `closed`. Every call
 * has a deadline (`timeout`); a reply that comes after it is discarded. */
#ifndef LUAHUB_OUTBOUND_REDIS_H
#define LUAHUB_OUTBOUND_REDIS_H

/* Ends every call still waiting with `closed`, then closes and frees every connection;
 * later calls fail with `closed`. Call it once, at exit, from C (not from inside a
 * script call): the waiting tasks resume from here, while the Lua state still exists. */
void outbound_redis_shutdown(void);

#endif
