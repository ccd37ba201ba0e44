/*
 * sweep.c -- sweep files, run directories and the aggregate tables.
 *
 * A sweep never runs a simulation in its own process: each run is a child
 * `apical run` (fork and exec of the apical binary), so that a run that
 * diverges, exits on bad input or crashes is recorded and the sweep goes on,
 * and so that the local and the MPI scheduler start runs the same way.  A
 * run directory says where the run stands: `status` once it has ended
 * (finished or failed), `checkpoint.bin` while it can be resumed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <signal.h>

#include <yaml.h>

#include "apical_runner.h"
#include "sweep.h"
#include "yamlutil.h"

/* A non-empty scalar. */
static int is_scalar(apical_yaml *y, const yaml_node_t *n, const char *what)
{
    if (n->type == YAML_SCALAR_NODE && apical_yaml_scalar(n)[0])
        return 0;
    return apical_yaml_fail(y, n, "expected %s", what);
}

/* A `set:` value as `apical run --set` takes it: a scalar as it is, a list
   of scalars as "[a,b,...]" (so `rows: [0, 5000]` works as on the command
   line).  *out is malloc'd; -1 with the message in y. */
static int set_text(apical_yaml *y, yaml_node_t *v, char **out)
{
    if (v->type != YAML_SEQUENCE_NODE) {
        if (is_scalar(y, v, "a scalar value or a list of scalars"))
            return -1;
        *out = strdup(apical_yaml_scalar(v));
        return *out ? 0 : apical_yaml_fail(y, v, "out of memory");
    }
    size_t cap = 3;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        yaml_node_t *it = apical_yaml_node(y, *i);
        if (is_scalar(y, it, "a scalar in the list"))
            return -1;
        if (strpbrk(apical_yaml_scalar(it), ",[]"))
            return apical_yaml_fail(y, it, "a list item in set: cannot hold ',', '[' or ']'");
        cap += strlen(apical_yaml_scalar(it)) + 1;
    }
    if (!(*out = malloc(cap)))
        return apical_yaml_fail(y, v, "out of memory");
    char *p = *out;
    *p++ = '[';
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++)
        p += sprintf(p, "%s%s", i > v->data.sequence.items.start ? "," : "",
                     apical_yaml_scalar(apical_yaml_node(y, *i)));
    strcpy(p, "]");
    return 0;
}

static char *dup_str(const char *s) { return s ? strdup(s) : NULL; }

static char *fmt_value(double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.10g", v);
    return strdup(buf);
}

/* values: [a, b, ...] | range: [from, to(, step)] | linspace / logspace:
   [from, to, n]; the values are kept as strings, passed to --set as they
   are. */
/* Line breaks, tabs and other control characters (which would break a
   row of runs.csv). */
static int has_control(const char *t)
{
    for (; *t; t++)
        if ((unsigned char)*t < 0x20 || *t == 0x7f)
            return 1;
    return 0;
}

static int load_values(apical_yaml *y, const yaml_node_t *ax, apical_sweep_axis *a)
{
    static const char *const forms[] = { "values", "range", "linspace", "logspace" };
    const yaml_node_t *v = NULL;
    int form = -1;
    for (int i = 0; i < 4; i++) {
        const yaml_node_t *f = apical_yaml_get(y, ax, forms[i]);
        if (f && v)
            return apical_yaml_fail(y, f, "an axis has one of values, range, linspace, logspace");
        if (f) {
            v = f;
            form = i;
        }
    }
    if (!v)
        return apical_yaml_fail(y, ax, "an axis needs values: [...], range: [from, to, step], "
                                       "linspace: [from, to, n] or logspace: [from, to, n]");
    if (v->type != YAML_SEQUENCE_NODE)
        return apical_yaml_fail(y, v, "expected a list");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (form == 0) {
        if (n == 0)
            return apical_yaml_fail(y, v, "an axis needs at least one value");
        if (!(a->values = calloc(n, sizeof *a->values)))
            return apical_yaml_fail(y, v, "out of memory");
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *it = apical_yaml_node(y, v->data.sequence.items.start[i]);
            if (is_scalar(y, it, "a scalar value"))
                return -1;
            if (has_control(apical_yaml_scalar(it)))
                return apical_yaml_fail(y, it, "a value without line breaks or other control "
                                        "characters (it goes into runs.csv)");
            if (!(a->values[i] = strdup(apical_yaml_scalar(it))))
                return apical_yaml_fail(y, it, "out of memory");
            a->n_values++;
        }
        return 0;
    }
    double p[3] = { 0, 0, 1 };
    if (n < 2 || n > 3 || (form > 1 && n != 3))
        return apical_yaml_fail(y, v, form == 1 ? "expected [from, to] or [from, to, step]"
                                                : "expected [from, to, n]");
    for (size_t i = 0; i < n; i++)
        if (apical_yaml_double(y, apical_yaml_node(y, v->data.sequence.items.start[i]), &p[i]))
            return -1;
    size_t count;
    if (form == 1) {
        if (!(p[2] > 0) || p[1] < p[0])
            return apical_yaml_fail(y, v, "a range needs from <= to and a positive step");
        double values = floor((p[1] - p[0]) / p[2] * (1 + 1e-12)) + 1;
        if (!(values <= 1e6)) /* before the conversion: a huge count does not fit size_t */
            return apical_yaml_fail(y, v, "too many values");
        count = (size_t)values;
    } else {
        if (p[2] < 1 || p[2] != floor(p[2]) || p[2] > 1e6)
            return apical_yaml_fail(y, v, "n must be a whole number from 1");
        if (form == 3 && !(p[0] > 0 && p[1] > 0))
            return apical_yaml_fail(y, v, "a logspace needs positive ends");
        count = (size_t)p[2];
    }
    if (count > 1000000)
        return apical_yaml_fail(y, v, "too many values");
    if (!(a->values = calloc(count, sizeof *a->values)))
        return apical_yaml_fail(y, v, "out of memory");
    for (size_t i = 0; i < count; i++) {
        double t = count > 1 ? (double)i / (double)(count - 1) : 0, val;
        if (form == 1)
            val = p[0] + (double)i * p[2];
        else if (form == 2)
            val = p[0] + t * (p[1] - p[0]);
        else
            val = exp(log(p[0]) + t * (log(p[1]) - log(p[0])));
        if (!(a->values[i] = fmt_value(val)))
            return apical_yaml_fail(y, v, "out of memory");
        a->n_values++;
    }
    return 0;
}

