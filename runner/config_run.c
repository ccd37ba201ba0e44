/*
 * config_run.c -- the run sections of a circuit file: simulation (noise,
 * mode, integrator, phases, steady) and record.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

int apical_cfg_load_noise(ctx *x, const yaml_node_t *sim, double *sigma)
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

/* A duration whose step count (ms / dt) a run can count: at most 1e15
   steps, far below where the count would overflow. */
static int steps_fit(ctx *x, const yaml_node_t *n, double ms, const char *what)
{
    double steps = ms / x->cfg->run.dt;
    if (!(steps <= 1e15))
        return fail(x, n, "%s of %g ms is %.3g steps of dt = %g ms: more than a run counts "
                    "(at most 1e15)", what, ms, steps, x->cfg->run.dt);
    return 0;
}

/* rates / a group's decay at node n: a factor of the learning rates, which
   every plastic projection's rule must be able to take (module ABI 1.7). */
static int rate_factor(ctx *x, const yaml_node_t *n, const char *what, double *f)
{
    if (to_double(x, n, f))
        return -1;
    if (!(*f > 0 && *f <= 1e6))
        return fail(x, n, "%s: a factor of the learning rates, greater than 0 (at most 1e6)",
                    what);
    const apical_circuit *c = x->cfg->circuit;
    for (size_t i = 0; i < c->n_projs; i++)
        if (c->projs[i].rule && !APICAL_RULE_RATE_PARAM(c->projs[i].rule))
            return fail(x, n, "%s: projection %s's rule %s names no learning-rate parameter "
                        "(module ABI 1.7 apical_rule.rate_param), so its rate cannot be "
                        "scaled", what, c->projs[i].name, c->projs[i].rule->name);
    return 0;
}

/* {train: STIM, patterns, present, plastic, target, noise, plastic_after, rates}
   {test: STIM, patterns}     {settle: MS, plastic, target, noise, rates} */
static int load_phase(ctx *x, const yaml_node_t *ph, apical_phase *out)
{
    static const char *const keys[] = { "train", "test", "settle", "patterns", "present",
                                        "plastic", "target", "noise", "plastic_after",
                                        "rates", NULL };
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
    yaml_node_t *pa = get(x, ph, "plastic_after");
    if (pa && !tr)
        return fail(x, pa, "plastic_after belongs to a train phase (ms into each presentation)");
    yaml_node_t *ra = get(x, ph, "rates");
    out->rate_scale = 1.0;
    if (ra && (te ? fail(x, ra, "a test phase does not learn: rates belongs to train and "
                         "settle phases") : rate_factor(x, ra, "rates", &out->rate_scale)))
        return -1;
    if (ra && !out->plastic)
        return fail(x, ra, "rates in a phase with plastic: false");
    if (se) {
        out->kind = APICAL_PHASE_SETTLE;
        if (np || pres)
            return fail(x, np ? np : pres, "a settle phase takes a duration: {settle: MS}");
        if (to_double(x, se, &out->present_ms))
            return -1;
        if (!(out->present_ms >= 0))
            return fail(x, se, "a duration of at least 0 ms");
        return steps_fit(x, se, out->present_ms, "settle");
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
    if (pa && to_double(x, pa, &out->plastic_after_ms))
        return -1;
    if (pa && !(out->plastic_after_ms >= 0 && out->plastic_after_ms < out->present_ms &&
                lround(out->plastic_after_ms / x->cfg->run.dt) <
                    lround(out->present_ms / x->cfg->run.dt)))
        return fail(x, pa, "plastic_after (%g ms) must be at least 0 and leave at least one "
                    "step of dt = %g ms of present (%g ms)", out->plastic_after_ms,
                    x->cfg->run.dt, out->present_ms);
    if (pa && !out->plastic)
        return fail(x, pa, "plastic_after in a phase with plastic: false");
    return steps_fit(x, pres ? pres : ph, out->present_ms, "present");
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
        if (p->role[APICAL_ROLE_DENDRITE] == (size_t)-1)
            return fail(x, k, "population %s (%s) is not an interneuron: its cell declares no "
                        "%s", p->name, p->model->name, apical_role_what(APICAL_ROLE_DENDRITE));
        if (one_of(x, v, kinds, expected, &kind))
            return -1;
        o->interneurons_pop[i] = (unsigned char)(1 + kind);
    }
    return 0;
}

