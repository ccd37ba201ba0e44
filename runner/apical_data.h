/*
 * apical_data.h -- numeric tables (CSV) and IDX files (MNIST) read for stimuli and weights.
 *
 * Part of libapical's public API (apical_runner.h includes every part).
 * Functions that can fail return 0 on success and a non-zero status on
 * failure, with a one-line message in the caller's err buffer (err, errcap).
 * Nothing here prints or exits.
 */
#ifndef APICAL_DATA_H
#define APICAL_DATA_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- numeric tables (csv.c) ------------------------------------------- */

typedef struct apical_table {
    size_t rows, cols;
    double *data;           /* row-major */
} apical_table;

/* Read a CSV/whitespace table; errors name FILE:LINE:COL. */
int apical_csv_read(const char *file, apical_table *t, char *err, size_t errcap);
/* The same from an open stream; file names it in messages. */
int apical_csv_read_stream(FILE *f, const char *file, apical_table *t, char *err,
                           size_t errcap);
void apical_table_free(apical_table *t);

/* ---- IDX files: MNIST and Fashion-MNIST (idx.c) ------------------------ */

#define APICAL_IDX_MAX_DIMS 4
typedef struct apical_idx {
    size_t n_dims;
    size_t dims[APICAL_IDX_MAX_DIMS];
    size_t count;           /* elements: the product of dims */
    unsigned char *data;    /* unsigned bytes, row-major */
} apical_idx;

/* Read an IDX file of unsigned bytes, checking magic, type, dimensions and
   that the file holds exactly the promised data. */
int apical_idx_read(const char *file, apical_idx *out, char *err, size_t errcap);
int apical_idx_read_stream(FILE *f, const char *name, apical_idx *out, char *err,
                           size_t errcap);
void apical_idx_free(apical_idx *x);
/* Images N x 28 x 28 with N labels 0-9. */
int apical_mnist_check(const apical_idx *images, const apical_idx *labels, const char *what,
                       char *err, size_t errcap);

#ifdef __cplusplus
}
#endif

#endif /* APICAL_DATA_H */
