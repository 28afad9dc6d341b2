/*
 * The offline audit (what it checks is listed in tl_verify.h).
 *
 * PIPELINE. Threads share a fixed pool of chunks (CHUNK_RECORDS records or about CHUNK_BYTES
 * of record bytes each):
 *
 *   reader    runs the source's scan, copies records into a free chunk, and publishes full
 *             chunks to the work queue and, in the same order, to the order queue;
 *   workers   take chunks off the work queue and check each record on its own: canonical
 *             decode, seq = position, schema, leaf hash (and the hash of the event id that
 *             the replay's id table will ask for), then the signatures of the chunk in a
 *             loop of their own (check_chunk says why). Events borrow the chunk's record
 *             bytes and a node array of the chunk's own. A worker stops a chunk at its first
 *             bad record and keeps the error. Whenever the chunk at the
 *             head of the order queue is done and no one is replaying, a worker takes the
 *             replay baton and judges the done chunks in seq order against the log so far:
 *             `recorded`, tl_admit over the in-memory state, versions, the Merkle tree and
 *             the checkpoints; then it returns them to the pool;
 *   caller    waits, reporting progress, and joins everyone at the end.
 *
 * The replay is serial by nature; running it on the worker that has just checked the chunk
 * (instead of on a thread of its own) finds the decoded events still in that core's cache
 * and keeps the number of runnable threads at the number of workers. The first failure is
 * exact: the replay meets records in seq order, and a record a worker refused is reported
 * when the replay reaches it, after every earlier record passed. The pool bounds memory and
 * makes the reader wait when the others fall behind. On the first failure `stop` is raised,
 * everyone drains and the threads are joined.
 */
#include "tl_verify.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tl_bundle.h"
#include "tl_rules.h"
#include "tl_state.h"

#define CHUNK_RECORDS 256u
#define CHUNK_BYTES (256u << 10)
#define CHUNKS_PER_THREAD 4u
/* Parsed bodies of a chunk's events share one node array (a bench body has about 60 nodes);
 * a body that no longer fits allocates its own. */
#define CHUNK_NODES (CHUNK_RECORDS * 64u)
#define PROGRESS_INTERVAL_SECONDS 0.5
#define CHECKPOINTS_MAX (1u << 24)
#define SCAN_STOP 1 /* a record callback's "stop here" (errors are negative) */

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A failure of the data is a verdict; a failure to read it (I/O, memory) is not. */
static bool is_verdict(int code) { return code != TL_EIO && code != TL_ENOMEM && code != TL_ENOSPC; }

static int report_failure(tl_verify_report *rep, int code, uint64_t seq, const char *where)
{
    rep->failed = is_verdict(code);
    rep->seq = seq;
    snprintf(rep->where, sizeof rep->where, "%s", where);
    return code;
}

/* ---------- chunks and the pipeline ---------- */

typedef struct chunk {
    struct chunk *next;       /* work queue or free list */
    struct chunk *next_order; /* order queue */
    uint64_t first_seq;
    uint32_t n;
    uint32_t checked; /* records 0..checked-1 passed the worker; their events are owned here */
    bool done;
    tl_error err; /* why record `checked` failed, when checked < n */
    tl_buf bytes;
    size_t off[CHUNK_RECORDS + 1];
    tl_record rec[CHUNK_RECORDS];
    tl_event ev[CHUNK_RECORDS]; /* their bodies are borrowed from bytes, their nodes from nodes */
    uint32_t nodes_used;
    tl_mp_node nodes[CHUNK_NODES];
    uint8_t leaf[CHUNK_RECORDS][TL_HASH_BYTES];
    uint32_t id_tag[CHUNK_RECORDS]; /* the replay state's hash of ev[i].id */
} chunk;

struct replay;

typedef struct pipeline {
    tl_verify_source *src;
    struct replay *replay; /* touched only by the holder of the baton */
    tl_error *err;         /* the replay's first failure; likewise */
    const uint8_t *id_hash_key; /* the replay state's; fixed before the threads start */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every change: few threads, chunk-sized steps */
    chunk *pool;
    size_t pool_n;
    chunk *free_list;
    chunk *work_head, *work_tail;
    chunk *order_head, *order_tail;
    bool reader_done;
    int reader_rc;
    tl_error reader_err;
    bool replaying; /* the baton: someone is replaying */
    bool finished;  /* every chunk was replayed and the reader is done */
    int replay_rc;  /* the replay's first failure */
    uint64_t replayed_records, replayed_bytes; /* for progress */
    atomic_bool stop;
    /* Owned by the reader thread. */
    chunk *filling;
    uint64_t delivered;
    bool reader_oom;
} pipeline;

static void chunk_release_events(chunk *c)
{
    for (uint32_t i = 0; i < c->checked; i++)
        tl_event_free(&c->ev[i]);
    c->checked = 0;
}

static chunk *take_free(pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->free_list == NULL && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
    chunk *c = NULL;
    if (!atomic_load(&p->stop)) {
        c = p->free_list;
        p->free_list = c->next;
    }
    pthread_mutex_unlock(&p->mu);
    if (c != NULL) {
        c->next = c->next_order = NULL;
        c->n = c->checked = 0;
        c->nodes_used = 0;
        c->done = false;
        c->off[0] = 0;
        tl_buf_reset(&c->bytes);
        tl_error_clear(&c->err);
    }
    return c;
}

