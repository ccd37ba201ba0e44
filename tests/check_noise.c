/*
 * The step noise (runner/noise.c):
 *  - Philox4x32-10 gives Random123's published known answers;
 *  - normal q is a function of (key, q) alone: any window of indices gives
 *    the same numbers, and another key gives others;
 *  - 2^21 numbers have the moments of N(0, 1) (mean, variance, skewness,
 *    kurtosis within 5 standard errors), the tail frequencies of |z| > 1,
 *    2, 3, 4, a Kolmogorov-Smirnov distance inside its 0.1 % critical
 *    value against the normal CDF (erfc from libm, independent of the
 *    code under test), and neighbours uncorrelated;
 *  - in a circuit, a step's noise has the standard deviation sigma sqrt(dt).
 */
#include <math.h>

#include "testutil.h"

START_TEST(philox_known_answers)
{
    static const uint32_t ctr[3][4] = { { 0, 0, 0, 0 },
                                        { 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu },
                                        { 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u } };
    static const uint32_t key[3][2] = { { 0, 0 },
                                        { 0xffffffffu, 0xffffffffu },
                                        { 0xa4093822u, 0x299f31d0u } };
    static const uint32_t want[3][4] = {
        { 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u },
        { 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu },
        { 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u },
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        apical_philox4x32_10(ctr[k], key[k], out);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == want[k][i], "vector %d word %d: %08x, want %08x", k, i,
                          out[i], want[k][i]);
    }
}
END_TEST

/* Normals 4c .. 4c + 3 from Philox's words for counter (c, 0, 0, 0) by
   the documented Box-Muller (words 0, 1 and 2, 3), with libm's log, cos
   and sin in double: checks the vectorised Philox lanes bit for bit (any
   wrong bit moves u, v or the quadrant) and the single-precision
   polynomials to 1e-6. */
START_TEST(normals_follow_from_philox_words)
{
    const uint64_t key = 0xfedcba9876543210ull;
    enum { N = 4000 };
    double z[N];
    apical_normals(key, 0, N, z);
    for (uint64_t c = 0; c < N / 4; c++) {
        uint32_t ctr[4] = { (uint32_t)c, (uint32_t)(c >> 32), 0, 0 },
                 k[2] = { (uint32_t)key, (uint32_t)(key >> 32) }, o[4];
        apical_philox4x32_10(ctr, k, o);
        for (int h = 0; h < 2; h++) {
            uint32_t wu = o[2 * h], wv = o[2 * h + 1];
            double u = ((float)wu + 0.5f) * 0x1p-32f, v = (double)(wv >> 8) * 0x1p-24;
            double ang = (v - 0.5) * M_PI / 2 + (double)(wv & 3) * M_PI / 2;
            double r = sqrt(-2 * log(u)), zc = z[4 * c + 2 * h], zs = z[4 * c + 2 * h + 1];
            ck_assert_msg(fabs(zc - r * cos(ang)) < 1e-6 * (1 + r) &&
                              fabs(zs - r * sin(ang)) < 1e-6 * (1 + r),
                          "counter %llu pair %d: %.9g %.9g, want %.9g %.9g",
                          (unsigned long long)c, h, zc, zs, r * cos(ang), r * sin(ang));
        }
    }
}
END_TEST

