/*
 * The synthetic economy behind `techledger demo`: calibration tables, the planner that turns
 * them into a time-ordered stream of events, and the encoder that turns one planned event into
 * a signed envelope. cmd_demo.c drives them and submits through the ledger's normal path.
 *
 * Calibration. For every year 2016-2024 the planned contracts registered that year and not
 * cancelled carry, in their latest amounts, exactly the national turnover of
 * data/national-turnover.csv (demo_national below mirrors it; tests/test_demo.c checks the two
 * agree and that the ledger's fold equals the CSV). Each year's total is first split into
 * exact provincial targets (published provincial figures from data/README.md are pinned, the
 * rest shared by plausible weights), and each province's target into contracts whose final
 * amounts sum to it exactly: the province's first contract of the year absorbs the rounding.
 * Amendments replace an earlier registered amount with the planned final one, and cancelled
 * contracts are extra registrations outside the target, so revisions change what a vintage
 * (as_of) shows but never the final figures.
 *
 * Time. Every planned event carries the simulated moment it is recorded (Beijing office hours
 * of its business date), and a follow-up (amendment, cancellation, payment, compensation) is
 * always later than what it refers to, so emitting in time order also emits every reference
 * before its use. Contracts are planned one year at a time so memory stays bounded at --scale 1.
 */
#ifndef TL_DEMO_H
#define TL_DEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_crypto.h"
#include "tl_domain.h"
#include "tl_event.h"
#include "tl_mp.h"

#define DEMO_YEAR_FIRST 2016
#define DEMO_YEAR_LAST 2024  /* last year with registrations; calibrated to the CSV */
#define DEMO_YEARS (DEMO_YEAR_LAST - DEMO_YEAR_FIRST + 1)
#define DEMO_SIM_END_YEAR 2025 /* the simulated clock stops at the end of DEMO_SIM_END_MONTH */
#define DEMO_SIM_END_MONTH 6
#define DEMO_PROVINCES 31
#define DEMO_FEN_PER_CYI 100000000ull /* the tables count in 0.01亿元 (百万元) = 10^8 fen */
#define DEMO_TARGET_FEN 200000000000000ull /* 2 trillion yuan, the plan's 2020 target */
#define DEMO_SCALE_DEFAULT 0.01
#define DEMO_SCALE_MIN 0.0001
#define DEMO_SCALE_MAX 1.0
#define DEMO_ID_BYTES 40
#define DEMO_NAME_BYTES 160

/* ---- Calibration tables (demo_tables.c) ---------------------------------------------------- */

typedef struct demo_year_figure {
    int year;
    uint64_t contracts;    /* published count; 2024 is extrapolated (the CSV has none) */
    uint64_t turnover_cyi; /* 成交额 in 0.01亿元, exactly as in the CSV */
} demo_year_figure;
extern const demo_year_figure demo_national[DEMO_YEARS];

typedef struct demo_province {
    unsigned code;          /* two-digit GB/T 2260 province code */
    const char *short_name; /* 北京, 江苏... */
    uint32_t weight_cyi;    /* approximate 2021 seller-side turnover: the base of the split */
    int tilt_permille;      /* yearly drift of the weight relative to 2021 */
    uint32_t absorb;        /* relative weight as a buyer province (吸纳) */
    const char *const *universities; /* NULL-terminated; NULL: generic names */
    const char *const *institutes;
} demo_province;
extern const demo_province demo_provinces[DEMO_PROVINCES];

/* Provincial figures pinned exactly. `published` marks those quoted in data/README.md; the
 * others are approximations that keep Beijing's share on its historical path. */
typedef struct demo_anchor {
    unsigned province; /* code */
    int year;
    uint64_t turnover_cyi;
    uint64_t contracts; /* 0 = not pinned */
    bool published;
} demo_anchor;
extern const demo_anchor demo_anchors[];
extern const size_t demo_anchor_count;

/* Index of a two-digit province code in demo_provinces, or -1. */
int demo_province_index(unsigned code);

/* Name parts for generated organisations and contract titles. */
extern const char *const demo_firm_heads[];
extern const size_t demo_firm_head_count;
extern const char *const demo_firm_trades[];
extern const size_t demo_firm_trade_count;
extern const char *const demo_firm_suffixes[];
extern const size_t demo_firm_suffix_count;
/* Topics per technical field (tl_tech_field), for titles. */
extern const char *const demo_topics[TL_FIELD_COUNT][4];
extern const char *const demo_zone_names[];
extern const uint32_t demo_zone_regions[];
extern const size_t demo_zone_count;

