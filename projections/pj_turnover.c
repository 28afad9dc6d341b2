/*
 * The turnover projection: national technology-contract turnover by year of registered_on and
 * by seller province, buyer province, class, field and seller kind, as recorded on any day.
 *
 * STORED (sub-keys after the generation prefix, store.c):
 *   'P' || participant id  -> kind (1)                       (for the seller_kind dimension)
 *   'T' || cell (8) || day (4) -> contracts (8) || total_fen (8) || tech_fen (8)
 *   'L' || cell (8)            -> the same totals, as of now: the cell's latest 'T' value
 * Each contract's own state (its full dimensions, latest amounts, cancelled) is a pj_ctable:
 * in memory, and on a miss folded again from the contract's stream in the log.
 *
 * A CELL is one group of one grouping, packed into 64 bits, most significant first:
 *   grouping (3) | year - 1949 (8) | seller province (7) | buyer province (7) | class (3) |
 *   field (4) | seller kind (4) | 0 (28)
 * with the dimensions a grouping leaves out set to all ones. Seven groupings are kept: year;
 * year x each single dimension; year x all five (the finest). A query by year and at most one
 * other dimension reads its own grouping; any other combination sums the finest grouping.
 *
 * VINTAGES. Each 'T' value is the cell's running total over every event recorded up to the
 * end of `day` (Beijing calendar day of the record's `recorded` time), written for each day
 * on which the cell changed. The ledger's clock never runs backwards, so an event always lands
 * on the newest day and the running total is the previous one plus the event's delta. "As of
 * day D" is then, per cell, the entry at the greatest day <= D (one SeekForPrev): a prefix
 * sum kept by the fold, not a replay of the log. 'L' repeats each cell's latest total, so that a
 * query without as_of (the usual one) is one forward walk over its grouping's cells: work in
 * proportion to the cells it sums, whatever the number of days the log spans.
 *
 * DELTAS. Registration adds (1, total, tech) to the cells of its dimensions; an amendment of a
 * contract that is not cancelled adds (0, new - old, new - old); a cancellation subtracts what
 * the contract counted. Amendments and cancellations of a cancelled (or unknown) contract
 * change nothing. Sums use tl_amount_add, which refuses to wrap.
 */
#include <stdlib.h>
#include <string.h>

#include "pj_internal.h"

#define TURNOVER_VERSION 2u /* 2: contracts no longer stored ('C'); latest totals ('L') */
#define GROUPINGS 7u
#define CELLS_CACHE_MAX 1000000u      /* cells kept in memory between batches */
#define CONTRACTS_CACHE_MAX 200000u
#define PARTICIPANTS_CACHE_MAX 200000u
#define KIND_UNKNOWN TL_KIND_COUNT    /* a seller not (yet) in the log */

enum { SH_G = 61, SH_YEAR = 53, SH_SP = 46, SH_BP = 39, SH_CLASS = 36, SH_FIELD = 32, SH_KIND = 28 };
#define ALL_YEAR 0xffu
#define ALL_PROV 0x7fu
#define ALL_CLASS 0x7u
#define ALL_FIELD 0xfu
#define ALL_KIND 0xfu

typedef struct dims {
    unsigned year_off, sprov, bprov, cls, field, kind;
} dims;

static uint64_t pack(unsigned g, const dims *d)
{
    return (uint64_t)g << SH_G | (uint64_t)d->year_off << SH_YEAR | (uint64_t)d->sprov << SH_SP |
           (uint64_t)d->bprov << SH_BP | (uint64_t)d->cls << SH_CLASS | (uint64_t)d->field << SH_FIELD |
           (uint64_t)d->kind << SH_KIND;
}

static void unpack(uint64_t k, dims *d)
{
    d->year_off = (unsigned)(k >> SH_YEAR) & 0xffu;
    d->sprov = (unsigned)(k >> SH_SP) & 0x7fu;
    d->bprov = (unsigned)(k >> SH_BP) & 0x7fu;
    d->cls = (unsigned)(k >> SH_CLASS) & 0x7u;
    d->field = (unsigned)(k >> SH_FIELD) & 0xfu;
    d->kind = (unsigned)(k >> SH_KIND) & 0xfu;
}

