/*
 * matvec.h -- the dendrites' products of the Euler step: rows [lo, hi) of
 * W x added to out[lo .. hi), W row-major (row k at w + k n).
 *
 * Rows go four at a time, each with its own two accumulators, so sixteen
 * multiply-adds are in flight where one row's dot product would wait on
 * its own chain; with AVX-512 a row's last partial vector is one masked
 * load, so short rows (30 or 50 cells) have no scalar tail.  Each row's
 * sum is formed in the same order whether it goes in a group of four or
 * alone, so the results do not depend on how rows are cut among threads.
 * Three element types:
 *
 *   f64  double weights, double x and sums;
 *   f32  float weights, float x and sums;
 *   f16  IEEE half-precision weights (binary16, as uint16_t bits), widened
 *        to float (vcvtph2ps where the target has F16C or AVX-512), float x
 *        and sums.  Half the bytes of f32: the 1.41 M weights of
 *        784-500-500-10 take 2.8 MB where float copies take 5.6 MB, both
 *        read from L3 every step here (two cores with 1 MB of L2 each).  Rounding a weight to half changes it by at most
 *        2^-11 of itself (normal range, |w| >= 2^-14) or 2^-25 (below).
 */
#ifndef APICAL_MATVEC_H
#define APICAL_MATVEC_H

#include <stddef.h>
#include <stdint.h>

void apical_mv_f64(size_t n, const double *w, const double *x, size_t lo, size_t hi,
                   double *out);
void apical_mv_f32(size_t n, const float *w, const float *x, size_t lo, size_t hi, double *out);
void apical_mv_f16(size_t n, const uint16_t *w, const float *x, size_t lo, size_t hi,
                   double *out);

/* The same products with nb vectors, x + b ldx into out + b ldo (b < nb),
   the weights read once for all of them; each column's bits equal those
   of apical_mv_* with that vector alone. */
void apical_mm_f64(size_t n, const double *w, const double *x, size_t ldx, size_t nb, size_t lo,
                   size_t hi, double *out, size_t ldo);
void apical_mm_f32(size_t n, const float *w, const float *x, size_t ldx, size_t nb, size_t lo,
                   size_t hi, double *out, size_t ldo);
void apical_mm_f16(size_t n, const uint16_t *w, const float *x, size_t ldx, size_t nb,
                   size_t lo, size_t hi, double *out, size_t ldo);

/* dst[i] = half(src[i]) for i < count (round to nearest even); returns the
   number of values that do not fit (|v| >= 65520: they become infinite) */
size_t apical_f16_from_f32(size_t count, const float *src, uint16_t *dst);
size_t apical_f16_from_f64(size_t count, const double *src, uint16_t *dst);

/* IEEE binary16 bits of a float, rounded to nearest (ties to even), and
   back: the portable scalar forms. */
uint16_t apical_half_from_float(float f);
float apical_float_from_half(uint16_t h);

#endif
