/*
 * Projections and views, against a real ledger and real RocksDB in temporary directories.
 *
 * The central check is a property: for random event sequences (contracts with amendments,
 * cancellations and payments across years, provinces and classes; achievements and equity;
 * funds and their flows; loans with defaults and compensation; programme entries) the views
 * folded incrementally while the events arrive == the views rebuilt from zero == a brute-force
 * recomputation written independently here, which decodes every record with the ledger's own
 * strict decoder and folds it with plain arrays. Vintages (as_of) are checked the same way
 * against a replay truncated at the end of each day.
 *
 * Also: kill -9 of a process in the middle of projecting (then the same answer), rebuild after a
 * version change, access levels (secrets never reach a public reader), bad parameters, and the
 * report / rebuild commands.
 */
#include "testutil.h"

#include <dirent.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pj_internal.h" /* the record reader's own tests, at the end */
#include "tl_domain.h"
#include "tl_schema.h"
#include "tl_views.h"

#define DAY_MS 86400000ull
#define BEIJING_MS (8ull * 3600u * 1000u)
#define BASE_MS 1546300800000ull /* 2019-01-01T00:00:00Z */
#define SYNC_MS 120000u

/* ---------- a world: a ledger with a simulated clock and the parties that sign ---------- */

typedef struct clock_state {
    _Atomic uint64_t calls;
    uint64_t step_ms;
} clock_state;

static uint64_t sim_clock(void *ctx)
{
    clock_state *c = ctx;
    return BASE_MS + atomic_fetch_add(&c->calls, 1) * c->step_ms;
}

#define NPARTIES 6
static const char *const party_ids[NPARTIES] = {"u-bj", "e-sh", "r-sz", "e-cd", "a-tj", "e-hz"};
static const char *const party_kinds[NPARTIES] = {"university", "enterprise", "research_institute", "enterprise",
                                                  "tech_transfer_agency", "enterprise"};
static const char *const party_regions[NPARTIES] = {"110108", "310000", "440300", "510100", "120000", "330100"};

typedef struct world {
    char *dir;
    tl_ledger *l;
    clock_state clock;
    tl_keypair admin, registry, fm, bank[2];
} world;

static void must(tl_ledger *l, const tl_keypair *kp, const char *json)
{
    tl_append_result res;
    if (tl_test_append(l, kp, json, &res) != 0)
        fail_msg("append failed: %s at %s: %s\n%s", res.err.rule, res.err.path, res.err.msg, json);
}

static void party_json(char *out, size_t cap, const char *id, const char *kind, const char *region,
                       const char *role, const tl_keypair *kp)
{
    char hex[65] = "";
    if (kp != NULL)
        tl_hex_encode(hex, kp->pk, 32);
    snprintf(out, cap,
             "{\"type\":\"participant.registered\",\"stream\":\"participant/%s\",\"data\":{\"id\":\"%s\","
             "\"name\":\"%s 名称\",\"kind\":\"%s\",\"region\":\"%s\",\"roles\":[%s%s%s],\"keys\":[%s%s%s]}}",
             id, id, id, kind, region, role ? "\"" : "", role ? role : "", role ? "\"" : "", kp ? "\"" : "", hex,
             kp ? "\"" : "");
}

static void world_open(world *w)
{
    tl_ledger_options o = {.clock = sim_clock, .clock_ctx = &w->clock};
    tl_error err;
    if (tl_ledger_open(&w->l, w->dir, &o, &err) != 0)
        fail_msg("open: %s: %s", err.rule, err.msg);
}

static void world_create(world *w, const char *tag, uint64_t step_ms)
{
    assert_int_equal(tl_crypto_init(), 0);
    memset(w, 0, sizeof *w);
    w->dir = tl_test_tmpdir(tag);
    w->clock.step_ms = step_ms;
    tl_keypair_generate(&w->admin);
    tl_keypair_generate(&w->registry);
    tl_keypair_generate(&w->fm);
    tl_keypair_generate(&w->bank[0]);
    tl_keypair_generate(&w->bank[1]);
    tl_ledger_options o = {.clock = sim_clock, .clock_ctx = &w->clock};
    tl_error err;
    if (tl_ledger_create(w->dir, "test.example/views", &w->admin, &o, &err) != 0)
        fail_msg("create: %s: %s", err.rule, err.msg);
    world_open(w);
    char json[2048];
    party_json(json, sizeof json, "registry-bj", "registry", "110000", "registry", &w->registry);
    must(w->l, &w->admin, json);
    party_json(json, sizeof json, "fm", "fund", "110000", "fund_manager", &w->fm);
    must(w->l, &w->admin, json);
    party_json(json, sizeof json, "bank1", "bank", "110000", "bank", &w->bank[0]);
    must(w->l, &w->admin, json);
    party_json(json, sizeof json, "bank2", "bank", "310000", "bank", &w->bank[1]);
    must(w->l, &w->admin, json);
    for (int i = 0; i < NPARTIES; i++) {
        party_json(json, sizeof json, party_ids[i], party_kinds[i], party_regions[i], "member", NULL);
        must(w->l, &w->admin, json);
    }
    /* the parties of tl_test_contract_json */
    party_json(json, sizeof json, "tsinghua", "university", "110108", "member", NULL);
    must(w->l, &w->admin, json);
    party_json(json, sizeof json, "acme", "enterprise", "310000", "member", NULL);
    must(w->l, &w->admin, json);
}

static void world_destroy(world *w)
{
    tl_ledger_close(w->l);
    tl_test_rmdir(w->dir);
    /* views live in DIR/views; a request file or secondaries beside it */
    free(w->dir);
    memset(w, 0, sizeof *w);
}

/* ---------- random events ---------- */

typedef struct gen {
    uint64_t rng;
    int ncontracts, nach, nloans, nprog, neq;
    struct {
        char reg[17];
        int32_t day;
    } contracts[4096];
    struct {
        char id[16];
        int bank;
        char pool[8];
        int32_t day;
        uint64_t principal, defaulted, compensated;
        bool has_default;
    } loans[1024];
    bool funds_made;
} gen;

static uint64_t rnd(gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

static unsigned pick(gen *g, unsigned n) { return (unsigned)(rnd(g) % n); }

static void date_str(char out[11], int32_t day) { tl_date_format(out, day); }

static const struct {
    const char *cls, *sub;
} class_pairs[] = {{"development", "commissioned"}, {"development", "cooperative"}, {"transfer", "patent"},
                   {"transfer", "technical_secret"},  {"license", "patent_license"},  {"license", "secret_license"},
                   {"consulting", "feasibility"},      {"service", "general"},        {"service", "training"}};
static const char *const fields_list[] = {"electronic_information", "advanced_manufacturing", "biomedicine",
                                          "new_energy", "agriculture", "urban_social"};
static const char *const regions[] = {"110108", "310000", "440300", "510100", "120000", "330100", "420100"};
static const char *const confs[] = {NULL, NULL, NULL, "public", "commercial_secret", "state_secret"};

typedef struct out_env {
    tl_buf *envs;
    size_t n, cap;
} out_env;

static void emit(out_env *o, const tl_keypair *kp, const char *json)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 256;
        o->envs = realloc(o->envs, o->cap * sizeof *o->envs);
        assert_non_null(o->envs);
    }
    tl_test_envelope(&o->envs[o->n++], kp, json);
}

static void emit_funds(world *w, gen *g, out_env *o)
{
    char j[2048];
    snprintf(j, sizeof j,
             "{\"type\":\"fund.established\",\"stream\":\"fund/gf\",\"data\":{\"id\":\"gf\",\"name\":\"引导基金\","
             "\"kind\":\"guidance\",\"level\":\"national\",\"region\":\"110000\",\"manager\":\"fm\"}}");
    emit(o, &w->admin, j);
    snprintf(j, sizeof j,
             "{\"type\":\"fund.established\",\"stream\":\"fund/lf\",\"data\":{\"id\":\"lf\",\"name\":\"地方基金\","
             "\"kind\":\"local\",\"level\":\"provincial\",\"region\":\"310000\",\"manager\":\"fm\"}}");
    emit(o, &w->admin, j);
    for (int i = 1; i <= 4; i++) {
        char size[64] = "";
        if (i % 2 == 0)
            snprintf(size, sizeof size, ",\"size_fen\":%u", 100000u + pick(g, 900000));
        snprintf(j, sizeof j,
                 "{\"type\":\"fund.established\",\"stream\":\"fund/sf%d\",\"data\":{\"id\":\"sf%d\",\"name\":\"子基金\","
                 "\"kind\":\"sub_fund\",\"level\":\"national\",\"region\":\"110000\",\"manager\":\"fm\","
                 "\"parent\":\"gf\"%s}}",
                 i, i, size);
        emit(o, &w->fm, j);
    }
    g->funds_made = true;
}

