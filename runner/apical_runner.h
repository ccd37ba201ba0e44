/*
 * apical_runner.h -- libapical: module registry, circuits, integration, runs.
 *
 * Every function that can fail returns 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_RUNNER_H
#define APICAL_RUNNER_H

#include <signal.h>
#include <stdio.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "apical.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- module registry (registry.c) ------------------------------------- */

typedef struct apical_registry apical_registry;

/* path: colon-separated directories; NULL means $APICAL_MODULE_PATH, then
   the install directory. */
apical_registry *apical_registry_new(const char *path);
void apical_registry_free(apical_registry *r);
const char *apical_registry_path(const apical_registry *r);

/* Load one module file and register everything it holds. */
int apical_registry_load_file(apical_registry *r, const char *file, char *err, size_t errcap);

/* Look a model up by name, loading <dir>/<name>.so from the path if needed. */
const apical_cell_model *apical_registry_cell(apical_registry *r, const char *name, char *err,
                                              size_t errcap);
const apical_rule *apical_registry_rule(apical_registry *r, const char *name, char *err,
                                        size_t errcap);

/* Load every *.so on the path; files that are not modules are reported
   through skipped (may be NULL), one message each. */
typedef void (*apical_skip_fn)(void *user, const char *file, const char *why);
int apical_registry_scan(apical_registry *r, apical_skip_fn skipped, void *user);
/* Order the loaded models by name (for listings). */
void apical_registry_sort(apical_registry *r);
/* Every loaded model's tables as YAML, for tools that read them without
   loading code. */
int apical_registry_write_yaml(const apical_registry *r, FILE *f);
size_t apical_registry_n_cells(const apical_registry *r);
size_t apical_registry_n_rules(const apical_registry *r);
const apical_cell_model *apical_registry_cell_at(const apical_registry *r, size_t i,
                                                 const char **file);
const apical_rule *apical_registry_rule_at(const apical_registry *r, size_t i,
                                           const char **file);

/* ---- numeric tables (csv.c) ------------------------------------------- */

typedef struct apical_table {
    size_t rows, cols;
    double *data;           /* row-major */
} apical_table;

/* Read a CSV/whitespace table; errors name FILE:LINE:COL. */
int apical_csv_read(const char *file, apical_table *t, char *err, size_t errcap);
/* The same from an open stream; file names it in messages. */
int apical_csv_read_stream(FILE *f, const char *file, apical_table *t, char *err,
                           size_t errcap);
void apical_table_free(apical_table *t);

/* ---- IDX files: MNIST and Fashion-MNIST (idx.c) ------------------------ */

#define APICAL_IDX_MAX_DIMS 4
typedef struct apical_idx {
    size_t n_dims;
    size_t dims[APICAL_IDX_MAX_DIMS];
    size_t count;           /* elements: the product of dims */
    unsigned char *data;    /* unsigned bytes, row-major */
} apical_idx;

/* Read an IDX file of unsigned bytes, checking magic, type, dimensions and
   that the file holds exactly the promised data. */
int apical_idx_read(const char *file, apical_idx *out, char *err, size_t errcap);
int apical_idx_read_stream(FILE *f, const char *name, apical_idx *out, char *err,
                           size_t errcap);
void apical_idx_free(apical_idx *x);
/* Images N x 28 x 28 with N labels 0-9. */
int apical_mnist_check(const apical_idx *images, const apical_idx *labels, const char *what,
                       char *err, size_t errcap);

/* ---- circuits (circuit.c) --------------------------------------------- */

typedef struct apical_pop {
    char *name;
    const apical_cell_model *model;
    size_t n;
    double *p;          /* parameters, table order */
    double sigma;       /* noise amplitude on APICAL_VAR_NOISY state */
    size_t y_off;       /* offset of this population's state in circuit y */
    double *in;         /* ports, n_ports x n */
    double *obs;        /* observables, n_obs x n */
    uint8_t *need;      /* n_obs flags: observables something reads */
    int apical_fed;     /* some projection targets an apical* port */
    char where[96];     /* where it was defined (FILE:LINE:COL), for messages */
    size_t obs_v_apical; /* index of v_apical, or (size_t)-1 */
} apical_pop;

