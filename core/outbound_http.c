/* outbound_http.c — hub.http.request on libcurl's multi-socket interface. One CURLM for
 * the process keeps its connection cache, so sequential calls to a host reuse a kept
 * connection. curl tells us which sockets to watch (on_socket: one ev_io each) and when
 * to call it back (on_curl_timer: one ev_timer); only those watchers' callbacks drive the
 * transfers (curl_multi_socket_action) and end them (finish_done), so no call is ever
 * ended inside the script's own call that started it (task.h).
 *
 * What a call costs is kept small (docs/benchmarks.md, the outbound case):
 *   - easy handles are pooled, set up once with what every call shares, and given per
 *     call only what changes (url, method, body, headers, timeout, size limit); a handle
 *     is reset when the outbound config it was set up with changed (a reload);
 *   - at most outbound.connections_per_host transfers per host are in the multi (times
 *     curl's 100 streams per connection once the host answered over HTTP/2); the
 *     calls beyond wait in a FIFO of their host (struct host) without a handle and start
 *     as transfers end, so curl never holds waiting handles (its lists are walked per
 *     transfer). A waiting call's deadline counts from when the script made it: it fails
 *     with timeout without ever starting when it waits that long (one timer per host,
 *     armed for the earliest deadline in its queue: no timer work per call);
 *   - a socket's watcher is only touched when the events curl wants change: kept on
 *     EV_READ while its connection sits idle in curl's cache (no epoll_ctl per call),
 *     stopped when curl closes the socket (CURLOPT_CLOSESOCKETFUNCTION) or the idle
 *     socket turns readable (the peer closed it; curl finds out when it next reuses it);
 *   - no proxy: curl would read the proxy environment variables on every transfer. */
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
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "lh_errors.h"
#include "metrics.h"
#include "task.h"

/* idle easy handles and call records kept for reuse; buffers a kept call may keep */
#define EASY_POOL_MAX 512
#define CALL_POOL_MAX 1024
#define BUF_KEEP_MAX 16384

struct buf {
    char *data;
    size_t len, cap;
};

/* What a pooled easy handle was set up with beyond its per-call options. */
struct easy_conf {
    long connect_ms;
    int verify;
    char *ca_file;                  /* a copy; NULL: the system's */
};

struct easy {
    CURL *curl;
    struct easy_conf conf;
    int shaped;                     /* a method, body or NOBODY other than a plain GET was set */
    struct easy *next;              /* in the pool */
};

enum call_state { CALL_QUEUED, CALL_RUNNING };

struct host;

struct call {
    struct easy *easy;              /* while running */
    struct host *host;
    enum call_state state;
    struct curl_slist *headers;
    uint32_t wait;
    int head;                       /* HEAD: no body read */
    int has_body;
    double started, timeout;        /* metrics_clock() seconds */
    uint64_t max_body;              /* outbound.max_response_bytes when it was made */
    int too_large, no_memory;
    long status;
    struct buf url;                 /* NUL-terminated */
    struct buf method;              /* NUL-terminated; empty for GET and HEAD */
    struct buf req_body;
    struct buf body;
    struct buf head_lines;          /* "name:value\n" records, names lower-cased */
    enum outbound_result result;
    char detail[CURL_ERROR_SIZE];   /* curl's error buffer, then the detail pushed */
    struct call *prev, *next;       /* every call in flight */
    struct call *qprev, *qnext;     /* its host's queue; qnext: the pool */
};

/* "host:port" (lower case) and the transfers to it: running in the multi, and waiting. */
struct host {
    struct host *hnext;
    uint32_t hash;
    unsigned running;
    int multiplexed;                /* its last answer came over HTTP/2: streams share connections */
    struct call *queue, *queue_tail;
    ev_timer timer;                 /* while calls wait: the earliest deadline among them */
    double timer_at;                /* that deadline (metrics_clock()) */
    size_t key_len;
    char key[];
};

/* A socket curl uses, by its fd; kept for the process (the watcher never moves). */
struct sock {
    ev_io io;
    int want;                       /* EV_READ | EV_WRITE curl asked for; 0: curl does not watch it */
};

static CURLM *multi;
static ev_timer curl_timer;
static struct call *calls;
static int closed;

static struct easy *easy_pool;
static unsigned easy_pooled;
static struct call *call_pool;
static unsigned call_pooled;

static struct host **hosts;
static size_t host_buckets, host_count;

