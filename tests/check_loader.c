/*
 * The module loader: finds modules by name on the path, refuses a module
 * of another ABI major and a file without the entry symbol, each with a
 * message that says what and where.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static void test_module(char *buf, size_t cap, const char *name)
{
    const char *dir = getenv("APICAL_TEST_MODULES");
    ck_assert_ptr_nonnull(dir);
    snprintf(buf, cap, "%s/%s.so", dir, name);
}

START_TEST(finds_modules_by_name)
{
    apical_registry *r = test_registry();
    const char *cells[] = { "pyramidal", "sst", "rate_input" };
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(test_cell(r, cells[i])->name, cells[i]);
    ck_assert_str_eq(test_rule(r, "dendritic_error")->name, "dendritic_error");
    ck_assert_str_eq(test_rule(r, "apical_silence")->name, "apical_silence");
    /* the same model twice is the same descriptor (loaded once) */
    ck_assert_ptr_eq(test_cell(r, "sst"), test_cell(r, "sst"));
    apical_registry_free(r);
}
END_TEST

START_TEST(unknown_name_says_where_it_looked)
{
    apical_registry *r = apical_registry_new("/nonexistent/a:/nonexistent/b");
    char err[1024] = "";
    ck_assert_ptr_null(apical_registry_cell(r, "pyramidal", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "pyramidal.so"));
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/a:/nonexistent/b"));
    ck_assert_ptr_null(apical_registry_rule(r, "../etc", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "invalid"));
    apical_registry_free(r);
}
END_TEST

/* A misspelt name is answered with the nearest name of a model of the same
   kind; modules of the other kind, files that are not modules and far-off
   names offer nothing. */
START_TEST(misspelt_name_offers_the_nearest)
{
    char path[4096], err[2048];
    snprintf(path, sizeof path, "%s:%s", getenv("APICAL_MODULE_PATH"),
             getenv("APICAL_TEST_MODULES"));
    apical_registry *r = apical_registry_new(path);
    ck_assert_ptr_null(apical_registry_cell(r, "pyramidl", err, sizeof err));
    ck_assert_msg(strstr(err, "no cell model 'pyramidl'") && strstr(err, "pyramidl.so") &&
                      strstr(err, "; did you mean 'pyramidal'?"), "%s", err);
    ck_assert_ptr_null(apical_registry_rule(r, "dendritic_eror", err, sizeof err));
    ck_assert_msg(strstr(err, "did you mean 'dendritic_error'?"), "%s", err);
    ck_assert_ptr_null(apical_registry_cell(r, "SST", err, sizeof err));
    ck_assert_msg(strstr(err, "did you mean 'sst'?"), "%s", err);
    /* backprop is a rule: no offer for a cell */
    ck_assert_ptr_null(apical_registry_cell(r, "backprob", err, sizeof err));
    ck_assert_msg(!strstr(err, "did you mean"), "%s", err);
    ck_assert_ptr_null(apical_registry_rule(r, "backprob", err, sizeof err));
    ck_assert_msg(strstr(err, "did you mean 'backprop'?"), "%s", err);
    /* near the file names of the test modules the loader refuses */
    ck_assert_ptr_null(apical_registry_rule(r, "bad_majr", err, sizeof err));
    ck_assert_msg(strstr(err, "no plasticity rule 'bad_majr'") && !strstr(err, "did you mean"),
                  "%s", err);
    ck_assert_ptr_null(apical_registry_cell(r, "xyzzy", err, sizeof err));
    ck_assert_msg(!strstr(err, "did you mean"), "%s", err);
    /* the lookups that failed leave the registry working */
    ck_assert_str_eq(test_cell(r, "pyramidal")->name, "pyramidal");
    apical_registry_free(r);
}
END_TEST

START_TEST(refuses_another_abi_major)
{
    apical_registry *r = test_registry();
    char file[2048], err[1024] = "";
    test_module(file, sizeof file, "bad_major");
    ck_assert_int_ne(apical_registry_load_file(r, file, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "bad_major.so"));
    char host[32];
    snprintf(host, sizeof host, "ABI %u.%u", APICAL_ABI_MAJOR, APICAL_ABI_MINOR);
    ck_assert_msg(strstr(err, "ABI 2.3") && strstr(err, host), "message: %s", err);
    ck_assert_uint_eq(apical_registry_n_cells(r), 0);
    apical_registry_free(r);
}
END_TEST