typedef struct apical_proj {
    size_t src, dst;            /* population indices */
    size_t src_obs, dst_port;
    int one_to_one;
    double *w;                  /* n_dst x n_src, row-major (dense only) */
    const apical_rule *rule;    /* NULL: fixed */
    double *rp;                 /* rule parameters */
    double *aux;                /* rule->n_aux matrices */
    size_t post_obs;            /* index into the destination's observables */
    double *dw;                 /* scratch for rules without a fused euler */
    char where[96];             /* where it was defined (FILE:LINE:COL), for messages */
    char *name;                 /* unique in the circuit; by default SRC-DST */
    float *wf;                  /* single-precision copy the dendrites read (or NULL) */
    uint16_t *wh;               /* matvec: f16: the half-precision copy the dendrites read,
                                   made from wf (runner/matvec.h) */
    float *auxf;                /* with f32 storage: the rule's aux in single precision;
                                   wf and auxf are then the master copies and w, aux
                                   follow them at every flush of the plasticity */
    double *hist_post, *hist_pre; /* batched plasticity: k rows of observables */
    double *hist_scratch;
    double *hist_slice;        /* k x n_post: the post history cut into threads' rows */
    float *hist_pre_f32;       /* with f32 storage: hist_pre in single precision */
    size_t hist_n;
} apical_proj;

enum apical_stim_kind {
    APICAL_STIM_UNIFORM = 1,    /* patterns drawn from U(lo, hi) */
    APICAL_STIM_TABLE = 2,      /* rows of a table, in order, cycling */
    APICAL_STIM_TEACHER = 3,    /* U(lo, hi) inputs, targets from a teacher network */
    APICAL_STIM_IDX = 4         /* images of an IDX file (MNIST), one-hot class targets */
};

/* A teacher network (MODEL.md 3.3): r_l = phi(k_l W_l r_{l-1}); the
   target potential is the last layer's k_L W_L r_{L-1}. */
typedef struct apical_teacher {
    size_t n_layers;            /* weight layers */
    size_t *sizes;              /* n_layers + 1 */
    double *gains;              /* n_layers */
    double **w;                 /* sizes[l+1] x sizes[l] */
    double *r[2];               /* scratch activations */
    double phi[4];              /* transfer: kind, gamma, beta, theta (transfer.h) */
} apical_teacher;

typedef struct apical_stim {
    char *name;
    int kind;
    size_t size;
    double lo, hi;              /* uniform range */
    apical_table table;         /* table: one pattern per row, in order */
    apical_table targets;       /* table: target potentials, row for row */
    size_t next_row;
    apical_teacher teacher;
    size_t dst, dst_port;       /* the population and port it drives */
    double *x;                  /* current pattern */
    int has_target;
    size_t tgt, tgt_port, tgt_gate; /* population, its target and target_gate ports */
    double *u_trgt;             /* current target potential */
    int active, target_on;      /* set by the run, per phase */
    /* idx: images first .. first+count-1 of an N x H x W file, pixels times
       scale; targets one-hot: potential trgt_u[1] (rate trgt_r[1]) for the
       labelled class, trgt_u[0] (trgt_r[0]) elsewhere */
    apical_idx images, labels;
    size_t first, count;
    double scale;
    double trgt_u[2], trgt_r[2];
    size_t n_classes;           /* the target population's size */
} apical_stim;

typedef struct apical_circuit {
    apical_pop *pops;   size_t n_pops;
    apical_proj *projs; size_t n_projs;
    apical_stim *stims; size_t n_stims;
    size_t n_y;
    double *y, *dydt, *y_saved, *noise;
    double *scratch;    /* largest population size */
    double *obs_scratch; /* largest n_obs x n */
    size_t batch_k;     /* plasticity steps per rank-k update (1: every step) */
    int matvec_f32;     /* 1: dendrites read single-precision copies of the weights;
                           2: and plastic weights (rules with euler_batch_f32) are stored
                           and learn in single precision (matvec: f32_all);
                           3: as 2, and the dendrites read half-precision copies
                           (matvec: f16) */
    size_t f16_overflow; /* weights that did not fit half precision at the last refresh */
    float *xf;          /* scratch: a presynaptic vector in single precision, per thread */
    size_t xf_stride;   /* floats per thread in xf */
    int route_threads;  /* threads that may route the ports (1 for small circuits) */
    int team_choice;    /* threads routing now (engine.c, team_size) */
    int team_fixed;     /* 1: keep team_choice, no probing (benchmarks) */
    unsigned long team_step;
    double team_time[2];
    double batch_dt;
    double bound;       /* |state| or |weight| beyond this stops a run (0: none) */
    double mem_limit, mem_estimate; /* bytes: refuse circuits past the limit */
    unsigned long seed;
    gsl_rng *rng_init, *rng_train, *rng_noise, *rng_test;
    int finalized;
} apical_circuit;

