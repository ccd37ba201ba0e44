/*
 * plot.c -- `apical plot DIR`: learning curves and traces of a run
 * directory as PNG and SVG, drawn by gnuplot.
 *
 * gnuplot (Debian's gnuplot-nox) rather than a C plotting library: it is a
 * separate program, so plotting adds no link dependency to the simulator,
 * reads the CSV files as they are, and the generated scripts (plot.gp, left
 * in the directory) can be edited and re-run by hand.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "apical_runner.h"
#include "plot.h"

#define MAX_GROUPS 32
#define MAX_VARS 8

typedef struct var { char name[64]; int first, last; } var;   /* columns, 1-based */
typedef struct group { char pop[64]; var vars[MAX_VARS]; int n_vars; } group;

/* Column groups of traces.csv: "pop.var[i]" by population, then variable. */
static int read_header(const char *path, group *g, int *n_groups)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int ok = getline(&line, &cap, f) > 0;
    fclose(f);
    *n_groups = 0;
    int col = 0;
    for (char *tok = ok ? strtok(line, ",\n") : NULL; tok; tok = strtok(NULL, ",\n")) {
        col++;
        char *dot = strchr(tok, '.'), *br = strchr(tok, '[');
        if (col == 1 || !dot || !br || br < dot)
            continue;
        char pop[64], name[64];
        snprintf(pop, sizeof pop, "%.*s", (int)(dot - tok), tok);
        snprintf(name, sizeof name, "%.*s", (int)(br - dot - 1), dot + 1);
        group *gr = NULL;
        for (int i = 0; i < *n_groups; i++)
            if (!strcmp(g[i].pop, pop))
                gr = &g[i];
        if (!gr && *n_groups < MAX_GROUPS) {
            gr = &g[(*n_groups)++];
            memset(gr, 0, sizeof *gr);
            snprintf(gr->pop, sizeof gr->pop, "%s", pop);
        }
        if (!gr)
            continue;
        var *v = NULL;
        for (int i = 0; i < gr->n_vars; i++)
            if (!strcmp(gr->vars[i].name, name))
                v = &gr->vars[i];
        if (!v && gr->n_vars < MAX_VARS) {
            v = &gr->vars[gr->n_vars++];
            snprintf(v->name, sizeof v->name, "%s", name);
            v->first = col;
        }
        if (v)
            v->last = col;
    }
    free(line);
    return ok ? 0 : -1;
}

#define MAX_SEGS 8

/* Time spans of traces.csv between blank lines (apical run writes one where
   time jumps over phases left untraced). */
static int read_segments(const char *path, double *t0, double *t1)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0, open = 0;
    getline(&line, &cap, f); /* header */
    while (getline(&line, &cap, f) > 0) {
        if (line[0] == '\n') {
            open = 0;
            continue;
        }
        double t = strtod(line, NULL);
        if (!open) {
            if (n == MAX_SEGS)
                break;
            t0[n++] = t;
            open = 1;
        }
        t1[n - 1] = t;
    }
    free(line);
    fclose(f);
    return n;
}

void apical_plot_terminals(FILE *gp, const char *prefix, int w, int h, const char *what)
{
    /* one script draws each figure twice: PREFIX.png, then PREFIX.svg.  The
       terminals take enhanced text (10^{-3} as a power in tic labels and
       fixed titles); names from the files (keys, populations, columns,
       directories) are marked noenhanced, so that an underscore stays one. */
    fprintf(gp, "do for [fmt in \"png svg\"] {\n"
                "  if (fmt eq \"png\") { set terminal pngcairo enhanced size %d,%d font \",10\" } "
                "else { set terminal svg enhanced size %d,%d dynamic font \",10\" }\n"
                "  set output sprintf(\"%s.%%s\", fmt)\n%s}\n",
            w, h, w, h, prefix, what);
}