/* One random event (or nothing when its preconditions are missing). */
static void emit_random(world *w, gen *g, out_env *o)
{
    char j[4096], d1[11], d2[11];
    unsigned r = pick(g, 100);
    if (r < 40 || g->ncontracts == 0) {
        if (g->ncontracts == (int)(sizeof g->contracts / sizeof g->contracts[0]))
            return;
        int n = g->ncontracts++;
        snprintf(g->contracts[n].reg, 17, "2019%012d", n + 1);
        int32_t day;
        char ys[48];
        snprintf(ys, sizeof ys, "%d-0%u-1%u", 2016 + (int)pick(g, 5), 1 + pick(g, 9), pick(g, 9));
        assert_int_equal(tl_date_parse(&day, ys, strlen(ys)), 0);
        g->contracts[n].day = day;
        date_str(d1, day);
        date_str(d2, day - (int32_t)pick(g, 30));
        unsigned s = pick(g, NPARTIES), b = (s + 1 + pick(g, NPARTIES - 1)) % NPARTIES;
        uint64_t total = 1 + rnd(g) % 1000000000ull, tech = total - rnd(g) % (total + 1) / 2;
        const char *conf = confs[pick(g, 6)];
        char confs_s[64] = "";
        if (conf)
            snprintf(confs_s, sizeof confs_s, ",\"confidentiality\":\"%s\"", conf);
        unsigned cp = pick(g, sizeof class_pairs / sizeof class_pairs[0]);
        snprintf(j, sizeof j,
                 "{\"type\":\"contract.registered\",\"stream\":\"contract/%s\",\"data\":{\"reg_no\":\"%s\","
                 "\"class\":\"%s\",\"subtype\":\"%s\",\"seller\":\"%s\",\"buyer\":\"%s\",\"seller_region\":\"%s\","
                 "\"buyer_region\":\"%s\",\"field\":\"%s\",\"signed_on\":\"%s\",\"registered_on\":\"%s\","
                 "\"total_fen\":%llu,\"tech_fen\":%llu,\"title\":\"SECRET-TITLE-%s\"%s}}",
                 g->contracts[n].reg, g->contracts[n].reg, class_pairs[cp].cls, class_pairs[cp].sub, party_ids[s],
                 party_ids[b], regions[pick(g, 7)], regions[pick(g, 7)], fields_list[pick(g, 6)], d2, d1,
                 (unsigned long long)total, (unsigned long long)tech, g->contracts[n].reg, confs_s);
        emit(o, &w->registry, j);
        return;
    }
    if (r < 55) { /* amendment */
        int n = (int)pick(g, (unsigned)g->ncontracts);
        date_str(d1, g->contracts[n].day + 10);
        uint64_t total = 1 + rnd(g) % 1000000000ull, tech = total / (1 + pick(g, 3));
        snprintf(j, sizeof j,
                 "{\"type\":\"contract.amended\",\"stream\":\"contract/%s\",\"data\":{\"total_fen\":%llu,"
                 "\"tech_fen\":%llu,\"amended_on\":\"%s\",\"reason\":\"scope\"}}",
                 g->contracts[n].reg, (unsigned long long)total, (unsigned long long)tech, d1);
        emit(o, &w->registry, j);
        return;
    }
    if (r < 62) { /* cancellation */
        int n = (int)pick(g, (unsigned)g->ncontracts);
        date_str(d1, g->contracts[n].day + 20);
        snprintf(j, sizeof j,
                 "{\"type\":\"contract.cancelled\",\"stream\":\"contract/%s\",\"data\":{\"cancelled_on\":\"%s\","
                 "\"reason\":\"void\"}}",
                 g->contracts[n].reg, d1);
        emit(o, &w->registry, j);
        return;
    }
    if (r < 68) { /* payment */
        int n = (int)pick(g, (unsigned)g->ncontracts);
        date_str(d1, g->contracts[n].day + 5);
        snprintf(j, sizeof j,
                 "{\"type\":\"payment.received\",\"stream\":\"contract/%s\",\"data\":{\"amount_fen\":%u,"
                 "\"received_on\":\"%s\"}}",
                 g->contracts[n].reg, 1 + pick(g, 100000), d1);
        emit(o, &w->registry, j);
        return;
    }
    if (r < 74) { /* achievement */
        int n = ++g->nach;
        const char *conf = confs[3 + pick(g, 3)];
        snprintf(j, sizeof j,
                 "{\"type\":\"achievement.registered\",\"stream\":\"achievement/ach-%03d\",\"data\":{\"id\":"
                 "\"ach-%03d\",\"title\":\"SECRET-ACH-%d 成果\",\"owner\":\"%s\",\"field\":\"%s\","
                 "\"fiscal_funded\":%s,\"confidentiality\":\"%s\",\"ip\":\"ZL-%d\"}}",
                 n, n, n, party_ids[pick(g, NPARTIES)], fields_list[pick(g, 6)], pick(g, 2) ? "true" : "false", conf,
                 n);
        emit(o, &w->registry, j);
        return;
    }
    if (r < 77 && g->nach > 0) { /* equity */
        int n = ++g->neq;
        snprintf(j, sizeof j,
                 "{\"type\":\"equity.recorded\",\"stream\":\"equity/eq-%d\",\"data\":{\"id\":\"eq-%d\","
                 "\"achievement\":\"ach-%03u\",\"company\":\"%s\",\"valuation_fen\":%u,\"shares_ppm\":%u,"
                 "\"inventor_share_ppm\":%u,\"dated\":\"2019-06-01\"}}",
                 n, n, 1 + pick(g, (unsigned)g->nach), party_ids[pick(g, NPARTIES)], 1 + pick(g, 1000000),
                 1 + pick(g, 999999), pick(g, 1000000));
        emit(o, &w->registry, j);
        return;
    }
    if (r < 88) { /* fund flows */
        if (!g->funds_made) {
            emit_funds(w, g, o);
            return;
        }
        static const char *const funds[] = {"sf1", "sf2", "sf3", "sf4", "lf", "gf"};
        const char *f = funds[pick(g, 6)];
        unsigned t = pick(g, 3);
        if (t == 2) {
            snprintf(j, sizeof j,
                     "{\"type\":\"fund.invested\",\"stream\":\"fund/%s\",\"data\":{\"investee\":\"%s\","
                     "\"amount_fen\":%u,\"dated\":\"2019-03-01\",\"qualifying\":%s%s}}",
                     f, party_ids[pick(g, NPARTIES)], 1 + pick(g, 500000), pick(g, 2) ? "true" : "false",
                     pick(g, 2) ? ",\"co_investment_fen\":12345" : "");
        } else {
            bool guidance = pick(g, 3) == 0;
            static const char *const srcs[] = {"local_government", "social", "bank"};
            snprintf(j, sizeof j,
                     "{\"type\":\"fund.%s\",\"stream\":\"fund/%s\",\"data\":{\"investor\":\"%s\",\"source\":\"%s\","
                     "\"amount_fen\":%u,\"dated\":\"2019-02-01\"}}",
                     t == 0 ? "committed" : "called", f, guidance ? "gf" : party_ids[pick(g, NPARTIES)],
                     guidance ? "guidance" : srcs[pick(g, 3)], 1 + pick(g, 300000));
        }
        emit(o, &w->fm, j);
        return;
    }
    if (r < 96) { /* loans */
        if (!g->funds_made) {
            emit_funds(w, g, o);
            return;
        }
        unsigned t = pick(g, 3);
        if (t == 0 || g->nloans == 0) {
            if (g->nloans == 1024)
                return;
            int n = g->nloans++;
            snprintf(g->loans[n].id, sizeof g->loans[n].id, "loan-%d", n);
            g->loans[n].bank = (int)pick(g, 2);
            snprintf(g->loans[n].pool, sizeof g->loans[n].pool, "%s", pick(g, 2) ? "gf" : "lf");
            g->loans[n].day = (int32_t)(17000 + pick(g, 1500));
            g->loans[n].principal = 10000 + pick(g, 1000000);
            date_str(d1, g->loans[n].day);
            snprintf(j, sizeof j,
                     "{\"type\":\"loan.issued\",\"stream\":\"loan/%s\",\"data\":{\"id\":\"%s\",\"bank\":\"bank%d\","
                     "\"borrower\":\"%s\",\"amount_fen\":%llu,\"term_months\":12,\"dated\":\"%s\",\"pool\":\"%s\"}}",
                     g->loans[n].id, g->loans[n].id, g->loans[n].bank + 1, party_ids[1], (unsigned long long)g->loans[n].principal,
                     d1, g->loans[n].pool);
            emit(o, &w->bank[g->loans[n].bank], j);
            return;
        }
        int n = (int)pick(g, (unsigned)g->nloans);
        if (t == 1 && !g->loans[n].has_default) {
            g->loans[n].has_default = true;
            g->loans[n].defaulted = 1 + g->loans[n].principal / 2;
            date_str(d1, g->loans[n].day + 200);
            snprintf(j, sizeof j,
                     "{\"type\":\"loan.defaulted\",\"stream\":\"loan/%s\",\"data\":{\"id\":\"%s\",\"bank\":\"bank%d\","
                     "\"borrower\":\"%s\",\"amount_fen\":%llu,\"term_months\":12,\"dated\":\"%s\",\"pool\":\"%s\"}}",
                     g->loans[n].id, g->loans[n].id, g->loans[n].bank + 1, party_ids[1],
                     (unsigned long long)g->loans[n].defaulted, d1, g->loans[n].pool);
            emit(o, &w->bank[g->loans[n].bank], j);
        } else if (g->loans[n].has_default && g->loans[n].compensated < g->loans[n].defaulted) {
            uint64_t amount = 1 + (g->loans[n].defaulted - g->loans[n].compensated - 1) / 2;
            g->loans[n].compensated += amount;
            date_str(d1, g->loans[n].day + 300 + (int32_t)pick(g, 400));
            snprintf(j, sizeof j,
                     "{\"type\":\"loan.compensated\",\"stream\":\"loan/%s\",\"data\":{\"amount_fen\":%llu,"
                     "\"dated\":\"%s\"}}",
                     g->loans[n].id, (unsigned long long)amount, d1);
            emit(o, &w->fm, j);
        }
        return;
    }
    /* programme */
    static const char *const types[] = {"institution_designated", "zone_designated", "training_completed"};
    int n = ++g->nprog;
    unsigned t = pick(g, 3);
    char count[32] = "";
    if (t == 2 || pick(g, 4) == 0)
        snprintf(count, sizeof count, ",\"count\":%u", 1 + pick(g, 500));
    snprintf(j, sizeof j,
             "{\"type\":\"programme.%s\",\"stream\":\"programme/p-%d\",\"data\":{\"id\":\"p-%d\",\"name\":\"示范\","
             "\"dated\":\"%d-05-01\"%s}}",
             types[t], n, n, 2016 + (int)pick(g, 6), count);
    emit(o, &w->admin, j);
}

static void free_envs(out_env *o)
{
    for (size_t i = 0; i < o->n; i++)
        tl_buf_free(&o->envs[i]);
    free(o->envs);
    memset(o, 0, sizeof *o);
}

/* ---------- the brute force: every record decoded strictly and folded with plain arrays ---------- */

typedef struct bf_party {
    char id[65];
    int kind;
    int64_t c[2][11]; /* [public?0:1][sold n,total,tech,lic, bought n,total,tech,lic, cancelled, pays, pay fen] */
    int64_t eq_n, eq_val;
} bf_party;

typedef struct bf_contract {
    char reg[17], seller[65], buyer[65];
    int year, sprov, bprov, cls, field, kind, conf;
    int64_t total, tech;
    bool cancelled;
} bf_contract;

typedef struct bf_fund {
    char id[65], parent[65];
    int kind;
    bool has_size;
    int64_t size, committed[4], called[4], invested, qualifying, coinv;
    struct {
        char id[65];
        int64_t committed, guidance;
    } inv[64];
    int ninv;
} bf_fund;

typedef struct bf_loan {
    char id[65], bank[65], pool[65];
} bf_loan;

typedef struct bf_cell {
    char pool[65], bank[65];
    int year;
    int64_t c[5];
} bf_cell;

typedef struct bf_ach {
    char id[65], owner[65];
    int field, conf;
} bf_ach;

typedef struct bf {
    bf_party parties[64];
    int nparties;
    bf_contract *contracts;
    int ncontracts;
    bf_fund funds[16];
    int nfunds;
    bf_loan loans[1024];
    int nloans;
    bf_cell cells[1024];
    int ncells;
    bf_ach achs[512];
    int nachs;
    char ach_owner[512][65];
    int64_t prog[3];
} bf;

static bool s_field(const tl_event *ev, const char *name, char *out, size_t cap)
{
    uint32_t n = tl_mp_map_get(&ev->doc, ev->data, name);
    if (n == 0 || ev->doc.nodes[n].type != TL_MP_STR)
        return false;
    size_t len = ev->doc.nodes[n].v.s.len < cap - 1 ? ev->doc.nodes[n].v.s.len : cap - 1;
    memcpy(out, ev->doc.nodes[n].v.s.ptr, len);
    out[len] = '\0';
    return true;
}

static uint64_t u_field(const tl_event *ev, const char *name, uint64_t def)
{
    uint32_t n = tl_mp_map_get(&ev->doc, ev->data, name);
    return n && ev->doc.nodes[n].type == TL_MP_UINT ? ev->doc.nodes[n].v.u : def;
}

static bool b_field(const tl_event *ev, const char *name)
{
    uint32_t n = tl_mp_map_get(&ev->doc, ev->data, name);
    return n && ev->doc.nodes[n].type == TL_MP_BOOL && ev->doc.nodes[n].v.b;
}

static int code_field(const tl_event *ev, const char *name, const tl_codelist *list, int def)
{
    char s[64];
    if (!s_field(ev, name, s, sizeof s))
        return def;
    int c = tl_code_parse(list, s, strlen(s));
    return c < 0 ? def : c;
}

static int year_field(const tl_event *ev, const char *name)
{
    char s[16];
    int32_t d;
    assert_true(s_field(ev, name, s, sizeof s));
    assert_int_equal(tl_date_parse(&d, s, strlen(s)), 0);
    return tl_date_year(d);
}

static bf_party *bf_party_get(bf *b, const char *id)
{
    for (int i = 0; i < b->nparties; i++)
        if (strcmp(b->parties[i].id, id) == 0)
            return &b->parties[i];
    return NULL;
}

static bf_contract *bf_contract_get(bf *b, const char *reg)
{
    for (int i = 0; i < b->ncontracts; i++)
        if (strcmp(b->contracts[i].reg, reg) == 0)
            return &b->contracts[i];
    return NULL;
}

static bf_fund *bf_fund_get(bf *b, const char *id)
{
    for (int i = 0; i < b->nfunds; i++)
        if (strcmp(b->funds[i].id, id) == 0)
            return &b->funds[i];
    return NULL;
}

static void bf_count(bf *b, const bf_contract *c, int64_t sign)
{
    int vis = c->conf == TL_CONF_PUBLIC ? 0 : 1;
    bf_party *s = bf_party_get(b, c->seller), *y = bf_party_get(b, c->buyer);
    int64_t lic = c->cls == TL_CLASS_LICENSE;
    int64_t d[4] = {sign, sign * c->total, sign * c->tech, sign * lic};
    for (int k = 0; k < 4; k++) {
        if (s)
            s->c[vis][k] += d[k];
        if (y)
            y->c[vis][4 + k] += d[k];
    }
}

static void bf_cell_add(bf *b, const char *pool, const char *bank, int year, int idx, int64_t amount)
{
    bf_cell *c = NULL;
    for (int i = 0; i < b->ncells && !c; i++)
        if (strcmp(b->cells[i].pool, pool) == 0 && strcmp(b->cells[i].bank, bank) == 0 && b->cells[i].year == year)
            c = &b->cells[i];
    if (c == NULL) {
        c = &b->cells[b->ncells++];
        memset(c, 0, sizeof *c);
        snprintf(c->pool, sizeof c->pool, "%s", pool);
        snprintf(c->bank, sizeof c->bank, "%s", bank);
        c->year = year;
    }
    if (idx < 5 && idx != 4)
        c->c[idx]++;
    c->c[idx == 0 ? 1 : idx == 2 ? 3 : 4] += amount;
}

typedef struct bf_scan {
    bf *b;
    uint32_t max_day; /* Beijing day: only records up to the end of it */
} bf_scan;