static void publish(pipeline *p, chunk *c)
{
    pthread_mutex_lock(&p->mu);
    c->next = c->next_order = NULL;
    if (p->work_tail != NULL)
        p->work_tail->next = c;
    else
        p->work_head = c;
    p->work_tail = c;
    if (p->order_tail != NULL)
        p->order_tail->next_order = c;
    else
        p->order_head = c;
    p->order_tail = c;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void give_back(pipeline *p, chunk *c)
{
    pthread_mutex_lock(&p->mu);
    c->next = p->free_list;
    p->free_list = c;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* The source's scan calls this on the reader thread. seq is the source's numbering; the
 * audit counts positions itself (a record's own seq is checked against its position). */
static int reader_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq;
    pipeline *p = ctx;
    if (p->filling == NULL && (p->filling = take_free(p)) == NULL)
        return SCAN_STOP;
    chunk *c = p->filling;
    if (c->n == 0)
        c->first_seq = p->delivered;
    if (tl_buf_append(&c->bytes, rec, len) != 0) {
        p->reader_oom = true;
        return TL_ENOMEM;
    }
    c->n++;
    c->off[c->n] = c->bytes.len;
    p->delivered++;
    if (c->n == CHUNK_RECORDS || c->bytes.len >= CHUNK_BYTES) {
        publish(p, c);
        p->filling = NULL;
    }
    return atomic_load(&p->stop) ? SCAN_STOP : 0;
}

static void *reader_main(void *arg)
{
    pipeline *p = arg;
    tl_error e;
    tl_error_clear(&e);
    int rc = p->src->scan(p->src->ctx, reader_record, p, &e);
    if (p->reader_oom)
        tl_fail(&e, TL_ENOMEM, "memory", "", "out of memory reading records");
    /* What was read before a failure is still judged first: an earlier bad record wins. */
    if (p->filling != NULL) {
        if (p->filling->n > 0)
            publish(p, p->filling);
        else
            give_back(p, p->filling);
        p->filling = NULL;
    }
    pthread_mutex_lock(&p->mu);
    p->reader_done = true;
    p->reader_rc = rc == SCAN_STOP ? 0 : rc;
    p->reader_err = e;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static uint32_t id_hash(const uint8_t *hash_key, const uint8_t id[TL_EVENT_ID_BYTES]); /* the id table's */

/* Everything one record shows on its own but its signature. Returns how many records passed;
 * when one failed, c->err says why, and *sig_first whether its signature is due before that
 * error (a schema failure: tl_event_check checks the signature first). Events 0..passed-1,
 * and the failed one when *sig_first, are left in c->ev. */
static uint32_t check_records(pipeline *p, chunk *c, bool *sig_first)
{
    *sig_first = false;
    for (uint32_t i = 0; i < c->n; i++) {
        if (atomic_load_explicit(&p->stop, memory_order_relaxed))
            return i;
        const uint8_t *bytes = c->bytes.data + c->off[i];
        size_t len = c->off[i + 1] - c->off[i];
        uint64_t seq = c->first_seq + i;
        tl_record *r = &c->rec[i];
        if (tl_record_decode(r, bytes, len, &c->err) != 0)
            return i;
        if (r->seq != seq) {
            tl_fail(&c->err, TL_ECORRUPT, "record.seq", "record[1]",
                    "the record at position %" PRIu64 " says seq %" PRIu64
                    " (records are missing, repeated or out of order)",
                    seq, r->seq);
            return i;
        }
        uint32_t room = CHUNK_NODES - c->nodes_used;
        tl_event *ev = &c->ev[i];
        if (tl_event_borrow_parts(ev, r->body, r->body_len, r->key, r->sig, room > 0 ? c->nodes + c->nodes_used : NULL,
                                  room, &c->err) != 0)
            return i;
        if (ev->doc.borrowed)
            c->nodes_used += ev->doc.count;
        if (tl_schema_check(&ev->doc, ev->data, ev->type, strlen(ev->type), ev->stream, ev->stream_len, &c->err) !=
            0) {
            *sig_first = true;
            return i;
        }
        tl_leaf_hash(c->leaf[i], bytes, len);
        c->id_tag[i] = id_hash(p->id_hash_key, c->ev[i].id);
    }
    return c->n;
}

/* Everything one record shows on its own: the checks of check_records, then the signatures
 * of the records that passed them, in a loop of their own so that the signature code and
 * tables stay in the core's caches for the whole chunk, and the rest's code and data for
 * the records (interleaved record by record, each evicted the other's: the work besides the
 * signatures cost about 0.5 us a record more, a sixth of it). The failure kept is the one a
 * record-by-record check meets first. On failure c->err says why and checked < n. */
static void check_chunk(pipeline *p, chunk *c)
{
    bool sig_first;
    uint32_t passed = check_records(p, c, &sig_first);
    uint32_t sigs = passed + (sig_first ? 1 : 0);
    for (uint32_t i = 0; i < sigs; i++) {
        if (atomic_load_explicit(&p->stop, memory_order_relaxed))
            break; /* nobody replays this chunk any more */
        const tl_record *r = &c->rec[i];
        if (tl_event_verify(r->sig, r->body, r->body_len, r->key))
            continue;
        /* tl_event_check fails on the same signature and says why in the words every other
         * caller reports; the fallback only keeps the error set should it ever disagree. */
        if (tl_event_check(&c->ev[i], &c->err) == 0)
            tl_fail(&c->err, TL_ESIG, "signature.invalid", "sig", "the signature does not verify");
        for (uint32_t k = i; k < sigs; k++)
            tl_event_free(&c->ev[k]);
        c->checked = i;
        return;
    }
    if (sig_first)
        tl_event_free(&c->ev[passed]);
    c->checked = passed;
}

/* ---------- checkpoints ---------- */

typedef struct cp_entry {
    uint64_t size;
    uint8_t root[TL_HASH_BYTES];
} cp_entry;

typedef struct cp_list {
    cp_entry *v;
    size_t n, cap;
    const tl_note_verifier *verifier;
    char where[TL_VERIFY_WHERE_BYTES];
    tl_error *err;
} cp_list;

static int collect_checkpoint(void *ctx, uint64_t size, const uint8_t *note, size_t len)
{
    cp_list *l = ctx;
    snprintf(l->where, sizeof l->where, "checkpoints/%" PRIu64, size);
    tl_checkpoint cp;
    int rc = tl_checkpoint_open(&cp, (const char *)note, len, l->verifier, l->err);
    if (rc != 0)
        return rc;
    if (cp.size != size)
        return tl_fail(l->err, TL_ECORRUPT, "checkpoint.size", "",
                       "filed as the checkpoint of size %" PRIu64 " but signs a tree of %" PRIu64 " records", size,
                       cp.size);
    if (l->n == l->cap) {
        if (l->cap >= CHECKPOINTS_MAX)
            return tl_fail(l->err, TL_ETOOBIG, "checkpoint.count", "", "more than %u checkpoints", CHECKPOINTS_MAX);
        size_t ncap = l->cap ? l->cap * 2 : 64;
        cp_entry *nv = realloc(l->v, ncap * sizeof *nv);
        if (nv == NULL)
            return tl_fail(l->err, TL_ENOMEM, "memory", "", "out of memory");
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n].size = size;
    memcpy(l->v[l->n].root, cp.root, TL_HASH_BYTES);
    l->n++;
    l->where[0] = '\0'; /* a later failure of the source itself is not this checkpoint's */
    return 0;
}

static int cmp_cp(const void *a, const void *b)
{
    uint64_t x = ((const cp_entry *)a)->size, y = ((const cp_entry *)b)->size;
    return x < y ? -1 : x > y;
}

/* ---------- the replayed state ---------- */

/*
 * The replay keeps the whole state in memory, and the one part of it that grows with every
 * record whatever the records say is the idempotency index ('i' || id -> seq, tl_state.h).
 * In the generic map an id costs a 48-byte entry and its share of the index (about 63 bytes
 * in all). Here the replay's ids live in a table of their own:
 *
 *   ids     the 16-byte ids in the order they were put. tl_admit puts record seq's id with
 *           the value seq, and every record puts one, so an id's position is its value and
 *           the value is not stored;
 *   index   open addressing (linear probing, power of two, at most 70% full) of 8-byte
 *           slots: the id's keyed hash tag (0 = empty) and its position; probes compare tags
 *           and touch an id only when the tags agree.
 *
 * About 16 + 8 / 0.5 = 32 bytes an id (measured: 242 -> 212 bytes of peak RSS per record of
 * a bench bundle), exact: the ids themselves are compared. An 'i' put the table cannot take
 * (a value that is not the next position) goes to the generic map like every other key; an
 * id in the table is never given another value (TL_ESTATE). A replay of tl_admit does
 * neither, but the state stays a faithful tl_state for any caller.
 */
#define ID_KEY_BYTES (1u + TL_EVENT_ID_BYTES)
#define ID_TABLE_INITIAL 64u
#define ID_TABLE_MAX UINT32_MAX /* positions are 32-bit in the index */

typedef struct id_slot {
    uint32_t tag; /* 0 marks an empty slot */
    uint32_t pos;
} id_slot;

typedef struct replay_state {
    tl_state base;
    tl_mem_state mem; /* every key but the ids in the table */
    uint8_t (*ids)[TL_EVENT_ID_BYTES];
    size_t n_ids, ids_cap;
    id_slot *index;
    size_t cap;        /* index slots, a power of two */
    size_t ids_in_mem; /* 'i' keys that went to mem instead */
    uint8_t hash_key[crypto_shorthash_KEYBYTES]; /* random, so chosen ids cannot be made to collide */
    /* The id being admitted and its tag, hashed beforehand on a worker (in parallel) so that
     * the serial replay's get and put of it hash nothing. */
    const uint8_t *known_id;
    uint32_t known_tag;
} replay_state;

static bool is_id_key(const uint8_t *key, size_t klen) { return klen == ID_KEY_BYTES && key[0] == 'i'; }

static uint32_t id_hash(const uint8_t *hash_key, const uint8_t id[TL_EVENT_ID_BYTES])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, id, TL_EVENT_ID_BYTES, hash_key);
    uint32_t t = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    return t ? t : 1;
}

static uint32_t id_tag(const replay_state *s, const uint8_t id[TL_EVENT_ID_BYTES])
{
    if (s->known_id != NULL && memcmp(id, s->known_id, TL_EVENT_ID_BYTES) == 0)
        return s->known_tag;
    return id_hash(s->hash_key, id);
}

/* The slot holding id, or the empty slot where it would go. */
static size_t id_find(const replay_state *s, uint32_t tag, const uint8_t id[TL_EVENT_ID_BYTES])
{
    size_t mask = s->cap - 1;
    for (size_t i = tag & mask;; i = (i + 1) & mask) {
        const id_slot *sl = &s->index[i];
        if (sl->tag == 0 || (sl->tag == tag && memcmp(s->ids[sl->pos], id, TL_EVENT_ID_BYTES) == 0))
            return i;
    }
}

static int id_grow(replay_state *s)
{
    if (s->n_ids == s->ids_cap) {
        size_t ncap = s->ids_cap * 2;
        if (ncap > ID_TABLE_MAX)
            ncap = ID_TABLE_MAX;
        if (ncap <= s->n_ids)
            return TL_ENOMEM;
        void *nids = realloc(s->ids, ncap * sizeof *s->ids);
        if (nids == NULL)
            return TL_ENOMEM;
        s->ids = nids;
        s->ids_cap = ncap;
    }
    if ((s->n_ids + 1) * 10 > s->cap * 7) {
        size_t ncap = s->cap * 2;
        id_slot *ni = calloc(ncap, sizeof *ni);
        if (ni == NULL)
            return TL_ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->index[i].tag == 0)
                continue;
            size_t j = s->index[i].tag & (ncap - 1);
            while (ni[j].tag != 0)
                j = (j + 1) & (ncap - 1);
            ni[j] = s->index[i];
        }
        free(s->index);
        s->index = ni;
        s->cap = ncap;
    }
    return 0;
}

