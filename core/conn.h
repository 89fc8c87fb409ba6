/* conn.h — one client connection: socket I/O, its phase (HTTP request, WebSocket, linger),
 * its send queue and control-frame buffer, and its timers.
 *
 * Writing is late and batched: conn_send only appends a frame reference and marks the
 * connection dirty; conn_flush_dirty (run once per loop pass from an ev_prepare) writes
 * each dirty connection's whole queue with one writev. A connection is never freed
 * while a caller may still hold it: teardown requested during a pass (conn_kill) happens
 * in the flush, after every broadcast and Lua call of that pass has returned. */
#ifndef LUAHUB_CONN_H
#define LUAHUB_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <stdint.h>

#include "lh_errors.h"
#include "sendq.h"

struct http_req;
struct ws;

enum conn_phase { PHASE_HTTP, PHASE_WS, PHASE_LINGER };

struct group;

/* Frame boundaries of the incoming WebSocket stream, tracked from headers (ws.c). */
struct ws_stream {
    uint8_t hdr[14];
    uint8_t hdr_len;
    uint8_t in_message;          /* a fragmented data message is open */
    uint8_t held_len;
    uint64_t payload_left;
    uint8_t *held;               /* start of a close frame waiting for the rest (ws.c) */
};

/* One room a connection is in, and its index in the room's member array. */
struct conn_room {
    struct group *room;
    uint32_t index;
};

/* Script metadata: key and a JSON-encoded value, kept in C so it survives a reload. */
struct meta_entry {
    char *key;
    char *value;
    uint32_t key_len, value_len;
};

struct conn {
    ev_io io;
    ev_timer timer;
    uint64_t id;                 /* (generation << 20) | slot: stable handle for Lua */
    int fd;
    uint8_t phase;
    uint8_t dirty;               /* on the dirty list */
    uint8_t killed;              /* tear down at the next flush */
    uint8_t want_close;          /* server close queued behind pending data */
    uint8_t close_queued;        /* a close frame is in ctrl (or sent): no data after it */
    uint8_t close_after_flush;   /* plain HTTP: linger once the response is written */
    uint8_t write_blocked;
    uint8_t in_hub;
    uint8_t deflate;             /* permessage-deflate negotiated */
    uint16_t close_code;         /* code of want_close, then the final code for hooks */
    uint32_t hub_index;
    struct sendq q;
    uint8_t *ctrl;               /* the 101, control frames (pong, close); never dropped;
                                  * written ahead of queued frames, freed once written */
    uint32_t ctrl_len, ctrl_cap;
    struct http_req *http;       /* PHASE_HTTP only */
    struct ws *ws;               /* only while a frame or message is in flight (ws.c) */
    struct ws_stream stream;
    char *close_reason;          /* reason of want_close, NULL if none */
    struct conn_room *rooms;
    uint16_t nrooms, rooms_cap;
    uint16_t nmeta;
    struct group *user;          /* user index group, NULL if no user id */
    uint32_t user_index;
    struct meta_entry *meta;
    char *req_head;              /* copy of the upgrade request head, for header()/query() */
    uint32_t req_head_len;
    double rate_tokens;          /* limits.message_rate token bucket */
    ev_tstamp rate_last, connected_at;
    ev_tstamp last_active;       /* last message received (drain closes idle clients) */
    ev_tstamp last_pong, last_ping, blocked_since, phase_since;
    struct conn *next_dirty;
    struct sockaddr_in6 addr;    /* peer; AF_INET addresses are stored as sockaddr_in */
};

/* Takes ownership of an accepted non-blocking fd. NULL (fd closed) on failure. */
struct conn *conn_new(int fd, const struct sockaddr *addr, socklen_t addrlen);
struct conn *conn_by_id(uint64_t id);

/* Queues a frame for c, taking a new reference (the caller keeps its own). Applies the
 * send-queue bounds and policy; a slow client under policy "close" is killed after the
 * pass. Returns LH_OK, LH_ERR_CLOSED or LH_ERR_QUEUE_FULL. */
int conn_send(struct conn *c, struct frame *f);
/* Queues raw bytes already framed (control frames from wslay). Never dropped. */
int conn_send_ctrl(struct conn *c, const uint8_t *p, size_t n);
/* Starts the close handshake after the data queued so far. */
int conn_close(struct conn *c, int code, const char *reason, size_t reason_len);
/* Drops the connection at the end of the pass without a close handshake. */
void conn_kill(struct conn *c, int code);
void conn_mark_dirty(struct conn *c);
/* Writes every dirty connection once; called once per loop pass. */
void conn_flush_dirty(void);
/* Re-arms c's single timer for its nearest deadline (ping, pong, write, handshake, linger). */
void conn_arm_timer(struct conn *c);
/* Textual peer address "ip:port". */
void conn_remote_addr(const struct conn *c, char *buf, size_t len);
/* Closes (after their queued data) WebSocket clients that sent nothing for idle_seconds. */
int conn_close_idle(double idle_seconds, int code, const char *reason);
/* Closes every connection with code (shutdown). */
void conn_close_all(int code, const char *reason);
uint32_t conn_open_count(void);

#endif
