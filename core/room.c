#include "room.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fanout_batch.h"
#include "client.h"
#include "lh_errors.h"
#include "log.h"
#include "metrics.h"

struct group_index room_index, user_index;

static void (*interest)(int scope, const char *name, size_t len, int on);

void room_on_interest(void (*fn)(int scope, const char *name, size_t len, int on)) { interest = fn; }

static void note_interest(int scope, const struct group *g, int on)
{
    if (interest) interest(scope, g->name, g->name_len, on);
}

static int find_in_client(const struct client *c, const struct group *g)
{
    for (int i = 0; i < c->nrooms; i++)
        if (c->rooms[i].room == g) return i;
    return -1;
}

static uint32_t *room_slot(struct client *c, const struct group *g)
{
    return &c->rooms[find_in_client(c, g)].index;
}

static uint32_t *user_slot(struct client *c, const struct group *g) { return &c->user_index; }

int room_member_of(const struct client *c, const char *name, size_t len)
{
    struct group *g = group_find(&room_index, name, len);
    return g && find_in_client(c, g) >= 0;
}

int room_join(struct client *c, const char *name, size_t len)
{
    struct group *g = group_find(&room_index, name, len);
    if (g && find_in_client(c, g) >= 0) return LH_ERR_ALREADY_IN_ROOM;
    if (config.limit_rooms_per_client && c->nrooms >= config.limit_rooms_per_client)
        return LH_ERR_MAX_ROOMS;
    if (g && config.limit_clients_per_room && g->count >= config.limit_clients_per_room)
        return LH_ERR_ROOM_FULL;
    if (c->nrooms == c->rooms_cap) {
        if (c->rooms_cap == UINT16_MAX) return LH_ERR_MAX_ROOMS;
        /* most clients are in one room: its entry takes 16 bytes, not a pair's 32 */
        uint16_t cap = c->rooms_cap ? (uint16_t)(c->rooms_cap * 2) : 1;
        struct client_room *r = realloc(c->rooms, cap * sizeof *r);
        if (!r) return LH_ERR_NOMEM;
        c->rooms = r;
        c->rooms_cap = cap;
    }
    if (!g && !(g = group_get(&room_index, name, len))) return LH_ERR_NOMEM;
    struct client_room *slot = &c->rooms[c->nrooms];
    slot->room = g;
    batch_settle();   /* a run's members are fixed: a newcomer gets none of it */
    if (group_add(g, c, &slot->index) != 0) {
        group_free_if_empty(&room_index, g);
        return LH_ERR_NOMEM;
    }
    c->nrooms++;
    metrics.joins++;
    log_debug(c->conn.id, "joined room %.*s", (int)g->name_len, g->name);
    if (g->count == 1) note_interest(HUB_ROOM, g, 1);
    return LH_OK;
}

static void leave_at(struct client *c, int i)
{
    metrics.leaves++;
    struct group *g = c->rooms[i].room;
    log_debug(c->conn.id, "left room %.*s", (int)g->name_len, g->name);   /* g may go below */
    if (g->count == 1) note_interest(HUB_ROOM, g, 0);
    batch_settle();   /* what was sent to the room before the leave still reaches c */
    group_remove(&room_index, g, c->rooms[i].index, room_slot);
    int last = --c->nrooms;
    if (i != last) c->rooms[i] = c->rooms[last];
}

int room_leave(struct client *c, const char *name, size_t len)
{
    struct group *g = group_find(&room_index, name, len);
    int i = g ? find_in_client(c, g) : -1;
    if (i < 0) return LH_ERR_NOT_IN_ROOM;
    leave_at(c, i);
    return LH_OK;
}

void room_leave_all(struct client *c)
{
    while (c->nrooms) leave_at(c, c->nrooms - 1);
    free(c->rooms);
    c->rooms = NULL;
    c->rooms_cap = 0;
}

void user_clear(struct client *c)
{
    if (!c->user) return;
    if (c->user->count == 1) note_interest(HUB_USER, c->user, 0);
    batch_settle();
    group_remove(&user_index, c->user, c->user_index, user_slot);
    c->user = NULL;
}

int user_set(struct client *c, const char *uid, size_t len)
{
    if (len == 0) {
        user_clear(c);
        return LH_OK;
    }
    struct group *g = group_find(&user_index, uid, len);
    if (g && g == c->user) return LH_OK;
    if (g && config.limit_per_user && g->count >= config.limit_per_user) return LH_ERR_USER_LIMIT;
    if (!g && !(g = group_get(&user_index, uid, len))) return LH_ERR_NOMEM;
    user_clear(c);
    batch_settle();
    if (group_add(g, c, &c->user_index) != 0) {
        group_free_if_empty(&user_index, g);
        return LH_ERR_NOMEM;
    }
    c->user = g;
    if (g->count == 1) note_interest(HUB_USER, g, 1);
    return LH_OK;
}
