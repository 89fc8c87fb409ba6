#include "group.h"

#include <stdlib.h>
#include <string.h>

static uint32_t hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u;               /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

struct group *group_find(const struct group_index *ix, const char *name, size_t len)
{
    if (!ix->nbuckets) return NULL;
    uint32_t h = hash_name(name, len);
    for (struct group *g = ix->buckets[h & (ix->nbuckets - 1)]; g; g = g->next)
        if (g->hash == h && g->name_len == len && memcmp(g->name, name, len) == 0) return g;
    return NULL;
}

static int rehash(struct group_index *ix)
{
    uint32_t n = ix->nbuckets ? ix->nbuckets * 2 : 64;
    struct group **b = calloc(n, sizeof *b);
    if (!b) return -1;
    for (uint32_t i = 0; i < ix->nbuckets; i++) {
        struct group *g = ix->buckets[i];
        while (g) {
            struct group *next = g->next;
            g->next = b[g->hash & (n - 1)];
            b[g->hash & (n - 1)] = g;
            g = next;
        }
    }
    free(ix->buckets);
    ix->buckets = b;
    ix->nbuckets = n;
    return 0;
}

struct group *group_get(struct group_index *ix, const char *name, size_t len)
{
    struct group *g = group_find(ix, name, len);
    if (g) return g;
    if (ix->count >= ix->nbuckets && rehash(ix) != 0) return NULL;
    g = malloc(sizeof *g + len + 1);
    if (!g) return NULL;
    g->hash = hash_name(name, len);
    g->count = g->cap = 0;
    g->members = NULL;
    g->name_len = len;
    memcpy(g->name, name, len);
    g->name[len] = 0;
    uint32_t b = g->hash & (ix->nbuckets - 1);
    g->next = ix->buckets[b];
    ix->buckets[b] = g;
    ix->count++;
    return g;
}

int group_add(struct group *g, struct client *c, uint32_t *index)
{
    if (g->count == g->cap) {
        uint32_t cap = g->cap ? g->cap * 2 : 4;
        struct member *m = realloc(g->members, cap * sizeof *m);
        if (!m) return -1;
        g->members = m;
        g->cap = cap;
    }
    g->members[g->count] = (struct member){ c };
    *index = g->count++;
    return 0;
}

static void unlink_group(struct group_index *ix, struct group *g)
{
    struct group **p = &ix->buckets[g->hash & (ix->nbuckets - 1)];
    while (*p != g) p = &(*p)->next;
    *p = g->next;
    ix->count--;
    free(g->members);
    free(g);
}

void group_free_if_empty(struct group_index *ix, struct group *g)
{
    if (g->count == 0) unlink_group(ix, g);
}

int group_remove(struct group_index *ix, struct group *g, uint32_t index, group_slot_fn *slot_of)
{
    uint32_t last = --g->count;
    if (index != last) {
        g->members[index] = g->members[last];
        *slot_of(g->members[index].client, g) = index;
    }
    if (g->count == 0 && ix) {
        unlink_group(ix, g);
        return 1;
    }
    return 0;
}