/* decay: the learning rates' factor per epoch; decay_interneurons: whether
   the interneurons' rates decay too (steady mode). */
static int load_decay(ctx *x, const yaml_node_t *sd, apical_steady_opts *o)
{
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
    return 0;
}

/* evaluate: [STIM, ...]: idx stimuli that drive and teach the populations
   the training stimulus st does. */
static int load_evaluate(ctx *x, const yaml_node_t *ev, const apical_stim *st,
                         apical_steady_opts *o)
{
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
    if (load_decay(x, sd, o))
        return -1;
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
    if (ev && load_evaluate(x, ev, st, o))
        return -1;
    yaml_node_t *pr = get(x, sd, "precision"), *va = get(x, sd, "variant");
    static const char *const precisions[] = { "f64", "f32", NULL };
    static const char *const variants[] = { "exact", "literal", NULL };
    if (pr && one_of(x, pr, precisions, "f32 or f64", &o->f32))
        return -1;
    if (va && one_of(x, va, variants, "exact (docs/model.md 4, with the attenuation factors) or "
                     "literal (the paper's wording)", &o->literal))
        return -1;
    return 0;
}

/* A name from apical_integ_methods. */
static int integrator_method(ctx *x, const yaml_node_t *m, apical_run_opts *o)
{
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
    return 0;
}

/* Whether the method is Euler's (none named: Euler). */
static int is_euler(const char *method)
{
    return !method[0] || !strcmp(method, "euler") || !strcmp(method, "expeuler");
}

/* weights: beside (advanced once per step) or state (in the ODE system). */
static int integrator_weights(ctx *x, const yaml_node_t *wn, apical_run_opts *o)
{
    if (expect(x, wn, YAML_SCALAR_NODE, "beside or state"))
        return -1;
    if (!strcmp(scalar(wn), "state"))
        o->integ.weights_in_state = 1;
    else if (strcmp(scalar(wn), "beside") != 0)
        return fail(x, wn, "expected beside (advanced once per step) or state (in the "
                           "ODE system), found '%s'", scalar(wn));
    if (o->integ.weights_in_state && is_euler(o->integ.method))
        return fail(x, wn, "weights: state needs a GSL stepper (with euler the two "
                           "are the same scheme)");
    return 0;
}

/* matvec: f64, or the reduced-precision weight copies (Euler steppers). */
static int integrator_matvec(ctx *x, const yaml_node_t *mv, const apical_run_opts *o)
{
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
    if (!is_euler(o->integ.method) && f32)
        return fail(x, mv, "matvec: %s is for euler and expeuler (GSL steppers evaluate "
                           "between weight updates)", scalar(mv));
    return 0;
}

/* integrator: {method, dt, rtol, atol, h0, hmax, weights, plasticity_batch,
   matvec} */
