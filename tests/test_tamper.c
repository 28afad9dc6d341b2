/*
 * Tampering, and `verify` catching it. Each test damages one thing in an exported bundle or
 * in a ledger directory (through the ledger's own RocksDB, opened directly as an attacker with
 * disk access would) and checks that the audit fails at the right place with the expected
 * rule: stored records (bytes, fields, deletion, reordering, truncation, insertion, a replayed
 * event, a revoked signer), checkpoints, Merkle nodes, the checkpoint key and the admin key.
 * Finally every single-byte change of a small bundle's records and checkpoint files is tried.
 *
 * The fixture is the documented example history (every event type; tl_schema_examples) with a
 * checkpoint every CP_EVERY records, written once and copied for each test.
 */
#include "testutil.h"

#include <dirent.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_bundle.h"
#include "tl_schema.h"
#include "tl_state.h"
#include "tl_verify.h"

#define CP_EVERY 5
#define RECORDS_MAX 64
#define SPARE_KEY 0x06 /* added to registry-bj, then revoked, by the example history */
#define REGISTRY_KEY 0x02
#define OTHER_KEY 0x77 /* a key the log never names */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

typedef struct fixture {
    char *tmp;
    char ledger[1024]; /* the pristine ledger */
    char bundle[1024]; /* its pristine export */
    char work[1024];   /* the copy a test damages */
    int counter;
} fixture;

static fixture fx;

