/* http_response_test — core/http.c's response builder: the exact bytes of a response,
 * and heads of any size (a script's route may return kilobytes of headers; a fixed head
 * buffer once turned those into a NULL, which the server answered as 404). */
#include "http.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static int frame_is(const struct frame *f, const char *want, size_t want_len)
{
    return f && f->len == want_len && memcmp(f->data, want, want_len) == 0;
}

static void test_small_response(void)
{
    static const char want[] =
        "HTTP/1.1 200 OK\r\n"
        "X-A: 1\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 5\r\n"
        "Connection: close\r\n"
        "\r\n"
        "hello";
    struct frame *f = http_response(200, "X-A: 1\r\n", "text/plain", "hello", 5);
    CHECK(frame_is(f, want, sizeof want - 1), "a response is the status line, headers and body, byte for byte");
    frame_unref(f);
}

static void test_no_headers_no_body(void)
{
    static const char want[] =
        "HTTP/1.1 204 No Content\r\n"
        "Content-Length: 0\r\n"
        "Connection: close\r\n"
        "\r\n";
    struct frame *f = http_response(204, NULL, NULL, NULL, 0);
    CHECK(frame_is(f, want, sizeof want - 1), "no extra headers, no content type, no body");
    frame_unref(f);
}

static void test_large_head(size_t value_len)
{
    size_t extra_cap = value_len + 16, want_cap = value_len + 256;
    char *extra = malloc(extra_cap), *want = malloc(want_cap);
    if (extra && want) {
        int n = snprintf(extra, extra_cap, "X-Big: %*s\r\n", (int)value_len, "v");
        int want_len = snprintf(want, want_cap,
                                "HTTP/1.1 200 OK\r\n%sContent-Length: 2\r\nConnection: close\r\n\r\nok",
                                extra);
        struct frame *f = http_response(200, extra, NULL, "ok", 2);
        CHECK(n > 0 && frame_is(f, want, (size_t)want_len), "a %zu-byte header is written whole", value_len);
        frame_unref(f);
    } else {
        CHECK(0, "allocating a %zu-byte header for the test", value_len);
    }
    free(extra);
    free(want);
}

static void test_body_left_to_the_caller(void)
{
    struct frame *f = http_response(200, NULL, "image/png", NULL, 3);
    static const char head[] =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: image/png\r\n"
        "Content-Length: 3\r\n"
        "Connection: close\r\n"
        "\r\n";
    CHECK(f && f->len == sizeof head - 1 + 3 && memcmp(f->data, head, sizeof head - 1) == 0,
          "with body NULL the frame ends with body_len bytes for the caller");
    frame_unref(f);
}

int main(void)
{
    test_small_response();
    test_no_headers_no_body();
    test_large_head(1000);
    test_large_head(2000);
    test_large_head(100000);
    test_body_left_to_the_caller();
    return check_summary();
}
