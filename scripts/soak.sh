#!/usr/bin/env bash
# `make soak`: runs scripts/soak.lua against the ASan+UBSan server the Makefile built,
# for SOAK_MINUTES (default 2), and exits with its verdict. The driver stops the server
# itself; this script only makes sure it does even when the driver dies or is
# interrupted (Ctrl-C does not reach the server, which runs in the background): the
# driver writes the server's PID to $SOAK_DIR/server.pid and removes it once it stopped
# the server, so a PID still listed at exit is stopped here, TERM then KILL.
# Env: LUAHUB_BIN (default build/asan/luahub), SOAK_MINUTES, SOAK_DIR (default build/soak:
# the roles' reports and the server's log), and the driver's SOAK_* (scripts/soak.lua).
set -euo pipefail
cd "$(dirname "$0")/.."

export LUAHUB_BIN=${LUAHUB_BIN:-build/asan/luahub}
export SOAK_DIR=${SOAK_DIR:-build/soak}
[[ -x $LUAHUB_BIN ]] || { echo "soak.sh: no server at $LUAHUB_BIN (run make soak)" >&2; exit 1; }

# As luahub.testing stops a server: SIGTERM drains, a second one a second later closes
# the clients left, SIGKILL when it is still there 5 s on.
stop_server() {
  local pidfile=$SOAK_DIR/server.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(<"$pidfile")
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    [[ $i == 10 ]] && kill -TERM "$pid" 2>/dev/null
    sleep 0.1
  done
  echo "soak.sh: server $pid still running 6 s after SIGTERM: killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}
trap stop_server EXIT

rm -rf "$SOAK_DIR"
mkdir -p "$SOAK_DIR"
LUA_PATH="lua/?.lua;lua/?/init.lua;;" luajit scripts/soak.lua
