-- hub.config{} validation and application. Every problem is reported with its key path,
-- all at once, so `luahub check` shows the whole list; values reach C through the FFI.
-- The keys, their types and defaults come from luahub.contract (core/config_keys.h); the
-- rule of each type is here.
local ffi = require "ffi"
local C = require "luahub.ffi"
local contract = require "luahub.contract"
local shared = require "luahub.shared"
local suggest = require "luahub.suggest"

local M = {}

-- Ranges match the core's fields (32-bit counts, 64-bit sizes, list_max-entry lists): a
-- value that passes here is one C accepts, so applying a config never fails half-way,
-- which would leave a refused reload's settings in force.
local function is_whole(v, limit) return type(v) == "number" and v >= 0 and v % 1 == 0 and v < limit end
local function is_seconds(v) return type(v) == "number" and v >= 0 and v < 1e9 end

-- A value as a problem report shows it; a table's address would tell the user nothing.
local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then return "a table" end
  return tostring(v) .. " (" .. type(v) .. ")"
end

local function one_of(v, key)
  for _, a in ipairs(key.values) do if v == a then return true end end
  return false, "one of " .. table.concat(key.values, ", ")
end

local function string_list(v)
  if type(v) ~= "table" then return false, "a list of strings" end
  if #v > contract.list_max then return false, "a list of at most " .. contract.list_max .. " strings" end
  for i, s in ipairs(v) do
    if type(s) ~= "string" or s == "" then
      return false, "a list of non-empty strings (entry " .. i .. " is " .. describe(s) .. ")"
    end
  end
  return true
end

-- The rule of each type of config_keys.h: value, key -> ok, expectation.
local rules = {
  string = function(v) return type(v) == "string", "a string" end,
  path = function(v) return type(v) == "string" and v:sub(1, 1) == "/", "a path starting with /" end,
  boolean = function(v) return type(v) == "boolean", "a boolean" end,
  count = function(v) return is_whole(v, 2^32), "a whole number from 0 to 4294967295" end,
  bytes = function(v) return is_whole(v, 2^53), "a whole number of bytes >= 0" end,
  positive = function(v) return is_whole(v, 2^53) and v > 0, "a whole number > 0" end,
  seconds = function(v) return is_seconds(v), "a number of seconds >= 0" end,
  rate = function(v) return is_seconds(v), "a number of messages per second >= 0" end,
  enum = one_of,
  log_level = one_of,
  log_format = one_of,
  strings = string_list,
  origins = function(v)
    if v == "same" or v == "*" then return true end
    if type(v) == "table" then return string_list(v) end
    return false, '"same", "*" or a list of origins'
  end,
  url = function(v)
    return type(v) == "string" and v:match("^%a[%a%-]*://[^/]") ~= nil,
      'a URL such as "redis://127.0.0.1:6379" or "nats://127.0.0.1:4222"'
  end,
  node_id = function(v)
    return type(v) == "string" and #v > 0 and #v <= 255, "a string of 1 to 255 bytes"
  end,
  channel_prefix = function(v)
    return type(v) == "string" and v:match("^[%w_%-]+$") ~= nil,
      "letters, digits, _ and - (it starts every broker channel name)"
  end,
  history_rooms = function(v)
    local want = 'a table of room names or patterns ("chat:*", a `*` only at the end) and '
      .. "{ size = whole number, ttl = seconds }"
    if type(v) ~= "table" then return false, want end
    for name, b in pairs(v) do
      local star = type(name) == "string" and name:find("*", 1, true)
      if type(name) ~= "string" or star and star < #name then
        return false, want .. "; " .. describe(name) .. " is no room name or pattern"
      end
      if type(b) ~= "table" then return false, want .. "; " .. name .. " is " .. describe(b) end
      for k, x in pairs(b) do
        local ok = (k == "size" and is_whole(x, 2^32)) or (k == "ttl" and is_seconds(x))
        if not ok then return false, want .. "; " .. name .. "." .. tostring(k) .. " is " .. describe(x) end
      end
    end
    return true
  end,
  shared = function(v)
    local want = 'a table of dictionary names (identifiers) and sizes (bytes, or a string such as "10m"; '
      .. shared.SIZES .. ")"
    if type(v) ~= "table" then return false, want end
    for name, size in pairs(v) do
      if not shared.is_name(name) then return false, want .. "; " .. describe(name) .. " is no name" end
      if not shared.bytes(size) then return false, want .. "; " .. name .. " is " .. describe(size) end
    end
    return true
  end,
}

-- The keys nested as hub.config{} takes them: schema.send_queue.policy is the contract's
-- row of "send_queue.policy"; a table that is no row is a section.
local schema, defaults = {}, {}
local sections = { [schema] = true }
for _, key in ipairs(contract.config) do
  assert(rules[key.type], "luahub.config: no rule for type " .. key.type)
  local section, name = key.path:match("^(.-)%.(.+)$")
  if section then
    if not schema[section] then schema[section] = {}; sections[schema[section]] = true end
    schema[section][name] = key
  else
    schema[key.path] = key
  end
  defaults[key.path] = key.default
end

