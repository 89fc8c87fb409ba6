/* task.c — the coroutines scripts run on, and the waits that park them (task.h).
 *
 * A task is resumed from C with lua_resume: it runs until it returns or yields a wait id
 * (lua/luahub/wait.lua). Coroutines are pooled per Lua state, so running a handler
 * allocates nothing once the pool is warm. A wait id indexes a slot of the wait table,
 * with a generation in its high bits so a late wake of a reused slot is told apart. */
#include "task.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>

#include "guard.h"
#include "log.h"
#include "metrics.h"

#define WAIT_SLOT_BITS 20
#define WAIT_SLOT_MASK ((1u << WAIT_SLOT_BITS) - 1)
#define WAIT_GEN_MASK 0x7ffu             /* 11 bits: ids stay below 2^31 */
#define POOL_MAX 256                     /* idle coroutines kept per state */

struct task_vm {
    lua_State *L;
    int threads;                 /* registry ref of wait.lua's thread set */
    struct task *pool;
    uint32_t pooled, parked;
    int retired;
};

struct task {
    lua_State *co;
    int ref;                     /* registry ref keeping co alive */
    struct task_vm *vm;
    struct task *next;           /* in the pool */
    const char *what;
    uint64_t subject;
    task_end_fn end;
    uint32_t wait;               /* the wait it is parked on; 0 while running or idle */
};

struct wait_slot {
    uint16_t gen;
    uint8_t live;                /* handed out and not yet woken */
    struct task *task;           /* parked on it; NULL until the task yields */
};

static struct wait_slot *waits;
static uint32_t *free_waits;
static uint32_t nfree_waits, waits_used, waits_cap;
static int in_script;            /* a resume is running: wakes must not re-enter */

/* ------------------------------------------------------------------ waits */

static struct wait_slot *wait_slot(uint32_t id)
{
    uint32_t slot = id & WAIT_SLOT_MASK;
    if (!id || slot >= waits_used || waits[slot].gen != (id >> WAIT_SLOT_BITS)) return NULL;
    return waits[slot].live ? &waits[slot] : NULL;
}

uint32_t task_wait_new(void)
{
    uint32_t slot;
    if (nfree_waits) {
        slot = free_waits[--nfree_waits];
    } else {
        if (waits_used > WAIT_SLOT_MASK) return 0;
        if (waits_used == waits_cap) {
            uint32_t cap = waits_cap ? waits_cap * 2 : 256;
            struct wait_slot *w = realloc(waits, cap * sizeof *w);
            if (!w) return 0;
            waits = w;
            uint32_t *f = realloc(free_waits, cap * sizeof *f);
            if (!f) return 0;
            free_waits = f;
            waits_cap = cap;
        }
        slot = waits_used++;
        waits[slot].gen = 0;
    }
    struct wait_slot *w = &waits[slot];
    w->gen = (uint16_t)((w->gen + 1) & WAIT_GEN_MASK);
    if (!w->gen) w->gen = 1;
    w->live = 1;
    w->task = NULL;
    return (uint32_t)w->gen << WAIT_SLOT_BITS | slot;
}

static void wait_free(struct wait_slot *w)
{
    w->live = 0;
    w->task = NULL;
    free_waits[nfree_waits++] = (uint32_t)(w - waits);
}

int task_wait_alive(uint32_t id) { return wait_slot(id) != NULL; }

/* ------------------------------------------------------------------ states */

struct task_vm *task_vm_new(lua_State *L, int threads)
{
    struct task_vm *vm = calloc(1, sizeof *vm);
    if (!vm) return NULL;
    vm->L = L;
    lua_pushvalue(L, threads);
    vm->threads = luaL_ref(L, LUA_REGISTRYINDEX);
    return vm;
}

uint32_t task_vm_waiting(const struct task_vm *vm) { return vm->parked; }

static void vm_close(struct task_vm *vm)
{
    while (vm->pool) {
        struct task *t = vm->pool;
        vm->pool = t->next;
        free(t);
    }
    guard_close_state(vm->L);
    free(vm);
}

void task_vm_retire(struct task_vm *vm)
{
    vm->retired = 1;
    if (vm->parked == 0) vm_close(vm);
    else log_info(0, "the previous script lives on until its %u waiting task(s) end", vm->parked);
}

