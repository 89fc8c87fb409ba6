#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>

static struct http_req *req_of(http_parser *p) { return p->data; }

static uint32_t off_of(struct http_req *r, const char *at) { return (uint32_t)(at - r->buf); }

/* The parser hands out pointers into the chunk we passed, which is always a slice of
 * r->buf, so a span is (offset, length) and split callbacks just extend it. */
static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = req_of(p);
    if (r->url.len == 0) r->url.off = off_of(r, at);
    r->url.len += (uint32_t)n;
    return 0;
}

/* Header callbacks after the head are a chunked body's trailers: their bytes may come
 * from a later read, outside buf, where no span may point (a span is an offset into
 * buf). No one reads trailers, so they are skipped. */
static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = req_of(p);
    if (r->head_done) return 0;
    if (r->in_value || r->nheaders == 0) {
        if (r->nheaders == HTTP_HEADERS_MAX) {
            r->error_status = 431;
            r->error_reason = "too many headers";
            return -1;
        }
        struct http_header *h = &r->headers[r->nheaders++];
        h->name.off = off_of(r, at);
        h->name.len = 0;
        h->value.off = h->value.len = 0;
        r->in_value = 0;
    }
    r->headers[r->nheaders - 1].name.len += (uint32_t)n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = req_of(p);
    if (r->head_done) return 0;
    struct http_header *h = &r->headers[r->nheaders - 1];
    if (!r->in_value) h->value.off = off_of(r, at);
    h->value.len += (uint32_t)n;
    r->in_value = 1;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = req_of(p);
    if (r->body_len + n > r->body_max) {
        r->error_status = 413;
        r->error_reason = "request body too large";
        return -1;
    }
    char *b = realloc(r->body, r->body_len + n);
    if (!b) {
        r->error_status = 503;
        r->error_reason = "out of memory";
        return -1;
    }
    memcpy(b + r->body_len, at, n);
    r->body = b;
    r->body_len += n;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_req *r = req_of(p);
    r->head_done = 1;
    /* The head ends at the blank line; it is all in buf because body bytes come after. */
    const char *end = memmem(r->buf, r->len, "\r\n\r\n", 4);
    const char *lf = memmem(r->buf, r->len, "\n\n", 2);
    if (end && (!lf || end < lf)) r->head_len = (uint32_t)(end - r->buf) + 4;
    else if (lf) r->head_len = (uint32_t)(lf - r->buf) + 2;
    else r->head_len = r->len;
    if (p->content_length != ULLONG_MAX && p->content_length > r->body_max) {
        r->error_status = 413;
        r->error_reason = "request body too large";
        return -1;
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    req_of(p)->complete = 1;
    http_parser_pause(p, 1);   /* one request per connection phase; ignore pipelined ones */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct http_req *http_req_new(size_t body_max)
{
    struct http_req *r = malloc(sizeof *r);
    if (!r) return NULL;
    /* Most heads are a few hundred bytes: start small, grow on demand (spans are offsets). */
    r->buf = NULL;
    r->len = r->cap = 0;
    r->url.off = r->url.len = 0;
    r->nheaders = r->in_value = 0;
    r->head_done = 0;
    r->head_len = 0;
    r->body = NULL;
    r->body_len = 0;
    r->body_max = body_max;
    r->complete = 0;
    r->error_status = 0;
    r->error_reason = NULL;
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
    return r;
}

void http_req_free(struct http_req *r)
{
    if (!r) return;
    free(r->buf);
    free(r->body);
    free(r);
}

static enum http_read_status fail(struct http_req *r, int status, const char *reason)
{
    if (!r->error_status) {
        r->error_status = status;
        r->error_reason = reason;
    }
    return HTTP_READ_ERROR;
}

enum http_read_status http_req_feed(struct http_req *r, const char *data, size_t len,
                                    const char **rest, size_t *rest_len)
{
    *rest = NULL;
    *rest_len = 0;
    if (r->complete) return HTTP_READ_DONE;
    while (len > 0) {
        const char *chunk = data;
        size_t take = len;
        /* Head bytes are copied into buf so header spans stay valid; once the head is
         * parsed, body bytes go to the parser straight from the caller (on_body copies). */
        if (!r->head_done) {
            if (r->len == HTTP_HEAD_MAX) return fail(r, 431, "request head too large");
            if (take > HTTP_HEAD_MAX - r->len) take = HTTP_HEAD_MAX - r->len;
            if (r->len + take > r->cap) {
                uint32_t cap = r->cap ? r->cap : 1024;
                while (cap < r->len + take) cap *= 2;
                if (cap > HTTP_HEAD_MAX) cap = HTTP_HEAD_MAX;
                char *b = realloc(r->buf, cap);
                if (!b) return fail(r, 503, "out of memory");
                r->buf = b;
                r->cap = cap;
            }
            memcpy(r->buf + r->len, data, take);
            chunk = r->buf + r->len;
            r->len += (uint32_t)take;
        }
        data += take;
        len -= take;

        size_t n = http_parser_execute(&r->parser, &settings, chunk, take);
        enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
        if (r->complete) {
            if (r->parser.upgrade) {
                /* RFC 6455 clients wait for the 101 before sending frames, so anything
                 * after the head is small; more than the head buffer holds is refused. */
                if (len > 0) return fail(r, 431, "too much data after the upgrade request");
                *rest = chunk + n;
                *rest_len = take - n;
            }
            return HTTP_READ_DONE;
        }
        if (e != HPE_OK) {
            if (r->error_status) return HTTP_READ_ERROR;
            return fail(r, 400, http_errno_description(e));
        }
    }
    return HTTP_READ_MORE;
}

const char *http_method_name(const struct http_req *r)
{
    return http_method_str((enum http_method)r->parser.method);
}

static int header_named(const struct http_req *r, const struct http_header *h, const char *name,
                        size_t nl)
{
    return h->name.len == nl && strncasecmp(r->buf + h->name.off, name, nl) == 0;
}

const char *http_header(const struct http_req *r, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (int i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (header_named(r, h, name, nl)) {
            if (len) *len = h->value.len;
            return r->buf + h->value.off;
        }
    }
    return NULL;
}

int http_header_count(const struct http_req *r, const char *name)
{
    size_t nl = strlen(name);
    int n = 0;
    for (int i = 0; i < r->nheaders; i++) n += header_named(r, &r->headers[i], name, nl);
    return n;
}

int http_header_has_token(const struct http_req *r, const char *name, const char *token)
{
    size_t nl = strlen(name), tl = strlen(token);
    for (int i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (!header_named(r, h, name, nl)) continue;
        const char *p = r->buf + h->value.off, *end = p + h->value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
            const char *s = p;
            while (p < end && *p != ',') p++;
            const char *e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
            if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0) return 1;
        }
    }
    return 0;
}

