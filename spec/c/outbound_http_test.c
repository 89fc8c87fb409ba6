/* outbound_http_test — core/outbound_http.c against a real HTTP backend on loopback
 * (spec/support/http_backend.py, a child process), driven by the default libev loop as
 * the server drives it. The task runner (task.h) is played by this file: wait ids count
 * up, and a wake runs the call's push function on a real Lua state and keeps what it
 * pushed, per wait id, for the checks.
 *
 *   - GET and POST round trips (to an address and to a host name): status, body, request
 *     headers as the backend saw them,
 *     response headers with lower-case names and repeated ones joined;
 *   - no call ends inside the call that started it;
 *   - timeout, connect (refused), too_large (by Content-Length and by a chunked body),
 *     busy (outbound.max_in_flight), bad arguments (no wait taken), tls and ca_file;
 *   - sequential calls share one TCP connection; the loop keeps turning while a call
 *     waits on a slow backend;
 *   - a pooled handle sends only what its call says (after HEAD, bodies, methods);
 *   - beyond outbound.connections_per_host calls wait in order of arrival, one that waits
 *     past its timeout fails with timeout without starting; 0: no limit;
 *   - metrics per call; shutdown ends calls in flight with "closed", refuses later ones. */
#include "outbound_http.h"

#include <arpa/inet.h>
#include <ev.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "lh_errors.h"
#include "metrics.h"
#include "task.h"

#define BACKEND "spec/support/http_backend.py"

static lua_State *L;
static uint32_t last_wait;
static int wakes;

/* ------------------------------------------------------------------ the task runner */

uint32_t task_wait_new(void) { return ++last_wait; }

int task_wait_alive(uint32_t wait) { return 1; }

/* results[wait] = { n = count, values... } */
void task_wake(uint32_t wait, task_push_fn push, void *ctx)
{
    wakes++;
    lua_getfield(L, LUA_REGISTRYINDEX, "results");
    int base = lua_gettop(L);
    int n = push(L, ctx);
    lua_createtable(L, n, 1);
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(L, base + i);
        lua_rawseti(L, -2, i);
    }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
    lua_pushinteger(L, wakes);
    lua_setfield(L, -2, "order");
    lua_rawseti(L, base, (int)wait);
    lua_settop(L, base - 1);
}

/* Pushes results[wait][i]; returns its type. */
static int result(uint32_t wait, int i)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "results");
    lua_rawgeti(L, -1, (int)wait);
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) return LUA_TNIL;
    lua_rawgeti(L, -1, i);
    lua_remove(L, -2);
    return lua_type(L, -1);
}

static int woken(uint32_t wait)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "results");
    lua_rawgeti(L, -1, (int)wait);
    int yes = !lua_isnil(L, -1);
    lua_pop(L, 2);
    return yes;
}

/* The error code a call ended with ("" for a response). */
static const char *code_of(uint32_t wait)
{
    int t = result(wait, 1);
    lua_pop(L, 1);
    if (t != LUA_TNIL) return "";
    result(wait, 2);
    const char *code = lua_tostring(L, -1);   /* the results table keeps the string */
    lua_pop(L, 1);
    return code ? code : "(none)";
}

static const char *detail_of(uint32_t wait)
{
    result(wait, 3);
    const char *d = lua_tostring(L, -1);
    lua_pop(L, 1);
    return d ? d : "";
}

/* A field of the response table, or of its headers (header != NULL). */
static const char *field(uint32_t wait, const char *name, const char *header)
{
    if (result(wait, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        return NULL;
    }
    lua_getfield(L, -1, header ? "headers" : name);
    if (header) {
        lua_getfield(L, -1, header);
        lua_remove(L, -2);
    }
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 2);
    return s;
}

/* The how-manieth wake ended wait (0: not yet). */
static int wake_order(uint32_t wait)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "results");
    lua_rawgeti(L, -1, (int)wait);
    int order = 0;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "order");
        order = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return order;
}

static const char *shown(const char *s) { return s ? s : "(nil)"; }

static long status_of(uint32_t wait)
{
    const char *s = field(wait, "status", NULL);
    return s ? atol(s) : 0;
}

/* ------------------------------------------------------------------ the loop */

static int ticks;

