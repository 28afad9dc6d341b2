/*
 * What the api/ sources share and nobody else sees: the server, its loops, one request's
 * context, the submission pipeline and the metrics. The design is described in tl_api.h.
 *
 * Thread ownership, in one place:
 *   tl_loop fields        its own loop thread, except `mu`/`done_*` (any thread, under mu) and
 *                         the atomics
 *   api_req, api_conn,    the loop thread of the connection
 *   sse_sub
 *   ingest_job            created and answered on its loop thread; between the two, workers
 *                         and the ledger's writer touch only the fields marked for them
 *   api_metrics           atomics, any thread
 *   api_views             its own mutex (views.c); a vc_wait belongs to its loop once on
 *                         that loop's views_done list
 */
#ifndef TL_API_INTERNAL_H
#define TL_API_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "tl_api.h"

/* ---------- routes (also the metrics' "route" label) ---------- */

enum {
    ROUTE_EVENTS_POST,
    ROUTE_EVENTS_LIST,
    ROUTE_EVENT,
    ROUTE_STREAM,
    ROUTE_CHECKPOINT,
    ROUTE_CONSISTENCY,
    ROUTE_VIEWS,
    ROUTE_SUBSCRIBE,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_WEB,
    ROUTE_UNKNOWN,
    ROUTE_COUNT
};
const char *api_route_name(int route);

/* ---------- metrics ---------- */

#define API_LATENCY_BUCKETS 13
#define API_STATUS_SLOTS 19 /* the statuses we send, and one for any other */

typedef struct api_metrics {
    _Atomic uint64_t count[ROUTE_COUNT][API_STATUS_SLOTS];
    _Atomic uint64_t bucket[ROUTE_COUNT][API_STATUS_SLOTS][API_LATENCY_BUCKETS]; /* not cumulative */
    _Atomic uint64_t sum_us[ROUTE_COUNT][API_STATUS_SLOTS];
    _Atomic uint64_t submissions;       /* POST /v1/events bodies accepted for processing */
    _Atomic uint64_t envelopes;         /* envelopes in them */
    _Atomic uint64_t envelopes_created;
    _Atomic uint64_t envelopes_duplicate;
    _Atomic uint64_t envelopes_rejected;
    _Atomic uint64_t busy;              /* submissions refused with server.busy */
    _Atomic uint64_t access_log_errors;
    /* Where submissions spend their time (ingest.c): summed over answered submissions. */
    _Atomic uint64_t ingest_stage_ns[3]; /* API_STAGE_PREPARE, _DURABLE, _REPLY */
    _Atomic uint64_t ingest_timed;       /* submissions counted in ingest_stage_ns */
} api_metrics;

enum { API_STAGE_PREPARE, API_STAGE_DURABLE, API_STAGE_REPLY };

void api_metrics_observe(api_metrics *m, int route, int status, uint64_t elapsed_ns);

/* ---------- the server ---------- */

typedef struct tl_loop tl_loop;
typedef struct api_conn api_conn;
typedef struct sse_sub sse_sub;
typedef struct ingest_job ingest_job;
typedef struct api_views api_views;
typedef struct vc_wait vc_wait;

#define API_CONN_BUCKETS 1024u /* per loop; chains grow, so this is a speed knob only */

struct tl_loop {
    tl_server *srv;
    unsigned index;
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct evhttp *http;
    tl_loop *next_live; /* the process's loops with an evhttp (server.c, loop_of) */
    struct evconnlistener *lev;
    struct evhttp_bound_socket *bound;
    struct event *wake;      /* completions, new records, stop: activated from any thread */
    struct event *drain;     /* while stopping: looks for in-flight work every few ms */
    struct event *heartbeat; /* SSE keep-alive comments */
    struct event *resume;    /* re-enables accepting after an accept error (EMFILE) */

