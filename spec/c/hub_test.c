/* hub_test — core/hub.c's admission (hub_on_admit) and message rate (limits.message_rate
 * in hub_on_message) without Lua: the transport's events go to the hub as app.c wires
 * them, and the hub reports to a stub script that records what it is asked and refuses
 * when told to. Clients are real connections over socketpairs that upgrade through the
 * transport, so the connection limit counts clients the hub opened.
 *
 *   - under limits.connections and not draining: accepted, the script asked first;
 *   - at the limit, or while draining: 503 with Retry-After, the script not asked;
 *   - the script's refusal reaches the client with its status, reason and headers, and
 *     counts as before_connect (429: user_limit);
 *   - the token bucket: a burst of one second's worth, then limited (the script still
 *     sees the message, flagged), refilled with the loop's time, never above the burst.
 * Refusals are compared with the HTTP responses written out literally. */
#include "hub.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "http.h"
#include "metrics.h"
#include "test_client.h"

#define MESSAGES_MAX 2048

static struct {
    int admits, opens, closes;
    struct client *admitted;        /* the client the last admit was asked about */
    int admitted_refused;           /* it was the last refused connection's */
    int host_seen;                  /* the request came with it (Host: test.local) */
    int refuse_status;              /* what the next admits answer (0: accept) */
    const char *refuse_headers, *refuse_reason;
    int messages, limited, bad_data;
    int wait;                       /* how many next messages' tasks wait */
    uint8_t limited_at[MESSAGES_MAX];
} seen;

static void script_admit(struct client *cl, const struct http_req *r, struct admission *a)
{
    size_t len;
    const char *host = http_header(r, "Host", &len);
    seen.admits++;
    seen.admitted = cl;
    seen.host_seen = host && len == 10 && memcmp(host, "test.local", 10) == 0;
    if (!seen.refuse_status) return;
    a->status = seen.refuse_status;
    a->extra_headers = seen.refuse_headers;
    snprintf(a->reason, sizeof a->reason, "%s", seen.refuse_reason);
}

static int script_open(struct client *cl) { seen.opens++; return 0; }

/* A message handler that waits (its task parks) for the next seen.wait messages. */
static int script_message(struct client *cl, int opcode, const uint8_t *data, size_t len, int limited)
{
    if (opcode != WS_TEXT || len != 2 || memcmp(data, "hi", 2) != 0) seen.bad_data++;
    if (seen.messages < MESSAGES_MAX) seen.limited_at[seen.messages] = (uint8_t)limited;
    seen.messages++;
    seen.limited += limited;
    if (seen.wait == 0) return 0;
    seen.wait--;
    return 1;
}

static int script_close(struct client *cl, int code, const char *reason) { seen.closes++; return 0; }
static void script_dropped(uint64_t id, const uint8_t *data, size_t len, int binary) {}

static const struct hub_script_events stub_script = {
    .admit = script_admit, .open = script_open, .message = script_message,
    .close = script_close, .dropped = script_dropped,
};

static struct frame *no_http(struct conn *c, const struct http_req *r) { return NULL; }

/* app_wire's transport table, with no plain HTTP (no request here is one). */
static const struct transport_events hub_events = {
    .admit = hub_on_admit, .open = hub_on_open, .message = hub_on_message,
    .close = hub_on_close, .http = no_http, .release = hub_on_release,
};

