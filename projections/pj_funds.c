/*
 * The funds projection: guidance funds, sub-funds and local funds (commitments by source,
 * paid-in, investments), and the loan risk-compensation pools.
 *
 * STORED (sub-keys after the generation prefix, store.c):
 *   'F' || fund id                     -> kind (1) || has_size (1) || size_fen (8) ||
 *                                         FUND_COUNTERS x 8 || parent (str)
 *   'V' || fund id || 0x00 || investor -> committed_fen (8) || committed with source guidance (8)
 *   'L' || loan id                     -> bank (str) || pool (str)
 *   'B' || pool || 0x00 || bank || 0x00 || year (2) -> loans, lent_fen, defaults, defaulted_fen,
 *                                         compensated_fen (8 each)
 * (ids never contain 0x00, so these keys sort by fund, then investor; by pool, bank, year.)
 *
 * Years of loans are those of each event's own `dated`: a loan counts in the year it was
 * issued, a default in the year it was recorded as defaulted, compensation in the year paid,
 * since the 2% cap compares a year's compensation with that year's lending. Flows naming a fund
 * or loan that is not in the log are left out (the sequencer refuses them).
 *
 * The ratios and rule findings are computed when the view is read (pj_funds_rows), from these
 * sums: the stored state stays a plain fold, and a rule's threshold can change without a
 * rebuild.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pj_internal.h"

#define FUNDS_VERSION 1u
#define CACHE_MAX 200000u
#define FUNDS_READ_MAX 100000u /* funds in one reply */

enum {
    F_COMMITTED = 0, /* + source: 4 counters */
    F_CALLED = TL_SOURCE_COUNT,
    F_INVESTED = 2 * TL_SOURCE_COUNT,
    F_QUALIFYING,
    F_COINVEST,
    FUND_COUNTERS
};

typedef struct fund_rec {
    uint8_t kind, has_size;
    int64_t size;
    int64_t c[FUND_COUNTERS];
    char parent[TL_ID_BYTES_MAX + 1];
} fund_rec;

typedef struct investor_rec {
    int64_t committed, guidance;
} investor_rec;

typedef struct loan_rec {
    char bank[TL_ID_BYTES_MAX + 1];
    char pool[TL_ID_BYTES_MAX + 1];
} loan_rec;

enum { L_LOANS, L_LENT, L_DEFAULTS, L_DEFAULTED, L_COMPENSATED, LOAN_COUNTERS };

typedef struct pool_rec {
    int64_t c[LOAN_COUNTERS];
} pool_rec;

typedef struct funds_state {
    pj_table funds, investors, loans, pools;
} funds_state;

static int enc_fund(tl_buf *o, const void *p)
{
    const fund_rec *r = p;
    int rc = pj_w_u8(o, r->kind);
    rc = rc ? rc : pj_w_u8(o, r->has_size);
    rc = rc ? rc : pj_w_u64(o, (uint64_t)r->size);
    rc = rc ? rc : pj_w_counters(o, r->c, FUND_COUNTERS);
    return rc ? rc : pj_w_str(o, r->parent, strlen(r->parent));
}

static int dec_fund(void *p, const uint8_t *b, size_t n)
{
    fund_rec *r = p;
    pj_rd rd = {b, b + n, false};
    r->kind = pj_r_u8(&rd);
    r->has_size = pj_r_u8(&rd);
    r->size = (int64_t)pj_r_u64(&rd);
    pj_r_counters(&rd, r->c, FUND_COUNTERS);
    pj_r_str(&rd, r->parent, sizeof r->parent);
    return rd.bad ? TL_ECORRUPT : 0;
}

static int enc_investor(tl_buf *o, const void *p)
{
    const investor_rec *r = p;
    int rc = pj_w_u64(o, (uint64_t)r->committed);
    return rc ? rc : pj_w_u64(o, (uint64_t)r->guidance);
}

static int dec_investor(void *p, const uint8_t *b, size_t n)
{
    investor_rec *r = p;
    pj_rd rd = {b, b + n, false};
    r->committed = (int64_t)pj_r_u64(&rd);
    r->guidance = (int64_t)pj_r_u64(&rd);
    return rd.bad ? TL_ECORRUPT : 0;
}

