/* fuzz.h — what the fuzz targets in spec/fuzz share: the process set up the way main.c
 * and server.c set it up, input cut into reads, real clients over socketpairs, checks of
 * what the server wrote, and how a finding is reported.
 *
 * A target is one file, spec/fuzz/NAME_fuzz.c, defining fuzz_NAME(data, size). `make
 * fuzz` builds it with clang -fsanitize=fuzzer, where its LLVMFuzzerTestOneInput calls
 * fuzz_NAME. spec/c/fuzz_seeds_test.c includes every target with FUZZ_REPLAY defined and
 * replays spec/fuzz/corpus/NAME/ through the same functions (gcc, `make test`, and under
 * ASan with `make asan`), so the harness and the seeds stay working without libFuzzer.
 *
 * Findings beyond what the sanitizers see:
 *   - an error-level log line: the core logs every Lua error (dispatcher, handler,
 *     API, HTTP route, before_connect) at error level, and the fuzz script calls the
 *     API only with arguments of the documented types, so a Lua error from peer bytes
 *     is a bug. The log goes to an in-memory stream (fuzz_log_buf), checked after
 *     every input;
 *   - a broken invariant a target states (fuzz_fail), e.g. data after a close frame.
 * Either prints what happened on the real stderr and aborts, which libFuzzer records
 * as a crash with the input. */
#ifndef LUAHUB_FUZZ_H
#define LUAHUB_FUZZ_H

#include <errno.h>
#include <ev.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lh_api.h"
#include "app.h"
#include "config.h"
#include "conn.h"
#include "hub.h"
#include "log.h"
#include "lua_bridge.h"
#include "metrics.h"
#include "server.h"
#include "utf8.h"

/* The API key the fuzz config sets, so /api/ requests reach the Lua module. */
#define FUZZ_API_KEY "fuzz-key"
/* Reads per input after which the rest of the input goes in one read: byte-by-byte
 * splitting of a long input would cost more than it finds. */
#define FUZZ_READS_MAX 64
/* Server output kept per client; more is counted but not checked. */
#define FUZZ_OUTPUT_MAX (4u << 20)

static char fuzz_dir[PATH_MAX];        /* spec/fuzz: the script, the seed corpus */
static char fuzz_base[64];             /* temp dir: secret.txt and the static root */
static char fuzz_root[80];             /* fuzz_base/root */
static struct stat fuzz_secret;        /* fuzz_base/secret.txt, outside the root */
static char *fuzz_log_buf;
static size_t fuzz_log_len;

__attribute__((format(printf, 1, 2), noreturn))
static inline void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fflush(stderr);
    if (fuzz_log_len) dprintf(2, "--- server log ---\n%.*s---\n", (int)fuzz_log_len, fuzz_log_buf);
    dprintf(2, "FUZZ FINDING: ");
    va_start(ap, fmt);
    vdprintf(2, fmt, ap);
    va_end(ap);
    dprintf(2, "\n");
    abort();
}

/* Memory in use that LeakSanitizer takes for leaked when libFuzzer checks after an input:
 *   - lua-cjson keeps its encode buffer in malloc'd memory that only a userdata in the Lua
 *     heap points to;
 *   - the Lua heap comes from guard_alloc (core/guard.c), and LuaJIT's JIT compiler keeps
 *     its IR buffer through a pointer biased below the block's start, which LSan does not
 *     take for a reference: once a flood makes a handler hot, a 2-8 KiB block (untouched
 *     at its start) "leaks", and no longer does with the JIT off. LuaJIT's library has no
 *     symbols, so the suppression names the allocator: the Lua heap is the Lua GC's.
 * Nothing else is suppressed; the Lua states are closed at exit (atexit) all the same. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:strbuf_init\nleak:guard_alloc\n"; }

/* After every input: any error-level line logged while it ran is a finding. */
static inline void fuzz_check_log(void)
{
    fflush(stderr);
    if (fuzz_log_len) fuzz_fail("the server logged an error");
}

/* Errors the input was expected to cause (a target's oracle said so): when every line
 * logged contains `expected` (or is the script's notice of error lines it left out:
 * handler errors are logged at most ten a second), the log is emptied and 1 returned;
 * an empty log counts only when empty_ok (the expected line may be one left out).
 * Otherwise the log stays as it is (any other line remains a finding) and 0 is
 * returned. */
