/*
 * apical_config.h -- circuits and runs from YAML.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * Functions that can fail return 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_CONFIG_H
#define APICAL_CONFIG_H

#include "apical_registry.h"
#include "apical_run.h"
#include "apical_steady.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apical_config {
    apical_circuit *circuit;
    apical_run_opts run;
    apical_steady_opts steady;  /* used when steady.mode is not APICAL_MODE_DYNAMICS */
    char *source;           /* file name, for messages */
    char *resolved;         /* the YAML as run, overrides applied */
} apical_config;

/* Parse YAML (from a file, or from a string with a name for messages) and
   build the circuit.  Errors read "FILE:LINE:COL: what was expected". */
int apical_config_load_file(apical_config *cfg, apical_registry *reg, const char *file,
                            char *err, size_t errcap);
int apical_config_load_string(apical_config *cfg, apical_registry *reg, const char *name,
                              const char *text, char *err, size_t errcap);
/* The same with overrides "path.to.key=value" applied to the document
   first (mapping keys are created where missing; list items by index). */
int apical_config_load_file_set(apical_config *cfg, apical_registry *reg, const char *file,
                                const char *const *sets, size_t n_sets, char *err,
                                size_t errcap);
int apical_config_load_string_set(apical_config *cfg, apical_registry *reg, const char *name,
                                  const char *text, const char *const *sets, size_t n_sets,
                                  char *err, size_t errcap);
void apical_config_free(apical_config *cfg);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_CONFIG_H */
