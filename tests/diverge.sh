#!/bin/sh
# A run that blows up (a learning rate 10^4 times too large) stops with the
# time, the pattern, the population or projection and where the YAML
# defines it, exits 1, and keeps the last good checkpoint, from which the
# same divergence replays exactly.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
yaml="$APICAL_SRCDIR/yaml/self_predicting.yaml"
if "$apical" run "$yaml" --out "$tmp/d" --set projections.inter-hidden.rule.apical_silence.eta=5 \
       --set record.checkpoint.every=1 --set record.metrics.every=5 \
       --set record.metrics.patterns=2 >"$tmp/out" 2>"$tmp/err"; then
    echo "the run did not stop"; exit 1
else
    [ $? -eq 1 ] || { echo "exit code $? (want 1)"; exit 1; }
fi
cat "$tmp/err"
grep -q '^apical: diverged by t = [0-9.]* ms, in training pattern [0-9]*: ' "$tmp/err"
grep -q 'self_predicting.yaml:[0-9]*:[0-9]*)' "$tmp/err"
grep -q 'past the bound\|is nan\|is inf\|is -inf' "$tmp/err"
pattern=$(sed -n 's/.*in training pattern \([0-9]*\).*/\1/p' "$tmp/err")
[ "$pattern" -gt 1 ]
# the last good checkpoint is the pattern before: resuming replays the fault
cp "$tmp/err" "$tmp/err1"
if "$apical" run --resume "$tmp/d" >/dev/null 2>"$tmp/err"; then exit 1; fi
# (the same fault; only the file named differs: the run's own config.yaml)
strip() { grep diverged "$1" | sed 's/ ([^)]*)//'; }
[ "$(strip "$tmp/err")" = "$(strip "$tmp/err1")" ]
# a tighter bound stops it earlier
if "$apical" run "$yaml" --out "$tmp/e" --set projections.inter-hidden.rule.apical_silence.eta=5 \
       --set simulation.bound=10 >/dev/null 2>"$tmp/err2"; then exit 1; fi
p2=$(sed -n 's/.*in training pattern \([0-9]*\).*/\1/p' "$tmp/err2")
[ "$p2" -lt "$pattern" ]
echo "diverge: ok (pattern $pattern; with bound 10, pattern $p2)"