static inline int fuzz_log_only(const char *expected, int empty_ok)
{
    static const char left_out[] = "handler errors: ";
    fflush(stderr);
    size_t at = 0;
    if (fuzz_log_len == 0) return empty_ok;
    while (at < fuzz_log_len) {
        const char *line = fuzz_log_buf + at;
        const char *nl = memchr(line, '\n', fuzz_log_len - at);
        size_t len = nl ? (size_t)(nl - line) : fuzz_log_len - at;
        if (!memmem(line, len, expected, strlen(expected)) && !memmem(line, len, left_out, sizeof left_out - 1))
            return 0;
        at += len + 1;
    }
    fseeko(stderr, 0, SEEK_SET);
    fflush(stderr);
    return 1;
}

static inline int fuzz_log_expected(const char *expected) { return fuzz_log_only(expected, 0); }

static inline int fuzz_remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

static inline void fuzz_remove_tree(void)
{
    if (fuzz_base[0]) nftw(fuzz_base, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void fuzz_write_file(const char *relative, const char *body)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", fuzz_base, relative);
    FILE *f = fopen(path, "w");
    if (!f || fputs(body, f) < 0 || fclose(f) != 0) fuzz_fail("cannot create %s", path);
}

static inline void fuzz_link(const char *target, const char *relative)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", fuzz_base, relative);
    if (symlink(target, path) != 0) fuzz_fail("cannot create link %s", path);
}

/* A static root with a file outside it that must never be served (static_resolve's
 * promise), links that stay inside and links that lead out:
 *   base/secret.txt   base/root/{index.html, app.js, a b.txt, sub/a.css, sub/index.html,
 *   link-in -> app.js, link-out -> ../secret.txt, link-up -> ..} */
static inline void fuzz_make_tree(void)
{
    char path[PATH_MAX];
    snprintf(fuzz_base, sizeof fuzz_base, "/tmp/luahub-fuzz-XXXXXX");
    if (!mkdtemp(fuzz_base)) fuzz_fail("mkdtemp: %s", strerror(errno));
    atexit(fuzz_remove_tree);
    snprintf(fuzz_root, sizeof fuzz_root, "%s/root", fuzz_base);
    snprintf(path, sizeof path, "%s/sub", fuzz_root);
    if (mkdir(fuzz_root, 0755) != 0 || mkdir(path, 0755) != 0) fuzz_fail("mkdir %s", path);
    fuzz_write_file("secret.txt", "secret\n");
    fuzz_write_file("root/index.html", "<!doctype html><title>fuzz</title>\n");
    fuzz_write_file("root/app.js", "console.log(1)\n");
    fuzz_write_file("root/a b.txt", "space\n");
    fuzz_write_file("root/sub/a.css", "body{}\n");
    fuzz_write_file("root/sub/index.html", "<p>sub</p>\n");
    fuzz_link("app.js", "root/link-in");
    fuzz_link("../secret.txt", "root/link-out");
    fuzz_link("..", "root/link-up");
    snprintf(path, sizeof path, "%s/secret.txt", fuzz_base);
    if (stat(path, &fuzz_secret) != 0) fuzz_fail("stat %s", path);
}

/* The settings every input starts from: defaults, plus the API key and the static root,
 * so every plain HTTP path (probes, metrics, API, routes, files) is reachable. Targets
 * vary fields of `config` per input and call this again afterwards. */
static inline void fuzz_config_reset(void)
{
    char err[256];
    config_defaults(&config);
    if (lh_config_set_string("api_key", FUZZ_API_KEY, err, sizeof err) != 0 ||
        lh_config_set_string("static", fuzz_root, err, sizeof err) != 0)
        fuzz_fail("config: %s", err);
}

/* Once per process: what main.c does before serving, minus the socket. The log keeps
 * only errors, in memory; the script's log settings cannot change that (pinned). */
