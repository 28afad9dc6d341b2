/*
 * Projections and views: the log folded into answers for statistics offices, fund managers,
 * auditors and the public.
 *
 * A projection is a named, versioned fold over records ("turnover", "institutions", "funds",
 * "catalogue"). Its state lives in DIR/views, a RocksDB instance of its own (the log's is
 * DIR/db); every batch of view changes is written in ONE WriteBatch together with the
 * projection's position (the next seq to apply), so a crash never double-counts or skips.
 * The storage layout is described at the top of projections/store.c.
 *
 * Workers run on their own threads: they catch up from their position, then follow the log,
 * woken by the sequencer's commit listener (a writer-mode ledger) or by tl_ledger_refresh on
 * a short timer (a secondary ledger, `techledger project`). A rebuild builds a new generation
 * beside the live one while ingest and reads continue, then switches atomically; it happens on
 * request (tl_views_rebuild, `techledger rebuild`) and by itself when a projection's version
 * (the code's fold) differs from the stored one.
 *
 * ONE PROCESS WRITES DIR/views AT A TIME. RocksDB's LOCK file enforces it: a second
 * TL_VIEWS_RUN open of the same directory fails with rule "views.locked". Other processes
 * (the HTTP server while `techledger project` runs the workers, `techledger report`) open the
 * views with TL_VIEWS_FOLLOW, a read-only secondary instance that catches up before each query.
 *
 * Views are C functions returning jansson objects. Every tabular view returns an object with a
 * "rows" array of flat objects whose members are strings or integers, in a fixed column order,
 * so tl_view_csv can print any of them. Money is integer fen; ratios are integer ppm
 * (parts per million) or decimal strings, never floats. Every result carries "position": the
 * number of log records the answer reflects.
 *
 * Access: each view takes the reader's access level, so no caller can forget it. An achievement
 * or contract whose confidentiality is not "public" reaches a TL_ACCESS_PUBLIC reader only
 * inside aggregates (turnover totals, counts by field): never its title, parties, amounts or ip.
 *
 * Threads: every function may be called from any thread, concurrently with the workers.
 * Ownership: returned json_t objects are new references owned by the caller (json_decref).
 */
#ifndef TL_VIEWS_H
#define TL_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tl_error.h"
#include "tl_ledger.h"
#include "tl_mp.h"

#define TL_VIEWS_NAME_BYTES_MAX 32u
#define TL_VIEWS_PROJECTIONS_MAX 8u
#define TL_VIEWS_BATCH_RECORDS 4096u      /* records folded per WriteBatch (default) */
/* The same while rebuilding: an entity changed many times in a batch is written once, so
 * bigger is faster; memory grows with the entities a batch touches (the whole `rebuild` of a
 * 400k-record demo ledger peaks at about 385 MB, against 325 MB with batches of 65536). */
#define TL_VIEWS_REBUILD_BATCH_RECORDS 262144u
#define TL_VIEWS_FOLLOW_POLL_MS 50u       /* secondary ledger: how often to look for new records
                                             (backing off to 400 ms while none come) */
#define TL_VIEWS_ROWS_MAX 100000u         /* rows in one view reply */
#define TL_VIEWS_PAGE_DEFAULT 100u        /* catalogue page size when no limit is given */
#define TL_VIEWS_PARAMS_MAX 16u
/* The action plan's headline indicator: 2 trillion yuan of turnover by 2020. */
#define TL_VIEWS_TARGET_FEN_DEFAULT 200000000000000ull /* 2 * 10^14 fen = 2 * 10^12 yuan */
#define TL_VIEWS_TARGET_YEAR_DEFAULT 2020

typedef struct tl_views tl_views;

typedef enum tl_access {
    TL_ACCESS_PUBLIC = 0,   /* anyone: aggregates, and public entries only */
    TL_ACCESS_AUDITOR,      /* everything */
    TL_ACCESS_STATISTICS,   /* everything the statistics bureau needs: all amounts and parties */
    TL_ACCESS_FUND_MANAGER  /* public entries, plus all fund and loan detail */
} tl_access;

/* "public", "auditor", "statistics", "fund_manager" <-> the enum. Parse returns 0 or TL_EINVAL. */
int tl_access_parse(tl_access *out, const char *s);
const char *tl_access_name(tl_access a);

