/*
 * config.c -- YAML circuit files to circuits.
 *
 * libyaml's document API keeps each node's start mark, so every error can
 * name FILE:LINE:COL.  Each mapping is checked against the keys it may hold;
 * an unknown key is reported with the closest valid one.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "apical_runner.h"
#include "transfer.h"

typedef struct ctx {
    yaml_document_t doc;
    const char *const *sets;    /* --set overrides, for messages */
    const char *file;
    apical_registry *reg;
    apical_config *cfg;
    char *err;
    size_t cap;
} ctx;

/* Nodes made by --set carry mark.index = SET_MARK + the override's number. */
#define SET_MARK ((size_t)1 << 60)

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(ctx *x, const yaml_node_t *n, const char *fmt, ...)
{
    int used = 0;
    if (n && n->start_mark.index >= SET_MARK) /* a value from --set */
        used = snprintf(x->err, x->cap, "--set %s: ", x->sets[n->start_mark.index - SET_MARK]);
    else if (n)
        used = snprintf(x->err, x->cap, "%s:%zu:%zu: ", x->file, n->start_mark.line + 1,
                        n->start_mark.column + 1);
    else
        used = snprintf(x->err, x->cap, "%s: ", x->file);
    if (used < 0 || (size_t)used >= x->cap)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err + used, x->cap - (size_t)used, fmt, ap);
    va_end(ap);
    return -1;
}

/* Prefix a message from the circuit layer with the node's location. */
static int fail_at(ctx *x, const yaml_node_t *n, const char *msg)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", msg);
    return fail(x, n, "%s", copy);
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

/* A path in the file, relative to the file's directory. */
static void resolve(const ctx *x, const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(x->file, '/');
    if (path[0] == '/' || !slash)
        snprintf(out, cap, "%s", path);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - x->file), x->file, path);
}

/* resolve() for a file named by a scalar node, which then holds the
   absolute path: the configuration written into a run directory (and read
   back by --resume) names the same file from anywhere. */
static void resolve_node(const ctx *x, const yaml_node_t *n, char *out, size_t cap)
{
    resolve(x, (const char *)n->data.scalar.value, out, cap);
    char *abs = realpath(out, NULL);
    if (!abs)
        return; /* missing: the reader reports it under the given name */
    yaml_node_t *w = (yaml_node_t *)n;
    char *copy = strdup(abs);
    free(abs);
    if (!copy)
        return;
    free(w->data.scalar.value); /* libyaml allocates with malloc */
    w->data.scalar.value = (yaml_char_t *)copy;
    w->data.scalar.length = strlen(copy);
    w->data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
}

static yaml_node_t *node(ctx *x, int id) { return yaml_document_get_node(&x->doc, id); }
static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int expect(ctx *x, const yaml_node_t *n, yaml_node_type_t t, const char *what)
{
    if (n->type == t)
        return 0;
    return fail(x, n, "expected %s, found %s", what, kind_name(n));
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            prev = cur;
        }
    }
    return row[lb];
}

/* Every key of mapping n must be in allowed (NULL-terminated). */
static int check_keys(ctx *x, const yaml_node_t *n, const char *where, const char *const *allowed)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key);
        if (k->type != YAML_SCALAR_NODE)
            return fail(x, k, "expected a key name in %s", where);
        const char *best = NULL;
        size_t bestd = 3;
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++) {
            if (strcmp(allowed[i], scalar(k)) == 0) {
                ok = 1;
                break;
            }
            size_t d = edit_distance(scalar(k), allowed[i]);
            if (d < bestd) {
                bestd = d;
                best = allowed[i];
            }
        }
        if (ok)
            continue;
        char list[512];
        size_t used = 0;
        list[0] = 0;
        for (size_t i = 0; allowed[i] && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     allowed[i]);
        if (best)
            return fail(x, k, "unknown key '%s' in %s (did you mean '%s'?)", scalar(k), where,
                        best);
        return fail(x, k, "unknown key '%s' in %s (expected one of: %s)", scalar(k), where, list);
    }
    return 0;
}

static yaml_node_t *get(ctx *x, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(x, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(scalar(k), key) == 0)
            return node(x, p->value);
    }
    return NULL;
}

static yaml_node_t *need(ctx *x, const yaml_node_t *map, const char *key, const char *where)
{
    yaml_node_t *v = get(x, map, key);
    if (!v)
        fail(x, map, "%s needs the key '%s'", where, key);
    return v;
}

static int to_double(ctx *x, const yaml_node_t *n, double *out)
{
    if (expect(x, n, YAML_SCALAR_NODE, "a number"))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(scalar(n), &end);
    if (end == scalar(n) || *end || errno == ERANGE || !isfinite(v))
        return fail(x, n, "expected a number, found '%s'", scalar(n));
    *out = v;
    return 0;
}

static int to_long(ctx *x, const yaml_node_t *n, long lo, long *out)
{
    if (expect(x, n, YAML_SCALAR_NODE, "an integer"))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(scalar(n), &end, 10);
    if (end == scalar(n) || *end || errno == ERANGE)
        return fail(x, n, "expected an integer, found '%s'", scalar(n));
    if (v < lo)
        return fail(x, n, "expected an integer of at least %ld, found %ld", lo, v);
    *out = v;
    return 0;
}

/* A list of exactly two numbers; `what` describes it for the message. */
static int to_pair(ctx *x, const yaml_node_t *n, const char *what, double *a, double *b)
{
    if (n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top - n->data.sequence.items.start != 2)
        return fail(x, n, "expected %s", what);
    return to_double(x, node(x, n->data.sequence.items.start[0]), a) ||
                   to_double(x, node(x, n->data.sequence.items.start[1]), b)
               ? -1
               : 0;
}

static int to_range(ctx *x, const yaml_node_t *n, double *lo, double *hi)
{
    if (to_pair(x, n, "a range [low, high]", lo, hi))
        return -1;
    if (!(*lo <= *hi))
        return fail(x, n, "range [%g, %g] is empty", *lo, *hi);
    return 0;
}

/* "pop.part" -> pop and part (part defaults to dflt). */
static int split_ref(ctx *x, const yaml_node_t *n, const char *dflt, char *pop, char *part,
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
        snprintf(part, cap, "%s", dflt);
    }
    if (!apical_circuit_pop(x->cfg->circuit, pop, NULL))
        return fail(x, n, "no population '%s'", pop);
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
                     ? apical_pop_set_param(pop, scalar(pk), d, x->err, x->cap)
                     : apical_pop_set_choice(pop, scalar(pk), scalar(pv), x->err, x->cap);
        if (rc)
            return fail_at(x, strstr(x->err, "has no parameter") ? pk : pv, x->err);
    }
    return 0;
}

/* defaults: {CELL_MODEL: {param: value}}: shared by every population of
   that model, before each population's own params. */
