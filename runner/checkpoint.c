/*
 * checkpoint.c -- save and restore everything a run needs to continue
 * bit-identically: states, weights, the rules' filtered terms, the random
 * streams, the stimuli and the run position.
 *
 * The format is this build's own (native byte order and sizes, GSL's
 * generator state as gsl_rng_fwrite writes it), headed by a magic string, a
 * version, the circuit's sizes and its fingerprint (what it is built of:
 * populations, parameters, projections, rules, stimuli, seed), which are
 * checked on load, and closed by a 64-bit FNV-1a checksum of every byte
 * before it: a truncated, extended or flipped file is refused before any of
 * it is used.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_errno.h>

#include "circuit_int.h"

#define MAGIC "APICALCK"
#define CKPT_VERSION 3u
#define FNV_OFFSET 14695981039346656037u

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211u;
    return h;
}

/* Where the writers' bytes go: a file (f, or none), and a running FNV-1a
   hash of them. */
typedef struct sink {
    FILE *f;
    uint64_t h;
} sink;

static int put(sink *k, const void *p, size_t size, size_t n)
{
    if (n == 0)
        return 0;
    k->h = fnv(k->h, p, size * n);
    return !k->f || fwrite(p, size, n, k->f) == n ? 0 : -1;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    return fnv(h, s, strlen(s) + 1);
}

/* What the circuit is built of, hashed: each population's name, model,
   size, parameters and noise; each projection's ends, port, observable,
   rule and rule parameters; each stimulus's name, kind and size; the seed.
   A checkpoint resumes only into a circuit with the same fingerprint.
   Without params, the same less the parameter values and the noise: the
   circuit's structure, which a fork under changed parameters keeps. */
static uint64_t fingerprint(const apical_circuit *c, int params)
{
    uint64_t h = FNV_OFFSET, seed = c->seed;
    for (size_t i = 0; i < c->n_pops; i++) {
        const apical_pop *p = &c->pops[i];
        uint64_t n = p->n;
        h = fnv(hash_str(hash_str(h, p->name), p->model->name), &n, 8);
        if (params)
            h = fnv(fnv(h, p->p, p->model->n_params * sizeof(double)), &p->sigma,
                    sizeof p->sigma);
    }
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *pj = &c->projs[i];
        uint64_t ends[5] = { pj->src, pj->dst, pj->src_obs, pj->dst_port,
                             (uint64_t)pj->one_to_one };
        h = fnv(h, ends, sizeof ends);
        if (pj->rule)
            h = hash_str(h, pj->rule->name);
        if (pj->rule && params)
            h = fnv(h, pj->rp, pj->rule->n_params * sizeof(double));
    }
    for (size_t i = 0; i < c->n_stims; i++) {
        const apical_stim *st = &c->stims[i];
        uint64_t ks[2] = { (uint64_t)st->kind, st->size };
        h = fnv(hash_str(h, st->name), ks, sizeof ks);
        if (st->perm)
            h = hash_str(h, "shuffle");
    }
    return fnv(h, &seed, sizeof seed);
}

static int get(FILE *f, void *p, size_t size, size_t n)
{
    return n == 0 || fread(p, size, n, f) == n ? 0 : -1;
}

/* The fields that must agree between a checkpoint and the circuit. */
static void shape(const apical_circuit *c, uint64_t s[5])
{
    uint64_t nw = 0;
    for (size_t i = 0; i < c->n_projs; i++) {
        const apical_proj *p = &c->projs[i];
        nw += apical_proj_n_weights(c, p) * (1 + (p->rule ? p->rule->n_aux : 0));
    }
    s[0] = c->n_y;
    s[1] = c->n_pops;
    s[2] = c->n_projs;
    s[3] = c->n_stims;
    s[4] = nw;
}

/* Layout: magic (8 bytes), version (4), shape (40), fingerprint (8), pos
   (48), extra (32, the caller's: where its output files end, so these
   bytes differ between runs whose files differ in length), then the
   states, weights, stimuli and generators (each generator's state as
   gsl_rng_fwrite writes it: gsl_rng_size bytes of gsl_rng_state), then the
   checksum (8).  The digest hashes shape, pos and what follows extra. */
_Static_assert(sizeof(apical_run_pos) == 48, "the checkpoint layout above assumes 48 bytes of pos");
enum { HEADER = 8 + 4 + 40 + 8, BEFORE_BODY = HEADER + 48 + 32 };

static int write_header(sink *f, const apical_circuit *c)
{
    uint32_t version = CKPT_VERSION;
    uint64_t s[5], fp = fingerprint(c, 1);
    shape(c, s);
    return put(f, MAGIC, 1, 8) | put(f, &version, sizeof version, 1) | put(f, s, 8, 5) |
           put(f, &fp, 8, 1);
}

