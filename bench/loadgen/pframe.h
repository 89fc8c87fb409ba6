/* pframe.h — the room protocol's server frames (docs/protocol.md) as the storm
 * client reads them: replies ({"id", "result" | "error"}) and publication pushes
 * ({"push":"pub", room, epoch, offset, data}).
 *
 * The JSON text is walked in place: a field is a span of the caller's buffer,
 * nothing is copied or allocated, and only the fields the storm checks are
 * picked out. Strings are spans of their raw contents (escapes left as they
 * are: epochs, room names and the loadgen's stamps contain none). */
#ifndef PFRAME_H
#define PFRAME_H

#include <stddef.h>
#include <stdint.h>

struct pframe_span {
    const uint8_t *p;
    size_t len;
};

enum pframe_kind { PFRAME_OTHER = 0, PFRAME_RESULT, PFRAME_ERROR, PFRAME_PUB };

struct pframe {
    int kind;
    int64_t id;                  /* a reply's id; -1 when absent or not a whole number */
    struct pframe_span epoch;    /* a push's, or the result's */
    int has_offset;
    uint64_t offset;             /* a push's, or the result's (a subscribe: the room's now) */
    int recovered;               /* result: -1 absent, 0 false, 1 true */
    struct pframe_span pubs;     /* result: the publications array, brackets included */
    struct pframe_span data;     /* push: the data value as JSON text */
    struct pframe_span code;     /* error: its code */
};

/* Fills f from one frame. Returns 0, or -1 when the text is not a JSON object
 * (or nests deeper than 32, or a field the storm reads has the wrong type). */
int pframe_parse(const uint8_t *s, size_t len, struct pframe *f);

/* Walks a publications array (pframe.pubs): each call gives the next entry's
 * offset and data. Returns 1, 0 at the end, -1 on a malformed entry. */
struct pframe_cursor {
    const uint8_t *p, *end;
    int state;                   /* 0 before the opening bracket, 1 inside, 2 past the end */
};
void pframe_pubs_begin(struct pframe_cursor *c, struct pframe_span pubs);
int pframe_pubs_next(struct pframe_cursor *c, uint64_t *offset, struct pframe_span *data);

/* Whether a span holds exactly the NUL-terminated text s. */
int pframe_span_is(struct pframe_span v, const char *s);

#endif