static int check_defaults(ctx *x, const yaml_node_t *d)
{
    if (expect(x, d, YAML_MAPPING_NODE, "defaults {cell_model: {param: value}}"))
        return -1;
    for (yaml_node_pair_t *p = d->data.mapping.pairs.start; p < d->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key);
        if (expect(x, k, YAML_SCALAR_NODE, "a cell model name") ||
            expect(x, node(x, p->value), YAML_MAPPING_NODE, "a mapping of parameters"))
            return -1;
        if (!apical_registry_cell(x->reg, scalar(k), x->err, x->cap))
            return fail_at(x, k, x->err);
    }
    return 0;
}

static int load_populations(ctx *x, const yaml_node_t *pops, const yaml_node_t *defaults,
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
        const apical_cell_model *m = apical_registry_cell(x->reg, scalar(cell), x->err, x->cap);
        if (!m)
            return fail_at(x, cell, x->err);
        if (apical_circuit_add_pop(c, scalar(k), m, (size_t)n, x->err, x->cap))
            return fail_at(x, k, x->err);
        apical_pop *pop = &c->pops[c->n_pops - 1];
        snprintf(pop->where, sizeof pop->where, "%s:%zu:%zu", x->file, k->start_mark.line + 1,
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

/* A scalar that is one of names[] (NULL-terminated): its index into *out;
   otherwise an error that says what was expected (a description of names). */
static int one_of(ctx *x, const yaml_node_t *n, const char *const names[], const char *expected,
                  int *out)
{
    if (expect(x, n, YAML_SCALAR_NODE, expected))
        return -1;
    for (int k = 0; names[k]; k++)
        if (strcmp(scalar(n), names[k]) == 0) {
            *out = k;
            return 0;
        }
    return fail(x, n, "expected %s, found '%s'", expected, scalar(n));
}

static int to_bool(ctx *x, const yaml_node_t *n, int *out)
{
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = scalar(n);
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
            return *out = 1, 0;
        if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
            return *out = 0, 0;
    }
    return fail(x, n, "expected true or false");
}

/* A CSV table named in the file, relative to the file's directory. */
static int load_table(ctx *x, const yaml_node_t *f, apical_table *t)
{
    char path[4096];
    if (expect(x, f, YAML_SCALAR_NODE, "a file name"))
        return -1;
    resolve_node(x, f, path, sizeof path);
    return apical_csv_read(path, t, x->err, x->cap) ? fail_at(x, f, x->err) : 0;
}

/* 0: done; 1: self-predicting, to be set once every projection exists */
static int load_init(ctx *x, apical_proj *pj, const yaml_node_t *init)
{
    if (expect(x, init, YAML_MAPPING_NODE, "an init {uniform: [lo, hi]}, {constant: v} or {file: F}"))
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
        int rc = apical_proj_init_table(x->cfg->circuit, pj, &t, x->err, x->cap);
        apical_table_free(&t);
        return rc ? fail_at(x, f, x->err) : 0;
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
    *rule = apical_registry_rule(x->reg, scalar(k), x->err, x->cap);
    if (!*rule)
        return fail_at(x, k, x->err);
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
        if (apical_proj_set_name(c, pj, scalar(nm), x->err, x->cap))
            return fail_at(x, nm, x->err);
        return 0;
    }
    const apical_proj *first = apical_circuit_proj(c, pj->name, NULL);
    if (first != pj)
        return fail(x, v, "the projection defined at %s is called %s already, and so is this one "
                    "by default (SOURCE-TARGET): give them a name: each", first->where, pj->name);
    return 0;
}

static int load_projections(ctx *x, const yaml_node_t *list, size_t **deferred,
                            const yaml_node_t ***deferred_at, size_t *n_deferred)
{
    if (expect(x, list, YAML_SEQUENCE_NODE, "a list of projections"))
        return -1;
    static const char *const keys[] = { "name", "from", "to", "init", "connect", "rule", NULL };
    apical_circuit *c = x->cfg->circuit;
    for (yaml_node_item_t *it = list->data.sequence.items.start;
         it < list->data.sequence.items.top; it++) {
        yaml_node_t *v = node(x, *it);
        if (expect(x, v, YAML_MAPPING_NODE, "a projection {from, to, ...}") ||
            check_keys(x, v, "a projection", keys))
            return -1;
        yaml_node_t *from = need(x, v, "from", "a projection"), *to;
        if (!from || !(to = need(x, v, "to", "a projection")))
            return -1;
        char sp[128], so[128], dp[128], dport[128];
        if (split_ref(x, from, "rate", sp, so, sizeof sp) ||
            split_ref(x, to, NULL, dp, dport, sizeof dp))
            return -1;
        int one = 0;
        yaml_node_t *conn = get(x, v, "connect");
        if (conn) {
            static const char *const kinds[] = { "all_to_all", "one_to_one", NULL };
            if (one_of(x, conn, kinds, "all_to_all or one_to_one", &one))
                return -1;
        }
        const apical_rule *rule = NULL;
        const yaml_node_t *rparams = NULL;
        yaml_node_t *rn = get(x, v, "rule");
        if (rn && load_rule(x, rn, &rule, &rparams))
            return -1;
        if (apical_circuit_add_proj(c, sp, so, dp, dport, one, rule, x->err, x->cap)) {
            /* point at the part that is wrong */
            const yaml_node_t *at = v;
            if (strstr(x->err, "has no port"))
                at = to;
            else if (strstr(x->err, "cannot send"))
                at = from;
            else if (rule && strstr(x->err, "needs observable"))
                at = node(x, rn->data.mapping.pairs.start->key);
            else if (conn && strstr(x->err, "one_to_one"))
                at = conn;
            return fail_at(x, at, x->err);
        }
        apical_proj *pj = &c->projs[c->n_projs - 1];
        snprintf(pj->where, sizeof pj->where, "%s:%zu:%zu", x->file, v->start_mark.line + 1,
                 v->start_mark.column + 1);
        if (name_proj(x, v, pj))
            return -1;
        yaml_node_t *init = get(x, v, "init");
        if (init && one)
            return fail(x, init, "a one_to_one projection has no weights to initialise");
        if (!init && !one)
            return fail(x, v, "a projection needs an init, e.g. init: {uniform: [-1, 1]}");
        int rc = init ? load_init(x, pj, init) : 0;
        if (rc < 0)
            return -1;
        if (rc == 1) {
            size_t *dl = realloc(*deferred, (*n_deferred + 1) * sizeof *dl);
            const yaml_node_t **dn = realloc(*deferred_at, (*n_deferred + 1) * sizeof *dn);
            if (dl)
                *deferred = dl;
            if (dn)
                *deferred_at = dn;
            if (!dl || !dn)
                return fail(x, init, "out of memory");
            dl[*n_deferred] = c->n_projs - 1;
            dn[(*n_deferred)++] = init;
        }
        for (yaml_node_pair_t *q = rparams ? rparams->data.mapping.pairs.start : NULL;
             rparams && q < rparams->data.mapping.pairs.top; q++) {
            yaml_node_t *pk = node(x, q->key), *pv = node(x, q->value);
            double d;
            if (expect(x, pk, YAML_SCALAR_NODE, "a parameter name") || to_double(x, pv, &d))
                return -1;
            if (apical_rule_set_param(pj, scalar(pk), d, x->err, x->cap))
                return fail_at(x, strstr(x->err, "has no parameter") ? pk : pv, x->err);
        }
    }
    return 0;
}

