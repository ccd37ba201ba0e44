#!/bin/sh
# The command line: `apical --help`, `apical help` and every command's --help
# and -h exit 0 and print on stdout what it does, its options, the exit
# status and the environment; usage errors exit 2 with the problem named on
# stderr, with the known name nearest to a misspelt command, option, cell
# model or rule; the man page names every command, option and variable.
set -eu
: "${APICAL_BUILDDIR:?run through make check}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apical="$APICAL_BUILDDIR/runner/apical"
src=$APICAL_SRCDIR
fail() { echo "cli: $*"; exit 1; }

# has FILE WORD...: FILE holds each WORD (fixed strings)
has() {
    has_file=$1
    shift
    for w in "$@"; do
        grep -qF -e "$w" "$has_file" || { cat "$has_file"; fail "'$w' not in $has_file"; }
    done
}

# help ARGS...: exit 0, output on stdout only, with the exit status and the
# environment
help() {
    "$apical" "$@" >"$tmp/out" 2>"$tmp/err" || fail "apical $* exits $?"
    [ ! -s "$tmp/err" ] || { cat "$tmp/err"; fail "apical $* writes on stderr"; }
    has "$tmp/out" "exit status:" "  0  done" "  1  failed" "  2  bad input" "  3  stopped" \
        APICAL_MODULE_PATH APICAL_DATA APICAL_MEMORY_LIMIT OMP_NUM_THREADS
}

# usage_error WANT ARGS...: exit 2, WANT on stderr, nothing on stdout
usage_error() {
    want=$1
    shift
    if "$apical" "$@" >"$tmp/out" 2>"$tmp/err"; then fail "apical $* exits 0"; else rc=$?; fi
    [ "$rc" -eq 2 ] || { cat "$tmp/err"; fail "apical $* exits $rc, not 2"; }
    [ ! -s "$tmp/out" ] || { cat "$tmp/out"; fail "apical $* writes on stdout"; }
    has "$tmp/err" "$want"
}

commands="run check modules inspect plot sweep data"
for how in --help -h help; do
    help $how
    has "$tmp/out" "usage: apical COMMAND" "--version" help $commands
done

# each command: its synopsis and its options, the same text three ways
opts_run="--out --force --set --resume"
opts_check="--set"
opts_modules="--yaml --check"
opts_inspect=""
opts_plot="--out --metric --x"
opts_sweep="--out --jobs --force"
opts_data=""
for c in $commands; do
    eval "opts=\$opts_$c"
    help "$c" --help
    # shellcheck disable=SC2086
    has "$tmp/out" "usage: apical $c" "options:" "-h, --help" $opts
    cp "$tmp/out" "$tmp/help_$c"
    help "$c" -h
    cmp -s "$tmp/out" "$tmp/help_$c" || fail "apical $c -h differs from --help"
    help help "$c"
    cmp -s "$tmp/out" "$tmp/help_$c" || fail "apical help $c differs from apical $c --help"
    # --help wins wherever it stands
    help "$c" some-file --help
    # an unknown option is named
    usage_error "apical $c: unknown option '--bogus'" "$c" --bogus
    has "$tmp/err" "'apical $c --help'"
done

# commands: unknown, misspelt, missing
usage_error "apical: unknown command 'frobnicate'" frobnicate
grep -q "did you mean" "$tmp/err" && fail "a suggestion for 'frobnicate'"
usage_error "apical: unknown command 'rnu' (did you mean 'run'?)" rnu
usage_error "apical: unknown command 'chekc' (did you mean 'check'?)" chekc
usage_error "apical: unknown command 'sweeps' (did you mean 'sweep'?)" help sweeps
usage_error "apical: unknown option '--verison' (did you mean '--version'?)" --verison
usage_error "usage: apical COMMAND"
"$apical" --version | grep -q '^apical .* (module ABI '