static int bf_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq;
    bf_scan *sc = ctx;
    bf *b = sc->b;
    tl_record r;
    tl_error err;
    assert_int_equal(tl_record_decode(&r, rec, len, &err), 0);
    if ((r.recorded_ms + BEIJING_MS) / DAY_MS > sc->max_day)
        return 1;
    tl_event ev;
    assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err), 0);
    const tl_event_spec *spec = tl_schema_for_type(ev.type, strlen(ev.type));
    assert_non_null(spec);
    const char *sid = strchr(ev.stream, '/') ? strchr(ev.stream, '/') + 1 : "";
    char a[65], c2[65];
    switch (spec->id) {
    case TL_EV_PARTICIPANT_REGISTERED: {
        bf_party *p = &b->parties[b->nparties++];
        memset(p, 0, sizeof *p);
        s_field(&ev, "id", p->id, sizeof p->id);
        p->kind = code_field(&ev, "kind", &tl_codes_participant_kind, -1);
        break;
    }
    case TL_EV_CONTRACT_REGISTERED: {
        bf_contract *c = &b->contracts[b->ncontracts++];
        memset(c, 0, sizeof *c);
        s_field(&ev, "reg_no", c->reg, sizeof c->reg);
        s_field(&ev, "seller", c->seller, sizeof c->seller);
        s_field(&ev, "buyer", c->buyer, sizeof c->buyer);
        c->year = year_field(&ev, "registered_on");
        s_field(&ev, "seller_region", a, sizeof a);
        c->sprov = (a[0] - '0') * 10 + (a[1] - '0');
        s_field(&ev, "buyer_region", a, sizeof a);
        c->bprov = (a[0] - '0') * 10 + (a[1] - '0');
        c->cls = code_field(&ev, "class", &tl_codes_class, -1);
        c->field = code_field(&ev, "field", &tl_codes_field, -1);
        c->conf = code_field(&ev, "confidentiality", &tl_codes_confidentiality, TL_CONF_PUBLIC);
        bf_party *s = bf_party_get(b, c->seller);
        c->kind = s ? s->kind : TL_KIND_COUNT;
        c->total = (int64_t)u_field(&ev, "total_fen", 0);
        c->tech = (int64_t)u_field(&ev, "tech_fen", 0);
        bf_count(b, c, 1);
        break;
    }
    case TL_EV_CONTRACT_AMENDED:
    case TL_EV_CONTRACT_CANCELLED:
    case TL_EV_PAYMENT_RECEIVED: {
        bf_contract *c = bf_contract_get(b, sid);
        assert_non_null(c);
        int vis = c->conf == TL_CONF_PUBLIC ? 0 : 1;
        if (spec->id == TL_EV_PAYMENT_RECEIVED) {
            bf_party *s = bf_party_get(b, c->seller);
            s->c[vis][9]++;
            s->c[vis][10] += (int64_t)u_field(&ev, "amount_fen", 0);
            break;
        }
        if (c->cancelled)
            break;
        bf_count(b, c, -1);
        if (spec->id == TL_EV_CONTRACT_CANCELLED) {
            c->cancelled = true;
            bf_party_get(b, c->seller)->c[vis][8]++;
            bf_party_get(b, c->buyer)->c[vis][8]++;
        } else {
            c->total = (int64_t)u_field(&ev, "total_fen", 0);
            c->tech = (int64_t)u_field(&ev, "tech_fen", 0);
            bf_count(b, c, 1);
        }
        break;
    }
    case TL_EV_ACHIEVEMENT_REGISTERED: {
        bf_ach *x = &b->achs[b->nachs++];
        s_field(&ev, "id", x->id, sizeof x->id);
        s_field(&ev, "owner", x->owner, sizeof x->owner);
        x->field = code_field(&ev, "field", &tl_codes_field, -1);
        x->conf = code_field(&ev, "confidentiality", &tl_codes_confidentiality, -1);
        break;
    }
    case TL_EV_EQUITY_RECORDED: {
        s_field(&ev, "achievement", a, sizeof a);
        s_field(&ev, "company", c2, sizeof c2);
        const char *owner = "";
        for (int i = 0; i < b->nachs; i++)
            if (strcmp(b->achs[i].id, a) == 0)
                owner = b->achs[i].owner;
        int64_t val = (int64_t)u_field(&ev, "valuation_fen", 0);
        bf_party *p = bf_party_get(b, owner);
        if (p) {
            p->eq_n++;
            p->eq_val += val;
        }
        if (strcmp(owner, c2) != 0 && (p = bf_party_get(b, c2)) != NULL) {
            p->eq_n++;
            p->eq_val += val;
        }
        break;
    }
    case TL_EV_FUND_ESTABLISHED: {
        bf_fund *f = &b->funds[b->nfunds++];
        memset(f, 0, sizeof *f);
        s_field(&ev, "id", f->id, sizeof f->id);
        s_field(&ev, "parent", f->parent, sizeof f->parent);
        f->kind = code_field(&ev, "kind", &tl_codes_fund_kind, -1);
        uint32_t n = tl_mp_map_get(&ev.doc, ev.data, "size_fen");
        f->has_size = n != 0;
        f->size = (int64_t)u_field(&ev, "size_fen", 0);
        break;
    }
    case TL_EV_FUND_COMMITTED:
    case TL_EV_FUND_CALLED:
    case TL_EV_FUND_INVESTED: {
        bf_fund *f = bf_fund_get(b, sid);
        assert_non_null(f);
        int64_t amount = (int64_t)u_field(&ev, "amount_fen", 0);
        if (spec->id == TL_EV_FUND_INVESTED) {
            f->invested += amount;
            if (b_field(&ev, "qualifying"))
                f->qualifying += amount;
            f->coinv += (int64_t)u_field(&ev, "co_investment_fen", 0);
            break;
        }
        int src = code_field(&ev, "source", &tl_codes_fund_source, -1);
        if (spec->id == TL_EV_FUND_CALLED) {
            f->called[src] += amount;
            break;
        }
        f->committed[src] += amount;
        s_field(&ev, "investor", a, sizeof a);
        int k = 0;
        while (k < f->ninv && strcmp(f->inv[k].id, a) != 0)
            k++;
        if (k == f->ninv) {
            assert_true(f->ninv < 64);
            memset(&f->inv[k], 0, sizeof f->inv[k]);
            snprintf(f->inv[k].id, sizeof f->inv[k].id, "%s", a);
            f->ninv++;
        }
        f->inv[k].committed += amount;
        if (src == TL_SOURCE_GUIDANCE)
            f->inv[k].guidance += amount;
        break;
    }
    case TL_EV_LOAN_ISSUED:
    case TL_EV_LOAN_DEFAULTED: {
        bf_loan l;
        s_field(&ev, "id", l.id, sizeof l.id);
        s_field(&ev, "bank", l.bank, sizeof l.bank);
        s_field(&ev, "pool", l.pool, sizeof l.pool);
        if (spec->id == TL_EV_LOAN_ISSUED)
            b->loans[b->nloans++] = l;
        bf_cell_add(b, l.pool, l.bank, year_field(&ev, "dated"), spec->id == TL_EV_LOAN_ISSUED ? 0 : 2,
                    (int64_t)u_field(&ev, "amount_fen", 0));
        break;
    }
    case TL_EV_LOAN_COMPENSATED: {
        bf_loan *l = NULL;
        for (int i = 0; i < b->nloans; i++)
            if (strcmp(b->loans[i].id, sid) == 0)
                l = &b->loans[i];
        assert_non_null(l);
        bf_cell_add(b, l->pool, l->bank, year_field(&ev, "dated"), 4, (int64_t)u_field(&ev, "amount_fen", 0));
        break;
    }
    case TL_EV_PROGRAMME_INSTITUTION_DESIGNATED: b->prog[0] += (int64_t)u_field(&ev, "count", 1); break;
    case TL_EV_PROGRAMME_ZONE_DESIGNATED: b->prog[1] += (int64_t)u_field(&ev, "count", 1); break;
    case TL_EV_PROGRAMME_TRAINING_COMPLETED: b->prog[2] += (int64_t)u_field(&ev, "count", 1); break;
    default: break;
    }
    tl_event_free(&ev);
    return 0;
}

static void bf_run(bf *b, tl_ledger *l, uint32_t max_day)
{
    memset(b, 0, sizeof *b);
    b->contracts = calloc(8192, sizeof *b->contracts);
    assert_non_null(b->contracts);
    bf_scan sc = {b, max_day};
    tl_error err;
    int rc = tl_ledger_scan(l, 0, tl_ledger_size(l), bf_record, &sc, &err);
    assert_true(rc == 0 || rc == 1);
}

static void bf_free(bf *b) { free(b->contracts); }

/* ---------- expected views ---------- */

typedef struct trow {
    int key[6];
    int64_t v[3];
} trow;

static int trow_cmp(const void *a, const void *b)
{
    const trow *x = a, *y = b;
    for (int i = 0; i < 6; i++)
        if (x->key[i] != y->key[i])
            return x->key[i] < y->key[i] ? -1 : 1;
    return 0;
}

static json_t *bf_turnover_rows(const bf *b, unsigned by, int year_only)
{
    trow *rows = calloc((size_t)b->ncontracts + 1, sizeof *rows);
    int n = 0;
    for (int i = 0; i < b->ncontracts; i++) {
        const bf_contract *c = &b->contracts[i];
        if (c->cancelled || (year_only && c->year != year_only))
            continue;
        trow t = {{by & TL_DIM_YEAR ? c->year : -1, by & TL_DIM_SELLER_PROVINCE ? c->sprov : -1,
                   by & TL_DIM_BUYER_PROVINCE ? c->bprov : -1, by & TL_DIM_CLASS ? c->cls : -1,
                   by & TL_DIM_FIELD ? c->field : -1, by & TL_DIM_SELLER_KIND ? c->kind : -1},
                  {1, c->total, c->tech}};
        int k = 0;
        while (k < n && trow_cmp(&rows[k], &t) != 0)
            k++;
        if (k == n)
            rows[n++] = t;
        else
            for (int j = 0; j < 3; j++)
                rows[k].v[j] += t.v[j];
    }
    qsort(rows, (size_t)n, sizeof *rows, trow_cmp);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *r = json_object();
        char s[16];
        if (by & TL_DIM_YEAR) {
            snprintf(s, sizeof s, "%d", rows[i].key[0]);
            json_object_set_new(r, "year", json_string(s));
        }
        if (by & TL_DIM_SELLER_PROVINCE) {
            snprintf(s, sizeof s, "%02d", rows[i].key[1]);
            json_object_set_new(r, "seller_province", json_string(s));
        }
        if (by & TL_DIM_BUYER_PROVINCE) {
            snprintf(s, sizeof s, "%02d", rows[i].key[2]);
            json_object_set_new(r, "buyer_province", json_string(s));
        }
        if (by & TL_DIM_CLASS)
            json_object_set_new(r, "class", json_string(tl_code_name(&tl_codes_class, rows[i].key[3])));
        if (by & TL_DIM_FIELD)
            json_object_set_new(r, "field", json_string(tl_code_name(&tl_codes_field, rows[i].key[4])));
        if (by & TL_DIM_SELLER_KIND) {
            const char *k = tl_code_name(&tl_codes_participant_kind, rows[i].key[5]);
            json_object_set_new(r, "seller_kind", json_string(k ? k : "unknown"));
        }
        json_object_set_new(r, "contracts", json_integer(rows[i].v[0]));
        json_object_set_new(r, "total_fen", json_integer(rows[i].v[1]));
        json_object_set_new(r, "tech_fen", json_integer(rows[i].v[2]));
        json_array_append_new(arr, r);
    }
    free(rows);
    return arr;
}

static void expect_equal_json(const json_t *got, const json_t *want, const char *what)
{
    if (!json_equal((json_t *)got, (json_t *)want)) {
        char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
        fprintf(stderr, "%s differs\n got: %.3000s\nwant: %.3000s\n", what, g ? g : "?", w ? w : "?");
        free(g);
        free(w);
        fail();
    }
}

/* A ratio as the views print it, computed here with 128-bit arithmetic. */
static void ratio4(char *out, size_t cap, uint64_t num, uint64_t den)
{
    if (den == 0) {
        out[0] = '\0';
        return;
    }
    __extension__ unsigned __int128 q = (unsigned __int128)num * 10000u / den;
    snprintf(out, cap, "%llu.%04u", (unsigned long long)(q / 10000u), (unsigned)(q % 10000u));
}

static json_t *query(tl_views *v, tl_access a, const char *path, const char *k1, const char *v1, const char *k2,
                     const char *v2)
{
    tl_view_param p[2] = {{k1, v1}, {k2, v2}};
    size_t n = k2 ? 2 : k1 ? 1 : 0;
    json_t *res = NULL;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_view_query(&res, v, a, path, p, n, &err);
    if (rc != 0)
        fail_msg("view %s: %s at %s: %s", path, err.rule, err.path, err.msg);
    return res;
}

