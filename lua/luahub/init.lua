-- The `luahub` module a hub.lua script programs against (docs/lua-api.md).
-- State that must outlive a reload lives in C; this module holds logic and thin handles.
local ffi = require "ffi"
local cjson = require "cjson.safe"
local C = require "luahub.ffi"
local config = require "luahub.config"
local errors = require "luahub.errors"
local hooks = require "luahub.hooks"
local where = require "luahub.where"
local message = require "luahub.message"
local clients = require "luahub.client"
local wait = require "luahub.wait"
local json = require "luahub.json"
local mistake = require "luahub.mistake"
local history = require "luahub.history"

local ffi_string, result, payload = ffi.string, errors.result, message.payload
local handle, id_of = clients.handle, clients.id_of
local traceback, type, select, tostring = debug.traceback, type, select, tostring

local hub = {}
-- The coroutines the core runs tasks on (core/task.c registers each one here).
hub._threads = wait.threads
wait.before_yield = message.pin
local script_config = {}
local handler, middlewares, chain = nil, {}, nil

----------------------------------------------------------------------------- logging and errors
local levels = { debug = 0, info = 1, warn = 2, error = 3 }

local function log(level, msg, fields, client_h)
  msg = tostring(msg)
  local body
  if fields ~= nil then
    local encoded = json.encode(fields)
    if encoded and encoded:sub(1, 1) == "{" and #encoded > 2 then body = encoded:sub(2, -2) end
  end
  C.lh_log(level, client_h or 0, msg, #msg, body)
end

hub.log = {}
for name, level in pairs(levels) do
  hub.log[name] = function(msg, fields) log(level, msg, fields) end
end

hub._stats = { messages = 0, handler_seconds = 0, errors = {}, handler_errors = 0 }

-- At most this many handler-error lines a second: a client whose every message throws
-- would otherwise turn each of its frames into a log line with a traceback.
local ERROR_LINES_PER_SECOND = 10
local log_this_error = require("luahub.log_limit").new(ERROR_LINES_PER_SECOND, function(n)
  log(levels.error, ("handler errors: %d more not logged (at most %d a second; "
    .. "luahub_errors_total{type=\"handler\"} counts them all)"):format(n, ERROR_LINES_PER_SECOND))
end)

-- A Lua error in a handler, hook or timer: counted, passed to on_error, and logged with
-- its traceback (up to ERROR_LINES_PER_SECOND a second). The connection lives on.
function hub._report(client, err)
  hub._stats.handler_errors = hub._stats.handler_errors + 1
  C.lh_count_error("handler")
  if log_this_error() then
    log(levels.error, "handler error: " .. tostring(err), nil, client and client._h)
  end
  hooks.notify("on_error", client, err)
end
hooks.set_reporter(hub._report)

-- encode, decode, array, empty_array, null (luahub.json); errors as everywhere else in
-- the API: nil, "bad_json", detail (as msg:json()).
hub.json = json

----------------------------------------------------------------------------- configuration and handlers
local config_set_at = {}   -- top-level key -> where hub.config set it last, for problems

function hub.config(t)
  if type(t) ~= "table" then
    mistake.raise("hub.config", "expected a table, got " .. mistake.describe(t), "hub.config { key = value, ... }")
  end
  local at = mistake.location("hub.config")
  for k in pairs(t) do config_set_at[k] = at end
  config.merge(script_config, t)
end

hub.on = function(name, fn)
  hooks.on(name, fn)
  if name == "before_connect" then C.lh_want_admit(1) end
end
hub.shared = require("luahub.shared").dicts
hub.router = require "luahub.router"
hub.middleware = require "luahub.middleware"
hub.http = require "luahub.http_client"
hub.redis = require "luahub.redis_client"

function hub.handle(h)
  if type(h) == "function" then
    handler = h
  elseif type(h) == "table" and type(h.dispatch) == "function" then
    handler = function(client, msg) return h:dispatch(client, msg) end
  else
    mistake.raise("hub.handle", "expected a function(client, msg) or a router, got " .. mistake.describe(h),
      "hub.handle(function(client, msg) ... end) or hub.handle(hub.router(\"type\"))")
  end
  chain = nil
end

function hub.use(mw)
  if type(mw) ~= "function" then
    mistake.raise("hub.use", "expected a middleware, got " .. mistake.describe(mw),
      "a middleware is function(next) return function(client, msg) ... end end"
        .. (type(mw) == "table" and " (to route messages, use hub.handle(router))" or ""))
  end
  middlewares[#middlewares + 1] = mw
  chain = nil
end

local function build_chain()
  local fn = handler or function() end
  for i = #middlewares, 1, -1 do fn = middlewares[i](fn) end
  chain = fn
  return fn
end

----------------------------------------------------------------------------- sending
local function except_list(except)
  if except == nil then return nil, 0 end
  if type(except) == "table" and except._h == nil then
    local n = #except
    local arr = ffi.new("uint64_t[?]", n)
    for i = 1, n do arr[i - 1] = id_of(except[i]) or 0 end
    return arr, n
  end
  return ffi.new("uint64_t[1]", id_of(except) or 0), 1
end

local function options(data, opts, api_name, json_name)
  local p, n, binary = payload(data, api_name, json_name)
  if opts and opts.binary ~= nil then binary = opts.binary end
  return p, n, binary and 1 or 0
end

local function count_or_error(rc)
  if rc < 0 then return result(rc) end
  return rc
end

function hub.broadcast(data, opts)
  local p, n, binary = options(data, opts, "hub.broadcast", "hub.broadcast_json")
  local ex, nex = except_list(opts and opts.except)
  return count_or_error(C.lh_broadcast(p, n, binary, ex, nex))
end

-- room, or a raise naming api_name.
local function room_name(room, api_name)
  if type(room) ~= "string" then
    mistake.raise(api_name, "room must be a string, got " .. mistake.describe(room),
      api_name .. "(room, data, opts)")
  end
  return room
end

function hub.to_room(room, data, opts)
  room = room_name(room, "hub.to_room")
  local p, n, binary = options(data, opts, "hub.to_room", "hub.to_room_json")
  local ex, nex = except_list(opts and opts.except)
  return count_or_error(C.lh_to_room(room, #room, p, n, binary, ex, nex))
end

-- To the room's members as hub.to_room, after appending to its history (luahub.history):
-- the recipients here and the publication's position. opts.fan_out = false only appends.
function hub.publish(room, data, opts)
  room = room_name(room, "hub.publish")
  local p, n, binary = options(data, opts, "hub.publish")
  if binary == 0 and C.lh_utf8_valid(p, n) == 0 then
    return nil, "bad_argument", "a text publication must be valid UTF-8 (or pass binary = true)"
  end
  if history.waits(room) and type(p) ~= "string" then p = ffi_string(p, n) end
  local pos, code, detail = history.append(room, p, n, binary == 1)
  if not pos then return nil, code, detail end
  if opts and opts.fan_out == false then return 0, pos end
  local ex, nex = except_list(opts and opts.except)
  local sent = C.lh_to_room(room, #room, p, n, binary, ex, nex)
  if sent < 0 then return result(sent) end
  return sent, pos
end

-- The publications of room after opts.since, or its last opts.limit, with its position.
function hub.history(room, opts)
  return history.read(room_name(room, "hub.history"), opts)
end

function hub.to_user(user_id, data, opts)
  user_id = tostring(user_id)
  local p, n, binary = options(data, opts, "hub.to_user", "hub.to_user_json")
  local ex, nex = except_list(opts and opts.except)
  return count_or_error(C.lh_to_user(user_id, #user_id, p, n, binary, ex, nex))
end

function hub.to_client(id, data, opts)
  local h = id_of(id)
  -- an id of a client on another node is relayed to that node (core/cluster.c)
  if not h or (C.lh_is_open(h) == 0 and C.lh_is_remote(h) == 0) then
    return nil, "not_found", "no such client"
  end
  local p, n, binary = options(data, opts, "hub.to_client", "hub.to_client_json")
  return result(C.lh_send(h, p, n, binary))
end

-- The JSON twin of a targeted sender: send(target, v, opts) with v encoded once
-- (luahub.json), or nil, "bad_json", detail.
local function json_twin(send)
  return function(target, v, opts)
    local s, err, detail = json.encode(v)
    if not s then return nil, err, detail end
    return send(target, s, opts)
  end
end
hub.to_room_json = json_twin(function(room, s, opts)
  return hub.to_room(room_name(room, "hub.to_room_json"), s, opts)
end)
hub.to_user_json = json_twin(hub.to_user)
hub.to_client_json = json_twin(hub.to_client)
local broadcast_json = json_twin(function(_, s, opts) return hub.broadcast(s, opts) end)
function hub.broadcast_json(v, opts) return broadcast_json(nil, v, opts) end

----------------------------------------------------------------------------- lookups
function hub.client(id)
  local h = id_of(id)
  if not h or C.lh_is_open(h) == 0 then return nil, "not_found", "no such client" end
  return handle(h)
end

local function members(size_fn, member_fn, name)
  local list = {}
  if type(name) ~= "string" then return list end
  for i = 0, size_fn(name, #name) - 1 do
    local h = tonumber(member_fn(name, #name, i))
    if h and h ~= 0 then list[#list + 1] = handle(h) end
  end
  return list
end

function hub.user_clients(user_id)
  local open = {}
  for _, c in ipairs(members(C.lh_user_size, C.lh_user_member, tostring(user_id))) do
    if C.lh_is_open(c._h) == 1 then open[#open + 1] = c end   -- not one that is closing
  end
  return open
end
function hub.room_clients(room) return members(C.lh_room_size, C.lh_room_member, room) end
function hub.room_exists(room) return type(room) == "string" and C.lh_room_size(room, #room) > 0 end
function hub.room_count(room)
  if room == nil then return tonumber(C.lh_room_total()) end
  return type(room) == "string" and C.lh_room_size(room, #room) or 0
end

-- The sorted names a C lister writes NUL-terminated (lh_room_names, lh_user_names).
local function names(lister)
  local need = tonumber(lister(nil, 0))
  local list = {}
  if need == 0 then return list end
  local buf = ffi.new("char[?]", need)
  lister(buf, need)
  for name in ffi_string(buf, need):gmatch("([^%z]*)%z") do list[#list + 1] = name end
  table.sort(list)
  return list
end

function hub.rooms() return names(C.lh_room_names) end
-- The user ids with a connection on this node.
function hub.users() return names(C.lh_user_names) end

-- Handles of this node's open clients.
function hub.clients()
  local n = tonumber(C.lh_client_ids(nil, 0))
  local list = {}
  if n == 0 then return list end
  local ids = ffi.new("uint64_t[?]", n)
  C.lh_client_ids(ids, n)
  for i = 0, n - 1 do list[i + 1] = handle(tonumber(ids[i])) end
  return list
end

-- Who is in a room on every live node: { client_id, user_id (nil when unset), node } per
-- member, this node's members live, the others' as of their last heartbeat.
local id_box, len_box = ffi.new("uint64_t[1]"), ffi.new("uint16_t[1]")
function hub.presence(room)
  if type(room) ~= "string" then error("hub.presence: room must be a string", 2) end
  local need = tonumber(C.lh_presence(room, #room, nil, 0))
  local list = {}
  if need == 0 then return list end
  local buf = ffi.new("uint8_t[?]", need)
  C.lh_presence(room, #room, buf, need)
  local nodes, pos = hub.nodes(), 0
  while pos < need do
    ffi.copy(id_box, buf + pos, 8)
    ffi.copy(len_box, buf + pos + 8, 2)
    local ulen = len_box[0]
    local node = nodes[buf[pos + 10 + ulen] + 1]
    list[#list + 1] = { client_id = string.format("%.0f", tonumber(id_box[0])),
                        user_id = ulen > 0 and ffi_string(buf + pos + 10, ulen) or nil,
                        node = node and node.id or "" }
    pos = pos + 11 + ulen
  end
  return list
end

-- { clients = N, users = M }: a room's members and distinct user ids on every live node.
function hub.presence_stats(room)
  if type(room) ~= "string" then error("hub.presence_stats: room must be a string", 2) end
  local members, users, nusers = hub.presence(room), {}, 0
  for _, m in ipairs(members) do
    if m.user_id and not users[m.user_id] then users[m.user_id], nusers = true, nusers + 1 end
  end
  return { clients = #members, users = nusers }
end

function hub.count() return tonumber(C.lh_count()) end
function hub.now() return C.lh_now() end
-- Cluster presence (core/cluster.c): this node's live counts plus each other node's from
-- its last heartbeat; a single node answers with its own counts.
function hub.global_count() return C.lh_global_count() end
function hub.global_room_count(room)
  if room == nil then return C.lh_global_room_count(nil, 0) end
  room = room_name(room, "hub.global_room_count")
  return C.lh_global_room_count(room, #room)
end
function hub.state() return C.lh_draining() == 1 and "draining" or "running" end
function hub.uptime() return C.lh_uptime() end

function hub.node_id()
  local cluster = script_config.cluster
  return ffi_string(C.lh_node_id(cluster and cluster.node_id or nil))
end

-- This node first ({ id, clients, rooms, self = true }), then every live peer with
-- age = seconds since its last heartbeat.
function hub.nodes()
  local list = {}
  local len, clients, rooms, age = ffi.new("size_t[1]"), ffi.new("double[3]"), nil, nil
  rooms, age = clients + 1, clients + 2
  for i = 0, C.lh_cluster_nodes() - 1 do
    local id = C.lh_cluster_node(i, len, clients, rooms, age)
    if id ~= nil then
      local node = { id = ffi_string(id, len[0]), clients = clients[0], rooms = rooms[0] }
      if i == 0 then node.self = true else node.age = age[0] end
      list[#list + 1] = node
    end
  end
  return list
end

----------------------------------------------------------------------------- timers
local timers = {}
local Timer = {}
Timer.__index = Timer

function Timer:cancel()
  if timers[self.id] then
    C.lh_timer_cancel(self.id)
    timers[self.id] = nil
  end
  return true
end

local function start_timer(after, every, fn, name)
  if type(after) ~= "number" or after < 0 then
    mistake.raise(name, "seconds must be a number >= 0, got " .. mistake.describe(after), name .. "(seconds, fn)")
  end
  if type(fn) ~= "function" then
    mistake.raise(name, "expected a function, got " .. mistake.describe(fn), name .. "(seconds, function() ... end)")
  end
  local id = C.lh_timer_start(after, every)
  if id == 0 then return nil, "no_memory", "cannot create a timer" end
  local t = setmetatable({ id = id, fn = fn }, Timer)
  timers[id] = t
  return t
end

function hub.every(seconds, fn)
  if type(seconds) == "number" and seconds <= 0 then
    mistake.raise("hub.every", "seconds must be > 0, got " .. seconds, "for a call on the next loop pass use hub.after(0, fn)")
  end
  return start_timer(seconds, seconds, fn, "hub.every")
end

function hub.after(seconds, fn) return start_timer(seconds, 0, fn, "hub.after") end

-- Waits seconds (>= 0) without holding the loop; true. Only where waiting is allowed.
function hub.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
    mistake.raise("hub.sleep", "seconds must be a number >= 0, got " .. mistake.describe(seconds))
  end
  wait.check("hub.sleep")
  local id = C.lh_sleep(seconds)
  if id < 0 then return result(id) end
  return wait.wait(id)
end

function hub._on_timer(id, once)
  local t = timers[id]
  if not t then return end
  if once then timers[id] = nil end
  where.note(t.fn)
  local ok, err = xpcall(t.fn, traceback)
  if not ok then hub._report(nil, err) end
end

----------------------------------------------------------------------------- HTTP routes
local routes = require "luahub.routes"

-- path: exact ("/rooms"), with parameters ("/items/:id": req.params.id), or ending in *
-- ("/static/*": req.splat); see luahub.routes for the order they are tried in.
function hub.route(method, path, fn)
  if type(method) ~= "string" or type(path) ~= "string" or path:sub(1, 1) ~= "/" then
    mistake.raise("hub.route", ("expected (method, path starting with /, function(req)), got %s, %s"):format(
      mistake.describe(method), mistake.describe(path)), 'hub.route("GET", "/items/:id", function(req) ... end)')
  end
  if type(fn) ~= "function" then
    mistake.raise("hub.route", "expected a function(req), got " .. mistake.describe(fn),
      ("hub.route(%q, %q, function(req) return 200, \"body\" end)"):format(method, path))
  end
  routes.add(method:upper(), path, fn)
end

-- The content type and the other header lines of a route's answer; nil, why for a name
-- that is not an HTTP token or a value with a control character (CR, LF, NUL, ...: they
-- would end the line or the head early, or split it into another response).
local function header_lines(headers)
  if not headers then return nil, "" end
  local lines, ctype = {}, nil
  for k, v in pairs(headers) do
    k, v = tostring(k), tostring(v)
    if not k:match("^[%w!#$%%&'*+%-.^_`|~]+$") then
      return nil, nil, ("header name %q is not an HTTP token"):format(k)
    end
    if v:find("[%z\1-\8\10-\31\127]") then
      return nil, nil, ("the value of header %s contains a control character"):format(k)
    end
    if k:lower() == "content-type" then ctype = v
    elseif k:lower() ~= "content-length" and k:lower() ~= "connection" then
      lines[#lines + 1] = k .. ": " .. v .. "\r\n"
    end
  end
  return ctype, table.concat(lines)
end

function hub._on_http(req)
  local route, path_params, splat = routes.find(req.method, req.path)
  if not route and req.method == "HEAD" then route, path_params, splat = routes.find("GET", req.path) end
  if not route then
    local allowed = routes.allowed(req.path)
    if #allowed == 0 then return nil end
    return 405, "405 Method Not Allowed\n", "text/plain; charset=utf-8",
      "Allow: " .. table.concat(allowed, ", ") .. "\r\n"
  end
  local fn = route.fn
  -- the path's own parameters win over query parameters of the same name
  req.params = clients.parse_query(req.query)
  for k, v in pairs(path_params) do req.params[k] = v end
  req.splat = splat
  where.note(fn)
  local ok, status, body, headers = xpcall(fn, traceback, req)
  if not ok then
    hub._report(nil, status)
    return 500, "500 Internal Server Error\n", "text/plain; charset=utf-8", nil
  end
  local ctype, extra, bad = header_lines(headers)
  status = status or 200
  -- a final answer: 1xx statuses are interim and carry no body
  if not bad and (type(status) ~= "number" or status % 1 ~= 0 or status < 200 or status > 599) then
    bad = ("status %s is not the status of a final HTTP answer (200 to 599)"):format(tostring(status))
  end
  if bad then
    hub._report(nil, ("HTTP route %s %s: %s"):format(req.method, req.path, bad))
    return 500, "500 Internal Server Error\n", "text/plain; charset=utf-8", nil
  end
  if type(body) == "table" then
    local encoded, _, detail = json.encode(body)
    if not encoded then
      hub._report(nil, ("HTTP route %s %s: the body table is not JSON: %s"):format(req.method, req.path, detail))
      return 500, "500 Internal Server Error\n", "text/plain; charset=utf-8", nil
    end
    body, ctype = encoded, ctype or "application/json"
  end
  return status, body and tostring(body) or "", ctype or "text/plain; charset=utf-8", extra
end

----------------------------------------------------------------------------- dispatch from C
-- ok, how many values the hook returned, its first two. Counting with select keeps a
-- bare `return nil` (drop) apart from no return at all (pass): a table of the results
-- cannot, as # is undefined when it holds nils.
local function hook_results(ok, ...)
  return ok, select("#", ...), ...
end

local function before_message(client, msg)
  local l = hooks.lists.before_message
  for i = 1, #l do
    where.note(l[i])
    local ok, n, r, reason = hook_results(xpcall(l[i], traceback, client, msg))
    if not ok then
      hub._report(client, r)
      return nil, "hook_error"
    end
    if n > 0 then
      if r == nil then return nil, reason or "dropped" end
      if type(r) == "string" then
        msg = message.from_string(msg.client_id, msg.kind, r, msg.time)
      elseif type(r) == "table" and getmetatable(r) == message.mt then
        msg = r
      end
    end
  end
  return msg
end

function hub._on_message(h, opcode, p, n, limited)
  local client = handle(h)
  local msg = message.wrap(h, opcode == 2 and "binary" or "text", p, n, C.lh_now())
  local err
  if limited then
    err = "rate_limited"
  else
    local m = msg
    if hooks.lists.before_message then m, err = before_message(client, msg) end
    if m then
      if handler then where.note(handler) end   -- a router notes the route it picks
      local ok, r1, r2 = xpcall(chain or build_chain(), traceback, client, m)
      if not ok then
        hub._report(client, r1)
        err = "handler_error"
      elseif r1 == nil then
        err = r2
      end
    end
  end
  if hooks.lists.after_message then hooks.notify("after_message", client, msg, err) end
  message.release(msg)
end

function hub._on_open(h)
  -- no handle is made for a client until something needs one: an idle client costs C only
  if hooks.lists.after_connect then hooks.notify("after_connect", handle(h)) end
end

function hub._on_close(h, code, reason)
  local client = handle(h)
  hooks.notify("before_disconnect", client)
  clients.leave_on_close(client)
  C.lh_detach(h)
  hooks.notify("after_disconnect", client, code, reason)
  clients.forget(h)
end

function hub._on_dropped(h, data, binary)
  hooks.notify("on_send_dropped", handle(h), data, binary)
end

-- before_connect gates: nil to accept, or status, reason to refuse. A hook may return a
-- table { user_id = ..., meta = {...} } to identify the connection.
local function admit(client, req)
  local l = hooks.lists.before_connect
  for i = 1, #l do
    where.note(l[i])
    local ok, r1, r2, r3 = xpcall(l[i], traceback, req)
    if not ok then
      hub._report(nil, r1)
      return 500, "internal error"
    end
    if r1 == false then return tonumber(r2) or 403, r3 or "rejected" end
    if type(r1) == "table" then
      if r1.user_id ~= nil then
        local set, code = client:set_user(r1.user_id)
        if not set then
          return code == "user_limit" and 429 or 503, code == "user_limit"
            and "too many connections for this user" or code
        end
      end
      for k, v in pairs(r1.meta or {}) do client:set(k, v) end
    end
  end
  return nil
end

function hub._before_connect(h, req)
  if not hooks.lists.before_connect then return nil end
  req.id = string.format("%.0f", h)
  req.params = clients.parse_query(req.query)
  local client = handle(h)
  local status, reason = admit(client, req)
  if status then
    -- A refused request never becomes a client: the core keeps the connection until its
    -- answer is written, and it must not hold a user slot (limits.per_user) or a handle.
    client:set_user(nil)
    clients.forget(h)
  end
  return status, reason
end

local api = require "luahub.api"
function hub._on_api(req) return api.handle(hub, req) end
function hub._metrics_text() return api.metrics_text(hub._stats) end

-- A script that registered none of these answers nothing: most likely an empty or cut
-- short file (a deploy interrupted, an editor's save caught by `watch`). Taking it on a
-- reload would silently drop every handler of the running script, so it is refused there,
-- and at start and by `luahub check` alike, so the mistake shows before it is deployed.
local function registers_something()
  return handler ~= nil or #middlewares > 0 or next(hooks.lists) ~= nil or routes.any()
    or next(timers) ~= nil
end

-- Called by the core after the script ran: merges the --config overrides, validates and
-- applies. Returns nil, or all problems as one string (one per line). An invalid key or a
-- script that registers nothing stops it before anything is applied.
function hub._setup(overrides_json)
  local cfg = script_config
  if overrides_json then
    local over, err = cjson.decode(overrides_json)
    if type(over) ~= "table" then return "--config: invalid JSON object: " .. tostring(err or over) end
    cfg = config.merge(script_config, over)
    for k in pairs(over) do config_set_at[k] = nil end   -- the command line set it, not a line
  end
  local problems = config.validate(cfg, config_set_at)
  for _, p in ipairs(routes.problems(cfg.ws_path or config.default("ws_path"), cfg.api_key)) do
    problems[#problems + 1] = p
  end
  if not registers_something() then
    problems[#problems + 1] = "the script registers no handler, middleware, hook, HTTP route or timer"
      .. " (hub.handle, hub.use, hub.on, hub.route, hub.every, hub.after): refused, as it would serve nothing"
  end
  if #problems == 0 then problems = config.apply(cfg) end
  if #problems > 0 then return table.concat(problems, "\n") end
  C.lh_want_dropped(hooks.lists.on_send_dropped and 1 or 0)
  C.lh_want_admit(hooks.lists.before_connect and 1 or 0)
  return nil
end

return hub
