/* SPDX-License-Identifier: MIT */
/*
 * tricomp -- an example cell module built outside the apical tree: a soma v
 * with a proximal and a distal dendrite, the same dynamics as apical's
 * pyramidal cell under names of its own.  Its roles table tells a host
 * which port takes the bottom-up input and which observable is the rate, so
 * the runner's features (self-predicting initialisation, teaching, metrics,
 * steady-state mode) work with it as with the pyramidal cell.
 *
 *   dv/dt = -leak v + g_prox (proximal - v) + g_dist (distal + distal_inh - v)
 *           + g_teach teach_on (teach - v)
 *
 * Build against an installed apical (pkg-config), see the Makefile.
 */
#include <stdio.h>

#include <apical.h>
#include <transfer.h>

enum { P_LEAK, P_G_PROX, P_G_DIST, P_G_TEACH, P_PHI, P_GAMMA, P_BETA, P_THETA, N_PARAMS };
enum { IN_PROX, IN_DIST, IN_DIST_INH, IN_TEACH, IN_TEACH_ON, N_PORTS };
enum { O_V, O_R, O_VP, O_VD, O_RP, O_EP, O_ED, N_OBS };

static const apical_param params[N_PARAMS] = {
    { "leak", "1/ms", "leak conductance", 0.1, 0, INFINITY, NULL },
    { "g_prox", "1/ms", "proximal dendrite to soma", 1.0, 0, INFINITY, NULL },
    { "g_dist", "1/ms", "distal dendrite to soma (0: no distal dendrite)", 0.8, 0, INFINITY, NULL },
    { "g_teach", "1/ms", "teaching conductance", 0.8, 0, INFINITY, NULL },
    APICAL_TRANSFER_PARAMS,
};

static const apical_var state[] = {
    { "v", "a.u.", "somatic potential", APICAL_VAR_NOISY },
};

static const apical_var ports[N_PORTS] = {
    { "proximal", "a.u.", "bottom-up input", 0 },
    { "distal", "a.u.", "top-down input", 0 },
    { "distal_inh", "a.u.", "input from interneurons", 0 },
    { "teach", "a.u.", "teaching potential", 0 },
    { "teach_on", "1", "teaching on (1) or off (0)", 0 },
};

static const apical_observable obs[N_OBS] = {
    { "v", "a.u.", "somatic potential", APICAL_OBS_STATE },
    { "r", "a.u.", "phi(v)", APICAL_OBS_STATE },
    { "v_prox", "a.u.", "proximal potential", APICAL_OBS_PORTS },
    { "v_dist", "a.u.", "distal potential", APICAL_OBS_PORTS },
    { "r_prox", "a.u.", "the rate predicted from the proximal dendrite", APICAL_OBS_PORTS },
    /* "err_" + port name: what the dendritic_error rule reads on a port */
    { "err_proximal", "a.u.", "r - r_prox", APICAL_OBS_PORTS },
    { "err_distal", "a.u.", "r - phi(distal)", APICAL_OBS_PORTS },
};

static const apical_role_entry roles[] = {
    { APICAL_ROLE_BASAL, "proximal" },
    { APICAL_ROLE_APICAL_TOPDOWN, "distal" },
    { APICAL_ROLE_APICAL_LATERAL, "distal_inh" },
    { APICAL_ROLE_TEACH, "teach" },
    { APICAL_ROLE_TEACH_GATE, "teach_on" },
    { APICAL_ROLE_POTENTIAL, "v" },
    { APICAL_ROLE_RATE, "r" },
    { APICAL_ROLE_APICAL_POTENTIAL, "v_dist" },
    { APICAL_ROLE_BASAL_ERROR, "err_proximal" },
    { APICAL_ROLE_BASAL_PREDICTION, "r_prox" },
};

static double total(const double *p)
{
    return p[P_LEAK] + p[P_G_PROX] + p[P_G_DIST];
}

static int check(const double *p, char *msg, size_t cap)
{
    if (!(total(p) > 0)) {
        snprintf(msg, cap, "leak + g_prox + g_dist must be positive");
        return APICAL_EINVAL;
    }
    return APICAL_OK;
}

static int rhs(const apical_cell_ctx *c, double *dvdt)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *v = c->y, *in = c->in;
    for (size_t i = 0; i < n; i++) {
        double dist = in[IN_DIST * ld + i] + in[IN_DIST_INH * ld + i];
        dvdt[i] = -p[P_LEAK] * v[i] + p[P_G_PROX] * (in[IN_PROX * ld + i] - v[i]) +
                  p[P_G_DIST] * (dist - v[i]) +
                  p[P_G_TEACH] * in[IN_TEACH_ON * ld + i] * (in[IN_TEACH * ld + i] - v[i]);
    }
    return APICAL_OK;
}

