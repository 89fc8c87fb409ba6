#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "config.h"
#include "handshake.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "reqhead.h"
#include "slab.h"
#include "write_ring.h"
#include "ws.h"

#define SLOT_MAX (1u << CONN_SLOT_BITS)
#define LINGER_SECONDS 2.0
#define READ_BUF_SIZE (256 * 1024)
#define IOV_BATCH 256
/* Queued frames up to this size are copied into one contiguous run before writev: the
 * kernel pays a per-segment cost in _copy_from_iter that, for 64-byte broadcast frames,
 * was ~30% of the server's CPU in the burst benchmark (docs/benchmarks.md, "Where the
 * burst's CPU went"); a copy in user space of a frame already in cache costs far less.
 * Larger frames keep their own iovec so big payloads are not copied. */
#define COALESCE_FRAME_MAX 2048
#define COALESCE_BUF_SIZE (64 * 1024)
/* A file body goes out at most this much per writable event, so one fast reader of a
 * large file takes its turn with everyone else. */
#define FILE_SLICE (256 * 1024)
/* Control frames waiting for a peer that does not read: a pong is at most 127 bytes, so
 * this is hundreds of unanswered pings. */
#define CTRL_MAX (64 * 1024)
/* A connection in the descriptor reserve must send its request within this. */
#define OVER_CAPACITY_SECONDS 1.0

/* Slot table: id -> conn in O(1). A slot's generation changes on every reuse, so an id
 * held by Lua after its connection closed never finds the next occupant. */
static struct conn **slots;
static uint32_t *slot_gen;
static uint32_t *free_slots;
static uint32_t nfree, slots_used, slot_cap;
static uint32_t open_count;

static const struct transport_events *upper;
/* Every connection struct (with the layer above's part) comes from here. */
static struct slab conn_slab = { .size = sizeof(struct conn) };
static uint64_t id_tag;
static int fd_capacity = INT_MAX;

uint32_t conn_unwritable_events;

/* The dirty list, in the order the connections became dirty: a pass writes from the
 * head, and one written and dirtied again goes to the tail, so each waits its turn. */
static struct conn *dirty_head, *dirty_tail;
/* Connections the pass may still write (conn_flush_begin). */
static unsigned flush_room = UINT_MAX;
/* One read buffer shared by all connections: reads are consumed before the next one, so
 * an idle connection costs no receive buffer of its own. */
static uint8_t read_buf[READ_BUF_SIZE];

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_destroy(struct conn *c);

struct conn_file {
    int fd;
    off_t off;
    uint64_t left;
};

static void file_done(struct conn *c)
{
    if (!c->file) return;
    close(c->file->fd);
    free(c->file);
    c->file = NULL;
}

int conn_send_file(struct conn *c, int fd, uint64_t len)
{
    if (len == 0) {
        close(fd);
        return 0;
    }
    struct conn_file *f = malloc(sizeof *f);
    if (!f) {
        close(fd);
        return -1;
    }
    *f = (struct conn_file){ fd, 0, len };
    file_done(c);
    c->file = f;
    conn_mark_dirty(c);
    return 0;
}

/* Sends the next slice of c's file body. 1: sent some, 0: the socket is full or the
 * slice budget for this event is spent, -1: c was killed. */
static int send_file_slice(struct conn *c, size_t *budget)
{
    struct conn_file *f = c->file;
    size_t want = f->left < *budget ? (size_t)f->left : *budget;
    if (want == 0) return 0;
    ssize_t w = sendfile(c->io.fd, f->fd, &f->off, want);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    if (w <= 0) {
        /* an error, or the file got shorter than the Content-Length already sent */
        log_warn(c->id, "sending a file body failed after %lld bytes: %s", (long long)f->off,
                 w < 0 ? strerror(errno) : "the file shrank");
        metrics.errors[ERR_WRITE]++;
        conn_kill(c, 0);
        return -1;
    }
    metrics.bytes_sent += (uint64_t)w;
    *budget -= (size_t)w;
    f->left -= (uint64_t)w;
    if (f->left == 0) file_done(c);
    return 1;
}

static int slot_alloc(uint32_t *out)
{
    if (nfree) {
        *out = free_slots[--nfree];
        return 0;
    }
    if (slots_used == SLOT_MAX) return -1;
    if (slots_used == slot_cap) {
        uint32_t cap = slot_cap ? slot_cap * 2 : 1024;
        struct conn **s = realloc(slots, cap * sizeof *s);
        if (!s) return -1;
        slots = s;
        uint32_t *g = realloc(slot_gen, cap * sizeof *g);
        if (!g) return -1;
        slot_gen = g;
        uint32_t *f = realloc(free_slots, cap * sizeof *f);
        if (!f) return -1;
        free_slots = f;
        slot_cap = cap;
    }
    slot_gen[slots_used] = 0;
    *out = slots_used++;
    return 0;
}

