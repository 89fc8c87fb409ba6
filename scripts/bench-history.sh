#!/usr/bin/env bash
# The cost of room history on publish: the loadgen's burst fan-out (1,000 subscribers in one
# room, 2,000 64-byte messages, window 200, 10 rounds) through bench/history/hub.lua, which
# publishes every message with hub.publish, with history off (history.size 0: a plain
# to_room) and on (history.size 1000, this process's memory), HISTORY_RUNS runs (5) of
# each, alternating, each in a fresh server. Prints the delivered rate, median (min-max),
# and the on / off ratio of the medians.
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

luajit - "$out" <<'LUA'
local cjson = require "cjson"
local rates = { off = {}, on = {} }
for line in io.lines(arg[1]) do
  local mode, json = line:match("^(%S+) (.*)$")
  local r = cjson.decode(json)
  assert(r.delivered == r.expected and r.gaps == 0 and r.duplicates == 0, "a run lost or doubled messages")
  table.insert(rates[mode], r.delivered_per_s)
end
local function stats(v)
  table.sort(v)
  return v[math.floor((#v + 1) / 2)], v[1], v[#v]
end
print(("%d runs each: burst fan-out through hub.publish to 1,000 subscribers, deliveries/s"):format(#rates.off))
local om = stats(rates.off)
for _, mode in ipairs { "off", "on" } do
  local m, lo, hi = stats(rates[mode])
  print(("history %-3s %6.2f M/s (%.2f-%.2f)"):format(mode, m / 1e6, lo / 1e6, hi / 1e6))
end
print(("on / off: %.3f"):format(stats(rates.on) / om))
LUA
rm -f "$out"
