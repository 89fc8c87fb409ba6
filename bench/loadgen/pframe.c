/* pframe.c — see pframe.h. */
#include "pframe.h"

#include <string.h>

#define MAX_DEPTH 32

static const uint8_t *skip_blank(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the closing quote of the string that starts at p (a '"'), or NULL. */
static const uint8_t *skip_string(const uint8_t *p, const uint8_t *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p == end)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

static int scalar_char(uint8_t ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '-' || ch == '+' || ch == '.';
}

/* Past the JSON value that starts at p (after blanks), or NULL. */
static const uint8_t *skip_value(const uint8_t *p, const uint8_t *end, int depth)
{
    p = skip_blank(p, end);
    if (p == end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        uint8_t close = *p == '{' ? '}' : ']';
        if (depth >= MAX_DEPTH)
            return NULL;
        p = skip_blank(p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                if (p == end || *p != '"' || !(p = skip_string(p, end)))
                    return NULL;
                p = skip_blank(p, end);
                if (p == end || *p != ':')
                    return NULL;
                p++;
            }
            if (!(p = skip_value(p, end, depth + 1)))
                return NULL;
            p = skip_blank(p, end);
            if (p == end)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p = skip_blank(p + 1, end);
        }
    }
    const uint8_t *start = p;
    while (p < end && scalar_char(*p))
        p++;
    return p == start ? NULL : p;
}

/* The next member (close '}': key and value) or element (close ']': value) of the
 * container c walks. Returns 1, 0 past its end, -1 when malformed. */
static int next_item(struct pframe_cursor *c, uint8_t close, struct pframe_span *key,
                     struct pframe_span *value)
{
    const uint8_t *p = skip_blank(c->p, c->end), *v;

    if (c->state == 2)
        return 0;
    if (p == c->end)
        return -1;
    if (c->state == 0) {
        if (*p != (close == '}' ? '{' : '['))
            return -1;
        c->state = 1;
        p = skip_blank(p + 1, c->end);
        if (p < c->end && *p == close) {
            c->p = p + 1;
            c->state = 2;
            return 0;
        }
    } else if (*p == close) {
        c->p = p + 1;
        c->state = 2;
        return 0;
    } else if (*p == ',') {
        p = skip_blank(p + 1, c->end);
    } else {
        return -1;
    }
    if (close == '}') {
        const uint8_t *k;
        if (p == c->end || *p != '"' || !(k = skip_string(p, c->end)))
            return -1;
        key->p = p + 1;
        key->len = (size_t)(k - p - 2);
        p = skip_blank(k, c->end);
        if (p == c->end || *p != ':')
            return -1;
        p = skip_blank(p + 1, c->end);
    }
    if (!(v = skip_value(p, c->end, 1)))
        return -1;
    value->p = p;
    value->len = (size_t)(v - p);
    c->p = v;
    return 1;
}

int pframe_span_is(struct pframe_span v, const char *s)
{
    size_t n = strlen(s);

    return v.len == n && memcmp(v.p, s, n) == 0;
}

static int string_of(struct pframe_span v, struct pframe_span *out)
{
    if (v.len < 2 || v.p[0] != '"')
        return -1;
    out->p = v.p + 1;
    out->len = v.len - 2;
    return 0;
}

/* A whole number >= 0 of at most 18 digits (offsets stay below 2^53). */
static int uint_of(struct pframe_span v, uint64_t *out)
{
    uint64_t n = 0;

    if (v.len == 0 || v.len > 18)
        return -1;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    *out = n;
    return 0;
}

static void begin(struct pframe_cursor *c, struct pframe_span v)
{
    c->p = v.p;
    c->end = v.p + v.len;
    c->state = 0;
}

/* The fields of a result object: a subscribe's or a publish's. */
static int parse_result(struct pframe_span result, struct pframe *f)
{
    struct pframe_cursor c;
    struct pframe_span k, v;
    int rc;

    if (result.p[0] != '{')
        return 0;                               /* a result the storm reads no field of */
    begin(&c, result);
    while ((rc = next_item(&c, '}', &k, &v)) == 1) {
        if (pframe_span_is(k, "epoch")) {
            if (string_of(v, &f->epoch) != 0)
                return -1;
        } else if (pframe_span_is(k, "offset")) {
            if (uint_of(v, &f->offset) != 0)
                return -1;
            f->has_offset = 1;
        } else if (pframe_span_is(k, "recovered")) {
            if (!pframe_span_is(v, "true") && !pframe_span_is(v, "false"))
                return -1;
            f->recovered = v.p[0] == 't';
        } else if (pframe_span_is(k, "publications")) {
            if (v.p[0] != '[')
                return -1;
            f->pubs = v;
        }
    }
    return rc;
}

int pframe_parse(const uint8_t *s, size_t len, struct pframe *f)
{
    struct pframe_cursor c = { s, s + len, 0 };
    struct pframe_span k, v, result = { 0 }, error = { 0 }, push = { 0 };
    uint64_t id;
    int rc;

    memset(f, 0, sizeof(*f));
    f->id = -1;
    f->recovered = -1;
    while ((rc = next_item(&c, '}', &k, &v)) == 1) {
        if (pframe_span_is(k, "id")) {
            if (uint_of(v, &id) == 0)
                f->id = (int64_t)id;
        } else if (pframe_span_is(k, "result")) {
            result = v;
        } else if (pframe_span_is(k, "error")) {
            error = v;
        } else if (pframe_span_is(k, "push")) {
            if (string_of(v, &push) != 0)
                return -1;
        } else if (pframe_span_is(k, "epoch")) {
            if (string_of(v, &f->epoch) != 0)
                return -1;
        } else if (pframe_span_is(k, "offset")) {
            if (uint_of(v, &f->offset) != 0)
                return -1;
            f->has_offset = 1;
        } else if (pframe_span_is(k, "data")) {
            f->data = v;
        }
    }
    if (rc < 0 || skip_blank(c.p, c.end) != c.end)
        return -1;
    if (push.p) {
        f->kind = pframe_span_is(push, "pub") ? PFRAME_PUB : PFRAME_OTHER;
        return 0;
    }
    if (error.p) {
        f->kind = PFRAME_ERROR;
        if (error.p[0] != '{')
            return -1;
        begin(&c, error);
        while ((rc = next_item(&c, '}', &k, &v)) == 1)
            if (pframe_span_is(k, "code") && string_of(v, &f->code) != 0)
                return -1;
        return rc;
    }
    if (result.p) {
        f->kind = PFRAME_RESULT;
        return parse_result(result, f);
    }
    return 0;
}

void pframe_pubs_begin(struct pframe_cursor *c, struct pframe_span pubs)
{
    begin(c, pubs);
}

int pframe_pubs_next(struct pframe_cursor *c, uint64_t *offset, struct pframe_span *data)
{
    struct pframe_cursor entry;
    struct pframe_span k, v, item;
    int rc = next_item(c, ']', NULL, &item), has_offset = 0;

    if (rc != 1)
        return rc;
    if (item.p[0] != '{')
        return -1;
    data->p = NULL;
    begin(&entry, item);
    while ((rc = next_item(&entry, '}', &k, &v)) == 1) {
        if (pframe_span_is(k, "offset")) {
            if (uint_of(v, offset) != 0)
                return -1;
            has_offset = 1;
        } else if (pframe_span_is(k, "data")) {
            *data = v;
        }
    }
    return rc == 0 && has_offset && data->p ? 1 : -1;
}
