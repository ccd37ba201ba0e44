/* plot.h -- `apical plot`: metrics.png/svg and traces.png/svg of a run
   directory through gnuplot.  Returns 0, 1 (failed) or 2 (not a run dir). */
#ifndef APICAL_PLOT_H
#define APICAL_PLOT_H
#include <stddef.h>
int apical_plot(const char *dir, char *err, size_t errcap);
/* Several runs in one figure, OUT.png and OUT.svg (and OUT.gp): test error,
   apical potential and feedback angle against training patterns. */
int apical_plot_compare(const char *const *dirs, size_t n, const char *out, char *err,
                        size_t errcap);
#endif
