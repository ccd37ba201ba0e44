/*
 * bench_step -- wall time of one Euler(-Maruyama) step with every pathway
 * plastic: bottom-up (Eq. 7), top-down (Eq. 10), pyramid-to-interneuron
 * (Eq. 8) and interneuron-to-pyramid (Eq. 9), noise on.
 *
 *   bench_step [SIZES [K [f32]]]  e.g. 784-500-500-10 16 f32; default: 30-50-10 and
 *                           784-500-500-10 with plasticity every step and in rank-16
 *                           batches, and the latter with single-precision dendrites
 *
 * Prints the median over repetitions of microseconds per step, with the
 * work per step (FLOP: 2 per multiply-add of the matrix-vector products,
 * 5 per plastic weight for W += dt eta Delta and the low-pass of Delta) and
 * the bytes of weight state streamed, so the rate can be held against the
 * machine's limits (MODEL.md 7, item 8).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apical_runner.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* YAML for L0-L1-...-out with interneurons, all pathways plastic. */
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
             "  integrator: {method: euler, dt: 0.1, plasticity_batch: %d, matvec: %s}\n"
             "  phases: [{train: x, patterns: 1, present: 100}]\n", batch, f32 ? "f32" : "f64");
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
    double flop = 0, bytes = 0;
    size_t nweights = 0;
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *p = &c->projs[i];
        if (p->one_to_one)
            continue;
        double nw = (double)(c->pops[p->src].n * c->pops[p->dst].n);
        nweights += (size_t)nw;
        flop += 2 * nw + (p->rule ? 5 * nw : 0);
        /* read W for the product; read and write W and Delta for the rule */
        bytes += 8 * nw + (p->rule ? 32 * nw : 0);
    }
    long steps = (long)fmax(100, 2e8 / flop); /* about 0.1-0.2 s per repetition */
    const unsigned flags = APICAL_STEP_PLASTIC | APICAL_STEP_NOISE;
    for (size_t i = 0; i < c->stims[0].size; i++)
        c->stims[0].x[i] = sin((double)i);
    c->stims[0].active = 1;
    apical_circuit_weights_changed(c);
    enum { REPS = 7 };
    double t[REPS];
    for (int r = -1; r < REPS; r++) { /* r = -1 warms up */
        double t0 = now();
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
        if (r >= 0)
            t[r] = (now() - t0) / (double)steps;
    }
    qsort(t, REPS, sizeof *t, cmp);
    char name[128];
    size_t u = 0;
    for (int k = 0; k < nl; k++)
        u += (size_t)snprintf(name + u, sizeof name - u, "%s%d", k ? "-" : "", sz[k]);
    printf("%-15s %s batch %2d %8zu weights %9.3g FLOP/step %6ld steps x %d: median %9.3f "
           "us/step (min %.3f, max %.3f) %6.2f GFLOP/s\n",
           name, f32 ? "f32" : "f64", batch, nweights, flop, steps, REPS, 1e6 * t[REPS / 2], 1e6 * t[0],
           1e6 * t[REPS - 1], flop / t[REPS / 2] * 1e-9);
    (void)bytes;
    apical_config_free(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    apical_registry *reg = apical_registry_new(NULL);
    int rc = 0;
    if (argc > 1) {
        int sz[16], nl = 0;
        int batch = argc > 2 ? atoi(argv[2]) : 1;
        int f32 = argc > 3 && !strcmp(argv[3], "f32");
        for (char *s = strtok(argv[1], "-"); s && nl < 16; s = strtok(NULL, "-"))
            sz[nl++] = atoi(s);
        rc = nl >= 2 && batch >= 1 ? bench(reg, sz, nl, batch, f32) : 2;
    } else {
        const int small[] = { 30, 50, 10 }, mnist[] = { 784, 500, 500, 10 };
        rc = bench(reg, small, 3, 1, 0) || bench(reg, small, 3, 16, 0) ||
             bench(reg, mnist, 4, 1, 0) || bench(reg, mnist, 4, 16, 0) ||
             bench(reg, mnist, 4, 16, 1);
    }
    apical_registry_free(reg);
    return rc;
}
