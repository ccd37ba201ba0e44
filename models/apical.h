/* SPDX-License-Identifier: MIT */
/*
 * apical.h -- the module ABI of apical, version 1.7.
 *
 * A module is a shared object that exports one C function,
 *
 *     const apical_library *apical_library_v1(uint32_t host_major, uint32_t host_minor);
 *
 * returning a static table of cell models and plasticity rules.  The host
 * (the apical runner, or any other simulator) owns every buffer and the
 * integrator; a module only evaluates derivatives and observables for a whole
 * population at once.  The design borrows from LADSPA (static descriptor
 * behind one symbol), FMI Model Exchange (host owns the solver) and NEST
 * (models, parameters and recordables looked up by name).
 *
 * Data layout: a population of n cells keeps each variable as a contiguous
 * row of n doubles ("structure of arrays").  State y is n_state rows, port
 * inputs in are n_ports rows, observables are n_obs rows: y[k*n + i] is state
 * variable k of cell i.  From ABI 1.3 a cell model flagged APICAL_CELL_LD
 * takes rows ld apart (y[k*ld + i], apical_cell_ctx.ld), so a host can hand
 * each thread a slice of cells [a, b) of its buffers: n = b - a, ld the
 * buffers' row length, pointers offset by a.
 *
 * History: 1.0 first version; 1.1 appends apical_rule.euler_batch; 1.2 appends
 * apical_rule.euler_batch_f32 and apical_rule_batch.pre_f32 (single-precision
 * weights), apical_cell_model.steady, apical_rule.steady_rate and
 * apical_rule.flags (the steady-state mode of docs/model.md 4); 1.3 appends
 * apical_cell_ctx.ld and apical_cell_model.flags (APICAL_CELL_LD); 1.4 appends
 * apical_cell_model.roles (what each port and observable means to a host),
 * apical_cell_model.attenuation, apical_cell_model.jacobian_obs (direct
 * feedthrough) and apical_rule.post_role; 1.5 appends apical_rule_batch.copies
 * and the rule flag APICAL_RULE_COPIES (a host's copies of the circuit
 * learning from one set of weights); 1.6 appends apical_rule_batch.pre_bf16x2
 * (rank-k products from bfloat16 operands); 1.7 appends apical_rule.rate_param
 * (which parameter is the learning rate, for a host's rate schedules).
 *
 * Versioning: every descriptor starts with struct_size.  Fields are only ever
 * appended within a major version, so a host reads a field only if
 * struct_size says it is there.  The first three fields of apical_library are
 * frozen for all majors, so a host can always tell which major a module was
 * built for and refuse it by name.
 *
 * Rules for module functions: no allocation, no I/O, no global mutable
 * state; return APICAL_OK, a positive code (recoverable: the host may retry
 * with a smaller step) or a negative code (fatal).  Optional functions may be
 * NULL.
 */
#ifndef APICAL_H
#define APICAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define APICAL_ABI_MAJOR 1u
#define APICAL_ABI_MINOR 7u
#define APICAL_ENTRY_SYMBOL "apical_library_v1"

enum apical_status {
    APICAL_OK = 0,
    APICAL_REJECT = 1,   /* recoverable: step rejected, try again smaller */
    APICAL_EFAIL = -1,   /* fatal */
    APICAL_EINVAL = -2   /* bad parameters or arguments */
};

/* A scalar parameter shared by a whole population (or projection). */
typedef struct apical_param {
    const char *name;
    const char *unit;              /* "mS", "ms", "1", ... */
    const char *doc;
    double def;                    /* default */
    double min, max;               /* inclusive bounds */
    const char *const *choices;    /* NULL, or NULL-terminated names of an
                                      enumerated parameter; value = index */
} apical_param;

/* Flags of a state variable. */
#define APICAL_VAR_NOISY 1u        /* receives the host's somatic noise current */

/* A state variable or an input port. */
typedef struct apical_var {
    const char *name;
    const char *unit;
    const char *doc;
    uint32_t flags;
} apical_var;

