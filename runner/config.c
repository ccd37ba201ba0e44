/*
 * config.c -- YAML circuit files to circuits: parse, apply the --set
 * overrides, read the sections in order (config_circuit.c, config_run.c)
 * and keep the document as run (the resolved YAML a run directory holds).
 *
 * libyaml's document API keeps each node's start mark, so every error can
 * name FILE:LINE:COL (yamlutil.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* The steady-state and backprop modes settle populations one by one from
   state-stage products: a feedthrough projection is refused where it is
   defined. */
static int steady_feedthrough(ctx *x, const yaml_node_t *projs)
{
    const apical_circuit *c = x->cfg->circuit;
    if (x->cfg->steady.mode == APICAL_MODE_DYNAMICS || !projs)
        return 0;
    for (size_t k = 0; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        if (!pj->feedthrough)
            continue;
        const apical_pop *s = &c->pops[pj->src];
        return fail(x, node(x, projs->data.sequence.items.start[k]),
                    "%s.%s is a port-stage observable (a feedthrough projection), which mode %s "
                    "does not support: run it in mode dynamics, or let the projection carry a "
                    "state-stage observable", s->name, s->model->obs[pj->src_obs].name,
                    x->cfg->steady.mode == APICAL_MODE_STEADY ? "steady" : "backprop");
    }
    return 0;
}

/* A projection delayed by one step (delay: 1) holds its source's value from
   one Euler step to the next: mode dynamics with integrator euler only, one
   copy of the state. */
static int check_delays(ctx *x, const yaml_node_t *projs)
{
    const apical_circuit *c = x->cfg->circuit;
    const char *m = x->cfg->run.integ.method;
    int dyn = x->cfg->steady.mode == APICAL_MODE_DYNAMICS;
    if (projs && c->copies > 1)
        for (size_t k = 0; k < c->n_projs; k++)
            if (c->projs[k].delayed)
                return fail(x, node(x, projs->data.sequence.items.start[k]),
                            "a projection with delay: 1 is not supported with simulation.batch "
                            "> 1 (the delayed values are kept for one copy)");
    if (!projs || (dyn && (!m[0] || !strcmp(m, "euler"))))
        return 0;
    for (size_t k = 0; k < c->n_projs; k++)
        if (c->projs[k].delayed)
            return fail(x, node(x, projs->data.sequence.items.start[k]),
                        "a projection with delay: 1 needs mode dynamics and integrator euler "
                        "(this circuit runs %s%s)", dyn ? "integrator " : "mode ",
                        dyn ? m : x->cfg->steady.mode == APICAL_MODE_STEADY ? "steady" : "backprop");
    return 0;
}

/* The circuit mapping: {apical: 1, description, seed, defaults, populations,
   projections, stimuli, simulation, record}. */
static int load_root(ctx *x, const yaml_node_t *root)
{
    static const char *const keys[] = { "apical", "description", "seed", "defaults", "populations",
                                        "projections", "stimuli", "simulation", "record",
                                        NULL };
    if (!root)
        return fail(x, NULL, "empty file: expected a circuit mapping");
    if (expect(x, root, YAML_MAPPING_NODE, "a circuit mapping") ||
        check_keys(x, root, "the circuit", keys))
        return -1;
    yaml_node_t *ver = need(x, root, "apical", "the circuit");
    long v;
    if (!ver || to_long(x, ver, 0, &v))
        return -1;
    if (v != 1)
        return fail(x, ver, "schema version %ld is not supported (this apical reads 1)", v);
    long seed = 1;
    yaml_node_t *sn = get(x, root, "seed");
    if (sn && to_long(x, sn, 0, &seed))
        return -1;
    x->cfg->circuit = apical_circuit_new((unsigned long)seed);
    if (!x->cfg->circuit)
        return fail(x, NULL, "out of memory");
    apical_run_opts *o = &x->cfg->run;
    *o = (apical_run_opts){ .dt = 0.1, .eval_every = 0, .eval_patterns = 50,
                            .eval_settle_ms = 50 };
    yaml_node_t *sim = need(x, root, "simulation", "the circuit");
    yaml_node_t *pops = need(x, root, "populations", "the circuit");
    double sigma = 0;
    yaml_node_t *defaults = get(x, root, "defaults");
    if (!sim || !pops || apical_cfg_load_noise(x, sim, &sigma) ||
        (defaults && apical_cfg_check_defaults(x, defaults)) ||
        apical_cfg_load_populations(x, pops, defaults, sigma))
        return -1;
    yaml_node_t *projs = get(x, root, "projections"), *stims = get(x, root, "stimuli");
    yaml_node_t *rec = get(x, root, "record");
    if ((projs && apical_cfg_load_projections(x, projs)) ||
        (stims && apical_cfg_load_stimuli(x, stims)) || (rec && apical_cfg_load_record(x, rec)) ||
        apical_cfg_load_simulation(x, sim) ||
        (x->cfg->steady.mode == APICAL_MODE_DYNAMICS && apical_cfg_trace_phases(x)) ||
        steady_feedthrough(x, projs) ||
        check_delays(x, projs))
        return -1;
    if (apical_circuit_finalize(x->cfg->circuit, x->y.err, x->y.cap))
        return fail_at(x, root, x->y.err);
    for (size_t i = 0; i < o->n_traces; i++) /* traced observables must be computed */
        if (!o->traces[i].port)
            x->cfg->circuit->pops[o->traces[i].pop].need[o->traces[i].obs] = 1;
    return 0;
}

