/*
 * lowpass_hebb.h -- the low-pass filtered error-times-rate rule shared by
 * the plasticity modules (docs/model.md 1.8):
 *
 *   tau_w dDelta/dt = -Delta + e r_pre^T,     dW/dt = eta Delta
 *
 * with the postsynaptic error e = sign * post + offset.  tau_w = 0 drops the
 * filter: dW/dt = eta e r_pre^T.  Delta is the rule's one auxiliary matrix.
 */
#ifndef APICAL_LOWPASS_HEBB_H
#define APICAL_LOWPASS_HEBB_H

#include <gsl/gsl_cblas.h>

#include <stdint.h>
#include <string.h>

#include "apical.h"

static inline int lowpass_hebb_dwdt(const apical_rule_ctx *c, double eta, double tau_w,
                                    double sign, double offset, const double *w,
                                    const double *delta, double *dw, double *ddelta)
{
    (void)w;
    const size_t m = c->n_post, n = c->n_pre;
    const double *pre = c->pre;
    for (size_t i = 0; i < m; i++) {
        const double e = sign * c->post[i] + offset;
        const double *d = delta + i * n;
        double *dwi = dw + i * n, *ddi = ddelta + i * n;
        if (tau_w > 0) {
            for (size_t j = 0; j < n; j++) {
                dwi[j] = eta * d[j];
                ddi[j] = (e * pre[j] - d[j]) / tau_w;
            }
        } else {
            for (size_t j = 0; j < n; j++) {
                dwi[j] = eta * e * pre[j];
                ddi[j] = 0;
            }
        }
    }
    return APICAL_OK;
}

static inline int lowpass_hebb_euler(const apical_rule_ctx *c, double eta, double tau_w,
                                     double sign, double offset, double dt, double *w,
                                     double *delta)
{
    const size_t m = c->n_post, n = c->n_pre;
    const double *restrict pre = c->pre;
    const double step = dt * eta;
    for (size_t i = 0; i < m; i++) {
        const double e = sign * c->post[i] + offset;
        double *restrict wi = w + i * n;
        double *restrict di = delta + i * n;
        if (tau_w > 0) {
            /* W uses Delta(t) before Delta advances: forward Euler of both */
            const double a = dt / tau_w, ae = a * e;
            for (size_t j = 0; j < n; j++) {
                wi[j] += step * di[j];
                di[j] += ae * pre[j] - a * di[j];
            }
        } else {
            const double se = step * e;
            for (size_t j = 0; j < n; j++)
                wi[j] += se * pre[j];
        }
    }
    return APICAL_OK;
}

/* GCC/Clang vectors of 8 doubles: AVX-512 where the target has it, pairs or
   quads of narrower registers otherwise.  aligned(8) and may_alias let them
   load straight from the weight rows. */
typedef double lph_v8 __attribute__((vector_size(64), aligned(8), may_alias));

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Rows w0 + r n, r < R (R = 1, 2 or 4, a constant at each call, so that
   the inlined copy keeps its accumulators in registers): W += sg D +
   sum_j ew_j P_j; D = qk D + sum_j ed_j P_j, with ew_j = ew[j * stride + r]
   for row r.  Blocks of 16 and 8 columns hold R rows' chains side by side
   (a chain of multiply-adds waits four cycles on itself: rows of 10-50 cells
   are otherwise bound by that latency); the last n mod 8 columns are one
   masked vector per row with AVX-512, scalar otherwise.  Every weight gets
   the same operations in every path, fma(sg, D, W) and qk D, then one fma
   per step, so how rows are grouped (and cut among threads) does not change
   a bit. */
