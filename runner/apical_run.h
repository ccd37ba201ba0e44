/*
 * apical_run.h -- runs in the dynamics mode (phases, evaluations, traces,
 * checkpoints) and measures of a circuit.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * Functions that can fail return 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_RUN_H
#define APICAL_RUN_H

#include <signal.h>
#include <stdint.h>

#include "apical_circuit.h"
#include "apical_integrate.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- runs (run.c, checkpoint.c, analysis.c) ----------------------------- */

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
                            (docs/model.md 2.3; bp_cosine.c), else NaN */
    double class_error;  /* for an idx stimulus: the fraction of held-out patterns whose
                            largest output rate is not their class's, without nudging
                            (NaN otherwise) */
    const char *stimulus;   /* the evaluated stimulus's name */
} apical_metrics;

enum apical_phase_kind { APICAL_PHASE_TRAIN = 1, APICAL_PHASE_TEST = 2, APICAL_PHASE_SETTLE = 3 };

typedef struct apical_phase {
    int kind;
    size_t stim;
    long patterns;          /* train: patterns; test: held-out patterns */
    double present_ms;      /* train: per pattern; settle: the duration */
    int plastic, target, noise;
    double plastic_after_ms; /* train: plasticity off for the first ms of each
                                presentation (its rules' filters held) */
    double rate_scale;      /* train, settle: the learning rates times this
                               (apical_circuit_set_rate_scale); 0 stands for 1 */
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
    double interneuron_rates; /* > 0: the rules of projections into an interneuron's
                                 dendrite (APICAL_ROLE_DENDRITE) run at this factor of
                                 their rates whatever the phases say; 0: as the phases */
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
    unsigned char *trace_phases; /* n_phases flags: trace during phase i when
                                    trace_phases[i]; NULL: every phase */
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

/* The `apical` command's exit codes: done; the run failed (diverged, a
   module failed, a file could not be written); bad input (usage, YAML,
   files); stopped by a signal with a checkpoint written, so that
   `apical run --resume DIR` (or the same sweep command) continues it. */
enum { APICAL_EXIT_OK = 0, APICAL_EXIT_FAILED = 1, APICAL_EXIT_USAGE = 2, APICAL_EXIT_STOPPED = 3 };
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

#ifdef __cplusplus
}
#endif

#endif /* APICAL_RUN_H */