static void check_funds(tl_views *v, const bf *b)
{
    json_t *res = query(v, TL_ACCESS_FUND_MANAGER, "funds", NULL, NULL, NULL, NULL);
    json_t *rows = json_object_get(res, "rows");
    assert_int_equal(json_array_size(rows), (size_t)b->nfunds);
    json_t *want_findings = json_array();
    for (int i = 0; i < b->nfunds; i++) {
        const bf_fund *f = &b->funds[i];
        /* a guidance fund's figures are its sub-funds' */
        bf_fund s = *f;
        if (f->kind == TL_FUND_GUIDANCE) {
            memset(s.committed, 0, sizeof s.committed);
            memset(s.called, 0, sizeof s.called);
            s.invested = s.qualifying = s.coinv = 0;
            for (int k = 0; k < b->nfunds; k++) {
                const bf_fund *c = &b->funds[k];
                if (c->kind != TL_FUND_SUB_FUND || strcmp(c->parent, f->id) != 0)
                    continue;
                for (int q = 0; q < 4; q++) {
                    s.committed[q] += c->committed[q];
                    s.called[q] += c->called[q];
                }
                s.invested += c->invested;
                s.qualifying += c->qualifying;
                s.coinv += c->coinv;
            }
        }
        int64_t committed = 0, paid = 0;
        for (int q = 0; q < 4; q++) {
            committed += s.committed[q];
            paid += s.called[q];
        }
        int64_t g = s.committed[TL_SOURCE_GUIDANCE];
        json_t *row = NULL;
        size_t k;
        json_t *r;
        json_array_foreach(rows, k, r) if (strcmp(json_string_value(json_object_get(r, "fund")), f->id) == 0) row = r;
        assert_non_null(row);
        char l1[32], l2[32], dm[32], l1p[32];
        ratio4(l1, sizeof l1, (uint64_t)committed, (uint64_t)g);
        ratio4(l1p, sizeof l1p, (uint64_t)paid, (uint64_t)s.called[TL_SOURCE_GUIDANCE]);
        ratio4(l2, sizeof l2, (uint64_t)(s.invested + s.coinv), (uint64_t)g);
        ratio4(dm, sizeof dm, (uint64_t)s.qualifying, (uint64_t)g);
        int64_t share = committed ? g * 1000000 / committed : 0;
        json_t *want = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:s}", "guidance_committed_fen",
                                 (json_int_t)g, "committed_fen", (json_int_t)committed, "paid_in_fen", (json_int_t)paid,
                                 "invested_fen", (json_int_t)s.invested, "qualifying_invested_fen",
                                 (json_int_t)s.qualifying, "co_investment_fen", (json_int_t)s.coinv,
                                 "guidance_share_ppm", (json_int_t)share, "l1_committed", l1, "l1_paid_in", l1p, "l2",
                                 l2, "directed_multiple", dm);
        json_t *got = json_object();
        const char *key;
        json_t *val;
        json_object_foreach(want, key, val) json_object_set(got, key, json_object_get(row, key));
        expect_equal_json(got, want, f->id);
        json_decref(got);
        json_decref(want);
        if (f->kind == TL_FUND_SUB_FUND) {
            if (committed > 0 && (share < 100000 || share > 300000))
                json_array_append_new(want_findings, json_pack("[s,s]", "fund.guidance_share", f->id));
            int64_t tg = 0, to = 0;
            for (int q = 0; q < f->ninv; q++) {
                int64_t *t = f->inv[q].guidance > 0 ? &tg : &to;
                if (f->inv[q].committed > *t)
                    *t = f->inv[q].committed;
            }
            if (tg > 0 && tg >= to)
                json_array_append_new(want_findings, json_pack("[s,s]", "fund.guidance_largest", f->id));
            if (g > 0 && s.qualifying < 3 * g)
                json_array_append_new(want_findings, json_pack("[s,s]", "fund.directed_multiple", f->id));
            if (f->has_size && 2 * s.qualifying < f->size)
                json_array_append_new(want_findings, json_pack("[s,s]", "fund.directed_half", f->id));
        }
    }
    /* bank-year compensation cap */
    for (int i = 0; i < b->ncells; i++) {
        bool seen = false;
        for (int k = 0; k < i; k++)
            seen = seen || (strcmp(b->cells[k].bank, b->cells[i].bank) == 0 && b->cells[k].year == b->cells[i].year);
        if (seen)
            continue;
        int64_t lent = 0, comp = 0;
        for (int k = 0; k < b->ncells; k++) {
            if (strcmp(b->cells[k].bank, b->cells[i].bank) == 0 && b->cells[k].year == b->cells[i].year) {
                lent += b->cells[k].c[1];
                comp += b->cells[k].c[4];
            }
        }
        if (comp * 100 > lent * 2)
            json_array_append_new(want_findings, json_pack("[s,s]", "loan.compensation_cap", b->cells[i].bank));
    }
    json_t *got_findings = json_array();
    size_t k;
    json_t *f;
    json_array_foreach(json_object_get(res, "findings"), k, f)
    {
        json_t *who = json_object_get(f, "fund") ? json_object_get(f, "fund") : json_object_get(f, "bank");
        json_array_append_new(got_findings, json_pack("[s,s]", json_string_value(json_object_get(f, "rule")),
                                                      json_string_value(who)));
    }
    /* compare as sorted lists of "rule who" */
    char *a[512], *c[512];
    size_t na = json_array_size(got_findings), nc = json_array_size(want_findings);
    assert_true(na < 512 && nc < 512);
    for (size_t i = 0; i < na; i++)
        a[i] = json_dumps(json_array_get(got_findings, i), JSON_COMPACT);
    for (size_t i = 0; i < nc; i++)
        c[i] = json_dumps(json_array_get(want_findings, i), JSON_COMPACT);
    for (size_t i = 0; i + 1 < na; i++)
        for (size_t j = i + 1; j < na; j++)
            if (strcmp(a[i], a[j]) > 0) {
                char *t = a[i];
                a[i] = a[j];
                a[j] = t;
            }
    for (size_t i = 0; i + 1 < nc; i++)
        for (size_t j = i + 1; j < nc; j++)
            if (strcmp(c[i], c[j]) > 0) {
                char *t = c[i];
                c[i] = c[j];
                c[j] = t;
            }
    if (na != nc)
        fprintf(stderr, "findings: got %zu want %zu\n", na, nc);
    assert_int_equal(na, nc);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i], c[i]);
        free(a[i]);
        free(c[i]);
    }
    json_decref(got_findings);
    json_decref(want_findings);
    json_decref(res);

    /* loans */
    res = query(v, TL_ACCESS_FUND_MANAGER, "loans", NULL, NULL, NULL, NULL);
    rows = json_object_get(res, "rows");
    assert_int_equal(json_array_size(rows), (size_t)b->ncells);
    for (int i = 0; i < b->ncells; i++) {
        const bf_cell *cl = &b->cells[i];
        char y[8];
        snprintf(y, sizeof y, "%d", cl->year);
        json_t *row = NULL, *r;
        json_array_foreach(rows, k, r)
        {
            if (strcmp(json_string_value(json_object_get(r, "pool")), cl->pool) == 0 &&
                strcmp(json_string_value(json_object_get(r, "bank")), cl->bank) == 0 &&
                strcmp(json_string_value(json_object_get(r, "year")), y) == 0)
                row = r;
        }
        assert_non_null(row);
        assert_int_equal(json_integer_value(json_object_get(row, "loans")), cl->c[0]);
        assert_int_equal(json_integer_value(json_object_get(row, "lent_fen")), cl->c[1]);
        assert_int_equal(json_integer_value(json_object_get(row, "defaults")), cl->c[2]);
        assert_int_equal(json_integer_value(json_object_get(row, "defaulted_fen")), cl->c[3]);
        assert_int_equal(json_integer_value(json_object_get(row, "compensated_fen")), cl->c[4]);
    }
    json_decref(res);
}

static void check_institutions(tl_views *v, const bf *b)
{
    for (int i = 0; i < b->nparties; i++) {
        const bf_party *p = &b->parties[i];
        for (int pass = 0; pass < 2; pass++) {
            tl_access a = pass ? TL_ACCESS_PUBLIC : TL_ACCESS_AUDITOR;
            char path[96];
            snprintf(path, sizeof path, "institutions/%s", p->id);
            json_t *res = query(v, a, path, NULL, NULL, NULL, NULL);
            int64_t c[11];
            for (int k = 0; k < 11; k++)
                c[k] = p->c[0][k] + (pass ? 0 : p->c[1][k]);
            json_t *want = json_pack("{s:{s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:I}", "sold",
                                     "contracts", (json_int_t)c[0], "total_fen", (json_int_t)c[1], "tech_fen",
                                     (json_int_t)c[2], "licences", (json_int_t)c[3], "bought", "contracts",
                                     (json_int_t)c[4], "total_fen", (json_int_t)c[5], "tech_fen", (json_int_t)c[6],
                                     "licences", (json_int_t)c[7], "cancelled", (json_int_t)c[8], "payments",
                                     (json_int_t)c[9], "payments_received_fen", (json_int_t)c[10], "equity_deals",
                                     (json_int_t)p->eq_n, "equity_valuation_fen", (json_int_t)p->eq_val);
            json_t *got = json_object();
            const char *key;
            json_t *val;
            json_object_foreach(want, key, val) json_object_set(got, key, json_object_get(res, key));
            expect_equal_json(got, want, path);
            json_decref(got);
            json_decref(want);
            json_decref(res);
        }
    }
}

static void check_catalogue(tl_views *v, const bf *b)
{
    for (int pass = 0; pass < 2; pass++) {
        tl_access a = pass ? TL_ACCESS_PUBLIC : TL_ACCESS_STATISTICS;
        json_t *res = query(v, a, "achievements", "limit", "100000", NULL, NULL);
        json_t *ids = json_array();
        size_t k;
        json_t *r;
        json_array_foreach(json_object_get(res, "rows"), k, r) json_array_append(ids, json_object_get(r, "id"));
        json_t *want = json_array();
        /* ids are ach-NNN, registered in order: the log order is the id order */
        for (int i = 0; i < b->nachs; i++)
            if (!pass || b->achs[i].conf == TL_CONF_PUBLIC)
                json_array_append_new(want, json_string(b->achs[i].id));
        expect_equal_json(ids, want, "achievement ids");
        json_decref(ids);
        json_decref(want);
        want = json_array();
        for (int f = 0; f < TL_FIELD_COUNT; f++) {
            int64_t t = 0, pub = 0;
            for (int i = 0; i < b->nachs; i++) {
                t += b->achs[i].field == f;
                pub += b->achs[i].field == f && b->achs[i].conf == TL_CONF_PUBLIC;
            }
            if (t)
                json_array_append_new(want, json_pack("{s:s,s:I,s:I}", "field", tl_code_name(&tl_codes_field, f),
                                                      "total", (json_int_t)t, "public", (json_int_t)pub));
        }
        expect_equal_json(json_object_get(res, "by_field"), want, "by_field");
        json_decref(want);
        json_decref(res);
    }
    json_t *res = query(v, TL_ACCESS_PUBLIC, "targets", NULL, NULL, NULL, NULL);
    json_t *rows = json_object_get(res, "rows");
    for (int p = 0; p < 3; p++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, (size_t)p + 1), "actual")),
                         b->prog[p]);
    json_decref(res);
}

static const char *const by_list[] = {"year",
                                      "year,seller_province",
                                      "year,buyer_province",
                                      "class",
                                      "year,field",
                                      "seller_kind",
                                      "year,seller_province,class",
                                      "buyer_province,field,seller_kind",
                                      "year,seller_province,buyer_province,class,field,seller_kind",
                                      ""};

static void check_turnover(tl_views *v, tl_ledger *l, uint32_t day, const char *as_of)
{
    bf b;
    bf_run(&b, l, day);
    for (size_t i = 0; i < sizeof by_list / sizeof by_list[0]; i++) {
        unsigned by;
        tl_error err;
        assert_int_equal(tl_turnover_dims_parse(&by, by_list[i], &err), 0);
        json_t *res = query(v, TL_ACCESS_STATISTICS, "turnover", "by", by_list[i], as_of ? "as_of" : NULL, as_of);
        json_t *want = bf_turnover_rows(&b, by, 0);
        char what[160];
        snprintf(what, sizeof what, "turnover by %s as of %s", by_list[i], as_of ? as_of : "now");
        expect_equal_json(json_object_get(res, "rows"), want, what);
        json_decref(want);
        json_decref(res);
    }
    /* one year only */
    json_t *res = query(v, TL_ACCESS_PUBLIC, "turnover", "by", "year,class", "year", "2018");
    if (as_of == NULL) {
        json_t *want = bf_turnover_rows(&b, TL_DIM_YEAR | TL_DIM_CLASS, 2018);
        expect_equal_json(json_object_get(res, "rows"), want, "turnover 2018 by class");
        json_decref(want);
    }
    json_decref(res);
    bf_free(&b);
}

/* Every view, for comparing two sets of views (incremental, rebuilt, restarted). */
static json_t *all_views(tl_views *v)
{
    json_t *all = json_object();
    for (size_t i = 0; i < sizeof by_list / sizeof by_list[0]; i++)
        json_object_set_new(all, by_list[i], query(v, TL_ACCESS_AUDITOR, "turnover", "by", by_list[i], NULL, NULL));
    json_object_set_new(all, "asof", query(v, TL_ACCESS_AUDITOR, "turnover", "by", "year,class", "as_of", "2019-01-20"));
    json_object_set_new(all, "funds", query(v, TL_ACCESS_AUDITOR, "funds", NULL, NULL, NULL, NULL));
    json_object_set_new(all, "loans", query(v, TL_ACCESS_AUDITOR, "loans", NULL, NULL, NULL, NULL));
    json_object_set_new(all, "targets", query(v, TL_ACCESS_AUDITOR, "targets", NULL, NULL, NULL, NULL));
    json_object_set_new(all, "ach", query(v, TL_ACCESS_AUDITOR, "achievements", "limit", "100000", NULL, NULL));
    json_object_set_new(all, "achp", query(v, TL_ACCESS_PUBLIC, "achievements", "limit", "100000", NULL, NULL));
    for (int i = 0; i < NPARTIES; i++) {
        char path[64];
        snprintf(path, sizeof path, "institutions/%s", party_ids[i]);
        json_object_set_new(all, path, query(v, TL_ACCESS_AUDITOR, path, NULL, NULL, NULL, NULL));
    }
    return all;
}

