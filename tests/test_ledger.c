/* The ledger core: genesis, appends, stream versions, expect, idempotency, keys, reopen,
 * concurrent submitters sharing group commits. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <rocksdb/c.h>

#include "tl_checkpoint.h"
#include "tl_note.h"
#include "tl_state.h"

static void test_genesis(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "genesis");
    assert_int_equal(tl_ledger_size(t.l), 4); /* genesis + 3 participants */
    tl_buf rec;
    tl_buf_init(&rec);
    tl_error err;
    assert_int_equal(tl_ledger_read(t.l, 0, &rec, &err), 0);
    tl_record r;
    assert_int_equal(tl_record_decode(&r, rec.data, rec.len, &err), 0);
    assert_int_equal(r.seq, 0);
    assert_int_equal(r.version, 1);
    assert_memory_equal(r.key, t.admin.pk, 32);
    tl_event ev;
    assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err), 0);
    assert_string_equal(ev.type, "ledger.genesis");
    assert_string_equal(ev.stream, "ledger");
    assert_int_equal(tl_event_check(&ev, &err), 0);
    tl_event_free(&ev);
    /* a second genesis is refused */
    char hex[65], json[512];
    tl_hex_encode(hex, t.admin.pk, 32);
    snprintf(json, sizeof json,
             "{\"type\":\"ledger.genesis\",\"stream\":\"ledger\",\"data\":{\"admin\":\"%s\",\"origin\":\"x.example\"}}",
             hex);
    tl_append_result res;
    assert_int_equal(tl_test_append(t.l, &t.admin, json, &res), TL_ECONFLICT);
    assert_string_equal(res.err.rule, "log.genesis_once");
    /* the creation checkpoint verifies against ledger.vkey */
    char vkey[512];
    assert_int_equal(tl_ledger_vkey(t.l, vkey, sizeof vkey), 0);
    tl_note_verifier v;
    assert_int_equal(tl_note_vkey_parse(&v, vkey, strlen(vkey), &err), 0);
    uint64_t size;
    assert_int_equal(tl_ledger_checkpoint_latest(t.l, &rec, &size, &err), 0);
    assert_int_equal(size, 1);
    tl_checkpoint cp;
    assert_int_equal(tl_checkpoint_open(&cp, (const char *)rec.data, rec.len, &v, &err), 0);
    assert_string_equal(cp.origin, "test.example/ledger");
    uint8_t root[32];
    assert_int_equal(tl_ledger_root(t.l, 1, root, &err), 0);
    assert_memory_equal(cp.root, root, 32);
    /* the checkpoint key file is private */
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint.key", t.dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    tl_buf_free(&rec);
    tl_test_ledger_destroy(&t);
}

static void test_streams_and_expect(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "streams");
    char json[2048];
    tl_append_result res;
    tl_test_contract_json(json, sizeof json, "2019110108000123", 100000000, 80000000, "2019-03-01");
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
    assert_int_equal(res.status, TL_APPEND_CREATED);
    assert_int_equal(res.seq, 4);
    assert_int_equal(res.version, 1);
    assert_string_equal(res.stream, "contract/2019110108000123");
    /* registering the same contract again is refused, log unchanged */
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), TL_ECONFLICT);
    assert_string_equal(res.err.rule, "entity.exists");
    assert_int_equal(tl_ledger_size(t.l), 5);
    /* expect: wrong version refused, right version accepted */
    const char *amend = "{\"type\":\"contract.amended\",\"stream\":\"contract/2019110108000123\",\"expect\":%d,"
                        "\"data\":{\"total_fen\":120000000,\"tech_fen\":90000000,\"amended_on\":\"2019-05-01\","
                        "\"reason\":\"scope extended\"}}";
    snprintf(json, sizeof json, amend, 3);
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), TL_ECONFLICT);
    assert_string_equal(res.err.rule, "stream.expect");
    assert_string_equal(res.err.path, "expect");
    assert_int_equal(tl_ledger_size(t.l), 5);
    snprintf(json, sizeof json, amend, 1);
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
    assert_int_equal(res.version, 2);
    uint64_t version;
    tl_error err;
    assert_int_equal(tl_ledger_stream_version(t.l, "contract/2019110108000123", 25, &version, &err), 0);
    assert_int_equal(version, 2);
    assert_int_equal(tl_ledger_stream_version(t.l, "contract/0000000000000000", 25, &version, &err), 0);
    assert_int_equal(version, 0);
    tl_test_ledger_destroy(&t);
}

/* A stream's versions as tl_ledger_stream_scan lists them: version k at got[k - 1]. */
typedef struct scanned {
    uint64_t version[16];
    uint64_t seq[16];
    size_t n;
} scanned;

static int collect_version(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    scanned *s = ctx;
    tl_record r;
    tl_error err;
    if (s->n == 16 || tl_record_decode(&r, rec, len, &err) != 0 || r.seq != seq)
        return -1;
    s->version[s->n] = r.version;
    s->seq[s->n++] = seq;
    return 0;
}

#define STREAM_C "contract/2019110108000777"

/* Results of events submitted without waiting, in the order they were answered. */
typedef struct async_set {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tl_append_result res[64];
    int n;
} async_set;

