#!/usr/bin/env bash
# scripts/bench-outbound.sh — the outbound case of `make bench`: hub.http.request against
# build/bench/backend (the fastest minimal HTTP/1.1 server we could write), measured in
# the same run as the backend's own capacity:
#   a  backend    luahub-httpload on OUTBOUND_CONNS keep-alive connections (the number
#                 luahub's client keeps per host, outbound.connections_per_host) for
#                 OUTBOUND_SECONDS: the backend's requests/s and p99
#   b  calls      OUTBOUND_CLIENTS (1,000) WebSocket clients, each with one message out at
#                 a time (loadgen echo, window 1), OUTBOUND_CALLS messages in all; every
#                 message is one hub.http.request to /x and its reply a round trip:
#                 calls/s and p99, and calls/s / the backend's requests/s of the same run.
#                 Also with OUTBOUND_CONNS clients: no call waits for a connection
#   c  in flight  100 echo clients (messages that call nothing) at ECHO_RATE msg/s for
#                 OUTBOUND_SECONDS: their p99 alone, and with OUTBOUND_CLIENTS other
#                 clients whose calls go to /delay/200 (each with one call in flight)
# OUTBOUND_RUNS (3) rounds of every case, alternated; the table shows the median and the
# range. Pinning as bench.sh: the server measured (backend in a, luahub in b and c) on
# cpu0, everything else on cpu1. Every process starts on a free loopback port checked to
# be unused, is waited for with a deadline, and is stopped by PID. Output: the table on
# stdout and in build/bench/outbound.txt, every run as JSON in build/bench/outbound.jsonl,
# logs in build/bench/logs/outbound-*. Needs make all bench-tools, jq and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=$BUILD/bench
LOGS=$OUT/logs
LOADGEN=$OUT/luahub-loadgen
HTTPLOAD=$OUT/luahub-httpload
BACKEND=$OUT/backend
LUAHUB=${LUAHUB_BIN:-$BUILD/luahub}
SCRIPT=examples/bench-outbound/hub.lua
RUNS=${OUTBOUND_RUNS:-3}
SECS=${OUTBOUND_SECONDS:-5}
CONNS=${OUTBOUND_CONNS:-64}
CLIENTS=${OUTBOUND_CLIENTS:-1000}
CALLS=${OUTBOUND_CALLS:-60000}
ECHO_RATE=${ECHO_RATE:-2000}
DELAY_MS=200

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-outbound.sh: $*"; exit 1; }
for tool in "$LOADGEN" "$HTTPLOAD" "$BACKEND"; do
  [[ -x $tool ]] || die "$tool is missing: make bench-tools"
