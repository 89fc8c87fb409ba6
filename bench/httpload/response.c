/* response.c — see response.h. */
#include "response.h"

#include <string.h>
#include <strings.h>

static int header_is(const char *line, const char *eol, const char *name, const char **value)
{
    size_t n = strlen(name);

    if ((size_t)(eol - line) <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    for (*value = line + n + 1; *value < eol && (**value == ' ' || **value == '\t'); (*value)++)
        ;
    return 1;
}

long response_parse(const char *buf, size_t len, struct response *res)
{
    size_t scan = len < RESPONSE_HEAD_MAX ? len : RESPONSE_HEAD_MAX;
    const char *blank = memmem(buf, scan, "\r\n\r\n", 4), *v;
    long body = -1;

    if (!blank)
        return len >= RESPONSE_HEAD_MAX ? RESPONSE_BAD : RESPONSE_INCOMPLETE;
    /* "HTTP/1.x NNN " */
    if (blank - buf < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
        buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
        buf[11] > '9')
        return RESPONSE_BAD;
    res->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    res->closes = 0;
    for (const char *line = memchr(buf, '\n', (size_t)(blank + 2 - buf)) + 1; line < blank + 2;) {
        const char *eol = memchr(line, '\r', (size_t)(blank + 2 - line));
        if (header_is(line, eol, "content-length", &v)) {
            body = 0;
            for (; v < eol && *v >= '0' && *v <= '9'; v++)
                if ((body = body * 10 + (*v - '0')) > RESPONSE_BODY_MAX)
                    return RESPONSE_BAD;
        } else if (header_is(line, eol, "connection", &v)) {
            res->closes = eol - v == 5 && strncasecmp(v, "close", 5) == 0;
        }
        line = eol + 2;
    }
    if (body < 0)
        return RESPONSE_BAD;
    size_t total = (size_t)(blank - buf) + 4 + (size_t)body;
    return len >= total ? (long)total : RESPONSE_INCOMPLETE;
}