static int write_body(sink *f, const apical_circuit *c)
{
    int rc = put(f, c->y, sizeof(double), c->n_y);
    for (size_t i = 0; i < c->n_projs && rc == 0; i++) {
        const apical_proj *p = &c->projs[i];
        size_t nw = apical_proj_n_weights(c, p);
        rc |= put(f, p->w, sizeof(double), nw);
        if (p->rule)
            rc |= put(f, p->aux, sizeof(double), nw * p->rule->n_aux);
    }
    for (size_t i = 0; i < c->n_stims && rc == 0; i++) {
        const apical_stim *st = &c->stims[i];
        /* shuffled: the passes completed too, row + pass rows */
        uint64_t row = st->next_row + (st->perm ? st->pass * apical_stim_rows(st) : 0);
        rc |= put(f, &row, 8, 1) | put(f, st->x, sizeof(double), st->size);
        if (st->has_target)
            rc |= put(f, st->u_trgt, sizeof(double), c->pops[st->tgt].n);
    }
    gsl_rng *const streams[] = { c->rng_init, c->rng_train, c->rng_noise, c->rng_test };
    for (int i = 0; i < 4 && rc == 0; i++)
        rc |= put(f, gsl_rng_state(streams[i]), gsl_rng_size(streams[i]), 1);
    return rc;
}

uint64_t apical_checkpoint_digest(const apical_circuit *c, const apical_run_pos *pos)
{
    sink k = { NULL, FNV_OFFSET };
    uint64_t s[5];
    shape(c, s);
    put(&k, s, 8, 5);
    put(&k, pos, sizeof *pos, 1);
    write_body(&k, c);
    return k.h;
}

int apical_checkpoint_save(const char *path, const apical_circuit *c, const apical_run_pos *pos,
                           const uint64_t extra[4], char *err, size_t cap)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, cap, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    sink k = { f, FNV_OFFSET };
    /* the first failure's errno is the reason given */
    int rc = write_header(&k, c) | put(&k, pos, sizeof *pos, 1) | put(&k, extra, 8, 4) |
             write_body(&k, c), e = rc ? errno : 0;
    uint64_t sum = k.h;
    if (rc == 0 && fwrite(&sum, 8, 1, f) != 1)
        rc = -1, e = errno;
    if ((fflush(f) != 0 || fsync(fileno(f)) != 0) && !e)
        rc = -1, e = errno;
    if (fclose(f) != 0 && !e)
        rc = -1, e = errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1, e = errno;
    if (rc != 0) {
        snprintf(err, cap, "cannot write checkpoint %s: %s", path, strerror(e ? e : EIO));
        remove(tmp);
        return -1;
    }
    /* make the rename itself durable */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    int fd = open(slash ? dir : ".", O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}

/* The whole file into memory, its size in *n (NULL, with a message, when
   it cannot be read). */
static unsigned char *slurp(const char *path, size_t *n, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "cannot read checkpoint %s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc(size ? (size_t)size : 1)) &&
        fread(buf, 1, (size_t)size, f) == (size_t)size) {
        fclose(f);
        *n = (size_t)size;
        return buf;
    }
    snprintf(err, cap, "cannot read checkpoint %s: %s", path,
             size >= 0 && !buf ? "out of memory" : strerror(errno));
    free(buf);
    fclose(f);
    return NULL;
}

/* A run position that no run reaches: negative counts, a step size that
   is not a finite non-negative number, a stimulus the circuit lacks. */
static int bad_pos(const apical_circuit *c, const apical_run_pos *pos)
{
    return pos->in_phase < 0 || pos->pattern < 0 || pos->step < 0 || !isfinite(pos->h) ||
           pos->h < 0 || (c->n_stims && pos->last_stim >= c->n_stims) ||
           pos->in_phase > pos->pattern + 1 || pos->phase > (uint64_t)1 << 40;
}

/* The header, position and body of a checkpoint whose checksum holds, from
   an in-memory stream, written by the circuit written_by and read into c
   (the same circuit, or one that differs from it in parameters only). */
