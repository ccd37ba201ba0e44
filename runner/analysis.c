/*
 * analysis.c -- measures of a circuit's state and weights: the apical
 * potential, the interneurons' mismatch, the output error, the angle between
 * feedback and forward weights, and the distance of the lateral weights from
 * the self-predicting state.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "circuit_int.h"


size_t apical_add_apical_sq(const apical_pop *p, const double *obs, size_t count, double *sum)
{
    size_t o = p->role[APICAL_ROLE_APICAL_POTENTIAL];
    if (!p->apical_fed || o == (size_t)-1)
        return 0;
    const double *va = obs + o * count;
    for (size_t j = 0; j < count; j++)
        *sum += va[j] * va[j];
    return count;
}

size_t apical_add_mismatch(const apical_circuit *c, const apical_proj *pj, const double *src_obs,
                           const double *dst_obs, size_t count, double *sum)
{
    if (!pj->one_to_one)
        return 0;
    size_t du = c->pops[pj->dst].role[APICAL_ROLE_POTENTIAL];
    if (du == (size_t)-1)
        return 0;
    const double *a = src_obs + pj->src_obs * count, *b = dst_obs + du * count;
    for (size_t j = 0; j < count; j++)
        *sum += (a[j] - b[j]) * (a[j] - b[j]);
    return count;
}

void apical_port_grad(const double *dfdy, const double *dfdin, size_t count, const double *g,
                      double *out)
{
    for (size_t j = 0; j < count; j++)
        out[j] = g[j] * (-dfdin[j] / dfdy[j]);
}

/* Squared apical potential, interneuron mismatch and output error at the
   current state (ports and observables filled by an evaluation). */
int apical_measure(apical_circuit *c, const apical_stim *st, apical_sums *m, char *err,
                   size_t cap)
{
    return apical_measure_copy(c, st, 0, m, err, cap);
}

int apical_measure_copy(apical_circuit *c, const apical_stim *st, size_t b, apical_sums *m,
                        char *err, size_t cap)
{
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        m->n_apical += apical_add_apical_sq(p, p->obs + b * p->obs_blk, p->n, &m->apical);
    }
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
        m->n_mismatch += apical_add_mismatch(c, pj, s->obs + b * s->obs_blk,
                                             d->obs + b * d->obs_blk, d->n, &m->mismatch);
    }
    if (!st->has_target)
        return 0;
    /* the target rate: the target cell's own rate at the target potential,
       from its module (state observables at y = u_trgt) */
    const apical_pop *t = &c->pops[st->tgt];
    size_t ro = t->role[APICAL_ROLE_RATE];
    if (ro == (size_t)-1 || t->model->n_state != 1) {
        snprintf(err, cap, "test error needs a one-state cell with a rate at %s", t->name);
        return -1;
    }
    apical_cell_ctx x = { sizeof x, t->n, t->p, st->u_trgt + b * t->n, t->in + b * t->in_blk,
                          NULL, 0 };
    if (t->model->observe(&x, APICAL_OBS_STATE, c->obs_scratch) != APICAL_OK) {
        snprintf(err, cap, "observe of %s failed", t->name);
        return -1;
    }
    const double *r = t->obs + b * t->obs_blk + ro * t->n, *rt = c->obs_scratch + ro * t->n;
    if (st->kind == APICAL_STIM_IDX) {
        /* the class: the one-hot target's larger potential; the answer: the
           largest rate */
        const double *u = st->u_trgt + b * t->n;
        size_t want = 0, got = 0;
        for (size_t j = 1; j < t->n; j++) {
            want = u[j] > u[want] ? j : want;
            got = r[j] > r[got] ? j : got;
        }
        m->n_class++;
        m->wrong += want != got;
    }
    for (size_t j = 0; j < t->n; j++)
        m->error += (r[j] - rt[j]) * (r[j] - rt[j]);
    m->n_error++;
    return 0;
}

/* Mean angle between top-down matrices B (X x Y, into X.apical from Y) and
   the transposes of the forward matrices W (Y x X, X -> Y.basal), over the
   pairs whose X is POP (every pair for APICAL_ALL_POPS): 90 degrees for
   unrelated matrices, 0 when B = W^T (docs/model.md 2.4).  NaN without a pair. */
double apical_feedback_angle(const apical_circuit *c, size_t pop)
{
    double sum = 0;
    int pairs = 0;
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *b = &c->projs[i];
        const apical_pop *x = &c->pops[b->dst];
        if (b->one_to_one || (pop != APICAL_ALL_POPS && b->dst != pop) ||
            apical_proj_role(c, b) != APICAL_ROLE_APICAL_TOPDOWN)
            continue;
        for (size_t k = 0; k < c->n_projs; k++) {
            const apical_proj *w = &c->projs[k];
            if (w->one_to_one || w->src != b->dst || w->dst != b->src ||
                apical_proj_role(c, w) != APICAL_ROLE_BASAL)
                continue;
            size_t nx = x->n, ny = c->pops[b->src].n;
            double dot = 0, bb = 0, ww = 0;
            for (size_t r = 0; r < nx; r++)
                for (size_t q = 0; q < ny; q++) {
                    double bv = b->w[r * ny + q], wv = w->w[q * nx + r];
                    dot += bv * wv;
                    bb += bv * bv;
                    ww += wv * wv;
                }
            if (bb > 0 && ww > 0) {
                sum += acos(fmax(-1.0, fmin(1.0, dot / sqrt(bb * ww)))) * 180.0 / M_PI;
                pairs++;
            }
        }
    }
    return pairs ? sum / pairs : NAN;
}

void apical_copy_sums(const apical_circuit *c, const apical_proj *pj, const apical_proj *q,
                      double f, double acc[4])
{
    for (size_t i = 0, n = apical_proj_n_weights(c, pj); i < n; i++) {
        double t = f * q->w[i], d = pj->w[i] - t;
        acc[0] += d * d;
        acc[1] += t * t;
        acc[2] += pj->w[i] * pj->w[i];
        acc[3] += pj->w[i] * t;
    }
}

/* Relative distance of POP's dendritic weights from their self-predicting
   values (docs/model.md 2.2), over the projections into POP.dendrite that have
   a partner to copy (weights and bias together): sqrt(sum |W - f W_p|^2 /
   sum |f W_p|^2), or the absolute distance where the copies are 0.  NaN when
   POP has no such projection. */
double apical_copy_deviation(const apical_circuit *c, size_t pop)
{
    double acc[4] = { 0 };
    int any = 0;
    for (size_t k = 0; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        if (pj->dst != pop || pj->one_to_one || apical_proj_role(c, pj) != APICAL_ROLE_DENDRITE)
            continue;
        double f;
        char why[256];
        const apical_proj *q = apical_proj_partner(c, pj, &f, why, sizeof why);
        if (!q)
            continue;
        any = 1;
        apical_copy_sums(c, pj, q, f, acc);
    }
    return !any ? NAN : acc[1] > 0 ? sqrt(acc[0] / acc[1]) : sqrt(acc[0]);
}
