/*
 * The views store: DIR/views, a RocksDB instance of its own (default column family only).
 *
 * KEYS. Every key of a projection's state starts with its prefix
 *     projection id (1 byte, >= 1; fixed per projection, see pj_def.id)
 *  || generation   (4 bytes, big-endian)
 * followed by the fold's own sub-key (a tag letter, then the entity's key; each fold documents
 * its tags at the top of its file). The sub-key 0x00 holds the generation's POSITION: the next
 * seq to apply, 8 bytes big-endian. A fold's changes for a batch of records and the new
 * position go into ONE WriteBatch, so after any crash the stored state is exactly the fold of
 * records 0..position-1: nothing is counted twice and nothing is skipped.
 *
 * META (keys starting with 0x00, which no projection id uses):
 *     0x00 'a' id -> version (4) || generation (4)   the live generation readers use
 *     0x00 'b' id -> version (4) || generation (4)   a rebuild in progress (resumed at open)
 *     0x00 'g' id -> generation (4)                   the last generation ever allocated
 * A rebuild writes a new generation beside the live one; when it has caught up, one
 * WriteBatch sets 'a' to it, deletes 'b' and deletes the old generation's whole key range.
 * Readers take a RocksDB snapshot, read 'a' and then the data under that one snapshot, so
 * they see either the old generation or the new one, never a mixture.
 *
 * VALUES are fixed byte layouts: integers as 8-byte big-endian two's complement, ids (<= 64
 * bytes) as a 1-byte length then the bytes, text (names, titles: <= 512 bytes) as a 2-byte
 * big-endian length then the bytes.
 *
 * WRITES use the write-ahead log without fsync: the views are derived data, and RocksDB's
 * point-in-time recovery keeps whole WriteBatches, so a crash or power loss at worst loses the
 * last few batches, which are folded again from the log. A rebuild's generation, which no
 * reader sees yet, is written without the log at all: after a crash what survives of it is
 * what was flushed, a prefix of its batches with the matching position, and the rebuild
 * resumes there. Before the generation is handed to the live worker (which writes with the
 * log) the store is flushed, so no logged batch can ever sit on top of lost unlogged ones.
 * Within a WriteBatch the puts are sorted by key (pj_inst_stage_commit): the memtable takes
 * sorted inserts much faster.
 *
 * CACHES. Folds keep hot entities in pj_table caches (a hash map in front of the store). A
 * generation built from record 0 in this process knows that everything stored is in its cache
 * ("complete"), so a miss costs nothing until the cache is first dropped for size.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "pj_internal.h"

#define VIEWS_CACHE_BYTES (16u << 20)
#define CATCHUP_INTERVAL_MS 20u

/* ---------- bytes ---------- */

void pj_be64_put(uint8_t *o, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        o[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t pj_be64_get(const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

int pj_w_u8(tl_buf *b, uint8_t v) { return tl_buf_append(b, &v, 1); }

int pj_w_u64(tl_buf *b, uint64_t v)
{
    uint8_t o[8];
    pj_be64_put(o, v);
    return tl_buf_append(b, o, 8);
}

int pj_w_str(tl_buf *b, const void *s, size_t len)
{
    if (len > 255)
        len = 255;
    int rc = pj_w_u8(b, (uint8_t)len);
    return rc != 0 ? rc : tl_buf_append(b, s, len);
}

int pj_w_text(tl_buf *b, const void *s, size_t len)
{
    if (len > UINT16_MAX)
        len = UINT16_MAX; /* text fields are at most TL_SCHEMA_TEXT_BYTES_MAX: never cut */
    uint8_t h[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    int rc = tl_buf_append(b, h, 2);
    return rc != 0 ? rc : tl_buf_append(b, s, len);
}

void pj_r_text(pj_rd *r, char *out, size_t cap)
{
    size_t n = (size_t)pj_r_u8(r) << 8;
    n |= pj_r_u8(r);
    if (r->bad || (size_t)(r->end - r->p) < n || n >= cap) {
        r->bad = true;
        out[0] = '\0';
        return;
    }
    memcpy(out, r->p, n);
    out[n] = '\0';
    r->p += n;
}

uint8_t pj_r_u8(pj_rd *r)
{
    if (r->bad || r->end - r->p < 1) {
        r->bad = true;
        return 0;
    }
    return *r->p++;
}

uint64_t pj_r_u64(pj_rd *r)
{
    if (r->bad || r->end - r->p < 8) {
        r->bad = true;
        return 0;
    }
    uint64_t v = pj_be64_get(r->p);
    r->p += 8;
    return v;
}

void pj_r_str(pj_rd *r, char *out, size_t cap)
{
    size_t n = pj_r_u8(r);
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        out[0] = '\0';
        return;
    }
    size_t k = n < cap - 1 ? n : cap - 1;
    memcpy(out, r->p, k);
    out[k] = '\0';
    r->p += n;
}

uint64_t pj_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------- the hash map ---------- */

/* A seeded 64-bit hash (wyhash-style mixing). Keys come from signed events, so the seed is
 * random per map: a submitter cannot precompute colliding ids. */
static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t lo = a * b;
    uint64_t hi = (a >> 32) * (b >> 32) + ((a * (b >> 32)) >> 32) + (((a >> 32) * b) >> 32);
    return lo ^ hi;
}

static uint64_t hash_bytes(uint64_t seed, const uint8_t *k, size_t n)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, k, 8);
        h = mix(h ^ w, 0xa0761d6478bd642full) + 0xe7037ed1a0b428dbull;
        k += 8;
        n -= 8;
    }
    uint64_t t = 0;
    memcpy(&t, k, n);
    h = mix(h ^ t ^ 0x8ebc6af09c88c6e3ull, 0x589965cc75374cc3ull);
    return h ^ (h >> 29);
}

