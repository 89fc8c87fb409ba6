/* storm.c — luahub-loadgen storm: a reconnection storm against the room protocol
 * (docs/protocol.md), next to a plain fan-out to the same subscribers.
 *
 *   1. a publisher makes one publication to --room (a room in use), then --subs
 *      N subscribers connect and subscribe to it; each notes its position (the
 *      room's {epoch, offset}).
 *   2. live: a publisher sends --publications M publish commands at once; every
 *      subscriber must get the M pushes, in offset order, each once.
 *   3. the subscribers lose their connection: --cut (the loadgen drops them) or
 *      --restart (SIGTERM to the server named by --pid-file; the script that
 *      started it starts it again and writes the new PID to that file once it
 *      is ready).
 *   4. a second publisher (--publish-url: another node, when the server is
 *      down) publishes M more, and waits for their acks.
 *   5. storm: all N reconnect at once, connect, and subscribe since their
 *      position; each reply must say recovered, carry exactly the M missed
 *      publications in order (the right data at the right offset), and leave the
 *      client at the room's position.
 *
 * Any deviation fails the run (exit 4, "ok": false and the first failure in the
 * JSON). Every phase is bounded by --phase-timeout, the run by --timeout. */
#include "storm.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "hist.h"
#include "payload.h"
#include "pframe.h"
#include "procstat.h"

#define ID_CONNECT 1
#define ID_SUBSCRIBE 2
#define ID_PRIME 999                /* the publication made before anyone subscribes */
#define ID_PUBLISH 1000             /* + the publication's sequence number */
#define WHOLE_MAX (4u << 20)        /* a subscribe reply with every missed publication */
#define EPOCH_MAX 128
#define FD_RESERVE 64

enum stage { SUB_IDLE, SUB_CONNECTING, SUB_SUBSCRIBING, SUB_SUBSCRIBED };
enum phase { PH_SUBSCRIBE, PH_LIVE, PH_CUT, PH_MISSED, PH_STORM, PH_DONE };

struct sub {
    uint64_t position;              /* offset of the last publication taken */
    uint64_t start_ns;              /* storm: when its connect() was made */
    uint8_t stage;
};

/* One measured phase: deliveries over first send (or connect) to last delivery,
 * and what the processes spent meanwhile. */
struct measure {
    uint64_t start_ns, last_ns, deliveries;
    uint64_t reads;                 /* the loadgen's read()s of the server's bytes */
    struct procstat server_before, server_after, broker_before, broker_after;
    struct procstat self_before, self_after;
    struct machine_cpu machine_before, machine_after;
    struct hist latency;            /* live: publish to push; storm: reconnect to reply */
};

static struct {
    struct cli_url url, publish_url;
    const char *url_text, *publish_url_text, *room, *pid_file;
    uint32_t subs, publications;
    size_t size;
    int restart, json;
    pid_t broker_pid;
    double timeout, phase_timeout;
    struct in_addr sources[CLI_MAX_SOURCES];
    unsigned nsources;
} opt = { .room = "storm", .subs = 1000, .publications = 100, .size = 64, .timeout = 180,
          .phase_timeout = 60 };

static struct client_net net_a, net_b;     /* the server, and the missed publisher's node */
static struct client *clients;             /* subs, then the live and the missed publisher */
static struct sub *subs;
static struct client *live_pub, *missed_pub;
static struct payload_template tpl;
static enum phase phase;
static uint64_t deadline_ns;
static pid_t server_pid;

static char epoch[EPOCH_MAX];               /* the room's, as the first reply gave it */
static uint64_t room_position;              /* before the live publications */
static uint32_t subscribed, recovered, closed_subs, acks, connect_replies, primed;
static uint64_t dropped_by_offset;          /* pushes at or below a client's position */
static uint64_t restart_ns, restart_seconds_ns, all_open_ns;
static uint32_t opened_in_storm;
static struct measure live, storm;
static char failure[512];

#define die(...) cli_die("luahub-loadgen storm", __VA_ARGS__)

