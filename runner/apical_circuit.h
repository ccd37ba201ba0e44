/*
 * apical_circuit.h -- circuits: populations of cell modules, projections with
 * optional plasticity rules, stimuli; their vector field and the Euler step.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * Functions that can fail return 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_CIRCUIT_H
#define APICAL_CIRCUIT_H

#include <stddef.h>
#include <stdint.h>

#include "apical.h"
#include "apical_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A circuit owns its populations, projections and stimuli; all four are
   opaque: build them with the functions below, read them through the
   accessors. */
typedef struct apical_circuit apical_circuit;
typedef struct apical_pop apical_pop;
typedef struct apical_proj apical_proj;
typedef struct apical_stim apical_stim;

/* The memory limit starts at $APICAL_MEMORY_LIMIT (bytes: 2e9, or a number
   with a binary suffix K, M, G or T, optionally followed by B or iB; 0: no
   limit) or the machine's available memory; a circuit whose buffers would
   exceed it is refused before they are allocated, and so is every circuit
   while $APICAL_MEMORY_LIMIT is not a size (the error names it). */
apical_circuit *apical_circuit_new(unsigned long seed);

/* How many weights a projection holds (0 for one_to_one). */
size_t apical_proj_n_weights(const apical_circuit *c, const apical_proj *pj);
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
/* Multiply every plastic projection's learning rate (the parameter its rule
   names in apical_rule.rate_param, module ABI 1.7) by scale >= 0 from now on;
   1 restores the configured rates.  The configured parameters
   (apical_proj_rule_params) are left as they are.  Refused, with nothing
   changed, when scale is not 1 and a plastic projection's rule names no
   learning rate. */
int apical_circuit_set_rate_scale(apical_circuit *c, double scale, char *err, size_t errcap);
/* The same with factor role_scale for the projections into a port that
   plays `role` (an enum apical_role port role, e.g. APICAL_ROLE_DENDRITE:
   the interneurons'). */
int apical_circuit_set_rate_scale_role(apical_circuit *c, double scale, int role,
                                       double role_scale, char *err, size_t errcap);
apical_pop *apical_circuit_pop(apical_circuit *c, const char *name, size_t *index);
size_t apical_model_find_obs(const apical_cell_model *m, const char *name);
size_t apical_model_find_port(const apical_cell_model *m, const char *name);

/* A projection from obs src_obs of src to port dst_port of dst; a
   port-stage observable makes it a feedthrough projection, which finalize
   refuses when such projections form a loop (docs/modules.md).  one_to_one
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
/* Delay a projection by `steps` (0 or 1) Euler steps: with 1 it carries its
   source's observable of the step before (0 in the first step), as NEST's
   delayed rate connections do (docs/yaml.md, docs/nest.md); plasticity
   reads that value as the presynaptic one. */
int apical_proj_set_delay(apical_circuit *c, apical_proj *pj, int steps, char *err,
                          size_t errcap);
/* 1 if the projection is delayed by one step, else 0. */
int apical_proj_delay(const apical_proj *pj);
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
/* Show a table or idx stimulus's rows in a new order on every pass over
   them (each order drawn from the circuit's seed, the stimulus's place and
   the pass, so a resumed run sees the same); evaluations still read the
   rows in order. */
int apical_stim_set_shuffle(apical_circuit *c, apical_stim *s, char *err, size_t errcap);
/* Pattern i (0 .. count-1) of an idx stimulus into x (its size). */
void apical_stim_idx_pattern(const apical_stim *s, size_t i, double *x);
/* The one-hot target of image i of an idx stimulus with targets: the
   potentials into u and (r not NULL) the rates into r, one per class. */
void apical_stim_idx_target(const apical_stim *s, size_t i, double *u, double *r);

/* Give a stimulus targets for a population's target / target_gate ports:
   a table (one row of target potentials per pattern row; takes it) or, for
   a teacher, the teacher's output (targets NULL). */
int apical_stim_set_target(apical_circuit *c, apical_stim *s, const char *pop,
                           apical_table *targets, char *err, size_t errcap);

/* Advance plastic weights k steps at a time with the rules' rank-k update
   (ABI 1.1 euler_batch) where a rule has one: the dendrites of the k-1
   steps in between see weights up to k-1 steps old.  Set before finalize. */
void apical_circuit_set_plasticity_batch(apical_circuit *c, size_t k);

/* Integrate B copies of the circuit's state side by side (simulation.batch):
   each copy has its own ports, observables, pattern and noise, all share
   the weights, and each rule is driven by the mean over the copies.  The
   state vector is the B copies one after the other.  Set before finalize. */