static int enc_loan(tl_buf *o, const void *p)
{
    const loan_rec *r = p;
    int rc = pj_w_str(o, r->bank, strlen(r->bank));
    return rc ? rc : pj_w_str(o, r->pool, strlen(r->pool));
}

static int dec_loan(void *p, const uint8_t *b, size_t n)
{
    loan_rec *r = p;
    pj_rd rd = {b, b + n, false};
    pj_r_str(&rd, r->bank, sizeof r->bank);
    pj_r_str(&rd, r->pool, sizeof r->pool);
    return rd.bad ? TL_ECORRUPT : 0;
}

static int enc_pool(tl_buf *o, const void *p)
{
    const pool_rec *r = p;
    return pj_w_counters(o, r->c, LOAN_COUNTERS);
}

static int dec_pool(void *p, const uint8_t *b, size_t n)
{
    pool_rec *r = p;
    pj_rd rd = {b, b + n, false};
    pj_r_counters(&rd, r->c, LOAN_COUNTERS);
    return rd.bad ? TL_ECORRUPT : 0;
}

static int f_init(pj_inst *in)
{
    funds_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TL_ENOMEM;
    in->state = s;
    int rc = pj_inst_table(in, &s->funds, 'F', sizeof(fund_rec), CACHE_MAX, enc_fund, dec_fund);
    rc = rc ? rc : pj_inst_table(in, &s->investors, 'V', sizeof(investor_rec), CACHE_MAX, enc_investor, dec_investor);
    rc = rc ? rc : pj_inst_table(in, &s->loans, 'L', sizeof(loan_rec), CACHE_MAX, enc_loan, dec_loan);
    return rc ? rc : pj_inst_table(in, &s->pools, 'B', sizeof(pool_rec), CACHE_MAX, enc_pool, dec_pool);
}

static void f_destroy(pj_inst *in)
{
    free(in->state);
    in->state = NULL;
}

static int overflow(tl_error *err) { return tl_fail(err, TL_ETOOBIG, "view.overflow", "", "a fund total would overflow"); }

