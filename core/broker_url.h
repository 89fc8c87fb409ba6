/* broker_url.h — the URL of a Redis or NATS server, as the cluster (cluster.url) and
 * hub.redis take it: scheme://[[user]:password@]host[:port][/db]; for a broker of several
 * servers (a NATS cluster, a Redis Cluster's seeds) the hosts are listed with commas:
 * scheme://[[user]:password@]host[:port],host[:port],...[/db]. One parser, so both read
 * the same forms and give the same messages. */
#ifndef LUAHUB_BROKER_URL_H
#define LUAHUB_BROKER_URL_H

#include <stddef.h>

/* host is numeric (resolved by the parser). Strings are NUL-terminated, empty when
 * absent; port defaults to the scheme's (6379 for redis, 4222 for nats). */
struct broker_url {
    char scheme[16];
    char host[64];
    int port;
    char user[128], password[256];
    int db;
};

/* Parses and resolves the host with getaddrinfo, which may block on DNS: call it where
 * the loop may wait (startup, a script's load), never per request. 0, or -1 with the
 * cause in err ("\"URL\": expected ...", the URL masked as broker_url_masked does). */
int broker_url_parse(const char *url, struct broker_url *u, char *err, size_t errlen);

/* The most servers one URL may list. */
#define BROKER_URL_HOSTS_MAX 16

/* A URL listing one or more servers: each into u[0..n), with the same scheme, credentials
 * and /db, as broker_url_parse reads a URL of one. n, or -1 with the cause in err. */
int broker_url_parse_list(const char *url, struct broker_url *u, int max, char *err, size_t errlen);

/* url with its user and password (from "://" to the last "@") written as "***", for
 * messages and logs: a newly allocated string, NULL when out of memory. */
char *broker_url_masked(const char *url);

#endif
