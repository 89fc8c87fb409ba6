-- The `luahub` module a hub.lua script programs against (see docs/lua-api.md).
-- State that must outlive a reload lives in C; this module holds logic and thin handles.
local ffi = require "ffi"
local C = require "luahub.ffi"
local cjson = require "cjson.safe"
local config = require "luahub.config"

local ffi_string, ffi_cast = ffi.string, ffi.cast
local setmetatable, rawget, rawset, type, tonumber = setmetatable, rawget, rawset, type, tonumber
local traceback, format = debug.traceback, string.format

local hub = {}
local script_config = {}
local handler
local handles = {}            -- connection id (number) -> client handle

-- Stable error codes of C's enum conn_err.
local errors = {
  [-1] = { "closed", "the connection is closed or closing" },
  [-2] = { "not_found", "no such client" },
  [-3] = { "queue_full", "the client's send queue is full" },
  [-4] = { "no_memory", "out of memory" },
  [-5] = { "bad_argument", "invalid argument (text must be valid UTF-8; close reason <= 123 bytes)" },
}

local function result(rc)
  if rc >= 0 then return true end
  local e = errors[rc] or { "error", "error " .. rc }
  return nil, e[1], e[2]
end

----------------------------------------------------------------------------- logging
local levels = { debug = 0, info = 1, warn = 2, error = 3 }

