/* baseline.c — the raw C fan-out baseline: the fastest minimal WebSocket
 * broadcast server we know how to write, run in the same benchmark as luahub so
 * that the ratio says what luahub's layers cost on this box.
 *
 * What it serves: GET /ws upgrades (RFC 6455); every text or binary message a
 * client sends goes to every open client, the sender included, in the order the
 * server read them; pings are answered, fragmented messages reassembled, a close
 * is echoed. Nothing else: no rooms, no timers, no UTF-8 check, no limits but the
 * memory bounds below.
 *
 * How (each choice measured against the alternatives; docs/benchmarks.md):
 *  - One level-triggered epoll loop. A pass is one epoll_wait, one read() of
 *    every ready socket into one shared buffer, then the flush.
 *  - The messages of a pass are framed once and unmasked straight from the read
 *    buffer into one shared batch: every client gets the same bytes.
 *  - The flush gives every client exactly one write(). A client with nothing of
 *    its own pending is written straight from the batch, so nothing is copied
 *    per recipient; only what its socket does not take is copied into its own
 *    output buffer, which also holds its own frames (the 101, pongs, a close)
 *    ahead of the batch.
 *
 * Ownership: a struct conn is allocated at accept and freed in conn_destroy
 * only, after the flush (never while a pass walks the client lists), so an
 * epoll event or a list never points at freed memory.
 *
 * With --io-uring, the batch's writes of a pass (to clients with nothing of their own
 * pending) are submitted to the kernel as one io_uring batch of sends instead of one
 * write() each: the same bytes in the same order, for measuring what luahub's io_uring
 * flush (io_uring = "auto") is worth against the same change made here.
 *
 * usage: baseline --listen 127.0.0.1:PORT [--io-uring] */
#include <arpa/inet.h>
#include <liburing.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wskey.h"

#define READ_SIZE (256 * 1024)       /* the shared receive buffer; one read() fills it at most */
#define BATCH_MAX (4 * 1024 * 1024)  /* a pass reads no more sockets once its batch holds this */
#define REQUEST_MAX 8192             /* opening handshake head */
#define FRAME_MAX (64 * 1024)        /* larger client frames: close 1009 */
#define MESSAGE_MAX (1024 * 1024)    /* reassembled fragmented message: close 1009 */
#define OUT_MAX (64u * 1024 * 1024)  /* a client this far behind is dropped */
#define EVENTS_MAX 1024              /* epoll events per pass */
#define ACCEPT_BATCH 256             /* accepts per listener event */

enum {
    OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA
};

enum conn_state {
    CONN_HTTP,      /* waiting for the request head */
    CONN_OPEN,      /* upgraded: in open_conns, receives every broadcast */
    CONN_CLOSING    /* closed once its own output is written; input is discarded */
};

struct conn {
    int fd;
    uint8_t state;
    uint8_t dirty;            /* in dirty_list for this pass */
    uint8_t doomed;           /* in doomed_list: destroyed after this pass */
    uint8_t want_write;       /* EPOLLOUT registered */
    uint8_t fragment_opcode;  /* text/binary of the message being reassembled */
    uint32_t slot;            /* index in open_conns while CONN_OPEN */
    uint8_t *in;              /* unparsed tail of the last read; NULL when none */
    size_t in_len;
    uint8_t *out;             /* bytes the socket has not taken; NULL when none */
    size_t out_len, out_off, out_cap;
    uint8_t *fragment;        /* message being reassembled; NULL when none */
    size_t fragment_len;
};

static int epfd, listen_fd, accept_paused;
static struct timespec accept_paused_at;
static rlim_t max_fds;
/* Every list below has room for one entry per descriptor: a connection is in
 * each at most once (its flags or slot say whether). */
static struct conn **open_conns, **dirty_list, **doomed_list;
static uint32_t open_count, dirty_count, doomed_count;
/* +1: a NUL after the request head lets the str* functions stop there. */
static uint8_t read_buffer[READ_SIZE + 1];
/* The frames every open client gets at the end of this pass. */
static uint8_t *batch;
static size_t batch_len, batch_cap;

/* --io-uring: the ring, and the clients whose sends it holds in this pass. */
#define RING_ENTRIES 1024
static struct io_uring ring;
static int use_ring;

static void conn_doom(struct conn *c)
{
    if (!c->doomed) {
        c->doomed = 1;
        doomed_list[doomed_count++] = c;
    }
}

