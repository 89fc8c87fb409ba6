/* textbuf.h — a growing text buffer written with printf formats, for answers built in
 * pieces (/metrics, the admin feed). A failed allocation is remembered, not reported at
 * each call: the writer checks `failed` once at the end. */
#ifndef LUAHUB_TEXTBUF_H
#define LUAHUB_TEXTBUF_H

#include <stddef.h>

struct textbuf {
    char *buf;
    size_t len, cap;
    int failed;
};

/* An empty buffer of cap bytes (failed set when it cannot be had). */
void textbuf_init(struct textbuf *t, size_t cap);
void textbuf_printf(struct textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s as a JSON string, quotes included; bytes from 0x80 up are copied as they are (the
 * caller passes UTF-8). */
void textbuf_json_string(struct textbuf *t, const char *s, size_t len);
void textbuf_free(struct textbuf *t);

#endif