static inline void lowpass_rows(double *w0, double *d0, size_t n, size_t k, const double *pre,
                                const double *ew, const double *ed, size_t stride, double sg,
                                double qk, int R)
{
    size_t col = 0;
    for (; col + 16 <= n; col += 16) {
        lph_v8 a[4][2], b[4][2];
        for (int r = 0; r < R; r++)
            for (int h = 0; h < 2; h++) {
                lph_v8 dv = *(const lph_v8 *)(d0 + (size_t)r * n + col + 8 * (size_t)h);
                a[r][h] = *(const lph_v8 *)(w0 + (size_t)r * n + col + 8 * (size_t)h) + sg * dv;
                b[r][h] = qk * dv;
            }
        for (size_t j = 0; j < k; j++) {
            lph_v8 p = *(const lph_v8 *)(pre + j * n + col);
            lph_v8 q = *(const lph_v8 *)(pre + j * n + col + 8);
            for (int r = 0; r < R; r++) {
                double wj = ew[j * stride + (size_t)r], dj = ed[j * stride + (size_t)r];
                a[r][0] += wj * p;
                a[r][1] += wj * q;
                b[r][0] += dj * p;
                b[r][1] += dj * q;
            }
        }
        for (int r = 0; r < R; r++)
            for (int h = 0; h < 2; h++) {
                *(lph_v8 *)(w0 + (size_t)r * n + col + 8 * (size_t)h) = a[r][h];
                *(lph_v8 *)(d0 + (size_t)r * n + col + 8 * (size_t)h) = b[r][h];
            }
    }
    for (; col + 8 <= n; col += 8) {
        lph_v8 a[4], b[4];
        for (int r = 0; r < R; r++) {
            lph_v8 dv = *(const lph_v8 *)(d0 + (size_t)r * n + col);
            a[r] = *(const lph_v8 *)(w0 + (size_t)r * n + col) + sg * dv;
            b[r] = qk * dv;
        }
        for (size_t j = 0; j < k; j++) {
            lph_v8 p = *(const lph_v8 *)(pre + j * n + col);
            for (int r = 0; r < R; r++) {
                a[r] += ew[j * stride + (size_t)r] * p;
                b[r] += ed[j * stride + (size_t)r] * p;
            }
        }
        for (int r = 0; r < R; r++) {
            *(lph_v8 *)(w0 + (size_t)r * n + col) = a[r];
            *(lph_v8 *)(d0 + (size_t)r * n + col) = b[r];
        }
    }
    if (col == n)
        return;
#if defined(__AVX512F__)
    const __mmask8 m = (__mmask8)((1u << (n - col)) - 1);
    __m512d a[4], b[4];
    for (int r = 0; r < R; r++) {
        __m512d dv = _mm512_maskz_loadu_pd(m, d0 + (size_t)r * n + col);
        a[r] = _mm512_fmadd_pd(_mm512_set1_pd(sg), dv,
                               _mm512_maskz_loadu_pd(m, w0 + (size_t)r * n + col));
        b[r] = _mm512_mul_pd(_mm512_set1_pd(qk), dv);
    }
    for (size_t j = 0; j < k; j++) {
        __m512d p = _mm512_maskz_loadu_pd(m, pre + j * n + col);
        for (int r = 0; r < R; r++) {
            a[r] = _mm512_fmadd_pd(_mm512_set1_pd(ew[j * stride + (size_t)r]), p, a[r]);
            b[r] = _mm512_fmadd_pd(_mm512_set1_pd(ed[j * stride + (size_t)r]), p, b[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_mask_storeu_pd(w0 + (size_t)r * n + col, m, a[r]);
        _mm512_mask_storeu_pd(d0 + (size_t)r * n + col, m, b[r]);
    }
#else
    for (int r = 0; r < R; r++) {
        double *wr = w0 + (size_t)r * n, *dr = d0 + (size_t)r * n;
        for (size_t c = col; c < n; c++) {
            double a0 = wr[c] + sg * dr[c], b0 = qk * dr[c];
            for (size_t j = 0; j < k; j++) {
                a0 += ew[j * stride + (size_t)r] * pre[j * n + c];
                b0 += ed[j * stride + (size_t)r] * pre[j * n + c];
            }
            wr[c] = a0;
            dr[c] = b0;
        }
    }
#endif
}

/*
 * k steps at once.  With q = 1 - dt/tau_w, a = dt/tau_w, s = dt eta and the
 * error e_j and rate p_j of step j (j = 0 oldest), k Euler steps give
 *
 *   W <- W + s (1 + q + ... + q^(k-1)) D + s sum_j (1 - q^(k-1-j)) e_j p_j^T
 *   D <- q^k D + a sum_j q^(k-1-j) e_j p_j^T
 *
 * exactly (the W step uses D before it moves, as euler does): one fused pass
 * over W and D, in place of k rank-1 passes (or three passes and two GEMMs:
 * at k ~ 16 the products are bound by the traffic to W and D, so one pass
 * that reads and writes each once is what counts).
 *
 * With B copies (ABI 1.5, apical_rule_batch.copies) e_j p_j^T is the mean
 * of step j's B rows, so the sums run over k B rows with the coefficients
 * divided by B: a rank-k B update in the same single pass.
 */
static inline int lowpass_hebb_batch(const apical_rule_batch *c, double eta, double tau_w,
                                     double sign, double offset, double dt, double *w,
                                     double *delta)
{
    const size_t m = c->n_post, n = c->n_pre, k = c->k, B = APICAL_BATCH_COPIES(c), kb = k * B;
    double *ew = c->scratch, *ed = c->scratch + kb * m;
    const double s = dt * eta, sb = s / (double)B;
    if (!(tau_w > 0)) {
        for (size_t j = 0; j < kb; j++)
            for (size_t i = 0; i < m; i++)
                ew[j * m + i] = sb * (sign * c->post[j * m + i] + offset);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)kb, 1.0, ew,
                    (int)m, c->pre, (int)n, 1.0, w, (int)n);
        return APICAL_OK;
    }
    const double a = dt / tau_w, q = 1.0 - a, ab = a / (double)B;
    double qk = 1, geo = 0; /* q^k and 1 + q + ... + q^(k-1) */
    for (size_t j = 0; j < k; j++) {
        geo += qk;
        qk *= q;
    }
    double back = 1; /* q^(k-1-j), from the newest step backwards */
    for (size_t jj = kb; jj-- > 0;) {
        for (size_t i = 0; i < m; i++) {
            double e = sign * c->post[jj * m + i] + offset;
            ew[jj * m + i] = sb * (1.0 - back) * e;
            ed[jj * m + i] = ab * back * e;
        }
        if (jj % B == 0)
            back *= q;
    }
    const double sg = s * geo;
    if (B > 1) {
        /* copies: k B rows make the sums a matrix product worth a BLAS GEMM
           (the single pass below would reload the k B coefficients of every
           row pair from far caches): W += sg D, then W += EW^T P and
           D = q^k D + ED^T P */
        for (size_t q2 = 0; q2 < m * n; q2++)
            w[q2] += sg * delta[q2];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)kb, 1.0, ew,
                    (int)m, c->pre, (int)n, 1.0, w, (int)n);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)kb, 1.0, ed,
                    (int)m, c->pre, (int)n, qk, delta, (int)n);
        return APICAL_OK;
    }
    /* One pass over W and D, four rows at a time (lowpass_rows): each load
       of a presynaptic block feeds the multiply-adds of all four rows while
       the k presynaptic rows stream past.  No threads here: rows are
       independent, and the host gives each thread its rows (a block of rows
       is a smaller problem of the same form). */
    const double *pre = c->pre;
    size_t r = 0;
    for (; r + 4 <= m; r += 4)
        lowpass_rows(w + r * n, delta + r * n, n, kb, pre, ew + r, ed + r, m, sg, qk, 4);
    for (; r < m; r++)
        lowpass_rows(w + r * n, delta + r * n, n, kb, pre, ew + r, ed + r, m, sg, qk, 1);
    return APICAL_OK;
}

