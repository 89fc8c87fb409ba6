#include "shdict.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "lh_errors.h"

/* One key's block in the arena: this, the key's bytes, then the value's (a number as
 * 8 bytes, a boolean as 1). Offsets name blocks (arena.h), 0 none. */
struct entry {
    uint32_t chain;               /* next in the bucket */
    uint32_t lru_prev, lru_next;  /* towards the most / least recently used */
    uint32_t hash;
    uint32_t vlen;
    uint32_t flags;
    uint16_t klen;
    uint8_t type;                 /* enum shdict_type */
    double expires;               /* 0: never */
};

/* Bytes of region per bucket: a chain holds about one entry of 96 bytes or more. */
#define BYTES_PER_BUCKET 96
/* Entries the tail check of a store looks at: expired keys at the cold end are freed
 * before they cost a live key its place. */
#define TAIL_CHECK 2

static uint64_t seed;

static struct entry *entry_at(const struct shdict *d, uint32_t off) { return arena_ptr(&d->arena, off); }
static char *key_of(struct entry *e) { return (char *)(e + 1); }
static char *value_of(struct entry *e) { return key_of(e) + e->klen; }
static int expired(const struct entry *e, double now) { return e->expires != 0 && e->expires <= now; }

/* Words folded in by multiply-xorshift, then murmur3's 64-bit finalizer, so every key
 * byte reaches the low bits the buckets are picked by; seeded per process, as keys may
 * come from clients, who could otherwise fill one chain on purpose. */
