/* `techledger demo`: the demonstration ledger as a user gets it. One small demo is built once
 * (group setup) and read back through the ledger API: the contracts are folded here, in the
 * test, independently of the projections, and compared with data/national-turnover.csv. */
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tl_domain.h"
#include "tl_schema.h"
#include "tl_state.h"
#include "tl_verify.h"

#define SCALE "0.001"
#define SEED "7"
#define FIRST_YEAR 2016
#define LAST_YEAR 2024
#define YEARS (LAST_YEAR - FIRST_YEAR + 1)
#define TARGET_FEN 200000000000000ull
#define FEN_PER_CYI 100000000ull /* 0.01亿元 */
#define MS_PER_DAY 86400000ull
#define BEIJING_MS (8 * 3600000ull)

static char *g_root; /* temporary directory holding the demo */
static char g_dir[1024];
static char g_out[65536]; /* what the demo printed */
static int g_exit;

/* Runs a shell command; returns its exit status and its combined output in out. */
static int group_setup(void **state)
{
    (void)state;
    if (tl_crypto_init() != 0)
        return -1;
    g_root = tl_test_tmpdir("demo");
    snprintf(g_dir, sizeof g_dir, "%s/ledger", g_root);
    g_exit = tl_test_sh(g_out, sizeof g_out, "%s demo '%s' --scale " SCALE " --seed " SEED, TL_TECHLEDGER_BIN, g_dir);
    if (g_exit != 0)
        fprintf(stderr, "demo failed (%d):\n%s\n", g_exit, g_out);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tl_test_rmdir(g_root);
    free(g_root);
    return 0;
}

static tl_ledger *open_ro(void)
{
    tl_ledger *l = NULL;
    tl_error err;
    tl_ledger_options opt = {.mode = TL_OPEN_READ_ONLY};
    if (tl_ledger_open(&l, g_dir, &opt, &err) != 0)
        fail_msg("open %s: %s: %s", g_dir, err.rule, err.msg);
    return l;
}

/* ---- the published series, read from the CSV the demo is calibrated to ---- */

typedef struct published {
    int year;
    uint64_t fen;
    uint64_t contracts; /* 0 when the CSV has none */
} published;

static size_t read_csv(published *out, size_t cap)
{
    uint8_t *buf;
    size_t len;
    tl_error err;
    assert_int_equal(tl_file_read(TL_SOURCE_DIR "/data/national-turnover.csv", 1 << 20, &buf, &len, &err), 0);
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        int year;
        char contracts[32] = "", amount[32] = "";
        /* year,contracts,turnover_yi_yuan,... (contracts may be empty) */
        if (sscanf(line, "%d,%31[0-9],%31[0-9.]", &year, contracts, amount) != 3 &&
            sscanf(line, "%d,,%31[0-9.]", &year, amount) != 2)
            continue;
        if (year < FIRST_YEAR || year > LAST_YEAR || n == cap)
            continue;
        /* 22398.40 -> 2239840 hundredths of 亿元, exactly (no floating point) */
        uint64_t whole = 0, frac = 0;
        int digits = 0;
        char *dot = strchr(amount, '.');
        whole = strtoull(amount, NULL, 10);
        if (dot != NULL)
            for (char *p = dot + 1; *p && digits < 2; p++, digits++)
                frac = frac * 10 + (uint64_t)(*p - '0');
        for (; digits < 2; digits++)
            frac *= 10;
        out[n].year = year;
        out[n].fen = (whole * 100 + frac) * FEN_PER_CYI;
        out[n].contracts = strtoull(contracts, NULL, 10);
        n++;
    }
    free(buf);
    return n;
}

/* ---- folding the contracts ourselves ---- */

typedef struct contract_state {
    int year;
    unsigned province;
    uint64_t total_fen;
    int cancelled;
} contract_state;

typedef struct fold {
    uint64_t cutoff_ms; /* only records recorded up to here */
    tl_map *contracts;  /* reg_no -> contract_state */
    uint64_t by_year[YEARS];
    uint64_t by_province[YEARS][100];
    uint64_t registered[YEARS];
    uint64_t records, amended, cancelled, payments;
    uint64_t last_recorded_ms;
    int out_of_order;      /* recorded went backwards */
    int registered_late;   /* a registration recorded on another day than its registered_on */
    int outside_window;    /* recorded before 2016 or after June 2025 (Beijing) */
} fold;

