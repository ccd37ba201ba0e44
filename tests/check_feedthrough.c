/*
 * Direct feedthrough: projections that carry a port-stage observable, here
 * the prospective rate phi(u + tau_p du/dt) of tests/conformance/prospective.c.
 *
 * The circuit: populations added in the order c, b, a (so the evaluation
 * order is not the order they were added in):
 *   drive -> a.drive (a stimulus held fixed)
 *   a.rate_pro -> b.input    feedthrough
 *   b.rate_pro -> c.input    feedthrough
 *   a.rate     -> c.input    state stage
 *   c.rate     -> a.input    state stage (a loop, but not an instantaneous one)
 * Its trajectory against the same equations written out here: forward Euler
 * step for step, and for the implicit GSL steppers a fine-step RK4.  The
 * Jacobian the integrator assembles from jacobian_obs against central
 * differences of the whole vector field; instantaneous loops refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

enum { NA = 3, NB = 2, NC = 2, NY = NA + NB + NC };

static const double TAU[3] = { 10, 4, 6 }, TAU_P[3] = { 5, 8, 3 }, BETA[3] = { 1, 2, 1.5 };
static const double DRIVE[NA] = { 0.8, -0.4, 1.3 };
static const double W_AB[NB][NA] = { { 1.2, -0.7, 0.4 }, { -0.3, 0.9, 1.1 } };
static const double W_BC[NC][NB] = { { 1.5, -0.8 }, { 0.6, 1.0 } };
static const double W_AC[NC][NA] = { { 0.2, 0.3, -0.5 }, { -0.4, 0.1, 0.25 } };
static const double W_CA[NA][NC] = { { 0.7, -0.2 }, { 0.3, 0.5 }, { -0.6, 0.4 } };

static double logistic(double beta, double x)
{
    return 1.0 / (1.0 + exp(-beta * x));
}

/* The prospective rate of a cell of population k: phi(u + tau_p du/dt). */
static double pro(int k, double u, double in)
{
    double dudt = (-u + in) / TAU[k];
    return logistic(BETA[k], u + TAU_P[k] * dudt);
}

/* The circuit's vector field, written out: y = (u_a, u_b, u_c). */
static void field(const double *y, double *f)
{
    const double *ua = y, *ub = y + NA, *uc = y + NA + NB;
    double ia[NA], ra[NA], ib[NB], rb[NB], ic[NC];
    for (int i = 0; i < NA; i++) {
        ia[i] = DRIVE[i];
        for (int j = 0; j < NC; j++)
            ia[i] += W_CA[i][j] * logistic(BETA[2], uc[j]);
        ra[i] = pro(0, ua[i], ia[i]);
    }
    for (int i = 0; i < NB; i++) {
        ib[i] = 0;
        for (int j = 0; j < NA; j++)
            ib[i] += W_AB[i][j] * ra[j];
        rb[i] = pro(1, ub[i], ib[i]);
    }
    for (int i = 0; i < NC; i++) {
        ic[i] = 0;
        for (int j = 0; j < NB; j++)
            ic[i] += W_BC[i][j] * rb[j];
        for (int j = 0; j < NA; j++)
            ic[i] += W_AC[i][j] * logistic(BETA[0], ua[j]);
    }
    for (int i = 0; i < NA; i++)
        f[i] = (-ua[i] + ia[i]) / TAU[0];
    for (int i = 0; i < NB; i++)
        f[NA + i] = (-ub[i] + ib[i]) / TAU[1];
    for (int i = 0; i < NC; i++)
        f[NA + NB + i] = (-uc[i] + ic[i]) / TAU[2];
}

static void hand_euler(double *y, double dt, long steps)
{
    double f[NY];
    for (long t = 0; t < steps; t++) {
        field(y, f);
        for (int k = 0; k < NY; k++)
            y[k] += dt * f[k];
    }
}

