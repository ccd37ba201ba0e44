/*
 * Integrators: the assembled Jacobian against finite differences; every
 * stepper gives the same 50 ms trace of a three-layer circuit; implicit
 * steppers on a module without a Jacobian fall back to finite differences
 * and still match the exact solution.
 */
#include <math.h>
#include <stdio.h>

#include "testutil.h"

static apical_registry *reg;
static void setup(void) { reg = test_registry(); }
static void teardown(void) { apical_registry_free(reg); }

static const char *circuit_fmt =
    "apical: 1\n"
    "seed: 21\n"
    "populations:\n"
    "  in:  {cell: rate_input, size: 5}\n"
    "  hid: {cell: pyramidal, size: 6}\n"
    "  int: {cell: sst, size: 3}\n"
    "  out: {cell: pyramidal, size: 3, params: {g_A: 0}}\n"
    "projections:\n"
    "  - {from: in, to: hid.basal, init: {uniform: [-1.5, 1.5]}}\n"
    "  - {from: hid, to: out.basal, init: {uniform: [-1.5, 1.5]}}\n"
    "  - {from: out, to: hid.apical, init: {uniform: [-1.5, 1.5]}}\n"
    "  - {from: hid, to: int.dendrite, init: {uniform: [-1.5, 1.5]}}\n"
    "  - {from: int, to: hid.apical_inh, init: {uniform: [-1.5, 1.5]}}\n"
    "  - {from: out.u, to: int.nudge, connect: one_to_one}\n"
    "stimuli:\n"
    "  x: {kind: uniform, range: [-1, 1], drives: in}\n"
    "simulation:\n"
    "  integrator: {method: %s, dt: 0.01, rtol: 1e-10, atol: 1e-12}\n"
    "  phases: [{train: x, patterns: 1}]\n";

static apical_config load(const char *method)
{
    char text[4096], err[2048] = "";
    snprintf(text, sizeof text, circuit_fmt, method);
    apical_config cfg;
    ck_assert_msg(apical_config_load_string(&cfg, reg, method, text, err, sizeof err) == 0, "%s",
                  err);
    return cfg;
}

START_TEST(jacobian_matches_finite_differences)
{
    apical_config cfg = load("msbdf");
    apical_circuit *c = cfg.circuit;
    char err[1024];
    for (size_t i = 0; i < c->n_y; i++)
        c->y[i] = 0.8 * sin(2.3 * (double)i + 1.0);
    c->stims[0].active = 1;
    for (size_t i = 0; i < 5; i++)
        c->stims[0].x[i] = 0.3 * (double)i - 0.5;
    apical_integrator *it = apical_integrator_new(c, &cfg.run.integ, err, sizeof err);
    ck_assert_msg(it != NULL, "%s", err);
    size_t n = c->n_y;
    double *J = malloc(n * n * sizeof *J), *f0 = malloc(n * sizeof *f0),
           *f1 = malloc(n * sizeof *f1), *f2 = malloc(n * sizeof *f2), *y = malloc(n * sizeof *y);
    ck_assert_int_eq(apical_circuit_jacobian(it, c->y, J, err, sizeof err), 0);
    memcpy(y, c->y, n * sizeof *y);
    double worst = 0;
    size_t nonzero = 0;
    for (size_t k = 0; k < n; k++) { /* central differences, column k */
        const double h = 1e-6;
        y[k] += h;
        ck_assert_int_eq(apical_circuit_eval_at(c, y, f1, err, sizeof err), 0);
        y[k] -= 2 * h;
        ck_assert_int_eq(apical_circuit_eval_at(c, y, f2, err, sizeof err), 0);
        y[k] += h;
        for (size_t r = 0; r < n; r++) {
            double fd = (f1[r] - f2[r]) / (2 * h);
            worst = fmax(worst, fabs(fd - J[r * n + k]));
            nonzero += fabs(J[r * n + k]) > 1e-12;
        }
    }
    /* block diagonal plus every projection's couplings: many entries */
    ck_assert_uint_gt(nonzero, 100);
    ck_assert_double_lt(worst, 1e-7);
    (void)f0;
    free(J); free(f0); free(f1); free(f2); free(y);
    apical_integrator_free(it);
    apical_config_free(&cfg);
}
END_TEST

/* 50 ms from a fixed initial state and input, sampled every ms. */
enum { SAMPLES = 50, STEPS_PER_MS = 100 };

