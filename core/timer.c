#include "timer.h"

#include <ev.h>
#include <stdlib.h>

struct timer {
    ev_timer w;
    uint32_t id, generation;
    struct timer *prev, *next;
};

static struct timer *timers;
static uint32_t next_id = 1, current_generation;
static void (*on_fire)(uint32_t id, int once);
static double scale = 1;

void timer_set_scale(double s) { scale = s; }
double timer_scaled(double seconds) { return seconds * scale; }

void timer_on_fire(void (*fire)(uint32_t id, int once)) { on_fire = fire; }

static void unlink_free(struct timer *t)
{
    ev_timer_stop(EV_DEFAULT, &t->w);
    if (t->prev) t->prev->next = t->next;
    else timers = t->next;
    if (t->next) t->next->prev = t->prev;
    free(t);
}

static void fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct timer *t = w->data;
    uint32_t id = t->id;
    int once = w->repeat == 0;
    if (once) unlink_free(t);   /* before the call: the callback may start new timers */
    if (on_fire) on_fire(id, once);
}

uint32_t timer_start(double after, double repeat)
{
    struct timer *t = calloc(1, sizeof *t);
    if (!t) return 0;
    t->id = next_id++;
    t->generation = current_generation;
    ev_timer_init(&t->w, fire, after < 0 ? 0 : timer_scaled(after), repeat < 0 ? 0 : timer_scaled(repeat));
    t->w.data = t;
    ev_timer_start(EV_DEFAULT, &t->w);
    t->next = timers;
    if (timers) timers->prev = t;
    timers = t;
    return t->id;
}

void timer_cancel(uint32_t id)
{
    for (struct timer *t = timers; t; t = t->next)
        if (t->id == id) {
            unlink_free(t);
            return;
        }
}

void timer_set_generation(uint32_t generation) { current_generation = generation; }

void timer_cancel_generation(uint32_t generation)
{
    struct timer *t = timers;
    while (t) {
        struct timer *next = t->next;
        if (t->generation == generation) unlink_free(t);
        t = next;
    }
}

void timer_cancel_all(void)
{
    while (timers) unlink_free(timers);
}