static int replay_state_get(tl_state *base, const uint8_t *key, size_t klen, tl_buf *out)
{
    replay_state *s = (replay_state *)base;
    if (is_id_key(key, klen)) {
        const id_slot *sl = &s->index[id_find(s, id_tag(s, key + 1), key + 1)];
        if (sl->tag != 0) {
            uint8_t v8[8];
            tl_be64_put(v8, sl->pos);
            tl_buf_reset(out);
            return tl_buf_append(out, v8, sizeof v8);
        }
        if (s->ids_in_mem == 0)
            return TL_ENOTFOUND;
    }
    return tl_state_get(&s->mem.base, key, klen, out);
}

static int replay_state_put(tl_state *base, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    replay_state *s = (replay_state *)base;
    if (!is_id_key(key, klen))
        return tl_state_put(&s->mem.base, key, klen, val, vlen);
    const uint8_t *id = key + 1;
    uint32_t tag = id_tag(s, id);
    size_t i = id_find(s, tag, id);
    if (s->index[i].tag != 0) {
        /* Ids are stored once: tl_admit reads an id before it writes it and stops at a
         * duplicate. A rewrite to the same value is harmless; to another one, a misuse. */
        return vlen == 8 && tl_be64_get(val) == s->index[i].pos ? 0 : TL_ESTATE;
    }
    size_t old_len;
    bool in_mem = s->ids_in_mem > 0 && tl_map_get(s->mem.map, key, klen, &old_len) != NULL;
    if (in_mem || vlen != 8 || tl_be64_get(val) != s->n_ids || s->n_ids == ID_TABLE_MAX) {
        int rc = tl_state_put(&s->mem.base, key, klen, val, vlen);
        if (rc == 0 && !in_mem)
            s->ids_in_mem++;
        return rc;
    }
    size_t cap = s->cap;
    int rc = id_grow(s);
    if (rc != 0)
        return rc;
    if (s->cap != cap)
        i = id_find(s, tag, id);
    memcpy(s->ids[s->n_ids], id, TL_EVENT_ID_BYTES);
    s->index[i] = (id_slot){.tag = tag, .pos = (uint32_t)s->n_ids};
    s->n_ids++;
    return 0;
}