static struct sock **socks;
static int socks_cap;

/* The url last checked and its host's key (check_url); scratch for a header line and a
 * call's host key. */
static struct buf last_url, last_key, scratch_line, scratch_key;
static CURLU *url_parser;

/* ------------------------------------------------------------------ buffers */

static int buf_reserve(struct buf *b, size_t n)
{
    if (b->len + n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_add(struct buf *b, const char *p, size_t n)
{
    if (buf_reserve(b, n) != 0) return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Sets b to p[0..n) and a NUL after it. */
static int buf_setz(struct buf *b, const char *p, size_t n)
{
    b->len = 0;
    if (buf_reserve(b, n + 1) != 0) return -1;
    memcpy(b->data, p, n);
    b->data[n] = '\0';
    b->len = n;
    return 0;
}

/* Empties b for the next call, freeing it when it grew large. */
static void buf_recycle(struct buf *b)
{
    b->len = 0;
    if (b->cap > BUF_KEEP_MAX) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

static void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
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
    struct buf *h = &c->head_lines;
    size_t len = size * n, end = len, start = 0;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { h->len = 0; return len; }
    while (end > 0 && is_space(p[end - 1])) end--;
    if (end == 0) return len;
    int ok;
    if (is_space(p[0])) {
        if (h->len == 0) return len;
        while (is_space(p[start])) start++;
        h->len--;                                      /* the previous record's '\n' */
        ok = buf_add(h, " ", 1) == 0 && buf_add(h, p + start, end - start) == 0;
    } else {
        const char *colon = memchr(p, ':', end);
        if (!colon || colon == p) return len;
        size_t name_len = (size_t)(colon - p), at = h->len;
        start = name_len + 1;
        while (start < end && is_space(p[start])) start++;
        ok = buf_add(h, p, name_len + 1) == 0 && buf_add(h, p + start, end - start) == 0;
        for (size_t i = at; ok && i < at + name_len; i++)
            if (h->data[i] >= 'A' && h->data[i] <= 'Z') h->data[i] += 'a' - 'A';
    }
    if (!ok || buf_add(h, "\n", 1) != 0) { c->no_memory = 1; return 0; }
    return len;
}

/* ------------------------------------------------------------------ results */

/* { status = N, headers = { name = value, repeated names joined with ", " }, body = s } */
static int push_response(lua_State *L, void *ctx)
{
    struct call *c = ctx;
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, c->status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, c->body.data ? c->body.data : "", c->body.len);
    lua_setfield(L, -2, "body");
    lua_newtable(L);
    const char *p = c->head_lines.data, *end = p + c->head_lines.len;
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

/* curl's timeouts: whole milliseconds, at least 1 (0 would mean none) */
static long milliseconds(double seconds)
{
    double ms = ceil(seconds * 1000.0);
    return ms < 1 ? 1 : ms > (double)LONG_MAX ? LONG_MAX : (long)ms;
}

/* ------------------------------------------------------------------ sockets */

static void on_io(struct ev_loop *loop, ev_io *w, int revents);

/* The record of socket fd (made when make and missing; NULL when out of memory). */
static struct sock *sock_at(curl_socket_t fd, int make)
{
    if (fd < 0) return NULL;
    if (fd >= socks_cap) {
        if (!make) return NULL;
        int cap = socks_cap ? socks_cap : 64;
        while (cap <= fd) cap *= 2;
        struct sock **grown = realloc(socks, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        memset(grown + socks_cap, 0, (size_t)(cap - socks_cap) * sizeof *grown);
        socks = grown;
        socks_cap = cap;
    }
    if (!socks[fd] && make && (socks[fd] = calloc(1, sizeof *socks[fd])))
        ev_init(&socks[fd]->io, on_io);
    return socks[fd];
}

/* curl no longer uses what was on fd (it opens a new socket there, or closes it). */
static void sock_forget(curl_socket_t fd)
{
    struct sock *s = sock_at(fd, 0);
    if (!s) return;
    ev_io_stop(EV_DEFAULT, &s->io);
    s->want = 0;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    sock_forget(fd);
    return fd;
}

static int on_close_socket(void *clientp, curl_socket_t fd)
{
    sock_forget(fd);
    return close(fd);
}

/* ------------------------------------------------------------------ easy handles */

/* The options every call shares, and the outbound config's; reset: the handle was set up
 * before with another config. */
static int easy_configure(struct easy *e, int reset)
{
    CURL *h = e->curl;
    const char *ca = config.outbound_ca_file;
    char *ca_copy = NULL;
    if (ca && !(ca_copy = strdup(ca))) return -1;
    if (reset) curl_easy_reset(h);
    free(e->conf.ca_file);
    e->conf.ca_file = ca_copy;
    e->conf.connect_ms = milliseconds(config.outbound_connect_timeout);
    e->conf.verify = config.outbound_tls_verify ? 1 : 0;
    e->shaped = 0;
    int bad = 0;
    bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    bad |= curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    bad |= curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    /* no proxy: else curl reads http_proxy, no_proxy and the like on every transfer */
    bad |= curl_easy_setopt(h, CURLOPT_PROXY, "");
    bad |= curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, e->conf.connect_ms);
    bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, (long)e->conf.verify);
    bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, e->conf.verify ? 2L : 0L);
    if (ca_copy) bad |= curl_easy_setopt(h, CURLOPT_CAINFO, ca_copy);
    return bad ? -1 : 0;
}

static int easy_conf_current(const struct easy *e)
{
    const char *ca = config.outbound_ca_file;
    return e->conf.connect_ms == milliseconds(config.outbound_connect_timeout)
        && e->conf.verify == (config.outbound_tls_verify ? 1 : 0)
        && (ca ? e->conf.ca_file && strcmp(ca, e->conf.ca_file) == 0 : !e->conf.ca_file);
}

static void easy_destroy(struct easy *e)
{
    curl_easy_cleanup(e->curl);
    free(e->conf.ca_file);
    free(e);
}

/* A handle set up for the current config: a pooled one, else a new one. */
static struct easy *easy_take(void)
{
    struct easy *e = easy_pool;
    if (e) {
        easy_pool = e->next;
        easy_pooled--;
        if (easy_conf_current(e) || easy_configure(e, 1) == 0) return e;
        easy_destroy(e);
        return NULL;
    }
    if (!(e = calloc(1, sizeof *e))) return NULL;
    if (!(e->curl = curl_easy_init()) || easy_configure(e, 0) != 0) {
        if (e->curl) curl_easy_cleanup(e->curl);
        free(e->conf.ca_file);
        free(e);
        return NULL;
    }
    return e;
}

static void easy_give(struct easy *e)
{
    if (closed || easy_pooled >= EASY_POOL_MAX) {
        easy_destroy(e);
        return;
    }
    e->next = easy_pool;
    easy_pool = e;
    easy_pooled++;
}

/* What changes from call to call. A handle that carried another method, a body or NOBODY
 * is put back to a plain GET first, as a new handle is. */
static int easy_apply(struct easy *e, struct call *c, long timeout_ms)
{
    CURL *h = e->curl;
    int custom = !c->head && (c->has_body || c->method.len != 3 || memcmp(c->method.data, "GET", 3) != 0);
    int bad = 0;
    c->detail[0] = '\0';
    bad |= curl_easy_setopt(h, CURLOPT_PRIVATE, c);
    bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->detail);
    bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    bad |= curl_easy_setopt(h, CURLOPT_URL, c->url.data);
    if (e->shaped) {
        bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, (char *)NULL);
        bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
        bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, (char *)NULL);
        bad |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    e->shaped = c->head || custom || c->has_body;
    if (c->head) bad |= curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (custom) bad |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method.data);
    if (c->has_body) {
        bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->req_body.len);
        bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->req_body.len ? c->req_body.data : "");
    }
    bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    /* a Content-Length over the limit fails before the body is read */
    bad |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------------ call records */

