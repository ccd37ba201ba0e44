/*
 * steady.c -- the steady-state mode of MODEL.md 4 and the backprop
 * baseline, on the circuit the full dynamics run.
 *
 * Steady state.  Each image's fixed point is found by sweeping the
 * populations, in the order the file declares them, with each cell
 * module's `steady` function (the state where du/dt = 0 with its ports
 * held).  The first sweep goes upwards: a port fed by a population not yet
 * computed reads 0, so hidden pyramids settle on their attenuated basal
 * input c_B v_B and the output on c_N v_B.  Then the teaching signal comes
 * on and a sweep in reverse order computes the output with its nudge, each
 * interneuron from the layer's up-sweep rates and its freshly nudged
 * partner, and each pyramid from its basal input and the new apical input:
 * exactly the "up, nudge, down" scheme of MODEL.md 4 (its exact version
 * with the attenuation factors), derived from the modules rather than
 * written out per layer.  More passes iterate towards the full fixed point.
 *
 * Every rule with a steady rate (ABI 1.2) then changes its weights by
 * eta mean_b (a post_b + b) pre_b^T over the mini-batch: one GEMM per
 * projection.  The images of a mini-batch go through the sweeps together:
 * a population's buffers hold the batch as batch x n cells, so a module
 * sees batch * n cells (in slices of batch rows, one per thread, when it
 * takes a row distance: ABI 1.3) and each projection is one product of its
 * weight matrix with the batch.  The engine keeps its own copy of the
 * weights, packed for runner/kernels.h (apical_steady_sync and _load move
 * them to and from the circuit).  A projection's product is kept and
 * reused while its source has not changed (the down sweep recomputes only
 * the top-down and lateral pathways).
 *
 * Backprop.  The same upward sweep without nudging is the forward pass of
 * a feedforward net; the error 1/2 |r - r_trgt|^2 at the target population
 * is swept back through the transposed weights of every projection a
 * `backprop` rule learns (a second packed copy of W^T, kept equal to W),
 * each cell's slope du/d(port) = -(df/dport) / (df/du) and phi'(u) taken
 * from its module's Jacobian.  With `feedback: topdown` the error returns
 * instead through the circuit's fixed top-down projection dst -> src.apical
 * (feedback alignment, Lillicrap et al. 2016, with the microcircuit's own
 * random feedback weights), and no W^T copy is kept.
 */
#include "config.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_cblas.h>
#include <gsl/gsl_randist.h>

#include "apical_runner.h"
#include "kernels.h"

#define NONE ((size_t)-1)
#define IMP_W 64 /* interneurons implicit: cells solved together */

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
    double t_multi, t_single;   /* time of the probe batches on all threads and on one */
    int any_free;               /* some projection learns in the free state */
    double *gram;               /* bp_cosine probe: eight batch x batch products */
    double *imp_g, *imp_m;      /* interneurons implicit: the batch's Gram (batch x batch) and
                                   IMP_W cells' systems and vectors */
};

/* All threads, or one, whichever the last probe found faster: on a machine
   shared with other jobs, threads that wait for a descheduled sibling cost
   more than they give.  Every 1024 batches, 16 run on all threads and 16
   on one.  The numbers do not depend on the choice (each row of a product
   is one thread's work, in the same order). */
static void choose_threads(apical_steady *s, size_t k, double last)
{
    if (s->max_threads < 2)
        return;
    if (s->o.threads > 0) {
        omp_set_num_threads(s->o.threads);
        return;
    }
    size_t phase = k % 1024;
    if (phase == 0)
        s->t_multi = s->t_single = 0;
    else if (phase <= 16)
        s->t_multi += last;
    else if (phase <= 32)
        s->t_single += last;
    omp_set_num_threads(phase < 16 ? s->max_threads
                        : phase < 32 ? 1
                        : s->t_multi < s->t_single ? s->max_threads : 1);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void apical_steady_free(apical_steady *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->pops && i < s->c->n_pops; i++) {
        sd_pop *p = &s->pops[i];
        free(p->y);
        free(p->in);
        free(p->obs);
        free(p->dfdy);
        free(p->dfdin);
        free(p->dody);
        free(p->grad);
        free(p->gradr);
        free(p->grad_fa);
        free(p->gradr_fa);
        free(p->rfree);
        free(p->gain);
        free(p->yp);
        free(p->inp);
        free(p->obsp);
    }
    for (size_t i = 0; s->projs && i < s->c->n_projs; i++) {
        free(s->projs[i].out);
        free(s->projs[i].wf);
        free(s->projs[i].wd);
        free(s->projs[i].wtf);
        free(s->projs[i].wtd);
        free(s->projs[i].e);
        free(s->projs[i].pend_e);
        free(s->projs[i].pend_x);
        free(s->projs[i].pre);
    }
    free(s->pops);
    free(s->projs);
    free(s->xf);
    free(s->ef);
    free(s->of);
    free(s->ysave);
    free(s->psrc);
    free(s->scrd);
    free(s->pport);
    free(s->ext_x);
    free(s->ext_u);
    free(s->ext_r);
    free(s->order);
    free(s->gram);
    free(s->imp_g);
    free(s->imp_m);
    free(s);
}

static int oom(char *err, size_t cap)
{
    snprintf(err, cap, "out of memory for the steady-state buffers");
    return -1;
}

/* Feedback alignment: the error reaches the source of forward projection k
   (src -> dst) through the circuit's top-down projection dst -> src.apical,
   which must be fixed. */
static int find_feedback(apical_steady *s, size_t k, char *err, size_t cap)
{
    const apical_circuit *c = s->c;
    const apical_proj *pj = &c->projs[k];
    const apical_pop *src = &c->pops[pj->src], *dst = &c->pops[pj->dst];
    const apical_proj *t = apical_proj_between(c, pj->dst, pj->src, "apical");
    if (!t) {
        snprintf(err, cap, "feedback topdown: projection %s -> %s (defined at %s) sends its "
                 "error back through a top-down projection %s -> %s.apical, and there is none",
                 src->name, dst->name, pj->where, dst->name, src->name);
        return -1;
    }
    size_t i = (size_t)(t - c->projs);
    if (s->projs[i].plastic) {
        snprintf(err, cap, "feedback topdown: the top-down projection %s -> %s.apical "
                 "(defined at %s) must be fixed (no rule)", dst->name, src->name, t->where);
        return -1;
    }
    s->projs[k].fb = i;
    return 0;
}

/* How the interneurons of population i learn (enum apical_interneurons). */
static int in_mode(const apical_steady_opts *o, size_t i)
{
    return o->interneurons_pop[i] ? o->interneurons_pop[i] - 1 : o->interneurons;
}

/* Interneurons implicit: the plastic projections into each such
   population's dendrite learn together, so they must share the post factor
   (one observable, one a and b); the buffers of the step.  -1 with err set
   when they do not, or when no projection qualifies. */