static int key_ok(const char *k)
{
    return k[0] && !strchr(k, '=') && !strchr(k, ' ') && k[0] != '.' && k[strlen(k) - 1] != '.' &&
           !has_control(k);
}

static int load_axis(apical_yaml *y, const yaml_node_t *ax, apical_sweep_axis *a)
{
    static const char *const keys[] = { "key", "name", "values", "range", "linspace",
                                        "logspace", "average", NULL };
    if (ax->type != YAML_MAPPING_NODE)
        return apical_yaml_fail(y, ax, "expected an axis {key: path.to.key, values: [...]}");
    if (apical_yaml_check_keys(y, ax, "an axis", keys))
        return -1;
    yaml_node_t *k = apical_yaml_get(y, ax, "key");
    if (!k)
        return apical_yaml_fail(y, ax, "an axis needs key: path.to.key (or a list of them)");
    int list = k->type == YAML_SEQUENCE_NODE;
    size_t n = list ? (size_t)(k->data.sequence.items.top - k->data.sequence.items.start) : 1;
    if (n == 0)
        return apical_yaml_fail(y, k, "expected at least one key path");
    if (!(a->keys = calloc(n, sizeof *a->keys)))
        return apical_yaml_fail(y, k, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *kn = list ? apical_yaml_node(y, k->data.sequence.items.start[i]) : k;
        if (is_scalar(y, kn, "a key path like populations.hidden.params.g_A"))
            return -1;
        if (!key_ok(apical_yaml_scalar(kn)))
            return apical_yaml_fail(y, kn, "'%s' is not a key path like "
                                    "populations.hidden.params.g_A", apical_yaml_scalar(kn));
        if (!(a->keys[i] = strdup(apical_yaml_scalar(kn))))
            return apical_yaml_fail(y, kn, "out of memory");
        a->n_keys++;
    }
    yaml_node_t *nm = apical_yaml_get(y, ax, "name"), *avg = apical_yaml_get(y, ax, "average");
    if (nm && is_scalar(y, nm, "a column name"))
        return -1;
    /* the column's name in runs.csv and aggregate.csv: written as it is */
    const char *col = nm ? apical_yaml_scalar(nm) : a->keys[0];
    if (strpbrk(col, ",\"") || has_control(col) || !*col)
        return apical_yaml_fail(y, nm ? nm : k, nm ? "a column name without commas, quotes or "
                                "control characters" : "the axis's column name is its first key "
                                "path, which has a comma or a quote: give it a name");
    a->name = strdup(col);
    a->average = strcmp(a->keys[0], "seed") == 0;
    if (avg) {
        const char *v = avg->type == YAML_SCALAR_NODE ? apical_yaml_scalar(avg) : "";
        if (strcmp(v, "true") == 0)
            a->average = 1;
        else if (strcmp(v, "false") == 0)
            a->average = 0;
        else
            return apical_yaml_fail(y, avg, "expected true or false");
    }
    return a->name ? load_values(y, ax, a) : apical_yaml_fail(y, ax, "out of memory");
}

static int load_metric(apical_yaml *y, const yaml_node_t *m, apical_sweep_metric *out)
{
    const yaml_node_t *name = m, *best = NULL;
    if (m->type == YAML_MAPPING_NODE &&
        m->data.mapping.pairs.top - m->data.mapping.pairs.start == 1) {
        name = apical_yaml_node(y, m->data.mapping.pairs.start[0].key);
        best = apical_yaml_node(y, m->data.mapping.pairs.start[0].value);
    }
    if (is_scalar(y, name, "a metric: NAME, NAME@STIMULUS or {NAME: min|max} (columns of "
                           "metrics.csv)"))
        return -1;
    const char *nm = apical_yaml_scalar(name), *at = strchr(nm, '@');
    if (!(out->name = strdup(nm)) || !(out->column = strndup(nm, at ? (size_t)(at - nm)
                                                                     : strlen(nm))))
        return apical_yaml_fail(y, name, "out of memory");
    const char *col = out->column;
    if (at && (!at[1] || strpbrk(at + 1, "@,\"") || !apical_metric_known(APICAL_MODE_DYNAMICS,
                                                                          col)))
        return apical_yaml_fail(y, name, "'%s': NAME@STIMULUS takes a column of dynamics runs "
                                "and the name of a stimulus they evaluate (e.g. "
                                "class_error@validation)", nm);
    if (at && !(out->stimulus = strdup(at + 1)))
        return apical_yaml_fail(y, name, "out of memory");
    if (!apical_metric_known(APICAL_MODE_DYNAMICS, col) &&
        !apical_metric_known(APICAL_MODE_STEADY, col)) {
        char dyn[512], st[512];
        apical_metric_list(APICAL_MODE_DYNAMICS, dyn, sizeof dyn);
        apical_metric_list(APICAL_MODE_STEADY, st, sizeof st);
        return apical_yaml_fail(y, name, "unknown metric '%s' (expected one of: %s, each also "
                                "as NAME@STIMULUS; for steady and backprop runs %s)", col, dyn,
                                st);
    }
    const char *b = best && best->type == YAML_SCALAR_NODE ? apical_yaml_scalar(best) : "";
    if (best && strcmp(b, "min") != 0 && strcmp(b, "max") != 0)
        return apical_yaml_fail(y, best, "expected min or max (which value is best)");
    out->best_is_max = best ? strcmp(b, "max") == 0
                            : strstr(col, "_cosine") != NULL; /* bp_cosine too */
    return 0;
}

