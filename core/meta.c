#include "meta.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "lh_errors.h"

static int find(const struct client_extra *x, const char *key, size_t kl)
{
    for (int i = 0; x && i < x->nmeta; i++)
        if (x->meta[i].key_len == kl && memcmp(x->meta[i].key, key, kl) == 0) return i;
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
    struct client_extra *x = client_extra(c);
    char *v = x ? dup_bytes(value, vl) : NULL;
    if (!v) {
        client_extra_trim(c);
        return LH_ERR_NOMEM;
    }
    int i = find(x, key, kl);
    if (i >= 0) {
        free(x->meta[i].value);
        x->meta[i].value = v;
        x->meta[i].value_len = (uint32_t)vl;
        return LH_OK;
    }
    if (x->nmeta >= META_MAX_KEYS) {
        free(v);
        return LH_ERR_BAD_ARG;
    }
    struct meta_entry *m = realloc(x->meta, (x->nmeta + 1) * sizeof *m);
    char *k = dup_bytes(key, kl);
    if (!m || !k) {
        if (m) x->meta = m;
        free(k);
        free(v);
        client_extra_trim(c);
        return LH_ERR_NOMEM;
    }
    x->meta = m;
    m[x->nmeta++] = (struct meta_entry){ k, v, (uint32_t)kl, (uint32_t)vl };
    return LH_OK;
}

const char *meta_get(const struct client *c, const char *key, size_t kl, size_t *vl)
{
    int i = find(c->extra, key, kl);
    if (i < 0) return NULL;
    *vl = c->extra->meta[i].value_len;
    return c->extra->meta[i].value;
}

int meta_del(struct client *c, const char *key, size_t kl)
{
    struct client_extra *x = c->extra;
    int i = find(x, key, kl);
    if (i < 0) return LH_ERR_NOT_FOUND;
    free(x->meta[i].key);
    free(x->meta[i].value);
    x->meta[i] = x->meta[--x->nmeta];
    client_extra_trim(c);
    return LH_OK;
}

void meta_free(struct client *c)
{
    struct client_extra *x = c->extra;
    if (!x) return;
    for (int i = 0; i < x->nmeta; i++) {
        free(x->meta[i].key);
        free(x->meta[i].value);
    }
    free(x->meta);
    x->meta = NULL;
    x->nmeta = 0;
}