static int implicit_setup(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    int want = 0, any = 0;
    for (size_t i = 0; i < c->n_pops; i++) {
        if (in_mode(&s->o, i) != APICAL_INTERNEURONS_IMPLICIT)
            continue;
        want = 1;
        sd_pop *q = &s->pops[i];
        const apical_pop *p = &c->pops[i];
        for (size_t k = 0; k < c->n_projs; k++) {
            const apical_proj *pj = &c->projs[k];
            const sd_proj *r = &s->projs[k];
            if (pj->dst != i || !r->plastic || strcmp(apical_proj_port(c, pj), "dendrite") != 0)
                continue;
            if (q->imp_first == NONE) {
                q->imp_first = k;
                continue;
            }
            const apical_proj *f = &c->projs[q->imp_first];
            const sd_proj *rf = &s->projs[q->imp_first];
            if (pj->post_obs != f->post_obs || r->a != rf->a || r->b != rf->b) {
                snprintf(err, cap, "interneurons implicit: projections %s (defined at %s) and "
                         "%s (defined at %s) learn from different post factors; the implicit "
                         "step solves one for the whole dendrite of %s",
                         f->name, f->where, pj->name, pj->where, p->name);
                return -1;
            }
        }
        if (q->imp_first == NONE)
            continue;
        any = 1;
        size_t bn = s->B * p->n;
        const apical_cell_model *m = p->model;
        q->gain = malloc(bn * sizeof(double));
        q->yp = malloc((m->n_state * bn + 1) * sizeof(double));
        q->inp = malloc((m->n_ports * bn + 1) * sizeof(double));
        q->obsp = malloc((m->n_obs * bn + 1) * sizeof(double));
        if (!q->gain || !q->yp || !q->inp || !q->obsp)
            return oom(err, cap);
    }
    if (want && !any) {
        snprintf(err, cap, "interneurons implicit: no projection into an interneuron's "
                 "dendrite has a rule");
        return -1;
    }
    if (any && (!(s->imp_g = malloc(s->B * s->B * sizeof(double))) ||
                !(s->imp_m = malloc((s->B * (s->B + 1) + 1) * IMP_W * sizeof(double)))))
        return oom(err, cap);
    return 0;
}

apical_steady *apical_steady_new(apical_circuit *c, const apical_steady_opts *o, char *err,
                                 size_t cap)
{
    apical_steady *s = calloc(1, sizeof *s);
    if (!s)
        return oom(err, cap), NULL;
    s->c = c;
    s->o = *o;
    s->B = o->batch ? o->batch : 1;
    s->max_threads = omp_get_max_threads();
    s->rate_scale = 1.0;
    s->pops = calloc(c->n_pops, sizeof *s->pops);
    s->projs = calloc(c->n_projs ? c->n_projs : 1, sizeof *s->projs);
    if (!s->pops || !s->projs)
        goto nomem;
    const int bp = o->mode == APICAL_MODE_BACKPROP;
    if (c->n_pops > APICAL_STEADY_MAX_POPS) {
        snprintf(err, cap, "steady mode handles up to %d populations", APICAL_STEADY_MAX_POPS);
        goto fail;
    }
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        const apical_cell_model *m = p->model;
        sd_pop *q = &s->pops[i];
        if (!APICAL_CELL_STEADY(m)) {
            snprintf(err, cap, "population %s (%s, defined at %s): the module has no steady "
                     "function (ABI 1.2), so it cannot run in %s mode", p->name, m->name,
                     p->where, bp ? "backprop" : "steady");
            goto fail;
        }
        if (p->n > s->widest)
            s->widest = p->n;
        size_t bn = s->B * p->n;
        q->y = calloc(m->n_state * bn + 1, sizeof(double));
        q->in = calloc(m->n_ports * bn + 1, sizeof(double));
        q->obs = calloc(m->n_obs * bn + 1, sizeof(double));
        if (!q->y || !q->in || !q->obs)
            goto nomem;
        q->rate = apical_model_find_obs(m, "rate");
        q->version = 0;
        q->imp_first = NONE;
        if (bp || o->bp_probe) {
            if (!m->jacobian || (m->n_state != 1 && m->n_state != 0)) {
                snprintf(err, cap, "population %s (%s): %s needs cells with one state "
                         "variable and a Jacobian", p->name, m->name,
                         bp ? "backprop" : "bp_cosine");
                goto fail;
            }
            q->dfdy = calloc(bn + 1, sizeof(double));
            q->dfdin = calloc(m->n_ports * bn + 1, sizeof(double));
            q->dody = calloc(m->n_obs * bn + 1, sizeof(double));
            q->grad = calloc(bn + 1, sizeof(double));
            q->gradr = calloc(bn + 1, sizeof(double));
            if (!q->dfdy || !q->dfdin || !q->dody || !q->grad || !q->gradr)
                goto nomem;
        }
        if (o->bp_probe) {
            q->grad_fa = calloc(bn + 1, sizeof(double));
            q->gradr_fa = calloc(bn + 1, sizeof(double));
            q->rfree = calloc(bn + 1, sizeof(double));
            if (!q->grad_fa || !q->gradr_fa || !q->rfree)
                goto nomem;
        }
    }
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        q->out = calloc(s->B * nd, sizeof(double));
        q->src_version = -1;
        q->fb = NONE;
        q->copy_of = NONE;
        if (!q->out)
            goto nomem;
        if (pj->rule) {
            const apical_rule *r = pj->rule;
            uint32_t fl = APICAL_RULE_FLAGS(r);
            void (*rate)(const double *, double *, double *, double *) =
                APICAL_RULE_STEADY_RATE(r);
            if (bp != ((fl & APICAL_RULE_NONLOCAL) != 0) || !rate) {
                snprintf(err, cap, "projection %s (defined at %s): rule %s %s", pj->name,
                         pj->where, r->name,
                         bp ? "is local: backprop mode learns with the backprop rule only"
                         : (fl & APICAL_RULE_NONLOCAL)
                             ? "needs simulation mode backprop"
                             : "has no steady rate (ABI 1.2), so it cannot learn in steady "
                               "mode");
                goto fail;
            }
            rate(pj->rp, &q->eta, &q->a, &q->b);
            q->plastic = q->eta != 0;
            q->no_decay = o->interneurons_keep_rate &&
                          strcmp(apical_proj_port(c, pj), "dendrite") == 0;
            if (pj->one_to_one) {
                snprintf(err, cap, "projection %s: a one_to_one projection has no weights to "
                         "learn", pj->name);
                goto fail;
            }
            if (!(q->e = calloc(s->B * nd, sizeof(double))))
                goto nomem;
            if (bp)
                s->pops[pj->dst].learns_into = 1;
        }
        if (o->f32 && !pj->one_to_one) {
            if (!(q->wf = malloc(apical_k_packed_size_f32(nd, ns) * sizeof(float))))
                goto nomem;
            if (q->plastic && (!(q->pend_e = malloc(s->B * nd * sizeof(float))) ||
                               !(q->pend_x = malloc(s->B * ns * sizeof(float)))))
                goto nomem;
        } else if (!pj->one_to_one) {
            if (!(q->wd = malloc(apical_k_packed_size_f64(nd, ns) * sizeof(double))))
                goto nomem;
        }
    }
    for (size_t k = 0; bp && k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        if (pj->one_to_one || !s->pops[pj->src].learns_into || pj->src >= pj->dst)
            continue;
        if (o->feedback == APICAL_FEEDBACK_TOPDOWN) {
            if (find_feedback(s, k, err, cap))
                goto fail;
            continue;
        }
        if (o->f32 ? !(q->wtf = malloc(apical_k_packed_size_f32(ns, nd) * sizeof(float)))
                   : !(q->wtd = malloc(apical_k_packed_size_f64(ns, nd) * sizeof(double))))
            goto nomem;
    }
    int want_free = 0;
    for (size_t i = 0; i < c->n_pops; i++)
        want_free |= in_mode(o, i) == APICAL_INTERNEURONS_FREE;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        if (in_mode(o, pj->dst) != APICAL_INTERNEURONS_FREE || !q->plastic ||
            strcmp(apical_proj_port(c, pj), "dendrite") != 0)
            continue;
        if (!(q->pre = malloc(s->B * c->pops[pj->src].n * sizeof(double))))
            goto nomem;
        s->pops[pj->dst].learns_free = s->any_free = 1;
    }
    if (want_free && !s->any_free) {
        snprintf(err, cap, "interneurons free: no projection into an interneuron's dendrite "
                 "has a rule");
        goto fail;
    }
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        if (in_mode(o, pj->dst) != APICAL_INTERNEURONS_IDEAL || pj->one_to_one ||
            strcmp(apical_proj_port(c, pj), "dendrite") != 0)
            continue;
        double f = 0;
        char why[256];
        const apical_proj *from = apical_proj_partner(c, pj, &f, why, sizeof why);
        if (!from) {
            snprintf(err, cap, "interneurons ideal: projection %s (defined at %s): %s",
                     pj->name, pj->where, why);
            goto fail;
        }
        s->projs[k].copy_of = (size_t)(from - c->projs);
        s->projs[k].copy_f = f;
        s->projs[k].plastic = 0;
    }
    if (implicit_setup(s, err, cap) < 0)
        goto fail;
    apical_steady_load(s);
    size_t wb = s->B * s->widest;
    s->scrd = malloc(wb * sizeof(double));
    s->xf = malloc(wb * sizeof(float));
    s->ef = malloc(wb * sizeof(float));
    s->of = malloc(wb * sizeof(float));
    size_t most = 1;
    for (size_t i = 0; i < c->n_pops; i++)
        if (c->pops[i].model->n_state * c->pops[i].n > most)
            most = c->pops[i].model->n_state * c->pops[i].n;
    s->ysave = malloc(s->B * most * sizeof(double));
    s->psrc = malloc((c->n_projs + 1) * sizeof *s->psrc);
    s->pport = malloc((c->n_projs + 1) * sizeof *s->pport);
    s->ext_x = calloc(wb, sizeof(double));
    s->ext_u = calloc(wb, sizeof(double));
    s->ext_r = calloc(wb, sizeof(double));
    if (o->bp_probe && !(s->gram = malloc(8 * s->B * s->B * sizeof(double))))
        goto nomem;
    if (!s->xf || !s->ef || !s->of || !s->ysave || !s->ext_x || !s->ext_u || !s->ext_r ||
        !s->psrc || !s->pport || !s->scrd)
        goto nomem;
    if (o->n_eval > 0 || o->epochs > 0) {
        const apical_stim *tr = &c->stims[o->train];
        if (!(s->order = malloc(tr->count * sizeof *s->order)))
            goto nomem;
        for (size_t i = 0; i < tr->count; i++)
            s->order[i] = i;
    }
    return s;
