/*
 * Damaged storage is detected, never served (BRIEF.md, reliability). The ledger keeps its log
 * in RocksDB, whose SST blocks, WAL records and MANIFEST entries all carry checksums; these
 * tests damage the files of a closed ledger the way a failing disk would and check that the
 * ledger notices, at open or on the read that touches the damage, with TL_ECORRUPT and rule
 * "storage.corrupt" (the whole-bundle checks of `techledger verify` are tested elsewhere).
 *
 * The fixture is a ledger whose older records sit in SST files and whose newest ones (and the
 * checkpoint written at close) sit only in the write-ahead log, as after any restart. Every
 * case works on a fresh copy of it. The directed cases find a known value inside the files (a
 * record's signature, a stored Merkle node, a checkpoint's signature: random bytes that LZ4
 * leaves as literals) and flip one bit in it. The sweep flips single bits at spread-out
 * offsets of every database file and requires that each time the ledger either reports
 * TL_ECORRUPT or serves exactly the pristine data: records, roots, checkpoints, event index.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURE_FLUSHED_EVENTS 300 /* end up in SST files */
#define FIXTURE_WAL_EVENTS 60      /* appended after the last restart: only in the WAL */
#define SWEEP_FLIPS_PER_FILE 12
#define PATH_BYTES 4096

/* ---------------------------------------------------------------- files ----------------- */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_all(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Copies the regular files of src into dst (created), recursing into subdirectories. */
static void copy_tree(const char *src, const char *dst)
{
    assert_true(mkdir(dst, 0700) == 0 || errno == EEXIST);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char s[PATH_BYTES], t[PATH_BYTES];
        snprintf(s, sizeof s, "%s/%s", src, e->d_name);
        snprintf(t, sizeof t, "%s/%s", dst, e->d_name);
        struct stat st;
        assert_int_equal(stat(s, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            copy_tree(s, t);
        } else if (S_ISREG(st.st_mode)) {
            size_t n;
            uint8_t *buf = read_all(s, &n);
            write_all(t, buf, n);
            chmod(t, st.st_mode & 0777);
            free(buf);
        }
    }
    closedir(d);
}

/* Names of the files in dir/db whose name ends in suffix ("" for all), sorted. */
typedef struct names {
    char **v;
    size_t n;
} names;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static names db_files(const char *dir, const char *suffix)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/db", dir);
    names out = {0};
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name), sl = strlen(suffix);
        if (e->d_name[0] == '.' || nl < sl || strcmp(e->d_name + nl - sl, suffix) != 0)
            continue;
        out.v = realloc(out.v, (out.n + 1) * sizeof *out.v);
        assert_non_null(out.v);
        out.v[out.n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(out.v, out.n, sizeof *out.v, by_name);
    return out;
}

static void names_free(names *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->v[i]);
    free(n->v);
    memset(n, 0, sizeof *n);
}

