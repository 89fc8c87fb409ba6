#!/usr/bin/env bash
# Installs the Debian packages luahub needs to build, run and test, only when one is
# missing, so `make run` / `make test` work on a fresh Debian 12 machine as root.
# Usage: scripts/deps.sh [build|test|browser|cluster|fuzz|all]   (default: build)
set -euo pipefail

build_pkgs=(gcc make pkg-config luajit libluajit-5.1-dev libev-dev libwslay-dev
            libssl-dev libhttp-parser-dev zlib1g-dev lua-cjson libhiredis-dev
            libcurl4-openssl-dev liburing-dev)
# the cluster specs run real brokers (they fail when the binaries are missing)
test_pkgs=(lua-busted lua-socket python3-websockets redis-server redis-tools nats-server)
cluster_pkgs=(redis-server redis-tools nats-server)
ops_pkgs=(prometheus)
browser_pkgs=(chromium nodejs npm)
# make fuzz: clang with the libFuzzer and sanitizer runtimes
fuzz_pkgs=(clang libclang-rt-14-dev)

want=()
case "${1:-build}" in
  build)   want=("${build_pkgs[@]}") ;;
  test)    want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${ops_pkgs[@]}") ;;
  cluster) want=("${cluster_pkgs[@]}") ;;
  ops)     want=("${ops_pkgs[@]}") ;;
  browser) want=("${browser_pkgs[@]}") ;;
  fuzz)    want=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  all)     want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${cluster_pkgs[@]}") ;;
  *) echo "deps.sh: unknown set '$1' (build|test|cluster|ops|browser|fuzz|all)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  # nodejs/npm may come from outside Debian; a working command is enough.
  if [[ $p == nodejs || $p == npm ]] && command -v "${p/nodejs/node}" >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || { echo "deps.sh: apt-get update failed" >&2; exit 1; }
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { echo "deps.sh: apt-get install ${missing[*]} failed" >&2; exit 1; }
