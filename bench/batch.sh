#!/bin/sh
# bench/batch.sh [RUNS [STEPS_PER_IMAGE [B ...]]]: the 784-500-500-10 Euler step with
# every pathway plastic (bench_step: noise on, rank-16 time batches, half-precision
# dendrite copies, learning in single precision) for one image (B = 1) and B images side
# by side (simulation.batch), beside a plain NumPy implementation of the same step
# (bench/numpy_step.py: f64 one image, f32 B images), RUNS times interleaved.  Prints each
# run's lines (bench_step measures sgemm and the memory bandwidth in the same process),
# then the medians per image-step and the 55,000-image epoch they imply at
# STEPS_PER_IMAGE Euler steps per image (default 100: 10 ms at dt 0.1 ms).
# PRECS="f16 bf16" also times B = 1 with the rules' products in bfloat16 (bench_step's
# precisions; default f16).  BENCH_THREADS=N fixes apical's thread count.
# Run from the build tree (make bench-batch); OPENBLAS_NUM_THREADS=1 for NumPy, as
# apical's own BLAS calls run on the calling thread.
set -eu
runs=${1:-3}
spi=${2:-100}
shift 2 2>/dev/null || shift $#
copies=${*:-1 4 16 32}
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH_STEP:-bench/bench_step}
# the build tree's modules, not an installed apical's (whose ABI may be older)
[ -n "${APICAL_MODULE_PATH:-}" ] || [ ! -d models/.libs ] || export APICAL_MODULE_PATH="$PWD/models/.libs"
py=${PYTHON:-/usr/bin/python3}
sizes=784-500-500-10
out=$(mktemp)
trap 'rm -f "$out"' EXIT
uptime
for r in $(seq "$runs"); do
    for prec in ${PRECS:-f16}; do
        for b in $copies; do
            # bf16 products are for one copy (bench_step refuses others)
            [ "$prec" = f16 ] || [ "$b" = 1 ] || continue
            all=$(nice "$bench" $sizes 16 "$prec" "$b")
            echo "$all" | grep "^machine"
            line=$(echo "$all" | grep "^$sizes")
            echo "$line"
            us=$(echo "$line" | sed 's/.*median *\([0-9.]*\) us\/step.*/\1/')
            cpu=$(echo "$line" | sed 's/.*; cpu \([0-9.]*\) us).*/\1/')
            name=apical; [ "$prec" = f16 ] || name=apical_$prec
            echo "$name $b $(echo "$us $cpu $b" | awk '{ print $1 / $3, $2 / $3 }')" >>"$out"
        done
    done
    for spec in "1 20 f64" "1 40 f32" "16 10 f32"; do
        set -- $spec
        line=$(OPENBLAS_NUM_THREADS=1 nice "$py" "$here/numpy_step.py" $sizes $spec)
        echo "$line"
        echo "numpy_$3 $1 $(echo "$line" | sed 's/.*, \([0-9.]*\) us\/image-step (cpu \([0-9.]*\) .*/\1 \2/')" >>"$out"
    done
done
uptime
echo "medians over $runs runs (us per image-step, wall and process CPU time; epoch: 55,000"
echo "images x $spi steps, from each; on a shared machine the CPU time is the cost of the work):"
sort -k1,1 -k2,2n "$out" | awk -v spi="$spi" '
    function med(v, n,  i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    function flush(  m, c) { if (n) { m = med(w, n); c = med(p, n)
        printf "  %-10s B %3s: wall %9.2f us/image-step (epoch %8.1f s), cpu %9.2f us/image-step (epoch %8.1f s)\n", k1, k2, m, 55000 * spi * m * 1e-6, c, 55000 * spi * c * 1e-6;
        delete w; delete p; n = 0 } }
    { if ($1 != k1 || $2 != k2) { flush(); k1 = $1; k2 = $2 } n++; w[n] = $3; p[n] = $4 }
    END { flush() }'
