/* fanout_batch_test — a pass's broadcasts held back by core/fanout_batch.c and queued
 * recipient by recipient must reach every client exactly as if each had been queued to
 * every member at once. Real connections over socketpairs, the hub as app.c wires it, a
 * stub script recording the dropped hook; several hub_deliver calls between two passes
 * are one pass's broadcasts.
 *
 *   - order: broadcasts, then a direct send, a close, an except list, a join, a leave:
 *     each client reads exactly what it was a member for, in the order it was sent;
 *   - counts: each broadcast returns its recipients, messages_sent counts them, the
 *     queue gauges come back to zero once written;
 *   - bounds: a stalled client under send_queue.messages never holds more than the bound,
 *     drop_newest keeps the first messages and drop_oldest the last, the dropped hook is
 *     called once per message the client did not get, with that message;
 *   - a round split over passes: a pass writes its share of the clients, oldest first, and
 *     a broadcast made in between joins the writes of the clients not yet reached; clients
 *     hung up, closed or killed before their turn; a share wider than an io_uring batch. */
#include "hub.h"

#include <stdlib.h>
#include <sys/resource.h>

#include "check.h"
#include "config.h"
#include "metrics.h"
#include "room.h"
#include "test_client.h"

#define MAX_DROPS 256

static struct {
    int drops;
    uint64_t drop_id[MAX_DROPS];
    int drop_seq[MAX_DROPS];     /* the number in the dropped message */
} seen;

static int script_open(struct client *cl) { return 0; }
static int script_message(struct client *cl, int opcode, const uint8_t *data, size_t len, int limited) { return 0; }
static int script_close(struct client *cl, int code, const char *reason) { return 0; }
static void script_admit(struct client *cl, const struct http_req *r, struct admission *a) {}

static void script_dropped(uint64_t id, const uint8_t *data, size_t len, int binary)
{
    if (seen.drops < MAX_DROPS) {
        seen.drop_id[seen.drops] = id;
        seen.drop_seq[seen.drops] = len > 1 ? atoi((const char *)data + 1) : -1;
    }
    seen.drops++;
}

static const struct hub_script_events stub_script = {
    .admit = script_admit, .open = script_open, .message = script_message,
    .close = script_close, .dropped = script_dropped,
};

static struct frame *no_http(struct conn *c, const struct http_req *r) { return NULL; }

static const struct transport_events hub_events = {
    .admit = hub_on_admit, .open = hub_on_open, .message = hub_on_message,
    .close = hub_on_close, .http = no_http, .release = hub_on_release,
};

/* Message n: "m<n>" padded with '.' to size bytes (size >= 8). */
static size_t message(char *buf, int n, size_t size)
{
    int k = snprintf(buf, size, "m%d", n);
    memset(buf + k, '.', size - (size_t)k);
    return size;
}

static int deliver(enum hub_target to, const char *room, int n, size_t size, const uint64_t *except,
                   size_t nexcept)
{
    char buf[2048];
    message(buf, n, size);
    return hub_deliver(to, room, room ? strlen(room) : 0, buf, size, 0, except, nexcept);
}

/* The numbers of the text frames in buf[0..got) into seq; how many, or -1 on bytes that
 * are not such frames. A close frame ends them (*closed set, if given). */
static int frames(const uint8_t *buf, size_t got, int *seq, int cap, int *closed)
{
    int n = 0;
    size_t at = 0;
    while (at < got) {
        if (closed && got - at >= 2 && buf[at] == 0x88) {
            *closed = 1;
            break;
        }
        if (got - at < 2 || buf[at] != 0x81) return -1;
        size_t len = buf[at + 1] & 0x7f, hl = 2;
        if (len == 126) {
            if (got - at < 4) return -1;
            len = (size_t)buf[at + 2] << 8 | buf[at + 3];
            hl = 4;
        }
        if (got - at < hl + len || len < 2 || buf[at + hl] != 'm') return -1;
        if (n < cap) seq[n] = atoi((const char *)buf + at + hl + 1);
        n++;
        at += hl + len;
    }
    return n;
}

