/*
 * steady_implicit.c -- interneurons implicit: the steady-state change of
 * the projections into an interneuron's dendrite (Eq. 8) stepped by
 * backward Euler, one small linear system per cell.
 *
 * Eq. 8 is a delta rule, and its explicit step (the post factor e taken
 * before the step) overshoots once eta c_I lambda_I phi' |r|^2 exceeds 2.
 * Here the batch's change is the rule's change at the weights after the
 * step (to first order in the change): for cell j of population i,
 *     e'_j = e_j - D_j G e'_j,  i.e.  (I + D_j G) e'_j = e_j,
 * with e_j the post factors of the batch's patterns (a batch-vector),
 * D_j = diag(-de/dv), the derivative of the post factor by the dendritic
 * input (central differences through the module's steady and observe
 * functions, clipped at 0), and G the batch's Gram sum_p f_p r_p r_p^T of
 * the presynaptic rates the change is taken with, f_p the projection's step
 * factor eta/nb; each projection then learns f_p e'^T r_p as before.  Small
 * changes are as explicit ones; along directions where the explicit step
 * overshoots, the error is taken out instead of reversed (for the
 * linearised rule no f_p >= 0 overshoots).  The rule's fixed points are
 * unchanged.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cblas.h>

#include "steady_int.h"

#define IMP_W 64 /* cells solved together */

/* The plastic projections into each implicit population's dendrite learn
   together, so they must share the post factor (one observable, one a and
   b); the buffers of the step.  -1 with err set when they do not, or when
   no projection qualifies. */
int apical_sd_implicit_setup(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    int want = 0, any = 0;
    for (size_t i = 0; i < c->n_pops; i++) {
        if (sd_in_mode(&s->o, i) != APICAL_INTERNEURONS_IMPLICIT)
            continue;
        want = 1;
        sd_pop *q = &s->pops[i];
        const apical_pop *p = &c->pops[i];
        for (size_t k = 0; k < c->n_projs; k++) {
            const apical_proj *pj = &c->projs[k];
            const sd_proj *r = &s->projs[k];
            if (pj->dst != i || !r->plastic || apical_proj_role(c, pj) != APICAL_ROLE_DENDRITE)
                continue;
            if (q->imp_first == NONE) {
                q->imp_first = k;
                continue;
            }
            const apical_proj *f = &c->projs[q->imp_first];
            const sd_proj *rf = &s->projs[q->imp_first];
            if (pj->post_obs != f->post_obs || r->a != rf->a || r->b != rf->b) {
                snprintf(err, cap, "interneurons implicit: projections %s (defined at %s) and "
                         "%s (defined at %s) learn from different post factors; the implicit "
                         "step solves one for the whole dendrite of %s",
                         f->name, f->where, pj->name, pj->where, p->name);
                return -1;
            }
        }
        if (q->imp_first == NONE)
            continue;
        any = 1;
        size_t bn = s->B * p->n;
        const apical_cell_model *m = p->model;
        q->gain = malloc(bn * sizeof(double));
        q->yp = malloc((m->n_state * bn + 1) * sizeof(double));
        q->inp = malloc((m->n_ports * bn + 1) * sizeof(double));
        q->obsp = malloc((m->n_obs * bn + 1) * sizeof(double));
        if (!q->gain || !q->yp || !q->inp || !q->obsp)
            return apical_sd_oom(err, cap);
    }
    if (want && !any) {
        snprintf(err, cap, "interneurons implicit: no projection into an interneuron's "
                 "dendrite has a rule");
        return -1;
    }
    if (any && (!(s->imp_g = malloc(s->B * s->B * sizeof(double))) ||
                !(s->imp_m = malloc((s->B * (s->B + 1) + 1) * IMP_W * sizeof(double)))))
        return apical_sd_oom(err, cap);
    return 0;
}

/* D_j of every cell and pattern into the population's gain: the post
   factor at the dendritic input moved by +h and by -h, through the
   module's steady and observe functions. */
static int dendrite_gain(apical_steady *s, size_t i, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_pop *p = &c->pops[i];
    const apical_cell_model *m = p->model;
    sd_pop *q = &s->pops[i];
    const size_t bn = s->nb * p->n;
    const apical_proj *pf = &c->projs[q->imp_first];
    const sd_proj *rf = &s->projs[q->imp_first];
    const double h = 1e-5;
    const uint32_t lit = s->o.literal ? APICAL_STEADY_LITERAL : 0;
    apical_cell_ctx x = { sizeof x, bn, p->p, q->yp, q->inp, NULL, 0 };
    for (int side = 0; side < 2; side++) {
        memcpy(q->inp, q->in, m->n_ports * bn * sizeof(double));
        double *v = q->inp + pf->dst_port * bn;
        for (size_t j = 0; j < bn; j++)
            v[j] += side ? -h : h;
        int rc = m->steady(&x, lit, q->yp);
        if (rc == APICAL_OK)
            rc = m->observe(&x, APICAL_OBS_STATE, q->obsp);
        if (rc == APICAL_OK)
            rc = m->observe(&x, APICAL_OBS_PORTS, q->obsp);
        if (rc != APICAL_OK) {
            snprintf(err, cap, "population %s (%s): its steady or observe function failed "
                     "(status %d) in the implicit step", p->name, m->name, rc);
            return -1;
        }
        const double *post = q->obsp + pf->post_obs * bn;
        for (size_t j = 0; j < bn; j++)
            q->gain[j] = side ? fmax(0.0, -rf->a * (q->gain[j] - post[j]) / (2 * h)) : post[j];
    }
    return 0;
}

