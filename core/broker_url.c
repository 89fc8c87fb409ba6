/* broker_url.c — see broker_url.h. */
#include "broker_url.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

char *broker_url_masked(const char *url)
{
    const char *p = strstr(url, "://");
    const char *at = strrchr(url, '@');
    if (!p || !at || at < p) return strdup(url);
    char *s = malloc(strlen(url) + 4);
    if (s) sprintf(s, "%.*s***%s", (int)(p + 3 - url), url, at);
    return s;
}

static int parse(const char *url, const char *shown, struct broker_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    const char *p = strstr(url, "://");
    if (!p || (size_t)(p - url) >= sizeof u->scheme) {
        snprintf(err, errlen, "\"%s\": expected scheme://host:port", shown);
        return -1;
    }
    memcpy(u->scheme, url, (size_t)(p - url));
    p += 3;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        snprintf(u->user, sizeof u->user, "%.*s", (int)(uend - p), p);
        if (colon) snprintf(u->password, sizeof u->password, "%.*s", (int)(at - colon - 1), colon + 1);
        p = at + 1;
    }
    char host[256];
    const char *end = p + strcspn(p, "/");
    const char *portp = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(rb - p - 1), p + 1);
        if (rb[1] == ':') portp = rb + 2;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        snprintf(host, sizeof host, "%.*s", (int)((colon ? colon : end) - p), p);
        if (colon) portp = colon + 1;
    }
    u->port = strcmp(u->scheme, "nats") == 0 ? 4222 : 6379;
    if (portp) {
        char *pe;
        long port = strtol(portp, &pe, 10);
        if (pe != end || port <= 0 || port > 65535) goto bad;
        u->port = (int)port;
    }
    if (*end == '/' && end[1]) {
        char *de;
        long db = strtol(end + 1, &de, 10);
        if (*de || db < 0) goto bad;
        u->db = (int)db;
    }
    if (!host[0]) goto bad;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "\"%s\": cannot resolve \"%s\": %s", shown, host, gai_strerror(gai));
        return -1;
    }
    getnameinfo(res->ai_addr, res->ai_addrlen, u->host, sizeof u->host, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errlen, "\"%s\": expected %s://[[user]:password@]host[:port]%s", shown,
             u->scheme, strcmp(u->scheme, "nats") != 0 ? "[/db]" : "");
    return -1;
}

int broker_url_parse(const char *url, struct broker_url *u, char *err, size_t errlen)
{
    char *shown = broker_url_masked(url);
    int rc = parse(url, shown ? shown : "(URL)", u, err, errlen);
    free(shown);
    return rc;
}

int broker_url_parse_list(const char *url, struct broker_url *u, int max, char *err, size_t errlen)
{
    char *shown = broker_url_masked(url);
    const char *sep = strstr(url, "://");
    const char *at = strrchr(url, '@');
    const char *hosts = sep ? (at && at > sep ? at + 1 : sep + 3) : url;
    const char *tail = hosts + strcspn(hosts, "/");   /* "/db" or "" */
    size_t head = (size_t)(hosts - url);               /* "scheme://user:pass@" */
    int n = 0, rc = 0;
    char *one = malloc(strlen(url) + 1);
    if (!shown || !one) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    for (const char *h = hosts; rc == 0 && h <= tail; n++) {
        size_t hl = strcspn(h, ",/");
        if (h + hl > tail) hl = (size_t)(tail - h);
        if (n == max) {
            snprintf(err, errlen, "\"%s\": at most %d servers", shown, max);
            rc = -1;
            break;
        }
        sprintf(one, "%.*s%.*s%s", (int)head, url, (int)hl, h, tail);
        rc = parse(one, shown, &u[n], err, errlen);
        h += hl + 1;
        if (h[-1] != ',') break;
    }
    free(one);
    free(shown);
    return rc == 0 ? n + 1 : -1;
}