int pj_map_init(pj_map *m)
{
    memset(m, 0, sizeof *m);
    m->cap = 256;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (m->slots == NULL)
        return TL_ENOMEM;
    randombytes_buf(&m->seed, sizeof m->seed);
    return 0;
}

#define MAP_CHUNK_BYTES (256u << 10)
#define MAP_CHUNK_HEADER 16u /* the previous chunk's pointer, padded to keep entries 8-aligned */

static void free_chunks(pj_map *m)
{
    while (m->chunk != NULL) {
        uint8_t *prev;
        memcpy(&prev, m->chunk, sizeof prev);
        free(m->chunk);
        m->chunk = prev;
    }
    m->chunk_used = m->chunk_cap = 0;
}

/* n zeroed bytes (a multiple of 8) for an entry; NULL on ENOMEM. */
static void *chunk_alloc(pj_map *m, size_t n)
{
    if (m->chunk == NULL || m->chunk_cap - m->chunk_used < n) {
        size_t cap = n + MAP_CHUNK_HEADER > MAP_CHUNK_BYTES ? n + MAP_CHUNK_HEADER : MAP_CHUNK_BYTES;
        uint8_t *c = malloc(cap);
        if (c == NULL)
            return NULL;
        memcpy(c, &m->chunk, sizeof m->chunk);
        m->chunk = c;
        m->chunk_used = MAP_CHUNK_HEADER;
        m->chunk_cap = cap;
    }
    void *p = m->chunk + m->chunk_used;
    m->chunk_used += n;
    memset(p, 0, n);
    return p;
}

void pj_map_clear(pj_map *m)
{
    if (m->slots == NULL)
        return;
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    free_chunks(m);
    m->count = 0;
    m->ndirty = 0;
}

void pj_map_free(pj_map *m)
{
    pj_map_clear(m);
    free(m->slots);
    free(m->dirty);
    memset(m, 0, sizeof *m);
}

static size_t slot_of(const pj_map *m, uint64_t h, const uint8_t *key, size_t klen)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const pj_slot *sl = &m->slots[i];
        if (sl->e == NULL || (sl->h == h && sl->e->klen == klen && memcmp(sl->e->key, key, klen) == 0))
            return i;
    }
}

pj_entry *pj_map_find(pj_map *m, const uint8_t *key, size_t klen)
{
    uint64_t h = hash_bytes(m->seed, key, klen);
    return m->slots[slot_of(m, h, key, klen)].e;
}

