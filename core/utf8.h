/* utf8 — incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). Used for outgoing close reasons and for text that
 * Lua produces before it goes out as a text frame. */
#ifndef LUAHUB_UTF8_H
#define LUAHUB_UTF8_H

#include <stddef.h>
#include <stdint.h>

enum { UTF8_OK = 0, UTF8_BAD = 1 };

/* Feeds n bytes to the validator. state starts at UTF8_OK; the returned state is
 * passed to the next call. UTF8_OK after the last call means the whole input was
 * valid; UTF8_BAD is sticky; any other value means the input stopped in the middle
 * of a code point (valid so far, incomplete). */
uint32_t utf8_feed(uint32_t state, const uint8_t *p, size_t n);

/* 1 if p[0..n) is complete, valid UTF-8; 0 otherwise. */
int utf8_valid(const uint8_t *p, size_t n);

#endif
