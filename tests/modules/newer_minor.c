/* A module built against a newer minor of ABI 1: its descriptors are larger
   (fields appended), which a 1.0 host must accept, reading what it knows. */
#include <math.h>

#include "apical.h"

typedef struct future_cell {
    apical_cell_model base;
    int (*steady)(const apical_cell_ctx *c, double *y); /* a field 1.0 does not know */
    double reserved[4];
} future_cell;

static int rhs(const apical_cell_ctx *c, double *dydt)
{
    for (size_t i = 0; i < c->n; i++)
        dydt[i] = -c->y[i];
    return APICAL_OK;
}

static int observe(const apical_cell_ctx *c, uint32_t stage, double *obs)
{
    if (stage == APICAL_OBS_STATE)
        for (size_t i = 0; i < c->n; i++)
            obs[i] = c->y[i];
    return APICAL_OK;
}

static const apical_var state[] = { { "u", "a.u.", "decays to 0", 0 } };
static const apical_observable obs[] = { { "u", "a.u.", "the state", APICAL_OBS_STATE } };

static const future_cell cell = {
    .base = {
        .struct_size = sizeof(future_cell),
        .name = "future_cell",
        .doc = "a cell from ABI 1.(minor+1)",
        .version = "1.1.0",
        .state = state, .n_state = 1,
        .obs = obs, .n_obs = 1,
        .rhs = rhs,
        .observe = observe,
    },
    .steady = NULL,
};

typedef struct future_library {
    apical_library base;
    const char *license; /* appended in the newer minor */
} future_library;

static const apical_cell_model *const cells[] = { &cell.base };

static const future_library library = {
    .base = {
        .struct_size = sizeof(future_library),
        .abi_major = APICAL_ABI_MAJOR,
        .abi_minor = APICAL_ABI_MINOR + 1,
        .name = "newer_minor",
        .version = "1.1.0",
        .cells = cells, .n_cells = 1,
    },
    .license = "MIT",
};

const apical_library *apical_library_v1(uint32_t host_major, uint32_t host_minor)
{
    (void)host_minor;
    return host_major == APICAL_ABI_MAJOR ? &library.base : NULL;
}
