/*
 * The server's event loops: listening, connections, routing, replies, the access log and the
 * stop sequence. The design is described in tl_api.h; what each thread owns in api_internal.h.
 *
 * Stopping (tl_server_stop, e.g. on SIGTERM):
 *   1. the ledger listener is removed, so nothing wakes a loop that is going away;
 *   2. each loop stops accepting, ends its subscriptions (a clean end of the event stream) and
 *      answers any new request on an open connection with 503 server.stopping, Connection: close;
 *   3. each loop runs until every submission it accepted has been answered (the sequencer
 *      answers everything queued to it), then exits;
 *   4. the workers stop, and the caller closes the ledger, which writes the final checkpoint.
 * An acknowledged event is therefore always durable and always covered by that checkpoint.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "api_internal.h"

#include <event2/http_struct.h> /* the request's HTTP version (no accessor in 2.1); after http.h */

#define LISTEN_BACKLOG 1024
#define ACCEPT_PAUSE_MS 100 /* after accept fails (out of descriptors), try again this much later */

uint64_t api_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *api_route_name(int route)
{
    static const char *const names[ROUTE_COUNT] = {
        [ROUTE_EVENTS_POST] = "events.submit", [ROUTE_EVENTS_LIST] = "events.list",
        [ROUTE_EVENT] = "events.get",          [ROUTE_STREAM] = "streams.get",
        [ROUTE_CHECKPOINT] = "checkpoint",     [ROUTE_CONSISTENCY] = "proofs.consistency",
        [ROUTE_VIEWS] = "views",               [ROUTE_SUBSCRIBE] = "subscribe",
        [ROUTE_HEALTH] = "healthz",            [ROUTE_METRICS] = "metrics",
        [ROUTE_WEB] = "web",                   [ROUTE_UNKNOWN] = "unknown"};
    return route >= 0 && route < ROUTE_COUNT ? names[route] : "unknown";
}

/* ---------- JSON helpers ---------- */

/* The length of the UTF-8 sequence at p (RFC 3629: no overlong form, no surrogate, nothing
 * above U+10FFFF), or 0 when it is not one. Stops at a NUL, which is no continuation byte. */
static size_t utf8_len(const unsigned char *p)
{
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000}; /* below: an overlong form */
    if (p[0] < 0x80)
        return 1;
    if (p[0] < 0xC2 || p[0] > 0xF4)
        return 0;
    size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : 2;
    uint32_t cp = p[0] & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    return cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
}

void api_json_string(struct evbuffer *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    char buf[512];
    size_t n = 0;
    buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (n > sizeof buf - 8) {
            evbuffer_add(out, buf, n);
            n = 0;
        }
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            buf[n++] = '\\';
            buf[n++] = 'u';
            buf[n++] = '0';
            buf[n++] = '0';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 15];
        } else if (c < 0x80) {
            buf[n++] = (char)c;
        } else {
            /* JSON text is UTF-8; a client's bytes (a path, a query, a message cut short by
             * its buffer) need not be: what is not becomes U+FFFD. */
            size_t k = utf8_len(p);
            if (k == 0) {
                memcpy(buf + n, "\\ufffd", 6);
                n += 6;
            } else {
                memcpy(buf + n, p, k);
                n += k;
                p += k - 1;
            }
        }
    }
    buf[n++] = '"';
    evbuffer_add(out, buf, n);
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return evbuffer_add(data, buffer, size);
}

void api_reply_json(api_reply *rep, int status, json_t *j)
{
    if (rep->body == NULL)
        rep->body = evbuffer_new();
    else
        evbuffer_drain(rep->body, evbuffer_get_length(rep->body));
    if (j == NULL || json_dump_callback(j, dump_cb, rep->body, JSON_COMPACT) != 0) {
        evbuffer_drain(rep->body, evbuffer_get_length(rep->body));
        evbuffer_add_printf(rep->body, "{\"error\":\"memory\",\"message\":\"out of memory\",\"path\":\"\"}");
        status = 500;
    }
    evbuffer_add(rep->body, "\n", 1);
    json_decref(j);
    rep->status = status;
    rep->content_type = "application/json";
}

static void error_body(struct evbuffer *b, const char *rule, const char *path, const char *msg)
{
    evbuffer_add_printf(b, "{\"error\":");
    api_json_string(b, rule);
    evbuffer_add_printf(b, ",\"message\":");
    api_json_string(b, msg);
    evbuffer_add_printf(b, ",\"path\":");
    api_json_string(b, path);
    evbuffer_add_printf(b, "}\n");
}

void api_reply_error(api_reply *rep, int status, const char *rule, const char *path, const char *fmt, ...)
{
    char msg[TL_ERROR_MSG_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rep->body == NULL)
        rep->body = evbuffer_new();
    else
        evbuffer_drain(rep->body, evbuffer_get_length(rep->body));
    error_body(rep->body, rule, path ? path : "", msg);
    rep->status = status;
    rep->content_type = "application/json";
}

void api_reply_tl_error(api_reply *rep, const tl_error *e)
{
    api_reply_error(rep, tl_api_status_for(e->code), e->rule[0] ? e->rule : "internal", e->path, "%s",
                    e->msg[0] ? e->msg : tl_strerror(e->code));
}

/* ---------- access log ---------- */

