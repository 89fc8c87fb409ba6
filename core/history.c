/* history.c — see history.h.
 *
 * A room is found by a chained hash of its name. Its publications are a ring of entry
 * pointers indexed by offset (the entry of offset k sits k - first offset slots past the
 * oldest), so a read since any position costs no search. The ring grows by doubling up to
 * the room's size. Rooms holding entries are also on a list ordered by their last
 * publication, oldest first: max_bytes evicts from its front in O(1). */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lh_errors.h"

struct room {
    struct room *hnext;              /* hash chain */
    struct room *older, *newer;      /* the publication order, while it holds entries */
    struct history_pos pos;
    struct history_entry **ring;
    uint32_t cap, start, count;      /* ring slots, index of the oldest, entries held */
    size_t name_len;
    char name[];
};

static struct {
    struct room **buckets;
    uint32_t nbuckets, nrooms;
    struct room *oldest, *newest;    /* the publication order */
    uint64_t bytes, entries, max_bytes;
    uint64_t created;                /* rooms ever created: the counter of their epochs */
    char epoch[9];
} h;

const char *history_process_epoch(void)
{
    if (!h.epoch[0]) {
        uint32_t r;
        /* without getrandom (very old kernels), the time and pid still differ per start */
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
            r = (uint32_t)time(NULL) * 2654435761u ^ (uint32_t)getpid();
        snprintf(h.epoch, sizeof h.epoch, "%08x", r);
    }
    return h.epoch;
}

/* ------------------------------------------------------------------ rooms by name */

static uint32_t hash(const char *s, size_t len)
{
    uint32_t x = 2166136261u;
    for (size_t i = 0; i < len; i++) x = (x ^ (uint8_t)s[i]) * 16777619u;
    return x;
}

static struct room **slot_of(const char *name, size_t len)
{
    if (!h.nbuckets) return NULL;
    struct room **p = &h.buckets[hash(name, len) & (h.nbuckets - 1)];
    while (*p && ((*p)->name_len != len || memcmp((*p)->name, name, len) != 0)) p = &(*p)->hnext;
    return p;
}

static struct room *find(const char *name, size_t len)
{
    struct room **p = slot_of(name, len);
    return p ? *p : NULL;
}

/* Doubles the buckets when rooms outnumber them; a failure keeps the old ones (longer
 * chains, still correct). */
static void grow_buckets(void)
{
    if (h.nrooms < h.nbuckets) return;
    uint32_t n = h.nbuckets ? h.nbuckets * 2 : 64;
    struct room **b = calloc(n, sizeof *b);
    if (!b) return;
    for (uint32_t i = 0; i < h.nbuckets; i++) {
        for (struct room *r = h.buckets[i], *next; r; r = next) {
            next = r->hnext;
            struct room **to = &b[hash(r->name, r->name_len) & (n - 1)];
            r->hnext = *to;
            *to = r;
        }
    }
    free(h.buckets);
    h.buckets = b;
    h.nbuckets = n;
}

static struct room *create(const char *name, size_t len)
{
    grow_buckets();
    if (!h.nbuckets) return NULL;
    struct room *r = calloc(1, sizeof *r + len);
    if (!r) return NULL;
    memcpy(r->name, name, len);
    r->name_len = len;
    snprintf(r->pos.epoch, sizeof r->pos.epoch, "%s.%llu", history_process_epoch(),
             (unsigned long long)++h.created);
    struct room **p = &h.buckets[hash(name, len) & (h.nbuckets - 1)];
    r->hnext = *p;
    *p = r;
    h.nrooms++;
    return r;
}

/* ------------------------------------------------------------------ the publication order */

static void unlink_order(struct room *r)
{
    if (r->older) r->older->newer = r->newer;
    else if (h.oldest == r) h.oldest = r->newer;
    if (r->newer) r->newer->older = r->older;
    else if (h.newest == r) h.newest = r->older;
    r->older = r->newer = NULL;
}

static void make_newest(struct room *r)
{
    unlink_order(r);
    r->older = h.newest;
    if (h.newest) h.newest->newer = r;
    else h.oldest = r;
    h.newest = r;
}

/* ------------------------------------------------------------------ a room's ring */

static struct history_entry *at(const struct room *r, uint32_t i)
{
    return r->ring[(r->start + i) % r->cap];
}

static void drop_oldest(struct room *r)
{
    struct history_entry *e = at(r, 0);
    h.bytes -= e->len + HISTORY_ENTRY_OVERHEAD;
    h.entries--;
    free(e);
    r->start = (r->start + 1) % r->cap;
    if (--r->count == 0) unlink_order(r);
}

/* To at most size entries, none older than ttl. */
static void trim(struct room *r, struct history_bounds b, double now)
{
    while (r->count > b.size) drop_oldest(r);
    while (r->count && b.ttl > 0 && now - at(r, 0)->time >= b.ttl) drop_oldest(r);
}

