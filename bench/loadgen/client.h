/* client.h — one non-blocking WebSocket client connection on a shared epoll set.
 *
 * The client layer owns sockets, the opening handshake, reading and buffered
 * writing; what a message means is the caller's business (callbacks in
 * struct client_net). Reads go into one shared buffer of CLIENT_READ_SIZE bytes
 * and are parsed in place, so a connection keeps no receive buffer of its own:
 * only its fixed-size frame parser state carries a split frame to the next read.
 * Each readable event costs one read() unless that read filled the whole
 * buffer (epoll is edge-triggered; see set_events in client.c). */
#ifndef CLIENT_H
#define CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "wsframe.h"

#define CLIENT_READ_SIZE (256 * 1024)
#define CLIENT_OUT_MAX (64u * 1024 * 1024)   /* pending bytes before a send fails */

enum client_state {
    CLIENT_UNUSED = 0,
    CLIENT_CONNECTING,   /* connect() in progress */
    CLIENT_HANDSHAKE,    /* request sent, waiting for 101 */
    CLIENT_OPEN,
    CLIENT_CLOSED
};

struct client_handshake;

struct client {
    int fd;
    uint8_t state;
    uint8_t role;            /* the caller's: subscriber, publisher, echo */
    uint8_t probed;          /* the caller's: saw the readiness probe */
    uint32_t id;
    uint32_t next_seq;       /* the caller's: next sequence number expected */
    uint32_t sent;           /* the caller's: messages sent on this connection */
    uint64_t received;       /* the caller's: messages accepted */
    uint32_t epoll_events;
    struct client_handshake *handshake;   /* only between connect and 101 */
    uint8_t *out;            /* bytes the socket did not take yet; NULL when empty */
    size_t out_len, out_off, out_cap;
    struct wsframe_parser parser;
};

struct client_net;

struct client_callbacks {
    void (*open)(struct client_net *net, struct client *c);
    /* The connection failed or was closed; `why` says how (static string). */
    void (*closed)(struct client_net *net, struct client *c, int was_open, const char *why);
    /* A whole data message; see wsframe.h for head/head_len. Return non-zero
     * if the callback closed the connection. */
    int (*message)(struct client_net *net, struct client *c, int opcode,
                   const uint8_t *head, size_t head_len, uint64_t message_len);
};

struct client_net {
    int epfd;
    struct sockaddr_in target;
    char host_header[300];
    char path[256];
    struct in_addr *sources;     /* NULL: let the kernel choose */
    unsigned nsources;
    int rst_on_close;            /* SO_LINGER 0: no TIME_WAIT left behind */
    uint32_t whole_max;          /* messages up to this size reach cb.message whole (wsframe.h) */
    uint64_t now_ns;             /* CLOCK_MONOTONIC at the latest read */
    uint64_t reads, read_bytes;  /* statistics */
    uint64_t pings, close_frames;
    int last_close_code;
    struct client_callbacks cb;
    void *user;
};

uint64_t client_clock_ns(void);

/* Starts a non-blocking connect from source address `source_index % nsources`.
 * Returns 0, or a negative errno (the client stays CLIENT_UNUSED). */
int client_connect(struct client_net *net, struct client *c, uint32_t id, unsigned source_index);

/* Handles one epoll event for c. */
void client_handle(struct client_net *net, struct client *c, uint32_t events);

/* Sends bytes (already framed) now, or keeps what the socket does not take and
 * sends it when writable. Returns 0, or -1 if over CLIENT_OUT_MAX or closed. */
int client_send(struct client_net *net, struct client *c, const void *data, size_t len);

/* Sends one masked frame with a fresh mask key. */
int client_send_frame(struct client_net *net, struct client *c, int opcode,
                      const uint8_t *payload, size_t len);

/* A random 32-bit mask key (xorshift seeded from getrandom). */
uint32_t client_mask_key(void);

/* Closes the socket (abortively if net->rst_on_close), reports via cb.closed. */
void client_close(struct client_net *net, struct client *c, const char *why);

#endif
