/* The steady-state and backprop modes (runner/steady.c) against the full
   dynamics, finite differences and hand-computed updates. */
#include <stdio.h>
#include <unistd.h>

#include <gsl/gsl_linalg.h>

#include "testutil.h"

#define NPIX 6
#define NIMG 8

static char img_path[64], lab_path[64];

/* Two tiny IDX files: NIMG images of 2 x 3 pixels, labels 0..2. */
static void write_idx(void)
{
    snprintf(img_path, sizeof img_path, "/tmp/apical-steady-img-%d", (int)getpid());
    snprintf(lab_path, sizeof lab_path, "/tmp/apical-steady-lab-%d", (int)getpid());
    FILE *f = fopen(img_path, "wb");
    if (!f) {
        perror(img_path);
        exit(1);
    }
    unsigned char h[16] = { 0, 0, 8, 3, 0, 0, 0, NIMG, 0, 0, 0, 2, 0, 0, 0, 3 };
    fwrite(h, 1, 16, f);
    for (int i = 0; i < NIMG * NPIX; i++)
        fputc((i * 37 + 11) % 256, f);
    fclose(f);
    f = fopen(lab_path, "wb");
    if (!f) {
        perror(lab_path);
        exit(1);
    }
    unsigned char hl[8] = { 0, 0, 8, 1, 0, 0, 0, NIMG };
    fwrite(hl, 1, 8, f);
    for (int i = 0; i < NIMG; i++)
        fputc(i % 3, f);
    fclose(f);
}

/* 6-5-4-3 with interneurons and biases; LATERAL is the init of the two
   lateral pathways into the pyramids and interneurons. */
static void load(apical_config *cfg, apical_registry *reg, const char *mode, const char *lateral,
                 const char *const *sets, size_t n_sets)
{
    char text[8192], err[2048];
    const char *bp = strcmp(mode, "backprop") == 0 ? "backprop" : "dendritic_error";
    snprintf(text, sizeof text,
             "apical: 1\nseed: 3\n"
             "defaults:\n"
             "  pyramidal: {phi: logistic, g_A: 0.3, g_som: 0.2}\n"
             "  sst: {phi: logistic, g_som: 0.2}\n"
             "populations:\n"
             "  input: {cell: rate_input, size: 6}\n"
             "  bias: {cell: bias, size: 1}\n"
             "  hidden1: {cell: pyramidal, size: 5}\n"
             "  inter1: {cell: sst, size: 4}\n"
             "  hidden2: {cell: pyramidal, size: 4}\n"
             "  inter2: {cell: sst, size: 3}\n"
             "  output: {cell: pyramidal, size: 3, params: {g_A: 0}}\n"
             "projections:\n"
             "  - {from: input, to: hidden1.basal, init: {uniform: [-1, 1]}, rule: {%s: {eta: 1}}}\n"
             "  - {from: bias, to: hidden1.basal, init: {uniform: [-1, 1]}, rule: {%s: {eta: 1}}}\n"
             "  - {from: hidden1, to: hidden2.basal, init: {uniform: [-1, 1]}, rule: {%s: {eta: 1}}}\n"
             "  - {from: bias, to: hidden2.basal, init: {uniform: [-1, 1]}, rule: {%s: {eta: 1}}}\n"
             "  - {from: hidden2, to: output.basal, init: {uniform: [-1, 1]}, rule: {%s: {eta: 1}}}\n"
             "  - {from: bias, to: output.basal, init: {uniform: [-1, 1]}, rule: {%s: {eta: 1}}}\n"
             "%s"
             "stimuli:\n"
             "  train: {kind: idx, images: %s, labels: %s, drives: input, target: output,\n"
             "          target_rates: [0.1, 0.8]}\n"
             "simulation:\n"
             "  mode: %s\n"
             "  steady: {train: train, epochs: 1, batch: 4, precision: f64}\n",
             bp, bp, bp, bp, bp, bp, lateral, img_path, lab_path, mode);
    int rc = apical_config_load_string_set(cfg, reg, "steady-test", text, sets, n_sets, err,
                                           sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
}

static const char lateral_random[] =
    "  - {from: hidden2, to: hidden1.apical, init: {uniform: [-1, 1]}}\n"
    "  - {from: output, to: hidden2.apical, init: {uniform: [-1, 1]}}\n"
    "  - {from: hidden1, to: inter1.dendrite, init: {uniform: [-1, 1]}}\n"
    "  - {from: bias, to: inter1.dendrite, init: {uniform: [-1, 1]}}\n"
    "  - {from: hidden2, to: inter2.dendrite, init: {uniform: [-1, 1]}}\n"
    "  - {from: bias, to: inter2.dendrite, init: {uniform: [-1, 1]}}\n"
    "  - {from: inter1, to: hidden1.apical_inh, init: {uniform: [-1, 1]}}\n"
    "  - {from: inter2, to: hidden2.apical_inh, init: {uniform: [-1, 1]}}\n"
    "  - {from: hidden2.u, to: inter1.nudge, connect: one_to_one}\n"
    "  - {from: output.u, to: inter2.nudge, connect: one_to_one}\n";

static const char lateral_sps[] =
    "  - {from: hidden2, to: hidden1.apical, init: {uniform: [-1, 1]}}\n"
    "  - {from: output, to: hidden2.apical, init: {uniform: [-1, 1]}}\n"
    "  - {from: hidden1, to: inter1.dendrite, init: {self_predicting: true}}\n"
    "  - {from: bias, to: inter1.dendrite, init: {self_predicting: true}}\n"
    "  - {from: hidden2, to: inter2.dendrite, init: {self_predicting: true}}\n"
    "  - {from: bias, to: inter2.dendrite, init: {self_predicting: true}}\n"
    "  - {from: inter1, to: hidden1.apical_inh, init: {self_predicting: true}}\n"
    "  - {from: inter2, to: hidden2.apical_inh, init: {self_predicting: true}}\n"
    "  - {from: hidden2.u, to: inter1.nudge, connect: one_to_one}\n"
    "  - {from: output.u, to: inter2.nudge, connect: one_to_one}\n";

/* Largest difference between the steady mode's states for image 0 (target
   on or off) and the full dynamics integrated to rest. */
static double steady_vs_dynamics_v(const char *lateral, const char *passes, int target,
                                   const char *variant)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char set[64], var[64], err[2048];
    snprintf(set, sizeof set, "simulation.steady.passes=%s", passes);
    snprintf(var, sizeof var, "simulation.steady.variant=%s", variant);
    const char *sets[] = { set, var };
    load(&cfg, reg, "steady", lateral, sets, 2);
    apical_circuit *c = cfg.circuit;
    apical_stim *st = &c->stims[0];
    double x[NPIX], u[3];
    apical_stim_idx_pattern(st, 0, x);
    unsigned lab = st->labels.data[0];
    for (int i = 0; i < 3; i++)
        u[i] = st->trgt_u[(unsigned)i == lab];
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert_msg(apical_steady_settle(sd, x, target ? u : NULL, 1, err, sizeof err) == 0, "%s",
                  err);
    /* the same circuit, integrated */
    st->active = 1;
    st->target_on = target;
    memcpy(st->x, x, sizeof x);
    memcpy(st->u_trgt, u, sizeof u);
    double rest = test_settle(c, 1e-13, 400000);
    ck_assert_double_lt(rest, 1e-12);
    double worst = 0;
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        if (p->model->n_state == 0)
            continue;
        const double *ys = apical_steady_state(sd, i, 0);
        for (size_t k = 0; k < p->n; k++)
            worst = fmax(worst, fabs(ys[k] - c->y[p->y_off + k]));
    }
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return worst;
}

static double steady_vs_dynamics(const char *lateral, const char *passes, int target)
{
    return steady_vs_dynamics_v(lateral, passes, target, "exact");
}

/* Iterated sweeps converge on the full dynamics' fixed point, whatever the
   weights. */
START_TEST(iterated_sweeps_reach_the_fixed_point)
{
    double d = steady_vs_dynamics(lateral_random, "60", 1);
    printf("steady (60 passes) vs dynamics, random weights, target on: %.3g\n", d);
    ck_assert_double_lt(d, 1e-9);
    d = steady_vs_dynamics(lateral_random, "60", 0);
    ck_assert_double_lt(d, 1e-9);
}
END_TEST

/* In the self-predicting state without a target the one up-and-down sweep
   of docs/model.md 4 is the fixed point; with the target it is close. */
