/*
 * A full disk (BRIEF.md, reliability: "a full disk gives an error and no corruption, and the
 * ledger resumes when space returns").
 *
 * The ledger lives on a small tmpfs mounted for the test in a private mount namespace (so the
 * mount disappears with the process, whatever happens). A filler file takes every free byte;
 * then events are appended until one is refused. The test proves that:
 *   - the refusal is TL_ENOSPC with rule "storage.full", the process keeps running, further
 *     appends are refused the same way and the size does not move;
 *   - reads, roots and proofs keep working while the disk is full;
 *   - once the filler is deleted, appends succeed again on the same open ledger;
 *   - nothing acknowledged was lost or damaged: after a reopen every acked event is there
 *     with its bytes, every record decodes with a valid signature, seqs are dense and the
 *     Merkle root recomputed here equals the ledger's; every checkpoint verifies and names the
 *     recomputed root (tl_test_check_log);
 *   - the same holds when the disk fills while the ledger is closed and reopened.
 * Mounting needs CAP_SYS_ADMIN (root; CI runs as root): without it the test is skipped with a
 * message, never failed.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for RocksDB's preallocated WAL (1.1 write buffers) and, once the filler is gone, the free
 * write buffer (16 MiB) RocksDB waits for before it resumes writing. tmpfs uses memory only as
 * it is filled. */
#define FS_SIZE "128m"
#define FILL_CHUNK_BYTES (1u << 20)
#define INGEST_EVENTS_MAX 200000u        /* a disk that never fills is a test failure */
#define REFUSALS_CHECKED 20              /* appends tried again while the disk stays full */
#define RESUME_ATTEMPTS_MAX 1000         /* 20 s: RocksDB retries its recovery every 5 s */

typedef struct acked {
    uint8_t id[TL_EVENT_ID_BYTES];
    uint64_t seq;
    uint8_t digest[TL_HASH_BYTES]; /* SHA-256 of the envelope: body, key and sig */
} acked;

typedef struct fixture {
    char *base; /* the mount point */
    char *saved_tmpdir;
    tl_test_ledger t;
    acked *acks;
    size_t n_acks, cap_acks;
    unsigned serial;
} fixture;

static bool have_namespace;

/* A private mount namespace: our tmpfs is invisible to the rest of the machine and is
 * unmounted by the kernel when this process exits, even after a crash. It must be made before
 * any thread exists (RocksDB's pool threads would stay in the old namespace and not see it). */
static void private_namespace(void)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        fprintf(stderr, "test_diskfull: cannot make a private mount namespace (%s): needs root\n", strerror(errno));
    else
        have_namespace = true;
}

static int setup(void **state)
{
    *state = NULL;
    if (!have_namespace)
        return 0;
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = tl_test_tmpdir("diskfull");
    if (mount("tmpfs", f->base, "tmpfs", 0, "size=" FS_SIZE ",mode=0700") != 0) {
        fprintf(stderr, "test_diskfull: cannot mount a tmpfs (%s): needs root\n", strerror(errno));
        tl_test_rmdir(f->base);
        free(f->base);
        free(f);
        *state = NULL;
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    f->saved_tmpdir = tmp ? strdup(tmp) : NULL;
    setenv("TMPDIR", f->base, 1); /* tl_test_ledger_create makes its directory there */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    if (f->saved_tmpdir != NULL)
        setenv("TMPDIR", f->saved_tmpdir, 1);
    else
        unsetenv("TMPDIR");
    free(f->saved_tmpdir);
    if (f->t.dir != NULL)
        tl_test_ledger_destroy(&f->t);
    umount2(f->base, MNT_DETACH);
    rmdir(f->base);
    free(f->base);
    free(f->acks);
    free(f);
    return 0;
}

static void need_mount(void **state)
{
    if (*state == NULL)
        skip(); /* reported above: mounting a tmpfs is not permitted here */
}

/* Takes every free byte of the filesystem with path's file. Returns the bytes written. */
static uint64_t fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    assert_true(fd >= 0);
    static uint8_t chunk[FILL_CHUNK_BYTES];
    memset(chunk, 0xa5, sizeof chunk);
    uint64_t total = 0;
    for (size_t n = sizeof chunk; n >= 512;) {
        ssize_t w = write(fd, chunk, n);
        if (w > 0) {
            total += (uint64_t)w;
            continue;
        }
        assert_true(w < 0 && errno == ENOSPC);
        n /= 2; /* the last blocks: smaller writes until not even 512 bytes fit */
    }
    close(fd);
    return total;
}

