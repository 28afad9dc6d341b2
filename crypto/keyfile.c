/*
 * Key files and small-file helpers.
 *
 * A key file is exactly 64 hex digits and a newline (FORMAT.md section 9). Secret key files
 * are created with O_EXCL and mode 0600 so that an existing key is never overwritten and the
 * seed is never readable by others, even for an instant.
 */
#include "tl_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_BYTES 65 /* 64 hex digits and '\n' */

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int io_error(tl_error *err, const char *what, const char *path)
{
    int code = errno == ENOSPC ? TL_ENOSPC : errno == ENOENT ? TL_ENOTFOUND : TL_EIO;
    return tl_fail(err, code, "io", "", "%s %s: %s", what, path, strerror(errno));
}

static int key_write(const char *path, const uint8_t key[32], unsigned mode, tl_error *err)
{
    char line[KEYFILE_BYTES + 1];
    tl_hex_encode(line, key, 32);
    line[64] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return tl_fail(err, TL_ESTATE, "keyfile.exists", "", "%s already exists; not replacing a key",
                           path);
        return io_error(err, "cannot create", path);
    }
    int rc = write_all(fd, line, KEYFILE_BYTES) == 0 && fsync(fd) == 0 ? 0 : -1;
    sodium_memzero(line, sizeof line);
    if (rc != 0) {
        int code = io_error(err, "cannot write", path);
        close(fd);
        unlink(path);
        return code;
    }
    close(fd);
    return 0;
}

int tl_secret_key_write(const char *path, const tl_keypair *kp, tl_error *err)
{
    uint8_t seed[TL_SEED_BYTES];
    tl_keypair_seed(seed, kp);
    int rc = key_write(path, seed, 0600, err);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

int tl_public_key_write(const char *path, const uint8_t pk[TL_PUBKEY_BYTES], tl_error *err)
{
    return key_write(path, pk, 0644, err);
}

static int key_read(const char *path, uint8_t key[32], bool secret, tl_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, "cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int code = io_error(err, "cannot stat", path);
        close(fd);
        return code;
    }
    if (secret && (st.st_mode & 077) != 0) {
        close(fd);
        return tl_fail(err, TL_EDENIED, "keyfile.mode", "", "%s is readable by others (mode %03o); chmod 600 it",
                       path, (unsigned)(st.st_mode & 0777));
    }
    char buf[KEYFILE_BYTES + 2];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    int rc = 0;
    if (n != KEYFILE_BYTES || buf[64] != '\n' || tl_hex_decode(key, 32, buf, 64) != 0)
        rc = tl_fail(err, TL_EINVAL, "keyfile.format", "", "%s must hold 64 hex digits and a newline", path);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int tl_secret_key_read(const char *path, tl_keypair *out, tl_error *err)
{
    uint8_t seed[TL_SEED_BYTES];
    int rc = key_read(path, seed, true, err);
    if (rc == 0)
        tl_keypair_from_seed(out, seed);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

int tl_public_key_read(const char *path, uint8_t pk[TL_PUBKEY_BYTES], tl_error *err)
{
    return key_read(path, pk, false, err);
}

int tl_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode, tl_error *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    char *dir = strdup(path);
    if (tmp == NULL || dir == NULL) {
        free(tmp);
        free(dir);
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    }
    snprintf(tmp, plen + 8, "%s.tmp", path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = io_error(err, "cannot create", tmp);
        goto done;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        rc = io_error(err, "cannot write", tmp);
        close(fd);
        unlink(tmp);
        goto done;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        rc = io_error(err, "cannot rename", tmp);
        unlink(tmp);
        goto done;
    }
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = io_error(err, "cannot fsync directory of", path);
        close(dfd);
    }
done:
    free(tmp);
    free(dir);
    return rc;
}

int tl_file_read(const char *path, size_t max_bytes, uint8_t **out, size_t *out_len, tl_error *err)
{
    *out = NULL;
    *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return io_error(err, "cannot open", path);
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap + 1);
    int rc = 0;
    while (buf != NULL) {
        if (len == cap) {
            if (cap >= max_bytes) {
                rc = tl_fail(err, TL_ETOOBIG, "file.size", "", "%s is larger than %zu bytes", path,
                             max_bytes);
                break;
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            uint8_t *nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                rc = io_error(err, "cannot read", path);
            break;
        }
    }
    fclose(f);
    if (buf == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory reading %s", path);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    return 0;
}
