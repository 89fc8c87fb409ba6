/* conn.h — the transport: one client connection's socket I/O, its phase (HTTP request,
 * WebSocket, linger), its send queue and control-frame buffer, and its timers. It knows
 * nothing of Lua, rooms or brokers: it reports what happens through the events table an
 * upper layer registers once at start-up (conn_init), and takes frames to write.
 *
 * Writing is late and batched: conn_queue only appends a frame reference and marks the
 * connection dirty; conn_flush_dirty (run from each loop pass's ev_prepare) writes the
 * dirty connections' whole queues, each with one send, a share of them per pass. A
 * connection is never freed while a caller may still hold it: teardown requested during
 * a pass (conn_kill) happens in the flush, after every broadcast and Lua call of that
 * pass has returned. */
#ifndef LUAHUB_CONN_H
#define LUAHUB_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <stdint.h>

#include "sendq.h"
#include "ws_stream.h"

struct conn;
struct frame;
struct http_req;
struct ws;

enum conn_phase { PHASE_HTTP, PHASE_WS, PHASE_LINGER };

/* Ids are tag << 41 | generation << 20 | slot: an id held after its connection closed
 * never matches a new connection in that slot (generations wrap at 2^21 reuses), and the
 * tag (0 on a single node, set by the cluster) makes ids unique across nodes while they
 * stay below 2^53, exact as Lua numbers. */
#define CONN_SLOT_BITS 20
#define CONN_GEN_MASK 0x1fffffu
#define CONN_TAG_SHIFT 41
#define CONN_TAG_MASK 0xfffu

/* The answer to an upgrade request that passed the RFC 6455 checks. */
#define ADMIT_LATER (-1)
struct admission {
    int status;                  /* 0 to accept, the HTTP status to refuse with, or
                                  * ADMIT_LATER: conn_admit will answer (within
                                  * handshake_timeout, or the upgrade gets 503) */
    const char *extra_headers;   /* for a refusal, e.g. "Retry-After: 5\r\n"; may be NULL */
    char reason[256];            /* for a refusal: the body and the log line */
};

/* What the transport reports upward. The pointers stay valid for the call only. */
struct transport_events {
    /* An upgrade request passed the handshake checks; fill a->status to refuse it. The
     * request head is already kept (conn_request_head works). */
    void (*admit)(struct conn *c, const struct http_req *r, struct admission *a);
    /* The 101 is queued: the connection is a WebSocket. */
    void (*open)(struct conn *c);
    /* A whole data message (opcode WS_TEXT or WS_BINARY, text already UTF-8 checked). */
    void (*message)(struct conn *c, int opcode, const uint8_t *data, size_t len);
    /* A WebSocket that was opened is over: once per open, with its final code and reason
     * (conn_close_code, c->close_reason). Queues no longer take frames. */
    void (*close)(struct conn *c);
    /* A complete plain HTTP request (not an upgrade): the whole response, NULL to drop
     * the connection (allocation failure), or CONN_ANSWER_LATER: conn_answer will give it
     * (the request stays readable until then; nothing more is read). */
    struct frame *(*http)(struct conn *c, const struct http_req *r);
    /* c is about to be freed, in whatever phase (after close, if it was opened): the
     * layer above lets go of what it keeps for c (a user id or metadata set during
     * admission, for one that was then refused). Nonzero keeps c: its socket and buffers
     * go now, the struct and its id stay (conn_by_id finds it, conn_writable is 0) until
     * the layer above calls conn_free_held. */
    int (*release)(struct conn *c);
};

/* Control frames waiting to be written: their bytes with the length in front, so an
 * idle connection holds one NULL pointer for them. */
struct conn_ctrl {
    uint32_t len, cap;
    uint8_t data[];
};

