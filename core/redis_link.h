/* redis_link.h — a hiredis async connection on the process's loop, as the cluster's
 * Redis adapter and hub.redis both open one: non-blocking connect to a parsed URL's
 * numeric host, the libev adapter on EV_DEFAULT, and the AUTH a URL with a password
 * needs. hiredis 0.14 has no connect timeout of its own: callers keep one. */
#ifndef LUAHUB_REDIS_LINK_H
#define LUAHUB_REDIS_LINK_H

#include <hiredis/async.h>
#include <stddef.h>

#include "broker_url.h"

/* A context connecting to u, with data set and both callbacks registered; NULL with the
 * cause in err when the connect could not even start (no memory, no socket, or refused
 * at once, as a loopback port nobody listens on is). */
redisAsyncContext *redis_link_open(const struct broker_url *u, void *data,
                                   redisConnectCallback *on_connect,
                                   redisDisconnectCallback *on_disconnect, char *err, size_t errlen);

/* Sends AUTH ([user] password) when u has a password: 1 (its reply goes to cb), else 0. */
int redis_link_auth(redisAsyncContext *ac, const struct broker_url *u, redisCallbackFn *cb,
                    void *privdata);

#endif
