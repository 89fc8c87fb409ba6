/* shdict_test — core/arena.c and core/shdict.c alone, with time passed in: blocks that
 * never overlap and coalesce back into one, typed values and flags, add/replace rules,
 * expiry (never returned, reclaimed when met), incr, LRU eviction and its count, the
 * no-evict stores failing with the old value kept, values larger than the dictionary,
 * the size bound under random churn, key walks, flushes, and the registry's declare
 * (same size, resize up and down keeping the most recent keys). */
#include "shdict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lh_errors.h"

static struct shdict_value str(const char *s) { return (struct shdict_value){ .type = SHDICT_STRING, .str = s, .len = strlen(s) }; }
static struct shdict_value num(double n) { return (struct shdict_value){ .type = SHDICT_NUMBER, .num = n }; }

static int set(struct shdict *d, double now, const char *k, struct shdict_value v, double expires)
{
    return shdict_store(d, now, k, strlen(k), &v, expires, SHDICT_SET, 1);
}

/* the string value of k, or NULL */
static const char *get_str(struct shdict *d, double now, const char *k, size_t *len)
{
    struct shdict_value v;
    return shdict_get(d, now, k, strlen(k), &v) == SHDICT_STRING ? (*len = v.len, v.str) : NULL;
}

static int has(struct shdict *d, double now, const char *k)
{
    struct shdict_value v;
    return shdict_get(d, now, k, strlen(k), &v) != SHDICT_NONE;
}

static void test_arena(void)
{
    static uint64_t region[4096];             /* 32 KiB, 8-byte aligned */
    struct arena a;
    arena_init(&a, region, sizeof region);
    uint64_t empty = a.free_bytes;
    CHECK(empty == sizeof region - 2 * ARENA_UNIT, "arena: all but the two sentinels free (%llu)",
          (unsigned long long)empty);

    /* random churn: every live block keeps its own byte pattern, so an overlap shows */
    enum { N = 200 };
    uint32_t off[N] = { 0 };
    size_t len[N] = { 0 };
    int overlaps = 0;
    srand(7);
    for (int round = 0; round < 20000; round++) {
        int i = rand() % N;
        if (off[i]) {
            const unsigned char *p = arena_ptr(&a, off[i]);
            for (size_t j = 0; j < len[i]; j++) overlaps += p[j] != (unsigned char)i;
            arena_free(&a, off[i]);
            off[i] = 0;
        } else {
            len[i] = (size_t)(rand() % 600);
            off[i] = arena_alloc(&a, len[i]);
            if (off[i]) memset(arena_ptr(&a, off[i]), i, len[i]);
        }
    }
    uint64_t held = 0;
    for (int i = 0; i < N; i++)
        if (off[i]) held += arena_payload(&a, off[i]) + ARENA_UNIT;
    CHECK(overlaps == 0, "arena: no block overwrote another over 20000 allocs and frees");
    CHECK(held + a.free_bytes == empty, "arena: free bytes + held blocks = the region (%llu + %llu)",
          (unsigned long long)a.free_bytes, (unsigned long long)held);
    for (int i = 0; i < N; i++)
        if (off[i]) arena_free(&a, off[i]);
    CHECK(a.free_bytes == empty, "arena: everything freed counts as free again");
    uint32_t whole = arena_alloc(&a, arena_max_payload(&a));
    CHECK(whole != 0, "arena: freed neighbours coalesced back into one block of the whole region");
    CHECK(arena_alloc(&a, 1) == 0 && a.free_bytes == 0, "arena: nothing left beside it");
    arena_free(&a, whole);
    CHECK(arena_alloc(&a, arena_max_payload(&a) + 1) == 0, "arena: more than the region never fits");
}