struct conn {
    /* What a fan-out touches for every recipient (the queue, the dirty link, the flags)
     * comes first, within 64 bytes: one cache line per recipient where it was three, as
     * slab objects start on 64-byte boundaries while struct client is a multiple of 64
     * bytes (320). */
    struct sendq q;
    struct conn *next_dirty;
    uint16_t close_code;         /* code of want_close, then the final code */
    /* one bit each: an idle connection is held for hours, so its struct is kept small */
    unsigned phase : 2;          /* enum conn_phase */
    unsigned dirty : 1;          /* on the dirty list */
    unsigned killed : 1;         /* tear down at the next flush */
    unsigned want_close : 1;     /* server close queued behind pending data */
    unsigned close_queued : 1;   /* a close frame is in ctrl (or sent): no data after it */
    unsigned failed : 1;         /* protocol failure: input ignored, close behind the data */
    unsigned close_after_flush : 1; /* plain HTTP: linger once the response is written */
    unsigned write_blocked : 1;
    unsigned write_timed_out : 1; /* the close after a write timeout is queued */
    unsigned over_capacity : 1;  /* accepted into the descriptor reserve: no upgrade */
    unsigned opened : 1;         /* open was reported; close is still due */
    unsigned deflate : 1;        /* permessage-deflate negotiated */
    unsigned read_paused : 1;    /* conn_pause_reading */
    unsigned admit_pending : 1;  /* the upgrade waits for conn_admit */
    unsigned answer_pending : 1; /* the HTTP request waits for conn_answer */
    uint64_t id;
    ev_io io;                    /* io.fd is the socket */
    ev_timer timer;
    struct conn_ctrl *ctrl;      /* the 101, control frames (pong, close); never dropped;
                                  * written ahead of queued frames, freed once written */
    struct http_req *http;       /* PHASE_HTTP only */
    struct conn_file *file;      /* a response body streamed from a file, after the queue */
    struct ws *ws;               /* only while a frame or message is in flight (ws.c) */
    struct ws_stream *stream;    /* only while a read ended inside a frame or a message,
                                  * or a close frame waits for its rest (ws.c) */
    char *close_reason;          /* reason of want_close, NULL if none */
    char *req_head;              /* the upgrade request, packed (reqhead.h), for header()/query() */
    ev_tstamp last_active;       /* last message received (drain closes idle clients) */
    ev_tstamp last_pong, last_ping, blocked_since, phase_since;
    struct sockaddr_in6 addr;    /* peer; AF_INET addresses are stored as sockaddr_in */
};

static inline uint32_t conn_ctrl_len(const struct conn *c) { return c->ctrl ? c->ctrl->len : 0; }

/* Registers the upper layer. Every connection is allocated with conn_size bytes (at least
 * sizeof(struct conn)), zeroed, the struct conn first: the layer above keeps its per-client
 * state behind it with no second allocation. */
void conn_init(const struct transport_events *events, size_t conn_size);
/* Connections on a descriptor at or above max_fd are over capacity: plain HTTP requests
 * (the probes) are still answered, an upgrade is refused with 503, and the request must
 * come within a second. */
void conn_set_capacity(int max_fd);
/* Bits ORed into every later id (the cluster's node tag, already shifted). */
void conn_set_id_tag(uint64_t bits);

/* Takes ownership of an accepted non-blocking fd. NULL (fd closed) on failure. */
struct conn *conn_new(int fd, const struct sockaddr *addr, socklen_t addrlen);
struct conn *conn_by_id(uint64_t id);

/* 1 while c is a WebSocket that takes data frames (not closing). Inline: the hub asks
 * it for every recipient of a fan-out. */
static inline int conn_writable(const struct conn *c)
{
    return c->phase == PHASE_WS && !c->killed && !c->close_queued && !c->want_close;
}
/* Counts the times a WebSocket stopped taking data frames (killed, or a close queued or
 * waiting): a fan-out batch (fanout_batch.h) holds sends back only while it stays put. */
extern uint32_t conn_unwritable_events;
/* Appends a frame to c's queue, taking a new reference (the caller keeps its own). No
 * bound is applied here: that is the hub's policy. 0, or -1 when c does not take frames
 * (conn_writable is 0) or on allocation failure. */
int conn_queue(struct conn *c, struct frame *f);
/* Hands f to the pass's io_uring batch for c, to be written straight from f: the way a
 * run's combined frame reaches a client with nothing else to write (no queue, no
 * control frame, not blocked), as the raw baseline writes its batch, with no queue push
 * and pop. Only from the pass's flush (batch_settle_for_flush), right before
 * conn_flush_dirty submits the batch: nothing may look at c's queue in between. 0 (the
 * batch holds a reference; what the socket does not take is queued then), or -1: queue
 * f instead. */
