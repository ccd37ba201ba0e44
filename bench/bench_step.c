/*
 * bench_step -- wall time of one Euler(-Maruyama) step with every pathway
 * plastic: bottom-up (Eq. 7), top-down (Eq. 10), pyramid-to-interneuron
 * (Eq. 8) and interneuron-to-pyramid (Eq. 9), noise on.
 *
 *   bench_step [SIZES [K [f32|f16|bf16|f64 [B]]]]  e.g. 784-500-500-10 16 f32; B copies of the
 *                           state side by side (simulation.batch), one image each;
 *                           default: 30-50-10 and
 *                           784-500-500-10 with plasticity every step and in rank-16
 *                           batches, in rank-16 batches with single-precision weights
 *                           (matvec: f32_all: dendrites and learning in float), and
 *                           784-500-500-10 with half-precision copies for the dendrites
 *                           (matvec: f16, learning in float); bf16: as f16, the rules' rank-K
 *                           products from bfloat16 operands (rule_products: bf16)
 *
 *   BENCH_THREADS=N fixes the thread count of circuits past 2^18 weights (no probing:
 *   by default the engine times one and all threads every 4096 steps and keeps the
 *   count with the faster best step, which on a busy shared machine can be one).
 *   BENCH_MACHINE=0 skips measuring sgemm and the memory bandwidth (the shares print as
 *   nan): for a profile of the step alone.
 *
 * Prints the median over repetitions of microseconds per step, with the
 * work per step (FLOP: 2 per multiply-add of the matrix-vector products,
 * 5 per plastic weight for W += dt eta Delta and the low-pass of Delta) and
 * the bytes of weight state streamed, so the rate can be held against the
 * machine's limits (docs/model.md 7, item 8).  Bytes per step: the weights the
 * dendrites read (f64, or f32 copies) plus, once per batch, W and Delta read
 * and written (f64: 32 B per plastic weight, f32_all: 16 B).
 */
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <gsl/gsl_cblas.h>

#include "apical_runner.h"
#include "openblas_core.h"

/* This machine's limits, measured in the same run: OpenBLAS sgemm and dgemm
   rates (1024^3, its default threads), the bandwidth of a streaming triad on
   arrays far larger than the caches (DRAM), and of a two-thread triad on
   arrays of about the size of the big circuit's weights (24 MB: in this
   machine's L3, where those weights live between steps). */
static double peak_sgemm, peak_dgemm, bandwidth, bandwidth_l3, bandwidth_l3_1;

static double now(void);