static uint64_t beijing_ms(int y, unsigned m, unsigned d)
{
    char s[16];
    snprintf(s, sizeof s, "%04d-%02u-%02u", y, m, d);
    int32_t day;
    assert_int_equal(tl_date_parse(&day, s, strlen(s)), 0);
    return (uint64_t)day * MS_PER_DAY - BEIJING_MS;
}

static const tl_mp_node *data_field(const tl_event *ev, const char *name)
{
    uint32_t i = tl_mp_map_get(&ev->doc, ev->data, name);
    return i ? &ev->doc.nodes[i] : NULL;
}

static int32_t date_of(const tl_event *ev, const char *name)
{
    const tl_mp_node *n = data_field(ev, name);
    assert_non_null(n);
    int32_t day;
    assert_int_equal(tl_date_parse(&day, (const char *)n->v.s.ptr, n->v.s.len), 0);
    return day;
}

static int fold_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq;
    fold *f = ctx;
    tl_error err;
    tl_record r;
    assert_int_equal(tl_record_decode(&r, rec, len, &err), 0);
    if (r.recorded_ms < f->last_recorded_ms)
        f->out_of_order = 1;
    f->last_recorded_ms = r.recorded_ms;
    if (r.recorded_ms < beijing_ms(2016, 1, 1) || r.recorded_ms >= beijing_ms(2025, 7, 1))
        f->outside_window = 1;
    if (r.recorded_ms > f->cutoff_ms)
        return 0;
    f->records++;
    tl_event ev;
    assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err), 0);
    const char *reg_no = ev.stream + strlen("contract/");
    if (strcmp(ev.type, "contract.registered") == 0) {
        contract_state c = {0};
        int32_t day = date_of(&ev, "registered_on");
        c.year = tl_date_year(day);
        if ((uint64_t)day * MS_PER_DAY - BEIJING_MS > r.recorded_ms ||
            (uint64_t)(day + 1) * MS_PER_DAY - BEIJING_MS <= r.recorded_ms)
            f->registered_late = 1;
        const tl_mp_node *region = data_field(&ev, "seller_region");
        c.province = (unsigned)((region->v.s.ptr[0] - '0') * 10 + (region->v.s.ptr[1] - '0'));
        c.total_fen = data_field(&ev, "total_fen")->v.u;
        assert_int_equal(tl_map_put(f->contracts, (const uint8_t *)reg_no, 16, (const uint8_t *)&c, sizeof c), 0);
        if (c.year >= FIRST_YEAR && c.year <= LAST_YEAR)
            f->registered[c.year - FIRST_YEAR]++;
    } else if (strcmp(ev.type, "contract.amended") == 0 || strcmp(ev.type, "contract.cancelled") == 0) {
        size_t vlen;
        const uint8_t *v = tl_map_get(f->contracts, (const uint8_t *)reg_no, 16, &vlen);
        assert_non_null(v);
        contract_state c;
        memcpy(&c, v, sizeof c);
        if (strcmp(ev.type, "contract.amended") == 0) {
            c.total_fen = data_field(&ev, "total_fen")->v.u;
            f->amended++;
        } else {
            c.cancelled = 1;
            f->cancelled++;
        }
        assert_int_equal(tl_map_put(f->contracts, (const uint8_t *)reg_no, 16, (const uint8_t *)&c, sizeof c), 0);
    } else if (strcmp(ev.type, "payment.received") == 0) {
        f->payments++;
    }
    tl_event_free(&ev);
    return 0;
}

static void fold_run(fold *f, tl_ledger *l, uint64_t cutoff_ms)
{
    memset(f, 0, sizeof *f);
    f->cutoff_ms = cutoff_ms;
    f->contracts = tl_map_new();
    assert_non_null(f->contracts);
    tl_error err;
    assert_int_equal(tl_ledger_scan(l, 0, tl_ledger_size(l), fold_record, f, &err), 0);
    size_t cursor = 0, klen, vlen;
    const uint8_t *k, *v;
    while (tl_map_next(f->contracts, &cursor, &k, &klen, &v, &vlen)) {
        contract_state c;
        memcpy(&c, v, sizeof c);
        if (c.cancelled || c.year < FIRST_YEAR || c.year > LAST_YEAR)
            continue;
        f->by_year[c.year - FIRST_YEAR] += c.total_fen;
        f->by_province[c.year - FIRST_YEAR][c.province] += c.total_fen;
    }
    tl_map_free(f->contracts);
    f->contracts = NULL;
}

