/* kernels_t.h -- the body of kernels.c for one element type: included
   with T (float or double), VB (vector bytes) and N(name) (the suffixed
   name) defined.  Layout: see kernels.h (panels of PR = 2 vector widths
   of rows, column by column). */
typedef T N(vf) __attribute__((vector_size(VB)));
#define VW ((size_t)(VB / sizeof(T)))
#define PR (2 * VW)

static inline N(vf) N(ld)(const T *p)
{
    N(vf) v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void N(st)(T *p, N(vf) v) { memcpy(p, &v, sizeof v); }

size_t N(apical_k_panel_rows)(void) { return PR; }

size_t N(apical_k_packed_size)(size_t nd, size_t ns) { return (nd + PR - 1) / PR * PR * ns; }

void N(apical_k_pack)(size_t nd, size_t ns, const double *w, T *wp)
{
    size_t ndp = (nd + PR - 1) / PR * PR;
    for (size_t i = 0; i < ndp; i++)
        for (size_t j = 0; j < ns; j++)
            wp[i / PR * PR * ns + j * PR + i % PR] = i < nd ? (T)w[i * ns + j] : 0;
}

void N(apical_k_pack_t)(size_t nd, size_t ns, const double *w, T *wp)
{
    size_t nsp = (ns + PR - 1) / PR * PR;
    for (size_t j = 0; j < nsp; j++)
        for (size_t i = 0; i < nd; i++)
            wp[j / PR * PR * nd + i * PR + j % PR] = j < ns ? (T)w[j + i * ns] : 0;
}

void N(apical_k_unpack)(size_t nd, size_t ns, const T *wp, double *w)
{
    for (size_t i = 0; i < nd; i++)
        for (size_t j = 0; j < ns; j++)
            w[i * ns + j] = wp[i / PR * PR * ns + j * PR + i % PR];
}

/* One panel (its m <= PR rows) against K batch rows: 2 K accumulators, one
   per batch row and half-panel, in registers; each column of the panel
   is two vector loads, each x element one broadcast. */
#define FWD_BLOCK(K)                                                                        \
    static void N(fwd_##K)(size_t ns, const T *w, const T *x, T *o, size_t od, size_t m)  \
    {                                                                                       \
        N(vf) a0[K], a1[K];                                                                 \
        for (int k = 0; k < K; k++)                                                         \
            a0[k] = a1[k] = (N(vf)){ 0 };                                                   \
        for (size_t j = 0; j < ns; j++) {                                                   \
            N(vf) u0 = N(ld)(w + j * PR), u1 = N(ld)(w + j * PR + VW);                      \
            for (int k = 0; k < K; k++) {                                                   \
                T xv = x[(size_t)k * ns + j];                                               \
                a0[k] += u0 * xv;                                                           \
                a1[k] += u1 * xv;                                                           \
            }                                                                               \
        }                                                                                   \
        for (int k = 0; k < K; k++) {                                                       \
            T t[PR];                                                                        \
            N(st)(t, a0[k]);                                                                \
            N(st)(t + VW, a1[k]);                                                           \
            memcpy(o + (size_t)k * od, t, m * sizeof(T));                                   \
        }                                                                                   \
    }
FWD_BLOCK(10)
FWD_BLOCK(8)
FWD_BLOCK(4)
FWD_BLOCK(2)
FWD_BLOCK(1)

/* One panel's update from K batch rows: c holds K x PR coefficients
   f e[b][i] (0 in padding rows), kept in registers while the panel
   streams past once. */
#define UPD_BLOCK(K)                                                                        \
    static void N(upd_##K)(size_t ns, T *w, const T *x, const T *c)                         \
    {                                                                                       \
        N(vf) c0[K], c1[K];                                                                 \
        for (int k = 0; k < K; k++) {                                                       \
            c0[k] = N(ld)(c + (size_t)k * PR);                                              \
            c1[k] = N(ld)(c + (size_t)k * PR + VW);                                         \
        }                                                                                   \
        for (size_t j = 0; j < ns; j++) {                                                   \
            N(vf) u0 = N(ld)(w + j * PR), u1 = N(ld)(w + j * PR + VW);                      \
            for (int k = 0; k < K; k++) {                                                   \
                T xv = x[(size_t)k * ns + j];                                               \
                u0 += c0[k] * xv;                                                           \
                u1 += c1[k] * xv;                                                           \
            }                                                                               \
            N(st)(w + j * PR, u0);                                                          \
            N(st)(w + j * PR + VW, u1);                                                     \
        }                                                                                   \
    }
UPD_BLOCK(10)
UPD_BLOCK(8)
UPD_BLOCK(4)
UPD_BLOCK(2)
UPD_BLOCK(1)

/* Panel p: all nb batch rows, in blocks of 10, 8, 4, 2, 1. */
static void N(fwd_panel)(size_t p, size_t nb, size_t nd, size_t ns, const T *wp, const T *x,
                         T *out)
{
    const T *w = wp + p * PR * ns;
    size_t i0 = p * PR, m = nd - i0 < PR ? nd - i0 : PR, b = 0;
    T *o = out + i0;
    for (; b + 10 <= nb; b += 10)
        N(fwd_10)(ns, w, x + b * ns, o + b * nd, nd, m);
    for (; b + 8 <= nb; b += 8)
        N(fwd_8)(ns, w, x + b * ns, o + b * nd, nd, m);
    for (; b + 4 <= nb; b += 4)
        N(fwd_4)(ns, w, x + b * ns, o + b * nd, nd, m);
    for (; b + 2 <= nb; b += 2)
        N(fwd_2)(ns, w, x + b * ns, o + b * nd, nd, m);
    for (; b < nb; b++)
        N(fwd_1)(ns, w, x + b * ns, o + b * nd, nd, m);
}

static void N(upd_panel)(size_t p, size_t nb, size_t nd, size_t ns, T f, const T *e,
                         const T *x, T *wp)
{
    T *w = wp + p * PR * ns;
    size_t i0 = p * PR, m = nd - i0 < PR ? nd - i0 : PR;
    for (size_t b = 0; b < nb;) {
        size_t k = nb - b >= 10 ? 10 : nb - b >= 8 ? 8 : nb - b >= 4 ? 4 : nb - b >= 2 ? 2 : 1;
        T c[10 * PR];
        for (size_t q = 0; q < k; q++)
            for (size_t r = 0; r < PR; r++)
                c[q * PR + r] = r < m ? f * e[(b + q) * nd + i0 + r] : 0;
        switch (k) {
        case 10: N(upd_10)(ns, w, x + b * ns, c); break;
        case 8: N(upd_8)(ns, w, x + b * ns, c); break;
        case 4: N(upd_4)(ns, w, x + b * ns, c); break;
        case 2: N(upd_2)(ns, w, x + b * ns, c); break;
        default: N(upd_1)(ns, w, x + b * ns, c); break;
        }
        b += k;
    }
}

#define PAR_MIN (1u << 18) /* multiply-adds below which a product stays on one thread */

void N(apical_k_forward)(size_t nb, size_t nd, size_t ns, const T *wp, const T *x, T *out)
{
    const size_t panels = (nd + PR - 1) / PR;
#pragma omp parallel for schedule(static) if (nb * nd * ns > PAR_MIN)
    for (size_t p = 0; p < panels; p++)
        N(fwd_panel)(p, nb, nd, ns, wp, x, out);
}

void N(apical_k_update)(size_t nb, size_t nd, size_t ns, T f, const T *e, const T *x, T *wp)
{
    const size_t panels = (nd + PR - 1) / PR;
#pragma omp parallel for schedule(static) if (nb * nd * ns > PAR_MIN)
    for (size_t p = 0; p < panels; p++)
        N(upd_panel)(p, nb, nd, ns, f, e, x, wp);
}

/* Each panel is updated and then, while it is still in cache, multiplied:
   per weight and per output the arithmetic of apical_k_update followed by
   apical_k_forward. */
void N(apical_k_update_forward)(size_t nbu, size_t nb, size_t nd, size_t ns, T f, const T *e,
                                const T *xu, T *wp, const T *x, T *out)
{
    const size_t panels = (nd + PR - 1) / PR;
#pragma omp parallel for schedule(static) if ((nb + nbu) * nd * ns > PAR_MIN)
    for (size_t p = 0; p < panels; p++) {
        N(upd_panel)(p, nbu, nd, ns, f, e, xu, wp);
        N(fwd_panel)(p, nb, nd, ns, wp, x, out);
    }
}

#undef VW
#undef PR
#undef PAR_MIN
#undef FWD_BLOCK
#undef UPD_BLOCK
