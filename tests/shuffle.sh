#!/bin/sh
# A shuffled stimulus (shuffle: true): every pass over its rows shows each
# row once, in an order of its own; the orders follow from the seed alone,
# so the same seed repeats them and a resumed run continues them; an
# evaluation still reads the rows in order.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
cd "$tmp"
printf '1\n2\n3\n4\n5\n6\n' >rows.csv
# a one-cell circuit shown the rows of rows.csv, shuffled; $1: more keys
# of the stimulus; the phases follow
circuit() {
    cat <<YAML
apical: 1
seed: 5
populations:
  input: {cell: rate_input, size: 1, params: {tau: 1}}
  out:   {cell: pyramidal, size: 1}
projections:
  - {from: input, to: out.basal, init: {constant: 1}, rule: {dendritic_error: {eta: 0.1}}}
stimuli:
  rows: {kind: csv, file: rows.csv, $1drives: input, shuffle: true}
simulation:
  integrator: {method: euler, dt: 1}
  phases:
YAML
}
# one 1 ms presentation per pattern and a trace line per step: the drive
# column is the sequence of rows shown
circuit "" >s.yaml
cat >>s.yaml <<'YAML'
    - {train: rows, patterns: 9, present: 1}
    - {train: rows, patterns: 9, present: 1}
record:
  metrics: {every: 0}
  traces: {vars: [input.drive], every: 1}
YAML
shown() { cut -d, -f2 "$1/traces.csv" | tail -n +2 | tr '\n' ' '; }
"$apical" run s.yaml --out a >/dev/null
"$apical" run s.yaml --out b >/dev/null
"$apical" run s.yaml --out c --set seed=6 >/dev/null
"$apical" run s.yaml --out d --set stimuli.rows.shuffle=false >/dev/null
echo "seed 5: $(shown a)"
echo "seed 6: $(shown c)"
[ "$(shown d)" = "1 2 3 4 5 6 1 2 3 4 5 6 1 2 3 4 5 6 " ] || { echo "unshuffled: $(shown d)"; exit 1; }
cmp a/traces.csv b/traces.csv
# each pass of six is a permutation of the rows; the three passes differ
# from one another and from the file's order, and seed 6 differs from seed 5
shown a | awk '{ for (p = 0; p < 3; p++) { s = ""; delete seen
        for (i = 1; i <= 6; i++) { v = $(6 * p + i); if (seen[v]++) exit 1; s = s v " " }
        if (s == "1 2 3 4 5 6 " || s in pass) exit 1; pass[s] = 1 } }'
[ "$(shown a)" != "$(shown c)" ]
# stopped mid-pass and resumed: the first phase alone, then the run
# continued with the second phase appended, shows what the whole run does
sed '/patterns: 9/{n;d}' s.yaml >one.yaml
"$apical" run one.yaml --out e >/dev/null
[ "$(shown e | wc -w)" -eq 9 ]
# (the run's config.yaml names the csv file by its full path)
sed 's/^  - {train: rows, patterns: 9, present: 1}$/&\n&/' e/config.yaml >e.yaml
mv e.yaml e/config.yaml
[ "$(grep -c 'patterns: 9' e/config.yaml)" -eq 2 ]
"$apical" run --resume e >/dev/null
cmp a/traces.csv e/traces.csv
cmp a/checkpoint.bin e/checkpoint.bin
# a shuffled stimulus is another circuit for a checkpoint
"$apical" run one.yaml --out f --set stimuli.rows.shuffle=false >/dev/null
sed 's/shuffle: false/shuffle: true/' f/config.yaml >f.yaml
mv f.yaml f/config.yaml
if "$apical" run --resume f 2>err; then echo "resumed with the shuffle switched on"; exit 1; fi
grep 'belongs to another circuit' err
# evaluations read the rows in order: the test error of a shuffled
# stimulus (whose first order is drawn already) equals the unshuffled one's
circuit "targets: rows.csv, target: out, " >t.yaml
cat >>t.yaml <<'YAML'
    - {test: rows, patterns: 3}
record:
  metrics: {every: 0, settle: 5}
YAML
"$apical" run t.yaml --out g >/dev/null
"$apical" run t.yaml --out h --set stimuli.rows.shuffle=false >/dev/null
awk -F, 'NR > 1 { print $6 }' g/metrics.csv >g.m
awk -F, 'NR > 1 { print $6 }' h/metrics.csv >h.m
cat g.m
cmp g.m h.m
# shuffle belongs to stimuli with rows
sed 's/kind: csv, file: rows.csv/kind: uniform, range: [0, 1]/' s.yaml >u.yaml
if "$apical" check u.yaml 2>err; then
    echo "a shuffled uniform stimulus accepted"; exit 1
fi
grep 'shuffle belongs to csv and idx stimuli' err
echo "shuffle: ok"