nomem:
    oom(err, cap);
fail:
    apical_steady_free(s);
    return NULL;
}

/* Apply a deferred weight change on its own. */
static void flush_proj(apical_steady *s, size_t k)
{
    apical_circuit *c = s->c;
    apical_proj *pj = &c->projs[k];
    sd_proj *q = &s->projs[k];
    if (!q->pending)
        return;
    apical_k_update_f32(q->pend_nb, c->pops[pj->dst].n, c->pops[pj->src].n, q->pend_f, q->pend_e,
                        q->pend_x, q->wf);
    q->pending = 0;
}

void apical_steady_sync(apical_steady *s)
{
    apical_circuit *c = s->c;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        flush_proj(s, k);
        int moves = q->plastic || q->copy_of != NONE;
        if (q->wf && moves)
            apical_k_unpack_f32(nd, ns, q->wf, pj->w);
        else if (q->wd && moves)
            apical_k_unpack_f64(nd, ns, q->wd, pj->w);
    }
    apical_circuit_weights_changed(c);
}

void apical_steady_load(apical_steady *s)
{
    apical_circuit *c = s->c;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        q->pending = 0;
        q->src_version = -1;
        if (q->wf)
            apical_k_pack_f32(nd, ns, pj->w, q->wf);
        else if (q->wd)
            apical_k_pack_f64(nd, ns, pj->w, q->wd);
        if (q->wtf)
            apical_k_pack_t_f32(nd, ns, pj->w, q->wtf);
        else if (q->wtd)
            apical_k_pack_t_f64(nd, ns, pj->w, q->wtd);
    }
}

/* out (nb x nd) = src (nb x ns) W^T */
static void product(apical_steady *s, size_t k, const double *src)
{
    apical_circuit *c = s->c;
    apical_proj *pj = &c->projs[k];
    sd_proj *q = &s->projs[k];
    size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n, nb = s->nb;
    if (pj->one_to_one) {
        memcpy(q->out, src, nb * nd * sizeof(double));
        return;
    }
    s->flop += 2.0 * (double)(nb * nd * ns);
    if (q->wf) {
        for (size_t i = 0; i < nb * ns; i++)
            s->xf[i] = (float)src[i];
        if (q->pending)
            apical_k_update_forward_f32(q->pend_nb, nb, nd, ns, q->pend_f, q->pend_e, q->pend_x,
                                        q->wf, s->xf, s->of);
        else
            apical_k_forward_f32(nb, nd, ns, q->wf, s->xf, s->of);
        q->pending = 0;
        for (size_t i = 0; i < nb * nd; i++)
            q->out[i] = s->of[i];
    } else {
        apical_k_forward_f64(nb, nd, ns, q->wd, src, q->out);
    }
}

/* The row of the observable a projection carries, for the whole batch. */
static const double *src_row(apical_steady *s, const apical_proj *pj)
{
    const apical_pop *p = &s->c->pops[pj->src];
    return s->pops[pj->src].obs + pj->src_obs * s->nb * p->n;
}

/* How many slices of batch rows population i's cell functions run in: one
   per thread when its module takes rows ld apart (ABI 1.3) and the
   population is large enough to pay for the threads, else one. */
static int n_slices(const apical_steady *s, size_t i)
{
    const apical_pop *p = &s->c->pops[i];
    if (!(APICAL_CELL_FLAGS(p->model) & APICAL_CELL_LD) || s->nb * p->n < 2048)
        return 1;
    int t = omp_get_max_threads();
    return t < (int)s->nb ? t : (int)s->nb;
}

/* Cells [lo, hi) of slice t of T: whole batch rows. */
static void slice(const apical_steady *s, size_t i, int t, int T, size_t *lo, size_t *hi)
{
    size_t n = s->c->pops[i].n;
    *lo = s->nb * (size_t)t / (size_t)T * n;
    *hi = s->nb * (size_t)(t + 1) / (size_t)T * n;
}

static apical_cell_ctx slice_ctx(const apical_steady *s, size_t i, size_t lo, size_t hi)
{
    const apical_pop *p = &s->c->pops[i];
    const sd_pop *q = &s->pops[i];
    size_t bn = s->nb * p->n;
    apical_cell_ctx x = { sizeof x, hi - lo, p->p, q->y + lo, q->in + lo, NULL,
                          (APICAL_CELL_FLAGS(p->model) & APICAL_CELL_LD) ? bn : 0 };
    return x;
}

/* Population i's port-stage observables (or, jacobian set, its Jacobian
   blocks) from its settled state and ports, in slices run by the threads;
   APICAL_OK or the status of a failed slice. */
static int observe_sliced(apical_steady *s, size_t i, int jacobian)
{
    const apical_cell_model *m = s->c->pops[i].model;
    sd_pop *q = &s->pops[i];
    int T = n_slices(s, i), status = APICAL_OK;
#pragma omp parallel for num_threads(T) schedule(static, 1) if (T > 1)
    for (int t = 0; t < T; t++) {
        size_t lo, hi;
        slice(s, i, t, T, &lo, &hi);
        apical_cell_ctx x = slice_ctx(s, i, lo, hi);
        int rc = jacobian ? m->jacobian(&x, q->dfdy + lo, q->dfdin + lo, q->dody + lo)
                          : m->observe(&x, APICAL_OBS_PORTS, q->obs + lo);
        if (rc != APICAL_OK) {
#pragma omp atomic write
            status = rc;
        }
    }
    return status;
}

/* Products into population i from the projections whose sources have a
   value (sources computed earlier in the up sweep, or any in later sweeps),
   recomputed where the source changed; their rows and ports into src/port. */
