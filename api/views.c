/*
 * GET /v1/views/...: the reply cache and the render threads.
 *
 * A view's reply is a function of five things: the view's path, its query parameters, the
 * format (json or csv), the reader's access level, and the state of the projections. The first
 * four make the cache KEY: one access byte, one format byte, the decoded path, then the query
 * parameters sorted by name as "name=value" (percent-decoded; "format=json" is the default and
 * is left out), each ended by a NUL. The access level is part of every key, so a reply rendered
 * for an auditor can never be found by a public reader's request.
 *
 * The state is the STAMP: the live generation and the position of every projection
 * (tl_views_stats). A reply is stored with the stamp taken just BEFORE it was rendered, and is
 * served only while the projections still stand at exactly that stamp; any record applied (or
 * a rebuild switching generations) changes the stamp, so a stored reply can never outlive the
 * view it shows. Taking the stamp first is what makes this safe: a projection publishes its
 * new position only after its batch is written, so a render sees at least the state its stamp
 * names (perhaps more, which only makes the entry miss one request earlier).
 *
 * The ETag of a reply is a keyed hash (SipHash, key random per process) of its stamp and its
 * key, so it changes whenever the view may have changed, differs between access levels, and
 * never survives a restart (a new build may render differently). A request whose
 * If-None-Match names the ETag of the current stamp gets 304 Not Modified without a render.
 *
 * Renders never run on an event loop: a miss queues a job to the render threads, and the
 * request waits (deferred, like a submission) while the loop goes on answering others.
 * Requests for a key whose render is already queued, or running from the current stamp, wait
 * for that same render instead of starting their own, so a burst of misses after a change costs
 * one render. The finished reply goes to every waiter's loop through its done list.
 * contracts/<reg_no> depends on the log as well (proofs, checkpoints), so it is rendered off
 * the loop but never stored. Only 200 replies are stored.
 *
 * Bounds: the stored replies and their keys hold at most cache_bytes (LRU eviction); a reply
 * larger than an eighth of that is not stored. Jobs and waiters are bounded by the deferred
 * requests, i.e. by the connection cap. Replies are immutable and reference-counted, so a loop
 * sends one straight from the cache (evbuffer_add_reference, no copy) and an evicted or
 * replaced reply lives until its last send is done.
 *
 * Threads: the cache (table, LRU, jobs' waiter lists) is guarded by one mutex, held only for
 * lookups and inserts, never during a render or a send.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api_internal.h"

#define VC_BUCKETS 4096u
#define VC_KEY_BYTES_MAX (TL_API_URI_BYTES_MAX + 16u)
#define VC_INM_BYTES_MAX 512u /* an If-None-Match longer than this is treated as absent */

typedef struct vc_stamp {
    uint64_t gen[TL_VIEWS_PROJECTIONS_MAX];
    uint64_t pos[TL_VIEWS_PROJECTIONS_MAX];
    uint8_t ready[TL_VIEWS_PROJECTIONS_MAX];
} vc_stamp;

/* A rendered reply; immutable once built. */
typedef struct vc_reply {
    _Atomic uint32_t refs;
    int status;
    const char *content_type; /* a static string */
    bool has_etag;
    char etag[API_ETAG_BYTES];
    vc_stamp stamp;
    size_t len;
    char body[];
} vc_reply;

typedef struct vc_job vc_job;

typedef struct vc_entry {
    struct vc_entry *hnext;
    struct vc_entry *newer, *older; /* LRU list */
    uint64_t hash;
    vc_reply *reply; /* the last 200 stored for the key; NULL while the first render runs */
    vc_job *job;     /* the render in flight whose waiters new requests may join */
    size_t key_len;
    char key[];
} vc_entry;

/* A request waiting for a render; on its loop's done list once the reply is in. */
typedef struct vc_wait {
    struct vc_wait *next;
    api_req rq;
    vc_reply *reply;
    bool inm_present;
    char inm[VC_INM_BYTES_MAX + 1];
} vc_wait;

