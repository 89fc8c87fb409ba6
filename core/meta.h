/* meta.h — per-connection script metadata (client:set/get/del). Values arrive JSON-encoded
 * from Lua and are stored as given; C never interprets them. Linear search: a client
 * carries a handful of keys. */
#ifndef LUAHUB_META_H
#define LUAHUB_META_H

#include <stddef.h>

struct client;

int meta_set(struct client *c, const char *key, size_t kl, const char *value, size_t vl);
const char *meta_get(const struct client *c, const char *key, size_t kl, size_t *vl);
int meta_del(struct client *c, const char *key, size_t kl);
void meta_free(struct client *c);

#define META_MAX_KEYS 64

#endif
