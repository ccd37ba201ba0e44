/*
 * rundir.c -- a run into a run directory (apical_rundir.h): the lock, the
 * output files (config.yaml, metrics.csv, traces.csv, weights/), the
 * checkpoints that remember how far those files had got, and resuming
 * from them; over apical_run (dynamics) and apical_steady_run.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apical_runner.h"
#include "circuit_int.h"

struct apical_rundir {
    char *dir;
    apical_config *cfg;
    apical_rundir_opts o;
    int lock_fd;
    FILE *csv, *traces;
    double t0;
    double last_trace;
    apical_run_pos pos;         /* where a resumed run continues */
    int resumed;
    apical_column *cols;        /* metrics.csv's and the terminal's columns */
    size_t n_cols;
    double *vals;               /* a row's values, one per column */
    char write_err[4800];       /* the first failed write to the run's files */
    volatile sig_atomic_t own_stop;     /* the stop flag when the caller gives none */
    volatile sig_atomic_t *stop;        /* o.stop, or own_stop */
};

/* A write to FILE (a name in the run directory) failed: the first such
   error is kept and a stop requested, so that the run ends at its next
   checkpoint, which fails with this message instead of being written (the
   last good checkpoint stays, and resumes). */
static void write_failed(apical_rundir *s, const char *file)
{
    if (!s->write_err[0])
        snprintf(s->write_err, sizeof s->write_err, "cannot write %s/%s: %s", s->dir, file,
                 strerror(errno));
    *s->stop = 1;
}

/* The run ended on a failed write: its message, with what is left to
   resume, in err. */
