/*
 * steady_int.h -- what the files of the steady-state and backprop modes
 * share (internal to libapical, not installed): the engine's object and
 * the steps one file calls in another.
 *
 *   steady.c           the object, the sweeps, the learning of a mini-batch,
 *                      the epoch loop and the run driver
 *   steady_backprop.c  backprop and feedback alignment
 *   steady_implicit.c  the implicit step of the interneurons' Eq. 8
 *   steady_probe.c     the bp_cosine probe of steady mode
 *   steady_eval.c      the metrics after an epoch
 *
 * Functions returning int give 0, or -1 with a message in err.
 */
#ifndef APICAL_STEADY_INT_H
#define APICAL_STEADY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "circuit_int.h"

#define NONE ((size_t)-1)

typedef struct sd_pop {
    double *y, *in, *obs;       /* n_state, n_ports, n_obs rows of batch*n */
    double *dfdy, *dfdin, *dody; /* backprop: the module's Jacobian blocks */
    double *grad;               /* backprop: -dL/du, batch x n */
    double *gradr;              /* backprop: -dL/drate, batch x n */
    double *grad_fa, *gradr_fa; /* bp_cosine probe: the same through the top-down weights */
    double *rfree;              /* bp_cosine probe: the up sweep's rates, batch x n */
    long version;               /* bumped whenever the state is recomputed */
    int visited;                /* computed in the current up sweep */
    int learns_into;            /* some projection into it carries a backprop rule */
    int learns_free;            /* interneurons free: some projection into it learns there */
    size_t imp_first;           /* interneurons implicit: the first of the plastic projections
                                   into its dendrite, whose change is solved together (NONE:
                                   not implicit) */
    double *gain;               /* implicit: -d(post factor)/d(dendrite input), batch x n */
    double *yp, *inp, *obsp;    /* implicit: state, ports and observables at a moved input */
    size_t rate;                /* index of the rate observable */
} sd_pop;

typedef struct sd_proj {
    double *out;                /* batch x n_dst: this projection's input to its port */
    long src_version;           /* source version `out` was computed from (-1: none) */
    float *wf;                  /* the weights, packed in panels (kernels.h): f32 ... */
    double *wd;                 /* ... or f64; NULL for one_to_one */
    float *wtf;                 /* backprop through it: W^T packed, kept equal bit for */
    double *wtd;                /* bit to W (same products in the same order) */
    size_t fb;                  /* feedback topdown: the projection the error returns
                                   through instead of W^T (NONE: W^T) */
    size_t copy_of;             /* ideal interneurons: the weights are copy_f times this
                                   projection's after every mini-batch (NONE: not a copy) */
    double copy_f;
    double *pre;                /* interneurons free: batch x n_src, the up sweep's rates the
                                   change is taken with (e is taken there too); NULL: the
                                   final rates */
    int no_decay;               /* keeps its rate when the others decay */
    int plastic;
    double eta, a, b;           /* the rule's steady form */
    double *e;                  /* batch x n_dst: the post factor */
    /* f32: a weight change waiting to be applied in the same pass over the
       weights as the next product (apical_k_update_forward) */
    float *pend_e, *pend_x, pend_f;
    size_t pend_nb;
    int pending;
} sd_proj;

struct apical_steady {
    apical_circuit *c;
    apical_steady_opts o;
    size_t B, nb;               /* batch capacity, current batch */
    sd_pop *pops;
    sd_proj *projs;
    float *xf, *ef, *of;        /* scratch: source, post factor, product in f32 */
    double *scrd;               /* scratch: a backpropagated product in f64 */
    double *ysave;              /* scratch: a population's state before it settles */
    const double **psrc;        /* scratch: the products into a population ... */
    size_t *pport;              /* ... and the ports they feed */
    double *ext_x, *ext_u, *ext_r; /* the batch's inputs, target potentials, target rates */
    size_t ext_stim;            /* stimulus the batch comes from */
    int target_on;
    size_t *order;              /* training order, reshuffled every epoch */
    size_t widest;
    double flop;                /* multiply-adds x 2 of the weight products so far */
    int max_threads;            /* OpenMP threads available */
    double rate_scale;          /* decay^(epoch - decay_from): the learning rates' factor */
    apical_team team;           /* threads per mini-batch (team.h) */
    int any_free;               /* some projection learns in the free state */
    double *gram;               /* bp_cosine probe: eight batch x batch products */
    double *imp_g, *imp_m;      /* interneurons implicit: the batch's Gram (batch x batch) and
                                   IMP_W cells' systems and vectors (steady_implicit.c) */
};

