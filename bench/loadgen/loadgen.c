/* loadgen.c — luahub-loadgen: end-to-end load generator for WebSocket fan-out.
 *
 * Modes
 *   fanout  N subscribers and one publisher. The publisher sends stamped text
 *           messages at --rate msgs/s for --duration s, or --burst K messages with
 *           at most --window W not yet delivered (on average over subscribers).
 *           Every subscriber checks the sequence (gaps, duplicates) and records
 *           send-to-receive latency.
 *   echo    N connections send stamped messages (--rate in total, or --burst K each
 *           with --window W in flight) and time the echo.
 *   idle    (--idle) connect N, hold them, and measure the server's RSS growth per
 *           connection. N may exceed what one process may open: the connections
 *           are spread over --procs child processes. With --broadcast K a publisher
 *           then sends K stamped messages at once and every held connection times
 *           them (a server that broadcasts each message, examples/broadcast). With
 *           --kill-one, one of the --pid processes (not the publisher's) is then
 *           killed while the publisher goes on for --duration s: the connections it
 *           held reconnect (--reconnect) and the others must miss nothing.
 *   storm   clients of the room protocol reconnecting at once and recovering what
 *           they missed (storm.c, its own options).
 *
 * Everything runs on one epoll loop in one thread; every phase is bounded by its
 * own time limit and by --timeout for the whole run. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "hist.h"
#include "payload.h"
#include "procstat.h"
#include "storm.h"

#define PROBE_SEQ 0xffffffffu
#define PUBLISH_BATCH 1024          /* frames built per write() on the publisher */
#define MAX_PROCS 16
#define MAX_PIDS 16
#define MAX_ROUNDS 100
#define FD_RESERVE 64               /* descriptors kept free for epoll, stdio, pipes */

enum mode { MODE_FANOUT, MODE_ECHO, MODE_IDLE };
enum role { ROLE_SUBSCRIBER = 1, ROLE_PUBLISHER, ROLE_ECHO };

struct options {
    enum mode mode;
    const char *url, *host, *path, *join, *template;
    int port;
    uint32_t conns;                 /* --subs */
    double rate, duration, drain, timeout, probe_timeout, connect_timeout, settle, hold;
    uint32_t burst, window, rounds, concurrency, procs;
    size_t size;
    pid_t server_pid;               /* the first of server_pids */
    pid_t server_pids[MAX_PIDS];    /* --pid P[,P...]: CPU and RSS are their sums */
    unsigned npids;
    uint32_t broadcast;             /* idle: messages to publish once connected */
    int reconnect, kill_one;
    int json, rst;
    struct in_addr sources[CLI_MAX_SOURCES];
    unsigned nsources;
};

struct report {
    uint32_t opened, failed;
    double connect_s;
    const char *connect_error;
    uint32_t probed;
    double probe_s;
    uint64_t offered, expected;
    double offered_per_s, delivered_per_s, delivery_s, phase_s;
    double round_per_s[MAX_ROUNDS];     /* burst: deliveries/s of each round */
    int send_failed;                /* a sender's socket closed or 64 MiB queued */
    struct procstat server_before, server_connected, server_after;
    struct procstat self_before, self_after;
    struct machine_cpu machine_before, machine_after;
    /* a server pinned to one CPU: that CPU's busy time, softirq included (the loopback
     * delivery it pays for, which the process's own times may not all show) */
    int core;                       /* the CPU, or -1 */
    struct machine_cpu core_before, core_after;
    struct kernel_mem kernel_before, kernel_after;
    uint32_t procs;
    int timed_out;
    /* idle --broadcast: the broadcast phase, then the --kill-one phase */
    const char *idle_error;
    uint64_t bc_offered, bc_expected, bc_delivered;
    double bc_seconds;
    struct hist bc_latency;
    int killed_pid, kill_done;
    uint64_t kill_sent;
    uint32_t kill_closed, kill_reconnected, kill_reconnect_failures, kill_open_after, kill_unaffected;
    uint32_t kill_reconnect_errors;
    int kill_reconnect_errno;
    const char *kill_reconnect_failure;
    uint64_t kill_expected_unaffected, kill_delivered_unaffected, kill_gaps_unaffected;
    double kill_all_back_s;
    struct hist kill_latency, kill_reconnect, kill_handshake;
};

/* Counters the callbacks update; one run per process, so file scope. */
static struct {
    uint64_t delivered, duplicates, gaps, unstamped, foreign, publisher_echoes, send_failures;
    uint64_t first_send_ns, last_delivery_ns;
    uint64_t sent;                  /* publisher (fanout) or all connections (echo) */
    uint32_t connecting, opened, failed, open_now, closed_while_open, probed;
    const char *connect_error, *close_reason;
    /* idle with --reconnect: connections the server closed and that came back */
    uint64_t delivered_unaffected, gaps_reconnected, last_reopen_ns;
    uint32_t closed_once, reconnected, reconnect_failures;
    uint32_t reconnect_errors;      /* connect() failed at once; the first one's errno */
    int reconnect_errno;
    const char *reconnect_failure;  /* why the first started reconnect failed */
} st;

static struct options opt = {
    .mode = MODE_FANOUT, .path = "/ws", .port = 0, .conns = 100, .rate = 0,
    .duration = 10, .drain = 5, .timeout = 300, .probe_timeout = 10,
    .connect_timeout = 60, .settle = 2, .hold = 0, .burst = 0, .window = 1000, .rounds = 1,
    .concurrency = 256, .procs = 0, .size = 64, .rst = 1,
};
static struct report rep;
static struct client_net net;
static struct client *clients;
static uint32_t nclients;
static struct client *publisher;
static struct hist own_latency, *latency = &own_latency;
static struct payload_template tpl;
static uint8_t *frame_buf;
static uint64_t deadline_ns;

#define die(...) cli_die("luahub-loadgen", __VA_ARGS__)

static int past_deadline(void)
{
    if (client_clock_ns() < deadline_ns)
        return 0;
    rep.timed_out = 1;
    return 1;
}

/* ---- reconnecting (idle --reconnect) ------------------------------------ */

/* Per connection (by id), in the idle children: when the server closed it (0: open or
 * never closed), when its latest reconnect was started, and whether it has come back
 * since; ids waiting to reconnect, each at most once, in a ring. */
static uint64_t *closed_at, *tried_at;
static uint8_t *came_back;
static uint32_t *reconnect_ring, ring_head, ring_len;
/* close to open again; and the attempt that succeeded alone, connect() to open: the
 * server's part, without the wait for a free --concurrency slot or earlier attempts */
static struct hist *reconnect_times, *handshake_times;

static void reconnect_later(uint32_t id)
{
    reconnect_ring[(ring_head + ring_len++) % opt.conns] = id;
}

/* Starts the waiting reconnects, at most --concurrency connects in flight. One whose
 * connect() fails at once goes to the back of the ring, behind the others, and each
 * waiting id is tried at most once per pass. */
static void reconnect_pending(void)
{
    for (uint32_t tries = ring_len; tries > 0 && ring_len > 0 && st.connecting < opt.concurrency; tries--) {
        uint32_t id = reconnect_ring[ring_head];
        ring_head = (ring_head + 1) % opt.conns;
        ring_len--;
        int rc = client_connect(&net, &clients[id], id, id);
        if (rc < 0) {
            if (!st.reconnect_errors++)
                st.reconnect_errno = -rc;
            reconnect_later(id);
            continue;
        }
        tried_at[id] = client_clock_ns();
        st.connecting++;
    }
}

/* ---- client callbacks -------------------------------------------------- */

static uint32_t role_of(uint32_t id)
{
    if (opt.mode == MODE_ECHO)
        return ROLE_ECHO;
    return opt.mode == MODE_FANOUT && id == opt.conns ? ROLE_PUBLISHER : ROLE_SUBSCRIBER;
}

