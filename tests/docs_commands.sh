#!/bin/sh
# The documentation's commands work as written: every `apical run` and
# `apical check` of a shipped circuit in README.md and docs/ (code blocks,
# with their continuation lines, and inline code) is checked with
# `apical check` and the same --set overrides: a stale key, projection name,
# file or option fails here.  Placeholders (FILE, DIR, ...) are left out;
# seed=N is tried as seed=1.  Circuits that need MNIST are skipped where it
# is missing.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
apical="$APICAL_BUILDDIR/runner/apical"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$APICAL_SRCDIR"
for f in README.md docs/*.md docs/results/*.md; do
    awk '
        /^```/ { block = !block; next }
        block {
            line = $0; sub(/^[ \t]*\$?[ \t]*/, "", line)
            if (cont) { cmd = cmd " " line } else { cmd = line }
            cont = sub(/[ \t]*\\$/, "", cmd)
            if (!cont && cmd ~ /^apical (run|check) /) print cmd
            next
        }
        {   s = $0
            while (match(s, /`apical (run|check) [^`]*`/)) {
                print substr(s, RSTART + 1, RLENGTH - 2)
                s = substr(s, RSTART + RLENGTH)
            }
        }' "$f"
done | grep -E '^apical (run|check) (yaml|examples)/' | grep -v -E 'FILE|DIR|\.\.\.|\[' |
    sort -u >"$tmp/commands"
n=0 skipped=0
while read -r line; do
    # run -> check; --out X and --force do not apply to check; a shell comment goes
    set -- $(echo "$line" | sed -e 's/^apical run /apical check /' -e 's/--out [^ ]*//' \
        -e 's/--force//' -e 's/=N\b/=1/g' -e 's/[[:space:]]#.*$//')
    shift # apical
    if "$apical" "$@" >"$tmp/out" 2>"$tmp/err"; then
        n=$((n + 1))
    elif grep -q 'apical data mnist' "$tmp/err"; then
        skipped=$((skipped + 1)) # MNIST is not here
    else
        echo "FAIL: $line"
        cat "$tmp/err"
        exit 1
    fi
done <"$tmp/commands"
[ "$n" -gt 0 ] || { echo "no command found in the documentation"; exit 1; }
echo "docs: $n commands check as written${skipped:+, $skipped skipped (no MNIST)}"
