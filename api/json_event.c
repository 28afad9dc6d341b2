/* JSON <-> event bodies; see tl_json_event.h. */
#include "tl_json_event.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tl_schema.h"

/* Is data.<name> (or its array elements) an Ed25519 key in this event type? */
static bool field_is_key(const tl_event_spec *spec, const char *name)
{
    if (spec == NULL)
        return false;
    for (size_t i = 0; i < spec->field_count; i++)
        if (strcmp(spec->fields[i].name, name) == 0)
            return spec->fields[i].type == TL_FT_KEY;
    return false;
}

static int bytes_from_text(uint8_t *out, size_t n, const char *s, const char *path, tl_error *err)
{
    size_t len = strlen(s), got = 0;
    if (len == 2 * n && tl_hex_decode(out, n, s, len) == 0)
        return 0;
    uint8_t tmp[256];
    if (n <= sizeof tmp && tl_base64_decode(tmp, sizeof tmp, &got, s, len) == 0 && got == n) {
        memcpy(out, tmp, n);
        return 0;
    }
    return tl_fail(err, TL_EINVAL, "json.bytes", path, "expected %zu bytes as %zu hex digits or base64", n, 2 * n);
}

static int cmp_keys(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    return strcmp(x, y); /* keys are UTF-8 without NUL: strcmp is bytewise order */
}

static int pack(tl_mp_writer *w, const json_t *v, bool as_key, const char *path, tl_error *err);

static int pack_object(tl_mp_writer *w, const json_t *obj, const tl_event_spec *spec, const char *path,
                       tl_error *err)
{
    size_t n = json_object_size(obj);
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    if (keys == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    size_t i = 0;
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)obj, k, val) keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_keys);
    tl_mp_map(w, (uint32_t)n);
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        char sub[TL_ERROR_PATH_BYTES];
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", keys[i]);
        tl_mp_key(w, keys[i]);
        rc = pack(w, json_object_get(obj, keys[i]), field_is_key(spec, keys[i]), sub, err);
    }
    free(keys);
    return rc;
}

static int pack(tl_mp_writer *w, const json_t *v, bool as_key, const char *path, tl_error *err)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return pack_object(w, v, NULL, path, err);
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        tl_mp_array(w, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            char sub[TL_ERROR_PATH_BYTES];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            int rc = pack(w, json_array_get(v, i), as_key, sub, err);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case JSON_STRING:
        if (as_key) {
            uint8_t key[TL_PUBKEY_BYTES];
            int rc = bytes_from_text(key, sizeof key, json_string_value(v), path, err);
            if (rc == 0)
                tl_mp_bin(w, key, sizeof key);
            return rc;
        }
        tl_mp_strn(w, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            msgpack_pack_int64(&w->pk, i);
        else
            tl_mp_uint(w, (uint64_t)i);
        return 0;
    }
    case JSON_TRUE:
        tl_mp_bool(w, true);
        return 0;
    case JSON_FALSE:
        tl_mp_bool(w, false);
        return 0;
    case JSON_REAL:
        return tl_fail(err, TL_EINVAL, "json.real", path, "numbers must be integers (money is whole fen)");
    case JSON_NULL:
    default:
        return tl_fail(err, TL_EINVAL, "json.null", path, "null is not allowed; leave an absent field out");
    }
}

int tl_json_event_data(tl_buf *out, const char *type, const json_t *data, tl_error *err)
{
    if (!json_is_object(data))
        return tl_fail(err, TL_EINVAL, "json.data", "data", "data must be an object");
    tl_mp_writer w;
    tl_mp_writer_init(&w, out);
    int rc = pack_object(&w, data, tl_schema_for_type(type, strlen(type)), "data", err);
    if (rc == 0 && w.failed)
        rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    return rc;
}