static void on_open(struct client_net *n, struct client *c)
{
    st.connecting--;
    st.open_now++;
    c->role = (uint8_t)role_of(c->id);
    if (closed_at && closed_at[c->id]) {
        hist_record(reconnect_times, n->now_ns - closed_at[c->id]);
        hist_record(handshake_times, n->now_ns > tried_at[c->id] ? n->now_ns - tried_at[c->id] : 0);
        closed_at[c->id] = 0;
        came_back[c->id] = 1;
        st.reconnected++;
        st.last_reopen_ns = n->now_ns;
    } else {
        st.opened++;
    }
    if (c->role == ROLE_SUBSCRIBER && opt.join)
        client_send_frame(n, c, WSFRAME_OP_TEXT, (const uint8_t *)opt.join, strlen(opt.join));
}

static int shutting_down;          /* closes from close_all are not failures */

static void on_closed(struct client_net *n, struct client *c, int was_open, const char *why)
{
    if (shutting_down)
        return;
    if (was_open) {
        st.open_now--;
        st.closed_while_open++;
        if (!st.close_reason)
            st.close_reason = why;
        if (closed_at) {
            if (!came_back[c->id])
                st.closed_once++;
            closed_at[c->id] = n->now_ns ? n->now_ns : 1;
            reconnect_later(c->id);
        }
    } else if (closed_at && closed_at[c->id]) {
        st.connecting--;
        if (!st.reconnect_failures++)
            st.reconnect_failure = why;
        reconnect_later(c->id);
    } else {
        st.connecting--;
        st.failed++;
        if (!st.connect_error)
            st.connect_error = why;
    }
}

static void send_stamped(struct client *c, uint32_t count, uint32_t first_seq);

static int on_message(struct client_net *n, struct client *c, int opcode, const uint8_t *head,
                      size_t head_len, uint64_t message_len)
{
    uint64_t send_ns;
    uint32_t seq, source;

    if (payload_find(head, head_len, &send_ns, &seq, &source) != 0) {
        st.unstamped++;
        return 0;
    }
    if (seq == PROBE_SEQ) {
        if (c->role == ROLE_SUBSCRIBER && !c->probed) {
            c->probed = 1;
            st.probed++;
        }
        return 0;
    }
    if (c->role == ROLE_PUBLISHER) {
        st.publisher_echoes++;
        return 0;
    }
    if (source != (c->role == ROLE_ECHO ? c->id : opt.conns)) {
        st.foreign++;
        return 0;
    }
    /* Delivery is in order over one TCP stream from one sender: anything below
     * the expected number was seen before; anything above skips a gap. */
    if (seq < c->next_seq) {
        st.duplicates++;
        return 0;
    }
    /* a connection that came back missed what was sent while it was away: not a gap
     * of the service, counted apart */
    int back = came_back && came_back[c->id];
    if (seq > c->next_seq) {
        if (back)
            st.gaps_reconnected += seq - c->next_seq;
        else
            st.gaps += seq - c->next_seq;
    }
    c->next_seq = seq + 1;
    c->received++;
    st.delivered++;
    if (!back)
        st.delivered_unaffected++;
    st.last_delivery_ns = n->now_ns;
    hist_record(latency, n->now_ns > send_ns ? n->now_ns - send_ns : 0);
    if (c->role == ROLE_ECHO && opt.burst && c->sent < opt.burst &&
        c->sent - c->received < opt.window)
        send_stamped(c, 1, c->sent);
    return c->state == CLIENT_OPEN ? 0 : 1;
}

/* ---- the loop ------------------------------------------------------------ */

static int control_fd = -1;         /* idle children: parent's end closed = stop */
static int control_eof;

static void loop_once(int timeout_ms)
{
    static struct epoll_event events[1024];
    int n = epoll_wait(net.epfd, events, 1024, timeout_ms);

    for (int i = 0; i < n; i++) {
        if (events[i].data.ptr == &control_fd) {
            char b[64];
            if (read(control_fd, b, sizeof(b)) <= 0)
                control_eof = 1;
            continue;
        }
        client_handle(&net, events[i].data.ptr, events[i].events);
    }
    net.now_ns = client_clock_ns();
}

/* Opens clients [first, first + count), at most opt.concurrency in flight, until
 * all opened or failed, or the connect timeout. Returns the seconds it took. */
static double connect_range(uint32_t first, uint32_t count)
{
    uint64_t start = client_clock_ns();
    uint64_t until = start + (uint64_t)(opt.connect_timeout * 1e9);
    uint32_t next = first, done_before = st.opened + st.failed;

    while (st.opened + st.failed - done_before < count) {
        uint64_t now = client_clock_ns();
        if (now >= until || past_deadline())
            break;
        while (next < first + count && st.connecting < opt.concurrency) {
            int rc = client_connect(&net, &clients[next], next, next);
            next++;
            if (rc < 0) {
                st.failed++;
                if (!st.connect_error)
                    st.connect_error = strerror(-rc);
                continue;
            }
            st.connecting++;
        }
        loop_once(20);
    }
    for (uint32_t i = first; i < first + count; i++) {
        if (clients[i].state == CLIENT_CONNECTING || clients[i].state == CLIENT_HANDSHAKE)
            client_close(&net, &clients[i], "connect phase timed out");
    }
    if (next < first + count) {
        st.failed += first + count - next;
        if (!st.connect_error)
            st.connect_error = "connect phase timed out";
    }
    return (double)(client_clock_ns() - start) / 1e9;
}

/* ---- sending ------------------------------------------------------------- */

/* Frames `count` stamped messages (sequence first_seq...) into as few writes as
 * PUBLISH_BATCH allows, all stamped with the time of the batch. */
static void send_stamped(struct client *c, uint32_t count, uint32_t first_seq)
{
    while (count > 0) {
        uint32_t k = count < PUBLISH_BATCH ? count : PUBLISH_BATCH;
        uint64_t now = client_clock_ns();
        size_t len = 0;

        for (uint32_t i = 0; i < k; i++) {
            uint32_t key = client_mask_key();
            size_t h = wsframe_header_masked(frame_buf + len, WSFRAME_OP_TEXT, tpl.size, key);
            payload_write(&tpl, frame_buf + len + h, now, first_seq + i, c->id);
            wsframe_mask(frame_buf + len + h, tpl.size, key);
            len += h + tpl.size;
        }
        if (client_send(&net, c, frame_buf, len) != 0) {
            st.send_failures++;
            return;
        }
        if (!st.first_send_ns)
            st.first_send_ns = now;
        if (first_seq != PROBE_SEQ) {
            st.sent += k;
            c->sent += k;
        }
        count -= k;
        first_seq += k;
    }
}

static void send_probe(void)
{
    uint64_t saved = st.first_send_ns;

    send_stamped(publisher, 1, PROBE_SEQ);
    st.first_send_ns = saved;
}

/* ---- phases -------------------------------------------------------------- */

/* Publishes once more until every open subscriber has seen a probe: then the
 * server has registered (and, with --join, subscribed) all of them. */
static void probe_subscribers(void)
{
    uint64_t start = client_clock_ns(), until = start + (uint64_t)(opt.probe_timeout * 1e9);
    uint64_t next_probe = start;

    while (st.probed < st.open_now - 1 && !past_deadline()) {
        uint64_t now = client_clock_ns();
        if (now >= until || publisher->state != CLIENT_OPEN)
            break;
        if (now >= next_probe) {
            send_probe();
            next_probe = now + 500000000u;
        }
        loop_once(20);
    }
    rep.probed = st.probed;
    rep.probe_s = (double)(client_clock_ns() - start) / 1e9;
}

/* Waits for outstanding deliveries while they keep coming: gives up after
 * --drain seconds without a single new one (or at --timeout). */
static void drain(uint64_t expected)
{
    uint64_t last_progress = client_clock_ns(), last_delivered = st.delivered;

    while (st.delivered < expected && !past_deadline()) {
        loop_once(20);
        if (st.delivered != last_delivered) {
            last_delivered = st.delivered;
            last_progress = client_clock_ns();
        } else if (client_clock_ns() - last_progress > (uint64_t)(opt.drain * 1e9)) {
            break;
        }
    }
}

/* Sends at a fixed rate: the number due is computed from the clock, so a late
 * wake-up sends the backlog at once rather than lowering the offered rate. */
