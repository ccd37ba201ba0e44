/*
 * cli_run.c -- apical run and apical check: the arguments, the terminal
 * table and progress line, and the signals that stop a run with a
 * checkpoint; the run directory itself is libapical's (rundir.c).
 */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apical_runner.h"
#include "cli.h"
#include "sweep.h"

static const apical_cli_opt set_opt = {
    "--set", "KEY=VALUE", "override a key of the file, e.g. seed=3,\n"
                          "simulation.phases.0.patterns=3000 or\n"
                          "projections.NAME.rule.RULE.eta=0; VALUE null\n"
                          "removes the key; repeatable"
};

static const apical_cli_opt run_opts[] = {
    { "--out", "DIR", "the run directory (default: runs/<file name>-<date>-<time>)" },
    { "--force", NULL, "replace the run DIR holds (without it, DIR is refused)" },
    set_opt,
    { "--resume", "DIR", "continue the stopped run in DIR from its checkpoint (no FILE,\n"
                         "--out or --force); with --set, under changed keys,\n"
                         "written into DIR/config.yaml: what comes after the\n"
                         "checkpoint (phases, rates, epochs, record) and the\n"
                         "cells' and rules' parameters and the noise, not the\n"
                         "circuit's structure; a finished dynamics run has\n"
                         "nothing left to resume (scripts/warm-start starts a\n"
                         "new run from its weights)" },
};
enum { RUN_OUT, RUN_FORCE, RUN_SET, RUN_RESUME };

const apical_cli_cmd apical_run_cmd = {
    "run",
    "apical run FILE.yaml [--out DIR] [--force] [--set KEY=VALUE]...\n"
    "apical run --resume DIR [--set KEY=VALUE]...",
    "run a circuit, or continue a stopped run",
    "Run the circuit FILE.yaml describes: integrate its dynamics phase by phase, or\n"
    "train it epoch by epoch in steady or backprop mode (simulation.mode).  The\n"
    "metrics are printed as they are measured and written into the run directory,\n"
    "with config.yaml (the input as run), metrics.csv, checkpoint.bin and, where the\n"
    "file asks for them, traces.csv and weights/.  SIGINT, SIGTERM or SIGHUP stops the\n"
    "run after writing a checkpoint (exit status 3); --resume continues it.",
    run_opts, sizeof run_opts / sizeof *run_opts,
};

const apical_cli_cmd apical_check_cmd = {
    "check",
    "apical check FILE.yaml [--set KEY=VALUE]...",
    "validate a circuit or sweep file without running it",
    "Read FILE.yaml with the overrides, load the modules it names and build the\n"
    "circuit, then say what it holds (populations, projections, weights, stimuli,\n"
    "phases), without running it.  An error is reported at its FILE:LINE:COL (exit\n"
    "status 2).  A sweep file (sweep: 1) is read, and its base circuit built with\n"
    "the sweep's set: and each value of each axis in turn (the other axes at their\n"
    "first value).",
    &set_opt, 1,
};

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

/* The terminal's view of a run: its table on stdout, a progress line on
   stderr when that is a terminal. */
typedef struct term_state {
    int tty;
    double t0;
    double last_draw;
    double last_error;
} term_state;

static void on_start(void *user, const apical_column *cols, size_t n)
{
    (void)user;
    apical_columns_put_header(stdout, cols, n, 0);
}

static void on_row(void *user, const apical_column *cols, size_t n, const double *vals,
                   const char *phase, const char *stimulus)
{
    term_state *s = user;
    s->last_error = NAN;
    for (size_t i = 0; i < n; i++)
        if (cols[i].metric == APICAL_COL_TEST_ERROR ||
            (cols[i].metric == APICAL_COL_ERROR && cols[i].index == 0))
            s->last_error = vals[i];
    if (s->tty)
        fprintf(stderr, "\r\033[K");
    apical_columns_put_row(stdout, cols, n, vals, 0, phase, stimulus);
    fflush(stdout);
}

