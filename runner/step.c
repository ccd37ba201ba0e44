/*
 * step.c -- the circuit's vector field and one Euler step.
 *
 * The whole circuit is one ODE system.  Dendrites have no dynamics, so one
 * evaluation is: observe every population's state -> route observables
 * through projections into ports (one BLAS matrix-vector product each) ->
 * port-dependent observables -> cell derivatives; projections that carry
 * port-dependent observables (feedthrough) are routed population by
 * population in between, in the circuit's order.  Plasticity reads the same
 * time-t quantities (docs/model.md 1.9, synchronous update) and is applied here
 * too, step by step or in rank-k batches; so are the noise and the check
 * that every state and weight stays finite.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <omp.h>

#include <gsl/gsl_rng.h>

#include "circuit_int.h"
#include "matvec.h"

static apical_cell_ctx pop_ctx(const apical_pop *p, const double *y)
{
    apical_cell_ctx x = { sizeof x, p->n, p->p, y + p->y_off, p->in, p->need, 0 };
    return x;
}

/* Cells [lo, hi) of population p, rows p->n apart (ABI 1.3 slices). */
static apical_cell_ctx pop_slice_ctx(const apical_pop *p, const double *y, size_t lo, size_t hi)
{
    apical_cell_ctx x = { sizeof x, hi - lo, p->p, y + p->y_off + lo, p->in + lo, p->need, p->n };
    return x;
}

static int module_failed(const char *what, const apical_pop *p, int rc, char *err, size_t cap)
{
    snprintf(err, cap, "%s of population %s (%s) failed with status %d", what, p->name,
             p->model->name, rc);
    return -1;
}

/* A population's port stage: its port-stage observables into obs, then
   its derivatives into dydt; *what names the function that failed. */
static int port_stage(const apical_pop *p, const apical_cell_ctx *x, double *obs, double *dydt,
                      const char **what)
{
    *what = "observe";
    int rc = p->model->observe(x, APICAL_OBS_PORTS, obs);
    if (rc == APICAL_OK) {
        *what = "rhs";
        rc = p->model->rhs(x, dydt);
    }
    return rc;
}

/* How many threads route the ports: c->team (team.h) probes one against
   all as the steps go.  The rows are the same either way (each row of a
   product is one thread's dot product), so the results do not depend on
   the choice. */

/* Rows [lo, hi) of projection pj's product into its port (xf: a
   presynaptic vector's room in single precision). */
static inline void route_proj(apical_circuit *c, const apical_proj *pj, size_t lo, size_t hi,
                              float *xf)
{
    const apical_pop *s = &c->pops[pj->src];
    apical_pop *d = &c->pops[pj->dst];
    const double *x = pj->delayed ? pj->delayed : s->obs + pj->src_obs * s->n;
    double *port = d->in + pj->dst_port * d->n;
    if (pj->one_to_one) {
        for (size_t k = lo; k < hi; k++)
            port[k] += x[k];
    } else if (pj->wf) {
        for (size_t j = 0; j < s->n; j++)
            xf[j] = (float)x[j];
        if (pj->wh)
            apical_mv_f16(s->n, pj->wh, xf, lo, hi, port);
        else
            apical_mv_f32(s->n, pj->wf, xf, lo, hi, port);
    } else {
        apical_mv_f64(s->n, pj->w, x, lo, hi, port);
    }
}

/* Rows [m t / nt, m (t+1) / nt) of every port: the stimuli, then every
   projection in order.  Thread t of nt owns the same rows of a port in every
   projection into it, so the threads of one parallel region (one per step,
   not one per matrix: a region costs microseconds, and much more when the
   machine is oversubscribed) never write the same element. */
