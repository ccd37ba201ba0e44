/* plot.h -- `apical plot`: metrics.png/svg and traces.png/svg of a run
   directory through gnuplot.  Returns 0, 1 (failed) or 2 (not a run dir);
   *traced: whether traces.png/svg were drawn (the run recorded traces). */
#ifndef APICAL_PLOT_H
#define APICAL_PLOT_H
#include <stddef.h>
#include <stdio.h>
int apical_plot(const char *dir, int *traced, char *err, size_t errcap);
/* Several runs in one figure, OUT.png and OUT.svg (and OUT.gp): test error,
   apical potential and feedback angle against training patterns. */
int apical_plot_compare(const char *const *dirs, size_t n, const char *out, char *err,
                        size_t errcap);
/* A sweep directory (apical sweep): METRIC_final_mean against the first
   axis (or x_axis) with standard deviations as error bars, one line per
   value of the other axes; DIR/METRIC.png, .svg and .gp.  metric NULL: the
   first collected one.  A sweep whose only axes are replicates (seeds):
   its runs' curves as apical_plot_compare draws them, DIR/runs.png.
   wrote: the figure's path without extension. */
int apical_plot_sweep(const char *dir, const char *metric, const char *x_axis, char *wrote,
                      size_t wcap, char *err, size_t errcap);
/* Shared by the figures: PREFIX.png then PREFIX.svg from the gnuplot
   commands `what`; run a script. */
void apical_plot_terminals(FILE *gp, const char *prefix, int w, int h, const char *what);
int apical_plot_gnuplot(const char *script, char *err, size_t errcap);
#endif