/* Flips bit `bit` of the byte at off in dir/db/name. */
static void flip(const char *dir, const char *name, size_t off, int bit)
{
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/db/%s", dir, name);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= (uint8_t)(1u << bit);
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

/* Finds needle in the files of dir/db; fills the file name and offset. */
static bool find_in_db(const char *dir, const uint8_t *needle, size_t len, char *name, size_t cap, size_t *off)
{
    names all = db_files(dir, "");
    bool found = false;
    for (size_t i = 0; i < all.n && !found; i++) {
        char path[PATH_BYTES];
        snprintf(path, sizeof path, "%s/db/%s", dir, all.v[i]);
        size_t n;
        uint8_t *buf = read_all(path, &n);
        uint8_t *p = len <= n ? memmem(buf, n, needle, len) : NULL;
        if (p != NULL) {
            snprintf(name, cap, "%s", all.v[i]);
            *off = (size_t)(p - buf);
            found = true;
        }
        free(buf);
    }
    names_free(&all);
    return found;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---------------------------------------------------------------- the fixture ----------- */

/* What a healthy ledger serves: compared byte for byte with a damaged copy's answers. */
typedef struct pristine {
    uint64_t size;
    tl_buf *records;                          /* [size] */
    uint8_t (*ids)[TL_EVENT_ID_BYTES];        /* [size] */
    uint8_t root[TL_HASH_BYTES];
    tl_buf checkpoints;                       /* every note, concatenated in size order */
    uint64_t checkpoint_count;
} pristine;

typedef struct fixture {
    char *base;
    char *dir; /* the pristine ledger, closed */
    tl_keypair registry;
    pristine p;
} fixture;

static int collect_checkpoint(void *ctx, uint64_t size, const uint8_t *note, size_t len)
{
    (void)size;
    tl_buf *out = ctx;
    return tl_buf_append(out, note, len) == 0 ? 0 : TL_ENOMEM;
}

static void snapshot(tl_ledger *l, pristine *p)
{
    tl_error err;
    p->size = tl_ledger_size(l);
    p->records = calloc(p->size, sizeof *p->records);
    p->ids = calloc(p->size, sizeof *p->ids);
    assert_non_null(p->records);
    assert_non_null(p->ids);
    for (uint64_t s = 0; s < p->size; s++) {
        tl_buf_init(&p->records[s]);
        assert_int_equal(tl_ledger_read(l, s, &p->records[s], &err), 0);
        tl_record r;
        assert_int_equal(tl_record_decode(&r, p->records[s].data, p->records[s].len, &err), 0);
        tl_event ev;
        assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err), 0);
        memcpy(p->ids[s], ev.id, TL_EVENT_ID_BYTES);
        tl_event_free(&ev);
    }
    assert_int_equal(tl_ledger_root(l, p->size, p->root, &err), 0);
    tl_buf_init(&p->checkpoints);
    assert_int_equal(tl_ledger_checkpoint_scan(l, collect_checkpoint, &p->checkpoints, &err), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tl_test_ledger t;
    tl_test_ledger_create(&t, "corrupt");
    char json[2048], reg[24];
    tl_append_result res;
    for (int i = 0; i < FIXTURE_FLUSHED_EVENTS + FIXTURE_WAL_EVENTS; i++) {
        if (i == FIXTURE_FLUSHED_EVENTS)
            tl_test_ledger_reopen(&t); /* the restart moves everything so far into SST files */
        snprintf(reg, sizeof reg, "2019%012d", i);
        tl_test_contract_json(json, sizeof json, reg, 5000 + (unsigned)i, 4000, "2019-07-01");
        assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
    }
    snapshot(t.l, &f->p);
    /* The fixture is the image of a crash at this point (every append was synced to the WAL):
     * a clean close flushes the memtables, and test_record_in_wal needs the last
     * FIXTURE_WAL_EVENTS only in the WAL. */
    char *crashed = tl_test_tmpdir("corrupt-crashed");
    copy_tree(t.dir, crashed);
    tl_ledger_close(t.l);
    t.l = NULL;
    tl_test_rmdir(t.dir);
    free(t.dir);
    t.dir = crashed;
    /* whatever checkpoints the image holds are part of what must be served */
    tl_ledger *l;
    tl_error err;
    assert_int_equal(tl_ledger_open(&l, t.dir, &(tl_ledger_options){.mode = TL_OPEN_READ_ONLY}, &err), 0);
    tl_buf_reset(&f->p.checkpoints);
    assert_int_equal(tl_ledger_checkpoint_scan(l, collect_checkpoint, &f->p.checkpoints, &err), 0);
    tl_ledger_close(l);
    f->dir = t.dir;
    f->registry = t.registry;
    f->base = tl_test_tmpdir("corrupt-copies");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (uint64_t s = 0; s < f->p.size; s++)
        tl_buf_free(&f->p.records[s]);
    free(f->p.records);
    free(f->p.ids);
    tl_buf_free(&f->p.checkpoints);
    tl_test_rmdir(f->dir);
    tl_test_rmdir(f->base);
    free(f->dir);
    free(f->base);
    free(f);
    return 0;
}

/* A fresh copy of the pristine ledger; the returned path is malloc'd. */
static char *fresh_copy(fixture *f, const char *tag)
{
    static unsigned serial;
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s-%u", f->base, tag, serial++);
    copy_tree(f->dir, path);
    return strdup(path);
}

static void drop_copy(char *dir)
{
    tl_test_rmdir(dir);
    free(dir);
}

/* ---------------------------------------------------------------- observing -------------- */

typedef struct scan_cmp {
    const pristine *p;
    uint64_t seen;
} scan_cmp;

static int compare_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    scan_cmp *c = ctx;
    const tl_buf *want = &c->p->records[seq];
    if (seq != c->seen || len != want->len || memcmp(rec, want->data, len) != 0)
        fail_msg("record %" PRIu64 " was served with different bytes", seq);
    c->seen++;
    return 0;
}

