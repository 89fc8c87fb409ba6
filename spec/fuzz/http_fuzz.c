/* http_fuzz — the request reader and what reads a parsed request before any socket:
 * http_req_feed over reads cut where the input says, then handshake_check (origin
 * policy, subprotocols and compression chosen by the input), the header lookups, and
 * static_resolve of the target under a real temporary tree.
 *
 * Input: [settings] [read-split seed] [request bytes...]
 *   settings bits 0-1  origins: 0 "same", 1 "*", 2 a list, 3 "same"
 *                bit 2  subprotocols "chat", "superchat"
 *                bit 3  compression (permessage-deflate offers are parsed)
 *                bit 4  http_max_body 16 (else the default)
 * Checks besides the sanitizers: every span lies in the bytes read; an upgrade's
 * leftover bytes lie in what was read; an error has a known status and a reason; the
 * handshake gives a known status and an accept key; no target resolves to anything
 * but a regular file inside the static root; the packed head a client keeps
 * (reqhead.c) answers every header name of the request, and the target, exactly as a
 * scan of the raw head's lines does. */
#include "lh_api.h"
#include "fuzz.h"
#include "raw_header.h"

#include "handshake.h"
#include "http.h"
#include "reqhead.h"
#include "static.h"

static int http_fuzz_span_ok(const struct http_req *r, struct http_span s)
{
    return (uint64_t)s.off + s.len <= r->len;
}

/* last/last_len: the bytes of the final feed. An upgrade's leftover bytes lie in the head
 * buffer, or in those bytes when the request had a body (body bytes bypass the buffer). */
static void http_fuzz_check_parsed(const struct http_req *r, const char *rest, size_t rest_len,
                              const uint8_t *last, size_t last_len)
{
    if (!http_fuzz_span_ok(r, r->url) || r->head_len > r->len)
        fuzz_fail("URL span %u+%u or head %u beyond %u bytes read", r->url.off, r->url.len,
                  r->head_len, r->len);
    for (int i = 0; i < r->nheaders; i++)
        if (!http_fuzz_span_ok(r, r->headers[i].name) || !http_fuzz_span_ok(r, r->headers[i].value))
            fuzz_fail("header %d span beyond the %u bytes read", i, r->len);
    const char *in = (const char *)last;
    if (rest && (rest < r->buf || rest + rest_len > r->buf + r->len) &&
        (rest < in || rest + rest_len > in + last_len))
        fuzz_fail("bytes after the head (%zu) point outside the buffer and the last read", rest_len);
    if (r->body_len > r->body_max) fuzz_fail("body of %zu bytes over the %zu limit", r->body_len, r->body_max);
}

static void http_fuzz_check_handshake(const struct http_req *r)
{
    struct handshake hs;
    int status = handshake_check(r, &hs);
    if (status != hs.status) fuzz_fail("handshake_check returned %d, filled %d", status, hs.status);
    if (status == 101) {
        if (strlen(hs.accept) != 28) fuzz_fail("accept key '%s'", hs.accept);
        struct frame *f = handshake_response(&hs);
        if (!f) fuzz_fail("no 101 response");
        frame_unref(f);
        return;
    }
    if ((status != 400 && status != 403 && status != 405 && status != 426) || !hs.reason)
        fuzz_fail("handshake refused with %d (%s)", status, hs.reason ? hs.reason : "no reason");
}

