/*
 * The event catalogue: one valid example per event type, and for every rule an example that
 * breaks it, checked for the rule name and the path it reports.
 *
 * Bodies are written with the canonical writer (keys sorted here), parsed with tl_mp_parse
 * and checked with tl_schema_check_body and tl_schema_check, exactly as the ledger does.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_domain.h"
#include "tl_mp.h"
#include "tl_schema.h"

/* ---- A tiny event builder ---------------------------------------------------------------- */

enum { V_STR, V_UINT, V_INT, V_BOOL, V_BIN, V_STRS, V_BINS, V_MAP };

#define FIELDS_MAX 24
#define ELEMS_MAX 40

typedef struct fv {
    char key[64];
    int kind;
    char s[1024];     /* V_STR */
    size_t s_len;
    uint64_t u;       /* V_UINT, V_BOOL; V_BIN and V_BINS: fill byte */
    int64_t i;        /* V_INT */
    size_t n;         /* V_BIN: length; V_STRS/V_BINS: element count */
    const char *strs[ELEMS_MAX];
    uint8_t fills[ELEMS_MAX];
} fv;

typedef struct draft {
    char type[64];
    char stream[256];
    fv f[FIELDS_MAX];
    size_t n;
    bool data_not_map; /* write data as a str instead of a map */
} draft;

static fv *slot(draft *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->f[i].key, key) == 0) {
            memset(&d->f[i], 0, sizeof d->f[i]);
            snprintf(d->f[i].key, sizeof d->f[i].key, "%s", key);
            return &d->f[i];
        }
    assert_true(d->n < FIELDS_MAX);
    fv *f = &d->f[d->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->key, sizeof f->key, "%s", key);
    return f;
}

static void put_strn(draft *d, const char *key, const char *s, size_t len)
{
    fv *f = slot(d, key);
    assert_true(len < sizeof f->s);
    f->kind = V_STR;
    memcpy(f->s, s, len);
    f->s_len = len;
}
static void put_str(draft *d, const char *key, const char *s) { put_strn(d, key, s, strlen(s)); }
static void put_uint(draft *d, const char *key, uint64_t u)
{
    fv *f = slot(d, key);
    f->kind = V_UINT;
    f->u = u;
}
static void put_int(draft *d, const char *key, int64_t i)
{
    fv *f = slot(d, key);
    f->kind = V_INT;
    f->i = i;
}
static void put_bool(draft *d, const char *key, bool b)
{
    fv *f = slot(d, key);
    f->kind = V_BOOL;
    f->u = b;
}
static void put_bin(draft *d, const char *key, uint8_t fill, size_t len)
{
    fv *f = slot(d, key);
    f->kind = V_BIN;
    f->u = fill;
    f->n = len;
}
static void put_map(draft *d, const char *key)
{
    fv *f = slot(d, key);
    f->kind = V_MAP;
}
static void put_strs(draft *d, const char *key, size_t n, const char *const *strs)
{
    fv *f = slot(d, key);
    assert_true(n <= ELEMS_MAX);
    f->kind = V_STRS;
    f->n = n;
    for (size_t i = 0; i < n; i++)
        f->strs[i] = strs[i];
}
/* An array of n 32-byte keys, key k filled with the byte fills[k] (or k + 1 when NULL). */
static void put_keys(draft *d, const char *key, size_t n, const uint8_t *fills)
{
    fv *f = slot(d, key);
    assert_true(n <= ELEMS_MAX);
    f->kind = V_BINS;
    f->n = n;
    for (size_t i = 0; i < n; i++)
        f->fills[i] = fills != NULL ? fills[i] : (uint8_t)(i + 1);
}
static void del(draft *d, const char *key)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->f[i].key, key) == 0) {
            d->f[i] = d->f[--d->n];
            return;
        }
    fail_msg("no field %s to delete", key);
}

static int key_order(const void *a, const void *b)
{
    /* Canonical order: bytewise, a prefix first, which is what strcmp gives for keys without
     * NUL bytes. */
    return strcmp(((const fv *)a)->key, ((const fv *)b)->key);
}

static void write_value(tl_mp_writer *w, const fv *f)
{
    uint8_t bytes[64];
    switch (f->kind) {
    case V_STR: tl_mp_strn(w, f->s, f->s_len); break;
    case V_UINT: tl_mp_uint(w, f->u); break;
    case V_INT: msgpack_pack_int64(&w->pk, f->i); break;
    case V_BOOL: tl_mp_bool(w, f->u != 0); break;
    case V_BIN:
        assert_true(f->n <= sizeof bytes);
        memset(bytes, (int)f->u, f->n);
        tl_mp_bin(w, bytes, f->n);
        break;
    case V_STRS:
        tl_mp_array(w, (uint32_t)f->n);
        for (size_t i = 0; i < f->n; i++)
            tl_mp_str(w, f->strs[i]);
        break;
    case V_BINS:
        tl_mp_array(w, (uint32_t)f->n);
        for (size_t i = 0; i < f->n; i++) {
            memset(bytes, f->fills[i], 32);
            tl_mp_bin(w, bytes, 32);
        }
        break;
    case V_MAP: tl_mp_map(w, 0); break;
    default: fail_msg("bad kind");
    }
}

