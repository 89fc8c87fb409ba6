-- hub.shared: the shared dictionaries (core/shdict.c), state in C memory that survives
-- every reload; semantics after OpenResty's lua_shared_dict (docs/lua-api.md, "Shared
-- dictionaries"). A handle holds only the dictionary's index in the core; values cross
-- the FFI as a pointer and a length (strings) or a double (numbers), with no copy but
-- the string Lua makes.
local ffi = require "ffi"
local C = require "luahub.ffi"
local errors = require "luahub.errors"

local ffi_string, type, error, tostring = ffi.string, type, error, tostring

local M = {}

M.SIZES = 'from "8k" to "16g"'
local MIN, MAX = 8 * 1024, 16 * 1024 ^ 3     -- SHDICT_MIN_BYTES, SHDICT_MAX_BYTES
local MAX_KEY = 65535                         -- SHDICT_MAX_KEY
local SUFFIX = { [""] = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3 }
-- lh_api.h: value types and store modes
local STRING, NUMBER, BOOLEAN = 1, 2, 3
local SET, ADD, REPLACE = 0, 1, 2

function M.is_name(name)
  return type(name) == "string" and #name <= 64 and name:match("^[%a_][%w_]*$") ~= nil
end

-- The bytes of a size (a whole number, or digits with a k, m or g suffix), or nil when it
-- is none or out of range.
function M.bytes(size)
  local n = size
  if type(size) == "string" then
    local digits, suffix = size:match("^(%d+)([kKmMgG]?)$")
    n = digits and tonumber(digits) * SUFFIX[suffix:lower()]
  end
  if type(n) ~= "number" or n % 1 ~= 0 or n < MIN or n > MAX then return nil end
  return n
end

-- Out-parameters, reused by every call (the FFI writes them before Lua reads them).
local str_p, len_p = ffi.new("const char *[1]"), ffi.new("size_t[1]")
local num_p, flags_p = ffi.new("double[1]"), ffi.new("uint32_t[1]")
local init_p, cursor_p = ffi.new("double[1]"), ffi.new("uint32_t[1]")

-- The details the contract's messages would get wrong here ("no such client").
local DETAIL = { not_found = "no such key", no_memory = "no room for the value" }

local function failure(rc)
  local _, code, message = errors.result(rc)
  return nil, code, DETAIL[code] or message
end

local applied = false
local Dict = {}
Dict.__index = Dict

local function unusable(d, fn)
  if applied then
    error(("hub.shared.%s:%s: no such dictionary (declare it: hub.config { shared = { %s = size } })")
      :format(d.name, fn, d.name), 3)
  end
  error(("hub.shared.%s:%s: not usable while the script loads (the config is applied once it ran)")
    :format(d.name, fn), 3)
end

-- Raised at the script's line: level 3 from a method (store counts as one: the methods
-- tail-call it), 4 from the checks below.
local function bad(d, fn, what, level) error(("hub.shared.%s:%s: %s"):format(d.name, fn, what), level or 3) end

-- Raises unless key is a string of 1 to 65535 bytes or a number (used as its string).
local function checked_key(d, fn, key)
  if type(key) == "number" then key = tostring(key) end
  if type(key) ~= "string" or #key == 0 or #key > MAX_KEY then
    bad(d, fn, "key must be a non-empty string of at most 65535 bytes or a number, got " .. type(key), 4)
  end
  return key
end

local function checked_seconds(d, fn, what, s)
  if s == nil then return 0 end
  if type(s) ~= "number" or not (s >= 0) then bad(d, fn, what .. " must be seconds >= 0 (0: none)", 4) end
  return s
end

