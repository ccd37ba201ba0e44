/*
 * yamlutil.c -- reading a libyaml document with located errors.
 *
 * libyaml's document API keeps each node's start mark, so every error can
 * name FILE:LINE:COL.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yamlutil.h"

typedef struct keyref {
    const char *key;
    const yaml_node_t *node;
} keyref;

static int by_key_then_place(const void *a, const void *b)
{
    const keyref *p = a, *q = b;
    int c = strcmp(p->key, q->key);
    if (c)
        return c;
    return p->node->start_mark.index < q->node->start_mark.index ? -1
           : p->node->start_mark.index > q->node->start_mark.index;
}

/* A mapping that names a key twice is refused at the second (the reader
   would take one and --set edit the other). */
static int no_duplicate_keys(apical_yaml *y)
{
    for (yaml_node_t *n = y->doc.nodes.start; n < y->doc.nodes.top; n++) {
        if (n->type != YAML_MAPPING_NODE)
            continue;
        size_t m = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start), k = 0;
        if (m < 2)
            continue;
        keyref *r = malloc(m * sizeof *r);
        if (!r) {
            snprintf(y->err, y->cap, "%s: out of memory", y->file);
            return -1;
        }
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
            const yaml_node_t *kn = apical_yaml_node(y, pr->key);
            if (kn && kn->type == YAML_SCALAR_NODE)
                r[k++] = (keyref){ apical_yaml_scalar(kn), kn };
        }
        qsort(r, k, sizeof *r, by_key_then_place);
        for (size_t i = 1; i < k; i++)
            if (strcmp(r[i - 1].key, r[i].key) == 0) {
                const yaml_node_t *first = r[i - 1].node, *again = r[i].node;
                char key[128];
                snprintf(key, sizeof key, "%s", r[i].key);
                free(r);
                return apical_yaml_fail(y, again, "key '%s' appears twice in this mapping "
                                        "(first at line %zu, column %zu); keep one",
                                        key, first->start_mark.line + 1,
                                        first->start_mark.column + 1);
            }
        free(r);
    }
    return 0;
}

int apical_yaml_load(apical_yaml *y, yaml_parser_t *ps)
{
    if (yaml_parser_load(ps, &y->doc)) {
        if (no_duplicate_keys(y) == 0)
            return 0;
        yaml_document_delete(&y->doc); /* the message is written: nothing reads it now */
        return -1;
    }
    snprintf(y->err, y->cap, "%s:%zu:%zu: %s%s%s", y->file, ps->problem_mark.line + 1,
             ps->problem_mark.column + 1, ps->problem ? ps->problem : "invalid YAML",
             ps->context ? " " : "", ps->context ? ps->context : "");
    return -1;
}

typedef struct growbuf {
    char *data;
    size_t len, cap;
} growbuf;

static int grow_write(void *data, unsigned char *buffer, size_t size)
{
    growbuf *b = data;
    if (b->len + size + 1 > b->cap) {
        size_t nc = 2 * (b->len + size + 1);
        char *d = realloc(b->data, nc);
        if (!d)
            return 0;
        b->data = d;
        b->cap = nc;
    }
    memcpy(b->data + b->len, buffer, size);
    b->len += size;
    b->data[b->len] = 0;
    return 1;
}

char *apical_yaml_dump(apical_yaml *y)
{
    yaml_emitter_t em;
    growbuf b = { 0 };
    if (!yaml_emitter_initialize(&em)) {
        yaml_document_delete(&y->doc);
        return NULL;
    }
    yaml_emitter_set_output(&em, grow_write, &b);
    yaml_emitter_set_width(&em, 100);
    int ok = yaml_emitter_open(&em) && yaml_emitter_dump(&em, &y->doc) && yaml_emitter_close(&em);
    yaml_emitter_delete(&em);
    if (!ok) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

int apical_yaml_fail(apical_yaml *y, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    apical_yaml_vfail(y, n, fmt, ap);
    va_end(ap);
    return -1;
}

int apical_yaml_vfail(apical_yaml *y, const yaml_node_t *n, const char *fmt, va_list ap)
{
    int used = 0;
    if (n && n->start_mark.index >= APICAL_YAML_SET_MARK) /* a value from --set */
        used = snprintf(y->err, y->cap, "--set %s: ",
                        y->sets[n->start_mark.index - APICAL_YAML_SET_MARK]);
    else if (n)
        used = snprintf(y->err, y->cap, "%s:%zu:%zu: ", y->file, n->start_mark.line + 1,
                        n->start_mark.column + 1);
    else
        used = snprintf(y->err, y->cap, "%s: ", y->file);
    if (used < 0 || (size_t)used >= y->cap)
        return -1;
    vsnprintf(y->err + used, y->cap - (size_t)used, fmt, ap);
    return -1;
}

int apical_yaml_fail_at(apical_yaml *y, const yaml_node_t *n, const char *msg)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", msg);
    return apical_yaml_fail(y, n, "%s", copy);
}

