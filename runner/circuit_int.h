/*
 * circuit_int.h -- libapical's internal view of a circuit: the structs
 * behind the public API's opaque types, and what the library's own files
 * share.  Not installed.
 */
#ifndef APICAL_CIRCUIT_INT_H
#define APICAL_CIRCUIT_INT_H

#include <gsl/gsl_rng.h>

#include "apical_runner.h"
#include "team.h"

struct apical_pop {
    char *name;
    const apical_cell_model *model;
    size_t n;
    double *p;          /* parameters, table order */
    double sigma;       /* noise amplitude on APICAL_VAR_NOISY state */
    size_t y_off;       /* offset of this population's state in circuit y */
    double *in;         /* ports, n_ports x n; with copies, copy b's at in + b in_blk */
    double *obs;        /* observables, n_obs x n; copy b's at obs + b obs_blk */
    size_t in_blk, obs_blk; /* doubles per copy in `in` and `obs` */
    uint8_t *need;      /* n_obs flags: observables something reads */
    int apical_fed;     /* some projection targets an apical* port */
    char where[96];     /* where it was defined (FILE:LINE:COL), for messages */
    size_t role[APICAL_ROLE_COUNT]; /* the port or observable playing each role
                                       (roles.c), or (size_t)-1 */
};

struct apical_proj {
    size_t src, dst;            /* population indices */
    size_t src_obs, dst_port;
    int one_to_one;
    double *w;                  /* n_dst x n_src, row-major (dense only) */
    const apical_rule *rule;    /* NULL: fixed */
    double *rp;                 /* rule parameters */
    double *rp_run;             /* the parameters the rule is called with: rp, its
                                   learning rate (apical_rule.rate_param) times
                                   rate_scale */
    double rate_scale;          /* apical_circuit_set_rate_scale (1: as configured) */
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
    uint32_t *hist_pre_bf16x2; /* rule_products bf16: hist_pre as bfloat16 pairs of steps
                                  (apical_rule_batch.pre_bf16x2) */
    size_t hist_n;
    int feedthrough;           /* carries a port-stage observable (direct feedthrough) */
    double *dw_mean;           /* copies > 1 without a batched rule: the mean of the
                                  copies' dwdt, (1 + n_aux) weights */
    double *delayed;           /* delay: 1: the source observable of the step before
                                  (n_src, 0 before the first step), else NULL */
    double *delayed_saved;     /* delayed, kept while an evaluation runs */
};

enum apical_stim_kind {
    APICAL_STIM_UNIFORM = 1,    /* patterns drawn from U(lo, hi) */
    APICAL_STIM_TABLE = 2,      /* rows of a table, in order, cycling */
    APICAL_STIM_TEACHER = 3,    /* U(lo, hi) inputs, targets from a teacher network */
    APICAL_STIM_IDX = 4         /* images of an IDX file (MNIST), one-hot class targets */
};

/* A teacher network (docs/model.md 3.3): r_l = phi(k_l W_l r_{l-1}); the
   target potential is the last layer's k_L W_L r_{L-1}. */
typedef struct apical_teacher {
    size_t n_layers;            /* weight layers */
    size_t *sizes;              /* n_layers + 1 */
    double *gains;              /* n_layers */
    double **w;                 /* sizes[l+1] x sizes[l] */
    double *r[2];               /* scratch activations */
    double phi[4];              /* transfer: kind, gamma, beta, theta (transfer.h) */
} apical_teacher;

