/*
 * Each module's functions against values worked out by hand (docs/model.md
 * 1.3-1.8), loaded through the real registry.  Expected numbers come from
 * the equations with the default conductances g_lk 0.1, g_B 1, g_A 0.8,
 * g_D 1, g_som 0.8; transcendental values were evaluated separately with
 * Python's math module.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "transfer.h"

#define TOL 1e-14

static apical_registry *reg;

static void setup(void) { reg = test_registry(); }
static void teardown(void) { apical_registry_free(reg); }

static void defaults(const apical_cell_model *m, double *p)
{
    for (size_t i = 0; i < m->n_params; i++)
        p[i] = m->params[i].def;
}

static size_t obs_index(const apical_cell_model *m, const char *name)
{
    size_t k = apical_model_find_obs(m, name);
    ck_assert_msg(k != (size_t)-1, "%s lacks observable %s", m->name, name);
    return k;
}

START_TEST(pyramidal_rhs_and_observables)
{
    const apical_cell_model *m = test_cell(reg, "pyramidal");
    double p[16], dydt[2], obs[2 * 16];
    defaults(m, p);
    /* ports: basal, apical, apical_inh, target, target_gate */
    const double y[2] = { 0.5, -1.0 };
    const double in[5 * 2] = { 1.2, 0.4, -0.3, 0.6, 0.1, -0.2, 2.0, 0.0, 1.0, 0.0 };
    apical_cell_ctx c = { sizeof c, 2, p, y, in, NULL, 0 };
    ck_assert_int_eq(m->rhs(&c, dydt), APICAL_OK);
    /* -0.1*0.5 + (1.2-0.5) + 0.8*(-0.2-0.5) + 0.8*1*(2-0.5) = 1.29 */
    ck_assert_double_eq_tol(dydt[0], 1.29, TOL);
    /* 0.1 + (0.4+1) + 0.8*(0.4+1), teaching gated off = 2.62 */
    ck_assert_double_eq_tol(dydt[1], 2.62, TOL);

    ck_assert_int_eq(m->observe(&c, APICAL_OBS_STATE, obs), APICAL_OK);
    ck_assert_int_eq(m->observe(&c, APICAL_OBS_PORTS, obs), APICAL_OK);
    size_t u = obs_index(m, "u"), r = obs_index(m, "rate"), va = obs_index(m, "v_apical"),
           vb = obs_index(m, "v_basal"), rbp = obs_index(m, "rate_basal_pred"),
           eb = obs_index(m, "err_basal"), ea = obs_index(m, "err_apical");
    ck_assert_double_eq_tol(obs[u * 2 + 1], -1.0, TOL);
    ck_assert_double_eq_tol(obs[r * 2 + 0], 0.6224593312018546, TOL);
    ck_assert_double_eq_tol(obs[r * 2 + 1], 0.2689414213699951, TOL);
    ck_assert_double_eq_tol(obs[vb * 2 + 0], 1.2, TOL);
    ck_assert_double_eq_tol(obs[va * 2 + 0], -0.2, TOL);
    ck_assert_double_eq_tol(obs[va * 2 + 1], 0.4, TOL);
    /* c_B = 1/1.9: phi(1.2/1.9), phi(0.4/1.9) */
    ck_assert_double_eq_tol(obs[rbp * 2 + 0], 0.6528473974592715, TOL);
    ck_assert_double_eq_tol(obs[rbp * 2 + 1], 0.552438044874211, TOL);
    ck_assert_double_eq_tol(obs[eb * 2 + 0], -0.030388066257416857, TOL);
    ck_assert_double_eq_tol(obs[eb * 2 + 1], -0.2834966235042159, TOL);
    /* Eq. 10 predicts from the top-down port alone: phi(u) - phi(apical) */
    ck_assert_double_eq_tol(obs[ea * 2 + 0], 0.19690184801351357, TOL);
    ck_assert_double_eq_tol(obs[ea * 2 + 1], -0.3767148848558003, TOL);
}
END_TEST

