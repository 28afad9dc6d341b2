/*
 * POST /v1/events: from a request body to durable events and one reply (FORMAT.md section 10).
 *
 *   loop thread     checks the Content-Type and size, splits the body into envelopes
 *                   (tl_submission_split: a bounded walk of the outer array), queues a job
 *   worker threads  claim chunks of TL_API_CHUNK_EVENTS envelopes and run tl_event_prepare
 *                   on each (canonical decode, schema, Ed25519: the CPU-heavy part), so one
 *                   large batch keeps every core busy; prepared chunks are queued to the
 *                   sequencer strictly in batch order (a batch may register a contract and
 *                   amend it), by whichever worker completes the next chunk in line; a
 *                   pooled job's events are announced to the sequencer (tl_ledger_expect)
 *                   when it is queued and taken back chunk by chunk, so that its group
 *                   commits fill up instead of writing each chunk on its own
 *   writer thread   the ledger's callback records each result once it is durable; the last
 *                   one hands the job to its loop (mutex-protected list + event_active)
 *   loop thread     builds the reply (201/200/4xx, or 200 {"results": [...]}) and sends it
 *
 * `pending` counts envelopes not yet answered plus one guard held until every chunk has been
 * queued, so the job cannot complete while a worker is still walking it.
 *
 * A small submission (at most INLINE_EVENTS_MAX envelopes, the one-event-per-request case) is
 * prepared on the loop thread itself and queued straight to the sequencer: its verify takes
 * ~40 us per event, less than the hand-off it saves (a condvar wake-up of a worker and a
 * context switch each way on a busy machine), and the loops already spread over the cores.
 * Large batches still go to the pool so that one of them keeps every core busy and a loop
 * never stalls for milliseconds.
 *
 * Memory: events borrow the request body (which lives until the reply, and the reply comes
 * after the ledger's last callback, after which the ledger no longer reads the event) and
 * their parsed bodies fill node arenas owned by the job (EVENT_NODES each), so preparing an
 * event allocates nothing and the sequencer frees nothing of ours. Before, each event cost a
 * body copy and a node array, malloc'd on one thread and freed on the sequencer's (the
 * profile's malloc/free/unlink_chunk). The job, its slots and tables are one allocation.
 *
 * Limits: at most TL_API_INFLIGHT_BYTES_MAX of bodies in flight (beyond: 503 server.busy), and
 * at most TL_API_LEDGER_INFLIGHT_MAX events queued to the sequencer, so it never refuses one
 * of ours as busy; a worker waits for room instead. The loop never waits: it prepares inline
 * only while there is room, else it hands the job to the pool. Loops may overshoot the limit
 * by INLINE_EVENTS_MAX each (they check, then add), still far below TL_QUEUE_EVENTS_MAX.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_internal.h"

#define ROOM_WAIT_NS 200000L /* a worker's pause while the sequencer's queue is at our limit */
#define INLINE_EVENTS_MAX 4u  /* submissions this small are prepared on the loop thread */
_Static_assert(INLINE_EVENTS_MAX <= TL_API_CHUNK_EVENTS, "an inline submission is one chunk");
/* Body nodes per event in a job's arenas. The bench's bodies have 12..64 nodes; a body with
 * more than an arena has left allocates its own (tl_mp_parse_into), so this is a speed knob. */
#define EVENT_NODES 64u

typedef struct ingest_slot {
    ingest_job *job;
    const char *stream; /* once prepared: the body's stream field, inside job->body */
    uint32_t stream_len;
    tl_error *err; /* malloc'd when rejected */
    uint64_t seq;
    uint64_t version;
    int status;    /* tl_append_status */
    bool prepared;
} ingest_slot;

struct ingest_job {
    ingest_job *next; /* the pool's queue, later the loop's done list */
    api_req rq;
    tl_server *srv;
    const uint8_t *body; /* the request's input buffer, pulled up; lives until the reply */
    size_t body_len;
    tl_span *spans;
    size_t n;
    bool is_batch;
    ingest_slot *slots;
    size_t nchunks;
    bool on_loop;      /* prepared and queued by the loop thread, which must not wait */
    size_t next_chunk; /* guarded by srv->pool_mu */
    pthread_mutex_t mu; /* guards submit_next, chunk_ready, chunk_events */
    size_t submit_next;
    bool *chunk_ready;
    tl_event **chunk_events;
    /* Each chunk's node arena (the inline chunk's lies inside the job's own allocation, the
     * others are malloc'd by their worker); freed with the job, after every callback. */
    tl_mp_node **chunk_nodes;
    _Atomic size_t pending;
    /* Stage boundaries (api_now_ns) for the ingest_stage metrics: every envelope queued to the
     * sequencer (or answered without it), and every envelope answered. */
    uint64_t queued_ns, answered_ns;
};