/* Reads every text frame the server writes (running passes until it is idle) and puts
 * their numbers in seq; returns how many, or -1 on bytes that are not such frames. A
 * close frame ends the reading (*closed set, if given). */
static int received_until_close(struct test_client *cl, int *seq, int cap, int *closed)
{
    static uint8_t buf[1 << 20];
    size_t got = 0;
    for (int idle = 0; idle < 5 && got < sizeof buf; idle++) {
        size_t k = test_client_read_now(cl, buf + got, sizeof buf - got);
        if (k) idle = 0;
        got += k;
        test_pass();
    }
    return frames(buf, got, seq, cap, closed);
}

static int received(struct test_client *cl, int *seq, int cap)
{
    return received_until_close(cl, seq, cap, NULL);
}

/* 1 when cl reads exactly the messages numbered in want (terminated by 0). */
static int reads(struct test_client *cl, const int *want)
{
    int seq[64], n = received(cl, seq, 64), k = 0;
    while (want[k]) k++;
    int ok = n == k;
    for (int i = 0; ok && i < k; i++) ok = seq[i] == want[i];
    if (!ok) {
        printf("# read %d messages:", n);
        for (int i = 0; i < n && i < 64; i++) printf(" %d", seq[i]);
        printf("; wanted %d\n", k);
    }
    return ok;
}

/* "d" plus a number, sent to one client directly. */
static int send_direct(struct test_client *cl, int n)
{
    char buf[16];
    size_t len = message(buf, n, 8);
    return hub_send(cl->id, buf, len, 0);
}

static void test_order(void)
{
    struct test_client a, b, c;
    CHECK(test_client_open_ws(&a, 0) && test_client_open_ws(&b, 0) && test_client_open_ws(&c, 0),
          "order: three clients");
    uint64_t sent = metrics.messages_sent;
    int r1 = deliver(HUB_ALL, NULL, 1, 8, NULL, 0);
    int r2 = deliver(HUB_ALL, NULL, 2, 8, NULL, 0);
    int r3 = deliver(HUB_ALL, NULL, 3, 8, NULL, 0);
    CHECK(r1 == 3 && r2 == 3 && r3 == 3, "each broadcast of the pass counts three recipients (%d %d %d)", r1, r2, r3);
    CHECK(metrics.messages_sent - sent == 9, "messages_sent counts nine");
    CHECK(a.conn->q.msgs == 0 && c.conn->q.msgs == 0,
          "all three are held for the run: every member could take them, so no queue is touched yet");
    CHECK(send_direct(&b, 4) == LH_OK, "a direct send to b between broadcasts");
    deliver(HUB_ALL, NULL, 5, 8, NULL, 0);
    uint64_t except_a = a.id;
    CHECK(deliver(HUB_ALL, NULL, 6, 8, &except_a, 1) == 2, "a broadcast except a: two recipients");
    deliver(HUB_ALL, NULL, 7, 8, NULL, 0);
    CHECK(hub_close(c.id, 1000, NULL, 0) == LH_OK, "c is closed between broadcasts");
    CHECK(deliver(HUB_ALL, NULL, 8, 8, NULL, 0) == 2, "the next broadcast: two recipients");
    deliver(HUB_ALL, NULL, 9, 8, NULL, 0);
    batch_settle();
    CHECK(a.conn->q.count == 5 && a.conn->q.msgs == 7,
          "a's queue: 1 to 3 combined (the direct send ended the run), then a frame each: 5 held "
          "alone (the except list ended its run), 7 (the close ended it), and a closing member (c) "
          "takes no broadcast, so no run opens while it is in the group");
    test_pass();
    CHECK(reads(&a, (int[]){ 1, 2, 3, 5, 7, 8, 9, 0 }), "a: every broadcast but the excepted one, in order");
    CHECK(reads(&b, (int[]){ 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 }), "b: the direct send where it was made");
    int seq[16], closed = 0;
    int n = received_until_close(&c, seq, 16, &closed);
    int want[] = { 1, 2, 3, 5, 6, 7 }, ok = n == 6 && closed;
    for (int i = 0; ok && i < 6; i++) ok = seq[i] == want[i];
    CHECK(ok, "c: what was broadcast before its close, then the close frame (%d frames)", n);
    CHECK(metrics.queued_frames == 0 && metrics.queued_bytes == 0, "every queue written: gauges at zero");
    test_client_hang_up(&a);
    test_client_hang_up(&b);
    test_client_hang_up(&c);
}

