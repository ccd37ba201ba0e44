/*
 * sweep_cli.c -- `apical sweep SWEEP.yaml [--out DIR] [--jobs N] [--force]`:
 * the runs of a sweep as local child processes, N at a time (default: one
 * per core), then the tables.  Also what every command of apical (and
 * apical-mpi) uses to read its options and print its --help.
 *
 * Under mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE, PMIx PMIX_RANK) the
 * command hands over to apical-mpi, the same driver built with MPI, so
 * that `mpirun -n 4 apical sweep ...` works and the apical binary itself
 * does not link MPI (every `apical run` would load it).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apical_runner.h"
#include "sweep.h"
#include "sweep_cli.h"
#include "yamlutil.h"

#ifndef APICAL_MODULE_DIR
#define APICAL_MODULE_DIR "/usr/local/lib/apical"
#endif

/* ---- options and --help ------------------------------------------------ */

int apical_cli_fail(const apical_cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "apical %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n'apical %s --help' shows its usage\n", cmd->name);
    va_end(ap);
    return 2;
}

size_t apical_cli_near(const char *given)
{
    size_t letters = strlen(given + strspn(given, "-"));
    return letters < 3 ? letters : 3;
}

/* The option of cmd meant by an unknown one (NAME, LEN characters): the
   one it begins, if only one, else the nearest within two edits; NULL if
   none is near. */
static const char *nearest_option(const apical_cli_cmd *cmd, const char *name, size_t len)
{
    char given[64];
    if (len >= sizeof given)
        return NULL;
    snprintf(given, sizeof given, "%.*s", (int)len, name);
    const char *best = NULL, *extends = NULL;
    size_t best_d = apical_cli_near(given), n_extend = 0;
    for (size_t i = 0; i <= cmd->n_opts; i++) {
        const char *o = i < cmd->n_opts ? cmd->opts[i].name : "--help";
        if (len > 2 && strncmp(o, given, len) == 0)
            extends = o, n_extend++;
        size_t d = apical_yaml_distance(given, o);
        if (d < best_d)
            best = o, best_d = d;
    }
    return n_extend == 1 ? extends : best;
}

int apical_cli_next(apical_cli *c, const char **val)
{
    *val = NULL;
    if (c->i >= c->argc)
        return APICAL_CLI_END;
    const char *a = c->argv[c->i++];
    if (c->operands_only || a[0] != '-' || a[1] == 0) {
        *val = a;
        return APICAL_CLI_OPERAND;
    }
    if (strcmp(a, "--") == 0) {
        c->operands_only = 1;
        return apical_cli_next(c, val);
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
        return APICAL_CLI_HELP;
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    for (size_t k = 0; k < c->cmd->n_opts; k++) {
        const apical_cli_opt *o = &c->cmd->opts[k];
        if (strlen(o->name) != len || strncmp(o->name, a, len) != 0)
            continue;
        if (!o->arg && eq) {
            apical_cli_fail(c->cmd, "%s takes no value", o->name);
            return APICAL_CLI_ERROR;
        }
        if (o->arg) {
            if (eq)
                *val = eq + 1;
            else if (c->i < c->argc)
                *val = c->argv[c->i++];
            else {
                apical_cli_fail(c->cmd, "%s needs a value (%s %s)", o->name, o->name, o->arg);
                return APICAL_CLI_ERROR;
            }
        }
        return (int)k;
    }
    const char *near = nearest_option(c->cmd, a, len);
    if (near)
        apical_cli_fail(c->cmd, "unknown option '%.*s' (did you mean '%s'?)", (int)len, a, near);
    else
        apical_cli_fail(c->cmd, "unknown option '%.*s'", (int)len, a);
    return APICAL_CLI_ERROR;
}

int apical_cli_asks_help(const apical_cli_cmd *cmd, int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
        for (size_t k = 0; k < cmd->n_opts; k++)
            if (cmd->opts[k].arg && !strcmp(argv[i], cmd->opts[k].name)) {
                i++; /* its value */
                break;
            }
    }
    return 0;
}