local function store(d, fn, key, value, ttl, flags, mode, evict)
  local id = d.id or unusable(d, fn)
  if type(key) ~= "string" or #key == 0 or #key > MAX_KEY then key = checked_key(d, fn, key) end
  if ttl ~= nil then ttl = checked_seconds(d, fn, "ttl", ttl) else ttl = 0 end
  if flags == nil then
    flags = 0
  elseif type(flags) ~= "number" or flags % 1 ~= 0 or flags < 0 or flags >= 2 ^ 32 then
    bad(d, fn, "flags must be a whole number from 0 to 4294967295")
  end
  local tv, rc = type(value), nil
  if tv == "string" then
    rc = C.lh_shared_set(id, key, #key, STRING, value, #value, 0, flags, ttl, mode, evict)
  elseif tv == "number" then
    rc = C.lh_shared_set(id, key, #key, NUMBER, nil, 0, value, flags, ttl, mode, evict)
  elseif tv == "boolean" then
    rc = C.lh_shared_set(id, key, #key, BOOLEAN, nil, 0, value and 1 or 0, flags, ttl, mode, evict)
  elseif tv == "nil" then
    rc = C.lh_shared_set(id, key, #key, 0, nil, 0, 0, 0, 0, mode, evict)
  else
    bad(d, fn, "value must be a string, number, boolean or nil, got " .. tv)
  end
  if rc < 0 then return failure(rc) end
  return true, nil, rc == 1
end

-- value, flags (when not 0); nil for a key that is absent or expired.
function Dict:get(key)
  local id = self.id or unusable(self, "get")
  if type(key) ~= "string" or #key == 0 or #key > MAX_KEY then key = checked_key(self, "get", key) end
  local t = C.lh_shared_get(id, key, #key, str_p, len_p, num_p, flags_p)
  if t <= 0 then return nil end
  local v
  if t == STRING then v = ffi_string(str_p[0], len_p[0])
  elseif t == NUMBER then v = num_p[0]
  else v = num_p[0] ~= 0 end
  local flags = flags_p[0]
  if flags ~= 0 then return v, flags end
  return v
end

-- true, nil, forcible (live keys were evicted to make room); a nil value deletes.
function Dict:set(key, value, ttl, flags) return store(self, "set", key, value, ttl, flags, SET, 1) end
-- As set, but never evicts: nil, "no_memory" when the value does not fit beside the rest.
function Dict:safe_set(key, value, ttl, flags) return store(self, "safe_set", key, value, ttl, flags, SET, 0) end
-- Only a key that is absent (or expired): else nil, "exists". Never evicts.
function Dict:add(key, value, ttl, flags) return store(self, "add", key, value, ttl, flags, ADD, 0) end
Dict.safe_add = Dict.add
-- Only a key that is present: else nil, "not_found". Evicts as set does.
function Dict:replace(key, value, ttl, flags) return store(self, "replace", key, value, ttl, flags, REPLACE, 1) end

-- The new value, nil, forcible. An absent key is an error (not_found) unless init is
-- given: then it becomes init + by, expiring after init_ttl. A value that is no number
-- is not_a_number. The key keeps its expiry.
function Dict:incr(key, by, init, init_ttl)
  local id = self.id or unusable(self, "incr")
  if type(key) ~= "string" or #key == 0 or #key > MAX_KEY then key = checked_key(self, "incr", key) end
  if type(by) ~= "number" then bad(self, "incr", "by must be a number") end
  local initial = nil
  if init ~= nil then
    if type(init) ~= "number" then bad(self, "incr", "init must be a number or nil") end
    init_p[0] = init
    initial = init_p
  end
  init_ttl = checked_seconds(self, "incr", "init_ttl", init_ttl)
  local rc = C.lh_shared_incr(id, key, #key, by, initial, init_ttl, num_p)
  if rc < 0 then return failure(rc) end
  return num_p[0], nil, rc == 1
end

function Dict:delete(key)
  local id = self.id or unusable(self, "delete")
  key = checked_key(self, "delete", key)
  C.lh_shared_delete(id, key, #key)
  return true
end

-- Seconds the key has left (0: it does not expire), or nil, "not_found".
function Dict:ttl(key)
  local id = self.id or unusable(self, "ttl")
  key = checked_key(self, "ttl", key)
  local rc = C.lh_shared_ttl(id, key, #key, num_p)
  if rc < 0 then return failure(rc) end
  return num_p[0]
end

-- Sets a live key's ttl (0: none) from now: true, or nil, "not_found".
function Dict:expire(key, ttl)
  local id = self.id or unusable(self, "expire")
  key = checked_key(self, "expire", key)
  ttl = checked_seconds(self, "expire", "ttl", ttl)
  local rc = C.lh_shared_expire(id, key, #key, ttl)
  if rc < 0 then return failure(rc) end
  return true
end

function Dict:flush_all()
  C.lh_shared_flush_all(self.id or unusable(self, "flush_all"))
  return true
end

-- Frees up to max (0 or nil: all) expired keys now; how many.
function Dict:flush_expired(max)
  local id = self.id or unusable(self, "flush_expired")
  if max ~= nil and (type(max) ~= "number" or max % 1 ~= 0 or max < 0 or max >= 2 ^ 32) then
    bad(self, "flush_expired", "max must be a whole number >= 0")
  end
  return C.lh_shared_flush_expired(id, max or 0)
end

-- Up to max (default 1024, 0: all) live keys, the most recently used first.
function Dict:keys(max)
  local id = self.id or unusable(self, "keys")
  if max == nil then max = 1024 end
  if type(max) ~= "number" or max % 1 ~= 0 or max < 0 then bad(self, "keys", "max must be a whole number >= 0") end
  local list = {}
  cursor_p[0] = 0
  while max == 0 or #list < max do
    local p = C.lh_shared_next_key(id, cursor_p, len_p)
    if p == nil then break end
    list[#list + 1] = ffi_string(p, len_p[0])
  end
  return list
end

-- Bytes in the dictionary's free blocks: a value of about that size may still not fit
-- while they are scattered (then set evicts, safe_set and add fail).
function Dict:free_space() return C.lh_shared_free_space(self.id or unusable(self, "free_space")) end
-- The declared size in bytes: everything the dictionary holds fits in it.
function Dict:capacity() return C.lh_shared_capacity(self.id or unusable(self, "capacity")) end

-- hub.shared. While the script loads, any name gives a handle, usable once the config
-- (applied after the load) declared it; after that, only declared names are there.
M.dicts = setmetatable({}, {
  __index = function(t, name)
    if applied or type(name) ~= "string" then return nil end
    local d = setmetatable({ name = name }, Dict)
    rawset(t, name, d)
    return d
  end,
})

-- Declares the dictionaries of a validated config ({ name = size }), all of them: the
-- ones it does not name are hidden from this script (the core keeps them). nil, or the
-- problem as a config report line.
function M.declare(map)
  local dicts = M.dicts
  for name, size in pairs(map) do
    local id = C.lh_shared_declare(name, #name, M.bytes(size))
    if id < 0 then
      return ("shared.%s: cannot map %s bytes for it (%s)"):format(name, tostring(size), select(3, failure(id)))
    end
    local d = rawget(dicts, name) or setmetatable({ name = name }, Dict)
    d.id = id
    rawset(dicts, name, d)
  end
  C.lh_shared_declared()
  for name, d in pairs(dicts) do
    if map[name] == nil then
      d.id = nil
      rawset(dicts, name, nil)
    end
  end
  applied = true
  return nil
end

return M
