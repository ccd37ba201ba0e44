/*
 * circuit.c -- populations, projections and stimuli, and the memory behind
 * them.  The circuit owns every buffer; finalize allocates them all so the
 * step loop never does.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include <gsl/gsl_randist.h>

#include "circuit_int.h"
#include "matvec.h"

#define NONE ((size_t)-1)

/* SplitMix64: decorrelated seeds for the circuit's random streams. */
static unsigned long mix_seed(unsigned long seed, unsigned stream)
{
    unsigned long long z = (unsigned long long)seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (unsigned long)((z ^ (z >> 31)) & 0xffffffffUL);
}

void apical_circuit_set_matvec_f32(apical_circuit *c, int on)
{
    c->matvec_f32 = on;
}

void apical_circuit_set_rule_bf16(apical_circuit *c, int on)
{
    c->rule_bf16 = on;
}

void apical_proj_weights_changed(apical_circuit *c, apical_proj *pj)
{
    if (!pj->wf)
        return;
    size_t nw = apical_proj_n_weights(c, pj);
    for (size_t k = 0; k < nw; k++)
        pj->wf[k] = (float)pj->w[k];
    for (size_t k = 0; pj->auxf && k < pj->rule->n_aux * nw; k++)
        pj->auxf[k] = (float)pj->aux[k];
    if (pj->wh)
        c->f16_overflow += apical_f16_from_f32(nw, pj->wf, pj->wh);
}

void apical_circuit_weights_changed(apical_circuit *c)
{
    c->f16_overflow = 0;
    for (size_t i = 0; i < c->n_projs; i++)
        apical_proj_weights_changed(c, &c->projs[i]);
}

void apical_circuit_set_plasticity_batch(apical_circuit *c, size_t k)
{
    c->batch_k = k ? k : 1;
}

void apical_circuit_set_copies(apical_circuit *c, size_t b)
{
    c->copies = b ? b : 1;
}

size_t apical_circuit_copies(const apical_circuit *c) { return c->copies; }

/* MemAvailable from /proc/meminfo, in bytes (0 if unknown). */
static double available_memory(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* A size in bytes: a number (2e9, 500000000) with an optional binary
   suffix K, M, G or T (also KB, KiB, ...: 1024, 1024^2, ...); 0 means no
   limit.  -1 when TEXT is not one. */
static int parse_size(const char *text, double *bytes)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v) || v < 0)
        return -1;
    static const char units[] = "KMGT";
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (u) {
        v *= pow(1024, (double)(u - units + 1));
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
    }
    if (*end)
        return -1;
    *bytes = v;
    return 0;
}

/* Count bytes about to be allocated against the limit. */
static int reserve(apical_circuit *c, double bytes, const char *what, char *err, size_t cap)
{
    if (c->mem_limit_bad[0]) {
        snprintf(err, cap, "APICAL_MEMORY_LIMIT='%s' is not a size: give bytes (2e9) or a "
                 "number with K, M, G or T (512M, 4G), or 0 for no limit", c->mem_limit_bad);
        return -1;
    }
    c->mem_estimate += bytes;
    if (c->mem_limit > 0 && c->mem_estimate > c->mem_limit) {
        snprintf(err, cap, "%s would bring the circuit to %.3g GB, more than the %.3g GB "
                 "limit (the machine's available memory, or APICAL_MEMORY_LIMIT)", what,
                 c->mem_estimate / 1e9, c->mem_limit / 1e9);
        return -1;
    }
    return 0;
}

apical_circuit *apical_circuit_new(unsigned long seed)
{
    apical_circuit *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->batch_k = 1;
    c->copies = 1;
    const char *lim = getenv("APICAL_MEMORY_LIMIT");
    c->mem_limit = available_memory();
    if (lim && *lim && parse_size(lim, &c->mem_limit) != 0)
        snprintf(c->mem_limit_bad, sizeof c->mem_limit_bad, "%.60s", lim);
    c->seed = seed;
    gsl_rng **streams[] = { &c->rng_init, &c->rng_train, &c->rng_noise, &c->rng_test };
    for (unsigned s = 0; s < 4; s++) {
        *streams[s] = gsl_rng_alloc(gsl_rng_mt19937);
        if (!*streams[s]) {
            apical_circuit_free(c);
            return NULL;
        }
        gsl_rng_set(*streams[s], mix_seed(seed, s));
    }
    return c;
}

void apical_circuit_free(apical_circuit *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_pops; i++) {
        free(c->pops[i].name);
        free(c->pops[i].p);
        free(c->pops[i].in);
        free(c->pops[i].obs);
        free(c->pops[i].need);
    }
    for (size_t i = 0; i < c->n_projs; i++) {
        free(c->projs[i].name);
        free(c->projs[i].w);
        free(c->projs[i].rp);
        free(c->projs[i].aux);
        free(c->projs[i].dw);
        free(c->projs[i].wf);
        free(c->projs[i].wh);
        free(c->projs[i].auxf);
        free(c->projs[i].hist_post);
        free(c->projs[i].hist_pre);
        free(c->projs[i].hist_scratch);
        free(c->projs[i].hist_slice);
        free(c->projs[i].hist_pre_f32);
        free(c->projs[i].hist_pre_bf16x2);
        free(c->projs[i].dw_mean);
        free(c->projs[i].delayed);
        free(c->projs[i].delayed_saved);
    }
    for (size_t i = 0; i < c->n_stims; i++) {
        apical_stim *st = &c->stims[i];
        free(st->name);
        free(st->x);
        free(st->u_trgt);
        free(st->perm);
        if (st->perm_rng)
            gsl_rng_free(st->perm_rng);
        apical_table_free(&st->table);
        apical_table_free(&st->targets);
        apical_idx_free(&st->images);
        apical_idx_free(&st->labels);
        for (size_t l = 0; st->teacher.w && l < st->teacher.n_layers; l++)
            free(st->teacher.w[l]);
        free(st->teacher.w);
        free(st->teacher.sizes);
        free(st->teacher.gains);
        free(st->teacher.r[0]);
        free(st->teacher.r[1]);
    }
    free(c->pops);
    free(c->projs);
    free(c->stims);
    free(c->y);
    free(c->dydt);
    free(c->y_saved);
    free(c->noise);
    free(c->scratch);
    free(c->obs_scratch);
    free(c->xf);
    free(c->order);
    gsl_rng_free(c->rng_init);
    gsl_rng_free(c->rng_train);
    gsl_rng_free(c->rng_noise);
    gsl_rng_free(c->rng_test);
    free(c);
}