static struct call *call_take(void)
{
    struct call *c = call_pool;
    if (c) {
        call_pool = c->qnext;
        call_pooled--;
        c->qnext = NULL;
    } else {
        if (!(c = calloc(1, sizeof *c))) return NULL;
    }
    c->too_large = c->no_memory = 0;
    c->status = 0;
    c->detail[0] = '\0';
    return c;
}

static void call_destroy(struct call *c)
{
    curl_slist_free_all(c->headers);
    buf_free(&c->url);
    buf_free(&c->method);
    buf_free(&c->req_body);
    buf_free(&c->body);
    buf_free(&c->head_lines);
    free(c);
}

static void call_recycle(struct call *c)
{
    if (closed || call_pooled >= CALL_POOL_MAX) {
        call_destroy(c);
        return;
    }
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    buf_recycle(&c->url);
    buf_recycle(&c->method);
    buf_recycle(&c->req_body);
    buf_recycle(&c->body);
    buf_recycle(&c->head_lines);
    c->host = NULL;
    c->prev = c->next = NULL;
    c->qnext = call_pool;
    call_pool = c;
    call_pooled++;
}

/* ------------------------------------------------------------------ hosts */

static uint32_t key_hash(const char *k, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

static void on_host_timer(struct ev_loop *loop, ev_timer *w, int revents);

static struct host *host_get(const char *key, size_t len)
{
    uint32_t hash = key_hash(key, len);
    if (host_buckets) {
        for (struct host *h = hosts[hash & (host_buckets - 1)]; h; h = h->hnext)
            if (h->hash == hash && h->key_len == len && memcmp(h->key, key, len) == 0) return h;
    }
    if (host_count >= host_buckets * 2) {
        size_t n = host_buckets ? host_buckets * 2 : 16;
        struct host **grown = calloc(n, sizeof *grown);
        if (!grown) return NULL;
        for (size_t i = 0; i < host_buckets; i++) {
            for (struct host *h = hosts[i], *next; h; h = next) {
                next = h->hnext;
                h->hnext = grown[h->hash & (n - 1)];
                grown[h->hash & (n - 1)] = h;
            }
        }
        free(hosts);
        hosts = grown;
        host_buckets = n;
    }
    struct host *h = calloc(1, sizeof *h + len + 1);
    if (!h) return NULL;
    ev_init(&h->timer, on_host_timer);
    h->hash = hash;
    h->key_len = len;
    memcpy(h->key, key, len);
    h->hnext = hosts[hash & (host_buckets - 1)];
    hosts[hash & (host_buckets - 1)] = h;
    host_count++;
    return h;
}

/* Frees h when nothing runs or waits for it. */
static void host_release(struct host *h)
{
    if (h->running || h->queue) return;
    struct host **p = &hosts[h->hash & (host_buckets - 1)];
    while (*p != h) p = &(*p)->hnext;
    *p = h->hnext;
    host_count--;
    ev_timer_stop(EV_DEFAULT, &h->timer);
    free(h);
}

static void queue_push(struct host *h, struct call *c)
{
    c->qnext = NULL;
    c->qprev = h->queue_tail;
    if (h->queue_tail) h->queue_tail->qnext = c;
    else h->queue = c;
    h->queue_tail = c;
}

static void queue_remove(struct host *h, struct call *c)
{
    if (c->qprev) c->qprev->qnext = c->qnext;
    else h->queue = c->qnext;
    if (c->qnext) c->qnext->qprev = c->qprev;
    else h->queue_tail = c->qprev;
    c->qnext = c->qprev = NULL;
}

/* ------------------------------------------------------------------ running calls */

static void calls_link(struct call *c)
{
    c->prev = NULL;
    c->next = calls;
    if (calls) calls->prev = c;
    calls = c;
}

static void calls_unlink(struct call *c)
{
    if (c->prev) c->prev->next = c->next;
    else calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* Starts c's transfer: a handle set up for it, added to the multi (which only arms curl's
 * timer: the transfer starts from the loop). */
static int start_transfer(struct call *c)
{
    struct easy *e = easy_take();
    if (!e) return LH_ERR_NOMEM;
    long timeout_ms = milliseconds(c->started + c->timeout - metrics_clock());
    if (easy_apply(e, c, timeout_ms) != 0 || curl_multi_add_handle(multi, e->curl) != CURLM_OK) {
        e->conf.connect_ms = -1;            /* set up afresh when taken again */
        easy_give(e);
        return LH_ERR_NOMEM;
    }
    c->easy = e;
    c->state = CALL_RUNNING;
    c->host->running++;
    return LH_OK;
}

static double deadline(const struct call *c) { return c->started + c->timeout; }

/* Arms h's timer for at (a metrics_clock() time). libev's timers count from the time it
 * read at the start of this loop pass, metrics_clock() is now. */
static void host_timer_arm(struct host *h, double at)
{
    ev_timer_stop(EV_DEFAULT, &h->timer);
    h->timer_at = at;
    ev_timer_set(&h->timer, at - metrics_clock() + (ev_time() - ev_now(EV_DEFAULT)), 0.);
    ev_timer_start(EV_DEFAULT, &h->timer);
}

/* A call joins its host's queue; the timer is re-armed only for an earlier deadline (with
 * one timeout for all, never). */
static void enqueue(struct host *h, struct call *c)
{
    queue_push(h, c);
    if (!ev_is_active(&h->timer) || deadline(c) < h->timer_at) host_timer_arm(h, deadline(c));
}

/* Transfers h may have in the multi (0: no limit): outbound.connections_per_host, read
 * now so that a reload holds for the next start; over HTTP/2, each connection carries up
 * to curl's 100 streams (CURLMOPT_MAX_CONCURRENT_STREAMS). */
static unsigned long host_limit(const struct host *h)
{
    unsigned long limit = config.outbound_connections_per_host;
    return h->multiplexed ? limit * 100 : limit;
}

/* Starts the calls waiting for h while it has room (host_limit). A call whose deadline
 * passed, or that could not start, is put on *ended with its result, for the caller to
 * end. */
static void host_pump(struct host *h, struct call **ended)
{
    unsigned long limit = host_limit(h);
    while (!closed && h->queue && (limit == 0 || h->running < limit)) {
        struct call *c = h->queue;
        queue_remove(h, c);
        if (metrics_clock() - c->started >= c->timeout) {
            snprintf(c->detail, sizeof c->detail,
                     "no connection to %s became free within the call's timeout (%g s)", h->key, c->timeout);
            c->result = OUT_TIMEOUT;
        } else if (start_transfer(c) == LH_OK) {
            continue;
        } else {
            snprintf(c->detail, sizeof c->detail, "out of memory starting the call");
            c->result = OUT_FAILED;
        }
        c->qnext = *ended;
        *ended = c;
    }
    /* a timer left armed for calls that started finds nothing when it fires */
    if (!h->queue) ev_timer_stop(EV_DEFAULT, &h->timer);
}

/* Counts c, wakes its task with its result and recycles it; c is in no list. */
static void conclude(struct call *c)
{
    metrics.outbound_in_flight[OUTBOUND_HTTP]--;
    metrics.outbound_calls[OUTBOUND_HTTP][c->result]++;
    histogram_observe(&metrics.outbound_seconds[OUTBOUND_HTTP], metrics_clock() - c->started);
    task_wake(c->wait, c->result == OUT_OK ? push_response : push_error, c);
    call_recycle(c);
}

/* Ends a call, running or waiting: its host's next waiting call starts first (so a call
 * the woken task makes queues behind those already waiting), then its task wakes. */
static void finish(struct call *c, enum outbound_result result)
{
    struct host *h = c->host;
    struct call *ended = NULL;
    c->result = result;
    calls_unlink(c);
    if (c->state == CALL_RUNNING) {
        if (result == OUT_OK) {
            long version = 0;
            curl_easy_getinfo(c->easy->curl, CURLINFO_RESPONSE_CODE, &c->status);
            curl_easy_getinfo(c->easy->curl, CURLINFO_HTTP_VERSION, &version);
            h->multiplexed = version >= CURL_HTTP_VERSION_2_0;
        }
        curl_multi_remove_handle(multi, c->easy->curl);
        easy_give(c->easy);
        c->easy = NULL;
        h->running--;
    } else {
        queue_remove(h, c);
    }
    host_pump(h, &ended);
    host_release(h);
    conclude(c);
    while (ended) {
        struct call *next = ended->qnext;
        ended->qnext = NULL;
        calls_unlink(ended);
        conclude(ended);
        ended = next;
    }
}

/* Fails the waiting calls of a host whose deadline passed, without their ever starting;
 * re-arms for the earliest deadline left. */
static void on_host_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct host *h = (struct host *)((char *)w - offsetof(struct host, timer));
    struct call *ended = NULL, *next;
    double now = metrics_clock(), earliest = 0;
    for (struct call *c = h->queue; c; c = next) {
        next = c->qnext;
        if (now - c->started >= c->timeout) {
            queue_remove(h, c);
            snprintf(c->detail, sizeof c->detail,
                     "no connection to %s became free within the call's timeout (%g s)", h->key, c->timeout);
            c->result = OUT_TIMEOUT;
            c->qnext = ended;
            ended = c;
        } else if (!earliest || deadline(c) < earliest) {
            earliest = deadline(c);
        }
    }
    if (h->queue) host_timer_arm(h, earliest);
    host_release(h);
    while (ended) {                 /* h may be gone */
        next = ended->qnext;
        ended->qnext = NULL;
        calls_unlink(ended);
        conclude(ended);
        ended = next;
    }
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
    struct sock *s = (struct sock *)w;
    if (!s->want) {
        /* an idle kept connection turned readable: the peer closed it (or sent what it
         * should not); curl checks it before it reuses it */
        ev_io_stop(loop, w);
        return;
    }
    int running;
    int mask = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(multi, w->fd, mask, &running);
    finish_done();
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    int running;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    finish_done();
}

