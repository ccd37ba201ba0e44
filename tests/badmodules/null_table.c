/* A cell module whose table promises two ports but gives no array of them:
   the host must refuse it at load, naming the file and the table, before
   anything reads the ports. */
#include "apical.h"

static int rhs(const apical_cell_ctx *c, double *dydt)
{
    for (size_t i = 0; i < c->n; i++)
        dydt[i] = -c->y[i];
    return APICAL_OK;
}

static int observe(const apical_cell_ctx *c, uint32_t stage, double *obs)
{
    (void)c; (void)stage; (void)obs;
    return APICAL_OK;
}

static const apical_var state[] = { { "u", "mV", "potential", 0 } };

static const apical_cell_model cell = {
    .struct_size = sizeof(apical_cell_model),
    .name = "null_ports",
    .doc = "two ports promised, none given",
    .version = "1.0.0",
    .state = state, .n_state = 1,
    .ports = NULL, .n_ports = 2,
    .rhs = rhs,
    .observe = observe,
};

static const apical_cell_model *const cells[] = { &cell };

static const apical_library library = {
    .struct_size = sizeof(apical_library),
    .abi_major = APICAL_ABI_MAJOR,
    .abi_minor = APICAL_ABI_MINOR,
    .name = "null_table",
    .version = "1.0.0",
    .cells = cells, .n_cells = 1,
};

const apical_library *apical_library_v1(uint32_t host_major, uint32_t host_minor)
{
    (void)host_minor;
    return host_major == APICAL_ABI_MAJOR ? &library : NULL;
}
