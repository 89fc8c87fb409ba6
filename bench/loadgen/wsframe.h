/* wsframe.h — client side of RFC 6455 framing for the load generator.
 *
 * The parser is a streaming state machine fed with whatever one read() returned:
 * many frames per call, frames split anywhere. It never buffers a whole message:
 * it keeps at most WSFRAME_HEAD_MAX bytes of a message's start (where the load
 * generator's stamp lives) and a control frame's payload, so a connection's
 * parser state is fixed-size and a message of any length costs no allocation.
 * When a whole single-frame message lies in the caller's buffer (the common case)
 * the callback gets a pointer into that buffer and nothing is copied. A caller
 * that must see every byte of a message (the storm reads a subscribe reply with
 * all its publications) sets whole_max: a message split over reads is then
 * gathered into a buffer of its own, grown up to whole_max bytes. */
#ifndef WSFRAME_H
#define WSFRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
    WSFRAME_OP_CONT = 0x0,
    WSFRAME_OP_TEXT = 0x1,
    WSFRAME_OP_BINARY = 0x2,
    WSFRAME_OP_CLOSE = 0x8,
    WSFRAME_OP_PING = 0x9,
    WSFRAME_OP_PONG = 0xA,
};

/* Errors (negative), grouped as protocol violations by the server. */
enum {
    WSFRAME_ERR_RSV = -101,         /* RSV bits set, no extension negotiated */
    WSFRAME_ERR_MASKED = -102,      /* server frames must not be masked */
    WSFRAME_ERR_CONTROL = -103,     /* fragmented or >125-byte control frame */
    WSFRAME_ERR_OPCODE = -104,      /* reserved opcode */
    WSFRAME_ERR_CONTINUATION = -105 /* continuation without a message, or vice versa */
};

#define WSFRAME_HEAD_MAX 160
#define WSFRAME_CONTROL_MAX 125
#define WSFRAME_HEADER_MAX 14   /* 2 + 8 (length) + 4 (mask) */

struct wsframe_parser {
    uint64_t remaining;          /* payload bytes of the current frame still to come */
    uint64_t message_len;        /* payload bytes of the current message so far */
    uint8_t header[WSFRAME_HEADER_MAX];
    uint8_t header_len;          /* header bytes gathered; 0 at a frame boundary */
    uint8_t in_payload;
    uint8_t opcode;              /* of the current frame */
    uint8_t fin;
    uint8_t message_opcode;      /* text/binary of the message in progress, 0 = none */
    uint8_t head_len;
    uint8_t control_len;
    uint8_t head[WSFRAME_HEAD_MAX];
    uint8_t control[WSFRAME_CONTROL_MAX];
    uint32_t whole_max;          /* 0: only the head of a split message is kept */
    uint32_t whole_len, whole_cap;
    uint8_t *whole;              /* malloc'd on the first split message; wsframe_parser_free */
};

/* Callbacks return 0 to continue parsing or non-zero to stop (e.g. the
 * connection was closed); wsframe_parse then returns that value. `head` holds
 * the first `head_len` bytes of the message (at least min(len, HEAD_MAX)); all
 * of it when the message fits whole_max, or lay whole in one buffer fed. */
struct wsframe_handler {
    int (*message)(void *ud, int opcode, const uint8_t *head, size_t head_len,
                   uint64_t message_len);
    int (*control)(void *ud, int opcode, const uint8_t *payload, size_t len);
};

void wsframe_parser_init(struct wsframe_parser *p);
/* Frees what gathering whole messages allocated; the parser is then as after init
 * (whole_max kept). */
void wsframe_parser_free(struct wsframe_parser *p);

/* Consumes all `len` bytes. Returns 0, a callback's non-zero value, or a
 * WSFRAME_ERR_* code (the connection must then be failed). */
int wsframe_parse(struct wsframe_parser *p, const uint8_t *buf, size_t len,
                  const struct wsframe_handler *h, void *ud);

/* Writes one masked, final client frame into `out` (room for len +
 * WSFRAME_HEADER_MAX bytes) and returns its size. */
size_t wsframe_encode_masked(uint8_t *out, int opcode, const uint8_t *payload,
                             size_t len, uint32_t mask_key);

/* Masks `len` bytes in place with `mask_key` (as RFC 6455 §5.3). */
void wsframe_mask(uint8_t *data, size_t len, uint32_t mask_key);

/* Writes a masked, final frame header for `len` payload bytes; returns its size.
 * The caller masks the payload with the same key afterwards. */
size_t wsframe_header_masked(uint8_t *out, int opcode, uint64_t len, uint32_t mask_key);

const char *wsframe_strerror(int err);

#endif