/* curl's wishes for a socket. The watcher is changed only when they change: when curl
 * stops watching a kept connection, it stays on EV_READ until curl uses it again. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct sock *s = sock_at(fd, what != CURL_POLL_REMOVE);
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            s->want = 0;
            if (ev_is_active(&s->io) && (s->io.events & EV_WRITE)) ev_io_stop(EV_DEFAULT, &s->io);
        }
        return 0;
    }
    if (!s) return -1;
    int want = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    s->want = want;
    if (ev_is_active(&s->io)) {
        if ((s->io.events & (EV_READ | EV_WRITE)) == want) return 0;
        ev_io_stop(EV_DEFAULT, &s->io);
        ev_io_modify(&s->io, want);
    } else {
        ev_io_set(&s->io, fd, want);    /* registers fd with the backend afresh */
    }
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

/* The script's "Name: value\r\n" lines, each added as "Name: value", or "Name;" for an
 * empty value ("Name:" would remove the header). With a body, curl would add a form
 * Content-Type and, for a large one, Expect: 100-continue; both are removed unless the
 * script set them. */
static int set_headers(struct call *c, const char *block, size_t len, int has_body)
{
    struct buf *line = &scratch_line;
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
        size_t value_len = (size_t)(eol - value);
        line->len = 0;
        if (buf_add(line, p, name_len) != 0
            || (value_len ? buf_add(line, ": ", 2) != 0 || buf_add(line, value, value_len) != 0
                          : buf_add(line, ";", 1) != 0)
            || buf_add(line, "", 1) != 0)
            return LH_ERR_NOMEM;
        if ((rc = add_line(c, line->data)) != LH_OK) return rc;
        p = eol + 2;
    }
    /* "Name:" with nothing after it tells curl to send no such header */
    if (has_body && !content_type && (rc = add_line(c, "Content-Type:")) != LH_OK) return rc;
    if (has_body && !expect && (rc = add_line(c, "Expect:")) != LH_OK) return rc;
    return LH_OK;
}

