#!/usr/bin/env bash
# The cost of room history on publish: the loadgen's burst fan-out (1,000 subscribers in one
# room, 2,000 64-byte messages, window 200, 10 rounds) through bench/history/hub.lua, which
# publishes every message with hub.publish, with history off (history.size 0: a plain
# to_room) and on (history.size 1000, this process's memory), HISTORY_RUNS runs (5) of
# each, alternating, each in a fresh server. Prints the delivered rate and the server's CPU
# per delivery, median (min-max), and the on / off ratios (of the medians, and of each
# run with the off run before it); writes its runs to build/bench/history.json for the plots
# (docs/benchmarks.md). scripts/bench-storm.sh measures recovery with the same history.
# Env: HISTORY_RUNS=5, BENCH_PIN=1 (server on CPU 0, loadgen on CPU 1), LUAHUB_BIN, BUILD.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${BUILD:-build}
luahub=${LUAHUB_BIN:-$build/luahub}
loadgen=$build/bench/luahub-loadgen
runs=${HISTORY_RUNS:-5}
[[ -x $luahub && -x $loadgen ]] || { echo "bench-history: $luahub or $loadgen is missing: make bench-tools" >&2; exit 1; }
pin_server=() pin_loadgen=()
if [[ ${BENCH_PIN:-1} == 1 ]] && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0) pin_loadgen=(taskset -c 1)
fi

pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null' EXIT
out=$(mktemp)

run() {   # $1: off | on
  local size=0
  [[ $1 == on ]] && size=1000
  local port
  port=$(luajit -e 'local s = require("socket").bind("127.0.0.1", 0); local _, p = s:getsockname(); print(p)')
  "${pin_server[@]}" "$luahub" --listen "127.0.0.1:$port" --log-level warn \
    --config "{\"history\":{\"size\":$size}}" bench/history/hub.lua &
  pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  local r
  r=$(timeout 300 "${pin_loadgen[@]}" "$loadgen" fanout --subs 1000 --burst 2000 --window 200 --rounds 10 \
        --size 64 --url "ws://127.0.0.1:$port/ws" --pid "$pid" --json 2>/dev/null)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
  [[ -n $r ]] || { echo "bench-history: a run with history $1 failed" >&2; exit 1; }
  printf '%s %s\n' "$1" "$r" >>"$out"
}

for _ in $(seq "$runs"); do run off; run on; done

mkdir -p "$build/bench"
status=0
luajit - "$out" "$build/bench/history.json" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'LUA' || status=1
local cjson = require "cjson"
local runs = { off = {}, on = {} }
for line in io.lines(arg[1]) do
  local mode, json = line:match("^(%S+) (.*)$")
  local r = cjson.decode(json)
  assert(r.delivered == r.expected and r.gaps == 0 and r.duplicates == 0, "a run lost or doubled messages")
  -- the pinned server core's busy time when the loadgen has it (as bench.sh), else the process's
  local cpu_s = r.server and (r.server.core and r.server.core.busy_s or r.server.cpu_s)
  table.insert(runs[mode], {
    delivered_per_s = r.delivered_per_s,
    server_us_per_delivery = cpu_s and cpu_s * 1e6 / r.delivered or nil,
    p99_ms = r.latency_ms.p99,
    other_cpu_percent = r.machine and r.machine.other_percent or nil,
  })
end

-- the plots' measurement file (docs/benchmarks.md, "Measurement files"): this make
-- bench's runs, one line per number
local h = assert(io.open(arg[2], "w"))
local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
local CHARTS = {
  { "delivered_per_s", "history-throughput", "msg/s" },
  { "server_us_per_delivery", "history-cpu", "us/delivery" },
  { "p99_ms", "history-latency", "ms" },
}
for _, mode in ipairs { "off", "on" } do
  for i, m in ipairs(runs[mode]) do
    for _, c in ipairs(CHARTS) do
      if m[c[1]] then
        h:write(cjson.encode { time = now, commit = arg[3], scenario = "burst-1k-publish",
                               server = "history " .. mode, metric = c[1], value = m[c[1]],
                               unit = c[3], chart = c[2], run = i }, "\n")
      end
    end
  end
end
h:close()

local function stats(list, key)
  local v = {}
  for _, m in ipairs(list) do v[#v + 1] = m[key] end
  table.sort(v)
  return v[math.floor((#v + 1) / 2)], v[1], v[#v]
end
print(("%d runs each: burst fan-out through hub.publish to 1,000 subscribers; median (min-max)"):format(#runs.off))
for _, mode in ipairs { "off", "on" } do
  local m, lo, hi = stats(runs[mode], "delivered_per_s")
  local c, clo, chi = stats(runs[mode], "server_us_per_delivery")
  local o, olo, ohi = stats(runs[mode], "other_cpu_percent")
  print(("history %-3s %6.2f M deliveries/s (%.2f-%.2f)  server CPU %.3f us/delivery (%.3f-%.3f)  other CPU %.0f%% (%.0f-%.0f)")
    :format(mode, m / 1e6, lo / 1e6, hi / 1e6, c, clo, chi, o, olo, ohi))
end
local pairs_rate, pairs_cpu = {}, {}
for i = 1, math.min(#runs.on, #runs.off) do
  pairs_rate[i] = { r = runs.on[i].delivered_per_s / runs.off[i].delivered_per_s }
  pairs_cpu[i] = { r = runs.on[i].server_us_per_delivery / runs.off[i].server_us_per_delivery }
end
local rm, rlo, rhi = stats(pairs_rate, "r")
local cm, clo, chi = stats(pairs_cpu, "r")
print(("on / off: deliveries/s %.3f by the medians, %.3f (%.3f-%.3f) run by run; server CPU per delivery %.3f (%.3f-%.3f) run by run")
  :format(stats(runs.on, "delivered_per_s") / stats(runs.off, "delivered_per_s"), rm, rlo, rhi, cm, clo, chi))
LUA
rm -f "$out"
exit "$status"
