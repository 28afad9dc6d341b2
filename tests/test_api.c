/* The HTTP API, end to end: a real server on a loopback port over a real ledger; every route,
 * every class of bad input (each a 4xx JSON error naming its rule, with the log unchanged),
 * access levels, concurrency and batches that span several worker chunks. */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_internal.h" /* the loops' connection counts, for test_loops_share_connections */
#include "tl_checkpoint.h"
#include "tl_note.h"
#include "tl_web_assets.h"

static th_server S;

static int setup(void **state)
{
    (void)state;
    th_start(&S, "api");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_stop(&S);
    return 0;
}

static char *reg_no_for(char out[17], int n)
{
    snprintf(out, 17, "2019%012d", n);
    return out;
}

/* POSTs a contract registration; returns its seq. */
static uint64_t post_contract(int n, unsigned long long total)
{
    char json[2048], reg[17];
    tl_test_contract_json(json, sizeof json, reg_no_for(reg, n), total, total / 2, "2019-05-06");
    tl_buf env;
    th_envelope(&env, &S.t.registry, json);
    th_resp r;
    th_post(S.port, env.data, env.len, &r);
    if (r.status != 201)
        fail_msg("expected 201, got %d: %s", r.status, r.body);
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(r.json, "seq"));
    th_resp_free(&r);
    tl_buf_free(&env);
    return seq;
}

static void b64_decode32(uint8_t out[32], const char *b64)
{
    size_t n;
    assert_non_null(b64);
    assert_int_equal(tl_base64_decode(out, 32, &n, b64, strlen(b64)), 0);
    assert_int_equal(n, 32);
}

static void test_submit_single_and_duplicate(void **state)
{
    (void)state;
    char json[2048];
    tl_test_contract_json(json, sizeof json, "2019110108000123", 100000000, 80000000, "2019-03-01");
    tl_buf env;
    th_envelope(&env, &S.t.registry, json);
    uint64_t before = tl_ledger_size(S.t.l);
    th_resp r;
    th_post(S.port, env.data, env.len, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(json_integer_value(json_object_get(r.json, "seq")), before);
    assert_string_equal(json_string_value(json_object_get(r.json, "stream")), "contract/2019110108000123");
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 1);
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), before + 1); /* durable before the reply */
    /* the same signed event again: 200, same seq, nothing appended */
    th_post(S.port, env.data, env.len, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "seq")), before);
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), before + 1);
    tl_buf_free(&env);
}

static void test_read_record_and_proofs(void **state)
{
    (void)state;
    uint64_t seq = post_contract(1, 5000);
    post_contract(2, 6000);
    uint64_t size = tl_ledger_size(S.t.l);
    char path[128];
    snprintf(path, sizeof path, "/v1/events/%llu?proof=%llu", (unsigned long long)seq, (unsigned long long)size);
    th_resp r;
    th_get(S.port, path, &r);
    assert_int_equal(r.status, 200);
    json_t *j = r.json;
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), seq);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "contract.registered");
    assert_string_equal(json_string_value(json_object_get(j, "stream")), "contract/2019000000000001");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(j, "event"), "data"),
                                                        "total_fen")),
                     5000);
    /* "record" is the stored bytes; its leaf hash is the proof's leaf */
    const char *rec64 = json_string_value(json_object_get(j, "record"));
    uint8_t rec[4096];
    size_t rec_len;
    assert_int_equal(tl_base64_decode(rec, sizeof rec, &rec_len, rec64, strlen(rec64)), 0);
    tl_buf stored;
    tl_buf_init(&stored);
    tl_error err;
    assert_int_equal(tl_ledger_read(S.t.l, seq, &stored, &err), 0);
    assert_int_equal(stored.len, rec_len);
    assert_memory_equal(stored.data, rec, rec_len);
    tl_buf_free(&stored);
    uint8_t leaf[32], leaf2[32], root[32];
    tl_leaf_hash(leaf, rec, rec_len);
    json_t *proof = json_object_get(j, "proof");
    assert_int_equal(json_integer_value(json_object_get(proof, "tree_size")), size);
    b64_decode32(leaf2, json_string_value(json_object_get(proof, "leaf_hash")));
    assert_memory_equal(leaf, leaf2, 32);
    tl_merkle_proof p = {0};
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(proof, "hashes"), i, h) b64_decode32(p.hashes[p.n++], json_string_value(h));
    assert_int_equal(tl_ledger_root(S.t.l, size, root, &err), 0);
    assert_int_equal(tl_merkle_verify_inclusion(leaf, seq, size, &p, root, &err), 0);
    th_resp_free(&r);

    /* the checkpoint, exactly as signed, verifies against the ledger's key */
    assert_int_equal(tl_ledger_checkpoint_now(S.t.l, &err), 0);
    th_get(S.port, "/v1/checkpoint", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");
    char vkey[512];
    assert_int_equal(tl_ledger_vkey(S.t.l, vkey, sizeof vkey), 0);
    tl_note_verifier v;
    assert_int_equal(tl_note_vkey_parse(&v, vkey, strlen(vkey), &err), 0);
    tl_checkpoint cp;
    assert_int_equal(tl_checkpoint_open(&cp, r.body, r.len, &v, &err), 0);
    assert_int_equal(cp.size, size);
    th_resp_free(&r);
    snprintf(path, sizeof path, "/v1/checkpoint?size=%llu", (unsigned long long)size);
    th_get(S.port, path, &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);

    /* consistency between an old tree and this one */
    uint8_t old_root[32];
    assert_int_equal(tl_ledger_root(S.t.l, 2, old_root, &err), 0);
    snprintf(path, sizeof path, "/v1/proofs/consistency?from=2&to=%llu", (unsigned long long)size);
    th_get(S.port, path, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "from")), 2);
    tl_merkle_proof c = {0};
    json_array_foreach(json_object_get(r.json, "hashes"), i, h) b64_decode32(c.hashes[c.n++], json_string_value(h));
    assert_int_equal(tl_merkle_verify_consistency(2, size, &c, old_root, root, &err), 0);
    th_resp_free(&r);
}

