/*
 * cli_check.h -- apical modules --check: the conformance check of modules
 * (apical_conformance.h) as a table per model on stdout.
 */
#ifndef APICAL_CLI_CHECK_H
#define APICAL_CLI_CHECK_H

#include <stddef.h>

/* Check the cell models and rules named (each name a cell model, a rule or
   both), or with n == 0 every one on the module path.  Returns the exit
   code: 0 when every property of every model passes, 1 otherwise (a failed
   property, a name that is no model, or nothing to check). */
int apical_modules_check(char *const *names, size_t n);

#endif
