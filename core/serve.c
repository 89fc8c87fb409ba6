#include "serve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "lua_bridge.h"
#include "static.h"

/* Static files are read whole into the response frame: the web client's assets are small,
 * and one buffer keeps a single write path. Larger files are refused, not streamed. */
#define STATIC_MAX_BYTES (32u << 20)

static struct frame *text(int status, const char *extra, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%d %s%s%s\n", status, http_status_text(status),
                     msg ? ": " : "", msg ? msg : "");
    return http_response(status, extra, "text/plain; charset=utf-8", body, (size_t)n);
}

static struct frame *serve_static(struct conn *c, const struct http_req *r)
{
    int head = r->parser.method == HTTP_HEAD;
    struct static_file sf;
    int status = static_resolve(config.static_dir, r->buf + r->url.off, r->url.len, &sf);
    if (status != 200) return text(status, NULL, NULL);
    if ((uint64_t)sf.size > STATIC_MAX_BYTES) {
        close(sf.fd);
        log_warn(c->id, "static file of %lld bytes exceeds the %u-byte limit",
                 (long long)sf.size, STATIC_MAX_BYTES);
        return text(500, NULL, "file too large");
    }
    struct frame *f = http_response(200, "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n",
                                    sf.content_type, NULL, (size_t)sf.size);
    if (!f) {
        close(sf.fd);
        return NULL;
    }
    uint8_t *body = f->data + f->len - (size_t)sf.size;
    size_t got = 0;
    while (!head && got < (size_t)sf.size) {
        ssize_t n = read(sf.fd, body + got, (size_t)sf.size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(sf.fd);
    if (head) {
        f->len -= (uint32_t)sf.size;   /* HEAD: the same head, no body */
    } else if (got != (size_t)sf.size) {
        frame_unref(f);
        log_error(c->id, "static file changed or unreadable while serving");
        return text(500, NULL, "read error");
    }
    return f;
}

struct frame *serve_http(struct conn *c, const struct http_req *r)
{
    int method = r->parser.method;
    struct frame *routed = lua_bridge_http(c, r);
    if (routed) return routed;
    if (config.static_dir) {
        if (method == HTTP_GET || method == HTTP_HEAD) return serve_static(c, r);
        return text(405, "Allow: GET, HEAD\r\n", NULL);
    }
    return text(404, NULL, NULL);
}