/* The same pass over single-precision W and D (ABI 1.2): each block of
   eight is widened to double, updated exactly as above and rounded back, so
   the only extra error is one rounding to float per call; the traffic to W
   and D is half that of double storage. */
typedef float lph_f8 __attribute__((vector_size(32), aligned(4), may_alias));

static inline void lowpass_rows2_f32(float *w0, float *d0, size_t n, size_t k, const double *pre,
                                     const double *ew, const double *ed, size_t stride,
                                     double sg, double qk)
{
    float *w1 = w0 + n, *d1 = d0 + n;
    size_t col = 0;
    for (; col + 8 <= n; col += 8) {
        lph_v8 dv0 = __builtin_convertvector(*(const lph_f8 *)(d0 + col), lph_v8);
        lph_v8 dv1 = __builtin_convertvector(*(const lph_f8 *)(d1 + col), lph_v8);
        lph_v8 a0 = __builtin_convertvector(*(const lph_f8 *)(w0 + col), lph_v8) + sg * dv0;
        lph_v8 a1 = __builtin_convertvector(*(const lph_f8 *)(w1 + col), lph_v8) + sg * dv1;
        lph_v8 b0 = qk * dv0, b1 = qk * dv1;
        for (size_t j = 0; j < k; j++) {
            lph_v8 p = *(const lph_v8 *)(pre + j * n + col);
            a0 += ew[j * stride] * p;
            b0 += ed[j * stride] * p;
            a1 += ew[j * stride + 1] * p;
            b1 += ed[j * stride + 1] * p;
        }
        *(lph_f8 *)(w0 + col) = __builtin_convertvector(a0, lph_f8);
        *(lph_f8 *)(d0 + col) = __builtin_convertvector(b0, lph_f8);
        *(lph_f8 *)(w1 + col) = __builtin_convertvector(a1, lph_f8);
        *(lph_f8 *)(d1 + col) = __builtin_convertvector(b1, lph_f8);
    }
    for (; col < n; col++) {
        double a0 = w0[col] + sg * d0[col], b0 = qk * d0[col];
        double a1 = w1[col] + sg * d1[col], b1 = qk * d1[col];
        for (size_t j = 0; j < k; j++) {
            double p = pre[j * n + col];
            a0 += ew[j * stride] * p;
            b0 += ed[j * stride] * p;
            a1 += ew[j * stride + 1] * p;
            b1 += ed[j * stride + 1] * p;
        }
        w0[col] = (float)a0;
        d0[col] = (float)b0;
        w1[col] = (float)a1;
        d1[col] = (float)b1;
    }
}

