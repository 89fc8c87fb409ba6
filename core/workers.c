/* workers.c — the master of `luahub --workers N` (workers.h): starts the workers, hears
 * their notify datagrams, restarts the ones that die or stop pinging, passes signals on.
 * One libev loop, as in a worker; nothing here runs a script or touches a client. */
#include "workers.h"

#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "notify.h"
#include "parent.h"

/* A worker that dies within this many seconds of being ready (or before) counts as a
 * failure in a row; one that ran longer starts its next restart delay from the bottom. */
#define STABLE_SECONDS 10.0
#define RESTART_BASE 0.1
#define RESTART_MAX 30.0
/* A worker must be ready this long after it was started (loading the script is bounded
 * by script_timeout; the rest does not block), or by --watchdog when that is longer. */
#define STARTUP_SECONDS 10.0

enum phase { STARTING, RUNNING, STOPPING };

struct worker {
    int index;
    pid_t pid;                 /* 0 while none runs */
    int ready, reloading, killed;
    int failures;              /* quick deaths in a row */
    ev_tstamp started_at, ready_at, last_heard;
    ev_child child;
    ev_timer restart;
};

static struct {
    int count;
    double watchdog;
    char **argv;               /* a worker's, with room for --worker I --parent-pid P */
    int argc;
    char index_arg[16], master_arg[16];
    int notify_fd;
    char notify_name[64];      /* "@luahub-workers-PID-RANDOM": an abstract socket */
    ev_io notify_io;
    ev_signal sighup, sigterm, sigint;
    ev_timer check;
    enum phase phase;
    int status, reload_pending;
    struct worker w[WORKERS_MAX];
} m;

int workers_parse_count(const char *text)
{
    if (strcmp(text, "auto") == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
    }
    char *end;
    long n = strtol(text, &end, 10);
    return *end || end == text || n < 1 || n > WORKERS_MAX ? -1 : (int)n;
}

static int running(void)
{
    int n = 0;
    for (int i = 0; i < m.count; i++) n += m.w[i].pid != 0;
    return n;
}

static void describe_end(int status, char *out, size_t len)
{
    if (WIFEXITED(status))
        snprintf(out, len, "exited with status %d%s", WEXITSTATUS(status),
                 WEXITSTATUS(status) == 3 ? " (a script call it could not interrupt)" : "");
    else if (WIFSIGNALED(status))
        snprintf(out, len, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, len, "ended (wait status %d)", status);
}

static void child_cb(struct ev_loop *loop, ev_child *c, int revents);

/* fork, then exec this binary as worker w. The child blocks the signals the worker
 * handles until its loop runs (server_run unblocks them): a SIGHUP or SIGTERM passed
 * on while it loads the script waits for it instead of killing it. */
static void spawn(struct worker *w)
{
    snprintf(m.index_arg, sizeof m.index_arg, "%d", w->index);
    pid_t pid = fork();
    if (pid < 0) {
        /* tried again with the backoff of a worker that died, or the service would stay
         * a worker short (or never become ready) for good */
        double delay = backoff_doubling(w->failures, RESTART_BASE, RESTART_MAX);
        w->failures++;
        log_error(0, "workers: cannot start worker %d: fork: %s; trying again in %.1fs", w->index,
                  strerror(errno), delay);
        ev_timer_set(&w->restart, delay, 0);
        ev_timer_start(EV_DEFAULT, &w->restart);
        return;
    }
    if (pid == 0) {
        sigset_t held;
        sigemptyset(&held);
        sigaddset(&held, SIGHUP);
        sigaddset(&held, SIGTERM);
        sigaddset(&held, SIGINT);
        sigprocmask(SIG_SETMASK, &held, NULL);
        char usec[32], self[16];
        /* notify.c pings every half of WATCHDOG_USEC: asking for half of --watchdog makes
         * that a quarter, so a loop pass of up to 3/4 of it (a broadcast to 20,000
         * clients on a busy box) is not taken for a hang */
        snprintf(usec, sizeof usec, "%.0f", m.watchdog / 2 * 1e6);
        snprintf(self, sizeof self, "%d", (int)getpid());
        setenv("NOTIFY_SOCKET", m.notify_name, 1);
        setenv("WATCHDOG_USEC", usec, 1);
        setenv("WATCHDOG_PID", self, 1);
        execv("/proc/self/exe", m.argv);
        fprintf(stderr, "luahub: workers: cannot run worker %d: exec /proc/self/exe: %s\n", w->index,
                strerror(errno));
        _exit(127);
    }
    w->pid = pid;
    w->ready = w->reloading = w->killed = 0;
    w->started_at = w->last_heard = ev_now(EV_DEFAULT);
    ev_child_set(&w->child, pid, 0);
    ev_child_start(EV_DEFAULT, &w->child);
    log_info(0, "workers: worker %d started (pid %d)", w->index, (int)pid);
}