static void on_async(void *ctx, const tl_append_result *res)
{
    async_set *a = ctx;
    pthread_mutex_lock(&a->mu);
    a->res[a->n++] = *res;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* The scan lists versions after `after`, at most limit; they must be after+1, after+2, ... with
 * the seqs recorded in seqs[version - 1]. */
static void expect_scan(tl_ledger *l, uint64_t after, size_t limit, size_t want, const uint64_t *seqs)
{
    scanned s = {.n = 0};
    tl_error err;
    assert_int_equal(tl_ledger_stream_scan(l, STREAM_C, strlen(STREAM_C), after, limit, collect_version, &s, &err), 0);
    assert_int_equal(s.n, want);
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(s.version[i], after + 1 + i);
        assert_int_equal(s.seq[i], seqs[after + i]);
    }
}

static void amend(tl_test_ledger *t, uint64_t expect, uint64_t *seqs)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"type\":\"contract.amended\",\"stream\":\"" STREAM_C "\",\"expect\":%llu,"
             "\"data\":{\"total_fen\":%llu,\"tech_fen\":900,\"amended_on\":\"2019-05-01\","
             "\"reason\":\"scope extended\"}}",
             (unsigned long long)expect, 1000ull + expect);
    tl_append_result res;
    assert_int_equal(tl_test_append(t->l, &t->registry, json, &res), 0);
    assert_int_equal(res.version, expect + 1);
    seqs[expect] = res.seq;
}

/* Checks that the stream index holds every version but the head's (version), then rewrites
 * the head the way ledgers before the seq-in-head layout stored it: the version alone (8
 * bytes), with every version, the latest included, in `streams`, and the contract's state
 * (stored after the seq in the head since) under 'C' || reg_no. */
static void downgrade_head(const char *dir, uint64_t version, uint64_t seq)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/db", dir);
    const char *names[] = {"default", "records", "streams", "merkle", "state", "checkpoints"};
    rocksdb_options_t *o = rocksdb_options_create();
    const rocksdb_options_t *cfo[6] = {o, o, o, o, o, o};
    rocksdb_column_family_handle_t *cf[6];
    char *dberr = NULL;
    rocksdb_t *db = rocksdb_open_column_families(o, path, 6, names, cfo, cf, &dberr);
    assert_null(dberr);
    uint8_t head[1 + sizeof STREAM_C], v8[8], ikey[sizeof STREAM_C + 8], s8[8];
    head[0] = 's';
    memcpy(head + 1, STREAM_C, strlen(STREAM_C));
    tl_be64_put(v8, version);
    memcpy(ikey, STREAM_C, strlen(STREAM_C) + 1); /* the 0x00 separator */
    tl_be64_put(ikey + strlen(STREAM_C) + 1, version);
    tl_be64_put(s8, seq);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, ro, cf[2]);
    uint64_t indexed = 0;
    for (rocksdb_iter_seek(it, STREAM_C, strlen(STREAM_C) + 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != strlen(STREAM_C) + 9 || memcmp(k, STREAM_C, strlen(STREAM_C) + 1) != 0)
            break;
        assert_int_equal(tl_be64_get((const uint8_t *)k + strlen(STREAM_C) + 1), ++indexed);
    }
    assert_int_equal(indexed, version - 1);
    rocksdb_iter_destroy(it);
    size_t stored_len;
    char *stored = rocksdb_get_cf(db, ro, cf[4], (const char *)head, 1 + strlen(STREAM_C), &stored_len, &dberr);
    assert_null(dberr);
    assert_non_null(stored);
    assert_true(stored_len > 16); /* version || seq || the contract */
    assert_int_equal(tl_be64_get((const uint8_t *)stored), version);
    assert_int_equal(tl_be64_get((const uint8_t *)stored + 8), seq);
    char ckey[64];
    int clen = snprintf(ckey, sizeof ckey, "C%s", strchr(STREAM_C, '/') + 1);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put_cf(db, wo, cf[4], ckey, (size_t)clen, stored + 16, stored_len - 16, &dberr);
    assert_null(dberr);
    rocksdb_free(stored);
    rocksdb_readoptions_destroy(ro);
    rocksdb_put_cf(db, wo, cf[4], (const char *)head, 1 + strlen(STREAM_C), (const char *)v8, 8, &dberr);
    assert_null(dberr);
    rocksdb_put_cf(db, wo, cf[2], (const char *)ikey, strlen(STREAM_C) + 9, (const char *)s8, 8, &dberr);
    assert_null(dberr);
    rocksdb_writeoptions_destroy(wo);
    for (int i = 0; i < 6; i++)
        rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
}

/* The latest version's seq lives in the stream head, earlier ones in the stream index: every
 * version must be listed once, in order, whether the previous head moved to the index in the
 * same batch, in an earlier one, after a reopen, or from a head in the older 8-byte form. */
