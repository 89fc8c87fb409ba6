/* cluster_nats.c — the NATS adapter: the NATS client protocol (INFO, CONNECT, PUB, SUB,
 * UNSUB, MSG, PING, PONG, +OK, -ERR) spoken over one non-blocking socket on the libev
 * loop. Why not nats.c (libnats-dev): see docs/architecture.md, "Choices".
 *
 * Handshake: TCP connect -> server's INFO -> our CONNECT (echo off: NATS does not send
 * our own messages back) and PING -> the server's PONG means CONNECT was accepted: up.
 * While up, a PING goes out every PING_INTERVAL; PINGS_MAX unanswered ones mean a dead
 * connection. Subscription ids are the subjects themselves (sids are free-form tokens),
 * so UNSUB needs no map. Output is appended to one buffer and written when the socket is
 * writable, so everything published in a loop pass leaves in few writes.
 *
 * A NATS cluster: cluster.url may list several servers, and every INFO's connect_urls
 * (the servers the cluster advertises to clients) are added to the list. One server is
 * used at a time; each failure moves to the next one in the list, so the core's
 * reconnect (which then subscribes everything again) reaches a live server.
 *
 * Requests (JetStream's API, outbound_nats.c): the connection subscribes to an inbox of
 * its own, _INBOX.<random>.*, and a request is a PUB whose reply subject is the inbox and
 * the request's token in hex; what arrives on the inbox goes to events.reply instead of
 * events.message. CONNECT asks for headers and no_responders, so a request nobody
 * listens to (JetStream off, a stream that does not exist) is answered at once by an
 * HMSG with status 503 rather than left to time out. */
#include "cluster.h"

#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_TIMEOUT 5.0
#define PING_INTERVAL 2.0
#define PINGS_MAX 3
#define CONTROL_LINE_MAX 4096            /* the server's default max_control_line */
#define OUTPUT_MAX (64u << 20)           /* publishes refused past this many unsent bytes */
#define DEFAULT_MAX_PAYLOAD (1u << 20)
#define READ_CHUNK 16384                 /* hiredis's read size */

enum nats_state { NATS_IDLE, NATS_CONNECTING, NATS_WAIT_INFO, NATS_WAIT_PONG, NATS_UP };

struct buf {
    char *data;
    size_t off, len, cap;                /* unconsumed bytes are data[off..len) */
};

struct nats {
    struct cluster_adapter base;
    struct cluster_events ev;
    struct broker_url urls[BROKER_URL_HOSTS_MAX];
    int nurls, cur;                      /* the server used: urls[cur] */
    enum nats_state state;
    int fd, pings_out;
    size_t max_payload;
    ev_io io;
    ev_timer timer;                      /* connect timeout, then the ping period */
    struct buf in, out;
    char inbox[32];                      /* "_INBOX.<16 hex>.": the reply subjects' prefix */
    size_t inbox_len;
};

static int buf_reserve(struct buf *b, size_t more, size_t limit)
{
    if (b->off && b->off == b->len) b->off = b->len = 0;
    if (b->len + more <= b->cap) return 0;
    if (b->off) {                        /* compact before growing */
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap) return 0;
    }
    if (b->len + more > limit) return -1;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + more) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static void watch(struct nats *n, int events)
{
    if ((n->io.events & (EV_READ | EV_WRITE)) == events && ev_is_active(&n->io)) return;
    ev_io_stop(EV_DEFAULT, &n->io);
    ev_io_set(&n->io, n->fd, events);
    ev_io_start(EV_DEFAULT, &n->io);
}

/* Closes the socket and reports down once (nothing to report when already idle), naming
 * the server; the next connect tries the next server. */
static void fail(struct nats *n, const char *why)
{
    if (n->state == NATS_IDLE) return;
    ev_io_stop(EV_DEFAULT, &n->io);
    ev_timer_stop(EV_DEFAULT, &n->timer);
    close(n->fd);
    n->fd = -1;
    n->state = NATS_IDLE;
    buf_free(&n->in);
    buf_free(&n->out);
    char msg[400];
    snprintf(msg, sizeof msg, "%s:%d: %s", n->urls[n->cur].host, n->urls[n->cur].port, why);
    n->cur = (n->cur + 1) % n->nurls;
    n->ev.down(msg);
}

