/*
 * steady_eval.c -- the metrics of steady and backprop mode after every
 * epoch: the test error of each evaluation stimulus; on the first of them
 * the mean squared apical potential of every apical-fed population
 * (apical_sq) and the mean squared difference between the potential u each
 * one_to_one projection carries and its destination's state (mismatch);
 * the feedback angle of every apical-fed population, the distance of each
 * interneuron population's dendritic weights from their self-predicting
 * values (copy_dev), and the bp_cosine probe (steady_probe.c).
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>

#include "steady_int.h"

/* The weight geometry: feedback angles and copy deviations (NAN where
   not defined). */
static void weight_metrics(apical_steady *s, apical_epoch_metrics *m)
{
    apical_circuit *c = s->c;
    for (size_t i = 0; i < APICAL_STEADY_MAX_POPS; i++)
        m->apical_sq[i] = m->angle_deg[i] = m->copy_dev[i] = NAN;
    for (size_t i = 0; i < c->n_pops; i++) {
        if (c->pops[i].apical_fed)
            m->angle_deg[i] = apical_feedback_angle(c, i);
        m->copy_dev[i] = apical_copy_deviation(c, i);
    }
}

/* The settled batch's squared apical potentials added to asq, per
   apical-fed population. */
static void add_apical_sq(apical_steady *s, double *asq)
{
    apical_circuit *c = s->c;
    const size_t n = s->nb;
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        if (!p->apical_fed || p->obs_v_apical == NONE)
            continue;
        const double *va = s->pops[i].obs + p->obs_v_apical * n * p->n;
        for (size_t j = 0; j < n * p->n; j++)
            asq[i] += va[j] * va[j];
    }
}

/* The settled batch's squared differences between the potential u each
   one_to_one projection carries and its destination's state, added to
   *mis, their number to *n_mis. */
static void add_mismatch(apical_steady *s, double *mis, size_t *n_mis)
{
    apical_circuit *c = s->c;
    const size_t n = s->nb;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        size_t uo = apical_model_find_obs(c->pops[pj->src].model, "u");
        if (!pj->one_to_one || uo == NONE || c->pops[pj->dst].model->n_state != 1)
            continue;
        size_t bn = n * c->pops[pj->dst].n;
        const double *us = s->pops[pj->src].obs + uo * bn, *ud = s->pops[pj->dst].y;
        for (size_t j = 0; j < bn; j++) {
            *mis += (us[j] - ud[j]) * (us[j] - ud[j]);
            (*n_mis)++;
        }
    }
}

/* A stop request (o.stop) ends an evaluation between two batches. */
static int stop_requested(const apical_steady *s, char *err, size_t cap)
{
    if (!s->o.stop || !*s->o.stop)
        return 0;
    snprintf(err, cap, "stopped during an evaluation");
    return 1;
}

int apical_sd_evaluate(apical_steady *s, apical_epoch_metrics *m, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    m->n_eval = s->o.n_eval;
    weight_metrics(s, m);
    m->mismatch_sq = NAN;
    double asq[APICAL_STEADY_MAX_POPS] = { 0 }, mis = 0;
    size_t n_mis = 0;
    int passes = s->o.mode == APICAL_MODE_BACKPROP ? 1 : s->o.passes;
    for (size_t e = 0; e < s->o.n_eval; e++) {
        apical_stim *st = &c->stims[s->o.eval[e]];
        size_t wrong = 0;
        for (size_t from = 0; from < st->count; from += s->B) {
            if (stop_requested(s, err, cap))
                return APICAL_RUN_STOPPED;
            size_t n = st->count - from < s->B ? st->count - from : s->B;
            apical_sd_load_batch(s, s->o.eval[e], NULL, from, n, 0);
            if (apical_sd_sweep(s, passes, err, cap))
                return -1;
            wrong += apical_sd_count_wrong(s, NULL, from, s->pops[st->tgt].rate);
            if (e != 0)
                continue;
            add_apical_sq(s, asq);
            add_mismatch(s, &mis, &n_mis);
        }
        m->error[e] = (double)wrong / (double)st->count;
        if (e == 0) {
            for (size_t i = 0; i < c->n_pops; i++)
                if (c->pops[i].apical_fed && c->pops[i].obs_v_apical != NONE)
                    m->apical_sq[i] = asq[i] / (double)(st->count * c->pops[i].n);
            if (n_mis)
                m->mismatch_sq = mis / (double)n_mis;
        }
    }
    if (stop_requested(s, err, cap))
        return APICAL_RUN_STOPPED;
    return apical_sd_probe(s, m, err, cap);
}