static const tl_error oom_error = {.code = TL_ENOMEM, .rule = "memory", .path = "", .msg = "out of memory"};

static void slot_reject(ingest_slot *slot, const tl_error *e)
{
    slot->status = TL_APPEND_REJECTED;
    free(slot->err);
    slot->err = malloc(sizeof *slot->err);
    if (slot->err != NULL)
        *slot->err = *e;
}

static void job_complete(ingest_job *job)
{
    job->answered_ns = api_now_ns();
    tl_loop *lp = job->rq.loop;
    pthread_mutex_lock(&lp->mu);
    bool was_empty = lp->done_head == NULL;
    job->next = NULL;
    if (lp->done_tail)
        lp->done_tail->next = job;
    else
        lp->done_head = job;
    lp->done_tail = job;
    pthread_mutex_unlock(&lp->mu);
    if (was_empty) /* otherwise a wake-up is already due */
        api_loop_wake(lp);
}

static void pending_done(ingest_job *job)
{
    if (atomic_fetch_sub(&job->pending, 1) == 1)
        job_complete(job);
}

/* The sequencer's callback, on the ledger's writer thread. */
static void on_appended(void *ctx, const tl_append_result *res)
{
    ingest_slot *slot = ctx;
    ingest_job *job = slot->job;
    slot->seq = res->seq;
    slot->version = res->version;
    if (res->status == TL_APPEND_REJECTED)
        slot_reject(slot, &res->err);
    else
        slot->status = res->status;
    atomic_fetch_sub(&job->srv->ledger_inflight, 1);
    pending_done(job);
}

static void chunk_range(const ingest_job *job, size_t c, size_t *from, size_t *to)
{
    *from = c * TL_API_CHUNK_EVENTS;
    *to = *from + TL_API_CHUNK_EVENTS < job->n ? *from + TL_API_CHUNK_EVENTS : job->n;
}

/* Prepares chunk c into evs (its chunk's events, the caller's memory) with the chunk's node
 * arena, and marks it ready for submit_ready. */
static void prepare_chunk(ingest_job *job, size_t c, tl_event *evs)
{
    size_t from, to;
    chunk_range(job, c, &from, &to);
    tl_mp_node *arena = job->chunk_nodes[c];
    size_t arena_left = arena != NULL ? (to - from) * EVENT_NODES : 0;
    for (size_t i = from; i < to; i++) {
        ingest_slot *slot = &job->slots[i];
        if (evs == NULL) {
            slot_reject(slot, &oom_error);
            continue;
        }
        tl_error e;
        tl_error_clear(&e);
        tl_event *ev = &evs[i - from];
        if (tl_event_prepare_borrow(ev, job->spans[i].ptr, job->spans[i].len, arena, (uint32_t)arena_left, &e) !=
            0) {
            slot_reject(slot, &e);
            continue;
        }
        if (ev->doc.borrowed) { /* else the body outgrew the arena and has its own nodes */
            arena += ev->doc.count;
            arena_left -= ev->doc.count;
        }
        /* The reply names the stream: the body's own bytes, which live as long as the job. */
        const tl_mp_node *stream = &ev->doc.nodes[tl_mp_map_get(&ev->doc, 0, "stream")];
        slot->stream = (const char *)stream->v.s.ptr;
        slot->stream_len = stream->v.s.len;
        slot->prepared = true;
    }
    pthread_mutex_lock(&job->mu);
    job->chunk_events[c] = evs;
    job->chunk_ready[c] = true;
    pthread_mutex_unlock(&job->mu);
}

static void wait_for_room(tl_server *s)
{
    while (atomic_load(&s->ledger_inflight) >= TL_API_LEDGER_INFLIGHT_MAX) {
        struct timespec ts = {0, ROOM_WAIT_NS};
        nanosleep(&ts, NULL);
    }
}