static void copy_id(char *out, const uint8_t *p, size_t n)
{
    if (n > TL_ID_BYTES_MAX)
        n = TL_ID_BYTES_MAX;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* 'B' key of pool, bank and year into out; returns its length. */
static size_t pool_key(uint8_t *out, const char *pool, const char *bank, int year)
{
    size_t pn = strlen(pool), bn = strlen(bank);
    memcpy(out, pool, pn);
    out[pn] = 0;
    memcpy(out + pn + 1, bank, bn);
    out[pn + 1 + bn] = 0;
    out[pn + 2 + bn] = (uint8_t)(year >> 8);
    out[pn + 3 + bn] = (uint8_t)year;
    return pn + bn + 4;
}

static int pool_add(pj_inst *in, funds_state *s, const char *pool, const char *bank, int year, unsigned n_idx,
                    unsigned amount_idx, int64_t amount, tl_error *err)
{
    uint8_t key[2 * TL_ID_BYTES_MAX + 4];
    size_t kn = pool_key(key, pool, bank, year);
    pj_entry *e;
    bool created;
    int rc = pj_table_upsert(in, &s->pools, key, kn, &e, &created, err);
    if (rc != 0)
        return rc;
    pool_rec *r = (pool_rec *)e->val;
    if (n_idx < LOAN_COUNTERS && tl_amount_add(&r->c[n_idx], 1) != 0)
        return overflow(err);
    if (tl_amount_add(&r->c[amount_idx], amount) != 0)
        return overflow(err);
    pj_table_touch(&s->pools, e);
    return 0;
}

static int f_apply(pj_inst *in, const pj_event *ev, tl_error *err)
{
    funds_state *s = in->state;
    const uint8_t *id;
    size_t idn;
    pj_entry *e;
    bool created;
    int rc;
    switch (ev->type) {
    case TL_EV_FUND_ESTABLISHED: {
        if (!pj_str(ev, "id", &id, &idn))
            return 0;
        if ((rc = pj_table_upsert(in, &s->funds, id, idn, &e, &created, err)) != 0 || !created)
            return rc;
        fund_rec *f = (fund_rec *)e->val;
        f->kind = (uint8_t)pj_code(ev, "kind", &tl_codes_fund_kind, TL_FUND_LOCAL);
        const pj_val *size = pj_field(ev, "size_fen");
        if (size != NULL && size->type == TL_MP_UINT) {
            f->has_size = 1;
            f->size = (int64_t)size->u;
        }
        const uint8_t *p;
        size_t n;
        if (pj_str(ev, "parent", &p, &n))
            copy_id(f->parent, p, n);
        pj_table_touch(&s->funds, e);
        return 0;
    }
    case TL_EV_FUND_COMMITTED:
    case TL_EV_FUND_CALLED:
    case TL_EV_FUND_INVESTED: {
        if (!pj_stream_id(ev, &id, &idn))
            return 0;
        if ((rc = pj_table_get(in, &s->funds, id, idn, &e, err)) != 0 || e == NULL)
            return rc;
        fund_rec *f = (fund_rec *)e->val;
        int64_t amount = (int64_t)pj_uint(ev, "amount_fen", 0);
        if (ev->type == TL_EV_FUND_INVESTED) {
            if (tl_amount_add(&f->c[F_INVESTED], amount) != 0 ||
                (pj_bool(ev, "qualifying", false) && tl_amount_add(&f->c[F_QUALIFYING], amount) != 0) ||
                tl_amount_add(&f->c[F_COINVEST], (int64_t)pj_uint(ev, "co_investment_fen", 0)) != 0)
                return overflow(err);
            pj_table_touch(&s->funds, e);
            return 0;
        }
        int source = pj_code(ev, "source", &tl_codes_fund_source, TL_SOURCE_SOCIAL);
        unsigned base = ev->type == TL_EV_FUND_COMMITTED ? F_COMMITTED : F_CALLED;
        if (tl_amount_add(&f->c[base + (unsigned)source], amount) != 0)
            return overflow(err);
        pj_table_touch(&s->funds, e);
        if (ev->type != TL_EV_FUND_COMMITTED)
            return 0;
        const uint8_t *inv;
        size_t invn;
        if (!pj_str(ev, "investor", &inv, &invn) || idn + invn + 1 > 2 * TL_ID_BYTES_MAX + 1)
            return 0;
        uint8_t key[2 * TL_ID_BYTES_MAX + 2];
        memcpy(key, id, idn);
        key[idn] = 0;
        memcpy(key + idn + 1, inv, invn);
        if ((rc = pj_table_upsert(in, &s->investors, key, idn + 1 + invn, &e, &created, err)) != 0)
            return rc;
        investor_rec *r = (investor_rec *)e->val;
        if (tl_amount_add(&r->committed, amount) != 0 ||
            (source == TL_SOURCE_GUIDANCE && tl_amount_add(&r->guidance, amount) != 0))
            return overflow(err);
        pj_table_touch(&s->investors, e);
        return 0;
    }
    case TL_EV_LOAN_ISSUED:
    case TL_EV_LOAN_DEFAULTED: {
        const uint8_t *bank, *pool;
        size_t bn, pn;
        int32_t day;
        if (!pj_str(ev, "id", &id, &idn) || !pj_str(ev, "bank", &bank, &bn) || !pj_str(ev, "pool", &pool, &pn) ||
            !pj_date(ev, "dated", &day))
            return 0;
        loan_rec l;
        copy_id(l.bank, bank, bn);
        copy_id(l.pool, pool, pn);
        if (ev->type == TL_EV_LOAN_ISSUED) {
            if ((rc = pj_table_create(in, &s->loans, id, idn, &e, err)) != 0)
                return rc;
            memcpy(e->val, &l, sizeof l);
            pj_table_touch(&s->loans, e);
        }
        int64_t amount = (int64_t)pj_uint(ev, "amount_fen", 0);
        return ev->type == TL_EV_LOAN_ISSUED
                   ? pool_add(in, s, l.pool, l.bank, tl_date_year(day), L_LOANS, L_LENT, amount, err)
                   : pool_add(in, s, l.pool, l.bank, tl_date_year(day), L_DEFAULTS, L_DEFAULTED, amount, err);
    }
    case TL_EV_LOAN_COMPENSATED: {
        int32_t day;
        if (!pj_stream_id(ev, &id, &idn) || !pj_date(ev, "dated", &day))
            return 0;
        if ((rc = pj_table_get(in, &s->loans, id, idn, &e, err)) != 0 || e == NULL)
            return rc;
        loan_rec l = *(loan_rec *)e->val;
        return pool_add(in, s, l.pool, l.bank, tl_date_year(day), LOAN_COUNTERS, L_COMPENSATED,
                        (int64_t)pj_uint(ev, "amount_fen", 0), err);
    }
    default:
        return 0;
    }
}

const pj_def pj_def_funds = {.name = "funds",
                             .id = 3,
                             .version = FUNDS_VERSION,
                             .init = f_init,
                             .destroy = f_destroy,
                             .apply = f_apply};

/* ---------- reading ---------- */

typedef struct fund_row {
    char id[TL_ID_BYTES_MAX + 1];
    fund_rec r;
    int64_t sum[FUND_COUNTERS]; /* own, or its sub-funds' for a guidance fund */
    int64_t top_guidance, top_other; /* largest commitment by a guidance investor / by others */
} fund_row;

typedef struct pool_row {
    char pool[TL_ID_BYTES_MAX + 1], bank[TL_ID_BYTES_MAX + 1];
    int year;
    pool_rec r;
    int64_t bank_lent, bank_comp; /* the bank's whole year, across pools */
} pool_row;

/* One stored record: its key after the generation prefix and the tag, and its value. A
 * nonzero return stops the walk; WALK_STOP (above every error code) stops it without error. */
typedef int (*record_fn)(void *ctx, const uint8_t *k, size_t kn, const uint8_t *val, size_t vn, tl_error *err);
#define WALK_STOP 1

/* Visits the records under tag, in key order. */
static int walk(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], uint8_t tag, record_fn fn, void *ctx,
                tl_error *err)
{
    uint8_t bound[PJ_KEY_BYTES_MAX];
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = pj_read_iter(rd, prefix, &tag, 1, bound, &ro);
    int rc = 0;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kn, vn;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kn);
        const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vn);
        if ((rc = fn(ctx, k + PJ_PREFIX_BYTES + 1, kn - PJ_PREFIX_BYTES - 1, val, vn, err)) != 0)
            break;
    }
    int rc2 = pj_iter_done(it, ro, err);
    return rc != 0 && rc != WALK_STOP ? rc : rc2;
}

