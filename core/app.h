/* app.h — the wiring: which layer hears which, registered once at start-up. */
#ifndef LUAHUB_APP_H
#define LUAHUB_APP_H

/* The transport reports to the hub and to plain HTTP; the hub, the timers and plain HTTP
 * report to the script bridge. Before the script is loaded. */
void app_wire(void);
/* With a cluster (after cluster_start): the hub relays through it and ids carry its tag. */
void app_wire_cluster(void);

#endif