struct apical_stim {
    char *name;
    int kind;
    size_t size;
    double lo, hi;              /* uniform range */
    apical_table table;         /* table: one pattern per row, in order */
    apical_table targets;       /* table: target potentials, row for row */
    size_t next_row;
    size_t *perm;               /* shuffle: this pass's order of the rows (NULL: in order) */
    uint64_t pass;              /* shuffle: passes over the rows completed */
    uint64_t perm_seed;         /* shuffle: the orders' seed (with the pass) */
    gsl_rng *perm_rng;          /* shuffle: draws the orders */
    apical_teacher teacher;
    size_t dst, dst_port;       /* the population and port it drives */
    double *x;                  /* current pattern; with copies, copy b's at x + b size */
    int has_target;
    size_t tgt, tgt_port, tgt_gate; /* population, its target and target_gate ports */
    double *u_trgt;             /* current target potential (copy b's at + b n_tgt) */
    int active, target_on;      /* set by the run, per phase */
    /* idx: images first .. first+count-1 of an N x H x W file, pixels times
       scale; targets one-hot: potential trgt_u[1] (rate trgt_r[1]) for the
       labelled class, trgt_u[0] (trgt_r[0]) elsewhere */
    apical_idx images, labels;
    size_t first, count;
    double scale;
    double trgt_u[2], trgt_r[2];
    size_t n_classes;           /* the target population's size */
};

struct apical_circuit {
    apical_pop *pops;   size_t n_pops;
    apical_proj *projs; size_t n_projs;
    apical_stim *stims; size_t n_stims;
    size_t n_y;         /* the whole state: copies x n_y1 */
    size_t copies;      /* copies of the state integrated side by side on the same
                           weights (simulation.batch; 1: one) */
    size_t n_y1;        /* one copy's state; copy b's at y + b n_y1 */
    double *y, *dydt, *y_saved, *noise;
    double *scratch;    /* largest population size */
    double *obs_scratch; /* largest n_obs x n */
    size_t batch_k;     /* plasticity steps per rank-k update (1: every step) */
    int rule_bf16;      /* the batched rules' products from bfloat16 operands */
    int matvec_f32;     /* 1: dendrites read single-precision copies of the weights;
                           2: and plastic weights (rules with euler_batch_f32) are stored
                           and learn in single precision (matvec: f32_all);
                           3: as 2, and the dendrites read half-precision copies
                           (matvec: f16) */
    size_t f16_overflow; /* weights that did not fit half precision at the last refresh */
    float *xf;          /* scratch: a presynaptic vector in single precision, per thread */
    size_t xf_stride;   /* floats per thread in xf */
    int xf_threads;     /* threads xf has room for */
    int route_auto;     /* threads that may route the ports, as finalize chose
                           (1 for small circuits) */
    apical_team team;   /* threads routing the ports and flushing the plasticity */
    double batch_dt;
    double bound;       /* |state| or |weight| beyond this stops a run (0: none) */
    double mem_limit, mem_estimate; /* bytes: refuse circuits past the limit */
    char mem_limit_bad[64]; /* APICAL_MEMORY_LIMIT when it is not a size (refused) */
    unsigned long seed;
    gsl_rng *rng_init, *rng_train, *rng_noise, *rng_test;
    int finalized;
    size_t n_feed;      /* feedthrough projections (0: the evaluation has no order) */
    size_t *order;      /* with n_feed > 0: the populations in evaluation order, each
                           after the sources of its feedthrough projections */
};


/* Philox4x32-10 (Salmon et al., SC'11): 128 random bits of a counter
   under a key (runner/noise.c). */
void apical_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* out[i] = standard normal number first + i under key (single-precision
   Box-Muller on Philox4x32-10 of counter (first + i) / 4, runner/noise.c):
   a pure function of (key, index). */
void apical_normals(uint64_t key, uint64_t first, size_t n, double *out);

/* stimulus.c: the next pattern of s (and its target): a fresh draw from
   rng (through the teacher), or the next row of a table or IDX file. */
void apical_stim_next(apical_stim *s, gsl_rng *rng);
/* The rows a table or idx stimulus cycles through (0 for the others). */
size_t apical_stim_rows(const apical_stim *s);
/* A shuffled stimulus's order for its pass s->pass, into s->perm. */
void apical_stim_draw_order(apical_stim *s);
/* The next pattern of every copy: copy b takes the b-th of the next
   c->copies patterns (one call of apical_stim_next each). */
void apical_stim_next_copies(const apical_circuit *c, apical_stim *s, gsl_rng *rng);

/* After an Euler step's plasticity: every delayed projection keeps its
   source's observable of this step for the next one. */