typedef enum tl_views_mode {
    TL_VIEWS_RUN = 0, /* open DIR/views for writing and run the workers in this process */
    TL_VIEWS_FOLLOW   /* read-only: another process runs the workers (secondary instance) */
} tl_views_mode;

typedef struct tl_views_options {
    tl_views_mode mode;
    uint32_t batch_records;  /* 0 = TL_VIEWS_BATCH_RECORDS */
    uint64_t target_fen;     /* 0 = TL_VIEWS_TARGET_FEN_DEFAULT */
    int target_year;         /* 0 = TL_VIEWS_TARGET_YEAR_DEFAULT */
    /* NULL = DIR/views of the ledger. Tests and tools may point elsewhere. */
    const char *views_dir;
} tl_views_options;

/*
 * Opens (creating if needed) the views of ledger l, which must stay open until
 * tl_views_close. In TL_VIEWS_RUN mode starts the workers: they catch up in the background and
 * then follow l (a writer-mode ledger wakes them on each commit; a secondary or read-only
 * ledger is refreshed every TL_VIEWS_FOLLOW_POLL_MS). Projections whose stored version differs
 * from the code's, or that have no stored state yet, are built from record 0 in the background;
 * until then their views answer TL_ESTATE (rule "view.rebuilding"). opt may be NULL
 * (TL_VIEWS_RUN, defaults).
 * Errors: "views.locked" (TL_ESTATE) when another process runs the workers; TL_EIO.
 */
int tl_views_open(tl_views **out, tl_ledger *l, const tl_views_options *opt, tl_error *err)
    __attribute__((warn_unused_result));

/* Stops the workers (after the batch in progress is written) and closes. NULL is a no-op. */
void tl_views_close(tl_views *v);

/* Waits until every projection has applied all records below seq (seq = 0: the ledger's size
 * now), or timeout_ms passes (TL_ESTATE, rule "views.timeout"). In TL_VIEWS_FOLLOW mode this
 * waits for the other process. Used by tools (report after catching up) and tests. */
int tl_views_sync(tl_views *v, uint64_t seq, uint32_t timeout_ms, tl_error *err)
    __attribute__((warn_unused_result));

/* Starts a rebuild from record 0 of projection name (NULL = all) into a new generation, beside
 * the live one; reads keep being answered from the live generation until the new one has caught
 * up, then the switch is one atomic write. Returns at once; tl_views_stats shows progress and
 * tl_views_rebuild_wait waits. TL_ENOTFOUND (rule "view.unknown", path "projection") for an
 * unknown name; TL_ESTATE in TL_VIEWS_FOLLOW mode. */
int tl_views_rebuild(tl_views *v, const char *name, tl_error *err)
    __attribute__((warn_unused_result));
/* Waits until no rebuild is in progress (or timeout_ms; 0 = no limit). */
int tl_views_rebuild_wait(tl_views *v, uint32_t timeout_ms, tl_error *err)
    __attribute__((warn_unused_result));

/* One projection's state, for /metrics and `techledger project`. */
typedef struct tl_projection_stats {
    char name[TL_VIEWS_NAME_BYTES_MAX];
    uint32_t version;        /* of the fold in this build */
    uint64_t generation;     /* of the live state */
    uint64_t position;       /* records applied (the next seq to apply) */
    uint64_t ledger_size;    /* records in the log as last seen */
    uint64_t lag_records;    /* ledger_size - position */
    uint64_t lag_ms;         /* how long the oldest unapplied record has waited (0 when caught up) */
    uint64_t applied;        /* records applied since open (all generations) */
    uint64_t batches;        /* WriteBatches written since open */
    double apply_seconds;    /* time spent folding and writing since open */
    bool ready;              /* the live generation exists and matches the code's version */
    bool rebuilding;
    uint64_t rebuild_position; /* the new generation's position while rebuilding */
} tl_projection_stats;

/* Fills up to cap entries; returns how many projections there are. */
size_t tl_views_stats(tl_views *v, tl_projection_stats *out, size_t cap);

/* The projection names, in a fixed order ("turnover", "institutions", "funds", "catalogue"). */
size_t tl_views_projection_names(const char **out, size_t cap);

/* ---------- views ---------- */