static inline void fuzz_setup_core(void)
{
    static int done;
    if (done) return;
    done = 1;
    /* __FILE__ is spec/fuzz/fuzz.h as the compiler found it, relative to the repository
     * root where make runs every target and test. */
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s", __FILE__);
    char *slash = strrchr(fuzz_dir, '/');
    if (slash) *slash = 0;
    else snprintf(fuzz_dir, sizeof fuzz_dir, ".");
    signal(SIGPIPE, SIG_IGN);
    log_min_level = LOG_ERROR;
    log_output_format = LOG_TEXT;
    log_pinned_level = log_pinned_format = 1;
    FILE *log = open_memstream(&fuzz_log_buf, &fuzz_log_len);
    if (!log) fuzz_fail("open_memstream: %s", strerror(errno));
    stderr = log;
    fuzz_make_tree();
    fuzz_config_reset();
}

/* The bytes of an input after its option bytes, cut into reads: each read's size comes
 * from a small xorshift seeded by an input byte, so mutating that byte re-splits the same
 * bytes (whole, byte by byte, header-sized, anywhere). */
struct fuzz_reads {
    const uint8_t *p;
    size_t left;
    uint32_t state;
    int count;
};

static inline void fuzz_reads_init(struct fuzz_reads *r, const uint8_t *p, size_t n, uint8_t seed)
{
    r->p = p;
    r->left = n;
    r->state = (uint32_t)seed * 2654435761u | 1;
    r->count = 0;
}

/* The next read (0 when the input is used up). */
static inline size_t fuzz_reads_next(struct fuzz_reads *r, const uint8_t **chunk)
{
    if (!r->left) return 0;
    uint32_t x = r->state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r->state = x;
    size_t n;
    switch (x & 3) {
    case 0: n = r->left; break;
    case 1: n = 1; break;
    case 2: n = 1 + (x >> 2) % 16; break;
    default: n = 1 + (x >> 2) % r->left; break;
    }
    if (n > r->left || ++r->count >= FUZZ_READS_MAX) n = r->left;
    *chunk = r->p;
    r->p += n;
    r->left -= n;
    return n;
}

/* A client: our end of a socketpair whose other end the server accepted (conn_new),
 * and everything the server wrote to it. */
struct fuzz_client {
    int fd;                      /* -1 once closed */
    uint8_t *out;
    size_t out_len, out_cap;
    size_t out_total;            /* bytes read, including those beyond FUZZ_OUTPUT_MAX */
    int eof;
    int unread;                  /* a peer that does not read: fuzz_pass skips it, what the
                                  * server wrote is read only when it hangs up */
};

/* server_sndbuf, when not 0, is the send buffer of the server's end (SO_SNDBUF; the
 * kernel doubles it and keeps a minimum of a few KiB): with a client that does not read,
 * the server's own buffers (send queue, control frames) fill after that many bytes rather
 * than after the default ~200 KiB. */
static inline void fuzz_client_open(struct fuzz_client *cl, int server_sndbuf)
{
    int sv[2];
    memset(cl, 0, sizeof *cl);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        fuzz_fail("socketpair: %s", strerror(errno));
    if (server_sndbuf && setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &server_sndbuf, sizeof server_sndbuf) != 0)
        fuzz_fail("SO_SNDBUF: %s", strerror(errno));
    /* the server sees a TCP peer, as accept() would give it */
    struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(40000),
                                .sin_addr.s_addr = htonl(0x7f000001) };
    if (!conn_new(sv[0], (struct sockaddr *)&peer, sizeof peer)) fuzz_fail("conn_new failed");
    cl->fd = sv[1];
}

/* Reads whatever the server wrote so far. */
static inline void fuzz_client_read(struct fuzz_client *cl)
{
    uint8_t buf[65536];
    while (cl->fd >= 0 && !cl->eof) {
        ssize_t n = read(cl->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            cl->eof = 1;          /* the server closed, or reset */
            return;
        }
        cl->out_total += (size_t)n;
        size_t keep = (size_t)n;
        if (cl->out_len + keep > FUZZ_OUTPUT_MAX) keep = FUZZ_OUTPUT_MAX - cl->out_len;
        if (cl->out_len + keep > cl->out_cap) {
            size_t cap = cl->out_cap ? cl->out_cap : 4096;
            while (cap < cl->out_len + keep) cap *= 2;
            uint8_t *p = realloc(cl->out, cap);
            if (!p) fuzz_fail("out of memory");
            cl->out = p;
            cl->out_cap = cap;
        }
        memcpy(cl->out + cl->out_len, buf, keep);
        cl->out_len += keep;
    }
}