static int load_integrator(ctx *x, const yaml_node_t *integ, apical_run_opts *o)
{
    static const char *const ik[] = { "method", "dt", "rtol", "atol", "h0", "hmax",
                                      "weights", "plasticity_batch", "matvec",
                                      "rule_products", NULL };
    if (expect(x, integ, YAML_MAPPING_NODE, "an integrator {method, dt, ...}") ||
        check_keys(x, integ, "the integrator", ik))
        return -1;
    yaml_node_t *m = get(x, integ, "method"), *dt = get(x, integ, "dt");
    if (m && integrator_method(x, m, o))
        return -1;
    if (dt && to_double(x, dt, &o->dt))
        return -1;
    if (!(o->dt > 0))
        return fail(x, dt, "dt must be positive");
    yaml_node_t *wn = get(x, integ, "weights");
    if (wn && integrator_weights(x, wn, o))
        return -1;
    yaml_node_t *pb = get(x, integ, "plasticity_batch");
    long batch = 1;
    if (pb && to_long(x, pb, 1, &batch))
        return -1;
    if (batch > 1 && o->integ.weights_in_state)
        return fail(x, pb, "plasticity_batch is for weights beside the state");
    apical_circuit_set_plasticity_batch(x->cfg->circuit, (size_t)batch);
    yaml_node_t *mv = get(x, integ, "matvec");
    if (mv && integrator_matvec(x, mv, o))
        return -1;
    yaml_node_t *rp = get(x, integ, "rule_products");
    if (rp) {
        static const char *const kinds[] = { "f32", "bf16", NULL };
        int bf16 = 0;
        if (one_of(x, rp, kinds, "f32 or bf16 (the batched rules' products from bfloat16 "
                                 "operands)", &bf16))
            return -1;
        if (bf16 && (!mv || x->cfg->circuit->matvec_f32 < 2 || batch < 2))
            return fail(x, rp, "rule_products: bf16 needs learning in single precision "
                               "(matvec: f32_all or f16) and plasticity_batch >= 2");
        apical_circuit_set_rule_bf16(x->cfg->circuit, bf16);
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
    return 0;
}

#define MAX_PHASES ((size_t)1 << 20) /* after repeats are expanded */
#define MAX_REPEAT_DEPTH 8

/* A phase list item that is a group {repeat: N, phases: [...]}: 1 with its
   count and list, 0 for a plain phase, -1 on an error. */
static int repeat_group(ctx *x, const yaml_node_t *it, long *times, yaml_node_t **list,
                        double *rates, double *decay)
{
    if (it->type != YAML_MAPPING_NODE || !get(x, it, "repeat"))
        return 0;
    static const char *const keys[] = { "repeat", "phases", "rates", "decay", NULL };
    if (check_keys(x, it, "a repeated group {repeat: N, phases: [...]}", keys) ||
        to_long(x, get(x, it, "repeat"), 1, times))
        return -1;
    yaml_node_t *ra = get(x, it, "rates"), *dc = get(x, it, "decay");
    if ((ra && rate_factor(x, ra, "rates", rates)) || (dc && rate_factor(x, dc, "decay", decay)))
        return -1;
    if (dc && !(*decay <= 1))
        return fail(x, dc, "decay: the learning rates' factor from one repetition to the "
                    "next, in (0, 1]");
    *list = need(x, it, "phases", "a repeated group");
    if (!*list || expect(x, *list, YAML_SEQUENCE_NODE, "a list of phases"))
        return -1;
    if ((*list)->data.sequence.items.top == (*list)->data.sequence.items.start)
        return fail(x, *list, "a repeated group needs at least one phase");
    return 1;
}

/* The phases of list seq with its groups expanded: counted (out NULL) or
   loaded into out from *k on, their learning rates times scale (a group's
   rates, and its decay to the power of the repetition, multiply those of
   the phases inside). */
static int expand_phases(ctx *x, const yaml_node_t *seq, apical_phase *out, size_t *k,
                         int depth, double scale)
{
    if (depth > MAX_REPEAT_DEPTH)
        return fail(x, seq, "repeated groups nest at most %d deep", MAX_REPEAT_DEPTH);
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
         i++) {
        yaml_node_t *it = node(x, *i), *list = NULL;
        long times = 1;
        double rates = 1, decay = 1;
        int g = repeat_group(x, it, &times, &list, &rates, &decay);
        if (g < 0)
            return -1;
        if (!g) {
            if (out && load_phase(x, it, &out[*k]))
                return -1;
            if (out)
                out[*k].rate_scale *= scale;
            if (++*k > MAX_PHASES)
                return fail(x, it, "more than %zu phases", MAX_PHASES);
            continue;
        }
        size_t k0 = *k;
        if (expand_phases(x, list, out, k, depth + 1, scale * rates))
            return -1;
        size_t len = *k - k0;
        if ((size_t)times > MAX_PHASES / len || k0 + len * (size_t)times > MAX_PHASES)
            return fail(x, get(x, it, "repeat"), "repeat %ld of %zu phases: more than %zu "
                        "phases", times, len, MAX_PHASES);
        for (long r = 1; r < times; r++) {
            if (out) {
                memcpy(out + *k, out + k0, len * sizeof *out);
                for (size_t j = 0; j < len; j++)
                    out[*k + j].rate_scale *= pow(decay, (double)r);
            }
            *k += len;
        }
    }
    return 0;
}

