/*
 * integrate.c -- integrators by name: forward Euler (the published scheme),
 * exponential Euler, and the eleven steppers of GSL's odeiv2.
 *
 * Implicit GSL steppers need the Jacobian.  The circuit's is assembled from
 * each cell's local blocks (d f/d y, d f/d port, d obs/d y) chained through
 * the projections' weights, and for projections that carry port-stage
 * observables (feedthrough) the blocks of jacobian_obs chained in the
 * circuit's order; a module without a Jacobian (or a feedthrough source
 * without jacobian_obs) makes the whole matrix come from finite differences
 * instead.  Never a crash.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>

#include "circuit_int.h"

typedef struct gsl_method {
    const char *name;
    const gsl_odeiv2_step_type *const *type;
    int multistep;
} gsl_method;

static const gsl_method gsl_methods[] = {
    { "rk2", &gsl_odeiv2_step_rk2, 0 },       { "rk4", &gsl_odeiv2_step_rk4, 0 },
    { "rkf45", &gsl_odeiv2_step_rkf45, 0 },   { "rkck", &gsl_odeiv2_step_rkck, 0 },
    { "rk8pd", &gsl_odeiv2_step_rk8pd, 0 },   { "rk1imp", &gsl_odeiv2_step_rk1imp, 0 },
    { "rk2imp", &gsl_odeiv2_step_rk2imp, 0 }, { "rk4imp", &gsl_odeiv2_step_rk4imp, 0 },
    { "bsimp", &gsl_odeiv2_step_bsimp, 0 },   { "msadams", &gsl_odeiv2_step_msadams, 1 },
    { "msbdf", &gsl_odeiv2_step_msbdf, 1 },
};
#define N_GSL (sizeof gsl_methods / sizeof *gsl_methods)

const char *const apical_integ_methods[] = { "euler", "expeuler", "rk2", "rk4", "rkf45",
                                             "rkck", "rk8pd", "rk1imp", "rk2imp", "rk4imp",
                                             "bsimp", "msadams", "msbdf", NULL };

enum { M_EULER, M_EXPEULER, M_GSL };

typedef struct local_jac {
    double *dfdy, *dfdin, *dody;
    double *ody, *odin;     /* jacobian_obs: the port-stage observables' blocks (sources
                               of feedthrough projections) */
    double *gin;            /* d port / d y: n_ports x n rows of n_y (the same) */
} local_jac;

struct apical_integrator {
    apical_circuit *c;
    int kind;
    const gsl_method *gm;
    gsl_odeiv2_system sys;
    gsl_odeiv2_driver *drv;
    local_jac *lj;          /* per population */
    local_jac *lj_thr;      /* expeuler with copies: threads 1 .. n_thr - 1's own (dfdy,
                               dfdin, dody), n_pops each */
    int n_thr;
    int analytic;           /* every module has a Jacobian */
    double *f0, *f1, *yh;   /* finite differences */
    double *feed_d, *feed_p; /* feedthrough: d obs/d y of a source, its product (n x n_y) */
    int any_rule;
    double t;               /* GSL: running time, so multistep history stays valid */
    int in_state;           /* weights in the ODE state */
    int plastic;            /* this step advances them */
    size_t n_total;         /* state + weights + rule memory */
    double *Y;              /* packed system state */
    double **w_own, **aux_own; /* the circuit's own weight buffers, per projection */
    char err[512];          /* a failure inside a GSL callback */
};

/* With feedthrough projections and every block at hand: the sources'
   port-stage blocks, d port / d y of each source and two n x n_y scratch
   matrices.  A source without jacobian_obs makes the Jacobian come from
   finite differences. */
