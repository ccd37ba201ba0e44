/* A rule module from ABI 1.0: its descriptor ends before euler_batch (1.1).
   The fields of 1.1 and 1.2 are set here to a function that fails, so a host that reads past
   struct_size would be caught. */
#include <stddef.h>

#include "apical.h"

static int dwdt(const apical_rule_ctx *c, const double *w, const double *aux, double *dw,
                double *daux)
{
    (void)w; (void)aux; (void)daux;
    for (size_t i = 0; i < c->n_post; i++)
        for (size_t j = 0; j < c->n_pre; j++)
            dw[i * c->n_pre + j] = c->p[0] * c->post[i] * c->pre[j];
    return APICAL_OK;
}

static int trap(const apical_rule_batch *c, double dt, double *w, double *aux)
{
    (void)c; (void)dt; (void)w; (void)aux;
    return APICAL_EFAIL;
}

static int trap_f32(const apical_rule_batch *c, double dt, float *w, float *aux)
{
    (void)c; (void)dt; (void)w; (void)aux;
    return APICAL_EFAIL;
}

static const apical_param params[] = { { "eta", "1/ms", "rate", 0.0, -1e9, 1e9, NULL } };

static const apical_rule rule = {
    .struct_size = offsetof(apical_rule, euler_batch), /* as a 1.0 build had it */
    .name = "old_hebb",
    .doc = "eta r_post r_pre, from ABI 1.0",
    .version = "1.0.0",
    .params = params, .n_params = 1,
    .post_obs = "rate",
    .n_aux = 0,
    .dwdt = dwdt,
    .euler_batch = trap,
    .euler_batch_f32 = trap_f32,
};

static const apical_rule *const rules[] = { &rule };

static const apical_library library = {
    .struct_size = sizeof(apical_library),
    .abi_major = 1,
    .abi_minor = 0,
    .name = "older_minor",
    .version = "1.0.0",
    .rules = rules, .n_rules = 1,
};

const apical_library *apical_library_v1(uint32_t host_major, uint32_t host_minor)
{
    (void)host_minor;
    return host_major == 1 ? &library : NULL;
}
