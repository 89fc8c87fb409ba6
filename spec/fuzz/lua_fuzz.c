/* lua_fuzz — the Lua-facing JSON and route handling, reached the way peers reach it:
 *   publish: the input is the body of POST /api/publish (with the API key), sent over a
 *            socket; api.lua decodes it and delivers through hub.to_room / to_user /
 *            to_client / broadcast to a subscribed WebSocket client;
 *   config:  the input is a --config JSON object: merged over a script's table,
 *            validated by luahub.config and, when valid, applied to the core (what
 *            hub._setup does), in a Lua state of its own;
 *   http:    the input is a whole plain HTTP request (probes, /metrics, /api/, the fuzz
 *            script's /echo routes with their query parsing, static files);
 *   route:   the input is the body of POST /respond, whose route (spec/fuzz/hub.lua)
 *            answers with the status, headers and body the input asks for:
 *              [status][count][name][value]...(count pairs)...[body: the rest]
 *            status, name and value each a field: a 2-byte big-endian length, then that
 *            many bytes (fewer at the end of the input); a missing status or one that is
 *            not decimal ("-"? digits, "." and digits optional) is nil (200).
 * Input: [settings] [read-split seed] [body, JSON or request...]
 *   settings bits 0-1  mode: 0 publish, 1 config, 2 http, 3 route
 *                bit 2  compression on; the subscriber negotiates permessage-deflate
 *                bit 3  the subscriber's queue holds one message (drops, on_send_dropped)
 * Findings: a Lua error (logged at error level; or raised by the config driver), a
 * 500 answer (publish may answer only 200, 400 or 404), a config that validates but that
 * the core refuses, a problem without its key path; a route answer that is not exactly
 * what the body asked for, as a strict HTTP client reads it, or not 500 when it asked
 * for an invalid status (not a whole number in 200..599) or header (a name that is not
 * an RFC 9110 token, a value with a control character other than HTAB); and, as in
 * ws_fuzz, malformed output to the subscriber or anything left behind after the hang-up. */
#include "fuzz.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <strings.h>

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
    fuzz_client_open(cl, 0);
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

/* The route mode's oracle: what POST /respond must answer, worked out from the request
 * body as the route in spec/fuzz/hub.lua reads it. */
#define LUA_FUZZ_ROUTE_HEADERS_MAX 255

struct lua_fuzz_bytes {
    const uint8_t *p;
    size_t len;
};

struct lua_fuzz_route {
    int status;                  /* asked for (200 when not given) */
    int invalid;                 /* an invalid status or header: the route fails (500) */
    int maybe_invalid;           /* a header the server ignores (Content-Length,
                                  * Connection) has an invalid value: failing is fine too */
    struct lua_fuzz_bytes names[LUA_FUZZ_ROUTE_HEADERS_MAX], values[LUA_FUZZ_ROUTE_HEADERS_MAX];
    int nheaders;
    struct lua_fuzz_bytes body;
};

