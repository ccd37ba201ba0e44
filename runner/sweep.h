/*
 * sweep.h -- parameter and seed sweeps (apical sweep, apical-mpi sweep).
 *
 * A sweep file names a base circuit, axes of values for key paths of it
 * (applied as `apical run --set key=value`), and the metrics to collect.
 * Its runs are the cartesian product of the axes; run i lives in
 * OUT/run-NNNN and is an ordinary `apical run` child process.  Shared by
 * the local scheduler (sweep_cli.c) and the MPI one (sweep_mpi.c).
 * Nothing here prints or exits; errors come back in err.
 */
#ifndef APICAL_SWEEP_H
#define APICAL_SWEEP_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct apical_sweep_axis {
    char *name;             /* column name: `name:` or the first key */
    char **keys;            /* key paths set to each value */
    size_t n_keys;
    char **values;          /* as written (or formatted from a range) */
    size_t n_values;
    int average;            /* replicates: averaged over (key seed, or average: true) */
} apical_sweep_axis;

typedef struct apical_sweep_metric {
    char *name;             /* as written: COLUMN or COLUMN@STIMULUS */
    char *column;           /* the column of metrics.csv */
    char *stimulus;         /* NULL, or only the rows of this stimulus (dynamics) */
    int best_is_max;        /* best = the largest value (else the smallest) */
} apical_sweep_metric;

typedef struct apical_sweep {
    char *file;             /* the sweep file */
    char *base;             /* the base circuit, resolved against the sweep file */
    char *out;              /* the sweep directory */
    char **sets;            /* fixed overrides "key=value" */
    size_t n_sets;
    apical_sweep_axis *axes;
    size_t n_axes;
    apical_sweep_metric *metrics;
    size_t n_metrics;
    apical_sweep_metric select; /* select: the row each run is read at for
                                   M_selected (name NULL: none) */
    size_t n_runs;          /* product of the axes' sizes */
    size_t n_points;        /* product of the non-averaged axes' sizes */
} apical_sweep;

enum apical_sweep_state {
    APICAL_SWEEP_FRESH = 0,     /* never started (or to be started over) */
    APICAL_SWEEP_RESUME = 1,    /* interrupted: a checkpoint to continue from */
    APICAL_SWEEP_OK = 2,        /* finished */
    APICAL_SWEEP_FAILED = 3     /* finished with an error (recorded in its status) */
};

/* Read a sweep file; errors read FILE:LINE:COL: what was expected (2). out
   may be NULL (then the file's `out:`, else runs/<file name>). */
int apical_sweep_load(apical_sweep *s, const char *file, const char *out, char *err,
                      size_t cap);
/* The same from an open stream, FILE naming it in messages and resolving
   base: against its directory. */
int apical_sweep_read(apical_sweep *s, FILE *f, const char *file, const char *out, char *err,
                      size_t cap);
void apical_sweep_free(apical_sweep *s);

/* The value index of axis a in run i (the last axis varies fastest). */
size_t apical_sweep_index(const apical_sweep *s, size_t run, size_t axis);
/* The point (combination of non-averaged axes) run i belongs to. */
size_t apical_sweep_point(const apical_sweep *s, size_t run);
void apical_sweep_run_dir(const apical_sweep *s, size_t run, char *dir, size_t cap);
/* The overrides run i is made with, "key=value" as `apical run --set`
   takes them: the sweep's set:, then each axis's keys at the run's value.
   One allocation (free() it), NULL-terminated, *n the count; NULL when out
   of memory. */
char **apical_sweep_run_sets(const apical_sweep *s, size_t run, size_t *n);
/* mkdir -p: DIR and its missing parents; 0 or -1 (errno). */
int apical_mkdir_p(const char *dir);

/* Create the sweep directory and check that run directories already there
   were made by the same sweep (same arguments); force starts every run
   over instead. */
int apical_sweep_prepare(const apical_sweep *s, int force, char *err, size_t cap);
/* Where run i stands, from its directory. */
int apical_sweep_state(const apical_sweep *s, size_t run);

/* Start run i as a child process of exe (`apical run ...`, or `run
   --resume` from its checkpoint) with stdout and stderr appended to its
   run.log; single_thread sets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS to 1
   where unset.  The child gets SIGTERM if its parent dies.  Returns the
   pid, or -1. */
pid_t apical_sweep_spawn(const apical_sweep *s, size_t run, const char *exe, int single_thread,
                         char *err, size_t cap);

/* After run i's child ended with wait status wstatus: record it in the
   run's status file (first line "ok" or "failed EXIT", then the message:
   the run's last "apical: " line) and return APICAL_SWEEP_OK or
   APICAL_SWEEP_FAILED; or APICAL_SWEEP_RESUME without recording anything
   when the run was stopped with a checkpoint (a signal, a stopped sweep). */
int apical_sweep_finish(const apical_sweep *s, size_t run, int wstatus, char *msg, size_t cap);
/* The message recorded for run i (empty if none). */
void apical_sweep_message(const apical_sweep *s, size_t run, char *msg, size_t cap);

/* Write OUT/runs.csv (one row per run: axis values, status, exit code,
   message, final and best of each metric) and OUT/aggregate.csv (one row
   per point: mean and standard deviation over its finished runs).  If
   summary is not NULL, it gets the lines for the console: the first
   collected metric's final mean and standard deviation per point (at most
   12), and a line for each metric that no finished run has a value for (a
   name that is not a column of their metrics.csv). */
int apical_sweep_aggregate(const apical_sweep *s, char *summary, size_t scap, char *err,
                           size_t cap);

/* The directory of the running executable (for finding apical / apical-mpi
   beside it); 0 on success. */
int apical_sweep_exe(char *path, size_t cap);

#endif