static uint32_t hash_key(const char *k, size_t n)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull), w;
    for (; n >= 8; k += 8, n -= 8) {
        memcpy(&w, k, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, k, n);
    h ^= w;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

/* ------------------------------------------------------------------ lists */

static void lru_unlink(struct shdict *d, uint32_t off)
{
    struct entry *e = entry_at(d, off);
    if (e->lru_prev) entry_at(d, e->lru_prev)->lru_next = e->lru_next;
    else d->lru_head = e->lru_next;
    if (e->lru_next) entry_at(d, e->lru_next)->lru_prev = e->lru_prev;
    else d->lru_tail = e->lru_prev;
}

static void lru_push(struct shdict *d, uint32_t off)
{
    struct entry *e = entry_at(d, off);
    e->lru_prev = 0;
    e->lru_next = d->lru_head;
    if (d->lru_head) entry_at(d, d->lru_head)->lru_prev = off;
    else d->lru_tail = off;
    d->lru_head = off;
}

static void touch(struct shdict *d, uint32_t off)
{
    if (d->lru_head == off) return;
    lru_unlink(d, off);
    lru_push(d, off);
}

static uint32_t find(const struct shdict *d, const char *key, size_t klen, uint32_t hash)
{
    for (uint32_t off = d->buckets[hash & d->mask]; off; ) {
        struct entry *e = entry_at(d, off);
        if (e->hash == hash && e->klen == klen && memcmp(key_of(e), key, klen) == 0) return off;
        off = e->chain;
    }
    return 0;
}

static void remove_entry(struct shdict *d, uint32_t off)
{
    struct entry *e = entry_at(d, off);
    uint32_t *link = &d->buckets[e->hash & d->mask];
    while (*link != off) link = &entry_at(d, *link)->chain;
    *link = e->chain;
    lru_unlink(d, off);
    arena_free(&d->arena, off);
    d->count--;
}

/* A live key's entry, an expired one freed on the way. */
static uint32_t find_live(struct shdict *d, double now, const char *key, size_t klen, uint32_t hash)
{
    uint32_t off = find(d, key, klen, hash);
    if (off && expired(entry_at(d, off), now)) {
        remove_entry(d, off);
        return 0;
    }
    return off;
}

static size_t value_len(const struct shdict_value *v)
{
    switch (v->type) {
    case SHDICT_STRING: return v->len;
    case SHDICT_NUMBER: return sizeof(double);
    case SHDICT_BOOLEAN: return 1;
    default: return 0;
    }
}

static void write_value(struct entry *e, const struct shdict_value *v, double expires)
{
    e->type = (uint8_t)v->type;
    e->vlen = (uint32_t)value_len(v);
    e->flags = v->flags;
    e->expires = expires;
    if (v->type == SHDICT_STRING) memcpy(value_of(e), v->str, v->len);
    else if (v->type == SHDICT_NUMBER) memcpy(value_of(e), &v->num, sizeof(double));
    else *value_of(e) = v->num != 0;
}

/* ------------------------------------------------------------------ one dictionary */

int shdict_init(struct shdict *d, uint64_t bytes)
{
    if (!seed && getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
        seed = (uint64_t)(uintptr_t)&seed * 0x9e3779b97f4a7c15ull;
    memset(d, 0, sizeof *d);
    if (bytes < SHDICT_MIN_BYTES || bytes > SHDICT_MAX_BYTES) return LH_ERR_BAD_ARG;
    /* anonymous pages arrive zeroed (empty buckets) and only when first written */
    void *region = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return LH_ERR_NOMEM;
    uint64_t nbuckets = 8;
    while (nbuckets * 2 <= bytes / BYTES_PER_BUCKET) nbuckets *= 2;
    d->region = region;
    d->bytes = bytes;
    d->buckets = region;
    d->mask = (uint32_t)(nbuckets - 1);
    uint64_t table = nbuckets * sizeof(uint32_t);
    arena_init(&d->arena, d->region + table, bytes - table);
    return 0;
}

void shdict_release(struct shdict *d)
{
    if (d->region) munmap(d->region, d->bytes);
    d->region = NULL;
}

enum shdict_type shdict_get(struct shdict *d, double now, const char *key, size_t klen,
                            struct shdict_value *out)
{
    if (klen > SHDICT_MAX_KEY) return SHDICT_NONE;
    uint32_t off = find_live(d, now, key, klen, hash_key(key, klen));
    if (!off) return SHDICT_NONE;
    touch(d, off);
    struct entry *e = entry_at(d, off);
    out->type = e->type;
    out->flags = e->flags;
    if (e->type == SHDICT_STRING) {
        out->str = value_of(e);
        out->len = e->vlen;
    } else if (e->type == SHDICT_NUMBER) {
        memcpy(&out->num, value_of(e), sizeof(double));
    } else {
        out->num = *value_of(e);
    }
    return e->type;
}

/* Frees the expired entries among the TAIL_CHECK least recently used, but keep. */
static void reclaim_tail(struct shdict *d, double now, uint32_t keep)
{
    uint32_t off = d->lru_tail;
    for (int i = 0; off && i < TAIL_CHECK; i++) {
        uint32_t next = entry_at(d, off)->lru_prev;
        if (off != keep && expired(entry_at(d, off), now)) remove_entry(d, off);
        off = next;
    }
}

/* A block for size bytes, evicting from the LRU tail when allowed; keep (the entry being
 * replaced, or 0) is evicted only when nothing else is left, and then *keep becomes 0.
 * *evicted counts the live keys freed. */
static uint32_t make_room(struct shdict *d, double now, size_t size, int evict, uint32_t *keep,
                          uint32_t *evicted)
{
    reclaim_tail(d, now, *keep);
    uint32_t off = arena_alloc(&d->arena, size);
    if (off || !evict) return off;
    if (*keep) lru_unlink(d, *keep);
    while (!(off = arena_alloc(&d->arena, size)) && d->lru_tail) {
        if (!expired(entry_at(d, d->lru_tail), now)) (*evicted)++;
        remove_entry(d, d->lru_tail);
    }
    if (*keep) {
        lru_push(d, *keep);
        if (!off) {
            (*evicted)++;
            remove_entry(d, *keep);
            *keep = 0;
            off = arena_alloc(&d->arena, size);
        }
    }
    return off;
}

int shdict_store(struct shdict *d, double now, const char *key, size_t klen,
                 const struct shdict_value *v, double expires, enum shdict_mode mode, int evict)
{
    if (klen > SHDICT_MAX_KEY || klen == 0) return LH_ERR_BAD_ARG;
    uint32_t hash = hash_key(key, klen);
    uint32_t old = find_live(d, now, key, klen, hash);
    if (mode == SHDICT_ADD && old) return LH_ERR_EXISTS;
    if (mode == SHDICT_REPLACE && !old) return LH_ERR_NOT_FOUND;
    if (v->type == SHDICT_NONE) {
        if (old) remove_entry(d, old);
        return 0;
    }
    size_t vlen = value_len(v);
    if (vlen > UINT32_MAX) return LH_ERR_NOMEM;
    size_t size = sizeof(struct entry) + klen + vlen;
    if (size > arena_max_payload(&d->arena)) return LH_ERR_NOMEM;
    /* a value of about the same size is written over the old one */
    if (old) {
        size_t have = arena_payload(&d->arena, old);
        if (have >= size && have - size < 2 * ARENA_UNIT) {
            write_value(entry_at(d, old), v, expires);
            touch(d, old);
            return 0;
        }
    }
    uint32_t evicted = 0;
    uint32_t off = make_room(d, now, size, evict, &old, &evicted);
    d->evictions += evicted;
    if (!off) return LH_ERR_NOMEM;
    if (old) remove_entry(d, old);
    struct entry *e = entry_at(d, off);
    e->hash = hash;
    e->klen = (uint16_t)klen;
    memcpy(key_of(e), key, klen);
    write_value(e, v, expires);
    uint32_t *bucket = &d->buckets[hash & d->mask];
    e->chain = *bucket;
    *bucket = off;
    lru_push(d, off);
    d->count++;
    return evicted > 0;
}

int shdict_incr(struct shdict *d, double now, const char *key, size_t klen, double by,
                const double *init, double init_expires, double *out)
{
    if (klen > SHDICT_MAX_KEY || klen == 0) return LH_ERR_BAD_ARG;
    uint32_t off = find_live(d, now, key, klen, hash_key(key, klen));
    if (off) {
        struct entry *e = entry_at(d, off);
        if (e->type != SHDICT_NUMBER) return LH_ERR_NOT_A_NUMBER;
        double n;
        memcpy(&n, value_of(e), sizeof n);
        n += by;
        memcpy(value_of(e), &n, sizeof n);
        touch(d, off);
        *out = n;
        return 0;
    }
    if (!init) return LH_ERR_NOT_FOUND;
    struct shdict_value v = { .type = SHDICT_NUMBER, .num = *init + by };
    int rc = shdict_store(d, now, key, klen, &v, init_expires, SHDICT_SET, 1);
    if (rc >= 0) *out = v.num;
    return rc;
}

void shdict_delete(struct shdict *d, const char *key, size_t klen)
{
    if (klen > SHDICT_MAX_KEY) return;
    uint32_t off = find(d, key, klen, hash_key(key, klen));
    if (off) remove_entry(d, off);
}

int shdict_expiry(struct shdict *d, double now, const char *key, size_t klen, double *expires)
{
    if (klen > SHDICT_MAX_KEY) return LH_ERR_NOT_FOUND;
    uint32_t off = find_live(d, now, key, klen, hash_key(key, klen));
    if (!off) return LH_ERR_NOT_FOUND;
    *expires = entry_at(d, off)->expires;
    return 0;
}

int shdict_set_expiry(struct shdict *d, double now, const char *key, size_t klen, double expires)
{
    if (klen > SHDICT_MAX_KEY) return LH_ERR_NOT_FOUND;
    uint32_t off = find_live(d, now, key, klen, hash_key(key, klen));
    if (!off) return LH_ERR_NOT_FOUND;
    entry_at(d, off)->expires = expires;
    return 0;
}

void shdict_flush_all(struct shdict *d)
{
    while (d->lru_tail) remove_entry(d, d->lru_tail);
}

uint32_t shdict_flush_expired(struct shdict *d, double now, uint32_t max)
{
    uint32_t freed = 0;
    for (uint32_t off = d->lru_tail; off && (max == 0 || freed < max); ) {
        uint32_t next = entry_at(d, off)->lru_prev;
        if (expired(entry_at(d, off), now)) {
            remove_entry(d, off);
            freed++;
        }
        off = next;
    }
    return freed;
}

const char *shdict_next_key(const struct shdict *d, double now, uint32_t *cursor, size_t *len)
{
    uint32_t off = *cursor ? entry_at(d, *cursor)->lru_next : d->lru_head;
    while (off && expired(entry_at(d, off), now)) off = entry_at(d, off)->lru_next;
    if (!off) return NULL;
    *cursor = off;
    *len = entry_at(d, off)->klen;
    return key_of(entry_at(d, off));
}

uint64_t shdict_free_bytes(const struct shdict *d) { return d->arena.free_bytes; }

/* d rebuilt in a region of bytes: its live entries replayed from the least recently
 * used, each stored as a set that evicts, so the most recent ones are what fits. */
static int resize(struct shdict *d, uint64_t bytes, double now, uint32_t *dropped)
{
    struct shdict next;
    int rc = shdict_init(&next, bytes);
    if (rc != 0) return rc;
    uint32_t live = 0;
    for (uint32_t off = d->lru_tail; off; off = entry_at(d, off)->lru_prev) {
        struct entry *e = entry_at(d, off);
        if (expired(e, now)) continue;
        live++;
        struct shdict_value v = { .type = e->type, .str = value_of(e), .len = e->vlen,
                                  .flags = e->flags };
        if (e->type == SHDICT_NUMBER) memcpy(&v.num, value_of(e), sizeof v.num);
        else if (e->type == SHDICT_BOOLEAN) v.num = *value_of(e);
        shdict_store(&next, now, key_of(e), e->klen, &v, e->expires, SHDICT_SET, 1);
    }
    *dropped = live - next.count;
    shdict_release(d);
    d->region = next.region;
    d->bytes = next.bytes;
    d->buckets = next.buckets;
    d->mask = next.mask;
    d->arena = next.arena;
    d->lru_head = next.lru_head;
    d->lru_tail = next.lru_tail;
    d->count = next.count;
    d->evictions += *dropped;
    return 0;
}

/* ------------------------------------------------------------------ the registry */

static struct shdict **registry;
static int registered;

int shdict_declare(const char *name, size_t len, uint64_t bytes, double now,
                   struct shdict_change *change)
{
    *change = (struct shdict_change){ .what = SHDICT_SAME, .was = bytes };
    for (int i = 0; i < registered; i++) {
        struct shdict *d = registry[i];
        if (d->name_len != len || memcmp(d->name, name, len) != 0) continue;
        d->pending = 1;
        if (d->bytes == bytes) return i;
        change->what = SHDICT_RESIZED;
        change->was = d->bytes;
        int rc = resize(d, bytes, now, &change->dropped);
        return rc < 0 ? rc : i;
    }
    struct shdict **grown = realloc(registry, (size_t)(registered + 1) * sizeof *grown);
    if (!grown) return LH_ERR_NOMEM;
    registry = grown;
    struct shdict *d = malloc(sizeof *d);
    char *copy = malloc(len + 1);
    int rc = d && copy ? shdict_init(d, bytes) : LH_ERR_NOMEM;
    if (rc != 0) {
        free(d);
        free(copy);
        return rc;
    }
    memcpy(copy, name, len);
    copy[len] = 0;
    d->name = copy;
    d->name_len = len;
    d->pending = 1;
    registry[registered] = d;
    change->what = SHDICT_CREATED;
    return registered++;
}

int shdict_total(void) { return registered; }

struct shdict *shdict_at(int i) { return i >= 0 && i < registered ? registry[i] : NULL; }