/* ---- tests ---- */

static void test_demo_runs(void **state)
{
    (void)state;
    assert_int_equal(g_exit, 0);
    /* it says, every time, that the clock is simulated and for demonstrations only */
    assert_non_null(strstr(g_out, "SIMULATED clock"));
    assert_non_null(strstr(g_out, "demonstrations only"));
    /* and what it built */
    assert_non_null(strstr(g_out, "22,398.40"));
    assert_non_null(strstr(g_out, "first reached in 2019"));
}

static void test_turnover_equals_published_series(void **state)
{
    (void)state;
    published pub[YEARS];
    size_t n = read_csv(pub, YEARS);
    assert_int_equal(n, YEARS);
    tl_ledger *l = open_ro();
    fold f;
    fold_run(&f, l, UINT64_MAX);
    int first_over = 0;
    for (size_t i = 0; i < n; i++) {
        int y = pub[i].year;
        if (f.by_year[y - FIRST_YEAR] != pub[i].fen)
            fail_msg("%d: the ledger folds to %" PRIu64 " fen, the CSV says %" PRIu64, y, f.by_year[y - FIRST_YEAR],
                     pub[i].fen);
        if (first_over == 0 && f.by_year[y - FIRST_YEAR] >= TARGET_FEN)
            first_over = y;
        /* the contract counts follow the published ones at this scale (the CSV has no 2024 count) */
        if (pub[i].contracts) {
            double want = (double)pub[i].contracts * 0.001, got = (double)f.registered[y - FIRST_YEAR];
            if (got < want * 0.8 || got > want * 1.3)
                fail_msg("%d: %.0f registrations, expected about %.0f", y, got, want);
        }
    }
    assert_int_equal(first_over, 2019);
    assert_true(f.by_year[2018 - FIRST_YEAR] < TARGET_FEN);
    /* revisions happened: amendments, cancellations, payments */
    assert_true(f.amended > 0);
    assert_true(f.cancelled > 0);
    assert_true(f.payments > 0);
    tl_ledger_close(l);
}

static void test_beijing_is_the_largest_seller(void **state)
{
    (void)state;
    tl_ledger *l = open_ro();
    fold f;
    fold_run(&f, l, UINT64_MAX);
    for (int y = FIRST_YEAR; y <= LAST_YEAR; y++) {
        const uint64_t *p = f.by_province[y - FIRST_YEAR];
        int sellers = 0;
        for (unsigned c = 0; c < 100; c++) {
            if (p[c] > 0)
                sellers++;
            if (c != 11 && p[c] >= p[11])
                fail_msg("%d: province %02u sold %" PRIu64 " fen, Beijing %" PRIu64, y, c, p[c], p[11]);
        }
        assert_int_equal(sellers, 31); /* every province registers contracts */
    }
    /* the provincial figures quoted in data/README.md hold exactly */
    assert_int_equal(f.by_province[2019 - FIRST_YEAR][11], 569530 * FEN_PER_CYI);
    assert_int_equal(f.by_province[2020 - FIRST_YEAR][11], 631616 * FEN_PER_CYI);
    assert_int_equal(f.by_province[2023 - FIRST_YEAR][11], 853690 * FEN_PER_CYI);
    assert_int_equal(f.by_province[2020 - FIRST_YEAR][31], 181527 * FEN_PER_CYI);
    assert_int_equal(f.by_province[2021 - FIRST_YEAR][32], 301356 * FEN_PER_CYI);
    assert_int_equal(f.by_province[2022 - FIRST_YEAR][61], 305350 * FEN_PER_CYI);
    assert_int_equal(f.by_province[2017 - FIRST_YEAR][43], 20311 * FEN_PER_CYI);
    tl_ledger_close(l);
}

