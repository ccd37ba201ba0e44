/*
 * dendritic_error -- dendritic prediction of somatic activity
 * (Urbanczik & Senn 2014; Eqs. 7, 8 and 10 of Sacramento et al. 2018):
 *
 *   tau_w dDelta/dt = -Delta + (phi(u) - phi(vhat)) r_pre^T,   dW/dt = eta Delta
 *
 * The error phi(u) - phi(vhat) is the postsynaptic cell's observable
 * "err_<port>" for the port the projection targets: err_basal (Eq. 7) and
 * err_apical (Eq. 10) of a pyramid, err_dendrite (Eq. 8) of an interneuron.
 */
#include <math.h>
#include <stdio.h>

#include "lowpass_hebb.h"

enum { P_ETA, P_TAU_W, N_PARAMS };

static const apical_param params[N_PARAMS] = {
    { "eta", "1/ms", "learning rate", 0.0, -INFINITY, INFINITY, NULL },
    { "tau_w", "ms", "low-pass time constant of the induction term (0: none)", 30.0, 0, INFINITY, NULL },
};

static int dwdt(const apical_rule_ctx *c, const double *w, const double *aux, double *dw,
                double *daux)
{
    return lowpass_hebb_dwdt(c, c->p[P_ETA], c->p[P_TAU_W], 1.0, 0.0, w, aux, dw, daux);
}

static int euler(const apical_rule_ctx *c, double dt, double *w, double *aux)
{
    return lowpass_hebb_euler(c, c->p[P_ETA], c->p[P_TAU_W], 1.0, 0.0, dt, w, aux);
}

static int euler_batch(const apical_rule_batch *c, double dt, double *w, double *aux)
{
    return lowpass_hebb_batch(c, c->p[P_ETA], c->p[P_TAU_W], 1.0, 0.0, dt, w, aux);
}

static void steady_rate(const double *p, double *eta, double *a, double *b)
{
    *eta = p[P_ETA];
    *a = 1.0;
    *b = 0.0;
}

static int euler_batch_f32(const apical_rule_batch *c, double dt, float *w, float *aux)
{
    return lowpass_hebb_batch_f32(c, c->p[P_ETA], c->p[P_TAU_W], 1.0, 0.0, dt, w, aux);
}

static const apical_rule dendritic_error = {
    .struct_size = sizeof(apical_rule),
    .name = "dendritic_error",
    .doc = "eta * lowpass((phi(u) - phi(vhat)) r_pre): Eqs. 7, 8, 10",
    .version = "1.3.0",
    .params = params, .n_params = N_PARAMS,
    .post_obs = "err_{port}",
    .n_aux = 1,
    .dwdt = dwdt,
    .euler = euler,
    .euler_batch = euler_batch,
    .euler_batch_f32 = euler_batch_f32,
    .steady_rate = steady_rate,
    .flags = APICAL_RULE_COPIES,
    .rate_param = 1 + P_ETA,
};

LOWPASS_HEBB_LIBRARY(dendritic_error, "dendritic_error")
