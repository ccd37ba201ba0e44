#!/bin/sh
# scripts/warm-start RUN FILE OUT: OUT is FILE starting from RUN's weights.
# A steady run's weights written into its own file evaluate, before any
# training, exactly as the run's last epoch did (every evaluation column);
# a file whose sizes differ from the run's is refused naming the projection.
# Skipped (77) as tests/python.sh is (no Debian python3 with NumPy, or the
# sanitizer build).
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
[ "${APICAL_SKIP_PYTHON:-0}" = 1 ] && { echo "skip: asked to (sanitizer build)"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "skip: no /usr/bin/python3"; exit 77; }
/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "skip: no NumPy (python3-numpy)"; exit 77; }
APICAL_LIBRARY="$APICAL_BUILDDIR/runner/.libs/libapical.so.0"
export APICAL_LIBRARY
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
ws="$APICAL_SRCDIR/scripts/warm-start"
. "$APICAL_SRCDIR/tests/idx4.sh"
idx4 "$tmp"
{ cat <<YAML; idx4_steady "$tmp"; } >"$tmp/steady.yaml"
apical: 1
populations:
  input:  {cell: rate_input, size: 4}
  bias:   {cell: bias, size: 1}
  hidden: {cell: pyramidal, size: 3}
  inter:  {cell: sst, size: 2}
  out:    {cell: pyramidal, size: 2, params: {g_A: 0}}
projections:
  - {from: input, to: hidden.basal, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 0.5}}}
  - {from: hidden, to: out.basal, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 0.5}}}
  - {from: bias, to: out.basal, init: {constant: 0}, rule: {dendritic_error: {eta: 0.5}}}
  - {from: out, to: hidden.apical, init: {uniform: [-1, 1]}}
  - {from: hidden, to: inter.dendrite, init: {self_predicting: true}, rule: {dendritic_error: {eta: 0.2}}}
  - {from: inter, to: hidden.apical_inh, init: {self_predicting: true}}
  - {from: out.u, to: inter.nudge, connect: one_to_one}
YAML
"$apical" run "$tmp/steady.yaml" --out "$tmp/run" >/dev/null
"$ws" "$tmp/run" "$tmp/steady.yaml" "$tmp/warm.yaml" >"$tmp/ws.log"
grep -q "warm.yaml: 6 projections from $tmp/run" "$tmp/ws.log" || { cat "$tmp/ws.log"; exit 1; }
[ "$(grep -c 'init: {file: ' "$tmp/warm.yaml")" -eq 6 ]
"$apical" run "$tmp/warm.yaml" --out "$tmp/warm" --set simulation.steady.epochs=0 >/dev/null
# every column after epoch, patterns, train_error and seconds
last=$(tail -1 "$tmp/run/metrics.csv" | cut -d, -f5-)
first=$(sed -n 2p "$tmp/warm/metrics.csv" | cut -d, -f5-)
head -1 "$tmp/run/metrics.csv" | cut -d, -f5- | grep -q '^[a-z]' || { head -1 "$tmp/run/metrics.csv"; exit 1; }
[ "$last" = "$first" ] || { echo "run's last epoch: $last"; echo "warm start:       $first"; exit 1; }
# the same file evaluated from its own initial weights differs (the check can fail)
"$apical" run "$tmp/steady.yaml" --out "$tmp/cold" --set simulation.steady.epochs=0 >/dev/null
[ "$(sed -n 2p "$tmp/cold/metrics.csv" | cut -d, -f5-)" != "$last" ]
# sizes that differ: refused, naming the projection
sed 's/hidden: {cell: pyramidal, size: 3}/hidden: {cell: pyramidal, size: 4}/' "$tmp/steady.yaml" >"$tmp/big.yaml"
status=0
"$ws" "$tmp/run" "$tmp/big.yaml" "$tmp/x.yaml" 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] && grep -q 'projection input-hidden: 4x4 in .*big.yaml, 3x4 in the run' "$tmp/err" ||
    { echo "exit $status"; cat "$tmp/err"; exit 1; }
echo "warm_start: ok"
