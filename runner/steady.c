/*
 * steady.c -- the steady-state mode of docs/model.md 4 and the backprop
 * baseline, on the circuit the full dynamics run: the engine's object, the
 * sweeps, the learning of a mini-batch, the epoch loop and the run driver.
 * Backprop's learning is in steady_backprop.c, the interneurons' implicit
 * step in steady_implicit.c, the metrics after an epoch in steady_eval.c
 * and steady_probe.c; steady_int.h holds what they share.
 *
 * Steady state.  Each image's fixed point is found by sweeping the
 * populations, in the order the file declares them, with each cell
 * module's `steady` function (the state where du/dt = 0 with its ports
 * held).  The first sweep goes upwards: a port fed by a population not yet
 * computed reads 0, so hidden pyramids settle on their attenuated basal
 * input c_B v_B and the output on c_N v_B.  Then the teaching signal comes
 * on and a sweep in reverse order computes the output with its nudge, each
 * interneuron from the layer's up-sweep rates and its freshly nudged
 * partner, and each pyramid from its basal input and the new apical input:
 * exactly the "up, nudge, down" scheme of docs/model.md 4 (its exact version
 * with the attenuation factors), derived from the modules rather than
 * written out per layer.  More passes iterate towards the full fixed point.
 * In backprop mode the up sweep alone is the forward pass.
 *
 * Every rule with a steady rate (ABI 1.2) then changes its weights by
 * eta mean_b (a post_b + b) pre_b^T over the mini-batch: one GEMM per
 * projection.  The images of a mini-batch go through the sweeps together:
 * a population's buffers hold the batch as batch x n cells, so a module
 * sees batch * n cells (in slices of batch rows, one per thread, when it
 * takes a row distance: ABI 1.3) and each projection is one product of its
 * weight matrix with the batch.  The engine keeps its own copy of the
 * weights, packed for runner/kernels.h (apical_steady_sync and _load move
 * them to and from the circuit).  A projection's product is kept and
 * reused while its source has not changed (the down sweep recomputes only
 * the top-down and lateral pathways).
 */
#include "config.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_randist.h>

#include "kernels.h"
#include "steady_int.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void apical_steady_free(apical_steady *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->pops && i < s->c->n_pops; i++) {
        sd_pop *p = &s->pops[i];
        free(p->y);
        free(p->in);
        free(p->obs);
        free(p->dfdy);
        free(p->dfdin);
        free(p->dody);
        free(p->grad);
        free(p->gradr);
        free(p->grad_fa);
        free(p->gradr_fa);
        free(p->rfree);
        free(p->gain);
        free(p->yp);
        free(p->inp);
        free(p->obsp);
    }
    for (size_t i = 0; s->projs && i < s->c->n_projs; i++) {
        free(s->projs[i].out);
        free(s->projs[i].wf);
        free(s->projs[i].wd);
        free(s->projs[i].wtf);
        free(s->projs[i].wtd);
        free(s->projs[i].e);
        free(s->projs[i].pend_e);
        free(s->projs[i].pend_x);
        free(s->projs[i].pre);
    }
    free(s->pops);
    free(s->projs);
    free(s->xf);
    free(s->ef);
    free(s->of);
    free(s->ysave);
    free(s->psrc);
    free(s->scrd);
    free(s->pport);
    free(s->ext_x);
    free(s->ext_u);
    free(s->ext_r);
    free(s->order);
    free(s->gram);
    free(s->imp_g);
    free(s->imp_m);
    free(s);
}

/* Population i's buffers; its module must have a steady function (and for
   backprop or the probe a Jacobian). */
