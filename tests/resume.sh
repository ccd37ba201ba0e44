#!/bin/sh
# A run stopped by SIGTERM writes a checkpoint and exits non-zero; resumed
# with --resume it ends bit-identical to an uninterrupted run (metrics.csv
# and the final state, weights and random streams in checkpoint.bin).
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
yaml="$APICAL_SRCDIR/yaml/self_predicting.yaml"
set -- --set simulation.phases.0.patterns=1500 --set record.metrics.every=50 \
       --set record.metrics.patterns=5 --set record.checkpoint.every=200
"$apical" run "$yaml" --out "$tmp/a" "$@" --set record.weights.every=750 >/dev/null
# weight snapshots: plastic matrices move, fixed ones do not; shapes as declared
w="$tmp/a/weights"
[ "$(wc -l <"$w/p1500/3_hidden_inter.dendrite.csv")" -eq 10 ]
[ "$(head -1 "$w/p1500/3_hidden_inter.dendrite.csv" | tr ',' '\n' | wc -l)" -eq 20 ]
cmp -s "$w/p0/3_hidden_inter.dendrite.csv" "$w/p1500/3_hidden_inter.dendrite.csv" && exit 1
cmp "$w/p0/2_output_hidden.apical.csv" "$w/p1500/2_output_hidden.apical.csv"
rm -r "$w" # (run b records none; the rest must match)

"$apical" run "$yaml" --out "$tmp/b" "$@" >"$tmp/b.log" 2>&1 &
pid=$!
# stop it once it is under way, but well before the end
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
while [ "$(lines "$tmp/b/metrics.csv")" -lt 4 ]; do sleep 0.05; done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
# exit code 3: stopped, with a checkpoint to resume from
[ "$status" -eq 3 ] || { echo "the stopped run exited $status, not 3"; cat "$tmp/b.log"; exit 1; }
grep 'stopped at pattern' "$tmp/b.log"
[ -f "$tmp/b/checkpoint.bin" ]
if cmp -s "$tmp/a/metrics.csv" "$tmp/b/metrics.csv"; then
    echo "the run was not stopped before its end"; exit 1
fi
"$apical" run --resume "$tmp/b" >"$tmp/resume.log"
head -1 "$tmp/resume.log"
cmp "$tmp/a/metrics.csv" "$tmp/b/metrics.csv"
cmp "$tmp/a/checkpoint.bin" "$tmp/b/checkpoint.bin"
echo "resumed run bit-identical: $(wc -l <"$tmp/b/metrics.csv") metrics rows"

# a checkpoint of another circuit is refused
cp "$tmp/a/checkpoint.bin" "$tmp/other.bin"
"$apical" run "$APICAL_SRCDIR/yaml/four_hidden_sps.yaml" --out "$tmp/c" >/dev/null
cp "$tmp/other.bin" "$tmp/c/checkpoint.bin"
if "$apical" run --resume "$tmp/c" 2>"$tmp/err"; then exit 1; fi
grep -q 'belongs to another circuit' "$tmp/err"
# and so is a truncated one
head -c 1000 "$tmp/a/checkpoint.bin" >"$tmp/b/checkpoint.bin"
if "$apical" run --resume "$tmp/b" 2>"$tmp/err"; then exit 1; fi
grep -q 'truncated or damaged' "$tmp/err" || { cat "$tmp/err"; exit 1; }
# one flipped byte in the weights: the checksum refuses it
cp "$tmp/a/checkpoint.bin" "$tmp/b/checkpoint.bin"
size=$(wc -c <"$tmp/b/checkpoint.bin")
printf '\377' | dd of="$tmp/b/checkpoint.bin" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
cmp -s "$tmp/a/checkpoint.bin" "$tmp/b/checkpoint.bin" && { echo "the byte did not change"; exit 1; }
if "$apical" run --resume "$tmp/b" 2>"$tmp/err"; then exit 1; fi
grep -q 'checksum does not match' "$tmp/err" || { cat "$tmp/err"; exit 1; }
# a checkpoint of the same circuit with another learning rate (same shape)
"$apical" run "$yaml" --out "$tmp/d" --set projections.hidden-inter.rule.dendritic_error.eta=0.001 \
    "$@" >/dev/null