/* The memory limit starts at $APICAL_MEMORY_LIMIT (bytes) or the machine's
   available memory; a circuit whose buffers would exceed it is refused
   before they are allocated. */
apical_circuit *apical_circuit_new(unsigned long seed);

/* How many weights a projection holds (0 for one_to_one). */
static inline size_t apical_proj_n_weights(const apical_circuit *c, const apical_proj *pj)
{
    return pj->one_to_one ? 0 : c->pops[pj->src].n * c->pops[pj->dst].n;
}
void apical_circuit_free(apical_circuit *c);

/* Parameters left out take the module's defaults; set them afterwards with
   apical_pop_set_param (checked against the table's bounds). */
int apical_circuit_add_pop(apical_circuit *c, const char *name, const apical_cell_model *m,
                           size_t n, char *err, size_t errcap);
int apical_pop_set_param(apical_pop *pop, const char *key, double value, char *err,
                         size_t errcap);
int apical_pop_set_choice(apical_pop *pop, const char *key, const char *choice, char *err,
                          size_t errcap);
int apical_rule_set_param(apical_proj *pj, const char *key, double value, char *err,
                          size_t errcap);
apical_pop *apical_circuit_pop(apical_circuit *c, const char *name, size_t *index);
size_t apical_model_find_obs(const apical_cell_model *m, const char *name);
size_t apical_model_find_port(const apical_cell_model *m, const char *name);

/* A projection from obs src_obs of src to port dst_port of dst.  one_to_one
   needs equal sizes and has no weights.  rule may be NULL.  Its name is
   SRC-DST (the population names) until apical_proj_set_name gives another. */
int apical_circuit_add_proj(apical_circuit *c, const char *src, const char *src_obs,
                            const char *dst, const char *dst_port, int one_to_one,
                            const apical_rule *rule, char *err, size_t errcap);
/* Rename a projection: a name no other projection of c has, without '.',
   '=', white space or control characters, and not a number (numbers select
   projections by position). */
int apical_proj_set_name(apical_circuit *c, apical_proj *pj, const char *name, char *err,
                         size_t errcap);
/* The first projection called name (NULL if none); its index in *index. */
apical_proj *apical_circuit_proj(apical_circuit *c, const char *name, size_t *index);

int apical_circuit_add_stim_uniform(apical_circuit *c, const char *name, double lo, double hi,
                                    const char *dst, const char *dst_port, char *err,
                                    size_t errcap);
/* Patterns from a table, presented row after row (cycling); takes the table. */
int apical_circuit_add_stim_table(apical_circuit *c, const char *name, apical_table *t,
                                  const char *dst, const char *dst_port, char *err,
                                  size_t errcap);
/* Inputs U(lo, hi) through a random teacher network (weights U(-1, 1) from
   the init stream); sizes has n_layers + 1 entries, sizes[0] = input size. */
int apical_circuit_add_stim_teacher(apical_circuit *c, const char *name, double lo, double hi,
                                    const size_t *sizes, const double *gains, size_t n_layers,
                                    const double phi[4], const char *dst, const char *dst_port,
                                    char *err, size_t errcap);
/* Images first .. first+count-1 of an IDX image file (N x H x W bytes,
   H W = the population's size) with their labels (N bytes, classes below
   the target population's size); takes both.  Pixels are multiplied by
   scale. */
int apical_circuit_add_stim_idx(apical_circuit *c, const char *name, apical_idx *images,
                                apical_idx *labels, size_t first, size_t count, double scale,
                                const char *dst, const char *dst_port, char *err, size_t errcap);
/* One-hot targets for an idx stimulus: rates off (other classes) and on
   (the labelled class), turned into target potentials through the target
   cells' own transfer function (its "rate" observable, inverted by
   bisection). */
int apical_stim_set_idx_targets(apical_circuit *c, apical_stim *s, const char *pop,
                                double off, double on, char *err, size_t errcap);
/* Pattern i (0 .. count-1) of an idx stimulus into x (its size). */
void apical_stim_idx_pattern(const apical_stim *s, size_t i, double *x);

/* Give a stimulus targets for a population's target / target_gate ports:
   a table (one row of target potentials per pattern row; takes it) or, for
   a teacher, the teacher's output (targets NULL). */
int apical_stim_set_target(apical_circuit *c, apical_stim *s, const char *pop,
                           apical_table *targets, char *err, size_t errcap);

/* Advance plastic weights k steps at a time with the rules' rank-k update
   (ABI 1.1 euler_batch) where a rule has one: the dendrites of the k-1
   steps in between see weights up to k-1 steps old.  Set before finalize. */
void apical_circuit_set_plasticity_batch(apical_circuit *c, size_t k);