/* Queues every prepared chunk whose turn has come. */
static void submit_ready(ingest_job *job)
{
    tl_server *s = job->srv;
    bool finished = false;
    pthread_mutex_lock(&job->mu);
    while (job->submit_next < job->nchunks && job->chunk_ready[job->submit_next]) {
        size_t c = job->submit_next, from, to;
        chunk_range(job, c, &from, &to);
        tl_event *evs = job->chunk_events[c];
        for (size_t i = from; i < to; i++) {
            ingest_slot *slot = &job->slots[i];
            if (!slot->prepared) {
                pending_done(job);
                continue;
            }
            if (!job->on_loop)
                wait_for_room(s);
            atomic_fetch_add(&s->ledger_inflight, 1);
            tl_error e;
            tl_error_clear(&e);
            /* On success the ledger owns the event and the callback answers it. */
            if (tl_ledger_submit(s->l, &evs[i - from], on_appended, slot, &e) != 0) {
                tl_event_free(&evs[i - from]);
                atomic_fetch_sub(&s->ledger_inflight, 1);
                slot_reject(slot, &e);
                pending_done(job);
            }
        }
        if (!job->on_loop) {
            tl_ledger_expect(s->l, -(long)(to - from)); /* announced when the job was pooled */
            free(evs); /* the inline chunk's are on the loop's stack */
        }
        job->chunk_events[c] = NULL;
        job->submit_next++;
        finished = job->submit_next == job->nchunks;
    }
    pthread_mutex_unlock(&job->mu);
    if (finished) {
        job->queued_ns = api_now_ns(); /* before the guard goes: the job cannot complete sooner */
        pending_done(job);             /* the guard */
    }
}

static void *worker_main(void *arg)
{
    tl_server *s = arg;
    pthread_setname_np(pthread_self(), "tl-verify");
    for (;;) {
        pthread_mutex_lock(&s->pool_mu);
        while (s->pool_head == NULL && !s->pool_stop)
            pthread_cond_wait(&s->pool_cv, &s->pool_mu);
        ingest_job *job = s->pool_head;
        if (job == NULL) {
            pthread_mutex_unlock(&s->pool_mu);
            break;
        }
        size_t c = job->next_chunk++;
        if (job->next_chunk == job->nchunks) {
            s->pool_head = job->next;
            if (s->pool_head == NULL)
                s->pool_tail = NULL;
            job->next = NULL;
        }
        pthread_mutex_unlock(&s->pool_mu);
        size_t from, to;
        chunk_range(job, c, &from, &to);
        tl_event *evs = malloc((to - from) * sizeof *evs);
        job->chunk_nodes[c] = malloc((to - from) * EVENT_NODES * sizeof(tl_mp_node));
        prepare_chunk(job, c, evs);
        submit_ready(job);
    }
    return NULL;
}

int api_pool_start(tl_server *s, tl_error *err)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
            s->nworkers = i;
            return tl_fail(err, TL_EIO, "server.threads", "", "cannot start a worker thread");
        }
    }
    return 0;
}