static int setup(void **state)
{
    (void)state;
    fx.tmp = tl_test_tmpdir("tamper");
    snprintf(fx.ledger, sizeof fx.ledger, "%s/ledger", fx.tmp);
    snprintf(fx.bundle, sizeof fx.bundle, "%s/bundle", fx.tmp);
    tl_ledger_close(tl_test_example_ledger(fx.ledger, CP_EVERY, 0));
    tl_test_export(fx.ledger, fx.bundle, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tl_test_rmdir(fx.tmp);
    free(fx.tmp);
    return 0;
}

/* A fresh copy of the pristine bundle or ledger in fx.work. */
static const char *fresh_copy(const char *from)
{
    snprintf(fx.work, sizeof fx.work, "%s/work-%d", fx.tmp, fx.counter++);
    sh("cp -r '%s' '%s'", from, fx.work);
    return fx.work;
}

static void done_with_copy(void) { tl_test_rmdir(fx.work); }

/* verify must fail at seq (TL_VERIFY_NO_SEQ: not at a record), in where, with rule (and the
 * field path, unless path is NULL). */
static void expect_failure(const char *path, const char *rule, const char *field, uint64_t seq, const char *where)
{
    tl_verify_report r;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_verify_path(&r, path, NULL, &err);
    if (rc == 0)
        fail_msg("verify passed; expected %s", rule);
    if (!r.failed || strcmp(err.rule, rule) != 0 || r.seq != seq || strcmp(r.where, where) != 0 ||
        (field != NULL && strcmp(err.path, field) != 0))
        fail_msg("expected %s at %s (seq %lld in %s), got %s at %s (seq %lld in %s, failed=%d): %s", rule,
                 field ? field : "*", seq == TL_VERIFY_NO_SEQ ? -1LL : (long long)seq, where, err.rule, err.path,
                 r.seq == TL_VERIFY_NO_SEQ ? -1LL : (long long)r.seq, r.where, r.failed, err.msg);
    assert_true(err.msg[0] != '\0');
}

static void expect_verified(const char *path)
{
    tl_verify_report r;
    tl_error err;
    int rc = tl_verify_path(&r, path, NULL, &err);
    if (rc != 0)
        fail_msg("verify failed: %s at %s in %s: %s", err.rule, err.path, r.where, err.msg);
}

/* ---- the records file of a bundle, as a list of records ---- */

typedef struct records {
    uint8_t *data;
    size_t len;
    size_t n;
    size_t off[RECORDS_MAX + 1];
} records;

static void records_load(records *r, const char *bundle)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/records", bundle);
    tl_error err;
    assert_int_equal(tl_file_read(path, 1u << 24, &r->data, &r->len, &err), 0);
    r->n = 0;
    r->off[0] = 0;
    while (r->off[r->n] < r->len) {
        size_t k = tl_mp_object_len(r->data + r->off[r->n], r->len - r->off[r->n]);
        assert_true(k > 0 && r->n < RECORDS_MAX);
        r->off[r->n + 1] = r->off[r->n] + k;
        r->n++;
    }
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* dir/ledger.vkey naming OTHER_KEY under origin, followed by end. */
static void write_other_vkey(const char *dir, const char *origin, const char *end)
{
    tl_keypair other = tl_test_key(OTHER_KEY);
    tl_note_verifier v;
    tl_error err;
    assert_int_equal(tl_note_verifier_init(&v, origin, other.pk, &err), 0);
    char line[TL_NOTE_VKEY_BYTES_MAX + 2];
    tl_note_vkey_format(line, &v);
    strcat(line, end);
    write_file(dir, "ledger.vkey", line, strlen(line));
}

/* Writes records in the given order (indices into r), with `insert` spliced in before
 * position at (SIZE_MAX: nowhere). */
static void records_save(const records *r, const char *bundle, const size_t *order, size_t n, const tl_buf *insert,
                         size_t at)
{
    tl_buf out;
    tl_buf_init(&out);
    for (size_t i = 0; i <= n; i++) {
        if (insert != NULL && i == at)
            assert_int_equal(tl_buf_append(&out, insert->data, insert->len), 0);
        if (i < n)
            assert_int_equal(tl_buf_append(&out, r->data + r->off[order[i]], r->off[order[i] + 1] - r->off[order[i]]),
                             0);
    }
    write_file(bundle, "records", out.data, out.len);
    tl_buf_free(&out);
}

static void records_free(records *r) { free(r->data); }

/* A fresh copy of the pristine bundle, its records loaded into r. */
static const char *bundle_copy(records *r)
{
    const char *b = fresh_copy(fx.bundle);
    records_load(r, b);
    return b;
}

static void done_with_bundle_copy(records *r)
{
    records_free(r);
    done_with_copy();
}

/* Record k re-encoded with one field changed by fn. */
typedef void (*record_edit)(tl_record *rec, void *ctx);

static void reencode(tl_buf *out, const records *r, size_t k, record_edit fn, void *ctx)
{
    tl_record rec;
    tl_error err;
    assert_int_equal(tl_record_decode(&rec, r->data + r->off[k], r->off[k + 1] - r->off[k], &err), 0);
    fn(&rec, ctx);
    tl_buf_init(out);
    assert_int_equal(tl_record_encode(out, &rec), 0);
}

static void set_version(tl_record *rec, void *ctx) { rec->version = *(uint64_t *)ctx; }
static void set_recorded(tl_record *rec, void *ctx) { rec->recorded_ms = *(uint64_t *)ctx; }
static void set_seq(tl_record *rec, void *ctx) { rec->seq = *(uint64_t *)ctx; }

static uint64_t recorded_of(const records *r, size_t k)
{
    tl_record rec;
    tl_error err;
    assert_int_equal(tl_record_decode(&rec, r->data + r->off[k], r->off[k + 1] - r->off[k], &err), 0);
    return rec.recorded_ms;
}

/* Replaces record k of the bundle's records file with bytes. */
static void replace_record(const char *bundle, const records *r, size_t k, const tl_buf *bytes)
{
    size_t order[RECORDS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (i != k)
            order[n++] = i;
    records_save(r, bundle, order, n, bytes, k);
}

/* A new record at seq holding a freshly signed JSON event, as an attacker with a key would
 * write it. */
static void forge_record(tl_buf *out, uint8_t signer, const char *json, uint64_t seq, uint64_t recorded,
                         uint64_t version)
{
    tl_keypair kp = tl_test_key(signer);
    tl_buf env;
    tl_test_envelope(&env, &kp, json);
    tl_event ev;
    tl_error err;
    assert_int_equal(tl_envelope_decode(&ev, env.data, env.len, &err), 0);
    tl_record rec = {.seq = seq, .recorded_ms = recorded, .version = version, .body = ev.body,
                     .body_len = ev.body_len, .key = ev.key, .sig = ev.sig};
    tl_buf_init(out);
    assert_int_equal(tl_record_encode(out, &rec), 0);
    tl_event_free(&ev);
    tl_buf_free(&env);
}

/* The smallest checkpoint size greater than k (checkpoints are every CP_EVERY records after
 * the creation checkpoint at 1). */
static uint64_t covering_checkpoint(const char *bundle, uint64_t k)
{
    uint64_t best = UINT64_MAX;
    char path[1200];
    for (uint64_t s = k + 1; s <= k + 64 && best == UINT64_MAX; s++) {
        snprintf(path, sizeof path, "%s/checkpoints/%llu", bundle, (unsigned long long)s);
        FILE *f = fopen(path, "rb");
        if (f != NULL) {
            fclose(f);
            best = s;
        }
    }
    assert_true(best != UINT64_MAX);
    return best;
}

/* ---- bundles ---- */

static void test_bundle_record_bytes(void **state)
{
    (void)state;
    records r;
    const char *b = bundle_copy(&r);
    /* the last byte of record 9's signature */
    r.data[r.off[10] - 1] ^= 0x01;
    write_file(b, "records", r.data, r.len);
    expect_failure(b, "signature.invalid", "sig", 9, "records");
    /* a byte of a data value: the body no longer matches its signature */
    r.data[r.off[10] - 1] ^= 0x01;
    uint8_t *hit = memmem(r.data + r.off[10], r.off[11] - r.off[10], "tsinghua", 8);
    assert_non_null(hit);
    hit[0] = 'T';
    write_file(b, "records", r.data, r.len);
    expect_failure(b, "signature.invalid", "sig", 10, "records");
    /* the array header of record 4 */
    hit[0] = 't';
    r.data[r.off[4]] = 0x96;
    write_file(b, "records", r.data, r.len);
    expect_failure(b, "record.shape", NULL, 4, "records");
    done_with_bundle_copy(&r);
}

static void test_bundle_record_fields(void **state)
{
    (void)state;
    records r;
    const char *b = bundle_copy(&r);
    tl_buf x;
    /* seq */
    uint64_t v = 7;
    reencode(&x, &r, 6, set_seq, &v);
    replace_record(b, &r, 6, &x);
    tl_buf_free(&x);
    expect_failure(b, "record.seq", "record[1]", 6, "records");
    /* version */
    v = 2;
    reencode(&x, &r, 6, set_version, &v);
    replace_record(b, &r, 6, &x);
    tl_buf_free(&x);
    expect_failure(b, "record.version", "record[3]", 6, "records");
    /* recorded running backwards */
    v = recorded_of(&r, 5) - 1;
    reencode(&x, &r, 6, set_recorded, &v);
    replace_record(b, &r, 6, &x);
    tl_buf_free(&x);
    expect_failure(b, "record.recorded_order", "record[2]", 6, "records");
    /* recorded moved forward within the rules: only the signed root can tell */
    uint64_t cp = covering_checkpoint(b, 12);
    v = recorded_of(&r, cp - 1) + 1;
    reencode(&x, &r, cp - 1, set_recorded, &v);
    replace_record(b, &r, cp - 1, &x);
    tl_buf_free(&x);
    char where[64];
    snprintf(where, sizeof where, "checkpoints/%llu", (unsigned long long)cp);
    expect_failure(b, "checkpoint.root", "", TL_VERIFY_NO_SEQ, where);
    done_with_bundle_copy(&r);
}

static void test_bundle_deleted_reordered_truncated(void **state)
{
    (void)state;
    records r;
    const char *b = bundle_copy(&r);
    size_t order[RECORDS_MAX];
    /* record 8 removed */
    size_t n = 0;
    for (size_t i = 0; i < r.n; i++)
        if (i != 8)
            order[n++] = i;
    records_save(&r, b, order, n, NULL, SIZE_MAX);
    expect_failure(b, "record.seq", "record[1]", 8, "records");
    /* records 11 and 12 swapped */
    for (size_t i = 0; i < r.n; i++)
        order[i] = i;
    order[11] = 12;
    order[12] = 11;
    records_save(&r, b, order, r.n, NULL, SIZE_MAX);
    expect_failure(b, "record.seq", "record[1]", 11, "records");
    /* cut in the middle of record 13 */
    write_file(b, "records", r.data, r.off[13] + 20);
    expect_failure(b, "bundle.framing", "record", 13, "records");
    /* the last two records cut off cleanly: the checkpoint of the full log is beyond it */
    write_file(b, "records", r.data, r.off[r.n - 2]);
    char where[64];
    snprintf(where, sizeof where, "checkpoints/%zu", r.n);
    expect_failure(b, "checkpoint.beyond_log", "", TL_VERIFY_NO_SEQ, where);
    /* ... and when the attacker also deletes that checkpoint, the earlier ones still bind */
    char path[1200];
    for (size_t s = r.n - 1; s > r.n - 1 - CP_EVERY; s--) {
        snprintf(path, sizeof path, "%s/checkpoints/%zu", b, s + 1);
        remove(path);
    }
    expect_verified(b); /* a prefix of a log is a valid log: only a later checkpoint can tell */
    /* an empty records file */
    write_file(b, "records", r.data, 0);
    expect_failure(b, "log.empty", "", 0, "records");
    done_with_bundle_copy(&r);
}

static void test_bundle_inserted_records(void **state)
{
    (void)state;
    records r;
    const char *b = bundle_copy(&r);
    size_t order[RECORDS_MAX];
    for (size_t i = 0; i < r.n; i++)
        order[i] = i;
    uint64_t last = recorded_of(&r, r.n - 1);
    tl_buf x;

    /* record 10 (a genuine, signed event) replayed at the end */
    tl_record rec;
    tl_error err;
    assert_int_equal(tl_record_decode(&rec, r.data + r.off[10], r.off[11] - r.off[10], &err), 0);
    rec.seq = r.n;
    rec.recorded_ms = last;
    tl_buf_init(&x);
    assert_int_equal(tl_record_encode(&x, &rec), 0);
    records_save(&r, b, order, r.n, &x, r.n);
    tl_buf_free(&x);
    expect_failure(b, "log.duplicate_id", "id", r.n, "records");

    /* a well-signed event by the key revoked earlier in the log */
    const char *contract =
        "{\"type\":\"contract.registered\",\"stream\":\"contract/2021010100000001\",\"data\":{"
        "\"reg_no\":\"2021010100000001\",\"class\":\"transfer\",\"subtype\":\"patent\",\"seller\":\"tsinghua\","
        "\"buyer\":\"acme\",\"seller_region\":\"110108\",\"buyer_region\":\"310115\",\"field\":\"new_energy\","
        "\"signed_on\":\"2021-01-01\",\"registered_on\":\"2021-01-02\",\"total_fen\":100,\"tech_fen\":100}}";
    forge_record(&x, SPARE_KEY, contract, r.n, last, 1);
    records_save(&r, b, order, r.n, &x, r.n);
    tl_buf_free(&x);
    expect_failure(b, "auth.key_revoked", NULL, r.n, "records");

    /* the same event by the registry, but claiming version 2 of a new stream */
    forge_record(&x, REGISTRY_KEY, contract, r.n, last, 2);
    records_save(&r, b, order, r.n, &x, r.n);
    tl_buf_free(&x);
    expect_failure(b, "record.version", "record[3]", r.n, "records");

    /* ... and signed properly but by a key the log does not know yet, inserted early with
     * every later record renumbered */
    tl_buf all;
    tl_buf_init(&all);
    for (size_t i = 0; i < r.n; i++) {
        if (i == 7) {
            forge_record(&x, SPARE_KEY, contract, 7, recorded_of(&r, 6), 1);
            assert_int_equal(tl_buf_append(&all, x.data, x.len), 0);
            tl_buf_free(&x);
        }
        uint64_t seq = i < 7 ? i : i + 1;
        reencode(&x, &r, i, set_seq, &seq);
        assert_int_equal(tl_buf_append(&all, x.data, x.len), 0);
        tl_buf_free(&x);
    }
    write_file(b, "records", all.data, all.len);
    tl_buf_free(&all);
    expect_failure(b, "auth.unknown_key", NULL, 7, "records");

    /* trailing garbage after the last record */
    records_save(&r, b, order, r.n, NULL, SIZE_MAX);
    char path[1200];
    snprintf(path, sizeof path, "%s/records", b);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    fputc(0xc1, f);
    fclose(f);
    expect_failure(b, "bundle.framing", "record", r.n, "records");
    done_with_bundle_copy(&r);
}

static void test_bundle_checkpoints(void **state)
{
    (void)state;
    const char *b = fresh_copy(fx.bundle);
    uint64_t cp = covering_checkpoint(b, 1);
    char name[64], where[64];
    snprintf(name, sizeof name, "checkpoints/%llu", (unsigned long long)cp);
    snprintf(where, sizeof where, "checkpoints/%llu", (unsigned long long)cp);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", b, name);
    uint8_t *note;
    size_t len;
    tl_error err;
    assert_int_equal(tl_file_read(path, 1 << 16, &note, &len, &err), 0);

    /* the signed root changed */
    char *root_line = strchr(strchr((char *)note, '\n') + 1, '\n') + 1;
    char saved = root_line[3];
    root_line[3] = saved == 'A' ? 'B' : 'A';
    write_file(b, name, note, len);
    expect_failure(b, "note.signature", NULL, TL_VERIFY_NO_SEQ, where);
    root_line[3] = saved;
    /* the signature changed (the first character of its last base64 quantum) */
    saved = (char)note[len - 5];
    note[len - 5] = saved == 'A' ? 'B' : 'A';
    write_file(b, name, note, len);
    expect_failure(b, "note.signature", NULL, TL_VERIFY_NO_SEQ, where);
    note[len - 5] = (uint8_t)saved;
    write_file(b, name, note, len);
    expect_verified(b);

    /* filed under another size */
    char other[1200];
    snprintf(other, sizeof other, "%s/checkpoints/%llu", b, (unsigned long long)cp + 1);
    assert_int_equal(rename(path, other), 0);
    snprintf(where, sizeof where, "checkpoints/%llu", (unsigned long long)cp + 1);
    expect_failure(b, "checkpoint.size", "", TL_VERIFY_NO_SEQ, where);
    assert_int_equal(rename(other, path), 0);
    /* a name that is not a size */
    snprintf(other, sizeof other, "%s/checkpoints/0%llu", b, (unsigned long long)cp);
    assert_int_equal(rename(path, other), 0);
    expect_failure(b, "bundle.checkpoint_name", "", TL_VERIFY_NO_SEQ, "checkpoints");
    assert_int_equal(rename(other, path), 0);
    free(note);

    /* no checkpoints at all, and no checkpoints directory */
    sh("rm '%s'/checkpoints/*", b);
    expect_failure(b, "checkpoint.none", "", TL_VERIFY_NO_SEQ, "checkpoints");
    sh("rmdir '%s/checkpoints'", b);
    expect_failure(b, "bundle.missing", "checkpoints", TL_VERIFY_NO_SEQ, "checkpoints");
    done_with_copy();
}

static void test_bundle_trust_anchors(void **state)
{
    (void)state;
    const char *b = fresh_copy(fx.bundle);
    /* ledger.vkey for another key under the same name: no checkpoint is signed by it */
    write_other_vkey(b, TL_SCHEMA_EXAMPLE_ORIGIN, "\n");
    expect_failure(b, "note.unsigned", "", TL_VERIFY_NO_SEQ, "checkpoints/1");
    /* ... or under another name */
    write_other_vkey(b, "attacker.example/log", "");
    expect_failure(b, "note.unsigned", "", TL_VERIFY_NO_SEQ, "checkpoints/1");
    /* ... or not a key line at all */
    write_file(b, "ledger.vkey", "not a key\n", 10);
    expect_failure(b, "note.vkey", NULL, TL_VERIFY_NO_SEQ, "ledger.vkey");
    sh("cp '%s/ledger.vkey' '%s/ledger.vkey'", fx.bundle, b);
    sh("rm '%s/ledger.vkey'", b);
    expect_failure(b, "bundle.missing", "ledger.vkey", TL_VERIFY_NO_SEQ, "ledger.vkey");
    sh("cp '%s/ledger.vkey' '%s/ledger.vkey'", fx.bundle, b);
    expect_verified(b);

    /* admin.pub names another key: record 0 is not signed by it */
    tl_keypair other = tl_test_key(OTHER_KEY);
    char hex[66];
    tl_hex_encode(hex, other.pk, 32);
    strcat(hex, "\n");
    write_file(b, "admin.pub", hex, 65);
    expect_failure(b, "verify.admin_key", "key", 0, "records");
    write_file(b, "admin.pub", "00\n", 3);
    expect_failure(b, "bundle.admin_key", "admin.pub", TL_VERIFY_NO_SEQ, "admin.pub");
    done_with_copy();
}

/* Every single-byte change of a small bundle's records and checkpoint files is caught. */
static void flip_every_byte(const char *bundle, const char *name)
{
    uint8_t *data;
    size_t len;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", bundle, name);
    tl_error err;
    assert_int_equal(tl_file_read(path, 1 << 20, &data, &len, &err), 0);
    tl_verify_options opt = {.threads = 1};
    static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x20, 0x10, 0x04};
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t m = 0; m < 2; m++) {
            uint8_t mask = masks[(pos + 3 * m) % (sizeof masks)];
            data[pos] ^= mask;
            write_file(bundle, name, data, len);
            tl_verify_report r;
            int rc = tl_verify_path(&r, bundle, &opt, &err);
            if (rc == 0 || !r.failed)
                fail_msg("%s: byte %zu ^ 0x%02x went unnoticed (rc %d)", name, pos, mask, rc);
            data[pos] ^= mask;
        }
    }
    write_file(bundle, name, data, len);
    free(data);
}

