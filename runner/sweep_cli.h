/*
 * sweep_cli.h -- the sweep command, shared by apical and apical-mpi.
 */
#ifndef APICAL_SWEEP_CLI_H
#define APICAL_SWEEP_CLI_H

#include <stddef.h>

#include "sweep.h"

/* apical sweep ARGS (argv after "sweep"); the exit code. */
int apical_cmd_sweep(int argc, char **argv);
/* SWEEP.yaml [--out DIR] [--jobs N] [--force]: 0, or -1 (usage). */
int apical_sweep_parse_args(int argc, char **argv, const char **file, const char **out,
                            long *jobs, int *force);
/* One line on stdout for a run that ended. */
void apical_sweep_report(const apical_sweep *s, size_t run, int state, double secs, size_t done,
                         size_t total, const char *msg);

#endif