struct conn *conn_by_id(uint64_t id)
{
    uint32_t slot = (uint32_t)(id & (SLOT_MAX - 1));
    if (slot >= slots_used) return NULL;
    struct conn *c = slots[slot];
    return c && c->id == id ? c : NULL;
}

uint32_t conn_open_count(void) { return open_count; }

void conn_init(const struct transport_events *ev, size_t conn_size)
{
    upper = ev;
    handshake_init();
    slab_init(&conn_slab, conn_size > sizeof(struct conn) ? conn_size : sizeof(struct conn));
}

void conn_set_id_tag(uint64_t bits) { id_tag = bits; }

void conn_set_capacity(int max_fd) { fd_capacity = max_fd; }

static void set_events(struct conn *c, int events)
{
    if (c->read_paused) events &= ~EV_READ;
    if ((c->io.events & (EV_READ | EV_WRITE)) == events) return;
    ev_io_stop(EV_DEFAULT, &c->io);
    ev_io_modify(&c->io, events);
    if (events) ev_io_start(EV_DEFAULT, &c->io);
}

struct frame conn_answer_later_frame;

/* The events a connection wants now, apart from pauses: read, and write while blocked. */
static int wanted_events(const struct conn *c)
{
    return EV_READ | (c->write_blocked ? EV_WRITE : 0);
}

void conn_pause_reading(struct conn *c, int on)
{
    if (c->read_paused == !!on || c->killed) return;
    c->read_paused = (uint8_t)!!on;
    if (c->phase == PHASE_WS) set_events(c, wanted_events(c));
}

struct conn *conn_new(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    uint32_t slot;
    struct conn *c = slab_alloc(&conn_slab);
    if (!c || slot_alloc(&slot) != 0) {
        slab_free(&conn_slab, c);
        close(fd);
        return NULL;
    }
    c->http = http_req_new(config.http_max_body);
    if (!c->http) {
        free_slots[nfree++] = slot;
        slab_free(&conn_slab, c);
        close(fd);
        return NULL;
    }
    c->io.fd = fd;
    c->over_capacity = fd >= fd_capacity;
    /* generations wrap at 21 bits (never 0) to leave room for the cluster's node tag
     * below 2^53, where ids stay exact as Lua numbers */
    slot_gen[slot] = (slot_gen[slot] + 1) & CONN_GEN_MASK;
    if (!slot_gen[slot]) slot_gen[slot] = 1;
    c->id = id_tag | ((uint64_t)slot_gen[slot] << CONN_SLOT_BITS) | slot;
    slots[slot] = c;
    open_count++;
    if (addrlen <= sizeof c->addr) memcpy(&c->addr, addr, addrlen);
    c->phase = PHASE_HTTP;
    c->phase_since = ev_now(EV_DEFAULT);
    ev_io_init(&c->io, io_cb, fd, EV_READ);
    c->io.data = c;
    ev_io_start(EV_DEFAULT, &c->io);
    ev_init(&c->timer, timer_cb);
    c->timer.data = c;
    conn_arm_timer(c);
    return c;
}

void conn_remote_addr(const struct conn *c, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (c->addr.sin6_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&c->addr;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(buf, len, "%s:%d", ip, port);
    } else {
        inet_ntop(AF_INET6, &c->addr.sin6_addr, ip, sizeof ip);
        port = ntohs(c->addr.sin6_port);
        snprintf(buf, len, "[%s]:%d", ip, port);
    }
}

/* Lists c as dirty: at the tail, or at the head (front) to keep its place. */
static void dirty_push(struct conn *c, int front)
{
    c->dirty = 1;
    if (!dirty_head) {
        c->next_dirty = NULL;
        dirty_head = dirty_tail = c;
    } else if (front) {
        c->next_dirty = dirty_head;
        dirty_head = c;
    } else {
        c->next_dirty = NULL;
        dirty_tail->next_dirty = c;
        dirty_tail = c;
    }
}

void conn_mark_dirty(struct conn *c)
{
    if (!c->dirty) dirty_push(c, 0);
}

void conn_kill(struct conn *c, int code)
{
    if (c->killed) return;
    c->killed = 1;
    conn_unwritable_events++;
    if (!c->close_code) c->close_code = (uint16_t)code;
    set_events(c, 0);
    conn_mark_dirty(c);
}