/* Records the first thing that went wrong (every loop stops on it); returns -1. */
__attribute__((format(printf, 1, 2)))
static int fail(const char *fmt, ...)
{
    va_list ap;

    if (failure[0])
        return -1;
    va_start(ap, fmt);
    vsnprintf(failure, sizeof(failure), fmt, ap);
    va_end(ap);
    return -1;
}

static uint32_t sub_index(const struct client *c) { return (uint32_t)(c - clients); }
static int is_sub(const struct client *c) { return sub_index(c) < opt.subs; }

/* ---- frames sent ----------------------------------------------------------- */

static void send_text(struct client_net *n, struct client *c, const char *text, size_t len)
{
    if (client_send_frame(n, c, WSFRAME_OP_TEXT, (const uint8_t *)text, len) != 0)
        fail("conn %u: a send failed", c->id);
}

static void send_subscribe(struct client_net *n, struct client *c)
{
    char cmd[512];
    int len;

    if (phase == PH_STORM)
        len = snprintf(cmd, sizeof(cmd),
                       "{\"op\":\"subscribe\",\"id\":%d,\"room\":\"%s\","
                       "\"since\":{\"epoch\":\"%s\",\"offset\":%llu}}",
                       ID_SUBSCRIBE, opt.room, epoch,
                       (unsigned long long)subs[sub_index(c)].position);
    else
        len = snprintf(cmd, sizeof(cmd), "{\"op\":\"subscribe\",\"id\":%d,\"room\":\"%s\"}",
                       ID_SUBSCRIBE, opt.room);
    subs[sub_index(c)].stage = SUB_SUBSCRIBING;
    send_text(n, c, cmd, (size_t)len);
}

/* M publish commands in one write; publication i is {"s": stamp} with sequence
 * number i and the publisher's id in the stamp, so a subscriber can tell which it
 * got. (An object: luahub.protocol takes a string's contents for JSON text.) */
static void publish_all(struct client_net *n, struct client *c)
{
    size_t per = tpl.size + 128 + WSFRAME_HEADER_MAX, len = 0;
    uint8_t *buf = malloc(per * opt.publications), *cmd = malloc(per);
    uint64_t now = client_clock_ns();

    if (!buf || !cmd)
        die("out of memory");
    for (uint32_t i = 0; i < opt.publications; i++) {
        int head = snprintf((char *)cmd, per, "{\"op\":\"publish\",\"id\":%u,\"room\":\"%s\",\"data\":{\"s\":\"",
                            ID_PUBLISH + i, opt.room);
        payload_write(&tpl, cmd + head, now, i, c->id);
        memcpy(cmd + head + tpl.size, "\"}}", 3);
        len += wsframe_encode_masked(buf + len, WSFRAME_OP_TEXT, cmd, (size_t)head + tpl.size + 3,
                                     client_mask_key());
    }
    if (client_send(n, c, buf, len) != 0)
        fail("publisher %u: the publications could not be sent", c->id);
    free(buf);
    free(cmd);
}

/* ---- frames received ------------------------------------------------------- */

static int same_epoch(struct pframe_span e)
{
    return e.len == strlen(epoch) && memcmp(e.p, epoch, e.len) == 0;
}

/* Whether `data` is publication `seq` of publisher `source` (the offset says which
 * it must be: the phase's first publication follows `base`). */
static int data_is(struct pframe_span data, uint64_t offset, uint64_t base, uint32_t source)
{
    uint64_t sent_ns;
    uint32_t seq, from;

    return payload_find(data.p, data.len, &sent_ns, &seq, &from) == 0 && from == source &&
           offset > base && seq == offset - base - 1;
}

