/* lua_fuzz — the Lua-facing JSON and route handling, reached the way peers reach it:
 *   publish: the input is the body of POST /api/publish (with the API key), sent over a
 *            socket; api.lua decodes it and delivers through hub.to_room / to_user /
 *            to_client / broadcast to a subscribed WebSocket client;
 *   config:  the input is a --config JSON object: merged over a script's table,
 *            validated by luahub.config and, when valid, applied to the core (what
 *            hub._setup does), in a Lua state of its own;
 *   http:    the input is a whole plain HTTP request (probes, /metrics, /api/, the fuzz
 *            script's /echo routes with their query parsing, static files).
 * Input: [settings] [read-split seed] [body, JSON or request...]
 *   settings bits 0-1  mode: 0 and 3 publish, 1 config, 2 http
 *                bit 2  compression on; the subscriber negotiates permessage-deflate
 *                bit 3  the subscriber's queue holds one message (drops, on_send_dropped)
 * Findings: a Lua error (logged at error level; or raised by the config driver), a
 * 500 answer, a config that validates but that the core refuses, a problem without
 * its key path; and, as in ws_fuzz, malformed output to the subscriber or anything
 * left behind after the hang-up. */
#include "fuzz.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

/* The steps of hub._setup for an override object, minus the script: Lua errors out,
 * a nil return in every other case. */
static const char lua_fuzz_config_driver[] =
    "local lua_dir = ...\n"
    "package.path = lua_dir .. '/?.lua;' .. lua_dir .. '/?/init.lua;' .. package.path\n"
    "local cjson = require 'cjson.safe'\n"
    "local config = require 'luahub.config'\n"
    "return function(s)\n"
    "  local over = cjson.decode(s)\n"
    "  if type(over) ~= 'table' then return end\n"
    "  local script = { send_queue = { policy = 'drop_oldest' }, limits = { connections = 10 } }\n"
    "  local cfg = config.merge(script, over)\n"
    "  local problems = config.validate(cfg)\n"
    "  for _, p in ipairs(problems) do\n"
    "    if type(p) ~= 'string' or not p:find('^config%.') then\n"
    "      error('problem without its key path: ' .. tostring(p))\n"
    "    end\n"
    "  end\n"
    "  if #problems == 0 then\n"
    "    local refused = config.apply(cfg)\n"
    "    if #refused > 0 then error('validated, then refused by the core: ' .. refused[1]) end\n"
    "  end\n"
    "end\n";

static lua_State *lua_fuzz_config_L;
static int lua_fuzz_config_check;   /* registry ref of the driver's function */

static void lua_fuzz_config_close(void) { lua_close(lua_fuzz_config_L); }

static lua_State *lua_fuzz_config_state(void)
{
    lua_State *L = lua_fuzz_config_L;
    if (L) return L;
    char lua_dir[PATH_MAX + 16];
    snprintf(lua_dir, sizeof lua_dir, "%s/../../lua", fuzz_dir);
    L = lua_fuzz_config_L = luaL_newstate();
    if (!L) fuzz_fail("luaL_newstate failed");
    atexit(lua_fuzz_config_close);
    luaL_openlibs(L);
    if (luaL_loadbuffer(L, lua_fuzz_config_driver, sizeof lua_fuzz_config_driver - 1, "=config_driver") != 0)
        fuzz_fail("config driver: %s", lua_tostring(L, -1));
    lua_pushstring(L, lua_dir);
    if (lua_pcall(L, 1, 1, 0) != 0) fuzz_fail("config driver: %s", lua_tostring(L, -1));
    lua_fuzz_config_check = luaL_ref(L, LUA_REGISTRYINDEX);
    return L;
}

static void lua_fuzz_config(const uint8_t *json, size_t len)
{
    lua_State *L = lua_fuzz_config_state();
    lua_rawgeti(L, LUA_REGISTRYINDEX, lua_fuzz_config_check);
    lua_pushlstring(L, (const char *)json, len);
    if (lua_pcall(L, 1, 0, 0) != 0) fuzz_fail("config: %s", lua_tostring(L, -1));
    fuzz_config_reset();
}

/* Sends request (head and body) from a new client in reads cut by seed, and returns the
 * status it was answered with (0 when the server is still waiting for more). */
static int lua_fuzz_request(struct fuzz_client *clients, int nclients, const uint8_t *head,
                            size_t head_len, const uint8_t *body, size_t body_len, uint8_t seed)
{
    struct fuzz_client *cl = &clients[nclients - 1];
    struct fuzz_reads reads;
    const uint8_t *chunk;
    size_t n, status_head;
    fuzz_client_open(cl);
    if (head_len && fuzz_client_write(cl, head, head_len) != 0) fuzz_fail("cannot send the head");
    fuzz_reads_init(&reads, body, body_len, seed);
    while ((n = fuzz_reads_next(&reads, &chunk)) > 0) {
        if (fuzz_client_write(cl, chunk, n) != 0) break;
        fuzz_pass(clients, nclients);
    }
    fuzz_pass(clients, nclients);
    fuzz_pass(clients, nclients);
    return fuzz_http_status(cl->out, cl->out_len, &status_head);
}

static const char lua_fuzz_subscribe_request[] =
    "GET /ws?sub=1 HTTP/1.1\r\n"
    "Host: fuzz.test\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "%s\r\n";

int fuzz_lua(const uint8_t *data, size_t size)
{
    fuzz_setup_server();
    if (size < 2) return 0;
    uint8_t settings = data[0], mode = settings & 3;
    const uint8_t *body = data + 2;
    size_t body_len = size - 2;
    if (mode == 1) {
        lua_fuzz_config(body, body_len);
        fuzz_check_log();
        return 0;
    }

    /* [0] a WebSocket subscriber (user "fuzzer", room "lobby"), [1] the HTTP client */
    struct fuzz_client clients[2];
    char sub[512];
    int sub_len = snprintf(sub, sizeof sub, lua_fuzz_subscribe_request,
                           settings & 4 ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "");
    config.compression = (settings & 4) != 0;
    if (settings & 8) config.sendq_messages = 1;
    fuzz_client_open(&clients[0]);
    if (fuzz_client_write(&clients[0], sub, (size_t)sub_len) != 0) fuzz_fail("cannot subscribe");
    fuzz_pass(clients, 1);

    int status;
    if (mode == 2) {
        status = lua_fuzz_request(clients, 2, NULL, 0, body, body_len, data[1]);
    } else {
        char head[256];
        int head_len = snprintf(head, sizeof head,
                                "POST /api/publish HTTP/1.1\r\n"
                                "Host: fuzz.test\r\n"
                                "Authorization: Bearer " FUZZ_API_KEY "\r\n"
                                "Content-Type: application/json\r\n"
                                "Content-Length: %zu\r\n\r\n", body_len);
        status = lua_fuzz_request(clients, 2, (const uint8_t *)head, (size_t)head_len, body,
                                  body_len, data[1]);
        if (status != 200 && status != 400 && status != 404)
            fuzz_fail("publish answered %d", status);
    }
    if (status == 500) fuzz_fail("answered 500");
    fuzz_hang_up(clients, 2);
    fuzz_check_ws_output(&clients[0], "subscriber");
    fuzz_finish(clients, 2);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua(data, size); }
#endif