START_TEST(observables_not_needed_are_skipped)
{
    /* the host's need mask lets a cell skip costly observables it won't read */
    const apical_cell_model *m = test_cell(reg, "pyramidal");
    double p[16], obs[16];
    uint8_t need[16] = { 0 };
    defaults(m, p);
    const double y[1] = { 0.5 }, in[5] = { 1.2, -0.3, 0.1, 0, 0 };
    size_t ea = obs_index(m, "err_apical"), eb = obs_index(m, "err_basal");
    need[eb] = 1;
    apical_cell_ctx c = { sizeof c, 1, p, y, in, need, 0 };
    obs[ea] = 12345.0;
    m->observe(&c, APICAL_OBS_STATE, obs);
    m->observe(&c, APICAL_OBS_PORTS, obs);
    ck_assert_double_eq(obs[ea], 12345.0);
    ck_assert_double_eq_tol(obs[eb], -0.030388066257416857, TOL);
}
END_TEST

START_TEST(output_layer_attenuation_without_apical)
{
    /* g_A = 0: c_N = g_B/(g_lk+g_B) = 1/1.1 (docs/model.md 1.8) */
    const apical_cell_model *m = test_cell(reg, "pyramidal");
    double p[16], obs[16];
    defaults(m, p);
    p[2] = 0; /* g_A */
    ck_assert_str_eq(m->params[2].name, "g_A");
    const double y[1] = { 0.0 }, in[5] = { 2.2, 0, 0, 0, 0 };
    apical_cell_ctx c = { sizeof c, 1, p, y, in, NULL, 0 };
    m->observe(&c, APICAL_OBS_STATE, obs);
    m->observe(&c, APICAL_OBS_PORTS, obs);
    /* phi(2.2/1.1) = phi(2) = 1/(1+e^-2) */
    ck_assert_double_eq_tol(obs[obs_index(m, "rate_basal_pred")], 1.0 / (1.0 + exp(-2.0)), TOL);
}
END_TEST

START_TEST(sst_rhs_and_observables)
{
    const apical_cell_model *m = test_cell(reg, "sst");
    double p[16], dydt[1], obs[16];
    defaults(m, p);
    const double y[1] = { 0.3 }, in[2] = { 1.0, -0.5 }; /* dendrite, nudge */
    apical_cell_ctx c = { sizeof c, 1, p, y, in, NULL, 0 };
    ck_assert_int_eq(m->rhs(&c, dydt), APICAL_OK);
    /* -0.1*0.3 + 1*(1-0.3) + 0.8*(-0.5-0.3) = 0.03 */
    ck_assert_double_eq_tol(dydt[0], 0.03, TOL);
    m->observe(&c, APICAL_OBS_STATE, obs);
    m->observe(&c, APICAL_OBS_PORTS, obs);
    ck_assert_double_eq_tol(obs[obs_index(m, "rate")], 0.574442516811659, TOL);
    /* c_I = 1/1.1 */
    ck_assert_double_eq_tol(obs[obs_index(m, "rate_dendrite_pred")], 0.7128140986174973, TOL);
    ck_assert_double_eq_tol(obs[obs_index(m, "err_dendrite")], -0.1383715818058383, TOL);
}
END_TEST

START_TEST(rate_input_filters_the_pattern)
{
    const apical_cell_model *m = test_cell(reg, "rate_input");
    double p[1] = { 3.0 }, dydt[1], obs[4];
    const double y[1] = { 0.2 }, in[1] = { 0.8 };
    apical_cell_ctx c = { sizeof c, 1, p, y, in, NULL, 0 };
    ck_assert_int_eq(m->rhs(&c, dydt), APICAL_OK);
    ck_assert_double_eq_tol(dydt[0], 0.2, TOL); /* (0.8 - 0.2)/3 */
    m->observe(&c, APICAL_OBS_STATE, obs);
    ck_assert_double_eq_tol(obs[obs_index(m, "rate")], 0.2, TOL); /* no transfer function */
    char msg[128] = "";
    p[0] = 0;
    ck_assert_int_ne(m->check(p, msg, sizeof msg), APICAL_OK);
    ck_assert_ptr_nonnull(strstr(msg, "tau"));
}
END_TEST

