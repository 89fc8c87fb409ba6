#!/usr/bin/env bash
# scripts/bench.sh — `make bench`: end-to-end fan-out benchmark of luahub against
# the raw C baseline, in one run on this box.
#
# Runs build/bench/luahub-loadgen against each server (`make bench-tools` builds the
# loadgen and the baseline from bench/; `make bench` builds them and runs this):
#   baseline  build/bench/baseline (bench/baseline): fan-out in C and nothing else (the limit)
#   baseline-uring  the same with --io-uring: its writes of a pass as one io_uring batch, as
#             luahub's flush does (not in the default set; BENCH_SERVERS adds it)
#   luahub    build/luahub examples/broadcast/hub.lua
#   router    build/luahub examples/bench-router/hub.lua (rooms, Lua router, two
#             middlewares; skipped with a message while that script does not exist)
# runs every scenario against a fresh server process on a free loopback port:
#   rate-1k    1,000 subscribers x 1,000 msg/s for BENCH_SECONDS
#   rate-10k   10,000 subscribers x 100 msg/s for BENCH_SECONDS
#   burst      10,000 messages to 1,000 subscribers, window 200, 10 rounds
#   idle-10k   10,000 idle connections: server RSS per connection
#   idle-19k   19,000 idle connections (two loadgen processes)
# each BENCH_RUNS times, interleaved; prints the median and spread of every metric with
# luahub/baseline ratios, and writes build/bench/results.json (every run, raw) and
# build/bench/fanout.json (the measurements, one JSON object per line, for scripts/plot.lua).
#
# Environment:
#   BENCH_SECONDS=10          length of the rate scenarios
#   BENCH_SERVERS="baseline luahub router"    BENCH_SCENARIOS="rate-1k ... idle-19k"
#   BENCH_PIN=1               pin server to CPU 0 and loadgen to CPU 1 (0: let the
#                             scheduler place them)
#   BENCH_RUNS=3              runs of every scenario and server (1..20)
#   LUAHUB_BIN=build/luahub   BENCH_LUAHUB_ARGS="" (extra luahub arguments)
#   BENCH_ROUTER_SCRIPT=examples/bench-router/hub.lua
#   BUILD=build               where the Makefile put its outputs
# The router scenario reads optional loadgen arguments, one per line, from
# loadgen.args beside the router script (e.g. --join=... and --template=...);
# without that file subscribers send {"type":"join","room":"bench"} and the
# publisher {"type":"publish","room":"bench","text":"<stamp>"}.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=$BUILD/bench
LOGS=$OUT/logs
SECONDS_EACH=${BENCH_SECONDS:-10}
SERVERS=${BENCH_SERVERS:-baseline luahub router}
SCENARIOS=${BENCH_SCENARIOS:-rate-1k rate-10k burst idle-10k idle-19k}
PIN=${BENCH_PIN:-1}
LUAHUB=${LUAHUB_BIN:-$BUILD/luahub}
read -r -a LUAHUB_ARGS <<<"${BENCH_LUAHUB_ARGS:-}"
BROADCAST_SCRIPT=examples/broadcast/hub.lua
ROUTER_SCRIPT=${BENCH_ROUTER_SCRIPT:-examples/bench-router/hub.lua}
ROUTER_ARGS_FILE=$(dirname "$ROUTER_SCRIPT")/loadgen.args
LOADGEN=$OUT/luahub-loadgen
BASELINE=$OUT/baseline
SOURCES=127.0.0.1-127.0.0.4
RUNS_EACH=${BENCH_RUNS:-3}

say() { printf '%s\n' "$*" >&2; }
die() { say "bench.sh: $*"; exit 1; }

[[ $SECONDS_EACH =~ ^[0-9]+$ && $SECONDS_EACH -ge 1 && $SECONDS_EACH -le 600 ]] ||
  die "BENCH_SECONDS must be 1..600 (got '$SECONDS_EACH')"
[[ $RUNS_EACH =~ ^[0-9]+$ && $RUNS_EACH -ge 1 && $RUNS_EACH -le 20 ]] ||
  die "BENCH_RUNS must be 1..20 (got '$RUNS_EACH')"
command -v jq >/dev/null || die "jq is needed to assemble the results (apt-get install jq)"
[[ -x $LOADGEN ]] || die "$LOADGEN is missing: make bench-tools"

mkdir -p "$OUT" "$LOGS"

if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
  PIN_SERVER=(taskset -c 0)
  PIN_LOADGEN=(taskset -c 1)
else
  PIN=0
  PIN_SERVER=()
  PIN_LOADGEN=()
fi