START_TEST(one_sweep_in_the_self_predicting_state)
{
    double off = steady_vs_dynamics(lateral_sps, "1", 0);
    double on = steady_vs_dynamics(lateral_sps, "1", 1);
    double on2 = steady_vs_dynamics(lateral_sps, "2", 1);
    double rnd = steady_vs_dynamics(lateral_random, "1", 1);
    printf("one sweep vs dynamics: SPS no target %.3g, SPS target %.3g (two sweeps %.3g), random "
           "lateral weights %.3g\n", off, on, on2, rnd);
    ck_assert_double_lt(off, 1e-12);
    ck_assert_double_lt(on, 1e-2);
    ck_assert_double_lt(on2, on);
    ck_assert_double_gt(rnd, 10 * on);
    /* the literal reading (no attenuation in the upward sweep) leaves a
       spurious apical error even there (docs/model.md 4 and 6, item 11) */
    double lit = steady_vs_dynamics_v(lateral_sps, "1", 0, "literal");
    printf("literal variant, SPS, no target: %.3g from the fixed point\n", lit);
    ck_assert_double_gt(lit, 1e-3);
}
END_TEST

static double sigm(double u) { return 1.0 / (1.0 + exp(-u)); }

/* The first n images of the training stimulus (n x NPIX) and their
   one-hot target potentials (n x 3). */
static void first_images(apical_stim *st, int n, double *x, double *u)
{
    for (int b = 0; b < n; b++) {
        apical_stim_idx_pattern(st, (size_t)b, x + b * NPIX);
        for (int i = 0; i < 3; i++)
            u[b * 3 + i] = st->trgt_u[(unsigned)i == st->labels.data[b]];
    }
}


/* One mini-batch of the dendritic rule on the output weights equals
   eta mean_b (phi(u) - phi(c_N v_B)) r^T computed here from the settled
   states. */
START_TEST(steady_update_of_the_output_weights)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    load(&cfg, reg, "steady", lateral_sps, NULL, 0);
    apical_circuit *c = cfg.circuit;
    apical_stim *st = &c->stims[0];
    size_t ih2, iout, ib;
    apical_circuit_pop(c, "hidden2", &ih2);
    apical_circuit_pop(c, "output", &iout);
    apical_circuit_pop(c, "bias", &ib);
    apical_proj *w3 = &c->projs[4], *b3 = &c->projs[5];
    ck_assert_uint_eq(w3->src, ih2);
    double x[3 * NPIX], u[3 * 3], w0[12], bb0[3];
    first_images(st, 3, x, u);
    memcpy(w0, w3->w, sizeof w0);
    memcpy(bb0, b3->w, sizeof bb0);
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert(apical_steady_settle(sd, x, u, 3, err, sizeof err) == 0);
    /* docs/model.md 4 by hand: the up sweep (attenuated basal predictions),
       the nudged output, E = phi(u_N) - phi(c_N v_B,N), times the final
       hidden rates */
    double want[12] = { 0 }, wantb[3] = { 0 };
    const double cb = 1.0 / 1.4, cn = 1.0 / 1.1; /* g_B/(g_lk+g_B+g_A), g_B/(g_lk+g_B) */
    const double *w1 = c->projs[0].w, *bb1 = c->projs[1].w, *w2 = c->projs[2].w,
                 *bb2 = c->projs[3].w;
    for (int b = 0; b < 3; b++) {
        double r1[5], r2[4], vn[3];
        for (int i = 0; i < 5; i++) {
            double v = bb1[i];
            for (int j = 0; j < NPIX; j++)
                v += w1[i * NPIX + j] * x[b * NPIX + j];
            r1[i] = sigm(cb * v);
        }
        for (int i = 0; i < 4; i++) {
            double v = bb2[i];
            for (int j = 0; j < 5; j++)
                v += w2[i * 5 + j] * r1[j];
            r2[i] = sigm(cb * v);
        }
        const double *r2u = apical_steady_state(sd, ih2, (size_t)b); /* after the down sweep */
        const double *uo = apical_steady_state(sd, iout, (size_t)b);
        for (int i = 0; i < 3; i++) {
            vn[i] = bb0[i];
            for (int j = 0; j < 4; j++)
                vn[i] += w0[i * 4 + j] * r2[j];
            double un = (vn[i] + 0.2 * u[b * 3 + i]) / 1.3; /* (g_B v + g_som u_t) / (...) */
            ck_assert_double_eq_tol(uo[i], un, 1e-13);
            double e = sigm(un) - sigm(cn * vn[i]);
            for (int j = 0; j < 4; j++)
                want[i * 4 + j] += e * sigm(r2u[j]) / 3;
            wantb[i] += e / 3;
        }
    }
    ck_assert(apical_steady_learn(sd, x, u, NULL, 3, err, sizeof err) == 0);
    apical_steady_sync(sd); /* the engine's copy of the weights into the circuit */
    double worst = 0, size = 0;
    for (int k = 0; k < 12; k++) {
        worst = fmax(worst, fabs(w3->w[k] - w0[k] - want[k]));
        size = fmax(size, fabs(want[k]));
    }
    for (int k = 0; k < 3; k++)
        worst = fmax(worst, fabs(b3->w[k] - bb0[k] - wantb[k]));
    ck_assert_double_gt(size, 1e-3);
    ck_assert_double_lt(worst, 1e-14);
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

/* Eq. 10 in steady mode: a projection into a pyramid's top-down apical port
   with the dendritic rule changes by eta mean_b (phi(u_k) - phi(W r_k+1))
   r_k+1^T, taken at the nudged steady state, where W r_k+1 is the top-down
   input alone (the interneurons' input to the same dendrite left out).  The
   change is computed here from the settled states; the same computation
   with the sign flipped, with the whole apical potential, with the basal
   prediction or at the free (un-nudged) state differs from it by orders of
   magnitude more than the tolerance, so each of those mistakes fails. */
static const char lateral_topdown_learning[] =
    "  - {from: hidden2, to: hidden1.apical, init: {uniform: [-1, 1]},"
    " rule: {dendritic_error: {eta: 1}}}\n"
    "  - {from: output, to: hidden2.apical, init: {uniform: [-1, 1]},"
    " rule: {dendritic_error: {eta: 0.5}}}\n"
    "  - {from: hidden1, to: inter1.dendrite, init: {uniform: [-1, 1]}}\n"
    "  - {from: bias, to: inter1.dendrite, init: {uniform: [-1, 1]}}\n"
    "  - {from: hidden2, to: inter2.dendrite, init: {uniform: [-1, 1]}}\n"
    "  - {from: bias, to: inter2.dendrite, init: {uniform: [-1, 1]}}\n"
    "  - {from: inter1, to: hidden1.apical_inh, init: {uniform: [-1, 1]}}\n"
    "  - {from: inter2, to: hidden2.apical_inh, init: {uniform: [-1, 1]}}\n"
    "  - {from: hidden2.u, to: inter1.nudge, connect: one_to_one}\n"
    "  - {from: output.u, to: inter2.nudge, connect: one_to_one}\n";

enum { TD_RIGHT, TD_SIGN, TD_WHOLE_APICAL, TD_BASAL, TD_FREE, TD_N };

/* The change of projection k (top-down into population lo from hi, nd x ns)
   over the n settled images, by hand; how: one of TD_*. */
static void topdown_change(apical_circuit *c, apical_steady *sd, size_t k, size_t lo,
                           size_t hi, size_t inter, size_t kpi, size_t kb, size_t kbb,
                           const double *x, int n, double eta, int how, double *dw)
{
    const apical_proj *td = &c->projs[k], *pi = &c->projs[kpi], *wb = &c->projs[kb],
                      *bb = &c->projs[kbb];
    size_t nd = c->pops[lo].n, ns = c->pops[hi].n, ni = c->pops[inter].n,
           nb = c->pops[wb->src].n;
    const double cb = 1.0 / 1.4; /* g_B / (g_lk + g_B + g_A) */
    memset(dw, 0, nd * ns * sizeof(double));
    for (int b = 0; b < n; b++) {
        const double *u = apical_steady_state(sd, lo, (size_t)b),
                     *ua = apical_steady_state(sd, hi, (size_t)b),
                     *ui = apical_steady_state(sd, inter, (size_t)b);
        const double *below = wb->src == lo ? NULL : apical_steady_state(sd, wb->src, (size_t)b);
        for (size_t i = 0; i < nd; i++) {
            double v = 0, vi = 0, vb = bb->w[i];
            for (size_t j = 0; j < ns; j++)
                v += td->w[i * ns + j] * sigm(ua[j]);
            for (size_t j = 0; j < ni; j++)
                vi += pi->w[i * ni + j] * sigm(ui[j]);
            for (size_t j = 0; j < nb; j++)
                vb += wb->w[i * nb + j] * (below ? sigm(below[j]) : x[b * NPIX + j]);
            double e = how == TD_WHOLE_APICAL ? sigm(u[i]) - sigm(v + vi)
                       : how == TD_BASAL      ? sigm(u[i]) - sigm(cb * vb)
                                              : sigm(u[i]) - sigm(v);
            if (how == TD_SIGN)
                e = -e;
            for (size_t j = 0; j < ns; j++)
                dw[i * ns + j] += eta * e * sigm(ua[j]) / n;
        }
    }
}