/* Fills a zeroed row from one record (arguments as record_fn's); ROW_SKIP leaves the record
 * out. */
typedef int (*row_fn)(void *row, const uint8_t *k, size_t kn, const uint8_t *val, size_t vn, tl_error *err);
#define ROW_SKIP 1

typedef struct row_array {
    size_t size, max; /* bytes per row; rows at most */
    row_fn decode;
    uint8_t *rows;
    size_t n, cap;
} row_array;

static int add_row(void *ctx, const uint8_t *k, size_t kn, const uint8_t *val, size_t vn, tl_error *err)
{
    row_array *a = ctx;
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 64;
        uint8_t *nr = realloc(a->rows, ncap * a->size);
        if (nr == NULL)
            return pj_nomem(err);
        a->rows = nr;
        a->cap = ncap;
    }
    uint8_t *row = a->rows + a->n * a->size;
    memset(row, 0, a->size);
    int rc = a->decode(row, k, kn, val, vn, err);
    if (rc != 0)
        return rc == ROW_SKIP ? 0 : rc;
    return ++a->n == a->max ? WALK_STOP : 0;
}

/* The records under tag as a malloc'd array of rows of size bytes, in key order, the first
 * max of them. On failure *out is NULL and *n 0. */
static int read_rows(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], uint8_t tag, size_t size, size_t max,
                     row_fn decode, void **out, size_t *n, tl_error *err)
{
    row_array a = {.size = size, .max = max, .decode = decode};
    int rc = walk(rd, prefix, tag, add_row, &a, err);
    if (rc != 0) {
        free(a.rows);
        a.rows = NULL;
        a.n = 0;
    }
    *out = a.rows;
    *n = a.n;
    return rc;
}