static inline void lowpass_row1_f32(float *w0, float *d0, size_t n, size_t k, const double *pre,
                                    const double *ew, const double *ed, size_t stride,
                                    double sg, double qk)
{
    for (size_t col = 0; col < n; col++) {
        double a0 = w0[col] + sg * d0[col], b0 = qk * d0[col];
        for (size_t j = 0; j < k; j++) {
            a0 += ew[j * stride] * pre[j * n + col];
            b0 += ed[j * stride] * pre[j * n + col];
        }
        w0[col] = (float)a0;
        d0[col] = (float)b0;
    }
}

/* Rows in sixteen single-precision lanes, from pre in single precision:
   half the instructions of the widened form above.  The increments of W and
   D are summed apart from W and D and added once, so W is rounded once per
   call, as above; the products and their sum over k steps are rounded in
   float (relative ~1e-7 of the increment).  One row at a time or two (the
   same arithmetic per row, so the result does not depend on how a host cuts
   the rows). */
typedef float lph_f16 __attribute__((vector_size(64), aligned(4), may_alias));

static inline void lowpass_tail_f32s(float *w0, float *d0, size_t n, size_t col, size_t end,
                                     size_t k, const float *pre, const float *ew, const float *ed,
                                     size_t stride, float sg, float qk)
{
    for (; col < end; col++) {
        float a0 = sg * d0[col], b0 = 0;
        for (size_t j = 0; j < k; j++) {
            float p = pre[j * n + col];
            a0 += ew[j * stride] * p;
            b0 += ed[j * stride] * p;
        }
        w0[col] += a0;
        d0[col] = qk * d0[col] + b0;
    }
}

typedef float lph_h8 __attribute__((vector_size(32), aligned(4), may_alias));

/* Columns [col, col + 8) of one row in eight lanes, if they are before
   end: short rows (30, 50 cells) then keep a scalar tail under eight.
   Returns the next column. */
static inline size_t lowpass_half_f32s(float *w0, float *d0, size_t n, size_t col, size_t end,
                                       size_t k, const float *pre, const float *ew,
                                       const float *ed, size_t stride, float sg, float qk)
{
    if (col + 8 > end)
        return col;
    lph_h8 dv = *(const lph_h8 *)(d0 + col), a = sg * dv, b = { 0 };
    for (size_t j = 0; j < k; j++) {
        lph_h8 p = *(const lph_h8 *)(pre + j * n + col);
        a += ew[j * stride] * p;
        b += ed[j * stride] * p;
    }
    *(lph_h8 *)(w0 + col) += a;
    *(lph_h8 *)(d0 + col) = qk * dv + b;
    return col + 8;
}