apical_pop *apical_circuit_pop(apical_circuit *c, const char *name, size_t *index)
{
    for (size_t i = 0; i < c->n_pops; i++)
        if (strcmp(c->pops[i].name, name) == 0) {
            if (index)
                *index = i;
            return &c->pops[i];
        }
    return NULL;
}

apical_proj *apical_circuit_proj(apical_circuit *c, const char *name, size_t *index)
{
    for (size_t i = 0; i < c->n_projs; i++)
        if (c->projs[i].name && strcmp(c->projs[i].name, name) == 0) {
            if (index)
                *index = i;
            return &c->projs[i];
        }
    return NULL;
}

int apical_proj_set_name(apical_circuit *c, apical_proj *pj, const char *name, char *err,
                         size_t cap)
{
    size_t digits = strspn(name, "0123456789");
    if (!*name || (name[digits] == 0))
        return snprintf(err, cap, "'%s' cannot name a projection: a number selects a projection "
                        "by position", name), -1;
    for (const char *p = name; *p; p++)
        if (*p == '.' || *p == '=' || isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return snprintf(err, cap, "a projection name cannot contain '.', '=', white space or "
                            "control characters: '%s'", name), -1;
    for (size_t i = 0; i < c->n_projs; i++)
        if (&c->projs[i] != pj && c->projs[i].name && strcmp(c->projs[i].name, name) == 0)
            return snprintf(err, cap, "the projection defined at %s is called '%s' already",
                            c->projs[i].where, name), -1;
    char *copy = strdup(name);
    if (!copy)
        return snprintf(err, cap, "out of memory"), -1;
    free(pj->name);
    pj->name = copy;
    return 0;
}

int apical_proj_set_delay(apical_circuit *c, apical_proj *pj, int steps, char *err, size_t cap)
{
    if (steps != 0 && steps != 1)
        return snprintf(err, cap, "a projection's delay is 0 or 1 step, not %d", steps), -1;
    const apical_pop *s = &c->pops[pj->src];
    free(pj->delayed);
    free(pj->delayed_saved);
    pj->delayed = pj->delayed_saved = NULL;
    pj->feedthrough = s->model->obs[pj->src_obs].stage != APICAL_OBS_STATE;
    if (steps == 0)
        return 0;
    pj->delayed = calloc(s->n, sizeof *pj->delayed);
    pj->delayed_saved = calloc(s->n, sizeof *pj->delayed_saved);
    if (!pj->delayed || !pj->delayed_saved)
        return snprintf(err, cap, "out of memory"), -1;
    pj->feedthrough = 0; /* it reads the step before: no same-step dependency */
    return 0;
}

int apical_proj_delay(const apical_proj *pj)
{
    return pj->delayed != NULL;
}

void apical_circuit_shift_delays(apical_circuit *c)
{
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (!pj->delayed)
            continue;
        const apical_pop *s = &c->pops[pj->src];
        memcpy(pj->delayed, s->obs + pj->src_obs * s->n, s->n * sizeof(double));
    }
}

void apical_circuit_keep_delays(apical_circuit *c, int restore)
{
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (pj->delayed)
            memcpy(restore ? pj->delayed : pj->delayed_saved,
                   restore ? pj->delayed_saved : pj->delayed,
                   c->pops[pj->src].n * sizeof(double));
    }
}

/* "a, b, c" of a name table, for messages. */
static void list_names(char *buf, size_t cap, const void *table, size_t n, size_t stride)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && used < cap; i++) {
        const char *nm = *(const char *const *)((const char *)table + i * stride);
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", nm);
    }
}

int apical_circuit_add_pop(apical_circuit *c, const char *name, const apical_cell_model *m,
                           size_t n, char *err, size_t cap)
{
    if (apical_circuit_pop(c, name, NULL)) {
        snprintf(err, cap, "population '%s' defined twice", name);
        return -1;
    }
    if (n == 0) {
        snprintf(err, cap, "population '%s' needs a size of at least 1", name);
        return -1;
    }
    char what[300];
    snprintf(what, sizeof what, "population '%s' (%zu cells)", name, n);
    /* state, derivatives, saved state, noise, ports and observables */
    if (reserve(c, 8.0 * (double)n * (4.0 * (double)m->n_state + m->n_ports + m->n_obs), what,
                err, cap))
        return -1;
    apical_pop *ps = realloc(c->pops, (c->n_pops + 1) * sizeof *ps);
    if (!ps)
        return snprintf(err, cap, "out of memory"), -1;
    c->pops = ps;
    apical_pop *p = &ps[c->n_pops];
    memset(p, 0, sizeof *p);
    p->name = strdup(name);
    p->model = m;
    p->n = n;
    p->p = malloc((m->n_params ? m->n_params : 1) * sizeof(double));
    if (!p->name || !p->p) {
        free(p->name);
        free(p->p);
        return snprintf(err, cap, "out of memory"), -1;
    }
    for (size_t i = 0; i < m->n_params; i++)
        p->p[i] = m->params[i].def;
    if (apical_roles_resolve(m, p->role, err, cap)) {
        free(p->name);
        free(p->p);
        return -1;
    }
    c->n_pops++;
    return 0;
}