static void route_rows(apical_circuit *c, int t, int nt)
{
    for (size_t i = 0; i < c->n_stims; i++) {
        const apical_stim *s = &c->stims[i];
        if (!s->active)
            continue;
        apical_pop *d = &c->pops[s->dst];
        double *port = d->in + s->dst_port * d->n;
        for (size_t k = d->n * t / nt; k < d->n * (t + 1) / nt; k++)
            port[k] += s->x[k];
        if (s->has_target) {
            /* the target potential is always on its port (so it can be
               traced); the gate switches the teaching current */
            apical_pop *g = &c->pops[s->tgt];
            double *tp = g->in + s->tgt_port * g->n, *tg = g->in + s->tgt_gate * g->n;
            for (size_t k = g->n * t / nt; k < g->n * (t + 1) / nt; k++) {
                tp[k] += s->u_trgt[k];
                tg[k] += s->target_on ? 1.0 : 0.0;
            }
        }
    }
    float *xf = c->xf ? c->xf + (size_t)t * c->xf_stride : NULL;
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        if (pj->feedthrough) /* routed in order, by eval_feed */
            continue;
        const apical_pop *d = &c->pops[pj->dst];
        route_proj(c, pj, d->n * t / nt, d->n * (t + 1) / nt, xf);
    }
}

int apical_circuit_eval(apical_circuit *c, char *err, size_t cap)
{
    return apical_circuit_eval_at(c, c->y, c->dydt, err, cap);
}

/* Can every population's cell functions run on slices (ABI 1.3)? */
static int all_sliceable(const apical_circuit *c)
{
    for (size_t i = 0; i < c->n_pops; i++)
        if (!(APICAL_CELL_FLAGS(c->pops[i].model) & APICAL_CELL_LD))
            return 0;
    return 1;
}

/* One evaluation in one parallel region: thread t observes its slice of
   every population, routes its rows of every port (route_rows), then
   takes its slice's port observables and derivatives; the slices are the
   rows route_rows gives it, so only the observe -> route step needs a
   barrier. */
static int eval_team(apical_circuit *c, const double *y, double *dydt, int nt, char *err,
                     size_t cap)
{
    int failed = -1, frc = APICAL_OK;
    const char *fwhat = "observe";
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        for (size_t i = 0; i < c->n_pops; i++) {
            apical_pop *p = &c->pops[i];
            size_t lo = p->n * (size_t)t / (size_t)n, hi = p->n * (size_t)(t + 1) / (size_t)n;
            for (size_t k = 0; k < p->model->n_ports; k++)
                memset(p->in + k * p->n + lo, 0, (hi - lo) * sizeof(double));
            if (hi == lo)
                continue;
            apical_cell_ctx x = pop_slice_ctx(p, y, lo, hi);
            int rc = p->model->observe(&x, APICAL_OBS_STATE, p->obs + lo);
            if (rc != APICAL_OK) {
#pragma omp critical(apical_eval_fail)
                failed = (int)i, frc = rc, fwhat = "observe";
            }
        }
#pragma omp barrier
        route_rows(c, t, n);
        for (size_t i = 0; i < c->n_pops; i++) {
            apical_pop *p = &c->pops[i];
            size_t lo = p->n * (size_t)t / (size_t)n, hi = p->n * (size_t)(t + 1) / (size_t)n;
            if (hi == lo)
                continue;
            apical_cell_ctx x = pop_slice_ctx(p, y, lo, hi);
            const char *what;
            int rc = port_stage(p, &x, p->obs + lo, dydt + p->y_off + lo, &what);
            if (rc != APICAL_OK) {
#pragma omp critical(apical_eval_fail)
                failed = (int)i, frc = rc, fwhat = what;
            }
        }
    }
    return failed >= 0 ? module_failed(fwhat, &c->pops[failed], frc, err, cap) : 0;
}

/* An evaluation with feedthrough projections (docs/modules.md): every
   population's state-stage observables, the stimuli and the other
   projections' products; then, population after population in c->order,
   the products of the feedthrough projections into it (their sources come
   earlier, so their port-stage observables are computed), its own
   port-stage observables and its derivatives.  On one thread. */
static int eval_feed(apical_circuit *c, const double *y, double *dydt, char *err, size_t cap)
{
    int rc;
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        apical_cell_ctx x = pop_ctx(p, y);
        memset(p->in, 0, p->model->n_ports * p->n * sizeof(double));
        if ((rc = p->model->observe(&x, APICAL_OBS_STATE, p->obs)) != APICAL_OK)
            return module_failed("observe", p, rc, err, cap);
    }
    route_rows(c, 0, 1);
    for (size_t k = 0; k < c->n_pops; k++) {
        const size_t i = c->order[k];
        apical_pop *p = &c->pops[i];
        for (size_t q = 0; q < c->n_projs; q++)
            if (c->projs[q].feedthrough && c->projs[q].dst == i)
                route_proj(c, &c->projs[q], 0, p->n, c->xf);
        apical_cell_ctx x = pop_ctx(p, y);
        const char *what;
        if ((rc = port_stage(p, &x, p->obs, dydt + p->y_off, &what)) != APICAL_OK)
            return module_failed(what, p, rc, err, cap);
    }
    return 0;
}