static void conn_mark_dirty(struct conn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        dirty_list[dirty_count++] = c;
    }
}

static void set_want_write(struct conn *c, int on)
{
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

    if (c->want_write != on && epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_write = (uint8_t)on;
}

static void open_add(struct conn *c)
{
    c->state = CONN_OPEN;
    c->slot = open_count;
    open_conns[open_count++] = c;
}

/* Never called during the flush, which walks open_conns. */
static void open_remove(struct conn *c)
{
    struct conn *last = open_conns[--open_count];

    open_conns[c->slot] = last;
    last->slot = c->slot;
}

/* Appends to c's own output. A client over OUT_MAX is dropped (and told so on
 * stderr, where the bench keeps the server's log). Returns 0, or -1 if c is
 * doomed. */
static int out_append(struct conn *c, const void *bytes, size_t len)
{
    size_t need;

    if (c->doomed)
        return -1;
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    need = c->out_len + len;
    if (need > OUT_MAX) {
        fprintf(stderr, "baseline: fd %d: over %u MiB not taken by the socket: dropped\n",
                c->fd, OUT_MAX >> 20);
        conn_doom(c);
        return -1;
    }
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(c->out, cap);
        if (!grown) {
            conn_doom(c);
            return -1;
        }
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, bytes, len);
    c->out_len = need;
    return 0;
}