int apical_plot_gnuplot(const char *script, char *err, size_t cap)
{
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", script);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(err, cap, "cannot run gnuplot");
        return 1;
    }
    char out[2048];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    if (st != 0 && WIFEXITED(st) && WEXITSTATUS(st) == 127) /* the shell found no gnuplot */
        snprintf(err, cap, "cannot run gnuplot: it is not installed, or not on PATH "
                 "(apt-get install gnuplot-nox)");
    else if (st != 0)
        snprintf(err, cap, "gnuplot failed on %s: %.900s", script, out);
    return st != 0;
}

#define MAX_COLS 32

/* The column names of a CSV file's first line; their count (0: none). */
static int csv_columns(const char *path, char cols[][64], int max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    if (getline(&line, &cap, f) > 0)
        for (char *tok = strtok(line, ",\r\n"); tok && n < max; tok = strtok(NULL, ",\r\n"))
            snprintf(cols[n++], 64, "%s", tok);
    free(line);
    fclose(f);
    return n;
}

/* Field COL (1-based) of a CSV line, or NULL where the line is shorter. */
static char *csv_field(char *line, int col)
{
    char *p = line;
    for (int c = 1; c < col && p; c++)
        if ((p = strchr(p, ',')))
            p++;
    return p;
}

/* Whether column COL (1-based) of a CSV file holds a number in some data
   row (a positive one when POSITIVE, for a log scale): gnuplot refuses a
   panel where no file has a point. */
static int has_data(const char *path, int col, int positive)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    getline(&line, &cap, f); /* header */
    while (!found && getline(&line, &cap, f) > 0) {
        char *p = csv_field(line, col);
        if (!p)
            continue;
        char *end;
        double v = strtod(p, &end);
        found = end != p && isfinite(v) && (!positive || v > 0);
    }
    free(line);
    fclose(f);
    return found;
}

/* The data rows of a CSV file (its lines after the header). */
static long data_rows(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long n = -1;
    for (int c, prev = '\n'; (c = getc(f)) != EOF; prev = c)
        n += prev == '\n' && c != '\n';
    fclose(f);
    return n > 0 ? n : 0;
}

/* The distinct values of column COL (1-based) of metrics.csv, in order of
   first appearance, at most max of them; names a gnuplot string could not
   hold as they are (quotes, backslashes) are left out. */
static int stimulus_names(const char *path, int col, char names[][64], int max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    for (int row = 0; getline(&line, &cap, f) > 0; row++) {
        char *p = row ? csv_field(line, col) : NULL; /* not the header */
        if (!p)
            continue;
        p[strcspn(p, ",\r\n")] = 0;
        if (!*p || strlen(p) >= 64 || strpbrk(p, "\"\\"))
            continue;
        int seen = 0;
        for (int k = 0; k < n && !seen; k++)
            seen = !strcmp(names[k], p);
        if (!seen && n < max)
            snprintf(names[n++], 64, "%s", p);
    }
    free(line);
    fclose(f);
    return n;
}

/* Why metrics.csv (columns cols) gives a plot nothing to draw, or NULL:
   no data rows, or no finite number in the columns plotted (the dynamics
   mode's apical_sq, mismatch_sq and test_error, on a log scale: positive;
   any measured column of the steady modes). */
static const char *nothing_to_plot(const char *path, char cols[][64], int nc)
{
    if (data_rows(path) == 0)
        return "has no rows (only its header): the run has not written its first one";
    int steady = nc > 0 && !strcmp(cols[0], "epoch");
    for (int c = steady ? 0 : 3; c < (steady ? nc : 6); c++) {
        const apical_metric_kind *kd =
            steady ? apical_metric_kind_of(APICAL_MODE_STEADY, cols[c]) : NULL;
        if ((!steady || kd) && has_data(path, c + 1, !steady))
            return NULL;
    }
    return steady ? "has no numbers to plot: every measured value is nan"
                  : "has no numbers to plot: every apical_sq, mismatch_sq and test_error is nan "
                    "or not positive (a log scale)";
}

/* The x tics of a figure in epochs: one per epoch where there are few,
   rather than gnuplot's fractions of an epoch. */
static const char *epoch_tics(long epochs)
{
    return epochs <= 10 ? "  set xtics 1\n" : "";
}