/* Room for one more entry: the ring doubles, up to size slots. */
static int reserve(struct room *r, uint32_t size)
{
    if (r->count >= size) drop_oldest(r);   /* full: the oldest makes room */
    if (r->count < r->cap) return 0;
    uint32_t cap = r->cap ? r->cap * 2 : 4;
    if (cap > size) cap = size;
    struct history_entry **ring = malloc(cap * sizeof *ring);
    if (!ring) return -1;
    for (uint32_t i = 0; i < r->count; i++) ring[i] = at(r, i);
    free(r->ring);
    r->ring = ring;
    r->cap = cap;
    r->start = 0;
    return 0;
}

static void free_room(struct room *r)
{
    while (r->count) drop_oldest(r);
    struct room **p = slot_of(r->name, r->name_len);
    *p = r->hnext;
    h.nrooms--;
    free(r->ring);
    free(r);
}

/* The oldest publications of the rooms published to least recently go first; the entry
 * just appended (the newest room's newest) stays, even alone past the bound. */
static void enforce_max_bytes(void)
{
    while (h.max_bytes && h.bytes > h.max_bytes && h.oldest &&
           !(h.oldest == h.newest && h.oldest->count == 1))
        drop_oldest(h.oldest);
}

/* ------------------------------------------------------------------ operations */

int history_append(const char *room, size_t rlen, const char *data, size_t len, int binary,
                   struct history_bounds b, double now, struct history_pos *pos)
{
    if (b.size == 0) return LH_ERR_BAD_ARG;
    if (len > UINT32_MAX) return LH_ERR_NOMEM;
    struct room *r = find(room, rlen);
    if (!r && !(r = create(room, rlen))) return LH_ERR_NOMEM;
    trim(r, b, now);
    struct history_entry *e = malloc(sizeof *e + len);
    if (!e || reserve(r, b.size) != 0) {
        free(e);
        return LH_ERR_NOMEM;
    }
    *e = (struct history_entry){ ++r->pos.offset, now, (uint32_t)len, (uint8_t)(binary != 0) };
    memcpy(e->data, data, len);
    r->ring[(r->start + r->count) % r->cap] = e;
    r->count++;
    h.bytes += len + HISTORY_ENTRY_OVERHEAD;
    h.entries++;
    make_newest(r);
    enforce_max_bytes();
    *pos = r->pos;
    return LH_OK;
}

int history_read(const char *room, size_t rlen, const struct history_pos *since, uint32_t limit,
                 struct history_bounds b, double now, struct history_read *out)
{
    *out = (struct history_read){ .count = 0 };
    struct room *r = find(room, rlen);
    if (!r && b.size == 0) {
        snprintf(out->now.epoch, sizeof out->now.epoch, "%s", history_process_epoch());
        return since && !(strcmp(since->epoch, out->now.epoch) == 0 && since->offset == 0)
            ? LH_ERR_UNRECOVERABLE : LH_OK;
    }
    if (!r && !(r = create(room, rlen))) return LH_ERR_NOMEM;
    trim(r, b, now);
    out->now = r->pos;
    out->room = r;
    /* the offsets kept are first .. pos.offset */
    uint64_t first = r->pos.offset - r->count + 1, from;
    if (since) {
        if (strcmp(since->epoch, r->pos.epoch) != 0 || since->offset > r->pos.offset ||
            since->offset + 1 < first)
            return LH_ERR_UNRECOVERABLE;
        from = since->offset + 1;
    } else {
        from = limit && limit < r->count ? r->pos.offset - limit + 1 : first;
    }
    uint64_t n = r->pos.offset + 1 - from;
    out->count = (uint32_t)(limit && n > limit ? limit : n);
    out->first = (uint32_t)(from - first);
    return LH_OK;
}

const struct history_entry *history_read_at(const struct history_read *rd, uint32_t i)
{
    if (!rd->room || i >= rd->count) return NULL;
    return at(rd->room, rd->first + i);
}

void history_sweep(double now, struct history_bounds (*bounds)(const char *name, size_t len),
                   int (*keep)(const char *name, size_t len))
{
    for (uint32_t i = 0; i < h.nbuckets; i++) {
        for (struct room *r = h.buckets[i], *next; r; r = next) {
            next = r->hnext;
            struct history_bounds b = bounds(r->name, r->name_len);
            trim(r, b, now);
            if (r->count == 0 && !keep(r->name, r->name_len)) free_room(r);
        }
    }
}

void history_set_max_bytes(uint64_t max_bytes)
{
    h.max_bytes = max_bytes;
    enforce_max_bytes();
}

uint64_t history_bytes(void) { return h.bytes; }
uint64_t history_entries(void) { return h.entries; }
uint32_t history_rooms(void) { return h.nrooms; }

void history_free_all(void)
{
    for (uint32_t i = 0; i < h.nbuckets; i++)
        while (h.buckets[i]) free_room(h.buckets[i]);
    free(h.buckets);
    h.buckets = NULL;
    h.nbuckets = 0;
}
