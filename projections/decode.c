/*
 * A lean walker over stored records for the projection workers.
 *
 * Records in the log were decoded strictly, signature-checked and schema-checked when they were
 * appended, so rebuilding views must not pay for that again: this reader does one pass over the
 * record bytes with no allocation, remembering where the body's `type`, `stream` and each
 * `data` field sit; for an event of a contract's stream it also picks out the fields both
 * contract folds read (pj_contract_ev). It still checks every length against the bytes that
 * remain (a damaged store must not make it read out of bounds); it does not check canonical
 * form.
 *
 * record = [1, seq, recorded, version, body (bin), key (bin 32), sig (bin 64)]
 * body   = {data, expect?, id, stream, time, type}
 */
#include <string.h>

#include "pj_internal.h"

typedef struct cur {
    const uint8_t *p, *end;
} cur;

static bool need(cur *c, size_t n) { return (size_t)(c->end - c->p) >= n; }

/* The big-endian unsigned integer of w = 1, 2, 4 or 8 bytes at p: one load, not a byte loop
 * (every uint but the smallest, every bin and every long str has such a length). */
static inline uint64_t be(const uint8_t *p, unsigned w)
{
    switch (w) {
    case 1: return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return __builtin_bswap16(v);
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return __builtin_bswap32(v);
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return __builtin_bswap64(v);
    }
    }
}

/* Reads one header, after the first byte b, for the forms head() leaves to it. */
static bool head_slow(cur *c, uint8_t b, pj_val *v)
{
    unsigned n = 0;
    if (b >= 0xe0) {
        v->type = TL_MP_INT;
        return true;
    }
    if ((b & 0xf0) == 0x80) {
        v->type = TL_MP_MAP;
        v->u = b & 0x0f;
        return true;
    }
    if ((b & 0xf0) == 0x90) {
        v->type = TL_MP_ARRAY;
        v->u = b & 0x0f;
        return true;
    }
    switch (b) {
    case 0xc2:
    case 0xc3:
        v->type = TL_MP_BOOL;
        v->b = b == 0xc3;
        return true;
    case 0xc4:
    case 0xc5:
    case 0xc6: {
        unsigned w = 1u << (b - 0xc4);
        if (!need(c, w))
            return false;
        n = (unsigned)be(c->p, w);
        c->p += w;
        v->type = TL_MP_BIN;
        goto bytes;
    }
    case 0xd9:
    case 0xda:
    case 0xdb: {
        unsigned w = 1u << (b - 0xd9);
        if (!need(c, w))
            return false;
        n = (unsigned)be(c->p, w);
        c->p += w;
        v->type = TL_MP_STR;
        goto bytes;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: {
        unsigned w = 1u << (b - 0xcc);
        if (!need(c, w))
            return false;
        v->type = TL_MP_UINT;
        v->u = be(c->p, w);
        c->p += w;
        return true;
    }
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        unsigned w = 1u << (b - 0xd0);
        if (!need(c, w))
            return false;
        v->type = TL_MP_INT;
        c->p += w;
        return true;
    }
    case 0xdc:
    case 0xdd:
    case 0xde:
    case 0xdf: {
        unsigned w = (b == 0xdc || b == 0xde) ? 2 : 4;
        if (!need(c, w))
            return false;
        v->type = (b <= 0xdd) ? TL_MP_ARRAY : TL_MP_MAP;
        v->u = be(c->p, w);
        c->p += w;
        return true;
    }
    default:
        return false; /* nil, float, ext: never in a stored record */
    }
bytes:
    if (!need(c, n))
        return false;
    v->p = c->p;
    v->len = n;
    c->p += n;
    return true;
}

/* Reads one header. For scalars fills *v: type and, by type, u (UINT), b (BOOL) or p and len
 * (STR, BIN); the other members keep whatever they held (readers look at type first). For
 * containers sets v->type and v->u = count.
 * Inline, with the forms most of a record is made of (short strings: the keys and most
 * values; small uints) decided here, since a record has some forty headers. */
static inline bool head(cur *c, pj_val *v)
{
    if (!need(c, 1))
        return false;
    uint8_t b = *c->p++;
    if (b <= 0x7f) {
        v->type = TL_MP_UINT;
        v->u = b;
        return true;
    }
    if ((b & 0xe0) == 0xa0) {
        unsigned n = b & 0x1f;
        if (!need(c, n))
            return false;
        v->type = TL_MP_STR;
        v->p = c->p;
        v->len = n;
        c->p += n;
        return true;
    }
    return head_slow(c, b, v);
}

/* Skips one whole value whose header was already read into v. */
static bool skip_rest(cur *c, const pj_val *v, unsigned depth)
{
    if (v->type != TL_MP_ARRAY && v->type != TL_MP_MAP)
        return true;
    if (depth >= TL_MP_DEPTH_MAX)
        return false;
    uint64_t n = v->type == TL_MP_MAP ? v->u * 2 : v->u;
    if (n > (uint64_t)(c->end - c->p)) /* every element takes at least one byte */
        return false;
    for (uint64_t i = 0; i < n; i++) {
        pj_val e;
        if (!head(c, &e) || !skip_rest(c, &e, depth + 1))
            return false;
    }
    return true;
}

