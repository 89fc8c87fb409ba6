/* baseline.c — the raw C fan-out baseline: what this box allows.
 *
 * A minimal WebSocket broadcast server with nothing but the coalescing send
 * path the luahub core is measured against: every data message a client sends
 * is framed once and appended to EVERY connected client's output buffer
 * (including the sender's); at the end of each event-loop pass each dirty client
 * gets exactly ONE write() with everything queued for it in that pass.
 * No Lua, no rooms, no limits, no timers — only what fan-out needs: the upgrade
 * on /ws, masked client frames, fragmentation, ping/pong and close.
 *
 * Ownership: a struct conn is allocated at accept and freed in conn_destroy only,
 * which runs after the pass (never while a broadcast walks the client list), so
 * an epoll event or the dirty list never points at freed memory.
 *
 * usage: baseline --listen 127.0.0.1:PORT */
#include <arpa/inet.h>
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

#define READ_SIZE (256 * 1024)       /* one shared receive buffer */
#define REQUEST_MAX 8192             /* opening handshake head */
#define FRAME_MAX (64 * 1024)        /* larger client frames: close 1009 */
#define MESSAGE_MAX (1024 * 1024)    /* reassembled fragmented message */
#define OUT_MAX (64u * 1024 * 1024)  /* a client this far behind is dropped */
#define ACCEPT_BATCH 256

enum conn_state { CONN_HTTP, CONN_WS };

struct conn {
    int fd;
    uint8_t state;
    uint8_t dirty;               /* in dirty_list for this pass */
    uint8_t want_write;          /* EPOLLOUT registered */
    uint8_t close_after_flush;
    uint8_t doomed;              /* in doomed_list: closed after the pass */
    uint8_t fragment_opcode;
    uint32_t ws_slot;            /* index in ws_conns while CONN_WS */
    uint8_t *in;                 /* unparsed tail of the last read; NULL if none */
    size_t in_len;
    uint8_t *out;                /* queued bytes; freed once written */
    size_t out_len, out_off, out_cap;
    uint8_t *fragment;           /* message being reassembled */
    size_t fragment_len;
};

static int epfd, listen_fd, accept_paused;
static struct timespec accept_paused_at;
static struct conn **conns;      /* by fd */
static rlim_t max_fds;
static struct conn **ws_conns;   /* the broadcast set, dense */
static uint32_t ws_count;
static struct conn **dirty_list, **doomed_list;
static uint32_t dirty_count, doomed_count;
static uint8_t read_buffer[READ_SIZE];
static uint64_t messages_in, slow_dropped;

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

/* Appends to c's output; the bytes go out at the end of the pass. */
static void conn_queue(struct conn *c, const void *a, size_t a_len, const void *b, size_t b_len)
{
    size_t need = c->out_len + a_len + b_len;

    if (c->doomed)
        return;
    if (need - c->out_off > OUT_MAX) {
        slow_dropped++;
        conn_doom(c);
        return;
    }
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(c->out, cap);
        if (!grown) {
            conn_doom(c);
            return;
        }
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, a, a_len);
    if (b_len)
        memcpy(c->out + c->out_len + a_len, b, b_len);
    c->out_len = need;
    conn_mark_dirty(c);
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

static void send_frame(struct conn *c, int opcode, const uint8_t *payload, size_t len)
{
    uint8_t h[10];

    conn_queue(c, h, frame_header(h, opcode, len), payload, len);
}

/* The fan-out: one header, then the same bytes appended to every client. */
static void broadcast(int opcode, const uint8_t *payload, size_t len)
{
    uint8_t h[10];
    size_t hlen = frame_header(h, opcode, len);

    messages_in++;
    for (uint32_t i = 0; i < ws_count; i++)
        conn_queue(ws_conns[i], h, hlen, payload, len);
}

static void close_with(struct conn *c, uint16_t code)
{
    uint8_t p[2] = { (uint8_t)(code >> 8), (uint8_t)code };

    send_frame(c, 0x8, p, 2);
    c->close_after_flush = 1;
}

/* Handles one unmasked client frame. Returns 0 to go on, -1 when the
 * connection is closing and the rest of the input is to be ignored. */