yaml_node_t *apical_yaml_node(apical_yaml *y, int id)
{
    return yaml_document_get_node(&y->doc, id);
}

const char *apical_yaml_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

int apical_yaml_expect(apical_yaml *y, const yaml_node_t *n, yaml_node_type_t t,
                       const char *what)
{
    if (n->type == t)
        return 0;
    return apical_yaml_fail(y, n, "expected %s, found %s", what, apical_yaml_kind(n));
}

yaml_node_t *apical_yaml_get(apical_yaml *y, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = apical_yaml_node(y, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(apical_yaml_scalar(k), key) == 0)
            return apical_yaml_node(y, p->value);
    }
    return NULL;
}

yaml_node_t *apical_yaml_need(apical_yaml *y, const yaml_node_t *map, const char *key,
                              const char *where)
{
    yaml_node_t *v = apical_yaml_get(y, map, key);
    if (!v)
        apical_yaml_fail(y, map, "%s needs the key '%s'", where, key);
    return v;
}

size_t apical_yaml_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            prev = cur;
        }
    }
    return row[lb];
}

/* An unknown key k: the closest allowed one, or all of them. */
static int unknown_key(apical_yaml *y, const yaml_node_t *k, const char *where,
                       const char *const *allowed)
{
    const char *key = apical_yaml_scalar(k), *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; allowed[i]; i++) {
        size_t d = apical_yaml_distance(key, allowed[i]);
        if (d < bestd) {
            bestd = d;
            best = allowed[i];
        }
    }
    if (best)
        return apical_yaml_fail(y, k, "unknown key '%s' in %s (did you mean '%s'?)", key, where,
                                best);
    char list[512];
    size_t used = 0;
    list[0] = 0;
    for (size_t i = 0; allowed[i] && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 allowed[i]);
    return apical_yaml_fail(y, k, "unknown key '%s' in %s (expected one of: %s)", key, where,
                            list);
}

int apical_yaml_check_keys(apical_yaml *y, const yaml_node_t *n, const char *where,
                           const char *const *allowed)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = apical_yaml_node(y, p->key);
        if (k->type != YAML_SCALAR_NODE)
            return apical_yaml_fail(y, k, "expected a key name in %s", where);
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], apical_yaml_scalar(k)) == 0;
        if (!ok)
            return unknown_key(y, k, where, allowed);
    }
    return 0;
}

int apical_yaml_double(apical_yaml *y, const yaml_node_t *n, double *out)
{
    if (apical_yaml_expect(y, n, YAML_SCALAR_NODE, "a number"))
        return -1;
    const char *s = apical_yaml_scalar(n);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return apical_yaml_fail(y, n, "expected a number, found '%s'", s);
    *out = v;
    return 0;
}

int apical_yaml_long(apical_yaml *y, const yaml_node_t *n, long lo, long *out)
{
    if (apical_yaml_expect(y, n, YAML_SCALAR_NODE, "an integer"))
        return -1;
    const char *s = apical_yaml_scalar(n);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE)
        return apical_yaml_fail(y, n, "expected an integer, found '%s'", s);
    if (v < lo)
        return apical_yaml_fail(y, n, "expected an integer of at least %ld, found %ld", lo, v);
    *out = v;
    return 0;
}

int apical_yaml_bool(apical_yaml *y, const yaml_node_t *n, int *out)
{
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = apical_yaml_scalar(n);
        if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
            return *out = 1, 0;
        if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
            return *out = 0, 0;
    }
    return apical_yaml_fail(y, n, "expected true or false");
}

