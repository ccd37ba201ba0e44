/*
 * bench_epoch -- seconds per 55,000-image MNIST epoch of the steady-state
 * microcircuit (yaml/mnist.yaml) and of the backprop baseline
 * (yaml/mnist_backprop.yaml), in single and double precision, on one
 * thread and on two, with the achieved GFLOP/s held against this machine's
 * sgemm rate measured in the same run.
 *
 *   bench_epoch [IMAGES [REPS]]    default 11000 images, 3 repetitions
 *
 * BENCH_NET (microcircuit or backprop), BENCH_PREC (f32 or f64) and
 * BENCH_THREADS (1 or 2) in the environment restrict the table to the rows
 * they name (for A/B runs of two builds, interleaved).
 *
 * Times the training only (no evaluation): IMAGES images in mini-batches
 * of 10, REPS times; prints the median, scaled to 55,000 images.  FLOP are
 * counted by the engine: 2 per multiply-add of every weight product
 * (forward sweeps, weight updates, backpropagated errors).  Needs MNIST in
 * a data directory (scripts/mnist-data; docs/data.md) and APICAL_MODULE_PATH
 * (make bench-epoch).
 */
#include "config.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_cblas.h>

#include "apical_runner.h"
#include "openblas_core.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* sgemm rate (GFLOP/s) on 1024^3, best of three */
static double sgemm_rate(void)
{
    enum { N = 1024 };
    float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N),
          *c = malloc(sizeof(float) * N * N);
    for (size_t i = 0; i < (size_t)N * N; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N, 0.0f,
                    c, N);
        t = now() - t;
        if (r > 0 && t < best)
            best = t;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * N * N * N / best * 1e-9;
}

int main(int argc, char **argv)
{
    apical_openblas_coretype(argv);
    long images = argc > 1 ? atol(argv[1]) : 11000;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    if (images < 10 || images > 55000 || reps < 1) {
        fprintf(stderr, "usage: bench_epoch [IMAGES (10-55000) [REPS]]\n");
        return 2;
    }
    const char *src = getenv("APICAL_SRCDIR") ? getenv("APICAL_SRCDIR") : ".";
    apical_registry *reg = apical_registry_new(NULL);
    if (!reg)
        return 1;
    /* the machine: sgemm on one and on two OpenBLAS threads is set by the
       environment (OPENBLAS_NUM_THREADS); we report what it gives */
    double peak = sgemm_rate();
    apical_openblas_single_thread(); /* as apical run: no spinning BLAS threads */
    printf("machine: sgemm 1024^3 %.1f GFLOP/s (OpenBLAS, its default threads); %d OpenMP "
           "threads available\n", peak, omp_get_max_threads());
    printf("%-13s %-4s %7s %10s %10s %11s %9s %8s\n", "net", "prec", "threads", "images",
           "s/epoch", "GFLOP/epoch", "GFLOP/s", "of sgemm");
    const char *files[2] = { "yaml/mnist.yaml", "yaml/mnist_backprop.yaml" };
    const char *names[2] = { "microcircuit", "backprop" };
    const char *precs[2] = { "f32", "f64" };
    int threads[2] = { 1, omp_get_max_threads() > 1 ? 2 : 1 };
    for (int f = 0; f < 2; f++)
        for (int p = 0; p < 2; p++)
            for (int t = 0; t < 2; t++) {
                if (t == 1 && threads[1] == 1)
                    continue;
                const char *fn = getenv("BENCH_NET"), *fp = getenv("BENCH_PREC"),
                           *ft = getenv("BENCH_THREADS");
                if ((fn && strcmp(fn, names[f])) || (fp && strcmp(fp, precs[p])) ||
                    (ft && atoi(ft) != threads[t]))
                    continue;
                char path[4096], rows[64], prec[64], err[2048];
                snprintf(path, sizeof path, "%s/%s", src, files[f]);
                snprintf(rows, sizeof rows, "stimuli.train.rows=[0,%ld]", images);
                snprintf(prec, sizeof prec, "simulation.steady.precision=%s", precs[p]);
                const char *sets[] = { rows, prec };
                apical_config cfg;
                if (apical_config_load_file_set(&cfg, reg, path, sets, 2, err, sizeof err)) {
                    fprintf(stderr, "bench_epoch: %s\n", err);
                    return 1;
                }
                cfg.steady.threads = threads[t];
                apical_steady *s = apical_steady_new(cfg.circuit, &cfg.steady, err, sizeof err);
                if (!s) {
                    fprintf(stderr, "bench_epoch: %s\n", err);
                    return 1;
                }
                double *secs = malloc((size_t)reps * sizeof *secs), flop = 0;
                for (int r = 0; r < reps; r++) {
                    double f0 = apical_steady_flop(s), t0 = now();
                    if (apical_steady_train_epoch(s, NULL, err, sizeof err)) {
                        fprintf(stderr, "bench_epoch: %s\n", err);
                        return 1;
                    }
                    secs[r] = now() - t0;
                    flop = apical_steady_flop(s) - f0;
                }
                qsort(secs, (size_t)reps, sizeof *secs, cmp);
                double med = secs[reps / 2], scale = 55000.0 / (double)images;
                printf("%-13s %-4s %7d %10ld %10.2f %11.1f %9.1f %7.0f%%\n", names[f], precs[p],
                       threads[t], images, med * scale, flop * scale * 1e-9, flop / med * 1e-9,
                       100 * flop / med * 1e-9 / peak);
                fflush(stdout);
                free(secs);
                apical_steady_free(s);
                apical_config_free(&cfg);
            }
    apical_registry_free(reg);
    return 0;
}
