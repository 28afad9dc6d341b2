/*
 * A lean walker over stored records for the projection workers.
 *
 * Records in the log were decoded strictly, signature-checked and schema-checked when they were
 * appended, so rebuilding views must not pay for that again: this reader does one pass over the
 * record bytes with no allocation, remembering where the body's `type`, `stream` and each
 * `data` field sit. It still checks every length against the bytes that remain (a damaged store
 * must not make it read out of bounds); it does not check canonical form.
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

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
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

/* Reads one header. For scalars fills *v. For containers sets v->type and v->u = count.
 * Inline, with the forms most of a record is made of (short strings: the keys and most
 * values; small uints) decided here, since a record has some forty headers. */
static inline bool head(cur *c, pj_val *v)
{
    if (!need(c, 1))
        return false;
    uint8_t b = *c->p++;
    *v = (pj_val){0};
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

static bool key_is(const pj_val *k, const char *s, size_t n)
{
    return k->type == TL_MP_STR && k->len == n && memcmp(k->p, s, n) == 0;
}

int pj_decode(pj_event *ev, const uint8_t *rec, size_t len, tl_error *err)
{
    ev->seq = 0;
    ev->nfields = 0;
    ev->type = -1;
    ev->stream = NULL;
    ev->stream_len = 0;
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
        pj_val k, x;
        if (!head(&b, &k))
            return bad(err, ev->seq);
        if (key_is(&k, "data", 4)) {
            if (!head(&b, &x) || x.type != TL_MP_MAP)
                return bad(err, ev->seq);
            for (uint64_t j = 0; j < x.u; j++) {
                pj_val dk, dv;
                if (!head(&b, &dk) || dk.type != TL_MP_STR || !head(&b, &dv))
                    return bad(err, ev->seq);
                const uint8_t *start = b.p;
                if (!skip_rest(&b, &dv, 2))
                    return bad(err, ev->seq);
                if (dv.type == TL_MP_ARRAY || dv.type == TL_MP_MAP) {
                    /* Containers keep their encoded element bytes for the few folds that read
                     * them (e.g. achievements[]). */
                    dv.p = start;
                    dv.len = (uint32_t)(b.p - start);
                }
                if (ev->nfields < PJ_FIELDS_MAX) {
                    ev->f[ev->nfields].key = dk.p;
                    ev->f[ev->nfields].klen = dk.len;
                    ev->f[ev->nfields].v = dv;
                    ev->nfields++;
                }
            }
            continue;
        }
        if (!head(&b, &x) || !skip_rest(&b, &x, 1))
            return bad(err, ev->seq);
        if (key_is(&k, "stream", 6) && x.type == TL_MP_STR) {
            ev->stream = x.p;
            ev->stream_len = x.len;
        } else if (key_is(&k, "type", 4) && x.type == TL_MP_STR) {
            type = x.p;
            type_len = x.len;
        }
    }
    if (type == NULL || ev->stream == NULL)
        return bad(err, ev->seq);
    const tl_event_spec *spec = tl_schema_for_type((const char *)type, type_len);
    ev->type = spec != NULL ? (int)spec->id : -1;
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
