#!/bin/sh
# Brian2 drives apical's compiled modules through the apical package's bridge
# (python/apical/brian2.py); its traces must match `apical run` on the same
# circuit within 1e-9 (tests/brian2/).
# Skipped (77) where Debian's python3-brian is missing.
: "${APICAL_BUILDDIR:?run through make check}"
[ "${APICAL_SKIP_BRIAN2:-0}" = 1 ] && { echo "skip: asked to (sanitizer build)"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "skip: no /usr/bin/python3"; exit 77; }
PYTHONPATH="$APICAL_SRCDIR/python${PYTHONPATH:+:$PYTHONPATH}" \
APICAL_LIBRARY="$APICAL_BUILDDIR/runner/.libs/libapical.so.0" \
exec /usr/bin/python3 "$APICAL_SRCDIR/tests/brian2/equivalence.py" \
    "$APICAL_BUILDDIR/runner/apical" "$APICAL_BUILDDIR/models/.libs"
