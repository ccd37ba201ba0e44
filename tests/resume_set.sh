#!/bin/sh
# apical run --resume DIR --set KEY=VALUE: a stopped run goes on under
# changed keys and ends as the run configured with them from the start
# would (when the change lies after the checkpoint); DIR/config.yaml then
# holds the changed configuration, and a change to what the checkpoint's
# fingerprint covers is refused with config.yaml left as it was.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# dynamics: two training phases; the second's rates changed on resume
sed 's/^    - {train: patterns, patterns: 2000, present: 100}$/    - {train: patterns, patterns: 1500, present: 100}\n    - {train: patterns, patterns: 300, present: 100}/' \
    "$APICAL_SRCDIR/yaml/self_predicting.yaml" >"$tmp/two.yaml"
grep -q 'patterns: 300' "$tmp/two.yaml"
set -- --set record.metrics.every=50 --set record.metrics.patterns=5 --set record.checkpoint.every=200
"$apical" run "$tmp/two.yaml" --out "$tmp/ref" "$@" --set simulation.phases.1.rates=0.5 >/dev/null
"$apical" run "$tmp/two.yaml" --out "$tmp/plain" "$@" >/dev/null
cmp -s "$tmp/ref/checkpoint.bin" "$tmp/plain/checkpoint.bin" &&
    { echo "rates 0.5 in the second phase changed nothing"; exit 1; }
"$apical" run "$tmp/two.yaml" --out "$tmp/fork" "$@" >"$tmp/fork.log" 2>&1 &
pid=$!
while [ "$(lines "$tmp/fork/metrics.csv")" -lt 4 ]; do sleep 0.05; done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 3 ] || { echo "the stopped run exited $status, not 3"; cat "$tmp/fork.log"; exit 1; }
at=$(sed -n 's/.*stopped at pattern \([0-9]*\).*/\1/p' "$tmp/fork.log")
[ "$at" -lt 1500 ] || { echo "stopped at pattern $at, not in the first phase"; exit 1; }
cp "$tmp/fork/config.yaml" "$tmp/config.before"
cp -r "$tmp/fork" "$tmp/pfork"
# a change to the circuit's structure: refused, config.yaml and the checkpoint untouched
status=0
cp "$tmp/fork/checkpoint.bin" "$tmp/ck.before"
"$apical" run --resume "$tmp/fork" --set seed=8 >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] || { echo "a changed seed on resume exited $status, not 2"; exit 1; }
grep -q 'only parameters may change' "$tmp/err" || { cat "$tmp/err"; exit 1; }
cmp "$tmp/config.before" "$tmp/fork/config.yaml"
cmp "$tmp/ck.before" "$tmp/fork/checkpoint.bin"
# FILE, --out and --force stay refused with --resume
status=0
"$apical" run --resume "$tmp/fork" --out "$tmp/x" --set seed=1 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] && grep -q 'no FILE, --out or --force' "$tmp/err" || { cat "$tmp/err"; exit 1; }
# the change after the checkpoint: as configured from the start
"$apical" run --resume "$tmp/fork" --set simulation.phases.1.rates=0.5 >"$tmp/resume.log"
grep -q "resuming $tmp/fork at pattern" "$tmp/resume.log"
cmp "$tmp/ref/metrics.csv" "$tmp/fork/metrics.csv"
cmp "$tmp/ref/checkpoint.bin" "$tmp/fork/checkpoint.bin"
# config.yaml: the first run's comment lines, the resume's, the new value
head -1 "$tmp/fork/config.yaml" | grep -q "^# apical .*two.yaml --set record.metrics.every=50"
grep -q "^# resumed at pattern $at (phase 0) by apical .*: --set simulation.phases.1.rates=0.5$" \
    "$tmp/fork/config.yaml" || { head -12 "$tmp/fork/config.yaml"; exit 1; }
"$apical" check "$tmp/fork/config.yaml" >/dev/null
sed -n '/^simulation:/,$p' "$tmp/fork/config.yaml" | grep -q 'rates: 0.5'
[ "$(grep -c '^# resumed' "$tmp/fork/config.yaml")" -eq 1 ]
# a finished run: nothing to resume, said, and nothing written
cp "$tmp/ref/metrics.csv" "$tmp/ref.csv"
"$apical" run --resume "$tmp/ref" >"$tmp/ended.log"
grep -q "^$tmp/ref ended at pattern 1800 (t = [0-9.e+]* ms), after its last phase: nothing to resume$" \
    "$tmp/ended.log" || { cat "$tmp/ended.log"; exit 1; }
cmp "$tmp/ref.csv" "$tmp/ref/metrics.csv"
echo "dynamics: resumed at pattern $at with the second phase's rates changed, same as configured"