int tl_json_envelope(tl_buf *out, const json_t *event, const tl_keypair *kp, uint64_t now_ms, tl_error *err)
{
    if (!json_is_object(event))
        return tl_fail(err, TL_EINVAL, "json.event", "", "an event must be a JSON object");
    const json_t *type = json_object_get(event, "type"), *stream = json_object_get(event, "stream");
    const json_t *data = json_object_get(event, "data"), *id = json_object_get(event, "id");
    const json_t *time = json_object_get(event, "time"), *expect = json_object_get(event, "expect");
    if (!json_is_string(type))
        return tl_fail(err, TL_EINVAL, "json.required", "type", "the event needs a string \"type\"");
    if (!json_is_string(stream))
        return tl_fail(err, TL_EINVAL, "json.required", "stream", "the event needs a string \"stream\"");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)event, k, v)
    {
        if (strcmp(k, "type") && strcmp(k, "stream") && strcmp(k, "data") && strcmp(k, "id") && strcmp(k, "time") &&
            strcmp(k, "expect"))
            return tl_fail(err, TL_EINVAL, "json.unknown_field", k, "unknown event field \"%s\"", k);
    }
    tl_event_draft d = {.type = json_string_value(type), .stream = json_string_value(stream), .time_ms = now_ms};
    if (id != NULL) {
        if (!json_is_string(id))
            return tl_fail(err, TL_EINVAL, "json.bytes", "id", "id must be 32 hex digits or base64 of 16 bytes");
        int rc = bytes_from_text(d.id, sizeof d.id, json_string_value(id), "id", err);
        if (rc != 0)
            return rc;
    } else {
        tl_random_bytes(d.id, sizeof d.id);
    }
    if (time != NULL) {
        if (!json_is_integer(time) || json_integer_value(time) < 0)
            return tl_fail(err, TL_EINVAL, "json.time", "time", "time must be milliseconds since the epoch");
        d.time_ms = (uint64_t)json_integer_value(time);
    }
    if (expect != NULL) {
        if (!json_is_integer(expect) || json_integer_value(expect) < 0)
            return tl_fail(err, TL_EINVAL, "json.expect", "expect", "expect must be a stream version (uint)");
        d.has_expect = true;
        d.expect = (uint64_t)json_integer_value(expect);
    }
    tl_buf dbuf;
    tl_buf_init(&dbuf);
    json_t *empty = data ? NULL : json_object(); /* an absent data is {}; ours to release */
    int rc = tl_json_event_data(&dbuf, d.type, data ? data : empty, err);
    json_decref(empty);
    if (rc == 0) {
        d.data = dbuf.data;
        d.data_len = dbuf.len;
        rc = tl_envelope_build(out, &d, kp);
        if (rc != 0)
            rc = tl_fail(err, rc, rc == TL_ETOOBIG ? "body.size" : "memory", "", "cannot build the envelope");
    }
    tl_buf_free(&dbuf);
    return rc;
}

json_t *tl_mp_to_json(const tl_mp_doc *doc, uint32_t i)
{
    const tl_mp_node *n = &doc->nodes[i];
    switch (n->type) {
    case TL_MP_UINT:
        /* jansson integers are signed 64-bit; amounts are far below 2^63 (TL_AMOUNT_FEN_MAX),
         * anything larger is shown as a decimal string rather than wrapped. */
        if (n->v.u > (uint64_t)INT64_MAX) {
            char s[24];
            snprintf(s, sizeof s, "%llu", (unsigned long long)n->v.u);
            return json_string(s);
        }
        return json_integer((json_int_t)n->v.u);
    case TL_MP_INT:
        return json_integer((json_int_t)n->v.i);
    case TL_MP_BOOL:
        return json_boolean(n->v.b);
    case TL_MP_STR:
        return json_stringn((const char *)n->v.s.ptr, n->v.s.len);
    case TL_MP_BIN: {
        size_t blen = tl_base64_len(n->v.s.len);
        char *b = malloc(blen);
        if (b == NULL)
            return NULL;
        tl_base64_encode(b, n->v.s.ptr, n->v.s.len);
        json_t *s = json_string(b);
        free(b);
        return s;
    }
    case TL_MP_ARRAY: {
        json_t *a = json_array();
        uint32_t c = tl_mp_first(i);
        for (uint32_t k = 0; a != NULL && k < n->count; k++, c = tl_mp_next(doc, c))
            json_array_append_new(a, tl_mp_to_json(doc, c));
        return a;
    }
    case TL_MP_MAP: {
        json_t *o = json_object();
        uint32_t c = tl_mp_first(i);
        for (uint32_t k = 0; o != NULL && k < n->count; k++) {
            uint32_t val = tl_mp_next(doc, c);
            char key[256];
            uint32_t kl = doc->nodes[c].v.s.len < sizeof key - 1 ? doc->nodes[c].v.s.len : (uint32_t)sizeof key - 1;
            memcpy(key, doc->nodes[c].v.s.ptr, kl);
            key[kl] = '\0';
            json_object_set_new(o, key, tl_mp_to_json(doc, val));
            c = tl_mp_next(doc, val);
        }
        return o;
    }
    default:
        return json_null();
    }
}
