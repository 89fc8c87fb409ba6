#include "meta.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "lh_errors.h"

static int find(const struct client *c, const char *key, size_t kl)
{
    for (int i = 0; i < c->nmeta; i++)
        if (c->meta[i].key_len == kl && memcmp(c->meta[i].key, key, kl) == 0) return i;
    return -1;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

int meta_set(struct client *c, const char *key, size_t kl, const char *value, size_t vl)
{
    char *v = dup_bytes(value, vl);
    if (!v) return LH_ERR_NOMEM;
    int i = find(c, key, kl);
    if (i >= 0) {
        free(c->meta[i].value);
        c->meta[i].value = v;
        c->meta[i].value_len = (uint32_t)vl;
        return LH_OK;
    }
    if (c->nmeta >= META_MAX_KEYS) {
        free(v);
        return LH_ERR_BAD_ARG;
    }
    struct meta_entry *m = realloc(c->meta, (c->nmeta + 1) * sizeof *m);
    char *k = dup_bytes(key, kl);
    if (!m || !k) {
        if (m) c->meta = m;
        free(k);
        free(v);
        return LH_ERR_NOMEM;
    }
    c->meta = m;
    m[c->nmeta++] = (struct meta_entry){ k, v, (uint32_t)kl, (uint32_t)vl };
    return LH_OK;
}

const char *meta_get(const struct client *c, const char *key, size_t kl, size_t *vl)
{
    int i = find(c, key, kl);
    if (i < 0) return NULL;
    *vl = c->meta[i].value_len;
    return c->meta[i].value;
}

int meta_del(struct client *c, const char *key, size_t kl)
{
    int i = find(c, key, kl);
    if (i < 0) return LH_ERR_NOT_FOUND;
    free(c->meta[i].key);
    free(c->meta[i].value);
    c->meta[i] = c->meta[--c->nmeta];
    return LH_OK;
}

void meta_free(struct client *c)
{
    for (int i = 0; i < c->nmeta; i++) {
        free(c->meta[i].key);
        free(c->meta[i].value);
    }
    free(c->meta);
    c->meta = NULL;
    c->nmeta = 0;
}