static size_t products_into(apical_steady *s, size_t i, int up, const double **src, size_t *port)
{
    apical_circuit *c = s->c;
    size_t m = 0;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        if (pj->dst != i || (up && !s->pops[pj->src].visited))
            continue;
        sd_proj *r = &s->projs[k];
        if (r->src_version != s->pops[pj->src].version) {
            product(s, k, src_row(s, pj));
            r->src_version = s->pops[pj->src].version;
        }
        src[m] = r->out;
        port[m++] = pj->dst_port;
    }
    return m;
}

/* The state of population i where it settles with its ports held: the
   ports summed from the products, the stimulus and the target, then the
   module's steady and state observables, in slices of batch rows run by
   the threads. */
static int settle_pop(apical_steady *s, size_t i, uint32_t flags, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    apical_pop *p = &c->pops[i];
    sd_pop *q = &s->pops[i];
    const apical_cell_model *m = p->model;
    const int up = (flags & APICAL_STEADY_UP) != 0;
    const double **src = s->psrc;
    const size_t *port = s->pport;
    size_t np = products_into(s, i, up, s->psrc, s->pport); /* into src, port */
    const apical_stim *st = &c->stims[s->ext_stim];
    const int drive = st->dst == i, teach = st->has_target && st->tgt == i && s->target_on && !up;
    const size_t bn = s->nb * p->n, ny = m->n_state;
    const double bound = c->bound;
    int T = n_slices(s, i), status = APICAL_OK, changed = 0;
    size_t bad = NONE;
#pragma omp parallel for num_threads(T) schedule(static, 1) if (T > 1) reduction(| : changed)
    for (int t = 0; t < T; t++) {
        size_t lo, hi;
        slice(s, i, t, T, &lo, &hi);
        for (size_t k = 0; k < m->n_ports; k++)
            memset(q->in + k * bn + lo, 0, (hi - lo) * sizeof(double));
        for (size_t k = 0; k < np; k++) {
            double *to = q->in + port[k] * bn;
            for (size_t j = lo; j < hi; j++)
                to[j] += src[k][j];
        }
        if (drive) {
            double *to = q->in + st->dst_port * bn;
            for (size_t j = lo; j < hi; j++)
                to[j] += s->ext_x[j];
        }
        if (teach) {
            double *to = q->in + st->tgt_port * bn, *gate = q->in + st->tgt_gate * bn;
            for (size_t j = lo; j < hi; j++) {
                to[j] += s->ext_u[j];
                gate[j] = 1.0;
            }
        }
        for (size_t k = 0; k < ny; k++)
            memcpy(s->ysave + k * bn + lo, q->y + k * bn + lo, (hi - lo) * sizeof(double));
        apical_cell_ctx x = slice_ctx(s, i, lo, hi);
        int rc = m->steady(&x, flags, q->y + lo);
        if (rc == APICAL_OK)
            rc = m->observe(&x, APICAL_OBS_STATE, q->obs + lo);
        if (rc != APICAL_OK) {
#pragma omp atomic write
            status = rc;
        }
        /* a state that did not move keeps its version: the products it
           feeds stay valid (inputs and biases in the down sweep) */
        for (size_t k = 0; k < ny; k++)
            changed |= memcmp(s->ysave + k * bn + lo, q->y + k * bn + lo,
                              (hi - lo) * sizeof(double)) != 0;
        for (size_t k = 0; k < ny; k++)
            for (size_t j = lo; j < hi; j++) {
                double v = q->y[k * bn + j];
                if (!isfinite(v) || (bound > 0 && fabs(v) > bound)) {
#pragma omp critical(apical_steady_bad)
                    if (bad == NONE || k * bn + j < bad)
                        bad = k * bn + j;
                    break;
                }
            }
    }
    if (status != APICAL_OK) {
        snprintf(err, cap, "population %s (%s): its steady function failed (status %d)",
                 p->name, m->name, status);
        return -1;
    }
    if (bad != NONE) {
        snprintf(err, cap, "population %s (defined at %s): state %g at cell %zu of the "
                 "mini-batch; lower the learning rates", p->name, p->where, q->y[bad],
                 bad % p->n);
        return -1;
    }
    if (!q->visited || changed)
        q->version++;
    q->visited = 1;
    return 0;
}

/* Interneurons free: at the end of the up sweep every population is
   computed, so an interneuron settles with its partner's un-nudged
   potential on its nudge port; the post factor of each projection that
   learns in the free state is taken there, with the up sweep's presynaptic
   rates.  The down sweep settles the interneuron again, nudged. */
static int free_posts(apical_steady *s, uint32_t lit, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    for (size_t i = 0; i < c->n_pops; i++) {
        if (!s->pops[i].learns_free)
            continue;
        if (settle_pop(s, i, lit, err, cap))
            return -1;
        if (observe_sliced(s, i, 0) != APICAL_OK) {
            snprintf(err, cap, "population %s: observe failed", c->pops[i].name);
            return -1;
        }
        size_t bn = s->nb * c->pops[i].n;
        for (size_t k = 0; k < c->n_projs; k++) {
            apical_proj *pj = &c->projs[k];
            sd_proj *q = &s->projs[k];
            if (pj->dst != i || !q->pre)
                continue;
            const double *post = s->pops[i].obs + pj->post_obs * bn;
            for (size_t j = 0; j < bn; j++)
                q->e[j] = q->a * post[j] + q->b;
            memcpy(q->pre, src_row(s, pj), s->nb * c->pops[pj->src].n * sizeof(double));
        }
    }
    return 0;
}

/* The sweeps; observables of both stages are filled in at the end. */
static int sweep(apical_steady *s, int passes, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    uint32_t lit = s->o.literal ? APICAL_STEADY_LITERAL : 0;
    for (size_t i = 0; i < c->n_pops; i++)
        s->pops[i].visited = 0;
    for (int pass = 0; pass < passes; pass++) {
        uint32_t up = pass == 0 ? APICAL_STEADY_UP : 0;
        for (size_t i = 0; i < c->n_pops; i++)
            if (settle_pop(s, i, up | lit, err, cap))
                return -1;
        if (pass == 0 && s->any_free && free_posts(s, lit, err, cap))
            return -1;
        if (s->o.mode == APICAL_MODE_BACKPROP)
            break;
        for (size_t i = c->n_pops; i-- > 0;)
            if (settle_pop(s, i, lit, err, cap))
                return -1;
    }
    for (size_t i = 0; i < c->n_pops; i++)
        if (observe_sliced(s, i, 0) != APICAL_OK) {
            snprintf(err, cap, "population %s: observe failed", c->pops[i].name);
            return -1;
        }
    return 0;
}

/* W += (eta / nb) e^T pre, e = a post + b (nb x nd), pre nb x ns.  In
   single precision the change waits for the projection's next product,
   which applies it in the same pass over the weights (the arithmetic is
   the same; apical_steady_sync applies what is still waiting). */
