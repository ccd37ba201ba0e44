/*
 * openblas_core.h -- for programs (not the library): re-run once with the
 * right OPENBLAS_CORETYPE when OpenBLAS fell back to Prescott kernels.
 * Include in the file that holds main() and call first thing.
 */
#ifndef APICAL_OPENBLAS_CORE_H
#define APICAL_OPENBLAS_CORE_H

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Debian's OpenBLAS 0.3.21 does not recognise some virtual CPUs (this
   project's development VM among them) and falls back to its Prescott (SSE3)
   kernels: gemm runs 3-4x below the machine's rate.  OpenBLAS reads
   OPENBLAS_CORETYPE only as it loads, so when it fell back on a CPU with
   AVX-512 or AVX2, run ourselves again, once, with the matching core type.
   Setting OPENBLAS_CORETYPE (to anything) keeps this from happening. */
static inline void apical_openblas_coretype(char **argv)
{
    const char *pre = getenv("LD_PRELOAD");
    if (getenv("OPENBLAS_CORETYPE") || (pre && strstr(pre, "vgpreload")))
        return; /* set by the user, or under valgrind (the new image would escape it) */
    void *sym = dlsym(RTLD_DEFAULT, "openblas_get_corename");
    if (!sym)
        return; /* another CBLAS */
    char *(*corename)(void);
    memcpy(&corename, &sym, sizeof sym);
    const char *core = corename();
    if (!core || strcasecmp(core, "prescott") != 0)
        return;
    __builtin_cpu_init();
    const char *want = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                       : __builtin_cpu_supports("avx2") ? "Haswell" : NULL;
    if (!want || setenv("OPENBLAS_CORETYPE", want, 1) != 0)
        return;
    execv("/proc/self/exe", argv); /* if that fails, carry on as we are */
}

/* The step loop and the steady-state kernels do not call BLAS; only a
   rule batch without a low-pass filter does (one dgemm per flush).
   OpenBLAS's idle threads wait by spinning on sched_yield, and on a
   two-core machine they take a core from the OpenMP threads that do the
   work.  So BLAS runs on the calling thread unless OPENBLAS_NUM_THREADS
   says otherwise.  Call after any BLAS benchmark that wants all cores. */
static inline void apical_openblas_single_thread(void)
{
    if (getenv("OPENBLAS_NUM_THREADS"))
        return;
    void *sym = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (!sym)
        return; /* another CBLAS */
    void (*set)(int);
    memcpy(&set, &sym, sizeof sym);
    set(1);
}

#endif