/* Starts loading what looking up an id with this tag will touch first. */
static void replay_state_prefetch_id(const replay_state *s, uint32_t tag)
{
    __builtin_prefetch(&s->index[tag & (s->cap - 1)]);
}

static void replay_state_free(replay_state *s)
{
    tl_mem_state_free(&s->mem);
    free(s->ids);
    free(s->index);
    memset(s, 0, sizeof *s);
}

static int replay_state_init(replay_state *s)
{
    memset(s, 0, sizeof *s);
    if (tl_mem_state_init(&s->mem) != 0)
        return TL_ENOMEM;
    s->ids_cap = ID_TABLE_INITIAL;
    s->cap = ID_TABLE_INITIAL;
    s->ids = malloc(s->ids_cap * sizeof *s->ids);
    s->index = calloc(s->cap, sizeof *s->index);
    if (s->ids == NULL || s->index == NULL) {
        replay_state_free(s);
        return TL_ENOMEM;
    }
    tl_random_bytes(s->hash_key, sizeof s->hash_key);
    s->base.get = replay_state_get;
    s->base.put = replay_state_put;
    return 0;
}

/* ---------- the ordered replay ---------- */

typedef struct replay {
    tl_verify_source *src;
    tl_verify_report *rep;
    const tl_verify_options *opt;
    const tl_note_verifier *verifier;
    replay_state st;
    tl_merkle_frontier tree;
    cp_list *cps;
    size_t next_cp;
    uint64_t last_recorded_ms;
    /* Stored-node comparison (ledger directories), from the frontier's emit callback. */
    int node_rc;
    tl_error node_err;
    unsigned stored_level_min; /* levels below it are not stored (learned from the source) */
    double t0, last_progress;
} replay;

static void compare_stored_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[TL_HASH_BYTES])
{
    replay *r = ctx;
    if (level < r->stored_level_min || r->node_rc != 0)
        return;
    uint8_t stored[TL_HASH_BYTES];
    int rc = r->src->stored_node(r->src->ctx, level, index, stored, &r->node_err);
    if (rc == TL_ENOTFOUND) {
        /* The store keeps only the larger subtrees; smaller ones are the records' business. */
        r->stored_level_min = level + 1;
        return;
    }
    if (rc != 0) {
        r->node_rc = rc;
        return;
    }
    if (memcmp(stored, hash, TL_HASH_BYTES) != 0) {
        r->node_rc = tl_fail(&r->node_err, TL_ECORRUPT, "merkle.stored_node", "",
                             "the stored Merkle node (level %u, index %" PRIu64
                             ") differs from the one recomputed from the records",
                             level, index);
        return;
    }
    r->rep->stored_nodes++;
}