START_TEST(steady_update_of_the_topdown_weights)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    load(&cfg, reg, "steady", lateral_topdown_learning, NULL, 0);
    apical_circuit *c = cfg.circuit;
    apical_stim *st = &c->stims[0];
    size_t ih1, ih2, iout, ii1, ii2;
    apical_circuit_pop(c, "hidden1", &ih1);
    apical_circuit_pop(c, "hidden2", &ih2);
    apical_circuit_pop(c, "output", &iout);
    apical_circuit_pop(c, "inter1", &ii1);
    apical_circuit_pop(c, "inter2", &ii2);
    /* projections: 0-5 bottom-up and biases, 6 hidden2 -> hidden1.apical,
       7 output -> hidden2.apical, 12 and 13 interneurons -> apical_inh */
    ck_assert(c->projs[6].dst == ih1 && c->projs[6].src == ih2);
    ck_assert(c->projs[7].dst == ih2 && c->projs[7].src == iout);
    ck_assert(c->projs[12].src == ii1 && c->projs[13].src == ii2);
    enum { N = 3 };
    double x[N * NPIX], u[N * 3], w6[20], w7[12], want6[TD_N][20], want7[TD_N][12];
    first_images(st, N, x, u);
    memcpy(w6, c->projs[6].w, sizeof w6);
    memcpy(w7, c->projs[7].w, sizeof w7);
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    /* the free state first: the same change taken without the target */
    ck_assert(apical_steady_settle(sd, x, NULL, N, err, sizeof err) == 0);
    topdown_change(c, sd, 6, ih1, ih2, ii1, 12, 0, 1, x, N, 1.0, TD_RIGHT, want6[TD_FREE]);
    topdown_change(c, sd, 7, ih2, iout, ii2, 13, 2, 3, x, N, 0.5, TD_RIGHT, want7[TD_FREE]);
    ck_assert(apical_steady_settle(sd, x, u, N, err, sizeof err) == 0);
    /* hidden1 settled last in the down sweep: its potential is the steady
       state of its ports, (g_B v_B + g_A (v_td + v_inh)) / (g_lk + g_B + g_A) */
    for (int b = 0; b < N; b++) {
        const double *u1 = apical_steady_state(sd, ih1, (size_t)b),
                     *u2 = apical_steady_state(sd, ih2, (size_t)b),
                     *ui = apical_steady_state(sd, ii1, (size_t)b);
        for (int i = 0; i < 5; i++) {
            double vb = c->projs[1].w[i], va = 0;
            for (int j = 0; j < NPIX; j++)
                vb += c->projs[0].w[i * NPIX + j] * x[b * NPIX + j];
            for (int j = 0; j < 4; j++)
                va += c->projs[6].w[i * 4 + j] * sigm(u2[j]) +
                      c->projs[12].w[i * 4 + j] * sigm(ui[j]);
            ck_assert_double_eq_tol(u1[i], (vb + 0.3 * va) / 1.4, 1e-13);
        }
    }
    for (int how = TD_RIGHT; how < TD_FREE; how++) {
        topdown_change(c, sd, 6, ih1, ih2, ii1, 12, 0, 1, x, N, 1.0, how, want6[how]);
        topdown_change(c, sd, 7, ih2, iout, ii2, 13, 2, 3, x, N, 0.5, how, want7[how]);
    }
    ck_assert(apical_steady_learn(sd, x, u, NULL, N, err, sizeof err) == 0);
    apical_steady_sync(sd);
    double got6[20], got7[12];
    for (int k = 0; k < 20; k++)
        got6[k] = c->projs[6].w[k] - w6[k];
    for (int k = 0; k < 12; k++)
        got7[k] = c->projs[7].w[k] - w7[k];
    for (int how = TD_RIGHT; how < TD_N; how++) {
        double off = 0, size = 0;
        for (int k = 0; k < 20; k++) {
            off = fmax(off, fabs(got6[k] - want6[how][k]));
            size = fmax(size, fabs(want6[TD_RIGHT][k]));
        }
        for (int k = 0; k < 12; k++) {
            off = fmax(off, fabs(got7[k] - want7[how][k]));
            size = fmax(size, fabs(want7[TD_RIGHT][k]));
        }
        ck_assert_double_gt(size, 1e-2);
        if (how == TD_RIGHT)
            ck_assert_double_lt(off, 1e-14);
        else /* a wrong sign, observable or state is far off */
            ck_assert_msg(off > 1e-4, "variant %d of Eq. 10 matches the steady update (%g)",
                          how, off);
    }
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

/* The mean loss 1/2 |r - r_trgt|^2 over a batch, by a forward sweep. */
static double loss(apical_steady *sd, apical_circuit *c, const double *x, const double *rt,
                   size_t nb)
{
    char err[256];
    size_t io;
    apical_circuit_pop(c, "output", &io);
    ck_assert(apical_steady_settle(sd, x, NULL, nb, err, sizeof err) == 0);
    double l = 0;
    for (size_t b = 0; b < nb; b++) {
        const double *u = apical_steady_state(sd, io, b);
        for (int i = 0; i < 3; i++)
            l += 0.5 * (sigm(u[i]) - rt[b * 3 + i]) * (sigm(u[i]) - rt[b * 3 + i]);
    }
    return l / (double)nb;
}

/* Backprop mode's update is -eta dL/dW, checked by central differences in
   every layer (weights and biases). */
START_TEST(backprop_is_the_gradient)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    const char *sets[] = { "defaults.pyramidal.g_lk=0", "defaults.pyramidal.g_A=0" };
    load(&cfg, reg, "backprop", "", sets, 2);
    apical_circuit *c = cfg.circuit;
    apical_stim *st = &c->stims[0];
    double x[3 * NPIX], u[9], rt[9];
    for (int b = 0; b < 3; b++) {
        apical_stim_idx_pattern(st, (size_t)b + 2, x + b * NPIX);
        for (int i = 0; i < 3; i++) {
            int on = (unsigned)i == st->labels.data[b + 2];
            u[b * 3 + i] = st->trgt_u[on];
            rt[b * 3 + i] = st->trgt_r[on];
        }
    }
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    /* numerical gradients first, at the current weights */
    double grad[6][30];
    const double h = 1e-6;
    for (size_t k = 0; k < 6; k++) {
        apical_proj *pj = &c->projs[k];
        size_t n = apical_proj_n_weights(c, pj);
        for (size_t i = 0; i < n; i++) {
            double w = pj->w[i];
            pj->w[i] = w + h;
            apical_steady_load(sd);
            double lp = loss(sd, c, x, rt, 3);
            pj->w[i] = w - h;
            apical_steady_load(sd);
            double lm = loss(sd, c, x, rt, 3);
            pj->w[i] = w;
            apical_steady_load(sd);
            grad[k][i] = (lp - lm) / (2 * h);
        }
    }
    double before[6][30];
    for (size_t k = 0; k < 6; k++)
        memcpy(before[k], c->projs[k].w, apical_proj_n_weights(c, &c->projs[k]) * sizeof(double));
    ck_assert(apical_steady_learn(sd, x, u, rt, 3, err, sizeof err) == 0);
    apical_steady_sync(sd);
    double worst = 0, size = 0;
    for (size_t k = 0; k < 6; k++) {
        size_t n = apical_proj_n_weights(c, &c->projs[k]);
        double layer = 0;
        for (size_t i = 0; i < n; i++) {
            double dw = c->projs[k].w[i] - before[k][i];
            worst = fmax(worst, fabs(dw + grad[k][i]));
            layer = fmax(layer, fabs(grad[k][i]));
        }
        ck_assert_double_gt(layer, 1e-5); /* every layer learns something */
        size = fmax(size, layer);
    }
    printf("backprop vs central differences: largest gradient %.3g, largest difference %.3g\n",
           size, worst);
    ck_assert_double_lt(worst, 1e-8);
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