done
[[ -x $LUAHUB ]] || die "$LUAHUB is missing: make"
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
command -v curl >/dev/null || die "curl is needed to read luahub's /metrics"
if ! probe=$(BENCH_BACKEND=http://127.0.0.1:1 "$LUAHUB" check "$SCRIPT" 2>&1); then
  [[ $probe == *"no hub.http"* ]] || die "$SCRIPT does not load: $probe"
  say "== skipping the outbound case: $LUAHUB has no hub.http"
  exit 0
fi
for n in "$RUNS" "$SECS" "$CONNS" "$CLIENTS" "$CALLS" "$ECHO_RATE"; do
  [[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || die "OUTBOUND_* and ECHO_RATE must be whole numbers >= 1"
done
((SECS <= 600 && CLIENTS + CONNS + 100 <= 19000)) ||
  die "OUTBOUND_SECONDS at most 600; OUTBOUND_CLIENTS + OUTBOUND_CONNS at most 18,900 (one luahub process)"
mkdir -p "$LOGS"

if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
  MEASURED=(taskset -c 0)
  OTHERS=(taskset -c 1)
else
  MEASURED=()
  OTHERS=()
fi

# ---- processes: started on a free port, waited for, stopped by PID ----------------
PIDS=()
stop_pid() {   # pid: TERM, up to 5 s, then KILL
  local pid=$1 i
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {   # a loopback port nothing listens on
  local port
  port=$("$LOADGEN" --free-port)
  accepts "$port" && die "port $port answers before anything was started on it"
  echo "$port"
}

# Polls a TCP connect until it succeeds, the process dies, or 10 s pass.
wait_port() {   # port pid
  local deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    kill -0 "$2" 2>/dev/null || return 1
    accepts "$1" && return 0
    sleep 0.05
  done
  return 1
}

start() {   # log-name port command... -> STARTED (pid)
  local log="$LOGS/outbound-$1.log" port=$2
  shift 2
  "$@" >"$log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
  wait_port "$port" "$STARTED" || { tail -n 20 "$log" >&2; die "$1 did not listen on 127.0.0.1:$port within 10 s (log $log)"; }
}

start_backend() {   # placement... -> BACKEND_PID, BACKEND_URL
  local port
  port=$(free_port)
  start backend "$port" "$@" "$BACKEND" --listen "127.0.0.1:$port"
  BACKEND_PID=$STARTED
  BACKEND_URL=http://127.0.0.1:$port
}

start_luahub() {   # -> LUAHUB_PID, LUAHUB_PORT; the backend must be running
  LUAHUB_PORT=$(free_port)
  start luahub "$LUAHUB_PORT" env BENCH_BACKEND="$BACKEND_URL" "${MEASURED[@]}" "$LUAHUB" \
    --listen "127.0.0.1:$LUAHUB_PORT" --log-level warn \
    --config "{\"outbound\":{\"connections_per_host\":$CONNS}}" "$SCRIPT"
  LUAHUB_PID=$STARTED
}

# CPU seconds (user + system) the given processes have used, from /proc/PID/stat.
cpu_seconds() {   # pid...
  local pid
  for pid in "$@"; do cat "/proc/$pid/stat"; done |
    awk -v tick="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); s += $12 + $13 } END { print s / tick }'
}

# What the bench's own helpers (the backend, the slow clients) used during a loadgen run,
# in % of one core: the loadgen counts them among "other processes", and the table
# subtracts them again so that "other CPU %" is what ran besides this bench.
helpers_percent() {   # cpu-seconds-before cpu-seconds-after loadgen-json
  jq -n --argjson a "$1" --argjson b "$2" --argjson r "$(json_or_null "$3")" \
    'if $r == null or ($r.phase_seconds // 0) == 0 then null
     else (($b - $a) / $r.phase_seconds * 1000 | round / 10) end'
}

# One value of luahub's /metrics (a series with its labels), 0 when absent.
metric() {   # series
  curl -s --max-time 5 "http://127.0.0.1:$LUAHUB_PORT/metrics" |
    awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}

json_or_null() { [[ -n $1 ]] && jq -ce . 2>/dev/null <<<"$1" || echo null; }

# ---- the cases: each prints one JSON line (run in this shell, not a subshell, so that
# PIDS and the EXIT trap see every process it starts) ------------------------------------
case_backend() {
  local r
  start_backend "${MEASURED[@]}"
  r=$(timeout $((SECS + 90)) "${OTHERS[@]}" "$HTTPLOAD" --url "$BACKEND_URL/x" --conns "$CONNS" \
        --duration "$SECS" --pid "$BACKEND_PID" --timeout $((SECS + 60)) --json) || true
  stop_all
  jq -nc --argjson r "$(json_or_null "$r")" '{case:"backend", result:$r}'
}

case_calls() {   # clients
  local clients=$1 r b0 b1 ok failed
  start_backend "${OTHERS[@]}"
  start_luahub
  b0=$(cpu_seconds "$BACKEND_PID")
  r=$(timeout 400 "${OTHERS[@]}" "$LOADGEN" echo --subs "$clients" --burst $((CALLS / clients)) \
        --window 1 --size 64 --template '/x %s' --url "ws://127.0.0.1:$LUAHUB_PORT/ws" \
        --pid "$LUAHUB_PID" --timeout 360 --json 2>>"$LOGS/outbound-loadgen.log") || true
  b1=$(cpu_seconds "$BACKEND_PID")
  ok=$(metric 'luahub_outbound_calls_total{kind="http",result="ok"}')
  failed=$(curl -s --max-time 5 "http://127.0.0.1:$LUAHUB_PORT/metrics" |
    awk '/^luahub_outbound_calls_total\{kind="http"/ && !/result="ok"/ { n += $2 } END { print n + 0 }')
  stop_all
  jq -nc --argjson clients "$clients" --argjson r "$(json_or_null "$r")" \
    --argjson ok "$ok" --argjson failed "$failed" --argjson helpers "$(helpers_percent "$b0" "$b1" "$r")" \
    '{case:"calls", clients:$clients, calls_ok:$ok, calls_failed:$failed, result:$r,
      helpers_cpu_percent:$helpers}'
}

case_in_flight() {   # with (1: OUTBOUND_CLIENTS calls to /delay in flight, 0: none)
  local with=$1 r waiting="" before=0 after=0 deadline h0 h1
  start_backend "${OTHERS[@]}"
  start_luahub
  if ((with)); then
    # Each slow client keeps one call out; it runs until stopped (bounded by --timeout).
    "${OTHERS[@]}" "$LOADGEN" echo --subs "$CLIENTS" --burst 1000000 --window 1 --size 64 \
      --template "/delay/$DELAY_MS %s" --url "ws://127.0.0.1:$LUAHUB_PORT/ws" \
      --timeout $((SECS + 120)) >>"$LOGS/outbound-slow-clients.log" 2>&1 &
    waiting=$!
    PIDS+=("$waiting")
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
      before=$(metric 'luahub_outbound_in_flight{kind="http"}')
      ((before >= CLIENTS * 99 / 100)) && break
      kill -0 "$waiting" 2>/dev/null || break
      sleep 0.1
    done
    ((before >= CLIENTS * 99 / 100)) ||
      say "   warning: only $before calls in flight after 30 s (wanted $CLIENTS)"
  fi
  h0=$(cpu_seconds "$BACKEND_PID" $waiting)
  r=$(timeout $((SECS + 90)) "${OTHERS[@]}" "$LOADGEN" echo --subs 100 --rate "$ECHO_RATE" \
        --duration "$SECS" --size 64 --url "ws://127.0.0.1:$LUAHUB_PORT/ws" --pid "$LUAHUB_PID" \
        --timeout $((SECS + 60)) --json 2>>"$LOGS/outbound-loadgen.log") || true
  h1=$(cpu_seconds "$BACKEND_PID" $waiting)
  ((with)) && after=$(metric 'luahub_outbound_in_flight{kind="http"}')
  stop_all
  jq -nc --argjson with "$with" --argjson before "$before" --argjson after "$after" \
    --argjson r "$(json_or_null "$r")" --argjson helpers "$(helpers_percent "$h0" "$h1" "$r")" \
    '{case:"in_flight", calls_in_flight:(if $with == 1 then {before:$before, after:$after} else null end),
      result:$r, helpers_cpu_percent:$helpers}'
}

# ---- run: rounds of every case, alternated ------------------------------------------------
RUNS_FILE=$OUT/outbound.jsonl
: >"$RUNS_FILE"
say "== outbound: $(date -u +%FT%TZ), $(nproc) cores, $RUNS rounds; backend and luahub on cpu0 when measured, the rest on cpu1"
for ((round = 1; round <= RUNS; round++)); do
  say "-- round $round/$RUNS: a backend ($CONNS conns, ${SECS}s)"
  case_backend >>"$RUNS_FILE"; line=$(tail -n 1 "$RUNS_FILE")
  jq -r '.result | "   \(.requests_per_s // 0 | floor) requests/s, p99 \(.latency_ms.p99) ms"' <<<"$line" >&2
  for clients in "$CLIENTS" "$CONNS"; do
    say "-- round $round/$RUNS: b calls through luahub, $clients clients, $CALLS messages"
    case_calls "$clients" >>"$RUNS_FILE"; line=$(tail -n 1 "$RUNS_FILE")
    jq -r '"   \(.result.delivered_per_s // 0 | floor) calls/s, p99 \(.result.latency_ms.p99) ms, ok \(.calls_ok), failed \(.calls_failed)"' <<<"$line" >&2
  done
  for with in 0 1; do
    say "-- round $round/$RUNS: c 100 echo clients at $ECHO_RATE msg/s, $([[ $with == 1 ]] && echo "$CLIENTS calls to /delay/$DELAY_MS in flight" || echo "no calls")"
    case_in_flight "$with" >>"$RUNS_FILE"; line=$(tail -n 1 "$RUNS_FILE")
    jq -r '"   p99 \(.result.latency_ms.p99) ms" + (if .calls_in_flight then ", in flight \(.calls_in_flight.before) -> \(.calls_in_flight.after)" else "" end)' <<<"$line" >&2
  done
done

# ---- the table: median (min-max) over the rounds ----------------------------------------
jq -rs --arg clients "$CLIENTS" --arg conns "$CONNS" --arg rate "$ECHO_RATE" '
  def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
  def fmt: if . == null then "-" elif . >= 10000 then "\(. / 1000 | . * 10 | round / 10)k"
    elif . >= 100 then "\(round)" else "\(. * 100 | round / 100)" end;
  def cell(xs): (xs | map(select(. != null))) as $v
    | if ($v | length) == 0 then "-"
      else "\($v | median | fmt)  (\($v | min | fmt)-\($v | max | fmt))" end;
  . as $runs
  | [$runs[] | select(.case == "backend") | .result.requests_per_s] as $cap
  # CPU time per request or call: what a process costs whatever share of its core it got.
  | def per_call: if .server.cpu_s == null or (.responses // .delivered // 0) == 0 then null
      else .server.cpu_s * 1e6 / (.responses // .delivered) end;
  [$runs[] | select(.case == "backend") | .result | per_call] as $cost
  | def calls(n): [$runs[] | select(.case == "calls" and .clients == n)];
  def flight(w): [$runs[] | select(.case == "in_flight" and ((.calls_in_flight != null) == w))];
  def other: if .result.machine.other_percent == null or .helpers_cpu_percent == null then null
    else [.result.machine.other_percent - .helpers_cpu_percent, 0] | max end;
  ["case", "metric", "median  (min-max)"],
  ["a backend, \($conns) conns", "requests/s", cell($cap)],
  ["", "p99 ms", cell([$runs[] | select(.case == "backend") | .result.latency_ms.p99])],
  ["", "backend CPU %", cell([$runs[] | select(.case == "backend") | .result.server.cpu_percent])],
  ["", "backend CPU us/request", cell($cost)],
  ["", "other CPU %", cell([$runs[] | select(.case == "backend") | .result.machine.other_percent])],
  (( ($clients | tonumber), ($conns | tonumber) ) as $n
  | ["b luahub, \($n) clients", "calls/s", cell([calls($n)[] | .result.delivered_per_s])],
     ["", "calls/s / a", cell([range(0; [calls($n) | length, ($cap | length)] | min) as $i
                                | calls($n)[$i].result.delivered_per_s / $cap[$i]])],
     ["", "p99 ms", cell([calls($n)[] | .result.latency_ms.p99])],
     ["", "luahub CPU %", cell([calls($n)[] | .result.server.cpu_percent])],
     ["", "luahub CPU us/call", cell([calls($n)[] | .result | per_call])],
     ["", "a us/request / b us/call", cell([range(0; [calls($n) | length, ($cost | length)] | min) as $i
                                | (calls($n)[$i].result | per_call) as $c | if $c and $cost[$i] then $cost[$i] / $c else null end])],
     ["", "backend CPU %", cell([calls($n)[] | .helpers_cpu_percent])],
     ["", "other CPU %", cell([calls($n)[] | other])],
     ["", "calls failed", cell([calls($n)[] | .calls_failed])]),
  ["c 100 echo clients, \($rate)/s", "p99 ms, no calls", cell([flight(false)[] | .result.latency_ms.p99])],
    ["", "other CPU %, no calls", cell([flight(false)[] | other])],
    ["", "p99 ms, \($clients) in flight", cell([flight(true)[] | .result.latency_ms.p99])],
    ["", "other CPU %, in flight", cell([flight(true)[] | other])],
    ["", "in flight (sampled)", cell([$runs[] | .calls_in_flight // empty | .before, .after])]
  | @tsv' "$RUNS_FILE" | awk -F'\t' '
  { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } if (NF > nf) nf = NF }
  END { for (r = 1; r <= NR; r++) { line = "";
          for (i = 1; i <= nf; i++) line = line sprintf("%-*s  ", w[i], cell[r, i]);
          sub(/ +$/, "", line); print line } }' | tee "$OUT/outbound.txt"
say "== raw runs: $RUNS_FILE, table: $OUT/outbound.txt"
