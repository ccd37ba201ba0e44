/*
 * matvec.c -- row-major products for the Euler step (matvec.h).
 */
#include "config.h"

#include <string.h>

#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

#include "matvec.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define MV_AVX512 1
#else
#define MV_AVX512 0
#endif

/* ---- binary16 ---- */

uint16_t apical_half_from_float(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* infinity, NaN (kept quiet) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) /* 65520 and up round past the largest half, 65504 */
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* normal: rebias the exponent, round 23 -> 10 bits */
        uint32_t r = ax - ((uint32_t)(127 - 15) << 23);
        r += 0xfffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) /* up to 2^-25: zero (2^-25 itself ties to even, 0) */
        return (uint16_t)sign;
    /* subnormal half: m 2^-24, m = mant 2^(e - 126) rounded to nearest even */
    uint32_t e = ax >> 23, mant = (ax & 0x7fffffu) | 0x800000u, sh = 126 - e;
    uint32_t q = mant >> sh, rem = mant & ((1u << sh) - 1), half = 1u << (sh - 1);
    q += rem > half || (rem == half && (q & 1u));
    return (uint16_t)(sign | q);
}

float apical_float_from_half(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else if (e) {
        x = sign | ((e + 127 - 15) << 23) | (m << 13);
    } else if (m) { /* subnormal: m 2^-24, normalised */
        int s = 0;
        while (!(m & 0x400u))
            m <<= 1, s++;
        x = sign | ((uint32_t)(127 - 14 - s) << 23) | ((m & 0x3ffu) << 13);
    } else {
        x = sign;
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

static inline int too_big(float v) { return !(v < 65520.0f && v > -65520.0f); }

size_t apical_f16_from_f32(size_t count, const float *src, uint16_t *dst)
{
    size_t bad = 0, i = 0;
#if defined(__AVX512F__)
    const __m512 lim = _mm512_set1_ps(65520.0f);
    for (; i + 16 <= count; i += 16) {
        __m512 v = _mm512_loadu_ps(src + i);
        /* |v| < 65520, false for NaN */
        __mmask16 ok = _mm512_cmp_ps_mask(_mm512_abs_ps(v), lim, _CMP_LT_OQ);
        bad += 16 - (size_t)__builtin_popcount((unsigned)ok);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
#elif defined(__F16C__)
    for (; i + 8 <= count; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        for (int l = 0; l < 8; l++)
            bad += too_big(src[i + l]);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm256_cvtps_ph(v, 0));
    }
#endif
    for (; i < count; i++) {
        bad += too_big(src[i]);
        dst[i] = apical_half_from_float(src[i]);
    }
    return bad;
}

size_t apical_f16_from_f64(size_t count, const double *src, uint16_t *dst)
{
    float buf[256];
    size_t bad = 0;
    for (size_t i = 0; i < count; i += 256) {
        size_t m = count - i < 256 ? count - i : 256;
        for (size_t l = 0; l < m; l++)
            buf[l] = (float)src[i + l];
        bad += apical_f16_from_f32(m, buf, dst + i);
    }
    return bad;
}

#if MV_AVX512

/* Keep v in a register: an empty asm that claims to change it, so that the
   compiler cannot fold its load into every instruction that uses it. */
#define KEEP(v) __asm__("" : "+v"(v))

/* The lane sums of four accumulators at once (a short row spends more in
   its sum across lanes than in its products): pairs within 128-bit lanes,
   then across them.  Each row's sum has the same order whichever four
   rows share the call, so a row alone (with three zero rows) gets the
   same bits as in a group. */
static inline void reduce4_pd(__m512d a0, __m512d a1, __m512d a2, __m512d a3, double *out)
{
    __m512d t01 = _mm512_add_pd(_mm512_unpacklo_pd(a0, a1), _mm512_unpackhi_pd(a0, a1));
    __m512d t23 = _mm512_add_pd(_mm512_unpacklo_pd(a2, a3), _mm512_unpackhi_pd(a2, a3));
    /* 128-bit lanes: (t01 0, t01 2, t23 0, t23 2) + (t01 1, t01 3, t23 1, t23 3) */
    __m512d s = _mm512_add_pd(_mm512_shuffle_f64x2(t01, t23, _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f64x2(t01, t23, _MM_SHUFFLE(3, 1, 3, 1)));
    __m512d r = _mm512_add_pd(s, _mm512_shuffle_f64x2(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
    double t[8];
    _mm512_storeu_pd(t, r);
    out[0] += t[0];
    out[1] += t[1];
    out[2] += t[4];
    out[3] += t[5];
}

static inline void reduce4_ps(__m512 a0, __m512 a1, __m512 a2, __m512 a3, double *out)
{
    __m512 t01 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
    __m512 t23 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
    /* per 128-bit lane: (a, b, c, d) partial sums, then the four lanes */
    __m512 u = _mm512_add_ps(
        _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t01), _mm512_castps_pd(t23))),
        _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t01), _mm512_castps_pd(t23))));
    __m512 v = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, _MM_SHUFFLE(2, 3, 0, 1)));
    __m512 r = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    float t[16];
    _mm512_storeu_ps(t, r);
    for (int i = 0; i < 4; i++)
        out[i] += (double)t[i];
}

