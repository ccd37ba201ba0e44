/*
 * apical_conformance.h -- the conformance check of a module: does a loaded
 * cell model or plasticity rule keep the promises of the module ABI
 * (models/apical.h)?
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * The check calls the module's functions on random states, ports, weights
 * and parameter values (drawn from a seed, so a run repeats exactly) and
 * compares what they return with what the ABI says they must return: the
 * Jacobian blocks with finite differences, steady with a root of rhs, row
 * slices with whole calls, euler with a dwdt step, and so on.  Each property
 * is reported through a callback with its result, the deviation measured and
 * the tolerance it was held to; nothing here prints.  docs/modules.md lists
 * the properties and their tolerances.
 */
#ifndef APICAL_CONFORMANCE_H
#define APICAL_CONFORMANCE_H

#include <stddef.h>
#include <stdint.h>

#include "apical.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum apical_conf_status {
    APICAL_CONF_PASS = 0,
    APICAL_CONF_FAIL = 1,
    APICAL_CONF_SKIP = 2,   /* the module does not provide what the property tests */
    APICAL_CONF_INFO = 3    /* measured and reported, but the ABI sets no bound */
} apical_conf_status;

typedef struct apical_conf_result {
    const char *kind;       /* "cell" or "rule" */
    const char *model;      /* the model's name (or "?" when it has none) */
    const char *property;   /* "jacobian.dfdy", "steady.root", "euler_batch", ... */
    apical_conf_status status;
    double deviation;       /* the largest deviation measured; NAN when none was */
    double tolerance;       /* the bound it was held to; NAN when none */
    const char *detail;     /* one line: where the largest deviation was, what is
                               wrong, or why the property was skipped */
} apical_conf_result;

/* Called once per property; r and its strings live until the call returns. */
typedef void (*apical_conf_fn)(void *user, const apical_conf_result *r);

/* Options of a check; a zeroed struct (or NULL) asks for the defaults. */
typedef struct apical_conf_options {
    uint64_t seed;          /* of the random states and parameters; 0: 1 */
    unsigned trials;        /* parameter sets drawn besides the defaults; 0: 4 */
} apical_conf_options;

/* Check one cell model or rule.  Returns the number of failed properties
   (0: the model conforms), or -1 with a message in err when the check itself
   could not run (out of memory). */
int apical_conformance_cell(const apical_cell_model *m, const apical_conf_options *opt,
                            apical_conf_fn report, void *user, char *err, size_t errcap);
int apical_conformance_rule(const apical_rule *u, const apical_conf_options *opt,
                            apical_conf_fn report, void *user, char *err, size_t errcap);

/* "pass", "FAIL", "skip" or "info". */
const char *apical_conf_status_name(apical_conf_status s);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_CONFORMANCE_H */