/* Compares every checkpoint of the tree's current size with the recomputed root. */
static int check_checkpoints_here(replay *r, tl_error *err)
{
    cp_list *cps = r->cps;
    while (r->next_cp < cps->n && cps->v[r->next_cp].size == r->tree.size) {
        const cp_entry *cp = &cps->v[r->next_cp];
        char where[TL_VERIFY_WHERE_BYTES];
        snprintf(where, sizeof where, "checkpoints/%" PRIu64, cp->size);
        uint8_t root[TL_HASH_BYTES];
        tl_merkle_frontier_root(root, &r->tree);
        if (memcmp(root, cp->root, TL_HASH_BYTES) != 0) {
            int rc = tl_fail(err, TL_ECORRUPT, "checkpoint.root", "",
                             "the Merkle root of records 0..%" PRIu64 " differs from the one checkpoint %" PRIu64
                             " signs: a record before it was changed, removed or reordered",
                             cp->size == 0 ? 0 : cp->size - 1, cp->size);
            return report_failure(r->rep, rc, TL_VERIFY_NO_SEQ, where);
        }
        if (r->src->stored_root != NULL) {
            uint8_t stored[TL_HASH_BYTES];
            int rc = r->src->stored_root(r->src->ctx, cp->size, stored, err);
            if (rc == 0 && memcmp(stored, root, TL_HASH_BYTES) != 0)
                rc = tl_fail(err, TL_ECORRUPT, "merkle.stored_root", "",
                             "the stored Merkle tree gives another root at size %" PRIu64
                             " than the records and checkpoint do",
                             cp->size);
            if (rc != 0)
                return report_failure(r->rep, rc, TL_VERIFY_NO_SEQ, "db/merkle");
        }
        r->rep->checkpoints++;
        r->rep->checkpoint_size = cp->size;
        r->next_cp++;
    }
    return 0;
}

/* Record 0 against the trust anchors: signed by the administrator key, naming the origin the
 * checkpoint key belongs to. (tl_admit already made sure it is a genesis signed by data.admin.) */
static int check_genesis_anchors(replay *r, const tl_event *ev, tl_error *err)
{
    if (memcmp(ev->key, r->src->admin, TL_PUBKEY_BYTES) != 0) {
        char got[17], want[17];
        tl_hex_encode(got, ev->key, 8);
        tl_hex_encode(want, r->src->admin, 8);
        return tl_fail(err, TL_EDENIED, "verify.admin_key", "key",
                       "record 0 is signed by %s..., but the administrator key is %s...", got, want);
    }
    uint32_t o = tl_mp_map_get(&ev->doc, ev->data, "origin");
    const char *name = r->verifier->name;
    if (o == 0 || ev->doc.nodes[o].type != TL_MP_STR || ev->doc.nodes[o].v.s.len != strlen(name) ||
        memcmp(ev->doc.nodes[o].v.s.ptr, name, strlen(name)) != 0)
        return tl_fail(err, TL_ECONFLICT, "verify.origin", "data.origin",
                       "the genesis names another origin than the checkpoint key's, %s", name);
    return 0;
}

/* The replay's state lookups miss the cache: the state is far larger than it, and ids and
 * streams are scattered through it. Each record's first two lookups are known from the
 * decoded event ('i' || id, 's' || stream; tl_state.h), so the replay asks for them a few
 * records ahead and the misses overlap the work in between. */
#define REPLAY_PREFETCH_AHEAD 4u

static void prefetch_state(replay *r, const chunk *c, uint32_t i)
{
    const tl_event *ev = &c->ev[i];
    uint8_t key[1 + TL_STREAM_BYTES_MAX];
    replay_state_prefetch_id(&r->st, c->id_tag[i]);
    key[0] = 's';
    memcpy(key + 1, ev->stream, ev->stream_len);
    tl_map_prefetch(r->st.mem.map, key, 1 + ev->stream_len);
    /* The rules look the event's fields up in its parsed body, which a worker wrote a while
     * ago (often on the other core): bring the nodes and the body bytes back too. */
    const char *nodes = (const char *)ev->doc.nodes, *body = (const char *)ev->body;
    for (size_t off = 0; off < (size_t)ev->doc.count * sizeof *ev->doc.nodes; off += 64)
        __builtin_prefetch(nodes + off);
    for (size_t off = 0; off < ev->body_len; off += 64)
        __builtin_prefetch(body + off);
}

