#include "ws_stream.h"

#include "frame.h"

size_t ws_stream_track(struct ws_stream *s, const uint8_t *p, size_t n)
{
    const uint8_t *start = p;
    while (n > 0) {
        if (!s->payload_left && s->hdr_len == 0 && (*p & 0x0f) == WS_CLOSE) break;
        if (s->payload_left) {
            uint64_t take = n < s->payload_left ? n : s->payload_left;
            s->payload_left -= take;
            p += take;
            n -= (size_t)take;
            continue;
        }
        s->hdr[s->hdr_len++] = *p++;
        n--;
        if (s->hdr_len < 2) continue;
        uint8_t len7 = s->hdr[1] & 0x7f;
        size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((s->hdr[1] & 0x80) ? 4 : 0);
        if (s->hdr_len < need) continue;
        uint64_t len = len7;
        if (len7 == 126) len = (uint64_t)s->hdr[2] << 8 | s->hdr[3];
        if (len7 == 127) {
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | s->hdr[2 + i];
        }
        uint8_t opcode = s->hdr[0] & 0x0f, fin = s->hdr[0] & 0x80;
        if (opcode <= WS_BINARY) s->in_message = !fin;
        s->payload_left = len;
        s->hdr_len = 0;
    }
    return (size_t)(p - start);
}

int ws_stream_at_boundary(const struct ws_stream *s)
{
    return s->hdr_len == 0 && s->payload_left == 0 && !s->in_message;
}

size_t ws_stream_close_length(const uint8_t *p, size_t n)
{
    if (n < 2) return 0;
    uint8_t len7 = p[1] & 0x7f;
    if (len7 > 125) return n;                /* invalid: let wslay see it and fail */
    size_t need = 2 + ((p[1] & 0x80) ? 4 : 0) + len7;
    return n >= need ? need : 0;
}