/* ---- copies (simulation.batch B > 1) ----
   Copy b's state is y + b n_y1, its ports and observables each
   population's in + b in_blk and obs + b obs_blk, its pattern the
   stimulus' x + b size: the cell functions see one copy's n cells at a
   time (their contract unchanged), and every projection is one product
   of its weights with the B copies' presynaptic vectors (apical_mm_*). */

static apical_cell_ctx copy_ctx(const apical_circuit *c, const apical_pop *p, const double *y,
                                size_t b)
{
    apical_cell_ctx x = { sizeof x, p->n, p->p, y + b * c->n_y1 + p->y_off, p->in + b * p->in_blk,
                          p->need, 0 };
    return x;
}

/* Rows [lo, hi) of projection pj's product into its port, for every copy. */
static void route_proj_copies(apical_circuit *c, const apical_proj *pj, size_t lo, size_t hi,
                              float *xf)
{
    const apical_pop *s = &c->pops[pj->src];
    apical_pop *d = &c->pops[pj->dst];
    const size_t B = c->copies;
    const double *x = s->obs + pj->src_obs * s->n;
    double *port = d->in + pj->dst_port * d->n;
    if (pj->one_to_one) {
        for (size_t b = 0; b < B; b++)
            for (size_t k = lo; k < hi; k++)
                port[b * d->in_blk + k] += x[b * s->obs_blk + k];
    } else if (pj->wf) {
        for (size_t b = 0; b < B; b++)
            for (size_t j = 0; j < s->n; j++)
                xf[b * s->n + j] = (float)x[b * s->obs_blk + j];
        if (pj->wh)
            apical_mm_f16(s->n, pj->wh, xf, s->n, B, lo, hi, port, d->in_blk);
        else
            apical_mm_f32(s->n, pj->wf, xf, s->n, B, lo, hi, port, d->in_blk);
    } else {
        apical_mm_f64(s->n, pj->w, x, s->obs_blk, B, lo, hi, port, d->in_blk);
    }
}

/* route_rows for every copy: thread t of nt owns the same rows of every
   copy's ports. */
static void route_rows_copies(apical_circuit *c, int t, int nt)
{
    const size_t B = c->copies;
    for (size_t i = 0; i < c->n_stims; i++) {
        const apical_stim *s = &c->stims[i];
        if (!s->active)
            continue;
        apical_pop *d = &c->pops[s->dst];
        for (size_t b = 0; b < B; b++) {
            double *port = d->in + b * d->in_blk + s->dst_port * d->n;
            const double *x = s->x + b * d->n;
            for (size_t k = d->n * t / nt; k < d->n * (t + 1) / nt; k++)
                port[k] += x[k];
        }
        if (s->has_target) {
            apical_pop *g = &c->pops[s->tgt];
            for (size_t b = 0; b < B; b++) {
                double *tp = g->in + b * g->in_blk + s->tgt_port * g->n;
                double *tg = g->in + b * g->in_blk + s->tgt_gate * g->n;
                const double *u = s->u_trgt + b * g->n;
                for (size_t k = g->n * t / nt; k < g->n * (t + 1) / nt; k++) {
                    tp[k] += u[k];
                    tg[k] += s->target_on ? 1.0 : 0.0;
                }
            }
        }
    }
    float *xf = c->xf ? c->xf + (size_t)t * c->xf_stride : NULL;
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        const apical_pop *d = &c->pops[pj->dst];
        route_proj_copies(c, pj, d->n * t / nt, d->n * (t + 1) / nt, xf);
    }
}

/* eval_copies on nt threads, in one parallel region: the copies dealt
   round the threads for the cells' functions (each copy's are the same
   calls whichever thread makes them), the products' rows for the routing,
   a barrier between the stages. */