static int set_param(const apical_param *table, size_t n, double *values, const char *owner,
                     const char *key, double v, char *err, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].name, key) != 0)
            continue;
        if (!(v >= table[i].min && v <= table[i].max)) {
            snprintf(err, cap, "%s: parameter %s = %g is outside [%g, %g]", owner, key, v,
                     table[i].min, table[i].max);
            return -1;
        }
        if (table[i].choices && v != floor(v)) {
            snprintf(err, cap, "%s: parameter %s takes a name, not %g", owner, key, v);
            return -1;
        }
        values[i] = v;
        return 0;
    }
    char names[512];
    list_names(names, sizeof names, table, n, sizeof *table);
    snprintf(err, cap, "%s has no parameter '%s' (it has: %s)", owner, key, names);
    return -1;
}

int apical_pop_set_param(apical_pop *pop, const char *key, double v, char *err, size_t cap)
{
    char owner[256];
    snprintf(owner, sizeof owner, "cell model %s", pop->model->name);
    return set_param(pop->model->params, pop->model->n_params, pop->p, owner, key, v, err, cap);
}

int apical_pop_set_choice(apical_pop *pop, const char *key, const char *choice, char *err,
                          size_t cap)
{
    const apical_cell_model *m = pop->model;
    for (size_t i = 0; i < m->n_params; i++) {
        if (strcmp(m->params[i].name, key) != 0)
            continue;
        const char *const *ch = m->params[i].choices;
        char names[512];
        size_t used = 0;
        names[0] = 0;
        for (size_t k = 0; ch && ch[k]; k++) {
            if (strcmp(ch[k], choice) == 0) {
                pop->p[i] = (double)k;
                return 0;
            }
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "",
                                     ch[k]);
            if (used >= sizeof names)
                break;
        }
        if (!ch)
            snprintf(err, cap, "cell model %s: parameter %s takes a number, not '%s'", m->name,
                     key, choice);
        else
            snprintf(err, cap, "cell model %s: parameter %s is one of %s, not '%s'", m->name,
                     key, names, choice);
        return -1;
    }
    return apical_pop_set_param(pop, key, 0, err, cap); /* reports the unknown key */
}

/* rp_run from rp and rate_scale. */
static void run_params(apical_proj *pj)
{
    const size_t r = APICAL_RULE_RATE_PARAM(pj->rule);
    for (size_t i = 0; i < pj->rule->n_params; i++)
        pj->rp_run[i] = pj->rp[i] * (i + 1 == r ? pj->rate_scale : 1.0);
}

int apical_rule_set_param(apical_proj *pj, const char *key, double v, char *err, size_t cap)
{
    char owner[256];
    snprintf(owner, sizeof owner, "rule %s", pj->rule->name);
    int rc = set_param(pj->rule->params, pj->rule->n_params, pj->rp, owner, key, v, err, cap);
    run_params(pj);
    return rc;
}

int apical_circuit_set_rate_scale(apical_circuit *c, double scale, char *err, size_t cap)
{
    return apical_circuit_set_rate_scale_role(c, scale, APICAL_ROLE_NONE, scale, err, cap);
}

/* Projection pj's factor: role_scale into a port that plays role, else scale. */
static double rate_factor_of(const apical_circuit *c, const apical_proj *pj, double scale,
                             int role, double role_scale)
{
    return role != APICAL_ROLE_NONE && apical_proj_role(c, pj) == role ? role_scale : scale;
}

int apical_circuit_set_rate_scale_role(apical_circuit *c, double scale, int role,
                                       double role_scale, char *err, size_t cap)
{
    if (!(scale >= 0) || !isfinite(scale) || !(role_scale >= 0) || !isfinite(role_scale))
        return snprintf(err, cap, "learning-rate factors %g, %g: expected finite numbers >= 0",
                        scale, role_scale), -1;
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        if (pj->rule && rate_factor_of(c, pj, scale, role, role_scale) != 1.0 &&
            !APICAL_RULE_RATE_PARAM(pj->rule))
            return snprintf(err, cap, "projection %s: rule %s names no learning-rate "
                            "parameter (module ABI 1.7 apical_rule.rate_param), so its "
                            "rate cannot be scaled", pj->name, pj->rule->name), -1;
    }
    for (size_t i = 0; i < c->n_projs; i++)
        if (c->projs[i].rule) {
            apical_proj *pj = &c->projs[i];
            pj->rate_scale = rate_factor_of(c, pj, scale, role, role_scale);
            run_params(pj);
        }
    return 0;
}

/* Expand "{port}" in a rule's post_obs. */
static void post_obs_name(char *buf, size_t cap, const char *pattern, const char *port)
{
    const char *at = strstr(pattern, "{port}");
    if (!at)
        snprintf(buf, cap, "%s", pattern);
    else
        snprintf(buf, cap, "%.*s%s%s", (int)(at - pattern), pattern, port, at + 6);
}

/* What a projection from src.src_obs to dst.dst_port needs: the source
   observable (of either stage: a port-stage one makes the projection a
   feedthrough) in *so, the port in *dp, the rule's
   post-synaptic observable in *post; an error naming what is missing. */
