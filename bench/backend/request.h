/* request.h — just enough of an HTTP/1.1 request for the bench backend: where it
 * ends (head, then a Content-Length body), whether the connection stays open, and
 * the delay a /delay/MS path asks for. Nothing is copied: the parser reads the
 * bytes where they lie and reports how many the request took. */
#ifndef REQUEST_H
#define REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define REQUEST_HEAD_MAX 8192            /* larger heads: 431 and close */
#define REQUEST_BODY_MAX (1024 * 1024)   /* larger bodies: 413 and close */

enum {
    REQUEST_INCOMPLETE = 0,
    REQUEST_BAD = -1,           /* 400 */
    REQUEST_HEAD_TOO_BIG = -2,  /* 431 */
    REQUEST_BODY_TOO_BIG = -3,  /* 413 */
    REQUEST_UNSUPPORTED = -4,   /* 501: Transfer-Encoding (chunked bodies) */
};

struct request {
    int keep_alive;         /* HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive */
    uint32_t delay_ms;      /* from /delay/MS; 0 otherwise */
};

/* Parses the request at the start of buf[0..len). Returns the bytes of the whole
 * request (head and body, > 0) and fills *req, REQUEST_INCOMPLETE when more bytes
 * are needed, or a negative REQUEST_* error (the connection is then answered and
 * closed). */
long request_parse(const uint8_t *buf, size_t len, struct request *req);

#endif