static void test_lists_and_streams(void **state)
{
    (void)state;
    uint64_t first = post_contract(10, 100);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"type\":\"contract.amended\",\"stream\":\"contract/2019000000000010\",\"data\":{\"total_fen\":200,"
             "\"tech_fen\":100,\"amended_on\":\"2019-06-01\",\"reason\":\"scope\"}}");
    tl_buf env;
    th_envelope(&env, &S.t.registry, json);
    th_resp r;
    th_post(S.port, env.data, env.len, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 2);
    th_resp_free(&r);
    tl_buf_free(&env);

    th_get(S.port, "/v1/streams/contract/2019000000000010", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 2);
    json_t *events = json_object_get(r.json, "events");
    assert_int_equal(json_array_size(events), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(events, 0), "seq")), first);
    assert_string_equal(json_string_value(json_object_get(json_array_get(events, 1), "type")), "contract.amended");
    th_resp_free(&r);
    /* paging by version; a percent-encoded '/' means the same stream */
    th_get(S.port, "/v1/streams/contract%2F2019000000000010?after=1&limit=5", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "events")), 1);
    assert_false(json_is_true(json_object_get(r.json, "more")));
    th_resp_free(&r);

    /* the log in pages */
    uint64_t size = tl_ledger_size(S.t.l);
    th_get(S.port, "/v1/events?limit=2", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "events")), 2);
    assert_int_equal(json_integer_value(json_object_get(r.json, "next")), 1);
    assert_true(json_is_true(json_object_get(r.json, "more")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "size")), size);
    th_resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/v1/events?after=%llu", (unsigned long long)(size - 2));
    th_get(S.port, path, &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "events")), 1);
    assert_false(json_is_true(json_object_get(r.json, "more")));
    th_resp_free(&r);
    snprintf(path, sizeof path, "/v1/events?after=%llu", (unsigned long long)(size + 5));
    th_get(S.port, path, &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "events")), 0);
    assert_true(json_is_null(json_object_get(r.json, "next")));
    th_resp_free(&r);
}

static void test_batch_results_in_order(void **state)
{
    (void)state;
    char json[2048];
    tl_buf envs[4];
    /* [register, bad signature, amend the first (depends on it), a stranger's key] */
    tl_test_contract_json(json, sizeof json, "2019000000000020", 1000, 500, "2019-05-06");
    th_envelope(&envs[0], &S.t.registry, json);
    tl_test_contract_json(json, sizeof json, "2019000000000021", 1000, 500, "2019-05-06");
    th_envelope(&envs[1], &S.t.registry, json);
    envs[1].data[envs[1].len - 1] ^= 1;
    th_envelope(&envs[2], &S.t.registry,
                "{\"type\":\"contract.amended\",\"stream\":\"contract/2019000000000020\",\"data\":{\"total_fen\":900,"
                "\"tech_fen\":400,\"amended_on\":\"2019-06-01\",\"reason\":\"less\"}}");
    tl_keypair stranger;
    tl_keypair_generate(&stranger);
    tl_test_contract_json(json, sizeof json, "2019000000000022", 1000, 500, "2019-05-06");
    th_envelope(&envs[3], &stranger, json);
    tl_buf batch;
    th_batch(&batch, envs, 4);
    uint64_t before = tl_ledger_size(S.t.l);
    th_resp r;
    th_post(S.port, batch.data, batch.len, &r);
    assert_int_equal(r.status, 200);
    json_t *res = json_object_get(r.json, "results");
    assert_int_equal(json_array_size(res), 4);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 0), "status")), 201);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 0), "seq")), before);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 1), "status")), 400);
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 1), "error")), "signature.invalid");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 2), "status")), 201);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 2), "version")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(res, 3), "status")), 403);
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 3), "error")), "auth.unknown_key");
    assert_string_equal(json_string_value(json_object_get(json_array_get(res, 3), "path")), "key");
    assert_int_equal(json_integer_value(json_object_get(r.json, "created")), 2);
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), before + 2);
    for (int i = 0; i < 4; i++)
        tl_buf_free(&envs[i]);
    tl_buf_free(&batch);
}

/* A batch of many chunks: registrations each followed by their amendment, so any reordering
 * between chunks verified on different workers would reject an amendment. */
static void test_large_batch_keeps_order(void **state)
{
    (void)state;
    enum { PAIRS = 300 };
    tl_buf *envs = calloc(2 * PAIRS, sizeof *envs);
    assert_non_null(envs);
    char json[2048], reg[17];
    for (int i = 0; i < PAIRS; i++) {
        snprintf(reg, sizeof reg, "2020%012d", i);
        tl_test_contract_json(json, sizeof json, reg, 1000, 500, "2020-05-06");
        th_envelope(&envs[2 * i], &S.t.registry, json);
        snprintf(json, sizeof json,
                 "{\"type\":\"contract.amended\",\"stream\":\"contract/%s\",\"expect\":1,\"data\":{\"total_fen\":900,"
                 "\"tech_fen\":400,\"amended_on\":\"2020-06-01\",\"reason\":\"less\"}}",
                 reg);
        th_envelope(&envs[2 * i + 1], &S.t.registry, json);
    }
    tl_buf batch;
    th_batch(&batch, envs, 2 * PAIRS);
    uint64_t before = tl_ledger_size(S.t.l);
    th_resp r;
    th_post(S.port, batch.data, batch.len, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "created")), 2 * PAIRS);
    json_t *res = json_object_get(r.json, "results");
    for (size_t i = 0; i < 2 * PAIRS; i++) {
        json_t *one = json_array_get(res, i);
        assert_int_equal(json_integer_value(json_object_get(one, "seq")), before + i);
        assert_int_equal(json_integer_value(json_object_get(one, "version")), 1 + i % 2);
        /* Each result names its own event's stream (read from the request body in place). */
        snprintf(reg, sizeof reg, "2020%012zu", i / 2);
        char stream[64];
        snprintf(stream, sizeof stream, "contract/%s", reg);
        assert_string_equal(json_string_value(json_object_get(one, "stream")), stream);
    }
    th_resp_free(&r);
    for (int i = 0; i < 2 * PAIRS; i++)
        tl_buf_free(&envs[i]);
    free(envs);
    tl_buf_free(&batch);
}

/* A contract naming many achievements: its body has more MessagePack nodes than the ingest
 * path's per-event node arena holds, so its parse allocates its own; it is answered like any
 * other (here rejected by the sequencer, which then frees those nodes: the achievements do
 * not exist), and the events after it in the same
 * chunk still share the arena correctly. Then the same alone, on the loop thread's path. */
