/*
 * noise.c -- standard normal numbers from a counter-based generator.
 *
 * Normal number q of a step is a pure function of (key, q): Philox4x32-10
 * (Salmon, Moraes, Dror and Shaw, SC'11) maps the counter (q / 2, 0, 0, 0)
 * under the step's 64-bit key to 128 random bits, and a Box-Muller transform
 * turns them into the pair of normals q = 2 c and 2 c + 1.  So the numbers
 * do not depend on how many threads draw them or in which order, and a
 * whole step's noise is a few vectorised passes: no branches, no tables, no
 * state but the key (which the caller draws from a GSL generator, so
 * checkpoints keep one generator state as before).
 *
 * Box-Muller: u in (0, 1] from 53 bits, v in [0, 1) from 53 more and two
 * bits for the quadrant: r = sqrt(-2 ln u), angle = (v - 1/2) pi / 2 plus a
 * quarter turn per quadrant.  log, sin and cos are polynomials in this
 * file, accurate to a few units in the last place of a double on their
 * reduced ranges, written as plain arithmetic so that the compiler
 * vectorises the lanes; |z| reaches 8.57 (u = 2^-53).
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "apical_runner.h"

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

/* ln x for x in (0, 1], finite: x = 2^e m with m in [sqrt(1/2), sqrt(2)),
   ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.1716, by its series to
   s^21 (next term below 1e-17 relative). */
static inline double log_pos(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    int64_t e = (int64_t)(b >> 52) - 1023;
    uint64_t mb = (b & UINT64_C(0x000FFFFFFFFFFFFF)) | UINT64_C(0x3FF0000000000000);
    double m;
    memcpy(&m, &mb, sizeof m);
    int big = m > 1.4142135623730951;
    m = big ? 0.5 * m : m;
    e += big;
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double p = 1.0 / 21;
    p = p * s2 + 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    p = p * s2 + 1.0;
    return (double)e * 0.69314718055994530942 + 2.0 * s * p;
}

/* sin and cos of a in [-pi/4, pi/4] by their Taylor series to a^19 and a^18
   (remainders below 1e-19). */
static inline void sincos_q(double a, double *sn, double *cs)
{
    double a2 = a * a;
    double s = -1.0 / 121645100408832000.0; /* -1/19! */
    s = s * a2 + 1.0 / 355687428096000.0;
    s = s * a2 - 1.0 / 1307674368000.0;
    s = s * a2 + 1.0 / 6227020800.0;
    s = s * a2 - 1.0 / 39916800.0;
    s = s * a2 + 1.0 / 362880.0;
    s = s * a2 - 1.0 / 5040.0;
    s = s * a2 + 1.0 / 120.0;
    s = s * a2 - 1.0 / 6.0;
    s = s * a2 + 1.0;
    double c = 1.0 / 6402373705728000.0; /* 1/18! */
    c = c * a2 - 1.0 / 20922789888000.0;
    c = c * a2 + 1.0 / 87178291200.0;
    c = c * a2 - 1.0 / 479001600.0;
    c = c * a2 + 1.0 / 3628800.0;
    c = c * a2 - 1.0 / 40320.0;
    c = c * a2 + 1.0 / 720.0;
    c = c * a2 - 1.0 / 24.0;
    c = c * a2 + 0.5;
    *sn = a * s;
    *cs = 1.0 - a2 * c;
}

/* The pairs of normals of counters c0 .. c0 + nc - 1 (nc <= LANES), into z
   (2 nc values, pair by pair).  Philox runs on all LANES counters, eight
   vectors side by side through each round, so that their multiplies
   overlap; Box-Muller only on the nc needed. */