static int setup_pop(apical_steady *s, size_t i, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_steady_opts *o = &s->o;
    const int bp = o->mode == APICAL_MODE_BACKPROP;
    apical_pop *p = &c->pops[i];
    const apical_cell_model *m = p->model;
    sd_pop *q = &s->pops[i];
    if (!APICAL_CELL_STEADY(m)) {
        snprintf(err, cap, "population %s (%s, defined at %s): the module has no steady "
                 "function (ABI 1.2), so it cannot run in %s mode", p->name, m->name,
                 p->where, bp ? "backprop" : "steady");
        return -1;
    }
    if (p->n > s->widest)
        s->widest = p->n;
    size_t bn = s->B * p->n;
    q->y = calloc(m->n_state * bn + 1, sizeof(double));
    q->in = calloc(m->n_ports * bn + 1, sizeof(double));
    q->obs = calloc(m->n_obs * bn + 1, sizeof(double));
    if (!q->y || !q->in || !q->obs)
        return apical_sd_oom(err, cap);
    q->rate = c->pops[i].role[APICAL_ROLE_RATE];
    q->version = 0;
    q->imp_first = NONE;
    if (bp || o->bp_probe) {
        if (!m->jacobian || (m->n_state != 1 && m->n_state != 0)) {
            snprintf(err, cap, "population %s (%s): %s needs cells with one state "
                     "variable and a Jacobian", p->name, m->name,
                     bp ? "backprop" : "bp_cosine");
            return -1;
        }
        q->dfdy = calloc(bn + 1, sizeof(double));
        q->dfdin = calloc(m->n_ports * bn + 1, sizeof(double));
        q->dody = calloc(m->n_obs * bn + 1, sizeof(double));
        q->grad = calloc(bn + 1, sizeof(double));
        q->gradr = calloc(bn + 1, sizeof(double));
        if (!q->dfdy || !q->dfdin || !q->dody || !q->grad || !q->gradr)
            return apical_sd_oom(err, cap);
    }
    if (o->bp_probe) {
        q->grad_fa = calloc(bn + 1, sizeof(double));
        q->gradr_fa = calloc(bn + 1, sizeof(double));
        q->rfree = calloc(bn + 1, sizeof(double));
        if (!q->grad_fa || !q->gradr_fa || !q->rfree)
            return apical_sd_oom(err, cap);
    }
    return 0;
}

/* The steady form of projection k's rule, which must suit the mode, and
   the buffer of its post factor. */
static int take_rule(apical_steady *s, size_t k, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_steady_opts *o = &s->o;
    const int bp = o->mode == APICAL_MODE_BACKPROP;
    apical_proj *pj = &c->projs[k];
    sd_proj *q = &s->projs[k];
    const apical_rule *r = pj->rule;
    uint32_t fl = APICAL_RULE_FLAGS(r);
    void (*rate)(const double *, double *, double *, double *) = APICAL_RULE_STEADY_RATE(r);
    if (bp != ((fl & APICAL_RULE_NONLOCAL) != 0) || !rate) {
        snprintf(err, cap, "projection %s (defined at %s): rule %s %s", pj->name,
                 pj->where, r->name,
                 bp ? "is local: backprop mode learns with the backprop rule only"
                 : (fl & APICAL_RULE_NONLOCAL)
                     ? "needs simulation mode backprop"
                     : "has no steady rate (ABI 1.2), so it cannot learn in steady "
                       "mode");
        return -1;
    }
    rate(pj->rp, &q->eta, &q->a, &q->b);
    q->plastic = q->eta != 0;
    q->no_decay = o->interneurons_keep_rate &&
                  apical_proj_role(c, pj) == APICAL_ROLE_DENDRITE;
    if (pj->one_to_one) {
        snprintf(err, cap, "projection %s: a one_to_one projection has no weights to "
                 "learn", pj->name);
        return -1;
    }
    if (!(q->e = calloc(s->B * c->pops[pj->dst].n, sizeof(double))))
        return apical_sd_oom(err, cap);
    if (bp)
        s->pops[pj->dst].learns_into = 1;
    return 0;
}

/* Projection k's buffers: its product, its rule's steady form, its packed
   weights and, in f32, the deferred change of a plastic one. */
