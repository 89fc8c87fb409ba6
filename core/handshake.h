/* handshake.h — the RFC 6455 opening handshake: validates an upgrade request against the
 * config (version, key, origin policy, subprotocols; Host, key and version each once) and
 * builds the 101 answer.
 * Pure: no I/O, so specs and fuzzers drive it directly. */
#ifndef LUAHUB_HANDSHAKE_H
#define LUAHUB_HANDSHAKE_H

#include "frame.h"
#include "http.h"

struct handshake {
    int status;                 /* 101 when accepted, else the HTTP status to answer */
    const char *reason;         /* why it was refused (sent as the body, logged) */
    const char *extra_headers;  /* for refusals, e.g. Sec-WebSocket-Version: 13 */
    char accept[32];            /* Sec-WebSocket-Accept value */
    const char *protocol;       /* chosen subprotocol (points into config), or NULL */
    int deflate;                /* permessage-deflate negotiated (config.compression) */
    char detail[512];           /* for the log: what was seen and how to allow it, or "" */
};

/* Loads OpenSSL's SHA-1 once, at start-up (conn_init). */
void handshake_init(void);
/* Fills hs; returns hs->status. */
int handshake_check(const struct http_req *r, struct handshake *hs);
/* The 101 Switching Protocols response for an accepted handshake. */
struct frame *handshake_response(const struct handshake *hs);
/* Sec-WebSocket-Accept for a key (base64 of SHA-1 of key + GUID); out needs 29 bytes. */
void handshake_accept_key(const char *key, size_t key_len, char *out);

#endif
