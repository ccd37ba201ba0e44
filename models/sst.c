/*
 * sst -- two-compartment SST-like interneuron (docs/model.md 1.5).
 *
 *   du/dt = -g_lk u + g_D (v - u) + g_som (u_nudge - u)  [+ noise]
 *   v     = dendrite                 (the summed input W^IP r^P_k)
 *
 * The somatic nudge is permanent: it carries, one to one, the somatic
 * potential of the partner pyramid in the next layer, u^P_{k+1}.
 *
 * Observables:
 *   u, rate = phi(u)                                         (from the state)
 *   v_dendrite, rate_dendrite_pred = phi(c_I v),
 *   err_dendrite = phi(u) - phi(c_I v)                       (Eq. 8)
 * with c_I = g_D / (g_lk + g_D).
 */
#include <stdio.h>

#include "apical.h"
#include "transfer.h"

enum { P_G_LK, P_G_D, P_G_SOM, P_PHI, P_GAMMA, P_BETA, P_THETA, N_PARAMS };
enum { S_U, N_STATE };
enum { IN_DENDRITE, IN_NUDGE, N_PORTS };
enum { O_U, O_RATE, O_VD, O_RDP, O_ED, N_OBS };

static const apical_param params[N_PARAMS] = {
    { "g_lk", "1/ms", "leak conductance", 0.1, 0, INFINITY, NULL },
    { "g_D", "1/ms", "dendrite-to-soma conductance", 1.0, 0, INFINITY, NULL },
    { "g_som", "1/ms", "somatic nudging conductance", 0.8, 0, INFINITY, NULL },
    APICAL_TRANSFER_PARAMS,
};

static const apical_var state[N_STATE] = {
    { "u", "a.u.", "somatic potential", APICAL_VAR_NOISY },
};

static const apical_var ports[N_PORTS] = {
    { "dendrite", "a.u.", "input from the layer's pyramids, sums into v", 0 },
    { "nudge", "a.u.", "somatic potential of the partner pyramid (one to one)", 0 },
};

static const apical_observable obs[N_OBS] = {
    { "u", "a.u.", "somatic potential", APICAL_OBS_STATE },
    { "rate", "a.u.", "phi(u)", APICAL_OBS_STATE },
    { "v_dendrite", "a.u.", "dendritic potential v", APICAL_OBS_PORTS },
    { "rate_dendrite_pred", "a.u.", "phi(c_I v), the dendritic prediction of the rate", APICAL_OBS_PORTS },
    { "err_dendrite", "a.u.", "phi(u) - phi(c_I v) (Eq. 8)", APICAL_OBS_PORTS },
};

static int check(const double *p, char *msg, size_t cap)
{
    if (!(p[P_G_LK] + p[P_G_D] > 0)) {
        snprintf(msg, cap, "g_lk + g_D must be positive");
        return APICAL_EINVAL;
    }
    return APICAL_OK;
}

static int rhs(const apical_cell_ctx *c, double *dydt)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *u = c->y;
    const double *v = c->in + IN_DENDRITE * ld, *nu = c->in + IN_NUDGE * ld;
    const double glk = p[P_G_LK], gd = p[P_G_D], gs = p[P_G_SOM];
    for (size_t i = 0; i < n; i++)
        dydt[i] = -glk * u[i] + gd * (v[i] - u[i]) + gs * (nu[i] - u[i]);
    return APICAL_OK;
}

static int observe(const apical_cell_ctx *c, uint32_t stage, double *o)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *u = c->y;
    apical_transfer t = apical_transfer_make(p[P_PHI], p[P_GAMMA], p[P_BETA], p[P_THETA]);
    if (stage == APICAL_OBS_STATE) {
        for (size_t i = 0; i < n; i++)
            o[O_U * ld + i] = u[i];
        apical_phi_n(&t, n, 1.0, u, o + O_RATE * ld);
        return APICAL_OK;
    }
    /* port stage: the rate row of this state is already there */
    const double ci = p[P_G_D] / (p[P_G_LK] + p[P_G_D]);
    const double *v = c->in + IN_DENDRITE * ld, *r = o + O_RATE * ld;
    const uint8_t *need = c->need;
    if (!need || need[O_VD])
        for (size_t i = 0; i < n; i++)
            o[O_VD * ld + i] = v[i];
    if (!need || need[O_RDP] || need[O_ED]) {
        apical_phi_n(&t, n, ci, v, o + O_RDP * ld);
        for (size_t i = 0; i < n; i++)
            o[O_ED * ld + i] = r[i] - o[O_RDP * ld + i];
    }
    return APICAL_OK;
}

static int jacobian(const apical_cell_ctx *c, double *dfdy, double *dfdin, double *dody)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *u = c->y;
    apical_transfer t = apical_transfer_make(p[P_PHI], p[P_GAMMA], p[P_BETA], p[P_THETA]);
    for (size_t i = 0; i < n; i++) {
        dfdy[i] = -(p[P_G_LK] + p[P_G_D] + p[P_G_SOM]);
        dfdin[IN_DENDRITE * ld + i] = p[P_G_D];
        dfdin[IN_NUDGE * ld + i] = p[P_G_SOM];
        dody[O_U * ld + i] = 1.0;
    }
    apical_dphi_n(&t, n, u, dody + O_RATE * ld);
    return APICAL_OK;
}

/* The soma where du/dt = 0 with the ports held.  In the upward sweep the
   partner pyramid is not computed yet: the soma is then the dendrite's
   prediction c_I v without the nudge (docs/model.md 4). */
static int steady(const apical_cell_ctx *c, uint32_t flags, double *y)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p;
    const double *v = c->in + IN_DENDRITE * ld, *nu = c->in + IN_NUDGE * ld;
    const double glk = (flags & APICAL_STEADY_LITERAL) ? 0.0 : p[P_G_LK], gd = p[P_G_D];
    const double gs = (flags & APICAL_STEADY_UP) ? 0.0 : p[P_G_SOM];
    if (!(glk + gd + gs > 0))
        return APICAL_EINVAL;
    for (size_t i = 0; i < n; i++)
        y[i] = (gd * v[i] + gs * nu[i]) / (glk + gd + gs);
    return APICAL_OK;
}

static const apical_role_entry roles[] = {
    { APICAL_ROLE_DENDRITE, "dendrite" },
    { APICAL_ROLE_NUDGE, "nudge" },
    { APICAL_ROLE_POTENTIAL, "u" },
    { APICAL_ROLE_RATE, "rate" },
};

/* du/d(dendrite) with only the dendrite fed, the nudging off:
   c_I = g_D / (g_lk + g_D); the nudge port is a teaching signal, without
   an attenuation of its own */
static int attenuation(const double *p, size_t port, double *a)
{
    if (port != IN_DENDRITE)
        return APICAL_EINVAL;
    *a = p[P_G_D] / (p[P_G_LK] + p[P_G_D]);
    return APICAL_OK;
}

static const apical_cell_model sst = {
    .struct_size = sizeof(apical_cell_model),
    .name = "sst",
    .doc = "SST-like interneuron: soma and dendrite, nudged one to one by the next layer's pyramids",
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
    .attenuation = attenuation,
};

static const apical_cell_model *const cells[] = { &sst };

APICAL_LIBRARY("sst", "1.2.0", cells, 1, NULL, 0)