static int proj_ends(const apical_pop *s, const apical_pop *d, const char *src_obs,
                     const char *dst_port, int one_to_one, const apical_rule *rule, size_t *so,
                     size_t *dp, size_t *post, char *err, size_t cap)
{
    char names[512];
    *so = apical_model_find_obs(s->model, src_obs);
    if (*so == NONE) {
        list_names(names, sizeof names, s->model->obs, s->model->n_obs, sizeof *s->model->obs);
        snprintf(err, cap, "%s (%s) cannot send '%s': a projection carries one of %s", s->name,
                 s->model->name, src_obs, names);
        return -1;
    }
    *dp = apical_model_find_port(d->model, dst_port);
    if (*dp == NONE) {
        list_names(names, sizeof names, d->model->ports, d->model->n_ports,
                   sizeof *d->model->ports);
        snprintf(err, cap, "%s (%s) has no port '%s' (it has: %s)", d->name, d->model->name,
                 dst_port, names);
        return -1;
    }
    if (one_to_one && s->n != d->n) {
        snprintf(err, cap, "one_to_one needs equal sizes: %s has %zu cells, %s has %zu", s->name,
                 s->n, d->name, d->n);
        return -1;
    }
    if (one_to_one && rule) {
        snprintf(err, cap, "a one_to_one projection has no weights to learn");
        return -1;
    }
    *post = NONE;
    if (rule) {
        char want[256];
        post_obs_name(want, sizeof want, rule->post_obs, dst_port);
        uint32_t role = APICAL_RULE_POST_ROLE(rule);
        *post = role > 0 && role < APICAL_ROLE_COUNT && !apical_role_is_port((int)role)
                    ? d->role[role]
                    : NONE;
        if (*post == NONE)
            *post = apical_model_find_obs(d->model, want);
        if (*post == NONE) {
            list_names(names, sizeof names, d->model->obs, d->model->n_obs,
                       sizeof *d->model->obs);
            snprintf(err, cap,
                     "rule %s on %s -> %s.%s needs observable '%s' of %s, which exports: %s",
                     rule->name, s->name, d->name, dst_port, want, d->model->name, names);
            return -1;
        }
    }
    return 0;
}

int apical_circuit_add_proj(apical_circuit *c, const char *src, const char *src_obs,
                            const char *dst, const char *dst_port, int one_to_one,
                            const apical_rule *rule, char *err, size_t cap)
{
    size_t si, di, so, dp, post;
    apical_pop *s = apical_circuit_pop(c, src, &si), *d = apical_circuit_pop(c, dst, &di);
    if (!s || !d) {
        snprintf(err, cap, "no population '%s'", s ? dst : src);
        return -1;
    }
    if (proj_ends(s, d, src_obs, dst_port, one_to_one, rule, &so, &dp, &post, err, cap) != 0)
        return -1;
    if (!one_to_one) {
        char what[400];
        snprintf(what, sizeof what, "the %zu x %zu weights of %s -> %s.%s", d->n, s->n, src, dst,
                 dst_port);
        /* weights, the rule's memory, and the scratch some paths keep */
        double per = 8.0 * (2.0 + (rule ? (double)rule->n_aux : 0.0)) + (rule ? 4.0 : 0.0);
        if (reserve(c, per * (double)s->n * (double)d->n, what, err, cap))
            return -1;
    }
    apical_proj *pj = realloc(c->projs, (c->n_projs + 1) * sizeof *pj);
    if (!pj)
        return snprintf(err, cap, "out of memory"), -1;
    c->projs = pj;
    apical_proj *p = &pj[c->n_projs];
    memset(p, 0, sizeof *p);
    p->src = si;
    p->dst = di;
    p->src_obs = so;
    p->dst_port = dp;
    p->one_to_one = one_to_one;
    p->rule = rule;
    p->post_obs = post;
    p->feedthrough = s->model->obs[so].stage != APICAL_OBS_STATE;
    if (!one_to_one) {
        p->w = calloc(s->n * d->n, sizeof(double));
        if (!p->w)
            return snprintf(err, cap, "out of memory for %zu x %zu weights", d->n, s->n), -1;
    }
    if (rule) {
        p->rp = malloc((rule->n_params ? 2 * rule->n_params : 1) * sizeof(double));
        p->aux = calloc((rule->n_aux ? rule->n_aux : 1) * s->n * d->n, sizeof(double));
        if (!p->rp || !p->aux) {
            free(p->w);
            free(p->rp);
            free(p->aux);
            return snprintf(err, cap, "out of memory"), -1;
        }
        p->rp_run = p->rp + rule->n_params;
        p->rate_scale = 1.0;
        for (size_t i = 0; i < rule->n_params; i++)
            p->rp_run[i] = p->rp[i] = rule->params[i].def;
    }
    p->name = malloc(strlen(s->name) + strlen(d->name) + 2);
    if (!p->name) {
        free(p->w);
        free(p->rp);
        free(p->aux);
        return snprintf(err, cap, "out of memory"), -1;
    }
    sprintf(p->name, "%s-%s", s->name, d->name);
    if (dp == d->role[APICAL_ROLE_APICAL_TOPDOWN] || dp == d->role[APICAL_ROLE_APICAL_LATERAL])
        d->apical_fed = 1;
    c->n_projs++;
    return 0;
}

/* Each population's parameters checked, its place in the state vector, its
   port and observable buffers, and which observables the runner reads;
   *ny the state's length, *nmax the largest population, *omax the largest
   observable block. */
static int finalize_pops(apical_circuit *c, size_t *ny, size_t *nmax, size_t *omax, char *err,
                         size_t cap)
{
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        const apical_cell_model *m = p->model;
        char msg[256] = "";
        if (m->check && m->check(p->p, msg, sizeof msg) != APICAL_OK) {
            snprintf(err, cap, "population %s (%s): %s", p->name, m->name,
                     *msg ? msg : "parameters rejected");
            return -1;
        }
        p->y_off = *ny;
        *ny += m->n_state * p->n;
        if (p->n > *nmax)
            *nmax = p->n;
        if (m->n_obs * p->n > *omax)
            *omax = m->n_obs * p->n;
        p->in_blk = (m->n_ports ? m->n_ports : 1) * p->n;
        p->obs_blk = (m->n_obs ? m->n_obs : 1) * p->n;
        p->in = calloc(c->copies * p->in_blk, sizeof(double));
        p->obs = calloc(c->copies * p->obs_blk, sizeof(double));
        p->need = calloc(m->n_obs ? m->n_obs : 1, 1);
        if (!p->in || !p->obs || !p->need)
            return snprintf(err, cap, "out of memory"), -1;
        /* what the runner itself reads: state observables, the metrics' inputs */
        for (size_t k = 0; k < m->n_obs; k++)
            p->need[k] = m->obs[k].stage == APICAL_OBS_STATE;
        if (p->role[APICAL_ROLE_APICAL_POTENTIAL] != NONE)
            p->need[p->role[APICAL_ROLE_APICAL_POTENTIAL]] = 1;
    }
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        c->pops[pj->src].need[pj->src_obs] = 1;
        if (pj->rule)
            c->pops[pj->dst].need[pj->post_obs] = 1;
    }
    return 0;
}

