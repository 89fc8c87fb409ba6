#include "config.h"
#include "lh_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config config;

void config_defaults(struct config *c)
{
    config_free(c);
    memset(c, 0, sizeof *c);
    c->listen = strdup("127.0.0.1:8080");
    c->ws_path = strdup("/ws");
    c->origins = ORIGINS_SAME;
    c->max_message_size = 1048576;
    c->ping_interval = 54;
    c->pong_timeout = 60;
    c->write_timeout = 10;
    c->handshake_timeout = 10;
    c->sendq_messages = 256;
    c->sendq_bytes = 4194304;
    c->sendq_policy = SENDQ_DROP_NEWEST;
    c->drain_timeout = 30;
    c->http_max_body = 1048576;
    c->cluster_heartbeat = 5;
    c->cluster_channel_prefix = strdup("luahub");
}

static void list_clear(struct string_list *l)
{
    for (int i = 0; i < l->count; i++) free(l->items[i]);
    l->count = 0;
}

void config_free(struct config *c)
{
    free(c->listen);
    free(c->ws_path);
    free(c->static_dir);
    free(c->api_key);
    free(c->cluster_adapter);
    free(c->cluster_url);
    free(c->cluster_node_id);
    free(c->cluster_channel_prefix);
    list_clear(&c->origin_list);
    list_clear(&c->subprotocols);
    memset(c, 0, sizeof *c);
}

static void replace(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? strdup(value) : NULL;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int lh_config_set_number(const char *key, double v, char *err, size_t errlen)
{
    struct { const char *name; double *d; } doubles[] = {
        { "ping_interval", &config.ping_interval }, { "pong_timeout", &config.pong_timeout },
        { "write_timeout", &config.write_timeout }, { "handshake_timeout", &config.handshake_timeout },
        { "drain_timeout", &config.drain_timeout }, { "limits.message_rate", &config.limit_message_rate },
        { "cluster.heartbeat", &config.cluster_heartbeat },
    };
    for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++)
        if (strcmp(key, doubles[i].name) == 0) { *doubles[i].d = v; return 0; }

    struct { const char *name; uint32_t *u; } u32s[] = {
        { "send_queue.messages", &config.sendq_messages },
        { "limits.connections", &config.limit_connections },
        { "limits.per_user", &config.limit_per_user },
        { "limits.rooms_per_client", &config.limit_rooms_per_client },
        { "limits.clients_per_room", &config.limit_clients_per_room },
        { "http_max_body", &config.http_max_body },
    };
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++)
        if (strcmp(key, u32s[i].name) == 0) {
            if (v < 0 || v > 4294967295.0) FAIL("%s: %g is out of range", key, v);
            *u32s[i].u = (uint32_t)v;
            return 0;
        }
    if (strcmp(key, "max_message_size") == 0) { config.max_message_size = (uint64_t)v; return 0; }
    if (strcmp(key, "send_queue.bytes") == 0) { config.sendq_bytes = (uint64_t)v; return 0; }
    if (strcmp(key, "compression") == 0) { config.compression = v != 0; return 0; }
    if (strcmp(key, "reuse_port") == 0) { config.reuse_port = v != 0; return 0; }
    if (strcmp(key, "watch") == 0) { config.watch = v != 0; return 0; }
    FAIL("%s: unknown numeric setting", key);
}

int lh_config_set_string(const char *key, const char *v, char *err, size_t errlen)
{
    if (strcmp(key, "listen") == 0) { replace(&config.listen, v); return 0; }
    if (strcmp(key, "ws_path") == 0) { replace(&config.ws_path, v); return 0; }
    if (strcmp(key, "static") == 0) { replace(&config.static_dir, v); return 0; }
    if (strcmp(key, "api_key") == 0) { replace(&config.api_key, v); return 0; }
    if (strcmp(key, "cluster.adapter") == 0) { replace(&config.cluster_adapter, v); return 0; }
    if (strcmp(key, "cluster.url") == 0) { replace(&config.cluster_url, v); return 0; }
    if (strcmp(key, "cluster.node_id") == 0) { replace(&config.cluster_node_id, v); return 0; }
    if (strcmp(key, "cluster.channel_prefix") == 0) { replace(&config.cluster_channel_prefix, v); return 0; }
    if (strcmp(key, "origins") == 0) {
        if (strcmp(v, "same") == 0) config.origins = ORIGINS_SAME;
        else if (strcmp(v, "*") == 0) config.origins = ORIGINS_ANY;
        else FAIL("origins: expected \"same\", \"*\" or a list of origins, got \"%s\"", v);
        return 0;
    }
    if (strcmp(key, "send_queue.policy") == 0) {
        if (strcmp(v, "drop_newest") == 0) config.sendq_policy = SENDQ_DROP_NEWEST;
        else if (strcmp(v, "drop_oldest") == 0) config.sendq_policy = SENDQ_DROP_OLDEST;
        else if (strcmp(v, "close") == 0) config.sendq_policy = SENDQ_CLOSE;
        else FAIL("send_queue.policy: expected drop_newest, drop_oldest or close, got \"%s\"", v);
        return 0;
    }
    FAIL("%s: unknown string setting", key);
}

static struct string_list *list_named(const char *key)
{
    if (strcmp(key, "origins") == 0) return &config.origin_list;
    if (strcmp(key, "subprotocols") == 0) return &config.subprotocols;
    return NULL;
}

void lh_config_clear_list(const char *key)
{
    struct string_list *l = list_named(key);
    if (l) list_clear(l);
}

int lh_config_add_string(const char *key, const char *v, char *err, size_t errlen)
{
    struct string_list *l = list_named(key);
    if (!l) FAIL("%s: not a list setting", key);
    if (l->count == CONFIG_LIST_MAX) FAIL("%s: at most %d entries", key, CONFIG_LIST_MAX);
    if (l == &config.origin_list) config.origins = ORIGINS_LIST;
    l->items[l->count++] = strdup(v);
    return 0;
}
