#include "lua_bridge.h"

#include <lauxlib.h>
#include <errno.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"

struct lua_vm {
    lua_State *L;
    int on_open, on_message, on_close;   /* registry refs of the dispatchers */
};

static struct lua_vm vm;
static char *script_path;
static char *overrides;

/* Message handler for every pcall: the error plus a traceback, as one string. */
static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Where lua/luahub lives: $LUAHUB_LUA_DIR, next to the binary in a checkout (build/luahub
 * or build/asan/luahub), or the installed share directory. */
static void find_lua_dir(char *out, size_t len)
{
    const char *env = getenv("LUAHUB_LUA_DIR");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *ups[] = { "/../lua", "/../../lua", "/../share/luahub/lua" };
        for (size_t i = 0; i < sizeof ups / sizeof ups[0]; i++) {
            char probe[PATH_MAX + 64];
            snprintf(probe, sizeof probe, "%s%s/luahub/init.lua", exe, ups[i]);
            if (file_exists(probe)) {
                snprintf(out, len, "%s%s", exe, ups[i]);
                return;
            }
        }
    }
    snprintf(out, len, "/usr/local/share/luahub/lua");
}

static void set_package_path(lua_State *L, const char *script)
{
    char lua_dir[PATH_MAX];
    find_lua_dir(lua_dir, sizeof lua_dir);
    char script_dir[PATH_MAX];
    snprintf(script_dir, sizeof script_dir, "%s", script);
    char *slash = strrchr(script_dir, '/');
    if (slash) *slash = 0;
    else snprintf(script_dir, sizeof script_dir, ".");
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s", lua_dir, lua_dir, script_dir,
                    lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
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

/* Builds a complete VM for script into *out; nothing global changes on failure. */
static int vm_load(struct lua_vm *out, const char *script, const char *json, char *err,
                   size_t errlen)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        snprintf(err, errlen, "cannot create a Lua state (out of memory)");
        return -1;
    }
    luaL_openlibs(L);
    set_package_path(L, script);
    lua_pushcfunction(L, traceback);            /* stays at index 1 for every pcall */

    lua_getglobal(L, "require");
    lua_pushstring(L, "luahub");
    if (lua_pcall(L, 1, 1, 1) != 0) {
        set_err(err, errlen, lua_tostring(L, -1));
        lua_close(L);
        return -1;
    }
    int module = lua_gettop(L);                 /* index 2 */

    if (luaL_loadfile(L, script) != 0) {
        set_err(err, errlen, lua_tostring(L, -1));
        lua_close(L);
        return -1;
    }
    if (lua_pcall(L, 0, 0, 1) != 0) {
        set_err(err, errlen, lua_tostring(L, -1));
        lua_close(L);
        return -1;
    }
    lua_getfield(L, module, "_setup");
    if (json) lua_pushstring(L, json);
    else lua_pushnil(L);
    if (lua_pcall(L, 1, 1, 1) != 0) {
        set_err(err, errlen, lua_tostring(L, -1));
        lua_close(L);
        return -1;
    }
    if (!lua_isnil(L, -1)) {
        /* _setup returns nil or the list of config problems, one per line */
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_close(L);
        return -1;
    }
    lua_pop(L, 1);
    out->L = L;
    out->on_open = ref_field(L, module, "_on_open");
    out->on_message = ref_field(L, module, "_on_message");
    out->on_close = ref_field(L, module, "_on_close");
    lua_settop(L, 1);
    return 0;
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
        return -1;
    }
    lua_close(vm.L);
    vm = next;
    log_info(0, "reloaded %s", script_path);
    return 0;
}

void lua_bridge_shutdown(void)
{
    if (vm.L) lua_close(vm.L);
    vm.L = NULL;
    free(script_path);
    free(overrides);
    script_path = overrides = NULL;
}

static void call(int nargs, uint64_t client)
{
    if (lua_pcall(vm.L, nargs, 0, 1) != 0) {
        log_error(client, "Lua dispatcher error: %s", lua_tostring(vm.L, -1));
        lua_pop(vm.L, 1);
    }
}

void lua_bridge_on_open(struct conn *c)
{
    if (!vm.L || vm.on_open == LUA_NOREF) return;
    lua_rawgeti(vm.L, LUA_REGISTRYINDEX, vm.on_open);
    lua_pushnumber(vm.L, (lua_Number)c->id);
    call(1, c->id);
}

void lua_bridge_on_message(struct conn *c, int opcode, const uint8_t *data, size_t len)
{
    if (!vm.L || vm.on_message == LUA_NOREF) return;
    lua_rawgeti(vm.L, LUA_REGISTRYINDEX, vm.on_message);
    lua_pushnumber(vm.L, (lua_Number)c->id);
    lua_pushinteger(vm.L, opcode);
    lua_pushlightuserdata(vm.L, (void *)data);
    lua_pushnumber(vm.L, (lua_Number)len);
    call(4, c->id);
}

void lua_bridge_on_close(struct conn *c, int code)
{
    if (!vm.L || vm.on_close == LUA_NOREF) return;
    lua_rawgeti(vm.L, LUA_REGISTRYINDEX, vm.on_close);
    lua_pushnumber(vm.L, (lua_Number)c->id);
    lua_pushinteger(vm.L, code);
    call(2, c->id);
}