static void test_bundle_every_byte(void **state)
{
    (void)state;
    char dir[1200], bundle[1200];
    snprintf(dir, sizeof dir, "%s/small", fx.tmp);
    snprintf(bundle, sizeof bundle, "%s/small-bundle", fx.tmp);
    /* genesis, six participants, a key added: 8 records */
    tl_ledger_close(tl_test_example_ledger(dir, CP_EVERY, 8));
    tl_test_export(dir, bundle, NULL);
    expect_verified(bundle);
    flip_every_byte(bundle, "records");
    DIR *d;
    char cps[1300];
    snprintf(cps, sizeof cps, "%s/checkpoints", bundle);
    char names[16][300];
    size_t n = 0;
    assert_non_null(d = opendir(cps));
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (de->d_name[0] != '.' && n < 16)
            snprintf(names[n++], sizeof names[0], "checkpoints/%s", de->d_name);
    closedir(d);
    assert_true(n >= 2);
    for (size_t i = 0; i < n; i++)
        flip_every_byte(bundle, names[i]);
    expect_verified(bundle);
    tl_test_rmdir(dir);
    tl_test_rmdir(bundle);
}

/* ---- ledger directories, through their own RocksDB ---- */

typedef struct rawdb {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *w;
    rocksdb_readoptions_t *r;
    char **names;
    size_t n;
    rocksdb_column_family_handle_t *cf[16];
} rawdb;

