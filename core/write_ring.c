#include "write_ring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "log.h"

struct send_slot {
    void *owner, *tag;
    size_t asked;
    struct msghdr msg;
    struct iovec iov[WRITE_RING_IOV];
};

static struct io_uring ring;
static int active;
/* Sockets registered with the ring (a sparse table indexed by the descriptor): a send
 * on one skips the kernel's file lookup and its reference count, about a fortieth of a
 * broadcast's cost. A socket is registered at its first send and must be forgotten
 * before it is closed (write_ring_forget), since the table holds the file itself. */
#define FIXED_FILES_MAX 65536
static uint8_t *registered;      /* one byte per descriptor below nfixed; NULL: none */
static unsigned nfixed, nregistered;
static int submitting;           /* write_ring_submit is reporting: no adds until it is done */
/* The batch being filled; slots are only touched by a pass that writes. */
static struct send_slot slots[WRITE_RING_ENTRIES];
static unsigned nslots;

int write_ring_start(void)
{
    if (active) return 0;
    /* One thread submits, and nothing waits on task work: the kernel can skip the
     * locking and the interrupts both would need. SUBMIT_ALL: one send that fails at
     * submission must not stop the rest of the batch. Kernels before 6.0 refuse some of
     * these; the plain ring is just as correct. */
    struct io_uring_params p = {
        .flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
    };
    int r = io_uring_queue_init_params(WRITE_RING_ENTRIES, &ring, &p);
    if (r == -EINVAL) r = io_uring_queue_init(WRITE_RING_ENTRIES, &ring, 0);
    if (r < 0) return r;
    active = 1;
    struct rlimit rl;
    unsigned want = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < FIXED_FILES_MAX
        ? (unsigned)rl.rlim_cur : FIXED_FILES_MAX;
    /* without the table (kernels before 5.19) every send names its descriptor */
    if ((registered = calloc(want, 1)) && io_uring_register_files_sparse(&ring, want) == 0) {
        nfixed = want;
    } else {
        free(registered);
        registered = NULL;
    }
    return 0;
}

/* 1 when fd is in the table (registered now if it was not). */
static int fixed(int fd)
{
    if (fd < 0 || (unsigned)fd >= nfixed) return 0;
    if (!registered[fd]) {
        if (io_uring_register_files_update(&ring, (unsigned)fd, &fd, 1) != 1) return 0;
        registered[fd] = 1;
        nregistered++;
    }
    return 1;
}

void write_ring_forget(int fd)
{
    if (!active || fd < 0 || (unsigned)fd >= nfixed || !registered[fd]) return;
    int none = -1, r = io_uring_register_files_update(&ring, (unsigned)fd, &none, 1);
    if (r != 1)
        log_error(0, "io_uring: cannot unregister descriptor %d: %s", fd, strerror(r < 0 ? -r : EIO));
    registered[fd] = 0;
    nregistered--;
}

unsigned write_ring_sockets(void) { return nregistered; }

int write_ring_active(void) { return active; }

int write_ring_pending(void) { return nslots != 0; }

int write_ring_add(int fd, const struct iovec *iov, int n, void *owner, void *tag)
{
    if (!active || submitting || nslots == WRITE_RING_ENTRIES) return -1;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) return -1;
    struct send_slot *s = &slots[nslots++];
    s->owner = owner;
    s->tag = tag;
    s->asked = 0;
    for (int i = 0; i < n; i++) s->asked += iov[i].iov_len;
    /* MSG_DONTWAIT makes a full socket complete now (-EAGAIN) instead of waiting in the
     * kernel for room, so the batch never outlives write_ring_submit. */
    if (n == 1) {
        io_uring_prep_send(sqe, fd, iov[0].iov_base, iov[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
        memcpy(s->iov, iov, (size_t)n * sizeof *iov);
        s->msg = (struct msghdr){ .msg_iov = s->iov, .msg_iovlen = (size_t)n };
        io_uring_prep_sendmsg(sqe, fd, &s->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (fixed(fd)) {
        sqe->fd = fd;   /* the table's index, which is the descriptor */
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    io_uring_sqe_set_data(sqe, s);
    return 0;
}

void write_ring_submit(write_ring_report *sent, write_ring_report *done)
{
    if (!nslots) return;
    static ssize_t res[WRITE_RING_ENTRIES];
    unsigned want = nslots, taken, seen = 0;
    for (unsigned i = 0; i < want; i++) res[i] = WRITE_RING_NOT_SENT;
    int r;
    while ((r = io_uring_submit_and_wait(&ring, want)) == -EINTR) {}
    taken = r < 0 ? 0 : (unsigned)r;
    /* The sends taken but not reported stay WRITE_RING_UNKNOWN: some of their bytes may
     * be out, so the stream cannot go on. */
    for (unsigned i = 0; i < want && i < taken; i++) res[i] = WRITE_RING_UNKNOWN;
    while (seen < taken) {
        struct io_uring_cqe *cqe;
        int w = io_uring_wait_cqe(&ring, &cqe);
        if (w == -EINTR) continue;
        if (w < 0) break;
        struct send_slot *s = io_uring_cqe_get_data(cqe);
        res[s - slots] = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        seen++;
    }
    if (taken < want || seen < taken) {
        /* Sends left in the ring could go out later, after the caller wrote the same
         * bytes itself: the ring goes, and writev does every write from now on. */
        log_error(0, "io_uring took %u of %u sends and reported %u (%s): writing with writev from now on",
                  taken, want, seen, strerror(r < 0 ? -r : EIO));
        io_uring_queue_exit(&ring);   /* the table goes with it */
        active = 0;
        free(registered);
        registered = NULL;
        nfixed = nregistered = 0;
    }
    nslots = 0;
    submitting = 1;   /* the reports read slots[] and res[]: nothing may add meanwhile */
    for (unsigned i = 0; i < want; i++) sent(slots[i].owner, slots[i].tag, res[i], slots[i].asked);
    for (unsigned i = 0; i < want; i++) done(slots[i].owner, slots[i].tag, res[i], slots[i].asked);
    submitting = 0;
}