static int load(apical_config *cfg, apical_registry *reg, const char *name, yaml_parser_t *ps,
                const char *const *sets, size_t n_sets, char *err, size_t cap)
{
    ctx x = { .y = { .sets = sets, .file = name, .err = err, .cap = cap }, .reg = reg,
              .cfg = cfg };
    memset(cfg, 0, sizeof *cfg);
    cfg->source = strdup(name);
    if (apical_yaml_load(&x.y, ps)) {
        free(cfg->source);
        cfg->source = NULL;
        return 2;
    }
    int rc = 0;
    for (size_t k = 0; k < n_sets && rc == 0; k++)
        rc = apical_cfg_apply_set(&x, k) ? 2 : 0;
    if (rc == 0)
        rc = load_root(&x, yaml_document_get_root_node(&x.y.doc)) ? 2 : 0;
    if (rc == 0 && !(cfg->resolved = apical_yaml_dump(&x.y))) {
        snprintf(err, cap, "%s: cannot write the resolved configuration", name);
        rc = 2;
    } else if (rc != 0) {
        yaml_document_delete(&x.y.doc);
    }
    if (rc) {
        apical_circuit_free(cfg->circuit);
        free(cfg->source);
        cfg->source = NULL;
        free(cfg->run.traces);
        free(cfg->run.phases);
        free(cfg->run.trace_phases);
        cfg->circuit = NULL;
        cfg->run.traces = NULL;
        cfg->run.phases = NULL;
        cfg->run.trace_phases = NULL;
    }
    return rc;
}

int apical_config_load_string(apical_config *cfg, apical_registry *reg, const char *name,
                              const char *text, char *err, size_t cap)
{
    return apical_config_load_string_set(cfg, reg, name, text, NULL, 0, err, cap);
}

int apical_config_load_file(apical_config *cfg, apical_registry *reg, const char *file,
                            char *err, size_t cap)
{
    return apical_config_load_file_set(cfg, reg, file, NULL, 0, err, cap);
}

int apical_config_load_string_set(apical_config *cfg, apical_registry *reg, const char *name,
                                  const char *text, const char *const *sets, size_t n_sets,
                                  char *err, size_t cap)
{
    yaml_parser_t ps;
    yaml_parser_initialize(&ps);
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, strlen(text));
    int rc = load(cfg, reg, name, &ps, sets, n_sets, err, cap);
    yaml_parser_delete(&ps);
    return rc;
}

int apical_config_load_file_set(apical_config *cfg, apical_registry *reg, const char *file,
                                const char *const *sets, size_t n_sets, char *err, size_t cap)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        memset(cfg, 0, sizeof *cfg);
        snprintf(err, cap, "%s: cannot open: %s", file, strerror(errno));
        return 2;
    }
    yaml_parser_t ps;
    yaml_parser_initialize(&ps);
    yaml_parser_set_input_file(&ps, f);
    int rc = load(cfg, reg, file, &ps, sets, n_sets, err, cap);
    yaml_parser_delete(&ps);
    fclose(f);
    return rc;
}

void apical_config_free(apical_config *cfg)
{
    apical_circuit_free(cfg->circuit);
    free(cfg->source);
    free(cfg->resolved);
    cfg->resolved = NULL;
    free(cfg->run.traces);
    free(cfg->run.phases);
    free(cfg->run.trace_phases);
    cfg->run.traces = NULL;
    cfg->run.phases = NULL;
    cfg->run.trace_phases = NULL;
    cfg->circuit = NULL;
    cfg->source = NULL;
}

apical_config *apical_config_new(apical_registry *reg, const char *name, const char *text,
                                 const char *const *sets, size_t n_sets, char *err, size_t cap)
{
    apical_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    int rc = text ? apical_config_load_string_set(cfg, reg, name, text, sets, n_sets, err, cap)
                  : apical_config_load_file_set(cfg, reg, name, sets, n_sets, err, cap);
    if (rc != 0) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

void apical_config_delete(apical_config *cfg)
{
    if (!cfg)
        return;
    apical_config_free(cfg);
    free(cfg);
}

apical_circuit *apical_config_circuit(const apical_config *cfg)
{
    return cfg->circuit;
}

int apical_config_mode(const apical_config *cfg)
{
    return cfg->steady.mode;
}

double apical_config_dt(const apical_config *cfg)
{
    return cfg->run.dt;
}

double apical_config_settle_ms(const apical_config *cfg)
{
    return cfg->run.eval_settle_ms;
}

const char *apical_config_yaml(const apical_config *cfg)
{
    return cfg->resolved ? cfg->resolved : "";
}

long apical_config_patterns(const apical_config *cfg)
{
    return cfg->steady.mode == APICAL_MODE_DYNAMICS ? apical_run_total_patterns(&cfg->run)
                                                    : cfg->steady.epochs;
}

unsigned apical_config_step_flags(const apical_config *cfg, int plastic, int noise)
{
    unsigned flags = plastic ? APICAL_STEP_PLASTIC : 0;
    const apical_circuit *c = cfg->circuit;
    if (noise)
        for (size_t i = 0; i < c->n_pops; i++)
            if (c->pops[i].sigma > 0)
                flags |= APICAL_STEP_NOISE;
    if (cfg->run.noise_dt_scaled)
        flags |= APICAL_STEP_NOISE_DT;
    return flags;
}

apical_integrator *apical_config_integrator(const apical_config *cfg, char *err, size_t cap)
{
    return apical_integrator_new(cfg->circuit, &cfg->run.integ, err, cap);
}