/* The bits of each dimension but the year in a cell, and those grouping g keeps of them. */
#define M_SPROV ((uint64_t)ALL_PROV << SH_SP)
#define M_BPROV ((uint64_t)ALL_PROV << SH_BP)
#define M_CLASS ((uint64_t)ALL_CLASS << SH_CLASS)
#define M_FIELD ((uint64_t)ALL_FIELD << SH_FIELD)
#define M_KIND ((uint64_t)ALL_KIND << SH_KIND)
#define M_DIMS (M_SPROV | M_BPROV | M_CLASS | M_FIELD | M_KIND)
static const uint64_t kept[GROUPINGS] = {0, M_SPROV, M_BPROV, M_CLASS, M_FIELD, M_KIND, M_DIMS};

/* The cell of grouping g for a contract whose full dimensions are the grouping-6 cell full:
 * its year and the dimension g keeps, the others all ones. */
static uint64_t cell_of(unsigned g, uint64_t full)
{
    uint64_t year = full & ((uint64_t)ALL_YEAR << SH_YEAR);
    return (uint64_t)g << SH_G | year | (full & kept[g]) | (M_DIMS & ~kept[g]);
}

/* ---------- the in-memory cell cache ---------- */

typedef struct cell {
    uint64_t key; /* 0 = empty slot (grouping 0 of year 1949 with every dimension zero is never
                     used: grouping 0 sets the other dimensions to all ones) */
    uint32_t day;
    bool dirty;
    int64_t v[3]; /* contracts, total_fen, tech_fen: running totals */
} cell;

typedef struct cells {
    cell *slots;
    size_t cap, count;
    uint64_t *dirty;
    size_t ndirty, dcap;
    bool complete;
} cells;

static uint64_t cell_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    return k ^ (k >> 33);
}

static cell *cells_find(cells *c, uint64_t key, bool *found)
{
    size_t mask = c->cap - 1;
    for (size_t i = (size_t)cell_hash(key) & mask;; i = (i + 1) & mask) {
        if (c->slots[i].key == key) {
            *found = true;
            return &c->slots[i];
        }
        if (c->slots[i].key == 0) {
            *found = false;
            return &c->slots[i];
        }
    }
}

static int cells_init(cells *c)
{
    memset(c, 0, sizeof *c);
    c->cap = 4096;
    c->slots = calloc(c->cap, sizeof *c->slots);
    return c->slots ? 0 : TL_ENOMEM;
}

static void cells_clear(cells *c)
{
    memset(c->slots, 0, c->cap * sizeof *c->slots);
    c->count = 0;
    c->ndirty = 0;
    c->complete = false;
}

static void cells_free(cells *c)
{
    free(c->slots);
    free(c->dirty);
    memset(c, 0, sizeof *c);
}

static int cells_grow(cells *c)
{
    cells n = *c;
    n.cap = c->cap * 2;
    n.slots = calloc(n.cap, sizeof *n.slots);
    if (n.slots == NULL)
        return TL_ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        if (c->slots[i].key == 0)
            continue;
        bool f;
        *cells_find(&n, c->slots[i].key, &f) = c->slots[i];
    }
    free(c->slots);
    c->slots = n.slots;
    c->cap = n.cap;
    return 0;
}

typedef struct turnover_state {
    pj_table participants; /* 'P' */
    pj_ctable contracts;
    cells cells;           /* 'T' */
    tl_buf k, val;
} turnover_state;

/* A contract's cancelled flag sits in its dims, in the low bits that a cell leaves zero: 24
 * bytes a contract instead of 32 (a rebuild holds every contract; see pj_inst_ctables_reserve). */
#define CANCELLED 1u

typedef struct contract_rec {
    uint64_t dims; /* the grouping-6 cell of the contract (its full dimensions) | CANCELLED */
    int64_t total, tech;
} contract_rec;

typedef struct participant_rec {
    uint8_t kind;
} participant_rec;

static int enc_participant(tl_buf *o, const void *p) { return pj_w_u8(o, ((const participant_rec *)p)->kind); }

static int dec_participant(void *p, const uint8_t *b, size_t n)
{
    if (n != 1)
        return TL_ECORRUPT;
    ((participant_rec *)p)->kind = b[0];
    return 0;
}

static int refold_step(pj_inst *in, void *ctx, void *val, bool *found, const pj_event *ev, tl_error *err);

static int t_init(pj_inst *in)
{
    turnover_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TL_ENOMEM;
    in->state = s;
    tl_buf_init(&s->k);
    tl_buf_init(&s->val);
    int rc = pj_inst_table(in, &s->participants, 'P', sizeof(participant_rec), PARTICIPANTS_CACHE_MAX,
                           enc_participant, dec_participant);
    rc = rc ? rc : pj_inst_ctable(in, &s->contracts, sizeof(contract_rec), CONTRACTS_CACHE_MAX, s, refold_step);
    rc = rc ? rc : cells_init(&s->cells);
    s->cells.complete = in->fresh;
    return rc;
}

