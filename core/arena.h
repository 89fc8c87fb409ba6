/* arena.h — one fixed region carved into blocks, for a shared dictionary (shdict.h):
 * allocation and free in O(1), neighbours coalesced on free, and an exact count of the
 * bytes in free blocks. The region is the caller's; the arena never grows it.
 *
 * Blocks are counted in 8-byte units and named by their offset in units from the
 * region's start, so a reference is 4 bytes and 0 is never a block (a sentinel sits
 * there). Each block starts with an 8-byte header; a block takes at least 2 units. */
#ifndef LUAHUB_ARENA_H
#define LUAHUB_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define ARENA_UNIT 8
#define ARENA_BINS 32
/* Region sizes the offsets and the free bit of a header leave room for: 2^31 units. */
#define ARENA_MAX_BYTES ((uint64_t)1 << 34)

struct arena {
    char *base;                     /* the region, 8-byte aligned */
    uint32_t units;                 /* its size in units */
    uint32_t nonempty;              /* bit b: bins[b] holds a block */
    uint32_t bins[ARENA_BINS];      /* free lists by floor(log2(size in units)) */
    uint64_t free_bytes;            /* headers of free blocks included */
};

/* Lays the arena over bytes (>= 32) at base: one free block between two sentinels. */
void arena_init(struct arena *a, void *base, uint64_t bytes);
/* The offset of a block whose payload holds len bytes, or 0 when no free block is
 * large enough. A few blocks of the best-fitting bin are looked at, then the smallest
 * larger bin's first one: bounded work, so a fitting block may be missed while the
 * arena is fragmented. */
uint32_t arena_alloc(struct arena *a, size_t len);
void arena_free(struct arena *a, uint32_t off);
/* The block's payload, and how many bytes it holds (at least what was asked for). */
static inline void *arena_ptr(const struct arena *a, uint32_t off)
{
    return a->base + (size_t)off * ARENA_UNIT + ARENA_UNIT;
}
size_t arena_payload(const struct arena *a, uint32_t off);
/* The largest payload the empty arena could give: whatever is asked beyond it never fits. */
size_t arena_max_payload(const struct arena *a);

#endif
