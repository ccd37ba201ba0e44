#!/bin/sh
# Phase lists.  A train phase's plastic_after: each presentation of P ms with plasticity
# held for its first A ms follows the same trajectory, step for step, as the
# same patterns presented for A ms without plasticity and then held for
# P - A ms with it (a settle phase), noise and low-pass filters included.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
yaml="$APICAL_SRCDIR/yaml/self_predicting.yaml"
common="--set record.metrics.every=0 --set record.traces.vars=[hidden.u,inter.u,output.u]
 --set projections.hidden-inter.rule.dendritic_error.eta=0.05
 --set projections.inter-hidden.rule.apical_silence.eta=0.05
 --set projections.hidden-inter.rule.dendritic_error.tau_w=2"
# the file with its phase list replaced (one phase per line)
with_phases() {
    awk -v phases="$2" '/^    - \{train: patterns/ { n = split(phases, p, ";");
        for (i = 1; i <= n; i++) print "    - " p[i]; next } { print }' "$yaml" >"$tmp/$1.yaml"
    # shellcheck disable=SC2086
    "$apical" run "$tmp/$1.yaml" --out "$tmp/$1" $common >/dev/null
}
last='{train: patterns, patterns: 1, present: 5, plastic: false}'
with_phases a "{train: patterns, patterns: 3, present: 4, plastic_after: 1.5};$last"
one='{train: patterns, patterns: 1, present: 1.5, plastic: false};{settle: 2.5}'
with_phases b "$one;$one;$one;$last"
with_phases c "{train: patterns, patterns: 3, present: 4};$last"
with_phases d "{train: patterns, patterns: 3, present: 4, plastic: false};$last"
[ "$(wc -l <"$tmp/a/traces.csv")" -eq 171 ] || { wc -l "$tmp/a/traces.csv"; exit 1; }
cmp "$tmp/a/traces.csv" "$tmp/b/traces.csv"
# and exactly 15 steps (1.5 ms of dt 0.1) are held: the first plastic
# step shows in the traces 15 lines later than in a run plastic from the
# start, both against a run without plasticity.
first_diff() { cmp "$tmp/$1/traces.csv" "$tmp/$2/traces.csv" | sed -n 's/.* line //p'; }
from_c=$(first_diff c d) from_a=$(first_diff a d)
echo "the traces leave the frozen run's at line $from_c (plastic throughout), $from_a (plastic_after 1.5)"
# Plastic from the start: step 0 moves W by dt eta Delta(0) = 0 and fills
# Delta, step 1 moves W, step 2's derivative sees it, so the state at
# t = 0.3 ms (line 5, after the header and t = 0, 0.1, 0.2) is the first
# to differ.
if [ "$from_c" != 5 ] || [ "$from_a" != 20 ]; then
    echo "expected lines 5 and 20"; exit 1
fi
# a bad value is refused where it stands
if "$apical" check "$yaml" --set simulation.phases.0.plastic_after=100 2>"$tmp/err"; then
    echo "plastic_after = present accepted"; exit 1
fi
grep 'plastic_after (100 ms) must be at least 0 and leave at least one step' "$tmp/err"
# A repeated group is its phases written out: a list with nested
# {repeat: N, phases: [...]} groups gives the same trajectory and metrics as
# the same phases in full.
common="$common --set record.metrics.patterns=3 --set record.metrics.settle=2"
p='{train: patterns, patterns: 2, present: 3}' t='{test: patterns, patterns: 3}' s='{settle: 1}'
with_phases e "$p;{repeat: 2, phases: [$p, {repeat: 3, phases: [$s]}, $t]};$t"
with_phases f "$p;$p;$s;$s;$s;$t;$p;$s;$s;$s;$t;$t"
cmp "$tmp/e/traces.csv" "$tmp/f/traces.csv"
cmp "$tmp/e/metrics.csv" "$tmp/f/metrics.csv"
[ "$(wc -l <"$tmp/e/metrics.csv")" -eq 4 ] || { cat "$tmp/e/metrics.csv"; exit 1; }
# the run's config.yaml keeps the group as written (a resume expands it again)
grep 'repeat: 3' "$tmp/e/config.yaml"
# Learning-rate factors.  rates: 0.5 on a train phase is the run with both
# rules' eta halved in the file (exact in binary, so byte for byte), and
# differs from the run at the configured rates.
with_phases g "{train: patterns, patterns: 2, present: 3, rates: 0.5};$t"
common="$common --set projections.hidden-inter.rule.dendritic_error.eta=0.025
 --set projections.inter-hidden.rule.apical_silence.eta=0.025"