static void test_membership(void)
{
    struct test_client a, b, c;
    CHECK(test_client_open_ws(&a, 0) && test_client_open_ws(&b, 0) && test_client_open_ws(&c, 0),
          "rooms: three clients");
    struct client *ca = client_of(a.conn), *cb = client_of(b.conn), *cc = client_of(c.conn);
    CHECK(room_join(ca, "r", 1) == LH_OK && room_join(cb, "r", 1) == LH_OK, "a and b join r");
    CHECK(deliver(HUB_ROOM, "r", 1, 8, NULL, 0) == 2 && deliver(HUB_ROOM, "r", 2, 8, NULL, 0) == 2,
          "two messages to r: two recipients each");
    CHECK(room_join(cc, "r", 1) == LH_OK, "c joins between broadcasts");
    CHECK(deliver(HUB_ROOM, "r", 3, 8, NULL, 0) == 3, "the next reaches three");
    deliver(HUB_ROOM, "r", 4, 8, NULL, 0);
    CHECK(room_leave(cb, "r", 1) == LH_OK, "b leaves between broadcasts");
    CHECK(deliver(HUB_ROOM, "r", 5, 8, NULL, 0) == 2, "the next reaches two");
    deliver(HUB_ALL, NULL, 6, 8, NULL, 0);           /* another group in the same pass */
    deliver(HUB_ROOM, "r", 7, 8, NULL, 0);
    test_pass();
    CHECK(reads(&a, (int[]){ 1, 2, 3, 4, 5, 6, 7, 0 }), "a: all of it, in order");
    CHECK(reads(&b, (int[]){ 1, 2, 3, 4, 6, 0 }), "b: r's messages up to its leave, then the broadcast");
    CHECK(reads(&c, (int[]){ 3, 4, 5, 6, 7, 0 }), "c: r's messages from its join on");
    test_client_hang_up(&a);
    test_client_hang_up(&b);
    test_client_hang_up(&c);
}

/* A client that reads nothing (its socket small) and one that reads: m messages of
 * 1000 bytes in one pass under send_queue.messages = 8, the held ones queued every 5th
 * message (combined frames of up to 4, written in part and taken apart by drops). */