/* on = 1: the dendrites read single-precision copies of the weights
   (refreshed whenever the weights change), half the memory traffic of the
   step's products; 2: and plastic weights learn in single precision
   (f32_all); 3: as 2, and the dendrites read half-precision copies (f16,
   runner/matvec.h).  Set before finalize. */
void apical_circuit_set_matvec_f32(apical_circuit *c, int on);
/* Refresh the single-precision copies after changing weights by hand. */
void apical_circuit_weights_changed(apical_circuit *c);
/* The same for one projection; weights that do not fit half precision add
   to c->f16_overflow. */
void apical_proj_weights_changed(apical_circuit *c, apical_proj *pj);

/* Allocate state, check every parameter set, zero weights. */
int apical_circuit_finalize(apical_circuit *c, char *err, size_t errcap);

/* Fill a projection's weights from N(mean, sd^2) with the init stream. */
void apical_proj_init_normal(apical_circuit *c, apical_proj *pj, double mean, double sd);
/* Fill a projection's weights from U(lo, hi) with the init stream. */
void apical_proj_init_uniform(apical_circuit *c, apical_proj *pj, double lo, double hi);
/* Self-predicting weights (MODEL.md 2.2) from the projections they mirror:
   into apical_inh, W^PI = -(the top-down weights into apical); into an
   interneuron's dendrite, W^IP = c_next/c_I (the partner pyramids' basal
   weights).  Call when those projections hold their weights. */
int apical_proj_init_self_predicting(apical_circuit *c, apical_proj *pj, char *err,
                                     size_t errcap);
/* The name of the port projection pj feeds ("basal", "apical", "dendrite", ...). */
const char *apical_proj_port(const apical_circuit *c, const apical_proj *pj);
/* The first dense (not one_to_one) projection from population src into
   port `port` of population dst, or NULL. */
const apical_proj *apical_proj_between(const apical_circuit *c, size_t src, size_t dst,
                                       const char *port);
/* The projection whose weights, times *factor, the self-predicting state
   asks of pj (see above): NULL, with a message, when pj is not a lateral
   pathway or its partner is missing. */
const apical_proj *apical_proj_partner(const apical_circuit *c, const apical_proj *pj,
                                       double *factor, char *err, size_t errcap);
/* Copy weights from a table of n_dst rows and n_src columns. */
int apical_proj_init_table(apical_circuit *c, apical_proj *pj, const apical_table *t, char *err,
                           size_t errcap);

/* ---- integration (engine.c) ------------------------------------------- */

enum {
    APICAL_STEP_PLASTIC = 1u,   /* advance plastic weights */
    APICAL_STEP_NOISE = 2u,     /* add sigma sqrt(dt) N(0,1) to noisy state */
    APICAL_STEP_TARGET = 4u,    /* teaching signals on (else target_gate ports stay 0) */
    APICAL_STEP_NOISE_DT = 8u   /* noise sigma dt N(0,1) instead of sigma sqrt(dt) N(0,1) */
};

/* Observe, route, and evaluate every derivative at the current state
   (ports and observables of all populations are left filled in). */
int apical_circuit_eval(apical_circuit *c, char *err, size_t errcap);
/* The same at any state vector y (n_y values), derivatives into dydt. */
int apical_circuit_eval_at(apical_circuit *c, const double *y, double *dydt, char *err,
                           size_t errcap);
/* Advance plastic weights by forward Euler from the last evaluation's
   observables. */
int apical_circuit_plasticity_euler(apical_circuit *c, double dt, char *err, size_t errcap);
/* Apply batched plasticity steps still pending (at pattern ends). */
int apical_circuit_flush_plasticity(apical_circuit *c, char *err, size_t errcap);
/* Add the noise of one step of length dt (if flags has APICAL_STEP_NOISE):
   one 64-bit key drawn from c->rng_noise, then normal q of the step (the
   noisy variables in population, state and cell order) is
   apical_normals(key, q): the same numbers for any thread count. */
void apical_circuit_noise(apical_circuit *c, double dt, unsigned flags);

/* Philox4x32-10 (Salmon et al., SC'11): 128 random bits of a counter
   under a key (runner/noise.c). */
void apical_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* out[i] = standard normal number first + i under key (single-precision
   Box-Muller on Philox4x32-10 of counter (first + i) / 4, runner/noise.c):
   a pure function of (key, index). */
void apical_normals(uint64_t key, uint64_t first, size_t n, double *out);

/* One forward Euler (Euler-Maruyama with noise) step of states and weights:
   apical_circuit_eval, then apical_circuit_advance_euler. */