/* rate of a one-cell pyramid with the given transfer parameters at u */
static double pyr_rate(const apical_cell_model *m, double phi, double u, double *dphi)
{
    double p[16], obs[16], dfdy[1], dfdin[5], dody[16];
    defaults(m, p);
    p[4] = phi;
    const double y[1] = { u }, in[5] = { 0 };
    apical_cell_ctx c = { sizeof c, 1, p, y, in, NULL, 0 };
    m->observe(&c, APICAL_OBS_STATE, obs);
    m->jacobian(&c, dfdy, dfdin, dody);
    *dphi = dody[obs_index(m, "rate")];
    return obs[obs_index(m, "rate")];
}

START_TEST(transfer_functions_never_overflow)
{
    const apical_cell_model *m = test_cell(reg, "pyramidal");
    ck_assert_str_eq(m->params[4].name, "phi");
    double d;
    /* soft rectifier gamma 0.1, beta 1, theta 3 */
    ck_assert_double_eq_tol(pyr_rate(m, 1, 3.0, &d), 0.06931471805599453, TOL);
    ck_assert_double_eq_tol(d, 0.05, TOL); /* gamma*beta*sigmoid(0) */
    ck_assert_double_eq_tol(pyr_rate(m, 1, 1000.0, &d), 99.7, 1e-12);
    ck_assert_double_eq_tol(d, 0.1, TOL);
    double lo = pyr_rate(m, 1, -1000.0, &d);
    ck_assert(lo >= 0 && lo < 1e-300 && isfinite(d));
    ck_assert_double_eq_tol(pyr_rate(m, 2, 2.0, &d), 2.1269280110429727, TOL); /* softplus */
    /* logistic at both extremes */
    ck_assert_double_eq_tol(pyr_rate(m, 0, 800.0, &d), 1.0, TOL);
    ck_assert(d >= 0 && d < 1e-300);
    ck_assert_double_eq_tol(pyr_rate(m, 0, -800.0, &d), 0.0, TOL);
    ck_assert(isfinite(d));
}
END_TEST

/* The vectorised rows (apical_phi_n: polynomial exp and log1p) against the
   scalar libm forms: relative error at most 1e-14 (a few ulp in practice),
   or absolute 1e-300 where the value underflows; NaN stays NaN. */