# ---- server lifecycle: one fresh process per scenario, stopped by PID --------
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# Polls a TCP connect to the port until it succeeds, the server dies, or 10 s pass.
wait_for_port() {
  local port=$1 deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

server_command() {   # server port -> fills CMD
  local server=$1 port=$2
  case $server in
    baseline) CMD=("$BASELINE" --listen "127.0.0.1:$port") ;;
    baseline-uring) CMD=("$BASELINE" --listen "127.0.0.1:$port" --io-uring) ;;
    luahub)   CMD=("$LUAHUB" --listen "127.0.0.1:$port" "${LUAHUB_ARGS[@]}" "$BROADCAST_SCRIPT") ;;
    router)   CMD=("$LUAHUB" --listen "127.0.0.1:$port" "${LUAHUB_ARGS[@]}" "$ROUTER_SCRIPT") ;;
  esac
}

start_server() {   # server scenario -> sets SERVER_PID and PORT
  local server=$1 scenario=$2 log
  log="$LOGS/$server-$scenario.log"
  PORT=$("$LOADGEN" --free-port)
  server_command "$server" "$PORT"
  "${PIN_SERVER[@]}" "${CMD[@]}" >"$log" 2>&1 &
  SERVER_PID=$!
  if ! wait_for_port "$PORT"; then
    say "bench.sh: $server did not listen on 127.0.0.1:$PORT within 10 s; log $log:"
    tail -n 20 "$log" >&2 || true
    stop_server
    return 1
  fi
}

scenario_args() {   # scenario -> fills ARGS array
  case $1 in
    rate-1k)  ARGS=(fanout --subs 1000 --rate 1000 --duration "$SECONDS_EACH" --size 64) ;;
    rate-10k) ARGS=(fanout --subs 10000 --rate 100 --duration "$SECONDS_EACH" --size 64) ;;
    burst)    ARGS=(fanout --subs 1000 --burst 10000 --window 200 --rounds 10 --size 64) ;;
    idle-10k) ARGS=(--idle --subs 10000) ;;
    idle-19k) ARGS=(--idle --subs 19000 --procs 2) ;;
    *) die "unknown scenario '$1' (rate-1k rate-10k burst idle-10k idle-19k)" ;;
  esac
  ARGS+=(--sources "$SOURCES" --timeout $((SECONDS_EACH + 180)))
}

router_args() {     # fills RARGS from examples/bench-router/loadgen.args or defaults
  RARGS=()
  if [[ -f $ROUTER_ARGS_FILE ]]; then
    local line
    while IFS= read -r line || [[ -n $line ]]; do
      [[ -z $line || $line == \#* ]] && continue
      RARGS+=("$line")
    done <"$ROUTER_ARGS_FILE"
  else
    RARGS=('--join={"type":"join","room":"bench"}'
           '--template={"type":"publish","room":"bench","text":"%s"}')
  fi
}

# ---- which servers can run ---------------------------------------------------
RUN_SERVERS=()
for server in $SERVERS; do
  case $server in
    baseline|baseline-uring)
      [[ -x $BASELINE ]] || die "$BASELINE is missing: make bench-tools"
      RUN_SERVERS+=("$server") ;;
    luahub|router)
      if [[ ! -x $LUAHUB ]]; then
        say "== skipping $server: $LUAHUB is not built (make all)"
        continue
      fi
      script=$BROADCAST_SCRIPT
      [[ $server == router ]] && script=$ROUTER_SCRIPT
      if [[ ! -f $script ]]; then
        say "== skipping $server: $script does not exist yet"
        continue
      fi
      RUN_SERVERS+=("$server") ;;
    *) die "unknown server '$server' (baseline baseline-uring luahub router)" ;;
  esac
done

# ---- run ------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
RUNS=$OUT/runs.jsonl
say "== $(date -u +%FT%TZ) on $(nproc) cores, ${SECONDS_EACH}s per rate scenario, pinning $([[ $PIN == 1 ]] && echo 'server->cpu0 loadgen->cpu1' || echo off)"
# One measurement: a fresh server, one loadgen run, the server stopped. Prints
# the run as one JSON line.
run_once() {
  local server=$1 scenario=$2 result rc alive full
  scenario_args "$scenario"
  if [[ $server == router ]]; then
    router_args
    ARGS+=("${RARGS[@]}")
  fi
  if ! start_server "$server" "$scenario"; then
    jq -nc --arg s "$server" --arg c "$scenario" '{server:$s, scenario:$c, error:"server did not start"}'
    return
  fi
  full=("${PIN_LOADGEN[@]}" "$LOADGEN" "${ARGS[@]}" --url "ws://127.0.0.1:$PORT/ws"
        --pid "$SERVER_PID" --json)
  say "-- $server / $scenario: ${full[*]}"
  set +e
  result=$(timeout $((SECONDS_EACH + 240)) "${full[@]}" 2>>"$LOGS/$server-$scenario.loadgen.log")
  rc=$?
  set -e
  alive=true
  kill -0 "$SERVER_PID" 2>/dev/null || alive=false
  stop_server
  if ! jq -e . >/dev/null 2>&1 <<<"$result"; then
    say "   loadgen failed (exit $rc); see $LOGS/$server-$scenario.loadgen.log"
    result=null
  fi
  jq -nc --arg s "$server" --arg c "$scenario" --arg cmd "${full[*]}" \
    --argjson rc "$rc" --argjson alive "$alive" --argjson r "$result" \
    '{server:$s, scenario:$c, command:$cmd, exit:$rc, server_survived:$alive, result:$r}'
}