/* When an observable can be computed. */
enum apical_obs_stage {
    APICAL_OBS_STATE = 0,   /* from the state alone: may feed projections */
    APICAL_OBS_PORTS = 1    /* needs the port inputs of this step (dendrites); from
                               ABI 1.4 it may feed projections too (direct
                               feedthrough) where no instantaneous loop forms */
};

typedef struct apical_observable {
    const char *name;
    const char *unit;
    const char *doc;
    uint32_t stage;         /* enum apical_obs_stage */
} apical_observable;

/* ABI 1.4: roles.  A host's features (the self-predicting initialisation,
   teaching, the metrics and probes, the steady-state mode) need to know
   which port takes the bottom-up input, which observable is the rate, and
   so on.  A cell says so in its roles table, whatever it names them; a
   cell without a table (older modules) is read with the names of the
   paper's cells (basal, apical, apical_inh, dendrite, nudge, target,
   target_gate, drive; u, rate, v_apical, err_basal, rate_basal_pred).  A
   cell declares only the roles it plays. */
enum apical_role {
    APICAL_ROLE_NONE = 0,
    /* ports */
    APICAL_ROLE_BASAL = 1,         /* bottom-up input from the layer below (pyramids) */
    APICAL_ROLE_APICAL_TOPDOWN,    /* top-down input to the apical dendrite */
    APICAL_ROLE_APICAL_LATERAL,    /* lateral input to the apical dendrite (interneurons) */
    APICAL_ROLE_DENDRITE,          /* an interneuron's input from its layer's pyramids */
    APICAL_ROLE_NUDGE,             /* an interneuron's one-to-one nudging by a pyramid */
    APICAL_ROLE_TEACH,             /* the teaching potential */
    APICAL_ROLE_TEACH_GATE,        /* 1 while teaching, 0 otherwise */
    APICAL_ROLE_DRIVE,             /* an input cell's external pattern */
    /* observables */
    APICAL_ROLE_POTENTIAL,         /* the somatic potential u */
    APICAL_ROLE_RATE,              /* the rate phi(u): the default a projection carries */
    APICAL_ROLE_APICAL_POTENTIAL,  /* the apical potential (0 in the self-predicting state) */
    APICAL_ROLE_BASAL_ERROR,       /* the rate's prediction error from the bottom-up port (Eq. 7) */
    APICAL_ROLE_BASAL_PREDICTION,  /* the rate predicted from the bottom-up port alone */
    APICAL_ROLE_COUNT
};

/* One entry of a cell's roles table: ROLE is played by the port (roles up
   to APICAL_ROLE_DRIVE) or observable (the others) called NAME. */
typedef struct apical_role_entry {
    uint32_t role;          /* enum apical_role */
    const char *name;
} apical_role_entry;

/* Everything a cell function reads.  Fields may be appended (struct_size). */
typedef struct apical_cell_ctx {
    size_t struct_size;
    size_t n;               /* cells in the population */
    const double *p;        /* parameter values, in table order */
    const double *y;        /* state, n_state x n */
    const double *in;       /* port inputs, n_ports x n; unconnected ports are 0 */
    const uint8_t *need;    /* n_obs flags: 0 = the host will not read this
                               observable, so it may be skipped; NULL = all */
    /* ABI 1.3: distance between consecutive rows of y, in, obs, dydt and the
       Jacobian blocks; 0 means n.  A host sets it only for cell models
       flagged APICAL_CELL_LD; modules read it with APICAL_CTX_LD. */
    size_t ld;
} apical_cell_ctx;

