/*
 * registry.c -- find, load and check modules, as NEST loads extension
 * modules: by name, from a search path.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuit_int.h"

#ifndef APICAL_MODULE_DIR
#define APICAL_MODULE_DIR "/usr/local/lib/apical"
#endif

typedef struct entry {
    const void *model;      /* apical_cell_model or apical_rule */
    const char *file;       /* owned by the registry's file list */
} entry;

struct apical_registry {
    char *path;
    void **handles;  size_t n_handles;
    char **files;    size_t n_files;
    entry *cells;    size_t n_cells;
    entry *rules;    size_t n_rules;
};

apical_registry *apical_registry_new(const char *path)
{
    apical_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (!path) {
        /* $APICAL_MODULE_PATH, then the system directories: the install
           directory, or $APICAL_MODULE_SYSTEM_PATH where set (empty: none) */
        const char *env = getenv("APICAL_MODULE_PATH"), *sys = getenv("APICAL_MODULE_SYSTEM_PATH");
        if (!sys)
            sys = APICAL_MODULE_DIR;
        size_t len = (env ? strlen(env) : 0) + strlen(sys) + 2;
        char *p = malloc(len);
        if (p)
            snprintf(p, len, "%s%s%s", env ? env : "", env && *env && *sys ? ":" : "", sys);
        r->path = p;
    } else {
        r->path = strdup(path);
    }
    if (!r->path) {
        free(r);
        return NULL;
    }
    return r;
}

void apical_registry_free(apical_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_handles; i++)
        dlclose(r->handles[i]);
    for (size_t i = 0; i < r->n_files; i++)
        free(r->files[i]);
    free(r->handles);
    free(r->files);
    free(r->cells);
    free(r->rules);
    free(r->path);
    free(r);
}

const char *apical_registry_path(const apical_registry *r)
{
    return r->path;
}

static int already_loaded(const apical_registry *r, const char *file)
{
    for (size_t i = 0; i < r->n_files; i++)
        if (strcmp(r->files[i], file) == 0)
            return 1;
    return 0;
}

static int grow(void *pp, size_t n, size_t size)
{
    void *q = realloc(*(void **)pp, (n + 1) * size);
    if (!q)
        return -1;
    *(void **)pp = q;
    return 0;
}

/* A shared object of this machine's ELF class whose program headers,
   loadable segments or section headers reach past the end of the file (a
   truncated copy): dlopen would map pages the file does not have, and the
   first touch of one ends the process with SIGBUS.  Files that are not
   ELF of this class are left to dlopen, which refuses them with a message. */
static int check_elf(const char *file, char *err, size_t cap)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "cannot load module %s: %s", file, strerror(errno));
        return -1;
    }
    struct stat st;
    ElfW(Ehdr) eh;
    const char *why = NULL;
    uint64_t end = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why = "not a regular file";
    } else if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh) {
        if (st.st_size >= SELFMAG)
            why = "shorter than an ELF header";
    } else if (memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
               eh.e_ident[EI_CLASS] == (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)) {
        uint64_t size = (uint64_t)st.st_size;
        if (eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0)
            why = "its program header table is malformed";
        else if ((end = (uint64_t)eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr))) > size)
            why = "its program headers";
        for (size_t i = 0; !why && i < eh.e_phnum; i++) {
            ElfW(Phdr) ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) !=
                (ssize_t)sizeof ph)
                why = "its program headers cannot be read";
            else if (ph.p_type == PT_LOAD &&
                     (end = (uint64_t)ph.p_offset + (uint64_t)ph.p_filesz) > size)
                why = "its loadable segments";
        }
        if (!why && eh.e_shnum &&
            (end = (uint64_t)eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize) > size)
            why = "its section headers";
    }
    close(fd);
    if (!why)
        return 0;
    if (end)
        snprintf(err, cap, "%s is truncated or damaged (%s need %llu bytes, the file has "
                 "%llu); not loaded", file, why, (unsigned long long)end,
                 (unsigned long long)st.st_size);
    else
        snprintf(err, cap, "%s is truncated or damaged (%s); not loaded", file, why);
    return -1;
}

/* A table of n entries at p: present when n is not 0, of a plausible size. */
#define MAX_TABLE 65536
static const char *bad_table(const void *p, size_t n)
{
    return n > MAX_TABLE ? "an implausible count" : n && !p ? "a NULL array" : NULL;
}

/* The entries of a parameter, variable or observable table, each with a
   name; what is wrong with it, or NULL. */
