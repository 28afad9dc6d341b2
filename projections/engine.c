/*
 * The projection engine: workers that fold the log into the views store, rebuilds beside the
 * live state, and the bookkeeping behind tl_views_stats.
 *
 * THREADS. The live worker owns every live generation (one pj_inst per projection). It waits
 * on a condition variable that the ledger's commit listener signals (a writer-mode ledger), or
 * wakes every TL_VIEWS_FOLLOW_POLL_MS to tl_ledger_refresh a secondary ledger (backing off to
 * FOLLOW_POLL_IDLE_MS while the log does not grow, and at that pace throughout a rebuild: each
 * refresh makes RocksDB start threads to open table files, and during a rebuild those were
 * most of the process's page faults and system time). Each pass reads
 * at most batch_records records once, decodes each record once, and hands it to every
 * instance that has not applied it yet; then each instance writes its changes and its new
 * position in one WriteBatch.
 *
 * REBUILDS. A rebuild thread folds new generations from record 0 (or from where an interrupted
 * rebuild's stored state stops: its 'b' meta record survives restarts) in memory, reading
 * TL_VIEWS_REBUILD_BATCH_RECORDS records per pass and writing nothing: an entity changed many
 * times is written once, and the store's memtable, flushes and compactions are skipped. When a
 * generation is within a batch of the log's end, its whole state and position go into the
 * store as one ingested table file (pj_inst_ingest, atomic like a WriteBatch); then it is
 * handed to the live worker, which folds it alongside the live generation; once both stand at
 * the same position one WriteBatch makes the new generation live and deletes the old one
 * (store.c). Ingest never stops, and readers see the old generation until that write. A crash
 * before the ingest loses only memory: the rebuild starts again from its stored position.
 *
 * VERSIONS. Each projection's pj_def.version is stored with its live generation. At open, a
 * projection whose stored version differs is rebuilt at once; its views answer
 * "view.rebuilding" until the switch (the old state's format may not be the new code's).
 * A projection with no live generation at all (a fresh views store, a new projection) is
 * built the same way.
 *
 * The rebuild request file (DIR/views.rebuild) lets `techledger rebuild` ask a process that
 * holds the views (`serve`, `project`) to rebuild: it names projections one per line ("*" or
 * empty: all); the live worker picks it up within a second and removes it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pj_internal.h"

#define NDEFS 4u
#define REQUEST_CHECK_MS 1000u
#define FOLLOW_POLL_IDLE_MS 400u
#define REQUEST_BYTES_MAX 4096u

static const pj_def *const defs[NDEFS] = {&pj_def_turnover, &pj_def_institutions, &pj_def_funds,
                                           &pj_def_catalogue};

typedef struct def_totals {
    uint64_t applied, batches, apply_ns;
    tl_error last_err; /* the last failure of this projection, code 0 when none */
} def_totals;

struct tl_views {
    tl_ledger *l;
    pj_store store;
    char *views_dir;
    char *request_path;
    bool follow;
    uint32_t batch;
    uint32_t rebuild_batch; /* larger: fewer, bigger writes; nobody reads a rebuild meanwhile */
    uint64_t target_fen;
    int target_year;

    pthread_mutex_t mu;
    pthread_cond_t wake;     /* to the live worker */
    pthread_cond_t progress; /* from the workers, after every pass */
    bool stop;
    bool kick;
    bool commit_seen; /* the ledger's listener has fired: no need to poll */
    int listen_handle;

    pthread_t live_thread;
    bool live_started;
    pthread_t rb_thread;
    bool rb_started; /* a thread was created and not yet joined */
    bool rb_running; /* it is still working */

    /* guarded by mu */
    pj_inst *live[NDEFS];     /* NULL: nothing usable yet (first build, version change) */
    pj_inst *rebuild[NDEFS];  /* owned by the rebuild thread */
    pj_inst *handover[NDEFS]; /* from the rebuild thread, not yet picked up */
    pj_inst *pending[NDEFS];  /* folded by the live worker until it replaces live[i] */
    def_totals totals[NDEFS];
    uint64_t size_seen;
    uint32_t drop_gen[NDEFS]; /* live worker: an old generation whose files are still to drop; 0 none */
    _Atomic uint64_t behind_since_ms;
    uint64_t last_request_check_ms;
};

/* ---------- small helpers ---------- */