/* feedback topdown: the error returns through the fixed top-down weights B
   (feedback alignment) instead of W^T.  The update, computed here by hand
   in f64 for a batch of three: delta_out = (r_trgt - r_out) r_out (1 -
   r_out), delta_h2 = (B_2 delta_out) phi'(u_h2), delta_h1 = (B_1 delta_h2)
   phi'(u_h1), dW = eta mean_b delta pre^T. */
static const char topdown_only[] =
    "  - {from: hidden2, to: hidden1.apical, init: {uniform: [-1, 1]}}\n"
    "  - {from: output, to: hidden2.apical, init: {uniform: [-1, 1]}}\n";

/* One layer of the free network by hand: u = c (W pre + bias) (into u
   unless NULL), r = phi(u). */
static void layer_c(const double *w, const double *bias, const double *pre, size_t nd, size_t ns,
                    double c, double *u, double *r)
{
    for (size_t i = 0; i < nd; i++) {
        double v = bias[i];
        for (size_t j = 0; j < ns; j++)
            v += w[i * ns + j] * pre[j];
        if (u)
            u[i] = c * v;
        r[i] = sigm(c * v);
    }
}

static void layer(const double *w, const double *bias, const double *pre, size_t nd, size_t ns,
                  double *r)
{
    layer_c(w, bias, pre, nd, ns, 1.0, NULL, r);
}

/* delta_src = (B delta_dst) r_src (1 - r_src), B nsrc x ndst */
static void back(const double *b, const double *delta, const double *r, size_t ns, size_t nd,
                 double *out)
{
    for (size_t i = 0; i < ns; i++) {
        double g = 0;
        for (size_t j = 0; j < nd; j++)
            g += b[i * nd + j] * delta[j];
        out[i] = g * r[i] * (1 - r[i]);
    }
}

START_TEST(feedback_topdown_returns_the_error_through_the_topdown_weights)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    /* loop 0 in f64, loop 1 in f32 (the packed single-precision products) */
    const char *sets[] = { "defaults.pyramidal.g_lk=0", "defaults.pyramidal.g_A=0",
                           "simulation.steady.feedback=topdown",
                           _i ? "simulation.steady.precision=f32"
                              : "simulation.steady.precision=f64" };
    const double tol = _i ? 1e-6 : 1e-14;
    load(&cfg, reg, "backprop", topdown_only, sets, 4);
    ck_assert_int_eq(cfg.steady.feedback, APICAL_FEEDBACK_TOPDOWN);
    apical_circuit *c = cfg.circuit;
    apical_stim *st = &c->stims[0];
    enum { NB = 3 };
    double x[NB * NPIX], u[NB * 3], rt[NB * 3];
    for (int b = 0; b < NB; b++) {
        apical_stim_idx_pattern(st, (size_t)b + 1, x + b * NPIX);
        for (int i = 0; i < 3; i++) {
            int on = (unsigned)i == st->labels.data[b + 1];
            u[b * 3 + i] = st->trgt_u[on];
            rt[b * 3 + i] = st->trgt_r[on];
        }
    }
    const size_t n[4] = { NPIX, 5, 4, 3 };
    double w[6][30], dw[6][30] = { { 0 } };
    for (size_t k = 0; k < 6; k++)
        memcpy(w[k], c->projs[k].w, apical_proj_n_weights(c, &c->projs[k]) * sizeof(double));
    const double *b1 = c->projs[6].w, *b2 = c->projs[7].w; /* 5 x 4 and 4 x 3 */
    for (int b = 0; b < NB; b++) {
        double r1[5], r2[4], r3[3], d3[3], d2[4], d1[5];
        const double *r0 = x + b * NPIX, one = 1;
        layer(w[0], w[1], r0, 5, NPIX, r1);
        layer(w[2], w[3], r1, 4, 5, r2);
        layer(w[4], w[5], r2, 3, 4, r3);
        for (int i = 0; i < 3; i++)
            d3[i] = (rt[b * 3 + i] - r3[i]) * r3[i] * (1 - r3[i]);
        back(b2, d3, r2, 4, 3, d2);
        back(b1, d2, r1, 5, 4, d1);
        const double *d[3] = { d1, d2, d3 }, *pre[3] = { r0, r1, r2 };
        for (int l = 0; l < 3; l++)
            for (size_t i = 0; i < n[l + 1]; i++) {
                for (size_t j = 0; j < n[l]; j++)
                    dw[2 * l][i * n[l] + j] += d[l][i] * pre[l][j] / NB;
                dw[2 * l + 1][i] += d[l][i] * one / NB;
            }
    }
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert(apical_steady_learn(sd, x, u, rt, NB, err, sizeof err) == 0);
    apical_steady_sync(sd);
    double worst = 0, size = 0;
    for (size_t k = 0; k < 6; k++)
        for (size_t i = 0; i < apical_proj_n_weights(c, &c->projs[k]); i++) {
            worst = fmax(worst, fabs(c->projs[k].w[i] - w[k][i] - dw[k][i]));
            size = fmax(size, fabs(dw[k][i]));
        }
    printf("feedback topdown (%s) vs by hand: largest change %.3g, largest difference %.3g\n",
           _i ? "f32" : "f64", size, worst);
    ck_assert_double_gt(size, 1e-3);
    ck_assert_double_lt(worst, tol);
    /* the top-down weights stay as they were */
    ck_assert(c->projs[6].w == b1 && c->projs[7].w == b2);
    apical_steady_free(sd);
    apical_config_free(&cfg);

    /* without a top-down projection to return through: an error naming it */
    load(&cfg, reg, "backprop", "  - {from: output, to: hidden2.apical, init: {uniform: [-1, 1]}}\n",
         sets, 4);
    ck_assert_ptr_null(apical_steady_new(cfg.circuit, &cfg.steady, err, sizeof err));
    ck_assert_msg(strstr(err, "hidden2 -> hidden1.apical, and there is none") != NULL, "%s", err);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

/* interneurons: ideal sets every projection into an interneuron's dendrite
   to its self-predicting value after each mini-batch: c_next / c_I times
   the partner's new weights.  Here c_I = 1 / 1.1 (g_lk 0.1, g_D 1),
   hidden2's c_B = 1 / 1.4 (g_A 0.3) and the output's c_N = 1 / 1.1 (g_A 0),
   so the factors are 1.1 / 1.4 and 1. */
START_TEST(ideal_interneurons_follow_their_partners)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    /* loop 0: all interneurons; loop 1: inter2 only ({inter2: ideal}), and
       inter1's projections, without a rule here, keep their weights */
    const char *sets[] = { _i ? "simulation.steady.interneurons.inter2=ideal"
                              : "simulation.steady.interneurons=ideal" };
    load(&cfg, reg, "steady", lateral_sps, sets, 1);
    apical_circuit *c = cfg.circuit;
    apical_stim *st = &c->stims[0];
    double x[4 * NPIX], u[4 * 3];
    first_images(st, 4, x, u);
    double before[30], before8[30];
    memcpy(before, c->projs[2].w, 20 * sizeof(double));
    memcpy(before8, c->projs[8].w, 20 * sizeof(double));
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert(apical_steady_learn(sd, x, u, NULL, 4, err, sizeof err) == 0);
    apical_steady_sync(sd);
    double moved = 0;
    for (int i = 0; i < 20; i++)
        moved = fmax(moved, fabs(c->projs[2].w[i] - before[i]));
    ck_assert_double_gt(moved, 1e-4);
    /* (copy, partner, factor): hidden1->inter1 and bias->inter1 follow
       hidden1->hidden2 and bias->hidden2; hidden2->inter2 and bias->inter2
       follow hidden2->output and bias->output */
    const int pairs[4][2] = { { 8, 2 }, { 9, 3 }, { 10, 4 }, { 11, 5 } };
    const double f[4] = { 1.1 / 1.4, 1.1 / 1.4, 1, 1 };
    for (int k = 2 * _i; k < 4; k++) {
        const apical_proj *a = &c->projs[pairs[k][0]], *b = &c->projs[pairs[k][1]];
        for (size_t i = 0; i < apical_proj_n_weights(c, a); i++)
            ck_assert_double_eq_tol(a->w[i], f[k] * b->w[i], 1e-12);
    }
    for (int i = 0; _i && i < 20; i++)
        ck_assert_double_eq(c->projs[8].w[i], before8[i]);
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

/* interneurons: free takes Eq. 8 at the end of the up sweep: the
   interneuron settles with its partner's un-nudged potential, E^IP =
   phi(u_I) - phi(c_I v_I), and the change is taken with the up sweep's
   rates.  In the self-predicting state E^IP is then zero with the target
   on, where the paper's scheme (learned) moves the weights; away from it the
   change equals one computed by hand from the up sweep. */