static int grow(pj_map *m)
{
    size_t ncap = m->cap * 2;
    pj_slot *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return TL_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].e == NULL)
            continue;
        size_t j = (size_t)m->slots[i].h & (ncap - 1);
        while (ns[j].e != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

pj_entry *pj_map_upsert(pj_map *m, const uint8_t *key, size_t klen, size_t vlen)
{
    uint64_t h = hash_bytes(m->seed, key, klen);
    size_t i = slot_of(m, h, key, klen);
    if (m->slots[i].e != NULL)
        return m->slots[i].e;
    if ((m->count + 1) * 4 > m->cap * 3) {
        if (grow(m) != 0)
            return NULL;
        i = slot_of(m, h, key, klen);
    }
    size_t vpad = (vlen + 7) & ~(size_t)7;
    pj_entry *e = chunk_alloc(m, (sizeof *e + vpad + klen + 1 + 7) & ~(size_t)7);
    if (e == NULL)
        return NULL;
    e->h = h;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->key = e->val + vpad;
    memcpy(e->key, key, klen);
    m->slots[i] = (pj_slot){h, e};
    m->count++;
    return e;
}

void pj_map_mark(pj_map *m, pj_entry *e)
{
    if (e->dirty)
        return;
    if (m->ndirty == m->dcap) {
        size_t ncap = m->dcap ? m->dcap * 2 : 1024;
        pj_entry **nd = realloc(m->dirty, ncap * sizeof *nd);
        if (nd == NULL)
            abort(); /* a few KiB; the process is beyond saving if this fails */
        m->dirty = nd;
        m->dcap = ncap;
    }
    e->dirty = true;
    m->dirty[m->ndirty++] = e;
}

/* ---------- the store ---------- */

int pj_store_fail(tl_error *err, char **dberr, const char *what)
{
    int code = TL_EIO;
    const char *msg = *dberr ? *dberr : "unknown error";
    if (strstr(msg, "No space left") != NULL || strstr(msg, "NoSpace") != NULL)
        code = TL_ENOSPC;
    else if (strstr(msg, "Corruption") != NULL)
        code = TL_ECORRUPT;
    tl_fail(err, code, code == TL_ENOSPC ? "storage.full" : code == TL_ECORRUPT ? "storage.corrupt" : "storage.io",
            "", "%s: %s", what, msg);
    rocksdb_free(*dberr);
    *dberr = NULL;
    return code;
}

static uint64_t mono_ms(void) { return pj_mono_ns() / 1000000u; }

int pj_store_open(pj_store *s, const char *dir, bool follow, tl_error *err)
{
    static _Atomic unsigned secondary_counter;
    memset(s, 0, sizeof *s);
    s->follow = follow;
    s->dir = strdup(dir);
    if (s->dir == NULL)
        return pj_nomem(err);
    pthread_rwlock_init(&s->follow_lock, NULL);
    s->opts = rocksdb_options_create();
    s->table = rocksdb_block_based_options_create();
    s->cache = rocksdb_cache_create_lru(VIEWS_CACHE_BYTES);
    rocksdb_block_based_options_set_block_cache(s->table, s->cache);
    rocksdb_block_based_options_set_filter_policy(s->table, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(s->opts, s->table);
    rocksdb_options_set_write_buffer_size(s->opts, 32u << 20);
    rocksdb_options_set_max_open_files(s->opts, 256);
    s->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wopts, 0);
    s->ropts = rocksdb_readoptions_create();
    char *dberr = NULL;
    if (!follow) {
        rocksdb_options_set_create_if_missing(s->opts, 1);
        s->db = rocksdb_open(s->opts, dir, &dberr);
    } else {
        rocksdb_options_set_max_open_files(s->opts, -1); /* required by secondary instances */
        size_t n = strlen(dir) + 64;
        s->secondary_dir = malloc(n);
        if (s->secondary_dir == NULL)
            return pj_nomem(err);
        snprintf(s->secondary_dir, n, "%s.secondary-%ld-%u", dir, (long)getpid(),
                 atomic_fetch_add(&secondary_counter, 1));
        s->db = rocksdb_open_as_secondary(s->opts, dir, s->secondary_dir, &dberr);
    }
    if (dberr != NULL) {
        s->db = NULL;
        int rc;
        if (strstr(dberr, "lock") != NULL) {
            rc = tl_fail(err, TL_ESTATE, "views.locked", "",
                         "%s is in use by another process running the projections: %s", dir, dberr);
            rocksdb_free(dberr);
        } else if (follow && (strstr(dberr, "No such file") || strstr(dberr, "does not exist"))) {
            rc = tl_fail(err, TL_ENOTFOUND, "views.missing", "",
                         "%s holds no views yet (no process has run the projections)", dir);
            rocksdb_free(dberr);
        } else {
            rc = pj_store_fail(err, &dberr, "cannot open the views");
        }
        return rc;
    }
    return 0;
}

void pj_store_close(pj_store *s)
{
    if (s->db != NULL)
        rocksdb_close(s->db);
    if (s->secondary_dir != NULL) {
        rocksdb_options_t *o = rocksdb_options_create();
        char *dberr = NULL;
        rocksdb_destroy_db(o, s->secondary_dir, &dberr);
        if (dberr != NULL)
            rocksdb_free(dberr);
        rocksdb_options_destroy(o);
        rmdir(s->secondary_dir);
        free(s->secondary_dir);
    }
    if (s->wopts)
        rocksdb_writeoptions_destroy(s->wopts);
    if (s->ropts)
        rocksdb_readoptions_destroy(s->ropts);
    if (s->opts)
        rocksdb_options_destroy(s->opts);
    if (s->table)
        rocksdb_block_based_options_destroy(s->table);
    if (s->cache)
        rocksdb_cache_destroy(s->cache);
    if (s->dir) {
        pthread_rwlock_destroy(&s->follow_lock);
        free(s->dir);
    }
    memset(s, 0, sizeof *s);
}

int pj_store_catch_up(pj_store *s, tl_error *err)
{
    if (!s->follow)
        return 0;
    /* Readers hold the lock shared for a whole query (a secondary has no snapshots), so a
     * catch-up, which may switch generations under them, waits for a moment with no reader;
     * when there is none soon, the next query catches up instead. */
    uint64_t now = mono_ms();
    int rc = 0;
    if (now - atomic_load(&s->last_catchup_ms) >= CATCHUP_INTERVAL_MS &&
        pthread_rwlock_trywrlock(&s->follow_lock) == 0) {
        char *dberr = NULL;
        rocksdb_try_catch_up_with_primary(s->db, &dberr);
        if (dberr != NULL)
            rc = pj_store_fail(err, &dberr, "cannot catch up with the projection process");
        else
            atomic_store(&s->last_catchup_ms, now);
        pthread_rwlock_unlock(&s->follow_lock);
    }
    return rc;
}

void pj_prefix(uint8_t out[PJ_PREFIX_BYTES], uint8_t proj, uint32_t gen)
{
    out[0] = proj;
    pj_be32_put(out + 1, gen);
}

int pj_meta_get(pj_store *s, const rocksdb_readoptions_t *ro, char tag, uint8_t proj, pj_meta *out,
                tl_error *err)
{
    uint8_t key[3] = {0, (uint8_t)tag, proj};
    size_t n = 0;
    char *dberr = NULL;
    char *v = rocksdb_get(s->db, ro ? ro : s->ropts, (const char *)key, sizeof key, &n, &dberr);
    memset(out, 0, sizeof *out);
    if (dberr != NULL)
        return pj_store_fail(err, &dberr, "cannot read the views' meta data");
    if (v == NULL)
        return 0;
    int rc = 0;
    if (n == 8) {
        out->present = true;
        out->version = pj_be32_get((const uint8_t *)v);
        out->gen = pj_be32_get((const uint8_t *)v + 4);
    } else if (n == 4) {
        out->present = true;
        out->gen = pj_be32_get((const uint8_t *)v);
    } else {
        rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "views meta record has %zu bytes", n);
    }
    rocksdb_free(v);
    return rc;
}

