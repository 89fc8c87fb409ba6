#include "frame.h"

#include <stdlib.h>
#include <string.h>

size_t frame_header_len(size_t len)
{
    return len < 126 ? 2 : len <= 0xffff ? 4 : 10;
}

struct frame *frame_raw(size_t len)
{
    if (len > UINT32_MAX) return NULL;
    struct frame *f = malloc(sizeof *f + len);
    if (!f) return NULL;
    f->refs = 1;
    f->len = (uint32_t)len;
    f->payload_len = (uint32_t)len;
    f->nparts = 0;
    return f;
}

struct frame *frame_combine(struct frame *const *parts, uint32_t n, uint64_t bytes)
{
    size_t at = (bytes + 7u) & ~(size_t)7u;   /* the part pointers, aligned, after the bytes */
    if (bytes > UINT32_MAX - 8) return NULL;
    struct frame *f = frame_raw(at + n * sizeof *parts);
    if (!f) return NULL;
    f->len = (uint32_t)bytes;
    f->payload_len = 0;
    f->nparts = n;
    uint8_t *p = f->data;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(p, parts[i]->data, parts[i]->len);
        p += parts[i]->len;
    }
    memcpy(frame_parts(f), parts, n * sizeof *parts);
    return f;
}

struct frame *frame_ws(int opcode, const void *payload, size_t len)
{
    size_t hl = frame_header_len(len);
    struct frame *f = frame_raw(hl + len);
    if (!f) return NULL;
    uint8_t *h = f->data;
    h[0] = 0x80 | (uint8_t)opcode;
    if (hl == 2) {
        h[1] = (uint8_t)len;
    } else if (hl == 4) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (len) memcpy(h + hl, payload, len);
    f->payload_len = (uint32_t)len;
    return f;
}

void frame_unref(struct frame *f)
{
    if (!f || --f->refs) return;
    for (uint32_t i = 0; i < f->nparts; i++) frame_unref(frame_parts(f)[i]);
    free(f);
}
