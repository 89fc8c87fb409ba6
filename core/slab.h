/* slab.h — equal-sized objects carved from large pages of their own: no allocator header
 * per object, and none of the short-lived buffers of other allocations between them, so
 * what a connection leaves behind when it goes is exactly the hole the next one takes.
 * Pages are mapped as needed and kept (free objects are reused, never unmapped), as
 * malloc's heap keeps its own. Under AddressSanitizer every object is its own calloc, so
 * overflows and uses after free are still caught. */
#ifndef LUAHUB_SLAB_H
#define LUAHUB_SLAB_H

#include <stddef.h>

struct slab {
    size_t size;                 /* object size, a multiple of 16 */
    void *free;                  /* freed objects, linked through their first bytes */
    char *next;                  /* never used part of the current page */
    size_t left;                 /* its bytes */
};

/* An empty slab for objects of size bytes (rounded up to 16). */
void slab_init(struct slab *s, size_t size);
/* A zeroed object, or NULL when memory runs out. */
void *slab_alloc(struct slab *s);
void slab_free(struct slab *s, void *p);

#endif
