/*
 * sweep_mpi.c -- apical-mpi: `mpirun -n N apical sweep SWEEP.yaml` (apical
 * hands over to this program under mpirun) or `mpirun -n N apical-mpi
 * sweep SWEEP.yaml`.
 *
 * A work queue on rank 0: each rank runs one run at a time as a child
 * process (`apical run`, exactly as the local driver does), and asks rank 0
 * for the next when it is done, so that runs of uneven length balance.
 * Rank 0 hands out work and also runs runs itself: with 2 ranks, two runs
 * go at once.  Nobody waits in a blocking MPI call (Open MPI's spin on the
 * CPU the runs need): ranks poll with short sleeps.  Every rank reads the
 * sweep file; the sweep directory must be on a file system that all ranks
 * share (run directories are written by the rank that runs them, the
 * tables by rank 0).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "sweep.h"
#include "sweep_cli.h"

enum { TAG_WORK = 1, TAG_DONE = 2 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void nap(void)
{
    struct timespec ts = { 0, 2000000 }; /* 2 ms */
    nanosleep(&ts, NULL);
}

/* The apical binary that runs the runs: the one that handed over (its path
   in APICAL_EXE), else apical beside this program. */
static int find_apical(char *path, size_t cap)
{
    const char *env = getenv("APICAL_EXE");
    if (env) {
        snprintf(path, cap, "%s", env);
        return access(path, X_OK);
    }
    char self[4096];
    if (apical_sweep_exe(self, sizeof self) != 0 || cap < sizeof self + 8)
        return -1;
    *strrchr(self, '/') = 0;
    snprintf(path, cap, "%.4000s/apical", self);
    return access(path, X_OK);
}

/* Wait (politely) for a message from rank 0 with the next run. */
static long recv_work(void)
{
    long run = -1;
    MPI_Request rq;
    int flag = 0;
    MPI_Irecv(&run, 1, MPI_LONG, 0, TAG_WORK, MPI_COMM_WORLD, &rq);
    for (;;) {
        MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
        if (flag)
            return run;
        nap();
    }
}

static int worker(const apical_sweep *s, const char *exe)
{
    long msg[2] = { -1, 0 }; /* run done (-1: ready), its state */
    for (;;) {
        MPI_Send(msg, 2, MPI_LONG, 0, TAG_DONE, MPI_COMM_WORLD);
        long run = recv_work();
        if (run < 0)
            return 0;
        char err[2048];
        int st = APICAL_SWEEP_FAILED, ws;
        pid_t pid = apical_sweep_spawn(s, (size_t)run, exe, 1, err, sizeof err);
        if (pid < 0)
            fprintf(stderr, "apical-mpi: run-%04ld: %s\n", run, err);
        else if (waitpid(pid, &ws, 0) == pid)
            st = apical_sweep_finish(s, (size_t)run, ws, err, sizeof err);
        msg[0] = run;
        msg[1] = st;
    }
}

/* Every worker's ready message, then stop them all at once (a worker
   stopped early would spin in MPI_Finalize beside the runs); idle holds the
   n_idle ranks already waiting. */
static void release_workers(int size, int *idle, int n_idle)
{
    while (n_idle < size - 1) {
        int flag;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_DONE, MPI_COMM_WORLD, &flag, &status);
        if (!flag) {
            nap();
            continue;
        }
        long in[2];
        MPI_Recv(in, 2, MPI_LONG, status.MPI_SOURCE, TAG_DONE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        idle[n_idle++] = status.MPI_SOURCE;
    }
    long stop = -1;
    for (int i = 0; i < n_idle; i++)
        MPI_Send(&stop, 1, MPI_LONG, idle[i], TAG_WORK, MPI_COMM_WORLD);
}

/* The sweep's tables, and its summary unless a run could not be started
   (rc 1); returns rc, or 1 when the tables could not be written. */
static int finish(const apical_sweep *s, int rc)
{
    char err[2048], sum[4096];
    if (apical_sweep_aggregate(s, sum, sizeof sum, err, sizeof err) != 0) {
        fprintf(stderr, "apical-mpi: %s\n", err);
        return 1;
    }
    if (rc)
        return rc;
    size_t failed = 0;
    for (size_t i = 0; i < s->n_runs; i++)
        failed += apical_sweep_state(s, i) == APICAL_SWEEP_FAILED;
    printf("done: %zu runs, %zu failed; tables in %s/aggregate.csv and %s/runs.csv\n",
           s->n_runs, failed, s->out, s->out);
    fputs(sum, stdout);
    return 0;
}