static void hand_rk4(double *y, double dt, long steps)
{
    double k1[NY], k2[NY], k3[NY], k4[NY], z[NY];
    for (long t = 0; t < steps; t++) {
        field(y, k1);
        for (int k = 0; k < NY; k++)
            z[k] = y[k] + 0.5 * dt * k1[k];
        field(z, k2);
        for (int k = 0; k < NY; k++)
            z[k] = y[k] + 0.5 * dt * k2[k];
        field(z, k3);
        for (int k = 0; k < NY; k++)
            z[k] = y[k] + dt * k3[k];
        field(z, k4);
        for (int k = 0; k < NY; k++)
            y[k] += dt / 6 * (k1[k] + 2 * k2[k] + 2 * k3[k] + k4[k]);
    }
}

static const double Y0[NY] = { 0.1, -0.2, 0.3, 0.5, -0.1, 0.2, -0.3 };

static apical_registry *feed_registry(void)
{
    const char *b = getenv("APICAL_BUILDDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/conformance/.libs", b ? b : ".");
    apical_registry *r = apical_registry_new(dir);
    ck_assert_ptr_nonnull(r);
    return r;
}

static void set_weights(apical_circuit *c, const char *name, const double *w, size_t n)
{
    apical_proj *pj = apical_circuit_proj(c, name, NULL);
    ck_assert_ptr_nonnull(pj);
    memcpy(apical_proj_weights(pj), w, n * sizeof(double));
    apical_proj_weights_changed(c, pj);
}

#define OK(call) ck_assert_msg((call) == 0, "%s", err)

/* The circuit above; the state in the order a, b, c of the hand reference
   is at y_off of each population (added c, b, a). */
static apical_circuit *build(const apical_cell_model *m)
{
    char err[1024] = "";
    apical_circuit *c = apical_circuit_new(1);
    const char *names[3] = { "a", "b", "c" };
    const size_t sizes[3] = { NA, NB, NC };
    for (int k = 2; k >= 0; k--) {
        OK(apical_circuit_add_pop(c, names[k], m, sizes[k], err, sizeof err));
        apical_pop *p = apical_circuit_pop(c, names[k], NULL);
        OK(apical_pop_set_param(p, "tau", TAU[k], err, sizeof err));
        OK(apical_pop_set_param(p, "tau_p", TAU_P[k], err, sizeof err));
        OK(apical_pop_set_param(p, "beta", BETA[k], err, sizeof err));
    }
    OK(apical_circuit_add_proj(c, "a", "rate_pro", "b", "input", 0, NULL, err, sizeof err));
    OK(apical_circuit_add_proj(c, "b", "rate_pro", "c", "input", 0, NULL, err, sizeof err));
    OK(apical_circuit_add_proj(c, "a", "rate", "c", "input", 0, NULL, err, sizeof err));
    OK(apical_proj_set_name(c, apical_circuit_proj_at(c, 2), "a-c-state", err, sizeof err));
    OK(apical_circuit_add_proj(c, "c", "rate", "a", "input", 0, NULL, err, sizeof err));
    OK(apical_circuit_add_stim_uniform(c, "x", -1, 1, "a", "drive", err, sizeof err));
    OK(apical_circuit_finalize(c, err, sizeof err));
    set_weights(c, "a-b", &W_AB[0][0], NB * NA);
    set_weights(c, "b-c", &W_BC[0][0], NC * NB);
    set_weights(c, "a-c-state", &W_AC[0][0], NC * NA);
    set_weights(c, "c-a", &W_CA[0][0], NA * NC);
    apical_stim *s = apical_circuit_stim(c, "x", NULL);
    memcpy(apical_stim_pattern(s), DRIVE, sizeof DRIVE);
    apical_circuit_activate(c, 0, 0);
    return c;
}

/* The circuit's state <-> the hand reference's (a, b, c). */
static void get_y(apical_circuit *c, double *y)
{
    const char *names[3] = { "a", "b", "c" };
    const size_t off[3] = { 0, NA, NA + NB }, sizes[3] = { NA, NB, NC };
    for (int k = 0; k < 3; k++)
        memcpy(y + off[k], apical_pop_state(c, apical_circuit_pop(c, names[k], NULL), 0),
               sizes[k] * sizeof(double));
}

