-- hub.publish and hub.history (docs/lua-api.md, "History"): room history with stream
-- positions { epoch = "...", offset = K }. Where a room's history lives is a backend, a
-- table of two functions:
--   append(room, p, n, binary, size, ttl)  -> pos | nil, code, detail
--   read(room, since, limit, size, ttl)    -> entries, now | nil, code, now-or-detail
-- chosen once, from the running cluster: this process's memory on a single node (C:
-- core/history.c, nothing waits), Redis Streams with the Redis adapter (any node serves
-- any room: hub.redis's connection to cluster.url, so calls wait), and JetStream with
-- NATS (lua/luahub/jetstream.lua: requests on the cluster's connection, which wait too).
-- A room without history never reaches a backend: it is at (this process's epoch, 0)
-- everywhere.
local ffi = require "ffi"
local C = require "luahub.ffi"
local errors = require "luahub.errors"
local mistake = require "luahub.mistake"
local wait = require "luahub.wait"

local ffi_string, type, tonumber = ffi.string, type, tonumber

local M = {}

local COUNT_APPEND, COUNT_RECOVERED, COUNT_UNRECOVERABLE = 0, 1, 2   -- lh_history_count

local offset_box, binary_box, len_box = ffi.new("uint64_t[1]"), ffi.new("int[1]"), ffi.new("size_t[1]")
local ttl_box = ffi.new("double[1]")

local function position()
  local epoch = C.lh_history_position(offset_box)
  return { epoch = ffi_string(epoch), offset = tonumber(offset_box[0]) }
end

----------------------------------------------------------------------------- this process
local memory = { waits = false }

function memory.append(room, p, n, binary)
  local rc = C.lh_history_append(room, #room, p, n, binary and 1 or 0)
  if rc < 0 then return errors.result(rc) end
  return position()
end

-- The entries of the read C just made, as the API gives them.
local function entries(n)
  local list = {}
  for i = 0, n - 1 do
    local p = C.lh_history_entry(i, offset_box, binary_box, len_box)
    list[i + 1] = { offset = tonumber(offset_box[0]), data = ffi_string(p, len_box[0]),
                    binary = binary_box[0] == 1 or nil }
  end
  return list
end

function memory.read(room, since, limit)
  local n
  if since then
    n = C.lh_history_read(room, #room, since.epoch, #since.epoch, since.offset, limit)
  else
    n = C.lh_history_read(room, #room, nil, 0, 0, limit)
  end
  if n < 0 then
    local _, code, detail = errors.result(n)
    if code == "unrecoverable" then return nil, code, position() end
    return nil, code, detail
  end
  return entries(n), position()
end

----------------------------------------------------------------------------- Redis Streams
-- Per room, under the cluster's channel prefix: PREFIX.history.ROOM, a stream whose entry
-- ids are the offsets ("K-0"; fields d = data, b = binary, t = Redis's time in ms), and
-- PREFIX.history-meta.ROOM, a hash with the room's epoch and last offset. Each operation
-- is one EVAL, atomic in Redis. When the hash is gone (never made, expired, or Redis lost
-- its data) a new epoch is made from Redis's clock and the stream starts again, so a
-- position of the old run is unrecoverable, never misread. The stream is trimmed to size
-- (MAXLEN) and by age (the oldest entries past ttl are deleted as new ones come; a read
-- skips any left); with a ttl both keys expire: the stream ttl after the last
-- publication, the hash (the position) after a day or ttl, the longer.
local POSITION_KEPT_MS = 86400 * 1000

local PREAMBLE = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = string.format('%x.%x', tonumber(t[1]), tonumber(t[2]))
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'offset', 0)
end
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], math.max(ttl, tonumber(ARGV[5]))) end
local function expired(e) return ttl > 0 and now - tonumber(e[2][6]) >= ttl end
]]

-- ARGV: data, binary, size, ttl ms, position ms -> { offset, epoch }
local APPEND = PREAMBLE .. [[
local offset = redis.call('HINCRBY', KEYS[2], 'offset', 1)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], offset .. '-0', 'd', ARGV[1], 'b', ARGV[2], 't', now)
if ttl > 0 then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  while first and expired(first) do
    redis.call('XDEL', KEYS[1], first[1])
    first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return { offset, epoch }
]]

