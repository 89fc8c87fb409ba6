-- Shared dictionary operations per second from Lua, next to the same operations on a
-- plain Lua table in the same process and run, and the dictionary's bytes per key.
-- scripts/bench-shared.sh starts the server with this script and reads GET /bench (one
-- JSON object); each case runs SHARED_BENCH_OPS operations (default 5,000,000) over
-- 10,000 keys in a dictionary of SHARED_BENCH_SIZE (default "4m": about 1 MiB of entries
-- and 128 KiB of buckets), timed with the monotonic clock, JIT-compiled (routes run after
-- the load).
local hub = require "luahub"
local C = require "luahub.ffi"

hub.config { script_timeout = 0, shared = { bench = os.getenv("SHARED_BENCH_SIZE") or "4m", sizing = "16m" } }

local OPS = tonumber(os.getenv("SHARED_BENCH_OPS")) or 5e6
local NKEYS = 10000
local keys = {}
for i = 1, NKEYS do keys[i] = "key:" .. i end
local VALUE = string.rep("v", 32)

-- ops/s of fn(n), after one untimed pass that compiles its loop
local function rate(fn)
  fn(NKEYS)
  local t0 = C.lh_clock()
  fn(OPS)
  return OPS / (C.lh_clock() - t0)
end

local function cases()
  local d, t = hub.shared.bench, {}
  for i = 1, NKEYS do
    d:set(keys[i], i)
    t[keys[i]] = i
  end
  local sink = 0
  local r = {}
  r.get_number = rate(function(n)
    for i = 1, n do sink = sink + d:get(keys[i % NKEYS + 1]) end
  end)
  r.table_get = rate(function(n)
    for i = 1, n do sink = sink + t[keys[i % NKEYS + 1]] end
  end)
  r.set_number = rate(function(n)
    for i = 1, n do d:set(keys[i % NKEYS + 1], i) end
  end)
  r.table_set = rate(function(n)
    for i = 1, n do t[keys[i % NKEYS + 1]] = i end
  end)
  r.incr = rate(function(n)
    for i = 1, n do d:incr(keys[i % NKEYS + 1], 1) end
  end)
  r.table_incr = rate(function(n)
    for i = 1, n do local k = keys[i % NKEYS + 1]; t[k] = t[k] + 1 end
  end)
  local s = {}
  for i = 1, NKEYS do d:set(keys[i], VALUE); s[keys[i]] = VALUE end
  r.set_string = rate(function(n)
    for i = 1, n do d:set(keys[i % NKEYS + 1], VALUE) end
  end)
  r.table_set_string = rate(function(n)
    for i = 1, n do s[keys[i % NKEYS + 1]] = VALUE end
  end)
  r.get_string = rate(function(n)
    for i = 1, n do sink = sink + #d:get(keys[i % NKEYS + 1]) end
  end)
  r.table_get_string = rate(function(n)
    for i = 1, n do sink = sink + #s[keys[i % NKEYS + 1]] end
  end)
  r.sink = sink
  return r
end

-- Bytes of the region 100,000 keys of 10 bytes with 8-byte numbers take, per key: the
-- entry (48 bytes of bookkeeping, the key, the value, rounded to 8) and the buckets.
local function per_key()
  local d = hub.shared.sizing
  d:flush_all()
  local empty = d:free_space()
  local n = 100000
  for i = 1, n do d:set(("k:%08d"):format(i), i) end
  return { keys = n, key_bytes = 10, value_bytes = 8, bytes_per_key = (empty - d:free_space()) / n,
           buckets_per_key = (d:capacity() - empty) / n }
end

hub.route("GET", "/bench", function()
  local r = cases()
  r.memory = per_key()
  r.ops = OPS
  return 200, r
end)