/* Row sums of R <= 4 rows at w (row length n) with x, added to out: per
   row accumulators a (columns 32 k .. 32 k + 15 of each 32, and the masked
   tail) and b (the other half), summed a + b and reduced four rows at a
   time (absent rows as zeros), so each row's bits are the same for any R.
   Inline with R constant at each call: one copy per R.  Then the driver:
   rows [lo, hi) in groups of four and single rows. */
#define MV_TYPE(SFX, WT, XT, VT, LANES, MASKT, ZERO, LOADW, MLOADW, LOADX, MLOADX, FMA, ADD,       \
                REDUCE)                                                                            \
    static inline void rows_##SFX(size_t n, const WT *w, const XT *x, double *out, int R)         \
    {                                                                                              \
        VT a[4], b[4];                                                                             \
        for (int r = 0; r < 4; r++)                                                                \
            a[r] = b[r] = ZERO;                                                                    \
        size_t j = 0;                                                                              \
        for (; j + 2 * LANES <= n; j += 2 * LANES) {                                               \
            VT x0 = LOADX(x + j), x1 = LOADX(x + j + LANES);                                       \
            KEEP(x0);                                                                              \
            KEEP(x1);                                                                              \
            for (int r = 0; r < R; r++) {                                                          \
                a[r] = FMA(LOADW(w + r * n + j), x0, a[r]);                                        \
                b[r] = FMA(LOADW(w + r * n + j + LANES), x1, b[r]);                                \
            }                                                                                      \
        }                                                                                          \
        for (; j < n; j += LANES) {                                                                \
            MASKT m = n - j >= LANES ? (MASKT) ~(MASKT)0 : (MASKT)((1u << (n - j)) - 1);           \
            VT x0 = MLOADX(m, x + j);                                                              \
            for (int r = 0; r < R; r++)                                                            \
                a[r] = FMA(MLOADW(m, w + r * n + j), x0, a[r]);                                    \
        }                                                                                          \
        double t[4] = { 0, 0, 0, 0 };                                                              \
        REDUCE(ADD(a[0], b[0]), ADD(a[1], b[1]), ADD(a[2], b[2]), ADD(a[3], b[3]), t);             \
        for (int r = 0; r < R; r++)                                                                \
            out[r] += t[r];                                                                        \
    }                                                                                              \
    void apical_mv_##SFX(size_t n, const WT *w, const XT *x, size_t lo, size_t hi, double *out)  \
    {                                                                                              \
        size_t k = lo;                                                                             \
        for (; k + 4 <= hi; k += 4)                                                                \
            rows_##SFX(n, w + k * n, x, out + k, 4);                                               \
        for (; k < hi; k++)                                                                        \
            rows_##SFX(n, w + k * n, x, out + k, 1);                                               \
    }

#define LD_PD(p) _mm512_loadu_pd(p)
#define MLD_PD(m, p) _mm512_maskz_loadu_pd(m, p)
#define LD_PS(p) _mm512_loadu_ps(p)
#define MLD_PS(m, p) _mm512_maskz_loadu_ps(m, p)
#define LD_PH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define MLD_PH(m, p) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p))

