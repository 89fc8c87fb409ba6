/* payload.h — what the load generator puts in a message and finds again.
 *
 * A stamp is 35 ASCII bytes: "@LG", the send time (CLOCK_MONOTONIC ns, 16 hex
 * digits), the sequence number and the source id (8 hex digits each). A message
 * is an optional template prefix, the stamp, '.' padding up to the requested
 * size, and the template suffix, so it is valid UTF-8 and a valid JSON string
 * body. The receiver finds the stamp at offset 0 (raw broadcast) or anywhere in
 * the first bytes of a message (a script that wraps what it forwards). */
#ifndef PAYLOAD_H
#define PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#define PAYLOAD_STAMP_LEN 35

struct payload_template {
    uint8_t *bytes;       /* the whole message with a zero stamp, `size` bytes */
    size_t size;
    size_t stamp_offset;
};

/* `template` is NULL or a string containing "%s" where the stamp and padding go.
 * `size` is the message size wanted; it grows to the minimum that fits.
 * Returns 0, or -1 if the template has no %s. */
int payload_template_init(struct payload_template *t, const char *template, size_t size);
void payload_template_free(struct payload_template *t);

/* Writes t->size bytes: the template with this stamp. */
void payload_write(const struct payload_template *t, uint8_t *dst,
                   uint64_t send_ns, uint32_t seq, uint32_t source);

/* Finds and decodes a stamp in the first `len` bytes; 0 on success, -1 if none. */
int payload_find(const uint8_t *msg, size_t len, uint64_t *send_ns, uint32_t *seq,
                 uint32_t *source);

#endif