static void trace(const char *method, double *out, size_t *ny)
{
    apical_config cfg = load(method);
    apical_circuit *c = cfg.circuit;
    char err[1024];
    for (size_t i = 0; i < c->n_y; i++)
        c->y[i] = 0.5 * cos(1.3 * (double)i);
    c->stims[0].active = 1;
    for (size_t i = 0; i < 5; i++)
        c->stims[0].x[i] = 0.4 * (double)i - 0.9;
    apical_integrator *it = apical_integrator_new(c, &cfg.run.integ, err, sizeof err);
    ck_assert_msg(it != NULL, "%s", err);
    for (int s = 0; s < SAMPLES; s++) {
        for (int k = 0; k < STEPS_PER_MS; k++) {
            ck_assert_int_eq(apical_circuit_eval(c, err, sizeof err), 0);
            ck_assert_msg(apical_integrator_advance(it, cfg.run.dt, 0, err, sizeof err) == 0,
                          "%s: %s", method, err);
        }
        memcpy(out + (size_t)s * c->n_y, c->y, c->n_y * sizeof(double));
    }
    *ny = c->n_y;
    apical_integrator_free(it);
    apical_config_free(&cfg);
}

START_TEST(every_stepper_gives_the_same_trace)
{
    /* tolerances: adaptive GSL steppers at rtol 1e-10 agree to 1e-7, except
       first-order implicit Euler (rk1imp), whose step-doubling error
       estimate is loose: 1e-5; fixed-step first-order methods at
       dt 0.01 ms, O(dt): 1e-2 */
    static const struct { const char *m; double tol; } cases[] = {
        { "rk4", 1e-7 },    { "rkf45", 1e-7 },  { "rkck", 1e-7 },   { "rk2", 1e-7 },
        { "msadams", 1e-7 }, { "msbdf", 1e-7 }, { "bsimp", 1e-7 },  { "rk1imp", 1e-5 },
        { "rk2imp", 1e-7 }, { "rk4imp", 1e-7 }, { "euler", 1e-2 },  { "expeuler", 1e-2 },
    };
    size_t ny = 0, n2 = 0;
    double *ref = malloc(SAMPLES * 64 * sizeof(double)), *got = malloc(SAMPLES * 64 * sizeof(double));
    trace("rk8pd", ref, &ny);
    ck_assert_uint_le(ny, 64);
    double span = 0;
    for (size_t i = 0; i < SAMPLES * ny; i++)
        span = fmax(span, fabs(ref[i] - ref[i % ny]));
    ck_assert_double_gt(span, 0.1); /* the trace moves */
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        trace(cases[k].m, got, &n2);
        double worst = 0;
        for (size_t i = 0; i < SAMPLES * ny; i++)
            worst = fmax(worst, fabs(got[i] - ref[i]));
        fprintf(stderr, "%-9s largest difference to rk8pd over 50 ms: %.3g (tolerance %g)\n",
                cases[k].m, worst, cases[k].tol);
        ck_assert_msg(worst <= cases[k].tol, "%s: %g > %g", cases[k].m, worst, cases[k].tol);
    }
    free(ref);
    free(got);
}
END_TEST

START_TEST(implicit_steppers_without_module_jacobian)
{
    char file[2048], err[2048];
    snprintf(file, sizeof file, "%s/newer_minor.so", getenv("APICAL_TEST_MODULES"));
    ck_assert_msg(apical_registry_load_file(reg, file, err, sizeof err) == 0, "%s", err);
    const char *methods[] = { "msbdf", "bsimp", "rk2imp", "expeuler" };
    /* the circuit through the API: du/dt = -u, exact u0 e^-t */
    apical_circuit *c = apical_circuit_new(1);
    const apical_cell_model *m = test_cell(reg, "future_cell");
    ck_assert_ptr_null(m->jacobian);
    ck_assert_int_eq(apical_circuit_add_pop(c, "a", m, 2, err, sizeof err), 0);
    ck_assert_int_eq(apical_circuit_finalize(c, err, sizeof err), 0);
    for (int k = 0; k < 4; k++) {
        apical_integ_opts o = { .rtol = 1e-10, .atol = 1e-12 };
        snprintf(o.method, sizeof o.method, "%s", methods[k]);
        c->y[0] = 1.0;
        c->y[1] = -2.0;
        apical_integrator *it = apical_integrator_new(c, &o, err, sizeof err);
        ck_assert_msg(it != NULL, "%s", err);
        for (int s = 0; s < 20; s++) {
            ck_assert_int_eq(apical_circuit_eval(c, err, sizeof err), 0);
            ck_assert_msg(apical_integrator_advance(it, 0.1, 0, err, sizeof err) == 0, "%s", err);
        }
        /* expeuler is exact for a linear leak; its decay rate here comes
           from no Jacobian, so it is forward Euler: (1 - 0.1)^20 */
        double want = strcmp(methods[k], "expeuler") == 0 ? pow(0.9, 20) : exp(-2.0);
        ck_assert_double_eq_tol(c->y[0], want, 1e-8);
        ck_assert_double_eq_tol(c->y[1], -2 * want, 2e-8);
        apical_integrator_free(it);
    }
    apical_circuit_free(c);
}
END_TEST