static int read_checked(FILE *f, const char *path, apical_circuit *c,
                        const apical_circuit *written_by, apical_run_pos *pos,
                        uint64_t extra[4], char *err, size_t cap)
{
    char magic[8];
    uint32_t version;
    uint64_t s[5], want[5], fp;
    shape(c, want);
    int rc = get(f, magic, 1, 8) | get(f, &version, sizeof version, 1) | get(f, s, 8, 5) |
             get(f, &fp, 8, 1);
    if (rc || memcmp(magic, MAGIC, 8) != 0) {
        snprintf(err, cap, "%s is not an apical checkpoint", path);
        return -1;
    }
    if (version != CKPT_VERSION) {
        snprintf(err, cap, "%s is a checkpoint of format %u; this build reads format %u", path,
                 version, CKPT_VERSION);
        return -1;
    }
    if (memcmp(s, want, sizeof s) != 0) {
        snprintf(err, cap, "%s belongs to another circuit (%llu states, %llu weights; this one "
                 "has %llu, %llu)", path, (unsigned long long)s[0], (unsigned long long)s[4],
                 (unsigned long long)want[0], (unsigned long long)want[4]);
        return -1;
    }
    if (fp != fingerprint(written_by, 1)) {
        snprintf(err, cap, "%s belongs to another circuit of the same shape (other names, "
                 "parameters, rules, stimuli or seed)", path);
        return -1;
    }
    if (written_by != c && fingerprint(c, 0) != fingerprint(written_by, 0)) {
        snprintf(err, cap, "%s: only parameters may change when a run goes on (the names, "
                 "models, sizes, projections, rules, stimuli and seed stay)", path);
        return -1;
    }
    if (get(f, pos, sizeof *pos, 1) | get(f, extra, 8, 4) || bad_pos(c, pos)) {
        snprintf(err, cap, "%s holds a run position no run reaches", path);
        return -1;
    }
    rc = get(f, c->y, sizeof(double), c->n_y);
    for (size_t i = 0; i < c->n_projs && rc == 0; i++) {
        apical_proj *p = &c->projs[i];
        size_t nw = apical_proj_n_weights(c, p);
        rc |= get(f, p->w, sizeof(double), nw);
        if (p->rule)
            rc |= get(f, p->aux, sizeof(double), nw * p->rule->n_aux);
    }
    for (size_t i = 0; i < c->n_stims && rc == 0; i++) {
        apical_stim *st = &c->stims[i];
        uint64_t row;
        rc |= get(f, &row, 8, 1) | get(f, st->x, sizeof(double), st->size);
        const size_t rows = apical_stim_rows(st);
        st->next_row = (size_t)row;
        if (st->perm && rc == 0) {
            st->next_row = (size_t)(row % rows);
            st->pass = row / rows;
            apical_stim_draw_order(st);
        } else if (rows && st->next_row >= rows) {
            rc = -1;
        }
        if (st->has_target)
            rc |= get(f, st->u_trgt, sizeof(double), c->pops[st->tgt].n);
    }
    gsl_rng *const streams[] = { c->rng_init, c->rng_train, c->rng_noise, c->rng_test };
    for (int i = 0; i < 4 && rc == 0; i++)
        rc |= gsl_rng_fread(f, streams[i]) ? -1 : 0;
    if (rc != 0)
        snprintf(err, cap, "%s does not fit this circuit's layout", path);
    return rc;
}

uint64_t apical_checkpoint_checksum(const void *buf, size_t n)
{
    return fnv(FNV_OFFSET, buf, n);
}

/* A checkpoint held in memory, written by written_by, read into c. */
static int read_as(const void *data, size_t n, const char *path, apical_circuit *c,
                   const apical_circuit *written_by, apical_run_pos *pos, uint64_t extra[4],
                   char *err, size_t cap)
{
    const unsigned char *buf = data;
    uint64_t sum;
    if (n < BEFORE_BODY + 8 || (memcpy(&sum, buf + n - 8, 8), sum != fnv(FNV_OFFSET, buf, n - 8))) {
        snprintf(err, cap, "%s is truncated or damaged (%s)", path,
                 n < BEFORE_BODY + 8 ? "too short" : "its checksum does not match");
        return -1;
    }
    /* the body must fill the file exactly: read it from memory, with GSL's
       error handler off (a short generator state is a status, not an abort) */
    FILE *f = fmemopen((void *)buf, n - 8, "rb");
    if (!f) {
        snprintf(err, cap, "cannot read checkpoint %s: %s", path, strerror(errno));
        return -1;
    }
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int rc = read_checked(f, path, c, written_by, pos, extra, err, cap);
    char extra_byte;
    if (rc == 0 && fread(&extra_byte, 1, 1, f) != 0) {
        snprintf(err, cap, "%s is longer than this circuit's checkpoint", path);
        rc = -1;
    }
    gsl_set_error_handler(old);
    fclose(f);
    return rc;
}

int apical_checkpoint_load_as(const char *path, apical_circuit *c,
                              const apical_circuit *written_by, apical_run_pos *pos,
                              uint64_t extra[4], char *err, size_t cap)
{
    size_t n = 0;
    unsigned char *buf = slurp(path, &n, err, cap);
    if (!buf)
        return -1;
    int rc = read_as(buf, n, path, c, written_by, pos, extra, err, cap);
    free(buf);
    return rc;
}

int apical_checkpoint_load(const char *path, apical_circuit *c, apical_run_pos *pos,
                           uint64_t extra[4], char *err, size_t cap)
{
    return apical_checkpoint_load_as(path, c, c, pos, extra, err, cap);
}

int apical_checkpoint_read(const void *data, size_t n, const char *path, apical_circuit *c,
                           apical_run_pos *pos, uint64_t extra[4], char *err, size_t cap)
{
    return read_as(data, n, path, c, c, pos, extra, err, cap);
}