struct vc_job {
    vc_job *next; /* the render queue */
    bool cacheable;
    bool started; /* guarded by the cache's mutex, with stamp */
    vc_stamp stamp;
    vc_wait *waiters; /* guarded by the cache's mutex until the job is done */
    tl_access access;
    bool csv;
    bool contract;
    uint64_t proof;
    size_t nparams;
    tl_view_param params[API_QUERY_PARAMS_MAX];
    api_query q; /* owns the parameters' strings */
    char sub[TL_API_URI_BYTES_MAX + 1];
    uint64_t hash;
    size_t key_len;
    char key[VC_KEY_BYTES_MAX];
};

struct api_views {
    tl_server *srv;
    unsigned char sip_key[crypto_shorthash_KEYBYTES];
    size_t bytes_max;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vc_entry *buckets[VC_BUCKETS];
    vc_entry *newest, *oldest;
    vc_reply *oom; /* a 500 ready for when a render's reply cannot be allocated */
    size_t bytes; /* stored replies and keys */
    size_t entries;
    vc_job *queue_head, *queue_tail;
    bool stop;
    unsigned nthreads;
    pthread_t threads[TL_API_RENDERERS_MAX];
    /* for /metrics */
    _Atomic uint64_t hits, misses, coalesced, not_modified, renders, evictions, uncacheable;
};

/* ---------- replies ---------- */

static void reply_unref(vc_reply *r)
{
    if (r != NULL && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        free(r);
}

static vc_reply *reply_ref(vc_reply *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

static void reply_sent(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    reply_unref(arg);
}

static vc_reply *reply_new(int status, const char *content_type, const void *body, size_t len)
{
    vc_reply *r = malloc(sizeof *r + len);
    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof *r);
    atomic_init(&r->refs, 1);
    r->status = status;
    r->content_type = content_type;
    r->len = len;
    if (body != NULL && len > 0)
        memcpy(r->body, body, len);
    return r;
}

static vc_reply *reply_from_evbuffer(int status, const char *content_type, struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    vc_reply *r = reply_new(status, content_type, NULL, len);
    if (r != NULL)
        evbuffer_copyout(b, r->body, len);
    return r;
}

static void stamp_take(vc_stamp *st, tl_views *v)
{
    tl_projection_stats ps[TL_VIEWS_PROJECTIONS_MAX];
    size_t n = tl_views_stats(v, ps, TL_VIEWS_PROJECTIONS_MAX);
    memset(st, 0, sizeof *st);
    for (size_t i = 0; i < n && i < TL_VIEWS_PROJECTIONS_MAX; i++) {
        st->gen[i] = ps[i].generation;
        st->pos[i] = ps[i].position;
        st->ready[i] = ps[i].ready;
    }
}

static bool stamp_eq(const vc_stamp *a, const vc_stamp *b) { return memcmp(a, b, sizeof *a) == 0; }

static void etag_of(char out[API_ETAG_BYTES], const api_views *vc, const vc_stamp *st, const char *key,
                    size_t key_len)
{
    unsigned char in[sizeof *st + VC_KEY_BYTES_MAX];
    memcpy(in, st, sizeof *st);
    memcpy(in + sizeof *st, key, key_len);
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, in, sizeof *st + key_len, vc->sip_key);
    static const char hex[] = "0123456789abcdef";
    out[0] = '"';
    for (size_t i = 0; i < 8; i++) {
        out[1 + 2 * i] = hex[h[i] >> 4];
        out[2 + 2 * i] = hex[h[i] & 15];
    }
    out[17] = '"';
    out[18] = '\0';
}

