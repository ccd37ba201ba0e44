/*
 * plot_sweep.c -- `apical plot SWEEPDIR [--metric M] [--x AXIS]`: a
 * collected metric against an axis of a sweep, mean over the replicates
 * (seeds) with their standard deviation as error bars, from aggregate.csv;
 * a sweep over seeds alone: its runs' curves in one figure.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

#define MAX_COLS 256
#define MAX_GROUPS 32

/* Split a CSV line in place; a field in double quotes (an axis value with
   a comma, a message) may hold commas and doubled quotes (RFC 4180). */
static int split(char *line, char **cols)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line; n < MAX_COLS;) {
        cols[n++] = p;
        char *c;
        if (*p == '"') { /* unquote in place */
            char *w = p, *r = p + 1;
            for (; *r && !(r[0] == '"' && r[1] != '"'); r++) {
                if (r[0] == '"')
                    r++;
                *w++ = *r;
            }
            c = *r ? strchr(r + 1, ',') : NULL;
            *w = 0;
        } else {
            c = strchr(p, ',');
        }
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    return n;
}

/* A sweep over replicates only (no axis to plot against): its runs' curves
   in one figure, DIR/runs.png, from runs.csv's dir column. */
static int plot_replicates(const char *dir, char *err, size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/runs.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: no runs.csv", dir);
        return 2;
    }
    char *line = NULL, *row[MAX_COLS], **dirs = NULL;
    size_t lcap = 0, n = 0, dcap = 0;
    int oom = 0;
    if (getline(&line, &lcap, f) > 0)
        while (!oom && getline(&line, &lcap, f) > 0) {
            if (split(line, row) < 2)
                continue;
            if (n == dcap) {
                char **more = realloc(dirs, (dcap = dcap ? 2 * dcap : 16) * sizeof *dirs);
                if (!more) {
                    oom = 1;
                    break;
                }
                dirs = more;
            }
            size_t len = strlen(dir) + strlen(row[1]) + 16;
            char *d = malloc(len);
            if (!d) {
                oom = 1;
                break;
            }
            snprintf(d, len, "%s/%s/metrics.csv", dir, row[1]);
            FILE *m = fopen(d, "r");
            if (m) { /* a run not started yet has no curve */
                fclose(m);
                snprintf(d, len, "%s/%s", dir, row[1]);
                dirs[n++] = d;
            } else {
                free(d);
            }
        }
    free(line);
    fclose(f);
    int rc = 2;
    if (oom) {
        snprintf(err, cap, "out of memory");
        rc = 1;
    } else if (n == 0) {
        snprintf(err, cap, "%s: no run has a metrics.csv yet", dir);
    } else {
        snprintf(path, sizeof path, "%s/runs", dir);
        rc = apical_plot_compare((const char *const *)dirs, n, path, err, cap);
    }
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
    return rc;
}

/* The rows of aggregate.csv after its header: the groups (distinct values
   of the axes other than xc, as "i=value,..."; strdup'ed) and the range of
   the x axis. */
static int read_groups(FILE *f, int nc, int n_axes, int xc, char **groups, double *xmin,
                       double *xmax)
{
    char *line = NULL, *row[MAX_COLS];
    size_t lcap = 0;
    int n_groups = 0;
    while (getline(&line, &lcap, f) > 0) {
        int n = split(line, row);
        if (n != nc)
            continue;
        double x = strtod(row[xc], NULL);
        *xmin = fmin(*xmin, x);
        *xmax = fmax(*xmax, x);
        char g[1024] = "";
        size_t u = 0;
        for (int i = 0; i < n_axes; i++)
            if (i != xc && u < sizeof g)
                u += (size_t)snprintf(g + u, sizeof g - u, "%s%d=%s", u ? "," : "", i, row[i]);
        int seen = 0;
        for (int i = 0; i < n_groups && !seen; i++)
            seen = strcmp(groups[i], g) == 0;
        if (!seen && n_groups < MAX_GROUPS)
            groups[n_groups++] = strdup(g);
    }
    free(line);
    return n_groups;
}

/* The gnuplot commands of the figure: one line with error bars per group,
   metric column mc against axis column xc. */