static int alloc_feed(apical_integrator *it, size_t ny)
{
    apical_circuit *c = it->c;
    size_t nmax = 1;
    for (size_t k = 0; k < c->n_projs; k++)
        if (c->projs[k].feedthrough && !APICAL_CELL_JACOBIAN_OBS(c->pops[c->projs[k].src].model))
            it->analytic = 0;
    if (!it->analytic)
        return 0;
    for (size_t k = 0; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        const apical_pop *p = &c->pops[pj->src];
        local_jac *l = &it->lj[pj->src];
        size_t n = p->n, ns = p->model->n_state, np = p->model->n_ports, no = p->model->n_obs;
        if (!pj->feedthrough || l->gin)
            continue;
        l->ody = calloc(no * ns * n + 1, sizeof(double));
        l->odin = calloc(no * np * n + 1, sizeof(double));
        l->gin = calloc(np * n * ny + 1, sizeof(double));
        if (!l->ody || !l->odin || !l->gin)
            return -1;
    }
    for (size_t i = 0; i < c->n_pops; i++)
        if (c->pops[i].n > nmax)
            nmax = c->pops[i].n;
    it->feed_d = malloc(nmax * ny * sizeof(double));
    it->feed_p = malloc(nmax * ny * sizeof(double));
    return it->feed_d && it->feed_p ? 0 : -1;
}

static int alloc_local(apical_integrator *it)
{
    apical_circuit *c = it->c;
    it->lj = calloc(c->n_pops, sizeof *it->lj);
    if (!it->lj)
        return -1;
    it->analytic = 1;
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_cell_model *m = c->pops[i].model;
        size_t n = c->pops[i].n, ns = m->n_state;
        if (!m->jacobian)
            it->analytic = 0;
        it->lj[i].dfdy = calloc(ns * ns * n + 1, sizeof(double));
        it->lj[i].dfdin = calloc(ns * m->n_ports * n + 1, sizeof(double));
        it->lj[i].dody = calloc(m->n_obs * ns * n + 1, sizeof(double));
        if (!it->lj[i].dfdy || !it->lj[i].dfdin || !it->lj[i].dody)
            return -1;
    }
    size_t ny = c->n_y ? c->n_y : 1;
    if (c->n_feed && alloc_feed(it, ny) != 0)
        return -1;
    it->f0 = malloc(ny * sizeof(double));
    it->f1 = malloc(ny * sizeof(double));
    it->yh = malloc(ny * sizeof(double));
    return it->f0 && it->f1 && it->yh ? 0 : -1;
}

/* Cells' local Jacobians at the ports of the last evaluation at y, for
   copy b of the state (simulation.batch; 0 without copies). */
static int local_jacobians_into(apical_integrator *it, const double *y, size_t b,
                                local_jac *lj)
{
    apical_circuit *c = it->c;
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        if (!p->model->jacobian)
            continue;
        apical_cell_ctx x = { sizeof x, p->n, p->p, y + b * c->n_y1 + p->y_off,
                              p->in + b * p->in_blk, p->need, 0 };
        if (p->model->jacobian(&x, lj[i].dfdy, lj[i].dfdin, lj[i].dody) != APICAL_OK)
            return -1;
        if (lj[i].gin && p->model->jacobian_obs(&x, lj[i].ody, lj[i].odin) != APICAL_OK)
            return -1;
    }
    return 0;
}

static int local_jacobians_copy(apical_integrator *it, const double *y, size_t b)
{
    return local_jacobians_into(it, y, b, it->lj);
}

/* Expeuler with copies on the circuit's team: a Jacobian buffer set for
   each thread past the first. */
static int alloc_thread_local(apical_integrator *it)
{
    apical_circuit *c = it->c;
    if (c->copies < 2 || c->team.most < 2)
        return 0;
    size_t n = (size_t)(c->team.most - 1) * c->n_pops;
    if (!(it->lj_thr = calloc(n, sizeof *it->lj_thr)))
        return -1;
    it->n_thr = c->team.most;
    for (size_t k = 0; k < n; k++) {
        const apical_pop *p = &c->pops[k % c->n_pops];
        size_t ns = p->model->n_state;
        it->lj_thr[k].dfdy = calloc(ns * ns * p->n + 1, sizeof(double));
        it->lj_thr[k].dfdin = calloc(ns * p->model->n_ports * p->n + 1, sizeof(double));
        it->lj_thr[k].dody = calloc(p->model->n_obs * ns * p->n + 1, sizeof(double));
        if (!it->lj_thr[k].dfdy || !it->lj_thr[k].dfdin || !it->lj_thr[k].dody)
            return -1;
    }
    return 0;
}