START_TEST(vector_transfer_matches_libm)
{
    enum { N = 200001 };
    static double x[N], y[N];
    for (int i = 0; i < N; i++) /* dense near 0, out to +-800 */
        x[i] = 800.0 * pow((i - N / 2) / (double)(N / 2), 3.0) + 1e-3 * sin(i);
    const double kinds[3][4] = { { 0, 0.1, 1, 3 }, { 1, 0.1, 1, 3 }, { 2, 0.1, 1, 3 } };
    const double scales[2] = { 1.0, 0.8333333333333334 };
    for (int k = 0; k < 3; k++)
        for (int sc = 0; sc < 2; sc++) {
            apical_transfer t = apical_transfer_make(kinds[k][0], kinds[k][1], kinds[k][2],
                                                     kinds[k][3]);
            apical_phi_n(&t, N, scales[sc], x, y);
            double worst = 0;
            for (int i = 0; i < N; i++) {
                double ref = apical_phi(&t, scales[sc] * x[i]), d = fabs(y[i] - ref);
                if (d > 1e-300 && sc == 0)
                    worst = fmax(worst, d / fabs(ref));
                /* with a scale, scale * x may be rounded once or fused into the
                   next operation: allow for that input rounding (|d log phi/dv| <= 1) */
                double tol = 1e-14 + (sc ? 4.5e-16 * fabs(scales[sc] * x[i]) : 0.0);
                ck_assert_msg(d <= tol * fabs(ref) + 1e-300, "phi %d at %.17g: %.17g vs %.17g",
                              k, x[i], y[i], ref);
            }
            if (sc == 0)
                fprintf(stderr, "phi %s: vector vs libm, largest relative difference %.3g\n",
                        k == 0 ? "logistic" : k == 1 ? "softrect" : "softplus", worst);
            if (sc)
                continue;
            apical_dphi_n(&t, N, x, y); /* the slope rows, same bound */
            worst = 0;
            for (int i = 0; i < N; i++) {
                double ref = apical_dphi(&t, x[i]), d = fabs(y[i] - ref);
                if (d > 1e-300)
                    worst = fmax(worst, d / fabs(ref));
                ck_assert_msg(d <= 1e-14 * fabs(ref) + 1e-300, "dphi %d at %.17g: %.17g vs %.17g",
                              k, x[i], y[i], ref);
            }
            fprintf(stderr, "dphi %s: vector vs libm, largest relative difference %.3g\n",
                    k == 0 ? "logistic" : k == 1 ? "softrect" : "softplus", worst);
        }
    double nan_in[3] = { NAN, -INFINITY, INFINITY }, out[3];
    apical_transfer lg = apical_transfer_make(0, 0, 0, 0), sp = apical_transfer_make(2, 0, 0, 0);
    apical_phi_n(&lg, 3, 1.0, nan_in, out);
    ck_assert(isnan(out[0]) && out[1] >= 0.0 && out[1] < 1e-300 && out[2] == 1.0);
    apical_phi_n(&sp, 3, 1.0, nan_in, out);
    ck_assert(isnan(out[0]) && out[1] >= 0.0 && out[1] < 1e-300 && isinf(out[2]));
}
END_TEST

/* The analytic Jacobian of each cell against central differences. */
static void check_jacobian(const char *name, const double *in, size_t n_in_rows)
{
    const apical_cell_model *m = test_cell(reg, name);
    double p[16], dfdy[1], dfdin[8], dody[16], f1[1], f2[1], o1[16], o2[16];
    defaults(m, p);
    ck_assert_uint_eq(m->n_state, 1);
    ck_assert_uint_eq(m->n_ports, n_in_rows);
    double y[1] = { 0.37 }, inb[8];
    memcpy(inb, in, n_in_rows * sizeof(double));
    apical_cell_ctx c = { sizeof c, 1, p, y, inb, NULL, 0 };
    ck_assert_int_eq(m->jacobian(&c, dfdy, dfdin, dody), APICAL_OK);
    const double h = 1e-6;
    y[0] += h; m->rhs(&c, f1); m->observe(&c, APICAL_OBS_STATE, o1);
    y[0] -= 2 * h; m->rhs(&c, f2); m->observe(&c, APICAL_OBS_STATE, o2);
    y[0] += h;
    ck_assert_double_eq_tol(dfdy[0], (f1[0] - f2[0]) / (2 * h), 1e-8);
    for (size_t o = 0; o < m->n_obs; o++)
        if (m->obs[o].stage == APICAL_OBS_STATE)
            ck_assert_double_eq_tol(dody[o], (o1[o] - o2[o]) / (2 * h), 1e-8);
    for (size_t q = 0; q < m->n_ports; q++) {
        inb[q] += h; m->rhs(&c, f1);
        inb[q] -= 2 * h; m->rhs(&c, f2);
        inb[q] += h;
        ck_assert_double_eq_tol(dfdin[q], (f1[0] - f2[0]) / (2 * h), 1e-8);
    }
}

START_TEST(jacobians_match_finite_differences)
{
    const double pin[5] = { 0.4, -0.7, 0.2, 1.5, 1.0 };
    check_jacobian("pyramidal", pin, 5);
    const double sin_[2] = { 0.9, -0.3 };
    check_jacobian("sst", sin_, 2);
    const double rin[1] = { 0.6 };
    check_jacobian("rate_input", rin, 1);
}
END_TEST