/* 'F' || fund id -> a fund row holding its own figures. */
static int fund_row_decode(void *row, const uint8_t *k, size_t kn, const uint8_t *val, size_t vn, tl_error *err)
{
    fund_row *f = row;
    copy_id(f->id, k, kn);
    if (dec_fund(&f->r, val, vn) != 0)
        return tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged fund record");
    memcpy(f->sum, f->r.c, sizeof f->sum);
    return 0;
}

/* 'V' keys in the same order as 'F' keys: one merge pass over the fund rows finds each fund's
 * largest investors. Damaged entries are passed over. */
typedef struct top_merge {
    fund_row *rows;
    size_t n, at;
} top_merge;

static int merge_investor(void *ctx, const uint8_t *k, size_t kn, const uint8_t *val, size_t vn, tl_error *err)
{
    (void)err;
    top_merge *m = ctx;
    const uint8_t *z = memchr(k, 0, kn);
    investor_rec inv;
    if (z == NULL || dec_investor(&inv, val, vn) != 0)
        return 0;
    char id[TL_ID_BYTES_MAX + 1];
    copy_id(id, k, (size_t)(z - k));
    while (m->at < m->n && strcmp(m->rows[m->at].id, id) < 0)
        m->at++;
    if (m->at == m->n || strcmp(m->rows[m->at].id, id) != 0)
        return 0;
    int64_t *top = inv.guidance > 0 ? &m->rows[m->at].top_guidance : &m->rows[m->at].top_other;
    if (inv.committed > *top)
        *top = inv.committed;
    return 0;
}

/* A guidance fund's figures are its sub-funds' (rows are in id order: bsearch). */
static int sum_sub_funds(fund_row *rows, size_t n, tl_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].r.kind == TL_FUND_GUIDANCE)
            memset(rows[i].sum, 0, sizeof rows[i].sum);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (rows[i].r.kind != TL_FUND_SUB_FUND || rows[i].r.parent[0] == '\0')
            continue;
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strcmp(rows[mid].id, rows[i].r.parent) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == n || strcmp(rows[lo].id, rows[i].r.parent) != 0 || rows[lo].r.kind != TL_FUND_GUIDANCE)
            continue;
        for (int c = 0; c < FUND_COUNTERS; c++)
            if (tl_amount_add(&rows[lo].sum[c], rows[i].r.c[c]) != 0)
                rc = overflow(err);
    }
    return rc;
}