with_phases h "{train: patterns, patterns: 2, present: 3};$t"
cmp "$tmp/g/traces.csv" "$tmp/h/traces.csv"
cmp "$tmp/g/metrics.csv" "$tmp/h/metrics.csv"
if cmp -s "$tmp/g/traces.csv" "$tmp/e/traces.csv"; then echo "rates: 0.5 changed nothing"; exit 1; fi
# A group's rates and decay multiply its phases' factors: repetition r of a
# group runs at rates decay^r, compounding with the groups around it and the
# phases' own rates (here 2 0.5, 2 1, 2 0.5, then 1 0.5, 1 1, 1 0.5).
with_phases i "{repeat: 2, rates: 2, decay: 0.5, phases: [{train: patterns, patterns: 1, present: 3, rates: 0.5}, {repeat: 2, decay: 0.5, phases: [$p]}]};$t"
a1='{train: patterns, patterns: 1, present: 3' p2='{train: patterns, patterns: 2, present: 3'
with_phases j "$a1};$p2, rates: 2};$p;$a1, rates: 0.5};$p;$p2, rates: 0.5};$t"
cmp "$tmp/i/traces.csv" "$tmp/j/traces.csv"
cmp "$tmp/i/metrics.csv" "$tmp/j/metrics.csv"
# simulation.rates_interneurons: false keeps the rules into an interneuron's
# dendrite (hidden-inter) at their rates: rates 2 then doubles inter-hidden's
# eta alone (the etas are 0.025 here)
saved=$common
common="$saved --set simulation.rates_interneurons=false"
with_phases l "{train: patterns, patterns: 2, present: 3, rates: 2};$t"
common="$saved --set projections.inter-hidden.rule.apical_silence.eta=0.05"
with_phases m "{train: patterns, patterns: 2, present: 3};$t"
# and a factor, rates_interneurons: 2, runs them at twice their rates
# whatever the phases say: hidden-inter's eta doubled alone
common="$saved --set simulation.rates_interneurons=2"
with_phases n "{train: patterns, patterns: 2, present: 3};$t"
common="$saved --set projections.hidden-inter.rule.dendritic_error.eta=0.05"
with_phases o "{train: patterns, patterns: 2, present: 3};$t"
common=$saved
cmp "$tmp/l/traces.csv" "$tmp/m/traces.csv"
cmp "$tmp/l/metrics.csv" "$tmp/m/metrics.csv"
cmp "$tmp/n/traces.csv" "$tmp/o/traces.csv"
if cmp -s "$tmp/n/traces.csv" "$tmp/l/traces.csv"; then echo "rates_interneurons: 2 did nothing"; exit 1; fi
for bad in "simulation.phases.0.rates=0:greater than 0" \
           "simulation.phases.0.plastic=false --set simulation.phases.0.rates=2:rates in a phase with plastic: false"; do
    # shellcheck disable=SC2086
    if "$apical" check "$yaml" --set ${bad%%:*} 2>"$tmp/err"; then echo "accepted: $bad"; exit 1; fi
    grep -F "${bad#*:}" "$tmp/err"
done
# record.traces.phases numbers the phases with the groups written out, as
# many as there are: phases 0 and 69 of 70 one-pattern phases give their
# 10 steps each (a blank line between the stretches), the last at t = 69.9 ms
one='{train: patterns, patterns: 1, present: 1}'
common="$common --set record.traces.phases=[0,69]"
with_phases k "{repeat: 70, phases: [$one]}"
[ "$(grep -c . "$tmp/k/traces.csv")" -eq 21 ] || { wc -l "$tmp/k/traces.csv"; exit 1; }
tail -1 "$tmp/k/traces.csv" | grep -q "^69.9[0-9]*,"
if "$apical" check "$tmp/k.yaml" --set 'record.traces.vars=[hidden.u]' --set 'record.traces.phases=[70]' 2>"$tmp/err"; then
    echo "phase 70 of 70 traced"; exit 1
fi
grep -F 'phase 70: the run has 70 phases' "$tmp/err"
echo "phases: ok"
