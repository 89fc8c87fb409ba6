#!/usr/bin/env bash
# The reconnection storm of `make bench` (issue 17): 1,000 clients of the room protocol
# (bench/storm/hub.lua) subscribe to one room; 100 publications fan out to them live (the
# plain fan-out, measured in the same run); they lose their connection; 100 more are
# published meanwhile; then all 1,000 reconnect at once and subscribe since their position
# (luahub-loadgen storm, bench/loadgen/storm.c, which fails the run unless every client
# recovered exactly the 100 missed publications, in order). Two cases, alternated:
#   cut      one node, history in its memory; the loadgen drops the 1,000 connections
#   restart  two nodes and a redis-server (cluster adapter redis: history in Redis
#            Streams); node A is restarted (SIGTERM, drain_timeout 0: every client gets
#            1001), the 100 are published through node B while A is down, and the
#            clients reconnect to the new A
# STORM_RUNS runs of each. Prints median (min-max) of every figure, writes every run's
# loadgen JSON to build/bench/storm.jsonl, the table to build/bench/storm.txt, and one
# line per measured number to build/bench/storm.json for the plots (docs/benchmarks.md).
# Env: STORM_RUNS=5, STORM_CASES="cut restart", STORM_SUBS=1000, STORM_PUBLICATIONS=100,
# BENCH_PIN=1 (node A on CPU 0; loadgen, node B and redis-server on CPU 1), LUAHUB_BIN, BUILD.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${BUILD:-build}
out=$build/bench
logs=$out/logs
luahub=${LUAHUB_BIN:-$build/luahub}
loadgen=$out/luahub-loadgen
runs=${STORM_RUNS:-5}
cases=${STORM_CASES:-cut restart}
subs=${STORM_SUBS:-1000}
pubs=${STORM_PUBLICATIONS:-100}
script=bench/storm/hub.lua

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-storm: $*"; exit 1; }
[[ -x $luahub && -x $loadgen ]] || die "$luahub or $loadgen is missing: make bench-tools"
mkdir -p "$logs"
pin_a=() pin_other=()
if [[ ${BENCH_PIN:-1} == 1 ]] && command -v taskset >/dev/null && (($(nproc) >= 2)); then
  pin_a=(taskset -c 0) pin_other=(taskset -c 1)
fi

pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  pids=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_port() { "$loadgen" --free-port; }

