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
[ "$(pc --variable=moduledir apical)" = "$root/lib/apical" ]

export LD_LIBRARY_PATH="$root/lib"
export APICAL_MODULE_PATH="$tmp/mods:$(pc --variable=moduledir apical)"
"$root/bin/apical" modules --yaml >"$tmp/modules.yaml"
grep -q '^  - name: "hebbian"' "$tmp/modules.yaml"
grep -q 'post_obs: "rate"' "$tmp/modules.yaml"
grep -q '{name: "decay", unit: "1", default: 0, min: 0, max: .inf' "$tmp/modules.yaml"
[ "$(grep -c '^  - name:' "$tmp/modules.yaml")" -eq 8 ]   # 4 cells + 4 rules

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
echo "install round trip: ok"
