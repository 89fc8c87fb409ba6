#include "serve.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cluster.h"
#include "config.h"
#include "conn.h"
#include "http.h"
#include "hub.h"
#include "log.h"
#include "server.h"
#include "static.h"
#include "stats.h"

static const struct serve_script *script;

void serve_set_script(const struct serve_script *s) { script = s; }

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

static int path_is(const struct http_req *r, const char *want)
{
    const char *p;
    size_t n;
    http_req_path(r, &p, &n);
    return n == strlen(want) && memcmp(p, want, n) == 0;
}

/* /healthz: 200 while the loop runs. /readyz: 200 only while running (503 draining). A
 * lost cluster broker only shows as "cluster":"degraded": local service is still up. */
static struct frame *probe(int ready_probe)
{
    int draining = hub_draining();
    const char *cluster = cluster_status();
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"alive\":true,\"ready\":%s,\"state\":\"%s\",\"uptime\":%.3f,\"clients\":%u%s%s%s}\n",
                     draining ? "false" : "true", draining ? "draining" : "running", server_uptime(),
                     hub_count(), cluster ? ",\"cluster\":\"" : "", cluster ? cluster : "",
                     cluster ? "\"" : "");
    int status = ready_probe && draining ? 503 : 200;
    return http_response(status, "Cache-Control: no-store\r\n", "application/json", body, (size_t)n);
}

/* Bearer key check in constant time for keys of any length: compare SHA-256 digests. */
static int api_authorized(const struct http_req *r)
{
    size_t al;
    const char *auth = http_header(r, "Authorization", &al);
    if (!auth || al < 7 || strncasecmp(auth, "Bearer ", 7) != 0) return 0;
    unsigned char given[32], want[32];
    unsigned int gl = 0, wl = 0;
    EVP_Digest(auth + 7, al - 7, given, &gl, EVP_sha256(), NULL);
    EVP_Digest(config.api_key, strlen(config.api_key), want, &wl, EVP_sha256(), NULL);
    return gl == 32 && wl == 32 && CRYPTO_memcmp(given, want, 32) == 0;
}

static struct frame *builtin(struct conn *c, const struct http_req *r)
{
    int get = r->parser.method == HTTP_GET || r->parser.method == HTTP_HEAD;
    if (path_is(r, "/healthz") || path_is(r, "/readyz") || path_is(r, "/metrics")) {
        if (!get) return text(405, "Allow: GET, HEAD\r\n", NULL);
        if (path_is(r, "/metrics")) {
            size_t n = 0;
            const char *extra = script ? script->metrics_text(&n) : NULL;
            return stats_render(extra, n);
        }
        return probe(path_is(r, "/readyz"));
    }
    const char *p;
    size_t n;
    http_req_path(r, &p, &n);
    if (config.api_key && n >= 5 && memcmp(p, "/api/", 5) == 0) {
        if (!api_authorized(r)) {
            log_info(c->id, "API request without a valid key refused");
            return text(401, "WWW-Authenticate: Bearer\r\n", NULL);
        }
        if (!script) return http_response(503, NULL, "application/json", "{\"error\":\"no script\"}\n", 21);
        return script->api(c, r);
    }
    return NULL;
}

struct frame *serve_http(struct conn *c, const struct http_req *r)
{
    int method = r->parser.method;
    struct frame *answer = builtin(c, r);
    if (answer) return answer;
    struct frame *routed = script ? script->route(c, r) : NULL;
    if (routed) return routed;
    if (config.static_dir) {
        if (method == HTTP_GET || method == HTTP_HEAD) return serve_static(c, r);
        return text(405, "Allow: GET, HEAD\r\n", NULL);
    }
    return text(404, NULL, NULL);
}
