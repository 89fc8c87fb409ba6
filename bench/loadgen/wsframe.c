/* wsframe.c — see wsframe.h. */
#include "wsframe.h"

#include <stdlib.h>
#include <string.h>

void wsframe_parser_init(struct wsframe_parser *p)
{
    memset(p, 0, sizeof(*p));
}

void wsframe_parser_free(struct wsframe_parser *p)
{
    uint32_t whole_max = p->whole_max;

    free(p->whole);
    wsframe_parser_init(p);
    p->whole_max = whole_max;
}

/* Appends n payload bytes to the message gathered whole; past whole_max (or
 * without memory) gathering stops and the message is reported by its head. */
static void gather_whole(struct wsframe_parser *p, const uint8_t *data, size_t n)
{
    if (p->whole_len != p->message_len)
        return;                               /* already given up on this message */
    if (p->message_len + n > p->whole_max)
        return;
    if (p->whole_len + n > p->whole_cap) {
        uint32_t cap = p->whole_cap ? p->whole_cap : 4096;
        uint8_t *grown;
        while (cap < p->whole_len + n)
            cap *= 2;
        if (cap > p->whole_max)
            cap = p->whole_max;
        if (!(grown = realloc(p->whole, cap)))
            return;
        p->whole = grown;
        p->whole_cap = cap;
    }
    memcpy(p->whole + p->whole_len, data, n);
    p->whole_len += (uint32_t)n;
}

static size_t header_size(const uint8_t *first_two)
{
    size_t n = 2;
    uint8_t len7 = first_two[1] & 0x7f;

    if (len7 == 126)
        n += 2;
    else if (len7 == 127)
        n += 8;
    if (first_two[1] & 0x80)
        n += 4;
    return n;
}

static int end_frame(struct wsframe_parser *p, const struct wsframe_handler *h, void *ud)
{
    int opcode;

    p->in_payload = 0;
    if (p->opcode >= 0x8)
        return h->control(ud, p->opcode, p->control, p->control_len);
    if (!p->fin)
        return 0;
    opcode = p->message_opcode;
    p->message_opcode = 0;
    if (p->whole_max && p->whole_len == p->message_len)
        return h->message(ud, opcode, p->whole, p->whole_len, p->message_len);
    return h->message(ud, opcode, p->head, p->head_len, p->message_len);
}

/* Validates one complete header and sets up the payload state. */
static int begin_frame(struct wsframe_parser *p, const uint8_t *hdr,
                       const struct wsframe_handler *h, void *ud)
{
    uint8_t fin = hdr[0] & 0x80, opcode = hdr[0] & 0x0f, len7 = hdr[1] & 0x7f;
    uint64_t len = len7;

    if (hdr[0] & 0x70)
        return WSFRAME_ERR_RSV;
    if (hdr[1] & 0x80)
        return WSFRAME_ERR_MASKED;
    if (len7 == 126) {
        len = (uint64_t)hdr[2] << 8 | hdr[3];
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | hdr[2 + i];
    }
    if (opcode >= 0x8) {
        if (!fin || len > WSFRAME_CONTROL_MAX)
            return WSFRAME_ERR_CONTROL;
        if (opcode > WSFRAME_OP_PONG)
            return WSFRAME_ERR_OPCODE;
        p->control_len = 0;
    } else if (opcode == WSFRAME_OP_CONT) {
        if (!p->message_opcode)
            return WSFRAME_ERR_CONTINUATION;
    } else if (opcode == WSFRAME_OP_TEXT || opcode == WSFRAME_OP_BINARY) {
        if (p->message_opcode)
            return WSFRAME_ERR_CONTINUATION;
        p->message_opcode = opcode;
        p->message_len = 0;
        p->head_len = 0;
        p->whole_len = 0;
    } else {
        return WSFRAME_ERR_OPCODE;
    }
    p->opcode = opcode;
    p->fin = fin;
    p->remaining = len;
    p->in_payload = 1;
    return len == 0 ? end_frame(p, h, ud) : 0;
}