static int load_list(ctx *x, const yaml_node_t *n, double *out, size_t cap, size_t *count,
                     const char *what)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(x, n, "expected a list of %s", what);
    size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (k > cap)
        return fail(x, n, "at most %zu %s", cap, what);
    for (size_t i = 0; i < k; i++)
        if (to_double(x, node(x, n->data.sequence.items.start[i]), &out[i]))
            return -1;
    *count = k;
    return 0;
}


/* teacher: {sizes: [...], gains: [...], phi: {phi: softrect, gamma, beta, theta}} */
static int load_teacher(ctx *x, const yaml_node_t *v, const char *name, double lo, double hi,
                        const char *pop, const char *port, const yaml_node_t *at)
{
    yaml_node_t *sz = need(x, v, "sizes", "a teacher stimulus"), *gn;
    double sizes_d[16], gains[16], phi[4] = { 1, 0.1, 1, 3 }; /* softrect, MODEL.md 1.2 */
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
        if (sizes_d[i] < 1 || sizes_d[i] != floor(sizes_d[i]))
            return fail(x, sz, "layer sizes are positive integers");
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
                                        pop, port, x->err, x->cap))
        return fail_at(x, at, x->err);
    return 0;
}

static int load_idx_stim(ctx *x, const yaml_node_t *v, const char *name);

static int load_stimuli(ctx *x, const yaml_node_t *stims)
{
    if (expect(x, stims, YAML_MAPPING_NODE, "a mapping of stimulus names"))
        return -1;
    static const char *const keys[] = { "kind", "range", "file", "targets", "sizes", "gains",
                                        "phi", "drives", "target", "images", "labels", "rows",
                                        "scale", "target_rates", NULL };
    apical_circuit *c = x->cfg->circuit;
    for (yaml_node_pair_t *p = stims->data.mapping.pairs.start;
         p < stims->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        if (expect(x, k, YAML_SCALAR_NODE, "a stimulus name") ||
            expect(x, v, YAML_MAPPING_NODE, "a stimulus {kind, ...}") ||
            check_keys(x, v, "a stimulus", keys))
            return -1;
        yaml_node_t *kind = need(x, v, "kind", "a stimulus"), *drives;
        if (!kind || expect(x, kind, YAML_SCALAR_NODE, "a stimulus kind"))
            return -1;
        const char *kn = scalar(kind);
        int csv = strcmp(kn, "csv") == 0, teacher = strcmp(kn, "teacher") == 0;
        int idx = strcmp(kn, "idx") == 0;
        if (!csv && !teacher && !idx && strcmp(kn, "uniform") != 0)
            return fail(x, kind, "unknown stimulus kind '%s' (one of: uniform, csv, teacher, idx)",
                        kn);
        static const char *const only_idx[] = { "images", "labels", "rows", "scale",
                                                "target_rates", NULL };
        for (int i = 0; only_idx[i]; i++)
            if (!idx && get(x, v, only_idx[i]))
                return fail(x, get(x, v, only_idx[i]), "'%s' belongs to an idx stimulus, not %s",
                            only_idx[i], kn);
        if (idx) {
            if (load_idx_stim(x, v, scalar(k)))
                return -1;
            continue;
        }
        /* keys that belong to other kinds */
        static const char *const only_csv[] = { "file", "targets", NULL };
        static const char *const only_teacher[] = { "sizes", "gains", "phi", NULL };
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
        char pop[128], port[128];
        if (!(drives = need(x, v, "drives", "a stimulus")) ||
            split_ref(x, drives, "drive", pop, port, sizeof pop))
            return -1;
        double lo = -1, hi = 1;
        yaml_node_t *range = get(x, v, "range");
        if (range && to_range(x, range, &lo, &hi))
            return -1;
        int rc;
        if (csv) {
            yaml_node_t *f = need(x, v, "file", "a csv stimulus");
            apical_table t;
            if (!f || load_table(x, f, &t))
                return -1;
            rc = apical_circuit_add_stim_table(c, scalar(k), &t, pop, port, x->err, x->cap);
            apical_table_free(&t);
            if (rc)
                return fail_at(x, f, x->err);
        } else if (teacher) {
            if (load_teacher(x, v, scalar(k), lo, hi, pop, port, drives))
                return -1;
        } else if (apical_circuit_add_stim_uniform(c, scalar(k), lo, hi, pop, port, x->err,
                                                   x->cap)) {
            return fail_at(x, drives, x->err);
        }
        apical_stim *st = &c->stims[c->n_stims - 1];
        yaml_node_t *tg = get(x, v, "target"), *tf = get(x, v, "targets");
        if (tf && !tg)
            return fail(x, tf, "targets need a 'target: population' to teach");
        if (!tg)
            continue;
        if (!csv && !teacher)
            return fail(x, tg, "a uniform stimulus has no targets (use csv or teacher)");
        if (expect(x, tg, YAML_SCALAR_NODE, "a population name"))
            return -1;
        apical_table t = { 0 };
        if (csv && (!tf ? (fail(x, v, "a csv stimulus with a target needs 'targets: FILE'"), 1)
                        : load_table(x, tf, &t)))
            return -1;
        rc = apical_stim_set_target(c, st, scalar(tg), csv ? &t : NULL, x->err, x->cap);
        apical_table_free(&t);
        if (rc)
            return fail_at(x, tf ? tf : tg, x->err);
    }
    return 0;
}

static int load_idx_file(ctx *x, const yaml_node_t *f, apical_idx *out)
{
    char path[4096];
    if (expect(x, f, YAML_SCALAR_NODE, "an IDX file name"))
        return -1;
    resolve_node(x, f, path, sizeof path);
    if (apical_idx_read(path, out, x->err, x->cap)) {
        char why[1000];
        snprintf(why, sizeof why, "%.900s%s", x->err,
                 strstr(x->err, "No such file") ? " (scripts/mnist-data fetches MNIST)" : "");
        return fail_at(x, f, why);
    }
    return 0;
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
    if (!im || !lb || !drives || split_ref(x, drives, "drive", pop, port, sizeof pop))
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
                       count == floor(count)))
        rc = fail(x, rows, "rows: [first, count] with first >= 0 and count >= 1 whole numbers");
    else if (sc && to_double(x, sc, &scale))
        rc = -1;
    else if (apical_circuit_add_stim_idx(x->cfg->circuit, name, &images, &labels, (size_t)first,
                                         (size_t)count, scale, pop, port, x->err, x->cap))
        rc = fail_at(x, rows ? rows : im, x->err);
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
    if (apical_stim_set_idx_targets(c, st, scalar(tg), off, on, x->err, x->cap))
        return fail_at(x, tr ? tr : tg, x->err);
    return 0;
}