/* Columns [col, end) of rows w0 and w0 + n (row length n). */
static inline void lowpass_rows2_f32s(float *w0, float *d0, size_t n, size_t col, size_t end,
                                      size_t k, const float *pre, const float *ew,
                                      const float *ed, size_t stride, float sg, float qk)
{
    float *w1 = w0 + n, *d1 = d0 + n;
    /* 32 columns: eight independent chains of multiply-adds, enough to keep
       both FMA units busy (sixteen columns give four, half of that) */
    for (; col + 32 <= end; col += 32) {
        lph_f16 dv0 = *(const lph_f16 *)(d0 + col), dv1 = *(const lph_f16 *)(d1 + col);
        lph_f16 dw0 = *(const lph_f16 *)(d0 + col + 16), dw1 = *(const lph_f16 *)(d1 + col + 16);
        lph_f16 a0 = sg * dv0, a1 = sg * dv1, b0 = { 0 }, b1 = { 0 };
        lph_f16 c0 = sg * dw0, c1 = sg * dw1, e0 = { 0 }, e1 = { 0 };
        for (size_t j = 0; j < k; j++) {
            lph_f16 p = *(const lph_f16 *)(pre + j * n + col);
            lph_f16 q = *(const lph_f16 *)(pre + j * n + col + 16);
            float w0j = ew[j * stride], d0j = ed[j * stride];
            float w1j = ew[j * stride + 1], d1j = ed[j * stride + 1];
            a0 += w0j * p;
            b0 += d0j * p;
            a1 += w1j * p;
            b1 += d1j * p;
            c0 += w0j * q;
            e0 += d0j * q;
            c1 += w1j * q;
            e1 += d1j * q;
        }
        *(lph_f16 *)(w0 + col) += a0;
        *(lph_f16 *)(d0 + col) = qk * dv0 + b0;
        *(lph_f16 *)(w1 + col) += a1;
        *(lph_f16 *)(d1 + col) = qk * dv1 + b1;
        *(lph_f16 *)(w0 + col + 16) += c0;
        *(lph_f16 *)(d0 + col + 16) = qk * dw0 + e0;
        *(lph_f16 *)(w1 + col + 16) += c1;
        *(lph_f16 *)(d1 + col + 16) = qk * dw1 + e1;
    }
    for (; col + 16 <= end; col += 16) {
        lph_f16 dv0 = *(const lph_f16 *)(d0 + col), dv1 = *(const lph_f16 *)(d1 + col);
        lph_f16 a0 = sg * dv0, a1 = sg * dv1, b0 = { 0 }, b1 = { 0 };
        for (size_t j = 0; j < k; j++) {
            lph_f16 p = *(const lph_f16 *)(pre + j * n + col);
            a0 += ew[j * stride] * p;
            b0 += ed[j * stride] * p;
            a1 += ew[j * stride + 1] * p;
            b1 += ed[j * stride + 1] * p;
        }
        *(lph_f16 *)(w0 + col) += a0;
        *(lph_f16 *)(d0 + col) = qk * dv0 + b0;
        *(lph_f16 *)(w1 + col) += a1;
        *(lph_f16 *)(d1 + col) = qk * dv1 + b1;
    }
    lowpass_half_f32s(w1, d1, n, col, end, k, pre, ew + 1, ed + 1, stride, sg, qk);
    col = lowpass_half_f32s(w0, d0, n, col, end, k, pre, ew, ed, stride, sg, qk);
    lowpass_tail_f32s(w0, d0, n, col, end, k, pre, ew, ed, stride, sg, qk);
    lowpass_tail_f32s(w1, d1, n, col, end, k, pre, ew + 1, ed + 1, stride, sg, qk);
}

static inline void lowpass_row1_f32s(float *w0, float *d0, size_t n, size_t col, size_t end,
                                     size_t k, const float *pre, const float *ew,
                                     const float *ed, size_t stride, float sg, float qk)
{
    for (; col + 16 <= end; col += 16) {
        lph_f16 dv0 = *(const lph_f16 *)(d0 + col);
        lph_f16 a0 = sg * dv0, b0 = { 0 };
        for (size_t j = 0; j < k; j++) {
            lph_f16 p = *(const lph_f16 *)(pre + j * n + col);
            a0 += ew[j * stride] * p;
            b0 += ed[j * stride] * p;
        }
        *(lph_f16 *)(w0 + col) += a0;
        *(lph_f16 *)(d0 + col) = qk * dv0 + b0;
    }
    col = lowpass_half_f32s(w0, d0, n, col, end, k, pre, ew, ed, stride, sg, qk);
    lowpass_tail_f32s(w0, d0, n, col, end, k, pre, ew, ed, stride, sg, qk);
}


