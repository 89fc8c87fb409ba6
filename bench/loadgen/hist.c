/* hist.c — see hist.h. */
#include "hist.h"

#include <string.h>

#define SUB (1u << HIST_SUB_BITS)

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/* Bucket of v: values < 2*SUB index directly; above, exponent e (>= SUB_BITS+1)
 * keeps the top SUB_BITS+1 bits: index = 2*SUB + (e - SUB_BITS - 1)*SUB + low bits. */
static unsigned bucket_of(uint64_t v)
{
    unsigned e, shift;
    unsigned long long top;

    if (v < 2 * SUB)
        return (unsigned)v;
    e = 63 - (unsigned)__builtin_clzll(v);
    if (e >= HIST_MAX_EXP)
        return HIST_BUCKETS - 1;
    shift = e - HIST_SUB_BITS;
    top = v >> shift;                       /* in [SUB, 2*SUB) */
    return 2 * SUB + (e - HIST_SUB_BITS - 1) * SUB + (unsigned)(top - SUB);
}

static uint64_t bucket_mid(unsigned i)
{
    unsigned e, shift;
    uint64_t low;

    if (i < 2 * SUB)
        return i;
    e = (i - 2 * SUB) / SUB + HIST_SUB_BITS + 1;
    shift = e - HIST_SUB_BITS;
    low = ((uint64_t)SUB + (i - 2 * SUB) % SUB) << shift;
    return low + ((uint64_t)1 << shift) / 2;
}

void hist_record(struct hist *h, uint64_t value)
{
    h->buckets[bucket_of(value)]++;
    h->count++;
    h->sum += value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->buckets[i] += from->buckets[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

void hist_subtract(struct hist *h, const struct hist *earlier)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        h->buckets[i] -= earlier->buckets[i];
    h->count -= earlier->count;
    h->sum -= earlier->sum;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    uint64_t rank, seen = 0, v;

    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            v = bucket_mid(i);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}
