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

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Sends one batch takes before it must be submitted. */
#define WRITE_RING_ENTRIES 1024
/* Pieces of one send; a queue with more goes out over several passes or writev. */
#define WRITE_RING_IOV 4

/* Sets up the ring for this process (a worker after its fork). 0, or -errno: why not. */
int write_ring_start(void);
/* 1 while sends go through the ring. */
int write_ring_active(void);
/* Adds a send of iov[0..n) (n <= WRITE_RING_IOV; the array is copied, the bytes must
 * stay put until write_ring_submit returns) to fd, reported for owner. -1 when the
 * batch is full: submit first. */
int write_ring_add(int fd, const struct iovec *iov, int n, void *owner);
/* Submits the batch and reports each send, in the order added: done(owner, res, asked)
 * with res the bytes the socket took or -errno, and asked the bytes offered. */
void write_ring_submit(void (*done)(void *owner, ssize_t res, size_t asked));

#endif
