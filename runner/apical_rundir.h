/*
 * apical_rundir.h -- a run of a loaded configuration into a run directory:
 * config.yaml, metrics.csv, traces.csv, weights/ and checkpoint.bin, the
 * files `apical run` writes (docs/output.md); a new run, one that replaces
 * the directory's run, or the directory's stopped run resumed from its
 * checkpoint.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * The functions return an APICAL_EXIT_* status (apical_run.h): 0 done,
 * APICAL_EXIT_FAILED (the run failed, or a file could not be written),
 * APICAL_EXIT_USAGE (bad input: the directory holds a run or is in use,
 * its checkpoint or files do not fit the configuration),
 * APICAL_EXIT_STOPPED (stopped with a checkpoint); with a one-line message
 * in the caller's err buffer (err, errcap).  Nothing here prints or exits.
 */
#ifndef APICAL_RUNDIR_H
#define APICAL_RUNDIR_H

#include <signal.h>
#include <stddef.h>

#include "apical_columns.h"
#include "apical_config.h"
#include "apical_run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apical_rundir apical_rundir;

/* How a run directory is started: refused when it holds a run (its
   metrics.csv); the run it holds replaced (traces.csv, checkpoint.bin and
   weights/ removed first); or its run continued from checkpoint.bin, with
   the configuration loaded from its config.yaml. */
enum apical_rundir_start {
    APICAL_RUNDIR_NEW = 0,
    APICAL_RUNDIR_FORCE = 1,
    APICAL_RUNDIR_RESUME = 2
};

typedef struct apical_rundir_opts {
    int start;                  /* enum apical_rundir_start */
    /* the circuit file and overrides config.yaml's first line names (new
       runs; file NULL: "-") */
    const char *file;
    const char *const *sets;
    size_t n_sets;
    /* all optional (NULL): */
    /* once the output files are ready, before the first step: the run's
       columns (metrics.csv's and the terminal table's, apical_columns.h) */
    void (*on_start)(void *user, const apical_column *cols, size_t n_cols);
    /* after each row of metrics.csv: a value per column, and the phase
       ("train", "test") and the evaluated stimulus's name of a dynamics run
       (both NULL in steady and backprop modes); wall-clock columns count
       from apical_rundir_open */
    void (*on_row)(void *user, const apical_column *cols, size_t n_cols, const double *vals,
                   const char *phase, const char *stimulus);
    /* after each training pattern (dynamics) or mini-batch */
    void (*on_progress)(void *user, long done, long total);
    /* a problem that does not end the run (a file that cannot be written
       ends it: every output file, weight snapshots too, is needed to resume) */
    void (*on_warning)(void *user, const char *msg);
    /* raised (non-zero) during the run: it stops after the current pattern
       or mini-batch with a checkpoint, status APICAL_EXIT_STOPPED */
    volatile sig_atomic_t *stop;
    void *user;
} apical_rundir_opts;

/* Lock dir (DIR/.lock, held until apical_rundir_close: another run in the
   same directory meanwhile is refused), then open its files as o->start
   says.  cfg (loaded by the caller, for RESUME from DIR/config.yaml) is the
   run's: it must outlive the run directory, and a resume loads the
   checkpoint into its circuit.  The caller closes *out even on failure (it
   may be NULL then). */
int apical_rundir_open(apical_rundir **out, const char *dir, apical_config *cfg,
                       const apical_rundir_opts *o, char *err, size_t errcap);
/* Where a resumed run continues (its checkpoint's position; epochs done in
   steady and backprop modes are in phase), or NULL for a new run. */
const apical_run_pos *apical_rundir_resumed(const apical_rundir *rd);
/* The run's columns; *n gets how many. */
const apical_column *apical_rundir_columns(const apical_rundir *rd, size_t *n);
/* Run to the end, or until *o->stop is raised. */
int apical_rundir_run(apical_rundir *rd, char *err, size_t errcap);
/* Close the files, release the lock and free rd (NULL: nothing).  Returns
   APICAL_EXIT_FAILED when an output file could not be written to its end. */
int apical_rundir_close(apical_rundir *rd, char *err, size_t errcap);

/* The directory of a run of file when none is given:
   runs/<file's name without extension>-<date>-<time>. */
void apical_rundir_default(const char *file, char *dir, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_RUNDIR_H */
