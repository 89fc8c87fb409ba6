/* response.h — where an HTTP/1.1 response ends, for the HTTP load client: the
 * status line, a Content-Length body, and whether the server will close. Chunked
 * or close-delimited bodies are not read (the bench backend sends neither). */
#ifndef RESPONSE_H
#define RESPONSE_H

#include <stddef.h>

#define RESPONSE_HEAD_MAX 8192
#define RESPONSE_BODY_MAX (1024 * 1024)

enum {
    RESPONSE_INCOMPLETE = 0,
    RESPONSE_BAD = -1,          /* not HTTP/1.x, no Content-Length, or over the limits */
};

struct response {
    int status;
    int closes;                 /* "Connection: close": the server ends the connection */
};

/* Parses the response at the start of buf[0..len). Returns its bytes (> 0) and
 * fills *res, RESPONSE_INCOMPLETE, or RESPONSE_BAD. */
long response_parse(const char *buf, size_t len, struct response *res);

#endif
