#include "lua_bridge.h"

#include <lauxlib.h>
#include <errno.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <luajit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "guard.h"
#include "http.h"
#include "hub.h"
#include "log.h"
#include "lua_modules.h"
#include "metrics.h"
#include "task.h"
#include "timer.h"

/* The running script. A reload builds the next one apart and swaps; the old state is
 * retired to its task_vm, which closes it once none of its tasks waits. */
struct lua_vm {
    lua_State *L;
    struct task_vm *tasks;
    uint32_t generation;                 /* tags the timers this VM started */
    int on_open, on_message, on_close;   /* registry refs of the dispatchers */
    int on_dropped, on_timer, before_connect, on_http, on_api, metrics_text;
};

static struct lua_vm vm;
/* The copy lua_bridge_metrics_text hands out, replaced by the next call. */
static char *metrics_copy;
static uint32_t generations;
static char *script_path;
static char *overrides;

/* Message handler for every pcall: the error plus a traceback, as one string. */
static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    /* one line: the cause, without the traceback */
    size_t n = strcspn(msg, "\n");
    if (n >= errlen) n = errlen - 1;
    memcpy(err, msg, n);
    err[n] = 0;
}

static int ref_field(lua_State *L, int module, const char *name)
{
    lua_getfield(L, module, name);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Every call into Lua goes through here: timed and interrupted by the guard. */
static int pcall_guarded(lua_State *L, int nargs, int nresults, const char *what, uint64_t client)
{
    guard_enter(L, what, client);
    int rc = lua_pcall(L, nargs, nresults, 1);
    /* what a call that hit the memory budget left behind is garbage now: collect it, so
     * the next call does not start at the limit */
    if (guard_leave() & GUARD_OUT_OF_MEMORY) lua_gc(L, LUA_GCCOLLECT, 0);
    return rc;
}

/* One call of the build; on error its cause goes to err and L is closed. */
static int build_step(lua_State *L, int nargs, int nresults, char *err, size_t errlen)
{
    if (pcall_guarded(L, nargs, nresults, "script load", 0) == 0) return 0;
    set_err(err, errlen, lua_tostring(L, -1));
    guard_close_state(L);
    return -1;
}

static int vm_build(struct lua_vm *out, const char *script, const char *json, char *err,
                   size_t errlen)
{
    lua_State *L = guard_new_state();
    if (!L) {
        snprintf(err, errlen, "cannot create a Lua state (out of memory)");
        return -1;
    }
    out->generation = ++generations;
    timer_set_generation(out->generation);
    luaL_openlibs(L);
    /* The load runs interpreted, so the guard can always interrupt a script that loops
     * at load (hooks do not run in compiled code); what it defines is compiled later,
     * when it runs hot. */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    char file[PATH_MAX];
    lua_modules_resolve(script, file, sizeof file);
    lua_modules_setup(L, file);
    lua_pushcfunction(L, traceback);            /* stays at index 1 for every pcall */

    lua_getglobal(L, "require");
    lua_pushstring(L, "luahub");
    if (build_step(L, 1, 1, err, errlen) != 0) return -1;
    int module = lua_gettop(L);                 /* index 2 */

    if (luaL_loadfile(L, file) != 0) {
        set_err(err, errlen, lua_tostring(L, -1));
        guard_close_state(L);
        return -1;
    }
    guard_where(file);
    if (build_step(L, 0, 0, err, errlen) != 0) return -1;
    lua_getfield(L, module, "_setup");
    if (json) lua_pushstring(L, json);
    else lua_pushnil(L);
    if (build_step(L, 1, 1, err, errlen) != 0) return -1;
    if (!lua_isnil(L, -1)) {
        /* _setup returns nil or the list of config problems, one per line */
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        guard_close_state(L);
        return -1;
    }
    lua_pop(L, 1);
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_ON);
    lua_getfield(L, module, "_threads");
    out->tasks = task_vm_new(L, lua_gettop(L));
    lua_pop(L, 1);
    if (!out->tasks) {
        snprintf(err, errlen, "cannot set up the script's tasks (out of memory)");
        guard_close_state(L);
        return -1;
    }
    out->L = L;
    out->on_open = ref_field(L, module, "_on_open");
    out->on_message = ref_field(L, module, "_on_message");
    out->on_close = ref_field(L, module, "_on_close");
    out->on_dropped = ref_field(L, module, "_on_dropped");
    out->on_timer = ref_field(L, module, "_on_timer");
    out->before_connect = ref_field(L, module, "_before_connect");
    out->on_http = ref_field(L, module, "_on_http");
    out->on_api = ref_field(L, module, "_on_api");
    out->metrics_text = ref_field(L, module, "_metrics_text");
    lua_settop(L, 1);
    return 0;
}

