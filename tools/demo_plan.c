/*
 * The planner of `techledger demo`: a synthetic technology-transfer economy (see demo.h for
 * how it is calibrated and ordered).
 *
 * Everything but contracts is planned once, up front, into `misc` (parties, funds and their
 * flows, loans, the achievement catalogue, equity deals, programme designations). Contracts
 * are planned one registration year at a time; their follow-ups (amendments, cancellations,
 * payments) wait in `pending` until the year they are recorded. demo_economy_year merges the
 * three sources for one calendar year and sorts them by recording time.
 *
 * Randomness comes only from the seeded generator, so one seed gives one economy; keys are
 * the exception: they come from the system's generator, because they are real keys a user
 * may keep signing with.
 */
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_domain_tables.h"
#include "tl_schema.h"

#define MS_PER_HOUR 3600000ull
#define MS_PER_DAY 86400000ull
#define BEIJING_MS (8 * MS_PER_HOUR) /* UTC+8 */
#define ROLE(r) (uint8_t)(1u << (r))

#define SUB_FUNDS 36          /* sub-funds of the national guidance fund by 2023 */
#define SUB_FUNDS_BY_2018 14  /* data/README.md: by July 2018, 14 sub-funds ... */
#define SUB_FUNDS_2018_CYI 24700 /* ... with 247亿元 in total ... */
#define INVESTED_2018_FEN 1000000000000ull /* ... had invested about 100亿元 ... */
#define PROJECTS_2018 161     /* ... in 161 projects */
#define BREACH_GUIDANCE_FUND 5  /* this sub-fund's guidance share is above 30% and the largest */
#define BREACH_DIRECTED_FUND 11 /* this one invests under 3x the guidance money in qualifying firms */
#define BREACH_LOAN_BANK 6      /* this bank is compensated above its 2% cap in BREACH_LOAN_YEAR */
#define BREACH_LOAN_YEAR 2020
#define LOAN_CAP_PERCENT 2
/* Provinces that run a loan risk-compensation pool of their own beside the national one. */
static const unsigned pool_provinces[] = {32, 33, 37, 42, 44};
#define LOCAL_POOLS (sizeof pool_provinces / sizeof pool_provinces[0])

/* ---- Dates and times ----------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int32_t civil_day(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

uint64_t demo_office_time_ms(demo_rng *r, int32_t day)
{
    /* 09:00-17:00 Beijing is 01:00-09:00 UTC of the same date. */
    return (uint64_t)day * MS_PER_DAY + MS_PER_HOUR + demo_rng_below(r, 8 * MS_PER_HOUR);
}

uint64_t demo_year_start_ms(int year) { return (uint64_t)civil_day(year, 1, 1) * MS_PER_DAY - BEIJING_MS; }

uint64_t demo_sim_end_ms(void)
{
    return (uint64_t)civil_day(DEMO_SIM_END_YEAR, DEMO_SIM_END_MONTH + 1, 1) * MS_PER_DAY - BEIJING_MS - 1;
}

static int32_t sim_end_day(void) { return civil_day(DEMO_SIM_END_YEAR, DEMO_SIM_END_MONTH + 1, 1) - 1; }

static int32_t random_day(demo_rng *r, int32_t first, int32_t last)
{
    return last <= first ? first : (int32_t)demo_rng_range(r, first, last);
}

static double sqrt_pos(double x)
{
    /* Newton's method; the tools link no libm. */
    if (x <= 0)
        return 0;
    double g = x > 1 ? x : 1;
    for (int i = 0; i < 64; i++)
        g = 0.5 * (g + x / g);
    return g;
}

/* ---- Growable arrays ----------------------------------------------------------------------- */

static void *grow(demo_economy *e, void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * elem);
    if (q == NULL) {
        e->failed = 1;
        return p;
    }
    *cap = n;
    return q;
}

#define PUSH(e, arr, n, cap) \
    ((arr) = grow((e), (arr), &(cap), (n) + 1, sizeof *(arr)), (e)->failed ? NULL : &(arr)[(n)++])

static demo_ev *ev_new(demo_economy *e, demo_ev **arr, size_t *n, size_t *cap, uint8_t type, uint64_t t_ms)
{
    *arr = grow(e, *arr, cap, *n + 1, sizeof **arr);
    if (e->failed)
        return NULL;
    demo_ev *ev = &(*arr)[(*n)++];
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->t_ms = t_ms;
    ev->order = e->order++;
    return ev;
}

static demo_ev *misc(demo_economy *e, uint8_t type, uint64_t t_ms)
{
    return ev_new(e, &e->misc, &e->n_misc, &e->cap_misc, type, t_ms);
}