void apical_circuit_set_copies(apical_circuit *c, size_t b);
size_t apical_circuit_copies(const apical_circuit *c);

/* on = 1: the dendrites read single-precision copies of the weights
   (refreshed whenever the weights change), half the memory traffic of the
   step's products; 2: and plastic weights learn in single precision
   (f32_all); 3: as 2, and the dendrites read half-precision copies (f16,
   runner/matvec.h).  Set before finalize. */
void apical_circuit_set_matvec_f32(apical_circuit *c, int on);
/* on: with single-precision learning (matvec f32_all or f16), one copy and
   plasticity batches, the rules may form their rank-k products from
   bfloat16 operands (ABI 1.6 apical_rule_batch.pre_bf16x2; rules built
   without AVX512_BF16 keep single precision).  Set before finalize. */
void apical_circuit_set_rule_bf16(apical_circuit *c, int on);
/* Refresh the single-precision copies after changing weights by hand. */
void apical_circuit_weights_changed(apical_circuit *c);
/* The same for one projection; weights that do not fit half precision add
   to the count of weights past half precision. */
void apical_proj_weights_changed(apical_circuit *c, apical_proj *pj);

/* Allocate state, check every parameter set, zero weights. */
int apical_circuit_finalize(apical_circuit *c, char *err, size_t errcap);

/* Fill a projection's weights from N(mean, sd^2) with the init stream. */
void apical_proj_init_normal(apical_circuit *c, apical_proj *pj, double mean, double sd);
/* Fill a projection's weights from U(lo, hi) with the init stream. */
void apical_proj_init_uniform(apical_circuit *c, apical_proj *pj, double lo, double hi);
/* Self-predicting weights (docs/model.md 2.2) from the projections they mirror:
   into apical_inh, W^PI = -(the top-down weights into apical); into an
   interneuron's dendrite, W^IP = c_next/c_I (the partner pyramids' basal
   weights).  Call when those projections hold their weights. */
int apical_proj_init_self_predicting(apical_circuit *c, apical_proj *pj, char *err,
                                     size_t errcap);
/* The name of the port projection pj feeds ("basal", "apical", "dendrite", ...). */
const char *apical_proj_port(const apical_circuit *c, const apical_proj *pj);
/* The first dense (not one_to_one) projection from population src into
   the port of population dst that plays `role` (enum apical_role), or NULL. */
const apical_proj *apical_proj_between(const apical_circuit *c, size_t src, size_t dst, int role);
/* The projection whose weights, times *factor, the self-predicting state
   asks of pj (see above): NULL, with a message, when pj is not a lateral
   pathway or its partner is missing. */
const apical_proj *apical_proj_partner(const apical_circuit *c, const apical_proj *pj,
                                       double *factor, char *err, size_t errcap);
/* Copy weights from a table of n_dst rows and n_src columns. */
int apical_proj_init_table(apical_circuit *c, apical_proj *pj, const apical_table *t, char *err,
                           size_t errcap);

/* ---- reading a circuit -------------------------------------------------- */

/* Populations, projections and stimuli in the order they were added. */
size_t apical_circuit_n_pops(const apical_circuit *c);
size_t apical_circuit_n_projs(const apical_circuit *c);
size_t apical_circuit_n_stims(const apical_circuit *c);
apical_pop *apical_circuit_pop_at(const apical_circuit *c, size_t i);
apical_proj *apical_circuit_proj_at(const apical_circuit *c, size_t i);
apical_stim *apical_circuit_stim_at(const apical_circuit *c, size_t i);
/* The stimulus called name (and its index), or NULL. */
apical_stim *apical_circuit_stim(const apical_circuit *c, const char *name, size_t *index);
/* The state vector of the whole circuit (after finalize): *n_y values, each
   population's state variables one after the other, cells innermost. */
double *apical_circuit_state(const apical_circuit *c, size_t *n_y);
unsigned long apical_circuit_seed(const apical_circuit *c);

