/*
 * cli_plot.c -- apical plot: a run's figures, several runs in one, or a
 * sweep's (plot.c, plot_sweep.c draw them).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apical_runner.h"
#include "cli.h"
#include "plot.h"

static const apical_cli_opt plot_opts[] = {
    { "--out", "PREFIX", "draw the runs in one figure, PREFIX.png and PREFIX.svg" },
    { "--metric", "NAME", "a sweep's collected metric to draw (default: the first)" },
    { "--x", "AXIS", "a sweep's axis to draw it against (default: the first)" },
};
enum { PLOT_OUT, PLOT_METRIC, PLOT_X };

const apical_cli_cmd apical_plot_cmd = {
    "plot",
    "apical plot DIR\n"
    "apical plot DIR... --out PREFIX\n"
    "apical plot SWEEPDIR [--metric NAME] [--x AXIS]",
    "draw a run's metrics and traces, several runs, or a sweep",
    "Draw figures with gnuplot (Debian: gnuplot-nox), each as PNG and SVG, beside\n"
    "the gnuplot script that drew it.  A run directory: DIR/metrics.png, its learning\n"
    "curves, and DIR/traces.png where the run recorded traces.  Runs with --out:\n"
    "their metrics in one figure, PREFIX.png.  A sweep directory (one with\n"
    "aggregate.csv): SWEEPDIR/NAME.png, the collected metric NAME against an axis,\n"
    "mean and standard deviation over the seeds; a sweep over seeds alone:\n"
    "SWEEPDIR/runs.png, its runs' curves.  The files written are named on stdout.",
    plot_opts, sizeof plot_opts / sizeof *plot_opts,
};

/* apical plot DIR | DIR... --out PREFIX | SWEEPDIR [--metric NAME] [--x AXIS] */
int apical_cmd_plot(int argc, char **argv)
{
    const apical_cli_cmd *cmd = &apical_plot_cmd;
    apical_cli cl = { cmd, argc, 0, argv, 0 };
    const char *v, *opt[3] = { NULL, NULL, NULL };
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    size_t n = 0;
    int rc = 2;
    if (!dirs) {
        fprintf(stderr, "apical: out of memory\n");
        return 1;
    }
    for (int k; (k = apical_cli_next(&cl, &v)) != APICAL_CLI_END;) {
        if (k == APICAL_CLI_HELP) {
            apical_cli_help(stdout, cmd);
            free(dirs);
            return 0;
        }
        if (k == APICAL_CLI_ERROR)
            goto done;
        if (k == APICAL_CLI_OPERAND)
            dirs[n++] = v;
        else
            opt[k] = v;
    }
    char err[2048], agg[4200], wrote[4200] = "";
    snprintf(agg, sizeof agg, "%s/aggregate.csv", n ? dirs[0] : "");
    int sweep = n == 1 && !opt[PLOT_OUT] && access(agg, F_OK) == 0;
    if (n == 0) {
        rc = apical_cli_fail(cmd, "no run or sweep directory given");
        goto done;
    }
    if ((opt[PLOT_METRIC] || opt[PLOT_X]) && !sweep) {
        rc = apical_cli_fail(cmd, "--metric and --x choose what a sweep's figure shows; %s",
                             n > 1 || opt[PLOT_OUT] ? "runs with --out take neither"
                                                    : "DIR holds no aggregate.csv");
        goto done;
    }
    if (n > 1 && !opt[PLOT_OUT]) {
        rc = apical_cli_fail(cmd, "several runs go into one figure: give it --out PREFIX");
        goto done;
    }
    /* the figures written, each a .png and an .svg, and the script */
    int traced = 0;
    if (sweep) {
        rc = apical_plot_sweep(dirs[0], opt[PLOT_METRIC], opt[PLOT_X], wrote, sizeof wrote, err,
                               sizeof err);
    } else if (opt[PLOT_OUT]) {
        rc = apical_plot_compare(dirs, n, opt[PLOT_OUT], err, sizeof err);
        snprintf(wrote, sizeof wrote, "%s", opt[PLOT_OUT]);
    } else {
        rc = apical_plot(dirs[0], &traced, err, sizeof err);
        snprintf(wrote, sizeof wrote, "%s/metrics", dirs[0]);
    }
    if (rc) {
        fprintf(stderr, "apical: %s\n", err);
        goto done;
    }
    printf("wrote %s.png and %s.svg\n", wrote, wrote);
    if (traced)
        printf("wrote %s/traces.png and %s/traces.svg\n", dirs[0], dirs[0]);
    if (!sweep && !opt[PLOT_OUT])
        printf("gnuplot script: %s/plot.gp\n", dirs[0]);
    else
        printf("gnuplot script: %s.gp\n", wrote);
done:
    free(dirs);
    return rc;
}
