/*
 * The microcircuit approximates backpropagation (docs/model.md 2.3): in the
 * self-predicting state, with weak feedback and teaching (g_A = g_som =
 * 0.05) and top-down weights equal to the transposed bottom-up weights, the
 * bottom-up weight change at the nudged steady state points along the
 * backprop update of the feedforward network, delta_N = D_N (u_trgt - u_N),
 * delta_l = D_l W_{l+1}^T delta_{l+1}, in every layer.  With random
 * (fixed) top-down weights it points along feedback alignment instead,
 * nearly orthogonal to backprop.
 */
#include <math.h>
#include <stdio.h>

#include "bp_cosine.h"
#include "testutil.h"

static const char *net =
    "apical: 1\n"
    "seed: 13\n"
    "populations:\n"
    "  in:  {cell: rate_input, size: 30}\n"
    "  h1:  {cell: pyramidal, size: 50, params: {g_A: 0.05}}\n"
    "  i1:  {cell: sst, size: 40, params: {g_som: 0.05}}\n"
    "  h2:  {cell: pyramidal, size: 40, params: {g_A: 0.05}}\n"
    "  i2:  {cell: sst, size: 10, params: {g_som: 0.05}}\n"
    "  out: {cell: pyramidal, size: 10, params: {g_A: 0, g_som: 0.05}}\n"
    "projections:\n"
    "  - {from: in, to: h1.basal, init: {uniform: [-1, 1]}}\n"            /* 0 */
    "  - {from: h1, to: h2.basal, init: {uniform: [-1, 1]}}\n"            /* 1 */
    "  - {from: h2, to: out.basal, init: {uniform: [-1, 1]}}\n"           /* 2 */
    "  - {from: h2, to: h1.apical, init: {uniform: [-1, 1]}}\n"           /* 3 */
    "  - {from: out, to: h2.apical, init: {uniform: [-1, 1]}}\n"          /* 4 */
    "  - {from: h1, to: i1.dendrite, init: {self_predicting: true}}\n"    /* 5 */
    "  - {from: i1, to: h1.apical_inh, init: {self_predicting: true}}\n"  /* 6 */
    "  - {from: h2, to: i2.dendrite, init: {self_predicting: true}}\n"    /* 7 */
    "  - {from: i2, to: h2.apical_inh, init: {self_predicting: true}}\n"  /* 8 */
    "  - {from: h2.u, to: i1.nudge, connect: one_to_one}\n"
    "  - {from: out.u, to: i2.nudge, connect: one_to_one}\n"
    "stimuli:\n"
    "  t: {kind: teacher, sizes: [30, 10], gains: [1], drives: in, target: out}\n"
    "simulation:\n"
    "  phases: []\n";

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