static void publish_at_rate(struct client **senders, uint32_t nsenders, uint64_t total)
{
    uint64_t start = client_clock_ns(), base = st.sent;   /* total counts from 0 */
    uint32_t next_sender = 0;

    while (st.sent < total && !past_deadline()) {
        uint64_t now = client_clock_ns();
        uint64_t due = base + (uint64_t)((double)(now - start) * opt.rate / 1e9) + 1;
        if (due > total)
            due = total;
        if (due > st.sent) {
            if (nsenders == 1) {
                send_stamped(senders[0], (uint32_t)(due - st.sent), (uint32_t)st.sent);
            } else {
                while (st.sent < due) {
                    struct client *c = senders[next_sender++ % nsenders];
                    if (c->state == CLIENT_OPEN)
                        send_stamped(c, 1, c->sent);
                    else
                        st.sent++;      /* a closed sender's share counts as lost */
                }
            }
            if (st.send_failures)
                break;
        }
        if (st.sent >= total)
            break;
        uint64_t next_due = start + (uint64_t)((double)(st.sent - base) * 1e9 / opt.rate);
        now = client_clock_ns();
        loop_once(next_due > now ? (int)((next_due - now + 999999) / 1000000) : 0);
    }
    rep.offered_per_s = (double)(st.sent - base) / ((double)(client_clock_ns() - start) / 1e9);
}

/* Fan-out burst: sends until `target` messages in all, keeping sent minus
 * delivered/subscribers below the window. Stops early when nothing is
 * delivered for --drain seconds (a stalled server). */
static void publish_burst(uint32_t subscribers, uint64_t target)
{
    uint64_t last_progress = client_clock_ns(), last_delivered = st.delivered;

    while (st.sent < target && !past_deadline()) {
        uint64_t in_flight = st.sent - st.delivered / subscribers;
        if (in_flight < opt.window && publisher->state == CLIENT_OPEN) {
            uint64_t k = opt.window - in_flight;
            if (k > target - st.sent)
                k = target - st.sent;
            send_stamped(publisher, (uint32_t)k, (uint32_t)st.sent);
            if (st.send_failures)
                break;
        }
        loop_once(10);
        if (st.delivered != last_delivered) {
            last_delivered = st.delivered;
            last_progress = client_clock_ns();
        } else if (client_clock_ns() - last_progress > (uint64_t)(opt.drain * 1e9)) {
            break;
        }
    }
}

/* --rounds bursts, each drained before the next; the rate is all deliveries
 * over the sum of the rounds' first-send-to-last-delivery times. */
static void run_bursts(uint32_t subscribers)
{
    for (uint32_t r = 0; r < opt.rounds && !rep.timed_out && !st.send_failures; r++) {
        uint64_t start = client_clock_ns(), delivered_before = st.delivered;
        publish_burst(subscribers, (uint64_t)opt.burst * (r + 1));
        drain(st.sent * subscribers);
        if (st.last_delivery_ns > start) {
            double seconds = (double)(st.last_delivery_ns - start) / 1e9;
            rep.delivery_s += seconds;
            rep.round_per_s[r] = (double)(st.delivered - delivered_before) / seconds;
        }
    }
    if (rep.delivery_s > 0) {
        rep.delivered_per_s = (double)st.delivered / rep.delivery_s;
        rep.offered_per_s = (double)st.sent / rep.delivery_s;
    }
}

/* The --pid processes' CPU and memory, added up. */
static void read_server(struct procstat *sum)
{
    memset(sum, 0, sizeof(*sum));
    sum->ok = 1;
    for (unsigned i = 0; i < opt.npids; i++) {
        struct procstat one;
        procstat_read(opt.server_pids[i], &one);
        sum->ok &= one.ok;
        sum->user_s += one.user_s;
        sum->sys_s += one.sys_s;
        sum->rss_kib += one.rss_kib;
        sum->hwm_kib += one.hwm_kib;
    }
}

static void measure_begin(void)
{
    rep.core = opt.npids == 1 ? procstat_pinned_cpu(opt.server_pid) : -1;
    if (rep.core >= 0)
        procstat_cpu(rep.core, &rep.core_before);
    if (opt.server_pid)
        read_server(&rep.server_connected);
    procstat_self(&rep.self_before);
    procstat_machine(&rep.machine_before);
}

static void measure_end(uint64_t phase_start)
{
    rep.phase_s = (double)(client_clock_ns() - phase_start) / 1e9;
    if (opt.server_pid)
        read_server(&rep.server_after);
    procstat_self(&rep.self_after);
    procstat_machine(&rep.machine_after);
    if (rep.core >= 0)
        procstat_cpu(rep.core, &rep.core_after);
}

static void close_all(void)
{
    shutting_down = 1;
    for (uint32_t i = 0; i < nclients; i++)
        client_close(&net, &clients[i], "closed by loadgen");
}

static void finish_delivery_stats(void)
{
    if (st.last_delivery_ns > st.first_send_ns && st.first_send_ns) {
        rep.delivery_s = (double)(st.last_delivery_ns - st.first_send_ns) / 1e9;
        rep.delivered_per_s = (double)st.delivered / rep.delivery_s;
    }
}

static void run_fanout(void)
{
    uint32_t subscribers;
    uint64_t phase_start;

    rep.connect_s = connect_range(0, opt.conns);
    rep.opened = st.opened;
    rep.failed = st.failed;
    rep.connect_error = st.connect_error;
    if (st.opened == 0)
        return;
    publisher = &clients[opt.conns];
    connect_range(opt.conns, 1);
    if (publisher->state != CLIENT_OPEN) {
        fprintf(stderr, "luahub-loadgen: publisher did not connect\n");
        return;
    }
    probe_subscribers();
    subscribers = st.open_now - 1;
    measure_begin();
    phase_start = client_clock_ns();
    if (opt.burst) {
        run_bursts(subscribers);
    } else {
        struct client *senders[1] = { publisher };
        publish_at_rate(senders, 1, (uint64_t)llround(opt.rate * opt.duration));
        drain(st.sent * subscribers);
        finish_delivery_stats();
    }
    rep.offered = st.sent;
    rep.expected = st.sent * subscribers;
    rep.send_failed = st.send_failures > 0;
    measure_end(phase_start);
}

static void run_echo(void)
{
    struct client **senders;
    uint32_t nsenders = 0;
    uint64_t phase_start;

    rep.connect_s = connect_range(0, opt.conns);
    rep.opened = st.opened;
    rep.failed = st.failed;
    rep.connect_error = st.connect_error;
    if (st.opened == 0)
        return;
    senders = calloc(opt.conns, sizeof(*senders));
    if (!senders)
        die("out of memory");
    for (uint32_t i = 0; i < opt.conns; i++)
        if (clients[i].state == CLIENT_OPEN)
            senders[nsenders++] = &clients[i];
    measure_begin();
    phase_start = client_clock_ns();
    if (opt.burst) {
        uint32_t first = opt.window < opt.burst ? opt.window : opt.burst;
        for (uint32_t i = 0; i < nsenders; i++)
            send_stamped(senders[i], first, 0);
        rep.expected = (uint64_t)nsenders * opt.burst;
    } else {
        publish_at_rate(senders, nsenders, (uint64_t)llround(opt.rate * opt.duration));
        rep.expected = st.sent;
    }
    drain(rep.expected);
    rep.offered = st.sent;
    rep.send_failed = st.send_failures > 0;
    measure_end(phase_start);
    finish_delivery_stats();
    if (opt.burst)
        rep.offered_per_s = rep.delivery_s > 0 ? (double)st.sent / rep.delivery_s : 0;
    free(senders);
}

/* ---- idle: connections spread over child processes ------------------------ */

/* What an idle child tells the parent while it holds its connections: shared memory
 * (MAP_SHARED before the fork), counters copied after every loop pass, histograms
 * recorded in place. The parent reads it at any time; a count may be a pass old. */
struct idle_share {
    uint64_t delivered, delivered_unaffected, gaps, gaps_reconnected, duplicates;
    uint64_t last_delivery_ns, last_reopen_ns;
    uint32_t open_now, closed, closed_once, reconnected, reconnect_failures, reconnect_errors;
    int reconnect_errno;
    /* a static string of client.c: the same address in the parent, forked from one image */
    const char *reconnect_failure;
    struct hist latency, reconnect, handshake;
};
static struct idle_share *shares;

