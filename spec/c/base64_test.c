/* base64_test — lh_base64_decode against the RFC 4648 vectors and literal bytes, every
 * character at every position of a group, and the padding it refuses. The output buffer
 * is exactly len / 4 * 3 bytes on the heap, so a write past it shows under ASan. */
#include "lh_api.h"
#include "lh_errors.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Decodes in into a buffer of exactly the documented size: rc, and the bytes in *got. */
static int decode(const char *in, size_t len, char **got, size_t *got_len)
{
    *got = malloc(len / 4 * 3);       /* NULL for 0 bytes is fine: nothing is written */
    *got_len = (size_t)-1;
    return lh_base64_decode(in, len, *got, got_len);
}

static void decodes(const char *in, const char *want, size_t want_len)
{
    char *got;
    size_t n;
    int rc = decode(in, strlen(in), &got, &n);
    CHECK(rc == 0 && n == want_len && memcmp(got, want, want_len) == 0,
          "\"%s\" decodes to %zu bytes (rc %d, %zu bytes)", in, want_len, rc, n);
    free(got);
}

#define DECODES(in, lit) decodes(in, lit, sizeof lit - 1)

static void refuses(const char *in, size_t len, const char *why)
{
    char *got;
    size_t n;
    int rc = decode(in, len, &got, &n);
    CHECK(rc == LH_ERR_BAD_ARG && n == (size_t)-1, "refuses \"%.*s\": %s", (int)len, in, why);
    free(got);
}

#define REFUSES(lit, why) refuses(lit, sizeof lit - 1, why)

static int in_alphabet(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

int main(void)
{
    /* RFC 4648 section 10 */
    DECODES("", "");
    DECODES("Zg==", "f");
    DECODES("Zm8=", "fo");
    DECODES("Zm9v", "foo");
    DECODES("Zm9vYg==", "foob");
    DECODES("Zm9vYmE=", "fooba");
    DECODES("Zm9vYmFy", "foobar");
    /* the two last characters of the alphabet, NUL and high bytes */
    DECODES("+/+/", "\xfb\xff\xbf");
    DECODES("AAEC", "\x00\x01\x02");
    DECODES("AP8=", "\x00\xff");
    DECODES("//8=", "\xff\xff");
    DECODES("gA==", "\x80");
    /* leftover bits of a padded group are ignored (OpenSSL's decoder did the same) */
    DECODES("Zh==", "f");
    DECODES("Zm9=", "fo");

    REFUSES("Zg", "length not a multiple of 4");
    REFUSES("Zg=", "length not a multiple of 4");
    REFUSES("Zm9vY", "length not a multiple of 4");
    REFUSES("====", "padding only");
    REFUSES("Z===", "three padding characters");
    REFUSES("Zm9v====", "a group of padding");
    REFUSES("=Zg=", "padding first");
    REFUSES("Zg=a", "padding before data");
    REFUSES("Zg==Zg==", "padding in the middle");
    REFUSES("Zm9v\nYmFy", "a newline");
    REFUSES("Zm 9", "a space");
    REFUSES("Zm-_", "the URL-safe alphabet");
    refuses("Zm\0v", 4, "a NUL byte");

    /* each byte value at each position of a group: decoded iff in the alphabet */
    int wrong = 0;
    for (int pos = 0; pos < 4; pos++) {
        for (int ch = 0; ch < 256; ch++) {
            char in[5] = "QUJD";                       /* "ABC" */
            in[pos] = (char)ch;
            char out[3];
            size_t n = 0;
            int rc = lh_base64_decode(in, 4, out, &n);
            int want = in_alphabet(ch) || (ch == '=' && pos == 3);
            if ((rc == 0) != want || (rc == 0 && n != (ch == '=' ? 2u : 3u))) wrong++;
        }
    }
    CHECK(wrong == 0, "every byte at every position of a group (%d wrong)", wrong);
    return check_summary();
}
