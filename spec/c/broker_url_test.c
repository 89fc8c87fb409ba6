/* broker_url_test — broker_url_parse: the URL forms the cluster adapters and hub.redis
 * accept, the defaults, and the refusals, each with its message; broker_url_parse_list:
 * a URL listing several servers, each with the URL's credentials and /db. */
#include "broker_url.h"

#include <string.h>

#include "check.h"

static void accepts(const char *url, const char *scheme, const char *host, int port,
                    const char *user, const char *password, int db)
{
    struct broker_url u;
    char err[256] = "";
    int rc = broker_url_parse(url, &u, err, sizeof err);
    CHECK(rc == 0 && strcmp(u.scheme, scheme) == 0 && strcmp(u.host, host) == 0 && u.port == port &&
          strcmp(u.user, user) == 0 && strcmp(u.password, password) == 0 && u.db == db,
          "%s -> %s %s:%d user '%s' password '%s' db %d (%s)", url, scheme, host, port, user,
          password, db, err);
}

static void refuses(const char *url, const char *want)
{
    struct broker_url u;
    char err[256] = "";
    int rc = broker_url_parse(url, &u, err, sizeof err);
    CHECK(rc == -1 && strstr(err, want), "%s refused: \"%s\" mentions \"%s\"", url, err, want);
}

int main(void)
{
    accepts("redis://127.0.0.1:6380", "redis", "127.0.0.1", 6380, "", "", 0);
    accepts("redis://127.0.0.1", "redis", "127.0.0.1", 6379, "", "", 0);
    accepts("redis://:s3cret@127.0.0.1:7000/3", "redis", "127.0.0.1", 7000, "", "s3cret", 3);
    accepts("redis://app:pw@127.0.0.1:7000/", "redis", "127.0.0.1", 7000, "app", "pw", 0);
    accepts("redis://:p@ss@127.0.0.1:7000", "redis", "127.0.0.1", 7000, "", "p@ss", 0);
    accepts("nats://127.0.0.1", "nats", "127.0.0.1", 4222, "", "", 0);
    accepts("nats://user:pass@127.0.0.1:4333", "nats", "127.0.0.1", 4333, "user", "pass", 0);
    accepts("nats://[::1]:4222", "nats", "::1", 4222, "", "", 0);

    refuses("127.0.0.1:6379", "expected scheme://host:port");
    refuses("redis://127.0.0.1:0", "expected redis://");
    refuses("redis://127.0.0.1:65536", "expected redis://");
    refuses("redis://127.0.0.1:63x9", "expected redis://");
    refuses("redis://127.0.0.1:6379/x", "[/db]");
    refuses("redis://:pw@", "expected redis://");
    refuses("redis://:s3cret@127.0.0.1:x", "\"redis://***@127.0.0.1:x\": expected");

    struct broker_url list[BROKER_URL_HOSTS_MAX];
    char lerr[256] = "";
    int n = broker_url_parse_list("redis-cluster://:pw@127.0.0.1:7000,127.0.0.1,[::1]:7002/2", list,
                                  BROKER_URL_HOSTS_MAX, lerr, sizeof lerr);
    CHECK(n == 3 && strcmp(list[0].scheme, "redis-cluster") == 0 && list[0].port == 7000 &&
          list[1].port == 6379 && strcmp(list[2].host, "::1") == 0 && list[2].port == 7002 &&
          strcmp(list[1].password, "pw") == 0 && strcmp(list[2].password, "pw") == 0 && list[2].db == 2,
          "a list of three: %d servers (%s)", n, lerr);
    n = broker_url_parse_list("nats://127.0.0.1:4222", list, BROKER_URL_HOSTS_MAX, lerr, sizeof lerr);
    CHECK(n == 1 && list[0].port == 4222, "a list of one: %d (%s)", n, lerr);
    n = broker_url_parse_list("nats://127.0.0.1:4222,,127.0.0.1:4223", list, BROKER_URL_HOSTS_MAX, lerr, sizeof lerr);
    CHECK(n == -1 && strstr(lerr, "expected nats://"), "an empty entry is refused: %s", lerr);
    n = broker_url_parse_list("nats://:pw@127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", list, 2, lerr, sizeof lerr);
    CHECK(n == -1 && strstr(lerr, "at most 2 servers") && strstr(lerr, "***@"),
          "too many servers, the password masked: %s", lerr);

    /* a name is resolved once, here, to the numeric address the adapters connect to
     * (from /etc/hosts: no DNS query in a test) */
    struct broker_url u;
    char err[256] = "";
    int rc = broker_url_parse("nats://localhost:4222", &u, err, sizeof err);
    CHECK(rc == 0 && (strcmp(u.host, "127.0.0.1") == 0 || strcmp(u.host, "::1") == 0),
          "localhost resolves to a numeric loopback address (%s) %s", u.host, err);
    return check_summary();
}
