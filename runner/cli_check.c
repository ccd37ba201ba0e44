/*
 * cli_check.c -- apical modules --check [NAME...]: a table per cell model
 * and rule (property, result, deviation, tolerance), then what failed.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apical_runner.h"
#include "cli_check.h"

/* What failed, for the summary at the end. */
typedef struct failure {
    char line[640];
} failure;

typedef struct table {
    failure *fail;
    size_t n_fail, cap_fail;
    int oom;
} table;

/* A number of the table in a column of 10: "-" for none. */
static size_t put_num(char *buf, size_t cap, double v)
{
    int len;
    if (isnan(v))
        len = snprintf(buf, cap, "  %-10s", "-");
    else if (v == 0 || (v == floor(v) && fabs(v) < 1e6))
        len = snprintf(buf, cap, "  %-10.0f", v);
    else
        len = snprintf(buf, cap, "  %-10.2e", v);
    return len < 0 ? 0 : (size_t)len < cap ? (size_t)len : cap - 1;
}

static void on_result(void *user, const apical_conf_result *r)
{
    table *t = user;
    char line[1024];
    size_t len = (size_t)snprintf(line, sizeof line, "  %-25s %-6s", r->property,
                                  apical_conf_status_name(r->status));
    len += put_num(line + len, sizeof line - len, r->deviation);
    len += put_num(line + len, sizeof line - len, r->tolerance);
    if (r->status != APICAL_CONF_PASS && r->detail && *r->detail)
        len += (size_t)snprintf(line + len, sizeof line - len, "  %s", r->detail);
    if (len >= sizeof line)
        len = sizeof line - 1;
    while (len > 0 && line[len - 1] == ' ')
        line[--len] = '\0';
    puts(line);
    if (r->status != APICAL_CONF_FAIL)
        return;
    if (t->n_fail == t->cap_fail) {
        size_t cap = t->cap_fail ? 2 * t->cap_fail : 8;
        failure *f = realloc(t->fail, cap * sizeof *f);
        if (!f) {
            t->oom = 1;
            return;
        }
        t->fail = f;
        t->cap_fail = cap;
    }
    char dev[64] = "";
    if (!isnan(r->deviation) && !isnan(r->tolerance))
        snprintf(dev, sizeof dev, ": deviation %.3g > tolerance %.3g", r->deviation,
                 r->tolerance);
    snprintf(t->fail[t->n_fail++].line, sizeof t->fail->line, "%s %s: %s%s (%s)", r->kind,
             r->model, r->property, dev, r->detail ? r->detail : "");
}

static void header(const char *kind, const char *name, const char *version, const char *file)
{
    printf("%s %s %s", kind, name, version ? version : "");
    if (file)
        printf(" (%s)", file);
    printf("\n  %-25s %-6s  %-10s  %-10s  %s\n", "property", "result", "deviation", "tolerance",
           "detail");
}

static int check_cell(const apical_cell_model *m, const char *file, table *t)
{
    char err[256];
    header("cell", m->name, m->version, file);
    int rc = apical_conformance_cell(m, NULL, on_result, t, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "apical: %s\n", err);
    putchar('\n');
    return rc;
}

static int check_rule(const apical_rule *u, const char *file, table *t)
{
    char err[256];
    header("rule", u->name, u->version, file);
    int rc = apical_conformance_rule(u, NULL, on_result, t, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "apical: %s\n", err);
    putchar('\n');
    return rc;
}

static void on_skip(void *user, const char *file, const char *why)
{
    (void)user;
    fprintf(stderr, "apical: skipped %s: %s\n", file, why);
}

/* The file a loaded model came from. */
static const char *file_of(const apical_registry *reg, const void *model)
{
    const char *file = NULL;
    for (size_t i = 0; i < apical_registry_n_cells(reg); i++)
        if ((const void *)apical_registry_cell_at(reg, i, &file) == model)
            return file;
    for (size_t i = 0; i < apical_registry_n_rules(reg); i++)
        if ((const void *)apical_registry_rule_at(reg, i, &file) == model)
            return file;
    return NULL;
}

int apical_modules_check(char *const *names, size_t n)
{
    apical_registry *reg = apical_registry_new(NULL);
    if (!reg) {
        fprintf(stderr, "apical: out of memory\n");
        return 1;
    }
    table t = { NULL, 0, 0, 0 };
    size_t models = 0;
    int broken = 0, missing = 0;
    if (n == 0) {
        apical_registry_scan(reg, on_skip, NULL);
        apical_registry_sort(reg);
        for (size_t i = 0; i < apical_registry_n_cells(reg); i++, models++) {
            const char *file;
            const apical_cell_model *m = apical_registry_cell_at(reg, i, &file);
            broken |= check_cell(m, file, &t) != 0;
        }
        for (size_t i = 0; i < apical_registry_n_rules(reg); i++, models++) {
            const char *file;
            const apical_rule *u = apical_registry_rule_at(reg, i, &file);
            broken |= check_rule(u, file, &t) != 0;
        }
    }
    for (size_t k = 0; k < n; k++) {
        char cerr[2048] = "", rerr[2048] = "";
        const apical_cell_model *m = apical_registry_cell(reg, names[k], cerr, sizeof cerr);
        const apical_rule *u = apical_registry_rule(reg, names[k], rerr, sizeof rerr);
        if (!m && !u) {
            fprintf(stderr, "apical: %s\n", cerr);
            missing = 1;
            continue;
        }
        if (m) {
            broken |= check_cell(m, file_of(reg, m), &t) != 0;
            models++;
        }
        if (u) {
            broken |= check_rule(u, file_of(reg, u), &t) != 0;
            models++;
        }
    }
    if (models == 0 && n == 0)
        fprintf(stderr, "apical: no modules found on %s\n", apical_registry_path(reg));
    if (t.n_fail) {
        printf("%zu propert%s failed:\n", t.n_fail, t.n_fail == 1 ? "y" : "ies");
        for (size_t i = 0; i < t.n_fail; i++)
            printf("  %s\n", t.fail[i].line);
    } else if (models && !broken && !t.oom) {
        printf("%zu model%s checked: every property passes\n", models, models == 1 ? "" : "s");
    }
    if (t.oom)
        fprintf(stderr, "apical: out of memory\n");
    free(t.fail);
    apical_registry_free(reg);
    return broken || missing || t.oom || models == 0 ? 1 : 0;
}
