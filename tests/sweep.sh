#!/bin/sh
# apical sweep with local processes: the cartesian product of the axes, a
# run directory each, runs that diverge recorded with their error while
# the sweep goes on, and the aggregate table checked against the runs'
# metrics.csv recomputed with awk (tests/sweep/check.sh).  Also: errors in
# a sweep file name FILE:LINE:COL, and apical plot draws a sweep.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
. "$APICAL_SRCDIR/tests/sweep/check.sh"
"$apical" sweep "$APICAL_SRCDIR/tests/sweep/small.yaml" --out "$tmp/s" --jobs 2 >"$tmp/out"
cat "$tmp/out"
# 3 values x 3 seeds: 9 runs, each with the config it ran
[ "$(ls -d "$tmp"/s/run-* | wc -l)" -eq 9 ]
for r in "$tmp"/s/run-*; do [ -s "$r/config.yaml" ] && [ -f "$r/status" ]; done
grep -q 'seed=3' "$tmp/s/run-0008/args" && grep -q 'eta=5$' "$tmp/s/run-0008/args"
grep -q '^seed: 3' "$tmp/s/run-0008/config.yaml"
# runs of eta = 5 diverge: recorded as failed, with exit code and message
nf=$(grep -l '^failed 1' "$tmp"/s/run-*/status | wc -l)
[ "$nf" -ge 1 ] || { echo "no run failed"; exit 1; }
grep -q "done: 9 runs, $nf failed" "$tmp/out"
grep -q '^  eta=0.002 apical_sq final: mean [0-9.e-]*, s.d. [0-9.e-]* (3 of 3 runs)$' "$tmp/out"
[ "$(grep -c ',failed,1,"diverged by t = ' "$tmp/s/runs.csv")" -eq "$nf" ]
for f in $(grep -l '^failed' "$tmp"/s/run-*/status); do
    grep -q 'eta=5$' "$(dirname "$f")/args" || { echo "$f failed"; exit 1; }
done
# the other runs went on to the end
[ "$(grep -c ',ok,0,' "$tmp/s/runs.csv")" -eq $((9 - nf)) ]
for f in $(grep -l '^ok' "$tmp"/s/run-*/status); do
    tail -1 "$(dirname "$f")/metrics.csv" | grep -q '^train,200,'
done
check_tables "$tmp/s" projections.inter-hidden.rule.apical_silence.eta
# run again: nothing to do, the same tables
cp "$tmp/s/aggregate.csv" "$tmp/agg1"
"$apical" sweep "$APICAL_SRCDIR/tests/sweep/small.yaml" --out "$tmp/s" >"$tmp/out2"
grep -q '9 finished earlier, 0 to resume, 0 to start' "$tmp/out2"
cmp "$tmp/agg1" "$tmp/s/aggregate.csv"
# errors in the sweep file: FILE:LINE:COL, exit 2
if "$apical" sweep "$APICAL_SRCDIR/tests/sweep/bad_axis.yaml" --out "$tmp/b" 2>"$tmp/err"; then
    exit 1
else
    [ $? -eq 2 ]
fi
grep -q 'bad_axis.yaml:5:52: expected \[from, to, n\]' "$tmp/err"
# a range too long to count: refused before its count is converted
printf 'sweep: 1\nbase: %s/yaml/self_predicting.yaml\naxes:\n  - {key: seed, range: [0, 1e300, 1]}\n' \
    "$APICAL_SRCDIR" >"$tmp/huge.yaml"
if "$apical" sweep "$tmp/huge.yaml" 2>"$tmp/err"; then exit 1; fi
grep -q "huge.yaml:4:24: too many values" "$tmp/err" || { cat "$tmp/err"; exit 1; }
# a key twice (the seed axis would run one seed): refused at the second
printf 'sweep: 1\nbase: x.yaml\naxes:\n  - {key: seed, values: [1, 2], key: seed}\n' >"$tmp/dup.yaml"
if "$apical" sweep "$tmp/dup.yaml" 2>"$tmp/err"; then exit 1; fi
grep -q "dup.yaml:4:33: key 'key' appears twice" "$tmp/err" || { cat "$tmp/err"; exit 1; }
printf 'sweep: 1\nbase: nothere.yaml\naxes: []\ncollect: [x]\n' >"$tmp/bad.yaml"
if "$apical" sweep "$tmp/bad.yaml" 2>"$tmp/err"; then exit 1; fi
grep -q 'bad.yaml:2:7: cannot read' "$tmp/err"
printf 'sweep: 1\nbase: %s/yaml/self_predicting.yaml\nset:\n  seed: {a: 1}\naxes: []\n' \
    "$APICAL_SRCDIR" >"$tmp/bad.yaml"
if "$apical" sweep "$tmp/bad.yaml" 2>"$tmp/err"; then exit 1; fi
grep -q 'bad.yaml:4:9: expected a scalar value or a list of scalars' "$tmp/err"
# another sweep into the same directory is refused
sed -e 's/0.0005, 0.002, 5/0.001, 0.002, 5/' \
    -e "s|^base: .*|base: $APICAL_SRCDIR/tests/sweep/../../yaml/self_predicting.yaml|" \
    "$APICAL_SRCDIR/tests/sweep/small.yaml" >"$tmp/other.yaml"
if "$apical" sweep "$tmp/other.yaml" --out "$tmp/s" 2>"$tmp/err"; then exit 1; fi
grep -q 'run-0000 was run with other arguments' "$tmp/err"
if command -v gnuplot >/dev/null; then
    "$apical" plot "$tmp/s" --metric mismatch_sq
    [ "$(head -c 8 "$tmp/s/mismatch_sq.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
    grep -q 'yerrorlines' "$tmp/s/mismatch_sq.gp"
fi
# a collected name that no run has (misspelt) is said at the end; the runs
# have ended, so the same sweep with another collect: only re-tabulates
sed -e 's/^collect: .*/collect: [apical_sq, angle_hiden]/' \
    -e "s|^base: .*|base: $APICAL_SRCDIR/tests/sweep/../../yaml/self_predicting.yaml|" \
    "$APICAL_SRCDIR/tests/sweep/small.yaml" >"$tmp/typo.yaml"
"$apical" sweep "$tmp/typo.yaml" --out "$tmp/s" >"$tmp/out3"
grep -q '9 finished earlier, 0 to resume, 0 to start' "$tmp/out3"
grep -q "no finished run has a value for 'angle_hiden'" "$tmp/out3"
if grep -q "value for 'apical_sq'" "$tmp/out3"; then exit 1; fi
# what goes into runs.csv and aggregate.csv: an axis name or value with a
# line break is refused where it stands; a value with a comma is quoted
short="set: {simulation.phases.0.patterns: 10, record.metrics.every: 10, record.metrics.patterns: 2}"
printf 'sweep: 1\nbase: %s/yaml/self_predicting.yaml\n%s\naxes:\n  - {key: seed, name: "se\\ned", values: [1, 2]}\n' \
    "$APICAL_SRCDIR" "$short" >"$tmp/nl.yaml"
if "$apical" sweep "$tmp/nl.yaml" --out "$tmp/nl" 2>"$tmp/err"; then exit 1; fi
grep -q 'nl.yaml:5:23: a column name without commas, quotes or control characters' "$tmp/err" ||
    { cat "$tmp/err"; exit 1; }
printf 'sweep: 1\nbase: %s/yaml/self_predicting.yaml\n%s\naxes:\n  - {key: seed, values: [1, "2\\r"]}\n' \
    "$APICAL_SRCDIR" "$short" >"$tmp/nl.yaml"
if "$apical" sweep "$tmp/nl.yaml" --out "$tmp/nl" 2>"$tmp/err"; then exit 1; fi
grep -q 'nl.yaml:5:29: a value without line breaks or other control characters' "$tmp/err" ||
    { cat "$tmp/err"; exit 1; }
printf 'sweep: 1\nbase: %s/yaml/self_predicting.yaml\n%s\naxes:\n  - {key: "see\\td", values: [1]}\n' \
    "$APICAL_SRCDIR" "$short" >"$tmp/nl.yaml"
if "$apical" sweep "$tmp/nl.yaml" --out "$tmp/nl" 2>"$tmp/err"; then exit 1; fi
grep -q "nl.yaml:5:11: '.*' is not a key path" "$tmp/err" || { cat "$tmp/err"; exit 1; }
[ ! -e "$tmp/nl/runs.csv" ]
printf 'sweep: 1\nbase: %s/yaml/self_predicting.yaml\n%s\naxes:\n  - {key: stimuli.patterns.range, name: range, values: ["[-1, 1]", "[-0.5,0.5]"]}\ncollect: [apical_sq]\n' \
    "$APICAL_SRCDIR" "$short" >"$tmp/comma.yaml"
"$apical" sweep "$tmp/comma.yaml" --out "$tmp/comma" >/dev/null
[ "$(wc -l <"$tmp/comma/runs.csv")" -eq 3 ] && [ "$(wc -l <"$tmp/comma/aggregate.csv")" -eq 3 ]
grep -q '^0,run-0000,"\[-1, 1\]",ok,0,"",' "$tmp/comma/runs.csv" || { cat "$tmp/comma/runs.csv"; exit 1; }
grep -q '^"\[-0.5,0.5\]",1,1,0,' "$tmp/comma/aggregate.csv" || { cat "$tmp/comma/aggregate.csv"; exit 1; }
# apical check on a sweep file: the base built with each axis value; a value
# that breaks the circuit is named with its axis
"$apical" check "$APICAL_SRCDIR/tests/sweep/small.yaml" >"$tmp/out"
grep -q 'small.yaml: ok: 9 runs (3 points) of .*self_predicting.yaml into runs/small; the circuit builds with each of the 6 axis values; collects 2 metrics$' "$tmp/out" ||
    { cat "$tmp/out"; exit 1; }
printf 'sweep: 1\nbase: %s/yaml/self_predicting.yaml\naxes:\n  - {key: populations.hidden.size, values: [5, -3]}\ncollect: [apical_sq]\n' \
    "$APICAL_SRCDIR" >"$tmp/badv.yaml"
if "$apical" check "$tmp/badv.yaml" 2>"$tmp/err"; then exit 1; else [ $? -eq 2 ]; fi
grep -q "badv.yaml: axis populations.hidden.size = -3: " "$tmp/err" ||
    { cat "$tmp/err"; exit 1; }
# sweep: need not be the first key
printf '# a comment\nbase: %s/yaml/self_predicting.yaml\nsweep: 1\naxes:\n  - {key: seed, values: [1, 2]}\ncollect: [apical_sq]\n' \
    "$APICAL_SRCDIR" >"$tmp/later.yaml"
"$apical" check "$tmp/later.yaml" | grep -q 'later.yaml: ok: 2 runs (1 point) of ' ||
    { "$apical" check "$tmp/later.yaml"; exit 1; }
# select: each run read at the row where apical_sq is largest (its first such
# row): mismatch_sq there, and the row's pattern count, recomputed by awk
printf 'sweep: 1\nbase: %s/yaml/self_predicting.yaml\nset: {simulation.phases.0.patterns: 200, record.metrics.every: 25, record.metrics.patterns: 2}\naxes:\n  - {key: seed, range: [1, 3]}\ncollect: [apical_sq, mismatch_sq]\nselect: {apical_sq: max}\n' \
    "$APICAL_SRCDIR" >"$tmp/sel.yaml"
"$apical" sweep "$tmp/sel.yaml" --out "$tmp/sel" >"$tmp/out"
grep -q '^  apical_sq final: mean [0-9.e-]*, s.d. [0-9.e-]* (3 of 3 runs); at the best apical_sq: mean [0-9.e-]*, s.d. [0-9.e-]*$' "$tmp/out" ||
    { cat "$tmp/out"; exit 1; }
head -1 "$tmp/sel/runs.csv" | grep -q ',selected_at,apical_sq_selected,mismatch_sq_selected$'
head -1 "$tmp/sel/aggregate.csv" | grep -q ',apical_sq_selected_mean,apical_sq_selected_std,mismatch_sq_selected_mean,mismatch_sq_selected_std$'
for i in 0 1 2; do
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
             n == 0 || $c["apical_sq"] > b { b = $c["apical_sq"]; m = $c["mismatch_sq"]; at = $2 } { n++ }
             END { printf "%s %.10g %.10g\n", at, b, m }' "$tmp/sel/run-000$i/metrics.csv"
done >"$tmp/sel_want"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
         { printf "%s %.10g %.10g\n", $c["selected_at"], $c["apical_sq_selected"], $c["mismatch_sq_selected"] }' \
    "$tmp/sel/runs.csv" >"$tmp/sel_got"
diff "$tmp/sel_want" "$tmp/sel_got" || exit 1
# the selected row differs from the last one somewhere, or the test shows nothing
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
         $c["mismatch_sq_final"] != $c["mismatch_sq_selected"] { d = 1 } END { exit !d }' "$tmp/sel/runs.csv" ||
    { cat "$tmp/sel/runs.csv"; exit 1; }
awk -F, 'NR == 2 { m = ($NF + 0 == $NF) } END { exit !m }' "$tmp/sel/aggregate.csv"
echo "sweep select: runs.csv matches the runs recomputed by awk"
# COLUMN@STIMULUS: a dynamics run's rows of one evaluated stimulus; select
# on one stimulus (here its largest error, the first row), read another at
# the same pattern (as a validation set selects and a test set is read
# there), recomputed by awk
. "$APICAL_SRCDIR/tests/idx4.sh"
idx4 "$tmp"
{ idx4_circuit "$tmp"; cat <<YAML; } >"$tmp/two.yaml"
  img2: {kind: idx, images: $tmp/img, labels: $tmp/lab, rows: [1, 2], drives: input, target: out}
simulation:
  noise: {sigma: 0.2}
  phases:
    - repeat: 6
      phases:
        - {train: img, patterns: 4, present: 5}
        - {test: img, patterns: 4}
        - {test: img2, patterns: 2}
YAML
printf 'sweep: 1\nbase: %s/two.yaml\naxes:\n  - {key: seed, range: [1, 3]}\ncollect: [test_error@img2, class_error@img2, test_error]\nselect: {test_error@img: max}\n' \
    "$tmp" >"$tmp/stim.yaml"
"$apical" sweep "$tmp/stim.yaml" --out "$tmp/stim" >"$tmp/out"
head -1 "$tmp/stim/runs.csv" |
    grep -q ',test_error@img2_final,test_error@img2_best,class_error@img2_final,class_error@img2_best,test_error_final,test_error_best,selected_at,test_error@img2_selected,class_error@img2_selected,test_error_selected$' ||
    { head -1 "$tmp/stim/runs.csv"; exit 1; }
for i in 0 1 2; do
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
             { row[NR] = $0; n = NR }
             $c["stimulus"] == "img" && (!s || $c["test_error"] > b) { b = $c["test_error"]; at = $2; sel = NR; s = 1 }
             $c["stimulus"] == "img2" { fa = $c["test_error"]; fm = $c["class_error"]; if (!bs || fa < ba) ba = fa; bs = 1 }
             END { for (r = 2; r <= n; r++) { split(row[r], f, ",")
                       if (f[c["stimulus"]] == "img2" && f[2] == at && !got) { sa = f[c["test_error"]]; sm = f[c["class_error"]]; got = 1 } }
                   split(row[sel], f, ",")
                   printf "%.10g %.10g %.10g %s %.10g %.10g %.10g\n", fa, ba, fm, at, sa, sm, f[c["test_error"]] }' \
        "$tmp/stim/run-000$i/metrics.csv"
done >"$tmp/stim_want"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
         { printf "%.10g %.10g %.10g %s %.10g %.10g %.10g\n", $c["test_error@img2_final"], $c["test_error@img2_best"],
           $c["class_error@img2_final"], $c["selected_at"], $c["test_error@img2_selected"],
           $c["class_error@img2_selected"], $c["test_error_selected"] }' "$tmp/stim/runs.csv" >"$tmp/stim_got"
diff "$tmp/stim_want" "$tmp/stim_got" || exit 1
# the selected place is not the last one somewhere, and the two stimuli differ there
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
         $c["selected_at"] != 24 { d = 1 } $c["test_error@img2_selected"] != $c["test_error_selected"] { e = 1 }
         END { exit !(d && e) }' "$tmp/stim/runs.csv" || { cat "$tmp/stim/runs.csv"; exit 1; }
for bad in 'apical_sq@' 'error_test@img' 'apical_sq@a,b'; do
    sed "s/^select: .*/select: \"$bad\"/" "$tmp/stim.yaml" >"$tmp/bad_stim.yaml"
    if "$apical" check "$tmp/bad_stim.yaml" 2>"$tmp/err"; then exit 1; fi
    grep -q "bad_stim.yaml:6:9: '$bad': NAME@STIMULUS takes a column of dynamics runs" "$tmp/err" ||
        { cat "$tmp/err"; exit 1; }
done
# a stimulus the base circuit lacks: said by apical check
sed 's/^collect: \[test_error@img2,/collect: [test_error@img3,/' "$tmp/stim.yaml" >"$tmp/bad_stim.yaml"
if "$apical" check "$tmp/bad_stim.yaml" 2>"$tmp/err"; then exit 1; fi
grep -q "bad_stim.yaml: collect test_error@img3: the base circuit has no stimulus 'img3' (it has: img img2)" \
    "$tmp/err" || { cat "$tmp/err"; exit 1; }
"$apical" check "$tmp/stim.yaml" | grep -q 'collects 3 metrics, selects by test_error@img$'
echo "sweep COLUMN@STIMULUS: runs.csv matches the runs recomputed by awk"
echo "sweep: ok"
