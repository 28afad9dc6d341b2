/*
 * The audit of valid logs: a ledger holding every event type (the documented example history
 * plus a few hundred contracts, so that records span several pipeline chunks and many
 * checkpoints) verifies from its directory and from its exported bundle with the same
 * summary; the bundle holds exactly what FORMAT.md section 8 says; the commands `export`,
 * `verify`, `checkpoint` and `vkey` behave as a user expects.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tl_bundle.h"
#include "tl_schema.h"
#include "tl_verify.h"

#define JSON_BYTES 4096
#define EXTRA_CONTRACTS 600
#define CP_EVERY 97 /* checkpoints at odd sizes, not aligned with chunks or subtrees */

/* ---- a ledger with every event type ---- */

/* Signs every JSON event with kp and submits them all at once, so that they share group
 * commits. */
static void submit_all(tl_ledger *l, const tl_keypair *kp, char **json, size_t n)
{
    tl_buf *envs = calloc(n, sizeof *envs);
    assert_non_null(envs);
    for (size_t i = 0; i < n; i++)
        tl_test_envelope(&envs[i], kp, json[i]);
    tl_test_submitted got;
    tl_test_submit_all(l, envs, n, &got);
    if (got.rejected != 0)
        fail_msg("%zu events refused, e.g. %s", got.rejected, got.why);
    for (size_t i = 0; i < n; i++)
        tl_buf_free(&envs[i]);
    free(envs);
}

static void contract_json(char *out, size_t i)
{
    snprintf(out, JSON_BYTES,
             "{\"type\":\"contract.registered\",\"stream\":\"contract/20201101%08zu\",\"data\":{"
             "\"reg_no\":\"20201101%08zu\",\"class\":\"transfer\",\"subtype\":\"patent\",\"seller\":\"tsinghua\","
             "\"buyer\":\"acme\",\"seller_region\":\"110108\",\"buyer_region\":\"310115\",\"field\":\"new_energy\","
             "\"signed_on\":\"2020-11-01\",\"registered_on\":\"2020-11-02\",\"total_fen\":%zu,\"tech_fen\":%zu}}",
             i, i, 100000 + i, 50000 + i);
}

static void amend_json(char *out, size_t i)
{
    snprintf(out, JSON_BYTES,
             "{\"type\":\"contract.amended\",\"stream\":\"contract/20201101%08zu\",\"expect\":1,\"data\":{"
             "\"total_fen\":%zu,\"tech_fen\":%zu,\"amended_on\":\"2020-12-01\",\"reason\":\"re-scoped\"}}",
             i, 200000 + i, 60000 + i);
}

/* The example history (every event type) and `extra` contracts, of which every third is
 * amended; closed, so the last checkpoint covers every record. Returns the record count. */
static uint64_t build_ledger(const char *dir, size_t extra)
{
    tl_ledger *l = tl_test_example_ledger(dir, CP_EVERY, 0);
    size_t n;
    tl_schema_examples(&n);
    tl_keypair registry = tl_test_key(0x02);
    size_t amends = extra / 3;
    char **json = calloc(extra + amends + 1, sizeof *json);
    assert_non_null(json);
    for (size_t i = 0; i < extra; i++) {
        json[i] = malloc(JSON_BYTES);
        contract_json(json[i], i);
    }
    if (extra > 0)
        submit_all(l, &registry, json, extra);
    for (size_t i = 0; i < amends; i++) {
        json[extra + i] = malloc(JSON_BYTES);
        amend_json(json[extra + i], 3 * i);
    }
    if (amends > 0)
        submit_all(l, &registry, json + extra, amends);
    for (size_t i = 0; i < extra + amends; i++)
        free(json[i]);
    free(json);
    uint64_t size = tl_ledger_size(l);
    assert_int_equal(size, n - 0 + extra + amends); /* examples include the genesis */
    tl_ledger_close(l);
    return size;
}

/* The streams of the example history (genesis included) plus one per extra contract. */
static uint64_t example_streams(void)
{
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    uint64_t streams = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i; k++)
            seen = seen || strcmp(ex[k].stream, ex[i].stream) == 0;
        streams += !seen;
    }
    return streams;
}