static int eval_copies_team(apical_circuit *c, const double *y, double *dydt, int nt, char *err,
                            size_t cap)
{
    int failed = -1, frc = APICAL_OK;
    const char *fwhat = "observe";
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        for (size_t b = (size_t)t; b < c->copies; b += (size_t)n)
            for (size_t i = 0; i < c->n_pops; i++) {
                apical_pop *p = &c->pops[i];
                memset(p->in + b * p->in_blk, 0, p->in_blk * sizeof(double));
                apical_cell_ctx x = copy_ctx(c, p, y, b);
                int rc = p->model->observe(&x, APICAL_OBS_STATE, p->obs + b * p->obs_blk);
                if (rc != APICAL_OK) {
#pragma omp critical(apical_eval_fail)
                    failed = (int)i, frc = rc, fwhat = "observe";
                }
            }
#pragma omp barrier
        route_rows_copies(c, t, n);
#pragma omp barrier
        for (size_t b = (size_t)t; b < c->copies; b += (size_t)n)
            for (size_t i = 0; i < c->n_pops; i++) {
                apical_pop *p = &c->pops[i];
                apical_cell_ctx x = copy_ctx(c, p, y, b);
                const char *what;
                int rc = port_stage(p, &x, p->obs + b * p->obs_blk,
                                    dydt + b * c->n_y1 + p->y_off, &what);
                if (rc != APICAL_OK) {
#pragma omp critical(apical_eval_fail)
                    failed = (int)i, frc = rc, fwhat = what;
                }
            }
    }
    return failed >= 0 ? module_failed(fwhat, &c->pops[failed], frc, err, cap) : 0;
}

/* One evaluation of all copies (no feedthrough: finalize refuses it with
   copies): every copy's state-stage observables, the products (rows on
   the team's threads), every copy's port-stage observables and
   derivatives. */
static int eval_copies(apical_circuit *c, const double *y, double *dydt, char *err, size_t cap)
{
    int rc, nt = apical_team_size(&c->team);
    double t0 = c->team.most > 1 ? omp_get_wtime() : 0;
    if (nt > 1) {
        rc = eval_copies_team(c, y, dydt, nt, err, cap);
        apical_team_timed(&c->team, nt, omp_get_wtime() - t0);
        return rc;
    }
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        memset(p->in, 0, c->copies * p->in_blk * sizeof(double));
        for (size_t b = 0; b < c->copies; b++) {
            apical_cell_ctx x = copy_ctx(c, p, y, b);
            if ((rc = p->model->observe(&x, APICAL_OBS_STATE, p->obs + b * p->obs_blk)) !=
                APICAL_OK)
                return module_failed("observe", p, rc, err, cap);
        }
    }
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        route_rows_copies(c, omp_get_thread_num(), omp_get_num_threads());
    } else {
        route_rows_copies(c, 0, 1);
    }
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        for (size_t b = 0; b < c->copies; b++) {
            apical_cell_ctx x = copy_ctx(c, p, y, b);
            const char *what;
            if ((rc = port_stage(p, &x, p->obs + b * p->obs_blk, dydt + b * c->n_y1 + p->y_off,
                                 &what)) != APICAL_OK)
                return module_failed(what, p, rc, err, cap);
        }
    }
    if (c->team.most > 1)
        apical_team_timed(&c->team, nt, omp_get_wtime() - t0);
    return 0;
}

int apical_circuit_eval_at(apical_circuit *c, const double *y, double *dydt, char *err,
                           size_t cap)
{
    if (c->copies > 1)
        return eval_copies(c, y, dydt, err, cap);
    if (c->n_feed)
        return eval_feed(c, y, dydt, err, cap);
    int rc, nt = apical_team_size(&c->team);
    double t0 = c->team.most > 1 ? omp_get_wtime() : 0;
    if (nt > 1 && all_sliceable(c)) {
        rc = eval_team(c, y, dydt, nt, err, cap);
        apical_team_timed(&c->team, nt, omp_get_wtime() - t0);
        return rc;
    }
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        apical_cell_ctx x = pop_ctx(p, y);
        memset(p->in, 0, p->model->n_ports * p->n * sizeof(double));
        if ((rc = p->model->observe(&x, APICAL_OBS_STATE, p->obs)) != APICAL_OK)
            return module_failed("observe", p, rc, err, cap);
    }
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        route_rows(c, omp_get_thread_num(), omp_get_num_threads());
    } else {
        route_rows(c, 0, 1);
    }
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        apical_cell_ctx x = pop_ctx(p, y);
        const char *what;
        if ((rc = port_stage(p, &x, p->obs, dydt + p->y_off, &what)) != APICAL_OK)
            return module_failed(what, p, rc, err, cap);
    }
    if (c->team.most > 1) /* the whole evaluation, as in the team's timing */
        apical_team_timed(&c->team, nt, omp_get_wtime() - t0);
    return 0;
}