static void stop_workers(const char *why)
{
    /* The second stop is SIGINT: two SIGTERMs sent back to back merge into one pending
     * signal (always so for a worker that still blocks them while it starts), and the
     * second must reach it as a second signal, "close your clients now". */
    int sig = m.phase == STOPPING ? SIGINT : SIGTERM;
    for (int i = 0; i < m.count; i++) {
        ev_timer_stop(EV_DEFAULT, &m.w[i].restart);
        if (m.w[i].pid) kill(m.w[i].pid, sig);
    }
    if (m.phase != STOPPING) {
        m.phase = STOPPING;
        notify_state("STOPPING=1");
        log_info(0, "workers: %s: stopping %d workers", why, running());
    } else {
        log_info(0, "workers: %s: passed on to %d workers (they close their clients now)", why, running());
    }
    if (!running()) ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static void restart_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    if (m.phase != STOPPING) spawn(w);
}

/* A reload is done when every running worker has said READY=1 after it. */
static void reload_settled(void)
{
    if (!m.reload_pending) return;
    for (int i = 0; i < m.count; i++)
        if (m.w[i].pid && m.w[i].reloading) return;
    m.reload_pending = 0;
    notify_state("READY=1");
    log_info(0, "workers: every worker has reloaded (each logs whether its reload succeeded)");
}

static void child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
    struct worker *w = c->data;
    ev_child_stop(loop, c);
    char how[128];
    describe_end(c->rstatus, how, sizeof how);
    int pid = (int)w->pid, was_ready = w->ready;
    w->pid = 0;
    w->ready = w->reloading = 0;
    if (m.phase == STOPPING) {
        int clean = WIFEXITED(c->rstatus) && WEXITSTATUS(c->rstatus) == 0;
        if (!clean) m.status = 1;
        log_msg(clean ? LOG_INFO : LOG_WARN, 0, "workers: worker %d (pid %d) %s", w->index, pid, how);
        if (!running()) ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (m.phase == STARTING) {
        log_error(0, "workers: worker %d (pid %d) %s before it was ready (its log above says why): "
                  "not starting the service", w->index, pid, how);
        m.status = 1;
        stop_workers("a worker failed to start");
        return;
    }
    if (was_ready && ev_now(loop) - w->ready_at >= STABLE_SECONDS) w->failures = 0;
    double delay = backoff_doubling(w->failures, RESTART_BASE, RESTART_MAX);
    w->failures++;
    log_warn(0, "workers: worker %d (pid %d) %s%s; restarting it in %.1fs (failure %d in a row)",
             w->index, pid, how, was_ready ? "" : " before it was ready (its log above says why)", delay,
             w->failures);
    ev_timer_set(&w->restart, delay, 0);
    ev_timer_start(loop, &w->restart);
    reload_settled();
}

static void heard(struct worker *w, const char *line, size_t len)
{
    w->last_heard = ev_now(EV_DEFAULT);
    if (len == 7 && memcmp(line, "READY=1", 7) == 0) {
        if (!w->ready) {
            w->ready = 1;
            w->ready_at = ev_now(EV_DEFAULT);
            log_info(0, "workers: worker %d (pid %d) is ready", w->index, (int)w->pid);
        }
        w->reloading = 0;
        reload_settled();
        if (m.phase != STARTING) return;
        if (w->index == 0 && running() == 1) {
            /* the first worker loaded the script: the others will too, and a broken
             * script was reported once, by it */
            for (int i = 1; i < m.count; i++) spawn(&m.w[i]);
        }
        for (int i = 0; i < m.count; i++)
            if (!m.w[i].ready) return;
        m.phase = RUNNING;
        notify_state("READY=1");
        log_info(0, "workers: all %d workers ready", m.count);
    } else if (len == 11 && memcmp(line, "RELOADING=1", 11) == 0) {
        w->reloading = 1;
    }
}

static struct worker *worker_of(pid_t pid)
{
    for (int i = 0; i < m.count; i++)
        if (m.w[i].pid == pid && pid) return &m.w[i];
    return NULL;
}

/* Datagrams whose sender (the kernel's SCM_CREDENTIALS, which a process cannot forge)
 * is not a current worker are ignored. */
static void notify_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    for (int k = 0; k < 64; k++) {
        char buf[512];
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(struct ucred))];
        } ctl;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl,
                              .msg_controllen = sizeof ctl };
        ssize_t n = recvmsg(io->fd, &msg, MSG_DONTWAIT);
        if (n < 0) return;
        struct worker *w = NULL;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof cred);
                w = worker_of(cred.pid);
            }
        }
        if (!w) continue;
        for (char *line = buf, *end = buf + n; line < end;) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
            heard(w, line, len);
            line += len + 1;
        }
    }
}