static int find_stim(ctx *x, const yaml_node_t *n, size_t *index)
{
    if (expect(x, n, YAML_SCALAR_NODE, "a stimulus name"))
        return -1;
    apical_circuit *c = x->cfg->circuit;
    for (size_t i = 0; i < c->n_stims; i++)
        if (strcmp(c->stims[i].name, scalar(n)) == 0) {
            *index = i;
            return 0;
        }
    return fail(x, n, "no stimulus '%s'", scalar(n));
}

/* {train: STIM, patterns, present, plastic, target, noise}
   {test: STIM, patterns}     {settle: MS, plastic, target, noise} */
static int load_phase(ctx *x, const yaml_node_t *ph, apical_phase *out)
{
    static const char *const keys[] = { "train", "test", "settle", "patterns", "present",
                                        "plastic", "target", "noise", NULL };
    if (expect(x, ph, YAML_MAPPING_NODE, "a phase {train: STIM, ...}, {test: STIM, ...} or "
                                         "{settle: MS}") ||
        check_keys(x, ph, "a phase", keys))
        return -1;
    yaml_node_t *tr = get(x, ph, "train"), *te = get(x, ph, "test"), *se = get(x, ph, "settle");
    if (!!tr + !!te + !!se != 1)
        return fail(x, ph, "a phase is exactly one of train, test, settle");
    *out = (apical_phase){ .plastic = 1, .target = 1, .noise = 1, .present_ms = 100,
                           .patterns = x->cfg->run.eval_patterns };
    const char *kw[] = { "plastic", "target", "noise" };
    int *fl[] = { &out->plastic, &out->target, &out->noise };
    for (int k = 0; k < 3; k++) {
        yaml_node_t *v = get(x, ph, kw[k]);
        if (v && (te ? fail(x, v, "a test phase runs without %s", kw[k]) : to_bool(x, v, fl[k])))
            return -1;
    }
    yaml_node_t *np = get(x, ph, "patterns"), *pres = get(x, ph, "present");
    if (se) {
        out->kind = APICAL_PHASE_SETTLE;
        if (np || pres)
            return fail(x, np ? np : pres, "a settle phase takes a duration: {settle: MS}");
        if (to_double(x, se, &out->present_ms))
            return -1;
        if (!(out->present_ms >= 0))
            return fail(x, se, "a duration of at least 0 ms");
        return 0;
    }
    out->kind = tr ? APICAL_PHASE_TRAIN : APICAL_PHASE_TEST;
    if (find_stim(x, tr ? tr : te, &out->stim))
        return -1;
    if (tr && !np)
        return fail(x, ph, "a train phase needs 'patterns'");
    if (np && to_long(x, np, tr ? 0 : 1, &out->patterns))
        return -1;
    if (te && pres)
        return fail(x, pres, "a test phase settles for record.metrics.settle ms");
    if (pres && to_double(x, pres, &out->present_ms))
        return -1;
    if (!(out->present_ms >= x->cfg->run.dt))
        return fail(x, pres ? pres : ph, "present (%g ms) must be at least dt (%g ms)",
                    out->present_ms, x->cfg->run.dt);
    return 0;
}

/* interneurons: learned|ideal|free|implicit, for all interneurons, or a
   mapping {POP: learned|ideal|free|implicit, ...} for the named ones (the others learn). */
static int load_interneurons(ctx *x, const yaml_node_t *in, apical_steady_opts *o)
{
    static const char *const kinds[] = { "learned", "ideal", "free", "implicit",
                                         NULL }; /* enum order */
    static const char expected[] = "learned (Eq. 8), ideal (set to the self-predicting "
                                   "weights after every mini-batch), free (Eq. 8 in the "
                                   "un-nudged state) or implicit (Eq. 8 stepped implicitly)";
    if (o->mode != APICAL_MODE_STEADY)
        return fail(x, in, "interneurons belongs to mode steady");
    if (in->type != YAML_MAPPING_NODE)
        return one_of(x, in, kinds, expected, &o->interneurons);
    for (yaml_node_pair_t *pr = in->data.mapping.pairs.start; pr < in->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = node(x, pr->key), *v = node(x, pr->value);
        size_t i;
        int kind;
        if (expect(x, k, YAML_SCALAR_NODE, "a population name"))
            return -1;
        apical_pop *p = apical_circuit_pop(x->cfg->circuit, scalar(k), &i);
        if (!p)
            return fail(x, k, "no population '%s'", scalar(k));
        if (apical_model_find_port(p->model, "dendrite") == (size_t)-1)
            return fail(x, k, "population %s (%s) is not an interneuron: it has no dendrite "
                        "port", p->name, p->model->name);
        if (one_of(x, v, kinds, expected, &kind))
            return -1;
        o->interneurons_pop[i] = (unsigned char)(1 + kind);
    }
    return 0;
}

/* simulation.steady: {train: STIM, epochs, evaluate: [STIM...], batch,
   precision: f32|f64, variant: exact|literal, passes, decay, decay_from,
   feedback: transpose|topdown (backprop mode), interneurons:
   learned|ideal|free|implicit or {POP: learned|ideal|free|implicit},
   decay_interneurons: true|false, bp_cosine: IMAGES (steady mode)} */