static void on_progress(void *user, long done, long total)
{
    term_state *s = user;
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

static void on_warning(void *user, const char *msg)
{
    (void)user;
    fprintf(stderr, "apical: %s\n", msg);
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
    if (a->resume && (a->file || a->out || a->force))
        return apical_cli_fail(cmd, "--resume DIR continues the run in DIR (no FILE, --out or "
                                    "--force; --set changes its configuration)");
    if (!a->file && !a->resume)
        return apical_cli_fail(cmd, "no circuit file given");
    *done = 0;
    return 0;
}

/* The run of cfg into dir, on the terminal; returns the exit code. */
static int run_in(apical_config *cfg, const char *dir, const run_args *a, const char *file)
{
    char err[8192];
    term_state t = { isatty(STDERR_FILENO), now(), 0, NAN };
    apical_rundir_opts o = {
        a->resume ? APICAL_RUNDIR_RESUME : a->force ? APICAL_RUNDIR_FORCE : APICAL_RUNDIR_NEW,
        file, a->sets, a->n_sets, on_start, on_row, on_progress, on_warning, &stop_requested, &t
    };
    apical_rundir *rd;
    int rc = apical_rundir_open(&rd, dir, cfg, &o, err, sizeof err);
    const apical_run_pos *pos = rc == 0 ? apical_rundir_resumed(rd) : NULL;
    int steady = cfg->steady.mode != APICAL_MODE_DYNAMICS;
    /* a dynamics run past its last phase: nothing to run, nothing written */
    int ended = pos && !steady && pos->phase >= cfg->run.n_phases;
    if (pos && steady)
        printf("resuming %s after epoch %llu\n", dir, (unsigned long long)pos->phase);
    else if (ended)
        printf("%s ended at pattern %lld (t = %g ms), after its last phase: nothing to "
               "resume\n", dir, (long long)pos->pattern, (double)pos->step * cfg->run.dt);
    else if (pos)
        printf("resuming %s at pattern %lld (t = %g ms)\n", dir, (long long)pos->pattern,
               (double)pos->step * cfg->run.dt);
    long start_epoch = pos ? (long)pos->phase : 0;
    if (rc == 0 && !ended) {
        catch_stop_signals();
        rc = apical_rundir_run(rd, err, sizeof err);
    }
    if (rc == APICAL_EXIT_STOPPED)
        fprintf(stderr, "apical: %s; continue with: apical run --resume %s\n", err, dir);
    else if (rc != 0)
        fprintf(stderr, "apical: %s\n", err);
    else if (steady)
        printf("done: %ld epochs in %.2f s; results in %s/\n",
               cfg->steady.epochs > start_epoch ? cfg->steady.epochs - start_epoch : 0,
               now() - t.t0, dir);
    else if (!ended)
        printf("done: %ld patterns in %.2f s; results in %s/\n",
               apical_run_total_patterns(&cfg->run), now() - t.t0, dir);
    int crc = apical_rundir_close(rd, err, sizeof err);
    if (crc != 0 && rc == 0) {
        fprintf(stderr, "apical: %s\n", err);
        rc = crc;
    }
    return rc;
}

int apical_cmd_run(int argc, char **argv)
{
    run_args a;
    int done, arc = read_run_args(&apical_run_cmd, argc, argv, &a, &done);
    if (done) {
        free(a.sets);
        return arc;
    }
    const char *file = a.file, *out = a.out;
    char resume_cfg[4200];
    if (a.resume) {
        snprintf(resume_cfg, sizeof resume_cfg, "%s/config.yaml", a.resume);
        file = resume_cfg;
        out = a.resume;
    }
    char err[2048], dir[4096];
    apical_registry *reg = apical_registry_new(NULL);
    apical_config cfg;
    if (!reg) {
        fprintf(stderr, "apical: out of memory\n");
        free(a.sets);
        return 1;
    }
    int rc = apical_config_load_file_set(&cfg, reg, file, a.sets, a.n_sets, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "apical: %s\n", err);
        apical_registry_free(reg);
        free(a.sets);
        return 2;
    }
    if (out)
        snprintf(dir, sizeof dir, "%s", out);
    else
        apical_rundir_default(file, dir, sizeof dir);
    rc = run_in(&cfg, dir, &a, file);
    free(a.sets);
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return rc;
}

/* A sweep file: a top-level key sweep: (a line that starts with it; the
   circuit schema has no such key). */
static int is_sweep_file(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[512];
    int yes = 0, start = 1; /* the buffer holds the start of a line */
    while (f && !yes && fgets(line, sizeof line, f)) {
        yes = start && strncmp(line, "sweep:", 6) == 0;
        start = strchr(line, '\n') != NULL;
    }
    if (f)
        fclose(f);
    return yes;
}

/* A metric COLUMN@STIMULUS of the sweep names a stimulus of the circuit;
   0, or 2 having said which does not. */
