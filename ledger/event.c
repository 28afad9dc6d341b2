/*
 * Envelopes, bodies and records; the byte layouts are described in tl_event.h and FORMAT.md
 * sections 3-5. Structural checks here; domain checks live in schema.c and rules.c.
 */
#include "tl_event.h"

#include <stdlib.h>
#include <string.h>

#include "tl_schema.h"

static bool stream_char_ok(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
           c == '/' || c == '-';
}

/* The body's field names, in canonical (bytewise) order. */
enum { F_DATA, F_EXPECT, F_ID, F_STREAM, F_TIME, F_TYPE, F_COUNT };
static const struct {
    const char *name;
    uint32_t len;
} body_field[F_COUNT] = {{"data", 4}, {"expect", 6}, {"id", 2}, {"stream", 6}, {"time", 4}, {"type", 4}};

/* The body map: data (map), expect? (uint), id (bin 16), stream (str), time (uint), type (str).
 * Keys are already known to be sorted and unique, so one walk that advances through the
 * names in the same order matches each key with a single comparison (every record runs it). */
static int body_fields(tl_event *ev, tl_error *err)
{
    const tl_mp_doc *d = &ev->doc;
    const tl_mp_node *top = &d->nodes[0];
    if (top->type != TL_MP_MAP)
        return tl_fail(err, TL_EINVAL, "body.type", "", "the event body must be a map");
    uint32_t at[F_COUNT] = {0};
    uint32_t k = tl_mp_first(0);
    for (uint32_t i = 0, f = 0; i < top->count; i++) {
        const tl_mp_node *key = &d->nodes[k];
        while (f < F_COUNT && !(key->v.s.len == body_field[f].len &&
                                memcmp(key->v.s.ptr, body_field[f].name, body_field[f].len) == 0))
            f++;
        if (f == F_COUNT)
            return tl_fail(err, TL_EINVAL, "body.unknown_field", "", "unknown body field '%.*s'",
                           (int)(key->v.s.len > 64 ? 64 : key->v.s.len), (const char *)key->v.s.ptr);
        at[f] = k + 1;
        k = tl_mp_next(d, k + 1);
    }
    uint32_t data = at[F_DATA], expect = at[F_EXPECT], id = at[F_ID], stream = at[F_STREAM],
             time = at[F_TIME], type = at[F_TYPE];
    if (data == 0)
        return tl_fail(err, TL_EINVAL, "body.required", "data", "the body has no data");
    if (d->nodes[data].type != TL_MP_MAP)
        return tl_fail(err, TL_EINVAL, "body.type_mismatch", "data", "data must be a map");
    if (id == 0)
        return tl_fail(err, TL_EINVAL, "body.required", "id", "the body has no id");
    if (d->nodes[id].type != TL_MP_BIN || d->nodes[id].v.s.len != TL_EVENT_ID_BYTES)
        return tl_fail(err, TL_EINVAL, "body.type_mismatch", "id", "id must be bin of 16 bytes");
    if (stream == 0)
        return tl_fail(err, TL_EINVAL, "body.required", "stream", "the body has no stream");
    const tl_mp_node *s = &d->nodes[stream];
    if (s->type != TL_MP_STR)
        return tl_fail(err, TL_EINVAL, "body.type_mismatch", "stream", "stream must be str");
    if (s->v.s.len < 1 || s->v.s.len > TL_STREAM_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "body.stream", "stream", "stream must be 1..%u bytes",
                       TL_STREAM_BYTES_MAX);
    for (uint32_t i = 0; i < s->v.s.len; i++)
        if (!stream_char_ok(s->v.s.ptr[i]))
            return tl_fail(err, TL_EINVAL, "body.stream", "stream",
                           "stream may hold only [a-z0-9._:/-] (byte %u is not allowed)", i);
    if (time == 0)
        return tl_fail(err, TL_EINVAL, "body.required", "time", "the body has no time");
    if (d->nodes[time].type != TL_MP_UINT)
        return tl_fail(err, TL_EINVAL, "body.type_mismatch", "time", "time must be uint milliseconds");
    if (type == 0)
        return tl_fail(err, TL_EINVAL, "body.required", "type", "the body has no type");
    const tl_mp_node *t = &d->nodes[type];
    if (t->type != TL_MP_STR)
        return tl_fail(err, TL_EINVAL, "body.type_mismatch", "type", "type must be str");
    if (t->v.s.len < 1 || t->v.s.len > TL_TYPE_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "body.event_type", "type", "type must be 1..%u bytes",
                       TL_TYPE_BYTES_MAX);
    if (expect != 0 && d->nodes[expect].type != TL_MP_UINT)
        return tl_fail(err, TL_EINVAL, "body.type_mismatch", "expect", "expect must be uint");
    ev->data = data;
    memcpy(ev->id, d->nodes[id].v.s.ptr, TL_EVENT_ID_BYTES);
    memcpy(ev->stream, s->v.s.ptr, s->v.s.len);
    ev->stream[s->v.s.len] = '\0';
    ev->stream_len = s->v.s.len;
    memcpy(ev->type, t->v.s.ptr, t->v.s.len);
    ev->type[t->v.s.len] = '\0';
    ev->time_ms = d->nodes[time].v.u;
    ev->has_expect = expect != 0;
    ev->expect = expect != 0 ? d->nodes[expect].v.u : 0;
    return 0;
}