void apical_cli_help_footer(FILE *f)
{
    fprintf(f,
            "exit status:\n"
            "  0  done\n"
            "  1  failed: the run diverged, or files could not be written (modules: none\n"
            "     found, or a property of --check failed; plot: gnuplot failed)\n"
            "  2  bad input: an invalid circuit or sweep file (FILE:LINE:COL), a bad --set,\n"
            "     a missing data file, a refused directory, a circuit too large, wrong usage\n"
            "  3  stopped by SIGINT, SIGTERM or SIGHUP after writing a checkpoint: 'apical\n"
            "     run --resume DIR' continues the run, the same 'apical sweep' command a\n"
            "     sweep\n"
            "\n"
            "environment:\n"
            "  APICAL_MODULE_PATH   colon-separated directories searched for cell and rule\n"
            "                       modules (NAME.so), before the system's: %s\n"
            "  APICAL_MODULE_SYSTEM_PATH  the system's directories instead of that one\n"
            "                       (empty: none); the first module of a name wins\n"
            "  APICAL_DATA          a directory searched for the data files a circuit names\n"
            "                       by a relative path, before $XDG_DATA_HOME/apical\n"
            "                       (~/.local/share/apical); apical data mnist fetches\n"
            "                       MNIST into it\n"
            "  APICAL_MEMORY_LIMIT  bytes a circuit's buffers may take (default: the memory\n"
            "                       available): 2e9, 512M, 4G (K, M, G, T: powers of 1024),\n"
            "                       0 for none; a larger circuit, or another value, is\n"
            "                       refused, exit status 2\n"
            "  OMP_NUM_THREADS      the most threads a run uses (default: one per core); the\n"
            "                       numbers do not depend on it\n"
            "  OPENBLAS_NUM_THREADS threads of OpenBLAS (default: 1, on the calling thread)\n"
            "  APICAL_MPI           under mpirun, the apical-mpi program a sweep is handed\n"
            "                       to (default: beside apical, then in the bin directory)\n",
            APICAL_MODULE_DIR);
}

void apical_cli_help(FILE *f, const apical_cli_cmd *cmd)
{
    const char *p = cmd->synopsis;
    for (int first = 1; *p; first = 0) {
        size_t len = strcspn(p, "\n");
        fprintf(f, "%s%.*s\n", first ? "usage: " : "       ", (int)len, p);
        p += len + (p[len] == '\n');
    }
    fprintf(f, "\n%s\n", cmd->about);
    fprintf(f, "\noptions:\n");
    for (size_t i = 0; i <= cmd->n_opts; i++) {
        char head[64];
        const apical_cli_opt *o = i < cmd->n_opts ? &cmd->opts[i] : NULL;
        snprintf(head, sizeof head, "%s%s%s", o ? o->name : "-h, --help", o && o->arg ? " " : "",
                 o && o->arg ? o->arg : "");
        /* the description's lines, the first beside the option */
        const char *d = o ? o->doc : "print this help and exit";
        for (int first = 1; *d; first = 0) {
            size_t len = strcspn(d, "\n");
            fprintf(f, "  %-18s %.*s\n", first ? head : "", (int)len, d);
            d += len + (d[len] == '\n');
        }
    }
    fputc('\n', f);
    apical_cli_help_footer(f);
}

static const apical_cli_opt sweep_opts[] = {
    { "--out", "DIR", "the sweep directory (default: the file's out:, else\n"
                      "runs/<file name>)" },
    { "--jobs", "N", "runs at a time (default: one per core); not under mpirun" },
    { "--force", NULL, "replace another sweep in DIR, starting every run over" },
};

const apical_cli_cmd apical_sweep_cmd = {
    "sweep",
    "apical sweep SWEEP.yaml [--out DIR] [--jobs N] [--force]\n"
    "mpirun -n N apical sweep SWEEP.yaml [--out DIR] [--force]",
    "run a circuit over a grid of parameters and seeds, then tabulate",
    "Run the circuit a sweep file names once for every combination of its axes (keys\n"
    "as apical run --set takes them, and seeds): each run is 'apical run' into\n"
    "DIR/run-NNNN/, N at a time, or shared among the ranks under mpirun.  At the end\n"
    "DIR/runs.csv has a row per run and DIR/aggregate.csv the mean and standard\n"
    "deviation over the seeds of each collected metric; 'apical plot DIR' draws them.\n"
    "A stopped sweep (exit status 3) resumes with the same command: finished runs are\n"
    "kept, stopped ones continue from their checkpoints.",
    sweep_opts, sizeof sweep_opts / sizeof *sweep_opts,
};

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int under_mpirun(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v)
        v = getenv("PMI_SIZE");
    if (!v && getenv("PMIX_RANK"))
        v = "2";
    return v && atoi(v) > 1;
}

/* apical-mpi beside this executable (in a libtool build tree the real
   binary is in runner/.libs/, apical-mpi in runner/), or in bindir. */