static void raw_open(rawdb *x, const char *ledger)
{
    memset(x, 0, sizeof *x);
    char path[1200];
    snprintf(path, sizeof path, "%s/db", ledger);
    char *e = NULL;
    x->opts = rocksdb_options_create();
    x->names = rocksdb_list_column_families(x->opts, path, &x->n, &e);
    assert_null(e);
    assert_true(x->n <= 16);
    const rocksdb_options_t *o[16];
    for (size_t i = 0; i < x->n; i++)
        o[i] = x->opts;
    x->db = rocksdb_open_column_families(x->opts, path, (int)x->n, (const char *const *)x->names, o, x->cf, &e);
    if (e != NULL)
        fail_msg("rocksdb open: %s", e);
    x->w = rocksdb_writeoptions_create();
    x->r = rocksdb_readoptions_create();
}

static rocksdb_column_family_handle_t *raw_cf(rawdb *x, const char *name)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->names[i], name) == 0)
            return x->cf[i];
    fail_msg("no column family %s", name);
    return NULL;
}

static char *raw_get(rawdb *x, const char *cf, const void *key, size_t klen, size_t *vlen)
{
    char *e = NULL;
    char *v = rocksdb_get_cf(x->db, x->r, raw_cf(x, cf), key, klen, vlen, &e);
    assert_null(e);
    assert_non_null(v);
    return v;
}

