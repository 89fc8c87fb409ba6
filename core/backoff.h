/* backoff.h — how long to wait before reconnecting to a server that failed: 0.1 s
 * doubling to 5 s, each delay drawn between half and all of it (jitter), so clients that
 * lost a server together do not come back in lockstep. The doubling alone also paces the
 * restarts of a crashing worker (workers.c). */
#ifndef LUAHUB_BACKOFF_H
#define LUAHUB_BACKOFF_H

#include <stdlib.h>

#define BACKOFF_BASE 0.1
#define BACKOFF_MAX 5.0

/* base doubled once per failure in a row, at most max. */
static inline double backoff_doubling(int failures, double base, double max)
{
    double delay = base;
    for (int i = 0; i < failures && delay < max; i++) delay *= 2;
    return delay > max ? max : delay;
}

/* The delay before attempt number `failures` + 1, after `failures` failed in a row. */
static inline double backoff_delay(int failures)
{
    return backoff_doubling(failures, BACKOFF_BASE, BACKOFF_MAX) * (0.5 + 0.5 * drand48());
}

#endif
