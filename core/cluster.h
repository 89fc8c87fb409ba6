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
 * a channel is a valid NATS subject and names never collide.
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

#include "envelope.h"

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
};

struct cluster_adapter {
    const struct cluster_adapter_ops *ops;
};

/* A parsed broker URL: scheme://[user][:password]@host[:port][/db]. host is numeric
 * (resolved at startup). Strings are NUL-terminated, empty when absent. */
struct cluster_url {
    char scheme[8];
    char host[64];
    int port;
    char user[128], password[256];
    int db;
};

/* Parses and resolves (getaddrinfo, at startup only). 0, or -1 with the cause in err. */
int cluster_url_parse(const char *url, struct cluster_url *u, char *err, size_t errlen);

struct cluster_adapter *cluster_redis_new(const struct cluster_url *u, const struct cluster_events *ev);
struct cluster_adapter *cluster_nats_new(const struct cluster_url *u, const struct cluster_events *ev);

/* ------------------------------------------------------------------ the core's side */

/* Bits ORed into every connection id (0 without a cluster); see conn_new. */
extern uint64_t cluster_id_bits;
#define CLUSTER_TAG_SHIFT 41
#define CLUSTER_TAG_MASK 0xfffu
#define CLUSTER_GEN_MASK 0x1fffffu     /* connection id generations wrap at 21 bits */

/* Reads config.cluster_*, starts connecting and the heartbeat timer. Does nothing without
 * cluster.adapter. -1 with the cause in err on a bad setting (bad URL). */
int cluster_start(char *err, size_t errlen);
void cluster_stop(void);
/* NULL without a cluster; "ok" while the broker is connected, else "degraded". */
const char *cluster_status(void);

enum cluster_scope { CLUSTER_ROOM, CLUSTER_USER };
/* room.c: the node's first member of a room / connection of a user appeared (on = 1), or
 * its last one is leaving (on = 0): subscribe to or unsubscribe from that channel. */
void cluster_interest(enum cluster_scope scope, const char *name, size_t len, int on);

/* hub.c, after the local fan-out: relays the operation to the other nodes when local is
 * not an error, and returns local unchanged. target is the room or user (NULL for a
 * broadcast). */
int cluster_relay(int local, enum envelope_kind kind, const char *target, size_t tlen,
                  const char *data, size_t len, int binary, const uint64_t *except, size_t nexcept);
/* hub.c, for a client id that is not open here: relays to its node. LH_OK when
 * published, LH_ERR_CLOSED when the id is this node's (or there is no cluster). */
int cluster_relay_client(uint64_t id, const char *data, size_t len, int binary);

/* FFI (lua/luahub/ffi.lua). */
/* Members of room on every live node; with room NULL, distinct rooms over all nodes. */
/* Live nodes, this one first. lh_cluster_node fills the counts and returns the id. */

#endif
