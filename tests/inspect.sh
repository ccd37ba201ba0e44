#!/bin/sh
# apical inspect DIR: weight statistics and the self-predicting deviations
# of tests/inspect.yaml, whose values its comments derive by hand; the
# state digest is equal for equal runs, differs for another seed, ignores
# the checkpoint's output-file offsets and sees a changed state; a damaged
# checkpoint is refused.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
yaml="$APICAL_SRCDIR/tests/inspect.yaml"
fail() { echo "inspect: FAIL: $1"; exit 1; }
"$apical" run "$yaml" --out "$tmp/a" >/dev/null
"$apical" inspect "$tmp/a" >"$tmp/a.txt" || { cat "$tmp/a.txt"; fail "inspect exited non-zero"; }
cat "$tmp/a.txt"
# row: projection index -> its fields (index, name, from -> to.port, rule, ...)
row() { awk -v i="$1" '$1 == i && $4 == "->" { print; exit }' "$tmp/a.txt"; }
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(d < 1e-3 && d > -1e-3) }'; }
check() { # index, column (1-based among: weights |W| mean min max), value
    v=$(row "$1" | awk -v c="$2" '{ print $(6 + c) }')
    near "$v" "$3" || fail "projection $1: column $2 is $v, expected $3"
}
check 0 1 12; check 0 2 1.73205; check 0 3 0.5; check 0 4 0.5; check 0 5 0.5
check 1 2 0.70711; check 2 2 2.26274; check 3 2 0.28284
check 4 3 -0.8 # W^PI self-predicting: minus the top-down weights
row 3 | grep -q dendritic_error || fail "projection 3 should show its rule"
row 0 | grep -q fixed || fail "projection 0 should show fixed"
[ "$(row 3 | awk '{ print $2 }')" = hidden-inter ] || fail "projection 3 should be named hidden-inter"
dev() { awk -v i="$1" '$1 == i && $2 == "vs" { print $(NF - 2), $NF; exit }' "$tmp/a.txt" | tr -d ,; }
set -- $(dev 3)
near "$1" 0.418182 || fail "W^IP deviation $1, expected 0.418182"
near "$2" 1 || fail "W^IP cosine $2, expected 1"
grep -q '^  3 vs 0.6875 x #1 (hidden-output)' "$tmp/a.txt" || fail "W^IP's partner: 0.6875 x #1"
set -- $(dev 4)
near "$1" 0 || fail "W^PI deviation $1, expected 0"

digest() { "$apical" inspect "$1" | awk '$1 == "digest" { print $2 }'; }
da=$(digest "$tmp/a")
"$apical" run "$yaml" --out "$tmp/b" >/dev/null
[ "$(digest "$tmp/b")" = "$da" ] || fail "two equal runs have different digests"
"$apical" run "$yaml" --out "$tmp/c" --set seed=4 >/dev/null
[ "$(digest "$tmp/c")" != "$da" ] || fail "another seed gives the same digest"
# where the output files end is not part of the state: a run that also
# records traces (other file offsets in its checkpoint) has the same digest
"$apical" run "$yaml" --out "$tmp/t" --set 'record.traces.vars=[hidden.u]' >/dev/null
cmp -s "$tmp/a/checkpoint.bin" "$tmp/t/checkpoint.bin" && fail "the offsets did not change"
[ "$(digest "$tmp/t")" = "$da" ] || fail "the digest depends on the output-file offsets"
# one pattern fewer: another state, another digest
"$apical" run "$yaml" --out "$tmp/s" --set simulation.phases.0.patterns=19 >/dev/null
[ "$(digest "$tmp/s")" != "$da" ] || fail "a changed state leaves the digest as it was"
# errors
if "$apical" inspect "$tmp/none" 2>"$tmp/err"; then fail "a missing run was inspected"; fi
grep -q 'config.yaml' "$tmp/err" || { cat "$tmp/err"; fail "no message naming config.yaml"; }
head -c 500 "$tmp/a/checkpoint.bin" >"$tmp/c/checkpoint.bin"
if "$apical" inspect "$tmp/c" 2>"$tmp/err"; then fail "a truncated checkpoint was inspected"; fi
grep -q 'truncated or damaged' "$tmp/err" || { cat "$tmp/err"; fail "no message for truncation"; }
cp "$tmp/a/checkpoint.bin" "$tmp/c/checkpoint.bin"
printf 'Z' | dd of="$tmp/c/checkpoint.bin" bs=1 seek=200 conv=notrunc 2>/dev/null
if "$apical" inspect "$tmp/c" 2>"$tmp/err"; then fail "a damaged checkpoint was inspected"; fi
grep -q 'checksum does not match' "$tmp/err" || { cat "$tmp/err"; fail "no message for damage"; }
echo "inspect: ok"