static void access_log(api_req *rq, int status, size_t bytes, uint64_t elapsed_ns)
{
    tl_server *s = rq->loop->srv;
    if (s->access_log_fd < 0)
        return;
    uint64_t ms = wall_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[96]; /* room for any int the compiler imagines in the fields */
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
    /* The URI is the only field a client controls: escape it. */
    char uri[sizeof rq->uri * 6 + 3];
    size_t u = 0;
    uri[u++] = '"';
    for (const unsigned char *p = (const unsigned char *)rq->uri; *p; p++) {
        if (*p == '"' || *p == '\\') {
            uri[u++] = '\\';
            uri[u++] = (char)*p;
        } else if (*p < 0x20 || *p >= 0x7f) {
            static const char hex[] = "0123456789abcdef";
            memcpy(uri + u, "\\u00", 4);
            uri[u + 4] = hex[*p >> 4];
            uri[u + 5] = hex[*p & 15];
            u += 6;
        } else {
            uri[u++] = (char)*p;
        }
    }
    uri[u++] = '"';
    uri[u] = '\0';
    char line[2048];
    int n = snprintf(line, sizeof line,
                     "{\"time\":\"%s\",\"remote\":\"%s\",\"method\":\"%s\",\"uri\":%s,\"route\":\"%s\","
                     "\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f,\"access\":\"%s\"",
                     ts, rq->remote, rq->method, uri, api_route_name(rq->route), status, bytes,
                     (double)elapsed_ns / 1e6, api_access_name(rq->access));
    if (n < 0 || (size_t)n >= sizeof line - 64)
        return;
    if (rq->route == ROUTE_EVENTS_POST && rq->events > 0)
        n += snprintf(line + n, sizeof line - (size_t)n, ",\"events\":%zu,\"created\":%zu", rq->events, rq->created);
    else if (rq->route == ROUTE_SUBSCRIBE)
        n += snprintf(line + n, sizeof line - (size_t)n, ",\"records\":%zu", rq->events);
    n += snprintf(line + n, sizeof line - (size_t)n, "}\n");
    /* The loop never waits for the log: the line goes to the logger thread's buffer, or is
     * dropped (and counted) when a stalled reader has let that buffer fill. */
    pthread_mutex_lock(&s->log_mu);
    bool room = s->log_len + (size_t)n <= TL_API_ACCESS_LOG_BUFFER_BYTES;
    if (room) {
        memcpy(s->log_buf + s->log_len, line, (size_t)n);
        s->log_len += (size_t)n;
        pthread_cond_signal(&s->log_cv);
    }
    pthread_mutex_unlock(&s->log_mu);
    if (!room)
        atomic_fetch_add_explicit(&s->metrics.access_log_errors, 1, memory_order_relaxed);
}

/* Writes what the loops logged, whole lines at a time, until the server is freed. */
static void *logger_main(void *arg)
{
    tl_server *s = arg;
    pthread_setname_np(pthread_self(), "tl-accesslog");
    char *out = malloc(TL_API_ACCESS_LOG_BUFFER_BYTES);
    pthread_mutex_lock(&s->log_mu);
    for (;;) {
        while (s->log_len == 0 && !s->log_stop)
            pthread_cond_wait(&s->log_cv, &s->log_mu);
        if (s->log_len == 0)
            break;
        size_t n = s->log_len;
        if (out != NULL)
            memcpy(out, s->log_buf, n);
        s->log_len = 0;
        pthread_mutex_unlock(&s->log_mu);
        for (size_t off = 0; out != NULL && off < n;) {
            ssize_t w = write(s->access_log_fd, out + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                atomic_fetch_add_explicit(&s->metrics.access_log_errors, 1, memory_order_relaxed);
                break;
            }
            off += (size_t)w;
        }
        pthread_mutex_lock(&s->log_mu);
    }
    pthread_mutex_unlock(&s->log_mu);
    free(out);
    return NULL;
}

void api_finish(api_req *rq, int status, size_t bytes)
{
    uint64_t elapsed = api_now_ns() - rq->t0_ns;
    api_metrics_observe(&rq->loop->srv->metrics, rq->route, status, elapsed);
    access_log(rq, status, bytes, elapsed);
}

static const char *reason_for(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return NULL;
    }
}

/* The loop's Date header value (RFC 9110 IMF-fixdate), which evhttp would otherwise format for
 * every reply. */
static const char *loop_date(tl_loop *lp)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct timeval tv;
    if (event_base_gettimeofday_cached(lp->base, &tv) != 0)
        gettimeofday(&tv, NULL);
    if (tv.tv_sec != lp->date_s || lp->date[0] == '\0') {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        snprintf(lp->date, sizeof lp->date, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        lp->date_s = tv.tv_sec;
    }
    return lp->date;
}

/* evhttp reads a connection while it answers, to notice a close, and takes a client's
 * half-close (a shutdown after its last request, which HTTP allows) for one: it drops the
 * request, or whatever part of the reply is not written yet (it writes 16 KiB at a time). So a
 * connection is not read from the moment its request is complete until the reply is out: a
 * client that has gone shows as a failed write, and evhttp reads again for the next request. */
static void hold_reading(struct evhttp_connection *evcon)
{
    if (evcon != NULL)
        bufferevent_disable(evhttp_connection_get_bufferevent(evcon), EV_READ);
}