static int on_subscribed(struct client *c, const struct pframe *f)
{
    struct sub *s = &subs[sub_index(c)];

    if (!f->has_offset || !f->epoch.len || f->epoch.len >= EPOCH_MAX)
        return fail("conn %u: a subscribe result without a position", c->id);
    if (phase == PH_SUBSCRIBE) {
        if (!epoch[0]) {
            memcpy(epoch, f->epoch.p, f->epoch.len);
            room_position = f->offset;
        }
        if (!same_epoch(f->epoch) || f->offset != room_position)
            return fail("conn %u: subscribed at %.*s/%llu, others at %s/%llu", c->id,
                        (int)f->epoch.len, f->epoch.p, (unsigned long long)f->offset, epoch,
                        (unsigned long long)room_position);
        s->position = f->offset;
        s->stage = SUB_SUBSCRIBED;
        subscribed++;
        return 0;
    }
    /* The storm: everything since the position, once, in order, nothing more. */
    uint64_t missed_base = room_position + opt.publications;
    uint64_t now_expected = missed_base + opt.publications, offset;
    struct pframe_cursor cur;
    struct pframe_span data;
    uint32_t got = 0;
    int rc;

    if (f->recovered != 1)
        return fail("conn %u: subscribe since %llu was not recovered", c->id,
                    (unsigned long long)s->position);
    if (!same_epoch(f->epoch) || f->offset != now_expected)
        return fail("conn %u: the room is at %.*s/%llu after the storm, not %s/%llu", c->id,
                    (int)f->epoch.len, f->epoch.p, (unsigned long long)f->offset, epoch,
                    (unsigned long long)now_expected);
    if (!f->pubs.p)
        return fail("conn %u: a recovery without publications", c->id);
    pframe_pubs_begin(&cur, f->pubs);
    while ((rc = pframe_pubs_next(&cur, &offset, &data)) == 1) {
        if (offset != s->position + 1)
            return fail("conn %u: recovered offset %llu after %llu", c->id,
                        (unsigned long long)offset, (unsigned long long)s->position);
        if (!data_is(data, offset, missed_base, missed_pub->id))
            return fail("conn %u: recovered offset %llu carries the wrong data", c->id,
                        (unsigned long long)offset);
        s->position = offset;
        got++;
    }
    if (rc < 0 || got != opt.publications)
        return fail("conn %u: recovered %u publications of %u%s", c->id, got, opt.publications,
                    rc < 0 ? " (a malformed entry)" : "");
    s->stage = SUB_SUBSCRIBED;
    recovered++;
    storm.deliveries += got;
    storm.last_ns = net_a.now_ns;
    hist_record(&storm.latency, net_a.now_ns - s->start_ns);
    return 0;
}

static int on_publication(struct client *c, const struct pframe *f)
{
    struct sub *s = &subs[sub_index(c)];
    uint64_t sent_ns;
    uint32_t seq, from;

    if (!f->has_offset || !same_epoch(f->epoch) || !f->data.p)
        return fail("conn %u: a publication push without its position or data", c->id);
    if (f->offset <= s->position) {      /* the protocol's rule: already taken, dropped */
        dropped_by_offset++;
        return 0;
    }
    if (phase != PH_LIVE || s->stage != SUB_SUBSCRIBED)
        return fail("conn %u: a push of offset %llu outside the live phase", c->id,
                    (unsigned long long)f->offset);
    if (f->offset != s->position + 1)
        return fail("conn %u: push of offset %llu after %llu (a gap)", c->id,
                    (unsigned long long)f->offset, (unsigned long long)s->position);
    if (!data_is(f->data, f->offset, room_position, live_pub->id))
        return fail("conn %u: offset %llu carries the wrong data", c->id,
                    (unsigned long long)f->offset);
    payload_find(f->data.p, f->data.len, &sent_ns, &seq, &from);
    s->position = f->offset;
    live.deliveries++;
    live.last_ns = net_a.now_ns;
    hist_record(&live.latency, net_a.now_ns > sent_ns ? net_a.now_ns - sent_ns : 0);
    return 0;
}

static int on_ack(struct client *c, const struct pframe *f)
{
    uint64_t seq = (uint64_t)f->id - ID_PUBLISH;
    uint64_t base = c == live_pub ? room_position : room_position + opt.publications;

    if (seq >= opt.publications || !f->has_offset || !same_epoch(f->epoch) ||
        f->offset != base + 1 + seq)
        return fail("publisher %u: publication %llu stored at %.*s/%llu, expected %s/%llu",
                    c->id, (unsigned long long)seq, (int)f->epoch.len, f->epoch.p,
                    (unsigned long long)f->offset, epoch, (unsigned long long)(base + 1 + seq));
    acks++;
    return 0;
}