static void big_contract_json(char *out, size_t cap, const char *reg)
{
    size_t n = (size_t)snprintf(out, cap,
                                "{\"type\":\"contract.registered\",\"stream\":\"contract/%s\",\"data\":{"
                                "\"achievements\":[",
                                reg);
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s\"ach-%02d\"", i ? "," : "", i);
    snprintf(out + n, cap - n,
             "],\"reg_no\":\"%s\",\"class\":\"transfer\",\"subtype\":\"patent\",\"seller\":\"tsinghua\","
             "\"buyer\":\"acme\",\"seller_region\":\"110108\",\"buyer_region\":\"310000\","
             "\"field\":\"electronic_information\",\"signed_on\":\"2021-05-06\",\"registered_on\":\"2021-05-06\","
             "\"total_fen\":1000,\"tech_fen\":500}}",
             reg);
}

static void test_bodies_beyond_the_node_arena(void **state)
{
    (void)state;
    enum { N = 8 };
    tl_buf envs[N];
    char json[4096], reg[17];
    for (int i = 0; i < N; i++) {
        snprintf(reg, sizeof reg, "2022%012d", i);
        if (i == 2)
            big_contract_json(json, sizeof json, reg);
        else
            tl_test_contract_json(json, sizeof json, reg, 1000, 500, "2021-05-06");
        th_envelope(&envs[i], &S.t.registry, json);
    }
    tl_buf batch;
    th_batch(&batch, envs, N);
    uint64_t before = tl_ledger_size(S.t.l);
    th_resp r;
    th_post(S.port, batch.data, batch.len, &r);
    assert_int_equal(r.status, 200);
    json_t *res = json_object_get(r.json, "results");
    assert_int_equal(json_array_size(res), N);
    uint64_t seq = before;
    for (size_t i = 0; i < N; i++) {
        json_t *one = json_array_get(res, i);
        if (i == 2) {
            assert_int_equal(json_integer_value(json_object_get(one, "status")), 422);
            assert_string_equal(json_string_value(json_object_get(one, "error")), "ref.unknown");
            continue;
        }
        snprintf(reg, sizeof reg, "2022%012zu", i);
        char stream[64];
        snprintf(stream, sizeof stream, "contract/%s", reg);
        assert_int_equal(json_integer_value(json_object_get(one, "status")), 201);
        assert_int_equal(json_integer_value(json_object_get(one, "seq")), seq++);
        assert_string_equal(json_string_value(json_object_get(one, "stream")), stream);
    }
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), before + N - 1);

    th_post(S.port, envs[2].data, envs[2].len, &r); /* alone: prepared on the loop thread */
    assert_int_equal(r.status, 422);
    assert_string_equal(json_string_value(json_object_get(r.json, "error")), "ref.unknown");
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), before + N - 1);
    for (int i = 0; i < N; i++)
        tl_buf_free(&envs[i]);
    tl_buf_free(&batch);
}

/* ---------- bad input: a 4xx JSON error naming the rule, and nothing written ---------- */

static void expect_rejected_post(const void *body, size_t len, int status, const char *rule, const char *path)
{
    uint64_t before = tl_ledger_size(S.t.l);
    th_resp r;
    th_post(S.port, body, len, &r);
    th_assert_error(&r, status, rule, path);
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), before);
}

/* A body whose `expect` is 0 written as uint8 (cc 00): signed correctly, but not canonical. */
static void noncanonical_envelope(tl_buf *env)
{
    char json[2048];
    tl_test_contract_json(json, sizeof json, "2019000000000030", 1000, 500, "2019-05-06");
    json_error_t jerr;
    json_t *ev = json_loads(json, 0, &jerr);
    tl_buf data, body;
    tl_buf_init(&data);
    tl_buf_init(&body);
    tl_error err;
    assert_int_equal(tl_json_event_data(&data, "contract.registered", json_object_get(ev, "data"), &err), 0);
    json_decref(ev);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &body);
    tl_mp_map(&w, 6);
    tl_mp_key(&w, "data");
    assert_int_equal(tl_buf_append(&body, data.data, data.len), 0);
    tl_mp_key(&w, "expect");
    assert_int_equal(tl_buf_append(&body, "\xcc\x00", 2), 0);
    tl_mp_key(&w, "id");
    uint8_t id[16];
    tl_random_bytes(id, 16);
    tl_mp_bin(&w, id, 16);
    tl_mp_key(&w, "stream");
    tl_mp_str(&w, "contract/2019000000000030");
    tl_mp_key(&w, "time");
    tl_mp_uint(&w, 1700000000000ull);
    tl_mp_key(&w, "type");
    tl_mp_str(&w, "contract.registered");
    uint8_t sig[64];
    tl_event_sign(sig, body.data, body.len, &S.t.registry);
    tl_buf_init(env);
    assert_int_equal(tl_envelope_wrap(env, body.data, body.len, S.t.registry.pk, sig), 0);
    tl_buf_free(&data);
    tl_buf_free(&body);
}

