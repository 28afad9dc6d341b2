/*
 * One planned demo event as the stream, canonical `data` map and signing key of a real event
 * (BRIEF.md, event catalogue). Map keys are written in bytewise order as canonical MessagePack
 * requires; `key()` checks the order as it goes, so a slip here fails loudly in the demo
 * instead of being rejected one event at a time by the ledger.
 *
 * Signers are the ones the rules name: the admin for parties, guidance funds and programmes;
 * the seller's registry office for registrations, amendments, cancellations and equity; the
 * owner for achievements; the registry or the seller for payments; the parent fund's manager
 * for a sub-fund; a fund's manager for its flows; the lending bank for loans; the pool fund's
 * manager for compensation.
 */
#include "demo.h"

#include <stdio.h>
#include <string.h>

#include "tl_schema.h"

typedef struct map_writer {
    tl_mp_writer w;
    const char *prev;
    int out_of_order;
} map_writer;

static void map_begin(map_writer *m, tl_buf *buf, uint32_t n)
{
    tl_buf_reset(buf);
    tl_mp_writer_init(&m->w, buf);
    m->prev = NULL;
    m->out_of_order = 0;
    tl_mp_map(&m->w, n);
}

static void key(map_writer *m, const char *k)
{
    if (m->prev != NULL && strcmp(m->prev, k) >= 0)
        m->out_of_order = 1;
    m->prev = k;
    tl_mp_key(&m->w, k);
}

static void kstr(map_writer *m, const char *k, const char *v)
{
    key(m, k);
    tl_mp_str(&m->w, v);
}

static void kuint(map_writer *m, const char *k, uint64_t v)
{
    key(m, k);
    tl_mp_uint(&m->w, v);
}

static void kdate(map_writer *m, const char *k, int32_t day)
{
    char d[TL_DATE_LEN + 1];
    tl_date_format(d, day);
    kstr(m, k, d);
}

static void kregion(map_writer *m, const char *k, uint32_t region)
{
    char r[16];
    snprintf(r, sizeof r, "%06u", (unsigned)region % 1000000u);
    kstr(m, k, r);
}

static int map_end(map_writer *m)
{
    if (m->w.failed)
        return TL_ENOMEM;
    return m->out_of_order ? TL_EINVAL : 0;
}

static const char *const amend_reasons[3] = {"签订补充协议，合同金额变更", "技术交易额核定调整",
                                             "合同标的范围调整"};
static const char *const cancel_reasons[3] = {"合同解除", "重复登记", "经复核不符合技术合同认定条件"};
static const char *const class_words[TL_CLASS_COUNT] = {"技术开发", "技术转让", "技术许可", "技术咨询", "技术服务"};

static void reg_no(char out[TL_REG_NO_LEN + 1], unsigned year, uint32_t region, uint32_t serial)
{
    snprintf(out, TL_REG_NO_LEN + 1, "%04u%06u%06u", year % 10000u, (unsigned)region % 1000000u,
             (unsigned)serial % 1000000u);
}

static const tl_keypair *registry_of(const demo_economy *e, uint32_t region, uint64_t t_ms)
{
    int p = demo_province_index(region / 10000);
    return demo_party_key(&e->parties[e->registry[p < 0 ? 0 : p]], t_ms);
}

static int encode_party(const demo_economy *e, const demo_party *p, map_writer *m, tl_buf *data)
{
    bool cc = p->credit_code[0] != '\0';
    map_begin(m, data, 6 + (cc ? 1 : 0));
    if (cc)
        kstr(m, "credit_code", p->credit_code);
    kstr(m, "id", p->id);
    key(m, "keys");
    tl_mp_array(&m->w, 1);
    tl_mp_bin(&m->w, demo_party_key(p, 0)->pk, TL_PUBKEY_BYTES); /* the key it starts with */
    kstr(m, "kind", tl_code_name(&tl_codes_participant_kind, p->kind));
    kstr(m, "name", p->name);
    kregion(m, "region", p->region);
    key(m, "roles");
    uint32_t n = 0;
    for (int r = 0; r < TL_ROLE_COUNT; r++)
        n += (p->roles >> r) & 1u;
    tl_mp_array(&m->w, n);
    for (int r = 0; r < TL_ROLE_COUNT; r++)
        if ((p->roles >> r) & 1u)
            tl_mp_str(&m->w, tl_code_name(&tl_codes_role, r));
    (void)e;
    return map_end(m);
}

