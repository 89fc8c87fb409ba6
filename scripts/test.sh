#!/usr/bin/env bash
# Runs every suite — the contract check, C unit tests, busted specs, browser specs — and
# ends with two lines: "P pending" (busted specs that marked themselves pending) and
# "N passed, M failed" summed over all of them, always last (CI reads it). Exits non-zero
# if anything failed, a suite could not report (crash, missing summary), or a spec file
# had every one of its tests pending.
# Env: LUAHUB_BIN (server binary), CTEST_DIR (built C tests), SPEC (busted paths; default:
# ROOT in .busted, i.e. spec/ and the examples' spec dirs).
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
pending=0
broken=()
all_pending=()

count() {   # suite-name passed failed [pending, for suites that have it]
  passed=$((passed + $2)); failed=$((failed + $3))
  if [[ -n ${4:-} ]]; then
    pending=$((pending + $4))
    printf '== %s: %d passed, %d failed, %d pending\n' "$1" "$2" "$3" "$4"
  else
    printf '== %s: %d passed, %d failed\n' "$1" "$2" "$3"
  fi
}

# The 1000-client broadcast spec needs about 2100 descriptors and is pending below that;
# lift a lower soft limit when the hard one allows.
soft=$(ulimit -n)
[[ $soft != unlimited && $soft -lt 4096 ]] && { ulimit -Sn 4096 2>/dev/null || true; }

# A suite whose output ends with "N passed, M failed": counted, its "not ok" lines shown
# when it failed; without that line (a crash) it is broken.
counted() {   # suite-name command...
  local name=$1 out rc line p f
  shift
  out=$("$@" 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)
  if [[ -z $line ]]; then
    printf '%s\n' "$out" | tail -n 20
    broken+=("$name (exit $rc, no summary)")
    return
  fi
  read -r p _ f _ <<<"$line"
  [[ $rc -ne 0 && $f -eq 0 ]] && broken+=("$name (exit $rc)")
  [[ $f -gt 0 ]] && printf '%s\n' "$out" | grep -E '^not ok' | head -20
  count "$name" "$p" "$f"
}

# The C-Lua contract: lua/luahub/contract.lua and the docs tables are what
# scripts/gen_contract.lua makes from the headers (one check per file).
counted contract luajit scripts/gen_contract.lua --check

# C unit tests: each prints a final "N passed, M failed" line.
for t in "${CTEST_DIR:-build/ctest}"/*_test; do
  [[ -x $t ]] || continue
  counted "C $(basename "$t")" "$t"
done

# busted specs: the default output ends with "N successes / M failures / K errors / P pending";
# scripts/busted-files.lua adds, in $counts, a line "<tests> <pending> <path>" per spec file.
log=$(mktemp)
counts=$(mktemp)
busted --lua=luajit -o scripts/busted-files.lua -Xoutput "$counts" ${SPEC:-} 2>&1 | tee "$log"
summary=$(grep -E '[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -n1)
if [[ -z $summary ]]; then
  broken+=("busted (no summary)")
else
  s=$(sed -E 's/^([0-9]+) success.*/\1/' <<<"$summary")
  f=$(sed -E 's/.* ([0-9]+) failures? .*/\1/' <<<"$summary")
  e=$(sed -E 's/.* ([0-9]+) errors? .*/\1/' <<<"$summary")
  p=$(sed -E 's/.* ([0-9]+) pending.*/\1/' <<<"$summary")
  count busted "$s" "$((f + e))" "$p"
fi
# A spec file whose every test is pending tested nothing, most likely because a tool it
# needs went missing and each test skipped itself: that fails the run. pending() is for
# what scripts/deps.sh cannot provide, in a file that still runs other tests.
while read -r tests pend file; do
  [[ $tests -gt 0 && $pend -eq $tests ]] && all_pending+=("$file ($pend of $tests)")
done <"$counts"
# CI shows the end of the run: name the failed specs again there, next to the summary.
mapfile -t busted_failures < <(grep -A1 -E '^(Failure|Error) -> ' "$log" | grep -v -E '^--$' | paste - - | head -n 30)
rm -f "$log" "$counts"

# Browser specs (examples/*/spec/browser), when present, report the same summary line.
if [[ -x scripts/browser-test.sh ]]; then
  out=$(scripts/browser-test.sh 2>&1); rc=$?
  printf '%s\n' "$out" | tail -n 40
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n1)
  if [[ -z $line ]]; then broken+=("browser (exit $rc, no summary)")
  else read -r p _ f _ <<<"$line"; count browser "$p" "$f"; fi
fi

for f in "${busted_failures[@]}"; do echo "!! failed: $f"; done
for b in "${broken[@]}"; do echo "!! suite broken: $b"; failed=$((failed + 1)); done
for a in "${all_pending[@]}"; do
  echo "!! spec file with every test pending: $a; busted's Pending list above says why"
  failed=$((failed + 1))
done
echo "$pending pending"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