void pj_meta_put(rocksdb_writebatch_t *wb, char tag, uint8_t proj, uint32_t version, uint32_t gen)
{
    uint8_t key[3] = {0, (uint8_t)tag, proj};
    uint8_t v[8];
    pj_be32_put(v, version);
    pj_be32_put(v + 4, gen);
    if (tag == 'g')
        rocksdb_writebatch_put(wb, (const char *)key, 3, (const char *)v + 4, 4);
    else
        rocksdb_writebatch_put(wb, (const char *)key, 3, (const char *)v, 8);
}

void pj_meta_delete(rocksdb_writebatch_t *wb, char tag, uint8_t proj)
{
    uint8_t key[3] = {0, (uint8_t)tag, proj};
    rocksdb_writebatch_delete(wb, (const char *)key, 3);
}

int pj_pos_get(pj_store *s, const rocksdb_readoptions_t *ro, const uint8_t prefix[PJ_PREFIX_BYTES],
               uint64_t *pos, tl_error *err)
{
    uint8_t key[PJ_PREFIX_BYTES + 1];
    memcpy(key, prefix, PJ_PREFIX_BYTES);
    key[PJ_PREFIX_BYTES] = 0;
    size_t n = 0;
    char *dberr = NULL;
    char *v = rocksdb_get(s->db, ro ? ro : s->ropts, (const char *)key, sizeof key, &n, &dberr);
    if (dberr != NULL)
        return pj_store_fail(err, &dberr, "cannot read a projection's position");
    *pos = 0;
    int rc = 0;
    if (v != NULL) {
        if (n == 8)
            *pos = pj_be64_get((const uint8_t *)v);
        else
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "projection position has %zu bytes", n);
        rocksdb_free(v);
    }
    return rc;
}

