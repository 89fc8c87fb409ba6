/* backoff.h — how long to wait before reconnecting to a server that failed: 0.1 s
 * doubling to 5 s, each delay drawn between half and all of it (jitter), so clients that
 * lost a server together do not come back in lockstep. */
#ifndef LUAHUB_BACKOFF_H
#define LUAHUB_BACKOFF_H

#include <stdlib.h>

#define BACKOFF_BASE 0.1
#define BACKOFF_MAX 5.0

/* The delay before attempt number `failures` + 1, after `failures` failed in a row. */
static inline double backoff_delay(int failures)
{
    double delay = BACKOFF_BASE;
    for (int i = 0; i < failures && delay < BACKOFF_MAX; i++) delay *= 2;
    if (delay > BACKOFF_MAX) delay = BACKOFF_MAX;
    return delay * (0.5 + 0.5 * drand48());
}

#endif