static void test_bad_submissions(void **state)
{
    (void)state;
    char json[2048];
    tl_test_contract_json(json, sizeof json, "2019000000000031", 1000, 500, "2019-05-06");
    tl_buf env;
    th_envelope(&env, &S.t.registry, json);
    uint64_t before = tl_ledger_size(S.t.l);

    expect_rejected_post(env.data, env.len - 1, 400, "canonical.truncated", NULL);
    expect_rejected_post("\xdd\x04\x00\x00\x00", 5, 400, "canonical.truncated", NULL);
    expect_rejected_post("\xc1", 1, 400, "canonical.invalid_byte", NULL);
    expect_rejected_post("\x90", 1, 400, "envelope.shape", NULL);
    tl_buf nc;
    noncanonical_envelope(&nc);
    expect_rejected_post(nc.data, nc.len, 400, "canonical.shortest", "expect");
    tl_buf_free(&nc);
    /* trailing bytes after the envelope */
    tl_buf extra;
    tl_buf_init(&extra);
    assert_int_equal(tl_buf_append(&extra, env.data, env.len), 0);
    assert_int_equal(tl_buf_append(&extra, "\x00", 1), 0);
    expect_rejected_post(extra.data, extra.len, 400, "canonical.trailing_bytes", NULL);
    tl_buf_free(&extra);
    /* a flipped signature bit */
    env.data[env.len - 1] ^= 1;
    expect_rejected_post(env.data, env.len, 400, "signature.invalid", NULL);
    env.data[env.len - 1] ^= 1;
    tl_buf_free(&env);
    /* an unknown key, and a key without the role */
    tl_keypair stranger;
    tl_keypair_generate(&stranger);
    th_envelope(&env, &stranger, json);
    expect_rejected_post(env.data, env.len, 403, "auth.unknown_key", "key");
    tl_buf_free(&env);
    th_envelope(&env, &S.t.admin, json);
    expect_rejected_post(env.data, env.len, 403, "auth.role", NULL);
    tl_buf_free(&env);
    /* an unknown field in the data */
    char *bogus = strstr(json, "\"total_fen\"");
    assert_non_null(bogus);
    char json2[2200];
    snprintf(json2, sizeof json2, "%.*s\"bogus\":1,%s", (int)(bogus - json), json, bogus);
    th_envelope(&env, &S.t.registry, json2);
    expect_rejected_post(env.data, env.len, 400, "schema.unknown_field", "data.bogus");
    tl_buf_free(&env);
    /* a reference to nothing in the log */
    char *seller = strstr(json, "\"tsinghua\"");
    snprintf(json2, sizeof json2, "%.*s\"nobody\"%s", (int)(seller - json), json, seller + 10);
    th_envelope(&env, &S.t.registry, json2);
    uint64_t b2 = tl_ledger_size(S.t.l);
    th_resp r;
    th_post(S.port, env.data, env.len, &r);
    assert_true(r.status == 422 || r.status == 409 || r.status == 400);
    assert_string_equal(json_string_value(json_object_get(r.json, "path")), "data.seller");
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), b2);
    tl_buf_free(&env);

    /* the request itself: too large, wrong content type, query on POST, empty */
    size_t big = TL_API_BODY_BYTES_MAX + 1;
    uint8_t *huge = calloc(1, big);
    assert_non_null(huge);
    huge[0] = 0xc6; /* bin32 announcing more than is sent */
    expect_rejected_post(huge, big, 413, "request.too_large", "body");
    free(huge);
    static const char *const text[] = {"Content-Type: text/plain", NULL};
    th_request(S.port, "POST", "/v1/events", text, "x", 1, &r);
    th_assert_error(&r, 415, "request.content_type", "Content-Type");
    th_resp_free(&r);
    static const char *const mp[] = {"Content-Type: application/msgpack", NULL};
    th_request(S.port, "POST", "/v1/events?x=1", mp, "\x90", 1, &r);
    th_assert_error(&r, 400, "query.unknown", NULL);
    th_resp_free(&r);
    expect_rejected_post("", 0, 400, "request.empty", "body");
    assert_int_equal(tl_ledger_size(S.t.l), before);
}

/* A request evhttp refuses before the server's handler runs gets the API's JSON error all
 * the same (server.c replaces evhttp_send_error): in HTTP/1.x, with its length, and closing
 * the connection. */
static void expect_refusal(const char *out, int status, int want_status, const char *rule)
{
    char want[64];
    snprintf(want, sizeof want, "\"error\":\"%s\"", rule);
    if (status != want_status || strncmp(out, "HTTP/1.", 7) != 0 || strstr(out, "Content-Type: application/json") == NULL ||
        strstr(out, "Connection: close") == NULL || strstr(out, "Content-Length: ") == NULL ||
        strstr(out, want) == NULL)
        fail_msg("expected %d %s, got: %.400s", want_status, rule, out);
}

static void test_body_beyond_backstop(void **state)
{
    (void)state;
    /* evhttp itself refuses bodies beyond its backstop (reading them to the end first, so the
     * client sees the 413); the server survives and nothing changes */
    uint64_t before = tl_ledger_size(S.t.l);
    size_t body = 2u << 20;
    char head[256];
    int n = snprintf(head, sizeof head,
                     "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     body);
    char *req = calloc(1, (size_t)n + body);
    assert_non_null(req);
    memcpy(req, head, (size_t)n);
    int status;
    char *out = th_raw(S.port, req, (size_t)n + body, 5000, &status);
    expect_refusal(out, status, 413, "request.too_large");
    free(out);
    free(req);
    /* garbage instead of HTTP */
    out = th_raw(S.port, "\x16\x03\x01garbage\r\n\r\n", 14, 3000, &status);
    expect_refusal(out, status, 400, "request.malformed");
    free(out);
    /* a request line evhttp cannot parse, in a version it would have echoed */
    static const char bad_line[] = "GET  HTTP/0.9\r\n\r\n";
    out = th_raw(S.port, bad_line, sizeof bad_line - 1, 3000, &status);
    expect_refusal(out, status, 400, "request.malformed");
    free(out);
    /* a method evhttp does not know */
    static const char method[] = "BREW /healthz HTTP/1.0\r\n\r\n";
    out = th_raw(S.port, method, sizeof method - 1, 3000, &status);
    expect_refusal(out, status, 501, "request.method");
    free(out);
    /* ... and is logged and counted like any reply (only evhttp's refusals are 501s) */
    bool logged = false;
    for (int tries = 0; tries < 100 && !logged; tries++) {
        uint8_t *log;
        size_t len;
        tl_error err;
        assert_int_equal(tl_file_read(S.log_path, 64u << 20, &log, &len, &err), 0);
        logged = strstr((char *)log, ",\"status\":501,") != NULL;
        free(log);
        if (!logged)
            usleep(50000);
    }
    assert_true(logged);
    th_resp m;
    th_get(S.port, "/metrics", &m);
    assert_non_null(strstr(m.body, "techledger_http_requests_total{route=\"unknown\",status=\"501\"} 1\n"));
    th_resp_free(&m);
    /* headers beyond the limit */
    size_t hl = TL_API_HEADERS_BYTES_MAX + 100;
    char *big = malloc(hl + 64);
    n = snprintf(big, hl + 64, "GET /healthz HTTP/1.1\r\nX-Big: ");
    memset(big + n, 'a', hl);
    memcpy(big + n + hl, "\r\n\r\n", 4);
    out = th_raw(S.port, big, (size_t)n + hl + 4, 3000, &status);
    if (status == 413) /* evhttp 2.1 says 400 when the limit falls inside a header line */
        expect_refusal(out, status, 413, "request.too_large");
    else
        expect_refusal(out, status, 400, "request.malformed");
    free(out);
    free(big);
    th_resp r;
    th_get(S.port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), before);
}

