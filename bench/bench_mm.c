/*
 * bench_mm -- the dendrites' products alone: rows [0, M) of an M x N
 * weight matrix times B vectors (apical_mm_f16, apical_mm_f32), on the
 * calling thread, beside this core's rate of independent single-precision
 * multiply-adds measured in the same run.
 *
 *   bench_mm [N M B]   default: 784 500 10, 500 500 10, 784 500 1
 *
 * Prints the work per call (FLOP: 2 per multiply-add; bytes: the weights
 * read once), the median and best time over rounds of calls, the rate and
 * its fraction of the multiply-add rate.  The weights (under 2 MB for the
 * defaults) stay in this core's caches between calls, as a block of rows
 * does in the step while the vectors go through it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "matvec.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Twelve independent chains of 16-lane multiply-adds: the core's
   single-precision rate (GFLOP/s), best of five. */
typedef float v16 __attribute__((vector_size(64)));
static volatile float sink;

static double fma_rate(void)
{
    v16 a[12], x, y;
    for (int i = 0; i < 12; i++)
        for (int l = 0; l < 16; l++)
            a[i][l] = 0.001f * (float)(i + l);
    for (int l = 0; l < 16; l++) {
        x[l] = 0.9999f;
        y[l] = 1e-4f;
    }
    const long reps = 20000000;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        v16 a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6],
            a7 = a[7], a8 = a[8], a9 = a[9], a10 = a[10], a11 = a[11];
        double t0 = now();
        for (long k = 0; k < reps; k++) {
            a0 = a0 * x + y; a1 = a1 * x + y; a2 = a2 * x + y; a3 = a3 * x + y;
            a4 = a4 * x + y; a5 = a5 * x + y; a6 = a6 * x + y; a7 = a7 * x + y;
            a8 = a8 * x + y; a9 = a9 * x + y; a10 = a10 * x + y; a11 = a11 * x + y;
        }
        double t = now() - t0;
        best = t < best ? t : best;
        v16 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
        sink += s[r]; /* the chains' results are used */
    }
    return 12.0 * 16 * 2 * (double)reps / best * 1e-9;
}

static int bench(size_t n, size_t m, size_t nb, double peak)
{
    float *wf = malloc(sizeof(float) * n * m), *x = malloc(sizeof(float) * n * nb);
    uint16_t *wh = malloc(sizeof(uint16_t) * n * m);
    double *out = calloc(m * nb, sizeof(double));
    if (!wf || !x || !wh || !out) {
        fprintf(stderr, "bench_mm: out of memory\n");
        return 1;
    }
    uint32_t s = 12345;
    for (size_t i = 0; i < n * m; i++) {
        s = s * 1664525u + 1013904223u;
        wf[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    for (size_t i = 0; i < n * nb; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / 16777216.0f;
    }
    apical_f16_from_f32(n * m, wf, wh);
    const double flop = 2.0 * (double)n * (double)m * (double)nb;
    for (int prec = 0; prec < 2; prec++) {
        enum { ROUNDS = 15 };
        double t[ROUNDS];
        /* about 20 ms per round */
        long calls = (long)(0.02 / (flop / 50e9)) + 1;
        for (int r = 0; r < ROUNDS; r++) {
            double t0 = now();
            for (long c = 0; c < calls; c++) {
                if (prec == 0)
                    apical_mm_f16(n, wh, x, n, nb, 0, m, out, m);
                else
                    apical_mm_f32(n, wf, x, n, nb, 0, m, out, m);
            }
            t[r] = (now() - t0) / (double)calls;
        }
        qsort(t, ROUNDS, sizeof t[0], cmp_double);
        const double med = t[ROUNDS / 2];
        const double bytes = (double)n * (double)m * (prec == 0 ? 2.0 : 4.0);
        printf("%4zu x %-4zu B %-3zu %s  %.3g FLOP %.3g B/call: median %8.2f us (best %8.2f) "
               "%6.1f GFLOP/s = %4.1f %% of the multiply-add rate\n",
               m, n, nb, prec == 0 ? "f16" : "f32", flop, bytes, med * 1e6, t[0] * 1e6,
               flop / med * 1e-9, 100.0 * flop / med * 1e-9 / peak);
    }
    double sum = 0;
    for (size_t i = 0; i < m * nb; i++)
        sum += out[i];
    if (sum != sum) /* the products are used */
        printf("nan\n");
    free(wf);
    free(x);
    free(wh);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    const double peak = fma_rate();
    printf("multiply-add rate of this core (12 independent 16-lane chains): %.1f GFLOP/s\n",
           peak);
    if (argc == 4)
        return bench((size_t)atol(argv[1]), (size_t)atol(argv[2]), (size_t)atol(argv[3]), peak);
    if (argc != 1) {
        fprintf(stderr, "usage: bench_mm [N M B]\n");
        return 2;
    }
    return bench(784, 500, 10, peak) || bench(500, 500, 10, peak) || bench(784, 500, 1, peak);
}
