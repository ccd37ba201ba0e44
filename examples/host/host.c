/*
 * host.c -- a program that hosts apical circuits through libapical's public
 * API only (apical_runner.h, installed with pkg-config's apical): it loads a
 * circuit from YAML with overrides, runs it, prints each evaluation's
 * pattern, apical_sq and mismatch_sq as metrics.csv has them, then every
 * projection by name with its weight count and Frobenius norm.
 *
 *   cc $(pkg-config --cflags apical) host.c -o host $(pkg-config --libs apical) -lm
 *   ./host circuit.yaml [KEY=VALUE ...]
 */
#include <math.h>
#include <stdio.h>

#include "apical_runner.h"

static void on_metrics(void *user, const apical_metrics *m)
{
    (void)user;
    printf("%ld,%.10g,%.10g\n", m->pattern, m->apical_sq, m->mismatch_sq);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: host FILE.yaml [KEY=VALUE ...]\n");
        return 2;
    }
    char err[2048];
    apical_registry *reg = apical_registry_new(NULL);
    apical_config cfg;
    if (!reg)
        return 1;
    if (apical_config_load_file_set(&cfg, reg, argv[1], (const char *const *)argv + 2,
                                    (size_t)argc - 2, err, sizeof err) != 0) {
        fprintf(stderr, "host: %s\n", err);
        apical_registry_free(reg);
        return 2;
    }
    cfg.run.on_metrics = on_metrics;
    int rc = apical_run(cfg.circuit, &cfg.run, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "host: %s\n", err);
    const apical_circuit *c = cfg.circuit;
    for (size_t i = 0; rc == 0 && i < apical_circuit_n_projs(c); i++) {
        const apical_proj *pj = apical_circuit_proj_at(c, i);
        const double *w = apical_proj_weights(pj);
        size_t n = apical_proj_n_weights(c, pj);
        double ss = 0;
        for (size_t k = 0; k < n; k++)
            ss += w[k] * w[k];
        printf("# %s: %zu weights, |W| %.6g\n", apical_proj_name(pj), n, sqrt(ss));
    }
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return rc == 0 ? 0 : 1;
}