static int write_failure(const apical_rundir *s, char *err, size_t cap)
{
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", s->dir);
    if (access(ck, F_OK) == 0)
        snprintf(err, cap, "%.4000s; the last good checkpoint stays (apical run --resume %.300s "
                 "continues from it)", s->write_err, s->dir);
    else
        snprintf(err, cap, "%.4000s; no checkpoint was written", s->write_err);
    return APICAL_EXIT_FAILED;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mkdir_p(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* The first line of the run's metrics.csv, without its line end (malloc'd;
   NULL when it cannot be read); its path into path. */
static char *metrics_header(const apical_rundir *s, char *path, size_t cap)
{
    char *line = NULL;
    size_t n = 0;
    snprintf(path, cap, "%s/metrics.csv", s->dir);
    FILE *f = fopen(path, "r");
    if (!f || getline(&line, &n, f) < 0) {
        free(line);
        line = NULL;
    } else {
        line[strcspn(line, "\r\n")] = 0;
    }
    if (f)
        fclose(f);
    return line;
}

/* A resumed dynamics run whose metrics.csv was started without the last
   column (stimulus) goes on writing its rows without it. */
static void keep_written_columns(apical_rundir *s)
{
    if (s->cfg->steady.mode != APICAL_MODE_DYNAMICS || !s->n_cols ||
        s->cols[s->n_cols - 1].metric != APICAL_COL_STIMULUS)
        return;
    char path[4200];
    char *have = metrics_header(s, path, sizeof path);
    size_t len = have ? strlen(have) : 0;
    if (have && !(len >= 9 && strcmp(have + len - 9, ",stimulus") == 0))
        s->cols[s->n_cols - 1].name[0] = 0; /* the terminal still shows it */
    free(have);
}

/* The run's columns, for its mode. */
static int set_columns(apical_rundir *s, char *err, size_t cap)
{
    const apical_config *cfg = s->cfg;
    int steady = cfg->steady.mode != APICAL_MODE_DYNAMICS;
    s->n_cols = steady ? apical_steady_columns(cfg->circuit, &cfg->steady, NULL, 0)
                       : apical_dynamics_columns_for(cfg->circuit, NULL, 0);
    s->cols = calloc(s->n_cols, sizeof *s->cols);
    s->vals = calloc(s->n_cols, sizeof *s->vals);
    if (!s->cols || !s->vals) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    if (steady)
        apical_steady_columns(cfg->circuit, &cfg->steady, s->cols, s->n_cols);
    else
        apical_dynamics_columns_for(cfg->circuit, s->cols, s->n_cols);
    return 0;
}

static void on_metrics(void *user, const apical_metrics *m)
{
    apical_rundir *s = user;
    double wall = now() - s->t0;
    for (size_t i = 0; i < s->n_cols; i++)
        s->vals[i] = apical_dynamics_value(&s->cols[i], m, wall);
    apical_columns_put_row(s->csv, s->cols, s->n_cols, s->vals, 1, m->phase, m->stimulus);
    if (fflush(s->csv) != 0 || ferror(s->csv))
        write_failed(s, "metrics.csv");
    if (s->o.on_row)
        s->o.on_row(s->o.user, s->cols, s->n_cols, s->vals, m->phase, m->stimulus);
}

static void on_epoch(void *user, const apical_epoch_metrics *m)
{
    apical_rundir *s = user;
    for (size_t i = 0; i < s->n_cols; i++)
        s->vals[i] = apical_steady_value(&s->cols[i], m);
    apical_columns_put_row(s->csv, s->cols, s->n_cols, s->vals, 1, NULL, NULL);
    if (fflush(s->csv) != 0 || ferror(s->csv))
        write_failed(s, "metrics.csv");
    if (s->o.on_row)
        s->o.on_row(s->o.user, s->cols, s->n_cols, s->vals, NULL, NULL);
}

static void on_progress(void *user, long done, long total)
{
    apical_rundir *s = user;
    if (s->o.on_progress)
        s->o.on_progress(s->o.user, done, total);
}

static void on_trace(void *user, double t_ms, const apical_circuit *c)
{
    apical_rundir *s = user;
    const apical_run_opts *run = &s->cfg->run;
    /* a blank line where time jumps (traces of some phases only), so that
       plots do not join the pieces */
    if (s->last_trace >= 0 && t_ms - s->last_trace > 1.5 * (double)run->trace_every * run->dt)
        fputc('\n', s->traces);
    s->last_trace = t_ms;
    fprintf(s->traces, "%.10g", t_ms);
    for (size_t i = 0; i < run->n_traces; i++) {
        const apical_trace_var *tv = &run->traces[i];
        const apical_pop *p = apical_circuit_pop_at(c, tv->pop);
        for (size_t b = 0; b < apical_circuit_copies(c); b++) {
            const double *v = tv->port ? apical_pop_port_copy(p, tv->obs, b)
                                       : apical_pop_observable_copy(p, tv->obs, b);
            for (size_t k = 0; k < apical_pop_size(p); k++)
                fprintf(s->traces, ",%.17g", v[k]);
        }
    }
    if (fputc('\n', s->traces) == EOF || ferror(s->traces))
        write_failed(s, "traces.csv");
}

static int open_traces(apical_rundir *s)
{
    const apical_config *cfg = s->cfg;
    char path[4200];
    snprintf(path, sizeof path, "%s/traces.csv", s->dir);
    if (!(s->traces = fopen(path, "w")))
        return -1;
    fprintf(s->traces, "t_ms");
    for (size_t i = 0; i < cfg->run.n_traces; i++) {
        const apical_trace_var *tv = &cfg->run.traces[i];
        const apical_pop *p = apical_circuit_pop_at(cfg->circuit, tv->pop);
        const apical_cell_model *m = apical_pop_model(p);
        const char *var = tv->port ? m->ports[tv->obs].name : m->obs[tv->obs].name;
        /* with copies (simulation.batch), cell k of copy b is [b:k] */
        const size_t nb = apical_circuit_copies(cfg->circuit);
        for (size_t b = 0; b < nb; b++)
            for (size_t k = 0; k < apical_pop_size(p); k++) {
                if (nb > 1)
                    fprintf(s->traces, ",%s.%s[%zu:%zu]", apical_pop_name(p), var, b, k);
                else
                    fprintf(s->traces, ",%s.%s[%zu]", apical_pop_name(p), var, k);
            }
    }
    fputc('\n', s->traces);
    return 0;
}

/* A checkpoint remembers how far the output files had got, so that a
   resumed run continues them exactly. */
static int on_checkpoint(void *user, const apical_run_pos *pos, char *err, size_t cap)
{
    apical_rundir *s = user;
    char path[4200];
    uint64_t extra[4] = { 0 };
    if (fflush(s->csv) != 0 || ferror(s->csv))
        write_failed(s, "metrics.csv");
    else if (s->traces && (fflush(s->traces) != 0 || ferror(s->traces)))
        write_failed(s, "traces.csv");
    if (s->write_err[0]) {
        snprintf(err, cap, "%s", s->write_err);
        return -1;
    }
    extra[0] = (uint64_t)ftell(s->csv);
    extra[1] = s->traces ? (uint64_t)ftell(s->traces) : 0;
    memcpy(&extra[2], &s->last_trace, sizeof(double));
    snprintf(path, sizeof path, "%s/checkpoint.bin", s->dir);
    return apical_checkpoint_save(path, s->cfg->circuit, pos, extra, err, cap);
}

static int on_epoch_checkpoint(void *user, long epochs, char *err, size_t cap)
{
    apical_run_pos pos = { .phase = (uint64_t)epochs, .pattern = epochs };
    return on_checkpoint(user, &pos, err, cap);
}

/* Reopen an output file for a resumed run: cut what came after the
   checkpoint, continue at its end. */
static FILE *reopen_at(const char *dir, const char *name, uint64_t offset)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r+");
    /* the checkpoint's offset lies within what the run wrote: the file is
       cut back to it, never extended */
    if (!f || fstat(fileno(f), &st) != 0 || offset > (uint64_t)st.st_size ||
        ftruncate(fileno(f), (off_t)offset) != 0 || fseek(f, 0, SEEK_END) != 0) {
        if (f)
            fclose(f);
        return NULL;
    }
    return f;
}

