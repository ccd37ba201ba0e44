/*
 * enospc.c -- a fault-injection shim for tests/write_errors.sh, preloaded
 * (LD_PRELOAD) into apical: writes to files whose path contains
 * $APICAL_FAULT_PATH fail with ENOSPC ("No space left on device") after
 * $APICAL_FAULT_AFTER successful write calls to such files, as on a disk
 * that fills up.  It interposes the stdio and POSIX calls the program makes
 * (fwrite, fputc, fputs, fprintf, vfprintf, fflush, fclose, fsync, write,
 * close); a failing stream gets its error flag set, as a real failure
 * would.  Built for the tests only (glibc).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_ERR_SEEN 0x20 /* glibc's stream error flag (FILE._flags) */

static long calls; /* write calls to matching files so far */

/* Whether this write call to descriptor fd fails. */
static int fails(int fd)
{
    const char *want = getenv("APICAL_FAULT_PATH"), *after = getenv("APICAL_FAULT_AFTER");
    if (!want || !*want || fd < 0)
        return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = 0;
    if (!strstr(path, want))
        return 0;
    return ++calls > (after ? atol(after) : 0);
}

static int stream_fails(FILE *f)
{
    if (!f || !fails(fileno(f)))
        return 0;
    f->_flags |= IO_ERR_SEEN;
    errno = ENOSPC;
    return 1;
}

#define REAL(ret, name, ...) \
    static ret (*real)(__VA_ARGS__); \
    if (!real) \
        *(void **)&real = dlsym(RTLD_NEXT, name)

size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    REAL(size_t, "fwrite", const void *, size_t, size_t, FILE *);
    return stream_fails(f) ? 0 : real(p, size, n, f);
}

int fputc(int c, FILE *f)
{
    REAL(int, "fputc", int, FILE *);
    return stream_fails(f) ? EOF : real(c, f);
}

int fputs(const char *s, FILE *f)
{
    REAL(int, "fputs", const char *, FILE *);
    return stream_fails(f) ? EOF : real(s, f);
}

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
    REAL(int, "vfprintf", FILE *, const char *, va_list);
    return stream_fails(f) ? -1 : real(f, fmt, ap);
}

int fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfprintf(f, fmt, ap);
    va_end(ap);
    return rc;
}

int fflush(FILE *f)
{
    REAL(int, "fflush", FILE *);
    return stream_fails(f) ? EOF : real(f);
}

int fclose(FILE *f)
{
    REAL(int, "fclose", FILE *);
    int bad = stream_fails(f), rc = real(f);
    if (bad)
        errno = ENOSPC;
    return bad ? EOF : rc;
}

int fsync(int fd)
{
    REAL(int, "fsync", int);
    if (fails(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd);
}

ssize_t write(int fd, const void *p, size_t n)
{
    REAL(ssize_t, "write", int, const void *, size_t);
    if (fails(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, p, n);
}

int close(int fd)
{
    REAL(int, "close", int);
    int bad = fails(fd), rc = real(fd);
    if (bad)
        errno = ENOSPC;
    return bad ? -1 : rc;
}