typedef struct stream_hit {
    uint64_t want_seq;
    uint64_t seq;
    bool found;
} stream_hit;

static int stream_first(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)rec;
    (void)len;
    stream_hit *h = ctx;
    h->seq = seq;
    h->found = true;
    return 0;
}

/* Opens dir and reads everything the pristine ledger served. Returns 0 when all of it came back
 * identical, or the first error code (with err filled). Any different byte fails the test. */
static int observe(const char *dir, const pristine *p, tl_error *err)
{
    tl_ledger *l;
    int rc = tl_ledger_open(&l, dir, NULL, err);
    if (rc != 0)
        return rc;
    uint64_t size = tl_ledger_size(l);
    if (size != p->size) {
        tl_ledger_close(l);
        fail_msg("the damaged ledger opened with %" PRIu64 " records instead of %" PRIu64 ", without an error",
                 size, p->size);
    }
    scan_cmp c = {.p = p};
    rc = tl_ledger_scan(l, 0, p->size, compare_record, &c, err);
    tl_buf rec;
    tl_buf_init(&rec);
    for (uint64_t s = 0; rc == 0 && s < p->size; s++) {
        rc = tl_ledger_read(l, s, &rec, err);
        if (rc == 0 && (rec.len != p->records[s].len || memcmp(rec.data, p->records[s].data, rec.len) != 0))
            fail_msg("record %" PRIu64 " was read back with different bytes", s);
        uint64_t seq;
        if (rc == 0 && (rc = tl_ledger_find_event(l, p->ids[s], &seq, err)) == 0 && seq != s)
            fail_msg("event of record %" PRIu64 " is indexed at %" PRIu64, s, seq);
    }
    tl_buf_free(&rec);
    /* the stream index and stream heads, for every record's stream */
    for (uint64_t s = 0; rc == 0 && s < p->size; s++) {
        tl_record r;
        tl_event ev;
        assert_int_equal(tl_record_decode(&r, p->records[s].data, p->records[s].len, err), 0);
        assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, err), 0);
        stream_hit hit = {.want_seq = s};
        uint64_t version;
        rc = tl_ledger_stream_scan(l, ev.stream, ev.stream_len, r.version - 1, 1, stream_first, &hit, err);
        if (rc == 0 && (hit.seq != s || !hit.found))
            fail_msg("the stream index of %s version %" PRIu64 " points elsewhere", ev.stream, r.version);
        if (rc == 0 && (rc = tl_ledger_stream_version(l, ev.stream, ev.stream_len, &version, err)) == 0 &&
            version < r.version)
            fail_msg("stream %s is at version %" PRIu64 ", below a stored %" PRIu64, ev.stream, version, r.version);
        tl_event_free(&ev);
    }
    uint8_t root[TL_HASH_BYTES];
    if (rc == 0 && (rc = tl_ledger_root(l, p->size, root, err)) == 0 && memcmp(root, p->root, TL_HASH_BYTES) != 0)
        fail_msg("a different Merkle root was served");
    tl_merkle_proof proof;
    for (uint64_t s = 0; rc == 0 && s < p->size; s += 37)
        rc = tl_ledger_inclusion_proof(l, s, p->size, &proof, err);
    tl_buf cps;
    tl_buf_init(&cps);
    if (rc == 0 && (rc = tl_ledger_checkpoint_scan(l, collect_checkpoint, &cps, err)) == 0 &&
        (cps.len != p->checkpoints.len || memcmp(cps.data, p->checkpoints.data, cps.len) != 0))
        fail_msg("different checkpoints were served");
    tl_buf_free(&cps);
    tl_ledger_close(l);
    return rc;
}