/* Encodes the body canonically, parses it back and runs both entry points, which must agree. */
static int run(const draft *d0, tl_error *err)
{
    draft d = *d0;
    qsort(d.f, d.n, sizeof d.f[0], key_order);
    tl_buf buf;
    tl_buf_init(&buf);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &buf);
    tl_mp_map(&w, 5);
    tl_mp_key(&w, "data");
    if (d.data_not_map) {
        tl_mp_str(&w, "oops");
    } else {
        tl_mp_map(&w, (uint32_t)d.n);
        for (size_t i = 0; i < d.n; i++) {
            tl_mp_key(&w, d.f[i].key);
            write_value(&w, &d.f[i]);
        }
    }
    static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    tl_mp_key(&w, "id");
    tl_mp_bin(&w, id, sizeof id);
    tl_mp_key(&w, "stream");
    tl_mp_str(&w, d.stream);
    tl_mp_key(&w, "time");
    tl_mp_uint(&w, 1577836800000ull);
    tl_mp_key(&w, "type");
    tl_mp_str(&w, d.type);
    assert_int_equal(w.failed, 0);

    tl_mp_doc doc;
    tl_error perr;
    int prc = tl_mp_parse(&doc, buf.data, buf.len, NULL, &perr);
    if (prc != 0)
        fail_msg("test body is not canonical: %s at %s: %s", perr.rule, perr.path, perr.msg);

    tl_error_clear(err);
    int rc = tl_schema_check_body(&doc, err);

    tl_error err2;
    tl_error_clear(&err2);
    uint32_t data = tl_mp_map_get(&doc, 0, "data");
    int rc2 = tl_schema_check(&doc, data, d.type, strlen(d.type), d.stream, strlen(d.stream), &err2);
    assert_int_equal(rc, rc2);
    assert_string_equal(err->rule, err2.rule);
    assert_string_equal(err->path, err2.path);
    if (rc != 0) {
        assert_int_equal(rc, TL_EINVAL);
        assert_int_equal(err->code, TL_EINVAL);
        assert_true(err->msg[0] != '\0');
    }
    tl_mp_doc_free(&doc);
    tl_buf_free(&buf);
    return rc;
}

#define ACCEPT(d)                                                                            \
    do {                                                                                     \
        tl_error e_;                                                                         \
        if (run((d), &e_) != 0)                                                              \
            fail_msg("%s rejected: %s at %s: %s", (d)->type, e_.rule, e_.path, e_.msg);      \
    } while (0)

#define REJECT(d, want_rule, want_path)                                                      \
    do {                                                                                     \
        tl_error e_;                                                                         \
        if (run((d), &e_) == 0)                                                              \
            fail_msg("%s accepted; expected %s at %s", (d)->type, want_rule, want_path);    \
        if (strcmp(e_.rule, want_rule) != 0 || strcmp(e_.path, want_path) != 0)              \
            fail_msg("%s: got %s at %s (%s); expected %s at %s", (d)->type, e_.rule, e_.path, \
                     e_.msg, want_rule, want_path);                                          \
    } while (0)

/* ---- Valid examples, one per type -------------------------------------------------------- */

static const char *const ROLES[] = {"admin", "registry"};
static const char *const ACHS[] = {"thu-2019-0001", "thu-2019-0002"};