static void put_y(apical_circuit *c, const double *y)
{
    const char *names[3] = { "a", "b", "c" };
    const size_t off[3] = { 0, NA, NA + NB }, sizes[3] = { NA, NB, NC };
    for (int k = 0; k < 3; k++)
        memcpy(apical_pop_state(c, apical_circuit_pop(c, names[k], NULL), 0), y + off[k],
               sizes[k] * sizeof(double));
}

static apical_integrator *integrator(apical_circuit *c, const char *method)
{
    char err[1024] = "";
    apical_integ_opts o = { "", 1e-11, 1e-11, 0.01, 0, 0 };
    snprintf(o.method, sizeof o.method, "%s", method);
    apical_integrator *it = apical_integrator_new(c, &o, err, sizeof err);
    ck_assert_msg(it != NULL, "%s", err);
    return it;
}

/* Run `method` for `blocks` blocks of `steps` steps of dt, comparing with
   ref (which advances the hand state one block) after each; the largest
   difference. */
static double run_against(const char *method, double dt, long steps, int blocks,
                          void (*ref)(double *, double, long), double ref_dt)
{
    char err[1024] = "";
    apical_registry *r = feed_registry();
    apical_circuit *c = build(test_cell(r, "prospective"));
    put_y(c, Y0);
    apical_integrator *it = integrator(c, method);
    double yh[NY], yc[NY], worst = 0;
    memcpy(yh, Y0, sizeof yh);
    for (int b = 0; b < blocks; b++) {
        OK(apical_integrator_steps(it, c, dt, steps, 0, err, sizeof err));
        ref(yh, ref_dt, (long)llround(steps * dt / ref_dt));
        get_y(c, yc);
        for (int k = 0; k < NY; k++)
            worst = fmax(worst, fabs(yc[k] - yh[k]));
    }
    double moved = 0;
    for (int k = 0; k < NY; k++)
        moved = fmax(moved, fabs(yh[k] - Y0[k]));
    ck_assert_msg(moved > 0.1, "the reference hardly moves (%g)", moved);
    fprintf(stderr, "%s, dt %g, %g ms: largest difference from the hand reference %.3g\n", method,
            dt, dt * steps * blocks, worst);
    apical_integrator_free(it);
    apical_circuit_free(c);
    apical_registry_free(r);
    return worst;
}

START_TEST(euler_matches_hand_euler)
{
    /* the same arithmetic in another order: rounding only */
    ck_assert_double_le(run_against("euler", 0.1, 50, 8, hand_euler, 0.1), 1e-13);
}
END_TEST

START_TEST(implicit_steppers_match_fine_reference)
{
    static const char *const methods[] = { "bsimp", "msbdf", "rk2imp" };
    for (int k = 0; k < 3; k++)
        ck_assert_double_le(run_against(methods[k], 0.5, 10, 8, hand_rk4, 1e-3), 1e-7);
}
END_TEST

/* The assembled Jacobian (jacobian_obs chained through the feedthrough
   projections in order) against central differences of the vector field;
   without jacobian_obs the integrator's finite differences. */
static double jacobian_error(const apical_cell_model *m)
{
    char err[1024] = "";
    apical_circuit *c = build(m);
    put_y(c, Y0);
    apical_integrator *it = integrator(c, "bsimp");
    size_t n;
    double *y = apical_circuit_state(c, &n);
    ck_assert_uint_eq(n, NY);
    double J[NY * NY], yp[NY], ym[NY], fp[NY], fm[NY], worst = 0;
    OK(apical_circuit_jacobian(it, y, J, err, sizeof err));
    for (size_t k = 0; k < n; k++) {
        memcpy(yp, y, sizeof yp);
        memcpy(ym, y, sizeof ym);
        yp[k] += 1e-6;
        ym[k] -= 1e-6;
        OK(apical_circuit_eval_at(c, yp, fp, err, sizeof err));
        OK(apical_circuit_eval_at(c, ym, fm, err, sizeof err));
        for (size_t r = 0; r < n; r++)
            worst = fmax(worst, fabs(J[r * n + k] - (fp[r] - fm[r]) / 2e-6));
    }
    /* the feedthrough paths are there: d f_c / d u_a through b's prospective rate */
    apical_integrator_free(it);
    apical_circuit_free(c);
    return worst;
}

