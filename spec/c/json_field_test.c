/* json_field_test — lh_json_field: what it reports, and that it hands everything it
 * cannot vouch for to the decoder (-1) rather than answer wrong. */
#include <string.h>

#include "check.h"
#include "lh_api.h"

/* The result for text, with the value copied into out when it is 1. */
static int field(const char *text, const char *name, char *out, size_t cap)
{
    uint32_t span[2] = { 0, 0 };
    int r = lh_json_field(text, strlen(text), name, strlen(name), span);
    out[0] = '\0';
    if (r == 1 && span[1] < cap) {
        memcpy(out, text + span[0], span[1]);
        out[span[1]] = '\0';
    }
    return r;
}

#define FOUND(text, want)                                                              \
    do {                                                                               \
        char v[64];                                                                    \
        int r = field(text, "type", v, sizeof v);                                      \
        CHECK(r == 1 && strcmp(v, want) == 0, "%s -> \"%s\" (got %d \"%s\")", text, want, r, v); \
    } while (0)
#define RESULT(text, want)                                                             \
    do {                                                                               \
        char v[64];                                                                    \
        int r = field(text, "type", v, sizeof v);                                      \
        CHECK(r == (want), "%s -> %d (got %d)", text, want, r);                        \
    } while (0)

int main(void)
{
    /* found: a plain top-level string, wherever it is and whatever is around it */
    FOUND("{\"type\":\"echo\"}", "echo");
    FOUND(" \t\r\n{ \"type\" : \"echo\" , \"text\" : \"hi\" } \n", "echo");
    FOUND("{\"text\":\"a \\\"type\\\": \\\"no\\\"\",\"type\":\"say\"}", "say");
    FOUND("{\"a\":{\"type\":\"inner\"},\"type\":\"outer\",\"b\":[{\"type\":1}]}", "outer");
    FOUND("{\"n\":-0.5e+10,\"m\":0,\"t\":true,\"f\":false,\"z\":null,\"type\":\"\"}", "");
    FOUND("{\"type\":\"first\",\"type\":\"last\"}", "last");
    FOUND("{\"type\":\"caf\xc3\xa9\"}", "caf\xc3\xa9");
    FOUND("{\"types\":\"x\",\"typ\":\"y\",\"type\":\"z\"}", "z");

    /* absent: the decoder gives no such member either */
    RESULT("{}", 0);
    RESULT("{\"text\":\"hi\"}", 0);
    RESULT("{\"a\":{\"type\":\"inner\"}}", 0);
    RESULT("[{\"type\":\"echo\"}]", 0);
    RESULT("\"type\"", 0);
    RESULT("hello, not JSON", 0);
    RESULT("", 0);
    RESULT("   ", 0);

    /* the decoder's call: escapes, other types, malformed or unusual text */
    RESULT("{\"type\":\"ec\\u0068o\"}", -1);
    RESULT("{\"typ\\u0065\":\"echo\"}", -1);
    RESULT("{\"type\":1}", -1);
    RESULT("{\"type\":null}", -1);
    RESULT("{\"type\":{\"a\":1}}", -1);
    RESULT("{\"type\":\"echo\",\"type\":2}", -1);
    RESULT("{\"type\":\"echo\"", -1);
    RESULT("{\"type\":\"echo\"} x", -1);
    RESULT("{\"type\":\"echo\"}{}", -1);
    RESULT("{\"type\":\"echo\",}", -1);
    RESULT("{\"type\" \"echo\"}", -1);
    RESULT("{\"n\":NaN,\"type\":\"echo\"}", -1);
    RESULT("{\"n\":0x10,\"type\":\"echo\"}", -1);
    RESULT("{\"n\":01,\"type\":\"echo\"}", -1);
    RESULT("{\"n\":1.,\"type\":\"echo\"}", -1);
    RESULT("{\"n\":tru,\"type\":\"echo\"}", -1);
    RESULT("{\"s\":\"\\x\",\"type\":\"echo\"}", -1);
    RESULT("{\"s\":\"\\u12g4\",\"type\":\"echo\"}", -1);
    RESULT("{\"type\":\"tab\there\"}", -1);
    /* lua-cjson refuses a lone surrogate anywhere, so the member after it is not found */
    RESULT("{\"s\":\"\\ud800\",\"type\":\"echo\"}", -1);
    RESULT("{\"s\":\"\\udc00\\ud800\",\"type\":\"echo\"}", -1);
    RESULT("{\"s\":\"\\ud800\\u0041\",\"type\":\"echo\"}", -1);
    FOUND("{\"s\":\"\\ud83d\\ude00 \\u00e9\\u0000\",\"type\":\"echo\"}", "echo");
    RESULT("{type:\"echo\"}", -1);

    /* a NUL ends the decoder's text, not ours: the decoder decides */
    {
        static const char nul[] = "{\"type\":\"echo\"}\0junk";
        uint32_t span[2];
        CHECK(lh_json_field(nul, sizeof nul - 1, "type", 4, span) == -1,
              "NUL then junk after the object -> -1");
    }

    /* nesting: deep is fine up to the limit, past it the decoder decides */
    {
        char deep[512];
        size_t n = 0;
        uint32_t span[2];
        n += (size_t)sprintf(deep + n, "{\"type\":\"d\",\"a\":");
        for (int i = 0; i < 62; i++) deep[n++] = '[';
        for (int i = 0; i < 62; i++) deep[n++] = ']';
        deep[n++] = '}';
        CHECK(lh_json_field(deep, n, "type", 4, span) == 1, "62 nested arrays -> 1");
        n = 0;
        n += (size_t)sprintf(deep + n, "{\"type\":\"d\",\"a\":");
        for (int i = 0; i < 100; i++) deep[n++] = '[';
        for (int i = 0; i < 100; i++) deep[n++] = ']';
        deep[n++] = '}';
        CHECK(lh_json_field(deep, n, "type", 4, span) == -1, "100 nested arrays -> -1");
    }

    /* the value points into the text, so the caller needs no copy until it wants one */
    {
        static const char text[] = "{\"type\":\"echo\"}";
        uint32_t span[2] = { 0, 0 };
        CHECK(lh_json_field(text, sizeof text - 1, "type", 4, span) == 1 && span[0] == 9 &&
                  span[1] == 4, "offset 9, length 4");
    }

    return check_summary();
}