static int on_frame(struct conn *c, int fin, int opcode, uint8_t *payload, size_t len)
{
    switch (opcode) {
    case 0x1:
    case 0x2:
        if (c->fragment) {
            close_with(c, 1002);
            return -1;
        }
        if (fin) {
            broadcast(opcode, payload, len);
            return 0;
        }
        c->fragment = malloc(len ? len : 1);
        if (!c->fragment) {
            close_with(c, 1011);
            return -1;
        }
        memcpy(c->fragment, payload, len);
        c->fragment_len = len;
        c->fragment_opcode = (uint8_t)opcode;
        return 0;
    case 0x0: {
        if (!c->fragment) {
            close_with(c, 1002);
            return -1;
        }
        if (c->fragment_len + len > MESSAGE_MAX) {
            close_with(c, 1009);
            return -1;
        }
        uint8_t *grown = realloc(c->fragment, c->fragment_len + len + 1);
        if (!grown) {
            close_with(c, 1011);
            return -1;
        }
        c->fragment = grown;
        memcpy(c->fragment + c->fragment_len, payload, len);
        c->fragment_len += len;
        if (fin) {
            broadcast(c->fragment_opcode, c->fragment, c->fragment_len);
            free(c->fragment);
            c->fragment = NULL;
        }
        return 0;
    }
    case 0x8:
        send_frame(c, 0x8, payload, len >= 2 ? 2 : 0);
        c->close_after_flush = 1;
        return -1;
    case 0x9:
        send_frame(c, 0xA, payload, len);
        return 0;
    case 0xA:
        return 0;
    default:
        close_with(c, 1002);
        return -1;
    }
}

/* Parses every complete frame in buf and returns the bytes consumed; a
 * partial frame at the end stays for the next read. */
static size_t parse_frames(struct conn *c, uint8_t *buf, size_t len)
{
    size_t pos = 0;

    while (len - pos >= 2 && !c->close_after_flush) {
        uint8_t b0 = buf[pos], b1 = buf[pos + 1];
        size_t hlen = 2, plen = b1 & 0x7f;

        if (plen == 126)
            hlen += 2;
        else if (plen == 127)
            hlen += 8;
        hlen += 4;
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
        if (!(b1 & 0x80) || (b0 & 0x70)) {
            close_with(c, 1002);
            break;
        }
        if (plen > FRAME_MAX) {
            close_with(c, 1009);
            break;
        }
        if (len - pos - hlen < plen)
            break;
        uint8_t *mask = buf + pos + hlen - 4, *payload = buf + pos + hlen;
        for (size_t i = 0; i < plen; i++)
            payload[i] ^= mask[i & 3];
        pos += hlen + plen;
        if (on_frame(c, b0 & 0x80, b0 & 0x0f, payload, plen) != 0)
            break;
    }
    return pos;
}

static void ws_add(struct conn *c)
{
    c->state = CONN_WS;
    c->ws_slot = ws_count;
    ws_conns[ws_count++] = c;
}

static void ws_remove(struct conn *c)
{
    struct conn *last = ws_conns[--ws_count];

    ws_conns[c->ws_slot] = last;
    last->ws_slot = c->ws_slot;
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

static void http_reply(struct conn *c, const char *status)
{
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);

    conn_queue(c, resp, (size_t)n, NULL, 0);
    c->close_after_flush = 1;
}

/* Answers the opening handshake in buf[0..head_len). Returns 0 if upgraded. */
static int http_upgrade(struct conn *c, char *head)
{
    char accept[WSKEY_ACCEPT_LEN + 1], resp[256];
    const char *key;
    size_t key_len;
    int n;

    if (strncmp(head, "GET ", 4) != 0) {
        http_reply(c, "405 Method Not Allowed");
        return -1;
    }
    if (strncmp(head + 4, "/ws", 3) != 0 || (head[7] != ' ' && head[7] != '?')) {
        http_reply(c, "404 Not Found");
        return -1;
    }
    key = header_value(head, "Sec-WebSocket-Key", &key_len);
    if (!key || key_len == 0) {
        http_reply(c, "400 Bad Request");
        return -1;
    }
    wskey_accept(key, key_len, accept);
    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    conn_queue(c, resp, (size_t)n, NULL, 0);
    ws_add(c);
    return 0;
}