/* ---------- tests ---------- */

static tl_views *views_open(tl_ledger *l, uint32_t batch, const char *views_dir)
{
    tl_views *v = NULL;
    tl_views_options o = {.mode = TL_VIEWS_RUN, .batch_records = batch, .views_dir = views_dir};
    tl_error err;
    if (tl_views_open(&v, l, &o, &err) != 0)
        fail_msg("views: %s: %s", err.rule, err.msg);
    return v;
}

static void views_settle(tl_views *v)
{
    tl_error err;
    if (tl_views_rebuild_wait(v, SYNC_MS, &err) != 0 || tl_views_sync(v, 0, SYNC_MS, &err) != 0)
        fail_msg("views did not settle: %s: %s", err.rule, err.msg);
}

static void ingest(world *w, gen *g, int n, tl_views *v, const char *rebuild_midway)
{
    out_env o = {0};
    for (int i = 0; i < n; i++)
        emit_random(w, g, &o);
    size_t half = o.n / 2;
    tl_test_submitted first, second;
    tl_test_submit_all(w->l, o.envs, half, &first);
    if (rebuild_midway != NULL) {
        tl_error err;
        assert_int_equal(tl_views_rebuild(v, strcmp(rebuild_midway, "*") ? rebuild_midway : NULL, &err), 0);
    }
    tl_test_submit_all(w->l, o.envs + half, o.n - half, &second);
    /* most random events are valid; a few are refused by the rules (e.g. a cancelled contract) */
    size_t created = first.created + second.created;
    assert_true(created > o.n - created);
    free_envs(&o);
}

/* A world (a record every hour) holding n random events of the generator seeded with seed. */
static void world_with_events(world *w, const char *tag, uint64_t seed, int n)
{
    world_create(w, tag, 3600000u);
    gen *g = calloc(1, sizeof *g);
    assert_non_null(g);
    g->rng = seed;
    ingest(w, g, n, NULL, NULL);
    free(g);
}

/* Every view of l once its views (in views_dir; NULL: DIR/views) have caught up. */
static json_t *views_snapshot(tl_ledger *l, const char *views_dir)
{
    tl_views *v = views_open(l, 0, views_dir);
    views_settle(v);
    json_t *all = all_views(v);
    tl_views_close(v);
    return all;
}

/* Once v has caught up, every view equals want's. */
static void expect_views(tl_views *v, const json_t *want, const char *what)
{
    views_settle(v);
    json_t *got = all_views(v);
    expect_equal_json(got, want, what);
    json_decref(got);
}

/* The views against the brute force over the whole log of l. */
static void check_brute_force(tl_views *v, tl_ledger *l)
{
    bf b;
    bf_run(&b, l, UINT32_MAX);
    check_funds(v, &b);
    check_institutions(v, &b);
    check_catalogue(v, &b);
    bf_free(&b);
}

/* Appends and returns the Beijing day its record was recorded on. */
static uint32_t must_day(world *w, const tl_keypair *kp, const char *json)
{
    tl_append_result res;
    if (tl_test_append(w->l, kp, json, &res) != 0)
        fail_msg("append failed: %s at %s: %s", res.err.rule, res.err.path, res.err.msg);
    tl_buf rec;
    tl_buf_init(&rec);
    tl_error err;
    assert_int_equal(tl_ledger_read(w->l, res.seq, &rec, &err), 0);
    tl_record r;
    assert_int_equal(tl_record_decode(&r, rec.data, rec.len, &err), 0);
    tl_buf_free(&rec);
    return (uint32_t)((r.recorded_ms + BEIJING_MS) / DAY_MS);
}

static uint32_t day_of(const char *date)
{
    int32_t d;
    assert_int_equal(tl_date_parse(&d, date, strlen(date)), 0);
    return (uint32_t)d;
}

static void property_run(uint64_t seed)
{
    world w;
    world_create(&w, "views-prop", 11820000u); /* 3h17m per record: about 120 days */
    tl_views *v = views_open(w.l, 29, NULL);
    gen *g = calloc(1, sizeof *g);
    g->rng = seed;
    ingest(&w, g, 250, v, NULL);
    ingest(&w, g, 250, v, "*");
    ingest(&w, g, 250, v, "turnover");
    ingest(&w, g, 150, v, NULL);
    views_settle(v);

    /* incremental == brute force, now and as of past days */
    json_t *inc = all_views(v);
    check_turnover(v, w.l, UINT32_MAX, NULL);
    static const char *const days[] = {"2018-12-31", "2019-01-01", "2019-01-20", "2019-02-15", "2019-03-31"};
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++)
        check_turnover(v, w.l, day_of(days[i]), days[i]);
    check_brute_force(v, w.l);

    /* == rebuilt from zero beside the live state */
    tl_error err;
    assert_int_equal(tl_views_rebuild(v, NULL, &err), 0);
    expect_views(v, inc, "rebuilt views");

    /* == after a restart (caches cold: everything read back from the store) */
    tl_views_close(v);
    v = views_open(w.l, 1000, NULL);
    expect_views(v, inc, "views after restart");

    /* == brute force again after more events, most about contracts this process has not seen:
     * their state is not stored but folded again from their streams in the log */
    ingest(&w, g, 150, v, NULL);
    views_settle(v);
    json_decref(inc);
    inc = all_views(v);
    check_turnover(v, w.l, UINT32_MAX, NULL);
    check_brute_force(v, w.l);
    tl_views_close(v);

    /* == folded once from zero into an empty store in one pass */
    char other[512];
    snprintf(other, sizeof other, "%s/views-other", w.dir);
    v = views_open(w.l, 0, other);
    expect_views(v, inc, "views of a fresh store");
    tl_views_close(v);
    json_decref(inc);
    free(g);
    world_destroy(&w);
}

static void test_property(void **state)
{
    (void)state;
    const char *env = getenv("TL_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    if (seed == 0)
        seed = 1;
    for (uint64_t k = 0; k < 2; k++) {
        fprintf(stderr, "property seed %llu\n", (unsigned long long)(seed + k));
        property_run(seed + k);
    }
}

/* A contract registered, amended and cancelled on different days, and vintages of it. */
static void test_as_of_vintages(void **state)
{
    (void)state;
    world w;
    world_create(&w, "views-asof", DAY_MS); /* one record a day */
    tl_views *v = views_open(w.l, 2, NULL);
    /* one record a day: each event below lands on its own Beijing day */
    char j[2048];
    uint32_t d[4];
    tl_test_contract_json(j, sizeof j, "2018110108000001", 1000, 800, "2018-12-01");
    d[0] = must_day(&w, &w.registry, j);
    d[1] = must_day(&w, &w.registry,
                    "{\"type\":\"contract.amended\",\"stream\":\"contract/2018110108000001\",\"data\":{"
                    "\"total_fen\":1500,\"tech_fen\":900,\"amended_on\":\"2019-01-05\",\"reason\":\"more work\"}}");
    tl_test_contract_json(j, sizeof j, "2018110108000002", 70, 7, "2018-06-01");
    d[2] = must_day(&w, &w.registry, j);
    d[3] = must_day(&w, &w.registry,
                    "{\"type\":\"contract.cancelled\",\"stream\":\"contract/2018110108000001\",\"data\":{"
                    "\"cancelled_on\":\"2019-01-20\",\"reason\":\"void\"}}");
    for (int i = 1; i < 4; i++)
        assert_true(d[i] > d[i - 1]);
    views_settle(v);
    struct {
        char as_of[11];
        long long contracts, total;
    } want[] = {{"", 0, 0}, {"", 1, 1000}, {"", 1, 1500}, {"", 2, 1570}, {"", 1, 70}, {"2030-01-01", 1, 70}};
    tl_date_format(want[0].as_of, (int32_t)d[0] - 1);
    for (int i = 0; i < 4; i++)
        tl_date_format(want[i + 1].as_of, (int32_t)d[i]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *res = query(v, TL_ACCESS_PUBLIC, "turnover", "by", "year", "as_of", want[i].as_of);
        json_t *rows = json_object_get(res, "rows");
        if (want[i].contracts == 0) {
            assert_int_equal(json_array_size(rows), 0);
        } else {
            assert_int_equal(json_array_size(rows), 1);
            json_t *r = json_array_get(rows, 0);
            assert_string_equal(json_string_value(json_object_get(r, "year")), "2018");
            assert_int_equal(json_integer_value(json_object_get(r, "contracts")), want[i].contracts);
            assert_int_equal(json_integer_value(json_object_get(r, "total_fen")), want[i].total);
        }
        assert_string_equal(json_string_value(json_object_get(res, "as_of")), want[i].as_of);
        json_decref(res);
        /* and the brute force agrees */
        check_turnover(v, w.l, day_of(want[i].as_of), want[i].as_of);
    }
    /* the target block follows the same vintage: with a target of 1000 fen, 2018 reached it
     * after the amendment but not after the cancellation */
    tl_views_close(v);
    tl_views_options o = {.mode = TL_VIEWS_RUN, .target_fen = 1000, .target_year = 2018};
    tl_error err;
    assert_int_equal(tl_views_open(&v, w.l, &o, &err), 0);
    views_settle(v);
    json_t *res = query(v, TL_ACCESS_PUBLIC, "turnover", "as_of", want[2].as_of, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(res, "target"), "reached_year")), "2018");
    json_decref(res);
    res = query(v, TL_ACCESS_PUBLIC, "turnover", NULL, NULL, NULL, NULL);
    assert_true(json_is_null(json_object_get(json_object_get(res, "target"), "reached_year")));
    json_decref(res);
    tl_views_close(v);
    world_destroy(&w);
}

/* DIR/views opened straight through RocksDB (store.c describes its keys), read-only or for
 * writing; NULL when it cannot be opened. */
static rocksdb_t *views_db(const char *dir, bool writable)
{
    char path[512];
    snprintf(path, sizeof path, "%s/views", dir);
    rocksdb_options_t *o = rocksdb_options_create();
    char *dberr = NULL;
    rocksdb_t *db = writable ? rocksdb_open(o, path, &dberr) : rocksdb_open_for_read_only(o, path, 0, &dberr);
    rocksdb_options_destroy(o);
    rocksdb_free(dberr);
    return db;
}

/* The value of key in db (rocksdb_free it), or NULL. */
static char *views_db_get(rocksdb_t *db, const char *key, size_t klen, size_t *n)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char *dberr = NULL;
    char *val = rocksdb_get(db, ro, key, klen, n, &dberr);
    rocksdb_readoptions_destroy(ro);
    rocksdb_free(dberr);
    return val;
}

/* After a kill: was any projection short of the end, or a rebuild under way? (read-only peek
 * at the meta keys of the views store) */
static int killed_midway(const char *dir, uint64_t size)
{
    rocksdb_t *db = views_db(dir, false);
    if (db == NULL) /* killed before the store was created */
        return 1;
    int mid = 0;
    for (char proj = 1; proj <= 4; proj++) {
        char key[3] = {0, 'b', proj};
        size_t n;
        char *val = views_db_get(db, key, 3, &n);
        mid |= val != NULL;
        rocksdb_free(val);
        key[1] = 'a';
        val = views_db_get(db, key, 3, &n);
        if (val == NULL || n != 8) {
            mid = 1;
            rocksdb_free(val);
            continue;
        }
        char pkey[6] = {proj, val[4], val[5], val[6], val[7], 0};
        rocksdb_free(val);
        val = views_db_get(db, pkey, 6, &n);
        uint64_t pos = 0;
        for (size_t i = 0; val != NULL && i < n; i++)
            pos = pos << 8 | (uint8_t)val[i];
        rocksdb_free(val);
        mid |= pos < size;
    }
    rocksdb_close(db);
    return mid;
}

/* kill -9 while a process folds (and rebuilds); the restarted views give the same answers. */
/* The child of test_crash_kill9, run as `test_projections --crash-child DIR ITER FD`: it opens
 * the views of DIR to follow the log (and, after the first round, asks for a rebuild), says
 * so on FD and waits to be killed. */
static int crash_child(const char *dir, int iter, int ready)
{
    tl_ledger *l = NULL;
    tl_ledger_options lo = {.mode = TL_OPEN_READ_ONLY};
    tl_error err;
    tl_views *cv = NULL;
    tl_views_options vo = {.mode = TL_VIEWS_RUN, .batch_records = 1 + (uint32_t)iter % 3};
    if (tl_ledger_open(&l, dir, &lo, &err) != 0 || tl_views_open(&cv, l, &vo, &err) != 0) {
        fprintf(stderr, "child %d: %s: %s\n", iter, err.rule, err.msg);
        return 3;
    }
    if (iter > 0 && tl_views_rebuild(cv, iter % 4 == 3 ? "funds" : NULL, &err) != 0)
        return 4;
    if (write(ready, "r", 1) != 1)
        return 5;
    sleep(30);
    return 0;
}

