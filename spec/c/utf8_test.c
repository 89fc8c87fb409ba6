/* utf8_test — core/utf8.c against literal byte sequences, every split point, and
 * an exhaustive sweep of code points and their overlong / out-of-range forms. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

enum kind { VALID, BAD, INCOMPLETE };

struct sample {
    const char *name;
    const char *bytes;
    size_t len;
    enum kind kind;
    size_t bad_at; /* BAD only: index of the byte that makes the input invalid */
};

#define OK_(name, lit)         { name, lit, sizeof lit - 1, VALID, 0 }
#define BAD_(name, lit, at)    { name, lit, sizeof lit - 1, BAD, at }
#define PART_(name, lit)       { name, lit, sizeof lit - 1, INCOMPLETE, 0 }

static const struct sample samples[] = {
    OK_("empty", ""),
    OK_("ascii", "hello, world"),
    OK_("ascii 40 bytes", "0123456789abcdefghijklmnopqrstuvwxyzABCD"),
    OK_("NUL is valid", "a\x00" "b"),
    OK_("U+007F", "\x7f"),
    OK_("U+0080 smallest 2-byte", "\xc2\x80"),
    OK_("U+07FF largest 2-byte", "\xdf\xbf"),
    OK_("U+0800 smallest 3-byte", "\xe0\xa0\x80"),
    OK_("U+D7FF below surrogates", "\xed\x9f\xbf"),
    OK_("U+E000 above surrogates", "\xee\x80\x80"),
    OK_("U+FFFD replacement char", "\xef\xbf\xbd"),
    OK_("U+FFFF largest 3-byte", "\xef\xbf\xbf"),
    OK_("U+10000 smallest 4-byte", "\xf0\x90\x80\x80"),
    OK_("U+10FFFF largest code point", "\xf4\x8f\xbf\xbf"),
    OK_("greek kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
    OK_("mixed 1-4 bytes", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e!"),
    OK_("2-byte at word edge 7", "0123456\xc3\xa9" "89abcdef"),
    OK_("4-byte across word edge", "012345\xf0\x9f\x98\x80" "abcdefghij"),
    OK_("non-ascii after 16 ascii", "0123456789abcdef\xe2\x82\xac"),

    BAD_("lone continuation 80", "\x80", 0),
    BAD_("lone continuation BF", "\xbf", 0),
    BAD_("stray continuation mid-ascii", "a\x80" "b", 1),
    BAD_("extra continuation", "\xc3\xa9\xa9", 2),
    BAD_("overlong C0 80", "\xc0\x80", 0),
    BAD_("overlong C1 BF", "\xc1\xbf", 0),
    BAD_("overlong E0 80 80", "\xe0\x80\x80", 1),
    BAD_("overlong E0 9F BF", "\xe0\x9f\xbf", 1),
    BAD_("overlong F0 80 80 80", "\xf0\x80\x80\x80", 1),
    BAD_("overlong F0 8F BF BF", "\xf0\x8f\xbf\xbf", 1),
    BAD_("surrogate ED A0 80 (U+D800)", "\xed\xa0\x80", 1),
    BAD_("surrogate ED BF BF (U+DFFF)", "\xed\xbf\xbf", 1),
    BAD_("surrogate pair (CESU-8)", "\xed\xa0\x80\xed\xb0\x80", 1),
    BAD_("F4 90 80 80 (U+110000)", "\xf4\x90\x80\x80", 1),
    BAD_("F5 80 80 80", "\xf5\x80\x80\x80", 0),
    BAD_("F8 5-byte form", "\xf8\x88\x80\x80\x80", 0),
    BAD_("FE", "\xfe", 0),
    BAD_("FF", "\xff", 0),
    BAD_("2-byte cut by ascii", "\xc3" "a", 1),
    BAD_("3-byte cut by ascii", "\xe2\x82" "a", 2),
    BAD_("3-byte with bad 2nd", "\xe2\x28\xa1", 1),
    BAD_("two lead bytes", "\xc3\xc3\xa9", 1),
    BAD_("4-byte cut by lead", "\xf0\x9d\x84\xf0", 3),
    BAD_("FF after 16 ascii", "0123456789abcdef\xff", 16),
    BAD_("valid then surrogate", "ok \xe2\x82\xac \xed\xa0\x80", 8),

    PART_("truncated 2-byte", "\xc3"),
    PART_("truncated 3-byte (1 of 3)", "\xe2"),
    PART_("truncated 3-byte (2 of 3)", "\xe2\x82"),
    PART_("truncated 4-byte (3 of 4)", "\xf0\x9d\x84"),
    PART_("truncated after text", "abcdefghijk\xf4\x8f\xbf"),
    PART_("truncated E0 A0", "\xe0\xa0"),
    PART_("truncated ED 9F", "\xed\x9f"),
};

/* Each call gets an exact-size heap copy, so any read past n is an ASan error. */
static uint32_t feed_copy(uint32_t state, const char *bytes, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    uint32_t result;

    memcpy(copy, bytes, n);
    result = utf8_feed(state, copy, n);
    free(copy);
    return result;
}

static int valid_copy(const char *bytes, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    int result;

    memcpy(copy, bytes, n);
    result = utf8_valid(copy, n);
    free(copy);
    return result;
}

static enum kind kind_of(uint32_t state)
{
    return state == UTF8_OK ? VALID : state == UTF8_BAD ? BAD : INCOMPLETE;
}

static void check_sample(const struct sample *s)
{
    size_t k, bad_split = (size_t)-1, bad_prefix = (size_t)-1;
    uint32_t state;

    CHECK(valid_copy(s->bytes, s->len) == (s->kind == VALID), "%s: utf8_valid", s->name);
    CHECK(kind_of(feed_copy(UTF8_OK, s->bytes, s->len)) == s->kind, "%s: one feed", s->name);

    /* Two feeds, split at every position, must agree with one feed. */
    for (k = 0; k <= s->len; k++) {
        state = feed_copy(UTF8_OK, s->bytes, k);
        state = feed_copy(state, s->bytes + k, s->len - k);
        if (kind_of(state) != s->kind && bad_split == (size_t)-1)
            bad_split = k;
    }
    CHECK(bad_split == (size_t)-1, "%s: split at every byte (first mismatch at %zu)", s->name,
          bad_split);

    /* Byte by byte: never BAD before bad_at, BAD from bad_at on. */
    state = UTF8_OK;
    for (k = 0; k < s->len; k++) {
        state = feed_copy(state, s->bytes + k, 1);
        int is_bad = state == UTF8_BAD;
        int want_bad = s->kind == BAD && k >= s->bad_at;
        if (is_bad != want_bad && bad_prefix == (size_t)-1)
            bad_prefix = k;
    }
    CHECK(bad_prefix == (size_t)-1 && kind_of(state) == s->kind,
          "%s: byte by byte, BAD exactly from its bad byte (first mismatch at %zu)", s->name,
          bad_prefix);
}

static void check_sticky_and_edges(void)
{
    static const uint8_t ascii[] = "abc";
    uint32_t state;

    CHECK(utf8_feed(UTF8_OK, NULL, 0) == UTF8_OK, "empty feed from OK stays OK");
    CHECK(utf8_feed(UTF8_BAD, NULL, 0) == UTF8_BAD, "empty feed from BAD stays BAD");
    CHECK(utf8_feed(UTF8_BAD, ascii, 3) == UTF8_BAD, "BAD is sticky across valid input");
    CHECK(utf8_feed(0xdeadbeef, ascii, 3) == UTF8_BAD, "unknown state is BAD");
    CHECK(utf8_valid(NULL, 0) == 1, "utf8_valid of nothing is 1");

    state = feed_copy(UTF8_OK, "\xe2", 1);
    CHECK(state != UTF8_OK && state != UTF8_BAD, "E2 leaves a mid-code-point state");
    state = feed_copy(state, "\x82", 1);
    CHECK(state != UTF8_OK && state != UTF8_BAD, "E2 82 still mid-code-point");
    CHECK(feed_copy(state, "\xac", 1) == UTF8_OK, "E2 82 AC completes U+20AC");
    CHECK(feed_copy(state, "", 0) == state, "empty feed keeps a mid-code-point state");
}

/* Every single bad byte and every 2-byte sequence, placed at each offset of a
 * long ASCII run, so the 8-byte fast path is entered and left at every phase. */
static void check_ascii_fast_path(void)
{
    enum { RUN = 67 };
    char buf[RUN];
    size_t at, first_miss = (size_t)-1;

    for (at = 0; at < RUN; at++) {
        memset(buf, 'a', RUN);
        buf[at] = (char)0xff;
        if (feed_copy(UTF8_OK, buf, RUN) != UTF8_BAD && first_miss == (size_t)-1)
            first_miss = at;
    }
    CHECK(first_miss == (size_t)-1, "FF at every offset of a %d-byte ASCII run is BAD (%zu)",
          RUN, first_miss);

    first_miss = (size_t)-1;
    for (at = 0; at + 1 < RUN; at++) {
        memset(buf, 'a', RUN);
        buf[at] = (char)0xc3;
        buf[at + 1] = (char)0xa9;
        if (!valid_copy(buf, RUN) && first_miss == (size_t)-1)
            first_miss = at;
    }
    CHECK(first_miss == (size_t)-1, "C3 A9 at every offset of a %d-byte ASCII run is valid (%zu)",
          RUN, first_miss);

    first_miss = (size_t)-1;
    for (at = 0; at < RUN; at++) {
        memset(buf, 'a', RUN);
        buf[at] = (char)0xc3;
        enum kind want = at + 1 == RUN ? INCOMPLETE : BAD;
        if (kind_of(feed_copy(UTF8_OK, buf, RUN)) != want && first_miss == (size_t)-1)
            first_miss = at;
    }
    CHECK(first_miss == (size_t)-1,
          "lone C3 at every offset is BAD, or INCOMPLETE at the end (%zu)", first_miss);
}

/* Encodes cp in exactly len bytes (1..4), overlong or out of range if asked. */
static size_t encode(uint32_t cp, size_t len, uint8_t *out)
{
    static const uint8_t lead[] = { 0, 0x00, 0xc0, 0xe0, 0xf0 };
    size_t i;

    for (i = len - 1; i > 0; i--) {
        out[i] = (uint8_t)(0x80 | (cp & 0x3f));
        cp >>= 6;
    }
    out[0] = (uint8_t)(lead[len] | cp);
    return len;
}

static size_t shortest_length(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static void check_every_code_point(void)
{
    uint8_t buf[4];
    uint32_t cp, wrong_valid = 0, wrong_overlong = 0, wrong_range = 0;
    size_t len, n;
    int misses_valid = 0, misses_overlong = 0, misses_range = 0;

    for (cp = 0; cp <= 0x10ffff; cp++) {
        int surrogate = cp >= 0xd800 && cp <= 0xdfff;
        n = encode(cp, shortest_length(cp), buf);
        if (utf8_valid(buf, n) != !surrogate && !misses_valid++)
            wrong_valid = cp;
        for (len = shortest_length(cp) + 1; len <= 4; len++) {
            n = encode(cp, len, buf);
            if (utf8_valid(buf, n) && !misses_overlong++)
                wrong_overlong = cp;
        }
    }
    for (cp = 0x110000; cp <= 0x1fffff; cp++) {
        n = encode(cp, 4, buf);
        if (utf8_valid(buf, n) && !misses_range++)
            wrong_range = cp;
    }
    CHECK(misses_valid == 0, "every code point's shortest form valid, surrogates not "
          "(%d wrong, first U+%04X)", misses_valid, wrong_valid);
    CHECK(misses_overlong == 0, "every overlong 2/3/4-byte form invalid (%d wrong, first U+%04X)",
          misses_overlong, wrong_overlong);
    CHECK(misses_range == 0, "every 4-byte form of U+110000..U+1FFFFF invalid "
          "(%d wrong, first U+%04X)", misses_range, wrong_range);
}

/* All 65536 two-byte inputs against the definition: ASCII+ASCII, or C2..DF 80..BF. */
static void check_every_two_bytes(void)
{
    unsigned a, b;
    int misses = 0;
    unsigned first = 0;

    for (a = 0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            uint8_t buf[2] = { (uint8_t)a, (uint8_t)b };
            int want = (a < 0x80 && b < 0x80) || (a >= 0xc2 && a <= 0xdf && b >= 0x80 && b <= 0xbf);
            if (utf8_valid(buf, 2) != want && !misses++)
                first = a << 8 | b;
        }
    }
    CHECK(misses == 0, "all 65536 two-byte inputs (%d wrong, first %04X)", misses, first);
}

int main(void)
{
    size_t i;

    for (i = 0; i < sizeof samples / sizeof samples[0]; i++)
        check_sample(&samples[i]);
    check_sticky_and_edges();
    check_ascii_fast_path();
    check_every_code_point();
    check_every_two_bytes();
    return check_summary();
}
