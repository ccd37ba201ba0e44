# APICAL_CHECK_CBLAS
# Use OpenBLAS's CBLAS when pkg-config finds it (--without-openblas to skip),
# else GSL's reference CBLAS.  Sets CBLAS_LIBS and CBLAS_NAME.  GSL's own
# pkg-config flags carry -lgslcblas; GSL_LIBS_NOCBLAS is GSL without it.
AC_DEFUN([APICAL_CHECK_CBLAS], [
  AC_ARG_WITH([openblas],
    [AS_HELP_STRING([--without-openblas], [use GSL's reference CBLAS instead of OpenBLAS])],
    [], [with_openblas=check])
  CBLAS_NAME="gslcblas"
  CBLAS_LIBS="-lgslcblas"
  AS_IF([test "x$with_openblas" != xno], [
    PKG_CHECK_MODULES([OPENBLAS], [openblas],
      [CBLAS_NAME="openblas"; CBLAS_LIBS="$OPENBLAS_LIBS"],
      [AS_IF([test "x$with_openblas" = xyes], [AC_MSG_ERROR([OpenBLAS requested but not found])])])
  ])
  GSL_LIBS_NOCBLAS=`echo "$GSL_LIBS" | sed 's/-lgslcblas//'`
  AC_SUBST([CBLAS_LIBS])
  AC_SUBST([CBLAS_NAME])
  AC_SUBST([GSL_LIBS_NOCBLAS])
  AC_DEFINE_UNQUOTED([APICAL_CBLAS_NAME], ["$CBLAS_NAME"], [CBLAS implementation linked])
])

# APICAL_DEV_WARNINGS
# -Wall -Wextra -Werror unless --disable-werror (release builds on other
# compilers may want that).  Sets APICAL_WARN_CFLAGS.
AC_DEFUN([APICAL_DEV_WARNINGS], [
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--disable-werror], [do not turn warnings into errors])],
    [], [enable_werror=yes])
  APICAL_WARN_CFLAGS="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes"
  AS_IF([test "x$enable_werror" = xyes], [APICAL_WARN_CFLAGS="$APICAL_WARN_CFLAGS -Werror"])
  AC_SUBST([APICAL_WARN_CFLAGS])
])

# APICAL_CHECK_MPI
# MPI for apical-mpi (sweeps across ranks), optional: pkg-config's ompi-c
# (Debian's libopenmpi-dev), else mpicc's own flags (--showme), else none
# (--without-mpi to skip).  Sets MPI_CFLAGS, MPI_LIBS, MPI_NAME and the
# HAVE_MPI conditional.
AC_DEFUN([APICAL_CHECK_MPI], [
  AC_ARG_WITH([mpi],
    [AS_HELP_STRING([--without-mpi], [do not build apical-mpi (sweeps across MPI ranks)])],
    [], [with_mpi=check])
  have_mpi=no
  MPI_NAME="none (apical sweep runs local processes only)"
  AS_IF([test "x$with_mpi" != xno], [
    PKG_CHECK_MODULES([MPI], [ompi-c], [have_mpi=yes], [
      AC_PATH_PROG([MPICC], [mpicc])
      AS_IF([test -n "$MPICC"], [
        MPI_CFLAGS=`$MPICC --showme:compile 2>/dev/null`
        MPI_LIBS=`$MPICC --showme:link 2>/dev/null`
        AS_IF([test -n "$MPI_LIBS"], [have_mpi=yes])
      ])
    ])
    AS_IF([test "x$have_mpi" = xyes], [
      save_CFLAGS=$CFLAGS; save_LIBS=$LIBS
      CFLAGS="$CFLAGS $MPI_CFLAGS"; LIBS="$LIBS $MPI_LIBS"
      AC_MSG_CHECKING([whether an MPI program links])
      AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <mpi.h>]], [[MPI_Init(0, 0); MPI_Finalize();]])],
        [AC_MSG_RESULT([yes])], [AC_MSG_RESULT([no]); have_mpi=no])
      CFLAGS=$save_CFLAGS; LIBS=$save_LIBS
    ])
    AS_IF([test "x$have_mpi" = xyes], [MPI_NAME="yes ($MPI_LIBS)"],
          [test "x$with_mpi" = xyes], [AC_MSG_ERROR([MPI requested but not found])])
  ])
  AM_CONDITIONAL([HAVE_MPI], [test "x$have_mpi" = xyes])
  AS_IF([test "x$have_mpi" = xyes], [HAVE_MPI_01=1], [HAVE_MPI_01=0])
  AC_SUBST([HAVE_MPI_01])
  AC_SUBST([MPI_CFLAGS])
  AC_SUBST([MPI_LIBS])
])
