/*
 * stimulus.c -- what drives a circuit: stimuli (random patterns, table rows,
 * a teacher network, IDX images) and the targets they teach, how they are
 * built, and the next pattern of each.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "circuit_int.h"
#include "transfer.h"

#define NONE ((size_t)-1)

static apical_stim *add_stim(apical_circuit *c, const char *name, const char *dst,
                             const char *dst_port, char *err, size_t cap)
{
    size_t di;
    apical_pop *d = apical_circuit_pop(c, dst, &di);
    if (!d) {
        snprintf(err, cap, "stimulus %s drives unknown population '%s'", name, dst);
        return NULL;
    }
    size_t dp = apical_model_find_port(d->model, dst_port);
    if (dp == NONE) {
        snprintf(err, cap, "stimulus %s: %s (%s) has no port '%s'", name, dst, d->model->name,
                 dst_port);
        return NULL;
    }
    apical_stim *ss = realloc(c->stims, (c->n_stims + 1) * sizeof *ss);
    if (!ss) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    c->stims = ss;
    apical_stim *s = &ss[c->n_stims];
    memset(s, 0, sizeof *s);
    s->name = strdup(name);
    s->x = calloc(d->n, sizeof(double));
    if (!s->name || !s->x) {
        free(s->name);
        free(s->x);
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    s->size = d->n;
    s->dst = di;
    s->dst_port = dp;
    c->n_stims++;
    return s;
}

int apical_circuit_add_stim_table(apical_circuit *c, const char *name, apical_table *t,
                                  const char *dst, const char *dst_port, char *err, size_t cap)
{
    apical_pop *d = apical_circuit_pop(c, dst, NULL);
    if (d && t->cols != d->n) {
        snprintf(err, cap, "stimulus %s: patterns have %zu values, %s has %zu cells", name,
                 t->cols, dst, d->n);
        return -1;
    }
    apical_stim *s = add_stim(c, name, dst, dst_port, err, cap);
    if (!s)
        return -1;
    s->kind = APICAL_STIM_TABLE;
    s->table = *t;
    memset(t, 0, sizeof *t);
    return 0;
}

int apical_circuit_add_stim_teacher(apical_circuit *c, const char *name, double lo, double hi,
                                    const size_t *sizes, const double *gains, size_t nl,
                                    const double phi[4], const char *dst, const char *dst_port,
                                    char *err, size_t cap)
{
    apical_pop *d = apical_circuit_pop(c, dst, NULL);
    if (nl < 1) {
        snprintf(err, cap, "teacher %s needs at least two layer sizes", name);
        return -1;
    }
    if (d && sizes[0] != d->n) {
        snprintf(err, cap, "teacher %s takes %zu inputs, %s has %zu cells", name, sizes[0], dst,
                 d->n);
        return -1;
    }
    if (apical_circuit_add_stim_uniform(c, name, lo, hi, dst, dst_port, err, cap))
        return -1;
    apical_stim *s = &c->stims[c->n_stims - 1];
    apical_teacher *t = &s->teacher;
    s->kind = APICAL_STIM_TEACHER;
    size_t widest = 0;
    for (size_t l = 0; l <= nl; l++)
        widest = sizes[l] > widest ? sizes[l] : widest;
    t->n_layers = nl;
    t->sizes = malloc((nl + 1) * sizeof *t->sizes);
    t->gains = malloc(nl * sizeof *t->gains);
    t->w = calloc(nl, sizeof *t->w);
    t->r[0] = calloc(widest, sizeof(double));
    t->r[1] = calloc(widest, sizeof(double));
    if (!t->sizes || !t->gains || !t->w || !t->r[0] || !t->r[1])
        return snprintf(err, cap, "out of memory"), -1;
    memcpy(t->sizes, sizes, (nl + 1) * sizeof *sizes);
    memcpy(t->gains, gains, nl * sizeof *gains);
    memcpy(t->phi, phi, sizeof t->phi);
    for (size_t l = 0; l < nl; l++) {
        if (!(t->w[l] = malloc(sizes[l] * sizes[l + 1] * sizeof(double))))
            return snprintf(err, cap, "out of memory"), -1;
        for (size_t k = 0; k < sizes[l] * sizes[l + 1]; k++)
            t->w[l][k] = 2 * gsl_rng_uniform(c->rng_init) - 1;
    }
    return 0;
}

/* The population a stimulus teaches, with its target and target_gate
   ports; NULL with a message if it has none. */
