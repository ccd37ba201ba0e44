/*
 * Circuits end to end: one Euler step against an independent transcription
 * of docs/model.md Appendix A; the self-predicting state of docs/model.md 2.2 silences
 * every apical dendrite; the analytic steady states of docs/model.md 2.1; the
 * self-predicting state emerges from a short run of yaml/self_predicting.yaml;
 * seeds reproduce; bad YAML gives located errors; files a circuit names are
 * found beside it, then in the data directories.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static apical_registry *reg;
static void setup(void) { reg = test_registry(); }
static void teardown(void) { apical_registry_free(reg); }

static apical_config load(const char *name, const char *text)
{
    apical_config cfg;
    char err[2048] = "";
    int rc = apical_config_load_string(&cfg, reg, name, text, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    return cfg;
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- one step against Appendix A ---------------------------------------- */

static const char *small =
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
    "  pat: {kind: uniform, range: [0, 1], drives: in}\n"
    "simulation:\n"
    "  phases: [{train: pat, patterns: 1}]\n";

static void matvec(const double *w, const double *x, size_t m, size_t n, double *y)
{
    for (size_t i = 0; i < m; i++) {
        y[i] = 0;
        for (size_t j = 0; j < n; j++)
            y[i] += w[i * n + j] * x[j];
    }
}

/* Delta += dt/tau_w (e r^T - Delta) after W += dt eta Delta */
static void rule_step(double *w, double *d, const double *e, const double *r, size_t m,
                      size_t n, double eta, double dt)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            w[i * n + j] += dt * eta * d[i * n + j];
            d[i * n + j] += dt / 30.0 * (e[i] * r[j] - d[i * n + j]);
        }
}

START_TEST(euler_step_matches_appendix_a)
{
    apical_config cfg = load("small", small);
    apical_circuit *c = cfg.circuit;
    char err[1024];
    /* a non-trivial state and filter memory */
    for (size_t i = 0; i < c->n_y; i++)
        c->y[i] = 0.3 * sin(1.7 * (double)i + 0.4);
    for (size_t k = 0; k < c->n_projs; k++)
        if (c->projs[k].aux)
            for (size_t i = 0; i < c->pops[c->projs[k].src].n * c->pops[c->projs[k].dst].n; i++)
                c->projs[k].aux[i] = 0.01 * cos((double)(i + k));
    c->stims[0].x[0] = 0.9; c->stims[0].x[1] = 0.1; c->stims[0].x[2] = 0.5;
    c->stims[0].active = 1;

    /* independent transcription, synchronous update (r0 is a state too) */
    const double dt = 0.1, glk = 0.1, gb = 1, ga = 0.8, gd = 1, gs = 0.8;
    const double cb = gb / (glk + gb + ga), cn = gb / (glk + gb), ci = gd / (glk + gd);
    double r0[3], uh[4], ui[2], uo[2], rh[4], ri[2], ro[2];
    memcpy(r0, c->y + c->pops[0].y_off, sizeof r0);
    memcpy(uh, c->y + c->pops[1].y_off, sizeof uh);
    memcpy(ui, c->y + c->pops[2].y_off, sizeof ui);
    memcpy(uo, c->y + c->pops[3].y_off, sizeof uo);
    for (int i = 0; i < 4; i++) rh[i] = sigm(uh[i]);
    for (int i = 0; i < 2; i++) { ri[i] = sigm(ui[i]); ro[i] = sigm(uo[i]); }
    double w[5][16], d[5][16];
    for (int k = 0; k < 5; k++) {
        size_t nw = c->pops[c->projs[k].src].n * c->pops[c->projs[k].dst].n;
        memcpy(w[k], c->projs[k].w, nw * sizeof(double));
        memcpy(d[k], c->projs[k].aux, nw * sizeof(double));
    }
    double vb[4], vtd[4], vinh[4], va[4], vo[2], vi[2];
    matvec(w[0], r0, 4, 3, vb);
    matvec(w[1], rh, 2, 4, vo);
    matvec(w[2], ro, 4, 2, vtd);
    matvec(w[3], rh, 2, 4, vi);
    matvec(w[4], ri, 4, 2, vinh);
    double eh[4], eo[2], etd[4], ei[2], ea[4], nh[4], ni[2], no[2], n0[3];
    for (int i = 0; i < 4; i++) {
        va[i] = vtd[i] + vinh[i];
        nh[i] = uh[i] + dt * (-glk * uh[i] + gb * (vb[i] - uh[i]) + ga * (va[i] - uh[i]));
        eh[i] = rh[i] - sigm(cb * vb[i]);
        etd[i] = rh[i] - sigm(vtd[i]);
        ea[i] = -va[i];
    }
    for (int i = 0; i < 2; i++) {
        no[i] = uo[i] + dt * (-glk * uo[i] + gb * (vo[i] - uo[i]));  /* no target */
        eo[i] = ro[i] - sigm(cn * vo[i]);
        ni[i] = ui[i] + dt * (-glk * ui[i] + gd * (vi[i] - ui[i]) + gs * (uo[i] - ui[i]));
        ei[i] = ri[i] - sigm(ci * vi[i]);
    }
    for (int i = 0; i < 3; i++)
        n0[i] = r0[i] + dt * (c->stims[0].x[i] - r0[i]) / 3.0;
    rule_step(w[0], d[0], eh, r0, 4, 3, 0.3, dt);
    rule_step(w[1], d[1], eo, rh, 2, 4, 0.2, dt);
    rule_step(w[2], d[2], etd, ro, 4, 2, 0.1, dt);
    rule_step(w[3], d[3], ei, rh, 2, 4, 0.4, dt);
    rule_step(w[4], d[4], ea, ri, 4, 2, 0.5, dt);

    ck_assert_int_eq(apical_circuit_step_euler(c, dt, APICAL_STEP_PLASTIC, err, sizeof err), 0);
    const double *want[4] = { n0, nh, ni, no };
    for (int p = 0; p < 4; p++)
        for (size_t i = 0; i < c->pops[p].n; i++)
            ck_assert_msg(fabs(c->y[c->pops[p].y_off + i] - want[p][i]) < 1e-15, "pop %d cell %zu: %.17g vs %.17g", p, i, c->y[c->pops[p].y_off + i], want[p][i]);
    for (int k = 0; k < 5; k++) {
        size_t nw = c->pops[c->projs[k].src].n * c->pops[c->projs[k].dst].n;
        for (size_t i = 0; i < nw; i++) {
            ck_assert_double_eq_tol(c->projs[k].w[i], w[k][i], 1e-15);
            ck_assert_double_eq_tol(c->projs[k].aux[i], d[k][i], 1e-15);
        }
    }
    apical_config_free(&cfg);
}
END_TEST

/* ---- the self-predicting state ------------------------------------------ */