int conn_queue(struct conn *c, struct frame *f)
{
    if (!conn_writable(c)) return -1;
    if (sendq_push(&c->q, frame_ref(f)) != 0) {
        frame_unref(f);
        return -1;
    }
    conn_mark_dirty(c);
    return 0;
}

int conn_send_ctrl(struct conn *c, const uint8_t *p, size_t n)
{
    uint32_t len = conn_ctrl_len(c);
    if (!c->ctrl || len + n > c->ctrl->cap) {
        size_t cap = c->ctrl ? c->ctrl->cap : 256 - sizeof *c->ctrl;
        while (cap < len + n) cap = cap * 2 + sizeof *c->ctrl;
        if (cap > CTRL_MAX) return -1;
        struct conn_ctrl *b = realloc(c->ctrl, sizeof *b + cap);
        if (!b) return -1;
        b->len = len;
        b->cap = (uint32_t)cap;
        c->ctrl = b;
    }
    memcpy(c->ctrl->data + len, p, n);
    c->ctrl->len = len + (uint32_t)n;
    conn_mark_dirty(c);
    return 0;
}

int conn_close(struct conn *c, int code, const char *reason, size_t reason_len)
{
    if (!conn_writable(c) || reason_len > 123) return -1;
    c->want_close = 1;
    conn_unwritable_events++;
    c->close_code = (uint16_t)code;
    if (reason_len) {
        c->close_reason = malloc(reason_len + 1);
        if (c->close_reason) {
            memcpy(c->close_reason, reason, reason_len);
            c->close_reason[reason_len] = 0;
        }
    }
    conn_mark_dirty(c);
    return 0;
}

void conn_close_now(struct conn *c, int code, const char *reason)
{
    ws_queue_close(c, code, reason, reason ? strlen(reason) : 0);
}

int conn_close_code(const struct conn *c) { return c->close_code ? c->close_code : 1006; }

/* The close event, once per open: from the linger start or the teardown, whichever
 * comes first. */
static void report_close(struct conn *c)
{
    if (!c->opened) return;
    c->opened = 0;
    upper->close(c);
}

/* After our close frame (or an HTTP response) is fully written: stop writing, keep reading
 * and discarding until the peer closes or LINGER_SECONDS pass, so unread bytes in our
 * receive buffer never turn the close into a reset that loses the frame we just sent. */
static void start_linger(struct conn *c)
{
    report_close(c);
    c->phase = PHASE_LINGER;
    conn_unwritable_events++;
    c->phase_since = ev_now(EV_DEFAULT);
    sendq_release(&c->q);
    shutdown(c->io.fd, SHUT_WR);
    set_events(c, EV_READ);
    conn_arm_timer(c);
}

/* The one teardown path, only ever called from the flush loop. The disconnect hooks run
 * from here; while they do, the connection counts as killed and dirty, so nothing they
 * call can queue to it or put it back on the dirty list. */
static void conn_destroy(struct conn *c)
{
    c->killed = 1;
    conn_unwritable_events++;
    c->dirty = 1;
    report_close(c);
    int held = upper->release(c);
    ev_io_stop(EV_DEFAULT, &c->io);
    ev_timer_stop(EV_DEFAULT, &c->timer);
    write_ring_forget(c->io.fd);
    close(c->io.fd);
    sendq_release(&c->q);
    file_done(c);
    http_req_free(c->http);
    ws_free(c);
    free(c->ctrl);
    c->http = NULL;
    c->ws = NULL;
    c->ctrl = NULL;
    open_count--;
    c->io.fd = -1;
    if (held) return;   /* the hub keeps c and its id until conn_free_held */
    conn_free_held(c);
}

void conn_free_held(struct conn *c)
{
    free(c->close_reason);
    free(c->req_head);
    uint32_t slot = (uint32_t)(c->id & (SLOT_MAX - 1));
    slots[slot] = NULL;
    free_slots[nfree++] = slot;
    slab_free(&conn_slab, c);
}

/* Shared by every flush: filled and written within one writev, so it holds nothing
 * between calls. */
static uint8_t coalesce_buf[COALESCE_BUF_SIZE];

/* Rewrites iov[0..n) in place so that runs of small segments become one segment in
 * coalesce_buf; the byte stream is unchanged, so the caller accounts a partial writev
 * exactly as before. Returns the new count. */
static int coalesce_small(struct iovec *iov, int n)
{
    size_t used = 0;
    int out = 0;
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len;
        if (len > COALESCE_FRAME_MAX || used + len > sizeof coalesce_buf) {
            iov[out++] = iov[i];
            continue;
        }
        uint8_t *at = coalesce_buf + used;
        memcpy(at, iov[i].iov_base, len);
        used += len;
        if (out > 0 && (uint8_t *)iov[out - 1].iov_base + iov[out - 1].iov_len == at)
            iov[out - 1].iov_len += len;
        else
            iov[out++] = (struct iovec){ at, len };
    }
    return out;
}

