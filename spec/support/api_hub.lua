-- A hub whose clients drive the Lua API by message, so a spec can call any client or
-- hub operation through a real socket and read its results:
--   {"op": "join", "room": "x", "tag": 7}  runs client:join("x") and answers
--   {"op": "join", "tag": 7, "value": true}  or  {..., "err": "max_rooms", "detail": "..."}
-- Binary messages are forwarded as they came: to the sender's rooms and back to it.
-- The query parameter ?user=NAME makes before_connect set the user id; ?deny=1 makes a
-- second before_connect hook refuse the request with 403 (after the first set the user).
-- GET /failures lists the errors after_message saw: [{client, err}].
local t = require "luahub.testing"

local M = {}

M.SCRIPT = [[
local hub = require "luahub"

hub.on("before_connect", function(req)
  if req.params.user then return { user_id = req.params.user } end
end)
hub.on("before_connect", function(req)
  if req.params.deny then return false, 403, "denied by the second hook" end
end)

local failures = {}
hub.on("after_message", function(client, msg, err)
  if err then failures[#failures + 1] = { client = client.id, err = err } end
end)
hub.route("GET", "/failures", function() return 200, failures end)

-- An id becomes its handle, a list of ids a list of handles (hub.client answers nil for
-- an unknown id, which leaves a hole the operation must cope with).
local function handles(ids)
  if type(ids) ~= "table" then return ids and hub.client(ids) end
  local list = {}
  for i, id in ipairs(ids) do list[i] = hub.client(id) end
  return list
end

local function ids(clients)
  local list = {}
  for i, c in ipairs(clients) do list[i] = c.id end
  table.sort(list)
  return list
end

local function send_opts(d) return { except = handles(d.except), binary = d.binary } end

local ops = {
  whoami = function(c)
    return { id = c.id, user_id = c.user_id, remote_addr = c.remote_addr, connected_at = c.connected_at }
  end,
  send = function(c, d) return c:send(d.text) end,
  send_binary = function(c, d) return c:send_binary(d.text) end,
  send_json = function(c, d) return c:send_json(d.value) end,
  send_raw_json = function(c, d) return c:send_raw_json(d.raw) end,
  send_bytes = function(c, d) return c:send(string.char(unpack(d.bytes))) end,
  close = function(c, d)
    local before = c:is_closed()
    local ok, err = c:close(d.code, d.reason)
    hub.to_client(d.watcher, hub.json.encode { before = before, ok = ok, err = err, after = c:is_closed() })
  end,
  join = function(c, d) return c:join(d.room) end,
  leave = function(c, d) return c:leave(d.room) end,
  leave_all = function(c) return c:leave_all() end,
  rooms = function(c) return c:rooms() end,
  in_room = function(c, d) return c:in_room(d.room) end,
  room_count = function(c) return c:room_count() end,
  set_user = function(c, d) return c:set_user(d.user) end,
  set = function(c, d) return c:set(d.key, d.value) end,
  get = function(c, d) return c:get(d.key) end,
  del = function(c, d) return c:del(d.key) end,
  header = function(c, d) return c:header(d.name) end,
  query = function(c, d) return c:query(d.name) end,
  broadcast = function(c, d) return hub.broadcast(d.text, send_opts(d)) end,
  broadcast_json = function(c, d) return hub.broadcast_json(d.value, send_opts(d)) end,
  to_room = function(c, d) return hub.to_room(d.room, d.text, send_opts(d)) end,
  to_client = function(c, d) return hub.to_client(d.id, d.text, send_opts(d)) end,
  to_user = function(c, d) return hub.to_user(d.user, d.text, send_opts(d)) end,
  relay = function(c, d, msg) return hub.to_room(d.room, msg) end,
  client = function(c, d)
    local found, err, detail = hub.client(d.id)
    return found and found.id, err, detail
  end,
  user_clients = function(c, d) return ids(hub.user_clients(d.user)) end,
  room_clients = function(c, d) return ids(hub.room_clients(d.room)) end,
  hub_rooms = function() return hub.rooms() end,
  room_exists = function(c, d) return hub.room_exists(d.room) end,
  hub_room_count = function(c, d) return hub.room_count(d.room) end,
  count = function() return hub.count() end,
  info = function()
    return { state = hub.state(), uptime = hub.uptime(), now = hub.now(), node_id = hub.node_id(), nodes = hub.nodes(),
             global_count = hub.global_count(), global_room_count = hub.global_room_count() }
  end,
  log = function(c, d) return hub.log[d.level](d.text, d.fields) end,
  json = function(c, d)
    local encoded = hub.json.encode(d.value)
    local _, err, detail = hub.json.decode(d.broken)
    return { encoded = encoded, decoded = hub.json.decode(encoded) }, err, detail
  end,
}

local function forward(client, msg)
  for _, room in ipairs(client:rooms()) do hub.to_room(room, msg, { except = client }) end
  return client:send(msg)
end

hub.handle(function(client, msg)
  if msg.kind == "binary" then return forward(client, msg) end
  local d = assert(msg:json())
  local value, err, detail = assert(ops[d.op], "unknown op")(client, d, msg)
  if d.op ~= "close" then
    client:send_json { op = d.op, tag = d.tag, value = value, err = err, detail = detail }
  end
end)
]]

--- Starts a server running the script with config overrides.
function M.start(overrides)
  return t.start(t.write_script(M.SCRIPT), overrides)
end

--- Runs op with args on the server as client c and returns the reply
-- { op, tag, value, err, detail }; raises when no reply comes.
function M.call(c, op, args)
  args = args or {}
  args.op = op
  assert(c:send_json(args))
  local reply, err = c:receive_json()
  assert(reply, ("no reply to %s: %s"):format(op, tostring(err)))
  assert(reply.op == op, ("expected the reply to %s, got %s"):format(op, tostring(reply.op)))
  return reply
end

--- The server's id for client c.
function M.id(c)
  return M.call(c, "whoami").value.id
end

return M