static void filler_path(char *out, size_t cap, const fixture *f) { snprintf(out, cap, "%s/filler", f->base); }

/* One contract event; appended, and remembered when acknowledged. Returns the append code. */
static int append_one(fixture *f, tl_append_result *res)
{
    char json[2048], reg[24];
    snprintf(reg, sizeof reg, "2024%012u", f->serial++);
    tl_test_contract_json(json, sizeof json, reg, 2000, 1000, "2024-01-02");
    tl_buf env;
    tl_test_envelope(&env, &f->t.registry, json);
    int rc = tl_ledger_append(f->t.l, env.data, env.len, res);
    if (rc == 0) {
        assert_int_equal(res->status, TL_APPEND_CREATED);
        if (f->n_acks == f->cap_acks) {
            f->cap_acks = f->cap_acks ? 2 * f->cap_acks : 1024;
            f->acks = realloc(f->acks, f->cap_acks * sizeof *f->acks);
            assert_non_null(f->acks);
        }
        acked *a = &f->acks[f->n_acks++];
        tl_event ev;
        tl_error err;
        assert_int_equal(tl_envelope_decode(&ev, env.data, env.len, &err), 0);
        memcpy(a->id, ev.id, sizeof a->id);
        tl_event_free(&ev);
        a->seq = res->seq;
        tl_sha256(a->digest, env.data, env.len);
    }
    tl_buf_free(&env);
    return rc;
}

/* Appends until the disk is full; checks the refusal and that it is stable. */
static void ingest_until_full(fixture *f)
{
    tl_append_result res;
    int rc = 0;
    unsigned n = 0;
    while (n < INGEST_EVENTS_MAX && (rc = append_one(f, &res)) == 0)
        n++;
    if (rc == 0)
        fail_msg("%u events fit on a full %s filesystem: the disk never filled", n, FS_SIZE);
    fprintf(stderr, "test_diskfull: %u events appended, then: %s: %s\n", n, res.err.rule, res.err.msg);
    assert_int_equal(rc, TL_ENOSPC);
    assert_string_equal(res.err.rule, "storage.full");
    uint64_t size = tl_ledger_size(f->t.l);
    for (int i = 0; i < REFUSALS_CHECKED; i++) {
        assert_int_equal(append_one(f, &res), TL_ENOSPC);
        assert_string_equal(res.err.rule, "storage.full");
    }
    assert_int_equal(tl_ledger_size(f->t.l), size);
}

/* Readers are not affected by a full disk. */
static void reads_still_work(fixture *f)
{
    uint64_t size = tl_ledger_size(f->t.l);
    tl_buf rec;
    tl_buf_init(&rec);
    tl_error err;
    assert_int_equal(tl_ledger_read(f->t.l, size - 1, &rec, &err), 0);
    uint8_t root[TL_HASH_BYTES];
    assert_int_equal(tl_ledger_root(f->t.l, size, root, &err), 0);
    tl_merkle_proof proof;
    assert_int_equal(tl_ledger_inclusion_proof(f->t.l, size / 2, size, &proof, &err), 0);
    tl_buf_free(&rec);
}

