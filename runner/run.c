/*
 * run.c -- a run in the dynamics mode: phases of training, testing and
 * settling, held-out evaluations, traces, weight snapshots and checkpoints,
 * over an integrator of integrate.c.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "bp_cosine.h"
#include "circuit_int.h"

int apical_evaluate(apical_circuit *c, const apical_run_opts *o, size_t stim, long n,
                    apical_metrics *m, char *err, size_t cap)
{
    m->angle_deg = apical_feedback_angle(c, APICAL_ALL_POPS);
    apical_stim *s = &c->stims[stim];
    long steps = lround(o->eval_settle_ms / o->dt);
    apical_sums acc = { 0 };
    apical_bp_acc bp = { 0, 0 };
    apical_integrator *it = apical_integrator_new(c, &o->integ, err, cap);
    if (!it)
        return -1;
    memcpy(c->y_saved, c->y, c->n_y * sizeof(double));
    apical_circuit_keep_delays(c, 0);
    int was_active = s->active, was_on = s->target_on;
    apical_circuit_activate(c, stim, 0); /* no nudging */
    /* the same held-out patterns at every evaluation: the test stream
       restarted, or a table's rows from the first */
    gsl_rng_set(c->rng_test, c->seed ^ 0x5eed7e57UL);
    size_t row = s->next_row, *perm = s->perm;
    s->next_row = 0;
    s->perm = NULL; /* in order, however training shows them */
    int rc = 0;
    /* with copies, B held-out patterns at a time, one per copy (copies past
       the n-th pattern settle too, unmeasured) */
    const long B = (long)c->copies;
    for (long k = 0; k < n && rc == 0; k += B) {
        if (o->stop && *o->stop) {
            snprintf(err, cap, "stopped during an evaluation (%ld of %ld held-out patterns)", k,
                     n);
            rc = APICAL_RUN_STOPPED;
            break;
        }
        memcpy(c->y, c->y_saved, c->n_y * sizeof(double));
        apical_circuit_keep_delays(c, 1);
        apical_integrator_reset(it);
        apical_stim_next_copies(c, s, c->rng_test);
        for (long t = 0; t < steps && rc == 0; t++)
            rc = apical_circuit_eval(c, err, cap) || apical_integrator_advance(it, o->dt, 0, err, cap);
        if (rc == 0 && (rc = apical_circuit_eval(c, err, cap)) == 0)
            for (long b = 0; b < B && k + b < n && rc == 0; b++)
                rc = apical_measure_copy(c, s, (size_t)b, &acc, err, cap);
        if (rc == 0 && o->eval_bp_cosine)
            rc = apical_bp_cosine_pattern(c, it, s, steps, o->dt, &bp, err, cap);
    }
    memcpy(c->y, c->y_saved, c->n_y * sizeof(double));
    apical_circuit_keep_delays(c, 1);
    s->next_row = row;
    s->perm = perm;
    if (was_active)
        apical_circuit_activate(c, stim, was_on);
    apical_integrator_free(it);
    m->apical_sq = acc.n_apical ? acc.apical / (double)acc.n_apical : NAN;
    m->mismatch_sq = acc.n_mismatch ? acc.mismatch / (double)acc.n_mismatch : NAN;
    m->test_error = acc.n_error ? acc.error / (double)acc.n_error : NAN;
    m->bp_cosine = bp.n ? bp.sum / (double)bp.n : NAN;
    m->class_error = acc.n_class ? (double)acc.wrong / (double)acc.n_class : NAN;
    return rc == APICAL_RUN_STOPPED ? rc : rc ? -1 : 0;
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
                         NAN, NAN, NAN, r->c->stims[stim].name };
    int rc = apical_evaluate(r->c, r->o, stim, n, &m, err, cap);
    if (rc != 0)
        return rc;
    if (r->o->on_metrics)
        r->o->on_metrics(r->o->user, &m);
    return 0;
}

/* Integrate `steps` steps with the active stimulus as it is, the first
   `held` of them without plasticity; with stoppable, a stop request ends it
   between two steps (APICAL_RUN_STOPPED). */