/* Builds a complete VM for script into *out; on failure nothing it started survives and
 * the running VM's timer generation is current again. */
static int vm_load(struct lua_vm *out, const char *script, const char *json, char *err,
                   size_t errlen)
{
    if (vm_build(out, script, json, err, errlen) == 0) {
        /* the script's budgets, from its config, for every call from now on */
        guard_configure(config.script_timeout, config.script_memory);
        return 0;
    }
    timer_cancel_generation(generations);
    timer_set_generation(vm.generation);
    return -1;
}

int lua_bridge_load(const char *script, const char *overrides_json, char *err, size_t errlen)
{
    if (access(script, R_OK) != 0) {
        snprintf(err, errlen, "cannot read script '%s': %s", script, strerror(errno));
        return -1;
    }
    if (vm_load(&vm, script, overrides_json, err, errlen) != 0) return -1;
    free(script_path);
    free(overrides);
    script_path = strdup(script);
    overrides = overrides_json ? strdup(overrides_json) : NULL;
    return 0;
}

int lua_bridge_reload(void)
{
    char err[1024];
    struct lua_vm next;
    if (vm_load(&next, script_path, overrides, err, sizeof err) != 0) {
        log_error(0, "reload of %s failed, keeping the running script: %s", script_path, err);
        metrics.reloads_failed++;
        return -1;
    }
    uint32_t old = vm.generation;
    task_vm_retire(vm.tasks);
    vm = next;
    timer_cancel_generation(old);
    log_info(0, "reloaded %s", script_path);
    metrics.reloads_ok++;
    return 0;
}

const char *lua_bridge_script(void) { return script_path; }

void lua_bridge_shutdown(void)
{
    timer_cancel_all();
    if (vm.L) task_vm_retire(vm.tasks);
    vm.L = NULL;
    free(script_path);
    free(overrides);
    free(metrics_copy);
    script_path = overrides = metrics_copy = NULL;
}

/* A task of the running script on one of its coroutines, with the dispatcher ref pushed;
 * the caller pushes the arguments onto its thread. NULL (logged) when out of memory. */
static struct task *task_for(int ref, const char *what, uint64_t subject)
{
    struct task *t = task_new(vm.tasks);
    if (!t) {
        log_error(subject, "cannot run the %s: out of memory for its coroutine", what);
        return NULL;
    }
    lua_rawgeti(task_thread(t), LUA_REGISTRYINDEX, ref);
    return t;
}

/* Runs a task whose results nobody reads: 1 if it waits (end runs when it finishes). */
static int run(struct task *t, int nargs, const char *what, uint64_t subject, task_end_fn end)
{
    if (task_start(t, nargs, what, subject, end) == TASK_WAITING) return 1;
    task_finish(t);
    return 0;
}

/* A client's task that waited has ended: its held messages and its close go on. */
static void client_task_end(lua_State *co, int ok, uint64_t id) { hub_task_done(id); }

int lua_bridge_on_open(struct client *cl)
{
    uint64_t id = cl->conn.id;
    if (!vm.L || vm.on_open == LUA_NOREF) return 0;
    struct task *t = task_for(vm.on_open, "connect hook", id);
    if (!t) return 0;
    lua_pushnumber(task_thread(t), (lua_Number)id);
    return run(t, 1, "connect hook", id, client_task_end);
}

int lua_bridge_on_message(struct client *cl, int opcode, const uint8_t *data, size_t len, int limited)
{
    uint64_t id = cl->conn.id;
    if (!vm.L || vm.on_message == LUA_NOREF) return 0;
    struct task *t = task_for(vm.on_message, "message handler", id);
    if (!t) return 0;
    lua_State *co = task_thread(t);
    lua_pushnumber(co, (lua_Number)id);
    lua_pushinteger(co, opcode);
    lua_pushlightuserdata(co, (void *)data);
    lua_pushnumber(co, (lua_Number)len);
    lua_pushboolean(co, limited);
    double started = metrics_clock();
    int waiting = run(t, 5, "message handler", id, client_task_end);
    /* the time until it returned or first waited: what it held the loop for */
    histogram_observe(&metrics.handler_seconds, metrics_clock() - started);
    return waiting;
}

