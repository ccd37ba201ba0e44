/*
 * steady_sweep.c -- the steady-state mode's primitives: a population
 * settled to its fixed point for its port inputs, the weight products that
 * feed the ports, the up and down sweeps over the circuit, a projection's
 * weight change, a mini-batch of a stimulus loaded, and the count of
 * wrongly classified images.  steady.c (the driver), the backprop mode, the
 * implicit interneuron step, the probe and the evaluation call these.
 */
#include "config.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "steady_int.h"

int apical_sd_oom(char *err, size_t cap)
{
    snprintf(err, cap, "out of memory for the steady-state buffers");
    return -1;
}

/* Apply a deferred weight change on its own. */
void apical_sd_flush_proj(apical_steady *s, size_t k)
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
int apical_sd_observe(apical_steady *s, size_t i, int jacobian)
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
            product(s, k, sd_src_row(s, pj));
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
int apical_sd_settle_pop(apical_steady *s, size_t i, uint32_t flags, char *err, size_t cap)
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
        if (apical_sd_settle_pop(s, i, lit, err, cap))
            return -1;
        if (apical_sd_observe(s, i, 0) != APICAL_OK) {
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
            memcpy(q->pre, sd_src_row(s, pj), s->nb * c->pops[pj->src].n * sizeof(double));
        }
    }
    return 0;
}

/* The sweeps; observables of both stages are filled in at the end. */
int apical_sd_sweep(apical_steady *s, int passes, char *err, size_t cap)
{
    apical_circuit *c = s->c;
    uint32_t lit = s->o.literal ? APICAL_STEADY_LITERAL : 0;
    for (size_t i = 0; i < c->n_pops; i++)
        s->pops[i].visited = 0;
    for (int pass = 0; pass < passes; pass++) {
        uint32_t up = pass == 0 ? APICAL_STEADY_UP : 0;
        for (size_t i = 0; i < c->n_pops; i++)
            if (apical_sd_settle_pop(s, i, up | lit, err, cap))
                return -1;
        if (pass == 0 && s->any_free && free_posts(s, lit, err, cap))
            return -1;
        if (s->o.mode == APICAL_MODE_BACKPROP)
            break;
        for (size_t i = c->n_pops; i-- > 0;)
            if (apical_sd_settle_pop(s, i, lit, err, cap))
                return -1;
    }
    for (size_t i = 0; i < c->n_pops; i++)
        if (apical_sd_observe(s, i, 0) != APICAL_OK) {
            snprintf(err, cap, "population %s: observe failed", c->pops[i].name);
            return -1;
        }
    return 0;
}

/* W += (eta / nb) e^T pre, e = a post + b (nb x nd), pre nb x ns.  In
   single precision the change waits for the projection's next product,
   which applies it in the same pass over the weights (the arithmetic is
   the same; apical_steady_sync applies what is still waiting). */
void apical_sd_learn_proj(apical_steady *s, size_t k, const double *e)
{
    apical_circuit *c = s->c;
    apical_proj *pj = &c->projs[k];
    sd_proj *q = &s->projs[k];
    size_t nd = c->pops[pj->dst].n, ns = c->pops[pj->src].n, nb = s->nb;
    const double *pre = q->pre ? q->pre : sd_src_row(s, pj);
    double f = q->eta * (q->no_decay ? 1.0 : s->rate_scale) / (double)nb;
    s->flop += 2.0 * (double)(nb * nd * ns);
    if (q->wf) {
        apical_sd_flush_proj(s, k);
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

void apical_sd_load_batch(apical_steady *s, size_t st_i, const size_t *order, size_t from,
                          size_t n, int target_on)
{
    apical_stim *st = &s->c->stims[st_i];
    s->ext_stim = st_i;
    s->nb = n;
    s->target_on = target_on && st->has_target;
    for (size_t b = 0; b < n; b++) {
        size_t row = order ? order[from + b] : from + b;
        apical_stim_idx_pattern(st, row, s->ext_x + b * st->size);
        if (st->has_target)
            apical_stim_idx_target(st, row, s->ext_u + b * st->n_classes,
                                   s->ext_r + b * st->n_classes);
    }
}

size_t apical_sd_count_wrong(apical_steady *s, const size_t *order, size_t from, size_t o)
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

/* g du/dport = g (-df/dport) / (df/du), from the Jacobian blocks. */
void apical_sd_port_grad(const sd_pop *q, size_t port, size_t bn, const double *g, double *out)
{
    apical_port_grad(q->dfdy, q->dfdin + port * bn, bn, g, out);
}