static const char *lateral_learning(int sps)
{
    static char text[2048];
    const char *init = sps ? "self_predicting: true" : "uniform: [-1, 1]";
    snprintf(text, sizeof text,
             "  - {from: hidden2, to: hidden1.apical, init: {uniform: [-1, 1]}}\n"
             "  - {from: output, to: hidden2.apical, init: {uniform: [-1, 1]}}\n"
             "  - {from: hidden1, to: inter1.dendrite, init: {%s}, rule: {dendritic_error: {eta: 1}}}\n"
             "  - {from: bias, to: inter1.dendrite, init: {%s}, rule: {dendritic_error: {eta: 1}}}\n"
             "  - {from: hidden2, to: inter2.dendrite, init: {%s}, rule: {dendritic_error: {eta: 1}}}\n"
             "  - {from: bias, to: inter2.dendrite, init: {%s}, rule: {dendritic_error: {eta: 1}}}\n"
             "  - {from: inter1, to: hidden1.apical_inh, init: {uniform: [-1, 1]}}\n"
             "  - {from: inter2, to: hidden2.apical_inh, init: {uniform: [-1, 1]}}\n"
             "  - {from: hidden2.u, to: inter1.nudge, connect: one_to_one}\n"
             "  - {from: output.u, to: inter2.nudge, connect: one_to_one}\n",
             init, init, init, init);
    return text;
}

/* Largest change of the interneurons' weights (projections 8-11) and of
   hidden1 -> hidden2 after one mini-batch of four with the target on. */
static void interneuron_step(const char *kind, int sps, double *d_ip, double *d_pp)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048], set[64];
    snprintf(set, sizeof set, "simulation.steady.interneurons=%s", kind);
    const char *sets[] = { set };
    load(&cfg, reg, "steady", lateral_learning(sps), sets, 1);
    apical_circuit *c = cfg.circuit;
    apical_stim *st = &c->stims[0];
    double x[4 * NPIX], u[4 * 3], w[12][30];
    first_images(st, 4, x, u);
    for (size_t k = 0; k < 12; k++)
        memcpy(w[k], c->projs[k].w, apical_proj_n_weights(c, &c->projs[k]) * sizeof(double));
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert(apical_steady_learn(sd, x, u, NULL, 4, err, sizeof err) == 0);
    apical_steady_sync(sd);
    *d_ip = *d_pp = 0;
    for (size_t k = 2; k < 12; k++)
        for (size_t i = 0; i < apical_proj_n_weights(c, &c->projs[k]); i++) {
            double d = fabs(c->projs[k].w[i] - w[k][i]);
            if (k >= 8)
                *d_ip = fmax(*d_ip, d);
            else if (k == 2)
                *d_pp = fmax(*d_pp, d);
        }
    if (!sps) { /* by hand: the up sweep, then each interneuron nudged by its
                   partner's up-sweep potential */
        const double cb = 1.0 / 1.4, cn = 1.0 / 1.1, ci = 1.0 / 1.1;
        double want[4][20] = { { 0 } };
        for (int b = 0; b < 4; b++) {
            double r1[5], r2[4], u2[4], u3[3], r3[3];
            layer_c(w[0], w[1], x + b * NPIX, 5, NPIX, cb, NULL, r1);
            layer_c(w[2], w[3], r1, 4, 5, cb, u2, r2);
            layer_c(w[4], w[5], r2, 3, 4, cn, u3, r3);
            /* inter1 (4) from hidden1 (5) towards u2; inter2 (3) from hidden2 (4) towards u3 */
            const double *pre[2] = { r1, r2 }, *part[2] = { u2, u3 };
            const size_t nd[2] = { 4, 3 }, ns[2] = { 5, 4 };
            for (int l = 0; l < 2; l++)
                for (size_t i = 0; i < nd[l]; i++) {
                    double v = w[9 + 2 * l][i];
                    for (size_t j = 0; j < ns[l]; j++)
                        v += w[8 + 2 * l][i * ns[l] + j] * pre[l][j];
                    double ui = (v + 0.2 * part[l][i]) / 1.3; /* (g_D v + g_som u_P) / (...) */
                    double e = sigm(ui) - sigm(ci * v);
                    for (size_t j = 0; j < ns[l]; j++)
                        want[2 * l][i * ns[l] + j] += e * pre[l][j] / 4;
                    want[2 * l + 1][i] += e / 4;
                }
        }
        double worst = 0, size = 0;
        for (size_t k = 8; k < 12; k++)
            for (size_t i = 0; i < apical_proj_n_weights(c, &c->projs[k]); i++) {
                worst = fmax(worst, fabs(c->projs[k].w[i] - w[k][i] - want[k - 8][i]));
                size = fmax(size, fabs(want[k - 8][i]));
            }
        printf("interneurons %s vs by hand: largest change %.3g, largest difference %.3g\n",
               kind, size, worst);
        ck_assert_double_gt(size, 1e-3);
        ck_assert_double_lt(worst, 1e-14);
    }
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}