static void flush_done(struct conn *c, ev_tstamp now);

/* Writes as much of ctrl and the queue as the socket takes, in stream order:
 * [rest of a partly written message][control frames][whole data frames...].
 * Control frames go at the first message boundary (inside a combined frame, the end of
 * the message being written); nothing follows a close frame. */
void conn_flush(struct conn *c)
{
    ev_tstamp now = ev_now(EV_DEFAULT);
    size_t file_budget = FILE_SLICE;
    for (;;) {
        if (c->want_close && sendq_empty(&c->q) && conn_ctrl_len(c) == 0) {
            c->want_close = 0;
            ws_queue_close(c, c->close_code, c->close_reason,
                           c->close_reason ? strlen(c->close_reason) : 0);
        }
        struct iovec iov[IOV_BATCH];
        int n = 0, ctrl_cuts = 0;
        size_t head_part = 0, ctrl_part = conn_ctrl_len(c);
        if (c->q.head_off && c->q.count) {
            n = sendq_iov(&c->q, iov, 1);
            head_part = iov[0].iov_len;
            if ((ctrl_part || c->close_queued) && head_part != sendq_started_rest(&c->q)) {
                /* The head is a combined frame (a run of broadcasts): the control
                 * frames go at its next message boundary, not after all of it, and this
                 * write ends with them; after a close frame, nothing past that boundary
                 * is ever written. */
                head_part = iov[0].iov_len = sendq_started_rest(&c->q);
                n = head_part ? 1 : 0;
                ctrl_cuts = 1;
            }
        }
        if (ctrl_part) {
            iov[n].iov_base = c->ctrl->data;
            iov[n].iov_len = ctrl_part;
            n++;
        }
        if (!ctrl_cuts && !c->close_queued && c->q.count > (head_part ? 1u : 0u)) {
            struct iovec tmp[IOV_BATCH];
            int k = sendq_iov(&c->q, tmp, IOV_BATCH - n + (head_part ? 1 : 0));
            for (int i = head_part ? 1 : 0; i < k && n < IOV_BATCH; i++) iov[n++] = tmp[i];
        }
        if (n == 0) {
            /* the queue (the response head) is out: the file body follows */
            if (!c->file) break;
            int sent = send_file_slice(c, &file_budget);
            if (sent < 0) return;
            if (sent == 0) break;
            c->blocked_since = now;
            continue;
        }
        if (n > 1) n = coalesce_small(iov, n);
        ssize_t w = writev(c->io.fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            log_debug(c->id, "write failed: %s", strerror(errno));
            metrics.errors[ERR_WRITE]++;
            conn_kill(c, 1006);   /* freed by this same flush loop, after the current pass */
            return;
        }
        metrics.bytes_sent += (uint64_t)w;
        if (w > 0) c->blocked_since = now;   /* progress, even inside one large frame */
        size_t left = (size_t)w;
        size_t take = left < head_part ? left : head_part;
        if (take) sendq_consume(&c->q, take);
        left -= take;
        if (take < head_part) break;
        take = left < ctrl_part ? left : ctrl_part;
        if (take) {
            memmove(c->ctrl->data, c->ctrl->data + take, c->ctrl->len - take);
            c->ctrl->len -= (uint32_t)take;
        }
        if (c->ctrl && c->ctrl->len == 0) {
            /* written out: an idle connection holds no ctrl buffer (the 101 used one) */
            free(c->ctrl);
            c->ctrl = NULL;
        }
        left -= take;
        if (take < ctrl_part) break;
        if (left) sendq_consume(&c->q, left);
    }
    flush_done(c, now);
}

/* After a flush wrote what the socket took: linger once the close is out, and ask for
 * writable events while something waits (arming the write timeout). */
static void flush_done(struct conn *c, ev_tstamp now)
{
    int pending = conn_ctrl_len(c) > 0 || (!c->close_queued && !sendq_empty(&c->q)) || c->file;
    if (!pending && c->close_queued) {
        start_linger(c);
        return;
    }
    if (!pending && c->close_after_flush) {
        start_linger(c);
        return;
    }
    if (pending && !c->write_blocked) {
        c->write_blocked = 1;
        c->blocked_since = now;
        set_events(c, wanted_events(c));
        conn_arm_timer(c);
    } else if (!pending && c->write_blocked) {
        c->write_blocked = 0;
        set_events(c, wanted_events(c));
        conn_arm_timer(c);
    }
}