/* The simulated clock: records are in time order inside 2016..June 2025, each registration is
 * recorded on its registration day, and a vintage shows what was known then. */
static void test_vintages_show_revisions(void **state)
{
    (void)state;
    tl_ledger *l = open_ro();
    fold final, end2019, end2020, end2021;
    fold_run(&final, l, UINT64_MAX);
    assert_false(final.out_of_order);
    assert_false(final.outside_window);
    assert_false(final.registered_late);
    fold_run(&end2019, l, beijing_ms(2020, 1, 1) - 1);
    fold_run(&end2020, l, beijing_ms(2021, 1, 1) - 1);
    fold_run(&end2021, l, beijing_ms(2022, 1, 1) - 1);
    /* as of the end of 2019 nothing of 2020 exists, and 2019 is complete but not yet revised */
    assert_int_equal(end2019.by_year[2020 - FIRST_YEAR], 0);
    assert_int_equal(end2019.registered[2019 - FIRST_YEAR], final.registered[2019 - FIRST_YEAR]);
    assert_true(end2019.by_year[2019 - FIRST_YEAR] != final.by_year[2019 - FIRST_YEAR]);
    /* amendments and cancellations recorded in 2020 and later revised 2019 */
    assert_true(end2019.records < end2020.records);
    uint64_t y2019[3] = {end2019.by_year[2019 - FIRST_YEAR], end2020.by_year[2019 - FIRST_YEAR],
                         end2021.by_year[2019 - FIRST_YEAR]};
    assert_true(y2019[0] != y2019[1] || y2019[1] != y2019[2]);
    /* revisions come within about a year and a half: by the end of 2021, 2019 is final */
    assert_int_equal(end2021.by_year[2019 - FIRST_YEAR], final.by_year[2019 - FIRST_YEAR]);
    tl_ledger_close(l);
}

/* What the economy holds, by kind. */
typedef struct census {
    uint64_t types[TL_EV_COUNT];
    uint64_t classes[TL_CLASS_COUNT], subtypes[TL_SUB_COUNT];
    uint64_t ach_conf[TL_CONF_COUNT], contract_conf[TL_CONF_COUNT];
    uint64_t sources[TL_SOURCE_COUNT], fund_kinds[TL_FUND_KIND_COUNT];
    uint64_t qualifying[2], co_investments;
    uint64_t licences_before_2021;
} census;

static int count_kinds(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq;
    census *c = ctx;
    tl_error err;
    tl_record r;
    assert_int_equal(tl_record_decode(&r, rec, len, &err), 0);
    tl_event ev;
    assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err), 0);
    const tl_event_spec *spec = tl_schema_for_type(ev.type, strlen(ev.type));
    assert_non_null(spec);
    c->types[spec->id]++;
    const tl_mp_node *n;
#define CODE_OF(list, node) tl_code_parse(&(list), (const char *)(node)->v.s.ptr, (node)->v.s.len)
    switch (spec->id) {
    case TL_EV_CONTRACT_REGISTERED: {
        int cls = CODE_OF(tl_codes_class, data_field(&ev, "class"));
        c->classes[cls]++;
        c->subtypes[CODE_OF(tl_codes_subtype, data_field(&ev, "subtype"))]++;
        n = data_field(&ev, "confidentiality");
        c->contract_conf[n ? CODE_OF(tl_codes_confidentiality, n) : TL_CONF_PUBLIC]++;
        if (cls == TL_CLASS_LICENSE && tl_date_year(date_of(&ev, "registered_on")) < 2021)
            c->licences_before_2021++;
        break;
    }
    case TL_EV_ACHIEVEMENT_REGISTERED:
        c->ach_conf[CODE_OF(tl_codes_confidentiality, data_field(&ev, "confidentiality"))]++;
        break;
    case TL_EV_FUND_ESTABLISHED:
        c->fund_kinds[CODE_OF(tl_codes_fund_kind, data_field(&ev, "kind"))]++;
        break;
    case TL_EV_FUND_COMMITTED:
        c->sources[CODE_OF(tl_codes_fund_source, data_field(&ev, "source"))]++;
        break;
    case TL_EV_FUND_INVESTED:
        c->qualifying[data_field(&ev, "qualifying")->v.b ? 1 : 0]++;
        if (data_field(&ev, "co_investment_fen") != NULL)
            c->co_investments++;
        break;
    default:
        break;
    }