int apical_circuit_step_euler(apical_circuit *c, double dt, unsigned flags, char *err,
                              size_t errcap);
/* The second half of a step: move states and weights from what the last
   apical_circuit_eval computed. */
int apical_circuit_advance_euler(apical_circuit *c, double dt, unsigned flags, char *err,
                                 size_t errcap);

/* First non-finite value in state or weights, or one beyond c->bound: 0 if
   none, else 1 and a message naming population/projection (and where it
   was defined), index and variable. */
int apical_circuit_check_finite(const apical_circuit *c, char *err, size_t errcap);

/* ---- integrators (integrate.c) ---------------------------------------- */

typedef struct apical_integ_opts {
    char method[16];        /* euler, expeuler, or a GSL odeiv2 stepper */
    double rtol, atol;      /* GSL: error control */
    double h0, hmax;        /* GSL: first step, largest step (0: dt) in ms */
    int weights_in_state;   /* GSL: plastic weights and rule memory join the ODE state */
} apical_integ_opts;

typedef struct apical_integrator apical_integrator;

/* Names of every method, NULL-terminated. */
extern const char *const apical_integ_methods[];

apical_integrator *apical_integrator_new(apical_circuit *c, const apical_integ_opts *o,
                                         char *err, size_t errcap);
void apical_integrator_free(apical_integrator *it);

/* Advance the circuit by dt from the state of the last apical_circuit_eval
   (whose observables drive the plasticity).  By default weights move beside
   the state, once per step: euler uses W(t) for the states (the published
   scheme); the other methods first advance the weights, then integrate the
   states over [t, t+dt] with them held (Lie splitting, O(dt) like the
   weights' own Euler step).  With weights_in_state a GSL stepper integrates
   states, weights and the rules' memory as one system (exact to its
   tolerance; costlier, and implicit steppers then take the Jacobian by
   finite differences).  Noise is added once per step, after the states. */
int apical_integrator_advance(apical_integrator *it, double dt, unsigned flags, char *err,
                              size_t errcap);

/* The step size a GSL stepper has reached (0 for euler, expeuler). */
double apical_integrator_h(const apical_integrator *it);
void apical_integrator_set_h(apical_integrator *it, double h);

/* Forget a multistep method's history: call after changing the state by
   hand (a restored snapshot, a reset). */
void apical_integrator_reset(apical_integrator *it);

/* Build the full Jacobian df/dy (n_y x n_y, row-major) at state y, from the
   modules' local Jacobians and the projections' weights (or by finite
   differences where a module has none).  Exposed for tests. */
int apical_circuit_jacobian(apical_integrator *it, const double *y, double *dfdy, char *err,
                            size_t errcap);

/* ---- runs (engine.c) -------------------------------------------------- */

typedef struct apical_metrics {
    const char *phase;
    long pattern;
    double t_ms;
    double apical_sq;    /* mean squared apical potential over apical-fed pops */
    double mismatch_sq;  /* mean squared (u_src - u_dst) over one-to-one projections */
    double test_error;   /* mean over patterns of sum_i (r_i - r_trgt,i)^2 at the
                            target population, without nudging (NaN: no target) */
    double angle_deg;    /* mean angle between each top-down matrix (into X.apical
                            from Y) and the transposed bottom-up matrix X -> Y.basal */
    double bp_cosine;    /* with eval_bp_cosine: mean cosine between each hidden layer's
                            bottom-up update at the nudged steady state and backprop's
                            (MODEL.md 2.3; bp_cosine.c), else NaN */
} apical_metrics;

enum apical_phase_kind { APICAL_PHASE_TRAIN = 1, APICAL_PHASE_TEST = 2, APICAL_PHASE_SETTLE = 3 };

typedef struct apical_phase {
    int kind;
    size_t stim;
    long patterns;          /* train: patterns; test: held-out patterns */
    double present_ms;      /* train: per pattern; settle: the duration */
    int plastic, target, noise;
} apical_phase;

typedef struct apical_trace_var {
    size_t pop, obs;        /* an observable (or port) of a population, all its cells */
    int port;               /* obs indexes the ports, not the observables */
} apical_trace_var;

/* Where a run stands, at a pattern boundary. */
typedef struct apical_run_pos {
    uint64_t phase;         /* current phase */
    int64_t in_phase;       /* patterns done in it */
    int64_t pattern;        /* training patterns done overall */
    int64_t step;           /* steps done: the time is step dt */
    uint64_t last_stim;
    double h;               /* GSL steppers: the step size reached */
} apical_run_pos;

