/*
 * steady_probe.c -- the bp_cosine probe of steady mode: how well the
 * microcircuit's weight update of each apical-fed population points along
 * backprop's and along feedback alignment's, measured on the first
 * bp_probe images of the training stimulus after every epoch.
 *
 * The up sweep is the free feedforward network (docs/model.md 2.3): its rates,
 * and from the modules' Jacobians the deltas of backprop, delta_N =
 * phi'(u_N) (u_trgt - u_N) at the taught population and delta_src =
 * phi'(u_src) (W^T (delta_dst du_dst/dbasal)) down the basal projections,
 * and of feedback alignment, the same through the top-down projection
 * dst -> src.apical instead of W^T.  Then the nudged sweeps give Eq. 7's
 * update, err_basal times the presynaptic rates.  For every apical-fed
 * population, the cosines between the update of all its basal projections
 * over a batch, sum_b e_b r_b^T, and backprop's and feedback alignment's
 * are averaged over the batches where each is defined.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_cblas.h>

#include "steady_int.h"

/* The sums over a probe's batches, per population. */
typedef struct probe_acc {
    double cb[APICAL_STEADY_MAX_POPS], cf[APICAL_STEADY_MAX_POPS]; /* cosines with BP, FA */
    size_t nbp[APICAL_STEADY_MAX_POPS], nfa[APICAL_STEADY_MAX_POPS]; /* batches added */
} probe_acc;

/* G (nb x nb) = A B^T for A, B nb x n */
static void gram(size_t nb, size_t n, const double *a, const double *b, double *g)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nb, (int)n, 1.0, a,
                (int)n, b, (int)n, 0.0, g, (int)nb);
}

/* The up sweep: the free network's rates into rfree, its Jacobians, and
   the deltas' sums cleared. */
static int free_network(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const uint32_t lit = s->o.literal ? APICAL_STEADY_LITERAL : 0;
    for (size_t i = 0; i < c->n_pops; i++)
        s->pops[i].visited = 0;
    for (size_t i = 0; i < c->n_pops; i++)
        if (apical_sd_settle_pop(s, i, APICAL_STEADY_UP | lit, err, cap))
            return -1;
    for (size_t i = 0; i < c->n_pops; i++) {
        sd_pop *q = &s->pops[i];
        size_t bn = s->nb * c->pops[i].n;
        memset(q->gradr, 0, bn * sizeof(double));
        memset(q->gradr_fa, 0, bn * sizeof(double));
        if (q->rate != NONE)
            memcpy(q->rfree, q->obs + q->rate * bn, bn * sizeof(double));
        if (c->pops[i].model->n_state == 1 && apical_sd_observe(s, i, 1) != APICAL_OK) {
            snprintf(err, cap, "population %s: its Jacobian failed", c->pops[i].name);
            return -1;
        }
    }
    return 0;
}

/* Backprop's deltas (grad) and feedback alignment's (grad_fa), from the
   taught population down the basal projections. */
static void deltas(apical_steady *s)
{
    apical_circuit *c = s->c;
    const apical_stim *st = &c->stims[s->o.train];
    const size_t nb = s->nb;
    for (size_t i = c->n_pops; i-- > 0;) {
        const apical_pop *p = &c->pops[i];
        sd_pop *q = &s->pops[i];
        if (p->model->n_state != 1 || q->rate == NONE)
            continue;
        size_t bn = nb * p->n;
        const double *slope = q->dody + q->rate * bn;
        for (size_t j = 0; j < bn; j++) {
            double g = i == st->tgt ? s->ext_u[j] - q->y[j] : q->gradr[j];
            double gf = i == st->tgt ? s->ext_u[j] - q->y[j] : q->gradr_fa[j];
            q->grad[j] = g * slope[j];
            q->grad_fa[j] = gf * slope[j];
        }
        for (size_t k = 0; k < c->n_projs; k++) {
            const apical_proj *pj = &c->projs[k];
            const apical_pop *src = &c->pops[pj->src];
            if (pj->dst != i || pj->one_to_one || pj->src >= i || src->model->n_state != 1 ||
                apical_proj_role(c, pj) != APICAL_ROLE_BASAL)
                continue;
            const apical_proj *t = apical_proj_between(c, i, pj->src, APICAL_ROLE_APICAL_TOPDOWN);
            for (int fa = 0; fa <= (t != NULL); fa++) {
                apical_sd_port_grad(q, pj->dst_port, bn, fa ? q->grad_fa : q->grad, s->scrd);
                double *to = fa ? s->pops[pj->src].gradr_fa : s->pops[pj->src].gradr;
                /* nb x ns += e (nb x nd) W (nd x ns), or e B^T with B ns x nd */
                cblas_dgemm(CblasRowMajor, CblasNoTrans, fa ? CblasTrans : CblasNoTrans,
                            (int)nb, (int)src->n, (int)p->n, 1.0, s->scrd, (int)p->n,
                            fa ? t->w : pj->w, fa ? (int)p->n : (int)src->n, 1.0, to,
                            (int)src->n);
            }
        }
    }
}