static int load_steady(ctx *x, const yaml_node_t *sd)
{
    apical_steady_opts *o = &x->cfg->steady;
    static const char *const keys[] = { "train", "epochs", "evaluate", "batch", "precision",
                                        "variant", "passes", "decay", "decay_from", "feedback",
                                        "interneurons", "decay_interneurons", "bp_cosine",
                                        NULL };
    if (expect(x, sd, YAML_MAPPING_NODE, "a mapping {train, epochs, ...}") ||
        check_keys(x, sd, "steady", keys))
        return -1;
    o->batch = 10;
    o->passes = 1;
    o->epochs = 1;
    o->decay = 1.0;
    yaml_node_t *dc = get(x, sd, "decay");
    if (dc && to_double(x, dc, &o->decay))
        return -1;
    if (dc && !(o->decay > 0 && o->decay <= 1))
        return fail(x, dc, "decay: the learning rates' factor per epoch, in (0, 1]");
    yaml_node_t *di = get(x, sd, "decay_interneurons");
    int decay_in = 1;
    if (di && to_bool(x, di, &decay_in))
        return -1;
    if (di && o->mode != APICAL_MODE_STEADY)
        return fail(x, di, "decay_interneurons belongs to mode steady");
    o->interneurons_keep_rate = !decay_in;
    yaml_node_t *bc = get(x, sd, "bp_cosine");
    long probe = 0;
    if (bc && to_long(x, bc, 0, &probe))
        return -1;
    if (bc && o->mode != APICAL_MODE_STEADY)
        return fail(x, bc, "bp_cosine belongs to mode steady (it compares the microcircuit's "
                    "updates with backprop's)");
    o->bp_probe = (size_t)probe;
    yaml_node_t *df = get(x, sd, "decay_from");
    if (df && to_long(x, df, 0, &o->decay_from))
        return -1;
    yaml_node_t *fb = get(x, sd, "feedback");
    if (fb) {
        static const char *const ways[] = { "transpose", "topdown", NULL }; /* enum order */
        if (one_of(x, fb, ways, "transpose (backprop) or topdown (feedback alignment through "
                   "the top-down projections)", &o->feedback))
            return -1;
        if (o->mode != APICAL_MODE_BACKPROP)
            return fail(x, fb, "feedback belongs to mode backprop (steady mode's errors "
                        "travel through the top-down projections anyway)");
    }
    yaml_node_t *in = get(x, sd, "interneurons");
    if (in && load_interneurons(x, in, o))
        return -1;
    yaml_node_t *tr = need(x, sd, "train", "steady");
    if (!tr || find_stim(x, tr, &o->train))
        return -1;
    apical_stim *st = &x->cfg->circuit->stims[o->train];
    if (st->kind != APICAL_STIM_IDX || !st->has_target)
        return fail(x, tr, "steady training reads an idx stimulus with a target population");
    yaml_node_t *ep = get(x, sd, "epochs"), *ba = get(x, sd, "batch"), *pa = get(x, sd, "passes");
    long v;
    if (ep && to_long(x, ep, 0, &o->epochs))
        return -1;
    if (ba && to_long(x, ba, 1, &v))
        return -1;
    if (ba)
        o->batch = (size_t)v;
    if (pa && to_long(x, pa, 1, &v))
        return -1;
    if (pa)
        o->passes = (int)v;
    yaml_node_t *ev = get(x, sd, "evaluate");
    if (ev) {
        if (expect(x, ev, YAML_SEQUENCE_NODE, "a list of idx stimuli"))
            return -1;
        for (yaml_node_item_t *it = ev->data.sequence.items.start; it < ev->data.sequence.items.top;
             it++) {
            yaml_node_t *e = node(x, *it);
            size_t k = 0;
            if (o->n_eval == APICAL_STEADY_MAX_EVAL)
                return fail(x, e, "at most %d evaluated stimuli", APICAL_STEADY_MAX_EVAL);
            if (find_stim(x, e, &k))
                return -1;
            const apical_stim *es = &x->cfg->circuit->stims[k];
            if (es->kind != APICAL_STIM_IDX || !es->has_target || es->dst != st->dst ||
                es->tgt != st->tgt)
                return fail(x, e, "an evaluated stimulus is an idx stimulus with targets that "
                            "drives and teaches the same populations as %s", st->name);
            o->eval[o->n_eval++] = k;
        }
    }
    yaml_node_t *pr = get(x, sd, "precision"), *va = get(x, sd, "variant");
    static const char *const precisions[] = { "f64", "f32", NULL };
    static const char *const variants[] = { "exact", "literal", NULL };
    if (pr && one_of(x, pr, precisions, "f32 or f64", &o->f32))
        return -1;
    if (va && one_of(x, va, variants, "exact (MODEL.md 4, with the attenuation factors) or "
                     "literal (the paper's wording)", &o->literal))
        return -1;
    return 0;
}

static int load_simulation(ctx *x, const yaml_node_t *sim)
{
    apical_run_opts *o = &x->cfg->run;
    static const char *const keys[] = { "integrator", "noise", "phases", "bound", "mode",
                                        "steady", NULL };
    if (expect(x, sim, YAML_MAPPING_NODE, "a mapping") ||
        check_keys(x, sim, "simulation", keys))
        return -1;
    yaml_node_t *mode = get(x, sim, "mode"), *sd = get(x, sim, "steady");
    x->cfg->steady.mode = APICAL_MODE_DYNAMICS;
    if (mode) {
        static const char *const names[] = { "dynamics", "steady", "backprop", NULL };
        if (one_of(x, mode, names, "mode dynamics, steady or backprop", &x->cfg->steady.mode))
            return -1;
    }
    yaml_node_t *bound = get(x, sim, "bound");
    x->cfg->circuit->bound = 1e8;
    if (bound && to_double(x, bound, &x->cfg->circuit->bound))
        return -1;
    if (x->cfg->circuit->bound < 0)
        return fail(x, bound, "bound: the largest |state| or |weight| allowed (0: no bound)");
    if (x->cfg->steady.mode != APICAL_MODE_DYNAMICS) {
        if (!sd)
            return fail(x, mode, "mode %s needs a 'steady: {train, epochs, ...}' block",
                        scalar(mode));
        if (get(x, sim, "phases"))
            return fail(x, get(x, sim, "phases"), "mode %s trains in epochs (simulation.steady), "
                        "not phases", scalar(mode));
        if (get(x, sim, "integrator"))
            return fail(x, get(x, sim, "integrator"), "mode %s does not integrate: no integrator",
                        scalar(mode));
        return load_steady(x, sd);
    }
    if (sd)
        return fail(x, sd, "'steady' belongs to mode steady or backprop");
    yaml_node_t *integ = get(x, sim, "integrator");
    if (integ) {
        static const char *const ik[] = { "method", "dt", "rtol", "atol", "h0", "hmax",
                                          "weights", "plasticity_batch", "matvec", NULL };
        if (expect(x, integ, YAML_MAPPING_NODE, "an integrator {method, dt, ...}") ||
            check_keys(x, integ, "the integrator", ik))
            return -1;
        yaml_node_t *m = get(x, integ, "method"), *dt = get(x, integ, "dt");
        if (m) {
            if (expect(x, m, YAML_SCALAR_NODE, "a method name"))
                return -1;
            int known = 0;
            char list[256];
            size_t used = 0;
            for (size_t k = 0; apical_integ_methods[k]; k++) {
                known |= strcmp(apical_integ_methods[k], scalar(m)) == 0;
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "",
                                         apical_integ_methods[k]);
            }
            if (!known)
                return fail(x, m, "unknown integrator '%s' (one of: %s)", scalar(m), list);
            snprintf(o->integ.method, sizeof o->integ.method, "%s", scalar(m));
        }
        if (dt && to_double(x, dt, &o->dt))
            return -1;
        if (!(o->dt > 0))
            return fail(x, dt, "dt must be positive");
        yaml_node_t *wn = get(x, integ, "weights");
        if (wn) {
            if (expect(x, wn, YAML_SCALAR_NODE, "beside or state"))
                return -1;
            if (!strcmp(scalar(wn), "state"))
                o->integ.weights_in_state = 1;
            else if (strcmp(scalar(wn), "beside") != 0)
                return fail(x, wn, "expected beside (advanced once per step) or state (in the "
                                   "ODE system), found '%s'", scalar(wn));
            if (o->integ.weights_in_state && (!o->integ.method[0] ||
                                              !strcmp(o->integ.method, "euler") ||
                                              !strcmp(o->integ.method, "expeuler")))
                return fail(x, wn, "weights: state needs a GSL stepper (with euler the two "
                                   "are the same scheme)");
        }
        yaml_node_t *pb = get(x, integ, "plasticity_batch");
        long batch = 1;
        if (pb && to_long(x, pb, 1, &batch))
            return -1;
        if (batch > 1 && o->integ.weights_in_state)
            return fail(x, pb, "plasticity_batch is for weights beside the state");
        apical_circuit_set_plasticity_batch(x->cfg->circuit, (size_t)batch);
        yaml_node_t *mv = get(x, integ, "matvec");
        if (mv) {
            if (expect(x, mv, YAML_SCALAR_NODE, "f64, f32, f32_all or f16"))
                return -1;
            int f32 = !strcmp(scalar(mv), "f32")       ? 1
                      : !strcmp(scalar(mv), "f32_all") ? 2
                      : !strcmp(scalar(mv), "f16")     ? 3
                                                       : 0;
            if (f32)
                apical_circuit_set_matvec_f32(x->cfg->circuit, f32);
            else if (strcmp(scalar(mv), "f64") != 0)
                return fail(x, mv, "expected f64, f32 (single-precision weight copies for the "
                                   "dendrites), f32_all (and single-precision learning) or f16 "
                                   "(half-precision copies for the dendrites, single-precision "
                                   "learning), found '%s'", scalar(mv));
            if (o->integ.method[0] && strcmp(o->integ.method, "euler") &&
                strcmp(o->integ.method, "expeuler") && f32)
                return fail(x, mv, "matvec: %s is for euler and expeuler (GSL steppers evaluate "
                                   "between weight updates)", scalar(mv));
        }
        const char *names[] = { "rtol", "atol", "h0", "hmax" };
        double *vals[] = { &o->integ.rtol, &o->integ.atol, &o->integ.h0, &o->integ.hmax };
        for (int k = 0; k < 4; k++) {
            yaml_node_t *v = get(x, integ, names[k]);
            if (v && to_double(x, v, vals[k]))
                return -1;
            if (v && !(*vals[k] > 0))
                return fail(x, v, "%s must be positive", names[k]);
        }
    }
    yaml_node_t *phases = need(x, sim, "phases", "simulation");
    if (!phases || expect(x, phases, YAML_SEQUENCE_NODE, "a list of phases"))
        return -1;
    size_t n = (size_t)(phases->data.sequence.items.top - phases->data.sequence.items.start);
    o->phases = calloc(n ? n : 1, sizeof *o->phases);
    if (!o->phases)
        return fail(x, phases, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (load_phase(x, node(x, phases->data.sequence.items.start[i]), &o->phases[i]))
            return -1;
    o->n_phases = n;
    return 0;
}

