-- luahub.protocol: the room protocol (docs/protocol.md) as a handler a script installs.
-- The script decides who connects, subscribes, publishes and calls what, through the
-- functions it gives protocol.new; frames that are not protocol commands go to its own
-- handler, so a hub can speak both.
--
--   local proto = require("luahub.protocol").new {
--     on_connect = function(client, req) return { user_id = check(req.token), expires_in = 600 } end,
--     can_subscribe = function(client, room) return room:find("^chat:") ~= nil end,
--     rpc = { time = function() return { now = hub.now() } end },
--     fallback = router,                 -- frames without "op"
--   }
--   hub.handle(proto)
local ffi = require "ffi"
local hub = require "luahub"
local C = require "luahub.ffi"
local frames = require "luahub.protocol.frames"
local new_rooms = require "luahub.protocol.rooms"
local new_expiry = require "luahub.protocol.expiry"

local CONNECTED = "protocol.connected"
local MAX_ROOM = 255
local CLOSE = { unsupported_version = 4002, unauthorized = 4003 }

-- The browser client library, compiled into the binary with the modules (the version
-- built, wherever the binary is), served at opts.client_path.
local function read_library()
  local name, size = "luahub/protocol/luahub.js", ffi.new("size_t[1]")
  local p = C.lh_embedded_file(name, #name, size)
  assert(p ~= nil, "the browser client library is not in this binary")
  return ffi.string(p, size[0])
end

local Protocol = {}
Protocol.__index = Protocol

local function allow() return true end

-- Runs a function the script gave; an error becomes the "internal" error code (logged).
local function call(name, fn, ...)
  local ok, a, b, c = xpcall(fn, debug.traceback, ...)
  if ok then return a, b, c end
  hub.log.error("protocol: " .. name .. " failed: " .. tostring(a))
  return nil, "internal", "the server failed to handle this request"
end

local function room_of(cmd)
  local room = cmd.room
  if type(room) ~= "string" or room == "" or #room > MAX_ROOM then
    return nil, "bad_request", "room must be a string of 1 to " .. MAX_ROOM .. " bytes"
  end
  return room
end

local function position(v)
  if type(v) ~= "table" then return nil end
  local offset = v.offset
  if type(v.epoch) ~= "string" or type(offset) ~= "number" or offset < 0 or offset % 1 ~= 0 or offset >= 2 ^ 53 then
    return nil
  end
  return { epoch = v.epoch, offset = v.offset }
end

----------------------------------------------------------------------------- commands
-- Each returns the reply's result, or nil, code, message; and maybe a function to run
-- once the reply is queued.
local OPS = {}

function OPS:connect(client, cmd)
  if client:get(CONNECTED) then return nil, "already_connected", "connect once per connection" end
  if cmd.version ~= frames.VERSION then
    return nil, "unsupported_version", "this server speaks version " .. frames.VERSION
  end
  local req = { token = cmd.token, name = cmd.name, version = cmd.version, data = cmd.data }
  local granted, code, message = call("on_connect", self.on_connect, client, req)
  if not granted then return nil, code == "internal" and code or "unauthorized", message or code end
  local result = { version = frames.VERSION, client = client.id }
  if type(granted) == "table" then
    if granted.user_id ~= nil then
      local ok, err = client:set_user(granted.user_id)
      if not ok then return nil, err, "cannot take user " .. tostring(granted.user_id) end
    end
    if granted.expires_in then
      self.expiry.set(client, granted.expires_in)
      result.expires_in = granted.expires_in
    end
    result.data = granted.data
  end
  client:set(CONNECTED, type(cmd.name) == "string" and cmd.name:sub(1, 64) or true)
  return result
end

function OPS:refresh(client, cmd)
  if type(cmd.token) ~= "string" then return nil, "bad_request", "token must be a string" end
  local granted, code, message = call("on_refresh", self.on_refresh, client, cmd.token)
  if not granted then return nil, code == "internal" and code or "unauthorized", message or code end
  local seconds = type(granted) == "table" and granted.expires_in or nil
  self.expiry.set(client, seconds)
  return { expires_in = seconds }
end

function OPS:subscribe(client, cmd)
  local room, code, message = room_of(cmd)
  if not room then return nil, code, message end
  if self.rooms.is_subscribed(client, room) then return nil, "already_subscribed", "already subscribed to " .. room end
  local ok
  ok, code, message = call("can_subscribe", self.can_subscribe, client, room, cmd)
  if not ok then return nil, code or "forbidden", message or "not allowed to subscribe to " .. room end
  local recent = type(cmd.recent) == "number" and cmd.recent > 0 and math.floor(cmd.recent) or nil
  local result
  result, code, message = self.rooms.subscribe(client, room, position(cmd.since), recent)
  if not result then return nil, code, message end
  -- on_subscribe runs after the reply is queued: what it sends comes after the replay
  return result, nil, nil, self.on_subscribe and function() self.on_subscribe(client, room, cmd) end
end

function OPS:unsubscribe(client, cmd)
  local room, code, message = room_of(cmd)
  if not room then return nil, code, message end
  local ok, err = self.rooms.unsubscribe(client, room)
  if not ok then
    return nil, err == "not_in_room" and "not_subscribed" or err, "not subscribed to " .. room
  end
  if self.on_unsubscribe then call("on_unsubscribe", self.on_unsubscribe, client, room) end
  return {}
end

function OPS:publish(client, cmd)
  local room, code, message = room_of(cmd)
  if not room then return nil, code, message end
  if cmd.data == nil then return nil, "bad_request", "publish needs data" end
  local ok
  ok, code, message = call("can_publish", self.can_publish, client, room, cmd.data)
  if not ok then return nil, code or "forbidden", message or "not allowed to publish to " .. room end
  -- The client's data is a decoded JSON value (a string is a string, not JSON text); what
  -- can_publish returns instead is the script's, as proto:publish takes it.
  local data
  if ok == true then data = frames.value(cmd.data) else data = frames.data(ok) end
  if not data then return nil, "bad_request", "data cannot be encoded as JSON" end
  local n, pos = self.rooms.publish(room, data)
  if not n then return nil, "unavailable", "the publication failed (" .. tostring(pos) .. ")" end
  return pos or {}
end

function OPS:rpc(client, cmd)
  local fn = type(cmd.method) == "string" and self.rpc[cmd.method]
  if not fn then return nil, "unknown_method", "no method " .. tostring(cmd.method) end
  local result, code, message = call("rpc " .. cmd.method, fn, client, cmd.data)
  if result == nil then
    if code == nil then return { data = hub.json.null } end
    return nil, code, message
  end
  return { data = result }
end

local function may_see(self, client, room)
  if self.rooms.is_subscribed(client, room) then return true end
  return call("can_presence", self.can_presence, client, room)
end

function OPS:presence(client, cmd)
  local room, code, message = room_of(cmd)
  if not room then return nil, code, message end
  if not may_see(self, client, room) then return nil, "forbidden", "not allowed to see who is in " .. room end
  local members = hub.json.array()
  for i, m in ipairs(hub.presence(self.rooms.core(room))) do
    members[i] = { client = m.client_id, user = m.user_id }
  end
  return { members = members }
end

function OPS:presence_stats(client, cmd)
  local room, code, message = room_of(cmd)
  if not room then return nil, code, message end
  if not may_see(self, client, room) then return nil, "forbidden", "not allowed to see who is in " .. room end
  return hub.presence_stats(self.rooms.core(room))
end

----------------------------------------------------------------------------- dispatch
local function reply(client, id, ok, code, message)
  if id == nil and ok then return end
  if ok then return client:send(frames.result(id, ok)) end
  return client:send(frames.error(id, code, message))
end

-- Handles one frame: a protocol command (a JSON object with "op"), or anything else for
-- opts.fallback (or a bad_request error without one).
function Protocol:dispatch(client, msg)
  local cmd = msg.kind == "text" and msg:json()
  if type(cmd) ~= "table" or type(cmd.op) ~= "string" then
    if self.fallback then return self.fallback(client, msg) end
    reply(client, nil, nil, "bad_request", "expected a JSON object with an op")
    return nil, "bad_request"
  end
  local id = cmd.id
  if id ~= nil and type(id) ~= "number" and type(id) ~= "string" then id = nil end
  local op = self.ops[cmd.op]
  if not op then
    reply(client, id, nil, "unknown_op", "no op " .. cmd.op)
    return nil, "unknown_op"
  end
  if cmd.op ~= "connect" and not client:get(CONNECTED) then
    reply(client, id, nil, "not_connected", "send connect first")
    return nil, "not_connected"
  end
  local result, code, message, later = op(self, client, cmd)
  reply(client, id, result, code, message)
  if later then call("on_subscribe", later) end
  if not result and CLOSE[code] and (cmd.op == "connect" or cmd.op == "refresh") then
    client:close(CLOSE[code], message and message:sub(1, 120) or code)
  end
  if not result then return nil, code end
  return true
end

-- An error reply to a command that did not reach dispatch (e.g. dropped by a rate
-- limit), if msg was one and carried an id.
function Protocol:reject(client, msg, code, message)
  local cmd = msg.kind == "text" and msg:json()
  if type(cmd) ~= "table" or type(cmd.op) ~= "string" then return false end
  if cmd.id ~= nil then client:send(frames.error(cmd.id, code, message)) end
  return true
end

----------------------------------------------------------------------------- for the script
function Protocol:is_connected(client) return client:get(CONNECTED) ~= nil end

--- Publishes data (a Lua value, or JSON text) to room: kept in its history, pushed to its
--- subscribers, and handed as it is to the members of the core room of that name.
--- Returns the clients reached and the position, or nil, err.
function Protocol:publish(room, data)
  local text, err = frames.data(data)
  if not text then return nil, err end
  return self.rooms.publish(room, text)
end

--- Sends data to the room's subscribers without keeping it (typing, presence, notices);
--- opts as hub.to_room's (except).
function Protocol:send_room(room, data, opts) return self.rooms.send(room, frames.data(data), opts) end

--- Sends data to one client as a message push.
function Protocol:send(client, data) return client:send(frames.message(nil, frames.data(data))) end

function Protocol:subscribers(room) return self.rooms.subscribers(room) end

--- Ends a subscription from the server; the client is told with an "unsubscribed" push.
function Protocol:unsubscribe(client, room, code, message)
  local ok, err = self.rooms.unsubscribe(client, room)
  if not ok then return nil, err end
  client:send(frames.push("unsubscribed", { room = room, code = code or "unsubscribed", message = message }))
  if self.on_unsubscribe then call("on_unsubscribe", self.on_unsubscribe, client, room) end
  return true
end

--- Sets or clears (nil) a connection's credentials expiry, in seconds from now.
function Protocol:expire_in(client, seconds) self.expiry.set(client, seconds) end

local M = { VERSION = frames.VERSION, CLOSE_EXPIRED = 4001, CLOSE_UNSUPPORTED = 4002, CLOSE_UNAUTHORIZED = 4003 }

function M.new(opts)
  opts = opts or {}
  local self = setmetatable({
    on_connect = opts.on_connect or allow,
    can_subscribe = opts.can_subscribe or allow,
    can_publish = opts.can_publish or function() return nil, "forbidden", "publishing is not enabled" end,
    can_presence = opts.can_presence or function() return false end,
    on_subscribe = opts.on_subscribe,
    on_unsubscribe = opts.on_unsubscribe,
    rpc = opts.rpc or {},
    ops = setmetatable(opts.ops or {}, { __index = OPS }),
    rooms = new_rooms(hub, opts.room_prefix or "~"),
    expiry = new_expiry(hub, opts),
  }, Protocol)
  self.on_refresh = opts.on_refresh or function(client, token)
    return self.on_connect(client, { token = token, refresh = true })
  end
  local fallback = opts.fallback
  if type(fallback) == "table" then
    self.fallback = function(client, msg) return fallback:dispatch(client, msg) end
  else
    self.fallback = fallback
  end
  hub.on("after_disconnect", function(client) self.expiry.forget(client) end)
  self.expiry.restore()
  if opts.client_path ~= false then
    local library = read_library()
    hub.route("GET", opts.client_path or "/luahub.js", function()
      return 200, library, { ["Content-Type"] = "text/javascript; charset=utf-8", ["Cache-Control"] = "no-cache" }
    end)
  end
  return self
end

return M