static const char *bad_params(const apical_param *p, size_t n)
{
    const char *why = bad_table(p, n);
    for (size_t i = 0; !why && i < n; i++)
        if (!p[i].name)
            why = "an entry without a name";
    return why;
}

static const char *bad_vars(const apical_var *v, size_t n)
{
    const char *why = bad_table(v, n);
    for (size_t i = 0; !why && i < n; i++)
        if (!v[i].name)
            why = "an entry without a name";
    return why;
}

static const char *bad_cell_tables(const apical_cell_model *m, const char **table)
{
    const char *why;
    if ((why = bad_params(m->params, m->n_params)))
        *table = "params";
    else if ((why = bad_vars(m->state, m->n_state)))
        *table = "state";
    else if ((why = bad_vars(m->ports, m->n_ports)))
        *table = "ports";
    else if ((why = bad_table(m->obs, m->n_obs)))
        *table = "obs";
    else if (APICAL_CELL_HAS_ROLES(m) && (why = bad_table(m->roles, m->n_roles)))
        *table = "roles";
    for (size_t i = 0; !why && i < m->n_obs; i++)
        if (!m->obs[i].name) {
            why = "an entry without a name";
            *table = "obs";
        }
    return why;
}

/* Check a library's tables before anything of it is registered. */
static int check_library(const apical_library *lib, const char *file, char *err, size_t cap)
{
    if (lib->abi_major != APICAL_ABI_MAJOR) {
        snprintf(err, cap, "%s: module built for ABI %u.%u; this host speaks ABI %u.%u",
                 file, lib->abi_major, lib->abi_minor, APICAL_ABI_MAJOR, APICAL_ABI_MINOR);
        return -1;
    }
    if (lib->struct_size < APICAL_LIBRARY_MIN_SIZE_V1) {
        snprintf(err, cap, "%s: library descriptor too small (%zu bytes, ABI 1.0 needs %zu)",
                 file, lib->struct_size, (size_t)APICAL_LIBRARY_MIN_SIZE_V1);
        return -1;
    }
    const char *why, *table = "cells";
    if ((why = bad_table(lib->cells, lib->n_cells)) ||
        (table = "rules", why = bad_table(lib->rules, lib->n_rules))) {
        snprintf(err, cap, "%s: its library table has %s of %s (%zu cells, %zu rules); not "
                 "loaded", file, why, table, lib->n_cells, lib->n_rules);
        return -1;
    }
    for (size_t i = 0; i < lib->n_cells; i++) {
        const apical_cell_model *m = lib->cells[i];
        if (!m || m->struct_size < APICAL_CELL_MIN_SIZE_V1 || !m->name || !m->version ||
            !m->rhs || !m->observe) {
            snprintf(err, cap, "%s: cell model %zu is incomplete (needs name, version, rhs, "
                     "observe)", file, i);
            return -1;
        }
        if ((why = bad_cell_tables(m, &table))) {
            snprintf(err, cap, "%s: cell model '%s' has %s in its %s table; not loaded", file,
                     m->name, why, table);
            return -1;
        }
    }
    for (size_t i = 0; i < lib->n_rules; i++) {
        const apical_rule *u = lib->rules[i];
        if (!u || u->struct_size < APICAL_RULE_MIN_SIZE_V1 || !u->name || !u->version ||
            !u->dwdt || !u->post_obs) {
            snprintf(err, cap, "%s: rule %zu is incomplete (needs name, version, dwdt, "
                     "post_obs)", file, i);
            return -1;
        }
        if ((why = bad_params(u->params, u->n_params)) ||
            (u->n_aux > MAX_TABLE && (why = "an implausible count"))) {
            snprintf(err, cap, "%s: rule '%s' has %s in its %s table; not loaded", file,
                     u->name, why, u->n_aux > MAX_TABLE ? "aux" : "params");
            return -1;
        }
    }
    return 0;
}

/* A name that an earlier module took: the first on the path wins, and a
   file defining the name again is refused (it would be listed twice, and
   which one a circuit got would depend on the order of loading). */
static int already_named(const apical_registry *r, const apical_library *lib, const char *file,
                         char *err, size_t cap)
{
    for (size_t i = 0; i < lib->n_cells; i++)
        for (size_t k = 0; k < r->n_cells; k++)
            if (strcmp(lib->cells[i]->name,
                       ((const apical_cell_model *)r->cells[k].model)->name) == 0) {
                snprintf(err, cap, "%s: cell model '%s' is loaded from %s already (earlier on "
                         "the module path); this file is skipped", file, lib->cells[i]->name,
                         r->cells[k].file);
                return -1;
            }
    for (size_t i = 0; i < lib->n_rules; i++)
        for (size_t k = 0; k < r->n_rules; k++)
            if (strcmp(lib->rules[i]->name, ((const apical_rule *)r->rules[k].model)->name) == 0) {
                snprintf(err, cap, "%s: rule '%s' is loaded from %s already (earlier on the "
                         "module path); this file is skipped", file, lib->rules[i]->name,
                         r->rules[k].file);
                return -1;
            }
    return 0;
}