/* G = sum_p f_p r_p r_p^T (nb x nb) over the plastic projections into
   population i's dendrite, into s->imp_g. */
static void rates_gram(apical_steady *s, size_t i)
{
    apical_circuit *c = s->c;
    const size_t nb = s->nb, first = s->pops[i].imp_first;
    const apical_proj *pf = &c->projs[first];
    double *g = s->imp_g;
    memset(g, 0, nb * nb * sizeof(double));
    for (size_t k = first; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        const sd_proj *r = &s->projs[k];
        if (pj->dst != i || !r->plastic || pj->dst_port != pf->dst_port)
            continue;
        size_t ns = c->pops[pj->src].n;
        double f = r->eta * (r->no_decay ? 1.0 : s->rate_scale) / (double)nb;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nb, (int)ns, f,
                    sd_src_row(s, pj), (int)ns, sd_src_row(s, pj), (int)ns, 1.0, g, (int)nb);
        s->flop += 2.0 * (double)(nb * nb * ns);
    }
}

/* Cells [j0, j0+nc) of population i, nc <= IMP_W, are solved together:
   their systems [I + D_j G | e_j] lie in s->imp_m with the cell innermost,
   row r, column k at A_(r, k) (w = nb + 1 columns).  Each cell's arithmetic
   is the same, in the same order, as one cell at a time. */
#define A_(r, k) (a + ((r) * w + (k)) * IMP_W)

static void fill_systems(apical_steady *s, size_t i, size_t j0, size_t nc)
{
    const sd_pop *q = &s->pops[i];
    const size_t n = s->c->pops[i].n, nb = s->nb, w = nb + 1;
    const double *g = s->imp_g, *e = s->projs[q->imp_first].e;
    double *a = s->imp_m;
    for (size_t b = 0; b < nb; b++) {
        const double *d = q->gain + b * n + j0;
        for (size_t b2 = 0; b2 < nb; b2++) {
            double *ab = A_(b, b2);
            const double gb = g[b * nb + b2];
            for (size_t t = 0; t < nc; t++)
                ab[t] = (b == b2) + d[t] * gb;
        }
        memcpy(A_(b, nb), e + b * n + j0, nc * sizeof(double));
    }
}

/* Gaussian elimination with partial pivoting to upper triangular form. */
static int eliminate(apical_steady *s, size_t i, size_t nc, char *err, size_t cap)
{
    const size_t nb = s->nb, w = nb + 1;
    double *a = s->imp_m, *l = a + nb * w * IMP_W;
    for (size_t col = 0; col < nb; col++) {
        for (size_t t = 0; t < nc; t++) {
            size_t piv = col;
            for (size_t r = col + 1; r < nb; r++)
                if (fabs(A_(r, col)[t]) > fabs(A_(piv, col)[t]))
                    piv = r;
            if (!(fabs(A_(piv, col)[t]) > 1e-300)) {
                snprintf(err, cap, "population %s: the implicit step's system is singular "
                         "(a negative learning rate?)", s->c->pops[i].name);
                return -1;
            }
            if (piv != col)
                for (size_t k = col; k < w; k++) {
                    double tmp = A_(col, k)[t];
                    A_(col, k)[t] = A_(piv, k)[t];
                    A_(piv, k)[t] = tmp;
                }
        }
        for (size_t r = col + 1; r < nb; r++) {
            const double *pc = A_(col, col), *rc = A_(r, col);
            for (size_t t = 0; t < nc; t++)
                l[t] = rc[t] / pc[t];
            for (size_t k = col; k < w; k++) {
                double *rk = A_(r, k);
                const double *ck = A_(col, k);
#pragma omp simd
                for (size_t t = 0; t < nc; t++)
                    rk[t] -= l[t] * ck[t];
            }
        }
    }
    return 0;
}

/* Back substitution; the solutions e'_j into the first projection's post
   factors. */
static void substitute(apical_steady *s, size_t i, size_t j0, size_t nc)
{
    const size_t n = s->c->pops[i].n, nb = s->nb, w = nb + 1;
    double *a = s->imp_m, *e = s->projs[s->pops[i].imp_first].e;
    for (size_t b = nb; b-- > 0;) {
        double *v = A_(b, nb);
        for (size_t k = b + 1; k < nb; k++) {
            const double *bk = A_(b, k), *xk = A_(k, nb);
#pragma omp simd
            for (size_t t = 0; t < nc; t++)
                v[t] -= bk[t] * xk[t];
        }
        const double *bb = A_(b, b);
        double *eb = e + b * n + j0;
        for (size_t t = 0; t < nc; t++)
            eb[t] = v[t] = v[t] / bb[t];
    }
}

#undef A_

int apical_sd_implicit_step(apical_steady *s, size_t i, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const size_t n = c->pops[i].n, bn = s->nb * n, first = s->pops[i].imp_first;
    const apical_proj *pf = &c->projs[first];
    const sd_proj *rf = &s->projs[first];
    if (dendrite_gain(s, i, err, cap))
        return -1;
    rates_gram(s, i);
    for (size_t j0 = 0; j0 < n; j0 += IMP_W) {
        const size_t nc = n - j0 < IMP_W ? n - j0 : IMP_W;
        fill_systems(s, i, j0, nc);
        if (eliminate(s, i, nc, err, cap))
            return -1;
        substitute(s, i, j0, nc);
    }
    for (size_t k = first + 1; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        if (pj->dst == i && s->projs[k].plastic && pj->dst_port == pf->dst_port)
            memcpy(s->projs[k].e, rf->e, bn * sizeof(double));
    }
    return 0;
}