static const char *deep =
    "apical: 1\n"
    "seed: 11\n"
    "populations:\n"
    "  in:  {cell: rate_input, size: 30}\n"
    "  h1:  {cell: pyramidal, size: 20}\n"
    "  i1:  {cell: sst, size: 15}\n"
    "  h2:  {cell: pyramidal, size: 15}\n"
    "  i2:  {cell: sst, size: 10}\n"
    "  out: {cell: pyramidal, size: 10, params: {g_A: 0}}\n"
    "projections:\n"
    "  - {from: in, to: h1.basal, init: {uniform: [-1, 1]}}\n"          /* 0 */
    "  - {from: h1, to: h2.basal, init: {uniform: [-1, 1]}}\n"          /* 1 */
    "  - {from: h2, to: out.basal, init: {uniform: [-1, 1]}}\n"         /* 2 */
    "  - {from: h2, to: h1.apical, init: {uniform: [-1, 1]}}\n"         /* 3 */
    "  - {from: out, to: h2.apical, init: {uniform: [-1, 1]}}\n"        /* 4 */
    "  - {from: h1, to: i1.dendrite, init: {uniform: [-1, 1]}}\n"       /* 5 */
    "  - {from: h2, to: i2.dendrite, init: {uniform: [-1, 1]}}\n"       /* 6 */
    "  - {from: i1, to: h1.apical_inh, init: {uniform: [-1, 1]}}\n"     /* 7 */
    "  - {from: i2, to: h2.apical_inh, init: {uniform: [-1, 1]}}\n"     /* 8 */
    "  - {from: h2.u, to: i1.nudge, connect: one_to_one}\n"
    "  - {from: out.u, to: i2.nudge, connect: one_to_one}\n"
    "stimuli:\n"
    "  pat: {kind: uniform, range: [-1, 1], drives: in}\n"
    "simulation:\n"
    "  phases: [{train: pat, patterns: 1}]\n";

static void settle(apical_circuit *c, double *max_rate)
{
    *max_rate = test_settle(c, 1e-13, 20000);
}

static double max_abs_apical(const apical_circuit *c, const char *const *pops, int n)
{
    double m = 0;
    for (int k = 0; k < n; k++) {
        const apical_pop *p = apical_circuit_pop((apical_circuit *)c, pops[k], NULL);
        const double *va = p->obs + apical_model_find_obs(p->model, "v_apical") * p->n;
        for (size_t i = 0; i < p->n; i++)
            m = fmax(m, fabs(va[i]));
    }
    return m;
}

static void set_sps(apical_circuit *c, size_t wpi, size_t wdown, size_t wip, size_t wup_next,
                    double factor)
{
    apical_proj *pi = &c->projs[wpi], *down = &c->projs[wdown], *ip = &c->projs[wip],
                *up = &c->projs[wup_next];
    size_t n_pi = c->pops[pi->src].n * c->pops[pi->dst].n;
    size_t n_ip = c->pops[ip->src].n * c->pops[ip->dst].n;
    for (size_t i = 0; i < n_pi; i++)
        pi->w[i] = -down->w[i];      /* W^PI = -W^PP_{k,k+1} */
    for (size_t i = 0; i < n_ip; i++)
        ip->w[i] = factor * up->w[i]; /* W^IP = g_B(g_lk+g_D)/(g_D(g_lk+g_B+g_A')) W^PP_{k+1,k} */
}

START_TEST(self_predicting_weights_silence_apical_dendrites)
{
    apical_config cfg = load("deep", deep);
    apical_circuit *c = cfg.circuit;
    const char *hidden[2] = { "h1", "h2" };
    double rate;
    /* random lateral weights: the apical dendrites carry plenty */
    c->stims[0].active = 1;
    c->stims[0].x[0] = 0.5;
    settle(c, &rate);
    ck_assert(rate < 1e-12);
    ck_assert(max_abs_apical(c, hidden, 2) > 0.1);
    /* i1 predicts h2, which has an apical compartment; i2 predicts out (g_A 0) */
    set_sps(c, 7, 3, 5, 1, (1.0 * 1.1) / (1.0 * 1.9));
    set_sps(c, 8, 4, 6, 2, 1.0);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    for (int trial = 0; trial < 5; trial++) {
        for (size_t i = 0; i < 30; i++)
            c->stims[0].x[i] = 2 * gsl_rng_uniform(g) - 1;
        settle(c, &rate);
        ck_assert(rate < 1e-12);
        ck_assert_double_le(max_abs_apical(c, hidden, 2), 1e-12);
        /* and each interneuron copies its partner pyramid exactly */
        const apical_pop *h2 = &c->pops[3], *i1 = &c->pops[2], *out = &c->pops[5],
                         *i2 = &c->pops[4];
        for (size_t i = 0; i < 15; i++)
            ck_assert_double_eq_tol(c->y[i1->y_off + i], c->y[h2->y_off + i], 1e-12);
        for (size_t i = 0; i < 10; i++)
            ck_assert_double_eq_tol(c->y[i2->y_off + i], c->y[out->y_off + i], 1e-12);
        /* docs/model.md 2.1: without a target the output sits at c_N v_B */
        const double *vb = out->in; /* port 0: basal */
        for (size_t i = 0; i < 10; i++)
            ck_assert_double_eq_tol(c->y[out->y_off + i], vb[i] / 1.1, 1e-12);
    }
    gsl_rng_free(g);
    apical_config_free(&cfg);
}
END_TEST

START_TEST(four_hidden_layers_from_yaml_start_silent)
{
    char file[2048], err[2048];
    test_srcpath(file, sizeof file, "yaml/four_hidden_sps.yaml");
    apical_config cfg;
    ck_assert_msg(apical_config_load_file(&cfg, reg, file, err, sizeof err) == 0, "%s", err);
    apical_metrics m;
    cfg.run.eval_settle_ms = 100;
    ck_assert_int_eq(apical_evaluate(cfg.circuit, &cfg.run, 0, 10, &m, err, sizeof err), 0);
    ck_assert_double_lt(m.apical_sq, 1e-24);
    ck_assert_double_lt(m.mismatch_sq, 1e-24);
    /* and the same circuit with random lateral weights is far from silent */
    apical_circuit *c = cfg.circuit;
    int lateral = 0;
    for (size_t i = 0; i < c->n_projs; i++) {
        const char *port = c->pops[c->projs[i].dst].model->ports[c->projs[i].dst_port].name;
        if (!strcmp(port, "apical_inh") || !strcmp(port, "dendrite")) {
            apical_proj_init_uniform(c, &c->projs[i], -1, 1);
            lateral++;
        }
    }
    ck_assert_int_eq(lateral, 8);
    ck_assert_int_eq(apical_evaluate(c, &cfg.run, 0, 10, &m, err, sizeof err), 0);
    ck_assert_double_gt(m.apical_sq, 0.1);
    apical_config_free(&cfg);
}
END_TEST

/* ---- emergence of the self-predicting state ------------------------------ */

typedef struct trace {
    double apical[8], mismatch[8];
    int n;
} trace;

static void collect(void *user, const apical_metrics *m)
{
    trace *t = user;
    if (t->n < 8) {
        t->apical[t->n] = m->apical_sq;
        t->mismatch[t->n] = m->mismatch_sq;
        t->n++;
    }
}