static void example(draft *d, tl_event_type t)
{
    memset(d, 0, sizeof *d);
    const tl_event_spec *spec = tl_schema_event(t);
    assert_non_null(spec);
    snprintf(d->type, sizeof d->type, "%s", spec->type);
    switch (t) {
    case TL_EV_LEDGER_GENESIS:
        snprintf(d->stream, sizeof d->stream, "ledger");
        put_str(d, "origin", "techledger.example/national");
        put_bin(d, "admin", 0xaa, 32);
        break;
    case TL_EV_PARTICIPANT_REGISTERED:
        snprintf(d->stream, sizeof d->stream, "participant/tsinghua");
        put_str(d, "id", "tsinghua");
        put_str(d, "name", "清华大学");
        put_str(d, "kind", "university");
        put_str(d, "region", "110108");
        put_strs(d, "roles", 2, ROLES);
        put_keys(d, "keys", 2, NULL);
        {
            char code[19];
            memcpy(code, "12100000400000624", 17);
            code[17] = tl_credit_code_check_char(code);
            code[18] = '\0';
            put_str(d, "credit_code", code);
        }
        break;
    case TL_EV_PARTICIPANT_KEY_ADDED:
    case TL_EV_PARTICIPANT_KEY_REVOKED:
        snprintf(d->stream, sizeof d->stream, "participant/tsinghua");
        put_bin(d, "key", 0x33, 32);
        break;
    case TL_EV_ACHIEVEMENT_REGISTERED:
        snprintf(d->stream, sizeof d->stream, "achievement/thu-2019-0001");
        put_str(d, "id", "thu-2019-0001");
        put_str(d, "title", "高效钙钛矿太阳能电池");
        put_str(d, "owner", "tsinghua");
        put_str(d, "field", "new_energy");
        put_bool(d, "fiscal_funded", true);
        put_str(d, "confidentiality", "public");
        put_str(d, "ip", "CN201910123456.7");
        break;
    case TL_EV_CONTRACT_REGISTERED:
        snprintf(d->stream, sizeof d->stream, "contract/2019110108000123");
        put_str(d, "reg_no", "2019110108000123");
        put_str(d, "class", "license");
        put_str(d, "subtype", "patent_license");
        put_str(d, "seller", "tsinghua");
        put_str(d, "buyer", "catl");
        put_str(d, "seller_region", "110108");
        put_str(d, "buyer_region", "350902");
        put_str(d, "field", "new_energy");
        put_str(d, "signed_on", "2019-03-01");
        put_str(d, "registered_on", "2019-03-15");
        put_uint(d, "total_fen", 12000000000ull); /* 1.2亿元 */
        put_uint(d, "tech_fen", 10000000000ull);
        put_strs(d, "achievements", 2, ACHS);
        put_str(d, "confidentiality", "commercial_secret");
        put_str(d, "title", "钙钛矿电池专利实施许可");
        break;
    case TL_EV_CONTRACT_AMENDED:
        snprintf(d->stream, sizeof d->stream, "contract/2019110108000123");
        put_uint(d, "total_fen", 15000000000ull);
        put_uint(d, "tech_fen", 12000000000ull);
        put_str(d, "amended_on", "2020-06-30");
        put_str(d, "reason", "补充协议增加许可地域");
        break;
    case TL_EV_CONTRACT_CANCELLED:
        snprintf(d->stream, sizeof d->stream, "contract/2019110108000123");
        put_str(d, "cancelled_on", "2021-01-05");
        put_str(d, "reason", "registered twice");
        break;
    case TL_EV_PAYMENT_RECEIVED:
        snprintf(d->stream, sizeof d->stream, "contract/2019110108000123");
        put_uint(d, "amount_fen", 3000000000ull);
        put_str(d, "received_on", "2019-04-01");
        break;
    case TL_EV_EQUITY_RECORDED:
        snprintf(d->stream, sizeof d->stream, "equity/thu-eq-7");
        put_str(d, "id", "thu-eq-7");
        put_str(d, "achievement", "thu-2019-0001");
        put_str(d, "company", "perovskite-co");
        put_uint(d, "valuation_fen", 5000000000ull);
        put_uint(d, "shares_ppm", 250000);
        put_uint(d, "inventor_share_ppm", 700000);
        put_str(d, "dated", "2019-08-08");
        break;
    case TL_EV_FUND_ESTABLISHED:
        snprintf(d->stream, sizeof d->stream, "fund/nstf-sub-1");
        put_str(d, "id", "nstf-sub-1");
        put_str(d, "name", "国家科技成果转化引导基金 某子基金");
        put_str(d, "kind", "sub_fund");
        put_str(d, "level", "national");
        put_str(d, "region", "310000");
        put_str(d, "manager", "sh-capital");
        put_str(d, "parent", "nstf");
        put_uint(d, "size_fen", 200000000000ull);
        break;
    case TL_EV_FUND_COMMITTED:
    case TL_EV_FUND_CALLED:
        snprintf(d->stream, sizeof d->stream, "fund/nstf-sub-1");
        put_str(d, "investor", "nstf");
        put_str(d, "source", "guidance");
        put_uint(d, "amount_fen", 40000000000ull);
        put_str(d, "dated", "2018-05-20");
        break;
    case TL_EV_FUND_INVESTED:
        snprintf(d->stream, sizeof d->stream, "fund/nstf-sub-1");
        put_str(d, "investee", "perovskite-co");
        put_uint(d, "amount_fen", 8000000000ull);
        put_str(d, "dated", "2019-09-01");
        put_bool(d, "qualifying", true);
        put_uint(d, "co_investment_fen", 4000000000ull);
        break;
    case TL_EV_LOAN_ISSUED:
    case TL_EV_LOAN_DEFAULTED:
        snprintf(d->stream, sizeof d->stream, "loan/icbc-2019-42");
        put_str(d, "id", "icbc-2019-42");
        put_str(d, "bank", "icbc");
        put_str(d, "borrower", "perovskite-co");
        put_uint(d, "amount_fen", 500000000ull);
        put_uint(d, "term_months", 36);
        put_str(d, "dated", "2019-10-10");
        put_str(d, "pool", "js-risk-pool");
        break;
    case TL_EV_LOAN_COMPENSATED:
        snprintf(d->stream, sizeof d->stream, "loan/icbc-2019-42");
        put_uint(d, "amount_fen", 100000000ull);
        put_str(d, "dated", "2021-02-01");
        break;
    case TL_EV_PROGRAMME_INSTITUTION_DESIGNATED:
    case TL_EV_PROGRAMME_ZONE_DESIGNATED:
    case TL_EV_PROGRAMME_TRAINING_COMPLETED:
        snprintf(d->stream, sizeof d->stream, "programme/zone-2018-03");
        put_str(d, "id", "zone-2018-03");
        put_str(d, "name", "苏南国家科技成果转移转化示范区");
        put_str(d, "dated", "2018-03-01");
        put_uint(d, "count", 1);
        put_str(d, "region", "320000");
        break;
    case TL_EV_COUNT: fail_msg("no such type");
    }
}

/* ---- Tests ------------------------------------------------------------------------------- */