cp "$tmp/a/checkpoint.bin" "$tmp/d/checkpoint.bin"
if "$apical" run --resume "$tmp/d" 2>"$tmp/err"; then exit 1; fi
grep -q 'another circuit of the same shape' "$tmp/err" || { cat "$tmp/err"; exit 1; }
# output files shorter than the checkpoint says: refused, never grown
cp "$tmp/a/checkpoint.bin" "$tmp/b/checkpoint.bin"
head -c 10 "$tmp/a/metrics.csv" >"$tmp/b/metrics.csv"
if "$apical" run --resume "$tmp/b" 2>"$tmp/err"; then exit 1; fi
[ "$(wc -c <"$tmp/b/metrics.csv")" -eq 10 ] || { echo "metrics.csv was grown"; exit 1; }
# one run at a time in a directory; SIGHUP stops like SIGTERM
"$apical" run "$yaml" --out "$tmp/e" "$@" --set simulation.phases.0.patterns=100000 \
    >"$tmp/e.log" 2>&1 &
pid=$!
while [ "$(lines "$tmp/e/metrics.csv")" -lt 2 ]; do sleep 0.05; done
status=0
"$apical" run "$yaml" --out "$tmp/e" --force "$@" >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] || { echo "a second run in a busy directory exited $status, not 2"; exit 1; }
grep -q 'is in use by another apical run' "$tmp/err" || { cat "$tmp/err"; exit 1; }
kill -HUP "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 3 ] || { echo "SIGHUP: exit $status, not 3"; cat "$tmp/e.log"; exit 1; }
[ -f "$tmp/e/checkpoint.bin" ]
# --force replaces everything an earlier run wrote, weight snapshots too
mkdir -p "$tmp/e/weights/p0"
echo 1 >"$tmp/e/weights/p0/stale.csv"
"$apical" run "$yaml" --out "$tmp/e" --force "$@" >/dev/null
[ ! -e "$tmp/e/weights" ] || { echo "--force left weights/"; exit 1; }
# each row names the stimulus it evaluated (the last column); a run whose
# metrics.csv was begun without that column (an earlier build) goes on
# without it when resumed: here its header's last name is replaced by one
# of the same length (the checkpoint keeps the file's length) and the run
# continued with a second phase
head -1 "$tmp/a/metrics.csv" | grep -q ',stimulus$'
sed -n 2p "$tmp/a/metrics.csv" | grep -q ',patterns$'
"$apical" run "$yaml" --out "$tmp/f" "$@" --set simulation.phases.0.patterns=400 >/dev/null
sed '1s/,stimulus$/,xxxxxxxx/' "$tmp/f/metrics.csv" >"$tmp/f.csv"
mv "$tmp/f.csv" "$tmp/f/metrics.csv"
sed "s/^ *- {train: patterns, patterns: 400,.*/&\\n&/" "$tmp/f/config.yaml" >"$tmp/f.yaml"
mv "$tmp/f.yaml" "$tmp/f/config.yaml"
[ "$(grep -c 'patterns: 400' "$tmp/f/config.yaml")" -eq 2 ] || { cat "$tmp/f/config.yaml"; exit 1; }
"$apical" run --resume "$tmp/f" >/dev/null
[ "$(awk -F, 'END { print NF }' "$tmp/f/metrics.csv")" -eq 8 ] || { cat "$tmp/f/metrics.csv"; exit 1; }
[ "$(grep -c ',patterns$' "$tmp/f/metrics.csv")" -eq 9 ] || { cat "$tmp/f/metrics.csv"; exit 1; }
# an empty --out is a usage error
status=0
"$apical" run "$yaml" --out "" >/dev/null 2>"$tmp/err" || status=$?
[ "$status" -eq 2 ] && grep -q 'empty' "$tmp/err" || { echo "--out '': $status"; exit 1; }
echo "resume: ok"