START_TEST(free_interneurons_learn_in_the_free_state)
{
    double ip, pp, ip_l, pp_l, ip_r, pp_r;
    interneuron_step("free", 1, &ip, &pp);
    interneuron_step("learned", 1, &ip_l, &pp_l);
    printf("self-predicting start, target on: interneuron weights move %.3g (free) and "
           "%.3g (learned); hidden1->hidden2 %.3g and %.3g\n", ip, ip_l, pp, pp_l);
    ck_assert_double_lt(ip, 1e-15);
    ck_assert_double_gt(ip_l, 1e-4);
    ck_assert_double_gt(pp, 1e-4);
    ck_assert_double_eq_tol(pp, pp_l, 1e-15); /* the forward rule is the same */
    interneuron_step("free", 0, &ip_r, &pp_r);

    /* no interneuron rule to run in the free state: refused */
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    const char *sets[] = { "simulation.steady.interneurons=free" };
    load(&cfg, reg, "steady", lateral_sps, sets, 1);
    ck_assert_ptr_null(apical_steady_new(cfg.circuit, &cfg.steady, err, sizeof err));
    ck_assert_msg(strstr(err, "no projection into an interneuron's dendrite has a rule"), "%s",
                  err);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

/* interneurons: implicit.  Interneuron layer l (0: inter1 from hidden1,
   1: inter2 from hidden2) of the settled batch, by hand from the states:
   the presynaptic rates r_b the rule learns with (the final ones), each
   cell's post factor e = phi(u_I) - phi(c_I v), v from the up sweep's rates
   (the down sweep settles an interneuron before its presynaptic layer), and
   its gain g = c_I phi'(c_I v) - phi'(u_I) g_D / (g_lk + g_D + g_som), the
   derivative of -e by v. */
#define IMP_B 4
static void inter_posts(apical_circuit *c, apical_steady *sd, const double *x, int l,
                        double r[IMP_B][5], double e[IMP_B][4], double g[IMP_B][4])
{
    const size_t ns = l ? 4 : 5, nd = l ? 3 : 4, src = l ? 4 : 2, dst = l ? 5 : 3;
    const double *w = c->projs[8 + 2 * l].w, *bias = c->projs[9 + 2 * l].w, ci = 1.0 / 1.1;
    for (int b = 0; b < IMP_B; b++) {
        const double *fin = apical_steady_state(sd, src, (size_t)b);
        const double *ui = apical_steady_state(sd, dst, (size_t)b);
        const double *part = apical_steady_state(sd, dst + 1, (size_t)b);
        double r1[5], r2[4];
        layer_c(c->projs[0].w, c->projs[1].w, x + b * NPIX, 5, NPIX, 1.0 / 1.4, NULL, r1);
        layer_c(c->projs[2].w, c->projs[3].w, r1, 4, 5, 1.0 / 1.4, NULL, r2);
        const double *rup = l ? r2 : r1;
        for (size_t j = 0; j < ns; j++)
            r[b][j] = sigm(fin[j]);
        for (size_t i = 0; i < nd; i++) {
            double v = bias[i];
            for (size_t j = 0; j < ns; j++)
                v += w[i * ns + j] * rup[j];
            ck_assert_double_eq_tol(ui[i], (v + 0.2 * part[i]) / 1.3, 1e-12);
            double s1 = sigm(ui[i]), s0 = sigm(ci * v);
            e[b][i] = s1 - s0;
            g[b][i] = ci * s0 * (1 - s0) - s1 * (1 - s1) / 1.3;
        }
    }
}

static double sum_sq_posts(apical_circuit *c, apical_steady *sd, const double *x)
{
    double r[IMP_B][5], e[IMP_B][4], g[IMP_B][4], sum = 0;
    for (int l = 0; l < 2; l++) {
        inter_posts(c, sd, x, l, r, e, g);
        for (int b = 0; b < IMP_B; b++)
            for (int i = 0; i < (l ? 3 : 4); i++)
                sum += e[b][i] * e[b][i];
    }
    return sum;
}

/* The step: with G = f (r_b . r_b' + 1) the Gram of the presynaptic rates
   and the bias (f = eta / batch = 1/4), each cell's post factors e' solve
   (I + diag(g) G) e' = e (GSL's LU here), and the weights move by f e'^T
   (r, 1).  The explicit step (f e^T (r, 1)) is computed too, to show that
   the two differ at this rate.  Then, with the forward weights held and
   eta^IP 40, ten steps on one batch: the implicit step takes most of the
   interneurons' error out at once and lowers it at every step (not to 0:
   the step is first order, and hidden1's final rates move with inter1's
   weights through the apical dendrite), the explicit one overshoots and
   grows it. */
START_TEST(implicit_interneurons_solve_the_step_at_the_new_weights)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    const char *sets[] = { "simulation.steady.interneurons=implicit" };
    load(&cfg, reg, "steady", lateral_learning(0), sets, 1);
    apical_circuit *c = cfg.circuit;
    double x[IMP_B * NPIX], u[IMP_B * 3], w[12][30];
    first_images(&c->stims[0], IMP_B, x, u);
    for (size_t k = 0; k < 12; k++)
        memcpy(w[k], c->projs[k].w, apical_proj_n_weights(c, &c->projs[k]) * sizeof(double));
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert(apical_steady_settle(sd, x, u, IMP_B, err, sizeof err) == 0);
    double want[4][30] = { { 0 } }, expl[4][30] = { { 0 } }, f = 0.25;
    for (int l = 0; l < 2; l++) {
        double r[IMP_B][5], e[IMP_B][4], g[IMP_B][4];
        const size_t ns = l ? 4 : 5, nd = l ? 3 : 4;
        inter_posts(c, sd, x, l, r, e, g);
        gsl_matrix *m = gsl_matrix_alloc(IMP_B, IMP_B);
        gsl_vector *rhs = gsl_vector_alloc(IMP_B), *sol = gsl_vector_alloc(IMP_B);
        gsl_permutation *perm = gsl_permutation_alloc(IMP_B);
        for (size_t i = 0; i < nd; i++) {
            for (int b = 0; b < IMP_B; b++) {
                ck_assert_double_gt(g[b][i], 0); /* no clipping to check here */
                for (int b2 = 0; b2 < IMP_B; b2++) {
                    double dot = 1;
                    for (size_t j = 0; j < ns; j++)
                        dot += r[b][j] * r[b2][j];
                    gsl_matrix_set(m, (size_t)b, (size_t)b2, (b == b2) + g[b][i] * f * dot);
                }
                gsl_vector_set(rhs, (size_t)b, e[b][i]);
            }
            int sign;
            gsl_linalg_LU_decomp(m, perm, &sign);
            gsl_linalg_LU_solve(m, perm, rhs, sol);
            for (int b = 0; b < IMP_B; b++) {
                double ep = gsl_vector_get(sol, (size_t)b);
                for (size_t j = 0; j < ns; j++) {
                    want[2 * l][i * ns + j] += f * ep * r[b][j];
                    expl[2 * l][i * ns + j] += f * e[b][i] * r[b][j];
                }
                want[2 * l + 1][i] += f * ep;
                expl[2 * l + 1][i] += f * e[b][i];
            }
        }
        gsl_matrix_free(m);
        gsl_vector_free(rhs);
        gsl_vector_free(sol);
        gsl_permutation_free(perm);
    }
    ck_assert(apical_steady_learn(sd, x, u, NULL, IMP_B, err, sizeof err) == 0);
    apical_steady_sync(sd);
    double worst = 0, size = 0, apart = 0;
    for (size_t k = 8; k < 12; k++)
        for (size_t i = 0; i < apical_proj_n_weights(c, &c->projs[k]); i++) {
            worst = fmax(worst, fabs(c->projs[k].w[i] - w[k][i] - want[k - 8][i]));
            size = fmax(size, fabs(want[k - 8][i]));
            apart = fmax(apart, fabs(want[k - 8][i] - expl[k - 8][i]));
        }
    printf("interneurons implicit vs by hand: largest change %.3g, largest difference %.3g "
           "(the explicit step differs by %.3g)\n", size, worst, apart);
    ck_assert_double_gt(size, 1e-3);
    ck_assert_double_gt(apart, 1e-3);
    ck_assert_double_lt(worst, 1e-9);
    apical_steady_free(sd);
    apical_config_free(&cfg);

    /* ten steps on one batch at eta^IP 40, the forward weights held */
    double sums[2][11];
    for (int kind = 0; kind < 2; kind++) {
        const char *more[] = { kind ? "simulation.steady.interneurons=implicit"
                                    : "simulation.steady.interneurons=learned",
                               "projections.input-hidden1.rule.dendritic_error.eta=0",
                               "projections.bias-hidden1.rule.dendritic_error.eta=0",
                               "projections.hidden1-hidden2.rule.dendritic_error.eta=0",
                               "projections.bias-hidden2.rule.dendritic_error.eta=0",
                               "projections.hidden2-output.rule.dendritic_error.eta=0",
                               "projections.bias-output.rule.dendritic_error.eta=0",
                               "projections.hidden1-inter1.rule.dendritic_error.eta=40",
                               "projections.bias-inter1.rule.dendritic_error.eta=40",
                               "projections.hidden2-inter2.rule.dendritic_error.eta=40",
                               "projections.bias-inter2.rule.dendritic_error.eta=40" };
        load(&cfg, reg, "steady", lateral_learning(0), more, 11);
        c = cfg.circuit;
        sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
        ck_assert_msg(sd != NULL, "%s", err);
        for (int t = 0; t <= 10; t++) {
            ck_assert(apical_steady_settle(sd, x, u, IMP_B, err, sizeof err) == 0);
            sums[kind][t] = sum_sq_posts(c, sd, x);
            if (t < 10) {
                ck_assert(apical_steady_learn(sd, x, u, NULL, IMP_B, err, sizeof err) == 0);
                apical_steady_sync(sd);
            }
        }
        apical_steady_free(sd);
        apical_config_free(&cfg);
    }
    printf("ten steps at eta^IP 40: squared post factors %.3g -> %.3g (implicit), "
           "%.3g -> %.3g (explicit)\n", sums[1][0], sums[1][10], sums[0][0], sums[0][10]);
    ck_assert_double_eq_tol(sums[0][0], sums[1][0], 1e-15);
    for (int t = 0; t < 10; t++)
        ck_assert_double_lt(sums[1][t + 1], sums[1][t]);
    ck_assert_double_lt(sums[1][10], 0.2 * sums[1][0]);
    ck_assert_double_gt(sums[0][10], sums[0][0]);

    /* no interneuron rule to step: refused */
    const char *none[] = { "simulation.steady.interneurons.inter1=implicit" };
    load(&cfg, reg, "steady", lateral_sps, none, 1);
    ck_assert_ptr_null(apical_steady_new(cfg.circuit, &cfg.steady, err, sizeof err));
    ck_assert_msg(strstr(err, "implicit: no projection into an interneuron's dendrite has a "
                          "rule"), "%s", err);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

/* bp_cosine: before any learning, on all eight images (two batches of
   four), the probe compares each hidden layer's Eq. 7 update with
   backprop's and feedback alignment's of the free network.  With weak
   nudging (pyramids' g_som 0.002) in the self-predicting state the
   microcircuit's update is feedback alignment's to first order (docs/model.md
   2.3): fa_cos near 1, and bp_cos then near the cosine between feedback
   alignment's and backprop's updates, computed here from the up sweep by
   hand.  Interneurons away from the self-predicting state add their
   residual to the apical potentials and move the update away.  With
   top-down weights equal to the forward weights' transpose the two agree
   exactly. */
static apical_epoch_metrics probe_m;

static void keep_probe(void *user, const apical_epoch_metrics *m)
{
    (void)user;
    if (m->epoch == 0)
        probe_m = *m;
}

static void probe_run(const char *g_som, const char *lateral, int transpose, double bp[2],
                      double fa[2], double hand[2])
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048], set[64];
    snprintf(set, sizeof set, "defaults.pyramidal.g_som=%s", g_som);
    const char *sets[] = { set, "simulation.steady.bp_cosine=8", "simulation.steady.epochs=0" };
    load(&cfg, reg, "steady", lateral, sets, 3);
    apical_circuit *c = cfg.circuit;
    const double *w[6];
    for (int k = 0; k < 6; k++)
        w[k] = c->projs[k].w;
    double *b1 = c->projs[6].w, *b2 = c->projs[7].w; /* 5 x 4, 4 x 3 */
    if (transpose) {
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 4; j++)
                b1[i * 4 + j] = w[2][j * 5 + i];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                b2[i * 3 + j] = w[4][j * 4 + i];
    }
    /* by hand: cos(sum_b dfa_b pre_b^T, sum_b dbp_b pre_b^T) per layer, all
       basal projections (weights and bias) together, averaged over the batches */
    apical_stim *st = &c->stims[0];
    const double cb = 1.0 / 1.4, cn = 1.0 / 1.1; /* g_som off in the up sweep */
    hand[0] = hand[1] = 0;
    for (int from = 0; from < NIMG; from += 4) {
        double x[4][NPIX], r1[4][5], r2[4][4], d[2][2][4][5] = { { { { 0 } } } };
        for (int b = 0; b < 4; b++) {
            apical_stim_idx_pattern(st, (size_t)(from + b), x[b]);
            double u3[3], r3[3], d3[3];
            layer_c(w[0], w[1], x[b], 5, NPIX, cb, NULL, r1[b]);
            layer_c(w[2], w[3], r1[b], 4, 5, cb, NULL, r2[b]);
            layer_c(w[4], w[5], r2[b], 3, 4, cn, u3, r3);
            for (int i = 0; i < 3; i++) {
                double ut = st->trgt_u[(unsigned)i == st->labels.data[from + b]];
                d3[i] = r3[i] * (1 - r3[i]) * (ut - u3[i]);
            }
            for (int f = 0; f < 2; f++) { /* d[f][layer][b][cell]: f 1 feedback alignment */
                for (int i = 0; i < 4; i++) {
                    double g = 0;
                    for (int j = 0; j < 3; j++)
                        g += (f ? b2[i * 3 + j] : w[4][j * 4 + i]) * d3[j];
                    d[f][1][b][i] = g * r2[b][i] * (1 - r2[b][i]);
                }
                for (int i = 0; i < 5; i++) {
                    double g = 0;
                    for (int j = 0; j < 4; j++)
                        g += (f ? b1[i * 4 + j] : w[2][j * 5 + i]) * d[f][1][b][j];
                    d[f][0][b][i] = g * r1[b][i] * (1 - r1[b][i]);
                }
            }
        }
        const int n[2] = { 5, 4 }, np[2] = { NPIX, 5 };
        for (int l = 0; l < 2; l++) {
            double dw[2][5 * NPIX + 5] = { { 0 } }; /* [f][weights | bias] */
            for (int f = 0; f < 2; f++)
                for (int b = 0; b < 4; b++)
                    for (int i = 0; i < n[l]; i++) {
                        for (int j = 0; j < np[l]; j++)
                            dw[f][i * np[l] + j] +=
                                d[f][l][b][i] * (l ? r1[b][j] : x[b][j]);
                        dw[f][n[l] * np[l] + i] += d[f][l][b][i];
                    }
            double ab = 0, aa = 0, bb = 0;
            for (int k = 0; k < n[l] * np[l] + n[l]; k++) {
                ab += dw[0][k] * dw[1][k];
                aa += dw[1][k] * dw[1][k];
                bb += dw[0][k] * dw[0][k];
            }
            hand[l] += ab / sqrt(aa * bb) / (NIMG / 4);
        }
    }
    apical_steady_opts o = cfg.steady;
    o.on_epoch = keep_probe;
    apical_steady *sd = apical_steady_new(c, &o, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert(apical_steady_run(sd, err, sizeof err) == 0);
    size_t ih[2];
    apical_circuit_pop(c, "hidden1", &ih[0]);
    apical_circuit_pop(c, "hidden2", &ih[1]);
    for (int l = 0; l < 2; l++) {
        bp[l] = probe_m.bp_cos[ih[l]];
        fa[l] = probe_m.fa_cos[ih[l]];
    }
    ck_assert(isnan(probe_m.bp_cos[0]) && isnan(probe_m.fa_cos[6])); /* input, output */
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}