MV_TYPE(f64, double, double, __m512d, 8, __mmask8, _mm512_setzero_pd(), LD_PD, MLD_PD, LD_PD,
        MLD_PD, _mm512_fmadd_pd, _mm512_add_pd, reduce4_pd)
MV_TYPE(f32, float, float, __m512, 16, __mmask16, _mm512_setzero_ps(), LD_PS, MLD_PS, LD_PS,
        MLD_PS, _mm512_fmadd_ps, _mm512_add_ps, reduce4_ps)
MV_TYPE(f16, uint16_t, float, __m512, 16, __mmask16, _mm512_setzero_ps(), LD_PH, MLD_PH, LD_PS,
        MLD_PS, _mm512_fmadd_ps, _mm512_add_ps, reduce4_ps)

/* rows_f16 for two vectors x and y at once (into out and outy): each row
   of half weights is widened once for both.  Every (row, vector) pair has
   its own accumulators a and b, fed in rows_f16's order and reduced by the
   same reduce4_ps, so each column's bits are those of rows_f16 alone. */
static inline void rows_f16_x2(size_t n, const uint16_t *w, const float *x, const float *y,
                               double *out, double *outy, int R)
{
    __m512 a[4], b[4], c[4], d[4];
    for (int r = 0; r < 4; r++)
        a[r] = b[r] = c[r] = d[r] = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 x0 = LD_PS(x + j), x1 = LD_PS(x + j + 16);
        __m512 y0 = LD_PS(y + j), y1 = LD_PS(y + j + 16);
        KEEP(x0);
        KEEP(x1);
        KEEP(y0);
        KEEP(y1);
        for (int r = 0; r < R; r++) {
            __m512 w0 = LD_PH(w + r * n + j), w1 = LD_PH(w + r * n + j + 16);
            a[r] = _mm512_fmadd_ps(w0, x0, a[r]);
            b[r] = _mm512_fmadd_ps(w1, x1, b[r]);
            c[r] = _mm512_fmadd_ps(w0, y0, c[r]);
            d[r] = _mm512_fmadd_ps(w1, y1, d[r]);
        }
    }
    for (; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)~(__mmask16)0 : (__mmask16)((1u << (n - j)) - 1);
        __m512 x0 = MLD_PS(m, x + j), y0 = MLD_PS(m, y + j);
        for (int r = 0; r < R; r++) {
            __m512 w0 = MLD_PH(m, w + r * n + j);
            a[r] = _mm512_fmadd_ps(w0, x0, a[r]);
            c[r] = _mm512_fmadd_ps(w0, y0, c[r]);
        }
    }
    double t[4] = { 0, 0, 0, 0 }, u[4] = { 0, 0, 0, 0 };
    reduce4_ps(_mm512_add_ps(a[0], b[0]), _mm512_add_ps(a[1], b[1]), _mm512_add_ps(a[2], b[2]),
               _mm512_add_ps(a[3], b[3]), t);
    reduce4_ps(_mm512_add_ps(c[0], d[0]), _mm512_add_ps(c[1], d[1]), _mm512_add_ps(c[2], d[2]),
               _mm512_add_ps(c[3], d[3]), u);
    for (int r = 0; r < R; r++) {
        out[r] += t[r];
        outy[r] += u[r];
    }
}

/* apical_mv_f16 of rows [lo, hi) with two vectors. */
static void mv_f16_x2(size_t n, const uint16_t *w, const float *x, const float *y, size_t lo,
                      size_t hi, double *out, double *outy)
{
    size_t k = lo;
    for (; k + 4 <= hi; k += 4)
        rows_f16_x2(n, w + k * n, x, y, out + k, outy + k, 4);
    for (; k < hi; k++)
        rows_f16_x2(n, w + k * n, x, y, out + k, outy + k, 1);
}