#undef CODE_OF
    tl_event_free(&ev);
    return 0;
}

static void test_every_kind_of_event(void **state)
{
    (void)state;
    census *c = calloc(1, sizeof *c);
    assert_non_null(c);
    tl_ledger *l = open_ro();
    tl_error err;
    assert_int_equal(tl_ledger_scan(l, 0, tl_ledger_size(l), count_kinds, c, &err), 0);
    tl_ledger_close(l);
    for (int t = 0; t < TL_EV_COUNT; t++)
        if (c->types[t] == 0)
            fail_msg("no %s event in the demo", tl_schema_event((tl_event_type)t)->type);
    assert_int_equal(c->types[TL_EV_LEDGER_GENESIS], 1);
    assert_true(c->types[TL_EV_PARTICIPANT_REGISTERED] >= 31 * 5); /* registries, universities... */
    for (int k = 0; k < TL_CLASS_COUNT; k++)
        assert_true(c->classes[k] > 0);
    for (int k = 0; k < TL_SUB_COUNT; k++)
        if (c->subtypes[k] == 0)
            fail_msg("no contract of subtype %s", tl_code_name(&tl_codes_subtype, k));
    for (int k = 0; k < TL_CONF_COUNT; k++) {
        assert_true(c->ach_conf[k] > 0);
        assert_true(c->contract_conf[k] > 0);
    }
    for (int k = 0; k < TL_SOURCE_COUNT; k++)
        assert_true(c->sources[k] > 0);
    for (int k = 0; k < TL_FUND_KIND_COUNT; k++)
        assert_true(c->fund_kinds[k] > 0);
    assert_int_equal(c->fund_kinds[TL_FUND_GUIDANCE], 1);
    assert_true(c->fund_kinds[TL_FUND_SUB_FUND] >= 14); /* 14 by July 2018 (data/README.md) */
    assert_true(c->qualifying[0] > 0 && c->qualifying[1] > 0);
    assert_true(c->co_investments > 0);
    /* the licence is a class of its own only since the 2021 Civil Code */
    assert_int_equal(c->licences_before_2021, 0);
    free(c);
}

static void test_every_record_verifies(void **state)
{
    (void)state;
    tl_verify_report rep;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_verify_path(&rep, g_dir, NULL, &err);
    if (rc != 0)
        fail_msg("verify: %s at %s: %s (seq %" PRIu64 ", %s)", err.rule, err.path, err.msg, rep.seq, rep.where);
    tl_ledger *l = open_ro();
    assert_int_equal(rep.records, tl_ledger_size(l));
    assert_int_equal(rep.checkpoint_size, tl_ledger_size(l)); /* the last checkpoint covers everything */
    assert_string_equal(rep.origin, "demo.techledger.example/national");
    tl_ledger_close(l);
}

typedef struct signer_check {
    uint8_t registry[100][TL_PUBKEY_BYTES];
    uint8_t revoked[100][TL_PUBKEY_BYTES]; /* the key a rotated office started with */
    uint64_t registrations, wrong, by_revoked;
} signer_check;

static int check_registry_signer(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq;
    signer_check *s = ctx;
    tl_error err;
    tl_record r;
    assert_int_equal(tl_record_decode(&r, rec, len, &err), 0);
    tl_event ev;
    assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err), 0);
    if (strcmp(ev.type, "contract.registered") == 0) {
        const tl_mp_node *region = data_field(&ev, "seller_region");
        unsigned p = (unsigned)((region->v.s.ptr[0] - '0') * 10 + (region->v.s.ptr[1] - '0'));
        s->registrations++;
        if (memcmp(r.key, s->revoked[p], TL_PUBKEY_BYTES) == 0)
            s->by_revoked++;
        else if (memcmp(r.key, s->registry[p], TL_PUBKEY_BYTES) != 0)
            s->wrong++;
    }
    tl_event_free(&ev);
    return 0;
}

/* The keys in DIR/keys are the ones that signed: each registration by the registry office of
 * the seller's province, and a user can go on signing with them. */