static int ev_cmp(const void *a, const void *b)
{
    const demo_ev *x = a, *y = b;
    if (x->t_ms != y->t_ms)
        return x->t_ms < y->t_ms ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* ---- Parties ------------------------------------------------------------------------------- */

static const char credit_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* A checksum-valid 统一社会信用代码: registering authority and type ("91" a company, "12" a
 * public institution), the six-digit region, a nine-character organisation code, the check. */
static void credit_code(demo_rng *r, char out[TL_CREDIT_CODE_LEN + 1], const char *head, uint32_t region)
{
    char c[18];
    snprintf(c, sizeof c, "%s%06u", head, (unsigned)region);
    for (int i = 8; i < 17; i++)
        c[i] = credit_alphabet[demo_rng_below(r, sizeof credit_alphabet - 1)];
    char check = tl_credit_code_check_char(c);
    memcpy(out, c, 17);
    out[17] = check;
    out[18] = '\0';
}

/* County-level codes of a province, the capital city's first (a seat near the capital is the
 * common case). */
typedef struct region_pool {
    uint32_t capital[64];
    size_t n_capital;
    uint32_t all[256];
    size_t n_all;
} region_pool;

static void region_pool_init(region_pool *rp, unsigned province)
{
    memset(rp, 0, sizeof *rp);
    for (size_t i = 0; i < tl_region_codes_count; i++) {
        uint32_t c = tl_region_codes[i];
        if (c / 10000 != province || tl_region_level_of(c) != TL_REGION_COUNTY)
            continue;
        if (c / 100 == province * 100 + 1 && rp->n_capital < 64)
            rp->capital[rp->n_capital++] = c;
        if (rp->n_all < 256)
            rp->all[rp->n_all++] = c;
    }
}

static uint32_t region_pick(demo_rng *r, const region_pool *rp, unsigned province)
{
    if (rp->n_capital > 0 && demo_rng_chance(r, 0.6))
        return rp->capital[demo_rng_below(r, rp->n_capital)];
    if (rp->n_all > 0)
        return rp->all[demo_rng_below(r, rp->n_all)];
    return province * 10000;
}

static uint32_t party_add(demo_economy *e, tl_participant_kind kind, uint8_t roles, int prov, uint32_t region,
                          const char *id, const char *name)
{
    demo_party *p = PUSH(e, e->parties, e->n_parties, e->cap_parties);
    if (p == NULL)
        return 0;
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", id);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->kind = (uint8_t)kind;
    p->roles = roles;
    p->prov = (int8_t)prov;
    p->region = region;
    if (kind == TL_KIND_ENTERPRISE || kind == TL_KIND_BANK || kind == TL_KIND_FUND)
        credit_code(&e->rng, p->credit_code, "91", region);
    else if (kind == TL_KIND_UNIVERSITY || kind == TL_KIND_RESEARCH_INSTITUTE)
        credit_code(&e->rng, p->credit_code, "12", region);
    tl_keypair_generate(&p->kp);
    return (uint32_t)(e->n_parties - 1);
}

static void roster_add(demo_economy *e, demo_roster *r, uint32_t party)
{
    uint32_t *slot = PUSH(e, r->v, r->n, r->cap);
    if (slot != NULL)
        *slot = party;
}

/* A province's share of turnover, for sizing its population. */
static double province_size(int p)
{
    double total = 7005.7; /* Beijing, pinned, has no weight of its own */
    for (int i = 0; i < DEMO_PROVINCES; i++)
        total += demo_provinces[i].weight_cyi;
    return (p == 0 ? 7005.7 : demo_provinces[p].weight_cyi) / total;
}

static void plan_parties(demo_economy *e)
{
    /* Enterprises grow with the square root of the scale: enough distinct sellers and buyers
     * for the views to look like an economy, without a key file per contract. */
    double firms_total = 25000.0 * sqrt_pos(e->scale);
    if (firms_total < 300)
        firms_total = 300;
    if (firms_total > 20000)
        firms_total = 20000;
    char id[DEMO_ID_BYTES], name[DEMO_NAME_BYTES];
    const uint8_t member = ROLE(TL_ROLE_MEMBER);

    for (int p = 0; p < DEMO_PROVINCES && !e->failed; p++) {
        const demo_province *pv = &demo_provinces[p];
        const char *full = tl_province_name_of(pv->code);
        region_pool rp;
        region_pool_init(&rp, pv->code);
        uint32_t seat = pv->code * 10000;

        snprintf(id, sizeof id, "registry-%02u", pv->code);
        snprintf(name, sizeof name, "%s技术市场管理办公室", full);
        e->registry[p] = party_add(e, TL_KIND_REGISTRY, ROLE(TL_ROLE_REGISTRY), p, seat, id, name);
        snprintf(id, sizeof id, "gov-%02u", pv->code);
        snprintf(name, sizeof name, "%s人民政府", full);
        e->gov[p] = party_add(e, TL_KIND_GOVERNMENT, member, p, seat, id, name);

        double size = province_size(p);
        size_t n = 0;
        for (const char *const *u = pv->universities; u != NULL && *u != NULL; u++, n++) {
            snprintf(id, sizeof id, "univ-%02u-%02zu", pv->code, n + 1);
            roster_add(e, &e->roster[p][DEMO_R_UNIVERSITY],
                       party_add(e, TL_KIND_UNIVERSITY, member, p, region_pick(&e->rng, &rp, pv->code), id, *u));
        }
        if (n == 0) {
            static const char *const generic[] = {"%s大学", "%s理工大学"};
            for (size_t k = 0; k < 2; k++) {
                snprintf(id, sizeof id, "univ-%02u-%02zu", pv->code, k + 1);
                snprintf(name, sizeof name, generic[k], pv->short_name);
                roster_add(e, &e->roster[p][DEMO_R_UNIVERSITY],
                           party_add(e, TL_KIND_UNIVERSITY, member, p, region_pick(&e->rng, &rp, pv->code), id, name));
            }
        }
        n = 0;
        for (const char *const *u = pv->institutes; u != NULL && *u != NULL; u++, n++) {
            snprintf(id, sizeof id, "inst-%02u-%02zu", pv->code, n + 1);
            roster_add(e, &e->roster[p][DEMO_R_INSTITUTE],
                       party_add(e, TL_KIND_RESEARCH_INSTITUTE, member, p, region_pick(&e->rng, &rp, pv->code), id, *u));
        }
        {
            static const char *const generic[] = {"%s科学院", "%s农业科学院"};
            for (size_t k = 0; k < 2; k++) {
                snprintf(id, sizeof id, "inst-%02u-%02zu", pv->code, n + k + 1);
                snprintf(name, sizeof name, generic[k], full);
                roster_add(e, &e->roster[p][DEMO_R_INSTITUTE],
                           party_add(e, TL_KIND_RESEARCH_INSTITUTE, member, p, region_pick(&e->rng, &rp, pv->code), id, name));
            }
        }
        {
            static const char *const generic[] = {"%s技术转移中心", "%s技术交易市场", "%s科技成果转化服务中心",
                                                  "%s知识产权运营中心"};
            size_t agencies = size > 0.05 ? 4 : 2;
            for (size_t k = 0; k < agencies; k++) {
                snprintf(id, sizeof id, "agency-%02u-%02zu", pv->code, k + 1);
                snprintf(name, sizeof name, generic[k], pv->short_name);
                roster_add(e, &e->roster[p][DEMO_R_AGENCY],
                           party_add(e, TL_KIND_TECH_TRANSFER_AGENCY, member, p, region_pick(&e->rng, &rp, pv->code), id, name));
            }
        }
        size_t firms = (size_t)(firms_total * size + 0.5);
        if (firms < 6)
            firms = 6;
        for (size_t k = 0; k < firms && !e->failed; k++) {
            snprintf(id, sizeof id, "firm-%02u-%05zu", pv->code, k + 1);
            snprintf(name, sizeof name, "%s%s%s%s", pv->short_name,
                     demo_firm_heads[demo_rng_below(&e->rng, demo_firm_head_count)],
                     demo_firm_trades[demo_rng_below(&e->rng, demo_firm_trade_count)],
                     demo_firm_suffixes[demo_rng_below(&e->rng, demo_firm_suffix_count)]);
            roster_add(e, &e->roster[p][DEMO_R_FIRM],
                       party_add(e, TL_KIND_ENTERPRISE, member, p, region_pick(&e->rng, &rp, pv->code), id, name));
        }
    }

    e->guidance_party = party_add(e, TL_KIND_FUND, ROLE(TL_ROLE_FUND_MANAGER), 0, 110102, "guidance-fund",
                                  "国家科技成果转化引导基金");
    for (size_t i = 0; i < LOCAL_POOLS; i++) {
        int p = demo_province_index(pool_provinces[i]);
        snprintf(id, sizeof id, "pool-manager-%02u", pool_provinces[i]);
        snprintf(name, sizeof name, "%s科技金融风险补偿资金管理中心", tl_province_name_of(pool_provinces[i]));
        e->pool_manager[p] = party_add(e, TL_KIND_FUND, ROLE(TL_ROLE_FUND_MANAGER), p, pool_provinces[i] * 10000,
                                       id, name);
    }
    static const struct {
        const char *id, *name;
        uint32_t region;
    } banks[] = {
        {"bank-icbc", "中国工商银行", 110102}, {"bank-ccb", "中国建设银行", 110102},
        {"bank-abc", "中国农业银行", 110101},  {"bank-boc", "中国银行", 110102},
        {"bank-bocom", "交通银行", 310115},    {"bank-cmb", "招商银行", 440304},
        {"bank-bob", "北京银行", 110102},      {"bank-hzb", "杭州银行", 330102},
    };
    for (size_t i = 0; i < sizeof banks / sizeof banks[0]; i++) {
        uint32_t region = tl_region_code_known(banks[i].region) ? banks[i].region : banks[i].region / 10000 * 10000;
        int prov = demo_province_index(region / 10000);
        e->banks[e->n_banks++] = party_add(e, TL_KIND_BANK, ROLE(TL_ROLE_BANK), prov < 0 ? 0 : prov, region,
                                           banks[i].id, banks[i].name);
    }
}

static uint32_t pick_from(demo_rng *r, const demo_roster *ro) { return ro->v[demo_rng_below(r, ro->n)]; }

/* A province drawn by absorb weight (buyers, fund seats). */
static int pick_province(demo_rng *r)
{
    uint64_t total = 0;
    for (int i = 0; i < DEMO_PROVINCES; i++)
        total += demo_provinces[i].absorb;
    uint64_t x = demo_rng_below(r, total);
    for (int i = 0; i < DEMO_PROVINCES; i++) {
        if (x < demo_provinces[i].absorb)
            return i;
        x -= demo_provinces[i].absorb;
    }
    return 0;
}

static int pick_weighted(demo_rng *r, const unsigned *w, int n)
{
    unsigned total = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    unsigned x = (unsigned)demo_rng_below(r, total);
    for (int i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

/* ---- Participants on the log --------------------------------------------------------------- */

static void plan_registrations(demo_economy *e)
{
    /* Genesis is recorded at 2016-01-01 00:00 Beijing; parties follow ten milliseconds apart,
     * long before the first registration of the day. */
    uint64_t t = demo_year_start_ms(DEMO_YEAR_FIRST) + 10 * 60 * 1000;
    for (size_t i = 0; i < e->n_parties; i++) {
        demo_ev *ev = misc(e, TL_EV_PARTICIPANT_REGISTERED, t + 10 * i);
        if (ev == NULL)
            return;
        ev->ref = (uint32_t)i;
    }
}

/* Key rotations: a registry office and a bank replace their signing key, as offices do when a
 * key custodian changes; the old key is revoked a day later and can sign nothing after that. */
static void plan_rotations(demo_economy *e)
{
    static const struct {
        const char *id;
        int y;
        unsigned m, d;
    } rotations[] = {{"registry-44", 2020, 7, 1}, {"bank-cmb", 2022, 3, 15}};
    for (size_t r = 0; r < sizeof rotations / sizeof rotations[0]; r++) {
        for (size_t i = 0; i < e->n_parties; i++) {
            demo_party *p = &e->parties[i];
            if (strcmp(p->id, rotations[r].id) != 0)
                continue;
            int32_t day = civil_day(rotations[r].y, rotations[r].m, rotations[r].d);
            /* at 08:30 Beijing, before the office's first event of the day */
            p->rotated_ms = (uint64_t)day * MS_PER_DAY + 30 * 60 * 1000;
            p->kp_old = p->kp;
            tl_keypair_generate(&p->kp);
            demo_ev *ev = misc(e, TL_EV_PARTICIPANT_KEY_ADDED, p->rotated_ms);
            if (ev == NULL)
                return;
            ev->ref = (uint32_t)i;
            ev = misc(e, TL_EV_PARTICIPANT_KEY_REVOKED, p->rotated_ms + MS_PER_DAY);
            if (ev == NULL)
                return;
            ev->ref = (uint32_t)i;
        }
    }
}

/* ---- Achievements -------------------------------------------------------------------------- */

static uint8_t pick_conf(demo_rng *r, uint8_t field)
{
    double x = demo_rng_unit(r);
    if (x < 0.015 && (field == TL_FIELD_AEROSPACE || field == TL_FIELD_NUCLEAR ||
                      field == TL_FIELD_ELECTRONIC_INFORMATION))
        return TL_CONF_STATE_SECRET;
    if (x < 0.10)
        return TL_CONF_COMMERCIAL_SECRET;
    return TL_CONF_PUBLIC;
}

static const unsigned field_weights[TL_FIELD_COUNT] = {28, 14, 3, 7, 5, 6, 8, 7, 8, 2, 12};

/* A new achievement owned by `owner`, recorded at t_ms (as a misc event or in `into`). */
static uint32_t achievement_new(demo_economy *e, uint32_t owner, uint8_t field, bool fiscal, uint64_t t_ms,
                                demo_ev **into, size_t *n_into, size_t *cap_into)
{
    demo_achievement *a = PUSH(e, e->achs, e->n_achs, e->cap_achs);
    if (a == NULL)
        return 0;
    e->ach_t_ms = grow(e, e->ach_t_ms, &e->cap_ach_t, e->n_achs, sizeof *e->ach_t_ms);
    if (e->failed)
        return 0;
    uint32_t idx = (uint32_t)(e->n_achs - 1);
    memset(a, 0, sizeof *a);
    a->owner = owner;
    a->number = idx + 1;
    a->field = field;
    a->fiscal = fiscal;
    a->conf = pick_conf(&e->rng, field);
    a->topic = (uint8_t)demo_rng_below(&e->rng, 4);
    if (demo_rng_chance(&e->rng, 0.8)) {
        int y;
        unsigned m, d;
        tl_date_ymd((int32_t)(t_ms / MS_PER_DAY), &y, &m, &d);
        a->patent_year = (uint16_t)(y - (int)demo_rng_below(&e->rng, 4));
        a->patent_serial = (uint32_t)demo_rng_below(&e->rng, 10000000);
    }
    e->ach_t_ms[idx] = t_ms;
    e->last_ach[owner] = idx;
    demo_ev *ev = into ? ev_new(e, into, n_into, cap_into, TL_EV_ACHIEVEMENT_REGISTERED, t_ms)
                       : misc(e, TL_EV_ACHIEVEMENT_REGISTERED, t_ms);
    if (ev != NULL)
        ev->ref = idx;
    return idx;
}

/* The public catalogue: universities and institutes register results every year, most of
 * them fiscally funded; some later go into companies as equity (作价入股). */
static void plan_catalogue(demo_economy *e)
{
    int32_t end = sim_end_day();
    unsigned per_year = 1 + (unsigned)(4 * sqrt_pos(e->scale / DEMO_SCALE_DEFAULT));
    for (int y = DEMO_YEAR_FIRST; y <= DEMO_SIM_END_YEAR && !e->failed; y++) {
        int32_t first = civil_day(y, 1, 4), last = y == DEMO_SIM_END_YEAR ? end : civil_day(y, 12, 31);
        for (int p = 0; p < DEMO_PROVINCES; p++) {
            for (int k = DEMO_R_UNIVERSITY; k <= DEMO_R_INSTITUTE; k++) {
                const demo_roster *ro = &e->roster[p][k];
                for (size_t i = 0; i < ro->n; i++) {
                    unsigned n = (unsigned)demo_rng_below(&e->rng, per_year + 1);
                    for (unsigned j = 0; j < n; j++) {
                        uint8_t field = (uint8_t)pick_weighted(&e->rng, field_weights, TL_FIELD_COUNT);
                        achievement_new(e, ro->v[i], field, demo_rng_chance(&e->rng, 0.9),
                                        demo_office_time_ms(&e->rng, random_day(&e->rng, first, last)), NULL,
                                        NULL, NULL);
                    }
                }
            }
        }
    }
}

static void plan_equity(demo_economy *e)
{
    int32_t end = sim_end_day();
    unsigned per_year = 6 + (unsigned)(6 * sqrt_pos(e->scale / DEMO_SCALE_DEFAULT));
    size_t n_catalogue = e->n_achs;
    uint32_t number = 0;
    for (int y = DEMO_YEAR_FIRST; y <= DEMO_SIM_END_YEAR && !e->failed; y++) {
        int32_t first = civil_day(y, 2, 1), last = y == DEMO_SIM_END_YEAR ? end : civil_day(y, 12, 31);
        for (unsigned k = 0; k < per_year; k++) {
            int32_t day = random_day(&e->rng, first, last);
            uint64_t t = demo_office_time_ms(&e->rng, day);
            /* an achievement recorded at least a month before, fiscally funded and public */
            uint32_t ach = UINT32_MAX;
            for (int tries = 0; tries < 64 && ach == UINT32_MAX; tries++) {
                uint32_t c = (uint32_t)demo_rng_below(&e->rng, n_catalogue);
                const demo_achievement *a = &e->achs[c];
                if (a->fiscal && a->conf == TL_CONF_PUBLIC && e->ach_t_ms[c] + 30 * MS_PER_DAY < t)
                    ach = c;
            }
            if (ach == UINT32_MAX)
                continue;
            int p = e->parties[e->achs[ach].owner].prov;
            if (!demo_rng_chance(&e->rng, 0.7))
                p = pick_province(&e->rng);
            demo_equity *q = PUSH(e, e->equities, e->n_equities, e->cap_equities);
            if (q == NULL)
                return;
            q->number = ++number;
            q->achievement = ach;
            q->company = pick_from(&e->rng, &e->roster[p][DEMO_R_FIRM]);
            q->valuation_fen = (uint64_t)demo_rng_range(&e->rng, 500, 30000) * 1000000; /* 500万..3亿元 */
            q->shares_ppm = (uint32_t)demo_rng_range(&e->rng, 50000, 350000);
            q->inventor_ppm = (uint32_t)demo_rng_range(&e->rng, 500000, 900000);
            q->day = day;
            demo_ev *ev = misc(e, TL_EV_EQUITY_RECORDED, t);
            if (ev != NULL)
                ev->ref = (uint32_t)(e->n_equities - 1);
        }
    }
}

/* ---- Funds --------------------------------------------------------------------------------- */

static void fund_flow(demo_economy *e, uint8_t type, uint32_t fund, uint32_t investor, tl_fund_source src,
                      uint64_t amount, int32_t day)
{
    if (amount == 0 || day > sim_end_day())
        return;
    demo_ev *ev = misc(e, type, demo_office_time_ms(&e->rng, day));
    if (ev == NULL)
        return;
    ev->ref = fund;
    ev->ref2 = investor;
    ev->a = amount;
    ev->day = day;
    ev->flag = (uint8_t)(src << DEMO_F_SOURCE_SHIFT);
}

static void invest(demo_economy *e, uint32_t fund, int prov, uint64_t amount, bool qualifying, int32_t day)
{
    if (amount == 0 || day > sim_end_day())
        return;
    int p = demo_rng_chance(&e->rng, 0.5) ? prov : pick_province(&e->rng);
    demo_ev *ev = misc(e, TL_EV_FUND_INVESTED, demo_office_time_ms(&e->rng, day));
    if (ev == NULL)
        return;
    ev->ref = fund;
    ev->ref2 = pick_from(&e->rng, &e->roster[p][DEMO_R_FIRM]);
    ev->a = amount;
    ev->day = day;
    ev->flag = qualifying ? DEMO_F_QUALIFYING : 0;
    if (demo_rng_chance(&e->rng, 0.4))
        ev->b = amount / 100 * (uint64_t)demo_rng_range(&e->rng, 50, 200);
}

/* Splits amount into n pieces of random size (each >= 1 when amount >= n). */
static void split(demo_rng *r, uint64_t amount, size_t n, uint64_t *out)
{
    double w[64], total = 0;
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++)
        total += (w[i] = 0.5 + demo_rng_unit(r));
    uint64_t sum = 0;
    for (size_t i = 1; i < n; i++)
        sum += (out[i] = (uint64_t)((double)amount * (w[i] / total)));
    out[0] = amount - sum;
}

/* Splits into tickets near `ticket` each and invests them on random days of [first, last]. */
static void invest_total(demo_economy *e, uint32_t fund, int prov, uint64_t amount, uint64_t ticket,
                         bool qualifying, int32_t first, int32_t last)
{
    if (amount == 0)
        return;
    size_t n = (size_t)(amount / (ticket ? ticket : 1));
    if (n < 1)
        n = 1;
    if (n > 64)
        n = 64;
    uint64_t parts[64];
    split(&e->rng, amount, n, parts);
    for (size_t i = 0; i < n; i++)
        invest(e, fund, prov, parts[i], qualifying, random_day(&e->rng, first, last));
}

static void plan_funds(demo_economy *e)
{
    int32_t end = sim_end_day();
    e->funds = calloc(1 + SUB_FUNDS + LOCAL_POOLS, sizeof *e->funds);
    if (e->funds == NULL) {
        e->failed = 1;
        return;
    }
    demo_fund *g = &e->funds[0];
    snprintf(g->id, sizeof g->id, "guidance-fund");
    snprintf(g->name, sizeof g->name, "国家科技成果转化引导基金");
    g->kind = TL_FUND_GUIDANCE;
    g->level = TL_LEVEL_NATIONAL;
    g->region = 110000;
    g->manager = e->guidance_party;
    g->parent = -1;
    e->n_funds = 1;
    demo_ev *ev = misc(e, TL_EV_FUND_ESTABLISHED, demo_office_time_ms(&e->rng, civil_day(2016, 1, 4)));
    if (ev == NULL)
        return;
    ev->ref = 0;

    /* The first 14 sub-funds hold 247亿元 between them, exactly. */
    uint64_t sizes[SUB_FUNDS];
    {
        double w[SUB_FUNDS_BY_2018], total = 0;
        for (int i = 0; i < SUB_FUNDS_BY_2018; i++)
            total += (w[i] = 0.6 + demo_rng_unit(&e->rng));
        uint64_t all = (uint64_t)SUB_FUNDS_2018_CYI * DEMO_FEN_PER_CYI, sum = 0;
        for (int i = 1; i < SUB_FUNDS_BY_2018; i++)
            sum += (sizes[i] = (uint64_t)((double)all * (w[i] / total)) / 1000000 * 1000000); /* whole 万元 */
        sizes[0] = all - sum;
        for (int i = SUB_FUNDS_BY_2018; i < SUB_FUNDS; i++)
            sizes[i] = (uint64_t)demo_rng_range(&e->rng, 10, 40) * 10000000000ull; /* 10..40亿元 */
    }
    int32_t est_day[SUB_FUNDS];
    int prov_of[SUB_FUNDS];
    uint64_t guidance_of[SUB_FUNDS];
    for (int i = 0; i < SUB_FUNDS && !e->failed; i++) {
        int32_t day = i < SUB_FUNDS_BY_2018
                          ? civil_day(2016, 2, 1) + (civil_day(2017, 12, 20) - civil_day(2016, 2, 1)) * i / (SUB_FUNDS_BY_2018 - 1)
                          : civil_day(2018, 9, 1) + (civil_day(2023, 6, 30) - civil_day(2018, 9, 1)) * (i - SUB_FUNDS_BY_2018) / (SUB_FUNDS - SUB_FUNDS_BY_2018 - 1);
        day += (int32_t)demo_rng_below(&e->rng, 20);
        est_day[i] = day;
        int p = pick_province(&e->rng);
        prov_of[i] = p;
        const demo_province *pv = &demo_provinces[p];
        region_pool rp;
        region_pool_init(&rp, pv->code);
        uint32_t region = region_pick(&e->rng, &rp, pv->code);
        char id[DEMO_ID_BYTES], name[DEMO_NAME_BYTES];
        snprintf(id, sizeof id, "gp-%02d", i + 1);
        snprintf(name, sizeof name, "%s%s创业投资管理有限公司", pv->short_name,
                 demo_firm_heads[demo_rng_below(&e->rng, demo_firm_head_count)]);
        uint32_t manager = party_add(e, TL_KIND_FUND, ROLE(TL_ROLE_FUND_MANAGER), p, region, id, name);
        /* registered with the other parties at the start */
        demo_ev *pe = misc(e, TL_EV_PARTICIPANT_REGISTERED, demo_year_start_ms(DEMO_YEAR_FIRST) + 20 * 60 * 1000 + (uint64_t)i);
        if (pe == NULL)
            return;
        pe->ref = manager;

        demo_fund *f = &e->funds[e->n_funds++];
        snprintf(f->id, sizeof f->id, "sub-fund-%02d", i + 1);
        snprintf(f->name, sizeof f->name, "%s科技成果转化创业投资基金（国家引导基金子基金%02d）", pv->short_name, i + 1);
        f->kind = TL_FUND_SUB_FUND;
        f->level = TL_LEVEL_NATIONAL;
        f->region = region;
        f->manager = manager;
        f->parent = 0;
        f->size_fen = sizes[i];
        uint32_t fi = (uint32_t)(e->n_funds - 1);
        demo_ev *fe = misc(e, TL_EV_FUND_ESTABLISHED, demo_office_time_ms(&e->rng, day));
        if (fe == NULL)
            return;
        fe->ref = fi;

        /* Commitments: guidance 15-25% (the breach fund 32% and the largest), the province,
         * a bank now and then, and social investors, the lead one above the guidance fund. */
        uint64_t S = sizes[i];
        uint64_t gshare = i + 1 == BREACH_GUIDANCE_FUND ? 320 : (uint64_t)demo_rng_range(&e->rng, 150, 250);
        uint64_t guid = S / 1000 * gshare;
        uint64_t local = S / 1000 * (uint64_t)demo_rng_range(&e->rng, 150, 220);
        uint64_t bank = demo_rng_chance(&e->rng, 0.5) ? S / 1000 * (uint64_t)demo_rng_range(&e->rng, 30, 80) : 0;
        uint64_t social = S - guid - local - bank;
        uint64_t lead = i + 1 == BREACH_GUIDANCE_FUND ? social / 2 : guid + S / 1000 * (uint64_t)demo_rng_range(&e->rng, 20, 60);
        if (lead > social)
            lead = social;
        uint64_t rest = social - lead;
        guidance_of[i] = guid;
        uint32_t investors[5] = {e->guidance_party, e->gov[p], e->banks[demo_rng_below(&e->rng, e->n_banks)],
                                 pick_from(&e->rng, &e->roster[p][DEMO_R_FIRM]),
                                 pick_from(&e->rng, &e->roster[pick_province(&e->rng)][DEMO_R_FIRM])};
        if (investors[4] == investors[3]) { /* one social investor after all */
            rest = 0;
            lead = social;
        }
        uint64_t amounts[5] = {guid, local, bank, lead, rest};
        tl_fund_source sources[5] = {TL_SOURCE_GUIDANCE, TL_SOURCE_LOCAL_GOVERNMENT, TL_SOURCE_BANK,
                                     TL_SOURCE_SOCIAL, TL_SOURCE_SOCIAL};
        int32_t commit_day = day + (int32_t)demo_rng_range(&e->rng, 5, 30);
        for (int k = 0; k < 5; k++)
            fund_flow(e, TL_EV_FUND_COMMITTED, fi, investors[k], sources[k], amounts[k], commit_day);
        /* Paid in over three calls: 40%, 30%, 30%. */
        static const int call_pct[3] = {40, 30, 30};
        static const int call_after[3] = {40, 270, 540};
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 5; k++)
                fund_flow(e, TL_EV_FUND_CALLED, fi, investors[k], sources[k],
                          c == 2 ? amounts[k] - amounts[k] / 100 * 40 - amounts[k] / 100 * 30
                                 : amounts[k] / 100 * (uint64_t)call_pct[c],
                          commit_day + call_after[c] + (int32_t)demo_rng_below(&e->rng, 10));
    }
    if (e->failed)
        return;

    /* Provincial loan risk-compensation pools: local funds set up by the government (the
     * admin signs), capitalised by the province, paying banks part of their losses. */
    for (size_t i = 0; i < LOCAL_POOLS && !e->failed; i++) {
        int p = demo_province_index(pool_provinces[i]);
        demo_fund *f = &e->funds[e->n_funds++];
        snprintf(f->id, sizeof f->id, "pool-%02u", pool_provinces[i]);
        snprintf(f->name, sizeof f->name, "%s科技成果转化贷款风险补偿资金池", tl_province_name_of(pool_provinces[i]));
        f->kind = TL_FUND_LOCAL;
        f->level = TL_LEVEL_PROVINCIAL;
        f->region = pool_provinces[i] * 10000;
        f->manager = e->pool_manager[p];
        f->parent = -1;
        f->size_fen = (uint64_t)demo_rng_range(&e->rng, 3, 10) * 10000000000ull; /* 3..10亿元 */
        uint32_t fi = (uint32_t)(e->n_funds - 1);
        int32_t day = civil_day(2016, 3, 1) + (int32_t)(i * 75 + demo_rng_below(&e->rng, 30));
        e->pool_fund[p] = fi;
        e->pool_day[p] = day;
        demo_ev *fe = misc(e, TL_EV_FUND_ESTABLISHED, demo_office_time_ms(&e->rng, day));
        if (fe == NULL)
            return;
        fe->ref = fi;
        fund_flow(e, TL_EV_FUND_COMMITTED, fi, e->gov[p], TL_SOURCE_LOCAL_GOVERNMENT, f->size_fen, day + 10);
        fund_flow(e, TL_EV_FUND_CALLED, fi, e->gov[p], TL_SOURCE_LOCAL_GOVERNMENT, f->size_fen, day + 40);
    }

    /* By July 2018 the first 14 had made 161 investments worth 100亿元, exactly. */
    int32_t anchor = civil_day(2018, 7, 31);
    uint64_t pre_total[SUB_FUNDS] = {0}, pre_qual[SUB_FUNDS] = {0};
    {
        size_t counts[SUB_FUNDS_BY_2018], assigned = 0;
        uint64_t size_sum = 0;
        for (int i = 0; i < SUB_FUNDS_BY_2018; i++)
            size_sum += sizes[i];
        for (int i = 0; i < SUB_FUNDS_BY_2018; i++) {
            counts[i] = 5 + (size_t)((double)(PROJECTS_2018 - 5 * SUB_FUNDS_BY_2018) * ((double)sizes[i] / (double)size_sum));
            assigned += counts[i];
        }
        for (int i = 0; assigned < PROJECTS_2018; i = (i + 1) % SUB_FUNDS_BY_2018, assigned++)
            counts[i]++;
        double w[PROJECTS_2018], total = 0;
        int owner[PROJECTS_2018];
        size_t k = 0;
        for (int i = 0; i < SUB_FUNDS_BY_2018; i++)
            for (size_t j = 0; j < counts[i]; j++, k++) {
                owner[k] = i;
                total += (w[k] = ((double)sizes[i] / (double)counts[i]) * (0.5 + demo_rng_unit(&e->rng)));
            }
        uint64_t amount[PROJECTS_2018], sum = 0;
        for (k = 1; k < PROJECTS_2018; k++)
            sum += (amount[k] = (uint64_t)((double)INVESTED_2018_FEN * (w[k] / total)));
        amount[0] = INVESTED_2018_FEN - sum;
        for (k = 0; k < PROJECTS_2018; k++) {
            int i = owner[k];
            bool q = demo_rng_chance(&e->rng, i + 1 == BREACH_DIRECTED_FUND ? 0.3 : 0.7);
            pre_total[i] += amount[k];
            if (q)
                pre_qual[i] += amount[k];
            invest(e, (uint32_t)(i + 1), prov_of[i], amount[k], q,
                   random_day(&e->rng, est_day[i] + 60, anchor));
        }
    }
    /* Afterwards each fund works towards its plan: mature funds invest 85-98% of their size,
     * with qualifying investment above both floors (3x guidance, 50% of size), except the
     * breach fund; young funds are part of the way there. */
    for (int i = 0; i < SUB_FUNDS && !e->failed; i++) {
        uint64_t S = sizes[i];
        int32_t first = (i < SUB_FUNDS_BY_2018 ? anchor + 1 : est_day[i] + 60);
        if (first >= end - 10)
            continue;
        /* Young funds invest quickly enough to be near their floors by the end. */
        uint64_t pct = est_day[i] <= civil_day(2021, 12, 31)
                           ? (uint64_t)demo_rng_range(&e->rng, 85, 98)
                           : (uint64_t)(55 + 15 * (int64_t)(end - est_day[i]) / 365);
        if (pct > 95)
            pct = 95;
        uint64_t total = S / 100 * pct;
        uint64_t floor_q = guidance_of[i] * 3 > S / 2 ? guidance_of[i] * 3 : S / 2;
        uint64_t qual = i + 1 == BREACH_DIRECTED_FUND ? guidance_of[i] / 10 * 18
                                                      : floor_q / 100 * (uint64_t)demo_rng_range(&e->rng, 105, 115);
        if (qual > total)
            qual = total;
        uint64_t post_total = total > pre_total[i] ? total - pre_total[i] : 0;
        uint64_t post_qual = qual > pre_qual[i] ? qual - pre_qual[i] : 0;
        if (post_qual > post_total) /* the early non-qualifying deals left too little room */
            post_total = post_qual;
        uint64_t ticket = S / 30;
        invest_total(e, (uint32_t)(i + 1), prov_of[i], post_qual, ticket, true, first, end - 5);
        invest_total(e, (uint32_t)(i + 1), prov_of[i], post_total - post_qual, ticket, false, first, end - 5);
    }
}

/* ---- Loans with risk compensation ---------------------------------------------------------- */

typedef struct loan_default {
    uint32_t loan;
    uint64_t amount;
    int32_t day, comp_day;
} loan_default;

static void plan_loans(demo_economy *e)
{
    int32_t end = sim_end_day();
    enum { Y0 = DEMO_YEAR_FIRST, NY = DEMO_SIM_END_YEAR - DEMO_YEAR_FIRST + 1 };
    uint64_t lending[16][NY], paid[16][NY];
    memset(lending, 0, sizeof lending);
    memset(paid, 0, sizeof paid);
    /* Enough loans a year per bank that one default rarely meets the 2% cap on its own. */
    unsigned per_year = 20 + (unsigned)(10 * sqrt_pos(e->scale / DEMO_SCALE_DEFAULT));
    static const uint16_t terms[] = {12, 24, 36};

    for (int y = Y0; y <= DEMO_SIM_END_YEAR && !e->failed; y++) {
        int32_t first = civil_day(y, 1, 5), last = y == DEMO_SIM_END_YEAR ? end - 5 : civil_day(y, 12, 28);
        for (size_t b = 0; b < e->n_banks; b++) {
            unsigned n = per_year + (unsigned)demo_rng_below(&e->rng, per_year);
            if (y == DEMO_SIM_END_YEAR)
                n /= 2;
            for (unsigned k = 0; k < n; k++) {
                demo_loan *ln = PUSH(e, e->loans, e->n_loans, e->cap_loans);
                if (ln == NULL)
                    return;
                snprintf(ln->id, sizeof ln->id, "loan-%s-%d-%03u", e->parties[e->banks[b]].id + 5, y, k + 1);
                ln->bank = e->banks[b];
                int bp = pick_province(&e->rng);
                ln->borrower = pick_from(&e->rng, &e->roster[bp][DEMO_R_FIRM]);
                ln->pool = 0;
                static const unsigned tiers[] = {200, 500, 1000, 2000, 5000}; /* 万元 */
                ln->principal_fen = (uint64_t)tiers[demo_rng_below(&e->rng, 5)] * (uint64_t)demo_rng_range(&e->rng, 60, 140) * 10000;
                ln->term_months = terms[demo_rng_below(&e->rng, 3)];
                ln->issued_day = random_day(&e->rng, first, last);
                /* A borrower in a province with its own pool is covered by it half the time. */
                if (e->pool_fund[bp] != 0 && ln->issued_day > e->pool_day[bp] + 60 && demo_rng_chance(&e->rng, 0.5))
                    ln->pool = e->pool_fund[bp];
                lending[b][y - Y0] += ln->principal_fen;
            }
        }
    }
    /* The breach: a large 2019 loan of one bank defaults in 2020 and is compensated above the
     * bank's 2% cap for 2020 (an auditor should find exactly this). */
    demo_loan *special = PUSH(e, e->loans, e->n_loans, e->cap_loans);
    if (special == NULL)
        return;
    snprintf(special->id, sizeof special->id, "loan-%s-2019-900", e->parties[e->banks[BREACH_LOAN_BANK]].id + 5);
    special->bank = e->banks[BREACH_LOAN_BANK];
    special->borrower = pick_from(&e->rng, &e->roster[0][DEMO_R_FIRM]);
    special->pool = 0;
    /* 3000万元, or more when the bank lends so much that 120% of its cap exceeds that: the
     * compensation must stay within the amount in default (the rules refuse more). */
    uint64_t breach_cap = lending[BREACH_LOAN_BANK][BREACH_LOAN_YEAR - Y0] / 100 * LOAN_CAP_PERCENT;
    special->principal_fen = breach_cap * 2 > 30000000ull * 100 ? breach_cap * 2 : 30000000ull * 100;
    special->term_months = 36;
    special->issued_day = civil_day(2019, 3, 15);
    lending[BREACH_LOAN_BANK][2019 - Y0] += special->principal_fen;
    size_t special_idx = e->n_loans - 1;

    for (size_t i = 0; i < e->n_loans && !e->failed; i++) {
        demo_loan *ln = &e->loans[i];
        demo_ev *ev = misc(e, TL_EV_LOAN_ISSUED, demo_office_time_ms(&e->rng, ln->issued_day));
        if (ev == NULL)
            return;
        ev->ref = (uint32_t)i;
        ev->a = ln->principal_fen;
        ev->day = ln->issued_day;
        if (i == special_idx)
            continue;
        if (!demo_rng_chance(&e->rng, 0.04))
            continue;
        int32_t dday = ln->issued_day + (int32_t)demo_rng_range(&e->rng, 120, 30 * ln->term_months);
        if (dday > end - 10)
            continue;
        uint64_t damount = ln->principal_fen / 100 * (uint64_t)demo_rng_range(&e->rng, 30, 80);
        ev = misc(e, TL_EV_LOAN_DEFAULTED, demo_office_time_ms(&e->rng, dday));
        if (ev == NULL)
            return;
        ev->ref = (uint32_t)i;
        ev->a = damount;
        ev->day = dday;
        int32_t cday = dday + (int32_t)demo_rng_range(&e->rng, 30, 120);
        if (cday > end)
            continue;
        int cy, b = 0;
        unsigned m, d;
        tl_date_ymd(cday, &cy, &m, &d);
        while ((size_t)b < e->n_banks && e->banks[b] != ln->bank)
            b++;
        uint64_t cap = lending[b][cy - Y0] / 100 * LOAN_CAP_PERCENT;
        uint64_t planned = damount / 100 * (uint64_t)demo_rng_range(&e->rng, 15, 35);
        uint64_t room = cap > paid[b][cy - Y0] ? cap - paid[b][cy - Y0] : 0;
        if (b == BREACH_LOAN_BANK && cy == BREACH_LOAN_YEAR)
            room = 0; /* this bank-year's cap is spent by the breach below */
        /* A claim larger than what is left of the cap is cut to part of what is left (the pool
         * pays the rest of the loss no more this year). */
        uint64_t amount = planned < room ? planned : room / 100 * (uint64_t)demo_rng_range(&e->rng, 50, 95);
        if (amount < 1000000) /* under 1万元: not worth a claim this year */
            continue;
        paid[b][cy - Y0] += amount;
        ev = misc(e, TL_EV_LOAN_COMPENSATED, demo_office_time_ms(&e->rng, cday));
        if (ev == NULL)
            return;
        ev->ref = (uint32_t)i;
        ev->a = amount;
        ev->day = cday;
    }
    int32_t dday = civil_day(BREACH_LOAN_YEAR, 2, 20), cday = civil_day(BREACH_LOAN_YEAR, 6, 18);
    demo_ev *ev = misc(e, TL_EV_LOAN_DEFAULTED, demo_office_time_ms(&e->rng, dday));
    if (ev == NULL)
        return;
    ev->ref = (uint32_t)special_idx;
    ev->a = e->loans[special_idx].principal_fen / 100 * 93;
    ev->day = dday;
    uint64_t cap = breach_cap;
    ev = misc(e, TL_EV_LOAN_COMPENSATED, demo_office_time_ms(&e->rng, cday));
    if (ev == NULL)
        return;
    ev->ref = (uint32_t)special_idx;
    ev->a = cap / 100 * 120; /* 120% of the cap */
    ev->day = cday;
}

/* ---- Programmes ---------------------------------------------------------------------------- */

static void programme(demo_economy *e, uint8_t type, const char *id, const char *name, uint32_t count,
                      uint32_t region, int32_t day)
{
    demo_programme *pg = PUSH(e, e->progs, e->n_progs, e->cap_progs);
    if (pg == NULL)
        return;
    snprintf(pg->id, sizeof pg->id, "%s", id);
    snprintf(pg->name, sizeof pg->name, "%s", name);
    pg->type = type;
    pg->count = count;
    pg->region = region;
    demo_ev *ev = misc(e, type, demo_office_time_ms(&e->rng, day));
    if (ev != NULL) {
        ev->ref = (uint32_t)(e->n_progs - 1);
        ev->day = day;
    }
}

static void plan_programmes(demo_economy *e)
{
    /* Demonstration institutions in batches (the plan asks for 100), demonstration zones (10),
     * and technology-transfer professionals trained (10,000). */
    static const struct {
        int y;
        unsigned m, d, n;
    } batches[] = {{2016, 11, 18, 40}, {2017, 12, 8, 35}, {2018, 10, 26, 30}, {2020, 11, 20, 20}};
    unsigned number = 0;
    char id[DEMO_ID_BYTES], name[DEMO_NAME_BYTES];
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        for (unsigned k = 0; k < batches[b].n; k++) {
            int p = pick_province(&e->rng);
            bool agency = demo_rng_chance(&e->rng, 0.5);
            const demo_roster *ro = &e->roster[p][agency ? DEMO_R_AGENCY : DEMO_R_UNIVERSITY];
            const demo_party *party = &e->parties[pick_from(&e->rng, ro)];
            snprintf(id, sizeof id, "demo-institution-%03u", ++number);
            snprintf(name, sizeof name, agency ? "%s（示范性国家技术转移机构）" : "%s技术转移中心（示范性国家技术转移机构）",
                     party->name);
            programme(e, TL_EV_PROGRAMME_INSTITUTION_DESIGNATED, id, name, 0, party->region,
                      civil_day(batches[b].y, batches[b].m, batches[b].d));
        }
    }
    static const struct {
        int y;
        unsigned m, d;
    } zones[] = {{2016, 10, 12}, {2016, 10, 12}, {2017, 9, 15}, {2017, 9, 15}, {2017, 9, 15}, {2017, 9, 15},
                 {2018, 9, 20},  {2018, 9, 20},  {2018, 9, 20}, {2019, 10, 10}, {2020, 12, 1}, {2022, 7, 15}};
    for (size_t z = 0; z < demo_zone_count && z < sizeof zones / sizeof zones[0]; z++) {
        snprintf(id, sizeof id, "demo-zone-%02zu", z + 1);
        programme(e, TL_EV_PROGRAMME_ZONE_DESIGNATED, id, demo_zone_names[z], 0, demo_zone_regions[z],
                  civil_day(zones[z].y, zones[z].m, zones[z].d));
    }
    for (int y = DEMO_YEAR_FIRST; y <= DEMO_YEAR_LAST; y++) {
        unsigned n = 4 + (unsigned)demo_rng_below(&e->rng, 3);
        for (unsigned k = 0; k < n; k++) {
            int p = pick_province(&e->rng);
            snprintf(id, sizeof id, "training-%d-%02u", y, k + 1);
            snprintf(name, sizeof name, "%s技术转移人才培训班（%d年第%u期）", demo_provinces[p].short_name, y, k + 1);
            programme(e, TL_EV_PROGRAMME_TRAINING_COMPLETED, id, name, (uint32_t)demo_rng_range(&e->rng, 250, 800),
                      demo_provinces[p].code * 10000,
                      civil_day(y, (unsigned)demo_rng_range(&e->rng, 3, 12), (unsigned)demo_rng_range(&e->rng, 1, 28)));
        }
    }
}