/* Returns the bytes of buf consumed. */
static size_t on_http(struct conn *c, uint8_t *buf, size_t len)
{
    char *end;
    size_t head_len;

    /* The head is text; a NUL after the data lets str* functions stop there. */
    buf[len] = '\0';
    end = strstr((char *)buf, "\r\n\r\n");
    if (!end) {
        if (len >= REQUEST_MAX)
            http_reply(c, "431 Request Header Fields Too Large");
        return c->close_after_flush ? len : 0;
    }
    head_len = (size_t)(end - (char *)buf) + 4;
    end[2] = '\0';
    if (http_upgrade(c, (char *)buf) != 0)
        return len;
    return head_len + parse_frames(c, buf + head_len, len - head_len);
}

static void on_readable(struct conn *c)
{
    size_t have = c->in_len, left;
    ssize_t n;

    if (c->doomed || c->close_after_flush)
        return;
    if (have)
        memcpy(read_buffer, c->in, have);
    n = read(c->fd, read_buffer + have, READ_SIZE - 1 - have);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            conn_doom(c);
        return;
    }
    size_t len = have + (size_t)n;
    size_t used = c->state == CONN_HTTP ? on_http(c, read_buffer, len)
                                        : parse_frames(c, read_buffer, len);
    left = c->close_after_flush ? 0 : len - used;
    if (left == 0) {
        free(c->in);
        c->in = NULL;
    } else {
        uint8_t *kept = realloc(c->in, left);
        if (!kept) {
            conn_doom(c);
            return;
        }
        memmove(kept, read_buffer + used, left);
        c->in = kept;
    }
    c->in_len = left;
}

static void set_want_write(struct conn *c, int on)
{
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

    if (c->want_write != on && epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_write = (uint8_t)on;
}

/* One write() per dirty client per pass: everything queued since the last one. */
static void flush_dirty(void)
{
    for (uint32_t i = 0; i < dirty_count; i++) {
        struct conn *c = dirty_list[i];
        c->dirty = 0;
        if (c->doomed || c->out_off == c->out_len)
            continue;
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            conn_doom(c);
            continue;
        }
        if (n > 0)
            c->out_off += (size_t)n;
        if (c->out_off < c->out_len) {
            set_want_write(c, 1);
            continue;
        }
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = c->out_cap = 0;
        set_want_write(c, 0);
        if (c->close_after_flush)
            conn_doom(c);
    }
    dirty_count = 0;
}

static void conn_destroy(struct conn *c)
{
    if (c->state == CONN_WS)
        ws_remove(c);
    conns[c->fd] = NULL;
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c->fragment);
    free(c);
}

static void close_doomed(void)
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
        if (!c || (rlim_t)fd >= max_fds) {
            free(c);
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        conns[fd] = c;
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
    static struct epoll_event events[1024];
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    struct rlimit rl;

    if (argc != 3 || strcmp(argv[1], "--listen") != 0) {
        fprintf(stderr, "usage: baseline --listen 127.0.0.1:PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    max_fds = rl.rlim_cur;
    conns = calloc(max_fds, sizeof(*conns));
    ws_conns = calloc(max_fds, sizeof(*ws_conns));
    dirty_list = calloc(max_fds, sizeof(*dirty_list));
    doomed_list = calloc(max_fds, sizeof(*doomed_list));
    if (!conns || !ws_conns || !dirty_list || !doomed_list) {
        fprintf(stderr, "baseline: out of memory\n");
        return 1;
    }
    listen_fd = listen_on(argv[2]);
    if (listen_fd < 0) {
        fprintf(stderr, "baseline: cannot listen on %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
    fprintf(stderr, "baseline: listening on %s, up to %llu connections\n", argv[2],
            (unsigned long long)(max_fds - 8));

    for (;;) {
        int n = epoll_wait(epfd, events, 1024, accept_paused ? 100 : -1);
        if (n < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                accept_some();
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                on_readable(c);
            if (events[i].events & EPOLLOUT)
                conn_mark_dirty(c);
        }
        flush_dirty();
        close_doomed();
        if (accept_paused)
            resume_accept();
    }
}
