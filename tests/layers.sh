#!/bin/sh
# libapical's source files call each other only downwards: no two files in a
# cycle (scripts/layers reads the built objects' symbol tables).
set -eu
srcdir=${APICAL_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
command -v nm >/dev/null && command -v tsort >/dev/null ||
    { echo "skip: needs nm and tsort"; exit 77; }
"$srcdir/scripts/layers" .
