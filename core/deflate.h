/* deflate.h — permessage-deflate (RFC 7692) without per-connection compression state.
 * We always answer with server_no_context_takeover and client_no_context_takeover, so
 * every message is compressed and decompressed on its own: one deflate and one inflate
 * stream serve the whole process, and a broadcast is compressed once and shared by every
 * recipient that negotiated the extension (the response parameters are the same for all).
 * Cost per connection: one flag. */
#ifndef LUAHUB_DEFLATE_H
#define LUAHUB_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct http_req;

/* Messages shorter than this go out uncompressed even to deflate clients (RFC 7692 lets
 * each message choose): the header and sync-flush overhead would outweigh the gain. */
#define DEFLATE_MIN_SIZE 64

/* 1 if the request offers permessage-deflate with parameters we accept. */
int deflate_accept(const struct http_req *r);
/* The Sec-WebSocket-Extensions value we answer with. */
extern const char deflate_response[];

/* A compressed FIN frame (RSV1 set) for the message, or NULL on failure. */
struct frame *deflate_frame(int opcode, const void *data, size_t len);
/* Decompresses one message into a buffer owned by this module (valid until the next
 * call). Returns 0, -1 when the result would exceed max bytes, -2 on corrupt input. */
int deflate_inflate(const uint8_t *in, size_t len, size_t max, const uint8_t **out, size_t *out_len);

#endif