static int count_checkpoint(void *ctx, uint64_t size, const uint8_t *note, size_t len)
{
    (void)size;
    (void)note;
    (void)len;
    (*(uint64_t *)ctx)++;
    return 0;
}

static void read_file(const char *dir, const char *name, uint8_t **out, size_t *len)
{
    char path[1024];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < sizeof path);
    tl_error err;
    if (tl_file_read(path, 64u << 20, out, len, &err) != 0)
        fail_msg("cannot read %s: %s", path, err.msg);
}

typedef struct fixture {
    char *tmp;
    char dir[1024];    /* the ledger */
    char bundle[1024]; /* its export */
    uint64_t size;
} fixture;

static fixture fx;

static int setup(void **state)
{
    (void)state;
    fx.tmp = tl_test_tmpdir("verify");
    snprintf(fx.dir, sizeof fx.dir, "%s/ledger", fx.tmp);
    snprintf(fx.bundle, sizeof fx.bundle, "%s/bundle", fx.tmp);
    fx.size = build_ledger(fx.dir, EXTRA_CONTRACTS);
    tl_bundle_summary sum;
    tl_test_export(fx.dir, fx.bundle, &sum);
    assert_int_equal(sum.records, fx.size);
    assert_int_equal(sum.checkpoint_size, fx.size);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tl_test_rmdir(fx.tmp);
    free(fx.tmp);
    return 0;
}

static void assert_verified(const tl_verify_report *r, int rc, const tl_error *err)
{
    if (rc != 0)
        fail_msg("verify failed at seq %llu in %s: %s at %s: %s", (unsigned long long)r->seq, r->where, err->rule,
                 err->path, err->msg);
    assert_false(r->failed);
}

/* ---- tests ---- */

static void test_dir_and_bundle_agree(void **state)
{
    (void)state;
    tl_ledger *l;
    tl_error err;
    assert_int_equal(tl_verify_open_ledger(&l, fx.dir, &err), 0);
    uint8_t root[TL_HASH_BYTES];
    assert_int_equal(tl_ledger_root(l, fx.size, root, &err), 0);
    uint64_t checkpoints = 0;
    assert_int_equal(tl_ledger_checkpoint_scan(l, count_checkpoint, &checkpoints, &err), 0);
    tl_ledger_close(l);
    assert_true(checkpoints > fx.size / CP_EVERY / 2); /* many, at sizes of all kinds */

    tl_verify_report d, b;
    int rc = tl_verify_path(&d, fx.dir, NULL, &err);
    assert_verified(&d, rc, &err);
    rc = tl_verify_path(&b, fx.bundle, NULL, &err);
    assert_verified(&b, rc, &err);

    uint64_t streams = example_streams() + EXTRA_CONTRACTS;
    const tl_verify_report *both[2] = {&d, &b};
    for (int i = 0; i < 2; i++) {
        const tl_verify_report *r = both[i];
        assert_int_equal(r->records, fx.size);
        assert_int_equal(r->streams, streams);
        assert_int_equal(r->checkpoints, checkpoints);
        assert_int_equal(r->checkpoint_size, fx.size);
        assert_int_equal(r->uncovered, 0);
        assert_memory_equal(r->root, root, TL_HASH_BYTES);
        assert_string_equal(r->origin, TL_SCHEMA_EXAMPLE_ORIGIN);
        assert_int_equal(r->seq, TL_VERIFY_NO_SEQ);
    }
    assert_int_equal(d.record_bytes, b.record_bytes);
    /* the directory's own tree was compared node by node; a bundle has none */
    assert_true(d.stored_nodes > 0 && d.stored_nodes < fx.size);
    assert_int_equal(b.stored_nodes, 0);
}

