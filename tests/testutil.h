/* Helpers shared by the tests: temporary directories, key fixtures, event building. */
#ifndef TL_TESTUTIL_H
#define TL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A fresh empty directory under $TMPDIR (or /tmp); the returned string is malloc'd. */
char *tl_test_tmpdir(const char *tag);
/* rm -rf of a directory made by tl_test_tmpdir. */
void tl_test_rmdir(const char *path);

#endif
