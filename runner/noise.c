/*
 * noise.c -- standard normal numbers from a counter-based generator.
 *
 * Normal number q of a step is a pure function of (key, q): Philox4x32-10
 * (Salmon, Moraes, Dror and Shaw, SC'11) maps the counter (q / 4, 0, 0, 0)
 * under the step's 64-bit key to four 32-bit words, and two Box-Muller
 * transforms turn words (0, 1) and (2, 3) into the normals 4 c, 4 c + 1 and
 * 4 c + 2, 4 c + 3.  So the numbers do not depend on how many threads draw
 * them or in which order, and a whole step's noise is a few vectorised
 * passes: no branches, no tables, no state but the key (which the caller
 * draws from a GSL generator, so checkpoints keep one generator state as
 * before).
 *
 * Box-Muller, in single precision (sixteen lanes a vector): u = (w + 1/2)
 * 2^-32 in (0, 1] from one word, v = (w' >> 8) 2^-24 in [0, 1) and the
 * quadrant w' & 3 from the other: r = sqrt(-2 ln u), angle = (v - 1/2)
 * pi / 2 plus a quarter turn per quadrant.  log, sin and cos are
 * polynomials in this file, accurate to about 1e-7 on their reduced
 * ranges, written as plain arithmetic so that the compiler vectorises the
 * lanes; |z| reaches 6.66 (u = 2^-33).  A normal carries float's 24 bits:
 * noise, added to a double state.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "circuit_int.h"

enum { LANES = 64 };

#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)

void apical_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t x0 = ctr[0], x1 = ctr[1], x2 = ctr[2], x3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * x0, p1 = (uint64_t)PHILOX_M1 * x2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0, y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
        x1 = (uint32_t)p1;
        x3 = (uint32_t)p0;
        x0 = y0;
        x2 = y2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = x0;
    out[1] = x1;
    out[2] = x2;
    out[3] = x3;
}

/* ln x for x in (0, 1]: x = 2^e m with m in [sqrt(1/2), sqrt(2)),
   ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.1716, by its series to
   s^9 (next term below 3e-9). */
static inline float log_pos(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    int32_t e = (int32_t)(b >> 23) - 127;
    uint32_t mb = (b & 0x007FFFFFu) | 0x3F800000u;
    float m;
    memcpy(&m, &mb, sizeof m);
    int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    e += big;
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float p = 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return (float)e * 0.693147181f + 2.0f * s * p;
}

/* sin and cos of a in [-pi/4, pi/4] by their Taylor series to a^9 and a^10
   (remainders below 2e-9). */
static inline void sincos_q(float a, float *sn, float *cs)
{
    float a2 = a * a;
    float s = 1.0f / 362880;
    s = s * a2 - 1.0f / 5040;
    s = s * a2 + 1.0f / 120;
    s = s * a2 - 1.0f / 6;
    s = s * a2 + 1.0f;
    float c = -1.0f / 3628800;
    c = c * a2 + 1.0f / 40320;
    c = c * a2 - 1.0f / 720;
    c = c * a2 + 1.0f / 24;
    c = c * a2 - 0.5f;
    *sn = a * s;
    *cs = 1.0f + a2 * c;
}

#if defined(__AVX512F__)
#define PHILOX_VECTORS(NV)                                                                     \
    static inline void philox_vectors_##NV(uint64_t *x0, uint64_t *x1, uint64_t *x2,           \
                                           uint64_t *x3, uint64_t k0, uint64_t k1)             \
    {                                                                                          \
        const uint64_t lo32 = 0xFFFFFFFFu;                                                     \
        __m512i a0[NV], a1[NV], a2[NV], a3[NV];                                                \
        const __m512i m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1),   \
                      mask = _mm512_set1_epi64((long long)lo32);                               \
        for (int h = 0; h < NV; h++) {                                                         \
            a0[h] = _mm512_loadu_si512(x0 + 8 * h);                                            \
            a1[h] = _mm512_loadu_si512(x1 + 8 * h);                                            \
            a2[h] = _mm512_loadu_si512(x2 + 8 * h);                                            \
            a3[h] = _mm512_loadu_si512(x3 + 8 * h);                                            \
        }                                                                                      \
        for (int r = 0; r < 10; r++) {                                                         \
            const __m512i kv0 = _mm512_set1_epi64((long long)k0),                              \
                          kv1 = _mm512_set1_epi64((long long)k1);                              \
            for (int h = 0; h < NV; h++) {                                                     \
                __m512i p0 = _mm512_mul_epu32(a0[h], m0), p1 = _mm512_mul_epu32(a2[h], m1);    \
                __m512i y0 = _mm512_xor_si512(                                                 \
                    _mm512_xor_si512(_mm512_srli_epi64(p1, 32), a1[h]), kv0);                  \
                __m512i y2 = _mm512_xor_si512(                                                 \
                    _mm512_xor_si512(_mm512_srli_epi64(p0, 32), a3[h]), kv1);                  \
                a1[h] = _mm512_and_si512(p1, mask);                                            \
                a3[h] = _mm512_and_si512(p0, mask);                                            \
                a0[h] = y0;                                                                    \
                a2[h] = y2;                                                                    \
            }                                                                                  \
            k0 = (k0 + PHILOX_W0) & lo32;                                                      \
            k1 = (k1 + PHILOX_W1) & lo32;                                                      \
        }                                                                                      \
        for (int h = 0; h < NV; h++) {                                                         \
            _mm512_storeu_si512(x0 + 8 * h, a0[h]);                                            \
            _mm512_storeu_si512(x1 + 8 * h, a1[h]);                                            \
            _mm512_storeu_si512(x2 + 8 * h, a2[h]);                                            \
            _mm512_storeu_si512(x3 + 8 * h, a3[h]);                                            \
        }                                                                                      \
    }
