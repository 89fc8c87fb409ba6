/* httpload.c — luahub-httpload: closed-loop HTTP/1.1 load on keep-alive connections,
 * to measure the bench backend directly (the capacity hub.http.request calls are
 * set against).
 *
 * --conns N connections each send one request, wait for the whole response, and
 * send the next, until --duration seconds have passed or --requests responses
 * came back in all; then the requests still out are waited for (at most --drain
 * seconds). Latency is from the write() of a request to the read() that completed
 * its response. Every phase is also bounded by --timeout for the whole run.
 * Output: one JSON object (--json) or a few lines, with the server's CPU (--pid)
 * and what other processes used meanwhile, as luahub-loadgen reports them. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hist.h"
#include "procstat.h"
#include "response.h"

#define READ_SIZE (64 * 1024)
#define EVENTS_MAX 1024
#define FD_RESERVE 64

enum conn_state { CONN_CONNECTING = 1, CONN_READY, CONN_WAITING, CONN_CLOSED };

struct conn {
    int fd;
    uint8_t state;
    uint64_t sent_ns;        /* when the request in flight was written */
    char *in;                /* a response split across reads; NULL when none */
    size_t in_len;
};

static struct {
    const char *url;
    struct sockaddr_in target;
    char request[1024];
    size_t request_len;
    uint32_t conns;
    uint64_t requests;       /* 0: no count limit */
    double duration, drain, timeout, connect_timeout;
    pid_t server_pid;
    int json;
} opt = { .conns = 64, .duration = 10, .drain = 5, .timeout = 120, .connect_timeout = 10 };

static struct {
    uint32_t opened, failed, closed;
    uint64_t sent, done, errors, non_2xx;
    uint64_t start_ns, last_done_ns;
    const char *first_error;
    int timed_out;
} st;

static int epfd;
static struct conn *conns;
static struct hist latency;
static char read_buf[READ_SIZE];
static uint64_t deadline_ns;

#define die(...) cli_die("luahub-httpload", __VA_ARGS__)

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(struct conn *c, const char *why)
{
    if (c->state == CONN_CONNECTING)
        st.failed++;
    else
        st.closed++;
    if (!st.first_error)
        st.first_error = why;
    if (c->state == CONN_WAITING)
        st.errors++;
    c->state = CONN_CLOSED;
    close(c->fd);
    free(c->in);
    c->in = NULL;
}

static void send_request(struct conn *c, uint64_t now)
{
    ssize_t n = write(c->fd, opt.request, opt.request_len);

    /* A request this small fits any empty socket buffer, and the previous
     * response was read whole, so the buffer is empty: a short write is an error. */
    if (n != (ssize_t)opt.request_len) {
        fail(c, n < 0 ? strerror(errno) : "short write");
        return;
    }
    c->state = CONN_WAITING;
    c->sent_ns = now;
    st.sent++;
}

static int sending(uint64_t now)
{
    return now - st.start_ns < (uint64_t)(opt.duration * 1e9) &&
           (!opt.requests || st.sent < opt.requests);
}

static void on_readable(struct conn *c, uint64_t now)
{
    ssize_t n = read(c->fd, read_buf, sizeof(read_buf));
    const char *buf = read_buf;
    size_t len;
    struct response res;

    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        fail(c, n == 0 ? "closed by the server" : strerror(errno));
        return;
    }
    if (c->state != CONN_WAITING) {
        fail(c, "bytes from the server with no request out");
        return;
    }
    len = (size_t)n;
    if (c->in) {
        char *joined = realloc(c->in, c->in_len + len);
        if (!joined)
            die("out of memory");
        memcpy(joined + c->in_len, read_buf, len);
        c->in = joined;
        buf = joined;
        len += c->in_len;
        c->in_len = len;
    }
    long whole = response_parse(buf, len, &res);
    if (whole == RESPONSE_INCOMPLETE) {
        if (!c->in) {
            c->in = malloc(len);
            if (!c->in)
                die("out of memory");
            memcpy(c->in, buf, len);
            c->in_len = len;
        }
        return;
    }
    if (whole < 0 || (size_t)whole != len) {
        fail(c, whole < 0 ? "malformed response" : "more bytes than one response");
        return;
    }
    free(c->in);
    c->in = NULL;
    st.done++;
    st.last_done_ns = now;
    if (res.status < 200 || res.status > 299)
        st.non_2xx++;
    hist_record(&latency, now - c->sent_ns);
    c->state = CONN_READY;
    if (res.closes)
        fail(c, "Connection: close from the server");
    else if (sending(now))
        send_request(c, now);
}