/* 1 when all c may write is its queue: no control frame to slot in, no file body, no
 * close to queue or keep to, and its socket took everything at the last try. */
static int nothing_but_queue(const struct conn *c)
{
    return !c->write_blocked && !c->ctrl && !c->file && !c->want_close && !c->close_queued;
}

/* 1 when c's flush is its queue and nothing else (no control frame to slot in, no file,
 * no close to queue or keep to), so one send from the ring does it. A socket that was
 * full at the last try is left to writev: most likely it still is, and the ring's
 * -EAGAIN would only be followed by writev's. */
static int plain_flush(const struct conn *c)
{
    return c->q.count && nothing_but_queue(c);
}

/* The ring's results, first all accounted (ring_sent), then acted on (ring_done): what
 * ring_done starts may run close hooks that queue to another client of the batch. A send
 * made by conn_send_now carries its frame as the tag: it was never queued. */
static void ring_sent(void *owner, void *tag, ssize_t res, size_t asked)
{
    struct conn *c = owner;
    struct frame *direct = tag;
    if (res > 0) {
        metrics.bytes_sent += (uint64_t)res;
        c->blocked_since = ev_now(EV_DEFAULT);
    }
    if (direct) {
        if ((size_t)res == asked) {
            frame_unref(direct);
            return;
        }
        /* what the socket did not take waits in the queue, as if it had been queued */
        if (sendq_push(&c->q, direct) != 0) {
            frame_unref(direct);
            log_error(c->id, "out of memory keeping the rest of a broadcast: closing");
            conn_kill(c, 1006);
            return;
        }
    }
    if (res > 0) sendq_consume(&c->q, (size_t)res);
}

static void ring_done(void *owner, void *tag, ssize_t res, size_t asked)
{
    struct conn *c = owner;
    if (c->killed) return;   /* on the dirty list: torn down by this flush loop */
    if (res == WRITE_RING_UNKNOWN) {
        log_error(c->id, "io_uring lost a send's result: the stream may be cut, closing");
        metrics.errors[ERR_WRITE]++;
        conn_kill(c, 1006);
        return;
    }
    if (tag && (size_t)res == asked) return;   /* nothing else was waiting (conn_send_now) */
    /* All of it, and the queue is out: done. Otherwise (more queued, a full socket, an
     * error, a send the ring never took) conn_flush goes on with writev and meets the
     * socket's state itself. */
    if ((size_t)res == asked && sendq_empty(&c->q))
        flush_done(c, ev_now(EV_DEFAULT));
    else
        conn_flush(c);
}

int conn_send_now(struct conn *c, struct frame *f)
{
    /* Only a client with nothing else to write: no queue, no control frame, no file, a
     * socket that took everything so far, not on the dirty list (whatever put it there
     * is written from the queue, in order). */
    /* And only while no client waits its turn on the dirty list: this one was written
     * this round already, and going first again would cost a send each pass. */
    if (!write_ring_active() || dirty_head || !flush_room || c->phase != PHASE_WS ||
        c->killed || c->dirty || c->q.count || !nothing_but_queue(c))
        return -1;
    struct iovec iov = { f->data, f->len };
    if (write_ring_add(c->io.fd, &iov, 1, c, f) != 0) return -1;
    frame_ref(f);
    flush_room--;
    return 0;
}

unsigned conn_flush_share(void)
{
    unsigned share = (open_count + FLUSH_PARTS - 1) / FLUSH_PARTS;
    return share > FLUSH_SLICE_MIN ? share : FLUSH_SLICE_MIN;
}

void conn_flush_begin(void) { flush_room = conn_flush_share(); }

/* Plain flushes go to the ring's batch; anything that may run a hook (a teardown, a
 * flush that ends in a close report) waits until the batch's sends are done, since a
 * hook may queue to a client whose send is in it, and a queue must stay put until its
 * send is accounted. */
int conn_flush_dirty(void)
{
    for (;;) {
        struct conn *c = flush_room ? dirty_head : NULL;
        if (!c) {
            if (!write_ring_pending()) return dirty_head != NULL;
            write_ring_submit(ring_sent, ring_done);   /* may mark clients dirty again */
            continue;
        }
        flush_room--;
        dirty_head = c->next_dirty;
        c->dirty = 0;
        if (!c->killed && write_ring_active() && plain_flush(c)) {
            struct iovec iov[WRITE_RING_IOV];
            int n = sendq_iov(&c->q, iov, WRITE_RING_IOV);
            if (write_ring_add(c->io.fd, iov, n, c, NULL) == 0) continue;
            if (write_ring_pending()) {
                /* the batch is full: its sends first, then c again, still first */
                write_ring_submit(ring_sent, ring_done);
                if (!c->dirty) dirty_push(c, 1);
                flush_room++;
                continue;
            }
        }
        write_ring_submit(ring_sent, ring_done);
        if (c->dirty) continue;   /* listed again by what the submit did: handled there */
        if (c->killed)
            conn_destroy(c);
        else
            conn_flush(c);
    }
}