static void achievement_id(char out[DEMO_ID_BYTES], uint32_t number)
{
    snprintf(out, DEMO_ID_BYTES, "ach-%07u", (unsigned)number);
}

static int encode_achievement(const demo_economy *e, const demo_achievement *a, map_writer *m, tl_buf *data)
{
    char id[DEMO_ID_BYTES], title[DEMO_NAME_BYTES], ip[64];
    achievement_id(id, a->number);
    static const char *const kinds[4] = {"关键技术", "制备方法", "系统及装置", "集成应用"};
    snprintf(title, sizeof title, "%s%s", demo_topics[a->field][a->topic], kinds[a->number % 4]);
    bool has_ip = a->patent_year != 0;
    if (has_ip)
        snprintf(ip, sizeof ip, "发明专利 ZL%04u1%07u.%u", (unsigned)a->patent_year, (unsigned)a->patent_serial,
                 (unsigned)(a->patent_serial % 10));
    map_begin(m, data, 6 + (has_ip ? 1 : 0));
    kstr(m, "confidentiality", tl_code_name(&tl_codes_confidentiality, a->conf));
    kstr(m, "field", tl_code_name(&tl_codes_field, a->field));
    key(m, "fiscal_funded");
    tl_mp_bool(&m->w, a->fiscal);
    kstr(m, "id", id);
    if (has_ip)
        kstr(m, "ip", ip);
    kstr(m, "owner", e->parties[a->owner].id);
    kstr(m, "title", title);
    return map_end(m);
}

static int encode_contract(const demo_economy *e, const demo_contract *c, map_writer *m, tl_buf *data,
                           char *no)
{
    int y;
    unsigned mo, d;
    tl_date_ymd(c->reg_day, &y, &mo, &d);
    reg_no(no, (unsigned)y, c->seller_region, c->serial);
    char title[DEMO_NAME_BYTES];
    snprintf(title, sizeof title, "%s%s合同", demo_topics[c->field][c->topic], class_words[c->cls]);
    bool conf = c->conf != TL_CONF_PUBLIC;
    map_begin(m, data, 13 + (c->n_ach ? 1 : 0) + (conf ? 1 : 0));
    if (c->n_ach) {
        key(m, "achievements");
        tl_mp_array(&m->w, c->n_ach);
        for (uint8_t i = 0; i < c->n_ach; i++) {
            char id[DEMO_ID_BYTES];
            achievement_id(id, e->achs[c->ach[i]].number);
            tl_mp_str(&m->w, id);
        }
    }
    kstr(m, "buyer", e->parties[c->buyer].id);
    kregion(m, "buyer_region", c->buyer_region);
    kstr(m, "class", tl_code_name(&tl_codes_class, c->cls));
    if (conf)
        kstr(m, "confidentiality", tl_code_name(&tl_codes_confidentiality, c->conf));
    kstr(m, "field", tl_code_name(&tl_codes_field, c->field));
    kstr(m, "reg_no", no);
    kdate(m, "registered_on", c->reg_day);
    kstr(m, "seller", e->parties[c->seller].id);
    kregion(m, "seller_region", c->seller_region);
    kdate(m, "signed_on", c->signed_day);
    kstr(m, "subtype", tl_code_name(&tl_codes_subtype, c->sub));
    kuint(m, "tech_fen", c->tech_fen);
    kstr(m, "title", title);
    kuint(m, "total_fen", c->total_fen);
    return map_end(m);
}

static int encode_fund(const demo_economy *e, const demo_fund *f, map_writer *m, tl_buf *data)
{
    bool parent = f->parent >= 0, size = f->size_fen > 0;
    map_begin(m, data, 6 + (parent ? 1 : 0) + (size ? 1 : 0));
    kstr(m, "id", f->id);
    kstr(m, "kind", tl_code_name(&tl_codes_fund_kind, f->kind));
    kstr(m, "level", tl_code_name(&tl_codes_fund_level, f->level));
    kstr(m, "manager", e->parties[f->manager].id);
    kstr(m, "name", f->name);
    if (parent)
        kstr(m, "parent", e->funds[f->parent].id);
    kregion(m, "region", f->region);
    if (size)
        kuint(m, "size_fen", f->size_fen);
    return map_end(m);
}

