/*
 * rate_input -- sensory input population (docs/model.md 1.7).
 *
 *   dr/dt = (x - r) / tau
 *
 * x is the pattern on port `drive`; r is the input rate r^P_0 handed to the
 * first hidden layer as it is (no transfer function: docs/model.md 6, item 5).
 * The host integrates r like any other state, so the dendrites of a step see
 * r(t), not the already-updated r(t + dt) of most published loops
 * (docs/model.md, Appendix A, ordering note).
 */
#include <math.h>
#include <stdio.h>

#include "apical.h"

enum { P_TAU, N_PARAMS };
enum { S_R, N_STATE };
enum { IN_DRIVE, N_PORTS };
enum { O_RATE, O_U, N_OBS };

static const apical_param params[N_PARAMS] = {
    { "tau", "ms", "low-pass time constant of the input", 3.0, 0, INFINITY, NULL },
};

static const apical_var state[N_STATE] = {
    { "r", "a.u.", "filtered input rate", 0 },
};

static const apical_var ports[N_PORTS] = {
    { "drive", "a.u.", "the presented pattern x", 0 },
};

static const apical_observable obs[N_OBS] = {
    { "rate", "a.u.", "filtered input rate r", APICAL_OBS_STATE },
    { "u", "a.u.", "same as rate (inputs have no separate potential)", APICAL_OBS_STATE },
};

static int check(const double *p, char *msg, size_t cap)
{
    if (!(p[P_TAU] > 0)) {
        snprintf(msg, cap, "tau must be positive");
        return APICAL_EINVAL;
    }
    return APICAL_OK;
}

static int rhs(const apical_cell_ctx *c, double *dydt)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double tau = c->p[P_TAU];
    const double *r = c->y, *x = c->in + IN_DRIVE * ld;
    for (size_t i = 0; i < n; i++)
        dydt[i] = (x[i] - r[i]) / tau;
    return APICAL_OK;
}

static int observe(const apical_cell_ctx *c, uint32_t stage, double *o)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    if (stage != APICAL_OBS_STATE)
        return APICAL_OK;
    for (size_t i = 0; i < n; i++)
        o[O_RATE * ld + i] = o[O_U * ld + i] = c->y[i];
    return APICAL_OK;
}

static int jacobian(const apical_cell_ctx *c, double *dfdy, double *dfdin, double *dody)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double tau = c->p[P_TAU];
    for (size_t i = 0; i < n; i++) {
        dfdy[i] = -1.0 / tau;
        dfdin[IN_DRIVE * ld + i] = 1.0 / tau;
        dody[O_RATE * ld + i] = 1.0;
        dody[O_U * ld + i] = 1.0;
    }
    return APICAL_OK;
}

static int steady(const apical_cell_ctx *c, uint32_t flags, double *y)
{
    (void)flags;
    for (size_t i = 0; i < c->n; i++)
        y[i] = c->in[IN_DRIVE * APICAL_CTX_LD(c) + i];
    return APICAL_OK;
}

static const apical_role_entry roles[] = {
    { APICAL_ROLE_DRIVE, "drive" },
    { APICAL_ROLE_POTENTIAL, "u" },
    { APICAL_ROLE_RATE, "rate" },
};

static const apical_cell_model rate_input = {
    .struct_size = sizeof(apical_cell_model),
    .name = "rate_input",
    .doc = "input rates: the presented pattern, low-pass filtered with tau",
    .version = "1.2.0",
    .params = params, .n_params = N_PARAMS,
    .state = state, .n_state = N_STATE,
    .ports = ports, .n_ports = N_PORTS,
    .obs = obs, .n_obs = N_OBS,
    .check = check,
    .rhs = rhs,
    .observe = observe,
    .jacobian = jacobian,
    .steady = steady,
    .flags = APICAL_CELL_LD,
    .roles = roles, .n_roles = sizeof roles / sizeof roles[0],
};

static const apical_cell_model *const cells[] = { &rate_input };

APICAL_LIBRARY("rate_input", "1.2.0", cells, 1, NULL, 0)
