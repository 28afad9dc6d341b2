/*
 * The institutions projection: per participant, the contracts it sold and bought, its
 * licences, equity deals and payments received.
 *
 * STORED (sub-keys after the generation prefix, store.c):
 *   'P' || participant id -> kind (1) || region (8) || name (text)
 *   'A' || achievement id -> owner (str)
 *   'I' || participant id -> COUNTERS x 8 bytes (see enum below)
 *
 * Each contract's own state (class, confidentiality, cancelled, latest amounts, seller and buyer)
 * is a pj_ctable: in memory, and on a miss folded again from the contract's stream in the log.
 *
 * Counters come in two halves: contracts whose confidentiality is public, and the others, so a
 * public reader's figures can leave the confidential ones out while other readers see the sum.
 * Sold/bought figures cover contracts not cancelled, at their latest amounts; a licence is a
 * contract of class `license`. Payments count for the contract's seller (cancelled or not:
 * money received is money received). An equity deal counts for the achievement's owner and, when
 * it is another participant, for the company whose shares were issued.
 */
#include <stdlib.h>
#include <string.h>

#include "pj_internal.h"

#define INSTITUTIONS_VERSION 2u /* 2: contracts no longer stored ('C') */
#define CONTRACTS_CACHE_MAX 100000u
#define SMALL_CACHE_MAX 200000u

enum {
    K_SOLD_N,
    K_SOLD_TOTAL,
    K_SOLD_TECH,
    K_SOLD_LIC,
    K_BOUGHT_N,
    K_BOUGHT_TOTAL,
    K_BOUGHT_TECH,
    K_BOUGHT_LIC,
    K_CANCELLED,
    K_PAYMENTS,
    K_PAYMENTS_FEN,
    K_PER_VIS
};
#define K_EQUITY_N (2 * K_PER_VIS)
#define K_EQUITY_VAL (2 * K_PER_VIS + 1)
#define COUNTERS (2 * K_PER_VIS + 2)

typedef struct part_rec {
    uint8_t kind;
    uint64_t region;
    char name[TL_SCHEMA_TEXT_BYTES_MAX + 1];
} part_rec;

/*
 * A contract, in 24 bytes: with its key a table slot is 32, which a cache line holds whole
 * (a rebuild holds every contract, and touches each at a random place). tech shares its word
 * with the three facts the counters need of class and confidentiality and whether it is
 * cancelled: an amount is at most TL_AMOUNT_FEN_MAX < 2^50 (the schema, checked at append).
 */
typedef struct contract_rec {
    int64_t total;
    uint64_t tech_flags;    /* tech | C_LICENSE | C_PUBLIC | C_CANCELLED */
    uint32_t seller, buyer; /* interned ids (inst_state.ids) */
} contract_rec;

#define C_TECH_MASK ((1ull << 56) - 1)
#define C_LICENSE (1ull << 56)   /* of class license: counted as a licence */
#define C_PUBLIC (1ull << 57)    /* confidentiality public (or not given) */
#define C_CANCELLED (1ull << 58)

_Static_assert(sizeof(contract_rec) == 24 && TL_AMOUNT_FEN_MAX <= C_TECH_MASK, "a contract's slot is 32 bytes");

static int64_t tech_of(const contract_rec *c) { return (int64_t)(c->tech_flags & C_TECH_MASK); }

typedef struct owner_rec {
    char owner[TL_ID_BYTES_MAX + 1];
} owner_rec;

typedef struct inst_rec {
    int64_t c[COUNTERS];
} inst_rec;

typedef struct inst_state {
    pj_table parts, owners, insts;
    pj_ctable contracts;
    /* Participant ids named by contracts, interned: id -> index (4 bytes) and back. Ids never
     * change meaning, so this outlives resets; index 0 is "" (no participant). */
    pj_map ids;
    const char **names;
    uint32_t nnames, names_cap;
    /* The 'I' entry of each interned id, by index; NULL: not looked up since the table was
     * last cleared (counters_clears is insts.map.clears then). A contract event bumps its
     * seller's and buyer's counters, and finding them by id each time (hash, compare) was
     * some 5% of a rebuild's instructions. */
    pj_entry **counters;
    uint64_t counters_clears;
} inst_state;

