#!/bin/sh
# `apical plot` draws a run directory: PNG and SVG of metrics and traces.
# Skipped (77) where gnuplot is missing.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
command -v gnuplot >/dev/null || { echo "skip: no gnuplot"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
"$apical" run "$APICAL_SRCDIR/yaml/single_association.yaml" --out "$tmp/run" \
    --set simulation.phases.2.patterns=6 --set record.metrics.every=2 >/dev/null
"$apical" plot "$tmp/run" >"$tmp/plot.out"
for f in metrics traces; do
    [ "$(head -c 8 "$tmp/run/$f.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
        { echo "$f.png is not a PNG"; exit 1; }
    grep -q '<svg' "$tmp/run/$f.svg" || { echo "$f.svg is not SVG"; exit 1; }
    [ "$(wc -c <"$tmp/run/$f.png")" -gt 10000 ] || { echo "$f.png is nearly empty"; exit 1; }
done
# two traced stretches of time (phases 0-1 and 3-4): two columns of panels
grep -c 'set xrange' "$tmp/run/plot.gp" | grep -qx 6
# the files written are named
grep -qx "wrote $tmp/run/metrics.png and $tmp/run/metrics.svg" "$tmp/plot.out"
grep -qx "wrote $tmp/run/traces.png and $tmp/run/traces.svg" "$tmp/plot.out"
# enhanced text: powers of ten on the log axis; names from the files literal
# (keys, population labels)
grep -q 'pngcairo enhanced' "$tmp/run/plot.gp" && grep -q 'svg enhanced' "$tmp/run/plot.gp"
grep -q 'set format y "10^{%T}"' "$tmp/run/plot.gp"
grep -q '^set key .*noenhanced' "$tmp/run/plot.gp"
grep -q 'set ylabel "hidden" noenhanced' "$tmp/run/plot.gp"
grep -q '<tspan[^>]*dy="-[0-9.]*px">-' "$tmp/run/metrics.svg" ||
    { echo "metrics.svg has no superscript exponent"; exit 1; }
# two runs in one figure
"$apical" run "$APICAL_SRCDIR/yaml/single_association.yaml" --out "$tmp/run2" --set seed=4 \
    --set simulation.phases.2.patterns=6 --set record.metrics.every=2 >/dev/null
"$apical" plot "$tmp/run" "$tmp/run2" --out "$tmp/both"
[ "$(wc -c <"$tmp/both.png")" -gt 10000 ] && grep -q '<svg' "$tmp/both.svg"
grep -q 'run2/metrics.csv' "$tmp/both.gp"
# runs without a single test error (metrics only at pattern 0): that panel
# says "no data" instead of gnuplot failing on an empty range
for s in 1 2; do
    "$apical" run "$APICAL_SRCDIR/yaml/self_predicting.yaml" --out "$tmp/short$s" --set seed=$s \
        --set simulation.phases.0.patterns=2 >/dev/null
done
"$apical" plot "$tmp/short1" "$tmp/short2" --out "$tmp/short"
# a run without traces: only metrics.png and .svg, and only they are named
"$apical" plot "$tmp/short1" >"$tmp/plot.out"
[ -f "$tmp/short1/metrics.png" ] && [ ! -e "$tmp/short1/traces.png" ]
grep -q "metrics.png" "$tmp/plot.out" && ! grep -q traces "$tmp/plot.out"
grep -q 'title "no data"' "$tmp/short.gp" && grep -q 'short2/metrics.csv' "$tmp/short.gp"
# a run keeps its colour in every panel it appears in (the second run: lc 2)
[ "$(grep -c 'short2/metrics.csv" using .* lc 2 title' "$tmp/short.gp")" -eq \
    "$(grep -c 'short2/metrics.csv"' "$tmp/short.gp")" ]
[ "$(head -c 8 "$tmp/short.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
# a sweep over seeds alone, of 40 runs: every run's curve is drawn (tables and
# metrics made up here)
sw="$tmp/sweep40"
mkdir -p "$sw"
echo "runs,ok,failed,error_test_final_mean,error_test_final_std" >"$sw/aggregate.csv"
echo "40,40,0,0.5,0.1" >>"$sw/aggregate.csv"
echo "run,dir,seed,status,exit,message,error_test_final,error_test_best" >"$sw/runs.csv"
for i in $(seq 0 39); do
    r=$(printf 'run-%04d' "$i")
    echo "$i,$r,$((i + 1)),ok,0,\"\",0.5,0.4" >>"$sw/runs.csv"
    mkdir "$sw/$r"
    printf 'epoch,patterns,seconds,train_error,error_test,apical_sq_hidden1\n' >"$sw/$r/metrics.csv"
    printf '0,0,0,nan,0.9,1e-3\n1,10,1,0.5,0.%d,1e-4\n' "$((i + 10))" >>"$sw/$r/metrics.csv"
done
"$apical" plot "$sw" | grep -q "$sw/runs.png"
[ "$(grep -c '/metrics.csv" using 1:' "$sw/runs.gp")" -eq 80 ] ||
    { echo "runs.gp draws $(grep -c '/metrics.csv" using 1:' "$sw/runs.gp") curves, not 2 x 40"; exit 1; }
grep -q 'run-0039/metrics.csv' "$sw/runs.gp"
[ "$(head -c 8 "$sw/runs.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
# a run in epochs (steady mode): metrics alone, one tic per epoch, powers of ten
"$apical" plot "$sw/run-0000" >"$tmp/plot.out"
[ "$(cat "$tmp/plot.out")" = "wrote $sw/run-0000/metrics.png and $sw/run-0000/metrics.svg
gnuplot script: $sw/run-0000/plot.gp" ] || { cat "$tmp/plot.out"; exit 1; }
grep -q 'set xtics 1' "$sw/run-0000/plot.gp" && grep -q 'set format y "10^{%T}"' "$sw/run-0000/plot.gp"
# a metrics.csv with nothing to draw (only its header; every value nan):
# exit 2, saying so, rather than a gnuplot error
mkdir -p "$tmp/none" "$tmp/nan"
head -1 "$tmp/short1/metrics.csv" >"$tmp/none/metrics.csv"
cp "$tmp/none/metrics.csv" "$tmp/nan/metrics.csv"
echo "train,0,0,nan,nan,nan,nan,nan" >>"$tmp/nan/metrics.csv"
for d in none nan; do
    status=0
    "$apical" plot "$tmp/$d" 2>"$tmp/err" || status=$?
    [ "$status" -eq 2 ] || { echo "plot $d: exit $status"; cat "$tmp/err"; exit 1; }
    grep -q "$tmp/$d/metrics.csv has no" "$tmp/err" && ! grep -q gnuplot "$tmp/err" ||
        { cat "$tmp/err"; exit 1; }
done
# a dynamics run of an idx stimulus with targets also draws class_error
# (four 2 x 2 IDX images and their labels, tests/idx4.sh)
. "$APICAL_SRCDIR/tests/idx4.sh"
idx4 "$tmp"
{ idx4_circuit "$tmp"; cat <<YAML; } >"$tmp/idx.yaml"
simulation:
  phases:
    - {train: img, patterns: 4, present: 5}
    - {test: img, patterns: 4}
YAML
"$apical" run "$tmp/idx.yaml" --out "$tmp/idx" >/dev/null
"$apical" plot "$tmp/idx" >/dev/null
grep -q 'using 2:(strcol(10) eq "img" ? column(9) : NaN) .*title "class_error"' "$tmp/idx/plot.gp" ||
    { cat "$tmp/idx/plot.gp"; exit 1; }
# two evaluated stimuli: a curve of each measure for each, the rows told
# apart by the stimulus column
sed 's/^    - {test: img, patterns: 4}$/&\n    - {test: img2, patterns: 2}/;
     s/^  img: .*$/&\n  img2: {kind: idx, images: IMG, labels: LAB, rows: [0, 2], drives: input, target: out}/' \
    "$tmp/idx.yaml" | sed "s|IMG|$tmp/img|; s|LAB|$tmp/lab|" >"$tmp/idx2.yaml"
"$apical" run "$tmp/idx2.yaml" --out "$tmp/idx2" >/dev/null
"$apical" plot "$tmp/idx2" >/dev/null
[ "$(grep -c 'title "[a-z_]*, img2*"' "$tmp/idx2/plot.gp")" -eq 8 ] || { cat "$tmp/idx2/plot.gp"; exit 1; }
grep -q 'set datafile missing NaN' "$tmp/idx2/plot.gp"
! grep -q class_error "$tmp/run/plot.gp"
# not a run directory: exit 2 with a message
if "$apical" plot "$tmp" 2>"$tmp/err"; then exit 1; else [ $? -eq 2 ]; fi
grep -q 'no metrics.csv' "$tmp/err"
echo "plot: ok"
