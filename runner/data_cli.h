/*
 * data_cli.h -- the data command: where circuits find their data files, and
 * fetching MNIST there.
 */
#ifndef APICAL_DATA_CLI_H
#define APICAL_DATA_CLI_H

#include "sweep_cli.h"

/* apical data ARGS (argv after "data"; cmd: the command's description,
   for usage errors); the exit code. */
int apical_cmd_data(const apical_cli_cmd *cmd, int argc, char **argv);

#endif