-- ARGV: since offset, since epoch ('' for none), limit (0: all), ttl ms, position ms
-- -> { epoch, offset, recoverable (0 | 1), then offset, data, binary per entry }
local READ = PREAMBLE .. [[
local offset = tonumber(redis.call('HGET', KEYS[2], 'offset'))
local limit = tonumber(ARGV[3])
local list
if ARGV[2] ~= '' then
  local since = tonumber(ARGV[1])
  if ARGV[2] ~= epoch or since > offset then return { epoch, offset, 0 } end
  if since == offset then return { epoch, offset, 1 } end
  local from = (since + 1) .. '-0'
  if limit > 0 then list = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', limit)
  else list = redis.call('XRANGE', KEYS[1], from, '+') end
  if not list[1] or list[1][1] ~= from or expired(list[1]) then return { epoch, offset, 0 } end
else
  local newest
  if limit > 0 then newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', limit)
  else newest = redis.call('XREVRANGE', KEYS[1], '+', '-') end
  list = {}
  for i = #newest, 1, -1 do
    if not expired(newest[i]) then list[#list + 1] = newest[i] end
  end
end
local out = { epoch, offset, 1 }
for _, e in ipairs(list) do
  out[#out + 1] = tonumber(string.match(e[1], '^%d+'))
  out[#out + 1] = e[2][2]
  out[#out + 1] = tonumber(e[2][4])
end
return out
]]

local function redis_backend(url, prefix)
  local conn = require("luahub.redis_client").new(url)
  -- One hash tag over both keys of a room ("{PREFIX.history.ROOM}", never empty), so on a
  -- Redis Cluster the EVAL's two keys are in one slot, as a script's keys must be.
  local function keys(room)
    local tag = "{" .. prefix .. ".history." .. room .. "}"
    return tag, tag .. ".meta"
  end
  local backend = { waits = true }

  function backend.append(room, data, _, binary, size, ttl)
    local stream, meta = keys(room)
    local r, code, detail = conn:call("EVAL", APPEND, 2, stream, meta, data, binary and 1 or 0, size,
                                      math.ceil(ttl * 1000), POSITION_KEPT_MS)
    if not r then return nil, code, detail end
    return { epoch = r[2], offset = r[1] }
  end

  function backend.read(room, since, limit, size, ttl)
    local stream, meta = keys(room)
    local r, code, detail = conn:call("EVAL", READ, 2, stream, meta, since and since.offset or 0,
                                      since and since.epoch or "", limit, math.ceil(ttl * 1000),
                                      POSITION_KEPT_MS)
    if not r then return nil, code, detail end
    local now = { epoch = r[1], offset = r[2] }
    if r[3] == 0 then return nil, "unrecoverable", now end
    local list = {}
    for i = 4, #r, 3 do
      list[#list + 1] = { offset = r[i], data = r[i + 1], binary = r[i + 2] == 1 or nil }
    end
    return list, now
  end

  return backend
end

----------------------------------------------------------------------------- the API
local backend
local prefix_box = ffi.new("const char *[1]")

-- The backend of the running process. The cluster starts after the script's first load,
-- so a broker is looked for until there is one; then it stays for the process.
local function where()
  if backend then return backend end
  local url = C.lh_history_broker(prefix_box)
  if url == nil then return memory end
  url = ffi_string(url)
  local prefix = ffi_string(prefix_box[0])
  backend = url:match("^redis[:%-]") and redis_backend(url, prefix) or require("luahub.jetstream").new(prefix)
  return backend
end

-- Members of the core room prefix .. R keep room R's position as R's own members do (the
-- room protocol's subscribers).
function M.watch(prefix)
  local rc = C.lh_history_watch(prefix, #prefix)
  if rc < 0 then
    mistake.raise("history watch", "the room prefix " .. mistake.describe(prefix)
      .. " cannot keep positions (1 to 31 bytes, at most 8 prefixes)")
  end
end

-- The bounds of rooms come with the config, applied once the script's load has run.
local configured = false
function M.configured() configured = true end

local function usable(name)
  if not configured then
    mistake.raise(name, "not usable while the script loads (the config, which gives rooms their "
      .. "history, is applied once it ran)", "publish from a handler, hook, timer or route")
  end
end

local function bounds(room)
  local size = C.lh_history_bounds(room, #room, ttl_box)
  return size, ttl_box[0]
end

-- true when hub.publish / hub.history of room wait for the broker (a room with history
-- in a cluster): they may then only run where a task may wait.
function M.waits(room)
  return bounds(room) > 0 and where().waits
end

-- hub.publish's part before the fan-out: the position of a publication of n bytes at p
-- to room (p a Lua string when M.waits(room): what points into the core's buffers would
-- not outlive the wait).
function M.append(room, p, n, binary)
  usable("hub.publish")
  local size, ttl = bounds(room)
  local b = size > 0 and where()
  if not b then
    C.lh_history_read(room, #room, nil, 0, 0, 0)
    return position()
  end
  if b.waits then wait.check("hub.publish") end
  local pos, code, detail = b.append(room, p, n, binary, size, ttl)
  if pos then C.lh_history_count(COUNT_APPEND) end
  return pos, code, detail
end

local function checked_since(since)
  if since == nil then return nil end
  if type(since) ~= "table" or type(since.epoch) ~= "string" or type(since.offset) ~= "number"
      or since.offset < 0 or since.offset % 1 ~= 0 or since.offset >= 2 ^ 53 then
    mistake.raise("hub.history", "opts.since must be a position { epoch = string, offset = whole number >= 0 }, got "
      .. mistake.describe(since), "pass the position hub.publish or hub.history returned")
  end
  return since
end

function M.read(room, opts)
  usable("hub.history")
  if opts ~= nil and type(opts) ~= "table" then
    mistake.raise("hub.history", "opts must be a table, got " .. mistake.describe(opts), "hub.history(room, { since = pos, limit = n })")
  end
  local since = checked_since(opts and opts.since)
  local limit = opts and opts.limit or 0
  if type(limit) ~= "number" or limit < 0 or limit % 1 ~= 0 or limit >= 2 ^ 32 then
    mistake.raise("hub.history", "opts.limit must be a whole number >= 0, got " .. mistake.describe(limit))
  end
  local size, ttl = bounds(room)
  local b = size > 0 and where() or memory
  if b.waits then wait.check("hub.history") end
  local list, code, now = b.read(room, since, limit, size, ttl)
  if since and (list or code == "unrecoverable") then
    C.lh_history_count(list and COUNT_RECOVERED or COUNT_UNRECOVERABLE)
  end
  if list then return list, code end   -- the second result is the position then
  return nil, code, now
end

return M
