/* procstat.c — see procstat.h. */
#include "procstat.h"

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static long status_field_kib(const char *text, const char *name)
{
    const char *p = strstr(text, name);

    return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

static int read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return -1;
    n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (int)n;
}

void procstat_read(pid_t pid, struct procstat *st)
{
    char path[64], buf[4096];
    const char *p;
    unsigned long utime, stime;
    double tick = (double)sysconf(_SC_CLK_TCK);

    memset(st, 0, sizeof(*st));
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_file(path, buf, sizeof(buf)) <= 0)
        return;
    /* The command name may contain spaces and parentheses: fields restart after
     * the last ')'. utime and stime are fields 14 and 15, i.e. the 12th and 13th
     * after the state field that follows ')'. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                     &utime, &stime) != 2)
        return;
    st->user_s = (double)utime / tick;
    st->sys_s = (double)stime / tick;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (read_file(path, buf, sizeof(buf)) <= 0)
        return;
    st->rss_kib = status_field_kib(buf, "VmRSS:");
    st->hwm_kib = status_field_kib(buf, "VmHWM:");
    st->ok = st->rss_kib >= 0;
}

void procstat_self(struct procstat *st)
{
    struct rusage self, children;

    memset(st, 0, sizeof(*st));
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    st->user_s = (double)self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6 +
                 (double)children.ru_utime.tv_sec + children.ru_utime.tv_usec / 1e6;
    st->sys_s = (double)self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6 +
                (double)children.ru_stime.tv_sec + children.ru_stime.tv_usec / 1e6;
    st->hwm_kib = self.ru_maxrss;
    st->ok = 1;
}

/* The busy and steal seconds of one line of /proc/stat ("cpu" for all, "cpuN"). */
static void stat_line(const char *name, struct machine_cpu *mc)
{
    static char buf[64 * 1024];
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
    double tick = (double)sysconf(_SC_CLK_TCK);
    char want[32];
    const char *p;

    memset(mc, 0, sizeof(*mc));
    snprintf(want, sizeof(want), "%s ", name);
    if (read_file("/proc/stat", buf, sizeof(buf)) <= 0)
        return;
    for (p = buf; p && strncmp(p, want, strlen(want)) != 0; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {}
    if (!p || sscanf(p + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice,
                     &system, &idle, &iowait, &irq, &softirq, &steal) != 8)
        return;
    mc->busy_s = (double)(user + nice + system + irq + softirq) / tick;
    mc->steal_s = (double)steal / tick;
    mc->ok = 1;
}

void procstat_machine(struct machine_cpu *mc) { stat_line("cpu", mc); }

void procstat_cpu(int cpu, struct machine_cpu *mc)
{
    char name[16];
    snprintf(name, sizeof(name), "cpu%d", cpu);
    stat_line(name, mc);
}

int procstat_pinned_cpu(pid_t pid)
{
    cpu_set_t set;
    if (sched_getaffinity(pid, sizeof(set), &set) != 0 || CPU_COUNT(&set) != 1)
        return -1;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set))
            return cpu;
    return -1;
}

void procstat_kernel(struct kernel_mem *km)
{
    char buf[8192];
    const char *p;

    km->tcp_buffer_pages = km->slab_kib = -1;
    if (read_file("/proc/net/sockstat", buf, sizeof(buf)) > 0 && (p = strstr(buf, "TCP:")) &&
        (p = strstr(p, " mem ")))
        km->tcp_buffer_pages = strtol(p + 5, NULL, 10);
    if (read_file("/proc/meminfo", buf, sizeof(buf)) > 0)
        km->slab_kib = status_field_kib(buf, "\nSlab:");
}

pid_t procstat_socket_owner(const pid_t *pids, unsigned n, int local_port, uint32_t peer_addr, int peer_port)
{
    char line[512], want[64], path[300], link[64];
    unsigned long inode = 0;
    FILE *f = fopen("/proc/net/tcp", "r");

    if (!f)
        return -1;
    while (!inode && fgets(line, sizeof(line), f)) {
        unsigned lport, raddr, rport;
        unsigned long ino;
        /* the kernel prints an address as the 32-bit value of its network-order bytes */
        if (sscanf(line, " %*d: %*8X:%4X %8X:%4X %*X %*X:%*X %*X:%*X %*X %*u %*d %lu", &lport,
                   &raddr, &rport, &ino) == 4 && (int)lport == local_port && raddr == peer_addr &&
            (int)rport == peer_port)
            inode = ino;
    }
    fclose(f);
    if (!inode)
        return -1;
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    for (unsigned i = 0; i < n; i++) {
        DIR *d;
        struct dirent *e;
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pids[i]);
        if (!(d = opendir(path)))
            continue;
        while ((e = readdir(d))) {
            snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pids[i], e->d_name);
            ssize_t len = readlink(path, link, sizeof(link) - 1);
            if (len > 0 && (size_t)len == strlen(want) && memcmp(link, want, (size_t)len) == 0) {
                closedir(d);
                return pids[i];
            }
        }
        closedir(d);
    }
    return -1;
}
