/* metrics.h — counters, gauges and histograms every layer keeps as it works (a leaf:
 * updating is a plain increment, one thread). stats.c renders them for /metrics. */
#ifndef LUAHUB_METRICS_H
#define LUAHUB_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum refuse_reason { REFUSE_HANDSHAKE, REFUSE_ORIGIN, REFUSE_LIMIT, REFUSE_USER_LIMIT,
                     REFUSE_HOOK, REFUSE_DRAINING, REFUSE_CAPACITY, REFUSE__COUNT };
enum drop_policy { DROP_NEWEST, DROP_OLDEST, DROP_CLOSE, DROP__COUNT };
enum error_type { ERR_HANDLER, ERR_PROTOCOL, ERR_WRITE, ERR_RATE_LIMITED, ERR_PONG_TIMEOUT,
                  ERR_WRITE_TIMEOUT, ERR__COUNT };

/* Outbound calls a script waits on, by kind and result; the result names are the error
 * codes a call returns in Lua ("ok" for success). */
enum outbound_kind { OUTBOUND_HTTP, OUTBOUND_REDIS, OUTBOUND_NATS, OUT__COUNT };
enum outbound_result { OUT_OK, OUT_TIMEOUT, OUT_CONNECT, OUT_TOO_LARGE, OUT_TLS, OUT_REDIS,
                       OUT_BUSY, OUT_CLOSED, OUT_FAILED, OUT_RESULT__COUNT };

#define HISTO_BUCKETS 14

struct histogram {
    uint64_t counts[HISTO_BUCKETS + 1];   /* last = +Inf */
    double sum;
    uint64_t total;
};

struct metrics {
    uint64_t connections_total;
    uint64_t refused[REFUSE__COUNT];
    uint64_t messages_received[2];        /* text, binary */
    uint64_t messages_sent;               /* frames queued to clients */
    uint64_t bytes_received, bytes_sent;  /* socket bytes */
    uint64_t dropped[DROP__COUNT];
    uint64_t joins, leaves;
    uint64_t errors[ERR__COUNT];
    uint64_t reloads_ok, reloads_failed;
    /* cluster relay (cluster.c); relay_received is indexed by enum envelope_kind */
    uint64_t relay_published, relay_received[7], relay_errors, relay_reconnects;
    int64_t queued_frames, queued_bytes;  /* gauges over all send queues */
    struct histogram handler_seconds, broadcast_seconds;
    /* scripts that wait (task.c, outbound_*.c) */
    int64_t tasks_waiting;                /* gauge: tasks parked on a call */
    uint64_t outbound_calls[OUT__COUNT][OUT_RESULT__COUNT];
    int64_t outbound_in_flight[OUT__COUNT];
    struct histogram outbound_seconds[OUT__COUNT];
    /* room history (history_api.c, lua/luahub/history.lua) */
    uint64_t history_appends, history_recoveries, history_unrecoverable;
};

extern struct metrics metrics;

void histogram_observe(struct histogram *h, double seconds);
double metrics_clock(void);               /* monotonic seconds, for durations */
/* Bytes the C heap has in use (malloc arenas; Lua's own heap is apart). */
uint64_t metrics_heap_bytes(void);
/* Counts an error by its type name ("handler", "rate_limited", ...); unknown names are ignored. */
void metrics_count_error(const char *type);

/* Label values, in enum order. */
extern const double metrics_bucket_bounds[HISTO_BUCKETS];
extern const char *const metrics_refuse_names[REFUSE__COUNT];
extern const char *const metrics_drop_names[DROP__COUNT];
extern const char *const metrics_error_names[ERR__COUNT];
extern const char *const metrics_outbound_kinds[OUT__COUNT];
extern const char *const metrics_outbound_results[OUT_RESULT__COUNT];

#endif
