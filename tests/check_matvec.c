/*
 * The Euler step's products (runner/matvec.h):
 *  - binary16 conversion: every half survives half -> float -> half; floats
 *    round to the nearest half, ties to even (checked against the
 *    compiler's _Float16 where it has one, and on constructed midpoints
 *    everywhere); the vector path equals the scalar one, overflow counted;
 *  - f64, f32 and f16 products equal double loops over the same (rounded)
 *    weights, for row lengths 1-40 and 784 and windows [lo, hi) of rows;
 *  - a row's sum does not depend on the window it is computed in (groups
 *    of four or alone), so threads cannot change it.
 */
#include "matvec.h"
#include "testutil.h"

static unsigned lcg(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

static double rnd(unsigned *s) { return (lcg(s) >> 8) / 8388608.0 - 1.0; }

START_TEST(every_half_round_trips)
{
    for (unsigned h = 0; h < 65536; h++) {
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) /* NaN payloads: quiet only */
            continue;
        float f = apical_float_from_half((uint16_t)h);
        ck_assert_msg(apical_half_from_float(f) == h, "half %04x -> %g -> %04x", h, (double)f,
                      apical_half_from_float(f));
#ifdef __FLT16_MAX__
        _Float16 ref;
        uint16_t bits = (uint16_t)h;
        memcpy(&ref, &bits, sizeof bits);
        ck_assert_msg(f == (float)ref, "half %04x: %g, compiler %g", h, (double)f, (double)ref);
#endif
    }
}
END_TEST

START_TEST(floats_round_to_nearest_even)
{
    /* the midpoint of two neighbouring finite halves goes to the even one;
       a hair above it to the upper one */
    for (unsigned h = 0; h < 0x7bffu; h++) {
        float a = apical_float_from_half((uint16_t)h), b = apical_float_from_half((uint16_t)(h + 1));
        float mid = (float)(((double)a + (double)b) / 2); /* exact: 11 + 1 bits */
        ck_assert(apical_half_from_float(mid) == ((h & 1) ? h + 1 : h));
        ck_assert(apical_half_from_float(nextafterf(mid, 1e9f)) == h + 1);
        ck_assert(apical_half_from_float(-nextafterf(mid, 0)) == (0x8000u | h));
    }
    ck_assert(apical_half_from_float(65519.99f) == 0x7bffu);
    ck_assert(apical_half_from_float(65520.0f) == 0x7c00u);
#ifdef __FLT16_MAX__
    unsigned s = 11;
    for (int i = 0; i < 1000000; i++) {
        uint32_t bits = lcg(&s);
        float f;
        memcpy(&f, &bits, sizeof f);
        if (f != f)
            continue;
        _Float16 ref = (_Float16)f;
        uint16_t rb;
        memcpy(&rb, &ref, sizeof rb);
        ck_assert_msg(apical_half_from_float(f) == rb, "%.9g: %04x, compiler %04x", (double)f,
                      apical_half_from_float(f), rb);
    }
#endif
}
END_TEST

START_TEST(vector_conversion_equals_scalar)
{
    enum { N = 1000 };
    float src[N];
    uint16_t v[N];
    unsigned s = 5;
    size_t big = 0;
    for (int i = 0; i < N; i++) {
        src[i] = (float)(rnd(&s) * (i % 7 == 0 ? 1e5 : i % 3 ? 1.0 : 1e-6));
        big += fabsf(src[i]) >= 65520.0f;
    }
    ck_assert_uint_gt(big, 0);
    for (size_t n = 0; n <= N; n += n < 40 ? 1 : 97) {
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
            want += fabsf(src[i]) >= 65520.0f;
        ck_assert_uint_eq(apical_f16_from_f32(n, src, v), want);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(v[i] == apical_half_from_float(src[i]), "n %zu, [%zu]", n, i);
    }
    ck_assert_uint_eq(apical_f16_from_f32(N, src, v), big);
}
END_TEST

static const size_t lens[] = { 1, 2, 7, 8, 9, 15, 16, 17, 30, 31, 32, 33, 40, 784 };
#define N_LENS (sizeof lens / sizeof lens[0])

/* An m x n matrix and an n-vector from the generator, in double, float and
   half (rounded from the float) */
typedef struct {
    double *w, *x;
    float *wf, *xf;
    uint16_t *wh;
} mats;

static mats mats_make(size_t m, size_t n, unsigned seed)
{
    mats a = { malloc(m * n * sizeof(double)), malloc(n * sizeof(double)),
               calloc(m * n, sizeof(float)), calloc(n, sizeof(float)),
               malloc(m * n * sizeof(uint16_t)) };
    ck_assert(a.w && a.x && a.wf && a.xf && a.wh);
    for (size_t k = 0; k < m * n; k++)
        a.wf[k] = (float)(a.w[k] = rnd(&seed));
    apical_f16_from_f32(m * n, a.wf, a.wh);
    for (size_t j = 0; j < n; j++)
        a.xf[j] = (float)(a.x[j] = rnd(&seed));
    return a;
}

static void mats_free(mats *a) { free(a->w), free(a->x), free(a->wf), free(a->xf), free(a->wh); }

