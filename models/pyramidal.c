/*
 * pyramidal -- three-compartment pyramidal neuron (docs/model.md 1.3, 1.4).
 *
 * Soma u with instantaneous basal (v_B) and apical (v_A) dendrites:
 *
 *   du/dt = -g_lk u + g_B (v_B - u) + g_A (v_A - u) + g_som s (u_trgt - u)  [+ noise]
 *   v_B   = basal                      (the summed bottom-up input W r)
 *   v_A   = apical + apical_inh        (top-down pyramids + lateral interneurons)
 *
 * The apical dendrite has two ports because Eq. 10 predicts the soma from the
 * top-down part alone.  s = target_gate switches the teaching current on
 * (s = 1) or off (s = 0); an output layer is this cell with g_A = 0.
 *
 * Observables:
 *   u, rate = phi(u)                                        (from the state)
 *   v_basal, v_apical, rate_basal_pred = phi(c_B v_B),
 *   err_basal  = phi(u) - phi(c_B v_B)                      (Eq. 7)
 *   err_apical = phi(u) - phi(apical)                       (Eq. 10)
 * with the basal attenuation c_B = g_B / (g_lk + g_B + g_A): the soma's
 * steady state when only the basal dendrite drives it.
 */
#include <stdio.h>

#include "apical.h"
#include "transfer.h"

enum { P_G_LK, P_G_B, P_G_A, P_G_SOM, P_PHI, P_GAMMA, P_BETA, P_THETA, N_PARAMS };
enum { S_U, N_STATE };
enum { IN_BASAL, IN_APICAL, IN_APICAL_INH, IN_TARGET, IN_GATE, N_PORTS };
enum { O_U, O_RATE, O_VB, O_VA, O_RBP, O_EB, O_EA, N_OBS };

static const apical_param params[N_PARAMS] = {
    { "g_lk", "1/ms", "leak conductance", 0.1, 0, INFINITY, NULL },
    { "g_B", "1/ms", "basal-to-soma conductance", 1.0, 0, INFINITY, NULL },
    { "g_A", "1/ms", "apical-to-soma conductance (0 for an output layer)", 0.8, 0, INFINITY, NULL },
    { "g_som", "1/ms", "somatic teaching conductance", 0.8, 0, INFINITY, NULL },
    APICAL_TRANSFER_PARAMS,
};

static const apical_var state[N_STATE] = {
    { "u", "a.u.", "somatic potential", APICAL_VAR_NOISY },
};

static const apical_var ports[N_PORTS] = {
    { "basal", "a.u.", "bottom-up input, sums into v_B", 0 },
    { "apical", "a.u.", "top-down input, sums into v_A", 0 },
    { "apical_inh", "a.u.", "interneuron input, sums into v_A", 0 },
    { "target", "a.u.", "teaching potential u_trgt", 0 },
    { "target_gate", "1", "teaching current on (1) or off (0)", 0 },
};

static const apical_observable obs[N_OBS] = {
    { "u", "a.u.", "somatic potential", APICAL_OBS_STATE },
    { "rate", "a.u.", "phi(u)", APICAL_OBS_STATE },
    { "v_basal", "a.u.", "basal potential v_B", APICAL_OBS_PORTS },
    { "v_apical", "a.u.", "apical potential v_A", APICAL_OBS_PORTS },
    { "rate_basal_pred", "a.u.", "phi(c_B v_B), the basal prediction of the rate", APICAL_OBS_PORTS },
    { "err_basal", "a.u.", "phi(u) - phi(c_B v_B) (Eq. 7)", APICAL_OBS_PORTS },
    { "err_apical", "a.u.", "phi(u) - phi(top-down apical input) (Eq. 10)", APICAL_OBS_PORTS },
};

static double basal_attenuation(const double *p)
{
    return p[P_G_B] / (p[P_G_LK] + p[P_G_B] + p[P_G_A]);
}

static int check(const double *p, char *msg, size_t cap)
{
    /* c_B needs g_lk + g_B + g_A > 0; the table's bounds allow all zeros */
    if (!(p[P_G_LK] + p[P_G_B] + p[P_G_A] > 0)) {
        snprintf(msg, cap, "g_lk + g_B + g_A must be positive");
        return APICAL_EINVAL;
    }
    return APICAL_OK;
}