static void test_stream_scan_versions(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "stream-scan");
    uint64_t seqs[16];
    char json[2048];
    tl_append_result res;
    tl_test_contract_json(json, sizeof json, "2019110108000777", 1000, 900, "2019-03-01");
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
    seqs[0] = res.seq;
    expect_scan(t.l, 0, 0, 1, seqs);
    amend(&t, 1, seqs);
    amend(&t, 2, seqs);
    expect_scan(t.l, 0, 0, 3, seqs);
    /* versions 4 and 5 queued together behind other streams' events, so that (almost always)
     * one batch moves version 4 from the head to the index as soon as it made it the head */
    enum { OTHERS = 40, ALL = OTHERS + 2 };
    async_set a = {.n = 0};
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    tl_event evs[ALL];
    for (int k = 0; k < ALL; k++) {
        if (k < OTHERS) {
            char reg[17];
            snprintf(reg, sizeof reg, "2019%012d", 500 + k);
            tl_test_contract_json(json, sizeof json, reg, 1000, 900, "2019-03-01");
        } else {
            snprintf(json, sizeof json,
                     "{\"type\":\"payment.received\",\"stream\":\"" STREAM_C "\",\"data\":{\"amount_fen\":%d,"
                     "\"received_on\":\"2019-06-0%d\"}}",
                     100 + k, 1 + k - OTHERS);
        }
        tl_buf env;
        tl_test_envelope(&env, &t.registry, json);
        tl_error perr;
        assert_int_equal(tl_event_prepare(&evs[k], env.data, env.len, &perr), 0);
        tl_buf_free(&env);
    }
    tl_error serr;
    for (int k = 0; k < ALL; k++)
        assert_int_equal(tl_ledger_submit(t.l, &evs[k], on_async, &a, &serr), 0);
    pthread_mutex_lock(&a.mu);
    while (a.n < ALL)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);
    for (int k = 0; k < ALL; k++)
        assert_int_equal(a.res[k].status, TL_APPEND_CREATED);
    for (int k = OTHERS; k < ALL; k++) {
        /* answered in submission order: the two payments are the last two */
        assert_int_equal(a.res[k].version, 4 + (uint64_t)(k - OTHERS));
        seqs[3 + k - OTHERS] = a.res[k].seq;
    }
    pthread_mutex_destroy(&a.mu);
    pthread_cond_destroy(&a.cv);
    expect_scan(t.l, 0, 0, 5, seqs);
    expect_scan(t.l, 2, 2, 2, seqs); /* versions 3 and 4: the limit stops before the head */
    expect_scan(t.l, 4, 0, 1, seqs); /* the head alone */
    expect_scan(t.l, 5, 0, 0, seqs);
    uint64_t version;
    tl_error err;
    assert_int_equal(tl_ledger_stream_version(t.l, STREAM_C, strlen(STREAM_C), &version, &err), 0);
    assert_int_equal(version, 5);
    /* after a reopen the previous head comes from the store, not the sequencer's memory */
    tl_test_ledger_reopen(&t);
    expect_scan(t.l, 0, 0, 5, seqs);
    amend(&t, 5, seqs);
    expect_scan(t.l, 0, 0, 6, seqs);
    /* a head in the older form: read as it is, and the next version continues from it */
    tl_ledger_close(t.l);
    t.l = NULL;
    downgrade_head(t.dir, 6, seqs[5]);
    assert_int_equal(tl_ledger_open(&t.l, t.dir, NULL, &err), 0);
    expect_scan(t.l, 0, 0, 6, seqs);
    assert_int_equal(tl_ledger_stream_version(t.l, STREAM_C, strlen(STREAM_C), &version, &err), 0);
    assert_int_equal(version, 6);
    amend(&t, 6, seqs);
    amend(&t, 7, seqs);
    expect_scan(t.l, 0, 0, 8, seqs);
    expect_scan(t.l, 5, 0, 3, seqs);
    /* the contract itself still comes from 'C': a payment before it was signed is refused;
     * a cancellation moves it into the head, where a reopened ledger finds it */
    snprintf(json, sizeof json,
             "{\"type\":\"payment.received\",\"stream\":\"" STREAM_C "\",\"data\":{\"amount_fen\":5,"
             "\"received_on\":\"2001-01-01\"}}");
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), TL_ECONFLICT);
    assert_string_equal(res.err.rule, "date.order");
    snprintf(json, sizeof json,
             "{\"type\":\"contract.cancelled\",\"stream\":\"" STREAM_C "\",\"data\":{\"cancelled_on\":"
             "\"2019-07-01\",\"reason\":\"withdrawn\"}}");
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
    assert_int_equal(res.version, 9);
    tl_test_ledger_reopen(&t);
    snprintf(json, sizeof json,
             "{\"type\":\"payment.received\",\"stream\":\"" STREAM_C "\",\"data\":{\"amount_fen\":5,"
             "\"received_on\":\"2019-08-01\"}}");
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), TL_ESTATE);
    assert_string_equal(res.err.rule, "contract.cancelled");
    tl_test_ledger_destroy(&t);
}