/* Both ways of making an event from its parts; `borrow` keeps the caller's body bytes, and
 * nodes (may be NULL) is where the parsed body goes first (tl_mp_parse_into). */
static int event_from_parts(tl_event *ev, const uint8_t *body, size_t body_len, const uint8_t key[TL_PUBKEY_BYTES],
                            const uint8_t sig[TL_SIG_BYTES], bool borrow, tl_mp_node *nodes, uint32_t cap,
                            tl_error *err)
{
    memset(ev, 0, sizeof *ev);
    if (body_len > TL_BODY_BYTES_MAX)
        return tl_fail(err, TL_ETOOBIG, "body.size", "", "the body is %zu bytes; at most %u allowed",
                       body_len, TL_BODY_BYTES_MAX);
    if (borrow) {
        ev->body = (uint8_t *)body;
        ev->body_borrowed = true;
    } else {
        ev->body = malloc(body_len ? body_len : 1);
        if (ev->body == NULL)
            return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        memcpy(ev->body, body, body_len);
    }
    ev->body_len = body_len;
    memcpy(ev->key, key, TL_PUBKEY_BYTES);
    memcpy(ev->sig, sig, TL_SIG_BYTES);
    int rc = tl_mp_parse_into(&ev->doc, nodes, cap, ev->body, body_len, "", err);
    if (rc == 0)
        rc = body_fields(ev, err);
    if (rc != 0)
        tl_event_free(ev);
    return rc;
}

int tl_event_from_parts(tl_event *ev, const uint8_t *body, size_t body_len,
                        const uint8_t key[TL_PUBKEY_BYTES], const uint8_t sig[TL_SIG_BYTES],
                        tl_error *err)
{
    return event_from_parts(ev, body, body_len, key, sig, false, NULL, 0, err);
}

int tl_event_borrow_parts(tl_event *ev, const uint8_t *body, size_t body_len,
                          const uint8_t key[TL_PUBKEY_BYTES], const uint8_t sig[TL_SIG_BYTES],
                          tl_mp_node *nodes, uint32_t cap, tl_error *err)
{
    return event_from_parts(ev, body, body_len, key, sig, true, nodes, cap, err);
}

void tl_event_free(tl_event *ev)
{
    tl_mp_doc_free(&ev->doc);
    if (!ev->body_borrowed)
        free(ev->body);
    memset(ev, 0, sizeof *ev);
}

