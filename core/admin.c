#include "admin.h"

#include <ev.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cluster.h"
#include "config.h"
#include "fanout_batch.h"
#include "frame.h"
#include "hub.h"
#include "log.h"
#include "metrics.h"
#include "room.h"
#include "server.h"
#include "textbuf.h"
#include "utf8.h"

/* ------------------------------------------------------------------ tickets */

/* Outstanding tickets: a page takes one per connect, so a few suffice; issuing past them
 * replaces the oldest. */
#define TICKETS 16

static struct ticket {
    char hex[64];
    ev_tstamp expires;           /* 0: free */
} tickets[TICKETS];

int admin_ticket_issue(char out[65])
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) return -1;
    for (int i = 0; i < 32; i++) {
        static const char digits[] = "0123456789abcdef";
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[64] = 0;
    struct ticket *slot = &tickets[0];
    for (int i = 1; i < TICKETS; i++)
        if (tickets[i].expires < slot->expires) slot = &tickets[i];
    memcpy(slot->hex, out, 64);
    slot->expires = ev_now(EV_DEFAULT) + ADMIN_TICKET_SECONDS;
    return 0;
}

/* The value of ADMIN_TICKET_PARAM in a request target's query, or NULL. */
static const char *ticket_in(const char *target, size_t len, size_t *vlen)
{
    static const char name[] = ADMIN_TICKET_PARAM "=";
    const char *q = memchr(target, '?', len);
    if (!q) return NULL;
    len -= (size_t)(++q - target);
    size_t nl = sizeof name - 1;
    for (size_t i = 0; i + nl <= len; i++) {
        if ((i == 0 || q[i - 1] == '&') && memcmp(q + i, name, nl) == 0) {
            const char *v = q + i + nl;
            const char *end = memchr(v, '&', len - i - nl);
            *vlen = end ? (size_t)(end - v) : len - i - nl;
            return v;
        }
    }
    return NULL;
}

int admin_ticket_check(const char *target, size_t len)
{
    size_t vlen;
    const char *v = ticket_in(target, len, &vlen);
    if (!v) return 0;
    if (vlen != 64) return -1;
    ev_tstamp now = ev_now(EV_DEFAULT);
    int found = -1;
    /* every slot compared in constant time, so timing tells nothing of a near miss */
    for (int i = 0; i < TICKETS; i++)
        if (tickets[i].expires > now && CRYPTO_memcmp(tickets[i].hex, v, 64) == 0) found = i;
    if (found < 0) return -1;
    tickets[found].expires = 0;
    return 1;
}

/* ------------------------------------------------------------------ the feed */

/* Rooms named in one snapshot: the largest; room_count says how many there are. */
#define FEED_ROOMS 100
/* Snapshots an admin socket may leave unread before the next are skipped (a minute's). */
#define FEED_BACKLOG 60

static struct client **sockets;
static size_t nsockets, cap_sockets;
static ev_timer tick;

struct room_size {
    const char *name;
    size_t len;
    uint32_t members;
};

static int by_members(const void *a, const void *b)
{
    const struct room_size *x = a, *y = b;
    return x->members < y->members ? 1 : x->members > y->members ? -1 : 0;
}

/* The largest rooms, "[[name, members], ...]"; names that are not UTF-8 are left out
 * (a text frame must carry UTF-8). */
static void rooms(struct textbuf *t)
{
    struct room_size *all = malloc((room_index.count + 1) * sizeof *all);
    size_t n = 0;
    for (uint32_t b = 0; all && b < room_index.nbuckets; b++)
        for (const struct group *g = room_index.buckets[b]; g; g = g->next)
            if (utf8_valid((const uint8_t *)g->name, g->name_len))
                all[n++] = (struct room_size){ g->name, g->name_len, g->count };
    if (all) qsort(all, n, sizeof *all, by_members);
    textbuf_printf(t, "[");
    for (size_t i = 0; i < n && i < FEED_ROOMS; i++) {
        textbuf_printf(t, "%s[", i ? "," : "");
        textbuf_json_string(t, all[i].name, all[i].len);
        textbuf_printf(t, ",%u]", all[i].members);
    }
    textbuf_printf(t, "]");
    free(all);
}

static void nodes(struct textbuf *t)
{
    const char *sep = "";
    textbuf_printf(t, "[");
    for (int i = 0; i < cluster_nodes(); i++) {
        size_t len;
        double clients, nrooms, age;
        const char *id = cluster_node(i, &len, &clients, &nrooms, &age);
        if (!id || !utf8_valid((const uint8_t *)id, len)) continue;
        textbuf_printf(t, "%s{\"id\":", sep);
        sep = ",";
        textbuf_json_string(t, id, len);
        textbuf_printf(t, ",\"clients\":%.0f,\"rooms\":%.0f,\"age\":%.3f,\"self\":%s}", clients,
                       nrooms, age, i == 0 ? "true" : "false");
    }
    textbuf_printf(t, "]");
}