static void test_bounds(enum sendq_policy policy, const char *name)
{
    struct test_client slow, fast;
    config.sendq_messages = 8;
    config.sendq_policy = policy;
    CHECK(test_client_open_ws(&slow, 4096) && test_client_open_ws(&fast, 0), "%s: two clients", name);
    int drops = seen.drops;
    uint64_t counted = metrics.dropped[policy];
    int m = 40, max_count = 0, total = 0;
    for (int i = 1; i <= m; i++) {
        total += deliver(HUB_ALL, NULL, i, 1000, NULL, 0);
        /* what the slow client's queue holds, with what is held for it */
        if (i % 5 == 0) {
            batch_settle();
            if (slow.conn->q.msgs > (uint32_t)max_count) max_count = (int)slow.conn->q.msgs;
        }
    }
    test_pass();
    hub_fire_dropped();
    int seq[64];
    int nf = received(&fast, seq, 64);
    CHECK(nf == m, "%s: the reading client gets all %d (%d)", name, m, nf);
    int ns = received(&slow, seq, 64);
    int hooks = seen.drops - drops;
    CHECK(max_count == 8, "%s: the slow queue fills up to 8 messages, never more (%d)", name, max_count);
    CHECK(ns > 0 && ns < m && ns + hooks == m, "%s: the slow client gets %d, the hook reports %d of %d", name,
          ns, hooks, m);
    CHECK(metrics.dropped[policy] - counted == (uint64_t)hooks, "%s: each drop counted once", name);
    if (policy == SENDQ_DROP_NEWEST)
        CHECK(total == 2 * m - hooks, "%s: the broadcasts counted every recipient that took them (%d)", name, total);
    /* the received and the dropped are the m messages, each once; what drop_newest keeps
     * is a prefix, what drop_oldest keeps ends with the last ones */
    int have[64] = { 0 }, ok = 1;
    for (int i = 0; i < ns; i++) have[seq[i]]++;
    for (int i = drops; i < seen.drops && i - drops < MAX_DROPS; i++) {
        ok = ok && seen.drop_id[i] == slow.id;
        have[seen.drop_seq[i]]++;
    }
    for (int i = 1; i <= m; i++) ok = ok && have[i] == 1;
    for (int i = 1; i < ns; i++) ok = ok && seq[i] > seq[i - 1];
    CHECK(ok, "%s: each message either read once or reported dropped once, for the slow client", name);
    if (policy == SENDQ_DROP_NEWEST) CHECK(seq[ns - 1] == ns, "%s: the first %d are the ones read", name, ns);
    if (policy == SENDQ_DROP_OLDEST) CHECK(seq[ns - 1] == m, "%s: the last message is read", name);
    CHECK(metrics.queued_frames == 0 && metrics.queued_bytes == 0, "%s: gauges at zero", name);
    test_client_hang_up(&slow);
    test_client_hang_up(&fast);
    config.sendq_messages = 0;
}

/* A reload between two handler calls of a pass may change the bounds: the room a run
 * was opened with no longer holds. */
static void test_bounds_change(void)
{
    struct test_client a;
    config.sendq_messages = 0;
    CHECK(test_client_open_ws(&a, 0), "bounds change: a client");
    deliver(HUB_ALL, NULL, 1, 8, NULL, 0);
    deliver(HUB_ALL, NULL, 2, 8, NULL, 0);
    CHECK(a.conn->q.msgs == 0, "no bound: both are held");
    config.sendq_messages = 2;
    config.sendq_policy = SENDQ_DROP_NEWEST;
    deliver(HUB_ALL, NULL, 3, 8, NULL, 0);
    uint8_t buf[64];
    size_t early = test_client_read_now(&a, buf, sizeof buf);
    CHECK(early == 20 && a.conn->q.msgs == 1,
          "send_queue.messages set to 2: the run ends, and the full queue (1 and 2) is written before "
          "the policy applies, within the pass (%zu bytes)", early);
    test_pass();
    CHECK(reads(&a, (int[]){ 3, 0 }), "then 3");
    test_client_hang_up(&a);
    config.sendq_messages = 0;
}

/* A ping read while a run's combined frame is partly written: the pong goes out at the
 * next message boundary inside it, not after the whole run (a slow reader's keepalive
 * must not wait behind up to 1 MiB of broadcasts). */
