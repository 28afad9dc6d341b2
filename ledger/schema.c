/*
 * The event catalogue (BRIEF.md) as tables, and the stateless check of one event.
 *
 * Fields named in the catalogue keep their names and meaning; where the catalogue leaves a
 * type open we fix it here, and the few fields we add are marked "(added)" in their doc line
 * so generated documentation shows them. The catalogue is closed: a field not in the table is
 * refused, because a misspelt optional field (`confidentality`) silently ignored would publish
 * a secret contract.
 *
 * Order of checks, so that the first failure reported is stable: the type; `data` is a map;
 * each data field in key order (unknown, type, value); missing required fields in table
 * order; cross-field rules; the stream.
 */
#include "tl_schema.h"

#include <stdio.h>
#include <string.h>

/* Enough for "data." + the longest field name + "[65535]". */
#define PATH_BYTES TL_ERROR_PATH_BYTES
/* Offending values are echoed in messages up to this many bytes, non-ASCII masked. */
#define SHOW_BYTES 40

/* ---- Field tables ------------------------------------------------------------------------ */

/* Names are string literals, so their lengths are known when compiling (NAME). */
#define NAME(n) .name = (n), .name_len = sizeof(n) - 1
#define TEXT(n, fl, d) \
    {NAME(n), .type = TL_FT_TEXT, .flags = (fl), .min = 1, .max = TL_SCHEMA_TEXT_BYTES_MAX, .doc = (d)}
#define SIMPLE(n, t, fl, d) {NAME(n), .type = (t), .flags = (fl), .doc = (d)}
#define CODE(n, list, fl, d) {NAME(n), .type = TL_FT_CODE, .flags = (fl), .codes = &(list), .doc = (d)}
#define UINTR(n, lo, hi, fl, d) \
    {NAME(n), .type = TL_FT_UINT, .flags = (fl), .min = (lo), .max = (hi), .doc = (d)}
#define ARRAY(n, t, list, lo, hi, fl, d) \
    {NAME(n), .type = (t), .flags = TL_FIELD_ARRAY | (fl), .codes = (list), .min = (lo), .max = (hi), .doc = (d)}
#define OPT TL_FIELD_OPTIONAL
#define POS TL_FIELD_POSITIVE
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define TYPE_BIT(t) (1u << (t))

static const tl_field_spec f_genesis[] = {
    {NAME("origin"), .type = TL_FT_ORIGIN, .min = 1, .max = TL_SCHEMA_ORIGIN_BYTES_MAX,
     .doc = "the ledger's name, fixed at init; also the checkpoint key name"},
    SIMPLE("admin", TL_FT_KEY, 0, "the administrator's Ed25519 public key"),
};

static const tl_field_spec f_participant[] = {
    SIMPLE("id", TL_FT_ID, 0, "participant id; the stream is participant/<id>"),
    TEXT("name", 0, "registered name"),
    CODE("kind", tl_codes_participant_kind, 0, "kind of organisation or person"),
    SIMPLE("region", TL_FT_REGION, 0, "GB/T 2260 code of its seat"),
    ARRAY("roles", TL_FT_CODE, &tl_codes_role, 0, TL_ROLE_COUNT, 0,
          "roles held; empty for parties that are only referenced"),
    ARRAY("keys", TL_FT_KEY, NULL, 0, TL_SCHEMA_KEYS_MAX, 0,
          "Ed25519 public keys that may sign for it; may be empty"),
    SIMPLE("credit_code", TL_FT_CREDIT_CODE, OPT, "统一社会信用代码 (GB 32100-2015)"),
};

static const tl_field_spec f_participant_key[] = {
    SIMPLE("key", TL_FT_KEY, 0, "the Ed25519 public key added or revoked"),
};

static const tl_field_spec f_achievement[] = {
    SIMPLE("id", TL_FT_ID, 0, "achievement id; the stream is achievement/<id>"),
    TEXT("title", 0, "title of the achievement"),
    SIMPLE("owner", TL_FT_ID, 0, "participant that owns it"),
    CODE("field", tl_codes_field, 0, "technical field"),
    SIMPLE("fiscal_funded", TL_FT_BOOL, 0, "the result of fiscally funded research"),
    CODE("confidentiality", tl_codes_confidentiality, 0,
         "public, or shown to public readers only inside aggregates"),
    TEXT("ip", OPT, "intellectual property, e.g. patent numbers (free text)"),
};

/* The cross-field rules read fields by their place in the table (the FR_ names of each
 * table that has such rules), not by searching the data map again. */
enum { FR_REG_NO, FR_CLASS, FR_SUBTYPE, FR_SELLER, FR_BUYER, FR_SIGNED_ON = 8, FR_REGISTERED_ON, FR_TOTAL_FEN,
       FR_TECH_FEN };

static const tl_field_spec f_contract_registered[] = {
    [FR_REG_NO] = SIMPLE("reg_no", TL_FT_REG_NO, 0, "登记编号, 16 digits; the stream is contract/<reg_no>"),
    [FR_CLASS] = CODE("class", tl_codes_class, 0, "contract class"),
    [FR_SUBTYPE] = CODE("subtype", tl_codes_subtype, 0, "subtype, one of the class's own"),
    [FR_SELLER] = SIMPLE("seller", TL_FT_ID, 0, "participant selling the technology (输出方)"),
    [FR_BUYER] = SIMPLE("buyer", TL_FT_ID, 0, "participant buying it (吸纳方)"),
    SIMPLE("seller_region", TL_FT_REGION, 0, "GB/T 2260 code of the seller"),
    SIMPLE("buyer_region", TL_FT_REGION, 0, "GB/T 2260 code of the buyer"),
    CODE("field", tl_codes_field, 0, "technical field"),
    [FR_SIGNED_ON] = SIMPLE("signed_on", TL_FT_DATE, 0, "date the contract was signed"),
    [FR_REGISTERED_ON] = SIMPLE("registered_on", TL_FT_DATE, 0, "date of registration (认定登记); its year counts"),
    [FR_TOTAL_FEN] = SIMPLE("total_fen", TL_FT_FEN, 0, "成交额, the contract value"),
    [FR_TECH_FEN] = SIMPLE("tech_fen", TL_FT_FEN, 0, "技术交易额, the technical part, <= total_fen"),
    ARRAY("achievements", TL_FT_ID, NULL, 1, TL_SCHEMA_ACHIEVEMENTS_MAX, OPT,
          "achievements the contract transfers or licenses"),
    CODE("confidentiality", tl_codes_confidentiality, OPT, "absent means public"),
    TEXT("title", OPT, "(added) title of the contract; hidden from the public when not public"),
};

enum { FA_TOTAL_FEN, FA_TECH_FEN };