static void t_destroy(pj_inst *in)
{
    turnover_state *s = in->state;
    cells_free(&s->cells);
    tl_buf_free(&s->k);
    tl_buf_free(&s->val);
    free(s);
    in->state = NULL;
}

static void t_reset(pj_inst *in)
{
    turnover_state *s = in->state;
    cells_clear(&s->cells);
}

static void cell_value(uint8_t out[24], const cell *c)
{
    for (int i = 0; i < 3; i++)
        pj_be64_put(out + 8 * i, (uint64_t)c->v[i]);
}

static void cell_subkey(uint8_t out[13], uint64_t key, uint32_t day)
{
    out[0] = 'T';
    pj_be64_put(out + 1, key);
    pj_be32_put(out + 9, day);
}

static void put_cell(pj_inst *in, const cell *c)
{
    uint8_t sub[13], val[24];
    cell_subkey(sub, c->key, c->day);
    cell_value(val, c);
    pj_inst_put(in, sub, sizeof sub, val, sizeof val);
}

static int cell_add(pj_inst *in, turnover_state *s, uint64_t key, uint32_t day, const int64_t delta[3],
                    tl_error *err)
{
    cells *cs = &s->cells;
    if ((cs->count + 1) * 4 > cs->cap * 3 && cells_grow(cs) != 0)
        return pj_nomem(err);
    bool found;
    cell *c = cells_find(cs, key, &found);
    if (!found) {
        memset(c, 0, sizeof *c);
        c->key = key;
        cs->count++;
        if (!(cs->complete && in->fresh)) {
            uint8_t lo[9], hi[13];
            lo[0] = 'T';
            pj_be64_put(lo + 1, key);
            cell_subkey(hi, key, UINT32_MAX);
            int rc = pj_inst_last_at_or_before(in, lo, sizeof lo, hi, sizeof hi, &s->k, &s->val, err);
            if (rc == 0 && s->val.len == 24 && s->k.len == 13) {
                c->day = pj_be32_get(s->k.data + 9);
                for (int i = 0; i < 3; i++)
                    c->v[i] = (int64_t)pj_be64_get(s->val.data + 8 * i);
            } else if (rc == 0) {
                return tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "a turnover cell is damaged");
            } else if (rc != TL_ENOTFOUND) {
                return rc;
            }
        }
    }
    if (day < c->day)
        day = c->day; /* the ledger's clock never runs backwards; never move a total back */
    if (c->dirty && day > c->day)
        put_cell(in, c); /* the batch crosses midnight: keep the earlier day's total */
    int64_t n0, n1, n2; /* all three or none: checked before any is stored */
    if (__builtin_add_overflow(c->v[0], delta[0], &n0) || __builtin_add_overflow(c->v[1], delta[1], &n1) ||
        __builtin_add_overflow(c->v[2], delta[2], &n2))
        return tl_fail(err, TL_ETOOBIG, "view.overflow", "", "a turnover total would overflow");
    c->v[0] = n0;
    c->v[1] = n1;
    c->v[2] = n2;
    c->day = day;
    if (!c->dirty) {
        if (cs->ndirty == cs->dcap) {
            size_t ncap = cs->dcap ? cs->dcap * 2 : 1024;
            uint64_t *nd = realloc(cs->dirty, ncap * sizeof *nd);
            if (nd == NULL)
                return pj_nomem(err);
            cs->dirty = nd;
            cs->dcap = ncap;
        }
        cs->dirty[cs->ndirty++] = key;
        c->dirty = true;
    }
    return 0;
}