/* Sends bytes as the client; a server that stopped reading (closed, or a full socket
 * buffer after it gave up on us) gets the rest dropped, as a real peer would see. */
static inline int fuzz_client_write(struct fuzz_client *cl, const void *p, size_t n)
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

static inline void fuzz_client_free(struct fuzz_client *cl)
{
    if (cl->fd >= 0) close(cl->fd);
    free(cl->out);
    cl->fd = -1;
    cl->out = NULL;
}

/* One loop pass as server_run makes it: ready sockets are read (io callbacks), then the
 * work of server.c's flush_cb. Then every client takes what was written. */
static inline void fuzz_pass(struct fuzz_client *clients, int n)
{
    ev_run(EV_DEFAULT, EVRUN_NOWAIT);
    hub_fire_dropped();
    server_flush_pass();
    for (int i = 0; i < n; i++)
        if (!clients[i].unread) fuzz_client_read(&clients[i]);
}

/* Ends an input: the clients hang up, and the server must let go of every connection
 * and everything they held (rooms, users, queued frames) within a few passes. */
static inline void fuzz_hang_up(struct fuzz_client *clients, int n)
{
    for (int i = 0; i < n; i++) {
        fuzz_client_read(&clients[i]);
        close(clients[i].fd);
        clients[i].fd = -1;
    }
    for (int pass = 0; pass < 4 && conn_open_count() > 0; pass++) fuzz_pass(clients, n);
    if (conn_open_count() != 0)
        fuzz_fail("%u connections still open after every client hung up", conn_open_count());
    if (lh_count() != 0 || lh_room_total() != 0)
        fuzz_fail("after the last connection: %u clients, %u rooms", lh_count(), lh_room_total());
    if (metrics.queued_frames != 0 || metrics.queued_bytes != 0)
        fuzz_fail("after the last connection: %lld frames, %lld bytes still counted as queued",
                  (long long)metrics.queued_frames, (long long)metrics.queued_bytes);
}

/* After the output checks: frees the clients and checks the input left no config change
 * and no error in the log. */
static inline void fuzz_finish(struct fuzz_client *clients, int n)
{
    for (int i = 0; i < n; i++) fuzz_client_free(&clients[i]);
    fuzz_config_reset();
    fuzz_check_log();
}

/* Once per process: the libev default loop and the fuzz script, as for `luahub
 * spec/fuzz/hub.lua`; the Lua module comes from this checkout. */
static inline void fuzz_setup_server(void)
{
    static int done;
    if (done) return;
    done = 1;
    fuzz_setup_core();
    if (!ev_default_loop(0)) fuzz_fail("no libev default loop");
    app_wire();
    char path[PATH_MAX + 32], err[1024];
    snprintf(path, sizeof path, "%s/../../lua", fuzz_dir);
    setenv("LUAHUB_LUA_DIR", path, 0);
    snprintf(path, sizeof path, "%s/hub.lua", fuzz_dir);
    if (lua_bridge_load(path, NULL, err, sizeof err) != 0) fuzz_fail("loading %s: %s", path, err);
    /* the script sets no config: undo what _setup applied from the defaults */
    fuzz_config_reset();
    atexit(lua_bridge_shutdown);
    fuzz_check_log();
}

/* The status of the HTTP response at the start of out, 0 if there is none yet; *head_len
 * gets the length of the head (through the blank line). */
static inline int fuzz_http_status(const uint8_t *out, size_t len, size_t *head_len)
{
    if (len < 12 || memcmp(out, "HTTP/1.1 ", 9) != 0) return 0;
    const uint8_t *end = memmem(out, len, "\r\n\r\n", 4);
    int status = 0;
    if (!end) return 0;
    for (int i = 9; i < 12; i++) {
        if (out[i] < '0' || out[i] > '9') return 0;
        status = status * 10 + (out[i] - '0');
    }
    *head_len = (size_t)(end - out) + 4;
    return status;
}

