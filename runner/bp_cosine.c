/*
 * bp_cosine.c -- how close the microcircuit's learning is to backprop.
 *
 * docs/model.md 2.3: in the self-predicting state and with weak feedback and
 * teaching, the bottom-up weight change of a hidden layer at the nudged
 * steady state points along backprop's update of the feedforward network
 * obtained by deleting the lateral and top-down weights:
 *
 *   u^-_k = c_k W_k r^-_{k-1},  r^-_k = phi_k(u^-_k),  c_k = g_B/(g_lk+g_B+g_A)
 *   delta_N = phi'(u^-_N) (u_trgt - u^-_N)
 *   delta_k = phi'(u^-_k) W_{k+1}^T delta_{k+1}
 *   backprop:     Delta W_k ~ delta_k (r^-_{k-1})^T
 *   microcircuit: Delta W_k ~ err_basal_k r_{k-1}^T          (Eq. 7)
 *
 * The chain is found from the taught population downwards through its
 * `basal` projections.  Everything else comes from the modules, as in steady
 * mode's probe (steady_probe.c): the free network's potentials from each
 * cell's steady function with only its basal port fed (APICAL_STEADY_UP),
 * phi and phi' from its rate observable and Jacobian, and the way an error
 * in u reaches the basal port, du/d(basal) = -(df/d basal) / (df/du), from
 * the Jacobian too (c_k for the paper's pyramids: a scale per layer, which
 * the cosines do not see).  A chain cell without steady or Jacobian, or
 * with more than one state, ends the measurement.  The metric is the mean
 * of the hidden layers' cosines (the output layer's update equals backprop
 * by construction).  tests/check_backprop.c is the same comparison written
 * out by hand for one circuit; tests/check_steady.c checks this probe
 * against steady mode's.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bp_cosine.h"

#define MAX_LAYERS 16

/* One layer of the free network: population p settled with in_basal on
   its basal port (row `port`) and nothing else, its potential into u, rate
   (observable ro) into r, phi'(u) into dphi and du/d(basal) into att; w is
   scratch of (n_ports + 2 n_obs + n_ports + 1) x n values. */
