#!/usr/bin/env bash
# scripts/bench-cluster.sh — the cluster case of `make bench`: the fan-out scenario of
# bench.sh's rate-1k (1,000 subscribers, 1,000 msg/s of 64 bytes, BENCH_SECONDS) against
#   single   one luahub node (the figure to compare with)
#   redis    two nodes sharing one port (reuse_port = true: the kernel spreads the
#            subscribers and the publisher over both) and one redis-server
#   nats     the same with one nats-server
#   redis-cluster  the same with a Redis Cluster of 3 masters (sharded pub/sub; the
#            broadcast channel is on one of them)
# reporting delivered msg/s and latency percentiles from luahub-loadgen, as a table and
# build/bench/cluster.json. Brokers and nodes run on free loopback ports, are stopped by
# PID, and a missing broker binary skips its case. Needs build/bench/luahub-loadgen
# (make bench-tools) and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=$BUILD/bench
LOGS=$OUT/logs
LOADGEN=$OUT/luahub-loadgen
LUAHUB=${LUAHUB_BIN:-$BUILD/luahub}
SECONDS_EACH=${BENCH_SECONDS:-10}
CASES=${BENCH_CLUSTER_CASES:-single redis nats}
SCRIPT=examples/broadcast/hub.lua

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-cluster.sh: $*"; exit 1; }
[[ -x $LOADGEN ]] || die "$LOADGEN is missing: make bench-tools"
[[ -x $LUAHUB ]] || die "$LUAHUB is missing: make"
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
mkdir -p "$LOGS"

PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_port() {   # port
  local deadline=$((SECONDS + 10))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

wait_log() {    # file pattern
  local deadline=$((SECONDS + 10))
  until grep -q "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

start_redis_cluster() {   # -> BROKER_URL: 3 masters, each with its own bus port
  local i port bus ports=() deadline=$((SECONDS + 20))
  for i in 1 2 3; do
    port=$("$LOADGEN" --free-port)
    bus=$("$LOADGEN" --free-port)
    rm -rf "$OUT/redis-cluster-$i" && mkdir -p "$OUT/redis-cluster-$i"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$bus" \
      --dir "$OUT/redis-cluster-$i" >"$LOGS/cluster-redis-cluster-broker$i.log" 2>&1 &
    PIDS+=($!)
    ports+=("$port")
  done
  for port in "${ports[@]}"; do wait_port "$port" || die "redis-cluster node did not listen on $port"; done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-yes \
    >"$LOGS/cluster-redis-cluster-create.log" 2>&1 || die "redis-cli --cluster create failed"
  for port in "${ports[@]}"; do
    until redis-cli -p "$port" cluster info | grep -q cluster_state:ok; do
      ((SECONDS < deadline)) || die "the Redis Cluster was not ok within 20 s"
      sleep 0.1
    done
  done
  BROKER_URL=redis-cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}
}

start_broker() {   # kind -> BROKER_URL
  local kind=$1 port
  [[ $kind == redis-cluster ]] && { start_redis_cluster; return; }
  port=$("$LOADGEN" --free-port)
  if [[ $kind == redis ]]; then
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no \
      --dir "$OUT" >"$LOGS/cluster-redis-broker.log" 2>&1 &
  else
    nats-server -a 127.0.0.1 -p "$port" >"$LOGS/cluster-nats-broker.log" 2>&1 &
  fi
  PIDS+=($!)
  wait_port "$port" || die "$kind broker did not listen on $port"
  BROKER_URL=$kind://127.0.0.1:$port
}

run_case() {   # case -> one JSON line
  local kind=$1 port n nodes=1 config='{"reuse_port":true}'
  port=$("$LOADGEN" --free-port)
  if [[ $kind != single ]]; then
    start_broker "$kind"
    nodes=2
  fi
  for ((n = 1; n <= nodes; n++)); do
    [[ $kind != single ]] && config=$(jq -nc --arg a "${kind%-cluster}" --arg u "$BROKER_URL" --arg id "bench-$n" \
      '{reuse_port: true, cluster: {adapter: $a, url: $u, node_id: $id}}')
    "$LUAHUB" --listen "127.0.0.1:$port" --config "$config" "$SCRIPT" >"$LOGS/cluster-$kind-node$n.log" 2>&1 &
    PIDS+=($!)
    if [[ $kind != single ]]; then
      wait_log "$LOGS/cluster-$kind-node$n.log" "connected to $kind" || die "node $n never reached $kind"
    fi
  done
  wait_port "$port" || die "$kind: nothing listens on $port"
  local cmd=("$LOADGEN" fanout --subs 1000 --rate 1000 --duration "$SECONDS_EACH" --size 64
             --url "ws://127.0.0.1:$port/ws" --sources 127.0.0.1-127.0.0.4
             --timeout $((SECONDS_EACH + 180)) --json)
  say "-- cluster / $kind: ${cmd[*]}"
  local result
  result=$("${cmd[@]}" 2>>"$LOGS/cluster-$kind.loadgen.log") || true
  stop_all
  jq -e . >/dev/null 2>&1 <<<"$result" || result=null
  jq -nc --arg c "$kind" --argjson n "$nodes" --argjson r "$result" '{case: $c, nodes: $n, result: $r}'
}

: >"$OUT/cluster.jsonl"
for kind in $CASES; do
  if [[ $kind != single ]] && ! command -v "${kind%-cluster}-server" >/dev/null; then
    say "== skipping $kind: $kind-server is not installed (scripts/deps.sh cluster)"
    continue
  fi
  run_case "$kind" >>"$OUT/cluster.jsonl"
done
jq -s '{runs: .}' "$OUT/cluster.jsonl" >"$OUT/cluster.json"
say "== cluster: 1,000 subscribers x 1,000 msg/s of 64 B for ${SECONDS_EACH}s, subscribers spread over the nodes by SO_REUSEPORT"
jq -r '(["case", "nodes", "delivered/s", "backlog", "p50 ms", "p99 ms"] | @tsv),
  (.runs[] | [.case, .nodes, (.result.delivered_per_s // "-" | if type == "number" then round else . end),
              (.result.backlog // "-"), (.result.latency_ms.p50 // "-"), (.result.latency_ms.p99 // "-")] | @tsv)' \
  "$OUT/cluster.json" | column -t -s $'\t' | tee "$OUT/cluster-table.txt"