static void on_connected(struct conn *c)
{
    int err = 0, one = 1;
    socklen_t len = sizeof(err);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        fail(c, strerror(err));
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = CONN_READY;
    st.opened++;
}

static void loop_once(int timeout_ms)
{
    static struct epoll_event events[EVENTS_MAX];
    int n = epoll_wait(epfd, events, EVENTS_MAX, timeout_ms);
    uint64_t now = now_ns();

    for (int i = 0; i < n; i++) {
        struct conn *c = events[i].data.ptr;
        if (c->state == CONN_CONNECTING)
            on_connected(c);
        else if (c->state != CONN_CLOSED)
            on_readable(c, now);
    }
}

static int past(uint64_t until)
{
    uint64_t now = now_ns();

    if (now >= deadline_ns)
        st.timed_out = 1;
    return now >= until || now >= deadline_ns;
}

static void connect_all(void)
{
    uint64_t until = now_ns() + (uint64_t)(opt.connect_timeout * 1e9);

    for (uint32_t i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        c->state = CONN_CONNECTING;
        if (c->fd < 0)
            die("socket: %s", strerror(errno));
        if ((connect(c->fd, (struct sockaddr *)&opt.target, sizeof(opt.target)) != 0 &&
             errno != EINPROGRESS) ||
            epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            fail(c, strerror(errno));
    }
    while (st.opened + st.failed < opt.conns && !past(until))
        loop_once(20);
    for (uint32_t i = 0; i < opt.conns; i++)
        if (conns[i].state == CONN_CONNECTING)
            fail(&conns[i], "connect timed out");
}

/* Requests until --duration or --requests, then waits for the ones out. */
static void run(void)
{
    uint64_t last_progress, last_done;

    st.start_ns = now_ns();
    for (uint32_t i = 0; i < opt.conns; i++)
        if (conns[i].state == CONN_READY && sending(st.start_ns))
            send_request(&conns[i], st.start_ns);
    while (sending(now_ns()) && st.sent > st.done + st.errors && !past(deadline_ns))
        loop_once(50);
    last_progress = now_ns();
    last_done = st.done;
    while (st.done + st.errors < st.sent && !past(deadline_ns)) {
        loop_once(20);
        if (st.done != last_done) {
            last_done = st.done;
            last_progress = now_ns();
        } else if (now_ns() - last_progress > (uint64_t)(opt.drain * 1e9)) {
            break;
        }
    }
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double cpu_s(const struct procstat *a, const struct procstat *b)
{
    return (b->user_s + b->sys_s) - (a->user_s + a->sys_s);
}

static void report(const struct procstat *server0, const struct procstat *server1,
                   const struct procstat *self0, const struct procstat *self1,
                   const struct machine_cpu *m0, const struct machine_cpu *m1)
{
    double seconds = st.last_done_ns > st.start_ns ? (double)(st.last_done_ns - st.start_ns) / 1e9 : 0;
    double phase = (double)(now_ns() - st.start_ns) / 1e9;
    double self_cpu = cpu_s(self0, self1), server_cpu = server1->ok ? cpu_s(server0, server1) : 0;
    double other = m1->busy_s - m0->busy_s - self_cpu - server_cpu;
    double rate = seconds > 0 ? (double)st.done / seconds : 0;

    if (!opt.json) {
        printf("luahub-httpload  %s  conns=%u\n", opt.url, opt.conns);
        printf("  connect     %u opened, %u failed%s%s\n", st.opened, st.failed,
               st.first_error ? "  first error: " : "", st.first_error ? st.first_error : "");
        printf("  responses   %llu of %llu sent in %.3f s = %.0f/s; errors %llu, non-2xx %llu\n",
               (unsigned long long)st.done, (unsigned long long)st.sent, seconds, rate,
               (unsigned long long)st.errors, (unsigned long long)st.non_2xx);
        printf("  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
               ms(hist_quantile(&latency, 0.5)), ms(hist_quantile(&latency, 0.9)),
               ms(hist_quantile(&latency, 0.99)), ms(latency.count ? latency.max : 0));
        printf("  cpu         httpload %.0f%%, server %.0f%%, other processes %.0f%% of one core\n",
               100 * self_cpu / phase, 100 * server_cpu / phase, 100 * (other > 0 ? other : 0) / phase);
        return;
    }
    printf("{\"mode\":\"http\",\"url\":\"%s\",\"conns\":%u,", opt.url, opt.conns);
    printf("\"connect\":{\"opened\":%u,\"failed\":%u},", st.opened, st.failed);
    printf("\"sent\":%llu,\"responses\":%llu,\"errors\":%llu,\"non_2xx\":%llu,\"closed_during_run\":%u,"
           "\"first_error\":%s%s%s,",
           (unsigned long long)st.sent, (unsigned long long)st.done, (unsigned long long)st.errors,
           (unsigned long long)st.non_2xx, st.closed, st.first_error ? "\"" : "",
           st.first_error ? st.first_error : "null", st.first_error ? "\"" : "");
    printf("\"seconds\":%.3f,\"requests_per_s\":%.1f,", seconds, rate);
    printf("\"latency_ms\":{\"count\":%llu,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
           "\"p999\":%.3f,\"max\":%.3f},",
           (unsigned long long)latency.count, latency.count ? ms(latency.sum / latency.count) : 0.0,
           ms(hist_quantile(&latency, 0.5)), ms(hist_quantile(&latency, 0.9)),
           ms(hist_quantile(&latency, 0.99)), ms(hist_quantile(&latency, 0.999)),
           ms(latency.count ? latency.max : 0));
    printf("\"phase_seconds\":%.3f,\"loadgen\":{\"cpu_percent\":%.1f},", phase, 100 * self_cpu / phase);
    if (opt.server_pid)
        printf("\"server\":{\"pid\":%d,\"ok\":%s,\"cpu_s\":%.3f,\"cpu_percent\":%.1f},",
               (int)opt.server_pid, server1->ok ? "true" : "false", server_cpu,
               100 * server_cpu / phase);
    printf("\"machine\":{\"busy_percent\":%.1f,\"other_percent\":%.1f,\"steal_percent\":%.1f},",
           100 * (m1->busy_s - m0->busy_s) / phase, 100 * (other > 0 ? other : 0) / phase,
           100 * (m1->steal_s - m0->steal_s) / phase);
    printf("\"timed_out\":%s}\n", st.timed_out ? "true" : "false");
}

/* http://A.B.C.D:PORT/path -> opt.target and the request bytes. */
static void parse_url(const char *url, const char *method, size_t body)
{
    char host[64];
    const char *p = url + 7, *colon, *slash;

    if (strncmp(url, "http://", 7) != 0)
        die("--url must start with http://: %s", url);
    slash = strchr(p, '/');
    if (!slash)
        slash = p + strlen(p);
    colon = memchr(p, ':', (size_t)(slash - p));
    if (!colon || (size_t)(colon - p) >= sizeof(host))
        die("--url needs an IPv4 address and a port: %s", url);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - p), p);
    opt.target.sin_family = AF_INET;
    opt.target.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &opt.target.sin_addr) != 1)
        die("--url needs an IPv4 address: %s", url);
    int n = snprintf(opt.request, sizeof(opt.request),
                     "%s %s HTTP/1.1\r\nHost: %.*s\r\nContent-Length: %zu\r\n\r\n", method,
                     *slash ? slash : "/", (int)(slash - p), p, body);
    if (n < 0 || (size_t)n + body >= sizeof(opt.request))
        die("--url or --body too long");
    memset(opt.request + n, 'x', body);
    opt.request_len = (size_t)n + body;
}