START_TEST(products_equal_loops)
{
    const size_t n = lens[_i], m = 13;
    mats a = mats_make(m, n, 3u + (unsigned)_i);
    const double *w = a.w, *x = a.x;
    const float *wf = a.wf, *xf = a.xf;
    const uint16_t *wh = a.wh;
    double o64[13], o32[13], o16[13];
    for (size_t lo = 0; lo < m; lo += 3)
        for (size_t hi = lo; hi <= m; hi += 2) {
            for (size_t i = 0; i < m; i++)
                o64[i] = o32[i] = o16[i] = 0.5; /* added to */
            apical_mv_f64(n, w, x, lo, hi, o64);
            apical_mv_f32(n, wf, xf, lo, hi, o32);
            apical_mv_f16(n, wh, xf, lo, hi, o16);
            for (size_t i = 0; i < m; i++) {
                double r64 = 0, r32 = 0, r16 = 0, mag = 0;
                for (size_t j = 0; j < n; j++) {
                    r64 += w[i * n + j] * x[j];
                    r32 += (double)wf[i * n + j] * xf[j];
                    r16 += (double)apical_float_from_half(wh[i * n + j]) * xf[j];
                    mag += fabs(w[i * n + j] * x[j]);
                }
                int in = i >= lo && i < hi;
                ck_assert_double_eq_tol(o64[i], 0.5 + (in ? r64 : 0), 1e-14 * (1 + mag));
                ck_assert_double_eq_tol(o32[i], 0.5 + (in ? r32 : 0), 1e-6 * (1 + mag));
                ck_assert_double_eq_tol(o16[i], 0.5 + (in ? r16 : 0), 1e-6 * (1 + mag));
                /* the half weights themselves: within 2^-11 relative */
                if (in)
                    ck_assert_double_eq_tol(r16, r64, 1e-3 * mag + 1e-6 * (1 + mag));
            }
        }
    mats_free(&a);
}
END_TEST

START_TEST(a_row_does_not_depend_on_its_window)
{
    const size_t n = lens[_i], m = 11;
    mats a = mats_make(m, n, 9u + (unsigned)_i);
    const double *w = a.w, *x = a.x;
    const float *wf = a.wf, *xf = a.xf;
    const uint16_t *wh = a.wh;
    double all[3][11] = { { 0 } }, one[3][11] = { { 0 } };
    apical_mv_f64(n, w, x, 0, m, all[0]);
    apical_mv_f32(n, wf, xf, 0, m, all[1]);
    apical_mv_f16(n, wh, xf, 0, m, all[2]);
    for (size_t i = 0; i < m; i++) { /* each row alone, and cut at odd places */
        apical_mv_f64(n, w, x, i, i + 1, one[0]);
        apical_mv_f32(n, wf, xf, i, i + 1, one[1]);
        apical_mv_f16(n, wh, xf, i, i + 1, one[2]);
    }
    ck_assert(memcmp(all, one, sizeof all) == 0);
    memset(one, 0, sizeof one);
    apical_mv_f64(n, w, x, 0, 3, one[0]);
    apical_mv_f64(n, w, x, 3, m, one[0]);
    apical_mv_f32(n, wf, xf, 0, 5, one[1]);
    apical_mv_f32(n, wf, xf, 5, m, one[1]);
    apical_mv_f16(n, wh, xf, 0, 6, one[2]);
    apical_mv_f16(n, wh, xf, 6, m, one[2]);
    ck_assert(memcmp(all, one, sizeof all) == 0);
    mats_free(&a);
}
END_TEST

/* apical_mm_*: nb vectors at once (the half kernel takes them in pairs),
   each column bit for bit the product with its vector alone, for any nb
   and row window. */
START_TEST(many_vectors_equal_one_at_a_time)
{
    const size_t n = lens[_i], m = 11, NB = 7; /* f16: 4 + 2 + 1 */
    mats a = mats_make(m, n, 21u + (unsigned)_i);
    double *x = malloc(NB * n * sizeof(double));
    float *xf = malloc(NB * n * sizeof(float));
    ck_assert(x && xf);
    unsigned seed = 77u + (unsigned)_i;
    for (size_t k = 0; k < NB * n; k++)
        xf[k] = (float)(x[k] = rnd(&seed));
    for (size_t nb = 1; nb <= NB; nb++)
        for (size_t lo = 0; lo < m; lo += 4)
            for (size_t hi = lo + 1; hi <= m; hi += 3) {
                double mm[3][7][11], mv[3][7][11];
                for (size_t i = 0; i < 3 * 7 * 11; i++)
                    (&mm[0][0][0])[i] = (&mv[0][0][0])[i] = 0.25 * (double)(i % 7);
                apical_mm_f64(n, a.w, x, n, nb, lo, hi, &mm[0][0][0], 11);
                apical_mm_f32(n, a.wf, xf, n, nb, lo, hi, &mm[1][0][0], 11);
                apical_mm_f16(n, a.wh, xf, n, nb, lo, hi, &mm[2][0][0], 11);
                for (size_t b = 0; b < nb; b++) {
                    apical_mv_f64(n, a.w, x + b * n, lo, hi, mv[0][b]);
                    apical_mv_f32(n, a.wf, xf + b * n, lo, hi, mv[1][b]);
                    apical_mv_f16(n, a.wh, xf + b * n, lo, hi, mv[2][b]);
                }
                ck_assert_msg(memcmp(mm, mv, sizeof mm) == 0, "n %zu, nb %zu, rows [%zu, %zu)",
                              n, nb, lo, hi);
            }
    free(x);
    free(xf);
    mats_free(&a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("matvec");
    TCase *t = tcase_create("matvec");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, every_half_round_trips);
    tcase_add_test(t, floats_round_to_nearest_even);
    tcase_add_test(t, vector_conversion_equals_scalar);
    tcase_add_loop_test(t, products_equal_loops, 0, (int)N_LENS);
    tcase_add_loop_test(t, a_row_does_not_depend_on_its_window, 0, (int)N_LENS);
    tcase_add_loop_test(t, many_vectors_equal_one_at_a_time, 0, (int)N_LENS);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