/* Each rule's parameters checked, and its buffers: the history of batched
   plasticity, the scratch of rules without a fused euler. */
static int finalize_rules(apical_circuit *c, char *err, size_t cap)
{
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        char msg[256] = "";
        if (pj->rule && pj->rule->check && pj->rule->check(pj->rp, msg, sizeof msg) != 0) {
            snprintf(err, cap, "projection %s, rule %s: %s", pj->name, pj->rule->name,
                     *msg ? msg : "parameters rejected");
            return -1;
        }
        int f32 = pj->rule && c->matvec_f32 >= 2 && APICAL_RULE_HAS_BATCH_F32(pj->rule);
        /* copies: a batched rule that takes them learns rank k B; any other
           from the mean of the copies' dwdt (dw_mean) */
        int copies = pj->rule && (APICAL_RULE_FLAGS(pj->rule) & APICAL_RULE_COPIES) &&
                     APICAL_RULE_HAS_BATCH(pj->rule);
        if (c->copies > 1 && pj->rule && !copies) {
            if (f32 || c->batch_k > 1) {
                snprintf(err, cap, "projection %s, rule %s %s: plasticity_batch > 1 or matvec "
                         "f32_all / f16 with simulation.batch > 1 needs a rule that takes "
                         "copies (module ABI 1.5, APICAL_RULE_COPIES; `apical modules` shows "
                         "which module file was loaded)", pj->name, pj->rule->name,
                         pj->rule->version ? pj->rule->version : "");
                return -1;
            }
            if (!(pj->dw_mean = malloc((1 + pj->rule->n_aux) * apical_proj_n_weights(c, pj) *
                                       sizeof(double))) ||
                !(pj->dw = malloc((1 + pj->rule->n_aux) * apical_proj_n_weights(c, pj) *
                                  sizeof(double))))
                return snprintf(err, cap, "out of memory"), -1;
        }
        if (f32 || (pj->rule && c->batch_k > 1 && APICAL_RULE_HAS_BATCH(pj->rule)) ||
            (copies && c->copies > 1)) {
            size_t m = c->pops[pj->dst].n, n = c->pops[pj->src].n, k = c->batch_k * c->copies;
            pj->hist_post = malloc(k * m * sizeof(double));
            pj->hist_pre = malloc(k * n * sizeof(double));
            pj->hist_scratch = malloc(2 * k * m * sizeof(double));
            pj->hist_slice = malloc(k * m * sizeof(double));
            if (f32 && !(pj->hist_pre_f32 = malloc(k * n * sizeof(float))))
                return snprintf(err, cap, "out of memory"), -1;
            if (f32 && c->rule_bf16 && c->copies == 1 &&
                !(pj->hist_pre_bf16x2 = calloc((k + 1) / 2 * n, sizeof(uint32_t))))
                return snprintf(err, cap, "out of memory"), -1;
            if (!pj->hist_post || !pj->hist_pre || !pj->hist_scratch || !pj->hist_slice)
                return snprintf(err, cap, "out of memory"), -1;
        }
        if (pj->rule && !pj->rule->euler && !pj->dw) {
            size_t nw = apical_proj_n_weights(c, pj);
            pj->dw = malloc((1 + pj->rule->n_aux) * nw * sizeof(double));
            if (!pj->dw)
                return snprintf(err, cap, "out of memory"), -1;
        }
    }
    return 0;
}

/* With matvec f32 or f16: the single- (and half-) precision copies of the
   weights, the rules' f32 memory, and a per-thread presynaptic vector of
   nmax floats. */
static int finalize_low_precision(apical_circuit *c, size_t nmax, char *err, size_t cap)
{
    if (!c->matvec_f32)
        return 0;
    /* threads' rows on separate cache lines; room for every copy's vector */
    c->xf_stride = (nmax * c->copies + 15) & ~(size_t)15;
    c->xf_threads = c->route_auto;
    if (!(c->xf = malloc(c->xf_stride * (size_t)c->route_auto * sizeof(float))))
        return snprintf(err, cap, "out of memory"), -1;
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (pj->one_to_one)
            continue;
        if (!(pj->wf = malloc(apical_proj_n_weights(c, pj) * sizeof(float))))
            return snprintf(err, cap, "out of memory"), -1;
        if (c->matvec_f32 == 3 &&
            !(pj->wh = malloc(apical_proj_n_weights(c, pj) * sizeof(uint16_t))))
            return snprintf(err, cap, "out of memory"), -1;
        if (c->matvec_f32 >= 2 && pj->rule && APICAL_RULE_HAS_BATCH_F32(pj->rule) &&
            !(pj->auxf = calloc((pj->rule->n_aux ? pj->rule->n_aux : 1) *
                                    apical_proj_n_weights(c, pj), sizeof(float))))
            return snprintf(err, cap, "out of memory"), -1;
    }
    return 0;
}

/* The populations not `done` by the topological sort each have a
   feedthrough input from another one left: walk those inputs backwards
   until a population comes round again, and name the loop so found from
   the source of its first projection in the file (*proj). */
