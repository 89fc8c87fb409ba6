#include "envelope.h"

#include <string.h>

static void put_u16(uint8_t *p, size_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static size_t get_u16(const uint8_t *p) { return (size_t)p[0] << 8 | p[1]; }
static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void envelope_put_u64(uint8_t *out, uint64_t v)
{
    put_u32(out, (uint32_t)(v >> 32));
    put_u32(out + 4, (uint32_t)v);
}

uint64_t envelope_get_u64(const uint8_t *in) { return (uint64_t)get_u32(in) << 32 | get_u32(in + 4); }

size_t envelope_size(const struct envelope *e)
{
    if (e->origin_len == 0 || e->origin_len > ENVELOPE_ORIGIN_MAX ||
        e->target_len > ENVELOPE_TARGET_MAX || e->nexcept > ENVELOPE_EXCEPT_MAX) return 0;
    return ENVELOPE_HEAD_MIN + e->origin_len + e->target_len + 8 * e->nexcept + e->payload_len;
}

size_t envelope_encode(const struct envelope *e, uint8_t *out, size_t cap)
{
    size_t need = envelope_size(e);
    if (need == 0 || need > cap) return 0;
    uint8_t *p = out;
    *p++ = ENVELOPE_VERSION;
    *p++ = e->kind;
    *p++ = e->flags;
    *p++ = (uint8_t)e->origin_len;
    memcpy(p, e->origin, e->origin_len);
    p += e->origin_len;
    put_u16(p, e->target_len);
    p += 2;
    if (e->target_len) memcpy(p, e->target, e->target_len);
    p += e->target_len;
    put_u16(p, e->nexcept);
    p += 2;
    for (size_t i = 0; i < e->nexcept; i++, p += 8) envelope_put_u64(p, e->except[i]);
    if (e->payload_len) memcpy(p, e->payload, e->payload_len);
    return need;
}

/* Every length is checked against the bytes left before it is used, so a truncated or
 * hostile message never reads past buf + len. */
int envelope_decode(const uint8_t *buf, size_t len, struct envelope *e)
{
    if (len < 4) return ENVELOPE_ERR_SHORT;
    if (buf[0] != ENVELOPE_VERSION) return ENVELOPE_ERR_VERSION;
    if (buf[1] == 0 || buf[1] >= ENVELOPE__KINDS) return ENVELOPE_ERR_KIND;
    memset(e, 0, sizeof *e);
    e->kind = buf[1];
    e->flags = buf[2];
    e->origin_len = buf[3];
    if (e->origin_len == 0) return ENVELOPE_ERR_ORIGIN;
    size_t off = 4;
    if (len - off < e->origin_len + 2) return ENVELOPE_ERR_SHORT;
    e->origin = (const char *)buf + off;
    off += e->origin_len;
    e->target_len = get_u16(buf + off);
    off += 2;
    if (len - off < e->target_len + 2) return ENVELOPE_ERR_SHORT;
    e->target = (const char *)buf + off;
    off += e->target_len;
    e->nexcept = get_u16(buf + off);
    off += 2;
    if (len - off < 8 * e->nexcept) return ENVELOPE_ERR_SHORT;
    e->except_wire = buf + off;
    off += 8 * e->nexcept;
    e->payload = (const char *)buf + off;
    e->payload_len = len - off;
    return 0;
}

uint64_t envelope_except_at(const struct envelope *e, size_t i)
{
    return e->except_wire ? envelope_get_u64(e->except_wire + 8 * i) : e->except[i];
}

const char *envelope_strerror(int err)
{
    switch (err) {
    case ENVELOPE_ERR_SHORT: return "truncated envelope";
    case ENVELOPE_ERR_VERSION: return "unknown envelope version";
    case ENVELOPE_ERR_KIND: return "unknown envelope kind";
    case ENVELOPE_ERR_ORIGIN: return "envelope without an origin";
    default: return "no error";
    }
}

size_t heartbeat_encode_head(const struct heartbeat *h, uint8_t *out, size_t cap)
{
    if (cap < HEARTBEAT_HEAD) return 0;
    put_u32(out, h->clients);
    put_u32(out + 4, h->rooms);
    put_u32(out + 8, h->interval_ms);
    return HEARTBEAT_HEAD;
}

size_t heartbeat_encode_room(const char *name, size_t len, uint32_t members, uint8_t *out, size_t cap)
{
    if (len > 65535 || cap < len + 6) return 0;
    put_u16(out, len);
    memcpy(out + 2, name, len);
    put_u32(out + 2 + len, members);
    return len + 6;
}

int heartbeat_decode(const char *payload, size_t len, struct heartbeat *h)
{
    const uint8_t *p = (const uint8_t *)payload;
    if (len < HEARTBEAT_HEAD) return ENVELOPE_ERR_SHORT;
    h->clients = get_u32(p);
    h->rooms = get_u32(p + 4);
    h->interval_ms = get_u32(p + 8);
    h->room_list = p + HEARTBEAT_HEAD;
    h->room_list_len = len - HEARTBEAT_HEAD;
    /* walk once so that heartbeat_next_room never meets a truncated entry */
    size_t pos = 0;
    while (pos < h->room_list_len) {
        if (h->room_list_len - pos < 6) return ENVELOPE_ERR_SHORT;
        size_t n = get_u16(h->room_list + pos);
        if (h->room_list_len - pos < n + 6) return ENVELOPE_ERR_SHORT;
        pos += n + 6;
    }
    return 0;
}

int heartbeat_next_room(const struct heartbeat *h, size_t *pos, const char **name, size_t *len,
                        uint32_t *members)
{
    if (*pos >= h->room_list_len) return 0;
    const uint8_t *p = h->room_list + *pos;
    *len = get_u16(p);
    *name = (const char *)p + 2;
    *members = get_u32(p + 2 + *len);
    *pos += *len + 6;
    return 1;
}

size_t presence_encode_room(const char *name, size_t len, uint32_t members, uint8_t *out, size_t cap)
{
    if (len > 65535 || cap < len + 6) return 0;
    put_u16(out, len);
    memcpy(out + 2, name, len);
    put_u32(out + 2 + len, members);
    return len + 6;
}

size_t presence_encode_member(uint64_t id, const char *user, size_t ulen, uint8_t *out, size_t cap)
{
    if (ulen > 65535 || cap < ulen + 10) return 0;
    envelope_put_u64(out, id);
    put_u16(out + 8, ulen);
    if (ulen) memcpy(out + 10, user, ulen);
    return ulen + 10;
}

int presence_validate(const uint8_t *p, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 6) return ENVELOPE_ERR_SHORT;
        size_t n = get_u16(p + pos);
        if (len - pos < n + 6) return ENVELOPE_ERR_SHORT;
        uint32_t members = get_u32(p + pos + 2 + n);
        pos += n + 6;
        for (uint32_t i = 0; i < members; i++) {
            if (len - pos < 10) return ENVELOPE_ERR_SHORT;
            size_t ul = get_u16(p + pos + 8);
            if (len - pos < ul + 10) return ENVELOPE_ERR_SHORT;
            pos += ul + 10;
        }
    }
    return 0;
}

int presence_next_room(const uint8_t *p, size_t len, size_t *pos, struct presence_room *r)
{
    if (*pos >= len) return 0;
    const uint8_t *q = p + *pos;
    r->len = get_u16(q);
    r->name = (const char *)q + 2;
    r->members = get_u32(q + 2 + r->len);
    r->list = q + 6 + r->len;
    size_t at = *pos + 6 + r->len;
    for (uint32_t i = 0; i < r->members; i++) at += 10 + get_u16(p + at + 8);
    *pos = at;
    return 1;
}

void presence_member(const struct presence_room *r, size_t *pos, uint64_t *id, const char **user,
                     size_t *ulen)
{
    const uint8_t *q = r->list + *pos;
    *id = envelope_get_u64(q);
    *ulen = get_u16(q + 8);
    *user = (const char *)q + 10;
    *pos += 10 + *ulen;
}