static int add_all(pj_inst *in, turnover_state *s, uint64_t full, uint32_t day, const int64_t delta[3],
                   tl_error *err)
{
    for (unsigned g = 0; g < GROUPINGS; g++) {
        int rc = cell_add(in, s, cell_of(g, full), day, delta, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static unsigned province_of(pj_strv r)
{
    const uint8_t *p = r.p;
    if (p == NULL || r.len != TL_REGION_LEN || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
        return 0;
    return (unsigned)(p[0] - '0') * 10u + (unsigned)(p[1] - '0');
}

/* The contract a registration makes (*made false when it makes none: fields missing). */
static int contract_of(pj_inst *in, turnover_state *s, const pj_event *ev, contract_rec *c, bool *made,
                       tl_error *err)
{
    *made = false;
    const pj_contract_ev *ce = &ev->con;
    int32_t reg_day;
    if (ce->registered_on.p == NULL ||
        tl_date_parse(&reg_day, (const char *)ce->registered_on.p, ce->registered_on.len) != 0)
        return 0;
    unsigned kind = KIND_UNKNOWN;
    if (ce->seller.p != NULL) {
        /* A participant's kind never changes, and the sequencer wants the seller registered
         * first: looked up now or when the contract was registered, it is the same. */
        pj_entry *e;
        int rc = pj_table_get(in, &s->participants, ce->seller.p, ce->seller.len, &e, err);
        if (rc != 0)
            return rc;
        if (e != NULL)
            kind = ((participant_rec *)e->val)->kind;
    }
    /* The year as written: a date tl_date_parse took is YYYY-MM-DD (tl_date_year of its day
     * cost half as much again as the parse). */
    const uint8_t *y = ce->registered_on.p;
    unsigned year = (unsigned)(y[0] - '0') * 1000u + (unsigned)(y[1] - '0') * 100u + (unsigned)(y[2] - '0') * 10u +
                    (unsigned)(y[3] - '0');
    dims d = {.year_off = year - TL_DATE_YEAR_MIN,
              .sprov = province_of(ce->seller_region),
              .bprov = province_of(ce->buyer_region),
              .cls = ce->cls < 0 ? 0u : (unsigned)ce->cls,
              .field = ce->field < 0 ? 0u : (unsigned)ce->field,
              .kind = kind};
    memset(c, 0, sizeof *c);
    c->dims = pack(6, &d);
    c->total = (int64_t)ce->total; /* 0 when absent */
    c->tech = (int64_t)ce->tech;
    *made = true;
    return 0;
}

/* An amendment or cancellation of contract c, not cancelled: its new state, and what the change
 * adds to the cells. */
static void contract_change(contract_rec *c, const pj_event *ev, int64_t delta[3])
{
    if (ev->type == TL_EV_CONTRACT_CANCELLED) {
        delta[0] = -1;
        delta[1] = -c->total;
        delta[2] = -c->tech;
        c->dims |= CANCELLED;
        return;
    }
    int64_t total = ev->con.has_total ? (int64_t)ev->con.total : c->total;
    int64_t tech = ev->con.has_tech ? (int64_t)ev->con.tech : c->tech;
    delta[0] = 0;
    delta[1] = total - c->total;
    delta[2] = tech - c->tech;
    c->total = total;
    c->tech = tech;
}

/* One event of a contract's stream, folded into the contract as t_apply folds it (the cells
 * aside): how a contract that is not in memory is made again. */
static int refold_step(pj_inst *in, void *ctx, void *val, bool *found, const pj_event *ev, tl_error *err)
{
    contract_rec *c = val;
    if (ev->type == TL_EV_CONTRACT_REGISTERED) {
        contract_rec n;
        bool made;
        int rc = contract_of(in, ctx, ev, &n, &made, err);
        if (rc == 0 && made) {
            *c = n;
            *found = true;
        }
        return rc;
    }
    if ((ev->type == TL_EV_CONTRACT_AMENDED || ev->type == TL_EV_CONTRACT_CANCELLED) && *found && !(c->dims & CANCELLED)) {
        int64_t delta[3];
        contract_change(c, ev, delta);
    }
    return 0;
}

static int t_apply(pj_inst *in, const pj_event *ev, tl_error *err)
{
    turnover_state *s = in->state;
    const uint8_t *id;
    size_t idn;
    uint64_t key;
    void *cv;
    int rc;
    switch (ev->type) {
    case TL_EV_PARTICIPANT_REGISTERED: {
        pj_entry *e;
        if (!pj_str(ev, "id", &id, &idn))
            return 0;
        if ((rc = pj_table_create(in, &s->participants, id, idn, &e, err)) != 0)
            return rc;
        ((participant_rec *)e->val)->kind = (uint8_t)pj_code(ev, "kind", &tl_codes_participant_kind, KIND_UNKNOWN);
        pj_table_touch(&s->participants, e);
        return 0;
    }
    case TL_EV_CONTRACT_REGISTERED: {
        contract_rec c;
        bool made;
        if (!ev->con.keyed)
            return 0;
        key = ev->con.key;
        if ((rc = contract_of(in, s, ev, &c, &made, err)) != 0 || !made)
            return rc;
        /* A registration creates the contract: the sequencer refuses a second one. */
        if ((rc = pj_ctable_create(&s->contracts, key, &cv, err)) != 0)
            return rc;
        memcpy(cv, &c, sizeof c);
        int64_t delta[3] = {1, c.total, c.tech};
        return add_all(in, s, c.dims, ev->recorded_day, delta, err);
    }
    case TL_EV_CONTRACT_AMENDED:
    case TL_EV_CONTRACT_CANCELLED: {
        if (!ev->con.keyed)
            return 0;
        key = ev->con.key;
        if ((rc = pj_ctable_get(in, &s->contracts, key, &cv, err)) != 0)
            return rc;
        contract_rec *c = cv;
        if (c == NULL || (c->dims & CANCELLED))
            return 0;
        int64_t delta[3];
        contract_change(c, ev, delta);
        return add_all(in, s, c->dims & ~(uint64_t)CANCELLED, ev->recorded_day, delta, err);
    }
    default:
        return 0;
    }
}

static int t_flush(pj_inst *in, tl_error *err)
{
    (void)err;
    turnover_state *s = in->state;
    cells *cs = &s->cells;
    for (size_t i = 0; i < cs->ndirty; i++) {
        bool found;
        cell *c = cells_find(cs, cs->dirty[i], &found);
        if (found && c->dirty) {
            put_cell(in, c);
            uint8_t sub[9], val[24];
            sub[0] = 'L';
            pj_be64_put(sub + 1, c->key);
            cell_value(val, c);
            pj_inst_put(in, sub, sizeof sub, val, sizeof val);
            c->dirty = false;
        }
    }
    cs->ndirty = 0;
    if (cs->count > CELLS_CACHE_MAX)
        cells_clear(cs);
    return 0;
}

/* The contract's slot, for fold_record to load ahead of apply (pj_def.prefetch). */
static void t_prefetch(pj_inst *in, const pj_event *ev)
{
    const turnover_state *s = in->state;
    if (ev->con.keyed) /* false for any event not on a contract's stream */
        pj_ctable_prefetch(&s->contracts, ev->con.key);
}

const pj_def pj_def_turnover = {.name = "turnover",
                                .id = 1,
                                .version = TURNOVER_VERSION,
                                .init = t_init,
                                .destroy = t_destroy,
                                .apply = t_apply,
                                .prefetch = t_prefetch,
                                .flush = t_flush,
                                .reset = t_reset};

/* ---------- reading ---------- */

typedef struct agg {
    uint64_t key;
    int64_t v[3];
} agg;

static int agg_cmp(const void *a, const void *b)
{
    uint64_t x = ((const agg *)a)->key, y = ((const agg *)b)->key;
    return x < y ? -1 : x > y;
}

/* Keeps only the dimensions in `by` of a cell (the rest set to all ones). */
static uint64_t project_key(uint64_t key, unsigned by)
{
    dims d;
    unpack(key, &d);
    if (!(by & TL_DIM_YEAR))
        d.year_off = ALL_YEAR;
    if (!(by & TL_DIM_SELLER_PROVINCE))
        d.sprov = ALL_PROV;
    if (!(by & TL_DIM_BUYER_PROVINCE))
        d.bprov = ALL_PROV;
    if (!(by & TL_DIM_CLASS))
        d.cls = ALL_CLASS;
    if (!(by & TL_DIM_FIELD))
        d.field = ALL_FIELD;
    if (!(by & TL_DIM_SELLER_KIND))
        d.kind = ALL_KIND;
    return pack(0, &d);
}

static int agg_push(agg **a, size_t *n, size_t *cap, uint64_t key, const int64_t v[3], tl_error *err)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        agg *na = realloc(*a, ncap * sizeof *na);
        if (na == NULL)
            return pj_nomem(err);
        *a = na;
        *cap = ncap;
    }
    (*a)[*n].key = key;
    memcpy((*a)[*n].v, v, sizeof(*a)->v);
    (*n)++;
    return 0;
}

/* The latest totals ('L') of the cells of grouping g in [lo, hi), each as an aggregate grouped
 * by `by`: one forward step per cell. */
static int scan_latest(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], uint64_t lo, uint64_t hi, unsigned by,
                       agg **a, size_t *n, size_t *cap, tl_error *err)
{
    uint8_t bound[PJ_KEY_BYTES_MAX];
    rocksdb_readoptions_t *ro;
    uint8_t tag = 'L';
    rocksdb_iterator_t *it = pj_read_iter(rd, prefix, &tag, 1, bound, &ro);
    uint8_t key[PJ_PREFIX_BYTES + 9];
    memcpy(key, prefix, PJ_PREFIX_BYTES);
    key[PJ_PREFIX_BYTES] = 'L';
    pj_be64_put(key + PJ_PREFIX_BYTES + 1, lo);
    rocksdb_iter_seek(it, (const char *)key, sizeof key);
    int rc = 0;
    for (; rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kn, vn;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kn);
        const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vn);
        if (kn != sizeof key)
            continue;
        uint64_t c = pj_be64_get(k + PJ_PREFIX_BYTES + 1);
        if (c >= hi)
            break;
        if (vn != 24)
            continue;
        int64_t v3[3];
        for (int i = 0; i < 3; i++)
            v3[i] = (int64_t)pj_be64_get(val + 8 * i);
        rc = agg_push(a, n, cap, project_key(c, by), v3, err);
    }
    int rc2 = pj_iter_done(it, ro, err);
    return rc != 0 ? rc : rc2;
}