static void expect_corrupt(int rc, const tl_error *err, const char *what)
{
    if (rc != TL_ECORRUPT)
        fail_msg("%s: expected TL_ECORRUPT, got %d (%s: %s)", what, rc, rc ? err->rule : "", rc ? err->msg : "");
    assert_string_equal(err->rule, "storage.corrupt");
}

/* ---------------------------------------------------------------- directed cases --------- */

static void test_pristine_copy_serves_everything(void **state)
{
    fixture *f = *state;
    char *dir = fresh_copy(f, "pristine");
    tl_error err;
    assert_int_equal(observe(dir, &f->p, &err), 0);
    /* and the layout is what the other cases rely on: SST files and a WAL holding data */
    names sst = db_files(dir, ".sst"), wal = db_files(dir, ".log");
    assert_true(sst.n > 0);
    names_free(&sst);
    names_free(&wal);
    drop_copy(dir);
}

/* A flipped bit in a record inside an SST file: the read that touches it fails. */
static void test_record_in_sst(void **state)
{
    fixture *f = *state;
    char *dir = fresh_copy(f, "record");
    tl_error err;
    uint64_t seq = 100;
    tl_record r;
    assert_int_equal(tl_record_decode(&r, f->p.records[seq].data, f->p.records[seq].len, &err), 0);
    char name[256];
    size_t off;
    assert_true(find_in_db(dir, r.sig, TL_SIG_BYTES, name, sizeof name, &off));
    assert_true(ends_with(name, ".sst"));
    flip(dir, name, off + 10, 3);
    tl_ledger *l;
    int rc = tl_ledger_open(&l, dir, NULL, &err);
    if (rc == 0) {
        tl_buf rec;
        tl_buf_init(&rec);
        expect_corrupt(tl_ledger_read(l, seq, &rec, &err), &err, "reading the damaged record");
        expect_corrupt(tl_ledger_scan(l, 0, f->p.size, compare_record, &(scan_cmp){.p = &f->p}, &err), &err,
                       "scanning over the damaged record");
        tl_buf_free(&rec);
        tl_ledger_close(l);
    } else {
        expect_corrupt(rc, &err, "opening");
    }
    drop_copy(dir);
}

/* A flipped bit in a stored Merkle node: the root (and proofs) that need it fail. */
static void test_merkle_node_in_sst(void **state)
{
    fixture *f = *state;
    char *dir = fresh_copy(f, "merkle");
    tl_error err;
    /* the complete subtree over records 0..255 is stored whatever the ledger's lowest stored
     * level is; it is the left half of the root of the first 512 records */
    uint8_t leaves[256][TL_HASH_BYTES];
    for (int i = 0; i < 256; i++)
        tl_leaf_hash(leaves[i], f->p.records[i].data, f->p.records[i].len);
    for (int width = 256; width > 1; width /= 2)
        for (int i = 0; i < width / 2; i++)
            tl_node_hash(leaves[i], leaves[2 * i], leaves[2 * i + 1]);
    char name[256];
    size_t off;
    assert_true(find_in_db(dir, leaves[0], TL_HASH_BYTES, name, sizeof name, &off));
    assert_true(ends_with(name, ".sst"));
    flip(dir, name, off + 5, 0);
    tl_ledger *l;
    int rc = tl_ledger_open(&l, dir, NULL, &err);
    if (rc == 0) {
        uint8_t root[TL_HASH_BYTES];
        expect_corrupt(tl_ledger_root(l, f->p.size, root, &err), &err, "the root over the damaged node");
        tl_ledger_close(l);
    } else {
        expect_corrupt(rc, &err, "opening");
    }
    drop_copy(dir);
}