void api_send(api_req *rq, api_reply *rep)
{
    if (rep->body == NULL)
        rep->body = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(rq->req);
    evhttp_add_header(h, "Date", loop_date(rq->loop));
    evhttp_add_header(h, "Content-Type", rep->content_type ? rep->content_type : "application/json");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (rep->allow)
        evhttp_add_header(h, "Allow", rep->allow);
    if (rep->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", rep->retry_after_s);
        evhttp_add_header(h, "Retry-After", ra);
    }
    if (rep->status == 401)
        evhttp_add_header(h, "WWW-Authenticate", "Bearer");
    if (rep->etag[0] != '\0')
        evhttp_add_header(h, "ETag", rep->etag);
    if (rep->close || atomic_load(&rq->loop->srv->stopping))
        evhttp_add_header(h, "Connection", "close");
    size_t bytes = evbuffer_get_length(rep->body);
    /* A reply to HEAD is a GET's head without its body (RFC 9110 section 9.3.2). evhttp 2.1
     * would send the body anyway, with no length, so the next reply on a kept-alive connection
     * could not be told from it. */
    if (evhttp_request_get_command(rq->req) == EVHTTP_REQ_HEAD) {
        char cl[24];
        snprintf(cl, sizeof cl, "%zu", bytes);
        evhttp_add_header(h, "Content-Length", cl);
        evbuffer_drain(rep->body, bytes);
        bytes = 0;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(rq->req);
    evhttp_send_reply(rq->req, rep->status, reason_for(rep->status), rep->body);
    hold_reading(evcon); /* evhttp_send_reply has turned reading on again */
    evbuffer_free(rep->body);
    rep->body = NULL;
    api_finish(rq, rep->status, bytes);
}

/* ---------- connections ---------- */

static size_t conn_bucket(const struct evhttp_connection *evcon)
{
    uintptr_t p = (uintptr_t)evcon;
    p ^= p >> 17;
    p *= 0x9E3779B97F4A7C15ull;
    return (size_t)(p >> 40) % API_CONN_BUCKETS;
}

static api_conn *conn_find(tl_loop *lp, struct evhttp_connection *evcon)
{
    for (api_conn *c = lp->conns[conn_bucket(evcon)]; c != NULL; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    api_conn *c = arg;
    tl_loop *lp = c->loop;
    api_conn **pp = &lp->conns[conn_bucket(evcon)];
    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next;
    if (*pp == c)
        *pp = c->next;
    lp->nconns--;
    atomic_fetch_sub(&lp->srv->connections, 1);
    if (c->sub != NULL)
        api_sse_closed(c->sub);
    free(c);
}

/* The connection record of the request's connection, created on its first request; NULL when
 * the server holds as many connections as it may (the caller answers 503). */
static api_conn *conn_track(tl_loop *lp, struct evhttp_request *req, bool *over)
{
    *over = false;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon == NULL)
        return NULL;
    api_conn *c = conn_find(lp, evcon);
    if (c != NULL)
        return c;
    if (atomic_load(&lp->srv->connections) >= lp->srv->connections_max) {
        *over = true;
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        *over = true;
        return NULL;
    }
    c->evcon = evcon;
    c->loop = lp;
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &addr, &port);
    snprintf(c->remote, sizeof c->remote, "%s:%u", addr ? addr : "?", (unsigned)port);
    size_t b = conn_bucket(evcon);
    c->next = lp->conns[b];
    lp->conns[b] = c;
    lp->nconns++;
    atomic_fetch_add(&lp->srv->connections, 1);
    evhttp_connection_set_closecb(evcon, conn_closed, c);
    return c;
}

size_t tl_server_connections(tl_server *s) { return atomic_load(&s->connections); }

/* ---------- routing ---------- */

static bool has_prefix(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0)
        return false;
    *rest = s + n;
    return true;
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

static const char *const Q_EVENTS_LIST[] = {"after", "limit", NULL};
static const char *const Q_EVENT[] = {"proof", NULL};
static const char *const Q_STREAM[] = {"after", "limit", "proof", NULL};
static const char *const Q_CHECKPOINT[] = {"size", NULL};
static const char *const Q_CONSISTENCY[] = {"from", "to", NULL};
static const char *const Q_SUBSCRIBE[] = {"after", NULL};
static const char *const Q_NONE[] = {NULL};

