-- hub.redis(url [, opts]): a Redis client for scripts (docs/lua-api.md, "hub.redis").
-- The connection is C's (core/outbound_redis.c): one per distinct URL, kept across
-- reloads, so a handle here is only the connection's number and this handle's default
-- timeout. r:call starts a command in C and waits (luahub.wait) for its result.
local ffi = require "ffi"
local cjson = require "cjson.safe"
local C = require "luahub.ffi"
local errors = require "luahub.errors"
local wait = require "luahub.wait"

local type, select, format, floor = type, select, string.format, math.floor
local ffi_string = ffi.string

local M = {}

-- A Redis nil (a missing key, a nil inside an array): a light userdata NULL, the value
-- of cjson.null, so it keeps its slot in an array and encodes as JSON null.
M.null = cjson.null

local ERR_LEN = 512
local err_buf = ffi.new("char[?]", ERR_LEN)

-- Argument vectors, reused: C formats the command before lh_redis_call returns, so they
-- only have to hold for that call; they grow to the most arguments one call had.
local cap = 0
local argv, lens

local function vectors(n)
  if n > cap then
    cap = n
    argv, lens = ffi.new("const char *[?]", n), ffi.new("size_t[?]", n)
  end
  return argv, lens
end

-- Numbers as Redis reads them: whole ones as integers, others with all their digits.
local function arg_string(v, i)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if v == floor(v) and v > -2^63 and v < 2^63 then return format("%d", v) end
    return format("%.17g", v)
  end
  error(format("redis:call: argument #%d must be a string or a number, not %s", i, t), 3)
end

local Client = {}

-- r:call(cmd, ...): the reply (docs/lua-api.md has the mapping), or nil, code, detail.
function Client.call(self, ...)
  local n = select("#", ...)
  if n == 0 then error("redis:call: a command is required", 2) end
  wait.check("redis:call")
  if self._cluster then return self._cluster:call { n = n, ... } end
  local a, l = vectors(n)
  local keep = {}   -- the strings made from numbers, alive until C has copied them
  for i = 1, n do
    local s = arg_string((select(i, ...)), i)
    keep[i] = s
    a[i - 1], l[i - 1] = s, #s
  end
  local id = C.lh_redis_call(self._h, n, a, l, self._timeout)
  if id > 0 then return wait.wait(id, "redis:call") end
  local _, code, detail = errors.result(id)
  if code == "bad_argument" then
    error(format("redis:call: %s is not supported: it changes the state of the connection every "
      .. "call shares (pub/sub, MONITOR, transactions, SELECT, RESET, HELLO, CLIENT REPLY); "
      .. "use EVAL for atomic sequences", keep[1]), 2)
  end
  return nil, code, detail
end

-- r:get(k), r:hset(k, f, v), ...: any other name is the command of that name.
local commands = {}
local mt = {
  __index = function(_, name)
    local m = Client[name] or commands[name]
    if m == nil and type(name) == "string" and name:match("^%a+$") then
      local cmd = name:upper()
      -- a tail call: an argument error names the script's line, not this one
      m = function(self, ...) return Client.call(self, cmd, ...) end
      commands[name] = m
    end
    return m
  end,
  __tostring = function(self) return "redis client " .. self._url end,
}

-- hub.redis(url [, { timeout = seconds }]): a handle on url's connection; raises on a bad
-- URL. May be called at load: connecting starts on the loop. A redis-cluster:// URL
-- gives a handle whose calls luahub.redis_cluster routes to the nodes' own handles.
function M.new(url, opts)
  if type(url) ~= "string" then error("hub.redis: url must be a string", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("hub.redis: opts must be a table", 2) end
  local timeout = opts and opts.timeout
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout > 0)) then
    error("hub.redis: opts.timeout must be a number of seconds > 0", 2)
  end
  if url:match("^redis%-cluster://") then
    local cluster = require("luahub.redis_cluster").new(url, opts, M.new)
    return setmetatable({ _cluster = cluster, _url = url }, mt)
  end
  local h = C.lh_redis_open(url, #url, err_buf, ERR_LEN)
  if h < 0 then error("hub.redis: " .. ffi_string(err_buf), 2) end
  -- a timeout of 0 tells C to use outbound.timeout, read when the call starts
  return setmetatable({ _h = h, _timeout = timeout or 0, _url = url }, mt)
end

return setmetatable(M, { __call = function(_, ...) return M.new(...) end })
