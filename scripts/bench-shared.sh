#!/usr/bin/env bash
# Shared dictionaries from Lua: get/set/incr per second on hub.shared next to the same
# operations on a plain Lua table, measured in one process per run by bench/shared/hub.lua
# (served by the real binary, read through GET /bench), SHARED_RUNS runs (5), each in a
# fresh server pinned to CPU 0. Prints median, min and max per case, the dictionary / table
# ratio of the medians, and the region's bytes per key.
# Env: SHARED_RUNS=5, SHARED_BENCH_OPS=5000000 (per case and run), LUAHUB_BIN, BUILD.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${BUILD:-build}
luahub=${LUAHUB_BIN:-$build/luahub}
runs=${SHARED_RUNS:-5}
[[ -x $luahub ]] || { echo "bench-shared: $luahub is missing: make" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench-shared: curl is needed" >&2; exit 1; }
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null' EXIT
out=$(mktemp)

for _ in $(seq "$runs"); do
  port=$(luajit -e 'local s = require("socket").bind("127.0.0.1", 0); local _, p = s:getsockname(); print(p)')
  "${pin[@]}" "$luahub" --listen "127.0.0.1:$port" --log-level warn bench/shared/hub.lua &
  pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  curl -sf --max-time 300 "http://127.0.0.1:$port/bench" >>"$out" || { echo "bench-shared: run failed" >&2; exit 1; }
  echo >>"$out"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
done

luajit - "$out" <<'EOF'
local cjson = require "cjson"
local runs = {}
for line in io.lines(arg[1]) do if line:match("%S") then runs[#runs + 1] = cjson.decode(line) end end
local function stats(name)
  local v = {}
  for i, r in ipairs(runs) do v[i] = r[name] end
  table.sort(v)
  return v[math.floor((#v + 1) / 2)], v[1], v[#v]
end
local function m(x) return ("%.1f"):format(x / 1e6) end
print(("%d runs of %d operations per case over 10,000 keys; millions of operations/s"):format(#runs, runs[1].ops))
print(("%-12s %22s %22s %8s"):format("operation", "hub.shared med (min-max)", "Lua table med (min-max)", "ratio"))
for _, c in ipairs { { "get", "get_number", "table_get" }, { "get string", "get_string", "table_get_string" },
                     { "set", "set_number", "table_set" }, { "set string", "set_string", "table_set_string" },
                     { "incr", "incr", "table_incr" } } do
  local dm, dl, dh = stats(c[2])
  local tm, tl, th = stats(c[3])
  print(("%-12s %8s (%5s-%5s) %8s (%5s-%5s) %8.3f"):format(c[1], m(dm), m(dl), m(dh), m(tm), m(tl), m(th), dm / tm))
end
local mem = runs[1].memory
print(("memory: %d keys of %d-byte keys and %d-byte numbers: %.1f bytes per key in the arena + %.1f of buckets"
  .. " (payload %d)"):format(mem.keys, mem.key_bytes, mem.value_bytes, mem.bytes_per_key, mem.buckets_per_key,
  mem.key_bytes + mem.value_bytes))
EOF
rm -f "$out"