static size_t frame_header(uint8_t *h, int opcode, size_t len)
{
    h[0] = 0x80 | (uint8_t)opcode;
    if (len < 126) {
        h[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* A frame for c alone (pong, close), sent at the end of the pass. */
static void send_own_frame(struct conn *c, int opcode, const uint8_t *payload, size_t len)
{
    uint8_t frame[10 + 125];
    size_t h = frame_header(frame, opcode, len);

    memcpy(frame + h, payload, len);
    if (out_append(c, frame, h + len) == 0)
        conn_mark_dirty(c);
}

/* Queues a close frame with `code` (none if 0), takes c out of the broadcast
 * set and closes it once that is written. */
static void close_with(struct conn *c, uint16_t code)
{
    uint8_t p[2] = { (uint8_t)(code >> 8), (uint8_t)code };

    send_own_frame(c, OP_CLOSE, p, code ? 2 : 0);
    if (c->state == CONN_OPEN)
        open_remove(c);
    c->state = CONN_CLOSING;
}

/* XORs len bytes from src with the 4-byte mask into dst, eight at a time. */
static void unmask_copy(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t mask[4])
{
    uint32_t m4;
    uint64_t m8, v;
    size_t i = 0;

    memcpy(&m4, mask, 4);
    m8 = (uint64_t)m4 << 32 | m4;
    for (; i + 8 <= len; i += 8) {
        memcpy(&v, src + i, 8);
        v ^= m8;
        memcpy(dst + i, &v, 8);
    }
    for (; i < len; i++)
        dst[i] = src[i] ^ mask[i & 3];
}

/* Makes room for one frame of `len` payload bytes at the end of the batch and
 * writes its header; returns where the payload goes, or NULL without memory.
 * The batch never shrinks: it is reused by every pass. */
static uint8_t *batch_frame(int opcode, size_t len)
{
    size_t need = batch_len + 10 + len;

    if (need > batch_cap) {
        size_t cap = batch_cap ? batch_cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(batch, cap);
        if (!grown)
            return NULL;
        batch = grown;
        batch_cap = cap;
    }
    batch_len += frame_header(batch + batch_len, opcode, len);
    batch_len += len;
    return batch + batch_len - len;
}

/* Handles one client frame whose payload is still masked. Returns 0 to go on,
 * -1 when c is closing and the rest of its input is to be ignored. */
static int on_frame(struct conn *c, int fin, int opcode, const uint8_t *payload, size_t len,
                    const uint8_t mask[4])
{
    uint8_t control[125], *dst;

    switch (opcode) {
    case OP_TEXT:
    case OP_BINARY:
        if (c->fragment) {
            close_with(c, 1002);
            return -1;
        }
        if (fin)
            dst = batch_frame(opcode, len);
        else
            dst = c->fragment = malloc(len ? len : 1);
        if (!dst) {
            close_with(c, 1011);
            return -1;
        }
        unmask_copy(dst, payload, len, mask);
        c->fragment_len = fin ? 0 : len;
        c->fragment_opcode = (uint8_t)opcode;
        return 0;
    case OP_CONT:
        if (!c->fragment) {
            close_with(c, 1002);
            return -1;
        }
        if (c->fragment_len + len > MESSAGE_MAX) {
            close_with(c, 1009);
            return -1;
        }
        dst = realloc(c->fragment, c->fragment_len + len + 1);
        if (!dst) {
            close_with(c, 1011);
            return -1;
        }
        c->fragment = dst;
        unmask_copy(c->fragment + c->fragment_len, payload, len, mask);
        c->fragment_len += len;
        if (fin) {
            dst = batch_frame(c->fragment_opcode, c->fragment_len);
            if (!dst) {
                close_with(c, 1011);
                return -1;
            }
            memcpy(dst, c->fragment, c->fragment_len);
            free(c->fragment);
            c->fragment = NULL;
        }
        return 0;
    case OP_PING:
        unmask_copy(control, payload, len, mask);
        send_own_frame(c, OP_PONG, control, len);
        return 0;
    case OP_PONG:
        return 0;
    case OP_CLOSE:
        unmask_copy(control, payload, len, mask);
        close_with(c, len >= 2 ? (uint16_t)(control[0] << 8 | control[1]) : 0);
        return -1;
    default:
        close_with(c, 1002);
        return -1;
    }
}

/* Parses every complete frame in buf and returns the bytes consumed; a partial
 * frame at the end stays for the next read. */
static size_t parse_frames(struct conn *c, const uint8_t *buf, size_t len)
{
    size_t pos = 0;

    while (len - pos >= 2 && c->state == CONN_OPEN) {
        uint8_t b0 = buf[pos], b1 = buf[pos + 1];
        int opcode = b0 & 0x0f, control = opcode & 0x8;
        size_t hlen = 2 + 4, plen = b1 & 0x7f;

        if (!(b1 & 0x80) || (b0 & 0x70) || (control && (!(b0 & 0x80) || plen > 125))) {
            close_with(c, 1002);
            break;
        }
        hlen += plen == 126 ? 2 : plen == 127 ? 8 : 0;
        if (len - pos < hlen)
            break;
        if (plen == 126) {
            plen = (size_t)buf[pos + 2] << 8 | buf[pos + 3];
        } else if (plen == 127) {
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
                v = v << 8 | buf[pos + 2 + i];
            plen = v > FRAME_MAX ? FRAME_MAX + 1 : (size_t)v;
        }
        if (plen > FRAME_MAX) {
            close_with(c, 1009);
            break;
        }
        if (len - pos - hlen < plen)
            break;
        const uint8_t *mask = buf + pos + hlen - 4;
        size_t at = pos + hlen;
        pos += hlen + plen;
        if (on_frame(c, b0 & 0x80, opcode, buf + at, plen, mask) != 0)
            break;
    }
    return pos;
}

static const char *header_value(const char *head, const char *name, size_t *len)
{
    size_t name_len = strlen(name);

    for (const char *line = strstr(head, "\r\n"); line && line[2] != '\r';) {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if ((size_t)(end - line) > name_len && line[name_len] == ':' &&
            strncasecmp(line, name, name_len) == 0) {
            const char *v = line + name_len + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = end;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *len = (size_t)(e - v);
            return v;
        }
        line = end;
    }
    return NULL;
}

static void http_refuse(struct conn *c, const char *status)
{
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);

    if (out_append(c, resp, (size_t)n) == 0)
        conn_mark_dirty(c);
    c->state = CONN_CLOSING;
}

/* Answers the opening handshake in the NUL-terminated head: 101 and c joins
 * the broadcast set, or an error status and c closes. */
static void http_upgrade(struct conn *c, const char *head)
{
    char accept[WSKEY_ACCEPT_LEN + 1], resp[256];
    const char *key;
    size_t key_len;
    int n;

    if (strncmp(head, "GET ", 4) != 0) {
        http_refuse(c, "405 Method Not Allowed");
        return;
    }
    if (strncmp(head + 4, "/ws", 3) != 0 || (head[7] != ' ' && head[7] != '?')) {
        http_refuse(c, "404 Not Found");
        return;
    }
    key = header_value(head, "Sec-WebSocket-Key", &key_len);
    if (!key || key_len == 0) {
        http_refuse(c, "400 Bad Request");
        return;
    }
    wskey_accept(key, key_len, accept);
    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    if (out_append(c, resp, (size_t)n) != 0)
        return;
    conn_mark_dirty(c);
    open_add(c);
}

/* Returns the bytes of buf consumed: the head and any frames after it. */
static size_t on_http(struct conn *c, uint8_t *buf, size_t len)
{
    char *end;
    size_t head_len;

    buf[len] = '\0';
    end = strstr((char *)buf, "\r\n\r\n");
    if (!end) {
        if (len >= REQUEST_MAX) {
            http_refuse(c, "431 Request Header Fields Too Large");
            return len;
        }
        return 0;
    }
    head_len = (size_t)(end - (char *)buf) + 4;
    end[2] = '\0';
    http_upgrade(c, (char *)buf);
    if (c->state != CONN_OPEN)
        return len;
    return head_len + parse_frames(c, buf + head_len, len - head_len);
}

/* One read() per ready socket per pass; level-triggered epoll reports a socket
 * with more to read again in the next pass. A frame cut by the end of the read
 * is kept in c->in and put back in front of the next read. */
static void on_readable(struct conn *c)
{
    size_t have = c->in_len, len, used, left;
    ssize_t n;

    if (have)
        memcpy(read_buffer, c->in, have);
    n = read(c->fd, read_buffer + have, READ_SIZE - have);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            conn_doom(c);
        return;
    }
    len = have + (size_t)n;
    if (c->state == CONN_HTTP)
        used = on_http(c, read_buffer, len);
    else if (c->state == CONN_OPEN)
        used = parse_frames(c, read_buffer, len);
    else
        used = len;
    left = c->state == CONN_CLOSING ? 0 : len - used;
    if (left == 0) {
        free(c->in);
        c->in = NULL;
    } else {
        uint8_t *kept = realloc(c->in, left);
        if (!kept) {
            conn_doom(c);
            return;
        }
        memcpy(kept, read_buffer + used, left);
        c->in = kept;
    }
    c->in_len = left;
}

/* The one write() of c in this pass: its own pending bytes followed by
 * `shared` (the batch, or nothing). Without pending bytes the batch is written
 * in place; only what the socket does not take is copied. */
static void conn_flush(struct conn *c, const uint8_t *shared, size_t shared_len)
{
    const uint8_t *from = shared;
    size_t len = shared_len;
    ssize_t n;

    if (c->doomed)
        return;
    if (c->out_off < c->out_len) {
        if (shared_len && out_append(c, shared, shared_len) != 0)
            return;
        from = c->out + c->out_off;
        len = c->out_len - c->out_off;
    }
    if (len == 0)
        return;
    n = write(c->fd, from, len);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            conn_doom(c);
            return;
        }
        n = 0;
    }
    if (from == shared) {
        if ((size_t)n < len && out_append(c, shared + n, len - (size_t)n) == 0)
            set_want_write(c, 1);
        return;
    }
    c->out_off += (size_t)n;
    if (c->out_off < c->out_len) {
        set_want_write(c, 1);
        return;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = c->out_cap = 0;
    set_want_write(c, 0);
    if (c->state == CONN_CLOSING)
        conn_doom(c);
}

