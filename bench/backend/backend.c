/* backend.c — the bench's HTTP/1.1 backend: the fastest minimal server we could
 * write for hub.http.request to call, so that luahub's outbound calls per second
 * can be set against what the backend itself serves on this box.
 *
 * What it serves: any request (request line, headers, a Content-Length body) gets
 * the same small 200 with Content-Length; connections stay open (HTTP/1.1) and
 * pipelined requests are answered in order. GET /delay/MS answers MS milliseconds
 * later (at most 60 s): the connection serves nothing else meanwhile, which keeps
 * the responses in order, as a real slow backend on one connection would.
 *
 * How: one level-triggered epoll loop; a ready socket gets one read() into a
 * shared buffer and is parsed in place; the responses of that read go out in one
 * write(). Only what a socket does not take, or a request split across reads, is
 * kept per connection. Delayed responses wait in a binary heap ordered by due
 * time, whose head bounds epoll_wait's timeout.
 *
 * usage: backend --listen 127.0.0.1:PORT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "request.h"

#define READ_SIZE (64 * 1024)
#define IN_MAX (REQUEST_HEAD_MAX + REQUEST_BODY_MAX)  /* unparsed bytes one connection may hold */
#define OUT_MAX (16u * 1024 * 1024)  /* a client this far behind in reading is dropped */
#define EVENTS_MAX 1024
#define ACCEPT_BATCH 256
#define NOT_WAITING UINT32_MAX

static const char OK_RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

struct conn {
    int fd;
    uint8_t want_write;      /* EPOLLOUT registered */
    uint8_t closing;         /* close once out is written; read nothing more */
    uint32_t heap_slot;      /* index in the delay heap, NOT_WAITING when none */
    uint64_t due_ns;         /* when the delayed response is due */
    uint8_t *in;             /* request bytes not answered yet; NULL when none */
    size_t in_len, in_cap;
    uint8_t *out;            /* bytes the socket has not taken */
    size_t out_len, out_off, out_cap;
};

static int epfd, listen_fd;
static uint8_t read_buf[READ_SIZE];
static struct conn **heap;
static uint32_t heap_len, heap_cap;