static apical_pop *taught_pop(apical_circuit *c, const apical_stim *s, const char *pop,
                              size_t *ti, size_t *tp, size_t *tg, char *err, size_t cap)
{
    apical_pop *p = apical_circuit_pop(c, pop, ti);
    if (!p) {
        snprintf(err, cap, "stimulus %s: no population '%s' to teach", s->name, pop);
        return NULL;
    }
    *tp = p->role[APICAL_ROLE_TEACH];
    *tg = p->role[APICAL_ROLE_TEACH_GATE];
    if (*tp == NONE || *tg == NONE) {
        snprintf(err, cap, "stimulus %s: %s (%s) declares no %s", s->name, pop, p->model->name,
                 apical_role_what(*tp == NONE ? APICAL_ROLE_TEACH : APICAL_ROLE_TEACH_GATE));
        return NULL;
    }
    return p;
}

/* Point the stimulus at its taught population (a target potential buffer). */
static int teach_pop(apical_stim *s, const apical_pop *p, size_t ti, size_t tp, size_t tg,
                     char *err, size_t cap)
{
    if (!(s->u_trgt = calloc(p->n, sizeof(double))))
        return snprintf(err, cap, "out of memory"), -1;
    s->has_target = 1;
    s->tgt = ti;
    s->tgt_port = tp;
    s->tgt_gate = tg;
    return 0;
}

int apical_stim_set_target(apical_circuit *c, apical_stim *s, const char *pop,
                           apical_table *targets, char *err, size_t cap)
{
    size_t ti, tp, tg;
    apical_pop *p = taught_pop(c, s, pop, &ti, &tp, &tg, err, cap);
    if (!p)
        return -1;
    size_t want = targets ? targets->cols : s->teacher.sizes[s->teacher.n_layers];
    if (s->kind == APICAL_STIM_TEACHER ? targets != NULL : targets == NULL) {
        snprintf(err, cap, "stimulus %s: %s", s->name,
                 targets ? "a teacher makes its own targets" : "needs a table of targets");
        return -1;
    }
    if (want != p->n) {
        snprintf(err, cap, "stimulus %s: targets have %zu values, %s has %zu cells", s->name,
                 want, pop, p->n);
        return -1;
    }
    if (targets && targets->rows != s->table.rows) {
        snprintf(err, cap, "stimulus %s: %zu target rows for %zu patterns", s->name,
                 targets->rows, s->table.rows);
        return -1;
    }
    if (teach_pop(s, p, ti, tp, tg, err, cap))
        return -1;
    if (targets) {
        s->targets = *targets;
        memset(targets, 0, sizeof *targets);
    }
    return 0;
}

int apical_circuit_add_stim_idx(apical_circuit *c, const char *name, apical_idx *images,
                                apical_idx *labels, size_t first, size_t count, double scale,
                                const char *dst, const char *dst_port, char *err, size_t cap)
{
    apical_pop *d = apical_circuit_pop(c, dst, NULL);
    if (images->n_dims < 2) {
        snprintf(err, cap, "stimulus %s: images must be N x H x W, not %zu-dimensional", name,
                 images->n_dims);
        return -1;
    }
    size_t n = images->dims[0], pix = images->count / (n ? n : 1);
    if (labels->n_dims != 1 || labels->dims[0] != n) {
        snprintf(err, cap, "stimulus %s: %zu images need %zu labels in a 1-dimensional file", name,
                 n, n);
        return -1;
    }
    if (d && pix != d->n) {
        snprintf(err, cap, "stimulus %s: images have %zu pixels, %s has %zu cells", name, pix, dst,
                 d->n);
        return -1;
    }
    if (first > n || count > n - first || count == 0) {
        snprintf(err, cap, "stimulus %s: rows %zu .. %zu are not within the file's %zu images",
                 name, first, first + count - 1, n);
        return -1;
    }
    apical_stim *s = add_stim(c, name, dst, dst_port, err, cap);
    if (!s)
        return -1;
    s->kind = APICAL_STIM_IDX;
    s->images = *images;
    s->labels = *labels;
    memset(images, 0, sizeof *images);
    memset(labels, 0, sizeof *labels);
    s->first = first;
    s->count = count;
    s->scale = scale;
    return 0;
}

void apical_stim_idx_target(const apical_stim *s, size_t i, double *u, double *r)
{
    unsigned lab = s->labels.data[s->first + i];
    for (size_t k = 0; k < s->n_classes; k++) {
        u[k] = s->trgt_u[k == lab];
        if (r)
            r[k] = s->trgt_r[k == lab];
    }
}

