#!/usr/bin/env bash
# What the wslay glue costs per received message (docs/benchmarks.md, "The wslay glue"):
# build/bench/wsfeed for every size x {1, 4 frames} x {text, binary}, through core/ws.c
# (glue "event") and through the wslay_frame prototype (glue "frame"): thread CPU ns per
# message (median of WSFEED_REPEAT, with the extremes), payload MB/s, and from one
# callgrind run each the instructions per message and their shares (bench/wsfeed/shares.lua).
# Then utf8_valid alone over the same text payloads, ASCII and multibyte.
#   WSFEED_SIZES, WSFEED_GLUES ("event frame"), WSFEED_READ (bytes per ws_feed call, or
#   "message"), WSFEED_REPEAT (7); WSFEED_CALLGRIND=0 skips callgrind.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${BUILD:-build}
wsfeed=$build/bench/wsfeed
[[ -x $wsfeed ]] || { echo "bench-wsfeed: $wsfeed is missing: make bench-tools" >&2; exit 1; }
sizes=${WSFEED_SIZES:-16 125 1024 4096 16384 65536 524288}
glues=${WSFEED_GLUES:-event frame}
read=${WSFEED_READ:-65536}
repeat=${WSFEED_REPEAT:-7}
callgrind=${WSFEED_CALLGRIND:-1}
if [[ $callgrind == 1 ]] && ! command -v valgrind >/dev/null; then
  echo "bench-wsfeed: valgrind is not installed: no instruction counts" >&2
  callgrind=0
fi
cgdir=$build/bench/wsfeed-callgrind
mkdir -p "$cgdir"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# One callgrind run of the same case on less input; prints shares.lua's line.
count() {   # toggle-function out-file wsfeed-args...
  local fn=$1 out=$2 line
  shift 2
  line=$(valgrind --tool=callgrind --dump-instr=yes --compress-strings=no --compress-pos=no \
         --toggle-collect="$fn" --callgrind-out-file="$out" "$wsfeed" "$@" \
         --bytes 4194304 --messages 50000 --repeat 1 2>/dev/null) || return 1
  luajit bench/wsfeed/shares.lua "$out" "$(field messages "$line")"
}

printf '%-5s %-6s %7s %5s %10s %19s %8s' glue opcode size frags ns/msg "(min..max)" MB/s
[[ $callgrind == 1 ]] && printf ' %9s %6s %6s %6s %6s %7s %8s %6s' Ir/msg track wslay unmask utf8 copy_in copy_msg rest
printf '\n'
for glue in $glues; do
  for opcode in text binary; do
    for frags in 1 4; do
      for size in $sizes; do
        args=(--glue "$glue" --size "$size" --fragments "$frags" --read "$read")
        [[ $opcode == binary ]] && args+=(--binary)
        line=$("$wsfeed" "${args[@]}" --repeat "$repeat") || { echo "bench-wsfeed: wsfeed ${args[*]} failed" >&2; exit 1; }
        printf '%-5s %-6s %7s %5s %10s %19s %8s' "$glue" "$opcode" "$size" "$frags" \
          "$(field ns_per_msg "$line")" "($(field ns_min "$line")..$(field ns_max "$line"))" "$(field MB_s "$line")"
        if [[ $callgrind == 1 ]]; then
          s=$(count run_glue "$cgdir/$glue-$opcode-$size-$frags.out" "${args[@]}") || { echo "bench-wsfeed: callgrind failed" >&2; exit 1; }
          printf ' %9s %5s%% %5s%% %5s%% %5s%% %6s%% %7s%% %5s%%' "$(field ir_per_msg "$s")" "$(field track "$s")" \
            "$(field wslay "$s")" "$(field unmask "$s")" "$(field utf8 "$s")" "$(field copy_in "$s")" \
            "$(field copy_msg "$s")" "$(field rest "$s")"
        fi
        printf '\n'
      done
    done
  done
done

printf '\n%-10s %7s %10s %19s %9s' utf8_valid size ns/call "(min..max)" ns/KiB
[[ $callgrind == 1 ]] && printf ' %9s' Ir/KiB
printf '\n'
for text in ascii multibyte; do
  for size in $sizes; do
    args=(--utf8 --size "$size")
    [[ $text == multibyte ]] && args+=(--multibyte)
    line=$("$wsfeed" "${args[@]}" --repeat "$repeat") || exit 1
    ns=$(field ns_per_msg "$line")
    printf '%-10s %7s %10s %19s %9.1f' "$text" "$size" "$ns" "($(field ns_min "$line")..$(field ns_max "$line"))" \
      "$(awk -v ns="$ns" -v n="$size" 'BEGIN { print ns * 1024 / n }')"
    if [[ $callgrind == 1 ]]; then
      s=$(count run_utf8 "$cgdir/utf8-$text-$size.out" "${args[@]}") || exit 1
      printf ' %9.0f' "$(awk -v ir="$(field ir_per_msg "$s")" -v n="$size" 'BEGIN { print ir * 1024 / n }')"
    fi
    printf '\n'
  done
done