/* ---- Contracts, one registration year at a time ------------------------------------------ */

static void province_targets(const demo_economy *e, int year, uint64_t tgt[DEMO_PROVINCES],
                             uint64_t cnt[DEMO_PROVINCES], int *fail)
{
    const demo_year_figure *f = &demo_national[year - DEMO_YEAR_FIRST];
    uint64_t T = f->turnover_cyi * DEMO_FEN_PER_CYI;
    double N = (double)f->contracts * e->scale;
    bool pinned[DEMO_PROVINCES] = {false}, count_pinned[DEMO_PROVINCES] = {false};
    uint64_t pinned_sum = 0;
    memset(cnt, 0, sizeof(uint64_t) * DEMO_PROVINCES);
    for (size_t i = 0; i < demo_anchor_count; i++) {
        const demo_anchor *a = &demo_anchors[i];
        int p = demo_province_index(a->province);
        if (a->year != year || p < 0)
            continue;
        pinned[p] = true;
        tgt[p] = a->turnover_cyi * DEMO_FEN_PER_CYI;
        pinned_sum += tgt[p];
        if (a->contracts) {
            count_pinned[p] = true;
            cnt[p] = (uint64_t)((double)a->contracts * e->scale + 0.5);
        }
    }
    double w[DEMO_PROVINCES], wsum = 0;
    int largest = -1;
    for (int p = 0; p < DEMO_PROVINCES; p++) {
        if (pinned[p])
            continue;
        /* Provinces drift towards their 2021 weights; after 2021 they grow with the nation. */
        double x = demo_provinces[p].weight_cyi, tilt = 1.0 + demo_provinces[p].tilt_permille / 1000.0;
        for (int y = year; y < 2021; y++)
            x /= tilt;
        w[p] = x;
        wsum += x;
        if (largest < 0 || x > w[largest])
            largest = p;
    }
    uint64_t rest = T - pinned_sum, sum = 0;
    for (int p = 0; p < DEMO_PROVINCES; p++)
        if (!pinned[p] && p != largest)
            sum += (tgt[p] = (uint64_t)((double)rest * (w[p] / wsum)));
    if (largest < 0 || pinned_sum > T || sum > rest) {
        *fail = 1;
        return;
    }
    tgt[largest] = rest - sum;
    for (int p = 0; p < DEMO_PROVINCES; p++) {
        if (count_pinned[p])
            continue;
        /* Beijing's contracts are larger than average (8,536.9亿元 in 106,552 contracts in 2023
         * against 647万元 a contract nationally): fewer of them for its share. */
        double share = (double)tgt[p] / (double)T * (p == 0 ? 0.8 : 1.0);
        cnt[p] = (uint64_t)(N * share + 0.5);
    }
    for (int p = 0; p < DEMO_PROVINCES; p++)
        if (cnt[p] < 2)
            cnt[p] = 2;
}

