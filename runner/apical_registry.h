/*
 * apical_registry.h -- the module registry: cell models and plasticity rules found
 * by name on a search path.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * Functions that can fail return 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_REGISTRY_H
#define APICAL_REGISTRY_H

#include <stdio.h>

#include "apical.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apical_registry apical_registry;

/* path: colon-separated directories; NULL means $APICAL_MODULE_PATH, then
   the install directory. */
apical_registry *apical_registry_new(const char *path);
void apical_registry_free(apical_registry *r);
const char *apical_registry_path(const apical_registry *r);

/* Load one module file and register everything it holds. */
int apical_registry_load_file(apical_registry *r, const char *file, char *err, size_t errcap);

/* Look a model up by name, loading <dir>/<name>.so from the path if needed. */
const apical_cell_model *apical_registry_cell(apical_registry *r, const char *name, char *err,
                                              size_t errcap);
const apical_rule *apical_registry_rule(apical_registry *r, const char *name, char *err,
                                        size_t errcap);

/* Load every *.so on the path; files that are not modules are reported
   through skipped (may be NULL), one message each. */
typedef void (*apical_skip_fn)(void *user, const char *file, const char *why);
int apical_registry_scan(apical_registry *r, apical_skip_fn skipped, void *user);
/* Order the loaded models by name (for listings). */
void apical_registry_sort(apical_registry *r);
/* Every loaded model's tables as YAML, for tools that read them without
   loading code. */
int apical_registry_write_yaml(const apical_registry *r, FILE *f);
size_t apical_registry_n_cells(const apical_registry *r);
size_t apical_registry_n_rules(const apical_registry *r);
const apical_cell_model *apical_registry_cell_at(const apical_registry *r, size_t i,
                                                 const char **file);
const apical_rule *apical_registry_rule_at(const apical_registry *r, size_t i,
                                           const char **file);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_REGISTRY_H */