/* The MANIFEST of dir/db (its name from CURRENT) into *m; returns its path (malloc'd). */
static char *read_manifest(const char *dir, tl_buf *m)
{
    char path[4096], name[256];
    snprintf(path, sizeof path, "%s/db/CURRENT", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(name, 1, sizeof name - 1, f);
    fclose(f);
    name[n] = '\0';
    name[strcspn(name, "\n")] = '\0';
    snprintf(path, sizeof path, "%s/db/%s", dir, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    tl_buf_init(m);
    uint8_t chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(tl_buf_append(m, chunk, n), 0);
    fclose(f);
    return strdup(path);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static int count_records(void *ctx, uint64_t seq, const uint8_t *rec, size_t len);

/* RocksDB takes a MANIFEST record whose length runs past the end for a torn last write and
 * silently drops it and every record after it, losing table files whose WAL is gone. The
 * ledger refuses such a MANIFEST (storage.corrupt), and still opens one that really ends in
 * a torn write. */
static void test_manifest_damage(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "manifest");
    char json[2048];
    tl_append_result res;
    for (int i = 0; i < 30; i++) {
        char reg[17];
        snprintf(reg, sizeof reg, "2023%012d", i);
        tl_test_contract_json(json, sizeof json, reg, 1000, 900, "2023-01-02");
        assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
        if (i == 14)
            tl_test_ledger_reopen(&t); /* the restart flushes: MANIFEST records for every family */
    }
    uint64_t size = tl_ledger_size(t.l);
    tl_ledger_close(t.l);
    t.l = NULL;
    tl_buf m;
    char *path = read_manifest(t.dir, &m);
    assert_true(m.len < 32768); /* one block: records follow each other from byte 0 */
    /* the headers of its records, in order */
    size_t at[256], n = 0;
    for (size_t off = 0; off + 7 <= m.len && n < 256; off += 7 + (m.data[off + 4] | m.data[off + 5] << 8))
        at[n++] = off;
    assert_true(n >= 4);
    tl_error err;
    /* a length byte of the last record but one (a flush: the files it added are in no other
     * record, and their WAL is gone) grown past the end of the file */
    uint8_t *damaged = malloc(m.len);
    assert_non_null(damaged);
    memcpy(damaged, m.data, m.len);
    damaged[at[n - 2] + 5] ^= 0x40;
    write_file(path, damaged, m.len);
    assert_int_equal(tl_ledger_open(&t.l, t.dir, NULL, &err), TL_ECORRUPT);
    assert_string_equal(err.rule, "storage.corrupt");
    assert_null(t.l);
    /* a torn write after the last record: opens and serves every record */
    memcpy(damaged, m.data, m.len);
    write_file(path, damaged, m.len);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("\x12\x34\x56", 1, 3, f), 3);
    fclose(f);
    assert_int_equal(tl_ledger_open(&t.l, t.dir, NULL, &err), 0);
    assert_int_equal(tl_ledger_size(t.l), size);
    uint64_t count = 0;
    assert_int_equal(tl_ledger_scan(t.l, 0, UINT64_MAX, count_records, &count, &err), 0);
    assert_int_equal(count, size);
    free(damaged);
    free(path);
    tl_buf_free(&m);
    tl_test_ledger_destroy(&t);
}

static void test_idempotency(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "idem");
    char json[2048];
    tl_test_contract_json(json, sizeof json, "2019110108000124", 5000, 5000, "2019-03-01");
    tl_buf env;
    tl_test_envelope(&env, &t.registry, json);
    tl_append_result a, b;
    assert_int_equal(tl_ledger_append(t.l, env.data, env.len, &a), 0);
    assert_int_equal(a.status, TL_APPEND_CREATED);
    assert_int_equal(tl_ledger_append(t.l, env.data, env.len, &b), 0);
    assert_int_equal(b.status, TL_APPEND_DUPLICATE);
    assert_int_equal(b.seq, a.seq);
    assert_int_equal(b.version, a.version);
    assert_int_equal(tl_ledger_size(t.l), a.seq + 1);
    /* the same id with a different body is refused */
    tl_event ev;
    tl_error err;
    assert_int_equal(tl_envelope_decode(&ev, env.data, env.len, &err), 0);
    char idhex[33], json2[2048];
    tl_hex_encode(idhex, ev.id, 16);
    tl_event_free(&ev);
    snprintf(json2, sizeof json2,
             "{\"id\":\"%s\",\"type\":\"contract.cancelled\",\"stream\":\"contract/2019110108000124\","
             "\"data\":{\"cancelled_on\":\"2019-04-01\",\"reason\":\"void\"}}",
             idhex);
    assert_int_equal(tl_test_append(t.l, &t.registry, json2, &b), TL_ECONFLICT);
    assert_string_equal(b.err.rule, "event.id_reused");
    assert_int_equal(tl_ledger_size(t.l), a.seq + 1);
    /* still idempotent after a restart */
    tl_test_ledger_reopen(&t);
    assert_int_equal(tl_ledger_append(t.l, env.data, env.len, &b), 0);
    assert_int_equal(b.status, TL_APPEND_DUPLICATE);
    assert_int_equal(b.seq, a.seq);
    tl_buf_free(&env);
    tl_test_ledger_destroy(&t);
}

