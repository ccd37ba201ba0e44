/*
 * config_circuit.c -- the circuit sections of a circuit file: defaults,
 * populations, projections and stimuli.
 *
 * Each mapping is checked against the keys it may hold; an unknown key is
 * reported with the closest valid one.  Files the circuit names (weight
 * tables, stimuli) are read relative to the circuit file's directory, else
 * from the data directories (apical_data_dir in yamlutil.c).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "transfer.h"

/* A file named by a scalar node: beside the circuit file, else in a data
   directory (apical_yaml_find).  Once found, the node holds the absolute
   path: the configuration written into a run directory (and read back by
   --resume) names the same file from anywhere.  0 when the file is nowhere;
   searched then lists the directories looked in. */
static int resolve_node(const ctx *x, const yaml_node_t *n, char *out, size_t cap,
                        char *searched, size_t scap)
{
    if (!apical_yaml_find(x->y.file, scalar(n), out, cap, searched, scap))
        return 0; /* the reader reports it under the name beside the circuit */
    char *abs = realpath(out, NULL);
    if (!abs)
        return 1;
    yaml_node_t *w = (yaml_node_t *)n;
    char *copy = strdup(abs);
    free(abs);
    if (!copy)
        return 1;
    free(w->data.scalar.value); /* libyaml allocates with malloc */
    w->data.scalar.value = (yaml_char_t *)copy;
    w->data.scalar.length = strlen(copy);
    w->data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
    return 1;
}

/* The reader's message for a file that could not be read, with where it was
   looked for when it was found nowhere, and for an IDX file (MNIST) the
   command that fetches it. */
static int fail_file(ctx *x, const yaml_node_t *f, int found, const char *searched, int idx)
{
    char why[1024], dir[4096];
    size_t n = (size_t)snprintf(why, sizeof why, "%.400s", x->y.err);
    if (!found && searched[0])
        n += (size_t)snprintf(why + n, sizeof why - n, "; searched for %.150s in %.300s",
                              scalar(f), searched);
    if (idx && strstr(x->y.err, "No such file")) {
        if (scalar(f)[0] != '/' && apical_data_dir(0, dir, sizeof dir) == 0)
            snprintf(why + n, sizeof why - n,
                     "; `apical data mnist` fetches MNIST into %.100s/mnist", dir);
        else
            snprintf(why + n, sizeof why - n, "; `apical data mnist DIR` fetches MNIST into DIR");
    }
    return fail_at(x, f, why);
}

/* A CSV table named in the file. */
static int load_table(ctx *x, const yaml_node_t *f, apical_table *t)
{
    char path[4096], searched[2048];
    if (expect(x, f, YAML_SCALAR_NODE, "a file name"))
        return -1;
    int found = resolve_node(x, f, path, sizeof path, searched, sizeof searched);
    return apical_csv_read(path, t, x->y.err, x->y.cap) ? fail_file(x, f, found, searched, 0) : 0;
}

int apical_cfg_split_ref(ctx *x, const yaml_node_t *n, int dflt, char *pop, char *part,
                         size_t cap)
{
    if (expect(x, n, YAML_SCALAR_NODE, "population[.name]"))
        return -1;
    const char *s = scalar(n), *dot = strchr(s, '.');
    if (strlen(s) >= cap)
        return fail(x, n, "name too long");
    if (dot) {
        snprintf(pop, cap, "%.*s", (int)(dot - s), s);
        snprintf(part, cap, "%s", dot + 1);
    } else {
        snprintf(pop, cap, "%s", s);
        if (!dflt)
            return fail(x, n, "expected population.port, found '%s'", s);
    }
    const apical_pop *p = apical_circuit_pop(x->cfg->circuit, pop, NULL);
    if (!p)
        return fail(x, n, "no population '%s'", pop);
    if (!dot) { /* the port or observable playing the default role */
        size_t k = p->role[dflt];
        if (k == (size_t)-1)
            return fail(x, n, "%s (%s) has no %s: name one (%s.NAME)", pop, p->model->name,
                        apical_role_what(dflt), pop);
        snprintf(part, cap, "%s", apical_role_is_port(dflt) ? p->model->ports[k].name
                                                              : p->model->obs[k].name);
    }
    return 0;
}

