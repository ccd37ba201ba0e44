"""Where make install puts libapical."""
LIBDIR = "/usr/local/lib"