int apical_registry_load_file(apical_registry *r, const char *file, char *err, size_t cap)
{
    if (already_loaded(r, file))
        return 0;
    if (check_elf(file, err, cap) != 0)
        return -1;
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, cap, "cannot load module %s: %s", file, dlerror());
        return -1;
    }
    void *sym = dlsym(h, APICAL_ENTRY_SYMBOL);
    if (!sym) {
        snprintf(err, cap, "%s is not an apical module: it has no symbol %s", file,
                 APICAL_ENTRY_SYMBOL);
        dlclose(h);
        return -1;
    }
    apical_entry_fn entry_fn;
    memcpy(&entry_fn, &sym, sizeof entry_fn); /* object-to-function pointer, as POSIX allows */
    const apical_library *lib = entry_fn(APICAL_ABI_MAJOR, APICAL_ABI_MINOR);
    if (!lib) {
        snprintf(err, cap, "%s refused this host's ABI %u.%u (built for another major version)",
                 file, APICAL_ABI_MAJOR, APICAL_ABI_MINOR);
        dlclose(h);
        return -1;
    }
    if (check_library(lib, file, err, cap) != 0 || already_named(r, lib, file, err, cap) != 0) {
        dlclose(h);
        return -1;
    }
    char *copy = strdup(file);
    if (!copy || grow(&r->handles, r->n_handles, sizeof *r->handles) ||
        grow(&r->files, r->n_files, sizeof *r->files)) {
        free(copy);
        dlclose(h);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    r->handles[r->n_handles++] = h;
    r->files[r->n_files++] = copy;
    for (size_t i = 0; i < lib->n_cells; i++) {
        if (grow(&r->cells, r->n_cells, sizeof *r->cells))
            return snprintf(err, cap, "out of memory"), -1;
        r->cells[r->n_cells++] = (entry){ lib->cells[i], copy };
    }
    for (size_t i = 0; i < lib->n_rules; i++) {
        if (grow(&r->rules, r->n_rules, sizeof *r->rules))
            return snprintf(err, cap, "out of memory"), -1;
        r->rules[r->n_rules++] = (entry){ lib->rules[i], copy };
    }
    return 0;
}

static const void *find_loaded(const entry *e, size_t n, int is_cell, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const char *nm = is_cell ? ((const apical_cell_model *)e[i].model)->name
                                 : ((const apical_rule *)e[i].model)->name;
        if (strcmp(nm, name) == 0)
            return e[i].model;
    }
    return NULL;
}

/* Edit distance (insertions, deletions, substitutions) between two names,
   ignoring case; names of 64 characters or more count as unrelated
   (SIZE_MAX). */
static size_t name_distance(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), d[2][64];
    if (na >= 64 || nb >= 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t *cur = d[i & 1], *up = d[(i - 1) & 1];
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            int same = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]);
            size_t del = up[j] + 1, ins = cur[j - 1] + 1, sub = up[j - 1] + !same;
            cur[j] = del < ins ? del : ins;
            if (sub < cur[j])
                cur[j] = sub;
        }
    }
    return d[na & 1][nb];
}

/* A name within this distance of a missing one is offered as what was meant. */
#define NEAR_NAME 3

/* A missing model NAME: load the modules on the path whose file names are
   near it (a file's stem is the name it is looked up by), then return the
   nearest loaded model name of the kind, or NULL. */
static const char *nearest_name(apical_registry *r, const char *name, int is_cell)
{
    char dir[4096], file[8192], err[1024];
    for (const char *p = r->path; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)len, p);
        DIR *d = len ? opendir(dir) : NULL;
        for (struct dirent *e; d && (e = readdir(d));) {
            size_t l = strlen(e->d_name);
            char stem[256];
            if (l < 4 || l - 3 >= sizeof stem || strcmp(e->d_name + l - 3, ".so") != 0)
                continue;
            snprintf(stem, sizeof stem, "%.*s", (int)(l - 3), e->d_name);
            snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
            if (name_distance(name, stem) < NEAR_NAME)
                apical_registry_load_file(r, file, err, sizeof err); /* not a module: no offer */
        }
        if (d)
            closedir(d);
        p += len;
        if (*p == ':')
            p++;
    }
    const entry *e = is_cell ? r->cells : r->rules;
    size_t n = is_cell ? r->n_cells : r->n_rules, best_d = NEAR_NAME;
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *nm = is_cell ? ((const apical_cell_model *)e[i].model)->name
                                 : ((const apical_rule *)e[i].model)->name;
        size_t dist = name_distance(name, nm);
        if (dist < best_d) {
            best_d = dist;
            best = nm;
        }
    }
    return best;
}

