/*
 * engine.c -- evaluate the circuit's derivatives, step it, run phases.
 *
 * The whole circuit is one ODE system.  Dendrites have no dynamics, so one
 * evaluation is: observe every population's state -> route observables
 * through projections into ports (one BLAS matrix-vector product each) ->
 * port-dependent observables -> cell derivatives.  Plasticity reads the same
 * time-t quantities (MODEL.md 1.9, synchronous update).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <omp.h>

#include <gsl/gsl_cblas.h>
#include <gsl/gsl_rng.h>

#include "apical_runner.h"
#include "bp_cosine.h"
#include "matvec.h"
#include "transfer.h"

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

/* How many threads route the ports.  Both cores help a large circuit only
   while the machine has a core to spare: on a shared, oversubscribed machine
   every fork and join waits for a descheduled thread (milliseconds instead
   of microseconds).  So every 4096 steps, 16 steps are timed on one thread
   and 16 on all, and the count with the faster best step is kept (the
   fastest of 16, not their sum: one step that waited for a descheduled
   thread would otherwise decide for 4096).  The rows are the same either
   way (each row of a product is one thread's dot product), so the results
   do not depend on the choice. */
enum { TEAM_PERIOD = 4096, TEAM_PROBE = 16 };

static int team_size(const apical_circuit *c)
{
    if (c->route_threads <= 1)
        return 1;
    if (c->team_fixed)
        return c->team_choice;
    unsigned long ph = c->team_step % TEAM_PERIOD;
    if (ph < TEAM_PROBE)
        return 1;
    if (ph < 2 * TEAM_PROBE)
        return c->route_threads;
    return c->team_choice;
}

static void team_timed(apical_circuit *c, int nt, double dt)
{
    if (c->team_fixed)
        return;
    unsigned long ph = c->team_step++ % TEAM_PERIOD;
    if (ph == 0)
        c->team_time[0] = c->team_time[1] = INFINITY;
    if (ph < 2 * TEAM_PROBE && dt < c->team_time[nt > 1])
        c->team_time[nt > 1] = dt;
    if (ph == 2 * TEAM_PROBE - 1)
        c->team_choice = c->team_time[1] < c->team_time[0] ? c->route_threads : 1;
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
        const apical_pop *s = &c->pops[pj->src];
        apical_pop *d = &c->pops[pj->dst];
        const double *x = s->obs + pj->src_obs * s->n;
        const size_t lo = d->n * t / nt, hi = d->n * (t + 1) / nt;
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
    int failed = -1, frc = APICAL_OK, stage = 0;
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
                failed = (int)i, frc = rc, stage = 0;
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
            int rc = p->model->observe(&x, APICAL_OBS_PORTS, p->obs + lo), st = 1;
            if (rc == APICAL_OK)
                rc = p->model->rhs(&x, dydt + p->y_off + lo), st = 2;
            if (rc != APICAL_OK) {
#pragma omp critical(apical_eval_fail)
                failed = (int)i, frc = rc, stage = st;
            }
        }
    }
    if (failed >= 0)
        return module_failed(stage == 2 ? "rhs" : "observe", &c->pops[failed], frc, err, cap);
    return 0;
}