static void raw_put(rawdb *x, const char *cf, const void *key, size_t klen, const void *val, size_t vlen)
{
    char *e = NULL;
    rocksdb_put_cf(x->db, x->w, raw_cf(x, cf), key, klen, val, vlen, &e);
    assert_null(e);
}

static void raw_delete(rawdb *x, const char *cf, const void *key, size_t klen)
{
    char *e = NULL;
    rocksdb_delete_cf(x->db, x->w, raw_cf(x, cf), key, klen, &e);
    assert_null(e);
}

static void raw_close(rawdb *x)
{
    for (size_t i = 0; i < x->n; i++)
        rocksdb_column_family_handle_destroy(x->cf[i]);
    rocksdb_close(x->db);
    rocksdb_list_column_families_destroy(x->names, x->n);
    rocksdb_options_destroy(x->opts);
    rocksdb_writeoptions_destroy(x->w);
    rocksdb_readoptions_destroy(x->r);
}

/* A fresh copy of the pristine ledger, its RocksDB open in x. */
static const char *ledger_copy_opened(rawdb *x)
{
    const char *d = fresh_copy(fx.ledger);
    raw_open(x, d);
    return d;
}

static void seq_key(uint8_t k[8], uint64_t seq) { tl_be64_put(k, seq); }

static void node_key(uint8_t k[9], unsigned level, uint64_t index)
{
    k[0] = (uint8_t)level;
    tl_be64_put(k + 1, index);
}