# options: misspelt, abbreviated, without their value, with one too many
sps="$src/yaml/self_predicting.yaml"
usage_error "apical run: unknown option '--otu' (did you mean '--out'?)" run "$sps" --otu "$tmp/r"
usage_error "apical run: unknown option '--for' (did you mean '--force'?)" run "$sps" --for
usage_error "apical run: unknown option '--sett' (did you mean '--set'?)" run "$sps" --sett seed=2
usage_error "apical sweep: unknown option '--job' (did you mean '--jobs'?)" sweep x.yaml --job 2
usage_error "apical plot: unknown option '--metrc' (did you mean '--metric'?)" plot d --metrc m
usage_error "apical modules: unknown option '--yml' (did you mean '--yaml'?)" modules --yml
usage_error "apical run: --out needs a value" run "$sps" --out
usage_error "apical check: --set needs a value" check "$sps" --set
usage_error "apical run: --force takes no value" run "$sps" --force=yes
usage_error "apical sweep: --jobs takes a whole number of 1 or more, not 'two'" sweep x.yaml --jobs two
usage_error "apical run: no circuit file given" run
usage_error "apical run: one circuit file only" run "$sps" "$sps"
usage_error "apical run: --resume DIR continues the run in DIR" run "$sps" --resume "$tmp"
usage_error "apical inspect: no run directory given" inspect
usage_error "apical sweep: no sweep file given" sweep --jobs 2
usage_error "apical plot: several runs go into one figure: give it --out PREFIX" plot a b
usage_error "apical plot: --metric and --x choose what a sweep's figure shows" plot "$tmp" --x eta
# --opt=value is --opt value
"$apical" check "$sps" --set=seed=5 | grep -q ': ok: '

# module names: the nearest of the right kind
"$apical" check "$sps" --set populations.hidden.cell=pyramidl >/dev/null 2>"$tmp/err" && fail "pyramidl"
has "$tmp/err" "no cell model 'pyramidl'" "did you mean 'pyramidal'?"
"$apical" check "$src/tests/bad/misspelt_rule.yaml" >/dev/null 2>"$tmp/err" && fail "misspelt rule"
has "$tmp/err" "misspelt_rule.yaml:12:13: no plasticity rule 'Dendritic_Eror'" \
    "did you mean 'dendritic_error'?"

# the man page: every command, option and variable of the --help texts;
# rendered by groff without a warning where groff is installed
man="$src/apical.1"
[ -f "$man" ] || fail "no apical.1"
for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES \
    "SEE ALSO"; do
    grep -q "^\.SH \"*$s\"*\$" "$man" || fail "apical.1 has no section $s"
done
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$man" >"$tmp/man.txt"
for c in $commands; do
    eval "opts=\$opts_$c"
    # shellcheck disable=SC2086
    has "$tmp/man.txt" "apical $c" $opts
done
has "$tmp/man.txt" APICAL_MODULE_PATH APICAL_DATA APICAL_MEMORY_LIMIT OMP_NUM_THREADS --version
if command -v groff >/dev/null; then
    groff -man -Tutf8 -ww -z "$man" 2>"$tmp/groff" || fail "groff failed on apical.1"
    [ ! -s "$tmp/groff" ] || { cat "$tmp/groff"; fail "groff warns on apical.1"; }
fi
# the default run directory: runs/NAME-DATE-TIME, NAME the file's name without its
# extension (a dot inside the name kept)
cp "$src/yaml/self_predicting.yaml" "$tmp/my.v2.yaml"
(cd "$tmp" && "$apical" run my.v2.yaml --set simulation.phases.0.patterns=1 >/dev/null) ||
    fail "a run with the default directory failed"
ls -d "$tmp"/runs/my.v2-????????-?????? >/dev/null 2>&1 || { ls -R "$tmp/runs"; fail "no runs/my.v2-DATE-TIME"; }
# check names a steady run's mode and epochs (where MNIST is here)
if "$apical" check "$src/yaml/mnist.yaml" --set simulation.steady.epochs=7 >"$tmp/out" 2>"$tmp/err"; then
    has "$tmp/out" "steady mode, 7 epochs over stimulus train"
else
    grep -q 'apical data mnist' "$tmp/err" || { cat "$tmp/err"; fail "check yaml/mnist.yaml"; }
fi
echo "cli: ok"
