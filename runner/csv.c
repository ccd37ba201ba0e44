/*
 * csv.c -- numeric tables: one row per line, values separated by commas
 * and/or blanks; blank lines and lines starting with '#' are skipped, and
 * so is a UTF-8 byte-order mark.  The first line is a header when every
 * field of it is a name (starts with a letter, '_' or a quote, and is not
 * nan or inf); any other line that is not all finite numbers is an error
 * at its place, so a typo in the first row never drops a pattern.  Every
 * row must have as many values as the first.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit_int.h"

static int is_sep(int ch) { return ch == ',' || ch == ' ' || ch == '\t' || ch == '\r'; }

/* Parse the values of one line; returns the count, or -1 with *bad set to
   the column of the first thing that is not a number. */
static long parse_line(const char *line, double *out, size_t cap, size_t *bad)
{
    long n = 0;
    const char *p = line;
    for (;;) {
        while (*p && is_sep((unsigned char)*p))
            p++;
        if (!*p || *p == '\n')
            return n;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno == ERANGE || !isfinite(v) || (*end && !is_sep((unsigned char)*end) && *end != '\n')) {
            *bad = (size_t)(p - line) + 1;
            return -1;
        }
        if (out && (size_t)n < cap)
            out[n] = v;
        n++;
        p = end;
    }
}

/* Every field of the line is a name, none a number (nan and inf are
   numbers to strtod, and so not names). */
static int is_header(const char *line)
{
    const char *p = line;
    int fields = 0;
    for (;;) {
        while (*p && is_sep((unsigned char)*p))
            p++;
        if (!*p || *p == '\n')
            return fields > 0;
        char *end;
        strtod(p, &end);
        unsigned char c = (unsigned char)*p;
        if (end != p || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
                          c == '"' || c == '\''))
            return 0;
        while (*p && !is_sep((unsigned char)*p) && *p != '\n')
            p++;
        fields++;
    }
}

int apical_csv_read(const char *file, apical_table *t, char *err, size_t cap)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, cap, "%s: cannot open: %s", file, strerror(errno));
        return -1;
    }
    int rc = apical_csv_read_stream(f, file, t, err, cap);
    fclose(f);
    return rc;
}

int apical_csv_read_stream(FILE *f, const char *file, apical_table *t, char *err, size_t cap)
{
    memset(t, 0, sizeof *t);
    char *line = NULL;
    size_t linecap = 0, lineno = 0, alloc = 0;
    ssize_t len;
    int rc = 0, first = 1;
    while ((len = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        char *s = line;
        if (lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) /* byte-order mark */
            memmove(s, s + 3, strlen(s + 3) + 1);
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\n' || *s == '\r' || !*s)
            continue;
        size_t bad = 0;
        long n = parse_line(line, NULL, 0, &bad);
        if (n == 0)
            continue; /* separators only: as good as blank */
        if (first && n < 0 && is_header(line)) {
            first = 0;
            continue;
        }
        first = 0;
        if (n < 0) {
            snprintf(err, cap, "%s:%zu:%zu: expected a number", file, lineno, bad);
            rc = -1;
            break;
        }
        if (t->cols == 0)
            t->cols = (size_t)n;
        if ((size_t)n != t->cols) {
            snprintf(err, cap, "%s:%zu:1: expected %zu values as on the first row, found %ld",
                     file, lineno, t->cols, n);
            rc = -1;
            break;
        }
        if ((t->rows + 1) * t->cols > alloc) {
            size_t na = alloc ? 2 * alloc : 64 * t->cols;
            double *d = realloc(t->data, na * sizeof(double));
            if (!d) {
                snprintf(err, cap, "%s: out of memory", file);
                rc = -1;
                break;
            }
            t->data = d;
            alloc = na;
        }
        parse_line(line, t->data + t->rows * t->cols, t->cols, &bad);
        t->rows++;
    }
    free(line);
    if (rc == 0 && ferror(f)) {
        snprintf(err, cap, "%s: read error", file);
        rc = -1;
    }
    if (rc == 0 && t->rows == 0) {
        snprintf(err, cap, "%s: no numbers in the file", file);
        rc = -1;
    }
    if (rc != 0) {
        free(t->data);
        memset(t, 0, sizeof *t);
    }
    return rc;
}

void apical_table_free(apical_table *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}