static int intern(inst_state *s, const uint8_t *p, size_t n, uint32_t *out)
{
    if (n > TL_ID_BYTES_MAX)
        n = TL_ID_BYTES_MAX;
    if (n == 0) {
        *out = 0;
        return 0;
    }
    pj_entry *e = pj_map_upsert(&s->ids, p, n, sizeof(uint32_t));
    if (e == NULL)
        return TL_ENOMEM;
    if (!e->present) {
        if (s->nnames == s->names_cap) {
            uint32_t ncap = s->names_cap * 2;
            const char **nn = realloc(s->names, ncap * sizeof *nn);
            if (nn == NULL)
                return TL_ENOMEM;
            s->names = nn;
            pj_entry **nc = realloc(s->counters, ncap * sizeof *nc);
            if (nc == NULL)
                return TL_ENOMEM;
            s->counters = nc;
            s->names_cap = ncap;
        }
        e->present = true;
        memcpy(e->val, &s->nnames, sizeof s->nnames);
        s->counters[s->nnames] = NULL;
        s->names[s->nnames++] = (const char *)e->key; /* NUL-terminated by pj_map */
    }
    memcpy(out, e->val, sizeof *out);
    return 0;
}

static int enc_part(tl_buf *o, const void *p)
{
    const part_rec *r = p;
    int rc = pj_w_u8(o, r->kind);
    rc = rc ? rc : pj_w_u64(o, r->region);
    return rc ? rc : pj_w_text(o, r->name, strlen(r->name));
}

static int dec_part(void *p, const uint8_t *b, size_t n)
{
    part_rec *r = p;
    pj_rd rd = {b, b + n, false};
    r->kind = pj_r_u8(&rd);
    r->region = pj_r_u64(&rd);
    pj_r_text(&rd, r->name, sizeof r->name);
    return rd.bad ? TL_ECORRUPT : 0;
}

static int enc_owner(tl_buf *o, const void *p)
{
    const owner_rec *r = p;
    return pj_w_str(o, r->owner, strlen(r->owner));
}

static int dec_owner(void *p, const uint8_t *b, size_t n)
{
    owner_rec *r = p;
    pj_rd rd = {b, b + n, false};
    pj_r_str(&rd, r->owner, sizeof r->owner);
    return rd.bad ? TL_ECORRUPT : 0;
}

static int enc_inst(tl_buf *o, const void *p)
{
    const inst_rec *r = p;
    return pj_w_counters(o, r->c, COUNTERS);
}

static int dec_inst(void *p, const uint8_t *b, size_t n)
{
    inst_rec *r = p;
    pj_rd rd = {b, b + n, false};
    pj_r_counters(&rd, r->c, COUNTERS);
    return rd.bad ? TL_ECORRUPT : 0;
}

static int refold_step(pj_inst *in, void *ctx, void *val, bool *found, const pj_event *ev, tl_error *err);

static int i_init(pj_inst *in)
{
    inst_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TL_ENOMEM;
    in->state = s;
    int rc = pj_map_init(&s->ids);
    if (rc == 0) { /* index 0: no participant */
        s->names = malloc(256 * sizeof *s->names);
        s->counters = calloc(256, sizeof *s->counters);
        rc = s->names != NULL && s->counters != NULL ? 0 : TL_ENOMEM;
        if (rc == 0) {
            s->names[0] = "";
            s->nnames = 1;
            s->names_cap = 256;
        }
    }
    rc = rc ? rc : pj_inst_table(in, &s->parts, 'P', sizeof(part_rec), SMALL_CACHE_MAX, enc_part, dec_part);
    rc = rc ? rc : pj_inst_ctable(in, &s->contracts, sizeof(contract_rec), CONTRACTS_CACHE_MAX, s, refold_step);
    rc = rc ? rc : pj_inst_table(in, &s->owners, 'A', sizeof(owner_rec), SMALL_CACHE_MAX, enc_owner, dec_owner);
    return rc ? rc : pj_inst_table(in, &s->insts, 'I', sizeof(inst_rec), SMALL_CACHE_MAX, enc_inst, dec_inst);
}

