/* outbound_http.c — hub.http.request on libcurl's multi-socket interface. One CURLM for
 * the process keeps its connection cache, so sequential calls to a host reuse a kept
 * connection. curl tells us which sockets to watch (on_socket: one ev_io each) and when
 * to call it back (on_curl_timer: one ev_timer); only those watchers' callbacks drive the
 * transfers (curl_multi_socket_action) and end them (finish_done), so no call is ever
 * ended inside the script's own call that started it (task.h). */
#include "outbound_http.h"

#include <curl/curl.h>
#include <ev.h>
#include <limits.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "lh_errors.h"
#include "metrics.h"
#include "task.h"

struct buf {
    char *data;
    size_t len, cap;
};

struct call {
    CURL *easy;
    struct curl_slist *headers;
    uint32_t wait;
    double started, timeout;        /* metrics_clock() seconds */
    uint64_t max_body;              /* outbound.max_response_bytes when it started */
    int too_large, no_memory;
    struct buf body;
    struct buf head;                /* "name:value\n" records, names lower-cased */
    enum outbound_result result;
    char detail[CURL_ERROR_SIZE];   /* curl's error buffer, then the detail pushed */
    struct call *prev, *next;
};

/* A socket curl asked us to watch; curl keeps the pointer with the socket (multi_assign). */
struct sock {
    ev_io io;
    struct sock *prev, *next;
};

static CURLM *multi;
static ev_timer curl_timer;
static struct call *calls;
static struct sock *socks;
static int closed;

/* ------------------------------------------------------------------ buffers */

static int buf_add(struct buf *b, const char *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) return -1;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    size_t len = size * n;
    /* a short count makes curl abort the transfer with CURLE_WRITE_ERROR */
    if (c->body.len + len > c->max_body) { c->too_large = 1; return 0; }
    if (buf_add(&c->body, p, len) != 0) { c->no_memory = 1; return 0; }
    return len;
}

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* One header line of the response. Every response of the exchange (an interim 1xx)
 * starts with its status line, which clears what an earlier one left: the final
 * response's headers are kept. A line starting with white space continues the one
 * before (obsolete folding). */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct call *c = ud;
    size_t len = size * n, end = len, start = 0;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { c->head.len = 0; return len; }
    while (end > 0 && is_space(p[end - 1])) end--;
    if (end == 0) return len;
    int ok;
    if (is_space(p[0])) {
        if (c->head.len == 0) return len;
        while (is_space(p[start])) start++;
        c->head.len--;                                 /* the previous record's '\n' */
        ok = buf_add(&c->head, " ", 1) == 0 && buf_add(&c->head, p + start, end - start) == 0;
    } else {
        const char *colon = memchr(p, ':', end);
        if (!colon || colon == p) return len;
        size_t name_len = (size_t)(colon - p), at = c->head.len;
        start = name_len + 1;
        while (start < end && is_space(p[start])) start++;
        ok = buf_add(&c->head, p, name_len + 1) == 0 && buf_add(&c->head, p + start, end - start) == 0;
        for (size_t i = at; ok && i < at + name_len; i++)
            if (c->head.data[i] >= 'A' && c->head.data[i] <= 'Z') c->head.data[i] += 'a' - 'A';
    }
    if (!ok || buf_add(&c->head, "\n", 1) != 0) { c->no_memory = 1; return 0; }
    return len;
}

/* ------------------------------------------------------------------ results */

/* { status = N, headers = { name = value, repeated names joined with ", " }, body = s } */
static int push_response(lua_State *L, void *ctx)
{
    struct call *c = ctx;
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, c->body.data ? c->body.data : "", c->body.len);
    lua_setfield(L, -2, "body");
    lua_newtable(L);
    const char *p = c->head.data, *end = p + c->head.len;
    while (p < end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *eol = memchr(colon, '\n', (size_t)(end - colon));
        lua_pushlstring(L, p, (size_t)(colon - p));
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushlstring(L, colon + 1, (size_t)(eol - colon - 1));
        } else {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, colon + 1, (size_t)(eol - colon - 1));
            lua_concat(L, 3);
        }
        lua_rawset(L, -3);
        p = eol + 1;
    }
    lua_setfield(L, -2, "headers");
    return 1;
}

/* nil, code, detail */
static int push_error(lua_State *L, void *ctx)
{
    struct call *c = ctx;
    lua_pushnil(L);
    lua_pushstring(L, metrics_outbound_results[c->result]);
    lua_pushstring(L, c->detail);
    return 3;
}

static enum outbound_result classify(struct call *c, CURLcode rc)
{
    if (rc == CURLE_OK) return OUT_OK;
    if (c->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(c->detail, sizeof c->detail,
                 "the response body is over outbound.max_response_bytes (%llu bytes)",
                 (unsigned long long)c->max_body);
        return OUT_TOO_LARGE;
    }
    if (c->no_memory) {
        snprintf(c->detail, sizeof c->detail, "out of memory reading the response");
        return OUT_FAILED;
    }
    if (!c->detail[0]) snprintf(c->detail, sizeof c->detail, "%s", curl_easy_strerror(rc));
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        /* curl says the same for the connect timeout and the whole call's; the whole
         * call's cannot have passed yet when it fires before its deadline */
        return metrics_clock() - c->started < c->timeout ? OUT_CONNECT : OUT_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        return OUT_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return OUT_TLS;
    default:
        return OUT_FAILED;
    }
}

