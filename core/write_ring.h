/* write_ring.h — a loop pass's socket writes handed to the kernel as one batch
 * (io_uring), instead of one writev system call per client.
 *
 * A broadcast pass writes to every member, and on this kind of box most of a write's
 * cost that is not TCP itself is the system call around it: entry and exit, the file
 * lookup, the iovec import (docs/benchmarks.md, "io_uring"). Queued here, a pass's
 * writes cost one io_uring_enter per WRITE_RING_ENTRIES clients. Each send carries
 * MSG_DONTWAIT, so a socket that is full completes at once with -EAGAIN (or a short
 * count) and nothing is ever left running in the kernel: every send has completed when
 * write_ring_submit returns, so the buffers need only outlive that call.
 *
 * Where io_uring cannot be had (an old kernel, a seccomp profile that forbids it,
 * io_uring = "off") write_ring_start says why and write_ring_active stays 0: the flush
 * then writes with writev, as it always could. */
#ifndef LUAHUB_WRITE_RING_H
#define LUAHUB_WRITE_RING_H

#include <errno.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Sends one batch takes before it must be submitted. */
#define WRITE_RING_ENTRIES 1024
/* Pieces of one send; a queue with more goes out over several passes or writev. */
#define WRITE_RING_IOV 4

/* A send the kernel never took (the caller writes that client itself), and one whose
 * outcome could not be read (how much of it went out is unknown). */
#define WRITE_RING_NOT_SENT (-ECANCELED)
#define WRITE_RING_UNKNOWN (-ENOTRECOVERABLE)

/* Sets up the ring for this process (a worker after its fork). 0, or -errno: why not. */
int write_ring_start(void);
/* 1 while sends go through the ring. */
int write_ring_active(void);
/* Takes fd out of the ring's table of registered sockets: call it before closing fd,
 * or the table keeps the socket open (and a reused descriptor would send to it). */
void write_ring_forget(int fd);
/* Sockets in that table now: those that had a send through the ring and are not yet
 * closed (luahub_io_uring_sockets; with no connection left, 0). */
unsigned write_ring_sockets(void);
/* 1 while the batch holds sends not yet submitted. */
int write_ring_pending(void);
/* Adds a send of iov[0..n) (n <= WRITE_RING_IOV; the array is copied, the bytes must
 * stay put until write_ring_submit returns) to fd, reported for owner with tag. -1 when
 * the batch is full (submit first) or the ring is not active. */
int write_ring_add(int fd, const struct iovec *iov, int n, void *owner, void *tag);
/* Submits the batch and reports each send, in the order added, twice: first sent(owner,
 * tag, res, asked) for every send, then done(owner, tag, res, asked) for every send. res is the bytes the
 * socket took, -errno, WRITE_RING_NOT_SENT or WRITE_RING_UNKNOWN; asked the bytes
 * offered. Only sent's accounting runs before every result is in, so what done does
 * (which may run hooks that queue to other owners) never meets a send half accounted. */
typedef void write_ring_report(void *owner, void *tag, ssize_t res, size_t asked);
void write_ring_submit(write_ring_report *sent, write_ring_report *done);

#endif
