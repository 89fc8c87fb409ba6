/* procstat.h — CPU and memory of a process, as the kernel accounts them.
 * Server side: /proc/PID/stat (utime, stime) and /proc/PID/status (VmRSS,
 * VmHWM). Load generator side: getrusage(RUSAGE_SELF | RUSAGE_CHILDREN). */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

struct procstat {
    int ok;                 /* 0 when the process could not be read */
    double user_s, sys_s;   /* CPU seconds since the process started */
    long rss_kib, hwm_kib;  /* resident set now and its peak */
};

/* Reads /proc/PID; st->ok = 0 on any failure (e.g. the process exited). */
void procstat_read(pid_t pid, struct procstat *st);
/* This process (and its reaped children): CPU seconds from getrusage. */
void procstat_self(struct procstat *st);
/* The whole machine's CPU time from the first line of /proc/stat, in seconds
 * summed over all CPUs: busy = user + nice + system + irq + softirq (tick
 * accounting charges softirq work to the task it interrupted as well, so busy
 * minus the two processes measured is what everything else used); steal is time
 * the hypervisor gave to other guests. */
struct machine_cpu {
    int ok;
    double busy_s, steal_s;
};
void procstat_machine(struct machine_cpu *mc);
/* The same for one CPU (its "cpuN" line). */
void procstat_cpu(int cpu, struct machine_cpu *mc);
/* The one CPU pid's affinity allows (a pinned server), or -1: not pinned, or unknown. */
int procstat_pinned_cpu(pid_t pid);

/* Kernel memory outside any process's RSS, system-wide (so it includes both
 * ends of every loopback connection and anything else running): the TCP
 * buffer pages of /proc/net/sockstat ("TCP: ... mem N") and the slab total of
 * /proc/meminfo, where socket, inode and epoll structures live. -1 if unknown. */
struct kernel_mem {
    long tcp_buffer_pages;
    long slab_kib;
};
void procstat_kernel(struct kernel_mem *km);

/* Which of the processes pids holds the TCP socket bound to local_port whose peer is at
 * peer_addr:peer_port (a server's end of a connection this process opened; peer_addr as
 * in sin_addr.s_addr): the socket's inode from /proc/net/tcp, then a scan of each
 * /proc/PID/fd. The address counts: with several --sources one peer port is in use on
 * each of them. -1 when none does. */
pid_t procstat_socket_owner(const pid_t *pids, unsigned n, int local_port, uint32_t peer_addr, int peer_port);

#endif
