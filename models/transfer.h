/*
 * transfer.h -- rate transfer functions phi(u) shared by the cell modules.
 *
 *   logistic:  phi(u) = 1 / (1 + exp(-u))
 *   softrect:  phi(u) = gamma * log(1 + exp(beta*(u - theta)))      (docs/model.md 1.2)
 *   softplus:  phi(u) = log(1 + exp(u))   (softrect with gamma = beta = 1, theta = 0)
 *
 * The forms below never overflow: log1p(exp(x)) is evaluated as
 * max(x, 0) + log1p(exp(-|x|)), which is exact in double for every x.
 */
#ifndef APICAL_TRANSFER_H
#define APICAL_TRANSFER_H

#include <math.h>
#include <stdint.h>

enum apical_phi { APICAL_PHI_LOGISTIC = 0, APICAL_PHI_SOFTRECT = 1, APICAL_PHI_SOFTPLUS = 2 };

#define APICAL_PHI_CHOICES { "logistic", "softrect", "softplus", NULL }

typedef struct apical_transfer {
    int kind;
    double gamma, beta, theta;
} apical_transfer;

static inline apical_transfer apical_transfer_make(double kind, double gamma,
                                                   double beta, double theta)
{
    apical_transfer t = { (int)kind, gamma, beta, theta };
    if (t.kind == APICAL_PHI_SOFTPLUS) {
        t.gamma = 1.0; t.beta = 1.0; t.theta = 0.0;
    }
    return t;
}

static inline double apical_softplus(double x)
{
    return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}

static inline double apical_logistic(double x)
{
    /* exp of a non-positive number only: no overflow for any x */
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static inline double apical_phi(const apical_transfer *t, double u)
{
    if (t->kind == APICAL_PHI_LOGISTIC)
        return apical_logistic(u);
    return t->gamma * apical_softplus(t->beta * (u - t->theta));
}

static inline double apical_dphi(const apical_transfer *t, double u)
{
    if (t->kind == APICAL_PHI_LOGISTIC) { /* e / (1 + e)^2, e = exp(-|u|): no cancellation */
        double e = exp(-fabs(u)), s = 1.0 / (1.0 + e);
        return e * s * s;
    }
    return t->gamma * t->beta * apical_logistic(t->beta * (u - t->theta));
}

/*
 * Whole rows at once: out[i] = phi(scale * x[i]).  The same functions as
 * above, but exp and log1p are polynomials instead of libm calls, so the
 * loop vectorises (8 lanes with AVX-512).  exp(z), z <= 0: z = n ln2 + r,
 * |r| <= ln2/2, Taylor to r^13 (truncation < 1e-17); log1p(e), 0 <= e <= 1:
 * log(m) = 2 atanh((m-1)/(m+1)) on m in [1/sqrt2, sqrt2], to s^23, with the
 * rounding of 1 + e corrected.  Both within a few ulp of libm; exp of
 * z < -708 is taken at -708 (absolute error < 4e-308).  tests/check_models
 * bounds the difference to the scalar forms (relative 1e-14).  NaN stays NaN.
 */
#ifdef _OPENMP
#define APICAL_SIMD _Pragma("omp simd")
#else
#define APICAL_SIMD
#endif

static inline double apical_exp_nonpos(double z)
{
    z = z < -708.0 ? -708.0 : z; /* NaN passes through */
    const double shift = 0x1.8p52;
    double n = (z * 1.4426950408889634 + shift) - shift; /* round to nearest */
    double r = z - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    n = n >= -1022.0 ? n : 0.0; /* only NaN fails: keep the conversion defined */
    union { double d; int64_t i; } two = { .i = ((int64_t)n + 1023) << 52 };
    return p * two.d;
}

/* log1p(e) for 0 <= e <= 1. */
static inline double apical_log1p_unit(double e)
{
    double w = 1.0 + e, c = (w - 1.0) - e; /* w = 1 + e - c exactly */
    int big = w > 1.4142135623730951;
    double m = big ? 0.5 * w : w, k = big ? 0.6931471805599453 : 0.0;
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double p = 1.0 / 23;
    p = p * s2 + 1.0 / 21;
    p = p * s2 + 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    p = p * s2 + 1.0;
    return k + (2.0 * s * p - c / w);
}

static inline void apical_phi_n(const apical_transfer *t, size_t n, double scale,
                                const double *restrict x, double *restrict out)
{
    if (t->kind == APICAL_PHI_LOGISTIC) {
        APICAL_SIMD
        for (size_t i = 0; i < n; i++) {
            double v = scale * x[i];
            double e = apical_exp_nonpos(-fabs(v)), s = 1.0 / (1.0 + e);
            out[i] = v >= 0.0 ? s : e * s;
        }
        return;
    }
    const double g = t->gamma, b = t->beta, th = t->theta;
    APICAL_SIMD
    for (size_t i = 0; i < n; i++) {
        double v = b * (scale * x[i] - th);
        double e = apical_exp_nonpos(-fabs(v));
        out[i] = g * ((v > 0.0 ? v : 0.0) + apical_log1p_unit(e));
    }
}

/* Whole rows of the slope: out[i] = phi'(x[i]), vectorised like apical_phi_n. */
static inline void apical_dphi_n(const apical_transfer *t, size_t n, const double *restrict x,
                                 double *restrict out)
{
    const int logistic = t->kind == APICAL_PHI_LOGISTIC;
    const double b = logistic ? 1.0 : t->beta, th = logistic ? 0.0 : t->theta,
                 g = logistic ? 1.0 : t->gamma * t->beta;
    APICAL_SIMD
    for (size_t i = 0; i < n; i++) {
        double v = b * (x[i] - th);
        double e = apical_exp_nonpos(-fabs(v)), s = 1.0 / (1.0 + e);
        double l = v >= 0.0 ? s : e * s; /* logistic(v) */
        out[i] = logistic ? e * s * s : g * l;
    }
}

/* The parameter-table rows every cell with a transfer function carries. */
#define APICAL_TRANSFER_PARAMS                                                        \
    { "phi", "", "transfer function", 0, 0, 2, apical_phi_choices },                  \
    { "gamma", "1", "softrect: output scale", 0.1, 0, INFINITY, NULL },               \
    { "beta", "1/a.u.", "softrect: slope", 1.0, 0, INFINITY, NULL },                     \
    { "theta", "a.u.", "softrect: threshold", 3.0, -INFINITY, INFINITY, NULL }

static const char *const apical_phi_choices[] = APICAL_PHI_CHOICES;

#endif /* APICAL_TRANSFER_H */
