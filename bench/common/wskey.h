/* wskey.h — the Sec-WebSocket-Key / Sec-WebSocket-Accept pair of RFC 6455 §4.
 * Shared by the load generator (client side) and the raw baseline server. */
#ifndef WSKEY_H
#define WSKEY_H

#include <stddef.h>

#define WSKEY_KEY_LEN    24   /* base64 of 16 random bytes */
#define WSKEY_ACCEPT_LEN 28   /* base64 of a 20-byte SHA-1 */

/* Writes base64(SHA1(key || GUID)) and a NUL into accept[WSKEY_ACCEPT_LEN + 1].
 * key_len is the length of the key as it appeared in the request. */
void wskey_accept(const char *key, size_t key_len, char *accept);

/* Writes base64 of the 16 bytes `nonce` and a NUL into key[WSKEY_KEY_LEN + 1]. */
void wskey_from_nonce(const unsigned char nonce[16], char *key);

#endif
