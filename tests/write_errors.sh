#!/bin/sh
# A disk that fills up: with tests/fault/enospc.so preloaded, the writes to
# one file of a run fail with ENOSPC after a given number of write calls.
# For every file a short run writes (metrics.csv, traces.csv, weight
# snapshots, config.yaml, checkpoint.bin) and a sweep's tables, at several
# points: the run ends with exit 1 and a message naming the file and the
# reason; where a checkpoint was written before, `apical run --resume`
# (with the disk mended) ends bit-identical to a run that never failed.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
shim="$APICAL_BUILDDIR/tests/fault/.libs/enospc.so"
[ -f "$shim" ] || { echo "no $shim (make check builds it)"; exit 1; }
# in a sanitizer build ASan's runtime must come first among the preloads
asan=$(ldd "$APICAL_BUILDDIR/runner/.libs/libapical.so" 2>/dev/null | awk '/libasan/ { print $3 }')
preload="${asan:+$asan }$shim"
# the preloads go to the program itself, not to libtool's wrapper script
# (whose sed and friends would run under them too)
faulty() {
    LD_LIBRARY_PATH="$APICAL_BUILDDIR/runner/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        LD_PRELOAD="$preload" "$APICAL_BUILDDIR/runner/.libs/apical" "$@"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
yaml="$APICAL_SRCDIR/yaml/self_predicting.yaml"
traces="$tmp/traces.yaml"
sed '/^record:/,$d' "$yaml" >"$traces"
cat >>"$traces" <<'EOF'
record:
  metrics: {every: 50, patterns: 5, settle: 50}
  traces: {vars: [output.rate, hidden.v_apical], every: 200}
  checkpoint: {every: 100}
  weights: {every: 100}
EOF
patterns=simulation.phases.0.patterns=300
"$apical" run "$traces" --out "$tmp/ref" --set $patterns >/dev/null

n=0
# fail FILE AFTER SAYS: the writes to FILE (a part of its path) fail after
# AFTER calls; the message must contain SAYS
fail() {
    n=$((n + 1))
    d="$tmp/r$n"
    status=0
    APICAL_FAULT_PATH="$d/$1" APICAL_FAULT_AFTER="$2" \
        faulty run "$traces" --out "$d" --set $patterns >/dev/null 2>"$d.err" || status=$?
    [ "$status" -eq 1 ] || { echo "$1 after $2: exit $status, not 1"; cat "$d.err"; exit 1; }
    grep -q "$3.*: No space left on device" "$d.err" || { echo "$1 after $2:"; cat "$d.err"; exit 1; }
    if [ -f "$d/checkpoint.bin" ]; then
        grep -q "the last good checkpoint stays\|cannot write checkpoint" "$d.err" ||
            { cat "$d.err"; exit 1; }
        "$apical" run --resume "$d" >"$d.resume" 2>&1 || { cat "$d.resume"; exit 1; }
        for f in metrics.csv traces.csv checkpoint.bin; do
            cmp "$tmp/ref/$f" "$d/$f" || { echo "$1 after $2: $f differs after resume"; exit 1; }
        done
        diff -r "$tmp/ref/weights" "$d/weights" >/dev/null ||
            { echo "$1 after $2: weights differ after resume"; exit 1; }
        echo "$1 after $2 writes: $(sed 's/^apical: //' "$d.err"); resumed bit-identical"
    else
        grep -q "no checkpoint was written\|cannot write.*config.yaml\|cannot write checkpoint" \
            "$d.err" || { cat "$d.err"; exit 1; }
        echo "$1 after $2 writes: $(sed 's/^apical: //' "$d.err")"
    fi
}
fail metrics.csv 0 "$tmp/r1/metrics.csv"
fail metrics.csv 60 "$tmp/r2/metrics.csv"
fail metrics.csv 100 "$tmp/r3/metrics.csv"
fail traces.csv 0 "$tmp/r4/traces.csv"
fail traces.csv 20000 "$tmp/r5/traces.csv"
fail weights/ 0 "$tmp/r6/weights/p0/"
fail weights/p200 0 "$tmp/r7/weights/p200/"
fail config.yaml 0 "$tmp/r8/config.yaml"
fail checkpoint.bin 0 "checkpoint $tmp/r9/checkpoint.bin"
fail checkpoint.bin 12 "checkpoint $tmp/r10/checkpoint.bin"
fail checkpoint.bin 30 "checkpoint $tmp/r11/checkpoint.bin"

# a sweep's tables: the sweep fails naming the file; run again, it
# tabulates the runs that ended
sw="$tmp/sweep.yaml"
printf 'sweep: 1\nbase: %s\nset: {simulation.phases.0.patterns: 20}\naxes:\n  - {key: seed, values: [1, 2]}\ncollect: [apical_sq]\n' \
    "$yaml" >"$sw"
for f in runs.csv aggregate.csv; do
    status=0
    APICAL_FAULT_PATH="$tmp/s-$f/$f" APICAL_FAULT_AFTER=0 \
        faulty sweep "$sw" --out "$tmp/s-$f" >/dev/null 2>"$tmp/s.err" || status=$?
    [ "$status" -eq 1 ] || { echo "sweep, $f: exit $status"; cat "$tmp/s.err"; exit 1; }
    grep -q "cannot write $tmp/s-$f/$f.tmp: No space left on device" "$tmp/s.err" ||
        { cat "$tmp/s.err"; exit 1; }
    "$apical" sweep "$sw" --out "$tmp/s-$f" >"$tmp/s.out"
    grep -q '2 finished earlier' "$tmp/s.out" && [ "$(wc -l <"$tmp/s-$f/runs.csv")" -eq 3 ] ||
        { cat "$tmp/s.out"; exit 1; }
    echo "sweep, $f: $(sed 's/^apical[^:]*: //' "$tmp/s.err" | head -1)"
done
echo "write_errors: ok"
