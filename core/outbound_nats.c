/* outbound_nats.c — see outbound_nats.h.
 *
 * A call ends exactly once (task.h): when its last answer comes, or from a libev
 * callback (its deadline, a failure to start it, which sets the deadline to 0 s so that
 * no task wakes inside the lh_nats_request that started it), from the connection's loss
 * or from the shutdown; it is freed as it ends. Its requests carry tokens first ..
 * first + n - 1 from one counter, so an answer finds its call by range; calls are listed
 * oldest first, the order answers mostly come in. An answer to a call that ended is
 * dropped. A call made while the cluster's connection is being made (at startup, or an
 * attempt after a backoff) is held, with a copy of its requests, and sent once it is up;
 * one made while the cluster waits out a backoff fails at once with `connect`, as a
 * hub.redis call does. */
#include "outbound_nats.h"

#include <ev.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "lh_api.h"
#include "lh_errors.h"
#include "metrics.h"
#include "task.h"

/* Requests in one call: a read asks for its publications in batches of at most this. */
#define BATCH_MAX 4096

struct answer {
    int status;                 /* 0, or the NATS status (503: no responders) */
    char *data;
    size_t len;
};

struct request {                /* a held call's copy, pointing into its blob */
    const char *subject, *data;
    size_t slen, len;
};

struct call {
    struct call *prev, *next;
    int listed;                 /* in the list answers look in (not once the connection was lost) */
    uint32_t wait;
    uint64_t first;             /* the token of its first request */
    uint32_t n, got;
    size_t bytes;               /* answers' bytes so far, bounded by outbound.max_response_bytes */
    enum outbound_result early; /* OUT_OK, or why it ends when its 0 s timer fires */
    char detail[320];
    double started;
    ev_timer timer;
    struct request *held;       /* the requests until they are sent (held while connecting) */
    struct answer answers[];
};

static struct call *oldest, *newest;
static uint64_t next_token = 1;
static int shutting_down, registered;
static uint32_t losses;         /* connections lost (or attempts failed), for lh_nats_losses */

struct outcome {
    enum outbound_result result;
    const struct call *k;
};

/* The answers as a table: the payload for an answer, the status (a number) for a status
 * without one (503: nobody listens on that subject). */
static int push_outcome(lua_State *L, void *ctx)
{
    const struct outcome *o = ctx;
    if (o->result != OUT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, metrics_outbound_results[o->result]);
        lua_pushstring(L, o->k->detail);
        return 3;
    }
    lua_createtable(L, (int)o->k->n, 0);
    for (uint32_t i = 0; i < o->k->n; i++) {
        const struct answer *a = &o->k->answers[i];
        if (a->status) lua_pushinteger(L, a->status);
        else lua_pushlstring(L, a->data ? a->data : "", a->len);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static void unlink_call(struct call *k)
{
    if (!k->listed) return;
    k->listed = 0;
    if (k->prev) k->prev->next = k->next;
    else oldest = k->next;
    if (k->next) k->next->prev = k->prev;
    else newest = k->prev;
    k->prev = k->next = NULL;
}

/* Wakes the task with the call's outcome and frees the call. */
static void end_call(struct call *k, enum outbound_result result)
{
    ev_timer_stop(EV_DEFAULT, &k->timer);
    unlink_call(k);
    metrics.outbound_in_flight[OUTBOUND_NATS]--;
    metrics.outbound_calls[OUTBOUND_NATS][result]++;
    histogram_observe(&metrics.outbound_seconds[OUTBOUND_NATS], metrics_clock() - k->started);
    struct outcome o = { result, k };
    task_wake(k->wait, push_outcome, &o);
    for (uint32_t i = 0; i < k->n; i++) free(k->answers[i].data);
    free(k->held);
    free(k);
}

static void fail_soon(struct call *k, enum outbound_result result)
{
    k->early = result;
    ev_timer_stop(EV_DEFAULT, &k->timer);
    ev_timer_set(&k->timer, 0, 0);
    ev_timer_start(EV_DEFAULT, &k->timer);
}

static void call_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct call *k = w->data;
    if (!k->early) {
        if (k->held)
            snprintf(k->detail, sizeof k->detail, "NATS: not connected within %.3gs: %s",
                     metrics_clock() - k->started, cluster_down_cause());
        else
            snprintf(k->detail, sizeof k->detail, "NATS: %u of %u answers within %.3gs", k->got, k->n,
                     metrics_clock() - k->started);
        k->early = k->held ? OUT_CONNECT : OUT_TIMEOUT;   /* an answer that comes later is dropped */
    }
    end_call(k, k->early);
}

/* Writes the call's requests and drops its copy of them; on failure it ends from the loop. */
static void send_call(struct call *k)
{
    struct request *r = k->held;
    k->held = NULL;
    for (uint32_t i = 0; i < k->n; i++) {
        if (cluster_request(r[i].subject, r[i].slen, (const uint8_t *)r[i].data, r[i].len, k->first + i) == 0)
            continue;
        if (cluster_status() && strcmp(cluster_status(), "ok") == 0) {
            snprintf(k->detail, sizeof k->detail, "NATS: request %.*s of %zu bytes not sent (over the "
                     "server's max_payload, or 64 MiB wait unsent)", (int)(r[i].slen < 200 ? r[i].slen : 200),
                     r[i].subject, r[i].len);
            fail_soon(k, OUT_BUSY);
        } else {
            snprintf(k->detail, sizeof k->detail, "NATS: not connected: %s",
                     cluster_status() ? cluster_down_cause() : "no cluster");
            fail_soon(k, OUT_CONNECT);
        }
        break;
    }
    free(r);
}