static int read_funds(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], fund_row **out, size_t *n, tl_error *err)
{
    void *rows;
    int rc = read_rows(rd, prefix, 'F', sizeof(fund_row), FUNDS_READ_MAX, fund_row_decode, &rows, n, err);
    *out = rows;
    top_merge m = {*out, *n, 0};
    if (rc == 0)
        rc = walk(rd, prefix, 'V', merge_investor, &m, err);
    if (rc == 0)
        rc = sum_sub_funds(*out, *n, err);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static int pool_row_cmp_bank(const void *a, const void *b)
{
    const pool_row *x = a, *y = b;
    int c = strcmp(x->bank, y->bank);
    return c ? c : (x->year > y->year) - (x->year < y->year);
}

static int pool_row_cmp(const void *a, const void *b)
{
    const pool_row *x = a, *y = b;
    int c = strcmp(x->pool, y->pool);
    if (c == 0)
        c = strcmp(x->bank, y->bank);
    return c ? c : (x->year > y->year) - (x->year < y->year);
}

/* 'B' || pool || 0x00 || bank || 0x00 || year (2) -> a pool row; other keys are passed over. */
static int pool_row_decode(void *row, const uint8_t *k, size_t kn, const uint8_t *val, size_t vn, tl_error *err)
{
    pool_row *r = row;
    const uint8_t *end = k + kn;
    const uint8_t *z1 = memchr(k, 0, kn);
    const uint8_t *z2 = z1 ? memchr(z1 + 1, 0, (size_t)(end - z1 - 1)) : NULL;
    if (z2 == NULL || end - z2 != 3)
        return ROW_SKIP;
    copy_id(r->pool, k, (size_t)(z1 - k));
    copy_id(r->bank, z1 + 1, (size_t)(z2 - z1 - 1));
    r->year = z2[1] << 8 | z2[2];
    if (dec_pool(&r->r, val, vn) != 0)
        return tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged loan pool record");
    return 0;
}

static int read_pools(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], pool_row **out, size_t *n, tl_error *err)
{
    void *got;
    int rc = read_rows(rd, prefix, 'B', sizeof(pool_row), TL_VIEWS_ROWS_MAX, pool_row_decode, &got, n, err);
    pool_row *rows = got;
    *out = NULL;
    if (rc != 0)
        return rc;
    /* The cap is per bank and year across pools: sum by (bank, year), then restore order. */
    if (*n == 0) {
        free(rows);
        return 0;
    }
    qsort(rows, *n, sizeof *rows, pool_row_cmp_bank);
    for (size_t i = 0; i < *n;) {
        size_t j = i;
        int64_t lent = 0, comp = 0;
        while (j < *n && strcmp(rows[j].bank, rows[i].bank) == 0 && rows[j].year == rows[i].year) {
            if (tl_amount_add(&lent, rows[j].r.c[L_LENT]) != 0 || tl_amount_add(&comp, rows[j].r.c[L_COMPENSATED]) != 0) {
                free(rows);
                *n = 0;
                return overflow(err);
            }
            j++;
        }
        for (size_t k = i; k < j; k++) {
            rows[k].bank_lent = lent;
            rows[k].bank_comp = comp;
        }
        i = j;
    }
    qsort(rows, *n, sizeof *rows, pool_row_cmp);
    *out = rows;
    return 0;
}

static uint64_t u(int64_t x) { return x > 0 ? (uint64_t)x : 0; }

static void add_finding(json_t *findings, const char *rule, const char *key, const char *id, const char *detail)
{
    json_array_append_new(findings, json_pack("{s:s,s:s,s:s}", "rule", rule, key, id, "detail", detail));
}

/* Loan findings: one per bank and year whose compensation exceeds 2% of its lending. */
static void loan_findings(json_t *findings, const pool_row *rows, size_t n)
{
    /* rows are ordered by pool; walk a copy ordered by bank to report each bank-year once */
    if (n == 0)
        return;
    pool_row *byb = malloc(n * sizeof *byb);
    if (byb == NULL)
        return;
    memcpy(byb, rows, n * sizeof *byb);
    qsort(byb, n, sizeof *byb, pool_row_cmp_bank);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(byb[i].bank, byb[i - 1].bank) == 0 && byb[i].year == byb[i - 1].year)
            continue;
        /* comp > 2% of lent  <=>  comp * 50 > lent  <=>  comp > floor(lent / 50) */
        if (u(byb[i].bank_comp) > u(byb[i].bank_lent) / 50) {
            char d[256], y[8];
            snprintf(d, sizeof d, "compensation %" PRId64 " fen in %d is above 2%% of lending %" PRId64 " fen",
                     byb[i].bank_comp, byb[i].year, byb[i].bank_lent);
            snprintf(y, sizeof y, "%d", byb[i].year);
            json_array_append_new(findings, json_pack("{s:s,s:s,s:s,s:s}", "rule", "loan.compensation_cap", "bank",
                                                      byb[i].bank, "year", y, "detail", d));
        }
    }
    free(byb);
}