/* Liveness: a running worker pings every half --watchdog from its loop; one that has
 * not for a whole --watchdog (stopped, or its loop stuck) is killed, then restarted
 * like any worker that died. SIGKILL, because a stopped process takes no other. */
static void check_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    /* pings already queued count: libev may run this before the socket's watcher in a
     * pass that follows a long wait for the CPU */
    notify_cb(loop, &m.notify_io, EV_READ);
    ev_tstamp now = ev_now(loop);
    for (int i = 0; i < m.count; i++) {
        struct worker *w = &m.w[i];
        if (!w->pid || w->killed) continue;
        double limit = w->ready ? m.watchdog : m.watchdog > STARTUP_SECONDS ? m.watchdog : STARTUP_SECONDS;
        double quiet = now - w->last_heard;
        if (quiet <= limit) continue;
        log_warn(0, "workers: worker %d (pid %d) %s for %.1fs (stopped or hung): killing it", w->index,
                 (int)w->pid, w->ready ? "sent no watchdog ping" : "has not become ready", quiet);
        kill(w->pid, SIGKILL);
        w->killed = 1;
    }
}

static void reload_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    if (m.phase == STOPPING) return;
    notify_state("RELOADING=1");
    log_info(0, "workers: SIGHUP: reloading %d workers", running());
    m.reload_pending = 1;
    for (int i = 0; i < m.count; i++) {
        if (!m.w[i].pid) continue;
        m.w[i].reloading = 1;
        kill(m.w[i].pid, SIGHUP);
    }
    reload_settled();
}

static void stop_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    char why[32];
    snprintf(why, sizeof why, "signal %d", s->signum);
    stop_workers(why);
}

/* The process given by --parent-pid ended: stop now, as a second signal would. */
static void parent_gone(const char *why)
{
    if (m.phase != STOPPING) stop_workers(why);
    stop_workers(why);
}

static int open_notify_socket(void)
{
    unsigned rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd) rnd = (unsigned)getpid() * 2654435761u;
    snprintf(m.notify_name, sizeof m.notify_name, "@luahub-workers-%d-%08x", (int)getpid(), rnd);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t len = strlen(m.notify_name);
    memcpy(a.sun_path, m.notify_name, len);
    a.sun_path[0] = 0;   /* abstract: nothing on disk to clean up */
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int workers_run(int count, double watchdog, char **worker_argv, int parent_pid)
{
    struct ev_loop *loop = EV_DEFAULT;
    char err[256];
    m.count = count;
    m.watchdog = watchdog;
    while (worker_argv[m.argc]) m.argc++;
    m.argv = calloc((size_t)m.argc + 6, sizeof *m.argv);
    if (!m.argv) return 1;
    memcpy(m.argv, worker_argv, (size_t)m.argc * sizeof *m.argv);
    snprintf(m.master_arg, sizeof m.master_arg, "%d", (int)getpid());
    m.argv[m.argc] = "--worker";
    m.argv[m.argc + 1] = m.index_arg;
    m.argv[m.argc + 2] = "--parent-pid";
    m.argv[m.argc + 3] = m.master_arg;
    m.notify_fd = open_notify_socket();
    if (m.notify_fd < 0) {
        fprintf(stderr, "luahub: workers: cannot open the workers' notify socket: %s\n", strerror(errno));
        free(m.argv);
        return 1;
    }
    if (parent_pid > 0 && parent_watch(parent_pid, parent_gone, err, sizeof err) != 0) {
        fprintf(stderr, "luahub: %s\n", err);
        free(m.argv);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    ev_io_init(&m.notify_io, notify_cb, m.notify_fd, EV_READ);
    ev_io_start(loop, &m.notify_io);
    ev_signal_init(&m.sighup, reload_cb, SIGHUP);
    ev_signal_start(loop, &m.sighup);
    ev_signal_init(&m.sigterm, stop_cb, SIGTERM);
    ev_signal_start(loop, &m.sigterm);
    ev_signal_init(&m.sigint, stop_cb, SIGINT);
    ev_signal_start(loop, &m.sigint);
    double tick = watchdog / 4 < 1 ? watchdog / 4 : 1;
    ev_timer_init(&m.check, check_cb, tick, tick);
    ev_timer_start(loop, &m.check);
    for (int i = 0; i < count; i++) {
        m.w[i].index = i;
        ev_init(&m.w[i].child, child_cb);
        ev_init(&m.w[i].restart, restart_cb);
        m.w[i].child.data = m.w[i].restart.data = &m.w[i];
    }
    notify_start();
    log_info(0, "workers: master (pid %d) starting %d workers, watchdog %.1fs", (int)getpid(), count, watchdog);
    spawn(&m.w[0]);   /* a failed fork is tried again from the loop */
    ev_run(loop, 0);
    close(m.notify_fd);
    free(m.argv);
    log_info(0, "workers: stopped%s", m.status ? " (with failures, see above)" : "");
    return m.status;
}
