#!/bin/sh
# Copies (simulation.batch 4, with noise, traces and rank-4 plasticity
# batches): a run stopped by SIGTERM and resumed ends bit-identical to an
# uninterrupted one (metrics.csv, traces.csv with a column per cell and
# copy, checkpoint.bin); the evaluation settles four held-out patterns at
# a time and measures each.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
yaml="$APICAL_SRCDIR/yaml/self_predicting.yaml"
set -- --set simulation.batch=4 --set simulation.phases.0.patterns=1600 \
       --set simulation.integrator.plasticity_batch=4 \
       --set record.metrics.every=40 --set record.metrics.patterns=6 \
       --set record.checkpoint.every=200 \
       --set 'record.traces.vars=[hidden.u]' --set record.traces.every=500
"$apical" run "$yaml" --out "$tmp/a" "$@" >/dev/null
# a column per cell of every copy: 4 copies of 20 hidden cells, and time
head -1 "$tmp/a/traces.csv" | tr ',' '\n' | grep -c 'hidden.u\[3:19\]'
[ "$(head -1 "$tmp/a/traces.csv" | tr ',' '\n' | wc -l)" -eq 81 ]
"$apical" run "$yaml" --out "$tmp/b" "$@" >"$tmp/b.log" 2>&1 &
pid=$!
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
while [ "$(lines "$tmp/b/metrics.csv")" -lt 8 ]; do sleep 0.05; done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 3 ] || { echo "the stopped run exited $status, not 3"; cat "$tmp/b.log"; exit 1; }
grep 'stopped at pattern' "$tmp/b.log"
if cmp -s "$tmp/a/metrics.csv" "$tmp/b/metrics.csv"; then
    echo "the run was not stopped before its end"; exit 1
fi
"$apical" run --resume "$tmp/b" >"$tmp/resume.log"
cmp "$tmp/a/metrics.csv" "$tmp/b/metrics.csv"
cmp "$tmp/a/traces.csv" "$tmp/b/traces.csv"
cmp "$tmp/a/checkpoint.bin" "$tmp/b/checkpoint.bin"
# the apical potential falls as the copies learn together
awk -F, 'NR == 2 { a = $4 } END { if (!($4 < 0.5 * a)) { print "apical_sq " a " -> " $4; exit 1 } }' \
    "$tmp/a/metrics.csv"
echo "batch_resume: ok"