static void measure_machine(void)
{
    enum { N = 1024 };
    float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N),
          *c = malloc(sizeof(float) * N * N);
    double *da = malloc(sizeof(double) * N * N), *db = malloc(sizeof(double) * N * N),
           *dc = malloc(sizeof(double) * N * N);
    for (size_t i = 0; i < (size_t)N * N; i++) {
        a[i] = b[i] = (float)(i % 7) * 0.1f;
        da[i] = db[i] = (double)(i % 5) * 0.1;
    }
    double best_s = 1e9, best_d = 1e9;
    for (int r = 0; r < 4; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, a, N, b, N, 0, c, N);
        double t1 = now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1, da, N, db, N, 0, dc, N);
        double t2 = now();
        best_s = fmin(best_s, t1 - t0);
        best_d = fmin(best_d, t2 - t1);
    }
    peak_sgemm = 2.0 * N * N * N / best_s * 1e-9;
    peak_dgemm = 2.0 * N * N * N / best_d * 1e-9;
    free(a); free(b); free(c); free(da); free(db); free(dc);
    const size_t n = (size_t)1 << 25; /* 3 arrays of 256 MB */
    double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double)),
           *z = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        x[i] = y[i] = z[i] = (double)(i & 7);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            x[i] = y[i] + 0.5 * z[i];
        best = fmin(best, now() - t0);
    }
    bandwidth = 3.0 * 8.0 * (double)n / best * 1e-9;
    const size_t nl = (size_t)1 << 20; /* 3 arrays of 8 MB */
    best = 1e9;
    for (int r = 0; r < 200; r++) { /* best of many: the machine is shared */
        double t0 = now();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < nl; i++)
            x[i] = y[i] + 0.5 * z[i];
        best = fmin(best, now() - t0);
    }
    bandwidth_l3 = 3.0 * 8.0 * (double)nl / best * 1e-9;
    best = 1e9;
    for (int r = 0; r < 50; r++) { /* and on one thread, if the others are busy */
        double t0 = now();
        for (size_t i = 0; i < nl; i++)
            x[i] = y[i] + 0.5 * z[i];
        best = fmin(best, now() - t0);
    }
    bandwidth_l3_1 = 3.0 * 8.0 * (double)nl / best * 1e-9;
    void *sym = dlsym(RTLD_DEFAULT, "openblas_get_corename");
    char *(*corename)(void) = NULL;
    if (sym)
        memcpy(&corename, &sym, sizeof sym);
    printf("machine: sgemm %.1f GFLOP/s, dgemm %.1f GFLOP/s (1024^3, OpenBLAS core %s%s, its threads); "
           "memory %.1f GB/s (DRAM triad), %.1f GB/s (%d-thread triad on 24 MB, L3), %.1f GB/s "
           "(1 thread, L3) "
           "(checksum %g)\n", peak_sgemm, peak_dgemm, corename ? corename() : "none",
           getenv("OPENBLAS_CORETYPE") ? " by OPENBLAS_CORETYPE" : "", bandwidth,
           bandwidth_l3, omp_get_max_threads(), bandwidth_l3_1, x[12345]);
    bandwidth_l3 = fmax(bandwidth_l3, bandwidth_l3_1); /* the reference: the better one */
    free(x); free(y); free(z);
}