static void answer_http(struct conn *c, struct frame *resp)
{
    set_events(c, 0);
    if (resp == CONN_ANSWER_LATER) {
        /* the request stays (conn_answer may read it) and nothing more is read */
        c->answer_pending = 1;
        return;
    }
    c->answer_pending = 0;
    c->close_after_flush = 1;
    if (resp) {
        sendq_push(&c->q, resp);
        conn_mark_dirty(c);
    } else {
        conn_kill(c, 0);
    }
}

static void answer_error(struct conn *c, int status, const char *extra, const char *reason)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", status, http_status_text(status), reason);
    c->admit_pending = 0;
    answer_http(c, http_response(status, extra, "text/plain; charset=utf-8", body, (size_t)n));
}

void conn_answer(struct conn *c, struct frame *resp)
{
    if (!c->answer_pending || c->killed || c->phase != PHASE_HTTP) {
        if (resp && resp != CONN_ANSWER_LATER) frame_unref(resp);
        return;
    }
    answer_http(c, resp);
    conn_arm_timer(c);
}

static void upgrade_admitted(struct conn *c, const struct handshake *hs, const char *rest,
                             size_t rest_len);

static void upgrade(struct conn *c, const char *rest, size_t rest_len)
{
    struct handshake hs;
    char addr[64];
    if (handshake_check(c->http, &hs) != 101) {
        conn_remote_addr(c, addr, sizeof addr);
        log_info(c->id, "upgrade from %s refused: %d %s%s%s", addr, hs.status, hs.reason,
                 hs.detail[0] ? ": " : "", hs.detail);
        metrics.refused[hs.status == 403 ? REFUSE_ORIGIN : REFUSE_HANDSHAKE]++;
        answer_error(c, hs.status, hs.extra_headers, hs.reason);
        return;
    }
    if (c->over_capacity) {
        static struct log_limit lim;
        conn_remote_addr(c, addr, sizeof addr);
        log_limited(&lim, LOG_WARN, c->id, "upgrade from %s refused: at the descriptor limit", addr);
        metrics.refused[REFUSE_CAPACITY]++;
        answer_error(c, 503, "Retry-After: 5\r\n", "server at its connection capacity");
        return;
    }
    /* Keep the request head for client:header()/query(): it is all a script may ask,
     * from admission on. */
    c->req_head = reqhead_pack(c->http->buf, c->http->head_len);
    if (!c->req_head) {
        answer_error(c, 503, NULL, "out of memory");
        return;
    }
    struct admission adm = { 0 };
    upper->admit(c, c->http, &adm);
    if (adm.status == ADMIT_LATER) {
        /* rest points into the request, which stays until the answer (conn_admit) */
        c->admit_pending = 1;
        c->http->rest = rest;
        c->http->rest_len = rest_len;
        set_events(c, 0);
        return;
    }
    if (adm.status != 0) {
        answer_error(c, adm.status, adm.extra_headers, adm.reason[0] ? adm.reason : "refused");
        return;
    }
    upgrade_admitted(c, &hs, rest, rest_len);
}

void conn_admit(struct conn *c, const struct admission *a)
{
    if (!c->admit_pending || c->killed || c->phase != PHASE_HTTP) return;
    c->admit_pending = 0;
    if (a->status != 0) {
        answer_error(c, a->status, a->extra_headers, a->reason[0] ? a->reason : "refused");
        conn_arm_timer(c);
        return;
    }
    /* the checks passed before and the request is unchanged: this only rebuilds hs */
    struct handshake hs;
    handshake_check(c->http, &hs);
    set_events(c, EV_READ);
    upgrade_admitted(c, &hs, c->http->rest, c->http->rest_len);
}