/* The outer array of an envelope: [1, body, key, sig], already parsed in d. */
static int envelope_parts(const tl_mp_doc *d, uint32_t at, const uint8_t **body, size_t *body_len,
                          const uint8_t **key, const uint8_t **sig, tl_error *err)
{
    const tl_mp_node *a = &d->nodes[at];
    if (a->type != TL_MP_ARRAY || a->count != 4)
        return tl_fail(err, TL_EINVAL, "envelope.shape", "envelope",
                       "an envelope is an array of 4: [1, body, key, sig]");
    uint32_t v = tl_mp_first(at);
    uint32_t b = tl_mp_next(d, v), k = tl_mp_next(d, b), s = tl_mp_next(d, k);
    if (d->nodes[v].type != TL_MP_UINT || d->nodes[v].v.u != TL_FORMAT_VERSION)
        return tl_fail(err, TL_EINVAL, "envelope.version", "envelope[0]",
                       "unsupported format version (this ledger speaks version 1)");
    if (d->nodes[b].type != TL_MP_BIN)
        return tl_fail(err, TL_EINVAL, "envelope.body", "envelope[1]", "body must be bin");
    if (d->nodes[b].v.s.len > TL_BODY_BYTES_MAX)
        return tl_fail(err, TL_ETOOBIG, "body.size", "envelope[1]",
                       "the body is %u bytes; at most %u allowed", d->nodes[b].v.s.len, TL_BODY_BYTES_MAX);
    if (d->nodes[k].type != TL_MP_BIN || d->nodes[k].v.s.len != TL_PUBKEY_BYTES)
        return tl_fail(err, TL_EINVAL, "envelope.key", "envelope[2]", "key must be bin of 32 bytes");
    if (d->nodes[s].type != TL_MP_BIN || d->nodes[s].v.s.len != TL_SIG_BYTES)
        return tl_fail(err, TL_EINVAL, "envelope.sig", "envelope[3]", "sig must be bin of 64 bytes");
    *body = d->nodes[b].v.s.ptr;
    *body_len = d->nodes[b].v.s.len;
    *key = d->nodes[k].v.s.ptr;
    *sig = d->nodes[s].v.s.ptr;
    return 0;
}

/* A well-formed envelope is 5 nodes: the array and its four elements. */
#define ENVELOPE_NODES 5u

/* Decodes an envelope into ev: a copy of the body, or (borrow) the caller's bytes and nodes. */
static int envelope_decode(tl_event *ev, const uint8_t *buf, size_t len, bool borrow, tl_mp_node *nodes,
                           uint32_t cap, tl_error *err)
{
    memset(ev, 0, sizeof *ev);
    if (len > TL_BODY_BYTES_MAX + 128)
        return tl_fail(err, TL_ETOOBIG, "envelope.size", "envelope", "the envelope is %zu bytes; too large",
                       len);
    tl_mp_doc d;
    tl_mp_node outer[ENVELOPE_NODES]; /* no allocation for a well-formed envelope */
    int rc = tl_mp_parse_into(&d, outer, ENVELOPE_NODES, buf, len, "envelope", err);
    if (rc != 0)
        return rc;
    const uint8_t *body = NULL, *key = NULL, *sig = NULL;
    size_t body_len = 0;
    rc = envelope_parts(&d, 0, &body, &body_len, &key, &sig, err);
    if (rc == 0)
        rc = event_from_parts(ev, body, body_len, key, sig, borrow, nodes, cap, err);
    tl_mp_doc_free(&d);
    return rc;
}

int tl_envelope_decode(tl_event *ev, const uint8_t *buf, size_t len, tl_error *err)
{
    return envelope_decode(ev, buf, len, false, NULL, 0, err);
}

int tl_event_check(const tl_event *ev, tl_error *err)
{
    if (!tl_event_verify(ev->sig, ev->body, ev->body_len, ev->key))
        return tl_fail(err, TL_ESIG, "signature.invalid", "sig",
                       "the signature does not verify for this body and key");
    return tl_schema_check(&ev->doc, ev->data, ev->type, strlen(ev->type), ev->stream, ev->stream_len,
                           err);
}

static int event_prepare(tl_event *ev, const uint8_t *envelope, size_t len, bool borrow, tl_mp_node *nodes,
                         uint32_t cap, tl_error *err)
{
    int rc = envelope_decode(ev, envelope, len, borrow, nodes, cap, err);
    if (rc != 0)
        return rc;
    rc = tl_event_check(ev, err);
    if (rc != 0)
        tl_event_free(ev);
    return rc;
}