static int load_phases(ctx *x, const yaml_node_t *sim, apical_run_opts *o)
{
    yaml_node_t *phases = need(x, sim, "phases", "simulation");
    if (!phases || expect(x, phases, YAML_SEQUENCE_NODE, "a list of phases"))
        return -1;
    size_t n = 0;
    if (expand_phases(x, phases, NULL, &n, 0, 1.0))
        return -1;
    o->phases = calloc(n ? n : 1, sizeof *o->phases);
    if (!o->phases)
        return fail(x, phases, "out of memory");
    size_t k = 0;
    if (expand_phases(x, phases, o->phases, &k, 0, 1.0))
        return -1;
    o->n_phases = n;
    /* the run counts its training patterns in a long */
    double total = 0;
    for (size_t i = 0; i < n; i++)
        if (o->phases[i].kind == APICAL_PHASE_TRAIN)
            total += (double)o->phases[i].patterns;
    if (total > 1e15)
        return fail(x, phases, "%.3g training patterns in all: more than a run counts (at most "
                    "1e15)", total);
    return 0;
}

/* batch: B copies of the state side by side (dynamics mode), and what
   they do not support. */
static int load_batch(ctx *x, const yaml_node_t *bn, const apical_run_opts *o)
{
    long b = 1;
    if (to_long(x, bn, 1, &b))
        return -1;
    if (b == 1)
        return 0;
    if (b > 4096)
        return fail(x, bn, "batch: at most 4096 copies");
    static const char *const implicit[] = { "rk1imp", "rk2imp", "rk4imp", "bsimp", "msbdf",
                                            NULL };
    for (size_t k = 0; implicit[k]; k++)
        if (!strcmp(o->integ.method, implicit[k]))
            return fail(x, bn, "batch > 1 is not supported with the implicit stepper %s (it "
                        "needs the circuit's Jacobian, assembled for one copy); use euler, "
                        "expeuler or an explicit GSL stepper", implicit[k]);
    if (o->integ.weights_in_state)
        return fail(x, bn, "batch > 1 is not supported with integrator weights: state");
    if (o->eval_bp_cosine)
        return fail(x, bn, "batch > 1 is not supported with record.metrics.bp_cosine");
    if (x->cfg->circuit->rule_bf16)
        return fail(x, bn, "batch > 1 is not supported with integrator rule_products: bf16 "
                           "(copies learn through single-precision GEMMs)");
    for (size_t i = 0; i < o->n_phases; i++)
        if (o->phases[i].kind == APICAL_PHASE_TRAIN && o->phases[i].patterns % b)
            return fail(x, bn, "batch %ld: phase %zu trains on %ld patterns, not a multiple of "
                        "the batch (each presentation takes one pattern per copy)", b, i,
                        o->phases[i].patterns);
    const long every[] = { o->eval_every, o->checkpoint_every, o->weights_every };
    const char *what[] = { "record.metrics.every", "record.checkpoint.every",
                           "record.weights.every" };
    for (int k = 0; k < 3; k++)
        if (every[k] % b)
            return fail(x, bn, "batch %ld: %s (%ld) must be a multiple of the batch", b,
                        what[k], every[k]);
    apical_circuit_set_copies(x->cfg->circuit, (size_t)b);
    return 0;
}

