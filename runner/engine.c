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

#include <gsl/gsl_cblas.h>
#include <gsl/gsl_randist.h>

#include "apical_runner.h"

static apical_cell_ctx pop_ctx(const apical_pop *p, const double *y)
{
    apical_cell_ctx x = { sizeof x, p->n, p->p, y + p->y_off, p->in, p->need };
    return x;
}

static int module_failed(const char *what, const apical_pop *p, int rc, char *err, size_t cap)
{
    snprintf(err, cap, "%s of population %s (%s) failed with status %d", what, p->name,
             p->model->name, rc);
    return -1;
}

/* y += W x for row-major W (m x n).  Small products are done here: the
   call and dispatch overhead of a BLAS dgemv dominates below ~10^5 weights
   (bench/bench_step), and OpenBLAS may spin up threads for them. */
#define SMALL_MATVEC (1u << 17)
static void matvec_add(size_t m, size_t n, const double *restrict w, const double *restrict x,
                       double *restrict y)
{
    if (m * n >= SMALL_MATVEC) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)n, 1.0, w, (int)n, x, 1, 1.0, y,
                    1);
        return;
    }
    for (size_t i = 0; i < m; i++) {
        const double *restrict wi = w + i * n;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t j = 0; j < n; j++)
            s += wi[j] * x[j];
        y[i] += s;
    }
}

int apical_circuit_eval(apical_circuit *c, char *err, size_t cap)
{
    return apical_circuit_eval_at(c, c->y, c->dydt, err, cap);
}

int apical_circuit_eval_at(apical_circuit *c, const double *y, double *dydt, char *err,
                           size_t cap)
{
    int rc;
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        apical_cell_ctx x = pop_ctx(p, y);
        memset(p->in, 0, p->model->n_ports * p->n * sizeof(double));
        if ((rc = p->model->observe(&x, APICAL_OBS_STATE, p->obs)) != APICAL_OK)
            return module_failed("observe", p, rc, err, cap);
    }
    for (size_t i = 0; i < c->n_stims; i++) {
        const apical_stim *s = &c->stims[i];
        apical_pop *d = &c->pops[s->dst];
        double *port = d->in + s->dst_port * d->n;
        for (size_t k = 0; k < d->n; k++)
            port[k] += s->x[k];
    }
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        const apical_pop *s = &c->pops[pj->src];
        apical_pop *d = &c->pops[pj->dst];
        const double *x = s->obs + pj->src_obs * s->n;
        double *port = d->in + pj->dst_port * d->n;
        if (pj->one_to_one) {
            for (size_t k = 0; k < d->n; k++)
                port[k] += x[k];
        } else {
            matvec_add(d->n, s->n, pj->w, x, port);
        }
    }
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        apical_cell_ctx x = pop_ctx(p, y);
        if ((rc = p->model->observe(&x, APICAL_OBS_PORTS, p->obs)) != APICAL_OK)
            return module_failed("observe", p, rc, err, cap);
        if ((rc = p->model->rhs(&x, dydt + p->y_off)) != APICAL_OK)
            return module_failed("rhs", p, rc, err, cap);
    }
    return 0;
}

/* y += a x; not BLAS: at these sizes a call into OpenBLAS costs more than
   the loop, and its threads compete for the two cores. */
static void axpy(size_t n, double a, const double *restrict x, double *restrict y)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

int apical_circuit_plasticity_euler(apical_circuit *c, double dt, char *err, size_t cap)
{
    for (size_t i = 0; i < c->n_projs; i++) {
        apical_proj *pj = &c->projs[i];
        if (!pj->rule)
            continue;
        const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
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
        if (rc != APICAL_OK) {
            snprintf(err, cap, "rule %s on %s -> %s failed with status %d", pj->rule->name,
                     s->name, d->name, rc);
            return -1;
        }
    }
    return 0;
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
    if (flags & APICAL_STEP_NOISE) {
        /* Euler-Maruyama: the Wiener increment over dt has variance dt */
        const double scale = (flags & APICAL_STEP_NOISE_DT) ? dt : sqrt(dt);
        for (size_t i = 0; i < c->n_pops; i++) {
            const apical_pop *p = &c->pops[i];
            if (p->sigma == 0)
                continue;
            for (size_t k = 0; k < p->model->n_state; k++) {
                if (!(p->model->state[k].flags & APICAL_VAR_NOISY))
                    continue;
                double *y = c->y + p->y_off + k * p->n;
                for (size_t j = 0; j < p->n; j++)
                    y[j] += p->sigma * scale * gsl_ran_gaussian_ziggurat(c->rng_noise, 1.0);
            }
        }
    }
}

int apical_circuit_check_finite(const apical_circuit *c, char *err, size_t cap)
{
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        for (size_t k = 0; k < p->model->n_state; k++)
            for (size_t j = 0; j < p->n; j++) {
                double v = c->y[p->y_off + k * p->n + j];
                if (!isfinite(v)) {
                    snprintf(err, cap, "population %s, cell %zu: state %s is %g", p->name, j,
                             p->model->state[k].name, v);
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
            if (!isfinite(pj->w[j])) {
                snprintf(err, cap, "projection %s -> %s: weight [%zu][%zu] is %g",
                         c->pops[pj->src].name, c->pops[pj->dst].name, j / ns, j % ns,
                         pj->w[j]);
                return 1;
            }
    }
    return 0;
}

/* The next pattern: a fresh draw, or the next row of a table (cycling). */
static void next_pattern(apical_stim *s, gsl_rng *rng)
{
    if (s->kind == APICAL_STIM_TABLE) {
        memcpy(s->x, s->table.data + s->next_row * s->size, s->size * sizeof(double));
        s->next_row = (s->next_row + 1) % s->table.rows;
        return;
    }
    for (size_t i = 0; i < s->size; i++)
        s->x[i] = s->lo + (s->hi - s->lo) * gsl_rng_uniform(rng);
}

/* Squared apical potential and interneuron mismatch at the current state. */
static void measure(const apical_circuit *c, double *apical_sum, size_t *apical_n,
                    double *mism_sum, size_t *mism_n)
{
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        if (!p->apical_fed || p->obs_v_apical == (size_t)-1)
            continue;
        const double *va = p->obs + p->obs_v_apical * p->n;
        for (size_t j = 0; j < p->n; j++)
            *apical_sum += va[j] * va[j];
        *apical_n += p->n;
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
            *mism_sum += (a[j] - b[j]) * (a[j] - b[j]);
        *mism_n += d->n;
    }
}

