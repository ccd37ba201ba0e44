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
