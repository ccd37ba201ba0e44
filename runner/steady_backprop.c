/*
 * steady_backprop.c -- backprop mode, and its feedback-alignment variant.
 *
 * The up sweep without nudging (steady.c) is the forward pass of a
 * feedforward net; the error 1/2 |r - r_trgt|^2 at the target population
 * is swept back through the transposed weights of every projection a
 * `backprop` rule learns (a second packed copy of W^T, kept equal to W),
 * each cell's slope du/d(port) = -(df/dport) / (df/du) and phi'(u) taken
 * from its module's Jacobian.  With `feedback: topdown` the error returns
 * instead through the circuit's fixed top-down projection dst -> src.apical
 * (feedback alignment, Lillicrap et al. 2016, with the microcircuit's own
 * random feedback weights), and no W^T copy is kept.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "steady_int.h"

/* Feedback alignment: the error reaches the source of forward projection k
   (src -> dst) through the circuit's top-down projection dst -> src.apical,
   which must be fixed. */
static int find_feedback(apical_steady *s, size_t k, char *err, size_t cap)
{
    const apical_circuit *c = s->c;
    const apical_proj *pj = &c->projs[k];
    const apical_pop *src = &c->pops[pj->src], *dst = &c->pops[pj->dst];
    const apical_proj *t = apical_proj_between(c, pj->dst, pj->src, APICAL_ROLE_APICAL_TOPDOWN);
    if (!t) {
        snprintf(err, cap, "feedback topdown: projection %s -> %s (defined at %s) sends its "
                 "error back through a top-down projection %s -> %s.apical, and there is none",
                 src->name, dst->name, pj->where, dst->name, src->name);
        return -1;
    }
    size_t i = (size_t)(t - c->projs);
    if (s->projs[i].plastic) {
        snprintf(err, cap, "feedback topdown: the top-down projection %s -> %s.apical "
                 "(defined at %s) must be fixed (no rule)", dst->name, src->name, t->where);
        return -1;
    }
    s->projs[k].fb = i;
    return 0;
}

int apical_sd_backprop_setup(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_steady_opts *o = &s->o;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        if (pj->one_to_one || !s->pops[pj->src].learns_into || pj->src >= pj->dst)
            continue;
        if (o->feedback == APICAL_FEEDBACK_TOPDOWN) {
            if (find_feedback(s, k, err, cap))
                return -1;
            continue;
        }
        if (o->f32 ? !(q->wtf = malloc(apical_k_packed_size_f32(ns, nd) * sizeof(float)))
                   : !(q->wtd = malloc(apical_k_packed_size_f64(ns, nd) * sizeof(double))))
            return apical_sd_oom(err, cap);
    }
    return 0;
}

/* -dL/dr_src += e W for projection k's post factor e (-dL/d(port) at its
   destination): a forward product through W^T, or with feedback topdown
   through the top-down weights B (ns x nd): e B^T. */
static void error_to_source(apical_steady *s, size_t k)
{
    apical_circuit *c = s->c;
    apical_proj *pj = &c->projs[k];
    sd_proj *pr = &s->projs[k];
    sd_pop *sp = &s->pops[pj->src];
    size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n, nb = s->nb;
    s->flop += 2.0 * (double)(nb * nd * ns);
    const sd_proj *fb = pr->fb != NONE ? &s->projs[pr->fb] : NULL;
    const float *bf = fb ? fb->wf : pr->wtf;
    const double *bd = fb ? fb->wd : pr->wtd;
    if (bf) {
        for (size_t j = 0; j < nb * nd; j++)
            s->ef[j] = (float)pr->e[j];
        apical_k_forward_f32(nb, ns, nd, bf, s->ef, s->of);
        for (size_t j = 0; j < nb * ns; j++)
            sp->gradr[j] += s->of[j];
    } else {
        apical_k_forward_f64(nb, ns, nd, bd, pr->e, s->scrd);
        for (size_t j = 0; j < nb * ns; j++)
            sp->gradr[j] += s->scrd[j];
    }
}

/* -dL/du at the target, swept back through every projection into a
   population that learns. */
int apical_sd_learn_backprop(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_stim *st = &c->stims[s->ext_stim];
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        sd_pop *q = &s->pops[i];
        size_t bn = s->nb * p->n;
        memset(q->gradr, 0, bn * sizeof(double));
        if (p->model->n_state == 0)
            continue;
        if (apical_sd_observe(s, i, 1) != APICAL_OK) {
            snprintf(err, cap, "population %s: its Jacobian failed", p->name);
            return -1;
        }
    }
    sd_pop *t = &s->pops[st->tgt];
    size_t bt = s->nb * c->pops[st->tgt].n;
    const double *r = t->obs + t->rate * bt;
    for (size_t j = 0; j < bt; j++)
        t->gradr[j] = s->ext_r[j] - r[j];
    for (size_t i = c->n_pops; i-- > 0;) {
        apical_pop *p = &c->pops[i];
        sd_pop *q = &s->pops[i];
        if (p->model->n_state == 0 || q->rate == NONE)
            continue;
        size_t bn = s->nb * p->n;
        const double *slope = q->dody + q->rate * bn;
        for (size_t j = 0; j < bn; j++)
            q->grad[j] = q->gradr[j] * slope[j];
        /* into every projection arriving here: -dL/d(port) = grad du/dport */
        for (size_t k = 0; k < c->n_projs; k++) {
            apical_proj *pj = &c->projs[k];
            if (pj->dst != i || pj->one_to_one || pj->src >= i)
                continue;
            apical_sd_port_grad(q, pj->dst_port, bn, q->grad, s->projs[k].e);
            if (s->pops[pj->src].learns_into)
                error_to_source(s, k);
        }
    }
    for (size_t k = 0; k < c->n_projs; k++)
        if (s->projs[k].plastic && !c->projs[k].one_to_one && c->projs[k].src < c->projs[k].dst)
            apical_sd_learn_proj(s, k, s->projs[k].e);
    return 0;
}