int pj_nomem(tl_error *err) { return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory"); }

pj_store *pj_views_store(tl_views *v) { return &v->store; }
tl_ledger *pj_views_ledger(tl_views *v) { return v->l; }
uint64_t pj_views_target_fen(tl_views *v) { return v->target_fen; }
int pj_views_target_year(tl_views *v) { return v->target_year; }

static uint64_t now_ms(void) { return pj_mono_ns() / 1000000u; }

size_t tl_views_projection_names(const char **out, size_t cap)
{
    for (size_t i = 0; i < NDEFS && i < cap; i++)
        out[i] = defs[i]->name;
    return NDEFS;
}

static int def_index(const char *name)
{
    for (unsigned i = 0; i < NDEFS; i++)
        if (strcmp(defs[i]->name, name) == 0)
            return (int)i;
    return -1;
}

/* ---------- instances ---------- */

static void inst_free(pj_inst *in)
{
    if (in == NULL)
        return;
    pj_inst_tables_free(in);
    if (in->state != NULL)
        in->def->destroy(in);
    pj_inst_drop_iter(in);
    if (in->wb)
        rocksdb_writebatch_destroy(in->wb);
    tl_buf_free(&in->staged);
    free(in->staged_off);
    free(in);
}

static int inst_new(pj_inst **out, tl_views *v, const pj_def *def, uint32_t gen, uint64_t pos, tl_error *err)
{
    pj_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return pj_nomem(err);
    in->def = def;
    in->store = &v->store;
    in->ledger = v->l;
    in->gen = gen;
    pj_prefix(in->prefix, def->id, gen);
    in->pos = pos;
    in->stored = pos;
    in->next = pos;
    in->fresh = pos == 0;
    in->wb = rocksdb_writebatch_create();
    tl_buf_init(&in->staged);
    if (def->init(in) != 0) {
        inst_free(in);
        return pj_nomem(err);
    }
    *out = in;
    return 0;
}

/* After a failure: back to the stored state (what a building generation folded in memory is
 * folded again). */
static void inst_reset(pj_inst *in)
{
    rocksdb_writebatch_clear(in->wb);
    pj_inst_stage_clear(in);
    pj_inst_drop_iter(in);
    pj_inst_tables_reset(in);
    in->fresh = false;
    in->pos = in->stored;
    in->next = in->pos;
}

static int write_batch(tl_views *v, rocksdb_writebatch_t *wb, tl_error *err)
{
    char *dberr = NULL;
    rocksdb_write(v->store.db, v->store.wopts, wb, &dberr);
    return dberr != NULL ? pj_store_fail(err, &dberr, "cannot write the views") : 0;
}

static void delete_generation(rocksdb_writebatch_t *wb, uint8_t proj, uint32_t gen)
{
    uint8_t lo[PJ_PREFIX_BYTES], hi[PJ_PREFIX_BYTES];
    pj_prefix(lo, proj, gen);
    pj_prefix(hi, proj, gen + 1); /* gen never reaches UINT32_MAX: a rebuild a second for 136 years */
    rocksdb_writebatch_delete_range(wb, (const char *)lo, sizeof lo, (const char *)hi, sizeof hi);
}

/* Allocates a new generation for def and records it as a rebuild in progress. */
static int start_generation(tl_views *v, const pj_def *def, pj_inst **out, tl_error *err)
{
    pj_meta g;
    int rc = pj_meta_get(&v->store, NULL, 'g', def->id, &g, err);
    if (rc != 0)
        return rc;
    uint32_t gen = g.present ? g.gen + 1 : 1;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    pj_meta_put(wb, 'g', def->id, 0, gen);
    pj_meta_put(wb, 'b', def->id, def->version, gen);
    rc = write_batch(v, wb, err);
    rocksdb_writebatch_destroy(wb);
    if (rc != 0)
        return rc;
    if ((rc = inst_new(out, v, def, gen, 0, err)) == 0)
        (*out)->building = true;
    return rc;
}

/* ---------- folding ---------- */

/*
 * A pass folds each record one step late: record seq is copied and decoded, and its
 * prefetches issued, before record seq - 1 is applied. A fold's first touch of a contract is a
 * cache miss at a random place in tens of megabytes; prefetched just before its own apply it
 * was still the rebuild's largest stall, while a whole record's work hides it. The copy is
 * what this costs: the scan's record bytes are valid during its callback only.
 */
typedef struct pass_ctx {
    pj_inst **insts;
    size_t n;
    pj_event ev[2];
    uint8_t *buf[2]; /* the copied records ev[] point into */
    size_t cap[2];
    unsigned cur;    /* the slot the next record goes into; the other holds the pending one */
    bool pending;    /* ev[cur ^ 1] is decoded and not yet applied */
} pass_ctx;

static void fail_at(pass_ctx *p, uint64_t seq, const tl_error *err)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->insts[i]->next == seq && !p->insts[i]->failed) {
            p->insts[i]->failed = true;
            p->insts[i]->fail_err = *err;
        }
    }
}

static void apply_event(pass_ctx *p, const pj_event *ev)
{
    for (size_t i = 0; i < p->n; i++) {
        pj_inst *in = p->insts[i];
        if (in->failed || in->next != ev->seq)
            continue;
        tl_error err;
        if (ev->type >= 0 && in->def->apply(in, ev, &err) != 0) {
            in->failed = true;
            in->fail_err = err;
            continue;
        }
        in->next = ev->seq + 1;
    }
}

