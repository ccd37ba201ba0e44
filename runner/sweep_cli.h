/*
 * sweep_cli.h -- what apical and apical-mpi share on the command line: the
 * reading of a command's options, its --help, and the sweep command.
 */
#ifndef APICAL_SWEEP_CLI_H
#define APICAL_SWEEP_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "sweep.h"

/* An option of a command: "--out" with a value named "DIR", or a flag
   (arg NULL); doc is its line in --help. */
typedef struct apical_cli_opt {
    const char *name, *arg, *doc;
} apical_cli_opt;

/* A command: "apical NAME", its synopsis (lines of what follows "apical
   NAME"), a one-line summary for `apical --help`, a description, its
   options. */
typedef struct apical_cli_cmd {
    const char *name, *synopsis, *summary, *about;
    const apical_cli_opt *opts;
    size_t n_opts;
} apical_cli_cmd;

/* Reading a command's arguments, one at a time. */
typedef struct apical_cli {
    const apical_cli_cmd *cmd;
    int argc, i;
    char **argv;
    int operands_only;   /* after "--" */
} apical_cli;

enum {
    APICAL_CLI_END = -1,     /* no more arguments */
    APICAL_CLI_OPERAND = -2, /* an operand, in *val */
    APICAL_CLI_HELP = -3,    /* -h or --help */
    APICAL_CLI_ERROR = -4    /* a usage error, already reported on stderr */
};

/* The next argument: the index of an option in cmd->opts (its value, from
   "--out DIR" or "--out=DIR", in *val), or one of APICAL_CLI_*.  Unknown
   options are named with the nearest known one ("apical run: unknown option
   '--otu' (did you mean '--out'?)"), as is an option without its value. */
int apical_cli_next(apical_cli *c, const char **val);
/* Whether -h or --help is among a command's arguments (not as an option's
   value, nor after "--"): then it prints its help, whatever else it was given. */
int apical_cli_asks_help(const apical_cli_cmd *cmd, int argc, char **argv);
/* "apical NAME: MESSAGE" and where to read the usage, on stderr; returns 2. */
int apical_cli_fail(const apical_cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A command's --help on f: synopsis, description, options, exit status and
   environment. */
void apical_cli_help(FILE *f, const apical_cli_cmd *cmd);
/* How many edits from a known name an unknown one (GIVEN) may be for the
   known one to be offered: fewer than 3, and fewer than its letters. */
size_t apical_cli_near(const char *given);
/* The exit status and environment sections of every --help. */
void apical_cli_help_footer(FILE *f);

extern const apical_cli_cmd apical_sweep_cmd;

/* apical sweep ARGS (argv after "sweep"); the exit code. */
int apical_cmd_sweep(int argc, char **argv);
/* SWEEP.yaml [--out DIR] [--jobs N] [--force]: 0; APICAL_CLI_HELP after
   printing the help on stdout; -1 after a usage error on stderr. */
int apical_sweep_parse_args(int argc, char **argv, const char **file, const char **out,
                            long *jobs, int *force);
/* One line on stdout for a run that ended. */
void apical_sweep_report(const apical_sweep *s, size_t run, int state, double secs, size_t done,
                         size_t total, const char *msg);

#endif
