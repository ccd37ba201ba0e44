/*
 * conformance.c -- does a cell model or a rule keep the promises of the
 * module ABI?  Each property is measured on random states, ports, weights
 * and parameter values from a seeded generator, and reported with the
 * largest deviation found and the tolerance it was held to
 * (apical_conformance.h; the tolerances are explained in docs/modules.md).
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apical_conformance.h"
#include "circuit_int.h"

/* Cells per population in the cell checks: not a multiple of a vector's
   lanes, so vectorised loops run their remainders too. */
#define CELLS 13
/* The slices of the row-slice check ([0, CUT) and [CUT, CELLS)) and the
   padding of its rows (ld = CELLS + PAD). */
#define CUT 5
#define PAD 3
/* Rule checks: weights POST x PRE, batches of up to K steps. */
#define POST 5
#define PRE 19
#define K 7
/* The time step of the rule checks. */
#define DT 0.1

/* Tolerances (docs/modules.md, "The conformance check"). */
#define TOL_JACOBIAN 1e-6    /* central differences, step 1e-5 relative */
#define TOL_ROOT 1e-9        /* |rhs(steady)| / (1 + |y| + |in|) */
#define TOL_SAME 1e-13       /* the same arithmetic, cut or grouped differently */
#define TOL_EULER 1e-12      /* a fused Euler step against w + dt dw */
#define TOL_BATCH 1e-10      /* k steps at once against k steps */
#define TOL_F32 (2.0 * FLT_EPSILON)      /* W and aux rounded to float once */
#define TOL_F32_PRE (8.0 * FLT_EPSILON)  /* plus products summed in float lanes */
#define TOL_BF16 (1.0 / 64)              /* of the step's change: products of operands
                                            rounded to 8-bit significands (2^-8 each) */
#define TOL_RATE 1e-8        /* steady_rate against dwdt at settled memory */

/* A table count beyond this is taken for a corrupt descriptor. */
#define MAX_COUNT 65536
/* A descriptor this much larger than the host's is taken for a corrupt size
   (a newer minor version appends a few fields). */
#define SIZE_SLACK 4096

/* The sentinel written around and into buffers a function must not touch. */
#define SENTINEL (-12345.6789e100)

const char *apical_conf_status_name(apical_conf_status s)
{
    switch (s) {
    case APICAL_CONF_PASS:
        return "pass";
    case APICAL_CONF_FAIL:
        return "FAIL";
    case APICAL_CONF_SKIP:
        return "skip";
    case APICAL_CONF_INFO:
        return "info";
    }
    return "?";
}

/* ---- reporting -------------------------------------------------------- */

typedef struct conf {
    const char *kind, *model;
    apical_conf_fn report;
    void *user;
    int failures;
    uint64_t rng;
    unsigned sets;          /* parameter sets: the defaults and the trials */
} conf;

/* One property as it is measured: the largest deviation and where it was,
   or the first call that failed outright. */
typedef struct prop {
    double dev;             /* < 0: nothing measured yet */
    char where[480];
    int failed;
    char why[480];
} prop;

static void prop_init(prop *p)
{
    p->dev = -1;
    p->where[0] = p->why[0] = '\0';
    p->failed = 0;
}

