#!/usr/bin/env bash
# Browser specs: installs what is missing (scripts/browser-deps.sh), then runs every
# spec/browser/*.test.mjs (the admin page) and examples/*/spec/browser/*.test.mjs with
# node's test runner against build/luahub in headless Chromium. The last line printed is
# "N passed, M failed"; exits non-zero on any failure.
# Env: LUAHUB_BIN (server binary, default build/luahub).
set -uo pipefail
cd "$(dirname "$0")/.."

if ! scripts/browser-deps.sh; then
  echo "browser-test: installing the browser dependencies failed"
  echo "0 passed, 1 failed"
  exit 1
fi

shopt -s nullglob
specs=(spec/browser/*.test.mjs examples/*/spec/browser/*.test.mjs)
if (( ${#specs[@]} == 0 )); then
  echo "browser-test: no browser specs found"
  echo "0 passed, 1 failed"
  exit 1
fi

tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
# Human-readable results on stdout, TAP into a file for the counts.
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" "${specs[@]}"
rc=$?

passed=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$tap" | tail -n1)
failed=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$tap" | tail -n1)
cancelled=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$tap" | tail -n1)
if [[ -z $passed || -z $failed ]]; then
  echo "browser-test: node's test runner gave no summary (exit $rc)"
  echo "${passed:-0} passed, $(( ${failed:-0} + 1 )) failed"
  exit 1
fi
failed=$((failed + ${cancelled:-0}))
[[ $rc -ne 0 && $failed -eq 0 ]] && failed=1
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
