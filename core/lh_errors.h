/* lh_errors.h — the error codes of hub operations (send, close, rooms, users, metadata,
 * shared dictionaries, room history), as C returns them and as the Lua API names them. One line per
 * code, in the form
 *     LH_ERR_NAME = -N,   / * lua_name: message * /
 * which scripts/gen_contract.lua reads to build the Lua table and the docs table: this
 * file is the only place a code is defined. */
#ifndef LUAHUB_LH_ERRORS_H
#define LUAHUB_LH_ERRORS_H

enum lh_err {
    LH_OK = 0,
    LH_ERR_CLOSED = -1,          /* closed: the connection is closed or closing */
    LH_ERR_NOT_FOUND = -2,       /* not_found: no such client */
    LH_ERR_QUEUE_FULL = -3,      /* queue_full: the client's send queue is full; the message was dropped */
    LH_ERR_NOMEM = -4,           /* no_memory: out of memory */
    LH_ERR_BAD_ARG = -5,         /* bad_argument: invalid argument */
    LH_ERR_ROOM_FULL = -6,       /* room_full: the room has reached limits.clients_per_room */
    LH_ERR_MAX_ROOMS = -7,       /* max_rooms: the client has reached limits.rooms_per_client */
    LH_ERR_NOT_IN_ROOM = -8,     /* not_in_room: the client is not in that room */
    LH_ERR_ALREADY_IN_ROOM = -9, /* already_in_room: the client is already in that room */
    LH_ERR_USER_LIMIT = -10,     /* user_limit: the user has reached limits.per_user connections */
    LH_ERR_BUSY = -11,           /* busy: outbound.max_in_flight outbound calls are in flight; this one was not started */
    LH_ERR_EXISTS = -12,         /* exists: the key exists already */
    LH_ERR_NOT_A_NUMBER = -13,   /* not_a_number: the value is not a number */
    LH_ERR_UNRECOVERABLE = -14,  /* unrecoverable: the publications since that position are no longer kept */
};

#endif