static void test_tables(void **state)
{
    (void)state;
    static const char *const names[] = {
        "ledger.genesis", "participant.registered", "participant.key_added",
        "participant.key_revoked", "achievement.registered", "contract.registered",
        "contract.amended", "contract.cancelled", "payment.received", "equity.recorded",
        "fund.established", "fund.committed", "fund.called", "fund.invested", "loan.issued",
        "loan.defaulted", "loan.compensated", "programme.institution_designated",
        "programme.zone_designated", "programme.training_completed"};
    assert_int_equal(sizeof names / sizeof names[0], TL_EV_COUNT);
    for (int t = 0; t < TL_EV_COUNT; t++) {
        const tl_event_spec *s = tl_schema_event((tl_event_type)t);
        assert_non_null(s);
        assert_int_equal(s->id, t);
        assert_string_equal(s->type, names[t]);
        assert_int_equal(s->type_len, strlen(s->type)); /* the lookups compare lengths first */
        assert_ptr_equal(tl_schema_for_type(names[t], strlen(names[t])), s);
        assert_true(s->field_count > 0);
        assert_non_null(s->signer);
        assert_non_null(s->doc);
        assert_non_null(s->rules);
        bool stream_field_found = s->stream_field == NULL;
        for (size_t i = 0; i < s->field_count; i++) {
            const tl_field_spec *f = &s->fields[i];
            assert_non_null(f->doc);
            assert_non_null(f->name); /* a hole in a table written with designated indices */
            assert_int_equal(f->name_len, strlen(f->name));
            assert_string_not_equal(tl_field_type_name((tl_field_type)f->type), "?");
            assert_true((f->type == TL_FT_CODE) == (f->codes != NULL));
            for (size_t j = 0; j < i; j++)
                assert_string_not_equal(s->fields[j].name, f->name);
            if (s->stream_field != NULL && strcmp(f->name, s->stream_field) == 0) {
                assert_false(f->flags & TL_FIELD_OPTIONAL);
                stream_field_found = true;
            }
        }
        assert_true(stream_field_found);
    }
    assert_null(tl_schema_event(TL_EV_COUNT));
    assert_null(tl_schema_for_type("contract", 8));
    assert_null(tl_schema_for_type("contract.registered", 18));
    assert_null(tl_schema_for_type("contract.registeredx", 20));
}

static void test_valid_examples(void **state)
{
    (void)state;
    draft d;
    for (int t = 0; t < TL_EV_COUNT; t++) {
        example(&d, (tl_event_type)t);
        ACCEPT(&d);
    }
    /* Optional fields may be left out. */
    for (int t = 0; t < TL_EV_COUNT; t++) {
        example(&d, (tl_event_type)t);
        const tl_event_spec *s = tl_schema_event((tl_event_type)t);
        for (size_t i = 0; i < s->field_count; i++)
            if (s->fields[i].flags & TL_FIELD_OPTIONAL)
                del(&d, s->fields[i].name);
        if (t == TL_EV_FUND_ESTABLISHED)
            put_str(&d, "kind", "guidance"); /* a sub_fund needs its optional parent */
        ACCEPT(&d);
    }
}

/* Every required field, removed, gives schema.required at its path; every field given the
 * wrong MessagePack type gives schema.type_mismatch. Driven by the tables themselves. */
static void test_every_field(void **state)
{
    (void)state;
    draft d;
    char path[128];
    for (int t = 0; t < TL_EV_COUNT; t++) {
        const tl_event_spec *s = tl_schema_event((tl_event_type)t);
        for (size_t i = 0; i < s->field_count; i++) {
            const tl_field_spec *f = &s->fields[i];
            snprintf(path, sizeof path, "data.%s", f->name);
            if (!(f->flags & TL_FIELD_OPTIONAL)) {
                example(&d, (tl_event_type)t);
                del(&d, f->name);
                REJECT(&d, "schema.required", path);
            }
            example(&d, (tl_event_type)t);
            bool is_str = !(f->flags & TL_FIELD_ARRAY) && f->type != TL_FT_FEN &&
                          f->type != TL_FT_UINT && f->type != TL_FT_BOOL && f->type != TL_FT_KEY;
            if (is_str)
                put_uint(&d, f->name, 1);
            else
                put_str(&d, f->name, "1");
            REJECT(&d, "schema.type_mismatch", path);
            /* A map is never a field value. */
            example(&d, (tl_event_type)t);
            put_map(&d, f->name);
            REJECT(&d, "schema.type_mismatch", path);
        }
    }
}

static void test_type_and_shape(void **state)
{
    (void)state;
    draft d;
    example(&d, TL_EV_CONTRACT_REGISTERED);
    snprintf(d.type, sizeof d.type, "contract.signed");
    REJECT(&d, "schema.type", "type");
    snprintf(d.type, sizeof d.type, "Contract.Registered");
    REJECT(&d, "schema.type", "type");
    snprintf(d.type, sizeof d.type, "%s", "");
    REJECT(&d, "schema.type", "type");

    example(&d, TL_EV_CONTRACT_REGISTERED);
    d.data_not_map = true;
    REJECT(&d, "schema.type_mismatch", "data");

    /* Unknown fields: the catalogue is closed; a misspelt optional field must not pass. */
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "confidentality", "state_secret");
    REJECT(&d, "schema.unknown_field", "data.confidentality");
    example(&d, TL_EV_PAYMENT_RECEIVED);
    put_str(&d, "note", "x");
    REJECT(&d, "schema.unknown_field", "data.note");
    example(&d, TL_EV_LEDGER_GENESIS);
    put_str(&d, "a", "x"); /* sorts before every real key */
    REJECT(&d, "schema.unknown_field", "data.a");
    /* A field of another type is unknown here. */
    example(&d, TL_EV_CONTRACT_CANCELLED);
    put_uint(&d, "total_fen", 1);
    REJECT(&d, "schema.unknown_field", "data.total_fen");

    /* Negative integers are the int family: a type mismatch for amounts. */
    example(&d, TL_EV_PAYMENT_RECEIVED);
    put_int(&d, "amount_fen", -100);
    REJECT(&d, "schema.type_mismatch", "data.amount_fen");
    /* bin where a str is expected, and str where a key is. */
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_bin(&d, "seller", 'a', 8);
    REJECT(&d, "schema.type_mismatch", "data.seller");
    example(&d, TL_EV_PARTICIPANT_KEY_ADDED);
    put_str(&d, "key", "0123456789abcdef0123456789abcdef");
    REJECT(&d, "schema.type_mismatch", "data.key");
    /* Array elements of the wrong type. */
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_strs(&d, "keys", 1, ROLES);
    REJECT(&d, "schema.type_mismatch", "data.keys[0]");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_keys(&d, "roles", 1, NULL);
    REJECT(&d, "schema.type_mismatch", "data.roles[0]");
}