/* Appends succeed again once space is back (the error may take a moment to clear). */
static void appends_resume(fixture *f)
{
    tl_append_result res;
    int rc = TL_ENOSPC;
    for (int i = 0; i < RESUME_ATTEMPTS_MAX && rc != 0; i++) {
        uint64_t size = tl_ledger_size(f->t.l);
        rc = append_one(f, &res);
        if (rc == 0)
            assert_int_equal(res.seq, size);
        else
            usleep(20000);
        if (rc == 0)
            fprintf(stderr, "test_diskfull: appends resumed %.1f s after space returned\n", i * 0.02);
    }
    if (rc != 0)
        fail_msg("appends did not resume after space returned: %s: %s", res.err.rule, res.err.msg);
    for (int i = 0; i < 100; i++)
        assert_int_equal(append_one(f, &res), 0);
}

/* Reopens and checks everything acknowledged, every record, the root and the checkpoints. */
static void verify_reopened(fixture *f)
{
    tl_test_ledger_reopen(&f->t);
    tl_ledger *l = f->t.l;
    uint64_t size = tl_ledger_size(l);
    tl_error err;
    tl_buf rec;
    tl_buf_init(&rec);
    for (size_t i = 0; i < f->n_acks; i++) {
        uint64_t seq;
        assert_int_equal(tl_ledger_find_event(l, f->acks[i].id, &seq, &err), 0);
        assert_int_equal(seq, f->acks[i].seq);
        assert_int_equal(tl_ledger_read(l, seq, &rec, &err), 0);
        tl_record r;
        assert_int_equal(tl_record_decode(&r, rec.data, rec.len, &err), 0);
        tl_buf env;
        tl_buf_init(&env);
        assert_int_equal(tl_envelope_wrap(&env, r.body, r.body_len, r.key, r.sig), 0);
        uint8_t digest[TL_HASH_BYTES];
        tl_sha256(digest, env.data, env.len);
        assert_memory_equal(digest, f->acks[i].digest, TL_HASH_BYTES);
        tl_buf_free(&env);
    }
    tl_buf_free(&rec);
    tl_test_log_check c;
    tl_test_check_log(l, 0, &c);
    assert_int_equal(c.size, size);
    assert_true(c.checkpoints > 0);
}

static void test_full_disk_while_appending(void **state)
{
    need_mount(state);
    fixture *f = *state;
    tl_test_ledger_create(&f->t, "ledger");
    char filler[4096];
    filler_path(filler, sizeof filler, f);
    uint64_t filled = fill(filler);
    fprintf(stderr, "test_diskfull: filler took %" PRIu64 " KiB\n", filled >> 10);
    ingest_until_full(f);
    reads_still_work(f);
    assert_int_equal(unlink(filler), 0);
    appends_resume(f);
    verify_reopened(f);
}

static void test_full_disk_across_restart(void **state)
{
    need_mount(state);
    fixture *f = *state;
    tl_test_ledger_create(&f->t, "ledger2");
    tl_append_result res;
    for (int i = 0; i < 200; i++)
        assert_int_equal(append_one(f, &res), 0);
    char filler[4096];
    filler_path(filler, sizeof filler, f);
    fill(filler);
    ingest_until_full(f);
    /* closing on a full disk cannot write its final checkpoint; it must still close */
    tl_ledger_close(f->t.l);
    f->t.l = NULL;
    /* opening on a full disk either works (and refuses appends) or says the disk is full */
    tl_error err;
    int rc = tl_ledger_open(&f->t.l, f->t.dir, NULL, &err);
    if (rc != 0) {
        fprintf(stderr, "test_diskfull: open on a full disk: %s: %s\n", err.rule, err.msg);
        assert_int_equal(rc, TL_ENOSPC);
        assert_string_equal(err.rule, "storage.full");
        assert_int_equal(unlink(filler), 0);
        assert_int_equal(tl_ledger_open(&f->t.l, f->t.dir, NULL, &err), 0);
    } else {
        rc = append_one(f, &res);
        if (rc != 0) {
            assert_int_equal(rc, TL_ENOSPC);
            assert_string_equal(res.err.rule, "storage.full");
        }
        assert_int_equal(unlink(filler), 0);
    }
    appends_resume(f);
    verify_reopened(f);
}

int main(void)
{
    private_namespace();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_disk_while_appending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_across_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
