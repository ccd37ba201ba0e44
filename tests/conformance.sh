#!/bin/sh
# apical modules --check: every shipped module and the Hebbian example pass
# (exit 0, a table per model); the modules with deliberate faults fail
# (exit 1) with each failing property and by how much; a name that is no
# model fails; --check does not go with --yaml, nor names without --check.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
subjects="$APICAL_BUILDDIR/tests/conformance/.libs"
fail() { echo "conformance: $*"; exit 1; }

# has FILE WORD...: FILE holds each WORD (fixed strings)
has() {
    has_file=$1
    shift
    for w in "$@"; do
        grep -qF -e "$w" "$has_file" || { cat "$has_file"; fail "'$w' not in $has_file"; }
    done
}

# every module on the path
"$apical" modules --check >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "shipped modules fail"; }
has "$tmp/out" "cell pyramidal" "cell sst" "cell rate_input" "cell bias" "rule dendritic_error" \
    "rule apical_silence" "rule backprop" "property                  result  deviation   tolerance" \
    "every property passes"
grep -q "FAIL" "$tmp/out" && fail "a FAIL in the shipped modules' tables"
# a row: property, result, deviation, tolerance
grep -Eq '^  jacobian\.dfdin +pass +[0-9.e+-]+ +1\.00e-06$' "$tmp/out" || { cat "$tmp/out"; fail "no jacobian.dfdin row"; }

# by name, from another directory on the path
APICAL_MODULE_PATH="$subjects:$APICAL_MODULE_PATH" "$apical" modules --check hebbian pyramidal \
    >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/out" "$tmp/err"; fail "hebbian fails"; }
has "$tmp/out" "rule hebbian 0.1.0 ($subjects/hebbian.so)" "cell pyramidal" "2 models checked: every property passes"

# the faulty modules: exit 1, each failure with its deviation and tolerance
rc=0
APICAL_MODULE_PATH="$subjects" "$apical" modules --check broken_cell broken_rule >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/out" "$tmp/err"; fail "the faulty modules exit $rc, not 1"; }
has "$tmp/out" "12 properties failed:" "cell broken_cell: roles:" "cell broken_cell: attenuation: deviation" \
    "cell broken_cell: jacobian.dfdin: deviation 0.25 > tolerance 1e-06 (dfdin: d(du/dt)/d(nudge)" \
    "cell broken_cell: steady.root: deviation" "cell broken_cell: ld.rhs: deviation" \
    "cell broken_cell: need: deviation" "rule broken_rule: euler_batch: deviation" \
    "rule broken_rule: euler_batch_f32: deviation" "rule broken_rule: euler_batch_f32.pre_bf16x2: deviation" "rule broken_rule: steady_rate: deviation 2 > tolerance 1e-08" \
    "rule broken_rule: rate_param: deviation 0.5 > tolerance 1e-12 (dW/dt with tau times 2"
grep -Eq '^  jacobian\.dfdin +FAIL +2\.50e-01 +1\.00e-06 ' "$tmp/out" || { cat "$tmp/out"; fail "no failing jacobian.dfdin row"; }
grep -Eq '^  euler +pass ' "$tmp/out" || fail "broken_rule's euler does not pass"

# a name that is no model
rc=0
"$apical" modules --check no_such_model >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "a missing model exits $rc, not 1"
has "$tmp/err" "no cell model 'no_such_model'"

# usage errors
for args in "--check --yaml" "pyramidal"; do
    rc=0
    # shellcheck disable=SC2086
    "$apical" modules $args >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] || fail "apical modules $args exits $rc, not 2"
    [ ! -s "$tmp/out" ] || fail "apical modules $args writes on stdout"
done
echo "conformance: ok"