int lua_bridge_on_close(struct client *cl, int code, const char *reason)
{
    uint64_t id = cl->conn.id;
    if (!vm.L || vm.on_close == LUA_NOREF) return 0;
    struct task *t = task_for(vm.on_close, "disconnect hook", id);
    if (!t) return 0;
    lua_State *co = task_thread(t);
    lua_pushnumber(co, (lua_Number)id);
    lua_pushinteger(co, code);
    lua_pushstring(co, reason);
    return run(t, 3, "disconnect hook", id, client_task_end);
}

void lua_bridge_on_dropped(uint64_t id, const uint8_t *data, size_t len, int binary)
{
    if (!vm.L || vm.on_dropped == LUA_NOREF) return;
    struct task *t = task_for(vm.on_dropped, "on_send_dropped hook", id);
    if (!t) return;
    lua_State *co = task_thread(t);
    lua_pushnumber(co, (lua_Number)id);
    lua_pushlstring(co, (const char *)data, len);
    lua_pushboolean(co, binary);
    run(t, 3, "on_send_dropped hook", id, NULL);
}

void lua_bridge_on_timer(uint32_t id, int once)
{
    if (!vm.L || vm.on_timer == LUA_NOREF) return;
    struct task *t = task_for(vm.on_timer, "timer", 0);
    if (!t) return;
    lua_State *co = task_thread(t);
    lua_pushnumber(co, id);
    lua_pushboolean(co, once);
    run(t, 2, "timer", 0, NULL);
}

/* The request as a Lua table: method, target, path, query, headers (lower-case names;
 * repeated headers joined with ", "), body, remote_addr. */
static void push_request(lua_State *L, struct conn *c, const struct http_req *r)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, http_method_name(r));
    lua_setfield(L, -2, "method");
    const char *target = r->buf + r->url.off;
    lua_pushlstring(L, target, r->url.len);
    lua_setfield(L, -2, "target");
    const char *path;
    size_t plen;
    http_req_path(r, &path, &plen);
    lua_pushlstring(L, path, plen);
    lua_setfield(L, -2, "path");
    if (plen < r->url.len && target[plen] == '?') {
        size_t ql = r->url.len - plen - 1;
        const char *hash = memchr(target + plen + 1, '#', ql);
        if (hash) ql = (size_t)(hash - (target + plen + 1));
        lua_pushlstring(L, target + plen + 1, ql);
    } else {
        lua_pushliteral(L, "");
    }
    lua_setfield(L, -2, "query");
    lua_createtable(L, 0, r->nheaders);
    for (int i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        char name[256];
        size_t nl = h->name.len < sizeof name ? h->name.len : sizeof name - 1;
        for (size_t k = 0; k < nl; k++) {
            char ch = r->buf[h->name.off + k];
            name[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        lua_pushlstring(L, name, nl);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushlstring(L, r->buf + h->value.off, h->value.len);
        } else {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, r->buf + h->value.off, h->value.len);
            lua_concat(L, 3);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->body ? r->body : "", r->body_len);
    lua_setfield(L, -2, "body");
    char addr[64];
    conn_remote_addr(c, addr, sizeof addr);
    lua_pushstring(L, addr);
    lua_setfield(L, -2, "remote_addr");
}

/* The admission a finished before_connect task returned (status, reason on co). */
static void read_admission(lua_State *co, int ok, struct admission *a)
{
    *a = (struct admission){ 0 };
    if (!ok) {
        /* a broken hook must not open the door: refuse (the failure is logged) */
        a->status = 500;
        snprintf(a->reason, sizeof a->reason, "internal error");
        return;
    }
    lua_settop(co, 2);   /* a coroutine's results are what it returned: pad to two */
    a->status = (int)lua_tointeger(co, -2);
    const char *why = lua_tostring(co, -1);
    snprintf(a->reason, sizeof a->reason, "%s", why ? why : "rejected");
}

static void admit_end(lua_State *co, int ok, uint64_t id)
{
    struct admission a;
    read_admission(co, ok, &a);
    hub_admit_done(id, &a);
}

static int admit_wanted = 1;

void lua_bridge_want_admit(int on) { admit_wanted = on; }

