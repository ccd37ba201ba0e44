#!/bin/sh
# bench/regression.sh -- wall time of full runs of yaml/regression.yaml
# (30-50-10, 100 000 patterns of 100 ms: 10^8 Euler steps with plasticity
# on four pathways, and 21 evaluations of 50 held-out patterns).
#
#   bench/regression.sh [RUNS [apical run options...]]
#
# e.g. bench/regression.sh 3, or bench/regression.sh 1 --set
# simulation.integrator.plasticity_batch=16.  Prints each run's wall time,
# the median, and microseconds per training step, with the load average,
# since the development machine is shared.  Run from the build tree (make
# bench-regression) or with APICAL and APICAL_MODULE_PATH set.
set -e
runs=${1:-1}
[ $# -gt 0 ] && shift
top=$(cd "$(dirname "$0")/.." && pwd)
APICAL=${APICAL:-$top/runner/apical}
export APICAL_MODULE_PATH=${APICAL_MODULE_PATH:-$top/models/.libs}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
times=""
i=0
while [ "$i" -lt "$runs" ]; do
    i=$((i + 1))
    echo "load average before run $i: $(cut -d' ' -f1-3 /proc/loadavg)"
    t0=$(date +%s.%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "%U %S" -o "$out/cpu$i" "$APICAL" run "$top/yaml/regression.yaml" \
            --out "$out/r$i" "$@" > "$out/log$i"
        cpu=$(awk '{ print $1 + $2 }' "$out/cpu$i")
    else
        "$APICAL" run "$top/yaml/regression.yaml" --out "$out/r$i" "$@" > "$out/log$i"
        cpu="?"
    fi
    t1=$(date +%s.%N)
    t=$(awk "BEGIN { print $t1 - $t0 }")
    tail -2 "$out/log$i" | head -1
    echo "run $i: $t s wall, $cpu s CPU (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
    times="$times $t"
done
echo "$times" | tr ' ' '\n' | grep . | sort -n | awk '
    { v[NR] = $1 }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
          printf "regression.yaml: median %.1f s over %d run(s) = %.2f us per training step (1e8 steps)\n", m, NR, m * 1e6 / 1e8 }'