/* y += a x; not BLAS: at these sizes a call into OpenBLAS costs more than
   the loop, and its threads compete for the two cores. */
static void axpy(size_t n, double a, const double *restrict x, double *restrict y)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

/* Rows [lo, hi) of a rule's batch: the rule's whole problem with n_post =
   hi - lo, given those columns of the post history; then the copies the
   dendrites read.  Returns the rule's status, or HALF_RANGE when a weight
   does not fit half precision. */
enum { HALF_RANGE = -1000 };

static int flush_span(apical_circuit *c, apical_proj *pj, size_t lo, size_t hi)
{
    const size_t m = c->pops[pj->dst].n, n = c->pops[pj->src].n, k = pj->hist_n, mt = hi - lo;
    const size_t kr = k * c->copies; /* rows: steps times copies */
    const double *post = pj->hist_post;
    if (mt < m) {
        double *slice = pj->hist_slice + kr * lo;
        for (size_t j = 0; j < kr; j++)
            memcpy(slice + j * mt, post + j * m + lo, mt * sizeof(double));
        post = slice;
    }
    apical_rule_batch b = { sizeof b, mt, n, k, pj->rp_run, post, pj->hist_pre,
                            pj->hist_scratch + 2 * kr * lo, pj->hist_pre_f32, c->copies,
                            pj->hist_pre_bf16x2 };
    int rc;
    if (pj->auxf) {
        rc = pj->rule->euler_batch_f32(&b, c->batch_dt, pj->wf + lo * n, pj->auxf + lo * n);
    } else {
        rc = pj->rule->euler_batch(&b, c->batch_dt, pj->w + lo * n, pj->aux + lo * n);
        for (size_t q = lo * n; pj->wf && q < hi * n; q++)
            pj->wf[q] = (float)pj->w[q];
    }
    if (rc == APICAL_OK && pj->wh && apical_f16_from_f32(mt * n, pj->wf + lo * n, pj->wh + lo * n))
        rc = HALF_RANGE;
    return rc;
}

/* Thread t's rows of a batch flush: about rows [m t / nt, m (t+1) / nt) of W (and
   of a single aux matrix) are a rule's whole problem with n_post = their
   count, given those columns of the post history.  Rules with several aux
   matrices are done whole by thread 0.  Rows do not interact, so the result
   is the same for any nt. */
static int flush_rows(apical_circuit *c, apical_proj *pj, int t, int nt)
{
    const size_t m = c->pops[pj->dst].n;
    if (pj->rule->n_aux > 1) {
        if (t != 0)
            return APICAL_OK;
        nt = 1;
    }
    if (c->copies > 1) {
        /* copies: the rule's GEMMs go 32 rows at a time, spans fixed from
           row 0 and dealt round the threads, so that a BLAS whose sums
           depend on the shape gives the same numbers for any nt (a rule
           with several aux matrices: all rows in one call) */
        if (pj->rule->n_aux > 1)
            return flush_span(c, pj, 0, m);
        int rc = APICAL_OK;
        for (size_t a = 32 * (size_t)t; a < m && rc == APICAL_OK; a += 32 * (size_t)nt)
            rc = flush_span(c, pj, a, m - a > 32 ? a + 32 : m);
        return rc;
    }
    /* slices start at even rows: a rule that takes rows in pairs then pairs
       them as in one call on all rows, whatever nt is */
    const size_t lo = (m * (size_t)t / (size_t)nt) & ~(size_t)1,
                 hi = t + 1 == nt ? m : (m * (size_t)(t + 1) / (size_t)nt) & ~(size_t)1;
    if (hi == lo)
        return APICAL_OK;
    if (!pj->wh)
        return flush_span(c, pj, lo, hi);
    /* with half copies: 32 rows at a time, so that the rows the rule has
       just written are still in cache when they are rounded to half */
    int rc = APICAL_OK;
    for (size_t a = lo; a < hi && rc == APICAL_OK; a += 32)
        rc = flush_span(c, pj, a, hi - a > 32 ? a + 32 : hi);
    return rc;
}