int apical_evaluate(apical_circuit *c, const apical_run_opts *o, apical_metrics *m, char *err,
                    size_t cap)
{
    apical_stim *s = &c->stims[o->train_stim];
    long steps = lround(o->eval_settle_ms / o->dt);
    double asum = 0, msum = 0;
    size_t an = 0, mn = 0;
    apical_integrator *it = apical_integrator_new(c, &o->integ, err, cap);
    if (!it)
        return -1;
    memcpy(c->y_saved, c->y, c->n_y * sizeof(double));
    /* the same held-out patterns at every evaluation: the test stream
       restarted, or a table's rows from the first */
    gsl_rng_set(c->rng_test, c->seed ^ 0x5eed7e57UL);
    size_t row = s->next_row;
    s->next_row = 0;
    int rc = 0;
    for (long k = 0; k < o->eval_patterns && rc == 0; k++) {
        memcpy(c->y, c->y_saved, c->n_y * sizeof(double));
        apical_integrator_reset(it);
        next_pattern(s, c->rng_test);
        for (long t = 0; t < steps && rc == 0; t++)
            rc = apical_circuit_eval(c, err, cap) || apical_integrator_advance(it, o->dt, 0, err, cap);
        if (rc == 0 && (rc = apical_circuit_eval(c, err, cap)) == 0)
            measure(c, &asum, &an, &msum, &mn);
    }
    memcpy(c->y, c->y_saved, c->n_y * sizeof(double));
    s->next_row = row;
    apical_integrator_free(it);
    m->apical_sq = an ? asum / (double)an : NAN;
    m->mismatch_sq = mn ? msum / (double)mn : NAN;
    return rc ? -1 : 0;
}

static int run_patterns(apical_circuit *c, apical_integrator *it, const apical_run_opts *o,
                        long steps, unsigned flags, apical_stim *s, apical_metrics *mp,
                        char *err, size_t cap);

int apical_run(apical_circuit *c, const apical_run_opts *o, char *err, size_t cap)
{
    if (!c->finalized || o->train_stim >= c->n_stims) {
        snprintf(err, cap, "run needs a finalized circuit and a training stimulus");
        return -1;
    }
    const long steps = lround(o->present_ms / o->dt);
    unsigned flags = APICAL_STEP_PLASTIC | APICAL_STEP_TARGET;
    for (size_t i = 0; i < c->n_pops; i++)
        if (c->pops[i].sigma > 0)
            flags |= APICAL_STEP_NOISE;
    if (o->noise_dt_scaled)
        flags |= APICAL_STEP_NOISE_DT;
    apical_stim *s = &c->stims[o->train_stim];
    apical_metrics m = { "test", 0, 0, NAN, NAN };
    if (o->eval_every > 0) {
        if (apical_evaluate(c, o, &m, err, cap) != 0)
            return -1;
        if (o->on_metrics)
            o->on_metrics(o->user, &m);
    }
    apical_integrator *it = apical_integrator_new(c, &o->integ, err, cap);
    if (!it)
        return -1;
    int rc = run_patterns(c, it, o, steps, flags, s, &m, err, cap);
    apical_integrator_free(it);
    return rc;
}

static int run_patterns(apical_circuit *c, apical_integrator *it, const apical_run_opts *o,
                        long steps, unsigned flags, apical_stim *s, apical_metrics *mp,
                        char *err, size_t cap)
{
    apical_metrics m = *mp;
    for (long p = 0; p < o->patterns; p++) {
        next_pattern(s, c->rng_train);
        for (long t = 0; t < steps; t++) {
            if (apical_circuit_eval(c, err, cap) != 0)
                return -1;
            long k = p * steps + t; /* global step: the state is at k dt */
            if (o->on_trace && o->trace_every > 0 && k % o->trace_every == 0)
                o->on_trace(o->user, (double)k * o->dt, c);
            if (apical_integrator_advance(it, o->dt, flags, err, cap) != 0)
                return -1;
        }
        if (apical_circuit_check_finite(c, err, cap)) {
            char where[512];
            snprintf(where, sizeof where, "%s", err);
            snprintf(err, cap, "diverged during pattern %ld (t = %g ms): %s", p + 1,
                     (double)(p + 1) * o->present_ms, where);
            return -1;
        }
        if (o->eval_every > 0 && (p + 1) % o->eval_every == 0) {
            m.pattern = p + 1;
            m.t_ms = (double)(p + 1) * (double)steps * o->dt;
            if (apical_evaluate(c, o, &m, err, cap) != 0)
                return -1;
            if (o->on_metrics)
                o->on_metrics(o->user, &m);
        }
        if (o->on_progress)
            o->on_progress(o->user, p + 1, o->patterns);
    }
    return 0;
}