typedef struct apical_cell_model {
    size_t struct_size;
    const char *name;
    const char *doc;
    const char *version;

    const apical_param *params;         size_t n_params;
    const apical_var *state;            size_t n_state;
    const apical_var *ports;            size_t n_ports;
    const apical_observable *obs;       size_t n_obs;

    /* Cross-parameter checks beyond the table's bounds (optional). */
    int (*check)(const double *p, char *msg, size_t cap);

    /* dydt (n_state x n) from state and ports. */
    int (*rhs)(const apical_cell_ctx *c, double *dydt);

    /* Write the rows of obs (n_obs x n) whose stage equals `stage`; other
       rows are left untouched.  The host calls APICAL_OBS_STATE first and
       then APICAL_OBS_PORTS on the same buffer and state, so the second call
       may read the rows the first one wrote. */
    int (*observe)(const apical_cell_ctx *c, uint32_t stage, double *obs);

    /* Optional local Jacobian, per cell (cells are independent given their
       ports):  dfdy  [(a*n_state + b)*n + i] = d f_a / d y_b,
                dfdin [(a*n_ports + q)*n + i] = d f_a / d in_q,
                dody  [(o*n_state + b)*n + i] = d obs_o / d y_b for the
                      APICAL_OBS_STATE observables (other rows untouched).
       With the projections' weights the host assembles the full Jacobian. */
    int (*jacobian)(const apical_cell_ctx *c, double *dfdy, double *dfdin,
                    double *dody);

    /* ABI 1.2, optional: the fixed point of rhs with the ports held, state
       into y (n_state x n): where the cell settles when its inputs stay as
       they are.  The steady-state mode (docs/model.md 4) sweeps the populations
       with it instead of integrating.  flags: APICAL_STEADY_UP in the first
       (upward) sweep, where ports fed by populations not yet computed read
       0; APICAL_STEADY_LITERAL for the paper's literal mixing factors (a
       cell without a separate literal form ignores it). */
    int (*steady)(const apical_cell_ctx *c, uint32_t flags, double *y);

    /* ABI 1.3: APICAL_CELL_* flags. */
    uint32_t flags;

    /* ABI 1.4: the roles this cell plays (NULL, 0: the paper's names). */
    const apical_role_entry *roles;     size_t n_roles;

    /* ABI 1.4, optional: the attenuation of port `port`'s prediction, du/d
       in_port at the fixed point where only that port is fed, for the
       parameters p (the factor c_B = g_B / (g_lk + g_B + g_A) of the paper's
       pyramids' basal port).  The self-predicting initialisation scales
       the weights an interneuron copies by the ratio of two of them.  NULL:
       the host takes -(df/d in_port) / (df/du) from the Jacobian at rest. */
    int (*attenuation)(const double *p, size_t port, double *a);

    /* ABI 1.4, optional: how the APICAL_OBS_PORTS observables depend on
       the state (ports held) and on the ports, per cell:
                dody  [(o*n_state + b)*n + i] = d obs_o / d y_b,
                dodin [(o*n_ports + q)*n + i] = d obs_o / d in_q
       for the port-stage observables o (other rows untouched).  A host
       that routes a port-stage observable through a projection (direct
       feedthrough) chains these blocks into the circuit's Jacobian; NULL:
       it takes finite differences instead. */
    int (*jacobian_obs)(const apical_cell_ctx *c, double *dody, double *dodin);
} apical_cell_model;

/* Every function of the model honours apical_cell_ctx.ld (rows ld apart). */
#define APICAL_CELL_LD 1u

#define APICAL_STEADY_UP 1u
#define APICAL_STEADY_LITERAL 2u

/* Everything a rule function reads.  W and its auxiliary matrices are dense,
   row-major, n_post x n_pre. */
typedef struct apical_rule_ctx {
    size_t struct_size;
    size_t n_post, n_pre;
    const double *p;        /* rule parameters, in table order */
    const double *post;     /* n_post: the observable named by post_obs */
    const double *pre;      /* n_pre: what the projection carries */
} apical_rule_ctx;