static void test_pong_inside_run(void)
{
    struct test_client a;
    CHECK(test_client_open_ws(&a, 4096), "pong: a client whose socket takes little at a time");
    for (int i = 1; i <= 40; i++) deliver(HUB_ALL, NULL, i, 1000, NULL, 0);
    test_pass();
    CHECK(a.conn->q.count == 1 && a.conn->q.head_off > 0 && a.conn->q.msgs > 30,
          "the run's 40 messages are one combined frame, partly written (%u bytes)", a.conn->q.head_off);
    static const uint8_t ping[] = { 0x89, 0x81, 0, 0, 0, 0, 'p' };   /* masked with zeros */
    CHECK(test_client_send(&a, ping, sizeof ping) == 0, "pong: the client pings");
    static uint8_t buf[64 * 1024];
    size_t got = 0;
    for (int idle = 0; idle < 5 && got < sizeof buf; idle++) {
        size_t k = test_client_read_now(&a, buf + got, sizeof buf - got);
        if (k) idle = 0;
        got += k;
        test_pass();
    }
    int texts = 0, pong_after = -1, ok = 1;
    for (size_t at = 0; ok && at < got;) {
        size_t len = buf[at + 1] & 0x7f, hl = 2;
        if (len == 126) len = (size_t)buf[at + 2] << 8 | buf[at + 3], hl = 4;
        if (buf[at] == 0x81 && len == 1000 && atoi((const char *)buf + at + hl + 1) == texts + 1)
            texts++;
        else if (buf[at] == 0x8a && len == 1 && buf[at + hl] == 'p' && pong_after < 0)
            pong_after = texts;
        else
            ok = 0;
        at += hl + len;
    }
    CHECK(ok && texts == 40, "pong: all 40 messages arrive whole and in order, with one pong (%d)", texts);
    CHECK(pong_after > 0 && pong_after < 40,
          "the pong comes between two messages of the run (after %d of 40), not after it", pong_after);
    test_client_hang_up(&a);
}

/* A client the server drops after the flush wrote to it: its socket must really close
 * (the ring's table of registered sockets holds the file until told to forget it). */
static void test_kill_closes_socket(void)
{
    struct test_client a;
    CHECK(test_client_open_ws(&a, 0), "kill: a client");
    deliver(HUB_ALL, NULL, 1, 8, NULL, 0);
    test_pass();
    CHECK(reads(&a, (int[]){ 1, 0 }), "kill: the broadcast arrives");
    conn_kill(a.conn, 1006);
    test_pass();
    CHECK(test_client_expect_eof(&a), "kill: the client's socket is closed, not kept open by the ring");
    test_client_hang_up(&a);
}

/* Opens and upgrades n clients: how many it could. */
static int open_clients(struct test_client *cl, int n)
{
    int opened = 0;
    while (opened < n && test_client_open_ws(&cl[opened], 0)) opened++;
    return opened;
}

/* A pass writes a share of the clients (conn_flush_share), oldest dirty first. A
 * broadcast made between two passes reaches the clients not yet written in the same
 * write as the one before it, and the clients already written at the end of the round:
 * each gets one write per round. */
#define SPLIT_CLIENTS 400
#define SPLIT_PASSES 8

static void test_round_split(void)
{
    static struct test_client cl[SPLIT_CLIENTS];
    static int pass_of[SPLIT_CLIENTS][2];   /* the pass that brought message 1, 2 (0: none) */
    int opened = open_clients(cl, SPLIT_CLIENTS);
    CHECK(opened == SPLIT_CLIENTS, "split: %d clients open (%d)", SPLIT_CLIENTS, opened);
    unsigned share = conn_flush_share();
    CHECK(share == SPLIT_CLIENTS / FLUSH_PARTS, "split: a pass writes a quarter of them (%u)", share);
    memset(pass_of, 0, sizeof pass_of);
    int bad = 0;
    deliver(HUB_ALL, NULL, 1, 8, NULL, 0);
    for (int pass = 1; pass <= SPLIT_PASSES; pass++) {
        test_pass();
        if (pass == 1) deliver(HUB_ALL, NULL, 2, 8, NULL, 0);
        for (int i = 0; i < opened; i++) {
            uint8_t buf[64];
            int seq[4];
            int n = frames(buf, test_client_read_now(&cl[i], buf, sizeof buf), seq, 4, NULL);
            for (int k = 0; k < n && k < 4; k++)
                if (seq[k] == 1 || seq[k] == 2) pass_of[i][seq[k] - 1] = pass;
            if (n < 0) bad++;
        }
    }
    int per_pass[SPLIT_PASSES + 1] = { 0 }, together = 0, at_round_end = 0;
    for (int i = 0; i < opened; i++) {
        per_pass[pass_of[i][0]]++;
        if (pass_of[i][0] > 1 && pass_of[i][1] == pass_of[i][0]) together++;
        if (pass_of[i][0] == 1 && pass_of[i][1] == FLUSH_PARTS + 1) at_round_end++;
    }
    CHECK(bad == 0, "split: every client read whole text frames");
    int q = (int)share;
    CHECK(per_pass[1] == q && per_pass[2] == q && per_pass[3] == q && per_pass[4] == q &&
              per_pass[0] == 0,
          "split: message 1 reached %d clients in each of the first four passes "
          "(%d %d %d %d, %d never)", q, per_pass[1], per_pass[2], per_pass[3], per_pass[4], per_pass[0]);
    CHECK(together == opened - q,
          "split: the clients not written by the first pass got message 2 with message 1 (%d)",
          together);
    CHECK(at_round_end == q,
          "split: the clients written first got message 2 in the fifth pass, after the rest of "
          "the round (%d)", at_round_end);
    for (int i = 0; i < opened; i++) test_client_hang_up(&cl[i]);
}