/* Appends to the output buffer (beyond limit: refused) and asks for writability. */
static int send_bytes(struct nats *n, const void *a, size_t alen, const void *b, size_t blen, size_t limit)
{
    if (buf_reserve(&n->out, alen + blen, limit) != 0) return -1;
    memcpy(n->out.data + n->out.len, a, alen);
    if (blen) memcpy(n->out.data + n->out.len + alen, b, blen);
    n->out.len += alen + blen;
    if (n->state != NATS_CONNECTING) watch(n, EV_READ | EV_WRITE);
    return 0;
}

static int send_line(struct nats *n, const char *fmt, const char *s1, size_t l1, const char *s2, size_t l2)
{
    char line[CONTROL_LINE_MAX];
    int len = snprintf(line, sizeof line, fmt, (int)l1, s1, (int)l2, s2);
    if (len < 0 || (size_t)len >= sizeof line) return -1;
    return send_bytes(n, line, (size_t)len, NULL, 0, (size_t)-1);
}

static void flush_out(struct nats *n)
{
    while (n->out.off < n->out.len) {
        ssize_t w = write(n->fd, n->out.data + n->out.off, n->out.len - n->out.off);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            fail(n, strerror(errno));
            return;
        }
        n->out.off += (size_t)w;
    }
    n->out.off = n->out.len = 0;
    watch(n, EV_READ);
}

/* A JSON string value: only " and \ need escaping in what we send (URL credentials). */
static size_t json_string(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap < 3) return 0;
    out[o++] = '"';
    for (; *s && o + 3 < cap; s++) {
        if (*s == '"' || *s == '\\') out[o++] = '\\';
        out[o++] = *s;
    }
    out[o++] = '"';
    out[o] = 0;
    return o;
}

static void send_connect(struct nats *n)
{
    char line[2048], user[600], pass[600];
    const char *auth = "";
    char creds[1300] = "";
    const struct broker_url *u = &n->urls[n->cur];
    if (u->user[0] && u->password[0]) {
        json_string(user, sizeof user, u->user);
        json_string(pass, sizeof pass, u->password);
        snprintf(creds, sizeof creds, ",\"user\":%s,\"pass\":%s", user, pass);
        auth = creds;
    } else if (u->user[0] || u->password[0]) {
        json_string(pass, sizeof pass, u->user[0] ? u->user : u->password);
        snprintf(creds, sizeof creds, ",\"auth_token\":%s", pass);
        auth = creds;
    }
    int len = snprintf(line, sizeof line,
                       "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,\"lang\":\"c\","
                       "\"name\":\"luahub\",\"version\":\"0.1.0\",\"protocol\":1,"
                       "\"headers\":true,\"no_responders\":true%s}\r\nPING\r\n", auth);
    send_bytes(n, line, (size_t)len, NULL, 0, (size_t)-1);
}

/* A server the cluster advertises ("host:port" or "[v6]:port", numeric), added to the
 * list with the first URL's credentials unless listed already or the list is full. */
static void learn_server(struct nats *n, const char *s, size_t len)
{
    const char *colon = len ? memrchr(s, ':', len) : NULL;
    if (!colon || n->nurls == BROKER_URL_HOSTS_MAX) return;
    const char *host = s;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    long port = strtol(colon + 1, NULL, 10);
    struct broker_url *u = &n->urls[n->nurls];
    if (hlen == 0 || hlen >= sizeof u->host || port <= 0 || port > 65535) return;
    for (int i = 0; i < n->nurls; i++)
        if (n->urls[i].port == port && strlen(n->urls[i].host) == hlen && memcmp(n->urls[i].host, host, hlen) == 0)
            return;
    *u = n->urls[0];
    memcpy(u->host, host, hlen);
    u->host[hlen] = 0;
    u->port = (int)port;
    n->nurls++;
}

