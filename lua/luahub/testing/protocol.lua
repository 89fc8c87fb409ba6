--- luahub.testing.protocol: a client of the room protocol (docs/protocol.md) for specs,
-- on the testing WebSocket client. It keeps what the browser library keeps — each room's
-- position, the publications received in order without duplicates — so a spec checks
-- recovery as a page would see it.
--
--   local P = require "luahub.testing.protocol"
--   local c = assert(P.connect(srv, { token = "t" }))
--   c:subscribe("news")
--   c:publish("news", { text = "hi" })
--   c:wait_pubs("news", 1)               -- c.rooms.news.pubs[1].data.text == "hi"
local cjson = require "cjson.safe"
local wait = require "luahub.testing.wait"

local M = { VERSION = 1 }

local Conn = {}
Conn.__index = Conn

local function room_state(self, room)
  local r = self.rooms[room]
  if not r then
    r = { pubs = {}, messages = {}, offset = nil, epoch = nil, subscribing = false, buffer = {} }
    self.rooms[room] = r
  end
  return r
end

-- Takes a publication unless its offset is not past the room's position (a copy seen
-- in the replay and again live). Publications without a position are taken as they come.
local function take(r, pub)
  if pub.offset and r.offset and pub.offset <= r.offset then
    r.duplicates = (r.duplicates or 0) + 1
    return
  end
  r.pubs[#r.pubs + 1] = pub
  if pub.offset then r.offset = pub.offset end
end

function Conn:_push(m)
  if m.push == "pub" then
    local r = room_state(self, m.room)
    local pub = { offset = m.offset, epoch = m.epoch, data = m.data }
    if r.subscribing then r.buffer[#r.buffer + 1] = pub else take(r, pub) end
  elseif m.push == "msg" then
    local list = m.room and room_state(self, m.room).messages or self.messages
    list[#list + 1] = m.data
  elseif m.push == "refresh" and self.opts.token_fn then
    self.refreshes = self.refreshes + 1
    self:send_command { op = "refresh", token = self.opts.token_fn() }
  else
    self.pushes[#self.pushes + 1] = m
  end
end

-- Reads one frame (or times out) and files it. Returns the frame decoded, or nil, err.
function Conn:pump(timeout)
  local data, err, code = self.ws:receive(timeout or 0.05)
  if not data then
    if err == "closed" then self.closed, self.close_code = true, code end
    return nil, err
  end
  local m = cjson.decode(data)
  if type(m) ~= "table" then
    self.raw[#self.raw + 1] = data
  elseif m.push then
    self:_push(m)
  elseif m.id ~= nil then
    self.replies[m.id] = m
  else
    self.raw[#self.raw + 1] = m
  end
  return m
end

function Conn:send_command(cmd)
  self.next_id = self.next_id + 1
  cmd.id = self.next_id
  local ok, err = self.ws:send(assert(cjson.encode(cmd)))
  if not ok then return nil, err end
  return cmd.id
end

--- Sends a command and waits for its reply: result, or nil, code, message.
function Conn:call(cmd, timeout)
  local id, err = self:send_command(cmd)
  if not id then return nil, err end
  local deadline = os.time() + (timeout or wait.default_timeout) + 1
  while not self.replies[id] do
    local _, perr = self:pump(0.05)
    if perr == "closed" then return nil, "closed", tostring(self.close_code) end
    if os.time() > deadline then return nil, "timeout", "no reply to " .. cmd.op end
  end
  local reply = self.replies[id]
  self.replies[id] = nil
  if reply.error then return nil, reply.error.code, reply.error.message end
  return reply.result
end

--- Subscribes, since the room's last position when it has one (opts.since overrides,
-- false for none). Returns the result (publications already taken), or nil, code, msg.
function Conn:subscribe(room, opts)
  opts = opts or {}
  local r = room_state(self, room)
  local since = opts.since
  if since == nil and r.offset then since = { epoch = r.epoch, offset = r.offset } end
  r.subscribing, r.buffer = true, {}
  local result, code, message = self:call {
    op = "subscribe", room = room, since = since or nil, recent = opts.recent, data = opts.data,
  }
  r.subscribing = false
  if not result then return nil, code, message end
  if since and result.recovered == false then r.missed = (r.missed or 0) + 1 end
  -- another epoch is another stream: offsets of the old one say nothing about it
  if result.epoch ~= r.epoch then r.offset = nil end
  r.epoch = result.epoch
  for _, p in ipairs(result.publications) do take(r, { offset = p.offset, epoch = result.epoch, data = p.data }) end
  if result.offset and (not r.offset or result.offset > r.offset) then r.offset = result.offset end
  for _, pub in ipairs(r.buffer) do take(r, pub) end
  r.buffer = {}
  return result
end

function Conn:unsubscribe(room) return self:call { op = "unsubscribe", room = room } end
function Conn:publish(room, data) return self:call { op = "publish", room = room, data = data } end

function Conn:rpc(method, data)
  local result, code, message = self:call { op = "rpc", method = method, data = data }
  if not result then return nil, code, message end
  return result.data
end

--- Waits until room has at least n publications; returns them.
function Conn:wait_pubs(room, n, timeout)
  local r = room_state(self, room)
  wait.eventually(function()
    if #r.pubs >= n then return true end
    self:pump(0.05)
    return #r.pubs >= n, #r.pubs
  end, { timeout = timeout, interval = 0, message = "fewer than " .. n .. " publications in " .. room })
  return r.pubs
end

--- Reads frames until fn(self) is truthy; returns its result.
function Conn:pump_until(fn, timeout, message)
  return wait.eventually(function()
    local v = fn(self)
    if v then return v end
    self:pump(0.05)
    return fn(self)
  end, { timeout = timeout, interval = 0, message = message })
end

function Conn:disconnect() self.ws:disconnect() end

--- A new connection to srv (the same one, or a restarted one) that resubscribes to every
-- room since its last position, as the browser library does after a reconnect.
function Conn:reconnect(srv)
  local ws, err = srv:connect()
  if not ws then return nil, err end
  self.ws, self.closed, self.replies = ws, false, {}
  local ok, code, message = self:_hello()
  if not ok then return nil, code, message end
  for room in pairs(self.rooms) do
    local result
    result, code, message = self:subscribe(room)
    if not result then return nil, code, message end
  end
  return self
end

function Conn:_hello()
  local o = self.opts
  local token = o.token_fn and o.token_fn() or o.token
  local result, code, message = self:call { op = "connect", version = o.version or M.VERSION,
                                            token = token, name = o.name, data = o.data }
  self.connect_result = result
  return result, code, message
end

--- Connects and says hello. opts: token (or token_fn, also used to answer refresh
--- pushes), name, data, version. Returns the connection, or nil, code, message.
function M.connect(srv, opts)
  local ws, err = srv:connect()
  if not ws then return nil, err end
  local self = setmetatable({
    ws = ws, opts = opts or {}, next_id = 0, replies = {}, rooms = {},
    messages = {}, pushes = {}, raw = {}, refreshes = 0,
  }, Conn)
  local ok, code, message = self:_hello()
  if not ok then return nil, code, message, self end
  return self
end

return M