static int local_jacobians(apical_integrator *it, const double *y)
{
    return local_jacobians_copy(it, y, 0);
}

/* rows (n of them, N long) += g (one_to_one) or W g: the product of
   projection pj with a block g of n_src rows. */
static void proj_times(const apical_circuit *c, const apical_proj *pj, const double *g,
                       size_t N, double *out)
{
    const size_t ns = c->pops[pj->src].n, nd = c->pops[pj->dst].n;
    if (pj->one_to_one) {
        for (size_t k = 0; k < nd * N; k++)
            out[k] += g[k];
        return;
    }
    for (size_t i = 0; i < nd; i++)
        for (size_t j = 0; j < ns; j++) {
            const double w = pj->w[i * ns + j];
            if (w == 0)
                continue;
            const double *gj = g + j * N;
            double *oi = out + i * N;
            for (size_t k = 0; k < N; k++)
                oi[k] += w * gj[k];
        }
}

/* The feedthrough projections' part of J (N = n_y): the port-stage
   observable o a projection carries depends on its source's state directly
   (jacobian_obs' dody) and through the source's ports (dodin times
   d port / d y, gin), which are the state-stage projections' products and
   the feedthrough products into the source, computed before it in the
   circuit's order.  J rows of the destination get d f / d port times the
   product, and a destination that is itself a source its gin. */
static void feed_jacobian(apical_integrator *it, double *J, size_t N)
{
    apical_circuit *c = it->c;
    for (size_t i = 0; i < c->n_pops; i++)
        if (it->lj[i].gin)
            memset(it->lj[i].gin, 0, c->pops[i].model->n_ports * c->pops[i].n * N *
                   sizeof(double));
    for (size_t q = 0; q < c->n_projs; q++) { /* state-stage products into sources */
        const apical_proj *pj = &c->projs[q];
        const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
        double *gin = it->lj[pj->dst].gin;
        if (pj->feedthrough || !gin)
            continue;
        const size_t nss = s->model->n_state;
        const double *dody = it->lj[pj->src].dody;
        for (size_t i = 0; i < d->n; i++) {
            double *row = gin + (pj->dst_port * d->n + i) * N;
            for (size_t b = 0; b < nss; b++) {
                const double *ob = dody + (pj->src_obs * nss + b) * s->n;
                double *col = row + s->y_off + b * s->n;
                if (pj->one_to_one)
                    col[i] += ob[i];
                else
                    for (size_t j = 0; j < s->n; j++)
                        col[j] += pj->w[i * s->n + j] * ob[j];
            }
        }
    }
    for (size_t k = 0; k < c->n_pops; k++) {
        const size_t si = c->order[k];
        const apical_pop *s = &c->pops[si];
        const local_jac *ls = &it->lj[si];
        const size_t nss = s->model->n_state, nps = s->model->n_ports;
        for (size_t q = 0; q < c->n_projs; q++) {
            const apical_proj *pj = &c->projs[q];
            if (!pj->feedthrough || pj->src != si)
                continue;
            const apical_pop *d = &c->pops[pj->dst];
            const size_t o = pj->src_obs, nsd = d->model->n_state, npd = d->model->n_ports;
            double *D = it->feed_d, *P = it->feed_p;
            memset(D, 0, s->n * N * sizeof(double));
            for (size_t j = 0; j < s->n; j++) {
                double *row = D + j * N;
                for (size_t b = 0; b < nss; b++)
                    row[s->y_off + b * s->n + j] += ls->ody[(o * nss + b) * s->n + j];
                for (size_t r = 0; r < nps; r++) {
                    const double a = ls->odin[(o * nps + r) * s->n + j];
                    const double *g = ls->gin + (r * s->n + j) * N;
                    for (size_t m = 0; a != 0 && m < N; m++)
                        row[m] += a * g[m];
                }
            }
            memset(P, 0, d->n * N * sizeof(double));
            proj_times(c, pj, D, N, P);
            const double *dfdin = it->lj[pj->dst].dfdin;
            double *gd = it->lj[pj->dst].gin;
            for (size_t i = 0; i < d->n; i++) {
                const double *pi = P + i * N;
                for (size_t a = 0; a < nsd; a++) {
                    const double g = dfdin[(a * npd + pj->dst_port) * d->n + i];
                    double *row = J + (d->y_off + a * d->n + i) * N;
                    for (size_t m = 0; g != 0 && m < N; m++)
                        row[m] += g * pi[m];
                }
                if (gd) {
                    double *row = gd + (pj->dst_port * d->n + i) * N;
                    for (size_t m = 0; m < N; m++)
                        row[m] += pi[m];
                }
            }
        }
    }
}

