/*
 * The domain rules against a real ledger: for every rule of tl_rules_doc an event that breaks
 * it, checked for the rule, the path and that the log did not grow; and the documented example
 * history (tl_schema_examples), which walks through every event type, accepted end to end,
 * then replayed again through tl_admit on an in-memory state as `verify` does.
 *
 * Each test starts from a "world": a fresh ledger on a temporary directory holding the whole
 * example history except its final cancellation, so the example contract is still live:
 *   participants registry-bj (registry, key 0x02), tsinghua (member, key 0x03), acme (no keys),
 *   kjcg-mgmt (fund_manager, 0x04), zgc-capital (fund_manager, 0x07), icbc-bj (bank, 0x05);
 *   achievement thu-2019-0042; contract 2019110108000123 (signed 2019-03-01, registered
 *   2019-03-15); equity thu-eq-2020-01; funds national-guidance (guidance, managed by
 *   kjcg-mgmt) and kjcg-sub-bj-1 (its sub_fund, managed by zgc-capital); loan icbc-bj-2020-0007
 *   (issued 2020-05-20 for 500万 fen-wise 500000000, defaulted 300000000 on 2021-11-30,
 *   compensated 150000000); programme entries. Key 0x06 was added to registry-bj and revoked.
 * Keys are named by their seed byte (the seed is 32 bytes of it); 0x01 is the admin.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tl_rules.h"
#include "tl_schema.h"
#include "tl_state.h"

enum { ADMIN = 0x01, REGISTRY = 0x02, TSINGHUA = 0x03, KJCG = 0x04, ICBC = 0x05, SPARE = 0x06, ZGC = 0x07,
       STRANGER = 0x42 };

#define CONTRACT "2019110108000123"
#define LOAN "icbc-bj-2020-0007"
#define JSON_BYTES 4096

/* ---- Coverage of the rule table ----------------------------------------------------------- */

#define SEEN_MAX 256
static char seen[SEEN_MAX][TL_ERROR_RULE_BYTES + TL_ERROR_PATH_BYTES + 2];
static size_t seen_count;

/* "data.keys[3]" -> "data.keys[i]", as the table writes paths. */
static void normalize_path(char *out, size_t cap, const char *path)
{
    size_t o = 0;
    for (size_t i = 0; path[i] != '\0' && o + 2 < cap; i++) {
        if (path[i] == '[') {
            out[o++] = '[';
            out[o++] = 'i';
            while (path[i] != '\0' && path[i] != ']')
                i++;
            if (path[i] == '\0')
                break;
        }
        out[o++] = path[i];
    }
    out[o] = '\0';
}

static void mark_seen(const char *rule, const char *path)
{
    char norm[TL_ERROR_PATH_BYTES], entry[sizeof seen[0]];
    normalize_path(norm, sizeof norm, path);
    snprintf(entry, sizeof entry, "%s@%s", rule, norm);
    for (size_t i = 0; i < seen_count; i++)
        if (strcmp(seen[i], entry) == 0)
            return;
    assert_true(seen_count < SEEN_MAX);
    snprintf(seen[seen_count++], sizeof seen[0], "%s", entry);
}

static bool was_seen(const char *rule, const char *path)
{
    char entry[sizeof seen[0]];
    snprintf(entry, sizeof entry, "%s@%s", rule, path);
    for (size_t i = 0; i < seen_count; i++)
        if (strcmp(seen[i], entry) == 0)
            return true;
    return false;
}

/* ---- Keys, events, the world --------------------------------------------------------------- */

static const char *hex_of(char out[65], uint8_t b)
{
    tl_keypair kp = tl_test_key(b);
    tl_hex_encode(out, kp.pk, 32);
    return out;
}

static void event_json(char *out, const char *type, const char *stream, const char *data)
{
    int n = snprintf(out, JSON_BYTES, "{\"type\":\"%s\",\"stream\":\"%s\",\"data\":%s}", type, stream, data);
    assert_true(n > 0 && n < JSON_BYTES);
}

typedef struct world {
    char *dir;
    tl_ledger *l;
} world;

static int append(world *w, uint8_t signer, const char *type, const char *stream, const char *data,
                  tl_append_result *res)
{
    char json[JSON_BYTES];
    event_json(json, type, stream, data);
    tl_keypair kp = tl_test_key(signer);
    return tl_test_append(w->l, &kp, json, res);
}

static void ok(world *w, uint8_t signer, const char *type, const char *stream, const char *data)
{
    tl_append_result res;
    if (append(w, signer, type, stream, data, &res) != 0)
        fail_msg("%s on %s refused: %s at %s: %s", type, stream, res.err.rule, res.err.path,
                 res.err.msg);
    assert_int_equal(res.status, TL_APPEND_CREATED);
}

/* Submits an event that must be refused with code, rule and path, leaving the log as it was. */
static void reject(world *w, uint8_t signer, const char *type, const char *stream, const char *data,
                   int code, const char *rule, const char *path)
{
    uint64_t before = tl_ledger_size(w->l);
    tl_append_result res;
    int rc = append(w, signer, type, stream, data, &res);
    char got[TL_ERROR_PATH_BYTES]; /* "[i]" in path stands for any index */
    if (strstr(path, "[i]") != NULL)
        normalize_path(got, sizeof got, res.err.path);
    else
        snprintf(got, sizeof got, "%s", res.err.path);
    if (rc != code || strcmp(res.err.rule, rule) != 0 || strcmp(got, path) != 0)
        fail_msg("%s on %s: expected %s at %s (%d), got %s at %s (%d): %s", type, stream, rule, path,
                 code, res.err.rule, res.err.path, rc, res.err.msg);
    assert_int_equal(res.status, TL_APPEND_REJECTED);
    assert_true(res.err.msg[0] != '\0');
    assert_int_equal(tl_ledger_size(w->l), before);
    mark_seen(rule, path);
}

static void world_create_upto(world *w, const char *tag, size_t upto)
{
    assert_int_equal(tl_crypto_init(), 0);
    w->dir = tl_test_tmpdir(tag);
    tl_keypair admin = tl_test_key(ADMIN);
    tl_error err;
    tl_error_clear(&err);
    if (tl_ledger_create(w->dir, TL_SCHEMA_EXAMPLE_ORIGIN, &admin, NULL, &err) != 0)
        fail_msg("create: %s: %s", err.rule, err.msg);
    if (tl_ledger_open(&w->l, w->dir, NULL, &err) != 0)
        fail_msg("open: %s: %s", err.rule, err.msg);
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    assert_string_equal(ex[0].type, "ledger.genesis"); /* tl_ledger_create wrote it */
    for (size_t i = 1; i < n && i < upto; i++)
        ok(w, ex[i].seed, ex[i].type, ex[i].stream, ex[i].data);
}

/* Everything but the final cancellation. */
static void world_create(world *w, const char *tag)
{
    size_t n;
    (void)tl_schema_examples(&n);
    world_create_upto(w, tag, n - 1);
}

static void world_destroy(world *w)
{
    tl_ledger_close(w->l);
    tl_test_rmdir(w->dir);
    free(w->dir);
    memset(w, 0, sizeof *w);
}

static void participant_json(char *out, const char *id, const char *kind, const char *roles,
                             const char *keys)
{
    snprintf(out, JSON_BYTES,
             "{\"id\":\"%s\",\"name\":\"%s\",\"kind\":\"%s\",\"region\":\"110000\",\"roles\":[%s],"
             "\"keys\":[%s]}",
             id, id, kind, roles, keys);
}

static void contract_json(char *out, const char *reg_no, const char *seller, const char *buyer,
                          const char *extra)
{
    snprintf(out, JSON_BYTES,
             "{\"reg_no\":\"%s\",\"class\":\"license\",\"subtype\":\"patent_license\","
             "\"seller\":\"%s\",\"buyer\":\"%s\",\"seller_region\":\"110108\","
             "\"buyer_region\":\"310115\",\"field\":\"biomedicine\",\"signed_on\":\"2020-02-01\","
             "\"registered_on\":\"2020-02-10\",\"total_fen\":2000000,\"tech_fen\":2000000%s}",
             reg_no, seller, buyer, extra);
}