/* Relative contract size: a heavy-tailed mixture (most contracts are small, a few are huge),
 * without libm. Mean about 1.7. */
static double contract_weight(demo_rng *r)
{
    static const double tier[] = {0.15, 0.6, 2.0, 8.0, 40.0};
    static const unsigned prob[] = {450, 300, 170, 65, 15};
    return tier[pick_weighted(r, prob, 5)] * (0.5 + demo_rng_unit(r));
}

static int32_t registration_day(demo_rng *r, int year)
{
    /* Registrations pile up towards the year end, as they do in the published monthly data. */
    static const unsigned month_w[12] = {5, 4, 7, 8, 8, 10, 8, 8, 9, 7, 10, 16};
    unsigned m = (unsigned)pick_weighted(r, month_w, 12) + 1;
    int32_t first = civil_day(year, m, 1);
    int32_t last = (m == 12 ? civil_day(year + 1, 1, 1) : civil_day(year, m + 1, 1)) - 1;
    return random_day(r, first, last);
}

static uint32_t next_serial(demo_economy *e, uint32_t region, int *fail)
{
    size_t lo = 0, hi = tl_region_codes_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tl_region_codes[mid] < region)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= tl_region_codes_count || tl_region_codes[lo] != region || e->serials[lo] >= 999999) {
        *fail = 1;
        return 0;
    }
    return ++e->serials[lo];
}