int apical_circuit_jacobian(apical_integrator *it, const double *y, double *J, char *err,
                            size_t cap)
{
    apical_circuit *c = it->c;
    const size_t N = c->n_y;
    if (apical_circuit_eval_at(c, y, it->f0, err, cap) != 0)
        return -1;
    if (!it->analytic) { /* forward differences, one column per state */
        memcpy(it->yh, y, N * sizeof(double));
        for (size_t k = 0; k < N; k++) {
            double h = 1e-7 * fmax(1.0, fabs(y[k]));
            it->yh[k] = y[k] + h;
            if (apical_circuit_eval_at(c, it->yh, it->f1, err, cap) != 0)
                return -1;
            for (size_t r = 0; r < N; r++)
                J[r * N + k] = (it->f1[r] - it->f0[r]) / h;
            it->yh[k] = y[k];
        }
        return apical_circuit_eval_at(c, y, it->f0, err, cap); /* leave ports at y */
    }
    if (local_jacobians(it, y) != 0) {
        snprintf(err, cap, "a module's Jacobian failed");
        return -1;
    }
    memset(J, 0, N * N * sizeof(double));
    for (size_t i = 0; i < c->n_pops; i++) { /* block diagonal: within each cell */
        const apical_pop *p = &c->pops[i];
        size_t n = p->n, ns = p->model->n_state;
        for (size_t a = 0; a < ns; a++)
            for (size_t b = 0; b < ns; b++)
                for (size_t k = 0; k < n; k++)
                    J[(p->y_off + a * n + k) * N + p->y_off + b * n + k] =
                        it->lj[i].dfdy[(a * ns + b) * n + k];
    }
    for (size_t q = 0; q < c->n_projs; q++) { /* d f_dst/d port . W . d obs_src/d y_src */
        const apical_proj *pj = &c->projs[q];
        if (pj->feedthrough)
            continue;
        const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
        size_t nsd = d->model->n_state, nss = s->model->n_state, np = d->model->n_ports;
        const double *dfdin = it->lj[pj->dst].dfdin, *dody = it->lj[pj->src].dody;
        for (size_t a = 0; a < nsd; a++)
            for (size_t i = 0; i < d->n; i++) {
                double g = dfdin[(a * np + pj->dst_port) * d->n + i];
                if (g == 0)
                    continue;
                double *row = J + (d->y_off + a * d->n + i) * N;
                for (size_t b = 0; b < nss; b++) {
                    const double *ob = dody + (pj->src_obs * nss + b) * s->n;
                    double *col = row + s->y_off + b * s->n;
                    if (pj->one_to_one)
                        col[i] += g * ob[i];
                    else
                        for (size_t j = 0; j < s->n; j++)
                            col[j] += g * pj->w[i * s->n + j] * ob[j];
                }
            }
    }
    if (c->n_feed)
        feed_jacobian(it, J, N);
    return 0;
}

