/*
 * yamlutil.h -- reading a libyaml document with located errors (private to
 * libapical and the apical programs; not installed).
 *
 * Every function that can fail writes its message into y->err, starting
 * with FILE:LINE:COL of the node at fault (or "--set OVERRIDE: " for a node
 * an override made), and returns -1.
 */
#ifndef APICAL_YAMLUTIL_H
#define APICAL_YAMLUTIL_H

#include <stdarg.h>
#include <stddef.h>

#include <yaml.h>

typedef struct apical_yaml {
    yaml_document_t doc;
    const char *file;          /* for messages, and the directory of relative paths */
    const char *const *sets;   /* the --set overrides (or NULL), for messages */
    char *err;
    size_t cap;
} apical_yaml;

/* Nodes made by --set override k carry start_mark.index = APICAL_YAML_SET_MARK + k. */
#define APICAL_YAML_SET_MARK ((size_t)1 << 60)

/* Parse the parser's first document into y->doc; -1 with FILE:LINE:COL of
   the syntax error. */
int apical_yaml_load(apical_yaml *y, yaml_parser_t *ps);
/* y->doc as YAML text (malloc'd), NULL if out of memory; consumes the
   document, as yaml_emitter_dump does. */
char *apical_yaml_dump(apical_yaml *y);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int apical_yaml_fail(apical_yaml *y, const yaml_node_t *n, const char *fmt, ...);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
int apical_yaml_vfail(apical_yaml *y, const yaml_node_t *n, const char *fmt, va_list ap);
/* A message from another layer, prefixed with the node's location. */
int apical_yaml_fail_at(apical_yaml *y, const yaml_node_t *n, const char *msg);

yaml_node_t *apical_yaml_node(apical_yaml *y, int id);
static inline const char *apical_yaml_scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}
/* "a scalar", "a list", "a mapping" */
const char *apical_yaml_kind(const yaml_node_t *n);
int apical_yaml_expect(apical_yaml *y, const yaml_node_t *n, yaml_node_type_t t,
                       const char *what);
/* The value of key in mapping map, or NULL. */
yaml_node_t *apical_yaml_get(apical_yaml *y, const yaml_node_t *map, const char *key);
/* The same, an error (saying where needs it) when absent. */
yaml_node_t *apical_yaml_need(apical_yaml *y, const yaml_node_t *map, const char *key,
                              const char *where);
/* Every key of mapping n is in allowed (NULL-terminated); an unknown one is
   reported with the closest allowed key, or the list. */
int apical_yaml_check_keys(apical_yaml *y, const yaml_node_t *n, const char *where,
                           const char *const *allowed);
/* Levenshtein distance (99 for words of 63 characters or more). */
size_t apical_yaml_distance(const char *a, const char *b);

int apical_yaml_double(apical_yaml *y, const yaml_node_t *n, double *out);
/* An integer of at least lo. */
int apical_yaml_long(apical_yaml *y, const yaml_node_t *n, long lo, long *out);
/* true/yes/on or false/no/off */
int apical_yaml_bool(apical_yaml *y, const yaml_node_t *n, int *out);
/* A list of exactly two numbers; what describes it for the message. */
int apical_yaml_pair(apical_yaml *y, const yaml_node_t *n, const char *what, double *a,
                     double *b);
/* [low, high] with low <= high */
int apical_yaml_range(apical_yaml *y, const yaml_node_t *n, double *lo, double *hi);
/* A list of at most cap numbers into out, their count in *count. */
int apical_yaml_numbers(apical_yaml *y, const yaml_node_t *n, double *out, size_t cap,
                        size_t *count, const char *what);
/* A scalar that is one of names (NULL-terminated): its index; otherwise an
   error saying what was expected (a description of names). */
int apical_yaml_one_of(apical_yaml *y, const yaml_node_t *n, const char *const names[],
                       const char *expected, int *out);

/* path relative to the directory of file (absolute paths as they are). */
void apical_yaml_resolve(const char *file, const char *path, char *out, size_t cap);

/* The data directories, searched for a circuit's files after the circuit
   file's own directory: $APICAL_DATA when set, then
   ${XDG_DATA_HOME:-$HOME/.local/share}/apical.  Directory i into out and 0,
   or -1 past the last.  Directory 0 is where `apical data` puts what it
   fetches. */
int apical_data_dir(int i, char *out, size_t cap);

/* A file named in circuit file `file`: an absolute path as it is; a relative
   one beside the circuit file if it is there, else in the first data
   directory that holds it.  1 when found (out names it); 0 when not: out
   then names the place beside the circuit file and, for a relative path,
   searched lists the directories looked in ("A, B ($APICAL_DATA) and C"). */
int apical_yaml_find(const char *file, const char *path, char *out, size_t cap, char *searched,
                     size_t scap);

#endif
