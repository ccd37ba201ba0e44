/*
 * The conformance check of modules (apical_conformance.h): every shipped
 * cell model and rule, and the Hebbian example, passes it; the modules with
 * deliberate faults of tests/conformance fail exactly the properties their
 * faults break, by the amounts the faults put in; broken tables are named;
 * an ABI 1.0 rule is checked for what it has and its later fields are
 * never called.
 */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

/* Every result of one check, kept for the assertions. */
typedef struct row {
    char property[64];
    apical_conf_status status;
    double deviation, tolerance;
    char detail[520];
} row;

typedef struct results {
    row r[64];
    size_t n;
} results;

static void collect(void *user, const apical_conf_result *r)
{
    results *s = user;
    ck_assert_uint_lt(s->n, 64);
    row *w = &s->r[s->n++];
    snprintf(w->property, sizeof w->property, "%s", r->property);
    w->status = r->status;
    w->deviation = r->deviation;
    w->tolerance = r->tolerance;
    snprintf(w->detail, sizeof w->detail, "%s", r->detail ? r->detail : "");
}

static const row *find(const results *s, const char *property)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->r[i].property, property) == 0)
            return &s->r[i];
    ck_abort_msg("no property %s reported", property);
    return NULL;
}

static int check_cell(const apical_cell_model *m, results *s)
{
    char err[256] = "";
    s->n = 0;
    int rc = apical_conformance_cell(m, NULL, collect, s, err, sizeof err);
    ck_assert_msg(rc >= 0, "%s", err);
    return rc;
}

static int check_rule(const apical_rule *u, results *s)
{
    char err[256] = "";
    s->n = 0;
    int rc = apical_conformance_rule(u, NULL, collect, s, err, sizeof err);
    ck_assert_msg(rc >= 0, "%s", err);
    return rc;
}

static void assert_status(const results *s, const char *model, const char *property,
                          apical_conf_status want)
{
    const row *r = find(s, property);
    ck_assert_msg(r->status == want, "%s %s: %s, expected %s (%s; deviation %g)", model,
                  property, apical_conf_status_name(r->status), apical_conf_status_name(want),
                  r->detail, r->deviation);
}

static void assert_all_pass(const results *s, const char *model, const char *const *props)
{
    for (; *props; props++)
        assert_status(s, model, *props, APICAL_CONF_PASS);
}

static void assert_no_failure(const results *s, const char *model)
{
    for (size_t i = 0; i < s->n; i++)
        ck_assert_msg(s->r[i].status != APICAL_CONF_FAIL, "%s %s fails: %s (deviation %g, "
                      "tolerance %g)", model, s->r[i].property, s->r[i].detail,
                      s->r[i].deviation, s->r[i].tolerance);
}

/* The failed properties of a check, exactly the ones listed. */
static void assert_failures(const results *s, const char *model, const char *const *props)
{
    size_t n = 0;
    for (; props[n]; n++)
        assert_status(s, model, props[n], APICAL_CONF_FAIL);
    size_t failed = 0;
    for (size_t i = 0; i < s->n; i++)
        failed += s->r[i].status == APICAL_CONF_FAIL;
    ck_assert_msg(failed == n, "%s: %zu properties fail, expected %zu", model, failed, n);
}

static apical_registry *registry_at(const char *dir)
{
    apical_registry *r = apical_registry_new(dir);
    ck_assert_ptr_nonnull(r);
    return r;
}

static void conformance_dir(char *buf, size_t cap)
{
    const char *b = getenv("APICAL_BUILDDIR");
    snprintf(buf, cap, "%s/tests/conformance/.libs", b ? b : ".");
}

static const char *const cell_numeric[] = { "tables", "rhs", "observe", "jacobian.dfdy",
                                            "jacobian.dfdin", "jacobian.dody", "steady.root",
                                            "ld.rhs", "ld.observe", "ld.jacobian", "ld.steady",
                                            NULL };
static const char *const rule_numeric[] = { "tables", "dwdt", "euler", "euler_batch",
                                            "euler_batch.copies", "euler_batch_f32",
                                            "euler_batch_f32.pre_f32", "steady_rate", NULL };