static int replay_chunk(replay *r, chunk *c, tl_error *err)
{
    for (uint32_t i = 0; i < REPLAY_PREFETCH_AHEAD && i < c->checked; i++)
        prefetch_state(r, c, i);
    tl_verify_report *rep = r->rep;
    const char *where = r->src->records_where;
    for (uint32_t i = 0; i < c->n; i++) {
        uint64_t seq = c->first_seq + i;
        if (i >= c->checked) {
            *err = c->err;
            return report_failure(rep, c->err.code, seq, where);
        }
        if (i + REPLAY_PREFETCH_AHEAD < c->checked)
            prefetch_state(r, c, i + REPLAY_PREFETCH_AHEAD);
        const tl_record *rec = &c->rec[i];
        const tl_event *ev = &c->ev[i];
        if (seq > 0 && rec->recorded_ms < r->last_recorded_ms) {
            int rc = tl_fail(err, TL_ECORRUPT, "record.recorded_order", "record[2]",
                             "recorded at %" PRIu64 " ms, before the previous record (%" PRIu64
                             " ms): the ledger's clock never runs backwards",
                             rec->recorded_ms, r->last_recorded_ms);
            return report_failure(rep, rc, seq, where);
        }
        r->last_recorded_ms = rec->recorded_ms;
        tl_admission adm;
        r->st.known_id = ev->id;
        r->st.known_tag = c->id_tag[i];
        int rc = tl_admit(&r->st.base, ev, seq, &adm, err);
        r->st.known_id = NULL;
        if (rc == 0 && adm.duplicate)
            rc = tl_fail(err, TL_ECONFLICT, "log.duplicate_id", "id",
                         "the event id is already used by record %" PRIu64 ": the log holds it twice", adm.original_seq);
        if (rc == 0 && rec->version != adm.version)
            rc = tl_fail(err, TL_ECORRUPT, "record.version", "record[3]",
                         "the record says version %" PRIu64 " of %s; replaying the log gives %" PRIu64, rec->version,
                         ev->stream, adm.version);
        if (rc == 0 && seq == 0)
            rc = check_genesis_anchors(r, ev, err);
        if (rc != 0)
            return report_failure(rep, rc, seq, where);
        if (adm.version == 1)
            rep->streams++;
        tl_merkle_frontier_append(&r->tree, c->leaf[i], r->src->stored_node ? compare_stored_node : NULL, r);
        if (r->node_rc != 0) {
            *err = r->node_err;
            return report_failure(rep, r->node_rc, seq, "db/merkle");
        }
        rep->records++;
        rep->record_bytes += c->off[i + 1] - c->off[i];
        if ((rc = check_checkpoints_here(r, err)) != 0)
            return rc;
    }
    return 0;
}

static unsigned worker_count(const tl_verify_options *opt)
{
    long n = opt->threads > 0 ? (long)opt->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > (long)TL_VERIFY_THREADS_MAX)
        n = TL_VERIFY_THREADS_MAX;
    return (unsigned)n;
}

/* Replays every done chunk at the head of the order queue, in order, while holding the
 * baton. Called and returns with p->mu held. */
static void replay_ready(pipeline *p)
{
    while (!p->replaying && !atomic_load(&p->stop) && p->order_head != NULL && p->order_head->done) {
        p->replaying = true;
        chunk *c = p->order_head;
        p->order_head = c->next_order;
        if (p->order_head == NULL)
            p->order_tail = NULL;
        pthread_mutex_unlock(&p->mu);
        int rc = replay_chunk(p->replay, c, p->err);
        chunk_release_events(c);
        pthread_mutex_lock(&p->mu);
        c->next = p->free_list;
        p->free_list = c;
        p->replaying = false;
        p->replayed_records = p->replay->rep->records;
        p->replayed_bytes = p->replay->rep->record_bytes;
        if (rc != 0) {
            p->replay_rc = rc;
            atomic_store(&p->stop, true);
        }
        pthread_cond_broadcast(&p->cv);
    }
}

static void *worker_main(void *arg)
{
    pipeline *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        replay_ready(p);
        if (atomic_load(&p->stop) || p->finished)
            break;
        chunk *c = p->work_head;
        if (c != NULL) {
            p->work_head = c->next;
            if (p->work_head == NULL)
                p->work_tail = NULL;
            pthread_mutex_unlock(&p->mu);
            check_chunk(p, c);
            pthread_mutex_lock(&p->mu);
            c->done = true; /* this worker replays it next, unless someone holds the baton */
            continue;
        }
        if (p->reader_done && p->order_head == NULL && !p->replaying) {
            p->finished = true;
            pthread_cond_broadcast(&p->cv);
            break;
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Runs the pipeline over every record. 0 when all records passed (the caller then checks
 * what only the end can tell). */
static int run_pipeline(replay *r, tl_error *err)
{
    unsigned workers = worker_count(r->opt);
    r->rep->threads = workers;
    pipeline p;
    memset(&p, 0, sizeof p);
    p.src = r->src;
    p.replay = r;
    p.id_hash_key = r->st.hash_key;
    p.err = err;
    atomic_init(&p.stop, false);
    p.pool_n = (size_t)workers * CHUNKS_PER_THREAD + 2;
    p.pool = calloc(p.pool_n, sizeof *p.pool);
    pthread_t *threads = calloc(workers, sizeof *threads);
    if (p.pool == NULL || threads == NULL) {
        free(p.pool);
        free(threads);
        return report_failure(r->rep, tl_fail(err, TL_ENOMEM, "memory", "", "out of memory"), TL_VERIFY_NO_SEQ, "");
    }
    for (size_t i = 0; i < p.pool_n; i++) {
        tl_buf_init(&p.pool[i].bytes);
        p.pool[i].next = p.free_list;
        p.free_list = &p.pool[i];
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p.cv, &ca);
    pthread_condattr_destroy(&ca);

    int rc = 0;
    pthread_t reader;
    bool reader_started = pthread_create(&reader, NULL, reader_main, &p) == 0;
    unsigned started = 0;
    while (reader_started && started < workers && pthread_create(&threads[started], NULL, worker_main, &p) == 0)
        started++;
    if (!reader_started || started == 0) {
        rc = report_failure(r->rep, tl_fail(err, TL_EIO, "thread", "", "cannot start the audit's threads"),
                            TL_VERIFY_NO_SEQ, "");
        atomic_store(&p.stop, true);
    }

    pthread_mutex_lock(&p.mu);
    while (!p.finished && !atomic_load(&p.stop)) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(PROGRESS_INTERVAL_SECONDS * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p.cv, &p.mu, &until);
        double now = mono_seconds();
        if (r->opt->progress != NULL && now - r->last_progress >= PROGRESS_INTERVAL_SECONDS && !p.finished) {
            r->last_progress = now;
            tl_verify_progress pr = {.records = p.replayed_records, .bytes = p.replayed_bytes,
                                     .records_total = r->src->records_hint, .bytes_total = r->src->bytes_hint,
                                     .seconds = now - r->t0};
            pthread_mutex_unlock(&p.mu);
            r->opt->progress(r->opt->progress_ctx, &pr);
            pthread_mutex_lock(&p.mu);
        }
    }
    atomic_store(&p.stop, true);
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    if (reader_started)
        pthread_join(reader, NULL);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);

    if (rc == 0)
        rc = p.replay_rc;
    if (rc == 0 && p.reader_rc != 0) {
        /* The source could not hand over the record after the last good one. */
        *err = p.reader_err;
        rc = report_failure(r->rep, p.reader_rc, p.delivered, r->src->records_where);
    }
    for (size_t i = 0; i < p.pool_n; i++) {
        chunk_release_events(&p.pool[i]);
        tl_buf_free(&p.pool[i].bytes);
    }
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    free(p.pool);
    free(threads);
    return rc;
}