static void prop_fail(prop *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prop_fail(prop *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
}

static void prop_dev(prop *p, double dev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void prop_dev(prop *p, double dev, const char *fmt, ...)
{
    if (isnan(dev) || dev > p->dev) {
        char buf[480];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (isnan(dev)) {
            prop_fail(p, "not finite: %s", buf);
            return;
        }
        p->dev = dev;
        memcpy(p->where, buf, sizeof buf);
    }
}

static void emit(conf *c, const char *name, apical_conf_status st, double dev, double tol,
                 const char *detail)
{
    if (st == APICAL_CONF_FAIL)
        c->failures++;
    if (!c->report)
        return;
    apical_conf_result r = { c->kind, c->model, name, st, dev, tol, detail };
    c->report(c->user, &r);
}

static void skip(conf *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void skip(conf *c, const char *name, const char *fmt, ...)
{
    char buf[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit(c, name, APICAL_CONF_SKIP, NAN, NAN, buf);
}

/* The property's result: failed outright, beyond tol, or within it.  With
   info set the deviation is reported without a bound (a call that failed
   still fails). */
static void finish(conf *c, const char *name, const prop *p, double tol, int info,
                   const char *ok)
{
    double dev = p->dev < 0 ? NAN : p->dev;
    if (p->failed) {
        emit(c, name, APICAL_CONF_FAIL, dev, info ? NAN : tol, p->why);
        return;
    }
    if (p->dev < 0) {
        emit(c, name, info ? APICAL_CONF_INFO : APICAL_CONF_PASS, 0, info ? NAN : tol,
             "nothing to compare");
        return;
    }
    char buf[520];
    if (info) {
        snprintf(buf, sizeof buf, "largest at %s", p->where);
        emit(c, name, APICAL_CONF_INFO, dev, NAN, buf);
    } else if (p->dev > tol) {
        snprintf(buf, sizeof buf, "%s", p->where);
        emit(c, name, APICAL_CONF_FAIL, dev, tol, buf);
    } else {
        if (ok)
            snprintf(buf, sizeof buf, "%s", ok);
        else
            snprintf(buf, sizeof buf, "largest at %s", p->where);
        emit(c, name, APICAL_CONF_PASS, dev, tol, buf);
    }
}

/* A table property: the number of problems found (tolerance 0), and the
   first of them. */
typedef struct tally {
    int n;
    char first[480];
} tally;

static void problem(tally *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(tally *t, const char *fmt, ...)
{
    if (t->n++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->first, sizeof t->first, fmt, ap);
        va_end(ap);
    }
}

static void finish_tally(conf *c, const char *name, const tally *t, const char *ok)
{
    char buf[520];
    if (t->n > 1)
        snprintf(buf, sizeof buf, "%s (and %d more)", t->first, t->n - 1);
    else
        snprintf(buf, sizeof buf, "%s", t->n ? t->first : ok);
    emit(c, name, t->n ? APICAL_CONF_FAIL : APICAL_CONF_PASS, t->n, 0, buf);
}

/* ---- random numbers (splitmix64) --------------------------------------- */

static double unif(conf *c, double a, double b)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return a + (b - a) * ((double)(z >> 11) * 0x1.0p-53);
}

static void fill(conf *c, double *x, size_t n, double a, double b)
{
    for (size_t i = 0; i < n; i++)
        x[i] = unif(c, a, b);
}

static void set_all(double *x, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

/* ---- tables ------------------------------------------------------------ */

static size_t n_choices(const char *const *ch)
{
    size_t k = 0;
    while (ch[k] && k < MAX_COUNT)
        k++;
    return k;
}

/* A name the host can look up: non-empty, printable, no blanks. */
static const char *bad_name(const char *s)
{
    if (!s)
        return "NULL";
    if (!*s)
        return "empty";
    for (const unsigned char *q = (const unsigned char *)s; *q; q++)
        if (*q <= ' ' || *q == 0x7f)
            return "has a blank or control character";
    return NULL;
}

/* The names of one table, each taken from a row of `size` bytes whose
   first member is its name. */
static void check_names(tally *t, const char *what, const void *rows, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        const char *nm = *(const char *const *)((const char *)rows + i * size);
        const char *why = bad_name(nm);
        if (why) {
            problem(t, "%s %zu: name %s", what, i, why);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const char *other = *(const char *const *)((const char *)rows + j * size);
            if (other && strcmp(nm, other) == 0) {
                problem(t, "%s '%s' appears twice (rows %zu and %zu)", what, nm, j, i);
                break;
            }
        }
    }
}

static void check_params(tally *t, const apical_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *nm = p[i].name ? p[i].name : "?";
        if (isnan(p[i].min) || isnan(p[i].max) || p[i].min > p[i].max) {
            problem(t, "parameter '%s': bounds [%g, %g] are not a range", nm, p[i].min, p[i].max);
            continue;
        }
        if (!isfinite(p[i].def) || p[i].def < p[i].min || p[i].def > p[i].max)
            problem(t, "parameter '%s': default %g outside its bounds [%g, %g]", nm, p[i].def,
                    p[i].min, p[i].max);
        if (p[i].choices) {
            size_t k = n_choices(p[i].choices);
            if (k == 0)
                problem(t, "parameter '%s': an empty list of choices", nm);
            for (size_t j = 0; j < k; j++)
                if (bad_name(p[i].choices[j]))
                    problem(t, "parameter '%s': choice %zu is empty or has blanks", nm, j);
            if (k && (p[i].def != floor(p[i].def) || p[i].def < 0 || p[i].def >= (double)k))
                problem(t, "parameter '%s': default %g is not the index of one of its %zu "
                        "choices", nm, p[i].def, k);
        }
    }
}

/* A table of `count` rows: an array when count > 0, a plausible count. */
static int check_array(tally *t, const char *what, const void *a, size_t count)
{
    if (count > MAX_COUNT) {
        problem(t, "%s: implausible count %zu", what, count);
        return 0;
    }
    if (count && !a) {
        problem(t, "%s: NULL array for %zu entries", what, count);
        return 0;
    }
    return 1;
}

static void check_size(tally *t, size_t size, size_t min, size_t host)
{
    if (size < min)
        problem(t, "struct_size %zu is smaller than ABI 1.0's %zu bytes", size, min);
    else if (size > host + SIZE_SLACK)
        problem(t, "struct_size %zu is implausibly large (this host's descriptor has %zu bytes)",
                size, host);
}

static void check_defaults(conf *c, const apical_param *p, size_t n,
                           int (*check)(const double *, char *, size_t))
{
    if (!check) {
        skip(c, "check", "no check function");
        return;
    }
    double *v = calloc(n ? n : 1, sizeof *v);
    tally t = { 0, "" };
    char msg[256] = "";
    if (!v)
        problem(&t, "out of memory");
    else {
        for (size_t i = 0; i < n; i++)
            v[i] = p[i].def;
        int rc = check(v, msg, sizeof msg);
        if (rc != APICAL_OK)
            problem(&t, "check refuses the defaults (%d): %s", rc, msg);
    }
    free(v);
    finish_tally(c, "check", &t, "check accepts the defaults");
}

/* Parameter set `set`: 0 the defaults; 1 the lower bounds where finite; the
   others drawn at random: defaults scaled by 0.5 to 1.5, or, for a default
   of 0, values in [-1, 1] within the bounds; a choice parameter takes each
   choice in turn.  A set the check function refuses is drawn again (up to
   20 times; then the defaults). */
static void draw_params(conf *c, const apical_param *t, size_t n,
                        int (*check)(const double *, char *, size_t), unsigned set, double *p)
{
    for (size_t i = 0; i < n; i++)
        p[i] = t[i].def;
    if (set == 0)
        return;
    char msg[256];
    for (unsigned attempt = 0; attempt < 20; attempt++) {
        for (size_t i = 0; i < n; i++) {
            double lo = t[i].min, hi = t[i].max, v;
            if (t[i].choices) {
                size_t k = n_choices(t[i].choices);
                v = k ? (double)((set + attempt) % k) : t[i].def;
            } else if (set == 1 && attempt == 0 && isfinite(lo)) {
                v = lo;
            } else if (t[i].def != 0) {
                v = t[i].def * unif(c, 0.5, 1.5);
            } else {
                v = unif(c, fmax(lo, -1.0), fmin(hi, 1.0));
            }
            p[i] = v < lo ? lo : v > hi ? hi : v;
        }
        if (!check || check(p, msg, sizeof msg) == APICAL_OK)
            return;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = t[i].def;
}

/* ---- cell models -------------------------------------------------------- */

typedef struct cellchk {
    conf *c;
    const apical_cell_model *m;
    size_t ns, np, no;
    unsigned set;
    double *p;
    double *y, *in;                 /* ns x CELLS, np x CELLS */
    double *f0, *f1, *f2;           /* ns x CELLS */
    double *o0, *o1, *o2;           /* no x CELLS */
    double *dfdy, *dfdin, *dody;
    double *yp, *inp;               /* perturbed copies */
    /* the row-slice check: padded copies (ld = CELLS + PAD) */
    double *py, *pin, *pout;
    uint8_t *need;
} cellchk;

static apical_cell_ctx cell_ctx(const cellchk *k, size_t n, const double *y, const double *in,
                                const uint8_t *need, size_t ld)
{
    apical_cell_ctx x = { sizeof x, n, k->p, y, in, need, ld };
    return x;
}

/* Both stages of observe into o. */
static int observe_all(const cellchk *k, const apical_cell_ctx *x, double *o)
{
    int rc = k->m->observe(x, APICAL_OBS_STATE, o);
    return rc != APICAL_OK ? rc : k->m->observe(x, APICAL_OBS_PORTS, o);
}

static const char *state_name(const cellchk *k, size_t a)
{
    return k->m->state[a].name ? k->m->state[a].name : "?";
}

static const char *port_name(const cellchk *k, size_t q)
{
    return k->m->ports[q].name ? k->m->ports[q].name : "?";
}

static const char *obs_name(const cellchk *k, size_t o)
{
    return k->m->obs[o].name ? k->m->obs[o].name : "?";
}

/* rhs and observe at a random state: they succeed and give finite values. */
static void cell_finite(cellchk *k, prop *prhs, prop *pobs)
{
    const size_t n = CELLS;
    apical_cell_ctx x = cell_ctx(k, n, k->y, k->in, NULL, 0);
    int rc = k->m->rhs(&x, k->f0);
    if (rc != APICAL_OK)
        prop_fail(prhs, "rhs returned %d at parameter set %u", rc, k->set);
    else
        for (size_t i = 0; i < k->ns * n; i++)
            prop_dev(prhs, isfinite(k->f0[i]) ? 0 : NAN, "d%s/dt of cell %zu, parameter set %u",
                     state_name(k, i / n), i % n, k->set);
    set_all(k->o0, k->no * n, 0);
    rc = observe_all(k, &x, k->o0);
    if (rc != APICAL_OK)
        prop_fail(pobs, "observe returned %d at parameter set %u", rc, k->set);
    else
        for (size_t i = 0; i < k->no * n; i++)
            prop_dev(pobs, isfinite(k->o0[i]) ? 0 : NAN, "observable '%s' of cell %zu, "
                     "parameter set %u", obs_name(k, i / n), i % n, k->set);
}

/* Perturb row r of x (CELLS values) into xp, by +h (sign 1) or -h; returns
   nothing: the step taken per cell is read back as xp - x. */
static void perturb(const double *x, double *xp, size_t rows, size_t r, double sign)
{
    memcpy(xp, x, rows * CELLS * sizeof *xp);
    for (size_t i = 0; i < CELLS; i++) {
        double v = x[r * CELLS + i];
        xp[r * CELLS + i] = v + sign * 1e-5 * fmax(1.0, fabs(v));
    }
}

static double rel_dev(double got, double want)
{
    return fabs(got - want) / fmax(1.0, fabs(want));
}

/* The Jacobian blocks against central differences of rhs and observe. */
static void cell_jacobian(cellchk *k, prop *py, prop *pin, prop *po)
{
    const apical_cell_model *m = k->m;
    const size_t n = CELLS, ns = k->ns, np = k->np, no = k->no;
    set_all(k->dfdy, ns * ns * n, 0);
    set_all(k->dfdin, ns * np * n, 0);
    set_all(k->dody, no * ns * n, 0);
    apical_cell_ctx x = cell_ctx(k, n, k->y, k->in, NULL, 0);
    int rc = m->jacobian(&x, k->dfdy, k->dfdin, k->dody);
    if (rc != APICAL_OK) {
        prop_fail(py, "jacobian returned %d at parameter set %u", rc, k->set);
        prop_fail(pin, "jacobian returned %d at parameter set %u", rc, k->set);
        prop_fail(po, "jacobian returned %d at parameter set %u", rc, k->set);
        return;
    }
    for (size_t b = 0; b < ns; b++) {
        perturb(k->y, k->yp, ns, b, 1);
        apical_cell_ctx xp = cell_ctx(k, n, k->yp, k->in, NULL, 0);
        int r1 = m->rhs(&xp, k->f1), s1 = m->observe(&xp, APICAL_OBS_STATE, k->o1);
        double *ym = k->py; /* scratch of the right size */
        perturb(k->y, ym, ns, b, -1);
        apical_cell_ctx xm = cell_ctx(k, n, ym, k->in, NULL, 0);
        int r2 = m->rhs(&xm, k->f2), s2 = m->observe(&xm, APICAL_OBS_STATE, k->o2);
        if (r1 != APICAL_OK || r2 != APICAL_OK) {
            prop_fail(py, "rhs failed (%d) at a perturbed state", r1 ? r1 : r2);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            double h = k->yp[b * n + i] - ym[b * n + i];
            for (size_t a = 0; a < ns; a++) {
                double fd = (k->f1[a * n + i] - k->f2[a * n + i]) / h,
                       j = k->dfdy[(a * ns + b) * n + i];
                prop_dev(py, rel_dev(j, fd), "dfdy: d(d%s/dt)/d(%s) of cell %zu, parameter set "
                         "%u: module %.9g, finite differences %.9g", state_name(k, a),
                         state_name(k, b), i, k->set, j, fd);
            }
            if (s1 != APICAL_OK || s2 != APICAL_OK)
                continue;
            for (size_t o = 0; o < no; o++) {
                if (m->obs[o].stage != APICAL_OBS_STATE)
                    continue;
                double fd = (k->o1[o * n + i] - k->o2[o * n + i]) / h,
                       j = k->dody[(o * ns + b) * n + i];
                prop_dev(po, rel_dev(j, fd), "dody: d(%s)/d(%s) of cell %zu, parameter set %u: "
                         "module %.9g, finite differences %.9g", obs_name(k, o),
                         state_name(k, b), i, k->set, j, fd);
            }
        }
        if (s1 != APICAL_OK || s2 != APICAL_OK)
            prop_fail(po, "observe failed (%d) at a perturbed state", s1 ? s1 : s2);
    }
    for (size_t q = 0; q < np; q++) {
        perturb(k->in, k->inp, np, q, 1);
        apical_cell_ctx xp = cell_ctx(k, n, k->y, k->inp, NULL, 0);
        int r1 = m->rhs(&xp, k->f1);
        double *inm = k->pin;
        perturb(k->in, inm, np, q, -1);
        apical_cell_ctx xm = cell_ctx(k, n, k->y, inm, NULL, 0);
        int r2 = m->rhs(&xm, k->f2);
        if (r1 != APICAL_OK || r2 != APICAL_OK) {
            prop_fail(pin, "rhs failed (%d) at perturbed ports", r1 ? r1 : r2);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            double h = k->inp[q * n + i] - inm[q * n + i];
            for (size_t a = 0; a < ns; a++) {
                double fd = (k->f1[a * n + i] - k->f2[a * n + i]) / h,
                       j = k->dfdin[(a * np + q) * n + i];
                prop_dev(pin, rel_dev(j, fd), "dfdin: d(d%s/dt)/d(%s) of cell %zu, parameter "
                         "set %u: module %.9g, finite differences %.9g", state_name(k, a),
                         port_name(k, q), i, k->set, j, fd);
            }
        }
    }
}

/* jacobian_obs' blocks against central differences of the port-stage
   observables (both stages observed, as a host does). */
static void cell_jacobian_obs(cellchk *k, prop *py, prop *pin)
{
    const apical_cell_model *m = k->m;
    const size_t n = CELLS, ns = k->ns, np = k->np, no = k->no;
    double *dody = calloc(no * ns * n + 1, sizeof *dody),
           *dodin = calloc(no * np * n + 1, sizeof *dodin);
    if (!dody || !dodin) {
        prop_fail(py, "out of memory");
        prop_fail(pin, "out of memory");
        free(dody);
        free(dodin);
        return;
    }
    apical_cell_ctx x = cell_ctx(k, n, k->y, k->in, NULL, 0);
    int rc = APICAL_CELL_JACOBIAN_OBS(m)(&x, dody, dodin);
    if (rc != APICAL_OK) {
        prop_fail(py, "jacobian_obs returned %d at parameter set %u", rc, k->set);
        prop_fail(pin, "jacobian_obs returned %d at parameter set %u", rc, k->set);
        free(dody);
        free(dodin);
        return;
    }
    for (int part = 0; part < 2; part++) { /* 0: state rows, 1: port rows */
        const size_t rows = part ? np : ns;
        prop *pp = part ? pin : py;
        double *base = part ? k->in : k->y, *plus = part ? k->inp : k->yp,
               *minus = part ? k->pin : k->py; /* scratch of the right size */
        for (size_t b = 0; b < rows; b++) {
            perturb(base, plus, rows, b, 1);
            perturb(base, minus, rows, b, -1);
            apical_cell_ctx xp = cell_ctx(k, n, part ? k->y : plus, part ? plus : k->in, NULL, 0);
            apical_cell_ctx xm = cell_ctx(k, n, part ? k->y : minus, part ? minus : k->in, NULL,
                                          0);
            set_all(k->o1, no * n, 0);
            set_all(k->o2, no * n, 0);
            int s1 = observe_all(k, &xp, k->o1), s2 = observe_all(k, &xm, k->o2);
            if (s1 != APICAL_OK || s2 != APICAL_OK) {
                prop_fail(pp, "observe failed (%d) at a perturbed %s", s1 ? s1 : s2,
                          part ? "port" : "state");
                continue;
            }
            for (size_t i = 0; i < n; i++) {
                const double h = plus[b * n + i] - minus[b * n + i];
                for (size_t o = 0; o < no; o++) {
                    if (m->obs[o].stage == APICAL_OBS_STATE)
                        continue;
                    const double fd = (k->o1[o * n + i] - k->o2[o * n + i]) / h,
                                 j = part ? dodin[(o * np + b) * n + i]
                                          : dody[(o * ns + b) * n + i];
                    prop_dev(pp, rel_dev(j, fd), "%s: d(%s)/d(%s) of cell %zu, parameter set "
                             "%u: module %.9g, finite differences %.9g",
                             part ? "dodin" : "dody", obs_name(k, o),
                             part ? port_name(k, b) : state_name(k, b), i, k->set, j, fd);
                }
            }
        }
    }
    free(dody);
    free(dodin);
}

static void finish_jacobian_obs(conf *c, const apical_cell_model *m, int has_port_obs,
                                const prop *p)
{
    static const char *const names[2] = { "jacobian_obs.dody", "jacobian_obs.dodin" };
    for (int i = 0; i < 2; i++)
        if (!APICAL_CELL_JACOBIAN_OBS(m))
            skip(c, names[i], "no jacobian_obs function (a host takes finite differences where "
                 "a port-stage observable feeds a projection)");
        else if (!has_port_obs)
            skip(c, names[i], "no port-stage observables");
        else
            finish(c, names[i], &p[i], TOL_JACOBIAN, 0, NULL);
}

static const uint32_t steady_flags[4] = { 0, APICAL_STEADY_UP, APICAL_STEADY_LITERAL,
                                          APICAL_STEADY_UP | APICAL_STEADY_LITERAL };
static const char *const steady_names[4] = { "steady.root", "steady.up", "steady.literal",
                                             "steady.up+literal" };

/* steady with each set of flags, then rhs there: |rhs| scaled by the size of
   the cell's state and ports. */
static void cell_steady(cellchk *k, prop *ps)
{
    const size_t n = CELLS, ns = k->ns, np = k->np;
    for (int f = 0; f < 4; f++) {
        double *y = k->yp;
        memcpy(y, k->y, ns * n * sizeof *y); /* in place, from the current state, as hosts call it */
        apical_cell_ctx x = cell_ctx(k, n, y, k->in, NULL, 0);
        int rc = APICAL_CELL_STEADY(k->m)(&x, steady_flags[f], y);
        if (rc != APICAL_OK) {
            prop_fail(&ps[f], "steady returned %d at parameter set %u", rc, k->set);
            continue;
        }
        rc = k->m->rhs(&x, k->f1);
        if (rc != APICAL_OK) {
            prop_fail(&ps[f], "rhs returned %d at the steady state", rc);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            double scale = 1, res = 0;
            size_t worst = 0;
            for (size_t a = 0; a < ns; a++)
                scale = fmax(scale, 1 + fabs(y[a * n + i]));
            for (size_t q = 0; q < np; q++)
                scale = fmax(scale, 1 + fabs(k->in[q * n + i]));
            for (size_t a = 0; a < ns; a++)
                if (!(fabs(k->f1[a * n + i]) <= res)) {
                    res = fabs(k->f1[a * n + i]);
                    worst = a;
                }
            if (ns)
                prop_dev(&ps[f], res / scale, "cell %zu, parameter set %u: d%s/dt = %.9g at "
                         "%s = %.9g", i, k->set, state_name(k, worst), k->f1[worst * n + i],
                         state_name(k, worst), y[worst * n + i]);
        }
    }
}

/* ABI 1.4: each port's attenuation against the slope of the upward steady
   form (teaching and nudging off) with only that port fed: steady(in_q =
   1) - steady(in = 0) for a one-state cell.  *tested: ports with one. */
static void cell_attenuation(cellchk *k, prop *p, size_t *tested)
{
    const size_t n = CELLS, np = k->np;
    int (*att)(const double *, size_t, double *) = APICAL_CELL_ATTENUATION(k->m);
    for (size_t q = 0; q < np; q++) {
        double a;
        if (att(k->p, q, &a) != APICAL_OK)
            continue; /* no attenuation for this port (a teaching port, say) */
        (*tested)++;
        double *y0 = k->yp, *y1 = k->f2;
        memset(k->inp, 0, np * n * sizeof *k->inp);
        memset(y0, 0, n * sizeof *y0);
        apical_cell_ctx x = cell_ctx(k, n, y0, k->inp, NULL, 0);
        int rc = APICAL_CELL_STEADY(k->m)(&x, APICAL_STEADY_UP, y0);
        for (size_t i = 0; i < n; i++)
            k->inp[q * n + i] = 1.0;
        memset(y1, 0, n * sizeof *y1);
        x = cell_ctx(k, n, y1, k->inp, NULL, 0);
        if (rc == APICAL_OK)
            rc = APICAL_CELL_STEADY(k->m)(&x, APICAL_STEADY_UP, y1);
        if (rc != APICAL_OK) {
            prop_fail(p, "steady returned %d at parameter set %u", rc, k->set);
            return;
        }
        for (size_t i = 0; i < n; i++)
            prop_dev(p, fabs(a - (y1[i] - y0[i])) / fmax(1.0, fabs(a)),
                     "port %s, parameter set %u: attenuation %.9g, slope of steady %.9g",
                     port_name(k, q), k->set, a, y1[i] - y0[i]);
    }
}

/* ABI 1.4: the roles table names ports and observables the cell has, each
   role at most once (runner/roles.c's reading of it). */
static void cell_roles(conf *c, const apical_cell_model *m)
{
    if (!APICAL_CELL_HAS_ROLES(m)) {
        skip(c, "roles", "no roles table: hosts read the paper's names");
        return;
    }
    size_t role[APICAL_ROLE_COUNT];
    char why[480];
    tally t = { 0, "" };
    if (apical_roles_resolve(m, role, why, sizeof why))
        problem(&t, "%s", why);
    finish_tally(c, "roles", &t, "every entry names a port or observable of the cell, once");
}

/* Rows `rows` of a whole call (row length CELLS) against the same rows
   assembled from slices in padded buffers (row length CELLS + PAD); the
   padding must still hold the sentinel. */
static void compare_rows(prop *p, const cellchk *k, const char *fn, const char *block,
                         const double *whole, const double *pad, size_t rows,
                         const uint8_t *skip_row)
{
    const size_t n = CELLS, ld = CELLS + PAD;
    for (size_t r = 0; r < rows; r++) {
        if (skip_row && skip_row[r])
            continue;
        for (size_t i = 0; i < n; i++)
            prop_dev(p, rel_dev(pad[r * ld + i], whole[r * n + i]), "%s: %s row %zu, cell %zu "
                     "(slices [0, %d) and [%d, %d), ld %d), parameter set %u: sliced %.17g, "
                     "whole %.17g", fn, block, r, i, CUT, CUT, CELLS, CELLS + PAD, k->set,
                     pad[r * ld + i], whole[r * n + i]);
        for (size_t i = n; i < ld; i++)
            if (pad[r * ld + i] != SENTINEL)
                prop_fail(p, "%s wrote %s row %zu at column %zu, beyond the %d cells of the "
                          "population (ld %d)", fn, block, r, i, CELLS, CELLS + PAD);
    }
}

/* Copy rows of CELLS values into rows ld = CELLS + PAD apart, padding with
   NaN (which a module reading rows at the wrong distance picks up). */
static void to_padded(const double *x, double *px, size_t rows)
{
    const size_t n = CELLS, ld = CELLS + PAD;
    for (size_t r = 0; r < rows; r++) {
        memcpy(px + r * ld, x + r * n, n * sizeof *x);
        for (size_t i = n; i < ld; i++)
            px[r * ld + i] = NAN;
    }
}

enum { LD_RHS, LD_OBSERVE, LD_JACOBIAN, LD_STEADY, N_LD };
static const char *const ld_names[N_LD] = { "ld.rhs", "ld.observe", "ld.jacobian",
                                            "ld.steady" };

/* Call fn on the two slices of the padded buffers: out rows `rows` long. */
typedef int (*slice_fn)(const cellchk *k, const apical_cell_ctx *x, size_t off, void *arg);

static int on_slices(cellchk *k, slice_fn fn, void *arg)
{
    const size_t ld = CELLS + PAD;
    const size_t cut[3] = { 0, CUT, CELLS };
    for (int s = 0; s < 2; s++) {
        size_t a = cut[s];
        apical_cell_ctx x = cell_ctx(k, cut[s + 1] - a, k->py + a, k->pin + a, NULL, ld);
        int rc = fn(k, &x, a, arg);
        if (rc != APICAL_OK)
            return rc;
    }
    return APICAL_OK;
}

static int slice_rhs(const cellchk *k, const apical_cell_ctx *x, size_t off, void *arg)
{
    (void)arg;
    return k->m->rhs(x, k->pout + off);
}

static int slice_observe(const cellchk *k, const apical_cell_ctx *x, size_t off, void *arg)
{
    (void)arg;
    return observe_all(k, x, k->pout + off);
}

/* The Jacobian's three blocks in one padded buffer, one after another. */
static int slice_jacobian(const cellchk *k, const apical_cell_ctx *x, size_t off, void *arg)
{
    (void)arg;
    const size_t ld = CELLS + PAD, ns = k->ns;
    double *b0 = k->pout, *b1 = b0 + ns * ns * ld, *b2 = b1 + ns * k->np * ld;
    return k->m->jacobian(x, b0 + off, b1 + off, b2 + off);
}

static int slice_steady(const cellchk *k, const apical_cell_ctx *x, size_t off, void *arg)
{
    const uint32_t flags = *(const uint32_t *)arg;
    (void)off;
    /* in place, as the hosts call it: x->y is the padded state slice */
    return APICAL_CELL_STEADY(k->m)(x, flags, (double *)x->y);
}

/* Every function on two slices of padded rows against one whole call. */
static void cell_ld(cellchk *k, prop *p)
{
    const apical_cell_model *m = k->m;
    const size_t n = CELLS, ld = CELLS + PAD, ns = k->ns, np = k->np, no = k->no;
    const size_t out_rows = ns * ns + ns * np + no * ns + ns + no + 1;
    apical_cell_ctx x = cell_ctx(k, n, k->y, k->in, NULL, 0);
    int rc;

    to_padded(k->y, k->py, ns);
    to_padded(k->in, k->pin, np);
    set_all(k->pout, out_rows * ld, SENTINEL);
    if ((rc = m->rhs(&x, k->f0)) != APICAL_OK || (rc = on_slices(k, slice_rhs, NULL)))
        prop_fail(&p[LD_RHS], "rhs returned %d at parameter set %u", rc, k->set);
    else
        compare_rows(&p[LD_RHS], k, "rhs", "dydt", k->f0, k->pout, ns, NULL);

    set_all(k->o0, no * n, 0);
    set_all(k->pout, out_rows * ld, SENTINEL);
    for (size_t r = 0; r < no; r++) /* rows a call leaves alone hold the same in both */
        for (size_t i = 0; i < n; i++)
            k->pout[r * ld + i] = 0;
    if ((rc = observe_all(k, &x, k->o0)) != APICAL_OK ||
        (rc = on_slices(k, slice_observe, NULL)))
        prop_fail(&p[LD_OBSERVE], "observe returned %d at parameter set %u", rc, k->set);
    else
        compare_rows(&p[LD_OBSERVE], k, "observe", "obs", k->o0, k->pout, no, NULL);

    if (m->jacobian) {
        double *w = k->dfdy; /* dfdy, dfdin, dody are one allocation */
        set_all(w, (ns * ns + ns * np + no * ns) * n, 0);
        set_all(k->pout, out_rows * ld, SENTINEL);
        for (size_t r = 0; r < ns * ns + ns * np + no * ns; r++)
            for (size_t i = 0; i < n; i++)
                k->pout[r * ld + i] = 0;
        uint8_t *port_rows = k->need; /* dody rows of port-stage observables: not compared */
        size_t nr = ns * ns + ns * np + no * ns;
        memset(port_rows, 0, nr);
        for (size_t o = 0; o < no; o++)
            if (m->obs[o].stage != APICAL_OBS_STATE)
                memset(port_rows + ns * ns + ns * np + o * ns, 1, ns);
        if ((rc = m->jacobian(&x, w, w + ns * ns * n, w + (ns * ns + ns * np) * n)) != APICAL_OK ||
            (rc = on_slices(k, slice_jacobian, NULL)))
            prop_fail(&p[LD_JACOBIAN], "jacobian returned %d at parameter set %u", rc, k->set);
        else
            compare_rows(&p[LD_JACOBIAN], k, "jacobian", "dfdy|dfdin|dody", w, k->pout, nr,
                         port_rows);
    }

    if (APICAL_CELL_STEADY(m)) {
        for (int f = 0; f < 4; f++) {
            uint32_t flags = steady_flags[f];
            memcpy(k->yp, k->y, ns * n * sizeof *k->yp);
            to_padded(k->y, k->py, ns);
            for (size_t r = 0; r < ns; r++)
                for (size_t i = n; i < ld; i++)
                    k->py[r * ld + i] = SENTINEL;
            apical_cell_ctx xw = cell_ctx(k, n, k->yp, k->in, NULL, 0);
            if ((rc = APICAL_CELL_STEADY(m)(&xw, flags, k->yp)) != APICAL_OK ||
                (rc = on_slices(k, slice_steady, &flags))) {
                prop_fail(&p[LD_STEADY], "steady (flags %u) returned %d at parameter set %u",
                          flags, rc, k->set);
                break;
            }
            compare_rows(&p[LD_STEADY], k, steady_names[f], "y", k->yp, k->py, ns, NULL);
        }
        to_padded(k->y, k->py, ns);
    }
}

/* observe with an observable left out (need 0) against a call that needs
   everything: the rows still needed are the same.  As the host does,
   state-stage observables are always needed; each port-stage one is left
   out in turn, and then needed alone. */
static void cell_need(cellchk *k, prop *p)
{
    const apical_cell_model *m = k->m;
    const size_t n = CELLS, no = k->no;
    apical_cell_ctx x = cell_ctx(k, n, k->y, k->in, NULL, 0);
    set_all(k->o0, no * n, 0);
    int rc = observe_all(k, &x, k->o0);
    if (rc != APICAL_OK) {
        prop_fail(p, "observe returned %d at parameter set %u", rc, k->set);
        return;
    }
    for (int alone = 0; alone < 2; alone++)
        for (size_t o = 0; o < no; o++) {
            if (m->obs[o].stage == APICAL_OBS_STATE)
                continue;
            for (size_t j = 0; j < no; j++)
                k->need[j] = m->obs[j].stage == APICAL_OBS_STATE || (alone ? j == o : j != o);
            set_all(k->o1, no * n, 0);
            apical_cell_ctx xn = cell_ctx(k, n, k->y, k->in, k->need, 0);
            rc = observe_all(k, &xn, k->o1);
            if (rc != APICAL_OK) {
                prop_fail(p, "observe returned %d with '%s' %s", rc, obs_name(k, o),
                          alone ? "needed alone" : "not needed");
                continue;
            }
            for (size_t j = 0; j < no; j++) {
                if (!k->need[j])
                    continue;
                for (size_t i = 0; i < n; i++)
                    prop_dev(p, rel_dev(k->o1[j * n + i], k->o0[j * n + i]), "'%s' of cell "
                             "%zu with '%s' %s, parameter set %u: %.17g, with everything "
                             "needed %.17g", obs_name(k, j), i, obs_name(k, o),
                             alone ? "needed alone" : "not needed", k->set, k->o1[j * n + i],
                             k->o0[j * n + i]);
            }
        }
}

static int cell_tables(conf *c, const apical_cell_model *m)
{
    tally t = { 0, "" };
    check_size(&t, m->struct_size, APICAL_CELL_MIN_SIZE_V1, sizeof(apical_cell_model));
    if (bad_name(m->name))
        problem(&t, "model name %s", bad_name(m->name));
    if (!m->version || !*m->version)
        problem(&t, "no version");
    if (!m->rhs || !m->observe)
        problem(&t, "no %s function", m->rhs ? "observe" : "rhs");
    int ok = t.n == 0;
    if (check_array(&t, "params", m->params, m->n_params)) {
        check_names(&t, "parameter", m->params, m->n_params, sizeof *m->params);
        check_params(&t, m->params, m->n_params);
    } else {
        ok = 0;
    }
    if (check_array(&t, "state", m->state, m->n_state))
        check_names(&t, "state variable", m->state, m->n_state, sizeof *m->state);
    else
        ok = 0;
    if (check_array(&t, "ports", m->ports, m->n_ports))
        check_names(&t, "port", m->ports, m->n_ports, sizeof *m->ports);
    else
        ok = 0;
    if (check_array(&t, "obs", m->obs, m->n_obs)) {
        check_names(&t, "observable", m->obs, m->n_obs, sizeof *m->obs);
        for (size_t o = 0; o < m->n_obs; o++)
            if (m->obs[o].stage != APICAL_OBS_STATE && m->obs[o].stage != APICAL_OBS_PORTS) {
                problem(&t, "observable %zu: stage %u is neither APICAL_OBS_STATE nor "
                        "APICAL_OBS_PORTS", o, m->obs[o].stage);
                ok = 0;
            }
    } else {
        ok = 0;
    }
    finish_tally(c, "tables", &t, "names, arrays, defaults and struct_size well formed");
    return ok;
}

static void cell_skip_all(conf *c, const char *why)
{
    static const char *const names[] = { "rhs", "observe", "jacobian.dfdy", "jacobian.dfdin",
                                         "jacobian.dody", "steady.root", "steady.up",
                                         "steady.literal", "steady.up+literal", "ld.rhs",
                                         "ld.observe", "ld.jacobian", "ld.steady", "need",
                                         "roles", "attenuation", "jacobian_obs.dody",
                                         "jacobian_obs.dodin" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        skip(c, names[i], "%s", why);
}

static double *cell_alloc(double **all, size_t *used, size_t n)
{
    double *p = *all + *used;
    *used += n ? n : 1;
    return p;
}

/* the properties measured over the parameter sets, one record per report */
typedef struct cellprops {
    prop rhs, obs, jac[3], steady[4], ld[N_LD], need, att, jobs[2];
    size_t att_ports;
    int has_att, has_ld, has_port_obs;
} cellprops;

/* k's arrays carved from one block; *all and *need to be freed by the caller */
static int cell_buffers(cellchk *k, double **all, uint8_t **need)
{
    const size_t n = CELLS, ld = CELLS + PAD, ns = k->ns, np = k->np, no = k->no;
    const size_t out_rows = ns * ns + ns * np + no * ns + ns + no + 1;
    size_t total = (k->m->n_params + 1) + 5 * (ns + 1) * n + 2 * (np + 1) * n +
                   3 * (no + 1) * n + (ns * ns + ns * np + no * ns + 3) * n +
                   (ns + np + 2) * ld + out_rows * ld + 16;
    *all = malloc(total * sizeof **all);
    *need = malloc(ns * ns + ns * np + no * ns + no + 1);
    if (!*all || !*need)
        return -1;
    size_t used = 0;
    k->need = *need;
    k->p = cell_alloc(all, &used, k->m->n_params);
    k->y = cell_alloc(all, &used, ns * n);
    k->yp = cell_alloc(all, &used, ns * n);
    k->f0 = cell_alloc(all, &used, ns * n);
    k->f1 = cell_alloc(all, &used, ns * n);
    k->f2 = cell_alloc(all, &used, ns * n);
    k->in = cell_alloc(all, &used, np * n);
    k->inp = cell_alloc(all, &used, np * n);
    k->o0 = cell_alloc(all, &used, no * n);
    k->o1 = cell_alloc(all, &used, no * n);
    k->o2 = cell_alloc(all, &used, no * n);
    k->dfdy = cell_alloc(all, &used, (ns * ns + ns * np + no * ns) * n);
    k->dfdin = k->dfdy + ns * ns * n;
    k->dody = k->dfdin + ns * np * n;
    k->py = cell_alloc(all, &used, (ns > 0 ? ns : 1) * ld);
    k->pin = cell_alloc(all, &used, (np > 0 ? np : 1) * ld);
    k->pout = cell_alloc(all, &used, out_rows * ld);
    return 0;
}

/* every property measured at each parameter set, at random states and inputs */
static void cell_measure(cellchk *k, cellprops *r)
{
    const apical_cell_model *m = k->m;
    const size_t n = CELLS;
    prop *all[] = { &r->rhs, &r->obs, &r->need, &r->att, &r->jobs[0], &r->jobs[1] };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        prop_init(all[i]);
    for (int i = 0; i < 3; i++)
        prop_init(&r->jac[i]);
    for (int i = 0; i < 4; i++)
        prop_init(&r->steady[i]);
    for (int i = 0; i < N_LD; i++)
        prop_init(&r->ld[i]);
    r->att_ports = 0;
    r->has_att = APICAL_CELL_ATTENUATION(m) && APICAL_CELL_STEADY(m) && k->ns == 1;
    r->has_ld = (APICAL_CELL_FLAGS(m) & APICAL_CELL_LD) != 0;
    r->has_port_obs = 0;
    for (size_t o = 0; o < k->no; o++)
        r->has_port_obs |= m->obs[o].stage != APICAL_OBS_STATE;

    for (unsigned set = 0; set < k->c->sets; set++) {
        k->set = set;
        draw_params(k->c, m->params, m->n_params, m->check, set, k->p);
        fill(k->c, k->y, k->ns * n, -2, 2);
        fill(k->c, k->in, k->np * n, -2, 2);
        cell_finite(k, &r->rhs, &r->obs);
        if (m->jacobian)
            cell_jacobian(k, &r->jac[0], &r->jac[1], &r->jac[2]);
        if (APICAL_CELL_JACOBIAN_OBS(m) && r->has_port_obs)
            cell_jacobian_obs(k, &r->jobs[0], &r->jobs[1]);
        if (APICAL_CELL_STEADY(m))
            cell_steady(k, r->steady);
        if (r->has_ld)
            cell_ld(k, r->ld);
        if (r->has_port_obs)
            cell_need(k, &r->need);
        if (r->has_att)
            cell_attenuation(k, &r->att, &r->att_ports);
    }
}

/* one report per property: its result, or why it was not measured */
static void cell_report(conf *c, const apical_cell_model *m, cellprops *r)
{
    finish(c, "rhs", &r->rhs, 0, 0, "finite at every state and parameter set tried");
    finish(c, "observe", &r->obs, 0, 0, "finite at every state and parameter set tried");
    static const char *const jn[3] = { "jacobian.dfdy", "jacobian.dfdin", "jacobian.dody" };
    for (int i = 0; i < 3; i++)
        if (m->jacobian)
            finish(c, jn[i], &r->jac[i], TOL_JACOBIAN, 0, NULL);
        else
            skip(c, jn[i], "no jacobian function (the host takes finite differences)");
    for (int f = 0; f < 4; f++)
        if (!APICAL_CELL_STEADY(m))
            skip(c, steady_names[f], m->struct_size < offsetof(apical_cell_model, steady) +
                 sizeof(void (*)(void)) ? "an ABI 1.0/1.1 descriptor: no steady"
                                        : "no steady function");
        else if (f == 0)
            finish(c, steady_names[f], &r->steady[f], TOL_ROOT, 0, NULL);
        else /* the upward and literal forms may leave out a port or the leak */
            finish(c, steady_names[f], &r->steady[f], NAN, 1, NULL);
    for (int i = 0; i < N_LD; i++)
        if (!r->has_ld)
            skip(c, ld_names[i], "%s", m->struct_size < offsetof(apical_cell_model, flags) +
                 sizeof(uint32_t) ? "an ABI 1.0-1.2 descriptor: no row distance"
                                  : "not flagged APICAL_CELL_LD");
        else if (i == LD_JACOBIAN && !m->jacobian)
            skip(c, ld_names[i], "no jacobian function");
        else if (i == LD_STEADY && !APICAL_CELL_STEADY(m))
            skip(c, ld_names[i], "no steady function");
        else
            finish(c, ld_names[i], &r->ld[i], TOL_SAME, 0, NULL);
    if (r->has_port_obs)
        finish(c, "need", &r->need, TOL_SAME, 0, NULL);
    else
        skip(c, "need", "no port-stage observables to leave out");
    finish_jacobian_obs(c, m, r->has_port_obs, r->jobs);
    cell_roles(c, m);
    if (!APICAL_CELL_ATTENUATION(m))
        skip(c, "attenuation", "no attenuation function (hosts take the Jacobian at rest)");
    else if (!r->has_att)
        skip(c, "attenuation", "measured only for one-state cells with a steady function");
    else if (!r->att_ports)
        skip(c, "attenuation", "no port has one");
    else
        finish(c, "attenuation", &r->att, TOL_ROOT, 0, NULL);
}

int apical_conformance_cell(const apical_cell_model *m, const apical_conf_options *opt,
                            apical_conf_fn report, void *user, char *err, size_t errcap)
{
    conf c = { "cell", m && m->name ? m->name : "?", report, user, 0,
               opt && opt->seed ? opt->seed : 1, 1 + (opt && opt->trials ? opt->trials : 4) };
    if (!m || m->struct_size < APICAL_CELL_MIN_SIZE_V1) {
        tally t = { 0, "" };
        if (m)
            problem(&t, "struct_size %zu is smaller than ABI 1.0's %zu bytes", m->struct_size,
                    (size_t)APICAL_CELL_MIN_SIZE_V1);
        else
            problem(&t, "no descriptor");
        finish_tally(&c, "tables", &t, "");
        skip(&c, "check", "the descriptor is unreadable");
        cell_skip_all(&c, "the descriptor is unreadable");
        return c.failures;
    }
    if (!cell_tables(&c, m) || !m->rhs || !m->observe) {
        skip(&c, "check", "the tables are not well formed");
        cell_skip_all(&c, "the tables are not well formed");
        return c.failures;
    }
    check_defaults(&c, m->params, m->n_params, m->check);

    cellchk k;
    memset(&k, 0, sizeof k);
    k.c = &c;
    k.m = m;
    k.ns = m->n_state;
    k.np = m->n_ports;
    k.no = m->n_obs;
    double *all = NULL;
    uint8_t *need = NULL;
    if (cell_buffers(&k, &all, &need) != 0) {
        free(all);
        free(need);
        snprintf(err, errcap, "out of memory checking cell model %s", c.model);
        return -1;
    }
    cellprops r;
    cell_measure(&k, &r);
    cell_report(&c, m, &r);
    free(all);
    free(need);
    return c.failures;
}

/* ---- rules ------------------------------------------------------------ */

typedef struct rulechk {
    conf *c;
    const apical_rule *u;
    unsigned set;
    size_t na;                      /* n_aux */
    double *p;
    double *post, *pre;             /* K x POST, K x PRE */
    double *w0, *a0;                /* the weights and aux before a step */
    double *w1, *a1, *w2, *a2;      /* results */
    double *dw, *da;
    double *scratch;                /* 2 K POST */
    float *wf, *af, *pref;
    uint32_t *pre2;                 /* (K + 1) / 2 x PRE: pre as bfloat16 pairs of steps */
} rulechk;

static apical_rule_ctx rule_ctx(const rulechk *k, size_t step)
{
    apical_rule_ctx x = { sizeof x, POST, PRE, k->p, k->post + step * POST, k->pre + step * PRE };
    return x;
}

/* Largest |got - want| over the matrix, relative to its largest entry (or
   that of `before`, whichever is larger); with by_change, relative to the
   largest change |want - before| instead (or 1 where nothing changed). */
static void compare_mat(prop *p, const rulechk *k, const char *what, const double *got,
                        const double *want, const double *before, size_t count, int by_change)
{
    double scale = 0;
    for (size_t i = 0; i < count; i++)
        scale = fmax(scale, by_change ? fabs(want[i] - before[i])
                                      : fmax(fabs(want[i]), fabs(before[i])));
    if (!(scale > 0))
        scale = 1;
    for (size_t i = 0; i < count; i++)
        prop_dev(p, fabs(got[i] - want[i]) / scale, "%s [%zu][%zu], parameter set %u: %.17g, "
                 "expected %.17g (largest %s %.3g)", what, i / PRE % POST, i % PRE, k->set,
                 got[i], want[i], by_change ? "change" : "entry", scale);
}

/* One forward-Euler step through dwdt, in place. */
static int dwdt_step(const rulechk *k, size_t step, double dt, double *w, double *aux)
{
    apical_rule_ctx x = rule_ctx(k, step);
    int rc = k->u->dwdt(&x, w, aux, k->dw, k->da);
    if (rc != APICAL_OK)
        return rc;
    for (size_t i = 0; i < POST * PRE; i++)
        w[i] += dt * k->dw[i];
    for (size_t i = 0; i < k->na * POST * PRE; i++)
        aux[i] += dt * k->da[i];
    return APICAL_OK;
}

/* What the ABI takes for one step: euler where there is one, else dwdt. */
static int one_step(const rulechk *k, size_t step, double dt, double *w, double *aux)
{
    if (!k->u->euler)
        return dwdt_step(k, step, dt, w, aux);
    apical_rule_ctx x = rule_ctx(k, step);
    return k->u->euler(&x, dt, w, aux);
}

static void rule_dwdt(rulechk *k, prop *p)
{
    apical_rule_ctx x = rule_ctx(k, 0);
    const size_t nw = POST * PRE, na = k->na * nw;
    set_all(k->dw, nw, NAN);
    set_all(k->da, na, NAN);
    int rc = k->u->dwdt(&x, k->w0, k->a0, k->dw, k->da);
    if (rc != APICAL_OK) {
        prop_fail(p, "dwdt returned %d at parameter set %u", rc, k->set);
        return;
    }
    for (size_t i = 0; i < nw; i++)
        prop_dev(p, isfinite(k->dw[i]) ? 0 : NAN, "dw[%zu][%zu], parameter set %u", i / PRE,
                 i % PRE, k->set);
    for (size_t i = 0; i < na; i++)
        prop_dev(p, isfinite(k->da[i]) ? 0 : NAN, "daux %zu [%zu][%zu], parameter set %u",
                 i / nw, i / PRE % POST, i % PRE, k->set);
}

static void rule_euler(rulechk *k, prop *p)
{
    const size_t nw = POST * PRE, na = k->na * nw;
    memcpy(k->w1, k->w0, nw * sizeof *k->w1);
    memcpy(k->a1, k->a0, na * sizeof *k->a1);
    memcpy(k->w2, k->w0, nw * sizeof *k->w2);
    memcpy(k->a2, k->a0, na * sizeof *k->a2);
    int rc = dwdt_step(k, 0, DT, k->w1, k->a1);
    if (rc != APICAL_OK) {
        prop_fail(p, "dwdt returned %d at parameter set %u", rc, k->set);
        return;
    }
    apical_rule_ctx x = rule_ctx(k, 0);
    rc = k->u->euler(&x, DT, k->w2, k->a2);
    if (rc != APICAL_OK) {
        prop_fail(p, "euler returned %d at parameter set %u", rc, k->set);
        return;
    }
    compare_mat(p, k, "W", k->w2, k->w1, k->w0, nw, 0);
    for (size_t a = 0; a < k->na; a++)
        compare_mat(p, k, "aux", k->a2 + a * nw, k->a1 + a * nw, k->a0 + a * nw, nw, 0);
}

static apical_rule_batch rule_batch(const rulechk *k, size_t steps, const float *pre_f32)
{
    apical_rule_batch b = { sizeof b, POST, PRE, steps, k->p, k->post, k->pre, k->scratch,
                            pre_f32, 1, NULL };
    set_all(k->scratch, 2 * K * POST, NAN);
    return b;
}

/* euler_batch over k steps against k single steps (euler, or dwdt). */
static void rule_batch_check(rulechk *k, prop *p)
{
    const size_t nw = POST * PRE, na = k->na * nw;
    static const size_t steps[2] = { 1, K };
    for (int s = 0; s < 2; s++) {
        memcpy(k->w1, k->w0, nw * sizeof *k->w1);
        memcpy(k->a1, k->a0, na * sizeof *k->a1);
        memcpy(k->w2, k->w0, nw * sizeof *k->w2);
        memcpy(k->a2, k->a0, na * sizeof *k->a2);
        int rc = APICAL_OK;
        for (size_t j = 0; j < steps[s] && rc == APICAL_OK; j++)
            rc = one_step(k, j, DT, k->w1, k->a1);
        if (rc != APICAL_OK) {
            prop_fail(p, "%s returned %d at parameter set %u", k->u->euler ? "euler" : "dwdt",
                      rc, k->set);
            return;
        }
        apical_rule_batch b = rule_batch(k, steps[s], NULL);
        rc = k->u->euler_batch(&b, DT, k->w2, k->a2);
        if (rc != APICAL_OK) {
            prop_fail(p, "euler_batch returned %d (k = %zu) at parameter set %u", rc, steps[s],
                      k->set);
            return;
        }
        char what[64];
        snprintf(what, sizeof what, "W after %zu steps", steps[s]);
        compare_mat(p, k, what, k->w2, k->w1, k->w0, nw, 0);
        snprintf(what, sizeof what, "aux after %zu steps", steps[s]);
        for (size_t a = 0; a < k->na; a++)
            compare_mat(p, k, what, k->a2 + a * nw, k->a1 + a * nw, k->a0 + a * nw, nw, 0);
    }
}

/* euler_batch_f32 against the same steps in double, one at a time (which
   euler_batch must equal), from weights that are exact in float; with pre
   in double (p[0]) and in float (p[1]). */
/* ABI 1.5, a rule flagged APICAL_RULE_COPIES: euler_batch over one step
   of K copies against a forward-Euler step with the mean of the copies'
   dwdt at the same weights (the drive averaged over the copies). */
static void rule_copies_check(rulechk *k, prop *p)
{
    const size_t nw = POST * PRE, na = k->na * nw;
    memcpy(k->w2, k->w0, nw * sizeof *k->w2);
    memcpy(k->a2, k->a0, na * sizeof *k->a2);
    memset(k->w1, 0, nw * sizeof *k->w1);
    memset(k->a1, 0, na * sizeof *k->a1);
    for (size_t b = 0; b < K; b++) {
        apical_rule_ctx x = rule_ctx(k, b);
        int rc = k->u->dwdt(&x, k->w0, k->a0, k->dw, k->da);
        if (rc != APICAL_OK) {
            prop_fail(p, "dwdt returned %d at parameter set %u", rc, k->set);
            return;
        }
        for (size_t i = 0; i < nw; i++)
            k->w1[i] += k->dw[i] / K;
        for (size_t i = 0; i < na; i++)
            k->a1[i] += k->da[i] / K;
    }
    for (size_t i = 0; i < nw; i++)
        k->w1[i] = k->w0[i] + DT * k->w1[i];
    for (size_t i = 0; i < na; i++)
        k->a1[i] = k->a0[i] + DT * k->a1[i];
    apical_rule_batch b = rule_batch(k, 1, NULL);
    b.copies = K;
    int rc = k->u->euler_batch(&b, DT, k->w2, k->a2);
    if (rc != APICAL_OK) {
        prop_fail(p, "euler_batch returned %d (1 step, %d copies) at parameter set %u", rc, K,
                  k->set);
        return;
    }
    compare_mat(p, k, "W after a step of 7 copies", k->w2, k->w1, k->w0, nw, 0);
    for (size_t a = 0; a < k->na; a++)
        compare_mat(p, k, "aux after a step of 7 copies", k->a2 + a * nw, k->a1 + a * nw,
                    k->a0 + a * nw, nw, 0);
}

static void rule_f32(rulechk *k, prop *p)
{
    const size_t nw = POST * PRE, na = k->na * nw;
    for (size_t i = 0; i < nw; i++)
        k->wf[i] = (float)k->w0[i];
    for (size_t i = 0; i < na; i++)
        k->af[i] = (float)k->a0[i];
    for (size_t i = 0; i < K * PRE; i++)
        k->pref[i] = (float)k->pre[i];
    double *wr = k->w1, *ar = k->a1, *w0 = k->w2, *a0 = k->a2;
    for (size_t i = 0; i < nw; i++)
        wr[i] = w0[i] = k->wf[i];
    for (size_t i = 0; i < na; i++)
        ar[i] = a0[i] = k->af[i];
    int rc = APICAL_OK;
    for (size_t j = 0; j < K && rc == APICAL_OK; j++)
        rc = one_step(k, j, DT, wr, ar);
    if (rc != APICAL_OK) {
        prop_fail(&p[0], "the double-precision steps returned %d at parameter set %u", rc,
                  k->set);
        prop_fail(&p[1], "the double-precision steps returned %d at parameter set %u", rc,
                  k->set);
        prop_fail(&p[2], "the double-precision steps returned %d at parameter set %u", rc,
                  k->set);
        return;
    }
    float *wf = k->wf, *af = k->af;
    double *got_w = k->dw, *got_a = k->da;
    /* ABI 1.6: pre also as bfloat16 pairs of steps */
    apical_bf16x2_pack(k->pref, K, PRE, k->pre2);
    static const char *const pre_is[] = { "NULL", "set", "set, pre_bf16x2 set" };
    for (int f = 0; f < 3; f++) {
        for (size_t i = 0; i < nw; i++)
            wf[i] = (float)w0[i];
        for (size_t i = 0; i < na; i++)
            af[i] = (float)a0[i];
        apical_rule_batch b = rule_batch(k, K, f ? k->pref : NULL);
        if (f == 2)
            b.pre_bf16x2 = k->pre2;
        rc = k->u->euler_batch_f32(&b, DT, wf, af);
        if (rc != APICAL_OK) {
            prop_fail(&p[f], "euler_batch_f32 returned %d (pre_f32 %s) at parameter set %u",
                      rc, pre_is[f], k->set);
            continue;
        }
        for (size_t i = 0; i < nw; i++)
            got_w[i] = wf[i];
        for (size_t i = 0; i < na; i++)
            got_a[i] = af[i];
        /* bfloat16 products: against the change, to the operands' precision */
        const int bf = f == 2;
        compare_mat(&p[f], k, bf ? "W (bfloat16 products)" : "W (float)", got_w, wr, w0, nw, bf);
        for (size_t a = 0; a < k->na; a++)
            compare_mat(&p[f], k, bf ? "aux (bfloat16 products)" : "aux (float)", got_a + a * nw,
                        ar + a * nw, a0 + a * nw, nw, bf);
    }
}

/* Hold W, post and pre and let the rule's memory settle (dwdt's daux to
   0, in pseudo-time steps that grow while they shrink the residual); then
   dwdt's dW against eta (a post + b) pre^T of steady_rate. */
static void rule_rate(rulechk *k, prop *p)
{
    const size_t nw = POST * PRE, na = k->na * nw;
    apical_rule_ctx x = rule_ctx(k, 0);
    double *aux = k->a1, *trial = k->a2;
    memset(aux, 0, (na ? na : 1) * sizeof *aux);
    int rc = k->u->dwdt(&x, k->w0, aux, k->dw, k->da);
    double res = 0, h = 1;
    for (size_t i = 0; i < na; i++)
        res = fmax(res, fabs(k->da[i]));
    for (int it = 0; rc == APICAL_OK && na && it < 20000; it++) {
        double big = 1;
        for (size_t i = 0; i < na; i++)
            big = fmax(big, fabs(aux[i]));
        if (res <= 1e-14 * big)
            break;
        for (size_t i = 0; i < na; i++)
            trial[i] = aux[i] + h * k->da[i];
        rc = k->u->dwdt(&x, k->w0, trial, k->dw, k->da);
        double r1 = 0;
        for (size_t i = 0; i < na; i++)
            r1 = fmax(r1, fabs(k->da[i]));
        if (rc == APICAL_OK && r1 < res) {
            memcpy(aux, trial, na * sizeof *aux);
            res = r1;
            h *= 2;
        } else if (rc == APICAL_OK) {
            h /= 3;
            rc = k->u->dwdt(&x, k->w0, aux, k->dw, k->da);
        }
    }
    if (rc != APICAL_OK) {
        prop_fail(p, "dwdt returned %d at parameter set %u", rc, k->set);
        return;
    }
    double big = 1;
    for (size_t i = 0; i < na; i++)
        big = fmax(big, fabs(aux[i]));
    if (na && res > 1e-12 * big) {
        prop_fail(p, "the rule's memory does not settle with the observables held (|daux/dt| "
                  "%.3g after 20000 steps), parameter set %u", res, k->set);
        return;
    }
    rc = k->u->dwdt(&x, k->w0, aux, k->dw, k->da);
    if (rc != APICAL_OK) {
        prop_fail(p, "dwdt returned %d at parameter set %u", rc, k->set);
        return;
    }
    double eta = NAN, a = NAN, b = NAN;
    APICAL_RULE_STEADY_RATE(k->u)(k->p, &eta, &a, &b);
    double *pred = k->w2;
    for (size_t i = 0; i < POST; i++)
        for (size_t j = 0; j < PRE; j++)
            pred[i * PRE + j] = eta * (a * k->post[i] + b) * k->pre[j];
    char what[160];
    snprintf(what, sizeof what, "settled dW/dt (steady_rate: eta %.6g, a %.6g, b %.6g)", eta, a,
             b);
    double zero[POST * PRE] = { 0 };
    compare_mat(p, k, what, k->dw, pred, zero, nw, 0);
}

/* ABI 1.7 rate_param: with that parameter doubled (halved where check
   refuses the double), dwdt's dW doubles (halves) and its daux stays. */
static void rule_rate_param(rulechk *k, prop *p)
{
    const size_t nw = POST * PRE, na = k->na * nw, r = APICAL_RULE_RATE_PARAM(k->u) - 1;
    apical_rule_ctx x = rule_ctx(k, 0);
    int rc = k->u->dwdt(&x, k->w0, k->a0, k->dw, k->da);
    if (rc != APICAL_OK) {
        prop_fail(p, "dwdt returned %d at parameter set %u", rc, k->set);
        return;
    }
    const double saved = k->p[r];
    double f = 2;
    char msg[64];
    k->p[r] = f * saved;
    if (k->u->check && k->u->check(k->p, msg, sizeof msg) != 0)
        k->p[r] = (f = 0.5) * saved;
    for (size_t i = 0; i < nw; i++)
        k->w1[i] = f * k->dw[i];
    memcpy(k->a1, k->da, na * sizeof *k->a1);
    rc = k->u->dwdt(&x, k->w0, k->a0, k->dw, k->da);
    k->p[r] = saved;
    if (rc != APICAL_OK) {
        prop_fail(p, "dwdt returned %d with %s times %g, parameter set %u", rc,
                  k->u->params[r].name, f, k->set);
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "dW/dt with %s times %g", k->u->params[r].name, f);
    compare_mat(p, k, what, k->dw, k->w1, k->w1, nw, 0);
    snprintf(what, sizeof what, "daux/dt with %s times %g", k->u->params[r].name, f);
    compare_mat(p, k, what, k->da, k->a1, k->a1, na, 0);
}

static void rule_tables(conf *c, const apical_rule *u, int *ok)
{
    tally t = { 0, "" };
    check_size(&t, u->struct_size, APICAL_RULE_MIN_SIZE_V1, sizeof(apical_rule));
    if (bad_name(u->name))
        problem(&t, "rule name %s", bad_name(u->name));
    if (!u->version || !*u->version)
        problem(&t, "no version");
    if (!u->dwdt)
        problem(&t, "no dwdt function");
    if (bad_name(u->post_obs)) {
        problem(&t, "post_obs %s", bad_name(u->post_obs));
    } else {
        for (const char *q = u->post_obs; (q = strpbrk(q, "{}"));) {
            if (strncmp(q, "{port}", 6) != 0) {
                problem(&t, "post_obs '%s': a brace that is not part of {port}", u->post_obs);
                break;
            }
            q += 6;
        }
    }
    if (u->n_aux > 64)
        problem(&t, "implausible n_aux %zu", u->n_aux);
    if (u->struct_size >= offsetof(apical_rule, rate_param) + sizeof(uint32_t) &&
        u->rate_param > u->n_params)
        problem(&t, "rate_param %u names no parameter (it has %zu)", (unsigned)u->rate_param,
                u->n_params);
    *ok = t.n == 0;
    if (check_array(&t, "params", u->params, u->n_params)) {
        check_names(&t, "parameter", u->params, u->n_params, sizeof *u->params);
        check_params(&t, u->params, u->n_params);
    } else {
        *ok = 0;
    }
    finish_tally(c, "tables", &t, "names, arrays, defaults and struct_size well formed");
}

static void rule_skip_all(conf *c, const char *why)
{
    static const char *const names[] = { "dwdt", "euler", "euler_batch", "euler_batch.copies",
                                         "euler_batch_f32",
                                         "euler_batch_f32.pre_f32",
                                         "euler_batch_f32.pre_bf16x2", "steady_rate",
                                         "rate_param" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        skip(c, names[i], "%s", why);
}

int apical_conformance_rule(const apical_rule *u, const apical_conf_options *opt,
                            apical_conf_fn report, void *user, char *err, size_t errcap)
{
    conf c = { "rule", u && u->name ? u->name : "?", report, user, 0,
               opt && opt->seed ? opt->seed : 1, 1 + (opt && opt->trials ? opt->trials : 4) };
    if (!u || u->struct_size < APICAL_RULE_MIN_SIZE_V1) {
        tally t = { 0, "" };
        if (u)
            problem(&t, "struct_size %zu is smaller than ABI 1.0's %zu bytes", u->struct_size,
                    (size_t)APICAL_RULE_MIN_SIZE_V1);
        else
            problem(&t, "no descriptor");
        finish_tally(&c, "tables", &t, "");
        skip(&c, "check", "the descriptor is unreadable");
        rule_skip_all(&c, "the descriptor is unreadable");
        return c.failures;
    }
    int ok;
    rule_tables(&c, u, &ok);
    if (!ok) {
        skip(&c, "check", "the tables are not well formed");
        rule_skip_all(&c, "the tables are not well formed");
        return c.failures;
    }
    check_defaults(&c, u->params, u->n_params, u->check);
    if (APICAL_RULE_FLAGS(u) & APICAL_RULE_NONLOCAL) {
        rule_skip_all(&c, "APICAL_RULE_NONLOCAL: the host computes the post signal, dwdt is "
                      "never called");
        return c.failures;
    }

    const size_t nw = POST * PRE, na = u->n_aux * nw;
    size_t total = (u->n_params + 1) + K * (POST + PRE) + 4 * (nw + na) + 2 * (nw + na) +
                   2 * (nw + na) + 2 * K * POST + 8;
    double *all = malloc(total * sizeof *all);
    float *fl = malloc((nw + na + K * PRE + 1) * sizeof *fl);
    uint32_t *pre2 = malloc((K + 1) / 2 * PRE * sizeof *pre2);
    if (!all || !fl || !pre2) {
        free(all);
        free(fl);
        free(pre2);
        snprintf(err, errcap, "out of memory checking rule %s", c.model);
        return -1;
    }
    rulechk k = { &c, u, 0, u->n_aux, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                  NULL, NULL, NULL, NULL, NULL, NULL, NULL };
    size_t used = 0;
    k.p = cell_alloc(&all, &used, u->n_params);
    k.post = cell_alloc(&all, &used, K * POST);
    k.pre = cell_alloc(&all, &used, K * PRE);
    k.w0 = cell_alloc(&all, &used, nw);
    k.a0 = cell_alloc(&all, &used, na);
    k.w1 = cell_alloc(&all, &used, nw);
    k.a1 = cell_alloc(&all, &used, na);
    k.w2 = cell_alloc(&all, &used, nw);
    k.a2 = cell_alloc(&all, &used, na);
    k.dw = cell_alloc(&all, &used, nw);
    k.da = cell_alloc(&all, &used, na);
    k.scratch = cell_alloc(&all, &used, 2 * K * POST);
    k.wf = fl;
    k.af = fl + nw;
    k.pref = fl + nw + na;
    k.pre2 = pre2;

    prop pd, pe, pb, pf[3], pr, pc, pp;
    prop_init(&pp);
    prop_init(&pc);
    prop_init(&pd);
    prop_init(&pe);
    prop_init(&pb);
    prop_init(&pf[0]);
    prop_init(&pf[1]);
    prop_init(&pf[2]);
    prop_init(&pr);
    const int has_batch = APICAL_RULE_HAS_BATCH(u), has_f32 = APICAL_RULE_HAS_BATCH_F32(u);
    const int has_rate = APICAL_RULE_STEADY_RATE(u) != NULL;
    const int has_copies = has_batch && (APICAL_RULE_FLAGS(u) & APICAL_RULE_COPIES);
    for (unsigned set = 0; set < c.sets; set++) {
        k.set = set;
        draw_params(&c, u->params, u->n_params, u->check, set, k.p);
        fill(&c, k.post, K * POST, -1, 1);
        fill(&c, k.pre, K * PRE, -1, 1);
        fill(&c, k.w0, nw, -1, 1);
        fill(&c, k.a0, na, -1, 1);
        rule_dwdt(&k, &pd);
        if (u->euler)
            rule_euler(&k, &pe);
        if (has_batch)
            rule_batch_check(&k, &pb);
        if (has_copies)
            rule_copies_check(&k, &pc);
        if (has_f32)
            rule_f32(&k, pf);
        if (has_rate)
            rule_rate(&k, &pr);
        if (APICAL_RULE_RATE_PARAM(u))
            rule_rate_param(&k, &pp);
    }
    finish(&c, "dwdt", &pd, 0, 0, "finite at every state and parameter set tried");
    if (u->euler)
        finish(&c, "euler", &pe, TOL_EULER, 0, NULL);
    else
        skip(&c, "euler", "no euler function (the host takes w += dt dw/dt)");
    if (has_batch)
        finish(&c, "euler_batch", &pb, TOL_BATCH, 0, NULL);
    else
        skip(&c, "euler_batch", "%s", u->struct_size < offsetof(apical_rule, euler_batch) +
             sizeof(void (*)(void)) ? "an ABI 1.0 descriptor: no euler_batch"
                                    : "no euler_batch function");
    if (has_copies)
        finish(&c, "euler_batch.copies", &pc, TOL_BATCH, 0, NULL);
    else
        skip(&c, "euler_batch.copies", "%s", has_batch ? "not flagged APICAL_RULE_COPIES"
                                                       : "no euler_batch function");
    if (has_f32) {
        finish(&c, "euler_batch_f32", &pf[0], TOL_F32, 0, NULL);
        finish(&c, "euler_batch_f32.pre_f32", &pf[1], TOL_F32_PRE, 0, NULL);
        finish(&c, "euler_batch_f32.pre_bf16x2", &pf[2], TOL_BF16, 0, NULL);
    } else {
        const char *why = u->struct_size < offsetof(apical_rule, euler_batch_f32) +
                          sizeof(void (*)(void)) ? "an ABI 1.0/1.1 descriptor: no euler_batch_f32"
                                                 : "no euler_batch_f32 function";
        skip(&c, "euler_batch_f32", "%s", why);
        skip(&c, "euler_batch_f32.pre_f32", "%s", why);
        skip(&c, "euler_batch_f32.pre_bf16x2", "%s", why);
    }
    if (has_rate)
        finish(&c, "steady_rate", &pr, TOL_RATE, 0, NULL);
    else
        skip(&c, "steady_rate", "%s", u->struct_size < offsetof(apical_rule, steady_rate) +
             sizeof(void (*)(void)) ? "an ABI 1.0/1.1 descriptor: no steady_rate"
                                    : "no steady_rate function");
    if (APICAL_RULE_RATE_PARAM(u))
        finish(&c, "rate_param", &pp, TOL_EULER, 0, NULL);
    else
        skip(&c, "rate_param", "%s", u->struct_size < offsetof(apical_rule, rate_param) +
             sizeof(uint32_t) ? "a descriptor before ABI 1.7: no rate_param"
                              : "rate_param 0: no learning-rate parameter");
    free(all);
    free(fl);
    free(pre2);
    return c.failures;
}
