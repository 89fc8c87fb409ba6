/* envelope.h — the binary wire format of one relayed hub operation between cluster
 * nodes. The payload travels as raw bytes after a small header (no JSON, no base64), so a
 * receiving node hands it to the WebSocket frame encoder as it is.
 *
 *   offset  size  field
 *   0       1     version (ENVELOPE_VERSION)
 *   1       1     kind (enum envelope_kind)
 *   2       1     flags (ENVELOPE_FLAG_*)
 *   3       1     origin length n, 1..255
 *   4       n     origin node id
 *   4+n     2     target length t (big-endian): room name, user id, 8-byte client id, or 0
 *   6+n     t     target
 *   6+n+t   2     except count k (big-endian)
 *   8+n+t   8k    except client ids (big-endian u64)
 *   ...           payload: every remaining byte
 *
 * A heartbeat's payload is a presence report (heartbeat_*): client count, room count,
 * the sender's heartbeat interval, then (name, members) for as many rooms as fit. A
 * presence envelope follows each heartbeat: the members of the sender's rooms
 * (presence_*). */
#ifndef LUAHUB_ENVELOPE_H
#define LUAHUB_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_VERSION 1
#define ENVELOPE_FLAG_BINARY 0x01
#define ENVELOPE_ORIGIN_MAX 255
#define ENVELOPE_TARGET_MAX 65535
#define ENVELOPE_EXCEPT_MAX 65535
#define ENVELOPE_HEAD_MIN 8          /* version, kind, flags, origin len, target len, except count */

enum envelope_kind {
    ENVELOPE_BROADCAST = 1,
    ENVELOPE_ROOM,
    ENVELOPE_USER,
    ENVELOPE_CLIENT,
    ENVELOPE_HEARTBEAT,
    ENVELOPE_PRESENCE,
    ENVELOPE__KINDS                  /* one past the last kind */
};

/* Decoding errors, grouped in the 400s. */
enum envelope_err {
    ENVELOPE_ERR_SHORT = -401,       /* a length runs past the end of the buffer */
    ENVELOPE_ERR_VERSION = -402,
    ENVELOPE_ERR_KIND = -403,
    ENVELOPE_ERR_ORIGIN = -404,      /* empty origin */
};

/* Encoding reads origin, target, except (host-order ids) and payload, all borrowed.
 * Decoding points every field into the decoded buffer (which must outlive the struct);
 * except ids stay in wire order: read them with envelope_except_at. */
struct envelope {
    uint8_t kind, flags;
    const char *origin;
    size_t origin_len;
    const char *target;
    size_t target_len;
    const uint64_t *except;          /* encode only */
    const uint8_t *except_wire;      /* decode only */
    size_t nexcept;
    const char *payload;
    size_t payload_len;
};

/* Bytes envelope_encode will write, or 0 if a field is over its limit. */
size_t envelope_size(const struct envelope *e);
/* Writes e into out; returns the bytes written, or 0 if cap is too small or a field is
 * over its limit. */
size_t envelope_encode(const struct envelope *e, uint8_t *out, size_t cap);
/* Parses buf; 0, or a negative enum envelope_err (e is then unspecified). */
int envelope_decode(const uint8_t *buf, size_t len, struct envelope *e);
uint64_t envelope_except_at(const struct envelope *e, size_t i);
const char *envelope_strerror(int err);

/* The 8-byte target of a client envelope. */
void envelope_put_u64(uint8_t *out, uint64_t v);
uint64_t envelope_get_u64(const uint8_t *in);

/* Presence report carried by a heartbeat envelope. */
#define HEARTBEAT_HEAD 12            /* clients, rooms, interval_ms: u32 each */
struct heartbeat {
    uint32_t clients, rooms, interval_ms;
    const uint8_t *room_list;        /* (u16 name length, name, u32 members) repeated */
    size_t room_list_len;
};

/* Writes the fixed part; returns HEARTBEAT_HEAD, or 0 if cap is too small. */
size_t heartbeat_encode_head(const struct heartbeat *h, uint8_t *out, size_t cap);
/* Appends one room entry; returns its size, or 0 if it does not fit in cap. */
size_t heartbeat_encode_room(const char *name, size_t len, uint32_t members, uint8_t *out, size_t cap);
/* 0, or ENVELOPE_ERR_SHORT when the report or one of its room entries is truncated. */
int heartbeat_decode(const char *payload, size_t len, struct heartbeat *h);
/* Iterates a decoded room list: *pos starts at 0. Returns 1 and fills the entry, or 0 at the end. */
int heartbeat_next_room(const struct heartbeat *h, size_t *pos, const char **name, size_t *len,
                        uint32_t *members);

/* Members of a node's rooms, carried by a presence envelope:
 *   (u16 room length, room, u32 n, n x (u64 client id, u16 user length, user id)) repeated */
struct presence_room {
    const char *name;
    size_t len;
    uint32_t members;
    const uint8_t *list;             /* the n member entries */
};

/* Appends a room head (its members follow); its size, or 0 if it does not fit in cap. */
size_t presence_encode_room(const char *name, size_t len, uint32_t members, uint8_t *out, size_t cap);
/* Appends one member; its size, or 0 if it does not fit in cap. */
size_t presence_encode_member(uint64_t id, const char *user, size_t ulen, uint8_t *out, size_t cap);
/* 0 when the whole report is well formed (every count matches the entries), else
 * ENVELOPE_ERR_SHORT; the iterators below trust a validated report. */
int presence_validate(const uint8_t *p, size_t len);
/* Iterates the rooms of a validated report: *pos starts at 0; 1 and r filled, or 0 at the end. */
int presence_next_room(const uint8_t *p, size_t len, size_t *pos, struct presence_room *r);
/* Iterates a room's members: *pos starts at 0, i counts to r->members. */
void presence_member(const struct presence_room *r, size_t *pos, uint64_t *id, const char **user,
                     size_t *ulen);

#endif