typedef struct apical_run_opts {
    double dt;              /* ms */
    apical_integ_opts integ;
    int noise_dt_scaled;    /* 0: sigma sqrt(dt) N(0,1) (Euler-Maruyama);
                               1: sigma dt N(0,1), as most published code */
    apical_phase *phases;
    size_t n_phases;
    long eval_every;        /* train patterns between evaluations (0: none) */
    long eval_patterns;     /* held-out patterns per evaluation */
    double eval_settle_ms;  /* noise-free settling per held-out pattern */
    void (*on_metrics)(void *user, const apical_metrics *m);
    void (*on_progress)(void *user, long done, long total);
    /* traces: on_trace at steps 0, every, 2 every, ... of the traced phases,
       after the evaluation of the state at that time (read traces[] from
       the populations' obs or in buffers) */
    apical_trace_var *traces;
    size_t n_traces;
    long trace_every;
    uint64_t trace_phases;  /* bit i: trace during phase i; 0: every phase */
    void (*on_trace)(void *user, double t_ms, const apical_circuit *c);
    /* checkpoints: every checkpoint_every training patterns (0: never), when
       *stop becomes non-zero (then the run returns APICAL_RUN_STOPPED), and
       at the end; on_checkpoint saves (apical_checkpoint_save) */
    long checkpoint_every;
    volatile sig_atomic_t *stop;
    int (*on_checkpoint)(void *user, const apical_run_pos *pos, char *err, size_t errcap);
    const apical_run_pos *resume;   /* continue from here (state already loaded) */
    /* weight snapshots: on_weights at pattern 0 and every weights_every patterns */
    long weights_every;
    void (*on_weights)(void *user, long pattern, const apical_circuit *c);
    void *user;
    int eval_bp_cosine;     /* evaluations also measure bp_cosine (record.metrics.bp_cosine) */
} apical_run_opts;

#define APICAL_RUN_STOPPED 3
/* 0 done; -1 failed (err says why); APICAL_RUN_STOPPED: *stop was raised and
   a checkpoint written. */
int apical_run(apical_circuit *c, const apical_run_opts *o, char *err, size_t errcap);

/* Checkpoints: the state, weights, rule memory, random streams, stimuli and
   the run position, plus four words for the caller (file offsets, ...).
   Written atomically (temporary file, fsync, rename).  A checkpoint is for
   the same circuit on the same build: sizes are checked on load. */
int apical_checkpoint_save(const char *path, const apical_circuit *c, const apical_run_pos *pos,
                           const uint64_t extra[4], char *err, size_t errcap);
int apical_checkpoint_load(const char *path, apical_circuit *c, apical_run_pos *pos,
                           uint64_t extra[4], char *err, size_t errcap);
/* A 64-bit FNV-1a digest of what a checkpoint of c at pos holds except the
   caller's four words: equal for two runs in the same state, whatever their
   output files. */
uint64_t apical_checkpoint_digest(const apical_circuit *c, const apical_run_pos *pos);

#define APICAL_ALL_POPS ((size_t)-1)
/* Angle in degrees between the top-down weights into POP.apical and the
   transpose of POP's forward weights into the layer they come from, averaged
   over such pairs (APICAL_ALL_POPS: over every pair); NaN where there is none. */
double apical_feedback_angle(const apical_circuit *c, size_t pop);

/* Relative distance of the weights into POP.dendrite (an interneuron's W^IP)
   from their self-predicting copy of the partner pyramids' forward weights,
   |W - f W_p| / |f W_p| over all such projections; NaN where there is none. */
double apical_copy_deviation(const apical_circuit *c, size_t pop);

/* Adds to acc, over pj's weights W and their copy target T = f W_q:
   |W - T|^2, |T|^2, |W|^2 and W . T (apical_copy_deviation, apical inspect). */
void apical_copy_sums(const apical_circuit *c, const apical_proj *pj, const apical_proj *q,
                      double f, double acc[4]);

/* Evaluate the metrics on n held-out patterns of stimulus stim, each settled
   for o->eval_settle_ms without noise, nudging or plasticity from the
   current state; the state is restored after. */
int apical_evaluate(apical_circuit *c, const apical_run_opts *o, size_t stim, long n,
                    apical_metrics *m, char *err, size_t errcap);
/* Training patterns over all phases. */
long apical_run_total_patterns(const apical_run_opts *o);

/* ---- steady-state and backprop modes (steady.c) ------------------------ */

/* How a circuit is simulated: the full dynamics (apical_run), the
   steady-state sweeps of MODEL.md 4, or error backpropagation through the
   same circuit's forward pathway (the baseline of MODEL.md 6, item 13). */