static int integrate(run_state *r, long steps, long held, unsigned flags, int stoppable,
                     char *err, size_t cap)
{
    const apical_run_opts *o = r->o;
    for (long t = 0; t < steps; t++, r->pos.step++) {
        if (stoppable && o->stop && *o->stop) {
            snprintf(err, cap, "stopped at t = %g ms, %ld ms into a settle phase of %g ms",
                     (double)r->pos.step * o->dt, (long)((double)t * o->dt), (double)steps * o->dt);
            return APICAL_RUN_STOPPED;
        }
        if (apical_circuit_eval(r->c, err, cap) != 0)
            return -1;
        if (r->tracing && o->on_trace && o->trace_every > 0 && r->pos.step % o->trace_every == 0)
            o->on_trace(o->user, (double)r->pos.step * o->dt, r->c);
        if (apical_integrator_advance(r->it, o->dt, t < held ? flags & ~APICAL_STEP_PLASTIC : flags,
                                      err, cap) != 0)
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

/* After a training pattern, and before the first one of a run: the
   evaluation and the weight snapshot.  A checkpoint at a pattern boundary
   is written before these, so that a run resumed from it repeats them. */
static int after_pattern(run_state *r, const apical_phase *ph, char *err, size_t cap)
{
    const apical_run_opts *o = r->o;
    long p = (long)r->pos.pattern;
    if (o->eval_every > 0 && p % o->eval_every == 0) {
        int rc = emit(r, "train", ph->stim, o->eval_patterns, err, cap);
        if (rc != 0)
            return rc;
    }
    if (o->on_weights && o->weights_every > 0 && p % o->weights_every == 0)
        o->on_weights(o->user, p, r->c);
    return 0;
}

/* A stop request seen at or inside the current phase (rc from the step
   that saw it): with checkpoint, one is written at the current position
   first.  Returns APICAL_RUN_STOPPED, or -1 when the checkpoint fails. */
static int stopped(run_state *r, int rc, int write, const char *where, char *err, size_t cap)
{
    if (rc != APICAL_RUN_STOPPED)
        return rc;
    if (write && checkpoint(r, err, cap) != 0)
        return -1;
    snprintf(err, cap, "stopped at pattern %ld (t = %g ms)%s; a checkpoint was written",
             (long)r->pos.pattern, (double)r->pos.step * r->o->dt, where);
    return APICAL_RUN_STOPPED;
}

static int run_phase(run_state *r, const apical_phase *ph, int resumed, char *err, size_t cap)
{
    apical_circuit *c = r->c;
    const apical_run_opts *o = r->o;
    unsigned flags = phase_flags(c, o, ph);
    if (r->pos.in_phase > 0 && ph->kind != APICAL_PHASE_TRAIN)
        return 0; /* resumed after it */
    const double rates = ph->rate_scale > 0 ? ph->rate_scale : 1.0;
    if (ph->kind != APICAL_PHASE_TEST &&
        apical_circuit_set_rate_scale_role(c, rates, APICAL_ROLE_DENDRITE,
                                           o->interneuron_rates > 0 ? o->interneuron_rates
                                                                    : rates,
                                           err, cap))
        return -1;
    if (ph->kind == APICAL_PHASE_TEST) /* resumed at its start after a stop */
        return stopped(r, emit(r, "test", ph->stim, ph->patterns, err, cap), 1,
                       ", during a test phase (repeated on resume)", err, cap);
    if (ph->kind == APICAL_PHASE_SETTLE) {
        /* a stop inside it resumes from its start */
        if (o->stop && checkpoint(r, err, cap) != 0)
            return -1;
        apical_circuit_activate(c, r->pos.last_stim, ph->target);
        int rc = integrate(r, lround(ph->present_ms / o->dt), 0, flags, 1, err, cap);
        if (rc == APICAL_RUN_STOPPED)
            snprintf(err, cap, "stopped at t = %g ms, in a settle phase; the checkpoint from "
                     "its start (pattern %ld) was written (resume repeats the phase)",
                     (double)r->pos.step * o->dt, (long)r->pos.pattern);
        return rc;
    }
    apical_stim *s = &c->stims[ph->stim];
    const long steps = lround(ph->present_ms / o->dt);
    const long held = lround(ph->plastic_after_ms / o->dt);
    r->pos.last_stim = ph->stim;
    apical_circuit_activate(c, ph->stim, ph->target);
    const char *in_eval = ", during an evaluation (repeated on resume)";
    /* before the first pattern, or what a checkpoint of the boundary left */
    if (r->pos.pattern == 0 || (resumed && r->pos.in_phase > 0)) {
        int rc = after_pattern(r, ph, err, cap);
        if (rc != 0)
            return stopped(r, rc, 1, in_eval, err, cap);
    }
    while (r->pos.in_phase < ph->patterns) {
        /* with copies, one pattern per copy at once (the phase's count is a
           multiple of them) */
        apical_stim_next_copies(c, s, c->rng_train);
        if (integrate(r, steps, held, flags, 0, err, cap) != 0)
            return -1;
        r->pos.pattern += (long)c->copies;
        r->pos.in_phase += (long)c->copies;
        /* before the stop check: a stop the report asks for (a caller's
           callback) takes effect at this pattern */
        if (o->on_progress)
            o->on_progress(o->user, r->pos.pattern, r->total);
        int stop = o->stop && *o->stop;
        if ((stop || (o->checkpoint_every > 0 && r->pos.pattern % o->checkpoint_every == 0)) &&
            checkpoint(r, err, cap) != 0)
            return -1;
        if (stop)
            return stopped(r, APICAL_RUN_STOPPED, 0, "", err, cap);
        int rc = after_pattern(r, ph, err, cap);
        if (rc != 0)
            return stopped(r, rc, 1, in_eval, err, cap);
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
        apical_circuit_activate(c, r.pos.last_stim, 0);
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
        r.tracing = !o->trace_phases || o->trace_phases[i];
        rc = run_phase(&r, &o->phases[i], o->resume && i == o->resume->phase, err, cap);
    }
    if (rc == 0)
        rc = checkpoint(&r, err, cap); /* the final state */
    apical_circuit_set_rate_scale(c, 1.0, NULL, 0); /* the configured rates again */
    apical_integrator_free(r.it);
    return rc;
}