-- For an unknown key k of a section: the closest key of that section, else a key of that
-- name in another section ("per_user" at the top: did you mean limits.per_user?).
local function unknown_key_hint(k, section)
  local siblings = {}
  for name in pairs(section) do siblings[#siblings + 1] = name end
  local hint = suggest.did_you_mean(k, siblings)
  if hint then return hint end
  for _, key in ipairs(contract.config) do
    if key.path:match("[^.]+$") == k then return "did you mean " .. key.path .. "?" end
  end
end

-- at: where the script set the value ("hub.lua:3"), when known; a problem ends with it.
local function check(value, rule, path, problems, at)
  local function problem(key_path, text)
    problems[#problems + 1] = key_path .. ": " .. text .. (at and " (set at " .. at .. ")" or "")
  end
  if sections[rule] then
    if type(value) ~= "table" then
      problem(path, "expected a table, got " .. describe(value))
      return
    end
    for k, v in pairs(value) do
      local sub = rule[k]
      if sub == nil then
        local hint = unknown_key_hint(k, rule)
        problem(path .. "." .. tostring(k), "unknown key" .. (hint and "; " .. hint or ""))
      else
        check(v, sub, path .. "." .. k, problems, at)
      end
    end
    return
  end
  local ok, want = rules[rule.type](value, rule)
  if not ok then problem(path, "expected " .. want .. ", got " .. describe(value)) end
end

-- A key's default ("ws_path" -> "/ws"), or nil.
function M.default(path) return defaults[path] end

-- Problems in cfg as a list of strings (empty when valid). locations: top-level key ->
-- where the script set it (hub.config), for the messages.
function M.validate(cfg, locations)
  local problems = {}
  for k, v in pairs(cfg) do check({ [k] = v }, schema, "config", problems, locations and locations[k]) end
  local ping, pong = cfg.ping_interval, cfg.pong_timeout
  if ping == nil then ping = defaults.ping_interval end
  if pong == nil then pong = defaults.pong_timeout end
  if type(ping) == "number" and type(pong) == "number" and ping > 0 and pong > 0 and pong <= ping then
    problems[#problems + 1] = ("config.pong_timeout: %g must be longer than ping_interval (%g), "
      .. "or a client answering every ping is dropped"):format(pong, ping)
  end
  local cluster = type(cfg.cluster) == "table" and cfg.cluster
  if cluster and cluster.adapter then
    local scheme = type(cluster.url) == "string" and cluster.url:match("^(%a[%a%-]*)://")
    if scheme == "redis-cluster" then scheme = "redis" end   -- the Redis adapter on a Redis Cluster
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

-- The index of v in key.values, from 0: the C enum's value (enum log_level, log_format).
local function value_index(key, v)
  for i, a in ipairs(key.values) do if a == v then return i - 1 end end
end

-- How a validated value reaches the core, by type; the log module keeps log.*, shdict.c
-- the dictionaries, history_policy.c the history rules (a problem of theirs comes back as
-- its text).
local appliers = {
  log_level = function(key, v) C.lh_set_log(value_index(key, v), -1); return 0 end,
  log_format = function(key, v) C.lh_set_log(-1, value_index(key, v)); return 0 end,
  shared = function(_, v)
    local problem = shared.declare(v)
    if problem then return -1, problem end
    return 0
  end,
  history_rooms = function(_, v)
    C.lh_history_rules_clear()
    for name, b in pairs(v) do
      if C.lh_history_rule(name, #name, b.size or -1, b.ttl or -1) ~= 0 then
        return -1, "history.rooms." .. name .. ": cannot be kept"
      end
    end
    return 0
  end,
}

local function apply_value(key, v)
  if type(v) == "number" then
    return C.lh_config_set_number(key.path, v, errbuf, 256)
  elseif type(v) == "boolean" then
    return C.lh_config_set_number(key.path, v and 1 or 0, errbuf, 256)
  elseif type(v) == "string" then
    return C.lh_config_set_string(key.path, v, errbuf, 256)
  end
  C.lh_config_clear_list(key.path)
  for _, s in ipairs(v) do
    local rc = C.lh_config_add_string(key.path, s, errbuf, 256)
    if rc ~= 0 then return rc end
  end
  return 0
end

local function apply(cfg, rule, problems)
  for k, v in pairs(cfg) do
    local key = rule[k]
    if sections[key] then
      apply(v, key, problems)
    else
      local rc, problem = (appliers[key.type] or apply_value)(key, v)
      if rc ~= 0 then problems[#problems + 1] = "config." .. (problem or ffi.string(errbuf)) end
    end
  end
end

-- Writes a validated config into the core. Returns the list of problems C found.
function M.apply(cfg)
  local problems = {}
  apply(cfg, schema, problems)
  -- a config without `shared` declares none: the ones a reload no longer declares hide
  if cfg.shared == nil then shared.declare({}) end
  -- nor history.rooms: the rules a reload no longer has are gone
  if type(cfg.history) ~= "table" or cfg.history.rooms == nil then C.lh_history_rules_clear() end
  if #problems == 0 then require("luahub.history").configured() end
  return problems
end

return M
