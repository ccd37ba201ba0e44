#!/bin/sh
# apical's modules inside NEST (docs/nest.md): builds the extension module
# nest/ of this tree against the NEST in $APICAL_NEST_PREFIX (default
# /opt/apical/nest-3.9.0; scripts/nest installs it there), runs
# yaml/single_association.yaml with every projection delayed by one step
# (delay: 1, NEST's convention) and the noise off, first with `apical run`,
# then in NEST (nest/examples/single_association.py) from the same initial
# weights, and compares the somatic traces of every step and the final
# weights: the arithmetic is the same, so they must agree within 1e-9.
# Skipped (77) where NEST (nest-config, PyNEST) or cmake is absent.
: "${APICAL_BUILDDIR:?run through make check}"
: "${APICAL_SRCDIR:?run through make check}"
skip() { echo "skip: $*"; exit 77; }
[ "${APICAL_SKIP_PYTHON:-0}" = 1 ] && skip "asked to (sanitizer build: no Python hosts)"
prefix=${APICAL_NEST_PREFIX:-/opt/apical/nest-3.9.0}
py=/usr/bin/python3
[ -x "$prefix/bin/nest-config" ] || skip "no NEST in $prefix (scripts/nest builds it)"
[ -x "$py" ] || skip "no /usr/bin/python3"
command -v cmake >/dev/null 2>&1 || skip "no cmake"
pyver=$($py -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYTHONPATH="$prefix/lib/python$pyver/site-packages${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
$py -c 'import nest' >/dev/null 2>&1 || skip "PyNEST of $prefix does not import"
$py -c 'import yaml, numpy' 2>/dev/null || skip "no python3-yaml or python3-numpy"
set -e
work=$APICAL_BUILDDIR/tests/nest.work
rm -rf "$work/apical" "$work/nest"
mkdir -p "$work"

# the extension module of this tree, not installed (rebuilt where its
# sources or libapical changed)
obj=$work/module
cmake -S "$APICAL_SRCDIR/nest" -B "$obj" -Dwith-nest="$prefix/bin/nest-config" \
    -DAPICAL_SOURCE_DIR="$APICAL_SRCDIR" -DAPICAL_BUILD_DIR="$APICAL_BUILDDIR" >"$work/cmake.log" 2>&1 ||
    { cat "$work/cmake.log"; exit 1; }
make -C "$obj" >"$work/make.log" 2>&1 || { cat "$work/make.log"; exit 1; }

# the models apicalmodule registers
APICAL_NEST_MODULE=$obj/apicalmodule $py - <<'EOF'
import os
import nest
nest.set_verbosity("M_WARNING")
nest.Install(os.environ["APICAL_NEST_MODULE"])
m = nest.Models()
print("node models:", [x for x in m if x.startswith("apical_") and "synapse" not in x])
print("connection models:", [x for x in m if x.startswith("apical_") and "synapse" in x])
for x in ("apical_pyramidal", "apical_sst", "apical_rate_input"):
    assert x in m, x
    d = nest.GetDefaults(x)
    print(x, "receptor_types", dict(d["receptor_types"]), "recordables", list(d["recordables"]))
for x in ("apical_dendritic_error_synapse", "apical_apical_silence_synapse", "apical_synapse"):
    assert x in m, x
EOF

# apical: the circuit's five phases with 4 patterns of learning in place of
# 196 (12 patterns, 1.2 s)
run=$work/apical
"$APICAL_BUILDDIR/runner/apical" run "$APICAL_SRCDIR/yaml/single_association.yaml" --out "$run" \
    --set simulation.noise.sigma=0 --set simulation.phases.2.patterns=4 \
    --set projections.input-hidden.delay=1 --set projections.hidden-output.delay=1 \
    --set projections.output-hidden.delay=1 --set projections.hidden-inter.delay=1 \
    --set projections.inter-hidden.delay=1 --set projections.output-inter.delay=1 \
    --set record.metrics.every=0 \
    --set 'record.traces.vars=[hidden.u, inter.u, output.u]' --set record.traces.every=1 \
    --set 'record.traces.phases=[0,1,2,3,4]' --set record.weights.every=12 >"$work/apical.log" 2>&1 ||
    { cat "$work/apical.log"; exit 1; }

# NEST, from the same initial weights
APICAL_NEST_MODULE=$obj/apicalmodule \
    $py "$APICAL_SRCDIR/nest/examples/single_association.py" "$run" "$work/nest"
$py "$APICAL_SRCDIR/nest/examples/compare.py" "$run" "$work/nest" 1e-9