void apical_stim_idx_pattern(const apical_stim *s, size_t i, double *x)
{
    const unsigned char *px = s->images.data + (s->first + i) * s->size;
    for (size_t k = 0; k < s->size; k++)
        x[k] = s->scale * px[k];
}

/* The potential whose rate is r, by bisection over the cell's own
   transfer function (assumed increasing). */
static int invert_rate(apical_pop *p, double r, double *u, char *err, size_t cap)
{
    size_t ro = p->role[APICAL_ROLE_RATE];
    const apical_cell_model *m = p->model;
    if (ro == NONE || m->n_state != 1) {
        snprintf(err, cap, "%s (%s) has no single state with a rate to invert", p->name, m->name);
        return -1;
    }
    double y, o[64], in[64] = { 0 };
    if (m->n_obs > 64 || m->n_ports > 64) {
        snprintf(err, cap, "%s: too many observables to invert its rate", m->name);
        return -1;
    }
    apical_cell_ctx x = { sizeof x, 1, p->p, &y, in, NULL, 0 };
    double lo = -1e3, hi = 1e3, rl, rh;
    y = lo;
    m->observe(&x, APICAL_OBS_STATE, o);
    rl = o[ro];
    y = hi;
    m->observe(&x, APICAL_OBS_STATE, o);
    rh = o[ro];
    if (!(rl < r && r < rh)) {
        snprintf(err, cap, "target rate %g is outside what %s can fire (%g .. %g)", r, p->name, rl,
                 rh);
        return -1;
    }
    for (int it = 0; it < 200 && hi - lo > 1e-13 * (1 + fabs(lo)); it++) {
        y = 0.5 * (lo + hi);
        m->observe(&x, APICAL_OBS_STATE, o);
        if (o[ro] < r)
            lo = y;
        else
            hi = y;
    }
    *u = 0.5 * (lo + hi);
    return 0;
}

int apical_stim_set_idx_targets(apical_circuit *c, apical_stim *s, const char *pop, double off,
                                double on, char *err, size_t cap)
{
    size_t ti, tp, tg;
    apical_pop *p = taught_pop(c, s, pop, &ti, &tp, &tg, err, cap);
    if (!p)
        return -1;
    for (size_t i = 0; i < s->count; i++)
        if (s->labels.data[s->first + i] >= p->n) {
            snprintf(err, cap, "stimulus %s: image %zu has label %u, but %s has only %zu cells",
                     s->name, s->first + i, s->labels.data[s->first + i], pop, p->n);
            return -1;
        }
    if (invert_rate(p, off, &s->trgt_u[0], err, cap) ||
        invert_rate(p, on, &s->trgt_u[1], err, cap))
        return -1;
    s->trgt_r[0] = off;
    s->trgt_r[1] = on;
    s->n_classes = p->n;
    return teach_pop(s, p, ti, tp, tg, err, cap);
}

int apical_circuit_add_stim_uniform(apical_circuit *c, const char *name, double lo, double hi,
                                    const char *dst, const char *dst_port, char *err,
                                    size_t cap)
{
    if (!(lo <= hi)) {
        snprintf(err, cap, "stimulus %s: range [%g, %g] is empty", name, lo, hi);
        return -1;
    }
    apical_stim *s = add_stim(c, name, dst, dst_port, err, cap);
    if (!s)
        return -1;
    s->kind = APICAL_STIM_UNIFORM;
    s->lo = lo;
    s->hi = hi;
    return 0;
}

/* The teacher's target potential for input x (docs/model.md 3.3). */
static void teach(apical_teacher *t, const double *x, double *u_trgt)
{
    apical_transfer phi = apical_transfer_make(t->phi[0], t->phi[1], t->phi[2], t->phi[3]);
    const double *in = x;
    for (size_t l = 0; l < t->n_layers; l++) {
        size_t m = t->sizes[l + 1], n = t->sizes[l];
        double *out = l + 1 == t->n_layers ? u_trgt : t->r[l % 2];
        for (size_t i = 0; i < m; i++) {
            double a = 0;
            for (size_t j = 0; j < n; j++)
                a += t->w[l][i * n + j] * in[j];
            a *= t->gains[l];
            out[i] = l + 1 == t->n_layers ? a : apical_phi(&phi, a);
        }
        in = out;
    }
}

size_t apical_stim_rows(const apical_stim *s)
{
    return s->kind == APICAL_STIM_TABLE ? s->table.rows
           : s->kind == APICAL_STIM_IDX ? s->count : 0;
}

