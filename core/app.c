/* app.c — the wiring. Layers, each talking upward only through the tables set here:
 *
 *   script bridge (lua_bridge)   cluster (relay)   plain HTTP (serve, stats, admin)
 *                  \                   |                 /
 *        hub: clients, rooms, users, metadata, fan-out, admission, backpressure
 *                                      |
 *        transport: listener, conn, ws, http, handshake, deflate
 *
 * Everything below a layer is called directly; everything above it only through these
 * callbacks. */
#include "app.h"

#include "admin.h"
#include "cluster.h"
#include "conn.h"
#include "hub.h"
#include "lua_bridge.h"
#include "room.h"
#include "serve.h"
#include "timer.h"

void app_wire(void)
{
    static const struct transport_events transport = {
        .admit = hub_on_admit,
        .open = hub_on_open,
        .message = hub_on_message,
        .close = hub_on_close,
        .http = serve_http,
        .release = hub_on_release,
    };
    static const struct hub_script_events script = {
        .admit = lua_bridge_admit,
        .open = lua_bridge_on_open,
        .message = lua_bridge_on_message,
        .close = lua_bridge_on_close,
        .dropped = lua_bridge_on_dropped,
    };
    static const struct serve_script routes = {
        .route = lua_bridge_http,
        .api = lua_bridge_api,
        .metrics_text = lua_bridge_metrics_text,
    };
    static const struct hub_admin admin = {
        .check = admin_ticket_check,
        .open = admin_open,
        .close = admin_close,
    };
    conn_init(&transport, sizeof(struct client));
    hub_set_script(&script);
    hub_set_admin(&admin);
    serve_set_script(&routes);
    timer_on_fire(lua_bridge_on_timer);
}

void app_wire_cluster(void)
{
    if (!cluster_status()) return;
    hub_set_relay(&cluster_relay);
    room_on_interest(cluster_interest);
    conn_set_id_tag(cluster_id_tag());
}