static void learn_proj(apical_steady *s, size_t k, const double *e)
{
    apical_circuit *c = s->c;
    apical_proj *pj = &c->projs[k];
    sd_proj *q = &s->projs[k];
    size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n, nb = s->nb;
    const double *pre = q->pre ? q->pre : src_row(s, pj);
    double f = q->eta * (q->no_decay ? 1.0 : s->rate_scale) / (double)nb;
    s->flop += 2.0 * (double)(nb * nd * ns);
    if (q->wf) {
        flush_proj(s, k);
        for (size_t i = 0; i < nb * nd; i++)
            q->pend_e[i] = (float)e[i];
        for (size_t i = 0; i < nb * ns; i++)
            q->pend_x[i] = (float)pre[i];
        q->pend_f = (float)f;
        q->pend_nb = nb;
        q->pending = 1;
        if (q->wtf) { /* W^T[j][i] += x[b][j] (f e[b][i]): the same products as W's */
            for (size_t i = 0; i < nb * nd; i++)
                s->ef[i] = q->pend_f * q->pend_e[i];
            apical_k_update_f32(nb, ns, nd, 1.0f, q->pend_x, s->ef, q->wtf);
            s->flop += 2.0 * (double)(nb * nd * ns);
        }
    } else {
        apical_k_update_f64(nb, nd, ns, f, e, pre, q->wd);
        if (q->wtd) {
            for (size_t i = 0; i < nb * nd; i++)
                s->scrd[i] = f * e[i];
            apical_k_update_f64(nb, ns, nd, 1.0, pre, s->scrd, q->wtd);
            s->flop += 2.0 * (double)(nb * nd * ns);
        }
    }
    q->src_version = -1; /* the weights changed */
}

/* Interneurons implicit: Eq. 8 is a delta rule, and its explicit step
   (learn_proj with the post factor e taken before the step) overshoots once
   eta c_I lambda_I phi' |r|^2 exceeds 2.  Here the batch's change is the
   rule's change at the weights after the step (backward Euler, to first
   order in the change): for cell j of population i,
       e'_j = e_j - D_j G e'_j,  i.e.  (I + D_j G) e'_j = e_j,
   with e_j the post factors of the batch's patterns (a batch-vector),
   D_j = diag(-de/dv), the derivative of the post factor by the dendritic
   input (central differences through the module's steady and observe
   functions, clipped at 0), and G the batch's Gram sum_p f_p r_p r_p^T of
   the presynaptic rates the change is taken with, f_p the projection's step
   factor eta/nb; each projection then learns f_p e'^T r_p as before.  Small
   changes are as explicit ones; along directions where the explicit step
   overshoots, the error is taken out instead of reversed (for the
   linearised rule no f_p >= 0 overshoots).  The rule's fixed points are
   unchanged. */
static int implicit_step(apical_steady *s, size_t i, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_pop *p = &c->pops[i];
    const apical_cell_model *m = p->model;
    sd_pop *q = &s->pops[i];
    const size_t n = p->n, nb = s->nb, bn = nb * n, first = q->imp_first;
    const apical_proj *pf = &c->projs[first];
    sd_proj *rf = &s->projs[first];
    const double h = 1e-5;
    const uint32_t lit = s->o.literal ? APICAL_STEADY_LITERAL : 0;
    apical_cell_ctx x = { sizeof x, bn, p->p, q->yp, q->inp, NULL, 0 };
    for (int side = 0; side < 2; side++) {
        memcpy(q->inp, q->in, m->n_ports * bn * sizeof(double));
        double *v = q->inp + pf->dst_port * bn;
        for (size_t j = 0; j < bn; j++)
            v[j] += side ? -h : h;
        int rc = m->steady(&x, lit, q->yp);
        if (rc == APICAL_OK)
            rc = m->observe(&x, APICAL_OBS_STATE, q->obsp);
        if (rc == APICAL_OK)
            rc = m->observe(&x, APICAL_OBS_PORTS, q->obsp);
        if (rc != APICAL_OK) {
            snprintf(err, cap, "population %s (%s): its steady or observe function failed "
                     "(status %d) in the implicit step", p->name, m->name, rc);
            return -1;
        }
        const double *post = q->obsp + pf->post_obs * bn;
        for (size_t j = 0; j < bn; j++)
            q->gain[j] = side ? fmax(0.0, -rf->a * (q->gain[j] - post[j]) / (2 * h)) : post[j];
    }
    double *g = s->imp_g, *a = s->imp_m;
    memset(g, 0, nb * nb * sizeof(double));
    for (size_t k = first; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        const sd_proj *r = &s->projs[k];
        if (pj->dst != i || !r->plastic || pj->dst_port != pf->dst_port)
            continue;
        size_t ns = c->pops[pj->src].n;
        double f = r->eta * (r->no_decay ? 1.0 : s->rate_scale) / (double)nb;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nb, (int)ns, f,
                    src_row(s, pj), (int)ns, src_row(s, pj), (int)ns, 1.0, g, (int)nb);
        s->flop += 2.0 * (double)(nb * nb * ns);
    }
    /* per cell [I + D_j G | e_j] by Gaussian elimination with partial
       pivoting, IMP_W cells at a time in lockstep with the cell innermost
       (a[(row * w + col) * IMP_W + cell]); each cell's arithmetic is the
       same, in the same order, as one cell at a time */
    const size_t w = nb + 1;
#define A_(r, k) (a + ((r) * w + (k)) * IMP_W)
    for (size_t j0 = 0; j0 < n; j0 += IMP_W) {
        const size_t nc = n - j0 < IMP_W ? n - j0 : IMP_W;
        double *l = a + nb * w * IMP_W;
        for (size_t b = 0; b < nb; b++) {
            const double *d = q->gain + b * n + j0;
            for (size_t b2 = 0; b2 < nb; b2++) {
                double *ab = A_(b, b2);
                const double gb = g[b * nb + b2];
                for (size_t t = 0; t < nc; t++)
                    ab[t] = (b == b2) + d[t] * gb;
            }
            memcpy(A_(b, nb), rf->e + b * n + j0, nc * sizeof(double));
        }
        for (size_t col = 0; col < nb; col++) {
            for (size_t t = 0; t < nc; t++) {
                size_t piv = col;
                for (size_t r = col + 1; r < nb; r++)
                    if (fabs(A_(r, col)[t]) > fabs(A_(piv, col)[t]))
                        piv = r;
                if (!(fabs(A_(piv, col)[t]) > 1e-300)) {
                    snprintf(err, cap, "population %s: the implicit step's system is singular "
                             "(a negative learning rate?)", p->name);
                    return -1;
                }
                if (piv != col)
                    for (size_t k = col; k < w; k++) {
                        double tmp = A_(col, k)[t];
                        A_(col, k)[t] = A_(piv, k)[t];
                        A_(piv, k)[t] = tmp;
                    }
            }
            for (size_t r = col + 1; r < nb; r++) {
                const double *pc = A_(col, col), *rc = A_(r, col);
                for (size_t t = 0; t < nc; t++)
                    l[t] = rc[t] / pc[t];
                for (size_t k = col; k < w; k++) {
                    double *rk = A_(r, k);
                    const double *ck = A_(col, k);
#pragma omp simd
                    for (size_t t = 0; t < nc; t++)
                        rk[t] -= l[t] * ck[t];
                }
            }
        }
        for (size_t b = nb; b-- > 0;) {
            double *v = A_(b, nb);
            for (size_t k = b + 1; k < nb; k++) {
                const double *bk = A_(b, k), *xk = A_(k, nb);
#pragma omp simd
                for (size_t t = 0; t < nc; t++)
                    v[t] -= bk[t] * xk[t];
            }
            const double *bb = A_(b, b);
            double *eb = rf->e + b * n + j0;
            for (size_t t = 0; t < nc; t++)
                eb[t] = v[t] = v[t] / bb[t];
        }
    }
#undef A_
    for (size_t k = first + 1; k < c->n_projs; k++) {
        const apical_proj *pj = &c->projs[k];
        if (pj->dst == i && s->projs[k].plastic && pj->dst_port == pf->dst_port)
            memcpy(s->projs[k].e, rf->e, bn * sizeof(double));
    }
    return 0;
}