int apical_yaml_pair(apical_yaml *y, const yaml_node_t *n, const char *what, double *a,
                     double *b)
{
    if (n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top - n->data.sequence.items.start != 2)
        return apical_yaml_fail(y, n, "expected %s", what);
    return apical_yaml_double(y, apical_yaml_node(y, n->data.sequence.items.start[0]), a) ||
                   apical_yaml_double(y, apical_yaml_node(y, n->data.sequence.items.start[1]), b)
               ? -1
               : 0;
}

int apical_yaml_range(apical_yaml *y, const yaml_node_t *n, double *lo, double *hi)
{
    if (apical_yaml_pair(y, n, "a range [low, high]", lo, hi))
        return -1;
    if (!(*lo <= *hi))
        return apical_yaml_fail(y, n, "range [%g, %g] is empty", *lo, *hi);
    return 0;
}

int apical_yaml_numbers(apical_yaml *y, const yaml_node_t *n, double *out, size_t cap,
                        size_t *count, const char *what)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return apical_yaml_fail(y, n, "expected a list of %s", what);
    size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (k > cap)
        return apical_yaml_fail(y, n, "at most %zu %s", cap, what);
    for (size_t i = 0; i < k; i++)
        if (apical_yaml_double(y, apical_yaml_node(y, n->data.sequence.items.start[i]), &out[i]))
            return -1;
    *count = k;
    return 0;
}

int apical_yaml_one_of(apical_yaml *y, const yaml_node_t *n, const char *const names[],
                       const char *expected, int *out)
{
    if (apical_yaml_expect(y, n, YAML_SCALAR_NODE, expected))
        return -1;
    for (int k = 0; names[k]; k++)
        if (strcmp(apical_yaml_scalar(n), names[k]) == 0) {
            *out = k;
            return 0;
        }
    return apical_yaml_fail(y, n, "expected %s, found '%s'", expected, apical_yaml_scalar(n));
}

void apical_yaml_resolve(const char *file, const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(file, '/');
    if (path[0] == '/' || !slash)
        snprintf(out, cap, "%s", path);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - file), file, path);
}

int apical_data_dir(int i, char *out, size_t cap)
{
    const char *env = getenv("APICAL_DATA"), *xdg = getenv("XDG_DATA_HOME"),
               *home = getenv("HOME");
    if (env && *env) {
        if (i-- == 0) {
            size_t n = strlen(env);
            while (n > 1 && env[n - 1] == '/')
                n--;
            snprintf(out, cap, "%.*s", (int)n, env);
            return 0;
        }
    }
    if (i != 0)
        return -1;
    if (xdg && *xdg)
        snprintf(out, cap, "%s/apical", xdg);
    else if (home && *home)
        snprintf(out, cap, "%s/.local/share/apical", home);
    else
        return -1;
    return 0;
}

int apical_yaml_find(const char *file, const char *path, char *out, size_t cap, char *searched,
                     size_t scap)
{
    apical_yaml_resolve(file, path, out, cap);
    if (scap)
        searched[0] = 0;
    if (access(out, F_OK) == 0)
        return 1;
    if (path[0] == '/')
        return 0;
    char dir[4096], at[4096 + 64];
    const char *slash = strrchr(file, '/');
    size_t used = 0;
    int n = 0;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - file + (slash == file)), file);
    else
        snprintf(dir, sizeof dir, ".");
    const char *env = getenv("APICAL_DATA");
    int from_env = env && *env;
    char dirs[3][4096 + 64];
    snprintf(dirs[n++], sizeof dirs[0], "%s", dir);
    for (int i = 0; n < 3 && apical_data_dir(i, dir, sizeof dir) == 0; i++) {
        snprintf(at, sizeof at, "%s/%s", dir, path);
        if (access(at, F_OK) == 0) {
            snprintf(out, cap, "%s", at);
            return 1;
        }
        snprintf(dirs[n++], sizeof dirs[0], "%s%s", dir, i == 0 && from_env ? " ($APICAL_DATA)" : "");
    }
    for (int k = 0; k < n && used < scap; k++) {
        int w = snprintf(searched + used, scap - used, "%s%s", k == 0 ? "" : k == n - 1 ? " and " : ", ",
                         dirs[k]);
        used += w > 0 ? (size_t)w : 0;
    }
    return 0;
}
