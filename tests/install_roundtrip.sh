#!/bin/sh
# Install into a temporary root, build the out-of-tree example module with
# pkg-config against the installed header, and use it from a YAML circuit
# through APICAL_MODULE_PATH with the installed apical command.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
: "${APICAL_SRCDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

MAKEFLAGS= ${MAKE:-make} -C "$APICAL_BUILDDIR" install DESTDIR="$tmp/dest" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"
    exit 1
}
prefix=$(sed -n 's/^prefix=//p' "$APICAL_BUILDDIR/apical.pc")
root="$tmp/dest$prefix"
pc() { PKG_CONFIG_PATH="$root/lib/pkgconfig" pkg-config --define-variable=prefix="$root" "$@"; }
for f in bin/apical lib/libapical.so include/apical/apical.h lib/pkgconfig/apical.pc \
         lib/apical/pyramidal.so lib/apical/sst.so lib/apical/rate_input.so \
         lib/apical/dendritic_error.so lib/apical/apical_silence.so; do
    [ -e "$root/$f" ] || { echo "not installed: $f"; exit 1; }
done
echo "installed into $root"

# the example, as a user would build it: only the installed header
mkdir "$tmp/mods"
${CC:-cc} $(pc --cflags apical) -Wall -Wextra -Werror -fPIC -shared \
    "$APICAL_SRCDIR/examples/hebbian/hebbian.c" -o "$tmp/mods/hebbian.so" -lm
echo "built hebbian.so with: $(pc --cflags apical)"
# (with the flags the shipped modules were built with: -march=native, say,
# lets the compiler fuse multiply-adds, which moves the last bits)
${CC:-cc} ${APICAL_BUILD_CFLAGS:-} $(pc --cflags apical) -Wall -Wextra -Werror -fPIC -shared \
    "$APICAL_SRCDIR/examples/cell/tricomp.c" -o "$tmp/mods/tricomp.so" -lm
[ "$(pc --variable=moduledir apical)" = "$root/lib/apical" ]

export LD_LIBRARY_PATH="$root/lib"
export APICAL_MODULE_PATH="$tmp/mods:$(pc --variable=moduledir apical)"
"$root/bin/apical" modules --yaml >"$tmp/modules.yaml"
grep -q '^  - name: "hebbian"' "$tmp/modules.yaml"
grep -q 'post_obs: "rate"' "$tmp/modules.yaml"
grep -q '{name: "decay", unit: "1", default: 0, min: 0, max: .inf' "$tmp/modules.yaml"
[ "$(grep -c '^  - name:' "$tmp/modules.yaml")" -eq 9 ]   # 5 cells + 4 rules

"$root/bin/apical" run "$APICAL_SRCDIR/examples/hebbian/hebbian.yaml" --out "$tmp/run" >"$tmp/run.log"
cat "$tmp/run.log"
# header + patterns 0, 20, 40; the anti-Hebbian W^PI (from 0) must change apical_sq
[ "$(wc -l <"$tmp/run/metrics.csv")" -eq 4 ]
awk -F, 'NR == 2 { a = $4 } NR == 4 { b = $4 }
         END { d = a - b; if (d < 0) d = -d; exit !(d > 1e-3 * a) }' "$tmp/run/metrics.csv"

# a host program on the installed public API alone: the same numbers as
# the installed apical command
# (a library built with the sanitizers wants their runtime in the host too)
san=""
nm -D "$root/lib/libapical.so" 2>/dev/null | grep -q __asan_ && san="-fsanitize=address,undefined"
${CC:-cc} $san $(pc --cflags apical) -Wall -Wextra -Werror "$APICAL_SRCDIR/examples/host/host.c" \
    -o "$tmp/host" $(pc --libs apical) -lm
set -- "$APICAL_SRCDIR/yaml/self_predicting.yaml" simulation.phases.0.patterns=300
"$tmp/host" "$@" >"$tmp/host.out"
"$root/bin/apical" run "$1" --set "$2" --out "$tmp/sps" >/dev/null
tail -n +2 "$tmp/sps/metrics.csv" | cut -d, -f2,4,5 >"$tmp/apical.out"
grep -v '^#' "$tmp/host.out" | cmp - "$tmp/apical.out"
grep -q '^# hidden-inter: 200 weights' "$tmp/host.out"
echo "host program on the public API: $(grep -vc '^#' "$tmp/host.out") evaluations as apical run"
# the example cell, its ports, parameters and observables renamed, in the
# paper's circuit: its roles table gives the same numbers as the pyramidal
# module, learning from random lateral weights and starting self-predicting
to_pyramidal() {
    sed -e 's/tricomp/pyramidal/' -e 's/\.proximal/.basal/' -e 's/\.distal_inh/.apical_inh/' \
        -e 's/\.distal/.apical/' -e 's/g_dist/g_A/' -e 's/output\.v,/output.u,/' "$1"
}
to_tricomp() {
    sed -e 's/pyramidal/tricomp/' -e 's/\.basal/.proximal/' -e 's/\.apical_inh/.distal_inh/' \
        -e 's/\.apical,/.distal,/' -e 's/g_A/g_dist/' -e 's/output\.u,/output.v,/' "$1"
}
to_tricomp "$APICAL_SRCDIR/yaml/self_predicting.yaml" >"$tmp/sps_tricomp.yaml"
to_pyramidal "$APICAL_SRCDIR/examples/cell/self_predicting.yaml" >"$tmp/cell_pyramidal.yaml"
body() { grep -v '^ *#' "$1"; }
if ! grep -q 'cell: tricomp' "$tmp/sps_tricomp.yaml" || body "$tmp/sps_tricomp.yaml" | grep -q 'basal\|\.apical' ||
   ! grep -q 'cell: pyramidal' "$tmp/cell_pyramidal.yaml" || body "$tmp/cell_pyramidal.yaml" | grep -q 'proximal\|distal'; then
    echo "renaming the circuits failed"; exit 1
fi
run300() { "$root/bin/apical" run "$1" --set simulation.phases.0.patterns=300 --out "$2" >/dev/null; }
same() {
    cmp "$1/metrics.csv" "$2/metrics.csv"
    echo "tricomp = pyramidal ($3): $(tail -n +2 "$1/metrics.csv" | wc -l) metric rows equal," \
         "last apical_sq $(tail -n 1 "$1/metrics.csv" | cut -d, -f4)"
}
run300 "$tmp/sps_tricomp.yaml" "$tmp/sps_tricomp"
same "$tmp/sps_tricomp" "$tmp/sps" "random lateral weights"
run300 "$APICAL_SRCDIR/examples/cell/self_predicting.yaml" "$tmp/cell"
run300 "$tmp/cell_pyramidal.yaml" "$tmp/cell_pyramidal"
same "$tmp/cell" "$tmp/cell_pyramidal" "self-predicting start"
echo "install round trip: ok"