/* Applies the record decoded last, if it is still pending. */
static void fold_pending(pass_ctx *p)
{
    if (p->pending)
        apply_event(p, &p->ev[p->cur ^ 1u]);
    p->pending = false;
}

static int fold_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    pass_ctx *p = ctx;
    bool needed = false; /* next <= seq: an instance still at the pending record needs this one */
    for (size_t i = 0; i < p->n; i++)
        needed = needed || (!p->insts[i]->failed && p->insts[i]->next <= seq);
    if (!needed)
        return 0;
    unsigned c = p->cur;
    if (p->buf[c] == NULL || p->cap[c] < len) {
        uint8_t *nb = realloc(p->buf[c], len > 0 ? len : 1);
        if (nb == NULL) { /* no copy: fold this record in step */
            fold_pending(p);
            tl_error err;
            if (pj_decode(&p->ev[c], rec, len, &err) != 0) {
                fail_at(p, seq, &err);
                return 0;
            }
            p->ev[c].seq = seq;
            apply_event(p, &p->ev[c]);
            return 0;
        }
        p->buf[c] = nb;
        p->cap[c] = len > 0 ? len : 1;
    }
    memcpy(p->buf[c], rec, len);
    pj_event *ev = &p->ev[c];
    tl_error err;
    if (pj_decode(ev, p->buf[c], len, &err) != 0) {
        fold_pending(p);
        fail_at(p, seq, &err);
        return 0;
    }
    ev->seq = seq;
    for (size_t i = 0; i < p->n; i++) {
        pj_inst *in = p->insts[i];
        if (!in->failed && in->next <= seq && ev->type >= 0 && in->def->prefetch != NULL)
            in->def->prefetch(in, ev);
    }
    fold_pending(p);
    p->pending = true;
    p->cur = c ^ 1u;
    return 0;
}

/* One pass over at most v->batch records for insts. Returns the number of records read. */
static uint64_t run_pass(tl_views *v, pj_inst **insts, size_t n, uint64_t size, uint64_t batch)
{
    uint64_t start = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        insts[i]->next = insts[i]->pos;
        if (!insts[i]->failed && insts[i]->pos < start)
            start = insts[i]->pos;
    }
    if (start >= size)
        return 0;
    uint64_t end = size - start > batch ? start + batch : size;
    uint64_t t0 = pj_mono_ns();
    pass_ctx p = {.insts = insts, .n = n};
    tl_error err;
    int rc = tl_ledger_scan(v->l, start, end, fold_record, &p, &err);
    fold_pending(&p);
    free(p.buf[0]);
    free(p.buf[1]);
    for (size_t i = 0; i < n; i++) {
        pj_inst *in = insts[i];
        int di = def_index(in->def->name);
        if (rc != 0) { /* the log could not be read: try again from the durable position */
            inst_reset(in);
            pthread_mutex_lock(&v->mu);
            v->totals[di].last_err = err;
            pthread_mutex_unlock(&v->mu);
            continue;
        }
        if (in->failed) {
            inst_reset(in);
            pthread_mutex_lock(&v->mu);
            v->totals[di].last_err = in->fail_err;
            pthread_mutex_unlock(&v->mu);
            continue;
        }
        if (in->pos >= end || in->next != end)
            continue;
        tl_error werr;
        int wrc = 0;
        if (!in->building) { /* else in memory only, until finish_building */
            wrc = pj_inst_flush(in, &werr);
            if (wrc == 0)
                wrc = pj_inst_stage_commit(in, &werr);
            if (wrc == 0) {
                uint8_t key[PJ_PREFIX_BYTES + 1], val[8];
                memcpy(key, in->prefix, PJ_PREFIX_BYTES);
                key[PJ_PREFIX_BYTES] = 0;
                pj_be64_put(val, end);
                rocksdb_writebatch_put(in->wb, (const char *)key, sizeof key, (const char *)val, 8);
                wrc = write_batch(v, in->wb, &werr);
            }
            if (wrc == 0)
                in->stored = end;
            rocksdb_writebatch_clear(in->wb);
        }
        pj_inst_drop_iter(in);
        if (wrc != 0) {
            inst_reset(in);
            pthread_mutex_lock(&v->mu);
            v->totals[di].last_err = werr;
            pthread_mutex_unlock(&v->mu);
            continue;
        }
        uint64_t applied = end - in->pos;
        pthread_mutex_lock(&v->mu);
        in->pos = end;
        in->applied += applied;
        in->batches++;
        v->totals[di].applied += applied;
        v->totals[di].batches++;
        v->totals[di].apply_ns += (pj_mono_ns() - t0) / n;
        pthread_mutex_unlock(&v->mu);
    }
    return end - start;
}

/* Writes a building generation's whole state and position (one ingested file). */
static void finish_building(tl_views *v, pj_inst *in, unsigned di)
{
    tl_error err;
    int rc = pj_inst_flush(in, &err);
    if (rc == 0)
        rc = pj_inst_ingest(in, in->pos, &err);
    pj_inst_drop_iter(in);
    pthread_mutex_lock(&v->mu);
    if (rc == 0) {
        in->building = false;
        in->stored = in->pos;
        in->batches++;
        v->totals[di].batches++;
    } else {
        v->totals[di].last_err = err;
    }
    pthread_mutex_unlock(&v->mu);
    if (rc != 0)
        inst_reset(in);
}