START_TEST(jacobian_through_feedthrough)
{
    apical_registry *r = feed_registry();
    const apical_cell_model *m = test_cell(r, "prospective");
    double exact = jacobian_error(m);
    apical_cell_model fd = *m;
    fd.jacobian_obs = NULL;
    double diff = jacobian_error(&fd);
    fprintf(stderr, "Jacobian against central differences: with jacobian_obs %.3g, "
            "without (finite differences) %.3g\n", exact, diff);
    ck_assert_double_le(exact, 1e-8);
    ck_assert_double_le(diff, 1e-5);
    /* and a path through two feedthrough projections is in it: u_a moves c */
    char err[1024] = "";
    apical_circuit *c = build(m);
    put_y(c, Y0);
    apical_integrator *it = integrator(c, "bsimp");
    double J[NY * NY];
    OK(apical_circuit_jacobian(it, apical_circuit_state(c, NULL), J, err, sizeof err));
    const apical_pop *pa = apical_circuit_pop(c, "a", NULL), *pc = apical_circuit_pop(c, "c", NULL);
    ck_assert_double_ne(J[pc->y_off * NY + pa->y_off], 0);
    apical_integrator_free(it);
    apical_circuit_free(c);
    apical_registry_free(r);
}
END_TEST

START_TEST(instantaneous_loop_refused)
{
    char err[1024] = "";
    apical_registry *r = feed_registry();
    const apical_cell_model *m = test_cell(r, "prospective");
    apical_circuit *c = apical_circuit_new(1);
    OK(apical_circuit_add_pop(c, "p", m, 2, err, sizeof err));
    OK(apical_circuit_add_pop(c, "q", m, 2, err, sizeof err));
    OK(apical_circuit_add_pop(c, "s", m, 2, err, sizeof err));
    OK(apical_circuit_add_proj(c, "s", "rate_pro", "p", "input", 0, NULL, err, sizeof err));
    OK(apical_circuit_add_proj(c, "p", "rate_pro", "q", "input", 0, NULL, err, sizeof err));
    OK(apical_circuit_add_proj(c, "q", "rate_pro", "p", "input", 0, NULL, err, sizeof err));
    ck_assert_int_ne(apical_circuit_finalize(c, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "projection p-q: an instantaneous loop through feedthrough "
                         "projections: p -> q -> p (p.rate_pro -> q.input, q.rate_pro -> "
                         "p.input)") != NULL, "%s", err);
    apical_circuit_free(c);

    /* a population feeding itself */
    c = apical_circuit_new(1);
    OK(apical_circuit_add_pop(c, "p", m, 2, err, sizeof err));
    OK(apical_circuit_add_proj(c, "p", "rate_pro", "p", "input", 0, NULL, err, sizeof err));
    ck_assert_int_ne(apical_circuit_finalize(c, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "loop through feedthrough projections: p -> p (p.rate_pro -> "
                         "p.input)") != NULL, "%s", err);
    apical_circuit_free(c);

    /* from YAML: located at a projection of the loop */
    static const char yaml[] =
        "apical: 1\n"
        "simulation:\n"
        "  phases: [{train: x, patterns: 1}]\n"
        "stimuli:\n"
        "  x: {kind: uniform, drives: in}\n"
        "populations:\n"
        "  in: {cell: prospective, size: 2}\n"
        "  p: {cell: prospective, size: 2}\n"
        "  q: {cell: prospective, size: 2}\n"
        "projections:\n"
        "  - {from: in.rate_pro, to: p.input, init: {uniform: [-1, 1]}}\n"
        "  - {from: q.rate_pro, to: p.input, init: {uniform: [-1, 1]}}\n"
        "  - {from: p.rate_pro, to: q.input, init: {uniform: [-1, 1]}}\n";
    apical_config cfg;
    ck_assert_int_eq(apical_config_load_string(&cfg, r, "loop.yaml", yaml, err, sizeof err), 2);
    ck_assert_msg(strncmp(err, "loop.yaml:12:5: ", 16) == 0 &&
                  strstr(err, "an instantaneous loop through feedthrough projections: q -> p "
                         "-> q (q.rate_pro -> p.input, p.rate_pro -> q.input)") != NULL,
                  "%s", err);
    fprintf(stderr, "refused: %s\n", err);
    /* without the loop's second half the same file loads */
    static const char chain[] =
        "apical: 1\n"
        "simulation:\n"
        "  phases: [{train: x, patterns: 1}]\n"
        "stimuli:\n"
        "  x: {kind: uniform, drives: in}\n"
        "populations:\n"
        "  in: {cell: prospective, size: 2}\n"
        "  p: {cell: prospective, size: 2}\n"
        "  q: {cell: prospective, size: 2}\n"
        "projections:\n"
        "  - {from: in.rate_pro, to: p.input, init: {uniform: [-1, 1]}}\n"
        "  - {from: q.rate, to: p.input, init: {uniform: [-1, 1]}}\n"
        "  - {from: p.rate_pro, to: q.input, init: {uniform: [-1, 1]}}\n";
    ck_assert_msg(apical_config_load_string(&cfg, r, "chain.yaml", chain, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(cfg.circuit->n_feed, 2);
    apical_config_free(&cfg);
    apical_registry_free(r);
}
END_TEST

/* Steady and backprop modes refuse a feedthrough projection where it is
   defined; the same circuit runs in mode dynamics. */
START_TEST(steady_mode_refuses_feedthrough)
{
    char img[] = "/tmp/apical_feed_imgXXXXXX", lab[] = "/tmp/apical_feed_labXXXXXX";
    int fi = mkstemp(img), fl = mkstemp(lab);
    ck_assert(fi >= 0 && fl >= 0);
    FILE *f = fdopen(fi, "wb");
    unsigned char h[16] = { 0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 3 };
    fwrite(h, 1, 16, f);
    for (int i = 0; i < 4 * 6; i++)
        fputc((i * 37 + 11) % 256, f);
    fclose(f);
    f = fdopen(fl, "wb");
    unsigned char hl[8] = { 0, 0, 8, 1, 0, 0, 0, 4 };
    fwrite(hl, 1, 8, f);
    for (int i = 0; i < 4; i++)
        fputc(i % 3, f);
    fclose(f);
    apical_registry *r = test_registry();
    char text[2048], err[2048] = "";
    static const char *const modes[] = { "steady", "backprop" };
    for (int k = 0; k < 2; k++) {
        const char *rule = k ? "backprop" : "dendritic_error";
        snprintf(text, sizeof text,
                 "apical: 1\n"
                 "populations:\n"
                 "  input: {cell: rate_input, size: 6}\n"
                 "  hidden: {cell: pyramidal, size: 4}\n"
                 "  output: {cell: pyramidal, size: 3, params: {g_A: 0}}\n"
                 "projections:\n"
                 "  - {from: input, to: hidden.basal, init: {uniform: [-1, 1]}, rule: {%s: {}}}\n"
                 "  - {from: hidden.v_basal, to: output.basal, init: {uniform: [-1, 1]}}\n"
                 "stimuli:\n"
                 "  train: {kind: idx, images: %s, labels: %s, drives: input, target: output,\n"
                 "          target_rates: [0.1, 0.8]}\n"
                 "simulation:\n"
                 "  mode: %s\n"
                 "  steady: {train: train, epochs: 1, batch: 2}\n",
                 rule, img, lab, modes[k]);
        apical_config cfg;
        ck_assert_int_eq(apical_config_load_string(&cfg, r, "steady.yaml", text, err,
                                                   sizeof err), 2);
        char want[256];
        snprintf(want, sizeof want, "steady.yaml:8:5: hidden.v_basal is a port-stage observable "
                 "(a feedthrough projection), which mode %s does not support", modes[k]);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
        if (k == 0)
            fprintf(stderr, "refused: %s\n", err);
    }
    unlink(img);
    unlink(lab);
    apical_registry_free(r);
}
END_TEST

/* The conformance check measures jacobian_obs against central differences:
   the prospective cell passes every property; a copy whose d rate_pro /
   d port is 0.25 off fails jacobian_obs.dodin by that much, and nothing
   else. */
static int (*true_jacobian_obs)(const apical_cell_ctx *, double *, double *);

static int off_jacobian_obs(const apical_cell_ctx *c, double *dody, double *dodin)
{
    int rc = true_jacobian_obs(c, dody, dodin);
    const size_t ld = APICAL_CTX_LD(c);
    for (size_t i = 0; i < c->n; i++)
        dodin[(2 * 2 + 0) * ld + i] += 0.25; /* rate_pro (2) by input (0) */
    return rc;
}

typedef struct tally {
    int failed;
    double dev[2];
    apical_conf_status st[2];
} tally;

static void count(void *user, const apical_conf_result *res)
{
    tally *t = user;
    if (res->status == APICAL_CONF_FAIL)
        t->failed++;
    for (int k = 0; k < 2; k++)
        if (strcmp(res->property, k ? "jacobian_obs.dodin" : "jacobian_obs.dody") == 0) {
            t->st[k] = res->status;
            t->dev[k] = res->deviation;
        }
}

START_TEST(conformance_of_jacobian_obs)
{
    char err[256] = "";
    apical_registry *r = feed_registry();
    const apical_cell_model *m = test_cell(r, "prospective");
    tally t = { 0, { 0, 0 }, { APICAL_CONF_SKIP, APICAL_CONF_SKIP } };
    ck_assert_int_eq(apical_conformance_cell(m, NULL, count, &t, err, sizeof err), 0);
    ck_assert_int_eq(t.failed, 0);
    ck_assert(t.st[0] == APICAL_CONF_PASS && t.st[1] == APICAL_CONF_PASS);
    apical_cell_model off = *m;
    true_jacobian_obs = m->jacobian_obs;
    off.jacobian_obs = off_jacobian_obs;
    memset(&t, 0, sizeof t);
    ck_assert_int_eq(apical_conformance_cell(&off, NULL, count, &t, err, sizeof err), 1);
    ck_assert(t.st[0] == APICAL_CONF_PASS && t.st[1] == APICAL_CONF_FAIL);
    fprintf(stderr, "jacobian_obs.dodin 0.25 off: deviation %.6g\n", t.dev[1]);
    ck_assert_double_gt(t.dev[1], 0.2);
    ck_assert_double_lt(t.dev[1], 0.26);
    apical_registry_free(r);
}
END_TEST

/* A circuit without feedthrough projections keeps the evaluation it had:
   no order, no feedthrough flag. */
START_TEST(state_stage_circuits_have_no_order)
{
    char err[1024] = "";
    apical_registry *r = feed_registry();
    const apical_cell_model *m = test_cell(r, "prospective");
    apical_circuit *c = apical_circuit_new(1);
    OK(apical_circuit_add_pop(c, "p", m, 2, err, sizeof err));
    OK(apical_circuit_add_pop(c, "q", m, 2, err, sizeof err));
    OK(apical_circuit_add_proj(c, "p", "rate", "q", "input", 0, NULL, err, sizeof err));
    OK(apical_circuit_add_proj(c, "q", "rate", "p", "input", 0, NULL, err, sizeof err));
    OK(apical_circuit_finalize(c, err, sizeof err));
    ck_assert_uint_eq(c->n_feed, 0);
    ck_assert_ptr_null(c->order);
    apical_circuit_free(c);
    apical_registry_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("feedthrough");
    TCase *t = tcase_create("feedthrough");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, euler_matches_hand_euler);
    tcase_add_test(t, implicit_steppers_match_fine_reference);
    tcase_add_test(t, jacobian_through_feedthrough);
    tcase_add_test(t, instantaneous_loop_refused);
    tcase_add_test(t, state_stage_circuits_have_no_order);
    tcase_add_test(t, steady_mode_refuses_feedthrough);
    tcase_add_test(t, conformance_of_jacobian_obs);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