/* W, Delta: 2 x 3; post 2; pre 3 */
static const double W0[6] = { 0.1, -0.2, 0.3, 0.4, 0.5, -0.6 };
static const double D0[6] = { 0.2, 0.0, -0.1, 0.05, 0.3, 0.0 };
static const double pre[3] = { 0.5, 1.0, -1.0 };

START_TEST(dendritic_error_rule)
{
    const apical_rule *u = test_rule(reg, "dendritic_error");
    ck_assert_str_eq(u->post_obs, "err_{port}");
    double p[2] = { 0.5, 10.0 }; /* eta, tau_w */
    const double post[2] = { 1.0, -2.0 };
    double dw[6], dd[6], w[6], d[6];
    apical_rule_ctx c = { sizeof c, 2, 3, p, post, pre };
    ck_assert_int_eq(u->dwdt(&c, W0, D0, dw, dd), APICAL_OK);
    ck_assert_double_eq_tol(dw[0], 0.1, TOL);          /* eta * Delta */
    ck_assert_double_eq_tol(dd[0], 0.03, TOL);         /* (1*0.5 - 0.2)/10 */
    ck_assert_double_eq_tol(dd[4], -0.23, TOL);        /* (-2*1 - 0.3)/10 */
    ck_assert_double_eq_tol(dd[5], 0.2, TOL);          /* (-2*-1 - 0)/10 */
    /* the fused Euler step equals w + dt*dw, Delta + dt*dDelta */
    memcpy(w, W0, sizeof w);
    memcpy(d, D0, sizeof d);
    ck_assert_int_eq(u->euler(&c, 0.1, w, d), APICAL_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert_double_eq_tol(w[i], W0[i] + 0.1 * dw[i], TOL);
        ck_assert_double_eq_tol(d[i], D0[i] + 0.1 * dd[i], TOL);
    }
    /* tau_w = 0: no filter, dW/dt = eta e r^T */
    p[1] = 0;
    u->dwdt(&c, W0, D0, dw, dd);
    ck_assert_double_eq_tol(dw[5], 1.0, TOL); /* 0.5 * (-2) * (-1) */
    memcpy(w, W0, sizeof w);
    u->euler(&c, 0.1, w, d);
    ck_assert_double_eq_tol(w[5], -0.6 + 0.1, TOL);
}
END_TEST

START_TEST(apical_silence_rule)
{
    const apical_rule *u = test_rule(reg, "apical_silence");
    ck_assert_str_eq(u->post_obs, "v_apical");
    double p[3] = { 2.0, 5.0, 0.25 }; /* eta, tau_w, v_rest */
    const double post[2] = { 1.0, 0.25 }; /* v_apical */
    double dw[6], dd[6];
    apical_rule_ctx c = { sizeof c, 2, 3, p, post, pre };
    ck_assert_int_eq(u->dwdt(&c, W0, D0, dw, dd), APICAL_OK);
    ck_assert_double_eq_tol(dw[2], -0.2, TOL);                 /* 2 * -0.1 */
    ck_assert_double_eq_tol(dd[0], (-0.75 * 0.5 - 0.2) / 5, TOL); /* (v_rest - v_A) r */
    ck_assert_double_eq_tol(dd[4], (0.0 - 0.3) / 5, TOL);      /* silent apical: decay only */
}
END_TEST

