-- The built-in HTTP API (enabled by config api_key; the core checks the Bearer key in
-- constant time before calling here) and the script's series for GET /metrics.
--   POST /api/publish  {"room": R | "user": U | "client": C | "broadcast": true,
--                       "data": string or JSON value, "binary": false, "except": [ids]}
--                      (a room through hub.publish: kept in its history, if it has one)
--   GET  /api/stats
--   GET  /api/presence?room=R   (the admin page's room view)
-- (POST /api/admin/ticket is the core's: core/admin.h.)
local ffi = require "ffi"
local C = require "luahub.ffi"
local json = require "luahub.json"
local history = require "luahub.history"
local parse_query = require("luahub.client").parse_query

local M = {}

local function answer(status, t) return status, json.encode(t) .. "\n" end

local decoded_len = ffi.new("size_t[1]")

-- Strict base64 (the core's lh_base64_decode): nil for misplaced or excess padding, a
-- character outside the alphabet, or a length that is not a multiple of 4.
local function base64_decode(s)
  local out = ffi.new("char[?]", math.floor(#s / 4) * 3)
  if C.lh_base64_decode(s, #s, out, decoded_len) ~= 0 then return nil end
  return ffi.string(out, decoded_len[0])
end

-- Client ids stay below 2^53 (a 12-bit node tag above a 41-bit counter, core/cluster.h),
-- so a double holds each one exactly.
local ID_LIMIT = 2 ^ 53

-- The most ids one "except" may list: the core compares each recipient with every one.
local MAX_EXCEPT = 1000

-- An id as a JSON body carries it: a whole number, or a string of decimal digits. tonumber
-- alone would also take "0x1f", "1e3" or " 7 ", and a fraction such as 7.5 would reach the
-- FFI and be truncated to client 7: a message meant for no one delivered to someone.
local function is_id(v)
  if type(v) == "string" then
    if not v:find("^%d+$") or #v > 16 then return false end
    v = tonumber(v)
  end
  return type(v) == "number" and v >= 0 and v < ID_LIMIT and v % 1 == 0
end

-- "except": one id or a list of at most MAX_EXCEPT ids.
local function is_id_list(v)
  if type(v) ~= "table" then return is_id(v) end
  local n = 0
  for k, id in pairs(v) do
    n = n + 1
    if n > MAX_EXCEPT or type(k) ~= "number" or not is_id(id) then return false end
  end
  return true
end

local function publish(hub, req)
  if req.method ~= "POST" then return answer(405, { error = "use POST" }) end
  local body, _, err = json.decode(req.body)
  if type(body) ~= "table" then
    return answer(400, { error = "malformed JSON body: " .. tostring(err or "expected an object") })
  end
  local targets = (body.room ~= nil and 1 or 0) + (body.user ~= nil and 1 or 0)
    + (body.client ~= nil and 1 or 0) + (body.broadcast == true and 1 or 0)
  if targets ~= 1 then
    return answer(400, { error = 'give exactly one of "room", "user", "client", "broadcast": true' })
  end
  local data = body.data
  if data == nil then return answer(400, { error = '"data" is required' }) end
  if type(data) ~= "string" then
    local encoded, _, why = json.encode(data)   -- nil for numbers JSON cannot carry (1e400)
    if not encoded then return answer(400, { error = '"data" cannot be sent as JSON: ' .. tostring(why) }) end
    data = encoded
  end
  if body.binary then
    data = type(body.data) == "string" and base64_decode(data)
    if not data then return answer(400, { error = 'binary "data" must be base64' }) end
  end
  if body.except ~= nil and not is_id_list(body.except) then
    return answer(400, { error = '"except" must be a client id or a list of at most '
                                .. MAX_EXCEPT .. ' client ids' })
  end
  local opts = { binary = body.binary == true, except = body.except }
  local n, code, msg, pos
  if body.room ~= nil then
    if type(body.room) ~= "string" then return answer(400, { error = '"room" must be a string' }) end
    -- the API cannot wait: a room whose history is in the broker is published from a task
    if history.waits(body.room) then
      hub.after(0, function() hub.publish(body.room, data, opts) end)
      return answer(202, { ok = true, queued = true })
    end
    n, code, msg = hub.publish(body.room, data, opts)
    pos = n and code
  elseif body.user ~= nil then
    -- user ids are strings (client:set_user stores tostring(id)); tostring here would turn
    -- {} into "table: 0x..." and answer 200 having reached no one
    if type(body.user) ~= "string" then return answer(400, { error = '"user" must be a string' }) end
    n, code, msg = hub.to_user(body.user, data, opts)
  elseif body.client ~= nil then
    if not is_id(body.client) then
      return answer(400, { error = '"client" must be a client id: a whole decimal number' })
    end
    local ok
    ok, code, msg = hub.to_client(body.client, data, opts)
    n = ok and 1 or nil
  else
    n, code, msg = hub.broadcast(data, opts)
  end
  if not n then
    return answer(code == "not_found" and 404 or 400, { error = code, message = msg })
  end
  return answer(200, { ok = true, delivered = n, position = pos })
end

local function stats(hub, req)
  if req.method ~= "GET" and req.method ~= "HEAD" then return answer(405, { error = "use GET" }) end
  local rooms = {}
  for _, name in ipairs(hub.rooms()) do rooms[name] = hub.room_count(name) end
  return answer(200, { node = hub.node_id(), state = hub.state(), uptime = hub.uptime(),
                       clients = hub.count(), room_count = hub.room_count(),
                       rooms = rooms })   -- with no room, {}: still an object
end

-- A room's members on every live node, as hub.presence lists them.
local function presence(hub, req)
  if req.method ~= "GET" and req.method ~= "HEAD" then return answer(405, { error = "use GET" }) end
  local room = parse_query(req.query).room
  if type(room) ~= "string" then return answer(400, { error = '"room" is required: ?room=NAME' }) end
  local members = hub.presence(room)
  if #members == 0 then members = json.empty_array end
  return answer(200, { room = room, members = members })
end

function M.handle(hub, req)
  if req.path == "/api/publish" then return publish(hub, req) end
  if req.path == "/api/stats" then return stats(hub, req) end
  if req.path == "/api/presence" then return presence(hub, req) end
  return answer(404, { error = "no such API endpoint" })
end

local function label(v)
  return (tostring(v):gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

-- Series from middleware.metrics() and handler errors, in the exposition format.
function M.metrics_text(stats_table)
  local out = {
    "# HELP luahub_script_messages_total Messages through middleware.metrics().",
    "# TYPE luahub_script_messages_total counter",
    "luahub_script_messages_total " .. stats_table.messages,
    "# HELP luahub_script_handler_seconds_total Seconds spent in handlers under middleware.metrics() (monotonic clock).",
    "# TYPE luahub_script_handler_seconds_total counter",
    "luahub_script_handler_seconds_total " .. string.format("%.9f", stats_table.handler_seconds),
    "# HELP luahub_script_errors_total Errors handlers reported, by code.",
    "# TYPE luahub_script_errors_total counter",
  }
  local codes = {}
  for code in pairs(stats_table.errors) do codes[#codes + 1] = code end
  table.sort(codes)
  for _, code in ipairs(codes) do
    out[#out + 1] = ('luahub_script_errors_total{code="%s"} %d'):format(label(code), stats_table.errors[code])
  end
  return table.concat(out, "\n") .. "\n"
end

return M