static int on_message(struct client_net *n, struct client *c, int opcode, const uint8_t *head,
                      size_t head_len, uint64_t message_len)
{
    struct pframe f;

    if (head_len != message_len) {
        fail("conn %u: a frame of %llu bytes, over %u", c->id, (unsigned long long)message_len,
             WHOLE_MAX);
        return 0;
    }
    if (pframe_parse(head, head_len, &f) != 0) {
        fail("conn %u: a frame that is not a JSON object: %.*s", c->id,
             (int)(head_len < 200 ? head_len : 200), head);
        return 0;
    }
    switch (f.kind) {
    case PFRAME_RESULT:
        if (f.id == ID_CONNECT) {
            if (is_sub(c))
                send_subscribe(n, c);
            else
                connect_replies++;
        } else if (f.id == ID_SUBSCRIBE && is_sub(c) && subs[sub_index(c)].stage == SUB_SUBSCRIBING) {
            on_subscribed(c, &f);
        } else if (f.id == ID_PRIME && c == live_pub) {
            primed = 1;
        } else if (f.id >= ID_PUBLISH && !is_sub(c)) {
            on_ack(c, &f);
        } else {
            fail("conn %u: a reply to request %lld it did not make", c->id, (long long)f.id);
        }
        break;
    case PFRAME_PUB:
        if (is_sub(c))
            on_publication(c, &f);
        break;
    case PFRAME_ERROR:
        fail("conn %u: error \"%.*s\" to request %lld", c->id, (int)f.code.len,
             f.code.p ? (const char *)f.code.p : "", (long long)f.id);
        break;
    default:
        fail("conn %u: a frame the room protocol does not send: %.*s", c->id,
             (int)(head_len < 120 ? head_len : 120), head);
    }
    return c->state == CLIENT_OPEN ? 0 : 1;
}

static void on_open(struct client_net *n, struct client *c)
{
    static const char connect[] = "{\"op\":\"connect\",\"id\":1,\"version\":1,\"name\":\"storm\"}";

    if (is_sub(c)) {
        subs[sub_index(c)].stage = SUB_CONNECTING;
        if (phase == PH_STORM && ++opened_in_storm == opt.subs)
            all_open_ns = n->now_ns;
    }
    send_text(n, c, connect, sizeof(connect) - 1);
}

static void on_closed(struct client_net *n, struct client *c, int was_open, const char *why)
{
    int expected = phase == PH_CUT && (is_sub(c) || (c == live_pub && opt.restart));

    if (expected) {
        if (is_sub(c))
            closed_subs++;
        return;
    }
    if (phase != PH_DONE)
        fail("conn %u %s: %s", c->id, was_open ? "closed" : "did not open", why);
}

/* ---- the loop ------------------------------------------------------------ */

/* One epoll set for both networks: a client's network is the server's, but for
 * the missed publisher's. */
static int epfd = -1;

static void loop_once(int timeout_ms)
{
    static struct epoll_event events[1024];
    int k = epoll_wait(epfd, events, 1024, timeout_ms);

    for (int i = 0; i < k; i++) {
        struct client *c = events[i].data.ptr;
        client_handle(c == missed_pub ? &net_b : &net_a, c, events[i].events);
    }
    net_a.now_ns = net_b.now_ns = client_clock_ns();
}

/* Runs the loop until done() or a failure, bounded by the phase timeout and the
 * run's deadline. Returns 0 when done() became true. */
static int run_until(int (*done)(void), const char *what)
{
    uint64_t until = client_clock_ns() + (uint64_t)(opt.phase_timeout * 1e9);

    while (!done()) {
        if (failure[0])
            return -1;
        uint64_t now = client_clock_ns();
        if (now >= until || now >= deadline_ns)
            return fail("%s: not done within %.0f s", what, opt.phase_timeout);
        loop_once(5);
    }
    return failure[0] ? -1 : 0;
}