START_TEST(self_predicting_state_emerges)
{
    char file[2048], err[2048];
    test_srcpath(file, sizeof file, "yaml/self_predicting.yaml");
    apical_config cfg;
    ck_assert_msg(apical_config_load_file(&cfg, reg, file, err, sizeof err) == 0, "%s", err);
    trace t = { .n = 0 };
    ck_assert_uint_eq(cfg.run.n_phases, 1);
    cfg.run.phases[0].patterns = 150;
    cfg.run.eval_every = 150;
    cfg.run.eval_patterns = 20;
    cfg.run.on_metrics = collect;
    cfg.run.user = &t;
    ck_assert_msg(apical_run(cfg.circuit, &cfg.run, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(t.n, 2);
    fprintf(stderr, "apical_sq %g -> %g, mismatch_sq %g -> %g after 150 patterns\n",
            t.apical[0], t.apical[1], t.mismatch[0], t.mismatch[1]);
    ck_assert_double_gt(t.apical[0], 0.5);          /* random start: far from silent */
    ck_assert_double_le(t.apical[1], 0.1 * t.apical[0]); /* >= 90 % down */
    ck_assert_double_le(t.mismatch[1], 0.5 * t.mismatch[0]);
    apical_config_free(&cfg);
}
END_TEST

/* ---- targets ------------------------------------------------------------- */

static double softrect(double u) { return 0.1 * log1p(exp(u - 3.0)); }

START_TEST(teacher_targets_nudge_the_output)
{
    apical_config cfg = load("teach",
        "apical: 1\n"
        "seed: 9\n"
        "populations:\n"
        "  in:  {cell: rate_input, size: 4}\n"
        "  out: {cell: pyramidal, size: 3, params: {g_A: 0}}\n"
        "projections:\n"
        "  - {from: in, to: out.basal, init: {uniform: [-1, 1]}}\n"
        "stimuli:\n"
        "  t: {kind: teacher, sizes: [4, 5, 3], gains: [2, 10], drives: in, target: out}\n"
        "simulation:\n"
        "  phases: [{train: t, patterns: 1, present: 150, plastic: false, noise: false}]\n");
    apical_circuit *c = cfg.circuit;
    apical_stim *st = &c->stims[0];
    char err[1024];
    ck_assert_int_eq(apical_run(c, &cfg.run, err, sizeof err), 0);
    /* the teacher of docs/model.md 3.3, computed here: u = 10 W2 phi(2 W1 x) */
    double h[5], u_trgt[3];
    for (int i = 0; i < 5; i++) {
        double a = 0;
        for (int j = 0; j < 4; j++)
            a += st->teacher.w[0][i * 4 + j] * st->x[j];
        h[i] = softrect(2 * a);
    }
    for (int i = 0; i < 3; i++) {
        u_trgt[i] = 0;
        for (int j = 0; j < 5; j++)
            u_trgt[i] += 10 * st->teacher.w[1][i * 5 + j] * h[j];
        ck_assert_double_eq_tol(st->u_trgt[i], u_trgt[i], 1e-12);
    }
    /* nudged steady state (docs/model.md 2.1): (g_B v_B + g_som u_trgt)/(g_lk + g_B + g_som) */
    const apical_pop *in = &c->pops[0], *out = &c->pops[1];
    const double *w = c->projs[0].w;
    double spread = 0;
    for (int i = 0; i < 3; i++) {
        double vb = 0;
        for (int j = 0; j < 4; j++)
            vb += w[i * 4 + j] * st->x[j];
        double want = (vb + 0.8 * u_trgt[i]) / 1.9;
        ck_assert_double_eq_tol(c->y[out->y_off + i], want, 1e-9);
        spread = fmax(spread, fabs(want - vb / 1.1));
    }
    ck_assert_double_gt(spread, 0.01); /* the nudge moved the output */
    (void)in;
    /* test error: no nudge, one held-out pattern: sum (phi(c_N v_B) - phi(u_trgt))^2 */
    apical_metrics m;
    cfg.run.eval_settle_ms = 100;
    ck_assert_int_eq(apical_evaluate(c, &cfg.run, 0, 1, &m, err, sizeof err), 0);
    double e = 0;
    for (int i = 0; i < 3; i++) {
        double vb = 0;
        for (int j = 0; j < 4; j++)
            vb += w[i * 4 + j] * st->x[j]; /* st->x: the held-out pattern now */
        double r = sigm(vb / 1.1), rt = sigm(st->u_trgt[i]);
        e += (r - rt) * (r - rt);
    }
    ck_assert_double_gt(e, 1e-4);
    ck_assert_double_eq_tol(m.test_error, e, 1e-9);
    apical_config_free(&cfg);
}
END_TEST

/* ---- reproducibility ----------------------------------------------------- */

static void run_small(const char *text, double *w_out)
{
    apical_config cfg = load("small", text);
    char err[1024];
    cfg.run.phases[0].patterns = 3;
    cfg.run.phases[0].present_ms = 5;
    for (size_t i = 0; i < cfg.circuit->n_pops; i++)
        cfg.circuit->pops[i].sigma = 0.3;
    ck_assert_msg(apical_run(cfg.circuit, &cfg.run, err, sizeof err) == 0, "%s", err);
    memcpy(w_out, cfg.circuit->projs[0].w, 12 * sizeof(double));
    apical_config_free(&cfg);
}

START_TEST(same_seed_same_numbers)
{
    double a[12], b[12], d[12];
    run_small(small, a);
    run_small(small, b);
    ck_assert_mem_eq(a, b, sizeof a);
    char other[4096];
    snprintf(other, sizeof other, "%s", small);
    char *s = strstr(other, "seed: 3");
    s[6] = '4';
    run_small(other, d);
    ck_assert(memcmp(a, d, sizeof a) != 0);
}
END_TEST

/* APICAL_MEMORY_LIMIT: bytes, or a number with a binary suffix; anything
   else is an error naming it, not "no limit". */
START_TEST(memory_limit_is_a_size_or_an_error)
{
    apical_config cfg;
    char err[2048] = "";
    const char *good[] = { "0", "2e9", "4G", "512MiB", "1.5T", "3000000" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        setenv("APICAL_MEMORY_LIMIT", good[i], 1);
        ck_assert_msg(apical_config_load_string(&cfg, reg, "small", small, err, sizeof err) == 0,
                      "%s: %s", good[i], err);
        apical_config_free(&cfg);
    }
    const char *bad[] = { "abc", "12x", "-5", "4GG", "nan", "inf", "1e999" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv("APICAL_MEMORY_LIMIT", bad[i], 1);
        ck_assert_int_ne(apical_config_load_string(&cfg, reg, "small", small, err, sizeof err), 0);
        char want[64];
        snprintf(want, sizeof want, "APICAL_MEMORY_LIMIT='%s' is not a size", bad[i]);
        ck_assert_msg(strstr(err, want), "%s: %s", bad[i], err);
    }
    setenv("APICAL_MEMORY_LIMIT", "1K", 1); /* a real limit: the circuit is refused */
    ck_assert_int_ne(apical_config_load_string(&cfg, reg, "small", small, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "limit"), "%s", err);
    unsetenv("APICAL_MEMORY_LIMIT");
}
END_TEST

START_TEST(overrides_apply_and_the_resolved_yaml_reruns)
{
    const char *sets[] = { "seed=5", "populations.hid.params.g_A=0.25",
                           "simulation.phases.0.patterns=7", "record.metrics.every=2" };
    apical_config a, b;
    char err[2048] = "";
    ck_assert_msg(apical_config_load_string_set(&a, reg, "small", small, sets, 4, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(a.circuit->seed, 5);
    ck_assert_double_eq(a.circuit->pops[1].p[2], 0.25); /* g_A */
    ck_assert_int_eq(a.run.phases[0].patterns, 7);
    ck_assert_int_eq(a.run.eval_every, 2); /* a key the file did not have */
    /* the resolved document builds the same circuit */
    ck_assert_msg(apical_config_load_string(&b, reg, "resolved", a.resolved, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_double_eq(b.circuit->pops[1].p[2], 0.25);
    ck_assert_mem_eq(a.circuit->projs[0].w, b.circuit->projs[0].w, 12 * sizeof(double));
    apical_config_free(&a);
    apical_config_free(&b);
    const char *bad[] = { "populations.hid.params.g_Q=1" };
    ck_assert_int_eq(apical_config_load_string_set(&a, reg, "small", small, bad, 1, err, sizeof err), 2);
    ck_assert_msg(strncmp(err, "--set populations.hid.params.g_Q=1: ", 36) == 0, "%s", err);
    const char *bad2[] = { "simulation.phases.4.patterns=1" };
    ck_assert_int_eq(apical_config_load_string_set(&a, reg, "small", small, bad2, 1, err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "'4' is not an index of a 1-item list"));
}
END_TEST

/* --set KEY=null removes the key, as Helm's --set does: the same circuit
   as a file without it; a missing key or a list item is an error. */
START_TEST(overrides_null_removes_a_key)
{
    const char *sets[] = { "populations.out.params.g_A=null", "projections.hid-out.rule=~" };
    char without[4096], err[2048] = "";
    snprintf(without, sizeof without, "%s", small);
    char *t = strstr(without, ", params: {g_A: 0}");
    memmove(t, t + strlen(", params: {g_A: 0}"), strlen(t + strlen(", params: {g_A: 0}")) + 1);
    t = strstr(without, ", rule: {dendritic_error: {eta: 0.2}}");
    memmove(t, t + strlen(", rule: {dendritic_error: {eta: 0.2}}"),
            strlen(t + strlen(", rule: {dendritic_error: {eta: 0.2}}")) + 1);
    apical_config a, b, r;
    ck_assert_msg(apical_config_load_string_set(&a, reg, "small", small, sets, 2, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_msg(apical_config_load_string(&b, reg, "without", without, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_double_eq(a.circuit->pops[3].p[2], b.circuit->pops[3].p[2]); /* g_A */
    ck_assert_double_ne(a.circuit->pops[3].p[2], 0); /* the module's default */
    ck_assert_ptr_null(apical_proj_rule(&a.circuit->projs[1]));
    ck_assert_ptr_nonnull(apical_proj_rule(&a.circuit->projs[0]));
    ck_assert_mem_eq(a.circuit->projs[1].w, b.circuit->projs[1].w, 8 * sizeof(double));
    /* the resolved document has neither key */
    ck_assert_ptr_null(strstr(a.resolved, "g_A"));
    ck_assert_ptr_null(strstr(a.resolved, "eta: 0.2"));
    ck_assert_msg(apical_config_load_string(&r, reg, "resolved", a.resolved, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_ptr_null(apical_proj_rule(&r.circuit->projs[1]));
    apical_config_free(&a);
    apical_config_free(&b);
    apical_config_free(&r);
    const char *typo[] = { "populations.out.params.g_a=null" };
    ck_assert_int_eq(apical_config_load_string_set(&a, reg, "small", small, typo, 1, err, sizeof err), 2);
    ck_assert_msg(strstr(err, "no key 'g_a' to remove (the keys here: g_A)"), "%s", err);
    const char *absent[] = { "record.metrics.every=null" }; /* record: not in the file */
    ck_assert_int_eq(apical_config_load_string_set(&a, reg, "small", small, absent, 1, err, sizeof err), 2);
    ck_assert_msg(strstr(err, "no key 'record' to remove"), "%s", err);
    const char *item[] = { "simulation.phases.0=null" };
    ck_assert_int_eq(apical_config_load_string_set(&a, reg, "small", small, item, 1, err, sizeof err), 2);
    ck_assert_msg(strstr(err, "not an item from a list"), "%s", err);
}
END_TEST

START_TEST(shared_defaults_and_normal_init)
{
    apical_config cfg = load("defaults",
        "apical: 1\nseed: 2\n"
        "defaults: {pyramidal: {g_A: 0.5, phi: softplus}}\n"
        "populations:\n"
        "  in: {cell: rate_input, size: 200}\n"
        "  a:  {cell: pyramidal, size: 100}\n"
        "  b:  {cell: pyramidal, size: 3, params: {g_A: 0}}\n"
        "projections:\n  - {from: in, to: a.basal, init: {normal: [0.5, 2]}}\n"
        "simulation: {phases: []}\n");
    const apical_pop *a = &cfg.circuit->pops[1], *b = &cfg.circuit->pops[2];
    ck_assert_double_eq(a->p[2], 0.5); /* g_A from the defaults */
    ck_assert_double_eq(a->p[4], 2);   /* phi: softplus */
    ck_assert_double_eq(b->p[2], 0);   /* the population's own value wins */
    ck_assert_double_eq(b->p[4], 2);
    double sum = 0, sq = 0;
    const double *w = cfg.circuit->projs[0].w;
    for (int i = 0; i < 20000; i++) {
        sum += w[i];
        sq += w[i] * w[i];
    }
    double mean = sum / 20000, sd = sqrt(sq / 20000 - mean * mean);
    ck_assert_double_eq_tol(mean, 0.5, 0.05); /* 4.5 standard errors */
    ck_assert_double_eq_tol(sd, 2.0, 0.05);
    apical_config_free(&cfg);
}
END_TEST

/* The fast paths against the published scheme: plasticity in rank-16
   batches (dendrites see weights up to 15 steps old) and single-precision
   weight copies for the dendrites, on the regression circuit. */
static double fast_run(const char *integrator, double *w_out, size_t nw)
{
    char file[2048], err[2048];
    test_srcpath(file, sizeof file, "yaml/regression.yaml");
    const char *sets[] = { "simulation.phases.0.patterns=40", "record.metrics.every=40",
                           "record.metrics.patterns=10", "record.checkpoint.every=0",
                           /* rates x100 so that the weights move visibly */
                           "projections.input-hidden.rule.dendritic_error.eta=0.11875",
                           "projections.hidden-output.rule.dendritic_error.eta=0.05",
                           "projections.hidden-inter.rule.dendritic_error.eta=0.11875",
                           "projections.inter-hidden.rule.apical_silence.eta=0.59375" };
    /* the file with its integrator line replaced */
    apical_config cfg;
    char text[8192];
    FILE *f = fopen(file, "r");
    ck_assert_msg(f != NULL, "cannot open %s", file);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *at = strstr(text, "integrator: {method: euler, dt: 0.1}");
    ck_assert_ptr_nonnull(at);
    char edited[9000];
    snprintf(edited, sizeof edited, "%.*sintegrator: {%s}%s", (int)(at - text), text, integrator,
             at + strlen("integrator: {method: euler, dt: 0.1}"));
    ck_assert_msg(apical_config_load_string_set(&cfg, reg, file, edited, sets, 8, err, sizeof err) == 0,
                  "%s", err);
    trace t = { .n = 0 };
    cfg.run.on_metrics = collect;
    cfg.run.user = &t;
    ck_assert_msg(apical_run(cfg.circuit, &cfg.run, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(t.n, 2);
    size_t m = 0;
    for (size_t i = 0; i < cfg.circuit->n_projs; i++) {
        const apical_proj *pj = &cfg.circuit->projs[i];
        size_t k = pj->one_to_one ? 0 : cfg.circuit->pops[pj->src].n * cfg.circuit->pops[pj->dst].n;
        for (size_t j = 0; j < k && m < nw; j++)
            w_out[m++] = pj->w[j];
    }
    apical_config_free(&cfg);
    return t.apical[1]; /* apical_sq after training */
}

START_TEST(fast_paths_stay_close_to_the_published_scheme)
{
    enum { NW = 3500 };
    static double w_ref[NW], w_batch[NW], w_f32[NW], w_all[NW], w_all1[NW], w_h[NW], w_bf[NW];
    double a_ref = fast_run("method: euler, dt: 0.1", w_ref, NW);
    double a_b = fast_run("method: euler, dt: 0.1, plasticity_batch: 16", w_batch, NW);
    double a_f = fast_run("method: euler, dt: 0.1, plasticity_batch: 16, matvec: f32", w_f32, NW);
    /* single-precision weights and low-pass state, learning in rank-16 batches
       and every step */
    double a_a = fast_run("method: euler, dt: 0.1, plasticity_batch: 16, matvec: f32_all",
                          w_all, NW);
    double a_a1 = fast_run("method: euler, dt: 0.1, matvec: f32_all", w_all1, NW);
    /* half-precision copies for the dendrites, learning as f32_all */
    double a_h = fast_run("method: euler, dt: 0.1, plasticity_batch: 16, matvec: f16", w_h, NW);
    /* and the rules' products from bfloat16 operands */
    double a_bf = fast_run("method: euler, dt: 0.1, plasticity_batch: 16, matvec: f16, "
                           "rule_products: bf16", w_bf, NW);
    double moved = 0, d_batch = 0, d_f32 = 0, d_all = 0, d_all1 = 0, d_h = 0, d_bf = 0, d_bfh = 0;
    apical_config cfg0; /* the initial weights, for scale */
    char file[2048], err[2048];
    test_srcpath(file, sizeof file, "yaml/regression.yaml");
    ck_assert_int_eq(apical_config_load_file(&cfg0, reg, file, err, sizeof err), 0);
    size_t m = 0;
    for (size_t i = 0; i < cfg0.circuit->n_projs; i++) {
        const apical_proj *pj = &cfg0.circuit->projs[i];
        size_t k = pj->one_to_one ? 0 : cfg0.circuit->pops[pj->src].n * cfg0.circuit->pops[pj->dst].n;
        for (size_t j = 0; j < k && m < NW; j++, m++) {
            moved = fmax(moved, fabs(w_ref[m] - pj->w[j]));
            d_batch = fmax(d_batch, fabs(w_batch[m] - w_ref[m]));
            d_f32 = fmax(d_f32, fabs(w_f32[m] - w_batch[m]));
            d_all = fmax(d_all, fabs(w_all[m] - w_batch[m]));
            d_all1 = fmax(d_all1, fabs(w_all1[m] - w_ref[m]));
            d_h = fmax(d_h, fabs(w_h[m] - w_batch[m]));
            d_bf = fmax(d_bf, fabs(w_bf[m] - w_batch[m]));
            d_bfh = fmax(d_bfh, fabs(w_bf[m] - w_h[m]));
        }
    }
    apical_config_free(&cfg0);
    fprintf(stderr, "after 40 patterns: weights moved up to %.3g; batch-16 differs by %.3g, "
                    "f32 dendrites by %.3g more; apical_sq %.6g / %.6g / %.6g\n", moved, d_batch,
            d_f32, a_ref, a_b, a_f);
    ck_assert_double_gt(moved, 0.01);
    ck_assert_double_lt(d_batch, 0.01 * moved); /* the noise is the same: same draws */
    ck_assert_double_lt(d_f32, 1e-3 * moved);
    ck_assert_double_eq_tol(a_b, a_ref, 0.01 * a_ref);
    ck_assert_double_eq_tol(a_f, a_b, 1e-3 * a_b);
    fprintf(stderr, "f32 storage: weights differ by %.3g (batch 16, vs f64 batch 16) and %.3g "
                    "(every step, vs f64); apical_sq %.6g / %.6g\n", d_all, d_all1, a_a, a_a1);
    ck_assert_double_lt(d_all, 1e-3 * moved);
    ck_assert_double_lt(d_all1, 1e-3 * moved);
    ck_assert_double_eq_tol(a_a, a_b, 1e-3 * a_b);
    ck_assert_double_eq_tol(a_a1, a_ref, 1e-3 * a_ref);
    fprintf(stderr, "f16 dendrites: weights differ by %.3g (vs f64 batch 16); apical_sq %.6g\n",
            d_h, a_h);
    ck_assert_double_gt(d_h, d_all); /* the half copies are read, and are coarser */
    ck_assert_double_lt(d_h, 1e-3 * moved); /* the size of the rank-16 batching error */
    ck_assert_double_eq_tol(a_h, a_b, 1e-3 * a_b);
    fprintf(stderr, "bf16 products: weights differ by %.3g (vs f64 batch 16) and %.3g (vs "
                    "f16); apical_sq %.6g\n", d_bf, d_bfh, a_bf);
#if defined(__AVX512BF16__)
    ck_assert_double_gt(d_bfh, 1e-6 * moved); /* the bfloat16 products are taken */
#else
    ck_assert_double_eq(d_bfh, 0); /* the rules keep single precision */
#endif
    ck_assert_double_lt(d_bf, 1e-2 * moved); /* operands of 8-bit significands */
    ck_assert_double_eq_tol(a_bf, a_b, 1e-2 * a_b);
}
END_TEST

/* matvec: f16 stops a run whose weights do not fit half precision: at the
   start, and at the flush after which a weight does not fit (the learning
   copy set past the range by hand here: the dendritic rules themselves pull
   weights back towards their predictions). */
START_TEST(f16_refuses_weights_past_half_range)
{
    static const char yaml[] =
        "apical: 1\npopulations:\n  x: {cell: rate_input, size: 4}\n"
        "  h: {cell: pyramidal, size: 3}\n"
        "projections:\n  - {from: x, to: h.basal, init: {constant: %g}%s}\n"
        "stimuli:\n  s: {kind: uniform, range: [0.5, 1], drives: x}\n"
        "simulation:\n  integrator: {method: euler, dt: 0.1, plasticity_batch: 4, matvec: f16}\n"
        "  phases: [{train: s, patterns: 2, present: 5}]\n";
    const struct { double w; const char *rule, *want; } cases[] = {
        { 70000, "", "12 initial weights are 65520 or more" },
        { 60000, "", NULL }, /* fits: runs */
        { 60000, ", rule: {dendritic_error: {eta: 0.1}}", NULL },
    };
    char text[1024], err[2048] = "";
    apical_config cfg;
    for (int k = 0; k < 3; k++) {
        snprintf(text, sizeof text, yaml, cases[k].w, cases[k].rule);
        ck_assert_msg(apical_config_load_string(&cfg, reg, "f16", text, err, sizeof err) == 0,
                      "%s", err);
        int rc = apical_run(cfg.circuit, &cfg.run, err, sizeof err);
        if (cases[k].want) {
            ck_assert_int_ne(rc, 0);
            ck_assert_msg(strstr(err, cases[k].want) && strstr(err, "matvec: f32"), "%s", err);
        } else {
            ck_assert_msg(rc == 0, "%s", err);
        }
        apical_config_free(&cfg);
    }
    /* a learning copy past the range: the next flush (4 steps) refuses it */
    ck_assert_int_eq(apical_config_load_string(&cfg, reg, "f16", text, err, sizeof err), 0);
    apical_circuit *c = cfg.circuit;
    c->stims[0].active = 1;
    apical_circuit_weights_changed(c);
    c->projs[0].wf[5] = 70000.0f;
    int rc = 0, steps = 0;
    while (rc == 0 && steps < 8) {
        rc = apical_circuit_step_euler(c, 0.1, APICAL_STEP_PLASTIC, err, sizeof err);
        steps++;
    }
    ck_assert_int_ne(rc, 0);
    ck_assert_int_eq(steps, 4);
    ck_assert_msg(strstr(err, "x -> h: a weight reached 65520"), "%s", err);
    apical_config_free(&cfg);
}
END_TEST

/* ---- located errors ------------------------------------------------------ */

static void expect_error(const char *text, const char *where, const char *what)
{
    apical_config cfg;
    char err[2048] = "";
    ck_assert_int_eq(apical_config_load_string(&cfg, reg, "bad.yaml", text, err, sizeof err), 2);
    ck_assert_msg(strncmp(err, where, strlen(where)) == 0, "expected '%s...', got: %s", where,
                  err);
    ck_assert_msg(strstr(err, what) != NULL, "expected '%s' in: %s", what, err);
}

/* ---- projection names --------------------------------------------------- */

/* The parameter of pj's rule called key. */
static double rule_param(const apical_proj *pj, const char *key)
{
    for (size_t i = 0; i < pj->rule->n_params; i++)
        if (strcmp(pj->rule->params[i].name, key) == 0)
            return pj->rp[i];
    ck_abort_msg("rule %s has no parameter %s", pj->rule->name, key);
    return NAN;
}

START_TEST(projections_have_default_and_given_names)
{
    apical_config a = load("small", small);
    const char *want[] = { "in-hid", "hid-out", "out-hid", "hid-int", "int-hid", "out-int" };
    ck_assert_uint_eq(a.circuit->n_projs, 6);
    for (size_t i = 0; i < 6; i++) {
        size_t k = 99;
        ck_assert_str_eq(a.circuit->projs[i].name, want[i]);
        ck_assert_ptr_eq(apical_circuit_proj(a.circuit, want[i], &k), &a.circuit->projs[i]);
        ck_assert_uint_eq(k, i);
    }
    ck_assert_ptr_null(apical_circuit_proj(a.circuit, "in-out", NULL));
    /* names given in the file are kept; the others stay SRC-DST */
    const char *at = strstr(small, "{from: hid, to: int.dendrite");
    char text[4096];
    snprintf(text, sizeof text, "%.*s{name: W_IP_hid, %s", (int)(at - small), small, at + 1);
    apical_config b = load("named", text);
    ck_assert_str_eq(b.circuit->projs[3].name, "W_IP_hid");
    ck_assert_str_eq(b.circuit->projs[4].name, "int-hid");
    ck_assert_ptr_nonnull(strstr(b.resolved, "name: W_IP_hid"));
    /* the resolved YAML adds no names of its own */
    ck_assert_ptr_null(strstr(a.resolved, "name:"));
    apical_config_free(&a);
    apical_config_free(&b);
}
END_TEST

START_TEST(set_selects_a_projection_by_name)
{
    const char *sets[] = { "projections.hid-int.rule.dendritic_error.eta=0.77",
                           "projections.int-hid.name=W_PI",
                           "projections.W_PI.rule.apical_silence.eta=0.125" };
    char err[2048] = "";
    apical_config a, ref = load("small", small);
    ck_assert_msg(apical_config_load_string_set(&a, reg, "small", small, sets, 3, err,
                                                sizeof err) == 0, "%s", err);
    const apical_proj *p = a.circuit->projs;
    ck_assert_double_eq(rule_param(&p[3], "eta"), 0.77);
    ck_assert_double_eq(rule_param(&ref.circuit->projs[3], "eta"), 0.4);
    ck_assert_double_eq(rule_param(&p[0], "eta"), 0.3); /* the others as in the file */
    ck_assert_double_eq(rule_param(&p[1], "eta"), 0.2);
    ck_assert_double_eq(rule_param(&p[2], "eta"), 0.1);
    ck_assert_str_eq(p[4].name, "W_PI"); /* renamed, then selected by the new name */
    ck_assert_double_eq(rule_param(&p[4], "eta"), 0.125);
    apical_config_free(&a);
    /* the fallback: a position selects the same projection */
    const char *by_index[] = { "projections.3.rule.dendritic_error.eta=0.77" };
    ck_assert_msg(apical_config_load_string_set(&a, reg, "small", small, by_index, 1, err,
                                                sizeof err) == 0, "%s", err);
    ck_assert_double_eq(rule_param(&a.circuit->projs[3], "eta"), 0.77);
    ck_assert_double_eq(rule_param(&a.circuit->projs[4], "eta"), 0.5);
    apical_config_free(&a);
    apical_config_free(&ref);
    /* an unknown name: named in the error, with the closest one or the list */
    const char *typo[] = { "projections.hid-itn.rule.dendritic_error.eta=1" };
    ck_assert_int_eq(apical_config_load_string_set(&a, reg, "small", small, typo, 1, err,
                                                   sizeof err), 2);
    ck_assert_msg(strstr(err, "--set projections.hid-itn.rule.dendritic_error.eta=1: no "
                         "projection 'hid-itn' (did you mean 'hid-int'?)") == err, "%s", err);
    const char *none[] = { "projections.lateral.init.constant=1" };
    ck_assert_int_eq(apical_config_load_string_set(&a, reg, "small", small, none, 1, err,
                                                   sizeof err), 2);
    ck_assert_msg(strstr(err, "no projection 'lateral' (the projections: in-hid, hid-out, "
                         "out-hid, hid-int, int-hid, out-int; or a position, 0 to 5)"), "%s", err);
    /* names select projections only: other lists take positions */
    const char *phase[] = { "simulation.phases.first.patterns=1" };
    ck_assert_int_eq(apical_config_load_string_set(&a, reg, "small", small, phase, 1, err,
                                                   sizeof err), 2);
    ck_assert_msg(strstr(err, "'first' is not an index of a 1-item list"), "%s", err);
}
END_TEST

START_TEST(projection_names_are_unique_and_plain)
{
    const char *head = "apical: 1\nsimulation: {phases: []}\n"
                       "populations:\n  a: {cell: pyramidal, size: 3}\n"
                       "  b: {cell: pyramidal, size: 2}\nprojections:\n"
                       "  - {from: a, to: b.basal, init: {constant: 1}}\n";
    char buf[2048];
    /* a second a -> b (into another port) has the same default name */
    snprintf(buf, sizeof buf, "%s  - {from: a.u, to: b.apical, init: {constant: 1}}\n", head);
    expect_error(buf, "bad.yaml:8:5:", "bad.yaml:7:5 is called a-b already, and so is this one "
                 "by default (SOURCE-TARGET): give them a name: each");
    snprintf(buf, sizeof buf, "%s  - {from: a.u, to: b.apical, name: a-b, init: {constant: 1}}\n",
             head);
    expect_error(buf, "bad.yaml:8:37:", "the projection defined at bad.yaml:7:5 is called 'a-b' "
                 "already");
    const char *bad[] = { "top.down", "top down", "x=y", "12", "\"tab\\there\"", "\"\"" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(buf, sizeof buf, "%s  - {from: a, to: b.apical, name: %s, init: {constant: 1}}\n",
                 head, bad[i]);
        expect_error(buf, "bad.yaml:8:35:", i < 3 || i == 4 ? "cannot contain '.', '=', white "
                     "space or control characters" : "cannot name a projection");
    }
    /* given names make the two distinct */
    snprintf(buf, sizeof buf, "%s  - {from: a.u, to: b.apical, name: top-down, init: {constant: "
             "1}}\n", head);
    apical_config cfg = load("ok", buf);
    ck_assert_str_eq(cfg.circuit->projs[1].name, "top-down");
    apical_config_free(&cfg);
}
END_TEST

START_TEST(errors_name_file_line_column)
{
    const char *head = "apical: 1\nsimulation: {phases: [{train: s, patterns: 1}]}\n";
    char buf[2048];
    snprintf(buf, sizeof buf, "%spopulations:\n  a: {cell: pyramidal, sise: 3}\n", head);
    expect_error(buf, "bad.yaml:4:24:", "did you mean 'size'");
    snprintf(buf, sizeof buf, "%spopulations:\n  a: {cell: pyramid, size: 3}\n", head);
    expect_error(buf, "bad.yaml:4:13:", "no cell model 'pyramid'");
    snprintf(buf, sizeof buf,
             "%spopulations:\n  a: {cell: pyramidal, size: 3}\n"
             "projections:\n  - {from: a, to: a.soma, init: {constant: 1}}\n", head);
    expect_error(buf, "bad.yaml:6:19:", "has no port 'soma'");
    snprintf(buf, sizeof buf,
             "%spopulations:\n  a: {cell: pyramidal, size: 3}\n  b: {cell: sst, size: 2}\n"
             "projections:\n  - {from: a, to: b.dendrite, init: {constant: 1},\n"
             "     rule: {apical_silence: {eta: 1}}}\n", head);
    expect_error(buf, "bad.yaml:8:13:", "needs observable 'v_apical'");
    snprintf(buf, sizeof buf, "%spopulations:\n  a: {cell: pyramidal, size: 3, params: {g_B: -1}}\n",
             head);
    expect_error(buf, "bad.yaml:4:47:", "outside [0, inf]");
    snprintf(buf, sizeof buf, "%spopulations:\n  a: {cell: pyramidal, size: 3, params: {phi: relu}}\n",
             head);
    expect_error(buf, "bad.yaml:4:47:", "one of logistic, softrect, softplus");
    expect_error("apical: 2\n", "bad.yaml:1:9:", "version 2");
    snprintf(buf, sizeof buf,
             "%spopulations:\n  a: {cell: pyramidal, size: 3}\n  b: {cell: pyramidal, size: 2}\n"
             "projections:\n  - {from: a, to: b.basal, init: {self_predicting: true}}\n", head);
    expect_error(buf, "bad.yaml:7:34:", "for the lateral pathways");
    snprintf(buf, sizeof buf,
             "%spopulations:\n  a: {cell: pyramidal, size: 3}\n  b: {cell: sst, size: 2}\n"
             "projections:\n  - {from: b, to: a.apical_inh, init: {self_predicting: true}}\n",
             head);
    expect_error(buf, "bad.yaml:7:39:", "needs a top-down projection into a's top-down apical port");
    /* files named in the circuit: their own location, then the YAML's */
    char dir[] = "/tmp/apical-csv-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char w[512], yaml_bad[4096];
    snprintf(w, sizeof w, "%s/w.csv", dir);
    FILE *f = fopen(w, "w");
    fputs("# a 2 x 3 matrix\n1, 2, 3\n4, 5x, 6\n", f);
    fclose(f);
    snprintf(yaml_bad, sizeof yaml_bad,
             "%spopulations:\n  a: {cell: pyramidal, size: 3}\n  b: {cell: pyramidal, size: 2}\n"
             "projections:\n  - {from: a, to: b.basal, init: {file: %s}}\n", head, w);
    char want[600];
    snprintf(want, sizeof want, "bad.yaml:7:41: %s:3:4: expected a number", w);
    expect_error(yaml_bad, want, "");
    f = fopen(w, "w");
    fputs("1 2\n3 4\n", f);
    fclose(f);
    expect_error(yaml_bad, "bad.yaml:7:41:", "need 2 rows x 3 columns, the file has 2 x 2");
    remove(w);
    rmdir(dir);
    expect_error("apical: 1\npopulations: [\n", "bad.yaml:", "");
}
END_TEST

/* ---- data files: beside the circuit, then the data directories ----------- */

static void put(const char *dir, const char *sub, const char *text)
{
    char path[1024], cmd[1200];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Load dir/circ/c.yaml; 0 with the resolved YAML's weight file in *used, or
   the status with the message in err. */
static int load_data_circuit(const char *dir, char *used, size_t cap, char *err, size_t ecap)
{
    char file[1024];
    snprintf(file, sizeof file, "%s/circ/c.yaml", dir);
    apical_config cfg;
    int rc = apical_config_load_file(&cfg, reg, file, err, ecap);
    if (rc == 0) {
        const char *at = strstr(cfg.resolved, "file: ");
        ck_assert_ptr_nonnull(at);
        snprintf(used, cap, "%.*s", (int)strcspn(at + 6, "}\n"), at + 6);
        apical_config_free(&cfg);
    }
    return rc;
}

START_TEST(data_files_beside_the_circuit_then_in_the_data_directories)
{
    char tmpl[] = "/tmp/apical-data-XXXXXX", *made = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(made);
    char *d = realpath(made, NULL), used[1024], want[4096], err[2048];
    ck_assert_ptr_nonnull(d);
    put(d, "circ/c.yaml",
        "apical: 1\npopulations:\n  a: {cell: rate_input, size: 3}\n"
        "  b: {cell: pyramidal, size: 2}\n"
        "projections:\n  - {from: a, to: b.basal, init: {file: w/w.csv}}\n"
        "simulation: {phases: [{train: s, patterns: 1}]}\n"
        "stimuli:\n  s: {kind: uniform, drives: a}\n");
    const char *w = "1, 2, 3\n4, 5, 6\n";
    char home[256], xdg[256], env[256];
    snprintf(home, sizeof home, "%.200s/home", d);
    snprintf(xdg, sizeof xdg, "%.200s/xdg", d);
    snprintf(env, sizeof env, "%.200s/env", d);
    setenv("HOME", home, 1);
    unsetenv("XDG_DATA_HOME");
    unsetenv("APICAL_DATA");
    /* nowhere: every directory searched is named */
    ck_assert_int_eq(load_data_circuit(d, used, sizeof used, err, sizeof err), 2);
    snprintf(want, sizeof want,
             "w/w.csv: cannot open: No such file or directory; searched for w/w.csv in %s/circ "
             "and %s/.local/share/apical", d, home);
    ck_assert_msg(strstr(err, want) != NULL, "expected '%s' in '%s'", want, err);
    /* ${HOME}/.local/share/apical, then $XDG_DATA_HOME/apical in its place,
       then $APICAL_DATA before it, then the circuit's own directory first */
    put(home, ".local/share/apical/w/w.csv", w);
    ck_assert_msg(load_data_circuit(d, used, sizeof used, err, sizeof err) == 0, "%s", err);
    snprintf(want, sizeof want, "%s/.local/share/apical/w/w.csv", home);
    ck_assert_str_eq(used, want);
    setenv("XDG_DATA_HOME", xdg, 1);
    put(xdg, "apical/w/w.csv", w);
    ck_assert_msg(load_data_circuit(d, used, sizeof used, err, sizeof err) == 0, "%s", err);
    snprintf(want, sizeof want, "%s/apical/w/w.csv", xdg);
    ck_assert_str_eq(used, want);
    setenv("APICAL_DATA", env, 1);
    ck_assert_msg(load_data_circuit(d, used, sizeof used, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(used, want); /* $APICAL_DATA lacks it: the next directory */
    put(env, "w/w.csv", w);
    ck_assert_msg(load_data_circuit(d, used, sizeof used, err, sizeof err) == 0, "%s", err);
    snprintf(want, sizeof want, "%s/w/w.csv", env);
    ck_assert_str_eq(used, want);
    put(d, "circ/w/w.csv", w);
    ck_assert_msg(load_data_circuit(d, used, sizeof used, err, sizeof err) == 0, "%s", err);
    snprintf(want, sizeof want, "%s/circ/w/w.csv", d);
    ck_assert_str_eq(used, want);
    /* a missing IDX file: the directories and the command that fetches MNIST */
    put(d, "circ/c.yaml",
        "apical: 1\npopulations:\n  a: {cell: rate_input, size: 784}\n"
        "stimuli:\n  s: {kind: idx, images: mnist/train-images-idx3-ubyte,\n"
        "               labels: mnist/train-labels-idx1-ubyte, drives: a}\n"
        "simulation: {phases: [{train: s, patterns: 1}]}\n");
    ck_assert_int_eq(load_data_circuit(d, used, sizeof used, err, sizeof err), 2);
    snprintf(want, sizeof want,
             "searched for mnist/train-images-idx3-ubyte in %s/circ, %s ($APICAL_DATA) and "
             "%s/apical; `apical data mnist` fetches MNIST into %s/mnist", d, env, xdg, env);
    ck_assert_msg(strstr(err, want) != NULL, "expected '%s' in '%s'", want, err);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    free(d);
}
END_TEST

/* A circuit past the threading threshold (2^18 weights) computes the same
   numbers, bit for bit, on one thread and on two: each row of a product and
   of a batch flush is one thread's work either way. */
static void threaded_run(int threads, const char *matvec, double *w_out, size_t nw)
{
    static const char yaml[] =
        "apical: 1\nseed: 3\npopulations:\n"
        "  a: {cell: rate_input, size: 300}\n  h: {cell: pyramidal, size: 301}\n"
        "  i: {cell: sst, size: 299}\n  o: {cell: pyramidal, size: 299, params: {g_A: 0}}\n"
        "projections:\n"
        "  - {from: a, to: h.basal, init: {uniform: [-0.1, 0.1]}, rule: {dendritic_error: {eta: 0.1}}}\n"
        "  - {from: h, to: o.basal, init: {uniform: [-0.1, 0.1]}, rule: {dendritic_error: {eta: 0.1}}}\n"
        "  - {from: o, to: h.apical, init: {uniform: [-0.1, 0.1]}}\n"
        "  - {from: h, to: i.dendrite, init: {uniform: [-0.1, 0.1]}, rule: {dendritic_error: {eta: 0.1}}}\n"
        "  - {from: i, to: h.apical_inh, init: {uniform: [-0.1, 0.1]}, rule: {apical_silence: {eta: 0.1}}}\n"
        "  - {from: o.u, to: i.nudge, connect: one_to_one}\n"
        "stimuli:\n  x: {kind: uniform, range: [-1, 1], drives: a}\n"
        "simulation:\n  noise: {sigma: 0.1}\n"
        "  integrator: {method: euler, dt: 0.1, plasticity_batch: 5, matvec: %s}\n"
        "  phases: [{train: x, patterns: 2, present: 3.1}]\n";
    char text[4096], err[2048];
    snprintf(text, sizeof text, yaml, matvec);
    apical_config cfg;
    ck_assert_msg(apical_config_load_string(&cfg, reg, "threads", text, err, sizeof err) == 0,
                  "%s", err);
    apical_circuit *c = cfg.circuit;
    ck_assert_int_ge(apical_circuit_threads(c), 1);
    ck_assert_msg(apical_circuit_set_threads(c, threads, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(apical_run(c, &cfg.run, err, sizeof err) == 0, "%s", err);
    size_t m = 0;
    for (size_t i = 0; i < c->n_projs; i++)
        for (size_t j = 0; !c->projs[i].one_to_one && j < apical_proj_n_weights(c, &c->projs[i]) &&
                           m < nw; j++)
            w_out[m++] = c->projs[i].w[j];
    for (size_t j = 0; j < c->n_y && m < nw; j++)
        w_out[m++] = c->y[j];
    apical_config_free(&cfg);
}

START_TEST(threads_do_not_change_the_numbers)
{
    enum { NW = 400000 };
    static double one[NW], two[NW];
    const char *modes[] = { "f64", "f32", "f32_all", "f16" };
    for (int k = 0; k < 4; k++) {
        memset(one, 0, sizeof one);
        memset(two, 0, sizeof two);
        threaded_run(1, modes[k], one, NW);
        threaded_run(2, modes[k], two, NW);
        ck_assert_msg(memcmp(one, two, sizeof one) == 0, "matvec %s: 1 and 2 threads differ",
                      modes[k]);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("circuit");
    TCase *t = tcase_create("circuit");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, euler_step_matches_appendix_a);
    tcase_add_test(t, self_predicting_weights_silence_apical_dendrites);
    tcase_add_test(t, four_hidden_layers_from_yaml_start_silent);
    tcase_add_test(t, self_predicting_state_emerges);
    tcase_add_test(t, teacher_targets_nudge_the_output);
    tcase_add_test(t, same_seed_same_numbers);
    tcase_add_test(t, overrides_apply_and_the_resolved_yaml_reruns);
    tcase_add_test(t, overrides_null_removes_a_key);
    tcase_add_test(t, projections_have_default_and_given_names);
    tcase_add_test(t, set_selects_a_projection_by_name);
    tcase_add_test(t, projection_names_are_unique_and_plain);
    tcase_add_test(t, shared_defaults_and_normal_init);
    tcase_add_test(t, fast_paths_stay_close_to_the_published_scheme);
    tcase_add_test(t, threads_do_not_change_the_numbers);
    tcase_add_test(t, f16_refuses_weights_past_half_range);
    tcase_add_test(t, memory_limit_is_a_size_or_an_error);
    tcase_add_test(t, errors_name_file_line_column);
    tcase_add_test(t, data_files_beside_the_circuit_then_in_the_data_directories);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