/* The plastic circuit for 20 ms: its first weight matrix at the end. */
static void plastic_run(const char *integrator, double dt, double *w_out)
{
    char text[4096], err[2048] = "";
    snprintf(text, sizeof text,
             "apical: 1\nseed: 5\npopulations:\n"
             "  in:  {cell: rate_input, size: 4}\n"
             "  hid: {cell: pyramidal, size: 5}\n"
             "  int: {cell: sst, size: 3}\n"
             "  out: {cell: pyramidal, size: 3, params: {g_A: 0}}\n"
             "projections:\n"
             "  - {from: in, to: hid.basal, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 2, tau_w: 3}}}\n"
             "  - {from: hid, to: out.basal, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 2, tau_w: 3}}}\n"
             "  - {from: out, to: hid.apical, init: {uniform: [-1, 1]}}\n"
             "  - {from: hid, to: int.dendrite, init: {uniform: [-1, 1]}, rule: {dendritic_error: {eta: 2}}}\n"
             "  - {from: int, to: hid.apical_inh, init: {uniform: [-1, 1]}, rule: {apical_silence: {eta: 2}}}\n"
             "  - {from: out.u, to: int.nudge, connect: one_to_one}\n"
             "stimuli:\n  x: {kind: teacher, sizes: [4, 3], gains: [3], drives: in, target: out}\n"
             "simulation:\n  integrator: {%s, dt: %g, rtol: 1e-9, atol: 1e-11}\n"
             "  phases: [{train: x, patterns: 1, present: 20}]\n", integrator, dt);
    apical_config cfg;
    ck_assert_msg(apical_config_load_string(&cfg, reg, "plastic", text, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(apical_run(cfg.circuit, &cfg.run, err, sizeof err), 0);
    memcpy(w_out, cfg.circuit->projs[0].w, 20 * sizeof(double));
    apical_config_free(&cfg);
}

START_TEST(weights_in_the_ode_state_are_exact)
{
    double ref[20], state[20], beside[20], coarse[20];
    plastic_run("method: euler", 0.0005, ref);                  /* near-exact reference */
    plastic_run("method: rk4, weights: state", 0.1, state);
    plastic_run("method: rk4, weights: beside", 0.1, beside);
    plastic_run("method: euler", 0.1, coarse);
    double e_state = 0, e_beside = 0, e_coarse = 0;
    for (int i = 0; i < 20; i++) {
        e_state = fmax(e_state, fabs(state[i] - ref[i]));
        e_beside = fmax(e_beside, fabs(beside[i] - ref[i]));
        e_coarse = fmax(e_coarse, fabs(coarse[i] - ref[i]));
    }
    fprintf(stderr, "weights after 20 ms vs euler dt 0.0005: rk4 in state %.3g, rk4 beside %.3g, "
                    "euler dt 0.1 %.3g\n", e_state, e_beside, e_coarse);
    /* euler at dt 0.0005 is itself off by O(dt): in-state rk4 agrees with it
       to that order, the once-per-step schemes only to O(0.1) */
    ck_assert_double_lt(e_state, 0.1 * e_beside);
    ck_assert_double_lt(e_state, 0.1 * e_coarse);
    ck_assert_double_lt(e_state, 1e-3);
}
END_TEST

START_TEST(unknown_method_is_refused)
{
    apical_circuit *c = apical_circuit_new(1);
    char err[1024];
    ck_assert_int_eq(apical_circuit_add_pop(c, "a", test_cell(reg, "sst"), 2, err, sizeof err), 0);
    ck_assert_int_eq(apical_circuit_finalize(c, err, sizeof err), 0);
    apical_integ_opts o = { .method = "rk5" };
    ck_assert_ptr_null(apical_integrator_new(c, &o, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "unknown integrator 'rk5'"));
    ck_assert_ptr_nonnull(strstr(err, "msbdf"));
    apical_circuit_free(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integrate");
    TCase *t = tcase_create("integrate");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, jacobian_matches_finite_differences);
    tcase_add_test(t, every_stepper_gives_the_same_trace);
    tcase_add_test(t, implicit_steppers_without_module_jacobian);
    tcase_add_test(t, weights_in_the_ode_state_are_exact);
    tcase_add_test(t, unknown_method_is_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