/* The plot command of a panel that no run has data for: fixed ranges for
   this plot only, nothing drawn, "no data" in the key. */
static const char no_data[] = "[0:1] [1:10] 1e30 title \"no data\"\n";

/* One curve of a plot command, after K curves: metrics column COL (0-based),
   times 100 when PERCENT.  Returns the new length of BODY. */
static size_t curve(char *body, size_t cap, size_t u, int k, int col, int percent,
                    const char *title)
{
    return u + (size_t)snprintf(body + u, cap - u,
                                "%sM using 1:%s%d%s with linespoints pt 7 ps 0.4 title \"%s\"",
                                k ? ", \\\n       " : "", percent ? "(100*$" : "", col + 1,
                                percent ? ")" : "", title);
}

/* Runs in epochs (modes steady and backprop): classification errors in
   percent, the apical potentials and interneuron mismatch, and (where
   metrics.csv has them) the feedback angles and the bp_cosine probe's
   cosines, per epoch. */
/* The curves of panel PANEL (apical_metric_kind's panel) after K: every
   column of that panel, titled by its kind.  Returns the new length of
   BODY; *k counts the curves. */
static size_t panel_curves(char *body, size_t cap, size_t u, char cols[][64], int nc, int panel,
                           int *k)
{
    for (int c = 0; c < nc; c++) {
        const apical_metric_kind *kd = apical_metric_kind_of(APICAL_MODE_STEADY, cols[c]);
        if (!kd || kd->panel != panel)
            continue;
        char t[80];
        snprintf(t, sizeof t, "%s%s", kd->label, kd->per ? cols[c] + strlen(kd->pattern) : "");
        u = curve(body, cap, u, (*k)++, c, panel == 1, t);
    }
    return u;
}

static void plot_epochs(FILE *gp, const char *dir, const char *metrics, char cols[][64], int nc)
{
    char body[8192], prefix[4200];
    size_t u = 0;
    int in_panel[5] = { 0 };
    for (int c = 0; c < nc; c++) {
        const apical_metric_kind *kd = apical_metric_kind_of(APICAL_MODE_STEADY, cols[c]);
        in_panel[kd ? kd->panel : 0]++;
    }
    int panels = 2 + (in_panel[3] > 0) + (in_panel[4] > 0), k = 0;
    u += (size_t)snprintf(body + u, sizeof body - u,
                          "  set multiplot layout 1,%d\n  set xlabel \"epoch\"\n%s", panels,
                          epoch_tics(data_rows(metrics) - 1));
    u += (size_t)snprintf(body + u, sizeof body - u,
                          "  set logscale y\n  set title \"classification error (%%)\"\n  plot ");
    u = panel_curves(body, sizeof body, u, cols, nc, 1, &k);
    u += (size_t)snprintf(body + u, sizeof body - u,
                          "\n  set title \"without nudging: apical potential^2, mismatch^2; "
                          "W^{IP} vs its copy\"\n  set format y \"10^{%%T}\"\n  plot ");
    k = 0;
    u = panel_curves(body, sizeof body, u, cols, nc, 2, &k);
    u += (size_t)snprintf(body + u, sizeof body - u,
                          "%s\n  unset logscale y\n  set format y \"%%g\"\n", k ? "" : "0 notitle");
    if (in_panel[3]) {
        u += (size_t)snprintf(body + u, sizeof body - u,
                              "  set title \"top-down vs forward^T weights (degrees)\"\n  plot ");
        k = 0;
        u = panel_curves(body, sizeof body, u, cols, nc, 3, &k);
        u += (size_t)snprintf(body + u, sizeof body - u, "\n");
    }
    if (in_panel[4]) {
        u += (size_t)snprintf(body + u, sizeof body - u,
                              "  set title \"update vs backprop (bp) and feedback alignment (fa), "
                              "cosine\"\n  plot ");
        k = 0;
        u = panel_curves(body, sizeof body, u, cols, nc, 4, &k);
        u += (size_t)snprintf(body + u, sizeof body - u, "\n");
    }
    snprintf(body + u, sizeof body - u, "  unset multiplot\n");
    snprintf(prefix, sizeof prefix, "%s/metrics", dir);
    apical_plot_terminals(gp, prefix, 450 + 450 * panels, 500, body);
}