#if defined(__AVX512BF16__)
static inline float lph_from_bf16(uint32_t h)
{
    uint32_t u = h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Rows w0 and, with two, w0 + n over columns [col, end), from pairs of
   steps in bfloat16: pre2[t n + c] holds steps 2t and 2t + 1 of column c,
   cw2 and cd2 [t stride + r] the two steps' coefficients of row r.  Each
   vdpbf16ps adds both steps' products to sixteen single-precision sums:
   half the instructions of the float lanes.  The increments are summed
   apart from W and D and added once, as in lowpass_rows2_f32s. */
static inline void lowpass_rows2_bf16(float *w0, float *d0, size_t n, size_t col, size_t end,
                                      size_t kp, const uint32_t *pre2, const uint32_t *cw2,
                                      const uint32_t *cd2, size_t stride, float sg, float qk,
                                      int two)
{
    float *w1 = w0 + n, *d1 = d0 + n;
    const __m512 vsg = _mm512_set1_ps(sg), vqk = _mm512_set1_ps(qk);
    /* 64 columns of both rows: sixteen independent chains of vdpbf16ps,
       enough to cover its latency on both ports (sixteen columns give
       four) */
    for (; two && col + 64 <= end; col += 64) {
        /* D is read again after the products rather than held: sixteen
           sums, four coefficients and a pre pair take the registers */
        __m512 a[2][4], b[2][4];
        for (int g = 0; g < 4; g++) {
            a[0][g] = _mm512_mul_ps(vsg, _mm512_loadu_ps(d0 + col + 16 * g));
            a[1][g] = _mm512_mul_ps(vsg, _mm512_loadu_ps(d1 + col + 16 * g));
            b[0][g] = b[1][g] = _mm512_setzero_ps();
        }
        for (size_t t = 0; t < kp; t++) {
            const __m512bh cw0 = (__m512bh)_mm512_set1_epi32((int)cw2[t * stride]),
                           cd0 = (__m512bh)_mm512_set1_epi32((int)cd2[t * stride]),
                           cw1 = (__m512bh)_mm512_set1_epi32((int)cw2[t * stride + 1]),
                           cd1 = (__m512bh)_mm512_set1_epi32((int)cd2[t * stride + 1]);
            for (int g = 0; g < 4; g++) {
                __m512bh p = (__m512bh)_mm512_loadu_si512(pre2 + t * n + col + 16 * g);
                a[0][g] = _mm512_dpbf16_ps(a[0][g], p, cw0);
                b[0][g] = _mm512_dpbf16_ps(b[0][g], p, cd0);
                a[1][g] = _mm512_dpbf16_ps(a[1][g], p, cw1);
                b[1][g] = _mm512_dpbf16_ps(b[1][g], p, cd1);
            }
        }
        for (int g = 0; g < 4; g++) {
            float *wr0 = w0 + col + 16 * g, *wr1 = w1 + col + 16 * g;
            float *dr0 = d0 + col + 16 * g, *dr1 = d1 + col + 16 * g;
            _mm512_storeu_ps(wr0, _mm512_add_ps(_mm512_loadu_ps(wr0), a[0][g]));
            _mm512_storeu_ps(dr0, _mm512_fmadd_ps(vqk, _mm512_loadu_ps(dr0), b[0][g]));
            _mm512_storeu_ps(wr1, _mm512_add_ps(_mm512_loadu_ps(wr1), a[1][g]));
            _mm512_storeu_ps(dr1, _mm512_fmadd_ps(vqk, _mm512_loadu_ps(dr1), b[1][g]));
        }
    }
    for (; col + 16 <= end; col += 16) {
        __m512 dv0 = _mm512_loadu_ps(d0 + col), dv1 = two ? _mm512_loadu_ps(d1 + col) : dv0;
        __m512 a0 = _mm512_mul_ps(vsg, dv0), a1 = _mm512_mul_ps(vsg, dv1);
        __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
        const size_t r1 = two ? 1 : 0; /* row w1's coefficients, or w0's again */
        for (size_t t = 0; t < kp; t++) {
            __m512bh p = (__m512bh)_mm512_loadu_si512(pre2 + t * n + col);
            a0 = _mm512_dpbf16_ps(a0, p, (__m512bh)_mm512_set1_epi32((int)cw2[t * stride]));
            b0 = _mm512_dpbf16_ps(b0, p, (__m512bh)_mm512_set1_epi32((int)cd2[t * stride]));
            a1 = _mm512_dpbf16_ps(a1, p, (__m512bh)_mm512_set1_epi32((int)cw2[t * stride + r1]));
            b1 = _mm512_dpbf16_ps(b1, p, (__m512bh)_mm512_set1_epi32((int)cd2[t * stride + r1]));
        }
        _mm512_storeu_ps(w0 + col, _mm512_add_ps(_mm512_loadu_ps(w0 + col), a0));
        _mm512_storeu_ps(d0 + col, _mm512_fmadd_ps(vqk, dv0, b0));
        if (two) {
            _mm512_storeu_ps(w1 + col, _mm512_add_ps(_mm512_loadu_ps(w1 + col), a1));
            _mm512_storeu_ps(d1 + col, _mm512_fmadd_ps(vqk, dv1, b1));
        }
    }
    /* the tail: the same bfloat16 operands, in scalars */
    for (int r = 0; r < 1 + two; r++) {
        float *wr = r ? w1 : w0, *dr = r ? d1 : d0;
        for (size_t c = col; c < end; c++) {
            float a = sg * dr[c], b = 0;
            for (size_t t = 0; t < kp; t++) {
                uint32_t pp = pre2[t * n + c], ww = cw2[t * stride + (size_t)r],
                         dd = cd2[t * stride + (size_t)r];
                float p0 = lph_from_bf16(pp & 0xFFFFu), p1 = lph_from_bf16(pp >> 16);
                a += lph_from_bf16(ww & 0xFFFFu) * p0 + lph_from_bf16(ww >> 16) * p1;
                b += lph_from_bf16(dd & 0xFFFFu) * p0 + lph_from_bf16(dd >> 16) * p1;
            }
            wr[c] += a;
            dr[c] = qk * dr[c] + b;
        }
    }
}

/* The single-copy pass with bfloat16 products (rule_products: bf16): the
   coefficients of each pair of steps packed beside ewf and edf in the
   scratch (their 2 kb m floats leave as many free), the pre pairs as the
   host passes them. */
static inline void lowpass_pass_bf16(const apical_rule_batch *c, const uint32_t *pre2, size_t kb,
                                     const float *ewf, const float *edf, float *w, float *delta,
                                     float sg, float qk)
{
    const size_t m = c->n_post, n = c->n_pre, kp = (kb + 1) / 2;
    uint32_t *cw2 = (uint32_t *)(c->scratch) + 2 * kb * m, *cd2 = cw2 + kp * m;
    apical_bf16x2_pack(ewf, kb, m, cw2);
    apical_bf16x2_pack(edf, kb, m, cd2);
    /* blocks of columns whose kp pre pairs fit in L1 (16 KB) */
    size_t cw = (16384 / sizeof(uint32_t) / (kp ? kp : 1)) & ~(size_t)15;
    cw = cw < 16 ? 16 : cw;
    for (size_t c0 = 0; c0 < n; c0 += cw) {
        size_t c1 = n - c0 > cw ? c0 + cw : n;
        for (size_t r = 0; r < m; r += 2)
            lowpass_rows2_bf16(w + r * n, delta + r * n, n, c0, c1, kp, pre2, cw2 + r, cd2 + r, m,
                               sg, qk, r + 1 < m);
    }
}
#endif

static inline int lowpass_hebb_batch_f32(const apical_rule_batch *c, double eta, double tau_w,
                                         double sign, double offset, double dt, float *w,
                                         float *delta)
{
    const size_t m = c->n_post, n = c->n_pre, k = c->k, B = APICAL_BATCH_COPIES(c), kb = k * B;
    const float *pre_f = APICAL_BATCH_PRE_F32(c);
    /* the coefficients in double, or in float for the float lanes (where
       converting them in the inner loop would cost as much as the products);
       either way they fit the scratch of 2 k m doubles */
    double *ew = c->scratch, *ed = c->scratch + kb * m;
    float *ewf = (float *)c->scratch, *edf = ewf + kb * m;
    const double s = dt * eta, sb = s / (double)B;
    /* tau_w = 0: no filter; D keeps its value (q = 1, no induction into D), as
       in lowpass_hebb_batch */
    const int filt = tau_w > 0;
    const double a = filt ? dt / tau_w : 0.0, q = 1.0 - a, ab = a / (double)B;
    double qk = 1, geo = 0;
    for (size_t j = 0; j < k; j++) {
        geo += qk;
        qk *= q;
    }
    double back = 1;
    for (size_t jj = kb; jj-- > 0;) {
        for (size_t i = 0; i < m; i++) {
            double e = sign * c->post[jj * m + i] + offset;
            double cw = filt ? sb * (1.0 - back) * e : sb * e, cd = ab * back * e;
            if (pre_f) {
                ewf[jj * m + i] = (float)cw;
                edf[jj * m + i] = (float)cd;
            } else {
                ew[jj * m + i] = cw;
                ed[jj * m + i] = cd;
            }
        }
        if (jj % B == 0)
            back *= q;
    }
    const double sg = filt ? s * geo : 0.0;
    const size_t pairs = m / 2;
    if (pre_f && B > 1) {
        /* copies: the k B rows as two BLAS GEMMs (as in lowpass_hebb_batch),
           in single precision */
        const float sgf = (float)sg;
        for (size_t q2 = 0; q2 < m * n; q2++)
            w[q2] += sgf * delta[q2];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)kb, 1.0f, ewf,
                    (int)m, pre_f, (int)n, 1.0f, w, (int)n);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)kb, 1.0f, edf,
                    (int)m, pre_f, (int)n, (float)qk, delta, (int)n);
        return APICAL_OK;
    }
