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

/* ---- for hosts that do not lay out the struct (Python's ctypes) -------- */

/* A configuration loaded onto the heap: from the file name (text NULL), or
   from the document text, with name naming it in messages and its
   directory where relative file names are looked up first.  NULL on
   failure, with the message. */
apical_config *apical_config_new(apical_registry *reg, const char *name, const char *text,
                                 const char *const *sets, size_t n_sets, char *err,
                                 size_t errcap);
/* apical_config_free, and the struct itself (NULL: nothing). */
void apical_config_delete(apical_config *cfg);
apical_circuit *apical_config_circuit(const apical_config *cfg);
/* enum apical_mode */
int apical_config_mode(const apical_config *cfg);
/* The time step (ms), and the noise-free settling of each held-out pattern
   at an evaluation (ms). */
double apical_config_dt(const apical_config *cfg);
double apical_config_settle_ms(const apical_config *cfg);
/* The document as run, overrides applied. */
const char *apical_config_yaml(const apical_config *cfg);
/* Training patterns over all phases (dynamics), or epochs (steady and
   backprop modes). */
long apical_config_patterns(const apical_config *cfg);
/* The APICAL_STEP_* flags of a step in a phase that is plastic or not and
   noisy or not: noise only where some population has it, scaled as the
   file says. */
unsigned apical_config_step_flags(const apical_config *cfg, int plastic, int noise);
/* An integrator of the circuit with the file's method. */
apical_integrator *apical_config_integrator(const apical_config *cfg, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_CONFIG_H */