void lua_bridge_admit(struct client *cl, const struct http_req *r, struct admission *a)
{
    if (!vm.L || vm.before_connect == LUA_NOREF || !admit_wanted) return;
    uint64_t id = cl->conn.id;
    struct task *t = task_for(vm.before_connect, "before_connect hook", id);
    if (!t) {
        *a = (struct admission){ 503, NULL, "out of memory" };
        return;
    }
    lua_State *co = task_thread(t);
    lua_pushnumber(co, (lua_Number)id);
    push_request(co, &cl->conn, r);
    enum task_state st = task_start(t, 2, "before_connect hook", id, admit_end);
    if (st == TASK_WAITING) {
        a->status = ADMIT_LATER;
        return;
    }
    read_admission(co, st == TASK_DONE, a);
    task_finish(t);
}

/* The response a finished route task returned: status (nil = no route), body, content
 * type, extra header lines on co; NULL for no route. */
static struct frame *read_route(lua_State *co, int ok, struct conn *c, const struct http_req *r)
{
    if (!ok) return http_response(500, NULL, "text/plain; charset=utf-8", "500 Internal Server Error\n", 26);
    lua_settop(co, 4);   /* a coroutine's results are what it returned: pad to four */
    if (lua_isnil(co, -4)) return NULL;
    int status = (int)lua_tointeger(co, -4);
    size_t bl = 0;
    const char *body = lua_tolstring(co, -3, &bl);
    const char *ctype = lua_tostring(co, -2);
    const char *extra = lua_tostring(co, -1);
    int head = r->parser.method == HTTP_HEAD;
    /* HEAD: the GET answer's head, Content-Length included, and no body */
    struct frame *f = http_response(status, extra, ctype, head ? NULL : body, bl);
    if (f && head) f->len -= (uint32_t)bl;
    if (!f) {
        /* NULL means "no route" to the caller: an answer that could not be built is a 500 */
        log_error(c->id, "HTTP route: cannot build a %zu-byte response (out of memory)", bl);
        f = http_response(500, NULL, "text/plain; charset=utf-8", "500 Internal Server Error\n", 26);
    }
    return f;
}

static void route_end(lua_State *co, int ok, uint64_t id)
{
    struct conn *c = conn_by_id(id);
    if (!c || !c->answer_pending) return;   /* the connection is gone */
    struct frame *f = read_route(co, ok, c, c->http);
    /* a route that waited and then matched nothing: the request was routed, so 404 */
    conn_answer(c, f ? f : http_response(404, NULL, "text/plain; charset=utf-8", "404 Not Found\n", 14));
}

struct frame *lua_bridge_http(struct conn *c, const struct http_req *r)
{
    if (!vm.L || vm.on_http == LUA_NOREF) return NULL;
    struct task *t = task_for(vm.on_http, "HTTP route", c->id);
    if (!t) return http_response(503, NULL, "text/plain; charset=utf-8", "503 Service Unavailable\n", 24);
    lua_State *co = task_thread(t);
    push_request(co, c, r);
    enum task_state st = task_start(t, 1, "HTTP route", c->id, route_end);
    if (st == TASK_WAITING) return CONN_ANSWER_LATER;
    struct frame *f = read_route(co, st == TASK_DONE, c, r);
    task_finish(t);
    return f;
}

const char *lua_bridge_metrics_text(size_t *len)
{
    *len = 0;
    if (!vm.L || vm.metrics_text == LUA_NOREF) return NULL;
    lua_State *L = vm.L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm.metrics_text);
    if (pcall_guarded(L, 0, 1, "metrics function", 0) != 0) {
        log_error(0, "script metrics failed: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return NULL;
    }
    size_t n = 0;
    const char *text = lua_tolstring(L, -1, &n);
    free(metrics_copy);
    metrics_copy = text ? malloc(n + 1) : NULL;
    if (metrics_copy) {
        memcpy(metrics_copy, text, n + 1);
        *len = n;
    }
    lua_pop(L, 1);
    return metrics_copy;
}

/* The publish API runs on the main thread: it answers at once and cannot wait. */
struct frame *lua_bridge_api(struct conn *c, const struct http_req *r)
{
    if (!vm.L || vm.on_api == LUA_NOREF)
        return http_response(503, NULL, "application/json", "{\"error\":\"no script\"}\n", 21);
    lua_State *L = vm.L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm.on_api);
    push_request(L, c, r);
    if (pcall_guarded(L, 1, 2, "API request", c->id) != 0) {
        log_error(c->id, "API request failed: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return http_response(500, NULL, "application/json", "{\"error\":\"internal error\"}\n", 27);
    }
    size_t bl = 0;
    const char *body = lua_tolstring(L, -1, &bl);
    struct frame *f = http_response((int)lua_tointeger(L, -2), NULL, "application/json", body, bl);
    lua_pop(L, 2);
    return f;
}