static void test_crash_kill9(void **state)
{
    (void)state;
    world w;
    world_with_events(&w, "views-crash", 12345, 1200);
    char ref[512];
    snprintf(ref, sizeof ref, "%s/ref-views", w.dir);
    json_t *want = views_snapshot(w.l, ref);
    uint64_t size = tl_ledger_size(w.l);
    tl_ledger_close(w.l);
    w.l = NULL;

    uint64_t rng = (uint64_t)time(NULL) | 1;
    int midway = 0;
    for (int iter = 0; iter < 8; iter++) {
        /* The child says when it has its views open and the rebuild asked for; the kill comes
         * a few milliseconds later. (From the fork, the kills mostly came after the work: a
         * rebuild of these 1200 records folds in memory and is written in one go, in a few
         * milliseconds of an optimized build.) */
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* exec, not just fork: RocksDB's process-wide threads (its periodic task timer)
             * may hold a mutex at the fork, and a forked child that opens a database then
             * waits on it forever. */
            close(ready[0]);
            char iter_s[16], fd_s[16];
            snprintf(iter_s, sizeof iter_s, "%d", iter);
            snprintf(fd_s, sizeof fd_s, "%d", ready[1]);
            execl("/proc/self/exe", "test_projections", "--crash-child", w.dir, iter_s, fd_s, (char *)NULL);
            _exit(6);
        }
        close(ready[1]);
        char r;
        ssize_t got = read(ready[0], &r, 1); /* 0: the child ended early (waitpid tells how) */
        close(ready[0]);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        long delay_ms = got == 1 ? (long)(rng % (iter % 2 ? 6u : 40u)) : 0;
        struct timespec ts = {0, delay_ms * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status))
            fail_msg("the child exited with %d before it was killed", WEXITSTATUS(status));
        midway += killed_midway(w.dir, size);
    }
    /* the kills are meant to land while the child folds: most of them do */
    fprintf(stderr, "%d of 8 kills landed while projecting\n", midway);
    assert_true(midway >= 1);
    tl_ledger_options lo = {.mode = TL_OPEN_READ_ONLY};
    tl_error err;
    assert_int_equal(tl_ledger_open(&w.l, w.dir, &lo, &err), 0);
    tl_views *v = views_open(w.l, 0, NULL);
    expect_views(v, want, "views after kill -9");
    tl_views_close(v);
    json_decref(want);
    world_destroy(&w);
}

/* Table files of the views store that hold only keys of a generation older than the live one
 * of their projection (store.c: such files are dropped, not left to compaction). */
static int stale_files(const char *dir, int *live_gen_files)
{
    rocksdb_t *db = views_db(dir, false);
    assert_non_null(db);
    uint32_t live[5] = {0};
    for (char proj = 1; proj <= 4; proj++) {
        char key[3] = {0, 'a', proj};
        size_t n;
        char *val = views_db_get(db, key, 3, &n);
        assert_non_null(val);
        assert_int_equal(n, 8);
        live[(int)proj] = (uint32_t)(uint8_t)val[4] << 24 | (uint32_t)(uint8_t)val[5] << 16 |
                          (uint32_t)(uint8_t)val[6] << 8 | (uint8_t)val[7];
        rocksdb_free(val);
    }
    int stale = 0;
    *live_gen_files = 0;
    const rocksdb_livefiles_t *lf = rocksdb_livefiles(db);
    for (int i = 0; i < rocksdb_livefiles_count(lf); i++) {
        size_t an, bn;
        const uint8_t *a = (const uint8_t *)rocksdb_livefiles_smallestkey(lf, i, &an);
        const uint8_t *b = (const uint8_t *)rocksdb_livefiles_largestkey(lf, i, &bn);
        if (an < 5 || bn < 5 || a[0] == 0 || a[0] > 4 || memcmp(a, b, 5) != 0)
            continue; /* meta keys, or more than one generation */
        uint32_t g = (uint32_t)a[1] << 24 | (uint32_t)a[2] << 16 | (uint32_t)a[3] << 8 | a[4];
        stale += g < live[a[0]];
        *live_gen_files += g == live[a[0]];
    }
    rocksdb_livefiles_destroy(lf);
    rocksdb_close(db);
    return stale;
}

/* Rebuilds one after another: each leaves the store with the live generations' files only. */
static void test_old_generations_dropped(void **state)
{
    (void)state;
    world w;
    world_with_events(&w, "views-drop", 777, 300);
    tl_views *v = views_open(w.l, 0, NULL);
    views_settle(v);
    json_t *want = all_views(v);
    tl_error err;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tl_views_rebuild(v, NULL, &err), 0);
        views_settle(v);
    }
    expect_views(v, want, "views after three rebuilds");
    json_decref(want);
    tl_views_close(v);
    int live_files;
    assert_int_equal(stale_files(w.dir, &live_files), 0);
    assert_true(live_files >= 1); /* the last rebuild's ingested files */
    world_destroy(&w);
}

/* Bytes in the write-ahead log files of DIR/db. */
static off_t wal_bytes(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/db", dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    off_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".log") != 0)
            continue;
        char f[1024];
        snprintf(f, sizeof f, "%s/%s", path, e->d_name);
        struct stat st;
        assert_int_equal(stat(f, &st), 0);
        total += st.st_size;
    }
    closedir(d);
    return total;
}

/* A rebuild opens the ledger as a secondary, which replays whatever WAL is left (1.5 G
 * instructions at 1M records): a clean stop of the writer leaves none, and loses nothing. */
static void test_clean_close_leaves_no_wal(void **state)
{
    (void)state;
    world w;
    world_with_events(&w, "views-wal", 4242, 200);
    uint64_t size = tl_ledger_size(w.l);
    assert_true(wal_bytes(w.dir) > 0); /* the records are in the WAL until the close */
    tl_ledger_close(w.l);
    w.l = NULL;
    assert_int_equal(wal_bytes(w.dir), 0);
    tl_ledger *sec;
    tl_error err;
    assert_int_equal(tl_ledger_open(&sec, w.dir, &(tl_ledger_options){.mode = TL_OPEN_SECONDARY}, &err), 0);
    assert_int_equal(tl_ledger_size(sec), size);
    tl_buf rec;
    tl_buf_init(&rec);
    assert_int_equal(tl_ledger_read(sec, size - 1, &rec, &err), 0);
    tl_buf_free(&rec);
    tl_ledger_close(sec);
    world_open(&w);
    assert_int_equal(tl_ledger_size(w.l), size);
    world_destroy(&w);
}

/* A stored version that differs from the code's: rebuilt by itself; answers "rebuilding" meanwhile. */
static void test_version_change(void **state)
{
    (void)state;
    world w;
    world_with_events(&w, "views-version", 777, 300);
    json_t *want = views_snapshot(w.l, NULL);

    /* make the stored turnover generation look like another version of the fold */
    rocksdb_t *db = views_db(w.dir, true);
    assert_non_null(db);
    size_t n;
    char *val = views_db_get(db, "\0a\1", 3, &n);
    assert_non_null(val);
    assert_int_equal(n, 8);
    val[3] = (char)99; /* version 99 */
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *dberr = NULL;
    rocksdb_put(db, wo, "\0a\1", 3, val, n, &dberr);
    assert_null(dberr);
    rocksdb_free(val);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);

    tl_views *v = views_open(w.l, 0, NULL);
    json_t *res = NULL;
    tl_turnover_query q = {.by = TL_DIM_YEAR};
    tl_error err;
    int rc = tl_view_turnover(&res, v, TL_ACCESS_PUBLIC, &q, &err);
    if (rc != 0) {
        assert_int_equal(rc, TL_ESTATE);
        assert_string_equal(err.rule, "view.rebuilding");
    }
    json_decref(res);
    expect_views(v, want, "views after a version change");
    tl_projection_stats st[TL_VIEWS_PROJECTIONS_MAX];
    size_t ns = tl_views_stats(v, st, TL_VIEWS_PROJECTIONS_MAX);
    assert_int_equal(ns, 4);
    for (size_t i = 0; i < ns; i++) {
        assert_true(st[i].ready);
        assert_int_equal(st[i].lag_records, 0);
        assert_int_equal(st[i].position, tl_ledger_size(w.l));
    }
    assert_string_equal(st[0].name, "turnover");
    assert_true(st[0].generation > 1); /* a new generation replaced the one of the other version */
    tl_views_close(v);
    json_decref(want);
    world_destroy(&w);
}

/* A projection with no stored state is built like a rebuild (in memory, one ingested file): it
 * answers "view.rebuilding" until it has folded the whole log, never a partial state. */
static void test_fresh_store(void **state)
{
    (void)state;
    world w;
    world_with_events(&w, "views-fresh", 31337, 300);
    json_t *want = views_snapshot(w.l, NULL);

    uint64_t size = tl_ledger_size(w.l);
    char other[512];
    snprintf(other, sizeof other, "%s/views-fresh", w.dir);
    tl_views *v = views_open(w.l, 16, other); /* small batches: many passes to observe */
    bool all_ready = false;
    tl_projection_stats st[TL_VIEWS_PROJECTIONS_MAX];
    size_t ns;
    for (unsigned polls = 0; !all_ready && polls < SYNC_MS; polls++) {
        ns = tl_views_stats(v, st, TL_VIEWS_PROJECTIONS_MAX);
        all_ready = true;
        for (size_t i = 0; i < ns; i++) {
            if (st[i].ready)
                assert_int_equal(st[i].position, size);
            else
                assert_true(st[i].rebuilding);
            all_ready = all_ready && st[i].ready;
        }
        json_t *res = NULL;
        tl_view_param by = {"by", "year"};
        tl_error err;
        int rc = tl_view_query(&res, v, TL_ACCESS_AUDITOR, "turnover", &by, 1, &err);
        if (rc != 0) {
            assert_int_equal(rc, TL_ESTATE);
            assert_string_equal(err.rule, "view.rebuilding");
        } else {
            expect_equal_json(res, json_object_get(want, "year"), "turnover of a fresh store while it builds");
        }
        json_decref(res);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    expect_views(v, want, "views of a fresh store");
    ns = tl_views_stats(v, st, TL_VIEWS_PROJECTIONS_MAX);
    for (size_t i = 0; i < ns; i++) {
        assert_true(st[i].ready);
        assert_false(st[i].rebuilding);
        assert_int_equal(st[i].position, size);
    }
    tl_views_close(v);
    json_decref(want);
    world_destroy(&w);
}

static bool contains(const json_t *j, const char *needle)
{
    char *s = json_dumps(j, JSON_COMPACT);
    bool found = s && strstr(s, needle) != NULL;
    free(s);
    return found;
}

/* Secrets never reach a public reader; auditors see them. */
static void test_access(void **state)
{
    (void)state;
    world w;
    world_create(&w, "views-access", 3600000u);
    char j[2048];
    snprintf(j, sizeof j,
             "{\"type\":\"contract.registered\",\"stream\":\"contract/2020110108000009\",\"data\":{\"reg_no\":"
             "\"2020110108000009\",\"class\":\"transfer\",\"subtype\":\"patent\",\"seller\":\"u-bj\",\"buyer\":"
             "\"e-sh\",\"seller_region\":\"110108\",\"buyer_region\":\"310000\",\"field\":\"aerospace\","
             "\"signed_on\":\"2020-01-02\",\"registered_on\":\"2020-01-03\",\"total_fen\":424242,\"tech_fen\":4242,"
             "\"title\":\"HIDDEN-TITLE\",\"confidentiality\":\"state_secret\"}}");
    must(w.l, &w.registry, j);
    must(w.l, &w.registry,
         "{\"type\":\"achievement.registered\",\"stream\":\"achievement/sec-1\",\"data\":{\"id\":\"sec-1\","
         "\"title\":\"HIDDEN-ACH\",\"owner\":\"u-bj\",\"field\":\"aerospace\",\"fiscal_funded\":true,"
         "\"confidentiality\":\"commercial_secret\",\"ip\":\"HIDDEN-IP\"}}");
    must(w.l, &w.registry,
         "{\"type\":\"achievement.registered\",\"stream\":\"achievement/pub-1\",\"data\":{\"id\":\"pub-1\","
         "\"title\":\"OPEN-ACH\",\"owner\":\"u-bj\",\"field\":\"aerospace\",\"fiscal_funded\":false,"
         "\"confidentiality\":\"public\"}}");
    tl_views *v = views_open(w.l, 0, NULL);
    views_settle(v);
    /* the contract counts in turnover for everyone */
    json_t *res = query(v, TL_ACCESS_PUBLIC, "turnover", "by", "year", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(res, "rows"), 0), "total_fen")),
                     424242);
    json_decref(res);
    /* but its history is redacted */
    res = query(v, TL_ACCESS_PUBLIC, "contracts/2020110108000009", NULL, NULL, NULL, NULL);
    assert_false(contains(res, "HIDDEN-TITLE"));
    assert_false(contains(res, "424242"));
    assert_false(contains(res, "u-bj"));
    json_t *ev0 = json_array_get(json_object_get(res, "events"), 0);
    assert_true(json_is_true(json_object_get(ev0, "redacted")));
    assert_string_equal(json_string_value(json_object_get(ev0, "type")), "contract.registered");
    json_decref(res);
    res = query(v, TL_ACCESS_FUND_MANAGER, "contracts/2020110108000009", NULL, NULL, NULL, NULL);
    assert_false(contains(res, "HIDDEN-TITLE"));
    json_decref(res);
    res = query(v, TL_ACCESS_AUDITOR, "contracts/2020110108000009", NULL, NULL, NULL, NULL);
    assert_true(contains(res, "HIDDEN-TITLE"));
    json_decref(res);
    /* institution figures leave the secret contract out for the public */
    res = query(v, TL_ACCESS_PUBLIC, "institutions/u-bj", NULL, NULL, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "sold"), "contracts")), 0);
    assert_false(contains(res, "424242"));
    json_decref(res);
    res = query(v, TL_ACCESS_STATISTICS, "institutions/u-bj", NULL, NULL, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "sold"), "total_fen")), 424242);
    json_decref(res);
    /* the catalogue: public entries only, secrets counted by field */
    res = query(v, TL_ACCESS_PUBLIC, "achievements", NULL, NULL, NULL, NULL);
    assert_false(contains(res, "HIDDEN"));
    assert_true(contains(res, "OPEN-ACH"));
    json_t *bf0 = json_array_get(json_object_get(res, "by_field"), 0);
    assert_int_equal(json_integer_value(json_object_get(bf0, "total")), 2);
    assert_int_equal(json_integer_value(json_object_get(bf0, "public")), 1);
    json_decref(res);
    res = query(v, TL_ACCESS_AUDITOR, "achievements", NULL, NULL, NULL, NULL);
    assert_true(contains(res, "HIDDEN-ACH"));
    assert_true(contains(res, "HIDDEN-IP"));
    json_decref(res);
    /* nothing a public reader can ask for holds a secret */
    static const char *const paths[] = {"turnover", "funds", "loans", "targets", "achievements",
                                        "institutions/u-bj", "institutions/e-sh"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        res = query(v, TL_ACCESS_PUBLIC, paths[i], NULL, NULL, NULL, NULL);
        assert_false(contains(res, "HIDDEN"));
        json_decref(res);
    }
    tl_views_close(v);
    world_destroy(&w);
}