static int encode_loan(const demo_economy *e, const demo_loan *ln, uint64_t amount, int32_t day, map_writer *m,
                       tl_buf *data)
{
    map_begin(m, data, 7);
    kuint(m, "amount_fen", amount);
    kstr(m, "bank", e->parties[ln->bank].id);
    kstr(m, "borrower", e->parties[ln->borrower].id);
    kdate(m, "dated", day);
    kstr(m, "id", ln->id);
    kstr(m, "pool", e->funds[ln->pool].id);
    kuint(m, "term_months", ln->term_months);
    return map_end(m);
}

static int encode_programme(const demo_programme *pg, int32_t day, map_writer *m, tl_buf *data)
{
    map_begin(m, data, 3 + (pg->count ? 1 : 0) + (pg->region ? 1 : 0));
    if (pg->count)
        kuint(m, "count", pg->count);
    kdate(m, "dated", day);
    kstr(m, "id", pg->id);
    kstr(m, "name", pg->name);
    if (pg->region)
        kregion(m, "region", pg->region);
    return map_end(m);
}

int demo_encode(const demo_economy *e, const demo_ev *ev, char stream[TL_STREAM_BYTES_MAX + 1], tl_buf *data,
                const tl_keypair **signer, const char **type)
{
    const tl_event_spec *spec = tl_schema_event((tl_event_type)ev->type);
    if (spec == NULL)
        return TL_EINVAL;
    *type = spec->type;
    map_writer m;
    char no[TL_REG_NO_LEN + 1];
    switch ((tl_event_type)ev->type) {
    case TL_EV_PARTICIPANT_REGISTERED: {
        const demo_party *p = &e->parties[ev->ref];
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "participant/%s", p->id);
        *signer = &e->admin;
        return encode_party(e, p, &m, data);
    }
    case TL_EV_PARTICIPANT_KEY_ADDED:
    case TL_EV_PARTICIPANT_KEY_REVOKED: {
        /* a key rotation: the new key is added, the one registered first is revoked a day later */
        const demo_party *p = &e->parties[ev->ref];
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "participant/%s", p->id);
        *signer = &e->admin;
        map_begin(&m, data, 1);
        key(&m, "key");
        tl_mp_bin(&m.w, ev->type == TL_EV_PARTICIPANT_KEY_ADDED ? p->kp.pk : p->kp_old.pk, TL_PUBKEY_BYTES);
        return map_end(&m);
    }
    case TL_EV_ACHIEVEMENT_REGISTERED: {
        const demo_achievement *a = &e->achs[ev->ref];
        char id[DEMO_ID_BYTES];
        achievement_id(id, a->number);
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "achievement/%s", id);
        *signer = demo_party_key(&e->parties[a->owner], ev->t_ms);
        return encode_achievement(e, a, &m, data);
    }
    case TL_EV_CONTRACT_REGISTERED: {
        const demo_contract *c = &e->contracts[ev->ref];
        int rc = encode_contract(e, c, &m, data, no);
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "contract/%s", no);
        *signer = registry_of(e, c->seller_region, ev->t_ms);
        return rc;
    }
    case TL_EV_CONTRACT_AMENDED:
    case TL_EV_CONTRACT_CANCELLED:
    case TL_EV_PAYMENT_RECEIVED: {
        reg_no(no, ev->year, ev->region, ev->serial);
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "contract/%s", no);
        *signer = (ev->flag & DEMO_F_SELLER_SIGNS) && ev->type == TL_EV_PAYMENT_RECEIVED
                      ? demo_party_key(&e->parties[ev->ref2], ev->t_ms)
                      : registry_of(e, ev->region, ev->t_ms);
        if (ev->type == TL_EV_CONTRACT_AMENDED) {
            map_begin(&m, data, 4);
            kdate(&m, "amended_on", ev->day);
            kstr(&m, "reason", amend_reasons[ev->flag % 3]);
            kuint(&m, "tech_fen", ev->b);
            kuint(&m, "total_fen", ev->a);
        } else if (ev->type == TL_EV_CONTRACT_CANCELLED) {
            map_begin(&m, data, 2);
            kdate(&m, "cancelled_on", ev->day);
            kstr(&m, "reason", cancel_reasons[ev->flag % 3]);
        } else {
            map_begin(&m, data, 2);
            kuint(&m, "amount_fen", ev->a);
            kdate(&m, "received_on", ev->day);
        }
        return map_end(&m);
    }
    case TL_EV_EQUITY_RECORDED: {
        const demo_equity *q = &e->equities[ev->ref];
        const demo_achievement *a = &e->achs[q->achievement];
        char id[DEMO_ID_BYTES], ach[DEMO_ID_BYTES];
        int y;
        unsigned mo, d;
        tl_date_ymd(q->day, &y, &mo, &d);
        snprintf(id, sizeof id, "eq-%d-%04u", y, (unsigned)q->number);
        achievement_id(ach, a->number);
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "equity/%s", id);
        *signer = registry_of(e, e->parties[a->owner].region, ev->t_ms);
        map_begin(&m, data, 7);
        kstr(&m, "achievement", ach);
        kstr(&m, "company", e->parties[q->company].id);
        kdate(&m, "dated", q->day);
        kstr(&m, "id", id);
        kuint(&m, "inventor_share_ppm", q->inventor_ppm);
        kuint(&m, "shares_ppm", q->shares_ppm);
        kuint(&m, "valuation_fen", q->valuation_fen);
        return map_end(&m);
    }
    case TL_EV_FUND_ESTABLISHED: {
        const demo_fund *f = &e->funds[ev->ref];
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "fund/%s", f->id);
        *signer = f->parent < 0 ? &e->admin : demo_party_key(&e->parties[e->funds[f->parent].manager], ev->t_ms);
        return encode_fund(e, f, &m, data);
    }
    case TL_EV_FUND_COMMITTED:
    case TL_EV_FUND_CALLED:
    case TL_EV_FUND_INVESTED: {
        const demo_fund *f = &e->funds[ev->ref];
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "fund/%s", f->id);
        *signer = demo_party_key(&e->parties[f->manager], ev->t_ms);
        if (ev->type == TL_EV_FUND_INVESTED) {
            map_begin(&m, data, 4 + (ev->b ? 1 : 0));
            kuint(&m, "amount_fen", ev->a);
            if (ev->b)
                kuint(&m, "co_investment_fen", ev->b);
            kdate(&m, "dated", ev->day);
            kstr(&m, "investee", e->parties[ev->ref2].id);
            key(&m, "qualifying");
            tl_mp_bool(&m.w, (ev->flag & DEMO_F_QUALIFYING) != 0);
        } else {
            map_begin(&m, data, 4);
            kuint(&m, "amount_fen", ev->a);
            kdate(&m, "dated", ev->day);
            kstr(&m, "investor", e->parties[ev->ref2].id);
            kstr(&m, "source", tl_code_name(&tl_codes_fund_source, ev->flag >> DEMO_F_SOURCE_SHIFT));
        }
        return map_end(&m);
    }
    case TL_EV_LOAN_ISSUED:
    case TL_EV_LOAN_DEFAULTED:
    case TL_EV_LOAN_COMPENSATED: {
        const demo_loan *ln = &e->loans[ev->ref];
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "loan/%s", ln->id);
        if (ev->type == TL_EV_LOAN_COMPENSATED) {
            *signer = demo_party_key(&e->parties[e->funds[ln->pool].manager], ev->t_ms);
            map_begin(&m, data, 2);
            kuint(&m, "amount_fen", ev->a);
            kdate(&m, "dated", ev->day);
            return map_end(&m);
        }
        *signer = demo_party_key(&e->parties[ln->bank], ev->t_ms);
        return encode_loan(e, ln, ev->type == TL_EV_LOAN_ISSUED ? ln->principal_fen : ev->a,
                           ev->type == TL_EV_LOAN_ISSUED ? ln->issued_day : ev->day, &m, data);
    }
    case TL_EV_PROGRAMME_INSTITUTION_DESIGNATED:
    case TL_EV_PROGRAMME_ZONE_DESIGNATED:
    case TL_EV_PROGRAMME_TRAINING_COMPLETED: {
        const demo_programme *pg = &e->progs[ev->ref];
        snprintf(stream, TL_STREAM_BYTES_MAX + 1, "programme/%s", pg->id);
        *signer = &e->admin;
        return encode_programme(pg, ev->day, &m, data);
    }
    default:
        return TL_EINVAL;
    }
}
