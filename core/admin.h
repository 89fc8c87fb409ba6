/* admin.h — the admin page's live feed (docs/operations.md, "Admin page"). The page gets a
 * one-time ticket from POST /api/admin/ticket (with the api_key) and opens ws_path with
 * ?luahub_admin=TICKET: a browser cannot put the key in a WebSocket's headers, and a
 * ticket keeps it out of URLs and logs. Such a socket is an admin socket, never a client:
 * the script's hooks and handler, rooms, fan-outs and the client count do not see it.
 * While one is open, every admin socket gets a JSON snapshot of the hub each second. */
#ifndef LUAHUB_ADMIN_H
#define LUAHUB_ADMIN_H

#include <stddef.h>

struct client;

#define ADMIN_TICKET_PARAM "luahub_admin"
#define ADMIN_TICKET_SECONDS 30

/* A fresh ticket, 64 hex characters and a NUL, good for one upgrade within
 * ADMIN_TICKET_SECONDS. 0, or -1 when no random bytes could be had. */
int admin_ticket_issue(char out[65]);
/* For an upgrade's request target: 0 when its query asks for no admin socket, 1 when it
 * carries a live ticket (used up now), -1 when its ticket is unknown, used or expired. */
int admin_ticket_check(const char *target, size_t len);

/* An admitted admin socket opened or closed. */
void admin_open(struct client *cl);
void admin_close(struct client *cl);

#endif
