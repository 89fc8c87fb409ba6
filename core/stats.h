/* stats.h — the /metrics exposition. */
#ifndef LUAHUB_STATS_H
#define LUAHUB_STATS_H

#include <stddef.h>

struct frame;

/* The whole exposition as an HTTP response, plus extra (the script's own series, may be
 * NULL). NULL on allocation failure. */
struct frame *stats_render(const char *extra, size_t extra_len);

#endif
