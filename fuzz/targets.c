/*
 * targets.c -- what the fuzzers feed: one input through the YAML loader (and,
 * when it loads, a few steps of the circuit), the CSV reader, the IDX
 * reader, the checkpoint reader (into a fixed small circuit) and the sweep
 * file reader.
 * Built into the libFuzzer binaries (make fuzz) and into the corpus replay
 * test (tests/fuzz_replay), so CI re-runs every corpus file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apical_runner.h"
#include "circuit_int.h"
#include "sweep.h"
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

/* The circuit every checkpoint input is read into: tests/corpus/checkpoint
   holds checkpoints of it (fuzz/checkpoint.yaml, written by apical run). */
static apical_config *ckpt_circuit(void)
{
    static apical_config cfg;
    static int loaded;
    if (!loaded) {
        const char *src = getenv("APICAL_SRCDIR");
        char path[4096], err[2048];
        snprintf(path, sizeof path, "%s/fuzz/checkpoint.yaml", src ? src : ".");
        if (apical_config_load_file_set(&cfg, registry(), path, NULL, 0, err, sizeof err) != 0) {
            fprintf(stderr, "fuzz: %s\n", err);
            abort();
        }
        loaded = 1;
    }
    return &cfg;
}

/* One checkpoint through the reader as it is and, with its trailer mended
   (the checksum of the bytes before it), once more, so that mutations reach
   the header, position and body checks behind the checksum.  A checkpoint
   that loads must hold a position a run can take up, and the circuit must
   step from it or fail cleanly. */
int apical_fuzz_checkpoint(const uint8_t *data, size_t size)
{
    apical_config *cfg = ckpt_circuit();
    apical_circuit *c = cfg->circuit;
    apical_run_pos pos;
    uint64_t extra[4];
    char err[2048];
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    for (int mend = 0; mend < 2; mend++) {
        if (mend && size >= 8) {
            uint64_t sum = apical_checkpoint_checksum(copy, size - 8);
            memcpy(copy + size - 8, &sum, 8);
        } else if (mend) {
            break;
        }
        if (apical_checkpoint_read(copy, size, "fuzz.ckpt", c, &pos, extra, err, sizeof err) != 0) {
            if (!strstr(err, "fuzz.ckpt"))
                abort(); /* every refusal names the file */
            continue;
        }
        if (pos.in_phase < 0 || pos.pattern < 0 || pos.step < 0 || !(pos.h >= 0) ||
            pos.last_stim >= c->n_stims)
            abort(); /* a position no run reaches was let through */
        for (size_t i = 0; i < c->n_stims; i++) {
            const apical_stim *st = &c->stims[i];
            if ((st->kind == APICAL_STIM_TABLE && st->next_row >= st->table.rows) ||
                (st->kind == APICAL_STIM_IDX && st->next_row >= st->count))
                abort();
        }
        apical_circuit_activate(c, (size_t)pos.last_stim, 1);
        for (int k = 0; k < 3; k++)
            if (apical_circuit_step_euler(c, cfg->run.dt, APICAL_STEP_PLASTIC, err, sizeof err) != 0)
                break;
    }
    free(copy);
    return 0;
}

/* One sweep file, named as if it lay in yaml/sweeps/ (so that the shipped
   sweeps' relative base: files resolve); one that loads must describe a
   grid whose runs index its axes' values. */
int apical_fuzz_sweep(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    const char *src = getenv("APICAL_SRCDIR");
    char file[4096], err[2048];
    snprintf(file, sizeof file, "%s/yaml/sweeps/fuzz.yaml", src ? src : ".");
    apical_sweep s;
    if (apical_sweep_read(&s, f, file, NULL, err, sizeof err) == 0) {
        if (s.n_axes == 0 || s.n_runs == 0 || s.n_runs > 100000 || s.n_metrics == 0 || !s.out)
            abort();
        for (size_t i = 0; i < s.n_runs && i < 1000; i++) {
            if (apical_sweep_point(&s, i) >= s.n_points)
                abort();
            for (size_t a = 0; a < s.n_axes; a++) {
                size_t v = apical_sweep_index(&s, i, a);
                if (v >= s.axes[a].n_values || !s.axes[a].values[v] ||
                    strpbrk(s.axes[a].name, ",\"\n\r"))
                    abort();
            }
        }
        apical_sweep_free(&s);
    } else if (!strstr(err, "fuzz.yaml")) {
        abort(); /* every error names the file */
    }
    fclose(f);
    return 0;
}
