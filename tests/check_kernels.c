/*
 * The batch kernels of the steady-state and backprop modes (runner/
 * kernels.h) against plain loops in double precision, at sizes that are
 * and are not multiples of the panel height and of the 10-row batch
 * blocks:
 *  - the packed layout is the documented one, and pack/unpack round-trip;
 *  - forward and update equal the reference sums (f64 to 1e-13, f32 to
 *    the rounding of single precision);
 *  - update_forward is update then forward, bit for bit;
 *  - a copy packed from W^T and updated with (f = 1, e = x, x = f e) stays
 *    equal to W bit for bit, so backprop's W^T product uses W's weights;
 *  - one thread and two give the same bits.
 */
#include <omp.h>

#include "kernels.h"
#include "testutil.h"

static double rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0 - 1.0;
}

static const size_t sizes[][3] = { /* nb, nd, ns */
    { 1, 1, 1 }, { 10, 10, 500 }, { 3, 33, 7 }, { 13, 31, 65 }, { 10, 64, 784 },
    { 7, 100, 33 }, { 10, 500, 10 }, { 20, 17, 1 },
};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* where element (i, j) of an nd x ns matrix sits in the panels */
static size_t at(size_t pr, size_t ns, size_t i, size_t j) { return i / pr * pr * ns + j * pr + i % pr; }

START_TEST(f64_products_match_loops)
{
    const size_t nb = sizes[_i][0], nd = sizes[_i][1], ns = sizes[_i][2];
    const size_t pr = apical_k_panel_rows_f64();
    unsigned seed = 7u + (unsigned)_i;
    double *w = malloc(nd * ns * sizeof *w), *x = malloc(nb * ns * sizeof *x),
           *e = malloc(nb * nd * sizeof *e), *out = malloc(nb * nd * sizeof *out),
           *back = malloc(nd * ns * sizeof *back),
           *wp = malloc(apical_k_packed_size_f64(nd, ns) * sizeof *wp);
    for (size_t k = 0; k < nd * ns; k++)
        w[k] = rnd(&seed);
    for (size_t k = 0; k < nb * ns; k++)
        x[k] = rnd(&seed);
    for (size_t k = 0; k < nb * nd; k++)
        e[k] = rnd(&seed);
    ck_assert_uint_eq(apical_k_packed_size_f64(nd, ns), (nd + pr - 1) / pr * pr * ns);
    apical_k_pack_f64(nd, ns, w, wp);
    for (size_t i = 0; i < (nd + pr - 1) / pr * pr; i++)
        for (size_t j = 0; j < ns; j++)
            ck_assert(wp[at(pr, ns, i, j)] == (i < nd ? w[i * ns + j] : 0.0));
    apical_k_unpack_f64(nd, ns, wp, back);
    ck_assert(memcmp(back, w, nd * ns * sizeof *w) == 0);

    apical_k_forward_f64(nb, nd, ns, wp, x, out);
    for (size_t b = 0; b < nb; b++)
        for (size_t i = 0; i < nd; i++) {
            double ref = 0, mag = 0;
            for (size_t j = 0; j < ns; j++) {
                ref += w[i * ns + j] * x[b * ns + j];
                mag += fabs(w[i * ns + j] * x[b * ns + j]);
            }
            ck_assert_double_eq_tol(out[b * nd + i], ref, 1e-14 * mag + 1e-300);
        }
    const double f = 0.37;
    apical_k_update_f64(nb, nd, ns, f, e, x, wp);
    apical_k_unpack_f64(nd, ns, wp, back);
    for (size_t i = 0; i < nd; i++)
        for (size_t j = 0; j < ns; j++) {
            double ref = w[i * ns + j];
            for (size_t b = 0; b < nb; b++)
                ref += f * e[b * nd + i] * x[b * ns + j];
            ck_assert_double_eq_tol(back[i * ns + j], ref, 1e-13);
        }
    free(w), free(x), free(e), free(out), free(back), free(wp);
}
END_TEST

