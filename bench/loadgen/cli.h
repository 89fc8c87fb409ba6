/* cli.h — command-line pieces every loadgen mode reads the same way: the
 * server's ws:// url, the source addresses to connect from, the process's
 * descriptor limit, and how a bad one ends the run. */
#ifndef CLI_H
#define CLI_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/resource.h>

#define CLI_MAX_SOURCES 64

struct cli_url {
    char host[256];
    int port;
    char path[256];
};

/* Splits "ws://HOST:PORT/PATH" (no TLS). Returns NULL, or what is wrong. */
const char *cli_parse_url(const char *url, struct cli_url *out);

/* Adds the addresses of "A-B" (a range) or "a,b,c" to out[*n..], at most
 * CLI_MAX_SOURCES in all. Returns NULL, or what is wrong. */
const char *cli_parse_sources(const char *spec, struct in_addr *out, unsigned *n);

/* Raises the soft limit on open files to the hard one (this box's ceiling on
 * connections per process) and returns it. */
rlim_t cli_raise_fd_limit(void);

/* Prints "PROG: message" on stderr and exits with status 2 (bad arguments or setup). */
void cli_die(const char *prog, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

#endif
