/* http.h — a strict HTTP/1.1 request reader on top of the http_parser library, and the
 * response builder. One request per connection phase: the reader owns a fixed buffer
 * for the request head (bounded: HTTP_HEAD_MAX) so every pointer it hands out stays
 * valid until http_req_free; the body (bounded by config.http_max_body) is kept apart. */
#ifndef LUAHUB_HTTP_H
#define LUAHUB_HTTP_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define HTTP_HEAD_MAX 8192
#define HTTP_HEADERS_MAX 64

struct http_span { uint32_t off, len; };

struct http_header { struct http_span name, value; };

enum http_read_status {
    HTTP_READ_MORE = 0,     /* need more bytes */
    HTTP_READ_DONE = 1,     /* request complete (head, and body unless upgrading) */
    HTTP_READ_ERROR = -1,   /* malformed: answer req->error_status and close */
};

struct http_req {
    http_parser parser;
    char *buf;                    /* the request head; grows up to HTTP_HEAD_MAX */
    uint32_t len, cap;            /* bytes held in buf, its size */
    int head_done;                /* headers parsed; body bytes bypass buf */
    uint32_t head_len;            /* bytes of buf up to and including the blank line */
    struct http_span url;
    struct http_header headers[HTTP_HEADERS_MAX];
    int nheaders;
    int in_value;                 /* last callback was a header value */
    char *body;
    size_t body_len;
    size_t body_max;
    int complete;
    int error_status;             /* 400, 413, 431, ... when HTTP_READ_ERROR */
    const char *rest;             /* conn.c: the bytes after an upgrade request, kept */
    size_t rest_len;              /* while its admission waits */
    const char *error_reason;
};

struct http_req *http_req_new(size_t body_max);
void http_req_free(struct http_req *r);

/* Feeds bytes just read. For an upgrade request the parser stops after the head (after
 * the body, if it announced one); the bytes that follow (the first WebSocket frames) are
 * returned through rest/rest_len, pointing into req->buf, or into data when a body came
 * first: use them before freeing the request or reusing data. */
enum http_read_status http_req_feed(struct http_req *r, const char *data, size_t len,
                                    const char **rest, size_t *rest_len);

const char *http_method_name(const struct http_req *r);
/* The header's value (not NUL-terminated), NULL if absent. Names compare case-insensitively.
 * With the header repeated, the first one's: callers that must not guess refuse repeats
 * (http_header_count). */
const char *http_header(const struct http_req *r, const char *name, size_t *len);
/* How many times header `name` appears. */
int http_header_count(const struct http_req *r, const char *name);
/* 1 if any header `name` carries token (comma-separated list, case-insensitive). */
int http_header_has_token(const struct http_req *r, const char *name, const char *token);
/* The URL's path without ?query (not decoded). */
void http_req_path(const struct http_req *r, const char **path, size_t *len);

/* A complete response as one frame: status line, extra headers (each "Name: value\r\n",
 * any total size), Content-Length, Connection: close, and body. With body NULL the last
 * body_len bytes are left for the caller to fill. NULL only when memory runs out or the
 * response exceeds a frame's 4 GiB: callers answer 500 (or drop the connection). */
struct frame *http_response(int status, const char *extra_headers, const char *content_type,
                            const void *body, size_t body_len);
/* Only the head of a response whose body of content_length bytes the caller sends
 * separately (a static file, streamed by the connection). */
struct frame *http_response_head(int status, const char *extra_headers, const char *content_type,
                                 uint64_t content_length);
const char *http_status_text(int status);

#endif
