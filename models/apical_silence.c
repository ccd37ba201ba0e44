/*
 * apical_silence -- interneuron-to-pyramid plasticity that silences the
 * apical dendrite (Eq. 9 of Sacramento et al. 2018):
 *
 *   tau_w dDelta/dt = -Delta + (v_rest - v_A) r_I^T,   dW/dt = eta Delta
 *
 * v_A is the postsynaptic pyramid's observable v_apical; r_pre the
 * interneurons' rates.  Its fixed point is a silent apical dendrite: the
 * interneurons cancel the top-down input (the self-predicting state).
 */
#include <math.h>
#include <stdio.h>

#include "lowpass_hebb.h"

enum { P_ETA, P_TAU_W, P_V_REST, N_PARAMS };

static const apical_param params[N_PARAMS] = {
    { "eta", "1/ms", "learning rate", 0.0, -INFINITY, INFINITY, NULL },
    { "tau_w", "ms", "low-pass time constant of the induction term (0: none)", 30.0, 0, INFINITY, NULL },
    { "v_rest", "a.u.", "apical potential the rule drives towards", 0.0, -INFINITY, INFINITY, NULL },
};

static int dwdt(const apical_rule_ctx *c, const double *w, const double *aux, double *dw,
                double *daux)
{
    return lowpass_hebb_dwdt(c, c->p[P_ETA], c->p[P_TAU_W], -1.0, c->p[P_V_REST], w, aux,
                             dw, daux);
}

static int euler(const apical_rule_ctx *c, double dt, double *w, double *aux)
{
    return lowpass_hebb_euler(c, c->p[P_ETA], c->p[P_TAU_W], -1.0, c->p[P_V_REST], dt, w,
                              aux);
}

static int euler_batch(const apical_rule_batch *c, double dt, double *w, double *aux)
{
    return lowpass_hebb_batch(c, c->p[P_ETA], c->p[P_TAU_W], -1.0, c->p[P_V_REST], dt, w, aux);
}

static void steady_rate(const double *p, double *eta, double *a, double *b)
{
    *eta = p[P_ETA];
    *a = -1.0;
    *b = p[P_V_REST];
}

static int euler_batch_f32(const apical_rule_batch *c, double dt, float *w, float *aux)
{
    return lowpass_hebb_batch_f32(c, c->p[P_ETA], c->p[P_TAU_W], -1.0, c->p[P_V_REST], dt, w, aux);
}

static const apical_rule apical_silence = {
    .struct_size = sizeof(apical_rule),
    .name = "apical_silence",
    .doc = "eta * lowpass((v_rest - v_apical) r_pre): Eq. 9",
    .version = "1.4.0",
    .params = params, .n_params = N_PARAMS,
    .post_obs = "v_apical",
    .post_role = APICAL_ROLE_APICAL_POTENTIAL,
    .n_aux = 1,
    .dwdt = dwdt,
    .euler = euler,
    .euler_batch = euler_batch,
    .euler_batch_f32 = euler_batch_f32,
    .steady_rate = steady_rate,
    .flags = APICAL_RULE_COPIES,
    .rate_param = 1 + P_ETA,
};

LOWPASS_HEBB_LIBRARY(apical_silence, "apical_silence")
