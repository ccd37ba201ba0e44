/*
 * Every file in tests/bad/ is a circuit with one mistake.  Its first line
 * says what the loader must answer: "# expect: LINE:COL: message".  The
 * error must start with FILE:LINE:COL and contain the message.
 */
#include <dirent.h>
#include <stdio.h>

#include "testutil.h"

START_TEST(each_bad_file_gives_its_located_error)
{
    apical_registry *reg = test_registry();
    char dir[2048];
    test_srcpath(dir, sizeof dir, "tests/bad");
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".yaml") != 0)
            continue;
        char path[4096], line[1024], want[4200], err[2048] = "";
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        fclose(f);
        line[strcspn(line, "\n")] = 0;
        ck_assert_msg(strncmp(line, "# expect: ", 10) == 0, "%s: no expect line", path);
        const char *loc = line + 10, *msg = strchr(strchr(loc, ':') + 1, ':') + 2;
        snprintf(want, sizeof want, "%s:%.*s", path, (int)(msg - loc - 1), loc);
        apical_config cfg;
        int rc = apical_config_load_file(&cfg, reg, path, err, sizeof err);
        ck_assert_msg(rc == 2, "%s loaded", e->d_name);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s: expected '%s', got '%s'",
                      e->d_name, want, err);
        ck_assert_msg(strstr(err, msg) != NULL, "%s: expected '%s' in '%s'", e->d_name, msg, err);
        files++;
    }
    closedir(d);
    fprintf(stderr, "%d bad files, each refused at its place\n", files);
    ck_assert_int_ge(files, 17);
    apical_registry_free(reg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bad");
    TCase *t = tcase_create("bad");
    tcase_add_test(t, each_bad_file_gives_its_located_error);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return test_run_suite(suite()); }