/* A mapping of parameter values (numbers, or names for enumerated ones). */
static int set_params(ctx *x, apical_pop *pop, const yaml_node_t *params)
{
    if (expect(x, params, YAML_MAPPING_NODE, "a mapping of parameters"))
        return -1;
    for (yaml_node_pair_t *q = params->data.mapping.pairs.start;
         q < params->data.mapping.pairs.top; q++) {
        yaml_node_t *pk = node(x, q->key), *pv = node(x, q->value);
        if (expect(x, pk, YAML_SCALAR_NODE, "a parameter name") ||
            expect(x, pv, YAML_SCALAR_NODE, "a parameter value"))
            return -1;
        char *end;
        double d = strtod(scalar(pv), &end);
        int rc = (end != scalar(pv) && !*end)
                     ? apical_pop_set_param(pop, scalar(pk), d, x->y.err, x->y.cap)
                     : apical_pop_set_choice(pop, scalar(pk), scalar(pv), x->y.err, x->y.cap);
        if (rc)
            return fail_at(x, strstr(x->y.err, "has no parameter") ? pk : pv, x->y.err);
    }
    return 0;
}

/* defaults: {CELL_MODEL: {param: value}}: shared by every population of
   that model, before each population's own params. */
int apical_cfg_check_defaults(ctx *x, const yaml_node_t *d)
{
    if (expect(x, d, YAML_MAPPING_NODE, "defaults {cell_model: {param: value}}"))
        return -1;
    for (yaml_node_pair_t *p = d->data.mapping.pairs.start; p < d->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key);
        if (expect(x, k, YAML_SCALAR_NODE, "a cell model name") ||
            expect(x, node(x, p->value), YAML_MAPPING_NODE, "a mapping of parameters"))
            return -1;
        if (!apical_registry_cell(x->reg, scalar(k), x->y.err, x->y.cap))
            return fail_at(x, k, x->y.err);
    }
    return 0;
}

int apical_cfg_load_populations(ctx *x, const yaml_node_t *pops, const yaml_node_t *defaults,
                                double sigma)
{
    if (expect(x, pops, YAML_MAPPING_NODE, "a mapping of population names"))
        return -1;
    static const char *const keys[] = { "cell", "size", "params", "noise", NULL };
    apical_circuit *c = x->cfg->circuit;
    for (yaml_node_pair_t *p = pops->data.mapping.pairs.start; p < pops->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        if (expect(x, k, YAML_SCALAR_NODE, "a population name") ||
            expect(x, v, YAML_MAPPING_NODE, "a population {cell, size, params}") ||
            check_keys(x, v, "a population", keys))
            return -1;
        yaml_node_t *cell = need(x, v, "cell", "a population"), *size;
        long n;
        if (!cell || expect(x, cell, YAML_SCALAR_NODE, "a cell model name") ||
            !(size = need(x, v, "size", "a population")) || to_long(x, size, 1, &n))
            return -1;
        const apical_cell_model *m = apical_registry_cell(x->reg, scalar(cell), x->y.err, x->y.cap);
        if (!m)
            return fail_at(x, cell, x->y.err);
        if (apical_circuit_add_pop(c, scalar(k), m, (size_t)n, x->y.err, x->y.cap))
            return fail_at(x, k, x->y.err);
        apical_pop *pop = &c->pops[c->n_pops - 1];
        snprintf(pop->where, sizeof pop->where, "%s:%zu:%zu", x->y.file, k->start_mark.line + 1,
                 k->start_mark.column + 1);
        pop->sigma = sigma;
        yaml_node_t *noise = get(x, v, "noise");
        if (noise && to_double(x, noise, &pop->sigma))
            return -1;
        if (pop->sigma < 0)
            return fail(x, noise, "noise sigma must be at least 0");
        /* shared defaults for this cell model first, then the population's own */
        yaml_node_t *shared = defaults ? get(x, defaults, m->name) : NULL;
        if ((shared && set_params(x, pop, shared)) || (get(x, v, "params") &&
                                                       set_params(x, pop, get(x, v, "params"))))
            return -1;
    }
    return 0;
}