static void fund_findings(json_t *findings, const fund_row *f)
{
    if (f->r.kind != TL_FUND_SUB_FUND)
        return;
    uint64_t committed = 0;
    for (int s = 0; s < TL_SOURCE_COUNT; s++)
        committed += u(f->sum[F_COMMITTED + s]);
    uint64_t guidance = u(f->sum[F_COMMITTED + TL_SOURCE_GUIDANCE]);
    uint64_t qualifying = u(f->sum[F_QUALIFYING]);
    char d[256];
    if (committed > 0) {
        uint64_t share = pj_ppm(guidance, committed);
        if (share < 100000 || share > 300000) {
            snprintf(d, sizeof d, "guidance share %" PRIu64 " ppm is outside 10%%-30%%", share);
            add_finding(findings, "fund.guidance_share", "fund", f->id, d);
        }
    }
    if (f->top_guidance > 0 && f->top_guidance >= f->top_other) {
        snprintf(d, sizeof d, "the guidance fund's commitment %" PRId64 " fen is the largest (next %" PRId64 " fen)",
                 f->top_guidance, f->top_other);
        add_finding(findings, "fund.guidance_largest", "fund", f->id, d);
    }
    if (guidance > 0 && (guidance > UINT64_MAX / 3 || qualifying < guidance * 3)) {
        snprintf(d, sizeof d, "qualifying investment %" PRIu64 " fen is below 3x the guidance money %" PRIu64 " fen",
                 qualifying, guidance);
        add_finding(findings, "fund.directed_multiple", "fund", f->id, d);
    }
    if (f->r.has_size && qualifying < (u(f->r.size) + 1) / 2) {
        snprintf(d, sizeof d, "qualifying investment %" PRIu64 " fen is below 50%% of the size %" PRId64 " fen",
                 qualifying, f->r.size);
        add_finding(findings, "fund.directed_half", "fund", f->id, d);
    }
}

static json_t *fund_json(const fund_row *f)
{
    uint64_t committed = 0, paid = 0;
    for (int s = 0; s < TL_SOURCE_COUNT; s++) {
        committed += u(f->sum[F_COMMITTED + s]);
        paid += u(f->sum[F_CALLED + s]);
    }
    uint64_t guidance = u(f->sum[F_COMMITTED + TL_SOURCE_GUIDANCE]);
    uint64_t guidance_paid = u(f->sum[F_CALLED + TL_SOURCE_GUIDANCE]);
    uint64_t invested = u(f->sum[F_INVESTED]), qualifying = u(f->sum[F_QUALIFYING]), co = u(f->sum[F_COINVEST]);
    char l1c[32], l1p[32], l2[32], dm[32];
    pj_ratio_str(l1c, sizeof l1c, committed, guidance, 4);
    pj_ratio_str(l1p, sizeof l1p, paid, guidance_paid, 4);
    pj_ratio_str(l2, sizeof l2, invested + co, guidance, 4);
    pj_ratio_str(dm, sizeof dm, qualifying, guidance, 4);
    json_t *r = json_object();
    json_object_set_new(r, "fund", json_string(f->id));
    json_object_set_new(r, "kind", json_string(tl_code_name(&tl_codes_fund_kind, f->r.kind)));
    json_object_set_new(r, "parent", json_string(f->r.parent));
    json_object_set_new(r, "size_fen", json_integer(f->r.has_size ? f->r.size : 0));
    json_object_set_new(r, "guidance_committed_fen", json_integer((json_int_t)guidance));
    json_object_set_new(r, "committed_fen", json_integer((json_int_t)committed));
    json_object_set_new(r, "committed_local_government_fen",
                        json_integer(f->sum[F_COMMITTED + TL_SOURCE_LOCAL_GOVERNMENT]));
    json_object_set_new(r, "committed_social_fen", json_integer(f->sum[F_COMMITTED + TL_SOURCE_SOCIAL]));
    json_object_set_new(r, "committed_bank_fen", json_integer(f->sum[F_COMMITTED + TL_SOURCE_BANK]));
    json_object_set_new(r, "paid_in_fen", json_integer((json_int_t)paid));
    json_object_set_new(r, "guidance_paid_in_fen", json_integer((json_int_t)guidance_paid));
    json_object_set_new(r, "invested_fen", json_integer((json_int_t)invested));
    json_object_set_new(r, "qualifying_invested_fen", json_integer((json_int_t)qualifying));
    json_object_set_new(r, "co_investment_fen", json_integer((json_int_t)co));
    json_object_set_new(r, "guidance_share_ppm", json_integer((json_int_t)pj_ppm(guidance, committed)));
    json_object_set_new(r, "l1_committed", json_string(l1c));
    json_object_set_new(r, "l1_paid_in", json_string(l1p));
    json_object_set_new(r, "l2", json_string(l2));
    json_object_set_new(r, "directed_multiple", json_string(dm));
    return r;
}