int tl_event_prepare(tl_event *ev, const uint8_t *envelope, size_t len, tl_error *err)
{
    return event_prepare(ev, envelope, len, false, NULL, 0, err);
}

int tl_event_prepare_borrow(tl_event *ev, const uint8_t *envelope, size_t len, tl_mp_node *nodes, uint32_t cap,
                            tl_error *err)
{
    return event_prepare(ev, envelope, len, true, nodes, cap, err);
}

int tl_submission_split(tl_span **spans, size_t *n, bool *is_batch, const uint8_t *buf, size_t len,
                        tl_error *err)
{
    *spans = NULL;
    *n = 0;
    *is_batch = false;
    if (len > TL_BATCH_BYTES_MAX)
        return tl_fail(err, TL_ETOOBIG, "batch.size", "", "the submission is %zu bytes; at most %u allowed",
                       len, TL_BATCH_BYTES_MAX);
    tl_mp_doc d;
    tl_mp_node single[ENVELOPE_NODES]; /* a lone envelope needs no allocation; a batch allocates */
    int rc = tl_mp_parse_into(&d, single, ENVELOPE_NODES, buf, len, "", err);
    if (rc != 0)
        return rc;
    const tl_mp_node *top = &d.nodes[0];
    if (top->type != TL_MP_ARRAY || top->count == 0) {
        tl_mp_doc_free(&d);
        return tl_fail(err, TL_EINVAL, "envelope.shape", "",
                       "expected an envelope [1, body, key, sig] or a non-empty array of envelopes");
    }
    uint32_t first = tl_mp_first(0);
    *is_batch = d.nodes[first].type == TL_MP_ARRAY;
    if (*is_batch && top->count > TL_BATCH_EVENTS_MAX) {
        tl_mp_doc_free(&d);
        return tl_fail(err, TL_ETOOBIG, "batch.count", "", "the batch holds %u envelopes; at most %u allowed",
                       top->count, TL_BATCH_EVENTS_MAX);
    }
    size_t count = *is_batch ? top->count : 1;
    tl_span *out = calloc(count, sizeof *out);
    if (out == NULL) {
        tl_mp_doc_free(&d);
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    }
    if (!*is_batch) {
        out[0] = (tl_span){buf, len};
    } else {
        /* Byte offsets of each element come from walking the concatenated encodings. */
        size_t header = buf[0] <= 0x9f ? 1 : buf[0] == 0xdc ? 3 : 5; /* fixarray, array16, array32 */
        const uint8_t *p = buf + header;
        for (size_t i = 0; i < count; i++) {
            size_t el = tl_mp_object_len(p, (size_t)(buf + len - p));
            if (el == 0) { /* cannot happen after a successful parse */
                free(out);
                tl_mp_doc_free(&d);
                return tl_fail(err, TL_EINVAL, "envelope.shape", "", "malformed batch");
            }
            out[i] = (tl_span){p, el};
            p += el;
        }
    }
    tl_mp_doc_free(&d);
    *spans = out;
    *n = count;
    return 0;
}

int tl_record_decode(tl_record *out, const uint8_t *buf, size_t len, tl_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > TL_RECORD_BYTES_MAX)
        return tl_fail(err, TL_ETOOBIG, "record.size", "record", "record of %zu bytes is too large", len);
    tl_mp_doc d;
    tl_mp_node nodes[8]; /* a well-formed record has exactly 8: no allocation */
    int rc = tl_mp_parse_into(&d, nodes, 8, buf, len, "record", err);
    if (rc != 0)
        return rc;
    const tl_mp_node *a = &d.nodes[0];
    if (a->type != TL_MP_ARRAY || a->count != 7)
        goto shape;
    uint32_t i = tl_mp_first(0);
    const tl_mp_node *f[7];
    for (int k = 0; k < 7; k++, i = tl_mp_next(&d, i))
        f[k] = &d.nodes[i];
    if (f[0]->type != TL_MP_UINT || f[0]->v.u != TL_FORMAT_VERSION || f[1]->type != TL_MP_UINT ||
        f[2]->type != TL_MP_UINT || f[3]->type != TL_MP_UINT || f[4]->type != TL_MP_BIN ||
        f[5]->type != TL_MP_BIN || f[5]->v.s.len != TL_PUBKEY_BYTES || f[6]->type != TL_MP_BIN ||
        f[6]->v.s.len != TL_SIG_BYTES)
        goto shape;
    if (f[3]->v.u == 0) {
        rc = tl_fail(err, TL_EINVAL, "record.version", "record[3]", "stream versions start at 1");
        goto done;
    }
    /* Pointers refer into buf (the nodes do), so they stay valid after the document is freed. */
    out->seq = f[1]->v.u;
    out->recorded_ms = f[2]->v.u;
    out->version = f[3]->v.u;
    out->body = f[4]->v.s.ptr;
    out->body_len = f[4]->v.s.len;
    out->key = f[5]->v.s.ptr;
    out->sig = f[6]->v.s.ptr;
    rc = 0;
    goto done;