/* 0: done; 1: self-predicting, to be set once every projection exists */
static int load_init(ctx *x, apical_proj *pj, const yaml_node_t *init)
{
    if (expect(x, init, YAML_MAPPING_NODE,
               "an init {uniform: [lo, hi]}, {constant: v} or {file: F}"))
        return -1;
    static const char *const keys[] = { "uniform", "normal", "constant", "file",
                                        "self_predicting", NULL };
    if (check_keys(x, init, "an init", keys))
        return -1;
    if (init->data.mapping.pairs.top - init->data.mapping.pairs.start != 1)
        return fail(x, init, "an init takes exactly one of uniform, normal, constant, file, "
                             "self_predicting");
    yaml_node_t *nm = get(x, init, "normal");
    if (nm) {
        double mean, sd;
        if (to_pair(x, nm, "[mean, standard deviation]", &mean, &sd))
            return -1;
        if (sd < 0)
            return fail(x, nm, "the standard deviation must be at least 0");
        apical_proj_init_normal(x->cfg->circuit, pj, mean, sd);
        return 0;
    }
    if (get(x, init, "self_predicting")) {
        int on;
        if (to_bool(x, get(x, init, "self_predicting"), &on))
            return -1;
        return on ? 1 : fail(x, init, "self_predicting: true, or another init");
    }
    yaml_node_t *u = get(x, init, "uniform"), *k = get(x, init, "constant"),
                *f = get(x, init, "file");
    double lo, hi;
    if (f) {
        apical_table t;
        if (load_table(x, f, &t))
            return -1;
        int rc = apical_proj_init_table(x->cfg->circuit, pj, &t, x->y.err, x->y.cap);
        apical_table_free(&t);
        return rc ? fail_at(x, f, x->y.err) : 0;
    }
    if (u) {
        if (to_range(x, u, &lo, &hi))
            return -1;
    } else {
        if (to_double(x, k, &lo))
            return -1;
        hi = lo;
    }
    apical_proj_init_uniform(x->cfg->circuit, pj, lo, hi);
    return 0;
}

static int load_rule(ctx *x, const yaml_node_t *rn, const apical_rule **rule,
                     const yaml_node_t **params)
{
    if (expect(x, rn, YAML_MAPPING_NODE, "a rule {name: {params}}"))
        return -1;
    if (rn->data.mapping.pairs.top - rn->data.mapping.pairs.start != 1)
        return fail(x, rn, "a projection has exactly one rule");
    yaml_node_t *k = node(x, rn->data.mapping.pairs.start->key);
    yaml_node_t *v = node(x, rn->data.mapping.pairs.start->value);
    if (expect(x, k, YAML_SCALAR_NODE, "a rule name"))
        return -1;
    *rule = apical_registry_rule(x->reg, scalar(k), x->y.err, x->y.cap);
    if (!*rule)
        return fail_at(x, k, x->y.err);
    if (v->type == YAML_SCALAR_NODE && !*scalar(v))
        v = NULL; /* "rule: {name: }" keeps the defaults */
    else if (expect(x, v, YAML_MAPPING_NODE, "a mapping of rule parameters"))
        return -1;
    *params = v;
    return 0;
}

/* The projection's name: its name: key, or SRC-DST (from apical_circuit_add_proj),
   which no earlier projection may have. */
static int name_proj(ctx *x, const yaml_node_t *v, apical_proj *pj)
{
    apical_circuit *c = x->cfg->circuit;
    yaml_node_t *nm = get(x, v, "name");
    if (nm) {
        if (expect(x, nm, YAML_SCALAR_NODE, "a projection name"))
            return -1;
        if (apical_proj_set_name(c, pj, scalar(nm), x->y.err, x->y.cap))
            return fail_at(x, nm, x->y.err);
        return 0;
    }
    const apical_proj *first = apical_circuit_proj(c, pj->name, NULL);
    if (first != pj)
        return fail(x, v, "the projection defined at %s is called %s already, and so is this one "
                    "by default (SOURCE-TARGET): give them a name: each", first->where, pj->name);
    return 0;
}

/* Projection v (from, to, connect, rule) added to the circuit, its rule's
   parameters in *rparams (NULL: the defaults), one_to_one in *one; NULL on
   error. */
