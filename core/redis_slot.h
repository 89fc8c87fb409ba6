/* redis_slot.h — the Redis Cluster hash slot of a key or sharded channel: CRC16 (XMODEM)
 * of the key, or of its hash tag (the bytes between the first '{' and the next '}', when
 * there are any), modulo 16384. What a cluster's nodes compute, so a client sends each
 * key or channel straight to the master serving it. */
#ifndef LUAHUB_REDIS_SLOT_H
#define LUAHUB_REDIS_SLOT_H

#include <stddef.h>

#define REDIS_SLOTS 16384

unsigned redis_slot(const char *key, size_t len);

#endif
