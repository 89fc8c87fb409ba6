/* json_field — one top-level string member of a JSON object, read straight from the
 * text, so a router on msg.type needs no decode of the whole message.
 *
 * The scanner is strict RFC 8259 and checks the whole text: a value is only reported
 * when the full decoder (lua-cjson) would decode the same text to an object holding
 * that string, since a router that took a string out of a message the decoder refuses
 * would route what used to go to not_found. Whatever it cannot vouch for is -1, and the
 * caller decodes: malformed text (lua-cjson also accepts NaN, hex and NUL-terminated
 * text, so "malformed" here is not an answer), a member with escapes in its key or
 * value, a value that is not a string, nesting past JSON_FIELD_DEPTH. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lh_api.h"

/* Deeper than any message a router sees, far below lua-cjson's limit of 1000. */
#define JSON_FIELD_DEPTH 64

struct scan {
    const unsigned char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The value of the 4 hex digits at p, or -1. */
static int hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        if (!is_hex(c)) return -1;
        v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* At the opening quote: moves past the closing one. 1 with *escaped telling whether
 * the string holds an escape, 0 when it is malformed. A \u escape of a surrogate must be
 * a high one followed by a \u low one, as lua-cjson refuses the whole text otherwise,
 * even in a member nobody asked for. */
static int skip_string(struct scan *s, int *escaped)
{
    *escaped = 0;
    s->p++;
    while (s->p < s->end) {
        unsigned char c = *s->p++;
        if (c == '"') return 1;
        if (c < 0x20) return 0;
        if (c != '\\') continue;
        *escaped = 1;
        if (s->p >= s->end) return 0;
        c = *s->p++;
        if (c == 'u') {
            int cp = s->end - s->p >= 4 ? hex4(s->p) : -1;
            if (cp < 0) return 0;
            s->p += 4;
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                if (cp >= 0xDC00 || s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u') return 0;
                cp = hex4(s->p + 2);
                if (cp < 0xDC00 || cp > 0xDFFF) return 0;
                s->p += 6;
            }
        } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
            return 0;
        }
    }
    return 0;
}

static int skip_digits(struct scan *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    return s->p > start;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int skip_number(struct scan *s)
{
    if (*s->p == '-') s->p++;
    if (s->p >= s->end) return 0;
    if (*s->p == '0') s->p++;
    else if (!skip_digits(s)) return 0;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!skip_digits(s)) return 0;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (!skip_digits(s)) return 0;
    }
    return 1;
}

static int skip_literal(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return 0;
    s->p += n;
    return 1;
}

static int skip_value(struct scan *s, int depth);

/* At '{' or '[': moves past the matching close. */
static int skip_container(struct scan *s, int depth)
{
    unsigned char close = *s->p == '{' ? '}' : ']';
    int escaped;
    if (depth >= JSON_FIELD_DEPTH) return 0;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 1;
    }
    for (;;) {
        if (close == '}') {
            if (s->p >= s->end || *s->p != '"' || !skip_string(s, &escaped)) return 0;
            skip_ws(s);
            if (s->p >= s->end || *s->p++ != ':') return 0;
            skip_ws(s);
        }
        if (!skip_value(s, depth + 1)) return 0;
        skip_ws(s);
        if (s->p >= s->end) return 0;
        if (*s->p == close) {
            s->p++;
            return 1;
        }
        if (*s->p++ != ',') return 0;
        skip_ws(s);
    }
}

static int skip_value(struct scan *s, int depth)
{
    int escaped;
    if (s->p >= s->end) return 0;
    switch (*s->p) {
    case '{': case '[': return skip_container(s, depth);
    case '"': return skip_string(s, &escaped);
    case 't': return skip_literal(s, "true", 4);
    case 'f': return skip_literal(s, "false", 5);
    case 'n': return skip_literal(s, "null", 4);
    default: return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && skip_number(s);
    }
}

int lh_json_field(const char *text, size_t len, const char *name, size_t nlen, uint32_t *span)
{
    struct scan s = { (const unsigned char *)text, (const unsigned char *)text + len };
    const unsigned char *found = NULL;   /* the last member named name: its value */
    size_t found_len = 0;
    int escaped;

    if (len > UINT32_MAX) return -1;
    skip_ws(&s);
    /* Not an object: the decoder gives a scalar, an array or an error, none of which
     * has the member, so no need to look further. */
    if (s.p >= s.end || *s.p != '{') return 0;
    s.p++;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        s.p++;
    } else {
        for (;;) {
            const unsigned char *key = s.p + 1;
            if (s.p >= s.end || *s.p != '"' || !skip_string(&s, &escaped)) return -1;
            /* an escaped key may decode to name: only the decoder can tell */
            if (escaped) return -1;
            int match = (size_t)(s.p - 1 - key) == nlen && memcmp(key, name, nlen) == 0;
            skip_ws(&s);
            if (s.p >= s.end || *s.p++ != ':') return -1;
            skip_ws(&s);
            const unsigned char *value = s.p;
            if (match) {
                /* the decoder keeps the last of duplicate members: so do we */
                if (s.p >= s.end || *s.p != '"') return -1;
                if (!skip_string(&s, &escaped) || escaped) return -1;
                found = value + 1;
                found_len = (size_t)(s.p - 1 - found);
            } else if (!skip_value(&s, 1)) {
                return -1;
            }
            skip_ws(&s);
            if (s.p >= s.end) return -1;
            if (*s.p == '}') {
                s.p++;
                break;
            }
            if (*s.p++ != ',') return -1;
            skip_ws(&s);
        }
    }
    skip_ws(&s);
    if (s.p != s.end) return -1;
    if (!found) return 0;
    span[0] = (uint32_t)(found - (const unsigned char *)text);
    span[1] = (uint32_t)found_len;
    return 1;
}