static apical_proj *add_projection(ctx *x, const yaml_node_t *v, int *one,
                                   const yaml_node_t **rparams)
{
    apical_circuit *c = x->cfg->circuit;
    yaml_node_t *from = need(x, v, "from", "a projection"), *to;
    if (!from || !(to = need(x, v, "to", "a projection")))
        return NULL;
    char sp[128], so[128], dp[128], dport[128];
    if (apical_cfg_split_ref(x, from, APICAL_ROLE_RATE, sp, so, sizeof sp) ||
        apical_cfg_split_ref(x, to, 0, dp, dport, sizeof dp))
        return NULL;
    yaml_node_t *conn = get(x, v, "connect");
    if (conn) {
        static const char *const kinds[] = { "all_to_all", "one_to_one", NULL };
        if (one_of(x, conn, kinds, "all_to_all or one_to_one", one))
            return NULL;
    }
    const apical_rule *rule = NULL;
    yaml_node_t *rn = get(x, v, "rule");
    if (rn && load_rule(x, rn, &rule, rparams))
        return NULL;
    if (apical_circuit_add_proj(c, sp, so, dp, dport, *one, rule, x->y.err, x->y.cap)) {
        /* point at the part that is wrong */
        const yaml_node_t *at = v;
        if (strstr(x->y.err, "has no port"))
            at = to;
        else if (strstr(x->y.err, "cannot send"))
            at = from;
        else if (rule && strstr(x->y.err, "needs observable"))
            at = node(x, rn->data.mapping.pairs.start->key);
        else if (conn && strstr(x->y.err, "one_to_one"))
            at = conn;
        fail_at(x, at, x->y.err);
        return NULL;
    }
    apical_proj *pj = &c->projs[c->n_projs - 1];
    snprintf(pj->where, sizeof pj->where, "%s:%zu:%zu", x->y.file, v->start_mark.line + 1,
             v->start_mark.column + 1);
    return pj;
}

/* rule: {NAME: {param: value}}: the parameters on pj (rparams may be NULL). */
static int set_rule_params(ctx *x, apical_proj *pj, const yaml_node_t *rparams)
{
    for (yaml_node_pair_t *q = rparams ? rparams->data.mapping.pairs.start : NULL;
         rparams && q < rparams->data.mapping.pairs.top; q++) {
        yaml_node_t *pk = node(x, q->key), *pv = node(x, q->value);
        double d;
        if (expect(x, pk, YAML_SCALAR_NODE, "a parameter name") || to_double(x, pv, &d))
            return -1;
        if (apical_rule_set_param(pj, scalar(pk), d, x->y.err, x->y.cap))
            return fail_at(x, strstr(x->y.err, "has no parameter") ? pk : pv, x->y.err);
    }
    return 0;
}

/* One item of projections; *self_predicting becomes its init when that
   init waits for every projection to exist. */
static int load_projection(ctx *x, const yaml_node_t *v, const yaml_node_t **self_predicting)
{
    static const char *const keys[] = { "name", "from", "to", "init", "connect", "rule", "delay",
                                        NULL };
    if (expect(x, v, YAML_MAPPING_NODE, "a projection {from, to, ...}") ||
        check_keys(x, v, "a projection", keys))
        return -1;
    int one = 0;
    const yaml_node_t *rparams = NULL;
    apical_proj *pj = add_projection(x, v, &one, &rparams);
    if (!pj || name_proj(x, v, pj))
        return -1;
    yaml_node_t *dl = get(x, v, "delay");
    long delay = 0;
    if (dl && (to_long(x, dl, 0, &delay) ||
               (delay > 1 && fail(x, dl, "a projection's delay is 0 or 1 step, not %ld", delay)) ||
               (apical_proj_set_delay(x->cfg->circuit, pj, (int)delay, x->y.err, x->y.cap) &&
                fail_at(x, dl, x->y.err))))
        return -1;
    yaml_node_t *init = get(x, v, "init");
    if (init && one)
        return fail(x, init, "a one_to_one projection has no weights to initialise");
    if (!init && !one)
        return fail(x, v, "a projection needs an init, e.g. init: {uniform: [-1, 1]}");
    int rc = init ? load_init(x, pj, init) : 0;
    if (rc < 0)
        return -1;
    if (rc == 1)
        *self_predicting = init;
    return set_rule_params(x, pj, rparams);
}

/* Projections that carry port-stage observables (feedthrough) may not form
   an instantaneous loop: refused at a projection of the loop. */
static int check_feedthrough(ctx *x, const yaml_node_t *list)
{
    apical_circuit *c = x->cfg->circuit;
    int any = 0;
    for (size_t k = 0; k < c->n_projs; k++)
        any |= c->projs[k].feedthrough;
    if (!any)
        return 0;
    size_t *order = malloc(c->n_pops * sizeof *order), k = 0;
    if (!order)
        return fail(x, list, "out of memory");
    int rc = apical_circuit_feed_order(c, order, &k, x->y.err, x->y.cap);
    free(order);
    return rc ? fail_at(x, node(x, list->data.sequence.items.start[k]), x->y.err) : 0;
}