enum apical_mode { APICAL_MODE_DYNAMICS = 0, APICAL_MODE_STEADY = 1, APICAL_MODE_BACKPROP = 2 };

#define APICAL_STEADY_MAX_EVAL 8
#define APICAL_STEADY_MAX_POPS 64

/* What an evaluation after an epoch measured. */
typedef struct apical_epoch_metrics {
    long epoch;                 /* epochs done (0: before training) */
    long patterns;              /* training patterns done */
    double seconds;             /* wall time of this epoch's training */
    double flop;                /* its work: 2 x the multiply-adds of the weight products */
    double train_error;         /* fraction of this epoch's training images whose free
                                   (un-nudged) output picked the wrong class (NaN at 0) */
    size_t n_eval;
    double error[APICAL_STEADY_MAX_EVAL];  /* per evaluated stimulus: wrong-class fraction */
    /* on the first evaluated stimulus, without nudging: mean squared apical
       potential of each apical-fed population (NaN for the others) and
       mean squared interneuron-partner mismatch */
    double apical_sq[APICAL_STEADY_MAX_POPS];
    double mismatch_sq;
    /* per apical-fed population, apical_feedback_angle (NaN for the others) */
    double angle_deg[APICAL_STEADY_MAX_POPS];
    /* bp_cosine probe (steady mode): per apical-fed population, the mean over
       the probe's mini-batches of the cosine between the layer's bottom-up
       update (Eq. 7, all basal projections together) and backprop's (bp_cos)
       or feedback alignment's through the top-down weights (fa_cos) update of
       the free feedforward network (MODEL.md 2.3); NaN when not measured */
    double bp_cos[APICAL_STEADY_MAX_POPS], fa_cos[APICAL_STEADY_MAX_POPS];
    /* per interneuron population, apical_copy_deviation (NaN for the others) */
    double copy_dev[APICAL_STEADY_MAX_POPS];
} apical_epoch_metrics;

/* How backprop mode sends the error back through a projection src -> dst:
   through its transpose (backprop), or through the fixed top-down projection
   dst -> src.apical of the same circuit (feedback alignment, with the
   microcircuit's own random feedback weights). */
enum apical_feedback { APICAL_FEEDBACK_TRANSPOSE = 0, APICAL_FEEDBACK_TOPDOWN = 1 };

/* How steady mode's interneurons learn.  LEARNED: Eq. 8 after the down
   sweep, towards the partner's nudged potential (the paper's scheme).
   IDEAL: not at all; every projection into an interneuron's dendrite is
   set to its self-predicting value (MODEL.md 2.2) after each mini-batch (a
   diagnostic: the microcircuit with perfect interneurons).  FREE: Eq. 8 in
   the free state, at the end of the up sweep, towards the partner's
   un-nudged potential, with the up sweep's presynaptic rates (a variant:
   the rule's fixed point is then the self-predicting copy itself, not the
   least-squares prediction of the nudged partner).  IMPLICIT: Eq. 8 as in
   LEARNED, with each mini-batch's change solved at the weights after the
   step (backward Euler to first order), so that no learning rate makes the
   delta rule overshoot (a variant of the discretisation, not of the rule:
   the same fixed points, and the same change where the change is small). */
enum apical_interneurons {
    APICAL_INTERNEURONS_LEARNED = 0,
    APICAL_INTERNEURONS_IDEAL = 1,
    APICAL_INTERNEURONS_FREE = 2,
    APICAL_INTERNEURONS_IMPLICIT = 3
};

