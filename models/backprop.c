/*
 * backprop -- error backpropagation as a rule, for the baseline that the
 * microcircuit is compared with (docs/model.md 6, item 13):
 *
 *   dW = eta * delta_post r_pre^T,  delta_N = (r_trgt - r_N) phi'(u_N),
 *   delta_k = phi'(u_k) (dU_{k+1}/dr_k)^T delta_{k+1}
 *
 * This is a plain SGD step on 1/2 ||r_N - r_trgt||^2.  delta is not
 * local to the synapse: only the host's backprop mode computes it, by
 * sweeping the output error back through the forward weights, so the rule
 * carries APICAL_RULE_NONLOCAL and its dwdt refuses to run.
 */
#include <math.h>
#include <stdio.h>

#include "apical.h"

enum { P_ETA, N_PARAMS };

static const apical_param params[N_PARAMS] = {
    { "eta", "1", "learning rate per mini-batch (mean over the batch)", 0.0, -INFINITY, INFINITY,
      NULL },
};

static int dwdt(const apical_rule_ctx *c, const double *w, const double *aux, double *dw,
                double *daux)
{
    (void)c;
    (void)w;
    (void)aux;
    (void)dw;
    (void)daux;
    return APICAL_EINVAL; /* needs the host's backprop mode */
}

static void steady_rate(const double *p, double *eta, double *a, double *b)
{
    *eta = p[P_ETA];
    *a = 1.0;
    *b = 0.0;
}

static const apical_rule backprop = {
    .struct_size = sizeof(apical_rule),
    .name = "backprop",
    .doc = "eta * delta r_pre with delta backpropagated by the host (simulation mode backprop)",
    .version = "1.1.0",
    .params = params, .n_params = N_PARAMS,
    .post_obs = "rate",
    .n_aux = 0,
    .dwdt = dwdt,
    .steady_rate = steady_rate,
    .flags = APICAL_RULE_NONLOCAL,
    .rate_param = 1 + P_ETA,
};

static const apical_rule *const rules[] = { &backprop };

APICAL_LIBRARY("backprop", "1.0.0", NULL, 0, rules, 1)
