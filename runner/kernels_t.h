/* kernels_t.h -- the body of kernels.c for one element type: included
   with T (float or double), VB (vector bytes) and N(name) (the suffixed
   name) defined. */
typedef T N(vf) __attribute__((vector_size(VB)));
#define VW ((int)(VB / sizeof(T)))

static inline N(vf) N(ld)(const T *p)
{
    N(vf) v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void N(st)(T *p, N(vf) v) { memcpy(p, &v, sizeof v); }

static inline T N(hsum)(N(vf) v)
{
    T s = 0;
    for (int k = 0; k < VW; k++)
        s += v[k];
    return s;
}

/* Two weight rows against K batch rows: 2 K accumulators in registers;
   each weight vector is loaded once per K products. */
#define FWD_BLOCK(K)                                                                        \
    static void N(fwd_##K)(size_t ns, const T *w0, const T *w1, const T *x,       \
                        T *o0, T *o1, size_t od)                                   \
    {                                                                                       \
        N(vf) a0[K], a1[K];                                                                    \
        for (int k = 0; k < K; k++)                                                         \
            a0[k] = a1[k] = (N(vf)){ 0 };                                                      \
        size_t j = 0;                                                                       \
        for (; j + VW <= ns; j += VW) {                                                     \
            N(vf) u0 = N(ld)(w0 + j), u1 = N(ld)(w1 + j);                                            \
            for (int k = 0; k < K; k++) {                                                   \
                N(vf) xv = N(ld)(x + (size_t)k * ns + j);                                         \
                a0[k] += u0 * xv;                                                           \
                a1[k] += u1 * xv;                                                           \
            }                                                                               \
        }                                                                                   \
        for (int k = 0; k < K; k++) {                                                       \
            T s0 = N(hsum)(a0[k]), s1 = N(hsum)(a1[k]);                                       \
            for (size_t t = j; t < ns; t++) {                                               \
                s0 += w0[t] * x[(size_t)k * ns + t];                                        \
                s1 += w1[t] * x[(size_t)k * ns + t];                                        \
            }                                                                               \
            o0[(size_t)k * od] = s0;                                                        \
            o1[(size_t)k * od] = s1;                                                        \
        }                                                                                   \
    }
FWD_BLOCK(10)
FWD_BLOCK(8)
FWD_BLOCK(4)
FWD_BLOCK(2)
FWD_BLOCK(1)

void N(apical_k_forward)(size_t nb, size_t nd, size_t ns, const T *w, const T *x,
                      T *out)
{
    const size_t pairs = (nd + 1) / 2;
#pragma omp parallel for schedule(static) if (nb * nd * ns > (1u << 19))
    for (size_t p = 0; p < pairs; p++) {
        size_t i = 2 * p;
        const T *w0 = w + i * ns, *w1 = i + 1 < nd ? w0 + ns : w0;
        T *o0 = out + i, *o1 = i + 1 < nd ? o0 + 1 : o0;
        size_t b = 0;
        for (; b + 10 <= nb; b += 10)
            N(fwd_10)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b + 8 <= nb; b += 8)
            N(fwd_8)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b + 4 <= nb; b += 4)
            N(fwd_4)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b + 2 <= nb; b += 2)
            N(fwd_2)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b < nb; b++)
            N(fwd_1)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
    }
}

/* One weight row: w += sum_b c[b] x[b], loaded and stored once. */
static void N(upd_1)(size_t nb, size_t ns, T *w0, const T *x, const T *c0)
{
    size_t j = 0;
    for (; j + VW <= ns; j += VW) {
        N(vf) u0 = N(ld)(w0 + j);
        for (size_t k = 0; k < nb; k++)
            u0 += c0[k] * N(ld)(x + k * ns + j);
        N(st)(w0 + j, u0);
    }
    for (; j < ns; j++)
        for (size_t k = 0; k < nb; k++)
            w0[j] += c0[k] * x[k * ns + j];
}

/* Two rows sharing the loads of x. */
static void N(upd_2)(size_t nb, size_t ns, T *w0, T *w1, const T *x, const T *c0,
                  const T *c1)
{
    size_t j = 0;
    for (; j + VW <= ns; j += VW) {
        N(vf) u0 = N(ld)(w0 + j), u1 = N(ld)(w1 + j);
        for (size_t k = 0; k < nb; k++) {
            N(vf) xv = N(ld)(x + k * ns + j);
            u0 += c0[k] * xv;
            u1 += c1[k] * xv;
        }
        N(st)(w0 + j, u0);
        N(st)(w1 + j, u1);
    }
    for (; j < ns; j++)
        for (size_t k = 0; k < nb; k++) {
            w0[j] += c0[k] * x[k * ns + j];
            w1[j] += c1[k] * x[k * ns + j];
        }
}