/* The projections in order, then the self-predicting inits, which read the
   weights of others; then the feedthrough projections' order. */
int apical_cfg_load_projections(ctx *x, const yaml_node_t *list)
{
    if (expect(x, list, YAML_SEQUENCE_NODE, "a list of projections"))
        return -1;
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    const yaml_node_t **sps = calloc(n ? n : 1, sizeof *sps); /* item i: projection i */
    if (!sps)
        return fail(x, list, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = load_projection(x, node(x, list->data.sequence.items.start[i]), &sps[i]);
    apical_circuit *c = x->cfg->circuit;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (sps[i] && apical_proj_init_self_predicting(c, &c->projs[i], x->y.err, x->y.cap))
            rc = fail_at(x, sps[i], x->y.err);
    free(sps);
    return rc ? rc : check_feedthrough(x, list);
}

/* teacher: {sizes: [...], gains: [...], phi: {phi: softrect, gamma, beta, theta}} */
static int load_teacher(ctx *x, const yaml_node_t *v, const char *name, double lo, double hi,
                        const char *pop, const char *port, const yaml_node_t *at)
{
    yaml_node_t *sz = need(x, v, "sizes", "a teacher stimulus"), *gn;
    double sizes_d[16], gains[16], phi[4] = { 1, 0.1, 1, 3 }; /* softrect, docs/model.md 1.2 */
    size_t ns, ng;
    if (!sz || load_list(x, sz, sizes_d, 16, &ns, "layer sizes"))
        return -1;
    if (ns < 2)
        return fail(x, sz, "a teacher needs at least an input and an output size");
    if (!(gn = need(x, v, "gains", "a teacher stimulus")) ||
        load_list(x, gn, gains, 16, &ng, "gains"))
        return -1;
    if (ng != ns - 1)
        return fail(x, gn, "expected %zu gains (one per weight layer), found %zu", ns - 1, ng);
    size_t sizes[16];
    for (size_t i = 0; i < ns; i++) {
        /* checked before the conversion, which a huge size would overflow */
        if (!(sizes_d[i] >= 1 && sizes_d[i] <= 1e9) || sizes_d[i] != floor(sizes_d[i]))
            return fail(x, sz, "layer sizes are whole numbers from 1 to 1e9");
        sizes[i] = (size_t)sizes_d[i];
    }
    yaml_node_t *ph = get(x, v, "phi");
    if (ph) {
        static const char *const pk[] = { "phi", "gamma", "beta", "theta", NULL };
        static const char *const names[] = APICAL_PHI_CHOICES;
        if (expect(x, ph, YAML_MAPPING_NODE, "{phi: name, gamma, beta, theta}") ||
            check_keys(x, ph, "the teacher's transfer function", pk))
            return -1;
        yaml_node_t *kind = get(x, ph, "phi");
        if (kind) {
            int found = 0;
            for (int k = 0; names[k] && !found; k++)
                if (kind->type == YAML_SCALAR_NODE && strcmp(scalar(kind), names[k]) == 0)
                    phi[0] = k, found = 1;
            if (!found)
                return fail(x, kind, "expected logistic, softrect or softplus");
        }
        for (int k = 1; k < 4; k++) {
            yaml_node_t *pv = get(x, ph, pk[k]);
            if (pv && to_double(x, pv, &phi[k]))
                return -1;
        }
    }
    if (apical_circuit_add_stim_teacher(x->cfg->circuit, name, lo, hi, sizes, gains, ns - 1, phi,
                                        pop, port, x->y.err, x->y.cap))
        return fail_at(x, at, x->y.err);
    return 0;
}

static int load_idx_file(ctx *x, const yaml_node_t *f, apical_idx *out)
{
    char path[4096], searched[2048];
    if (expect(x, f, YAML_SCALAR_NODE, "an IDX file name"))
        return -1;
    int found = resolve_node(x, f, path, sizeof path, searched, sizeof searched);
    return apical_idx_read(path, out, x->y.err, x->y.cap) ? fail_file(x, f, found, searched, 1)
                                                          : 0;
}

/* {kind: idx, images, labels, rows: [first, count], scale, drives, target,
    target_rates: [off, on]} */
static int load_idx_stim(ctx *x, const yaml_node_t *v, const char *name)
{
    static const char *const not_idx[] = { "range", "file", "targets", "sizes", "gains", "phi",
                                           NULL };
    for (int i = 0; not_idx[i]; i++)
        if (get(x, v, not_idx[i]))
            return fail(x, get(x, v, not_idx[i]), "an idx stimulus takes no '%s'", not_idx[i]);
    yaml_node_t *im = need(x, v, "images", "an idx stimulus"),
                *lb = need(x, v, "labels", "an idx stimulus"),
                *drives = need(x, v, "drives", "a stimulus");
    char pop[128], port[128];
    if (!im || !lb || !drives || apical_cfg_split_ref(x, drives, APICAL_ROLE_DRIVE, pop, port, sizeof pop))
        return -1;
    apical_idx images, labels;
    if (load_idx_file(x, im, &images))
        return -1;
    if (load_idx_file(x, lb, &labels)) {
        apical_idx_free(&images);
        return -1;
    }
    double first = 0, count = (double)(images.n_dims ? images.dims[0] : 0), scale = 1.0 / 255;
    yaml_node_t *rows = get(x, v, "rows"), *sc = get(x, v, "scale");
    int rc = 0;
    if (rows && to_pair(x, rows, "[first, count]", &first, &count))
        rc = -1;
    else if (rows && !(first >= 0 && count >= 1 && first == floor(first) &&
                       count == floor(count) && first <= 1e15 && count <= 1e15))
        rc = fail(x, rows, "rows: [first, count] with first >= 0 and count >= 1 whole numbers "
                  "(at most 1e15)");
    else if (sc && to_double(x, sc, &scale))
        rc = -1;
    else if (apical_circuit_add_stim_idx(x->cfg->circuit, name, &images, &labels, (size_t)first,
                                         (size_t)count, scale, pop, port, x->y.err, x->y.cap))
        rc = fail_at(x, rows ? rows : im, x->y.err);
    apical_idx_free(&images);
    apical_idx_free(&labels);
    if (rc)
        return -1;
    apical_circuit *c = x->cfg->circuit;
    apical_stim *st = &c->stims[c->n_stims - 1];
    yaml_node_t *tg = get(x, v, "target"), *tr = get(x, v, "target_rates");
    if (tr && !tg)
        return fail(x, tr, "target_rates need a 'target: population' to teach");
    if (!tg)
        return 0;
    double off = 0.1, on = 0.8;
    if (expect(x, tg, YAML_SCALAR_NODE, "a population name") ||
        (tr && to_pair(x, tr, "[off, on] rates", &off, &on)))
        return -1;
    if (apical_stim_set_idx_targets(c, st, scalar(tg), off, on, x->y.err, x->y.cap))
        return fail_at(x, tr ? tr : tg, x->y.err);
    return 0;
}

/* A csv, teacher or uniform stimulus v: no key of another kind (kn). */
static int no_foreign_keys(ctx *x, const yaml_node_t *v, const char *kn, int csv, int teacher)
{
    static const char *const only_idx[] = { "images", "labels", "rows", "scale", "target_rates",
                                            NULL };
    static const char *const only_csv[] = { "file", "targets", NULL };
    static const char *const only_teacher[] = { "sizes", "gains", "phi", NULL };
    for (int i = 0; only_idx[i]; i++)
        if (get(x, v, only_idx[i]))
            return fail(x, get(x, v, only_idx[i]), "'%s' belongs to an idx stimulus, not %s",
                        only_idx[i], kn);
    for (int i = 0; only_csv[i]; i++)
        if (!csv && get(x, v, only_csv[i]))
            return fail(x, get(x, v, only_csv[i]), "'%s' belongs to a csv stimulus, not %s",
                        only_csv[i], kn);
    for (int i = 0; only_teacher[i]; i++)
        if (!teacher && get(x, v, only_teacher[i]))
            return fail(x, get(x, v, only_teacher[i]),
                        "'%s' belongs to a teacher stimulus, not %s", only_teacher[i], kn);
    if (csv && get(x, v, "range"))
        return fail(x, get(x, v, "range"), "a csv stimulus takes no range");
    return 0;
}

/* target: POP (and for csv targets: FILE) of stimulus st, if v has one. */
static int load_stim_target(ctx *x, const yaml_node_t *v, apical_stim *st, int csv, int teacher)
{
    yaml_node_t *tg = get(x, v, "target"), *tf = get(x, v, "targets");
    if (tf && !tg)
        return fail(x, tf, "targets need a 'target: population' to teach");
    if (!tg)
        return 0;
    if (!csv && !teacher)
        return fail(x, tg, "a uniform stimulus has no targets (use csv or teacher)");
    if (expect(x, tg, YAML_SCALAR_NODE, "a population name"))
        return -1;
    apical_table t = { 0 };
    if (csv && (!tf ? (fail(x, v, "a csv stimulus with a target needs 'targets: FILE'"), 1)
                    : load_table(x, tf, &t)))
        return -1;
    int rc = apical_stim_set_target(x->cfg->circuit, st, scalar(tg), csv ? &t : NULL, x->y.err,
                                    x->y.cap);
    apical_table_free(&t);
    return rc ? fail_at(x, tf ? tf : tg, x->y.err) : 0;
}

/* A csv, teacher or uniform stimulus called name: {kind, drives, range,
   file, sizes, gains, phi, target, targets}. */
static int load_patterns(ctx *x, const char *name, const yaml_node_t *v, int csv, int teacher)
{
    apical_circuit *c = x->cfg->circuit;
    char pop[128], port[128];
    yaml_node_t *drives = need(x, v, "drives", "a stimulus");
    if (!drives || apical_cfg_split_ref(x, drives, APICAL_ROLE_DRIVE, pop, port, sizeof pop))
        return -1;
    double lo = -1, hi = 1;
    yaml_node_t *range = get(x, v, "range");
    if (range && to_range(x, range, &lo, &hi))
        return -1;
    if (csv) {
        yaml_node_t *f = need(x, v, "file", "a csv stimulus");
        apical_table t;
        if (!f || load_table(x, f, &t))
            return -1;
        int rc = apical_circuit_add_stim_table(c, name, &t, pop, port, x->y.err, x->y.cap);
        apical_table_free(&t);
        if (rc)
            return fail_at(x, f, x->y.err);
    } else if (teacher) {
        if (load_teacher(x, v, name, lo, hi, pop, port, drives))
            return -1;
    } else if (apical_circuit_add_stim_uniform(c, name, lo, hi, pop, port, x->y.err, x->y.cap)) {
        return fail_at(x, drives, x->y.err);
    }
    return load_stim_target(x, v, &c->stims[c->n_stims - 1], csv, teacher);
}

int apical_cfg_load_stimuli(ctx *x, const yaml_node_t *stims)
{
    if (expect(x, stims, YAML_MAPPING_NODE, "a mapping of stimulus names"))
        return -1;
    static const char *const keys[] = { "kind", "range", "file", "targets", "sizes", "gains",
                                        "phi", "drives", "target", "images", "labels", "rows",
                                        "scale", "target_rates", "shuffle", NULL };
    for (yaml_node_pair_t *p = stims->data.mapping.pairs.start;
         p < stims->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        if (expect(x, k, YAML_SCALAR_NODE, "a stimulus name") ||
            expect(x, v, YAML_MAPPING_NODE, "a stimulus {kind, ...}") ||
            check_keys(x, v, "a stimulus", keys))
            return -1;
        yaml_node_t *kind = need(x, v, "kind", "a stimulus");
        if (!kind || expect(x, kind, YAML_SCALAR_NODE, "a stimulus kind"))
            return -1;
        const char *kn = scalar(kind);
        int csv = strcmp(kn, "csv") == 0, teacher = strcmp(kn, "teacher") == 0;
        int idx = strcmp(kn, "idx") == 0;
        if (!csv && !teacher && !idx && strcmp(kn, "uniform") != 0)
            return fail(x, kind, "unknown stimulus kind '%s' (one of: uniform, csv, teacher, idx)",
                        kn);
        if (idx ? load_idx_stim(x, v, scalar(k))
                : no_foreign_keys(x, v, kn, csv, teacher) ||
                      load_patterns(x, scalar(k), v, csv, teacher))
            return -1;
        yaml_node_t *sh = get(x, v, "shuffle");
        int on = 0;
        if (sh && (to_bool(x, sh, &on) ||
                   (on && !csv && !idx &&
                    fail(x, sh, "shuffle belongs to csv and idx stimuli (a %s stimulus draws "
                         "every pattern afresh)", kn))))
            return -1;
        apical_circuit *c = x->cfg->circuit;
        if (on && apical_stim_set_shuffle(c, &c->stims[c->n_stims - 1], x->y.err, x->y.cap))
            return fail_at(x, sh, x->y.err);
    }
    return 0;
}