START_TEST(normals_depend_on_key_and_index_only)
{
    enum { N = 100 };
    double all[N], part[N], other[N];
    apical_normals(0x123456789abcdefull, 0, N, all);
    for (size_t first = 0; first < 40; first += 3) {
        apical_normals(0x123456789abcdefull, first, 37, part);
        ck_assert(memcmp(part, all + first, 37 * sizeof(double)) == 0);
    }
    apical_normals(0x123456789abcdeeull, 0, N, other);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += other[i] == all[i];
    ck_assert_int_eq(same, 0);
}
END_TEST

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(normals_are_standard_normal)
{
    enum { N = 1 << 21, BINS = 64 };
    double *z = malloc(N * sizeof *z);
    ck_assert_ptr_nonnull(z);
    for (int k = 0; k < 4; k++) /* four keys, 2^19 each, one window straddling */
        apical_normals(0x9e3779b97f4a7c15ull * (uint64_t)(k + 1), (uint64_t)k * 1000003u, N / 4,
                       z + (size_t)k * (N / 4));
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0, lag = 0;
    long tail[5] = { 0 };
    for (int i = 0; i < N; i++) {
        double v = z[i];
        ck_assert(isfinite(v));
        m1 += v, m2 += v * v, m3 += v * v * v, m4 += v * v * v * v;
        if (i)
            lag += v * z[i - 1];
        for (int t = 1; t <= 4; t++)
            tail[t] += fabs(v) > t;
    }
    m1 /= N, m2 /= N, m3 /= N, m4 /= N, lag /= N - 1;
    const double se = 1 / sqrt((double)N);
    ck_assert_msg(fabs(m1) < 5 * se, "mean %g", m1);
    ck_assert_msg(fabs(m2 - 1) < 5 * sqrt(2.0) * se, "variance %g", m2);
    ck_assert_msg(fabs(m3) < 5 * sqrt(15.0) * se, "third moment %g", m3);
    ck_assert_msg(fabs(m4 - 3) < 5 * sqrt(96.0) * se, "fourth moment %g", m4);
    ck_assert_msg(fabs(lag) < 5 * se, "lag-1 correlation %g", lag);
    for (int t = 1; t <= 4; t++) {
        double p = erfc(t / sqrt(2.0)), sd = sqrt(p * (1 - p) / N);
        ck_assert_msg(fabs((double)tail[t] / N - p) < 5 * sd, "P(|z| > %d) = %g, want %g", t,
                      (double)tail[t] / N, p);
    }
    /* Kolmogorov-Smirnov: sort, compare with Phi */
    qsort(z, N, sizeof *z, cmp_double);
    double d = 0;
    for (int i = 0; i < N; i++) {
        double f = 0.5 * erfc(-z[i] / sqrt(2.0));
        d = fmax(d, fmax(fabs(f - (double)i / N), fabs(f - (double)(i + 1) / N)));
    }
    ck_assert_msg(d < 1.95 / sqrt((double)N), "KS distance %g", d);
    ck_assert(z[0] < -4.5 && z[N - 1] > 4.5); /* the tails are there */
    ck_assert(z[0] > -6.7 && z[N - 1] < 6.7);   /* and end where u = 2^-33 puts them */
    free(z);
}
END_TEST

START_TEST(step_noise_has_sigma_sqrt_dt)
{
    static const char yaml[] =
        "apical: 1\nseed: 5\npopulations:\n  x: {cell: rate_input, size: 1}\n"
        "  a: {cell: pyramidal, size: 4000}\n"
        "stimuli:\n  s: {kind: uniform, range: [0, 1], drives: x}\n"
        "simulation:\n  noise: {sigma: 0.3}\n  integrator: {method: euler, dt: 0.25}\n"
        "  phases: [{train: s, patterns: 1, present: 1}]\n";
    char err[2048];
    apical_registry *reg = apical_registry_new(NULL);
    apical_config cfg;
    ck_assert_msg(apical_config_load_string(&cfg, reg, "noise", yaml, err, sizeof err) == 0,
                  "%s", err);
    apical_circuit *c = cfg.circuit;
    double *before = malloc(c->n_y * sizeof *before);
    memcpy(before, c->y, c->n_y * sizeof *before);
    apical_circuit_noise(c, 0.25, APICAL_STEP_NOISE);
    double s2 = 0;
    size_t noisy = 0;
    for (size_t j = 0; j < c->n_y; j++)
        if (c->y[j] != before[j])
            s2 += (c->y[j] - before[j]) * (c->y[j] - before[j]), noisy++;
    ck_assert_uint_eq(noisy, 4000); /* the soma only */
    double sd = sqrt(s2 / (double)noisy), want = 0.3 * 0.5;
    ck_assert_msg(fabs(sd - want) < 5 * want / sqrt(2.0 * (double)noisy), "sd %g, want %g", sd,
                  want);
    /* the next step draws another key */
    memcpy(before, c->y, c->n_y * sizeof *before);
    double first = 0;
    apical_circuit_noise(c, 0.25, APICAL_STEP_NOISE);
    for (size_t j = 0; j < c->n_y; j++)
        first += fabs(c->y[j] - before[j]);
    ck_assert(first > 0);
    free(before);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("noise");
    TCase *t = tcase_create("noise");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, philox_known_answers);
    tcase_add_test(t, normals_follow_from_philox_words);
    tcase_add_test(t, normals_depend_on_key_and_index_only);
    tcase_add_test(t, normals_are_standard_normal);
    tcase_add_test(t, step_noise_has_sigma_sqrt_dt);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