/* Plans an event on an existing contract, recorded on `day` but after after_ms. Returns its
 * time, or after_ms when it falls after the end of the simulation (it is not planned). */
static uint64_t follow_up(demo_economy *e, const demo_contract *c, uint8_t type, int32_t day, uint64_t a,
                          uint64_t b, uint8_t flag, uint64_t after_ms)
{
    if (day > sim_end_day())
        return after_ms;
    uint64_t t = demo_office_time_ms(&e->rng, day);
    if (t <= after_ms)
        t = after_ms + 1;
    demo_ev *ev = ev_new(e, &e->pending, &e->n_pending, &e->cap_pending, type, t);
    if (ev == NULL)
        return after_ms;
    ev->ref2 = c->seller;
    ev->region = c->seller_region;
    ev->serial = c->serial;
    int y;
    unsigned m, d;
    tl_date_ymd(c->reg_day, &y, &m, &d);
    ev->year = (uint16_t)y;
    ev->day = day;
    ev->a = a;
    ev->b = b;
    ev->flag = flag;
    return t;
}

static uint32_t tech_ppm(demo_rng *r, uint8_t cls)
{
    switch (cls) {
    case TL_CLASS_DEVELOPMENT: return (uint32_t)demo_rng_range(r, 850000, 1000000);
    case TL_CLASS_TRANSFER:
    case TL_CLASS_LICENSE: return (uint32_t)demo_rng_range(r, 900000, 1000000);
    case TL_CLASS_CONSULTING: return (uint32_t)demo_rng_range(r, 600000, 900000);
    default: return (uint32_t)demo_rng_range(r, 500000, 900000);
    }
}

