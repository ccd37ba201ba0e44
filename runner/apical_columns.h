/*
 * apical_columns.h -- the columns of a run's metrics.csv and of its
 * terminal table, per mode.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 */
#ifndef APICAL_COLUMNS_H
#define APICAL_COLUMNS_H

#include <stddef.h>
#include <stdio.h>

#include "apical_circuit.h"
#include "apical_run.h"
#include "apical_steady.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every kind of column: its name, or the prefix of a per-population or
   per-evaluated-set column ("apical_sq_" stands for apical_sq_<pop>); the
   mode whose metrics.csv has it (APICAL_MODE_STEADY: steady and backprop);
   per: 0 one column, 1 one per evaluated stimulus, 2 one per population;
   is_metric: a measured value (not where the run stands: phase, pattern,
   epoch, patterns); the panel of `apical plot`'s figure of a steady or
   backprop run that shows it (0 none, 1 classification error, 2 squared
   potentials and copy deviations, 3 angles, 4 cosines) and its curve's
   title there (label, then the population or stimulus); and what it holds.
   Ends with a NULL pattern (metric_kinds.c). */
typedef struct apical_metric_kind {
    const char *pattern;
    int mode;
    int per;
    int is_metric;
    int panel;
    const char *label;
    const char *doc;
} apical_metric_kind;
extern const apical_metric_kind apical_metric_kinds[];
/* The kind of column NAME in MODE, or NULL. */
const apical_metric_kind *apical_metric_kind_of(int mode, const char *name);
/* 1 when NAME can be a measured column of metrics.csv in MODE. */
int apical_metric_known(int mode, const char *name);
/* The measured columns of MODE, "a, b, error_<stim>, ...", into buf (at most
   cap bytes); returns the length it needed. */
size_t apical_metric_list(int mode, char *buf, size_t cap);

enum apical_column_metric {
    APICAL_COL_PHASE = 1, APICAL_COL_PATTERN, APICAL_COL_T_MS, APICAL_COL_APICAL_SQ,
    APICAL_COL_MISMATCH_SQ, APICAL_COL_TEST_ERROR, APICAL_COL_ANGLE_DEG, APICAL_COL_BP_COSINE,
    APICAL_COL_WALL, APICAL_COL_EPOCH, APICAL_COL_PATTERNS, APICAL_COL_SECONDS,
    APICAL_COL_TRAIN_ERROR, APICAL_COL_GFLOPS, APICAL_COL_ERROR, APICAL_COL_APICAL_SQ_POP,
    APICAL_COL_ANGLE_POP, APICAL_COL_BP_COS_POP, APICAL_COL_FA_COS_POP, APICAL_COL_COPY_DEV_POP,
    APICAL_COL_CLASS_ERROR, APICAL_COL_STIMULUS
};

/* One column of a run: in metrics.csv when name is not empty (its value
   printed with csv_fmt), in the terminal table when head is not empty
   (head printed as it is, the value times term_scale with term_fmt).  The
   list is in each output's order. */
typedef struct apical_column {
    int metric;                 /* enum apical_column_metric */
    size_t index;               /* the population, or the evaluated stimulus's place */
    char name[80];
    char head[40];
    const char *csv_fmt, *term_fmt;
    double term_scale;
} apical_column;

/* The columns of a run, into out (at most cap); returns how many there
   are (call with cap 0 to count). */
size_t apical_dynamics_columns(apical_column *out, size_t cap);
/* A dynamics run's columns: those, and class_error when a stimulus is an
   idx file with a taught population (its classification error). */
size_t apical_dynamics_columns_for(const apical_circuit *c, apical_column *out, size_t cap);
size_t apical_steady_columns(const apical_circuit *c, const apical_steady_opts *o,
                             apical_column *out, size_t cap);
/* A column's value (wall: seconds since the run started). */
double apical_dynamics_value(const apical_column *col, const apical_metrics *m, double wall);
double apical_steady_value(const apical_column *col, const apical_epoch_metrics *m);
/* 1 when the value is a count, printed as a long. */
int apical_column_integer(const apical_column *col);
/* The header line, or a row (vals[i]: column i's value; phase: the phase
   column's), of metrics.csv (csv 1: the named columns, comma-separated,
   values with csv_fmt) or of the terminal table (csv 0: the columns with
   a head, values times term_scale with term_fmt). */
void apical_columns_put_header(FILE *f, const apical_column *cols, size_t n, int csv);
void apical_columns_put_row(FILE *f, const apical_column *cols, size_t n, const double *vals,
                            int csv, const char *phase, const char *stimulus);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_COLUMNS_H */