static void test_signatures_and_keys(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "keys");
    char json[2048];
    tl_append_result res;
    tl_test_contract_json(json, sizeof json, "2019110108000125", 5000, 5000, "2019-03-01");
    /* a flipped signature bit */
    tl_buf env;
    tl_test_envelope(&env, &t.registry, json);
    env.data[env.len - 1] ^= 1;
    assert_int_equal(tl_ledger_append(t.l, env.data, env.len, &res), TL_ESIG);
    assert_string_equal(res.err.rule, "signature.invalid");
    tl_buf_free(&env);
    /* an unknown key */
    tl_keypair stranger;
    tl_keypair_generate(&stranger);
    assert_int_equal(tl_test_append(t.l, &stranger, json, &res), TL_EDENIED);
    assert_string_equal(res.err.rule, "auth.unknown_key");
    assert_string_equal(res.err.path, "key");
    /* the admin lacks the registry role */
    assert_int_equal(tl_test_append(t.l, &t.admin, json, &res), TL_EDENIED);
    assert_string_equal(res.err.rule, "auth.role");
    assert_int_equal(tl_ledger_size(t.l), 4);
    /* a revoked key can no longer write */
    char hex[65], rev[1024];
    tl_hex_encode(hex, t.registry.pk, 32);
    snprintf(rev, sizeof rev,
             "{\"type\":\"participant.key_revoked\",\"stream\":\"participant/registry-bj\",\"data\":{\"key\":\"%s\"}}",
             hex);
    assert_int_equal(tl_test_append(t.l, &t.admin, rev, &res), 0);
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), TL_EDENIED);
    assert_string_equal(res.err.rule, "auth.key_revoked");
    tl_test_ledger_destroy(&t);
}

static void test_reopen_keeps_everything(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "reopen");
    char json[2048];
    tl_append_result res;
    for (int i = 0; i < 37; i++) {
        char reg[17];
        snprintf(reg, sizeof reg, "2020%012d", i);
        tl_test_contract_json(json, sizeof json, reg, 1000 + (unsigned)i, 1000, "2020-01-02");
        assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
    }
    uint64_t size = tl_ledger_size(t.l);
    uint8_t root[32], root2[32];
    tl_error err;
    assert_int_equal(tl_ledger_root(t.l, size, root, &err), 0);
    tl_test_ledger_reopen(&t);
    assert_int_equal(tl_ledger_size(t.l), size);
    assert_int_equal(tl_ledger_root(t.l, size, root2, &err), 0);
    assert_memory_equal(root, root2, 32);
    /* close issued a checkpoint at the final size */
    tl_buf cp;
    tl_buf_init(&cp);
    uint64_t cp_size;
    assert_int_equal(tl_ledger_checkpoint_latest(t.l, &cp, &cp_size, &err), 0);
    assert_int_equal(cp_size, size);
    tl_buf_free(&cp);
    /* appends continue the tree: the root of the old size is unchanged */
    tl_test_contract_json(json, sizeof json, "2021000000000001", 1, 1, "2021-01-02");
    assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
    assert_int_equal(res.seq, size);
    assert_int_equal(tl_ledger_root(t.l, size, root2, &err), 0);
    assert_memory_equal(root, root2, 32);
    tl_test_ledger_destroy(&t);
}

/* Concurrent submitters: every event lands exactly once, seqs are dense, and commits are
 * shared (fewer fsyncs than events). */
typedef struct submitter {
    tl_test_ledger *t;
    int index;
    int count;
    int failures;
} submitter;

static void *submit_many(void *arg)
{
    submitter *s = arg;
    char json[2048];
    for (int i = 0; i < s->count; i++) {
        char reg[32];
        snprintf(reg, sizeof reg, "2022%04d%08d", s->index % 10000, i % 100000000);
        tl_test_contract_json(json, sizeof json, reg, 100, 50, "2022-06-01");
        tl_buf env;
        tl_test_envelope(&env, &s->t->registry, json);
        tl_append_result res;
        if (tl_ledger_append(s->t->l, env.data, env.len, &res) != 0)
            s->failures++;
        tl_buf_free(&env);
    }
    return NULL;
}

static int count_records(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    uint64_t *n = ctx;
    tl_record r;
    tl_error err;
    if (tl_record_decode(&r, rec, len, &err) != 0 || r.seq != seq)
        return -1;
    (*n)++;
    return 0;
}

static void test_concurrent_group_commit(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "concurrent");
    enum { THREADS = 8, EACH = 150 };
    pthread_t th[THREADS];
    submitter s[THREADS];
    tl_ledger_stats before;
    tl_ledger_get_stats(t.l, &before);
    for (int i = 0; i < THREADS; i++) {
        s[i] = (submitter){.t = &t, .index = i, .count = EACH};
        pthread_create(&th[i], NULL, submit_many, &s[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].failures, 0);
    }
    assert_int_equal(tl_ledger_size(t.l), 4 + THREADS * EACH);
    uint64_t n = 0;
    tl_error err;
    assert_int_equal(tl_ledger_scan(t.l, 0, UINT64_MAX, count_records, &n, &err), 0);
    assert_int_equal(n, 4 + THREADS * EACH);
    tl_ledger_stats after;
    tl_ledger_get_stats(t.l, &after);
    assert_int_equal(after.appended - before.appended, THREADS * EACH);
    assert_true(after.commits - before.commits < THREADS * EACH);
    tl_test_ledger_destroy(&t);
}

