/*
 * broken_rule -- a rule module with deliberate faults, for the conformance
 * check's tests (tests/check_conformance.c, tests/conformance.sh).
 *
 *   tau dD/dt = -D + post pre^T,   dW/dt = eta D
 *
 * dwdt and euler are right; the faults the check must find:
 *   - euler_batch takes the observables of the first step for all k steps
 *     (euler_batch);
 *   - euler_batch_f32 moves W with D after D has moved, not before
 *     (euler_batch_f32, euler_batch_f32.pre_f32);
 *   - steady_rate gives a = -1 where the settled rule has a = 1
 *     (steady_rate);
 *   - rate_param names tau, which dW/dt is not proportional to (rate_param).
 */
#include "apical.h"

enum { P_ETA, P_TAU, N_PARAMS };

static const apical_param params[N_PARAMS] = {
    { "eta", "1/ms", "learning rate", 0.1, -1, 1, NULL },
    { "tau", "ms", "time constant of D", 10.0, 1, 100, NULL },
};

static int dwdt(const apical_rule_ctx *c, const double *w, const double *aux, double *dw,
                double *daux)
{
    (void)w;
    const double eta = c->p[P_ETA], tau = c->p[P_TAU];
    for (size_t i = 0; i < c->n_post; i++)
        for (size_t j = 0; j < c->n_pre; j++) {
            size_t k = i * c->n_pre + j;
            dw[k] = eta * aux[k];
            daux[k] = (c->post[i] * c->pre[j] - aux[k]) / tau;
        }
    return APICAL_OK;
}

static void step(size_t m, size_t n, const double *p, const double *post, const double *pre,
                 double dt, double *w, double *aux)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            size_t k = i * n + j;
            w[k] += dt * p[P_ETA] * aux[k];
            aux[k] += dt * (post[i] * pre[j] - aux[k]) / p[P_TAU];
        }
}

static int euler(const apical_rule_ctx *c, double dt, double *w, double *aux)
{
    step(c->n_post, c->n_pre, c->p, c->post, c->pre, dt, w, aux);
    return APICAL_OK;
}

static int euler_batch(const apical_rule_batch *c, double dt, double *w, double *aux)
{
    for (size_t s = 0; s < c->k; s++) /* fault: always the first step's observables */
        step(c->n_post, c->n_pre, c->p, c->post, c->pre, dt, w, aux);
    return APICAL_OK;
}

static int euler_batch_f32(const apical_rule_batch *c, double dt, float *w, float *aux)
{
    const size_t m = c->n_post, n = c->n_pre;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            size_t k = i * n + j;
            double wk = w[k], ak = aux[k];
            for (size_t s = 0; s < c->k; s++) {
                ak += dt * (c->post[s * m + i] * c->pre[s * n + j] - ak) / c->p[P_TAU];
                wk += dt * c->p[P_ETA] * ak; /* fault: D after it moved */
            }
            w[k] = (float)wk;
            aux[k] = (float)ak;
        }
    return APICAL_OK;
}

static void steady_rate(const double *p, double *eta, double *a, double *b)
{
    *eta = p[P_ETA];
    *a = -1.0; /* fault: the settled rule has a = 1 */
    *b = 0.0;
}

static const apical_rule broken_rule = {
    .struct_size = sizeof(apical_rule),
    .name = "broken_rule",
    .doc = "a rule with deliberate faults, for the conformance check's tests",
    .version = "0.0.1",
    .params = params, .n_params = N_PARAMS,
    .post_obs = "rate",
    .n_aux = 1,
    .dwdt = dwdt,
    .euler = euler,
    .euler_batch = euler_batch,
    .euler_batch_f32 = euler_batch_f32,
    .steady_rate = steady_rate,
    .rate_param = 1 + P_TAU,
};

static const apical_rule *const rules[] = { &broken_rule };

APICAL_LIBRARY("broken_rule", "0.0.1", NULL, 0, rules, 1)
