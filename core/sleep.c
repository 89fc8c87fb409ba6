/* sleep.c — hub.sleep: the simplest operation a script waits on (task.h), a one-shot
 * timer on the loop. */
#include <ev.h>
#include <lua.h>
#include <stdlib.h>

#include "lh_api.h"
#include "lh_errors.h"
#include "task.h"
#include "timer.h"

struct sleeper {
    ev_timer timer;
    uint32_t wait;
};

static int push_true(lua_State *L, void *ctx)
{
    lua_pushboolean(L, 1);
    return 1;
}

static void woke(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sleeper *s = w->data;
    task_wake(s->wait, push_true, NULL);
    free(s);
}

int lh_sleep(double seconds)
{
    struct sleeper *s = malloc(sizeof *s);
    uint32_t wait = s ? task_wait_new() : 0;
    if (!wait) {
        free(s);
        return LH_ERR_NOMEM;
    }
    s->wait = wait;
    ev_timer_init(&s->timer, woke, seconds > 0 ? timer_scaled(seconds) : 0, 0);
    s->timer.data = s;
    ev_timer_start(EV_DEFAULT, &s->timer);
    return (int)wait;
}