static void loan_json(char *out, const char *id, const char *bank, const char *borrower,
                      const char *pool, unsigned long long amount, const char *dated)
{
    snprintf(out, JSON_BYTES,
             "{\"id\":\"%s\",\"bank\":\"%s\",\"borrower\":\"%s\",\"amount_fen\":%llu,"
             "\"term_months\":24,\"dated\":\"%s\",\"pool\":\"%s\"}",
             id, bank, borrower, amount, dated, pool);
}

static void fund_json(char *out, const char *id, const char *kind, const char *manager,
                      const char *parent)
{
    char p[128] = "";
    if (parent != NULL)
        snprintf(p, sizeof p, ",\"parent\":\"%s\"", parent);
    snprintf(out, JSON_BYTES,
             "{\"id\":\"%s\",\"name\":\"%s\",\"kind\":\"%s\",\"level\":\"provincial\","
             "\"region\":\"310000\",\"manager\":\"%s\"%s}",
             id, id, kind, manager, p);
}

/* ---- The example history, end to end -------------------------------------------------------- */

static void test_examples_every_type(void **state)
{
    (void)state;
    world w;
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    world_create_upto(&w, "rules-examples", n); /* the whole history, cancellation included */
    assert_int_equal(tl_ledger_size(w.l), n);

    /* Every type of the catalogue occurs, and one example of each is the documented one. */
    for (int t = 0; t < TL_EV_COUNT; t++) {
        const tl_event_spec *spec = tl_schema_event((tl_event_type)t);
        int occurs = 0, shown = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(ex[i].type, spec->type) == 0) {
                occurs++;
                shown += ex[i].shown;
            }
        if (occurs == 0 || shown != 1)
            fail_msg("%s: %d examples, %d shown", spec->type, occurs, shown);
    }

    /* Record 0 is the genesis the example describes: same admin key, same origin. */
    tl_buf rec;
    tl_buf_init(&rec);
    tl_error err;
    tl_error_clear(&err);
    tl_record r;
    tl_event ev;
    assert_int_equal(tl_ledger_read(w.l, 0, &rec, &err), 0);
    assert_int_equal(tl_record_decode(&r, rec.data, rec.len, &err), 0);
    assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err), 0);
    json_t *data = tl_mp_to_json(&ev.doc, ev.data);
    json_t *want = json_loads(ex[0].data, 0, NULL);
    assert_non_null(want);
    assert_memory_equal(r.key, tl_test_key(ADMIN).pk, 32);
    char admin_hex[65];
    assert_string_equal(json_string_value(json_object_get(want, "admin")), hex_of(admin_hex, ADMIN));
    assert_string_equal(json_string_value(json_object_get(data, "origin")),
                        json_string_value(json_object_get(want, "origin")));
    json_decref(data);
    json_decref(want);
    tl_event_free(&ev);
    tl_buf_free(&rec);

    /* Streams grew as the history says. */
    uint64_t version;
    assert_int_equal(tl_ledger_stream_version(w.l, "contract/" CONTRACT, 25, &version, &err), 0);
    assert_int_equal(version, 4); /* registered, amended, paid, cancelled */
    assert_int_equal(tl_ledger_stream_version(w.l, "loan/" LOAN, strlen("loan/" LOAN), &version, &err), 0);
    assert_int_equal(version, 3);
    assert_int_equal(tl_ledger_stream_version(w.l, "participant/registry-bj", 23, &version, &err), 0);
    assert_int_equal(version, 3);

    /* The state survives a restart: the rules judge the same after reopening. */
    tl_ledger_close(w.l);
    assert_int_equal(tl_ledger_open(&w.l, w.dir, NULL, &err), 0);
    reject(&w, REGISTRY, "contract.amended", "contract/" CONTRACT,
           "{\"total_fen\":1,\"tech_fen\":1,\"amended_on\":\"2021-01-01\",\"reason\":\"late\"}",
           TL_ESTATE, "contract.cancelled", "stream");
    reject(&w, SPARE, "programme.zone_designated", "programme/z2",
           "{\"id\":\"z2\",\"name\":\"z\",\"dated\":\"2020-01-01\"}", TL_EDENIED, "auth.key_revoked", "key");
    ok(&w, ICBC, "loan.issued", "loan/after-reopen",
           "{\"id\":\"after-reopen\",\"bank\":\"icbc-bj\",\"borrower\":\"acme\",\"amount_fen\":100,"
           "\"term_months\":12,\"dated\":\"2022-01-01\",\"pool\":\"national-guidance\"}");
    world_destroy(&w);
}

/* The same history through tl_admit on an in-memory state, the way `verify` replays a bundle;
 * and what the common path costs in state reads. */
typedef struct counting_state {
    tl_state base;
    tl_mem_state mem;
    unsigned gets;
} counting_state;

static int counting_get(tl_state *st, const uint8_t *key, size_t klen, tl_buf *out)
{
    counting_state *c = (counting_state *)st;
    c->gets++;
    return tl_state_get(&c->mem.base, key, klen, out);
}

static int counting_put(tl_state *st, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    counting_state *c = (counting_state *)st;
    return tl_state_put(&c->mem.base, key, klen, val, vlen);
}

static int admit_json(tl_state *st, uint64_t seq, uint8_t signer, const char *json, tl_admission *adm,
                      tl_error *err)
{
    tl_buf env;
    tl_keypair kp = tl_test_key(signer);
    tl_test_envelope(&env, &kp, json);
    tl_event ev;
    int rc = tl_event_prepare(&ev, env.data, env.len, err);
    tl_buf_free(&env);
    if (rc != 0)
        return rc;
    rc = tl_admit(st, &ev, seq, adm, err);
    tl_event_free(&ev);
    return rc;
}

/* A state key given as a string literal: its bytes and length. */
#define STATE_KEY(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void test_replay_in_memory_and_read_cost(void **state)
{
    (void)state;
    assert_int_equal(tl_crypto_init(), 0);
    counting_state cs = {.base = {.get = counting_get, .put = counting_put}};
    assert_int_equal(tl_mem_state_init(&cs.mem), 0);
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    char json[JSON_BYTES];
    tl_admission adm;
    tl_error err;
    for (size_t i = 0; i < n; i++) {
        event_json(json, ex[i].type, ex[i].stream, ex[i].data);
        unsigned before = cs.gets;
        if (admit_json(&cs.base, i, ex[i].seed, json, &adm, &err) != 0)
            fail_msg("example %zu (%s) refused: %s at %s: %s", i, ex[i].type, err.rule, err.path, err.msg);
        assert_false(adm.duplicate);
        /* The example contract lists one achievement: idempotency, stream head, signer, seller,
         * buyer, achievement. */
        if (strcmp(ex[i].type, "contract.registered") == 0)
            assert_int_equal(cs.gets - before, 6);
    }
    /* The common path: a contract without achievements costs five reads in all, three of them
     * by the domain rules (signer, seller, buyer). */
    contract_json(json, "2020110108000001", "tsinghua", "acme", "");
    char ev[JSON_BYTES];
    event_json(ev, "contract.registered", "contract/2020110108000001", json);
    unsigned before = cs.gets;
    assert_int_equal(admit_json(&cs.base, n, REGISTRY, ev, &adm, &err), 0);
    assert_int_equal(cs.gets - before, 5);
    assert_int_equal(adm.version, 1);
    /* The contract's state is in its stream head, not under a key of its own. */
    size_t vlen;
    const uint8_t *head = tl_map_get(cs.mem.map, STATE_KEY("scontract/2020110108000001"), &vlen);
    assert_non_null(head);
    assert_true(vlen > 8);
    assert_int_equal(tl_be64_get(head), 1);
    assert_null(tl_map_get(cs.mem.map, STATE_KEY("C2020110108000001"), &vlen));
    /* A payment: idempotency, stream head (which holds the contract), signer. */
    event_json(ev, "payment.received", "contract/2020110108000001",
               "{\"amount_fen\":100,\"received_on\":\"2020-03-01\"}");
    before = cs.gets;
    assert_int_equal(admit_json(&cs.base, n + 1, REGISTRY, ev, &adm, &err), 0);
    assert_int_equal(cs.gets - before, 3);

    /* Record 0 must be the genesis, and signed by the key it names. */
    tl_mem_state fresh;
    assert_int_equal(tl_mem_state_init(&fresh), 0);
    event_json(ev, ex[1].type, ex[1].stream, ex[1].data);
    assert_int_equal(admit_json(&fresh.base, 0, ADMIN, ev, &adm, &err), TL_EINVAL);
    assert_string_equal(err.rule, "log.genesis_first");
    assert_string_equal(err.path, "type");
    mark_seen(err.rule, err.path);
    event_json(ev, ex[0].type, ex[0].stream, ex[0].data);
    assert_int_equal(admit_json(&fresh.base, 0, STRANGER, ev, &adm, &err), TL_EDENIED);
    assert_string_equal(err.rule, "auth.genesis_signer");
    assert_string_equal(err.path, "key");
    mark_seen(err.rule, err.path);
    assert_int_equal(tl_map_count(fresh.map), 0); /* nothing written */
    assert_int_equal(admit_json(&fresh.base, 0, ADMIN, ev, &adm, &err), 0);
    tl_mem_state_free(&fresh);
    tl_mem_state_free(&cs.mem);
}