static void dispatch(api_req *rq, api_conn *conn, const char *path, const char *raw_query, api_reply *rep)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(rq->req);
    bool get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;
    const char *sub = NULL;
    const char *const *allowed = Q_NONE;
    const char *allow = "GET, HEAD";
    int route = ROUTE_UNKNOWN;

    if (strcmp(path, "/v1/events") == 0) {
        route = m == EVHTTP_REQ_POST ? ROUTE_EVENTS_POST : ROUTE_EVENTS_LIST;
        allowed = Q_EVENTS_LIST;
        allow = "GET, HEAD, POST";
        get = get || m == EVHTTP_REQ_POST;
    } else if (has_prefix(path, "/v1/events/", &sub)) {
        route = ROUTE_EVENT;
        allowed = Q_EVENT;
    } else if (has_prefix(path, "/v1/streams/", &sub)) {
        route = ROUTE_STREAM;
        allowed = Q_STREAM;
    } else if (strcmp(path, "/v1/checkpoint") == 0) {
        route = ROUTE_CHECKPOINT;
        allowed = Q_CHECKPOINT;
    } else if (strcmp(path, "/v1/proofs/consistency") == 0) {
        route = ROUTE_CONSISTENCY;
        allowed = Q_CONSISTENCY;
    } else if (has_prefix(path, "/v1/views/", &sub)) {
        route = ROUTE_VIEWS;
        allowed = NULL; /* the view checks its own parameters */
    } else if (strcmp(path, "/v1/subscribe") == 0) {
        route = ROUTE_SUBSCRIBE;
        allowed = Q_SUBSCRIBE;
    } else if (strcmp(path, "/healthz") == 0) {
        route = ROUTE_HEALTH;
    } else if (strcmp(path, "/metrics") == 0) {
        route = ROUTE_METRICS;
    } else if (get && api_handle_web(rq, path, NULL)) {
        route = ROUTE_WEB;
    }
    rq->route = route;
    if (route == ROUTE_UNKNOWN) {
        api_reply_error(rep, 404, "route.not_found", "path", "no such resource: %s", path);
        return;
    }
    if (!get) {
        rep->allow = allow;
        api_reply_error(rep, 405, "route.method", "method", "%s is not allowed here (allowed: %s)", rq->method, allow);
        return;
    }
    api_query q;
    tl_error err;
    tl_error_clear(&err);
    if (route != ROUTE_VIEWS && route != ROUTE_EVENTS_POST && api_query_parse(&q, raw_query, allowed, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    switch (route) {
    case ROUTE_EVENTS_POST:
        if (raw_query != NULL && raw_query[0] != '\0') {
            api_reply_error(rep, 400, "query.unknown", "", "POST /v1/events takes no query parameters");
            return;
        }
        api_ingest_start(rq, rep);
        break;
    case ROUTE_EVENTS_LIST: api_handle_events_list(rq, &q, rep); break;
    case ROUTE_EVENT: api_handle_event(rq, sub, &q, rep); break;
    case ROUTE_STREAM: api_handle_stream(rq, sub, &q, rep); break;
    case ROUTE_CHECKPOINT: api_handle_checkpoint(rq, &q, rep); break;
    case ROUTE_CONSISTENCY: api_handle_consistency(rq, &q, rep); break;
    case ROUTE_VIEWS: api_handle_views(rq, sub, raw_query, rep); break;
    case ROUTE_SUBSCRIBE: api_sse_start(rq, conn, &q, rep); break;
    case ROUTE_HEALTH: api_handle_health(rq, rep); break;
    case ROUTE_METRICS: api_handle_metrics(rq, rep); break;
    case ROUTE_WEB: api_handle_web(rq, path, rep); break;
    default: break;
    }
}

/* strlcpy: snprintf("%s") costs a formatted print on every request. */
static void copy_truncated(char *out, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(out, s, n);
    out[n] = '\0';
}

static void on_request(struct evhttp_request *req, void *arg)
{
    tl_loop *lp = arg;
    tl_server *s = lp->srv;
    api_req rq = {.loop = lp, .req = req, .route = ROUTE_UNKNOWN, .t0_ns = api_now_ns(),
                  .method = method_name(evhttp_request_get_command(req)), .access = TL_ACCESS_PUBLIC};
    api_reply rep = {0};
    hold_reading(evhttp_request_get_connection(req)); /* until the reply is out */
    /* evhttp takes any "HTTP/%d.%d" with a major of at most 1 (HTTP/0.3, HTTP/1.-2) and
     * answers in the same version, without a Content-Length for a major other than 1. A later
     * 1.x is served as HTTP/1.1 (RFC 9110 section 2.5); the rest is refused below, in HTTP/1.0. */
    bool bad_version = req->major != 1 || req->minor < 0;
    if (bad_version) {
        req->major = 1;
        req->minor = 0;
    } else if (req->minor > 1) {
        req->minor = 1;
    }
    const char *uri = evhttp_request_get_uri(req);
    copy_truncated(rq.uri, sizeof rq.uri, uri ? uri : "");

    bool over = false;
    api_conn *conn = conn_track(lp, req, &over);
    copy_truncated(rq.remote, sizeof rq.remote, conn ? conn->remote : "?");
    if (over) {
        rep.close = true;
        rep.retry_after_s = 1;
        api_reply_error(&rep, 503, "server.connections", "", "too many open connections; retry later");
        api_send(&rq, &rep);
        return;
    }
    if (atomic_load(&s->stopping)) {
        rep.close = true;
        api_reply_error(&rep, 503, "server.stopping", "", "the server is shutting down");
        api_send(&rq, &rep);
        return;
    }
    if (bad_version) {
        rep.close = true;
        api_reply_error(&rep, 400, "request.version", "version", "expected HTTP/1.0 or HTTP/1.1");
        api_send(&rq, &rep);
        return;
    }
    if (uri == NULL || strlen(uri) > TL_API_URI_BYTES_MAX) {
        api_reply_error(&rep, 414, "request.uri_too_long", "uri", "the URI is longer than %u bytes",
                        TL_API_URI_BYTES_MAX);
        api_send(&rq, &rep);
        return;
    }
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *raw_path = u ? evhttp_uri_get_path(u) : NULL;
    if (raw_path == NULL || raw_path[0] != '/') {
        api_reply_error(&rep, 400, "path.invalid", "path", "the request target must be an absolute path");
        api_send(&rq, &rep);
        return;
    }
    char path[TL_API_URI_BYTES_MAX + 1];
    tl_error err;
    tl_error_clear(&err);
    if (api_path_decode(path, sizeof path, raw_path, &err) != 0) {
        api_reply_tl_error(&rep, &err);
        api_send(&rq, &rep);
        return;
    }
    const char *authz = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (tl_api_authorize(&rq.access, &s->tokens, authz, &err) != 0) {
        api_reply_error(&rep, 401, err.rule, err.path, "%s", err.msg);
        api_send(&rq, &rep);
        return;
    }
    dispatch(&rq, conn, path, evhttp_uri_get_query(u), &rep);
    if (rep.deferred) {
        if (rep.body)
            evbuffer_free(rep.body);
        return;
    }
    if (rep.status == 0)
        api_reply_error(&rep, 500, "internal", "", "the handler gave no reply");
    api_send(&rq, &rep);
}

/* ---------- loop wake-ups and stopping ---------- */

void api_loop_wake(tl_loop *lp) { event_active(lp->wake, EV_READ, 0); }

/* Bytes of replies still waiting to be written on lp's connections. */
static size_t unsent_bytes(tl_loop *lp)
{
    size_t n = 0;
    for (size_t b = 0; b < API_CONN_BUCKETS; b++)
        for (api_conn *c = lp->conns[b]; c != NULL; c = c->next) {
            struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
            if (bev != NULL)
                n += evbuffer_get_length(bufferevent_get_output(bev));
        }
    return n;
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_loop *lp = arg;
    /* Every accepted submission answered, and the answers on their way to the clients (a
     * reader that does not read gets TL_API_DRAIN_FLUSH_MS, then is cut off). */
    if (lp->pending == 0 &&
        (unsent_bytes(lp) == 0 || api_now_ns() - lp->stop_ns > (uint64_t)TL_API_DRAIN_FLUSH_MS * 1000000u))
        event_base_loopexit(lp->base, NULL);
}

static void begin_stop(tl_loop *lp)
{
    lp->stop_begun = true;
    lp->stop_ns = api_now_ns();
    if (lp->bound != NULL) {
        evhttp_del_accept_socket(lp->http, lp->bound); /* frees lp->lev; the socket stays open */
        lp->bound = NULL;
        lp->lev = NULL;
    }
    event_del(lp->resume);
    api_sse_end_all(lp);
    struct timeval tv = {0, (suseconds_t)TL_API_DRAIN_POLL_MS * 1000};
    event_add(lp->drain, &tv);
    on_drain(-1, 0, lp);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_loop *lp = arg;
    api_ingest_drain(lp);
    api_views_drain(lp);
    if (atomic_load(&lp->srv->stopping) && !lp->stop_begun)
        begin_stop(lp);
    else if (atomic_load(&lp->nsubs) > 0)
        api_sse_pump_all(lp);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    api_sse_heartbeat(arg);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_loop *lp = arg;
    if (lp->lev != NULL && !lp->stop_begun)
        evconnlistener_enable(lp->lev);
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    tl_loop *lp = arg;
    int e = EVUTIL_SOCKET_ERROR();
    /* Out of descriptors (EMFILE/ENFILE) or memory: the pending connection stays in the
     * backlog; stop polling the socket for a moment instead of spinning on it. */
    fprintf(stderr, "techledger serve: accept failed: %s; pausing for %d ms\n", evutil_socket_error_to_string(e),
            ACCEPT_PAUSE_MS);
    evconnlistener_disable(lev);
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    event_add(lp->resume, &tv);
}

static void on_commit(void *ctx, uint64_t new_size)
{
    (void)new_size;
    tl_server *s = ctx;
    for (unsigned i = 0; i < s->nloops; i++)
        if (atomic_load(&s->loops[i].nsubs) > 0)
            api_loop_wake(&s->loops[i]);
}

/* ---------- evhttp's own refusals ---------- */

/* Every loop with an evhttp, so that evhttp_send_error, which is given only the request, can
 * answer through the loop that owns it (its access log, its metrics). */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static tl_loop *live_loops;

static void loop_live(tl_loop *lp, bool live)
{
    pthread_mutex_lock(&live_mu);
    tl_loop **at = &live_loops;
    while (*at != NULL && *at != lp)
        at = &(*at)->next_live;
    if (live && *at == NULL) {
        lp->next_live = NULL;
        *at = lp;
    } else if (!live && *at != NULL) {
        *at = lp->next_live;
    }
    pthread_mutex_unlock(&live_mu);
}

static tl_loop *loop_of(struct evhttp *http)
{
    pthread_mutex_lock(&live_mu);
    tl_loop *lp = live_loops;
    while (lp != NULL && lp->http != http)
        lp = lp->next_live;
    pthread_mutex_unlock(&live_mu);
    return lp;
}

/* evhttp refuses some requests before on_request sees them: a request line or headers it
 * cannot parse (400), headers or a body beyond its limits (413), a method it does not serve
 * (501). libevent 2.1 answers those with evhttp_send_error, which writes an HTML page in
 * whatever HTTP version the request claimed, and offers no hook to change that. So the
 * server defines evhttp_send_error itself: an executable's definition of a function comes
 * first in the dynamic linker's search, and libevent calls its own exported function through
 * its PLT, so this one answers for libevent too (test_api sends each kind and checks the
 * JSON). Like libevent's page, the reply closes the connection: what follows the refused
 * request on it cannot be trusted to start where a request starts. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    const char *rule = "request.malformed";
    char msg[160];
    snprintf(msg, sizeof msg,
             "the request line or the headers are not valid HTTP/1.1, or the headers are longer than %u bytes",
             TL_API_HEADERS_BYTES_MAX);
    if (error == HTTP_ENTITYTOOLARGE) {
        rule = "request.too_large";
        snprintf(msg, sizeof msg, "the headers (at most %u bytes) or the body (at most %zu bytes) are too large",
                 TL_API_HEADERS_BYTES_MAX, TL_API_BODY_BYTES_MAX);
    } else if (error == HTTP_NOTIMPLEMENTED) {
        rule = "request.method";
        snprintf(msg, sizeof msg, "the method is not one this server implements");
    } else if (error < 400 || error > 499) {
        error = HTTP_BADREQUEST;
    }
    (void)reason; /* libevent passes none; the status's standard phrase is used */
    if (req->major != 1 || req->minor != 0) { /* HTTP/1.0 stays; anything else gets 1.1 */
        req->major = 1;
        req->minor = 1;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    evhttp_clear_headers(evhttp_request_get_output_headers(req));
    api_reply rep = {.close = true};
    api_reply_error(&rep, error, rule, "", "%s", msg);
    if (rep.body == NULL) { /* out of memory: libevent's answer to this as well */
        evhttp_connection_free(evcon);
        return;
    }
    char length[24]; /* evhttp leaves it out of an HTTP/1.0 reply that closes */
    snprintf(length, sizeof length, "%zu", evbuffer_get_length(rep.body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", length);
    tl_loop *lp = evcon != NULL ? loop_of(evhttp_connection_get_server(evcon)) : NULL;
    if (lp != NULL) { /* logged and counted like every other reply */
        api_req rq = {.loop = lp, .req = req, .route = ROUTE_UNKNOWN, .t0_ns = api_now_ns(),
                      .method = method_name(evhttp_request_get_command(req)), .access = TL_ACCESS_PUBLIC};
        const char *uri = evhttp_request_get_uri(req);
        copy_truncated(rq.uri, sizeof rq.uri, uri ? uri : "");
        char *host = NULL;
        ev_uint16_t port = 0;
        evhttp_connection_get_peer(evcon, &host, &port);
        snprintf(rq.remote, sizeof rq.remote, "%s:%u", host ? host : "?", (unsigned)port);
        api_send(&rq, &rep);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    evhttp_send_reply(req, error, NULL, rep.body);
    evbuffer_free(rep.body);
}

static void *loop_main(void *arg)
{
    tl_loop *lp = arg;
    char name[16];
    snprintf(name, sizeof name, "tl-http-%u", lp->index % 100u);
    pthread_setname_np(pthread_self(), name); /* for top -H, perf and gdb */
    event_base_dispatch(lp->base);
    /* Close every connection now, on the loop's own thread: a stopped server holds none. */
    loop_live(lp, false);
    evhttp_free(lp->http);
    lp->http = NULL;
    return NULL;
}

/* ---------- setup ---------- */

static int parse_listen(const char *addr, char *host, size_t hcap, char *port, size_t pcap, tl_error *err)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return tl_fail(err, TL_EINVAL, "listen.address", "listen", "expected [IPV6]:PORT, not '%s'", addr);
        size_t hl = (size_t)(close - addr - 1);
        if (hl >= hcap)
            return tl_fail(err, TL_EINVAL, "listen.address", "listen", "host too long");
        memcpy(host, addr + 1, hl);
        host[hl] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return tl_fail(err, TL_EINVAL, "listen.address", "listen", "expected HOST:PORT, not '%s'", addr);
        size_t hl = (size_t)(colon - addr);
        if (hl == 0 || hl >= hcap)
            return tl_fail(err, TL_EINVAL, "listen.address", "listen", "expected HOST:PORT, not '%s'", addr);
        memcpy(host, addr, hl);
        host[hl] = '\0';
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (pl == 0 || pl >= pcap || strspn(p, "0123456789") != pl || atol(p) > 65535)
        return tl_fail(err, TL_EINVAL, "listen.address", "listen", "the port must be 0..65535, not '%s'", p);
    memcpy(port, p, pl + 1);
    return 0;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

/* A listening socket on ai's address (port 0: ai's own). -1 with errno set on failure. */
static int listen_socket(const struct addrinfo *ai, uint16_t port, bool reuseport)
{
    struct sockaddr_storage ss;
    if (ai->ai_addrlen > sizeof ss) {
        errno = EINVAL;
        return -1;
    }
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (port != 0)
        set_port(&ss, port);
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Accepted sockets inherit it: without it a kept-alive reply larger than a segment
     * waits for the client's delayed ACK (Nagle), about 40 ms per view request. */
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/*
 * One listening socket per loop, all on the same port with SO_REUSEPORT, so that the kernel
 * spreads new connections evenly over the loops (by a hash of the peer's address and port).
 * With one socket shared by every loop, whichever loop woke first accepted every pending
 * connection: under a burst of connects one loop got all of them and the other cores idled.
 * SO_REUSEPORT would also let another process of the same user bind the port and take a share
 * of the connections, so a named port is first bound without it, which fails while anyone
 * else holds the port. Where SO_REUSEPORT is unavailable the loops share one socket.
 */
static int open_listener(tl_server *s, const char *addr, tl_error *err)
{
    char host[256], port[8];
    int rc = parse_listen(addr, host, sizeof host, port, sizeof port, err);
    if (rc != 0)
        return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0)
        return tl_fail(err, TL_EINVAL, "listen.address", "listen", "cannot resolve '%s': %s", host, gai_strerror(g));
    int saved = 0;
    bool named = atol(port) != 0;
    for (struct addrinfo *ai = res; ai != NULL && s->nlisten == 0; ai = ai->ai_next) {
        int fd = -1;
        if (s->nloops > 1) {
            int probe = named ? listen_socket(ai, 0, false) : -2;
            if (probe == -1) {
                saved = errno;
                continue;
            }
            if (probe >= 0)
                close(probe);
            fd = listen_socket(ai, 0, true);
        }
        if (fd < 0) { /* one loop, or no SO_REUSEPORT */
            fd = listen_socket(ai, 0, false);
            if (fd < 0) {
                saved = errno;
                continue;
            }
            s->listen_fds[s->nlisten++] = fd;
            break;
        }
        s->listen_fds[s->nlisten++] = fd;
        uint16_t p = bound_port(fd);
        while (s->nlisten < s->nloops) {
            int more = listen_socket(ai, p, true);
            if (more < 0)
                break; /* the loops share what there is */
            s->listen_fds[s->nlisten++] = more;
        }
    }
    freeaddrinfo(res);
    if (s->nlisten == 0)
        return tl_fail(err, TL_EIO, "listen.bind", "listen", "cannot listen on %s: %s", addr, strerror(saved));
    s->port = bound_port(s->listen_fds[0]);
    return 0;
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : (unsigned)n;
}

static int loop_init(tl_server *s, tl_loop *lp, unsigned index, tl_error *err)
{
    lp->srv = s;
    lp->index = index;
    pthread_mutex_init(&lp->mu, NULL);
    /* The changelist folds the several epoll_ctl calls evhttp makes per request (read events
     * deleted and re-added as timeouts are reset, write interest on and off) into at most one
     * per descriptor per loop iteration. Its one hazard, dup()ed descriptors, does not arise. */
    struct event_config *cfg = event_config_new();
    if (cfg != NULL) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        lp->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    if (lp->base == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "cannot create an event loop");
    lp->http = evhttp_new(lp->base);
    lp->wake = event_new(lp->base, -1, 0, on_wake, lp);
    lp->drain = event_new(lp->base, -1, EV_PERSIST, on_drain, lp);
    lp->heartbeat = event_new(lp->base, -1, EV_PERSIST, on_heartbeat, lp);
    lp->resume = event_new(lp->base, -1, 0, on_resume, lp);
    if (lp->http == NULL || lp->wake == NULL || lp->drain == NULL || lp->heartbeat == NULL || lp->resume == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "cannot create an event loop");
    evhttp_set_max_body_size(lp->http, (ev_ssize_t)TL_API_BODY_BACKSTOP_BYTES);
    evhttp_set_max_headers_size(lp->http, (ev_ssize_t)TL_API_HEADERS_BYTES_MAX);
    evhttp_set_timeout(lp->http, TL_API_TIMEOUT_S);
    /* Every method reaches our router, so an unsupported one gets our JSON 405. */
    evhttp_set_allowed_methods(lp->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                             EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                             EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    /* A body beyond the backstop: read it to its end before closing, so the client sees the 413
     * instead of a reset. */
    evhttp_set_flags(lp->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_gencb(lp->http, on_request, lp);
    /* Each loop accepts from its own listening socket (or all share one); they are ours to close. */
    lp->lev = evconnlistener_new(lp->base, NULL, NULL, LEV_OPT_CLOSE_ON_EXEC, 0,
                                 s->listen_fds[index % s->nlisten]);
    if (lp->lev == NULL)
        return tl_fail(err, TL_EIO, "listen.bind", "listen", "cannot accept on the listening socket");
    lp->bound = evhttp_bind_listener(lp->http, lp->lev);
    if (lp->bound == NULL) {
        evconnlistener_free(lp->lev);
        lp->lev = NULL;
        return tl_fail(err, TL_EIO, "listen.bind", "listen", "cannot accept on the listening socket");
    }
    evconnlistener_set_error_cb(lp->lev, on_accept_error);
    struct timeval hb = {TL_API_SSE_HEARTBEAT_S, 0};
    event_add(lp->heartbeat, &hb);
    loop_live(lp, true);
    return 0;
}

static void loop_free(tl_loop *lp)
{
    loop_live(lp, false);
    if (lp->http != NULL)
        evhttp_free(lp->http); /* closes every connection; their close callbacks run now */
    for (size_t b = 0; b < API_CONN_BUCKETS; b++) { /* connections that never reached a close callback */
        while (lp->conns[b] != NULL) {
            api_conn *c = lp->conns[b];
            lp->conns[b] = c->next;
            atomic_fetch_sub(&lp->srv->connections, 1);
            free(c);
        }
    }
    if (lp->wake)
        event_free(lp->wake);
    if (lp->drain)
        event_free(lp->drain);
    if (lp->heartbeat)
        event_free(lp->heartbeat);
    if (lp->resume)
        event_free(lp->resume);
    if (lp->base)
        event_base_free(lp->base);
    pthread_mutex_destroy(&lp->mu);
    memset(lp, 0, sizeof *lp);
}

int tl_server_start(tl_server **out, tl_ledger *l, tl_views *views, const tl_server_options *opt, tl_error *err)
{
    *out = NULL;
    static const tl_server_options defaults = {.access_log_fd = -1};
    if (opt == NULL)
        opt = &defaults;
    if (evthread_use_pthreads() != 0)
        return tl_fail(err, TL_EIO, "server.threads", "", "libevent has no thread support");
    tl_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    s->l = l;
    s->views = views;
    s->listen_handle = -1;
    s->access_log_fd = opt->access_log_fd;
    s->connections_max = opt->connections_max ? opt->connections_max : TL_API_CONNECTIONS_MAX;
    s->started_ms = wall_ms();
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_cond_init(&s->log_cv, NULL);
    unsigned cpus = cpu_count();
    s->nloops = opt->loops ? opt->loops : cpus;
    s->nworkers = opt->workers ? opt->workers : cpus;
    if (s->nloops > TL_API_LOOPS_MAX)
        s->nloops = TL_API_LOOPS_MAX;
    if (s->nworkers > TL_API_WORKERS_MAX)
        s->nworkers = TL_API_WORKERS_MAX;
    int rc = 0;
    if (opt->tokens_path != NULL)
        rc = tl_api_tokens_load(&s->tokens, opt->tokens_path, err);
    if (rc == 0 && (s->secrets = tl_api_secrets_new()) == NULL)
        rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    if (rc == 0)
        rc = open_listener(s, opt->listen ? opt->listen : TL_API_LISTEN_DEFAULT, err);
    for (unsigned i = 0; rc == 0 && i < s->nloops; i++)
        rc = loop_init(s, &s->loops[i], i, err);
    if (rc == 0 && s->access_log_fd >= 0) {
        s->log_buf = malloc(TL_API_ACCESS_LOG_BUFFER_BYTES);
        if (s->log_buf == NULL)
            rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        else if (pthread_create(&s->logger, NULL, logger_main, s) != 0)
            rc = tl_fail(err, TL_EIO, "server.threads", "", "cannot start the access log thread");
        else
            s->logger_started = true;
    }
    if (rc == 0)
        rc = api_pool_start(s, err);
    if (rc == 0)
        rc = api_views_start(s, opt->view_cache_bytes ? opt->view_cache_bytes : TL_API_VIEW_CACHE_BYTES_DEFAULT,
                             s->nloops, err);
    if (rc == 0) {
        s->listen_handle = tl_ledger_listen(l, on_commit, s);
        if (s->listen_handle < 0)
            rc = tl_fail(err, TL_ETOOBIG, "server.listeners", "", "the ledger has no room for another listener");
    }
    for (unsigned i = 0; rc == 0 && i < s->nloops; i++) {
        if (pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]) != 0)
            rc = tl_fail(err, TL_EIO, "server.threads", "", "cannot start an event loop thread");
        else
            s->loops[i].started = true;
    }
    if (rc != 0) {
        tl_server_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

uint16_t tl_server_port(const tl_server *s) { return s->port; }

void tl_server_stop(tl_server *s)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&s->stopping, &expected, true))
        return;
    if (s->listen_handle >= 0) {
        tl_ledger_unlisten(s->l, s->listen_handle);
        s->listen_handle = -1;
    }
    for (unsigned i = 0; i < s->nloops; i++)
        if (s->loops[i].wake != NULL)
            api_loop_wake(&s->loops[i]);
}

void tl_server_wait(tl_server *s)
{
    if (s->waited)
        return;
    for (unsigned i = 0; i < s->nloops; i++)
        if (s->loops[i].started) {
            pthread_join(s->loops[i].thread, NULL);
            s->loops[i].started = false;
        }
    api_pool_stop(s);
    api_views_stop(s);
    s->waited = true;
}

void tl_server_free(tl_server *s)
{
    if (s == NULL)
        return;
    tl_server_stop(s);
    tl_server_wait(s);
    for (unsigned i = 0; i < s->nloops; i++)
        loop_free(&s->loops[i]);
    for (unsigned i = 0; i < s->nlisten; i++)
        close(s->listen_fds[i]);
    if (s->logger_started) { /* writes out the last lines, then ends */
        pthread_mutex_lock(&s->log_mu);
        s->log_stop = true;
        pthread_cond_signal(&s->log_cv);
        pthread_mutex_unlock(&s->log_mu);
        pthread_join(s->logger, NULL);
    }
    free(s->log_buf);
    api_views_free(s);
    tl_api_secrets_free(s->secrets);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    pthread_mutex_destroy(&s->log_mu);
    pthread_cond_destroy(&s->log_cv);
    free(s);
}
