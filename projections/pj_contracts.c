/*
 * contracts/<reg_no>: a contract's history, read straight from the log's stream index
 * (tl_ledger_stream_scan), so it is always current and needs no projection state. The caller
 * (the HTTP API) attaches an inclusion proof to each event by its seq.
 */
#include <stdio.h>
#include <string.h>

#include "pj_internal.h"

typedef struct collect {
    json_t *events;
    int conf; /* from contract.registered; public when absent */
    tl_error *err;
} collect;

static int on_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    collect *c = ctx;
    if (json_array_size(c->events) >= TL_VIEWS_ROWS_MAX)
        return 1;
    tl_record r;
    int rc = tl_record_decode(&r, rec, len, c->err);
    if (rc != 0)
        return rc;
    tl_mp_doc doc;
    if ((rc = tl_mp_parse(&doc, r.body, r.body_len, "body", c->err)) != 0)
        return rc;
    json_t *ev = json_object();
    json_object_set_new(ev, "seq", json_integer((json_int_t)seq));
    json_object_set_new(ev, "version", json_integer((json_int_t)r.version));
    json_object_set_new(ev, "recorded", json_integer((json_int_t)r.recorded_ms));
    uint32_t t = tl_mp_map_get(&doc, 0, "type");
    uint32_t d = tl_mp_map_get(&doc, 0, "data");
    json_object_set_new(ev, "type", t ? pj_json_strn(doc.nodes[t].v.s.ptr, doc.nodes[t].v.s.len) : json_null());
    json_object_set_new(ev, "data", d ? pj_mp_to_json(&doc, d) : json_null());
    if (t && tl_mp_str_eq(&doc, t, "contract.registered") && d) {
        uint32_t cf = tl_mp_map_get(&doc, d, "confidentiality");
        if (cf) {
            int code = tl_code_parse(&tl_codes_confidentiality, (const char *)doc.nodes[cf].v.s.ptr,
                                     doc.nodes[cf].v.s.len);
            c->conf = code < 0 ? TL_CONF_STATE_SECRET : code;
        }
    }
    tl_mp_doc_free(&doc);
    json_array_append_new(c->events, ev);
    return 0;
}

int tl_view_contract(json_t **out, tl_views *v, tl_access access, const char *reg_no, tl_error *err)
{
    *out = NULL;
    if (reg_no == NULL || !tl_reg_no_valid(reg_no, strlen(reg_no)))
        return tl_fail(err, TL_EINVAL, "view.param", "reg_no", "a registration number is 16 digits");
    char stream[TL_STREAM_BYTES_MAX + 1];
    int n = snprintf(stream, sizeof stream, "contract/%s", reg_no);
    tl_ledger *l = pj_views_ledger(v);
    uint64_t pos = tl_ledger_size(l);
    collect c = {.events = json_array(), .conf = TL_CONF_PUBLIC, .err = err};
    int rc = tl_ledger_stream_scan(l, stream, (size_t)n, 0, 0, on_record, &c, err);
    if (rc == 1)
        rc = 0; /* the row limit */
    if (rc != 0) {
        json_decref(c.events);
        return rc;
    }
    if (json_array_size(c.events) == 0) {
        json_decref(c.events);
        return tl_fail(err, TL_ENOTFOUND, "view.not_found", "reg_no", "no contract %s in the log", reg_no);
    }
    bool redact = c.conf != TL_CONF_PUBLIC && access != TL_ACCESS_AUDITOR && access != TL_ACCESS_STATISTICS;
    if (redact) {
        size_t i;
        json_t *ev;
        json_array_foreach(c.events, i, ev)
        {
            json_object_del(ev, "data");
            json_object_set_new(ev, "redacted", json_true());
        }
    }
    json_t *res = json_object();
    json_object_set_new(res, "reg_no", json_string(reg_no));
    json_object_set_new(res, "events", c.events);
    json_object_set_new(res, "position", json_integer((json_int_t)pos));
    *out = res;
    return 0;
}