static int learn_steady(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    for (size_t k = 0; k < c->n_projs; k++) {
        apical_proj *pj = &c->projs[k];
        sd_proj *q = &s->projs[k];
        if (!q->plastic || q->pre) /* free: taken in the up sweep */
            continue;
        size_t bn = s->nb * c->pops[pj->dst].n;
        const double *post = s->pops[pj->dst].obs + pj->post_obs * bn;
        for (size_t j = 0; j < bn; j++)
            q->e[j] = q->a * post[j] + q->b;
    }
    for (size_t i = 0; i < c->n_pops; i++)
        if (s->pops[i].imp_first != NONE && implicit_step(s, i, err, cap))
            return -1;
    /* every post factor is taken before any weight moves */
    for (size_t k = 0; k < c->n_projs; k++)
        if (s->projs[k].plastic)
            learn_proj(s, k, s->projs[k].e);
    /* ideal interneurons: their weights follow the partners' new weights
       (the packed layouts agree: the same shapes) */
    for (size_t k = 0; k < c->n_projs; k++) {
        sd_proj *q = &s->projs[k];
        if (q->copy_of == NONE)
            continue;
        apical_proj *pj = &c->projs[k];
        sd_proj *from = &s->projs[q->copy_of];
        size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n;
        flush_proj(s, q->copy_of);
        if (q->wf) {
            float f = (float)q->copy_f;
            for (size_t i = 0, n = apical_k_packed_size_f32(nd, ns); i < n; i++)
                q->wf[i] = f * from->wf[i];
        } else {
            for (size_t i = 0, n = apical_k_packed_size_f64(nd, ns); i < n; i++)
                q->wd[i] = q->copy_f * from->wd[i];
        }
        q->src_version = -1;
    }
    return 0;
}

/* -dL/d(port) of population q's cells (bn of them) from g = -dL/du: g
   du/dport = g (-df/dport) / (df/du), from the Jacobian blocks. */
static void port_grad(const sd_pop *q, size_t port, size_t bn, const double *g, double *out)
{
    const double *dfin = q->dfdin + port * bn;
    for (size_t j = 0; j < bn; j++)
        out[j] = g[j] * (-dfin[j] / q->dfdy[j]);
}

/* Backprop: -dL/du at the target, swept back through every projection into
   a population that learns. */
static int learn_backprop(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_stim *st = &c->stims[s->ext_stim];
    for (size_t i = 0; i < c->n_pops; i++) {
        apical_pop *p = &c->pops[i];
        sd_pop *q = &s->pops[i];
        size_t bn = s->nb * p->n;
        memset(q->gradr, 0, bn * sizeof(double));
        if (p->model->n_state == 0)
            continue;
        if (observe_sliced(s, i, 1) != APICAL_OK) {
            snprintf(err, cap, "population %s: its Jacobian failed", p->name);
            return -1;
        }
    }
    sd_pop *t = &s->pops[st->tgt];
    size_t bt = s->nb * c->pops[st->tgt].n;
    const double *r = t->obs + t->rate * bt;
    for (size_t j = 0; j < bt; j++)
        t->gradr[j] = s->ext_r[j] - r[j];
    for (size_t i = c->n_pops; i-- > 0;) {
        apical_pop *p = &c->pops[i];
        sd_pop *q = &s->pops[i];
        if (p->model->n_state == 0 || q->rate == NONE)
            continue;
        size_t bn = s->nb * p->n;
        const double *slope = q->dody + q->rate * bn;
        for (size_t j = 0; j < bn; j++)
            q->grad[j] = q->gradr[j] * slope[j];
        /* into every projection arriving here: -dL/d(port) = grad du/dport */
        for (size_t k = 0; k < c->n_projs; k++) {
            apical_proj *pj = &c->projs[k];
            sd_proj *pr = &s->projs[k];
            if (pj->dst != i || pj->one_to_one || pj->src >= i)
                continue;
            port_grad(q, pj->dst_port, bn, q->grad, pr->e);
            sd_pop *sp = &s->pops[pj->src];
            if (sp->learns_into) { /* -dL/dr_src += e W */
                size_t nd = p->n, ns = c->pops[pj->src].n, nb = s->nb;
                s->flop += 2.0 * (double)(nb * nd * ns);
                /* a forward product through W^T, or with feedback topdown
                   through the top-down weights B (ns x nd): e B^T */
                const sd_proj *fb = pr->fb != NONE ? &s->projs[pr->fb] : NULL;
                const float *bf = fb ? fb->wf : pr->wtf;
                const double *bd = fb ? fb->wd : pr->wtd;
                if (bf) {
                    for (size_t j = 0; j < nb * nd; j++)
                        s->ef[j] = (float)pr->e[j];
                    apical_k_forward_f32(nb, ns, nd, bf, s->ef, s->of);
                    for (size_t j = 0; j < nb * ns; j++)
                        sp->gradr[j] += s->of[j];
                } else {
                    apical_k_forward_f64(nb, ns, nd, bd, pr->e, s->scrd);
                    for (size_t j = 0; j < nb * ns; j++)
                        sp->gradr[j] += s->scrd[j];
                }
            }
        }
    }
    for (size_t k = 0; k < c->n_projs; k++)
        if (s->projs[k].plastic && !c->projs[k].one_to_one && c->projs[k].src < c->projs[k].dst)
            learn_proj(s, k, s->projs[k].e);
    return 0;
}

/* Batch rows [from, from+n) of stimulus st in the given order (NULL: as
   stored) into the external buffers. */
static void load_batch(apical_steady *s, size_t st_i, const size_t *order, size_t from, size_t n,
                       int target_on)
{
    apical_stim *st = &s->c->stims[st_i];
    s->ext_stim = st_i;
    s->nb = n;
    s->target_on = target_on && st->has_target;
    for (size_t b = 0; b < n; b++) {
        size_t row = order ? order[from + b] : from + b;
        apical_stim_idx_pattern(st, row, s->ext_x + b * st->size);
        if (st->has_target) {
            unsigned lab = st->labels.data[st->first + row];
            for (size_t i = 0; i < st->n_classes; i++) {
                s->ext_u[b * st->n_classes + i] = st->trgt_u[i == lab];
                s->ext_r[b * st->n_classes + i] = st->trgt_r[i == lab];
            }
        }
    }
}

/* Wrong classes (argmax over the target population of observable o) in
   the batch. */
static size_t count_wrong(apical_steady *s, const size_t *order, size_t from, size_t o)
{
    apical_circuit *c = s->c;
    const apical_stim *st = &c->stims[s->ext_stim];
    if (!st->has_target || o == NONE)
        return 0;
    const sd_pop *t = &s->pops[st->tgt];
    size_t n = c->pops[st->tgt].n, wrong = 0;
    const double *r = t->obs + o * s->nb * n;
    for (size_t b = 0; b < s->nb; b++) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (r[b * n + i] > r[b * n + best])
                best = i;
        size_t row = order ? order[from + b] : from + b;
        wrong += best != st->labels.data[st->first + row];
    }
    return wrong;
}

/* G (nb x nb) = A B^T for A, B nb x n */
static void gram(size_t nb, size_t n, const double *a, const double *b, double *g)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nb, (int)n, 1.0, a,
                (int)n, b, (int)n, 0.0, g, (int)nb);
}

/* The bp_cosine probe on rows [from, from+n) of the training stimulus.
   The up sweep is the free feedforward network (MODEL.md 2.3): its rates,
   and from the modules' Jacobians the deltas of backprop, delta_N =
   phi'(u_N) (u_trgt - u_N) at the taught population and delta_src =
   phi'(u_src) (W^T (delta_dst du_dst/dbasal)) down the basal projections,
   and of feedback alignment, the same through the top-down projection
   dst -> src.apical instead of W^T.  Then the nudged sweeps give Eq. 7's
   update, err_basal times the presynaptic rates.  For every apical-fed
   population, the cosines between the update of all its basal projections
   over the batch, sum_b e_b r_b^T, and backprop's and feedback alignment's
   are added to cb and cf, and nbp and nfa count the batches where each is
   defined. */