static void test_thread_counts_agree(void **state)
{
    (void)state;
    tl_verify_report ref;
    tl_error err;
    int rc = tl_verify_path(&ref, fx.bundle, NULL, &err);
    assert_verified(&ref, rc, &err);
    unsigned counts[] = {1, 2, 5};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        tl_verify_options opt = {.threads = counts[i]};
        tl_verify_report r;
        rc = tl_verify_path(&r, fx.bundle, &opt, &err);
        assert_verified(&r, rc, &err);
        assert_int_equal(r.threads, counts[i]);
        assert_int_equal(r.records, ref.records);
        assert_int_equal(r.streams, ref.streams);
        assert_int_equal(r.checkpoints, ref.checkpoints);
        assert_memory_equal(r.root, ref.root, TL_HASH_BYTES);
    }
}

typedef struct progress_seen {
    uint64_t calls, last_records;
    bool monotonic;
} progress_seen;

static void on_progress(void *ctx, const tl_verify_progress *p)
{
    progress_seen *s = ctx;
    s->monotonic = s->monotonic && p->records >= s->last_records && p->bytes <= p->bytes_total;
    s->last_records = p->records;
    s->calls++;
}

static void test_progress_is_sane(void **state)
{
    (void)state;
    /* Progress is time-driven, so it may or may not fire on a small log: only its values are
     * checked, never whether it ran. */
    progress_seen s = {.monotonic = true};
    tl_verify_options opt = {.progress = on_progress, .progress_ctx = &s};
    tl_verify_report r;
    tl_error err;
    int rc = tl_verify_path(&r, fx.bundle, &opt, &err);
    assert_verified(&r, rc, &err);
    assert_true(s.monotonic);
    assert_true(s.last_records <= r.records);
}

/* FORMAT.md section 8, byte for byte. */
static void test_bundle_layout(void **state)
{
    (void)state;
    tl_ledger *l;
    tl_error err;
    assert_int_equal(tl_verify_open_ledger(&l, fx.dir, &err), 0);

    uint8_t *records;
    size_t len;
    read_file(fx.bundle, "records", &records, &len);
    size_t off = 0;
    tl_buf rec;
    tl_buf_init(&rec);
    for (uint64_t seq = 0; seq < fx.size; seq++) {
        assert_int_equal(tl_ledger_read(l, seq, &rec, &err), 0);
        assert_true(off + rec.len <= len);
        assert_memory_equal(records + off, rec.data, rec.len);
        off += rec.len;
    }
    assert_int_equal(off, len);
    free(records);

    char path[1200];
    snprintf(path, sizeof path, "%s/checkpoints", fx.bundle);
    DIR *d = opendir(path);
    assert_non_null(d);
    uint64_t files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        files++;
        char *end;
        unsigned long long size = strtoull(de->d_name, &end, 10);
        assert_true(*end == '\0');
        char name[300];
        snprintf(name, sizeof name, "checkpoints/%s", de->d_name);
        uint8_t *note;
        read_file(fx.bundle, name, &note, &len);
        assert_int_equal(tl_ledger_checkpoint_get(l, size, &rec, &err), 0);
        assert_int_equal(len, rec.len);
        assert_memory_equal(note, rec.data, len);
        free(note);
    }
    closedir(d);
    uint64_t checkpoints = 0;
    assert_int_equal(tl_ledger_checkpoint_scan(l, count_checkpoint, &checkpoints, &err), 0);
    assert_int_equal(files, checkpoints);

    char vkey[512];
    assert_int_equal(tl_ledger_vkey(l, vkey, sizeof vkey), 0);
    strcat(vkey, "\n");
    uint8_t *text;
    read_file(fx.bundle, "ledger.vkey", &text, &len);
    assert_int_equal(len, strlen(vkey));
    assert_memory_equal(text, vkey, len);
    free(text);

    tl_keypair admin = tl_test_key(0x01);
    char hex[66];
    tl_hex_encode(hex, admin.pk, 32);
    strcat(hex, "\n");
    read_file(fx.bundle, "admin.pub", &text, &len);
    assert_int_equal(len, 65);
    assert_memory_equal(text, hex, 65);
    free(text);

    /* nothing else in the bundle, and no scratch directory beside it */
    d = opendir(fx.bundle);
    assert_non_null(d);
    size_t entries = 0;
    while ((de = readdir(d)) != NULL)
        entries += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 4);
    d = opendir(fx.tmp);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        assert_null(strstr(de->d_name, ".tmp"));
    closedir(d);

    /* an export never replaces anything */
    tl_bundle_summary sum;
    assert_int_equal(tl_bundle_export(&sum, l, fx.bundle, NULL, NULL, &err), TL_ESTATE);
    assert_string_equal(err.rule, "bundle.exists");
    read_file(fx.bundle, "records", &records, &len);
    assert_int_equal(len, off);
    free(records);
    tl_buf_free(&rec);
    tl_ledger_close(l);
}

