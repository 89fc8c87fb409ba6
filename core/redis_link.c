/* redis_link.c — see redis_link.h. */
#include "redis_link.h"

#include <ev.h>
#include <hiredis/adapters/libev.h>
#include <stdio.h>

redisAsyncContext *redis_link_open(const struct broker_url *u, void *data,
                                   redisConnectCallback *on_connect,
                                   redisDisconnectCallback *on_disconnect, char *err, size_t errlen)
{
    redisAsyncContext *ac = redisAsyncConnect(u->host, u->port);
    if (!ac) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(err, errlen, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = data;
    redisLibevAttach(EV_DEFAULT, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

int redis_link_auth(redisAsyncContext *ac, const struct broker_url *u, redisCallbackFn *cb,
                    void *privdata)
{
    if (!u->password[0]) return 0;
    if (u->user[0])
        redisAsyncCommand(ac, cb, privdata, "AUTH %s %s", u->user, u->password);
    else
        redisAsyncCommand(ac, cb, privdata, "AUTH %s", u->password);
    return 1;
}