void http_req_path(const struct http_req *r, const char **path, size_t *len)
{
    const char *u = r->buf + r->url.off;
    size_t n = 0;
    while (n < r->url.len && u[n] != '?' && u[n] != '#') n++;
    *path = u;
    *len = n;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default:  return "Status";
    }
}

static int format_head(char *out, size_t cap, int status, const char *extra_headers,
                       const char *content_type, uint64_t body_len)
{
    return snprintf(out, cap,
                    "HTTP/1.1 %d %s\r\n%s%s%s%sContent-Length: %llu\r\nConnection: close\r\n\r\n",
                    status, http_status_text(status), extra_headers ? extra_headers : "",
                    content_type ? "Content-Type: " : "", content_type ? content_type : "",
                    content_type ? "\r\n" : "", (unsigned long long)body_len);
}

/* The head is measured, then written straight into the frame: its size is the caller's
 * (a script's route may return kilobytes of headers), so there is no cap to overflow.
 * The frame gets one spare byte for the NUL snprintf ends with; len leaves it out. */
/* The head for a body of body_len bytes, with room for room more bytes after it. */
static struct frame *response(int status, const char *extra_headers, const char *content_type,
                              uint64_t body_len, size_t room)
{
    int hl = format_head(NULL, 0, status, extra_headers, content_type, body_len);
    if (hl < 0 || (uint64_t)hl + room + 1 > UINT32_MAX) return NULL;   /* a frame's length */
    struct frame *f = frame_raw((size_t)hl + room + 1);
    if (!f) return NULL;
    format_head((char *)f->data, (size_t)hl + 1, status, extra_headers, content_type, body_len);
    f->len = f->payload_len = (uint32_t)hl;
    return f;
}

struct frame *http_response(int status, const char *extra_headers, const char *content_type,
                            const void *body, size_t body_len)
{
    struct frame *f = response(status, extra_headers, content_type, body_len, body_len);
    if (!f) return NULL;
    if (body && body_len) memcpy(f->data + f->len, body, body_len);
    f->len = f->payload_len = f->len + (uint32_t)body_len;
    return f;
}

struct frame *http_response_head(int status, const char *extra_headers, const char *content_type,
                                 uint64_t content_length)
{
    return response(status, extra_headers, content_type, content_length, 0);
}