static void die(const char *what)
{
    fprintf(stderr, "backend: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the delay heap: smallest due_ns at heap[0] ----------------------------- */

static void heap_place(uint32_t i, struct conn *c)
{
    heap[i] = c;
    c->heap_slot = i;
}

static void heap_up(uint32_t i)
{
    struct conn *c = heap[i];

    while (i > 0 && heap[(i - 1) / 2]->due_ns > c->due_ns) {
        heap_place(i, heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_place(i, c);
}

static void heap_down(uint32_t i)
{
    struct conn *c = heap[i];

    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= heap_len)
            break;
        if (child + 1 < heap_len && heap[child + 1]->due_ns < heap[child]->due_ns)
            child++;
        if (heap[child]->due_ns >= c->due_ns)
            break;
        heap_place(i, heap[child]);
        i = child;
    }
    heap_place(i, c);
}

static int heap_push(struct conn *c)
{
    if (heap_len == heap_cap) {
        uint32_t cap = heap_cap ? heap_cap * 2 : 1024;
        struct conn **h = realloc(heap, cap * sizeof(*h));
        if (!h)
            return -1;
        heap = h;
        heap_cap = cap;
    }
    heap[heap_len] = c;
    heap_up(heap_len++);
    return 0;
}

static void heap_remove(struct conn *c)
{
    uint32_t i = c->heap_slot;

    c->heap_slot = NOT_WAITING;
    if (--heap_len == i)
        return;
    struct conn *moved = heap[heap_len];   /* the last one fills the hole */
    heap_place(i, moved);
    heap_up(i);
    heap_down(moved->heap_slot);
}

/* ---- connections --------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    if (c->heap_slot != NOT_WAITING)
        heap_remove(c);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static int grow(uint8_t **buf, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap)
        return 0;
    if (need > max)
        return -1;
    size_t n = *cap ? *cap : 512;
    while (n < need)
        n *= 2;
    uint8_t *b = realloc(*buf, n);
    if (!b)
        return -1;
    *buf = b;
    *cap = n;
    return 0;
}

static int queue(struct conn *c, const void *data, size_t len)
{
    if (grow(&c->out, &c->out_cap, c->out_len + len, OUT_MAX) != 0)
        return -1;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static void set_write_interest(struct conn *c, int want)
{
    struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };

    if (c->want_write == want)
        return;
    c->want_write = (uint8_t)want;
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is queued. Returns -1 when the connection was closed. */
static int flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                set_write_interest(c, 1);
                return 0;
            }
            conn_close(c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    set_write_interest(c, 0);
    if (c->closing) {
        conn_close(c);
        return -1;
    }
    return 0;
}

static void refuse(struct conn *c, long why)
{
    static const char *const answers[] = {
        "400 Bad Request", "431 Request Header Fields Too Large", "413 Content Too Large",
        "501 Not Implemented",
    };
    char line[128];
    int len = snprintf(line, sizeof(line), "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                       answers[-why - 1]);

    queue(c, line, (size_t)len);
    c->closing = 1;
}

/* Answers the requests in buf[0..len) up to the first delayed one; returns the
 * bytes consumed. A delayed request is consumed and puts c in the heap. */
static size_t serve(struct conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
    size_t done = 0;

    while (done < len && !c->closing && c->heap_slot == NOT_WAITING) {
        struct request req;
        long n = request_parse(buf + done, len - done, &req);
        if (n == REQUEST_INCOMPLETE)
            break;
        if (n < 0) {
            refuse(c, n);
            return len;
        }
        done += (size_t)n;
        if (!req.keep_alive)
            c->closing = 1;
        if (req.delay_ms) {
            c->due_ns = now + (uint64_t)req.delay_ms * 1000000u;
            if (heap_push(c) != 0)
                c->closing = 1;
        } else if (queue(c, OK_RESPONSE, sizeof(OK_RESPONSE) - 1) != 0) {
            c->closing = 1;
        }
    }
    return done;
}

/* Serves what c->in holds; keeps the unanswered rest at its start. */
static void serve_kept(struct conn *c, uint64_t now)
{
    size_t done = serve(c, c->in, c->in_len, now);

    memmove(c->in, c->in + done, c->in_len - done);
    c->in_len -= done;
}

static void on_readable(struct conn *c, uint64_t now)
{
    ssize_t n = read(c->fd, read_buf, sizeof(read_buf));

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (n < 0 || c->closing)
        return;
    if (c->in_len == 0 && c->heap_slot == NOT_WAITING) {
        /* The common case: whole requests, parsed where read() put them. */
        size_t done = serve(c, read_buf, (size_t)n, now);
        if (done < (size_t)n && !c->closing) {
            if (grow(&c->in, &c->in_cap, (size_t)n - done, IN_MAX) != 0) {
                conn_close(c);
                return;
            }
            memcpy(c->in, read_buf + done, (size_t)n - done);
            c->in_len = (size_t)n - done;
        }
    } else {
        if (grow(&c->in, &c->in_cap, c->in_len + (size_t)n, IN_MAX) != 0) {
            conn_close(c);
            return;
        }
        memcpy(c->in + c->in_len, read_buf, (size_t)n);
        c->in_len += (size_t)n;
        if (c->heap_slot == NOT_WAITING)
            serve_kept(c, now);
    }
    flush(c);
}

static void on_accept(void)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
        if (fd < 0)
            return;
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            return;
        }
        c->fd = fd;
        c->heap_slot = NOT_WAITING;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
            conn_close(c);
    }
}

/* Answers every delayed request that is due, then serves what its connection
 * received meanwhile. */
static void fire_due(uint64_t now)
{
    while (heap_len > 0 && heap[0]->due_ns <= now) {
        struct conn *c = heap[0];
        heap_remove(c);
        if (queue(c, OK_RESPONSE, sizeof(OK_RESPONSE) - 1) != 0)
            c->closing = 1;
        else if (c->in_len && !c->closing)
            serve_kept(c, now);
        flush(c);
    }
}

static int timeout_ms(uint64_t now)
{
    if (heap_len == 0)
        return -1;
    if (heap[0]->due_ns <= now)
        return 0;
    return (int)((heap[0]->due_ns - now + 999999) / 1000000);
}

static void listen_on(const char *spec)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    struct sockaddr_in a = { .sin_family = AF_INET };
    int one = 1;

    if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
        fprintf(stderr, "backend: --listen HOST:PORT (got '%s')\n", spec);
        exit(2);
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "backend: not an IPv4 address: '%s'\n", host);
        exit(2);
    }
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0)
        die("socket");
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(listen_fd, 4096) != 0)
        die("bind/listen");
}

int main(int argc, char **argv)
{
    static struct epoll_event events[EVENTS_MAX];
    struct rlimit rl;

    if (argc != 3 || strcmp(argv[1], "--listen") != 0) {
        fprintf(stderr, "usage: backend --listen 127.0.0.1:PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    listen_on(argv[2]);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &lev) != 0)
        die("epoll_ctl");

    for (;;) {
        int n = epoll_wait(epfd, events, EVENTS_MAX, timeout_ms(now_ns()));
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        uint64_t now = now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c)
                on_accept();
            else if (events[i].events & EPOLLOUT)
                flush(c);
            else
                on_readable(c, now);
        }
        fire_due(now_ns());
    }
}
