/*
 * bias -- a population of constant rates, the "extra input fixed at 1"
 * whose plastic weights are the learnable thresholds of docs/model.md 3.4.
 *
 *   rate = value        (no state, no ports)
 *
 * A projection from a bias population into a port adds one learnable
 * offset per target cell; a rule on it learns the offset like any weight.
 */
#include <math.h>
#include <stdio.h>

#include "apical.h"

enum { P_VALUE, N_PARAMS };
enum { O_RATE, N_OBS };

static const apical_param params[N_PARAMS] = {
    { "value", "a.u.", "the constant rate", 1.0, -INFINITY, INFINITY, NULL },
};

static const apical_observable obs[N_OBS] = {
    { "rate", "a.u.", "the constant value", APICAL_OBS_STATE },
};

static int rhs(const apical_cell_ctx *c, double *dydt)
{
    (void)c;
    (void)dydt;
    return APICAL_OK;
}

static int observe(const apical_cell_ctx *c, uint32_t stage, double *o)
{
    if (stage == APICAL_OBS_STATE)
        for (size_t i = 0; i < c->n; i++)
            o[O_RATE * APICAL_CTX_LD(c) + i] = c->p[P_VALUE];
    return APICAL_OK;
}

static int jacobian(const apical_cell_ctx *c, double *dfdy, double *dfdin, double *dody)
{
    (void)c;
    (void)dfdy;
    (void)dfdin;
    (void)dody;
    return APICAL_OK;
}

static int steady(const apical_cell_ctx *c, uint32_t flags, double *y)
{
    (void)c;
    (void)flags;
    (void)y;
    return APICAL_OK;
}

static const apical_role_entry roles[] = {
    { APICAL_ROLE_RATE, "rate" },
};

static const apical_cell_model bias = {
    .struct_size = sizeof(apical_cell_model),
    .name = "bias",
    .doc = "constant rates (value): the fixed input of learnable biases",
    .version = "1.1.0",
    .params = params, .n_params = N_PARAMS,
    .state = NULL, .n_state = 0,
    .ports = NULL, .n_ports = 0,
    .obs = obs, .n_obs = N_OBS,
    .rhs = rhs,
    .observe = observe,
    .jacobian = jacobian,
    .steady = steady,
    .flags = APICAL_CELL_LD,
    .roles = roles, .n_roles = sizeof roles / sizeof roles[0],
};

static const apical_cell_model *const cells[] = { &bias };

APICAL_LIBRARY("bias", "1.1.0", cells, 1, NULL, 0)