START_TEST(f32_products_match_loops)
{
    const size_t nb = sizes[_i][0], nd = sizes[_i][1], ns = sizes[_i][2];
    unsigned seed = 11u + (unsigned)_i;
    double *w = malloc(nd * ns * sizeof *w), *back = malloc(nd * ns * sizeof *back);
    float *x = malloc(nb * ns * sizeof *x), *e = malloc(nb * nd * sizeof *e),
          *out = malloc(nb * nd * sizeof *out),
          *wp = malloc(apical_k_packed_size_f32(nd, ns) * sizeof *wp);
    for (size_t k = 0; k < nd * ns; k++)
        w[k] = (float)rnd(&seed); /* representable in f32: the packing is exact */
    for (size_t k = 0; k < nb * ns; k++)
        x[k] = (float)rnd(&seed);
    for (size_t k = 0; k < nb * nd; k++)
        e[k] = (float)rnd(&seed);
    apical_k_pack_f32(nd, ns, w, wp);
    apical_k_unpack_f32(nd, ns, wp, back);
    ck_assert(memcmp(back, w, nd * ns * sizeof *w) == 0);
    apical_k_forward_f32(nb, nd, ns, wp, x, out);
    for (size_t b = 0; b < nb; b++)
        for (size_t i = 0; i < nd; i++) {
            double ref = 0, mag = 0;
            for (size_t j = 0; j < ns; j++) {
                ref += w[i * ns + j] * x[b * ns + j];
                mag += fabs(w[i * ns + j] * x[b * ns + j]);
            }
            /* ns roundings of at most 2^-24 relative each, on partial sums <= mag */
            ck_assert_double_eq_tol(out[b * nd + i], ref, 6e-8 * (double)ns * mag + 1e-30);
        }
    const float f = 0.37f;
    apical_k_update_f32(nb, nd, ns, f, e, x, wp);
    apical_k_unpack_f32(nd, ns, wp, back);
    for (size_t i = 0; i < nd; i++)
        for (size_t j = 0; j < ns; j++) {
            double ref = w[i * ns + j], mag = fabs(ref);
            for (size_t b = 0; b < nb; b++) {
                ref += (double)(f * e[b * nd + i]) * x[b * ns + j];
                mag += fabs((double)(f * e[b * nd + i]) * x[b * ns + j]);
            }
            ck_assert_double_eq_tol(back[i * ns + j], ref, 6e-8 * (double)(nb + 1) * mag);
        }
    free(w), free(back), free(x), free(e), free(out), free(wp);
}
END_TEST

/* update_forward == update; forward, and W^T's copy stays W^T, bit for bit,
   over several updates; and the same bits on one thread and on two */
START_TEST(fused_transposed_and_threads_agree)
{
    const size_t nb = sizes[_i][0], nd = sizes[_i][1], ns = sizes[_i][2];
    const size_t pr = apical_k_panel_rows_f32();
    unsigned seed = 23u + (unsigned)_i;
    size_t np = apical_k_packed_size_f32(nd, ns), nt = apical_k_packed_size_f32(ns, nd);
    double *w = malloc(nd * ns * sizeof *w);
    float *x = malloc(nb * ns * sizeof *x), *x2 = malloc(nb * ns * sizeof *x2),
          *e = malloc(nb * nd * sizeof *e), *fe = malloc(nb * nd * sizeof *fe),
          *o1 = malloc(nb * nd * sizeof *o1), *o2 = malloc(nb * nd * sizeof *o2),
          *a = malloc(np * sizeof *a), *b = malloc(np * sizeof *b), *t = malloc(nt * sizeof *t);
    for (size_t k = 0; k < nd * ns; k++)
        w[k] = rnd(&seed);
    apical_k_pack_f32(nd, ns, w, a);
    apical_k_pack_f32(nd, ns, w, b);
    apical_k_pack_t_f32(nd, ns, w, t);
    const float f = 0.013f;
    for (int step = 0; step < 5; step++) {
        for (size_t k = 0; k < nb * ns; k++) {
            x[k] = (float)rnd(&seed);
            x2[k] = (float)rnd(&seed);
        }
        for (size_t k = 0; k < nb * nd; k++) {
            e[k] = (float)rnd(&seed);
            fe[k] = f * e[k];
        }
        omp_set_num_threads(1);
        apical_k_update_f32(nb, nd, ns, f, e, x, a);
        apical_k_forward_f32(nb, nd, ns, a, x2, o1);
        omp_set_num_threads(2);
        apical_k_update_forward_f32(nb, nb, nd, ns, f, e, x, b, x2, o2);
        apical_k_update_f32(nb, ns, nd, 1.0f, x, fe, t);
        ck_assert(memcmp(a, b, np * sizeof *a) == 0);
        ck_assert(memcmp(o1, o2, nb * nd * sizeof *o1) == 0);
        for (size_t i = 0; i < nd; i++)
            for (size_t j = 0; j < ns; j++)
                ck_assert(memcmp(&a[at(pr, ns, i, j)], &t[at(pr, nd, j, i)], sizeof(float)) == 0);
    }
    free(w), free(x), free(x2), free(e), free(fe), free(o1), free(o2), free(a), free(b), free(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kernels");
    TCase *t = tcase_create("kernels");
    tcase_add_loop_test(t, f64_products_match_loops, 0, (int)N_SIZES);
    tcase_add_loop_test(t, f32_products_match_loops, 0, (int)N_SIZES);
    tcase_add_loop_test(t, fused_transposed_and_threads_agree, 0, (int)N_SIZES);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
