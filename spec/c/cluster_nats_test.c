/* cluster_nats_test — core/cluster_nats.c's wire handling, with this file as the server
 * on a loopback socket, the bytes written out literally (as wslay's tests do): a real
 * nats-server never splits a message where a parser could trip, so the splits are made
 * here. The cluster specs run the adapter against a real nats-server.
 *
 *   - the handshake: INFO, then CONNECT asking for headers and no_responders, PING; the
 *     PONG brings it up, and it subscribes its reply inbox;
 *   - MSG and HMSG (headers left out of the payload) on a channel go to `message`; on the
 *     inbox, to `reply` with the token from the subject and the status of the header
 *     block (503: no responders), in one write and fed byte by byte;
 *   - a request is a PUB with the inbox and the token as reply subject;
 *   - a malformed HMSG (header size over the total) drops the connection. */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "cluster.h"

static struct {
    int ups, downs;
    char log[4096];                  /* "message CH DATA|" and "reply TOKEN STATUS DATA|" */
} seen;

static void on_up(void) { seen.ups++; }
static void on_down(const char *why) { seen.downs++; }
static void on_error(const char *why) {}

static char *log_end(size_t *room)
{
    size_t used = strlen(seen.log);
    *room = sizeof seen.log - used;
    return seen.log + used;
}

static void on_message(const char *ch, size_t clen, const uint8_t *data, size_t len)
{
    size_t room;
    char *end = log_end(&room);
    snprintf(end, room, "message %.*s %.*s|", (int)clen, ch, (int)len, (const char *)data);
}

static void on_reply(uint64_t token, int status, const uint8_t *data, size_t len)
{
    size_t room;
    char *end = log_end(&room);
    snprintf(end, room, "reply %llx %d %.*s|", (unsigned long long)token, status, (int)len, (const char *)data);
}

static const struct cluster_events events = { on_up, on_down, on_message, on_error, on_reply };

static void turn(int times)
{
    for (int i = 0; i < times; i++) ev_run(EV_DEFAULT, EVRUN_NOWAIT);
}

/* buf with its line ends shown as "|", for a one-line message. */
static const char *oneline(char *buf)
{
    for (char *p = buf; *p; p++)
        if (*p == '\r' || *p == '\n') *p = '|';
    return buf;
}

/* What the adapter wrote since the last call, up to a deadline of loop turns. */
static const char *read_until(int fd, const char *want, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < 2000 && !strstr(buf, want); i++) {
        turn(1);
        ssize_t r = recv(fd, buf + used, cap - used - 1, MSG_DONTWAIT);
        if (r > 0) used += (size_t)r;
        buf[used] = 0;
        usleep(500);
    }
    return buf;
}

/* Writes bytes whole or one at a time; after each write the loop runs until the adapter
 * has read it (a write makes its socket readable, which ends EVRUN_ONCE). */
static void feed(int fd, const char *bytes, size_t len, int byte_by_byte)
{
    size_t step = byte_by_byte ? 1 : len, i = 0;
    while (i < len && write(fd, bytes + i, step) == (ssize_t)step) {
        i += step;
        ev_run(EV_DEFAULT, EVRUN_ONCE);
        turn(2);
    }
    CHECK(i == len, "wrote %zu bytes %s", len, byte_by_byte ? "one at a time" : "at once");
}

int main(void)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    bind(lfd, (struct sockaddr *)&a, sizeof a);
    listen(lfd, 1);
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    char url[64], err[256];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", ntohs(a.sin_port));
    struct broker_url u;
    CHECK(broker_url_parse(url, &u, err, sizeof err) == 0, "parses %s", url);
    struct cluster_adapter *n = cluster_nats_new(&u, 1, &events);
    CHECK(n->ops->connect(n) == 0, "connect starts");
    turn(5);
    int fd = accept(lfd, NULL, NULL);
    CHECK(fd >= 0, "the adapter connected");

    const char info[] = "INFO {\"server_id\":\"t\",\"max_payload\":1048576,\"headers\":true}\r\n";
    feed(fd, info, sizeof info - 1, 0);
    char buf[8192];
    read_until(fd, "PING\r\n", buf, sizeof buf);
    int asks = strstr(buf, "CONNECT {") && strstr(buf, "\"headers\":true,\"no_responders\":true");
    CHECK(asks, "CONNECT asks for headers and no_responders: %s", oneline(buf));
    feed(fd, "PONG\r\n", 6, 0);
    read_until(fd, ".* ", buf, sizeof buf);
    CHECK(seen.ups == 1, "up after the PONG");
    char inbox[64] = "";
    const char *sub = strstr(buf, "SUB _INBOX.");
    int subscribed = sub && sscanf(sub, "SUB %40[^*]", inbox) == 1 && strlen(inbox) == 24;
    CHECK(subscribed, "subscribes its inbox _INBOX.<16 hex>.*: %s", oneline(buf));

    /* requests: PUB subject inbox+token size */
    CHECK(n->ops->request(n, "$JS.API.STREAM.INFO.s", 21, (const uint8_t *)"", 0, 0x2a) == 0, "request sent");
    char want[128];
    snprintf(want, sizeof want, "PUB $JS.API.STREAM.INFO.s %s000000000000002a 0\r\n\r\n", inbox);
    read_until(fd, want, buf, sizeof buf);
    int sent = strstr(buf, want) != NULL;   /* before oneline() changes buf */
    CHECK(sent, "a request is a PUB with the inbox and the token: %s", oneline(buf));

    char wire[2048];
    int wlen = snprintf(wire, sizeof wire,
        "MSG luahub.room.r luahub.room.r 5\r\nhello\r\n"
        "HMSG luahub.room.r luahub.room.r 22 27\r\nNATS/1.0\r\nX-Key: v\r\n\r\nworld\r\n"
        "HMSG %s000000000000002a 1  16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
        "MSG %s00000000000000ff 1 _INBOX.other 14\r\n{\"stream\":\"s\"}\r\n"
        "HMSG %s0000000000000100 1 63 67\r\nNATS/1.0\r\nNats-Stream: s\r\nNats-Sequence: 7\r\nNats-Subject: x\r\n\r\ntabc\r\n",
        inbox, inbox, inbox);
    const char *expected = "message luahub.room.r hello|message luahub.room.r world|reply 2a 503 |"
                           "reply ff 0 {\"stream\":\"s\"}|reply 100 0 tabc|";
    for (int split = 0; split < 2; split++) {
        seen.log[0] = 0;
        feed(fd, wire, (size_t)wlen, split);
        CHECK(strcmp(seen.log, expected) == 0, "%s: messages and replies as sent: %s",
              split ? "byte by byte" : "in one write", seen.log);
    }
    CHECK(seen.downs == 0, "still up");

    const char bad[] = "HMSG luahub.room.r 1 30 20\r\n";
    feed(fd, bad, sizeof bad - 1, 0);
    CHECK(seen.downs == 1, "a header size over the total drops the connection");

    n->ops->close(n);
    close(fd);
    close(lfd);
    return check_summary();
}