# Until the port accepts a connection and (when given) the log shows the pattern; 10 s.
wait_ready() {   # port [log pattern]
  local deadline=$((SECONDS + 10))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && { [[ -z ${2:-} ]] || grep -q "$3" "$2"; }; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

node() {   # log port config -> $node_pid; node A is pinned apart
  local pin=("${pin_other[@]}")
  [[ $1 == *-a*.log ]] && pin=("${pin_a[@]}")
  "${pin[@]}" "$luahub" --listen "127.0.0.1:$2" --log-level info --config "$3" "$script" >"$1" 2>&1 &
  node_pid=$!
  pids+=("$node_pid")
}

# The pid file the loadgen reads node A's PID from; replaced whole, never half-written.
pid_file=$out/storm-a.pid
name_a() { echo "$1" >"$pid_file.tmp" && mv "$pid_file.tmp" "$pid_file"; }

loadgen_cmd() {   # how url [publish url] [broker pid]
  local cmd=("${pin_other[@]}" timeout 240 "$loadgen" storm "--$1" --url "$2" --subs "$subs"
             --publications "$pubs" --pid-file "$pid_file" --sources 127.0.0.1-127.0.0.4
             --timeout 200 --json)
  [[ -n ${3:-} ]] && cmd+=(--publish-url "$3")
  [[ -n ${4:-} ]] && cmd+=(--broker-pid "$4")
  printf '%s\n' "${cmd[@]}"
}

run_cut() {   # run -> the loadgen's JSON on stdout
  local port log=$logs/storm-cut-$1-a.log cmd
  port=$(free_port)
  node "$log" "$port" '{"history":{"size":1000},"drain_timeout":0}'
  wait_ready "$port" || { say "bench-storm: node A did not listen (see $log)"; return 1; }
  name_a "$node_pid"
  mapfile -t cmd < <(loadgen_cmd cut "ws://127.0.0.1:$port/ws")
  say "-- storm / cut, run $1: ${cmd[*]}"
  "${cmd[@]}" 2>>"$logs/storm-cut.loadgen.log"
}

run_restart() {   # run -> the loadgen's JSON on stdout
  local rport pa pb redis a b lg config cmd result
  rport=$(free_port)
  "${pin_other[@]}" redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
    --protected-mode no --dir "$out" >"$logs/storm-restart-$1-redis.log" 2>&1 &
  redis=$!
  pids+=("$redis")
  wait_ready "$rport" || { say "bench-storm: redis-server did not listen"; return 1; }
  config() { printf '{"history":{"size":1000},"drain_timeout":0,"cluster":{"adapter":"redis","url":"redis://127.0.0.1:%s","node_id":"storm-%s"}}' "$rport" "$1"; }
  pa=$(free_port) pb=$(free_port)
  node "$logs/storm-restart-$1-a1.log" "$pa" "$(config a)"
  a=$node_pid
  node "$logs/storm-restart-$1-b.log" "$pb" "$(config b)"
  b=$node_pid
  wait_ready "$pa" "$logs/storm-restart-$1-a1.log" "connected to redis" &&
    wait_ready "$pb" "$logs/storm-restart-$1-b.log" "connected to redis" ||
    { say "bench-storm: a node did not reach redis (see $logs/storm-restart-$1-*.log)"; return 1; }
  name_a "$a"
  mapfile -t cmd < <(loadgen_cmd restart "ws://127.0.0.1:$pa/ws" "ws://127.0.0.1:$pb/ws" "$redis")
  say "-- storm / restart, run $1: ${cmd[*]}"
  result=$(mktemp)
  "${cmd[@]}" >"$result" 2>>"$logs/storm-restart.loadgen.log" &
  lg=$!
  # The loadgen stops node A (SIGTERM) when its clients are subscribed; A is started
  # again on the same port and named in the pid file once it has reached Redis.
  wait -n "$a" "$lg"
  if ! kill -0 "$a" 2>/dev/null; then
    node "$logs/storm-restart-$1-a2.log" "$pa" "$(config a)"
    wait_ready "$pa" "$logs/storm-restart-$1-a2.log" "connected to redis" && name_a "$node_pid"
  fi
  wait "$lg"
  cat "$result"
  rm -f "$result"
}

jsonl=$out/storm.jsonl
: >"$jsonl"
for ((r = 1; r <= runs; r++)); do
  for c in $cases; do
    if [[ $c == restart ]] && ! command -v redis-server >/dev/null; then
      say "== skipping the restart case: redis-server is not installed (scripts/deps.sh cluster)"
      continue
    fi
    "run_$c" "$r" >"$out/storm-run.out"   # not in a subshell: stop_all must see its PIDs
    stop_all
    line=$(cat "$out/storm-run.out")
    [[ $line == \{* ]] || die "run $r of $c printed no result (logs in $logs/storm-$c*)"
    printf '%s\n' "$line" >>"$jsonl"
    grep -q '"ok":true' <<<"$line" || die "run $r of $c failed: $(luajit -e 'print(require("cjson").decode(arg[1]).failure)' "$line")"
  done
done
rm -f "$out/storm-run.out"

luajit - "$jsonl" "$out/storm.json" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  "$(nproc)" "${pin_a[*]:+pinned}" <<'LUA' | tee "$out/storm.txt"
local cjson = require "cjson"
local jsonl, history, commit, cores, pinned = arg[1], arg[2], arg[3], arg[4], arg[5] ~= ""
local SERVER = { cut = "luahub (memory history)", restart = "luahub x2 + redis (Redis Streams history)" }
local by = {}
local order = {}
for line in io.lines(jsonl) do
  local r = cjson.decode(line)
  if not by[r.how] then by[r.how] = {}; order[#order + 1] = r.how end
  table.insert(by[r.how], r)
end

-- the plots' measurement file (docs/benchmarks.md, "Measurement files"): this make
-- bench's runs, one line per number; "recovery" next to "live fan-out" of the same run
local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
local h = assert(io.open(history, "w"))
local function put(how, i, server, metric, value, unit, chart)
  if value then
    h:write(cjson.encode { time = now, commit = commit, scenario = "storm-" .. how, server = server,
                           metric = metric, value = value, unit = unit, chart = chart, run = i }, "\n")
  end
end
for _, how in ipairs(order) do
  for i, r in ipairs(by[how]) do
    put(how, i, "recovery", "delivered_per_s", r.storm.delivered_per_s, "msg/s", "storm-throughput")
    put(how, i, "live fan-out", "delivered_per_s", r.live.delivered_per_s, "msg/s", "storm-throughput")
    put(how, i, "recovery", "seconds", r.storm.seconds, "s", "storm-seconds")
    put(how, i, "live fan-out", "seconds", r.live.seconds, "s", "storm-seconds")
    put(how, i, "recovery", "server_us", r.storm.server_us_per_delivery, "us/delivery", "storm-cpu")
    put(how, i, "live fan-out", "server_us", r.live.server_us_per_delivery, "us/delivery", "storm-cpu")
  end
end
h:close()

local function stats(list, get)
  local v = {}
  for _, r in ipairs(list) do
    local x = get(r)
    if x then v[#v + 1] = x end
  end
  if #v == 0 then return "-" end
  table.sort(v)
  local function f(x)
    if x >= 1e6 then return ("%.2fM"):format(x / 1e6) end
    if x >= 1e4 then return ("%.1fk"):format(x / 1e3) end
    if x >= 100 then return ("%.0f"):format(x) end
    if x >= 10 then return ("%.1f"):format(x) end
    return ("%.3g"):format(x)
  end
  -- the lower middle of an even count, as bench-history.sh
  return ("%s (%s-%s)"):format(f(v[math.floor((#v + 1) / 2)]), f(v[1]), f(v[#v]))
end

local ROWS = {
  { "all recovered, s (first reconnect -> last reply)", function(r) return r.storm.seconds end },
  { "recovery, publications delivered/s", function(r) return r.storm.delivered_per_s end },
  { "live fan-out, deliveries/s", function(r) return r.live.delivered_per_s end },
  { "recovery/s / live/s (per run)", function(r) return r.storm.delivered_per_s / r.live.delivered_per_s end },
  { "live fan-out, s (first publish -> last push)", function(r) return r.live.seconds end },
  { "all reconnected (WebSocket open), s", function(r) return r.storm_all_open_seconds end },
  { "per client reconnect -> recovered, p50 ms", function(r) return r.storm.latency_ms.p50 end },
  { "per client reconnect -> recovered, p99 ms", function(r) return r.storm.latency_ms.p99 end },
  { "live publish -> push, p99 ms", function(r) return r.live.latency_ms.p99 end },
  { "server CPU us / recovered publication", function(r) return r.storm.server_us_per_delivery end },
  { "server CPU us / live delivery", function(r) return r.live.server_us_per_delivery end },
  { "redis CPU us / recovered publication", function(r) return r.storm.broker_us_per_delivery end },
  { "other CPU % during the storm", function(r) return r.storm.other_cpu_percent end },
}
local first = by[order[1]][1]
print(("%d clients x %d publications of %d B, %d runs per case, %s cores, %s; median (min-max)")
  :format(first.subs, first.publications, first.size, #by[order[1]], cores,
          pinned and "node A on CPU 0, the rest on CPU 1" or "not pinned"))
local head = ("%-50s"):format("")
for _, how in ipairs(order) do head = head .. ("  %-26s"):format(how) end
print(head)
for _, row in ipairs(ROWS) do
  local line = ("%-50s"):format(row[1])
  for _, how in ipairs(order) do line = line .. ("  %-26s"):format(stats(by[how], row[2])) end
  print(line)
end
LUA