int apical_plot(const char *dir, int *traced, char *err, size_t cap)
{
    *traced = 0;
    char metrics[4096], traces[4096], script[4096];
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", dir);
    snprintf(traces, sizeof traces, "%s/traces.csv", dir);
    snprintf(script, sizeof script, "%s/plot.gp", dir);
    FILE *m = fopen(metrics, "r");
    if (!m) {
        snprintf(err, cap, "%s: no metrics.csv (is it a run directory?)", dir);
        return 2;
    }
    fclose(m);
    char cols[MAX_COLS][64];
    int nc = csv_columns(metrics, cols, MAX_COLS);
    const char *why = nothing_to_plot(metrics, cols, nc);
    if (why) {
        snprintf(err, cap, "%s %s", metrics, why);
        return 2;
    }
    FILE *gp = fopen(script, "w");
    if (!gp) {
        snprintf(err, cap, "cannot write %s", script);
        return 1;
    }
    fprintf(gp, "# written by apical plot; gnuplot %s/plot.gp redraws\n"
                "set datafile separator \",\"\nset datafile missing \"nan\"\n"
                "set key outside right top noenhanced\nset grid\n", dir);
    fprintf(gp, "M = \"%s\"\n", metrics);
    if (nc > 0 && !strcmp(cols[0], "epoch")) {
        plot_epochs(gp, dir, metrics, cols, nc);
        if (fclose(gp) != 0) {
            snprintf(err, cap, "cannot write %s", script);
            return 1;
        }
        return apical_plot_gnuplot(script, err, cap);
    }
    char prefix[4200], panel[16384];
    snprintf(prefix, sizeof prefix, "%s/metrics", dir);
    {
        /* the measured columns (class_error where an idx stimulus teaches), one
           curve per evaluated stimulus where metrics.csv names them */
        int mcol[4] = { 4, 5, 6, 0 }, sc = 0, nst, kc = 0;
        const char *mname[4] = { "apical_sq", "mismatch_sq", "test_error", "class_error" };
        for (int c = 0; c < nc; c++) {
            if (!strcmp(cols[c], "class_error"))
                mcol[3] = c + 1;
            if (!strcmp(cols[c], "stimulus"))
                sc = c + 1;
        }
        char stims[8][64];
        nst = sc ? stimulus_names(metrics, sc, stims, 8) : 0;
        size_t pu = (size_t)snprintf(panel, sizeof panel,
                                    "  set logscale y\n  set format y \"10^{%%T}\"\n"
                                    "  set xlabel \"training patterns\"\n"
                                    "  set title \"held-out metrics (no noise, no nudging)\"\n%s"
                                    "  plot ", nst ? "  set datafile missing NaN\n" : "");
        for (int mi = 0; mi < 4; mi++) {
            if (!mcol[mi])
                continue;
            for (int q = 0; q < (nst ? nst : 1) && pu < sizeof panel; q++, kc++) {
                char using[640], title[640];
                if (nst) {
                    snprintf(using, sizeof using, "(strcol(%d) eq \"%s\" ? column(%d) : NaN)", sc,
                             stims[q], mcol[mi]);
                    snprintf(title, sizeof title, nst > 1 ? "%s, %s" : "%s", mname[mi], stims[q]);
                } else {
                    snprintf(using, sizeof using, "%d", mcol[mi]);
                    snprintf(title, sizeof title, "%s", mname[mi]);
                }
                pu += (size_t)snprintf(panel + pu, sizeof panel - pu,
                                      "%sM using 2:%s with linespoints pt 7 ps 0.4 title \"%s\"",
                                      kc ? ", \\\n       " : "", using, title);
            }
        }
        if (pu < sizeof panel)
            snprintf(panel + pu, sizeof panel - pu, "\n  unset logscale y\n  set format y \"%%g\"\n%s",
                     nst ? "  set datafile missing \"nan\"\n" : "");
    }
    apical_plot_terminals(gp, prefix, 900, 500, panel);
    group g[MAX_GROUPS];
    double t0[MAX_SEGS], t1[MAX_SEGS];
    int ng = 0, ns = 0;
    if (read_header(traces, g, &ng) == 0 && ng > 0 && (ns = read_segments(traces, t0, t1)) > 0) {
        /* one row per population, one column per traced stretch of time */
        char body[32768];
        size_t u = 0;
        u += (size_t)snprintf(body + u, sizeof body - u,
                              "  set multiplot layout %d,%d\n  unset title\n", ng, ns);
        for (int i = 0; i < ng; i++)
            for (int sg = 0; sg < ns; sg++) {
                u += (size_t)snprintf(body + u, sizeof body - u,
                                      "  set xrange [%.10g:%.10g]\n  set xlabel \"%s\"\n"
                                      "  set ylabel \"%s\" noenhanced\n  %s\n  plot ",
                                      t0[sg], t1[sg] > t0[sg] ? t1[sg] : t0[sg] + 1,
                                      i == ng - 1 ? "t (ms)" : "", sg == 0 ? g[i].pop : "",
                                      sg == ns - 1 ? "set key noenhanced" : "unset key");
                for (int k = 0; k < g[i].n_vars; k++) {
                    const var *v = &g[i].vars[k];
                    u += (size_t)snprintf(body + u, sizeof body - u,
                                          "%sfor [c=%d:%d] T using 1:c with lines lc %d lw 1 %s "
                                          "title (c == %d ? \"%s\" : \"\")",
                                          k ? ", \\\n       " : "", v->first, v->last, k + 1,
                                          strstr(v->name, "target") ? "dt 2" : "dt 1", v->first,
                                          v->name);
                }
                u += (size_t)snprintf(body + u, sizeof body - u, "\n");
            }
        snprintf(body + u, sizeof body - u, "  unset multiplot\n  set autoscale x\n");
        fprintf(gp, "T = \"%s\"\n", traces);
        snprintf(prefix, sizeof prefix, "%s/traces", dir);
        apical_plot_terminals(gp, prefix, ns > 1 ? 1300 : 1000, 240 * ng, body);
        *traced = 1;
    }
    if (fclose(gp) != 0) {
        snprintf(err, cap, "cannot write %s", script);
        return 1;
    }
    return apical_plot_gnuplot(script, err, cap);
}

