#!/usr/bin/env bash
# Instructions per iteration of each benchmark loop, counted by Callgrind:
# a figure that does not move with the machine's load or clock, to compare
# weft's send/yield with the raw fcontext round trip.
#
#   benchmarks/callgrind_ir.sh BUILD_DIR [N]
#
# Runs `weft_bench --ir_probe=N` (default N = 200000) under Callgrind. The
# probe zeroes the counts before each case's loop and dumps them after it
# (client requests), so set-up is not counted; the table divides each dump's
# total Ir by N. Prints the weft/raw ratios. Needs valgrind.
set -euo pipefail
build=${1:?usage: callgrind_ir.sh BUILD_DIR [N]}
n=${2:-200000}
bench=$build/benchmarks/weft_bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
  "$bench" --ir_probe="$n" >/dev/null 2>"$out/valgrind.log" || {
  cat "$out/valgrind.log" >&2
  exit 1
}

# Each dump names its trigger ("Client Request: raw_jump") and its totals.
awk -v n="$n" '
  FNR == 1 { name = "" }
  /^desc: Trigger: Client Request: / { name = $NF }
  /^(summary|totals): / { if (name != "") ir[name] = $2 }
  END {
    printf "%-20s %14s %10s\n", "case", "Ir", "Ir/iter"
    split("raw_jump raw_jump_call send_yield raw_make_jump create_destroy create_run_destroy", order, " ")
    for (i = 1; i <= 6; i++) {
      k = order[i]
      if (k in ir) printf "%-20s %14d %10.1f\n", k, ir[k], ir[k] / n
    }
    if (("raw_jump" in ir) && ("send_yield" in ir))
      printf "send_yield / raw_jump         = %.2f\n", ir["send_yield"] / ir["raw_jump"]
    if (("raw_jump_call" in ir) && ("send_yield" in ir))
      printf "send_yield / raw_jump_call    = %.2f\n", ir["send_yield"] / ir["raw_jump_call"]
    if (("raw_make_jump" in ir) && ("create_run_destroy" in ir))
      printf "create_run_destroy / raw_make_jump = %.2f\n", ir["create_run_destroy"] / ir["raw_make_jump"]
  }' "$out"/cg.*
