/*
 * The CSV reader: a header is a line of names only; a first row with a
 * typo, nan or inf is an error at its place instead of a dropped pattern;
 * a byte-order mark is skipped.
 */
#include <stdio.h>

#include "testutil.h"

/* Read text; 0 and the table, or -1 and the message in err. */
static int read_text(const char *text, apical_table *t, char *err, size_t cap)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    ck_assert_ptr_nonnull(f);
    int rc = apical_csv_read_stream(f, "t.csv", t, err, cap);
    fclose(f);
    return rc;
}

static void refused(const char *text, const char *want)
{
    apical_table t;
    char err[256] = "";
    ck_assert_msg(read_text(text, &t, err, sizeof err) != 0, "'%s' was read", text);
    ck_assert_msg(strcmp(err, want) == 0, "'%s': expected '%s', got '%s'", text, want, err);
}

START_TEST(a_header_is_names_only)
{
    apical_table t;
    char err[256];
    ck_assert_int_eq(read_text("a,b,c\n1,2,3\n4,5,6\n", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t.rows, 2);
    ck_assert_uint_eq(t.cols, 3);
    ck_assert_double_eq(t.data[0], 1);
    apical_table_free(&t);
    ck_assert_int_eq(read_text("\"w1\" _w2\n0.5 -1\n", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t.rows, 1);
    ck_assert_double_eq(t.data[1], -1);
    apical_table_free(&t);
    /* no header: the first line is data */
    ck_assert_int_eq(read_text("1,2\n3,4\n", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t.rows, 2);
    apical_table_free(&t);
}
END_TEST

START_TEST(a_bad_first_row_is_an_error_at_its_place)
{
    refused("0.5,O.3,0.1\n1,2,3\n", "t.csv:1:5: expected a number");
    refused("nan,1\n2,3\n", "t.csv:1:1: expected a number");
    refused("1,inf\n2,3\n", "t.csv:1:3: expected a number");
    refused("x1,0.5\n2,3\n", "t.csv:1:1: expected a number");
    /* after a header too */
    refused("a,b\n1,b2\n", "t.csv:2:3: expected a number");
}
END_TEST

START_TEST(a_byte_order_mark_is_skipped)
{
    apical_table t;
    char err[256];
    ck_assert_int_eq(read_text("\xEF\xBB\xBF" "1,2\n3,4\n", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t.rows, 2);
    ck_assert_double_eq(t.data[0], 1);
    apical_table_free(&t);
    ck_assert_int_eq(read_text("\xEF\xBB\xBF" "a,b\n3,4\n", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t.rows, 1);
    ck_assert_double_eq(t.data[0], 3);
    apical_table_free(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("csv");
    TCase *t = tcase_create("csv");
    tcase_add_test(t, a_header_is_names_only);
    tcase_add_test(t, a_bad_first_row_is_an_error_at_its_place);
    tcase_add_test(t, a_byte_order_mark_is_skipped);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