static void tick(struct ev_loop *loop, ev_timer *w, int revents) { ticks++; }

/* Runs the loop until the wait ended or 10 s passed; returns whether it ended. */
static int run_until(uint32_t wait)
{
    double deadline = metrics_clock() + 10;
    while (!woken(wait) && metrics_clock() < deadline) ev_run(EV_DEFAULT, EVRUN_ONCE);
    return woken(wait);
}

static int request(const char *method, const char *url, const char *headers, const char *body,
                   double timeout)
{
    return outbound_http_request(method, strlen(method), url, strlen(url),
                                 headers ? headers : "", headers ? strlen(headers) : 0,
                                 body, body ? strlen(body) : 0, timeout);
}

/* Starts a call, checks it did not end inside the call, runs the loop until it ends. */
static uint32_t call(const char *method, const char *url, const char *headers, const char *body,
                     double timeout)
{
    int before = wakes;
    int id = request(method, url, headers, body, timeout);
    CHECK(id > 0 && wakes == before, "%s %s: started (wait %d), not ended inside the call", method, url, id);
    if (id <= 0) return 0;
    CHECK(run_until((uint32_t)id), "%s %s: ended within 10 s", method, url);
    return (uint32_t)id;
}

/* ------------------------------------------------------------------ the backend */

struct backend {
    pid_t pid;
    int port;
    char base[64];
};

