/*
 * kernels.h -- single-precision products of a weight matrix with a small
 * batch, for the steady-state and backprop modes.
 *
 * A mini-batch of 10 images makes every product "tall matrix times 10
 * vectors".  A general GEMM packs the weight matrix on every call (for
 * each mini-batch) and then runs a kernel tuned for square blocks; these
 * kernels instead stream each weight row once and keep a block of the
 * batch's accumulators in vector registers, so the weights are read (and
 * for the update written) exactly once per call.
 *
 * w is nd x ns row-major; x is nb x ns; e and out are nb x nd.
 */
#ifndef APICAL_KERNELS_H
#define APICAL_KERNELS_H

#include <stddef.h>

/* out[b][i] = sum_j w[i][j] x[b][j] */
void apical_k_forward_f32(size_t nb, size_t nd, size_t ns, const float *w, const float *x,
                          float *out);
void apical_k_forward_f64(size_t nb, size_t nd, size_t ns, const double *w, const double *x,
                          double *out);
/* w[i][j] += f sum_b e[b][i] x[b][j] */
void apical_k_update_f32(size_t nb, size_t nd, size_t ns, float f, const float *e,
                         const float *x, float *w);
void apical_k_update_f64(size_t nb, size_t nd, size_t ns, double f, const double *e,
                         const double *x, double *w);
/* apical_k_update (nbu rows of e and xu) then apical_k_forward (nb rows of
   x), bit for bit, in one pass over w */
void apical_k_update_forward_f32(size_t nbu, size_t nb, size_t nd, size_t ns, float f,
                                 const float *e, const float *xu, float *w, const float *x,
                                 float *out);
void apical_k_update_forward_f64(size_t nbu, size_t nb, size_t nd, size_t ns, double f,
                                 const double *e, const double *xu, double *w, const double *x,
                                 double *out);
/* g[b][j] += sum_i e[b][i] w[i][j] */
void apical_k_backward_f32(size_t nb, size_t nd, size_t ns, const float *w, const float *e,
                           float *g);
void apical_k_backward_f64(size_t nb, size_t nd, size_t ns, const double *w, const double *e,
                           double *g);

#endif