/* k steps at once (ABI 1.1) equal k single steps */
static void check_batch(const char *name, double tau_w)
{
    const apical_rule *u = test_rule(reg, name);
    ck_assert(APICAL_RULE_HAS_BATCH(u));
    enum { K = 7, M = 4, N = 5 };
    double p[3] = { 0.7, tau_w, 0.2 }, post[K * M], prer[K * N], scratch[2 * K * M];
    double w1[M * N], d1[M * N], w2[M * N], d2[M * N];
    for (int i = 0; i < M * N; i++) {
        w1[i] = w2[i] = sin(1.0 + i);
        d1[i] = d2[i] = 0.3 * cos(2.0 * i);
    }
    for (int i = 0; i < K * M; i++)
        post[i] = sin(0.37 * i);
    for (int i = 0; i < K * N; i++)
        prer[i] = cos(0.51 * i);
    for (int j = 0; j < K; j++) {
        apical_rule_ctx c = { sizeof c, M, N, p, post + j * M, prer + j * N };
        u->euler(&c, 0.1, w1, d1);
    }
    apical_rule_batch b = { sizeof b, M, N, K, p, post, prer, scratch, NULL, 1, NULL };
    ck_assert_int_eq(u->euler_batch(&b, 0.1, w2, d2), APICAL_OK);
    for (int i = 0; i < M * N; i++) {
        ck_assert_double_eq_tol(w2[i], w1[i], 1e-13);
        ck_assert_double_eq_tol(d2[i], d1[i], 1e-13);
    }
}

/* The single-precision batch (ABI 1.2) against the double one from the same
   (float) start: one rounding to float per call, so within 2^-24 relative of
   each value, plus 1e-12 for the order of the sums. */
static void check_batch_f32(const char *name, double tau_w)
{
    const apical_rule *u = test_rule(reg, name);
    ck_assert(APICAL_RULE_HAS_BATCH_F32(u));
    enum { K = 16, M = 5, N = 19 }; /* odd row count and a ragged tail */
    double p[3] = { 0.7, tau_w, 0.2 }, post[K * M], prer[K * N], scratch[2 * K * M];
    double w1[M * N], d1[M * N];
    float w2[M * N], d2[M * N];
    for (int i = 0; i < M * N; i++) {
        w2[i] = (float)sin(1.0 + i);
        d2[i] = (float)(0.3 * cos(2.0 * i));
        w1[i] = w2[i];
        d1[i] = tau_w > 0 ? d2[i] : 0.0;
        d2[i] = (float)d1[i];
    }
    for (int i = 0; i < K * M; i++)
        post[i] = sin(0.37 * i);
    for (int i = 0; i < K * N; i++)
        prer[i] = cos(0.51 * i);
    float w3[M * N], d3[M * N], pref[K * N];
    double w0[M * N], d0[M * N];
    memcpy(w3, w2, sizeof w2);
    memcpy(d3, d2, sizeof d2);
    memcpy(w0, w1, sizeof w1);
    memcpy(d0, d1, sizeof d1);
    for (int i = 0; i < K * N; i++)
        pref[i] = (float)prer[i];
    apical_rule_batch b = { sizeof b, M, N, K, p, post, prer, scratch, NULL, 1, NULL };
    ck_assert_int_eq(u->euler_batch(&b, 0.1, w1, d1), APICAL_OK);
    ck_assert_int_eq(u->euler_batch_f32(&b, 0.1, w2, d2), APICAL_OK);
    for (int i = 0; i < M * N; i++) {
        ck_assert_double_eq_tol(w2[i], w1[i], 0x1p-24 * fabs(w1[i]) + 1e-12);
        ck_assert_double_eq_tol(d2[i], d1[i], 0x1p-24 * fabs(d1[i]) + 1e-12);
    }
    /* with pre in single precision, in float lanes: the increment is also
       summed in float, within 1e-6 of the sum of its terms' magnitudes
       (s = dt eta; |e| <= 1.2, |pre| <= 1; a = dt / tau_w) */
    b.pre_f32 = pref;
    ck_assert_int_eq(u->euler_batch_f32(&b, 0.1, w3, d3), APICAL_OK);
    const double s = 0.1 * p[0], a = tau_w > 0 ? 0.1 / tau_w : 0;
    for (int i = 0; i < M * N; i++) {
        double terms_w = s * (K * fabs(d0[i]) + K * 1.2), terms_d = fabs(d0[i]) + K * a * 1.2;
        ck_assert_double_eq_tol(w3[i], w1[i], 0x1p-24 * fabs(w1[i]) + 1e-6 * terms_w + 1e-12);
        ck_assert_double_eq_tol(d3[i], d1[i], 0x1p-24 * fabs(d1[i]) + 1e-6 * terms_d + 1e-12);
    }
}

