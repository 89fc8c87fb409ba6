#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <time.h>


struct metrics metrics;

const double metrics_bucket_bounds[HISTO_BUCKETS] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
};

const char *const metrics_refuse_names[REFUSE__COUNT] = {
    "handshake", "origin", "limit", "user_limit", "before_connect", "draining", "capacity" };
const char *const metrics_drop_names[DROP__COUNT] = { "drop_newest", "drop_oldest", "close" };
const char *const metrics_error_names[ERR__COUNT] = {
    "handler", "protocol", "write", "rate_limited", "pong_timeout", "write_timeout" };

const char *const metrics_outbound_kinds[OUT__COUNT] = { "http", "redis", "nats" };
const char *const metrics_outbound_results[OUT_RESULT__COUNT] = {
    "ok", "timeout", "connect", "too_large", "tls", "redis", "busy", "closed", "failed" };

void histogram_observe(struct histogram *h, double v)
{
    int i = 0;
    while (i < HISTO_BUCKETS && v > metrics_bucket_bounds[i]) i++;
    h->counts[i]++;
    h->sum += v;
    h->total++;
}

double metrics_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t metrics_heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

void metrics_count_error(const char *type)
{
    for (int i = 0; i < ERR__COUNT; i++)
        if (strcmp(type, metrics_error_names[i]) == 0) {
            metrics.errors[i]++;
            return;
        }
}
