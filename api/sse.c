/*
 * GET /v1/subscribe?after=S: the log as server-sent events (text/event-stream).
 *
 * Each record is one event:
 *
 *     id: <seq>
 *     event: record
 *     data: <the record's JSON, as GET /v1/events/<seq> gives it to this reader>
 *
 * A subscriber first catches up from S + 1 (or from Last-Event-ID + 1 when a browser
 * reconnects; without either, from the end of the log: only new records), then follows the
 * log live. Flow control: one chunk of at most TL_API_SSE_BATCH_RECORDS records is written at
 * a time, and the next only once the connection has sent it, so a slow reader holds at most
 * one chunk of memory and cannot stall anyone else. New commits wake the loops that have
 * subscribers (one ledger listener for the whole server). A comment line every
 * TL_API_SSE_HEARTBEAT_S keeps proxies from closing idle streams, and is how a vanished reader
 * is noticed (evhttp stops reading a connection while it answers, so the failure shows on a
 * write).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

#define SSE_CHUNK_BYTES_MAX (256u * 1024u)
#define SSE_RETRY_MS 2000

struct sse_sub {
    api_req rq;
    api_conn *conn;
    uint64_t next_seq;
    size_t bytes;
    bool writing; /* a chunk is on its way; wait for on_sent */
    sse_sub *prev, *next;
};

static void sse_unlink(sse_sub *sub)
{
    tl_loop *lp = sub->rq.loop;
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        lp->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    atomic_fetch_sub(&lp->nsubs, 1);
    atomic_fetch_sub(&lp->srv->subscribers, 1);
    if (sub->conn)
        sub->conn->sub = NULL;
}

static void pump(sse_sub *sub);

static void on_sent(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    sse_sub *sub = arg;
    sub->writing = false;
    pump(sub);
}

static void send_chunk(sse_sub *sub, struct evbuffer *buf)
{
    sub->bytes += evbuffer_get_length(buf);
    sub->writing = true;
    evhttp_send_reply_chunk_with_cb(sub->rq.req, buf, on_sent, sub);
}

typedef struct pump_ctx {
    sse_sub *sub;
    struct evbuffer *buf;
    size_t count;
    int rc;
    tl_error err;
} pump_ctx;

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return evbuffer_add(data, buffer, size);
}

static int add_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    pump_ctx *c = ctx;
    tl_server *s = c->sub->rq.loop->srv;
    json_t *j;
    c->rc = tl_api_record_json(&j, s->l, s->secrets, c->sub->rq.access, rec, len, 0, &c->err);
    if (c->rc != 0)
        return 1;
    evbuffer_add_printf(c->buf, "id: %" PRIu64 "\nevent: record\ndata: ", seq);
    /* Compact JSON has no newline, so one data line holds the whole record. */
    json_dump_callback(j, dump_cb, c->buf, JSON_COMPACT);
    json_decref(j);
    evbuffer_add(c->buf, "\n\n", 2);
    c->sub->next_seq = seq + 1;
    c->count++;
    return evbuffer_get_length(c->buf) >= SSE_CHUNK_BYTES_MAX ? 1 : 0;
}

static void pump(sse_sub *sub)
{
    if (sub->writing)
        return;
    tl_server *s = sub->rq.loop->srv;
    uint64_t size = tl_ledger_size(s->l);
    if (sub->next_seq >= size)
        return;
    pump_ctx c = {.sub = sub, .buf = evbuffer_new()};
    if (c.buf == NULL)
        return;
    uint64_t to = size - sub->next_seq > TL_API_SSE_BATCH_RECORDS ? sub->next_seq + TL_API_SSE_BATCH_RECORDS : size;
    int rc = tl_ledger_scan(s->l, sub->next_seq, to, add_record, &c, &c.err);
    if (c.rc != 0 || rc < 0) {
        /* Tell the reader why the stream stops here; it may reconnect from its last id. */
        evbuffer_add_printf(c.buf, "event: error\ndata: {\"error\":");
        api_json_string(c.buf, c.err.rule[0] ? c.err.rule : "internal");
        evbuffer_add_printf(c.buf, ",\"message\":");
        api_json_string(c.buf, c.err.msg);
        evbuffer_add_printf(c.buf, ",\"path\":");
        api_json_string(c.buf, c.err.path);
        evbuffer_add_printf(c.buf, "}\n\n");
        sub->next_seq = UINT64_MAX; /* nothing more will be sent */
    }
    sub->rq.events += c.count;
    send_chunk(sub, c.buf);
    evbuffer_free(c.buf);
}