/* "; did you mean 'NAME'?" after ERR when a model of the kind has a name
   near the missing one. */
static void offer_nearest(apical_registry *r, const char *name, int is_cell, char *err,
                          size_t cap)
{
    const char *near = nearest_name(r, name, is_cell);
    size_t used = strlen(err);
    if (near && used < cap)
        snprintf(err + used, cap - used, "; did you mean '%s'?", near);
}

/* Try <dir>/<name>.so for each directory on the path. */
static const void *find(apical_registry *r, const char *name, int is_cell, char *err, size_t cap)
{
    const void *m = is_cell ? find_loaded(r->cells, r->n_cells, 1, name)
                            : find_loaded(r->rules, r->n_rules, 0, name);
    if (m)
        return m;
    const char *kind = is_cell ? "cell model" : "plasticity rule";
    if (!*name || strchr(name, '/')) {
        snprintf(err, cap, "invalid %s name '%s'", kind, name);
        return NULL;
    }
    char file[4096];
    const char *p = r->path;
    while (*p) {
        size_t len = strcspn(p, ":");
        if (len > 0) {
            snprintf(file, sizeof file, "%.*s/%s.so", (int)len, p, name);
            FILE *f = fopen(file, "rb");
            if (f) {
                fclose(f);
                if (apical_registry_load_file(r, file, err, cap) != 0)
                    return NULL;
                m = is_cell ? find_loaded(r->cells, r->n_cells, 1, name)
                            : find_loaded(r->rules, r->n_rules, 0, name);
                if (m)
                    return m;
                snprintf(err, cap, "%s loaded but holds no %s named '%s'", file, kind, name);
                offer_nearest(r, name, is_cell, err, cap);
                return NULL;
            }
        }
        p += len;
        if (*p == ':')
            p++;
    }
    snprintf(err, cap, "no %s '%s': looked for %s.so in %s (set APICAL_MODULE_PATH)", kind,
             name, name, r->path);
    offer_nearest(r, name, is_cell, err, cap);
    return NULL;
}

const apical_cell_model *apical_registry_cell(apical_registry *r, const char *name, char *err,
                                              size_t cap)
{
    return find(r, name, 1, err, cap);
}

const apical_rule *apical_registry_rule(apical_registry *r, const char *name, char *err,
                                        size_t cap)
{
    return find(r, name, 0, err, cap);
}

int apical_registry_scan(apical_registry *r, apical_skip_fn skipped, void *user)
{
    char dir[4096], file[8192], err[1024];
    const char *p = r->path;
    int n = 0;
    while (*p) {
        size_t len = strcspn(p, ":");
        snprintf(dir, sizeof dir, "%.*s", (int)len, p);
        DIR *d = len ? opendir(dir) : NULL;
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                if (l < 4 || strcmp(e->d_name + l - 3, ".so") != 0)
                    continue;
                snprintf(file, sizeof file, "%s/%s", dir, e->d_name);
                if (apical_registry_load_file(r, file, err, sizeof err) == 0)
                    n++;
                else if (skipped)
                    skipped(user, file, err);
            }
            closedir(d);
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return n;
}

static int by_cell_name(const void *a, const void *b)
{
    return strcmp(((const apical_cell_model *)((const entry *)a)->model)->name,
                  ((const apical_cell_model *)((const entry *)b)->model)->name);
}

static int by_rule_name(const void *a, const void *b)
{
    return strcmp(((const apical_rule *)((const entry *)a)->model)->name,
                  ((const apical_rule *)((const entry *)b)->model)->name);
}

void apical_registry_sort(apical_registry *r)
{
    if (r->n_cells)
        qsort(r->cells, r->n_cells, sizeof *r->cells, by_cell_name);
    if (r->n_rules)
        qsort(r->rules, r->n_rules, sizeof *r->rules, by_rule_name);
}

/* ---- machine-readable tables -------------------------------------------- */

