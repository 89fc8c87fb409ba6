/* client.c — see client.h. */
#include "client.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wskey.h"

#define HANDSHAKE_RESPONSE_MAX 2048

struct client_handshake {
    char accept[WSKEY_ACCEPT_LEN + 1];
    size_t len;
    char response[HANDSHAKE_RESPONSE_MAX];
};

/* One receive buffer for every connection: a read is parsed completely before
 * the next one, so nothing in it outlives the call that filled it. */
static uint8_t read_buffer[CLIENT_READ_SIZE];

static uint64_t rng_state;

uint64_t client_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(void)
{
    if (rng_state == 0) {
        if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state) || rng_state == 0)
            rng_state = client_clock_ns() | 1;
    }
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

uint32_t client_mask_key(void)
{
    return (uint32_t)(rng_next() >> 16);
}

/* Edge-triggered: a socket reported once per arrival of data is read once if
 * that read comes back short (the queue is then empty), which spares the
 * kernel re-polling every still-ready socket on each epoll_wait. */
static void set_events(struct client_net *net, struct client *c, uint32_t events)
{
    struct epoll_event ev = { .events = events | EPOLLET, .data.ptr = c };

    if (events != c->epoll_events && epoll_ctl(net->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->epoll_events = events;
}

int client_connect(struct client_net *net, struct client *c, uint32_t id, unsigned source_index)
{
    struct epoll_event ev;
    int fd, one = 1, err;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (net->nsources) {
        struct sockaddr_in src = { .sin_family = AF_INET };
        src.sin_addr = net->sources[source_index % net->nsources];
        /* Port chosen at connect(), per destination: each source address then
         * offers the whole ephemeral range to this one server port. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
            goto fail;
    }
    if (connect(fd, (struct sockaddr *)&net->target, sizeof(net->target)) != 0 &&
        errno != EINPROGRESS)
        goto fail;
    ev.events = EPOLLOUT | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(net->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        goto fail;
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->id = id;
    c->state = CLIENT_CONNECTING;
    c->epoll_events = EPOLLOUT;
    wsframe_parser_init(&c->parser);
    c->parser.whole_max = net->whole_max;
    return 0;
fail:
    err = errno;
    close(fd);
    return -err;
}

static void release(struct client *c)
{
    free(c->handshake);
    c->handshake = NULL;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = c->out_cap = 0;
    wsframe_parser_free(&c->parser);
}

void client_close(struct client_net *net, struct client *c, const char *why)
{
    int was_open = c->state == CLIENT_OPEN;

    if (c->state == CLIENT_CLOSED || c->state == CLIENT_UNUSED)
        return;
    if (net->rst_on_close) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);   /* also leaves the epoll set */
    c->fd = -1;
    c->state = CLIENT_CLOSED;
    release(c);
    if (net->cb.closed)
        net->cb.closed(net, c, was_open, why);
}

static int flush_out(struct client_net *net, struct client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            client_close(net, c, "write failed");
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = c->out_cap = 0;
        set_events(net, c, EPOLLIN);
    } else {
        set_events(net, c, EPOLLIN | EPOLLOUT);
    }
    return 0;
}

int client_send(struct client_net *net, struct client *c, const void *data, size_t len)
{
    size_t done = 0, pending;

    if (c->state != CLIENT_OPEN && c->state != CLIENT_HANDSHAKE)
        return -1;
    if (c->out_len == c->out_off) {
        while (done < len) {
            ssize_t n = write(c->fd, (const uint8_t *)data + done, len - done);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    break;
                client_close(net, c, "write failed");
                return -1;
            }
            done += (size_t)n;
        }
        if (done == len)
            return 0;
    }
    pending = c->out_len - c->out_off + (len - done);
    if (pending > CLIENT_OUT_MAX)
        return -1;
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_len = c->out_off = 0;
    if (c->out_len + (len - done) > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        uint8_t *grown;
        if (c->out_off > 0) {   /* compact before growing */
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        while (cap < c->out_len + (len - done))
            cap *= 2;
        if (cap != c->out_cap) {
            grown = realloc(c->out, cap);
            if (!grown)
                return -1;
            c->out = grown;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, (const uint8_t *)data + done, len - done);
    c->out_len += len - done;
    set_events(net, c, EPOLLIN | EPOLLOUT);
    return 0;
}

int client_send_frame(struct client_net *net, struct client *c, int opcode,
                      const uint8_t *payload, size_t len)
{
    uint8_t stack[256];
    uint8_t *buf = len + WSFRAME_HEADER_MAX <= sizeof(stack) ? stack
                                                             : malloc(len + WSFRAME_HEADER_MAX);
    int rc;

    if (!buf)
        return -1;
    rc = client_send(net, c, buf, wsframe_encode_masked(buf, opcode, payload, len,
                                                        client_mask_key()));
    if (buf != stack)
        free(buf);
    return rc;
}

static void send_request(struct client_net *net, struct client *c)
{
    unsigned char nonce[16];
    char key[WSKEY_KEY_LEN + 1], req[1024];
    uint64_t r1 = rng_next(), r2 = rng_next();
    int n;

    c->handshake = calloc(1, sizeof(*c->handshake));
    if (!c->handshake) {
        client_close(net, c, "out of memory");
        return;
    }
    memcpy(nonce, &r1, 8);
    memcpy(nonce + 8, &r2, 8);
    wskey_from_nonce(nonce, key);
    wskey_accept(key, WSKEY_KEY_LEN, c->handshake->accept);
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n",
                 net->path, net->host_header, key);
    c->state = CLIENT_HANDSHAKE;
    set_events(net, c, EPOLLIN);
    client_send(net, c, req, (size_t)n);
}

static void on_connected(struct client_net *net, struct client *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        client_close(net, c, err == ECONNREFUSED ? "connection refused"
                             : err == ETIMEDOUT  ? "connect timed out"
                                                 : "connect failed");
        return;
    }
    send_request(net, c);
}

/* Finds header `name` (case-insensitive) in a NUL-terminated response head and
 * returns its value with surrounding blanks removed, or NULL. */
static const char *header_value(const char *head, const char *name, size_t *value_len)
{
    size_t name_len = strlen(name);
    const char *line = strstr(head, "\r\n");

    while (line && line[2] != '\r') {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (!end)
            return NULL;
        if ((size_t)(end - line) > name_len && line[name_len] == ':' &&
            strncasecmp(line, name, name_len) == 0) {
            const char *v = line + name_len + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = end;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *value_len = (size_t)(e - v);
            return v;
        }
        line = end;
    }
    return NULL;
}

static int on_frame_message(void *ud, int opcode, const uint8_t *head, size_t head_len,
                            uint64_t message_len);
static int on_frame_control(void *ud, int opcode, const uint8_t *payload, size_t len);

static const struct wsframe_handler frame_handler = { on_frame_message, on_frame_control };

/* The parser's callbacks receive the client; the net travels in a file-scope
 * pointer set for the duration of one wsframe_parse call. */
static struct client_net *parsing_net;

static int on_frame_message(void *ud, int opcode, const uint8_t *head, size_t head_len,
                            uint64_t message_len)
{
    struct client *c = ud;

    if (parsing_net->cb.message)
        return parsing_net->cb.message(parsing_net, c, opcode, head, head_len, message_len);
    return 0;
}

static int on_frame_control(void *ud, int opcode, const uint8_t *payload, size_t len)
{
    struct client *c = ud;
    struct client_net *net = parsing_net;

    if (opcode == WSFRAME_OP_PING) {
        net->pings++;
        client_send_frame(net, c, WSFRAME_OP_PONG, payload, len);
        return c->state == CLIENT_OPEN ? 0 : 1;
    }
    if (opcode == WSFRAME_OP_CLOSE) {
        net->close_frames++;
        net->last_close_code = len >= 2 ? payload[0] << 8 | payload[1] : 1005;
        /* Echo the status code as RFC 6455 §5.5.1 asks, then drop the socket. */
        client_send_frame(net, c, WSFRAME_OP_CLOSE, payload, len >= 2 ? 2 : 0);
        client_close(net, c, "closed by server");
        return 1;
    }
    return 0;
}

static void feed(struct client_net *net, struct client *c, const uint8_t *data, size_t len)
{
    int rc;

    parsing_net = net;
    rc = wsframe_parse(&c->parser, data, len, &frame_handler, c);
    if (rc < 0) {
        fprintf(stderr, "loadgen: conn %u: %s\n", c->id, wsframe_strerror(rc));
        client_close(net, c, "protocol error");
    }
}

/* Gathers the response head; on 101 with the right accept the connection opens
 * and any bytes after the head (frames the server sent at once) are parsed. */
static void on_handshake_data(struct client_net *net, struct client *c, const uint8_t *data,
                              size_t len)
{
    struct client_handshake *hs = c->handshake;
    size_t room = sizeof(hs->response) - 1 - hs->len, take = len < room ? len : room;
    size_t before = hs->len, accept_len;
    const char *end, *accept;

    memcpy(hs->response + hs->len, data, take);
    hs->len += take;
    hs->response[hs->len] = '\0';
    end = strstr(hs->response, "\r\n\r\n");
    if (!end) {
        if (hs->len == sizeof(hs->response) - 1)
            client_close(net, c, "handshake response too large");
        return;
    }
    size_t head_len = (size_t)(end - hs->response) + 4;
    if (strncmp(hs->response, "HTTP/1.1 101", 12) != 0) {
        client_close(net, c, "handshake refused (status not 101)");
        return;
    }
    accept = header_value(hs->response, "Sec-WebSocket-Accept", &accept_len);
    if (!accept || accept_len != WSKEY_ACCEPT_LEN ||
        memcmp(accept, hs->accept, WSKEY_ACCEPT_LEN) != 0) {
        client_close(net, c, "bad Sec-WebSocket-Accept");
        return;
    }
    free(c->handshake);
    c->handshake = NULL;
    c->state = CLIENT_OPEN;
    if (net->cb.open)
        net->cb.open(net, c);
    if (c->state == CLIENT_OPEN && head_len - before < len)
        feed(net, c, data + (head_len - before), len - (head_len - before));
}

void client_handle(struct client_net *net, struct client *c, uint32_t events)
{
    if (c->state == CLIENT_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(net, c);
        return;
    }
    if (c->state != CLIENT_OPEN && c->state != CLIENT_HANDSHAKE)
        return;
    if ((events & EPOLLOUT) && flush_out(net, c) != 0)
        return;
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    for (;;) {
        ssize_t n = read(c->fd, read_buffer, sizeof(read_buffer));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                client_close(net, c, errno == ECONNRESET ? "reset by server" : "read failed");
            return;
        }
        if (n == 0) {
            client_close(net, c, "closed by server (EOF)");
            return;
        }
        net->now_ns = client_clock_ns();
        net->reads++;
        net->read_bytes += (uint64_t)n;
        if (c->state == CLIENT_HANDSHAKE)
            on_handshake_data(net, c, read_buffer, (size_t)n);
        else
            feed(net, c, read_buffer, (size_t)n);
        /* A short read emptied the socket; a full one may have left more. */
        if ((size_t)n < sizeof(read_buffer) || c->state != CLIENT_OPEN)
            return;
    }
}