static void share_counters(struct idle_share *sh)
{
    sh->delivered = st.delivered;
    sh->delivered_unaffected = st.delivered_unaffected;
    sh->gaps = st.gaps;
    sh->gaps_reconnected = st.gaps_reconnected;
    sh->duplicates = st.duplicates;
    sh->last_delivery_ns = st.last_delivery_ns;
    sh->last_reopen_ns = st.last_reopen_ns;
    sh->open_now = st.open_now;
    sh->closed = st.closed_while_open;
    sh->closed_once = st.closed_once;
    sh->reconnected = st.reconnected;
    sh->reconnect_failures = st.reconnect_failures;
    sh->reconnect_errors = st.reconnect_errors;
    sh->reconnect_errno = st.reconnect_errno;
    sh->reconnect_failure = st.reconnect_failure;
}

/* The children's shares added up; latency and reconnect histograms merged. */
static void share_sum(uint32_t procs, struct idle_share *sum)
{
    memset(sum, 0, sizeof(*sum));
    hist_init(&sum->latency);
    hist_init(&sum->reconnect);
    hist_init(&sum->handshake);
    for (uint32_t p = 0; p < procs; p++) {
        const struct idle_share *sh = &shares[p];
        sum->delivered += sh->delivered;
        sum->delivered_unaffected += sh->delivered_unaffected;
        sum->gaps += sh->gaps;
        sum->gaps_reconnected += sh->gaps_reconnected;
        sum->duplicates += sh->duplicates;
        if (sh->last_delivery_ns > sum->last_delivery_ns)
            sum->last_delivery_ns = sh->last_delivery_ns;
        if (sh->last_reopen_ns > sum->last_reopen_ns)
            sum->last_reopen_ns = sh->last_reopen_ns;
        sum->open_now += sh->open_now;
        sum->closed += sh->closed;
        sum->closed_once += sh->closed_once;
        sum->reconnected += sh->reconnected;
        sum->reconnect_failures += sh->reconnect_failures;
        sum->reconnect_errors += sh->reconnect_errors;
        if (!sum->reconnect_errno)
            sum->reconnect_errno = sh->reconnect_errno;
        if (!sum->reconnect_failure)
            sum->reconnect_failure = sh->reconnect_failure;
        hist_merge(&sum->latency, &sh->latency);
        hist_merge(&sum->reconnect, &sh->reconnect);
        hist_merge(&sum->handshake, &sh->handshake);
    }
}

static void idle_child(uint32_t first, uint32_t count, int fd, struct idle_share *share)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &control_fd };
    char line[128];
    int len;

    net.epfd = epoll_create1(EPOLL_CLOEXEC);
    control_fd = fd;
    epoll_ctl(net.epfd, EPOLL_CTL_ADD, fd, &ev);
    latency = &share->latency;
    reconnect_times = &share->reconnect;
    handshake_times = &share->handshake;
    double seconds = connect_range(first, count);
    len = snprintf(line, sizeof(line), "%u %u %.6f %s\n", st.opened, st.failed, seconds,
                   st.connect_error ? st.connect_error : "-");
    if (write(fd, line, (size_t)len) != len)
        _exit(1);
    /* Hold (answering pings, timing what arrives, reconnecting what the server
     * closes) until the parent closes its end or the deadline. */
    if (opt.reconnect) {
        closed_at = calloc(opt.conns, sizeof(*closed_at));
        tried_at = calloc(opt.conns, sizeof(*tried_at));
        came_back = calloc(opt.conns, 1);
        reconnect_ring = calloc(opt.conns, sizeof(*reconnect_ring));
        if (!closed_at || !tried_at || !came_back || !reconnect_ring)
            _exit(1);
    }
    while (!control_eof && !past_deadline()) {
        share_counters(share);
        loop_once(ring_len ? 10 : 200);
        if (opt.reconnect)
            reconnect_pending();
    }
    close_all();
    _exit(0);
}

static void settle_rss(void)
{
    uint64_t until = client_clock_ns() + (uint64_t)(opt.settle * 1e9);
    long last = -1;

    if (!opt.server_pid)
        return;
    while (client_clock_ns() < until) {
        struct procstat now;
        usleep(200000);
        read_server(&now);
        if (now.ok && now.rss_kib == last)
            break;
        last = now.rss_kib;
    }
}

/* Waits until the children have delivered `expected` messages in all (only to
 * connections that never came back, with `unaffected`), giving up after --drain s
 * without progress; the publisher's echoes are read meanwhile. */
static void idle_drain(uint32_t procs, uint64_t expected, int unaffected, struct idle_share *sum)
{
    uint64_t last_progress = client_clock_ns(), last = 0;

    for (;;) {
        share_sum(procs, sum);
        uint64_t got = unaffected ? sum->delivered_unaffected : sum->delivered;
        if (got >= expected || past_deadline())
            return;
        if (got != last) {
            last = got;
            last_progress = client_clock_ns();
        } else if (client_clock_ns() - last_progress > (uint64_t)(opt.drain * 1e9)) {
            return;
        }
        loop_once(20);
    }
}

/* --kill-one: SIGKILL one --pid process that does not hold the publisher, publish on at
 * --rate for --duration s, then wait (--connect-timeout) until every connection is open
 * again. The connections of the other processes must see every message. */
static void idle_kill(uint32_t procs, const struct idle_share *before)
{
    static struct idle_share after;
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    pid_t owner = -1, victim = -1;

    if (getsockname(publisher->fd, (struct sockaddr *)&me, &len) == 0)
        owner = procstat_socket_owner(opt.server_pids, opt.npids, opt.port, me.sin_addr.s_addr,
                                      ntohs(me.sin_port));
    for (unsigned i = 0; i < opt.npids && victim < 0; i++)
        if (opt.server_pids[i] != owner)
            victim = opt.server_pids[i];
    if (owner < 0 || victim < 0) {
        rep.idle_error = owner < 0 ? "--kill-one: no --pid process holds the publisher's connection"
                                   : "--kill-one: every --pid process holds the publisher";
        return;
    }
    uint64_t killed_ns = client_clock_ns();
    if (kill(victim, SIGKILL) != 0) {
        rep.idle_error = "--kill-one: kill failed";
        return;
    }
    rep.killed_pid = (int)victim;
    /* the sequence goes on from the broadcast phase: a message a connection already
     * saw would be a duplicate, one it did not a gap */
    uint64_t sent_before = st.sent;
    publish_at_rate(&publisher, 1, sent_before + (uint64_t)llround(opt.rate * opt.duration));
    rep.kill_sent = st.sent - sent_before;
    uint64_t until = client_clock_ns() + (uint64_t)(opt.connect_timeout * 1e9);
    do {
        loop_once(50);
        share_sum(procs, &after);
    } while ((after.open_now < rep.opened || after.closed == before->closed) &&
             client_clock_ns() < until && !past_deadline());
    /* connections closed (a connection that came back and was closed again counts
     * each time) and those never closed, whose messages must all arrive */
    rep.kill_closed = after.closed - before->closed;
    rep.kill_unaffected = rep.opened - (after.closed_once - before->closed_once);
    rep.kill_expected_unaffected = rep.kill_sent * rep.kill_unaffected;
    idle_drain(procs, before->delivered_unaffected + rep.kill_expected_unaffected, 1, &after);
    rep.kill_reconnected = after.reconnected - before->reconnected;
    rep.kill_reconnect_failures = after.reconnect_failures - before->reconnect_failures;
    rep.kill_reconnect_errors = after.reconnect_errors - before->reconnect_errors;
    rep.kill_reconnect_errno = after.reconnect_errno;
    rep.kill_reconnect_failure = after.reconnect_failure;
    rep.kill_open_after = after.open_now;
    rep.kill_delivered_unaffected = after.delivered_unaffected - before->delivered_unaffected;
    rep.kill_gaps_unaffected = after.gaps - before->gaps;
    rep.kill_all_back_s = after.last_reopen_ns > killed_ns && after.open_now >= rep.opened
                          ? (double)(after.last_reopen_ns - killed_ns) / 1e9 : -1;
    rep.kill_latency = after.latency;
    hist_subtract(&rep.kill_latency, &before->latency);
    rep.kill_reconnect = after.reconnect;
    rep.kill_handshake = after.handshake;
    rep.kill_done = 1;
}

