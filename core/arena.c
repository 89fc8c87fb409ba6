#include "arena.h"

#include <string.h>

/* A block's first unit. prev lets a freed block find the one before it, to merge with it
 * when that one is free; a free block keeps its list links in its payload. */
struct header {
    uint32_t size;        /* in units; FREE_BIT when free */
    uint32_t prev;        /* size of the block right before, in units */
};
struct links { uint32_t next, prev; };

#define FREE_BIT 0x80000000u
/* Blocks of the best-fitting bin looked at before a larger bin is taken: enough to use
 * the holes of a similar size, few enough to stay O(1). */
#define SCAN 8

static struct header *hdr(const struct arena *a, uint32_t off)
{
    return (struct header *)(a->base + (size_t)off * ARENA_UNIT);
}
static struct links *links(const struct arena *a, uint32_t off) { return arena_ptr(a, off); }
static uint32_t size_of(const struct arena *a, uint32_t off) { return hdr(a, off)->size & ~FREE_BIT; }
static int is_free(const struct arena *a, uint32_t off) { return (hdr(a, off)->size & FREE_BIT) != 0; }
static uint32_t bin_of(uint32_t units) { return 31 - (uint32_t)__builtin_clz(units); }

static void insert(struct arena *a, uint32_t off, uint32_t units)
{
    uint32_t b = bin_of(units);
    hdr(a, off)->size = units | FREE_BIT;
    hdr(a, off + units)->prev = units;
    struct links *l = links(a, off);
    l->next = a->bins[b];
    l->prev = 0;
    if (l->next) links(a, l->next)->prev = off;
    a->bins[b] = off;
    a->nonempty |= 1u << b;
}

static void unlink_free(struct arena *a, uint32_t off)
{
    uint32_t b = bin_of(size_of(a, off));
    struct links *l = links(a, off);
    if (l->prev) links(a, l->prev)->next = l->next;
    else a->bins[b] = l->next;
    if (l->next) links(a, l->next)->prev = l->prev;
    if (!a->bins[b]) a->nonempty &= ~(1u << b);
}

void arena_init(struct arena *a, void *base, uint64_t bytes)
{
    if (bytes > ARENA_MAX_BYTES) bytes = ARENA_MAX_BYTES;
    memset(a, 0, sizeof *a);
    a->base = base;
    a->units = (uint32_t)(bytes / ARENA_UNIT);
    uint32_t inner = a->units - 2;
    /* sentinels at both ends are used blocks, so coalescing stops there */
    *hdr(a, 0) = (struct header){ .size = 1, .prev = 0 };
    *hdr(a, a->units - 1) = (struct header){ .size = 1, .prev = inner };
    hdr(a, 1)->prev = 1;
    insert(a, 1, inner);
    a->free_bytes = (uint64_t)inner * ARENA_UNIT;
}

uint32_t arena_alloc(struct arena *a, size_t len)
{
    if (len > (size_t)a->units * ARENA_UNIT) return 0;
    uint32_t need = 1 + (uint32_t)((len + ARENA_UNIT - 1) / ARENA_UNIT);
    if (need < 2) need = 2;
    uint32_t b = bin_of(need), off = a->bins[b];
    for (int i = 0; off && i < SCAN && size_of(a, off) < need; i++) off = links(a, off)->next;
    if (!off || size_of(a, off) < need) {
        uint32_t larger = b + 1 < ARENA_BINS ? a->nonempty & (~0u << (b + 1)) : 0;
        if (!larger) return 0;
        off = a->bins[__builtin_ctz(larger)];
    }
    unlink_free(a, off);
    uint32_t units = size_of(a, off);
    if (units - need >= 2) {
        hdr(a, off + need)->prev = need;
        insert(a, off + need, units - need);
        units = need;
    }
    hdr(a, off)->size = units;
    hdr(a, off + units)->prev = units;
    a->free_bytes -= (uint64_t)units * ARENA_UNIT;
    return off;
}

void arena_free(struct arena *a, uint32_t off)
{
    uint32_t units = size_of(a, off);
    a->free_bytes += (uint64_t)units * ARENA_UNIT;
    uint32_t next = off + units;
    if (is_free(a, next)) {
        unlink_free(a, next);
        units += size_of(a, next);
    }
    uint32_t before = off - hdr(a, off)->prev;
    if (is_free(a, before)) {
        unlink_free(a, before);
        units += size_of(a, before);
        off = before;
    }
    insert(a, off, units);
}

size_t arena_payload(const struct arena *a, uint32_t off)
{
    return (size_t)(size_of(a, off) - 1) * ARENA_UNIT;
}

size_t arena_max_payload(const struct arena *a) { return (size_t)(a->units - 3) * ARENA_UNIT; }