/* ---- Generic sequencing ------------------------------------------------------------------- */

/* A contract of a ledger written before contracts moved into their stream heads: a head of
 * the version alone and the contract under 'C' || reg_no. Its events read the 'C' key; a
 * cancellation moves the contract into the head, and from then on the head decides. */
static void test_contract_older_layout(void **state)
{
    (void)state;
    assert_int_equal(tl_crypto_init(), 0);
    counting_state cs = {.base = {.get = counting_get, .put = counting_put}};
    assert_int_equal(tl_mem_state_init(&cs.mem), 0);
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    char json[JSON_BYTES], ev[JSON_BYTES];
    tl_admission adm;
    tl_error err;
    for (size_t i = 0; i < n; i++) {
        event_json(json, ex[i].type, ex[i].stream, ex[i].data);
        assert_int_equal(admit_json(&cs.base, i, ex[i].seed, json, &adm, &err), 0);
    }
    contract_json(json, "2020110108000002", "tsinghua", "acme", "");
    event_json(ev, "contract.registered", "contract/2020110108000002", json);
    assert_int_equal(admit_json(&cs.base, n, REGISTRY, ev, &adm, &err), 0);

    /* Rewrite it the older way. */
    size_t vlen;
    const uint8_t *head = tl_map_get(cs.mem.map, STATE_KEY("scontract/2020110108000002"), &vlen);
    assert_non_null(head);
    uint8_t contract[64];
    assert_true(vlen > 8 && vlen - 8 <= sizeof contract);
    size_t clen = vlen - 8;
    memcpy(contract, head + 8, clen);
    uint8_t v8[8];
    tl_be64_put(v8, 1);
    assert_int_equal(tl_state_put(&cs.mem.base, STATE_KEY("scontract/2020110108000002"), v8, 8), 0);
    assert_int_equal(tl_state_put(&cs.mem.base, STATE_KEY("C2020110108000002"), contract, clen), 0);

    /* A payment reads the 'C' key (one read more) and leaves the layout as it is. */
    event_json(ev, "payment.received", "contract/2020110108000002",
               "{\"amount_fen\":100,\"received_on\":\"2020-03-01\"}");
    unsigned before = cs.gets;
    assert_int_equal(admit_json(&cs.base, n + 1, REGISTRY, ev, &adm, &err), 0);
    assert_int_equal(cs.gets - before, 4);
    assert_int_equal(adm.version, 2);
    head = tl_map_get(cs.mem.map, STATE_KEY("scontract/2020110108000002"), &vlen);
    assert_int_equal(vlen, 8);
    assert_int_equal(tl_be64_get(head), 2);

    /* A payment before the contract was signed is refused with the dates from 'C'. */
    event_json(ev, "payment.received", "contract/2020110108000002",
               "{\"amount_fen\":100,\"received_on\":\"2000-01-01\"}");
    assert_int_equal(admit_json(&cs.base, n + 2, REGISTRY, ev, &adm, &err), TL_ECONFLICT);
    assert_string_equal(err.rule, "date.order");

    /* The cancellation moves the contract into the head, flagged; 'C' is never written. */
    event_json(ev, "contract.cancelled", "contract/2020110108000002",
               "{\"cancelled_on\":\"2020-04-01\",\"reason\":\"withdrawn\"}");
    assert_int_equal(admit_json(&cs.base, n + 2, REGISTRY, ev, &adm, &err), 0);
    head = tl_map_get(cs.mem.map, STATE_KEY("scontract/2020110108000002"), &vlen);
    assert_int_equal(vlen, 8 + clen);
    assert_int_equal(tl_be64_get(head), 3);
    assert_int_equal(head[8], contract[0] | 1);
    assert_memory_equal(head + 9, contract + 1, clen - 1);
    const uint8_t *c = tl_map_get(cs.mem.map, STATE_KEY("C2020110108000002"), &vlen);
    assert_int_equal(vlen, clen);
    assert_memory_equal(c, contract, clen);
    event_json(ev, "payment.received", "contract/2020110108000002",
               "{\"amount_fen\":100,\"received_on\":\"2020-05-01\"}");
    before = cs.gets;
    assert_int_equal(admit_json(&cs.base, n + 3, REGISTRY, ev, &adm, &err), TL_ESTATE);
    assert_string_equal(err.rule, "contract.cancelled");
    assert_int_equal(cs.gets - before, 3);
    tl_mem_state_free(&cs.mem);
}

static void test_generic(void **state)
{
    (void)state;
    world w;
    world_create(&w, "rules-generic");
    char json[2 * JSON_BYTES], data[JSON_BYTES];
    tl_append_result res;

    /* A flipped signature bit. */
    contract_json(data, "2020110108000002", "tsinghua", "acme", "");
    event_json(json, "contract.registered", "contract/2020110108000002", data);
    tl_buf env;
    tl_keypair reg = tl_test_key(REGISTRY);
    tl_test_envelope(&env, &reg, json);
    env.data[env.len - 3] ^= 0x10;
    uint64_t before = tl_ledger_size(w.l);
    assert_int_equal(tl_ledger_append(w.l, env.data, env.len, &res), TL_ESIG);
    assert_string_equal(res.err.rule, "signature.invalid");
    assert_string_equal(res.err.path, "sig");
    assert_int_equal(tl_ledger_size(w.l), before);
    mark_seen(res.err.rule, res.err.path);
    tl_buf_free(&env);

    /* expect: a registration expecting a stream that is already there, an amendment expecting
     * a stale version. */
    snprintf(json, sizeof json,
             "{\"type\":\"contract.registered\",\"stream\":\"contract/2020110108000002\",\"expect\":1,"
             "\"data\":%s}",
             data);
    assert_int_equal(tl_test_append(w.l, &reg, json, &res), TL_ECONFLICT);
    assert_string_equal(res.err.rule, "stream.expect");
    assert_string_equal(res.err.path, "expect");
    assert_int_equal(tl_ledger_size(w.l), before);
    mark_seen(res.err.rule, res.err.path);
    snprintf(json, sizeof json,
             "{\"type\":\"contract.registered\",\"stream\":\"contract/2020110108000002\",\"expect\":0,"
             "\"data\":%s}",
             data);
    assert_int_equal(tl_test_append(w.l, &reg, json, &res), 0);
    snprintf(json, sizeof json,
             "{\"type\":\"contract.amended\",\"stream\":\"contract/" CONTRACT "\",\"expect\":2,"
             "\"data\":{\"total_fen\":5,\"tech_fen\":5,\"amended_on\":\"2020-01-01\",\"reason\":\"x\"}}");
    before = tl_ledger_size(w.l);
    assert_int_equal(tl_test_append(w.l, &reg, json, &res), TL_ECONFLICT);
    assert_string_equal(res.err.rule, "stream.expect");
    assert_int_equal(tl_ledger_size(w.l), before);

    /* The same event id with another body. */
    tl_test_envelope(&env, &reg, json);
    tl_event ev;
    tl_error err;
    assert_int_equal(tl_envelope_decode(&ev, env.data, env.len, &err), 0);
    char idhex[33];
    tl_hex_encode(idhex, ev.id, 16);
    tl_event_free(&ev);
    tl_buf_free(&env);
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"type\":\"contract.amended\",\"stream\":\"contract/" CONTRACT "\","
             "\"data\":{\"total_fen\":7,\"tech_fen\":7,\"amended_on\":\"2020-01-01\",\"reason\":\"x\"}}",
             idhex);
    assert_int_equal(tl_test_append(w.l, &reg, json, &res), 0);
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"type\":\"contract.amended\",\"stream\":\"contract/" CONTRACT "\","
             "\"data\":{\"total_fen\":8,\"tech_fen\":8,\"amended_on\":\"2020-01-01\",\"reason\":\"x\"}}",
             idhex);
    before = tl_ledger_size(w.l);
    assert_int_equal(tl_test_append(w.l, &reg, json, &res), TL_ECONFLICT);
    assert_string_equal(res.err.rule, "event.id_reused");
    assert_string_equal(res.err.path, "id");
    assert_int_equal(tl_ledger_size(w.l), before);
    mark_seen(res.err.rule, res.err.path);

    /* A second genesis. */
    reject(&w, ADMIN, "ledger.genesis", "ledger", tl_schema_examples(&(size_t){0})[0].data,
           TL_ECONFLICT, "log.genesis_once", "type");

    /* Stateless rules still hold when the event reaches the ledger: impossible dates, unknown
     * regions, amounts beyond the bound every view relies on to never overflow. */
    contract_json(data, "2020110108000003", "tsinghua", "acme", "");
    char *p = strstr(data, "2020-02-01");
    memcpy(p, "2019-02-29", 10);
    reject(&w, REGISTRY, "contract.registered", "contract/2020110108000003", data, TL_EINVAL,
           "schema.date", "data.signed_on");
    contract_json(data, "2020110108000003", "tsinghua", "acme", "");
    p = strstr(data, "310115");
    memcpy(p, "990000", 6);
    reject(&w, REGISTRY, "contract.registered", "contract/2020110108000003", data, TL_EINVAL,
           "schema.region", "data.buyer_region");
    reject(&w, REGISTRY, "contract.amended", "contract/" CONTRACT,
           "{\"total_fen\":1000000000000001,\"tech_fen\":1,\"amended_on\":\"2020-01-01\",\"reason\":\"x\"}",
           TL_EINVAL, "schema.amount_range", "data.total_fen");
    reject(&w, TSINGHUA, "payment.received", "contract/" CONTRACT,
           "{\"amount_fen\":9223372036854775807,\"received_on\":\"2020-01-01\"}", TL_EINVAL,
           "schema.amount_range", "data.amount_fen");
    reject(&w, REGISTRY, "contract.amended", "contract/" CONTRACT,
           "{\"total_fen\":10,\"tech_fen\":11,\"amended_on\":\"2020-01-01\",\"reason\":\"x\"}",
           TL_EINVAL, "schema.tech_exceeds_total", "data.tech_fen");
    reject(&w, ICBC, "loan.issued", "loan/l2",
           "{\"id\":\"l2\",\"bank\":\"icbc-bj\",\"borrower\":\"icbc-bj\",\"amount_fen\":1,"
           "\"term_months\":1,\"dated\":\"2020-01-01\",\"pool\":\"national-guidance\"}",
           TL_EINVAL, "schema.same_party", "data.borrower");
    reject(&w, REGISTRY, "contract.amended", "contract/2019-11",
           "{\"total_fen\":1,\"tech_fen\":1,\"amended_on\":\"2020-01-01\",\"reason\":\"x\"}", TL_EINVAL,
           "schema.stream", "stream");
    world_destroy(&w);
}

