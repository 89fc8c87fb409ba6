/* wskey.c — handshake key arithmetic; see wskey.h. OpenSSL does SHA-1 and base64. */
#include "wskey.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

static const char wskey_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* A key longer than any real client sends is truncated rather than overflowing:
 * the accept then simply does not match and the peer rejects the handshake. */
void wskey_accept(const char *key, size_t key_len, char *accept)
{
    unsigned char joined[128];
    unsigned char digest[SHA_DIGEST_LENGTH];
    size_t guid_len = sizeof(wskey_guid) - 1;

    if (key_len > sizeof(joined) - guid_len)
        key_len = sizeof(joined) - guid_len;
    memcpy(joined, key, key_len);
    memcpy(joined + key_len, wskey_guid, guid_len);
    SHA1(joined, key_len + guid_len, digest);
    EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
}

void wskey_from_nonce(const unsigned char nonce[16], char *key)
{
    EVP_EncodeBlock((unsigned char *)key, nonce, 16);
}
