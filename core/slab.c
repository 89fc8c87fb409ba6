#include "slab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Mapped 1 MiB at a time; pages the slab has not reached yet are not resident. */
#define SLAB_PAGE (1u << 20)

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_BY_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_BY_MALLOC 1
#endif
#endif

void slab_init(struct slab *s, size_t size)
{
    *s = (struct slab){ .size = (size + 15) & ~(size_t)15 };
}

void *slab_alloc(struct slab *s)
{
#ifdef SLAB_BY_MALLOC
    return calloc(1, s->size);
#else
    void *p = s->free;
    if (p) {
        s->free = *(void **)p;
        memset(p, 0, s->size);
        return p;
    }
    if (s->left < s->size) {
        void *page = mmap(NULL, SLAB_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) return NULL;
        s->next = page;
        s->left = SLAB_PAGE;
    }
    p = s->next;   /* fresh mapped memory is zero */
    s->next += s->size;
    s->left -= s->size;
    return p;
#endif
}

void slab_free(struct slab *s, void *p)
{
    if (!p) return;
#ifdef SLAB_BY_MALLOC
    free(p);
#else
    *(void **)p = s->free;
    s->free = p;
#endif
}
