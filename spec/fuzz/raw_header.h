/* raw_header.h — the oracle for reqhead.c: a header's value found by scanning the raw
 * request head line by line (name compared without case, the value trimmed of spaces,
 * tabs and the CR), the way the packed head must answer. Used by reqhead_test.c and by
 * the http fuzz target. */
#ifndef LUAHUB_SPEC_RAW_HEADER_H
#define LUAHUB_SPEC_RAW_HEADER_H

#include <string.h>
#include <strings.h>

static inline const char *raw_header(const char *head, size_t len, const char *name, size_t nl,
                                     size_t *vl)
{
    const char *end = head + len, *line = memchr(head, '\n', len);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon && (size_t)(colon - line) == nl && strncasecmp(line, name, nl) == 0) {
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *vl = (size_t)(ve - v);
            return v;
        }
        line = eol;
    }
    return NULL;
}

#endif
