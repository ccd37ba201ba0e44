/*
 * config_int.h -- what the parts of the circuit-file reader share (private
 * to libapical; not installed).
 *
 *   config.c          the entry points: parse, apply --set, read the
 *                     sections in order, emit the resolved YAML
 *   config_set.c      --set overrides, applied to the document
 *   config_circuit.c  populations, defaults, projections, stimuli
 *   config_run.c      simulation (noise, integrator, phases, steady), record
 *
 * The sections read the document through yamlutil.h; the short names below
 * are its functions on the file being read.
 */
#ifndef APICAL_CONFIG_INT_H
#define APICAL_CONFIG_INT_H

#include <stdarg.h>

#include "circuit_int.h"
#include "yamlutil.h"

/* The circuit file being read, and what it builds. */
typedef struct ctx {
    apical_yaml y;             /* the document, its name, the --set overrides, the message */
    apical_registry *reg;
    apical_config *cfg;
    const yaml_node_t *trace_phases; /* record.traces.phases, read once the phases are */
} ctx;

/* ---- config_set.c ---- */
/* Apply override k (x->y.sets[k], "path.to.key=value") to the document. */
int apical_cfg_apply_set(ctx *x, size_t k);

/* ---- config_circuit.c ---- */
/* "pop.part" into pop and part (part defaults to dflt; NULL: required); the
   population must exist. */
int apical_cfg_split_ref(ctx *x, const yaml_node_t *n, int dflt, char *pop, char *part,
                         size_t cap);
/* defaults: {CELL_MODEL: {param: value}}: every key a cell model. */
int apical_cfg_check_defaults(ctx *x, const yaml_node_t *d);
/* populations, each with noise sigma unless it names its own, and the
   defaults of its cell model (may be NULL) before its own params. */
int apical_cfg_load_populations(ctx *x, const yaml_node_t *pops, const yaml_node_t *defaults,
                                double sigma);
int apical_cfg_load_projections(ctx *x, const yaml_node_t *list);
int apical_cfg_load_stimuli(ctx *x, const yaml_node_t *stims);

/* ---- config_run.c ---- */
/* simulation.noise: sigma (the populations' default) and the run's scaling. */
int apical_cfg_load_noise(ctx *x, const yaml_node_t *sim, double *sigma);
/* simulation: mode, bound, integrator and phases, or steady */
int apical_cfg_load_simulation(ctx *x, const yaml_node_t *sim);
int apical_cfg_load_record(ctx *x, const yaml_node_t *rec);
/* record.traces.phases, after the simulation's phases (dynamics mode). */
int apical_cfg_trace_phases(ctx *x);

/* ---- yamlutil.h on the file being read ---- */
static inline yaml_node_t *node(ctx *x, int id) { return apical_yaml_node(&x->y, id); }
static inline const char *scalar(const yaml_node_t *n) { return apical_yaml_scalar(n); }

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int fail(ctx *x, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    apical_yaml_vfail(&x->y, n, fmt, ap);
    va_end(ap);
    return -1;
}
static inline int fail_at(ctx *x, const yaml_node_t *n, const char *msg)
{
    return apical_yaml_fail_at(&x->y, n, msg);
}
static inline int expect(ctx *x, const yaml_node_t *n, yaml_node_type_t t, const char *what)
{
    return apical_yaml_expect(&x->y, n, t, what);
}
static inline yaml_node_t *get(ctx *x, const yaml_node_t *map, const char *key)
{
    return apical_yaml_get(&x->y, map, key);
}
static inline yaml_node_t *need(ctx *x, const yaml_node_t *map, const char *key,
                                const char *where)
{
    return apical_yaml_need(&x->y, map, key, where);
}
static inline int check_keys(ctx *x, const yaml_node_t *n, const char *where,
                             const char *const *allowed)
{
    return apical_yaml_check_keys(&x->y, n, where, allowed);
}
static inline int to_double(ctx *x, const yaml_node_t *n, double *out)
{
    return apical_yaml_double(&x->y, n, out);
}
static inline int to_long(ctx *x, const yaml_node_t *n, long lo, long *out)
{
    return apical_yaml_long(&x->y, n, lo, out);
}
static inline int to_bool(ctx *x, const yaml_node_t *n, int *out)
{
    return apical_yaml_bool(&x->y, n, out);
}
static inline int to_pair(ctx *x, const yaml_node_t *n, const char *what, double *a, double *b)
{
    return apical_yaml_pair(&x->y, n, what, a, b);
}
static inline int to_range(ctx *x, const yaml_node_t *n, double *lo, double *hi)
{
    return apical_yaml_range(&x->y, n, lo, hi);
}
static inline int load_list(ctx *x, const yaml_node_t *n, double *out, size_t cap,
                            size_t *count, const char *what)
{
    return apical_yaml_numbers(&x->y, n, out, cap, count, what);
}
static inline int one_of(ctx *x, const yaml_node_t *n, const char *const names[],
                         const char *expected, int *out)
{
    return apical_yaml_one_of(&x->y, n, names, expected, out);
}

#endif
