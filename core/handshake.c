#include "handshake.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "deflate.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* SHA-1 fetched once: an implicit fetch (EVP_sha1()) looks the algorithm up again on
 * every handshake. */
static EVP_MD *sha1;

void handshake_init(void)
{
    char out[32];
    if (!sha1) sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    /* OpenSSL's first digest loads its provider, error strings and method tables: about
     * 2 MB of code pages and heap, paid here at start-up and not by the first client */
    handshake_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
}

void handshake_accept_key(const char *key, size_t key_len, char *out)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    char joined[128];
    if (key_len > sizeof joined - sizeof ws_guid) key_len = sizeof joined - sizeof ws_guid;
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, ws_guid, sizeof ws_guid - 1);
    EVP_Digest(joined, key_len + sizeof ws_guid - 1, digest, &dl, sha1 ? sha1 : EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, digest, (int)dl);
}

/* A valid key is the base64 encoding of exactly 16 bytes: 22 chars of the alphabet then "==". */
static int key_valid(const char *k, size_t n)
{
    if (n != 24 || k[22] != '=' || k[23] != '=') return 0;
    for (size_t i = 0; i < 22; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return 0;
    }
    /* the last character before the padding carries only 2 significant bits */
    return strchr("AQgw", k[21]) != NULL;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) { (*s)++; (*n)--; }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* "same": the Origin's host[:port] must equal the Host header (a browser on another site
 * cannot open a socket here); a request without Origin is not from a browser and passes. */
static int origin_allowed(const struct http_req *r)
{
    size_t ol;
    const char *origin = http_header(r, "Origin", &ol);
    if (config.origins == ORIGINS_ANY || !origin) return 1;
    trim(&origin, &ol);
    if (config.origins == ORIGINS_LIST) {
        for (int i = 0; i < config.origin_list.count; i++) {
            const char *o = config.origin_list.items[i];
            if (strlen(o) == ol && strncasecmp(o, origin, ol) == 0) return 1;
        }
        return 0;
    }
    const char *sep = memmem(origin, ol, "://", 3);
    if (!sep) return 0;
    const char *oh = sep + 3;
    size_t ohl = ol - (size_t)(oh - origin);
    size_t hl;
    const char *host = http_header(r, "Host", &hl);
    if (!host) return 0;
    trim(&host, &hl);
    return hl == ohl && strncasecmp(host, oh, hl) == 0;
}

/* For the log of an origin refusal: the Origin and Host the request carried, the policy
 * that refused it, and the setting that would let it in. Only the log gets this; the
 * client's answer says "origin not allowed". */
static void explain_origin(const struct http_req *r, struct handshake *hs)
{
    size_t ol = 0, hl = 0;
    const char *origin = http_header(r, "Origin", &ol);
    const char *host = http_header(r, "Host", &hl);
    trim(&origin, &ol);
    trim(&host, &hl);
    int o = ol > 200 ? 200 : (int)ol, h = hl > 200 ? 200 : (int)hl;
    snprintf(hs->detail, sizeof hs->detail,
             "Origin \"%.*s\" is not allowed (Host \"%.*s\", origins = %s); to allow it: "
             "hub.config { origins = { \"%.*s\" } }, or origins = \"*\" for any",
             o, origin, h, host ? host : "",
             config.origins == ORIGINS_LIST ? "a list without it" : "\"same\": the Origin must name the Host",
             o, origin);
}

/* Server preference order: the first configured subprotocol the client offered. */
static const char *pick_protocol(const struct http_req *r)
{
    for (int i = 0; i < config.subprotocols.count; i++)
        if (http_header_has_token(r, "Sec-WebSocket-Protocol", config.subprotocols.items[i]))
            return config.subprotocols.items[i];
    return NULL;
}

/* Headers the handshake reads once. A repeat leaves the request ambiguous (which key does
 * the accept answer, which Host does the origin check compare) and is forbidden: RFC 6455
 * 11.3.1 and 11.3.5, RFC 7230 5.4 for Host. */
static const struct { const char *name, *refusal; } once_only[] = {
    { "Host", "repeated Host header" },
    { "Sec-WebSocket-Key", "repeated Sec-WebSocket-Key header" },
    { "Sec-WebSocket-Version", "repeated Sec-WebSocket-Version header" },
};

static int refuse(struct handshake *hs, int status, const char *reason)
{
    hs->status = status;
    hs->reason = reason;
    return status;
}

int handshake_check(const struct http_req *r, struct handshake *hs)
{
    memset(hs, 0, sizeof *hs);
    if (r->parser.method != HTTP_GET) {
        hs->extra_headers = "Allow: GET\r\n";
        return refuse(hs, 405, "WebSocket upgrade needs GET");
    }
    if (r->parser.http_major != 1 || r->parser.http_minor < 1)
        return refuse(hs, 400, "WebSocket upgrade needs HTTP/1.1");
    for (size_t i = 0; i < sizeof once_only / sizeof once_only[0]; i++)
        if (http_header_count(r, once_only[i].name) > 1) return refuse(hs, 400, once_only[i].refusal);
    if (!http_header(r, "Host", NULL)) return refuse(hs, 400, "missing Host header");
    if (!http_header_has_token(r, "Upgrade", "websocket"))
        return refuse(hs, 400, "missing Upgrade: websocket header");
    if (!http_header_has_token(r, "Connection", "upgrade"))
        return refuse(hs, 400, "missing Connection: Upgrade header");
    size_t vl;
    const char *v = http_header(r, "Sec-WebSocket-Version", &vl);
    if (v) trim(&v, &vl);
    if (!v || vl != 2 || memcmp(v, "13", 2) != 0) {
        hs->extra_headers = "Sec-WebSocket-Version: 13\r\n";
        return refuse(hs, 426, "unsupported Sec-WebSocket-Version (13 is supported)");
    }
    size_t kl;
    const char *key = http_header(r, "Sec-WebSocket-Key", &kl);
    if (key) trim(&key, &kl);
    if (!key || !key_valid(key, kl)) return refuse(hs, 400, "missing or invalid Sec-WebSocket-Key");
    if (!origin_allowed(r)) {
        explain_origin(r, hs);
        return refuse(hs, 403, "origin not allowed");
    }
    handshake_accept_key(key, kl, hs->accept);
    hs->protocol = pick_protocol(r);
    hs->deflate = config.compression && deflate_accept(r);
    hs->status = 101;
    return 101;
}

struct frame *handshake_response(const struct handshake *hs)
{
    char buf[640];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n"
                     "%s%s%s"
                     "%s%s%s"
                     "\r\n",
                     hs->accept, hs->protocol ? "Sec-WebSocket-Protocol: " : "",
                     hs->protocol ? hs->protocol : "", hs->protocol ? "\r\n" : "",
                     hs->deflate ? "Sec-WebSocket-Extensions: " : "",
                     hs->deflate ? deflate_response : "", hs->deflate ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof buf) return NULL;
    struct frame *f = frame_raw((size_t)n);
    if (f) memcpy(f->data, buf, (size_t)n);
    return f;
}