START_TEST(every_shipped_module_conforms)
{
    apical_registry *r = test_registry();
    ck_assert_int_ge(apical_registry_scan(r, NULL, NULL), 7);
    results s;
    for (size_t i = 0; i < apical_registry_n_cells(r); i++) {
        const apical_cell_model *m = apical_registry_cell_at(r, i, NULL);
        int rc = check_cell(m, &s);
        assert_no_failure(&s, m->name);
        ck_assert_int_eq(rc, 0);
    }
    for (size_t i = 0; i < apical_registry_n_rules(r); i++) {
        const apical_rule *u = apical_registry_rule_at(r, i, NULL);
        int rc = check_rule(u, &s);
        assert_no_failure(&s, u->name);
        ck_assert_int_eq(rc, 0);
    }
    /* and they were measured, not skipped */
    const char *cells[] = { "pyramidal", "sst", "rate_input" };
    for (int i = 0; i < 3; i++) {
        check_cell(test_cell(r, cells[i]), &s);
        assert_all_pass(&s, cells[i], cell_numeric);
        ck_assert_double_le(find(&s, "jacobian.dfdy")->tolerance, 1e-6);
        ck_assert_double_le(find(&s, "steady.root")->deviation, 1e-12);
    }
    for (int i = 0; i < 2; i++) {
        check_cell(test_cell(r, cells[i]), &s);
        assert_status(&s, cells[i], "need", APICAL_CONF_PASS);
        /* the upward and literal forms are reported, not judged */
        assert_status(&s, cells[i], "steady.literal", APICAL_CONF_INFO);
    }
    const char *rules[] = { "dendritic_error", "apical_silence" };
    for (int i = 0; i < 2; i++) {
        check_rule(test_rule(r, rules[i]), &s);
        assert_all_pass(&s, rules[i], rule_numeric);
        ck_assert_double_gt(find(&s, "euler_batch_f32")->deviation, 0); /* float rounding seen */
    }
    /* backprop's post signal comes from the host: nothing to run */
    check_rule(test_rule(r, "backprop"), &s);
    assert_status(&s, "backprop", "tables", APICAL_CONF_PASS);
    assert_status(&s, "backprop", "dwdt", APICAL_CONF_SKIP);
    assert_status(&s, "backprop", "euler_batch", APICAL_CONF_SKIP);
    apical_registry_free(r);
}
END_TEST

START_TEST(the_hebbian_example_conforms)
{
    char dir[2048];
    conformance_dir(dir, sizeof dir);
    apical_registry *r = registry_at(dir);
    results s;
    ck_assert_int_eq(check_rule(test_rule(r, "hebbian"), &s), 0);
    assert_no_failure(&s, "hebbian");
    assert_status(&s, "hebbian", "tables", APICAL_CONF_PASS);
    assert_status(&s, "hebbian", "dwdt", APICAL_CONF_PASS);
    assert_status(&s, "hebbian", "euler", APICAL_CONF_SKIP);
    assert_status(&s, "hebbian", "euler_batch", APICAL_CONF_SKIP);
    assert_status(&s, "hebbian", "steady_rate", APICAL_CONF_SKIP);
    apical_registry_free(r);
}
END_TEST

/* An ABI 1.0 rule whose descriptor ends before euler_batch, with trap
   functions past its end: the check reads only what struct_size covers. */
START_TEST(an_old_descriptor_is_checked_for_what_it_has)
{
    char file[2048], err[2048] = "";
    snprintf(file, sizeof file, "%s/older_minor.so", getenv("APICAL_TEST_MODULES"));
    apical_registry *r = registry_at("");
    ck_assert_msg(apical_registry_load_file(r, file, err, sizeof err) == 0, "%s", err);
    const apical_rule *u = test_rule(r, "old_hebb");
    results s;
    ck_assert_int_eq(check_rule(u, &s), 0);
    assert_status(&s, "old_hebb", "dwdt", APICAL_CONF_PASS);
    const row *b = find(&s, "euler_batch");
    ck_assert_int_eq(b->status, APICAL_CONF_SKIP);
    ck_assert_ptr_nonnull(strstr(b->detail, "ABI 1.0"));
    assert_status(&s, "old_hebb", "euler_batch_f32", APICAL_CONF_SKIP);
    assert_status(&s, "old_hebb", "steady_rate", APICAL_CONF_SKIP);
    apical_registry_free(r);
}
END_TEST

