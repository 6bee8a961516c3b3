#!/usr/bin/env bash
# A/B timing of two built checkouts on the same machine in the same minutes: for each workload,
# ROUNDS alternating invocations of `node dist/bench/run.js --only W` in A and B (the order flips
# every round, as the first of a pair tends to run on a warmer or cooler machine).
#
#     bench/ab.sh DIR_A DIR_B [ROUNDS] [RUNS] [workload …]  >  ab.jsonl
#
# Each line is run.js's JSON line with "side": "A" | "B" and "round" added.
set -euo pipefail
a=$1 b=$2 rounds=${3:-3} runs=${4:-5}
shift $(( $# < 4 ? $# : 4 ))
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(forward-h512 forward-h1000 bptt-h512 bptt-h1000 rforward-h512 rbptt-h512 lr-h512-k8 lr-h512-k32 lr-h1000-k8)
for w in "${workloads[@]}"; do
  for ((r = 1; r <= rounds; r++)); do
    order=(A B); (( r % 2 == 0 )) && order=(B A)
    for side in "${order[@]}"; do
      dir=$a; [ "$side" = B ] && dir=$b
      (cd "$dir" && node dist/bench/run.js --json --runs "$runs" --only "$w" 2>/dev/null) | grep "\"$w\"" | sed "s/^{/{\"side\":\"$side\",\"round\":$r,/"
    done
  done
done