/* ---- Keys and roles ------------------------------------------------------------------------ */

static void test_keys(void **state)
{
    (void)state;
    world w;
    world_create(&w, "rules-keys");
    char data[JSON_BYTES], hex[65], keys[200];

    /* Unknown and revoked keys write nothing. */
    contract_json(data, "2020110108000010", "tsinghua", "acme", "");
    reject(&w, STRANGER, "contract.registered", "contract/2020110108000010", data, TL_EDENIED,
           "auth.unknown_key", "key");
    reject(&w, SPARE, "contract.registered", "contract/2020110108000010", data, TL_EDENIED,
           "auth.key_revoked", "key");

    /* A key belongs to one participant for ever. */
    snprintf(keys, sizeof keys, "\"%s\"", hex_of(hex, REGISTRY));
    participant_json(data, "other-registry", "registry", "\"registry\"", keys);
    reject(&w, ADMIN, "participant.registered", "participant/other-registry", data, TL_ECONFLICT,
           "registry.key_in_use", "data.keys[i]");
    char two[200];
    snprintf(two, sizeof two, "\"%s\",", hex_of(hex, 0x30));
    snprintf(two + strlen(two), sizeof two - strlen(two), "\"%s\"", hex_of(hex, ADMIN));
    participant_json(data, "other-registry", "registry", "\"registry\"", two);
    uint64_t before = tl_ledger_size(w.l);
    tl_append_result res;
    assert_int_equal(append(&w, ADMIN, "participant.registered", "participant/other-registry", data, &res),
                     TL_ECONFLICT);
    assert_string_equal(res.err.rule, "registry.key_in_use");
    assert_string_equal(res.err.path, "data.keys[1]"); /* the genesis admin key */
    assert_int_equal(tl_ledger_size(w.l), before);
    snprintf(data, JSON_BYTES, "{\"key\":\"%s\"}", hex_of(hex, TSINGHUA));
    reject(&w, ADMIN, "participant.key_added", "participant/registry-bj", data, TL_ECONFLICT,
           "registry.key_in_use", "data.key");
    snprintf(data, JSON_BYTES, "{\"key\":\"%s\"}", hex_of(hex, SPARE)); /* revoked: never again */
    reject(&w, ADMIN, "participant.key_added", "participant/registry-bj", data, TL_ECONFLICT,
           "registry.key_in_use", "data.key");

    /* Revocation names a key the participant holds, once. */
    snprintf(data, JSON_BYTES, "{\"key\":\"%s\"}", hex_of(hex, TSINGHUA));
    reject(&w, ADMIN, "participant.key_revoked", "participant/acme", data, TL_EREF,
           "registry.key_not_held", "data.key");
    snprintf(data, JSON_BYTES, "{\"key\":\"%s\"}", hex_of(hex, ADMIN));
    reject(&w, ADMIN, "participant.key_revoked", "participant/registry-bj", data, TL_EREF,
           "registry.key_not_held", "data.key");
    snprintf(data, JSON_BYTES, "{\"key\":\"%s\"}", hex_of(hex, SPARE));
    reject(&w, ADMIN, "participant.key_revoked", "participant/registry-bj", data, TL_ECONFLICT,
           "registry.key_revoked", "data.key");
    snprintf(data, JSON_BYTES, "{\"key\":\"%s\"}", hex_of(hex, 0x31));
    reject(&w, ADMIN, "participant.key_added", "participant/nobody", data, TL_EREF, "entity.unknown",
           "stream");

    /* An added key signs with its participant's roles, until it is revoked. */
    snprintf(data, JSON_BYTES, "{\"key\":\"%s\"}", hex_of(hex, 0x32));
    ok(&w, ADMIN, "participant.key_added", "participant/registry-bj", data);
    contract_json(data, "2020110108000011", "tsinghua", "acme", "");
    ok(&w, 0x32, "contract.registered", "contract/2020110108000011", data);
    snprintf(data, JSON_BYTES, "{\"key\":\"%s\"}", hex_of(hex, 0x32));
    ok(&w, ADMIN, "participant.key_revoked", "participant/registry-bj", data);
    contract_json(data, "2020110108000012", "tsinghua", "acme", "");
    reject(&w, 0x32, "contract.registered", "contract/2020110108000012", data, TL_EDENIED,
           "auth.key_revoked", "key");
    /* The participant's other keys are untouched. */
    ok(&w, REGISTRY, "contract.registered", "contract/2020110108000012", data);

    /* A participant registered with the admin role may do what the genesis key does. */
    snprintf(keys, sizeof keys, "\"%s\"", hex_of(hex, 0x33));
    participant_json(data, "deputy-admin", "government", "\"admin\"", keys);
    ok(&w, ADMIN, "participant.registered", "participant/deputy-admin", data);
    participant_json(data, "new-firm", "enterprise", "", "");
    ok(&w, 0x33, "participant.registered", "participant/new-firm", data);
    world_destroy(&w);
}

