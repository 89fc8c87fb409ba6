#include "hub.h"

#include <ev.h>
#include <stdlib.h>

#include "conn.h"
#include "log.h"
#include "lua_bridge.h"
#include "utf8.h"
#include "ws.h"

/* Dense array of open clients: broadcast walks it linearly; removal swaps the last
 * element into the hole (hub_index keeps that O(1)). */
static struct conn **clients;
static uint32_t nclients, cap_clients;
static uint64_t dropped_total;

void hub_add(struct conn *c)
{
    if (c->in_hub) return;
    if (nclients == cap_clients) {
        uint32_t cap = cap_clients ? cap_clients * 2 : 1024;
        struct conn **a = realloc(clients, cap * sizeof *a);
        if (!a) {
            log_error(c->id, "out of memory adding a client");
            conn_kill(c, 1011);
            return;
        }
        clients = a;
        cap_clients = cap;
    }
    c->hub_index = nclients;
    clients[nclients++] = c;
    c->in_hub = 1;
}

void hub_remove(struct conn *c)
{
    if (!c->in_hub) return;
    uint32_t i = c->hub_index;
    clients[i] = clients[--nclients];
    clients[i]->hub_index = i;
    c->in_hub = 0;
    lua_bridge_on_close(c, ws_final_code(c));
}

uint32_t hub_count(void) { return nclients; }

void hub_note_dropped(struct conn *c, struct frame *f)
{
    dropped_total++;
    log_debug(c->id, "send of %u bytes dropped: queue full", f->payload_len);
}

uint64_t lh_dropped_total(void) { return dropped_total; }

static int opcode_for(const char *data, size_t len, int binary)
{
    if (binary) return WS_BINARY;
    /* A text frame must carry valid UTF-8 or conforming clients fail the connection. */
    return utf8_valid((const uint8_t *)data, len) ? WS_TEXT : -1;
}

int lh_send(uint64_t id, const char *data, size_t len, int binary)
{
    struct conn *c = conn_by_id(id);
    if (!c || !c->in_hub) return CONN_ERR_CLOSED;
    int op = opcode_for(data, len, binary);
    if (op < 0) return CONN_ERR_BAD_ARG;
    struct frame *f = frame_ws(op, data, len);
    if (!f) return CONN_ERR_NOMEM;
    int r = conn_send(c, f);
    frame_unref(f);
    return r;
}

int lh_close(uint64_t id, int code, const char *reason, size_t reason_len)
{
    struct conn *c = conn_by_id(id);
    if (!c || !c->in_hub) return CONN_ERR_CLOSED;
    if (reason_len && !utf8_valid((const uint8_t *)reason, reason_len)) return CONN_ERR_BAD_ARG;
    return conn_close(c, code, reason, reason_len);
}

int lh_broadcast(const char *data, size_t len, int binary, uint64_t except_id)
{
    int op = opcode_for(data, len, binary);
    if (op < 0) return CONN_ERR_BAD_ARG;
    struct frame *f = frame_ws(op, data, len);
    if (!f) return CONN_ERR_NOMEM;
    int sent = 0;
    for (uint32_t i = 0; i < nclients; i++) {
        struct conn *c = clients[i];
        if (c->id == except_id) continue;
        if (conn_send(c, f) == CONN_OK) sent++;
    }
    frame_unref(f);
    return sent;
}

uint32_t lh_count(void) { return nclients; }

int lh_is_open(uint64_t id)
{
    struct conn *c = conn_by_id(id);
    return c && c->in_hub && !c->want_close && !c->close_queued && !c->killed;
}

int lh_remote_addr(uint64_t id, char *buf, size_t len)
{
    struct conn *c = conn_by_id(id);
    if (!c) return CONN_ERR_CLOSED;
    conn_remote_addr(c, buf, len);
    return CONN_OK;
}

void lh_log(int level, uint64_t client, const char *msg, size_t len, const char *fields_json)
{
    if (level < LOG_DEBUG || level > LOG_ERROR) level = LOG_INFO;
    log_write((enum log_level)level, client, msg, len, fields_json);
}

double lh_now(void) { return ev_now(EV_DEFAULT); }