static int setup_proj(apical_steady *s, size_t k, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    apical_proj *pj = &c->projs[k];
    sd_proj *q = &s->projs[k];
    size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
    if (pj->feedthrough)
        return snprintf(err, cap, "projection %s (defined at %s) carries a port-stage "
                        "observable (feedthrough), which %s mode does not support", pj->name,
                        pj->where, s->o.mode == APICAL_MODE_BACKPROP ? "backprop" : "steady"), -1;
    q->out = calloc(s->B * nd, sizeof(double));
    q->src_version = -1;
    q->fb = NONE;
    q->copy_of = NONE;
    if (!q->out)
        return apical_sd_oom(err, cap);
    if (pj->rule && take_rule(s, k, err, cap))
        return -1;
    if (s->o.f32 && !pj->one_to_one) {
        if (!(q->wf = malloc(apical_k_packed_size_f32(nd, ns) * sizeof(float))))
            return apical_sd_oom(err, cap);
        if (q->plastic && (!(q->pend_e = malloc(s->B * nd * sizeof(float))) ||
                           !(q->pend_x = malloc(s->B * ns * sizeof(float)))))
            return apical_sd_oom(err, cap);
    } else if (!pj->one_to_one) {
        if (!(q->wd = malloc(apical_k_packed_size_f64(nd, ns) * sizeof(double))))
            return apical_sd_oom(err, cap);
    }
    return 0;
}

/* Interneurons free: the buffers of the up sweep's presynaptic rates for
   every plastic projection into such a population's dendrite. */
static int setup_free(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    int want_free = 0;
    for (size_t i = 0; i < c->n_pops; i++)
        want_free |= sd_in_mode(&s->o, i) == APICAL_INTERNEURONS_FREE;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        if (sd_in_mode(&s->o, pj->dst) != APICAL_INTERNEURONS_FREE || !q->plastic ||
            apical_proj_role(c, pj) != APICAL_ROLE_DENDRITE)
            continue;
        if (!(q->pre = malloc(s->B * c->pops[pj->src].n * sizeof(double))))
            return apical_sd_oom(err, cap);
        s->pops[pj->dst].learns_free = s->any_free = 1;
    }
    if (want_free && !s->any_free) {
        snprintf(err, cap, "interneurons free: no projection into an interneuron's dendrite "
                 "has a rule");
        return -1;
    }
    return 0;
}

/* Interneurons ideal: each projection into such a population's dendrite
   copies its partner's weights, scaled, and does not learn itself. */
static int setup_ideal(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        if (sd_in_mode(&s->o, pj->dst) != APICAL_INTERNEURONS_IDEAL || pj->one_to_one ||
            apical_proj_role(c, pj) != APICAL_ROLE_DENDRITE)
            continue;
        double f = 0;
        char why[256];
        const apical_proj *from = apical_proj_partner(c, pj, &f, why, sizeof why);
        if (!from) {
            snprintf(err, cap, "interneurons ideal: projection %s (defined at %s): %s",
                     pj->name, pj->where, why);
            return -1;
        }
        s->projs[k].copy_of = (size_t)(from - c->projs);
        s->projs[k].copy_f = f;
        s->projs[k].plastic = 0;
    }
    return 0;
}

/* The scratch buffers, the batch's external inputs and the training
   order. */
static int setup_scratch(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_steady_opts *o = &s->o;
    size_t wb = s->B * s->widest;
    s->scrd = malloc(wb * sizeof(double));
    s->xf = malloc(wb * sizeof(float));
    s->ef = malloc(wb * sizeof(float));
    s->of = malloc(wb * sizeof(float));
    size_t most = 1;
    for (size_t i = 0; i < c->n_pops; i++)
        if (c->pops[i].model->n_state * c->pops[i].n > most)
            most = c->pops[i].model->n_state * c->pops[i].n;
    s->ysave = malloc(s->B * most * sizeof(double));
    s->psrc = malloc((c->n_projs + 1) * sizeof *s->psrc);
    s->pport = malloc((c->n_projs + 1) * sizeof *s->pport);
    s->ext_x = calloc(wb, sizeof(double));
    s->ext_u = calloc(wb, sizeof(double));
    s->ext_r = calloc(wb, sizeof(double));
    if (o->bp_probe && !(s->gram = malloc(8 * s->B * s->B * sizeof(double))))
        return apical_sd_oom(err, cap);
    if (!s->xf || !s->ef || !s->of || !s->ysave || !s->ext_x || !s->ext_u || !s->ext_r ||
        !s->psrc || !s->pport || !s->scrd)
        return apical_sd_oom(err, cap);
    if (o->n_eval > 0 || o->epochs > 0) {
        const apical_stim *tr = &c->stims[o->train];
        if (!(s->order = malloc(tr->count * sizeof *s->order)))
            return apical_sd_oom(err, cap);
        for (size_t i = 0; i < tr->count; i++)
            s->order[i] = i;
    }
    return 0;
}

