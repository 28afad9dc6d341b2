/*
 * Replays a fuzz target without libFuzzer, so that the ordinary build and ctest run every
 * target's body (label unit). Usage: fuzz_<name>_smoke FILE|DIR...
 *
 * Each file is run as it is, then every prefix of it (truncations are the commonest damage),
 * then with each byte's lowest and highest bit flipped in turn. That is a few thousand runs per
 * seed, deterministic, and enough to walk most refusal paths of a strict decoder; libFuzzer
 * (scripts/fuzz.sh) does the open-ended exploring.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Seeds larger than this are run as they are but not mutated byte by byte. */
#define DRIVER_MUTATE_BYTES_MAX 4096u
#define DRIVER_FILE_BYTES_MAX (FUZZ_INPUT_BYTES_MAX)

static unsigned long runs;

static void run(const uint8_t *data, size_t len)
{
    /* A fresh heap copy of exactly len bytes, so that ASan sees any read past the end. */
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    runs++;
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    uint8_t *buf = malloc(DRIVER_FILE_BYTES_MAX);
    if (buf == NULL)
        abort();
    size_t len = fread(buf, 1, DRIVER_FILE_BYTES_MAX, f);
    fclose(f);
    fprintf(stderr, "  %s (%zu bytes)\n", path, len);
    run(buf, len);
    if (len <= DRIVER_MUTATE_BYTES_MAX) {
        for (size_t n = 0; n < len; n++)
            run(buf, n);
        for (size_t i = 0; i < len; i++)
            for (int bit = 0; bit < 8; bit += 7) {
                buf[i] ^= (uint8_t)(1u << bit);
                run(buf, len);
                buf[i] ^= (uint8_t)(1u << bit);
            }
    }
    free(buf);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        perror(dir);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            names = realloc(names, cap * sizeof *names);
            if (names == NULL)
                abort();
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (names[n] == NULL)
            abort();
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int bad = n == 0;
    if (n == 0)
        fprintf(stderr, "%s: no seed inputs\n", dir);
    for (size_t i = 0; i < n; i++) {
        bad |= run_file(names[i]);
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            bad = 1;
        } else if (S_ISDIR(st.st_mode)) {
            bad |= run_dir(argv[i]);
        } else {
            bad |= run_file(argv[i]);
        }
    }
    printf("%lu runs, %s\n", runs, bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}
