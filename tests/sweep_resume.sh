#!/bin/sh
# A sweep stopped midway (SIGTERM to apical sweep: the running run writes
# its checkpoint) and started again skips the finished runs, resumes the
# stopped one from its checkpoint and ends with the same runs and tables,
# byte for byte, as a sweep that was never stopped.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
sed -e "s|^base: .*|base: $APICAL_SRCDIR/yaml/self_predicting.yaml|" \
    -e 's/phases.0.patterns: 200/phases.0.patterns: 600/' \
    -e 's/values: \[0.0005, 0.002, 5\]/values: [0.0005]/' \
    "$APICAL_SRCDIR/tests/sweep/small.yaml" >"$tmp/sweep.yaml"
grep -q 'patterns: 600' "$tmp/sweep.yaml"
"$apical" sweep "$tmp/sweep.yaml" --out "$tmp/a" --jobs 1 >/dev/null

"$apical" sweep "$tmp/sweep.yaml" --out "$tmp/b" --jobs 1 >"$tmp/b.log" 2>&1 &
pid=$!
# stop it once the first run has finished and the second is under way
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
while [ ! -f "$tmp/b/run-0000/status" ] || [ "$(lines "$tmp/b/run-0001/metrics.csv")" -lt 4 ]; do
    sleep 0.05
done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 3 ] || { echo "the stopped sweep exited $status, not 3"; cat "$tmp/b.log"; exit 1; }
cat "$tmp/b.log"
grep -q 'sweep stopped' "$tmp/b.log"
[ ! -f "$tmp/b/run-0001/status" ] && [ -f "$tmp/b/run-0001/checkpoint.bin" ]
[ ! -f "$tmp/b/run-0002/metrics.csv" ]
if cmp -s "$tmp/a/run-0001/metrics.csv" "$tmp/b/run-0001/metrics.csv"; then
    echo "run-0001 was not stopped before its end"; exit 1
fi
before=$(ls -l --time-style=full-iso "$tmp/b/run-0000/metrics.csv" "$tmp/b/run-0000/run.log")
"$apical" sweep "$tmp/sweep.yaml" --out "$tmp/b" --jobs 1 >"$tmp/b2.log"
cat "$tmp/b2.log"
grep -q '1 finished earlier, 1 to resume, 1 to start' "$tmp/b2.log"
! grep -q 'run-0000' "$tmp/b2.log"
# the finished run was not touched; the stopped one was resumed
[ "$before" = "$(ls -l --time-style=full-iso "$tmp/b/run-0000/metrics.csv" "$tmp/b/run-0000/run.log")" ]
grep -q '^resuming .*run-0001 at pattern' "$tmp/b/run-0001/run.log"
for r in run-0000 run-0001 run-0002; do
    cmp "$tmp/a/$r/metrics.csv" "$tmp/b/$r/metrics.csv"
    cmp "$tmp/a/$r/checkpoint.bin" "$tmp/b/$r/checkpoint.bin"
done
sed "s|$tmp/a|X|g" "$tmp/a/runs.csv" >"$tmp/ra"
sed "s|$tmp/b|X|g" "$tmp/b/runs.csv" >"$tmp/rb"
cmp "$tmp/ra" "$tmp/rb"
cmp "$tmp/a/aggregate.csv" "$tmp/b/aggregate.csv"
echo "sweep resume: ok ($(wc -l <"$tmp/b/run-0001/metrics.csv") metrics rows in the resumed run)"