START_TEST(batched_steps_equal_single_steps)
{
    check_batch("dendritic_error", 3.0);
    check_batch("dendritic_error", 0.0);
    check_batch("apical_silence", 3.0);
    check_batch("apical_silence", 0.0);
    check_batch_f32("dendritic_error", 3.0);
    check_batch_f32("dendritic_error", 0.0);
    check_batch_f32("apical_silence", 3.0);
    check_batch_f32("apical_silence", 0.0);
}
END_TEST

/* ABI 1.3: every cell flagged APICAL_CELL_LD gives, on slices [0, 3) and
   [3, 7) of buffers whose rows are 7 apart, exactly what one call on all 7
   cells gives: rhs, both observable stages, Jacobian and steady state. */
START_TEST(slices_with_a_row_distance_equal_whole_calls)
{
    const char *names[] = { "pyramidal", "sst", "rate_input", "bias" };
    enum { N = 7, ROWS = 8 };
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        const apical_cell_model *m = test_cell(reg, names[k]);
        ck_assert_msg(APICAL_CELL_FLAGS(m) & APICAL_CELL_LD, "%s honours ld", names[k]);
        double p[16], y[ROWS * N], in[ROWS * N];
        defaults(m, p);
        for (int i = 0; i < ROWS * N; i++) {
            y[i] = sin(1.3 * i + (double)k);
            in[i] = cos(0.7 * i);
        }
        for (size_t q = 0; q < m->n_ports; q++) /* gates and the like at 0 or 1 */
            if (strstr(m->ports[q].name, "gate"))
                for (int i = 0; i < N; i++)
                    in[q * N + i] = i % 2;
        double whole[5][ROWS * ROWS * N], part[5][ROWS * ROWS * N];
        memset(whole, 0, sizeof whole);
        memset(part, 0, sizeof part);
        for (int sl = -1; sl < 2; sl++) {
            size_t lo = sl < 1 ? 0 : 3, hi = sl < 0 ? N : sl == 0 ? 3 : N;
            double(*o)[ROWS * ROWS * N] = sl < 0 ? whole : part;
            apical_cell_ctx c = { sizeof c, hi - lo, p, y + lo, in + lo, NULL, sl < 0 ? 0 : N };
            ck_assert_int_eq(m->rhs(&c, o[0] + lo), APICAL_OK);
            ck_assert_int_eq(m->observe(&c, APICAL_OBS_STATE, o[1] + lo), APICAL_OK);
            ck_assert_int_eq(m->observe(&c, APICAL_OBS_PORTS, o[1] + lo), APICAL_OK);
            ck_assert_int_eq(m->jacobian(&c, o[2] + lo, o[3] + lo, o[4] + lo), APICAL_OK);
            ck_assert_int_eq(m->steady(&c, 0, o[0] + ROWS * N + lo), APICAL_OK);
        }
        ck_assert(memcmp(whole, part, sizeof whole) == 0);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("models");
    TCase *t = tcase_create("modules");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, pyramidal_rhs_and_observables);
    tcase_add_test(t, observables_not_needed_are_skipped);
    tcase_add_test(t, output_layer_attenuation_without_apical);
    tcase_add_test(t, sst_rhs_and_observables);
    tcase_add_test(t, rate_input_filters_the_pattern);
    tcase_add_test(t, transfer_functions_never_overflow);
    tcase_add_test(t, vector_transfer_matches_libm);
    tcase_add_test(t, jacobians_match_finite_differences);
    tcase_add_test(t, dendritic_error_rule);
    tcase_add_test(t, apical_silence_rule);
    tcase_add_test(t, batched_steps_equal_single_steps);
    tcase_add_test(t, slices_with_a_row_distance_equal_whole_calls);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