/* The totals as of day of the cells of grouping g in [lo, hi) ('T'), each as an aggregate
 * grouped by `by`. */
static int scan_vintages(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], unsigned g, uint64_t lo, uint64_t hi,
                         uint32_t day, unsigned by, agg **a, size_t *n, size_t *cap, tl_error *err)
{
    int rc = 0;
    uint8_t bound[PJ_KEY_BYTES_MAX];
    rocksdb_readoptions_t *ro;
    uint8_t tag = 'T';
    rocksdb_iterator_t *it = pj_read_iter(rd, prefix, &tag, 1, bound, &ro);
    uint8_t key[PJ_PREFIX_BYTES + 13];
    memcpy(key, prefix, PJ_PREFIX_BYTES);
    cell_subkey(key + PJ_PREFIX_BYTES, lo, 0);
    rocksdb_iter_seek(it, (const char *)key, sizeof key);
    /* The finest grouping has about one entry per contract event and rarely two days per cell:
     * a forward walk keeping each cell's last entry up to `day` beats two seeks per cell. The
     * coarser groupings have an entry per cell and day: seek past the days instead. */
    bool walk = g == 6;
    uint64_t cur = 0;
    bool have = false;
    int64_t last[3] = {0, 0, 0};
    while (rocksdb_iter_valid(it)) {
        size_t kn;
        const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kn);
        if (kn != sizeof key || k[PJ_PREFIX_BYTES] != 'T')
            break;
        uint64_t c = pj_be64_get(k + PJ_PREFIX_BYTES + 1);
        if (c >= hi)
            break;
        if (walk) {
            size_t vn;
            const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vn);
            if (have && c != cur) {
                if ((rc = agg_push(a, n, cap, project_key(cur, by), last, err)) != 0)
                    break;
                have = false;
            }
            if (pj_be32_get(k + PJ_PREFIX_BYTES + 9) <= day && vn == 24) {
                cur = c;
                have = true;
                for (int i = 0; i < 3; i++)
                    last[i] = (int64_t)pj_be64_get(val + 8 * i);
            }
            rocksdb_iter_next(it);
            continue;
        }
        cell_subkey(key + PJ_PREFIX_BYTES, c, day);
        rocksdb_iter_seek_for_prev(it, (const char *)key, sizeof key);
        if (rocksdb_iter_valid(it)) {
            k = (const uint8_t *)rocksdb_iter_key(it, &kn);
            size_t vn;
            const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vn);
            if (kn == sizeof key && k[PJ_PREFIX_BYTES] == 'T' && pj_be64_get(k + PJ_PREFIX_BYTES + 1) == c &&
                vn == 24) {
                int64_t v3[3];
                for (int i = 0; i < 3; i++)
                    v3[i] = (int64_t)pj_be64_get(val + 8 * i);
                if ((rc = agg_push(a, n, cap, project_key(c, by), v3, err)) != 0)
                    break;
            }
        }
        cell_subkey(key + PJ_PREFIX_BYTES, c + 1, 0);
        rocksdb_iter_seek(it, (const char *)key, sizeof key);
    }
    if (rc == 0 && walk && have)
        rc = agg_push(a, n, cap, project_key(cur, by), last, err);
    int rc2 = pj_iter_done(it, ro, err);
    return rc != 0 ? rc : rc2;
}