/* INFO's "connect_urls":["host:port",...] */
static void learn_servers(struct nats *n, const char *line, size_t len)
{
    const char *p = memmem(line, len, "\"connect_urls\":[", 16);
    if (!p) return;
    const char *end = line + len;
    p += 16;
    while (p < end && *p != ']') {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return;
        const char *close = memchr(q + 1, '"', (size_t)(end - q - 1));
        if (!close) return;
        learn_server(n, q + 1, (size_t)(close - q - 1));
        p = close + 1;
    }
}

static void on_info(struct nats *n, const char *line, size_t len)
{
    learn_servers(n, line, len);
    const char *mp = memmem(line, len, "\"max_payload\":", 14);
    if (mp) {
        long v = strtol(mp + 14, NULL, 10);
        if (v > 0) n->max_payload = (size_t)v;
    }
    if (n->state == NATS_WAIT_INFO) {
        n->state = NATS_WAIT_PONG;
        send_connect(n);
    }
}

static void on_pong(struct nats *n)
{
    n->pings_out = 0;
    if (n->state != NATS_WAIT_PONG) return;
    n->state = NATS_UP;
    ev_timer_stop(EV_DEFAULT, &n->timer);
    ev_timer_set(&n->timer, PING_INTERVAL, PING_INTERVAL);
    ev_timer_start(EV_DEFAULT, &n->timer);
    send_line(n, "SUB %.*s* %.*s*\r\n", n->inbox, n->inbox_len, n->inbox, n->inbox_len);
    n->ev.up();
}

static long parse_size(const char *s, size_t len)
{
    long size = 0;
    if (!len) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || size > (1L << 40)) return -1;
        size = size * 10 + (s[i] - '0');
    }
    return size;
}

/* "MSG <subject> <sid> [reply-to] <#bytes>" or, with headers,
 * "HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>": returns the total
 * size, the subject and the header size (0 for MSG), or -1 on a malformed line. */
static long parse_msg(const char *line, size_t len, int headers, const char **subject, size_t *slen,
                      long *header_size)
{
    const char *tok[6];
    size_t tlen[6];
    int ntok = 0, fixed = 3 + headers;
    const char *p = line + 4 + headers, *end = line + len;
    while (p < end && ntok < 6) {
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p == end) break;
        const char *s = p;
        while (p < end && *p != ' ' && *p != '\t') p++;
        tok[ntok] = s;
        tlen[ntok++] = (size_t)(p - s);
    }
    if (ntok < fixed || ntok > fixed + 1) return -1;
    long size = parse_size(tok[ntok - 1], tlen[ntok - 1]);
    *header_size = headers ? parse_size(tok[ntok - 2], tlen[ntok - 2]) : 0;
    if (*header_size < 0 || *header_size > size) return -1;
    *subject = tok[0];
    *slen = tlen[0];
    return size;
}

/* The status of a header block ("NATS/1.0 503\r\n..."): its code, or 0 without one. */
static int header_status(const uint8_t *h, size_t len)
{
    if (len < 12 || memcmp(h, "NATS/1.0 ", 9) != 0) return 0;
    int code = 0;
    for (size_t i = 9; i < len && h[i] >= '0' && h[i] <= '9' && code < 1000; i++) code = code * 10 + (h[i] - '0');
    return code;
}

/* A message on our inbox is the answer to the request whose token ends its subject. */
static void deliver(struct nats *n, const char *subject, size_t slen, const uint8_t *msg,
                    size_t header_size, size_t size)
{
    if (slen > n->inbox_len && memcmp(subject, n->inbox, n->inbox_len) == 0) {
        uint64_t token = 0;
        for (size_t i = n->inbox_len; i < slen && i < n->inbox_len + 16; i++) {
            char c = subject[i];
            token = token << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
        }
        n->ev.reply(token, header_status(msg, header_size), msg + header_size, size - header_size);
        return;
    }
    n->ev.message(subject, slen, msg + header_size, size - header_size);
}

