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
 * `basal` projections; c_k needs the cell's g_lk, g_B, g_A (a chain cell
 * without them ends the measurement), phi and phi' come from the module
 * itself (its rate observable at u, phi' by a central difference).  The
 * metric is the mean of the hidden layers' cosines (the output layer's
 * update equals backprop by construction).  tests/check_backprop.c is the
 * same comparison written out by hand for one circuit.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bp_cosine.h"

#define MAX_LAYERS 16

static double param(const apical_pop *p, const char *name)
{
    for (size_t i = 0; i < p->model->n_params; i++)
        if (strcmp(p->model->params[i].name, name) == 0)
            return p->p[i];
    return NAN;
}

/* phi(u) into r and phi'(u) into d (may be NULL), from the module's rate
   observable at state u; scratch holds n_obs x n values. */
static int rates(const apical_pop *p, const double *u, double *r, double *d, double *scratch,
                 double *tmp)
{
    size_t ro = apical_model_find_obs(p->model, "rate");
    if (ro == (size_t)-1 || p->model->n_state != 1)
        return -1;
    apical_cell_ctx x = { sizeof x, p->n, p->p, u, p->in, NULL, 0 };
    if (p->model->observe(&x, APICAL_OBS_STATE, scratch) != APICAL_OK)
        return -1;
    memcpy(r, scratch + ro * p->n, p->n * sizeof(double));
    if (!d)
        return 0;
    const double h = 1e-6;
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (size_t i = 0; i < p->n; i++)
            tmp[i] = u[i] + sgn * h;
        x.y = tmp;
        if (p->model->observe(&x, APICAL_OBS_STATE, scratch) != APICAL_OK)
            return -1;
        for (size_t i = 0; i < p->n; i++)
            d[i] = sgn > 0 ? scratch[ro * p->n + i] : (d[i] - scratch[ro * p->n + i]) / (2 * h);
    }
    return 0;
}

/* The chain of basal projections down from population top (chain[0] feeds
   it), the err_basal observable of each post population into eb; 0 when
   there is no hidden layer or a cell lacks what the measure needs. */
static size_t find_chain(const apical_circuit *c, size_t top, const apical_proj **chain,
                         size_t *eb, size_t *maxn)
{
    size_t n = 0;
    while (n < MAX_LAYERS) {
        const apical_proj *found = NULL;
        for (size_t i = 0; i < c->n_projs && !found; i++) {
            const apical_proj *pj = &c->projs[i];
            if (!pj->one_to_one && pj->dst == top &&
                strcmp(apical_proj_port(c, pj), "basal") == 0)
                found = pj;
        }
        if (!found)
            break;
        chain[n++] = found;
        top = found->src;
    }
    if (n < 2)
        return 0; /* no hidden layer */
    *maxn = 0;
    for (size_t k = 0; k < n; k++) {
        const apical_pop *post = &c->pops[chain[k]->dst], *pre = &c->pops[chain[k]->src];
        *maxn = post->n > *maxn ? post->n : *maxn;
        *maxn = pre->n > *maxn ? pre->n : *maxn;
        eb[k] = apical_model_find_obs(post->model, "err_basal");
        if (eb[k] == (size_t)-1 || isnan(param(post, "g_B") + param(post, "g_lk") +
                                         param(post, "g_A")))
            return 0;
    }
    return n;
}

/* Backprop through the free feedforward network of the chain's n layers
   (rows of maxn: u, r, phi', delta per layer l = 0 (input) .. n (taught)),
   from the input's present rates and the stimulus's target. */
static int backprop(apical_circuit *c, const apical_stim *s, const apical_proj *const *chain,
                    size_t n, size_t maxn, double *u, double *r, double *dphi, double *delta,
                    double *tmp)
{
    /* layer l's weights are chain[n - l] (pre = layer l-1, post = layer l) */
    const apical_pop *in = &c->pops[chain[n - 1]->src];
    memcpy(r, in->obs + chain[n - 1]->src_obs * in->n, in->n * sizeof(double));
    for (size_t l = 1; l <= n; l++) {
        const apical_proj *pj = chain[n - l];
        const apical_pop *post = &c->pops[pj->dst], *pre = &c->pops[pj->src];
        double cb = param(post, "g_B") /
                    (param(post, "g_lk") + param(post, "g_B") + param(post, "g_A"));
        for (size_t i = 0; i < post->n; i++) {
            double v = 0;
            for (size_t j = 0; j < pre->n; j++)
                v += pj->w[i * pre->n + j] * r[(l - 1) * maxn + j];
            u[l * maxn + i] = cb * v;
        }
        if (rates(post, u + l * maxn, r + l * maxn, dphi + l * maxn, c->obs_scratch, tmp))
            return -1;
    }
    for (size_t i = 0; i < c->pops[s->tgt].n; i++)
        delta[n * maxn + i] = dphi[n * maxn + i] * (s->u_trgt[i] - u[n * maxn + i]);
    for (size_t l = n - 1; l >= 1; l--) {
        const apical_proj *pj = chain[n - l - 1]; /* layer l -> l+1 */
        size_t m = c->pops[pj->dst].n, k = c->pops[pj->src].n;
        for (size_t i = 0; i < k; i++) {
            double a = 0;
            for (size_t j = 0; j < m; j++)
                a += pj->w[j * k + i] * delta[(l + 1) * maxn + j];
            delta[l * maxn + i] = dphi[l * maxn + i] * a;
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
    size_t eb[MAX_LAYERS], maxn = 0, n = find_chain(c, s->tgt, chain, eb, &maxn);
    if (n == 0)
        return 0;
    size_t L = n + 1;
    double *buf = malloc((4 * L + 2) * maxn * sizeof *buf);
    if (!buf) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    double *u = buf, *r = u + L * maxn, *dphi = r + L * maxn, *delta = dphi + L * maxn,
           *tmp = delta + L * maxn, *pre_r = tmp + maxn;
    if (backprop(c, s, chain, n, maxn, u, r, dphi, delta, tmp) != 0) {
        free(buf);
        snprintf(err, cap, "bp_cosine: the rate of a layer could not be computed");
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
        add_cosines(c, chain, eb, n, maxn, r, delta, pre_r, acc);
    for (size_t k = 0; k < n; k++)
        c->pops[chain[k]->dst].need[eb[k]] = was_needed[k];
    free(buf);
    return rc ? -1 : 0;
}
