#!/bin/sh
# scripts/epoch-table: a dynamics run's evaluations grouped by pattern count
# into epochs (each stimulus's class_error in %, the first stimulus's
# apical_sq and mismatch_sq) beside a steady run's error_<stimulus> columns,
# on metrics.csv files written here.
set -eu
: "${APICAL_SRCDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: no $py"; exit 77; }
mkdir "$tmp/dyn" "$tmp/st"
cat >"$tmp/dyn/metrics.csv" <<CSV
phase,pattern,t_ms,apical_sq,mismatch_sq,test_error,angle_deg,bp_cosine,class_error,stimulus
test,0,0,6.1e-08,3e-09,1.4,nan,nan,0.8982,validation
test,55000,82500,0.0011,0.00021,0.05,nan,nan,0.0608,validation
test,55000,82500,0.0012,0.00022,0.06,nan,nan,0.0728,test
test,110000,165000,0.00164,0.00029,0.04,nan,nan,0.0404,validation
test,110000,165000,0.00167,0.00029,0.05,nan,nan,0.0551,test
CSV
cat >"$tmp/st/metrics.csv" <<CSV
epoch,patterns,seconds,train_error,error_validation,error_test,apical_sq_hidden1
0,0,0,nan,0.8982,nan,1e-3
1,55000,60,0.1,0.0598,0.0737,1e-4
CSV
"$py" "$APICAL_SRCDIR/scripts/epoch-table" "$tmp/dyn" "$tmp/st" >"$tmp/out"
cat >"$tmp/want" <<'MD'
| epoch | dyn: validation % | dyn: test % | apical_sq, validation | mismatch_sq, validation | st: validation % | st: test % |
|---|---|---|---|---|---|---|
| 0 | 89.82 |  | 6.1e-08 | 3.0e-09 | 89.82 |  |
| 1 | 6.08 | 7.28 | 1.1e-03 | 2.1e-04 | 5.98 | 7.37 |
| 2 | 4.04 | 5.51 | 1.6e-03 | 2.9e-04 |  |  |
MD
diff "$tmp/want" "$tmp/out"
"$py" "$APICAL_SRCDIR/scripts/epoch-table" --last 1 "$tmp/dyn" | tail -1 | grep -qx '| 2 | 4.04 | 5.51 | 1.6e-03 | 2.9e-04 |'
# not a run directory: a message, not a traceback
if "$py" "$APICAL_SRCDIR/scripts/epoch-table" "$tmp" 2>"$tmp/err"; then exit 1; fi
grep -q "epoch-table: $tmp/metrics.csv: No such file or directory" "$tmp/err"
echo "epoch-table: ok"