static int exec_mpi(char **argv)
{
    char self[4096], helper[4200];
    const char *env = getenv("APICAL_MPI");
    if (apical_sweep_exe(self, sizeof self) != 0) {
        fprintf(stderr, "apical: cannot find this executable\n");
        return 2;
    }
    setenv("APICAL_EXE", self, 1);
    char *slash = strrchr(self, '/');
    *slash = 0;
    const char *libs = strrchr(self, '/');
    if (env)
        snprintf(helper, sizeof helper, "%s", env);
    else if (libs && strcmp(libs, "/.libs") == 0)
        snprintf(helper, sizeof helper, "%.*s/apical-mpi", (int)(libs - self), self);
    else
        snprintf(helper, sizeof helper, "%s/apical-mpi", self);
    if (access(helper, X_OK) != 0)
        snprintf(helper, sizeof helper, "%s/apical-mpi", APICAL_BINDIR);
    if (access(helper, X_OK) != 0) {
#ifdef APICAL_HAVE_MPI
        fprintf(stderr, "apical: started by mpirun, but apical-mpi (the MPI build of the sweep "
                        "driver) is not beside apical or in %s\n", APICAL_BINDIR);
#else
        fprintf(stderr, "apical: started by mpirun, but this apical was built without MPI "
                        "(configure found no mpicc / ompi-c; install libopenmpi-dev and "
                        "rebuild), or run the sweep locally: apical sweep FILE --jobs N\n");
#endif
        return 2;
    }
    argv[0] = helper;
    execv(helper, argv);
    fprintf(stderr, "apical: cannot run %s: %s\n", helper, strerror(errno));
    return 2;
}

static void describe(const apical_sweep *s, size_t run, char *buf, size_t cap)
{
    size_t u = 0;
    buf[0] = 0;
    for (size_t a = 0; a < s->n_axes && u < cap; a++)
        u += (size_t)snprintf(buf + u, cap - u, "%s%s=%s", a ? " " : "", s->axes[a].name,
                              s->axes[a].values[apical_sweep_index(s, run, a)]);
}

void apical_sweep_report(const apical_sweep *s, size_t run, int state, double secs, size_t done,
                         size_t total, const char *msg)
{
    char what[1024];
    describe(s, run, what, sizeof what);
    printf("[%zu/%zu] run-%04zu %-7s %7.1f s  %s%s%s\n", done, total, run,
           state == APICAL_SWEEP_OK ? "ok" : state == APICAL_SWEEP_FAILED ? "FAILED" : "stopped",
           secs, what, msg && msg[0] ? "  -- " : "", msg ? msg : "");
    fflush(stdout);
}

int apical_sweep_parse_args(int argc, char **argv, const char **file, const char **out,
                            long *jobs, int *force)
{
    const apical_cli_cmd *cmd = &apical_sweep_cmd;
    apical_cli c = { cmd, argc, 0, argv, 0 };
    const char *v;
    *file = *out = NULL;
    *jobs = 0;
    *force = 0;
    for (int k; (k = apical_cli_next(&c, &v)) != APICAL_CLI_END;) {
        if (k == APICAL_CLI_HELP) {
            apical_cli_help(stdout, cmd);
            return APICAL_CLI_HELP;
        }
        if (k == APICAL_CLI_ERROR)
            return -1;
        if (k == APICAL_CLI_OPERAND && *file)
            return apical_cli_fail(cmd, "one sweep file only: '%s' and '%s'", *file, v), -1;
        if (k == APICAL_CLI_OPERAND) {
            *file = v;
        } else if (!strcmp(cmd->opts[k].name, "--out")) {
            *out = v;
        } else if (!strcmp(cmd->opts[k].name, "--jobs")) {
            char *end;
            *jobs = strtol(v, &end, 10);
            if (end == v || *end || *jobs < 1)
                return apical_cli_fail(cmd, "--jobs takes a whole number of 1 or more, not '%s'",
                                       v), -1;
        } else {
            *force = 1;
        }
    }
    if (!*file)
        return apical_cli_fail(cmd, "no sweep file given"), -1;
    return 0;
}

/* Runs in progress: slot k runs run slot_run[k] as process pids[k] (0: free). */
typedef struct pool {
    long jobs, running;
    pid_t *pids;
    size_t *slot_run;
    double *slot_t0;
} pool;

/* Start todo[*next], ... while slots are free; 0, or 1 when a run could not
   be started (then the sweep stops). */
static int fill_slots(apical_sweep *s, pool *p, const size_t *todo, size_t n_todo, size_t *next,
                      const char *exe)
{
    char err[2048];
    while (p->running < p->jobs && *next < n_todo && !stopping) {
        long k = 0;
        while (p->pids[k])
            k++;
        size_t run = todo[(*next)++];
        pid_t pid = apical_sweep_spawn(s, run, exe, p->jobs > 1, err, sizeof err);
        if (pid < 0) {
            fprintf(stderr, "apical: run-%04zu: %s\n", run, err);
            stopping = 1;
            return 1;
        }
        p->pids[k] = pid;
        p->slot_run[k] = run;
        p->slot_t0[k] = now();
        p->running++;
    }
    return 0;
}

/* The runs of todo, jobs at a time, each reported as it ends; on SIGINT or
   SIGTERM the running ones are told to checkpoint and stop.  *next: how
   many were started; *stopped: how many stopped with a checkpoint. */