# Runs interleaved: run 1 of every scenario and server, then run 2, ..., so a
# disturbance of the shared box spreads over all servers instead of hitting one.
: >"$RUNS"
for ((run = 1; run <= RUNS_EACH; run++)); do
  say "== run $run of $RUNS_EACH"
  for scenario in $SCENARIOS; do
    for server in "${RUN_SERVERS[@]}"; do
      line=$(run_once "$server" "$scenario")
      jq -c --argjson n "$run" '. + {run: $n}' <<<"$line" >>"$RUNS"
      jq -r '.result // {} | if .mode == "idle" then
               "   \(.connect.opened) connections, \(.rss_per_conn_bytes // "?") B RSS each"
             elif .mode then
               "   \(.delivered)/\(.expected) delivered, \(.delivered_per_s|floor)/s, p99 \(.latency_ms.p99) ms, backlog \(.backlog)" +
               (if (.machine.other_percent // 0) > 10 then
                 "\n   warning: other processes used \(.machine.other_percent)% of a core during this run"
                else "" end)
             else "   no result" end' <<<"$line" >&2
    done
  done
done

# ---- results.json and the table ----------------------------------------------------
jq -s --arg date "$(date -u +%FT%TZ)" --arg load_before "$LOAD_BEFORE" \
  --arg load_after "$(cut -d' ' -f1 /proc/loadavg)" \
  --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- core lua 2>/dev/null || echo +dirty)" \
  --arg luahub_version "$([[ -x $LUAHUB ]] && "$LUAHUB" --version 2>&1 | head -n 1 || echo none)" \
  --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
  --arg kernel "$(uname -r)" --argjson cores "$(nproc)" --argjson fds "$(ulimit -Hn)" \
  --argjson seconds "$SECONDS_EACH" --argjson pin "$PIN" --argjson runs_each "$RUNS_EACH" \
  '{date:$date, commit:$commit, luahub_version:$luahub_version,
    machine:{cpu:$cpu, cores:$cores, kernel:$kernel, fd_hard_limit:$fds},
    load_average:{before:$load_before, after:$load_after},
    bench_seconds:$seconds, runs_each:$runs_each, pinned:($pin == 1), runs:.}' "$RUNS" >"$OUT/results.json"

# The measurements, one JSON object per line (docs/benchmarks.md, "Measurement files"):
# what scripts/plot.lua turns into the table below and, in `make bench`, the charts.
jq -c '.runs[] | select(.result != null) | .result as $r
  | {scenario, server, run} as $k
  | if $r.mode == "idle" then
      $k + {chart: "memory", metric: "rss_per_conn_bytes", unit: "B/conn", value: $r.rss_per_conn_bytes}
    else
      ($k + {chart: "throughput", metric: "delivered_per_s", unit: "msg/s", value: $r.delivered_per_s}),
      ($k + {chart: "cpu-per-delivery", metric: "server_cpu_ns", unit: "ns of server CPU per delivered message",
             value: (if $r.delivered > 0 then ($r.server.core.busy_s // $r.server.cpu_s) * 1e9 / $r.delivered
                     else null end)}),
      ($r.latency_ms | to_entries[] | select(.key | test("^p[0-9]+$"))
       | $k + {chart: "latency", metric: (.key | sub("^p999$"; "p99.9")), unit: "ms", value: .value}),
      ($k + {chart: "backlog", metric: "backlog", unit: "messages", value: $r.backlog}),
      ($k + {chart: "other-cpu", metric: "other_cpu_percent", unit: "% of a core used by other processes",
             value: $r.machine.other_percent})
    end
  | select(.value != null)' "$OUT/results.json" >"$OUT/fanout.json"

say "== results: median of $RUNS_EACH runs (min-max), ratio = luahub / baseline of the same runs"
luajit scripts/plot.lua --text "$OUT/fanout.json" | tee "$OUT/table.txt"
say "== raw results: $OUT/results.json, measurements: $OUT/fanout.json, table: $OUT/table.txt"
