#include "deflate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "http.h"

const char deflate_response[] = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

static const uint8_t sync_tail[4] = { 0x00, 0x00, 0xff, 0xff };

/* One offer: "permessage-deflate; p1; p2=v". We take any offer whose parameters we can
 * honour: server_max_window_bits other than 15 would need a stream per window size. */
static int offer_ok(const char *p, const char *end)
{
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *name_end = semi ? semi : end;
    while (p < name_end && (*p == ' ' || *p == '\t')) p++;
    const char *ne = name_end;
    while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t')) ne--;
    if ((size_t)(ne - p) != 18 || strncasecmp(p, "permessage-deflate", 18) != 0) return 0;
    p = semi;
    while (p && p < end) {
        p++;
        const char *next = memchr(p, ';', (size_t)(end - p));
        const char *pe = next ? next : end;
        while (p < pe && (*p == ' ' || *p == '\t')) p++;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        size_t nl = (size_t)((eq ? eq : pe) - p);
        while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t')) nl--;
        if (nl == 22 && strncasecmp(p, "server_max_window_bits", 22) == 0) {
            const char *v = eq ? eq + 1 : pe;
            while (v < pe && (*v == ' ' || *v == '"')) v++;
            if (pe - v < 2 || strncmp(v, "15", 2) != 0) return 0;
        } else if (!((nl == 25 && strncasecmp(p, "server_no_context_takeover", 25) == 0) ||
                     (nl == 26 && strncasecmp(p, "client_no_context_takeover", 26) == 0) ||
                     (nl == 22 && strncasecmp(p, "client_max_window_bits", 22) == 0))) {
            return 0;                       /* unknown parameter: decline this offer */
        }
        p = next;
    }
    return 1;
}

int deflate_accept(const struct http_req *r)
{
    size_t nl = strlen("Sec-WebSocket-Extensions");
    for (int i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (h->name.len != nl || strncasecmp(r->buf + h->name.off, "Sec-WebSocket-Extensions", nl) != 0)
            continue;
        const char *p = r->buf + h->value.off, *end = p + h->value.len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *oe = comma ? comma : end;
            if (offer_ok(p, oe)) return 1;
            p = comma ? comma + 1 : end;
        }
    }
    return 0;
}

static z_stream def, inf;
static int def_ready, inf_ready;
/* Separate buffers: a handler running on an inflated message may broadcast, which
 * compresses while the inflated bytes are still in use. */
struct scratch { uint8_t *p; size_t cap; };
static struct scratch dbuf, ibuf;

static int grow(struct scratch *b, size_t need)
{
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

struct frame *deflate_frame(int opcode, const void *data, size_t len)
{
    if (!def_ready) {
        if (deflateInit2(&def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return NULL;
        def_ready = 1;
    } else {
        deflateReset(&def);                 /* server_no_context_takeover */
    }
    size_t bound = deflateBound(&def, len) + 16;
    if (grow(&dbuf, bound) != 0) return NULL;
    uint8_t *scratch = dbuf.p;
    def.next_in = (Bytef *)data;
    def.avail_in = (uInt)len;
    def.next_out = scratch;
    def.avail_out = (uInt)bound;
    if (deflate(&def, Z_SYNC_FLUSH) != Z_OK || def.avail_in != 0) return NULL;
    size_t out = bound - def.avail_out;
    /* RFC 7692 7.2.1: drop the 00 00 ff ff the sync flush ends with */
    if (out >= 4 && memcmp(scratch + out - 4, sync_tail, 4) == 0) out -= 4;
    struct frame *f = frame_ws(opcode, scratch, out);
    if (f) f->data[0] |= 0x40;              /* RSV1: this message is compressed */
    return f;
}

int deflate_inflate(const uint8_t *in, size_t len, size_t max, const uint8_t **out, size_t *out_len)
{
    if (!inf_ready) {
        if (inflateInit2(&inf, -15) != Z_OK) return -2;
        inf_ready = 1;
    } else {
        inflateReset(&inf);                 /* client_no_context_takeover */
    }
    size_t have = 0;
    for (int part = 0; part < 2; part++) {
        /* the message, then the sync tail the sender removed */
        inf.next_in = (Bytef *)(part ? sync_tail : in);
        inf.avail_in = (uInt)(part ? sizeof sync_tail : len);
        while (inf.avail_in > 0) {
            if (grow(&ibuf, have + 65536) != 0) return -2;
            size_t room = ibuf.cap - have;
            if (room > max + 1 - have) room = max + 1 - have;
            inf.next_out = ibuf.p + have;
            inf.avail_out = (uInt)room;
            int z = inflate(&inf, Z_SYNC_FLUSH);
            have += room - inf.avail_out;
            if (have > max) return -1;
            if (z == Z_STREAM_END) break;
            if (z != Z_OK && z != Z_BUF_ERROR) return -2;
            if (z == Z_BUF_ERROR && inf.avail_out != 0) break;   /* needs more input */
        }
    }
    *out = ibuf.p;
    *out_len = have;
    return 0;
}
