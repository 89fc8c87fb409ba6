/* history_api.c — hub.publish and hub.history's way down: the lh_history_* functions of
 * lh_api.h over this process's history (history.c), with the loop's clock, the bounds
 * the config gives each room (history_policy.c), and a sweep once a second that drops
 * expired publications and frees rooms left with neither publications nor members.
 * In a cluster the history lives in the broker and lua/luahub/history.lua talks to it;
 * lh_history_broker tells it where. */
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "group.h"
#include "history.h"
#include "history_policy.h"
#include "lh_api.h"
#include "lh_errors.h"
#include "metrics.h"
#include "room.h"

#define SWEEP_SECONDS 1.0

static ev_timer sweeper;
/* What the last append or read left, for lh_history_position and lh_history_entry. */
static struct history_read last;

static double now(void) { return ev_now(EV_DEFAULT); }

/* Prefixes under which other core rooms watch a history room: the room protocol's
 * subscribers of R are members of "~R" (lua/luahub/protocol/rooms.lua), not of R. */
#define WATCH_PREFIXES_MAX 8
#define WATCH_PREFIX_MAX 32
static struct { char name[WATCH_PREFIX_MAX]; size_t len; } watch[WATCH_PREFIXES_MAX];
static int nwatch;

static int group_has_members(const char *name, size_t len)
{
    struct group *g = group_find(&room_index, name, len);
    return g && g->count > 0;
}

/* A room keeps its position while it has members here, in R or in a watching room: they
 * are the clients that will ask to recover from it. Freed, it would come back with a new
 * epoch, and a client that missed nothing would be told it cannot recover. */
static int has_members(const char *name, size_t len)
{
    static char *full;               /* grown to the longest name seen: the sweep runs often */
    static size_t cap;
    if (group_has_members(name, len)) return 1;
    if (nwatch && cap < WATCH_PREFIX_MAX + len) {
        char *p = realloc(full, WATCH_PREFIX_MAX + len);
        if (!p) return 1;            /* keeping a room is the safe answer */
        full = p;
        cap = WATCH_PREFIX_MAX + len;
    }
    for (int i = 0; i < nwatch; i++) {
        memcpy(full, watch[i].name, watch[i].len);
        memcpy(full + watch[i].len, name, len);
        if (group_has_members(full, watch[i].len + len)) return 1;
    }
    return 0;
}

int lh_history_watch(const char *prefix, size_t len)
{
    if (len == 0 || len >= WATCH_PREFIX_MAX) return LH_ERR_BAD_ARG;
    for (int i = 0; i < nwatch; i++)
        if (watch[i].len == len && memcmp(watch[i].name, prefix, len) == 0) return LH_OK;
    if (nwatch == WATCH_PREFIXES_MAX) return LH_ERR_BAD_ARG;
    memcpy(watch[nwatch].name, prefix, len);
    watch[nwatch++].len = len;
    return LH_OK;
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    last = (struct history_read){ .count = 0 };   /* the sweep may free the room it read */
    history_set_max_bytes(config.history_max_bytes);
    history_sweep(now(), history_policy, has_members);
    if (!history_rooms()) ev_timer_stop(loop, w);
}

/* The sweep runs while there are rooms to sweep: started by whatever creates one. */
static void sweep_soon(void)
{
    if (ev_is_active(&sweeper)) return;
    ev_timer_init(&sweeper, sweep_cb, SWEEP_SECONDS, SWEEP_SECONDS);
    ev_timer_start(EV_DEFAULT, &sweeper);
}

uint32_t lh_history_bounds(const char *room, size_t len, double *ttl)
{
    struct history_bounds b = history_policy(room, len);
    *ttl = b.ttl;
    return b.size;
}

int lh_history_append(const char *room, size_t rlen, const char *data, size_t len, int binary)
{
    history_set_max_bytes(config.history_max_bytes);
    last = (struct history_read){ .count = 0 };
    int rc = history_append(room, rlen, data, len, binary, history_policy(room, rlen), now(), &last.now);
    if (rc == LH_OK) sweep_soon();
    return rc;
}

int lh_history_read(const char *room, size_t rlen, const char *epoch, size_t elen, uint64_t since,
                    uint32_t limit)
{
    struct history_pos from = { .offset = since };
    if (epoch) {
        /* one that cannot be ours (too long, a NUL inside; ours are hex) matches none */
        if (elen > HISTORY_EPOCH_MAX || memchr(epoch, 0, elen)) memcpy(from.epoch, "-", 2);
        else memcpy(from.epoch, epoch, elen);
    }
    int rc = history_read(room, rlen, epoch ? &from : NULL, limit, history_policy(room, rlen), now(), &last);
    if (history_rooms()) sweep_soon();
    return rc == LH_OK ? (int)last.count : rc;
}

const char *lh_history_position(uint64_t *offset)
{
    *offset = last.now.offset;
    return last.now.epoch;
}

const char *lh_history_entry(uint32_t i, uint64_t *offset, int *binary, size_t *len)
{
    const struct history_entry *e = history_read_at(&last, i);
    if (!e) return NULL;
    *offset = e->offset;
    *binary = e->binary;
    *len = e->len;
    return e->data;
}

void lh_history_count(int event)
{
    if (event == 0) metrics.history_appends++;
    else if (event == 1) metrics.history_recoveries++;
    else if (event == 2) metrics.history_unrecoverable++;
}

const char *lh_history_broker(const char **prefix) { return cluster_broker_url(prefix); }
