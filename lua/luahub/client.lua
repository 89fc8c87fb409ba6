-- Client handles: a table holding the connection id; all state lives in C (rooms, user
-- id, metadata, request head) so it survives a reload. Handles are made on demand, one
-- per connection per Lua state.
local ffi = require "ffi"
local C = require "luahub.ffi"
local errors = require "luahub.errors"
local hooks = require "luahub.hooks"
local json = require "luahub.json"
local message = require "luahub.message"
local mistake = require "luahub.mistake"

local ffi_string, result, payload = ffi.string, errors.result, message.payload
local format, tonumber, type = string.format, tonumber, type

local M = {}
local Client = {}
-- Handles by the slot of their connection id (its low 20 bits, core/conn.h), so the
-- table is an array of 8 bytes a client. A slot's handle is its open client's; the
-- handle of an id that is not open while its slot holds another's (a closing client, a
-- late call for a closed one) goes to a hash by id.
local SLOTS = 2 ^ 20
local by_slot, by_id = {}, {}
M.methods = Client

local lenbuf = ffi.new("size_t[1]")
local addrbuf = ffi.new("char[64]")

local properties = {
  -- made on first read and kept: a handle no one asks the id of holds only _h
  id = function(self)
    local id = format("%.0f", self._h)
    rawset(self, "id", id)
    return id
  end,
  user_id = function(self)
    local p = C.lh_user_of(self._h, lenbuf)
    if p == nil then return nil end
    return ffi_string(p, lenbuf[0])
  end,
  remote_addr = function(self)
    if C.lh_remote_addr(self._h, addrbuf, 64) ~= 0 then return nil end
    return ffi_string(addrbuf)
  end,
  connected_at = function(self) return C.lh_connected_at(self._h) end,
}

local mt = {
  __index = function(self, k)
    local prop = properties[k]
    if prop then return prop(self) end
    return Client[k]
  end,
  __tostring = function(self) return "client " .. self.id end,
}

function M.handle(h)
  local slot = h % SLOTS + 1
  local c = by_slot[slot]
  if c and c._h == h then return c end
  local other = by_id[h]
  if other then return other end
  local made = setmetatable({ _h = h }, mt)
  if c == nil or C.lh_is_open(h) == 1 then by_slot[slot] = made else by_id[h] = made end
  return made
end

function M.forget(h)
  local slot = h % SLOTS + 1
  local c = by_slot[slot]
  if c and c._h == h then by_slot[slot] = nil else by_id[h] = nil end
end

-- Connection id number from a handle, an id string or number.
function M.id_of(x)
  if type(x) == "table" then return x._h end
  return tonumber(x)
end

local function check_string(v, what, api_name)
  if type(v) ~= "string" or v == "" then
    mistake.raise(api_name, what .. " must be a non-empty string, got " .. mistake.describe(v),
      type(v) == "number" and "convert it first, e.g. with tostring" or nil)
  end
end

----------------------------------------------------------------------------- sending
function Client:send(data)
  local p, n, binary = payload(data, "client:send", "client:send_json")
  return result(C.lh_send(self._h, p, n, binary and 1 or 0))
end

function Client:send_binary(data)
  local p, n = payload(data, "client:send_binary")
  return result(C.lh_send(self._h, p, n, 1))
end