static int load_noise(ctx *x, const yaml_node_t *sim, double *sigma)
{
    yaml_node_t *noise = sim ? get(x, sim, "noise") : NULL;
    if (!noise)
        return 0;
    static const char *const keys[] = { "sigma", "scaling", NULL };
    if (expect(x, noise, YAML_MAPPING_NODE, "noise {sigma, scaling}") ||
        check_keys(x, noise, "noise", keys))
        return -1;
    yaml_node_t *s = get(x, noise, "sigma"), *sc = get(x, noise, "scaling");
    if (s && to_double(x, s, sigma))
        return -1;
    if (*sigma < 0)
        return fail(x, s, "sigma must be at least 0");
    if (sc) {
        static const char *const scales[] = { "sqrt_dt", "dt", NULL };
        if (one_of(x, sc, scales, "sqrt_dt (Euler-Maruyama) or dt", &x->cfg->run.noise_dt_scaled))
            return -1;
    }
    return 0;
}

/* traces: {vars: [pop.observable, ...], every: STEPS} */
static int load_traces(ctx *x, const yaml_node_t *tr)
{
    static const char *const keys[] = { "vars", "every", "phases", NULL };
    apical_run_opts *o = &x->cfg->run;
    apical_circuit *c = x->cfg->circuit;
    if (expect(x, tr, YAML_MAPPING_NODE, "traces {vars, every}") ||
        check_keys(x, tr, "traces", keys))
        return -1;
    yaml_node_t *vars = need(x, tr, "vars", "traces"), *ev = get(x, tr, "every");
    o->trace_every = 1;
    if (!vars || expect(x, vars, YAML_SEQUENCE_NODE, "a list of population.observable") ||
        (ev && to_long(x, ev, 1, &o->trace_every)))
        return -1;
    yaml_node_t *ph = get(x, tr, "phases");
    if (ph) {
        double idx[64];
        size_t ni;
        if (load_list(x, ph, idx, 64, &ni, "phase numbers (from 0)"))
            return -1;
        for (size_t i = 0; i < ni; i++) {
            if (idx[i] < 0 || idx[i] >= 64 || idx[i] != floor(idx[i]))
                return fail(x, ph, "phase numbers count from 0 (at most 63)");
            o->trace_phases |= (uint64_t)1 << (int)idx[i];
        }
    }
    size_t n = (size_t)(vars->data.sequence.items.top - vars->data.sequence.items.start);
    o->traces = calloc(n ? n : 1, sizeof *o->traces);
    if (!o->traces)
        return fail(x, vars, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *v = node(x, vars->data.sequence.items.start[i]);
        char pop[128], obs[128];
        size_t pi;
        if (split_ref(x, v, NULL, pop, obs, sizeof pop))
            return -1;
        apical_pop *p = apical_circuit_pop(c, pop, &pi);
        size_t oi = apical_model_find_obs(p->model, obs);
        int port = 0;
        if (oi == (size_t)-1 && (oi = apical_model_find_port(p->model, obs)) != (size_t)-1)
            port = 1; /* what arrives at a port */
        if (oi == (size_t)-1) {
            char names[512];
            size_t used = 0;
            names[0] = 0;
            for (size_t k = 0; k < p->model->n_obs && used < sizeof names; k++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                         k ? ", " : "", p->model->obs[k].name);
            return fail(x, v, "%s (%s) has no observable or port '%s' (observables: %s)", pop,
                        p->model->name, obs, names);
        }
        o->traces[o->n_traces++] = (apical_trace_var){ pi, oi, port };
    }
    return 0;
}

