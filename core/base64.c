/* base64.c — strict base64 decoding for the publish API's binary data (lh_api.h). A leaf:
 * no state, no allocation; the caller sizes the output from the input length. */
#include "lh_api.h"
#include "lh_errors.h"

/* The 6-bit value of a character of the standard alphabet, or -1. */
static int sextet(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

/* Padding is taken only as the last one or two characters of a length that is a multiple
 * of 4; an "=" anywhere else is not in the alphabet and refuses the input. The bits a
 * padded group leaves over are ignored, as OpenSSL's decoder does. */
int lh_base64_decode(const char *in, size_t len, char *out, size_t *outlen)
{
    if (len % 4 != 0) return LH_ERR_BAD_ARG;
    size_t pad = 0;
    if (len > 0 && in[len - 1] == '=') pad = in[len - 2] == '=' ? 2 : 1;

    unsigned char *o = (unsigned char *)out;
    size_t n = 0;
    uint32_t bits = 0;
    size_t data = len - pad;
    for (size_t i = 0; i < data; i++) {
        int v = sextet((unsigned char)in[i]);
        if (v < 0) return LH_ERR_BAD_ARG;
        bits = bits << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            o[n++] = (unsigned char)(bits >> 16);
            o[n++] = (unsigned char)(bits >> 8);
            o[n++] = (unsigned char)bits;
            bits = 0;
        }
    }
    if (pad == 2) {
        o[n++] = (unsigned char)(bits >> 4);
    } else if (pad == 1) {
        o[n++] = (unsigned char)(bits >> 10);
        o[n++] = (unsigned char)(bits >> 2);
    }
    *outlen = n;
    return 0;
}