/* conn_flush for every open client, with the sends of those that have nothing of their
 * own pending submitted as io_uring batches of RING_ENTRIES; MSG_DONTWAIT makes each
 * complete before the submit returns, so the batch buffer is not touched meanwhile. */
static void ring_flush_batch(void)
{
    static struct conn *held[RING_ENTRIES];
    uint32_t i = 0;
    while (i < open_count) {
        unsigned n = 0;
        for (; i < open_count && n < RING_ENTRIES; i++) {
            struct conn *c = open_conns[i];
            if (c->doomed)
                continue;
            if (c->out_off < c->out_len) {
                conn_flush(c, batch, batch_len);
                continue;
            }
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            io_uring_prep_send(sqe, c->fd, batch, batch_len, MSG_DONTWAIT | MSG_NOSIGNAL);
            io_uring_sqe_set_data64(sqe, n);
            held[n++] = c;
        }
        if (!n)
            break;
        if (io_uring_submit_and_wait(&ring, n) != (int)n) {
            fprintf(stderr, "baseline: io_uring submit failed\n");
            exit(1);
        }
        for (unsigned seen = 0; seen < n; seen++) {
            struct io_uring_cqe *cqe;
            if (io_uring_wait_cqe(&ring, &cqe) != 0) {
                fprintf(stderr, "baseline: io_uring wait failed\n");
                exit(1);
            }
            struct conn *c = held[cqe->user_data];
            ssize_t w = cqe->res;
            io_uring_cqe_seen(&ring, cqe);
            if (w < 0 && w != -EAGAIN && w != -EINTR) {
                conn_doom(c);
                continue;
            }
            if (w < 0)
                w = 0;
            if ((size_t)w < batch_len && out_append(c, batch + w, batch_len - (size_t)w) == 0)
                set_want_write(c, 1);
        }
    }
}