static inline int fuzz_close_code_sendable(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* A server frame in a client's output. */
struct fuzz_ws_frame {
    uint8_t b0;                  /* FIN, RSV and opcode */
    uint8_t opcode;
    int masked;
    const uint8_t *payload;
    uint64_t len;
};

/* The frame at *at of what the server wrote (after the 101 head): 1 and *at moved past
 * it, or 0 when the output ends there or inside it. */
static inline int fuzz_ws_frame_next(const struct fuzz_client *cl, size_t *at, struct fuzz_ws_frame *f)
{
    const uint8_t *h = cl->out + *at;
    size_t left = cl->out_len - *at;
    if (left < 2) return 0;
    uint8_t len7 = h[1] & 0x7f;
    size_t hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    if (left < hl) return 0;
    uint64_t n = len7;
    if (len7 == 126) n = (uint64_t)h[2] << 8 | h[3];
    if (len7 == 127) {
        n = 0;
        for (int i = 0; i < 8; i++) n = n << 8 | h[2 + i];
    }
    if (left - hl < n) return 0;
    f->b0 = h[0];
    f->opcode = h[0] & 0x0f;
    f->masked = (h[1] & 0x80) != 0;
    f->payload = h + hl;
    f->len = n;
    *at += hl + (size_t)n;
    return 1;
}

/* Where the frames start in a WebSocket client's output: after the 101 head (0 if the
 * output does not start with one). */
static inline size_t fuzz_ws_frames_start(const struct fuzz_client *cl)
{
    size_t head_len = 0;
    return fuzz_http_status(cl->out, cl->out_len, &head_len) == 101 ? head_len : 0;
}

/* What the server wrote to a WebSocket client: a 101 head, then well-formed server frames
 * (unmasked; each message one frame; control frames short and final; close codes that
 * may be sent; plain text valid UTF-8) and nothing at all after a close frame. A last frame cut short is fine:
 * the client hung up while it was being written. Returns the number of frames. */
static inline int fuzz_check_ws_output(const struct fuzz_client *cl, const char *who)
{
    size_t head_len = 0, at;
    int status = fuzz_http_status(cl->out, cl->out_len, &head_len), frames = 0, closed = 0;
    struct fuzz_ws_frame f;
    if (status != 101) {
        char start[3 * 16 + 1] = "";
        for (size_t i = 0; i < cl->out_len && i < 16; i++)
            snprintf(start + 3 * i, 4, " %02x", cl->out[i]);
        fuzz_fail("%s: upgrade answered %d; the %zu bytes it got start with%s", who, status,
                  cl->out_len, start);
    }
    for (at = head_len; at < cl->out_len; frames++) {
        if (closed) fuzz_fail("%s: %zu bytes after the close frame", who, cl->out_len - at);
        if (!fuzz_ws_frame_next(cl, &at, &f)) break;
        const uint8_t *p = f.payload;
        size_t n = (size_t)f.len;
        if (f.masked) fuzz_fail("%s: masked server frame", who);
        if (f.b0 & 0x30) fuzz_fail("%s: RSV2/RSV3 set", who);
        if (f.opcode != WS_TEXT && f.opcode != WS_BINARY && f.opcode != WS_CLOSE && f.opcode != WS_PING &&
            f.opcode != WS_PONG)
            fuzz_fail("%s: frame with opcode %u", who, f.opcode);
        if (!(f.b0 & 0x80)) fuzz_fail("%s: fragmented server frame 0x%02x", who, f.b0);
        if (f.opcode >= WS_CLOSE && (n > 125 || (f.b0 & 0x40)))
            fuzz_fail("%s: bad control frame 0x%02x, %zu bytes", who, f.b0, n);
        if (f.opcode == WS_TEXT && !(f.b0 & 0x40) && !utf8_valid(p, n))
            fuzz_fail("%s: text frame with invalid UTF-8", who);
        if (f.opcode == WS_CLOSE) {
            closed = 1;
            if (n == 1) fuzz_fail("%s: close frame with a 1-byte payload", who);
            if (n >= 2 && !fuzz_close_code_sendable((unsigned)(p[0] << 8 | p[1])))
                fuzz_fail("%s: close frame with code %u", who, (unsigned)(p[0] << 8 | p[1]));
            if (n > 2 && !utf8_valid(p + 2, n - 2))
                fuzz_fail("%s: close reason is not UTF-8", who);
        }
    }
    return frames;
}

#endif