/*
 * Sums the cells of grouping g (years year_lo..year_hi) as of day, grouped by `by`, into a
 * sorted array of aggregates. Work: without as_of (day UINT32_MAX) one step per cell of that
 * grouping and years ('L'); with it, two seeks per cell, or for the finest grouping one step
 * per stored entry ('T').
 */
static int scan_cells(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], unsigned g, int year, uint32_t day,
                      unsigned by, agg **out, size_t *nout, tl_error *err)
{
    *out = NULL;
    *nout = 0;
    uint64_t lo = (uint64_t)g << SH_G, hi = (uint64_t)(g + 1) << SH_G;
    if (year != 0) {
        lo |= (uint64_t)(year - TL_DATE_YEAR_MIN) << SH_YEAR;
        hi = lo + (1ull << SH_YEAR);
    }
    agg *a = NULL;
    size_t n = 0, cap = 0;
    int rc = day == UINT32_MAX ? scan_latest(rd, prefix, lo, hi, by, &a, &n, &cap, err)
                               : scan_vintages(rd, prefix, g, lo, hi, day, by, &a, &n, &cap, err);
    if (rc != 0) {
        free(a);
        return rc;
    }
    if (n > 1)
        qsort(a, n, sizeof *a, agg_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && a[m - 1].key == a[i].key) {
            for (int j = 0; j < 3; j++)
                if (pj_amount_add(&a[m - 1].v[j], a[i].v[j]) != 0) {
                    free(a);
                    return tl_fail(err, TL_ETOOBIG, "view.overflow", "", "a turnover total would overflow");
                }
        } else {
            a[m++] = a[i];
        }
    }
    *out = a;
    *nout = m;
    return 0;
}