static const tl_field_spec f_contract_amended[] = {
    [FA_TOTAL_FEN] = SIMPLE("total_fen", TL_FT_FEN, 0, "new 成交额 (absolute, replaces the earlier one)"),
    [FA_TECH_FEN] = SIMPLE("tech_fen", TL_FT_FEN, 0, "new 技术交易额 (absolute), <= total_fen"),
    SIMPLE("amended_on", TL_FT_DATE, 0, "date of the amendment"),
    TEXT("reason", 0, "why the amounts changed"),
};

static const tl_field_spec f_contract_cancelled[] = {
    SIMPLE("cancelled_on", TL_FT_DATE, 0, "date of the cancellation"),
    TEXT("reason", 0, "why the registration was cancelled"),
};

static const tl_field_spec f_payment[] = {
    SIMPLE("amount_fen", TL_FT_FEN, POS, "amount received by the seller"),
    SIMPLE("received_on", TL_FT_DATE, 0, "date received"),
};

static const tl_field_spec f_equity[] = {
    SIMPLE("id", TL_FT_ID, 0, "deal id; the stream is equity/<id>"),
    SIMPLE("achievement", TL_FT_ID, 0, "achievement contributed as capital"),
    SIMPLE("company", TL_FT_ID, 0, "participant whose shares were issued"),
    SIMPLE("valuation_fen", TL_FT_FEN, POS, "agreed value of the achievement"),
    UINTR("shares_ppm", 1, TL_PPM_MAX, 0, "share of the company received, parts per million"),
    UINTR("inventor_share_ppm", 0, TL_PPM_MAX, 0,
          "part of those shares awarded to the inventors, parts per million"),
    SIMPLE("dated", TL_FT_DATE, 0, "date of the deal"),
};

enum { FF_ID, FF_KIND = 2, FF_PARENT = 6 };

static const tl_field_spec f_fund_established[] = {
    [FF_ID] = SIMPLE("id", TL_FT_ID, 0, "fund id; the stream is fund/<id>"),
    TEXT("name", 0, "name of the fund"),
    [FF_KIND] = CODE("kind", tl_codes_fund_kind, 0, "guidance fund, sub-fund or local fund"),
    CODE("level", tl_codes_fund_level, 0, "tier of government behind it"),
    SIMPLE("region", TL_FT_REGION, 0, "GB/T 2260 code of its seat"),
    SIMPLE("manager", TL_FT_ID, 0, "participant managing it"),
    [FF_PARENT] = SIMPLE("parent", TL_FT_ID, OPT, "fund it was set up under; required for a sub_fund"),
    SIMPLE("size_fen", TL_FT_FEN, OPT | POS,
           "(added) target size (认缴规模); the 50% directed-investment floor is measured on it"),
};

static const tl_field_spec f_fund_flow[] = {
    SIMPLE("investor", TL_FT_ID, 0, "participant (or fund) providing the money"),
    CODE("source", tl_codes_fund_source, 0, "kind of money"),
    SIMPLE("amount_fen", TL_FT_FEN, POS, "amount committed or called"),
    SIMPLE("dated", TL_FT_DATE, 0, "date"),
};

static const tl_field_spec f_fund_invested[] = {
    SIMPLE("investee", TL_FT_ID, 0, "participant invested in"),
    SIMPLE("amount_fen", TL_FT_FEN, POS, "amount the fund invested"),
    SIMPLE("dated", TL_FT_DATE, 0, "date"),
    SIMPLE("qualifying", TL_FT_BOOL, 0,
           "the investee commercialises fiscally funded results (counts for the floors)"),
    SIMPLE("co_investment_fen", TL_FT_FEN, OPT, "others' money invested alongside"),
};

enum { FL_BANK = 1, FL_BORROWER };

static const tl_field_spec f_loan[] = {
    SIMPLE("id", TL_FT_ID, 0, "loan id; the stream is loan/<id>"),
    [FL_BANK] = SIMPLE("bank", TL_FT_ID, 0, "the lending bank"),
    [FL_BORROWER] = SIMPLE("borrower", TL_FT_ID, 0, "the borrowing firm"),
    SIMPLE("amount_fen", TL_FT_FEN, POS, "principal lent (issued) or in default (defaulted)"),
    UINTR("term_months", 1, TL_SCHEMA_TERM_MONTHS_MAX, 0, "term of the loan"),
    SIMPLE("dated", TL_FT_DATE, 0, "date"),
    SIMPLE("pool", TL_FT_ID, 0, "fund id of the risk-compensation pool"),
};

static const tl_field_spec f_loan_compensated[] = {
    SIMPLE("amount_fen", TL_FT_FEN, POS, "compensation paid to the bank"),
    SIMPLE("dated", TL_FT_DATE, 0, "date paid; its year counts against the 2% cap"),
};

static const tl_field_spec f_programme[] = {
    SIMPLE("id", TL_FT_ID, 0, "programme entry id; the stream is programme/<id>"),
    TEXT("name", 0, "institution, zone or training programme"),
    SIMPLE("dated", TL_FT_DATE, 0, "date"),
    UINTR("count", 1, TL_SCHEMA_COUNT_MAX, OPT, "how many (e.g. people trained); absent means 1"),
    SIMPLE("region", TL_FT_REGION, OPT, "(added) GB/T 2260 code where it is"),
};

/* tl_schema_check notes the fields present in a 64-bit mask; the array size below fails to
 * compile (negative) for an event with more fields. */
#define FIELDS_MAX 64
#define EV(id_, type_, stream_, sfield_, signer_, fields_, rules_, doc_)                          \
    [id_] = {.id = (id_), .type = (type_), .type_len = sizeof(type_) - 1, .stream = (stream_),   \
             .stream_field = (sfield_),                                                          \
             .signer = (signer_), .fields = (fields_),                                           \
             .field_count = N_OF(fields_) +                                                      \
                            0 * sizeof(char[N_OF(fields_) <= FIELDS_MAX ? 1 : -1]),              \
             .rules = (rules_), .doc = (doc_)}