/* DIR/weights/p<PATTERN>/<k>_<from>_<to>.<port>.csv, one row per target cell */
static void on_weights(void *user, long pattern, const apical_circuit *c)
{
    apical_rundir *s = user;
    char path[4400];
    snprintf(path, sizeof path, "%s/weights/p%ld", s->dir, pattern);
    if (mkdir_p(path) != 0) {
        snprintf(path, sizeof path, "weights/p%ld", pattern);
        write_failed(s, path);
        return;
    }
    for (size_t k = 0; k < apical_circuit_n_projs(c); k++) {
        const apical_proj *pj = apical_circuit_proj_at(c, k);
        if (apical_proj_one_to_one(pj))
            continue;
        const apical_pop *src = apical_circuit_pop_at(c, apical_proj_src(pj)),
                         *dst = apical_circuit_pop_at(c, apical_proj_dst(pj));
        size_t ns = apical_pop_size(src), nd = apical_pop_size(dst);
        const double *w = apical_proj_weights(pj);
        snprintf(path, sizeof path, "%s/weights/p%ld/%zu_%s_%s.%s.csv", s->dir, pattern, k,
                 apical_pop_name(src), apical_pop_name(dst), apical_proj_port(c, pj));
        FILE *f = fopen(path, "w");
        for (size_t i = 0; f && i < nd; i++)
            for (size_t j = 0; j < ns; j++)
                fprintf(f, "%.17g%c", w[i * ns + j], j + 1 < ns ? ',' : '\n');
        if (!f || fclose(f) != 0) {
            write_failed(s, path + strlen(s->dir) + 1);
            return;
        }
    }
}

/* The configuration as run: where it came from, then the YAML with the
   overrides applied. */
static int write_config(const char *path, const char *file, const apical_config *cfg,
                        const char *const *sets, size_t n_sets)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "# apical %s (module ABI %u.%u): %s", PACKAGE_VERSION, APICAL_ABI_MAJOR,
            APICAL_ABI_MINOR, file ? file : "-");
    for (size_t i = 0; i < n_sets; i++)
        fprintf(f, " --set %s", sets[i]);
    /* the modules this run used, with their versions */
    const apical_circuit *c = cfg->circuit;
    for (size_t i = 0; i < apical_circuit_n_pops(c); i++) {
        const apical_cell_model *m = apical_pop_model(apical_circuit_pop_at(c, i));
        int seen = 0;
        for (size_t k = 0; k < i; k++)
            seen |= apical_pop_model(apical_circuit_pop_at(c, k)) == m;
        if (!seen)
            fprintf(f, "\n# cell %s %s", m->name, m->version);
    }
    for (size_t i = 0; i < apical_circuit_n_projs(c); i++) {
        const apical_rule *u = apical_proj_rule(apical_circuit_proj_at(c, i));
        int seen = !u;
        for (size_t k = 0; k < i && !seen; k++)
            seen |= apical_proj_rule(apical_circuit_proj_at(c, k)) == u;
        if (!seen)
            fprintf(f, "\n# rule %s %s", u->name, u->version);
    }
    fprintf(f, "\n%s", cfg->resolved ? cfg->resolved : "");
    return fclose(f);
}

/* A run resumed with --set: DIR/config.yaml rewritten (through a
   temporary file and a rename) to the configuration it goes on with: the
   comment lines of the one it started with, a line naming the resume and
   its overrides, then the YAML with them applied.  A later --resume reads
   it as it is. */