int apical_circuit_eval_at(apical_circuit *c, const double *y, double *dydt, char *err,
                           size_t cap)
{
    int rc, nt = team_size(c);
    double t0 = c->route_threads > 1 ? omp_get_wtime() : 0;
    if (nt > 1 && all_sliceable(c)) {
        rc = eval_team(c, y, dydt, nt, err, cap);
        team_timed(c, nt, omp_get_wtime() - t0);
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
        if ((rc = p->model->observe(&x, APICAL_OBS_PORTS, p->obs)) != APICAL_OK)
            return module_failed("observe", p, rc, err, cap);
        if ((rc = p->model->rhs(&x, dydt + p->y_off)) != APICAL_OK)
            return module_failed("rhs", p, rc, err, cap);
    }
    if (c->route_threads > 1) /* the whole evaluation, as in the team's timing */
        team_timed(c, nt, omp_get_wtime() - t0);
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
    const double *post = pj->hist_post;
    if (mt < m) {
        double *slice = pj->hist_slice + k * lo;
        for (size_t j = 0; j < k; j++)
            memcpy(slice + j * mt, post + j * m + lo, mt * sizeof(double));
        post = slice;
    }
    apical_rule_batch b = { sizeof b, mt, n, k, pj->rp, post, pj->hist_pre,
                            pj->hist_scratch + 2 * k * lo, pj->hist_pre_f32 };
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
    int nt = c->route_threads > 1 ? c->team_choice : 1, bad = -1, bad_rc = 0;
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

int apical_circuit_plasticity_euler(apical_circuit *c, double dt, char *err, size_t cap)
{
    int full = 0;
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (!pj->rule)
            continue;
        const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
        if (pj->hist_post) { /* batched: remember this step's observables */
            memcpy(pj->hist_post + pj->hist_n * d->n, d->obs + pj->post_obs * d->n,
                   d->n * sizeof(double));
            const double *pre = s->obs + pj->src_obs * s->n;
            memcpy(pj->hist_pre + pj->hist_n * s->n, pre, s->n * sizeof(double));
            for (size_t q = 0; pj->hist_pre_f32 && q < s->n; q++)
                pj->hist_pre_f32[pj->hist_n * s->n + q] = (float)pre[q];
            c->batch_dt = dt;
            full |= ++pj->hist_n == c->batch_k;
            continue;
        }
        apical_rule_ctx x = { sizeof x, d->n, s->n, pj->rp, d->obs + pj->post_obs * d->n,
                              s->obs + pj->src_obs * s->n };
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
    /* one key per step with noise: 2 x 32 bits of rng_noise */
    uint64_t key = (uint64_t)gsl_rng_get(c->rng_noise) << 32;
    key |= (uint64_t)gsl_rng_get(c->rng_noise) & 0xFFFFFFFFu;
    apical_normals(key, 0, nq, c->noise);
    const double *z = c->noise;
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        for (size_t k = 0; k < p->model->n_state; k++) {
            if (!(p->model->state[k].flags & APICAL_VAR_NOISY))
                continue;
            double *y = c->y + p->y_off + k * p->n, a = p->sigma * scale;
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

int apical_circuit_check_finite(const apical_circuit *c, char *err, size_t cap)
{
    if (c->f16_overflow) {
        snprintf(err, cap, "%zu weights reached 65520 in magnitude, past half precision "
                 "(matvec: f16); use matvec: f32", c->f16_overflow);
        return 1;
    }
    const double b = c->bound;
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        for (size_t k = 0; k < p->model->n_state; k++)
            for (size_t j = 0; j < p->n; j++) {
                double v = c->y[p->y_off + k * p->n + j];
                if (bad(v, b)) {
                    snprintf(err, cap, "population %s%s%s%s, cell %zu: state %s is %g%s", p->name,
                             p->where[0] ? " (" : "", p->where, p->where[0] ? ")" : "", j,
                             p->model->state[k].name, v, isfinite(v) ? ", past the bound" : "");
                    return 1;
                }
            }
    }
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        if (!pj->w)
            continue;
        size_t ns = c->pops[pj->src].n, nw = ns * c->pops[pj->dst].n;
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

/* The teacher's target potential for input x (MODEL.md 3.3). */
static void teach(apical_teacher *t, const double *x, double *u_trgt)
{
    apical_transfer phi = apical_transfer_make(t->phi[0], t->phi[1], t->phi[2], t->phi[3]);
    const double *in = x;
    for (size_t l = 0; l < t->n_layers; l++) {
        size_t m = t->sizes[l + 1], n = t->sizes[l];
        double *out = l + 1 == t->n_layers ? u_trgt : t->r[l % 2];
        for (size_t i = 0; i < m; i++) {
            double a = 0;
            for (size_t j = 0; j < n; j++)
                a += t->w[l][i * n + j] * in[j];
            a *= t->gains[l];
            out[i] = l + 1 == t->n_layers ? a : apical_phi(&phi, a);
        }
        in = out;
    }
}

/* The next pattern, and its target: a fresh draw (through the teacher), or
   the next row of a table (cycling). */
static void next_pattern(apical_stim *s, gsl_rng *rng)
{
    if (s->kind == APICAL_STIM_TABLE) {
        memcpy(s->x, s->table.data + s->next_row * s->size, s->size * sizeof(double));
        if (s->has_target)
            memcpy(s->u_trgt, s->targets.data + s->next_row * s->targets.cols,
                   s->targets.cols * sizeof(double));
        s->next_row = (s->next_row + 1) % s->table.rows;
        return;
    }
    if (s->kind == APICAL_STIM_IDX) {
        apical_stim_idx_pattern(s, s->next_row, s->x);
        if (s->has_target) {
            unsigned lab = s->labels.data[s->first + s->next_row];
            for (size_t i = 0; i < s->n_classes; i++)
                s->u_trgt[i] = s->trgt_u[i == lab];
        }
        s->next_row = (s->next_row + 1) % s->count;
        return;
    }
    for (size_t i = 0; i < s->size; i++)
        s->x[i] = s->lo + (s->hi - s->lo) * gsl_rng_uniform(rng);
    if (s->kind == APICAL_STIM_TEACHER && s->has_target)
        teach(&s->teacher, s->x, s->u_trgt);
}

/* Only stimulus `active` drives the circuit; its targets as asked. */
static void activate(apical_circuit *c, size_t active, int target_on)
{
    for (size_t i = 0; i < c->n_stims; i++) {
        c->stims[i].active = i == active;
        c->stims[i].target_on = i == active && target_on;
    }
}

typedef struct sums {
    double apical, mismatch, error;
    size_t n_apical, n_mismatch, n_error;
} sums;

/* Squared apical potential, interneuron mismatch and output error at the
   current state (ports and observables filled by an evaluation). */
static int measure(apical_circuit *c, const apical_stim *st, sums *m, char *err, size_t cap)
{
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        if (!p->apical_fed || p->obs_v_apical == (size_t)-1)
            continue;
        const double *va = p->obs + p->obs_v_apical * p->n;
        for (size_t j = 0; j < p->n; j++)
            m->apical += va[j] * va[j];
        m->n_apical += p->n;
    }
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        if (!pj->one_to_one)
            continue;
        const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
        size_t du = apical_model_find_obs(d->model, "u");
        if (du == (size_t)-1)
            continue;
        const double *a = s->obs + pj->src_obs * s->n, *b = d->obs + du * d->n;
        for (size_t j = 0; j < d->n; j++)
            m->mismatch += (a[j] - b[j]) * (a[j] - b[j]);
        m->n_mismatch += d->n;
    }
    if (!st->has_target)
        return 0;
    /* the target rate: the target cell's own rate at the target potential,
       from its module (state observables at y = u_trgt) */
    const apical_pop *t = &c->pops[st->tgt];
    size_t ro = apical_model_find_obs(t->model, "rate");
    if (ro == (size_t)-1 || t->model->n_state != 1) {
        snprintf(err, cap, "test error needs a one-state cell with a rate at %s", t->name);
        return -1;
    }
    apical_cell_ctx x = { sizeof x, t->n, t->p, st->u_trgt, t->in, NULL, 0 };
    if (t->model->observe(&x, APICAL_OBS_STATE, c->obs_scratch) != APICAL_OK) {
        snprintf(err, cap, "observe of %s failed", t->name);
        return -1;
    }
    const double *r = t->obs + ro * t->n, *rt = c->obs_scratch + ro * t->n;
    for (size_t j = 0; j < t->n; j++)
        m->error += (r[j] - rt[j]) * (r[j] - rt[j]);
    m->n_error++;
    return 0;
}

/* Mean angle between top-down matrices B (X x Y, into X.apical from Y) and
   the transposes of the forward matrices W (Y x X, X -> Y.basal), over the
   pairs whose X is POP (every pair for APICAL_ALL_POPS): 90 degrees for
   unrelated matrices, 0 when B = W^T (MODEL.md 2.4).  NaN without a pair. */
double apical_feedback_angle(const apical_circuit *c, size_t pop)
{
    double sum = 0;
    int pairs = 0;
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *b = &c->projs[i];
        const apical_pop *x = &c->pops[b->dst];
        if (b->one_to_one || (pop != APICAL_ALL_POPS && b->dst != pop) ||
            strcmp(apical_proj_port(c, b), "apical") != 0)
            continue;
        for (size_t k = 0; k < c->n_projs; k++) {
            const apical_proj *w = &c->projs[k];
            if (w->one_to_one || w->src != b->dst || w->dst != b->src ||
                strcmp(apical_proj_port(c, w), "basal") != 0)
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
   values (MODEL.md 2.2), over the projections into POP.dendrite that have
   a partner to copy (weights and bias together): sqrt(sum |W - f W_p|^2 /
   sum |f W_p|^2), or the absolute distance where the copies are 0.  NaN when
   POP has no such projection. */
double apical_copy_deviation(const apical_circuit *c, size_t pop)
{
    double acc[4] = { 0 };
    int any = 0;
    for (size_t k = 0; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        if (pj->dst != pop || pj->one_to_one || strcmp(apical_proj_port(c, pj), "dendrite") != 0)
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

int apical_evaluate(apical_circuit *c, const apical_run_opts *o, size_t stim, long n,
                    apical_metrics *m, char *err, size_t cap)
{
    m->angle_deg = apical_feedback_angle(c, APICAL_ALL_POPS);
    apical_stim *s = &c->stims[stim];
    long steps = lround(o->eval_settle_ms / o->dt);
    sums acc = { 0 };
    apical_bp_acc bp = { 0, 0 };
    apical_integrator *it = apical_integrator_new(c, &o->integ, err, cap);
    if (!it)
        return -1;
    memcpy(c->y_saved, c->y, c->n_y * sizeof(double));
    int was_active = s->active, was_on = s->target_on;
    activate(c, stim, 0); /* no nudging */
    /* the same held-out patterns at every evaluation: the test stream
       restarted, or a table's rows from the first */
    gsl_rng_set(c->rng_test, c->seed ^ 0x5eed7e57UL);
    size_t row = s->next_row;
    s->next_row = 0;
    int rc = 0;
    for (long k = 0; k < n && rc == 0; k++) {
        memcpy(c->y, c->y_saved, c->n_y * sizeof(double));
        apical_integrator_reset(it);
        next_pattern(s, c->rng_test);
        for (long t = 0; t < steps && rc == 0; t++)
            rc = apical_circuit_eval(c, err, cap) || apical_integrator_advance(it, o->dt, 0, err, cap);
        if (rc == 0 && (rc = apical_circuit_eval(c, err, cap)) == 0)
            rc = measure(c, s, &acc, err, cap);
        if (rc == 0 && o->eval_bp_cosine)
            rc = apical_bp_cosine_pattern(c, it, s, steps, o->dt, &bp, err, cap);
    }
    memcpy(c->y, c->y_saved, c->n_y * sizeof(double));
    s->next_row = row;
    if (was_active)
        activate(c, stim, was_on);
    apical_integrator_free(it);
    m->apical_sq = acc.n_apical ? acc.apical / (double)acc.n_apical : NAN;
    m->mismatch_sq = acc.n_mismatch ? acc.mismatch / (double)acc.n_mismatch : NAN;
    m->test_error = acc.n_error ? acc.error / (double)acc.n_error : NAN;
    m->bp_cosine = bp.n ? bp.sum / (double)bp.n : NAN;
    return rc ? -1 : 0;
}

long apical_run_total_patterns(const apical_run_opts *o)
{
    long n = 0;
    for (size_t i = 0; i < o->n_phases; i++)
        if (o->phases[i].kind == APICAL_PHASE_TRAIN)
            n += o->phases[i].patterns;
    return n;
}

typedef struct run_state {
    apical_circuit *c;
    const apical_run_opts *o;
    apical_integrator *it;
    int tracing;            /* traces wanted in the current phase */
    long total;             /* training patterns overall */
    apical_run_pos pos;
} run_state;

static int emit(run_state *r, const char *phase, size_t stim, long n, char *err, size_t cap)
{
    apical_metrics m = { phase, r->pos.pattern, (double)r->pos.step * r->o->dt, NAN, NAN, NAN,
                         NAN, NAN };
    if (apical_evaluate(r->c, r->o, stim, n, &m, err, cap) != 0)
        return -1;
    if (r->o->on_metrics)
        r->o->on_metrics(r->o->user, &m);
    return 0;
}

/* Integrate `steps` steps with the active stimulus as it is. */
static int integrate(run_state *r, long steps, unsigned flags, char *err, size_t cap)
{
    const apical_run_opts *o = r->o;
    for (long t = 0; t < steps; t++, r->pos.step++) {
        if (apical_circuit_eval(r->c, err, cap) != 0)
            return -1;
        if (r->tracing && o->on_trace && o->trace_every > 0 && r->pos.step % o->trace_every == 0)
            o->on_trace(o->user, (double)r->pos.step * o->dt, r->c);
        if (apical_integrator_advance(r->it, o->dt, flags, err, cap) != 0)
            return -1;
    }
    if (apical_circuit_flush_plasticity(r->c, err, cap) != 0)
        return -1;
    if (apical_circuit_check_finite(r->c, err, cap)) {
        char where[512];
        snprintf(where, sizeof where, "%s", err);
        snprintf(err, cap, "diverged by t = %g ms, in training pattern %ld: %s",
                 (double)r->pos.step * o->dt, (long)r->pos.pattern + 1, where);
        return -1;
    }
    return 0;
}

static unsigned phase_flags(const apical_circuit *c, const apical_run_opts *o,
                            const apical_phase *ph)
{
    unsigned flags = 0;
    if (ph->plastic)
        flags |= APICAL_STEP_PLASTIC;
    if (ph->noise)
        for (size_t i = 0; i < c->n_pops; i++)
            if (c->pops[i].sigma > 0)
                flags |= APICAL_STEP_NOISE;
    if (o->noise_dt_scaled)
        flags |= APICAL_STEP_NOISE_DT;
    return flags;
}

static int checkpoint(run_state *r, char *err, size_t cap)
{
    if (!r->o->on_checkpoint)
        return 0;
    r->pos.h = apical_integrator_h(r->it);
    return r->o->on_checkpoint(r->o->user, &r->pos, err, cap) ? -1 : 0;
}

static int run_phase(run_state *r, const apical_phase *ph, char *err, size_t cap)
{
    apical_circuit *c = r->c;
    const apical_run_opts *o = r->o;
    unsigned flags = phase_flags(c, o, ph);
    if (r->pos.in_phase > 0 && ph->kind != APICAL_PHASE_TRAIN)
        return 0; /* resumed after it */
    if (ph->kind == APICAL_PHASE_TEST)
        return emit(r, "test", ph->stim, ph->patterns, err, cap);
    if (ph->kind == APICAL_PHASE_SETTLE) {
        activate(c, r->pos.last_stim, ph->target);
        return integrate(r, lround(ph->present_ms / o->dt), flags, err, cap);
    }
    apical_stim *s = &c->stims[ph->stim];
    const long steps = lround(ph->present_ms / o->dt);
    r->pos.last_stim = ph->stim;
    activate(c, ph->stim, ph->target);
    if (o->eval_every > 0 && r->pos.pattern == 0 &&
        emit(r, "train", ph->stim, o->eval_patterns, err, cap) != 0)
        return -1;
    if (o->on_weights && o->weights_every > 0 && r->pos.pattern == 0 && r->pos.in_phase == 0)
        o->on_weights(o->user, 0, c);
    while (r->pos.in_phase < ph->patterns) {
        next_pattern(s, c->rng_train);
        if (integrate(r, steps, flags, err, cap) != 0)
            return -1;
        r->pos.pattern++;
        r->pos.in_phase++;
        if (o->eval_every > 0 && r->pos.pattern % o->eval_every == 0 &&
            emit(r, "train", ph->stim, o->eval_patterns, err, cap) != 0)
            return -1;
        if (o->on_weights && o->weights_every > 0 && r->pos.pattern % o->weights_every == 0)
            o->on_weights(o->user, (long)r->pos.pattern, c);
        if (o->on_progress)
            o->on_progress(o->user, r->pos.pattern, r->total);
        int stop = o->stop && *o->stop;
        if ((stop || (o->checkpoint_every > 0 && r->pos.pattern % o->checkpoint_every == 0)) &&
            checkpoint(r, err, cap) != 0)
            return -1;
        if (stop) {
            snprintf(err, cap, "stopped at pattern %ld (t = %g ms); a checkpoint was written",
                     (long)r->pos.pattern, (double)r->pos.step * o->dt);
            return APICAL_RUN_STOPPED;
        }
    }
    return 0;
}

int apical_run(apical_circuit *c, const apical_run_opts *o, char *err, size_t cap)
{
    if (!c->finalized) {
        snprintf(err, cap, "run needs a finalized circuit");
        return -1;
    }
    run_state r = { c, o, NULL, 1, apical_run_total_patterns(o), { 0 } };
    if (o->resume) {
        r.pos = *o->resume;
        if (r.pos.phase > o->n_phases) {
            snprintf(err, cap, "the checkpoint is past the run's last phase");
            return -1;
        }
        activate(c, r.pos.last_stim, 0);
    }
    if (!(r.it = apical_integrator_new(c, &o->integ, err, cap)))
        return -1;
    apical_integrator_set_h(r.it, r.pos.h);
    apical_circuit_weights_changed(c); /* weights set by init or a checkpoint */
    if (c->f16_overflow) {
        snprintf(err, cap, "%zu initial weights are 65520 or more in magnitude, past half "
                 "precision (matvec: f16); use matvec: f32", c->f16_overflow);
        apical_integrator_free(r.it);
        return -1;
    }
    int rc = 0;
    for (; r.pos.phase < o->n_phases && rc == 0; r.pos.phase++, r.pos.in_phase = 0) {
        size_t i = r.pos.phase;
        r.tracing = !o->trace_phases || (i < 64 && (o->trace_phases >> i & 1));
        rc = run_phase(&r, &o->phases[i], err, cap);
    }
    if (rc == 0)
        rc = checkpoint(&r, err, cap); /* the final state */
    apical_integrator_free(r.it);
    return rc;
}