static int gsl_func(double t, const double y[], double dydt[], void *params)
{
    (void)t;
    apical_integrator *it = params;
    return apical_circuit_eval_at(it->c, y, dydt, it->err, sizeof it->err) == 0 ? GSL_SUCCESS
                                                                                : GSL_EBADFUNC;
}

/* Point plastic projections at their slices of the packed state y. */
static void borrow_weights(apical_integrator *it, const double *y)
{
    apical_circuit *c = it->c;
    size_t off = c->n_y;
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (!pj->rule)
            continue;
        size_t nw = apical_proj_n_weights(c, pj);
        pj->w = (double *)(y + off);
        pj->aux = (double *)(y + off + nw);
        off += nw * (1 + pj->rule->n_aux);
    }
}

static void return_weights(apical_integrator *it)
{
    apical_circuit *c = it->c;
    for (size_t i = 0; i < c->n_projs; i++)
        if (c->projs[i].rule) {
            c->projs[i].w = it->w_own[i];
            c->projs[i].aux = it->aux_own[i];
        }
}

/* States, weights and rule memory as one system. */
static int gsl_func_w(double t, const double y[], double dydt[], void *params)
{
    (void)t;
    apical_integrator *it = params;
    apical_circuit *c = it->c;
    borrow_weights(it, y);
    int rc = apical_circuit_eval_at(c, y, dydt, it->err, sizeof it->err);
    size_t off = c->n_y;
    for (size_t i = 0; i < c->n_projs && rc == 0; i++) {
        apical_proj *pj = &c->projs[i];
        if (!pj->rule)
            continue;
        const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
        size_t nw = s->n * d->n, na = nw * pj->rule->n_aux;
        apical_rule_ctx x = { sizeof x, d->n, s->n, pj->rp_run, d->obs + pj->post_obs * d->n,
                              s->obs + pj->src_obs * s->n };
        if (it->plastic) {
            if (pj->rule->dwdt(&x, pj->w, pj->aux, dydt + off, dydt + off + nw) != APICAL_OK) {
                snprintf(it->err, sizeof it->err, "rule %s failed", pj->rule->name);
                rc = -1;
            }
        } else {
            memset(dydt + off, 0, (nw + na) * sizeof(double));
        }
        off += nw + na;
    }
    return_weights(it);
    return rc == 0 ? GSL_SUCCESS : GSL_EBADFUNC;
}

/* Forward differences of the packed system (weights in the state). */
static int gsl_jac_w(double t, const double y[], double *dfdy, double dfdt[], void *params)
{
    apical_integrator *it = params;
    const size_t N = it->n_total;
    memset(dfdt, 0, N * sizeof(double));
    if (gsl_func_w(t, y, it->f0, it) != GSL_SUCCESS)
        return GSL_EBADFUNC;
    memcpy(it->yh, y, N * sizeof(double));
    for (size_t k = 0; k < N; k++) {
        double h = 1e-7 * fmax(1.0, fabs(y[k]));
        it->yh[k] = y[k] + h;
        if (gsl_func_w(t, it->yh, it->f1, it) != GSL_SUCCESS)
            return GSL_EBADFUNC;
        for (size_t r = 0; r < N; r++)
            dfdy[r * N + k] = (it->f1[r] - it->f0[r]) / h;
        it->yh[k] = y[k];
    }
    return GSL_SUCCESS;
}

static int gsl_jac(double t, const double y[], double *dfdy, double dfdt[], void *params)
{
    (void)t;
    apical_integrator *it = params;
    memset(dfdt, 0, it->c->n_y * sizeof(double)); /* autonomous within a step */
    return apical_circuit_jacobian(it, y, dfdy, it->err, sizeof it->err) == 0 ? GSL_SUCCESS
                                                                               : GSL_EBADFUNC;
}