static void call_free(struct call *c)
{
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    free(c->body.data);
    free(c->head.data);
    free(c);
}

/* Ends a call that curl has: counts it, wakes its task with the result, frees it. */
static void finish(struct call *c, enum outbound_result result)
{
    curl_multi_remove_handle(multi, c->easy);
    if (c->prev) c->prev->next = c->next;
    else calls = c->next;
    if (c->next) c->next->prev = c->prev;
    metrics.outbound_in_flight[OUTBOUND_HTTP]--;
    metrics.outbound_calls[OUTBOUND_HTTP][result]++;
    histogram_observe(&metrics.outbound_seconds[OUTBOUND_HTTP], metrics_clock() - c->started);
    c->result = result;
    task_wake(c->wait, result == OUT_OK ? push_response : push_error, c);
    call_free(c);
}

/* Ends every transfer curl reports done. A woken task may start new calls meanwhile. */
static void finish_done(void)
{
    CURLMsg *m;
    int left;
    while (multi && (m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct call *c;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        finish(c, classify(c, m->data.result));
    }
}

/* ------------------------------------------------------------------ loop glue */

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    int running;
    int mask = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(multi, w->fd, mask, &running);   /* may free w (POLL_REMOVE) */
    finish_done();
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    int running;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    finish_done();
}

static void sock_free(struct sock *s)
{
    ev_io_stop(EV_DEFAULT, &s->io);
    if (s->prev) s->prev->next = s->next;
    else socks = s->next;
    if (s->next) s->next->prev = s->prev;
    free(s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) sock_free(s);
        return 0;
    }
    if (s) {
        ev_io_stop(EV_DEFAULT, &s->io);
    } else {
        if (!(s = calloc(1, sizeof *s))) return -1;
        ev_init(&s->io, on_io);
        s->next = socks;
        if (socks) socks->prev = s;
        socks = s;
        curl_multi_assign(multi, fd, s);
    }
    ev_io_set(&s->io, fd, (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0));
    ev_io_start(EV_DEFAULT, &s->io);
    return 0;
}

/* curl asks to be called back in ms (0: as soon as possible, never from inside the call
 * that asked), or -1: no timer. */
static int on_curl_timer(CURLM *m, long ms, void *userp)
{
    ev_timer_stop(EV_DEFAULT, &curl_timer);
    if (ms >= 0) {
        ev_timer_set(&curl_timer, (double)ms / 1000.0, 0.);
        ev_timer_start(EV_DEFAULT, &curl_timer);
    }
    return 0;
}

static int start_multi(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    if (!(multi = curl_multi_init())) {
        curl_global_cleanup();
        return -1;
    }
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    ev_init(&curl_timer, on_timeout);
    return 0;
}

/* ------------------------------------------------------------------ starting a call */

static int is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
        || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_token(const char *s, size_t len)
{
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i])) return 0;
    return 1;
}

static int add_line(struct call *c, const char *line)
{
    struct curl_slist *l = curl_slist_append(c->headers, line);
    if (!l) return LH_ERR_NOMEM;
    c->headers = l;
    return LH_OK;
}

/* Adds "Name: value", or "Name;" for an empty value ("Name:" would remove the header). */
static int add_header(struct call *c, const char *name, size_t name_len, const char *value, size_t value_len)
{
    char *line;
    int n = value_len ? asprintf(&line, "%.*s: %.*s", (int)name_len, name, (int)value_len, value)
                      : asprintf(&line, "%.*s;", (int)name_len, name);
    if (n < 0) return LH_ERR_NOMEM;
    int rc = add_line(c, line);
    free(line);
    return rc;
}

/* The script's "Name: value\r\n" lines. With a body, curl would add a form
 * Content-Type and, for a large one, Expect: 100-continue; both are removed unless the
 * script set them. */
static int set_headers(struct call *c, const char *block, size_t len, int has_body)
{
    int content_type = 0, expect = 0, rc;
    const char *p = block, *end = block + len;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) return LH_ERR_BAD_ARG;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || !is_token(p, (size_t)(colon - p))) return LH_ERR_BAD_ARG;
        for (const char *v = colon + 1; v < eol; v++)
            if (*v == '\0' || *v == '\r' || *v == '\n') return LH_ERR_BAD_ARG;
        size_t name_len = (size_t)(colon - p);
        content_type |= name_len == 12 && strncasecmp(p, "content-type", 12) == 0;
        expect |= name_len == 6 && strncasecmp(p, "expect", 6) == 0;
        const char *value = colon + 1;
        while (value < eol && (*value == ' ' || *value == '\t')) value++;
        if ((rc = add_header(c, p, name_len, value, (size_t)(eol - value))) != LH_OK) return rc;
        p = eol + 2;
    }
    /* "Name:" with nothing after it tells curl to send no such header */
    if (has_body && !content_type && (rc = add_line(c, "Content-Type:")) != LH_OK) return rc;
    if (has_body && !expect && (rc = add_line(c, "Expect:")) != LH_OK) return rc;
    return c->headers ? (curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers) == CURLE_OK
                         ? LH_OK : LH_ERR_NOMEM) : LH_OK;
}