/* k consecutive steps' observables at once (ABI 1.1). */
typedef struct apical_rule_batch {
    size_t struct_size;
    size_t n_post, n_pre, k;
    const double *p;        /* rule parameters */
    const double *post;     /* k x n_post: one row per step, oldest first */
    const double *pre;      /* k x n_pre */
    double *scratch;        /* 2 k n_post doubles the rule may overwrite */
    /* ABI 1.2: pre in single precision (k x n_pre), or NULL; a host may pass
       it to euler_batch_f32, which may then run in single-precision lanes. */
    const float *pre_f32;
    /* ABI 1.5: copies of the circuit stepped side by side on the same
       weights (0 or 1: one).  With copies = B > 1, post and pre hold k B
       rows, step-major (row j B + b is copy b at step j), scratch is
       2 k B n_post doubles, and each step's drive is the mean over its B
       rows: for the low-pass rules dDelta/dt = (mean_b e_b pre_b^T -
       Delta) / tau_w.  A host passes B > 1 only to a rule flagged
       APICAL_RULE_COPIES. */
    size_t copies;
    /* ABI 1.6: pre in bfloat16 pairs of steps, or NULL: element t n_pre + c
       holds bf16(pre[2t][c]) in its low half and bf16(pre[2t + 1][c]) in
       its high half (0 past step k - 1), t < (k + 1) / 2; passed with
       pre_f32 and copies 1 when the run asks for rule_products: bf16.  A
       rule may then form its rank-k products from bfloat16 operands (8-bit
       significands) with single-precision sums. */
    const uint32_t *pre_bf16x2;
} apical_rule_batch;

typedef struct apical_rule {
    size_t struct_size;
    const char *name;
    const char *doc;
    const char *version;

    const apical_param *params;         size_t n_params;

    /* The postsynaptic observable this rule needs.  "{port}" stands for the
       name of the port the projection targets (e.g. "err_{port}" becomes
       "err_basal"); the host checks the cell exports it when wiring. */
    const char *post_obs;

    /* Auxiliary per-weight matrices the rule integrates (e.g. the low-pass
       filtered induction term), each n_post x n_pre, initially 0. */
    size_t n_aux;

    int (*check)(const double *p, char *msg, size_t cap);

    /* dW/dt and d(aux)/dt; daux is n_aux consecutive matrices. */
    int (*dwdt)(const apical_rule_ctx *c, const double *w, const double *aux,
                double *dw, double *daux);

    /* Optional fused forward-Euler step, in place; must equal
       w += dt*dw, aux += dt*daux with dw, daux from dwdt at the old values. */
    int (*euler)(const apical_rule_ctx *c, double dt, double *w, double *aux);

    /* ABI 1.1, optional: k forward-Euler steps at once, from the observables
       of k consecutive steps; must equal k calls of euler (to rounding).
       Lets a rule turn k rank-1 updates into one rank-k product.  A host
       reads it only if struct_size covers it. */
    int (*euler_batch)(const apical_rule_batch *c, double dt, double *w, double *aux);

    /* ABI 1.2, optional: euler_batch on single-precision W and aux (the
       host's f32 weight storage; observables stay double).  Must equal
       euler_batch up to rounding W and aux to float once per call. */
    int (*euler_batch_f32)(const apical_rule_batch *c, double dt, float *w, float *aux);

    /* ABI 1.2, optional: for a rule whose memory settles, for constant
       observables, at dW/dt = eta (a post + b) pre^T, its eta, a and b.  The
       steady-state mode applies that once per mini-batch as the mean of the
       batch's outer products: one matrix-matrix product. */
    void (*steady_rate)(const double *p, double *eta, double *a, double *b);

    /* ABI 1.2: APICAL_RULE_* flags. */
    uint32_t flags;

    /* ABI 1.4, optional: the role (enum apical_role) of the postsynaptic
       observable, looked up in the post cell's roles table before post_obs'
       name, so the rule works with cells that name it differently (0: by
       name only). */
    uint32_t post_role;

    /* ABI 1.7, optional: 1 + the index of the learning-rate parameter, 0 if
       there is none.  The rule promises that dW/dt is proportional to that
       parameter and that its aux does not depend on it, so a host scales
       the rule's learning by scaling that one value (a rate schedule). */
    uint32_t rate_param;
} apical_rule;