static int rewrite_config(const apical_rundir *s)
{
    char path[4200], tmp[4300], line[4096];
    snprintf(path, sizeof path, "%s/config.yaml", s->dir);
    snprintf(tmp, sizeof tmp, "%s/.config.yaml.new", s->dir);
    FILE *in = fopen(path, "r"), *f = fopen(tmp, "w");
    int ok = in && f, start = 1, head = 1;
    while (ok && head && fgets(line, sizeof line, in)) {
        /* a comment line at the top, or the rest of one longer than line */
        head = !start || line[0] == '#';
        if (head)
            fputs(line, f);
        start = strchr(line, '\n') != NULL;
    }
    if (ok && !start)
        fputc('\n', f);
    if (ok && s->cfg->steady.mode != APICAL_MODE_DYNAMICS)
        fprintf(f, "# resumed after epoch %llu", (unsigned long long)s->pos.phase);
    else if (ok)
        fprintf(f, "# resumed at pattern %lld (phase %llu)", (long long)s->pos.pattern,
                (unsigned long long)s->pos.phase);
    if (ok) {
        fprintf(f, " by apical %s (module ABI %u.%u):", PACKAGE_VERSION, APICAL_ABI_MAJOR,
                APICAL_ABI_MINOR);
        for (size_t i = 0; i < s->o.n_sets; i++)
            fprintf(f, " --set %s", s->o.sets[i]);
        fprintf(f, "\n%s", s->cfg->resolved ? s->cfg->resolved : "");
    }
    if (in)
        fclose(in);
    /* on disk before it replaces the old one: a crash leaves one or the other */
    if (f && ok && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        ok = 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, path) == 0)
        return 0;
    remove(tmp);
    return -1;
}

/* Remove a directory tree of the run's own making (weights/: files in
   subdirectories); 0 when it is gone or was never there. */
static int remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : remove(path);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && rc == 0) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4400];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        rc = lstat(sub, &st) != 0 ? -1 : S_ISDIR(st.st_mode) ? remove_tree(sub) : remove(sub);
    }
    closedir(d);
    return rc == 0 ? rmdir(path) : rc;
}

/* One run at a time in a directory: DIR/.lock, held (flock) until the run
   directory is closed.  Another run, resume or --force in DIR meanwhile is
   refused. */
static int lock_run_dir(apical_rundir *s, char *err, size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", s->dir);
    if (mkdir_p(s->dir) != 0) {
        snprintf(err, cap, "cannot create %s: %s", s->dir, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, cap, "cannot open %s: %s", path, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, cap, "%s is in use by another apical run; wait for it, or choose "
                           "another --out", s->dir);
        close(fd);
        return APICAL_EXIT_USAGE;
    }
    s->lock_fd = fd;
    return 0;
}

/* The checkpoint of a run resumed under overrides, loaded into the
   circuit they build: written by that circuit itself (overrides of phases,
   rates or records; or a crash after the checkpoint was written again,
   before config.yaml was), *changed 0; or written by the circuit of
   DIR/config.yaml as it stands, which the overrides may change in
   parameters only (a fork under another rule's time constant, say),
   *changed 1.  The second way's message when both fail, unless
   config.yaml cannot be loaded. */
static int load_forked(apical_rundir *s, const char *ck, uint64_t extra[4], int *changed,
                       char *err, size_t cap)
{
    *changed = 0;
    if (apical_checkpoint_load(ck, s->cfg->circuit, &s->pos, extra, err, cap) == 0)
        return 0;
    apical_registry *reg = apical_registry_new(NULL);
    apical_config was;
    char e2[2048], path[4200];
    int rc = -1;
    snprintf(path, sizeof path, "%s/config.yaml", s->dir);
    if (reg && apical_config_load_file(&was, reg, path, e2, sizeof e2) == 0) {
        rc = apical_checkpoint_load_as(ck, s->cfg->circuit, was.circuit, &s->pos, extra, err,
                                       cap);
        apical_config_free(&was);
    }
    apical_registry_free(reg);
    *changed = rc == 0;
    return rc;
}

/* A resumed run: the checkpoint loaded into the circuit (s->pos where it
   stands), the output files reopened where the checkpoint left them. */