static int check_metric_stimuli(const char *file, const apical_sweep *s, const apical_circuit *c)
{
    for (size_t m = 0; m <= s->n_metrics; m++) {
        const apical_sweep_metric *mt = m < s->n_metrics ? &s->metrics[m] : &s->select;
        if (!mt->stimulus || apical_circuit_stim(c, mt->stimulus, NULL))
            continue;
        fprintf(stderr, "apical: %s: %s %s: the base circuit has no stimulus '%s' (it has:",
                file, m < s->n_metrics ? "collect" : "select", mt->name, mt->stimulus);
        for (size_t i = 0; i < apical_circuit_n_stims(c); i++)
            fprintf(stderr, " %s", apical_stim_name(apical_circuit_stim_at(c, i)));
        fprintf(stderr, ")\n");
        return 2;
    }
    return 0;
}

/* apical check SWEEP.yaml: the sweep file, then its base circuit with the
   overrides of the runs that take each axis value in turn (the other axes
   at their first value), the command line's last. */
static int check_sweep(const char *file, const char **cli_sets, size_t n_cli)
{
    apical_sweep s;
    char err[2048];
    if (apical_sweep_load(&s, file, NULL, err, sizeof err)) {
        fprintf(stderr, "apical: %s\n", err);
        return 2;
    }
    apical_registry *reg = apical_registry_new(NULL);
    int rc = reg ? 0 : 1;
    size_t values = 0;
    for (size_t a = 0; a < s.n_axes && !rc; a++) {
        size_t stride = 1; /* runs between two values of axis a: the last varies fastest */
        for (size_t b = a + 1; b < s.n_axes; b++)
            stride *= s.axes[b].n_values;
        for (size_t v = 0; v < s.axes[a].n_values && !rc; v++, values++) {
            size_t n;
            char **run = apical_sweep_run_sets(&s, v * stride, &n);
            const char **sets = run ? malloc((n + n_cli + 1) * sizeof *sets) : NULL; /* never 0 */
            if (!sets) {
                free(run);
                rc = 1;
                break;
            }
            memcpy(sets, run, n * sizeof *sets);
            memcpy(sets + n, cli_sets, n_cli * sizeof *sets);
            apical_config cfg;
            if (apical_config_load_file_set(&cfg, reg, s.base, sets, n + n_cli, err,
                                            sizeof err) != 0) {
                fprintf(stderr, "apical: %s: axis %s = %s: %s\n", file, s.axes[a].name,
                        s.axes[a].values[v], err);
                rc = 2;
            } else {
                rc = check_metric_stimuli(file, &s, cfg.circuit);
                apical_config_free(&cfg);
            }
            free(sets);
            free(run);
        }
    }
    if (!rc)
        printf("%s: ok: %zu runs (%zu point%s) of %s into %s; the circuit builds with each of "
               "the %zu axis values; collects %zu metrics%s%s\n", file, s.n_runs, s.n_points,
               s.n_points == 1 ? "" : "s", s.base, s.out, values, s.n_metrics,
               s.select.name ? ", selects by " : "", s.select.name ? s.select.name : "");
    apical_registry_free(reg);
    apical_sweep_free(&s);
    return rc;
}

/* apical check FILE.yaml [--set ...]: build the circuit, run nothing. */
int apical_cmd_check(int argc, char **argv)
{
    run_args a;
    int done, arc = read_run_args(&apical_check_cmd, argc, argv, &a, &done);
    if (done) {
        free(a.sets);
        return arc;
    }
    const char *file = a.file;
    if (is_sweep_file(file)) {
        int src = check_sweep(file, a.sets, a.n_sets);
        free(a.sets);
        return src;
    }
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
        printf("%s: ok: %zu populations, %zu projections (%zu weights), %zu stimuli, ", file,
               apical_circuit_n_pops(c), apical_circuit_n_projs(c), weights,
               apical_circuit_n_stims(c));
        if (apical_config_mode(&cfg) == APICAL_MODE_DYNAMICS)
            printf("%zu phases, %ld training patterns\n", cfg.run.n_phases,
                   apical_run_total_patterns(&cfg.run));
        else
            printf("%s mode, %ld epochs over stimulus %s\n",
                   apical_config_mode(&cfg) == APICAL_MODE_BACKPROP ? "backprop" : "steady",
                   cfg.steady.epochs,
                   apical_stim_name(apical_circuit_stim_at(c, cfg.steady.train)));
    }
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return rc ? 2 : 0;
}