/* Apply the batches of every projection holding at least `at_least` steps,
   in one parallel region (as many threads as route the ports). */
static int flush_batches(apical_circuit *c, size_t at_least, char *err, size_t cap)
{
    int nt = c->team.most > 1 ? c->team.choice : 1, bad = -1, bad_rc = 0;
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num(), n = omp_get_num_threads();
            for (size_t i = 0; i < c->n_projs; i++) {
                apical_proj *pj = &c->projs[i];
                int rc;
                if (pj->hist_post && pj->hist_n >= at_least && pj->hist_n > 0 &&
                    (rc = flush_rows(c, pj, t, n)) != APICAL_OK) {
#pragma omp critical(apical_flush_fail)
                    bad = (int)i, bad_rc = rc;
                }
            }
        }
    } else {
        for (size_t i = 0; i < c->n_projs; i++) {
            apical_proj *pj = &c->projs[i];
            int rc;
            if (pj->hist_post && pj->hist_n >= at_least && pj->hist_n > 0 &&
                (rc = flush_rows(c, pj, 0, 1)) != APICAL_OK)
                bad = (int)i, bad_rc = rc;
        }
    }
    for (size_t i = 0; i < c->n_projs; i++)
        if (c->projs[i].hist_post && c->projs[i].hist_n >= at_least)
            c->projs[i].hist_n = 0;
    if (bad >= 0) {
        const apical_proj *pj = &c->projs[bad];
        if (bad_rc == HALF_RANGE)
            snprintf(err, cap, "projection %s -> %s: a weight reached 65520 in magnitude, past "
                     "half precision (matvec: f16); use matvec: f32", c->pops[pj->src].name,
                     c->pops[pj->dst].name);
        else
            snprintf(err, cap, "rule %s on %s -> %s failed", pj->rule->name,
                     c->pops[pj->src].name, c->pops[pj->dst].name);
        return -1;
    }
    return 0;
}

/* Apply what the batches hold; with f32 storage, bring the double weights
   (what checkpoints, metrics and weight files read) up to date. */
int apical_circuit_flush_plasticity(apical_circuit *c, char *err, size_t cap)
{
    if (flush_batches(c, 1, err, cap) != 0)
        return -1;
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (pj->auxf) {
            size_t nw = apical_proj_n_weights(c, pj), na = pj->rule->n_aux * nw;
            for (size_t k = 0; k < nw; k++)
                pj->w[k] = pj->wf[k];
            for (size_t k = 0; k < na; k++)
                pj->aux[k] = pj->auxf[k];
        }
    }
    return 0;
}

/* One step of pj's rule with copies: a rule that takes them remembers
   every copy's observables for its rank-k B batch (*full when the batch
   is complete); any other advances by the mean of the copies' dwdt at the
   same weights, which is its drive averaged over the copies. */
static int plasticity_copies(apical_circuit *c, apical_proj *pj, double dt, int *full)
{
    const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
    const size_t B = c->copies;
    if (pj->hist_post) {
        for (size_t b = 0; b < B; b++) {
            const size_t row = pj->hist_n * B + b;
            memcpy(pj->hist_post + row * d->n, d->obs + b * d->obs_blk + pj->post_obs * d->n,
                   d->n * sizeof(double));
            const double *pre = s->obs + b * s->obs_blk + pj->src_obs * s->n;
            memcpy(pj->hist_pre + row * s->n, pre, s->n * sizeof(double));
            for (size_t q = 0; pj->hist_pre_f32 && q < s->n; q++)
                pj->hist_pre_f32[row * s->n + q] = (float)pre[q];
        }
        c->batch_dt = dt;
        *full |= ++pj->hist_n == c->batch_k;
        return 0;
    }
    const size_t nw = d->n * s->n, nt = (1 + pj->rule->n_aux) * nw;
    for (size_t b = 0; b < B; b++) {
        apical_rule_ctx x = { sizeof x, d->n, s->n, pj->rp_run,
                              d->obs + b * d->obs_blk + pj->post_obs * d->n,
                              s->obs + b * s->obs_blk + pj->src_obs * s->n };
        double *out = b ? pj->dw : pj->dw_mean;
        if (pj->rule->dwdt(&x, pj->w, pj->aux, out, out + nw) != APICAL_OK)
            return -1;
        for (size_t q = 0; b && q < nt; q++)
            pj->dw_mean[q] += pj->dw[q];
    }
    const double a = dt / (double)B;
    axpy(nw, a, pj->dw_mean, pj->w);
    axpy(nt - nw, a, pj->dw_mean + nw, pj->aux);
    apical_proj_weights_changed(c, pj);
    return 0;
}

