/* hub.h — the middle layer: the set of open WebSocket clients, their rooms, user ids and
 * metadata, fan-out, admission and the send-queue policies. It subscribes to the
 * transport's events (hub_on_*) and reports upward through two tables
 * registered at start-up: the script's (open, message, close, dropped sends, admission)
 * and the relay's (a send for the other nodes, a client on another node). It knows
 * nothing of Lua or brokers.
 *
 * A message to many recipients is encoded once into one frame and each recipient's queue
 * takes a reference: no per-recipient copy or allocation. Errors are enum lh_err codes. */
#ifndef LUAHUB_HUB_H
#define LUAHUB_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "conn.h"
#include "lh_errors.h"

struct group;
struct http_req;

/* What the hub reports to the script bridge. Pointers are valid for the call only.
 *
 * The script may wait (task.h). open, message and close return 1 when the client's task
 * is waiting: until the bridge calls hub_task_done for it, the client's later messages
 * and its close are held, in order (reading pauses past limits.waiting_messages), and a
 * closed client's struct, rooms, user id and metadata stay until its close hooks end. */
struct hub_script_events {
    /* After the hub's own admission checks passed: fill a->status to refuse, or set
     * ADMIT_LATER and answer with hub_admit_done. */
    void (*admit)(struct client *cl, const struct http_req *r, struct admission *a);
    int (*open)(struct client *cl);
    /* limited: the message exceeded limits.message_rate; hooks see it, the handler does not. */
    int (*message)(struct client *cl, int opcode, const uint8_t *data, size_t len, int limited);
    /* The client is closing: still in its rooms, with its user id, until hub_detach. */
    int (*close)(struct client *cl, int code, const char *reason);
    /* Sends dropped by a queue policy, reported after the fan-out that dropped them. */
    void (*dropped)(uint64_t id, const uint8_t *data, size_t len, int binary);
};

/* The admin page's sockets (admin.h). An upgrade that check claims by its request target
 * (1: a live ticket, -1: a refused one, 0: not an admin upgrade) never reaches the
 * script, is no client (not counted, in no room, sent nothing by fan-outs) and is told to
 * open and close only. */
struct hub_admin {
    int (*check)(const char *target, size_t len);
    void (*open)(struct client *cl);
    void (*close)(struct client *cl);
};

/* What the hub reports to the relay (the cluster): after each local fan-out, the same send
 * for the other nodes, and a send to a client id that is not open here. (Interest, a room
 * or user getting its first local member or losing its last, comes from room.h.) */
struct hub_relay {
    void (*fan_out)(enum hub_target to, const char *target, size_t tlen, const char *data,
                    size_t len, int binary, const uint64_t *except, size_t nexcept);
    /* LH_OK when relayed, LH_ERR_CLOSED when the id cannot be elsewhere */
    int (*to_client)(uint64_t id, const char *data, size_t len, int binary);
};

/* The transport events the hub handles (struct transport_events; app.c registers them). */
void hub_on_admit(struct conn *c, const struct http_req *r, struct admission *a);
void hub_on_open(struct conn *c);
void hub_on_message(struct conn *c, int opcode, const uint8_t *data, size_t len);
void hub_on_close(struct conn *c);
int hub_on_release(struct conn *c);

/* The script's task for client id that waited has ended: its held events go on. */
void hub_task_done(uint64_t id);
/* The answer to an admission that was given ADMIT_LATER. */
void hub_admit_done(uint64_t id, const struct admission *a);

void hub_set_script(const struct hub_script_events *ev);
void hub_set_relay(const struct hub_relay *relay);
void hub_set_admin(const struct hub_admin *admin);
/* 1 refuses new upgrades with 503 (draining); probes and stats read it back. */
void hub_set_draining(int on);
int hub_draining(void);

uint32_t hub_count(void);
/* The ids of the open clients into out (up to cap); returns how many there are. */
size_t hub_client_ids(uint64_t *out, size_t cap);
/* An open client by id (NULL when closed, closing past detach, or not on this node). */
struct client *hub_client(uint64_t id);
/* Any connection of this node's by id, even one whose close hooks are running. */
struct client *hub_any(uint64_t id);

/* Sends: binary selects the opcode; text must be valid UTF-8; except lists ids to skip.
 * Fan-outs return the number of recipients queued here, then hand the send to the relay. */
int hub_send(uint64_t id, const char *data, size_t len, int binary);
int hub_fan_out(enum hub_target to, const char *target, size_t tlen, const char *data,
                size_t len, int binary, const uint64_t *except, size_t nexcept);
/* A send relayed from another node: this node's clients only, never relayed again. */
int hub_deliver(enum hub_target to, const char *target, size_t tlen, const char *data,
                size_t len, int binary, const uint64_t *except, size_t nexcept);
int hub_close(uint64_t id, int code, const char *reason, size_t reason_len);
/* Takes a closing client out of the client set and its rooms (between the close hooks). */
void hub_detach(struct client *cl);

/* Records whether the script wants dropped sends reported (on_send_dropped). */
void hub_want_dropped(int on);
/* Reports the dropped sends recorded since the last call (never inside a fan-out). */
void hub_fire_dropped(void);
/* 1 while dropped sends wait for hub_fire_dropped. */
int hub_dropped_pending(void);

#endif