/* One registration of province p with the planned final amount; counted contracts reach it
 * (directly or through amendments), the others are cancelled. */
static void plan_contract(demo_economy *e, int year, int p, uint64_t final_fen, bool counted, bool absorber,
                          demo_year_stats *st, int *fail)
{
    demo_rng *r = &e->rng;
    demo_contract *c = PUSH(e, e->contracts, e->n_contracts, e->cap_contracts);
    if (c == NULL)
        return;
    memset(c, 0, sizeof *c);
    uint32_t ci = (uint32_t)(e->n_contracts - 1);
    c->reg_day = registration_day(r, year);
    c->signed_day = c->reg_day - (int32_t)demo_rng_below(r, 60);
    static const unsigned kind_w[DEMO_R_COUNT] = {72, 12, 11, 5};
    int k = pick_weighted(r, kind_w, DEMO_R_COUNT);
    c->seller = pick_from(r, &e->roster[p][k]);
    int bp = demo_rng_chance(r, p == 0 ? 0.3 : 0.5) ? p : pick_province(r);
    do
        c->buyer = pick_from(r, &e->roster[bp][DEMO_R_FIRM]);
    while (c->buyer == c->seller);
    c->seller_region = e->parties[c->seller].region;
    c->buyer_region = e->parties[c->buyer].region;
    c->serial = next_serial(e, c->seller_region, fail);
    c->field = (uint8_t)pick_weighted(r, field_weights, TL_FIELD_COUNT);
    c->topic = (uint8_t)demo_rng_below(r, 4);
    /* The licence became a class of its own with the 2021 Civil Code. */
    static const unsigned class_before[TL_CLASS_COUNT] = {32, 8, 0, 9, 51};
    static const unsigned class_after[TL_CLASS_COUNT] = {31, 4, 5, 8, 52};
    c->cls = (uint8_t)pick_weighted(r, year < 2021 ? class_before : class_after, TL_CLASS_COUNT);
    static const unsigned sub_w[TL_SUB_COUNT] = {75, 25, 50, 15, 25, 10, 60, 30, 10, 30, 10, 15, 30, 15, 70, 10, 20};
    unsigned w[TL_SUB_COUNT];
    for (int s = 0; s < TL_SUB_COUNT; s++)
        w[s] = tl_subtype_class((tl_contract_subtype)s) == c->cls ? sub_w[s] : 0;
    c->sub = (uint8_t)pick_weighted(r, w, TL_SUB_COUNT);
    c->conf = pick_conf(r, c->field);
    uint64_t t_reg = demo_office_time_ms(r, c->reg_day);

    bool wants_ach = c->cls == TL_CLASS_TRANSFER || c->cls == TL_CLASS_LICENSE ||
                     (c->cls == TL_CLASS_DEVELOPMENT && demo_rng_chance(r, 0.2));
    if (wants_ach) {
        c->n_ach = demo_rng_chance(r, 0.8) ? 1 : 2;
        for (uint8_t i = 0; i < c->n_ach; i++) {
            uint32_t last = e->last_ach[c->seller];
            if (i == 0 && last != UINT32_MAX && e->ach_t_ms[last] < t_reg && demo_rng_chance(r, 0.4)) {
                c->ach[i] = last;
            } else {
                uint64_t t = t_reg - demo_rng_below(r, 90 * MS_PER_DAY);
                uint64_t floor_t = demo_year_start_ms(year) + MS_PER_HOUR;
                if (t < floor_t || t >= t_reg)
                    t = t_reg - 1 > floor_t ? floor_t + demo_rng_below(r, t_reg - floor_t) : t_reg - 1;
                c->ach[i] = achievement_new(e, c->seller, c->field, e->parties[c->seller].kind != TL_KIND_ENTERPRISE,
                                            t, &e->out, &e->n_out, &e->cap_out);
            }
            if (e->achs[c->ach[i]].conf > c->conf)
                c->conf = e->achs[c->ach[i]].conf;
        }
        if (c->n_ach == 2 && c->ach[0] == c->ach[1])
            c->n_ach = 1;
    }

    bool amended = counted && !absorber && demo_rng_chance(r, 0.04);
    uint64_t registered = final_fen;
    if (amended) {
        uint64_t pct = demo_rng_chance(r, 0.5) ? (uint64_t)demo_rng_range(r, 55, 90) : (uint64_t)demo_rng_range(r, 110, 160);
        registered = final_fen / 100 * pct;
        if (registered == 0 || registered > TL_AMOUNT_FEN_MAX)
            registered = final_fen + 1;
    }
    c->total_fen = registered;
    c->tech_fen = tl_amount_mul_ppm(registered, tech_ppm(r, c->cls));

    demo_ev *ev = ev_new(e, &e->out, &e->n_out, &e->cap_out, TL_EV_CONTRACT_REGISTERED, t_reg);
    if (ev == NULL)
        return;
    ev->ref = ci;
    st->contracts++;

    int32_t last_day = c->reg_day;
    uint64_t last_t = t_reg;
    if (amended) {
        /* Some in the same year, more in the next: then the published year is revised and a
         * vintage before the amendment still shows the first figure. */
        int32_t aday = c->reg_day + (int32_t)demo_rng_range(r, 20, 420);
        if (demo_rng_chance(r, 0.1)) {
            uint64_t mid = final_fen / 100 * (uint64_t)demo_rng_range(r, 80, 120);
            if (mid > 0) {
                last_t = follow_up(e, c, TL_EV_CONTRACT_AMENDED, aday, mid, tl_amount_mul_ppm(mid, tech_ppm(r, c->cls)),
                                   0, last_t);
                aday += (int32_t)demo_rng_range(r, 10, 120);
            }
        }
        if (aday > sim_end_day()) /* the final figure must be on the log: amend before the end */
            aday = sim_end_day();
        last_t = follow_up(e, c, TL_EV_CONTRACT_AMENDED, aday, final_fen,
                           tl_amount_mul_ppm(final_fen, tech_ppm(r, c->cls)), (uint8_t)demo_rng_below(r, 3), last_t);
        last_day = aday;
        st->amended++;
    }
    if (!counted) {
        int32_t cday = c->reg_day + (int32_t)demo_rng_range(r, 15, 300);
        if (cday > sim_end_day())
            cday = sim_end_day();
        follow_up(e, c, TL_EV_CONTRACT_CANCELLED, cday, 0, 0, (uint8_t)demo_rng_below(r, 3), last_t);
        st->cancelled++;
        return;
    }
    st->counted++;
    st->final_total_fen += final_fen;
    st->province_fen[p] += final_fen;
    if (!demo_rng_chance(r, 0.35))
        return;
    /* Payments reconcile with the latest amount for most contracts, partly for the rest. */
    uint64_t due = demo_rng_chance(r, 0.85) ? final_fen : final_fen / 100 * (uint64_t)demo_rng_range(r, 50, 90);
    size_t n = 1 + (size_t)pick_weighted(r, (const unsigned[]){50, 35, 15}, 3);
    uint64_t parts[3];
    if (due < n)
        n = 1;
    split(r, due, n, parts);
    int32_t pday = last_day;
    for (size_t i = 0; i < n; i++) {
        pday += (int32_t)demo_rng_range(r, 10, 180);
        last_t = follow_up(e, c, TL_EV_PAYMENT_RECEIVED, pday, parts[i], 0,
                           demo_rng_chance(r, 0.5) ? DEMO_F_SELLER_SIGNS : 0, last_t);
    }
}