/* Reads what each client has now, appending to got[i] (at most cap bytes each). */
static void read_each(struct test_client *cl, int n, uint8_t *bufs, size_t cap, size_t *got)
{
    for (int i = 0; i < n; i++)
        if (cl[i].fd >= 0 && got[i] < cap)
            got[i] += test_client_read_now(&cl[i], bufs + (size_t)i * cap + got[i], cap - got[i]);
}

/* Passes until no client is left dirty; how many, or -1 after max. */
static int passes_until_written(int max)
{
    for (int pass = 1; pass <= max; pass++)
        if (!test_pass()) return pass;
    return -1;
}

/* Clients going away in the middle of a round, before their turn: hung up, closed,
 * killed. The round still ends, each client left gets each message once and in order,
 * a closed one what came before its close, and the ones gone are freed. */
#define CHURN_CLIENTS 300
#define CHURN_CAP 64

static void test_round_split_churn(void)
{
    static struct test_client cl[CHURN_CLIENTS];
    static uint8_t bufs[CHURN_CLIENTS][CHURN_CAP];
    static size_t got[CHURN_CLIENTS];
    int opened = open_clients(cl, CHURN_CLIENTS);
    CHECK(opened == CHURN_CLIENTS, "churn: %d clients open (%d)", CHURN_CLIENTS, opened);
    memset(got, 0, sizeof got);
    deliver(HUB_ALL, NULL, 1, 8, NULL, 0);
    CHECK(test_pass() == 1, "churn: the first pass leaves clients waiting their turn");
    /* all behind the first pass's share */
    for (int i = 200; i < 250; i++) {
        close(cl[i].fd);
        cl[i].fd = -1;
    }
    for (int i = 250; i < 270; i++) hub_close(cl[i].id, 1000, NULL, 0);
    for (int i = 270; i < 280; i++) conn_kill(cl[i].conn, 1006);
    deliver(HUB_ALL, NULL, 2, 8, NULL, 0);
    int passes = passes_until_written(4 * FLUSH_PARTS);
    CHECK(passes > 0, "churn: the round ends (%d passes)", passes);
    read_each(cl, opened, &bufs[0][0], CHURN_CAP, got);
    int wrong = 0, gone = 0;
    for (int i = 0; i < opened; i++) {
        if (i >= 200 && i < 280 && (i < 250 || i >= 270)) {
            gone += conn_by_id(cl[i].id) == NULL;
            continue;
        }
        int seq[4], closed = 0, n = frames(bufs[i], got[i], seq, 4, &closed);
        int ok = i >= 250 && i < 270 ? n == 1 && seq[0] == 1 && closed
                                     : n == 2 && seq[0] == 1 && seq[1] == 2 && !closed;
        if (!ok && wrong++ < 3) printf("# churn: client %d read %d frames (closed %d)\n", i, n, closed);
    }
    CHECK(wrong == 0, "churn: each client left got 1 then 2, a closed one 1 then its close (%d wrong)", wrong);
    CHECK(gone == 60, "churn: the hung-up and killed clients are freed (%d of 60)", gone);
    for (int i = 0; i < opened; i++) test_client_hang_up(&cl[i]);
}