    pthread_mutex_t mu; /* guards done_head/done_tail and views_done_head/views_done_tail */
    ingest_job *done_head, *done_tail;
    vc_wait *views_done_head, *views_done_tail; /* view requests whose render has finished */

    api_conn *conns[API_CONN_BUCKETS];
    size_t nconns;
    sse_sub *subs;
    _Atomic size_t nsubs;
    size_t pending; /* deferred replies (submissions, view renders) not yet sent */
    bool stop_begun;
    uint64_t stop_ns;
    time_t date_s;  /* the second date[] shows */
    char date[64];  /* "Date:" value, formatted once a second rather than per reply */
};

struct tl_server {
    tl_ledger *l;
    tl_views *views;
    tl_api_tokens tokens;
    tl_api_secrets *secrets;
    int listen_fds[TL_API_LOOPS_MAX]; /* one per loop (SO_REUSEPORT), or one for all */
    unsigned nlisten;
    uint16_t port;
    int access_log_fd;
    size_t connections_max;
    unsigned nloops;
    tl_loop loops[TL_API_LOOPS_MAX];
    unsigned nworkers;
    pthread_t workers[TL_API_WORKERS_MAX];
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;
    ingest_job *pool_head, *pool_tail;
    bool pool_stop;
    int listen_handle; /* tl_ledger_listen, -1 when none */
    _Atomic bool stopping;
    _Atomic size_t connections;
    _Atomic size_t subscribers;
    _Atomic size_t inflight_bytes;
    _Atomic size_t ledger_inflight;
    bool waited;
    uint64_t started_ms;
    /* The access log: loops append lines to log_buf, the logger thread writes them. */
    pthread_t logger;
    bool logger_started;
    pthread_mutex_t log_mu;
    pthread_cond_t log_cv;
    char *log_buf;
    size_t log_len;
    bool log_stop;
    api_metrics metrics;
    api_views *vc; /* the view reply cache and its render threads */
};

/* One accepted connection (a key in its loop's table once it has sent a request). */
struct api_conn {
    struct evhttp_connection *evcon;
    tl_loop *loop;
    sse_sub *sub; /* the subscription this connection carries, if any */
    char remote[64];
    api_conn *next;
};

/* One request, from its arrival to its reply. */
typedef struct api_req {
    tl_loop *loop;
    struct evhttp_request *req;
    int route;
    const char *method;
    tl_access access;
    uint64_t t0_ns;
    char uri[256];    /* for the access log, truncated */
    char remote[64];
    size_t events;    /* submissions: envelopes; subscriptions: records sent */
    size_t created;
    size_t body_bytes;
} api_req;

#define API_ETAG_BYTES 20u /* a quoted 16-digit hex tag and its NUL */

/* A reply being built by a synchronous handler; api_send sends it (once). */
typedef struct api_reply {
    int status;
    const char *content_type;
    struct evbuffer *body;
    const char *allow;      /* for 405 */
    bool close;             /* Connection: close */
    int retry_after_s;      /* > 0: Retry-After */
    bool deferred;          /* the handler took over the request (submission, subscription,
                               view render) */
    char etag[API_ETAG_BYTES]; /* "" = no ETag header */
} api_reply;

uint64_t api_now_ns(void);
/* "public", "auditor", "statistics", "fund_manager". */
const char *api_access_name(tl_access a);