/* --broadcast: one publisher connection (the parent's; it may land on any server
 * process) sends K messages at once, each to every held connection: delivered/s is
 * what the server side sustains, the latency includes the wait behind the earlier ones. */
static void idle_broadcast(uint32_t procs)
{
    static struct idle_share sum;
    net.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (net.epfd < 0)
        die("epoll_create1: %s", strerror(errno));
    publisher = &clients[opt.conns];
    connect_range(opt.conns, 1);
    if (publisher->state != CLIENT_OPEN) {
        rep.idle_error = "the publisher did not connect";
        return;
    }
    uint64_t start = client_clock_ns();
    send_stamped(publisher, opt.broadcast, 0);
    rep.bc_offered = st.sent;
    rep.bc_expected = st.sent * rep.opened;
    idle_drain(procs, rep.bc_expected, 0, &sum);
    rep.bc_delivered = sum.delivered;
    rep.bc_seconds = sum.last_delivery_ns > start ? (double)(sum.last_delivery_ns - start) / 1e9 : 0;
    rep.bc_latency = sum.latency;
    if (opt.kill_one)
        idle_kill(procs, &sum);
}

static void run_idle(void)
{
    int fds[MAX_PROCS];
    pid_t pids[MAX_PROCS];
    uint32_t procs = opt.procs ? opt.procs : (opt.conns + 9999) / 10000;
    uint64_t start;
    static char first_error[128];

    if (procs > MAX_PROCS)
        procs = MAX_PROCS;
    if (procs == 0)
        procs = 1;
    rep.procs = procs;
    shares = mmap(NULL, procs * sizeof(*shares), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shares == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    for (uint32_t p = 0; p < procs; p++) {
        hist_init(&shares[p].latency);
        hist_init(&shares[p].reconnect);
    }
    procstat_kernel(&rep.kernel_before);
    start = client_clock_ns();
    for (uint32_t p = 0; p < procs; p++) {
        int sv[2];
        uint32_t first = (uint32_t)((uint64_t)opt.conns * p / procs);
        uint32_t last = (uint32_t)((uint64_t)opt.conns * (p + 1) / procs);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            die("socketpair: %s", strerror(errno));
        fflush(NULL);
        pids[p] = fork();
        if (pids[p] < 0)
            die("fork: %s", strerror(errno));
        if (pids[p] == 0) {
            for (uint32_t q = 0; q < p; q++)
                close(fds[q]);
            close(sv[0]);
            idle_child(first, last - first, sv[1], &shares[p]);
        }
        close(sv[1]);
        fds[p] = sv[0];
    }
    /* Collect each child's "opened failed seconds error" line. */
    for (uint32_t p = 0; p < procs; p++) {
        struct pollfd pfd = { .fd = fds[p], .events = POLLIN };
        char line[256] = "";
        unsigned opened = 0, failed = 0;
        double seconds = 0;
        int64_t left = (int64_t)(deadline_ns - client_clock_ns()) / 1000000;
        if (left > 0 && poll(&pfd, 1, (int)left) == 1) {
            ssize_t n = read(fds[p], line, sizeof(line) - 1);
            line[n > 0 ? n : 0] = '\0';
        }
        char err[128] = "";
        if (sscanf(line, "%u %u %lf %127[^\n]", &opened, &failed, &seconds, err) < 3) {
            rep.timed_out = 1;
            failed = (uint32_t)((uint64_t)opt.conns * (p + 1) / procs -
                                (uint64_t)opt.conns * p / procs);
        }
        rep.opened += opened;
        rep.failed += failed;
        if (failed && !rep.connect_error && strcmp(err, "-") != 0) {
            snprintf(first_error, sizeof(first_error), "%s", err);
            rep.connect_error = first_error;
        }
    }
    rep.connect_s = (double)(client_clock_ns() - start) / 1e9;
    settle_rss();
    if (opt.server_pid)
        read_server(&rep.server_connected);
    procstat_kernel(&rep.kernel_after);
    if (opt.broadcast)
        idle_broadcast(procs);
    if (opt.hold > 0) {
        uint64_t until = client_clock_ns() + (uint64_t)(opt.hold * 1e9);
        while (client_clock_ns() < until && !past_deadline())
            usleep(100000);
        if (opt.server_pid)
            read_server(&rep.server_after);
    }
    for (uint32_t p = 0; p < procs; p++)
        close(fds[p]);
    for (uint32_t p = 0; p < procs; p++) {
        uint64_t until = client_clock_ns() + 10000000000u;
        while (waitpid(pids[p], NULL, WNOHANG) == 0) {
            if (client_clock_ns() > until) {
                kill(pids[p], SIGKILL);
                waitpid(pids[p], NULL, 0);
                break;
            }
            usleep(20000);
        }
    }
}

/* ---- reporting ------------------------------------------------------------ */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double cpu_s(const struct procstat *a, const struct procstat *b)
{
    return (b->user_s + b->sys_s) - (a->user_s + a->sys_s);
}

static const char *mode_name(void)
{
    return opt.mode == MODE_FANOUT ? "fanout" : opt.mode == MODE_ECHO ? "echo" : "idle";
}

static void json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static double idle_bytes_per_conn(void)
{
    if (!rep.server_before.ok || !rep.server_connected.ok || rep.opened == 0)
        return -1;
    return (double)(rep.server_connected.rss_kib - rep.server_before.rss_kib) * 1024.0 /
           rep.opened;
}

static void json_latency(const char *name, const struct hist *h)
{
    printf(",\"%s\":{\"count\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
           "\"max\":%.3f}", name, (unsigned long long)h->count, ms(hist_quantile(h, 0.5)),
           ms(hist_quantile(h, 0.9)), ms(hist_quantile(h, 0.99)), ms(hist_quantile(h, 0.999)),
           ms(h->count ? h->max : 0));
}

/* idle --broadcast and --kill-one: what the held connections saw. */
static void print_idle_phases_json(void)
{
    if (rep.idle_error) {
        printf(",\"error\":");
        json_string(rep.idle_error);
    }
    if (!opt.broadcast)
        return;
    printf(",\"broadcast\":{\"offered\":%llu,\"expected\":%llu,\"delivered\":%llu,"
           "\"seconds\":%.3f,\"delivered_per_s\":%.1f",
           (unsigned long long)rep.bc_offered, (unsigned long long)rep.bc_expected,
           (unsigned long long)rep.bc_delivered, rep.bc_seconds,
           rep.bc_seconds > 0 ? (double)rep.bc_delivered / rep.bc_seconds : 0.0);
    json_latency("latency_ms", &rep.bc_latency);
    printf("}");
    if (!rep.kill_done)
        return;
    printf(",\"kill_one\":{\"pid\":%d,\"rate\":%g,\"sent\":%llu,\"closed\":%u,\"reconnected\":%u,"
           "\"reconnect_failures\":%u,\"reconnect_failure\":\"%s\",\"reconnect_errors\":%u,"
           "\"reconnect_error\":\"%s\","
           "\"open_after\":%u,\"all_back_seconds\":%.3f,"
           "\"others\":{\"clients\":%u,\"expected\":%llu,\"delivered\":%llu,\"gaps\":%llu}",
           rep.killed_pid, opt.rate, (unsigned long long)rep.kill_sent, rep.kill_closed, rep.kill_reconnected,
           rep.kill_reconnect_failures, rep.kill_reconnect_failure ? rep.kill_reconnect_failure : "",
           rep.kill_reconnect_errors,
           rep.kill_reconnect_errno ? strerror(rep.kill_reconnect_errno) : "", rep.kill_open_after,
           rep.kill_all_back_s, rep.kill_unaffected,
           (unsigned long long)rep.kill_expected_unaffected,
           (unsigned long long)rep.kill_delivered_unaffected,
           (unsigned long long)rep.kill_gaps_unaffected);
    json_latency("latency_ms", &rep.kill_latency);
    json_latency("reconnect_ms", &rep.kill_reconnect);
    json_latency("handshake_ms", &rep.kill_handshake);
    printf("}");
}

static void print_json(void)
{
    double self_cpu = cpu_s(&rep.self_before, &rep.self_after);
    double server_cpu = cpu_s(&rep.server_connected, &rep.server_after);

    printf("{\"mode\":\"%s\",\"url\":", mode_name());
    json_string(opt.url);
    printf(",\"conns\":%u,\"size\":%zu", opt.conns, tpl.size);
    if (opt.mode != MODE_IDLE) {
        printf(",\"rate\":%g,\"duration_s\":%g,\"burst\":%u,\"window\":%u,\"rounds\":%u",
               opt.burst ? 0 : opt.rate, opt.burst ? 0 : opt.duration, opt.burst,
               opt.burst ? opt.window : 0, opt.burst ? opt.rounds : 0);
    }
    printf(",\"connect\":{\"opened\":%u,\"failed\":%u,\"seconds\":%.3f,\"error\":",
           rep.opened, rep.failed, rep.connect_s);
    if (rep.connect_error)
        json_string(rep.connect_error);
    else
        printf("null");
    printf("}");
    if (opt.mode == MODE_IDLE) {
        double per = idle_bytes_per_conn();
        printf(",\"procs\":%u,\"server_rss_kib\":{\"before\":%ld,\"connected\":%ld}", rep.procs,
               rep.server_before.rss_kib, rep.server_connected.rss_kib);
        if (per >= 0)
            printf(",\"rss_per_conn_bytes\":%.1f", per);
        else
            printf(",\"rss_per_conn_bytes\":null");
        print_idle_phases_json();
        if (rep.kernel_before.tcp_buffer_pages >= 0 && rep.kernel_after.tcp_buffer_pages >= 0)
            printf(",\"kernel_tcp_buffer_pages_delta\":%ld",
                   rep.kernel_after.tcp_buffer_pages - rep.kernel_before.tcp_buffer_pages);
        if (rep.kernel_before.slab_kib >= 0 && rep.kernel_after.slab_kib >= 0)
            printf(",\"kernel_slab_kib_delta\":%ld",
                   rep.kernel_after.slab_kib - rep.kernel_before.slab_kib);
    } else {
        printf(",\"probe\":{\"received\":%u,\"seconds\":%.3f}", rep.probed, rep.probe_s);
        printf(",\"offered\":%llu,\"offered_per_s\":%.1f,\"expected\":%llu,\"delivered\":%llu,"
               "\"delivered_per_s\":%.1f,\"delivery_seconds\":%.3f,\"backlog\":%llu,"
               "\"duplicates\":%llu,\"gaps\":%llu,\"unstamped\":%llu,\"foreign\":%llu,"
               "\"publisher_echoes\":%llu,\"send_failed\":%s,\"closed_during_run\":%u,"
               "\"close_reason\":",
               (unsigned long long)rep.offered, rep.offered_per_s,
               (unsigned long long)rep.expected, (unsigned long long)st.delivered,
               rep.delivered_per_s, rep.delivery_s,
               (unsigned long long)(rep.expected > st.delivered ? rep.expected - st.delivered : 0),
               (unsigned long long)st.duplicates, (unsigned long long)st.gaps,
               (unsigned long long)st.unstamped, (unsigned long long)st.foreign,
               (unsigned long long)st.publisher_echoes, rep.send_failed ? "true" : "false",
               st.closed_while_open);
        if (st.close_reason)
            json_string(st.close_reason);
        else
            printf("null");
        if (opt.burst && opt.mode == MODE_FANOUT) {
            printf(",\"round_delivered_per_s\":[");
            for (uint32_t r = 0; r < opt.rounds; r++)
                printf("%s%.1f", r ? "," : "", rep.round_per_s[r]);
            printf("]");
        }
        printf(",\"latency_ms\":{\"count\":%llu,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
               "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
               (unsigned long long)latency->count,
               latency->count ? ms(latency->sum / latency->count) : 0.0,
               ms(hist_quantile(latency, 0.5)), ms(hist_quantile(latency, 0.9)),
               ms(hist_quantile(latency, 0.99)), ms(hist_quantile(latency, 0.999)),
               ms(latency->count ? latency->max : 0));
        printf(",\"phase_seconds\":%.3f,\"loadgen\":{\"cpu_s\":%.3f,\"cpu_percent\":%.1f,"
               "\"reads\":%llu,\"bytes_per_read\":%.0f}",
               rep.phase_s, self_cpu, rep.phase_s > 0 ? 100 * self_cpu / rep.phase_s : 0,
               (unsigned long long)net.reads,
               net.reads ? (double)net.read_bytes / (double)net.reads : 0.0);
        if (rep.machine_before.ok && rep.machine_after.ok && rep.phase_s > 0) {
            double busy = rep.machine_after.busy_s - rep.machine_before.busy_s;
            double other = busy - self_cpu - (rep.server_after.ok ? server_cpu : 0);
            printf(",\"machine\":{\"busy_percent\":%.1f,\"other_percent\":%.1f,"
                   "\"steal_percent\":%.1f}",
                   100 * busy / rep.phase_s, 100 * (other > 0 ? other : 0) / rep.phase_s,
                   100 * (rep.machine_after.steal_s - rep.machine_before.steal_s) / rep.phase_s);
        }
    }
    if (opt.server_pid) {
        printf(",\"server\":{\"pid\":%d,\"ok\":%s", (int)opt.server_pid,
               rep.server_after.ok || opt.mode == MODE_IDLE ? "true" : "false");
        if (opt.mode != MODE_IDLE && rep.server_after.ok)
            printf(",\"cpu_s\":%.3f,\"cpu_percent\":%.1f", server_cpu,
                   rep.phase_s > 0 ? 100 * server_cpu / rep.phase_s : 0);
        if (opt.mode != MODE_IDLE && rep.core >= 0 && rep.core_before.ok && rep.core_after.ok)
            printf(",\"core\":{\"cpu\":%d,\"busy_s\":%.3f}", rep.core,
                   rep.core_after.busy_s - rep.core_before.busy_s);
        printf(",\"rss_kib_before\":%ld,\"rss_kib_connected\":%ld,\"rss_kib_after\":%ld,"
               "\"hwm_kib\":%ld}",
               rep.server_before.rss_kib, rep.server_connected.rss_kib,
               rep.server_after.ok ? rep.server_after.rss_kib : rep.server_connected.rss_kib,
               rep.server_after.ok ? rep.server_after.hwm_kib : rep.server_connected.hwm_kib);
    }
    printf(",\"timed_out\":%s}\n", rep.timed_out ? "true" : "false");
}

static void print_human(void)
{
    double self_cpu = cpu_s(&rep.self_before, &rep.self_after);
    double server_cpu = cpu_s(&rep.server_connected, &rep.server_after);

    printf("luahub-loadgen %s  %s  conns=%u  size=%zu B\n", mode_name(), opt.url, opt.conns,
           tpl.size);
    printf("  connect     %u opened, %u failed in %.3f s%s%s\n", rep.opened, rep.failed,
           rep.connect_s, rep.connect_error ? "  first error: " : "",
           rep.connect_error ? rep.connect_error : "");
    if (opt.mode == MODE_IDLE) {
        double per = idle_bytes_per_conn();
        printf("  processes   %u\n", rep.procs);
        if (opt.server_pid)
            printf("  server RSS  %ld KiB before, %ld KiB with %u connections -> %.0f B per "
                   "connection\n",
                   rep.server_before.rss_kib, rep.server_connected.rss_kib, rep.opened, per);
        if (rep.idle_error)
            printf("  ERROR       %s\n", rep.idle_error);
        if (opt.broadcast)
            printf("  broadcast   %llu messages at once: %llu of %llu delivered in %.3f s = %.0f/s, "
                   "latency ms p50 %.3f p99 %.3f max %.3f\n",
                   (unsigned long long)rep.bc_offered, (unsigned long long)rep.bc_delivered,
                   (unsigned long long)rep.bc_expected, rep.bc_seconds,
                   rep.bc_seconds > 0 ? (double)rep.bc_delivered / rep.bc_seconds : 0.0,
                   ms(hist_quantile(&rep.bc_latency, 0.5)), ms(hist_quantile(&rep.bc_latency, 0.99)),
                   ms(rep.bc_latency.count ? rep.bc_latency.max : 0));
        if (rep.kill_done)
            printf("  kill one    pid %d: %u connections closed, %u reconnected (p50 %.1f ms, p99 %.1f "
                   "ms; all back after %.3f s); the other %u got %llu of %llu messages, %llu gaps, "
                   "latency p99 %.3f ms\n",
                   rep.killed_pid, rep.kill_closed, rep.kill_reconnected,
                   ms(hist_quantile(&rep.kill_reconnect, 0.5)), ms(hist_quantile(&rep.kill_reconnect, 0.99)),
                   rep.kill_all_back_s, rep.kill_unaffected,
                   (unsigned long long)rep.kill_delivered_unaffected,
                   (unsigned long long)rep.kill_expected_unaffected,
                   (unsigned long long)rep.kill_gaps_unaffected, ms(hist_quantile(&rep.kill_latency, 0.99)));
        if (rep.kernel_before.slab_kib >= 0)
            printf("  kernel      TCP buffers %+ld pages, slab %+ld KiB (system-wide, both "
                   "ends; not in RSS)\n",
                   rep.kernel_after.tcp_buffer_pages - rep.kernel_before.tcp_buffer_pages,
                   rep.kernel_after.slab_kib - rep.kernel_before.slab_kib);
    } else {
        if (opt.mode == MODE_FANOUT)
            printf("  probe       %u subscribers ready in %.3f s\n", rep.probed, rep.probe_s);
        if (opt.burst)
            printf("  offered     %llu messages (%u x burst of %u, window %u)\n",
                   (unsigned long long)rep.offered, opt.mode == MODE_FANOUT ? opt.rounds : 1,
                   opt.burst, opt.window);
        else
            printf("  offered     %llu messages at %.1f/s\n", (unsigned long long)rep.offered,
                   rep.offered_per_s);
        printf("  delivered   %llu of %llu in %.3f s = %.0f msgs/s\n",
               (unsigned long long)st.delivered, (unsigned long long)rep.expected,
               rep.delivery_s, rep.delivered_per_s);
        printf("  backlog     %llu (drain %.1f s); duplicates %llu, gaps %llu, "
               "closed %u%s%s%s\n",
               (unsigned long long)(rep.expected > st.delivered ? rep.expected - st.delivered : 0),
               opt.drain, (unsigned long long)st.duplicates, (unsigned long long)st.gaps,
               st.closed_while_open, st.close_reason ? " (" : "",
               st.close_reason ? st.close_reason : "", st.close_reason ? ")" : "");
        if (rep.send_failed)
            printf("  SEND FAILED: a sender's connection closed or queued over 64 MiB\n");
        printf("  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  (%llu samples)\n",
               ms(hist_quantile(latency, 0.5)), ms(hist_quantile(latency, 0.9)),
               ms(hist_quantile(latency, 0.99)), ms(latency->count ? latency->max : 0),
               (unsigned long long)latency->count);
        printf("  loadgen     %.2f CPU s = %.0f%% of one core, %.0f B per read\n", self_cpu,
               rep.phase_s > 0 ? 100 * self_cpu / rep.phase_s : 0,
               net.reads ? (double)net.read_bytes / (double)net.reads : 0.0);
        if (rep.machine_before.ok && rep.machine_after.ok && rep.phase_s > 0) {
            double other = rep.machine_after.busy_s - rep.machine_before.busy_s - self_cpu -
                           (rep.server_after.ok ? server_cpu : 0);
            printf("  machine     other processes %.0f%% of one core, steal %.0f%%\n",
                   100 * (other > 0 ? other : 0) / rep.phase_s,
                   100 * (rep.machine_after.steal_s - rep.machine_before.steal_s) / rep.phase_s);
        }
        if (opt.server_pid && rep.server_after.ok)
            printf("  server      %.2f CPU s = %.0f%% of one core, RSS %ld -> %ld KiB "
                   "(peak %ld)\n",
                   server_cpu, rep.phase_s > 0 ? 100 * server_cpu / rep.phase_s : 0,
                   rep.server_before.rss_kib, rep.server_after.rss_kib,
                   rep.server_after.hwm_kib);
    }
    if (rep.timed_out)
        printf("  TIMED OUT (--timeout %.0f s)\n", opt.timeout);
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: luahub-loadgen [fanout|echo] [options]   (luahub-loadgen storm --help: storm.c)\n"
"  --url ws://127.0.0.1:PORT/ws   or --host H --port P --path /ws\n"
"  --subs N          subscriber (fanout) or client (echo, idle) connections [100]\n"
"  --rate R          messages/s (fanout: publisher; echo: all clients together)\n"
"  --duration S      seconds of sending at --rate [10]\n"
"  --burst K         fanout: K messages as fast as the window allows; echo: K each\n"
"  --window W        messages not yet delivered at any time [1000]\n"
"  --rounds R        fanout: repeat the burst R times, each drained first [1]\n"
"  --size BYTES      message size [64]\n"
"  --template T      message text with %%s where stamp and padding go\n"
"  --join TEXT       text each subscriber sends once connected (e.g. a room join)\n"
"  --sources A-B     source addresses to bind, e.g. 127.0.0.1-127.0.0.4 or a,b,c\n"
"  --pid P[,P...]    server process(es): CPU from /proc/P/stat, RSS from /proc/P/status\n"
"                    (several: the sums, e.g. the workers of luahub --workers; one\n"
"                    pinned to a single CPU: that CPU's busy time too, server.core)\n"
"  --idle            connect N, hold, report server RSS per connection\n"
"  --procs P         idle: processes sharing the connections [ceil(N/10000)]\n"
"  --settle S        idle: wait up to S s for the server's RSS to settle [2]\n"
"  --hold S          idle: keep the connections S s more before closing [0]\n"
"  --broadcast K     idle: then publish K stamped messages at once from one more\n"
"                    connection; every held connection times them\n"
"  --reconnect       idle: open again at once a connection the server closes\n"
"  --kill-one        idle, after --broadcast: SIGKILL one --pid process that does not\n"
"                    hold the publisher, publish at --rate for --duration s, wait for\n"
"                    the reconnects (implies --reconnect)\n"
"  --concurrency C   connects in flight [256]\n"
"  --drain S         give up waiting for deliveries after S s without one [5]\n"
"  --connect-timeout S  [60]   --probe-timeout S  [10]\n"
"  --timeout S       hard limit for the whole run [300]\n"
"  --no-rst          close gracefully (default: RST, leaving no TIME_WAIT)\n"
"  --json            print one JSON object\n"
"  --free-port       print a free loopback TCP port and exit\n");
}

