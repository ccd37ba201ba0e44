/*
 * checkpoint.c -- save and restore everything a run needs to continue
 * bit-identically: states, weights, the rules' filtered terms, the random
 * streams, the stimuli and the run position.
 *
 * The format is this build's own (native byte order and sizes, GSL's
 * generator state as gsl_rng_fwrite writes it), headed by a magic string, a
 * version and the circuit's sizes, which are checked on load.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "circuit_int.h"

#define MAGIC "APICALCK"
#define CKPT_VERSION 1u

/* Where write_all's bytes go: a file, or a running digest. */
typedef struct sink {
    FILE *f;
    uint64_t h; /* FNV-1a, when f is NULL */
} sink;

static int put(sink *k, const void *p, size_t size, size_t n)
{
    if (n == 0)
        return 0;
    if (k->f)
        return fwrite(p, size, n, k->f) == n ? 0 : -1;
    const unsigned char *b = p;
    for (size_t i = 0; i < size * n; i++)
        k->h = (k->h ^ b[i]) * 1099511628211u;
    return 0;
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

/* Layout: magic (8 bytes), version (4), shape (40), pos (48), extra (32,
   the caller's: where its output files end, so these bytes differ between
   runs whose files differ in length; the digest leaves them out), then the
   states, weights, stimuli and generators (each generator's state as
   gsl_rng_fwrite writes it: gsl_rng_size bytes of gsl_rng_state). */
_Static_assert(sizeof(apical_run_pos) == 48, "the checkpoint layout above assumes 48 bytes of pos");
static int write_all(sink *f, const apical_circuit *c, const apical_run_pos *pos,
                     const uint64_t extra[4])
{
    uint32_t version = CKPT_VERSION;
    uint64_t s[5];
    shape(c, s);
    int rc = put(f, MAGIC, 1, 8) | put(f, &version, sizeof version, 1) | put(f, s, 8, 5) |
             put(f, pos, sizeof *pos, 1) | (extra ? put(f, extra, 8, 4) : 0) |
             put(f, c->y, sizeof(double), c->n_y);
    for (size_t i = 0; i < c->n_projs && rc == 0; i++) {
        const apical_proj *p = &c->projs[i];
        size_t nw = apical_proj_n_weights(c, p);
        rc |= put(f, p->w, sizeof(double), nw);
        if (p->rule)
            rc |= put(f, p->aux, sizeof(double), nw * p->rule->n_aux);
    }
    for (size_t i = 0; i < c->n_stims && rc == 0; i++) {
        const apical_stim *st = &c->stims[i];
        uint64_t row = st->next_row;
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
    sink k = { NULL, 14695981039346656037u };
    write_all(&k, c, pos, NULL);
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
    sink k = { f, 0 };
    int rc = write_all(&k, c, pos, extra);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        snprintf(err, cap, "cannot write checkpoint %s: %s", path, strerror(errno));
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

int apical_checkpoint_load(const char *path, apical_circuit *c, apical_run_pos *pos,
                           uint64_t extra[4], char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "cannot read checkpoint %s: %s", path, strerror(errno));
        return -1;
    }
    char magic[8];
    uint32_t version;
    uint64_t s[5], want[5];
    shape(c, want);
    int rc = get(f, magic, 1, 8) | get(f, &version, sizeof version, 1);
    if (rc || memcmp(magic, MAGIC, 8) != 0 || version != CKPT_VERSION) {
        snprintf(err, cap, "%s is not an apical checkpoint (version %u)", path, CKPT_VERSION);
        fclose(f);
        return -1;
    }
    if (get(f, s, 8, 5) || memcmp(s, want, sizeof s) != 0) {
        snprintf(err, cap, "%s belongs to another circuit (%llu states, %llu weights; this one "
                 "has %llu, %llu)", path, (unsigned long long)s[0], (unsigned long long)s[4],
                 (unsigned long long)want[0], (unsigned long long)want[4]);
        fclose(f);
        return -1;
    }
    rc = get(f, pos, sizeof *pos, 1) | get(f, extra, 8, 4) | get(f, c->y, sizeof(double), c->n_y);
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
        st->next_row = (size_t)row;
        if ((st->kind == APICAL_STIM_TABLE && st->next_row >= st->table.rows) ||
            (st->kind == APICAL_STIM_IDX && st->next_row >= st->count))
            rc = -1;
        if (st->has_target)
            rc |= get(f, st->u_trgt, sizeof(double), c->pops[st->tgt].n);
    }
    gsl_rng *const streams[] = { c->rng_init, c->rng_train, c->rng_noise, c->rng_test };
    for (int i = 0; i < 4 && rc == 0; i++)
        rc |= gsl_rng_fread(f, streams[i]) ? -1 : 0;
    char extra_byte;
    if (rc == 0 && fread(&extra_byte, 1, 1, f) != 0)
        rc = -1; /* trailing bytes: not ours */
    fclose(f);
    if (rc != 0) {
        snprintf(err, cap, "%s is truncated or damaged", path);
        return -1;
    }
    return 0;
}
