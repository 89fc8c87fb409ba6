-- Message objects: msg.kind, msg.time, lazy msg.client_id and msg.data, cached msg:json().
-- While the handler runs, a message points at the core's receive buffer; msg.data makes
-- a Lua string only when read, and forwarding a message (client:send(msg),
-- hub.broadcast(msg), hub.to_room(r, msg)) hands the pointer to C without a copy.
local ffi = require "ffi"
local cjson = require "cjson.safe"
local mistake = require "luahub.mistake"
local C = require "luahub.ffi"

local ffi_string, rawget, rawset, setmetatable = ffi.string, rawget, rawset, setmetatable
local format = string.format

local M = {}
local methods = {}
local mt = {}
M.mt = mt

mt.__index = function(m, k)
  if k == "data" then
    local p = rawget(m, "_p")
    if p == nil then
      error("msg.data is only readable while the handler runs; keep the string, not the message", 2)
    end
    local s = ffi_string(p, rawget(m, "_n"))
    rawset(m, "data", s)
    return s
  end
  if k == "client_id" then   -- the sender's id string, made only when read
    local h = rawget(m, "_from")
    if h == nil then return nil end
    local id = format("%.0f", h)
    rawset(m, "client_id", id)
    return id
  end
  return methods[k]
end

-- Decodes the payload as JSON once: the value, or nil, "bad_json", detail. Never throws.
function methods:json()
  local cached = rawget(self, "_json")
  if cached ~= nil then return cached end
  local v, err = cjson.decode(self.data)
  if v == nil then return nil, "bad_json", err or "payload is not JSON" end
  rawset(self, "_json", v)
  return v
end

local cchar = ffi.typeof("const char *")

-- A top-level string member read by the core from the payload without decoding it:
-- the string; nil when the payload decodes to no such member; or false, "decode" when
-- only msg:json() can tell (escapes, another type, text the scanner does not vouch for).
local span = ffi.new("uint32_t[2]")

function M.string_field(m, name)
  local p = rawget(m, "_p")
  if p ~= nil then
    local r = C.lh_json_field(p, rawget(m, "_n"), name, #name, span)
    if r == 1 then return ffi_string(p + span[0], span[1]) end
    if r == 0 then return nil end
    return false, "decode"
  end
  local s = m.data
  local r = C.lh_json_field(s, #s, name, #name, span)
  if r == 1 then return s:sub(span[0] + 1, span[0] + span[1]) end
  if r == 0 then return nil end
  return false, "decode"
end

-- h: the sender's connection id (a number); msg.client_id is its string, made when read.
function M.wrap(h, kind, p, n, now)
  local m = setmetatable({ kind = kind, _from = h, time = now,
                           _p = ffi.cast(cchar, p), _n = n }, mt)
  borrowed = m
  return m
end

-- A message with new contents (before_message rewrites).
function M.from_string(client_id, kind, s, now)
  return setmetatable({ kind = kind, client_id = client_id, time = now, data = s }, mt)
end

-- The message borrowing the receive buffer right now, if any: a task that waits must
-- copy it first (M.pin), as the buffer is reused while it waits.
local borrowed = nil

-- Ends a message's borrowed view of the receive buffer.
function M.release(m)
  rawset(m, "_p", nil)
  if borrowed == m then borrowed = nil end
end

-- The borrowed message becomes a message of its own (its payload copied into a string).
function M.pin()
  local m = borrowed
  if m == nil then return end
  borrowed = nil
  local p = rawget(m, "_p")
  if p ~= nil then
    if rawget(m, "data") == nil then rawset(m, "data", ffi_string(p, rawget(m, "_n"))) end
    rawset(m, "_p", nil)
  end
end

-- What to do instead of passing v to a send function named api_name; json_name is the
-- sender of the same target that takes a table, if there is one.
local function payload_hint(v, json_name)
  local t = type(v)
  if t == "table" then
    return json_name and "use " .. json_name .. " to send a table as JSON"
      or "encode it first, e.g. with hub.json.encode"
  end
  if t == "number" or t == "boolean" then return "convert it first, e.g. with tostring" end
  if t == "nil" then return "nothing to send: pass a string or a message" end
  return "pass a string or a message"
end

-- Pointer, length and binary flag for anything the send functions accept. Anything else
-- raises at the script's line, naming api_name.
function M.payload(data, api_name, json_name)
  local t = type(data)
  if t == "string" then return data, #data, false end
  if t == "table" and getmetatable(data) == mt then
    local p = rawget(data, "_p")
    if p ~= nil then return p, rawget(data, "_n"), data.kind == "binary" end
    local s = data.data
    return s, #s, data.kind == "binary"
  end
  mistake.raise(api_name, "expected a string or a message, got " .. mistake.describe(data),
    payload_hint(data, json_name))
end

return M
