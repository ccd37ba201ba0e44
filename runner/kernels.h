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
 * x, e, out and g are row-major: x nb x ns, e and out nb x nd, g nb x ns.
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
    /* out[b][i] = sum_j w[i][j] x[b][j] */                                                   \
    void apical_k_forward_##S(size_t nb, size_t nd, size_t ns, const T *wp, const T *x,       \
                              T *out);                                                        \
    /* w[i][j] += f sum_b e[b][i] x[b][j], b in order */                                      \
    void apical_k_update_##S(size_t nb, size_t nd, size_t ns, T f, const T *e, const T *x,    \
                             T *wp);                                                          \
    /* apical_k_update (nbu rows of e and xu) then apical_k_forward (nb rows of x), bit for   \
       bit, in one pass over the panels */                                                    \
    void apical_k_update_forward_##S(size_t nbu, size_t nb, size_t nd, size_t ns, T f,        \
                                     const T *e, const T *xu, T *wp, const T *x, T *out);     \
    /* g[b][j] += sum_i e[b][i] w[i][j]; scratch holds nb x (nd rounded up to panels) */      \
    void apical_k_backward_##S(size_t nb, size_t nd, size_t ns, const T *wp, const T *e,      \
                               T *g, T *scratch);

APICAL_KERNELS(float, f32)
APICAL_KERNELS(double, f64)

#undef APICAL_KERNELS

#endif
