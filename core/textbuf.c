#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void textbuf_init(struct textbuf *t, size_t cap)
{
    *t = (struct textbuf){ malloc(cap), 0, cap, 0 };
    if (!t->buf) t->failed = 1;
}

void textbuf_printf(struct textbuf *t, const char *fmt, ...)
{
    while (!t->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) { t->failed = 1; return; }
        if ((size_t)n < t->cap - t->len) { t->len += (size_t)n; return; }
        size_t cap = t->cap * 2 + (size_t)n;
        char *b = realloc(t->buf, cap);
        if (!b) { t->failed = 1; return; }
        t->buf = b;
        t->cap = cap;
    }
}

void textbuf_json_string(struct textbuf *t, const char *s, size_t len)
{
    textbuf_printf(t, "\"");
    size_t run = 0;   /* bytes since the last escape, copied in one call */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        textbuf_printf(t, "%.*s\\u%04x", (int)(i - run), s + run, ch);
        run = i + 1;
    }
    textbuf_printf(t, "%.*s\"", (int)(len - run), s + run);
}

void textbuf_free(struct textbuf *t)
{
    free(t->buf);
    t->buf = NULL;
}