static int plan_contracts(demo_economy *e, int year)
{
    demo_year_stats *st = &e->stats[year - DEMO_YEAR_FIRST];
    memset(st, 0, sizeof *st);
    uint64_t tgt[DEMO_PROVINCES], cnt[DEMO_PROVINCES];
    int fail = 0;
    province_targets(e, year, tgt, cnt, &fail);
    if (fail)
        return TL_EINVAL;
    memset(e->serials, 0, tl_region_codes_count * sizeof *e->serials);
    e->n_contracts = 0;
    double *w = NULL;
    size_t wcap = 0;
    for (int p = 0; p < DEMO_PROVINCES && !e->failed && !fail; p++) {
        size_t n = (size_t)cnt[p];
        w = grow(e, w, &wcap, n, sizeof *w);
        if (e->failed)
            break;
        double W = 0;
        for (size_t i = 0; i < n; i++)
            W += (w[i] = contract_weight(&e->rng));
        if (w[0] < 1.7) { /* the absorber takes the rounding: keep it an ordinary-sized contract */
            W += 1.7 - w[0];
            w[0] = 1.7;
        }
        uint64_t sum = 0;
        uint64_t *amounts = malloc(n * sizeof *amounts);
        if (amounts == NULL) {
            e->failed = 1;
            break;
        }
        for (size_t i = 1; i < n; i++) {
            amounts[i] = (uint64_t)((double)tgt[p] * (w[i] / W));
            if (amounts[i] == 0)
                amounts[i] = 1;
            sum += amounts[i];
        }
        if (sum >= tgt[p] || tgt[p] - sum > TL_AMOUNT_FEN_MAX) {
            free(amounts);
            fail = 1;
            break;
        }
        amounts[0] = tgt[p] - sum;
        for (size_t i = 0; i < n && !e->failed && !fail; i++)
            plan_contract(e, year, p, amounts[i], true, i == 0, st, &fail);
        free(amounts);
        /* About 1.2% of registrations are later cancelled (outside the target). */
        double mean = (double)tgt[p] / (double)n;
        size_t cancelled = (size_t)((double)n * 0.012 + demo_rng_unit(&e->rng));
        for (size_t i = 0; i < cancelled && !e->failed && !fail; i++) {
            uint64_t amount = (uint64_t)(mean * contract_weight(&e->rng) / 1.7) + 1;
            if (amount > TL_AMOUNT_FEN_MAX)
                amount = TL_AMOUNT_FEN_MAX;
            plan_contract(e, year, p, amount, false, false, st, &fail);
        }
    }
    free(w);
    if (e->failed)
        return TL_ENOMEM;
    uint64_t want = demo_national[year - DEMO_YEAR_FIRST].turnover_cyi * DEMO_FEN_PER_CYI;
    if (fail || st->final_total_fen != want)
        return TL_EINVAL;
    return 0;
}