int tl_verify_run(tl_verify_report *rep, tl_verify_source *src, const tl_verify_options *opt, tl_error *err)
{
    static const tl_verify_options defaults;
    if (opt == NULL)
        opt = &defaults;
    memset(rep, 0, sizeof *rep);
    rep->seq = TL_VERIFY_NO_SEQ;
    double t0 = mono_seconds();
    tl_note_verifier verifier;
    cp_list cps = {.verifier = &verifier, .err = err};
    replay r = {.src = src,
                .rep = rep,
                .opt = opt,
                .verifier = &verifier,
                .cps = &cps,
                .stored_level_min = 1, /* leaves are the records themselves */
                .t0 = t0,
                .last_progress = t0};
    bool state_ready = false;
    int rc;

    /* 1. The trust anchors. */
    if ((rc = tl_note_vkey_parse(&verifier, src->vkey, src->vkey_len, err)) != 0) {
        rc = report_failure(rep, rc, TL_VERIFY_NO_SEQ, TL_BUNDLE_VKEY);
        goto done;
    }
    snprintf(rep->origin, sizeof rep->origin, "%s", verifier.name);

    /* 2. Every checkpoint's signature, before any record is read. */
    rc = src->checkpoints(src->ctx, collect_checkpoint, &cps, err);
    if (rc != 0) {
        rc = report_failure(rep, rc, TL_VERIFY_NO_SEQ, cps.where[0] ? cps.where : "checkpoints");
        goto done;
    }
    if (cps.n == 0) {
        rc = tl_fail(err, TL_ECORRUPT, "checkpoint.none", "",
                     "there is no checkpoint: nothing signed by the ledger vouches for the records");
        rc = report_failure(rep, rc, TL_VERIFY_NO_SEQ, "checkpoints");
        goto done;
    }
    qsort(cps.v, cps.n, sizeof *cps.v, cmp_cp);

    /* 3. The records, in order, and each checkpoint's root as the tree reaches its size. */
    if ((rc = replay_state_init(&r.st)) != 0) {
        rc = report_failure(rep, tl_fail(err, rc, "memory", "", "out of memory"), TL_VERIFY_NO_SEQ, "");
        goto done;
    }
    state_ready = true;
    tl_merkle_frontier_init(&r.tree);
    if ((rc = check_checkpoints_here(&r, err)) != 0)
        goto done;
    if ((rc = run_pipeline(&r, err)) != 0)
        goto done;
    if (rep->records == 0) {
        rc = tl_fail(err, TL_ECORRUPT, "log.empty", "", "the log holds no records; record 0 must be the genesis");
        rc = report_failure(rep, rc, 0, src->records_where);
        goto done;
    }

    /* 4. A checkpoint beyond the end means records were cut off. */
    if (r.next_cp < cps.n) {
        char where[TL_VERIFY_WHERE_BYTES];
        snprintf(where, sizeof where, "checkpoints/%" PRIu64, cps.v[r.next_cp].size);
        rc = tl_fail(err, TL_ECORRUPT, "checkpoint.beyond_log", "",
                     "checkpoint %" PRIu64 " signs a tree of %" PRIu64 " records, but the log holds only %" PRIu64
                     ": records were removed from its end",
                     cps.v[r.next_cp].size, cps.v[r.next_cp].size, rep->records);
        rc = report_failure(rep, rc, TL_VERIFY_NO_SEQ, where);
        goto done;
    }
    tl_merkle_frontier_root(rep->root, &r.tree);
    rep->uncovered = rep->records - rep->checkpoint_size;
    rc = 0;
done:
    if (rc != 0 && !rep->failed && rep->seq == TL_VERIFY_NO_SEQ && rep->where[0] == '\0')
        rep->failed = is_verdict(rc);
    if (state_ready)
        replay_state_free(&r.st);
    free(cps.v);
    rep->seconds = mono_seconds() - t0;
    return rc;
}

/* ---------- sources ---------- */