START_TEST(a_broken_cell_fails_what_it_breaks)
{
    char dir[2048];
    conformance_dir(dir, sizeof dir);
    apical_registry *r = registry_at(dir);
    const apical_cell_model *m = test_cell(r, "broken_cell");
    results s;
    ck_assert_int_eq(check_cell(m, &s), 6);
    const char *const fails[] = { "jacobian.dfdin", "steady.root", "ld.rhs", "need", "roles",
                                  "attenuation", NULL };
    assert_failures(&s, "broken_cell", fails);
    const char *const passes[] = { "tables", "rhs", "observe", "jacobian.dfdy", "jacobian.dody",
                                   "ld.observe", "ld.jacobian", "ld.steady", NULL };
    assert_all_pass(&s, "broken_cell", passes);
    /* d(du/dt)/d(nudge) is off by 0.25, and |g_n| < 1: a deviation of 0.25 */
    const row *j = find(&s, "jacobian.dfdin");
    ck_assert_double_eq_tol(j->deviation, 0.25, 1e-6);
    ck_assert_double_eq(j->tolerance, 1e-6);
    ck_assert_msg(strstr(j->detail, "nudge") && !strstr(j->detail, "drive"), "%s", j->detail);
    /* steady without g_n in the denominator: |du/dt| there is of order 0.1 */
    const row *st = find(&s, "steady.root");
    ck_assert_double_gt(st->deviation, 1e-2);
    ck_assert_double_eq(st->tolerance, 1e-9);
    ck_assert_ptr_nonnull(strstr(st->detail, "du/dt"));
    ck_assert_ptr_nonnull(strstr(find(&s, "ld.rhs")->detail, "rhs"));
    const row *nd = find(&s, "need");
    ck_assert_double_gt(nd->deviation, 1e-3);
    ck_assert_msg(strstr(nd->detail, "'err_drive'") && strstr(nd->detail, "'v_drive' not needed"),
                  "%s", nd->detail);
    ck_assert_msg(strstr(find(&s, "roles")->detail, "'firing_rate'"), "%s",
                  find(&s, "roles")->detail);
    /* 1 against g_d / (g_lk + g_d) of the parameter set: at least 1 - 2/2.05 */
    const row *at = find(&s, "attenuation");
    ck_assert_double_gt(at->deviation, 0.02);
    ck_assert_msg(strstr(at->detail, "port drive"), "%s", at->detail);
    apical_registry_free(r);
}
END_TEST

START_TEST(a_broken_rule_fails_what_it_breaks)
{
    char dir[2048];
    conformance_dir(dir, sizeof dir);
    apical_registry *r = registry_at(dir);
    const apical_rule *u = test_rule(r, "broken_rule");
    results s;
    ck_assert_int_eq(check_rule(u, &s), 6);
    const char *const fails[] = { "euler_batch", "euler_batch_f32", "euler_batch_f32.pre_f32",
                                  "euler_batch_f32.pre_bf16x2", "steady_rate", "rate_param",
                                  NULL };
    assert_failures(&s, "broken_rule", fails);
    assert_status(&s, "broken_rule", "euler", APICAL_CONF_PASS);
    assert_status(&s, "broken_rule", "dwdt", APICAL_CONF_PASS);
    const row *b = find(&s, "euler_batch");
    ck_assert_double_gt(b->deviation, 1e-4);
    ck_assert_double_eq(b->tolerance, 1e-10);
    ck_assert_ptr_nonnull(strstr(b->detail, "after 7 steps"));
    /* W moved by D after its step: off by dt eta dD, far beyond float rounding */
    const row *f = find(&s, "euler_batch_f32");
    ck_assert_double_gt(f->deviation, 100 * f->tolerance);
    ck_assert_msg(strstr(f->detail, "W (float)"), "%s", f->detail);
    f = find(&s, "euler_batch_f32.pre_f32");
    ck_assert_double_gt(f->deviation, 100 * f->tolerance);
    /* a = -1 where the rule settles at a = 1: dW off by twice its size */
    const row *sr = find(&s, "steady_rate");
    ck_assert_double_eq_tol(sr->deviation, 2, 1e-6);
    ck_assert_ptr_nonnull(strstr(sr->detail, "a -1"));
    /* tau doubled leaves dW where twice it was expected: off by half */
    const row *rp = find(&s, "rate_param");
    ck_assert_double_eq_tol(rp->deviation, 0.5, 1e-12);
    ck_assert_msg(strstr(rp->detail, "tau times 2"), "%s", rp->detail);
    apical_registry_free(r);
}
END_TEST

/* The same seed, the same measurements; another seed, other states. */
START_TEST(a_check_repeats_from_its_seed)
{
    char dir[2048];
    conformance_dir(dir, sizeof dir);
    apical_registry *r = registry_at(dir);
    const apical_cell_model *m = test_cell(r, "broken_cell");
    static results a, b, c;
    apical_conf_options o = { 7, 3 };
    char err[256];
    ck_assert_int_eq(apical_conformance_cell(m, &o, collect, &a, err, sizeof err), 6);
    ck_assert_int_eq(apical_conformance_cell(m, &o, collect, &b, err, sizeof err), 6);
    o.seed = 8;
    ck_assert_int_eq(apical_conformance_cell(m, &o, collect, &c, err, sizeof err), 6);
    ck_assert_uint_eq(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_str_eq(a.r[i].property, b.r[i].property);
        ck_assert(a.r[i].deviation == b.r[i].deviation ||
                  (isnan(a.r[i].deviation) && isnan(b.r[i].deviation)));
        ck_assert_str_eq(a.r[i].detail, b.r[i].detail);
    }
    ck_assert_double_ne(find(&a, "steady.root")->deviation, find(&c, "steady.root")->deviation);
    apical_registry_free(r);
}
END_TEST

