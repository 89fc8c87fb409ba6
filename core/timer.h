/* timer.h — hub.every / hub.after: libev timers that call back one function registered
 * at start-up (the script bridge's timer dispatcher) with their id. A timer belongs to the
 * Lua VM that created it (its generation); a reload cancels the old VM's timers once the
 * new one is in place. Ids are never reused within a run. */
#ifndef LUAHUB_TIMER_H
#define LUAHUB_TIMER_H

#include <stdint.h>

/* Who is called when a timer fires (once: it will not fire again). */
void timer_on_fire(void (*fire)(uint32_t id, int once));
/* After seconds, then every repeat seconds (0 = once). Returns an id > 0, 0 on failure. */
uint32_t timer_start(double after, double repeat);
void timer_cancel(uint32_t id);

/* Script time runs this many times as fast as real time would take it (--time-scale, for
 * specs: 0.01 makes a 30 s hub.every fire every 0.3 s); hub.every, hub.after and
 * hub.sleep durations go through timer_scaled. Default 1. */
void timer_set_scale(double scale);
double timer_scaled(double seconds);

void timer_set_generation(uint32_t generation);
void timer_cancel_generation(uint32_t generation);
void timer_cancel_all(void);

#endif
