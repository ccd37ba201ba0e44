# Sourced by the sweep tests: check_tables DIR KEY checks DIR/aggregate.csv
# of tests/sweep/small.yaml against the run directories, recomputed here
# without the sweep's code: each run's axis value from its args file, its
# status file, and the last and smallest apical_sq and mismatch_sq of its
# metrics.csv; per value the runs, the finished and failed counts, and the
# mean and sample standard deviation over the finished runs.
check_tables() {
    dir=$1 key=$2
    for r in "$dir"/run-*; do
        v=$(sed -n "s/^$key=//p" "$r/args")
        st=$(head -1 "$r/status" | cut -d' ' -f1)
        awk -F, -v v="$v" -v st="$st" '
            NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
            { a = $c["apical_sq"]; m = $c["mismatch_sq"]
              if (n == 0 || a < ba) ba = a
              if (n == 0 || m < bm) bm = m
              fa = a; fm = m; n++ }
            END { printf "%s %s %.12g %.12g %.12g %.12g\n", v, st, fa, ba, fm, bm }' \
            "$r/metrics.csv"
    done >"$dir/independent.txt"
    awk -F'[ ,]' '
        FNR == NR { runs[$1]++; if ($2 == "ok") { ok[$1]++
                        for (k = 3; k <= 6; k++) { s[$1, k] += $k; x[$1, k, ok[$1]] = $k } }
                    else if ($2 == "failed") failed[$1]++
                    next }
        FNR == 1 { next }
        { v = $1; rows++
          if ($2 != runs[v] || $3 != ok[v] + 0 || $4 != failed[v] + 0) {
              printf "%s: counts %s %s %s, want %d %d %d\n", v, $2, $3, $4, runs[v], ok[v], failed[v]
              bad = 1 }
          for (k = 3; k <= 6; k++) {
              mean = s[v, k] / ok[v]; ss = 0
              for (i = 1; i <= ok[v]; i++) ss += (x[v, k, i] - mean) ^ 2
              col = 5 + 2 * (k - 3)
              if (!close_to($col, mean)) { printf "%s: mean column %d is %s, want %.10g\n", v, col, $col, mean; bad = 1 }
              if (ok[v] > 1 && !close_to($(col + 1), sqrt(ss / (ok[v] - 1)))) {
                  printf "%s: std column %d is %s, want %.10g\n", v, col + 1, $(col + 1), sqrt(ss / (ok[v] - 1)); bad = 1 }
              if (ok[v] < 2 && $(col + 1) != "nan") { print v ": std of one run is not nan"; bad = 1 }
          }
          checked++ }
        function close_to(a, b) { return (a - b) ^ 2 <= (1e-8 * (b < 0 ? -b : b) + 1e-12) ^ 2 }
        END { n = 0; for (v in runs) n++
              if (rows != n) { printf "%d rows, want %d (one per value)\n", rows, n; bad = 1 }
              if (!bad) printf "aggregate.csv: %d rows match the runs recomputed by awk\n", rows
              exit bad }' "$dir/independent.txt" "$dir/aggregate.csv"
}