/* Consumes every complete protocol message in the input buffer. 0, or -1 after fail(). */
static int parse_input(struct nats *n)
{
    struct buf *b = &n->in;
    while (n->state != NATS_IDLE && b->off < b->len) {
        char *start = b->data + b->off;
        size_t avail = b->len - b->off;
        char *nl = memchr(start, '\n', avail);
        if (!nl) {
            if (avail > CONTROL_LINE_MAX) {
                fail(n, "protocol line too long");
                return -1;
            }
            return 0;
        }
        size_t line_len = (size_t)(nl - start);
        size_t consumed = line_len + 1;
        if (line_len && start[line_len - 1] == '\r') line_len--;
        int headers = line_len >= 5 && strncasecmp(start, "HMSG ", 5) == 0;
        if (headers || (line_len >= 4 && strncasecmp(start, "MSG ", 4) == 0)) {
            const char *subject;
            size_t slen;
            long header_size;
            long size = parse_msg(start, line_len, headers, &subject, &slen, &header_size);
            if (size < 0 || (size_t)size > n->max_payload) {
                fail(n, "malformed MSG");
                return -1;
            }
            if (avail < consumed + (size_t)size + 2) return 0;   /* the payload is not all here */
            b->off += consumed + (size_t)size + 2;
            deliver(n, subject, slen, (const uint8_t *)nl + 1, (size_t)header_size, (size_t)size);
            continue;
        }
        b->off += consumed;
        if (line_len >= 4 && strncasecmp(start, "PING", 4) == 0) {
            send_bytes(n, "PONG\r\n", 6, NULL, 0, (size_t)-1);
        } else if (line_len >= 4 && strncasecmp(start, "PONG", 4) == 0) {
            on_pong(n);
        } else if (line_len >= 5 && strncasecmp(start, "INFO ", 5) == 0) {
            on_info(n, start, line_len);
        } else if (line_len >= 4 && strncasecmp(start, "-ERR", 4) == 0) {
            char why[256];
            snprintf(why, sizeof why, "NATS %.*s", (int)(line_len < 200 ? line_len : 200), start);
            if (n->state != NATS_UP) {
                fail(n, why);
                return -1;
            }
            n->ev.error(why);
        }
        /* +OK and anything else: nothing to do */
    }
    return 0;
}

/* One read of at most READ_CHUNK per readiness event, as hiredis does: the loop flushes
 * client queues between chunks, so a burst from the broker is fanned out in slices that
 * the send queues (send_queue.messages) can absorb, instead of all in one pass. */
static void read_input(struct nats *n)
{
    if (buf_reserve(&n->in, READ_CHUNK, n->max_payload + CONTROL_LINE_MAX + READ_CHUNK) != 0) {
        fail(n, "input buffer limit");
        return;
    }
    size_t room = n->in.cap - n->in.len;
    ssize_t r = read(n->fd, n->in.data + n->in.len, room < READ_CHUNK ? room : READ_CHUNK);
    if (r == 0) {
        fail(n, "connection closed by the server");
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail(n, strerror(errno));
        return;
    }
    n->in.len += (size_t)r;
    parse_input(n);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct nats *n = w->data;
    if (n->state == NATS_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            fail(n, strerror(err));
            return;
        }
        n->state = NATS_WAIT_INFO;
        watch(n, EV_READ);
        return;
    }
    if (revents & EV_READ) read_input(n);
    if (n->state != NATS_IDLE && (revents & EV_WRITE)) flush_out(n);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct nats *n = w->data;
    if (n->state != NATS_UP) {
        fail(n, "connect timed out");
        return;
    }
    if (++n->pings_out > PINGS_MAX) {
        fail(n, "no PONG from the server");
        return;
    }
    send_bytes(n, "PING\r\n", 6, NULL, 0, (size_t)-1);
}

