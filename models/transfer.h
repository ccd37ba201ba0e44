/*
 * transfer.h -- rate transfer functions phi(u) shared by the cell modules.
 *
 *   logistic:  phi(u) = 1 / (1 + exp(-u))
 *   softrect:  phi(u) = gamma * log(1 + exp(beta*(u - theta)))      (MODEL.md 1.2)
 *   softplus:  phi(u) = log(1 + exp(u))   (softrect with gamma = beta = 1, theta = 0)
 *
 * The forms below never overflow: log1p(exp(x)) is evaluated as
 * max(x, 0) + log1p(exp(-|x|)), which is exact in double for every x.
 */
#ifndef APICAL_TRANSFER_H
#define APICAL_TRANSFER_H

#include <math.h>

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
    if (t->kind == APICAL_PHI_LOGISTIC) {
        double s = apical_logistic(u);
        return s * (1.0 - s);
    }
    return t->gamma * t->beta * apical_logistic(t->beta * (u - t->theta));
}

/* The parameter-table rows every cell with a transfer function carries. */
#define APICAL_TRANSFER_PARAMS                                                        \
    { "phi", "", "transfer function", 0, 0, 2, apical_phi_choices },                  \
    { "gamma", "1", "softrect: output scale", 0.1, 0, INFINITY, NULL },               \
    { "beta", "1/a.u.", "softrect: slope", 1.0, 0, INFINITY, NULL },                     \
    { "theta", "a.u.", "softrect: threshold", 3.0, -INFINITY, INFINITY, NULL }

static const char *const apical_phi_choices[] = APICAL_PHI_CHOICES;

#endif /* APICAL_TRANSFER_H */