static double cosine(const double *a, const double *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* Cosines between the microcircuit's and backprop's updates of the three
   bottom-up matrices, for one input and target; *probe: the library's
   bp_cosine (bp_cosine.c) at the same nudged steady state, which should be
   the mean of the two hidden layers' cosines. */
static void cosines(int transposed_feedback, double cos_out[3], double *probe)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048] = "";
    ck_assert_msg(apical_config_load_string(&cfg, reg, "net", net, err, sizeof err) == 0, "%s", err);
    apical_circuit *c = cfg.circuit;
    const size_t sz[4] = { 30, 50, 40, 10 };
    double *W[3] = { c->projs[0].w, c->projs[1].w, c->projs[2].w };
    if (transposed_feedback) { /* B_k = W_{k+1}^T, then the lateral weights again */
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < sz[k + 1]; i++)
                for (size_t j = 0; j < sz[k + 2]; j++)
                    c->projs[3 + k].w[i * sz[k + 2] + j] = W[k + 1][j * sz[k + 1] + i];
        for (int p = 5; p <= 8; p++)
            ck_assert_int_eq(apical_proj_init_self_predicting(c, &c->projs[p], err, sizeof err), 0);
    }
    const char *pops[3] = { "h1", "h2", "out" }, *pres[3] = { "in", "h1", "h2" };
    for (int k = 0; k < 3; k++) { /* no rule reads err_basal here: ask for it */
        apical_pop *p = apical_circuit_pop(c, pops[k], NULL);
        p->need[apical_model_find_obs(p->model, "err_basal")] = 1;
    }
    apical_stim *s = &c->stims[0];
    s->active = 1;
    s->target_on = 1;
    for (size_t i = 0; i < 30; i++)
        s->x[i] = sin(0.7 * (double)i + 0.3);
    for (size_t i = 0; i < 10; i++)
        s->u_trgt[i] = 1.5 * cos(1.1 * (double)i);
    test_settle(c, 1e-14, 40000);

    /* the feedforward network of the same weights, docs/model.md 2.3 */
    const double cb = 1.0 / 1.15, cn = 1.0 / 1.1; /* g_B/(g_lk+g_B+g_A), g_B/(g_lk+g_B) */
    double r[4][50], u[4][50], d[4][50];
    memcpy(r[0], s->x, 30 * sizeof(double));
    for (int k = 1; k <= 3; k++)
        for (size_t i = 0; i < sz[k]; i++) {
            double v = 0;
            for (size_t j = 0; j < sz[k - 1]; j++)
                v += W[k - 1][i * sz[k - 1] + j] * r[k - 1][j];
            u[k][i] = (k == 3 ? cn : cb) * v;
            r[k][i] = sigm(u[k][i]);
        }
    for (size_t i = 0; i < 10; i++)
        d[3][i] = r[3][i] * (1 - r[3][i]) * (s->u_trgt[i] - u[3][i]);
    for (int k = 2; k >= 1; k--)
        for (size_t i = 0; i < sz[k]; i++) {
            double a = 0;
            for (size_t j = 0; j < sz[k + 1]; j++)
                a += W[k][j * sz[k] + i] * d[k + 1][j];
            d[k][i] = r[k][i] * (1 - r[k][i]) * a;
        }
    /* the microcircuit's update at its steady state: err_basal x pre rate */
    for (int k = 0; k < 3; k++) {
        const apical_pop *post = apical_circuit_pop(c, pops[k], NULL),
                         *pre = apical_circuit_pop(c, pres[k], NULL);
        const double *e = post->obs + apical_model_find_obs(post->model, "err_basal") * post->n;
        const double *rp = pre->obs + apical_model_find_obs(pre->model, "rate") * pre->n;
        size_t m = sz[k + 1], n = sz[k];
        double *mc = malloc(m * n * sizeof *mc), *bp = malloc(m * n * sizeof *bp);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                mc[i * n + j] = e[i] * rp[j];
                bp[i * n + j] = d[k + 1][i] * r[k][j];
            }
        cos_out[k] = cosine(mc, bp, m * n);
        free(mc);
        free(bp);
    }
    /* the probe: its free network from the modules' steady and Jacobian
       functions, its nudged state this one (no further steps) */
    apical_integ_opts io = { .method = "euler" };
    apical_integrator *it = apical_integrator_new(c, &io, err, sizeof err);
    ck_assert_msg(it != NULL, "%s", err);
    apical_bp_acc acc = { 0, 0 };
    ck_assert_msg(apical_bp_cosine_pattern(c, it, s, 0, 0.1, &acc, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_int_eq(acc.n, 2);
    *probe = acc.sum / (double)acc.n;
    apical_integrator_free(it);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}

START_TEST(weak_feedback_approximates_backprop)
{
    double cs[3], rnd[3], pcs, prnd;
    cosines(1, cs, &pcs);
    cosines(0, rnd, &prnd);
    fprintf(stderr, "cosine to backprop, W_down = W_up^T: h1 %.6f, h2 %.6f, out %.6f\n", cs[0],
            cs[1], cs[2]);
    fprintf(stderr, "cosine to backprop, random W_down:   h1 %.6f, h2 %.6f, out %.6f "
                    "(angles %.1f, %.1f deg)\n", rnd[0], rnd[1], rnd[2],
            acos(rnd[0]) * 180 / M_PI, acos(rnd[1]) * 180 / M_PI);
    for (int k = 0; k < 3; k++)
        ck_assert_double_ge(cs[k], 0.99);
    /* random feedback: the hidden updates are not backprop's (feedback
       alignment has yet to happen); the output layer is backprop anyway */
    ck_assert_double_lt(fabs(rnd[0]), 0.5);
    ck_assert_double_lt(fabs(rnd[1]), 0.5);
    ck_assert_double_ge(rnd[2], 0.99);
    fprintf(stderr, "bp_cosine probe: %.12f (by hand %.12f), random W_down %.12f (by hand "
                    "%.12f)\n", pcs, (cs[0] + cs[1]) / 2, prnd, (rnd[0] + rnd[1]) / 2);
    ck_assert_double_eq_tol(pcs, (cs[0] + cs[1]) / 2, 1e-9);
    ck_assert_double_eq_tol(prnd, (rnd[0] + rnd[1]) / 2, 1e-9);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("backprop");
    TCase *t = tcase_create("backprop");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, weak_feedback_approximates_backprop);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
