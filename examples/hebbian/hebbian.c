/*
 * hebbian -- an apical plasticity module written outside the apical tree.
 *
 *   dW/dt = eta * (r_post r_pre^T - decay * W)
 *
 * A plain Hebbian rule with weight decay, on the postsynaptic rate.  It only
 * needs the installed ABI header:
 *
 *   cc -shared -fPIC $(pkg-config --cflags apical) hebbian.c -o hebbian.so
 *
 * and is found by name through APICAL_MODULE_PATH.
 */
#include <math.h>
#include <apical.h>

enum { P_ETA, P_DECAY, N_PARAMS };

static const apical_param params[N_PARAMS] = {
    { "eta", "1/ms", "learning rate", 0.0, -INFINITY, INFINITY, NULL },
    { "decay", "1", "weight decay relative to the Hebbian term", 0.0, 0, INFINITY, NULL },
};

static int dwdt(const apical_rule_ctx *c, const double *w, const double *aux, double *dw,
                double *daux)
{
    (void)aux;
    (void)daux;
    const double eta = c->p[P_ETA], decay = c->p[P_DECAY];
    for (size_t i = 0; i < c->n_post; i++)
        for (size_t j = 0; j < c->n_pre; j++) {
            size_t k = i * c->n_pre + j;
            dw[k] = eta * (c->post[i] * c->pre[j] - decay * w[k]);
        }
    return APICAL_OK;
}

static const apical_rule hebbian = {
    .struct_size = sizeof(apical_rule),
    .name = "hebbian",
    .doc = "eta * (r_post r_pre - decay W): plain Hebbian learning with decay",
    .version = "0.1.0",
    .params = params, .n_params = N_PARAMS,
    .post_obs = "rate",
    .n_aux = 0,
    .dwdt = dwdt,
    .euler = NULL, /* the host takes w += dt * dwdt */
};

static const apical_rule *const rules[] = { &hebbian };

APICAL_LIBRARY("hebbian", "0.1.0", NULL, 0, rules, 1)