static void free_metric(apical_sweep_metric *m)
{
    free(m->name);
    free(m->column);
    free(m->stimulus);
}

/* set: {path.to.key: value} as "path.to.key=value" */
static int load_sets(apical_yaml *y, apical_sweep *s, const yaml_node_t *set)
{
    if (set->type != YAML_MAPPING_NODE)
        return apical_yaml_fail(y, set, "expected a mapping of path.to.key: value");
    size_t n = (size_t)(set->data.mapping.pairs.top - set->data.mapping.pairs.start);
    if (!(s->sets = calloc(n ? n : 1, sizeof *s->sets)))
        return apical_yaml_fail(y, set, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = apical_yaml_node(y, set->data.mapping.pairs.start[i].key),
                    *v = apical_yaml_node(y, set->data.mapping.pairs.start[i].value);
        char *val;
        if (is_scalar(y, k, "a key path"))
            return -1;
        const char *key = apical_yaml_scalar(k);
        if (!key_ok(key))
            return apical_yaml_fail(y, k, "'%s' is not a key path", key);
        if (set_text(y, v, &val))
            return -1;
        size_t l = strlen(key) + strlen(val) + 2;
        if ((s->sets[i] = malloc(l)))
            snprintf(s->sets[i], l, "%s=%s", key, val);
        free(val);
        if (!s->sets[i])
            return apical_yaml_fail(y, k, "out of memory");
        s->n_sets++;
    }
    return 0;
}

/* axes: [{key, values...}, ...]: the runs are their cartesian product */
static int load_axes(apical_yaml *y, apical_sweep *s, const yaml_node_t *axes)
{
    size_t na = (size_t)(axes->data.sequence.items.top - axes->data.sequence.items.start);
    if (!(s->axes = calloc(na, sizeof *s->axes)))
        return apical_yaml_fail(y, axes, "out of memory");
    s->n_runs = s->n_points = 1;
    for (size_t i = 0; i < na; i++) {
        yaml_node_t *an = apical_yaml_node(y, axes->data.sequence.items.start[i]);
        s->n_axes++;
        if (load_axis(y, an, &s->axes[i]))
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->axes[k].name, s->axes[i].name) == 0)
                return apical_yaml_fail(y, an, "two axes named '%s' (give one a name:)",
                                        s->axes[i].name);
        if (s->n_runs * s->axes[i].n_values > 100000)
            return apical_yaml_fail(y, an, "more than 100000 runs");
        s->n_runs *= s->axes[i].n_values;
        if (!s->axes[i].average)
            s->n_points *= s->axes[i].n_values;
    }
    return 0;
}

static int load_root(apical_yaml *y, apical_sweep *s, const yaml_node_t *root, const char *out)
{
    static const char *const keys[] = { "sweep", "base", "out", "set", "axes", "collect",
                                        "select", NULL };
    if (!root || root->type != YAML_MAPPING_NODE)
        return apical_yaml_fail(y, root, "expected a sweep: a mapping with sweep: 1, base, axes, "
                                         "collect");
    if (apical_yaml_check_keys(y, root, "the sweep", keys))
        return -1;
    yaml_node_t *ver = apical_yaml_get(y, root, "sweep"), *base = apical_yaml_get(y, root, "base"),
                *o = apical_yaml_get(y, root, "out"), *set = apical_yaml_get(y, root, "set"),
                *axes = apical_yaml_get(y, root, "axes"),
                *col = apical_yaml_get(y, root, "collect"),
                *sel = apical_yaml_get(y, root, "select");
    if (!ver)
        return apical_yaml_fail(y, root, "missing 'sweep: 1' (the schema version)");
    if (ver->type != YAML_SCALAR_NODE || strcmp(apical_yaml_scalar(ver), "1") != 0)
        return apical_yaml_fail(y, ver, "this apical reads sweep schema 1");
    if (!base)
        return apical_yaml_fail(y, root, "missing 'base: CIRCUIT.yaml' (relative to the sweep "
                                         "file)");
    if (is_scalar(y, base, "a file name"))
        return -1;
    size_t len = strlen(apical_yaml_scalar(base)) + strlen(y->file) + 2;
    if (!(s->base = malloc(len)))
        return apical_yaml_fail(y, base, "out of memory");
    apical_yaml_resolve(y->file, apical_yaml_scalar(base), s->base, len);
    if (access(s->base, R_OK) != 0)
        return apical_yaml_fail(y, base, "cannot read %s: %s", s->base, strerror(errno));
    if (o && !out && is_scalar(y, o, "a directory"))
        return -1;
    if (out || o) {
        s->out = strdup(out ? out : apical_yaml_scalar(o));
    } else {
        const char *slash = strrchr(y->file, '/'), *b = slash ? slash + 1 : y->file;
        char buf[512];
        snprintf(buf, sizeof buf, "runs/%.*s", (int)strcspn(b, "."), b);
        s->out = strdup(buf);
    }
    if (set && load_sets(y, s, set))
        return -1;
    if (!axes || axes->type != YAML_SEQUENCE_NODE ||
        axes->data.sequence.items.top == axes->data.sequence.items.start)
        return apical_yaml_fail(y, axes ? axes : root, "expected axes: a list of {key, values} "
                                                       "(at least one)");
    if (load_axes(y, s, axes))
        return -1;
    if (!col || col->type != YAML_SEQUENCE_NODE ||
        col->data.sequence.items.top == col->data.sequence.items.start)
        return apical_yaml_fail(y, col ? col : root, "expected collect: a list of metric names "
                                                     "(columns of metrics.csv, e.g. [test_error])");
    size_t nm = (size_t)(col->data.sequence.items.top - col->data.sequence.items.start);
    if (!(s->metrics = calloc(nm, sizeof *s->metrics)))
        return apical_yaml_fail(y, col, "out of memory");
    for (size_t i = 0; i < nm; i++) {
        s->n_metrics++;
        if (load_metric(y, apical_yaml_node(y, col->data.sequence.items.start[i]), &s->metrics[i]))
            return -1;
    }
    if (sel && load_metric(y, sel, &s->select))
        return -1;
    return s->out ? 0 : apical_yaml_fail(y, root, "out of memory");
}

