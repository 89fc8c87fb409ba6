/* cli.c — see cli.h. */
#include "cli.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_parse_url(const char *url, struct cli_url *out)
{
    const char *p = url, *slash, *colon;

    if (strncmp(p, "ws://", 5) != 0)
        return "the url must start with ws:// (no TLS)";
    p += 5;
    slash = strchr(p, '/');
    colon = memchr(p, ':', slash ? (size_t)(slash - p) : strlen(p));
    if (!colon)
        return "the url needs a port";
    snprintf(out->host, sizeof(out->host), "%.*s", (int)(colon - p), p);
    out->port = atoi(colon + 1);
    if (out->port <= 0 || out->port > 65535)
        return "the url's port is not 1..65535";
    snprintf(out->path, sizeof(out->path), "%s", slash ? slash : "/");
    return NULL;
}

const char *cli_parse_sources(const char *spec, struct in_addr *out, unsigned *n)
{
    char buf[1024], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(part, '-');
        struct in_addr a, b;
        if (dash)
            *dash = '\0';
        if (inet_pton(AF_INET, part, &a) != 1 || (dash && inet_pton(AF_INET, dash + 1, &b) != 1))
            return "not an IPv4 address, range A-B or list a,b,c";
        if (!dash)
            b = a;
        for (uint32_t x = ntohl(a.s_addr); x <= ntohl(b.s_addr); x++) {
            if (*n == CLI_MAX_SOURCES)
                return "more than 64 addresses";
            out[(*n)++].s_addr = htonl(x);
        }
    }
    return NULL;
}

rlim_t cli_raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

void cli_die(const char *prog, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}
