/*
 * targets.c -- what the fuzzers feed: one input through the YAML loader (and,
 * when it loads, a few steps of the circuit), one through the CSV reader.
 * Built into the libFuzzer binaries (make fuzz) and into the corpus replay
 * test (tests/fuzz_replay), so CI re-runs every corpus file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apical_runner.h"
#include "targets.h"

static apical_registry *registry(void)
{
    static apical_registry *r;
    if (!r)
        r = apical_registry_new(NULL);
    return r;
}

int apical_fuzz_yaml(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    apical_config cfg;
    char err[2048];
    /* a cap on what a fuzzed circuit may allocate */
    setenv("APICAL_MEMORY_LIMIT", "2e8", 1);
    if (apical_config_load_string(&cfg, registry(), "fuzz.yaml", text, err, sizeof err) == 0) {
        /* a few steps: the loaded circuit must run or fail cleanly */
        for (int k = 0; k < 3; k++)
            if (apical_circuit_step_euler(cfg.circuit, cfg.run.dt, APICAL_STEP_PLASTIC, err,
                                          sizeof err) != 0)
                break;
        apical_config_free(&cfg);
    } else if (!strchr(err, ':')) {
        abort(); /* every load error names where it happened */
    }
    free(text);
    return 0;
}

int apical_fuzz_csv(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f)
        return 0;
    apical_table t;
    char err[1024];
    if (apical_csv_read_stream(f, "fuzz.csv", &t, err, sizeof err) == 0) {
        if (t.rows == 0 || t.cols == 0 || !t.data)
            abort(); /* success means numbers */
        apical_table_free(&t);
    }
    fclose(f);
    return 0;
}

int apical_fuzz_idx(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    apical_idx x;
    char err[1024];
    if (apical_idx_read_stream(f, "fuzz.idx", &x, err, sizeof err) == 0) {
        size_t n = 1;
        for (size_t i = 0; i < x.n_dims; i++)
            n *= x.dims[i];
        if (n != x.count || x.count + 4 + 4 * x.n_dims != size)
            abort(); /* success means exactly the promised bytes */
        apical_idx_free(&x);
    } else if (x.data) {
        abort(); /* failure frees */
    }
    fclose(f);
    return 0;
}