# a fork under changed rule parameters: both learning rates halved from
# pattern $at on equals the run whose phases halve them (rates: 0.5) from
# there (halving is exact, in the decimal written and in the product)
sed "s/^    - {train: patterns, patterns: 1500, present: 100}\$/    - {train: patterns, patterns: $at, present: 100}\n    - {train: patterns, patterns: $((1500 - at)), present: 100, rates: 0.5}/; s/^\(    - {train: patterns, patterns: 300, present: 100\)}\$/\1, rates: 0.5}/" \
    "$tmp/two.yaml" >"$tmp/half.yaml"
[ "$(grep -c 'rates: 0.5' "$tmp/half.yaml")" -eq 2 ] || { cat "$tmp/half.yaml"; exit 1; }
"$apical" run "$tmp/half.yaml" --out "$tmp/half" "$@" >/dev/null
set -- --set projections.hidden-inter.rule.dendritic_error.eta=0.00011875 \
    --set projections.inter-hidden.rule.apical_silence.eta=0.00025
cp "$tmp/pfork/config.yaml" "$tmp/pconfig.before"
"$apical" run --resume "$tmp/pfork" "$@" >"$tmp/p.log"
grep -q "resuming $tmp/pfork at pattern $at" "$tmp/p.log" || { cat "$tmp/p.log"; exit 1; }
cmp "$tmp/half/metrics.csv" "$tmp/pfork/metrics.csv"
cmp -s "$tmp/half/checkpoint.bin" "$tmp/pfork/checkpoint.bin" &&
    { echo "the two runs' checkpoints agree though their rates are written differently"; exit 1; }
"$apical" check "$tmp/pfork/config.yaml" >/dev/null
grep -q 'eta: 0.00011875' "$tmp/pfork/config.yaml"
# the checkpoint is the new circuit's: a plain resume takes it (the run has
# ended); with the first configuration back it is refused, and the same
# --resume --set takes it again (a crash between the checkpoint and config.yaml)
"$apical" run --resume "$tmp/pfork" | grep -q 'nothing to resume'
cp "$tmp/pconfig.before" "$tmp/pfork/config.yaml"
status=0
"$apical" run --resume "$tmp/pfork" >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] && grep -q 'another circuit of the same shape' "$tmp/err" ||
    { echo "exit $status"; cat "$tmp/err"; exit 1; }
"$apical" run --resume "$tmp/pfork" "$@" | grep -q 'nothing to resume'
echo "dynamics: a fork with the learning rates halved at pattern $at equals the run configured so"

# steady mode: a finished run extended by epochs equals the longer run
. "$APICAL_SRCDIR/tests/idx4.sh"
idx4 "$tmp"
{ cat <<YAML; idx4_steady "$tmp"; } >"$tmp/steady.yaml"
apical: 1
populations:
  input: {cell: rate_input, size: 4}
  bias:  {cell: bias, size: 1}
  out:   {cell: pyramidal, size: 2, params: {g_A: 0}}
projections:
  - {from: input, to: out.basal, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 0.5}}}
  - {from: bias, to: out.basal, init: {constant: 0}, rule: {dendritic_error: {eta: 0.5}}}
YAML
"$apical" run "$tmp/steady.yaml" --out "$tmp/s3" >/dev/null
"$apical" run "$tmp/steady.yaml" --out "$tmp/s2" --set simulation.steady.epochs=2 >/dev/null
cmp -s "$tmp/s2/checkpoint.bin" "$tmp/s3/checkpoint.bin" && { echo "epoch 3 changed nothing"; exit 1; }
"$apical" run --resume "$tmp/s2" --set simulation.steady.epochs=3 >"$tmp/s.log"
grep -q "resuming $tmp/s2 after epoch 2" "$tmp/s.log" || { cat "$tmp/s.log"; exit 1; }
cmp "$tmp/s3/checkpoint.bin" "$tmp/s2/checkpoint.bin"
[ "$(lines "$tmp/s2/metrics.csv")" -eq "$(lines "$tmp/s3/metrics.csv")" ]
cut -d, -f1,2,4- "$tmp/s3/metrics.csv" >"$tmp/m3"
cut -d, -f1,2,4- "$tmp/s2/metrics.csv" >"$tmp/m2"
head -1 "$tmp/m3" | grep -q '^epoch,patterns,train_error' || { head -1 "$tmp/m3"; exit 1; }
cmp "$tmp/m3" "$tmp/m2"
grep -q '^# resumed after epoch 2 by apical .*: --set simulation.steady.epochs=3$' "$tmp/s2/config.yaml"
# the rewritten file resumes as it is: nothing left to run
"$apical" run --resume "$tmp/s2" >/dev/null
cmp "$tmp/s3/checkpoint.bin" "$tmp/s2/checkpoint.bin"
echo "steady: two epochs extended to three on resume, same as three"
echo "resume_set: ok"
