/* payload.c — see payload.h. */
#include "payload.h"

#include <stdlib.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

int payload_template_init(struct payload_template *t, const char *template, size_t size)
{
    const char *mark = NULL;
    size_t prefix = 0, suffix = 0;

    if (template) {
        if (!(mark = strstr(template, "%s")))
            return -1;
        prefix = (size_t)(mark - template);
        suffix = strlen(mark + 2);
    }
    if (size < prefix + PAYLOAD_STAMP_LEN + suffix)
        size = prefix + PAYLOAD_STAMP_LEN + suffix;
    t->bytes = malloc(size);
    if (!t->bytes)
        return -1;
    t->size = size;
    t->stamp_offset = prefix;
    memset(t->bytes, '.', size);
    if (template) {
        memcpy(t->bytes, template, prefix);
        memcpy(t->bytes + size - suffix, mark + 2, suffix);
    }
    payload_write(t, t->bytes, 0, 0, 0);
    return 0;
}

void payload_template_free(struct payload_template *t)
{
    free(t->bytes);
    t->bytes = NULL;
}

static void put_hex(uint8_t *dst, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        dst[i] = (uint8_t)hex_digits[v & 0xf];
}

void payload_write(const struct payload_template *t, uint8_t *dst,
                   uint64_t send_ns, uint32_t seq, uint32_t source)
{
    uint8_t *s;

    if (dst != t->bytes)
        memcpy(dst, t->bytes, t->size);
    s = dst + t->stamp_offset;
    memcpy(s, "@LG", 3);
    put_hex(s + 3, send_ns, 16);
    put_hex(s + 19, seq, 8);
    put_hex(s + 27, source, 8);
}

/* The stamp is read once per delivered message, which made a digit-by-digit parse the
 * load generator's hottest function and the limit of the burst scenario; eight digits
 * are parsed at once instead (SWAR, little-endian: the first digit is the lowest byte). */
#define BYTES(b) (0x0101010101010101ULL * (b))

/* A mask with bit 7 of each byte of x (every byte below 0x80) that lies in [lo, hi]. */
static uint64_t bytes_within(uint64_t x, uint8_t lo, uint8_t hi)
{
    uint64_t at_least_lo = (x | BYTES(0x80)) - BYTES(lo);
    uint64_t above_hi = x + BYTES(0x7f - hi);
    return at_least_lo & ~above_hi & BYTES(0x80);
}

/* 8 hex digits to their value; -1 unless all eight are lowercase hex digits. */
static int64_t hex8_parse(const uint8_t *src)
{
    uint64_t x;
    memcpy(&x, src, 8);
    if ((x & BYTES(0x80)) ||
        (bytes_within(x, '0', '9') | bytes_within(x, 'a', 'f')) != BYTES(0x80))
        return -1;
    /* '0'..'9' -> 0..9, 'a'..'f' -> 1..6 + 9 (bit 6 is set only in letters) */
    uint64_t n = (x & BYTES(0x0f)) + ((x >> 6) & BYTES(1)) * 9;
    n = ((n << 4) | (n >> 8)) & 0x00ff00ff00ff00ffULL;
    n = ((n << 8) | (n >> 16)) & 0x0000ffff0000ffffULL;
    return (int64_t)(((n << 16) | (n >> 32)) & 0xffffffffULL);
}

static int get_hex(const uint8_t *src, int digits, uint64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < digits; i += 8) {
        int64_t part = hex8_parse(src + i);
        if (part < 0)
            return -1;
        v = v << 32 | (uint64_t)part;
    }
    *out = v;
    return 0;
}

int payload_find(const uint8_t *msg, size_t len, uint64_t *send_ns, uint32_t *seq,
                 uint32_t *source)
{
    const uint8_t *s = msg;
    uint64_t v_seq, v_source;

    if (len < PAYLOAD_STAMP_LEN)
        return -1;
    if (memcmp(s, "@LG", 3) != 0) {
        s = memmem(msg, len - PAYLOAD_STAMP_LEN + 3, "@LG", 3);
        if (!s)
            return -1;
    }
    if (get_hex(s + 3, 16, send_ns) || get_hex(s + 19, 8, &v_seq) ||
        get_hex(s + 27, 8, &v_source))
        return -1;
    *seq = (uint32_t)v_seq;
    *source = (uint32_t)v_source;
    return 0;
}