static int rhs(const apical_cell_ctx *c, double *dydt)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *u = c->y;
    const double *vb = c->in + IN_BASAL * ld, *ta = c->in + IN_APICAL * ld,
                 *ti = c->in + IN_APICAL_INH * ld, *tg = c->in + IN_TARGET * ld,
                 *gate = c->in + IN_GATE * ld;
    const double glk = p[P_G_LK], gb = p[P_G_B], ga = p[P_G_A], gs = p[P_G_SOM];
    for (size_t i = 0; i < n; i++) {
        double va = ta[i] + ti[i];
        dydt[i] = -glk * u[i] + gb * (vb[i] - u[i]) + ga * (va - u[i])
                  + gs * gate[i] * (tg[i] - u[i]);
    }
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
    const double cb = basal_attenuation(p);
    const double *vb = c->in + IN_BASAL * ld, *ta = c->in + IN_APICAL * ld,
                 *ti = c->in + IN_APICAL_INH * ld, *r = o + O_RATE * ld;
    const uint8_t *need = c->need;
    if (!need || need[O_VB])
        for (size_t i = 0; i < n; i++)
            o[O_VB * ld + i] = vb[i];
    if (!need || need[O_VA])
        for (size_t i = 0; i < n; i++)
            o[O_VA * ld + i] = ta[i] + ti[i];
    if (!need || need[O_RBP] || need[O_EB]) {
        apical_phi_n(&t, n, cb, vb, o + O_RBP * ld);
        for (size_t i = 0; i < n; i++)
            o[O_EB * ld + i] = r[i] - o[O_RBP * ld + i];
    }
    if (!need || need[O_EA]) {
        apical_phi_n(&t, n, 1.0, ta, o + O_EA * ld);
        for (size_t i = 0; i < n; i++)
            o[O_EA * ld + i] = r[i] - o[O_EA * ld + i];
    }
    return APICAL_OK;
}

static int jacobian(const apical_cell_ctx *c, double *dfdy, double *dfdin, double *dody)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *u = c->y;
    const double *tg = c->in + IN_TARGET * ld, *gate = c->in + IN_GATE * ld;
    const double glk = p[P_G_LK], gb = p[P_G_B], ga = p[P_G_A], gs = p[P_G_SOM];
    apical_transfer t = apical_transfer_make(p[P_PHI], p[P_GAMMA], p[P_BETA], p[P_THETA]);
    for (size_t i = 0; i < n; i++) {
        dfdy[i] = -(glk + gb + ga + gs * gate[i]);
        dfdin[IN_BASAL * ld + i] = gb;
        dfdin[IN_APICAL * ld + i] = ga;
        dfdin[IN_APICAL_INH * ld + i] = ga;
        dfdin[IN_TARGET * ld + i] = gs * gate[i];
        dfdin[IN_GATE * ld + i] = gs * (tg[i] - u[i]);
        dody[O_U * ld + i] = 1.0;
    }
    apical_dphi_n(&t, n, u, dody + O_RATE * ld);
    return APICAL_OK;
}

/* The soma where du/dt = 0 with the ports held (docs/model.md 2.1); in the
   literal reading of the paper's two-step scheme the leak drops out of the
   mixing factors and the upward sweep takes u = v_B. */
static int steady(const apical_cell_ctx *c, uint32_t flags, double *y)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p;
    const double *vb = c->in + IN_BASAL * ld, *ta = c->in + IN_APICAL * ld,
                 *ti = c->in + IN_APICAL_INH * ld, *tg = c->in + IN_TARGET * ld,
                 *gate = c->in + IN_GATE * ld;
    const int literal = (flags & APICAL_STEADY_LITERAL) != 0;
    const double glk = literal ? 0.0 : p[P_G_LK], gb = p[P_G_B], ga = p[P_G_A], gs = p[P_G_SOM];
    if (literal && (flags & APICAL_STEADY_UP)) {
        for (size_t i = 0; i < n; i++)
            y[i] = vb[i];
        return APICAL_OK;
    }
    if (!(glk + gb + ga > 0))
        return APICAL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        double gt = gs * gate[i];
        y[i] = (gb * vb[i] + ga * (ta[i] + ti[i]) + gt * tg[i]) / (glk + gb + ga + gt);
    }
    return APICAL_OK;
}

static const apical_role_entry roles[] = {
    { APICAL_ROLE_BASAL, "basal" },
    { APICAL_ROLE_APICAL_TOPDOWN, "apical" },
    { APICAL_ROLE_APICAL_LATERAL, "apical_inh" },
    { APICAL_ROLE_TEACH, "target" },
    { APICAL_ROLE_TEACH_GATE, "target_gate" },
    { APICAL_ROLE_POTENTIAL, "u" },
    { APICAL_ROLE_RATE, "rate" },
    { APICAL_ROLE_APICAL_POTENTIAL, "v_apical" },
    { APICAL_ROLE_BASAL_ERROR, "err_basal" },
    { APICAL_ROLE_BASAL_PREDICTION, "rate_basal_pred" },
};

/* du/d(port) with only that dendrite fed: g_X / (g_lk + g_B + g_A) */
static int attenuation(const double *p, size_t port, double *a)
{
    if (port == IN_BASAL)
        *a = basal_attenuation(p);
    else if (port == IN_APICAL || port == IN_APICAL_INH)
        *a = p[P_G_A] / (p[P_G_LK] + p[P_G_B] + p[P_G_A]);
    else
        return APICAL_EINVAL; /* the teaching ports act together */
    return APICAL_OK;
}

static const apical_cell_model pyramidal = {
    .struct_size = sizeof(apical_cell_model),
    .name = "pyramidal",
    .doc = "three-compartment pyramidal neuron: soma, instantaneous basal and apical dendrites",
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

static const apical_cell_model *const cells[] = { &pyramidal };

APICAL_LIBRARY("pyramidal", "1.2.0", cells, 1, NULL, 0)