static int lua_fuzz_same(struct lua_fuzz_bytes a, struct lua_fuzz_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static struct lua_fuzz_bytes lua_fuzz_text(const char *s)
{
    return (struct lua_fuzz_bytes){ (const uint8_t *)s, strlen(s) };
}

/* hub.lua's field(): 1 and the field at *at, or 0 (and *at at the end) when fewer than
 * two bytes are left. */
static int lua_fuzz_field(const uint8_t *s, size_t n, size_t *at, struct lua_fuzz_bytes *f)
{
    if (*at + 2 > n) {
        *at = n;
        return 0;
    }
    size_t len = (size_t)s[*at] << 8 | s[*at + 1];
    *at += 2;
    if (len > n - *at) len = n - *at;
    f->p = s + *at;
    f->len = len;
    *at += len;
    return 1;
}

static int lua_fuzz_is_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 9110 field-name: a token. */
static int lua_fuzz_token(struct lua_fuzz_bytes b)
{
    if (b.len == 0) return 0;
    for (size_t i = 0; i < b.len; i++)
        if (!lua_fuzz_is_tchar(b.p[i])) return 0;
    return 1;
}

/* RFC 9110 field-value characters: visible ones, obs-text, SP and HTAB. */
static int lua_fuzz_field_value(struct lua_fuzz_bytes b)
{
    for (size_t i = 0; i < b.len; i++)
        if ((b.p[i] < 0x20 && b.p[i] != '\t') || b.p[i] == 0x7f) return 0;
    return 1;
}

static int lua_fuzz_named(struct lua_fuzz_bytes name, const char *want)
{
    return name.len == strlen(want) && strncasecmp((const char *)name.p, want, name.len) == 0;
}

/* The status field as the route reads it: nil (200) unless it is "-"? digits ("." digits?)?,
 * then that number. *valid: a whole number from 200 to 599 (1xx answers have no body,
 * and the status line has three digits). */
static int lua_fuzz_route_status(struct lua_fuzz_bytes f, int *valid)
{
    size_t i = 0, digits = 0;
    *valid = 1;
    if (i < f.len && f.p[i] == '-') i++;
    while (i < f.len && f.p[i] >= '0' && f.p[i] <= '9') i++, digits++;
    if (!digits) return 200;
    if (i < f.len && f.p[i] == '.') i++;
    while (i < f.len && f.p[i] >= '0' && f.p[i] <= '9') i++;
    if (i != f.len) return 200;
    char *text = strndup((const char *)f.p, f.len);
    if (!text) fuzz_fail("out of memory");
    double v = strtod(text, NULL);
    free(text);
    *valid = v >= 200 && v <= 599 && v == (int)v;
    return *valid ? (int)v : 0;
}

static void lua_fuzz_route_expect(const uint8_t *s, size_t n, struct lua_fuzz_route *want)
{
    struct lua_fuzz_bytes status, name, value;
    size_t at = 0;
    int valid = 1;
    memset(want, 0, sizeof *want);
    want->status = lua_fuzz_field(s, n, &at, &status) ? lua_fuzz_route_status(status, &valid) : 200;
    want->invalid = !valid;
    int count = at < n ? s[at] : 0;
    at++;
    for (int i = 0; i < count; i++) {
        if (!lua_fuzz_field(s, n, &at, &name) || !lua_fuzz_field(s, n, &at, &value)) break;
        int k = 0;   /* a Lua table: the last value for a name wins */
        while (k < want->nheaders && !lua_fuzz_same(want->names[k], name)) k++;
        want->names[k] = name;
        want->values[k] = value;
        if (k == want->nheaders) want->nheaders++;
    }
    want->body.p = s;
    want->body.len = 0;
    if (at < n) {
        want->body.p = s + at;
        want->body.len = n - at;
    }
    for (int k = 0; k < want->nheaders; k++) {
        int ignored = lua_fuzz_named(want->names[k], "content-length") ||
                      lua_fuzz_named(want->names[k], "connection");
        if (!lua_fuzz_token(want->names[k]) || (!ignored && !lua_fuzz_field_value(want->values[k])))
            want->invalid = 1;
        else if (ignored && !lua_fuzz_field_value(want->values[k]))
            want->maybe_invalid = 1;
    }
}

/* A header line of the answer: "name: value". */
struct lua_fuzz_line {
    struct lua_fuzz_bytes name, value;
    int used;
};

static const char lua_fuzz_default_type[] = "text/plain; charset=utf-8";
static const char lua_fuzz_500_body[] = "500 Internal Server Error\n";

/* Reads the answer as a strict client does: "HTTP/1.1 DDD reason", then header lines
 * (a token, ": ", a field value), a blank line, then the body. Returns the status. */
static int lua_fuzz_parse_answer(const struct fuzz_client *cl, struct lua_fuzz_line *lines, int max,
                                 int *nlines, struct lua_fuzz_bytes *body)
{
    const uint8_t *out = cl->out;
    const uint8_t *blank = memmem(out, cl->out_len, "\r\n\r\n", 4);
    int status = 0;
    if (cl->out_len < 13 || memcmp(out, "HTTP/1.1 ", 9) != 0 || !blank)
        fuzz_fail("route: no HTTP/1.1 response head in %zu bytes: %.*s", cl->out_len,
                  (int)(cl->out_len < 200 ? cl->out_len : 200), (const char *)out);
    for (int i = 9; i < 12; i++) {
        if (out[i] < '0' || out[i] > '9') fuzz_fail("route: status line %.40s", (const char *)out);
        status = status * 10 + (out[i] - '0');
    }
    if (out[12] != ' ' || status < 100) fuzz_fail("route: status line %.40s", (const char *)out);
    const uint8_t *p = (const uint8_t *)memmem(out, (size_t)(blank + 2 - out), "\r\n", 2) + 2;
    *nlines = 0;
    while (p < blank + 2) {
        const uint8_t *eol = memmem(p, (size_t)(blank + 2 - p), "\r\n", 2);
        const uint8_t *colon = memchr(p, ':', (size_t)(eol - p));
        if (*nlines == max) fuzz_fail("route: more than %d header lines", max);
        struct lua_fuzz_line *l = &lines[(*nlines)++];
        if (!colon) fuzz_fail("route: header line without a colon: %.*s", (int)(eol - p), (const char *)p);
        l->name = (struct lua_fuzz_bytes){ p, (size_t)(colon - p) };
        l->value = (struct lua_fuzz_bytes){ colon + 1, (size_t)(eol - colon - 1) };
        l->used = 0;
        if (!lua_fuzz_token(l->name) || !lua_fuzz_field_value(l->value) || l->value.len == 0 ||
            l->value.p[0] != ' ')
            fuzz_fail("route: malformed header line: %.*s", (int)(eol - p), (const char *)p);
        l->value.p++;
        l->value.len--;
        p = eol + 2;
    }
    body->p = blank + 4;
    body->len = (size_t)(cl->out + cl->out_len - body->p);
    return status;
}

/* Checks the answer to POST /respond against what its body asked for: exactly that, or
 * when it asked for something invalid, the route's failure (500, logged). Returns the
 * status. */
static int lua_fuzz_route_check(const struct fuzz_client *cl, const uint8_t *body, size_t body_len)
{
    static struct lua_fuzz_route want;
    static struct lua_fuzz_line lines[LUA_FUZZ_ROUTE_HEADERS_MAX + 8];
    int nlines;
    struct lua_fuzz_bytes got;
    lua_fuzz_route_expect(body, body_len, &want);
    int status = lua_fuzz_parse_answer(cl, lines, (int)(sizeof lines / sizeof lines[0]), &nlines, &got);
    int failed = (want.invalid || want.maybe_invalid) && status == 500 &&
                 fuzz_log_only("HTTP route POST /respond: ", 1);
    if (want.invalid && !failed)
        fuzz_fail("route: asked for an invalid status or header (%d headers), answered %d", want.nheaders, status);
    if (!failed && status != want.status)
        fuzz_fail("route: asked for %d (%d headers, %zu-byte body), answered %d", want.status,
                  want.nheaders, want.body.len, status);
    struct lua_fuzz_bytes want_body = failed ? lua_fuzz_text(lua_fuzz_500_body) : want.body;
    struct lua_fuzz_bytes ctype = lua_fuzz_text(lua_fuzz_default_type);
    int ctype_asked = 0;
    for (int k = 0; !failed && k < want.nheaders; k++) {
        if (lua_fuzz_named(want.names[k], "content-type")) {
            ctype_asked = 1;
            continue;
        }
        if (lua_fuzz_named(want.names[k], "content-length") || lua_fuzz_named(want.names[k], "connection"))
            continue;
        int i = 0;
        while (i < nlines && (lines[i].used || !lua_fuzz_same(lines[i].name, want.names[k]) ||
                              !lua_fuzz_same(lines[i].value, want.values[k])))
            i++;
        if (i == nlines)
            fuzz_fail("route: header %.*s (%zu-byte value) missing from the answer",
                      (int)want.names[k].len, (const char *)want.names[k].p, want.values[k].len);
        lines[i].used = 1;
    }
    int ctypes = 0, clens = 0, conns = 0;
    for (int i = 0; i < nlines; i++) {
        struct lua_fuzz_line *l = &lines[i];
        if (l->used) continue;
        if (lua_fuzz_named(l->name, "content-type")) {
            /* several spellings of Content-Type asked for: one of them wins (pairs order) */
            int ok = !ctype_asked && lua_fuzz_same(l->value, ctype);
            for (int k = 0; ctype_asked && k < want.nheaders; k++)
                if (lua_fuzz_named(want.names[k], "content-type") && lua_fuzz_same(l->value, want.values[k])) ok = 1;
            if (!ok || ctypes++) fuzz_fail("route: Content-Type %.*s", (int)l->value.len, (const char *)l->value.p);
        } else if (lua_fuzz_named(l->name, "content-length")) {
            char len[32];
            snprintf(len, sizeof len, "%zu", want_body.len);
            if (clens++ || !lua_fuzz_same(l->value, lua_fuzz_text(len)))
                fuzz_fail("route: Content-Length %.*s for a %zu-byte body", (int)l->value.len,
                          (const char *)l->value.p, want_body.len);
        } else if (lua_fuzz_named(l->name, "connection")) {
            if (conns++ || !lua_fuzz_same(l->value, lua_fuzz_text("close")))
                fuzz_fail("route: Connection %.*s", (int)l->value.len, (const char *)l->value.p);
        } else {
            fuzz_fail("route: a header not asked for: %.*s", (int)l->name.len, (const char *)l->name.p);
        }
    }
    if (!ctypes || !clens || !conns) fuzz_fail("route: Content-Type, Content-Length or Connection missing");
    if (!lua_fuzz_same(got, want_body))
        fuzz_fail("route: a %zu-byte body where %zu bytes were asked for", got.len, want_body.len);
    return status;
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
    fuzz_client_open(&clients[0], 0);
    if (fuzz_client_write(&clients[0], sub, (size_t)sub_len) != 0) fuzz_fail("cannot subscribe");
    fuzz_pass(clients, 1);

    int status;
    if (mode == 2) {
        status = lua_fuzz_request(clients, 2, NULL, 0, body, body_len, data[1]);
    } else if (mode == 3) {
        char head[256];
        int head_len = snprintf(head, sizeof head,
                                "POST /respond HTTP/1.1\r\n"
                                "Host: fuzz.test\r\n"
                                "Content-Length: %zu\r\n\r\n", body_len);
        lua_fuzz_request(clients, 2, (const uint8_t *)head, (size_t)head_len, body, body_len, data[1]);
        status = lua_fuzz_route_check(&clients[1], body, body_len);
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
    if (status == 500 && mode != 3) fuzz_fail("answered 500");
    fuzz_hang_up(clients, 2);
    fuzz_check_ws_output(&clients[0], "subscriber");
    fuzz_finish(clients, 2);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_lua(data, size); }
#endif