static void http_fuzz_check_static(const struct http_req *r)
{
    struct static_file sf;
    int status = static_resolve(fuzz_root, r->buf + r->url.off, r->url.len, &sf);
    if (status != 200) {
        if ((status != 400 && status != 404 && status != 414) || sf.fd != -1)
            fuzz_fail("static_resolve: %d with fd %d", status, sf.fd);
        return;
    }
    struct stat st;
    if (fstat(sf.fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != sf.size)
        fuzz_fail("static_resolve: 200 for something that is not the regular file it describes");
    if (st.st_dev == fuzz_secret.st_dev && st.st_ino == fuzz_secret.st_ino)
        fuzz_fail("static_resolve served the file outside the root: %.*s", (int)r->url.len,
                  r->buf + r->url.off);
    close(sf.fd);
}

/* The lookup reqhead.c stands in for: the first line whose text before its first ':'
 * is the name (ASCII case-insensitive), the value with blanks and CR trimmed. */
static void http_fuzz_check_packed_lookup(const char *packed, const struct http_req *r,
                                          const char *name, size_t nl)
{
    size_t vl = 0, wl = 0;
    const char *v = reqhead_header(packed, name, nl, &vl);
    const char *w = raw_header(r->buf, r->head_len, name, nl, &wl);
    if ((v == NULL) != (w == NULL) || (v && (vl != wl || memcmp(v, w, vl) != 0)))
        fuzz_fail("packed head: header '%.*s' is '%.*s', the raw head says '%.*s'", (int)nl, name,
                  v ? (int)vl : 5, v ? v : "(nil)", w ? (int)wl : 5, w ? w : "(nil)");
}

static void http_fuzz_check_packed(const struct http_req *r)
{
    char *packed = reqhead_pack(r->buf, r->head_len);
    if (!packed) fuzz_fail("reqhead_pack failed");
    for (int i = 0; i < r->nheaders; i++)
        http_fuzz_check_packed_lookup(packed, r, r->buf + r->headers[i].name.off, r->headers[i].name.len);
    static const char *names[] = { "host", "UPGRADE", "Sec-WebSocket-Version", "Pragma", "X-Missing" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        http_fuzz_check_packed_lookup(packed, r, names[i], strlen(names[i]));
    const char *sp = memchr(r->buf, ' ', r->head_len);
    const char *sp2 = sp ? memchr(sp + 1, ' ', (size_t)(r->buf + r->head_len - sp - 1)) : NULL;
    size_t tl = 0;
    const char *t = reqhead_target(packed, &tl);
    if ((t == NULL) != (sp2 == NULL) || (t && (tl != (size_t)(sp2 - sp - 1) || memcmp(t, sp + 1, tl) != 0)))
        fuzz_fail("packed head: target differs from the raw head's");
    free(packed);
}

/* What a handler may ask of any complete request. */
static void http_fuzz_check_lookups(const struct http_req *r)
{
    const char *path;
    size_t len, plen;
    http_req_path(r, &path, &plen);
    if (path != r->buf + r->url.off || plen > r->url.len) fuzz_fail("path outside the URL");
    if (!http_method_name(r)) fuzz_fail("no method name");
    static const char *names[] = { "Host", "Origin", "Upgrade", "Content-Length", "X-Missing" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = http_header(r, names[i], &len);
        if (v && (v < r->buf || v + len > r->buf + r->len)) fuzz_fail("%s value outside the buffer", names[i]);
    }
    http_header_has_token(r, "Connection", "upgrade");
    http_header_has_token(r, "Sec-WebSocket-Protocol", "chat");
}

int fuzz_http(const uint8_t *data, size_t size)
{
    char err[256];
    fuzz_setup_core();
    if (size < 2) return 0;
    uint8_t settings = data[0];
    switch (settings & 3) {
    case 1: lh_config_set_string("origins", "*", err, sizeof err); break;
    case 2:
        lh_config_add_string("origins", "https://example.com", err, sizeof err);
        lh_config_add_string("origins", "http://localhost:8080", err, sizeof err);
        break;
    default: break;
    }
    if (settings & 4) {
        lh_config_add_string("subprotocols", "chat", err, sizeof err);
        lh_config_add_string("subprotocols", "superchat", err, sizeof err);
    }
    config.compression = (settings & 8) != 0;
    struct http_req *r = http_req_new(settings & 16 ? 16 : config.http_max_body);
    if (!r) fuzz_fail("http_req_new failed");

    struct fuzz_reads reads;
    const uint8_t *chunk = NULL, *last = NULL;
    size_t n, last_len = 0;
    const char *rest = NULL;
    size_t rest_len = 0;
    enum http_read_status st = HTTP_READ_MORE;
    fuzz_reads_init(&reads, data + 2, size - 2, data[1]);
    while (st == HTTP_READ_MORE && (n = fuzz_reads_next(&reads, &chunk)) > 0) {
        st = http_req_feed(r, (const char *)chunk, n, &rest, &rest_len);
        last = chunk;
        last_len = n;
    }

    if (st == HTTP_READ_ERROR) {
        int s = r->error_status;
        if ((s != 400 && s != 413 && s != 431) || !r->error_reason)
            fuzz_fail("request refused with %d (%s)", s, r->error_reason ? r->error_reason : "no reason");
    } else if (st == HTTP_READ_DONE) {
        http_fuzz_check_parsed(r, rest, rest_len, last, last_len);
        http_fuzz_check_lookups(r);
        http_fuzz_check_packed(r);
        http_fuzz_check_handshake(r);
        http_fuzz_check_static(r);
    }
    http_req_free(r);
    fuzz_config_reset();
    fuzz_check_log();
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_http(data, size); }
#endif