/* ---------- instance access ---------- */

static size_t full_key(uint8_t *out, const uint8_t prefix[PJ_PREFIX_BYTES], const uint8_t *sub, size_t sublen)
{
    memcpy(out, prefix, PJ_PREFIX_BYTES);
    memcpy(out + PJ_PREFIX_BYTES, sub, sublen);
    return PJ_PREFIX_BYTES + sublen;
}

int pj_inst_get(pj_inst *in, const uint8_t *sub, size_t sublen, tl_buf *out, tl_error *err)
{
    if (sublen > PJ_KEY_BYTES_MAX - PJ_PREFIX_BYTES)
        return tl_fail(err, TL_ETOOBIG, "views.key", "", "key too long");
    uint8_t key[PJ_KEY_BYTES_MAX];
    size_t klen = full_key(key, in->prefix, sub, sublen);
    size_t n = 0;
    char *dberr = NULL;
    char *v = rocksdb_get(in->store->db, in->store->ropts, (const char *)key, klen, &n, &dberr);
    if (dberr != NULL)
        return pj_store_fail(err, &dberr, "cannot read a view");
    if (v == NULL)
        return TL_ENOTFOUND;
    tl_buf_reset(out);
    int rc = tl_buf_append(out, v, n);
    rocksdb_free(v);
    return rc != 0 ? pj_nomem(err) : 0;
}

void pj_inst_put(pj_inst *in, const uint8_t *sub, size_t sublen, const uint8_t *val, size_t vlen)
{
    if (sublen > PJ_KEY_BYTES_MAX - PJ_PREFIX_BYTES)
        sublen = PJ_KEY_BYTES_MAX - PJ_PREFIX_BYTES; /* callers bound their keys; never reached */
    if (in->nstaged == in->staged_cap) {
        size_t ncap = in->staged_cap ? in->staged_cap * 2 : 4096;
        uint32_t *no = realloc(in->staged_off, ncap * sizeof *no);
        if (no == NULL) {
            in->staged_failed = true;
            return;
        }
        in->staged_off = no;
        in->staged_cap = ncap;
    }
    uint8_t h[6] = {(uint8_t)(sublen >> 8), (uint8_t)sublen, (uint8_t)(vlen >> 24), (uint8_t)(vlen >> 16),
                    (uint8_t)(vlen >> 8), (uint8_t)vlen};
    if (in->staged.len > UINT32_MAX - 65536u - vlen || tl_buf_append(&in->staged, h, 6) != 0 ||
        tl_buf_append(&in->staged, sub, sublen) != 0 || tl_buf_append(&in->staged, val, vlen) != 0) {
        in->staged_failed = true;
        return;
    }
    in->staged_off[in->nstaged++] = (uint32_t)(in->staged.len - 6 - sublen - vlen);
}

/* Sorting the stage: each entry's first 16 key bytes as two big-endian integers beside its
 * offset, so that nearly every comparison is two integer compares with no trip to the staged
 * bytes (a batch may stage millions of puts). */
typedef struct stage_item {
    uint64_t a, b; /* key bytes 0..7 and 8..15, zero-padded */
    uint32_t off;
    uint32_t len;
} stage_item;

static _Thread_local const uint8_t *sort_base;

static uint64_t be_prefix(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < n ? p[i] : 0u);
    return v;
}

static int stage_item_cmp(const void *x, const void *y)
{
    const stage_item *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    if (p->b != q->b)
        return p->b < q->b ? -1 : 1;
    if (p->len > 16 && q->len > 16) {
        size_t n = (p->len < q->len ? p->len : q->len) - 16;
        int c = memcmp(sort_base + p->off + 6 + 16, sort_base + q->off + 6 + 16, n);
        if (c != 0)
            return c;
    }
    if (p->len != q->len)
        return p->len < q->len ? -1 : 1; /* equal up to the shorter: the shorter first */
    return (p->off > q->off) - (p->off < q->off); /* the same key: staging order, the last put wins */
}

