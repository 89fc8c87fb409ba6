/* room.h — rooms and the user index, on top of group.h, with the configured limits
 * (rooms per client, clients per room, connections per user). Errors are enum lh_err. */
#ifndef LUAHUB_ROOM_H
#define LUAHUB_ROOM_H

#include <stddef.h>

#include "group.h"

struct conn;

extern struct group_index room_index, user_index;

int room_join(struct conn *c, const char *name, size_t len);
int room_leave(struct conn *c, const char *name, size_t len);
void room_leave_all(struct conn *c);
int room_member_of(const struct conn *c, const char *name, size_t len);

/* Sets (len > 0) or clears (len == 0) c's user id, enforcing limits.per_user. */
int user_set(struct conn *c, const char *uid, size_t len);
void user_clear(struct conn *c);

#endif