apical_integrator *apical_integrator_new(apical_circuit *c, const apical_integ_opts *o, char *err,
                                         size_t cap)
{
    apical_integrator *it = calloc(1, sizeof *it);
    if (it)
        it->c = c;
    if (!it || alloc_local(it) != 0) {
        snprintf(err, cap, "out of memory for the integrator");
        apical_integrator_free(it);
        return NULL;
    }
    for (size_t i = 0; i < c->n_projs; i++)
        if (c->projs[i].rule)
            it->any_rule = 1;
    const char *m = o->method[0] ? o->method : "euler";
    if (strcmp(m, "euler") == 0) {
        it->kind = M_EULER;
        return it;
    }
    if (strcmp(m, "expeuler") == 0) {
        it->kind = M_EXPEULER;
        if (alloc_thread_local(it) != 0) {
            snprintf(err, cap, "out of memory for the integrator");
            apical_integrator_free(it);
            return NULL;
        }
        return it;
    }
    for (size_t k = 0; k < N_GSL; k++)
        if (strcmp(gsl_methods[k].name, m) == 0)
            it->gm = &gsl_methods[k];
    if (!it->gm) {
        char list[256];
        size_t used = 0;
        for (size_t k = 0; apical_integ_methods[k]; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "",
                                     apical_integ_methods[k]);
        snprintf(err, cap, "unknown integrator '%s' (one of: %s)", m, list);
        apical_integrator_free(it);
        return NULL;
    }
    if (c->copies > 1 && (o->weights_in_state || strstr(m, "imp") || !strcmp(m, "msbdf"))) {
        snprintf(err, cap, "integrator %s%s is not supported with copies (simulation.batch > "
                 "1): the circuit's Jacobian is assembled for one copy", m,
                 o->weights_in_state ? " with weights: state" : "");
        apical_integrator_free(it);
        return NULL;
    }
    gsl_set_error_handler_off();
    it->kind = M_GSL;
    it->sys = (gsl_odeiv2_system){ gsl_func, gsl_jac, c->n_y, it };
    if (o->weights_in_state && it->any_rule) {
        it->in_state = 1;
        it->n_total = c->n_y;
        it->w_own = calloc(c->n_projs, sizeof *it->w_own);
        it->aux_own = calloc(c->n_projs, sizeof *it->aux_own);
        for (size_t i = 0; it->w_own && it->aux_own && i < c->n_projs; i++) {
            const apical_proj *pj = &c->projs[i];
            it->w_own[i] = pj->w;
            it->aux_own[i] = pj->aux;
            if (pj->rule)
                it->n_total += apical_proj_n_weights(c, pj) * (1 + pj->rule->n_aux);
        }
        free(it->f0);
        free(it->f1);
        free(it->yh);
        it->Y = malloc(it->n_total * sizeof(double));
        it->f0 = malloc(it->n_total * sizeof(double));
        it->f1 = malloc(it->n_total * sizeof(double));
        it->yh = malloc(it->n_total * sizeof(double));
        if (!it->w_own || !it->aux_own || !it->Y || !it->f0 || !it->f1 || !it->yh) {
            snprintf(err, cap, "out of memory for the integrator");
            apical_integrator_free(it);
            return NULL;
        }
        it->sys = (gsl_odeiv2_system){ gsl_func_w, gsl_jac_w, it->n_total, it };
    }
    double h0 = o->h0 > 0 ? o->h0 : 0.01;
    it->drv = gsl_odeiv2_driver_alloc_y_new(&it->sys, *it->gm->type, h0,
                                            o->atol > 0 ? o->atol : 1e-8,
                                            o->rtol > 0 ? o->rtol : 1e-6);
    if (!it->drv) {
        snprintf(err, cap, "cannot set up GSL stepper %s", m);
        apical_integrator_free(it);
        return NULL;
    }
    if (o->hmax > 0)
        gsl_odeiv2_driver_set_hmax(it->drv, o->hmax);
    return it;
}