apical_steady *apical_steady_new(apical_circuit *c, const apical_steady_opts *o, char *err,
                                 size_t cap)
{
    apical_steady *s = calloc(1, sizeof *s);
    if (!s)
        return apical_sd_oom(err, cap), NULL;
    s->c = c;
    s->o = *o;
    s->B = o->batch ? o->batch : 1;
    s->max_threads = omp_get_max_threads();
    /* all threads or one, whichever is faster here: probed every 1024
       mini-batches, 16 on one thread and 16 on all (team.h); o->threads
       fixes the count */
    apical_team_init(&s->team, s->max_threads, 1024, 16);
    if (o->threads > 0)
        apical_team_fix(&s->team, o->threads, s->max_threads);
    s->rate_scale = 1.0;
    s->pops = calloc(c->n_pops, sizeof *s->pops);
    s->projs = calloc(c->n_projs ? c->n_projs : 1, sizeof *s->projs);
    if (!s->pops || !s->projs) {
        apical_sd_oom(err, cap);
        goto fail;
    }
    if (c->n_pops > APICAL_STEADY_MAX_POPS) {
        snprintf(err, cap, "steady mode handles up to %d populations", APICAL_STEADY_MAX_POPS);
        goto fail;
    }
    for (size_t i = 0; i < c->n_pops; i++)
        if (setup_pop(s, i, err, cap))
            goto fail;
    for (size_t k = 0; k < c->n_projs; k++)
        if (setup_proj(s, k, err, cap))
            goto fail;
    if (o->mode == APICAL_MODE_BACKPROP && apical_sd_backprop_setup(s, err, cap))
        goto fail;
    if (setup_free(s, err, cap) || setup_ideal(s, err, cap) ||
        apical_sd_implicit_setup(s, err, cap) < 0)
        goto fail;
    apical_steady_load(s);
    if (setup_scratch(s, err, cap))
        goto fail;
    return s;
fail:
    apical_steady_free(s);
    return NULL;
}

void apical_steady_sync(apical_steady *s)
{
    apical_circuit *c = s->c;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        apical_sd_flush_proj(s, k);
        int moves = q->plastic || q->copy_of != NONE;
        if (q->wf && moves)
            apical_k_unpack_f32(nd, ns, q->wf, pj->w);
        else if (q->wd && moves)
            apical_k_unpack_f64(nd, ns, q->wd, pj->w);
    }
    apical_circuit_weights_changed(c);
}

void apical_steady_load(apical_steady *s)
{
    apical_circuit *c = s->c;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        q->pending = 0;
        q->src_version = -1;
        if (q->wf)
            apical_k_pack_f32(nd, ns, pj->w, q->wf);
        else if (q->wd)
            apical_k_pack_f64(nd, ns, pj->w, q->wd);
        if (q->wtf)
            apical_k_pack_t_f32(nd, ns, pj->w, q->wtf);
        else if (q->wtd)
            apical_k_pack_t_f64(nd, ns, pj->w, q->wtd);
    }
}

/* Ideal interneurons: their weights follow the partners' new weights (the
   packed layouts agree: the same shapes). */