/* The post signal is not local: the host computes it by backpropagating the
   output error (simulation mode backprop); other modes refuse the rule. */
#define APICAL_RULE_NONLOCAL 1u
/* ABI 1.5: euler_batch and euler_batch_f32 read apical_rule_batch.copies. */
#define APICAL_RULE_COPIES 2u

typedef struct apical_library {
    /* frozen for every major version: */
    size_t struct_size;
    uint32_t abi_major;
    uint32_t abi_minor;
    /* version 1: */
    const char *name;
    const char *version;
    const apical_cell_model *const *cells;  size_t n_cells;
    const apical_rule *const *rules;        size_t n_rules;
} apical_library;

typedef const apical_library *(*apical_entry_fn)(uint32_t host_major,
                                                 uint32_t host_minor);

/* The entry point every module defines.  Modules are built with hidden
   visibility, so this is their only exported symbol. */
#if defined(__GNUC__)
#define APICAL_EXPORT __attribute__((visibility("default")))
#else
#define APICAL_EXPORT
#endif
APICAL_EXPORT const apical_library *apical_library_v1(uint32_t host_major,
                                                      uint32_t host_minor);

/* The library table and entry point of a module, in one line:
     APICAL_LIBRARY("mylib", "1.0.0", cells, n_cells, rules, n_rules)
   with cells / rules arrays of descriptor pointers (or NULL, 0). */
#define APICAL_LIBRARY(lib_name, lib_version, cell_list, cell_count, rule_list, rule_count) \
    static const apical_library apical_library_table = {                                  \
        .struct_size = sizeof(apical_library),                                            \
        .abi_major = APICAL_ABI_MAJOR,                                                    \
        .abi_minor = APICAL_ABI_MINOR,                                                    \
        .name = lib_name,                                                                 \
        .version = lib_version,                                                           \
        .cells = cell_list, .n_cells = cell_count,                                        \
        .rules = rule_list, .n_rules = rule_count,                                        \
    };                                                                                    \
    const apical_library *apical_library_v1(uint32_t host_major, uint32_t host_minor)     \
    {                                                                                     \
        (void)host_minor;                                                                 \
        return host_major == APICAL_ABI_MAJOR ? &apical_library_table : NULL;             \
    }

/* Smallest struct sizes a 1.0 host accepts. */
#define APICAL_LIBRARY_MIN_SIZE_V1 (offsetof(apical_library, n_rules) + sizeof(size_t))
#define APICAL_CELL_MIN_SIZE_V1 (offsetof(apical_cell_model, jacobian) + sizeof(void (*)(void)))
#define APICAL_RULE_MIN_SIZE_V1 (offsetof(apical_rule, euler) + sizeof(void (*)(void)))
/* Does rule r (of any 1.x) carry the 1.1 field euler_batch? */
#define APICAL_RULE_HAS_BATCH(r) \
    ((r)->struct_size >= offsetof(apical_rule, euler_batch) + sizeof(void (*)(void)) && \
     (r)->euler_batch != NULL)
/* The 1.2 fields, NULL / 0 for older modules. */
#define APICAL_CELL_STEADY(m) \
    ((m)->struct_size >= offsetof(apical_cell_model, steady) + sizeof(void (*)(void)) \
         ? (m)->steady : NULL)
#define APICAL_RULE_STEADY_RATE(r) \
    ((r)->struct_size >= offsetof(apical_rule, steady_rate) + sizeof(void (*)(void)) \
         ? (r)->steady_rate : NULL)
#define APICAL_RULE_FLAGS(r) \
    ((r)->struct_size >= offsetof(apical_rule, flags) + sizeof(uint32_t) ? (r)->flags : 0u)

/* The 1.3 fields: a cell model's flags (0 for older modules), and the row
   distance of a context from a host of any 1.x. */