static void i_destroy(pj_inst *in)
{
    inst_state *s = in->state;
    pj_map_free(&s->ids);
    free(s->names);
    free(s->counters);
    free(s);
    in->state = NULL;
}

static void copy_id(char *out, const uint8_t *p, size_t n)
{
    if (n > TL_ID_BYTES_MAX)
        n = TL_ID_BYTES_MAX;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Adds deltas to counters base+idx[k] of e, a participant's 'I' entry. */
static int add_counters(inst_state *s, pj_entry *e, unsigned base, const unsigned *idx, const int64_t *delta,
                        size_t n, tl_error *err)
{
    inst_rec *r = (inst_rec *)e->val;
    for (size_t k = 0; k < n; k++)
        if (pj_amount_add(&r->c[base + idx[k]], delta[k]) != 0)
            return tl_fail(err, TL_ETOOBIG, "view.overflow", "", "an institution total would overflow");
    pj_table_touch(&s->insts, e);
    return 0;
}

/* Adds deltas to counters base+idx[k] of participant id. */
static int bump(pj_inst *in, inst_state *s, const char *id, unsigned base, const unsigned *idx,
                const int64_t *delta, size_t n, tl_error *err)
{
    if (id[0] == '\0')
        return 0;
    pj_entry *e;
    bool created;
    int rc = pj_table_upsert(in, &s->insts, id, strlen(id), &e, &created, err);
    return rc ? rc : add_counters(s, e, base, idx, delta, n, err);
}

/* bump for the participant interned as who (0: none), through s->counters. */
static int bump_interned(pj_inst *in, inst_state *s, uint32_t who, unsigned base, const unsigned *idx,
                         const int64_t *delta, size_t n, tl_error *err)
{
    if (who == 0 || who >= s->nnames)
        return 0;
    if (s->counters_clears != s->insts.map.clears) {
        memset(s->counters, 0, s->nnames * sizeof *s->counters);
        s->counters_clears = s->insts.map.clears;
    }
    pj_entry *e = s->counters[who];
    if (e == NULL) {
        bool created;
        int rc = pj_table_upsert(in, &s->insts, s->names[who], strlen(s->names[who]), &e, &created, err);
        if (rc != 0)
            return rc;
        s->counters[who] = e;
    }
    return add_counters(s, e, base, idx, delta, n, err);
}

/* Counts a contract in (sign = 1) or out (sign = -1) of its seller's and buyer's figures. */
static int count_contract(pj_inst *in, inst_state *s, const contract_rec *c, int64_t sign, tl_error *err)
{
    unsigned base = (c->tech_flags & C_PUBLIC) ? 0 : K_PER_VIS;
    int64_t lic = (c->tech_flags & C_LICENSE) ? 1 : 0;
    static const unsigned sold[] = {K_SOLD_N, K_SOLD_TOTAL, K_SOLD_TECH, K_SOLD_LIC};
    static const unsigned bought[] = {K_BOUGHT_N, K_BOUGHT_TOTAL, K_BOUGHT_TECH, K_BOUGHT_LIC};
    int64_t d[4] = {sign, sign * c->total, sign * tech_of(c), sign * lic};
    int rc = bump_interned(in, s, c->seller, base, sold, d, 4, err);
    return rc ? rc : bump_interned(in, s, c->buyer, base, bought, d, 4, err);
}

/* The contract a registration makes. */
static int contract_of(inst_state *s, const pj_event *ev, contract_rec *c, tl_error *err)
{
    const pj_contract_ev *ce = &ev->con;
    memset(c, 0, sizeof *c);
    c->total = (int64_t)ce->total; /* 0 when absent */
    c->tech_flags = (ce->tech & C_TECH_MASK) | (ce->cls == TL_CLASS_LICENSE ? C_LICENSE : 0) |
                    (ce->conf < 0 || ce->conf == TL_CONF_PUBLIC ? C_PUBLIC : 0);
    if ((ce->seller.p != NULL && intern(s, ce->seller.p, ce->seller.len, &c->seller) != 0) ||
        (ce->buyer.p != NULL && intern(s, ce->buyer.p, ce->buyer.len, &c->buyer) != 0))
        return pj_nomem(err);
    return 0;
}

/* An amendment of contract c, not cancelled: its new amounts. */
static void contract_amend(contract_rec *c, const pj_event *ev)
{
    if (ev->con.has_total)
        c->total = (int64_t)ev->con.total;
    if (ev->con.has_tech)
        c->tech_flags = (c->tech_flags & ~C_TECH_MASK) | (ev->con.tech & C_TECH_MASK);
}

/* One event of a contract's stream, folded into the contract as i_apply folds it (the counters
 * aside): how a contract that is not in memory is made again. */
static int refold_step(pj_inst *in, void *ctx, void *val, bool *found, const pj_event *ev, tl_error *err)
{
    (void)in;
    contract_rec *c = val;
    switch (ev->type) {
    case TL_EV_CONTRACT_REGISTERED:
        *found = true;
        return contract_of(ctx, ev, c, err);
    case TL_EV_CONTRACT_AMENDED:
        if (*found && !(c->tech_flags & C_CANCELLED))
            contract_amend(c, ev);
        return 0;
    case TL_EV_CONTRACT_CANCELLED:
        if (*found)
            c->tech_flags |= C_CANCELLED;
        return 0;
    default:
        return 0;
    }
}

static int i_apply(pj_inst *in, const pj_event *ev, tl_error *err)
{
    inst_state *s = in->state;
    const uint8_t *id;
    size_t idn;
    pj_entry *e;
    uint64_t key;
    void *cv;
    int rc;
    switch (ev->type) {
    case TL_EV_PARTICIPANT_REGISTERED: {
        if (!pj_str(ev, "id", &id, &idn))
            return 0;
        if ((rc = pj_table_create(in, &s->parts, id, idn, &e, err)) != 0)
            return rc;
        part_rec *p = (part_rec *)e->val;
        p->kind = (uint8_t)pj_code(ev, "kind", &tl_codes_participant_kind, TL_KIND_OTHER);
        const uint8_t *r, *nm;
        size_t rn, nn;
        uint32_t code = 0;
        if (pj_str(ev, "region", &r, &rn) && tl_region_parse(&code, (const char *)r, rn) == 0)
            p->region = code;
        if (pj_str(ev, "name", &nm, &nn)) {
            if (nn >= sizeof p->name)
                nn = sizeof p->name - 1;
            memcpy(p->name, nm, nn);
            p->name[nn] = '\0';
        }
        pj_table_touch(&s->parts, e);
        return 0;
    }
    case TL_EV_ACHIEVEMENT_REGISTERED: {
        const uint8_t *owner;
        size_t on;
        if (!pj_str(ev, "id", &id, &idn) || !pj_str(ev, "owner", &owner, &on))
            return 0;
        if ((rc = pj_table_create(in, &s->owners, id, idn, &e, err)) != 0)
            return rc;
        copy_id(((owner_rec *)e->val)->owner, owner, on);
        pj_table_touch(&s->owners, e);
        return 0;
    }
    case TL_EV_CONTRACT_REGISTERED: {
        if (!ev->con.keyed)
            return 0;
        key = ev->con.key;
        contract_rec c;
        if ((rc = contract_of(s, ev, &c, err)) != 0)
            return rc;
        /* A registration creates the contract: the sequencer refuses a second one. */
        if ((rc = pj_ctable_create(&s->contracts, key, &cv, err)) != 0)
            return rc;
        memcpy(cv, &c, sizeof c);
        return count_contract(in, s, &c, 1, err);
    }
    case TL_EV_CONTRACT_AMENDED:
    case TL_EV_CONTRACT_CANCELLED:
    case TL_EV_PAYMENT_RECEIVED: {
        if (!ev->con.keyed)
            return 0;
        key = ev->con.key;
        if ((rc = pj_ctable_get(in, &s->contracts, key, &cv, err)) != 0)
            return rc;
        if (cv == NULL)
            return 0;
        contract_rec *c = cv;
        unsigned base = (c->tech_flags & C_PUBLIC) ? 0 : K_PER_VIS;
        if (ev->type == TL_EV_PAYMENT_RECEIVED) {
            static const unsigned pay[] = {K_PAYMENTS, K_PAYMENTS_FEN};
            int64_t d[2] = {1, (int64_t)pj_uint(ev, "amount_fen", 0)};
            return bump_interned(in, s, c->seller, base, pay, d, 2, err);
        }
        if (c->tech_flags & C_CANCELLED)
            return 0;
        if ((rc = count_contract(in, s, c, -1, err)) != 0)
            return rc;
        if (ev->type == TL_EV_CONTRACT_CANCELLED) {
            c->tech_flags |= C_CANCELLED;
            static const unsigned can[] = {K_CANCELLED};
            int64_t one = 1;
            rc = bump_interned(in, s, c->seller, base, can, &one, 1, err);
            if (rc == 0 && c->seller != c->buyer)
                rc = bump_interned(in, s, c->buyer, base, can, &one, 1, err);
        } else {
            contract_amend(c, ev);
            rc = count_contract(in, s, c, 1, err);
        }
        return rc;
    }
    case TL_EV_EQUITY_RECORDED: {
        const uint8_t *ach, *co;
        size_t an, cn;
        if (!pj_str(ev, "achievement", &ach, &an) || !pj_str(ev, "company", &co, &cn))
            return 0;
        char company[TL_ID_BYTES_MAX + 1], owner[TL_ID_BYTES_MAX + 1] = "";
        copy_id(company, co, cn);
        if ((rc = pj_table_get(in, &s->owners, ach, an, &e, err)) != 0)
            return rc;
        if (e != NULL)
            memcpy(owner, ((owner_rec *)e->val)->owner, sizeof owner);
        static const unsigned eq[] = {0, 1};
        int64_t d[2] = {1, (int64_t)pj_uint(ev, "valuation_fen", 0)};
        rc = bump(in, s, owner, K_EQUITY_N, eq, d, 2, err);
        if (rc == 0 && strcmp(owner, company) != 0)
            rc = bump(in, s, company, K_EQUITY_N, eq, d, 2, err);
        return rc;
    }
    default:
        return 0;
    }
}

/* The contract's slot, for fold_record to load ahead of apply (pj_def.prefetch). */
static void i_prefetch(pj_inst *in, const pj_event *ev)
{
    const inst_state *s = in->state;
    if (ev->con.keyed) /* false for any event not on a contract's stream */
        pj_ctable_prefetch(&s->contracts, ev->con.key);
}

const pj_def pj_def_institutions = {.name = "institutions",
                                    .id = 2,
                                    .version = INSTITUTIONS_VERSION,
                                    .init = i_init,
                                    .destroy = i_destroy,
                                    .apply = i_apply,
                                    .prefetch = i_prefetch};

/* ---------- reading ---------- */

static json_t *side(const inst_rec *r, bool all, unsigned n, unsigned total, unsigned tech, unsigned lic)
{
    int64_t v[4] = {r->c[n], r->c[total], r->c[tech], r->c[lic]};
    if (all)
        for (int i = 0; i < 4; i++)
            v[i] += r->c[(unsigned[]){n, total, tech, lic}[i] + K_PER_VIS];
    return json_pack("{s:I,s:I,s:I,s:I}", "contracts", (json_int_t)v[0], "total_fen", (json_int_t)v[1], "tech_fen",
                     (json_int_t)v[2], "licences", (json_int_t)v[3]);
}

int tl_view_institution(json_t **out, tl_views *v, tl_access access, const char *id, tl_error *err)
{
    *out = NULL;
    if (id == NULL || !tl_id_valid(id, strlen(id)))
        return tl_fail(err, TL_EINVAL, "view.param", "id", "not a participant id");
    pj_read rd;
    int rc = pj_read_begin(&rd, v, err);
    if (rc != 0)
        return rc;
    uint8_t prefix[PJ_PREFIX_BYTES];
    uint64_t pos = 0;
    tl_buf pb, ib;
    tl_buf_init(&pb);
    tl_buf_init(&ib);
    part_rec p;
    inst_rec r;
    memset(&p, 0, sizeof p);
    memset(&r, 0, sizeof r);
    bool have_p = false, have_i = false;
    uint8_t sub[1 + TL_ID_BYTES_MAX];
    size_t n = strlen(id);
    memcpy(sub + 1, id, n);
    rc = pj_read_proj(&rd, &pj_def_institutions, prefix, &pos, err);
    if (rc == 0) {
        sub[0] = 'P';
        rc = pj_read_get(&rd, prefix, sub, n + 1, &pb, err);
        if (rc == 0) {
            have_p = true;
            if (dec_part(&p, pb.data, pb.len) != 0)
                rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged participant record");
        } else if (rc == TL_ENOTFOUND) {
            rc = 0;
        }
    }
    if (rc == 0) {
        sub[0] = 'I';
        rc = pj_read_get(&rd, prefix, sub, n + 1, &ib, err);
        if (rc == 0) {
            have_i = true;
            if (dec_inst(&r, ib.data, ib.len) != 0)
                rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged institution record");
        } else if (rc == TL_ENOTFOUND) {
            rc = 0;
        }
    }
    pj_read_end(&rd);
    tl_buf_free(&pb);
    tl_buf_free(&ib);
    if (rc != 0)
        return rc;
    if (!have_p && !have_i)
        return tl_fail(err, TL_ENOTFOUND, "view.not_found", "id", "no participant '%s'", id);
    bool all = access == TL_ACCESS_AUDITOR || access == TL_ACCESS_STATISTICS;
    int64_t x[4] = {r.c[K_CANCELLED], r.c[K_PAYMENTS], r.c[K_PAYMENTS_FEN], 0};
    if (all) {
        x[0] += r.c[K_PER_VIS + K_CANCELLED];
        x[1] += r.c[K_PER_VIS + K_PAYMENTS];
        x[2] += r.c[K_PER_VIS + K_PAYMENTS_FEN];
    }
    json_t *res = json_object();
    json_object_set_new(res, "id", json_string(id));
    json_object_set_new(res, "name", have_p ? json_string(p.name) : json_null());
    const char *kind = have_p ? tl_code_name(&tl_codes_participant_kind, p.kind) : NULL;
    json_object_set_new(res, "kind", kind ? json_string(kind) : json_null());
    char region[16];
    snprintf(region, sizeof region, "%06u", (unsigned)p.region);
    json_object_set_new(res, "region", have_p && p.region ? json_string(region) : json_null());
    json_object_set_new(res, "sold", side(&r, all, K_SOLD_N, K_SOLD_TOTAL, K_SOLD_TECH, K_SOLD_LIC));
    json_object_set_new(res, "bought", side(&r, all, K_BOUGHT_N, K_BOUGHT_TOTAL, K_BOUGHT_TECH, K_BOUGHT_LIC));
    json_object_set_new(res, "cancelled", json_integer(x[0]));
    json_object_set_new(res, "equity_deals", json_integer(r.c[K_EQUITY_N]));
    json_object_set_new(res, "equity_valuation_fen", json_integer(r.c[K_EQUITY_VAL]));
    json_object_set_new(res, "payments", json_integer(x[1]));
    json_object_set_new(res, "payments_received_fen", json_integer(x[2]));
    json_object_set_new(res, "position", json_integer((json_int_t)pos));
    *out = res;
    return 0;
}
