/* shdict.h — shared dictionaries: keys with typed values (string, number, boolean), a
 * per-key expiry and least-recently-used eviction, held in C memory that outlives every
 * script reload (hub.shared, lua/luahub/shared.lua; semantics after OpenResty's
 * lua_shared_dict).
 *
 * Each dictionary owns one region of the size it was declared with, mapped once: its
 * hash buckets, then an arena (arena.h) holding one block per key with the key, the value
 * and 48 bytes of bookkeeping. Nothing else is allocated for it, so the declared size is
 * the bound of its memory, and free_space counts what its arena has left.
 *
 * get, set, incr and delete are O(1): a chained hash table (the buckets are ~4% of the
 * region), an intrusive LRU list, and evictions that each free one key. Time is passed in
 * (`now`, the loop's clock): an entry whose expiry is <= now is never returned and is
 * freed when met (a get, a set of its key, a set looking at the LRU tail, an eviction,
 * flush_expired).
 *
 * The dictionaries of the process are kept by name in a registry, by index: an index
 * and a struct shdict stay valid for the life of the process. */
#ifndef LUAHUB_SHDICT_H
#define LUAHUB_SHDICT_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* Declared sizes: at least a few keys, at most what the arena can address. */
#define SHDICT_MIN_BYTES ((uint64_t)8 << 10)
#define SHDICT_MAX_BYTES ARENA_MAX_BYTES
#define SHDICT_MAX_KEY 65535

enum shdict_type { SHDICT_NONE, SHDICT_STRING, SHDICT_NUMBER, SHDICT_BOOLEAN };

/* What a store does with an existing key: set any, add only a new one (else
 * LH_ERR_EXISTS), replace only an existing one (else LH_ERR_NOT_FOUND). */
enum shdict_mode { SHDICT_SET, SHDICT_ADD, SHDICT_REPLACE };

struct shdict_value {
    enum shdict_type type;        /* SHDICT_NONE: no value (a store deletes the key) */
    const char *str;              /* STRING: into the dictionary, valid until it changes */
    size_t len;
    double num;                   /* NUMBER; BOOLEAN as 0 or 1 */
    uint32_t flags;               /* the caller's, kept with the value */
};

struct shdict {
    char *name;
    size_t name_len;
    uint64_t bytes;               /* the declared size: the region's */
    char *region;
    uint32_t *buckets;            /* entry offsets, 0 = empty */
    uint32_t mask;                /* buckets - 1 */
    struct arena arena;
    uint32_t lru_head, lru_tail;  /* most and least recently used */
    uint32_t count;               /* entries, expired ones not yet freed included */
    uint64_t evictions;           /* live keys freed to make room, since the start */
    int declared;                 /* by the config in force (lh_shared_declared) */
    int pending;                  /* declared by the config being applied */
};

/* A dictionary alone (spec/c/shdict_test.c, and a resize's new region). */
int shdict_init(struct shdict *d, uint64_t bytes);
void shdict_release(struct shdict *d);

/* The value's type (SHDICT_NONE when absent or expired); the entry becomes the most
 * recently used. */
enum shdict_type shdict_get(struct shdict *d, double now, const char *key, size_t klen,
                            struct shdict_value *out);
/* Stores v (a NONE value deletes) with an absolute expiry (0: none). With evict, the
 * least recently used keys are freed until the new entry fits. 1 when live keys were
 * evicted, 0, or LH_ERR_EXISTS, LH_ERR_NOT_FOUND (by mode), LH_ERR_NOMEM (no room
 * without evicting, or larger than the dictionary); a failed store leaves the key as
 * it was. */
int shdict_store(struct shdict *d, double now, const char *key, size_t klen,
                 const struct shdict_value *v, double expires, enum shdict_mode mode, int evict);
/* Adds by to a number, keeping its expiry; a key that is absent becomes *init + by
 * (expiring at init_expires) when init is given, as a set that evicts. The result goes
 * to *out; 0 or 1 (evicted) as a store, or LH_ERR_NOT_FOUND, LH_ERR_NOT_A_NUMBER,
 * LH_ERR_NOMEM. */
int shdict_incr(struct shdict *d, double now, const char *key, size_t klen, double by,
                const double *init, double init_expires, double *out);
void shdict_delete(struct shdict *d, const char *key, size_t klen);
/* The expiry of a live key (0: none) in *expires, or LH_ERR_NOT_FOUND. */
int shdict_expiry(struct shdict *d, double now, const char *key, size_t klen, double *expires);
int shdict_set_expiry(struct shdict *d, double now, const char *key, size_t klen, double expires);
void shdict_flush_all(struct shdict *d);
/* Frees up to max expired entries (0: all) from the least recently used end; how many. */
uint32_t shdict_flush_expired(struct shdict *d, double now, uint32_t max);
/* Live keys from the most recently used: *cursor 0 starts, and holds the entry returned;
 * NULL at the end. Nothing may change the dictionary while a walk goes on. */
const char *shdict_next_key(const struct shdict *d, double now, uint32_t *cursor, size_t *len);
uint64_t shdict_free_bytes(const struct shdict *d);

/* The registry. shdict_declare finds or creates name; a dictionary declared with another
 * size is rebuilt at the new one, keeping its most recently used live keys that fit. The
 * index (what happened in *change), or LH_ERR_NOMEM, LH_ERR_BAD_ARG (a size out of
 * range). */
struct shdict_change {
    enum { SHDICT_CREATED, SHDICT_SAME, SHDICT_RESIZED } what;
    uint64_t was;                 /* RESIZED: the size before */
    uint32_t dropped;             /* RESIZED: live keys that did not fit */
};
int shdict_declare(const char *name, size_t len, uint64_t bytes, double now,
                   struct shdict_change *change);
int shdict_total(void);
/* NULL for an index that names none. */
struct shdict *shdict_at(int i);

#endif