static void test_codes_regions_dates(void **state)
{
    (void)state;
    draft d;
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "class", "research");
    REJECT(&d, "schema.code", "data.class");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "subtype", "patent licence");
    REJECT(&d, "schema.code", "data.subtype");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "field", "电子信息"); /* the Chinese name is not the code */
    REJECT(&d, "schema.code", "data.field");
    example(&d, TL_EV_ACHIEVEMENT_REGISTERED);
    put_str(&d, "confidentiality", "secret");
    REJECT(&d, "schema.code", "data.confidentiality");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_str(&d, "kind", "company");
    REJECT(&d, "schema.code", "data.kind");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    static const char *const bad_roles[] = {"admin", "boss"};
    put_strs(&d, "roles", 2, bad_roles);
    REJECT(&d, "schema.code", "data.roles[1]");
    example(&d, TL_EV_FUND_ESTABLISHED);
    put_str(&d, "kind", "angel");
    REJECT(&d, "schema.code", "data.kind");
    example(&d, TL_EV_FUND_ESTABLISHED);
    put_str(&d, "level", "galactic");
    REJECT(&d, "schema.code", "data.level");
    example(&d, TL_EV_FUND_COMMITTED);
    put_str(&d, "source", "foreign");
    REJECT(&d, "schema.code", "data.source");

    /* Every subtype is accepted with its own class. */
    for (int sub = 0; sub < TL_SUB_COUNT; sub++) {
        example(&d, TL_EV_CONTRACT_REGISTERED);
        put_str(&d, "class", tl_code_name(&tl_codes_class, (int)tl_subtype_class((tl_contract_subtype)sub)));
        put_str(&d, "subtype", tl_code_name(&tl_codes_subtype, sub));
        ACCEPT(&d);
    }

    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "seller_region", "119999");
    REJECT(&d, "schema.region", "data.seller_region");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "buyer_region", "35090");
    REJECT(&d, "schema.region", "data.buyer_region");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_str(&d, "region", "11010８"); /* a full-width digit */
    REJECT(&d, "schema.region", "data.region");
    example(&d, TL_EV_PROGRAMME_ZONE_DESIGNATED);
    put_str(&d, "region", "000000");
    REJECT(&d, "schema.region", "data.region");
    /* Province, city and county codes are all regions. */
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "seller_region", "110000");
    put_str(&d, "buyer_region", "440300");
    ACCEPT(&d);

    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "signed_on", "2019-02-29");
    REJECT(&d, "schema.date", "data.signed_on");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "registered_on", "2019-3-15");
    REJECT(&d, "schema.date", "data.registered_on");
    example(&d, TL_EV_PAYMENT_RECEIVED);
    put_str(&d, "received_on", "1948-12-31");
    REJECT(&d, "schema.date", "data.received_on");
    example(&d, TL_EV_LOAN_COMPENSATED);
    put_str(&d, "dated", "2100-01-01");
    REJECT(&d, "schema.date", "data.dated");
    example(&d, TL_EV_CONTRACT_CANCELLED);
    put_str(&d, "cancelled_on", "2021/01/05");
    REJECT(&d, "schema.date", "data.cancelled_on");
    example(&d, TL_EV_PAYMENT_RECEIVED);
    put_str(&d, "received_on", "2020-02-29");
    ACCEPT(&d);
}

static void test_identifiers(void **state)
{
    (void)state;
    draft d;
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "seller", "Tsinghua");
    REJECT(&d, "schema.id", "data.seller");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    static const char *const bad_achs[] = {"thu-2019-0001", "thu/2019"};
    put_strs(&d, "achievements", 2, bad_achs);
    REJECT(&d, "schema.id", "data.achievements[1]");
    example(&d, TL_EV_EQUITY_RECORDED);
    put_str(&d, "company", "");
    REJECT(&d, "schema.id", "data.company");
    example(&d, TL_EV_LOAN_ISSUED);
    put_str(&d, "pool", "..");
    REJECT(&d, "schema.id", "data.pool");
    example(&d, TL_EV_FUND_INVESTED);
    char longid[TL_ID_BYTES_MAX + 2];
    memset(longid, 'x', sizeof longid);
    longid[TL_ID_BYTES_MAX + 1] = '\0';
    put_str(&d, "investee", longid);
    REJECT(&d, "schema.id", "data.investee");
    longid[TL_ID_BYTES_MAX] = '\0';
    put_str(&d, "investee", longid);
    ACCEPT(&d);

    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "reg_no", "201911010800012");
    snprintf(d.stream, sizeof d.stream, "contract/201911010800012");
    REJECT(&d, "schema.reg_no", "data.reg_no");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "reg_no", "2019-1101080001");
    REJECT(&d, "schema.reg_no", "data.reg_no");

    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_str(&d, "credit_code", "914403001922038217"); /* Huawei's, last character changed */
    REJECT(&d, "schema.credit_code", "data.credit_code");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_str(&d, "credit_code", "91440300192203821");
    REJECT(&d, "schema.credit_code", "data.credit_code");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_str(&d, "credit_code", "91330100716105852f");
    REJECT(&d, "schema.credit_code", "data.credit_code");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_str(&d, "credit_code", "914403001922038216");
    ACCEPT(&d);

    example(&d, TL_EV_LEDGER_GENESIS);
    put_str(&d, "origin", "my ledger");
    REJECT(&d, "schema.origin", "data.origin");
    example(&d, TL_EV_LEDGER_GENESIS);
    put_str(&d, "origin", "a+b");
    REJECT(&d, "schema.origin", "data.origin");
    example(&d, TL_EV_LEDGER_GENESIS);
    put_str(&d, "origin", "");
    REJECT(&d, "schema.origin", "data.origin");
    example(&d, TL_EV_LEDGER_GENESIS);
    put_str(&d, "origin", "账本");
    REJECT(&d, "schema.origin", "data.origin");
}

