/*
 * columns.c -- the columns of metrics.csv and of the terminal table, per
 * mode: one table that the run's writers, `apical sweep` (which metrics it
 * may collect) and the documentation's test read.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "circuit_int.h"

static apical_column *add(apical_column *out, size_t cap, size_t *n, int metric, size_t index)
{
    apical_column *col = *n < cap ? &out[*n] : NULL;
    (*n)++;
    if (col) {
        memset(col, 0, sizeof *col);
        col->metric = metric;
        col->index = index;
        col->term_scale = 1;
    }
    return col;
}

/* name and terminal header; fmt: the csv value's format, term: the
   terminal's (with its leading space and width) */
static void set(apical_column *col, const char *name, const char *head, const char *fmt,
                const char *term)
{
    if (!col)
        return;
    snprintf(col->name, sizeof col->name, "%s", name);
    snprintf(col->head, sizeof col->head, "%s", head);
    col->csv_fmt = fmt;
    col->term_fmt = term;
}

size_t apical_dynamics_columns(apical_column *out, size_t cap)
{
    static const struct {
        int metric;
        const char *name, *label, *head, *fmt, *term;
    } t[] = {
        { APICAL_COL_PHASE, "phase", "phase", "%-6s", "%s", "%-6s" },
        { APICAL_COL_PATTERN, "pattern", "pattern", " %9s", "%ld", " %9ld" },
        { APICAL_COL_T_MS, "t_ms", "t_ms", " %12s", "%.10g", " %12.1f" },
        { APICAL_COL_APICAL_SQ, "apical_sq", "apical_sq", " %12s", "%.10g", " %12.5g" },
        { APICAL_COL_MISMATCH_SQ, "mismatch_sq", "mismatch_sq", " %12s", "%.10g", " %12.5g" },
        { APICAL_COL_TEST_ERROR, "test_error", "test_error", " %12s", "%.10g", " %12.5g" },
        { APICAL_COL_ANGLE_DEG, "angle_deg", "angle", " %7s", "%.10g", " %7.2f" },
        { APICAL_COL_BP_COSINE, "bp_cosine", NULL, NULL, "%.10g", NULL },
        { APICAL_COL_WALL, "", "wall_s", " %9s", NULL, " %9.1f" },
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char head[40] = "";
        if (t[i].label)
            snprintf(head, sizeof head, t[i].head, t[i].label);
        set(add(out, cap, &n, t[i].metric, 0), t[i].name, head, t[i].fmt, t[i].term);
    }
    return n;
}

size_t apical_dynamics_columns_for(const apical_circuit *c, apical_column *out, size_t cap)
{
    size_t n = apical_dynamics_columns(out, cap);
    for (size_t i = 0; i < c->n_stims; i++)
        if (c->stims[i].kind == APICAL_STIM_IDX && c->stims[i].has_target) {
            /* before the wall-time column, which only the terminal shows */
            apical_column *col = add(out, cap, &n, APICAL_COL_CLASS_ERROR, 0);
            set(col, "class_error", " class_err", "%.10g", " %10.4f");
            if (col && n >= 2) {
                apical_column wall = out[n - 2];
                out[n - 2] = *col;
                out[n - 1] = wall;
            }
            break;
        }
    /* the evaluated stimulus: the last column of both */
    set(add(out, cap, &n, APICAL_COL_STIMULUS, 0), "stimulus", " stimulus", "%s", " %s");
    return n;
}

/* Population i is an interneuron population whose dendritic weights copy a
   partner's: it has a copy_dev_<pop> column. */
static int has_copy(const apical_circuit *c, size_t i)
{
    return !isnan(apical_copy_deviation(c, i));
}