/* Found by fuzz_http (fuzz/fuzz.h lists the seeds that guard them too). */
static void test_http_versions(void **state)
{
    (void)state;
    /* evhttp answered in whatever version the request line claimed ("HTTP/0.1 200 OK", with
     * a body no client of it could delimit); now a later 1.x is served as 1.1 and anything
     * else is refused in HTTP/1.0 */
    int status;
    static const char later[] = "GET /healthz HTTP/1.7\r\nConnection: close\r\n\r\n";
    char *out = th_raw(S.port, later, sizeof later - 1, 5000, &status);
    assert_int_equal(strncmp(out, "HTTP/1.1 200 ", 13), 0);
    free(out);
    static const char *const bad[] = {"GET /healthz HTTP/0.1\r\n\r\n", "GET /healthz HTTP/1.-1\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = th_raw(S.port, bad[i], strlen(bad[i]), 5000, &status);
        if (strncmp(out, "HTTP/1.0 400 ", 13) != 0 || strstr(out, "\"error\":\"request.version\"") == NULL)
            fail_msg("%s: %s", bad[i], out);
        free(out);
    }
}

static void test_head_has_no_body(void **state)
{
    (void)state;
    /* evhttp sent a GET's body after a reply to HEAD, without a length: the second reply on
     * the connection could not be found */
    static const char req[] = "HEAD /healthz HTTP/1.1\r\n\r\nGET /v1/nope HTTP/1.1\r\nConnection: close\r\n\r\n";
    int status;
    char *out = th_raw(S.port, req, sizeof req - 1, 5000, &status);
    assert_int_equal(status, 200);
    char *end = strstr(out, "\r\n\r\n");
    assert_non_null(end);
    assert_non_null(strstr(out, "Content-Length: ")); /* what a GET would carry */
    if (strncmp(end + 4, "HTTP/1.1 404 ", 13) != 0)
        fail_msg("the reply to HEAD is not followed by the next reply: %s", out);
    free(out);
}

/* Sends req, half-closes, and returns everything read until the server closes (at most 5 s). */
static char *half_closed(const char *req, size_t *len)
{
    return th_raw_half_closed(S.port, req, strlen(req), 5000, len);
}

