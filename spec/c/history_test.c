/* history_test.c — the room history store (core/history.c): bounds by count, age and
 * bytes, offsets, epochs, reads since a position, and the sweep. The clock is passed in,
 * so ages are exact. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "history.h"
#include "lh_errors.h"

static const struct history_bounds KEEP3 = { 3, 0 }, AGED = { 100, 10 }, NONE_KEPT = { 0, 0 };

static struct history_pos publish(const char *room, const char *data, struct history_bounds b, double now)
{
    struct history_pos pos = { "", 0 };
    int rc = history_append(room, strlen(room), data, strlen(data), 0, b, now, &pos);
    CHECK(rc == LH_OK, "append %s to %s", data, room);
    return pos;
}

static int read_since(const char *room, const struct history_pos *since, uint32_t limit,
                      struct history_bounds b, double now, struct history_read *r)
{
    return history_read(room, strlen(room), since, limit, b, now, r);
}

/* The data of the read's entries joined by commas, and whether their offsets follow on. */
static const char *joined(const struct history_read *r)
{
    static char buf[256];
    size_t n = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < r->count; i++) {
        const struct history_entry *e = history_read_at(r, i);
        if (i && e->offset != history_read_at(r, i - 1)->offset + 1) return "offsets skip";
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.*s", i ? "," : "", (int)e->len, e->data);
    }
    return buf;
}

static void offsets_and_epochs(void)
{
    struct history_pos a = publish("r", "a", KEEP3, 1), b = publish("r", "b", KEEP3, 2);
    CHECK(a.offset == 1 && b.offset == 2, "offsets start at 1 and grow by one (%llu, %llu)",
          (unsigned long long)a.offset, (unsigned long long)b.offset);
    CHECK(strcmp(a.epoch, b.epoch) == 0, "one room, one epoch");
    CHECK(strncmp(a.epoch, history_process_epoch(), 8) == 0 && a.epoch[8] == '.',
          "a room's epoch starts with the process's (%s)", a.epoch);
    struct history_pos o = publish("other", "x", KEEP3, 2);
    CHECK(o.offset == 1 && strcmp(o.epoch, a.epoch) != 0, "each room has its own offsets and epoch");
    CHECK(strlen(history_process_epoch()) == 8, "the process epoch is 8 hex digits");
}

static void reads(void)
{
    struct history_read r;
    int rc;
    struct history_pos at1 = publish("reads", "1", KEEP3, 1);
    publish("reads", "2", KEEP3, 1);
    rc = read_since("reads", &at1, 0, KEEP3, 1, &r);
    CHECK(rc == LH_OK && strcmp(joined(&r), "2") == 0,
          "since 1: the one after it (%s)", joined(&r));
    CHECK(r.now.offset == 2, "with the position now");
    struct history_pos now = r.now;
    rc = read_since("reads", &now, 0, KEEP3, 1, &r);
    CHECK(rc == LH_OK && r.count == 0, "since now: nothing missed");
    publish("reads", "3", KEEP3, 1);
    publish("reads", "4", KEEP3, 1);   /* 1 leaves: 3 kept */
    rc = read_since("reads", &at1, 0, KEEP3, 1, &r);
    CHECK(rc == LH_OK && strcmp(joined(&r), "2,3,4") == 0,
          "since 1 with 2..4 kept: all of them (%s)", joined(&r));
    struct history_pos at0 = { "", 0 };
    memcpy(at0.epoch, now.epoch, sizeof at0.epoch);
    rc = read_since("reads", &at0, 0, KEEP3, 1, &r);
    CHECK(rc == LH_ERR_UNRECOVERABLE && r.now.offset == 4,
          "since 0 with 1 gone past size: unrecoverable, with the position now");
    rc = read_since("reads", NULL, 0, KEEP3, 1, &r);
    CHECK(rc == LH_OK && strcmp(joined(&r), "2,3,4") == 0,
          "no since: all kept");
    rc = read_since("reads", NULL, 2, KEEP3, 1, &r);
    CHECK(rc == LH_OK && strcmp(joined(&r), "3,4") == 0,
          "no since, limit 2: the last two (%s)", joined(&r));
    rc = read_since("reads", &at1, 2, KEEP3, 1, &r);
    CHECK(rc == LH_OK && strcmp(joined(&r), "2,3") == 0,
          "since 1, limit 2: the first two after it (%s)", joined(&r));
    struct history_pos ahead = now;
    ahead.offset = 9;
    rc = read_since("reads", &ahead, 0, KEEP3, 1, &r);
    CHECK(rc == LH_ERR_UNRECOVERABLE, "a position ahead: unrecoverable");
    struct history_pos other = now;
    strcpy(other.epoch, "deadbeef.1");
    rc = read_since("reads", &other, 0, KEEP3, 1, &r);
    CHECK(rc == LH_ERR_UNRECOVERABLE, "another epoch: unrecoverable");
}

static void without_history(void)
{
    struct history_read r;
    int rc;
    struct history_pos pos;
    CHECK(history_append("plain", 5, "x", 1, 0, NONE_KEPT, 1, &pos) == LH_ERR_BAD_ARG,
          "a room without history takes no append");
    rc = read_since("plain", NULL, 0, NONE_KEPT, 1, &r);
    CHECK(rc == LH_OK && r.count == 0 && r.now.offset == 0 &&
          strcmp(r.now.epoch, history_process_epoch()) == 0, "is at (process epoch, 0)");
    struct history_pos now = r.now;
    rc = read_since("plain", &now, 0, NONE_KEPT, 1, &r);
    CHECK(rc == LH_OK, "since its position: nothing missed");
    now.offset = 1;
    rc = read_since("plain", &now, 0, NONE_KEPT, 1, &r);
    CHECK(rc == LH_ERR_UNRECOVERABLE, "since any other: unrecoverable");
}