/* The url (c->url) as curl's own parser reads it: absolute, http or https, with a host.
 * Its host's key ("host:port", lower case) is left in key. The last url checked is
 * remembered, so a script calling one endpoint has it parsed once. */
static int check_url(struct call *c, struct buf *key)
{
    const char *z = c->url.data;
    size_t len = c->url.len;
    if (len == 0 || memchr(z, '\0', len)) return LH_ERR_BAD_ARG;
    if (last_url.len == len && memcmp(last_url.data, z, len) == 0) {
        key->len = 0;
        return buf_add(key, last_key.data, last_key.len) == 0 ? LH_OK : LH_ERR_NOMEM;
    }
    if (!url_parser && !(url_parser = curl_url())) return LH_ERR_NOMEM;
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = LH_ERR_BAD_ARG;
    if (curl_url_set(url_parser, CURLUPART_URL, z, 0) == CURLUE_OK
        && curl_url_get(url_parser, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
        && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)
        && curl_url_get(url_parser, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0]
        && curl_url_get(url_parser, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        key->len = 0;
        rc = buf_add(key, host, strlen(host)) == 0 && buf_add(key, ":", 1) == 0
             && buf_add(key, port, strlen(port)) == 0 ? LH_OK : LH_ERR_NOMEM;
        for (size_t i = 0; rc == LH_OK && i < key->len; i++)
            if (key->data[i] >= 'A' && key->data[i] <= 'Z') key->data[i] += 'a' - 'A';
        if (rc == LH_OK) {
            last_url.len = last_key.len = 0;
            if (buf_add(&last_url, z, len) != 0 || buf_add(&last_key, key->data, key->len) != 0)
                last_url.len = 0;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    return rc;
}

/* The call's request, checked and kept in c. */
static int prepare(struct call *c, const char *method, size_t method_len, const char *url, size_t url_len,
                   const char *headers, size_t headers_len, const char *body, size_t body_len,
                   struct buf *key)
{
    if (!is_token(method, method_len)) return LH_ERR_BAD_ARG;
    if (buf_setz(&c->url, url, url_len) != 0 || buf_setz(&c->method, method, method_len) != 0)
        return LH_ERR_NOMEM;
    int rc = check_url(c, key);
    if (rc != LH_OK) return rc;
    c->head = method_len == 4 && memcmp(method, "HEAD", 4) == 0;
    c->has_body = body != NULL;
    if ((rc = set_headers(c, headers, headers_len, body != NULL)) != LH_OK) return rc;
    if (body && body_len && buf_setz(&c->req_body, body, body_len) != 0) return LH_ERR_NOMEM;
    return LH_OK;
}

int outbound_http_request(const char *method, size_t method_len, const char *url, size_t url_len,
                          const char *headers, size_t headers_len, const char *body, size_t body_len,
                          double timeout)
{
    struct buf *key = &scratch_key;
    if (closed) return LH_ERR_CLOSED;
    if (metrics.outbound_in_flight[OUTBOUND_HTTP] + metrics.outbound_in_flight[OUTBOUND_REDIS] +
        metrics.outbound_in_flight[OUTBOUND_NATS] >= (int64_t)config.outbound_max_in_flight) {
        metrics.outbound_calls[OUTBOUND_HTTP][OUT_BUSY]++;
        return LH_ERR_BUSY;
    }
    if (!multi && start_multi() != 0) return LH_ERR_NOMEM;
    struct call *c = call_take();
    if (!c) return LH_ERR_NOMEM;
    c->started = metrics_clock();
    c->timeout = timeout > 0 ? timeout : config.outbound_timeout;
    c->max_body = config.outbound_max_response_bytes;
    int rc = prepare(c, method, method_len, url, url_len, headers, headers_len, body, body_len, key);
    if (rc == LH_OK && !(c->host = host_get(key->data, key->len))) rc = LH_ERR_NOMEM;
    if (rc != LH_OK) {
        if (c->host) host_release(c->host);
        call_recycle(c);
        return rc;
    }
    /* read per call, so a reload's new value holds for the calls after it. curl keeps
     * 4 idle connections per handle in its multi unless told: too few when the calls
     * come and go in waves, each wave would connect anew. */
    unsigned long limit = config.outbound_connections_per_host;
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)limit);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)(limit * host_count));
    if (limit && c->host->running >= host_limit(c->host)) {
        c->state = CALL_QUEUED;
        enqueue(c->host, c);
    } else if ((rc = start_transfer(c)) != LH_OK) {
        host_release(c->host);
        call_recycle(c);
        return rc;
    }
    if (!(c->wait = task_wait_new())) {
        if (c->state == CALL_RUNNING) {
            curl_multi_remove_handle(multi, c->easy->curl);
            easy_give(c->easy);
            c->easy = NULL;
            c->host->running--;
        } else {
            queue_remove(c->host, c);
            if (!c->host->queue) ev_timer_stop(EV_DEFAULT, &c->host->timer);
        }
        host_release(c->host);
        call_recycle(c);
        return LH_ERR_NOMEM;
    }
    calls_link(c);
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
    curl_multi_cleanup(multi);      /* closes the kept connections (on_close_socket) */
    multi = NULL;
    ev_timer_stop(EV_DEFAULT, &curl_timer);
    while (easy_pool) {
        struct easy *e = easy_pool;
        easy_pool = e->next;
        easy_destroy(e);
    }
    easy_pooled = 0;
    while (call_pool) {
        struct call *c = call_pool;
        call_pool = c->qnext;
        call_destroy(c);
    }
    call_pooled = 0;
    for (int fd = 0; fd < socks_cap; fd++) {
        if (!socks[fd]) continue;
        ev_io_stop(EV_DEFAULT, &socks[fd]->io);
        free(socks[fd]);
    }
    free(socks);
    socks = NULL;
    socks_cap = 0;
    free(hosts);                    /* every host was freed with its last call */
    hosts = NULL;
    host_buckets = host_count = 0;
    curl_url_cleanup(url_parser);
    url_parser = NULL;
    buf_free(&last_url);
    buf_free(&last_key);
    buf_free(&scratch_line);
    buf_free(&scratch_key);
    curl_global_cleanup();
}