static void test_half_close_keeps_replies(void **state)
{
    (void)state;
    /* evhttp took a client's half-close after its request for a close, and dropped what it
     * had not written yet: every reply beyond 16 KiB came cut, and a deferred one (a view
     * rendered off the loop) not at all */
    const tl_web_asset *big = &tl_web_assets[0];
    for (size_t i = 1; i < tl_web_assets_count; i++)
        if (tl_web_assets[i].len > big->len)
            big = &tl_web_assets[i];
    assert_true(big->len > 16384);
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", big->path);
    size_t len;
    char *out = half_closed(req, &len);
    char *body = strstr(out, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    assert_int_equal(len - (size_t)(body - out), big->len);
    assert_memory_equal(body, big->data, big->len);
    free(out);
    out = half_closed("GET /v1/views/turnover?by=seller_kind,field&year=2019 HTTP/1.1\r\nHost: x\r\n\r\n", &len);
    if (strncmp(out, "HTTP/1.1 200 ", 13) != 0)
        fail_msg("a half-closed view request got: %s", out);
    free(out);
}

static void test_error_json_is_utf8(void **state)
{
    (void)state;
    /* the path a 404 names came back byte for byte, and "/v1/\xe8" is no UTF-8, so the
     * body was no JSON; now such bytes become U+FFFD, and UTF-8 is kept */
    th_resp r;
    th_get(S.port, "/v1/\xe8nope\xf0\x9f", &r); /* th_get fails on a body that is not JSON */
    th_assert_error(&r, 404, "route.not_found", "path");
    const char *msg = json_string_value(json_object_get(r.json, "message"));
    assert_non_null(strstr(msg, "/v1/\xef\xbf\xbdnope\xef\xbf\xbd"));
    th_resp_free(&r);
    th_get(S.port, "/v1/%E5%90%88%E5%90%8C", &r);
    th_assert_error(&r, 404, "route.not_found", "path");
    assert_non_null(strstr(json_string_value(json_object_get(r.json, "message")), "/v1/合同"));
    th_resp_free(&r);
}

static void test_bad_reads(void **state)
{
    (void)state;
    uint64_t before = tl_ledger_size(S.t.l);
    static const struct {
        const char *path;
        int status;
        const char *rule;
        const char *field;
    } cases[] = {
        {"/v1/events?limit=0", 400, "query.invalid", "limit"},
        {"/v1/events?limit=1001", 400, "query.invalid", "limit"},
        {"/v1/events?limit=abc", 400, "query.invalid", "limit"},
        {"/v1/events?after=-1", 400, "query.invalid", "after"},
        {"/v1/events?after=99999999999999999999999", 400, "query.invalid", "after"},
        {"/v1/events?limt=5", 400, "query.unknown", "limt"},
        {"/v1/events?limit=1&limit=2", 400, "query.duplicate", "limit"},
        {"/v1/events?limit=%zz", 400, "query.encoding", "limit"},
        {"/v1/events?limit=%00", 400, "query.encoding", "limit"},
        {"/v1/events/abc", 400, "path.invalid", "seq"},
        {"/v1/events/1x", 400, "path.invalid", "seq"},
        {"/v1/events/99999999", 404, "record.not_found", "seq"},
        {"/v1/events/0?proof=0", 400, "query.invalid", "proof"},
        {"/v1/events/1?proof=999999", 400, "query.invalid", "proof"},
        {"/v1/streams/Contract/X", 400, "path.invalid", "stream"},
        {"/v1/streams/contract/0000000000000000", 404, "stream.not_found", "stream"},
        {"/v1/checkpoint?size=123456", 404, "checkpoint.not_found", "size"},
        {"/v1/checkpoint?bogus=1", 400, "query.unknown", "bogus"},
        {"/v1/proofs/consistency?from=1", 400, "query.required", "to"},
        {"/v1/proofs/consistency?from=0&to=1", 400, "query.invalid", "from"},
        {"/v1/proofs/consistency?from=3&to=2", 400, "merkle.consistency_order", NULL},
        {"/v1/proofs/consistency?from=1&to=99999999", 400, "proof.size", NULL},
        {"/v1/subscribe?after=x", 400, "query.invalid", "after"},
        {"/v1/views/nonsense", 404, "view.unknown", NULL},
        {"/v1/views/turnover?format=xml", 400, "query.invalid", "format"},
        {"/v1/nope", 404, "route.not_found", "path"},
        {"/v2/events", 404, "route.not_found", "path"},
        {"/v1/events%00", 400, "path.invalid", "path"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        th_resp r;
        th_get(S.port, cases[i].path, &r);
        if (r.status != cases[i].status)
            fail_msg("%s: expected %d, got %d: %s", cases[i].path, cases[i].status, r.status, r.body);
        th_assert_error(&r, cases[i].status, cases[i].rule, cases[i].field);
        th_resp_free(&r);
    }
    /* methods */
    th_resp r;
    th_request(S.port, "DELETE", "/v1/events", NULL, NULL, 0, &r);
    th_assert_error(&r, 405, "route.method", "method");
    th_resp_free(&r);
    static const char *const mp[] = {"Content-Type: application/msgpack", NULL};
    th_request(S.port, "POST", "/v1/checkpoint", mp, "\x90", 1, &r);
    th_assert_error(&r, 405, "route.method", "method");
    th_resp_free(&r);
    /* a URI beyond the limit */
    char *longpath = malloc(TL_API_URI_BYTES_MAX + 64);
    strcpy(longpath, "/v1/events?after=1&x=");
    memset(longpath + strlen(longpath), 'a', TL_API_URI_BYTES_MAX);
    longpath[TL_API_URI_BYTES_MAX + 30] = '\0';
    th_get(S.port, longpath, &r);
    th_assert_error(&r, 414, "request.uri_too_long", "uri");
    th_resp_free(&r);
    free(longpath);
    /* credentials that are not valid */
    th_get_auth(S.port, "/v1/events/0", "wrong-token", &r);
    th_assert_error(&r, 401, "auth.invalid_token", "Authorization");
    th_resp_free(&r);
    static const char *const basic[] = {"Authorization: Basic dXNlcjpwYXNz", NULL};
    th_request(S.port, "GET", "/v1/events/0", basic, NULL, 0, &r);
    th_assert_error(&r, 401, "auth.scheme", "Authorization");
    th_resp_free(&r);
    assert_int_equal(tl_ledger_size(S.t.l), before);
}

/* ---------- access levels ---------- */

static void test_confidential_records(void **state)
{
    (void)state;
    th_resp r;
    tl_buf env;
    th_envelope(&env, &S.t.registry,
                "{\"type\":\"achievement.registered\",\"stream\":\"achievement/secret-alloy\",\"data\":{"
                "\"id\":\"secret-alloy\",\"title\":\"A secret alloy\",\"owner\":\"tsinghua\",\"field\":"
                "\"new_materials\",\"fiscal_funded\":true,\"confidentiality\":\"commercial_secret\"}}");
    th_post(S.port, env.data, env.len, &r);
    assert_int_equal(r.status, 201);
    uint64_t ach = (uint64_t)json_integer_value(json_object_get(r.json, "seq"));
    th_resp_free(&r);
    tl_buf_free(&env);
    char json[2048];
    tl_test_contract_json(json, sizeof json, "2019000000000040", 7777777, 5555555, "2019-05-06");
    char *close = strrchr(json, '}');
    *(close - 1) = '\0'; /* drop the data object's closing brace */
    char json2[2200];
    snprintf(json2, sizeof json2, "%s,\"confidentiality\":\"state_secret\"}}", json);
    th_envelope(&env, &S.t.registry, json2);
    th_post(S.port, env.data, env.len, &r);
    assert_int_equal(r.status, 201);
    uint64_t con = (uint64_t)json_integer_value(json_object_get(r.json, "seq"));
    th_resp_free(&r);
    tl_buf_free(&env);
    th_envelope(&env, &S.t.registry,
                "{\"type\":\"payment.received\",\"stream\":\"contract/2019000000000040\",\"data\":{\"amount_fen\":"
                "1234567,\"received_on\":\"2019-07-01\"}}");
    th_post(S.port, env.data, env.len, &r);
    assert_int_equal(r.status, 201);
    uint64_t pay = (uint64_t)json_integer_value(json_object_get(r.json, "seq"));
    th_resp_free(&r);
    tl_buf_free(&env);

    uint64_t secret[] = {ach, con, pay};
    uint64_t size = tl_ledger_size(S.t.l);
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/events/%llu?proof=%llu", (unsigned long long)secret[i],
                 (unsigned long long)size);
        th_get(S.port, path, &r);
        assert_int_equal(r.status, 200);
        assert_true(json_is_true(json_object_get(r.json, "redacted")));
        assert_null(json_object_get(r.json, "event"));
        assert_null(json_object_get(r.json, "record"));
        assert_null(strstr(r.body, "secret alloy"));
        assert_null(strstr(r.body, "7777777"));
        assert_null(strstr(r.body, "1234567"));
        /* the leaf hash still proves the record is in the log */
        uint8_t leaf[32], root[32];
        b64_decode32(leaf, json_string_value(json_object_get(r.json, "leaf_hash")));
        json_t *proof = json_object_get(r.json, "proof");
        tl_merkle_proof p = {0};
        size_t k;
        json_t *h;
        json_array_foreach(json_object_get(proof, "hashes"), k, h) b64_decode32(p.hashes[p.n++], json_string_value(h));
        tl_error err;
        assert_int_equal(tl_ledger_root(S.t.l, size, root, &err), 0);
        assert_int_equal(tl_merkle_verify_inclusion(leaf, secret[i], size, &p, root, &err), 0);
        th_resp_free(&r);
        /* an auditor sees everything */
        th_get_auth(S.port, path, TH_AUDITOR_TOKEN, &r);
        assert_int_equal(r.status, 200);
        assert_null(json_object_get(r.json, "redacted"));
        assert_non_null(json_object_get(r.json, "event"));
        th_resp_free(&r);
    }
    /* the stream of a secret contract, and the public feed */
    th_get(S.port, "/v1/streams/contract/2019000000000040", &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "7777777"));
    assert_null(strstr(r.body, "1234567"));
    th_resp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/v1/events?after=%llu", (unsigned long long)(ach - 1));
    th_get(S.port, path, &r);
    assert_null(strstr(r.body, "secret alloy"));
    assert_null(strstr(r.body, "7777777"));
    th_resp_free(&r);
    th_get_auth(S.port, path, TH_STATS_TOKEN, &r);
    assert_non_null(strstr(r.body, "7777777"));
    th_resp_free(&r);
}

