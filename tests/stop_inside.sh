#!/bin/sh
# A stop request (SIGTERM) inside a long evaluation, test phase or settle
# phase ends the run at once with exit 3 and a checkpoint; the run resumed
# from it ends bit-identical to an uninterrupted one (metrics.csv,
# traces.csv, checkpoint.bin).
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
# self_predicting.yaml with phases whose evaluations and settling take seconds
sed '/^  phases:/,$d' "$APICAL_SRCDIR/yaml/self_predicting.yaml" >"$tmp/long.yaml"
cat >>"$tmp/long.yaml" <<'EOF'
  phases:
    - {train: patterns, patterns: 100, present: 100}
    - {test: patterns, patterns: 15000}
    - {settle: 200000}
    - {train: patterns, patterns: 100, present: 100}
record:
  metrics: {every: 100, patterns: 15000, settle: 50}
  traces: {vars: [output.rate], every: 1000}
EOF
"$apical" run "$tmp/long.yaml" --out "$tmp/ref" >/dev/null

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
now() { date +%s.%N; }
# stop DIR ROWS WHERE: start a run in DIR, send SIGTERM a while after
# metrics.csv has ROWS lines, expect a prompt exit 3 naming WHERE, resume.
# The while is an eighth of the time the first row took (one evaluation of
# 15000 patterns): each stopped stretch (100 training patterns, then an
# evaluation; a test phase; a settle phase) starts at once after its row,
# the training before the evaluation takes about 1/75 of it and the settle
# phase about a quarter, whatever the build's speed (a sanitizer build runs
# about seven times slower).
stop() {
    t_start=$(now)
    "$apical" run "$tmp/long.yaml" --out "$tmp/$1" >"$tmp/$1.log" 2>&1 &
    pid=$!
    while [ "$(lines "$tmp/$1/metrics.csv")" -lt 2 ]; do sleep 0.05; done
    wait_s=$(awk -v a="$t_start" -v b="$(now)" 'BEGIN { printf "%.3f", (b - a) / 8 }')
    while [ "$(lines "$tmp/$1/metrics.csv")" -lt "$2" ]; do sleep 0.05; done
    sleep "$wait_s"
    t0=$(now)
    kill -TERM "$pid"
    status=0
    wait "$pid" || status=$?
    took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
    [ "$status" -eq 3 ] || { echo "$1: exit $status, not 3"; cat "$tmp/$1.log"; exit 1; }
    grep -q "$3" "$tmp/$1.log" || { echo "$1: not stopped $3"; cat "$tmp/$1.log"; exit 1; }
    # the stopped step takes seconds; the stop must not wait for its end
    awk -v t="$took" 'BEGIN { exit !(t < 2) }' || { echo "$1: the stop took $took s"; exit 1; }
    grep stopped "$tmp/$1.log"
    "$apical" run --resume "$tmp/$1" >"$tmp/$1.resume.log" 2>&1 ||
        { cat "$tmp/$1.resume.log"; exit 1; }
    for f in metrics.csv traces.csv checkpoint.bin; do
        cmp "$tmp/ref/$f" "$tmp/$1/$f"
    done
    echo "$1: stopped in $took s, resumed bit-identical"
}
stop eval 2 "during an evaluation"
stop test 3 "during a test phase"
stop settle 4 "in a settle phase"
echo "stop_inside: ok"