static double number(const char *name, const char *s)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end || v < 0)
        die("%s: not a non-negative number: '%s'", name, s);
    return v;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: luahub-httpload --url http://127.0.0.1:PORT/path [options]\n"
"  --conns N         keep-alive connections, each with one request out at a time [64]\n"
"  --duration S      seconds of requests [10]\n"
"  --requests K      stop after K requests in all (whichever comes first) [no limit]\n"
"  --method M        [GET]   --body BYTES  request body of BYTES 'x' [0]\n"
"  --pid PID         server process: CPU from /proc/PID/stat\n"
"  --drain S         give up on requests out after S s without a response [5]\n"
"  --connect-timeout S [10]   --timeout S  hard limit for the whole run [120]\n"
"  --json            print one JSON object\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "url", 1, 0, 'u' }, { "conns", 1, 0, 'n' }, { "duration", 1, 0, 'd' },
        { "requests", 1, 0, 'r' }, { "method", 1, 0, 'm' }, { "body", 1, 0, 'b' },
        { "pid", 1, 0, 'p' }, { "drain", 1, 0, 'D' }, { "connect-timeout", 1, 0, 'C' },
        { "timeout", 1, 0, 't' }, { "json", 0, 0, 'j' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
    };
    const char *method = "GET";
    size_t body = 0;
    struct rlimit rl;
    struct procstat server0 = { 0 }, server1 = { 0 }, self0, self1;
    struct machine_cpu m0, m1;
    int ch;

    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u': opt.url = optarg; break;
        case 'n': opt.conns = (uint32_t)number("--conns", optarg); break;
        case 'd': opt.duration = number("--duration", optarg); break;
        case 'r': opt.requests = (uint64_t)number("--requests", optarg); break;
        case 'm': method = optarg; break;
        case 'b': body = (size_t)number("--body", optarg); break;
        case 'p': opt.server_pid = (pid_t)number("--pid", optarg); break;
        case 'D': opt.drain = number("--drain", optarg); break;
        case 'C': opt.connect_timeout = number("--connect-timeout", optarg); break;
        case 't': opt.timeout = number("--timeout", optarg); break;
        case 'j': opt.json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!opt.url || optind < argc)
        die("give --url http://127.0.0.1:PORT/path (and only options)");
    if (opt.conns == 0)
        die("--conns must be at least 1");
    parse_url(opt.url, method, body);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && opt.conns + FD_RESERVE > rl.rlim_cur)
        die("%u connections need more than this process's %llu file descriptors", opt.conns,
            (unsigned long long)rl.rlim_cur);
    signal(SIGPIPE, SIG_IGN);
    conns = calloc(opt.conns, sizeof(*conns));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || epfd < 0)
        die("setup: %s", strerror(errno));
    hist_init(&latency);
    deadline_ns = now_ns() + (uint64_t)(opt.timeout * 1e9);

    connect_all();
    if (opt.server_pid)
        procstat_read(opt.server_pid, &server0);
    procstat_self(&self0);
    procstat_machine(&m0);
    if (st.opened)
        run();
    if (opt.server_pid)
        procstat_read(opt.server_pid, &server1);
    procstat_self(&self1);
    procstat_machine(&m1);
    report(&server0, &server1, &self0, &self1, &m0, &m1);
    return st.timed_out || st.opened == 0 ? 3 : 0;
}