int wsframe_parse(struct wsframe_parser *p, const uint8_t *buf, size_t len,
                  const struct wsframe_handler *h, void *ud)
{
    size_t pos = 0;
    int rc;

    while (pos < len) {
        size_t avail = len - pos;

        if (!p->in_payload) {
            const uint8_t *hdr;
            size_t need;

            if (p->header_len == 0 && avail >= 2 && avail >= (need = header_size(buf + pos))) {
                hdr = buf + pos;
                pos += need;
            } else {
                /* A header split across reads: gather it byte-exact. */
                size_t take;
                if (p->header_len < 2) {
                    take = (size_t)(2 - p->header_len) < avail ? (size_t)(2 - p->header_len) : avail;
                    memcpy(p->header + p->header_len, buf + pos, take);
                    p->header_len += take;
                    pos += take;
                    avail -= take;
                    if (p->header_len < 2)
                        continue;
                }
                need = header_size(p->header);
                take = need - p->header_len < avail ? need - p->header_len : avail;
                memcpy(p->header + p->header_len, buf + pos, take);
                p->header_len += take;
                pos += take;
                if (p->header_len < need)
                    continue;
                hdr = p->header;
                p->header_len = 0;
            }
            if ((rc = begin_frame(p, hdr, h, ud)) != 0)
                return rc;
            continue;
        }

        size_t n = p->remaining < avail ? (size_t)p->remaining : avail;
        if (p->opcode >= 0x8) {
            memcpy(p->control + p->control_len, buf + pos, n);
            p->control_len += n;
        } else if (p->fin && p->message_len == 0 && n == p->remaining) {
            /* The whole message is in the caller's buffer: hand it over in place. */
            int opcode = p->message_opcode;
            p->message_opcode = 0;
            p->in_payload = 0;
            p->remaining = 0;
            pos += n;
            if ((rc = h->message(ud, opcode, buf + pos - n, n, n)) != 0)
                return rc;
            continue;
        } else {
            if (p->head_len < WSFRAME_HEAD_MAX) {
                size_t k = WSFRAME_HEAD_MAX - p->head_len;
                if (k > n)
                    k = n;
                memcpy(p->head + p->head_len, buf + pos, k);
                p->head_len += k;
            }
            if (p->whole_max)
                gather_whole(p, buf + pos, n);
            p->message_len += n;
        }
        pos += n;
        p->remaining -= n;
        if (p->remaining == 0 && (rc = end_frame(p, h, ud)) != 0)
            return rc;
    }
    return 0;
}

void wsframe_mask(uint8_t *data, size_t len, uint32_t mask_key)
{
    uint8_t key[4];
    size_t i = 0;

    memcpy(key, &mask_key, 4);
    if (len >= 8) {
        uint64_t k8, w;
        memcpy(&k8, key, 4);
        memcpy((uint8_t *)&k8 + 4, key, 4);
        for (; i + 8 <= len; i += 8) {
            memcpy(&w, data + i, 8);
            w ^= k8;
            memcpy(data + i, &w, 8);
        }
    }
    for (; i < len; i++)
        data[i] ^= key[i & 3];
}

size_t wsframe_header_masked(uint8_t *out, int opcode, uint64_t len, uint32_t mask_key)
{
    size_t n = 2;

    out[0] = 0x80 | (uint8_t)opcode;
    if (len < 126) {
        out[1] = 0x80 | (uint8_t)len;
    } else if (len <= 0xffff) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    memcpy(out + n, &mask_key, 4);
    return n + 4;
}

size_t wsframe_encode_masked(uint8_t *out, int opcode, const uint8_t *payload,
                             size_t len, uint32_t mask_key)
{
    size_t n = wsframe_header_masked(out, opcode, len, mask_key);

    memcpy(out + n, payload, len);
    wsframe_mask(out + n, len, mask_key);
    return n + len;
}

const char *wsframe_strerror(int err)
{
    switch (err) {
    case WSFRAME_ERR_RSV: return "RSV bits set without an extension";
    case WSFRAME_ERR_MASKED: return "masked frame from the server";
    case WSFRAME_ERR_CONTROL: return "fragmented or oversized control frame";
    case WSFRAME_ERR_OPCODE: return "reserved opcode";
    case WSFRAME_ERR_CONTINUATION: return "bad continuation sequence";
    default: return "unknown frame error";
    }
}