/* A flipped bit in a checkpoint note: reading the checkpoints fails. */
static void test_checkpoint_in_sst(void **state)
{
    fixture *f = *state;
    char *dir = fresh_copy(f, "checkpoint");
    tl_error err;
    /* the first checkpoint (size 1, issued at creation) is in an SST; its signature line's
     * base64 is random text */
    const char *note = (const char *)f->p.checkpoints.data;
    const char *dash = strstr(note, "\xe2\x80\x94 ");
    assert_non_null(dash);
    const char *sig = strchr(dash + 4, ' ');
    assert_non_null(sig);
    char name[256];
    size_t off;
    assert_true(find_in_db(dir, (const uint8_t *)sig + 1, 40, name, sizeof name, &off));
    assert_true(ends_with(name, ".sst"));
    flip(dir, name, off + 20, 1);
    tl_ledger *l;
    int rc = tl_ledger_open(&l, dir, NULL, &err);
    if (rc == 0) {
        tl_buf cps;
        tl_buf_init(&cps);
        expect_corrupt(tl_ledger_checkpoint_scan(l, collect_checkpoint, &cps, &err), &err,
                       "scanning the damaged checkpoint");
        tl_buf_free(&cps);
        tl_ledger_close(l);
    } else {
        expect_corrupt(rc, &err, "opening");
    }
    drop_copy(dir);
}

/* A flipped bit in a record that lives only in the write-ahead log. RocksDB's default recovery
 * would stop replaying at the damaged WAL record and open a shorter log without a word; the
 * ledger must refuse to open instead. */
static void test_record_in_wal(void **state)
{
    fixture *f = *state;
    char *dir = fresh_copy(f, "wal");
    tl_error err;
    uint64_t seq = f->p.size - FIXTURE_WAL_EVENTS / 2;
    tl_record r;
    assert_int_equal(tl_record_decode(&r, f->p.records[seq].data, f->p.records[seq].len, &err), 0);
    char name[256];
    size_t off;
    assert_true(find_in_db(dir, r.sig, TL_SIG_BYTES, name, sizeof name, &off));
    assert_true(ends_with(name, ".log"));
    flip(dir, name, off + 30, 6);
    expect_corrupt(observe(dir, &f->p, &err), &err, "opening with a damaged WAL record");
    /* and it stays refused: nothing was repaired or dropped behind our back */
    expect_corrupt(observe(dir, &f->p, &err), &err, "opening a second time");
    drop_copy(dir);
}

/* The files that say which files make up the database. */
static void test_manifest_and_current(void **state)
{
    fixture *f = *state;
    tl_error err;
    /* a flipped bit in the MANIFEST */
    char *dir = fresh_copy(f, "manifest");
    names m = db_files(dir, "");
    const char *manifest = NULL;
    for (size_t i = 0; i < m.n; i++)
        if (strncmp(m.v[i], "MANIFEST-", 9) == 0)
            manifest = m.v[i];
    assert_non_null(manifest);
    flip(dir, manifest, 40, 2);
    expect_corrupt(observe(dir, &f->p, &err), &err, "opening with a damaged MANIFEST");
    names_free(&m);
    drop_copy(dir);
    /* CURRENT naming no valid MANIFEST */
    dir = fresh_copy(f, "current");
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/db/CURRENT", dir);
    write_all(path, (const uint8_t *)"MANIFEST-00000x", 15);
    int rc = observe(dir, &f->p, &err);
    assert_int_not_equal(rc, 0);
    fprintf(stderr, "test_corruption: damaged CURRENT: %s: %s\n", err.rule, err.msg);
    expect_corrupt(rc, &err, "opening with a damaged CURRENT");
    drop_copy(dir);
}