/* Turnover dimensions, combined as a bit set in tl_turnover_query.by. */
enum {
    TL_DIM_YEAR = 1u << 0,
    TL_DIM_SELLER_PROVINCE = 1u << 1,
    TL_DIM_BUYER_PROVINCE = 1u << 2,
    TL_DIM_CLASS = 1u << 3,
    TL_DIM_FIELD = 1u << 4,
    TL_DIM_SELLER_KIND = 1u << 5,
    TL_DIM_ALL = (1u << 6) - 1
};

typedef struct tl_turnover_query {
    unsigned by;       /* TL_DIM_... bits; 0 = one national row */
    int year;          /* only this year of registered_on; 0 = every year */
    bool has_as_of;    /* only events recorded up to the end of as_of_day, Beijing time */
    int32_t as_of_day; /* days since 1970-01-01 (tl_date_parse) */
} tl_turnover_query;

/*
 * turnover: for year Y (of registered_on), the latest total_fen and tech_fen of every contract
 * registered in Y and not cancelled, grouped by q->by.
 *   {"rows": [{"year": "2019", "seller_province": "11", "contracts": N, "total_fen": N,
 *              "tech_fen": N}, ...],
 *    "target": {"target_fen": N, "target_year": 2020, "reached_year": "2019" | null,
 *               "years": [{"year": "2016", "total_fen": N, "progress_ppm": N}, ...]},
 *    "as_of": "YYYY-MM-DD" | null, "position": N}
 * Rows are sorted by their dimension values. Dimension values are strings: year "2019",
 * provinces the two GB/T 2260 digits "11", class/field/seller_kind their code names. The target
 * block always reflects the same as_of as the rows.
 */
int tl_view_turnover(json_t **out, tl_views *v, tl_access access, const tl_turnover_query *q,
                     tl_error *err) __attribute__((warn_unused_result));

/*
 * funds: one row per fund (guidance, sub-fund, local), optionally only fund_id and its
 * sub-funds (NULL = all):
 *   {"rows": [{"fund": id, "kind", "parent", "size_fen", "guidance_committed_fen",
 *              "committed_fen", "committed_local_government_fen", "committed_social_fen",
 *              "committed_bank_fen", "paid_in_fen", "guidance_paid_in_fen", "invested_fen",
 *              "qualifying_invested_fen", "co_investment_fen", "guidance_share_ppm",
 *              "l1_committed", "l1_paid_in", "l2", "directed_multiple"}, ...],
 *    "findings": [{"rule": "fund.guidance_share", "fund": id, "detail": "..."}, ...],
 *    "position": N}
 * For a guidance fund the sums are over its sub-funds (guidance money = what it committed to
 * them). Leverage ratios are decimal strings with 4 places ("3.2500"), "" when undefined.
 * Findings (rules, not rejections): fund.guidance_share (outside 10%-30%),
 * fund.guidance_largest (the guidance fund is the largest investor), fund.directed_multiple
 * (qualifying investment below 3x the guidance money), fund.directed_half (below 50% of
 * size_fen), loan.compensation_cap (compensation to a bank in a year above 2% of its lending).
 */
int tl_view_funds(json_t **out, tl_views *v, tl_access access, const char *fund_id, tl_error *err)
    __attribute__((warn_unused_result));

/*
 * loans: per pool, bank and year:
 *   {"rows": [{"pool": id, "bank": id, "year": "2020", "loans": N, "lent_fen": N,
 *              "defaults": N, "defaulted_fen": N, "compensated_fen": N, "cap_fen": N,
 *              "cap_used_ppm": N}, ...], "findings": [...], "position": N}
 * Years: of `dated` (issued, defaulted and compensated each in their own year); the cap is 2%
 * of the bank's lending that year across all pools; pool = NULL for every pool.
 */
int tl_view_loans(json_t **out, tl_views *v, tl_access access, const char *pool, tl_error *err)
    __attribute__((warn_unused_result));

/*
 * contracts/<reg_no>: the contract's events in log order:
 *   {"reg_no": "...", "events": [{"seq": N, "version": N, "recorded": ms, "type": "...",
 *    "data": {...}}, ...], "position": N}
 * The caller attaches inclusion proofs by seq. For a public reader a contract whose
 * confidentiality is not public keeps seq, version, recorded and type of each event, and
 * "data" is replaced by "redacted": true. TL_ENOTFOUND (rule "view.not_found", path "reg_no").
 */