/* Flips one byte (at offset, from the end when negative) of a stored value. */
static void raw_flip(rawdb *x, const char *cf, const void *key, size_t klen, long offset)
{
    size_t n;
    char *v = raw_get(x, cf, key, klen, &n);
    size_t at = offset < 0 ? n - (size_t)(-offset) : (size_t)offset;
    assert_true(at < n);
    v[at] ^= 0x01;
    raw_put(x, cf, key, klen, v, n);
    rocksdb_free(v);
}

/* Moves record seq's `recorded` one millisecond forward, re-encoded in place. */
static void bump_recorded(const char *ledger, uint64_t seq)
{
    rawdb x;
    raw_open(&x, ledger);
    uint8_t k[8];
    seq_key(k, seq);
    size_t n;
    char *v = raw_get(&x, "records", k, 8, &n);
    tl_record rec;
    tl_error err;
    assert_int_equal(tl_record_decode(&rec, (uint8_t *)v, n, &err), 0);
    rec.recorded_ms++;
    tl_buf out;
    tl_buf_init(&out);
    assert_int_equal(tl_record_encode(&out, &rec), 0);
    raw_put(&x, "records", k, 8, out.data, out.len);
    tl_buf_free(&out);
    rocksdb_free(v);
    raw_close(&x);
}