static void upgrade_admitted(struct conn *c, const struct handshake *hs, const char *rest,
                             size_t rest_len)
{
    /* The 101 goes through ctrl, not the send queue: ctrl is written ahead of queued
     * frames and never dropped, so a pong or close that frames sent right behind the
     * request cause cannot go out before it, and no queue policy can drop it. */
    struct frame *resp = handshake_response(hs);
    if (!resp || conn_send_ctrl(c, resp->data, resp->len) != 0) {
        if (resp) frame_unref(resp);
        answer_error(c, 503, NULL, "out of memory");
        return;
    }
    frame_unref(resp);
    c->deflate = (uint8_t)hs->deflate;
    c->phase = PHASE_WS;
    c->phase_since = c->last_pong = c->last_ping = c->last_active = ev_now(EV_DEFAULT);
    metrics.connections_total++;
    conn_mark_dirty(c);
    conn_arm_timer(c);
    c->opened = 1;
    upper->open(c);
    /* rest (frames sent right behind the request) points into the request's buffer:
     * the request is freed only after they are fed. */
    if (rest_len && !c->killed && ws_feed(c, (const uint8_t *)rest, rest_len) != 0 &&
        !c->close_queued)
        conn_kill(c, 1002);
    http_req_free(c->http);
    c->http = NULL;
}

static void on_http_bytes(struct conn *c, const char *buf, size_t n)
{
    const char *rest;
    size_t rest_len;
    enum http_read_status st = http_req_feed(c->http, buf, n, &rest, &rest_len);
    if (st == HTTP_READ_MORE) return;
    if (st == HTTP_READ_ERROR) {
        log_debug(c->id, "bad HTTP request: %d %s", c->http->error_status, c->http->error_reason);
        answer_error(c, c->http->error_status, NULL, c->http->error_reason);
        return;
    }
    const char *path;
    size_t plen;
    http_req_path(c->http, &path, &plen);
    size_t wl = strlen(config.ws_path);
    if (plen == wl && memcmp(path, config.ws_path, wl) == 0 &&
        (c->http->parser.upgrade || http_header(c->http, "Sec-WebSocket-Key", NULL))) {
        upgrade(c, rest, rest_len);
        return;
    }
    if (plen == wl && memcmp(path, config.ws_path, wl) == 0) {
        answer_error(c, 400, NULL, "this path only serves WebSocket upgrades");
        return;
    }
    answer_http(c, upper->http(c, c->http));
}

static void on_readable(struct conn *c)
{
    /* Bounded per event so one busy client cannot starve the others in this pass. */
    for (int rounds = 0; rounds < 4; rounds++) {
        ssize_t n = read(c->io.fd, read_buf, sizeof read_buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            log_debug(c->id, "read failed: %s", strerror(errno));
            conn_kill(c, 1006);
            return;
        }
        metrics.bytes_received += (uint64_t)n;
        if (n == 0) {
            if (c->phase == PHASE_WS && !c->close_code) c->close_code = 1006;
            conn_kill(c, 1006);
            return;
        }
        switch (c->phase) {
        case PHASE_HTTP:
            on_http_bytes(c, (const char *)read_buf, (size_t)n);
            if (c->phase != PHASE_WS) return;   /* answered: stop reading */
            break;
        case PHASE_WS:
            if (ws_feed(c, read_buf, (size_t)n) != 0 && !c->close_queued) {
                metrics.errors[ERR_PROTOCOL]++;
                conn_kill(c, 1002);
                return;
            }
            if (!ws_read_enabled(c) || c->read_paused) return;   /* close seen, failed, or paused */
            if (ws_message_deadline(c)) conn_arm_timer(c);   /* a message is in flight */
            break;
        case PHASE_LINGER:
            break;   /* discard */
        }
        if ((size_t)n < sizeof read_buf || c->killed) return;
    }
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    if (revents & EV_READ) on_readable(c);
    /* Writable again: now, not at its turn on the dirty list (a pass or several away),
     * while the level-triggered event would come back every pass. */
    if ((revents & EV_WRITE) && !c->killed) conn_flush(c);
}

void conn_arm_timer(struct conn *c)
{
    ev_tstamp now = ev_now(EV_DEFAULT), next = now + 3600;
    switch (c->phase) {
    case PHASE_HTTP:
        /* once a response is on its way, only the write timeout applies */
        if (config.handshake_timeout > 0 && !c->close_after_flush && !c->answer_pending)
            next = c->phase_since + config.handshake_timeout;
        if (c->over_capacity && !c->close_after_flush && c->phase_since + OVER_CAPACITY_SECONDS < next)
            next = c->phase_since + OVER_CAPACITY_SECONDS;
        break;
    case PHASE_WS: {
        double message_due = ws_message_deadline(c);
        if (message_due && message_due < next) next = message_due;
        if (config.ping_interval > 0 && c->last_ping + config.ping_interval < next)
            next = c->last_ping + config.ping_interval;
        if (config.pong_timeout > 0 && c->last_pong + config.pong_timeout < next)
            next = c->last_pong + config.pong_timeout;
        break;
    }
    case PHASE_LINGER:
        next = c->phase_since + LINGER_SECONDS;
        break;
    }
    if (c->write_blocked && config.write_timeout > 0 &&
        c->blocked_since + config.write_timeout < next)
        next = c->blocked_since + config.write_timeout;
    ev_timer_stop(EV_DEFAULT, &c->timer);
    ev_timer_set(&c->timer, next > now ? next - now : 0, 0);
    ev_timer_start(EV_DEFAULT, &c->timer);
}