/* Orders in->staged_off by key, then staging order. */
static int stage_sort(pj_inst *in)
{
    if (in->nstaged < 2)
        return 0;
    stage_item *it = malloc(in->nstaged * sizeof *it);
    if (it == NULL)
        return TL_ENOMEM;
    for (size_t i = 0; i < in->nstaged; i++) {
        const uint8_t *p = in->staged.data + in->staged_off[i];
        size_t n = (size_t)p[0] << 8 | p[1];
        it[i].a = be_prefix(p + 6, n);
        it[i].b = n > 8 ? be_prefix(p + 6 + 8, n - 8) : 0;
        it[i].off = in->staged_off[i];
        it[i].len = (uint32_t)n;
    }
    stage_item *tmp = malloc(in->nstaged * sizeof *tmp);
    if (tmp == NULL) {
        free(it);
        return TL_ENOMEM;
    }
    /* A stable LSD radix sort on the first 16 key bytes (skipping bytes all keys share, such
     * as the tag), then a comparison sort of each run that ties on them, which is short. */
    size_t n = in->nstaged;
    for (unsigned pass = 0; pass < 16; pass++) {
        unsigned shift = 8u * (pass % 8u);
        bool hi = pass >= 8; /* bytes 8..15 (b) first, then 0..7 (a) */
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[((hi ? it[i].a : it[i].b) >> shift) & 0xffu]++;
        if (count[((hi ? it[0].a : it[0].b) >> shift) & 0xffu] == n)
            continue;
        size_t sum = 0;
        for (unsigned d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[((hi ? it[i].a : it[i].b) >> shift) & 0xffu]++] = it[i];
        stage_item *t = it;
        it = tmp;
        tmp = t;
    }
    sort_base = in->staged.data;
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && it[j].a == it[i].a && it[j].b == it[i].b; j++)
            ;
        if (j - i > 1)
            qsort(it + i, j - i, sizeof *it, stage_item_cmp);
    }
    for (size_t i = 0; i < n; i++)
        in->staged_off[i] = it[i].off;
    free(it);
    free(tmp);
    return 0;
}

void pj_inst_stage_clear(pj_inst *in)
{
    tl_buf_reset(&in->staged);
    in->nstaged = 0;
    in->staged_failed = false;
}

int pj_inst_stage_commit(pj_inst *in, tl_error *err)
{
    if (in->staged_failed) {
        pj_inst_stage_clear(in);
        return pj_nomem(err);
    }
    if (in->nstaged == 0)
        return 0;
    if (stage_sort(in) != 0) {
        pj_inst_stage_clear(in);
        return pj_nomem(err);
    }
    uint8_t key[PJ_KEY_BYTES_MAX];
    memcpy(key, in->prefix, PJ_PREFIX_BYTES);
    for (size_t i = 0; i < in->nstaged; i++) {
        const uint8_t *p = in->staged.data + in->staged_off[i];
        size_t sublen = (size_t)p[0] << 8 | p[1];
        size_t vlen = (size_t)p[2] << 24 | (size_t)p[3] << 16 | (size_t)p[4] << 8 | p[5];
        memcpy(key + PJ_PREFIX_BYTES, p + 6, sublen);
        rocksdb_writebatch_put(in->wb, (const char *)key, PJ_PREFIX_BYTES + sublen, (const char *)p + 6 + sublen,
                               vlen);
    }
    pj_inst_stage_clear(in);
    return 0;
}

void pj_inst_drop_iter(pj_inst *in)
{
    if (in->it != NULL) {
        rocksdb_iter_destroy(in->it);
        in->it = NULL;
    }
    if (in->it_ro != NULL) {
        rocksdb_readoptions_destroy(in->it_ro);
        in->it_ro = NULL;
    }
}

int pj_inst_last_at_or_before(pj_inst *in, const uint8_t *sub_lo, size_t lolen, const uint8_t *sub_hi,
                              size_t hilen, tl_buf *key, tl_buf *val, tl_error *err)
{
    if (in->it == NULL) {
        in->it_ro = rocksdb_readoptions_create();
        in->it = rocksdb_create_iterator(in->store->db, in->it_ro);
    }
    uint8_t lo[PJ_KEY_BYTES_MAX], hi[PJ_KEY_BYTES_MAX];
    size_t lon = full_key(lo, in->prefix, sub_lo, lolen);
    size_t hin = full_key(hi, in->prefix, sub_hi, hilen);
    rocksdb_iter_seek_for_prev(in->it, (const char *)hi, hin);
    if (!rocksdb_iter_valid(in->it)) {
        char *dberr = NULL;
        rocksdb_iter_get_error(in->it, &dberr);
        if (dberr != NULL)
            return pj_store_fail(err, &dberr, "cannot read a view");
        return TL_ENOTFOUND;
    }
    size_t kn, vn;
    const char *k = rocksdb_iter_key(in->it, &kn);
    if (kn < lon || memcmp(k, lo, lon) != 0)
        return TL_ENOTFOUND;
    const char *v = rocksdb_iter_value(in->it, &vn);
    tl_buf_reset(key);
    tl_buf_reset(val);
    if (tl_buf_append(key, k + PJ_PREFIX_BYTES, kn - PJ_PREFIX_BYTES) != 0 || tl_buf_append(val, v, vn) != 0)
        return pj_nomem(err);
    return 0;
}

