#include "guard.h"

#include <lauxlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* What a state's allocations are counted in; the allocator's user data. The state keeps
 * LuaJIT's own allocator (faster than malloc for the VM's many small objects): ours
 * counts and refuses, then forwards to it. */
struct heap {
    size_t bytes;
    lua_Alloc alloc;
    void *alloc_ud;
};

/* Written by the loop's thread, read by the watchdog. A call is identified by its
 * sequence number so that an interrupt meant for one call never hits the next. */
static _Atomic uint64_t call_seq;
static _Atomic uint64_t entered_ns;          /* 0: no call into Lua is running */
static _Atomic uint64_t interrupt_seq;       /* the call the watchdog asked to interrupt */
static _Atomic uint64_t budget_ns;
static _Atomic int stop_requested;
static _Atomic(const char *) running_what;
static _Atomic uint64_t running_client;
/* The script location being run: a string of the Lua state's own, kept alive by the
 * function it names, which is running whenever this is read (the report is built while
 * that call is stuck, or copied into stopped_where when it is interrupted). */
static const char *_Atomic running_where;

/* Loop thread only. */
static lua_State *running_L;
static struct heap *running_heap;
static size_t memory_limit;
static volatile sig_atomic_t interrupting;   /* armed by the signal; the hook or a failed
                                              * allocation, whichever comes first, ends
                                              * the call and disarms it */
static int timed_out, out_of_memory;
/* running_where when the call was interrupted (its error handling may note others) */
static char stopped_where[256];

static void note_stopped_where(void)
{
    const char *w = atomic_load(&running_where);
    snprintf(stopped_where, sizeof stopped_where, "%s", w ? w : "?");
}

#define STOP_BUDGET_NS 500000000u   /* 0.5 s: interrupt, then exit at twice that */

static pthread_t loop_thread;
static int started;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void guard_configure(double seconds, size_t memory)
{
    atomic_store(&budget_ns, seconds > 0 ? (uint64_t)(seconds * 1e9) : 0);
    memory_limit = memory;
}

/* ------------------------------------------------------------------ memory */

static void *guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct heap *h = ud;
    if (nsize == 0) {
        h->bytes -= osize;
        return h->alloc(h->alloc_ud, ptr, osize, 0);
    }
    if (nsize > osize) {
        /* an interrupted call that allocates fails here even inside a compiled loop */
        if (interrupting && h == running_heap) {
            interrupting = 0;
            timed_out = 1;
            note_stopped_where();
            return NULL;
        }
        if (memory_limit && h->bytes + (nsize - osize) > memory_limit) {
            if (h == running_heap && !out_of_memory) {
                out_of_memory = 1;
                note_stopped_where();
            }
            return NULL;
        }
    }
    void *p = h->alloc(h->alloc_ud, ptr, osize, nsize);
    if (p) h->bytes = h->bytes - osize + nsize;
    return p;
}