static int observe(const apical_cell_ctx *c, uint32_t stage, double *o)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *v = c->y, *in = c->in;
    apical_transfer t = apical_transfer_make(p[P_PHI], p[P_GAMMA], p[P_BETA], p[P_THETA]);
    if (stage == APICAL_OBS_STATE) {
        for (size_t i = 0; i < n; i++)
            o[O_V * ld + i] = v[i];
        apical_phi_n(&t, n, 1.0, v, o + O_R * ld);
        return APICAL_OK;
    }
    const uint8_t *need = c->need;
    for (size_t i = 0; i < n; i++) {
        o[O_VP * ld + i] = in[IN_PROX * ld + i];
        o[O_VD * ld + i] = in[IN_DIST * ld + i] + in[IN_DIST_INH * ld + i];
    }
    if (!need || need[O_RP] || need[O_EP]) {
        apical_phi_n(&t, n, p[P_G_PROX] / total(p), in + IN_PROX * ld, o + O_RP * ld);
        for (size_t i = 0; i < n; i++)
            o[O_EP * ld + i] = o[O_R * ld + i] - o[O_RP * ld + i];
    }
    if (!need || need[O_ED]) {
        apical_phi_n(&t, n, 1.0, in + IN_DIST * ld, o + O_ED * ld);
        for (size_t i = 0; i < n; i++)
            o[O_ED * ld + i] = o[O_R * ld + i] - o[O_ED * ld + i];
    }
    return APICAL_OK;
}

static int jacobian(const apical_cell_ctx *c, double *dfdv, double *dfdin, double *dody)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *v = c->y, *in = c->in;
    apical_transfer t = apical_transfer_make(p[P_PHI], p[P_GAMMA], p[P_BETA], p[P_THETA]);
    for (size_t i = 0; i < n; i++) {
        double on = in[IN_TEACH_ON * ld + i];
        dfdv[i] = -(total(p) + p[P_G_TEACH] * on);
        dfdin[IN_PROX * ld + i] = p[P_G_PROX];
        dfdin[IN_DIST * ld + i] = p[P_G_DIST];
        dfdin[IN_DIST_INH * ld + i] = p[P_G_DIST];
        dfdin[IN_TEACH * ld + i] = p[P_G_TEACH] * on;
        dfdin[IN_TEACH_ON * ld + i] = p[P_G_TEACH] * (in[IN_TEACH * ld + i] - v[i]);
        dody[O_V * ld + i] = 1.0;
    }
    apical_dphi_n(&t, n, v, dody + O_R * ld);
    return APICAL_OK;
}

/* where dv/dt = 0 with the ports held; the paper's literal mixing factors
   (APICAL_STEADY_LITERAL) leave out the leak, and its upward sweep takes the
   proximal potential itself */
static int steady(const apical_cell_ctx *c, uint32_t flags, double *v)
{
    const size_t n = c->n, ld = APICAL_CTX_LD(c);
    const double *p = c->p, *in = c->in;
    const int literal = (flags & APICAL_STEADY_LITERAL) != 0;
    if (literal && (flags & APICAL_STEADY_UP)) {
        for (size_t i = 0; i < n; i++)
            v[i] = in[IN_PROX * ld + i];
        return APICAL_OK;
    }
    const double leak = literal ? 0.0 : p[P_LEAK], gp = p[P_G_PROX], gd = p[P_G_DIST];
    if (!(leak + gp + gd > 0))
        return APICAL_EINVAL;
    for (size_t i = 0; i < n; i++) {
        double gt = p[P_G_TEACH] * in[IN_TEACH_ON * ld + i];
        v[i] = (gp * in[IN_PROX * ld + i] + gd * (in[IN_DIST * ld + i] + in[IN_DIST_INH * ld + i]) +
                gt * in[IN_TEACH * ld + i]) / (leak + gp + gd + gt);
    }
    return APICAL_OK;
}

/* dv/d(port) where only that dendrite is fed */
static int attenuation(const double *p, size_t port, double *a)
{
    if (port == IN_PROX)
        *a = p[P_G_PROX] / total(p);
    else if (port == IN_DIST || port == IN_DIST_INH)
        *a = p[P_G_DIST] / total(p);
    else
        return APICAL_EINVAL;
    return APICAL_OK;
}

static const apical_cell_model tricomp = {
    .struct_size = sizeof(apical_cell_model),
    .name = "tricomp",
    .doc = "example: soma with proximal and distal dendrites (the pyramidal cell, renamed)",
    .version = "1.0.0",
    .params = params, .n_params = N_PARAMS,
    .state = state, .n_state = 1,
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

static const apical_cell_model *const cells[] = { &tricomp };

APICAL_LIBRARY("tricomp", "1.0.0", cells, 1, NULL, 0)
