/* lua_modules.h — what `require` finds in a script's Lua state (see lua_modules.c). */
#ifndef LUAHUB_LUA_MODULES_H
#define LUAHUB_LUA_MODULES_H

#include <lua.h>

/* Sets up package.preload and package.path of L for script, before anything is
 * required. */
void lua_modules_setup(lua_State *L, const char *script);

#endif