/* How the interneurons of population i learn (enum apical_interneurons). */
static inline int sd_in_mode(const apical_steady_opts *o, size_t i)
{
    return o->interneurons_pop[i] ? o->interneurons_pop[i] - 1 : o->interneurons;
}

/* The row of the observable a projection carries, for the whole batch. */
static inline const double *sd_src_row(const apical_steady *s, const apical_proj *pj)
{
    const apical_pop *p = &s->c->pops[pj->src];
    return s->pops[pj->src].obs + pj->src_obs * s->nb * p->n;
}

/* ---- steady_sweep.c ---------------------------------------------------- */

/* The message for a failed allocation; returns -1. */
int apical_sd_oom(char *err, size_t cap);

/* Population i's port-stage observables (or, jacobian set, its Jacobian
   blocks) from its settled state and ports; APICAL_OK or the status of a
   failed slice. */
int apical_sd_observe(apical_steady *s, size_t i, int jacobian);

/* Population i settled with its ports held (flags: APICAL_STEADY_*). */
int apical_sd_settle_pop(apical_steady *s, size_t i, uint32_t flags, char *err, size_t cap);

/* `passes` up-and-down sweeps (backprop: the up sweep), then every
   population's observables. */
int apical_sd_sweep(apical_steady *s, int passes, char *err, size_t cap);

/* W += f e^T pre for projection k with the post factor e (batch x n_dst). */
/* Apply a deferred weight change of projection k on its own. */
void apical_sd_flush_proj(apical_steady *s, size_t k);
void apical_sd_learn_proj(apical_steady *s, size_t k, const double *e);

/* Batch rows [from, from+n) of stimulus st_i in the given order (NULL: as
   stored) into the external buffers. */
void apical_sd_load_batch(apical_steady *s, size_t st_i, const size_t *order, size_t from,
                          size_t n, int target_on);

/* Wrong classes in the batch by argmax of the target population's
   observable o (0 when o is NONE or the stimulus has no targets). */
size_t apical_sd_count_wrong(apical_steady *s, const size_t *order, size_t from, size_t o);

/* -dL/d(port) of population q's cells (bn of them) from g = -dL/du. */
void apical_sd_port_grad(const sd_pop *q, size_t port, size_t bn, const double *g, double *out);

/* ---- steady_backprop.c ------------------------------------------------- */

/* Backprop mode: the W^T copies, or with feedback topdown the projections
   the error returns through. */
int apical_sd_backprop_setup(apical_steady *s, char *err, size_t cap);

/* Backprop mode: the mini-batch's change from the error at the target. */
int apical_sd_learn_backprop(apical_steady *s, char *err, size_t cap);

/* ---- steady_implicit.c ------------------------------------------------- */

/* Interneurons implicit: checks the projections and allocates the buffers. */
int apical_sd_implicit_setup(apical_steady *s, char *err, size_t cap);

/* Interneurons implicit: the post factors of population i's dendrite
   replaced by those of the implicit step. */
int apical_sd_implicit_step(apical_steady *s, size_t i, char *err, size_t cap);

/* ---- steady_probe.c ---------------------------------------------------- */

/* bp_cos and fa_cos of m (NAN where not measured). */
int apical_sd_probe(apical_steady *s, apical_epoch_metrics *m, char *err, size_t cap);

/* ---- steady_eval.c ----------------------------------------------------- */

/* The metrics of m after an epoch, apart from the training fields. */
int apical_sd_evaluate(apical_steady *s, apical_epoch_metrics *m, char *err, size_t cap);

#endif