static int probe_batch(apical_steady *s, size_t from, size_t n, double *cb, double *cf,
                       size_t *nbp, size_t *nfa, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_stim *st = &c->stims[s->o.train];
    const uint32_t lit = s->o.literal ? APICAL_STEADY_LITERAL : 0;
    load_batch(s, s->o.train, NULL, from, n, 1);
    const size_t nb = s->nb;
    for (size_t i = 0; i < c->n_pops; i++)
        s->pops[i].visited = 0;
    for (size_t i = 0; i < c->n_pops; i++)
        if (settle_pop(s, i, APICAL_STEADY_UP | lit, err, cap))
            return -1;
    for (size_t i = 0; i < c->n_pops; i++) {
        sd_pop *q = &s->pops[i];
        size_t bn = nb * c->pops[i].n;
        memset(q->gradr, 0, bn * sizeof(double));
        memset(q->gradr_fa, 0, bn * sizeof(double));
        if (q->rate != NONE)
            memcpy(q->rfree, q->obs + q->rate * bn, bn * sizeof(double));
        if (c->pops[i].model->n_state == 1 && observe_sliced(s, i, 1) != APICAL_OK) {
            snprintf(err, cap, "population %s: its Jacobian failed", c->pops[i].name);
            return -1;
        }
    }
    for (size_t i = c->n_pops; i-- > 0;) {
        const apical_pop *p = &c->pops[i];
        sd_pop *q = &s->pops[i];
        if (p->model->n_state != 1 || q->rate == NONE)
            continue;
        size_t bn = nb * p->n;
        const double *slope = q->dody + q->rate * bn;
        for (size_t j = 0; j < bn; j++) {
            double g = i == st->tgt ? s->ext_u[j] - q->y[j] : q->gradr[j];
            double gf = i == st->tgt ? s->ext_u[j] - q->y[j] : q->gradr_fa[j];
            q->grad[j] = g * slope[j];
            q->grad_fa[j] = gf * slope[j];
        }
        for (size_t k = 0; k < c->n_projs; k++) {
            const apical_proj *pj = &c->projs[k];
            const apical_pop *src = &c->pops[pj->src];
            if (pj->dst != i || pj->one_to_one || pj->src >= i || src->model->n_state != 1 ||
                strcmp(apical_proj_port(c, pj), "basal") != 0)
                continue;
            const apical_proj *t = apical_proj_between(c, i, pj->src, "apical");
            for (int fa = 0; fa <= (t != NULL); fa++) {
                port_grad(q, pj->dst_port, bn, fa ? q->grad_fa : q->grad, s->scrd);
                double *to = fa ? s->pops[pj->src].gradr_fa : s->pops[pj->src].gradr;
                /* nb x ns += e (nb x nd) W (nd x ns), or e B^T with B ns x nd */
                cblas_dgemm(CblasRowMajor, CblasNoTrans, fa ? CblasTrans : CblasNoTrans,
                            (int)nb, (int)src->n, (int)p->n, 1.0, s->scrd, (int)p->n,
                            fa ? t->w : pj->w, fa ? (int)p->n : (int)src->n, 1.0, to,
                            (int)src->n);
            }
        }
    }
    if (sweep(s, s->o.passes, err, cap))
        return -1;
    /* <sum_b x_b y_b^T, sum_b z_b w_b^T> = sum_bb' (x_b.z_b') (y_b.w_b'): the
       post factors' products once per population (all basal projections
       feed the same port), the rates' per projection */
    const size_t g2 = nb * nb;
    double *ee = s->gram, *e_bp = ee + g2, *bp_bp = e_bp + g2, *e_fa = bp_bp + g2,
           *fa_fa = e_fa + g2, *rr = fa_fa + g2, *rq = rr + g2, *qq = rq + g2;
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        const sd_pop *q = &s->pops[i];
        size_t eo = apical_model_find_obs(p->model, "err_basal"),
               port = apical_model_find_port(p->model, "basal");
        if (!p->apical_fed || eo == NONE || port == NONE || p->model->n_state != 1)
            continue;
        size_t bn = nb * p->n;
        const double *e = q->obs + eo * bn;
        gram(nb, p->n, e, e, ee);
        for (int fa = 0; fa < 2; fa++) { /* e with backprop's delta, then with FA's */
            port_grad(q, port, bn, fa ? q->grad_fa : q->grad, s->scrd);
            gram(nb, p->n, e, s->scrd, fa ? e_fa : e_bp);
            gram(nb, p->n, s->scrd, s->scrd, fa ? fa_fa : bp_bp);
        }
        double mm = 0, mb = 0, bb = 0, mf = 0, ff = 0;
        for (size_t k = 0; k < c->n_projs; k++) {
            const apical_proj *pj = &c->projs[k];
            const sd_pop *sp = &s->pops[pj->src];
            size_t ns = c->pops[pj->src].n;
            if (pj->dst != i || pj->one_to_one || pj->src >= i || pj->src_obs != sp->rate ||
                pj->dst_port != port)
                continue;
            gram(nb, ns, src_row(s, pj), src_row(s, pj), rr);
            gram(nb, ns, src_row(s, pj), sp->rfree, rq);
            gram(nb, ns, sp->rfree, sp->rfree, qq);
            mm += cblas_ddot((int)g2, ee, 1, rr, 1);
            mb += cblas_ddot((int)g2, e_bp, 1, rq, 1);
            bb += cblas_ddot((int)g2, bp_bp, 1, qq, 1);
            mf += cblas_ddot((int)g2, e_fa, 1, rq, 1);
            ff += cblas_ddot((int)g2, fa_fa, 1, qq, 1);
        }
        if (mm > 0 && bb > 0) {
            cb[i] += mb / sqrt(mm * bb);
            nbp[i]++;
        }
        if (mm > 0 && ff > 0) {
            cf[i] += mf / sqrt(mm * ff);
            nfa[i]++;
        }
    }
    return 0;
}