/* A bundle whose latest checkpoint was left out still verifies, and says what nothing signs. */
static void test_uncovered_tail(void **state)
{
    (void)state;
    char copy[1200], cmd[4096];
    snprintf(copy, sizeof copy, "%s/uncovered", fx.tmp);
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && rm '%s/checkpoints/%llu'", fx.bundle, copy, copy,
             (unsigned long long)fx.size);
    assert_int_equal(system(cmd), 0);
    tl_verify_report r;
    tl_error err;
    int rc = tl_verify_path(&r, copy, NULL, &err);
    assert_verified(&r, rc, &err);
    assert_true(r.checkpoint_size < fx.size);
    assert_int_equal(r.uncovered, fx.size - r.checkpoint_size);
    assert_int_equal(r.records, fx.size);
    tl_test_rmdir(copy);
}

/* Where each of the fixture's records starts in the bundle's records file (len bytes), and
 * off[fx.size] == len; the caller frees it. */
static size_t *record_offsets(const uint8_t *records, size_t len)
{
    size_t *off = calloc(fx.size + 1, sizeof *off);
    assert_non_null(off);
    for (uint64_t seq = 0; seq < fx.size; seq++) {
        size_t n = tl_mp_object_len(records + off[seq], len - off[seq]);
        assert_true(n > 0);
        off[seq + 1] = off[seq] + n;
    }
    assert_int_equal(off[fx.size], len);
    return off;
}

/* The replay keeps event ids in a table of its own (verify.c); an event replayed at the end of
 * the log is found whichever earlier record holds it, after the table has grown many times,
 * and the failure names that record. */
static void test_repeated_id_found_anywhere(void **state)
{
    (void)state;
    uint8_t *records;
    size_t len;
    read_file(fx.bundle, "records", &records, &len);
    size_t *off = record_offsets(records, len);
    tl_record last;
    tl_error err;
    assert_int_equal(tl_record_decode(&last, records + off[fx.size - 1], len - off[fx.size - 1], &err), 0);

    uint64_t originals[] = {1, 2, fx.size / 3, fx.size - 2, fx.size - 1};
    for (size_t k = 0; k < sizeof originals / sizeof originals[0]; k++) {
        uint64_t orig = originals[k];
        char copy[1200], cmd[4096];
        snprintf(copy, sizeof copy, "%s/repeated-%zu", fx.tmp, k);
        snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", fx.bundle, copy);
        assert_int_equal(system(cmd), 0);
        /* the original's record, signed as it was, appended as record fx.size */
        tl_record rec;
        assert_int_equal(tl_record_decode(&rec, records + off[orig], off[orig + 1] - off[orig], &err), 0);
        rec.seq = fx.size;
        rec.recorded_ms = last.recorded_ms;
        tl_buf extra;
        tl_buf_init(&extra);
        assert_int_equal(tl_record_encode(&extra, &rec), 0);
        char path[1300];
        snprintf(path, sizeof path, "%s/records", copy);
        FILE *f = fopen(path, "ab");
        assert_non_null(f);
        assert_int_equal(fwrite(extra.data, 1, extra.len, f), extra.len);
        assert_int_equal(fclose(f), 0);
        tl_buf_free(&extra);

        tl_verify_report r;
        int rc = tl_verify_path(&r, copy, NULL, &err);
        assert_int_equal(rc, TL_ECONFLICT);
        assert_true(r.failed);
        assert_int_equal(r.seq, fx.size);
        assert_string_equal(r.where, "records");
        assert_string_equal(err.rule, "log.duplicate_id");
        char want[64];
        snprintf(want, sizeof want, "record %llu:", (unsigned long long)orig);
        if (strstr(err.msg, want) == NULL)
            fail_msg("expected \"%s\" in: %s", want, err.msg);
        assert_int_equal(r.records, fx.size); /* every earlier record passed */
        tl_test_rmdir(copy);
    }
    free(off);
    free(records);
}