/* If-None-Match: a list of entity tags (weak ones compared weakly) or "*". */
static bool inm_matches(const char *inm, const char *etag, bool star)
{
    size_t elen = strlen(etag);
    const char *p = inm;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return star;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = p;
        if (*end == '"') {
            end = strchr(end + 1, '"');
            if (end == NULL)
                return false;
            end++;
        } else {
            while (*end != '\0' && *end != ',' && *end != ' ')
                end++;
        }
        if ((size_t)(end - p) == elen && memcmp(p, etag, elen) == 0)
            return true;
        if (end == p)
            return false;
        p = end;
    }
    return false;
}

/* ---------- the table ---------- */

static size_t entry_cost(const vc_entry *e)
{
    return sizeof *e + e->key_len + (e->reply ? sizeof *e->reply + e->reply->len : 0);
}

static vc_entry *entry_find(api_views *vc, uint64_t hash, const char *key, size_t key_len)
{
    for (vc_entry *e = vc->buckets[hash % VC_BUCKETS]; e != NULL; e = e->hnext)
        if (e->hash == hash && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
            return e;
    return NULL;
}

static void lru_unlink(api_views *vc, vc_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        vc->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        vc->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(api_views *vc, vc_entry *e)
{
    e->older = vc->newest;
    e->newer = NULL;
    if (vc->newest)
        vc->newest->newer = e;
    vc->newest = e;
    if (vc->oldest == NULL)
        vc->oldest = e;
}

static void entry_remove(api_views *vc, vc_entry *e)
{
    vc_entry **pp = &vc->buckets[e->hash % VC_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(vc, e);
    vc->bytes -= entry_cost(e);
    vc->entries--;
    reply_unref(e->reply);
    free(e);
}

/* Evicts the least recently used entries without a render in flight until need more bytes fit. */
static void make_room(api_views *vc, size_t need)
{
    vc_entry *e = vc->oldest;
    while (e != NULL && vc->bytes + need > vc->bytes_max) {
        vc_entry *next = e->newer;
        if (e->job == NULL) {
            entry_remove(vc, e);
            atomic_fetch_add_explicit(&vc->evictions, 1, memory_order_relaxed);
        }
        e = next;
    }
}

static vc_entry *entry_add(api_views *vc, uint64_t hash, const char *key, size_t key_len)
{
    vc_entry *e = calloc(1, sizeof *e + key_len);
    if (e == NULL)
        return NULL;
    e->hash = hash;
    e->key_len = key_len;
    memcpy(e->key, key, key_len);
    make_room(vc, entry_cost(e));
    e->hnext = vc->buckets[hash % VC_BUCKETS];
    vc->buckets[hash % VC_BUCKETS] = e;
    lru_push(vc, e);
    vc->bytes += entry_cost(e);
    vc->entries++;
    return e;
}

/* ---------- sending ---------- */

/* Fills rep from a stored or rendered reply: 304 when the client already holds it. */
static void fill_reply(api_views *vc, api_reply *rep, vc_reply *r, const char *inm)
{
    rep->status = r->status;
    rep->content_type = r->content_type;
    if (r->has_etag) {
        memcpy(rep->etag, r->etag, sizeof r->etag);
        if (inm != NULL && r->status == 200 && inm_matches(inm, r->etag, true)) {
            rep->status = 304;
            atomic_fetch_add_explicit(&vc->not_modified, 1, memory_order_relaxed);
            return;
        }
    }
    rep->body = evbuffer_new();
    if (rep->body != NULL && r->len > 0)
        evbuffer_add_reference(rep->body, r->body, r->len, reply_sent, reply_ref(r));
}

/* ---------- rendering ---------- */

static int view_status(int code)
{
    switch (code) {
    case TL_ENOTFOUND: return 404;
    case TL_EINVAL: return 400;
    case TL_EDENIED: return 403;
    case TL_ESTATE: return 503;
    default: return tl_api_status_for(code);
    }
}

/* contracts/<reg_no>: each event with its inclusion proof, against a tree the reader can check
 * (the latest checkpoint when it covers every event, else the current size). */
static int attach_proofs(tl_server *s, json_t *j, uint64_t size, tl_error *err)
{
    json_t *events = json_object_get(j, "events");
    size_t i;
    json_t *e;
    uint64_t max_seq = 0;
    json_array_foreach(events, i, e)
    {
        json_int_t seq = json_integer_value(json_object_get(e, "seq"));
        if ((uint64_t)seq > max_seq)
            max_seq = (uint64_t)seq;
    }
    tl_buf note;
    tl_buf_init(&note);
    uint64_t cp_size = 0;
    bool have_cp = false;
    if (size == 0) {
        have_cp = tl_ledger_checkpoint_latest(s->l, &note, &cp_size, err) == 0 && cp_size > max_seq;
        size = have_cp ? cp_size : tl_ledger_size(s->l);
    } else {
        have_cp = tl_ledger_checkpoint_get(s->l, size, &note, err) == 0;
    }
    tl_error_clear(err);
    tl_buf rec;
    tl_buf_init(&rec);
    int rc = 0;
    json_array_foreach(events, i, e)
    {
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
        rc = tl_ledger_read(s->l, seq, &rec, err);
        if (rc != 0)
            break;
        uint8_t leaf[TL_HASH_BYTES];
        tl_leaf_hash(leaf, rec.data, rec.len);
        json_t *proof;
        rc = tl_api_proof_json(&proof, s->l, seq, size, leaf, err);
        if (rc != 0)
            break;
        json_object_set_new(e, "proof", proof);
    }
    if (rc == 0) {
        json_object_set_new(j, "tree_size", json_integer((json_int_t)size));
        if (have_cp)
            json_object_set_new(j, "checkpoint", json_stringn((const char *)note.data, note.len));
    }
    tl_buf_free(&rec);
    tl_buf_free(&note);
    return rc;
}

static vc_reply *error_reply(int status, const tl_error *err)
{
    api_reply rep = {0};
    api_reply_error(&rep, status, err->rule[0] ? err->rule : "view.error", err->path, "%s", err->msg);
    vc_reply *r = rep.body ? reply_from_evbuffer(rep.status, rep.content_type, rep.body) : NULL;
    if (rep.body)
        evbuffer_free(rep.body);
    return r;
}

static int dump_cb(const char *buffer, size_t size, void *data) { return evbuffer_add(data, buffer, size); }

/* Runs the job's query and renders it (a 200, or the error reply); NULL when out of memory. */
static vc_reply *render(api_views *vc, vc_job *job)
{
    tl_server *s = vc->srv;
    tl_error err;
    tl_error_clear(&err);
    json_t *j = NULL;
    int rc = tl_view_query(&j, s->views, job->access, job->sub, job->params, job->nparams, &err);
    if (rc == 0 && job->contract)
        rc = attach_proofs(s, j, job->proof, &err);
    if (rc != 0) {
        json_decref(j);
        return error_reply(view_status(rc), &err);
    }
    vc_reply *r = NULL;
    if (job->csv) {
        tl_buf out;
        tl_buf_init(&out);
        rc = tl_view_csv(&out, j, &err);
        json_decref(j);
        r = rc == 0 ? reply_new(200, "text/csv; charset=utf-8", out.data, out.len)
                    : error_reply(view_status(rc), &err);
        tl_buf_free(&out);
        return r;
    }
    struct evbuffer *b = evbuffer_new();
    if (b != NULL && json_dump_callback(j, dump_cb, b, JSON_COMPACT) == 0 && evbuffer_add(b, "\n", 1) == 0)
        r = reply_from_evbuffer(200, "application/json", b);
    json_decref(j);
    if (b != NULL)
        evbuffer_free(b);
    return r;
}

/* Hands each waiter its reply on its own loop. */
static void deliver(vc_wait *list, vc_reply *r)
{
    while (list != NULL) {
        vc_wait *w = list;
        list = w->next;
        w->reply = reply_ref(r);
        tl_loop *lp = w->rq.loop;
        pthread_mutex_lock(&lp->mu);
        bool was_empty = lp->views_done_head == NULL;
        w->next = NULL;
        if (lp->views_done_tail)
            lp->views_done_tail->next = w;
        else
            lp->views_done_head = w;
        lp->views_done_tail = w;
        pthread_mutex_unlock(&lp->mu);
        if (was_empty) /* otherwise a wake-up is already due */
            api_loop_wake(lp);
    }
}

static void job_run(api_views *vc, vc_job *job)
{
    vc_stamp st;
    stamp_take(&st, vc->srv->views);
    pthread_mutex_lock(&vc->mu);
    job->started = true;
    job->stamp = st;
    pthread_mutex_unlock(&vc->mu);

    atomic_fetch_add_explicit(&vc->renders, 1, memory_order_relaxed);
    vc_reply *r = render(vc, job);
    if (r == NULL) /* out of memory: the reply made for that at start */
        r = reply_ref(vc->oom);
    if (r->status == 200 && job->cacheable) {
        r->stamp = st;
        r->has_etag = true;
        etag_of(r->etag, vc, &st, job->key, job->key_len);
    }

    pthread_mutex_lock(&vc->mu);
    /* The entry outlives the job unless a newer render took it over and has finished; the last
     * render to finish is stored (an older one can only cost a miss: its stamp is older). */
    vc_entry *e = job->cacheable ? entry_find(vc, job->hash, job->key, job->key_len) : NULL;
    if (e != NULL && e->job == job)
        e->job = NULL;
    if (e != NULL && r->status == 200 && sizeof *r + r->len <= vc->bytes_max / 8) {
        vc_reply *prev = e->reply;
        vc->bytes -= entry_cost(e);
        e->reply = NULL;
        lru_unlink(vc, e); /* so that make_room cannot evict e itself */
        make_room(vc, entry_cost(e) + sizeof *r + r->len);
        lru_push(vc, e);
        e->reply = reply_ref(r);
        vc->bytes += entry_cost(e);
        reply_unref(prev);
    }
    vc_wait *waiters = job->waiters;
    job->waiters = NULL;
    pthread_mutex_unlock(&vc->mu);

    deliver(waiters, r);
    reply_unref(r);
    free(job);
}

static void *render_main(void *arg)
{
    api_views *vc = arg;
    pthread_setname_np(pthread_self(), "tl-views");
    pthread_mutex_lock(&vc->mu);
    for (;;) {
        while (vc->queue_head == NULL && !vc->stop)
            pthread_cond_wait(&vc->cv, &vc->mu);
        vc_job *job = vc->queue_head;
        if (job == NULL)
            break;
        vc->queue_head = job->next;
        if (vc->queue_head == NULL)
            vc->queue_tail = NULL;
        pthread_mutex_unlock(&vc->mu);
        job_run(vc, job);
        pthread_mutex_lock(&vc->mu);
    }
    pthread_mutex_unlock(&vc->mu);
    return NULL;
}

/* ---------- the route ---------- */

/* The cache key (see the top of this file); 0 when it does not fit. */
static size_t key_build(char *key, size_t cap, tl_access access, bool csv, const char *sub, const api_query *q)
{
    size_t n = 0, sl = strlen(sub);
    if (sl + 3 > cap)
        return 0;
    key[n++] = (char)('0' + (int)access);
    key[n++] = csv ? 'c' : 'j';
    memcpy(key + n, sub, sl + 1);
    n += sl + 1;
    /* Parameters in name order (names are unique: api_query_parse refuses duplicates). */
    size_t order[API_QUERY_PARAMS_MAX], m = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->p[i].key, "format") == 0)
            continue;
        size_t j = m++;
        while (j > 0 && strcmp(q->p[order[j - 1]].key, q->p[i].key) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t k = 0; k < m; k++) {
        size_t kl = strlen(q->p[order[k]].key), vl = strlen(q->p[order[k]].value);
        if (n + kl + vl + 2 > cap)
            return 0;
        memcpy(key + n, q->p[order[k]].key, kl);
        n += kl;
        key[n++] = '=';
        memcpy(key + n, q->p[order[k]].value, vl + 1);
        n += vl + 1;
    }
    return n;
}

static uint64_t key_hash(const api_views *vc, const char *key, size_t len)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)key, len, vc->sip_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