local function log(level, msg, fields, client_id)
  msg = tostring(msg)
  local body = nil
  if fields ~= nil then
    local encoded = cjson.encode(fields)
    if encoded and encoded:sub(1, 1) == "{" and #encoded > 2 then body = encoded:sub(2, -2) end
  end
  C.lh_log(level, client_id or 0, msg, #msg, body)
end

hub.log = {}
for name, level in pairs(levels) do
  hub.log[name] = function(msg, fields) log(level, msg, fields) end
end

hub.json = {
  encode = function(v) return cjson.encode(v) end,
  decode = function(s) return cjson.decode(s) end,
}

----------------------------------------------------------------------------- messages
local Message = {}
local message_mt = {}
local cchar = ffi.typeof("const char *")

message_mt.__index = function(m, k)
  if k == "data" then
    local p = rawget(m, "_p")
    if p == nil then error("msg.data is only readable while the handler runs; copy it first", 2) end
    local s = ffi_string(p, rawget(m, "_n"))
    rawset(m, "data", s)
    return s
  end
  return Message[k]
end

-- Decodes the payload as JSON once and caches it: value, or nil, "bad_json", detail.
function Message:json()
  local cached = rawget(self, "_json")
  if cached ~= nil then return cached end
  local v, err = cjson.decode(self.data)
  if v == nil then return nil, "bad_json", err or "not JSON" end
  rawset(self, "_json", v)
  return v
end

-- Payload pointer and length of a string or a message being handled (no copy for msg).
local function payload(data)
  if type(data) == "string" then return data, #data, false end
  if getmetatable(data) == message_mt then
    local p = rawget(data, "_p")
    if p ~= nil then return p, rawget(data, "_n"), data.kind == "binary" end
    return data.data, #data.data, data.kind == "binary"
  end
  error("expected a string or a message, got " .. type(data), 3)
end

----------------------------------------------------------------------------- clients
local Client = {}
Client.__index = Client

local function handle_for(h)
  local c = handles[h]
  if not c then
    c = setmetatable({ _h = h, id = format("%.0f", h) }, Client)
    handles[h] = c
  end
  return c
end

local function to_handle_number(id)
  if type(id) == "table" then return id._h end
  return tonumber(id)
end

function Client:send(data)
  local p, n, is_binary = payload(data)
  return result(C.lh_send(self._h, p, n, is_binary and 1 or 0))
end

function Client:send_binary(data)
  local p, n = payload(data)
  return result(C.lh_send(self._h, p, n, 1))
end

function Client:send_json(v)
  local s, err = cjson.encode(v)
  if not s then return nil, "bad_json", err end
  return result(C.lh_send(self._h, s, #s, 0))
end

function Client:send_raw_json(s)
  return result(C.lh_send(self._h, s, #s, 0))
end

function Client:close(code, reason)
  code = code or 1000
  reason = reason or ""
  if type(code) ~= "number" or not (code == 1000 or (code >= 1001 and code <= 1014 and code ~= 1004
      and code ~= 1005 and code ~= 1006) or (code >= 3000 and code <= 4999)) then
    error("client:close: invalid close code " .. tostring(code), 2)
  end
  return result(C.lh_close(self._h, code, reason, #reason))
end

function Client:is_closed()
  return C.lh_is_open(self._h) == 0
end

local addrbuf = ffi.new("char[64]")
function Client:remote_address()
  if C.lh_remote_addr(self._h, addrbuf, 64) ~= 0 then return nil, "closed" end
  return ffi_string(addrbuf)
end

----------------------------------------------------------------------------- hub operations
function hub.config(t)
  if type(t) ~= "table" then error("hub.config expects a table", 2) end
  config.merge(script_config, t)
end

function hub.handle(h)
  if type(h) == "function" then
    handler = h
  elseif type(h) == "table" and type(h.dispatch) == "function" then
    handler = function(client, msg) return h:dispatch(client, msg) end
  else
    error("hub.handle expects a function(client, msg) or a router", 2)
  end
end

function hub.broadcast(data, opts)
  local p, n, is_binary = payload(data)
  local except = 0
  if opts then
    if opts.binary ~= nil then is_binary = opts.binary end
    if opts.except then except = to_handle_number(opts.except) or 0 end
  end
  local rc = C.lh_broadcast(p, n, is_binary and 1 or 0, except)
  if rc < 0 then return result(rc) end
  return rc
end

function hub.broadcast_json(v, opts)
  local s, err = cjson.encode(v)
  if not s then return nil, "bad_json", err end
  return hub.broadcast(s, opts)
end

function hub.to_client(id, data, opts)
  local h = to_handle_number(id)
  if not h or C.lh_is_open(h) == 0 then return nil, "not_found", "no such client" end
  local p, n, is_binary = payload(data)
  if opts and opts.binary ~= nil then is_binary = opts.binary end
  return result(C.lh_send(h, p, n, is_binary and 1 or 0))
end

function hub.client(id)
  local h = to_handle_number(id)
  if not h or C.lh_is_open(h) == 0 then return nil, "not_found", "no such client" end
  return handle_for(h)
end

function hub.count() return tonumber(C.lh_count()) end

----------------------------------------------------------------------------- dispatch from C
local function report(client, err)
  log(levels.error, "handler error: " .. tostring(err), nil, client and client._h)
end

function hub._on_open(h)
  handle_for(h)
end

function hub._on_message(h, opcode, p, n)
  local client = handles[h] or handle_for(h)
  if not handler then return end
  local msg = setmetatable({
    kind = opcode == 2 and "binary" or "text",
    client_id = client.id,
    time = C.lh_now(),
    _p = ffi_cast(cchar, p),
    _n = n,
  }, message_mt)
  local ok, err = xpcall(handler, traceback, client, msg)
  msg._p = nil
  if not ok then report(client, err) end
end

function hub._on_close(h, code)
  handles[h] = nil
end

-- Called by the core after the script ran: merges the --config overrides, validates and
-- applies. Returns nil, or all problems as one string (one per line).
function hub._setup(overrides_json)
  local cfg = script_config
  if overrides_json then
    local over, err = cjson.decode(overrides_json)
    if type(over) ~= "table" then return "--config: invalid JSON object: " .. tostring(err or over) end
    cfg = config.merge(script_config, over)
  end
  local problems = config.validate(cfg)
  if #problems == 0 then problems = config.apply(cfg) end
  if #problems > 0 then return table.concat(problems, "\n") end
  return nil
end

return hub
