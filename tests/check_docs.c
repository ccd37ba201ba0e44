/*
 * The documentation against the code: docs/output.md's table of metrics.csv
 * columns lists every column the runs write (apical_metric_kinds), each
 * once, with the modes that write it; and the columns a run writes are the
 * kinds of its mode.
 */
#include <stdio.h>

#include "testutil.h"

/* The documented form of a kind: "error_<stim>", "apical_sq_<pop>", "t_ms". */
static void doc_name(const apical_metric_kind *k, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", k->pattern, k->per == 1 ? "<stim>" : k->per == 2 ? "<pop>" : "");
}

START_TEST(output_md_lists_every_metrics_column_once)
{
    char path[2048], line[2048];
    test_srcpath(path, sizeof path, "docs/output.md");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    char names[64][64], modes[64][64];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        char *a, *b, *c, *d;
        if (strncmp(line, "| `", 3) != 0 || !(b = strchr(line + 3, '`')))
            continue;
        a = line + 3;
        *b = 0;
        if (!(c = strchr(b + 1, '|')) || !(d = strchr(c + 1, '|')))
            continue;
        *d = 0;
        while (*++c == ' ')
            ;
        for (char *e = d - 1; e > c && *e == ' '; e--)
            *e = 0;
        ck_assert_uint_lt(n, 64);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(strcmp(names[i], a) != 0, "docs/output.md lists %s twice", a);
        snprintf(names[n], sizeof names[n], "%.63s", a);
        snprintf(modes[n], sizeof modes[n], "%.63s", c);
        n++;
    }
    fclose(f);
    size_t kinds = 0;
    for (const apical_metric_kind *k = apical_metric_kinds; k->pattern; k++) {
        char want[64];
        doc_name(k, want, sizeof want);
        int dyn = 0, st = 0; /* the modes that write it, from the table */
        for (const apical_metric_kind *q = apical_metric_kinds; q->pattern; q++)
            if (q->per == k->per && strcmp(q->pattern, k->pattern) == 0)
                *(q->mode == APICAL_MODE_DYNAMICS ? &dyn : &st) = 1;
        size_t i = 0;
        while (i < n && strcmp(names[i], want) != 0)
            i++;
        ck_assert_msg(i < n, "docs/output.md does not list the column %s", want);
        const char *m = modes[i];
        if (dyn && st)
            ck_assert_msg(strcmp(m, "all") == 0, "%s: documented for '%s', written in all modes",
                          want, m);
        else if (dyn)
            ck_assert_msg(strcmp(m, "dynamics") == 0, "%s: documented for '%s', not dynamics",
                          want, m);
        else
            ck_assert_msg(strstr(m, "steady") != NULL && !strstr(m, "dynamics"),
                          "%s: documented for '%s', not steady/backprop", want, m);
        kinds++;
    }
    /* and nothing documented that the code does not write */
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (const apical_metric_kind *k = apical_metric_kinds; k->pattern && !found; k++) {
            char want[64];
            doc_name(k, want, sizeof want);
            found = strcmp(want, names[i]) == 0;
        }
        ck_assert_msg(found, "docs/output.md lists %s, which no run writes", names[i]);
    }
    fprintf(stderr, "docs/output.md: %zu columns, %zu kinds in the code\n", n, kinds);
}
END_TEST

/* Each column a run writes is a documented kind of its mode, and the
   dynamics columns are the fixed list. */
START_TEST(run_columns_are_known_kinds)
{
    apical_column cols[16];
    size_t n = apical_dynamics_columns(cols, 16);
    ck_assert_uint_eq(n, 9);
    const char *want[] = { "phase", "pattern", "t_ms", "apical_sq", "mismatch_sq",
                           "test_error", "angle_deg", "bp_cosine" };
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cols[i].name[0])
            continue;
        ck_assert_str_eq(cols[i].name, want[k++]);
        ck_assert(apical_metric_kind_of(APICAL_MODE_DYNAMICS, cols[i].name) != NULL);
    }
    ck_assert_uint_eq(k, 8);
    ck_assert(!apical_metric_known(APICAL_MODE_DYNAMICS, "epoch"));
    /* where the run stands is a column, not a metric a sweep collects */
    ck_assert(!apical_metric_known(APICAL_MODE_DYNAMICS, "phase"));
    ck_assert(!apical_metric_known(APICAL_MODE_STEADY, "patterns"));
    ck_assert(apical_metric_known(APICAL_MODE_DYNAMICS, "t_ms"));
    ck_assert(apical_metric_known(APICAL_MODE_STEADY, "copy_dev_inter1"));
    ck_assert(apical_metric_known(APICAL_MODE_BACKPROP, "error_test"));
    ck_assert(!apical_metric_known(APICAL_MODE_STEADY, "error_"));
    ck_assert(!apical_metric_known(APICAL_MODE_STEADY, "t_ms"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("docs");
    TCase *t = tcase_create("docs");
    tcase_add_test(t, output_md_lists_every_metrics_column_once);
    tcase_add_test(t, run_columns_are_known_kinds);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
