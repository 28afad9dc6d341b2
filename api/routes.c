/*
 * The read routes: records, streams, checkpoints, proofs, health, metrics and the
 * dashboard (FORMAT.md section 11). Each runs on its connection's loop and does a bounded
 * amount of work: at most TL_API_LIST_MAX records per page, O(log n) reads per proof. Views
 * have their own file (views.c). Every handler fills exactly one api_reply; server.c sends it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tl_web_assets.h"

static tl_server *srv_of(api_req *rq) { return rq->loop->srv; }

/* ---------- records ---------- */

typedef struct list_ctx {
    api_req *rq;
    json_t *arr;
    uint64_t proof_size;
    uint64_t last_seq;
    uint64_t last_version;
    size_t count;
    int rc;
    tl_error *err;
} list_ctx;

static int list_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    list_ctx *c = ctx;
    tl_server *s = srv_of(c->rq);
    tl_record r;
    c->rc = tl_record_decode(&r, rec, len, c->err);
    json_t *j = NULL;
    if (c->rc == 0)
        c->rc = tl_api_record_json(&j, s->l, s->secrets, c->rq->access, rec, len, c->proof_size, c->err);
    if (c->rc != 0)
        return 1;
    json_array_append_new(c->arr, j);
    c->last_seq = seq;
    c->last_version = r.version;
    c->count++;
    return 0;
}

static uint64_t limit_of(const api_query *q, api_reply *rep, bool *bad)
{
    uint64_t limit;
    bool present;
    tl_error err;
    *bad = false;
    if (api_query_u64(q, "limit", 1, TL_API_LIST_MAX, &limit, &present, &err) != 0) {
        api_reply_tl_error(rep, &err);
        *bad = true;
        return 0;
    }
    return present ? limit : TL_API_LIST_DEFAULT;
}