/* ---------- cached tables ---------- */

int pj_table_init(pj_table *t, uint8_t tag, size_t vsize, size_t max_entries,
                  int (*enc)(tl_buf *, const void *), int (*dec)(void *, const uint8_t *, size_t))
{
    memset(t, 0, sizeof *t);
    t->tag = tag;
    t->vsize = vsize;
    t->max_entries = max_entries;
    t->enc = enc;
    t->dec = dec;
    return pj_map_init(&t->map);
}

void pj_table_free(pj_table *t) { pj_map_free(&t->map); }

static int table_lookup(pj_inst *in, pj_table *t, const void *key, size_t klen, pj_entry **out, tl_error *err)
{
    uint8_t sub[PJ_KEY_BYTES_MAX];
    if (klen + 1 > PJ_KEY_BYTES_MAX - PJ_PREFIX_BYTES)
        return tl_fail(err, TL_ETOOBIG, "views.key", "", "key too long");
    sub[0] = t->tag;
    memcpy(sub + 1, key, klen);
    pj_entry *e = pj_map_find(&t->map, sub, klen + 1);
    if (e != NULL) {
        *out = e;
        return 0;
    }
    e = pj_map_upsert(&t->map, sub, klen + 1, t->vsize);
    if (e == NULL)
        return pj_nomem(err);
    *out = e;
    if (t->complete && in->fresh)
        return 0; /* everything stored is cached: a miss means absent */
    tl_buf v;
    tl_buf_init(&v);
    int rc = pj_inst_get(in, sub, klen + 1, &v, err);
    if (rc == 0) {
        if (t->dec(e->val, v.data, v.len) != 0)
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "a stored view value of table '%c' is damaged",
                         t->tag);
        else
            e->present = true;
    } else if (rc == TL_ENOTFOUND) {
        rc = 0;
    }
    tl_buf_free(&v);
    return rc;
}

int pj_table_get(pj_inst *in, pj_table *t, const void *key, size_t klen, pj_entry **out, tl_error *err)
{
    pj_entry *e = NULL;
    int rc = table_lookup(in, t, key, klen, &e, err);
    *out = (rc == 0 && e->present) ? e : NULL;
    return rc;
}

int pj_table_create(pj_inst *in, pj_table *t, const void *key, size_t klen, pj_entry **out, tl_error *err)
{
    (void)in;
    uint8_t sub[PJ_KEY_BYTES_MAX];
    if (klen + 1 > PJ_KEY_BYTES_MAX - PJ_PREFIX_BYTES)
        return tl_fail(err, TL_ETOOBIG, "views.key", "", "key too long");
    sub[0] = t->tag;
    memcpy(sub + 1, key, klen);
    pj_entry *e = pj_map_upsert(&t->map, sub, klen + 1, t->vsize);
    if (e == NULL)
        return pj_nomem(err);
    memset(e->val, 0, t->vsize);
    e->present = true;
    *out = e;
    return 0;
}

int pj_table_upsert(pj_inst *in, pj_table *t, const void *key, size_t klen, pj_entry **out, bool *created,
                    tl_error *err)
{
    pj_entry *e = NULL;
    int rc = table_lookup(in, t, key, klen, &e, err);
    if (rc != 0)
        return rc;
    *created = !e->present;
    if (!e->present) {
        memset(e->val, 0, t->vsize);
        e->present = true;
    }
    *out = e;
    return 0;
}

void pj_table_touch(pj_table *t, pj_entry *e) { pj_map_mark(&t->map, e); }