static void parse_sources(const char *spec)
{
    const char *err = cli_parse_sources(spec, opt.sources, &opt.nsources);

    if (err)
        die("--sources '%s': %s", spec, err);
}

static void parse_url(const char *url)
{
    static struct cli_url u;
    const char *err = cli_parse_url(url, &u);

    if (err)
        die("--url %s: %s", url, err);
    opt.host = u.host;
    opt.port = u.port;
    opt.path = u.path;
}

static double parse_number(const char *name, const char *s)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end || v < 0)
        die("%s: not a non-negative number: '%s'", name, s);
    return v;
}

static void parse_pids(const char *spec)
{
    char buf[512], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        if (opt.npids == MAX_PIDS)
            die("--pid: at most %d processes", MAX_PIDS);
        pid_t pid = (pid_t)parse_number("--pid", part);
        if (pid <= 0)
            die("--pid: '%s' is not a process id", part);
        opt.server_pids[opt.npids++] = pid;
    }
    opt.server_pid = opt.npids ? opt.server_pids[0] : 0;
}

static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "url", 1, 0, 'u' }, { "host", 1, 0, 'H' }, { "port", 1, 0, 'P' },
        { "path", 1, 0, 'A' }, { "subs", 1, 0, 'n' }, { "rate", 1, 0, 'r' },
        { "duration", 1, 0, 'd' }, { "burst", 1, 0, 'b' }, { "window", 1, 0, 'w' },
        { "size", 1, 0, 's' }, { "sources", 1, 0, 'S' }, { "pid", 1, 0, 'p' },
        { "idle", 0, 0, 'i' }, { "json", 0, 0, 'j' }, { "timeout", 1, 0, 't' },
        { "drain", 1, 0, 'D' }, { "concurrency", 1, 0, 'c' }, { "procs", 1, 0, 'N' },
        { "join", 1, 0, 'J' }, { "template", 1, 0, 'T' }, { "settle", 1, 0, 'E' },
        { "hold", 1, 0, 'O' }, { "rounds", 1, 0, 'o' }, { "connect-timeout", 1, 0, 'C' },
        { "probe-timeout", 1, 0, 'R' }, { "no-rst", 0, 0, 'X' },
        { "broadcast", 1, 0, 'B' }, { "reconnect", 0, 0, 'Y' }, { "kill-one", 0, 0, 'K' },
        { "free-port", 0, 0, 'F' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
    };
    int ch, idle = 0;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u': opt.url = optarg; break;
        case 'H': opt.host = optarg; break;
        case 'P': opt.port = (int)parse_number("--port", optarg); break;
        case 'A': opt.path = optarg; break;
        case 'n': opt.conns = (uint32_t)parse_number("--subs", optarg); break;
        case 'r': opt.rate = parse_number("--rate", optarg); break;
        case 'd': opt.duration = parse_number("--duration", optarg); break;
        case 'b': opt.burst = (uint32_t)parse_number("--burst", optarg); break;
        case 'w': opt.window = (uint32_t)parse_number("--window", optarg); break;
        case 's': opt.size = (size_t)parse_number("--size", optarg); break;
        case 'S': parse_sources(optarg); break;
        case 'p': parse_pids(optarg); break;
        case 'B': opt.broadcast = (uint32_t)parse_number("--broadcast", optarg); break;
        case 'Y': opt.reconnect = 1; break;
        case 'K': opt.kill_one = opt.reconnect = 1; break;
        case 'i': idle = 1; break;
        case 'j': opt.json = 1; break;
        case 't': opt.timeout = parse_number("--timeout", optarg); break;
        case 'D': opt.drain = parse_number("--drain", optarg); break;
        case 'c': opt.concurrency = (uint32_t)parse_number("--concurrency", optarg); break;
        case 'N': opt.procs = (uint32_t)parse_number("--procs", optarg); break;
        case 'J': opt.join = optarg; break;
        case 'T': opt.template = optarg; break;
        case 'E': opt.settle = parse_number("--settle", optarg); break;
        case 'o': opt.rounds = (uint32_t)parse_number("--rounds", optarg); break;
        case 'O': opt.hold = parse_number("--hold", optarg); break;
        case 'C': opt.connect_timeout = parse_number("--connect-timeout", optarg); break;
        case 'R': opt.probe_timeout = parse_number("--probe-timeout", optarg); break;
        case 'X': opt.rst = 0; break;
        case 'F': {
            struct sockaddr_in a = { .sin_family = AF_INET };
            socklen_t len = sizeof(a);
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
                getsockname(fd, (struct sockaddr *)&a, &len) != 0)
                die("--free-port: %s", strerror(errno));
            printf("%d\n", ntohs(a.sin_port));
            exit(0);
        }
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind], "fanout") == 0)
            opt.mode = MODE_FANOUT;
        else if (strcmp(argv[optind], "echo") == 0)
            opt.mode = MODE_ECHO;
        else
            die("unknown mode '%s' (fanout, echo)", argv[optind]);
        if (optind + 1 < argc)
            die("unexpected argument '%s'", argv[optind + 1]);
    }
    if (idle)
        opt.mode = MODE_IDLE;
    if (opt.url)
        parse_url(opt.url);
    if (!opt.host)
        opt.host = "127.0.0.1";
    if (opt.port <= 0 || opt.port > 65535)
        die("give --url ws://127.0.0.1:PORT/ws or --port");
    if (opt.conns == 0)
        die("--subs must be at least 1");
    if (opt.mode != MODE_IDLE && !opt.burst && opt.rate <= 0)
        die("give --rate R (with --duration S) or --burst K");
    if ((opt.broadcast || opt.reconnect) && opt.mode != MODE_IDLE)
        die("--broadcast, --reconnect and --kill-one go with --idle");
    if (opt.kill_one && (!opt.broadcast || opt.npids < 2 || opt.rate <= 0))
        die("--kill-one needs --broadcast, --rate and at least two --pid processes");
    if (opt.burst && opt.window == 0)
        die("--window must be at least 1");
    if (opt.rounds == 0 || opt.rounds > MAX_ROUNDS)
        die("--rounds must be 1..%d", MAX_ROUNDS);
    if (opt.concurrency == 0)
        opt.concurrency = 1;
}