static void test_values(void)
{
    struct shdict d;
    CHECK(shdict_init(&d, 64 << 10) == 0, "init 64k");
    struct shdict_value v = str("hello");
    v.flags = 42;
    CHECK(shdict_store(&d, 0, "s", 1, &v, 0, SHDICT_SET, 1) == 0, "set a string");
    struct shdict_value out;
    CHECK(shdict_get(&d, 0, "s", 1, &out) == SHDICT_STRING && out.len == 5 &&
          memcmp(out.str, "hello", 5) == 0 && out.flags == 42, "get it back with its flags");
    CHECK(set(&d, 0, "n", num(-2.5), 0) == 0 && shdict_get(&d, 0, "n", 1, &out) == SHDICT_NUMBER &&
          out.num == -2.5, "a number keeps its type and value");
    struct shdict_value t = { .type = SHDICT_BOOLEAN, .num = 1 }, f = { .type = SHDICT_BOOLEAN };
    set(&d, 0, "t", t, 0);
    set(&d, 0, "f", f, 0);
    CHECK(shdict_get(&d, 0, "t", 1, &out) == SHDICT_BOOLEAN && out.num == 1 &&
          shdict_get(&d, 0, "f", 1, &out) == SHDICT_BOOLEAN && out.num == 0, "booleans true and false");
    CHECK(set(&d, 0, "s", num(1), 0) == 0 && shdict_get(&d, 0, "s", 1, &out) == SHDICT_NUMBER,
          "a set changes the type");
    CHECK(set(&d, 0, "s", str("a longer string than before, moved to a new block"), 0) == 0 &&
          get_str(&d, 0, "s", &out.len) && out.len == 49, "a larger value moves");
    struct shdict_value none = { .type = SHDICT_NONE };
    CHECK(shdict_store(&d, 0, "s", 1, &none, 0, SHDICT_SET, 1) == 0 && !has(&d, 0, "s"), "no value deletes");
    CHECK(d.count == 3, "three keys left (%u)", d.count);

    struct shdict_value one = num(1);
    CHECK(shdict_store(&d, 0, "n", 1, &one, 0, SHDICT_ADD, 0) == LH_ERR_EXISTS, "add of a present key: exists");
    CHECK(shdict_store(&d, 0, "x", 1, &one, 0, SHDICT_REPLACE, 1) == LH_ERR_NOT_FOUND, "replace of an absent key: not_found");
    CHECK(shdict_store(&d, 0, "x", 1, &one, 0, SHDICT_ADD, 0) == 0, "add of an absent key");
    CHECK(shdict_store(&d, 0, "x", 1, &none, 0, SHDICT_REPLACE, 1) == 0 && !has(&d, 0, "x"), "replace with no value deletes");
    CHECK(shdict_store(&d, 0, "", 0, &one, 0, SHDICT_SET, 1) == LH_ERR_BAD_ARG, "an empty key is refused");

    /* keys that differ only after a NUL, and many keys: every one found */
    CHECK(shdict_store(&d, 0, "a\0b", 3, &one, 0, SHDICT_SET, 1) == 0 &&
          shdict_get(&d, 0, "a\0c", 3, &out) == SHDICT_NONE && shdict_get(&d, 0, "a\0b", 3, &out) == SHDICT_NUMBER,
          "keys are bytes: a NUL does not end them");
    shdict_release(&d);

    CHECK(shdict_init(&d, 4 << 20) == 0, "init 4m");
    char k[32];
    int missing = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        set(&d, 0, k, num(i), 0);
    }
    for (int i = 0; i < 20000; i += 2) {
        snprintf(k, sizeof k, "key:%d", i);
        shdict_delete(&d, k, strlen(k));
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        missing += shdict_get(&d, 0, k, strlen(k), &out) != (i % 2 ? SHDICT_NUMBER : SHDICT_NONE) ||
                   (i % 2 && out.num != i);
    }
    CHECK(missing == 0 && d.count == 10000 && d.evictions == 0,
          "20000 keys in 4m, every second one deleted: the rest found with their values");
    shdict_release(&d);
}

