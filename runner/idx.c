/*
 * idx.c -- IDX files (the MNIST format): a big-endian header of magic
 * 0x0000TTNN (TT the element type, NN the number of dimensions), NN
 * 32-bit sizes, then the elements.  Only unsigned bytes (TT = 0x08) are
 * read, the type of MNIST and Fashion-MNIST images and labels.  Every field
 * is checked, and the file size must be exactly header plus elements.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "circuit_int.h"

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int apical_idx_read_stream(FILE *f, const char *name, apical_idx *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    unsigned char head[4], dim[4];
    if (fread(head, 1, 4, f) != 4) {
        snprintf(err, cap, "%s: not an IDX file: shorter than its 4-byte magic number", name);
        return -1;
    }
    if (head[0] != 0 || head[1] != 0) {
        snprintf(err, cap, "%s: not an IDX file: magic number %08x does not start with two "
                 "zero bytes", name, be32(head));
        return -1;
    }
    if (head[2] != 0x08) {
        snprintf(err, cap, "%s: IDX element type 0x%02x; apical reads unsigned bytes (0x08)",
                 name, head[2]);
        return -1;
    }
    size_t nd = head[3];
    if (nd < 1 || nd > APICAL_IDX_MAX_DIMS) {
        snprintf(err, cap, "%s: IDX file with %zu dimensions (expected 1 to %d)", name, nd,
                 APICAL_IDX_MAX_DIMS);
        return -1;
    }
    size_t count = 1;
    for (size_t i = 0; i < nd; i++) {
        if (fread(dim, 1, 4, f) != 4) {
            snprintf(err, cap, "%s: truncated IDX header (dimension %zu of %zu missing)", name,
                     i + 1, nd);
            return -1;
        }
        out->dims[i] = be32(dim);
        if (out->dims[i] == 0 || count > ((size_t)1 << 40) / out->dims[i]) {
            snprintf(err, cap, "%s: IDX dimension %zu is %zu (must be at least 1, and the "
                     "file at most 1 TB)", name, i + 1, out->dims[i]);
            return -1;
        }
        count *= out->dims[i];
    }
    out->n_dims = nd;
    out->count = count;
    /* the file must hold exactly the elements: read in chunks, so that a
       header claiming too much fails on the data, not on malloc */
    size_t have = 0, alloc = 0;
    while (have < count) {
        size_t want = count - have < ((size_t)1 << 24) ? count - have : (size_t)1 << 24;
        if (have + want > alloc) {
            size_t na = alloc ? 2 * alloc : want;
            if (na > count)
                na = count;
            unsigned char *d = realloc(out->data, na);
            if (!d) {
                snprintf(err, cap, "%s: out of memory for %zu bytes", name, na);
                apical_idx_free(out);
                return -1;
            }
            out->data = d;
            alloc = na;
        }
        size_t got = fread(out->data + have, 1, want, f);
        have += got;
        if (got < want) {
            snprintf(err, cap, "%s: truncated: the header promises %zu bytes of data, the file "
                     "holds %zu", name, count, have);
            apical_idx_free(out);
            return -1;
        }
    }
    if (fgetc(f) != EOF) {
        snprintf(err, cap, "%s: %zu bytes of data and more after them: not the IDX file its "
                 "header describes", name, count);
        apical_idx_free(out);
        return -1;
    }
    return 0;
}

/* A gzip file (Fashion-MNIST as Debian ships it) inflated into memory;
   NULL with a message on error. */
static unsigned char *gunzip(const char *file, size_t *len, char *err, size_t cap)
{
    gzFile g = gzopen(file, "rb");
    if (!g) {
        snprintf(err, cap, "%s: cannot open: %s", file, strerror(errno));
        return NULL;
    }
    size_t size = 0, room = 1 << 20;
    unsigned char *buf = malloc(room);
    int n = 0;
    while (buf && (n = gzread(g, buf + size, (unsigned)(room - size))) > 0) {
        size += (size_t)n;
        if (size == room) {
            unsigned char *b = room < ((size_t)1 << 31) ? realloc(buf, room * 2) : NULL;
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            room *= 2;
        }
    }
    if (!buf || n < 0) {
        int zerr = 0;
        const char *why = buf ? gzerror(g, &zerr) : "out of memory (or over 2 GB)";
        snprintf(err, cap, "%s: cannot inflate: %s", file, why);
        free(buf);
        gzclose(g);
        return NULL;
    }
    gzclose(g);
    *len = size;
    return buf;
}

int apical_idx_read(const char *file, apical_idx *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, cap, "%s: cannot open: %s", file, strerror(errno));
        return -1;
    }
    unsigned char magic[2] = { 0, 0 };
    size_t got = fread(magic, 1, 2, f);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) { /* gzip */
        fclose(f);
        size_t len = 0;
        unsigned char *buf = gunzip(file, &len, err, cap);
        if (!buf)
            return -1;
        FILE *m = len ? fmemopen(buf, len, "rb") : NULL;
        int rc;
        if (!m) {
            snprintf(err, cap, "%s: not an IDX file: empty once inflated", file);
            rc = -1;
        } else {
            rc = apical_idx_read_stream(m, file, out, err, cap);
            fclose(m);
        }
        free(buf);
        return rc;
    }
    rewind(f);
    int rc = apical_idx_read_stream(f, file, out, err, cap);
    fclose(f);
    return rc;
}

void apical_idx_free(apical_idx *x)
{
    free(x->data);
    memset(x, 0, sizeof *x);
}

int apical_mnist_check(const apical_idx *images, const apical_idx *labels, const char *what,
                       char *err, size_t cap)
{
    if (images->n_dims != 3 || images->dims[1] != 28 || images->dims[2] != 28) {
        snprintf(err, cap, "%s images: expected N x 28 x 28 bytes", what);
        return -1;
    }
    if (labels->n_dims != 1 || labels->dims[0] != images->dims[0]) {
        snprintf(err, cap, "%s labels: expected %zu labels, one per image", what,
                 images->dims[0]);
        return -1;
    }
    for (size_t i = 0; i < labels->count; i++)
        if (labels->data[i] > 9) {
            snprintf(err, cap, "%s labels: label %zu is %u, not a digit class 0-9", what, i,
                     labels->data[i]);
            return -1;
        }
    return 0;
}
