/* redis_slot_test — redis_slot against the values a Redis Cluster computes (CLUSTER
 * KEYSLOT on redis-server 7.0; spec/cluster/redis_cluster_spec.lua also asks a live one):
 * the CRC16 check value, plain keys, hash tags, and the tag rules' edge cases. */
#include "redis_slot.h"

#include <string.h>

#include "check.h"

static void slot(const char *key, unsigned want)
{
    unsigned got = redis_slot(key, strlen(key));
    CHECK(got == want, "slot of \"%s\" is %u (got %u)", key, want, got);
}

int main(void)
{
    slot("123456789", 0x31C3 % REDIS_SLOTS);   /* CRC16/XMODEM's check value */
    slot("foo", 12182);
    slot("bar", 5061);
    slot("", 0);
    slot("{user1000}.following", 3443);
    slot("{user1000}.followers", 3443);
    slot("user1000", 3443);                    /* a tag hashes as the key alone */
    slot("foo{}{bar}", 8363);                  /* an empty first tag: the whole key */
    slot("foo{{bar}}zap", 4015);               /* the tag is "{bar" */
    slot("foo{bar}{zap}", 5061);               /* only the first tag counts */
    slot("no{close", 7129);
    return check_summary();
}
