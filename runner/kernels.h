/*
 * kernels.h -- products of a weight matrix with a small batch, for the
 * steady-state and backprop modes, in single and double precision.
 *
 * A mini-batch of 10 images makes every product "tall matrix times 10
 * vectors".  A general GEMM packs the weight matrix on every call (for
 * each mini-batch) and then runs a kernel tuned for square blocks.  These
 * kernels keep the weights packed once, in panels: rows in blocks of
 * apical_k_panel_rows() (two vector widths: 32 floats or 16 doubles with
 * AVX-512), each panel stored column by column, so that column j of a
 * panel is two aligned vectors.  A panel then streams past once per call
 * while the batch's accumulators (forward) or coefficients (update) stay
 * in 20 vector registers, and no sum across vector lanes is needed: each
 * lane is one output row.  Element (i, j) of an nd x ns matrix sits at
 * (i / PR) PR ns + j PR + i % PR; rows beyond nd are zero.
 *
 * x, e and out are row-major: x nb x ns, e and out nb x nd.  A product
 * with W^T (backprop's error) is the forward product of a second copy
 * packed from W^T (apical_k_pack_t), kept equal to W bit for bit: update
 * it with f = 1, e = x and x = f e (each weight then gets the same
 * products, fma(f e, x, w) = fma(x, f e, w), in the same order).
 * Every output element is computed by one thread in a fixed order, so the
 * results do not depend on the number of threads.
 */
#ifndef APICAL_KERNELS_H
#define APICAL_KERNELS_H

#include <stddef.h>

#define APICAL_KERNELS(T, S)                                                                  \
    /* rows per panel */                                                                      \
    size_t apical_k_panel_rows_##S(void);                                                     \
    /* elements of a packed nd x ns matrix */                                                 \
    size_t apical_k_packed_size_##S(size_t nd, size_t ns);                                    \
    /* row-major w (nd x ns) into panels wp, and back */                                      \
    void apical_k_pack_##S(size_t nd, size_t ns, const double *w, T *wp);                     \
    void apical_k_unpack_##S(size_t nd, size_t ns, const T *wp, double *w);                   \
    /* W^T (ns x nd) of row-major w (nd x ns) into panels */                                  \
    void apical_k_pack_t_##S(size_t nd, size_t ns, const double *w, T *wp);                   \
    /* out[b][i] = sum_j w[i][j] x[b][j] */                                                   \
    void apical_k_forward_##S(size_t nb, size_t nd, size_t ns, const T *wp, const T *x,       \
                              T *out);                                                        \
    /* w[i][j] += f sum_b e[b][i] x[b][j], b in order */                                      \
    void apical_k_update_##S(size_t nb, size_t nd, size_t ns, T f, const T *e, const T *x,    \
                             T *wp);                                                          \
    /* apical_k_update (nbu rows of e and xu) then apical_k_forward (nb rows of x), bit for   \
       bit, in one pass over the panels */                                                    \
    void apical_k_update_forward_##S(size_t nbu, size_t nb, size_t nd, size_t ns, T f,        \
                                     const T *e, const T *xu, T *wp, const T *x, T *out);


APICAL_KERNELS(float, f32)
APICAL_KERNELS(double, f64)

#undef APICAL_KERNELS

#endif