static int bundle_scan(void *ctx, tl_record_fn fn, void *fn_ctx, tl_error *err)
{
    return tl_bundle_scan(ctx, fn, fn_ctx, err);
}

static int bundle_checkpoints(void *ctx, tl_checkpoint_fn fn, void *fn_ctx, tl_error *err)
{
    return tl_bundle_checkpoint_scan(ctx, fn, fn_ctx, err);
}

static void bundle_close(void *ctx) { tl_bundle_close(ctx); }

int tl_verify_source_bundle(tl_verify_source *out, const char *dir, tl_verify_report *report, tl_error *err)
{
    memset(out, 0, sizeof *out);
    memset(report, 0, sizeof *report);
    report->seq = TL_VERIFY_NO_SEQ;
    tl_bundle *b;
    int rc = tl_bundle_open(&b, dir, report->where, sizeof report->where, err);
    if (rc != 0) {
        report->failed = is_verdict(rc) && rc != TL_ENOTFOUND;
        return rc;
    }
    size_t len;
    const char *vkey = tl_bundle_vkey(b, &len);
    if (len > TL_VERIFY_VKEY_BYTES_MAX)
        len = TL_VERIFY_VKEY_BYTES_MAX; /* the bundle bounds it already */
    memcpy(out->vkey, vkey, len);
    out->vkey[len] = '\0';
    out->vkey_len = len;
    tl_bundle_admin_key(b, out->admin);
    out->kind = "bundle";
    out->records_where = TL_BUNDLE_RECORDS;
    out->ctx = b;
    out->bytes_hint = tl_bundle_records_bytes(b);
    out->scan = bundle_scan;
    out->checkpoints = bundle_checkpoints;
    out->close = bundle_close;
    return 0;
}

static int ledger_scan(void *ctx, tl_record_fn fn, void *fn_ctx, tl_error *err)
{
    return tl_ledger_scan(ctx, 0, UINT64_MAX, fn, fn_ctx, err);
}

static int ledger_checkpoints(void *ctx, tl_checkpoint_fn fn, void *fn_ctx, tl_error *err)
{
    return tl_ledger_checkpoint_scan(ctx, fn, fn_ctx, err);
}

static int ledger_node(void *ctx, unsigned level, uint64_t index, uint8_t out[TL_HASH_BYTES], tl_error *err)
{
    return tl_ledger_merkle_node(ctx, level, index, out, err);
}

static int ledger_root(void *ctx, uint64_t size, uint8_t out[TL_HASH_BYTES], tl_error *err)
{
    return tl_ledger_root(ctx, size, out, err);
}

int tl_verify_source_ledger(tl_verify_source *out, tl_ledger *l, tl_verify_report *report, tl_error *err)
{
    memset(out, 0, sizeof *out);
    memset(report, 0, sizeof *report);
    report->seq = TL_VERIFY_NO_SEQ;
    int rc = tl_ledger_vkey(l, out->vkey, sizeof out->vkey);
    if (rc != 0) {
        snprintf(report->where, sizeof report->where, "%s", TL_BUNDLE_VKEY);
        report->failed = true;
        return tl_fail(err, TL_ECORRUPT, "verify.vkey", "", "cannot read %s/ledger.vkey: %s", tl_ledger_dir(l),
                       tl_strerror(rc));
    }
    out->vkey_len = strlen(out->vkey);
    tl_ledger_admin_key(l, out->admin);
    out->kind = "ledger";
    out->records_where = "db/records";
    out->ctx = l;
    out->records_hint = tl_ledger_size(l);
    out->scan = ledger_scan;
    out->checkpoints = ledger_checkpoints;
    out->stored_node = ledger_node;
    out->stored_root = ledger_root;
    return 0;
}

void tl_verify_source_close(tl_verify_source *src)
{
    if (src->close != NULL && src->ctx != NULL)
        src->close(src->ctx);
    memset(src, 0, sizeof *src);
}

int tl_verify_open_ledger(tl_ledger **out, const char *dir, tl_error *err)
{
    tl_ledger_options opt = {.mode = TL_OPEN_READ_ONLY};
    int rc = tl_ledger_open(out, dir, &opt, err);
    if (rc == TL_ESTATE || rc == TL_EIO) { /* a running writer holds or is changing it: follow it */
        opt.mode = TL_OPEN_SECONDARY;
        rc = tl_ledger_open(out, dir, &opt, err);
    }
    return rc;
}

static bool exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    return (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) < sizeof path && stat(path, &st) == 0;
}

int tl_verify_path(tl_verify_report *report, const char *path, const tl_verify_options *opt, tl_error *err)
{
    memset(report, 0, sizeof *report);
    report->seq = TL_VERIFY_NO_SEQ;
    tl_verify_source src;
    tl_ledger *l = NULL;
    int rc;
    if (exists(path, "db")) {
        if ((rc = tl_verify_open_ledger(&l, path, err)) != 0) {
            snprintf(report->where, sizeof report->where, "db");
            report->failed = rc == TL_ECORRUPT;
            return rc;
        }
        rc = tl_verify_source_ledger(&src, l, report, err);
    } else if (exists(path, TL_BUNDLE_RECORDS)) {
        rc = tl_verify_source_bundle(&src, path, report, err);
    } else {
        return tl_fail(err, TL_ENOTFOUND, "verify.source", "",
                       "%s is neither a ledger directory (no db/) nor an audit bundle (no records file)", path);
    }
    if (rc == 0) {
        rc = tl_verify_run(report, &src, opt, err);
        tl_verify_source_close(&src);
    }
    tl_ledger_close(l);
    return rc;
}