/* Tables that are not well formed: each fault named; nothing of the model
   is called. */
static int never(const apical_cell_ctx *c, double *y)
{
    (void)c;
    (void)y;
    ck_abort_msg("a function of a model with broken tables was called");
    return APICAL_EFAIL;
}

static int never_obs(const apical_cell_ctx *c, uint32_t stage, double *o)
{
    (void)stage;
    return never(c, o);
}

static int never_dwdt(const apical_rule_ctx *c, const double *w, const double *aux, double *dw,
                      double *daux)
{
    (void)c;
    (void)w;
    (void)aux;
    (void)daux;
    return never(NULL, dw);
}

START_TEST(broken_tables_are_named)
{
    static const apical_param dup[] = {
        { "g", "1", "", 1.0, 0, 2, NULL },
        { "g", "1", "", 3.0, 0, 2, NULL },      /* twice, and outside its bounds */
    };
    static const apical_var st[] = { { "u", "", "", 0 } };
    static const apical_observable ob[] = { { "u", "", "", APICAL_OBS_STATE } };
    apical_cell_model m = {
        .struct_size = sizeof m, .name = "bad_tables", .version = "1",
        .params = dup, .n_params = 2,
        .state = st, .n_state = 1,
        .ports = NULL, .n_ports = 2,           /* no array for two ports */
        .obs = ob, .n_obs = 1,
        .rhs = never, .observe = never_obs,
    };
    results s;
    ck_assert_int_eq(check_cell(&m, &s), 1);
    const row *t = find(&s, "tables");
    ck_assert_int_eq(t->status, APICAL_CONF_FAIL);
    ck_assert_double_eq(t->deviation, 3);
    ck_assert_msg(strstr(t->detail, "parameter 'g' appears twice (rows 0 and 1)") &&
                      strstr(t->detail, "(and 2 more)"), "%s", t->detail);
    assert_status(&s, "bad_tables", "jacobian.dfdy", APICAL_CONF_SKIP);
    assert_status(&s, "bad_tables", "steady.root", APICAL_CONF_SKIP);

    static const apical_param one[] = { { "g", "1", "", 3.0, 0, 2, NULL } };
    m.params = one;
    m.n_params = 1;
    ck_assert_int_eq(check_cell(&m, &s), 1);
    t = find(&s, "tables");
    ck_assert_double_eq(t->deviation, 2);
    ck_assert_msg(strstr(t->detail, "parameter 'g': default 3 outside its bounds [0, 2]"),
                  "%s", t->detail);
    m.params = dup; /* the first row alone is well formed */
    ck_assert_int_eq(check_cell(&m, &s), 1);
    ck_assert_str_eq(find(&s, "tables")->detail, "ports: NULL array for 2 entries");

    static const apical_param ok[] = { { "eta", "1", "", 0.0, -1, 1, NULL } };
    apical_rule u = {
        .struct_size = sizeof u, .name = "bad_post", .version = "1",
        .params = ok, .n_params = 1, .post_obs = "err_{prt}", .dwdt = never_dwdt,
    };
    ck_assert_int_eq(check_rule(&u, &s), 1);
    t = find(&s, "tables");
    ck_assert_msg(strstr(t->detail, "not part of {port}"), "%s", t->detail);
    assert_status(&s, "bad_post", "euler", APICAL_CONF_SKIP);
}
END_TEST

/* docs/modules.md's table names every property the check reports. */
START_TEST(modules_md_names_every_property)
{
    char path[2048];
    test_srcpath(path, sizeof path, "docs/modules.md");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char text[1 << 17];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    apical_registry *r = test_registry();
    static results s;
    for (int kind = 0; kind < 2; kind++) {
        if (kind == 0)
            check_cell(test_cell(r, "pyramidal"), &s);
        else
            check_rule(test_rule(r, "dendritic_error"), &s);
        for (size_t i = 0; i < s.n; i++) {
            char quoted[80];
            snprintf(quoted, sizeof quoted, "`%s`", s.r[i].property);
            ck_assert_msg(strstr(text, quoted), "docs/modules.md does not name %s", quoted);
        }
    }
    apical_registry_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conformance");
    TCase *t = tcase_create("conformance");
    tcase_add_test(t, every_shipped_module_conforms);
    tcase_add_test(t, the_hebbian_example_conforms);
    tcase_add_test(t, an_old_descriptor_is_checked_for_what_it_has);
    tcase_add_test(t, a_broken_cell_fails_what_it_breaks);
    tcase_add_test(t, a_broken_rule_fails_what_it_breaks);
    tcase_add_test(t, a_check_repeats_from_its_seed);
    tcase_add_test(t, broken_tables_are_named);
    tcase_add_test(t, modules_md_names_every_property);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