/* ------------------------------------------------------------------ tasks */

struct task *task_new(struct task_vm *vm)
{
    struct task *t = vm->pool;
    if (t) {
        vm->pool = t->next;
        vm->pooled--;
        return t;
    }
    if (!(t = calloc(1, sizeof *t))) return NULL;
    lua_State *L = vm->L;
    t->co = lua_newthread(L);
    if (!t->co) {
        free(t);
        return NULL;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->threads);
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    t->vm = vm;
    return t;
}

lua_State *task_thread(struct task *t) { return t->co; }

/* A coroutine that failed (or was abandoned mid-function) cannot run again: let it go. */
static void task_drop(struct task *t)
{
    luaL_unref(t->vm->L, LUA_REGISTRYINDEX, t->ref);
    free(t);
}

void task_finish(struct task *t)
{
    struct task_vm *vm = t->vm;
    if (lua_status(t->co) != 0 || vm->retired || vm->pooled >= POOL_MAX) {
        task_drop(t);
    } else {
        lua_settop(t->co, 0);
        t->next = vm->pool;
        vm->pool = t;
        vm->pooled++;
    }
}

static void log_failure(struct task *t, const char *why)
{
    log_error(t->subject, "Lua %s failed: %s", t->what, why);
}

/* After a resume: parks the task on the wait id it yielded, or reports how it ended. */
static enum task_state settle(struct task *t, int rc)
{
    lua_State *co = t->co;
    if (rc == 0) return TASK_DONE;
    if (rc != LUA_YIELD) {
        const char *msg = lua_tostring(co, -1);
        luaL_traceback(t->vm->L, co, msg ? msg : "(error object is not a string)", 0);
        log_failure(t, lua_tostring(t->vm->L, -1));
        lua_pop(t->vm->L, 1);
        return TASK_FAILED;
    }
    uint32_t id = lua_gettop(co) == 1 && lua_type(co, 1) == LUA_TNUMBER ? (uint32_t)lua_tonumber(co, 1) : 0;
    struct wait_slot *w = wait_slot(id);
    if (!w || w->task) {
        /* a bare coroutine.yield in the task: it cannot be resumed with anything sensible */
        log_failure(t, "coroutine.yield() in a handler, hook, timer or route: only hub waits "
                       "(hub.sleep, hub.http.request, a Redis call) may yield the task");
        return TASK_FAILED;
    }
    lua_settop(co, 0);
    w->task = t;
    t->wait = id;
    t->vm->parked++;
    metrics.tasks_waiting++;
    return TASK_WAITING;
}

static enum task_state resume(struct task *t, int nargs)
{
    guard_enter(t->vm->L, t->what, t->subject);
    in_script = 1;
    int rc = lua_resume(t->co, nargs);
    in_script = 0;
    /* what a call that hit the memory budget left behind is garbage now: collect it, so
     * the next call does not start at the limit */
    if (guard_leave() & GUARD_OUT_OF_MEMORY) lua_gc(t->vm->L, LUA_GCCOLLECT, 0);
    return settle(t, rc);
}

enum task_state task_start(struct task *t, int nargs, const char *what, uint64_t subject,
                           task_end_fn end)
{
    t->what = what;
    t->subject = subject;
    t->end = end;
    return resume(t, nargs);
}

void task_wake(uint32_t id, task_push_fn push, void *ctx)
{
    struct wait_slot *w = wait_slot(id);
    if (!w) return;
    struct task *t = w->task;
    wait_free(w);
    if (!t) return;   /* the script raised before it yielded this wait */
    if (in_script) {
        /* the contract of task.h was broken: resuming here would nest inside a script call */
        log_error(t->subject, "internal error: a wait ended inside a script call; the %s is abandoned", t->what);
        t->vm->parked--;
        metrics.tasks_waiting--;
        return;
    }
    struct task_vm *vm = t->vm;
    t->wait = 0;
    vm->parked--;
    metrics.tasks_waiting--;
    int n = push(t->co, ctx);
    enum task_state st = resume(t, n);
    if (st == TASK_WAITING) return;
    task_end_fn end = t->end;
    uint64_t subject = t->subject;
    if (end) end(t->co, st == TASK_DONE, subject);
    task_finish(t);
    if (vm->retired && vm->parked == 0) vm_close(vm);
}
