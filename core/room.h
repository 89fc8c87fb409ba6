/* room.h — rooms and the user index, on top of group.h, with the configured limits
 * (rooms per client, clients per room, connections per user). Errors are enum lh_err. */
#ifndef LUAHUB_ROOM_H
#define LUAHUB_ROOM_H

#include <stddef.h>

#include "group.h"

struct client;

extern struct group_index room_index, user_index;

/* Registers who learns of a room's or user's first local member and last leaving one
 * (the relay subscribes to the broker channels; enum hub_target scope). */
void room_on_interest(void (*fn)(int scope, const char *name, size_t len, int on));

int room_join(struct client *c, const char *name, size_t len);
int room_leave(struct client *c, const char *name, size_t len);
void room_leave_all(struct client *c);
int room_member_of(const struct client *c, const char *name, size_t len);

/* Sets (len > 0) or clears (len == 0) c's user id, enforcing limits.per_user. */
int user_set(struct client *c, const char *uid, size_t len);
void user_clear(struct client *c);

#endif