/* ---- Random numbers: xoshiro256**, seeded with splitmix64 (reproducible per --seed) -------- */

typedef struct demo_rng {
    uint64_t s[4];
} demo_rng;
void demo_rng_seed(demo_rng *r, uint64_t seed);
uint64_t demo_rng_next(demo_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t demo_rng_below(demo_rng *r, uint64_t n);
/* Uniform in [lo, hi]. */
int64_t demo_rng_range(demo_rng *r, int64_t lo, int64_t hi);
/* Uniform in [0, 1). */
double demo_rng_unit(demo_rng *r);
/* True with probability p. */
bool demo_rng_chance(demo_rng *r, double p);

/* ---- The economy (demo_plan.c) ----------------------------------------------------------- */

typedef struct demo_party {
    char id[DEMO_ID_BYTES];
    char name[DEMO_NAME_BYTES];
    char credit_code[TL_CREDIT_CODE_LEN + 1]; /* "" when none */
    uint8_t kind;  /* tl_participant_kind */
    uint8_t roles; /* 1 << tl_role */
    int8_t prov;   /* index into demo_provinces */
    uint32_t region;
    tl_keypair kp;     /* the current key (written to keys/<id>.key) */
    tl_keypair kp_old; /* the key it was registered with, when it rotated */
    uint64_t rotated_ms; /* when kp was added (0: never rotated; kp is the registered key) */
} demo_party;

/* The key that signs for party p at simulated time t_ms. */
static inline const tl_keypair *demo_party_key(const demo_party *p, uint64_t t_ms)
{
    return p->rotated_ms != 0 && t_ms < p->rotated_ms ? &p->kp_old : &p->kp;
}

typedef struct demo_fund {
    char id[DEMO_ID_BYTES];
    char name[DEMO_NAME_BYTES];
    uint8_t kind;  /* tl_fund_kind */
    uint8_t level; /* tl_fund_level */
    uint32_t region;
    uint32_t manager; /* party */
    int32_t parent;   /* fund index, -1 = none */
    uint64_t size_fen;
} demo_fund;

typedef struct demo_loan {
    char id[DEMO_ID_BYTES];
    uint32_t bank, borrower; /* parties */
    uint32_t pool;           /* fund */
    uint64_t principal_fen;
    uint16_t term_months;
    int32_t issued_day;
} demo_loan;

typedef struct demo_achievement {
    uint32_t owner; /* party */
    uint32_t number;
    uint8_t field, conf;
    bool fiscal;
    uint8_t topic;
    uint16_t patent_year;
    uint32_t patent_serial;
} demo_achievement;

typedef struct demo_equity {
    uint32_t number;
    uint32_t achievement, company;
    uint64_t valuation_fen;
    uint32_t shares_ppm, inventor_ppm;
    int32_t day;
} demo_equity;

typedef struct demo_programme {
    char id[DEMO_ID_BYTES];
    char name[DEMO_NAME_BYTES];
    uint8_t type; /* tl_event_type: institution, zone or training */
    uint32_t count; /* 0 = absent */
    uint32_t region;
} demo_programme;

typedef struct demo_contract {
    uint32_t seller, buyer; /* parties */
    uint32_t seller_region, buyer_region;
    uint32_t serial;
    uint32_t ach[2];
    int32_t signed_day, reg_day;
    uint64_t total_fen, tech_fen; /* as first registered */
    uint8_t cls, sub, field, conf, n_ach, topic;
} demo_contract;

/* One planned event. Fields are read per type (see demo_encode). */
typedef struct demo_ev {
    uint64_t t_ms;   /* simulated recording time, ms since the epoch (UTC) */
    uint64_t order;  /* creation order: breaks ties so dependencies keep their order */
    uint64_t a, b;   /* amounts */
    uint32_t ref;    /* the entity: party, fund, loan, achievement, equity, programme, or a
                      * contract of the current year's table */
    uint32_t ref2;   /* a second party: investor, investee, the seller of a follow-up */
    uint32_t region; /* contract follow-ups: reg_no parts (region, serial, year) */
    uint32_t serial;
    int32_t day;     /* business date, days since 1970-01-01 */
    uint16_t year;
    uint8_t type;    /* tl_event_type */
    uint8_t flag;    /* DEMO_F_... */
} demo_ev;

#define DEMO_F_SELLER_SIGNS 0x01 /* payment signed by the seller's own key */
#define DEMO_F_QUALIFYING 0x02   /* fund.invested qualifying */
#define DEMO_F_SOURCE_SHIFT 4    /* fund flows: tl_fund_source in the high nibble */

typedef struct demo_year_stats {
    uint64_t contracts;        /* registrations (including later cancelled) */
    uint64_t counted;          /* not cancelled */
    uint64_t amended, cancelled;
    uint64_t final_total_fen;  /* planned: equals the CSV */
    uint64_t province_fen[DEMO_PROVINCES];
} demo_year_stats;

/* Per province, the parties of each kind that sell, buy and own achievements. */
typedef struct demo_roster {
    uint32_t *v;
    size_t n, cap;
} demo_roster;

enum { DEMO_R_FIRM, DEMO_R_UNIVERSITY, DEMO_R_INSTITUTE, DEMO_R_AGENCY, DEMO_R_COUNT };

typedef struct demo_economy {
    double scale;
    demo_rng rng;
    uint64_t order;
    tl_keypair admin; /* the ledger's administrator (signs genesis, parties, programmes) */

    demo_party *parties;
    size_t n_parties, cap_parties;
    uint32_t registry[DEMO_PROVINCES]; /* party of each province's registry office */
    uint32_t gov[DEMO_PROVINCES];      /* provincial government (local_government money) */
    demo_roster roster[DEMO_PROVINCES][DEMO_R_COUNT];
    uint32_t guidance_party; /* manages the national guidance fund (same id as the fund) */
    uint32_t banks[16];
    size_t n_banks;
    /* Provincial loan risk-compensation pools (local funds): their manager party, their fund
     * index (0 = the province has none) and the day each was set up. */
    uint32_t pool_manager[DEMO_PROVINCES];
    uint32_t pool_fund[DEMO_PROVINCES];
    int32_t pool_day[DEMO_PROVINCES];

    demo_fund *funds;
    size_t n_funds;
    demo_loan *loans;
    size_t n_loans, cap_loans;
    demo_achievement *achs;
    size_t n_achs, cap_achs;
    demo_equity *equities;
    size_t n_equities, cap_equities;
    demo_programme *progs;
    size_t n_progs, cap_progs;

    demo_ev *misc; /* everything but contracts, for the whole run, sorted once planned */
    size_t n_misc, cap_misc, misc_next;
    demo_ev *pending; /* contract follow-ups not yet emitted */
    size_t n_pending, cap_pending;
    uint64_t *ach_t_ms;   /* per achievement: when it is recorded (a contract may reuse it after) */
    size_t cap_ach_t;
    uint32_t *last_ach;   /* per party: its latest achievement, UINT32_MAX when none */
    demo_contract *contracts; /* the current year's registrations */
    size_t n_contracts, cap_contracts;
    demo_ev *out; /* the current year's events, merged */
    size_t n_out, cap_out;
    uint32_t *serials; /* per GB/T 2260 code index: registrations this year */

    demo_year_stats stats[DEMO_YEARS];
    int failed; /* sticky allocation failure */
} demo_economy;

/* Plans the parties, funds, loans, programmes and catalogue for the whole run (contracts come
 * year by year). Generates every party's key. NULL on allocation failure. */
demo_economy *demo_economy_new(double scale, uint64_t seed);
void demo_economy_free(demo_economy *e);

/* The events recorded in calendar year `year` (DEMO_YEAR_FIRST..DEMO_SIM_END_YEAR), in
 * recording order. Valid until the next call. Returns 0 or TL_ENOMEM. */
int demo_economy_year(demo_economy *e, int year, const demo_ev **evs, size_t *n);
const demo_year_stats *demo_economy_stats(const demo_economy *e, int year);

/* Parties, for writing key files. */
size_t demo_party_count(const demo_economy *e);
const demo_party *demo_party_at(const demo_economy *e, size_t i);

/* The simulated recording time of business day `day`: Beijing office hours (09:00-17:00,
 * UTC+8), at a random moment. */
uint64_t demo_office_time_ms(demo_rng *r, int32_t day);
/* End of the simulation: the last millisecond of DEMO_SIM_END_MONTH, Beijing time. */
uint64_t demo_sim_end_ms(void);
/* First millisecond of a calendar year, Beijing time. */
uint64_t demo_year_start_ms(int year);

/* ---- Encoding (demo_encode.c) ------------------------------------------------------------ */

/* The stream, canonical data map and signer of a planned event. data is replaced. */
int demo_encode(const demo_economy *e, const demo_ev *ev, char stream[TL_STREAM_BYTES_MAX + 1],
                tl_buf *data, const tl_keypair **signer, const char **type);

#endif