static int live_delivered(void)
{
    return live.deliveries == (uint64_t)opt.subs * opt.publications && acks == opt.publications;
}
static int subs_gone(void)
{
    return closed_subs == opt.subs && (!opt.restart || live_pub->state != CLIENT_OPEN);
}
static int missed_acked(void) { return acks == opt.publications; }
static int all_recovered(void) { return recovered == opt.subs; }

static pid_t read_pid_file(void)
{
    FILE *f = fopen(opt.pid_file, "r");
    long pid = 0;

    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return (pid_t)pid;
}

/* --restart: the script restarts the server and names the new process in the pid
 * file once it is ready; polled, bounded by the phase timeout. */
static int wait_restarted(void)
{
    uint64_t until = client_clock_ns() + (uint64_t)(opt.phase_timeout * 1e9);

    for (;;) {
        pid_t pid = read_pid_file();
        if (pid > 0 && pid != server_pid && kill(pid, 0) == 0) {
            server_pid = pid;
            restart_seconds_ns = client_clock_ns() - restart_ns;
            return 0;
        }
        if (client_clock_ns() >= until || client_clock_ns() >= deadline_ns)
            return fail("the server was not restarted within %.0f s (%s)", opt.phase_timeout,
                        opt.pid_file);
        usleep(10000);
    }
}

static void measure_begin(struct measure *m)
{
    if (server_pid)
        procstat_read(server_pid, &m->server_before);
    if (opt.broker_pid)
        procstat_read(opt.broker_pid, &m->broker_before);
    procstat_self(&m->self_before);
    procstat_machine(&m->machine_before);
    m->reads = net_a.reads;
    m->start_ns = client_clock_ns();
}

static void measure_end(struct measure *m)
{
    if (server_pid)
        procstat_read(server_pid, &m->server_after);
    if (opt.broker_pid)
        procstat_read(opt.broker_pid, &m->broker_after);
    procstat_self(&m->self_after);
    procstat_machine(&m->machine_after);
    m->reads = net_a.reads - m->reads;
}

static int connect_one(struct client_net *n, struct client *c, uint32_t id)
{
    int rc = client_connect(n, c, id, id);

    if (rc < 0)
        fail("conn %u: connect: %s", id, strerror(-rc));
    return rc;
}

static int publishers_connected(void) { return connect_replies == 2; }
static int room_primed(void) { return primed; }

/* Opens the two publishers, makes one publication (a room in use: with the memory
 * history, a room that never had one gets a new epoch whenever it is swept, so the
 * subscribers' positions would not all be one), then the subscribers, at most 256
 * handshakes in flight: setting up is not what is measured. */
static int set_up(void)
{
    char cmd[512];
    uint32_t next = 0;
    uint64_t until;

    if (connect_one(&net_a, live_pub, opt.subs) < 0 ||
        connect_one(&net_b, missed_pub, opt.subs + 1) < 0 ||
        run_until(publishers_connected, "the publishers' connect") != 0)
        return -1;
    send_text(&net_a, live_pub, cmd,
              (size_t)snprintf(cmd, sizeof(cmd),
                               "{\"op\":\"publish\",\"id\":%d,\"room\":\"%s\",\"data\":{\"primed\":true}}",
                               ID_PRIME, opt.room));
    if (run_until(room_primed, "the first publication") != 0)
        return -1;
    until = client_clock_ns() + (uint64_t)(opt.phase_timeout * 1e9);
    while (subscribed < opt.subs && !failure[0]) {
        uint32_t in_flight = next - subscribed;
        while (next < opt.subs && in_flight < 256) {
            if (connect_one(&net_a, &clients[next], next) < 0)
                return -1;
            next++;
            in_flight++;
        }
        if (client_clock_ns() >= until)
            return fail("set-up: %u of %u subscribed within %.0f s", subscribed, opt.subs,
                        opt.phase_timeout);
        loop_once(5);
    }
    return failure[0] ? -1 : 0;
}

