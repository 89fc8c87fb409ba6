/* task.h — scripts that wait. Every call into the script (a handler, a hook, a timer, an
 * HTTP route) runs as a task on a pooled Lua coroutine. A task that starts an operation
 * (an HTTP request, a Redis command, a sleep) takes a wait id from task_wait_new, and Lua
 * yields it (lua/luahub/wait.lua); the loop serves everyone else meanwhile. When the
 * operation ends, it calls task_wake once with a function that pushes its results onto
 * the waiting task's stack, and the task resumes where it yielded.
 *
 * Rules for an operation: it ends each wait exactly once (result, error, timeout or
 * cancellation; so every operation has a deadline), and never before the call that
 * started it has returned to Lua. A wake whose task is gone (the script raised between
 * starting the call and yielding) is dropped without calling push. */
#ifndef LUAHUB_TASK_H
#define LUAHUB_TASK_H

#include <stdint.h>

struct lua_State;

/* Pushes an operation's results onto L, the waiting task's stack; returns how many. */
typedef int (*task_push_fn)(struct lua_State *L, void *ctx);

/* A new wait id (> 0, below 2^31) for an operation the running script starts; 0 when out
 * of memory. */
uint32_t task_wait_new(void);
/* Ends a wait: push runs now (ctx may be freed when task_wake returns); the task resumes
 * now, or right after the script call in progress when there is one. */
void task_wake(uint32_t wait, task_push_fn push, void *ctx);
/* 1 while a task may still take the wake (an operation may give up early when not). */
int task_wait_alive(uint32_t wait);

#endif
