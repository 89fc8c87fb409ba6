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

/* ------------------------------------------------------------------ for the bridge */

/* The tasks of one Lua state: a pool of coroutines and the count of tasks parked. A
 * reloaded script's old state is retired: it lives until its last parked task ends. */
struct task_vm;
/* threads: index on L's stack of the table the new coroutines are registered in
 * (lua/luahub/wait.lua's threads), so the script can tell a task from anything else. */
struct task_vm *task_vm_new(struct lua_State *L, int threads);
/* Closes the state now if no task waits, else when the last one ends. */
void task_vm_retire(struct task_vm *vm);
/* Tasks parked in vm. */
uint32_t task_vm_waiting(const struct task_vm *vm);

struct task;
/* Ends a task that waited: ok = 0 when it failed (the error is logged); else its results
 * are on co's stack. subject is what task_start was given. */
typedef void (*task_end_fn)(struct lua_State *co, int ok, uint64_t subject);

/* A coroutine of vm to run a task on (NULL when out of memory): push the function and its
 * arguments onto task_thread(t), then call task_start. */
struct task *task_new(struct task_vm *vm);
struct lua_State *task_thread(struct task *t);

enum task_state { TASK_DONE, TASK_FAILED, TASK_WAITING };
/* Runs t with nargs arguments. TASK_DONE: its results are on task_thread(t)'s stack, and
 * the caller calls task_finish when it has read them. TASK_FAILED: logged, the caller
 * calls task_finish. TASK_WAITING: parked; end runs when it finishes (what and subject
 * name it in logs and for the guard), and t is finished then. */
enum task_state task_start(struct task *t, int nargs, const char *what, uint64_t subject,
                           task_end_fn end);
void task_finish(struct task *t);

#endif