static void expect_param_error(tl_views *v, const char *path, const char *k, const char *val, int code,
                               const char *rule, const char *field)
{
    tl_view_param p = {k, val};
    json_t *res = NULL;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_view_query(&res, v, TL_ACCESS_AUDITOR, path, &p, k ? 1 : 0, &err);
    if (rc != code || strcmp(err.rule, rule) != 0 || strcmp(err.path, field) != 0)
        fail_msg("%s %s=%s: got %d %s at %s (%s), want %d %s at %s", path, k ? k : "", val ? val : "", rc, err.rule,
                 err.path, err.msg, code, rule, field);
    assert_null(res);
}

static void test_bad_queries(void **state)
{
    (void)state;
    world w;
    world_with_events(&w, "views-bad", 99, 200);
    tl_views *v = views_open(w.l, 0, NULL);
    views_settle(v);
    json_t *before = all_views(v);
    expect_param_error(v, "nosuch", NULL, NULL, TL_ENOTFOUND, "view.unknown", "view");
    expect_param_error(v, "turnover", "by", "year,planet", TL_EINVAL, "view.param", "by");
    expect_param_error(v, "turnover", "year", "20x9", TL_EINVAL, "view.param", "year");
    expect_param_error(v, "turnover", "year", "1800", TL_EINVAL, "view.param", "year");
    expect_param_error(v, "turnover", "as_of", "2019-02-30", TL_EINVAL, "view.param", "as_of");
    expect_param_error(v, "turnover", "color", "red", TL_EINVAL, "view.param", "color");
    expect_param_error(v, "funds", "fund", "Not An Id", TL_EINVAL, "view.param", "fund");
    expect_param_error(v, "loans", "fund", "gf", TL_EINVAL, "view.param", "fund");
    expect_param_error(v, "achievements", "limit", "0", TL_EINVAL, "view.param", "limit");
    expect_param_error(v, "achievements", "limit", "many", TL_EINVAL, "view.param", "limit");
    expect_param_error(v, "achievements", "field", "astrology", TL_EINVAL, "view.param", "field");
    expect_param_error(v, "contracts/123", NULL, NULL, TL_EINVAL, "view.param", "reg_no");
    expect_param_error(v, "contracts/2099999999999999", NULL, NULL, TL_ENOTFOUND, "view.not_found", "reg_no");
    expect_param_error(v, "institutions/../x", NULL, NULL, TL_EINVAL, "view.param", "id");
    expect_param_error(v, "institutions/nobody", NULL, NULL, TL_ENOTFOUND, "view.not_found", "id");
    expect_param_error(v, "targets", "year", "2019", TL_EINVAL, "view.param", "year");
    tl_view_param twice[2] = {{"by", "year"}, {"by", "class"}};
    json_t *res = NULL;
    tl_error err;
    assert_int_equal(tl_view_query(&res, v, TL_ACCESS_AUDITOR, "turnover", twice, 2, &err), TL_EINVAL);
    assert_string_equal(err.rule, "view.param");
    assert_string_equal(err.path, "by");
    tl_error e2;
    assert_int_equal(tl_views_rebuild(v, "nosuch", &e2), TL_ENOTFOUND);
    assert_string_equal(e2.rule, "view.unknown");
    assert_string_equal(e2.path, "projection");
    /* nothing changed */
    json_t *after = all_views(v);
    expect_equal_json(after, before, "views after bad queries");
    json_decref(after);
    json_decref(before);
    /* a second process cannot run the same views */
    tl_views *v2 = NULL;
    tl_views_options o = {.mode = TL_VIEWS_RUN};
    assert_int_equal(tl_views_open(&v2, w.l, &o, &err), TL_ESTATE);
    assert_string_equal(err.rule, "views.locked");
    assert_null(v2);
    tl_views_close(v);
    world_destroy(&w);
}

/* CSV and table rendering of the same rows. */
static void test_render(void **state)
{
    (void)state;
    json_t *res = json_pack("{s:[{s:s,s:s,s:I},{s:s,s:s,s:I}],s:[s,s,s]}", "rows", "year", "2019", "name",
                            "a,\"b\"", "total_fen", (json_int_t)5, "year", "2020", "name", "北京", "total_fen",
                            (json_int_t)123456, "columns", "year", "name", "total_fen");
    tl_buf out;
    tl_buf_init(&out);
    tl_error err;
    assert_int_equal(tl_view_csv(&out, res, &err), 0);
    assert_int_equal(tl_buf_append(&out, "", 1), 0);
    assert_string_equal((char *)out.data, "year,name,total_fen\n2019,\"a,\"\"b\"\"\",5\n2020,北京,123456\n");
    tl_buf_reset(&out);
    assert_int_equal(tl_view_table(&out, res, &err), 0);
    assert_int_equal(tl_buf_append(&out, "", 1), 0);
    assert_string_equal((char *)out.data, "year  name   total_fen\n"
                                          "2019  a,\"b\"          5\n"
                                          "2020  北京      123456\n");
    json_decref(res);
    /* an empty result still has its header */
    res = json_pack("{s:[],s:[s,s]}", "rows", "columns", "year", "contracts");
    tl_buf_reset(&out);
    assert_int_equal(tl_view_csv(&out, res, &err), 0);
    assert_int_equal(out.len, strlen("year,contracts\n"));
    json_decref(res);
    tl_buf_free(&out);
}

