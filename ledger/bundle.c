/*
 * The audit bundle: writing it from a ledger and reading it back (the format is described in
 * tl_bundle.h and FORMAT.md section 8).
 *
 * Export is a plain copy of stored bytes: records as stored (they are what the tree hashes),
 * checkpoint notes as issued. Nothing is re-encoded, so a bundle of a damaged ledger is
 * damaged in the same way and fails `verify` the same way.
 */
#include "tl_bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tl_note.h"

#define VKEY_FILE_BYTES_MAX 4096u
#define EXPORT_WRITE_BUFFER_BYTES (1u << 20)
#define PROGRESS_EVERY_RECORDS 4096u /* how often the clock is read for progress */
#define PROGRESS_INTERVAL_SECONDS 0.5

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int io_fail(tl_error *err, const char *what, const char *path)
{
    int e = errno;
    int code = e == ENOSPC ? TL_ENOSPC : e == ENOENT ? TL_ENOTFOUND : TL_EIO;
    return tl_fail(err, code, code == TL_ENOSPC ? "storage.full" : "io", "", "%s %s: %s", what, path,
                   strerror(e));
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

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

/* Creates dir/name (which must not exist) holding data. Durability comes later, from one
 * syncfs over the whole bundle before the rename. */
static int write_new_file(const char *dir, const char *name, const void *data, size_t len, tl_error *err)
{
    char *path = join(dir, name);
    if (path == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        rc = io_fail(err, "cannot create", path);
    else {
        if (write_all(fd, data, len) != 0)
            rc = io_fail(err, "cannot write", path);
        if (close(fd) != 0 && rc == 0)
            rc = io_fail(err, "cannot write", path);
    }
    free(path);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---------- export ---------- */

typedef struct export_ctx {
    FILE *f;
    uint64_t total;
    uint64_t records;
    uint64_t bytes;
    tl_bundle_progress_fn progress;
    void *progress_ctx;
    double t0, last;
    int write_errno; /* set when writing failed */
} export_ctx;

static int export_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq;
    export_ctx *e = ctx;
    if (fwrite(rec, 1, len, e->f) != len) {
        e->write_errno = errno != 0 ? errno : EIO;
        return TL_EIO;
    }
    e->records++;
    e->bytes += len;
    if (e->progress != NULL && e->records % PROGRESS_EVERY_RECORDS == 0) {
        double now = mono_seconds();
        if (now - e->last >= PROGRESS_INTERVAL_SECONDS) {
            e->last = now;
            e->progress(e->progress_ctx, e->records, e->total, now - e->t0);
        }
    }
    return 0;
}

typedef struct export_cp_ctx {
    const char *dir; /* the bundle's checkpoints/ */
    uint64_t max_size;
    uint64_t count;
    uint64_t largest;
    tl_error *err;
} export_cp_ctx;

static int export_checkpoint(void *ctx, uint64_t size, const uint8_t *note, size_t len)
{
    export_cp_ctx *c = ctx;
    if (size > c->max_size) /* issued after the records were copied: not part of this bundle */
        return 0;
    char name[24];
    snprintf(name, sizeof name, "%" PRIu64, size);
    int rc = write_new_file(c->dir, name, note, len, c->err);
    if (rc != 0)
        return rc;
    c->count++;
    if (size > c->largest)
        c->largest = size;
    return 0;
}

static int export_records(const char *tmp, tl_ledger *l, uint64_t size, tl_bundle_summary *sum,
                          tl_bundle_progress_fn progress, void *progress_ctx, tl_error *err)
{
    char *path = join(tmp, TL_BUNDLE_RECORDS);
    if (path == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (f == NULL) {
        rc = io_fail(err, "cannot create", path);
        if (fd >= 0)
            close(fd);
        free(path);
        return rc;
    }
    char *wbuf = malloc(EXPORT_WRITE_BUFFER_BYTES);
    if (wbuf != NULL)
        setvbuf(f, wbuf, _IOFBF, EXPORT_WRITE_BUFFER_BYTES);
    double t0 = mono_seconds();
    export_ctx e = {.f = f, .total = size, .progress = progress, .progress_ctx = progress_ctx, .t0 = t0, .last = t0};
    rc = tl_ledger_scan(l, 0, size, export_record, &e, err);
    if (e.write_errno != 0) {
        errno = e.write_errno;
        rc = io_fail(err, "cannot write", path);
    }
    if (rc == 0 && e.records != size)
        rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "the ledger holds %" PRIu64 " records, expected %" PRIu64,
                     e.records, size);
    if (fflush(f) != 0 && rc == 0)
        rc = io_fail(err, "cannot write", path);
    if (fclose(f) != 0 && rc == 0)
        rc = io_fail(err, "cannot write", path);
    free(wbuf);
    free(path);
    if (rc == 0) {
        sum->records = e.records;
        sum->record_bytes = e.bytes;
        if (progress != NULL)
            progress(progress_ctx, e.records, size, mono_seconds() - t0);
    }
    return rc;
}

static int export_into(const char *tmp, tl_ledger *l, tl_bundle_summary *sum, tl_bundle_progress_fn progress,
                       void *progress_ctx, tl_error *err)
{
    /* The bundle ends at the latest checkpoint: every exported record is then covered by a
     * signed tree head, so a bundle cannot carry records nobody vouched for. Records appended
     * since (at most a second's worth on a live ledger) go into the next export. */
    tl_buf note;
    tl_buf_init(&note);
    uint64_t size = 0;
    int rc = tl_ledger_checkpoint_latest(l, &note, &size, err);
    tl_buf_free(&note);
    if (rc != 0)
        return rc;
    rc = export_records(tmp, l, size, sum, progress, progress_ctx, err);
    if (rc != 0)
        return rc;

    char *cpdir = join(tmp, TL_BUNDLE_CHECKPOINTS);
    if (cpdir == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    if (mkdir(cpdir, 0755) != 0) {
        rc = io_fail(err, "cannot create", cpdir);
        free(cpdir);
        return rc;
    }
    export_cp_ctx c = {.dir = cpdir, .max_size = size, .err = err};
    rc = tl_ledger_checkpoint_scan(l, export_checkpoint, &c, err);
    free(cpdir);
    if (rc != 0)
        return rc;
    sum->checkpoints = c.count;
    sum->checkpoint_size = c.largest;

    char vkey[VKEY_FILE_BYTES_MAX];
    rc = tl_ledger_vkey(l, vkey, sizeof vkey - 1);
    if (rc != 0)
        return tl_fail(err, rc, "ledger.vkey", "", "cannot read %s/ledger.vkey: %s", tl_ledger_dir(l),
                       tl_strerror(rc));
    strcat(vkey, "\n");
    if ((rc = write_new_file(tmp, TL_BUNDLE_VKEY, vkey, strlen(vkey), err)) != 0)
        return rc;

    uint8_t admin[TL_PUBKEY_BYTES];
    tl_ledger_admin_key(l, admin);
    char hex[2 * TL_PUBKEY_BYTES + 2];
    tl_hex_encode(hex, admin, TL_PUBKEY_BYTES);
    strcat(hex, "\n");
    if ((rc = write_new_file(tmp, TL_BUNDLE_ADMIN, hex, strlen(hex), err)) != 0)
        return rc;

    /* Everything reaches the disk before the name says the bundle is complete. */
    int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return io_fail(err, "cannot open", tmp);
    rc = syncfs(dfd) == 0 ? 0 : io_fail(err, "cannot flush", tmp);
    close(dfd);
    return rc;
}

int tl_bundle_export(tl_bundle_summary *sum, tl_ledger *l, const char *out, tl_bundle_progress_fn progress,
                     void *progress_ctx, tl_error *err)
{
    memset(sum, 0, sizeof *sum);
    struct stat st;
    if (out == NULL || out[0] == '\0')
        return tl_fail(err, TL_EINVAL, "bundle.path", "", "no output directory given");
    if (lstat(out, &st) == 0)
        return tl_fail(err, TL_ESTATE, "bundle.exists", "", "%s already exists; an export never replaces anything",
                       out);
    size_t n = strlen(out) + 16;
    char *tmp = malloc(n);
    char *parent = strdup(out);
    if (tmp == NULL || parent == NULL) {
        free(tmp);
        free(parent);
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    }
    snprintf(tmp, n, "%s.tmp-XXXXXX", out);
    int rc = 0;
    if (mkdtemp(tmp) == NULL) {
        rc = io_fail(err, "cannot create a directory next to", out);
        goto done;
    }
    if (chmod(tmp, 0755) != 0) { /* mkdtemp makes it 0700; a bundle is for sharing */
        rc = io_fail(err, "cannot set the mode of", tmp);
        goto fail;
    }
    if ((rc = export_into(tmp, l, sum, progress, progress_ctx, err)) != 0)
        goto fail;
    if (rename(tmp, out) != 0) {
        if (errno == EEXIST || errno == ENOTEMPTY)
            rc = tl_fail(err, TL_ESTATE, "bundle.exists", "", "%s appeared while exporting; not replacing it", out);
        else
            rc = io_fail(err, "cannot rename the finished bundle to", out);
        goto fail;
    }
    int dfd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = io_fail(err, "cannot flush the directory of", out);
        close(dfd);
    }
    goto done;
fail:
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
done:
    free(tmp);
    free(parent);
    return rc;
}

/* ---------- reading ---------- */

struct tl_bundle {
    char *dir;
    int records_fd;
    uint64_t records_bytes;
    char vkey[VKEY_FILE_BYTES_MAX + 1];
    size_t vkey_len;
    uint8_t admin[TL_PUBKEY_BYTES];
};

/* A missing or unreadable part is a verdict about the bundle; other I/O failures are not. */
static int part_fail(tl_error *err, int code, const char *part, const char *fmt, const char *detail)
{
    if (code == TL_ENOTFOUND)
        return tl_fail(err, TL_ECORRUPT, "bundle.missing", part, fmt, detail);
    return code;
}

int tl_bundle_open(tl_bundle **out, const char *dir, char *where, size_t where_cap, tl_error *err)
{
    *out = NULL;
    snprintf(where, where_cap, "%s", "");
    tl_bundle *b = calloc(1, sizeof *b);
    if (b == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    b->records_fd = -1;
    b->dir = strdup(dir);
    char *path = NULL;
    int rc = 0;
    if (b->dir == NULL) {
        rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        goto fail;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = tl_fail(err, TL_ENOTFOUND, "bundle.missing", "", "%s is not a directory", dir);
        goto fail;
    }

    snprintf(where, where_cap, "%s", TL_BUNDLE_RECORDS);
    if ((path = join(dir, TL_BUNDLE_RECORDS)) == NULL) {
        rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        goto fail;
    }
    b->records_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (b->records_fd < 0 || fstat(b->records_fd, &st) != 0) {
        rc = io_fail(err, "cannot open", path);
        rc = part_fail(err, rc, TL_BUNDLE_RECORDS, "the bundle has no records file (%s)", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = tl_fail(err, TL_ECORRUPT, "bundle.missing", TL_BUNDLE_RECORDS, "%s is not a regular file", path);
        goto fail;
    }
    b->records_bytes = (uint64_t)st.st_size;
    free(path);

    snprintf(where, where_cap, "%s", TL_BUNDLE_VKEY);
    if ((path = join(dir, TL_BUNDLE_VKEY)) == NULL) {
        rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        goto fail;
    }
    uint8_t *text = NULL;
    size_t len = 0;
    rc = tl_file_read(path, VKEY_FILE_BYTES_MAX, &text, &len, err);
    if (rc != 0) {
        rc = rc == TL_ETOOBIG ? tl_fail(err, TL_ECORRUPT, "bundle.vkey", TL_BUNDLE_VKEY, "%s is too large", path)
                              : part_fail(err, rc, TL_BUNDLE_VKEY, "the bundle has no verifier key (%s)", path);
        goto fail;
    }
    memcpy(b->vkey, text, len);
    b->vkey[len] = '\0';
    b->vkey_len = len;
    free(text);
    free(path);

    snprintf(where, where_cap, "%s", TL_BUNDLE_ADMIN);
    if ((path = join(dir, TL_BUNDLE_ADMIN)) == NULL) {
        rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        goto fail;
    }
    rc = tl_public_key_read(path, b->admin, err);
    if (rc == TL_EINVAL)
        rc = tl_fail(err, TL_ECORRUPT, "bundle.admin_key", TL_BUNDLE_ADMIN,
                     "%s must hold the administrator's public key: 64 hex digits and a newline", path);
    else if (rc != 0)
        rc = part_fail(err, rc, TL_BUNDLE_ADMIN, "the bundle has no administrator key (%s)", path);
    if (rc != 0)
        goto fail;
    free(path);
    snprintf(where, where_cap, "%s", "");
    *out = b;
    return 0;
fail:
    free(path);
    tl_bundle_close(b);
    return rc;
}

void tl_bundle_close(tl_bundle *b)
{
    if (b == NULL)
        return;
    if (b->records_fd >= 0)
        close(b->records_fd);
    free(b->dir);
    free(b);
}

const char *tl_bundle_vkey(const tl_bundle *b, size_t *len)
{
    *len = b->vkey_len;
    return b->vkey;
}

void tl_bundle_admin_key(const tl_bundle *b, uint8_t out[TL_PUBKEY_BYTES]) { memcpy(out, b->admin, TL_PUBKEY_BYTES); }

uint64_t tl_bundle_records_bytes(const tl_bundle *b) { return b->records_bytes; }

int tl_bundle_scan(tl_bundle *b, tl_record_fn fn, void *ctx, tl_error *err)
{
    /* A window of the file with room for one whole record past the read size, so that a
     * record is always contiguous when it is handed on. */
    const size_t cap = TL_BUNDLE_READ_BYTES + TL_RECORD_BYTES_MAX;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    size_t have = 0, pos = 0;
    uint64_t file_off = 0; /* file offset of buf[0] */
    uint64_t read_off = 0; /* next offset to read */
    bool eof = false;
    uint64_t seq = 0;
    int rc = 0;
    for (;;) {
        if (!eof && have - pos < TL_RECORD_BYTES_MAX) {
            memmove(buf, buf + pos, have - pos);
            file_off += pos;
            have -= pos;
            pos = 0;
            while (have < cap && !eof) {
                ssize_t n = pread(b->records_fd, buf + have, cap - have, (off_t)read_off);
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    rc = io_fail(err, "cannot read", TL_BUNDLE_RECORDS);
                    goto done;
                }
                if (n == 0)
                    eof = true;
                have += (size_t)n;
                read_off += (uint64_t)n;
            }
        }
        if (pos == have)
            break;
        size_t avail = have - pos;
        size_t len = tl_mp_object_len(buf + pos, avail < TL_RECORD_BYTES_MAX ? avail : TL_RECORD_BYTES_MAX);
        if (len == 0) {
            rc = tl_fail(err, TL_ECORRUPT, "bundle.framing", "record",
                         "the %zu bytes at offset %" PRIu64 " do not begin with a whole MessagePack object "
                         "of at most %u bytes: the records file is truncated or damaged",
                         avail, file_off + pos, TL_RECORD_BYTES_MAX);
            goto done;
        }
        if ((rc = fn(ctx, seq, buf + pos, len)) != 0)
            goto done;
        pos += len;
        seq++;
    }
done:
    free(buf);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A checkpoint file name: the decimal tree size, without sign or leading zeros. */
static bool parse_size_name(const char *name, uint64_t *out)
{
    size_t n = strlen(name);
    if (n == 0 || n > 20 || (n > 1 && name[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int tl_bundle_checkpoint_scan(tl_bundle *b, tl_checkpoint_fn fn, void *ctx, tl_error *err)
{
    char *cpdir = join(b->dir, TL_BUNDLE_CHECKPOINTS);
    if (cpdir == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    int rc = 0;
    uint64_t *sizes = NULL;
    size_t count = 0, cap = 0;
    DIR *d = opendir(cpdir);
    if (d == NULL) {
        rc = io_fail(err, "cannot open", cpdir);
        rc = part_fail(err, rc, TL_BUNDLE_CHECKPOINTS, "the bundle has no checkpoints directory (%s)", cpdir);
        goto done;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = io_fail(err, "cannot list", cpdir);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        uint64_t size;
        if (!parse_size_name(de->d_name, &size)) {
            rc = tl_fail(err, TL_ECORRUPT, "bundle.checkpoint_name", "",
                         "checkpoints/%.64s is not named by a decimal tree size", de->d_name);
            break;
        }
        if (count == cap) {
            if (cap >= TL_BUNDLE_CHECKPOINTS_MAX) {
                rc = tl_fail(err, TL_ETOOBIG, "bundle.checkpoint_count", "", "more than %u checkpoints",
                             TL_BUNDLE_CHECKPOINTS_MAX);
                break;
            }
            size_t ncap = cap ? cap * 2 : 256;
            uint64_t *ns = realloc(sizes, ncap * sizeof *ns);
            if (ns == NULL) {
                rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
                break;
            }
            sizes = ns;
            cap = ncap;
        }
        sizes[count++] = size;
    }
    closedir(d);
    if (rc != 0)
        goto done;
    if (count > 0)
        qsort(sizes, count, sizeof *sizes, cmp_u64);
    for (size_t i = 0; i < count && rc == 0; i++) {
        char name[24 + sizeof TL_BUNDLE_CHECKPOINTS];
        snprintf(name, sizeof name, "%s/%" PRIu64, TL_BUNDLE_CHECKPOINTS, sizes[i]);
        char *path = join(b->dir, name);
        if (path == NULL) {
            rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
            break;
        }
        struct stat st;
        uint8_t *note = NULL;
        size_t len = 0;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            rc = tl_fail(err, TL_ECORRUPT, "bundle.checkpoint_file", name, "%s is not a regular file", name);
        else if ((rc = tl_file_read(path, TL_NOTE_BYTES_MAX, &note, &len, err)) == TL_ETOOBIG)
            rc = tl_fail(err, TL_ECORRUPT, "note.size", name, "%s is larger than a checkpoint note may be", name);
        free(path);
        if (rc == 0)
            rc = fn(ctx, sizes[i], note, len);
        free(note);
    }
done:
    free(sizes);
    free(cpdir);
    return rc;
}
