/* reqhead.h — what a WebSocket client keeps of its upgrade request for client:header()
 * and client:query(): the request target and the header lines, packed. An idle client
 * holds this for its whole life, so the common handshake header names (and the lines
 * whose whole value is the usual one, "Upgrade: websocket") are one byte each; every
 * other name and value is kept as sent. Lookups answer exactly as a scan of the raw
 * head's lines would: the first line whose text before its first ':' equals the name
 * (ASCII case-insensitive), the value with blanks and the CR trimmed. A leaf: bytes in,
 * bytes out. */
#ifndef LUAHUB_REQHEAD_H
#define LUAHUB_REQHEAD_H

#include <stddef.h>

/* Packs a request head (request line, header lines, blank line) into one malloc'd
 * block for free(); NULL when memory runs out. */
char *reqhead_pack(const char *head, size_t len);
/* The value of the first header line named name, NULL if none. */
const char *reqhead_header(const char *packed, const char *name, size_t nl, size_t *len);
/* The request target (the request line between its first two spaces), NULL if the
 * request line had no second space. */
const char *reqhead_target(const char *packed, size_t *len);

#endif