/* A damage to one record of a copy of the bundle: the record's signature, its seq, or a date
 * in its body (a schema failure, and the signature no longer verifies either). */
typedef enum damage { BAD_SIG, BAD_SEQ, BAD_DATE } damage;

static void damage_record(uint8_t *records, const size_t *off, uint64_t seq, damage d)
{
    uint8_t *rec = records + off[seq];
    size_t len = off[seq + 1] - off[seq];
    if (d == BAD_SIG) {
        rec[len - 1] ^= 0x01; /* the signature is the record's last field */
    } else if (d == BAD_SEQ) {
        assert_true(rec[0] == 0x97 && rec[1] == 0x01 && rec[2] == seq); /* [1, seq (fixint), ...] */
        rec[2] = (uint8_t)(seq + 1);
    } else {
        uint8_t *date = memmem(rec, len, "2020-11-01", 10);
        assert_non_null(date);
        date[9] = 'x';
    }
}

/* Workers check a chunk's records first and their signatures in a loop of their own after
 * (verify.c); the failure reported is still the first a record-by-record check meets: an
 * earlier bad signature before a later bad record of the same chunk, and a record's
 * signature before its schema. */
static void test_first_failure_within_a_chunk(void **state)
{
    (void)state;
    uint8_t *orig;
    size_t len;
    read_file(fx.bundle, "records", &orig, &len);
    size_t *off = record_offsets(orig, len);
    static const struct {
        damage first, second;
        const char *rule, *path;
    } cases[] = {
        {BAD_SIG, BAD_SEQ, "signature.invalid", "sig"},      {BAD_SEQ, BAD_SIG, "record.seq", "record[1]"},
        {BAD_DATE, BAD_SIG, "signature.invalid", "sig"},     {BAD_SIG, BAD_DATE, "signature.invalid", "sig"},
        {BAD_DATE, BAD_SEQ, "signature.invalid", "sig"},
    };
    const uint64_t at = 40, later = 70; /* contracts, in the first chunk, seq a fixint */
    uint8_t *records = malloc(len);
    assert_non_null(records);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(records, orig, len);
        damage_record(records, off, at, cases[k].first);
        damage_record(records, off, later, cases[k].second);
        char copy[1200], cmd[4096], path[1300];
        snprintf(copy, sizeof copy, "%s/first-failure-%zu", fx.tmp, k);
        snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", fx.bundle, copy);
        assert_int_equal(system(cmd), 0);
        snprintf(path, sizeof path, "%s/records", copy);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(records, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
        for (unsigned threads = 1; threads <= 2; threads++) {
            tl_verify_options opt = {.threads = threads};
            tl_verify_report r;
            tl_error err;
            assert_int_not_equal(tl_verify_path(&r, copy, &opt, &err), 0);
            assert_true(r.failed);
            if (r.seq != at || strcmp(err.rule, cases[k].rule) != 0 || strcmp(err.path, cases[k].path) != 0)
                fail_msg("case %zu: seq %llu, %s at %s (%s); expected seq %llu, %s at %s", k,
                         (unsigned long long)r.seq, err.rule, err.path, err.msg, (unsigned long long)at,
                         cases[k].rule, cases[k].path);
            assert_int_equal(r.records, at); /* every earlier record passed */
        }
        tl_test_rmdir(copy);
    }
    free(records);
    free(off);
    free(orig);
}

/* verify reads a ledger that a running writer holds. */
static void test_verify_while_written(void **state)
{
    (void)state;
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/live", fx.tmp);
    uint64_t size = build_ledger(dir, 0);
    tl_ledger *w;
    tl_error err;
    tl_ledger_options opt = {.checkpoint_every_records = CP_EVERY};
    assert_int_equal(tl_ledger_open(&w, dir, &opt, &err), 0);
    tl_verify_report r;
    int rc = tl_verify_path(&r, dir, NULL, &err);
    assert_verified(&r, rc, &err);
    assert_int_equal(r.records, size);
    tl_ledger_close(w);
    tl_test_rmdir(dir);
}