int apical_circuit_plasticity_euler(apical_circuit *c, double dt, char *err, size_t cap)
{
    int full = 0;
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (!pj->rule)
            continue;
        const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
        if (c->copies > 1) {
            if (plasticity_copies(c, pj, dt, &full) != 0) {
                snprintf(err, cap, "rule %s on %s -> %s failed", pj->rule->name, s->name,
                         d->name);
                return -1;
            }
            continue;
        }
        if (pj->hist_post) { /* batched: remember this step's observables */
            memcpy(pj->hist_post + pj->hist_n * d->n, d->obs + pj->post_obs * d->n,
                   d->n * sizeof(double));
            const double *pre = pj->delayed ? pj->delayed : s->obs + pj->src_obs * s->n;
            memcpy(pj->hist_pre + pj->hist_n * s->n, pre, s->n * sizeof(double));
            for (size_t q = 0; pj->hist_pre_f32 && q < s->n; q++)
                pj->hist_pre_f32[pj->hist_n * s->n + q] = (float)pre[q];
            if (pj->hist_pre_bf16x2) {
                /* step 2t in the low halves, 2t + 1 in the high ones (0 until
                   it comes, for an odd batch) */
                uint32_t *p2 = pj->hist_pre_bf16x2 + pj->hist_n / 2 * s->n;
                if (pj->hist_n % 2)
                    for (size_t q = 0; q < s->n; q++)
                        p2[q] |= apical_bf16((float)pre[q]) << 16;
                else
                    for (size_t q = 0; q < s->n; q++)
                        p2[q] = apical_bf16((float)pre[q]);
            }
            c->batch_dt = dt;
            full |= ++pj->hist_n == c->batch_k;
            continue;
        }
        apical_rule_ctx x = { sizeof x, d->n, s->n, pj->rp_run, d->obs + pj->post_obs * d->n,
                              pj->delayed ? pj->delayed : s->obs + pj->src_obs * s->n };
        int rc;
        if (pj->rule->euler) {
            rc = pj->rule->euler(&x, dt, pj->w, pj->aux);
        } else {
            size_t nw = d->n * s->n, na = pj->rule->n_aux * nw;
            rc = pj->rule->dwdt(&x, pj->w, pj->aux, pj->dw, pj->dw + nw);
            if (rc == APICAL_OK) {
                axpy(nw, dt, pj->dw, pj->w);
                axpy(na, dt, pj->dw + nw, pj->aux);
            }
        }
        apical_proj_weights_changed(c, pj);
        if (rc != APICAL_OK) {
            snprintf(err, cap, "rule %s on %s -> %s failed with status %d", pj->rule->name,
                     s->name, d->name, rc);
            return -1;
        }
    }
    return full ? flush_batches(c, c->batch_k, err, cap) : 0;
}

int apical_circuit_step_euler(apical_circuit *c, double dt, unsigned flags, char *err,
                              size_t cap)
{
    if (apical_circuit_eval(c, err, cap) != 0)
        return -1;
    return apical_circuit_advance_euler(c, dt, flags, err, cap);
}

int apical_circuit_advance_euler(apical_circuit *c, double dt, unsigned flags, char *err,
                                 size_t cap)
{
    if ((flags & APICAL_STEP_PLASTIC) && apical_circuit_plasticity_euler(c, dt, err, cap) != 0)
        return -1;
    apical_circuit_shift_delays(c);
    axpy(c->n_y, dt, c->dydt, c->y);
    apical_circuit_noise(c, dt, flags);
    return 0;
}