static void yq(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void ynum(FILE *f, double v)
{
    if (isinf(v))
        fputs(v > 0 ? ".inf" : "-.inf", f);
    else if (isnan(v))
        fputs(".nan", f);
    else
        fprintf(f, "%.17g", v);
}

static void yparams(FILE *f, const apical_param *p, size_t n, const char *indent)
{
    fprintf(f, "%sparams:%s\n", indent, n ? "" : " []");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s  - {name: ", indent);
        yq(f, p[i].name);
        fputs(", unit: ", f);
        yq(f, p[i].unit);
        fputs(", default: ", f);
        ynum(f, p[i].def);
        fputs(", min: ", f);
        ynum(f, p[i].min);
        fputs(", max: ", f);
        ynum(f, p[i].max);
        if (p[i].choices) {
            fputs(", choices: [", f);
            for (size_t k = 0; p[i].choices[k]; k++) {
                fputs(k ? ", " : "", f);
                yq(f, p[i].choices[k]);
            }
            fputc(']', f);
        }
        fputs(", doc: ", f);
        yq(f, p[i].doc);
        fputs("}\n", f);
    }
}

static void yvars(FILE *f, const char *key, const apical_var *v, size_t n, int state)
{
    fprintf(f, "    %s:%s\n", key, n ? "" : " []");
    for (size_t i = 0; i < n; i++) {
        fputs("      - {name: ", f);
        yq(f, v[i].name);
        fputs(", unit: ", f);
        yq(f, v[i].unit);
        if (state)
            fprintf(f, ", noisy: %s", v[i].flags & APICAL_VAR_NOISY ? "true" : "false");
        fputs(", doc: ", f);
        yq(f, v[i].doc);
        fputs("}\n", f);
    }
}

/* The fields every module entry starts with; the line stays open. */
static void yentry(FILE *f, const char *name, const char *version, const char *file,
                   const char *doc)
{
    fputs("  - name: ", f);
    yq(f, name);
    fputs("\n    version: ", f);
    yq(f, version);
    fputs("\n    file: ", f);
    yq(f, file);
    fputs("\n    doc: ", f);
    yq(f, doc);
}

int apical_registry_write_yaml(const apical_registry *r, FILE *f)
{
    fprintf(f, "apical_abi: \"%u.%u\"\nmodule_path: ", APICAL_ABI_MAJOR, APICAL_ABI_MINOR);
    yq(f, r->path);
    fprintf(f, "\ncells:%s\n", r->n_cells ? "" : " []");
    for (size_t i = 0; i < r->n_cells; i++) {
        const apical_cell_model *m = r->cells[i].model;
        yentry(f, m->name, m->version, r->cells[i].file, m->doc);
        fprintf(f, "\n    jacobian: %s\n", m->jacobian ? "true" : "false");
        yparams(f, m->params, m->n_params, "    ");
        yvars(f, "state", m->state, m->n_state, 1);
        yvars(f, "ports", m->ports, m->n_ports, 0);
        fprintf(f, "    observables:%s\n", m->n_obs ? "" : " []");
        for (size_t k = 0; k < m->n_obs; k++) {
            fputs("      - {name: ", f);
            yq(f, m->obs[k].name);
            fputs(", unit: ", f);
            yq(f, m->obs[k].unit);
            fprintf(f, ", stage: %s, doc: ",
                    m->obs[k].stage == APICAL_OBS_STATE ? "state" : "ports");
            yq(f, m->obs[k].doc);
            fputs("}\n", f);
        }
    }
    fprintf(f, "rules:%s\n", r->n_rules ? "" : " []");
    for (size_t i = 0; i < r->n_rules; i++) {
        const apical_rule *u = r->rules[i].model;
        yentry(f, u->name, u->version, r->rules[i].file, u->doc);
        fputs("\n    post_obs: ", f);
        yq(f, u->post_obs);
        fprintf(f, "\n    aux_matrices: %zu\n", u->n_aux);
        yparams(f, u->params, u->n_params, "    ");
    }
    return ferror(f) ? -1 : 0;
}

size_t apical_registry_n_cells(const apical_registry *r) { return r->n_cells; }
size_t apical_registry_n_rules(const apical_registry *r) { return r->n_rules; }

const apical_cell_model *apical_registry_cell_at(const apical_registry *r, size_t i,
                                                 const char **file)
{
    if (file)
        *file = r->cells[i].file;
    return r->cells[i].model;
}

const apical_rule *apical_registry_rule_at(const apical_registry *r, size_t i, const char **file)
{
    if (file)
        *file = r->rules[i].file;
    return r->rules[i].model;
}