static int dispatcher(const apical_sweep *s, const char *exe, int size, const char *file)
{
    size_t *todo = malloc(s->n_runs * sizeof *todo), n_todo = 0, next = 0, done = 0;
    double *t0 = calloc(s->n_runs, sizeof *t0);
    int *idle = calloc((size_t)size, sizeof *idle), n_idle = 0;
    if (!todo || !t0 || !idle) {
        fprintf(stderr, "apical-mpi: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (size_t i = 0; i < s->n_runs; i++) {
        int st = apical_sweep_state(s, i);
        if (st == APICAL_SWEEP_FRESH || st == APICAL_SWEEP_RESUME)
            todo[n_todo++] = i;
    }
    printf("sweep %s: %zu runs at %zu points in %s; %zu finished earlier, %zu to run on %d MPI "
           "ranks (rank 0 runs runs too)\n", file, s->n_runs, s->n_points, s->out,
           s->n_runs - n_todo, n_todo, size);
    fflush(stdout);
    pid_t own = 0;
    size_t own_run = 0;
    int rc = 0;
    while (done < n_todo) {
        int busy = 0;
        char msg[2048];
        if (!own && next < n_todo) { /* rank 0's own run */
            own_run = todo[next++];
            t0[own_run] = now();
            if ((own = apical_sweep_spawn(s, own_run, exe, 1, msg, sizeof msg)) < 0) {
                fprintf(stderr, "apical-mpi: run-%04zu: %s\n", own_run, msg);
                own = 0;
                done++;
                rc = 1;
            }
            busy = 1;
        }
        int ws;
        if (own && waitpid(own, &ws, WNOHANG) == own) {
            int st = apical_sweep_finish(s, own_run, ws, msg, sizeof msg);
            apical_sweep_report(s, own_run, st, now() - t0[own_run],
                                s->n_runs - n_todo + ++done, s->n_runs, msg);
            own = 0;
            busy = 1;
        }
        int flag;
        MPI_Status status;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_DONE, MPI_COMM_WORLD, &flag, &status);
        if (flag) {
            long in[2];
            MPI_Recv(in, 2, MPI_LONG, status.MPI_SOURCE, TAG_DONE, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            if (in[0] >= 0) {
                apical_sweep_message(s, (size_t)in[0], msg, sizeof msg);
                apical_sweep_report(s, (size_t)in[0], (int)in[1], now() - t0[in[0]],
                                    s->n_runs - n_todo + ++done, s->n_runs, msg);
            }
            if (next < n_todo) {
                long run = (long)todo[next++];
                t0[run] = now();
                MPI_Send(&run, 1, MPI_LONG, status.MPI_SOURCE, TAG_WORK, MPI_COMM_WORLD);
            } else {
                idle[n_idle++] = status.MPI_SOURCE; /* released at the end */
            }
            busy = 1;
        }
        if (!busy)
            nap();
    }
    release_workers(size, idle, n_idle);
    rc = finish(s, rc);
    free(todo);
    free(t0);
    free(idle);
    return rc;
}

int main(int argc, char **argv)
{
    const char *file, *out;
    long jobs;
    int force;
    if (argc < 2 || strcmp(argv[1], "sweep") != 0) {
        fprintf(stderr, "usage: mpirun -n N apical-mpi sweep SWEEP.yaml [--out DIR] [--force]\n");
        return 2;
    }
    int parsed = apical_sweep_parse_args(argc - 2, argv + 2, &file, &out, &jobs, &force);
    if (parsed != 0)
        return parsed == APICAL_CLI_HELP ? 0 : 2;
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char err[2048], exe[4096];
    apical_sweep s;
    /* every rank reads the file; rank 0 prepares the directory first */
    int rc = apical_sweep_load(&s, file, out, err, sizeof err);
    if (rc == 0 && find_apical(exe, sizeof exe) != 0) {
        snprintf(err, sizeof err, "cannot find the apical program (set APICAL_EXE)");
        apical_sweep_free(&s);
        rc = 2;
    }
    if (rc == 0 && rank == 0)
        rc = apical_sweep_prepare(&s, force, err, sizeof err);
    int all = rc;
    MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (all != 0) {
        if (rc != 0 && (rank == 0 || rc != all))
            fprintf(stderr, "apical: %s\n", err);
        if (rc == 0)
            apical_sweep_free(&s);
        MPI_Finalize();
        return all;
    }
    rc = rank == 0 ? dispatcher(&s, exe, size, file) : worker(&s, exe);
    apical_sweep_free(&s);
    MPI_Finalize();
    return rc;
}
