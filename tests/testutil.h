/* Helpers shared by the Check suites. */
#ifndef APICAL_TESTUTIL_H
#define APICAL_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the tests check the library from inside: they read the circuit's
   internal fields (circuit_int.h) besides the public API */
#include "circuit_int.h"

/* The registry of the build tree's modules (APICAL_MODULE_PATH from make). */
static inline apical_registry *test_registry(void)
{
    apical_registry *r = apical_registry_new(NULL);
    ck_assert_ptr_nonnull(r);
    return r;
}

static inline const apical_cell_model *test_cell(apical_registry *r, const char *name)
{
    char err[1024] = "";
    const apical_cell_model *m = apical_registry_cell(r, name, err, sizeof err);
    ck_assert_msg(m != NULL, "%s", err);
    return m;
}

static inline const apical_rule *test_rule(apical_registry *r, const char *name)
{
    char err[1024] = "";
    const apical_rule *u = apical_registry_rule(r, name, err, sizeof err);
    ck_assert_msg(u != NULL, "%s", err);
    return u;
}

/* A file of the source tree (tests run in the build tree). */
static inline void test_srcpath(char *buf, size_t cap, const char *rel)
{
    const char *src = getenv("APICAL_SRCDIR");
    snprintf(buf, cap, "%s/%s", src ? src : ".", rel);
}

/* Hold the inputs and integrate (Euler, dt 0.1, no noise, no plasticity)
   until no derivative exceeds tol; leaves ports and observables evaluated
   at the final state and returns the largest derivative there. */
static inline double test_settle(apical_circuit *c, double tol, int max_steps)
{
    char err[1024];
    double m = 0;
    for (int t = 0; t < max_steps; t++) {
        ck_assert_msg(apical_circuit_step_euler(c, 0.1, 0, err, sizeof err) == 0, "%s", err);
        m = 0;
        for (size_t i = 0; i < c->n_y; i++)
            m = fmax(m, fabs(c->dydt[i]));
        if (m < tol)
            break;
    }
    ck_assert_msg(apical_circuit_eval(c, err, sizeof err) == 0, "%s", err);
    m = 0;
    for (size_t i = 0; i < c->n_y; i++)
        m = fmax(m, fabs(c->dydt[i]));
    return m;
}

static inline int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