static struct backend backend_start(const char *cert, const char *key)
{
    struct backend b = { 0 };
    int out[2];
    if (pipe(out) != 0) return b;
    b.pid = fork();
    if (b.pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        if (cert) execlp("python3", "python3", BACKEND, "--cert", cert, "--key", key, (char *)NULL);
        else execlp("python3", "python3", BACKEND, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    if (!f || fscanf(f, "listening %d", &b.port) != 1) b.port = 0;
    if (f) fclose(f);
    snprintf(b.base, sizeof b.base, "%s://127.0.0.1:%d", cert ? "https" : "http", b.port);
    return b;
}

static void backend_stop(struct backend *b)
{
    if (b->pid <= 0) return;
    kill(b->pid, SIGTERM);
    waitpid(b->pid, NULL, 0);
}

static char *url(const struct backend *b, const char *path)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s%s", b->base, path);
    return buf;
}

/* A loopback port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* The backend's count of accepted connections, asked over the kept connection. */
static long backend_connections(const struct backend *b)
{
    uint32_t id = call("GET", url(b, "/connections"), NULL, NULL, 0);
    const char *body = field(id, "body", NULL);
    const char *n = body ? strstr(body, "\"connections\": ") : NULL;
    return n ? atol(n + 15) : -1;
}

/* ------------------------------------------------------------------ the checks */

static void round_trips(const struct backend *b)
{
    uint64_t ok_before = metrics.outbound_calls[OUTBOUND_HTTP][OUT_OK];
    uint64_t timed_before = metrics.outbound_seconds[OUTBOUND_HTTP].total;

    uint32_t id = call("GET", url(b, "/echo?x=1"), "X-Token: abc\r\nX-Empty: \r\n", NULL, 0);
    const char *body = field(id, "body", NULL);
    CHECK(status_of(id) == 200, "GET: status 200 (%ld %s %s)", status_of(id), code_of(id), detail_of(id));
    CHECK(body && strstr(body, "\"method\": \"GET\"") && strstr(body, "\"path\": \"/echo?x=1\""),
          "GET: the backend saw the method and path (%s)", shown(body));
    CHECK(body && strstr(body, "\"x-token\": \"abc\"") && strstr(body, "\"x-empty\": \"\""),
          "GET: request headers arrive, an empty value too (%s)", shown(body));
    const char *type = field(id, NULL, "content-type");
    CHECK(type && strcmp(type, "application/json") == 0, "GET: response header by lower-case name (%s)", shown(type));

    char by_name[64];
    snprintf(by_name, sizeof by_name, "http://localhost:%d/echo", b->port);
    id = call("GET", by_name, NULL, NULL, 0);
    CHECK(status_of(id) == 200, "a host name is resolved off the loop (%ld %s %s)", status_of(id),
          code_of(id), detail_of(id));

    id = call("POST", url(b, "/echo"), NULL, "hello", 0);
    body = field(id, "body", NULL);
    CHECK(body && strstr(body, "\"method\": \"POST\"") && strstr(body, "\"body\": \"hello\"")
          && strstr(body, "\"content-length\": \"5\""), "POST: body and its length arrive (%s)", shown(body));
    CHECK(body && !strstr(body, "content-type") && !strstr(body, "expect"),
          "POST: no Content-Type or Expect the script did not set (%s)", shown(body));

    id = call("PUT", url(b, "/echo"), "Content-Type: text/plain\r\n", "", 0);
    body = field(id, "body", NULL);
    CHECK(body && strstr(body, "\"method\": \"PUT\"") && strstr(body, "\"content-type\": \"text/plain\"")
          && strstr(body, "\"content-length\": \"0\""), "PUT: an empty body, the script's Content-Type (%s)", shown(body));

    id = call("HEAD", url(b, "/big?n=10"), NULL, NULL, 0);
    body = field(id, "body", NULL);
    CHECK(status_of(id) == 200 && body && body[0] == '\0', "HEAD: status, no body (%ld)", status_of(id));

    id = call("DELETE", url(b, "/status?code=404"), NULL, NULL, 0);
    const char *multi = field(id, NULL, "x-multi");
    body = field(id, "body", NULL);
    CHECK(status_of(id) == 404 && body && strcmp(body, "status 404") == 0,
          "an error status is a response (%ld %s)", status_of(id), shown(body));
    CHECK(multi && strcmp(multi, "a, b") == 0, "repeated response headers joined with \", \" (%s)", shown(multi));

    CHECK(metrics.outbound_calls[OUTBOUND_HTTP][OUT_OK] == ok_before + 6,
          "each response counted ok (%llu)", (unsigned long long)(metrics.outbound_calls[OUTBOUND_HTTP][OUT_OK] - ok_before));
    CHECK(metrics.outbound_seconds[OUTBOUND_HTTP].total == timed_before + 6, "each call timed");
    CHECK(metrics.outbound_in_flight[OUTBOUND_HTTP] == 0, "nothing in flight after");
}

static void failures(const struct backend *b)
{
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/", closed_port());
    uint32_t id = call("GET", refused, NULL, NULL, 0);
    CHECK(strcmp(code_of(id), "connect") == 0 && detail_of(id)[0],
          "nothing listening: connect (%s: %s)", code_of(id), detail_of(id));

    double t0 = metrics_clock();
    id = call("GET", url(b, "/slow?s=2"), NULL, NULL, 0.3);
    double took = metrics_clock() - t0;
    CHECK(strcmp(code_of(id), "timeout") == 0 && took < 1.5,
          "a slow answer: timeout after the call's own 0.3 s (%s, %.2f s)", code_of(id), took);

    config.outbound_max_response_bytes = 1000;
    id = call("GET", url(b, "/big?n=1000"), NULL, NULL, 0);
    const char *body = field(id, "body", NULL);
    CHECK(body && strlen(body) == 1000, "a body of exactly outbound.max_response_bytes is taken");
    id = call("GET", url(b, "/big?n=5000"), NULL, NULL, 0);
    CHECK(strcmp(code_of(id), "too_large") == 0 && strstr(detail_of(id), "max_response_bytes"),
          "a larger Content-Length: too_large (%s: %s)", code_of(id), detail_of(id));
    id = call("GET", url(b, "/big?n=50000&chunked=1"), NULL, NULL, 0);
    CHECK(strcmp(code_of(id), "too_large") == 0, "a larger chunked body: too_large (%s)", code_of(id));
    config.outbound_max_response_bytes = 8388608;
    id = call("GET", url(b, "/big?n=300000&chunked=1"), NULL, NULL, 0);
    body = field(id, "body", NULL);
    CHECK(body && strlen(body) == 300000, "a long chunked body whole");

    CHECK(metrics.outbound_calls[OUTBOUND_HTTP][OUT_CONNECT] == 1 && metrics.outbound_calls[OUTBOUND_HTTP][OUT_TIMEOUT] == 1
          && metrics.outbound_calls[OUTBOUND_HTTP][OUT_TOO_LARGE] == 2, "failures counted by code");
}

static void refusals(const struct backend *b)
{
    static const struct { const char *method, *url, *headers, *what; } bad[] = {
        { "GET", "ftp://127.0.0.1/", "", "another scheme" },
        { "GET", "file:///etc/passwd", "", "file:" },
        { "GET", "127.0.0.1/echo", "", "no scheme" },
        { "GET", "http://", "", "no host" },
        { "GET", "http://127.0.0.1/a b", "", "a space in the url" },
        { "G T", "http://127.0.0.1/", "", "a method that is not a token" },
        { "", "http://127.0.0.1/", "", "no method" },
        { "GET", "http://127.0.0.1/", "X-Bad\r\n", "a header line without ':'" },
        { "GET", "http://127.0.0.1/", "X Bad: 1\r\n", "a header name that is not a token" },
        { "GET", "http://127.0.0.1/", "X-A: 1", "a header line without CRLF" },
    };
    uint32_t waits = last_wait;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = request(bad[i].method, bad[i].url, bad[i].headers, NULL, 0);
        CHECK(rc == LH_ERR_BAD_ARG, "refused at once: %s (%d)", bad[i].what, rc);
    }
    CHECK(last_wait == waits && metrics.outbound_in_flight[OUTBOUND_HTTP] == 0, "no wait taken by a refused call");

