/* group_test — core/group.c alone: named sets of clients as rooms and the user index use
 * them. Find/get/add/remove, the swap-remove telling the moved member its new index
 * through the slot the caller's slot_of names (wherever the client keeps it now), a group
 * freed and unlinked when it empties vs one that lives on empty (ix NULL), growth of the
 * index past 64 buckets with every group still findable, and names that differ only
 * after a NUL byte or that share their whole 32-bit hash. Clients are zeroed structs:
 * a group only keeps their address. */
#include "group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client.h"

#define NCLIENTS 5

static struct client clients[NCLIENTS];
static uint32_t slot[NCLIENTS];              /* each client's back-reference */
static uint32_t *moved[NCLIENTS];            /* where a client keeps it instead, if set */

static uint32_t *slot_of(struct client *c, const struct group *g)
{
    int i = (int)(c - clients);
    return moved[i] ? moved[i] : &slot[i];
}

/* 1 when g's members are exactly want[0..n) in that order and every member's slot holds
 * its index. */
static int members_are(const struct group *g, const int *want, uint32_t n)
{
    int ok = g->count == n;
    for (uint32_t i = 0; ok && i < n; i++)
        ok = g->members[i].client == &clients[want[i]] && *slot_of(g->members[i].client, g) == i;
    if (!ok) {
        printf("# members:");
        for (uint32_t i = 0; i < g->count; i++)
            printf(" %d@%u", (int)(g->members[i].client - clients), *slot_of(g->members[i].client, g));
        printf("\n");
    }
    return ok;
}

static void index_free(struct group_index *ix)
{
    free(ix->buckets);
    *ix = (struct group_index){ 0 };
}

static void test_find_get_add_remove(void)
{
    struct group_index ix = { 0 };
    CHECK(group_find(&ix, "lobby", 5) == NULL, "an index with no buckets finds nothing");
    struct group *g = group_get(&ix, "lobby", 5);
    CHECK(g && ix.count == 1 && ix.nbuckets == 64, "get creates the group (64 buckets at first)");
    CHECK(g && g->name_len == 5 && memcmp(g->name, "lobby", 6) == 0, "the name is copied, NUL-terminated");
    CHECK(group_get(&ix, "lobby", 5) == g && ix.count == 1, "a second get finds the same group");
    CHECK(group_find(&ix, "lobby", 5) == g, "find finds it");
    CHECK(group_find(&ix, "lobb", 4) == NULL && group_find(&ix, "lobbyx", 6) == NULL,
          "a prefix or an extension of the name is another group");

    for (int i = 0; i < NCLIENTS; i++) group_add(g, &clients[i], &slot[i]);
    CHECK(members_are(g, (int[]){ 0, 1, 2, 3, 4 }, 5), "five added in order, each told its index");

    CHECK(group_remove(&ix, g, 1, slot_of) == 0, "removing a middle member does not free the group");
    CHECK(members_are(g, (int[]){ 0, 4, 2, 3 }, 4) && slot[4] == 1,
          "swap-remove: the last member moves into index 1 and its slot says 1");
    CHECK(group_remove(&ix, g, 3, slot_of) == 0 && members_are(g, (int[]){ 0, 4, 2 }, 3),
          "removing the last member moves nobody");
    CHECK(slot[3] == 3, "the removed member's own slot is left alone");

    /* the client keeps member 4's index elsewhere now (as client rooms arrays move) */
    uint32_t moved_slot = slot[4];
    slot[4] = 99;
    moved[4] = &moved_slot;
    CHECK(group_remove(&ix, g, 2, slot_of) == 0 && members_are(g, (int[]){ 0, 4 }, 2), "client 2 removed");
    CHECK(group_remove(&ix, g, 0, slot_of) == 0 && g->members[0].client == &clients[4],
          "client 4 moved to index 0");
    CHECK(moved_slot == 0 && slot[4] == 99, "the slot slot_of names now is the one kept up to date");
    moved[4] = NULL;

    CHECK(group_remove(&ix, g, 0, slot_of) == 1, "the last member's removal frees the group (returns 1)");
    CHECK(group_find(&ix, "lobby", 5) == NULL && ix.count == 0, "a freed group is unlinked from the index");

    g = group_get(&ix, "lobby", 5);
    CHECK(g && g->count == 0, "getting it again makes a fresh empty group");
    group_free_if_empty(&ix, g);
    CHECK(group_find(&ix, "lobby", 5) == NULL && ix.count == 0,
          "group_free_if_empty frees a group that never got a member");
    g = group_get(&ix, "lobby", 5);
    group_add(g, &clients[0], &slot[0]);
    group_free_if_empty(&ix, g);
    CHECK(group_find(&ix, "lobby", 5) == g, "group_free_if_empty keeps a group with a member");
    group_remove(&ix, g, 0, slot_of);
    index_free(&ix);
}

/* The hub's set of every client: a group outside any index, which empties and fills again. */
static void test_lives_on_empty(void)
{
    struct group *all = calloc(1, sizeof *all + 1);
    group_add(all, &clients[0], &slot[0]);
    group_add(all, &clients[1], &slot[1]);
    CHECK(group_remove(NULL, all, 0, slot_of) == 0 && members_are(all, (int[]){ 1 }, 1),
          "ix NULL: swap-remove as usual");
    CHECK(group_remove(NULL, all, 0, slot_of) == 0 && all->count == 0, "ix NULL: empty, not freed (returns 0)");
    group_add(all, &clients[2], &slot[2]);
    CHECK(members_are(all, (int[]){ 2 }, 1), "the empty group takes members again");
    free(all->members);
    free(all);
}

