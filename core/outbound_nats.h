/* outbound_nats.h — requests a script waits on over the cluster's NATS connection (the
 * lh_nats_request of lh_api.h is defined here): JetStream's API, which keeps room
 * history with the NATS adapter (lua/luahub/jetstream.lua).
 *
 * No connection of its own: a request goes out on the cluster adapter's connection
 * (cluster_request; core/cluster_nats.c speaks the protocol), with a reply subject on
 * that connection's inbox, so one NATS client serves relaying and requests, and a
 * failover of the cluster's connection is a failover of the requests too. A call is a
 * batch of requests written at once (a read of many publications is one round trip);
 * it ends when all are answered, at its deadline, when the connection is lost (`closed`),
 * or at once when there is no connection (`connect`). */
#ifndef LUAHUB_OUTBOUND_NATS_H
#define LUAHUB_OUTBOUND_NATS_H

/* Ends every call still waiting with `closed`; later calls fail with `closed`. Call it
 * once, at exit, before cluster_stop, while the Lua state still exists. */
void outbound_nats_shutdown(void);

#endif