void apical_integrator_free(apical_integrator *it)
{
    if (!it)
        return;
    if (it->drv)
        gsl_odeiv2_driver_free(it->drv);
    for (size_t i = 0; it->lj && i < it->c->n_pops; i++) {
        free(it->lj[i].dfdy);
        free(it->lj[i].dfdin);
        free(it->lj[i].dody);
        free(it->lj[i].ody);
        free(it->lj[i].odin);
        free(it->lj[i].gin);
    }
    free(it->feed_d);
    free(it->feed_p);
    free(it->lj);
    for (size_t k = 0; it->lj_thr && k < (size_t)(it->n_thr - 1) * it->c->n_pops; k++) {
        free(it->lj_thr[k].dfdy);
        free(it->lj_thr[k].dfdin);
        free(it->lj_thr[k].dody);
    }
    free(it->lj_thr);
    free(it->Y);
    free(it->w_own);
    free(it->aux_own);
    free(it->f0);
    free(it->f1);
    free(it->yh);
    free(it);
}

/* Exponential Euler: each state relaxes exactly towards its fixed point for
   the inputs held over the step, y += f (1 - exp(-a dt)) / a with the decay
   rate a = -df/dy of the cell itself (forward Euler where a = 0). */
/* One GSL driver step over dt.  GSL may report a failure through its error
   handler as well as its status, and the default handler aborts: it is off
   while the driver runs, then the host's own is back. */
static int driver_apply(apical_integrator *it, double dt, double *y)
{
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int rc = gsl_odeiv2_driver_apply(it->drv, &it->t, it->t + dt, y);
    gsl_set_error_handler(old);
    return rc;
}

static int expeuler_copy(apical_integrator *it, size_t b, double dt, local_jac *lj);

static int advance_expeuler(apical_integrator *it, double dt, char *err, size_t cap)
{
    apical_circuit *c = it->c;
    int bad = 0, nt = it->n_thr > 1 ? apical_team_size(&c->team) : 1;
    if (nt > 1) {
        /* the copies dealt round the team, each thread with its own
           Jacobian buffers: each copy's step is the same whichever thread
           takes it */
#pragma omp parallel num_threads(nt) reduction(| : bad)
        {
            int t = omp_get_thread_num(), n = omp_get_num_threads();
            local_jac *lj = t ? it->lj_thr + (size_t)(t - 1) * c->n_pops : it->lj;
            for (size_t b = (size_t)t; b < c->copies; b += (size_t)n)
                bad |= expeuler_copy(it, b, dt, lj) != 0;
        }
    } else {
        for (size_t b = 0; b < c->copies && !bad; b++)
            bad = expeuler_copy(it, b, dt, it->lj) != 0;
    }
    if (bad) {
        snprintf(err, cap, "a module's Jacobian failed");
        return -1;
    }
    return 0;
}

/* Copy b's exponential Euler step, with the Jacobian buffers lj. */
static int expeuler_copy(apical_integrator *it, size_t b, double dt, local_jac *lj)
{
    apical_circuit *c = it->c;
    if (local_jacobians_into(it, c->y, b, lj) != 0)
        return -1;
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        size_t n = p->n, ns = p->model->n_state;
        for (size_t a = 0; a < ns; a++) {
            /* the cells of a population mostly share their decay rate: the
               last rate's gain is kept (the same value for the same rate) */
            double last = NAN, gain = dt;
            for (size_t k = 0; k < n; k++) {
                size_t at = b * c->n_y1 + p->y_off + a * n + k;
                double rate = p->model->jacobian ? -lj[i].dfdy[(a * ns + a) * n + k] : 0;
                if (!(rate == last)) {
                    last = rate;
                    gain = fabs(rate * dt) > 1e-12 ? -expm1(-rate * dt) / rate : dt;
                }
                c->y[at] += gain * c->dydt[at];
            }
        }
    }
    return 0;
}

/* One block of the packed system vector: copy it in or out, move on. */
static void pack_block(double **y, double *own, size_t len, int into_packed)
{
    if (len == 0)
        return;
    if (into_packed)
        memcpy(*y, own, len * sizeof(double));
    else
        memcpy(own, *y, len * sizeof(double));
    *y += len;
}

/* Copy states, plastic weights and rule memory into the packed system
   vector (into_packed) or back, in the layout borrow_weights reads. */
