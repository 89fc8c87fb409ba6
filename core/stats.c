/* stats.c — GET /metrics: the core's counters (metrics.h) and the gauges read from the
 * hub, the server and the cluster, in the Prometheus text format, plus the script's own
 * series. A scrape never walks the clients. */
#include "stats.h"

#include <stdio.h>

#include "cluster.h"
#include "fanout_batch.h"
#include "http.h"
#include "hub.h"
#include "history.h"
#include "metrics.h"
#include "room.h"
#include "server.h"
#include "shdict.h"
#include "textbuf.h"
#include "write_ring.h"

static void head(struct textbuf *o, const char *name, const char *type, const char *help)
{
    textbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(struct textbuf *o, const char *name, const char *type, const char *help, double v)
{
    head(o, name, type, help);
    textbuf_printf(o, "%s %.17g\n", name, v);
}

static void labelled(struct textbuf *o, const char *name, const char *help, const char *label,
                     const char *const *values, const uint64_t *counts, int n)
{
    head(o, name, "counter", help);
    for (int i = 0; i < n; i++)
        textbuf_printf(o, "%s{%s=\"%s\"} %llu\n", name, label, values[i], (unsigned long long)counts[i]);
}

/* The series of one histogram; labels ("kind=\"http\"") or NULL. The caller wrote the head. */
static void histogram_series(struct textbuf *o, const char *name, const char *labels,
                             const struct histogram *h)
{
    const char *sep = labels ? "," : "";
    labels = labels ? labels : "";
    uint64_t cum = 0;
    for (int i = 0; i < HISTO_BUCKETS; i++) {
        cum += h->counts[i];
        textbuf_printf(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, metrics_bucket_bounds[i],
            (unsigned long long)cum);
    }
    cum += h->counts[HISTO_BUCKETS];
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    textbuf_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n%s_sum%s%s%s %.17g\n%s_count%s%s%s %llu\n", name,
        labels, sep, (unsigned long long)cum, name, open, labels, close, h->sum, name, open,
        labels, close, (unsigned long long)h->total);
}

static void histogram(struct textbuf *o, const char *name, const char *help, const struct histogram *h)
{
    head(o, name, "histogram", help);
    histogram_series(o, name, NULL, h);
}

/* Outbound calls: counted by kind and result, timed and gauged by kind. */
static void outbound(struct textbuf *o)
{
    char labels[64];
    head(o, "luahub_outbound_calls_total", "counter", "Outbound calls of scripts, by kind and result.");
    for (int k = 0; k < OUT__COUNT; k++)
        for (int r = 0; r < OUT_RESULT__COUNT; r++)
            textbuf_printf(o, "luahub_outbound_calls_total{kind=\"%s\",result=\"%s\"} %llu\n",
                metrics_outbound_kinds[k], metrics_outbound_results[r],
                (unsigned long long)metrics.outbound_calls[k][r]);
    head(o, "luahub_outbound_in_flight", "gauge", "Outbound calls of scripts in flight, by kind.");
    for (int k = 0; k < OUT__COUNT; k++)
        textbuf_printf(o, "luahub_outbound_in_flight{kind=\"%s\"} %lld\n", metrics_outbound_kinds[k],
            (long long)metrics.outbound_in_flight[k]);
    head(o, "luahub_outbound_duration_seconds", "histogram", "Time of outbound calls, by kind.");
    for (int k = 0; k < OUT__COUNT; k++) {
        snprintf(labels, sizeof labels, "kind=\"%s\"", metrics_outbound_kinds[k]);
        histogram_series(o, "luahub_outbound_duration_seconds", labels, &metrics.outbound_seconds[k]);
    }
    scalar(o, "luahub_tasks_waiting", "gauge",
           "Script tasks (handlers, hooks, timers, routes) waiting on a call.",
           (double)metrics.tasks_waiting);
}

/* Shared dictionaries, by name (an identifier, so a label value as it is): what each
 * region holds, its size, and the keys evicted to make room (resizes included). */
static void shared(struct textbuf *o)
{
    static const char *const names[3] = { "luahub_shared_used_bytes", "luahub_shared_capacity_bytes",
                                          "luahub_shared_evictions_total" };
    static const char *const types[3] = { "gauge", "gauge", "counter" };
    static const char *const helps[3] = {
        "Bytes of a shared dictionary's region in use: entries, their bookkeeping, the hash buckets.",
        "Bytes of a shared dictionary's region (its declared size).",
        "Live keys a shared dictionary freed to make room for others.",
    };
    for (int m = 0; m < 3; m++) {
        head(o, names[m], types[m], helps[m]);
        for (int i = 0; i < shdict_total(); i++) {
            const struct shdict *d = shdict_at(i);
            uint64_t v = m == 0 ? d->bytes - shdict_free_bytes(d) : m == 1 ? d->bytes : d->evictions;
            textbuf_printf(o, "%s{dict=\"%s\"} %llu\n", names[m], d->name, (unsigned long long)v);
        }
    }
}

/* Room history: what this process keeps (0 in a cluster, where the broker keeps it), and
 * what publishes and recoveries did on either. */
