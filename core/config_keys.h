/* config_keys.h — every configuration key, once. config.c makes the core's defaults and
 * setters from this list; scripts/gen_contract.lua makes the Lua schema
 * (lua/luahub/contract.lua, which config.lua validates with) and the keys table of
 * docs/lua-api.md from it, and `make test` fails when those differ from what it would make.
 *
 *     CONFIG_KEY(path, field, type, default, values...)
 *
 * path     the key as hub.config{} nests it: "send_queue.policy"
 * field    its member of struct config (config.h); config.c does not compile when the
 *          member's C type is not the one its type is kept in. Empty for log.*: the log
 *          module keeps those (config.lua applies them through lh_set_log); and for
 *          shared and history.rooms.
 * type     how config.lua checks a value, and how C keeps it:
 *            string, path (starts with "/")               char *
 *            boolean                                       int
 *            count (0 .. 4294967295)                       uint32_t
 *            bytes (whole, >= 0), positive (whole, > 0)    uint64_t
 *            seconds, rate (>= 0)                          double
 *            enum (one of values)                          int, the value's index (the
 *                                                          constants of a C enum listed
 *                                                          in the same order), or char *,
 *                                                          the name itself
 *            strings (a list of non-empty strings)         struct string_list
 *          and the special ones config.lua checks with its own rule: origins ("same",
 *          "*" or a list: enum origin_policy plus origin_list), url, node_id,
 *          channel_prefix (char *), log_level and log_format (enums in the order of
 *          enum log_level / enum log_format, kept by the log module), shared (a map of
 *          names to sizes, kept by shdict.c, which config.lua applies through
 *          lh_shared_declare), history_rooms (a map of room names or patterns to
 *          { size, ttl }, kept by history_policy.c, applied through lh_history_rule).
 * default  a C literal: a number, true or false, a string, or NONE (no value; an empty
 *          list or map)
 * values   enum, log_level and log_format: the allowed names, as bare words
 *
 * The comment right above a row (no blank line between) is its doc: one row of the table
 * in docs/lua-api.md, Markdown. The includer defines CONFIG_KEY and NONE; no include guard. */

/* `HOST:PORT` (IPv6 as `[::1]:8080`); `--listen` overrides. Read at start only. */
CONFIG_KEY("listen", listen, string, "127.0.0.1:8080")
/* the upgrade path. A plain GET there answers 400; every other path is plain HTTP. */
CONFIG_KEY("ws_path", ws_path, path, "/ws")
/* directory served at `/` (GET and HEAD; no path traversal) */
CONFIG_KEY("static", static_dir, string, NONE)
/* `"same"`: an `Origin` header must name the `Host`; `"*"`: any; or a list of allowed
 * origins (at most 32). A request without `Origin` (not from a browser) passes under
 * every setting. Refused upgrades get 403. */
CONFIG_KEY("origins", origins, origins, "same")
/* offered subprotocols in preference order (at most 32) */
CONFIG_KEY("subprotocols", subprotocols, strings, NONE)
/* bytes; a larger message (whole, after reassembly) closes the connection with 1009 */
CONFIG_KEY("max_message_size", max_message_size, positive, 1048576)
/* seconds a message (or any frame) may take to arrive once its first byte did; then the
 * connection is closed with 1008. Bounds how long a peer can hold reassembly memory. 0
 * disables */
CONFIG_KEY("message_timeout", message_timeout, seconds, 30)
/* seconds between server pings; 0 disables */
CONFIG_KEY("ping_interval", ping_interval, seconds, 54)
/* seconds without a pong before the connection is dropped; 0 disables; must be longer
 * than `ping_interval` */
CONFIG_KEY("pong_timeout", pong_timeout, seconds, 60)
/* seconds a client may take nothing while data waits for it; then what it did not take
 * is dropped and it gets a 1008 close, and if it takes nothing for another
 * `write_timeout` the connection is dropped; a plain HTTP response is dropped at once */