/* The url as curl's own parser reads it: absolute, http or https, with a host. */
static int set_url(struct call *c, const char *url, size_t len)
{
    if (len == 0 || memchr(url, '\0', len)) return LH_ERR_BAD_ARG;
    char *z = strndup(url, len), *scheme = NULL, *host = NULL;
    CURLU *u = curl_url();
    int rc = LH_ERR_NOMEM;
    if (z && u) {
        rc = LH_ERR_BAD_ARG;
        if (curl_url_set(u, CURLUPART_URL, z, 0) == CURLUE_OK
            && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
            && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)
            && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0])
            rc = curl_easy_setopt(c->easy, CURLOPT_URL, z) == CURLE_OK ? LH_OK : LH_ERR_NOMEM;
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    free(z);
    return rc;
}

static int set_method(struct call *c, const char *method, size_t len)
{
    if (!is_token(method, len)) return LH_ERR_BAD_ARG;
    if (len == 4 && memcmp(method, "HEAD", 4) == 0)
        return curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L) == CURLE_OK ? LH_OK : LH_ERR_NOMEM;
    char *z = strndup(method, len);
    int rc = z && curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, z) == CURLE_OK ? LH_OK : LH_ERR_NOMEM;
    free(z);
    return rc;
}

/* curl's timeouts: whole milliseconds, at least 1 (0 would mean none) */
static long milliseconds(double seconds)
{
    double ms = ceil(seconds * 1000.0);
    return ms < 1 ? 1 : ms > (double)LONG_MAX ? LONG_MAX : (long)ms;
}

/* Everything about a call but its method, url and headers. */
static int set_options(struct call *c, const char *body, size_t body_len, double timeout)
{
    CURL *e = c->easy;
    long timeout_ms = milliseconds(timeout), connect_ms = milliseconds(config.outbound_connect_timeout);
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->detail);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    /* a Content-Length over the limit fails before the body is read */
    bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, config.outbound_tls_verify ? 1L : 0L);
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, config.outbound_tls_verify ? 2L : 0L);
    if (config.outbound_ca_file)
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, config.outbound_ca_file);
    if (body) {
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
    }
    return bad ? LH_ERR_NOMEM : LH_OK;
}

int outbound_http_request(const char *method, size_t method_len, const char *url, size_t url_len,
                          const char *headers, size_t headers_len, const char *body, size_t body_len,
                          double timeout)
{
    if (closed) return LH_ERR_CLOSED;
    if (metrics.outbound_in_flight[OUTBOUND_HTTP] + metrics.outbound_in_flight[OUTBOUND_REDIS]
        >= (int64_t)config.outbound_max_in_flight) {
        metrics.outbound_calls[OUTBOUND_HTTP][OUT_BUSY]++;
        return LH_ERR_BUSY;
    }
    if (!multi && start_multi() != 0) return LH_ERR_NOMEM;
    struct call *c = calloc(1, sizeof *c);
    if (!c || !(c->easy = curl_easy_init())) {
        free(c);
        return LH_ERR_NOMEM;
    }
    c->started = metrics_clock();
    c->timeout = timeout > 0 ? timeout : config.outbound_timeout;
    c->max_body = config.outbound_max_response_bytes;
    int rc = set_url(c, url, url_len);
    if (rc == LH_OK) rc = set_method(c, method, method_len);
    if (rc == LH_OK) rc = set_headers(c, headers, headers_len, body != NULL);
    if (rc == LH_OK) rc = set_options(c, body, body_len, c->timeout);
    /* read per call, so a reload's new value holds for the calls after it */
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)config.outbound_connections_per_host);
    /* adding only arms curl's timer (on_curl_timer); the transfer starts from the loop */
    if (rc == LH_OK && curl_multi_add_handle(multi, c->easy) != CURLM_OK) rc = LH_ERR_NOMEM;
    if (rc == LH_OK && !(c->wait = task_wait_new())) {
        curl_multi_remove_handle(multi, c->easy);
        rc = LH_ERR_NOMEM;
    }
    if (rc != LH_OK) {
        call_free(c);
        return rc;
    }
    c->next = calls;
    if (calls) calls->prev = c;
    calls = c;
    metrics.outbound_in_flight[OUTBOUND_HTTP]++;
    return (int)c->wait;
}

void outbound_http_shutdown(void)
{
    closed = 1;
    while (calls) {
        snprintf(calls->detail, sizeof calls->detail, "the server is shutting down");
        finish(calls, OUT_CLOSED);
    }
    if (!multi) return;
    curl_multi_cleanup(multi);      /* closes the kept connections */
    multi = NULL;
    ev_timer_stop(EV_DEFAULT, &curl_timer);
    while (socks) sock_free(socks);
    curl_global_cleanup();
}
