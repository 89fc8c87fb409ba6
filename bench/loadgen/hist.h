/* hist.h — fixed-size log-linear latency histogram (HDR-style).
 *
 * Values (nanoseconds) below 256 have their own bucket; above, each power of two
 * is split into 128 equal buckets, so a reported percentile is within 0.8% of
 * the true value. The table is a fixed array: recording never allocates. */
#ifndef HIST_H
#define HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_MAX_EXP 42                       /* 2^42 ns ~ 73 minutes */
#define HIST_BUCKETS ((2 << HIST_SUB_BITS) + (HIST_MAX_EXP - HIST_SUB_BITS) * (1 << HIST_SUB_BITS))

struct hist {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t value);
/* Adds every recording of `from` into `into`. */
void hist_merge(struct hist *into, const struct hist *from);
/* Takes the recordings of `earlier` (an earlier copy of `h`) out of h, leaving what was
 * recorded since: a phase's own percentiles from cumulative histograms. min and max stay
 * those of the whole, so they only clamp. */
void hist_subtract(struct hist *h, const struct hist *earlier);
/* The value at quantile q (0..1): a bucket midpoint, clamped to [min, max]. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