/* Runs the techledger command; returns its exit status and fills out (stdout) and errtext. */
static int run(const char *dir, const char *args, char **out, char **errtext)
{
    char cmd[2048], of[600], ef[600];
    snprintf(of, sizeof of, "%s/cmd.out", dir);
    snprintf(ef, sizeof ef, "%s/cmd.err", dir);
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", TL_TECHLEDGER_BIN, args, of, ef);
    int st = system(cmd);
    const char *files[2] = {of, ef};
    char **dst[2] = {out, errtext};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        assert_non_null(f);
        char *buf = calloc(1, 1 << 20);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
        *dst[i] = buf;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs `techledger` with the formatted arguments from dir: it must exit with status, and print
 * out_has on its standard output and err_has on its standard error (NULL: anything). */
static void expect_command(const char *dir, int status, const char *out_has, const char *err_has, const char *fmt,
                           ...) __attribute__((format(printf, 5, 6)));
static void expect_command(const char *dir, int status, const char *out_has, const char *err_has, const char *fmt,
                           ...)
{
    char args[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *out, *errt;
    assert_int_equal(run(dir, args, &out, &errt), status);
    if (out_has != NULL)
        assert_non_null(strstr(out, out_has));
    if (err_has != NULL)
        assert_non_null(strstr(errt, err_has));
    free(out);
    free(errt);
}

static void test_report_command(void **state)
{
    (void)state;
    world w;
    world_with_events(&w, "views-report", 4242, 300);
    bf b;
    bf_run(&b, w.l, UINT32_MAX);
    char args[1024];
    char *out, *errt;
    /* while the ledger is open for writing here: report reads it through a secondary */
    snprintf(args, sizeof args, "report %s turnover --format csv", w.dir);
    assert_int_equal(run(w.dir, args, &out, &errt), 0);
    assert_true(strncmp(out, "year,contracts,total_fen,tech_fen\n", 34) == 0);
    json_t *want = bf_turnover_rows(&b, TL_DIM_YEAR, 0);
    assert_true(json_array_size(want) > 0);
    const char *line = out;
    size_t i;
    json_t *r;
    json_array_foreach(want, i, r)
    {
        line = strchr(line, '\n') + 1;
        char expect[128];
        snprintf(expect, sizeof expect, "%s,%lld,%lld,%lld\n", json_string_value(json_object_get(r, "year")),
                 (long long)json_integer_value(json_object_get(r, "contracts")),
                 (long long)json_integer_value(json_object_get(r, "total_fen")),
                 (long long)json_integer_value(json_object_get(r, "tech_fen")));
        assert_true(strncmp(line, expect, strlen(expect)) == 0);
    }
    free(out);
    free(errt);
    snprintf(args, sizeof args, "report %s turnover --by year,seller_province --format json", w.dir);
    assert_int_equal(run(w.dir, args, &out, &errt), 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    assert_non_null(j);
    json_t *want2 = bf_turnover_rows(&b, TL_DIM_YEAR | TL_DIM_SELLER_PROVINCE, 0);
    expect_equal_json(json_object_get(j, "rows"), want2, "report json rows");
    json_decref(want2);
    json_decref(j);
    free(out);
    free(errt);
    snprintf(args, sizeof args, "report %s turnover", w.dir);
    assert_int_equal(run(w.dir, args, &out, &errt), 0);
    assert_non_null(strstr(out, "contracts"));
    assert_non_null(strstr(out, "target: 200000000000000 fen by 2020"));
    free(out);
    free(errt);
    snprintf(args, sizeof args, "report %s achievements --access public --format csv --limit 1000", w.dir);
    assert_int_equal(run(w.dir, args, &out, &errt), 0);
    assert_true(strncmp(out, "id,title,owner,field,fiscal_funded,confidentiality,ip,recorded_on\n", 65) == 0);
    assert_null(strstr(out, "secret"));
    free(out);
    free(errt);
    snprintf(args, sizeof args, "report %s institutions/u-bj --format csv", w.dir);
    assert_int_equal(run(w.dir, args, &out, &errt), 0);
    assert_true(strncmp(out, "key,value\n", 10) == 0);
    assert_non_null(strstr(out, "sold.contracts,"));
    free(out);
    free(errt);
    /* errors: the rule and the field, and the exit status */
    expect_command(w.dir, 2, NULL, "view.unknown", "report %s nosuch", w.dir);
    expect_command(w.dir, 2, NULL, "view.param at by", "report %s turnover --by year,planet", w.dir);
    expect_command(w.dir, 1, NULL, "view.not_found", "report %s contracts/2099999999999999", w.dir);
    expect_command(w.dir, 2, NULL, NULL, "report %s turnover --format xml", w.dir);
    expect_command(w.dir, 3, NULL, NULL, "report %s/nowhere turnover", w.dir);
    /* rebuild */
    expect_command(w.dir, 0, "rebuilt every projection", NULL, "rebuild %s", w.dir);
    expect_command(w.dir, 2, NULL, "view.unknown", "rebuild %s --projection nope", w.dir);
    json_decref(want);
    bf_free(&b);
    world_destroy(&w);
}

/* `techledger project` follows the writer through a secondary; readers follow its views. */
static void test_project_process(void **state)
{
    (void)state;
    world w;
    world_create(&w, "views-project", 3600000u);
    gen *g = calloc(1, sizeof *g);
    g->rng = 31337;
    ingest(&w, g, 100, NULL, NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char log[600];
        snprintf(log, sizeof log, "%s/project.log", w.dir);
        if (freopen(log, "w", stderr) == NULL)
            _exit(3);
        execl(TL_TECHLEDGER_BIN, TL_TECHLEDGER_BIN, "project", w.dir, "--status-every", "1", (char *)NULL);
        _exit(127);
    }
    ingest(&w, g, 200, NULL, NULL);
    free(g);
    /* the views appear once the process has started */
    tl_views *v = NULL;
    tl_views_options o = {.mode = TL_VIEWS_FOLLOW};
    tl_error err;
    for (int tries = 0; tries < 600; tries++) {
        if (tl_views_open(&v, w.l, &o, &err) == 0)
            break;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    assert_non_null(v);
    /* the workers are in the other process: opening them here is refused */
    tl_views *v2 = NULL;
    tl_views_options ro = {.mode = TL_VIEWS_RUN};
    assert_int_equal(tl_views_open(&v2, w.l, &ro, &err), TL_ESTATE);
    assert_string_equal(err.rule, "views.locked");
    if (tl_views_sync(v, 0, SYNC_MS, &err) != 0)
        fail_msg("follow: %s: %s", err.rule, err.msg);
    check_turnover(v, w.l, UINT32_MAX, NULL);
    bf b;
    bf_run(&b, w.l, UINT32_MAX);
    check_funds(v, &b);
    bf_free(&b);
    tl_projection_stats st[TL_VIEWS_PROJECTIONS_MAX];
    assert_int_equal(tl_views_stats(v, st, TL_VIEWS_PROJECTIONS_MAX), 4);
    assert_true(st[0].ready);
    assert_int_equal(st[0].lag_records, 0);
    /* rebuild asked of the running process */
    expect_command(w.dir, 0, "asked it to rebuild", NULL, "rebuild %s --projection funds", w.dir);
    tl_views_close(v);
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    world_destroy(&w);
}


/* ---------- the projections' record reader (decode.c) and reg_no keys ---------- */

/* A stored record as the log holds it: [1, seq, recorded, version, body, key, sig], the body
 * {data, id, stream, time, type} with data's pairs given as alternating key, kind, value
 * ('s' str, 'u' uint) and ending at a NULL key. The signature is not checked by pj_decode. */
static void make_record(tl_buf *out, uint64_t seq, const char *type, const char *stream, ...)
{
    tl_buf body;
    tl_buf_init(&body);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &body);
    va_list ap;
    uint32_t n = 0;
    va_start(ap, stream);
    while (va_arg(ap, const char *) != NULL) {
        (void)va_arg(ap, int);
        (void)va_arg(ap, uint64_t);
        n++;
    }
    va_end(ap);
    tl_mp_map(&w, 5);
    tl_mp_key(&w, "data");
    tl_mp_map(&w, n);
    va_start(ap, stream);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        int kind = va_arg(ap, int);
        uint64_t v = va_arg(ap, uint64_t);
        tl_mp_key(&w, k);
        if (kind == 's')
            tl_mp_str(&w, (const char *)(uintptr_t)v);
        else
            tl_mp_uint(&w, v);
    }
    va_end(ap);
    uint8_t id[32] = {7};
    tl_mp_key(&w, "id");
    tl_mp_bin(&w, id, sizeof id);
    tl_mp_key(&w, "stream");
    tl_mp_str(&w, stream);
    tl_mp_key(&w, "time");
    tl_mp_uint(&w, 1700000000000ull);
    tl_mp_key(&w, "type");
    tl_mp_str(&w, type);
    assert_int_equal(w.failed, 0);
    uint8_t key[32] = {1}, sig[64] = {2};
    tl_buf_reset(out);
    tl_mp_writer_init(&w, out);
    tl_mp_array(&w, 7);
    tl_mp_uint(&w, 1);
    tl_mp_uint(&w, seq);
    tl_mp_uint(&w, 1700000000000ull + seq);
    tl_mp_uint(&w, 1);
    tl_mp_bin(&w, body.data, body.len);
    tl_mp_bin(&w, key, sizeof key);
    tl_mp_bin(&w, sig, sizeof sig);
    assert_int_equal(w.failed, 0);
    tl_buf_free(&body);
}

#define S(x) 's', (uint64_t)(uintptr_t)(x)
#define U(x) 'u', (uint64_t)(x)

/* One pj_event decodes records of changing types in turn (its type memo must not carry a
 * type over), amounts of every uint width, and refuses a cut record. */
static void test_decode_records(void **state)
{
    (void)state;
    pj_event *ev = calloc(1, sizeof *ev);
    assert_non_null(ev);
    tl_buf r;
    tl_buf_init(&r);
    tl_error err;
    static const uint64_t amounts[] = {5, 200, 70000, 5000000000ull, TL_AMOUNT_FEN_MAX};
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
            uint64_t tech = amounts[i] / 2;
            make_record(&r, 10 + i, "contract.registered", "contract/2016000000000042", "class", S("license"),
                        "field", S("aerospace"), "reg_no", S("2016000000000042"), "seller", S("seller-1"),
                        "tech_fen", U(tech), "title", S("a title long enough to need a str8 header, over 31 bytes"),
                        "total_fen", U(amounts[i]), (const char *)NULL);
            assert_int_equal(pj_decode(ev, r.data, r.len, &err), 0);
            assert_int_equal(ev->seq, 10 + i);
            assert_int_equal(ev->type, TL_EV_CONTRACT_REGISTERED);
            assert_true(ev->con.keyed);
            assert_int_equal(ev->con.key, 2016000000000042ull + 1);
            assert_true(ev->con.has_total && ev->con.has_tech);
            assert_int_equal(ev->con.total, amounts[i]);
            assert_int_equal(ev->con.tech, tech);
            assert_int_equal(ev->con.cls, TL_CLASS_LICENSE);
            assert_int_equal(ev->con.conf, -1);
            assert_int_equal(ev->con.seller.len, 8);
            assert_memory_equal(ev->con.seller.p, "seller-1", 8);
            assert_null(ev->con.buyer.p);
            const uint8_t *p;
            size_t n;
            assert_true(pj_str(ev, "title", &p, &n));
            assert_int_equal(n, strlen("a title long enough to need a str8 header, over 31 bytes"));
        }
        /* a type this build does not know, of the same length as the one just decoded */
        make_record(&r, 22, "contract.registerex", "contract/2016000000000042", (const char *)NULL);
        assert_int_equal(pj_decode(ev, r.data, r.len, &err), 0);
        assert_int_equal(ev->type, -1);
        make_record(&r, 20, "participant.registered", "participant/p-1", "id", S("p-1"), "kind",
                    S("university"), (const char *)NULL);
        assert_int_equal(pj_decode(ev, r.data, r.len, &err), 0);
        assert_int_equal(ev->type, TL_EV_PARTICIPANT_REGISTERED);
        assert_false(ev->con.keyed);
        assert_int_equal(pj_uint(ev, "missing", 9), 9);
        /* an amendment keys its contract by its stream */
        make_record(&r, 21, "contract.amended", "contract/2017000000000001", "total_fen", U(300),
                    (const char *)NULL);
        assert_int_equal(pj_decode(ev, r.data, r.len, &err), 0);
        assert_int_equal(ev->type, TL_EV_CONTRACT_AMENDED);
        assert_true(ev->con.keyed);
        assert_int_equal(ev->con.key, 2017000000000001ull + 1);
        assert_true(ev->con.has_total);
        assert_false(ev->con.has_tech);
        make_record(&r, 23, "contract.cancelled", "contract/20170000000x0001", (const char *)NULL);
        assert_int_equal(pj_decode(ev, r.data, r.len, &err), 0);
        assert_int_equal(ev->type, TL_EV_CONTRACT_CANCELLED);
        assert_false(ev->con.keyed);
    }
    /* every cut of a record is refused, never read past */
    make_record(&r, 30, "contract.registered", "contract/2016000000000042", "reg_no", S("2016000000000042"),
                "total_fen", U(123456789), (const char *)NULL);
    for (size_t cut = 0; cut < r.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        assert_non_null(copy);
        memcpy(copy, r.data, cut);
        assert_int_not_equal(pj_decode(ev, copy, cut, &err), 0);
        free(copy);
    }
    tl_buf_free(&r);
    free(ev);
}

/* The contract fields' codes (class, field, confidentiality) decode as tl_code_parse parses
 * them: every name, and near misses of each (cut, extended, one byte changed, another list's
 * names) and random strings over the names' letters, which the reader's index must refuse. */
static void test_decode_codes(void **state)
{
    (void)state;
    pj_event *ev = calloc(1, sizeof *ev);
    assert_non_null(ev);
    tl_buf r;
    tl_buf_init(&r);
    tl_error err;
    const tl_codelist *lists[] = {&tl_codes_class, &tl_codes_field, &tl_codes_confidentiality,
                                  &tl_codes_subtype, &tl_codes_participant_kind};
    char tries[2048][40];
    size_t nt = 0;
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
        for (size_t i = 0; i < lists[l]->count; i++) {
            const char *name = lists[l]->codes[i].name;
            size_t n = strlen(name);
            snprintf(tries[nt++], sizeof tries[0], "%s", name);
            snprintf(tries[nt++], sizeof tries[0], "%.*s", (int)(n - 1), name);
            snprintf(tries[nt++], sizeof tries[0], "%sx", name);
            snprintf(tries[nt++], sizeof tries[0], "x%s", name);
            for (size_t k = 0; k < n; k++) {
                snprintf(tries[nt], sizeof tries[0], "%s", name);
                tries[nt++][k] ^= 0x20;
            }
        }
    }
    uint64_t rng = 2463534242ull;
    static const char letters[] = "acdegilnoprstuvy_";
    while (nt < sizeof tries / sizeof tries[0]) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t n = 1 + rng % 24;
        for (size_t k = 0; k < n; k++)
            tries[nt][k] = letters[(rng >> (8 + k % 48)) % (sizeof letters - 1)];
        tries[nt++][n] = '\0';
    }
    for (size_t t = 0; t < nt; t++) {
        const char *s = tries[t];
        make_record(&r, 40 + t, "contract.registered", "contract/2016000000000042", "class", S(s),
                    "confidentiality", S(s), "field", S(s), "reg_no", S("2016000000000042"), (const char *)NULL);
        assert_int_equal(pj_decode(ev, r.data, r.len, &err), 0);
        assert_int_equal(ev->con.cls, tl_code_parse(&tl_codes_class, s, strlen(s)));
        assert_int_equal(ev->con.field, tl_code_parse(&tl_codes_field, s, strlen(s)));
        assert_int_equal(ev->con.conf, tl_code_parse(&tl_codes_confidentiality, s, strlen(s)));
    }
    /* not a str: no code */
    make_record(&r, 9000, "contract.registered", "contract/2016000000000042", "class", U(1), "field", S(""),
                (const char *)NULL);
    assert_int_equal(pj_decode(ev, r.data, r.len, &err), 0);
    assert_int_equal(ev->con.cls, -1);
    assert_int_equal(ev->con.field, -1);
    tl_buf_free(&r);
    free(ev);
}

/* The packed key of a reg_no: exactly 16 ASCII digits, against a plain digit loop. */
static void test_reg_no_key(void **state)
{
    (void)state;
    uint8_t b[TL_REG_NO_LEN];
    uint64_t rng = 88172645463325252ull;
    for (int it = 0; it < 300000; it++) {
        for (int i = 0; i < TL_REG_NO_LEN; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            b[i] = (uint8_t)('0' + rng % 10);
        }
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        if (it % 2) /* one byte anything, often a neighbour of a digit */
            b[rng % TL_REG_NO_LEN] = it % 4 == 1 ? (uint8_t)"/:\x00\xb0\xb9\x3a\x2f\xf0"[(rng >> 8) % 8] : (uint8_t)(rng >> 16);
        uint64_t want = 0, got = 0;
        bool ok = true;
        for (int i = 0; i < TL_REG_NO_LEN; i++) {
            ok = ok && b[i] >= '0' && b[i] <= '9';
            want = want * 10 + (uint64_t)(b[i] - '0');
        }
        assert_int_equal(pj_reg_no_key(b, sizeof b, &got), ok);
        if (ok)
            assert_int_equal(got, want + 1);
    }
    memcpy(b, "9999999999999999", TL_REG_NO_LEN);
    uint64_t k;
    assert_true(pj_reg_no_key(b, sizeof b, &k));
    assert_int_equal(k, 10000000000000000ull);
    assert_false(pj_reg_no_key(b, sizeof b - 1, &k));
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--crash-child") == 0)
        return crash_child(argv[2], atoi(argv[3]), atoi(argv[4]));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_as_of_vintages),
        cmocka_unit_test(test_access),
        cmocka_unit_test(test_bad_queries),
        cmocka_unit_test(test_property),
        cmocka_unit_test(test_version_change),
        cmocka_unit_test(test_fresh_store),
        cmocka_unit_test(test_old_generations_dropped),
        cmocka_unit_test(test_clean_close_leaves_no_wal),
        cmocka_unit_test(test_crash_kill9),
        cmocka_unit_test(test_report_command),
        cmocka_unit_test(test_project_process),
        cmocka_unit_test(test_decode_records),
        cmocka_unit_test(test_decode_codes),
        cmocka_unit_test(test_reg_no_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
