/* test_client.h — real connections for the C tests, without Lua. The server end of a
 * socketpair goes to conn_new (as accept() would hand it over); the test keeps the other
 * end and speaks as the client: sends the upgrade request and frames, reads what the
 * server wrote and compares it with bytes written out literally. The transport reports
 * to whatever events table the test registered with conn_init.
 *
 * A pass (test_pass) is one turn of server_run's loop: ready sockets are read and
 * writable ones written (io callbacks), then dirty connections are flushed, as many as a
 * pass may write (conn_flush_share). */
#ifndef LUAHUB_TEST_CLIENT_H
#define LUAHUB_TEST_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "fanout_batch.h"
#include "log.h"
#include "server.h"
#include "write_ring.h"

/* Passes without progress after which a read gives up: the server has nothing more. */
#define TEST_IDLE_PASSES 100

struct test_client {
    int fd;                      /* our end; -1 once hung up */
    struct conn *conn;           /* the server's connection (valid until it is torn down) */
    uint64_t id;
    int eof;                     /* the server shut down its side */
};

static const char test_upgrade_request[] =
    "GET /ws HTTP/1.1\r\n"
    "Host: test.local\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

/* The answer to that key (RFC 6455 section 1.3). */
static const char test_101[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "\r\n";

/* Once per test process, after conn_init: the default loop, default settings, and a log
 * that keeps errors only. */
static inline void test_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (!ev_default_loop(0)) {
        fprintf(stderr, "no libev default loop\n");
        _exit(2);
    }
    log_min_level = LOG_ERROR;
    config_defaults(&config);
}

/* From here on the flush's writes go through the io_uring batch (write_ring.h), as the
 * server's do: 1, or 0 (said on stdout) where the kernel refuses io_uring. */
static inline int test_write_ring(void)
{
    int r = write_ring_start();
    if (r != 0) printf("# io_uring unavailable (%s): the cases over the ring are skipped\n", strerror(-r));
    else printf("# the same cases again, written through the io_uring batch\n");
    return r == 0;
}

/* After a round of cases through the ring: it is still in use (no send failed it), and
 * no socket is left registered once its connection is gone. The includer has check.h. */
#define CHECK_WRITE_RING_DONE()                                                               \
    do {                                                                                     \
        CHECK(write_ring_active(), "the ring is still in use after the cases: no send failed it"); \
        CHECK(write_ring_sockets() == 0,                                                     \
              "no socket is left registered with the ring once its connection is gone (%u)", \
              write_ring_sockets());                                                         \
    } while (0)

/* 1 when clients are left dirty for the next pass */
static inline int test_pass(void)
{
    ev_run(EV_DEFAULT, EVRUN_NOWAIT);
    return server_flush_pass();
}

/* sndbuf > 0 bounds the server end's send buffer, so a frame larger than it is only
 * partly written and the socket stays full until the client reads. */
static inline int test_client_open(struct test_client *cl, int sndbuf)
{
    int sv[2];
    memset(cl, 0, sizeof *cl);
    cl->fd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    if (sndbuf > 0) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000),
                                .sin_addr.s_addr = htonl(0x7f000001) };
    cl->conn = conn_new(sv[0], (struct sockaddr *)&peer, sizeof peer);
    if (!cl->conn) {
        close(sv[1]);
        return -1;
    }
    cl->fd = sv[1];
    cl->id = cl->conn->id;
    return 0;
}

static inline int test_client_send(struct test_client *cl, const void *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(cl->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p = (const uint8_t *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads what is there now, without a pass, up to cap bytes. */
static inline size_t test_client_read_now(struct test_client *cl, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap && !cl->eof) {
        ssize_t n = read(cl->fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;                  /* EAGAIN: nothing more for now */
        if (n == 0) cl->eof = 1;
        got += (size_t)n;
    }
    return got;
}

/* Reads n bytes, running passes while the server still writes; fewer on EOF or when
 * nothing arrives for TEST_IDLE_PASSES passes. */
static inline size_t test_client_read(struct test_client *cl, uint8_t *buf, size_t n)
{
    size_t got = 0;
    for (int idle = 0; got < n && !cl->eof && idle < TEST_IDLE_PASSES; idle++) {
        size_t k = test_client_read_now(cl, buf + got, n - got);
        if (k) idle = 0;
        got += k;
        if (got < n) test_pass();
    }
    return got;
}

/* 1 when the next bytes from the server are exactly want[0..n); prints what came
 * instead. */
static inline int test_client_expect(struct test_client *cl, const void *want, size_t n)
{
    uint8_t got[4096];
    if (n > sizeof got) return 0;
    size_t k = test_client_read(cl, got, n);
    if (k == n && memcmp(got, want, n) == 0) return 1;
    printf("# expected %zu bytes, got %zu:", n, k);
    for (size_t i = 0; i < k && i < 64; i++) printf(" %02x", got[i]);
    printf("\n");
    return 0;
}

/* 1 when the server wrote nothing more and shut down its side. */
static inline int test_client_expect_eof(struct test_client *cl)
{
    uint8_t b;
    return test_client_read(cl, &b, 1) == 0 && cl->eof;
}

/* 1 when the server has written nothing more after a few passes. */
static inline int test_client_expect_nothing(struct test_client *cl)
{
    uint8_t b;
    for (int i = 0; i < 3; i++) test_pass();
    return test_client_read_now(cl, &b, 1) == 0 && !cl->eof;
}

/* Sends the upgrade request and runs one pass: the server answers it in that pass. */
static inline void test_client_request_upgrade(struct test_client *cl)
{
    test_client_send(cl, test_upgrade_request, sizeof test_upgrade_request - 1);
    test_pass();
}

/* Opens a connection and upgrades it: 1 when the server answered 101 (literally). */
static inline int test_client_open_ws(struct test_client *cl, int sndbuf)
{
    if (test_client_open(cl, sndbuf) != 0) return 0;
    test_client_request_upgrade(cl);
    return test_client_expect(cl, test_101, sizeof test_101 - 1) && cl->conn->phase == PHASE_WS;
}

/* The client goes away; the server tears the connection down in the next passes.
 * 1 when it is gone. */
static inline int test_client_hang_up(struct test_client *cl)
{
    if (cl->fd >= 0) close(cl->fd);
    cl->fd = -1;
    for (int i = 0; i < 4 && conn_by_id(cl->id); i++) test_pass();
    cl->conn = NULL;
    return conn_by_id(cl->id) == NULL;
}

#endif