/* rows_f16 for four vectors x[0..3] at once (into out[0..3]), R <= 2 rows:
   each widened row of half weights feeds four vectors, so the widening
   (vcvtph2ps) is spread over twice the multiplies of rows_f16_x2.  Every
   (row, vector) pair keeps its own accumulators a and b, fed in rows_f16's
   order and reduced by the same reduce4_ps (absent rows as zeros), so each
   column's bits are those of rows_f16 alone. */
static inline void rows_f16_x4(size_t n, const uint16_t *w, const float *const *x,
                               double *const *out, size_t k, int R)
{
    __m512 a[2][4], b[2][4];
    for (int r = 0; r < 2; r++)
        for (int v = 0; v < 4; v++)
            a[r][v] = b[r][v] = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        /* the four vectors' first sixteen columns, held in registers for
           both rows (KEEP: left to itself the compiler loads them again
           inside each multiply-add, and the loads, not the multiplies,
           set the pace), then the second sixteen */
        __m512 x0[4], x1[4];
        for (int v = 0; v < 4; v++) {
            x0[v] = LD_PS(x[v] + j);
            KEEP(x0[v]);
        }
        for (int r = 0; r < R; r++) {
            __m512 w0 = LD_PH(w + r * n + j);
            for (int v = 0; v < 4; v++)
                a[r][v] = _mm512_fmadd_ps(w0, x0[v], a[r][v]);
        }
        for (int v = 0; v < 4; v++) {
            x1[v] = LD_PS(x[v] + j + 16);
            KEEP(x1[v]);
        }
        for (int r = 0; r < R; r++) {
            __m512 w1 = LD_PH(w + r * n + j + 16);
            for (int v = 0; v < 4; v++)
                b[r][v] = _mm512_fmadd_ps(w1, x1[v], b[r][v]);
        }
    }
    for (; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)~(__mmask16)0 : (__mmask16)((1u << (n - j)) - 1);
        for (int r = 0; r < R; r++) {
            __m512 w0 = MLD_PH(m, w + r * n + j);
            for (int v = 0; v < 4; v++)
                a[r][v] = _mm512_fmadd_ps(w0, MLD_PS(m, x[v] + j), a[r][v]);
        }
    }
    const __m512 z = _mm512_setzero_ps();
    for (int v = 0; v < 4; v++) {
        double t[4] = { 0, 0, 0, 0 };
        reduce4_ps(_mm512_add_ps(a[0][v], b[0][v]), _mm512_add_ps(a[1][v], b[1][v]),
                   _mm512_add_ps(z, z), _mm512_add_ps(z, z), t);
        for (int r = 0; r < R; r++)
            out[v][k + r] += t[r];
    }
}

/* apical_mv_f16 of rows [lo, hi) with four vectors. */
static void mv_f16_x4(size_t n, const uint16_t *w, const float *const *x, size_t lo, size_t hi,
                      double *const *out)
{
    size_t k = lo;
    for (; k + 2 <= hi; k += 2)
        rows_f16_x4(n, w + k * n, x, out, k, 2);
    for (; k < hi; k++)
        rows_f16_x4(n, w + k * n, x, out, k, 1);
}

#else /* portable: one row at a time, in GCC/Clang vectors */

typedef double mv_v8 __attribute__((vector_size(64), aligned(8), may_alias));
typedef float mv_f16 __attribute__((vector_size(64), aligned(4), may_alias));

static inline double dot_f64(size_t n, const double *restrict w, const double *restrict x)
{
    const size_t n8 = n & ~(size_t)7;
    mv_v8 a = { 0 };
    for (size_t j = 0; j < n8; j += 8)
        a += *(const mv_v8 *)(w + j) * *(const mv_v8 *)(x + j);
    double s = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
    for (size_t j = n8; j < n; j++)
        s += w[j] * x[j];
    return s;
}

static inline float dot_f32(size_t n, const float *restrict w, const float *restrict x)
{
    const size_t n16 = n & ~(size_t)15;
    mv_f16 a = { 0 };
    for (size_t j = 0; j < n16; j += 16)
        a += *(const mv_f16 *)(w + j) * *(const mv_f16 *)(x + j);
    float s = 0;
    for (int l = 0; l < 16; l++)
        s += a[l];
    for (size_t j = n16; j < n; j++)
        s += w[j] * x[j];
    return s;
}