/* A copy of the requests, so a call can wait for the connection (and the caller's
 * vectors are free when lh_nats_request returns). */
static int hold(struct call *k, const char **subjects, const size_t *slens, const char **data,
                const size_t *lens)
{
    size_t bytes = k->n * sizeof *k->held;
    for (uint32_t i = 0; i < k->n; i++) bytes += slens[i] + lens[i];
    if (!(k->held = malloc(bytes))) return -1;
    char *p = (char *)(k->held + k->n);
    for (uint32_t i = 0; i < k->n; i++) {
        k->held[i] = (struct request){ p, p + slens[i], slens[i], lens[i] };
        memcpy(p, subjects[i], slens[i]);
        memcpy(p + slens[i], data[i], lens[i]);
        p += slens[i] + lens[i];
    }
    return 0;
}

static void on_reply(uint64_t token, int status, const uint8_t *data, size_t len)
{
    struct call *k = oldest;
    while (k && !(token >= k->first && token - k->first < k->n)) k = k->next;
    if (!k || k->early || k->held) return;
    struct answer *a = &k->answers[token - k->first];
    if (a->data || a->status) return;   /* a second answer to one request: the first counts */
    if (k->bytes + len > config.outbound_max_response_bytes) {
        snprintf(k->detail, sizeof k->detail, "NATS: answers of more than %llu bytes "
                 "(outbound.max_response_bytes)", (unsigned long long)config.outbound_max_response_bytes);
        end_call(k, OUT_TOO_LARGE);
        return;
    }
    if (status && len == 0) {
        a->status = status;
    } else if (!(a->data = malloc(len ? len : 1))) {
        snprintf(k->detail, sizeof k->detail, "NATS: out of memory for an answer of %zu bytes", len);
        end_call(k, OUT_FAILED);
        return;
    } else {
        memcpy(a->data, data, len);
        a->len = len;
    }
    k->bytes += len;
    if (++k->got == k->n) end_call(k, OUT_OK);
}

/* Held calls are sent, in the order they were made. */
static void on_up(void)
{
    for (struct call *k = oldest; k; k = k->next)
        if (k->held && !k->early) send_call(k);
}

/* The connection was lost, or an attempt failed: every call ends, those in flight with
 * `closed` (their answers will not come on a new connection), the held ones with
 * `connect`. */
static void on_lost(const char *why)
{
    struct call *k = oldest;
    losses++;
    oldest = newest = NULL;   /* calls a woken task makes now are not this loss's */
    for (struct call *c = k; c; c = c->next) c->listed = 0;
    while (k) {
        struct call *next = k->next;
        if (!k->early && k->held && !shutting_down) {
            snprintf(k->detail, sizeof k->detail, "NATS: not connected: %s", why);
            k->early = OUT_CONNECT;
        } else if (!k->early) {
            snprintf(k->detail, sizeof k->detail, "NATS connection lost with the request in flight: %s", why);
            k->early = OUT_CLOSED;
        }
        end_call(k, k->early);
        k = next;
    }
}

static const struct cluster_reply_handler handler = { on_reply, on_lost, on_up };

static void registered_once(void)
{
    if (registered) return;
    cluster_set_reply_handler(&handler);
    registered = 1;
}

/* A subject travels in a protocol line: no blanks or line ends in it. */
static int valid_subject(const char *s, size_t len)
{
    if (len == 0 || len > 1024) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == 0) return 0;
    return 1;
}

int lh_nats_request(uint32_t n, const char **subjects, const size_t *slens, const char **data,
                    const size_t *lens, double timeout)
{
    if (shutting_down) return LH_ERR_CLOSED;
    if (n == 0 || n > BATCH_MAX) return LH_ERR_BAD_ARG;
    for (uint32_t i = 0; i < n; i++)
        if (!valid_subject(subjects[i], slens[i])) return LH_ERR_BAD_ARG;
    registered_once();
    /* Everything that can fail for want of memory comes before the wait id, which must
     * then end exactly once. */
    struct call *k = calloc(1, sizeof *k + n * sizeof *k->answers);
    if (k) k->n = n;
    uint32_t wait = k && hold(k, subjects, slens, data, lens) == 0 ? task_wait_new() : 0;
    if (!wait) {
        if (k) free(k->held);
        free(k);
        return LH_ERR_NOMEM;
    }
    k->wait = wait;
    k->first = next_token;
    next_token += n;
    k->started = metrics_clock();
    ev_timer_init(&k->timer, call_timer_cb, timeout > 0 ? timeout : config.outbound_timeout, 0);
    k->timer.data = k;
    ev_timer_start(EV_DEFAULT, &k->timer);
    k->prev = newest;
    if (newest) newest->next = k;
    else oldest = k;
    newest = k;
    k->listed = 1;
    int64_t in_flight = metrics.outbound_in_flight[OUTBOUND_HTTP] + metrics.outbound_in_flight[OUTBOUND_REDIS] +
                        metrics.outbound_in_flight[OUTBOUND_NATS];
    metrics.outbound_in_flight[OUTBOUND_NATS]++;
    if (in_flight >= (int64_t)config.outbound_max_in_flight) {
        snprintf(k->detail, sizeof k->detail, "NATS: %lld outbound calls in flight (outbound.max_in_flight)",
                 (long long)in_flight);
        fail_soon(k, OUT_BUSY);
    } else if (!cluster_connecting()) {
        send_call(k);
    }
    return (int)wait;
}

uint32_t lh_nats_losses(void)
{
    registered_once();   /* a loss is only seen once the handler is set */
    return losses;
}

void outbound_nats_shutdown(void)
{
    shutting_down = 1;
    on_lost("shutting down");
}