int pj_table_flush(pj_inst *in, pj_table *t, tl_error *err)
{
    tl_buf v;
    tl_buf_init(&v);
    int rc = 0;
    for (size_t i = 0; i < t->map.ndirty; i++) {
        pj_entry *e = t->map.dirty[i];
        e->dirty = false;
        tl_buf_reset(&v);
        if (t->enc(&v, e->val) != 0) {
            rc = pj_nomem(err);
            break;
        }
        pj_inst_put(in, e->key, e->klen, v.data, v.len);
    }
    t->map.ndirty = 0;
    tl_buf_free(&v);
    if (t->map.count > t->max_entries) {
        pj_map_clear(&t->map);
        t->complete = false;
    }
    return rc;
}

void pj_table_reset(pj_table *t)
{
    pj_map_clear(&t->map);
    t->complete = false;
}

/* ---------- reads ---------- */

int pj_read_begin(pj_read *rd, tl_views *v, tl_error *err)
{
    memset(rd, 0, sizeof *rd);
    rd->v = v;
    rd->store = pj_views_store(v);
    int rc = pj_store_catch_up(rd->store, err);
    if (rc != 0)
        return rc;
    rd->ro = rocksdb_readoptions_create();
    if (rd->store->follow) {
        pthread_rwlock_rdlock(&rd->store->follow_lock);
        rd->locked = true;
    } else {
        /* Secondary instances do not support snapshots; their catch-up is itself a point in
         * time, and this process never writes them. */
        rd->snap = rocksdb_create_snapshot(rd->store->db);
        rocksdb_readoptions_set_snapshot(rd->ro, rd->snap);
    }
    return 0;
}

void pj_read_end(pj_read *rd)
{
    if (rd->ro)
        rocksdb_readoptions_destroy(rd->ro);
    if (rd->snap)
        rocksdb_release_snapshot(rd->store->db, rd->snap);
    if (rd->locked)
        pthread_rwlock_unlock(&rd->store->follow_lock);
    memset(rd, 0, sizeof *rd);
}

int pj_read_proj(pj_read *rd, const pj_def *def, uint8_t prefix[PJ_PREFIX_BYTES], uint64_t *pos, tl_error *err)
{
    pj_meta m;
    int rc = pj_meta_get(rd->store, rd->ro, 'a', def->id, &m, err);
    if (rc != 0)
        return rc;
    if (!m.present || m.version != def->version)
        return tl_fail(err, TL_ESTATE, "view.rebuilding", "",
                       "the %s projection is being rebuilt; try again shortly", def->name);
    pj_prefix(prefix, def->id, m.gen);
    return pj_pos_get(rd->store, rd->ro, prefix, pos, err);
}

int pj_read_get(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], const uint8_t *sub, size_t sublen, tl_buf *out,
                tl_error *err)
{
    uint8_t key[PJ_KEY_BYTES_MAX];
    if (sublen > PJ_KEY_BYTES_MAX - PJ_PREFIX_BYTES)
        return TL_ENOTFOUND;
    size_t klen = full_key(key, prefix, sub, sublen);
    size_t n = 0;
    char *dberr = NULL;
    char *v = rocksdb_get(rd->store->db, rd->ro, (const char *)key, klen, &n, &dberr);
    if (dberr != NULL)
        return pj_store_fail(err, &dberr, "cannot read a view");
    if (v == NULL)
        return TL_ENOTFOUND;
    tl_buf_reset(out);
    int rc = tl_buf_append(out, v, n);
    rocksdb_free(v);
    return rc != 0 ? pj_nomem(err) : 0;
}

rocksdb_iterator_t *pj_read_iter(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], const uint8_t *sub,
                                 size_t sublen, uint8_t *bound, rocksdb_readoptions_t **ro_out)
{
    /* The upper bound is prefix || sub with its last byte incremented (carrying). */
    size_t n = full_key(bound, prefix, sub, sublen);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (rd->snap)
        rocksdb_readoptions_set_snapshot(ro, rd->snap);
    size_t bn = n;
    while (bn > 0 && bound[bn - 1] == 0xff)
        bn--;
    if (bn > 0) {
        bound[bn - 1]++;
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)bound, bn);
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator(rd->store->db, ro);
    uint8_t start[PJ_KEY_BYTES_MAX];
    full_key(start, prefix, sub, sublen);
    rocksdb_iter_seek(it, (const char *)start, n);
    *ro_out = ro;
    return it;
}

int pj_iter_done(rocksdb_iterator_t *it, rocksdb_readoptions_t *ro, tl_error *err)
{
    char *dberr = NULL;
    rocksdb_iter_get_error(it, &dberr);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (dberr != NULL)
        return pj_store_fail(err, &dberr, "cannot read a view");
    return 0;
}