static void test_dir_records(void **state)
{
    (void)state;
    rawdb x;
    uint8_t k[8];
    /* a flipped signature byte in record 9 */
    const char *d = ledger_copy_opened(&x);
    seq_key(k, 9);
    raw_flip(&x, "records", k, 8, -1);
    raw_close(&x);
    expect_failure(d, "signature.invalid", "sig", 9, "db/records");
    /* the export of the damaged ledger fails the same way */
    char b[1200];
    snprintf(b, sizeof b, "%s-bundle", d);
    tl_test_export(d, b, NULL);
    expect_failure(b, "signature.invalid", "sig", 9, "records");
    tl_test_rmdir(b);
    done_with_copy();

    /* a record's clock moved forward by a millisecond: the stored tree no longer matches it
     * (record 15 completes the stored subtree of records 0..15), and the signed root does not
     * match either (the last record before a checkpoint, so that the next record's clock is
     * not judged first) */
    char where[64];
    tl_error err;
    uint64_t cp = covering_checkpoint(fx.bundle, 7);
    snprintf(where, sizeof where, "checkpoints/%llu", (unsigned long long)cp);
    d = fresh_copy(fx.ledger);
    bump_recorded(d, 15);
    expect_failure(d, "merkle.stored_node", "", 15, "db/merkle");
    done_with_copy();
    d = fresh_copy(fx.ledger);
    bump_recorded(d, cp - 1);
    expect_failure(d, "checkpoint.root", "", TL_VERIFY_NO_SEQ, where);
    done_with_copy();

    /* record 8 deleted */
    d = ledger_copy_opened(&x);
    seq_key(k, 8);
    raw_delete(&x, "records", k, 8);
    raw_close(&x);
    expect_failure(d, "storage.corrupt", "", 8, "db/records");
    done_with_copy();

    /* records 11 and 12 swapped */
    d = ledger_copy_opened(&x);
    uint8_t k2[8];
    seq_key(k, 11);
    seq_key(k2, 12);
    size_t n1, n2;
    char *v1 = raw_get(&x, "records", k, 8, &n1), *v2 = raw_get(&x, "records", k2, 8, &n2);
    raw_put(&x, "records", k, 8, v2, n2);
    raw_put(&x, "records", k2, 8, v1, n1);
    rocksdb_free(v1);
    rocksdb_free(v2);
    raw_close(&x);
    expect_failure(d, "record.seq", "record[1]", 11, "db/records");
    done_with_copy();

    /* the last record deleted: the log is one short of its last checkpoint */
    d = fresh_copy(fx.ledger);
    tl_verify_report r;
    assert_int_equal(tl_verify_path(&r, d, NULL, &err), 0);
    raw_open(&x, d);
    seq_key(k, r.records - 1);
    raw_delete(&x, "records", k, 8);
    raw_close(&x);
    snprintf(where, sizeof where, "checkpoints/%llu", (unsigned long long)r.checkpoint_size);
    expect_failure(d, "checkpoint.beyond_log", "", TL_VERIFY_NO_SEQ, where);
    done_with_copy();
}