/* Makes pending[i] live when it has caught up. Called by the live worker only. */
static void try_switch(tl_views *v, unsigned i, uint64_t size)
{
    pj_inst *p = v->pending[i], *old = v->live[i];
    if (p == NULL || p->failed)
        return;
    bool ready = (old == NULL || old->failed) ? p->pos >= size : p->pos == old->pos;
    if (!ready)
        return;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    pj_meta_put(wb, 'a', p->def->id, p->def->version, p->gen);
    pj_meta_delete(wb, 'b', p->def->id);
    /* Whatever generation was live before (possibly of an older version) goes. */
    pj_meta cur;
    tl_error err;
    bool drop = pj_meta_get(&v->store, NULL, 'a', p->def->id, &cur, &err) == 0 && cur.present && cur.gen != p->gen;
    if (drop)
        delete_generation(wb, p->def->id, cur.gen);
    int rc = write_batch(v, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (rc == 0 && drop && !pj_store_drop_files(&v->store, p->def->id, cur.gen, cur.gen + 1))
        v->drop_gen[i] = cur.gen;
    pthread_mutex_lock(&v->mu);
    if (rc == 0) {
        v->live[i] = p;
        v->pending[i] = NULL;
        v->totals[i].last_err.code = 0;
    } else {
        v->totals[i].last_err = err;
        old = NULL;
    }
    pthread_mutex_unlock(&v->mu);
    inst_free(old);
}

static void check_request_file(tl_views *v);

static void *live_main(void *arg)
{
    tl_views *v = arg;
    bool idle = false;
    uint32_t poll_ms = TL_VIEWS_FOLLOW_POLL_MS;
    /* The ledger's open read the log's state just now: the first refresh can wait a poll. */
    uint64_t refreshed_size = tl_ledger_size(v->l), refreshed_ms = now_ms();
    for (;;) {
        pthread_mutex_lock(&v->mu);
        if (idle && !v->stop && !v->kick) {
            uint32_t wait_ms = v->commit_seen ? REQUEST_CHECK_MS : poll_ms;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)(wait_ms % 1000u) * 1000000L;
            ts.tv_sec += wait_ms / 1000u + ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&v->wake, &v->mu, &ts);
        }
        v->kick = false;
        if (v->stop) {
            pthread_mutex_unlock(&v->mu);
            break;
        }
        for (unsigned i = 0; i < NDEFS; i++) {
            if (v->handover[i] != NULL) {
                v->pending[i] = v->handover[i];
                v->handover[i] = NULL;
            }
        }
        bool polling = !v->commit_seen;
        bool rebuilding = v->rb_running;
        pthread_mutex_unlock(&v->mu);

        /* Kicks (commits, waiting callers, rebuild progress) run a pass; the log is refreshed
         * at the polling pace only. */
        /* While a rebuild runs, at the idle pace at most: each refresh makes RocksDB start a
         * thread per table file it opens, each with its thread-local storage to clear, and at
         * the polling pace they took several per cent of a rebuild's CPU. The rebuild reads to the
         * size the last refresh saw; what came after reaches it within FOLLOW_POLL_IDLE_MS. */
        uint32_t pace_ms = rebuilding && poll_ms < FOLLOW_POLL_IDLE_MS ? FOLLOW_POLL_IDLE_MS : poll_ms;
        if (polling && now_ms() - refreshed_ms >= pace_ms) {
            refreshed_ms = now_ms();
            tl_error err;
            int ignored = tl_ledger_refresh(v->l, &err); /* a failure shows as lag; retried next time */
            (void)ignored;
            uint64_t now_size = tl_ledger_size(v->l);
            poll_ms = now_size != refreshed_size ? TL_VIEWS_FOLLOW_POLL_MS
                                                 : (poll_ms * 2 < FOLLOW_POLL_IDLE_MS ? poll_ms * 2 : FOLLOW_POLL_IDLE_MS);
            refreshed_size = now_size;
        }
        check_request_file(v);
        uint64_t size = tl_ledger_size(v->l);
        pj_inst *insts[2 * NDEFS];
        size_t n = 0;
        for (unsigned i = 0; i < NDEFS; i++) {
            if (v->live[i] != NULL && !v->live[i]->failed)
                insts[n++] = v->live[i];
            if (v->pending[i] != NULL && !v->pending[i]->failed)
                insts[n++] = v->pending[i];
        }
        uint64_t lowest = UINT64_MAX;
        for (size_t k = 0; k < n; k++)
            lowest = insts[k]->pos < lowest ? insts[k]->pos : lowest;
        if (n > 0 && lowest < size) {
            uint64_t expect = 0;
            (void)atomic_compare_exchange_strong(&v->behind_since_ms, &expect, now_ms());
        }
        uint64_t done = n > 0 ? run_pass(v, insts, n, size, v->batch) : 0;
        for (unsigned i = 0; i < NDEFS; i++)
            if (v->drop_gen[i] != 0 && pj_store_drop_files(&v->store, defs[i]->id, v->drop_gen[i], v->drop_gen[i] + 1))
                v->drop_gen[i] = 0;
        for (unsigned i = 0; i < NDEFS; i++)
            try_switch(v, i, size);
        lowest = UINT64_MAX;
        for (unsigned i = 0; i < NDEFS; i++)
            if (v->live[i] != NULL && !v->live[i]->failed && v->live[i]->pos < lowest)
                lowest = v->live[i]->pos;
        if (lowest >= size)
            atomic_store(&v->behind_since_ms, 0);
        pthread_mutex_lock(&v->mu);
        v->size_seen = size;
        pthread_cond_broadcast(&v->progress);
        pthread_mutex_unlock(&v->mu);
        idle = done == 0;
    }
    return NULL;
}