static void follow_partners(apical_steady *s)
{
    apical_circuit *c = s->c;
    for (size_t k = 0; k < c->n_projs; k++) {
        sd_proj *q = &s->projs[k];
        if (q->copy_of == NONE)
            continue;
        apical_proj *pj = &c->projs[k];
        sd_proj *from = &s->projs[q->copy_of];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        apical_sd_flush_proj(s, q->copy_of);
        if (q->wf) {
            float f = (float)q->copy_f;
            for (size_t i = 0, n = apical_k_packed_size_f32(nd, ns); i < n; i++)
                q->wf[i] = f * from->wf[i];
        } else {
            for (size_t i = 0, n = apical_k_packed_size_f64(nd, ns); i < n; i++)
                q->wd[i] = q->copy_f * from->wd[i];
        }
        q->src_version = -1;
    }
}

/* Steady mode's change of the mini-batch: every rule's post factor at the
   settled state (interneurons free: taken in the up sweep; implicit:
   replaced by the implicit step's), then the changes. */
static int learn_steady(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        if (!q->plastic || q->pre) /* free: taken in the up sweep */
            continue;
        size_t bn = s->nb * c->pops[pj->dst].n;
        const double *post = s->pops[pj->dst].obs + pj->post_obs * bn;
        for (size_t j = 0; j < bn; j++)
            q->e[j] = q->a * post[j] + q->b;
    }
    for (size_t i = 0; i < c->n_pops; i++)
        if (s->pops[i].imp_first != NONE && apical_sd_implicit_step(s, i, err, cap))
            return -1;
    /* every post factor is taken before any weight moves */
    for (size_t k = 0; k < c->n_projs; k++)
        if (s->projs[k].plastic)
            apical_sd_learn_proj(s, k, s->projs[k].e);
    follow_partners(s);
    return 0;
}

int apical_steady_settle(apical_steady *s, const double *x, const double *u_trgt, size_t n,
                         char *err, size_t cap)
{
    apical_stim *st = &s->c->stims[s->o.train];
    if (n > s->B) {
        snprintf(err, cap, "at most %zu patterns per batch", s->B);
        return -1;
    }
    s->ext_stim = s->o.train;
    s->nb = n;
    s->target_on = u_trgt != NULL && st->has_target;
    memcpy(s->ext_x, x, n * st->size * sizeof(double));
    if (s->target_on)
        memcpy(s->ext_u, u_trgt, n * st->n_classes * sizeof(double));
    return apical_sd_sweep(s, s->o.mode == APICAL_MODE_BACKPROP ? 1 : s->o.passes, err, cap);
}

const double *apical_steady_state(const apical_steady *s, size_t pop, size_t b)
{
    return s->pops[pop].y + b * s->c->pops[pop].n;
}

int apical_steady_learn(apical_steady *s, const double *x, const double *u_trgt,
                        const double *r_trgt, size_t n, char *err, size_t cap)
{
    apical_stim *st = &s->c->stims[s->o.train];
    if (apical_steady_settle(s, x, u_trgt, n, err, cap))
        return -1;
    if (s->o.mode == APICAL_MODE_BACKPROP) {
        if (!r_trgt) {
            snprintf(err, cap, "backprop needs target rates");
            return -1;
        }
        memcpy(s->ext_r, r_trgt, n * st->n_classes * sizeof(double));
        return apical_sd_learn_backprop(s, err, cap);
    }
    return learn_steady(s, err, cap);
}