static json_t *pool_json(const pool_row *p)
{
    uint64_t cap = u(p->bank_lent) / 50; /* 2% */
    char y[8];
    snprintf(y, sizeof y, "%d", p->year);
    json_t *r = json_object();
    json_object_set_new(r, "pool", json_string(p->pool));
    json_object_set_new(r, "bank", json_string(p->bank));
    json_object_set_new(r, "year", json_string(y));
    json_object_set_new(r, "loans", json_integer(p->r.c[L_LOANS]));
    json_object_set_new(r, "lent_fen", json_integer(p->r.c[L_LENT]));
    json_object_set_new(r, "defaults", json_integer(p->r.c[L_DEFAULTS]));
    json_object_set_new(r, "defaulted_fen", json_integer(p->r.c[L_DEFAULTED]));
    json_object_set_new(r, "compensated_fen", json_integer(p->r.c[L_COMPENSATED]));
    json_object_set_new(r, "bank_year_lent_fen", json_integer(p->bank_lent));
    json_object_set_new(r, "bank_year_compensated_fen", json_integer(p->bank_comp));
    json_object_set_new(r, "cap_fen", json_integer((json_int_t)cap));
    json_object_set_new(r, "cap_used_ppm", json_integer((json_int_t)pj_ppm(u(p->bank_comp), cap)));
    return r;
}

static int funds_or_loans(json_t **out, tl_views *v, const char *only, bool loans, tl_error *err)
{
    *out = NULL;
    if (only != NULL && !tl_id_valid(only, strlen(only)))
        return tl_fail(err, TL_EINVAL, "view.param", loans ? "pool" : "fund", "not a fund id");
    pj_read rd;
    int rc = pj_read_begin(&rd, v, err);
    if (rc != 0)
        return rc;
    uint8_t prefix[PJ_PREFIX_BYTES];
    uint64_t pos = 0;
    fund_row *funds = NULL;
    pool_row *pools = NULL;
    size_t nf = 0, np = 0;
    rc = pj_read_proj(&rd, &pj_def_funds, prefix, &pos, err);
    if (rc == 0 && !loans)
        rc = read_funds(&rd, prefix, &funds, &nf, err);
    if (rc == 0)
        rc = read_pools(&rd, prefix, &pools, &np, err);
    pj_read_end(&rd);
    if (rc != 0) {
        free(funds);
        free(pools);
        return rc;
    }
    json_t *res = json_object(), *rows = json_array(), *findings = json_array();
    if (!loans) {
        for (size_t i = 0; i < nf; i++) {
            if (only != NULL && strcmp(funds[i].id, only) != 0 && strcmp(funds[i].r.parent, only) != 0)
                continue;
            json_array_append_new(rows, fund_json(&funds[i]));
            fund_findings(findings, &funds[i]);
        }
        if (only == NULL)
            loan_findings(findings, pools, np);
    } else {
        size_t m = 0;
        for (size_t i = 0; i < np; i++) {
            if (only != NULL && strcmp(pools[i].pool, only) != 0)
                continue;
            json_array_append_new(rows, pool_json(&pools[i]));
            pools[m++] = pools[i];
        }
        loan_findings(findings, pools, m);
    }
    free(funds);
    free(pools);
    json_object_set_new(res, "rows", rows);
    json_object_set_new(res, "findings", findings);
    json_object_set_new(res, "position", json_integer((json_int_t)pos));
    *out = res;
    return 0;
}

int tl_view_funds(json_t **out, tl_views *v, tl_access access, const char *fund_id, tl_error *err)
{
    (void)access; /* fund flows carry no confidential fields */
    return funds_or_loans(out, v, fund_id, false, err);
}

int tl_view_loans(json_t **out, tl_views *v, tl_access access, const char *pool, tl_error *err)
{
    (void)access;
    return funds_or_loans(out, v, pool, true, err);
}