static int describe_loop(const apical_circuit *c, const unsigned char *done, size_t *proj,
                         char *err, size_t cap)
{
    size_t *via = malloc(c->n_pops * sizeof *via), at = 0;
    unsigned char *seen = calloc(c->n_pops, 1);
    if (!via || !seen) {
        free(via);
        free(seen);
        return snprintf(err, cap, "out of memory"), -1;
    }
    while (done[at])
        at++;
    while (!seen[at]) {
        seen[at] = 1;
        for (size_t k = 0; k < c->n_projs; k++)
            if (c->projs[k].feedthrough && c->projs[k].dst == at && !done[c->projs[k].src]) {
                via[at] = k;
                break;
            }
        at = c->projs[via[at]].src;
    }
    size_t first = via[at];
    for (size_t v = c->projs[via[at]].src; v != at; v = c->projs[via[v]].src)
        if (via[v] < first)
            first = via[v];
    const size_t u = c->projs[first].src;
    size_t path[64], len = 0; /* u and its predecessors around the loop */
    path[len++] = u;
    for (size_t v = c->projs[via[u]].src; v != u && len < 64; v = c->projs[via[v]].src)
        path[len++] = v;
    char names[600], projs[900];
    size_t un = (size_t)snprintf(names, sizeof names, "%s", c->pops[u].name), up = 0;
    projs[0] = 0;
    for (size_t j = len; j-- > 0;) { /* forwards: path[len-1], ..., path[1], then u */
        const size_t v = j ? path[j] : u;
        const apical_proj *pj = &c->projs[via[v]];
        const apical_pop *ps = &c->pops[pj->src];
        if (un < sizeof names)
            un += (size_t)snprintf(names + un, sizeof names - un, " -> %s", c->pops[v].name);
        if (up < sizeof projs)
            up += (size_t)snprintf(projs + up, sizeof projs - up, "%s%s.%s -> %s.%s",
                                   up ? ", " : "", ps->name, ps->model->obs[pj->src_obs].name,
                                   c->pops[v].name, apical_proj_port(c, pj));
    }
    snprintf(err, cap, "an instantaneous loop through feedthrough projections: %s (%s); "
             "each carries a port-stage observable, so every population of the loop "
             "would need the others' outputs of the same step: let one of them carry a "
             "state-stage observable", names, projs);
    if (proj)
        *proj = first;
    free(via);
    free(seen);
    return -1;
}

/* Kahn's algorithm over the feedthrough projections, populations taken in
   the order they were added wherever the projections leave a choice. */
int apical_circuit_feed_order(const apical_circuit *c, size_t *order, size_t *proj, char *err,
                              size_t cap)
{
    size_t *indeg = calloc(c->n_pops ? c->n_pops : 1, sizeof *indeg);
    unsigned char *done = calloc(c->n_pops ? c->n_pops : 1, 1);
    if (!indeg || !done) {
        free(indeg);
        free(done);
        return snprintf(err, cap, "out of memory"), -1;
    }
    for (size_t k = 0; k < c->n_projs; k++)
        if (c->projs[k].feedthrough)
            indeg[c->projs[k].dst]++;
    size_t n = 0;
    for (int progress = 1; progress && n < c->n_pops;) {
        progress = 0;
        for (size_t i = 0; i < c->n_pops; i++) {
            if (done[i] || indeg[i])
                continue;
            done[i] = 1;
            order[n++] = i;
            progress = 1;
            for (size_t k = 0; k < c->n_projs; k++)
                if (c->projs[k].feedthrough && c->projs[k].src == i)
                    indeg[c->projs[k].dst]--;
            break; /* start again from the first population */
        }
    }
    int rc = n < c->n_pops ? describe_loop(c, done, proj, err, cap) : 0;
    free(indeg);
    free(done);
    return rc;
}

/* The evaluation order when some projection is a feedthrough. */
static int finalize_order(apical_circuit *c, char *err, size_t cap)
{
    c->n_feed = 0;
    for (size_t k = 0; k < c->n_projs; k++)
        c->n_feed += c->projs[k].feedthrough != 0;
    if (!c->n_feed)
        return 0;
    if (c->copies > 1) {
        snprintf(err, cap, "simulation.batch > 1 is not supported with projections that "
                 "carry port-stage observables (feedthrough)");
        return -1;
    }
    free(c->order);
    if (!(c->order = malloc(c->n_pops * sizeof *c->order)))
        return snprintf(err, cap, "out of memory"), -1;
    size_t k;
    char msg[1600];
    if (apical_circuit_feed_order(c, c->order, &k, msg, sizeof msg) != 0) {
        if (c->projs[k].where[0])
            snprintf(err, cap, "projection %s (defined at %s): %s", c->projs[k].name,
                     c->projs[k].where, msg);
        else
            snprintf(err, cap, "projection %s: %s", c->projs[k].name, msg);
        return -1;
    }
    return 0;
}

int apical_circuit_finalize(apical_circuit *c, char *err, size_t cap)
{
    size_t ny = 0, nmax = 1, omax = 1;
    if (finalize_pops(c, &ny, &nmax, &omax, err, cap) != 0 || finalize_rules(c, err, cap) != 0 ||
        finalize_order(c, err, cap) != 0)
        return -1;
    c->n_y1 = ny;
    c->n_y = ny * c->copies;
    ny = c->n_y;
    size_t alloc = ny ? ny : 1;
    for (size_t i = 0; c->copies > 1 && i < c->n_stims; i++) {
        /* room for every copy's pattern and target */
        apical_stim *s = &c->stims[i];
        size_t nx = c->pops[s->dst].n, nt = s->has_target ? c->pops[s->tgt].n : 0;
        double *x = calloc(nx * c->copies, sizeof(double));
        double *u = nt ? calloc(nt * c->copies, sizeof(double)) : NULL;
        if (!x || (nt && !u)) {
            free(x);
            free(u);
            return snprintf(err, cap, "out of memory"), -1;
        }
        free(s->x);
        s->x = x;
        if (nt) {
            free(s->u_trgt);
            s->u_trgt = u;
        }
    }
    c->y = calloc(alloc, sizeof(double));
    c->dydt = calloc(alloc, sizeof(double));
    c->y_saved = calloc(alloc, sizeof(double));
    c->noise = calloc(alloc, sizeof(double));
    c->scratch = calloc(nmax, sizeof(double));
    c->obs_scratch = calloc(omax, sizeof(double));
    /* Below ~2^18 weights the products of a step take less than the few
       microseconds a parallel region costs. */
    double n_weights = 0;
    for (size_t i = 0; i < c->n_projs; i++)
        if (!c->projs[i].one_to_one)
            n_weights += (double)apical_proj_n_weights(c, &c->projs[i]);
    c->route_auto = n_weights >= (double)(1u << 18) ? omp_get_max_threads() : 1;
    if (c->route_auto < 1)
        c->route_auto = 1;
    /* probed every 4096 steps, 16 on one thread and 16 on all */
    apical_team_init(&c->team, c->route_auto, 4096, 16);
    if (finalize_low_precision(c, nmax, err, cap) != 0)
        return -1;
    if (!c->y || !c->dydt || !c->y_saved || !c->noise || !c->scratch || !c->obs_scratch)
        return snprintf(err, cap, "out of memory"), -1;
    c->finalized = 1;
    return 0;
}

