#!/bin/sh
# scripts/settling on a traces.csv written here: two cells whose value is
# 1 + e^-s (s ms after each switch, one ms time constant) in every 20 ms
# presentation, and a cell of another variable that settles at once.  The
# distance from the settled value must be e^-s at each ms, and over a
# window the mean of e^-s at its steps, both computed here with awk.
# Skipped (77) without Debian's python3 and NumPy.
set -eu
: "${APICAL_SRCDIR:?run through make check}"
[ -x /usr/bin/python3 ] || { echo "skip: no /usr/bin/python3"; exit 77; }
/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "skip: no NumPy (python3-numpy)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk 'BEGIN { print "t_ms,a.x[0],a.x[1],b.y[0]"; print "0,1,1,2"
             for (i = 1; i <= 120; i++) { t = i * 0.5; s = t - 20 * int((t - 0.25) / 20)
                                          printf "%g,%.17g,%.17g,2\n", t, 1 + exp(-s), 1 + exp(-s) } }' \
    >"$tmp/traces.csv"
"$APICAL_SRCDIR/scripts/settling" "$tmp" --present 20 --window 10-15 >"$tmp/out"
cat "$tmp/out"
grep -q '2 presentations of 20 ms after the first, dt 0.5 ms' "$tmp/out"
# the settled value is the mean over the last 2.5 ms: 1 + mean(e^-s), s = 17.5..20
want=$(awk 'BEGIN { for (s = 17.5; s <= 20; s += 0.5) m += exp(-s) / 6
                    for (k = 1; k <= 20; k++) { d = (exp(-k) - m) / (1 + m)
                                                printf " %8.2g", d < 0 ? -d : d } }')
got=$(sed -n 's/^a\.x  *//p' "$tmp/out" | head -1)
[ "$(echo $got)" = "$(echo $want)" ] || { echo "per ms: got $got, want $want"; exit 1; }
win=$(awk 'BEGIN { for (s = 17.5; s <= 20; s += 0.5) m += exp(-s) / 6
                   for (s = 10.5; s <= 15; s += 0.5) w += exp(-s) / 10
                   printf "%.3g 1.00000", (w - m) / (1 + m) }')
got=$(sed -n '/^window/,$s/^a\.x  *//p' "$tmp/out")
[ "$(echo $got)" = "$win" ] || { echo "window: got $got, want $win"; exit 1; }
# a variable that never moves is 0 off
sed -n 's/^b\.y  *//p' "$tmp/out" | head -1 | grep -Eq '^0( +0){19}$' || exit 1
status=0
"$APICAL_SRCDIR/scripts/settling" "$tmp" --present 20 --window 15-25 2>"$tmp/err" || status=$?
[ "$status" -ne 0 ] && grep -q 'not within a 20 ms presentation' "$tmp/err"
echo "settling: ok"