/* ---- The economy --------------------------------------------------------------------------- */

demo_economy *demo_economy_new(double scale, uint64_t seed)
{
    demo_economy *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->scale = scale;
    demo_rng_seed(&e->rng, seed);
    tl_keypair_generate(&e->admin);
    e->serials = calloc(tl_region_codes_count, sizeof *e->serials);
    if (e->serials == NULL) {
        free(e);
        return NULL;
    }
    plan_parties(e);
    if (!e->failed) {
        e->last_ach = malloc(e->n_parties * sizeof *e->last_ach);
        if (e->last_ach == NULL)
            e->failed = 1;
        else
            memset(e->last_ach, 0xff, e->n_parties * sizeof *e->last_ach);
    }
    if (!e->failed)
        plan_registrations(e);
    if (!e->failed)
        plan_rotations(e);
    if (!e->failed)
        plan_funds(e); /* adds the fund managers' registrations */
    if (!e->failed)
        plan_catalogue(e);
    if (!e->failed)
        plan_equity(e);
    if (!e->failed)
        plan_loans(e);
    if (!e->failed)
        plan_programmes(e);
    if (e->failed) {
        demo_economy_free(e);
        return NULL;
    }
    qsort(e->misc, e->n_misc, sizeof *e->misc, ev_cmp);
    return e;
}

void demo_economy_free(demo_economy *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_parties; i++) {
        tl_keypair_wipe(&e->parties[i].kp);
        tl_keypair_wipe(&e->parties[i].kp_old);
    }
    tl_keypair_wipe(&e->admin);
    for (int p = 0; p < DEMO_PROVINCES; p++)
        for (int k = 0; k < DEMO_R_COUNT; k++)
            free(e->roster[p][k].v);
    free(e->parties);
    free(e->funds);
    free(e->loans);
    free(e->achs);
    free(e->ach_t_ms);
    free(e->last_ach);
    free(e->equities);
    free(e->progs);
    free(e->misc);
    free(e->pending);
    free(e->contracts);
    free(e->out);
    free(e->serials);
    free(e);
}

int demo_economy_year(demo_economy *e, int year, const demo_ev **evs, size_t *n)
{
    e->n_out = 0;
    if (year >= DEMO_YEAR_FIRST && year <= DEMO_YEAR_LAST) {
        int rc = plan_contracts(e, year);
        if (rc != 0)
            return rc;
    }
    uint64_t end = year >= DEMO_SIM_END_YEAR ? demo_sim_end_ms() + 1 : demo_year_start_ms(year + 1);
    /* Follow-ups recorded this year leave `pending`. */
    size_t keep = 0;
    for (size_t i = 0; i < e->n_pending && !e->failed; i++) {
        if (e->pending[i].t_ms < end) {
            demo_ev *ev = ev_new(e, &e->out, &e->n_out, &e->cap_out, 0, 0);
            if (ev != NULL)
                *ev = e->pending[i];
        } else {
            e->pending[keep++] = e->pending[i];
        }
    }
    e->n_pending = keep;
    while (e->misc_next < e->n_misc && e->misc[e->misc_next].t_ms < end && !e->failed) {
        demo_ev *ev = ev_new(e, &e->out, &e->n_out, &e->cap_out, 0, 0);
        if (ev != NULL)
            *ev = e->misc[e->misc_next++];
    }
    if (e->failed)
        return TL_ENOMEM;
    qsort(e->out, e->n_out, sizeof *e->out, ev_cmp);
    *evs = e->out;
    *n = e->n_out;
    return 0;
}

const demo_year_stats *demo_economy_stats(const demo_economy *e, int year)
{
    if (year < DEMO_YEAR_FIRST || year > DEMO_YEAR_LAST)
        return NULL;
    return &e->stats[year - DEMO_YEAR_FIRST];
}

size_t demo_party_count(const demo_economy *e) { return e->n_parties; }
const demo_party *demo_party_at(const demo_economy *e, size_t i) { return &e->parties[i]; }