static const char refused_limit[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Retry-After: 5\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 50\r\n"
    "Connection: close\r\n"
    "\r\n"
    "503 Service Unavailable: connection limit reached\n";

static const char refused_draining[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Retry-After: 5\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 44\r\n"
    "Connection: close\r\n"
    "\r\n"
    "503 Service Unavailable: server is draining\n";

static const char refused_by_script[] =
    "HTTP/1.1 403 Forbidden\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 31\r\n"
    "Connection: close\r\n"
    "\r\n"
    "403 Forbidden: not on the list\n";

static const char refused_user_limit[] =
    "HTTP/1.1 429 Too Many Requests\r\n"
    "Retry-After: 30\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 34\r\n"
    "Connection: close\r\n"
    "\r\n"
    "429 Too Many Requests: user limit\n";

/* An upgrade that must be refused with exactly `response`, the server then shutting its
 * side; the client hangs up. */
static int refused_with(const char *response, const char *what)
{
    struct test_client cl;
    if (test_client_open(&cl, 0) != 0) return 0;
    test_client_request_upgrade(&cl);
    int ok = test_client_expect(&cl, response, strlen(response)) && test_client_expect_eof(&cl);
    ok = ok && cl.conn->phase != PHASE_WS;
    seen.admitted_refused = seen.admitted == client_of(cl.conn);
    CHECK(test_client_hang_up(&cl), "%s: the refused connection is torn down", what);
    return ok;
}

static void test_connection_limit(void)
{
    struct test_client a, b, d;
    config.limit_connections = 2;
    int admits = seen.admits;
    CHECK(test_client_open_ws(&a, 0) && test_client_open_ws(&b, 0), "limit 2: two clients accepted");
    CHECK(hub_count() == 2 && seen.admits - admits == 2 && seen.opens == 2,
          "both counted, the script asked to admit and told of each open");
    CHECK(hub_client(a.id) && &hub_client(a.id)->conn == a.conn, "the hub finds a client by id");

    uint64_t limit = metrics.refused[REFUSE_LIMIT];
    CHECK(refused_with(refused_limit,
          "at the limit"), "the third: 503 connection limit reached, Retry-After: 5");
    CHECK(metrics.refused[REFUSE_LIMIT] - limit == 1, "counted as refused: limit");
    CHECK(seen.admits - admits == 2 && hub_count() == 2, "the script was not asked; still two clients");

    CHECK(test_client_hang_up(&a) && seen.closes == 1 && hub_count() == 1, "one client leaves: one counted");
    CHECK(test_client_open_ws(&d, 0) && hub_count() == 2 && seen.admits - admits == 3,
          "a new client is accepted again");
    CHECK(test_client_hang_up(&b) && test_client_hang_up(&d) && hub_count() == 0, "all gone");
    config.limit_connections = 0;
}

static void test_draining(void)
{
    struct test_client cl;
    int admits = seen.admits;
    uint64_t draining = metrics.refused[REFUSE_DRAINING];
    hub_set_draining(1);
    CHECK(hub_draining() == 1, "draining is on");
    CHECK(refused_with(refused_draining, "draining"), "draining: 503 server is draining, Retry-After: 5");
    CHECK(metrics.refused[REFUSE_DRAINING] - draining == 1 && seen.admits == admits,
          "counted as refused: draining; the script was not asked");
    hub_set_draining(0);
    CHECK(test_client_open_ws(&cl, 0) && seen.admits - admits == 1,
          "draining off: accepted, the script asked");
    CHECK(test_client_hang_up(&cl), "gone");
}

static void test_script_refuses(void)
{
    uint64_t hook = metrics.refused[REFUSE_HOOK], user = metrics.refused[REFUSE_USER_LIMIT];
    int admits = seen.admits, opens = seen.opens;

    seen.refuse_status = 403;
    seen.refuse_headers = NULL;
    seen.refuse_reason = "not on the list";
    CHECK(refused_with(refused_by_script, "refused by the script"),
          "the script's 403 and its reason reach the client");
    CHECK(seen.admits - admits == 1 && seen.admitted_refused && seen.host_seen,
          "the script was asked with the client and the request");
    CHECK(metrics.refused[REFUSE_HOOK] - hook == 1 && metrics.refused[REFUSE_USER_LIMIT] == user,
          "counted as refused: before_connect");
    CHECK(seen.opens == opens && hub_count() == 0, "never opened, never counted");

    seen.refuse_status = 429;
    seen.refuse_headers = "Retry-After: 30\r\n";
    seen.refuse_reason = "user limit";
    CHECK(refused_with(refused_user_limit, "429 from the script"),
          "the script's 429 with its own Retry-After header reaches the client");
    CHECK(metrics.refused[REFUSE_USER_LIMIT] - user == 1 && metrics.refused[REFUSE_HOOK] - hook == 1,
          "429 counts as refused: user_limit");
    seen.refuse_status = 0;
}

/* "hi" from the client, masked with 01 02 03 04. */
static const uint8_t hi[] = { 0x81, 0x82, 0x01, 0x02, 0x03, 0x04, 'h' ^ 0x01, 'i' ^ 0x02 };

/* Sends n "hi" frames in one write (so one read and one loop time take them all) and
 * runs the pass; returns how many of them the script saw limited. */
static int send_burst(struct test_client *cl, int n)
{
    uint8_t *buf = malloc(sizeof hi * (size_t)n);
    for (int i = 0; i < n; i++) memcpy(buf + i * sizeof hi, hi, sizeof hi);
    int messages = seen.messages, limited = seen.limited;
    test_client_send(cl, buf, sizeof hi * (size_t)n);
    free(buf);
    test_pass();
    if (seen.messages - messages != n) printf("# %d of %d messages arrived\n", seen.messages - messages, n);
    return seen.messages - messages == n ? seen.limited - limited : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

static void test_message_rate(void)
{
    struct test_client cl;

    config.limit_message_rate = 0;
    CHECK(test_client_open_ws(&cl, 0), "rate: upgraded");
    CHECK(send_burst(&cl, 300) == 0 && seen.bad_data == 0, "no rate limit: 300 messages, none limited");
    test_client_hang_up(&cl);

    /* below one a second the bucket still holds one message */
    config.limit_message_rate = 0.5;
    uint64_t errors = metrics.errors[ERR_RATE_LIMITED];
    CHECK(test_client_open_ws(&cl, 0), "rate 0.5: upgraded");
    int first = seen.messages;
    CHECK(send_burst(&cl, 3) == 2 && seen.limited_at[first] == 0 && seen.limited_at[first + 1] == 1 &&
          seen.limited_at[first + 2] == 1, "rate 0.5: the first message passes, the next two are limited");
    CHECK(metrics.errors[ERR_RATE_LIMITED] - errors == 2, "each limited message counts as rate_limited");
    CHECK(seen.bad_data == 0, "the script sees limited messages whole");
    test_client_hang_up(&cl);

    /* a burst of one second's worth, then limited; the loop's time refills it */
    config.limit_message_rate = 200;
    CHECK(test_client_open_ws(&cl, 0), "rate 200: upgraded");
    struct client *c = client_of(cl.conn);
    first = seen.messages;
    CHECK(send_burst(&cl, 201) == 1 && seen.limited_at[first + 199] == 0 && seen.limited_at[first + 200] == 1,
          "rate 200: a burst of 200 passes, the 201st is limited");
    double t0 = c->extra->rate_last;
    sleep_ms(20);
    int limited = send_burst(&cl, 50);
    double refill = (c->extra->rate_last - t0) * 200;
    int allowed = refill < 50 ? (int)floor(refill) : 50;
    CHECK(allowed >= 4 && limited == 50 - allowed,
          "after %.1f ms of loop time: %d tokens, so %d of 50 pass (%d did)", (c->extra->rate_last - t0) * 1e3,
          allowed, allowed, 50 - limited);
    test_client_hang_up(&cl);

    /* the bucket never holds more than the burst: 999 left plus any refill is 1000 */
    config.limit_message_rate = 1000;
    CHECK(test_client_open_ws(&cl, 0), "rate 1000: upgraded");
    c = client_of(cl.conn);
    CHECK(send_burst(&cl, 1) == 0, "rate 1000: one message");
    t0 = c->extra->rate_last;
    sleep_ms(5);
    limited = send_burst(&cl, 1010);
    CHECK(c->extra->rate_last - t0 >= 0.001 && limited == 10,
          "after %.1f ms, 1010 more: 1000 pass, the bucket's size (%d did)", (c->extra->rate_last - t0) * 1e3,
          1010 - limited);
    test_client_hang_up(&cl);
    config.limit_message_rate = 0;
}

/* While a client's task waits, its later messages and its close wait their turn, in
 * order; reading pauses past limits.waiting_messages; nothing is lost. */
static void test_order_while_waiting(void)
{
    struct test_client cl;
    config.limit_waiting_messages = 4;
    CHECK(test_client_open_ws(&cl, 0), "order: upgraded");
    struct client *c = client_of(cl.conn);
    uint64_t id = cl.id;
    int first = seen.messages;
    seen.wait = 1;
    test_client_send(&cl, hi, sizeof hi);
    test_pass();
    CHECK(seen.messages - first == 1 && c->task_waiting, "the first message's task waits");
    int n = 3;
    uint8_t burst[sizeof hi * 3];
    for (int i = 0; i < n; i++) memcpy(burst + i * sizeof hi, hi, sizeof hi);
    test_client_send(&cl, burst, sizeof burst);
    test_pass();
    CHECK(seen.messages - first == 1 && c->extra && c->extra->held.count == 3 && !cl.conn->read_paused,
          "three more are held, not handled; below the bound, reading goes on");
    test_client_send(&cl, hi, sizeof hi);
    test_pass();
    CHECK(c->extra && c->extra->held.count == 4 && cl.conn->read_paused, "at limits.waiting_messages, reading pauses");
    test_client_send(&cl, hi, sizeof hi);
    test_pass();
    CHECK(c->extra->held.count == 4, "paused: the next message stays in the socket");

    seen.wait = 1;   /* the second message waits too */
    hub_task_done(id);
    CHECK(seen.messages - first == 2 && c->task_waiting && c->extra->held.count == 3 && cl.conn->read_paused,
          "the task ends: the next held message runs, and it waits in turn");
    hub_task_done(id);
    CHECK(seen.messages - first == 5 && !c->task_waiting && !c->extra && !cl.conn->read_paused,
          "it ends: the rest are handled in order, reading resumes, the extra part is freed");
    test_pass();
    CHECK(seen.messages - first == 6 && seen.bad_data == 0, "the message left in the socket arrives whole");

    /* a close while a task waits: the close hooks run after it; the struct and id stay */
    seen.wait = 1;
    test_client_send(&cl, hi, sizeof hi);
    test_pass();
    int closes = seen.closes;
    test_client_hang_up(&cl);
    CHECK(seen.closes == closes && hub_any(id) == c && c->conn_held,
          "hung up while a task waits: no close hook yet, the client is kept");
    CHECK(conn_open_count() == 0, "its socket is closed already");
    hub_task_done(id);
    CHECK(seen.closes - closes == 1 && hub_any(id) == NULL && hub_count() == 0,
          "the task ends: the close hook runs, then the client is freed");
    config.limit_waiting_messages = 64;
}

int main(void)
{
    conn_init(&hub_events, sizeof(struct client));
    hub_set_script(&stub_script);
    test_setup();
    test_connection_limit();
    test_draining();
    test_script_refuses();
    test_message_rate();
    test_order_while_waiting();
    CHECK(hub_count() == 0 && conn_open_count() == 0, "every connection is gone at the end");
    config_free(&config);
    return check_summary();
}