static void test_text_and_lengths(void **state)
{
    (void)state;
    draft d;
    char text[TL_SCHEMA_TEXT_BYTES_MAX + 2];
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_str(&d, "name", "清华\n大学");
    REJECT(&d, "schema.text", "data.name");
    example(&d, TL_EV_CONTRACT_AMENDED);
    put_str(&d, "reason", "price \xe2\x80\xae" "cba"); /* U+202E right-to-left override */
    REJECT(&d, "schema.text", "data.reason");
    example(&d, TL_EV_ACHIEVEMENT_REGISTERED);
    put_strn(&d, "title", "a\0b", 3);
    REJECT(&d, "schema.text", "data.title");
    example(&d, TL_EV_ACHIEVEMENT_REGISTERED);
    put_str(&d, "ip", "CN1\xc2\x85" "2"); /* U+0085 next line */
    REJECT(&d, "schema.text", "data.ip");
    example(&d, TL_EV_PROGRAMME_TRAINING_COMPLETED);
    put_str(&d, "name", "Training \xe2\x81\xa6x\xe2\x81\xa9"); /* U+2066 isolate */
    REJECT(&d, "schema.text", "data.name");

    /* Text is scanned eight bytes at a time: each forbidden character and each allowed
     * character with the same lead byte, at every offset, among ASCII and among Chinese. */
    static const struct {
        const char *s;
        bool ok;
    } chars[] = {{"\n", false},           {"\x1f", false},         {"\x7f", false},
                 {"\xc2\x85", false},     {"\xc2\xa0", true},      {"\xe2\x80\xa8", false},
                 {"\xe2\x80\xae", false}, {"\xe2\x81\xa9", false}, {"\xe2\x80\x94", true},
                 {"\xe2\x81\xaa", true},  {"\xe4\xb8\xad", true}, {" ", true}};
    for (size_t c = 0; c < sizeof chars / sizeof chars[0]; c++)
        for (int cjk = 0; cjk < 2; cjk++)
            for (size_t at = 0; at <= 20; at++) {
                char name[64] = "";
                for (size_t k = 0; k < at; k += cjk ? 3 : 1)
                    strcat(name, cjk ? "\xe5\xad\xa6" : "x"); /* 学 */
                strcat(name, chars[c].s);
                strcat(name, cjk ? "\xe5\xad\xa6\xe5\xad\xa6\xe5\xad\xa6" : "yyyyyyyyy");
                example(&d, TL_EV_PARTICIPANT_REGISTERED);
                put_str(&d, "name", name);
                if (chars[c].ok)
                    ACCEPT(&d);
                else
                    REJECT(&d, "schema.text", "data.name");
            }

    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_str(&d, "name", "");
    REJECT(&d, "schema.length", "data.name");
    memset(text, 'n', sizeof text);
    text[TL_SCHEMA_TEXT_BYTES_MAX + 1] = '\0';
    put_str(&d, "name", text);
    REJECT(&d, "schema.length", "data.name");
    text[TL_SCHEMA_TEXT_BYTES_MAX] = '\0';
    put_str(&d, "name", text);
    ACCEPT(&d);

    example(&d, TL_EV_LEDGER_GENESIS);
    put_bin(&d, "admin", 1, 31);
    REJECT(&d, "schema.length", "data.admin");
    example(&d, TL_EV_PARTICIPANT_KEY_REVOKED);
    put_bin(&d, "key", 1, 33);
    REJECT(&d, "schema.length", "data.key");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    put_keys(&d, "keys", TL_SCHEMA_KEYS_MAX + 1, NULL);
    REJECT(&d, "schema.length", "data.keys");
    put_keys(&d, "keys", TL_SCHEMA_KEYS_MAX, NULL);
    ACCEPT(&d);
    /* A party that is only referenced: no keys, no roles. */
    put_keys(&d, "keys", 0, NULL);
    put_strs(&d, "roles", 0, NULL);
    ACCEPT(&d);
    /* An optional array, when present, is not empty: absent is the one form of "none". */
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_strs(&d, "achievements", 0, NULL);
    REJECT(&d, "schema.length", "data.achievements");
    static const char *many[ELEMS_MAX];
    static char names[ELEMS_MAX][8];
    for (int i = 0; i < ELEMS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        many[i] = names[i];
    }
    put_strs(&d, "achievements", ELEMS_MAX, many);
    ACCEPT(&d);

    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    static const char *const dup_roles[] = {"registry", "member", "registry"};
    put_strs(&d, "roles", 3, dup_roles);
    REJECT(&d, "schema.duplicate", "data.roles[2]");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    static const uint8_t dup_keys[] = {7, 8, 9, 8};
    put_keys(&d, "keys", 4, dup_keys);
    REJECT(&d, "schema.duplicate", "data.keys[3]");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    static const char *const dup_achs[] = {"x", "x"};
    put_strs(&d, "achievements", 2, dup_achs);
    REJECT(&d, "schema.duplicate", "data.achievements[1]");
}