/* Announced events (tl_ledger_expect) share a group commit: the writer waits for them while
 * the group is not full, and only for them. The linger is set to a minute, so a writer that
 * waited when it should not, or was not woken when the announcement was taken back, keeps
 * the events unanswered far past the ten seconds each wait below allows. */
typedef struct answers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int answered, created;
} answers;

static void count_answer(void *ctx, const tl_append_result *res)
{
    answers *a = ctx;
    pthread_mutex_lock(&a->mu);
    a->answered++;
    a->created += res->status == TL_APPEND_CREATED;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* True when n answers arrived within 10 s. */
static bool answers_within(answers *a, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&a->mu);
    while (a->answered < n && pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0) {
    }
    bool ok = a->answered >= n;
    pthread_mutex_unlock(&a->mu);
    return ok;
}

static void submit_registrations(tl_test_ledger *t, int from, int n, answers *a)
{
    for (int i = from; i < from + n; i++) {
        char reg[32], json[2048];
        snprintf(reg, sizeof reg, "2023%012d", i);
        tl_test_contract_json(json, sizeof json, reg, 100, 50, "2023-03-01");
        tl_buf env;
        tl_test_envelope(&env, &t->registry, json);
        tl_event ev;
        tl_error err;
        assert_int_equal(tl_event_prepare(&ev, env.data, env.len, &err), 0);
        tl_buf_free(&env);
        assert_int_equal(tl_ledger_submit(t->l, &ev, count_answer, a, &err), 0);
    }
}

static void test_announced_events_share_a_commit(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "linger");
    tl_ledger_close(t.l);
    tl_ledger_options opt = {.mode = TL_OPEN_WRITE, .commit_linger_us = 60u * 1000000u};
    tl_error err;
    assert_int_equal(tl_ledger_open(&t.l, t.dir, &opt, &err), 0);
    answers a = {.answered = 0};
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);

    /* Nothing announced: a lone event is written at once. */
    tl_ledger_stats before, after;
    tl_ledger_get_stats(t.l, &before);
    submit_registrations(&t, 0, 1, &a);
    assert_true(answers_within(&a, 1));

    /* Twenty announced and submitted: one group, written when the announcement is taken back. */
    tl_ledger_get_stats(t.l, &before);
    tl_ledger_expect(t.l, 20);
    submit_registrations(&t, 1, 20, &a);
    tl_ledger_get_stats(t.l, &after);
    assert_int_equal(after.commits, before.commits); /* still lingering */
    tl_ledger_expect(t.l, -20);
    assert_true(answers_within(&a, 21));
    tl_ledger_get_stats(t.l, &after);
    assert_int_equal(after.commits - before.commits, 1);
    assert_int_equal(after.appended - before.appended, 20);

    /* A full group does not wait for the rest of the announcement. */
    tl_ledger_get_stats(t.l, &before);
    tl_ledger_expect(t.l, TL_COMMIT_FILL_EVENTS + 100);
    submit_registrations(&t, 21, TL_COMMIT_FILL_EVENTS, &a);
    assert_true(answers_within(&a, 21 + TL_COMMIT_FILL_EVENTS));
    tl_ledger_expect(t.l, -(long)(TL_COMMIT_FILL_EVENTS + 100));
    tl_ledger_get_stats(t.l, &after);
    assert_int_equal(after.appended - before.appended, TL_COMMIT_FILL_EVENTS);
    assert_int_equal(a.created, 21 + TL_COMMIT_FILL_EVENTS);
    assert_int_equal(tl_ledger_size(t.l), 4 + 21 + TL_COMMIT_FILL_EVENTS);
    pthread_cond_destroy(&a.cv);
    pthread_mutex_destroy(&a.mu);
    tl_test_ledger_destroy(&t);
}

/* Events that depend on each other, from many submitters at once: a group commit often holds
 * an event together with the one it depends on, or lands right behind it. Each submitter
 * queues, for each of its contracts and without waiting, the registration, an amendment
 * expecting version 1, the registration again (an idempotent resubmission) and an amendment
 * expecting version 2: wherever the group boundaries fall, each event must see the ones
 * queued before it. Half the submitters instead wait for each answer before sending the next
 * event, which puts the next event in the group right after its predecessor's. (Also the test
 * a pipelined sequencer, judging a group while the one before it is written, must pass.) */
enum { PIPE_THREADS = 8, PIPE_CONTRACTS = 40, PIPE_STEPS = 4 };

typedef struct pipe_slot {
    struct pipe_submitter *s;
    tl_append_result res;
} pipe_slot;

typedef struct pipe_submitter {
    tl_test_ledger *t;
    int index;
    bool wait_each;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int answered;
    pipe_slot slot[PIPE_CONTRACTS][PIPE_STEPS];
} pipe_submitter;

static void pipe_answer(void *ctx, const tl_append_result *res)
{
    pipe_slot *slot = ctx;
    pipe_submitter *s = slot->s;
    pthread_mutex_lock(&s->mu);
    slot->res = *res;
    s->answered++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void pipe_wait(pipe_submitter *s, int answered)
{
    pthread_mutex_lock(&s->mu);
    while (s->answered < answered)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static bool holds(const uint8_t *p, size_t n, const char *text)
{
    size_t k = strlen(text);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, text, k) == 0)
            return true;
    return false;
}