int tl_view_contract(json_t **out, tl_views *v, tl_access access, const char *reg_no,
                     tl_error *err) __attribute__((warn_unused_result));

/*
 * institutions/<id>: what a participant sold and bought:
 *   {"id", "name", "kind", "region", "sold": {"contracts", "total_fen", "tech_fen",
 *    "licences"}, "bought": {...}, "cancelled": N, "equity_deals": N, "equity_valuation_fen": N,
 *    "payments": N, "payments_received_fen": N, "position": N}
 * Counts and amounts cover contracts not cancelled, at their latest amounts. A public reader's
 * figures leave out contracts that are not public. TL_ENOTFOUND ("view.not_found", "id").
 */
int tl_view_institution(json_t **out, tl_views *v, tl_access access, const char *id,
                        tl_error *err) __attribute__((warn_unused_result));

typedef struct tl_achievements_query {
    const char *field;  /* only this field code; NULL = all */
    const char *owner;  /* only this owner; NULL = all */
    const char *after;  /* page: ids strictly after this one; NULL = from the start */
    uint32_t limit;     /* 0 = TL_VIEWS_PAGE_DEFAULT; at most TL_VIEWS_ROWS_MAX */
} tl_achievements_query;

/*
 * achievements: the catalogue, in id order:
 *   {"rows": [{"id", "title", "owner", "field", "fiscal_funded": "true"|"false",
 *              "confidentiality", "ip", "registered_on"}, ...], "next": id | null,
 *    "by_field": [{"field": "...", "total": N, "public": N}, ...], "position": N}
 * A public reader gets only public entries in rows; confidential ones count in by_field only.
 */
int tl_view_achievements(json_t **out, tl_views *v, tl_access access,
                         const tl_achievements_query *q, tl_error *err)
    __attribute__((warn_unused_result));

/*
 * targets: the action plan's indicators:
 *   {"rows": [{"indicator": "turnover_fen", "target": N, "actual": N, "progress_ppm": N,
 *              "reached_year": "2019" | ""}, {"indicator": "demonstration_institutions", ...},
 *             {"indicator": "demonstration_zones", ...},
 *             {"indicator": "trained_professionals", ...}], "position": N}
 * Turnover: the best year's national turnover against the target; the others count programme
 * events (training_completed adds its count, 1 when absent).
 */
int tl_view_targets(json_t **out, tl_views *v, tl_access access, tl_error *err)
    __attribute__((warn_unused_result));

/* ---------- one entry point for the HTTP API and `techledger report` ---------- */

typedef struct tl_view_param {
    const char *key;
    const char *value;
} tl_view_param;

/*
 * Dispatches a view by its path ("turnover", "funds", "loans", "contracts/<reg_no>",
 * "institutions/<id>", "achievements", "targets") with query parameters, as in
 * GET /v1/views/<path>?k=v&...:
 *   turnover:     by=year,seller_province,...  year=Y  as_of=YYYY-MM-DD
 *   funds:        fund=ID          loans: pool=ID
 *   achievements: field=F owner=ID after=ID limit=N
 * Parameters a view does not know are refused (TL_EINVAL, rule "view.param", path = the key),
 * as are bad values (rule "view.param", path = the key). "format" is ignored here (the caller
 * renders). Unknown path: TL_ENOTFOUND, rule "view.unknown", path "view".
 */
int tl_view_query(json_t **out, tl_views *v, tl_access access, const char *path,
                  const tl_view_param *params, size_t n_params, tl_error *err)
    __attribute__((warn_unused_result));

/* Parses "year,seller_province" into TL_DIM_ bits (TL_EINVAL, rule "view.param", path "by"). */
int tl_turnover_dims_parse(unsigned *out, const char *by, tl_error *err)
    __attribute__((warn_unused_result));

/* The "rows" of a view result as CSV (RFC 4180, a header line, LF line ends), appended to out.
 * TL_EINVAL (rule "view.not_tabular") when result has no "rows". */
int tl_view_csv(tl_buf *out, const json_t *result, tl_error *err) __attribute__((warn_unused_result));
/* The same as an aligned plain-text table for terminals. */
int tl_view_table(tl_buf *out, const json_t *result, tl_error *err)
    __attribute__((warn_unused_result));

#endif