void api_sse_start(api_req *rq, api_conn *conn, const api_query *q, api_reply *rep)
{
    tl_server *s = rq->loop->srv;
    tl_error err;
    tl_error_clear(&err);
    if (evhttp_request_get_command(rq->req) != EVHTTP_REQ_GET) {
        rep->allow = "GET";
        api_reply_error(rep, 405, "route.method", "method", "subscribe with GET");
        return;
    }
    uint64_t after;
    bool has_after;
    if (api_query_u64(q, "after", 0, UINT64_MAX - 1, &after, &has_after, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    const char *last_id = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Last-Event-ID");
    if (!has_after && last_id != NULL) {
        api_query lq = {.n = 1};
        snprintf(lq.p[0].key, sizeof lq.p[0].key, "after");
        snprintf(lq.p[0].value, sizeof lq.p[0].value, "%s", last_id);
        if (api_query_u64(&lq, "after", 0, UINT64_MAX - 1, &after, &has_after, &err) != 0) {
            api_reply_error(rep, 400, "query.invalid", "Last-Event-ID", "Last-Event-ID must be a record seq");
            return;
        }
    }
    if (conn == NULL) {
        api_reply_error(rep, 503, "server.connections", "", "cannot track this connection");
        return;
    }
    if (atomic_fetch_add(&s->subscribers, 1) >= TL_API_SUBSCRIBERS_MAX) {
        atomic_fetch_sub(&s->subscribers, 1);
        rep->retry_after_s = 5;
        api_reply_error(rep, 503, "server.busy", "", "too many subscribers; retry later");
        return;
    }
    sse_sub *sub = calloc(1, sizeof *sub);
    if (sub == NULL) {
        atomic_fetch_sub(&s->subscribers, 1);
        api_reply_json(rep, 500, NULL);
        return;
    }
    sub->rq = *rq;
    sub->conn = conn;
    sub->next_seq = has_after ? after + 1 : tl_ledger_size(s->l);
    tl_loop *lp = rq->loop;
    sub->next = lp->subs;
    if (lp->subs)
        lp->subs->prev = sub;
    lp->subs = sub;
    atomic_fetch_add(&lp->nsubs, 1);
    conn->sub = sub;

    struct evkeyvalq *h = evhttp_request_get_output_headers(rq->req);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply_start(rq->req, 200, "OK");
    struct evbuffer *hello = evbuffer_new();
    evbuffer_add_printf(hello, "retry: %d\n: techledger %s, from seq %" PRIu64 "\n\n", SSE_RETRY_MS,
                        tl_ledger_origin(s->l), sub->next_seq);
    send_chunk(sub, hello); /* on_sent then starts catching up */
    evbuffer_free(hello);
    rep->deferred = true;
}

void api_sse_pump_all(tl_loop *lp)
{
    for (sse_sub *sub = lp->subs; sub != NULL; sub = sub->next)
        pump(sub);
}

void api_sse_heartbeat(tl_loop *lp)
{
    for (sse_sub *sub = lp->subs; sub != NULL; sub = sub->next) {
        if (sub->writing)
            continue;
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, ": keepalive\n\n");
        send_chunk(sub, b);
        evbuffer_free(b);
    }
}

void api_sse_end_all(tl_loop *lp)
{
    while (lp->subs != NULL) {
        sse_sub *sub = lp->subs;
        sse_unlink(sub);
        evhttp_send_reply_end(sub->rq.req); /* the final chunk; evhttp frees the request */
        api_finish(&sub->rq, 200, sub->bytes);
        free(sub);
    }
}

void api_sse_closed(sse_sub *sub)
{
    sse_unlink(sub);
    /* A connection that failed mid-stream has let go of the request (it is ours to free);
     * one being freed as a whole takes the request with it. */
    if (evhttp_request_get_connection(sub->rq.req) == NULL)
        evhttp_send_reply_end(sub->rq.req);
    api_finish(&sub->rq, 200, sub->bytes);
    free(sub);
}
