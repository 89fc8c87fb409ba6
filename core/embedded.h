/* embedded.h — files compiled into the binary, so that a copied luahub needs nothing
 * beside it. scripts/embed.lua makes the tables at build time (the Makefile's gen rules);
 * each ends with an entry whose name is NULL. */
#ifndef LUAHUB_EMBEDDED_H
#define LUAHUB_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name;                /* its path under the embedded directory */
    const unsigned char *data;       /* len bytes, then a NUL */
    size_t len;
};

/* The runtime modules of lua/luahub/ (not testing/): "luahub/init.lua", "luahub/client.lua",
 * ..., and their assets: "luahub/protocol/luahub.js" (lh_embedded_file), the admin page's
 * files "luahub/admin/index.html", ... (serve.c) */
extern const struct embedded_file embedded_lua[];
/* scaffold/, the starter project of `luahub new`: "hub.lua", "spec/hub_spec.lua", ... */
extern const struct embedded_file embedded_scaffold[];

/* The embedded_lua entry named name ("luahub/admin/index.html"), or NULL. */
const struct embedded_file *embedded_find(const char *name, size_t len);

#endif