static void plot_body(char *body, size_t cap, const char *dir, char *const *cols, int xc, int mc,
                      const char *mname, char *const *groups, int n_groups, int logx)
{
    size_t u = (size_t)snprintf(body, cap,
                                "  %s logscale x\n  set format x \"%s\"\n"
                                "  set xlabel \"%s\" noenhanced\n"
                                "  set ylabel \"%s (final)\" noenhanced\n"
                                "  set title \"%s: mean and standard deviation over replicates\" "
                                "noenhanced\n  plot ",
                                logx ? "set" : "unset", logx ? "10^{%T}" : "% h", cols[xc], mname,
                                dir);
    for (int g = 0; g < n_groups && u < cap - 1024; g++) {
        /* a condition on each other axis: strcol(i+1) eq "value" */
        char cond[1024] = "1", title[1024] = "";
        size_t cu = 1, tu = 0;
        for (char *p = groups[g]; *p && cu < sizeof cond - 64;) {
            int col = atoi(p);
            char *eq = strchr(p, '='), *comma = strchr(eq, ',');
            int len = comma ? (int)(comma - eq - 1) : (int)strlen(eq + 1);
            cu += (size_t)snprintf(cond + cu, sizeof cond - cu, " && strcol(%d) eq \"%.*s\"",
                                   col + 1, len, eq + 1);
            if (tu < sizeof title)
                tu += (size_t)snprintf(title + tu, sizeof title - tu, "%s%s=%.*s",
                                       tu ? " " : "", cols[col], len, eq + 1);
            p = comma ? comma + 1 : eq + 1 + len;
        }
        u += (size_t)snprintf(body + u, cap - u,
                              "%sA skip 1 using (%s ? column(%d) : NaN):%d:"
                              "(column(%d) == column(%d) ? column(%d) : 0) "
                              "with yerrorlines pt 7 ps 0.6 lw 1.5 title \"%s\"",
                              g ? ", \\\n       " : "", cond, xc + 1, mc + 1, mc + 2, mc + 2,
                              mc + 2, n_groups > 1 ? title : mname);
    }
    snprintf(body + u, cap - u, "\n");
}

int apical_plot_sweep(const char *dir, const char *metric, const char *x_axis, char *wrote,
                      size_t wcap, char *err, size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/aggregate.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: no aggregate.csv (is it a sweep directory?)", dir);
        return 2;
    }
    char *line = NULL, *hdr = NULL, *cols[MAX_COLS];
    size_t lcap = 0;
    int rc = 2;
    if (getline(&line, &lcap, f) <= 0) {
        snprintf(err, cap, "%s: empty", path);
        goto done;
    }
    hdr = strdup(line);
    int nc = hdr ? split(hdr, cols) : 0, n_axes = 0, xc = -1, mc = -1;
    while (n_axes < nc && strcmp(cols[n_axes], "runs") != 0)
        n_axes++;
    if (n_axes == 0 && nc > 0 && !x_axis) {
        rc = plot_replicates(dir, err, cap);
        snprintf(wrote, wcap, "%s/runs", dir);
        goto done;
    }
    if (n_axes == nc || n_axes == 0) {
        snprintf(err, cap, "%s: no axis columns before 'runs'", path);
        goto done;
    }
    for (int i = 0; i < n_axes; i++)
        if (!x_axis || strcmp(cols[i], x_axis) == 0) {
            xc = i;
            break;
        }
    char want[256];
    for (int i = n_axes; i < nc && mc < 0; i++) {
        size_t l = strlen(cols[i]);
        snprintf(want, sizeof want, "%s_final_mean", metric ? metric : "");
        if (metric ? strcmp(cols[i], want) == 0
                   : l > 11 && strcmp(cols[i] + l - 11, "_final_mean") == 0)
            mc = i;
    }
    if (xc < 0 || mc < 0) {
        snprintf(err, cap, "%s: no %s column '%s'", path, xc < 0 ? "axis" : "metric",
                 xc < 0 ? x_axis : metric);
        goto done;
    }
    char mname[256];
    snprintf(mname, sizeof mname, "%.*s", (int)(strlen(cols[mc]) - 11), cols[mc]);
    snprintf(wrote, wcap, "%s/%s", dir, mname);
    /* the groups: distinct values of the other axes; log x if it spans
       decades of positive values */
    char *groups[MAX_GROUPS];
    double xmin = INFINITY, xmax = -INFINITY;
    int n_groups = read_groups(f, nc, n_axes, xc, groups, &xmin, &xmax);
    snprintf(path, sizeof path, "%s/%s.gp", dir, mname);
    FILE *gp = fopen(path, "w");
    if (!gp) {
        snprintf(err, cap, "cannot write %s", path);
        rc = 1;
        goto free_groups;
    }
    fprintf(gp, "# written by apical plot; gnuplot %s redraws\n"
                "set datafile separator \",\"\nset key outside right top noenhanced\nset grid\n"
                "set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05\n"
                "A = \"%s/aggregate.csv\"\n", path, dir);
    char body[32768];
    plot_body(body, sizeof body, dir, cols, xc, mc, mname, groups, n_groups,
              xmin > 0 && xmax / xmin >= 20);
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/%s", dir, mname);
    apical_plot_terminals(gp, prefix, 900, 550, body);
    if (fclose(gp) != 0) {
        snprintf(err, cap, "cannot write %s", path);
        rc = 1;
    } else {
        rc = apical_plot_gnuplot(path, err, cap);
    }
free_groups:
    for (int i = 0; i < n_groups; i++)
        free(groups[i]);
done:
    free(hdr);
    free(line);
    fclose(f);
    return rc;
}