static int load_record(ctx *x, const yaml_node_t *rec)
{
    apical_run_opts *o = &x->cfg->run;
    static const char *const keys[] = { "metrics", "traces", "checkpoint", "weights", NULL };
    static const char *const mk[] = { "every", "patterns", "settle", "bp_cosine", NULL };
    if (expect(x, rec, YAML_MAPPING_NODE, "a mapping") || check_keys(x, rec, "record", keys))
        return -1;
    yaml_node_t *tr = get(x, rec, "traces"), *ck = get(x, rec, "checkpoint");
    if (tr && load_traces(x, tr))
        return -1;
    yaml_node_t *wt = get(x, rec, "weights");
    if (wt) {
        static const char *const wk[] = { "every", NULL };
        yaml_node_t *ev;
        if (expect(x, wt, YAML_MAPPING_NODE, "weights {every: PATTERNS}") ||
            check_keys(x, wt, "weights", wk) || !(ev = need(x, wt, "every", "weights")) ||
            to_long(x, ev, 1, &x->cfg->run.weights_every))
            return -1;
    }
    if (ck) {
        static const char *const ckk[] = { "every", NULL };
        yaml_node_t *ev;
        if (expect(x, ck, YAML_MAPPING_NODE, "checkpoint {every: PATTERNS}") ||
            check_keys(x, ck, "checkpoint", ckk) || !(ev = need(x, ck, "every", "checkpoint")) ||
            to_long(x, ev, 0, &x->cfg->run.checkpoint_every))
            return -1;
    }
    yaml_node_t *m = get(x, rec, "metrics");
    if (!m)
        return 0;
    if (expect(x, m, YAML_MAPPING_NODE, "metrics {every, patterns, settle}") ||
        check_keys(x, m, "metrics", mk))
        return -1;
    yaml_node_t *e = get(x, m, "every"), *p = get(x, m, "patterns"), *s = get(x, m, "settle");
    if ((e && to_long(x, e, 0, &o->eval_every)) || (p && to_long(x, p, 1, &o->eval_patterns)) ||
        (s && to_double(x, s, &o->eval_settle_ms)))
        return -1;
    yaml_node_t *bp = get(x, m, "bp_cosine");
    if (bp && to_bool(x, bp, &o->eval_bp_cosine))
        return -1;
    if (!(o->eval_settle_ms > 0))
        return fail(x, s, "settle must be positive");
    return 0;
}

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
    if (!sim || !pops || load_noise(x, sim, &sigma) || (defaults && check_defaults(x, defaults)) ||
        load_populations(x, pops, defaults, sigma))
        return -1;
    yaml_node_t *projs = get(x, root, "projections"), *stims = get(x, root, "stimuli");
    yaml_node_t *rec = get(x, root, "record");
    size_t *sps = NULL, n_sps = 0;
    const yaml_node_t **sps_at = NULL;
    int rc = projs ? load_projections(x, projs, &sps, &sps_at, &n_sps) : 0;
    for (size_t i = 0; i < n_sps && rc == 0; i++)
        if (apical_proj_init_self_predicting(x->cfg->circuit, &x->cfg->circuit->projs[sps[i]],
                                             x->err, x->cap))
            rc = fail_at(x, sps_at[i], x->err);
    free(sps);
    free(sps_at);
    if (rc || (stims && load_stimuli(x, stims)) ||
        (rec && load_record(x, rec)) || load_simulation(x, sim))
        return -1;
    if (apical_circuit_finalize(x->cfg->circuit, x->err, x->cap))
        return fail_at(x, root, x->err);
    for (size_t i = 0; i < o->n_traces; i++) /* traced observables must be computed */
        if (!o->traces[i].port)
            x->cfg->circuit->pops[o->traces[i].pop].need[o->traces[i].obs] = 1;
    return 0;
}

/* The node an override's value becomes: "[a, b, ...]" a flow list of
   plain scalars, anything else one plain scalar.  0: out of memory. */
static int set_value(ctx *x, size_t k, const char *v)
{
    if (v[0] != '[' || v[strlen(v) - 1] != ']') {
        int id = yaml_document_add_scalar(&x->doc, NULL, (yaml_char_t *)v, -1,
                                          YAML_PLAIN_SCALAR_STYLE);
        if (id)
            node(x, id)->start_mark.index = SET_MARK + k;
        return id;
    }
    int seq = yaml_document_add_sequence(&x->doc, NULL, YAML_FLOW_SEQUENCE_STYLE);
    if (!seq)
        return 0;
    node(x, seq)->start_mark.index = SET_MARK + k;
    const char *p = v + 1, *end = v + strlen(v) - 1;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        const char *e = q;
        while (e > p && e[-1] == ' ')
            e--;
        if (e > p) {
            int item = yaml_document_add_scalar(&x->doc, NULL, (yaml_char_t *)p, (int)(e - p),
                                                YAML_PLAIN_SCALAR_STYLE);
            if (!item || !yaml_document_append_sequence_item(&x->doc, seq, item))
                return 0;
            node(x, item)->start_mark.index = SET_MARK + k;
        }
        p = q;
    }
    return seq;
}

/* The name of a projection in the document: its name: key, or SRC-DST from
   from: and to:; "" when it has neither. */
static void item_name(ctx *x, const yaml_node_t *item, char *out, size_t cap)
{
    out[0] = 0;
    if (item->type != YAML_MAPPING_NODE)
        return;
    yaml_node_t *nm = get(x, item, "name"), *from = get(x, item, "from"),
                *to = get(x, item, "to");
    if (nm && nm->type == YAML_SCALAR_NODE)
        snprintf(out, cap, "%s", scalar(nm));
    else if (!nm && from && to && from->type == YAML_SCALAR_NODE && to->type == YAML_SCALAR_NODE)
        snprintf(out, cap, "%.*s-%.*s", (int)strcspn(scalar(from), "."), scalar(from),
                 (int)strcspn(scalar(to), "."), scalar(to));
}

/* The item of list n that key selects: its position, or in the list of
   projections also its name.  -1 with the message in x->err. */
static int list_item(ctx *x, size_t k, const yaml_node_t *n, const char *key, int named,
                     long *out)
{
    const char *set = x->sets[k];
    long size = n->data.sequence.items.top - n->data.sequence.items.start;
    char *end;
    long i = strtol(key, &end, 10);
    if (end != key && !*end) {
        if (i < 0 || i >= size)
            return snprintf(x->err, x->cap, "--set %s: '%s' is not an index of a %ld-item "
                            "list", set, key, size), -1;
        return *out = i, 0;
    }
    if (!named)
        return snprintf(x->err, x->cap, "--set %s: '%s' is not an index of a %ld-item list",
                        set, key, size), -1;
    char names[512] = "", name[256];
    long best = -1;
    size_t used = 0, bestd = 3;
    for (i = 0; i < size; i++) {
        item_name(x, node(x, n->data.sequence.items.start[i]), name, sizeof name);
        if (strcmp(name, key) == 0)
            return *out = i, 0;
        size_t d = edit_distance(key, name);
        if (d < bestd) {
            bestd = d;
            best = i;
        }
        if (used < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     name);
    }
    if (best >= 0) {
        item_name(x, node(x, n->data.sequence.items.start[best]), name, sizeof name);
        return snprintf(x->err, x->cap, "--set %s: no projection '%s' (did you mean '%s'?)", set,
                        key, name), -1;
    }
    return snprintf(x->err, x->cap, "--set %s: no projection '%s' (the projections: %s; or a "
                    "position, 0 to %ld)", set, key, names, size - 1), -1;
}