    config.outbound_max_in_flight = 1;
    int first = request("GET", url(b, "/slow?s=0.3"), NULL, NULL, 0);
    int second = request("GET", url(b, "/echo"), NULL, NULL, 0);
    metrics.outbound_in_flight[OUTBOUND_REDIS] = 1;
    config.outbound_max_in_flight = 2;
    int third = request("GET", url(b, "/echo"), NULL, NULL, 0);
    metrics.outbound_in_flight[OUTBOUND_REDIS] = 0;
    config.outbound_max_in_flight = 10000;
    CHECK(first > 0 && second == LH_ERR_BUSY, "over outbound.max_in_flight: busy at once (%d %d)", first, second);
    CHECK(third == LH_ERR_BUSY, "Redis calls in flight count too (%d)", third);
    CHECK(metrics.outbound_calls[OUTBOUND_HTTP][OUT_BUSY] == 2, "busy counted");
    CHECK(first > 0 && run_until((uint32_t)first) && status_of((uint32_t)first) == 200, "the first call still ends well");
}

static void reuse_and_loop(const struct backend *b)
{
    long before = backend_connections(b);
    for (int i = 0; i < 5; i++) call("GET", url(b, "/echo"), NULL, NULL, 0);
    long after = backend_connections(b);
    CHECK(before > 0 && after == before, "sequential calls reuse the kept connection (%ld then %ld)", before, after);

    ev_timer t;
    ev_timer_init(&t, tick, 0.01, 0.01);
    ev_timer_start(EV_DEFAULT, &t);
    ticks = 0;
    int id = request("GET", url(b, "/slow?s=1"), NULL, NULL, 0);
    int quick = request("GET", url(b, "/echo"), NULL, NULL, 0);
    CHECK(quick > 0 && run_until((uint32_t)quick) && !woken((uint32_t)id) && status_of((uint32_t)quick) == 200,
          "a call to the same host ends while a slow one waits");
    int ended = id > 0 && run_until((uint32_t)id) && status_of((uint32_t)id) == 200;
    CHECK(ended && ticks >= 40, "the loop kept turning while the slow call waited (%d ticks of 10 ms)", ticks);
    ev_timer_stop(EV_DEFAULT, &t);
}

/* Handles are pooled: a call after calls of other shapes (HEAD, a body, another method,
 * headers) sends only what it says. */