static void *rebuild_main(void *arg)
{
    tl_views *v = arg;
    for (;;) {
        pj_inst *insts[NDEFS];
        unsigned idx[NDEFS];
        size_t n = 0;
        pthread_mutex_lock(&v->mu);
        bool stop = v->stop;
        for (unsigned i = 0; i < NDEFS; i++) {
            if (v->rebuild[i] != NULL) {
                idx[n] = i;
                insts[n++] = v->rebuild[i];
            }
        }
        if (stop || n == 0) {
            v->rb_running = false;
            pthread_cond_broadcast(&v->progress);
            pthread_mutex_unlock(&v->mu);
            break;
        }
        pthread_mutex_unlock(&v->mu);

        uint64_t size = tl_ledger_size(v->l);
        for (size_t k = 0; k < n; k++)
            if (!insts[k]->failed && insts[k]->building && size - insts[k]->pos <= v->batch)
                finish_building(v, insts[k], idx[k]);
        /* Hand over the generations that are close to the end: the live worker finishes them. */
        pthread_mutex_lock(&v->mu);
        for (size_t k = 0; k < n; k++) {
            pj_inst *in = insts[k];
            if (in->failed) {
                /* A fold failed on this log: leave the live generation alone. */
                v->totals[idx[k]].last_err = in->fail_err;
                v->rebuild[idx[k]] = NULL;
                rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
                pj_meta_delete(wb, 'b', in->def->id);
                delete_generation(wb, in->def->id, in->gen);
                tl_error err;
                (void)write_batch(v, wb, &err);
                rocksdb_writebatch_destroy(wb);
                inst_free(in);
                insts[k] = NULL;
            } else if (size - in->pos <= v->batch && !in->building && v->handover[idx[k]] == NULL &&
                       v->pending[idx[k]] == NULL) {
                v->handover[idx[k]] = in;
                v->rebuild[idx[k]] = NULL;
                insts[k] = NULL;
                v->kick = true;
                pthread_cond_signal(&v->wake);
            }
        }
        pthread_mutex_unlock(&v->mu);
        size_t m = 0;
        for (size_t k = 0; k < n; k++) {
            if (insts[k] == NULL)
                continue;
            if (insts[k]->building && insts[k]->pos == 0) /* every contract ahead is a record */
                pj_inst_ctables_reserve(insts[k], size);
            insts[m++] = insts[k];
        }
        if (m > 0 && run_pass(v, insts, m, size, v->rebuild_batch) == 0) {
            /* Waiting for the live worker to take an earlier generation of the same projection. */
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        pthread_mutex_lock(&v->mu);
        pthread_cond_broadcast(&v->progress);
        pthread_mutex_unlock(&v->mu);
    }
    return NULL;
}

/* Call with v->mu held. */
static int ensure_rebuild_thread(tl_views *v, tl_error *err)
{
    if (v->rb_running)
        return 0;
    if (v->rb_started) {
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->rb_thread, NULL);
        pthread_mutex_lock(&v->mu);
        v->rb_started = false;
        if (v->rb_running) /* someone else started one meanwhile */
            return 0;
    }
    if (pthread_create(&v->rb_thread, NULL, rebuild_main, v) != 0)
        return tl_fail(err, TL_EIO, "views.thread", "", "cannot start the rebuild thread");
    v->rb_started = true;
    v->rb_running = true;
    return 0;
}

/* Call with v->mu held. */
static int rebuild_locked(tl_views *v, unsigned i, tl_error *err)
{
    if (v->rebuild[i] != NULL || v->handover[i] != NULL || v->pending[i] != NULL)
        return 0; /* already under way */
    pj_inst *in = NULL;
    int rc = start_generation(v, defs[i], &in, err);
    if (rc != 0)
        return rc;
    v->rebuild[i] = in;
    return ensure_rebuild_thread(v, err);
}