/* Apply "a.b.c=value": walk mappings by key and lists by position (the
   list of projections also by name: projections.hidden-inter.rule...),
   creating missing mapping keys; the value replaces (or becomes)
   set_value's node. */
static int apply_set(ctx *x, size_t k)
{
    const char *set = x->sets[k], *eq = strchr(set, '=');
    if (!eq || eq == set)
        return snprintf(x->err, x->cap, "--set %s: expected path.to.key=value", set), -1;
    int id = 1; /* the root */
    yaml_node_t *root = yaml_document_get_root_node(&x->doc);
    if (!root)
        return snprintf(x->err, x->cap, "--set %s: the file is empty", set), -1;
    /* the list whose items have names (by id: adding nodes moves them) */
    const yaml_node_t *projs = root->type == YAML_MAPPING_NODE ? get(x, root, "projections") : NULL;
    int projs_id = projs ? (int)(projs - x->doc.nodes.start) + 1 : 0;
    const char *p = set;
    while (p < eq) {
        size_t len = strcspn(p, ".=");
        char key[256];
        if (len == 0 || len >= sizeof key)
            return snprintf(x->err, x->cap, "--set %s: empty or overlong key", set), -1;
        snprintf(key, sizeof key, "%.*s", (int)len, p);
        p += len;
        int last = *p == '=';
        if (!last)
            p++;
        yaml_node_t *n = node(x, id);
        int next = 0;
        if (n->type == YAML_SEQUENCE_NODE) {
            long i;
            if (list_item(x, k, n, key, id == projs_id, &i))
                return -1;
            yaml_node_item_t *item = &n->data.sequence.items.start[i];
            if (last) {
                int v = set_value(x, k, eq + 1);
                if (!v)
                    return snprintf(x->err, x->cap, "out of memory"), -1;
                *item = v;
                return 0;
            }
            next = *item;
        } else if (n->type == YAML_MAPPING_NODE) {
            yaml_node_pair_t *pair = NULL;
            for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < n->data.mapping.pairs.top; q++) {
                yaml_node_t *kn = node(x, q->key);
                if (kn->type == YAML_SCALAR_NODE && strcmp(scalar(kn), key) == 0)
                    pair = q;
            }
            int v = last ? set_value(x, k, eq + 1)
                         : pair ? pair->value
                                : yaml_document_add_mapping(&x->doc, NULL,
                                                            YAML_FLOW_MAPPING_STYLE);
            if (!v)
                return snprintf(x->err, x->cap, "out of memory"), -1;
            if (last || !pair)
                node(x, v)->start_mark.index = SET_MARK + k;
            if (pair) {
                if (last)
                    pair->value = v;
            } else {
                int kid = yaml_document_add_scalar(&x->doc, NULL, (yaml_char_t *)key, -1,
                                                   YAML_PLAIN_SCALAR_STYLE);
                if (!kid || !yaml_document_append_mapping_pair(&x->doc, id, kid, v))
                    return snprintf(x->err, x->cap, "out of memory"), -1;
                node(x, kid)->start_mark.index = SET_MARK + k;
            }
            if (last)
                return 0;
            next = v;
        } else {
            return snprintf(x->err, x->cap, "--set %s: '%s' is inside a scalar (set the whole "
                            "value, or write it as a mapping in the file)", set, key), -1;
        }
        id = next;
    }
    return snprintf(x->err, x->cap, "--set %s: expected path.to.key=value", set), -1;
}

typedef struct growbuf {
    char *data;
    size_t len, cap;
} growbuf;

static int grow_write(void *data, unsigned char *buffer, size_t size)
{
    growbuf *b = data;
    if (b->len + size + 1 > b->cap) {
        size_t nc = 2 * (b->len + size + 1);
        char *d = realloc(b->data, nc);
        if (!d)
            return 0;
        b->data = d;
        b->cap = nc;
    }
    memcpy(b->data + b->len, buffer, size);
    b->len += size;
    b->data[b->len] = 0;
    return 1;
}

/* The document as run (with --set applied) into cfg->resolved; consumes
   the document, as yaml_emitter_dump does. */
static int emit_resolved(ctx *x)
{
    yaml_emitter_t em;
    growbuf b = { 0 };
    if (!yaml_emitter_initialize(&em)) {
        yaml_document_delete(&x->doc);
        return -1;
    }
    yaml_emitter_set_output(&em, grow_write, &b);
    yaml_emitter_set_width(&em, 100);
    int ok = yaml_emitter_open(&em) && yaml_emitter_dump(&em, &x->doc) && yaml_emitter_close(&em);
    yaml_emitter_delete(&em);
    if (!ok) {
        free(b.data);
        return -1;
    }
    x->cfg->resolved = b.data;
    return 0;
}

static int load(apical_config *cfg, apical_registry *reg, const char *name, yaml_parser_t *ps,
                const char *const *sets, size_t n_sets, char *err, size_t cap)
{
    ctx x = { .sets = sets, .file = name, .reg = reg, .cfg = cfg, .err = err, .cap = cap };
    memset(cfg, 0, sizeof *cfg);
    cfg->source = strdup(name);
    if (!yaml_parser_load(ps, &x.doc)) {
        snprintf(err, cap, "%s:%zu:%zu: %s%s%s", name, ps->problem_mark.line + 1,
                 ps->problem_mark.column + 1, ps->problem ? ps->problem : "invalid YAML",
                 ps->context ? " " : "", ps->context ? ps->context : "");
        free(cfg->source);
        cfg->source = NULL;
        return 2;
    }
    int rc = 0;
    for (size_t k = 0; k < n_sets && rc == 0; k++)
        rc = apply_set(&x, k) ? 2 : 0;
    if (rc == 0)
        rc = load_root(&x, yaml_document_get_root_node(&x.doc)) ? 2 : 0;
    if (rc == 0 && emit_resolved(&x) != 0) {
        snprintf(err, cap, "%s: cannot write the resolved configuration", name);
        rc = 2;
    } else if (rc != 0) {
        yaml_document_delete(&x.doc);
    }
    if (rc) {
        apical_circuit_free(cfg->circuit);
        free(cfg->source);
        cfg->source = NULL;
        free(cfg->run.traces);
        free(cfg->run.phases);
        cfg->circuit = NULL;
        cfg->run.traces = NULL;
        cfg->run.phases = NULL;
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
    cfg->run.traces = NULL;
    cfg->run.phases = NULL;
    cfg->circuit = NULL;
    cfg->source = NULL;
}