static void pack(apical_integrator *it, int into_packed)
{
    apical_circuit *c = it->c;
    double *y = it->Y;
    pack_block(&y, c->y, c->n_y, into_packed);
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (!pj->rule)
            continue;
        size_t nw = apical_proj_n_weights(c, pj);
        pack_block(&y, pj->w, nw, into_packed);
        pack_block(&y, pj->aux, nw * pj->rule->n_aux, into_packed);
    }
}

/* Weights in the state: pack, integrate the whole system, unpack. */
static int advance_packed(apical_integrator *it, double dt, unsigned flags, char *err, size_t cap)
{
    apical_circuit *c = it->c;
    int plastic = (flags & APICAL_STEP_PLASTIC) != 0;
    if (plastic != it->plastic && it->gm->multistep)
        gsl_odeiv2_driver_reset(it->drv); /* the right-hand side changed */
    it->plastic = plastic;
    pack(it, 1);
    it->err[0] = 0;
    int rc = driver_apply(it, dt, it->Y);
    if (rc != GSL_SUCCESS) {
        snprintf(err, cap, "%s failed over a %g ms step: %s%s%s", it->gm->name, dt,
                 gsl_strerror(rc), it->err[0] ? ": " : "", it->err);
        return -1;
    }
    pack(it, 0);
    if (it->gm->multistep && (flags & APICAL_STEP_NOISE))
        gsl_odeiv2_driver_reset(it->drv);
    apical_circuit_noise(c, dt, flags);
    return 0;
}

int apical_integrator_advance(apical_integrator *it, double dt, unsigned flags, char *err,
                              size_t cap)
{
    apical_circuit *c = it->c;
    if (it->kind == M_EULER)
        return apical_circuit_advance_euler(c, dt, flags, err, cap);
    if (it->in_state)
        return advance_packed(it, dt, flags, err, cap);
    if ((flags & APICAL_STEP_PLASTIC) && apical_circuit_plasticity_euler(c, dt, err, cap) != 0)
        return -1;
    if (it->kind == M_EXPEULER) {
        if (advance_expeuler(it, dt, err, cap) != 0)
            return -1;
    } else {
        /* new weights change the right-hand side: restart the history of
           multistep methods (single-step methods keep their step size) */
        if (it->gm->multistep && it->any_rule && (flags & APICAL_STEP_PLASTIC))
            gsl_odeiv2_driver_reset(it->drv);
        it->err[0] = 0;
        int rc = driver_apply(it, dt, c->y);
        if (rc != GSL_SUCCESS) {
            snprintf(err, cap, "%s failed over a %g ms step: %s%s%s", it->gm->name, dt,
                     gsl_strerror(rc), it->err[0] ? ": " : "", it->err);
            return -1;
        }
    }
    if (it->kind == M_GSL && it->gm->multistep && (flags & APICAL_STEP_NOISE))
        gsl_odeiv2_driver_reset(it->drv); /* the kick breaks the history */
    apical_circuit_noise(c, dt, flags);
    return 0;
}

double apical_integrator_h(const apical_integrator *it)
{
    return it->drv ? it->drv->h : 0;
}

void apical_integrator_set_h(apical_integrator *it, double h)
{
    if (it->drv && h > 0)
        it->drv->h = h;
}

void apical_integrator_reset(apical_integrator *it)
{
    if (it->drv)
        gsl_odeiv2_driver_reset(it->drv);
}

int apical_integrator_steps(apical_integrator *it, apical_circuit *c, double dt, long steps,
                            unsigned flags, char *err, size_t cap)
{
    for (long t = 0; t < steps; t++)
        if (apical_circuit_eval(c, err, cap) != 0 ||
            apical_integrator_advance(it, dt, flags, err, cap) != 0)
            return -1;
    if (apical_circuit_flush_plasticity(c, err, cap) != 0)
        return -1;
    return apical_circuit_check_finite(c, err, cap) ? -1 : 0;
}
