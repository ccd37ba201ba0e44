/*
 * broken_cell -- a cell module with deliberate faults, for the conformance
 * check's tests (tests/check_conformance.c, tests/conformance.sh).
 *
 *   du/dt = -g_lk u + g_d (drive - u) + g_n (nudge - u)
 *   rate = tanh(u);  v_drive = drive;  err_drive = rate - tanh(v_drive)
 *
 * Its faults, each of which the check must find:
 *   - jacobian: d(du/dt)/d(nudge) is off by 0.25 (jacobian.dfdin);
 *   - steady leaves g_n out of the denominator, so it is no root of rhs
 *     (steady.root);
 *   - rhs reads the nudge row n, not ld, after the drive row although the
 *     model is flagged APICAL_CELL_LD (ld.rhs);
 *   - observe computes err_drive from the v_drive row even when v_drive is
 *     not needed and therefore not written (need);
 *   - its roles table gives the rate role to an observable it does not
 *     have (roles);
 *   - attenuation says 1 for the drive port, where the steady state moves
 *     by g_d / (g_lk + g_d) (attenuation).
 * Everything else is right: dfdy, dody, the tables, the other row slices.
 */
#include <math.h>

#include "apical.h"

enum { P_G_LK, P_G_D, P_G_N, N_PARAMS };
enum { IN_DRIVE, IN_NUDGE, N_PORTS };
enum { O_U, O_RATE, O_V, O_ERR, N_OBS };

static const apical_param params[N_PARAMS] = {
    { "g_lk", "1/ms", "leak", 0.1, 0.05, 1, NULL },
    { "g_d", "1/ms", "drive conductance", 1.0, 0.1, 2, NULL },
    { "g_n", "1/ms", "nudge conductance", 0.5, 0.1, 1, NULL },
};

static const apical_var state[] = { { "u", "a.u.", "potential", 0 } };

static const apical_var ports[N_PORTS] = {
    { "drive", "a.u.", "driving input", 0 },
    { "nudge", "a.u.", "nudging input", 0 },
};

static const apical_observable obs[N_OBS] = {
    { "u", "a.u.", "potential", APICAL_OBS_STATE },
    { "rate", "a.u.", "tanh(u)", APICAL_OBS_STATE },
    { "v_drive", "a.u.", "the drive", APICAL_OBS_PORTS },
    { "err_drive", "a.u.", "tanh(u) - tanh(drive)", APICAL_OBS_PORTS },
};

static int rhs(const apical_cell_ctx *c, double *dydt)
{
    const size_t n = c->n;
    const double *p = c->p, *u = c->y, *d = c->in, *nu = c->in + IN_NUDGE * n; /* fault */
    for (size_t i = 0; i < n; i++)
        dydt[i] = -p[P_G_LK] * u[i] + p[P_G_D] * (d[i] - u[i]) + p[P_G_N] * (nu[i] - u[i]);
    return APICAL_OK;
}

static int observe(const apical_cell_ctx *c, uint32_t stage, double *o)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    if (stage == APICAL_OBS_STATE) {
        for (size_t i = 0; i < n; i++) {
            o[O_U * ld + i] = c->y[i];
            o[O_RATE * ld + i] = tanh(c->y[i]);
        }
        return APICAL_OK;
    }
    const uint8_t *need = c->need;
    if (!need || need[O_V])
        for (size_t i = 0; i < n; i++)
            o[O_V * ld + i] = c->in[IN_DRIVE * ld + i];
    if (!need || need[O_ERR])
        for (size_t i = 0; i < n; i++) /* fault: reads a row that may not be written */
            o[O_ERR * ld + i] = o[O_RATE * ld + i] - tanh(o[O_V * ld + i]);
    return APICAL_OK;
}

static int jacobian(const apical_cell_ctx *c, double *dfdy, double *dfdin, double *dody)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p;
    for (size_t i = 0; i < n; i++) {
        double t = tanh(c->y[i]);
        dfdy[i] = -(p[P_G_LK] + p[P_G_D] + p[P_G_N]);
        dfdin[IN_DRIVE * ld + i] = p[P_G_D];
        dfdin[IN_NUDGE * ld + i] = p[P_G_N] + 0.25; /* fault */
        dody[O_U * ld + i] = 1;
        dody[O_RATE * ld + i] = 1 - t * t;
    }
    return APICAL_OK;
}

static int steady(const apical_cell_ctx *c, uint32_t flags, double *y)
{
    (void)flags;
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p;
    for (size_t i = 0; i < n; i++) /* fault: g_n missing from the denominator */
        y[i] = (p[P_G_D] * c->in[IN_DRIVE * ld + i] + p[P_G_N] * c->in[IN_NUDGE * ld + i]) /
               (p[P_G_LK] + p[P_G_D]);
    return APICAL_OK;
}

static const apical_role_entry roles[] = {
    { APICAL_ROLE_POTENTIAL, "u" },
    { APICAL_ROLE_RATE, "firing_rate" }, /* fault: the observable is "rate" */
};

static int attenuation(const double *p, size_t port, double *a)
{
    (void)p;
    if (port != IN_DRIVE)
        return APICAL_EINVAL;
    *a = 1.0; /* fault */
    return APICAL_OK;
}

static const apical_cell_model broken_cell = {
    .struct_size = sizeof(apical_cell_model),
    .name = "broken_cell",
    .doc = "a cell with deliberate faults, for the conformance check's tests",
    .version = "0.0.1",
    .params = params, .n_params = N_PARAMS,
    .state = state, .n_state = 1,
    .ports = ports, .n_ports = N_PORTS,
    .obs = obs, .n_obs = N_OBS,
    .rhs = rhs,
    .observe = observe,
    .jacobian = jacobian,
    .steady = steady,
    .flags = APICAL_CELL_LD,
    .roles = roles, .n_roles = 2,
    .attenuation = attenuation,
};

static const apical_cell_model *const cells[] = { &broken_cell };

APICAL_LIBRARY("broken_cell", "0.0.1", cells, 1, NULL, 0)