size_t apical_steady_columns(const apical_circuit *c, const apical_steady_opts *o,
                             apical_column *out, size_t cap)
{
    size_t n = 0;
    char name[80], head[40];
    apical_column *col;
    snprintf(head, sizeof head, "%5s", "epoch");
    set(add(out, cap, &n, APICAL_COL_EPOCH, 0), "epoch", head, "%ld", "%5ld");
    snprintf(head, sizeof head, " %9s", "patterns");
    set(add(out, cap, &n, APICAL_COL_PATTERNS, 0), "patterns", head, "%ld", " %9ld");
    snprintf(head, sizeof head, " %8s", "train%");
    if ((col = add(out, cap, &n, APICAL_COL_TRAIN_ERROR, 0))) {
        set(col, "", head, NULL, " %8.3f");
        col->term_scale = 100;
    }
    snprintf(head, sizeof head, " %8s", "seconds");
    set(add(out, cap, &n, APICAL_COL_SECONDS, 0), "seconds", head, "%.4f", " %8.2f");
    set(add(out, cap, &n, APICAL_COL_TRAIN_ERROR, 0), "train_error", "", "%.6g", NULL);
    snprintf(head, sizeof head, " %7s", "GFLOP/s");
    set(add(out, cap, &n, APICAL_COL_GFLOPS, 0), "", head, NULL, " %7.1f");
    /* csv order: epoch, patterns, seconds, train_error; the terminal's:
       epoch, patterns, train%, seconds, GFLOP/s (each list keeps its own
       order, so the two train_error entries sit where each wants them) */
    for (size_t e = 0; e < o->n_eval; e++) {
        const char *sn = c->stims[o->eval[e]].name;
        snprintf(name, sizeof name, "error_%s", sn);
        snprintf(head, sizeof head, " %8.8s%%", sn);
        if ((col = add(out, cap, &n, APICAL_COL_ERROR, e))) {
            set(col, name, head, "%.6g", " %9.3f");
            col->term_scale = 100;
        }
    }
    for (size_t i = 0; i < c->n_pops; i++)
        if (c->pops[i].apical_fed) {
            snprintf(name, sizeof name, "apical_sq_%s", c->pops[i].name);
            snprintf(head, sizeof head, " %11.11s", c->pops[i].name);
            set(add(out, cap, &n, APICAL_COL_APICAL_SQ_POP, i), name, head, "%.6g", " %11.4g");
        }
    snprintf(head, sizeof head, " %11s", "mismatch");
    set(add(out, cap, &n, APICAL_COL_MISMATCH_SQ, 0), "mismatch_sq", head, "%.6g", " %11.4g");
    for (size_t i = 0; i < c->n_pops; i++)
        if (c->pops[i].apical_fed) {
            char h[16];
            snprintf(name, sizeof name, "angle_%s", c->pops[i].name);
            snprintf(h, sizeof h, "deg_%s", c->pops[i].name);
            snprintf(head, sizeof head, " %11.11s", h);
            set(add(out, cap, &n, APICAL_COL_ANGLE_POP, i), name, head, "%.4f", " %11.2f");
        }
    for (size_t i = 0; o->bp_probe > 0 && o->mode == APICAL_MODE_STEADY && i < c->n_pops; i++)
        if (c->pops[i].apical_fed) {
            char h[16];
            snprintf(name, sizeof name, "bp_cosine_%s", c->pops[i].name);
            snprintf(h, sizeof h, "bp_%s", c->pops[i].name);
            snprintf(head, sizeof head, " %8.8s", h);
            set(add(out, cap, &n, APICAL_COL_BP_COS_POP, i), name, head, "%.6g", " %8.4f");
            snprintf(name, sizeof name, "fa_cosine_%s", c->pops[i].name);
            snprintf(h, sizeof h, "fa_%s", c->pops[i].name);
            snprintf(head, sizeof head, " %8.8s", h);
            set(add(out, cap, &n, APICAL_COL_FA_COS_POP, i), name, head, "%.6g", " %8.4f");
        }
    for (size_t i = 0; i < c->n_pops; i++)
        if (has_copy(c, i)) {
            char h[16];
            snprintf(name, sizeof name, "copy_dev_%s", c->pops[i].name);
            snprintf(h, sizeof h, "dev_%s", c->pops[i].name);
            snprintf(head, sizeof head, " %10.10s", h);
            set(add(out, cap, &n, APICAL_COL_COPY_DEV_POP, i), name, head, "%.6g", " %10.4g");
        }
    return n;
}

double apical_dynamics_value(const apical_column *col, const apical_metrics *m, double wall)
{
    switch (col->metric) {
    case APICAL_COL_PATTERN: return (double)m->pattern;
    case APICAL_COL_T_MS: return m->t_ms;
    case APICAL_COL_APICAL_SQ: return m->apical_sq;
    case APICAL_COL_MISMATCH_SQ: return m->mismatch_sq;
    case APICAL_COL_TEST_ERROR: return m->test_error;
    case APICAL_COL_ANGLE_DEG: return m->angle_deg;
    case APICAL_COL_BP_COSINE: return m->bp_cosine;
    case APICAL_COL_CLASS_ERROR: return m->class_error;
    case APICAL_COL_WALL: return wall;
    default: return NAN;
    }
}

double apical_steady_value(const apical_column *col, const apical_epoch_metrics *m)
{
    switch (col->metric) {
    case APICAL_COL_EPOCH: return (double)m->epoch;
    case APICAL_COL_PATTERNS: return (double)m->patterns;
    case APICAL_COL_SECONDS: return m->seconds;
    case APICAL_COL_TRAIN_ERROR: return m->train_error;
    case APICAL_COL_GFLOPS: return m->seconds > 0 ? 1e-9 * m->flop / m->seconds : 0.0;
    case APICAL_COL_ERROR: return m->error[col->index];
    case APICAL_COL_APICAL_SQ_POP: return m->apical_sq[col->index];
    case APICAL_COL_MISMATCH_SQ: return m->mismatch_sq;
    case APICAL_COL_ANGLE_POP: return m->angle_deg[col->index];
    case APICAL_COL_BP_COS_POP: return m->bp_cos[col->index];
    case APICAL_COL_FA_COS_POP: return m->fa_cos[col->index];
    case APICAL_COL_COPY_DEV_POP: return m->copy_dev[col->index];
    default: return NAN;
    }
}

int apical_column_integer(const apical_column *col)
{
    return col->metric == APICAL_COL_PATTERN || col->metric == APICAL_COL_EPOCH ||
           col->metric == APICAL_COL_PATTERNS;
}

/* One column's value in its format (csv or terminal). */
static void put_value(FILE *f, const apical_column *col, const char *fmt, double v,
                      const char *phase, const char *stimulus)
{
    if (col->metric == APICAL_COL_PHASE)
        fprintf(f, fmt, phase ? phase : "");
    else if (col->metric == APICAL_COL_STIMULUS)
        fprintf(f, fmt, stimulus ? stimulus : "");
    else if (apical_column_integer(col))
        fprintf(f, fmt, (long)v);
    else
        fprintf(f, fmt, v);
}

void apical_columns_put_header(FILE *f, const apical_column *cols, size_t n, int csv)
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

void apical_columns_put_row(FILE *f, const apical_column *cols, size_t n, const double *vals,
                            int csv, const char *phase, const char *stimulus)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (csv && cols[i].name[0]) {
            if (!first)
                fputc(',', f);
            put_value(f, &cols[i], cols[i].csv_fmt, vals[i], phase, stimulus);
            first = 0;
        } else if (!csv && cols[i].head[0]) {
            put_value(f, &cols[i], cols[i].term_fmt, cols[i].term_scale * vals[i], phase,
                      stimulus);
        }
    }
    fputc('\n', f);
}
