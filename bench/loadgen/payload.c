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

/* The stamp is read once per delivered message, which made a digit-by-digit parse (a
 * branch per digit on digit-or-letter, mispredicted often) the load generator's hottest
 * function and the limit of the burst scenario. hex16 reads 16 digits (the first most
 * significant) at once: 0, or -1 unless all are lowercase hex digits. */
#if defined(__x86_64__)
#include <immintrin.h>

/* In one SSSE3 register (every x86-64 CPU since 2008 has SSSE3). */
__attribute__((target("ssse3"))) static int hex16(const uint8_t *src, uint64_t *out)
{
    __m128i v = _mm_loadu_si128((const __m128i *)src);
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                  _mm_cmpgt_epi8(_mm_set1_epi8('9' + 1), v));
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
                                   _mm_cmpgt_epi8(_mm_set1_epi8('f' + 1), v));
    if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff)
        return -1;
    /* '0'..'9' -> 0..9, 'a'..'f' -> 1..6 + 9 */
    __m128i nib = _mm_add_epi8(_mm_and_si128(v, _mm_set1_epi8(0x0f)),
                               _mm_and_si128(letter, _mm_set1_epi8(9)));
    /* pairs of digits to bytes (high digit first), then the 8 bytes, most significant
     * first, to a number */
    __m128i bytes = _mm_maddubs_epi16(nib, _mm_set1_epi16(0x0110));
    uint64_t be = (uint64_t)_mm_cvtsi128_si64(_mm_packus_epi16(bytes, bytes));
    *out = __builtin_bswap64(be);
    return 0;
}
#else
/* Eight digits at a time in a 64-bit word (SWAR, little-endian: the first digit is the
 * lowest byte). */
#define BYTES(b) (0x0101010101010101ULL * (b))

/* A mask with bit 7 of each byte of x (every byte below 0x80) that lies in [lo, hi]. */
static uint64_t bytes_within(uint64_t x, uint8_t lo, uint8_t hi)
{
    uint64_t at_least_lo = (x | BYTES(0x80)) - BYTES(lo);
    uint64_t above_hi = x + BYTES(0x7f - hi);
    return at_least_lo & ~above_hi & BYTES(0x80);
}

/* 8 hex digits to their value; -1 unless all eight are lowercase hex digits. */
static int64_t hex8(const uint8_t *src)
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

static int hex16(const uint8_t *src, uint64_t *out)
{
    int64_t hi = hex8(src), lo = hex8(src + 8);
    if (hi < 0 || lo < 0)
        return -1;
    *out = (uint64_t)hi << 32 | (uint64_t)lo;
    return 0;
}
#endif

int payload_find(const uint8_t *msg, size_t len, uint64_t *send_ns, uint32_t *seq,
                 uint32_t *source)
{
    const uint8_t *s = msg;
    uint64_t v_seq;

    if (len < PAYLOAD_STAMP_LEN)
        return -1;
    if (memcmp(s, "@LG", 3) != 0) {
        s = memmem(msg, len - PAYLOAD_STAMP_LEN + 3, "@LG", 3);
        if (!s)
            return -1;
    }
    if (hex16(s + 3, send_ns) || hex16(s + 19, &v_seq))
        return -1;
    *seq = (uint32_t)(v_seq >> 32);
    *source = (uint32_t)v_seq;
    return 0;
}
