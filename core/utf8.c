/* utf8 — table-driven UTF-8 validator.
 *
 * Each byte is mapped to a class, and (state, class) to the next state. The states
 * other than OK and BAD say what the next byte must be; the lead bytes that admit
 * overlongs (E0, F0), surrogates (ED) or code points above U+10FFFF (F4) get their
 * own state, so the narrower range of their first continuation byte is checked
 * there and every later continuation byte is plain 80..BF. */
#include "utf8.h"

#include <string.h>

#include "lh_api.h"

enum {
    S_OK = UTF8_OK,
    S_BAD = UTF8_BAD,
    S_TAIL1,    /* one more continuation byte, 80..BF */
    S_TAIL2,    /* two more, 80..BF */
    S_TAIL3,    /* three more, 80..BF */
    S_E0,       /* after E0: A0..BF, then one more (rules out overlong 3-byte) */
    S_ED,       /* after ED: 80..9F, then one more (rules out D800..DFFF) */
    S_F0,       /* after F0: 90..BF, then two more (rules out overlong 4-byte) */
    S_F4,       /* after F4: 80..8F, then two more (rules out > U+10FFFF) */
    S_COUNT
};

enum {
    C_ASCII,    /* 00..7F */
    C_CONT_LO,  /* 80..8F */
    C_CONT_MID, /* 90..9F */
    C_CONT_HI,  /* A0..BF */
    C_INVALID,  /* C0, C1, F5..FF: never valid anywhere */
    C_LEAD2,    /* C2..DF */
    C_E0,
    C_LEAD3,    /* E1..EC, EE, EF */
    C_ED,
    C_F0,
    C_LEAD4,    /* F1..F3 */
    C_F4,
    C_COUNT
};

static const uint8_t byte_class[256] = {
    [0x00 ... 0x7F] = C_ASCII,
    [0x80 ... 0x8F] = C_CONT_LO,
    [0x90 ... 0x9F] = C_CONT_MID,
    [0xA0 ... 0xBF] = C_CONT_HI,
    [0xC0 ... 0xC1] = C_INVALID,
    [0xC2 ... 0xDF] = C_LEAD2,
    [0xE0] = C_E0,
    [0xE1 ... 0xEC] = C_LEAD3,
    [0xED] = C_ED,
    [0xEE ... 0xEF] = C_LEAD3,
    [0xF0] = C_F0,
    [0xF1 ... 0xF3] = C_LEAD4,
    [0xF4] = C_F4,
    [0xF5 ... 0xFF] = C_INVALID,
};

/* Every cell is written out; B marks the (state, class) pairs that make the
 * input invalid. */
#define B S_BAD
static const uint8_t next_state[S_COUNT][C_COUNT] = {
    /*            ASCII  LO       MID      HI       INV LEAD2    E0    LEAD3    ED    F0    LEAD4    F4 */
    [S_OK]    = { S_OK,  B,       B,       B,       B,  S_TAIL1, S_E0, S_TAIL2, S_ED, S_F0, S_TAIL3, S_F4 },
    [S_BAD]   = { B,     B,       B,       B,       B,  B,       B,    B,       B,    B,    B,       B },
    [S_TAIL1] = { B,     S_OK,    S_OK,    S_OK,    B,  B,       B,    B,       B,    B,    B,       B },
    [S_TAIL2] = { B,     S_TAIL1, S_TAIL1, S_TAIL1, B,  B,       B,    B,       B,    B,    B,       B },
    [S_TAIL3] = { B,     S_TAIL2, S_TAIL2, S_TAIL2, B,  B,       B,    B,       B,    B,    B,       B },
    [S_E0]    = { B,     B,       B,       S_TAIL1, B,  B,       B,    B,       B,    B,    B,       B },
    [S_ED]    = { B,     S_TAIL1, S_TAIL1, B,       B,  B,       B,    B,       B,    B,    B,       B },
    [S_F0]    = { B,     B,       S_TAIL2, S_TAIL2, B,  B,       B,    B,       B,    B,    B,       B },
    [S_F4]    = { B,     S_TAIL2, B,       B,       B,  B,       B,    B,       B,    B,    B,       B },
};
#undef B

#define HIGH_BITS 0x8080808080808080ull

/* Between code points, whole 8-byte words of ASCII are skipped with one test;
 * the table walk only sees the bytes around non-ASCII text. A state from outside
 * the table (a caller bug) is treated as BAD rather than indexing past it. */
uint32_t utf8_feed(uint32_t state, const uint8_t *p, size_t n)
{
    size_t i = 0;

    if (state >= S_COUNT || state == S_BAD)
        return S_BAD;
    while (i < n) {
        if (state == S_OK) {
            while (n - i >= 8) {
                uint64_t word;
                memcpy(&word, p + i, 8);
                if (word & HIGH_BITS)
                    break;
                i += 8;
            }
            if (i == n)
                break;
        }
        state = next_state[state][byte_class[p[i++]]];
        if (state == S_BAD)
            return S_BAD;
    }
    return state;
}

int utf8_valid(const uint8_t *p, size_t n)
{
    return utf8_feed(UTF8_OK, p, n) == UTF8_OK;
}

/* for hub.publish, which checks a text publication before storing it */
int lh_utf8_valid(const char *s, size_t len) { return utf8_valid((const uint8_t *)s, len); }
