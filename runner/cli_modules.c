/*
 * cli_modules.c -- apical modules: the cell models and plasticity rules on
 * the module path, with their tables.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apical_runner.h"
#include "cli.h"
#include "cli_check.h"

static const apical_cli_opt modules_opts[] = {
    { "--yaml", NULL, "the same as YAML, for programs" },
    { "--check", NULL, "run the conformance check on the models NAME... (default:\n"
                       "every one on the path); exit status 1 if a property fails" },
};

const apical_cli_cmd apical_modules_cmd = {
    "modules",
    "apical modules [--yaml]\n"
    "apical modules --check [NAME]...",
    "list the loadable cell models and plasticity rules",
    "Load every module on the module path (APICAL_MODULE_PATH, then the install\n"
    "directory) and list its cell models and plasticity rules: version, file,\n"
    "parameters (unit, default, range), state variables, ports and observables, and\n"
    "the postsynaptic observable each rule needs.  Files that are not modules are\n"
    "named on stderr.  --check tests each model against the module ABI (Jacobian\n"
    "against finite differences, steady a root of rhs, row slices, euler and its\n"
    "batched and single-precision forms, the tables) and prints a table per model.",
    modules_opts, 2,
};

static void on_skip(void *user, const char *file, const char *why)
{
    (void)user;
    fprintf(stderr, "apical: skipped %s: %s\n", file, why);
    (void)file;
}

static void print_params(const apical_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i].choices) {
            printf("    param %-10s one of:", p[i].name);
            for (size_t k = 0; p[i].choices[k]; k++)
                printf(" %s%s", p[i].choices[k], (double)k == p[i].def ? " (default)" : "");
            printf("  %s\n", p[i].doc);
            continue;
        }
        printf("    param %-10s %-7s default %-8g [%g, %g]  %s\n", p[i].name, p[i].unit,
               p[i].def, p[i].min, p[i].max, p[i].doc);
    }
}

int apical_cmd_modules(int argc, char **argv)
{
    apical_cli cl = { &apical_modules_cmd, argc, 0, argv, 0 };
    const char *v;
    int yaml = 0, check = 0, n = 0;
    for (int k; (k = apical_cli_next(&cl, &v)) != APICAL_CLI_END;) {
        if (k == APICAL_CLI_HELP) {
            apical_cli_help(stdout, &apical_modules_cmd);
            return 0;
        }
        if (k == APICAL_CLI_ERROR)
            return 2;
        if (k == APICAL_CLI_OPERAND)
            argv[n++] = (char *)v; /* the names, gathered at argv's front */
        else
            *(k ? &check : &yaml) = 1;
    }
    if (yaml && check)
        return apical_cli_fail(&apical_modules_cmd, "--yaml and --check do not go together");
    if (check)
        return apical_modules_check(argv, (size_t)n);
    if (n)
        return apical_cli_fail(&apical_modules_cmd, "unexpected argument '%s'", argv[0]);
    apical_registry *reg = apical_registry_new(NULL);
    if (!reg)
        return 1;
    apical_registry_scan(reg, on_skip, NULL);
    apical_registry_sort(reg);
    if (yaml) {
        int rc = apical_registry_write_yaml(reg, stdout) == 0 ? 0 : 1;
        apical_registry_free(reg);
        return rc;
    }
    printf("module path: %s\n", apical_registry_path(reg));
    for (size_t i = 0; i < apical_registry_n_cells(reg); i++) {
        const char *file;
        const apical_cell_model *m = apical_registry_cell_at(reg, i, &file);
        printf("\ncell %s %s (%s)\n  %s\n", m->name, m->version, file, m->doc);
        print_params(m->params, m->n_params);
        for (size_t k = 0; k < m->n_state; k++)
            printf("    state %-10s %-7s %s%s\n", m->state[k].name, m->state[k].unit,
                   m->state[k].doc, m->state[k].flags & APICAL_VAR_NOISY ? " (noisy)" : "");
        for (size_t k = 0; k < m->n_ports; k++)
            printf("    port  %-10s %-7s %s\n", m->ports[k].name, m->ports[k].unit,
                   m->ports[k].doc);
        for (size_t k = 0; k < m->n_obs; k++)
            printf("    obs   %-18s %s%s\n", m->obs[k].name, m->obs[k].doc,
                   m->obs[k].stage == APICAL_OBS_STATE ? "" : " (needs ports)");
    }
    for (size_t i = 0; i < apical_registry_n_rules(reg); i++) {
        const char *file;
        const apical_rule *u = apical_registry_rule_at(reg, i, &file);
        printf("\nrule %s %s (%s)\n  %s\n    needs postsynaptic observable %s\n", u->name,
               u->version, file, u->doc, u->post_obs);
        print_params(u->params, u->n_params);
    }
    int rc = apical_registry_n_cells(reg) + apical_registry_n_rules(reg) > 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "apical: no modules found on %s\n", apical_registry_path(reg));
    apical_registry_free(reg);
    return rc;
}