static const tl_event_spec events[TL_EV_COUNT] = {
    EV(TL_EV_LEDGER_GENESIS, "ledger.genesis", "ledger", NULL, "the key in admin; record 0 only",
       f_genesis, "", "creates the ledger and names its administrator"),
    EV(TL_EV_PARTICIPANT_REGISTERED, "participant.registered", "participant/", "id", "admin",
       f_participant, "roles and keys have no duplicates",
       "registers an organisation or person, its roles and keys"),
    EV(TL_EV_PARTICIPANT_KEY_ADDED, "participant.key_added", "participant/", NULL, "admin",
       f_participant_key, "", "adds a signing key to a participant"),
    EV(TL_EV_PARTICIPANT_KEY_REVOKED, "participant.key_revoked", "participant/", NULL, "admin",
       f_participant_key, "", "revokes a participant's key"),
    EV(TL_EV_ACHIEVEMENT_REGISTERED, "achievement.registered", "achievement/", "id",
       "a registry, or a key of the owner", f_achievement, "",
       "adds a scientific and technological achievement to the catalogue"),
    EV(TL_EV_CONTRACT_REGISTERED, "contract.registered", "contract/", "reg_no", "registry",
       f_contract_registered,
       "subtype belongs to class; tech_fen <= total_fen; registered_on >= signed_on; "
       "seller != buyer; achievements have no duplicates",
       "registers a technology contract (技术合同认定登记)"),
    EV(TL_EV_CONTRACT_AMENDED, "contract.amended", "contract/", NULL, "registry",
       f_contract_amended, "tech_fen <= total_fen",
       "replaces a registered contract's amounts"),
    EV(TL_EV_CONTRACT_CANCELLED, "contract.cancelled", "contract/", NULL, "registry",
       f_contract_cancelled, "", "cancels a registration"),
    EV(TL_EV_PAYMENT_RECEIVED, "payment.received", "contract/", NULL,
       "a registry, or a key of the contract's seller", f_payment, "", "records a payment under a contract"),
    EV(TL_EV_EQUITY_RECORDED, "equity.recorded", "equity/", "id", "registry", f_equity, "",
       "records shares issued for an achievement (作价入股)"),
    EV(TL_EV_FUND_ESTABLISHED, "fund.established", "fund/", "id",
       "admin (kind guidance or local); a key of the parent fund's manager (kind sub_fund)",
       f_fund_established,
       "a sub_fund names its parent; a guidance fund has none; a fund is not its own parent",
       "sets up a guidance fund, sub-fund or local fund"),
    EV(TL_EV_FUND_COMMITTED, "fund.committed", "fund/", NULL, "a key of the fund's manager", f_fund_flow,
       "", "records an investor's commitment (认缴)"),
    EV(TL_EV_FUND_CALLED, "fund.called", "fund/", NULL, "a key of the fund's manager", f_fund_flow, "",
       "records capital paid in (实缴)"),
    EV(TL_EV_FUND_INVESTED, "fund.invested", "fund/", NULL, "a key of the fund's manager",
       f_fund_invested, "", "records an investment by the fund"),
    EV(TL_EV_LOAN_ISSUED, "loan.issued", "loan/", "id", "a key of the lending bank (data.bank)", f_loan,
       "bank != borrower", "records a loan covered by a risk-compensation pool"),
    EV(TL_EV_LOAN_DEFAULTED, "loan.defaulted", "loan/", "id", "a key of the lending bank", f_loan,
       "bank != borrower", "records a default on such a loan"),
    EV(TL_EV_LOAN_COMPENSATED, "loan.compensated", "loan/", NULL, "a key of the pool fund's manager",
       f_loan_compensated, "", "records risk compensation paid to the bank (贷款风险补偿)"),
    EV(TL_EV_PROGRAMME_INSTITUTION_DESIGNATED, "programme.institution_designated", "programme/",
       "id", "admin", f_programme, "",
       "designates a demonstration technology-transfer institution"),
    EV(TL_EV_PROGRAMME_ZONE_DESIGNATED, "programme.zone_designated", "programme/", "id", "admin",
       f_programme, "", "designates a demonstration zone"),
    EV(TL_EV_PROGRAMME_TRAINING_COMPLETED, "programme.training_completed", "programme/", "id",
       "admin", f_programme, "", "records technology-transfer professionals trained"),
};

const tl_event_spec *tl_schema_event(tl_event_type t)
{
    if ((unsigned)t >= TL_EV_COUNT)
        return NULL;
    return &events[t];
}

const tl_event_spec *tl_schema_for_type(const char *type, size_t len)
{
    if (type == NULL || len == 0)
        return NULL;
    for (size_t i = 0; i < TL_EV_COUNT; i++) /* this runs for every event: no strlen */
        if (events[i].type_len == len && events[i].type[0] == type[0] && memcmp(events[i].type, type, len) == 0)
            return &events[i];
    return NULL;
}

const char *tl_field_type_name(tl_field_type t)
{
    switch (t) {
    case TL_FT_TEXT: return "text";
    case TL_FT_ID: return "id";
    case TL_FT_REG_NO: return "reg_no";
    case TL_FT_REGION: return "region";
    case TL_FT_DATE: return "date";
    case TL_FT_FEN: return "uint fen";
    case TL_FT_UINT: return "uint";
    case TL_FT_BOOL: return "bool";
    case TL_FT_KEY: return "bin 32";
    case TL_FT_CODE: return "code";
    case TL_FT_CREDIT_CODE: return "credit code";
    case TL_FT_ORIGIN: return "origin";
    }
    return "?";
}

/* ---- Helpers ----------------------------------------------------------------------------- */