static void reused_handles(const struct backend *b)
{
    call("HEAD", url(b, "/big?n=10"), "X-Old: 1\r\n", NULL, 0);
    call("PATCH", url(b, "/echo"), "Content-Type: text/plain\r\n", "patched", 0);
    uint32_t id = call("GET", url(b, "/echo"), NULL, NULL, 0);
    const char *body = field(id, "body", NULL);
    CHECK(body && strstr(body, "\"method\": \"GET\"") && strstr(body, "\"body\": \"\"")
          && !strstr(body, "content-length") && !strstr(body, "content-type") && !strstr(body, "x-old"),
          "a GET after a HEAD and a PATCH with a body: a plain GET (%s)", shown(body));
    id = call("HEAD", url(b, "/big?n=10"), NULL, NULL, 0);
    body = field(id, "body", NULL);
    CHECK(status_of(id) == 200 && body && body[0] == '\0', "a HEAD after them: no body (%ld)", status_of(id));
    id = call("POST", url(b, "/echo"), NULL, "again", 0);
    body = field(id, "body", NULL);
    CHECK(body && strstr(body, "\"method\": \"POST\"") && strstr(body, "\"body\": \"again\""),
          "a POST after a HEAD: its body (%s)", shown(body));
    id = call("GET", url(b, "/echo"), NULL, "with a body", 0);
    body = field(id, "body", NULL);
    CHECK(body && strstr(body, "\"method\": \"GET\"") && strstr(body, "\"body\": \"with a body\""),
          "a GET with a body stays a GET (%s)", shown(body));
}

/* Beyond outbound.connections_per_host, calls wait for a connection in order of arrival;
 * their deadline counts from the call. */
static void queued_calls(const struct backend *b)
{
    long before = backend_connections(b);
    config.outbound_connections_per_host = 1;
    int slow = request("GET", url(b, "/slow?s=0.3"), NULL, NULL, 0);
    int second = request("GET", url(b, "/echo?n=2"), NULL, NULL, 0);
    int third = request("POST", url(b, "/echo?n=3"), NULL, "three", 0);
    CHECK(slow > 0 && second > 0 && third > 0 && !woken((uint32_t)slow) && !woken((uint32_t)second) && !woken((uint32_t)third),
          "calls beyond the host's connections are taken and wait (%d %d %d)", slow, second, third);
    CHECK(metrics.outbound_in_flight[OUTBOUND_HTTP] == 3, "all three in flight");
    CHECK(third > 0 && run_until((uint32_t)third) && woken((uint32_t)slow) && woken((uint32_t)second),
          "the waiting calls ran once the first ended");
    CHECK(status_of((uint32_t)second) == 200 && status_of((uint32_t)third) == 200
          && wake_order((uint32_t)slow) < wake_order((uint32_t)second)
          && wake_order((uint32_t)second) < wake_order((uint32_t)third),
          "in order of arrival (%d %d %d)", wake_order((uint32_t)slow), wake_order((uint32_t)second),
          wake_order((uint32_t)third));
    const char *body = field((uint32_t)third, "body", NULL);
    CHECK(body && strstr(body, "\"body\": \"three\""), "a waiting call keeps its body (%s)", shown(body));

    double t0 = metrics_clock();
    slow = request("GET", url(b, "/slow?s=1"), NULL, NULL, 0);
    int hasty = request("GET", url(b, "/echo"), NULL, NULL, 0.3);
    int ended = hasty > 0 && run_until((uint32_t)hasty);
    double took = metrics_clock() - t0;
    CHECK(ended && strcmp(code_of((uint32_t)hasty), "timeout") == 0 && strstr(detail_of((uint32_t)hasty), "no connection")
          && took >= 0.29 && took < 0.8 && !woken((uint32_t)slow),
          "a call that waits past its timeout fails with timeout without starting (%s: %s, %.2f s)",
          code_of((uint32_t)hasty), detail_of((uint32_t)hasty), took);
    CHECK(slow > 0 && run_until((uint32_t)slow) && status_of((uint32_t)slow) == 200, "the call it waited for ends well");

    t0 = metrics_clock();
    slow = request("GET", url(b, "/slow?s=1"), NULL, NULL, 0);
    int later = request("GET", url(b, "/echo"), NULL, NULL, 0.7);
    int sooner = request("GET", url(b, "/echo"), NULL, NULL, 0.3);
    ended = sooner > 0 && run_until((uint32_t)sooner);
    took = metrics_clock() - t0;
    CHECK(ended && strcmp(code_of((uint32_t)sooner), "timeout") == 0 && took < 0.6 && !woken((uint32_t)later),
          "a call queued later with a shorter timeout fails first (%s, %.2f s)", code_of((uint32_t)sooner), took);
    ended = later > 0 && run_until((uint32_t)later);
    took = metrics_clock() - t0;
    CHECK(ended && strcmp(code_of((uint32_t)later), "timeout") == 0 && took >= 0.69 && took < 0.95 && !woken((uint32_t)slow),
          "then the earlier one at its own deadline (%s, %.2f s)", code_of((uint32_t)later), took);
    CHECK(slow > 0 && run_until((uint32_t)slow) && status_of((uint32_t)slow) == 200, "the call they waited for ends well");
    config.outbound_connections_per_host = 64;
    CHECK(backend_connections(b) == before, "one connection served them all (%ld then %ld)", before,
          backend_connections(b));

    config.outbound_connections_per_host = 0;     /* no limit */
    t0 = metrics_clock();
    int one = request("GET", url(b, "/slow?s=0.4"), NULL, NULL, 0);
    int two = request("GET", url(b, "/slow?s=0.4"), NULL, NULL, 0);
    ended = one > 0 && two > 0 && run_until((uint32_t)one) && run_until((uint32_t)two);
    took = metrics_clock() - t0;
    CHECK(ended && took < 0.75, "outbound.connections_per_host 0: calls to one host run at once (%.2f s)", took);
    config.outbound_connections_per_host = 64;
    CHECK(metrics.outbound_in_flight[OUTBOUND_HTTP] == 0, "nothing in flight after");
}