const char *apical_pop_name(const apical_pop *p);
size_t apical_pop_size(const apical_pop *p);
const apical_cell_model *apical_pop_model(const apical_pop *p);
/* Parameter values, in the model's table order. */
const double *apical_pop_params(const apical_pop *p);
/* State variable k of every cell: n values inside the circuit's state. */
double *apical_pop_state(const apical_circuit *c, const apical_pop *p, size_t k);
/* Observable k (port k) of every cell as the last evaluation left it. */
const double *apical_pop_observable(const apical_pop *p, size_t k);
const double *apical_pop_port(const apical_pop *p, size_t k);
/* The same for copy b of a circuit with copies (simulation.batch). */
const double *apical_pop_observable_copy(const apical_pop *p, size_t k, size_t b);
const double *apical_pop_port_copy(const apical_pop *p, size_t k, size_t b);
/* 1 when some projection feeds its top-down or lateral apical port. */
int apical_pop_apical_fed(const apical_pop *p);
/* The port (roles up to APICAL_ROLE_DRIVE) or observable playing `role`
   (enum apical_role, models/apical.h) in p's cells, or (size_t)-1. */
size_t apical_pop_role(const apical_pop *p, int role);

/* Source and target population (indices), the source observable and the
   target port (indices into the models' tables). */
size_t apical_proj_src(const apical_proj *pj);
size_t apical_proj_dst(const apical_proj *pj);
size_t apical_proj_src_obs(const apical_proj *pj);
size_t apical_proj_dst_port(const apical_proj *pj);
int apical_proj_one_to_one(const apical_proj *pj);
/* The role of the port projection pj feeds (APICAL_ROLE_NONE: none). */
int apical_proj_role(const apical_circuit *c, const apical_proj *pj);
/* The weights, n_dst rows of n_src (NULL for one_to_one).  After writing
   them, call apical_proj_weights_changed. */
double *apical_proj_weights(const apical_proj *pj);
/* The plasticity rule (NULL: fixed) and its parameters, table order. */
const apical_rule *apical_proj_rule(const apical_proj *pj);
const double *apical_proj_rule_params(const apical_proj *pj);
/* Where it was defined (FILE:LINE:COL), or "". */
const char *apical_proj_where(const apical_proj *pj);
/* Its name: unique in the circuit, SRC-DST unless the YAML's name: or
   apical_proj_set_name gave another. */
const char *apical_proj_name(const apical_proj *pj);

const char *apical_stim_name(const apical_stim *s);
/* Its pattern (the values it puts on its port), apical_stim_size of them:
   writable, for a host that drives the circuit itself. */
double *apical_stim_pattern(const apical_stim *s);
size_t apical_stim_size(const apical_stim *s);
/* Its next pattern (and target), as a training phase presents it: a fresh
   draw from the training stream, or the next row of its table or file. */
void apical_stim_advance(apical_circuit *c, apical_stim *s);
/* The target potentials it sets on its taught population, *n of them
   (writable, like the pattern), or NULL (and 0) without a target; the
   taught population's name, or NULL. */
double *apical_stim_target(const apical_circuit *c, const apical_stim *s, size_t *n);
const char *apical_stim_target_pop(const apical_circuit *c, const apical_stim *s);
/* Only stimulus `active` drives the circuit (none when it is not below
   apical_circuit_n_stims), its targets on or off. */
void apical_circuit_activate(apical_circuit *c, size_t active, int target_on);

/* ---- settings ------------------------------------------------------------ */

/* Threads that route the ports and apply batched plasticity.  By default
   (n = 0) a circuit large enough to gain uses all of OpenMP's threads or
   one, whichever is faster (probed as it runs); a small one, one.  n >= 1:
   exactly n, no probing.  The numbers are the same for any count.  Call
   after finalize. */
int apical_circuit_set_threads(apical_circuit *c, int n, char *err, size_t errcap);
/* The most threads it routes with now: what the default chose (1 for a
   small circuit), or the count set. */
int apical_circuit_threads(const apical_circuit *c);
/* |state| or |weight| beyond bound stops a run (0: no bound; default 0
   here, 1e8 from a YAML file). */
void apical_circuit_set_bound(apical_circuit *c, double bound);
double apical_circuit_bound(const apical_circuit *c);

/* ---- stepping (step.c) ------------------------------------------- */

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

/* One forward Euler (Euler-Maruyama with noise) step of states and weights:
   apical_circuit_eval, then apical_circuit_advance_euler. */
int apical_circuit_step_euler(apical_circuit *c, double dt, unsigned flags, char *err,
                              size_t errcap);
/* The second half of a step: move states and weights from what the last
   apical_circuit_eval computed. */
int apical_circuit_advance_euler(apical_circuit *c, double dt, unsigned flags, char *err,
                                 size_t errcap);

/* First non-finite value in state or weights, or one beyond the bound: 0 if
   none, else 1 and a message naming population/projection (and where it
   was defined), index and variable. */
int apical_circuit_check_finite(const apical_circuit *c, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_CIRCUIT_H */