int conn_send_now(struct conn *c, struct frame *f);
/* Writes c's queue now instead of at the end of the pass (the hub does this before
 * applying a full queue's policy). Safe inside a fan-out: it never tears c down. */
void conn_flush(struct conn *c);
/* A plain HTTP response's body: len bytes of the open file fd (which c now owns), sent
 * with sendfile after the head the http event returns, a slice at a time. -1 (fd closed)
 * on allocation failure. */
int conn_send_file(struct conn *c, int fd, uint64_t len);
/* Queues raw bytes already framed (control frames from wslay). Never dropped. -1 when
 * the control buffer would exceed its bound. */
int conn_send_ctrl(struct conn *c, const uint8_t *p, size_t n);
/* Starts the close handshake after the data queued so far. 0, or -1 when c is closing
 * already or the reason exceeds 123 bytes. */
int conn_close(struct conn *c, int code, const char *reason, size_t reason_len);
/* Sends a close frame now, ahead of whatever is queued and not yet started (the caller
 * has dropped that). */
void conn_close_now(struct conn *c, int code, const char *reason);
/* Stops (on) or resumes reading from a WebSocket client: TCP backpressure while the layer
 * above cannot take its messages. Frames of the read in progress are still delivered. */
void conn_pause_reading(struct conn *c, int on);
/* The answer to an upgrade that was given ADMIT_LATER; ignored unless one is awaited. */
void conn_admit(struct conn *c, const struct admission *a);
/* The answer to a request that was given CONN_ANSWER_LATER (NULL drops the connection);
 * ignored (and freed) unless one is awaited. */
#define CONN_ANSWER_LATER (&conn_answer_later_frame)
extern struct frame conn_answer_later_frame;
void conn_answer(struct conn *c, struct frame *resp);
/* Frees a connection the layer above kept at release. */
void conn_free_held(struct conn *c);
/* Drops the connection at the end of the pass without a close handshake. */
void conn_kill(struct conn *c, int code);
void conn_mark_dirty(struct conn *c);
/* A pass writes at most a FLUSH_PARTS-th of the connections (and never fewer than
 * FLUSH_SLICE_MIN), then the loop reads again: a broadcast that came in meanwhile reaches
 * the clients not yet written in the same round. Under a load that keeps the loop busy a
 * message then waits for its client's turn, not for a whole round of writes and then its
 * client's turn, and each client still gets one write per round. A quarter measured best
 * at 1,000 and 10,000 clients (docs/benchmarks.md): a finer split settles each broadcast
 * into more queues per round and leaves gaps in which the readers fall asleep. */
#define FLUSH_PARTS 4
#define FLUSH_SLICE_MIN 64
/* How many connections a pass may write now. */
unsigned conn_flush_share(void);
/* Starts a pass's writes: they may reach conn_flush_share() connections (conn_send_now
 * and conn_flush_dirty together). server_flush_pass calls it. */
void conn_flush_begin(void);
/* Writes dirty connections once each, oldest first, as many as the pass's room (set by
 * conn_flush_begin) allows. 1 when some are left dirty for the next pass. */
int conn_flush_dirty(void);
/* Re-arms c's single timer for its nearest deadline (ping, pong, write, handshake, linger). */
void conn_arm_timer(struct conn *c);
/* Textual peer address "ip:port". */
void conn_remote_addr(const struct conn *c, char *buf, size_t len);
/* The final close code for hooks: received, else sent, else 1006. */
int conn_close_code(const struct conn *c);
/* Closes (after their queued data) WebSocket clients that sent nothing for idle_seconds. */
int conn_close_idle(double idle_seconds, int code, const char *reason);
/* Closes every connection with code (shutdown). */
void conn_close_all(int code, const char *reason);
uint32_t conn_open_count(void);

/* ws.c: a whole message for the layer above. */
void conn_deliver(struct conn *c, int opcode, const uint8_t *data, size_t len);

#endif