/* ---- the commands ---- */

static void test_commands(void **state)
{
    (void)state;
    const char *bin = TL_TECHLEDGER_BIN;
    static char out[1 << 16];
    tl_ledger *l;
    tl_error err;
    assert_int_equal(tl_verify_open_ledger(&l, fx.dir, &err), 0);
    tl_buf note;
    tl_buf_init(&note);
    uint64_t size;
    assert_int_equal(tl_ledger_checkpoint_latest(l, &note, &size, &err), 0);
    char vkey[512];
    assert_int_equal(tl_ledger_vkey(l, vkey, sizeof vkey), 0);
    tl_ledger_close(l);

    /* checkpoint prints the note exactly as signed; vkey the line */
    assert_int_equal(tl_test_sh(out, sizeof out, "%s checkpoint '%s'", bin, fx.dir), 0);
    assert_int_equal(strlen(out), note.len);
    assert_memory_equal(out, note.data, note.len);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s vkey '%s'", bin, fx.dir), 0);
    assert_true(strncmp(out, vkey, strlen(vkey)) == 0);
    assert_string_equal(out + strlen(vkey), "\n");
    tl_buf_free(&note);

    /* export then verify, from the bundle and from the directory */
    char bundle[1200];
    snprintf(bundle, sizeof bundle, "%s/cli-bundle", fx.tmp);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s export '%s' --audit '%s'", bin, fx.dir, bundle), 0);
    assert_non_null(strstr(out, "exported"));
    assert_int_equal(tl_test_sh(out, sizeof out, "%s export '%s' --audit '%s'", bin, fx.dir, bundle), 1);
    assert_non_null(strstr(out, "bundle.exists"));
    assert_int_equal(tl_test_sh(out, sizeof out, "%s verify '%s'", bin, bundle), 0);
    assert_non_null(strstr(out, "OK"));
    char records[64];
    snprintf(records, sizeof records, "records      %llu ", (unsigned long long)fx.size);
    assert_non_null(strstr(out, records));
    assert_int_equal(tl_test_sh(out, sizeof out, "%s verify --progress --threads 1 '%s'", bin, fx.dir), 0);
    assert_non_null(strstr(out, records));
    assert_non_null(strstr(out, "stored tree"));

    /* a damaged bundle: exit 1, the seq, the part, the rule and the field */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "printf 'x' | dd of='%s/records' bs=1 seek=40 conv=notrunc status=none", bundle);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s verify '%s'", bin, bundle), 1);
    assert_non_null(strstr(out, "FAILED at seq 0 in records"));
    assert_non_null(strstr(out, "rule signature.invalid, field sig"));

    /* unreadable input and bad usage */
    assert_int_equal(tl_test_sh(out, sizeof out, "%s verify '%s/nothing-here'", bin, fx.tmp), 3);
    assert_non_null(strstr(out, "verify.source"));
    assert_int_equal(tl_test_sh(out, sizeof out, "%s verify", bin), 2);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s verify --threads 0 '%s'", bin, fx.dir), 2);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s export '%s'", bin, fx.dir), 2);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s checkpoint", bin), 2);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s vkey '%s/nothing-here'", bin, fx.tmp), 3);
    const char *cmds[] = {"verify", "export", "checkpoint", "vkey"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tl_test_sh(out, sizeof out, "%s %s --help", bin, cmds[i]), 0);
        assert_non_null(strstr(out, "usage: techledger"));
    }
    tl_test_rmdir(bundle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_and_bundle_agree), cmocka_unit_test(test_thread_counts_agree),
        cmocka_unit_test(test_progress_is_sane),     cmocka_unit_test(test_bundle_layout),
        cmocka_unit_test(test_uncovered_tail),       cmocka_unit_test(test_repeated_id_found_anywhere),
        cmocka_unit_test(test_verify_while_written), cmocka_unit_test(test_first_failure_within_a_chunk),
        cmocka_unit_test(test_commands),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