/* ---------- views, health, metrics, dashboard ---------- */

static void test_views(void **state)
{
    (void)state;
    post_contract(50, 300000);
    tl_error err;
    assert_int_equal(tl_views_sync(S.views, 0, 10000, &err), 0);
    th_resp r;
    th_get(S.port, "/v1/views/turnover?by=year", &r);
    if (r.status != 200)
        fail_msg("turnover: %d %s", r.status, r.body);
    assert_non_null(json_object_get(r.json, "rows"));
    th_resp_free(&r);
    th_get(S.port, "/v1/views/turnover?by=year&format=csv", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/csv; charset=utf-8");
    assert_true(strncmp(r.body, "year,", 5) == 0);
    th_resp_free(&r);
    th_get(S.port, "/v1/views/turnover?by=planet", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(json_string_value(json_object_get(r.json, "path")), "by");
    th_resp_free(&r);
    /* a contract's history, each event with an inclusion proof */
    th_get(S.port, "/v1/views/contracts/2019000000000050", &r);
    if (r.status != 200)
        fail_msg("contract view: %d %s", r.status, r.body);
    json_t *events = json_object_get(r.json, "events");
    assert_true(json_array_size(events) >= 1);
    json_t *e0 = json_array_get(events, 0);
    json_t *proof = json_object_get(e0, "proof");
    assert_non_null(proof);
    uint64_t size = (uint64_t)json_integer_value(json_object_get(r.json, "tree_size"));
    uint8_t leaf[32], root[32];
    b64_decode32(leaf, json_string_value(json_object_get(proof, "leaf_hash")));
    tl_merkle_proof p = {0};
    size_t k;
    json_t *h;
    json_array_foreach(json_object_get(proof, "hashes"), k, h) b64_decode32(p.hashes[p.n++], json_string_value(h));
    assert_int_equal(tl_ledger_root(S.t.l, size, root, &err), 0);
    assert_int_equal(
        tl_merkle_verify_inclusion(leaf, (uint64_t)json_integer_value(json_object_get(e0, "seq")), size, &p, root, &err),
        0);
    th_resp_free(&r);
}

static void test_health_metrics_dashboard(void **state)
{
    (void)state;
    th_resp r;
    th_get(S.port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    assert_int_equal(json_integer_value(json_object_get(r.json, "size")), tl_ledger_size(S.t.l));
    th_resp_free(&r);
    th_get(S.port, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.content_type, "text/plain", 10) == 0);
    assert_non_null(strstr(r.body, "techledger_events_appended_total"));
    assert_non_null(strstr(r.body, "techledger_fsync_seconds_bucket{le=\"+Inf\"}"));
    assert_non_null(strstr(r.body, "techledger_sequencer_cpu_seconds_total "));
    assert_non_null(strstr(r.body, "techledger_commit_batch_events_sum"));
    assert_non_null(strstr(r.body, "techledger_http_requests_total{route=\"events.submit\",status=\"201\"}"));
    assert_non_null(strstr(r.body, "techledger_http_request_duration_seconds_bucket{route=\"healthz\""));
    assert_non_null(strstr(r.body, "techledger_projection_lag_records{projection="));
    /* Every submission answered so far was timed through its stages; preparing one (a signature
     * check) and making it durable (an fsync) take measurable time. */
    const char *timed = strstr(r.body, "\ntechledger_ingest_submissions_timed_total ");
    assert_non_null(timed);
    assert_true(strtoull(timed + strlen("\ntechledger_ingest_submissions_timed_total "), NULL, 10) > 0);
    static const char *const stages[] = {"techledger_ingest_stage_seconds_total{stage=\"prepare\"} ",
                                         "techledger_ingest_stage_seconds_total{stage=\"durable\"} ",
                                         "techledger_ingest_stage_seconds_total{stage=\"reply\"} "};
    for (size_t i = 0; i < sizeof stages / sizeof *stages; i++) {
        const char *at = strstr(r.body, stages[i]);
        assert_non_null(at);
        double v = strtod(at + strlen(stages[i]), NULL);
        if (i < 2)
            assert_true(v > 0);
        else
            assert_true(v >= 0);
    }
    /* RocksDB's background work: at most max_background_jobs (2) flushes or compactions run. */
    static const char *const storage[] = {"\ntechledger_storage_flushes_running ",
                                          "\ntechledger_storage_compactions_running ",
                                          "\ntechledger_storage_flushes_pending ",
                                          "\ntechledger_storage_compactions_pending ",
                                          "\ntechledger_storage_compaction_pending_bytes "};
    for (size_t i = 0; i < sizeof storage / sizeof *storage; i++) {
        const char *at = strstr(r.body, storage[i]);
        assert_non_null(at);
        char *end;
        unsigned long long v = strtoull(at + strlen(storage[i]), &end, 10);
        assert_true(end > at + strlen(storage[i]));
        if (i < 2)
            assert_true(v <= 2);
    }
    th_resp_free(&r);
    th_get(S.port, "/", &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.content_type, "text/html", 9) == 0);
    assert_true(r.len > 100);
    th_resp_free(&r);
    for (size_t i = 0; i < tl_web_assets_count; i++) { /* every embedded file, byte for byte */
        th_get(S.port, tl_web_assets[i].path, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.content_type, tl_web_assets[i].content_type);
        assert_int_equal(r.len, tl_web_assets[i].len);
        assert_memory_equal(r.body, tl_web_assets[i].data, r.len);
        th_resp_free(&r);
    }
    th_request(S.port, "HEAD", "/healthz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    th_resp_free(&r);
    /* the access log has one JSON line per request */
    uint8_t *log;
    size_t len;
    tl_error err;
    assert_int_equal(tl_file_read(S.log_path, 64u << 20, &log, &len, &err), 0);
    assert_non_null(strstr((char *)log, "\"route\":\"healthz\",\"status\":200"));
    char *line = (char *)log;
    for (char *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)(nl - line), 0, &jerr);
        if (j == NULL)
            fail_msg("access log line is not JSON: %.*s", (int)(nl - line), line);
        json_decref(j);
    }
    free(log);
}