int apical_proj_init_table(apical_circuit *c, apical_proj *pj, const apical_table *t, char *err,
                           size_t cap)
{
    size_t m = c->pops[pj->dst].n, n = c->pops[pj->src].n;
    if (!pj->w) {
        snprintf(err, cap, "a one_to_one projection has no weights");
        return -1;
    }
    if (t->rows != m || t->cols != n) {
        snprintf(err, cap, "weights of %s -> %s need %zu rows x %zu columns, the file has %zu x %zu",
                 c->pops[pj->src].name, c->pops[pj->dst].name, m, n, t->rows, t->cols);
        return -1;
    }
    memcpy(pj->w, t->data, m * n * sizeof(double));
    return 0;
}

const char *apical_proj_port(const apical_circuit *c, const apical_proj *pj)
{
    return c->pops[pj->dst].model->ports[pj->dst_port].name;
}

int apical_proj_role(const apical_circuit *c, const apical_proj *pj)
{
    const apical_pop *d = &c->pops[pj->dst];
    for (int r = 1; r < APICAL_ROLE_COUNT; r++)
        if (apical_role_is_port(r) && d->role[r] == pj->dst_port)
            return r;
    return APICAL_ROLE_NONE;
}

/* The projection into the port playing `role` of population dst
   (one_to_one or not). */
static const apical_proj *proj_into(const apical_circuit *c, size_t dst, int role, int one_to_one)
{
    size_t dp = c->pops[dst].role[role];
    for (size_t i = 0; i < c->n_projs && dp != NONE; i++)
        if (c->projs[i].dst == dst && c->projs[i].dst_port == dp &&
            c->projs[i].one_to_one == one_to_one)
            return &c->projs[i];
    return NULL;
}

const apical_proj *apical_proj_between(const apical_circuit *c, size_t src, size_t dst, int role)
{
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        if (pj->src == src && pj->dst == dst && !pj->one_to_one &&
            pj->dst_port == c->pops[dst].role[role])
            return pj;
    }
    return NULL;
}

/* W^PI = -W^PP_{k,k+1}: cancel the top-down input of the pyramids */
static const apical_proj *lateral_partner(const apical_circuit *c, const apical_proj *pj,
                                          double *factor, char *err, size_t cap)
{
    const apical_pop *d = &c->pops[pj->dst], *s = &c->pops[pj->src];
    const apical_proj *down = proj_into(c, pj->dst, APICAL_ROLE_APICAL_TOPDOWN, 0);
    if (!down || down->src == pj->src) {
        snprintf(err, cap, "self_predicting %s -> %s.%s needs a top-down projection into %s's "
                 "%s to cancel", s->name, d->name, apical_proj_port(c, pj), d->name,
                 apical_role_what(APICAL_ROLE_APICAL_TOPDOWN));
        return NULL;
    }
    if (c->pops[down->src].n != s->n) {
        snprintf(err, cap, "self_predicting: %s has %zu cells, but the top-down source %s "
                 "has %zu", s->name, s->n, c->pops[down->src].name, c->pops[down->src].n);
        return NULL;
    }
    *factor = -1;
    return down;
}

/* W^IP = (c_next / c_I) W^PP_{k+1,k}: predict the partner pyramids' basal
   prediction (docs/model.md 2.2) */
static const apical_proj *dendrite_partner(const apical_circuit *c, const apical_proj *pj,
                                           double *factor, char *err, size_t cap)
{
    const apical_pop *d = &c->pops[pj->dst], *s = &c->pops[pj->src];
    const apical_proj *nudge = proj_into(c, pj->dst, APICAL_ROLE_NUDGE, 1);
    if (!nudge) {
        snprintf(err, cap, "self_predicting %s -> %s.%s needs the one_to_one projection into "
                 "%s's %s that names the partner pyramids", s->name, d->name,
                 apical_proj_port(c, pj), d->name, apical_role_what(APICAL_ROLE_NUDGE));
        return NULL;
    }
    size_t q = nudge->src;
    const apical_pop *pq = &c->pops[q];
    const apical_proj *up = apical_proj_between(c, pj->src, q, APICAL_ROLE_BASAL);
    if (!up) {
        snprintf(err, cap, "self_predicting %s -> %s.%s needs a projection %s -> %s into its "
                 "%s to copy", s->name, d->name, apical_proj_port(c, pj), s->name, pq->name,
                 apical_role_what(APICAL_ROLE_BASAL));
        return NULL;
    }
    double cq, ci;
    if (apical_pop_attenuation(pq, up->dst_port, &cq, err, cap) ||
        apical_pop_attenuation(d, pj->dst_port, &ci, err, cap))
        return NULL;
    *factor = cq / ci;
    return up;
}

const apical_proj *apical_proj_partner(const apical_circuit *c, const apical_proj *pj,
                                       double *factor, char *err, size_t cap)
{
    if (pj->one_to_one) {
        snprintf(err, cap, "a one_to_one projection has no weights");
        return NULL;
    }
    int role = apical_proj_role(c, pj);
    if (role == APICAL_ROLE_APICAL_LATERAL)
        return lateral_partner(c, pj, factor, err, cap);
    if (role == APICAL_ROLE_DENDRITE)
        return dendrite_partner(c, pj, factor, err, cap);
    snprintf(err, cap, "self_predicting init is for the lateral pathways: a projection into a "
             "%s (W^PI) or an %s (W^IP), not %s", apical_role_what(APICAL_ROLE_APICAL_LATERAL),
             apical_role_what(APICAL_ROLE_DENDRITE), apical_proj_port(c, pj));
    return NULL;
}