START_TEST(loads_a_newer_minor_with_larger_structs)
{
    apical_registry *r = test_registry();
    char file[2048], err[1024] = "";
    test_module(file, sizeof file, "newer_minor");
    ck_assert_msg(apical_registry_load_file(r, file, err, sizeof err) == 0, "%s", err);
    const apical_cell_model *m = test_cell(r, "future_cell");
    ck_assert_uint_gt(m->struct_size, sizeof(apical_cell_model));
    ck_assert_str_eq(m->version, "1.1.0");
    /* and it runs: du/dt = -u */
    double y[2] = { 1.0, -2.0 }, dydt[2];
    apical_cell_ctx c = { sizeof c, 2, NULL, y, NULL, NULL, 0 };
    ck_assert_int_eq(m->rhs(&c, dydt), APICAL_OK);
    ck_assert_double_eq(dydt[1], 2.0);
    apical_registry_free(r);
}
END_TEST

START_TEST(an_older_minor_works_without_its_missing_fields)
{
    apical_registry *r = test_registry();
    char file[2048], err[2048] = "";
    test_module(file, sizeof file, "older_minor");
    ck_assert_msg(apical_registry_load_file(r, file, err, sizeof err) == 0, "%s", err);
    const apical_rule *u = test_rule(r, "old_hebb");
    ck_assert(!APICAL_RULE_HAS_BATCH(u)); /* the field is past its struct_size */
    ck_assert(!APICAL_RULE_HAS_BATCH_F32(u));
    /* a run asking for batched f32 plasticity falls back to single f64 steps */
    const char *yaml =
        "apical: 1\npopulations:\n  a: {cell: rate_input, size: 2}\n"
        "  b: {cell: pyramidal, size: 2}\n"
        "projections:\n  - {from: a, to: b.basal, init: {constant: 0}, rule: {old_hebb: {eta: 1}}}\n"
        "stimuli:\n  x: {kind: uniform, range: [1, 1], drives: a}\n"
        "simulation:\n  integrator: {method: euler, dt: 0.1, plasticity_batch: 8, matvec: f32_all}\n"
        "  phases: [{train: x, patterns: 1, present: 10, noise: false}]\n";
    apical_config cfg;
    ck_assert_msg(apical_config_load_string(&cfg, r, "old", yaml, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(apical_run(cfg.circuit, &cfg.run, err, sizeof err) == 0, "%s", err);
    ck_assert_double_gt(cfg.circuit->projs[0].w[0], 0); /* it learned */
    apical_config_free(&cfg);
    apical_registry_free(r);
}
END_TEST

START_TEST(refuses_a_file_without_entry_symbol)
{
    apical_registry *r = test_registry();
    char file[2048], err[1024] = "";
    test_module(file, sizeof file, "no_entry");
    ck_assert_int_ne(apical_registry_load_file(r, file, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "no_entry.so"));
    ck_assert_msg(strstr(err, "apical_library_v1") != NULL, "message: %s", err);
    ck_assert_int_ne(apical_registry_load_file(r, "/nonexistent.so", err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "cannot load module /nonexistent.so"));
    apical_registry_free(r);
}
END_TEST

static void count_skip(void *user, const char *file, const char *why)
{
    (void)file;
    (void)why;
    (*(int *)user)++;
}

START_TEST(scan_lists_every_module_and_skips_the_bad)
{
    apical_registry *r = test_registry();
    int skipped = 0;
    ck_assert_int_eq(apical_registry_scan(r, count_skip, &skipped), 7);
    ck_assert_uint_eq(apical_registry_n_cells(r), 4);  /* pyramidal sst rate_input bias */
    ck_assert_uint_eq(apical_registry_n_rules(r), 3);  /* dendritic_error apical_silence backprop */
    ck_assert_int_eq(skipped, 0);
    apical_registry_free(r);
    char path[2048];
    snprintf(path, sizeof path, "%s", getenv("APICAL_TEST_MODULES"));
    r = apical_registry_new(path);
    ck_assert_int_eq(apical_registry_scan(r, count_skip, &skipped), 2); /* the two minors */
    ck_assert_int_eq(skipped, 2);
    apical_registry_free(r);
}
END_TEST

/* The same module name from two files: the first on the path wins, the
   second file is refused with a message naming both. */
START_TEST(a_name_defined_twice_is_loaded_once)
{
    char src[2048], dir[] = "/tmp/apical-dupXXXXXX", copy[4200], err[2048] = "";
    snprintf(src, sizeof src, "%s/pyramidal.so", getenv("APICAL_MODULE_PATH"));
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(copy, sizeof copy, "%s/pyramidal.so", dir);
    FILE *in = fopen(src, "rb"), *out = fopen(copy, "wb");
    ck_assert_msg(in && out, "cannot copy %s", src);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    apical_registry *r = apical_registry_new(dir);
    ck_assert_int_eq(apical_registry_load_file(r, src, err, sizeof err), 0);
    ck_assert_int_ne(apical_registry_load_file(r, copy, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "cell model 'pyramidal' is loaded from") && strstr(err, src) &&
                  strstr(err, copy), "message: %s", err);
    ck_assert_uint_eq(apical_registry_n_cells(r), 1);
    apical_registry_free(r);
    remove(copy);
    rmdir(dir);
}
END_TEST

/* Copy the first n bytes of src to dst (all of it: n = (size_t)-1). */
static size_t copy_prefix(const char *src, const char *dst, size_t n)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    ck_assert_msg(in && out, "cannot copy %s", src);
    char buf[65536];
    size_t k, done = 0;
    while (done < n && (k = fread(buf, 1, n - done < sizeof buf ? n - done : sizeof buf, in)) > 0) {
        ck_assert_uint_eq(fwrite(buf, 1, k, out), k);
        done += k;
    }
    fclose(in);
    fclose(out);
    return done;
}

/* A module file cut short (a copy interrupted, a full disk): refused
   before dlopen, whose mapping of the missing pages would end the process
   with SIGBUS, with a message naming the file; a scan skips it. */
START_TEST(a_truncated_module_is_refused)
{
    char src[2048], dir[] = "/tmp/apical-cutXXXXXX", copy[4200], err[2048] = "";
    snprintf(src, sizeof src, "%s/pyramidal.so", getenv("APICAL_MODULE_PATH"));
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(copy, sizeof copy, "%s/pyramidal.so", dir);
    size_t size = copy_prefix(src, copy, (size_t)-1);
    const size_t cuts[] = { 8, 64, 1000, size / 4, size / 2, 3 * size / 4, size - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        ck_assert_uint_eq(copy_prefix(src, copy, cuts[i]), cuts[i]);
        apical_registry *r = apical_registry_new(dir);
        ck_assert_int_ne(apical_registry_load_file(r, copy, err, sizeof err), 0);
        ck_assert_msg(strstr(err, copy) && (strstr(err, "truncated") || strstr(err, "too short") ||
                                            strstr(err, "file too short")),
                      "cut at %zu of %zu: %s", cuts[i], size, err);
        ck_assert_ptr_null(apical_registry_cell(r, "pyramidal", err, sizeof err));
        ck_assert_msg(strstr(err, copy), "%s", err);
        int skipped = 0;
        ck_assert_int_eq(apical_registry_scan(r, count_skip, &skipped), 0);
        ck_assert_int_eq(skipped, 1);
        apical_registry_free(r);
    }
    remove(copy);
    rmdir(dir);
}
END_TEST

/* A module whose table promises entries it does not give (a count with a
   NULL array): refused at load with a message naming the file, the model
   and the table, before anything reads the entries. */
START_TEST(a_module_with_a_null_table_is_refused)
{
    const char *dir = getenv("APICAL_BAD_MODULES");
    ck_assert_ptr_nonnull(dir);
    char file[2048], err[2048] = "";
    snprintf(file, sizeof file, "%s/null_table.so", dir);
    apical_registry *r = apical_registry_new(dir);
    ck_assert_int_ne(apical_registry_load_file(r, file, err, sizeof err), 0);
    ck_assert_msg(strstr(err, file) && strstr(err, "'null_ports'") && strstr(err, "NULL array") &&
                      strstr(err, "ports table"), "%s", err);
    int skipped = 0;
    ck_assert_int_eq(apical_registry_scan(r, count_skip, &skipped), 0);
    ck_assert_int_eq(skipped, 1);
    ck_assert_uint_eq(apical_registry_n_cells(r), 0);
    apical_registry_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("loader");
    TCase *t = tcase_create("registry");
    tcase_add_test(t, finds_modules_by_name);
    tcase_add_test(t, unknown_name_says_where_it_looked);
    tcase_add_test(t, misspelt_name_offers_the_nearest);
    tcase_add_test(t, refuses_another_abi_major);
    tcase_add_test(t, loads_a_newer_minor_with_larger_structs);
    tcase_add_test(t, an_older_minor_works_without_its_missing_fields);
    tcase_add_test(t, refuses_a_file_without_entry_symbol);
    tcase_add_test(t, scan_lists_every_module_and_skips_the_bad);
    tcase_add_test(t, a_name_defined_twice_is_loaded_once);
    tcase_add_test(t, a_truncated_module_is_refused);
    tcase_add_test(t, a_module_with_a_null_table_is_refused);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