int apical_cfg_load_simulation(ctx *x, const yaml_node_t *sim)
{
    apical_run_opts *o = &x->cfg->run;
    static const char *const keys[] = { "integrator", "noise", "phases", "bound", "mode",
                                        "steady", "batch", "rates_interneurons", NULL };
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
        if (get(x, sim, "rates_interneurons"))
            return fail(x, get(x, sim, "rates_interneurons"), "rates_interneurons belongs to "
                        "the dynamics mode's phases (mode %s: steady.decay_interneurons)",
                        scalar(mode));
        if (!sd)
            return fail(x, mode, "mode %s needs a 'steady: {train, epochs, ...}' block",
                        scalar(mode));
        if (get(x, sim, "phases"))
            return fail(x, get(x, sim, "phases"), "mode %s trains in epochs (simulation.steady), "
                        "not phases", scalar(mode));
        if (get(x, sim, "integrator"))
            return fail(x, get(x, sim, "integrator"), "mode %s does not integrate: no integrator",
                        scalar(mode));
        if (get(x, sim, "batch"))
            return fail(x, get(x, sim, "batch"), "simulation.batch is the dynamics mode's; mode "
                        "%s takes its mini-batch as simulation.steady.batch", scalar(mode));
        return load_steady(x, sd);
    }
    if (sd)
        return fail(x, sd, "'steady' belongs to mode steady or backprop");
    /* rates_interneurons: a factor, or true (the phases' factors) / false (1) */
    yaml_node_t *ri = get(x, sim, "rates_interneurons");
    if (ri && expect(x, ri, YAML_SCALAR_NODE, "true, false or a factor of the rates"))
        return -1;
    char *end = NULL;
    if (ri)
        strtod(scalar(ri), &end);
    int follow = 1;
    if (ri && end != scalar(ri) && !*end) {
        if (rate_factor(x, ri, "rates_interneurons", &o->interneuron_rates))
            return -1;
    } else if (ri) {
        if (to_bool(x, ri, &follow))
            return fail(x, ri, "expected true, false or a factor of the learning rates, found "
                        "'%s'", scalar(ri));
        o->interneuron_rates = follow ? 0.0 : 1.0;
    }
    yaml_node_t *integ = get(x, sim, "integrator");
    if (integ && load_integrator(x, integ, o))
        return -1;
    if (load_phases(x, sim, o))
        return -1;
    yaml_node_t *bn = get(x, sim, "batch");
    return bn ? load_batch(x, bn, o) : 0;
}

/* record.traces.phases: [N, ...], numbers of the phases with the groups
   written out, into trace_phases (the phases are read by now). */
int apical_cfg_trace_phases(ctx *x)
{
    const yaml_node_t *ph = x->trace_phases;
    apical_run_opts *o = &x->cfg->run;
    if (!ph)
        return 0;
    if (expect(x, ph, YAML_SEQUENCE_NODE, "a list of phase numbers (from 0)"))
        return -1;
    if (ph->data.sequence.items.top == ph->data.sequence.items.start)
        return fail(x, ph, "phases: [] would trace nothing; leave the key out to trace every "
                    "phase");
    if (!(o->trace_phases = calloc(o->n_phases ? o->n_phases : 1, 1)))
        return fail(x, ph, "out of memory");
    for (yaml_node_item_t *it = ph->data.sequence.items.start; it < ph->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node(x, *it);
        long k;
        if (to_long(x, v, 0, &k))
            return -1;
        if ((size_t)k >= o->n_phases)
            return fail(x, v, "phase %ld: the run has %zu phases, numbered from 0 (groups "
                        "written out)", k, o->n_phases);
        o->trace_phases[k] = 1;
    }
    return 0;
}

/* traces: {vars: [pop.observable, ...], every: STEPS, phases: [N, ...]} */
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
    x->trace_phases = get(x, tr, "phases"); /* checked against the phases later */
    size_t n = (size_t)(vars->data.sequence.items.top - vars->data.sequence.items.start);
    o->traces = calloc(n ? n : 1, sizeof *o->traces);
    if (!o->traces)
        return fail(x, vars, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *v = node(x, vars->data.sequence.items.start[i]);
        char pop[128], obs[128];
        size_t pi;
        if (apical_cfg_split_ref(x, v, 0, pop, obs, sizeof pop))
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

int apical_cfg_load_record(ctx *x, const yaml_node_t *rec)
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
    return steps_fit(x, s ? s : m, o->eval_settle_ms, "settle");
}