static void run(void)
{
    if (set_up() != 0)
        return;

    phase = PH_LIVE;
    hist_init(&live.latency);
    measure_begin(&live);
    publish_all(&net_a, live_pub);
    if (run_until(live_delivered, "live fan-out") != 0)
        return;
    measure_end(&live);

    phase = PH_CUT;
    restart_ns = client_clock_ns();
    if (opt.restart) {
        if (kill(server_pid, SIGTERM) != 0) {
            fail("SIGTERM to the server %d: %s", (int)server_pid, strerror(errno));
            return;
        }
    } else {
        for (uint32_t i = 0; i < opt.subs; i++)
            client_close(&net_a, &clients[i], "cut by the storm");
    }
    if (run_until(subs_gone, "losing the subscribers") != 0)
        return;

    phase = PH_MISSED;
    acks = 0;
    publish_all(&net_b, missed_pub);
    if (run_until(missed_acked, "the missed publications") != 0)
        return;
    if (opt.restart && wait_restarted() != 0)
        return;

    phase = PH_STORM;
    hist_init(&storm.latency);
    measure_begin(&storm);
    for (uint32_t i = 0; i < opt.subs; i++) {
        subs[i].start_ns = client_clock_ns();
        if (connect_one(&net_a, &clients[i], i) < 0)
            return;
    }
    if (run_until(all_recovered, "the storm") != 0)
        return;
    measure_end(&storm);
}

/* ---- the report ------------------------------------------------------------ */

