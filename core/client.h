/* client.h — what the hub keeps for one WebSocket client, behind the transport's
 * connection in the same allocation; rooms, users and metadata (room.c, meta.c) work on
 * it. */
#ifndef LUAHUB_CLIENT_H
#define LUAHUB_CLIENT_H

#include <stdint.h>

#include "conn.h"

struct group;

/* One room a client is in, and its index in the room's member array. */
struct client_room {
    struct group *room;
    uint32_t index;
};

/* Script metadata: key and a JSON-encoded value, kept in C so it survives a reload. */
struct meta_entry {
    char *key;
    char *value;
    uint32_t key_len, value_len;
};

/* A message that came while the client's previous one was still being handled (its
 * task waits), kept until its turn. */
struct held_message {
    struct held_message *next;
    uint32_t len;
    uint8_t opcode, limited;
    uint8_t data[];
};

struct held_queue {
    struct held_message *head, *tail;
    uint32_t count;              /* 0: none held */
};

/* What few clients use, apart so that an idle client does not carry it: the script's
 * metadata, the messages held behind a waiting task, the message_rate bucket. */
struct client_extra {
    struct meta_entry *meta;
    struct held_queue held;      /* messages waiting for their turn */
    double rate_tokens;          /* limits.message_rate token bucket */
    double rate_last;
    uint16_t nmeta;
};

/* A WebSocket client: the transport's connection plus what the hub keeps for it, in one
 * allocation (conn_init is given sizeof(struct client)). */
struct client {
    struct conn conn;            /* first: a struct conn * of the hub's is a struct client * */
    unsigned in_hub : 1;
    unsigned admin : 1;          /* an admin page's socket (admin.h), never in the hub */
    /* per-client order while a script task of this client waits (hub.c) */
    unsigned task_waiting : 1;   /* its open, message or close task is parked */
    unsigned close_due : 1;      /* the connection is over; its close hooks have not run */
    unsigned conn_held : 1;      /* the transport kept the struct for us (release) */
    uint16_t nrooms, rooms_cap;
    uint32_t hub_index;
    uint32_t user_index;
    struct client_room *rooms;
    struct group *user;          /* user index group, NULL if no user id */
    struct client_extra *extra;  /* NULL until metadata, a held message or a rate limit */
};

/* c's extra part, made on first use; NULL when memory runs out. */
struct client_extra *client_extra(struct client *c);
/* Frees the extra part once nothing is left in it. */
void client_extra_trim(struct client *c);

static inline struct client *client_of(struct conn *c) { return (struct client *)c; }

/* Where a fan-out goes. */
enum hub_target { HUB_ALL, HUB_ROOM, HUB_USER };

#endif
