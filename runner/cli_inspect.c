/*
 * cli_inspect.c -- apical inspect DIR: what a run's checkpoint holds.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apical_runner.h"
#include "cli.h"

const apical_cli_cmd apical_inspect_cmd = {
    "inspect",
    "apical inspect DIR",
    "print what a run's checkpoint holds",
    "Read the run in DIR (config.yaml and checkpoint.bin) and print where it stands,\n"
    "a digest of its state (runs in the same state print the same digest), each\n"
    "projection's weights (count, norm, mean, minimum, maximum) and how far each\n"
    "lateral pathway is from the self-predicting state.",
    NULL, 0,
};

static const char *pop_name(const apical_circuit *c, size_t i)
{
    return apical_pop_name(apical_circuit_pop_at(c, i));
}

/* Each projection: its weights' count, norm, mean, minimum and maximum. */
static void print_weights(const apical_circuit *c)
{
    printf("%3s %-18s %-30s %-16s %9s %10s %11s %11s %11s\n", "#", "name", "projection", "rule",
           "weights", "|W|_F", "mean", "min", "max");
    for (size_t i = 0; i < apical_circuit_n_projs(c); i++) {
        const apical_proj *p = apical_circuit_proj_at(c, i);
        char name[160];
        snprintf(name, sizeof name, "%s -> %s.%s", pop_name(c, apical_proj_src(p)),
                 pop_name(c, apical_proj_dst(p)), apical_proj_port(c, p));
        if (apical_proj_one_to_one(p)) {
            printf("%3zu %-18s %-30s %-16s %9s\n", i, apical_proj_name(p), name, "one_to_one", "-");
            continue;
        }
        size_t n = apical_proj_n_weights(c, p);
        double ss = 0, sum = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t k = 0; k < n; k++) {
            double w = apical_proj_weights(p)[k];
            ss += w * w;
            sum += w;
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
        }
        const apical_rule *rule = apical_proj_rule(p);
        printf("%3zu %-18s %-30s %-16s %9zu %10.4g %11.4g %11.4g %11.4g\n", i, apical_proj_name(p),
               name, rule ? rule->name : "fixed", n, sqrt(ss), n ? sum / (double)n : 0, lo, hi);
    }
}

/* How far each lateral pathway is from its self-predicting copy. */
static void print_lateral(const apical_circuit *c)
{
    int header = 0;
    for (size_t i = 0; i < apical_circuit_n_projs(c); i++) {
        const apical_proj *p = apical_circuit_proj_at(c, i);
        int role = apical_proj_role(c, p);
        if (apical_proj_one_to_one(p) ||
            (role != APICAL_ROLE_DENDRITE && role != APICAL_ROLE_APICAL_LATERAL))
            continue;
        double f;
        char why[512];
        const apical_proj *q = apical_proj_partner(c, p, &f, why, sizeof why);
        if (!header++)
            printf("self-predicting state: |W - f W_partner| / |f W_partner| and the cosine\n");
        if (!q) {
            printf("%3zu %s\n", i, why);
            continue;
        }
        double m[4] = { 0 }; /* |W - T|^2, |T|^2, |W|^2, W . T */
        apical_copy_sums(c, p, q, f, m);
        size_t qi = 0;
        while (apical_circuit_proj_at(c, qi) != q)
            qi++;
        printf("%3zu vs %.6g x #%zu (%s): deviation %.4g, cosine %.6f\n", i, f, qi,
               apical_proj_name(q),
               m[1] > 0 ? sqrt(m[0] / m[1]) : sqrt(m[0]),
               m[2] > 0 && m[1] > 0 ? m[3] / sqrt(m[2] * m[1]) : NAN);
    }
}

/* apical inspect DIR: the run position, a digest of the state, each
   projection's weights, and how far the lateral pathways (W^IP, W^PI) are
   from what the self-predicting state asks of them (docs/model.md 2.2). */
int apical_cmd_inspect(int argc, char **argv)
{
    apical_cli cl = { &apical_inspect_cmd, argc, 0, argv, 0 };
    const char *v, *dir = NULL;
    for (int k; (k = apical_cli_next(&cl, &v)) != APICAL_CLI_END;) {
        if (k == APICAL_CLI_HELP) {
            apical_cli_help(stdout, &apical_inspect_cmd);
            return 0;
        }
        if (k == APICAL_CLI_ERROR)
            return 2;
        if (dir)
            return apical_cli_fail(&apical_inspect_cmd, "one run directory only: '%s' and '%s'",
                                   dir, v);
        dir = v;
    }
    if (!dir)
        return apical_cli_fail(&apical_inspect_cmd, "no run directory given");
    char err[2048], file[4200], ck[4200];
    snprintf(file, sizeof file, "%s/config.yaml", dir);
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", dir);
    apical_registry *reg = apical_registry_new(NULL);
    if (!reg) {
        fprintf(stderr, "apical: out of memory\n");
        return 1;
    }
    apical_config cfg;
    apical_run_pos pos;
    uint64_t extra[4];
    int rc = 2;
    if (apical_config_load_file_set(&cfg, reg, file, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "apical: %s\n", err);
        apical_registry_free(reg);
        return 2;
    }
    const apical_circuit *c = cfg.circuit;
    if (apical_checkpoint_load(ck, cfg.circuit, &pos, extra, err, sizeof err) != 0) {
        fprintf(stderr, "apical: %s\n", err);
        goto done;
    }
    if (cfg.steady.mode != APICAL_MODE_DYNAMICS)
        printf("%s: after epoch %llu\n", dir, (unsigned long long)pos.phase);
    else
        printf("%s: after pattern %lld, t = %g ms\n", dir, (long long)pos.pattern,
               (double)pos.step * cfg.run.dt);
    printf("digest %016llx (states, weights, stimuli, random streams)\n",
           (unsigned long long)apical_checkpoint_digest(c, &pos));
    print_weights(c);
    print_lateral(c);
    rc = 0;
done:
    apical_config_free(&cfg);
    apical_registry_free(reg);
    return rc;
}
