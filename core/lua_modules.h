/* lua_modules.h — what `require` finds in a script's Lua state (see lua_modules.c). */
#ifndef LUAHUB_LUA_MODULES_H
#define LUAHUB_LUA_MODULES_H

#include <lua.h>

#include <stddef.h>

/* The file to load for script: when script is a symbolic link, the file it points to
 * (resolved at every load), so the script's chunk name, its errors, its
 * debug.getinfo(1, "S").source and the modules beside it are those of the real file,
 * wherever the link is (luahub.testing serves a link; deploys swap one). Otherwise script
 * as given. */
void lua_modules_resolve(const char *script, char *out, size_t len);
/* Sets up package.preload and package.path of L for the script file (resolved), before
 * anything is required. */
void lua_modules_setup(lua_State *L, const char *file);

#endif
