/* guard.h — limits on the script: how long one call into Lua may run (script_timeout)
 * and how much memory a Lua state may hold (script_memory).
 *
 * Time: the bridge brackets every call into Lua with guard_enter/guard_leave. A watchdog
 * thread sees a call that runs past the budget and interrupts it (a signal to the loop's
 * thread sets a Lua hook that raises "script_timeout", and the state's allocations fail
 * once, which stops loops that allocate). LuaJIT runs no hooks inside compiled traces, so
 * a loop such as `while true do end` cannot be interrupted: when a call is still running
 * one more budget later, the watchdog logs what was running and where, and exits with
 * GUARD_EXIT_STATUS for the supervisor (systemd's Restart=, examples/deploy/) to start a fresh
 * process. Script loads run with the JIT off, so a script that loops at load is always
 * interrupted and a reload of it fails without taking the process down.
 *
 * Memory: each Lua state gets guard_alloc, which refuses growth past the budget (Lua
 * raises "not enough memory" in the script; the server keeps running). */
#ifndef LUAHUB_GUARD_H
#define LUAHUB_GUARD_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#define GUARD_EXIT_STATUS 3

/* Starts the watchdog thread (once); call from the loop's thread. */
int guard_start(char *err, size_t errlen);
/* The budgets (seconds, 0 = no time limit; bytes, 0 = no memory limit); a reload may
 * change them. */
void guard_configure(double seconds, size_t memory);

/* A Lua state whose allocations count against the memory budget. NULL when out of memory. */
lua_State *guard_new_state(void);
/* Closes a state made by guard_new_state. */
void guard_close_state(lua_State *L);
/* Bytes the state holds. */
size_t guard_state_bytes(lua_State *L);

/* A call into L starts: what it is ("message handler", "timer", ...) and the client id it
 * is for (0 if none). Calls do not nest. */
void guard_enter(lua_State *L, const char *what, uint64_t client);
/* The call returned: whether it was interrupted for running past the time budget, and
 * whether an allocation was refused for the memory budget (both are logged). */
#define GUARD_TIMED_OUT 1
#define GUARD_OUT_OF_MEMORY 2
int guard_leave(void);
/* A stop signal arrived (async-signal-safe): a call running now is interrupted at once,
 * and if it cannot be, the process exits a second later. */
void guard_stop_requested(void);
/* The script location about to run ("hub.lua:12"), for the report. Kept, not copied:
 * it must live as long as the call it names (a Lua string the script holds). */
void guard_where(const char *location);

#endif
