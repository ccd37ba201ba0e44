/*
 * Projections delayed by one step (delay: 1, docs/yaml.md): a delayed
 * projection carries its source's observable of the step before (0 in the
 * first step), and its rule reads that value as the presynaptic one.  The
 * convention of NEST's delayed rate connections (docs/nest.md).
 *
 * The circuit: an input cell a (rate_input, tau 3, drive 0.7) and a
 * pyramid b (pyramidal, defaults);
 *   a.rate -> b.basal   weight 0.6, dendritic_error (eta 0.05, tau_w 2), delay 1
 *   b.rate -> b.apical  weight -0.5, fixed, delay 1 (a loop onto itself)
 * against the same equations written out here, step for step.
 */
#include <stdio.h>
#include <stdlib.h>

#include "apical_config.h"
#include "testutil.h"

static const char *circuit_yaml(int delay)
{
    static char buf[2048];
    snprintf(buf, sizeof buf,
             "apical: 1\n"
             "populations:\n"
             "  a: {cell: rate_input, size: 1, params: {tau: 3}}\n"
             "  b: {cell: pyramidal, size: 1}\n"
             "projections:\n"
             "  - {from: a, to: b.basal, init: {constant: 0.6}, delay: %d,\n"
             "     rule: {dendritic_error: {eta: 0.05, tau_w: 2}}}\n"
             "  - {from: b, to: b.apical, init: {constant: -0.5}, delay: %d}\n"
             "stimuli:\n"
             "  x: {kind: uniform, drives: a}\n"
             "simulation:\n"
             "  phases: [{train: x, patterns: 1}]\n",
             delay, delay);
    return buf;
}

static double logistic(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* The circuit written out: steps of forward Euler with the delayed values
   ra_prev, rb_prev; the low-pass rule as models/lowpass_hebb.h steps it
   (W with the old Delta, then Delta). */
typedef struct hand {
    double r, u, w, d, ra_prev, rb_prev;
} hand;

static void hand_step(hand *h, double dt, int delay)
{
    const double glk = 0.1, gb = 1.0, ga = 0.8, tau = 3, x = 0.7, eta = 0.05, tau_w = 2;
    const double ra = h->r, rb = logistic(h->u);
    const double pre_a = delay ? h->ra_prev : ra, pre_b = delay ? h->rb_prev : rb;
    const double vb = h->w * pre_a, va = -0.5 * pre_b;
    const double cb = gb / (glk + gb + ga);
    const double e = rb - logistic(cb * vb);
    const double a = dt / tau_w, ae = a * e;
    h->w += dt * eta * h->d;
    h->d += ae * pre_a - a * h->d;
    h->ra_prev = ra;
    h->rb_prev = rb;
    const double dr = (x - h->r) / tau;
    const double du = -glk * h->u + gb * (vb - h->u) + ga * (va - h->u);
    h->r += dt * dr;
    h->u += dt * du;
}

/* Run the circuit and the hand reference `steps` Euler steps of 0.1 ms;
   the largest difference of r, u and W over the run. */
static double run(int delay, long steps, double *w_end)
{
    char err[1024] = "";
    apical_registry *reg = test_registry();
    apical_config cfg;
    int rc = apical_config_load_string(&cfg, reg, "delay.yaml", circuit_yaml(delay), err,
                                       sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    apical_circuit *c = cfg.circuit;
    ck_assert_int_eq(apical_proj_delay(apical_circuit_proj_at(c, 0)), delay);
    ck_assert_int_eq(apical_proj_delay(apical_circuit_proj_at(c, 1)), delay);
    apical_stim *s = apical_circuit_stim(c, "x", NULL);
    apical_stim_pattern(s)[0] = 0.7;
    apical_circuit_activate(c, 0, 0);
    const apical_pop *a = apical_circuit_pop(c, "a", NULL), *b = apical_circuit_pop(c, "b", NULL);
    double *r = apical_pop_state(c, a, 0), *u = apical_pop_state(c, b, 0);
    const double *w = apical_proj_weights(apical_circuit_proj_at(c, 0));
    hand h = { 0, 0, 0.6, 0, 0, 0 };
    *r = 0;
    *u = 0;
    double worst = 0;
    for (long t = 0; t < steps; t++) {
        ck_assert_msg(apical_circuit_step_euler(c, 0.1, APICAL_STEP_PLASTIC, err, sizeof err) == 0,
                      "%s", err);
        hand_step(&h, 0.1, delay);
        worst = fmax(worst, fabs(*r - h.r));
        worst = fmax(worst, fabs(*u - h.u));
        worst = fmax(worst, fabs(*w - h.w));
    }
    *w_end = *w;
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return worst;
}

START_TEST(delayed_equals_hand)
{
    double w1, w0;
    double d1 = run(1, 3000, &w1);
    printf("delay 1: largest difference from the hand computation over 3000 steps: %.3g\n", d1);
    ck_assert_msg(d1 < 1e-13, "delay 1: %g", d1);
    double d0 = run(0, 3000, &w0);
    printf("delay 0: largest difference from the hand computation over 3000 steps: %.3g\n", d0);
    ck_assert_msg(d0 < 1e-13, "delay 0: %g", d0);
    /* the delay changes the trajectory */
    ck_assert_msg(fabs(w1 - w0) > 1e-6, "W with and without the delay: %.17g %.17g", w1, w0);
}
END_TEST

/* A value that is neither 0 nor 1, or a stepper other than euler, is
   refused at the projection. */
START_TEST(refused)
{
    char err[1024] = "";
    apical_registry *reg = test_registry();
    apical_config cfg;
    const char *two[] = { "projections.a-b.delay=2" };
    ck_assert_int_ne(apical_config_load_string_set(&cfg, reg, "delay.yaml", circuit_yaml(1), two,
                                                   1, err, sizeof err),
                     0);
    ck_assert_msg(strstr(err, "delay is 0 or 1 step") != NULL, "%s", err);
    const char *rk4[] = { "simulation.integrator.method=rk4" };
    ck_assert_int_ne(apical_config_load_string_set(&cfg, reg, "delay.yaml", circuit_yaml(1), rk4,
                                                   1, err, sizeof err),
                     0);
    ck_assert_msg(strstr(err, "needs mode dynamics and integrator euler") != NULL, "%s", err);
    const char *rk4_0[] = { "simulation.integrator.method=rk4" };
    ck_assert_msg(apical_config_load_string_set(&cfg, reg, "delay.yaml", circuit_yaml(0), rk4_0,
                                                1, err, sizeof err) == 0,
                  "%s", err);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("delay");
    TCase *tc = tcase_create("delay");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, delayed_equals_hand);
    tcase_add_test(tc, refused);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