/* Fills rep with a JSON body (steals j; NULL j is an allocation failure: 500). */
void api_reply_json(api_reply *rep, int status, json_t *j);
void api_reply_error(api_reply *rep, int status, const char *rule, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* An error reply for a tl_error, with the status tl_api_status_for gives. */
void api_reply_tl_error(api_reply *rep, const tl_error *e);
/* Sends rep, records the metrics, writes the access log line, frees rep->body. */
void api_send(api_req *rq, api_reply *rep);
/* Metrics and access log for a request whose reply evhttp has already been given. */
void api_finish(api_req *rq, int status, size_t bytes);

/* Appends s as a JSON string (quotes included); bytes that are not UTF-8 become U+FFFD. */
void api_json_string(struct evbuffer *out, const char *s);

/* ---------- queries and paths (query.c) ---------- */

#define API_QUERY_PARAMS_MAX 16u
#define API_QUERY_KEY_BYTES_MAX 32u
#define API_QUERY_VALUE_BYTES_MAX 512u

typedef struct api_query {
    size_t n;
    struct {
        char key[API_QUERY_KEY_BYTES_MAX + 1];
        char value[API_QUERY_VALUE_BYTES_MAX + 1];
    } p[API_QUERY_PARAMS_MAX];
} api_query;

/* Parses a raw query string (NULL or "" = none): key=value pairs split on '&', percent-decoded
 * ('+' is a space). allowed (NULL-terminated; NULL = any key) lists the keys the route knows.
 * Rules: query.unknown (path = key), query.duplicate, query.encoding (bad %-escape, a control
 * character), query.invalid (too many or too long). All TL_EINVAL. */
int api_query_parse(api_query *q, const char *raw, const char *const *allowed, tl_error *err);
const char *api_query_get(const api_query *q, const char *key);
/* A decimal integer in [min, max]; *present false (and 0 returned) when absent.
 * query.invalid otherwise. */
int api_query_u64(const api_query *q, const char *key, uint64_t min, uint64_t max, uint64_t *out,
                  bool *present, tl_error *err);
/* Percent-decodes a path (no '+' rule); refuses NUL and control characters (path.invalid). */
int api_path_decode(char *out, size_t cap, const char *raw, tl_error *err);

/* ---------- handlers ---------- */

/* Synchronous routes (routes.c). `sub` is the path after the route's prefix. */
void api_handle_events_list(api_req *rq, const api_query *q, api_reply *rep);
void api_handle_event(api_req *rq, const char *sub, const api_query *q, api_reply *rep);
void api_handle_stream(api_req *rq, const char *sub, const api_query *q, api_reply *rep);
void api_handle_checkpoint(api_req *rq, const api_query *q, api_reply *rep);
void api_handle_consistency(api_req *rq, const api_query *q, api_reply *rep);
void api_handle_health(api_req *rq, api_reply *rep);
void api_handle_metrics(api_req *rq, api_reply *rep);
/* Serves a dashboard file; false when path is not one. */
bool api_handle_web(api_req *rq, const char *path, api_reply *rep);

/* Submissions (ingest.c). */
void api_ingest_start(api_req *rq, api_reply *rep);
/* On lp's loop: answers every submission the sequencer has finished. */
void api_ingest_drain(tl_loop *lp);
int api_pool_start(tl_server *s, tl_error *err);
void api_pool_stop(tl_server *s);

/* Views (views.c): answered from the reply cache, or deferred to a render thread. */
void api_handle_views(api_req *rq, const char *sub, const char *raw_query, api_reply *rep);
/* On lp's loop: answers every view request whose render has finished. */
void api_views_drain(tl_loop *lp);
int api_views_start(tl_server *s, size_t bytes_max, unsigned nthreads, tl_error *err);
/* Joins the render threads (after the loops have stopped: nothing is queued any more). */
void api_views_stop(tl_server *s);
void api_views_free(tl_server *s);
void api_views_metrics(tl_server *s, struct evbuffer *out);

/* Subscriptions (sse.c). */
void api_sse_start(api_req *rq, api_conn *conn, const api_query *q, api_reply *rep);
void api_sse_pump_all(tl_loop *lp);
void api_sse_heartbeat(tl_loop *lp);
void api_sse_end_all(tl_loop *lp);
/* The connection carrying sub has closed: forget it (req may already be gone). */
void api_sse_closed(sse_sub *sub);

/* Metrics page (metrics.c). */
void api_metrics_render(tl_server *s, struct evbuffer *out);

/* Wakes lp's loop from any thread. */
void api_loop_wake(tl_loop *lp);

#endif