static void test_amounts_and_ranges(void **state)
{
    (void)state;
    draft d;
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_uint(&d, "total_fen", TL_AMOUNT_FEN_MAX + 1);
    REJECT(&d, "schema.amount_range", "data.total_fen");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_uint(&d, "total_fen", UINT64_MAX);
    REJECT(&d, "schema.amount_range", "data.total_fen");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_uint(&d, "total_fen", TL_AMOUNT_FEN_MAX);
    put_uint(&d, "tech_fen", TL_AMOUNT_FEN_MAX);
    ACCEPT(&d);
    /* A contract may be registered at zero value (e.g. a free technical service). */
    put_uint(&d, "total_fen", 0);
    put_uint(&d, "tech_fen", 0);
    ACCEPT(&d);
    example(&d, TL_EV_FUND_INVESTED);
    put_uint(&d, "co_investment_fen", TL_AMOUNT_FEN_MAX + 1);
    REJECT(&d, "schema.amount_range", "data.co_investment_fen");
    /* Flows of money are at least 1 fen. */
    example(&d, TL_EV_PAYMENT_RECEIVED);
    put_uint(&d, "amount_fen", 0);
    REJECT(&d, "schema.amount_range", "data.amount_fen");
    put_uint(&d, "amount_fen", 1);
    ACCEPT(&d);
    example(&d, TL_EV_FUND_CALLED);
    put_uint(&d, "amount_fen", 0);
    REJECT(&d, "schema.amount_range", "data.amount_fen");
    example(&d, TL_EV_FUND_ESTABLISHED);
    put_uint(&d, "size_fen", 0);
    REJECT(&d, "schema.amount_range", "data.size_fen");
    example(&d, TL_EV_LOAN_COMPENSATED);
    put_uint(&d, "amount_fen", TL_AMOUNT_FEN_MAX + 1);
    REJECT(&d, "schema.amount_range", "data.amount_fen");

    example(&d, TL_EV_EQUITY_RECORDED);
    put_uint(&d, "shares_ppm", TL_PPM_MAX + 1);
    REJECT(&d, "schema.range", "data.shares_ppm");
    example(&d, TL_EV_EQUITY_RECORDED);
    put_uint(&d, "shares_ppm", 0);
    REJECT(&d, "schema.range", "data.shares_ppm");
    example(&d, TL_EV_EQUITY_RECORDED);
    put_uint(&d, "inventor_share_ppm", TL_PPM_MAX + 1);
    REJECT(&d, "schema.range", "data.inventor_share_ppm");
    example(&d, TL_EV_EQUITY_RECORDED);
    put_uint(&d, "shares_ppm", TL_PPM_MAX);
    put_uint(&d, "inventor_share_ppm", 0);
    ACCEPT(&d);
    example(&d, TL_EV_LOAN_ISSUED);
    put_uint(&d, "term_months", 0);
    REJECT(&d, "schema.range", "data.term_months");
    put_uint(&d, "term_months", TL_SCHEMA_TERM_MONTHS_MAX + 1);
    REJECT(&d, "schema.range", "data.term_months");
    example(&d, TL_EV_PROGRAMME_TRAINING_COMPLETED);
    put_uint(&d, "count", 0);
    REJECT(&d, "schema.range", "data.count");
    put_uint(&d, "count", 2500);
    ACCEPT(&d);
}

static void test_cross_field(void **state)
{
    (void)state;
    draft d;
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "class", "transfer");
    put_str(&d, "subtype", "commissioned");
    REJECT(&d, "schema.subtype", "data.subtype");
    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "class", "license");
    put_str(&d, "subtype", "patent"); /* a transfer, not a licence */
    REJECT(&d, "schema.subtype", "data.subtype");

    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_uint(&d, "total_fen", 100);
    put_uint(&d, "tech_fen", 101);
    REJECT(&d, "schema.tech_exceeds_total", "data.tech_fen");
    put_uint(&d, "tech_fen", 100);
    ACCEPT(&d);
    example(&d, TL_EV_CONTRACT_AMENDED);
    put_uint(&d, "total_fen", 0);
    REJECT(&d, "schema.tech_exceeds_total", "data.tech_fen");

    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "signed_on", "2019-03-16");
    REJECT(&d, "schema.date_order", "data.registered_on");
    put_str(&d, "signed_on", "2019-03-15"); /* the same day is fine */
    ACCEPT(&d);

    example(&d, TL_EV_CONTRACT_REGISTERED);
    put_str(&d, "buyer", "tsinghua");
    REJECT(&d, "schema.same_party", "data.buyer");
    example(&d, TL_EV_LOAN_DEFAULTED);
    put_str(&d, "borrower", "icbc");
    REJECT(&d, "schema.same_party", "data.borrower");

    example(&d, TL_EV_FUND_ESTABLISHED);
    del(&d, "parent");
    REJECT(&d, "schema.required", "data.parent");
    example(&d, TL_EV_FUND_ESTABLISHED);
    put_str(&d, "kind", "guidance");
    REJECT(&d, "schema.parent", "data.parent");
    del(&d, "parent");
    ACCEPT(&d);
    example(&d, TL_EV_FUND_ESTABLISHED);
    put_str(&d, "parent", "nstf-sub-1");
    REJECT(&d, "schema.parent", "data.parent");
    /* A local fund may or may not sit under another. */
    example(&d, TL_EV_FUND_ESTABLISHED);
    put_str(&d, "kind", "local");
    ACCEPT(&d);
    del(&d, "parent");
    ACCEPT(&d);
}

