/* plot.h -- `apical plot`: metrics.png/svg and traces.png/svg of a run
   directory through gnuplot.  Returns 0, 1 (failed) or 2 (not a run dir). */
#ifndef APICAL_PLOT_H
#define APICAL_PLOT_H
#include <stddef.h>
int apical_plot(const char *dir, char *err, size_t errcap);
#endif