/* Run I's curve in a figure of several runs, after *ANY curves: file M,
   "using USING"; colour I + 1 in every panel, so that a run keeps its
   colour where another run has no data. */
static void run_curve(FILE *b, int *any, const char *m, const char *dir, size_t i,
                      const char *using)
{
    const char *name = strrchr(dir, '/');
    name = name && name[1] ? name + 1 : dir;
    fprintf(b, "%s\"%s\" using %s with linespoints pt 7 ps 0.4 lc %zu title \"%s\"",
            (*any)++ ? ", \\\n       " : "", m, using, i + 1, name);
}

int apical_plot_compare(const char *const *dirs, size_t n, const char *out, char *err,
                        size_t cap)
{
    char script[4200];
    snprintf(script, sizeof script, "%s.gp", out);
    for (size_t i = 0; i < n; i++) {
        char m[4200];
        snprintf(m, sizeof m, "%s/metrics.csv", dirs[i]);
        FILE *f = fopen(m, "r");
        if (!f) {
            snprintf(err, cap, "%s: no metrics.csv (is it a run directory?)", dirs[i]);
            return 2;
        }
        fclose(f);
    }
    FILE *gp = fopen(script, "w");
    if (!gp) {
        snprintf(err, cap, "cannot write %s", script);
        return 1;
    }
    fprintf(gp, "# written by apical plot; gnuplot %s redraws\n"
                "set datafile separator \",\"\nset datafile missing \"nan\"\n"
                "set key top right noenhanced\nset grid\n", script);
    char cols[MAX_COLS][64], first[4200];
    snprintf(first, sizeof first, "%s/metrics.csv", dirs[0]);
    int nc = csv_columns(first, cols, MAX_COLS);
    /* the plot commands, however many runs: built in memory, then written
       for each terminal by apical_plot_terminals */
    char *body = NULL;
    size_t body_len = 0;
    FILE *b = open_memstream(&body, &body_len);
    if (!b) {
        fclose(gp);
        snprintf(err, cap, "out of memory");
        return 1;
    }
    int w, h;
    if (nc > 0 && !strcmp(cols[0], "epoch")) {
        /* runs in epochs: the last evaluated set's error (the test set),
           and the first hidden layer's apical potential */
        w = 1300, h = 480;
        long epochs = 0;
        for (size_t i = 0; i < n; i++) {
            char m[4200];
            snprintf(m, sizeof m, "%s/metrics.csv", dirs[i]);
            long e = data_rows(m) - 1;
            epochs = e > epochs ? e : epochs;
        }
        fprintf(b, "  set multiplot layout 1,2\n  set xlabel \"epoch\"\n  set logscale y\n%s",
                epoch_tics(epochs));
        for (int panel = 0; panel < 2; panel++) {
            fprintf(b, "  set title \"%s\"\n  set format y \"%s\"\n  plot ",
                    panel ? "apical potential^2 without nudging (first layer)"
                          : "classification error (%), last evaluated set",
                    panel ? "10^{%T}" : "%g");
            int any = 0;
            for (size_t i = 0; i < n; i++) {
                char m[4200], cc[MAX_COLS][64];
                snprintf(m, sizeof m, "%s/metrics.csv", dirs[i]);
                int k = csv_columns(m, cc, MAX_COLS), col = 0;
                for (int c = 0; c < k; c++)
                    if (panel ? (!strncmp(cc[c], "apical_sq_", 10) && !col)
                              : !strncmp(cc[c], "error_", 6))
                        col = c + 1;
                if (!col || !has_data(m, col, 1))
                    continue;
                char using[64];
                snprintf(using, sizeof using, "1:(%s$%d)", panel ? "" : "100*", col);
                run_curve(b, &any, m, dirs[i], i, using);
            }
            fputs(any ? "\n" : no_data, b);
        }
    } else {
        /* one line per run in each panel: test error, apical potential, angle
           (titles in enhanced text: \\_ an underscore, ^T a superscript) */
        static const char *const names[3] = { "test_error", "apical_sq", "angle_deg" };
        static const char *const labels[3] = { "test\\\\_error", "apical\\\\_sq",
                                               "angle\\\\_deg (forward vs feedback^T)" };
        w = 1500, h = 450;
        fputs("  set multiplot layout 1,3\n  set xlabel \"training patterns\"\n", b);
        for (int k = 0; k < 3; k++) {
            fprintf(b, "  %s logscale y\n  set format y \"%s\"\n  set title \"%s\"\n  plot ",
                    k < 2 ? "set" : "unset", k < 2 ? "10^{%T}" : "%g", labels[k]);
            int any = 0;
            for (size_t i = 0; i < n; i++) {
                char m[4200], cc[MAX_COLS][64];
                snprintf(m, sizeof m, "%s/metrics.csv", dirs[i]);
                int ncc = csv_columns(m, cc, MAX_COLS), col = 0;
                for (int c = 0; c < ncc && !col; c++)
                    if (strcmp(cc[c], names[k]) == 0)
                        col = c + 1;
                if (!col || !has_data(m, col, k < 2))
                    continue;
                char using[16];
                snprintf(using, sizeof using, "2:%d", col);
                run_curve(b, &any, m, dirs[i], i, using);
            }
            fputs(any ? "\n" : no_data, b);
        }
    }
    fputs("  unset multiplot\n", b);
    int bad = ferror(b);
    if (fclose(b) != 0 || bad) {
        free(body);
        fclose(gp);
        snprintf(err, cap, "out of memory");
        return 1;
    }
    apical_plot_terminals(gp, out, w, h, body);
    free(body);
    if (fclose(gp) != 0) {
        snprintf(err, cap, "cannot write %s", script);
        return 1;
    }
    return apical_plot_gnuplot(script, err, cap);
}