int apical_sweep_load(apical_sweep *s, const char *file, const char *out, char *err, size_t cap)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, cap, "%s: cannot open: %s", file, strerror(errno));
        return 2;
    }
    int rc = apical_sweep_read(s, f, file, out, err, cap);
    fclose(f);
    return rc;
}

int apical_sweep_read(apical_sweep *s, FILE *f, const char *file, const char *out, char *err,
                      size_t cap)
{
    memset(s, 0, sizeof *s);
    apical_yaml y = { .file = file, .err = err, .cap = cap };
    yaml_parser_t ps;
    yaml_parser_initialize(&ps);
    yaml_parser_set_input_file(&ps, f);
    int rc = 0;
    if (apical_yaml_load(&y, &ps)) {
        rc = 2;
    } else {
        s->file = dup_str(file);
        rc = load_root(&y, s, yaml_document_get_root_node(&y.doc), out) ? 2 : 0;
        yaml_document_delete(&y.doc);
    }
    yaml_parser_delete(&ps);
    if (rc)
        apical_sweep_free(s);
    return rc;
}

void apical_sweep_free(apical_sweep *s)
{
    for (size_t i = 0; i < s->n_axes; i++) {
        apical_sweep_axis *a = &s->axes[i];
        for (size_t k = 0; k < a->n_keys; k++)
            free(a->keys[k]);
        for (size_t k = 0; k < a->n_values; k++)
            free(a->values[k]);
        free(a->keys);
        free(a->values);
        free(a->name);
    }
    for (size_t i = 0; i < s->n_sets; i++)
        free(s->sets[i]);
    for (size_t i = 0; i < s->n_metrics; i++)
        free_metric(&s->metrics[i]);
    free_metric(&s->select);
    free(s->axes);
    free(s->sets);
    free(s->metrics);
    free(s->file);
    free(s->base);
    free(s->out);
    memset(s, 0, sizeof *s);
}

size_t apical_sweep_index(const apical_sweep *s, size_t run, size_t axis)
{
    for (size_t a = s->n_axes; a-- > axis + 1;)
        run /= s->axes[a].n_values;
    return run % s->axes[axis].n_values;
}

size_t apical_sweep_point(const apical_sweep *s, size_t run)
{
    size_t p = 0;
    for (size_t a = 0; a < s->n_axes; a++)
        if (!s->axes[a].average)
            p = p * s->axes[a].n_values + apical_sweep_index(s, run, a);
    return p;
}

void apical_sweep_run_dir(const apical_sweep *s, size_t run, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s/run-%04zu", s->out, run);
}

int apical_mkdir_p(const char *dir)
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