static void test_dir_merkle_and_checkpoints(void **state)
{
    (void)state;
    rawdb x;
    uint8_t k[9];
    /* The ledger stores the subtrees of 4 leaves and up (smaller ones it recomputes from the
     * records): the one over records 0..15 flipped, then missing. */
    const char *d = ledger_copy_opened(&x);
    node_key(k, 4, 0);
    raw_flip(&x, "merkle", k, 9, 31);
    raw_close(&x);
    expect_failure(d, "merkle.stored_node", "", 15, "db/merkle");
    done_with_copy();
    d = ledger_copy_opened(&x);
    raw_delete(&x, "merkle", k, 9);
    raw_close(&x);
    expect_failure(d, "storage.merkle_node", "", 15, "db/merkle");
    done_with_copy();

    /* a checkpoint note's signed text */
    d = ledger_copy_opened(&x);
    uint8_t k8[8];
    seq_key(k8, 1);
    raw_flip(&x, "checkpoints", k8, 8, 0);
    raw_close(&x);
    expect_failure(d, "note.signature", NULL, TL_VERIFY_NO_SEQ, "checkpoints/1");
    done_with_copy();

    /* ledger.vkey for another key */
    d = fresh_copy(fx.ledger);
    write_other_vkey(d, TL_SCHEMA_EXAMPLE_ORIGIN, "\n");
    expect_failure(d, "note.unsigned", "", TL_VERIFY_NO_SEQ, "checkpoints/1");
    done_with_copy();

    /* the administrator key of the ledger's metadata */
    tl_keypair other = tl_test_key(OTHER_KEY);
    d = ledger_copy_opened(&x);
    raw_put(&x, "default", "admin", 5, other.pk, 32);
    raw_close(&x);
    expect_failure(d, "verify.admin_key", "key", 0, "db/records");
    done_with_copy();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundle_record_bytes),
        cmocka_unit_test(test_bundle_record_fields),
        cmocka_unit_test(test_bundle_deleted_reordered_truncated),
        cmocka_unit_test(test_bundle_inserted_records),
        cmocka_unit_test(test_bundle_checkpoints),
        cmocka_unit_test(test_bundle_trust_anchors),
        cmocka_unit_test(test_bundle_every_byte),
        cmocka_unit_test(test_dir_records),
        cmocka_unit_test(test_dir_merkle_and_checkpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