static void pipe_reg_no(char out[32], int thread, int contract)
{
    snprintf(out, 32, "2024%04d%08d", thread, contract);
}

static void *pipe_submit(void *arg)
{
    pipe_submitter *s = arg;
    int sent = 0;
    for (int c = 0; c < PIPE_CONTRACTS; c++) {
        char reg[32], registration[2048], json[2048];
        pipe_reg_no(reg, s->index, c);
        tl_test_contract_json(registration, sizeof registration, reg, 100, 50, "2024-01-02");
        tl_buf reg_env;
        tl_test_envelope(&reg_env, &s->t->registry, registration);
        for (int step = 0; step < PIPE_STEPS; step++) {
            tl_buf env;
            if (step == 0 || step == 2) { /* the same signed bytes, so the same event id */
                tl_buf_init(&env);
                assert_int_equal(tl_buf_append(&env, reg_env.data, reg_env.len), 0);
            } else {
                snprintf(json, sizeof json,
                         "{\"type\":\"contract.amended\",\"stream\":\"contract/%s\",\"expect\":%d,"
                         "\"data\":{\"total_fen\":%d,\"tech_fen\":50,\"amended_on\":\"2024-02-03\","
                         "\"reason\":\"scope extended\"}}",
                         reg, step == 1 ? 1 : 2, 200 + step);
                tl_test_envelope(&env, &s->t->registry, json);
            }
            tl_event ev;
            tl_error err;
            assert_int_equal(tl_event_prepare(&ev, env.data, env.len, &err), 0);
            tl_buf_free(&env);
            s->slot[c][step].s = s;
            assert_int_equal(tl_ledger_submit(s->t->l, &ev, pipe_answer, &s->slot[c][step], &err), 0);
            if (s->wait_each)
                pipe_wait(s, ++sent);
            else
                sent++;
        }
        tl_buf_free(&reg_env);
    }
    pipe_wait(s, sent);
    return NULL;
}

static void test_concurrent_dependent_events(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "pipeline");
    uint64_t start = tl_ledger_size(t.l);
    static pipe_submitter s[PIPE_THREADS];
    pthread_t th[PIPE_THREADS];
    tl_ledger_stats before, after;
    tl_ledger_get_stats(t.l, &before);
    for (int i = 0; i < PIPE_THREADS; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].t = &t;
        s[i].index = i;
        s[i].wait_each = i % 2 == 1;
        pthread_mutex_init(&s[i].mu, NULL);
        pthread_cond_init(&s[i].cv, NULL);
        pthread_create(&th[i], NULL, pipe_submit, &s[i]);
    }
    for (int i = 0; i < PIPE_THREADS; i++)
        pthread_join(th[i], NULL);
    tl_ledger_get_stats(t.l, &after);
    const uint64_t created = PIPE_THREADS * PIPE_CONTRACTS * 3;
    assert_int_equal(tl_ledger_size(t.l), start + created);
    assert_int_equal(after.appended - before.appended, created);
    assert_int_equal(after.duplicates - before.duplicates, PIPE_THREADS * PIPE_CONTRACTS);
    assert_true(after.commits - before.commits > 1);

    /* Every answer as expected, every seq distinct and every record what was answered. */
    uint8_t *seen = calloc(created, 1);
    assert_non_null(seen);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < PIPE_THREADS; i++) {
            for (int c = 0; c < PIPE_CONTRACTS; c++) {
                const tl_append_result *r;
                char stream[64], reg[32];
                pipe_reg_no(reg, i, c);
                snprintf(stream, sizeof stream, "contract/%s", reg);
                const int version_of[PIPE_STEPS] = {1, 2, 1, 3};
                for (int step = 0; step < PIPE_STEPS; step++) {
                    r = &s[i].slot[c][step].res;
                    if (pass == 0) {
                        assert_int_equal(r->status, step == 2 ? TL_APPEND_DUPLICATE : TL_APPEND_CREATED);
                        assert_int_equal(r->version, version_of[step]);
                        assert_string_equal(r->stream, stream);
                    }
                    if (step == 2) {
                        assert_int_equal(r->seq, s[i].slot[c][0].res.seq);
                        continue;
                    }
                    assert_true(r->seq >= start && r->seq < start + created);
                    if (pass == 0) {
                        assert_int_equal(seen[r->seq - start], 0);
                        seen[r->seq - start] = 1;
                    }
                    tl_buf rec;
                    tl_buf_init(&rec);
                    tl_error err;
                    tl_record d;
                    assert_int_equal(tl_ledger_read(t.l, r->seq, &rec, &err), 0);
                    assert_int_equal(tl_record_decode(&d, rec.data, rec.len, &err), 0);
                    assert_int_equal(d.version, (uint64_t)version_of[step]);
                    assert_true(holds(d.body, d.body_len, stream));
                    tl_buf_free(&rec);
                }
                uint64_t version;
                tl_error err;
                assert_int_equal(tl_ledger_stream_version(t.l, stream, strlen(stream), &version, &err), 0);
                assert_int_equal(version, 3);
            }
        }
        if (pass == 0)
            tl_test_ledger_reopen(&t); /* the same after a reopen: the state went to disk as judged */
    }
    free(seen);
    for (int i = 0; i < PIPE_THREADS; i++) {
        pthread_mutex_destroy(&s[i].mu);
        pthread_cond_destroy(&s[i].cv);
    }
    tl_test_ledger_destroy(&t);
}