#define APICAL_CELL_FLAGS(m) \
    ((m)->struct_size >= offsetof(apical_cell_model, flags) + sizeof(uint32_t) ? (m)->flags : 0u)
#define APICAL_CTX_LD(c) \
    ((c)->struct_size >= offsetof(apical_cell_ctx, ld) + sizeof(size_t) && (c)->ld ? (c)->ld \
                                                                                    : (c)->n)

/* The 1.4 fields, NULL / 0 for older modules. */
#define APICAL_CELL_HAS_ROLES(m) \
    ((m)->struct_size >= offsetof(apical_cell_model, n_roles) + sizeof(size_t) && (m)->n_roles)
#define APICAL_RULE_POST_ROLE(r) \
    ((r)->struct_size >= offsetof(apical_rule, post_role) + sizeof(uint32_t) ? (r)->post_role : 0u)
#define APICAL_CELL_ATTENUATION(m) \
    ((m)->struct_size >= offsetof(apical_cell_model, attenuation) + sizeof(void (*)(void)) \
         ? (m)->attenuation : NULL)
#define APICAL_CELL_JACOBIAN_OBS(m) \
    ((m)->struct_size >= offsetof(apical_cell_model, jacobian_obs) + sizeof(void (*)(void)) \
         ? (m)->jacobian_obs : NULL)

/* The 1.7 field: 1 + the index of rule r's learning-rate parameter, 0 for
   none (and for older modules). */
#define APICAL_RULE_RATE_PARAM(r) \
    ((r)->struct_size >= offsetof(apical_rule, rate_param) + sizeof(uint32_t) && \
     (r)->rate_param <= (r)->n_params ? (r)->rate_param : 0u)

/* Does batch b (from a host of any 1.x) carry the 1.2 field pre_f32? */
#define APICAL_BATCH_PRE_F32(b) \
    ((b)->struct_size >= offsetof(apical_rule_batch, pre_f32) + sizeof(const float *) ? \
     (b)->pre_f32 : NULL)

/* Does batch b (from a host of any 1.x) carry the 1.6 field pre_bf16x2? */
#define APICAL_BATCH_PRE_BF16X2(b) \
    ((b)->struct_size >= offsetof(apical_rule_batch, pre_bf16x2) + sizeof(const uint32_t *) ? \
     (b)->pre_bf16x2 : NULL)

/* The format of pre_bf16x2 (ABI 1.6), for hosts that fill it and rules
   that pack their own operands the same way.  apical_bf16: the bfloat16
   bits of a finite float (its upper 16 bits), rounded to nearest, ties to
   even.  apical_bf16x2_pack: rows 0 .. k-1 of n floats as (k + 1) / 2 rows
   of pairs, out[t n + c] = bf16(rows[2t][c]) | bf16(rows[2t + 1][c]) << 16,
   the high half 0 past row k - 1. */
static inline uint32_t apical_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

static inline void apical_bf16x2_pack(const float *rows, size_t k, size_t n, uint32_t *out)
{
    for (size_t t = 0; 2 * t < k; t++)
        for (size_t c = 0; c < n; c++)
            out[t * n + c] = apical_bf16(rows[2 * t * n + c]) |
                             (2 * t + 1 < k ? apical_bf16(rows[(2 * t + 1) * n + c]) << 16 : 0);
}

/* The copies of batch b (from a host of any 1.x): 1 unless 1.5 says more. */
#define APICAL_BATCH_COPIES(b) \
    ((b)->struct_size >= offsetof(apical_rule_batch, copies) + sizeof(size_t) && \
     (b)->copies > 1 ? (b)->copies : (size_t)1)

/* Does rule r (of any 1.x) carry the 1.2 field euler_batch_f32? */
#define APICAL_RULE_HAS_BATCH_F32(r) \
    ((r)->struct_size >= offsetof(apical_rule, euler_batch_f32) + sizeof(void (*)(void)) && \
     (r)->euler_batch_f32 != NULL)

#ifdef __cplusplus
}
#endif

#endif /* APICAL_H */