static double cpu_s(const struct procstat *a, const struct procstat *b)
{
    return a->ok && b->ok ? (b->user_s + b->sys_s) - (a->user_s + a->sys_s) : -1;
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

/* First send (or reconnect) to the last delivery; 0 when nothing was delivered. */
static double seconds_of(const struct measure *m)
{
    return m->last_ns > m->start_ns ? (double)(m->last_ns - m->start_ns) / 1e9 : 0;
}

static void print_measure(const char *name, const struct measure *m)
{
    double seconds = seconds_of(m);
    double server = cpu_s(&m->server_before, &m->server_after);
    double broker = cpu_s(&m->broker_before, &m->broker_after);
    double self = cpu_s(&m->self_before, &m->self_after);

    printf(",\"%s\":{\"deliveries\":%llu,\"seconds\":%.6f,\"delivered_per_s\":%.1f", name,
           (unsigned long long)m->deliveries, seconds,
           seconds > 0 ? (double)m->deliveries / seconds : 0.0);
    printf(",\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
           ms(hist_quantile(&m->latency, 0.5)), ms(hist_quantile(&m->latency, 0.9)),
           ms(hist_quantile(&m->latency, 0.99)), ms(m->latency.count ? m->latency.max : 0));
    if (server >= 0)
        printf(",\"server_cpu_s\":%.4f,\"server_us_per_delivery\":%.4f", server,
               m->deliveries ? server * 1e6 / (double)m->deliveries : 0.0);
    if (broker >= 0)
        printf(",\"broker_cpu_s\":%.4f,\"broker_us_per_delivery\":%.4f", broker,
               m->deliveries ? broker * 1e6 / (double)m->deliveries : 0.0);
    printf(",\"loadgen_cpu_s\":%.4f,\"loadgen_reads\":%llu", self, (unsigned long long)m->reads);
    if (m->machine_before.ok && m->machine_after.ok && seconds > 0) {
        double other = m->machine_after.busy_s - m->machine_before.busy_s - self -
                       (server > 0 ? server : 0) - (broker > 0 ? broker : 0);
        printf(",\"other_cpu_percent\":%.1f", 100 * (other > 0 ? other : 0) / seconds);
    }
    printf("}");
}

static void print_json(void)
{
    printf("{\"mode\":\"storm\",\"how\":\"%s\",\"subs\":%u,\"publications\":%u,\"size\":%zu,"
           "\"ok\":%s,\"failure\":",
           opt.restart ? "restart" : "cut", opt.subs, opt.publications, tpl.size,
           failure[0] ? "false" : "true");
    if (failure[0]) {
        putchar('"');
        for (const char *s = failure; *s; s++) {
            if (*s == '"' || *s == '\\')
                putchar('\\');
            putchar((unsigned char)*s < 0x20 ? '?' : *s);
        }
        putchar('"');
    } else {
        printf("null");
    }
    printf(",\"epoch\":\"%s\",\"subscribed\":%u,\"recovered\":%u,\"dropped_by_offset\":%llu",
           epoch, subscribed, recovered, (unsigned long long)dropped_by_offset);
    print_measure("live", &live);
    print_measure("storm", &storm);
    printf(",\"storm_all_open_seconds\":%.6f,\"restart_seconds\":%.3f}\n",
           all_open_ns > storm.start_ns ? (double)(all_open_ns - storm.start_ns) / 1e9 : 0.0,
           (double)restart_seconds_ns / 1e9);
}

static void print_human(void)
{
    double live_s = seconds_of(&live), storm_s = seconds_of(&storm);

    printf("luahub-loadgen storm (%s)  %u subscribers, %u publications of %zu B\n",
           opt.restart ? "restart" : "cut", opt.subs, opt.publications, tpl.size);
    if (failure[0])
        printf("  FAILED      %s\n", failure);
    printf("  live        %llu deliveries in %.3f s = %.0f/s, p99 %.2f ms\n",
           (unsigned long long)live.deliveries, live_s,
           live_s > 0 ? (double)live.deliveries / live_s : 0.0,
           ms(hist_quantile(&live.latency, 0.99)));
    printf("  storm       %u of %u recovered in %.3f s = %.0f publications/s; per client "
           "p50 %.1f ms, p99 %.1f ms\n",
           recovered, opt.subs, storm_s, storm_s > 0 ? (double)storm.deliveries / storm_s : 0.0,
           ms(hist_quantile(&storm.latency, 0.5)), ms(hist_quantile(&storm.latency, 0.99)));
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: luahub-loadgen storm --url ws://127.0.0.1:PORT/ws (--cut | --restart --pid-file F) [options]\n"
"  --subs N             subscribers [1000]\n"
"  --publications M     published live, and again while the subscribers are away [100]\n"
"  --room R             [storm]\n"
"  --size BYTES         publication data size [64]\n"
"  --publish-url URL    where the missed publications are published [--url]\n"
"  --cut                the loadgen drops the subscribers' connections\n"
"  --restart            SIGTERM to the server in --pid-file; the script restarts it and\n"
"                       writes the new PID to the file once it is ready\n"
"  --pid-file F         the server's PID (its CPU from /proc); needed by --restart\n"
"  --broker-pid PID     a broker's CPU too (redis-server)\n"
"  --sources A-B        source addresses to bind, e.g. 127.0.0.1-127.0.0.4\n"
"  --phase-timeout S    [60]   --timeout S  whole run [180]\n"
"  --json               print one JSON object\n");
}

static double number(const char *name, const char *s)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end || v < 0)
        die("%s: not a non-negative number: '%s'", name, s);
    return v;
}

