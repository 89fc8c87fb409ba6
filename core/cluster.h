/* cluster.h — scale-out: every hub send is relayed through a broker (Redis or NATS) to
 * the other nodes, which deliver it to their own clients. This file is the
 * adapter-neutral part: the adapter interface, channels and interest-based subscriptions,
 * relay and receive, presence (heartbeats, eviction), reconnection with backoff.
 *
 * Channels (prefix = cluster.channel_prefix, default "luahub"):
 *   PREFIX.all          broadcasts and heartbeats; every node subscribes
 *   PREFIX.node.TAG     sends to one client; TAG is the node's client-id tag in hex
 *   PREFIX.room.NAME    a room; subscribed while the node has a member in it
 *   PREFIX.user.NAME    a user id; subscribed while the node has a connection of it
 * NAME keeps [A-Za-z0-9_-] and writes every other byte as %XX (an empty name is "~"), so
 * a channel is a valid NATS subject and names never collide. On a Redis Cluster each is
 * a sharded channel living on the master of its hash slot (a name has no braces, so no
 * hash tag: rooms and users spread over the shards).
 *
 * Client ids are cluster-wide: their bits 41..52 carry the node's tag (a hash of its node
 * id), so a send to a client on another node goes to that node's channel only.
 *
 * Nothing here blocks the loop: adapters connect without blocking, a broker host name is
 * resolved once at startup, and a lost broker only degrades relaying. */
#ifndef LUAHUB_CLUSTER_H
#define LUAHUB_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "broker_url.h"
#include "envelope.h"
#include "hub.h"

/* ------------------------------------------------------------------ adapter interface */

struct cluster_adapter;

/* What an adapter reports to the core. Each may be called from inside the adapter's own
 * I/O callbacks; none of them calls back into the adapter synchronously except
 * `up`, which subscribes (the adapter must accept that). */
struct cluster_events {
    void (*up)(void);                              /* connected and able to subscribe */
    void (*down)(const char *why);                 /* lost or failed; the core retries */
    void (*message)(const char *channel, size_t clen, const uint8_t *data, size_t len);
    void (*error)(const char *why);                /* a publish or command failed */
    /* the answer to a request (status 0, or a NATS status header's code: 503 means no
     * responders); data is borrowed for the call */
    void (*reply)(uint64_t token, int status, const uint8_t *data, size_t len);
};

/* Every operation returns 0, or -1 when it could not be started (not connected, output
 * buffer over its bound). Channels are borrowed for the call only. */
struct cluster_adapter_ops {
    const char *name;
    int (*connect)(struct cluster_adapter *a);     /* non-blocking; reports up or down */
    int (*publish)(struct cluster_adapter *a, const char *channel, size_t clen,
                   const uint8_t *data, size_t len);
    int (*subscribe)(struct cluster_adapter *a, const char *channel, size_t clen);
    int (*unsubscribe)(struct cluster_adapter *a, const char *channel, size_t clen);
    void (*close)(struct cluster_adapter *a);      /* drops the connection and frees a */
    /* publishes with a reply subject of its own; the answer comes to events.reply with
     * token. NULL for an adapter without request/reply (Redis). */
    int (*request)(struct cluster_adapter *a, const char *subject, size_t slen,
                   const uint8_t *data, size_t len, uint64_t token);
};

struct cluster_adapter {
    const struct cluster_adapter_ops *ops;
};

/* u[0..n): the servers cluster.url lists (one for redis://; the seeds of a Redis Cluster;
 * the servers of a NATS cluster, tried in turn). */
struct cluster_adapter *cluster_redis_new(const struct broker_url *u, const struct cluster_events *ev);
struct cluster_adapter *cluster_redis_shards_new(const struct broker_url *u, int n,
                                                 const struct cluster_events *ev);
struct cluster_adapter *cluster_nats_new(const struct broker_url *u, int n, const struct cluster_events *ev);

/* ------------------------------------------------------------------ the core's side */

/* Reads config.cluster_*, starts connecting and the heartbeat timer. Does nothing without
 * cluster.adapter. -1 with the cause in err on a bad setting (bad URL). */
int cluster_start(char *err, size_t errlen);
void cluster_stop(void);
/* NULL without a cluster; "ok" while the broker is connected, else "degraded". */
const char *cluster_status(void);
/* This node's tag, shifted into place for client ids (conn_set_id_tag); 0 without a cluster. */
uint64_t cluster_id_tag(void);

/* The hub's relay, registered with hub_set_relay (and cluster_interest with
 * room_on_interest) once the cluster started. */
extern const struct hub_relay cluster_relay;
/* Subscribes to (on = 1) or from a room's or user's channel (scope: enum hub_target). */
void cluster_interest(int scope, const char *name, size_t len, int on);

/* The running cluster's broker URL and channel prefix (as they were at its start), for
 * what keeps state in the broker (room history); NULL without a cluster. */
const char *cluster_broker_url(const char **prefix);
/* Request/reply over the broker (NATS only; what JetStream's API is): cluster_request
 * sends one (0, or -1 when there is no NATS connection up or the output is full); its
 * answer comes to handler.reply with the token. handler.lost runs when the connection
 * goes down or an attempt fails: answers to requests in flight will not come;
 * handler.up when it is up (again). One handler (outbound_nats.c), set at its first use. */
struct cluster_reply_handler {
    void (*reply)(uint64_t token, int status, const uint8_t *data, size_t len);
    void (*lost)(const char *why);
    void (*up)(void);
};
void cluster_set_reply_handler(const struct cluster_reply_handler *h);
int cluster_request(const char *subject, size_t slen, const uint8_t *data, size_t len, uint64_t token);
/* The adapter's cause of the last failure, for messages ("" while up). */
const char *cluster_down_cause(void);
/* 1 while a connection attempt is under way (the first, or one after a backoff). */
int cluster_connecting(void);
/* cluster.node_id, else "HOSTNAME-PID"; fixed once the cluster starts. A worker of
 * `--workers` (cluster_set_worker) is "BASE-wI", BASE being that name with the master's
 * PID, and its client-id tag differs from its siblings'. */
const char *cluster_node_id(void);
/* What cluster_node_id will be when the script's configured node id (NULL: none) is
 * applied; the running cluster's own id once it started. */
const char *cluster_node_id_for(const char *configured);
/* This process is worker index of the master master_pid (set before the script loads). */
void cluster_set_worker(int index, int master_pid);
/* 1 for an id of another node's client. */
int cluster_is_remote(uint64_t id);
/* Clients on every live node. */
double cluster_global_count(void);
/* Members of room on every live node; with room NULL, distinct rooms over all nodes. */
double cluster_global_room_count(const char *room, size_t len);
/* The members of room on the other live nodes, as their last presence reports (one
 * heartbeat old at most) list them; node is the index cluster_node gives that node. */
typedef void (*cluster_member_fn)(void *ctx, int node, uint64_t id, const char *user, size_t ulen);
void cluster_room_members(const char *room, size_t len, cluster_member_fn fn, void *ctx);
/* Live nodes, this one first. cluster_node fills the counts and returns the id. */
int cluster_nodes(void);
const char *cluster_node(int i, size_t *len, double *clients, double *rooms, double *age);

#endif
