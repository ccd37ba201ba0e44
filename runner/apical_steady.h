/*
 * apical_steady.h -- the steady-state and backprop modes: circuits trained by
 * sweeping to their fixed points.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * Functions that can fail return 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_STEADY_H
#define APICAL_STEADY_H

#include <signal.h>

#include "apical_circuit.h"
#include "apical_run.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a circuit is simulated: the full dynamics (apical_run), the
   steady-state sweeps of docs/model.md 4, or error backpropagation through the
   same circuit's forward pathway (the baseline of docs/model.md 6, item 13). */
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
       the free feedforward network (docs/model.md 2.3); NaN when not measured */
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
   set to its self-predicting value (docs/model.md 2.2) after each mini-batch (a
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
    /* before the first evaluation (resuming from it repeats that
       evaluation) and after every epoch's evaluation; when *stop is raised
       the run returns APICAL_RUN_STOPPED after the current mini-batch of
       training or evaluation, and the last of these checkpoints is where
       it resumes */
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

#ifdef __cplusplus
}
#endif

#endif /* APICAL_STEADY_H */