int apical_proj_init_self_predicting(apical_circuit *c, apical_proj *pj, char *err, size_t cap)
{
    double f;
    const apical_proj *from = apical_proj_partner(c, pj, &f, err, cap);
    if (!from)
        return -1;
    size_t n = apical_proj_n_weights(c, pj);
    for (size_t i = 0; i < n; i++)
        pj->w[i] = f * from->w[i];
    return 0;
}

void apical_proj_init_normal(apical_circuit *c, apical_proj *pj, double mean, double sd)
{
    size_t n = apical_proj_n_weights(c, pj);
    for (size_t i = 0; i < n; i++)
        pj->w[i] = mean + gsl_ran_gaussian_ziggurat(c->rng_init, sd);
}

void apical_proj_init_uniform(apical_circuit *c, apical_proj *pj, double lo, double hi)
{
    size_t n = apical_proj_n_weights(c, pj);
    for (size_t i = 0; i < n; i++)
        pj->w[i] = lo + (hi - lo) * gsl_rng_uniform(c->rng_init);
}

size_t apical_proj_n_weights(const apical_circuit *c, const apical_proj *pj)
{
    return pj->one_to_one ? 0 : c->pops[pj->src].n * c->pops[pj->dst].n;
}

size_t apical_circuit_n_pops(const apical_circuit *c) { return c->n_pops; }
size_t apical_circuit_n_projs(const apical_circuit *c) { return c->n_projs; }
size_t apical_circuit_n_stims(const apical_circuit *c) { return c->n_stims; }
apical_pop *apical_circuit_pop_at(const apical_circuit *c, size_t i) { return &c->pops[i]; }
apical_proj *apical_circuit_proj_at(const apical_circuit *c, size_t i) { return &c->projs[i]; }
apical_stim *apical_circuit_stim_at(const apical_circuit *c, size_t i) { return &c->stims[i]; }
unsigned long apical_circuit_seed(const apical_circuit *c) { return c->seed; }

apical_stim *apical_circuit_stim(const apical_circuit *c, const char *name, size_t *index)
{
    for (size_t i = 0; i < c->n_stims; i++)
        if (strcmp(c->stims[i].name, name) == 0) {
            if (index)
                *index = i;
            return &c->stims[i];
        }
    return NULL;
}

double *apical_circuit_state(const apical_circuit *c, size_t *n_y)
{
    if (n_y)
        *n_y = c->n_y;
    return c->y;
}

const char *apical_pop_name(const apical_pop *p) { return p->name; }
size_t apical_pop_size(const apical_pop *p) { return p->n; }
const apical_cell_model *apical_pop_model(const apical_pop *p) { return p->model; }
const double *apical_pop_params(const apical_pop *p) { return p->p; }
int apical_pop_apical_fed(const apical_pop *p) { return p->apical_fed; }
size_t apical_pop_role(const apical_pop *p, int role)
{
    return role > 0 && role < APICAL_ROLE_COUNT ? p->role[role] : (size_t)-1;
}

double *apical_pop_state(const apical_circuit *c, const apical_pop *p, size_t k)
{
    return c->y + p->y_off + k * p->n;
}

const double *apical_pop_observable(const apical_pop *p, size_t k) { return p->obs + k * p->n; }
const double *apical_pop_port(const apical_pop *p, size_t k) { return p->in + k * p->n; }
const double *apical_pop_observable_copy(const apical_pop *p, size_t k, size_t b)
{
    return p->obs + b * p->obs_blk + k * p->n;
}
const double *apical_pop_port_copy(const apical_pop *p, size_t k, size_t b)
{
    return p->in + b * p->in_blk + k * p->n;
}

size_t apical_proj_src(const apical_proj *pj) { return pj->src; }
size_t apical_proj_dst(const apical_proj *pj) { return pj->dst; }
size_t apical_proj_src_obs(const apical_proj *pj) { return pj->src_obs; }
size_t apical_proj_dst_port(const apical_proj *pj) { return pj->dst_port; }
int apical_proj_one_to_one(const apical_proj *pj) { return pj->one_to_one; }
double *apical_proj_weights(const apical_proj *pj) { return pj->w; }
const apical_rule *apical_proj_rule(const apical_proj *pj) { return pj->rule; }
const double *apical_proj_rule_params(const apical_proj *pj) { return pj->rp; }
const char *apical_proj_where(const apical_proj *pj) { return pj->where; }
const char *apical_proj_name(const apical_proj *pj) { return pj->name; }
const char *apical_stim_name(const apical_stim *s) { return s->name; }
double *apical_stim_pattern(const apical_stim *s) { return s->x; }
size_t apical_stim_size(const apical_stim *s) { return s->size; }

int apical_circuit_threads(const apical_circuit *c)
{
    return c->team.most;
}

int apical_circuit_set_threads(apical_circuit *c, int n, char *err, size_t cap)
{
    if (!c->finalized) {
        snprintf(err, cap, "set the threads of a finalized circuit");
        return -1;
    }
    if (n <= 0) {
        apical_team_fix(&c->team, 0, c->route_auto);
        return 0;
    }
    if (c->xf && n > c->xf_threads) { /* per-thread scratch for n threads */
        float *xf = realloc(c->xf, c->xf_stride * (size_t)n * sizeof(float));
        if (!xf) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
        c->xf = xf;
        c->xf_threads = n;
    }
    apical_team_fix(&c->team, n, c->route_auto);
    return 0;
}

void apical_circuit_set_bound(apical_circuit *c, double bound) { c->bound = bound; }
double apical_circuit_bound(const apical_circuit *c) { return c->bound; }
