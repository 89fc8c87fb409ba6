#include "reqhead.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Layout: varint (target length + 1, 0 when there is none), the target, then one entry
 * per header line and a 0 byte:
 *   NAME_TAG + i, varint value length, value   a name of names[i], any value
 *   LINE_TAG + i, nothing more                 lines[i], name and value
 *   LITERAL_TAG, varint name length, name, varint value length, value
 * Lengths are LEB128 (7 bits a byte), one byte below 128. */
#define NAME_TAG 0x01
#define LINE_TAG 0x40
#define LITERAL_TAG 0x80

static const char *const names[] = {
    "Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol", "Origin", "User-Agent", "Accept",
    "Accept-Encoding", "Accept-Language", "Cache-Control", "Pragma", "Cookie",
    "Authorization", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP", "Referer",
};
#define NNAMES (sizeof names / sizeof names[0])

/* Whole lines browsers and clients send as they are; the name is an index in names. */
static const struct { uint8_t name; const char *value; } lines[] = {
    { 1, "websocket" },
    { 2, "Upgrade" },
    { 2, "keep-alive, Upgrade" },
    { 4, "13" },
    { 5, "permessage-deflate; client_max_window_bits" },
    { 10, "gzip, deflate, br" },
    { 10, "gzip, deflate, br, zstd" },
    { 12, "no-cache" },
    { 13, "no-cache" },
};
#define NLINES (sizeof lines / sizeof lines[0])

static size_t put_len(uint8_t *out, size_t n)
{
    size_t i = 0;
    do {
        uint8_t b = n & 0x7f;
        n >>= 7;
        if (out) out[i] = (uint8_t)(b | (n ? 0x80 : 0));
        i++;
    } while (n);
    return i;
}

static const uint8_t *get_len(const uint8_t *p, size_t *n)
{
    size_t v = 0;
    int shift = 0;
    uint8_t b;
    do {
        b = *p++;
        v |= (size_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    *n = v;
    return p;
}

static size_t put_bytes(uint8_t *out, const char *s, size_t n)
{
    size_t k = put_len(out, n);
    if (out) memcpy(out + k, s, n);
    return k + n;
}

static int known_name(const char *name, size_t nl)
{
    for (size_t i = 0; i < NNAMES; i++)
        if (strlen(names[i]) == nl && strncasecmp(names[i], name, nl) == 0) return (int)i;
    return -1;
}

/* One header line's entry, written at out (or only measured when out is NULL). */
static size_t put_line(uint8_t *out, const char *name, size_t nl, const char *v, size_t vl)
{
    int k = known_name(name, nl);
    if (k < 0) {
        if (out) out[0] = LITERAL_TAG;
        size_t n = 1 + put_bytes(out ? out + 1 : NULL, name, nl);
        return n + put_bytes(out ? out + n : NULL, v, vl);
    }
    for (size_t i = 0; i < NLINES; i++)
        if (lines[i].name == k && strlen(lines[i].value) == vl && memcmp(lines[i].value, v, vl) == 0) {
            if (out) out[0] = (uint8_t)(LINE_TAG + i);
            return 1;
        }
    if (out) out[0] = (uint8_t)(NAME_TAG + k);
    return 1 + put_bytes(out ? out + 1 : NULL, v, vl);
}

/* Walks the head's lines as a lookup in the raw head would, writing (out) or measuring
 * (NULL) the packed form. */
static size_t pack(uint8_t *out, const char *head, size_t len)
{
    const char *end = head + len;
    const char *eol = memchr(head, '\n', len);
    const char *sp = memchr(head, ' ', len);
    const char *sp2 = sp ? memchr(sp + 1, ' ', (size_t)(end - sp - 1)) : NULL;
    size_t n;
    if (sp2) {
        n = put_len(out, (size_t)(sp2 - sp - 1) + 1);
        if (out) memcpy(out + n, sp + 1, (size_t)(sp2 - sp - 1));
        n += (size_t)(sp2 - sp - 1);
    } else {
        n = put_len(out, 0);
    }
    const char *line = eol;
    while (line && ++line < end) {
        const char *next = memchr(line, '\n', (size_t)(end - line));
        const char *le = next ? next : end;
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            n += put_line(out ? out + n : NULL, line, (size_t)(colon - line), v, (size_t)(ve - v));
        }
        line = next;
    }
    if (out) out[n] = 0;
    return n + 1;
}

char *reqhead_pack(const char *head, size_t len)
{
    uint8_t *out = malloc(pack(NULL, head, len));
    if (out) pack(out, head, len);
    return (char *)out;
}

const char *reqhead_target(const char *packed, size_t *len)
{
    size_t n;
    const uint8_t *p = get_len((const uint8_t *)packed, &n);
    if (n == 0) return NULL;
    *len = n - 1;
    return (const char *)p;
}

const char *reqhead_header(const char *packed, const char *name, size_t nl, size_t *len)
{
    size_t n;
    const uint8_t *p = get_len((const uint8_t *)packed, &n);
    p += n ? n - 1 : 0;
    while (*p) {
        uint8_t tag = *p++;
        const char *hn, *v;
        size_t hl, vl;
        if (tag >= LITERAL_TAG) {
            p = get_len(p, &hl);
            hn = (const char *)p;
            p = get_len(p + hl, &vl);
            v = (const char *)p;
            p += vl;
        } else if (tag >= LINE_TAG) {
            hn = names[lines[tag - LINE_TAG].name];
            hl = strlen(hn);
            v = lines[tag - LINE_TAG].value;
            vl = strlen(v);
        } else {
            hn = names[tag - NAME_TAG];
            hl = strlen(hn);
            p = get_len(p, &vl);
            v = (const char *)p;
            p += vl;
        }
        if (hl == nl && strncasecmp(hn, name, nl) == 0) {
            *len = vl;
            return v;
        }
    }
    return NULL;
}