/* The order of pass s->pass: GSL's shuffle, from a generator seeded by
   perm_seed and the pass alone (SplitMix64), so a resumed run draws the
   same order again. */
void apical_stim_draw_order(apical_stim *s)
{
    const size_t n = apical_stim_rows(s);
    uint64_t z = s->perm_seed + 0x9e3779b97f4a7c15ULL * (s->pass + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    gsl_rng_set(s->perm_rng, (unsigned long)((z ^ (z >> 31)) & 0xffffffffUL));
    for (size_t i = 0; i < n; i++)
        s->perm[i] = i;
    gsl_ran_shuffle(s->perm_rng, s->perm, n, sizeof *s->perm);
}

int apical_stim_set_shuffle(apical_circuit *c, apical_stim *s, char *err, size_t cap)
{
    const size_t n = apical_stim_rows(s);
    if (!n) {
        snprintf(err, cap, "stimulus %s: only table (csv) and idx stimuli have rows to shuffle",
                 s->name);
        return -1;
    }
    if (!s->perm_rng && !(s->perm_rng = gsl_rng_alloc(gsl_rng_mt19937))) {
        snprintf(err, cap, "stimulus %s: out of memory for its order", s->name);
        return -1;
    }
    if (!s->perm && !(s->perm = malloc(n * sizeof *s->perm))) {
        snprintf(err, cap, "stimulus %s: out of memory for its order", s->name);
        return -1;
    }
    s->perm_seed = (c->seed ^ 0x5b0ff1edUL) + 0x100000001b3ULL * (uint64_t)(s - c->stims);
    s->pass = 0;
    apical_stim_draw_order(s);
    return 0;
}

/* The next pattern, and its target: a fresh draw (through the teacher), or
   the next row of a table or idx file (cycling, in this pass's order when
   shuffled). */
void apical_stim_next(apical_stim *s, gsl_rng *rng)
{
    if (s->kind == APICAL_STIM_TABLE || s->kind == APICAL_STIM_IDX) {
        const size_t row = s->perm ? s->perm[s->next_row] : s->next_row;
        if (s->kind == APICAL_STIM_TABLE) {
            memcpy(s->x, s->table.data + row * s->size, s->size * sizeof(double));
            if (s->has_target)
                memcpy(s->u_trgt, s->targets.data + row * s->targets.cols,
                       s->targets.cols * sizeof(double));
        } else {
            apical_stim_idx_pattern(s, row, s->x);
            if (s->has_target)
                apical_stim_idx_target(s, row, s->u_trgt, NULL);
        }
        if (++s->next_row == apical_stim_rows(s)) {
            s->next_row = 0;
            if (s->perm) {
                s->pass++;
                apical_stim_draw_order(s);
            }
        }
        return;
    }
    for (size_t i = 0; i < s->size; i++)
        s->x[i] = s->lo + (s->hi - s->lo) * gsl_rng_uniform(rng);
    if (s->kind == APICAL_STIM_TEACHER && s->has_target)
        teach(&s->teacher, s->x, s->u_trgt);
}

void apical_stim_next_copies(const apical_circuit *c, apical_stim *s, gsl_rng *rng)
{
    double *x = s->x, *u = s->u_trgt;
    const size_t nt = s->has_target ? c->pops[s->tgt].n : 0;
    for (size_t b = 0; b < c->copies; b++) {
        s->x = x + b * s->size;
        s->u_trgt = u ? u + b * nt : NULL;
        apical_stim_next(s, rng);
    }
    s->x = x;
    s->u_trgt = u;
}

/* Only stimulus `active` drives the circuit; its targets as asked. */
void apical_circuit_activate(apical_circuit *c, size_t active, int target_on)
{
    for (size_t i = 0; i < c->n_stims; i++) {
        c->stims[i].active = i == active;
        c->stims[i].target_on = i == active && target_on;
    }
}

void apical_stim_advance(apical_circuit *c, apical_stim *s)
{
    apical_stim_next(s, c->rng_train);
}

double *apical_stim_target(const apical_circuit *c, const apical_stim *s, size_t *n)
{
    if (n)
        *n = s->has_target ? c->pops[s->tgt].n : 0;
    return s->has_target ? s->u_trgt : NULL;
}

const char *apical_stim_target_pop(const apical_circuit *c, const apical_stim *s)
{
    return s->has_target ? c->pops[s->tgt].name : NULL;
}