/* 1000 groups: the index doubles each time it holds as many groups as buckets. */
static void test_growth(void)
{
    struct group_index ix = { 0 };
    struct group *made[1000];
    char name[32];
    int grew_at_65 = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(name, sizeof name, "room-%d", i);
        made[i] = group_get(&ix, name, (size_t)n);
        group_add(made[i], &clients[i % NCLIENTS], &slot[i % NCLIENTS]);
        if (i == 63) CHECK(ix.nbuckets == 64, "64 groups in 64 buckets");
        if (i == 64) grew_at_65 = ix.nbuckets == 128;
    }
    CHECK(grew_at_65, "the 65th group doubles the buckets");
    CHECK(ix.count == 1000 && ix.nbuckets == 1024,
          "1000 groups, 1024 buckets (%u, %u)", ix.count, ix.nbuckets);
    int found = 0;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(name, sizeof name, "room-%d", i);
        found += group_find(&ix, name, (size_t)n) == made[i];
    }
    CHECK(found == 1000, "every group is findable after the rehashes (%d)", found);
    int visited = 0, in_right_bucket = 1;
    GROUP_FOREACH(&ix, g) {
        visited++;
        if (ix.buckets[g->hash & (ix.nbuckets - 1)] != g) {
            /* not the chain head: it must still be in the chain of its own bucket */
            struct group *h = ix.buckets[g->hash & (ix.nbuckets - 1)];
            while (h && h != g) h = h->next;
            in_right_bucket &= h == g;
        }
    }
    CHECK(visited == 1000 && in_right_bucket, "GROUP_FOREACH visits each once, each in its hash's bucket");
    int freed = 0;
    for (int i = 0; i < 1000; i += 2) freed += group_remove(&ix, made[i], 0, slot_of);
    found = 0;
    for (int i = 1; i < 1000; i += 2) {
        int n = snprintf(name, sizeof name, "room-%d", i);
        found += group_find(&ix, name, (size_t)n) == made[i];
    }
    CHECK(freed == 500 && ix.count == 500 && found == 500,
          "half freed: the other half still findable (%d freed, %d found)", freed, found);
    for (int i = 1; i < 1000; i += 2) group_remove(&ix, made[i], 0, slot_of);
    CHECK(ix.count == 0, "all freed");
    index_free(&ix);
}

static void test_awkward_names(void)
{
    struct group_index ix = { 0 };
    struct group *ab = group_get(&ix, "a\0b", 3), *ac = group_get(&ix, "a\0c", 3);
    struct group *a = group_get(&ix, "a", 1), *empty = group_get(&ix, "", 0);
    CHECK(ab && ac && a && empty && ab != ac && ab != a && ac != a && empty != a && ix.count == 4,
          "names equal up to a NUL byte are four groups");
    CHECK(group_find(&ix, "a\0b", 3) == ab && group_find(&ix, "a\0c", 3) == ac &&
          group_find(&ix, "a", 1) == a && group_find(&ix, "", 0) == empty,
          "each found by its whole name");
    CHECK(ab->name_len == 3 && memcmp(ab->name, "a\0b", 4) == 0, "the name keeps its NUL byte");

    /* Two known FNV-1a 32-bit collisions: same hash, same bucket, different names. */
    struct group *x = group_get(&ix, "costarring", 10), *y = group_get(&ix, "liquid", 6);
    struct group *p = group_get(&ix, "declinate", 9), *q = group_get(&ix, "macallums", 9);
    CHECK(x->hash == y->hash && p->hash == q->hash, "the pairs share their hashes (%08x %08x, %08x %08x)",
          x->hash, y->hash, p->hash, q->hash);
    CHECK(x != y && p != q && ix.count == 8, "equal hashes are still different groups");
    CHECK(group_find(&ix, "costarring", 10) == x && group_find(&ix, "liquid", 6) == y &&
          group_find(&ix, "declinate", 9) == p && group_find(&ix, "macallums", 9) == q,
          "each found by its name, not its hash");
    group_add(y, &clients[0], &slot[0]);
    group_add(p, &clients[1], &slot[1]);
    CHECK(group_remove(&ix, y, 0, slot_of) == 1 && group_find(&ix, "costarring", 10) == x &&
          group_find(&ix, "liquid", 6) == NULL, "freeing the chain head of a colliding pair unlinks only it");
    CHECK(group_remove(&ix, p, 0, slot_of) == 1 && group_find(&ix, "macallums", 9) == q &&
          group_find(&ix, "declinate", 9) == NULL, "freeing the one behind it unlinks only that one");
    struct group *rest[] = { ab, ac, a, empty, x, q };
    for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) group_free_if_empty(&ix, rest[i]);
    CHECK(ix.count == 0, "all freed");
    index_free(&ix);
}

int main(void)
{
    test_find_get_add_remove();
    test_lives_on_empty();
    test_growth();
    test_awkward_names();
    return check_summary();
}
