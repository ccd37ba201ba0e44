/*
 * Copies of the circuit side by side (simulation.batch): B copies fed the
 * same pattern without noise step exactly as one copy when the weights are
 * fixed, and stay bit-identical to each other (and within rounding of one
 * copy) when they learn; with noise each copy draws its own numbers, copy
 * 0 those of a single copy; the low-pass rules learn from the mean over
 * the copies of e_b r_b^T, checked against a hand computation; the
 * divergence check names the copy; what copies do not support is refused
 * by name.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

static apical_registry *reg;
static void setup(void) { reg = test_registry(); }
static void teardown(void) { apical_registry_free(reg); }

/* A small circuit with every kind of pathway (as tests/check_circuit.c),
   a target on the output, given batch and integrator. */
static apical_config load(size_t batch, const char *integ, double sigma)
{
    char text[4096], err[2048] = "";
    snprintf(text, sizeof text,
             "apical: 1\n"
             "seed: 3\n"
             "populations:\n"
             "  in:  {cell: rate_input, size: 3, params: {tau: 3}}\n"
             "  hid: {cell: pyramidal, size: 4}\n"
             "  int: {cell: sst, size: 2}\n"
             "  out: {cell: pyramidal, size: 2, params: {g_A: 0}}\n"
             "projections:\n"
             "  - {from: in,  to: hid.basal, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 0.3}}}\n"
             "  - {from: hid, to: out.basal, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 0.2}}}\n"
             "  - {from: out, to: hid.apical, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 0.1}}}\n"
             "  - {from: hid, to: int.dendrite, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 0.4}}}\n"
             "  - {from: int, to: hid.apical_inh, init: {uniform: [-1, 1]}, rule: {apical_silence: {eta: 0.5}}}\n"
             "  - {from: out.u, to: int.nudge, connect: one_to_one}\n"
             "stimuli:\n"
             "  pat: {kind: teacher, range: [0, 1], sizes: [3, 2], gains: [1], drives: in, "
             "target: out}\n"
             "simulation:\n"
             "  noise: {sigma: %g}\n"
             "  batch: %zu\n"
             "  integrator: {%s}\n"
             "  phases: [{train: pat, patterns: %zu}]\n",
             sigma, batch, integ, batch);
    apical_config cfg;
    int rc = apical_config_load_string(&cfg, reg, "batch", text, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    return cfg;
}

/* The pattern and target of copy b: pattern k of a fixed list. */
static void set_pattern(apical_circuit *c, size_t b, int k)
{
    apical_stim *s = &c->stims[0];
    for (size_t j = 0; j < s->size; j++)
        s->x[b * s->size + j] = 0.1 + 0.27 * (double)((j + 3 * (size_t)k) % 4);
    const size_t nt = c->pops[s->tgt].n;
    for (size_t j = 0; j < nt; j++)
        s->u_trgt[b * nt + j] = (k % 2 ? 0.8 : -0.5) + 0.3 * (double)j;
}

/* Integrate `steps` steps with every copy on pattern k (or pattern b for
   copy b with distinct), the target on. */
static void run(apical_config *cfg, long steps, unsigned flags, int distinct, int k)
{
    apical_circuit *c = cfg->circuit;
    char err[2048];
    apical_circuit_activate(c, 0, 1);
    for (size_t b = 0; b < c->copies; b++)
        set_pattern(c, b, distinct ? (int)b : k);
    apical_integrator *it = apical_integrator_new(c, &cfg->run.integ, err, sizeof err);
    ck_assert_msg(it != NULL, "%s", err);
    apical_circuit_weights_changed(c); /* reduced-precision copies from w (flushed back) */
    ck_assert_msg(apical_integrator_steps(it, c, cfg->run.dt, steps, flags, err, sizeof err) == 0,
                  "%s", err);
    apical_integrator_free(it);
}

static double rel_diff(const double *a, const double *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return s > 0 ? d / s : d;
}

static const char *const integrators[] = {
    "method: euler, dt: 0.1",
    "method: euler, dt: 0.1, plasticity_batch: 4",
    "method: euler, dt: 0.1, plasticity_batch: 4, matvec: f32_all",
    "method: euler, dt: 0.1, plasticity_batch: 4, matvec: f16",
    "method: expeuler, dt: 0.1",
    "method: rk4, dt: 0.1",
};
#define N_INTEG (sizeof integrators / sizeof *integrators)

/* B copies on one pattern, no noise: with fixed weights every copy's state
   is one copy's, bit for bit; learning, the copies stay bit-identical to
   each other, and the weights equal one copy's to rounding (the mean of B
   equal products, summed one after the other, rounds where one product
   does not). */
START_TEST(identical_copies_equal_one_copy)
{
    const size_t B = 3;
    for (size_t q = 0; q < N_INTEG; q++) {
        for (int plastic = 0; plastic < 2; plastic++) {
            apical_config one = load(1, integrators[q], 0), many = load(B, integrators[q], 0);
            apical_circuit *c1 = one.circuit, *cb = many.circuit;
            ck_assert_uint_eq(cb->n_y, B * c1->n_y);
            unsigned flags = plastic ? APICAL_STEP_PLASTIC : 0;
            for (int k = 0; k < 3; k++) { /* three patterns, 20 ms each */
                run(&one, 200, flags, 0, k);
                run(&many, 200, flags, 0, k);
            }
            double dy = 0, dw = 0;
            for (size_t b = 0; b < B; b++) {
                const double *yb = cb->y + b * cb->n_y1;
                if (!plastic)
                    ck_assert_msg(memcmp(yb, c1->y, c1->n_y * sizeof(double)) == 0,
                                  "%s: copy %zu differs from one copy", integrators[q], b);
                else
                    ck_assert_msg(memcmp(yb, cb->y, c1->n_y * sizeof(double)) == 0,
                                  "%s: copy %zu differs from copy 0", integrators[q], b);
                dy = fmax(dy, rel_diff(yb, c1->y, c1->n_y));
            }
            for (size_t i = 0; i < c1->n_projs; i++) {
                const apical_proj *p1 = &c1->projs[i], *pb = &cb->projs[i];
                if (!p1->rule)
                    continue;
                size_t nw = apical_proj_n_weights(c1, p1);
                dw = fmax(dw, rel_diff(pb->w, p1->w, nw));
                dw = fmax(dw, rel_diff(pb->aux, p1->aux, nw));
                if (!plastic)
                    ck_assert_mem_eq(pb->w, p1->w, nw * sizeof(double));
            }
            if (plastic)
                fprintf(stderr, "%s, %zu identical copies learning: state within %.2g, weights "
                                "within %.2g of one copy (relative)\n",
                        integrators[q], B, dy, dw);
            /* f32 storage rounds each batch's result to float, and with copies
               sums the k B products in float in BLAS's order: a few float ulps */
            double tol = strstr(integrators[q], "f32_all") || strstr(integrators[q], "f16")
                             ? 2e-5 : 1e-12;
            ck_assert_double_le(dy, tol);
            ck_assert_double_le(dw, tol);
            apical_config_free(&one);
            apical_config_free(&many);
        }
    }
}
END_TEST

/* With noise, each copy draws its own numbers: copy 0 those of one copy
   (the same key, the first numbers under it), the others different ones;
   the same seed gives the same numbers again. */
START_TEST(each_copy_has_its_own_noise)
{
    const size_t B = 3;
    apical_config one = load(1, "method: euler, dt: 0.1", 0.3);
    apical_config many = load(B, "method: euler, dt: 0.1", 0.3);
    apical_config again = load(B, "method: euler, dt: 0.1", 0.3);
    const unsigned f = APICAL_STEP_NOISE;
    run(&one, 100, f, 0, 1);
    run(&many, 100, f, 0, 1);
    run(&again, 100, f, 0, 1);
    apical_circuit *c1 = one.circuit, *cb = many.circuit;
    ck_assert_mem_eq(cb->y, c1->y, c1->n_y * sizeof(double));
    ck_assert_mem_eq(cb->y, again.circuit->y, cb->n_y * sizeof(double));
    for (size_t b = 1; b < B; b++)
        ck_assert_double_gt(rel_diff(cb->y + b * cb->n_y1, cb->y, c1->n_y), 1e-3);
    apical_config_free(&one);
    apical_config_free(&many);
    apical_config_free(&again);
}
END_TEST

/* The low-pass rules driven by the mean over the copies: two copies on
   different patterns, two Euler steps, every step apart or both in one
   rank-2 batch (rank 4 with the copies):
     W2 = W0 + s D0 + s D1,  D1 = q D0 + a M0,  D2 = q D1 + a M1,
   s = dt eta, a = dt / tau_w, q = 1 - a, M_t = mean_b e_b(t) r_b(t)^T, with
   e_b the post factor (err_basal, or v_rest - v_apical for apical_silence)
   and r_b the presynaptic rate of copy b at step t. */
START_TEST(mean_drive_by_hand)
{
    const double dt = 0.1, tau = 30;
    for (int batched = 0; batched < 2; batched++) {
        apical_config cfg = load(2, batched ? "method: euler, dt: 0.1, plasticity_batch: 2"
                                            : "method: euler, dt: 0.1", 0);
        apical_circuit *c = cfg.circuit;
        char err[2048];
        apical_circuit_activate(c, 0, 1);
        set_pattern(c, 0, 0);
        set_pattern(c, 1, 1);
        enum { NP = 5, MAXW = 16 };
        double w0[NP][MAXW], d0[NP][MAXW], m[2][NP][MAXW];
        for (size_t i = 0; i < NP; i++) {
            size_t nw = apical_proj_n_weights(c, &c->projs[i]);
            ck_assert_uint_le(nw, MAXW);
            memcpy(w0[i], c->projs[i].w, nw * sizeof(double));
            memcpy(d0[i], c->projs[i].aux, nw * sizeof(double));
        }
        /* the drive cannot come from one copy alone: the copies differ */
        for (int t = 0; t < 2; t++) {
            ck_assert_msg(apical_circuit_eval(c, err, sizeof err) == 0, "%s", err);
            for (size_t i = 0; i < NP; i++) {
                const apical_proj *pj = &c->projs[i];
                const apical_pop *s = &c->pops[pj->src], *d = &c->pops[pj->dst];
                const int silence = !strcmp(pj->rule->name, "apical_silence");
                for (size_t r = 0; r < d->n; r++)
                    for (size_t k = 0; k < s->n; k++) {
                        double sum = 0;
                        for (size_t b = 0; b < 2; b++) {
                            double post = d->obs[b * d->obs_blk + pj->post_obs * d->n + r];
                            double e = silence ? -post : post; /* v_rest 0 */
                            sum += e * s->obs[b * s->obs_blk + pj->src_obs * s->n + k];
                        }
                        m[t][i][r * s->n + k] = sum / 2;
                    }
            }
            ck_assert_msg(apical_circuit_advance_euler(c, dt, APICAL_STEP_PLASTIC, err,
                                                       sizeof err) == 0, "%s", err);
        }
        ck_assert_int_eq(apical_circuit_flush_plasticity(c, err, sizeof err), 0);
        const double eta[NP] = { 0.3, 0.2, 0.1, 0.4, 0.5 };
        double moved = 0;
        for (size_t i = 0; i < NP; i++) {
            const apical_proj *pj = &c->projs[i];
            size_t nw = apical_proj_n_weights(c, pj);
            const double s = dt * eta[i], a = dt / tau, q = 1 - a;
            for (size_t j = 0; j < nw; j++) {
                double d1 = q * d0[i][j] + a * m[0][i][j];
                double w2 = w0[i][j] + s * d0[i][j] + s * d1;
                double d2 = q * d1 + a * m[1][i][j];
                ck_assert_msg(fabs(pj->w[j] - w2) <= 1e-15 * (1 + fabs(w2)),
                              "projection %zu weight %zu: %.17g, by hand %.17g", i, j, pj->w[j],
                              w2);
                ck_assert_msg(fabs(pj->aux[j] - d2) <= 1e-15 * (1 + fabs(d2)),
                              "projection %zu Delta %zu: %.17g, by hand %.17g", i, j,
                              pj->aux[j], d2);
                /* and not what either copy alone would give */
                moved = fmax(moved, fabs(d2));
            }
        }
        ck_assert_double_gt(moved, 1e-6);
        apical_config_free(&cfg);
    }
}
END_TEST

/* The divergence check looks at every copy and names the one that left. */
START_TEST(divergence_names_the_copy)
{
    apical_config cfg = load(3, "method: euler, dt: 0.1", 0);
    apical_circuit *c = cfg.circuit;
    char err[2048] = "";
    run(&cfg, 10, APICAL_STEP_PLASTIC, 1, 0);
    ck_assert_int_eq(apical_circuit_check_finite(c, err, sizeof err), 0);
    const apical_pop *hid = &c->pops[1];
    c->y[2 * c->n_y1 + hid->y_off + 3] = NAN;
    ck_assert_int_eq(apical_circuit_check_finite(c, err, sizeof err), 1);
    ck_assert_msg(strstr(err, "population hid") && strstr(err, "cell 3 of copy 2"), "%s", err);
    apical_config_free(&cfg);
}
END_TEST

/* What copies do not support is refused, naming it. */
START_TEST(unsupported_with_copies_is_refused)
{
    static const struct {
        const char *set, *says;
    } bad[] = {
        { "simulation.integrator.method=rk4imp", "implicit stepper rk4imp" },
        { "simulation.integrator.method=msbdf", "implicit stepper msbdf" },
        { "simulation.phases.0.patterns=5", "not a multiple of the batch" },
        { "record.metrics.every=3", "record.metrics.every" },
    };
    char file[2048], err[2048];
    test_srcpath(file, sizeof file, "yaml/regression.yaml");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *sets[] = { "simulation.batch=4", "record.metrics.every=400",
                               "record.checkpoint.every=0", bad[i].set };
        apical_config cfg;
        ck_assert_int_ne(apical_config_load_file_set(&cfg, reg, file, sets, 4, err, sizeof err),
                         0);
        ck_assert_msg(strstr(err, bad[i].says) != NULL, "%s: %s", bad[i].set, err);
    }
    const char *ok[] = { "simulation.batch=4", "record.metrics.every=400",
                         "record.checkpoint.every=0" };
    apical_config cfg;
    ck_assert_msg(apical_config_load_file_set(&cfg, reg, file, ok, 3, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(cfg.circuit->copies, 4);
    apical_config_free(&cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batch");
    TCase *t = tcase_create("batch");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, identical_copies_equal_one_copy);
    tcase_add_test(t, each_copy_has_its_own_noise);
    tcase_add_test(t, mean_drive_by_hand);
    tcase_add_test(t, divergence_names_the_copy);
    tcase_add_test(t, unsupported_with_copies_is_refused);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