CONFIG_KEY("write_timeout", write_timeout, seconds, 10)
/* seconds to send a complete HTTP request; then 408 */
CONFIG_KEY("handshake_timeout", handshake_timeout, seconds, 10)
/* negotiate permessage-deflate (RFC 7692) */
CONFIG_KEY("compression", compression, boolean, false)
/* `"auto"`: each loop pass hands its writes to the kernel as one io_uring batch when the
 * kernel allows it, and writes with `writev` per client otherwise; `"off"`: always
 * `writev`. The log's start line says which, and `luahub_io_uring` is 1 while the batch
 * is in use. Read at start only. */
CONFIG_KEY("io_uring", io_uring, enum, "auto", auto, off)
/* per-client queued messages; 0 = unbounded */
CONFIG_KEY("send_queue.messages", sendq_messages, count, 256)
/* per-client queued bytes; 0 = unbounded */
CONFIG_KEY("send_queue.bytes", sendq_bytes, bytes, 4194304)
/* when full: `"drop_newest"` (the new send is refused, `queue_full`), `"drop_oldest"`
 * (the oldest queued messages make room), `"close"` (the client is closed with 1008).
 * Every dropped message fires [on_send_dropped](#on_send_dropped). "Full" means the queue
 * is at its bound *and* the socket takes nothing more: a queue that fills within one loop
 * pass is written out first, so a fast reader never loses messages to a burst. */
CONFIG_KEY("send_queue.policy", sendq_policy, enum, "drop_newest", drop_newest, drop_oldest, close)
/* open WebSocket connections; beyond, upgrades get 503 with `Retry-After: 5` */
CONFIG_KEY("limits.connections", limit_connections, count, 0)
/* connections per user id; beyond, `set_user` returns `user_limit` and a `before_connect`
 * that assigns the user id refuses with 429 */
CONFIG_KEY("limits.per_user", limit_per_user, count, 0)
/* rooms one client may be in (`max_rooms`) */
CONFIG_KEY("limits.rooms_per_client", limit_rooms_per_client, count, 0)
/* members of one room (`room_full`) */
CONFIG_KEY("limits.clients_per_room", limit_clients_per_room, count, 0)
/* messages per second per connection (token bucket holding one second's worth, at least
 * 1). Excess messages are not handled; [after_message](#after_message) sees
 * `rate_limited`. Kept in C: survives reloads. */
CONFIG_KEY("limits.message_rate", limit_message_rate, rate, 0)
/* bytes all partly received messages together may hold while they are reassembled; a
 * connection whose message would pass it is closed with 1013 (try again later). 0 =
 * unbounded */
CONFIG_KEY("limits.reassembly_bytes", limit_reassembly_bytes, bytes, 268435456)
/* seconds of silence after which a draining server closes a client (see
 * docs/operations.md) */
CONFIG_KEY("drain_timeout", drain_timeout, seconds, 30)
/* request body limit for HTTP routes and the publish API; beyond, 413 */
CONFIG_KEY("http_max_body", http_max_body, count, 1048576)
/* seconds one call into the script (handler, hook, timer, route, the script's load) may
 * run: past it the call fails with a `script_timeout` error; a loop that cannot be
 * interrupted (JIT-compiled) makes the server log it and exit with status 3, one more
 * `script_timeout` later, for its supervisor to restart it; 0 disables */
CONFIG_KEY("script_timeout", script_timeout, seconds, 2)
/* bytes the script's Lua state may hold; an allocation past it fails with "not enough
 * memory" in the script; 0 = no limit */
CONFIG_KEY("script_memory", script_memory, bytes, 1073741824)
/* `--log-level` wins */
CONFIG_KEY("log.level", , log_level, "info", debug, info, warn, error)
/* `"json"`: one object per line; `--log-format` wins */
CONFIG_KEY("log.format", , log_format, "text", text, json)
/* enables `POST /api/publish` and `GET /api/stats` with `Authorization: Bearer KEY`
 * (docs/operations.md) */
CONFIG_KEY("api_key", api_key, string, NONE)
/* relay every send through Redis or NATS to the other nodes (see
 * [architecture](architecture.md#cluster)); read at startup, a reload does not change
 * the cluster.* keys */
CONFIG_KEY("cluster.adapter", cluster_adapter, enum, NONE, redis, nats)
/* the broker: `redis://host:port`, `redis://:password@host:port/db`,
 * `redis-cluster://host:port,host:port` (a Redis Cluster: sharded pub/sub, with
 * `adapter = "redis"`) or `nats://[user:password@]host:port[,host:port...]` (a NATS
 * cluster's servers); its scheme names the adapter */
