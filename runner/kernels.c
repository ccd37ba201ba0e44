/*
 * kernels.c -- weight matrix times a small batch, in single precision
 * (see kernels.h).  Written with GCC's vector extensions: the vector width
 * follows the target (16 floats with AVX-512, 8 with AVX, else 4), so the
 * same code is portable and, built with --enable-native, uses the widest
 * registers the machine has.
 */
#include "config.h"

#include <string.h>

#include "kernels.h"

#if defined(__AVX512F__)
#define VW 16
#elif defined(__AVX__)
#define VW 8
#else
#define VW 4
#endif

typedef float vf __attribute__((vector_size(VW * sizeof(float))));

static inline vf ld(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline float hsum(vf v)
{
    float s = 0;
    for (int k = 0; k < VW; k++)
        s += v[k];
    return s;
}

/* Two weight rows against K batch rows: 2 K accumulators in registers;
   each weight vector is loaded once per K products. */
#define FWD_BLOCK(K)                                                                        \
    static void fwd_##K(size_t ns, const float *w0, const float *w1, const float *x,       \
                        float *o0, float *o1, size_t od)                                   \
    {                                                                                       \
        vf a0[K], a1[K];                                                                    \
        for (int k = 0; k < K; k++)                                                         \
            a0[k] = a1[k] = (vf){ 0 };                                                      \
        size_t j = 0;                                                                       \
        for (; j + VW <= ns; j += VW) {                                                     \
            vf u0 = ld(w0 + j), u1 = ld(w1 + j);                                            \
            for (int k = 0; k < K; k++) {                                                   \
                vf xv = ld(x + (size_t)k * ns + j);                                         \
                a0[k] += u0 * xv;                                                           \
                a1[k] += u1 * xv;                                                           \
            }                                                                               \
        }                                                                                   \
        for (int k = 0; k < K; k++) {                                                       \
            float s0 = hsum(a0[k]), s1 = hsum(a1[k]);                                       \
            for (size_t t = j; t < ns; t++) {                                               \
                s0 += w0[t] * x[(size_t)k * ns + t];                                        \
                s1 += w1[t] * x[(size_t)k * ns + t];                                        \
            }                                                                               \
            o0[(size_t)k * od] = s0;                                                        \
            o1[(size_t)k * od] = s1;                                                        \
        }                                                                                   \
    }
FWD_BLOCK(8)
FWD_BLOCK(4)
FWD_BLOCK(2)
FWD_BLOCK(1)

void apical_k_forward(size_t nb, size_t nd, size_t ns, const float *w, const float *x,
                      float *out)
{
    const size_t pairs = (nd + 1) / 2;
#pragma omp parallel for schedule(static) if (nb * nd * ns > (1u << 19))
    for (size_t p = 0; p < pairs; p++) {
        size_t i = 2 * p;
        const float *w0 = w + i * ns, *w1 = i + 1 < nd ? w0 + ns : w0;
        float *o0 = out + i, *o1 = i + 1 < nd ? o0 + 1 : o0;
        size_t b = 0;
        for (; b + 8 <= nb; b += 8)
            fwd_8(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b + 4 <= nb; b += 4)
            fwd_4(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b + 2 <= nb; b += 2)
            fwd_2(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b < nb; b++)
            fwd_1(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
    }
}

/* One weight row: w += sum_b c[b] x[b], loaded and stored once. */
static void upd_1(size_t nb, size_t ns, float *w0, const float *x, const float *c0)
{
    size_t j = 0;
    for (; j + VW <= ns; j += VW) {
        vf u0 = ld(w0 + j);
        for (size_t k = 0; k < nb; k++)
            u0 += c0[k] * ld(x + k * ns + j);
        st(w0 + j, u0);
    }
    for (; j < ns; j++)
        for (size_t k = 0; k < nb; k++)
            w0[j] += c0[k] * x[k * ns + j];
}

/* Two rows sharing the loads of x. */
static void upd_2(size_t nb, size_t ns, float *w0, float *w1, const float *x, const float *c0,
                  const float *c1)
{
    size_t j = 0;
    for (; j + VW <= ns; j += VW) {
        vf u0 = ld(w0 + j), u1 = ld(w1 + j);
        for (size_t k = 0; k < nb; k++) {
            vf xv = ld(x + k * ns + j);
            u0 += c0[k] * xv;
            u1 += c1[k] * xv;
        }
        st(w0 + j, u0);
        st(w1 + j, u1);
    }
    for (; j < ns; j++)
        for (size_t k = 0; k < nb; k++) {
            w0[j] += c0[k] * x[k * ns + j];
            w1[j] += c1[k] * x[k * ns + j];
        }
}

#define MAX_NB 64

void apical_k_update(size_t nb, size_t nd, size_t ns, float f, const float *e, const float *x,
                     float *w)
{
    if (nb > MAX_NB) { /* in slices of MAX_NB batch rows */
        for (size_t b = 0; b < nb; b += MAX_NB)
            apical_k_update(nb - b < MAX_NB ? nb - b : MAX_NB, nd, ns, f, e + b * nd,
                            x + b * ns, w);
        return;
    }
    const size_t pairs = nd / 2;
#pragma omp parallel for schedule(static) if (nb * nd * ns > (1u << 19))
    for (size_t p = 0; p < pairs; p++) {
        size_t i = 2 * p;
        float c0[MAX_NB], c1[MAX_NB];
        for (size_t k = 0; k < nb; k++) {
            c0[k] = f * e[k * nd + i];
            c1[k] = f * e[k * nd + i + 1];
        }
        upd_2(nb, ns, w + i * ns, w + (i + 1) * ns, x, c0, c1);
    }
    if (nd % 2) {
        float c0[MAX_NB];
        for (size_t k = 0; k < nb; k++)
            c0[k] = f * e[k * nd + nd - 1];
        upd_1(nb, ns, w + (nd - 1) * ns, x, c0);
    }
}

void apical_k_backward(size_t nb, size_t nd, size_t ns, const float *w, const float *e,
                       float *g)
{
    /* columns in vector-wide slices, each owned by one thread */
    const size_t slices = (ns + VW - 1) / VW;
#pragma omp parallel for schedule(static) if (nb * nd * ns > (1u << 19))
    for (size_t s = 0; s < slices; s++) {
        size_t j = s * VW;
        if (j + VW <= ns) {
            for (size_t b = 0; b < nb; b++) {
                vf acc = ld(g + b * ns + j);
                const float *eb = e + b * nd;
                for (size_t i = 0; i < nd; i++)
                    acc += eb[i] * ld(w + i * ns + j);
                st(g + b * ns + j, acc);
            }
        } else {
            for (size_t b = 0; b < nb; b++)
                for (size_t t = j; t < ns; t++) {
                    float acc = g[b * ns + t];
                    for (size_t i = 0; i < nd; i++)
                        acc += e[b * nd + i] * w[i * ns + t];
                    g[b * ns + t] = acc;
                }
        }
    }
}
