#include "serve.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "admin.h"
#include "embedded.h"
#include "cluster.h"
#include "config.h"
#include "conn.h"
#include "http.h"
#include "hub.h"
#include "log.h"
#include "server.h"
#include "static.h"
#include "stats.h"
#include "textbuf.h"

static const struct serve_script *script;

void serve_set_script(const struct serve_script *s) { script = s; }

static struct frame *text(int status, const char *extra, const char *msg)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%d %s%s%s\n", status, http_status_text(status),
                     msg ? ": " : "", msg ? msg : "");
    return http_response(status, extra, "text/plain; charset=utf-8", body, (size_t)n);
}

/* A static file: the head is the answer, the body goes from the file with sendfile
 * (conn_send_file), a slice at a time, so a large file costs no memory and one reader
 * of it does not hold up the others. */
static struct frame *serve_static(struct conn *c, const struct http_req *r, const char *dir,
                                  const char *target, size_t target_len)
{
    struct static_file sf;
    int status = static_resolve(dir, target, target_len, &sf);
    if (status != 200) return text(status, NULL, NULL);
    struct frame *f = http_response_head(200, "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n",
                                         sf.content_type, (uint64_t)sf.size);
    if (!f || r->parser.method == HTTP_HEAD) {
        close(sf.fd);
        return f;
    }
    if (conn_send_file(c, sf.fd, (uint64_t)sf.size) != 0) {
        frame_unref(f);
        return NULL;
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

/* POST /api/admin/ticket: a one-time ticket for the admin page's WebSocket (admin.h),
 * with where to use it. */
static struct frame *admin_ticket(const struct http_req *r)
{
    if (r->parser.method != HTTP_POST) return text(405, "Allow: POST\r\n", NULL);
    char ticket[65];
    if (admin_ticket_issue(ticket) != 0) return text(503, NULL, "no random bytes for a ticket");
    struct textbuf t;
    textbuf_init(&t, 256);
    textbuf_printf(&t, "{\"param\":\"%s\",\"ticket\":\"%s\",\"expires_in\":%d,\"ws_path\":",
                   ADMIN_TICKET_PARAM, ticket, ADMIN_TICKET_SECONDS);
    textbuf_json_string(&t, config.ws_path, strlen(config.ws_path));
    textbuf_printf(&t, "}\n");
    struct frame *f = t.failed ? NULL
        : http_response(200, "Cache-Control: no-store\r\n", "application/json", t.buf, t.len);
    textbuf_free(&t);
    return f;
}

/* The admin page, /admin/ and its files, compiled into the binary with the runtime
 * modules (lua/luahub/admin/, embedded.h): one flat directory, so a name with a slash is
 * not one of them. */
static struct frame *admin_page(const struct http_req *r, const char *p, size_t n)
{
    if (r->parser.method != HTTP_GET && r->parser.method != HTTP_HEAD)
        return text(405, "Allow: GET, HEAD\r\n", NULL);
    if (n == 6) return http_response(308, "Location: /admin/\r\n", "text/plain; charset=utf-8", "/admin/\n", 8);
    const char *file = p + 7;
    size_t len = n - 7;
    if (len == 0) {
        file = "index.html";
        len = 10;
    } else if (len > 64 || memchr(file, '/', len)) {
        return text(404, NULL, NULL);
    }
    char name[96];
    snprintf(name, sizeof name, "luahub/admin/%.*s", (int)len, file);
    const struct embedded_file *f = embedded_find(name, strlen(name));
    if (!f) return text(404, NULL, NULL);
    struct frame *resp = http_response(200, "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n",
                                       static_content_type(name), (const char *)f->data, f->len);
    /* HEAD: the GET answer's head, Content-Length included, and no body */
    if (resp && r->parser.method == HTTP_HEAD) resp->len -= (uint32_t)f->len;
    return resp;
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
        if (path_is(r, "/api/admin/ticket")) return admin_ticket(r);
        if (!script) return http_response(503, NULL, "application/json", "{\"error\":\"no script\"}\n", 21);
        return script->api(c, r);
    }
    if (config.api_key && n >= 6 && memcmp(p, "/admin", 6) == 0 && (n == 6 || p[6] == '/'))
        return admin_page(r, p, n);
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
        if (method == HTTP_GET || method == HTTP_HEAD)
            return serve_static(c, r, config.static_dir, r->buf + r->url.off, r->url.len);
        return text(405, "Allow: GET, HEAD\r\n", NULL);
    }
    return text(404, NULL, NULL);
}