PHILOX_VECTORS(2)
PHILOX_VECTORS(4)
PHILOX_VECTORS(8)
#endif

/* The normals of counters c0 .. c0 + nc - 1 (nc <= LANES), into z (4 nc
   values, four per counter).  Philox runs on all LANES counters, eight
   vectors side by side through each round, so that their multiplies
   overlap; Box-Muller only on the nc needed. */
static void normal_block(uint64_t key, uint64_t c0, size_t nc, double *z)
{
    /* 32-bit words in 64-bit lanes, so that the 32 x 32 -> 64 bit products
       are one vpmuludq-like instruction per vector */
    uint64_t x0[LANES], x1[LANES], x2[LANES], x3[LANES];
    const uint64_t lo32 = 0xFFFFFFFFu;
    const size_t nl = nc <= 16 ? 16 : nc <= 32 ? 32 : LANES; /* lanes computed */
    for (size_t l = 0; l < nl; l++) {
        x0[l] = (c0 + (uint64_t)l) & lo32;
        x1[l] = (c0 + (uint64_t)l) >> 32 & lo32;
        x2[l] = 0;
        x3[l] = 0;
    }
    uint64_t k0 = key & lo32, k1 = key >> 32;
#if defined(__AVX512F__)
    /* the same rounds, eight lanes a vector: _mm512_mul_epu32 takes the low
       32 bits of each 64-bit lane, the product the generic code forms; the
       vectors that hold needed counters, side by side through each round */
    if (nl == 16)
        philox_vectors_2(x0, x1, x2, x3, k0, k1);
    else if (nl == 32)
        philox_vectors_4(x0, x1, x2, x3, k0, k1);
    else
        philox_vectors_8(x0, x1, x2, x3, k0, k1);
#else
    const uint32_t key32[2] = { (uint32_t)k0, (uint32_t)k1 };
    for (size_t l = 0; l < nl; l++) { /* lane by lane, the reference function */
        const uint32_t ctr[4] = { (uint32_t)x0[l], (uint32_t)x1[l], 0, 0 };
        uint32_t o[4];
        apical_philox4x32_10(ctr, key32, o);
        x0[l] = o[0], x1[l] = o[1], x2[l] = o[2], x3[l] = o[3];
    }
#endif
    /* pair p = 2 l + h of counter l: words (0, 1) for h = 0, (2, 3) for h = 1 */
    /* whole vectors of sixteen pairs: no scalar remainder */
    const size_t np = (2 * nc + 15) & ~(size_t)15;
    uint32_t wu[2 * LANES], wv[2 * LANES];
    for (size_t l = 0; l < np / 2; l++) {
        wu[2 * l] = (uint32_t)x0[l];
        wv[2 * l] = (uint32_t)x1[l];
        wu[2 * l + 1] = (uint32_t)x2[l];
        wv[2 * l + 1] = (uint32_t)x3[l];
    }
    float z0[2 * LANES], z1[2 * LANES];
#pragma omp simd
    for (size_t l = 0; l < np; l++) {
        float u = ((float)wu[l] + 0.5f) * 0x1p-32f;               /* (0, 1] */
        float v = (float)(wv[l] >> 8) * 0x1p-24f;                 /* [0, 1) */
        unsigned q = wv[l] & 3u;                                  /* quadrant */
        float r = sqrtf(-2.0f * log_pos(u)), sn, cs;
        sincos_q((v - 0.5f) * 1.57079633f, &sn, &cs);
        /* a quarter turn per quadrant: (c, s) -> (-s, c) */
        float c1 = q & 1 ? -sn : cs, s1 = q & 1 ? cs : sn;
        float c2 = q & 2 ? -c1 : c1, s2 = q & 2 ? -s1 : s1;
        z0[l] = r * c2;
        z1[l] = r * s2;
    }
    for (size_t l = 0; l < 2 * nc; l++) {
        z[2 * l] = z0[l];
        z[2 * l + 1] = z1[l];
    }
}

void apical_normals(uint64_t key, uint64_t first, size_t n, double *out)
{
    double z[4 * LANES];
    uint64_t q = first, end = first + n;
    while (q < end) {
        uint64_t c0 = q / 4, base = 4 * c0, c1 = (end + 3) / 4;
        size_t nc = c1 - c0 < LANES ? (size_t)(c1 - c0) : LANES;
        normal_block(key, c0, nc, z);
        uint64_t lim = base + 4 * nc < end ? base + 4 * nc : end;
        for (; q < lim; q++)
            *out++ = z[q - base];
    }
}