typedef struct apical_steady_opts {
    int mode;                   /* APICAL_MODE_STEADY or APICAL_MODE_BACKPROP */
    size_t batch;               /* weight changes are averaged over this many images */
    int f32;                    /* weights and products in single precision */
    int literal;                /* the paper's literal mixing factors (APICAL_STEADY_LITERAL) */
    int passes;                 /* up-and-down sweep pairs per image (steady mode) */
    int feedback;               /* backprop: how the error returns to a hidden population */
    int interneurons;           /* steady: how projections into interneurons' dendrites learn
                                   (enum apical_interneurons) ... */
    unsigned char interneurons_pop[APICAL_STEADY_MAX_POPS]; /* ... or, per population where
                                   not 0, 1 + an enum apical_interneurons */
    double decay;               /* learning rates times decay^(epoch - decay_from) from
                                   epoch decay_from on (1: constant) */
    long decay_from;
    size_t bp_probe;            /* steady: bp_cos and fa_cos are measured after every epoch on
                                   the first bp_probe images of the training stimulus, with
                                   their targets and no plasticity (0: off) */
    int interneurons_keep_rate; /* the rules into interneurons' dendrites keep their rate
                                   when the others decay (decay_interneurons: false) */
    size_t train;               /* the training stimulus (an idx stimulus with targets) */
    long epochs;
    size_t eval[APICAL_STEADY_MAX_EVAL], n_eval;   /* idx stimuli tested after each epoch */
    long start_epoch;           /* resume: epochs already done (weights loaded) */
    int threads;                /* 0: all OpenMP threads or one, whichever is faster here
                                   (probed as it runs); n: exactly n */
    void (*on_epoch)(void *user, const apical_epoch_metrics *m);
    void (*on_progress)(void *user, long done, long total);
    /* after the first evaluation and after every epoch; when *stop is
       raised the run returns APICAL_RUN_STOPPED after the current
       mini-batch, and the last of these checkpoints is where it resumes */
    int (*on_checkpoint)(void *user, long epochs_done, char *err, size_t errcap);
    volatile sig_atomic_t *stop;
    void *user;
} apical_steady_opts;

typedef struct apical_steady apical_steady;

/* Buffers for a circuit in steady or backprop mode; checks that every cell
   has a steady function (and, for backprop, a Jacobian) and every plastic
   rule a steady rate (backprop: every rule is backprop). */
apical_steady *apical_steady_new(apical_circuit *c, const apical_steady_opts *o, char *err,
                                 size_t errcap);
void apical_steady_free(apical_steady *s);
/* Train o->epochs epochs (from o->start_epoch), evaluating before the first
   and after each.  0 done; -1 failed; APICAL_RUN_STOPPED. */
int apical_steady_run(apical_steady *s, char *err, size_t errcap);
/* Settle one mini-batch of n patterns (rows of x, each the input size) to
   the steady state without learning, target on or off (u_trgt: n rows of
   target potentials, or NULL); the populations' states are then readable
   with apical_steady_state.  For tests. */
int apical_steady_settle(apical_steady *s, const double *x, const double *u_trgt, size_t n,
                         char *err, size_t errcap);
/* State variable 0 of population pop for pattern b of the last settle. */
const double *apical_steady_state(const apical_steady *s, size_t pop, size_t b);
/* Learn from one mini-batch (rows of x and their target potentials u_trgt,
   target rates r_trgt for backprop).  For tests and benchmarks. */
int apical_steady_learn(apical_steady *s, const double *x, const double *u_trgt,
                        const double *r_trgt, size_t n, char *err, size_t errcap);
/* One epoch of training (shuffled, mini-batches) without evaluation; the
   fraction of images whose free output picked the wrong class. */
int apical_steady_train_epoch(apical_steady *s, double *train_error, char *errbuf,
                              size_t errcap);
/* FLOP of the weight products done so far (2 per multiply-add). */
double apical_steady_flop(const apical_steady *s);
/* The engine learns on its own copy of the weights (packed for its
   kernels, in the chosen precision).  sync writes that copy back into the
   circuit's projections (for checkpoints, snapshots and after training);
   load reads the circuit's weights into it (after changing them by hand). */
void apical_steady_sync(apical_steady *s);
void apical_steady_load(apical_steady *s);

/* ---- configuration (config.c) ----------------------------------------- */

typedef struct apical_config {
    apical_circuit *circuit;
    apical_run_opts run;
    apical_steady_opts steady;  /* used when steady.mode is not APICAL_MODE_DYNAMICS */
    char *source;           /* file name, for messages */
    char *resolved;         /* the YAML as run, overrides applied */
} apical_config;

/* Parse YAML (from a file, or from a string with a name for messages) and
   build the circuit.  Errors read "FILE:LINE:COL: what was expected". */
int apical_config_load_file(apical_config *cfg, apical_registry *reg, const char *file,
                            char *err, size_t errcap);
int apical_config_load_string(apical_config *cfg, apical_registry *reg, const char *name,
                              const char *text, char *err, size_t errcap);
/* The same with overrides "path.to.key=value" applied to the document
   first (mapping keys are created where missing; list items by index). */
int apical_config_load_file_set(apical_config *cfg, apical_registry *reg, const char *file,
                                const char *const *sets, size_t n_sets, char *err,
                                size_t errcap);
int apical_config_load_string_set(apical_config *cfg, apical_registry *reg, const char *name,
                                  const char *text, const char *const *sets, size_t n_sets,
                                  char *err, size_t errcap);
void apical_config_free(apical_config *cfg);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_RUNNER_H */
