#!/bin/sh
# Wall time of a fixed 16-run sweep (yaml/self_predicting.yaml shortened to
# 400 patterns, seeds 1-16) with one and two processes, local and under
# mpirun; the median of RUNS repetitions each (default 3) and the ratio.
#   bench/sweep_scaling.sh [RUNS]     (make bench-sweep RUNS=N)
set -eu
: "${APICAL:?path of the apical binary}"
runs=${1:-3}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/sweep.yaml" <<YAML
sweep: 1
base: $src/yaml/self_predicting.yaml
set:
  simulation.phases.0.patterns: 400
  record.metrics.every: 100
  record.metrics.patterns: 10
  record.checkpoint.every: 0
axes:
  - {key: seed, range: [1, 16]}
collect: [apical_sq]
YAML
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
time_one() { # label command...
    label=$1
    shift
    ts=""
    for r in $(seq "$runs"); do
        rm -rf "$tmp/out"
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        t1=$(date +%s.%N)
        ts="$ts $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
    done
    med=$(echo $ts | tr ' ' '\n' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    echo "$label: wall s$ts; median $med"
    eval "med_$(echo "$label" | tr -c 'a-z0-9\n' '_')=$med"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
time_one local1 "$APICAL" sweep "$tmp/sweep.yaml" --out "$tmp/out" --jobs 1
time_one local2 "$APICAL" sweep "$tmp/sweep.yaml" --out "$tmp/out" --jobs 2
if command -v mpirun >/dev/null; then
    time_one mpi1 mpirun --oversubscribe -n 1 "$APICAL" sweep "$tmp/sweep.yaml" --out "$tmp/out"
    time_one mpi2 mpirun --oversubscribe -n 2 "$APICAL" sweep "$tmp/sweep.yaml" --out "$tmp/out"
    awk -v a="$med_local1" -v b="$med_local2" -v c="$med_mpi1" -v d="$med_mpi2" \
        'BEGIN { printf "speed-up with 2: local %.2fx, mpi %.2fx\n", a / b, c / d }'
else
    awk -v a="$med_local1" -v b="$med_local2" 'BEGIN { printf "speed-up with 2: local %.2fx (no mpirun)\n", a / b }'
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
