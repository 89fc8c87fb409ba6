#!/usr/bin/env bash
# The per-message cost of the Lua path, one layer at a time: echo through
# examples/echo/hub.lua (bare: one handler) and examples/bench-router/echo.lua (a router
# on the JSON "type" field, then + recover, then + recover + metrics). Each run: 100
# clients x ECHO_MESSAGES each, at most 400 in flight, the same 64-byte JSON message for
# every case; server on cpu0, loadgen on cpu1. The cases are interleaved, ECHO_ROUNDS
# rounds, so a slow spell of this shared VM hits all of them, and each is reported as
# median (min-max): echoes/s, the server's CPU per message, read by the loadgen from
# /proc/PID/stat (utime+stime) from all connected to the last echo, and both as a
# multiple of bare's in the same round (CPU: bare's us/msg over the case's).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${BUILD:-build}
loadgen=$build/bench/luahub-loadgen
luahub=${LUAHUB_BIN:-$build/luahub}
[[ -x $loadgen && -x $luahub ]] || { echo "bench-echo: $loadgen or $luahub is missing: make all bench-tools" >&2; exit 1; }
per_client=${ECHO_MESSAGES:-10000}
rounds=${ECHO_ROUNDS:-5}
template='{"type":"echo","text":"%s"}'

pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null' EXIT

# name script layers -> "name  echoes/s  CPU µs per message  p99 ms  delivered/expected"
run() {
  local port out
  port=$("$loadgen" --free-port)
  BENCH_LAYERS=$3 taskset -c 0 "$luahub" --listen "127.0.0.1:$port" "$2" 2>/dev/null &
  pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  out=$(taskset -c 1 "$loadgen" echo --subs 100 --burst "$per_client" --window 400 --size 64 \
        --template "$template" --url "ws://127.0.0.1:$port/ws" --pid "$pid" --timeout 120 --json)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
  jq -r --arg name "$1" '"\($name)\t\(.delivered_per_s | floor)\t\(1e6 * .server.cpu_s / ([.delivered, 1] | max))\t\(.latency_ms.p99)\t\(.delivered)/\(.expected)"' <<<"$out"
}

cases=(bare router router+recover router+recover+metrics)
script() { [[ $1 == bare ]] && echo examples/echo/hub.lua || echo examples/bench-router/echo.lua; }
layers() { local l=${1#router}; l=${l#+}; echo "${l//+/,}"; }

results=$(mktemp)
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -f "$results"' EXIT
for r in $(seq "$rounds"); do
  for c in "${cases[@]}"; do
    line=$(run "$c" "$(script "$c")" "$(layers "$c")")
    printf '%s\t%s\n' "$r" "$line" >>"$results"
    echo "# round $r: $line" >&2
  done
done

# Per case: medians with min-max; the ratio to bare is taken within each round (the
# cases of one round ran back to back) and then summarised the same way.
awk -F'\t' -v cases="${cases[*]}" '
  function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
  function med(a, n) { sort(a, n); return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
  function summary(a, n, fmt,   m) { m = med(a, n); return sprintf(fmt " (" fmt "-" fmt ")", m, a[1], a[n]) }
  { rate[$2, $1] = $3; cpu[$2, $1] = $4; p99[$2, $1] = $5; split($6, d, "/"); runs[$2]++; if (d[1] == d[2]) full[$2]++; rounds[$1] = 1 }
  END {
    n = split(cases, cs, " ")
    printf "%-24s %-26s %-20s %-22s %-18s %-18s %s\n", "case", "echoes/s", "CPU us/msg", "p99 ms", "x bare echoes/s", "x bare CPU/msg", "all echoed"
    for (i = 1; i <= n; i++) {
      c = cs[i]; k = 0
      for (r in rounds) { k++; x[k] = rate[c, r]; y[k] = cpu[c, r]; z[k] = p99[c, r]; q[k] = rate[c, r] / rate["bare", r]; w[k] = cpu["bare", r] / cpu[c, r] }
      printf "%-24s %-26s %-20s %-22s %-18s %-18s %s\n", c, summary(x, k, "%.0f"), summary(y, k, "%.2f"), summary(z, k, "%.1f"), summary(q, k, "%.2f"), summary(w, k, "%.2f"), (full[c] + 0) "/" runs[c] " runs"
    }
  }' "$results"