static void test_roles_and_signers(void **state)
{
    (void)state;
    world w;
    world_create(&w, "rules-roles");
    char data[JSON_BYTES];

    /* Role-based types: the signer's participant must hold the role. */
    contract_json(data, "2020110108000020", "tsinghua", "acme", "");
    reject(&w, TSINGHUA, "contract.registered", "contract/2020110108000020", data, TL_EDENIED,
           "auth.role", "key");
    reject(&w, ADMIN, "contract.registered", "contract/2020110108000020", data, TL_EDENIED, "auth.role",
           "key");
    reject(&w, ADMIN, "contract.amended", "contract/" CONTRACT,
           "{\"total_fen\":5,\"tech_fen\":5,\"amended_on\":\"2020-01-01\",\"reason\":\"x\"}", TL_EDENIED,
           "auth.role", "key");
    reject(&w, TSINGHUA, "contract.cancelled", "contract/" CONTRACT,
           "{\"cancelled_on\":\"2020-01-01\",\"reason\":\"x\"}", TL_EDENIED, "auth.role", "key");
    participant_json(data, "x-corp", "enterprise", "", "");
    reject(&w, REGISTRY, "participant.registered", "participant/x-corp", data, TL_EDENIED, "auth.role",
           "key");
    reject(&w, KJCG, "programme.institution_designated", "programme/inst-x",
           "{\"id\":\"inst-x\",\"name\":\"x\",\"dated\":\"2020-01-01\"}", TL_EDENIED, "auth.role", "key");
    reject(&w, TSINGHUA, "equity.recorded", "equity/eq-x",
           "{\"id\":\"eq-x\",\"achievement\":\"thu-2019-0042\",\"company\":\"acme\",\"valuation_fen\":1,"
           "\"shares_ppm\":1,\"inventor_share_ppm\":0,\"dated\":\"2020-01-01\"}",
           TL_EDENIED, "auth.role", "key");
    /* A guidance or local fund is the admin's to establish, even by a fund manager. */
    fund_json(data, "guidance-2", "guidance", "kjcg-mgmt", NULL);
    reject(&w, KJCG, "fund.established", "fund/guidance-2", data, TL_EDENIED, "auth.role", "key");
    fund_json(data, "sh-local", "local", "zgc-capital", NULL);
    reject(&w, ZGC, "fund.established", "fund/sh-local", data, TL_EDENIED, "auth.role", "key");
    ok(&w, ADMIN, "fund.established", "fund/sh-local", data);

    /* achievement.registered: a registry, or the owner's own key. */
    const char *ach = "{\"id\":\"ach-x\",\"title\":\"x\",\"owner\":\"tsinghua\",\"field\":\"aerospace\","
                      "\"fiscal_funded\":false,\"confidentiality\":\"commercial_secret\"}";
    reject(&w, ICBC, "achievement.registered", "achievement/ach-x", ach, TL_EDENIED, "auth.owner", "key");
    reject(&w, ADMIN, "achievement.registered", "achievement/ach-x", ach, TL_EDENIED, "auth.owner", "key");
    ok(&w, REGISTRY, "achievement.registered", "achievement/ach-x", ach);

    /* payment.received: a registry, or a key of the seller (not of the buyer or a bank). */
    const char *pay = "{\"amount_fen\":1000,\"received_on\":\"2019-05-01\"}";
    reject(&w, ICBC, "payment.received", "contract/" CONTRACT, pay, TL_EDENIED, "auth.seller", "key");
    reject(&w, ADMIN, "payment.received", "contract/" CONTRACT, pay, TL_EDENIED, "auth.seller", "key");
    ok(&w, REGISTRY, "payment.received", "contract/" CONTRACT, pay);
    ok(&w, TSINGHUA, "payment.received", "contract/" CONTRACT, pay);

    /* A sub-fund is established by the parent's manager, no one else (not even the admin). */
    fund_json(data, "sub-2", "sub_fund", "zgc-capital", "national-guidance");
    reject(&w, ZGC, "fund.established", "fund/sub-2", data, TL_EDENIED, "auth.manager", "key");
    reject(&w, ADMIN, "fund.established", "fund/sub-2", data, TL_EDENIED, "auth.manager", "key");
    ok(&w, KJCG, "fund.established", "fund/sub-2", data);
    /* A sub-fund of a sub-fund: its parent's manager is zgc-capital. */
    fund_json(data, "sub-3", "sub_fund", "kjcg-mgmt", "sub-2");
    reject(&w, KJCG, "fund.established", "fund/sub-3", data, TL_EDENIED, "auth.manager", "key");
    ok(&w, ZGC, "fund.established", "fund/sub-3", data);

    /* Fund flows: only the fund's own manager. */
    const char *commit = "{\"investor\":\"acme\",\"source\":\"social\",\"amount_fen\":100,"
                         "\"dated\":\"2020-02-02\"}";
    reject(&w, KJCG, "fund.committed", "fund/kjcg-sub-bj-1", commit, TL_EDENIED, "auth.manager", "key");
    reject(&w, ADMIN, "fund.called", "fund/kjcg-sub-bj-1", commit, TL_EDENIED, "auth.manager", "key");
    reject(&w, ICBC, "fund.invested", "fund/kjcg-sub-bj-1",
           "{\"investee\":\"acme\",\"amount_fen\":1,\"dated\":\"2020-02-02\",\"qualifying\":false}",
           TL_EDENIED, "auth.manager", "key");
    ok(&w, ZGC, "fund.committed", "fund/kjcg-sub-bj-1", commit);
    ok(&w, KJCG, "fund.committed", "fund/national-guidance",
           "{\"investor\":\"kjcg-mgmt\",\"source\":\"guidance\",\"amount_fen\":100,\"dated\":\"2020-02-02\"}");

    /* Loans: a key of the lending bank; compensation by the pool fund's manager. */
    loan_json(data, "l-3", "icbc-bj", "acme", "national-guidance", 1000, "2020-01-01");
    reject(&w, REGISTRY, "loan.issued", "loan/l-3", data, TL_EDENIED, "auth.bank", "key");
    reject(&w, KJCG, "loan.issued", "loan/l-3", data, TL_EDENIED, "auth.bank", "key");
    ok(&w, ICBC, "loan.issued", "loan/l-3", data);
    loan_json(data, "l-3", "icbc-bj", "acme", "national-guidance", 1000, "2020-06-01");
    reject(&w, KJCG, "loan.defaulted", "loan/l-3", data, TL_EDENIED, "auth.bank", "key");
    ok(&w, ICBC, "loan.defaulted", "loan/l-3", data);
    const char *comp = "{\"amount_fen\":10,\"dated\":\"2020-07-01\"}";
    reject(&w, ZGC, "loan.compensated", "loan/l-3", comp, TL_EDENIED, "auth.manager", "key");
    reject(&w, ICBC, "loan.compensated", "loan/l-3", comp, TL_EDENIED, "auth.manager", "key");
    ok(&w, KJCG, "loan.compensated", "loan/l-3", comp);
    world_destroy(&w);
}

/* ---- References and duplicates --------------------------------------------------------------- */

