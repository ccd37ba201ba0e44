/*
 * prospective -- a cell with direct feedthrough, for the feedthrough tests
 * (tests/check_feedthrough.c) and the conformance check.
 *
 *   tau du/dt = -u + I,   I = input + drive
 *   rate     = phi(u)                      (state stage)
 *   rate_pro = phi(u + tau_p du/dt)        (port stage: the prospective rate)
 *   phi(x)   = 1 / (1 + exp(-beta x))
 *
 * rate_pro reads the ports of the same step, so a projection carrying it
 * is a feedthrough.  Its blocks for the host's Jacobian come from
 * jacobian_obs: with k = tau_p / tau and v = u + k (I - u),
 * d rate_pro / d u = phi'(v) (1 - k) and d rate_pro / d port = phi'(v) k.
 */
#include <math.h>

#include "apical.h"

enum { P_TAU, P_TAU_P, P_BETA, N_PARAMS };
enum { IN_INPUT, IN_DRIVE, N_PORTS };
enum { O_U, O_RATE, O_PRO, N_OBS };

static const apical_param params[N_PARAMS] = {
    { "tau", "ms", "membrane time constant", 10.0, 0.1, 1000, NULL },
    { "tau_p", "ms", "how far ahead the prospective rate looks", 10.0, 0, 1000, NULL },
    { "beta", "1", "slope of the logistic transfer function", 1.0, 0.01, 100, NULL },
};

static const apical_var state[] = { { "u", "a.u.", "somatic potential", 0 } };

static const apical_var ports[N_PORTS] = {
    { "input", "a.u.", "input from other populations", 0 },
    { "drive", "a.u.", "external drive", 0 },
};

static const apical_observable obs[N_OBS] = {
    { "u", "a.u.", "somatic potential", APICAL_OBS_STATE },
    { "rate", "1", "phi(u)", APICAL_OBS_STATE },
    { "rate_pro", "1", "phi(u + tau_p du/dt), the prospective rate", APICAL_OBS_PORTS },
};

static const apical_role_entry roles[] = {
    { APICAL_ROLE_POTENTIAL, "u" },
    { APICAL_ROLE_RATE, "rate" },
    { APICAL_ROLE_DRIVE, "drive" },
};

static double phi(double beta, double x)
{
    return 1.0 / (1.0 + exp(-beta * x));
}

static int rhs(const apical_cell_ctx *c, double *dydt)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double tau = c->p[P_TAU], *u = c->y, *a = c->in + IN_INPUT * ld,
                 *d = c->in + IN_DRIVE * ld;
    for (size_t i = 0; i < n; i++)
        dydt[i] = (-u[i] + a[i] + d[i]) / tau;
    return APICAL_OK;
}

/* u + tau_p du/dt of cell i */
static double ahead(const apical_cell_ctx *c, size_t ld, size_t i)
{
    const double k = c->p[P_TAU_P] / c->p[P_TAU], u = c->y[i];
    return u + k * (c->in[IN_INPUT * ld + i] + c->in[IN_DRIVE * ld + i] - u);
}

static int observe(const apical_cell_ctx *c, uint32_t stage, double *o)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double beta = c->p[P_BETA];
    for (size_t i = 0; i < n; i++) {
        if (stage == APICAL_OBS_STATE) {
            o[O_U * ld + i] = c->y[i];
            o[O_RATE * ld + i] = phi(beta, c->y[i]);
        } else if (!c->need || c->need[O_PRO]) {
            o[O_PRO * ld + i] = phi(beta, ahead(c, ld, i));
        }
    }
    return APICAL_OK;
}

static int jacobian(const apical_cell_ctx *c, double *dfdy, double *dfdin, double *dody)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double tau = c->p[P_TAU], beta = c->p[P_BETA];
    for (size_t i = 0; i < n; i++) {
        const double r = phi(beta, c->y[i]);
        dfdy[i] = -1.0 / tau;
        dfdin[IN_INPUT * ld + i] = 1.0 / tau;
        dfdin[IN_DRIVE * ld + i] = 1.0 / tau;
        dody[O_U * ld + i] = 1.0;
        dody[O_RATE * ld + i] = beta * r * (1.0 - r);
    }
    return APICAL_OK;
}

static int jacobian_obs(const apical_cell_ctx *c, double *dody, double *dodin)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double k = c->p[P_TAU_P] / c->p[P_TAU], beta = c->p[P_BETA];
    for (size_t i = 0; i < n; i++) {
        const double r = phi(beta, ahead(c, ld, i)), g = beta * r * (1.0 - r);
        dody[O_PRO * ld + i] = g * (1.0 - k);
        dodin[(O_PRO * N_PORTS + IN_INPUT) * ld + i] = g * k;
        dodin[(O_PRO * N_PORTS + IN_DRIVE) * ld + i] = g * k;
    }
    return APICAL_OK;
}

static int steady(const apical_cell_ctx *c, uint32_t flags, double *y)
{
    (void)flags;
    const size_t ld = APICAL_CTX_LD(c);
    for (size_t i = 0; i < c->n; i++)
        y[i] = c->in[IN_INPUT * ld + i] + c->in[IN_DRIVE * ld + i];
    return APICAL_OK;
}

static const apical_cell_model prospective = {
    .struct_size = sizeof(apical_cell_model),
    .name = "prospective",
    .doc = "leaky integrator whose prospective rate phi(u + tau_p du/dt) reads its ports",
    .version = "1.0.0",
    .params = params, .n_params = N_PARAMS,
    .state = state, .n_state = 1,
    .ports = ports, .n_ports = N_PORTS,
    .obs = obs, .n_obs = N_OBS,
    .rhs = rhs,
    .observe = observe,
    .jacobian = jacobian,
    .steady = steady,
    .flags = APICAL_CELL_LD,
    .roles = roles, .n_roles = sizeof roles / sizeof *roles,
    .jacobian_obs = jacobian_obs,
};

static const apical_cell_model *const cells[] = { &prospective };

APICAL_LIBRARY("prospective", "1.0.0", cells, 1, NULL, 0)
