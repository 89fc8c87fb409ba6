/* request.c — see request.h. */
#include "request.h"

#include <string.h>
#include <strings.h>

#define DELAY_MAX_MS 60000   /* a longer /delay/MS is held to a minute */

static int is_tchar(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int name_is(const uint8_t *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp((const char *)name, want, len) == 0;
}

/* Digits only, at most `max`; -1 otherwise (a sign, a space, an overflow). */
static long parse_count(const uint8_t *s, size_t len, long max)
{
    long v = 0;

    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > max)
            return max + 1;
    }
    return v;
}

static uint32_t delay_of(const uint8_t *target, size_t len)
{
    static const char prefix[] = "/delay/";
    size_t plen = sizeof(prefix) - 1, digits = 0;

    if (len <= plen || memcmp(target, prefix, plen) != 0)
        return 0;
    while (plen + digits < len && target[plen + digits] >= '0' && target[plen + digits] <= '9')
        digits++;
    long ms = parse_count(target + plen, digits, DELAY_MAX_MS);
    return ms < 0 ? 0 : (uint32_t)(ms > DELAY_MAX_MS ? DELAY_MAX_MS : ms);
}

long request_parse(const uint8_t *buf, size_t len, struct request *req)
{
    size_t scan = len < REQUEST_HEAD_MAX ? len : REQUEST_HEAD_MAX;
    const uint8_t *blank = memmem(buf, scan, "\r\n\r\n", 4);

    if (!blank)
        return len >= REQUEST_HEAD_MAX ? REQUEST_HEAD_TOO_BIG : REQUEST_INCOMPLETE;
    size_t head_len = (size_t)(blank - buf) + 4;

    /* Request line: METHOD SP TARGET SP HTTP/1.x CRLF */
    const uint8_t *p = buf, *eol = memchr(buf, '\r', head_len);
    while (p < eol && is_tchar(*p))
        p++;
    if (p == buf || p == eol || *p != ' ')
        return REQUEST_BAD;
    const uint8_t *target = ++p;
    while (p < eol && *p > ' ' && *p != 0x7f)
        p++;
    if (p == target || eol - p != 9 || *p != ' ' || memcmp(p + 1, "HTTP/1.", 7) != 0 ||
        (p[8] != '0' && p[8] != '1'))
        return REQUEST_BAD;
    req->keep_alive = p[8] == '1';
    req->delay_ms = delay_of(target, (size_t)(p - target));

    /* Header lines up to the blank line; only three names matter here. */
    long body = -1;
    for (const uint8_t *line = eol + 2; line < blank + 2; line = eol + 2) {
        eol = memchr(line, '\r', (size_t)(blank + 2 - line));
        if (!eol || eol[1] != '\n')
            return REQUEST_BAD;
        const uint8_t *colon = memchr(line, ':', (size_t)(eol - line));
        if (!colon || colon == line)
            return REQUEST_BAD;
        for (const uint8_t *n = line; n < colon; n++)
            if (!is_tchar(*n))
                return REQUEST_BAD;
        const uint8_t *v = colon + 1, *vend = eol;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        size_t name_len = (size_t)(colon - line), value_len = (size_t)(vend - v);
        if (name_is(line, name_len, "content-length")) {
            long n = parse_count(v, value_len, REQUEST_BODY_MAX);
            if (n < 0 || (body >= 0 && n != body))
                return REQUEST_BAD;
            if (n > REQUEST_BODY_MAX)
                return REQUEST_BODY_TOO_BIG;
            body = n;
        } else if (name_is(line, name_len, "transfer-encoding")) {
            return REQUEST_UNSUPPORTED;
        } else if (name_is(line, name_len, "connection")) {
            if (name_is(v, value_len, "close"))
                req->keep_alive = 0;
            else if (name_is(v, value_len, "keep-alive"))
                req->keep_alive = 1;
        }
    }
    size_t total = head_len + (size_t)(body > 0 ? body : 0);
    return len >= total ? (long)total : REQUEST_INCOMPLETE;
}