static void history_series(struct textbuf *o)
{
    scalar(o, "luahub_history_bytes", "gauge",
           "Bytes of room history this process keeps (data plus 48 per publication).",
           (double)history_bytes());
    scalar(o, "luahub_history_entries", "gauge", "Publications this process keeps in room history.",
           (double)history_entries());
    scalar(o, "luahub_history_rooms", "gauge",
           "Rooms this process keeps a history position for (with publications or members).",
           (double)history_rooms());
    scalar(o, "luahub_history_appends_total", "counter", "Publications appended to room history.",
           (double)metrics.history_appends);
    scalar(o, "luahub_history_recoveries_total", "counter",
           "hub.history calls with a position that got the publications since it.",
           (double)metrics.history_recoveries);
    scalar(o, "luahub_history_unrecoverable_total", "counter",
           "hub.history calls with a position whose publications were no longer kept.",
           (double)metrics.history_unrecoverable);
}

struct frame *stats_render(const char *extra, size_t extra_len)
{
    batch_settle();   /* the queue gauges count held broadcasts once they are queued */
    struct textbuf o;
    textbuf_init(&o, 8192);
    if (o.failed) return NULL;
    static const char *kinds[2] = { "text", "binary" };
    scalar(&o, "luahub_connections", "gauge", "Open WebSocket connections.", hub_count());
    scalar(&o, "luahub_connections_total", "counter", "WebSocket connections accepted.",
           (double)metrics.connections_total);
    labelled(&o, "luahub_connections_refused_total", "Upgrades refused, by reason.", "reason",
             metrics_refuse_names, metrics.refused, REFUSE__COUNT);
    labelled(&o, "luahub_messages_received_total", "Messages received from clients.", "kind",
             kinds, metrics.messages_received, 2);
    scalar(&o, "luahub_messages_sent_total", "counter", "Messages queued to clients.",
           (double)metrics.messages_sent);
    scalar(&o, "luahub_bytes_received_total", "counter", "Bytes read from client sockets.",
           (double)metrics.bytes_received);
    scalar(&o, "luahub_bytes_sent_total", "counter", "Bytes written to client sockets.",
           (double)metrics.bytes_sent);
    labelled(&o, "luahub_messages_dropped_total", "Sends dropped by the send-queue policy.",
             "policy", metrics_drop_names, metrics.dropped, DROP__COUNT);
    scalar(&o, "luahub_rooms", "gauge", "Rooms with at least one member.", room_index.count);
    scalar(&o, "luahub_room_joins_total", "counter", "Room joins.", (double)metrics.joins);
    scalar(&o, "luahub_room_leaves_total", "counter", "Room leaves.", (double)metrics.leaves);
    labelled(&o, "luahub_errors_total", "Errors, by type.", "type", metrics_error_names, metrics.errors,
             ERR__COUNT);
    histogram(&o, "luahub_handler_duration_seconds", "Time in the Lua message handler.",
              &metrics.handler_seconds);
    histogram(&o, "luahub_broadcast_duration_seconds", "Time to queue one fan-out to all its recipients.",
              &metrics.broadcast_seconds);
    outbound(&o);
    scalar(&o, "luahub_send_queue_frames", "gauge", "Frames waiting in all send queues.",
           (double)metrics.queued_frames);
    scalar(&o, "luahub_send_queue_bytes", "gauge", "Bytes waiting in all send queues.",
           (double)metrics.queued_bytes);
    static const char *results[2] = { "ok", "failed" };
    uint64_t reloads[2] = { metrics.reloads_ok, metrics.reloads_failed };
    labelled(&o, "luahub_reloads_total", "Script reloads, by result.", "result", results, reloads, 2);
    head(&o, "luahub_state", "gauge", "1 for the current state (running, draining).");
    textbuf_printf(&o, "luahub_state{state=\"running\"} %d\nluahub_state{state=\"draining\"} %d\n",
        !hub_draining(), hub_draining());
    scalar(&o, "luahub_uptime_seconds", "gauge", "Seconds since start.", server_uptime());
    scalar(&o, "luahub_heap_bytes", "gauge", "C heap in use (connections, queues, frames).",
           (double)metrics_heap_bytes());
    scalar(&o, "luahub_io_uring", "gauge",
           "1 while each loop pass hands its writes to the kernel as one io_uring batch.",
           write_ring_active());
    scalar(&o, "luahub_io_uring_sockets", "gauge",
           "Sockets registered with the io_uring batch: those it sent to that are still open.",
           write_ring_sockets());
    static const char *relay_kinds[6] = { "broadcast", "room", "user", "client", "heartbeat", "presence" };
    scalar(&o, "luahub_relay_published_total", "counter", "Messages published to the cluster broker.",
           (double)metrics.relay_published);
    labelled(&o, "luahub_relay_received_total", "Messages from other nodes, by kind.", "kind",
             relay_kinds, metrics.relay_received + 1, 6);
    scalar(&o, "luahub_relay_errors_total", "counter",
           "Relay failures: publishes without a broker, broker errors, undecodable messages.",
           (double)metrics.relay_errors);
    scalar(&o, "luahub_relay_reconnects_total", "counter", "Reconnections to the broker after a loss.",
           (double)metrics.relay_reconnects);
    scalar(&o, "luahub_cluster_nodes", "gauge", "Live cluster nodes, this one included.", cluster_nodes());
    shared(&o);
    history_series(&o);
    if (extra && extra_len) textbuf_printf(&o, "%.*s", (int)extra_len, extra);
    struct frame *f = o.failed ? NULL
        : http_response(200, NULL, "text/plain; version=0.0.4; charset=utf-8", o.buf, o.len);
    textbuf_free(&o);
    return f;
}