int pj_turnover_years(pj_read *rd, uint32_t as_of_day, pj_year_total *out, size_t cap, size_t *n, uint64_t *pos,
                      tl_error *err)
{
    uint8_t prefix[PJ_PREFIX_BYTES];
    int rc = pj_read_proj(rd, &pj_def_turnover, prefix, pos, err);
    if (rc != 0)
        return rc;
    agg *a;
    size_t na;
    if ((rc = scan_cells(rd, prefix, 0, 0, as_of_day, TL_DIM_YEAR, &a, &na, err)) != 0)
        return rc;
    *n = 0;
    for (size_t i = 0; i < na && *n < cap; i++) {
        if (a[i].v[0] == 0 && a[i].v[1] == 0)
            continue;
        dims d;
        unpack(a[i].key, &d);
        out[*n] = (pj_year_total){.year = (int)d.year_off + TL_DATE_YEAR_MIN,
                                  .contracts = a[i].v[0], .total_fen = a[i].v[1], .tech_fen = a[i].v[2]};
        (*n)++;
    }
    free(a);
    return 0;
}

#define YEARS_MAX (TL_DATE_YEAR_MAX - TL_DATE_YEAR_MIN + 1)

static json_t *target_block(tl_views *v, const pj_year_total *years, size_t n)
{
    uint64_t target = pj_views_target_fen(v);
    json_t *t = json_object();
    json_t *arr = json_array();
    json_t *reached = json_null();
    for (size_t i = 0; i < n; i++) {
        char y[8];
        snprintf(y, sizeof y, "%d", years[i].year);
        uint64_t total = years[i].total_fen > 0 ? (uint64_t)years[i].total_fen : 0;
        json_array_append_new(arr, json_pack("{s:s,s:I,s:I}", "year", y, "total_fen", (json_int_t)total,
                                             "progress_ppm", (json_int_t)pj_ppm(total, target)));
        if (json_is_null(reached) && total >= target) {
            json_decref(reached);
            reached = json_string(y);
        }
    }
    json_object_set_new(t, "target_fen", json_integer((json_int_t)target));
    json_object_set_new(t, "target_year", json_integer(pj_views_target_year(v)));
    json_object_set_new(t, "reached_year", reached);
    json_object_set_new(t, "years", arr);
    return t;
}

static const char *kind_name(unsigned k)
{
    const char *s = tl_code_name(&tl_codes_participant_kind, (int)k);
    return s ? s : "unknown";
}

