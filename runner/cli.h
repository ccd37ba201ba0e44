/*
 * cli.h -- the apical command's commands, one file each: run and check
 * (cli_run.c), inspect (cli_inspect.c), modules (cli_modules.c) and plot
 * (cli_plot.c); each with its description for --help.
 */
#ifndef APICAL_CLI_H
#define APICAL_CLI_H

#include "sweep_cli.h"

extern const apical_cli_cmd apical_run_cmd, apical_check_cmd, apical_inspect_cmd,
    apical_modules_cmd, apical_plot_cmd;

/* Each takes the arguments after the command's name and returns the exit
   code (APICAL_EXIT_*). */
int apical_cmd_run(int argc, char **argv);
int apical_cmd_check(int argc, char **argv);
int apical_cmd_inspect(int argc, char **argv);
int apical_cmd_modules(int argc, char **argv);
int apical_cmd_plot(int argc, char **argv);

#endif