/* The peer took nothing for write_timeout. A WebSocket client first gets a close frame
 * (1008) in place of the data it did not take, written as soon as the socket takes
 * anything; if it takes nothing for another write_timeout, or it is a plain HTTP
 * response, the connection is dropped. */
static void write_timed_out(struct conn *c, ev_tstamp now)
{
    if (c->phase == PHASE_WS && !c->write_timed_out) {
        log_info(c->id, "write timeout: peer took nothing for %.1fs; closing (1008)", config.write_timeout);
        metrics.errors[ERR_WRITE_TIMEOUT]++;
        c->write_timed_out = 1;
        c->blocked_since = now;
        sendq_drop_unsent(&c->q);
        conn_close_now(c, 1008, "write timeout");
        conn_arm_timer(c);
        return;
    }
    log_info(c->id, "write timeout: peer took nothing for %.1fs; dropped", config.write_timeout);
    if (c->phase != PHASE_WS) metrics.errors[ERR_WRITE_TIMEOUT]++;
    conn_kill(c, 1006);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct conn *c = w->data;
    ev_tstamp now = ev_now(loop);
    if (c->killed) return;
    if (c->write_blocked && config.write_timeout > 0 &&
        now >= c->blocked_since + config.write_timeout) {
        write_timed_out(c, now);
        return;
    }
    switch (c->phase) {
    case PHASE_HTTP:
        if (!c->close_after_flush &&
            ((config.handshake_timeout > 0 && now >= c->phase_since + config.handshake_timeout) ||
             (c->over_capacity && now >= c->phase_since + OVER_CAPACITY_SECONDS))) {
            if (c->admit_pending) {
                log_warn(c->id, "upgrade refused: before_connect did not answer within %.1fs (handshake_timeout)",
                         config.handshake_timeout);
                answer_error(c, 503, "Retry-After: 5\r\n", "admission timed out");
                return;
            }
            if (c->answer_pending) return;   /* a route is answering: its own waits bound it */
            log_debug(c->id, "handshake timeout");
            answer_error(c, 408, NULL, "request timeout");
            return;
        }
        break;
    case PHASE_WS: {
        double message_due = ws_message_deadline(c);
        if (message_due && now >= message_due) {
            static struct log_limit lim;
            log_limited(&lim, LOG_INFO, c->id, "a message still incomplete after %.1fs (message_timeout): closing with 1008",
                        config.message_timeout);
            ws_fail(c, 1008);
        }
        if (config.pong_timeout > 0 && now >= c->last_pong + config.pong_timeout) {
            log_info(c->id, "pong timeout after %.1fs: closing", config.pong_timeout);
            metrics.errors[ERR_PONG_TIMEOUT]++;
            conn_kill(c, 1006);
            return;
        }
        if (config.ping_interval > 0 && now >= c->last_ping + config.ping_interval &&
            !c->close_queued) {
            c->last_ping = now;
            ws_queue_ping(c);
        }
        break;
    }
    case PHASE_LINGER:
        if (now >= c->phase_since + LINGER_SECONDS) {
            conn_kill(c, 0);
            return;
        }
        break;
    }
    conn_arm_timer(c);
}

void conn_close_all(int code, const char *reason)
{
    for (uint32_t s = 0; s < slots_used; s++) {
        struct conn *c = slots[s];
        if (!c) continue;
        if (c->phase == PHASE_WS) conn_close(c, code, reason, strlen(reason));
        else if (c->phase == PHASE_HTTP && !c->close_after_flush) conn_kill(c, 0);
    }
}

int conn_close_idle(double idle_seconds, int code, const char *reason)
{
    ev_tstamp now = ev_now(EV_DEFAULT);
    int closed = 0;
    for (uint32_t s = 0; s < slots_used; s++) {
        struct conn *c = slots[s];
        if (c && c->phase == PHASE_WS && now - c->last_active >= idle_seconds &&
            conn_close(c, code, reason, strlen(reason)) == 0)
            closed++;
    }
    return closed;
}

void conn_deliver(struct conn *c, int opcode, const uint8_t *data, size_t len)
{
    upper->message(c, opcode, data, len);
}
