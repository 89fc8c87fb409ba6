#!/usr/bin/env bash
# The per-message cost of the Lua path: echo round trips per second through
# examples/echo/hub.lua (one bare handler) and through examples/bench-router/echo.lua
# (router on the JSON "type" field + recover + metrics middleware), same loadgen run:
# 100 clients x ECHO_MESSAGES each, at most 400 in flight, 64-byte messages.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${BUILD:-build}
loadgen=$build/bench/luahub-loadgen
luahub=${LUAHUB_BIN:-$build/luahub}
[[ -x $loadgen && -x $luahub ]] || { echo "bench-echo: $loadgen or $luahub is missing: make all bench-tools" >&2; exit 1; }
per_client=${ECHO_MESSAGES:-10000}

pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null' EXIT

run() {   # name script [template]
  local port out
  port=$("$loadgen" --free-port)
  taskset -c 0 "$luahub" --listen "127.0.0.1:$port" "$2" 2>/dev/null &
  pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  out=$(taskset -c 1 "$loadgen" echo --subs 100 --burst "$per_client" --window 400 --size 64 \
        ${3:+--template "$3"} --url "ws://127.0.0.1:$port/ws" --pid "$pid" --timeout 120 --json)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
  jq -r --arg name "$1" '"\($name)\t\(.delivered)/\(.expected)\t\(.delivered_per_s | floor)\t\(.latency_ms.p99)"' <<<"$out"
}

printf 'case\tdelivered\techoes/s\tp99 ms\n'
bare=$(run bare examples/echo/hub.lua)
router=$(run router examples/bench-router/echo.lua '{"type":"echo","text":"%s"}')
printf '%s\n%s\n' "$bare" "$router"
awk -F'\t' 'NR==1{b=$3} NR==2{printf "router / bare = %.2f\n", $3/b}' <<<"$bare
$router"