static int bad(tl_error *err, uint64_t seq)
{
    return tl_fail(err, TL_ECORRUPT, "record.shape", "record", "record %llu cannot be walked",
                   (unsigned long long)seq);
}

uint32_t pj_beijing_day(uint64_t recorded_ms)
{
    return (uint32_t)((recorded_ms + PJ_BEIJING_OFFSET_MS) / PJ_DAY_MS);
}

static inline uint64_t ld8(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint32_t ld4(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
/* k (n bytes) equals name, for a constant name of 4 to 16 bytes: two overlapping loads each,
 * folded for the name (memcmp was a call per field). */
static inline bool key_eq(const uint8_t *k, const char *name, size_t n)
{
    if (n >= 8)
        return ld8(k) == ld8(name) && ld8(k + n - 8) == ld8(name + n - 8);
    return ld4(k) == ld4(name) && ld4(k + n - 4) == ld4(name + n - 4);
}

/* A code field parsed against list: -1 when not a str or unknown. */
static int code_of(const tl_codelist *list, const pj_val *v)
{
    int c = v->type == TL_MP_STR ? tl_code_parse(list, (const char *)v->p, v->len) : -1;
    return c < 0 ? -1 : c;
}

enum { C_CLASS, C_FIELD, C_BUYER, C_SELLER, C_REG_NO, C_TECH, C_TOTAL, C_BREGION, C_SREGION, C_REG_ON, C_CONF };

/* Fills ev->con for an event of a contract's stream: one pass over the data fields. As with
 * pj_field, the first field of a name counts (a stored record has no duplicates anyway). */
static void contract_fields(pj_event *ev)
{
    pj_contract_ev *c = &ev->con;
    memset(c, 0, sizeof *c);
    c->cls = c->field = c->conf = -1;
    pj_strv reg_no = {0};
    unsigned seen = 0;
    for (uint32_t i = 0; i < ev->nfields; i++) {
        const uint8_t *k = ev->f[i].key;
        uint32_t kl = ev->f[i].klen;
        const pj_val *v = &ev->f[i].v;
        int which = -1;
#define IS(name) key_eq(k, name, sizeof name - 1) /* kl is the case's, the name's length */
        switch (kl) {
        case 5: which = IS("class") ? C_CLASS : IS("field") ? C_FIELD : IS("buyer") ? C_BUYER : -1; break;
        case 6: which = IS("seller") ? C_SELLER : IS("reg_no") ? C_REG_NO : -1; break;
        case 8: which = IS("tech_fen") ? C_TECH : -1; break;
        case 9: which = IS("total_fen") ? C_TOTAL : -1; break;
        case 12: which = IS("buyer_region") ? C_BREGION : -1; break;
        case 13: which = IS("seller_region") ? C_SREGION : IS("registered_on") ? C_REG_ON : -1; break;
        case 15: which = IS("confidentiality") ? C_CONF : -1; break;
        default: break;
        }
#undef IS
        if (which < 0 || (seen & 1u << which))
            continue;
        seen |= 1u << which;
        pj_strv sv = v->type == TL_MP_STR ? (pj_strv){v->p, v->len} : (pj_strv){0};
        switch (which) {
        case C_CLASS: c->cls = code_of(&tl_codes_class, v); break;
        case C_FIELD: c->field = code_of(&tl_codes_field, v); break;
        case C_CONF: c->conf = code_of(&tl_codes_confidentiality, v); break;
        case C_BUYER: c->buyer = sv; break;
        case C_SELLER: c->seller = sv; break;
        case C_REG_NO: reg_no = sv; break;
        case C_BREGION: c->buyer_region = sv; break;
        case C_SREGION: c->seller_region = sv; break;
        case C_REG_ON: c->registered_on = sv; break;
        case C_TECH:
            c->has_tech = v->type == TL_MP_UINT;
            c->tech = c->has_tech ? v->u : 0;
            break;
        case C_TOTAL:
            c->has_total = v->type == TL_MP_UINT;
            c->total = c->has_total ? v->u : 0;
            break;
        default: break;
        }
    }
    if (ev->type == TL_EV_CONTRACT_REGISTERED) {
        c->keyed = reg_no.p != NULL && pj_reg_no_key(reg_no.p, reg_no.len, &c->key);
    } else {
        const uint8_t *id;
        size_t n;
        c->keyed = pj_stream_id(ev, &id, &n) && pj_reg_no_key(id, n, &c->key);
    }
}

int pj_decode(pj_event *ev, const uint8_t *rec, size_t len, tl_error *err)
{
    ev->seq = 0;
    ev->nfields = 0;
    ev->type = -1;
    ev->stream = NULL;
    ev->stream_len = 0;
    ev->con.keyed = false; /* the rest of con is filled for a contract's events only */
    cur c = {rec, rec + len};
    pj_val v, f[7];
    if (!head(&c, &v) || v.type != TL_MP_ARRAY || v.u != 7)
        return bad(err, 0);
    for (int i = 0; i < 7; i++)
        if (!head(&c, &f[i]) || !skip_rest(&c, &f[i], 1))
            return bad(err, 0);
    if (f[1].type != TL_MP_UINT || f[2].type != TL_MP_UINT || f[3].type != TL_MP_UINT ||
        f[4].type != TL_MP_BIN)
        return bad(err, 0);
    ev->seq = f[1].u;
    ev->recorded_ms = f[2].u;
    ev->version = f[3].u;
    ev->recorded_day = pj_beijing_day(ev->recorded_ms);

    cur b = {f[4].p, f[4].p + f[4].len};
    if (!head(&b, &v) || v.type != TL_MP_MAP)
        return bad(err, ev->seq);
    uint64_t pairs = v.u;
    const uint8_t *type = NULL;
    uint32_t type_len = 0;
    for (uint64_t i = 0; i < pairs; i++) {
        pj_val k, x = {0}; /* zeroed: the compiler cannot see that head sets x.p for a str */
        if (!head(&b, &k) || k.type != TL_MP_STR)
            return bad(err, ev->seq);
        /* The keys this reader wants, by length then one or two loads (the body's keys are
         * str, checked above, and len bytes of them are in the record). */
        enum { K_OTHER, K_DATA, K_STREAM, K_TYPE } which = K_OTHER;
        if (k.len == 4)
            which = key_eq(k.p, "data", 4) ? K_DATA : key_eq(k.p, "type", 4) ? K_TYPE : K_OTHER;
        else if (k.len == 6 && key_eq(k.p, "stream", 6))
            which = K_STREAM;
        if (which == K_DATA) {
            if (!head(&b, &x) || x.type != TL_MP_MAP)
                return bad(err, ev->seq);
            for (uint64_t j = 0; j < x.u; j++) {
                /* The value is read straight into its slot: reading it into a local and
                 * copying it over stalled on store forwarding (a wide load of the narrow
                 * stores head just made) and was the walker's hottest instruction. */
                pj_val dk, spare;
                pj_val *dv = ev->nfields < PJ_FIELDS_MAX ? &ev->f[ev->nfields].v : &spare;
                if (!head(&b, &dk) || dk.type != TL_MP_STR || !head(&b, dv))
                    return bad(err, ev->seq);
                if (dv->type == TL_MP_ARRAY || dv->type == TL_MP_MAP) {
                    /* Containers keep their encoded element bytes for the few folds that read
                     * them (e.g. achievements[]). */
                    const uint8_t *start = b.p;
                    if (!skip_rest(&b, dv, 2))
                        return bad(err, ev->seq);
                    dv->p = start;
                    dv->len = (uint32_t)(b.p - start);
                }
                if (dv != &spare) {
                    ev->f[ev->nfields].key = dk.p;
                    ev->f[ev->nfields].klen = dk.len;
                    ev->nfields++;
                }
            }
            continue;
        }
        if (!head(&b, &x) || !skip_rest(&b, &x, 1))
            return bad(err, ev->seq);
        if (which == K_STREAM && x.type == TL_MP_STR) {
            ev->stream = x.p;
            ev->stream_len = x.len;
        } else if (which == K_TYPE && x.type == TL_MP_STR) {
            type = x.p;
            type_len = x.len;
        }
    }
    if (type == NULL || ev->stream == NULL)
        return bad(err, ev->seq);
    /* Runs of records share a type: the last one's name is compared first (the schema's
     * lookup walks the type names, some 120 instructions a record). */
    if (ev->memo.name != NULL && ev->memo.len == type_len && memcmp(ev->memo.name, type, type_len) == 0) {
        ev->type = ev->memo.type;
    } else {
        const tl_event_spec *spec = tl_schema_for_type((const char *)type, type_len);
        ev->type = spec != NULL ? (int)spec->id : -1;
        if (spec != NULL)
            ev->memo = (pj_type_memo){spec->type, type_len, ev->type};
    }
    if (ev->type == TL_EV_CONTRACT_REGISTERED || ev->type == TL_EV_CONTRACT_AMENDED ||
        ev->type == TL_EV_CONTRACT_CANCELLED || ev->type == TL_EV_PAYMENT_RECEIVED)
        contract_fields(ev);
    return 0;
}

bool pj_date(const pj_event *ev, const char *name, int32_t *day)
{
    const uint8_t *p;
    size_t n;
    return pj_str(ev, name, &p, &n) && tl_date_parse(day, (const char *)p, n) == 0;
}

bool pj_stream_id(const pj_event *ev, const uint8_t **p, size_t *len)
{
    const uint8_t *slash = memchr(ev->stream, '/', ev->stream_len);
    if (slash == NULL)
        return false;
    *p = slash + 1;
    *len = ev->stream_len - (size_t)(slash + 1 - ev->stream);
    return *len > 0;
}