static void test_submission_split(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "split");
    char json[2048];
    tl_buf a, b, batch;
    tl_test_contract_json(json, sizeof json, "2023000000000001", 10, 10, "2023-01-01");
    tl_test_envelope(&a, &t.registry, json);
    tl_test_contract_json(json, sizeof json, "2023000000000002", 10, 10, "2023-01-01");
    tl_test_envelope(&b, &t.registry, json);
    tl_buf_init(&batch);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &batch);
    tl_mp_array(&w, 2);
    assert_int_equal(tl_buf_append(&batch, a.data, a.len), 0);
    assert_int_equal(tl_buf_append(&batch, b.data, b.len), 0);
    tl_span *spans;
    size_t n;
    bool is_batch;
    tl_error err;
    assert_int_equal(tl_submission_split(&spans, &n, &is_batch, batch.data, batch.len, &err), 0);
    assert_true(is_batch);
    assert_int_equal(n, 2);
    assert_int_equal(spans[1].len, b.len);
    assert_memory_equal(spans[1].ptr, b.data, b.len);
    free(spans);
    assert_int_equal(tl_submission_split(&spans, &n, &is_batch, a.data, a.len, &err), 0);
    assert_false(is_batch);
    assert_int_equal(n, 1);
    free(spans);
    /* truncated and empty submissions are refused with a rule */
    assert_int_equal(tl_submission_split(&spans, &n, &is_batch, a.data, a.len - 1, &err), TL_EINVAL);
    assert_string_equal(err.rule, "canonical.truncated");
    const uint8_t empty[] = {0x90};
    assert_int_equal(tl_submission_split(&spans, &n, &is_batch, empty, 1, &err), TL_EINVAL);
    assert_string_equal(err.rule, "envelope.shape");
    tl_buf_free(&a);
    tl_buf_free(&b);
    tl_buf_free(&batch);
    tl_test_ledger_destroy(&t);
}

/* Proofs served from the store (nodes of 16+ leaves stored, smaller subtrees recomputed from
 * records) verify for every leaf and size, and against a root computed naively here. */
static void naive_root(uint8_t out[32], uint8_t (*leaves)[32], uint64_t n)
{
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[32], r[32];
    naive_root(l, leaves, k);
    naive_root(r, leaves + k, n - k);
    tl_node_hash(out, l, r);
}

static void test_proofs_from_store(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "proofs");
    char json[2048];
    tl_append_result res;
    for (int i = 0; i < 45; i++) {
        char reg[17];
        snprintf(reg, sizeof reg, "2024%012d", i);
        tl_test_contract_json(json, sizeof json, reg, 7, 7, "2024-02-02");
        assert_int_equal(tl_test_append(t.l, &t.registry, json, &res), 0);
    }
    uint64_t n = tl_ledger_size(t.l);
    uint8_t(*leaves)[32] = calloc(n, 32);
    tl_buf rec;
    tl_buf_init(&rec);
    tl_error err;
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(tl_ledger_read(t.l, i, &rec, &err), 0);
        tl_leaf_hash(leaves[i], rec.data, rec.len);
    }
    tl_merkle_proof proof;
    for (uint64_t size = 1; size <= n; size++) {
        uint8_t root[32], want[32];
        assert_int_equal(tl_ledger_root(t.l, size, root, &err), 0);
        naive_root(want, leaves, size);
        assert_memory_equal(root, want, 32);
        for (uint64_t i = 0; i < size; i++) {
            assert_int_equal(tl_ledger_inclusion_proof(t.l, i, size, &proof, &err), 0);
            assert_int_equal(tl_merkle_verify_inclusion(leaves[i], i, size, &proof, root, &err), 0);
        }
        for (uint64_t from = 1; from <= size; from++) {
            uint8_t from_root[32];
            naive_root(from_root, leaves, from);
            assert_int_equal(tl_ledger_consistency_proof(t.l, from, size, &proof, &err), 0);
            assert_int_equal(tl_merkle_verify_consistency(from, size, &proof, from_root, root, &err), 0);
        }
    }
    /* sizes beyond the log are refused */
    assert_int_equal(tl_ledger_inclusion_proof(t.l, 0, n + 1, &proof, &err), TL_EINVAL);
    assert_string_equal(err.rule, "proof.size");
    tl_buf_free(&rec);
    free(leaves);
    tl_test_ledger_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genesis),
        cmocka_unit_test(test_streams_and_expect),
        cmocka_unit_test(test_stream_scan_versions),
        cmocka_unit_test(test_manifest_damage),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_signatures_and_keys),
        cmocka_unit_test(test_reopen_keeps_everything),
        cmocka_unit_test(test_concurrent_group_commit),
        cmocka_unit_test(test_announced_events_share_a_commit),
        cmocka_unit_test(test_concurrent_dependent_events),
        cmocka_unit_test(test_submission_split),
        cmocka_unit_test(test_proofs_from_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
