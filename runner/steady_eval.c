/*
 * steady_eval.c -- the metrics of steady and backprop mode after every
 * epoch: the test error of each evaluation stimulus; on the first of them
 * the mean squared apical potential of every apical-fed population
 * (apical_sq) and the mean squared difference between what each one_to_one
 * projection carries and its destination's potential u (mismatch), the
 * same measures as dynamics mode's (analysis.c);
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

/* The settled batch's squared apical potentials (per apical-fed
   population, into asq) and mismatches (into *mis, their number into
   *n_mis), as in dynamics mode (analysis.c). */
static void add_measures(apical_steady *s, double *asq, double *mis, size_t *n_mis)
{
    apical_circuit *c = s->c;
    for (size_t i = 0; i < c->n_pops; i++)
        apical_add_apical_sq(&c->pops[i], s->pops[i].obs, s->nb * c->pops[i].n, &asq[i]);
    for (size_t k = 0; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        *n_mis += apical_add_mismatch(c, pj, s->pops[pj->src].obs, s->pops[pj->dst].obs,
                                      s->nb * c->pops[pj->dst].n, mis);
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
            add_measures(s, asq, &mis, &n_mis);
        }
        m->error[e] = (double)wrong / (double)st->count;
        if (e == 0) {
            for (size_t i = 0; i < c->n_pops; i++)
                if (c->pops[i].apical_fed && c->pops[i].role[APICAL_ROLE_APICAL_POTENTIAL] != NONE)
                    m->apical_sq[i] = asq[i] / (double)(st->count * c->pops[i].n);
            if (n_mis)
                m->mismatch_sq = mis / (double)n_mis;
        }
    }
    if (stop_requested(s, err, cap))
        return APICAL_RUN_STOPPED;
    return apical_sd_probe(s, m, err, cap);
}