#if defined(__AVX512BF16__)
    const uint32_t *pre2 = APICAL_BATCH_PRE_BF16X2(c);
    if (pre_f && pre2) {
        lowpass_pass_bf16(c, pre2, kb, ewf, edf, w, delta, (float)sg, (float)qk);
        return APICAL_OK;
    }
#endif
    if (pre_f) {
        /* in blocks of columns whose k pre rows fit in L1 (16 KB), every row
           pair's block in turn: the pre rows are read from L2 once per block
           instead of once per row pair; each weight gets the same operations
           (the blocks are whole vectors, the tails where they were) */
        size_t cw = (16384 / sizeof(float) / (kb ? kb : 1)) & ~(size_t)15;
        cw = cw < 16 ? 16 : cw;
        for (size_t c0 = 0; c0 < n; c0 += cw) {
            size_t c1 = n - c0 > cw ? c0 + cw : n;
            for (size_t r = 0; r < pairs; r++)
                lowpass_rows2_f32s(w + 2 * r * n, delta + 2 * r * n, n, c0, c1, kb, pre_f,
                                   ewf + 2 * r, edf + 2 * r, m, (float)sg, (float)qk);
            if (m % 2)
                lowpass_row1_f32s(w + (m - 1) * n, delta + (m - 1) * n, n, c0, c1, kb, pre_f,
                                  ewf + m - 1, edf + m - 1, m, (float)sg, (float)qk);
        }
        return APICAL_OK;
    }
    for (size_t r = 0; r < pairs; r++)
        lowpass_rows2_f32(w + 2 * r * n, delta + 2 * r * n, n, kb, c->pre, ew + 2 * r, ed + 2 * r,
                          m, sg, qk);
    if (m % 2)
        lowpass_row1_f32(w + (m - 1) * n, delta + (m - 1) * n, n, kb, c->pre, ew + m - 1,
                         ed + m - 1, m, sg, qk);
    return APICAL_OK;
}

#define LOWPASS_HEBB_LIBRARY(rule_var, lib_name)                                         \
    static const apical_rule *const rules[] = { &rule_var };                             \
    APICAL_LIBRARY(lib_name, "1.2.0", NULL, 0, rules, 1)

#endif /* APICAL_LOWPASS_HEBB_H */