void apical_circuit_shift_delays(apical_circuit *c);
/* Keep (restore = 0) or bring back (1) the delayed projections' values,
   around an evaluation. */
void apical_circuit_keep_delays(apical_circuit *c, int restore);

/* The populations in an order where every feedthrough projection's source
   comes before its destination, into order (n_pops entries); -1 when the
   feedthrough projections form an instantaneous loop, with a message naming
   its populations and *proj (may be NULL) one projection of it. */
int apical_circuit_feed_order(const apical_circuit *c, size_t *order, size_t *proj, char *err,
                              size_t cap);

/* roles.c: role[r] of a cell model: the port or observable playing role r
   (size_t)-1 where none does; -1 with a message for a bad roles table. */
int apical_roles_resolve(const apical_cell_model *m, size_t *role, char *err, size_t cap);
/* "teaching-gate port", ... for messages; is the role a port's? */
const char *apical_role_what(int role);
int apical_role_is_port(int role);
/* The attenuation of port `port` of p's cells (the module's function, or
   from its Jacobian at rest). */
int apical_pop_attenuation(const apical_pop *p, size_t port, double *a, char *err, size_t cap);

/* analysis.c: sums of squares over held-out patterns. */
typedef struct apical_sums {
    double apical, mismatch, error;
    size_t n_apical, n_mismatch, n_error;
    size_t n_class, wrong; /* idx stimuli: patterns classified, and wrongly */
} apical_sums;
/* Adds the squared apical potential, interneuron mismatch and output error
   at the current state (ports and observables filled by an evaluation). */
int apical_measure(apical_circuit *c, const apical_stim *st, apical_sums *m, char *err,
                   size_t cap);
/* The same for copy b of a circuit with copies (simulation.batch). */
int apical_measure_copy(apical_circuit *c, const apical_stim *st, size_t b, apical_sums *m,
                        char *err, size_t cap);
/* The apical potential and the mismatch, shared by both modes: their
   squares added to *sum, returning how many were added.  OBS is a
   population's observable block in rows of COUNT values (COUNT = cells,
   or cells times the batch in steady mode).  apical_add_apical_sq: P's
   squared apical potentials where P is apical-fed (docs/model.md 2.2);
   apical_add_mismatch: for a one_to_one projection PJ, the squared
   difference between the observable it carries and its destination's
   potential u (the interneurons' distance from their nudging). */
/* -dL/d(port) = g (du/d port) for one-state cells at a fixed point of
   their rhs, du/d port = -(df/d port) / (df/du) from the module's
   Jacobian rows dfdy and dfdin (the port's), g = -dL/du; count cells (out
   may be g).  Both modes' backprop and bp_cosine use it. */
void apical_port_grad(const double *dfdy, const double *dfdin, size_t count, const double *g,
                      double *out);
size_t apical_add_apical_sq(const apical_pop *p, const double *obs, size_t count, double *sum);
size_t apical_add_mismatch(const apical_circuit *c, const apical_proj *pj, const double *src_obs,
                           const double *dst_obs, size_t count, double *sum);

/* checkpoint.c: a checkpoint held in memory (n bytes, named path in
   messages), as apical_checkpoint_load reads a file; the checksum of n
   bytes as the trailer holds it (for the fuzz target, which mends the
   trailer of a mutated checkpoint so that the fields behind it are read). */
int apical_checkpoint_read(const void *data, size_t n, const char *path, apical_circuit *c,
                           apical_run_pos *pos, uint64_t extra[4], char *err, size_t cap);
uint64_t apical_checkpoint_checksum(const void *buf, size_t n);
/* checkpoint.c: a checkpoint written by the circuit written_by loaded into
   c, which may differ from it in parameter values and noise only (a run
   going on under changed parameters); apical_checkpoint_load is this with
   written_by c. */
int apical_checkpoint_load_as(const char *path, apical_circuit *c,
                              const apical_circuit *written_by, apical_run_pos *pos,
                              uint64_t extra[4], char *err, size_t cap);

#endif /* APICAL_CIRCUIT_INT_H */
