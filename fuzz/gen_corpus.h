/*
 * The seed corpus generator's shared pieces (gen_corpus.c): each target's seeds are written
 * with gen_put; gen_http.c adds the HTTP target's.
 */
#ifndef TL_FUZZ_GEN_CORPUS_H
#define TL_FUZZ_GEN_CORPUS_H

#include <stddef.h>

/* Writes OUTDIR/<target>/<name> (the directory is made if needed); exits on failure. */
void gen_put(const char *target, const char *name, const void *data, size_t len);
/* Prints what failed and exits with status 1. */
void gen_die(const char *what) __attribute__((noreturn));
/* The seeds of fuzz_http (gen_http.c). */
void gen_http_seeds(void);

#endif
