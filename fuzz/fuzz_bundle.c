/*
 * Audit bundles (tl_bundle.h, FORMAT.md section 8) as `techledger verify BUNDLE` reads them:
 * each input is unpacked into a bundle directory, then tl_verify_path audits it. That walks
 * the whole reader: the directory's files and their sizes, the names in checkpoints/, the
 * records file's framing, the verifier key line and admin.pub, and then the audit itself
 * (signatures, rules, versions, the Merkle tree against every checkpoint).
 *
 * An input is a sequence of sections, so that mutations reach every file and every name:
 *
 *     section = tag (1 byte) || length (2 bytes, little-endian) || that many bytes
 *
 *     'R'  appended to `records`
 *     'V'  `ledger.vkey` (the last one wins)
 *     'A'  `admin.pub` (the last one wins)
 *     'N'  the name of the next checkpoint file
 *     'C'  a file in checkpoints/, named by the last 'N' (a file without a usable name, one
 *          that is empty, holds '/' or NUL, is "." or "..", or is longer than
 *          BUNDLE_NAME_BYTES_MAX, is not written)
 *
 * A length past the end takes what is left; any other tag ends the input. A file with no
 * section is absent; checkpoints/ always exists. The seeds (gen_corpus.c) are whole valid
 * bundles.
 *
 * Invariants: the audit passes, or fails with its error code and a rule, and a verdict
 * (report.failed) says where; a passing audit checked at least the genesis record and covers
 * no more records than it checked.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "tl_bundle.h"
#include "tl_verify.h"

#define BUNDLE_NAME_BYTES_MAX 64u

static char dir[64];
static char cpdir[sizeof dir + 16];

static void remove_dir(void)
{
    DIR *d = opendir(cpdir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && unlinkat(dirfd(d), e->d_name, 0) != 0)
                abort();
        closedir(d);
    }
    static const char *const files[] = {TL_BUNDLE_RECORDS, TL_BUNDLE_VKEY, TL_BUNDLE_ADMIN};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[sizeof dir + 32];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
}

static void cleanup(void)
{
    remove_dir();
    rmdir(cpdir);
    rmdir(dir);
}

/* The bundle directory, made once per process and emptied before each input. */
static void prepare_dir(void)
{
    if (dir[0] == '\0') {
        snprintf(dir, sizeof dir, "/tmp/tl-fuzz-bundle-XXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
        snprintf(cpdir, sizeof cpdir, "%s/%s", dir, TL_BUNDLE_CHECKPOINTS);
        if (mkdir(cpdir, 0700) != 0)
            abort();
        atexit(cleanup);
    }
    remove_dir();
}

static void write_file(const char *path, const uint8_t *data, size_t len, bool append)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
    if (fd < 0)
        abort();
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0)
            abort();
        data += n;
        len -= (size_t)n;
    }
    close(fd);
}

static bool usable_name(const uint8_t *name, size_t len)
{
    if (len == 0 || len > BUNDLE_NAME_BYTES_MAX || memchr(name, '/', len) != NULL || memchr(name, 0, len) != NULL)
        return false;
    return !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.');
}

static void unpack(const uint8_t *data, size_t size)
{
    char path[sizeof cpdir + BUNDLE_NAME_BYTES_MAX + 2];
    const uint8_t *name = NULL;
    size_t name_len = 0;
    size_t at = 0;
    while (size - at >= 3) {
        uint8_t tag = data[at];
        size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;
        at += 3;
        if (len > size - at)
            len = size - at;
        const uint8_t *p = data + at;
        at += len;
        switch (tag) {
        case 'R':
            snprintf(path, sizeof path, "%s/%s", dir, TL_BUNDLE_RECORDS);
            write_file(path, p, len, true);
            break;
        case 'V':
            snprintf(path, sizeof path, "%s/%s", dir, TL_BUNDLE_VKEY);
            write_file(path, p, len, false);
            break;
        case 'A':
            snprintf(path, sizeof path, "%s/%s", dir, TL_BUNDLE_ADMIN);
            write_file(path, p, len, false);
            break;
        case 'N':
            name = p;
            name_len = len;
            break;
        case 'C':
            if (name != NULL && usable_name(name, name_len)) {
                snprintf(path, sizeof path, "%s/%.*s", cpdir, (int)name_len, (const char *)name);
                write_file(path, p, len, false);
            }
            break;
        default:
            return;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size > FUZZ_INPUT_BYTES_MAX)
        return 0;
    prepare_dir();
    unpack(data, size);
    tl_verify_report report;
    tl_error err;
    tl_error_clear(&err);
    tl_verify_options opt = {.threads = 1};
    int rc = tl_verify_path(&report, dir, &opt, &err);
    if (rc == 0) {
        FUZZ_CHECK(!report.failed, "a passing audit reports no failure");
        FUZZ_CHECK(report.records >= 1, "a passing audit checked the genesis record at least");
        FUZZ_CHECK(report.checkpoint_size <= report.records, "no checkpoint covers records that were not checked");
        FUZZ_CHECK(report.uncovered == report.records - report.checkpoint_size,
                   "the records after the last checkpoint are the uncovered ones");
    } else {
        FUZZ_CHECK(rc < 0 && err.code == rc, "a failed audit fills the error with its code");
        FUZZ_CHECK(err.rule[0] != '\0', "a failed audit names a rule");
        FUZZ_CHECK(!report.failed || report.where[0] != '\0', "a verdict says where");
    }
    return 0;
}
