#!/bin/sh
# The apical Python package (python/apical/) against the apical command and
# NumPy: pytest over tests/python/ (without pytest, tests/python/run.py runs
# the same tests).  Skipped (77) where /usr/bin/python3 or NumPy is missing,
# or where asked to (the sanitizer build: an instrumented libapical cannot
# be loaded into an uninstrumented Python).
: "${APICAL_BUILDDIR:?run through make check}"
[ "${APICAL_SKIP_PYTHON:-0}" = 1 ] && { echo "skip: asked to (sanitizer build)"; exit 77; }
py=/usr/bin/python3
[ -x "$py" ] || { echo "skip: no $py"; exit 77; }
"$py" -c 'import numpy' 2>/dev/null || { echo "skip: no NumPy (python3-numpy)"; exit 77; }
PYTHONPATH="$APICAL_SRCDIR/python${PYTHONPATH:+:$PYTHONPATH}"
APICAL_LIBRARY="$APICAL_BUILDDIR/runner/.libs/libapical.so.0"
export PYTHONPATH APICAL_LIBRARY
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
if "$py" -c 'import pytest' 2>/dev/null; then
    "$py" -m pytest -q -rs -p no:cacheprovider --basetemp="$tmp/t" "$APICAL_SRCDIR/tests/python"
else
    echo "no pytest (python3-pytest): running the tests with tests/python/run.py"
    "$py" "$APICAL_SRCDIR/tests/python/run.py" "$tmp/t"
fi