CONFIG_KEY("cluster.url", cluster_url, url, NONE)
/* this node's name (1 to 255 bytes) in ids and presence; default `"HOSTNAME-PID"` */
CONFIG_KEY("cluster.node_id", cluster_node_id, node_id, NONE)
/* seconds between presence heartbeats; 0: none */
CONFIG_KEY("cluster.heartbeat", cluster_heartbeat, seconds, 5)
/* starts every broker channel name: letters, digits, `_` and `-` */
CONFIG_KEY("cluster.channel_prefix", cluster_channel_prefix, channel_prefix, "luahub")
/* seconds an outbound call (`hub.http.request`, a Redis command) may take when it does
 * not say (`timeout =`); then it fails with `timeout` */
CONFIG_KEY("outbound.timeout", outbound_timeout, seconds, 10)
/* seconds to connect (TCP and TLS) to an HTTP backend, or to a Redis server (with its
 * AUTH and SELECT); then `connect` */
CONFIG_KEY("outbound.connect_timeout", outbound_connect_timeout, seconds, 5)
/* bytes of one HTTP response body or Redis reply; a larger one fails with `too_large` */
CONFIG_KEY("outbound.max_response_bytes", outbound_max_response_bytes, bytes, 8388608)
/* outbound calls (HTTP, Redis, NATS) in flight at once; beyond, a call fails at once with
 * `busy` */
CONFIG_KEY("outbound.max_in_flight", outbound_max_in_flight, count, 10000)
/* open connections to one HTTP host (kept and reused); calls beyond wait for one */
CONFIG_KEY("outbound.connections_per_host", outbound_connections_per_host, count, 64)
/* verify the TLS certificate and host name of HTTPS backends */
CONFIG_KEY("outbound.tls_verify", outbound_tls_verify, boolean, true)
/* CA bundle (PEM) for HTTPS backends; default: the system's */
CONFIG_KEY("outbound.ca_file", outbound_ca_file, string, NONE)
/* messages of one client held while its handler waits; past it the server stops reading
 * from that client (TCP backpressure) until they are handled. Nothing is dropped */
CONFIG_KEY("limits.waiting_messages", limit_waiting_messages, count, 64)
/* `SO_REUSEPORT`, to run several processes on one port. Read at start only. */
CONFIG_KEY("reuse_port", reuse_port, boolean, false)
/* reload the script when its file changes (after it stopped changing for 200 ms), as
 * `SIGHUP` does */
CONFIG_KEY("watch", watch, boolean, false)
/* shared dictionaries, `{ name = size }`: state in C memory that every reload keeps (see
 * [Shared dictionaries](#shared-dictionaries)). Names are identifiers; a size is bytes or
 * a string with a `k`, `m` or `g` suffix, from `"8k"` to `"16g"`, the bound of all the
 * dictionary holds. A reload may resize one (the most recently used keys that fit stay)
 * and hides the ones it no longer declares */
CONFIG_KEY("shared", , shared, NONE)
/* publications every room keeps for [hub.history](#history) (`hub.publish` appends them);
 * 0: rooms keep no history unless `history.rooms` says so */
CONFIG_KEY("history.size", history_size, count, 0)
/* seconds a publication is kept; 0: no age bound (only `size` and `max_bytes`) */
CONFIG_KEY("history.ttl", history_ttl, seconds, 0)
/* bytes of publications (each one's data plus 48) all rooms together keep on a single
 * node; past it the oldest publications of the room published to least recently are
 * dropped. 0: no bound. In a cluster, Redis keeps the history and its own memory rules */
CONFIG_KEY("history.max_bytes", history_max_bytes, bytes, 67108864)
/* `{ ["name"] = { size = N, ttl = S }, ["prefix*"] = {...} }`: bounds for one room, or
 * every room whose name starts with the prefix; an exact name wins, then the longest
 * prefix; a bound left out is `history.size` / `history.ttl` */
CONFIG_KEY("history.rooms", , history_rooms, NONE)