static void normal_block(uint64_t key, uint64_t c0, size_t nc, double *z)
{
    /* 32-bit words in 64-bit lanes, so that the 32 x 32 -> 64 bit products
       are one vpmuludq-like instruction per vector */
    uint64_t x0[LANES], x1[LANES], x2[LANES], x3[LANES];
    const uint64_t lo32 = 0xFFFFFFFFu;
    for (int l = 0; l < LANES; l++) {
        x0[l] = (c0 + (uint64_t)l) & lo32;
        x1[l] = (c0 + (uint64_t)l) >> 32 & lo32;
        x2[l] = 0;
        x3[l] = 0;
    }
    uint64_t k0 = key & lo32, k1 = key >> 32;
#if defined(__AVX512F__)
    /* the same rounds, eight lanes a vector: _mm512_mul_epu32 takes the low
       32 bits of each 64-bit lane, the product the generic code forms */
    enum { NV = LANES / 8 };
    __m512i a0[NV], a1[NV], a2[NV], a3[NV];
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1),
                  mask = _mm512_set1_epi64((long long)lo32);
    for (int h = 0; h < NV; h++) {
        a0[h] = _mm512_loadu_si512(x0 + 8 * h);
        a1[h] = _mm512_loadu_si512(x1 + 8 * h);
        a2[h] = _mm512_loadu_si512(x2 + 8 * h);
        a3[h] = _mm512_loadu_si512(x3 + 8 * h);
    }
    for (int r = 0; r < 10; r++) {
        const __m512i kv0 = _mm512_set1_epi64((long long)k0), kv1 = _mm512_set1_epi64((long long)k1);
        for (int h = 0; h < NV; h++) {
            __m512i p0 = _mm512_mul_epu32(a0[h], m0), p1 = _mm512_mul_epu32(a2[h], m1);
            __m512i y0 = _mm512_xor_si512(_mm512_xor_si512(_mm512_srli_epi64(p1, 32), a1[h]), kv0);
            __m512i y2 = _mm512_xor_si512(_mm512_xor_si512(_mm512_srli_epi64(p0, 32), a3[h]), kv1);
            a1[h] = _mm512_and_si512(p1, mask);
            a3[h] = _mm512_and_si512(p0, mask);
            a0[h] = y0;
            a2[h] = y2;
        }
        k0 = (k0 + PHILOX_W0) & lo32;
        k1 = (k1 + PHILOX_W1) & lo32;
    }
    for (int h = 0; h < NV; h++) {
        _mm512_storeu_si512(x0 + 8 * h, a0[h]);
        _mm512_storeu_si512(x1 + 8 * h, a1[h]);
        _mm512_storeu_si512(x2 + 8 * h, a2[h]);
        _mm512_storeu_si512(x3 + 8 * h, a3[h]);
    }
#else
    for (int r = 0; r < 10; r++) {
        for (int l = 0; l < LANES; l++) {
            uint64_t p0 = (x0[l] & lo32) * PHILOX_M0, p1 = (x2[l] & lo32) * PHILOX_M1;
            uint64_t y0 = ((p1 >> 32) ^ x1[l] ^ k0) & lo32, y2 = ((p0 >> 32) ^ x3[l] ^ k1) & lo32;
            x1[l] = p1 & lo32;
            x3[l] = p0 & lo32;
            x0[l] = y0;
            x2[l] = y2;
        }
        k0 = (k0 + PHILOX_W0) & lo32;
        k1 = (k1 + PHILOX_W1) & lo32;
    }
#endif
    double z0[LANES], z1[LANES];
#pragma omp simd
    for (size_t l = 0; l < nc; l++) {
        uint64_t bu = ((uint64_t)x0[l] << 32 | x1[l]) >> 11, bv = ((uint64_t)x2[l] << 32 | x3[l]);
        double u = (double)(bu + 1) * 0x1p-53;                  /* (0, 1] */
        double v = (double)(bv >> 11) * 0x1p-53;                /* [0, 1) */
        unsigned q = (unsigned)(bv & 3);                         /* quadrant */
        double r = sqrt(-2.0 * log_pos(u)), sn, cs;
        sincos_q((v - 0.5) * 1.5707963267948966, &sn, &cs);
        /* a quarter turn per quadrant: (c, s) -> (-s, c) */
        double c1 = q & 1 ? -sn : cs, s1 = q & 1 ? cs : sn;
        double c2 = q & 2 ? -c1 : c1, s2 = q & 2 ? -s1 : s1;
        z0[l] = r * c2;
        z1[l] = r * s2;
    }
    for (size_t l = 0; l < nc; l++) {
        z[2 * l] = z0[l];
        z[2 * l + 1] = z1[l];
    }
}

void apical_normals(uint64_t key, uint64_t first, size_t n, double *out)
{
    double z[2 * LANES];
    uint64_t q = first, end = first + n;
    while (q < end) {
        uint64_t c0 = q / 2, base = 2 * c0, c1 = (end + 1) / 2;
        size_t nc = c1 - c0 < LANES ? (size_t)(c1 - c0) : LANES;
        normal_block(key, c0, nc, z);
        uint64_t lim = base + 2 * nc < end ? base + 2 * nc : end;
        for (; q < lim; q++)
            *out++ = z[q - base];
    }
}