static uint64_t sum(const uint64_t *v, int n)
{
    uint64_t s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s;
}

/* Counters are totals since start: the page turns them into rates, so a snapshot it
 * missed costs it nothing. */
static void snapshot(struct textbuf *t)
{
    batch_settle();   /* the queue gauges count held broadcasts once they are queued */
    const char *cluster = cluster_status();
    textbuf_printf(t, "{\"time\":%.3f,\"uptime\":%.3f,\"state\":\"%s\",\"cluster\":\"%s\",\"ws_path\":",
                   ev_now(EV_DEFAULT), server_uptime(), hub_draining() ? "draining" : "running",
                   cluster ? cluster : "none");
    textbuf_json_string(t, config.ws_path, strlen(config.ws_path));
    textbuf_printf(t, ",\"clients\":%u,\"connections_total\":%llu,\"refused\":%llu,"
                   "\"received\":%llu,\"sent\":%llu,\"dropped\":%llu,"
                   "\"bytes_received\":%llu,\"bytes_sent\":%llu,"
                   "\"queue_frames\":%lld,\"queue_bytes\":%lld,"
                   "\"reloads_ok\":%llu,\"reloads_failed\":%llu,\"errors\":{",
                   hub_count(), (unsigned long long)metrics.connections_total,
                   (unsigned long long)sum(metrics.refused, REFUSE__COUNT),
                   (unsigned long long)sum(metrics.messages_received, 2),
                   (unsigned long long)metrics.messages_sent,
                   (unsigned long long)sum(metrics.dropped, DROP__COUNT),
                   (unsigned long long)metrics.bytes_received, (unsigned long long)metrics.bytes_sent,
                   (long long)metrics.queued_frames, (long long)metrics.queued_bytes,
                   (unsigned long long)metrics.reloads_ok, (unsigned long long)metrics.reloads_failed);
    for (int i = 0; i < ERR__COUNT; i++)
        textbuf_printf(t, "%s\"%s\":%llu", i ? "," : "", metrics_error_names[i],
                       (unsigned long long)metrics.errors[i]);
    textbuf_printf(t, "},\"room_count\":%u,\"rooms\":", room_index.count);
    rooms(t);
    textbuf_printf(t, ",\"nodes\":");
    nodes(t);
    textbuf_printf(t, "}");
}

/* One snapshot to every admin socket (or only to one, just opened). Queued directly, not
 * through the hub's send path: it is no client message, so the message counters and the
 * send-queue policy stay the clients'. */
static void push(struct client *only)
{
    struct textbuf t;
    textbuf_init(&t, 4096);
    snapshot(&t);
    struct frame *f = t.failed ? NULL : frame_ws(WS_TEXT, t.buf, t.len);
    textbuf_free(&t);
    if (!f) {
        log_warn(0, "admin feed: out of memory building a snapshot");
        return;
    }
    for (size_t i = 0; i < nsockets; i++) {
        struct conn *c = &sockets[i]->conn;
        if ((only && sockets[i] != only) || c->q.msgs >= FEED_BACKLOG) continue;
        conn_queue(c, f);
    }
    frame_unref(f);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents) { push(NULL); }

void admin_open(struct client *cl)
{
    if (nsockets == cap_sockets) {
        size_t cap = cap_sockets ? cap_sockets * 2 : 4;
        struct client **grown = realloc(sockets, cap * sizeof *grown);
        if (!grown) {
            log_error(cl->conn.id, "out of memory adding an admin socket");
            conn_kill(&cl->conn, 1011);
            return;
        }
        sockets = grown;
        cap_sockets = cap;
    }
    sockets[nsockets++] = cl;
    log_info(cl->conn.id, "admin page connected");
    if (nsockets == 1) {
        ev_timer_init(&tick, tick_cb, 1.0, 1.0);
        ev_timer_start(EV_DEFAULT, &tick);
    }
    push(cl);   /* the page shows numbers at once, not a second later */
}

void admin_close(struct client *cl)
{
    for (size_t i = 0; i < nsockets; i++) {
        if (sockets[i] != cl) continue;
        sockets[i] = sockets[--nsockets];
        if (nsockets == 0) ev_timer_stop(EV_DEFAULT, &tick);
        return;
    }
}