/* A pass's share larger than one io_uring batch (WRITE_RING_ENTRIES): the flush submits
 * the full batch and goes on where it was, within the pass's share. Needs more
 * descriptors than the default soft limit: raised up to the hard one, or skipped. */
#define WIDE_CLIENTS (FLUSH_PARTS * (WRITE_RING_ENTRIES + 76))
#define WIDE_CAP 32

static void test_round_split_wide(void)
{
    struct rlimit rl;
    rlim_t want = 2 * WIDE_CLIENTS + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max < want) {
        printf("# %d clients need %lu descriptors: the wide round is skipped\n", WIDE_CLIENTS,
               (unsigned long)want);
        return;
    }
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    static struct test_client cl[WIDE_CLIENTS];
    static uint8_t bufs[WIDE_CLIENTS][WIDE_CAP];
    static size_t got[WIDE_CLIENTS];
    int opened = open_clients(cl, WIDE_CLIENTS);
    CHECK(opened == WIDE_CLIENTS, "wide: %d clients open (%d)", WIDE_CLIENTS, opened);
    CHECK(conn_flush_share() > WRITE_RING_ENTRIES, "wide: a pass's share (%u) is more than a batch",
          conn_flush_share());
    memset(got, 0, sizeof got);
    deliver(HUB_ALL, NULL, 1, 8, NULL, 0);
    test_pass();
    deliver(HUB_ALL, NULL, 2, 8, NULL, 0);
    int killed = 0;
    for (int i = 0; i < opened; i += 97, killed++) conn_kill(cl[i].conn, 1006);
    deliver(HUB_ALL, NULL, 3, 8, NULL, 0);
    int passes = passes_until_written(4 * FLUSH_PARTS);
    CHECK(passes > 0, "wide: the round ends (%d passes)", passes);
    read_each(cl, opened, &bufs[0][0], WIDE_CAP, got);
    int wrong = 0;
    for (int i = 0; i < opened; i++) {
        if (i % 97 == 0) continue;
        int seq[4], n = frames(bufs[i], got[i], seq, 4, NULL);
        if (!(n == 3 && seq[0] == 1 && seq[1] == 2 && seq[2] == 3) && wrong++ < 3)
            printf("# wide: client %d read %d frames\n", i, n);
    }
    CHECK(wrong == 0, "wide: each of the %d clients left got 1, 2, 3 in order (%d wrong)",
          opened - killed, wrong);
    for (int i = 0; i < opened; i++) {
        close(cl[i].fd);
        cl[i].fd = -1;
    }
    /* libev takes the hang-ups a batch of events per pass */
    for (int k = 0; k < 200 && conn_open_count(); k++) test_pass();
    CHECK(conn_open_count() == 0, "wide: every connection is gone after the hang-ups");
}

int main(void)
{
    conn_init(&hub_events, sizeof(struct client));
    hub_set_script(&stub_script);
    test_setup();
    hub_want_dropped(1);
    for (int ring = 0; ring < 2; ring++) {
        if (ring && !test_write_ring()) break;
        test_order();
        test_membership();
        test_bounds(SENDQ_DROP_NEWEST, "drop_newest");
        test_bounds(SENDQ_DROP_OLDEST, "drop_oldest");
        test_bounds_change();
        test_pong_inside_run();
        test_kill_closes_socket();
        test_round_split();
        test_round_split_churn();
        test_round_split_wide();
        if (ring) CHECK_WRITE_RING_DONE();
    }
    CHECK(hub_count() == 0 && conn_open_count() == 0, "every connection is gone at the end");
    config_free(&config);
    return check_summary();
}