static double now(void)
{
    /* monotonic seconds */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the process (all threads): on a shared machine, wall time
   includes the time others hold the cores; one thread's CPU time does not. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The weight storages benchmarked: double; float weights and learning
   (matvec: f32_all); half copies for the dendrites, float learning (f16);
   as f16, with the rules' products from bfloat16 operands (bf16). */
enum { F64, F32, F16, BF16 };
static const struct {
    const char *name, *matvec;
    double product_bytes, flush_bytes; /* per weight: read by the dendrites; W and Delta
                                          read and written by a flush (and the half copy) */
} prec[] = { { "f64", "f64", 8, 32 }, { "f32", "f32_all", 4, 16 }, { "f16", "f16", 2, 18 },
              { "bf16", "f16, rule_products: bf16", 2, 18 } };

/* YAML for L0-L1-...-out with interneurons, all pathways plastic. */
static int copies = 1; /* simulation.batch */

static void circuit_yaml(char *buf, size_t cap, const int *sz, int nl, int batch, int f32)
{
    size_t u = 0;
    u += (size_t)snprintf(buf + u, cap - u,
                          "apical: 1\nseed: 1\npopulations:\n"
                          "  L0: {cell: rate_input, size: %d}\n", sz[0]);
    for (int k = 1; k < nl; k++) {
        u += (size_t)snprintf(buf + u, cap - u, "  L%d: {cell: pyramidal, size: %d%s}\n", k,
                              sz[k], k == nl - 1 ? ", params: {g_A: 0}" : "");
        if (k < nl - 1)
            u += (size_t)snprintf(buf + u, cap - u, "  I%d: {cell: sst, size: %d}\n", k,
                                  sz[k + 1]);
    }
    u += (size_t)snprintf(buf + u, cap - u, "projections:\n");
    for (int k = 1; k < nl; k++) {
        u += (size_t)snprintf(buf + u, cap - u,
                              "  - {from: L%d, to: L%d.basal, init: {uniform: [-0.1, 0.1]}, "
                              "rule: {dendritic_error: {eta: 0.001}}}\n", k - 1, k);
        if (k == nl - 1)
            continue;
        u += (size_t)snprintf(buf + u, cap - u,
                              "  - {from: L%d, to: L%d.apical, init: {uniform: [-1, 1]}, "
                              "rule: {dendritic_error: {eta: 0.0001}}}\n"
                              "  - {from: L%d, to: I%d.dendrite, init: {uniform: [-1, 1]}, "
                              "rule: {dendritic_error: {eta: 0.001}}}\n"
                              "  - {from: I%d, to: L%d.apical_inh, init: {uniform: [-1, 1]}, "
                              "rule: {apical_silence: {eta: 0.005}}}\n"
                              "  - {from: L%d.u, to: I%d.nudge, connect: one_to_one}\n",
                              k + 1, k, k, k, k, k, k + 1, k);
    }
    snprintf(buf + u, cap - u,
             "stimuli:\n  x: {kind: uniform, range: [-1, 1], drives: L0}\n"
             "simulation:\n  noise: {sigma: 0.3}\n"
             "  batch: %d\n"
             "  integrator: {method: euler, dt: 0.1, plasticity_batch: %d, matvec: %s}\n"
             "  phases: [{train: x, patterns: %d, present: 100}]\n", copies, batch,
             prec[f32].matvec, copies);
}

static int bench(apical_registry *reg, const int *sz, int nl, int batch, int f32)
{
    static char yaml[16384];
    char err[2048];
    circuit_yaml(yaml, sizeof yaml, sz, nl, batch, f32);
    apical_config cfg;
    if (apical_config_load_string(&cfg, reg, "bench", yaml, err, sizeof err) != 0) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 1;
    }
    apical_circuit *c = cfg.circuit;
    const char *bt = getenv("BENCH_THREADS"); /* fix the thread count: no probing */
    int most = apical_circuit_threads(c);
    if (bt && atoi(bt) >= 1 && most > 1 &&
        apical_circuit_set_threads(c, atoi(bt) < most ? atoi(bt) : most, err, sizeof err) != 0) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 1;
    }
    double flop = 0, bytes = 0;
    size_t nweights = 0;
    for (size_t i = 0; i < apical_circuit_n_projs(c); i++) {
        const apical_proj *p = apical_circuit_proj_at(c, i);
        double nw = (double)apical_proj_n_weights(c, p);
        int plastic = apical_proj_rule(p) != NULL;
        nweights += (size_t)nw;
        /* per copy a product (2 per weight) and its term of the mean drive (2);
           W += dt eta Delta and the decay of Delta once (3) */
        flop += 2 * nw * copies + (plastic ? (3 + 2.0 * copies) * nw : 0);
        /* read W for the product; read and write W and Delta for the rule */
        bytes += 8 * nw + (plastic ? 32 * nw : 0);
    }
    long steps = (long)fmax(copies > 1 ? 64 : 800, 2e8 / flop); /* about 0.1-0.3 s per repetition */
    const unsigned flags = APICAL_STEP_PLASTIC | APICAL_STEP_NOISE;
    apical_stim *st = apical_circuit_stim_at(c, 0);
    double *x = apical_stim_pattern(st);
    for (size_t i = 0; i < apical_stim_size(st) * (size_t)copies; i++)
        x[i] = sin((double)i);
    apical_circuit_activate(c, 0, 0);
    apical_circuit_weights_changed(c);
    enum { REPS = 7 };
    double t[REPS], cpu[REPS];
    for (int r = -1; r < REPS; r++) { /* r = -1 warms up */
        double t0 = now(), c0 = cpu_now();
        for (long s = 0; s < steps; s++)
            if (apical_circuit_step_euler(c, 0.1, flags, err, sizeof err) != 0) {
                fprintf(stderr, "bench_step: %s\n", err);
                apical_config_free(&cfg);
                return 1;
            }
        if (apical_circuit_flush_plasticity(c, err, sizeof err) != 0) {
            fprintf(stderr, "bench_step: %s\n", err);
            apical_config_free(&cfg);
            return 1;
        }
        if (r >= 0) {
            t[r] = (now() - t0) / (double)steps;
            cpu[r] = (cpu_now() - c0) / (double)steps;
        }
    }
    qsort(t, REPS, sizeof *t, cmp);
    qsort(cpu, REPS, sizeof *cpu, cmp);
    char name[128];
    size_t u = 0;
    for (int k = 0; k < nl; k++)
        u += (size_t)snprintf(name + u, sizeof name - u, "%s%d", k ? "-" : "", sz[k]);
    /* weight traffic per step: f32 copies or f64 weights read once; the
       rules' W and Delta read and written once per batch */
    double plastic = 0;
    for (size_t i = 0; i < apical_circuit_n_projs(c); i++)
        if (apical_proj_rule(apical_circuit_proj_at(c, i)))
            plastic += (double)apical_proj_n_weights(c, apical_circuit_proj_at(c, i));
    bytes = prec[f32].product_bytes * (double)nweights + prec[f32].flush_bytes * plastic / batch;
    double med = t[REPS / 2], gf = flop / med * 1e-9, gb = bytes / med * 1e-9;
    char cp[64] = "";
    if (copies > 1)
        snprintf(cp, sizeof cp, " B %d (%.3f us/image-step)", copies, 1e6 * med / copies);
    printf("%-15s %s batch %2d%s %8zu weights %9.3g FLOP %8.3g B/step %6ld steps x %d: median "
           "%9.3f us/step = %8.0f steps/s (min %.3f, max %.3f us; cpu %.3f us) %6.2f GFLOP/s (%.1f %% of "
           "%sgemm) %6.2f GB/s (%.0f %% of L3 triad, %.0f %% of DRAM triad)\n",
           name, prec[f32].name, batch, cp, nweights, flop, bytes, steps, REPS, 1e6 * med,
           1.0 / med, 1e6 * t[0], 1e6 * t[REPS - 1], 1e6 * cpu[REPS / 2], gf,
           100 * gf / (f32 ? peak_sgemm : peak_dgemm), f32 ? "s" : "d", gb,
           100 * gb / bandwidth_l3, 100 * gb / bandwidth);
    apical_config_free(&cfg);
    return 0;
}

