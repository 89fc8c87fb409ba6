/* group.h — named sets of clients with O(1) add and remove: rooms, and the user index
 * (all connections of one user id) are both groups. A group is created lazily by
 * its first member and freed when the last one leaves.
 *
 * Membership is two-sided: group->members[i] holds the client, and the client keeps i
 * (its back-reference) where the caller's slot_of function finds it, so a swap-remove can
 * tell the moved member its new index. A member is one pointer: the client set holds
 * every connection, so its array is 8 bytes a client. */
#ifndef LUAHUB_GROUP_H
#define LUAHUB_GROUP_H

#include <stddef.h>
#include <stdint.h>

struct client;
struct group;

struct member {
    struct client *client;
};

/* Where client c keeps its index in group g. */
typedef uint32_t *group_slot_fn(struct client *c, const struct group *g);

struct group {
    struct group *next;          /* hash chain */
    uint32_t hash;
    uint32_t count, cap;
    struct member *members;
    size_t name_len;
    char name[];                 /* NUL-terminated */
};

struct group_index {
    struct group **buckets;
    uint32_t nbuckets, count;
};

struct group *group_find(const struct group_index *ix, const char *name, size_t len);
/* Finds or creates; NULL on allocation failure. */
struct group *group_get(struct group_index *ix, const char *name, size_t len);
/* Adds c; *index receives its index. -1 on allocation failure. */
int group_add(struct group *g, struct client *c, uint32_t *index);
/* Removes the member at index (the member moved into its place learns its new index
 * through slot_of); frees the group (unlinking it from ix) when it empties, unless ix is
 * NULL (a group that lives on empty). Returns 1 if the group was freed. */
int group_remove(struct group_index *ix, struct group *g, uint32_t index, group_slot_fn *slot_of);
/* Frees g if it has no members (after a failed first add). */
void group_free_if_empty(struct group_index *ix, struct group *g);
#define GROUP_FOREACH(ix, g)                                                      \
    for (uint32_t _b = 0; _b < (ix)->nbuckets; _b++)                               \
        for (struct group *g = (ix)->buckets[_b]; g; g = g->next)

#endif
