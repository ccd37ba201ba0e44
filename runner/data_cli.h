/*
 * data_cli.h -- the data command: where circuits find their data files, and
 * fetching MNIST there.
 */
#ifndef APICAL_DATA_CLI_H
#define APICAL_DATA_CLI_H

/* apical data ARGS (argv after "data"); the exit code. */
int apical_cmd_data(int argc, char **argv);

#endif