void api_pool_stop(tl_server *s)
{
    pthread_mutex_lock(&s->pool_mu);
    s->pool_stop = true;
    pthread_cond_broadcast(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    s->nworkers = 0;
}

static void job_free(ingest_job *job)
{
    for (size_t i = 0; i < job->n; i++)
        free(job->slots[i].err);
    for (size_t c = 0; c < job->nchunks; c++) {
        if (!job->on_loop) {
            free(job->chunk_events[c]); /* only after a failure: queued chunks are already freed */
            free(job->chunk_nodes[c]);
        }
    }
    free(job->spans);
    pthread_mutex_destroy(&job->mu);
    free(job);
}

static size_t align_up(size_t n) { return (n + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1); }

/* The job with its slots and chunk tables in one allocation; an inline job also carries its
 * one chunk's node arena (not zeroed: the parser writes what it uses). NULL when out of memory. */
static ingest_job *job_new(size_t n, bool on_loop)
{
    size_t nchunks = (n + TL_API_CHUNK_EVENTS - 1) / TL_API_CHUNK_EVENTS;
    size_t at_slots = align_up(sizeof(ingest_job));
    size_t at_ready = align_up(at_slots + n * sizeof(ingest_slot));
    size_t at_events = align_up(at_ready + nchunks * sizeof(bool));
    size_t at_nodes = at_events + nchunks * sizeof(tl_event *);
    size_t at_arena = align_up(at_nodes + nchunks * sizeof(tl_mp_node *));
    size_t zeroed = at_arena;
    size_t total = zeroed + (on_loop ? n * EVENT_NODES * sizeof(tl_mp_node) : 0);
    char *mem = malloc(total);
    if (mem == NULL)
        return NULL;
    memset(mem, 0, zeroed);
    ingest_job *job = (ingest_job *)mem;
    job->n = n;
    job->nchunks = nchunks;
    job->on_loop = on_loop;
    job->slots = (ingest_slot *)(mem + at_slots);
    job->chunk_ready = (bool *)(mem + at_ready);
    job->chunk_events = (tl_event **)(mem + at_events);
    job->chunk_nodes = (tl_mp_node **)(mem + at_nodes);
    if (on_loop)
        job->chunk_nodes[0] = (tl_mp_node *)(mem + at_arena);
    pthread_mutex_init(&job->mu, NULL);
    for (size_t i = 0; i < n; i++)
        job->slots[i].job = job;
    return job;
}

static bool msgpack_type(const char *ct)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ')
        ct++;
    static const char *const types[] = {"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t n = strlen(types[i]);
        if (strncasecmp(ct, types[i], n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
            return true;
    }
    return false;
}

void api_ingest_start(api_req *rq, api_reply *rep)
{
    tl_server *s = rq->loop->srv;
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Content-Type");
    if (!msgpack_type(ct)) {
        api_reply_error(rep, 415, "request.content_type", "Content-Type",
                        "submissions are MessagePack: Content-Type: application/msgpack");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
    size_t len = evbuffer_get_length(in);
    rq->body_bytes = len;
    if (len > TL_API_BODY_BYTES_MAX) {
        api_reply_error(rep, 413, "request.too_large", "body", "the body is %zu bytes; at most %zu allowed", len,
                        TL_API_BODY_BYTES_MAX);
        return;
    }
    if (len == 0) {
        api_reply_error(rep, 400, "request.empty", "body", "expected an envelope or a batch of envelopes");
        return;
    }
    if (atomic_fetch_add(&s->inflight_bytes, len) + len > TL_API_INFLIGHT_BYTES_MAX) {
        atomic_fetch_sub(&s->inflight_bytes, len);
        atomic_fetch_add_explicit(&s->metrics.busy, 1, memory_order_relaxed);
        rep->retry_after_s = 1;
        api_reply_error(rep, 503, "server.busy", "", "too many submissions in flight; retry shortly");
        return;
    }
    const uint8_t *body = evbuffer_pullup(in, -1);
    tl_error err;
    tl_error_clear(&err);
    tl_span *spans = NULL;
    size_t n = 0;
    bool is_batch = false;
    int rc = body == NULL ? tl_fail(&err, TL_ENOMEM, "memory", "", "out of memory") : 0;
    if (rc == 0)
        rc = tl_submission_split(&spans, &n, &is_batch, body, len, &err);
    /* A small submission is prepared on the loop while the sequencer has room (see the top). */
    bool on_loop = n <= INLINE_EVENTS_MAX && atomic_load(&s->ledger_inflight) + n <= TL_API_LEDGER_INFLIGHT_MAX;
    ingest_job *job = rc == 0 ? job_new(n, on_loop) : NULL;
    if (rc == 0 && job == NULL)
        rc = tl_fail(&err, TL_ENOMEM, "memory", "", "out of memory");
    if (rc != 0) {
        atomic_fetch_sub(&s->inflight_bytes, len);
        free(spans);
        api_reply_tl_error(rep, &err);
        return;
    }
    job->spans = spans;
    job->is_batch = is_batch;
    job->srv = s;
    job->body = body;
    job->body_len = len;
    atomic_store(&job->pending, job->n + 1);
    rq->events = job->n;
    job->rq = *rq;
    rq->loop->pending++;
    atomic_fetch_add_explicit(&s->metrics.submissions, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->metrics.envelopes, job->n, memory_order_relaxed);
    rep->deferred = true;

    if (on_loop) { /* one chunk; the reply comes through the done list like any other */
        tl_event evs[INLINE_EVENTS_MAX];
        prepare_chunk(job, 0, evs);
        submit_ready(job);
        return;
    }
    /* The sequencer lets its group commits fill while the job's chunks are verified. */
    tl_ledger_expect(s->l, (long)job->n);
    pthread_mutex_lock(&s->pool_mu);
    if (s->pool_tail)
        s->pool_tail->next = job;
    else
        s->pool_head = job;
    s->pool_tail = job;
    /* A batch of several chunks can use every worker. */
    if (job->nchunks > 1)
        pthread_cond_broadcast(&s->pool_cv);
    else
        pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

/* The reply is formatted by hand into a stack buffer flushed to the evbuffer when full: a
 * batch's reply is a thousand result objects, and printf-style calls were a visible part of
 * the loop's time per event. */
typedef struct reply_buf {
    struct evbuffer *out;
    size_t n;
    char b[4096];
} reply_buf;

#define RESULT_BYTES_MAX (96u + TL_STREAM_BYTES_MAX) /* one result object, without an error */

static void rb_flush(reply_buf *r)
{
    evbuffer_add(r->out, r->b, r->n);
    r->n = 0;
}

static void rb_room(reply_buf *r, size_t need)
{
    if (r->n + need > sizeof r->b)
        rb_flush(r);
}

static void rb_lit(reply_buf *r, const char *s, size_t len)
{
    memcpy(r->b + r->n, s, len);
    r->n += len;
}
#define RB_LIT(r, s) rb_lit((r), (s), sizeof(s) - 1)

static void rb_u64(reply_buf *r, uint64_t v)
{
    char d[20];
    size_t k = 0;
    do {
        d[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (k > 0)
        r->b[r->n++] = d[--k];
}

/* One result object, without the closing brace. */
static int result_json(reply_buf *r, const ingest_slot *slot)
{
    if (slot->status == TL_APPEND_REJECTED) { /* rare: through the escaping writer */
        const tl_error *e = slot->err ? slot->err : &oom_error;
        rb_flush(r);
        evbuffer_add(r->out, "{\"error\":", 9);
        api_json_string(r->out, e->rule[0] ? e->rule : "internal");
        evbuffer_add(r->out, ",\"message\":", 11);
        api_json_string(r->out, e->msg);
        evbuffer_add(r->out, ",\"path\":", 8);
        api_json_string(r->out, e->path);
        return tl_api_status_for(e->code);
    }
    rb_room(r, RESULT_BYTES_MAX);
    RB_LIT(r, "{\"seq\":");
    rb_u64(r, slot->seq);
    /* A prepared stream holds only [a-z0-9._:/-] (tl_event.h): nothing to escape. */
    RB_LIT(r, ",\"stream\":\"");
    rb_lit(r, slot->stream != NULL ? slot->stream : "", slot->stream_len);
    RB_LIT(r, "\",\"version\":");
    rb_u64(r, slot->version);
    return slot->status == TL_APPEND_CREATED ? 201 : 200;
}

static void ingest_reply(ingest_job *job)
{
    tl_server *s = job->srv;
    api_reply rep = {.content_type = "application/json", .body = evbuffer_new()};
    reply_buf r = {.out = rep.body};
    size_t created = 0, dup = 0;
    for (size_t i = 0; i < job->n; i++) {
        created += job->slots[i].status == TL_APPEND_CREATED;
        dup += job->slots[i].status == TL_APPEND_DUPLICATE;
    }
    if (!job->is_batch) {
        rep.status = result_json(&r, &job->slots[0]);
        rb_room(&r, 2);
        RB_LIT(&r, "}\n");
    } else {
        RB_LIT(&r, "{\"results\":[");
        for (size_t i = 0; i < job->n; i++) {
            if (i > 0) {
                rb_room(&r, 1);
                RB_LIT(&r, ",");
            }
            int st = result_json(&r, &job->slots[i]);
            rb_room(&r, 16);
            RB_LIT(&r, ",\"status\":");
            rb_u64(&r, (uint64_t)st);
            RB_LIT(&r, "}");
        }
        rb_room(&r, 96);
        RB_LIT(&r, "],\"created\":");
        rb_u64(&r, created);
        RB_LIT(&r, ",\"duplicates\":");
        rb_u64(&r, dup);
        RB_LIT(&r, ",\"rejected\":");
        rb_u64(&r, job->n - created - dup);
        RB_LIT(&r, "}\n");
        rep.status = 200;
    }
    rb_flush(&r);
    atomic_fetch_add_explicit(&s->metrics.envelopes_created, created, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->metrics.envelopes_duplicate, dup, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->metrics.envelopes_rejected, job->n - created - dup, memory_order_relaxed);
    job->rq.created = created;
    api_send(&job->rq, &rep);
    uint64_t sent_ns = api_now_ns();
    /* Every job passes the end of submit_ready before its last answer: the stages are in order. */
    if (job->rq.t0_ns <= job->queued_ns && job->queued_ns <= job->answered_ns && job->answered_ns <= sent_ns) {
        api_metrics *m = &s->metrics;
        atomic_fetch_add_explicit(&m->ingest_stage_ns[API_STAGE_PREPARE], job->queued_ns - job->rq.t0_ns,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&m->ingest_stage_ns[API_STAGE_DURABLE], job->answered_ns - job->queued_ns,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&m->ingest_stage_ns[API_STAGE_REPLY], sent_ns - job->answered_ns,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&m->ingest_timed, 1, memory_order_relaxed);
    }
    atomic_fetch_sub(&s->inflight_bytes, job->body_len);
    job->rq.loop->pending--;
    job_free(job);
}

void api_ingest_drain(tl_loop *lp)
{
    pthread_mutex_lock(&lp->mu);
    ingest_job *list = lp->done_head;
    lp->done_head = lp->done_tail = NULL;
    pthread_mutex_unlock(&lp->mu);
    while (list != NULL) {
        ingest_job *next = list->next;
        ingest_reply(list);
        list = next;
    }
}