static int run_pool(apical_sweep *s, pool *p, const size_t *todo, size_t n_todo,
                    const char *exe, size_t *next, size_t *stopped)
{
    size_t done = 0;
    int forwarded = 0, rc = 0;
    while ((*next < n_todo && !stopping) || p->running > 0) {
        if (fill_slots(s, p, todo, n_todo, next, exe) != 0)
            rc = 1;
        if (stopping && !forwarded) { /* the runs checkpoint and stop */
            for (long k = 0; k < p->jobs; k++)
                if (p->pids[k])
                    kill(p->pids[k], SIGTERM);
            forwarded = 1;
        }
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (long k = 0; k < p->jobs; k++) {
            if (p->pids[k] != pid)
                continue;
            char msg[2048];
            int st = apical_sweep_finish(s, p->slot_run[k], ws, msg, sizeof msg);
            if (st == APICAL_SWEEP_RESUME)
                (*stopped)++;
            else
                done++;
            apical_sweep_report(s, p->slot_run[k], st, now() - p->slot_t0[k],
                                s->n_runs - n_todo + done, s->n_runs, msg);
            p->pids[k] = 0;
            p->running--;
        }
    }
    return rc;
}

/* The runs still to do (fresh or stopped), in order; prints the plan. */
static size_t runs_to_do(const apical_sweep *s, const char *file, long jobs, size_t *todo)
{
    size_t n_todo = 0, n_resume = 0;
    for (size_t i = 0; i < s->n_runs; i++) {
        int st = apical_sweep_state(s, i);
        if (st == APICAL_SWEEP_FRESH || st == APICAL_SWEEP_RESUME)
            todo[n_todo++] = i;
        n_resume += st == APICAL_SWEEP_RESUME;
    }
    printf("sweep %s: %zu runs at %zu points in %s; %zu finished earlier, %zu to resume, "
           "%zu to start; %ld at a time\n", file, s->n_runs, s->n_points, s->out,
           s->n_runs - n_todo, n_resume, n_todo - n_resume, jobs);
    fflush(stdout);
    return n_todo;
}

int apical_cmd_sweep(int argc, char **argv)
{
    if (under_mpirun())
        return exec_mpi(argv - 2); /* argv[-1] is "sweep", argv[-2] the program */
    const char *file, *out;
    long jobs;
    int force;
    int parsed = apical_sweep_parse_args(argc, argv, &file, &out, &jobs, &force);
    if (parsed != 0)
        return parsed == APICAL_CLI_HELP ? 0 : 2;
    if (!jobs)
        jobs = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    char err[2048], exe[4096];
    apical_sweep s;
    int rc = apical_sweep_load(&s, file, out, err, sizeof err);
    if (rc) {
        fprintf(stderr, "apical: %s\n", err);
        return rc;
    }
    if (apical_sweep_exe(exe, sizeof exe) != 0) {
        fprintf(stderr, "apical: cannot find this executable\n");
        apical_sweep_free(&s);
        return 1;
    }
    if ((rc = apical_sweep_prepare(&s, force, err, sizeof err)) != 0) {
        fprintf(stderr, "apical: %s\n", err);
        apical_sweep_free(&s);
        return rc;
    }
    size_t *todo = malloc(s.n_runs * sizeof *todo);
    pool p = { jobs, 0, calloc((size_t)jobs, sizeof(pid_t)), calloc((size_t)jobs, sizeof(size_t)),
               calloc((size_t)jobs, sizeof(double)) };
    if (!todo || !p.pids || !p.slot_run || !p.slot_t0) {
        fprintf(stderr, "apical: out of memory\n");
        free(todo), free(p.pids), free(p.slot_run), free(p.slot_t0);
        apical_sweep_free(&s);
        return 1;
    }
    size_t n_todo = runs_to_do(&s, file, jobs, todo), next = 0, stopped = 0;
    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    rc = run_pool(&s, &p, todo, n_todo, exe, &next, &stopped);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    char sum[4096];
    if (apical_sweep_aggregate(&s, sum, sizeof sum, err, sizeof err) != 0) {
        fprintf(stderr, "apical: %s\n", err);
        rc = 1;
    }
    if (stopping && rc == 0) {
        fprintf(stderr, "apical: sweep stopped (%zu runs left to do); run the same "
                        "command again to resume\n", stopped + (n_todo - next));
        rc = APICAL_EXIT_STOPPED;
    } else if (rc == 0) {
        size_t failed = 0;
        for (size_t i = 0; i < s.n_runs; i++)
            failed += apical_sweep_state(&s, i) == APICAL_SWEEP_FAILED;
        printf("done: %zu runs, %zu failed; tables in %s/aggregate.csv and %s/runs.csv\n",
               s.n_runs, failed, s.out, s.out);
        fputs(sum, stdout);
    }
    free(todo);
    free(p.pids);
    free(p.slot_run);
    free(p.slot_t0);
    apical_sweep_free(&s);
    return rc;
}