void apical_mv_f64(size_t n, const double *w, const double *x, size_t lo, size_t hi, double *out)
{
    for (size_t k = lo; k < hi; k++)
        out[k] += dot_f64(n, w + k * n, x);
}

void apical_mv_f32(size_t n, const float *w, const float *x, size_t lo, size_t hi, double *out)
{
    for (size_t k = lo; k < hi; k++)
        out[k] += dot_f32(n, w + k * n, x);
}

void apical_mv_f16(size_t n, const uint16_t *w, const float *x, size_t lo, size_t hi,
                   double *out)
{
    float buf[256];
    for (size_t k = lo; k < hi; k++) {
        const uint16_t *row = w + k * n;
        float s = 0;
        for (size_t j = 0; j < n; j += 256) {
            size_t m = n - j < 256 ? n - j : 256;
#if defined(__F16C__)
            size_t l = 0;
            for (; l + 8 <= m; l += 8)
                _mm256_storeu_ps(buf + l, _mm256_cvtph_ps(_mm_loadu_si128(
                                              (const __m128i *)(const void *)(row + j + l))));
            for (; l < m; l++)
                buf[l] = apical_float_from_half(row[j + l]);
#else
            for (size_t l = 0; l < m; l++)
                buf[l] = apical_float_from_half(row[j + l]);
#endif
            s += dot_f32(m, buf, x + j);
        }
        out[k] += s;
    }
}

#endif

/* B vectors: rows [lo, hi) of W times each x + b ldx, added to out + b ldo.
   A block of rows small enough to stay in L1 goes through every vector
   before the next block is read, so W streams from memory once for all B;
   each product is apical_mv's on the same rows, so every column's bits are
   those of one vector alone. */
static size_t mm_block(size_t n, size_t bytes)
{
    size_t r = 32768 / (n * bytes + 1);
    r &= ~(size_t)3;
    return r < 4 ? 4 : r;
}

#define MM_TYPE(SFX, WT, XT)                                                                      \
    void apical_mm_##SFX(size_t n, const WT *w, const XT *x, size_t ldx, size_t nb, size_t lo,   \
                         size_t hi, double *out, size_t ldo)                                      \
    {                                                                                             \
        const size_t blk = mm_block(n, sizeof(WT));                                               \
        for (size_t r = lo; r < hi; r += blk) {                                                   \
            size_t e = hi - r > blk ? r + blk : hi;                                               \
            for (size_t b = 0; b < nb; b++)                                                       \
                apical_mv_##SFX(n, w, x + b * ldx, r, e, out + b * ldo);                          \
        }                                                                                         \
    }

MM_TYPE(f64, double, double)
MM_TYPE(f32, float, float)
#if MV_AVX512
/* f16: the vectors four at a time (mv_f16_x4), then two (mv_f16_x2), an
   odd one alone */
void apical_mm_f16(size_t n, const uint16_t *w, const float *x, size_t ldx, size_t nb,
                   size_t lo, size_t hi, double *out, size_t ldo)
{
    const size_t blk = mm_block(n, sizeof(uint16_t));
    for (size_t r = lo; r < hi; r += blk) {
        size_t e = hi - r > blk ? r + blk : hi, b = 0;
        for (; b + 4 <= nb; b += 4) {
            const float *xs[4] = { x + b * ldx, x + (b + 1) * ldx, x + (b + 2) * ldx,
                                   x + (b + 3) * ldx };
            double *os[4] = { out + b * ldo, out + (b + 1) * ldo, out + (b + 2) * ldo,
                              out + (b + 3) * ldo };
            mv_f16_x4(n, w, xs, r, e, os);
        }
        for (; b + 2 <= nb; b += 2)
            mv_f16_x2(n, w, x + b * ldx, x + (b + 1) * ldx, r, e, out + b * ldo,
                      out + (b + 1) * ldo);
        if (b < nb)
            apical_mv_f16(n, w, x + b * ldx, r, e, out + b * ldo);
    }
}
#else
MM_TYPE(f16, uint16_t, float)
#endif