static void test_references(void **state)
{
    (void)state;
    world w;
    world_create(&w, "rules-refs");
    char data[JSON_BYTES];

    reject(&w, REGISTRY, "achievement.registered", "achievement/ach-y",
           "{\"id\":\"ach-y\",\"title\":\"y\",\"owner\":\"ghost-univ\",\"field\":\"nuclear\","
           "\"fiscal_funded\":true,\"confidentiality\":\"public\"}",
           TL_EREF, "ref.unknown", "data.owner");
    contract_json(data, "2020110108000030", "ghost", "acme", "");
    reject(&w, REGISTRY, "contract.registered", "contract/2020110108000030", data, TL_EREF, "ref.unknown",
           "data.seller");
    contract_json(data, "2020110108000030", "tsinghua", "ghost", "");
    reject(&w, REGISTRY, "contract.registered", "contract/2020110108000030", data, TL_EREF, "ref.unknown",
           "data.buyer");
    contract_json(data, "2020110108000030", "tsinghua", "acme",
                  ",\"achievements\":[\"thu-2019-0042\",\"no-such-ach\"]");
    uint64_t before = tl_ledger_size(w.l);
    tl_append_result res;
    assert_int_equal(append(&w, REGISTRY, "contract.registered", "contract/2020110108000030", data, &res),
                     TL_EREF);
    assert_string_equal(res.err.rule, "ref.unknown");
    assert_string_equal(res.err.path, "data.achievements[1]");
    assert_int_equal(tl_ledger_size(w.l), before);
    mark_seen(res.err.rule, res.err.path);
    /* A participant id is not an achievement, though both are ids. */
    contract_json(data, "2020110108000030", "tsinghua", "acme", ",\"achievements\":[\"tsinghua\"]");
    reject(&w, REGISTRY, "contract.registered", "contract/2020110108000030", data, TL_EREF, "ref.unknown",
           "data.achievements[i]");

    const char *eq = "{\"id\":\"eq-y\",\"achievement\":\"%s\",\"company\":\"%s\",\"valuation_fen\":1,"
                     "\"shares_ppm\":1,\"inventor_share_ppm\":0,\"dated\":\"2020-01-01\"}";
    snprintf(data, JSON_BYTES, eq, "no-such-ach", "acme");
    reject(&w, REGISTRY, "equity.recorded", "equity/eq-y", data, TL_EREF, "ref.unknown", "data.achievement");
    snprintf(data, JSON_BYTES, eq, "thu-2019-0042", "ghost-co");
    reject(&w, REGISTRY, "equity.recorded", "equity/eq-y", data, TL_EREF, "ref.unknown", "data.company");

    fund_json(data, "f-y", "local", "ghost-gp", NULL);
    reject(&w, ADMIN, "fund.established", "fund/f-y", data, TL_EREF, "ref.unknown", "data.manager");
    fund_json(data, "f-y", "local", "acme", NULL); /* acme holds no fund_manager role */
    reject(&w, ADMIN, "fund.established", "fund/f-y", data, TL_EREF, "ref.role", "data.manager");
    fund_json(data, "f-y", "local", "icbc-bj", NULL); /* a bank is not a fund manager either */
    reject(&w, ADMIN, "fund.established", "fund/f-y", data, TL_EREF, "ref.role", "data.manager");
    fund_json(data, "f-y", "sub_fund", "zgc-capital", "ghost-fund");
    reject(&w, KJCG, "fund.established", "fund/f-y", data, TL_EREF, "ref.unknown", "data.parent");
    fund_json(data, "f-y", "sub_fund", "zgc-capital", "acme"); /* a participant, not a fund */
    reject(&w, KJCG, "fund.established", "fund/f-y", data, TL_EREF, "ref.unknown", "data.parent");
    fund_json(data, "f-y", "local", "zgc-capital", "ghost-fund");
    reject(&w, ADMIN, "fund.established", "fund/f-y", data, TL_EREF, "ref.unknown", "data.parent");

    /* Investors may be participants or funds; investees are participants. */
    reject(&w, ZGC, "fund.committed", "fund/kjcg-sub-bj-1",
           "{\"investor\":\"ghost\",\"source\":\"social\",\"amount_fen\":1,\"dated\":\"2020-01-01\"}",
           TL_EREF, "ref.unknown", "data.investor");
    reject(&w, ZGC, "fund.called", "fund/kjcg-sub-bj-1",
           "{\"investor\":\"ghost\",\"source\":\"social\",\"amount_fen\":1,\"dated\":\"2020-01-01\"}",
           TL_EREF, "ref.unknown", "data.investor");
    ok(&w, ZGC, "fund.called", "fund/kjcg-sub-bj-1",
           "{\"investor\":\"icbc-bj\",\"source\":\"bank\",\"amount_fen\":1,\"dated\":\"2020-01-01\"}");
    reject(&w, ZGC, "fund.invested", "fund/kjcg-sub-bj-1",
           "{\"investee\":\"national-guidance\",\"amount_fen\":1,\"dated\":\"2020-01-01\",\"qualifying\":true}",
           TL_EREF, "ref.unknown", "data.investee");

    /* Loans: a bank that exists and holds the role, a borrower, a pool fund. */
    loan_json(data, "l-y", "ghost-bank", "acme", "national-guidance", 1, "2020-01-01");
    reject(&w, ICBC, "loan.issued", "loan/l-y", data, TL_EREF, "ref.unknown", "data.bank");
    loan_json(data, "l-y", "tsinghua", "acme", "national-guidance", 1, "2020-01-01");
    reject(&w, TSINGHUA, "loan.issued", "loan/l-y", data, TL_EREF, "ref.role", "data.bank");
    loan_json(data, "l-y", "icbc-bj", "ghost", "national-guidance", 1, "2020-01-01");
    reject(&w, ICBC, "loan.issued", "loan/l-y", data, TL_EREF, "ref.unknown", "data.borrower");
    loan_json(data, "l-y", "icbc-bj", "acme", "ghost-pool", 1, "2020-01-01");
    reject(&w, ICBC, "loan.issued", "loan/l-y", data, TL_EREF, "ref.unknown", "data.pool");

    /* Events on entities that are not in the log. */
    reject(&w, REGISTRY, "contract.amended", "contract/2020999999999999",
           "{\"total_fen\":1,\"tech_fen\":1,\"amended_on\":\"2020-01-01\",\"reason\":\"x\"}", TL_EREF,
           "entity.unknown", "stream");
    reject(&w, REGISTRY, "payment.received", "contract/2020999999999999",
           "{\"amount_fen\":1,\"received_on\":\"2020-01-01\"}", TL_EREF, "entity.unknown", "stream");
    reject(&w, ZGC, "fund.committed", "fund/ghost-fund",
           "{\"investor\":\"acme\",\"source\":\"social\",\"amount_fen\":1,\"dated\":\"2020-01-01\"}",
           TL_EREF, "entity.unknown", "stream");
    loan_json(data, "ghost-loan", "icbc-bj", "acme", "national-guidance", 1, "2020-01-01");
    reject(&w, ICBC, "loan.defaulted", "loan/ghost-loan", data, TL_EREF, "entity.unknown", "stream");
    reject(&w, KJCG, "loan.compensated", "loan/ghost-loan", "{\"amount_fen\":1,\"dated\":\"2020-01-01\"}",
           TL_EREF, "entity.unknown", "stream");
    world_destroy(&w);
}

static void test_duplicate_registrations(void **state)
{
    (void)state;
    world w;
    world_create(&w, "rules-dups");
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    /* Every creating example a second time (with a fresh event id): refused, nothing written. */
    int creating = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        const tl_event_spec *spec = tl_schema_for_type(ex[i].type, strlen(ex[i].type));
        bool creates = spec->stream_field != NULL && spec->id != TL_EV_LOAN_DEFAULTED;
        if (!creates)
            continue;
        const char *data = ex[i].data;
        char fresh_keys[JSON_BYTES];
        if (spec->id == TL_EV_PARTICIPANT_REGISTERED) {
            /* Same id with keys of its own, so the duplicate id is what fails. */
            const char *k = strstr(data, "\"keys\":[");
            assert_non_null(k);
            const char *end = strchr(k, ']');
            snprintf(fresh_keys, sizeof fresh_keys, "%.*s\"keys\":[]%s", (int)(k - data), data, end + 1);
            data = fresh_keys;
        }
        reject(&w, ex[i].seed, ex[i].type, ex[i].stream, data, TL_ECONFLICT, "entity.exists", "stream");
        creating++;
    }
    assert_true(creating >= 9);
    world_destroy(&w);
}

/* ---- Domain state: cancelled contracts, dates, loans ------------------------------------------ */