int apical_steady_train_epoch(apical_steady *s, double *train_error, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_steady_opts *o = &s->o;
    apical_stim *tr = &c->stims[o->train];
    int passes = o->mode == APICAL_MODE_BACKPROP ? 1 : o->passes;
    size_t free_obs = o->mode == APICAL_MODE_BACKPROP
                          ? s->pops[tr->tgt].rate
                          : c->pops[tr->tgt].role[APICAL_ROLE_BASAL_PREDICTION];
    /* each epoch's order follows from the random stream alone (a resumed
       run draws the same) */
    for (size_t i = 0; i < tr->count; i++)
        s->order[i] = i;
    gsl_ran_shuffle(c->rng_train, s->order, tr->count, sizeof *s->order);
    size_t wrong = 0;
    for (size_t from = 0; from < tr->count; from += s->B) {
        size_t n = tr->count - from < s->B ? tr->count - from : s->B;
        double t0 = now_s();
        int nt = apical_team_size(&s->team);
        if (s->max_threads > 1)
            omp_set_num_threads(nt);
        apical_sd_load_batch(s, o->train, s->order, from, n, 1);
        if (apical_sd_sweep(s, passes, err, cap))
            return -1;
        /* the free (un-nudged) output: the rates in backprop, the basal
           prediction phi(c v_B) of the nudged cells otherwise */
        wrong += apical_sd_count_wrong(s, s->order, from, free_obs);
        if ((o->mode == APICAL_MODE_BACKPROP ? apical_sd_learn_backprop(s, err, cap)
                                             : learn_steady(s, err, cap)) != 0)
            return -1;
        if (o->stop && *o->stop) {
            snprintf(err, cap, "stopped %zu images into the epoch; the checkpoint holds the "
                     "last full epoch", from + n);
            return APICAL_RUN_STOPPED;
        }
        if (o->on_progress && (from / s->B) % 256 == 0)
            o->on_progress(o->user, (long)(from + n), (long)tr->count);
        apical_team_timed(&s->team, nt, now_s() - t0);
    }
    if (s->max_threads > 1)
        omp_set_num_threads(s->max_threads);
    if (train_error)
        *train_error = free_obs != NONE ? (double)wrong / (double)tr->count : NAN;
    return 0;
}

double apical_steady_flop(const apical_steady *s) { return s->flop; }

int apical_steady_run(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_steady_opts *o = &s->o;
    apical_stim *tr = &c->stims[o->train];
    if (!tr->has_target) {
        snprintf(err, cap, "training stimulus %s has no targets", tr->name);
        return -1;
    }
    apical_epoch_metrics m;
    if (o->start_epoch == 0) {
        /* the checkpoint of epoch 0 comes before its evaluation, which
           depends on the weights alone: a run resumed from it (stopped in
           the evaluation or the first epoch) repeats the evaluation */
        if (o->on_checkpoint && o->on_checkpoint(o->user, 0, err, cap))
            return -1;
        memset(&m, 0, sizeof m);
        m.train_error = NAN;
        int rc = apical_sd_evaluate(s, &m, err, cap);
        if (rc == APICAL_RUN_STOPPED)
            snprintf(err, cap, "stopped during the evaluation before training; the checkpoint "
                     "of epoch 0 was written");
        if (rc)
            return rc == APICAL_RUN_STOPPED ? rc : -1;
        if (o->on_epoch)
            o->on_epoch(o->user, &m);
    }
    for (long ep = o->start_epoch; ep < o->epochs; ep++) {
        double t0 = now_s(), wrong, f0 = s->flop;
        s->rate_scale = o->decay > 0 && ep > o->decay_from
                            ? pow(o->decay, (double)(ep - o->decay_from)) : 1.0;
        int rc = apical_steady_train_epoch(s, &wrong, err, cap);
        if (rc)
            return rc;
        memset(&m, 0, sizeof m);
        m.flop = s->flop - f0;
        m.epoch = ep + 1;
        m.patterns = (ep + 1) * (long)tr->count;
        m.seconds = now_s() - t0;
        m.train_error = wrong;
        apical_steady_sync(s);
        rc = apical_sd_evaluate(s, &m, err, cap);
        if (rc == APICAL_RUN_STOPPED)
            snprintf(err, cap, "stopped during the evaluation after epoch %ld; the checkpoint "
                     "holds epoch %ld (resume repeats epoch %ld)", ep + 1, ep, ep + 1);
        if (rc)
            return rc == APICAL_RUN_STOPPED ? rc : -1;
        if (o->on_epoch)
            o->on_epoch(o->user, &m);
        if (o->on_checkpoint && o->on_checkpoint(o->user, ep + 1, err, cap))
            return -1;
        if (o->stop && *o->stop && ep + 1 < o->epochs) {
            snprintf(err, cap, "stopped after epoch %ld", ep + 1);
            return APICAL_RUN_STOPPED;
        }
    }
    return 0;
}