START_TEST(bp_cosine_probe_compares_with_backprop_and_feedback_alignment)
{
    double bp[2], fa[2], hand[2], bps[2], fas[2], hs[2], bpt[2], fat[2], ht[2];
    probe_run("0.002", lateral_sps, 0, bp, fa, hand);
    probe_run("0.002", lateral_random, 0, bps, fas, hs);
    probe_run("1", lateral_sps, 1, bpt, fat, ht);
    for (int l = 0; l < 2; l++) {
        printf("bp_cosine probe, hidden%d: self-predicting, weak nudging: bp %.5f fa %.6f (by "
               "hand, fa vs bp: %.5f); random interneurons: bp %.4f fa %.4f; top-down = W^T, "
               "g_som 1: bp %.6f fa %.6f\n", l + 1, bp[l], fa[l], hand[l], bps[l], fas[l],
               bpt[l], fat[l]);
        fflush(stdout);
        ck_assert_double_gt(fa[l], 0.999);
        ck_assert_double_lt(fabs(bp[l] - hand[l]), 5e-4);
        ck_assert_double_lt(fabs(hand[l]), 0.9); /* random feedback: not backprop */
        ck_assert_double_eq_tol(hs[l], hand[l], 1e-12); /* the same free network */
        ck_assert_double_lt(fas[l], 0.9);
        ck_assert_double_eq_tol(bpt[l], fat[l], 1e-12);
        ck_assert_double_eq_tol(ht[l], 1.0, 1e-12);
    }

}
END_TEST

/* Modes refuse rules they cannot run, with the place of the projection. */
START_TEST(modes_refuse_foreign_rules)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    load(&cfg, reg, "steady", lateral_sps, NULL, 0);
    cfg.steady.mode = APICAL_MODE_BACKPROP;
    apical_steady *sd = apical_steady_new(cfg.circuit, &cfg.steady, err, sizeof err);
    ck_assert_ptr_null(sd);
    ck_assert_msg(strstr(err, "dendritic_error is local") != NULL, "%s", err);
    apical_config_free(&cfg);
    load(&cfg, reg, "backprop", "", NULL, 0);
    cfg.steady.mode = APICAL_MODE_STEADY;
    sd = apical_steady_new(cfg.circuit, &cfg.steady, err, sizeof err);
    ck_assert_ptr_null(sd);
    ck_assert_msg(strstr(err, "needs simulation mode backprop") != NULL, "%s", err);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

/* decay: from epoch decay_from on, the learning rates shrink by decay per
   epoch.  With rates small enough for an epoch's change to be linear in
   them, epochs 1 and 2 (decay_from 1) change the weights by the same
   amount and epoch 3 by half of it.  With decay_interneurons: false the
   interneurons' rule (hidden1 -> inter1, given a rule here) keeps its rate
   while the forward rates halve. */
static double epoch_w[4][30];
static size_t kept_proj, kept_n; /* the projection followed and its weight count */

static int keep_weights(void *user, long epochs_done, char *err, size_t cap)
{
    (void)err, (void)cap;
    const apical_circuit *c = user;
    memcpy(epoch_w[epochs_done], c->projs[kept_proj].w, kept_n * sizeof(double));
    return 0;
}