lua_State *guard_new_state(void)
{
    struct heap *h = calloc(1, sizeof *h);
    lua_State *L = h ? luaL_newstate() : NULL;
    if (!L) {
        free(h);
        return NULL;
    }
    h->alloc = lua_getallocf(L, &h->alloc_ud);
    h->bytes = (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
    lua_setallocf(L, guard_alloc, h);
    return L;
}

size_t guard_state_bytes(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ((struct heap *)ud)->bytes;
}

void guard_close_state(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    struct heap *h = ud;
    /* LuaJIT frees its allocator's arena with the state only when the state still uses
     * that allocator; with ours in place it would free the blocks and keep the arena */
    lua_setallocf(L, h->alloc, h->alloc_ud);
    lua_close(L);
    free(h);
}

/* ------------------------------------------------------------------ time */

/* Whichever comes first ends the call: this hook, or a failed allocation (which disarms
 * the hook, so the script's error handling then runs undisturbed). */
static void timeout_hook(lua_State *L, lua_Debug *ar)
{
    lua_sethook(L, NULL, 0, 0);
    if (!interrupting) return;
    interrupting = 0;
    timed_out = 1;
    note_stopped_where();
    /* what runs after the error (the script's own error handling) gets a new budget */
    atomic_store(&entered_ns, now_ns());
    double budget = (double)atomic_load(&budget_ns) / 1e9;
    lua_getinfo(L, "Sl", ar);
    luaL_error(L, "script_timeout: ran longer than %.1fs (at %s:%d)", budget, ar->short_src,
               ar->currentline);
}

/* The watchdog's signal, on the loop's thread: the hook runs at the next instruction the
 * interpreter executes. */
static void on_interrupt(int sig)
{
    if (!running_L || atomic_load(&interrupt_seq) != atomic_load(&call_seq)) return;
    interrupting = 1;
    lua_sethook(running_L, timeout_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

void guard_stop_requested(void) { atomic_store(&stop_requested, 1); }

static void *watch(void *arg)
{
    for (;;) {
        struct timespec tick = { 0, 50 * 1000 * 1000 };
        nanosleep(&tick, NULL);
        uint64_t budget = atomic_load(&budget_ns), since = atomic_load(&entered_ns);
        /* stopping: no call gets more than a second; none is left running past it */
        if (atomic_load(&stop_requested) && (!budget || budget > STOP_BUDGET_NS)) budget = STOP_BUDGET_NS;
        if (!budget || !since) continue;
        uint64_t seq = atomic_load(&call_seq), ran = now_ns() - since;
        if (ran > 2 * budget) {
            uint64_t client = atomic_load(&running_client);
            const char *where = atomic_load(&running_where);
            log_msg(LOG_ERROR, client,
                    "script_timeout: the %s at %s has run for %.1fs and cannot be interrupted (a "
                    "JIT-compiled loop): exiting with status %d for the supervisor to restart the server",
                    atomic_load(&running_what), where ? where : "?",
                    (double)ran / 1e9, GUARD_EXIT_STATUS);
            _exit(GUARD_EXIT_STATUS);
        }
        if (ran > budget && atomic_load(&interrupt_seq) != seq) {
            atomic_store(&interrupt_seq, seq);
            pthread_kill(loop_thread, SIGURG);
        }
    }
    return NULL;
}

int guard_start(char *err, size_t errlen)
{
    if (started) return 0;
    loop_thread = pthread_self();
    struct sigaction sa = { .sa_handler = on_interrupt };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGURG, &sa, NULL);
    /* the watchdog takes no signal meant for the loop (SIGTERM, SIGHUP, ...) */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t t;
    int rc = pthread_create(&t, NULL, watch, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the script watchdog: %s", strerror(rc));
        return -1;
    }
    pthread_detach(t);
    started = 1;
    return 0;
}

void guard_enter(lua_State *L, const char *what, uint64_t client)
{
    void *ud;
    lua_getallocf(L, &ud);
    running_L = L;
    running_heap = ud;
    timed_out = out_of_memory = 0;
    atomic_store(&running_where, NULL);
    stopped_where[0] = 0;
    atomic_store(&running_what, what);
    atomic_store(&running_client, client);
    atomic_fetch_add(&call_seq, 1);
    atomic_store(&entered_ns, now_ns());
}

int guard_leave(void)
{
    atomic_store(&entered_ns, 0);
    if (interrupting || timed_out) lua_sethook(running_L, NULL, 0, 0);
    interrupting = 0;
    running_L = NULL;
    running_heap = NULL;
    int result = (timed_out ? GUARD_TIMED_OUT : 0) | (out_of_memory ? GUARD_OUT_OF_MEMORY : 0);
    timed_out = out_of_memory = 0;
    const char *what = atomic_load(&running_what), *where = stopped_where[0] ? stopped_where : "?";
    uint64_t client = atomic_load(&running_client);
    if ((result & GUARD_TIMED_OUT) && atomic_load(&stop_requested))
        log_warn(client, "script_timeout: the %s at %s was interrupted: the server is stopping", what, where);
    else if (result & GUARD_TIMED_OUT)
        log_warn(client, "script_timeout: the %s at %s ran longer than %.1fs and was interrupted",
                 what, where, (double)atomic_load(&budget_ns) / 1e9);
    if (result & GUARD_OUT_OF_MEMORY) {
        static struct log_limit lim;
        log_limited(&lim, LOG_WARN, client, "script_memory: the %s at %s reached the %zu-byte limit",
                    what, where, memory_limit);
    }
    return result;
}

void guard_where(const char *location) { atomic_store(&running_where, location); }