static void test_contract_state(void **state)
{
    (void)state;
    world w;
    world_create(&w, "rules-contract");
    const char *amend = "{\"total_fen\":5,\"tech_fen\":5,\"amended_on\":\"%s\",\"reason\":\"x\"}";
    char data[JSON_BYTES];

    /* Dates follow the registration: no amendment or cancellation before it, no payment before
     * the contract was signed. */
    snprintf(data, JSON_BYTES, amend, "2019-03-14");
    reject(&w, REGISTRY, "contract.amended", "contract/" CONTRACT, data, TL_ECONFLICT, "date.order",
           "data.amended_on");
    snprintf(data, JSON_BYTES, amend, "2019-03-15");
    ok(&w, REGISTRY, "contract.amended", "contract/" CONTRACT, data);
    reject(&w, REGISTRY, "contract.cancelled", "contract/" CONTRACT,
           "{\"cancelled_on\":\"2018-12-31\",\"reason\":\"x\"}", TL_ECONFLICT, "date.order",
           "data.cancelled_on");
    reject(&w, TSINGHUA, "payment.received", "contract/" CONTRACT,
           "{\"amount_fen\":1,\"received_on\":\"2019-02-28\"}", TL_ECONFLICT, "date.order",
           "data.received_on");
    ok(&w, TSINGHUA, "payment.received", "contract/" CONTRACT,
           "{\"amount_fen\":1,\"received_on\":\"2019-03-01\"}");

    /* Cancelled: no amendment, second cancellation or payment afterwards, whoever signs. */
    ok(&w, REGISTRY, "contract.cancelled", "contract/" CONTRACT,
           "{\"cancelled_on\":\"2020-12-31\",\"reason\":\"void\"}");
    snprintf(data, JSON_BYTES, amend, "2021-01-01");
    reject(&w, REGISTRY, "contract.amended", "contract/" CONTRACT, data, TL_ESTATE, "contract.cancelled",
           "stream");
    reject(&w, REGISTRY, "contract.cancelled", "contract/" CONTRACT,
           "{\"cancelled_on\":\"2021-01-01\",\"reason\":\"again\"}", TL_ESTATE, "contract.cancelled", "stream");
    reject(&w, TSINGHUA, "payment.received", "contract/" CONTRACT,
           "{\"amount_fen\":1,\"received_on\":\"2021-01-01\"}", TL_ESTATE, "contract.cancelled", "stream");
    reject(&w, REGISTRY, "payment.received", "contract/" CONTRACT,
           "{\"amount_fen\":1,\"received_on\":\"2021-01-01\"}", TL_ESTATE, "contract.cancelled", "stream");
    /* The cancellation is per contract: another one takes events as before. */
    contract_json(data, "2020110108000040", "tsinghua", "acme", "");
    ok(&w, REGISTRY, "contract.registered", "contract/2020110108000040", data);
    ok(&w, REGISTRY, "payment.received", "contract/2020110108000040",
           "{\"amount_fen\":2000000,\"received_on\":\"2020-03-01\"}");
    world_destroy(&w);
}

static void test_loan_state(void **state)
{
    (void)state;
    world w;
    world_create(&w, "rules-loans");
    char data[JSON_BYTES];

    /* A default restates the loan as issued and comes once, after the issue. */
    loan_json(data, LOAN, "icbc-bj", "acme", "national-guidance", 1, "2022-01-01");
    reject(&w, ICBC, "loan.defaulted", "loan/" LOAN, data, TL_ESTATE, "loan.defaulted", "stream");

    loan_json(data, "l-4", "icbc-bj", "acme", "national-guidance", 1000, "2020-05-01");
    ok(&w, ICBC, "loan.issued", "loan/l-4", data);
    /* Compensation covers defaults only. */
    reject(&w, KJCG, "loan.compensated", "loan/l-4", "{\"amount_fen\":1,\"dated\":\"2020-06-01\"}",
           TL_ESTATE, "loan.not_defaulted", "stream");
    /* The issuing bank is the only one that can record its default, and with its own data. */
    char ccb_keys[100], hex[65];
    snprintf(ccb_keys, sizeof ccb_keys, "\"%s\"", hex_of(hex, 0x40));
    char p[JSON_BYTES];
    participant_json(p, "ccb-sh", "bank", "\"bank\"", ccb_keys);
    ok(&w, ADMIN, "participant.registered", "participant/ccb-sh", p);
    loan_json(data, "l-4", "ccb-sh", "acme", "national-guidance", 500, "2020-09-01");
    reject(&w, 0x40, "loan.defaulted", "loan/l-4", data, TL_EDENIED, "auth.bank", "key");
    reject(&w, ICBC, "loan.defaulted", "loan/l-4", data, TL_ECONFLICT, "loan.mismatch", "data.bank");
    loan_json(data, "l-4", "icbc-bj", "tsinghua", "national-guidance", 500, "2020-09-01");
    reject(&w, ICBC, "loan.defaulted", "loan/l-4", data, TL_ECONFLICT, "loan.mismatch", "data.borrower");
    loan_json(data, "l-4", "icbc-bj", "acme", "kjcg-sub-bj-1", 500, "2020-09-01");
    reject(&w, ICBC, "loan.defaulted", "loan/l-4", data, TL_ECONFLICT, "loan.mismatch", "data.pool");
    loan_json(data, "l-4", "icbc-bj", "acme", "national-guidance", 1001, "2020-09-01");
    reject(&w, ICBC, "loan.defaulted", "loan/l-4", data, TL_ECONFLICT, "loan.amount", "data.amount_fen");
    loan_json(data, "l-4", "icbc-bj", "acme", "national-guidance", 500, "2020-04-30");
    reject(&w, ICBC, "loan.defaulted", "loan/l-4", data, TL_ECONFLICT, "date.order", "data.dated");
    loan_json(data, "l-4", "icbc-bj", "acme", "national-guidance", 500, "2020-09-01");
    ok(&w, ICBC, "loan.defaulted", "loan/l-4", data);

    /* Compensation: after the default, and never more in total than the amount in default
     * (cumulative sums of amounts cannot run away). */
    reject(&w, KJCG, "loan.compensated", "loan/l-4", "{\"amount_fen\":1,\"dated\":\"2020-08-31\"}",
           TL_ECONFLICT, "date.order", "data.dated");
    reject(&w, KJCG, "loan.compensated", "loan/l-4", "{\"amount_fen\":501,\"dated\":\"2020-09-01\"}",
           TL_ECONFLICT, "loan.overcompensated", "data.amount_fen");
    ok(&w, KJCG, "loan.compensated", "loan/l-4", "{\"amount_fen\":300,\"dated\":\"2020-10-01\"}");
    ok(&w, KJCG, "loan.compensated", "loan/l-4", "{\"amount_fen\":200,\"dated\":\"2021-01-01\"}");
    reject(&w, KJCG, "loan.compensated", "loan/l-4", "{\"amount_fen\":1,\"dated\":\"2021-01-02\"}",
           TL_ECONFLICT, "loan.overcompensated", "data.amount_fen");
    reject(&w, KJCG, "loan.compensated", "loan/l-4",
           "{\"amount_fen\":1000000000000000,\"dated\":\"2021-01-02\"}", TL_ECONFLICT,
           "loan.overcompensated", "data.amount_fen");
    /* The 2% cap is a finding of the loans view, not a rejection: the example loan's
     * compensation is far above 2% of icbc-bj's lending and was accepted. */
    world_destroy(&w);
}

/* Guidance-fund rules are findings, never rejections. */
static void test_guidance_rules_not_enforced(void **state)
{
    (void)state;
    world w;
    world_create(&w, "rules-findings");
    /* Guidance money at 90% of the sub-fund, as its largest investor, with no qualifying
     * investment at all: every floor broken, every event accepted. */
    ok(&w, ZGC, "fund.committed", "fund/kjcg-sub-bj-1",
           "{\"investor\":\"national-guidance\",\"source\":\"guidance\",\"amount_fen\":90000000000,"
           "\"dated\":\"2020-02-01\"}");
    ok(&w, ZGC, "fund.invested", "fund/kjcg-sub-bj-1",
           "{\"investee\":\"acme\",\"amount_fen\":100000000000,\"dated\":\"2020-08-01\","
           "\"qualifying\":false}");
    /* Payments above the registered amount are for the auditors' reconciliation. */
    ok(&w, TSINGHUA, "payment.received", "contract/" CONTRACT,
           "{\"amount_fen\":999999999999,\"received_on\":\"2020-01-01\"}");
    world_destroy(&w);
}

/* ---- The generated documentation ------------------------------------------------------- */

/* Runs a command and returns its standard output (malloc'd) and exit status. */
static char *run(const char *cmd, int *status)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 1024) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[len] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* docs/events.md is exactly what `techledger schema --markdown` prints now. */
static void test_events_doc_current(void **state)
{
    (void)state;
    int status;
    char *generated = run("'" TL_TECHLEDGER_BIN "' schema --markdown", &status);
    assert_int_equal(status, 0);
    char *doc = read_file(TL_SOURCE_DIR "/docs/events.md");
    if (doc == NULL)
        fail_msg("docs/events.md is missing: run build/techledger schema --markdown > docs/events.md");
    if (strcmp(generated, doc) != 0) {
        size_t line = 1, i = 0;
        for (; generated[i] != '\0' && generated[i] == doc[i]; i++)
            line += generated[i] == '\n';
        free(generated);
        free(doc);
        fail_msg("docs/events.md differs from `techledger schema --markdown` from line %zu on; "
                 "regenerate it: build/techledger schema --markdown > docs/events.md",
                 line);
    }
    /* Every type has its section and every rule of the table is documented. */
    for (int t = 0; t < TL_EV_COUNT; t++) {
        char head[128];
        snprintf(head, sizeof head, "\n### `%s`\n", tl_schema_event((tl_event_type)t)->type);
        assert_non_null(strstr(doc, head));
    }
    size_t n;
    const tl_rule_doc *rules = tl_rules_doc(&n);
    for (size_t i = 0; i < n; i++) {
        char row[256];
        snprintf(row, sizeof row, "| `%s` | `%s` |", rules[i].rule, rules[i].path);
        if (strstr(doc, row) == NULL)
            fail_msg("rule %s at %s is not documented", rules[i].rule, rules[i].path);
    }
    free(generated);
    free(doc);
}

