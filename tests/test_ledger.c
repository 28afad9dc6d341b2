/* The ledger core: genesis, appends, stream versions, expect, idempotency, keys, reopen,
 * concurrent submitters sharing group commits. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tl_checkpoint.h"
#include "tl_note.h"

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
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_signatures_and_keys),
        cmocka_unit_test(test_reopen_keeps_everything),
        cmocka_unit_test(test_concurrent_group_commit),
        cmocka_unit_test(test_submission_split),
        cmocka_unit_test(test_proofs_from_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