int main(int argc, char **argv)
{
    static char url_buf[512];
    rlim_t fd_limit;

    if (argc > 1 && strcmp(argv[1], "storm") == 0)
        return storm_main(argc - 1, argv + 1);
    fd_limit = cli_raise_fd_limit();

    parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(opt.host, "localhost") == 0)
        opt.host = "127.0.0.1";
    net.target.sin_family = AF_INET;
    net.target.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &net.target.sin_addr) != 1)
        die("host must be an IPv4 address (loopback): %s", opt.host);
    snprintf(net.host_header, sizeof(net.host_header), "%s:%d", opt.host, opt.port);
    snprintf(net.path, sizeof(net.path), "%s", opt.path);
    if (!opt.url) {
        snprintf(url_buf, sizeof(url_buf), "ws://%s%s", net.host_header, opt.path);
        opt.url = url_buf;
    }
    net.sources = opt.nsources ? opt.sources : NULL;
    net.nsources = opt.nsources;
    net.rst_on_close = opt.rst;
    net.cb.open = on_open;
    net.cb.closed = on_closed;
    net.cb.message = on_message;

    nclients = opt.conns + (opt.mode == MODE_FANOUT || opt.broadcast ? 1 : 0);
    if (opt.mode != MODE_IDLE && nclients + FD_RESERVE > fd_limit)
        die("%u connections need more than this process's %llu file descriptors; "
            "use at most %llu (idle mode spreads over processes)",
            nclients, (unsigned long long)fd_limit,
            (unsigned long long)(fd_limit - FD_RESERVE - 1));
    if (opt.mode == MODE_IDLE) {
        uint32_t procs = opt.procs ? opt.procs : (opt.conns + 9999) / 10000;
        if (procs > MAX_PROCS || (uint64_t)opt.conns / (procs ? procs : 1) + FD_RESERVE > fd_limit)
            die("--idle: %u connections over %u processes exceed %llu descriptors each",
                opt.conns, procs, (unsigned long long)fd_limit);
    }
    clients = calloc(nclients, sizeof(*clients));
    if (!clients)
        die("out of memory for %u connections", nclients);
    if (payload_template_init(&tpl, opt.template, opt.size) != 0)
        die("--template must contain %%s");
    frame_buf = malloc(PUBLISH_BATCH * (tpl.size + WSFRAME_HEADER_MAX));
    if (!frame_buf)
        die("out of memory");
    hist_init(latency);
    deadline_ns = client_clock_ns() + (uint64_t)(opt.timeout * 1e9);
    if (opt.server_pid) {
        read_server(&rep.server_before);
        if (!rep.server_before.ok)
            die("--pid %d: cannot read /proc/%d", (int)opt.server_pid, (int)opt.server_pid);
    }

    if (opt.mode == MODE_IDLE) {
        run_idle();
    } else {
        net.epfd = epoll_create1(EPOLL_CLOEXEC);
        if (net.epfd < 0)
            die("epoll_create1: %s", strerror(errno));
        if (opt.mode == MODE_FANOUT)
            run_fanout();
        else
            run_echo();
        close_all();
    }
    if (opt.json)
        print_json();
    else
        print_human();
    return rep.timed_out || rep.opened == 0 ? 3 : 0;
}
