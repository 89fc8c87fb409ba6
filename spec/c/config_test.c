/* config_test — the settings made from config_keys.h: every default as the docs state it,
 * each kind of setter, and the refusals with their messages. Under ASan, config_free
 * after each round shows a leaked or twice-freed string. */
#include "config.h"
#include "lh_api.h"

#include <math.h>
#include <string.h>

#include "check.h"

static char err[256];

static void refused(int rc, const char *want)
{
    CHECK(rc == -1 && strcmp(err, want) == 0, "refused: \"%s\" (want \"%s\")", err, want);
    err[0] = 0;
}

static int same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

int main(void)
{
    config_defaults(&config);
    CHECK(same(config.listen, "127.0.0.1:8080") && same(config.ws_path, "/ws") &&
          !config.static_dir && !config.api_key, "default strings: listen, ws_path; static, api_key unset");
    CHECK(config.origins == ORIGINS_SAME && config.origin_list.count == 0 &&
          config.subprotocols.count == 0, "default origins \"same\", no subprotocols");
    CHECK(config.max_message_size == 1048576 && config.http_max_body == 1048576,
          "default max_message_size, http_max_body");
    CHECK(config.ping_interval == 54 && config.pong_timeout == 60 && config.write_timeout == 10 &&
          config.handshake_timeout == 10 && config.drain_timeout == 30, "default timeouts");
    CHECK(config.sendq_messages == 256 && config.sendq_bytes == 4194304 &&
          config.sendq_policy == SENDQ_DROP_NEWEST, "default send queue");
    CHECK(config.limit_connections == 0 && config.limit_per_user == 0 &&
          config.limit_rooms_per_client == 0 && config.limit_clients_per_room == 0 &&
          config.limit_message_rate == 0, "default limits: none");
    CHECK(!config.compression && !config.reuse_port && !config.watch, "default booleans: off");
    CHECK(!config.cluster_adapter && !config.cluster_url && !config.cluster_node_id &&
          config.cluster_heartbeat == 5 && same(config.cluster_channel_prefix, "luahub"),
          "default cluster: none, heartbeat 5, prefix luahub");

    /* numbers: booleans, 32- and 64-bit counts, seconds */
    CHECK(lh_config_set_number("compression", 1, err, sizeof err) == 0 && config.compression == 1,
          "compression = true");
    CHECK(lh_config_set_number("limits.connections", 4294967295.0, err, sizeof err) == 0 &&
          config.limit_connections == 4294967295u, "limits.connections = 2^32 - 1");
    CHECK(lh_config_set_number("send_queue.bytes", 9007199254740992.0, err, sizeof err) == 0 &&
          config.sendq_bytes == 9007199254740992u, "send_queue.bytes = 2^53");
    CHECK(lh_config_set_number("limits.message_rate", 5.5, err, sizeof err) == 0 &&
          config.limit_message_rate == 5.5, "limits.message_rate = 5.5");
    refused(lh_config_set_number("limits.per_user", 4294967296.0, err, sizeof err),
            "limits.per_user: 4.29497e+09 is out of range");
    refused(lh_config_set_number("http_max_body", -1, err, sizeof err), "http_max_body: -1 is out of range");
    refused(lh_config_set_number("max_message_size", NAN, err, sizeof err),
            "max_message_size: nan is out of range");
    refused(lh_config_set_number("send_queue.bytes", 1e20, err, sizeof err),
            "send_queue.bytes: 1e+20 is out of range");

    /* strings and enums: an index for send_queue.policy, the name for cluster.adapter */
    CHECK(lh_config_set_string("static", "public", err, sizeof err) == 0 && same(config.static_dir, "public"),
          "static = \"public\"");
    CHECK(lh_config_set_string("send_queue.policy", "close", err, sizeof err) == 0 &&
          config.sendq_policy == SENDQ_CLOSE, "send_queue.policy = \"close\" is SENDQ_CLOSE");
    CHECK(lh_config_set_string("send_queue.policy", "drop_oldest", err, sizeof err) == 0 &&
          config.sendq_policy == SENDQ_DROP_OLDEST, "send_queue.policy = \"drop_oldest\" is SENDQ_DROP_OLDEST");
    refused(lh_config_set_string("send_queue.policy", "drop", err, sizeof err),
            "send_queue.policy: expected one of drop_newest, drop_oldest, close, got \"drop\"");
    CHECK(config.sendq_policy == SENDQ_DROP_OLDEST, "a refused value leaves the setting as it was");
    CHECK(lh_config_set_string("cluster.adapter", "nats", err, sizeof err) == 0 &&
          same(config.cluster_adapter, "nats"), "cluster.adapter = \"nats\"");
    refused(lh_config_set_string("cluster.adapter", "kafka", err, sizeof err),
            "cluster.adapter: expected one of redis, nats, got \"kafka\"");

    /* lists, and origins: a policy name or a list */
    CHECK(lh_config_set_string("origins", "*", err, sizeof err) == 0 && config.origins == ORIGINS_ANY,
          "origins = \"*\"");
    refused(lh_config_set_string("origins", "some", err, sizeof err),
            "origins: expected \"same\", \"*\" or a list of origins, got \"some\"");
    lh_config_clear_list("origins");
    CHECK(lh_config_add_string("origins", "https://example.com", err, sizeof err) == 0 &&
          config.origins == ORIGINS_LIST && config.origin_list.count == 1 &&
          same(config.origin_list.items[0], "https://example.com"), "origins = { \"https://example.com\" }");
    int added = 0;
    for (int i = 0; i < CONFIG_LIST_MAX; i++)
        added += lh_config_add_string("subprotocols", "chat", err, sizeof err) == 0;
    CHECK(added == CONFIG_LIST_MAX && config.subprotocols.count == CONFIG_LIST_MAX, "32 subprotocols");
    refused(lh_config_add_string("subprotocols", "one.more", err, sizeof err), "subprotocols: at most 32 entries");
    lh_config_clear_list("subprotocols");
    CHECK(config.subprotocols.count == 0, "clear_list empties subprotocols");

    /* unknown keys, and a value of the wrong kind */
    refused(lh_config_set_number("bogus", 1, err, sizeof err), "bogus: unknown numeric setting");
    refused(lh_config_set_string("limits", "x", err, sizeof err), "limits: unknown string setting");
    refused(lh_config_set_string("log.level", "warn", err, sizeof err), "log.level: unknown string setting");
    refused(lh_config_set_number("listen", 1, err, sizeof err), "listen: not a numeric setting");
    refused(lh_config_set_string("watch", "yes", err, sizeof err), "watch: not a string setting");
    refused(lh_config_add_string("listen", "x", err, sizeof err), "listen: not a list setting");

    /* defaults again over a config holding strings and lists: all of it is replaced */
    config_defaults(&config);
    CHECK(!config.static_dir && !config.cluster_adapter && config.origins == ORIGINS_SAME &&
          config.origin_list.count == 0 && config.sendq_policy == SENDQ_DROP_NEWEST,
          "config_defaults resets a used config");
    config_free(&config);
    CHECK(!config.listen && !config.cluster_channel_prefix, "config_free leaves nothing behind");
    return check_summary();
}