/* A printable copy of untrusted bytes for a message: ASCII kept, the rest masked. */
static const char *show(char out[SHOW_BYTES + 4], const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (; k < n && k < SHOW_BYTES; k++)
        out[k] = (p[k] >= 0x20 && p[k] < 0x7f) ? (char)p[k] : '?';
    if (k < n) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

const char *tl_field_path(char out[TL_ERROR_PATH_BYTES], const char *name, long index)
{
    if (index < 0)
        snprintf(out, TL_ERROR_PATH_BYTES, "data.%s", name);
    else
        snprintf(out, TL_ERROR_PATH_BYTES, "data.%s[%ld]", name, index);
    return out;
}

static const char *mp_type_name(uint8_t t)
{
    switch (t) {
    case TL_MP_UINT: return "uint";
    case TL_MP_INT: return "negative int";
    case TL_MP_BOOL: return "bool";
    case TL_MP_STR: return "str";
    case TL_MP_BIN: return "bin";
    case TL_MP_ARRAY: return "array";
    case TL_MP_MAP: return "map";
    default: return "?";
    }
}

static uint8_t wire_type(tl_field_type t)
{
    switch (t) {
    case TL_FT_FEN:
    case TL_FT_UINT: return TL_MP_UINT;
    case TL_FT_BOOL: return TL_MP_BOOL;
    case TL_FT_KEY: return TL_MP_BIN;
    default: return TL_MP_STR;
    }
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether a byte of w is below 0x20, 0x7f, or c2 or e2, the lead bytes of the characters
 * text_clean looks at (each a classic exact "has a zero / smaller byte" word test). */
static inline bool word_suspect(uint64_t w)
{
    uint64_t del = w ^ (ONES * 0x7f), c2 = w ^ (ONES * 0xc2), e2 = w ^ (ONES * 0xe2);
    return (((w - ONES * 0x20) & ~w) | ((del - ONES) & ~del) | ((c2 - ONES) & ~c2) |
            ((e2 - ONES) & ~e2)) & HIGHS;
}

/* Text shown to people (names, titles, reasons) may hold any Unicode letter, but no C0/C1
 * control characters (a newline in a name breaks CSV rows and log lines) and no line
 * separators or bidirectional overrides (they make a name display as something else). The
 * parser has already checked UTF-8, so byte patterns suffice. */
static bool text_clean(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* Eight bytes at a time while none is suspect: characters whose lead byte is in a
         * skipped word are fine, and every lead byte checked below looks ahead itself. */
        uint64_t w;
        while (n - i >= 8 && (memcpy(&w, p + i, 8), !word_suspect(w)))
            i += 8;
        if (i == n)
            break;
        uint8_t c = p[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return false; /* U+0080..U+009F */
        if (c == 0xe2 && i + 2 < n) {
            if (p[i + 1] == 0x80 && p[i + 2] >= 0xa8 && p[i + 2] <= 0xae)
                return false; /* U+2028..U+202E: separators, embeddings, overrides */
            if (p[i + 1] == 0x81 && p[i + 2] >= 0xa6 && p[i + 2] <= 0xa9)
                return false; /* U+2066..U+2069: isolates */
        }
    }
    return true;
}

/* C2SP signed-note key names: non-empty, no spaces, no '+'; we also keep them ASCII so the
 * checkpoint's first line reads the same everywhere. */
static bool origin_valid(const uint8_t *p, size_t n)
{
    if (n < 1 || n > TL_SCHEMA_ORIGIN_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '+')
            return false;
    return true;
}

/* One value: the field f, or its element index when index >= 0. A code's index in its list
 * and a date's day (tl_date_parse) go to *num, for the cross-field rules. */
static int check_value(const tl_mp_doc *doc, uint32_t i, const tl_field_spec *f, long index, int32_t *num,
                       tl_error *err)
{
    char path[PATH_BYTES];
#define FAIL(rule, ...) tl_fail(err, TL_EINVAL, rule, tl_field_path(path, f->name, index), __VA_ARGS__)
    const tl_mp_node *n = &doc->nodes[i];
    tl_field_type t = (tl_field_type)f->type;
    uint8_t want = wire_type(t);
    if (n->type != want)
        return FAIL("schema.type_mismatch", "expected %s (%s), got %s", mp_type_name(want),
                    tl_field_type_name(t), mp_type_name(n->type));
    const char *s = (want == TL_MP_STR || want == TL_MP_BIN) ? (const char *)n->v.s.ptr : NULL;
    size_t len = s != NULL ? n->v.s.len : 0;
    char buf[SHOW_BYTES + 4];

    switch (t) {
    case TL_FT_TEXT:
        if (len < f->min || len > f->max)
            return FAIL("schema.length", "text of %zu bytes; must be %llu..%llu bytes", len,
                        (unsigned long long)f->min, (unsigned long long)f->max);
        if (!text_clean(n->v.s.ptr, len))
            return FAIL("schema.text", "control, line-separator or bidirectional-override "
                                       "characters are not allowed");
        return 0;
    case TL_FT_ID:
        if (!tl_id_valid(s, len))
            return FAIL("schema.id", "\"%s\" is not an id (1..%d bytes of [a-z0-9._-])",
                        show(buf, n->v.s.ptr, len), TL_ID_BYTES_MAX);
        return 0;
    case TL_FT_REG_NO:
        if (!tl_reg_no_valid(s, len))
            return FAIL("schema.reg_no", "\"%s\" is not a registration number (%d digits)",
                        show(buf, n->v.s.ptr, len), TL_REG_NO_LEN);
        return 0;
    case TL_FT_REGION:
        if (!tl_region_valid(s, len))
            return FAIL("schema.region", "\"%s\" is not a GB/T 2260 region code",
                        show(buf, n->v.s.ptr, len));
        return 0;
    case TL_FT_DATE:
        if (tl_date_parse(num, s, len) != 0)
            return FAIL("schema.date", "\"%s\" is not a date YYYY-MM-DD between %d and %d",
                        show(buf, n->v.s.ptr, len), TL_DATE_YEAR_MIN, TL_DATE_YEAR_MAX);
        return 0;
    case TL_FT_FEN:
        if (n->v.u > TL_AMOUNT_FEN_MAX)
            return FAIL("schema.amount_range", "%llu fen is above the limit of %llu fen",
                        (unsigned long long)n->v.u, (unsigned long long)TL_AMOUNT_FEN_MAX);
        if ((f->flags & TL_FIELD_POSITIVE) && n->v.u == 0)
            return FAIL("schema.amount_range", "must be at least 1 fen");
        return 0;
    case TL_FT_UINT:
        if (n->v.u < f->min || n->v.u > f->max)
            return FAIL("schema.range", "%llu is outside %llu..%llu", (unsigned long long)n->v.u,
                        (unsigned long long)f->min, (unsigned long long)f->max);
        return 0;
    case TL_FT_BOOL:
        return 0;
    case TL_FT_KEY:
        if (len != TL_SCHEMA_KEY_BYTES)
            return FAIL("schema.length", "a key is %d bytes, not %zu", TL_SCHEMA_KEY_BYTES, len);
        return 0;
    case TL_FT_CODE:
        if ((*num = tl_code_parse(f->codes, s, len)) < 0)
            return FAIL("schema.code", "\"%s\" is not a %s code", show(buf, n->v.s.ptr, len),
                        f->codes->name);
        return 0;
    case TL_FT_CREDIT_CODE:
        switch (tl_credit_code_check(s, len)) {
        case TL_CREDIT_CODE_OK: return 0;
        case TL_CREDIT_CODE_LENGTH:
            return FAIL("schema.credit_code",
                        "a unified social credit code has %d characters, not %zu",
                        TL_CREDIT_CODE_LEN, len);
        case TL_CREDIT_CODE_ALPHABET:
            return FAIL("schema.credit_code",
                        "\"%s\" has a character outside 0-9 and A-Y without I, O, S, V, Z",
                        show(buf, n->v.s.ptr, len));
        case TL_CREDIT_CODE_CHECK:
            return FAIL("schema.credit_code", "\"%s\": the check character should be %c",
                        show(buf, n->v.s.ptr, len), tl_credit_code_check_char(s));
        }
        return FAIL("schema.credit_code", "invalid");
    case TL_FT_ORIGIN:
        if (!origin_valid(n->v.s.ptr, len))
            return FAIL("schema.origin",
                        "the origin must be 1..%d printable ASCII bytes without space or '+'",
                        TL_SCHEMA_ORIGIN_BYTES_MAX);
        return 0;
    }
    return FAIL("schema.internal", "field type %d has no check", f->type);
#undef FAIL
}

static bool same_bytes(const tl_mp_node *a, const tl_mp_node *b)
{
    return a->type == b->type && a->v.s.len == b->v.s.len &&
           memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0;
}

static int check_field(const tl_mp_doc *doc, uint32_t i, const tl_field_spec *f, int32_t *num, tl_error *err)
{
    if (!(f->flags & TL_FIELD_ARRAY))
        return check_value(doc, i, f, -1, num, err);

    char path[PATH_BYTES];
    const tl_mp_node *n = &doc->nodes[i];
    if (n->type != TL_MP_ARRAY)
        return tl_fail(err, TL_EINVAL, "schema.type_mismatch", tl_field_path(path, f->name, -1),
                       "expected array (of %s), got %s",
                       tl_field_type_name((tl_field_type)f->type), mp_type_name(n->type));
    if (n->count < f->min || n->count > f->max)
        return tl_fail(err, TL_EINVAL, "schema.length", tl_field_path(path, f->name, -1),
                       "%u elements; must be %llu..%llu", n->count, (unsigned long long)f->min,
                       (unsigned long long)f->max);
    /* Elements are scalars (str or bin), so element k is node i + 1 + k; the count is at most
     * TL_SCHEMA_ACHIEVEMENTS_MAX, so the quadratic duplicate check stays small. */
    uint32_t c = tl_mp_first(i);
    for (uint32_t k = 0; k < n->count; k++, c = tl_mp_next(doc, c)) {
        int32_t element;
        int rc = check_value(doc, c, f, (long)k, &element, err);
        if (rc != 0)
            return rc;
        for (uint32_t prev = tl_mp_first(i); prev != c; prev = tl_mp_next(doc, prev))
            if (same_bytes(&doc->nodes[prev], &doc->nodes[c]))
                return tl_fail(err, TL_EINVAL, "schema.duplicate",
                               tl_field_path(path, f->name, (long)k), "repeats an earlier element");
    }
    return 0;
}

/* The index in ev->fields of the field named by len bytes at name, or -1. This runs for
 * every key of every event: lengths first (known when compiling), then the first byte. */
static long find_field(const tl_event_spec *ev, const uint8_t *name, size_t len)
{
    if (len == 0)
        return -1;
    for (size_t k = 0; k < ev->field_count; k++) {
        const tl_field_spec *f = &ev->fields[k];
        if (f->name_len == len && (uint8_t)f->name[0] == name[0] && memcmp(f->name, name, len) == 0)
            return (long)k;
    }
    return -1;
}

/* What the walk over the data map learnt, for the checks that need more than one field: each
 * field's value node by its index in the table (0 when absent) and, for a code or a date, its
 * parsed value (check_value). */
typedef struct seen {
    uint32_t at[FIELDS_MAX];
    int32_t num[FIELDS_MAX];
} seen;

/* Field k, already checked to be well-typed, or NULL when absent. */
static const tl_mp_node *get(const tl_mp_doc *doc, const seen *sn, size_t k)
{
    return sn->at[k] != 0 ? &doc->nodes[sn->at[k]] : NULL;
}

/* ---- Cross-field rules ------------------------------------------------------------------- */

static int check_amounts(const tl_mp_doc *doc, const seen *sn, size_t total_k, size_t tech_k, tl_error *err)
{
    const tl_mp_node *total = get(doc, sn, total_k), *tech = get(doc, sn, tech_k);
    if (total != NULL && tech != NULL && tech->v.u > total->v.u)
        return tl_fail(err, TL_EINVAL, "schema.tech_exceeds_total", "data.tech_fen",
                       "技术交易额 %llu fen exceeds 成交额 %llu fen",
                       (unsigned long long)tech->v.u, (unsigned long long)total->v.u);
    return 0;
}

static int check_parties(const tl_event_spec *ev, const tl_mp_doc *doc, const seen *sn, size_t a, size_t b,
                         tl_error *err)
{
    const tl_mp_node *na = get(doc, sn, a), *nb = get(doc, sn, b);
    char path[PATH_BYTES];
    if (na != NULL && nb != NULL && same_bytes(na, nb)) {
        tl_field_path(path, ev->fields[b].name, -1);
        return tl_fail(err, TL_EINVAL, "schema.same_party", path, "%s and %s are the same participant",
                       ev->fields[a].name, ev->fields[b].name);
    }
    return 0;
}

static int check_contract_registered(const tl_event_spec *ev, const tl_mp_doc *doc, const seen *sn,
                                     tl_error *err)
{
    /* Every field read here is required, so present. */
    int cls = sn->num[FR_CLASS], sub = sn->num[FR_SUBTYPE];
    if ((int)tl_subtype_class((tl_contract_subtype)sub) != cls)
        return tl_fail(err, TL_EINVAL, "schema.subtype", "data.subtype",
                       "%s is a subtype of %s, not of %s", tl_code_name(&tl_codes_subtype, sub),
                       tl_code_name(&tl_codes_class, (int)tl_subtype_class((tl_contract_subtype)sub)),
                       tl_code_name(&tl_codes_class, cls));
    int rc = check_amounts(doc, sn, FR_TOTAL_FEN, FR_TECH_FEN, err);
    if (rc != 0)
        return rc;
    /* Registration (认定登记) certifies a contract already signed. */
    if (sn->num[FR_REGISTERED_ON] < sn->num[FR_SIGNED_ON])
        return tl_fail(err, TL_EINVAL, "schema.date_order", "data.registered_on",
                       "registered before it was signed");
    return check_parties(ev, doc, sn, FR_SELLER, FR_BUYER, err);
}

static int check_fund_established(const tl_mp_doc *doc, const seen *sn, tl_error *err)
{
    int kind = sn->num[FF_KIND]; /* required */
    const tl_mp_node *parent = get(doc, sn, FF_PARENT);
    /* The guidance-share rules (10%-30% of a sub-fund) are measured against the parent, so a
     * sub-fund without one could never be judged. */
    if (kind == TL_FUND_SUB_FUND && parent == NULL)
        return tl_fail(err, TL_EINVAL, "schema.required", "data.parent",
                       "a sub_fund names the fund it was set up under");
    if (kind == TL_FUND_GUIDANCE && parent != NULL)
        return tl_fail(err, TL_EINVAL, "schema.parent", "data.parent",
                       "a guidance fund sits at the top and has no parent");
    const tl_mp_node *id = get(doc, sn, FF_ID);
    if (parent != NULL && id != NULL && same_bytes(parent, id))
        return tl_fail(err, TL_EINVAL, "schema.parent", "data.parent",
                       "a fund cannot be its own parent");
    return 0;
}

static int check_cross(const tl_event_spec *ev, const tl_mp_doc *doc, const seen *sn, tl_error *err)
{
    switch (ev->id) {
    case TL_EV_CONTRACT_REGISTERED: return check_contract_registered(ev, doc, sn, err);
    case TL_EV_CONTRACT_AMENDED: return check_amounts(doc, sn, FA_TOTAL_FEN, FA_TECH_FEN, err);
    case TL_EV_FUND_ESTABLISHED: return check_fund_established(doc, sn, err);
    case TL_EV_LOAN_ISSUED:
    case TL_EV_LOAN_DEFAULTED: return check_parties(ev, doc, sn, FL_BANK, FL_BORROWER, err);
    default: return 0;
    }
}

/* ---- Stream ------------------------------------------------------------------------------ */

static int check_stream(const tl_event_spec *ev, const tl_mp_doc *doc, const seen *sn, const char *stream,
                        size_t stream_len, tl_error *err)
{
    char buf[SHOW_BYTES + 4];
    size_t plen = strlen(ev->stream);
    if (ev->stream[plen - 1] != '/') {
        if (stream_len != plen || memcmp(stream, ev->stream, plen) != 0)
            return tl_fail(err, TL_EINVAL, "schema.stream", "stream",
                           "%s belongs to stream \"%s\", not \"%s\"", ev->type, ev->stream,
                           show(buf, (const uint8_t *)stream, stream_len));
        return 0;
    }
    if (stream_len <= plen || memcmp(stream, ev->stream, plen) != 0)
        return tl_fail(err, TL_EINVAL, "schema.stream", "stream",
                       "%s belongs to a stream %s<...>, not \"%s\"", ev->type, ev->stream,
                       show(buf, (const uint8_t *)stream, stream_len));
    const char *suffix = stream + plen;
    size_t slen = stream_len - plen;
    if (ev->stream_field != NULL) {
        long sk = find_field(ev, (const uint8_t *)ev->stream_field, strlen(ev->stream_field));
        const tl_mp_node *n = sk >= 0 ? get(doc, sn, (size_t)sk) : NULL;
        if (n == NULL || n->v.s.len != slen || memcmp(n->v.s.ptr, suffix, slen) != 0) {
            char want[SHOW_BYTES + 4];
            return tl_fail(err, TL_EINVAL, "schema.stream", "stream",
                           "must be \"%s%s\" (from data.%s), not \"%s\"", ev->stream,
                           n != NULL ? show(want, n->v.s.ptr, n->v.s.len) : "",
                           ev->stream_field, show(buf, (const uint8_t *)stream, stream_len));
        }
        return 0;
    }
    /* An event on an existing entity: the suffix must at least be a possible name for one. */
    bool is_contract = strcmp(ev->stream, "contract/") == 0;
    bool ok = is_contract ? tl_reg_no_valid(suffix, slen) : tl_id_valid(suffix, slen);
    if (!ok)
        return tl_fail(err, TL_EINVAL, "schema.stream", "stream", "\"%s\" does not name %s",
                       show(buf, (const uint8_t *)stream, stream_len),
                       is_contract ? "a contract (contract/<16 digits>)" : "an entity (<family>/<id>)");
    return 0;
}

/* ---- Entry points ------------------------------------------------------------------------ */

int tl_schema_check(const tl_mp_doc *body, uint32_t data_node, const char *type, size_t type_len,
                    const char *stream, size_t stream_len, tl_error *err)
{
    if (body == NULL || body->nodes == NULL || type == NULL || stream == NULL ||
        data_node >= body->count)
        return tl_fail(err, TL_EINVAL, "schema.internal", "", "bad arguments to tl_schema_check");
    char buf[SHOW_BYTES + 4];
    const tl_event_spec *ev = tl_schema_for_type(type, type_len);
    if (ev == NULL)
        return tl_fail(err, TL_EINVAL, "schema.type", "type", "\"%s\" is not an event type",
                       show(buf, (const uint8_t *)type, type_len));
    if (data_node == 0)
        return tl_fail(err, TL_EINVAL, "schema.required", "data", "the body has no data");
    const tl_mp_node *data = &body->nodes[data_node];
    if (data->type != TL_MP_MAP)
        return tl_fail(err, TL_EINVAL, "schema.type_mismatch", "data", "expected map, got %s",
                       mp_type_name(data->type));

    /* Each present field, in key order. Keys are str (the parser guarantees it) and unique, so
     * the required fields are those whose bit in present was never set. */
    uint64_t present = 0;
    seen sn;
    memset(sn.at, 0, ev->field_count * sizeof sn.at[0]);
    uint32_t k = tl_mp_first(data_node);
    for (uint32_t p = 0; p < data->count; p++) {
        const tl_mp_node *key = &body->nodes[k];
        uint32_t v = tl_mp_next(body, k);
        long fk = find_field(ev, key->v.s.ptr, key->v.s.len);
        if (fk < 0) {
            char path[PATH_BYTES];
            snprintf(path, sizeof path, "data.%s", show(buf, key->v.s.ptr, key->v.s.len));
            return tl_fail(err, TL_EINVAL, "schema.unknown_field", path,
                           "%s has no field of this name", ev->type);
        }
        present |= 1ull << fk;
        sn.at[fk] = v;
        int rc = check_field(body, v, &ev->fields[fk], &sn.num[fk], err);
        if (rc != 0)
            return rc;
        k = tl_mp_next(body, v);
    }
    for (size_t i = 0; i < ev->field_count; i++) {
        const tl_field_spec *f = &ev->fields[i];
        if (!(f->flags & TL_FIELD_OPTIONAL) && !(present >> i & 1u)) {
            char path[PATH_BYTES];
            return tl_fail(err, TL_EINVAL, "schema.required", tl_field_path(path, f->name, -1),
                           "%s requires %s", ev->type, f->name);
        }
    }
    int rc = check_cross(ev, body, &sn, err);
    if (rc != 0)
        return rc;
    return check_stream(ev, body, &sn, stream, stream_len, err);
}

int tl_schema_check_body(const tl_mp_doc *body, tl_error *err)
{
    if (body == NULL || body->nodes == NULL || body->count == 0)
        return tl_fail(err, TL_EINVAL, "schema.internal", "", "no body");
    if (body->nodes[0].type != TL_MP_MAP)
        return tl_fail(err, TL_EINVAL, "schema.type_mismatch", "", "the body is not a map");
    static const char *const keys[] = {"type", "stream", "data"};
    static const uint8_t types[] = {TL_MP_STR, TL_MP_STR, TL_MP_MAP};
    uint32_t at[3];
    for (size_t i = 0; i < 3; i++) {
        at[i] = tl_mp_map_get(body, 0, keys[i]);
        if (at[i] == 0)
            return tl_fail(err, TL_EINVAL, "schema.required", keys[i], "the body has no %s",
                           keys[i]);
        if (body->nodes[at[i]].type != types[i])
            return tl_fail(err, TL_EINVAL, "schema.type_mismatch", keys[i], "expected %s, got %s",
                           mp_type_name(types[i]), mp_type_name(body->nodes[at[i]].type));
    }
    const tl_mp_node *t = &body->nodes[at[0]], *s = &body->nodes[at[1]];
    return tl_schema_check(body, at[2], (const char *)t->v.s.ptr, t->v.s.len,
                           (const char *)s->v.s.ptr, s->v.s.len, err);
}

/* ---- Documentation ------------------------------------------------------------------------- */

#define ALL_TYPES ((1u << TL_EV_COUNT) - 1u)

static const tl_rule_doc schema_rules[] = {
    {"schema.type", "type", TL_EINVAL, ALL_TYPES, "the type is not in the catalogue"},
    {"schema.type_mismatch", "data.F", TL_EINVAL, ALL_TYPES,
     "wrong MessagePack type for the field (also: data is not a map)"},
    {"schema.required", "data.F", TL_EINVAL, ALL_TYPES,
     "a required field is absent (also data.parent of a sub_fund)"},
    {"schema.unknown_field", "data.F", TL_EINVAL, ALL_TYPES,
     "a field the catalogue does not define (the catalogue is closed: a misspelt optional field "
     "must not be silently ignored)"},
    {"schema.code", "data.F", TL_EINVAL, ALL_TYPES, "not a name in the field's code list"},
    {"schema.region", "data.F", TL_EINVAL, ALL_TYPES, "not six digits naming a GB/T 2260 code"},
    {"schema.date", "data.F", TL_EINVAL, ALL_TYPES,
     "not YYYY-MM-DD, no such day (2019-02-29), or outside 1949..2099"},
    {"schema.id", "data.F", TL_EINVAL, ALL_TYPES, "not 1..64 bytes of [a-z0-9._-], or \".\" / \"..\""},
    {"schema.reg_no", "data.F", TL_EINVAL, ALL_TYPES, "not 16 digits"},
    {"schema.credit_code", "data.F", TL_EINVAL, ALL_TYPES,
     "length, alphabet or check character of a unified social credit code (GB 32100-2015)"},
    {"schema.origin", "data.F", TL_EINVAL, TYPE_BIT(TL_EV_LEDGER_GENESIS),
     "the origin is not 1..128 printable ASCII bytes without space or '+'"},
    {"schema.text", "data.F", TL_EINVAL, ALL_TYPES,
     "text holds control, line-separator or bidirectional-override characters"},
    {"schema.length", "data.F", TL_EINVAL, ALL_TYPES, "text, bin or array length outside its bounds"},
    {"schema.amount_range", "data.F", TL_EINVAL, ALL_TYPES,
     "an amount above 10^15 fen (TL_AMOUNT_FEN_MAX), or 0 where a flow of money must be >= 1"},
    {"schema.range", "data.F", TL_EINVAL, ALL_TYPES, "a bounded integer (ppm, term_months, count) out of range"},
    {"schema.duplicate", "data.F[i]", TL_EINVAL, ALL_TYPES, "an array element repeats an earlier one"},
    {"schema.subtype", "data.subtype", TL_EINVAL, TYPE_BIT(TL_EV_CONTRACT_REGISTERED),
     "the subtype is not one of the class's own"},
    {"schema.tech_exceeds_total", "data.tech_fen", TL_EINVAL,
     TYPE_BIT(TL_EV_CONTRACT_REGISTERED) | TYPE_BIT(TL_EV_CONTRACT_AMENDED), "技术交易额 above 成交额"},
    {"schema.date_order", "data.registered_on", TL_EINVAL, TYPE_BIT(TL_EV_CONTRACT_REGISTERED),
     "registered before it was signed"},
    {"schema.same_party", "data.buyer", TL_EINVAL, TYPE_BIT(TL_EV_CONTRACT_REGISTERED),
     "seller and buyer are one participant"},
    {"schema.same_party", "data.borrower", TL_EINVAL,
     TYPE_BIT(TL_EV_LOAN_ISSUED) | TYPE_BIT(TL_EV_LOAN_DEFAULTED), "bank and borrower are one participant"},
    {"schema.parent", "data.parent", TL_EINVAL, TYPE_BIT(TL_EV_FUND_ESTABLISHED),
     "a guidance fund with a parent, or a fund that is its own parent"},
    {"schema.stream", "stream", TL_EINVAL, ALL_TYPES,
     "the stream does not match the type and the data's id (e.g. contract/<reg_no>)"},
};

const tl_rule_doc *tl_schema_rules_doc(size_t *count)
{
    *count = N_OF(schema_rules);
    return schema_rules;
}

/*
 * The example history. Keys: the seed of each signer is 32 bytes of one value, so anyone can
 * recompute the public keys below (and the signatures in the documentation):
 *   0x01 admin        8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
 *   0x02 registry-bj  8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394
 *   0x03 tsinghua     ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1
 *   0x04 kjcg-mgmt    ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c
 *   0x05 icbc-bj      6e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1
 *   0x06 (added to registry-bj, then revoked)
 *                     8a875fff1eb38451577acd5afee405456568dd7c89e090863a0557bc7af49f17
 *   0x07 zgc-capital  ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c
 * The cancellation comes last: a cancelled contract takes no further events.
 */
#define PK_ADMIN "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
#define PK_REGISTRY "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
#define PK_TSINGHUA "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
#define PK_KJCG "ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c"
#define PK_ICBC "6e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1"
#define PK_SPARE "8a875fff1eb38451577acd5afee405456568dd7c89e090863a0557bc7af49f17"
#define PK_ZGC "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"

#define CONTRACT "2019110108000123"
#define LOAN_DATA                                                                                  \
    "\"id\":\"icbc-bj-2020-0007\",\"bank\":\"icbc-bj\",\"borrower\":\"acme\",\"term_months\":36,"  \
    "\"pool\":\"national-guidance\","

static const tl_schema_example examples[] = {
    {"ledger.genesis", "ledger", "admin", 0x01,
     "{\"origin\":\"" TL_SCHEMA_EXAMPLE_ORIGIN "\",\"admin\":\"" PK_ADMIN "\"}", true},
    {"participant.registered", "participant/registry-bj", "admin", 0x01,
     "{\"id\":\"registry-bj\",\"name\":\"北京技术市场管理办公室\",\"kind\":\"registry\","
     "\"region\":\"110000\",\"roles\":[\"registry\"],\"keys\":[\"" PK_REGISTRY "\"],"
     "\"credit_code\":\"12100000400000624D\"}",
     true},
    {"participant.registered", "participant/tsinghua", "admin", 0x01,
     "{\"id\":\"tsinghua\",\"name\":\"清华大学\",\"kind\":\"university\",\"region\":\"110108\","
     "\"roles\":[\"member\"],\"keys\":[\"" PK_TSINGHUA "\"]}",
     false},
    {"participant.registered", "participant/acme", "admin", 0x01,
     "{\"id\":\"acme\",\"name\":\"上海艾克米新能源科技有限公司\",\"kind\":\"enterprise\","
     "\"region\":\"310115\",\"roles\":[],\"keys\":[],\"credit_code\":\"91310115MA1K3XY41D\"}",
     false},
    {"participant.registered", "participant/kjcg-mgmt", "admin", 0x01,
     "{\"id\":\"kjcg-mgmt\",\"name\":\"国家科技成果转化引导基金管理机构\",\"kind\":\"fund\","
     "\"region\":\"110000\",\"roles\":[\"fund_manager\"],\"keys\":[\"" PK_KJCG "\"]}",
     false},
    {"participant.registered", "participant/zgc-capital", "admin", 0x01,
     "{\"id\":\"zgc-capital\",\"name\":\"中关村创业投资管理有限公司\",\"kind\":\"fund\","
     "\"region\":\"110108\",\"roles\":[\"fund_manager\"],\"keys\":[\"" PK_ZGC "\"]}",
     false},
    {"participant.registered", "participant/icbc-bj", "admin", 0x01,
     "{\"id\":\"icbc-bj\",\"name\":\"中国工商银行北京市分行\",\"kind\":\"bank\","
     "\"region\":\"110000\",\"roles\":[\"bank\"],\"keys\":[\"" PK_ICBC "\"]}",
     false},
    {"participant.key_added", "participant/registry-bj", "admin", 0x01, "{\"key\":\"" PK_SPARE "\"}",
     true},
    {"participant.key_revoked", "participant/registry-bj", "admin", 0x01,
     "{\"key\":\"" PK_SPARE "\"}", true},
    {"achievement.registered", "achievement/thu-2019-0042", "tsinghua", 0x03,
     "{\"id\":\"thu-2019-0042\",\"title\":\"高效钙钛矿太阳能电池的制备方法\",\"owner\":\"tsinghua\","
     "\"field\":\"new_energy\",\"fiscal_funded\":true,\"confidentiality\":\"public\","
     "\"ip\":\"ZL201810000042.1\"}",
     true},
    {"contract.registered", "contract/" CONTRACT, "registry-bj", 0x02,
     "{\"reg_no\":\"" CONTRACT "\",\"class\":\"transfer\",\"subtype\":\"patent\","
     "\"seller\":\"tsinghua\",\"buyer\":\"acme\",\"seller_region\":\"110108\","
     "\"buyer_region\":\"310115\",\"field\":\"new_energy\",\"signed_on\":\"2019-03-01\","
     "\"registered_on\":\"2019-03-15\",\"total_fen\":1500000000,\"tech_fen\":1200000000,"
     "\"achievements\":[\"thu-2019-0042\"],\"confidentiality\":\"public\","
     "\"title\":\"钙钛矿电池专利权转让\"}",
     true},
    {"contract.amended", "contract/" CONTRACT, "registry-bj", 0x02,
     "{\"total_fen\":1800000000,\"tech_fen\":1400000000,\"amended_on\":\"2019-09-01\","
     "\"reason\":\"scope extended to pilot production\"}",
     true},
    {"payment.received", "contract/" CONTRACT, "tsinghua", 0x03,
     "{\"amount_fen\":600000000,\"received_on\":\"2019-04-10\"}", true},
    {"equity.recorded", "equity/thu-eq-2020-01", "registry-bj", 0x02,
     "{\"id\":\"thu-eq-2020-01\",\"achievement\":\"thu-2019-0042\",\"company\":\"acme\","
     "\"valuation_fen\":500000000,\"shares_ppm\":150000,\"inventor_share_ppm\":700000,"
     "\"dated\":\"2020-06-30\"}",
     true},
    {"fund.established", "fund/national-guidance", "admin", 0x01,
     "{\"id\":\"national-guidance\",\"name\":\"国家科技成果转化引导基金\",\"kind\":\"guidance\","
     "\"level\":\"national\",\"region\":\"110000\",\"manager\":\"kjcg-mgmt\"}",
     false},
    {"fund.established", "fund/kjcg-sub-bj-1", "kjcg-mgmt", 0x04,
     "{\"id\":\"kjcg-sub-bj-1\",\"name\":\"北京科技成果转化创业投资子基金\",\"kind\":\"sub_fund\","
     "\"level\":\"provincial\",\"region\":\"110000\",\"manager\":\"zgc-capital\","
     "\"parent\":\"national-guidance\",\"size_fen\":100000000000}",
     true},
    {"fund.committed", "fund/kjcg-sub-bj-1", "zgc-capital", 0x07,
     "{\"investor\":\"national-guidance\",\"source\":\"guidance\",\"amount_fen\":20000000000,"
     "\"dated\":\"2020-01-10\"}",
     true},
    {"fund.called", "fund/kjcg-sub-bj-1", "zgc-capital", 0x07,
     "{\"investor\":\"national-guidance\",\"source\":\"guidance\",\"amount_fen\":10000000000,"
     "\"dated\":\"2020-03-01\"}",
     true},
    {"fund.invested", "fund/kjcg-sub-bj-1", "zgc-capital", 0x07,
     "{\"investee\":\"acme\",\"amount_fen\":8000000000,\"dated\":\"2020-07-01\","
     "\"qualifying\":true,\"co_investment_fen\":4000000000}",
     true},
    {"loan.issued", "loan/icbc-bj-2020-0007", "icbc-bj", 0x05,
     "{" LOAN_DATA "\"amount_fen\":500000000,\"dated\":\"2020-05-20\"}", true},
    {"loan.defaulted", "loan/icbc-bj-2020-0007", "icbc-bj", 0x05,
     "{" LOAN_DATA "\"amount_fen\":300000000,\"dated\":\"2021-11-30\"}", true},
    {"loan.compensated", "loan/icbc-bj-2020-0007", "kjcg-mgmt", 0x04,
     "{\"amount_fen\":150000000,\"dated\":\"2022-02-15\"}", true},
    {"programme.institution_designated", "programme/inst-thu-ott", "admin", 0x01,
     "{\"id\":\"inst-thu-ott\",\"name\":\"清华大学技术转移研究院\",\"dated\":\"2017-09-01\","
     "\"region\":\"110108\"}",
     true},
    {"programme.zone_designated", "programme/zone-jingnan", "admin", 0x01,
     "{\"id\":\"zone-jingnan\",\"name\":\"京南国家科技成果转移转化示范区\",\"dated\":\"2016-10-26\","
     "\"region\":\"130000\"}",
     true},
    {"programme.training_completed", "programme/training-2018-bj-01", "admin", 0x01,
     "{\"id\":\"training-2018-bj-01\",\"name\":\"技术经理人培训 2018 北京第一期\","
     "\"dated\":\"2018-12-20\",\"count\":120,\"region\":\"110000\"}",
     true},
    {"contract.cancelled", "contract/" CONTRACT, "registry-bj", 0x02,
     "{\"cancelled_on\":\"2020-12-31\",\"reason\":\"the buyer withdrew; registration revoked\"}", true},
};

const tl_schema_example *tl_schema_examples(size_t *count)
{
    *count = N_OF(examples);
    return examples;
}