function Client:send_json(v)
  local s, err, detail = json.encode(v)
  if not s then return nil, err, detail end
  return result(C.lh_send(self._h, s, #s, 0))
end

function Client:send_raw_json(s)
  if type(s) ~= "string" then
    mistake.raise("client:send_raw_json", "expected a string of JSON, got " .. mistake.describe(s),
      type(s) == "table" and "use client:send_json to encode a table" or nil)
  end
  return result(C.lh_send(self._h, s, #s, 0))
end

local function valid_close_code(code)
  return code == 1000 or (code >= 1001 and code <= 1014 and code ~= 1004 and code ~= 1005
    and code ~= 1006) or (code >= 3000 and code <= 4999)
end

function Client:close(code, reason)
  code = code or 1000
  reason = reason or ""
  if type(code) ~= "number" or not valid_close_code(code) then
    mistake.raise("client:close", "invalid close code " .. mistake.describe(code),
      "use 1000 (normal), 1001 to 1003, 1007 to 1014, or 3000 to 4999 for your own")
  end
  if #reason > 123 then return nil, "bad_argument", "close reason longer than 123 bytes" end
  return result(C.lh_close(self._h, code, reason, #reason))
end

function Client:is_closed() return C.lh_is_open(self._h) == 0 end

----------------------------------------------------------------------------- rooms
function Client:join(room)
  check_string(room, "room", "client:join")
  -- a closing client joins nothing, and no hook is asked: C answers closed
  if C.lh_is_open(self._h) == 0 then return result(C.lh_join(self._h, room, #room)) end
  if C.lh_in_room(self._h, room, #room) == 1 then
    return nil, "already_in_room", "the client is already in that room"
  end
  local ok, code, msg = hooks.gate("before_room_join", self, room)
  if not ok then return nil, "denied", code or msg or "before_room_join refused" end
  local joined, err, detail = result(C.lh_join(self._h, room, #room))
  if not joined then return nil, err, detail end
  hooks.notify("after_room_join", self, room)
  return true
end

function Client:leave(room)
  check_string(room, "room", "client:leave")
  if C.lh_in_room(self._h, room, #room) == 0 then
    return nil, "not_in_room", "the client is not in that room"
  end
  local ok, code, msg = hooks.gate("before_room_leave", self, room)
  if not ok then return nil, "denied", code or msg or "before_room_leave refused" end
  local left, err, detail = result(C.lh_leave(self._h, room, #room))
  if not left then return nil, err, detail end
  hooks.notify("after_room_leave", self, room, "leave")
  return true
end

-- A closing client leaves its rooms one by one, each reported to after_room_leave with
-- "disconnect" (nothing can refuse it: before_room_leave is not asked), so a room's "X
-- left" needs no before_disconnect bookkeeping.
function M.leave_on_close(client)
  if not hooks.lists.after_room_leave then return end
  local h = client._h
  for _, room in ipairs(client:rooms()) do
    if C.lh_leave(h, room, #room) >= 0 then hooks.notify("after_room_leave", client, room, "disconnect") end
  end
end

function Client:leave_all()
  for _, room in ipairs(self:rooms()) do self:leave(room) end
  return true
end

function Client:rooms()
  local list = {}
  for i = 0, C.lh_client_rooms(self._h) - 1 do
    local p = C.lh_client_room(self._h, i, lenbuf)
    if p ~= nil then list[#list + 1] = ffi_string(p, lenbuf[0]) end
  end
  table.sort(list)
  return list
end

function Client:in_room(room)
  return type(room) == "string" and C.lh_in_room(self._h, room, #room) == 1
end

function Client:room_count() return C.lh_client_rooms(self._h) end

----------------------------------------------------------------------------- identity and metadata
function Client:set_user(id)
  if id == nil then return result(C.lh_set_user(self._h, nil, 0)) end
  id = tostring(id)
  return result(C.lh_set_user(self._h, id, #id))
end

function Client:set(k, v)
  check_string(k, "metadata key", "client:set")
  if v == nil then return self:del(k) end
  local s, _, detail = json.encode(v)
  if not s then return nil, "bad_argument", "metadata value is not JSON-encodable: " .. tostring(detail) end
  return result(C.lh_meta_set(self._h, k, #k, s, #s))
end

function Client:get(k)
  check_string(k, "metadata key", "client:get")
  local p = C.lh_meta_get(self._h, k, #k, lenbuf)
  if p == nil then return nil end
  return (json.decode(ffi_string(p, lenbuf[0])))
end

function Client:del(k)
  check_string(k, "metadata key", "client:del")
  C.lh_meta_del(self._h, k, #k)
  return true
end

function Client:header(name)
  check_string(name, "header name", "client:header")
  local p = C.lh_header(self._h, name, #name, lenbuf)
  if p == nil then return nil end
  return ffi_string(p, lenbuf[0])
end

local function unescape(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Parses "a=1&b=x%20y" into a table (first value wins for repeated keys).
function M.parse_query(q)
  local t = {}
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = unescape(k)
    if t[k] == nil then t[k] = unescape(v) end
  end
  return t
end

function Client:query(name)
  local q = rawget(self, "_query")
  if not q then
    local p = C.lh_target(self._h, lenbuf)
    local target = p ~= nil and ffi_string(p, lenbuf[0]) or ""
    q = M.parse_query(target:match("%?([^#]*)") or "")
    rawset(self, "_query", q)
  end
  if name == nil then return q end
  return q[name]
end

return M