static int open_resumed(apical_rundir *s, char *err, size_t cap)
{
    uint64_t extra[4];
    char ck[4200];
    int changed = 0;
    apical_config *cfg = s->cfg;
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", s->dir);
    if ((s->o.n_sets ? load_forked(s, ck, extra, &changed, err, cap)
                     : apical_checkpoint_load(ck, cfg->circuit, &s->pos, extra, err, cap)) != 0)
        return APICAL_EXIT_USAGE;
    memcpy(&s->last_trace, &extra[2], sizeof(double));
    if (!(s->csv = reopen_at(s->dir, "metrics.csv", extra[0])) ||
        (cfg->run.n_traces && !(s->traces = reopen_at(s->dir, "traces.csv", extra[1])))) {
        snprintf(err, cap, "cannot reopen the output files in %s", s->dir);
        return APICAL_EXIT_FAILED;
    }
    /* under changed parameters, the checkpoint is written again (with the
       new circuit's fingerprint) before config.yaml changes: a crash
       between the two leaves a checkpoint that the same --resume --set
       takes */
    if (changed && on_checkpoint(s, &s->pos, err, cap) != 0)
        return APICAL_EXIT_FAILED;
    if (s->o.n_sets && rewrite_config(s) != 0) {
        snprintf(err, cap, "cannot rewrite %s/config.yaml: %s", s->dir, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    s->resumed = 1;
    cfg->run.resume = &s->pos;
    return 0;
}

/* A new run: its directory (refused when it holds a run, unless force) with
   metrics.csv, config.yaml and traces.csv opened. */
static int open_new(apical_rundir *s, int force, char *err, size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.csv", s->dir);
    if (access(path, F_OK) == 0 && !force) {
        snprintf(err, cap, "%s holds an earlier run; choose another --out, or --force to "
                           "replace it", s->dir);
        return APICAL_EXIT_USAGE;
    }
    if (force) { /* what an earlier run left that this one may not write */
        const char *old[] = { "traces.csv", "checkpoint.bin", NULL };
        for (int i = 0; old[i]; i++) {
            char f[4200];
            snprintf(f, sizeof f, "%s/%s", s->dir, old[i]);
            remove(f);
        }
        char w[4200];
        snprintf(w, sizeof w, "%s/weights", s->dir);
        if (remove_tree(w) != 0) {
            snprintf(err, cap, "cannot remove %s: %s", w, strerror(errno));
            return APICAL_EXIT_FAILED;
        }
    }
    if (mkdir_p(s->dir) != 0 || !(s->csv = fopen(path, "w"))) {
        snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    snprintf(path, sizeof path, "%s/config.yaml", s->dir);
    if (write_config(path, s->o.file, s->cfg, s->o.sets, s->o.n_sets) != 0) {
        snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    if (s->cfg->run.n_traces && open_traces(s) != 0) {
        snprintf(err, cap, "cannot write %s/traces.csv: %s", s->dir, strerror(errno));
        return APICAL_EXIT_FAILED;
    }
    return 0;
}

int apical_rundir_open(apical_rundir **out, const char *dir, apical_config *cfg,
                       const apical_rundir_opts *o, char *err, size_t cap)
{
    apical_rundir *s = calloc(1, sizeof *s);
    *out = s;
    if (!s || !(s->dir = strdup(dir))) {
        snprintf(err, cap, "out of memory");
        return APICAL_EXIT_FAILED;
    }
    s->cfg = cfg;
    s->o = *o;
    s->stop = o->stop ? o->stop : &s->own_stop;
    s->lock_fd = -1;
    s->t0 = now();
    s->last_trace = -1;
    int rc = lock_run_dir(s, err, cap);
    if (rc == 0)
        rc = o->start == APICAL_RUNDIR_RESUME ? open_resumed(s, err, cap)
                                              : open_new(s, o->start == APICAL_RUNDIR_FORCE,
                                                         err, cap);
    if (rc == 0 && set_columns(s, err, cap) != 0)
        rc = APICAL_EXIT_FAILED;
    if (rc == 0 && s->resumed)
        keep_written_columns(s);
    if (rc == 0 && !s->resumed)
        apical_columns_put_header(s->csv, s->cols, s->n_cols, 1);
    return rc;
}

const apical_run_pos *apical_rundir_resumed(const apical_rundir *s)
{
    return s->resumed ? &s->pos : NULL;
}

const apical_column *apical_rundir_columns(const apical_rundir *s, size_t *n)
{
    *n = s->n_cols;
    return s->cols;
}

/* A resumed run appends rows: its metrics.csv must have this build's columns. */
static int check_steady_header(const apical_rundir *s, char *err, size_t cap)
{
    char path[4200], *want = NULL, *have = metrics_header(s, path, sizeof path);
    size_t nw = 0;
    FILE *m = open_memstream(&want, &nw);
    int rc = 0;
    if (m) {
        apical_columns_put_header(m, s->cols, s->n_cols, 1);
        fclose(m);
    }
    if (want)
        want[strcspn(want, "\n")] = 0;
    if (!want || !have) {
        snprintf(err, cap, "cannot read %s", path);
        rc = -1;
    } else if (strcmp(have, want) != 0) {
        snprintf(err, cap,
                 "%s: its columns are not the ones this build writes; resume it with the "
                 "build that started it\n  its header: %s\n  this build: %s",
                 path, have, want);
        rc = -1;
    }
    free(have);
    free(want);
    return rc;
}

/* The run of a circuit in steady or backprop mode: metrics.csv has one row
   per epoch, checkpoint.bin the weights after the last full epoch. */
static int run_steady(apical_rundir *s, char *err, size_t cap)
{
    apical_steady_opts *o = &s->cfg->steady;
    o->start_epoch = s->resumed ? (long)s->pos.phase : 0;
    if (s->resumed && check_steady_header(s, err, cap) != 0)
        return APICAL_EXIT_USAGE;
    if (s->o.on_start)
        s->o.on_start(s->o.user, s->cols, s->n_cols);
    o->on_epoch = on_epoch;
    o->on_progress = on_progress;
    o->on_checkpoint = on_epoch_checkpoint;
    o->stop = s->stop;
    o->user = s;
    apical_steady *sd = apical_steady_new(s->cfg->circuit, o, err, cap);
    if (!sd)
        return APICAL_EXIT_USAGE;
    int rc = apical_steady_run(sd, err, cap);
    apical_steady_free(sd);
    if (s->write_err[0])
        return write_failure(s, err, cap);
    if (rc == APICAL_RUN_STOPPED)
        return APICAL_EXIT_STOPPED;
    return rc != 0 ? APICAL_EXIT_FAILED : APICAL_EXIT_OK;
}

/* The run of a circuit in the dynamics mode. */
static int run_dynamics(apical_rundir *s, char *err, size_t cap)
{
    apical_run_opts *run = &s->cfg->run;
    if (s->o.on_start)
        s->o.on_start(s->o.user, s->cols, s->n_cols);
    run->on_metrics = on_metrics;
    run->on_progress = on_progress;
    if (s->traces)
        run->on_trace = on_trace;
    run->user = s;
    run->on_checkpoint = on_checkpoint;
    run->on_weights = on_weights;
    run->stop = s->stop;
    int rc = apical_run(s->cfg->circuit, run, err, cap);
    if (s->write_err[0])
        return write_failure(s, err, cap);
    if (rc == APICAL_RUN_STOPPED)
        return APICAL_EXIT_STOPPED;
    return rc != 0 ? APICAL_EXIT_FAILED : APICAL_EXIT_OK;
}

int apical_rundir_run(apical_rundir *s, char *err, size_t cap)
{
    if (!s->csv || !s->cols) {
        snprintf(err, cap, "the run directory %s is not open", s->dir);
        return APICAL_EXIT_FAILED;
    }
    return s->cfg->steady.mode != APICAL_MODE_DYNAMICS ? run_steady(s, err, cap)
                                                       : run_dynamics(s, err, cap);
}

int apical_rundir_close(apical_rundir *s, char *err, size_t cap)
{
    if (!s)
        return 0;
    int rc = 0;
    const char *names[2] = { "metrics.csv", "traces.csv" };
    FILE *files[2] = { s->csv, s->traces };
    for (int i = 0; i < 2; i++)
        if (files[i] && fclose(files[i]) != 0 && rc == 0) {
            snprintf(err, cap, "cannot write %s/%s: %s", s->dir, names[i], strerror(errno));
            rc = APICAL_EXIT_FAILED;
        }
    if (s->cfg && s->cfg->run.resume == &s->pos)
        s->cfg->run.resume = NULL;
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->cols);
    free(s->vals);
    free(s->dir);
    free(s);
    return rc;
}

void apical_rundir_default(const char *file, char *dir, size_t cap)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    const char *dot = strrchr(base, '.'); /* the extension, not a dot inside the name */
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char stamp[32];
    time_t t = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&t));
    snprintf(dir, cap, "runs/%.*s-%s", (int)len, base, stamp);
}