static void test_streams(void **state)
{
    (void)state;
    draft d;
    example(&d, TL_EV_LEDGER_GENESIS);
    snprintf(d.stream, sizeof d.stream, "ledger/x");
    REJECT(&d, "schema.stream", "stream");
    snprintf(d.stream, sizeof d.stream, "ledge");
    REJECT(&d, "schema.stream", "stream");

    /* The stream names the entity the data's id names. */
    example(&d, TL_EV_CONTRACT_REGISTERED);
    snprintf(d.stream, sizeof d.stream, "contract/2019110108000124");
    REJECT(&d, "schema.stream", "stream");
    snprintf(d.stream, sizeof d.stream, "fund/2019110108000123");
    REJECT(&d, "schema.stream", "stream");
    snprintf(d.stream, sizeof d.stream, "contract/");
    REJECT(&d, "schema.stream", "stream");
    snprintf(d.stream, sizeof d.stream, "contract/2019110108000123/x");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_PARTICIPANT_REGISTERED);
    snprintf(d.stream, sizeof d.stream, "participant/pku");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_ACHIEVEMENT_REGISTERED);
    snprintf(d.stream, sizeof d.stream, "achievements/thu-2019-0001");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_EQUITY_RECORDED);
    snprintf(d.stream, sizeof d.stream, "equity/thu-eq-8");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_FUND_ESTABLISHED);
    snprintf(d.stream, sizeof d.stream, "fund/nstf");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_LOAN_ISSUED);
    snprintf(d.stream, sizeof d.stream, "loan/icbc-2019-43");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_PROGRAMME_INSTITUTION_DESIGNATED);
    snprintf(d.stream, sizeof d.stream, "programmes/zone-2018-03");
    REJECT(&d, "schema.stream", "stream");

    /* Events on an existing entity: the family must match and the suffix be a name. */
    example(&d, TL_EV_CONTRACT_AMENDED);
    snprintf(d.stream, sizeof d.stream, "fund/2019110108000123");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_PAYMENT_RECEIVED);
    snprintf(d.stream, sizeof d.stream, "contract/tsinghua");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_CONTRACT_CANCELLED);
    snprintf(d.stream, sizeof d.stream, "contract");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_PARTICIPANT_KEY_ADDED);
    snprintf(d.stream, sizeof d.stream, "participant/");
    REJECT(&d, "schema.stream", "stream");
    snprintf(d.stream, sizeof d.stream, "participant/a/b");
    REJECT(&d, "schema.stream", "stream");
    snprintf(d.stream, sizeof d.stream, "contract/tsinghua");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_FUND_COMMITTED);
    snprintf(d.stream, sizeof d.stream, "loan/nstf-sub-1");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_FUND_INVESTED);
    snprintf(d.stream, sizeof d.stream, "fund/..");
    REJECT(&d, "schema.stream", "stream");
    example(&d, TL_EV_LOAN_COMPENSATED);
    snprintf(d.stream, sizeof d.stream, "fund/icbc-2019-42");
    REJECT(&d, "schema.stream", "stream");
}

/* tl_schema_check_body finds type, stream and data itself; the body must carry them. */
static void test_body_entry(void **state)
{
    (void)state;
    tl_buf buf;
    tl_buf_init(&buf);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &buf);
    tl_mp_map(&w, 2);
    tl_mp_key(&w, "data");
    tl_mp_map(&w, 0);
    tl_mp_key(&w, "stream");
    tl_mp_str(&w, "ledger");
    tl_mp_doc doc;
    tl_error err;
    assert_int_equal(tl_mp_parse(&doc, buf.data, buf.len, NULL, &err), 0);
    assert_int_equal(tl_schema_check_body(&doc, &err), TL_EINVAL);
    assert_string_equal(err.rule, "schema.required");
    assert_string_equal(err.path, "type");
    tl_mp_doc_free(&doc);

    tl_buf_reset(&buf);
    tl_mp_writer_init(&w, &buf);
    tl_mp_map(&w, 3);
    tl_mp_key(&w, "data");
    tl_mp_map(&w, 0);
    tl_mp_key(&w, "stream");
    tl_mp_uint(&w, 7);
    tl_mp_key(&w, "type");
    tl_mp_str(&w, "ledger.genesis");
    assert_int_equal(tl_mp_parse(&doc, buf.data, buf.len, NULL, &err), 0);
    assert_int_equal(tl_schema_check_body(&doc, &err), TL_EINVAL);
    assert_string_equal(err.rule, "schema.type_mismatch");
    assert_string_equal(err.path, "stream");
    tl_mp_doc_free(&doc);
    tl_buf_free(&buf);
    /* NULL error records are allowed everywhere. */
    assert_int_equal(tl_schema_check_body(NULL, NULL), TL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),          cmocka_unit_test(test_valid_examples),
        cmocka_unit_test(test_every_field),     cmocka_unit_test(test_type_and_shape),
        cmocka_unit_test(test_codes_regions_dates), cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_text_and_lengths), cmocka_unit_test(test_amounts_and_ranges),
        cmocka_unit_test(test_cross_field),     cmocka_unit_test(test_streams),
        cmocka_unit_test(test_body_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
