/*
 * sweep_cli.c -- `apical sweep SWEEP.yaml [--out DIR] [--jobs N] [--force]`:
 * the runs of a sweep as local child processes, N at a time (default: one
 * per core), then the tables.
 *
 * Under mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE, PMIx PMIX_RANK) the
 * command hands over to apical-mpi, the same driver built with MPI, so
 * that `mpirun -n 4 apical sweep ...` works and the apical binary itself
 * does not link MPI (every `apical run` would load it).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apical_runner.h"
#include "sweep.h"
#include "sweep_cli.h"

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
    *file = *out = NULL;
    *jobs = 0;
    *force = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            *out = argv[++i];
        } else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
            char *end;
            *jobs = strtol(argv[++i], &end, 10);
            if (*end || *jobs < 1)
                return -1;
        } else if (strcmp(argv[i], "--force") == 0) {
            *force = 1;
        } else if (argv[i][0] == '-' || *file) {
            return -1;
        } else {
            *file = argv[i];
        }
    }
    return *file ? 0 : -1;
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
    if (apical_sweep_parse_args(argc, argv, &file, &out, &jobs, &force) != 0) {
        fprintf(stderr, "usage: apical sweep SWEEP.yaml [--out DIR] [--jobs N] [--force]\n");
        return 2;
    }
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
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = run_pool(&s, &p, todo, n_todo, exe, &next, &stopped);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
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