/* An SST file cut short, and one gone. */
static void test_truncated_and_missing_sst(void **state)
{
    fixture *f = *state;
    tl_error err;
    char *dir = fresh_copy(f, "truncated");
    names sst = db_files(dir, ".sst");
    assert_true(sst.n > 0);
    for (size_t i = 0; i < sst.n; i++) {
        char path[PATH_BYTES];
        snprintf(path, sizeof path, "%s/db/%s", dir, sst.v[i]);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(truncate(path, st.st_size / 2), 0);
    }
    expect_corrupt(observe(dir, &f->p, &err), &err, "opening with truncated SST files");
    names_free(&sst);
    drop_copy(dir);

    dir = fresh_copy(f, "missing");
    sst = db_files(dir, ".sst");
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/db/%s", dir, sst.v[0]);
    assert_int_equal(unlink(path), 0);
    int rc = observe(dir, &f->p, &err);
    fprintf(stderr, "test_corruption: missing %s: %s: %s\n", sst.v[0], err.rule, err.msg);
    expect_corrupt(rc, &err, "opening with an SST file missing");
    names_free(&sst);
    drop_copy(dir);
}

/* Single bits flipped all over every database file: each time, TL_ECORRUPT or the exact
 * pristine data. Offsets are spread evenly (deterministic), including the first and last
 * bytes, where the footers and magic numbers are. */
static void test_sweep_every_file(void **state)
{
    fixture *f = *state;
    names files = db_files(f->dir, "");
    unsigned detected = 0, harmless = 0;
    for (size_t i = 0; i < files.n; i++) {
        const char *name = files.v[i];
        if (strcmp(name, "LOCK") == 0 || strncmp(name, "LOG", 3) == 0)
            continue; /* the lock is empty; the info log is never read */
        char path[PATH_BYTES];
        snprintf(path, sizeof path, "%s/db/%s", f->dir, name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        if (st.st_size == 0)
            continue;
        unsigned det = 0, harm = 0;
        for (int k = 0; k < SWEEP_FLIPS_PER_FILE; k++) {
            size_t off = SWEEP_FLIPS_PER_FILE == 1 ? 0
                                                    : (size_t)((uint64_t)(st.st_size - 1) * (uint64_t)k /
                                                               (SWEEP_FLIPS_PER_FILE - 1));
            char *dir = fresh_copy(f, "sweep");
            flip(dir, name, off, k % 8);
            tl_error err;
            tl_error_clear(&err);
            int rc = observe(dir, &f->p, &err);
            if (rc != 0) {
                if (rc != TL_ECORRUPT)
                    fail_msg("%s byte %zu: expected TL_ECORRUPT, got %d (%s: %s)", name, off, rc, err.rule, err.msg);
                assert_string_equal(err.rule, "storage.corrupt");
                det++;
            } else {
                harm++;
            }
            drop_copy(dir);
        }
        fprintf(stderr, "test_corruption: %-24s %8lld bytes: %u flips detected, %u served the pristine data\n",
                name, (long long)st.st_size, det, harm);
        detected += det;
        harmless += harm;
    }
    fprintf(stderr, "test_corruption: sweep: %u detected, %u harmless, none served damaged data\n", detected,
            harmless);
    assert_true(detected > 0);
    names_free(&files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pristine_copy_serves_everything),
        cmocka_unit_test(test_record_in_sst),
        cmocka_unit_test(test_merkle_node_in_sst),
        cmocka_unit_test(test_checkpoint_in_sst),
        cmocka_unit_test(test_record_in_wal),
        cmocka_unit_test(test_manifest_and_current),
        cmocka_unit_test(test_truncated_and_missing_sst),
        cmocka_unit_test(test_sweep_every_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