static vc_wait *wait_new(const api_req *rq, const char *inm)
{
    vc_wait *w = malloc(sizeof *w);
    if (w == NULL)
        return NULL;
    w->next = NULL;
    w->rq = *rq;
    w->reply = NULL;
    w->inm_present = inm != NULL;
    if (inm != NULL)
        memcpy(w->inm, inm, strlen(inm) + 1);
    return w;
}

void api_handle_views(api_req *rq, const char *sub, const char *raw_query, api_reply *rep)
{
    tl_server *s = rq->loop->srv;
    api_views *vc = s->vc;
    tl_error err;
    tl_error_clear(&err);
    api_query q;
    if (api_query_parse(&q, raw_query, NULL, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    const char *format = api_query_get(&q, "format");
    bool csv = false;
    if (format != NULL && strcmp(format, "csv") == 0)
        csv = true;
    else if (format != NULL && strcmp(format, "json") != 0) {
        api_reply_error(rep, 400, "query.invalid", "format", "format is json or csv, not '%s'", format);
        return;
    }
    bool contract = strncmp(sub, "contracts/", 10) == 0;
    uint64_t proof = 0;
    if (contract && api_query_u64(&q, "proof", 1, tl_ledger_size(s->l), &proof, NULL, &err) != 0) {
        api_reply_tl_error(rep, &err);
        return;
    }
    if (s->views == NULL) {
        api_reply_error(rep, 503, "views.unavailable", "", "this server has no views");
        return;
    }
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "If-None-Match");
    if (inm != NULL && strlen(inm) > VC_INM_BYTES_MAX)
        inm = NULL;

    char key[VC_KEY_BYTES_MAX];
    size_t key_len = contract ? 0 : key_build(key, sizeof key, rq->access, csv, sub, &q);
    uint64_t hash = 0;
    vc_stamp now;
    vc_entry *e = NULL;
    if (key_len > 0) {
        stamp_take(&now, s->views);
        hash = key_hash(vc, key, key_len);
        if (inm != NULL) { /* the client holds the reply of the current stamp: no render needed */
            char etag[API_ETAG_BYTES];
            etag_of(etag, vc, &now, key, key_len);
            if (inm_matches(inm, etag, false)) {
                atomic_fetch_add_explicit(&vc->not_modified, 1, memory_order_relaxed);
                rep->status = 304;
                rep->content_type = csv ? "text/csv; charset=utf-8" : "application/json";
                memcpy(rep->etag, etag, sizeof etag);
                return;
            }
        }
        pthread_mutex_lock(&vc->mu);
        e = entry_find(vc, hash, key, key_len);
        if (e != NULL && e->reply != NULL && stamp_eq(&e->reply->stamp, &now)) {
            vc_reply *r = reply_ref(e->reply);
            lru_unlink(vc, e);
            lru_push(vc, e);
            pthread_mutex_unlock(&vc->mu);
            atomic_fetch_add_explicit(&vc->hits, 1, memory_order_relaxed);
            fill_reply(vc, rep, r, inm);
            reply_unref(r);
            return;
        }
        /* A render that will see at least the current stamp: wait for it. */
        if (e != NULL && e->job != NULL && (!e->job->started || stamp_eq(&e->job->stamp, &now))) {
            vc_wait *w = wait_new(rq, inm);
            if (w != NULL) {
                w->next = e->job->waiters;
                e->job->waiters = w;
            }
            pthread_mutex_unlock(&vc->mu);
            if (w == NULL) {
                api_reply_error(rep, 500, "memory", "", "out of memory");
                return;
            }
            atomic_fetch_add_explicit(&vc->coalesced, 1, memory_order_relaxed);
            rq->loop->pending++;
            rep->deferred = true;
            return;
        }
        pthread_mutex_unlock(&vc->mu);
    }

    /* A miss: queue a render. */
    vc_job *job = calloc(1, sizeof *job);
    vc_wait *w = wait_new(rq, inm);
    if (job == NULL || w == NULL) {
        free(job);
        free(w);
        api_reply_error(rep, 500, "memory", "", "out of memory");
        return;
    }
    job->access = rq->access;
    job->csv = csv;
    job->contract = contract;
    job->proof = proof;
    job->q = q;
    for (size_t i = 0; i < job->q.n; i++) {
        if (strcmp(job->q.p[i].key, "format") == 0 || (contract && strcmp(job->q.p[i].key, "proof") == 0))
            continue;
        job->params[job->nparams].key = job->q.p[i].key;
        job->params[job->nparams].value = job->q.p[i].value;
        job->nparams++;
    }
    snprintf(job->sub, sizeof job->sub, "%s", sub);
    job->waiters = w;
    pthread_mutex_lock(&vc->mu);
    if (key_len > 0) {
        e = entry_find(vc, hash, key, key_len);
        if (e == NULL)
            e = entry_add(vc, hash, key, key_len);
        if (e != NULL) {
            job->cacheable = true;
            job->hash = hash;
            job->key_len = key_len;
            memcpy(job->key, key, key_len);
            e->job = job; /* later misses join this render, not an older one */
        }
    }
    job->next = NULL;
    if (vc->queue_tail)
        vc->queue_tail->next = job;
    else
        vc->queue_head = job;
    vc->queue_tail = job;
    pthread_cond_signal(&vc->cv);
    pthread_mutex_unlock(&vc->mu);
    atomic_fetch_add_explicit(key_len > 0 ? &vc->misses : &vc->uncacheable, 1, memory_order_relaxed);
    rq->loop->pending++;
    rep->deferred = true;
}

void api_views_drain(tl_loop *lp)
{
    pthread_mutex_lock(&lp->mu);
    vc_wait *list = lp->views_done_head;
    lp->views_done_head = lp->views_done_tail = NULL;
    pthread_mutex_unlock(&lp->mu);
    while (list != NULL) {
        vc_wait *w = list;
        list = w->next;
        api_reply rep = {0};
        fill_reply(lp->srv->vc, &rep, w->reply, w->inm_present ? w->inm : NULL);
        reply_unref(w->reply);
        api_send(&w->rq, &rep);
        lp->pending--;
        free(w);
    }
}

/* ---------- start, stop, metrics ---------- */

int api_views_start(tl_server *s, size_t bytes_max, unsigned nthreads, tl_error *err)
{
    if (sodium_init() < 0)
        return tl_fail(err, TL_EIO, "server.crypto", "", "libsodium cannot start");
    api_views *vc = calloc(1, sizeof *vc);
    if (vc == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    static const char oom_body[] = "{\"error\":\"memory\",\"message\":\"out of memory\",\"path\":\"\"}\n";
    vc->oom = reply_new(500, "application/json", oom_body, sizeof oom_body - 1);
    if (vc->oom == NULL) {
        free(vc);
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    }
    vc->srv = s;
    vc->bytes_max = bytes_max;
    randombytes_buf(vc->sip_key, sizeof vc->sip_key);
    pthread_mutex_init(&vc->mu, NULL);
    pthread_cond_init(&vc->cv, NULL);
    s->vc = vc;
    if (nthreads > TL_API_RENDERERS_MAX)
        nthreads = TL_API_RENDERERS_MAX;
    for (unsigned i = 0; i < nthreads; i++) {
        if (pthread_create(&vc->threads[i], NULL, render_main, vc) != 0)
            return tl_fail(err, TL_EIO, "server.threads", "", "cannot start a view render thread");
        vc->nthreads = i + 1;
    }
    return 0;
}

void api_views_stop(tl_server *s)
{
    api_views *vc = s->vc;
    if (vc == NULL)
        return;
    pthread_mutex_lock(&vc->mu);
    vc->stop = true;
    pthread_cond_broadcast(&vc->cv);
    pthread_mutex_unlock(&vc->mu);
    for (unsigned i = 0; i < vc->nthreads; i++)
        pthread_join(vc->threads[i], NULL);
    vc->nthreads = 0;
}

void api_views_free(tl_server *s)
{
    api_views *vc = s->vc;
    if (vc == NULL)
        return;
    api_views_stop(s);
    while (vc->oldest != NULL)
        entry_remove(vc, vc->oldest);
    reply_unref(vc->oom);
    pthread_mutex_destroy(&vc->mu);
    pthread_cond_destroy(&vc->cv);
    free(vc);
    s->vc = NULL;
}

void api_views_metrics(tl_server *s, struct evbuffer *b)
{
    api_views *vc = s->vc;
    if (vc == NULL)
        return;
    pthread_mutex_lock(&vc->mu);
    size_t entries = vc->entries, bytes = vc->bytes;
    pthread_mutex_unlock(&vc->mu);
    evbuffer_add_printf(b,
                        "# HELP techledger_view_cache_requests_total View requests by how the reply cache answered: "
                        "hit (a stored reply still current), miss (a render was queued), coalesced (joined a render "
                        "already queued for the same reply), not_modified (304 for a current ETag), uncacheable "
                        "(contracts/<reg_no>, rendered every time).\n"
                        "# TYPE techledger_view_cache_requests_total counter\n"
                        "techledger_view_cache_requests_total{result=\"hit\"} %" PRIu64 "\n"
                        "techledger_view_cache_requests_total{result=\"miss\"} %" PRIu64 "\n"
                        "techledger_view_cache_requests_total{result=\"coalesced\"} %" PRIu64 "\n"
                        "techledger_view_cache_requests_total{result=\"not_modified\"} %" PRIu64 "\n"
                        "techledger_view_cache_requests_total{result=\"uncacheable\"} %" PRIu64 "\n",
                        atomic_load(&vc->hits), atomic_load(&vc->misses), atomic_load(&vc->coalesced),
                        atomic_load(&vc->not_modified), atomic_load(&vc->uncacheable));
    evbuffer_add_printf(b,
                        "# HELP techledger_view_renders_total View queries run by the render threads.\n"
                        "# TYPE techledger_view_renders_total counter\n"
                        "techledger_view_renders_total %" PRIu64 "\n"
                        "# HELP techledger_view_cache_evictions_total Stored replies evicted to stay within the bound.\n"
                        "# TYPE techledger_view_cache_evictions_total counter\n"
                        "techledger_view_cache_evictions_total %" PRIu64 "\n"
                        "# HELP techledger_view_cache_entries Keys in the view reply cache.\n"
                        "# TYPE techledger_view_cache_entries gauge\n"
                        "techledger_view_cache_entries %zu\n"
                        "# HELP techledger_view_cache_bytes Bytes held by the view reply cache.\n"
                        "# TYPE techledger_view_cache_bytes gauge\n"
                        "techledger_view_cache_bytes %zu\n"
                        "# HELP techledger_view_cache_bytes_max The cache's bound (serve --view-cache-mb).\n"
                        "# TYPE techledger_view_cache_bytes_max gauge\n"
                        "techledger_view_cache_bytes_max %zu\n",
                        atomic_load(&vc->renders), atomic_load(&vc->evictions), entries, bytes, vc->bytes_max);
}