int tl_views_rebuild(tl_views *v, const char *name, tl_error *err)
{
    int only = -1;
    if (name != NULL && (only = def_index(name)) < 0)
        return tl_fail(err, TL_ENOTFOUND, "view.unknown", "projection", "no projection named '%s'", name);
    if (v->follow)
        return tl_fail(err, TL_ESTATE, "views.follow", "",
                       "these views are maintained by another process; use `techledger rebuild`");
    pthread_mutex_lock(&v->mu);
    int rc = 0;
    for (unsigned i = 0; i < NDEFS && rc == 0; i++)
        if (only < 0 || (unsigned)only == i)
            rc = rebuild_locked(v, i, err);
    pthread_mutex_unlock(&v->mu);
    return rc;
}

static bool rebuild_idle(tl_views *v)
{
    if (v->rb_running)
        return false;
    for (unsigned i = 0; i < NDEFS; i++)
        if (v->rebuild[i] || v->handover[i] || v->pending[i])
            return false;
    return true;
}

static void deadline(struct timespec *ts, uint32_t timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000u;
    ts->tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

int tl_views_rebuild_wait(tl_views *v, uint32_t timeout_ms, tl_error *err)
{
    if (v->follow)
        return 0;
    struct timespec ts;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&v->mu);
    int rc = 0;
    /* One kick, not one per wake-up: the workers report progress after every pass, and a kick
     * for each report kept the live worker and this thread waking each other all along. */
    v->kick = true;
    pthread_cond_signal(&v->wake);
    while (!rebuild_idle(v) && !v->stop) {
        if (timeout_ms == 0) {
            pthread_cond_wait(&v->progress, &v->mu);
        } else if (pthread_cond_timedwait(&v->progress, &v->mu, &ts) == ETIMEDOUT) {
            rc = tl_fail(err, TL_ESTATE, "views.timeout", "", "the rebuild has not finished after %u ms", timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

static void check_request_file(tl_views *v)
{
    uint64_t now = now_ms();
    if (now - v->last_request_check_ms < REQUEST_CHECK_MS)
        return;
    v->last_request_check_ms = now;
    FILE *f = fopen(v->request_path, "r");
    if (f == NULL)
        return;
    char buf[REQUEST_BYTES_MAX];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(v->request_path);
    buf[n] = '\0';
    bool any = false;
    tl_error err;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        line[strcspn(line, " \r\t")] = '\0';
        if (line[0] == '\0')
            continue;
        any = true;
        int ignored = 0; /* a failure shows in the stats (no rebuilding) */
        if (strcmp(line, "*") == 0)
            ignored = tl_views_rebuild(v, NULL, &err);
        else if (def_index(line) >= 0)
            ignored = tl_views_rebuild(v, line, &err);
        (void)ignored;
    }
    if (!any) {
        int ignored = tl_views_rebuild(v, NULL, &err);
        (void)ignored;
    }
}

/* ---------- open, close, sync ---------- */

static void on_commit(void *ctx, uint64_t new_size)
{
    (void)new_size;
    tl_views *v = ctx;
    uint64_t expect = 0;
    (void)atomic_compare_exchange_strong(&v->behind_since_ms, &expect, now_ms());
    pthread_mutex_lock(&v->mu);
    v->kick = true;
    v->commit_seen = true;
    pthread_cond_signal(&v->wake);
    pthread_mutex_unlock(&v->mu);
}

/* Sets up live[i] (and a rebuild when needed) from the stored meta records. */
static int load_projection(tl_views *v, unsigned i, tl_error *err)
{
    const pj_def *def = defs[i];
    pj_store_remove_ingest(&v->store, def->id);
    pj_meta a, b;
    int rc = pj_meta_get(&v->store, NULL, 'a', def->id, &a, err);
    if (rc == 0)
        rc = pj_meta_get(&v->store, NULL, 'b', def->id, &b, err);
    if (rc != 0)
        return rc;
    if (b.present && b.version == def->version && (!a.present || a.gen != b.gen)) {
        /* An interrupted rebuild of this version: resume it. */
        uint8_t prefix[PJ_PREFIX_BYTES];
        uint64_t pos;
        pj_prefix(prefix, def->id, b.gen);
        if ((rc = pj_pos_get(&v->store, NULL, prefix, &pos, err)) != 0)
            return rc;
        if ((rc = inst_new(&v->rebuild[i], v, def, b.gen, pos, err)) != 0)
            return rc;
        v->rebuild[i]->building = true;
    } else if (b.present) {
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        pj_meta_delete(wb, 'b', def->id);
        if (!a.present || a.gen != b.gen)
            delete_generation(wb, def->id, b.gen);
        rc = write_batch(v, wb, err);
        rocksdb_writebatch_destroy(wb);
        if (rc != 0)
            return rc;
    }
    /* Every generation below the live one was deleted (or abandoned) at some point; files left
     * behind by a process that stopped before dropping them go now, before any reader. */
    if (a.present)
        (void)pj_store_drop_files(&v->store, def->id, 0, a.gen);
    if (a.present && a.version == def->version) {
        uint8_t prefix[PJ_PREFIX_BYTES];
        uint64_t pos;
        pj_prefix(prefix, def->id, a.gen);
        if ((rc = pj_pos_get(&v->store, NULL, prefix, &pos, err)) != 0)
            return rc;
        return inst_new(&v->live[i], v, def, a.gen, pos, err);
    }
    /* No usable live generation (first start, a new projection, or a different version
     * stored): rebuild now. Folding in memory and landing one table file costs a fraction of
     * the live worker's batch by batch writes from record 0 and of the compactions behind
     * them (about 8x the CPU at 1.1M records). */
    if (v->rebuild[i] == NULL)
        return start_generation(v, def, &v->rebuild[i], err);
    return 0;
}

int tl_views_open(tl_views **out, tl_ledger *l, const tl_views_options *opt, tl_error *err)
{
    *out = NULL;
    tl_views_options o = {0};
    if (opt != NULL)
        o = *opt;
    tl_views *v = calloc(1, sizeof *v);
    if (v == NULL)
        return pj_nomem(err);
    v->l = l;
    v->follow = o.mode == TL_VIEWS_FOLLOW;
    v->batch = o.batch_records ? o.batch_records : TL_VIEWS_BATCH_RECORDS;
    /* a test's small batches apply to rebuilds too, so that kills land between them */
    v->rebuild_batch = o.batch_records ? o.batch_records : TL_VIEWS_REBUILD_BATCH_RECORDS;
    v->target_fen = o.target_fen ? o.target_fen : TL_VIEWS_TARGET_FEN_DEFAULT;
    v->target_year = o.target_year ? o.target_year : TL_VIEWS_TARGET_YEAR_DEFAULT;
    v->listen_handle = -1;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->wake, NULL);
    pthread_cond_init(&v->progress, NULL);
    const char *dir = tl_ledger_dir(l);
    size_t n = (o.views_dir ? strlen(o.views_dir) : strlen(dir) + 8) + 16;
    v->views_dir = malloc(n);
    v->request_path = malloc(n);
    if (v->views_dir == NULL || v->request_path == NULL) {
        tl_views_close(v);
        return pj_nomem(err);
    }
    if (o.views_dir)
        snprintf(v->views_dir, n, "%s", o.views_dir);
    else
        snprintf(v->views_dir, n, "%s/views", dir);
    snprintf(v->request_path, n, "%s.rebuild", v->views_dir);
    int rc = pj_store_open(&v->store, v->views_dir, v->follow, err);
    if (rc != 0) {
        tl_views_close(v);
        return rc;
    }
    if (v->follow) {
        *out = v;
        return 0;
    }
    for (unsigned i = 0; i < NDEFS && rc == 0; i++)
        rc = load_projection(v, i, err);
    if (rc == 0 && pthread_create(&v->live_thread, NULL, live_main, v) != 0)
        rc = tl_fail(err, TL_EIO, "views.thread", "", "cannot start the projection worker");
    if (rc == 0)
        v->live_started = true;
    pthread_mutex_lock(&v->mu);
    bool any_rebuild = false;
    for (unsigned i = 0; i < NDEFS; i++)
        any_rebuild = any_rebuild || v->rebuild[i] != NULL;
    if (rc == 0 && any_rebuild)
        rc = ensure_rebuild_thread(v, err);
    pthread_mutex_unlock(&v->mu);
    if (rc == 0) {
        v->listen_handle = tl_ledger_listen(l, on_commit, v);
        if (v->listen_handle < 0)
            rc = tl_fail(err, TL_ETOOBIG, "views.listen", "", "the ledger has no free listener slot");
    }
    if (rc != 0) {
        tl_views_close(v);
        return rc;
    }
    *out = v;
    return 0;
}

void tl_views_close(tl_views *v)
{
    if (v == NULL)
        return;
    if (v->listen_handle >= 0)
        tl_ledger_unlisten(v->l, v->listen_handle);
    pthread_mutex_lock(&v->mu);
    v->stop = true;
    pthread_cond_broadcast(&v->wake);
    pthread_mutex_unlock(&v->mu);
    if (v->live_started)
        pthread_join(v->live_thread, NULL);
    if (v->rb_started)
        pthread_join(v->rb_thread, NULL);
    for (unsigned i = 0; i < NDEFS; i++) {
        inst_free(v->live[i]);
        inst_free(v->rebuild[i]);
        inst_free(v->handover[i]);
        inst_free(v->pending[i]);
    }
    pj_store_close(&v->store);
    pthread_cond_destroy(&v->progress);
    pthread_cond_destroy(&v->wake);
    pthread_mutex_destroy(&v->mu);
    free(v->views_dir);
    free(v->request_path);
    free(v);
}

/* Positions as the readers see them (the store), for follow mode. */
static int stored_positions(tl_views *v, uint64_t pos[NDEFS], bool ready[NDEFS], tl_error *err)
{
    int rc = pj_store_catch_up(&v->store, err);
    for (unsigned i = 0; i < NDEFS && rc == 0; i++) {
        pj_meta a;
        pos[i] = 0;
        ready[i] = false;
        if ((rc = pj_meta_get(&v->store, NULL, 'a', defs[i]->id, &a, err)) != 0)
            break;
        if (!a.present || a.version != defs[i]->version)
            continue;
        uint8_t prefix[PJ_PREFIX_BYTES];
        pj_prefix(prefix, defs[i]->id, a.gen);
        rc = pj_pos_get(&v->store, NULL, prefix, &pos[i], err);
        ready[i] = true;
    }
    return rc;
}

int tl_views_sync(tl_views *v, uint64_t seq, uint32_t timeout_ms, tl_error *err)
{
    if (seq == 0)
        seq = tl_ledger_size(v->l);
    uint64_t until = now_ms() + timeout_ms;
    if (v->follow) {
        for (;;) {
            uint64_t pos[NDEFS];
            bool ready[NDEFS];
            int rc = stored_positions(v, pos, ready, err);
            if (rc != 0)
                return rc;
            bool ok = true;
            for (unsigned i = 0; i < NDEFS; i++)
                ok = ok && ready[i] && pos[i] >= seq;
            if (ok)
                return 0;
            if (now_ms() >= until)
                break;
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
        return tl_fail(err, TL_ESTATE, "views.timeout", "",
                       "the views have not reached record %" PRIu64 " after %u ms", seq, timeout_ms);
    }
    struct timespec ts;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&v->mu);
    int rc = 0;
    bool kicked = false;
    for (;;) {
        bool ok = true;
        for (unsigned i = 0; i < NDEFS && rc == 0; i++) {
            pj_inst *in = v->live[i];
            /* Failed, or never built: a first build whose fold failed leaves no live state. */
            if ((in == NULL || in->failed) && v->pending[i] == NULL && v->handover[i] == NULL &&
                v->rebuild[i] == NULL) {
                const tl_error *e = &v->totals[i].last_err;
                rc = tl_fail(err, e->code ? e->code : TL_EIO, "views.failed", "",
                             "the %s projection stopped: %s: %s", defs[i]->name, e->rule, e->msg);
            }
            ok = ok && in != NULL && in->pos >= seq;
        }
        if (rc != 0 || ok)
            break;
        if (!kicked) { /* once: see tl_views_rebuild_wait */
            v->kick = true;
            pthread_cond_signal(&v->wake);
            kicked = true;
        }
        if (pthread_cond_timedwait(&v->progress, &v->mu, &ts) == ETIMEDOUT) {
            rc = tl_fail(err, TL_ESTATE, "views.timeout", "",
                         "the views have not reached record %" PRIu64 " after %u ms", seq, timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

size_t tl_views_stats(tl_views *v, tl_projection_stats *out, size_t cap)
{
    uint64_t size = tl_ledger_size(v->l);
    uint64_t now = now_ms();
    if (v->follow) {
        uint64_t pos[NDEFS];
        bool ready[NDEFS];
        tl_error err;
        if (stored_positions(v, pos, ready, &err) != 0)
            memset(ready, 0, sizeof ready);
        for (unsigned i = 0; i < NDEFS && i < cap; i++) {
            tl_projection_stats *s = &out[i];
            memset(s, 0, sizeof *s);
            snprintf(s->name, sizeof s->name, "%s", defs[i]->name);
            s->version = defs[i]->version;
            s->position = ready[i] ? pos[i] : 0;
            s->ready = ready[i];
            s->ledger_size = size;
            s->lag_records = size > s->position ? size - s->position : 0;
        }
        return NDEFS;
    }
    uint64_t since = atomic_load(&v->behind_since_ms);
    pthread_mutex_lock(&v->mu);
    for (unsigned i = 0; i < NDEFS && i < cap; i++) {
        tl_projection_stats *s = &out[i];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", defs[i]->name);
        s->version = defs[i]->version;
        pj_inst *in = v->live[i];
        s->ledger_size = size;
        if (in != NULL) {
            s->generation = in->gen;
            s->position = in->pos;
            s->ready = !in->failed;
        }
        s->lag_records = size > s->position ? size - s->position : 0;
        s->lag_ms = (s->lag_records > 0 && since != 0 && now > since) ? now - since : 0;
        s->applied = v->totals[i].applied;
        s->batches = v->totals[i].batches;
        s->apply_seconds = (double)v->totals[i].apply_ns / 1e9;
        pj_inst *rb = v->rebuild[i] ? v->rebuild[i] : v->handover[i] ? v->handover[i] : v->pending[i];
        s->rebuilding = rb != NULL;
        s->rebuild_position = rb != NULL ? rb->pos : 0;
    }
    pthread_mutex_unlock(&v->mu);
    return NDEFS;
}