/* The weight change of projection k in epochs 1, 2 and 3 into d[1..3]. */
static void decay_run(const char *decay_in, size_t k, double d[4])
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    const char *sets[] = { "projections.input-hidden1.rule.dendritic_error.eta=1e-3",
                           "projections.bias-hidden1.rule.dendritic_error.eta=1e-3",
                           "projections.hidden1-hidden2.rule.dendritic_error.eta=1e-3",
                           "projections.bias-hidden2.rule.dendritic_error.eta=1e-3",
                           "projections.hidden2-output.rule.dendritic_error.eta=1e-3",
                           "projections.bias-output.rule.dendritic_error.eta=1e-3",
                           "projections.hidden1-inter1.rule.dendritic_error.eta=1e-3",
                           "simulation.steady.epochs=3", "simulation.steady.decay=0.5",
                           "simulation.steady.decay_from=1", decay_in };
    load(&cfg, reg, "steady", lateral_sps, sets, 11);
    ck_assert_int_eq(cfg.steady.decay_from, 1);
    apical_circuit *c = cfg.circuit;
    kept_proj = k;
    kept_n = apical_proj_n_weights(c, &c->projs[k]);
    ck_assert_uint_eq(kept_n, k == 0 ? 30 : 20); /* input->hidden1, hidden1->inter1 */
    cfg.steady.on_checkpoint = keep_weights;
    cfg.steady.user = c;
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert_msg(apical_steady_run(sd, err, sizeof err) == 0, "%s", err);
    for (int e = 1; e < 4; e++) {
        d[e] = 0;
        for (size_t i = 0; i < kept_n; i++)
            d[e] += (epoch_w[e][i] - epoch_w[e - 1][i]) * (epoch_w[e][i] - epoch_w[e - 1][i]);
        d[e] = sqrt(d[e]);
    }
    fprintf(stderr, "decay (%s), projection %zu: weight change per epoch %.3g %.3g %.3g\n",
            decay_in, k, d[1], d[2], d[3]);
    ck_assert_double_gt(d[1], 1e-7);
    ck_assert_double_eq_tol(d[2] / d[1], 1.0, 1e-2); /* linear to 1e-3 here */
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}

START_TEST(decay_scales_the_rates_from_decay_from)
{
    double d[4];
    decay_run("simulation.steady.decay_interneurons=true", 0, d);
    ck_assert_double_eq_tol(d[3] / d[2], 0.5, 1e-2);
    decay_run("simulation.steady.decay_interneurons=true", 8, d);
    ck_assert_double_eq_tol(d[3] / d[2], 0.5, 1e-2);
    decay_run("simulation.steady.decay_interneurons=false", 0, d);
    ck_assert_double_eq_tol(d[3] / d[2], 0.5, 1e-2);
    decay_run("simulation.steady.decay_interneurons=false", 8, d);
    ck_assert_double_eq_tol(d[3] / d[2], 1.0, 1e-2);
}
END_TEST

static apical_epoch_metrics angle_m[2];

static void keep_metrics(void *user, const apical_epoch_metrics *m)
{
    (void)user;
    if (m->epoch < 2)
        angle_m[m->epoch] = *m;
}

/* The test's own angle between B (nx x ny) and W^T (W ny x nx), degrees. */
static double angle_of(const apical_proj *b, const apical_proj *w, size_t nx, size_t ny)
{
    double dot = 0, bb = 0, ww = 0;
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++) {
            dot += b->w[i * ny + j] * w->w[j * nx + i];
            bb += b->w[i * ny + j] * b->w[i * ny + j];
            ww += w->w[j * nx + i] * w->w[j * nx + i];
        }
    return acos(dot / sqrt(bb * ww)) * 180 / M_PI;
}

/* Each epoch reports, per apical-fed population, the angle between its
   top-down weights and its forward weights transposed: 0 for B = W^T, 180
   for B = -W^T, then the angle of the weights the epoch left; and per
   interneuron population the distance of its weights from their
   self-predicting copy. */
START_TEST(epochs_report_feedback_angles_and_copy_deviations)
{
    apical_registry *reg = test_registry();
    apical_config cfg;
    char err[2048];
    load(&cfg, reg, "steady", lateral_sps, NULL, 0);
    apical_circuit *c = cfg.circuit;
    apical_proj *w21 = &c->projs[2], *w32 = &c->projs[4], *b1 = &c->projs[6], *b2 = &c->projs[7];
    ck_assert_uint_eq(b1->dst, 2); /* hidden1 (5) <- hidden2 (4) */
    ck_assert_uint_eq(b2->dst, 4); /* hidden2 (4) <- output (3) */
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 4; j++)
            b1->w[i * 4 + j] = 2.5 * w21->w[j * 5 + i];
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 3; j++)
            b2->w[i * 3 + j] = -w32->w[j * 4 + i];
    ck_assert_double_eq_tol(apical_feedback_angle(c, 2), 0.0, 1e-5);
    ck_assert_double_eq_tol(apical_feedback_angle(c, 4), 180.0, 1e-5);
    ck_assert_double_eq_tol(apical_feedback_angle(c, APICAL_ALL_POPS), 90.0, 1e-5);
    ck_assert(isnan(apical_feedback_angle(c, 6))); /* the output has no top-down input */
    cfg.steady.on_epoch = keep_metrics;
    apical_steady *sd = apical_steady_new(c, &cfg.steady, err, sizeof err);
    ck_assert_msg(sd != NULL, "%s", err);
    ck_assert_msg(apical_steady_run(sd, err, sizeof err) == 0, "%s", err);
    ck_assert_double_eq_tol(angle_m[0].angle_deg[2], 0.0, 1e-5);
    ck_assert_double_eq_tol(angle_m[0].angle_deg[4], 180.0, 1e-5);
    ck_assert(isnan(angle_m[0].angle_deg[6]) && isnan(angle_m[0].angle_deg[0]));
    double a1 = angle_of(b1, w21, 5, 4), a2 = angle_of(b2, w32, 4, 3);
    fprintf(stderr, "feedback angles after one epoch: %.4f %.4f deg\n", a1, a2);
    ck_assert_double_gt(a1, 1e-3);         /* the forward weights learned */
    ck_assert_double_lt(a2, 180.0 - 1e-3);
    ck_assert_double_eq_tol(angle_m[1].angle_deg[2], a1, 1e-9);
    ck_assert_double_eq_tol(angle_m[1].angle_deg[4], a2, 1e-9);
    /* copy_dev: the interneurons (fixed here) start as the self-predicting
       copy, exactly, and after the epoch lie as far from it as their
       partners have moved: |W8 - f W2, W9 - f W3| / |f W2, f W3| for inter1
       (f = c_B / c_I = 1.1 / 1.4), W10, W11 against W4, W5 for inter2 (f = 1) */
    const int cp[2][4] = { { 8, 9, 2, 3 }, { 10, 11, 4, 5 } };
    const double fcp[2] = { 1.1 / 1.4, 1.0 };
    for (int l = 0; l < 2; l++) {
        double dd = 0, pp = 0;
        for (int h = 0; h < 2; h++) {
            const apical_proj *a = &c->projs[cp[l][h]], *b = &c->projs[cp[l][h + 2]];
            for (size_t i = 0; i < apical_proj_n_weights(c, a); i++) {
                double t = fcp[l] * b->w[i];
                dd += (a->w[i] - t) * (a->w[i] - t);
                pp += t * t;
            }
        }
        size_t pop = l ? 5 : 3;
        fprintf(stderr, "copy deviation of %s after one epoch: %.6g (by hand %.6g)\n",
                c->pops[pop].name, angle_m[1].copy_dev[pop], sqrt(dd / pp));
        ck_assert_double_eq(angle_m[0].copy_dev[pop], 0.0);
        ck_assert_double_gt(angle_m[1].copy_dev[pop], 1e-4);
        ck_assert_double_eq_tol(angle_m[1].copy_dev[pop], sqrt(dd / pp), 1e-12);
    }
    ck_assert(isnan(angle_m[1].copy_dev[2]) && isnan(angle_m[1].copy_dev[0]));
    apical_steady_free(sd);
    apical_config_free(&cfg);
    apical_registry_free(reg);
}
END_TEST

int main(void)
{
    write_idx();
    Suite *s = suite_create("steady");
    TCase *t = tcase_create("steady");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, iterated_sweeps_reach_the_fixed_point);
    tcase_add_test(t, one_sweep_in_the_self_predicting_state);
    tcase_add_test(t, steady_update_of_the_output_weights);
    tcase_add_test(t, steady_update_of_the_topdown_weights);
    tcase_add_test(t, backprop_is_the_gradient);
    tcase_add_loop_test(t, feedback_topdown_returns_the_error_through_the_topdown_weights, 0, 2);
    tcase_add_loop_test(t, ideal_interneurons_follow_their_partners, 0, 2);
    tcase_add_test(t, free_interneurons_learn_in_the_free_state);
    tcase_add_test(t, implicit_interneurons_solve_the_step_at_the_new_weights);
    tcase_add_test(t, bp_cosine_probe_compares_with_backprop_and_feedback_alignment);
    tcase_add_test(t, modes_refuse_foreign_rules);
    tcase_add_test(t, decay_scales_the_rates_from_decay_from);
    tcase_add_test(t, epochs_report_feedback_angles_and_copy_deviations);
    suite_add_tcase(s, t);
    int rc = test_run_suite(s);
    unlink(img_path);
    unlink(lab_path);
    return rc;
}
