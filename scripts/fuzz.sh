#!/usr/bin/env bash
# Runs each libFuzzer target (built by `make fuzz` into build/fuzz/) for FUZZ_SECONDS,
# then prints one line per target: runs, executions per second, coverage, findings.
# Exits non-zero if any target found something (crash, leak, timeout, out of memory).
#
#   corpus    build/fuzz/corpus/NAME   grows across runs; starts from spec/fuzz/corpus/NAME
#   findings  build/fuzz/findings/NAME crash-*, leak-*, ... with the input that caused it
#   log       build/fuzz/NAME.log
# Reproduce a finding: build/fuzz/NAME_fuzz build/fuzz/findings/NAME/crash-...
# Env: FUZZ_SECONDS (default 60), FUZZ_ARGS (extra libFuzzer flags, e.g. -jobs=2).
# Usage: scripts/fuzz.sh build/fuzz/http_fuzz build/fuzz/ws_fuzz ...
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}

# Longest input per target: a request head just past the 8 KiB head limit; a few frames
# up to wslay's 4 KiB buffers and our size limits (ws_fuzz's flood bits repeat them); a
# publish body with an "except" list past its 1000 ids, a config object, or a route's
# answer with kilobytes of headers.
max_len() {
  case $1 in
    http) echo 10000 ;;
    ws)   echo 8192 ;;
    *)    echo 10000 ;;
  esac
}

failed=0
summary=()
for bin in "$@"; do
  name=$(basename "$bin" _fuzz)
  work=build/fuzz/corpus/$name
  found=build/fuzz/findings/$name
  log=build/fuzz/$name.log
  mkdir -p "$work" "$found"
  dict=()
  [[ -f spec/fuzz/$name.dict ]] && dict=(-dict="spec/fuzz/$name.dict")
  before=$(ls "$found" | wc -l)
  echo "== $name: fuzzing for ${seconds}s (log: $log)"
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -max_len="$(max_len "$name")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$found/" "${dict[@]}" \
    ${FUZZ_ARGS:-} "$work" "spec/fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n1)
  new=$(( $(ls "$found" | wc -l) - before ))
  if [[ $rc -ne 0 || $new -gt 0 ]]; then
    failed=1
    grep -E 'ERROR|FUZZ FINDING|SUMMARY|^    #[0-9]+ ' "$log" | head -n 30
  fi
  summary+=("$(printf '%-5s %10s runs %8s exec/s  %-32s findings: %d (exit %d)' \
    "$name" "${runs:-?}" "${speed:-?}" "${cov:-cov: ?}" "$new" "$rc")")
done

echo
printf '%s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
  echo "fuzz: findings in build/fuzz/findings/ (reproduce: build/fuzz/NAME_fuzz FILE)"
  exit 1
fi