static void test_schema_command(void **state)
{
    (void)state;
    int status;
    char *out = run("'" TL_TECHLEDGER_BIN "' schema", &status);
    assert_int_equal(status, 0);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    if (root == NULL)
        fail_msg("schema JSON does not parse: %s", jerr.text);
    json_t *types = json_object_get(root, "types");
    assert_int_equal(json_array_size(types), TL_EV_COUNT);
    json_t *contract = json_array_get(types, TL_EV_CONTRACT_REGISTERED);
    assert_string_equal(json_string_value(json_object_get(contract, "type")), "contract.registered");
    json_t *example = json_object_get(contract, "example");
    assert_non_null(json_object_get(example, "body_hex"));
    assert_int_equal(strlen(json_string_value(json_object_get(example, "sig_hex"))), 128);
    json_decref(root);
    free(out);

    /* One type only; an unknown type and an unknown option are usage errors. */
    out = run("'" TL_TECHLEDGER_BIN "' schema loan.issued", &status);
    assert_int_equal(status, 0);
    root = json_loads(out, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "types")), 1);
    json_decref(root);
    free(out);
    out = run("'" TL_TECHLEDGER_BIN "' schema contract.signed 2>&1", &status);
    assert_int_equal(status, 2);
    assert_non_null(strstr(out, "schema.type"));
    free(out);
    out = run("'" TL_TECHLEDGER_BIN "' schema --yaml 2>&1", &status);
    assert_int_equal(status, 2);
    free(out);
    out = run("'" TL_TECHLEDGER_BIN "' schema --help", &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "usage: techledger schema"));
    free(out);
}

/* Runs last: every (rule, path) of the table has been made to fail by a test above. */
static void test_every_rule_covered(void **state)
{
    (void)state;
    size_t n;
    const tl_rule_doc *rules = tl_rules_doc(&n);
    assert_true(n > 0);
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(rules[i].text);
        assert_true(rules[i].types != 0);
        if (!was_seen(rules[i].rule, rules[i].path)) {
            print_error("rule %s at %s has no test\n", rules[i].rule, rules[i].path);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

/* A body map with the given keys in the given (already sorted) order; each value is of the
 * type body_fields expects for that name, so only the key set varies. */
static void body_with_keys(tl_buf *out, const char *const *keys, size_t n)
{
    tl_mp_writer w;
    tl_buf_reset(out);
    tl_mp_writer_init(&w, out);
    tl_mp_map(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        tl_mp_key(&w, keys[i]);
        if (strcmp(keys[i], "data") == 0)
            tl_mp_map(&w, 0);
        else if (strcmp(keys[i], "id") == 0)
            tl_mp_bin(&w, "0123456789abcdef", 16);
        else if (strcmp(keys[i], "stream") == 0)
            tl_mp_str(&w, "fund/f1");
        else if (strcmp(keys[i], "type") == 0)
            tl_mp_str(&w, "fund.established");
        else
            tl_mp_uint(&w, 7);
    }
    assert_int_equal(w.failed, 0);
}

/* The body's fields are matched in one walk over its sorted keys: every known field is found
 * wherever it sits, and an unknown key (before, between or after the known ones, or a prefix
 * of one) is named. The borrowing variant gives the same event from the caller's bytes and
 * node array, and falls back to allocating when the array is too small. */
static void test_body_fields(void **state)
{
    (void)state;
    static const uint8_t key[32], sig[64];
    tl_buf b;
    tl_buf_init(&b);
    tl_error err;
    tl_event ev;
    static const char *const full[] = {"data", "expect", "id", "stream", "time", "type"};
    body_with_keys(&b, full, 6);
    assert_int_equal(tl_event_from_parts(&ev, b.data, b.len, key, sig, &err), 0);
    assert_true(ev.has_expect);
    assert_int_equal(ev.expect, 7);
    assert_int_equal(ev.time_ms, 7);
    assert_string_equal(ev.stream, "fund/f1");
    assert_string_equal(ev.type, "fund.established");
    assert_memory_equal(ev.id, "0123456789abcdef", 16);
    assert_int_equal(ev.doc.nodes[ev.data].type, TL_MP_MAP);
    uint32_t nodes_owned = ev.doc.count;
    tl_event_free(&ev);

    tl_mp_node nodes[64];
    assert_int_equal(tl_event_borrow_parts(&ev, b.data, b.len, key, sig, nodes, 64, &err), 0);
    assert_ptr_equal(ev.body, b.data);
    assert_ptr_equal(ev.doc.nodes, nodes);
    assert_true(ev.doc.borrowed);
    assert_int_equal(ev.doc.count, nodes_owned);
    assert_int_equal(ev.expect, 7);
    assert_string_equal(ev.type, "fund.established");
    tl_event_free(&ev);
    assert_int_equal(tl_event_borrow_parts(&ev, b.data, b.len, key, sig, nodes, 3, &err), 0);
    assert_false(ev.doc.borrowed); /* outgrew the 3 nodes: allocated, freed by tl_event_free */
    assert_string_equal(ev.stream, "fund/f1");
    tl_event_free(&ev);
    assert_int_equal(tl_event_borrow_parts(&ev, b.data, b.len, key, sig, NULL, 0, &err), 0);
    assert_int_equal(ev.time_ms, 7);
    tl_event_free(&ev);

    static const char *const no_expect[] = {"data", "id", "stream", "time", "type"};
    body_with_keys(&b, no_expect, 5);
    assert_int_equal(tl_event_from_parts(&ev, b.data, b.len, key, sig, &err), 0);
    assert_false(ev.has_expect);
    tl_event_free(&ev);

    static const struct {
        const char *keys[7];
        size_t n;
        const char *rule, *path, *message;
    } bad[] = {
        {{"a", "data", "id", "stream", "time", "type"}, 6, "body.unknown_field", "", "unknown body field 'a'"},
        {{"data", "expect", "f", "id", "stream", "time", "type"}, 7, "body.unknown_field", "",
         "unknown body field 'f'"},
        {{"data", "id", "stream", "time", "type", "zz"}, 6, "body.unknown_field", "", "unknown body field 'zz'"},
        {{"dat", "id", "stream", "time", "type"}, 5, "body.unknown_field", "", "unknown body field 'dat'"},
        {{"data", "id", "stream", "time", "typ"}, 5, "body.unknown_field", "", "unknown body field 'typ'"},
        {{"data", "stream", "time", "type"}, 4, "body.required", "id", "the body has no id"},
        {{"id", "stream", "time", "type"}, 4, "body.required", "data", "the body has no data"},
        {{"data", "id", "stream", "time"}, 4, "body.required", "type", "the body has no type"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body_with_keys(&b, bad[i].keys, bad[i].n);
        for (int borrow = 0; borrow < 2; borrow++) {
            tl_error_clear(&err);
            int rc = borrow ? tl_event_borrow_parts(&ev, b.data, b.len, key, sig, nodes, 64, &err)
                            : tl_event_from_parts(&ev, b.data, b.len, key, sig, &err);
            assert_int_equal(rc, TL_EINVAL);
            assert_string_equal(err.rule, bad[i].rule);
            assert_string_equal(err.path, bad[i].path);
            assert_string_equal(err.msg, bad[i].message);
            assert_null(ev.body);
        }
    }
    tl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_every_type),
        cmocka_unit_test(test_replay_in_memory_and_read_cost),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_roles_and_signers),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_duplicate_registrations),
        cmocka_unit_test(test_contract_state),
        cmocka_unit_test(test_contract_older_layout),
        cmocka_unit_test(test_loan_state),
        cmocka_unit_test(test_guidance_rules_not_enforced),
        cmocka_unit_test(test_events_doc_current),
        cmocka_unit_test(test_schema_command),
        cmocka_unit_test(test_body_fields),
        cmocka_unit_test(test_every_rule_covered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
