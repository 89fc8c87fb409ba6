/* timer.h — hub.every / hub.after: libev timers whose callbacks run in Lua. A timer
 * belongs to the Lua VM that created it (its generation); a reload cancels the old
 * VM's timers once the new one is in place. Ids are never reused within a run. */
#ifndef LUAHUB_TIMER_H
#define LUAHUB_TIMER_H

#include <stdint.h>

/* FFI: after seconds, then every repeat seconds (0 = once). Returns an id > 0, 0 on failure. */

void timer_set_generation(uint32_t generation);
void timer_cancel_generation(uint32_t generation);
void timer_cancel_all(void);

#endif
