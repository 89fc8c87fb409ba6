#!/usr/bin/env bash
# scripts/bench-workers.sh — the whole box (`make bench`): examples/broadcast served by
#   single   one luahub process holding BENCH_SINGLE_CONNS (19,000: what one process's
#            20,000 descriptors allow) idle connections: the baseline
#   workers  `luahub --workers BENCH_WORKERS` (8) with a redis-server as the cluster broker,
#            holding BENCH_WORKERS_CONNS (100,000) idle connections
# Each case: the connections come from BENCH_LOADGEN_PROCS (8) luahub-loadgen processes
# over source addresses 127.0.0.1-127.0.0.8 (ephemeral ports); then the server processes'
# RSS growth per connection (summed over the workers); then BENCH_BROADCASTS (10) stamped
# messages sent at once, each broadcast to every connection (delivered/s, latency
# percentiles). For workers, then: one worker that does not hold the publisher is killed
# with SIGKILL while the publisher goes on for BENCH_KILL_SECONDS (10) at
# BENCH_KILL_RATE (1) message a second; its clients reconnect (time to reconnect, all
# back after) and the
# clients of the other workers must get every message (gaps, latency); the master must
# restart the worker (read from its log).
# BENCH_WORKERS_RUNS (1) runs of the two cases, interleaved. A table on stdout, one JSON
# line per run (the load generator's whole report) in build/bench/workers-runs.jsonl, and
# the measurements in build/bench/workers.json for scripts/plot.lua (docs/benchmarks.md,
# "Measurement files"; charts workers-*). Every process is started on a free loopback
# port, stopped by PID (an EXIT trap stops what is left), and every wait is bounded.
# Needs build/bench/luahub-loadgen (make bench-tools), redis-server and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=$BUILD/bench
LOGS=$OUT/logs
LOADGEN=$OUT/luahub-loadgen
LUAHUB=${LUAHUB_BIN:-$BUILD/luahub}
SCRIPT=examples/broadcast/hub.lua
WORKERS=${BENCH_WORKERS:-8}
WORKERS_CONNS=${BENCH_WORKERS_CONNS:-100000}
SINGLE_CONNS=${BENCH_SINGLE_CONNS:-19000}
PROCS=${BENCH_LOADGEN_PROCS:-8}
BROADCASTS=${BENCH_BROADCASTS:-10}
RATE=${BENCH_KILL_RATE:-1}
KILL_SECONDS=${BENCH_KILL_SECONDS:-10}
RUNS=${BENCH_WORKERS_RUNS:-1}
# A worker's loop pings the master every quarter of this; a burst of broadcasts to
# 12,500 clients each, with 8 workers, 8 load generators and redis on 2 cores, can hold one
# loop pass for seconds, which the default 10 s would take for a hang.
WATCHDOG=${BENCH_WATCHDOG:-30}
SOURCES=127.0.0.1-127.0.0.8

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-workers.sh: $*"; exit 1; }
[[ -x $LOADGEN ]] || die "$LOADGEN is missing: make bench-tools"
[[ -x $LUAHUB ]] || die "$LUAHUB is missing: make"
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
if ! command -v redis-server >/dev/null; then
  say "== skipping the workers bench: redis-server is not installed (scripts/deps.sh cluster)"
  exit 0
fi
mkdir -p "$LOGS"

