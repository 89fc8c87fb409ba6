/* history.h — room history in this process's memory: per room, a bounded ring of the
 * publications made to it, each at a stream position (epoch, offset). A leaf: the caller
 * passes the clock, the room's bounds (history_policy.h) and who may not be freed, so the
 * store is tested on its own (spec/c/history_test.c).
 *
 * Positions. A room's offsets start at 1 and grow by one per publication. Its epoch names
 * one unbroken run of offsets: it is made when the room's state is created (the process's
 * random epoch, a dot, a counter), so a restart, or a room freed and created again, gives
 * a new one, and a position of the old run is never mistaken for one of the new.
 *
 * Bounds. A room keeps at most `size` publications and none older than `ttl` seconds (0:
 * no age bound); all rooms together keep at most max_bytes of entries: past it, the
 * oldest publications of the room published to least recently go first. A room whose
 * publications have all gone keeps its position while it has members (keep() says so);
 * then it is freed, and its next publication starts a new epoch. */
#ifndef LUAHUB_HISTORY_H
#define LUAHUB_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define HISTORY_EPOCH_MAX 24

struct history_bounds {
    uint32_t size;                   /* publications kept; 0: the room has no history */
    double ttl;                      /* seconds; 0: no age bound */
};

struct history_pos {
    char epoch[HISTORY_EPOCH_MAX + 1];
    uint64_t offset;                 /* of the last publication; 0 before the first */
};

/* One kept publication; data holds len bytes. */
struct history_entry {
    uint64_t offset;
    double time;
    uint32_t len;
    uint8_t binary;
    char data[];
};

/* The process's epoch (8 random hex digits, made once): the position of a room without
 * history, and the start of every room epoch. */
const char *history_process_epoch(void);

/* Appends a publication to room (created with bounds b when new) and trims it to b;
 * then trims all rooms to max_bytes (history_set_max_bytes). LH_OK with its position in
 * *pos, LH_ERR_NOMEM, or LH_ERR_BAD_ARG when b.size is 0 (no history). */
int history_append(const char *room, size_t rlen, const char *data, size_t len, int binary,
                   struct history_bounds b, double now, struct history_pos *pos);

/* A read of a room's history: its current position, and the entries asked for, oldest
 * first (history_read_at). Valid until the next call into this file. */
struct history_read {
    struct history_pos now;
    uint32_t count;
    const void *room;                /* private */
    uint32_t first;                  /* private: ring index of the first entry */
};

/* The publications after since (offsets since->offset + 1 on; with since NULL, the last
 * ones), at most limit of them (0: all kept). A room with history is created by the read
 * (so a reader's position before the first publication stays valid); one without history
 * is at (process epoch, 0). LH_OK, LH_ERR_NOMEM, or LH_ERR_UNRECOVERABLE (r->now still
 * set) when since is of another epoch, ahead of the room, or older than what it keeps. */
int history_read(const char *room, size_t rlen, const struct history_pos *since, uint32_t limit,
                 struct history_bounds b, double now, struct history_read *r);
const struct history_entry *history_read_at(const struct history_read *r, uint32_t i);

/* Drops what is past each room's age bound (bounds(name) gives them now, as the config
 * says), and frees rooms left with nothing for which keep(name) is 0. */
void history_sweep(double now, struct history_bounds (*bounds)(const char *name, size_t len),
                   int (*keep)(const char *name, size_t len));

/* The bound of all rooms' entries (data plus HISTORY_ENTRY_OVERHEAD each); 0: none. */
#define HISTORY_ENTRY_OVERHEAD 48
void history_set_max_bytes(uint64_t max_bytes);

uint64_t history_bytes(void);
uint64_t history_entries(void);
uint32_t history_rooms(void);

/* Frees everything (tests, and the exit under ASan). */
void history_free_all(void);

#endif