shape: /* formatted only here: decoding runs once per record, and failures are rare */
    rc = tl_fail(err, TL_EINVAL, "record.shape", "record",
                 "a record is [1, seq, recorded, version, body, key, sig]");
done:
    tl_mp_doc_free(&d);
    return rc;
}

int tl_record_encode(tl_buf *out, const tl_record *r)
{
    tl_mp_writer w;
    tl_mp_writer_init(&w, out);
    tl_mp_array(&w, 7);
    tl_mp_uint(&w, TL_FORMAT_VERSION);
    tl_mp_uint(&w, r->seq);
    tl_mp_uint(&w, r->recorded_ms);
    tl_mp_uint(&w, r->version);
    tl_mp_bin(&w, r->body, r->body_len);
    tl_mp_bin(&w, r->key, TL_PUBKEY_BYTES);
    tl_mp_bin(&w, r->sig, TL_SIG_BYTES);
    return w.failed ? TL_ENOMEM : 0;
}

int tl_body_encode(tl_buf *out, const tl_event_draft *dr)
{
    tl_mp_writer w;
    tl_mp_writer_init(&w, out);
    tl_mp_map(&w, dr->has_expect ? 6 : 5);
    tl_mp_key(&w, "data");
    if (tl_buf_append(out, dr->data, dr->data_len) != 0)
        return TL_ENOMEM;
    if (dr->has_expect) {
        tl_mp_key(&w, "expect");
        tl_mp_uint(&w, dr->expect);
    }
    tl_mp_key(&w, "id");
    tl_mp_bin(&w, dr->id, TL_EVENT_ID_BYTES);
    tl_mp_key(&w, "stream");
    tl_mp_str(&w, dr->stream);
    tl_mp_key(&w, "time");
    tl_mp_uint(&w, dr->time_ms);
    tl_mp_key(&w, "type");
    tl_mp_str(&w, dr->type);
    return w.failed ? TL_ENOMEM : 0;
}

int tl_envelope_wrap(tl_buf *out, const uint8_t *body, size_t body_len, const uint8_t key[TL_PUBKEY_BYTES],
                     const uint8_t sig[TL_SIG_BYTES])
{
    tl_mp_writer w;
    tl_mp_writer_init(&w, out);
    tl_mp_array(&w, 4);
    tl_mp_uint(&w, TL_FORMAT_VERSION);
    tl_mp_bin(&w, body, body_len);
    tl_mp_bin(&w, key, TL_PUBKEY_BYTES);
    tl_mp_bin(&w, sig, TL_SIG_BYTES);
    return w.failed ? TL_ENOMEM : 0;
}

int tl_envelope_build(tl_buf *out, const tl_event_draft *d, const tl_keypair *kp)
{
    tl_buf body;
    tl_buf_init(&body);
    int rc = tl_body_encode(&body, d);
    if (rc == 0 && body.len > TL_BODY_BYTES_MAX)
        rc = TL_ETOOBIG;
    if (rc == 0) {
        uint8_t sig[TL_SIG_BYTES];
        tl_event_sign(sig, body.data, body.len, kp);
        rc = tl_envelope_wrap(out, body.data, body.len, kp->pk, sig);
    }
    tl_buf_free(&body);
    return rc;
}