void api_handle_events_list(api_req *rq, const api_query *q, api_reply *rep)
{
    tl_server *s = srv_of(rq);
    tl_error err;
    tl_error_clear(&err);
    uint64_t after;
    bool has_after, bad;
    if (api_query_u64(q, "after", 0, UINT64_MAX - 1, &after, &has_after, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    uint64_t limit = limit_of(q, rep, &bad);
    if (bad)
        return;
    uint64_t size = tl_ledger_size(s->l);
    uint64_t from = has_after ? after + 1 : 0;
    list_ctx c = {.rq = rq, .arr = json_array(), .err = &err};
    if (c.arr == NULL) {
        api_reply_json(rep, 500, NULL);
        return;
    }
    int rc = 0;
    if (from < size)
        rc = tl_ledger_scan(s->l, from, from + limit < size ? from + limit : size, list_record, &c, &err);
    if (c.rc != 0 || rc < 0) {
        json_decref(c.arr);
        api_reply_tl_error(rep, &err);
        return;
    }
    json_t *j = json_pack("{s:o,s:I,s:o,s:b}", "events", c.arr, "size", (json_int_t)size, "next",
                          c.count ? json_integer((json_int_t)c.last_seq) : json_null(), "more",
                          c.count > 0 && c.last_seq + 1 < size);
    api_reply_json(rep, 200, j);
}

static int parse_seq(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 20 || strspn(s, "0123456789") != n)
        return TL_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return TL_EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

void api_handle_event(api_req *rq, const char *sub, const api_query *q, api_reply *rep)
{
    tl_server *s = srv_of(rq);
    tl_error err;
    tl_error_clear(&err);
    uint64_t seq;
    if (parse_seq(sub, &seq) != 0) {
        api_reply_error(rep, 400, "path.invalid", "seq", "expected /v1/events/<seq>, a whole number");
        return;
    }
    uint64_t size = tl_ledger_size(s->l);
    if (seq >= size) {
        api_reply_error(rep, 404, "record.not_found", "seq", "no record %" PRIu64 " (the log has %" PRIu64 ")", seq,
                        size);
        return;
    }
    uint64_t proof = 0;
    if (api_query_u64(q, "proof", seq + 1, size, &proof, NULL, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    tl_buf rec;
    tl_buf_init(&rec);
    json_t *j = NULL;
    int rc = tl_ledger_read(s->l, seq, &rec, &err);
    if (rc == 0)
        rc = tl_api_record_json(&j, s->l, s->secrets, rq->access, rec.data, rec.len, proof, &err);
    tl_buf_free(&rec);
    if (rc != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    api_reply_json(rep, 200, j);
}

void api_handle_stream(api_req *rq, const char *sub, const api_query *q, api_reply *rep)
{
    tl_server *s = srv_of(rq);
    tl_error err;
    tl_error_clear(&err);
    if (!tl_api_stream_valid(sub)) {
        api_reply_error(rep, 400, "path.invalid", "stream", "a stream is 1..%u bytes of [a-z0-9._:/-]",
                        TL_STREAM_BYTES_MAX);
        return;
    }
    uint64_t after, proof, version;
    bool bad;
    if (api_query_u64(q, "after", 0, UINT64_MAX - 1, &after, NULL, &err) != 0 ||
        api_query_u64(q, "proof", 1, tl_ledger_size(s->l), &proof, NULL, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    uint64_t limit = limit_of(q, rep, &bad);
    if (bad)
        return;
    size_t len = strlen(sub);
    if (tl_ledger_stream_version(s->l, sub, len, &version, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    if (version == 0) {
        api_reply_error(rep, 404, "stream.not_found", "stream", "no stream '%s'", sub);
        return;
    }
    list_ctx c = {.rq = rq, .arr = json_array(), .err = &err, .proof_size = proof};
    if (c.arr == NULL) {
        api_reply_json(rep, 500, NULL);
        return;
    }
    int rc = tl_ledger_stream_scan(s->l, sub, len, after, (size_t)limit, list_record, &c, &err);
    if (c.rc != 0 || rc < 0) {
        json_decref(c.arr);
        api_reply_tl_error(rep, &err);
        return;
    }
    json_t *j = json_pack("{s:s,s:I,s:o,s:o,s:b}", "stream", sub, "version", (json_int_t)version, "events", c.arr,
                          "next", c.count ? json_integer((json_int_t)c.last_version) : json_null(), "more",
                          c.count > 0 && c.last_version < version);
    api_reply_json(rep, 200, j);
}

/* ---------- checkpoints and proofs ---------- */

void api_handle_checkpoint(api_req *rq, const api_query *q, api_reply *rep)
{
    tl_server *s = srv_of(rq);
    tl_error err;
    tl_error_clear(&err);
    uint64_t size, cp_size = 0;
    bool has_size;
    if (api_query_u64(q, "size", 0, UINT64_MAX, &size, &has_size, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    tl_buf note;
    tl_buf_init(&note);
    int rc = has_size ? tl_ledger_checkpoint_get(s->l, size, &note, &err)
                      : tl_ledger_checkpoint_latest(s->l, &note, &cp_size, &err);
    if (rc != 0) {
        tl_buf_free(&note);
        api_reply_tl_error(rep, &err);
        return;
    }
    rep->body = evbuffer_new();
    evbuffer_add(rep->body, note.data, note.len); /* exactly as signed */
    tl_buf_free(&note);
    rep->status = 200;
    rep->content_type = "text/plain; charset=utf-8";
}

static json_t *hashes_json(const tl_merkle_proof *p)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < p->n; i++) {
        char b[64];
        tl_base64_encode(b, p->hashes[i], TL_HASH_BYTES);
        json_array_append_new(a, json_string(b));
    }
    return a;
}

void api_handle_consistency(api_req *rq, const api_query *q, api_reply *rep)
{
    tl_server *s = srv_of(rq);
    tl_error err;
    tl_error_clear(&err);
    uint64_t from, to;
    bool has_from, has_to;
    if (api_query_u64(q, "from", 1, UINT64_MAX, &from, &has_from, &err) != 0 ||
        api_query_u64(q, "to", 1, UINT64_MAX, &to, &has_to, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    if (!has_from || !has_to) {
        api_reply_error(rep, 400, "query.required", has_from ? "to" : "from", "both from and to are required");
        return;
    }
    tl_merkle_proof *p = malloc(sizeof *p);
    if (p == NULL) {
        api_reply_json(rep, 500, NULL);
        return;
    }
    if (tl_ledger_consistency_proof(s->l, from, to, p, &err) != 0) {
        free(p);
        api_reply_tl_error(rep, &err);
        return;
    }
    json_t *j = json_pack("{s:I,s:I,s:o}", "from", (json_int_t)from, "to", (json_int_t)to, "hashes", hashes_json(p));
    free(p);
    api_reply_json(rep, 200, j);
}

/* ---------- operations ---------- */

void api_handle_health(api_req *rq, api_reply *rep)
{
    tl_server *s = srv_of(rq);
    tl_buf note;
    tl_buf_init(&note);
    uint64_t cp_size = 0;
    tl_error err;
    if (tl_ledger_checkpoint_latest(s->l, &note, &cp_size, &err) != 0)
        cp_size = 0;
    tl_buf_free(&note);
    json_t *proj = json_array();
    if (s->views != NULL) {
        tl_projection_stats st[TL_VIEWS_PROJECTIONS_MAX];
        size_t n = tl_views_stats(s->views, st, TL_VIEWS_PROJECTIONS_MAX);
        for (size_t i = 0; i < n && i < TL_VIEWS_PROJECTIONS_MAX; i++)
            json_array_append_new(proj, json_pack("{s:s,s:I,s:I,s:b,s:b}", "name", st[i].name, "position",
                                                  (json_int_t)st[i].position, "lag_records",
                                                  (json_int_t)st[i].lag_records, "ready", st[i].ready,
                                                  "rebuilding", st[i].rebuilding));
    }
    json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:o}", "status", "ok", "origin", tl_ledger_origin(s->l), "size",
                          (json_int_t)tl_ledger_size(s->l), "checkpoint", (json_int_t)cp_size, "projections", proj);
    api_reply_json(rep, 200, j);
}

void api_handle_metrics(api_req *rq, api_reply *rep)
{
    rep->body = evbuffer_new();
    api_metrics_render(srv_of(rq), rep->body);
    rep->status = 200;
    rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

bool api_handle_web(api_req *rq, const char *path, api_reply *rep)
{
    (void)rq;
    if (strcmp(path, "/index.html") == 0)
        path = "/";
    for (size_t i = 0; i < tl_web_assets_count; i++) {
        const tl_web_asset *a = &tl_web_assets[i];
        if (strcmp(a->path, path) != 0)
            continue;
        if (rep != NULL) {
            rep->body = evbuffer_new();
            evbuffer_add_reference(rep->body, a->data, a->len, NULL, NULL); /* static: no copy */
            rep->status = 200;
            rep->content_type = a->content_type;
        }
        return true;
    }
    return false;
}