static void test_expiry(void)
{
    struct shdict d;
    shdict_init(&d, 64 << 10);
    set(&d, 100, "k", str("v"), 101);
    double at = 0;
    CHECK(has(&d, 100.5, "k") && shdict_expiry(&d, 100.5, "k", 1, &at) == 0 && at == 101, "live before its expiry");
    CHECK(!has(&d, 101, "k"), "gone at its expiry");
    CHECK(d.count == 0, "and freed when met");

    set(&d, 100, "k", str("v"), 101);
    struct shdict_value one = num(1);
    CHECK(shdict_store(&d, 102, "k", 1, &one, 0, SHDICT_ADD, 0) == 0, "add over an expired key succeeds");
    CHECK(shdict_store(&d, 102, "gone", 4, &one, 0, SHDICT_REPLACE, 1) == LH_ERR_NOT_FOUND, "replace of nothing");
    CHECK(shdict_set_expiry(&d, 102, "k", 1, 110) == 0 && shdict_expiry(&d, 103, "k", 1, &at) == 0 && at == 110,
          "a new expiry");
    CHECK(shdict_set_expiry(&d, 102, "k", 1, 0) == 0 && has(&d, 1e9, "k"), "expiry 0: never");
    CHECK(shdict_set_expiry(&d, 102, "nope", 4, 1) == LH_ERR_NOT_FOUND, "expiry of an absent key: not_found");

    double v = 0, init = 10;
    CHECK(shdict_incr(&d, 0, "c", 1, 1, NULL, 0, &v) == LH_ERR_NOT_FOUND, "incr of an absent key without init");
    CHECK(shdict_incr(&d, 100, "c", 1, 5, &init, 105, &v) == 0 && v == 15, "incr with init: init + by");
    CHECK(shdict_incr(&d, 101, "c", 1, -1, &init, 0, &v) == 0 && v == 14, "incr again: the value + by");
    CHECK(shdict_expiry(&d, 101, "c", 1, &at) == 0 && at == 105, "incr keeps the expiry of its init");
    CHECK(shdict_incr(&d, 106, "c", 1, 1, &init, 0, &v) == 0 && v == 11, "an expired counter starts from init");
    set(&d, 0, "s", str("text"), 0);
    CHECK(shdict_incr(&d, 0, "s", 1, 1, &init, 0, &v) == LH_ERR_NOT_A_NUMBER, "incr of a string: not_a_number");

    /* walks skip expired keys; the most recently used come first */
    shdict_flush_all(&d);
    CHECK(d.count == 0 && shdict_free_bytes(&d) == d.arena.units * (uint64_t)ARENA_UNIT - 2 * ARENA_UNIT,
          "flush_all frees everything");
    set(&d, 0, "a", num(1), 0);
    set(&d, 0, "b", num(2), 50);
    set(&d, 0, "c", num(3), 0);
    struct shdict_value out;
    shdict_get(&d, 0, "a", 1, &out);
    char seen[8] = { 0 };
    size_t len, n = 0;
    uint32_t cursor = 0;
    for (const char *k; (k = shdict_next_key(&d, 60, &cursor, &len)) && n < sizeof seen - 1; ) seen[n++] = *k;
    CHECK(strcmp(seen, "ac") == 0, "keys at 60: a (used last), c; b expired (%s)", seen);
    CHECK(shdict_flush_expired(&d, 60, 0) == 1 && d.count == 2, "flush_expired frees b");
    shdict_release(&d);
}

static void test_eviction(void)
{
    struct shdict d;
    shdict_init(&d, SHDICT_MIN_BYTES);
    char k[32], big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    int i, forcible = 0;
    for (i = 0; !forcible; i++) {
        snprintf(k, sizeof k, "k%d", i);
        forcible = set(&d, 0, k, str(big), 0);
        if (i == 3) has(&d, 0, "k0");          /* k0 is used again: k1 is the oldest now */
    }
    CHECK(forcible == 1 && d.evictions >= 1, "a full dictionary evicts and says so (after %d keys)", i);
    CHECK(has(&d, 0, "k0") && !has(&d, 0, "k1"), "the least recently used key went, not the one used again");
    CHECK(d.bytes - shdict_free_bytes(&d) <= d.bytes, "used bytes within the declared size");

    /* no-evict stores fail and change nothing */
    uint64_t evictions = d.evictions;
    struct shdict_value v = str(big);
    int rc = 0;
    for (i = 0; rc == 0; i++) {
        snprintf(k, sizeof k, "safe%d", i);
        rc = shdict_store(&d, 0, k, strlen(k), &v, 0, SHDICT_SET, 0);
    }
    CHECK(rc == LH_ERR_NOMEM && d.evictions == evictions, "a safe set fails with no_memory and evicts nothing");
    CHECK(shdict_store(&d, 0, "new", 3, &v, 0, SHDICT_ADD, 0) == LH_ERR_NOMEM, "add fails with no_memory");
    char bigger[400];
    memset(bigger, 'y', sizeof bigger - 1);
    bigger[sizeof bigger - 1] = 0;
    struct shdict_value b = str(bigger);
    size_t len;
    CHECK(shdict_store(&d, 0, "k0", 2, &b, 0, SHDICT_SET, 0) == LH_ERR_NOMEM && get_str(&d, 0, "k0", &len) &&
          len == sizeof big - 1, "a failed safe set keeps the old value");

    /* a value larger than the dictionary fails at once and evicts nothing */
    size_t huge_len = SHDICT_MIN_BYTES;
    char *huge = malloc(huge_len);
    memset(huge, 'z', huge_len);
    struct shdict_value h = { .type = SHDICT_STRING, .str = huge, .len = huge_len };
    uint32_t count = d.count;
    CHECK(shdict_store(&d, 0, "huge", 4, &h, 0, SHDICT_SET, 1) == LH_ERR_NOMEM && d.count == count,
          "a value larger than the dictionary: no_memory, nothing evicted");
    /* the largest value that fits alone evicts everything else, the replaced key last */
    h.len = arena_max_payload(&d.arena) - 48 - 2;
    CHECK(shdict_store(&d, 0, "k0", 2, &h, 0, SHDICT_SET, 1) == 1 && d.count == 1 && get_str(&d, 0, "k0", &len) &&
          len == h.len, "a value as large as the dictionary replaces its key after evicting the rest");
    free(huge);

    /* an expired key at the cold end is freed by the next store that allocates */
    shdict_flush_all(&d);
    set(&d, 0, "old", str(big), 10);
    set(&d, 20, "new", str(big), 0);
    CHECK(d.count == 1 && has(&d, 20, "new"), "a store freed the expired key at the LRU tail");
    shdict_release(&d);
}