void N(apical_k_update)(size_t nb, size_t nd, size_t ns, T f, const T *e, const T *x,
                     T *w)
{
    if (nb > MAX_NB) { /* in slices of MAX_NB batch rows */
        for (size_t b = 0; b < nb; b += MAX_NB)
            N(apical_k_update)(nb - b < MAX_NB ? nb - b : MAX_NB, nd, ns, f, e + b * nd,
                            x + b * ns, w);
        return;
    }
    const size_t pairs = nd / 2;
#pragma omp parallel for schedule(static) if (nb * nd * ns > (1u << 19))
    for (size_t p = 0; p < pairs; p++) {
        size_t i = 2 * p;
        T c0[MAX_NB], c1[MAX_NB];
        for (size_t k = 0; k < nb; k++) {
            c0[k] = f * e[k * nd + i];
            c1[k] = f * e[k * nd + i + 1];
        }
        N(upd_2)(nb, ns, w + i * ns, w + (i + 1) * ns, x, c0, c1);
    }
    if (nd % 2) {
        T c0[MAX_NB];
        for (size_t k = 0; k < nb; k++)
            c0[k] = f * e[k * nd + nd - 1];
        N(upd_1)(nb, ns, w + (nd - 1) * ns, x, c0);
    }
}

/* Rows i and i+1 of the update, then of the forward product with the new
   weights: per weight and per output exactly the arithmetic of
   apical_k_update followed by apical_k_forward, with each pair of rows read
   and written once while it sits in L1. */
void N(apical_k_update_forward)(size_t nbu, size_t nb, size_t nd, size_t ns, T f, const T *e,
                                const T *xu, T *w, const T *x, T *out)
{
    if (nbu > MAX_NB) {
        N(apical_k_update)(nbu, nd, ns, f, e, xu, w);
        N(apical_k_forward)(nb, nd, ns, w, x, out);
        return;
    }
    const size_t pairs = (nd + 1) / 2;
#pragma omp parallel for schedule(static) if ((nb + nbu) * nd * ns > (1u << 19))
    for (size_t p = 0; p < pairs; p++) {
        size_t i = 2 * p;
        T c0[MAX_NB], c1[MAX_NB];
        T *w0 = w + i * ns, *w1 = i + 1 < nd ? w0 + ns : w0;
        for (size_t k = 0; k < nbu; k++) {
            c0[k] = f * e[k * nd + i];
            c1[k] = i + 1 < nd ? f * e[k * nd + i + 1] : 0;
        }
        if (i + 1 < nd)
            N(upd_2)(nbu, ns, w0, w1, xu, c0, c1);
        else
            N(upd_1)(nbu, ns, w0, xu, c0);
        T *o0 = out + i, *o1 = i + 1 < nd ? o0 + 1 : o0;
        size_t b = 0;
        for (; b + 10 <= nb; b += 10)
            N(fwd_10)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b + 8 <= nb; b += 8)
            N(fwd_8)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b + 4 <= nb; b += 4)
            N(fwd_4)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b + 2 <= nb; b += 2)
            N(fwd_2)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
        for (; b < nb; b++)
            N(fwd_1)(ns, w0, w1, x + b * ns, o0 + b * nd, o1 + b * nd, nd);
    }
}

void N(apical_k_backward)(size_t nb, size_t nd, size_t ns, const T *w, const T *e, T *g)
{
    if (nb > 16) { /* in slices of 16 batch rows */
        for (size_t b = 0; b < nb; b += 16)
            N(apical_k_backward)(nb - b < 16 ? nb - b : 16, nd, ns, w, e + b * nd, g + b * ns);
        return;
    }
    /* columns in vector-wide slices, each owned by one thread; the batch's
       accumulators stay in registers while the slice's column of W streams
       past once */
    const size_t slices = (ns + VW - 1) / VW;
#pragma omp parallel for schedule(static) if (nb * nd * ns > (1u << 19))
    for (size_t s = 0; s < slices; s++) {
        size_t j = s * VW;
        if (j + VW <= ns) {
            N(vf) acc[16];
            for (size_t b = 0; b < nb; b++)
                acc[b] = N(ld)(g + b * ns + j);
            for (size_t i = 0; i < nd; i++) {
                N(vf) wv = N(ld)(w + i * ns + j);
                for (size_t b = 0; b < nb; b++)
                    acc[b] += e[b * nd + i] * wv;
            }
            for (size_t b = 0; b < nb; b++)
                N(st)(g + b * ns + j, acc[b]);
        } else {
            for (size_t b = 0; b < nb; b++)
                for (size_t t = j; t < ns; t++) {
                    T a = g[b * ns + t];
                    for (size_t i = 0; i < nd; i++)
                        a += e[b * nd + i] * w[i * ns + t];
                    g[b * ns + t] = a;
                }
        }
    }
}

#undef VW
#undef FWD_BLOCK