static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "url", 1, 0, 'u' }, { "publish-url", 1, 0, 'U' }, { "subs", 1, 0, 'n' },
        { "publications", 1, 0, 'm' }, { "room", 1, 0, 'r' }, { "size", 1, 0, 's' },
        { "cut", 0, 0, 'c' }, { "restart", 0, 0, 'R' }, { "pid-file", 1, 0, 'p' },
        { "broker-pid", 1, 0, 'b' }, { "sources", 1, 0, 'S' }, { "phase-timeout", 1, 0, 'P' },
        { "timeout", 1, 0, 't' }, { "json", 0, 0, 'j' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
    };
    int ch, cut = 0;
    const char *err;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u': opt.url_text = optarg; break;
        case 'U': opt.publish_url_text = optarg; break;
        case 'n': opt.subs = (uint32_t)number("--subs", optarg); break;
        case 'm': opt.publications = (uint32_t)number("--publications", optarg); break;
        case 'r': opt.room = optarg; break;
        case 's': opt.size = (size_t)number("--size", optarg); break;
        case 'c': cut = 1; break;
        case 'R': opt.restart = 1; break;
        case 'p': opt.pid_file = optarg; break;
        case 'b': opt.broker_pid = (pid_t)number("--broker-pid", optarg); break;
        case 'S':
            if ((err = cli_parse_sources(optarg, opt.sources, &opt.nsources)))
                die("--sources '%s': %s", optarg, err);
            break;
        case 'P': opt.phase_timeout = number("--phase-timeout", optarg); break;
        case 't': opt.timeout = number("--timeout", optarg); break;
        case 'j': opt.json = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument '%s'", argv[optind]);
    if (!opt.url_text || (err = cli_parse_url(opt.url_text, &opt.url)))
        die("--url: %s", opt.url_text ? err : "missing");
    if (!opt.publish_url_text)
        opt.publish_url_text = opt.url_text;
    if ((err = cli_parse_url(opt.publish_url_text, &opt.publish_url)))
        die("--publish-url: %s", err);
    if (cut == opt.restart)
        die("give one of --cut and --restart");
    if (opt.restart && !opt.pid_file)
        die("--restart needs --pid-file");
    if (opt.subs == 0 || opt.publications == 0 || opt.publications > 100000)
        die("--subs must be at least 1, --publications 1..100000");
    if (strlen(opt.room) > 200 || strpbrk(opt.room, "\"\\"))
        die("--room: at most 200 bytes, no quote or backslash");
}

static void init_net(struct client_net *n, const struct cli_url *u, int fd)
{
    memset(n, 0, sizeof(*n));
    n->target.sin_family = AF_INET;
    n->target.sin_port = htons((uint16_t)u->port);
    if (inet_pton(AF_INET, strcmp(u->host, "localhost") == 0 ? "127.0.0.1" : u->host,
                  &n->target.sin_addr) != 1)
        die("the host must be an IPv4 address (loopback): %s", u->host);
    snprintf(n->host_header, sizeof(n->host_header), "%s:%d", u->host, u->port);
    snprintf(n->path, sizeof(n->path), "%s", u->path);
    n->sources = opt.nsources ? opt.sources : NULL;
    n->nsources = opt.nsources;
    n->rst_on_close = 1;
    n->whole_max = WHOLE_MAX;
    n->cb.open = on_open;
    n->cb.closed = on_closed;
    n->cb.message = on_message;
    n->epfd = fd;
}

int storm_main(int argc, char **argv)
{
    rlim_t fd_limit = cli_raise_fd_limit();

    parse_options(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    if (opt.subs + 2 + FD_RESERVE > fd_limit)
        die("%u subscribers need more than this process's %llu file descriptors", opt.subs,
            (unsigned long long)fd_limit);
    if (payload_template_init(&tpl, NULL, opt.size) != 0)
        die("bad --size");
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1: %s", strerror(errno));
    init_net(&net_a, &opt.url, epfd);
    init_net(&net_b, &opt.publish_url, epfd);
    clients = calloc(opt.subs + 2, sizeof(*clients));
    subs = calloc(opt.subs, sizeof(*subs));
    if (!clients || !subs)
        die("out of memory for %u subscribers", opt.subs);
    live_pub = &clients[opt.subs];
    missed_pub = &clients[opt.subs + 1];
    if (opt.pid_file && (server_pid = read_pid_file()) <= 0)
        die("--pid-file %s: no PID in it", opt.pid_file);
    deadline_ns = client_clock_ns() + (uint64_t)(opt.timeout * 1e9);

    run();
    phase = PH_DONE;
    for (uint32_t i = 0; i < opt.subs + 2; i++)
        client_close(i == opt.subs + 1 ? &net_b : &net_a, &clients[i], "closed by loadgen");
    if (opt.json)
        print_json();
    else
        print_human();
    return failure[0] ? 4 : 0;
}