/* A non-blocking socket connecting to u; -1 when the connect could not even start. */
static int open_socket(const struct broker_url *u)
{
    char port[8];
    snprintf(port, sizeof port, "%d", u->port);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *res;
    if (getaddrinfo(u->host, port, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return -1;
    }
    /* small PUBs must not wait for the previous one's ACK (Nagle + delayed ACK: 40 ms) */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static int nats_connect(struct cluster_adapter *a)
{
    struct nats *n = (struct nats *)a;
    if (n->state != NATS_IDLE) return 0;
    int fd = open_socket(&n->urls[n->cur]);
    if (fd < 0) {
        n->cur = (n->cur + 1) % n->nurls;   /* refused at once: the next try goes elsewhere */
        return -1;
    }
    n->fd = fd;
    n->pings_out = 0;
    n->max_payload = DEFAULT_MAX_PAYLOAD;
    n->state = NATS_CONNECTING;
    watch(n, EV_WRITE);
    ev_timer_set(&n->timer, CONNECT_TIMEOUT, 0);
    ev_timer_start(EV_DEFAULT, &n->timer);
    return 0;
}

/* PUB subject [reply] size, then the payload (reply "" for none). */
static int send_pub(struct nats *n, const char *ch, size_t clen, const char *reply,
                    const uint8_t *data, size_t len)
{
    if (n->state != NATS_UP || len > n->max_payload) return -1;
    char head[CONTROL_LINE_MAX];
    int hl = snprintf(head, sizeof head, "PUB %.*s %s%s%zu\r\n", (int)clen, ch, reply, reply[0] ? " " : "", len);
    if (hl < 0 || (size_t)hl >= sizeof head) return -1;
    if (n->out.len - n->out.off + (size_t)hl + len + 2 > OUTPUT_MAX) return -1;
    if (send_bytes(n, head, (size_t)hl, data, len, (size_t)-1) != 0) return -1;
    return send_bytes(n, "\r\n", 2, NULL, 0, (size_t)-1);
}

static int nats_publish(struct cluster_adapter *a, const char *ch, size_t clen,
                        const uint8_t *data, size_t len)
{
    return send_pub((struct nats *)a, ch, clen, "", data, len);
}

static int nats_request(struct cluster_adapter *a, const char *subject, size_t slen,
                        const uint8_t *data, size_t len, uint64_t token)
{
    struct nats *n = (struct nats *)a;
    char reply[sizeof n->inbox + 16];
    snprintf(reply, sizeof reply, "%s%016llx", n->inbox, (unsigned long long)token);
    return send_pub(n, subject, slen, reply, data, len);
}

static int nats_subscribe(struct cluster_adapter *a, const char *ch, size_t clen)
{
    struct nats *n = (struct nats *)a;
    if (n->state != NATS_UP) return -1;
    return send_line(n, "SUB %.*s %.*s\r\n", ch, clen, ch, clen);
}

static int nats_unsubscribe(struct cluster_adapter *a, const char *ch, size_t clen)
{
    struct nats *n = (struct nats *)a;
    if (n->state != NATS_UP) return -1;
    return send_line(n, "UNSUB %.*s%.*s\r\n", ch, clen, "", 0);
}

static void nats_close(struct cluster_adapter *a)
{
    struct nats *n = (struct nats *)a;
    if (n->state != NATS_IDLE) {
        ev_io_stop(EV_DEFAULT, &n->io);
        ev_timer_stop(EV_DEFAULT, &n->timer);
        close(n->fd);
    }
    buf_free(&n->in);
    buf_free(&n->out);
    free(n);
}

static const struct cluster_adapter_ops nats_ops = {
    "nats", nats_connect, nats_publish, nats_subscribe, nats_unsubscribe, nats_close, nats_request,
};

struct cluster_adapter *cluster_nats_new(const struct broker_url *u, int nurls, const struct cluster_events *ev)
{
    struct nats *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->base.ops = &nats_ops;
    n->ev = *ev;
    memcpy(n->urls, u, (size_t)nurls * sizeof *u);
    n->nurls = nurls;
    n->fd = -1;
    /* The inbox must be this connection's alone: another node's with the same name would
     * take our answers for its own (tokens count from 1 everywhere). */
    uint64_t nonce;
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
        nonce = (uint64_t)lrand48() << 32 ^ (uint64_t)lrand48() ^ (uint64_t)(uintptr_t)n;
    n->inbox_len = (size_t)snprintf(n->inbox, sizeof n->inbox, "_INBOX.%016llx.", (unsigned long long)nonce);
    ev_init(&n->io, io_cb);
    n->io.data = n;
    ev_init(&n->timer, timer_cb);
    n->timer.data = n;
    return &n->base;
}