/* Random churn with sizes from 1 byte to 2 KiB over 64 KiB: each present key holds its
 * own pattern, and the region's accounting adds up. */
static void test_bound(void)
{
    struct shdict d;
    shdict_init(&d, 64 << 10);
    static char buf[2048];
    char k[32];
    int wrong = 0;
    srand(11);
    for (int round = 0; round < 50000; round++) {
        int i = rand() % 500;
        snprintf(k, sizeof k, "r%d", i);
        if (rand() % 4 == 0) {
            shdict_delete(&d, k, strlen(k));
            continue;
        }
        size_t len = 1 + (size_t)(rand() % (int)sizeof buf);
        memset(buf, 'a' + i % 26, len);
        struct shdict_value v = { .type = SHDICT_STRING, .str = buf, .len = len };
        shdict_store(&d, 0, k, strlen(k), &v, 0, SHDICT_SET, 1);
    }
    uint64_t held = 0;
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof k, "r%d", i);
        size_t len;
        const char *s = get_str(&d, 0, k, &len);
        if (!s) continue;
        held += 48 + strlen(k) + len;
        for (size_t j = 0; j < len; j++) wrong += s[j] != 'a' + i % 26;
    }
    CHECK(wrong == 0, "50000 random sets and deletes: every value intact");
    CHECK(held + shdict_free_bytes(&d) <= d.bytes, "entries + free bytes within the declared size (%llu + %llu)",
          (unsigned long long)held, (unsigned long long)shdict_free_bytes(&d));
    CHECK(d.evictions > 0, "the bound forced evictions (%llu)", (unsigned long long)d.evictions);
    shdict_release(&d);
}

static void test_registry(void)
{
    struct shdict_change c;
    int a = shdict_declare("a", 1, 64 << 10, 0, &c);
    CHECK(a >= 0 && c.what == SHDICT_CREATED, "declare creates");
    CHECK(shdict_declare("a", 1, 64 << 10, 0, &c) == a && c.what == SHDICT_SAME, "the same size again: the same one");
    int b = shdict_declare("b", 1, 16 << 10, 0, &c);
    CHECK(b >= 0 && b != a && shdict_total() == 2 && shdict_at(b) && !shdict_at(2), "another name, another one");
    CHECK(shdict_declare("c", 1, 100, 0, &c) == LH_ERR_BAD_ARG, "a size below the minimum is refused");

    struct shdict *d = shdict_at(a);
    char k[32], v[100];
    memset(v, 'v', sizeof v - 1);
    v[sizeof v - 1] = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%d", i);
        set(d, 0, k, str(v), i == 5 ? 1 : 0);        /* k5 expires at 1 */
    }
    CHECK(d->count == 300, "300 keys");
    CHECK(shdict_declare("a", 1, 128 << 10, 2, &c) == a && c.what == SHDICT_RESIZED && c.was == 64 << 10 &&
          c.dropped == 0 && d->count == 299 && d->bytes == 128 << 10, "resized up: every live key kept (%u)",
          c.dropped);
    CHECK(has(d, 2, "k0") && has(d, 2, "k299") && !has(d, 2, "k5"), "values kept, the expired key not");
    CHECK(shdict_declare("a", 1, 16 << 10, 2, &c) == a && c.what == SHDICT_RESIZED && c.dropped > 0 &&
          d->count + c.dropped == 299, "resized down: %u keys dropped", c.dropped);
    CHECK(has(d, 2, "k298") && has(d, 2, "k0") && !has(d, 2, "k1"),
          "the most recently used keys kept (k0 was read), the oldest dropped");
}

int main(void)
{
    test_arena();
    test_values();
    test_expiry();
    test_eviction();
    test_bound();
    test_registry();
    return check_summary();
}