/* The end of a pass: every client with output of its own, then every open
 * client with the batch (its own output first, in the same write). */
static void flush_pass(void)
{
    for (uint32_t i = 0; i < dirty_count; i++) {
        struct conn *c = dirty_list[i];
        c->dirty = 0;
        if (!(batch_len && c->state == CONN_OPEN))
            conn_flush(c, NULL, 0);
    }
    dirty_count = 0;
    if (batch_len && use_ring) {
        ring_flush_batch();
        batch_len = 0;
    } else if (batch_len) {
        for (uint32_t i = 0; i < open_count; i++)
            conn_flush(open_conns[i], batch, batch_len);
        batch_len = 0;
    }
}

static void conn_destroy(struct conn *c)
{
    if (c->state == CONN_OPEN)
        open_remove(c);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c->fragment);
    free(c);
}

static void destroy_doomed(void)
{
    for (uint32_t i = 0; i < doomed_count; i++)
        conn_destroy(doomed_list[i]);
    doomed_count = 0;
}

static void accept_some(void)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int one = 1, fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop listening for 100 ms instead of spinning. */
                epoll_ctl(epfd, EPOLL_CTL_DEL, listen_fd, NULL);
                accept_paused = 1;
                clock_gettime(CLOCK_MONOTONIC, &accept_paused_at);
            }
            return;
        }
        struct conn *c = calloc(1, sizeof(*c));
        struct epoll_event ev = { .events = EPOLLIN };
        if (!c) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
        }
    }
}

static void resume_accept(void)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((now.tv_sec - accept_paused_at.tv_sec) * 1000 +
        (now.tv_nsec - accept_paused_at.tv_nsec) / 1000000 < 100)
        return;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) == 0)
        accept_paused = 0;
}

static int listen_on(const char *spec)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    struct sockaddr_in a = { .sin_family = AF_INET };
    int one = 1, fd;

    if (!colon || (size_t)(colon - spec) >= sizeof(host))
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    static struct epoll_event events[EVENTS_MAX];
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    struct rlimit rl;

    if ((argc != 3 && argc != 4) || strcmp(argv[1], "--listen") != 0 ||
        (argc == 4 && strcmp(argv[3], "--io-uring") != 0)) {
        fprintf(stderr, "usage: baseline --listen 127.0.0.1:PORT [--io-uring]\n");
        return 2;
    }
    if (argc == 4) {
        int r = io_uring_queue_init(RING_ENTRIES, &ring, 0);
        if (r < 0) {
            fprintf(stderr, "baseline: io_uring: %s\n", strerror(-r));
            return 1;
        }
        use_ring = 1;
    }
    signal(SIGPIPE, SIG_IGN);
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    max_fds = rl.rlim_cur;
    open_conns = calloc(max_fds, sizeof(*open_conns));
    dirty_list = calloc(max_fds, sizeof(*dirty_list));
    doomed_list = calloc(max_fds, sizeof(*doomed_list));
    if (!open_conns || !dirty_list || !doomed_list) {
        fprintf(stderr, "baseline: out of memory\n");
        return 1;
    }
    listen_fd = listen_on(argv[2]);
    if (listen_fd < 0) {
        fprintf(stderr, "baseline: cannot listen on %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
        fprintf(stderr, "baseline: epoll: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "baseline: listening on %s, up to %llu connections\n", argv[2],
            (unsigned long long)(max_fds - 8));

    for (;;) {
        int n = epoll_wait(epfd, events, EVENTS_MAX, accept_paused ? 100 : -1);
        if (n < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                accept_some();
                continue;
            }
            if (events[i].events & EPOLLOUT)
                conn_mark_dirty(c);
            if ((events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !c->doomed &&
                batch_len < BATCH_MAX)
                on_readable(c);
        }
        flush_pass();
        destroy_doomed();
        if (accept_paused)
            resume_accept();
    }
}