void apical_circuit_noise(apical_circuit *c, double dt, unsigned flags)
{
    if (!(flags & APICAL_STEP_NOISE))
        return;
    /* Euler-Maruyama: the Wiener increment over dt has variance dt */
    const double scale = (flags & APICAL_STEP_NOISE_DT) ? dt : sqrt(dt);
    /* normal q goes to the q-th noisy variable (population, state, cell order),
       whatever the sigmas: all of a step's numbers in one call */
    size_t nq = 0;
    int any = 0;
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        for (size_t k = 0; k < p->model->n_state; k++)
            if (p->model->state[k].flags & APICAL_VAR_NOISY) {
                nq += p->n;
                any |= p->sigma != 0;
            }
    }
    if (!any)
        return;
    /* one key per step with noise: 2 x 32 bits of rng_noise; copy b takes
       the step's normals b nq .. (b + 1) nq - 1 under it, its own stream */
    uint64_t key = (uint64_t)gsl_rng_get(c->rng_noise) << 32;
    key |= (uint64_t)gsl_rng_get(c->rng_noise) & 0xFFFFFFFFu;
    apical_normals(key, 0, nq * c->copies, c->noise);
    const double *z = c->noise;
    for (size_t b = 0; b < c->copies; b++)
        for (size_t i = 0; i < c->n_pops; i++) {
            const apical_pop *p = &c->pops[i];
            for (size_t k = 0; k < p->model->n_state; k++) {
                if (!(p->model->state[k].flags & APICAL_VAR_NOISY))
                    continue;
                double *y = c->y + b * c->n_y1 + p->y_off + k * p->n, a = p->sigma * scale;
                for (size_t j = 0; a != 0 && j < p->n; j++)
                    y[j] += a * z[j];
                z += p->n;
            }
        }
}

static int bad(double v, double bound)
{
    return !isfinite(v) || (bound > 0 && fabs(v) > bound);
}

/* Whether any of v[0..n) is bad: a count without branches, which the
   compiler vectorises (NaN fails the comparison, as does infinity against
   the largest double), for the common case where none is. */
static int any_bad(const double *v, size_t n, double bound)
{
    const double lim = bound > 0 ? bound : DBL_MAX;
    size_t nbad = 0;
    for (size_t j = 0; j < n; j++)
        nbad += !(fabs(v[j]) <= lim);
    return nbad != 0;
}

int apical_circuit_check_finite(const apical_circuit *c, char *err, size_t cap)
{
    if (c->f16_overflow) {
        snprintf(err, cap, "%zu weights reached 65520 in magnitude, past half precision "
                 "(matvec: f16); use matvec: f32", c->f16_overflow);
        return 1;
    }
    const double b = c->bound;
    /* the states: which one is bad, searched for only when one is */
    const size_t search = any_bad(c->y, c->n_y, b) ? c->copies : 0;
    for (size_t cp = 0; cp < search; cp++)
        for (size_t i = 0; i < c->n_pops; i++) {
            const apical_pop *p = &c->pops[i];
            for (size_t k = 0; k < p->model->n_state; k++)
                for (size_t j = 0; j < p->n; j++) {
                    double v = c->y[cp * c->n_y1 + p->y_off + k * p->n + j];
                    if (bad(v, b)) {
                        char copy[48] = "";
                        if (c->copies > 1)
                            snprintf(copy, sizeof copy, " of copy %zu", cp);
                        snprintf(err, cap, "population %s%s%s%s, cell %zu%s: state %s is %g%s",
                                 p->name, p->where[0] ? " (" : "", p->where,
                                 p->where[0] ? ")" : "", j, copy, p->model->state[k].name, v,
                                 isfinite(v) ? ", past the bound" : "");
                        return 1;
                    }
                }
        }
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        if (!pj->w)
            continue;
        size_t ns = c->pops[pj->src].n, nw = ns * c->pops[pj->dst].n;
        if (!any_bad(pj->w, nw, b))
            continue;
        for (size_t j = 0; j < nw; j++)
            if (bad(pj->w[j], b)) {
                snprintf(err, cap, "projection %s -> %s.%s%s%s%s: weight [%zu][%zu] is %g%s",
                         c->pops[pj->src].name, c->pops[pj->dst].name,
                         apical_proj_port(c, pj),
                         pj->where[0] ? " (" : "", pj->where, pj->where[0] ? ")" : "", j / ns,
                         j % ns, pj->w[j], isfinite(pj->w[j]) ? ", past the bound" : "");
                return 1;
            }
    }
    return 0;
}