static int evaluate(apical_steady *s, apical_epoch_metrics *m, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    m->n_eval = s->o.n_eval;
    for (size_t i = 0; i < APICAL_STEADY_MAX_POPS; i++)
        m->apical_sq[i] = m->angle_deg[i] = m->copy_dev[i] = NAN;
    for (size_t i = 0; i < c->n_pops; i++) {
        if (c->pops[i].apical_fed)
            m->angle_deg[i] = apical_feedback_angle(c, i);
        m->copy_dev[i] = apical_copy_deviation(c, i);
    }
    m->mismatch_sq = NAN;
    double asq[APICAL_STEADY_MAX_POPS] = { 0 }, mis = 0;
    size_t n_mis = 0;
    int passes = s->o.mode == APICAL_MODE_BACKPROP ? 1 : s->o.passes;
    for (size_t e = 0; e < s->o.n_eval; e++) {
        apical_stim *st = &c->stims[s->o.eval[e]];
        size_t wrong = 0;
        for (size_t from = 0; from < st->count; from += s->B) {
            size_t n = st->count - from < s->B ? st->count - from : s->B;
            load_batch(s, s->o.eval[e], NULL, from, n, 0);
            if (sweep(s, passes, err, cap))
                return -1;
            wrong += count_wrong(s, NULL, from, s->pops[st->tgt].rate);
            if (e != 0)
                continue;
            for (size_t i = 0; i < c->n_pops; i++) {
                apical_pop *p = &c->pops[i];
                if (!p->apical_fed || p->obs_v_apical == NONE)
                    continue;
                const double *va = s->pops[i].obs + p->obs_v_apical * n * p->n;
                for (size_t j = 0; j < n * p->n; j++)
                    asq[i] += va[j] * va[j];
            }
            for (size_t k = 0; k < c->n_projs; k++) {
                apical_proj *pj = &c->projs[k];
                size_t uo = apical_model_find_obs(c->pops[pj->src].model, "u");
                if (!pj->one_to_one || uo == NONE || c->pops[pj->dst].model->n_state != 1)
                    continue;
                size_t bn = n * c->pops[pj->dst].n;
                const double *us = s->pops[pj->src].obs + uo * bn, *ud = s->pops[pj->dst].y;
                for (size_t j = 0; j < bn; j++) {
                    mis += (us[j] - ud[j]) * (us[j] - ud[j]);
                    n_mis++;
                }
            }
        }
        m->error[e] = (double)wrong / (double)st->count;
        if (e == 0) {
            for (size_t i = 0; i < c->n_pops; i++)
                if (c->pops[i].apical_fed && c->pops[i].obs_v_apical != NONE)
                    m->apical_sq[i] = asq[i] / (double)(st->count * c->pops[i].n);
            if (n_mis)
                m->mismatch_sq = mis / (double)n_mis;
        }
    }
    for (size_t i = 0; i < APICAL_STEADY_MAX_POPS; i++)
        m->bp_cos[i] = m->fa_cos[i] = NAN;
    if (s->o.bp_probe && s->o.mode == APICAL_MODE_STEADY) {
        const apical_stim *tr = &c->stims[s->o.train];
        size_t n = s->o.bp_probe < tr->count ? s->o.bp_probe : tr->count;
        double cb[APICAL_STEADY_MAX_POPS] = { 0 }, cf[APICAL_STEADY_MAX_POPS] = { 0 };
        size_t nbp[APICAL_STEADY_MAX_POPS] = { 0 }, nfa[APICAL_STEADY_MAX_POPS] = { 0 };
        for (size_t from = 0; from < n; from += s->B)
            if (probe_batch(s, from, n - from < s->B ? n - from : s->B, cb, cf, nbp, nfa, err,
                            cap))
                return -1;
        for (size_t i = 0; i < c->n_pops; i++) {
            if (nbp[i])
                m->bp_cos[i] = cb[i] / (double)nbp[i];
            if (nfa[i])
                m->fa_cos[i] = cf[i] / (double)nfa[i];
        }
    }
    return 0;
}

int apical_steady_settle(apical_steady *s, const double *x, const double *u_trgt, size_t n,
                         char *err, size_t cap)
{
    apical_stim *st = &s->c->stims[s->o.train];
    if (n > s->B) {
        snprintf(err, cap, "at most %zu patterns per batch", s->B);
        return -1;
    }
    s->ext_stim = s->o.train;
    s->nb = n;
    s->target_on = u_trgt != NULL && st->has_target;
    memcpy(s->ext_x, x, n * st->size * sizeof(double));
    if (s->target_on)
        memcpy(s->ext_u, u_trgt, n * st->n_classes * sizeof(double));
    return sweep(s, s->o.mode == APICAL_MODE_BACKPROP ? 1 : s->o.passes, err, cap);
}

const double *apical_steady_state(const apical_steady *s, size_t pop, size_t b)
{
    return s->pops[pop].y + b * s->c->pops[pop].n;
}

int apical_steady_learn(apical_steady *s, const double *x, const double *u_trgt,
                        const double *r_trgt, size_t n, char *err, size_t cap)
{
    apical_stim *st = &s->c->stims[s->o.train];
    if (apical_steady_settle(s, x, u_trgt, n, err, cap))
        return -1;
    if (s->o.mode == APICAL_MODE_BACKPROP) {
        if (!r_trgt) {
            snprintf(err, cap, "backprop needs target rates");
            return -1;
        }
        memcpy(s->ext_r, r_trgt, n * st->n_classes * sizeof(double));
        return learn_backprop(s, err, cap);
    }
    return learn_steady(s, err, cap);
}

int apical_steady_train_epoch(apical_steady *s, double *train_error, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_steady_opts *o = &s->o;
    apical_stim *tr = &c->stims[o->train];
    int passes = o->mode == APICAL_MODE_BACKPROP ? 1 : o->passes;
    size_t free_obs = o->mode == APICAL_MODE_BACKPROP
                          ? s->pops[tr->tgt].rate
                          : apical_model_find_obs(c->pops[tr->tgt].model, "rate_basal_pred");
    /* each epoch's order follows from the random stream alone (a resumed
       run draws the same) */
    for (size_t i = 0; i < tr->count; i++)
        s->order[i] = i;
    gsl_ran_shuffle(c->rng_train, s->order, tr->count, sizeof *s->order);
    size_t wrong = 0;
    double last = 0;
    for (size_t from = 0; from < tr->count; from += s->B) {
        size_t n = tr->count - from < s->B ? tr->count - from : s->B;
        double t0 = now_s();
        choose_threads(s, from / s->B, last);
        load_batch(s, o->train, s->order, from, n, 1);
        if (sweep(s, passes, err, cap))
            return -1;
        /* the free (un-nudged) output: the rates in backprop, the basal
           prediction phi(c v_B) of the nudged cells otherwise */
        wrong += count_wrong(s, s->order, from, free_obs);
        if ((o->mode == APICAL_MODE_BACKPROP ? learn_backprop(s, err, cap)
                                             : learn_steady(s, err, cap)) != 0)
            return -1;
        if (o->stop && *o->stop) {
            snprintf(err, cap, "stopped %zu images into the epoch; the checkpoint holds the "
                     "last full epoch", from + n);
            return APICAL_RUN_STOPPED;
        }
        if (o->on_progress && (from / s->B) % 256 == 0)
            o->on_progress(o->user, (long)(from + n), (long)tr->count);
        last = now_s() - t0;
    }
    if (s->max_threads > 1)
        omp_set_num_threads(s->max_threads);
    if (train_error)
        *train_error = free_obs != NONE ? (double)wrong / (double)tr->count : NAN;
    return 0;
}

double apical_steady_flop(const apical_steady *s) { return s->flop; }

int apical_steady_run(apical_steady *s, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    const apical_steady_opts *o = &s->o;
    apical_stim *tr = &c->stims[o->train];
    if (!tr->has_target) {
        snprintf(err, cap, "training stimulus %s has no targets", tr->name);
        return -1;
    }
    apical_epoch_metrics m;
    if (o->start_epoch == 0) {
        memset(&m, 0, sizeof m);
        m.train_error = NAN;
        if (evaluate(s, &m, err, cap))
            return -1;
        if (o->on_epoch)
            o->on_epoch(o->user, &m);
        if (o->on_checkpoint && o->on_checkpoint(o->user, 0, err, cap))
            return -1;
    }
    for (long ep = o->start_epoch; ep < o->epochs; ep++) {
        double t0 = now_s(), wrong, f0 = s->flop;
        s->rate_scale = o->decay > 0 && ep > o->decay_from
                            ? pow(o->decay, (double)(ep - o->decay_from)) : 1.0;
        int rc = apical_steady_train_epoch(s, &wrong, err, cap);
        if (rc)
            return rc;
        memset(&m, 0, sizeof m);
        m.flop = s->flop - f0;
        m.epoch = ep + 1;
        m.patterns = (ep + 1) * (long)tr->count;
        m.seconds = now_s() - t0;
        m.train_error = wrong;
        apical_steady_sync(s);
        if (evaluate(s, &m, err, cap))
            return -1;
        if (o->on_epoch)
            o->on_epoch(o->user, &m);
        if (o->on_checkpoint && o->on_checkpoint(o->user, ep + 1, err, cap))
            return -1;
        if (o->stop && *o->stop && ep + 1 < o->epochs) {
            snprintf(err, cap, "stopped after epoch %ld", ep + 1);
            return APICAL_RUN_STOPPED;
        }
    }
    return 0;
}