/* ---------- concurrency ---------- */

typedef struct client_arg {
    int index;
    int count;
    int created;
} client_arg;

static void *client_main(void *p)
{
    client_arg *a = p;
    tl_http_url url;
    tl_error err;
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%u", (unsigned)S.port);
    if (tl_http_url_parse(&url, u, &err) != 0)
        return NULL;
    tl_http_client *c;
    if (tl_http_client_open(&c, &url, 20000, &err) != 0)
        return NULL;
    static const char *const headers[] = {"Content-Type: application/msgpack", NULL};
    tl_http_response resp;
    tl_http_response_init(&resp);
    for (int i = 0; i < a->count; i++) {
        char json[2048], reg[32]; /* 16 digits: index < 10^4, i < 10^8 */
        snprintf(reg, sizeof reg, "2021%04d%08d", a->index % 10000, i % 100000000);
        tl_test_contract_json(json, sizeof json, reg, 100, 50, "2021-01-05");
        tl_buf env;
        th_envelope(&env, &S.t.registry, json);
        if (tl_http_request(c, "POST", "/v1/events", headers, env.data, env.len, &resp, &err) == 0 &&
            resp.status == 201)
            a->created++;
        tl_buf_free(&env);
    }
    tl_http_response_free(&resp);
    tl_http_client_close(c);
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    (void)state;
    enum { CLIENTS = 16, EACH = 25 };
    uint64_t before = tl_ledger_size(S.t.l);
    pthread_t th[CLIENTS];
    client_arg a[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        a[i] = (client_arg){.index = i, .count = EACH};
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &a[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].created, EACH);
    }
    assert_int_equal(tl_ledger_size(S.t.l), before + CLIENTS * EACH);
    /* every connection closed by its client is forgotten by the server */
    for (int i = 0; i < 200 && tl_server_connections(S.srv) > 0; i++)
        usleep(10000);
    assert_int_equal(tl_server_connections(S.srv), 0);
}

/* Beyond the connection cap a request gets 503 server.connections and its connection is
 * closed; once a connection goes, there is room again. */
static void test_connection_cap(void **state)
{
    (void)state;
    th_server s;
    th_start_capped(&s, "api-cap", 2);
    tl_http_url url;
    tl_error err;
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%u", (unsigned)s.port);
    assert_int_equal(tl_http_url_parse(&url, u, &err), 0);
    tl_http_client *c[3];
    tl_http_response resp;
    tl_http_response_init(&resp);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tl_http_client_open(&c[i], &url, 10000, &err), 0);
        assert_int_equal(tl_http_request(c[i], "GET", "/healthz", NULL, NULL, 0, &resp, &err), 0);
        assert_int_equal(resp.status, 200);
    }
    assert_int_equal(tl_server_connections(s.srv), 2);
    assert_int_equal(tl_http_client_open(&c[2], &url, 10000, &err), 0);
    assert_int_equal(tl_http_request(c[2], "GET", "/healthz", NULL, NULL, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 503);
    assert_non_null(strstr((const char *)resp.body.data, "\"server.connections\""));
    /* the kept connections still work */
    assert_int_equal(tl_http_request(c[0], "GET", "/healthz", NULL, NULL, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    tl_http_client_close(c[1]);
    for (int i = 0; i < 200 && tl_server_connections(s.srv) > 1; i++)
        usleep(10000);
    assert_int_equal(tl_server_connections(s.srv), 1);
    assert_int_equal(tl_http_request(c[2], "GET", "/healthz", NULL, NULL, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    tl_http_client_close(c[0]);
    tl_http_client_close(c[2]);
    tl_http_response_free(&resp);
    th_stop(&s);
}

/* Each loop has its own listening socket (SO_REUSEPORT): new connections reach every loop, and a
 * port another server holds is still refused. */
static void test_loops_share_connections(void **state)
{
    (void)state;
    enum { N = 32 };
    tl_http_url url;
    tl_error err;
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%u", (unsigned)S.port);
    assert_int_equal(tl_http_url_parse(&url, u, &err), 0);
    tl_http_client *c[N];
    tl_http_response resp;
    tl_http_response_init(&resp);
    for (int i = 0; i < N; i++) {
        assert_int_equal(tl_http_client_open(&c[i], &url, 10000, &err), 0);
        assert_int_equal(tl_http_request(c[i], "GET", "/healthz", NULL, NULL, 0, &resp, &err), 0);
        assert_int_equal(resp.status, 200);
    }
    /* By a hash of the peer's port: all 32 on one loop has odds of 2^-31. The counts are read
     * from another thread, but every request above has been answered, so they have settled. */
    struct tl_server *srv = S.srv;
    assert_int_equal(srv->nloops, 2);
    assert_int_equal(srv->nlisten, 2);
    assert_true(srv->loops[0].nconns > 0);
    assert_true(srv->loops[1].nconns > 0);
    for (int i = 0; i < N; i++)
        tl_http_client_close(c[i]);
    tl_http_response_free(&resp);

    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)S.port);
    for (unsigned loops = 1; loops <= 2; loops++) {
        tl_server_options o = {.listen = listen, .loops = loops, .workers = 1, .access_log_fd = -1};
        tl_server *other = NULL;
        tl_error_clear(&err);
        assert_int_not_equal(tl_server_start(&other, S.t.l, S.views, &o, &err), 0);
        assert_null(other);
        assert_string_equal(err.rule, "listen.bind");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_single_and_duplicate),
        cmocka_unit_test(test_read_record_and_proofs),
        cmocka_unit_test(test_lists_and_streams),
        cmocka_unit_test(test_batch_results_in_order),
        cmocka_unit_test(test_large_batch_keeps_order),
        cmocka_unit_test(test_bodies_beyond_the_node_arena),
        cmocka_unit_test(test_bad_submissions),
        cmocka_unit_test(test_body_beyond_backstop),
        cmocka_unit_test(test_http_versions),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_error_json_is_utf8),
        cmocka_unit_test(test_half_close_keeps_replies),
        cmocka_unit_test(test_bad_reads),
        cmocka_unit_test(test_confidential_records),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_health_metrics_dashboard),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_loops_share_connections),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
