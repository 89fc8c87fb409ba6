/* lua_modules.c — what `require` finds in the script's Lua state, in this order:
 *
 *   1. luahub's own modules (`luahub`, `luahub.client`, ...): the copies compiled into the
 *      binary (package.preload), so a binary runs wherever it is copied, and always with
 *      the modules it was built with, never another version installed elsewhere. With
 *      $LUAHUB_LUA_DIR set, they come from that directory instead (a checkout's lua/:
 *      an edit is tried without rebuilding);
 *   2. the script's own modules, next to the file loaded (lua_modules_resolve);
 *   3. LuaJIT's package.path: $LUA_PATH, or its default (/usr/local/share/lua/5.1/...). */
#include "lua_modules.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "embedded.h"
#include "lh_api.h"

/* package.preload's loader for one embedded module (its entry is the upvalue). The chunk
 * is named "@luahub/init.lua", so tracebacks and locations read as a path. */
static int load_embedded(lua_State *L)
{
    const struct embedded_file *f = lua_touserdata(L, lua_upvalueindex(1));
    char chunk[128];
    snprintf(chunk, sizeof chunk, "@%s", f->name);
    if (luaL_loadbuffer(L, (const char *)f->data, f->len, chunk) != 0) return lua_error(L);
    lua_pushvalue(L, 1);   /* require passes the module's name, as a file loader would get */
    lua_call(L, 1, 1);
    return 1;
}

/* "luahub/init.lua" -> "luahub", "luahub/client.lua" -> "luahub.client". */
static void module_name(const char *file, char *out, size_t len)
{
    snprintf(out, len, "%s", file);
    char *ext = strstr(out, ".lua");
    if (ext) *ext = 0;
    size_t n = strlen(out);
    if (n > 5 && strcmp(out + n - 5, "/init") == 0) out[n - 5] = 0;
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '.';
}

static void preload_embedded(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const struct embedded_file *f = embedded_lua; f->name; f++) {
        size_t n = strlen(f->name);
        if (n < 4 || strcmp(f->name + n - 4, ".lua") != 0) continue;   /* an asset (luahub.js) */
        char name[128];
        module_name(f->name, name, sizeof name);
        lua_pushlightuserdata(L, (void *)f);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, name);
    }
    lua_pop(L, 2);
}

const struct embedded_file *embedded_find(const char *name, size_t len)
{
    for (const struct embedded_file *f = embedded_lua; f->name; f++)
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0) return f;
    return NULL;
}

const char *lh_embedded_file(const char *name, size_t len, size_t *size)
{
    const struct embedded_file *f = embedded_find(name, len);
    if (!f) return NULL;
    *size = f->len;
    return (const char *)f->data;
}

void lua_modules_resolve(const char *script, char *out, size_t len)
{
    struct stat st;
    char real[PATH_MAX];
    if (lstat(script, &st) == 0 && S_ISLNK(st.st_mode) && realpath(script, real))
        snprintf(out, len, "%s", real);
    else
        snprintf(out, len, "%s", script);
}

void lua_modules_setup(lua_State *L, const char *file)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    const char *dev = getenv("LUAHUB_LUA_DIR");
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    if (dev && *dev) {
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s", dev, dev, dir, lua_tostring(L, -1));
    } else {
        preload_embedded(L);
        lua_pushfstring(L, "%s/?.lua;%s", dir, lua_tostring(L, -1));
    }
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}