static void tls(const char *dir)
{
    char cert[256], key[256], cmd[1024];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1", key, cert);
    if (!CHECK(system(cmd) == 0, "a self-signed certificate made with openssl")) return;
    struct backend b = backend_start(cert, key);
    if (!CHECK(b.port > 0, "the TLS backend listens (%d)", b.port)) return;

    uint32_t id = call("GET", url(&b, "/echo"), NULL, NULL, 0);
    CHECK(strcmp(code_of(id), "tls") == 0, "a certificate no CA signed: tls (%s: %s)", code_of(id), detail_of(id));
    config.outbound_ca_file = strdup(cert);
    id = call("GET", url(&b, "/echo"), NULL, NULL, 0);
    CHECK(status_of(id) == 200, "with outbound.ca_file naming it: ok (%ld %s %s)", status_of(id), code_of(id), detail_of(id));
    free(config.outbound_ca_file);
    config.outbound_ca_file = NULL;
    config.outbound_tls_verify = 0;
    id = call("GET", url(&b, "/echo"), NULL, NULL, 0);
    CHECK(status_of(id) == 200, "with outbound.tls_verify off: ok (%ld %s)", status_of(id), code_of(id));
    config.outbound_tls_verify = 1;
    backend_stop(&b);
}

static void shutdown_ends_calls(const struct backend *b)
{
    int id = request("GET", url(b, "/slow?s=5"), NULL, NULL, 0);
    ev_run(EV_DEFAULT, EVRUN_NOWAIT);
    outbound_http_shutdown();
    CHECK(id > 0 && woken((uint32_t)id) && strcmp(code_of((uint32_t)id), "closed") == 0,
          "shutdown ends a call in flight: closed (%s)", id > 0 ? code_of((uint32_t)id) : "-");
    CHECK(metrics.outbound_in_flight[OUTBOUND_HTTP] == 0 && metrics.outbound_calls[OUTBOUND_HTTP][OUT_CLOSED] == 1,
          "counted closed, nothing in flight");
    CHECK(request("GET", url(b, "/echo"), NULL, NULL, 0) == LH_ERR_CLOSED, "a call after shutdown: closed");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    config_defaults(&config);
    L = luaL_newstate();
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "results");

    struct backend b = backend_start(NULL, NULL);
    if (!CHECK(b.port > 0, "the backend listens (python3 %s)", BACKEND)) return check_summary();
    char dir[] = "/tmp/outbound_http_test.XXXXXX";
    round_trips(&b);
    failures(&b);
    refusals(&b);
    reuse_and_loop(&b);
    reused_handles(&b);
    queued_calls(&b);
    if (CHECK(mkdtemp(dir) != NULL, "a temp dir for the certificate")) {
        tls(dir);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0, "temp dir removed");
    }
    shutdown_ends_calls(&b);
    backend_stop(&b);
    lua_close(L);
    config_free(&config);
    return check_summary();
}
