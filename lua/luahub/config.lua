-- hub.config{} validation and application. Every problem is reported with its key path,
-- all at once, so `luahub check` shows the whole list; values reach C through the FFI.
local ffi = require "ffi"
local C = require "luahub.ffi"

local M = {}

-- Ranges match the core's fields (32-bit counts, 64-bit sizes, 32-entry lists): a value
-- that passes here is one C accepts, so applying a config never fails half-way, which
-- would leave a refused reload's settings in force.
local function is_whole(v, limit) return type(v) == "number" and v >= 0 and v % 1 == 0 and v < limit end
local function is_count(v) return is_whole(v, 2^32) end
local function is_seconds(v) return type(v) == "number" and v >= 0 and v < 1e9 end
local LIST_MAX = 32

-- A value as a problem report shows it; a table's address would tell the user nothing.
local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then return "a table" end
  return tostring(v) .. " (" .. type(v) .. ")"
end

local function enum(...)
  local allowed = { ... }
  return function(v)
    for _, a in ipairs(allowed) do if v == a then return true end end
    return false, "one of " .. table.concat(allowed, ", ")
  end
end

local function string_list(v)
  if type(v) ~= "table" then return false, "a list of strings" end
  if #v > LIST_MAX then return false, "a list of at most " .. LIST_MAX .. " strings" end
  for i, s in ipairs(v) do
    if type(s) ~= "string" or s == "" then
      return false, "a list of non-empty strings (entry " .. i .. " is " .. describe(s) .. ")"
    end
  end
  return true
end

-- Each checker returns ok, expectation.
local number_kind = {
  count = function(v) return is_count(v), "a whole number from 0 to 4294967295" end,
  bytes = function(v) return is_whole(v, 2^53), "a whole number of bytes >= 0" end,
  positive = function(v) return is_whole(v, 2^53) and v > 0, "a whole number > 0" end,
  seconds = function(v) return is_seconds(v), "a number of seconds >= 0" end,
  rate = function(v) return is_seconds(v), "a number of messages per second >= 0" end,
}

local schema = {
  listen = "string", ws_path = "path", static = "string",
  origins = function(v)
    if v == "same" or v == "*" then return true end
    if type(v) == "table" then return string_list(v) end
    return false, '"same", "*" or a list of origins'
  end,
  subprotocols = string_list,
  max_message_size = "positive",
  ping_interval = "seconds", pong_timeout = "seconds", write_timeout = "seconds",
  handshake_timeout = "seconds", drain_timeout = "seconds",
  compression = "boolean", reuse_port = "boolean", watch = "boolean",
  http_max_body = "count",
  api_key = "string",
  send_queue = { messages = "count", bytes = "bytes",
                 policy = enum("drop_newest", "drop_oldest", "close") },
  limits = { connections = "count", per_user = "count", rooms_per_client = "count",
             clients_per_room = "count", message_rate = "rate" },
  log = { level = enum("debug", "info", "warn", "error"), format = enum("text", "json") },
  cluster = { adapter = enum("redis", "nats"),
              url = function(v)
                return type(v) == "string" and v:match("^%a+://[^/]") ~= nil,
                  'a URL such as "redis://127.0.0.1:6379" or "nats://127.0.0.1:4222"'
              end,
              node_id = function(v)
                return type(v) == "string" and #v > 0 and #v <= 255, "a string of 1 to 255 bytes"
              end,
              heartbeat = "seconds",
              channel_prefix = function(v)
                return type(v) == "string" and v:match("^[%w_%-]+$") ~= nil,
                  "letters, digits, _ and - (it starts every broker channel name)"
              end },
}

local function check(value, rule, path, problems)
  local ok, want
  if type(rule) == "table" then
    if type(value) ~= "table" then
      problems[#problems + 1] = path .. ": expected a table, got " .. describe(value)
      return
    end
    for k, v in pairs(value) do
      local sub = rule[k]
      if sub == nil then
        problems[#problems + 1] = path .. "." .. tostring(k) .. ": unknown key"
      else
        check(v, sub, path .. "." .. k, problems)
      end
    end
    return
  elseif type(rule) == "function" then
    ok, want = rule(value)
  elseif number_kind[rule] then
    ok, want = number_kind[rule](value)
  elseif rule == "path" then
    ok, want = type(value) == "string" and value:sub(1, 1) == "/", "a path starting with /"
  else
    ok, want = type(value) == rule, "a " .. rule
  end
  if not ok then problems[#problems + 1] = path .. ": expected " .. want .. ", got " .. describe(value) end
end

-- Problems in cfg as a list of strings (empty when valid).
function M.validate(cfg)
  local problems = {}
  for k, v in pairs(cfg) do
    local rule = schema[k]
    if rule == nil then
      problems[#problems + 1] = "config." .. tostring(k) .. ": unknown key"
    else
      check(v, rule, "config." .. k, problems)
    end
  end
  local ping, pong = cfg.ping_interval, cfg.pong_timeout
  if ping == nil then ping = 54 end
  if pong == nil then pong = 60 end
  if type(ping) == "number" and type(pong) == "number" and ping > 0 and pong > 0 and pong <= ping then
    problems[#problems + 1] = ("config.pong_timeout: %g must be longer than ping_interval (%g), "
      .. "or a client answering every ping is dropped"):format(pong, ping)
  end
  local cluster = type(cfg.cluster) == "table" and cfg.cluster
  if cluster and cluster.adapter then
    local scheme = type(cluster.url) == "string" and cluster.url:match("^(%a+)://")
    if cluster.url == nil then
      problems[#problems + 1] = "config.cluster.url: required with cluster.adapter"
    elseif scheme and scheme ~= cluster.adapter then
      problems[#problems + 1] = ("config.cluster.url: a %s:// URL, as cluster.adapter is %q"):format(
        tostring(cluster.adapter), tostring(cluster.adapter))
    end
  end
  table.sort(problems)
  return problems
end

-- Deep merge of over into base (lists and scalars replace).
function M.merge(base, over)
  for k, v in pairs(over) do
    if type(v) == "table" and type(base[k]) == "table" and v[1] == nil and next(v) ~= nil then
      M.merge(base[k], v)
    else
      base[k] = v
    end
  end
  return base
end

local errbuf = ffi.new("char[256]")

local function apply_value(key, v, problems)
  local rc
  if type(v) == "number" then
    rc = C.lh_config_set_number(key, v, errbuf, 256)
  elseif type(v) == "boolean" then
    rc = C.lh_config_set_number(key, v and 1 or 0, errbuf, 256)
  elseif type(v) == "string" then
    rc = C.lh_config_set_string(key, v, errbuf, 256)
  elseif type(v) == "table" then
    C.lh_config_clear_list(key)
    rc = 0
    for _, s in ipairs(v) do
      rc = C.lh_config_add_string(key, s, errbuf, 256)
      if rc ~= 0 then break end
    end
  end
  if rc ~= 0 then problems[#problems + 1] = "config." .. ffi.string(errbuf) end
end

local log_levels = { debug = 0, info = 1, warn = 2, error = 3 }
local log_formats = { text = 0, json = 1 }

-- Writes a validated config into the core. Returns the list of problems C found.
function M.apply(cfg)
  local problems = {}
  for k, v in pairs(cfg) do
    if k == "log" then
      C.lh_set_log(log_levels[v.level] or -1, log_formats[v.format] or -1)
    elseif type(v) == "table" and v[1] == nil and k ~= "origins" and k ~= "subprotocols" then
      for sk, sv in pairs(v) do apply_value(k .. "." .. sk, sv, problems) end
    else
      apply_value(k, v, problems)
    end
  end
  return problems
end

return M
