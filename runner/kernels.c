/*
 * kernels.c -- weight matrix times a small batch, in single and double
 * precision (see kernels.h).  Written with GCC's vector extensions: the
 * vector width follows the target (64 bytes with AVX-512, 32 with AVX,
 * else 16), so the same code is portable and, built with --enable-native,
 * uses the widest registers the machine has.  kernels_t.h holds the code
 * once for both element types.
 */
#include "config.h"

#include <string.h>

#include "kernels.h"

#if defined(__AVX512F__)
#define VB 64
#elif defined(__AVX__)
#define VB 32
#else
#define VB 16
#endif


#define T float
#define N(name) name##_f32
#include "kernels_t.h"
#undef T
#undef N

#define T double
#define N(name) name##_f64
#include "kernels_t.h"
#undef T
#undef N