int tl_view_turnover(json_t **out, tl_views *v, tl_access access, const tl_turnover_query *q, tl_error *err)
{
    (void)access; /* aggregates only: confidential contracts count here for every reader */
    *out = NULL;
    if (q->by & ~(unsigned)TL_DIM_ALL)
        return tl_fail(err, TL_EINVAL, "view.param", "by", "unknown dimension bits");
    if (q->year != 0 && (q->year < TL_DATE_YEAR_MIN || q->year > TL_DATE_YEAR_MAX))
        return tl_fail(err, TL_EINVAL, "view.param", "year", "year must be %d..%d", TL_DATE_YEAR_MIN,
                       TL_DATE_YEAR_MAX);
    uint32_t day = UINT32_MAX;
    if (q->has_as_of)
        day = q->as_of_day < 0 ? 0 : (uint32_t)q->as_of_day;
    bool nothing = q->has_as_of && q->as_of_day < 0;
    unsigned others = q->by & ~(unsigned)TL_DIM_YEAR;
    unsigned g = 6;
    if (others == 0)
        g = 0;
    else if (others == TL_DIM_SELLER_PROVINCE)
        g = 1;
    else if (others == TL_DIM_BUYER_PROVINCE)
        g = 2;
    else if (others == TL_DIM_CLASS)
        g = 3;
    else if (others == TL_DIM_FIELD)
        g = 4;
    else if (others == TL_DIM_SELLER_KIND)
        g = 5;

    pj_read rd;
    int rc = pj_read_begin(&rd, v, err);
    if (rc != 0)
        return rc;
    uint8_t prefix[PJ_PREFIX_BYTES];
    uint64_t pos = 0;
    agg *a = NULL;
    size_t na = 0;
    pj_year_total years[YEARS_MAX];
    size_t ny = 0;
    rc = pj_read_proj(&rd, &pj_def_turnover, prefix, &pos, err);
    if (rc == 0)
        rc = scan_cells(&rd, prefix, g, q->year, day, q->by, &a, &na, err);
    if (rc == 0)
        rc = pj_turnover_years(&rd, day, years, YEARS_MAX, &ny, &pos, err);
    pj_read_end(&rd);
    if (rc != 0) {
        free(a);
        return rc;
    }
    if (nothing) {
        na = 0;
        ny = 0;
    }
    json_t *res = json_object();
    json_t *rows = json_array();
    for (size_t i = 0; i < na; i++) {
        if (a[i].v[0] == 0 && a[i].v[1] == 0 && a[i].v[2] == 0)
            continue; /* every contract of the group was cancelled */
        if (json_array_size(rows) >= TL_VIEWS_ROWS_MAX)
            break;
        dims d;
        unpack(a[i].key, &d);
        json_t *r = json_object();
        char buf[8];
        if (q->by & TL_DIM_YEAR) {
            snprintf(buf, sizeof buf, "%u", d.year_off + TL_DATE_YEAR_MIN);
            json_object_set_new(r, "year", json_string(buf));
        }
        if (q->by & TL_DIM_SELLER_PROVINCE) {
            snprintf(buf, sizeof buf, "%02u", d.sprov);
            json_object_set_new(r, "seller_province", json_string(buf));
        }
        if (q->by & TL_DIM_BUYER_PROVINCE) {
            snprintf(buf, sizeof buf, "%02u", d.bprov);
            json_object_set_new(r, "buyer_province", json_string(buf));
        }
        if (q->by & TL_DIM_CLASS)
            json_object_set_new(r, "class", json_string(tl_code_name(&tl_codes_class, (int)d.cls)));
        if (q->by & TL_DIM_FIELD)
            json_object_set_new(r, "field", json_string(tl_code_name(&tl_codes_field, (int)d.field)));
        if (q->by & TL_DIM_SELLER_KIND)
            json_object_set_new(r, "seller_kind", json_string(kind_name(d.kind)));
        json_object_set_new(r, "contracts", json_integer(a[i].v[0]));
        json_object_set_new(r, "total_fen", json_integer(a[i].v[1]));
        json_object_set_new(r, "tech_fen", json_integer(a[i].v[2]));
        json_array_append_new(rows, r);
    }
    free(a);
    json_object_set_new(res, "rows", rows);
    json_object_set_new(res, "target", target_block(v, years, ny));
    if (q->has_as_of) {
        char date[TL_DATE_LEN + 1];
        tl_date_format(date, q->as_of_day);
        json_object_set_new(res, "as_of", json_string(date));
    } else {
        json_object_set_new(res, "as_of", json_null());
    }
    json_object_set_new(res, "position", json_integer((json_int_t)pos));
    *out = res;
    return 0;
}