static void test_keys_sign_and_keep_signing(void **state)
{
    (void)state;
    char path[1200];
    struct stat st;
    tl_error err;
    snprintf(path, sizeof path, "%s/keys/admin.key", g_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    tl_keypair admin;
    assert_int_equal(tl_secret_key_read(path, &admin, &err), 0);

    signer_check *s = calloc(1, sizeof *s);
    assert_non_null(s);
    static const unsigned provinces[] = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41,
                                         42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65};
    for (size_t i = 0; i < sizeof provinces / sizeof provinces[0]; i++) {
        snprintf(path, sizeof path, "%s/keys/registry-%02u.key", g_dir, provinces[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        tl_keypair kp;
        assert_int_equal(tl_secret_key_read(path, &kp, &err), 0);
        memcpy(s->registry[provinces[i]], kp.pk, TL_PUBKEY_BYTES);
        tl_keypair_wipe(&kp);
    }
    /* Guangdong's office rotated its key in 2020: its first key is kept, revoked */
    tl_keypair old44;
    snprintf(path, sizeof path, "%s/keys/registry-44.revoked.key", g_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(tl_secret_key_read(path, &old44, &err), 0);
    memcpy(s->revoked[44], old44.pk, TL_PUBKEY_BYTES);
    tl_ledger *l = open_ro();
    uint8_t admin_pk[TL_PUBKEY_BYTES];
    tl_ledger_admin_key(l, admin_pk);
    assert_memory_equal(admin_pk, admin.pk, TL_PUBKEY_BYTES);
    assert_int_equal(tl_ledger_scan(l, 0, tl_ledger_size(l), check_registry_signer, s, &err), 0);
    assert_true(s->registrations > 1000);
    assert_int_equal(s->wrong, 0);
    assert_true(s->by_revoked > 0); /* Guangdong's registrations before the rotation */
    uint64_t size = tl_ledger_size(l);
    tl_ledger_close(l);

    /* Beijing's registry office registers one more contract with its key file, through the
     * ordinary path, on the real clock. */
    snprintf(path, sizeof path, "%s/keys/registry-11.key", g_dir);
    tl_keypair reg;
    assert_int_equal(tl_secret_key_read(path, &reg, &err), 0);
    assert_int_equal(tl_ledger_open(&l, g_dir, NULL, &err), 0);
    char json[2048];
    snprintf(json, sizeof json,
             "{\"type\":\"contract.registered\",\"stream\":\"contract/2026110108999999\",\"data\":{"
             "\"reg_no\":\"2026110108999999\",\"class\":\"license\",\"subtype\":\"patent_license\","
             "\"seller\":\"univ-11-01\",\"buyer\":\"firm-32-00001\",\"seller_region\":\"110108\","
             "\"buyer_region\":\"320000\",\"field\":\"new_energy\",\"signed_on\":\"2026-03-01\","
             "\"registered_on\":\"2026-03-02\",\"total_fen\":5000000000,\"tech_fen\":4500000000}}");
    tl_append_result res;
    int rc = tl_test_append(l, &reg, json, &res);
    if (rc != 0)
        fail_msg("append with the demo's registry key: %s at %s: %s", res.err.rule, res.err.path, res.err.msg);
    assert_int_equal(res.status, TL_APPEND_CREATED);
    assert_int_equal(res.seq, size);
    /* a participant's key cannot register contracts: the rules hold for the demo's keys too */
    snprintf(path, sizeof path, "%s/keys/firm-32-00001.key", g_dir);
    tl_keypair firm;
    assert_int_equal(tl_secret_key_read(path, &firm, &err), 0);
    snprintf(json, sizeof json,
             "{\"type\":\"contract.cancelled\",\"stream\":\"contract/2026110108999999\",\"data\":{"
             "\"cancelled_on\":\"2026-03-03\",\"reason\":\"test\"}}");
    assert_int_equal(tl_test_append(l, &firm, json, &res), TL_EDENIED);
    assert_string_equal(res.err.path, "key");
    /* nor can the revoked key of Guangdong's office */
    snprintf(json, sizeof json,
             "{\"type\":\"contract.registered\",\"stream\":\"contract/2026440300999999\",\"data\":{"
             "\"reg_no\":\"2026440300999999\",\"class\":\"service\",\"subtype\":\"general\","
             "\"seller\":\"univ-44-01\",\"buyer\":\"firm-32-00001\",\"seller_region\":\"440300\","
             "\"buyer_region\":\"320000\",\"field\":\"new_energy\",\"signed_on\":\"2026-03-01\","
             "\"registered_on\":\"2026-03-02\",\"total_fen\":5000000000,\"tech_fen\":4500000000}}");
    assert_int_equal(tl_test_append(l, &old44, json, &res), TL_EDENIED);
    assert_string_equal(res.err.rule, "auth.key_revoked");
    assert_string_equal(res.err.path, "key");
    assert_int_equal(tl_ledger_size(l), size + 1);
    tl_ledger_close(l);
    tl_keypair_wipe(&reg);
    tl_keypair_wipe(&firm);
    tl_keypair_wipe(&old44);
    tl_keypair_wipe(&admin);
    free(s);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char out[8192], dir[1200];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/other", g_root);
    static const struct {
        const char *args, *rule;
    } bad[] = {
        {"--scale 0", "args.scale at --scale"},
        {"--scale 1.5", "args.scale at --scale"},
        {"--scale abc", "args.scale at --scale"},
        {"--seed -3", "args.seed at --seed"},
        {"--seed", "args.missing_value at --seed"},
        {"--frobnicate", "args.unknown_option at --frobnicate"},
        {"second-dir", "args.extra at second-dir"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(tl_test_sh(out, sizeof out, "%s demo '%s' %s", TL_TECHLEDGER_BIN, dir, bad[i].args), 2);
        if (strstr(out, bad[i].rule) == NULL)
            fail_msg("demo %s: expected \"%s\" in:\n%s", bad[i].args, bad[i].rule, out);
        assert_int_not_equal(stat(dir, &st), 0); /* nothing was created */
    }
    assert_int_equal(tl_test_sh(out, sizeof out, "%s demo", TL_TECHLEDGER_BIN), 2);
    assert_non_null(strstr(out, "args.missing at DIR"));
    /* a bad origin is the ledger's own rule, and leaves nothing behind */
    assert_int_equal(tl_test_sh(out, sizeof out, "%s demo '%s' --origin 'has space'", TL_TECHLEDGER_BIN, dir), 2);
    assert_non_null(strstr(out, "ledger.origin"));
    snprintf(out, sizeof out, "%s/db", dir);
    assert_int_not_equal(stat(out, &st), 0);

    /* an existing ledger is never touched */
    tl_ledger *l = open_ro();
    uint64_t size = tl_ledger_size(l);
    tl_ledger_close(l);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s demo '%s' --quiet", TL_TECHLEDGER_BIN, g_dir), 3);
    assert_non_null(strstr(out, "ledger.exists at DIR"));
    l = open_ro();
    assert_int_equal(tl_ledger_size(l), size);
    tl_ledger_close(l);

    /* nor are keys someone left in a directory */
    char keys[1300];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(keys, 0700), 0);
    assert_int_equal(tl_test_sh(out, sizeof out, "%s demo '%s' --quiet", TL_TECHLEDGER_BIN, dir), 3);
    assert_non_null(strstr(out, "demo.keys_exist at DIR"));
    snprintf(out, sizeof out, "%s/db", dir);
    assert_int_not_equal(stat(out, &st), 0);
}

static void test_help(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(tl_test_sh(out, sizeof out, "%s demo --help", TL_TECHLEDGER_BIN), 0);
    assert_non_null(strstr(out, "usage: techledger demo DIR"));
    assert_non_null(strstr(out, "DEMONSTRATION ONLY"));
    assert_non_null(strstr(out, "simulated clock"));
    assert_non_null(strstr(out, "--scale"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_runs),
        cmocka_unit_test(test_turnover_equals_published_series),
        cmocka_unit_test(test_beijing_is_the_largest_seller),
        cmocka_unit_test(test_vintages_show_revisions),
        cmocka_unit_test(test_every_kind_of_event),
        cmocka_unit_test(test_every_record_verifies),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_help),
        /* last: it appends to the demo ledger */
        cmocka_unit_test(test_keys_sign_and_keep_signing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