PIDS=()
# Everything started here, by PID: TERM, a moment, then KILL for what is still there.
stop_all() {
  local pid deadline=$((SECONDS + 15))
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
forget() {   # pid: stopped already
  local kept=() pid
  for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
  PIDS=("${kept[@]}")
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_for() {   # seconds command...: polls until the command succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A server's processes: the master's children for workers, else the server itself.
server_pids() {   # pid kind
  if [[ $2 == workers ]]; then pgrep -P "$1" | paste -sd, -; else echo "$1"; fi
}

# Stops the server by PID (SIGTERM drains; a second one closes everyone at once) and
# checks that none of its processes is left.
stop_server() {   # pid pids-csv -> "clean" | "left: PIDS"
  local master=$1 pids=$2 left=()
  kill -TERM "$master" 2>/dev/null || true
  sleep 1
  kill -TERM "$master" 2>/dev/null || true
  wait_for 20 bash -c "! kill -0 $master" || kill -KILL "$master" 2>/dev/null || true
  wait "$master" 2>/dev/null || true
  local pid
  for pid in ${pids//,/ }; do
    if wait_for 5 bash -c "! kill -0 $pid"; then :; else left+=("$pid"); fi
  done
  if ((${#left[@]})); then echo "left: ${left[*]}"; else echo clean; fi
}

run_case() {   # kind run -> one JSON line
  local kind=$1 run=$2 port conns log config broker_pid="" broker_port
  port=$("$LOADGEN" --free-port)
  log=$LOGS/workers-$kind-$run.log
  local args=(--listen "127.0.0.1:$port")
  if [[ $kind == workers ]]; then
    conns=$WORKERS_CONNS
    broker_port=$("$LOADGEN" --free-port)
    redis-server --port "$broker_port" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no \
      --dir "$OUT" >"$LOGS/workers-redis-$run.log" 2>&1 &
    broker_pid=$!
    PIDS+=("$broker_pid")
    wait_for 10 listening "$broker_port" || die "redis-server did not listen on $broker_port"
    config=$(jq -nc --arg u "redis://127.0.0.1:$broker_port" \
      '{cluster: {adapter: "redis", url: $u, node_id: "bench"}}')
    args+=(--workers "$WORKERS" --watchdog "$WATCHDOG" --config "$config")
  else
    conns=$SINGLE_CONNS
  fi
  "$LUAHUB" "${args[@]}" "$SCRIPT" >"$log" 2>&1 &
  local server=$!
  PIDS+=("$server")
  if [[ $kind == workers ]]; then
    wait_for 30 grep -q "all $WORKERS workers ready" "$log" || die "the workers did not start: see $log"
  fi
  wait_for 10 listening "$port" || die "$kind: nothing listens on $port (see $log)"
  local pids
  pids=$(server_pids "$server" "$kind")
  local cmd=("$LOADGEN" --idle --url "ws://127.0.0.1:$port/ws" --subs "$conns" --procs "$PROCS"
             --sources "$SOURCES" --pid "$pids" --broadcast "$BROADCASTS"
             --connect-timeout 120 --drain 10 --timeout 400 --json)
  [[ $kind == workers ]] && cmd+=(--kill-one --rate "$RATE" --duration "$KILL_SECONDS")
  say "-- workers / $kind run $run: ${cmd[*]}"
  local result restarted=false
  result=$(timeout 450 "${cmd[@]}" 2>>"$LOGS/workers-$kind.loadgen.log") || true
  jq -e . >/dev/null 2>&1 <<<"$result" || result=null
  local killed
  killed=$(jq -r '.kill_one.pid // empty' <<<"$result" 2>/dev/null || true)
  if [[ -n $killed ]] && wait_for 10 grep -qE "worker [0-9]+ \(pid $killed\) was killed by signal 9" "$log"; then
    local index
    index=$(grep -oE "worker [0-9]+ \(pid $killed\) was killed" "$log" | grep -oE "^worker [0-9]+" | head -1)
    # the master started that worker again and it is ready
    wait_for 10 bash -c "grep -A1000 -F 'pid $killed) was killed' '$log' | grep -qE '$index \(pid [0-9]+\) is ready'" \
      && restarted=true
  fi
  local stopped
  stopped=$(stop_server "$server" "$(server_pids "$server" "$kind" 2>/dev/null || echo "$pids"),$pids")
  forget "$server"
  if [[ -n $broker_pid ]]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    forget "$broker_pid"
  fi
  jq -nc --arg c "$kind" --argjson run "$run" --argjson n "$([[ $kind == workers ]] && echo "$WORKERS" || echo 1)" \
    --argjson r "$result" --argjson restarted "$restarted" --arg stopped "$stopped" \
    '{case: $c, run: $run, processes: $n, restarted: (if $c == "workers" then $restarted else null end),
      stopped: $stopped, result: $r}'
}

: >"$OUT/workers-runs.jsonl"
for ((run = 1; run <= RUNS; run++)); do
  for kind in single workers; do
    run_case "$kind" "$run" >>"$OUT/workers-runs.jsonl"
  done
done
say "== workers: idle connections held, then $BROADCASTS broadcasts at once to all of them;" \
    "workers: then one worker killed while broadcasts go on at $RATE/s for ${KILL_SECONDS}s"
jq -r -s '(["case", "run", "procs", "open", "RSS B/conn", "bcast deliv/s", "p50 ms", "p99 ms",
            "killed: closed", "back after s", "reconn p99 ms", "others got", "gaps", "others p99 ms", "restarted", "stop"] | @tsv),
  (.[] | . as $x | .result as $r |
   [.case, .run, .processes, ($r.connect.opened // "-"), ($r.rss_per_conn_bytes // "-" | if type == "number" then round else . end),
    ($r.broadcast.delivered_per_s // "-" | if type == "number" then round else . end),
    ($r.broadcast.latency_ms.p50 // "-"), ($r.broadcast.latency_ms.p99 // "-"),
    ($r.kill_one.closed // "-"), ($r.kill_one.all_back_seconds // "-"), ($r.kill_one.reconnect_ms.p99 // "-"),
    (if $r.kill_one then "\($r.kill_one.others.delivered)/\($r.kill_one.others.expected)" else "-" end),
    ($r.kill_one.others.gaps // "-"), ($r.kill_one.latency_ms.p99 // "-"),
    ($x.restarted // "-"), $x.stopped] | @tsv)' "$OUT/workers-runs.jsonl" | column -t -s $'\t' | tee "$OUT/workers-table.txt"
# One measurement per line for the plots: memory, the burst and its latency for both
# cases, the kill for workers; a run that measured nothing adds nothing.
jq -c '.result as $r | select($r != null) |
  (if .case == "workers" then "luahub-\(.processes)-workers" else "luahub-1-process" end) as $server |
  {scenario: "\($r.connect.opened)-connections", server: $server, run: .run} as $m |
  ([$m + {metric: "rss_per_conn_bytes", value: $r.rss_per_conn_bytes, unit: "B/conn", chart: "workers-memory"},
    $m + {metric: "delivered_per_s", value: $r.broadcast.delivered_per_s, unit: "msg/s", chart: "workers-throughput"}]
   + ([["p50", "p50"], ["p99", "p99"], ["p999", "p99.9"]]
      | map(. as $q | $m + {metric: $q[1], value: $r.broadcast.latency_ms[$q[0]], unit: "ms", chart: "workers-latency"}))
   + (if $r.kill_one then
        [["reconnect_p50", $r.kill_one.reconnect_ms.p50 / 1000], ["reconnect_p99", $r.kill_one.reconnect_ms.p99 / 1000],
         ["all_back", $r.kill_one.all_back_seconds], ["others_p99", $r.kill_one.latency_ms.p99 / 1000]]
        | map(. as $q | $m + {scenario: "kill-one-worker", metric: $q[0], value: $q[1], unit: "s", chart: "workers-kill"})
      else [] end))
  | .[] | select(.value != null and .value >= 0)' "$OUT/workers-runs.jsonl" >"$OUT/workers.json"