static int free_layer(const apical_pop *p, size_t port, size_t ro, const double *in_basal,
                      double *u, double *r, double *dphi, double *att, double *w)
{
    const apical_cell_model *m = p->model;
    const size_t n = p->n;
    double *in = w, *obs = in + m->n_ports * n, *dody = obs + m->n_obs * n,
           *dfdin = dody + m->n_obs * n, *dfdy = dfdin + m->n_ports * n;
    memset(in, 0, m->n_ports * n * sizeof(double));
    memcpy(in + port * n, in_basal, n * sizeof(double));
    apical_cell_ctx x = { sizeof x, n, p->p, u, in, NULL, 0 };
    if (APICAL_CELL_STEADY(m)(&x, APICAL_STEADY_UP, u) != APICAL_OK ||
        m->observe(&x, APICAL_OBS_STATE, obs) != APICAL_OK ||
        m->jacobian(&x, dfdy, dfdin, dody) != APICAL_OK)
        return -1;
    memcpy(r, obs + ro * n, n * sizeof(double));
    memcpy(dphi, dody + ro * n, n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        att[i] = 1.0;
    apical_port_grad(dfdy, dfdin + port * n, n, att, att);
    return 0;
}

/* The chain of basal projections down from population top (chain[0] feeds
   it), the err_basal and rate observables of each post population into eb
   and ro, the widest population into *maxn and free_layer's scratch size
   into *wmax; 0 when there is no hidden layer or a cell lacks what the
   measure needs. */
static size_t find_chain(const apical_circuit *c, size_t top, const apical_proj **chain,
                         size_t *eb, size_t *ro, size_t *maxn, size_t *wmax)
{
    size_t n = 0;
    while (n < MAX_LAYERS) {
        const apical_proj *found = NULL;
        for (size_t i = 0; i < c->n_projs && !found; i++) {
            const apical_proj *pj = &c->projs[i];
            if (!pj->one_to_one && pj->dst == top && apical_proj_role(c, pj) == APICAL_ROLE_BASAL)
                found = pj;
        }
        if (!found)
            break;
        chain[n++] = found;
        top = found->src;
    }
    if (n < 2)
        return 0; /* no hidden layer */
    *maxn = *wmax = 0;
    for (size_t k = 0; k < n; k++) {
        const apical_pop *post = &c->pops[chain[k]->dst], *pre = &c->pops[chain[k]->src];
        const apical_cell_model *m = post->model;
        *maxn = post->n > *maxn ? post->n : *maxn;
        *maxn = pre->n > *maxn ? pre->n : *maxn;
        size_t w = (2 * m->n_ports + 2 * m->n_obs + 1) * post->n;
        *wmax = w > *wmax ? w : *wmax;
        eb[k] = post->role[APICAL_ROLE_BASAL_ERROR];
        ro[k] = post->role[APICAL_ROLE_RATE];
        if (eb[k] == (size_t)-1 || ro[k] == (size_t)-1 || m->n_state != 1 || !m->jacobian ||
            !APICAL_CELL_STEADY(m))
            return 0;
    }
    return n;
}

/* The free network's buffers: rows of maxn per layer l = 0 (input) .. n
   (taught). */
typedef struct bp_rows {
    double *u, *r, *dphi, *att, *delta;
} bp_rows;

/* Backprop through the free feedforward network of the chain's n layers,
   from the input's present rates and the stimulus's target: delta_l =
   -dL/du_l, L = |u_trgt - u_N|^2 / 2 on the taught layer's potentials. */
static int backprop(apical_circuit *c, const apical_stim *s, const apical_proj *const *chain,
                    const size_t *ro, size_t n, size_t maxn, bp_rows b, double *w)
{
    /* layer l's weights are chain[n - l] (pre = layer l-1, post = layer l) */
    const apical_pop *in = &c->pops[chain[n - 1]->src];
    memcpy(b.r, in->obs + chain[n - 1]->src_obs * in->n, in->n * sizeof(double));
    for (size_t l = 1; l <= n; l++) {
        const apical_proj *pj = chain[n - l];
        const apical_pop *post = &c->pops[pj->dst], *pre = &c->pops[pj->src];
        double *v = b.delta + l * maxn; /* the basal input, until the deltas */
        for (size_t i = 0; i < post->n; i++) {
            double a = 0;
            for (size_t j = 0; j < pre->n; j++)
                a += pj->w[i * pre->n + j] * b.r[(l - 1) * maxn + j];
            v[i] = a;
        }
        memset(b.u + l * maxn, 0, post->n * sizeof(double));
        if (free_layer(post, pj->dst_port, ro[n - l], v, b.u + l * maxn, b.r + l * maxn,
                       b.dphi + l * maxn, b.att + l * maxn, w))
            return -1;
    }
    for (size_t i = 0; i < c->pops[s->tgt].n; i++)
        b.delta[n * maxn + i] = b.dphi[n * maxn + i] * (s->u_trgt[i] - b.u[n * maxn + i]);
    for (size_t l = n - 1; l >= 1; l--) {
        const apical_proj *pj = chain[n - l - 1]; /* layer l -> l+1 */
        size_t m = c->pops[pj->dst].n, k = c->pops[pj->src].n;
        const double *d = b.delta + (l + 1) * maxn, *att = b.att + (l + 1) * maxn;
        for (size_t i = 0; i < k; i++) {
            double a = 0;
            for (size_t j = 0; j < m; j++)
                a += pj->w[j * k + i] * (att[j] * d[j]);
            b.delta[l * maxn + i] = b.dphi[l * maxn + i] * a;
        }
    }
    return 0;
}

/* Hidden layers l = 1 .. n-1 at the nudged state:
   cos(err_basal r_pre^T, delta_l r^-_{l-1}^T) = cos(err, delta) cos(r_pre, r^-_{l-1})
   for outer products, added to acc. */
static void add_cosines(const apical_circuit *c, const apical_proj *const *chain,
                        const size_t *eb, size_t n, size_t maxn, const double *r,
                        const double *delta, double *pre_r, apical_bp_acc *acc)
{
    for (size_t l = 1; l < n; l++) {
        const apical_proj *pj = chain[n - l];
        const apical_pop *post = &c->pops[pj->dst], *pre = &c->pops[pj->src];
        const double *e = post->obs + eb[n - l] * post->n;
        memcpy(pre_r, pre->obs + pj->src_obs * pre->n, pre->n * sizeof(double));
        double ed = 0, ee = 0, dd = 0, rq = 0, rr = 0, qq = 0;
        for (size_t i = 0; i < post->n; i++) {
            ed += e[i] * delta[l * maxn + i];
            ee += e[i] * e[i];
            dd += delta[l * maxn + i] * delta[l * maxn + i];
        }
        for (size_t j = 0; j < pre->n; j++) {
            rq += pre_r[j] * r[(l - 1) * maxn + j];
            rr += pre_r[j] * pre_r[j];
            qq += r[(l - 1) * maxn + j] * r[(l - 1) * maxn + j];
        }
        if (ee > 0 && dd > 0 && rr > 0 && qq > 0) {
            acc->sum += ed / sqrt(ee * dd) * (rq / sqrt(rr * qq));
            acc->n++;
        }
    }
}

int apical_bp_cosine_pattern(apical_circuit *c, apical_integrator *it, apical_stim *s,
                             long steps, double dt, apical_bp_acc *acc, char *err, size_t cap)
{
    if (!s->has_target)
        return 0;
    const apical_proj *chain[MAX_LAYERS];
    size_t eb[MAX_LAYERS], ro[MAX_LAYERS], maxn = 0, wmax = 0,
           n = find_chain(c, s->tgt, chain, eb, ro, &maxn, &wmax);
    if (n == 0)
        return 0;
    size_t L = n + 1;
    double *buf = malloc(((5 * L + 1) * maxn + wmax) * sizeof *buf);
    if (!buf) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    bp_rows b = { buf, buf + L * maxn, buf + 2 * L * maxn, buf + 3 * L * maxn,
                  buf + 4 * L * maxn };
    double *pre_r = buf + 5 * L * maxn, *w = pre_r + maxn;
    if (backprop(c, s, chain, ro, n, maxn, b, w) != 0) {
        free(buf);
        snprintf(err, cap, "bp_cosine: a layer of the free network could not be computed");
        return -1;
    }
    /* the nudged steady state, err_basal observed on the way */
    uint8_t was_needed[MAX_LAYERS];
    for (size_t k = 0; k < n; k++) {
        apical_pop *post = &c->pops[chain[k]->dst];
        was_needed[k] = post->need[eb[k]];
        post->need[eb[k]] = 1;
    }
    int was_on = s->target_on, rc = 0;
    s->target_on = 1;
    apical_integrator_reset(it);
    for (long t = 0; t < steps && rc == 0; t++)
        rc = apical_circuit_eval(c, err, cap) || apical_integrator_advance(it, dt, 0, err, cap);
    if (rc == 0)
        rc = apical_circuit_eval(c, err, cap);
    s->target_on = was_on;
    if (rc == 0)
        add_cosines(c, chain, eb, n, maxn, b.r, b.delta, pre_r, acc);
    for (size_t k = 0; k < n; k++)
        c->pops[chain[k]->dst].need[eb[k]] = was_needed[k];
    free(buf);
    return rc ? -1 : 0;
}