static void print_load(const char *when)
{
    double l[3];
    if (getloadavg(l, 3) == 3)
        printf("load average %s: %.2f %.2f %.2f (%d threads for OpenMP)\n", when, l[0], l[1],
               l[2], omp_get_max_threads());
}

int main(int argc, char **argv)
{
    apical_openblas_coretype(argv);
    apical_registry *reg = apical_registry_new(NULL);
    int rc = 0;
    print_load("before");
    const char *bm = getenv("BENCH_MACHINE");
    if (bm && !strcmp(bm, "0"))
        peak_sgemm = peak_dgemm = bandwidth = bandwidth_l3 = NAN;
    else
        measure_machine();
    apical_openblas_single_thread(); /* after sgemm/dgemm: no spinning BLAS threads */
    if (argc > 1) {
        int sz[16], nl = 0;
        int batch = argc > 2 ? atoi(argv[2]) : 1;
        int f32 = F64;
        for (int k = F32; argc > 3 && k <= BF16; k++)
            if (!strcmp(argv[3], prec[k].name))
                f32 = k;
        copies = argc > 4 && atoi(argv[4]) >= 1 ? atoi(argv[4]) : 1;
        for (char *s = strtok(argv[1], "-"); s && nl < 16; s = strtok(NULL, "-"))
            sz[nl++] = atoi(s);
        rc = nl >= 2 && batch >= 1 ? bench(reg, sz, nl, batch, f32) : 2;
    } else {
        const int small[] = { 30, 50, 10 }, mnist[] = { 784, 500, 500, 10 };
        rc = bench(reg, small, 3, 1, F64) || bench(reg, small, 3, 16, F64) ||
             bench(reg, small, 3, 16, F32) || bench(reg, mnist, 4, 1, F64) ||
             bench(reg, mnist, 4, 16, F64) || bench(reg, mnist, 4, 16, F32) ||
             bench(reg, mnist, 4, 16, F16);
    }
    print_load("after");
    apical_registry_free(reg);
    return rc;
}