static void by_age(void)
{
    struct history_read r;
    int rc;
    struct history_pos p1 = publish("aged", "old", AGED, 100);
    publish("aged", "new", AGED, 105);
    rc = read_since("aged", &p1, 0, AGED, 109.9, &r);
    CHECK(rc == LH_OK && strcmp(joined(&r), "new") == 0,
          "within ttl: kept");
    rc = read_since("aged", NULL, 0, AGED, 110, &r);
    CHECK(rc == LH_OK && strcmp(joined(&r), "new") == 0,
          "at ttl the first has gone (%s)", joined(&r));
    struct history_pos p0 = p1;
    p0.offset = 0;
    rc = read_since("aged", &p0, 0, AGED, 110, &r);
    CHECK(rc == LH_ERR_UNRECOVERABLE, "since before it: unrecoverable");
    rc = read_since("aged", &p1, 0, AGED, 110, &r);
    CHECK(rc == LH_OK && r.count == 1, "since it: recoverable");
    rc = read_since("aged", &p1, 0, AGED, 115, &r);
    CHECK(rc == LH_ERR_UNRECOVERABLE && r.now.offset == 2,
          "once the second has gone too: unrecoverable, the position kept (%llu)",
          (unsigned long long)r.now.offset);
}

static struct history_bounds aged_bounds(const char *name, size_t len) { return AGED; }
static int keep_busy(const char *name, size_t len) { return len == 4 && memcmp(name, "busy", 4) == 0; }

static void sweep(void)
{
    history_free_all();
    publish("busy", "a", AGED, 0);
    publish("idle", "a", AGED, 0);
    history_sweep(5, aged_bounds, keep_busy);
    CHECK(history_rooms() == 2 && history_entries() == 2, "within ttl the sweep keeps both");
    history_sweep(10, aged_bounds, keep_busy);
    CHECK(history_entries() == 0 && history_bytes() == 0, "past ttl it drops the publications");
    CHECK(history_rooms() == 1, "and frees the room without members (%u rooms)", history_rooms());
    struct history_read r;
    int rc;
    rc = read_since("busy", NULL, 0, AGED, 10, &r);
    CHECK(rc == LH_OK && r.now.offset == 1,
          "a room with members keeps its position");
    struct history_pos idle = publish("idle", "b", AGED, 10);
    CHECK(idle.offset == 1, "a freed room starts again at 1 ...");
    CHECK(strcmp(idle.epoch, r.now.epoch) != 0, "... in a new epoch (%s)", idle.epoch);
}

static void by_bytes(void)
{
    history_free_all();
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    history_set_max_bytes(3 * (999 + HISTORY_ENTRY_OVERHEAD));
    struct history_bounds b = { 100, 0 };
    publish("first", big, b, 1);
    publish("first", big, b, 2);
    publish("second", big, b, 3);
    CHECK(history_entries() == 3 && history_bytes() == 3 * (999 + HISTORY_ENTRY_OVERHEAD),
          "at the bound: all kept (%llu bytes)", (unsigned long long)history_bytes());
    publish("second", big, b, 4);
    struct history_read r;
    read_since("first", NULL, 0, b, 4, &r);
    CHECK(r.count == 1 && history_read_at(&r, 0)->offset == 2,
          "past it, the room published to least recently loses its oldest");
    publish("third", big, b, 5);
    read_since("first", NULL, 0, b, 5, &r);
    CHECK(r.count == 0 && r.now.offset == 2, "then its next (position kept)");
    CHECK(history_bytes() <= 3 * (999 + HISTORY_ENTRY_OVERHEAD), "the bound holds");
    history_set_max_bytes(10);
    CHECK(history_entries() == 1, "a bound below one publication keeps the newest alone (%llu)",
          (unsigned long long)history_entries());
    history_set_max_bytes(0);
}

static void ring_growth(void)
{
    history_free_all();
    struct history_bounds b = { 1000, 0 };
    char s[16];
    struct history_pos pos;
    int failed = 0;
    for (int i = 1; i <= 2500; i++) {
        int n = snprintf(s, sizeof s, "%d", i);
        failed += history_append("many", 4, s, (size_t)n, 0, b, i, &pos) != LH_OK || pos.offset != (uint64_t)i;
    }
    CHECK(!failed, "2500 appends, each at the next offset");
    struct history_read r;
    read_since("many", NULL, 0, b, 2500, &r);
    const struct history_entry *first = history_read_at(&r, 0), *lastone = history_read_at(&r, 999);
    CHECK(r.count == 1000 && first->offset == 1501 && memcmp(first->data, "1501", 4) == 0 &&
          lastone->offset == 2500, "a ring of 1000 after 2500 appends holds 1501..2500");
    struct history_bounds smaller = { 10, 0 };
    publish("many", "x", smaller, 2501);
    read_since("many", NULL, 0, smaller, 2501, &r);
    CHECK(r.count == 10 && history_read_at(&r, 0)->offset == 2492, "a smaller size trims it at the next append");
    history_free_all();
    CHECK(history_entries() == 0 && history_bytes() == 0 && history_rooms() == 0, "freed whole");
}

int main(void)
{
    offsets_and_epochs();
    reads();
    without_history();
    by_age();
    sweep();
    by_bytes();
    ring_growth();
    return check_summary();
}
