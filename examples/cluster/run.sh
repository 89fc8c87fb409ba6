#!/usr/bin/env bash
# Two luahub nodes and one redis-server on this machine: the cluster chat in one command.
#   examples/cluster/run.sh            nodes on 127.0.0.1:8081 and :8082 (PORT1, PORT2 to change)
# redis-server gets a free loopback port and keeps nothing on disk. Ctrl-C (or SIGTERM)
# stops the three processes by PID; killing one of them (the PIDs are printed) leaves the
# others running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port1=${PORT1:-8081}
port2=${PORT2:-8082}
bin=${LUAHUB_BIN:-$root/build/luahub}

command -v redis-server >/dev/null || { echo "run.sh: redis-server missing: scripts/deps.sh cluster installs it" >&2; exit 1; }
[[ -x $bin ]] || make -C "$root" -s

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {   # port seconds
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    (( SECONDS < deadline )) || { echo "run.sh: nothing listens on port $1" >&2; return 1; }
    sleep 0.05
  done
}

tmp=$(mktemp -d)
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap stop INT TERM EXIT

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$tmp" \
  --protected-mode no >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port" 5

# Every node's address: a page fails over to the other node (and both accept its origin).
node_urls="http://127.0.0.1:$port1 http://127.0.0.1:$port2"
for n in 1 2; do
  port_var=port$n
  NODE_ID=node-$n REDIS_URL=redis://127.0.0.1:$redis_port NODE_URLS=$node_urls \
    "$bin" --listen "127.0.0.1:${!port_var}" "$here/hub.lua" &
  pids+=($!)
done
wait_port "$port1" 5
wait_port "$port2" 5
echo "cluster chat: http://127.0.0.1:$port1 (node-1, pid ${pids[1]}) and http://127.0.0.1:$port2 (node-2, pid ${pids[2]}),"
echo "redis on :$redis_port (pid ${pids[0]}); Ctrl-C stops all"
# Until Ctrl-C: a process killed to try a failover leaves the others running.
wait || true
