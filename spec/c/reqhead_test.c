/* reqhead_test — core/reqhead.c alone: every lookup in a packed request head must answer
 * what a scan of the raw head's lines answers (the oracle below: the first line whose
 * text before its first ':' equals the name, ASCII case-insensitive; the value with
 * blanks and CR trimmed; the target between the head's first two spaces). Heads: the
 * load generator's, a browser's (known lines, a known name with another value, a
 * literal, a repeated header), odd shapes (no target, a header without a colon, names
 * with blanks, an empty value, a long value), and the packed size of the first two. */
#include "reqhead.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "../fuzz/raw_header.h"

static const char *raw_target(const char *head, size_t len, size_t *tl)
{
    const char *sp = memchr(head, ' ', len);
    if (!sp) return NULL;
    const char *sp2 = memchr(sp + 1, ' ', (size_t)(head + len - sp - 1));
    if (!sp2) return NULL;
    *tl = (size_t)(sp2 - sp - 1);
    return sp + 1;
}

static const char *const asked[] = {
    "Host", "host", "HOST", "Upgrade", "Connection", "Sec-WebSocket-Key", "sec-websocket-version",
    "Sec-WebSocket-Extensions", "Origin", "User-Agent", "Accept-Encoding", "Cache-Control",
    "Pragma", "Cookie", "X-Custom", "x-custom", "X-Empty", "Spaced ", "Spaced", "Long",
    "Accept-Language", "Authorization", "Missing", "", "GET /ws HTTP/1.1\r\nHost",
};

static void check_head(const char *what, const char *head)
{
    size_t len = strlen(head);
    char *packed = reqhead_pack(head, len);
    CHECK(packed != NULL, "%s: packed", what);
    if (!packed) return;
    size_t tl = 0, rl = 0;
    const char *t = reqhead_target(packed, &tl), *r = raw_target(head, len, &rl);
    CHECK((t == NULL) == (r == NULL) && (!t || (tl == rl && memcmp(t, r, tl) == 0)),
          "%s: target %.*s", what, r ? (int)rl : 6, r ? r : "(none)");
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        size_t vl = 0, wl = 0;
        const char *v = reqhead_header(packed, asked[i], strlen(asked[i]), &vl);
        const char *w = raw_header(head, len, asked[i], strlen(asked[i]), &wl);
        CHECK((v == NULL) == (w == NULL) && (!v || (vl == wl && memcmp(v, w, vl) == 0)),
              "%s: header '%s' = '%.*s'", what, asked[i], w ? (int)wl : 5, w ? w : "(nil)");
    }
    free(packed);
}

/* malloc's usable size of the packed block: at least its length, at most 24 bytes more */
static size_t packed_size(const char *head)
{
    char *p = reqhead_pack(head, strlen(head));
    size_t n = p ? malloc_usable_size(p) : 0;
    free(p);
    return n;
}

#define LOADGEN "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:34567\r\nUpgrade: websocket\r\n" \
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
    "Sec-WebSocket-Version: 13\r\n\r\n"

#define BROWSER "GET /ws?room=lobby&token=a%20b HTTP/1.1\r\nHost: chat.example:8080\r\n" \
    "Connection: Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n" \
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" \
    "Upgrade: websocket\r\nOrigin: http://chat.example:8080\r\nSec-WebSocket-Version: 13\r\n" \
    "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n" \
    "Cookie: a=1\r\nCookie: b=2\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n" \
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"

int main(void)
{
    check_head("loadgen", LOADGEN);
    check_head("browser", BROWSER);
    check_head("other values of known lines",
               "GET / HTTP/1.1\r\nupgrade: WebSocket\r\nCONNECTION:   keep-alive, Upgrade  \r\n"
               "Sec-WebSocket-Version:13\r\nPragma: no-cache, x\r\n\r\n");
    check_head("odd lines",
               "GET /a HTTP/1.1\r\nno colon here\r\nX-Empty:\r\nSpaced : v\r\nX-Custom: \t one \t\r\n"
               "x-custom: two\r\n:nameless\r\n\r\n");
    check_head("no target", "GET\r\nHost: h\r\n\r\n");
    check_head("target past the request line", "GET\r\nHost: a b\r\n\r\n");
    check_head("nothing", "");
    char big[2048] = "GET /long HTTP/1.1\r\nLong: ";
    size_t at = strlen(big);
    memset(big + at, 'v', 1500);   /* a value longer than one length byte holds */
    strcpy(big + at + 1500, "\r\nHost: after\r\n\r\n");
    check_head("long value", big);
    size_t raw = strlen(LOADGEN), n = packed_size(LOADGEN);
    CHECK(n <= 64, "the load generator's %zu-byte head packs into %zu bytes", raw, n);
    n = packed_size(BROWSER);
    CHECK(n < strlen(BROWSER) / 2 + 24, "a browser's %zu-byte head packs into %zu bytes", strlen(BROWSER), n);
    return check_summary();
}