/* Population i's cosines, after the nudged sweeps, added to acc.
   <sum_b x_b y_b^T, sum_b z_b w_b^T> = sum_bb' (x_b.z_b') (y_b.w_b'): the
   post factors' products once per population (all basal projections feed
   the same port), the rates' per projection. */
static void add_cosines(apical_steady *s, size_t i, probe_acc *acc)
{
    apical_circuit *c = s->c;
    const size_t nb = s->nb, g2 = nb * nb;
    double *ee = s->gram, *e_bp = ee + g2, *bp_bp = e_bp + g2, *e_fa = bp_bp + g2,
           *fa_fa = e_fa + g2, *rr = fa_fa + g2, *rq = rr + g2, *qq = rq + g2;
    const apical_pop *p = &c->pops[i];
    const sd_pop *q = &s->pops[i];
    size_t eo = p->role[APICAL_ROLE_BASAL_ERROR], port = p->role[APICAL_ROLE_BASAL];
    if (!p->apical_fed || eo == NONE || port == NONE || p->model->n_state != 1)
        return;
    size_t bn = nb * p->n;
    const double *e = q->obs + eo * bn;
    gram(nb, p->n, e, e, ee);
    for (int fa = 0; fa < 2; fa++) { /* e with backprop's delta, then with FA's */
        apical_sd_port_grad(q, port, bn, fa ? q->grad_fa : q->grad, s->scrd);
        gram(nb, p->n, e, s->scrd, fa ? e_fa : e_bp);
        gram(nb, p->n, s->scrd, s->scrd, fa ? fa_fa : bp_bp);
    }
    double mm = 0, mb = 0, bb = 0, mf = 0, ff = 0;
    for (size_t k = 0; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        const sd_pop *sp = &s->pops[pj->src];
        size_t ns = c->pops[pj->src].n;
        if (pj->dst != i || pj->one_to_one || pj->src >= i || pj->src_obs != sp->rate ||
            pj->dst_port != port)
            continue;
        gram(nb, ns, sd_src_row(s, pj), sd_src_row(s, pj), rr);
        gram(nb, ns, sd_src_row(s, pj), sp->rfree, rq);
        gram(nb, ns, sp->rfree, sp->rfree, qq);
        mm += cblas_ddot((int)g2, ee, 1, rr, 1);
        mb += cblas_ddot((int)g2, e_bp, 1, rq, 1);
        bb += cblas_ddot((int)g2, bp_bp, 1, qq, 1);
        mf += cblas_ddot((int)g2, e_fa, 1, rq, 1);
        ff += cblas_ddot((int)g2, fa_fa, 1, qq, 1);
    }
    if (mm > 0 && bb > 0) {
        acc->cb[i] += mb / sqrt(mm * bb);
        acc->nbp[i]++;
    }
    if (mm > 0 && ff > 0) {
        acc->cf[i] += mf / sqrt(mm * ff);
        acc->nfa[i]++;
    }
}

/* The probe on rows [from, from+n) of the training stimulus. */
static int probe_batch(apical_steady *s, size_t from, size_t n, probe_acc *acc, char *err,
                       size_t cap)
{
    apical_sd_load_batch(s, s->o.train, NULL, from, n, 1);
    if (free_network(s, err, cap))
        return -1;
    deltas(s);
    if (apical_sd_sweep(s, s->o.passes, err, cap))
        return -1;
    for (size_t i = 0; i < s->c->n_pops; i++)
        add_cosines(s, i, acc);
    return 0;
}

int apical_sd_probe(apical_steady *s, apical_epoch_metrics *m, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    for (size_t i = 0; i < APICAL_STEADY_MAX_POPS; i++)
        m->bp_cos[i] = m->fa_cos[i] = NAN;
    if (!s->o.bp_probe || s->o.mode != APICAL_MODE_STEADY)
        return 0;
    const apical_stim *tr = &c->stims[s->o.train];
    size_t n = s->o.bp_probe < tr->count ? s->o.bp_probe : tr->count;
    probe_acc acc = { { 0 }, { 0 }, { 0 }, { 0 } };
    for (size_t from = 0; from < n; from += s->B)
        if (probe_batch(s, from, n - from < s->B ? n - from : s->B, &acc, err, cap))
            return -1;
    for (size_t i = 0; i < c->n_pops; i++) {
        if (acc.nbp[i])
            m->bp_cos[i] = acc.cb[i] / (double)acc.nbp[i];
        if (acc.nfa[i])
            m->fa_cos[i] = acc.cf[i] / (double)acc.nfa[i];
    }
    return 0;
}