static int exists(const char *dir, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

char **apical_sweep_run_sets(const apical_sweep *s, size_t run, size_t *n)
{
    size_t count = s->n_sets, bytes = 0;
    for (size_t i = 0; i < s->n_sets; i++)
        bytes += strlen(s->sets[i]) + 1;
    for (size_t a = 0; a < s->n_axes; a++)
        for (size_t k = 0; k < s->axes[a].n_keys; k++, count++)
            bytes += strlen(s->axes[a].keys[k]) +
                     strlen(s->axes[a].values[apical_sweep_index(s, run, a)]) + 2;
    char **sets = malloc((count + 1) * sizeof *sets + bytes);
    if (!sets)
        return NULL;
    char *b = (char *)(sets + count + 1), *end = b + bytes;
    size_t i = 0;
    for (; i < s->n_sets; i++, b += strlen(b) + 1)
        sets[i] = memcpy(b, s->sets[i], strlen(s->sets[i]) + 1);
    for (size_t a = 0; a < s->n_axes; a++)
        for (size_t k = 0; k < s->axes[a].n_keys; k++, i++) {
            sets[i] = b;
            b += snprintf(b, (size_t)(end - b), "%s=%s", s->axes[a].keys[k],
                          s->axes[a].values[apical_sweep_index(s, run, a)]) + 1;
        }
    sets[count] = NULL;
    *n = count;
    return sets;
}

/* The arguments of a fresh run after `apical`, one per line: what a run
   directory was made with. */
static char *fresh_args(const apical_sweep *s, size_t run)
{
    char dir[4200];
    apical_sweep_run_dir(s, run, dir, sizeof dir);
    size_t n, len = strlen(s->base) + strlen(dir) + 64;
    char **sets = apical_sweep_run_sets(s, run, &n);
    if (!sets)
        return NULL;
    for (size_t i = 0; i < n; i++)
        len += strlen(sets[i]) + 8;
    char *b = malloc(len);
    if (b) {
        size_t u = (size_t)snprintf(b, len, "run\n%s\n--out\n%s\n--force\n", s->base, dir);
        for (size_t i = 0; i < n; i++)
            u += (size_t)snprintf(b + u, len - u, "--set\n%s\n", sets[i]);
    }
    free(sets);
    return b;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            char *nb = realloc(b, cap = 2 * (len + n + 1));
            if (!nb) {
                free(b);
                fclose(f);
                return NULL;
            }
            b = nb;
        }
        memcpy(b + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!b)
        b = calloc(1, 1);
    else
        b[len] = 0;
    return b;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

int apical_sweep_prepare(const apical_sweep *s, int force, char *err, size_t cap)
{
    if (apical_mkdir_p(s->out) != 0) {
        snprintf(err, cap, "cannot create %s: %s", s->out, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < s->n_runs; i++) {
        char dir[4200], path[4400];
        apical_sweep_run_dir(s, i, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/args", dir);
        char *want = fresh_args(s, i), *have = slurp(path);
        int same = !have || (want && strcmp(want, have) == 0);
        if (!want) {
            free(have);
            snprintf(err, cap, "out of memory");
            return 1;
        }
        if (force || !have) {
            /* start over: forget how an earlier run ended */
            snprintf(path, sizeof path, "%s/status", dir);
            remove(path);
            snprintf(path, sizeof path, "%s/checkpoint.bin", dir);
            if (force)
                remove(path);
            if (apical_mkdir_p(dir) != 0 || (snprintf(path, sizeof path, "%s/args", dir),
                                      write_file(path, want) != 0)) {
                snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
                free(want);
                free(have);
                return 1;
            }
        }
        free(want);
        free(have);
        if (!same && !force) {
            snprintf(err, cap, "%s was run with other arguments (see its args file): %s holds "
                               "another sweep; choose another --out, or --force to start over",
                     dir, s->out);
            return 2;
        }
    }
    return 0;
}

int apical_sweep_state(const apical_sweep *s, size_t run)
{
    char dir[4200], path[4400];
    apical_sweep_run_dir(s, run, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/status", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[64] = "";
        int ok = fgets(line, sizeof line, f) && strncmp(line, "ok", 2) == 0;
        fclose(f);
        return ok ? APICAL_SWEEP_OK : APICAL_SWEEP_FAILED;
    }
    return exists(dir, "checkpoint.bin") ? APICAL_SWEEP_RESUME : APICAL_SWEEP_FRESH;
}

pid_t apical_sweep_spawn(const apical_sweep *s, size_t run, const char *exe, int single_thread,
                         char *err, size_t cap)
{
    char dir[4200], path[4400];
    apical_sweep_run_dir(s, run, dir, sizeof dir);
    int resume = apical_sweep_state(s, run) == APICAL_SWEEP_RESUME;
    char *args = resume ? NULL : fresh_args(s, run);
    if (!resume && !args) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    /* argv: exe, then the lines of args (or run --resume DIR) */
    size_t n = 4;
    for (const char *p = args; p && *p; p++)
        n += *p == '\n';
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv || apical_mkdir_p(dir) != 0) {
        snprintf(err, cap, "cannot create %s: %s", dir, strerror(errno));
        free(args);
        free(argv);
        return -1;
    }
    size_t k = 0;
    argv[k++] = (char *)exe;
    if (resume) {
        argv[k++] = "run";
        argv[k++] = "--resume";
        argv[k++] = dir;
    } else {
        for (char *p = args; *p;) {
            char *nl = strchr(p, '\n');
            argv[k++] = p;
            *nl = 0;
            p = nl + 1;
        }
    }
    argv[k] = NULL;
    snprintf(path, sizeof path, "%s/run.log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, cap, "cannot write %s: %s", path, strerror(errno));
        free(args);
        free(argv);
        return -1;
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
#endif
        (void)parent;
        if (single_thread) {
            setenv("OMP_NUM_THREADS", "1", 0);
            setenv("OPENBLAS_NUM_THREADS", "1", 0);
        }
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        execv(exe, argv);
        dprintf(STDERR_FILENO, "apical: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    int saved = errno;
    close(fd);
    free(args);
    free(argv);
    if (pid < 0)
        snprintf(err, cap, "cannot start a process: %s", strerror(saved));
    return pid;
}

/* The last line of run.log that starts "apical: " (the error of a run). */
static void last_error(const char *dir, char *msg, size_t cap)
{
    char path[4400], line[2048];
    snprintf(path, sizeof path, "%s/run.log", dir);
    msg[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "apical: ", 8) == 0) {
            line[strcspn(line, "\r\n")] = 0;
            snprintf(msg, cap, "%s", line + 8);
        }
    fclose(f);
}

int apical_sweep_finish(const apical_sweep *s, size_t run, int wstatus, char *msg, size_t cap)
{
    char dir[4200], path[4400];
    apical_sweep_run_dir(s, run, dir, sizeof dir);
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    msg[0] = 0;
    if (code != 0)
        last_error(dir, msg, cap);
    if (code == APICAL_EXIT_STOPPED && exists(dir, "checkpoint.bin"))
        return APICAL_SWEEP_RESUME; /* stopped, not failed */
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        if ((sig == SIGTERM || sig == SIGINT || sig == SIGKILL) && exists(dir, "checkpoint.bin"))
            return APICAL_SWEEP_RESUME;
        snprintf(msg, cap, "killed by signal %d (%s)", sig, strsignal(sig));
    }
    snprintf(path, sizeof path, "%s/status", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        if (code == 0)
            fprintf(f, "ok\n");
        else
            fprintf(f, "failed %d\n%s\n", code, msg);
        fclose(f);
    }
    return code == 0 ? APICAL_SWEEP_OK : APICAL_SWEEP_FAILED;
}

void apical_sweep_message(const apical_sweep *s, size_t run, char *msg, size_t cap)
{
    char dir[4200], path[4400], line[2048];
    apical_sweep_run_dir(s, run, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/status", dir);
    msg[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(line, sizeof line, f) && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        snprintf(msg, cap, "%s", line);
    }
    fclose(f);
}

/* One row of a metrics.csv: where it stands (*at: its epoch, or in a
   dynamics run, whose first field is the phase's name, its pattern count),
   its fields as numbers (v, NaN for the phase) and, given the stimulus
   column's index, that field (into stim, "" without).  The number of
   fields read (at most 64). */
static int parse_row(char *line, int stim_col, double *at, double *v, char *stim, size_t cap)
{
    char *end;
    *at = strtod(line, &end);
    if (end == line || *end != ',')
        *at = strtod(line + strcspn(line, ",") + (line[strcspn(line, ",")] == ','), NULL);
    int c = 0, nv = 0;
    stim[0] = 0;
    for (char *p = line; c < 64; c++) {
        v[c] = c == 0 ? NAN : strtod(p, NULL);
        if (c == stim_col)
            snprintf(stim, cap, "%.*s", (int)strcspn(p, ",\r\n"), p);
        nv = c + 1;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return nv;
}

/* Whether metric m reads a row of stimulus stim: every row, or only those
   of its stimulus (COLUMN@STIMULUS). */
static int metric_reads(const apical_sweep_metric *m, const char *stim)
{
    return !m->stimulus || strcmp(m->stimulus, stim) == 0;
}

/* Final (last row) and best value of each collected metric in a run's
   metrics.csv (COLUMN@STIMULUS: over the rows of that stimulus), and with
   a select: metric each metric's value in the row where the select metric
   is best first (sel, NULL without one) and where that row stands (*at: its
   epoch, or in a dynamics run its pattern count); NaN where absent.  A
   metric that does not read the selected row (another stimulus) takes the
   first row of its own stimulus at the same place: the test error at the
   pattern where the validation error was lowest. */
static void read_metrics(const apical_sweep *s, const char *dir, double *final, double *best,
                         double *sel, double *at)
{
    char path[4400];
    for (size_t m = 0; m < s->n_metrics; m++) {
        final[m] = best[m] = NAN;
        if (sel)
            sel[m] = NAN;
    }
    if (at)
        *at = NAN;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL, stim[256], chosen_stim[256] = "";
    size_t cap = 0;
    int col[64], scol = -1, stim_col = -1;
    double sbest = NAN;  /* the select metric's best value so far */
    long row = 0, chosen = -1; /* the data row it stands in */
    for (size_t m = 0; m < s->n_metrics; m++)
        col[m] = -1;
    if (getline(&line, &cap, f) > 0) {
        int c = 0;
        for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), c++) {
            for (size_t m = 0; m < s->n_metrics && m < 64; m++)
                if (strcmp(tok, s->metrics[m].column) == 0)
                    col[m] = c;
            if (sel && c < 64 && strcmp(tok, s->select.column) == 0)
                scol = c;
            if (strcmp(tok, "stimulus") == 0)
                stim_col = c;
        }
    }
    long data = ftell(f);
    for (; getline(&line, &cap, f) > 0; row++) {
        double v[64], where;
        int nv = parse_row(line, stim_col, &where, v, stim, sizeof stim);
        if (scol >= 0 && scol < nv && !isnan(v[scol]) && metric_reads(&s->select, stim) &&
            (isnan(sbest) || (s->select.best_is_max ? v[scol] > sbest : v[scol] < sbest))) {
            sbest = v[scol];
            chosen = row;
            *at = where;
            snprintf(chosen_stim, sizeof chosen_stim, "%s", stim);
        }
        for (size_t m = 0; m < s->n_metrics && m < 64; m++) {
            if (col[m] < 0 || col[m] >= nv || !metric_reads(&s->metrics[m], stim))
                continue;
            double x = v[col[m]];
            final[m] = x;
            if (!isnan(x) && (isnan(best[m]) ||
                              (s->metrics[m].best_is_max ? x > best[m] : x < best[m])))
                best[m] = x;
        }
    }
    /* the selected values: a second pass, as a row of another stimulus at
       the same place may come before the selected row */
    if (chosen >= 0 && data >= 0 && fseek(f, data, SEEK_SET) == 0) {
        int got[64] = { 0 };
        for (row = 0; getline(&line, &cap, f) > 0; row++) {
            double v[64], where;
            int nv = parse_row(line, stim_col, &where, v, stim, sizeof stim);
            for (size_t m = 0; m < s->n_metrics && m < 64; m++) {
                const apical_sweep_metric *mt = &s->metrics[m];
                if (col[m] < 0 || col[m] >= nv || !metric_reads(mt, stim))
                    continue;
                if (!got[m] && (metric_reads(mt, chosen_stim) ? row == chosen : where == *at)) {
                    sel[m] = v[col[m]];
                    got[m] = 1;
                }
            }
        }
    }
    free(line);
    fclose(f);
}

static void csv_quoted(FILE *f, const char *text)
{
    fputc('"', f);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

/* A field as it is, or quoted (RFC 4180) when it holds a comma or a quote. */
static void csv_field(FILE *f, const char *text)
{
    if (strpbrk(text, ",\""))
        csv_quoted(f, text);
    else
        fputs(text, f);
}

/* The values kept per run and metric: final, best and, with a select:
   metric, selected. */
static int blocks(const apical_sweep *s)
{
    return s->select.name ? 3 : 2;
}

/* runs.csv: one row per run with its axes, status, exit code, message and
   each metric's final, best (and selected) value (also into val: final, best
   and selected, nm each, per run; and the runs' states into state). */
static void write_runs(const apical_sweep *s, FILE *rf, size_t nm, double *val, int *state)
{
    const int nb = blocks(s);
    char path[4400];
    fprintf(rf, "run,dir");
    for (size_t a = 0; a < s->n_axes; a++)
        fprintf(rf, ",%s", s->axes[a].name);
    fprintf(rf, ",status,exit,message");
    for (size_t m = 0; m < nm; m++)
        fprintf(rf, ",%s_final,%s_best", s->metrics[m].name, s->metrics[m].name);
    if (nb == 3) {
        fprintf(rf, ",selected_at");
        for (size_t m = 0; m < nm; m++)
            fprintf(rf, ",%s_selected", s->metrics[m].name);
    }
    fputc('\n', rf);
    for (size_t i = 0; i < s->n_runs; i++) {
        char dir[4200], msg[2048] = "", line[64] = "";
        apical_sweep_run_dir(s, i, dir, sizeof dir);
        state[i] = apical_sweep_state(s, i);
        double *fin = val + i * (size_t)nb * nm, *best = fin + nm, at = NAN;
        read_metrics(s, dir, fin, best, nb == 3 ? best + nm : NULL, &at);
        int code = 0;
        if (state[i] == APICAL_SWEEP_FAILED) {
            snprintf(path, sizeof path, "%s/status", dir);
            FILE *f = fopen(path, "r");
            if (f && fgets(line, sizeof line, f))
                code = atoi(line + 7);
            if (f)
                fclose(f);
            apical_sweep_message(s, i, msg, sizeof msg);
        }
        const char *st = state[i] == APICAL_SWEEP_OK       ? "ok"
                         : state[i] == APICAL_SWEEP_FAILED ? "failed"
                         : state[i] == APICAL_SWEEP_RESUME ? "stopped"
                                                           : "pending";
        fprintf(rf, "%zu,run-%04zu", i, i);
        for (size_t a = 0; a < s->n_axes; a++) {
            fputc(',', rf);
            csv_field(rf, s->axes[a].values[apical_sweep_index(s, i, a)]);
        }
        fprintf(rf, ",%s,%d,", st, code);
        csv_quoted(rf, msg);
        for (size_t m = 0; m < nm; m++)
            fprintf(rf, ",%.10g,%.10g", fin[m], best[m]);
        if (nb == 3) {
            fprintf(rf, ",%.10g", at);
            for (size_t m = 0; m < nm; m++)
                fprintf(rf, ",%.10g", best[nm + m]);
        }
        fputc('\n', rf);
    }
}

/* Mean and sample standard deviation of value b (0 final, 1 best, 2
   selected) of metric m over point p's ok finished runs. */
static void point_stats(const apical_sweep *s, const double *val, const int *state, size_t nm,
                        size_t p, size_t m, int b, size_t ok, double *mean, double *sd)
{
    double sum = 0, ss = 0;
    for (size_t i = 0; i < s->n_runs; i++)
        if (apical_sweep_point(s, i) == p && state[i] == APICAL_SWEEP_OK)
            sum += val[(i * (size_t)blocks(s) + (size_t)b) * nm + m];
    *mean = ok ? sum / (double)ok : NAN;
    for (size_t i = 0; i < s->n_runs; i++)
        if (apical_sweep_point(s, i) == p && state[i] == APICAL_SWEEP_OK) {
            double d = val[(i * (size_t)blocks(s) + (size_t)b) * nm + m] - *mean;
            ss += d * d;
        }
    *sd = ok > 1 ? sqrt(ss / (double)(ok - 1)) : NAN;
}

/* aggregate.csv: one row per point (the axes that are not averaged over),
   its runs, ok and failed counts and each metric's mean and s.d.; the
   console summary (up to 12 points) into summary at *su; seen[m] when
   some point has a finite mean of metric m.  Returns 1 when some run
   finished ok. */
static int write_points(const apical_sweep *s, FILE *af, size_t nm, const double *val,
                        const int *state, char *summary, size_t scap, size_t *su, int *seen)
{
    int any_ok = 0, first = 1;
    size_t lines = 0;
    for (size_t a = 0; a < s->n_axes; a++)
        if (!s->axes[a].average) {
            fprintf(af, "%s%s", first ? "" : ",", s->axes[a].name);
            first = 0;
        }
    fprintf(af, "%sruns,ok,failed", first ? "" : ",");
    for (size_t m = 0; m < nm; m++)
        fprintf(af, ",%s_final_mean,%s_final_std,%s_best_mean,%s_best_std", s->metrics[m].name,
                s->metrics[m].name, s->metrics[m].name, s->metrics[m].name);
    for (size_t m = 0; m < nm && s->select.name; m++)
        fprintf(af, ",%s_selected_mean,%s_selected_std", s->metrics[m].name, s->metrics[m].name);
    fputc('\n', af);
    for (size_t p = 0; p < s->n_points; p++) {
        size_t rep = 0, runs = 0, ok = 0, failed = 0;
        for (size_t i = 0; i < s->n_runs; i++)
            if (apical_sweep_point(s, i) == p) {
                if (!runs)
                    rep = i;
                runs++;
                ok += state[i] == APICAL_SWEEP_OK;
                failed += state[i] == APICAL_SWEEP_FAILED;
            }
        any_ok |= ok > 0;
        int line = summary && nm && lines < 12 && *su < scap; /* a console line too */
        if (line) {
            lines++;
            *su += (size_t)snprintf(summary + *su, scap - *su, "  ");
        }
        first = 1;
        for (size_t a = 0; a < s->n_axes; a++)
            if (!s->axes[a].average) {
                const char *v = s->axes[a].values[apical_sweep_index(s, rep, a)];
                fputs(first ? "" : ",", af);
                csv_field(af, v);
                first = 0;
                if (line && *su < scap)
                    *su += (size_t)snprintf(summary + *su, scap - *su, "%s=%s ",
                                            s->axes[a].name, v);
            }
        fprintf(af, "%s%zu,%zu,%zu", first ? "" : ",", runs, ok, failed);
        for (size_t m = 0; m < nm; m++)
            for (int b = 0; b < 2; b++) {
                double mean, sd;
                point_stats(s, val, state, nm, p, m, b, ok, &mean, &sd);
                fprintf(af, ",%.10g,%.10g", mean, sd);
                if (b == 0)
                    seen[m] |= isfinite(mean) != 0;
                if (b == 0 && m == 0 && line && *su < scap)
                    *su += (size_t)snprintf(summary + *su, scap - *su,
                                            "%s final: mean %.4g, s.d. %.2g (%zu of %zu runs)%s",
                                            s->metrics[0].name, mean, sd, ok, runs,
                                            s->select.name ? "" : "\n");
            }
        for (size_t m = 0; m < nm && s->select.name; m++) { /* selected, after the others */
            double mean, sd;
            point_stats(s, val, state, nm, p, m, 2, ok, &mean, &sd);
            fprintf(af, ",%.10g,%.10g", mean, sd);
            if (m == 0 && line && *su < scap)
                *su += (size_t)snprintf(summary + *su, scap - *su,
                                        "; at the best %s: mean %.4g, s.d. %.2g\n",
                                        s->select.name, mean, sd);
        }
        fputc('\n', af);
    }
    return any_ok;
}

int apical_sweep_aggregate(const apical_sweep *s, char *summary, size_t scap, char *err,
                           size_t cap)
{
    size_t nm = s->n_metrics < 64 ? s->n_metrics : 64, su = 0;
    int seen[64] = { 0 }; /* a finished run has a value for metric m */
    if (summary && scap)
        summary[0] = 0;
    /* per run: final and best of each metric */
    double *val = malloc(s->n_runs * (size_t)blocks(s) * nm * sizeof *val);
    int *state = malloc(s->n_runs * sizeof *state);
    char runs_tmp[4400], agg_tmp[4400];
    snprintf(runs_tmp, sizeof runs_tmp, "%s/runs.csv.tmp", s->out);
    snprintf(agg_tmp, sizeof agg_tmp, "%s/aggregate.csv.tmp", s->out);
    FILE *rf = val && state ? fopen(runs_tmp, "w") : NULL;
    FILE *af = rf ? fopen(agg_tmp, "w") : NULL;
    if (!af) {
        snprintf(err, cap, "cannot write %s: %s", rf || !val || !state ? agg_tmp : runs_tmp,
                 !val || !state ? "out of memory" : strerror(errno));
        if (rf)
            fclose(rf);
        free(val);
        free(state);
        return 1;
    }
    write_runs(s, rf, nm, val, state);
    int any_ok = write_points(s, af, nm, val, state, summary, scap, &su, seen);
    /* a metric no finished run has a number for: not a column of their
       metrics.csv (misspelt?) */
    for (size_t m = 0; m < nm && summary && any_ok && su < scap; m++)
        if (!seen[m])
            su += (size_t)snprintf(summary + su, scap - su,
                                   "  no finished run has a value for '%s' (is it a column of "
                                   "their metrics.csv?)\n", s->metrics[m].name);
    /* the first file that fails is named, with the reason */
    const char *bad = NULL;
    int e = 0;
    if ((ferror(rf) | fclose(rf)) != 0)
        bad = runs_tmp, e = errno;
    if ((ferror(af) | fclose(af)) != 0 && !bad)
        bad = agg_tmp, e = errno;
    free(val);
    free(state);
    char runs_csv[4400], agg_csv[4400];
    snprintf(runs_csv, sizeof runs_csv, "%s/runs.csv", s->out);
    snprintf(agg_csv, sizeof agg_csv, "%s/aggregate.csv", s->out);
    if (!bad && rename(runs_tmp, runs_csv) != 0)
        bad = runs_csv, e = errno;
    if (!bad && rename(agg_tmp, agg_csv) != 0)
        bad = agg_csv, e = errno;
    if (bad) {
        snprintf(err, cap, "cannot write %s: %s", bad, strerror(e ? e : EIO));
        remove(runs_tmp);
        remove(agg_tmp);
        return 1;
    }
    return 0;
}

int apical_sweep_exe(char *path, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", path, cap - 1);
    if (n <= 0)
        return -1;
    path[n] = 0;
    return 0;
}
