/* config.h — the server's settings: defaults, then hub.config{} from the script, then
 * --config JSON overrides, then CLI flags. The keys, their types and defaults are listed
 * once, in config_keys.h. Lua validates types and ranges (lua/luahub/config.lua) and
 * writes each key here through lh_config_* (lh_api.h); C checks only what it must store. */
#ifndef LUAHUB_CONFIG_H
#define LUAHUB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum origin_policy { ORIGINS_SAME, ORIGINS_ANY, ORIGINS_LIST };
/* In the order of send_queue.policy's values in config_keys.h: the setter stores the
 * index of the value given. */
enum sendq_policy { SENDQ_DROP_NEWEST, SENDQ_DROP_OLDEST, SENDQ_CLOSE };
/* In the order of io_uring's values in config_keys.h. */
enum io_uring_mode { IO_URING_AUTO, IO_URING_OFF };

/* Entries of a string list (origins, subprotocols); config.lua reads it from here too. */
#define CONFIG_LIST_MAX 32

struct string_list {
    char *items[CONFIG_LIST_MAX];
    int count;
};

struct config {
    char *listen;                 /* "host:port" */
    char *ws_path;
    char *static_dir;             /* NULL = no static files */
    enum origin_policy origins;
    struct string_list origin_list;
    struct string_list subprotocols;
    uint64_t max_message_size;
    double message_timeout;
    uint64_t limit_reassembly_bytes;
    double ping_interval, pong_timeout, write_timeout, handshake_timeout;
    int compression;
    int io_uring;                 /* enum io_uring_mode */
    uint32_t sendq_messages;
    uint64_t sendq_bytes;
    int sendq_policy;             /* enum sendq_policy */
    uint32_t limit_connections, limit_per_user, limit_rooms_per_client, limit_clients_per_room;
    double limit_message_rate;
    double drain_timeout;
    char *api_key;
    int reuse_port;
    int watch;
    uint32_t http_max_body;
    double script_timeout;        /* guard.h */
    uint64_t script_memory;
    /* outbound.*: hub.http.request and hub.redis (outbound_http.c, outbound_redis.c) */
    double outbound_timeout, outbound_connect_timeout;
    uint64_t outbound_max_response_bytes;
    uint32_t outbound_max_in_flight, outbound_connections_per_host;
    int outbound_tls_verify;
    char *outbound_ca_file;
    uint32_t limit_waiting_messages;   /* hub.c: per-client order while a task waits */
    /* cluster.*: read once by cluster_start; a reload does not change a running cluster */
    char *cluster_adapter;        /* "redis" | "nats"; NULL = single node */
    char *cluster_url, *cluster_node_id, *cluster_channel_prefix;
    double cluster_heartbeat;     /* seconds; 0 = no presence */
    /* history.*: the default bounds of every room and the bound of all (history_policy.h) */
    uint32_t history_size;
    double history_ttl;
    uint64_t history_max_bytes;
};

extern struct config config;

/* config_defaults frees what c holds, then sets every key to its default;
 * config_free frees the strings and lists c holds and zeroes it. */
void config_defaults(struct config *c);
void config_free(struct config *c);

#endif
