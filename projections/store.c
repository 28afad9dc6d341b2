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
 * they see either the old generation or the new one, never a mixture. A range deletion alone
 * would leave the old generation's table files on disk until a compaction reaches their level
 * (and then read them key by key): once no reader is inside (pj_store_drop_files, under the
 * readers' lock), the files that hold only that generation are deleted outright.
 *
 * VALUES are fixed byte layouts: integers as 8-byte big-endian two's complement, ids (<= 64
 * bytes) as a 1-byte length then the bytes, text (names, titles: <= 512 bytes) as a 2-byte
 * big-endian length then the bytes.
 *
 * WRITES use the write-ahead log without fsync: the views are derived data, and RocksDB's
 * point-in-time recovery keeps whole WriteBatches, so a crash or power loss at worst loses the
 * last few batches, which are folded again from the log. Within a WriteBatch the puts are
 * sorted by key (pj_inst_stage_commit): the memtable takes sorted inserts much faster. A
 * rebuild's generation, which no reader sees yet, is folded in memory and written once, near
 * the log's end: its entries, sorted, and its position go into one table file (written as
 * DIR/views.ingest-<id>.sst) that RocksDB ingests atomically and durably (pj_inst_ingest): no
 * memtable, write-ahead log, flush or compaction. After a crash before
 * that, nothing of the generation is stored but its 'b' record, and the rebuild starts over.
 *
 * CACHES. Folds keep hot entities in pj_table caches (a hash map in front of the store). A
 * generation built from record 0 in this process knows that everything stored is in its cache
 * ("complete"), so a miss costs nothing until the cache is first dropped for size. Per-contract
 * state is not stored at all (pj_ctable: the log's stream index backs it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

int pj_w_counters(tl_buf *b, const int64_t *c, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = pj_w_u64(b, (uint64_t)c[i]);
    return rc;
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

void pj_r_counters(pj_rd *r, int64_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i] = (int64_t)pj_r_u64(r);
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
    size_t len = n;
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, k, 8);
        h = mix(h ^ w, 0xa0761d6478bd642full) + 0xe7037ed1a0b428dbull;
        k += 8;
        n -= 8;
    }
    /* The last n < 8 bytes, as little-endian memcpy(&t, k, n) into a zero t would give, but
     * read with whole loads: the byte copy through the stack stalled the load of t on store
     * forwarding, and the map hashes a few ids per record. */
    uint64_t t = 0;
    if (len >= 8) {
        uint64_t w;
        memcpy(&w, k + n - 8, 8);
        t = n == 0 ? 0 : w >> (64 - 8 * n);
    } else if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, k, 4);
        memcpy(&hi, k + n - 4, 4);
        t = (uint64_t)lo | (uint64_t)hi << (8 * (n - 4));
    } else if (n > 0) {
        t = (uint64_t)k[0] | (uint64_t)k[n / 2] << (8 * (n / 2)) | (uint64_t)k[n - 1] << (8 * (n - 1));
    }
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
    m->clears++;
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
    pthread_rwlock_init(&s->read_lock, NULL);
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
        pthread_rwlock_destroy(&s->read_lock);
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
        pthread_rwlock_trywrlock(&s->read_lock) == 0) {
        char *dberr = NULL;
        rocksdb_try_catch_up_with_primary(s->db, &dberr);
        if (dberr != NULL)
            rc = pj_store_fail(err, &dberr, "cannot catch up with the projection process");
        else
            atomic_store(&s->last_catchup_ms, now);
        pthread_rwlock_unlock(&s->read_lock);
    }
    return rc;
}

bool pj_store_drop_files(pj_store *s, uint8_t proj, uint32_t gen_lo, uint32_t gen_hi)
{
    /* DeleteFilesInRange ignores snapshots: no reader may be inside the old generation. New
     * readers cannot enter it (the live pointer moved first); wait for none to be active. */
    if (pthread_rwlock_trywrlock(&s->read_lock) != 0)
        return false;
    /* Keys are prefix || sub-key with a non-empty sub-key, so no key equals hi: the inclusive
     * end of RocksDB's range keeps every file holding a key of generation gen_hi. */
    uint8_t lo[PJ_PREFIX_BYTES], hi[PJ_PREFIX_BYTES];
    pj_prefix(lo, proj, gen_lo);
    pj_prefix(hi, proj, gen_hi);
    char *dberr = NULL;
    rocksdb_delete_file_in_range(s->db, (const char *)lo, sizeof lo, (const char *)hi, sizeof hi, &dberr);
    pthread_rwlock_unlock(&s->read_lock);
    if (dberr != NULL)
        rocksdb_free(dberr); /* only space is at stake: compaction removes the keys anyway */
    return true;
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

/* The i-th staged entry (in staged_off order): its sub-key, value and their lengths. */
static const uint8_t *stage_entry(const pj_inst *in, size_t i, size_t *sublen, const uint8_t **val, size_t *vlen)
{
    const uint8_t *p = in->staged.data + in->staged_off[i];
    *sublen = (size_t)p[0] << 8 | p[1];
    *vlen = (size_t)p[2] << 24 | (size_t)p[3] << 16 | (size_t)p[4] << 8 | p[5];
    *val = p + 6 + *sublen;
    return p + 6;
}

/* After stage_sort: whether entry i is superseded by a later put of the same key (i + 1). */
static bool stage_superseded(const pj_inst *in, size_t i)
{
    if (i + 1 >= in->nstaged)
        return false;
    size_t an, bn, avn, bvn;
    const uint8_t *av, *bv;
    const uint8_t *a = stage_entry(in, i, &an, &av, &avn), *b = stage_entry(in, i + 1, &bn, &bv, &bvn);
    return an == bn && memcmp(a, b, an) == 0;
}

/* Calls put with each staged entry's full key and value, in key order, the last put of a key
 * only (after stage_sort); stops at put's first nonzero return, which it returns. */
static int stage_each(pj_inst *in, int (*put)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen),
                      void *ctx)
{
    uint8_t key[PJ_KEY_BYTES_MAX];
    memcpy(key, in->prefix, PJ_PREFIX_BYTES);
    int rc = 0;
    for (size_t i = 0; i < in->nstaged && rc == 0; i++) {
        if (stage_superseded(in, i))
            continue;
        size_t sublen, vlen;
        const uint8_t *val;
        const uint8_t *sub = stage_entry(in, i, &sublen, &val, &vlen);
        memcpy(key + PJ_PREFIX_BYTES, sub, sublen);
        rc = put(ctx, key, PJ_PREFIX_BYTES + sublen, val, vlen);
    }
    return rc;
}

static int batch_put(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    rocksdb_writebatch_put(ctx, (const char *)key, klen, (const char *)val, vlen);
    return 0;
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
    (void)stage_each(in, batch_put, in->wb);
    pj_inst_stage_clear(in);
    return 0;
}

typedef struct sst_out {
    rocksdb_sstfilewriter_t *w;
    char *dberr;
} sst_out;

static int sst_put(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    sst_out *o = ctx;
    rocksdb_sstfilewriter_put(o->w, (const char *)key, klen, (const char *)val, vlen, &o->dberr);
    return o->dberr != NULL;
}

/* DIR/views.ingest-<proj>.sst, malloc'd; NULL on ENOMEM. */
static char *ingest_path(const pj_store *s, uint8_t proj)
{
    size_t n = strlen(s->dir) + 32;
    char *path = malloc(n);
    if (path != NULL)
        snprintf(path, n, "%s.ingest-%u.sst", s->dir, (unsigned)proj);
    return path;
}

void pj_store_remove_ingest(pj_store *s, uint8_t proj)
{
    char *path = ingest_path(s, proj);
    if (path != NULL)
        unlink(path);
    free(path);
}

int pj_inst_ingest(pj_inst *in, uint64_t pos, tl_error *err)
{
    if (in->staged_failed || stage_sort(in) != 0) {
        pj_inst_stage_clear(in);
        return pj_nomem(err);
    }
    char *path = ingest_path(in->store, in->def->id);
    if (path == NULL) {
        pj_inst_stage_clear(in);
        return pj_nomem(err);
    }
    /* A process killed between an ingest and the unlink below leaves this name as a second
     * link to a live table file of the store: writing through it would truncate that file. */
    unlink(path);
    rocksdb_envoptions_t *eo = rocksdb_envoptions_create();
    sst_out o = {rocksdb_sstfilewriter_create(eo, in->store->opts), NULL};
    rocksdb_sstfilewriter_open(o.w, path, &o.dberr);
    /* The position's sub-key 0x00 sorts before every tag letter: it goes first. */
    uint8_t key[PJ_PREFIX_BYTES + 1], val8[8];
    memcpy(key, in->prefix, PJ_PREFIX_BYTES);
    key[PJ_PREFIX_BYTES] = 0;
    pj_be64_put(val8, pos);
    if (o.dberr == NULL && sst_put(&o, key, sizeof key, val8, 8) == 0)
        (void)stage_each(in, sst_put, &o);
    if (o.dberr == NULL)
        rocksdb_sstfilewriter_finish(o.w, &o.dberr);
    rocksdb_sstfilewriter_destroy(o.w);
    rocksdb_envoptions_destroy(eo);
    pj_inst_stage_clear(in);
    if (o.dberr == NULL) {
        rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
        rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
        const char *files[1] = {path};
        rocksdb_ingest_external_file(in->store->db, files, 1, io, &o.dberr);
        rocksdb_ingestexternalfileoptions_destroy(io);
    }
    unlink(path); /* moved (hard-linked) into the store, or a failed attempt */
    free(path);
    return o.dberr != NULL ? pj_store_fail(err, &o.dberr, "cannot write a rebuilt view") : 0;
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

int pj_inst_table(pj_inst *in, pj_table *t, uint8_t tag, size_t vsize, size_t max_entries,
                  int (*enc)(tl_buf *, const void *), int (*dec)(void *, const uint8_t *, size_t))
{
    if (in->ntables == PJ_TABLES_MAX)
        abort(); /* a fold with more tables than PJ_TABLES_MAX: a build error, raise the limit */
    memset(t, 0, sizeof *t);
    t->tag = tag;
    t->vsize = vsize;
    t->max_entries = max_entries;
    t->enc = enc;
    t->dec = dec;
    t->complete = in->fresh;
    in->tables[in->ntables].t = t;
    in->tables[in->ntables++].c = NULL;
    return pj_map_init(&t->map);
}

/* ---------- contract tables ---------- */

#define CT_PRESENT (1ull << 63) /* else a cached "no such contract" */
#define CT_KEY (CT_PRESENT - 1)
#define CT_CAP_MIN 1024u
/* A table never grows past this: a rebuild of a log with more contracts than fit (some 1.5
 * million at 40 bytes a slot) empties it and goes on, the contracts it needs again being
 * folded from the log. It bounds a rebuild's memory; a larger bound only saves those refolds. */
#define CT_BYTES_MAX (128u << 20)

/* The value of 8 ASCII digits at p (the first most significant), or false when one is not a
 * digit: SWAR over one little-endian load (every contract event parses a reg_no, and the
 * byte loop was a hundred instructions of it). */
static bool digits8(const uint8_t *p, uint32_t *out)
{
    uint64_t x;
    memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x); /* the first digit in the low byte */
#endif
    /* Each byte 0x30..0x39: high nibble 3, and adding 6 does not carry out of the low one. */
    if (((x & 0xf0f0f0f0f0f0f0f0ull) | (((x + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) >> 4)) !=
        0x3333333333333333ull)
        return false;
    x -= 0x3030303030303030ull;
    x = x * 10 + (x >> 8); /* byte pairs: each even byte holds its two-digit number */
    x = ((x & 0x000000ff000000ffull) * (100 + (1000000ull << 32)) +
         ((x >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32))) >> 32;
    *out = (uint32_t)x;
    return true;
}

bool pj_reg_no_key(const uint8_t *p, size_t n, uint64_t *key)
{
    uint32_t hi, lo;
    if (n != TL_REG_NO_LEN || !digits8(p, &hi) || !digits8(p + 8, &lo))
        return false;
    *key = (uint64_t)hi * 100000000u + lo + 1; /* 0 marks an empty slot */
    return true;
}

/* "contract/<reg_no>" of a packed key into out (TL_REG_NO_LEN + 9 bytes); returns its length. */
static size_t contract_stream(char *out, uint64_t key)
{
    static const char pre[] = "contract/";
    memcpy(out, pre, sizeof pre - 1);
    key = (key & CT_KEY) - 1;
    for (int i = TL_REG_NO_LEN - 1; i >= 0; i--) {
        out[sizeof pre - 1 + (size_t)i] = (char)('0' + key % 10);
        key /= 10;
    }
    return sizeof pre - 1 + TL_REG_NO_LEN;
}

/* Keys are reg_nos, which registries choose (a registry key signs each): linear probing over
 * a table at most 3/4 full, from a multiplicative hash mapped onto [0, cap) by its high bits
 * (cap need not be a power of two: a reserved table is sized to its need, see
 * pj_inst_ctables_reserve, and its pages are a good part of a rebuild's cost). */
static size_t ct_home(const pj_ctable *t, uint64_t key)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    return (size_t)((h >> 32) * (uint64_t)t->cap >> 32); /* cap < 2^32 (CT_BYTES_MAX) */
}

static uint64_t *ct_find(const pj_ctable *t, uint64_t key)
{
    size_t w = 1 + t->vwords;
    for (size_t i = ct_home(t, key);; i = i + 1 == t->cap ? 0 : i + 1) {
        uint64_t *sl = t->slots + i * w;
        if (sl[0] == 0 || (sl[0] & CT_KEY) == key)
            return sl;
    }
}

void pj_ctable_prefetch(const pj_ctable *t, uint64_t key)
{
    if (t->cap != 0)
        __builtin_prefetch(t->slots + ct_home(t, key) * (1 + t->vwords), 1);
}

/* Zeroed slots, on huge pages where the kernel has them: nearly every lookup of a rebuild is
 * a cache miss at a random place in tens of megabytes, and with 4 KiB pages most of its cost
 * was the TLB miss on top. */
static uint64_t *ct_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice only: without it, plain pages */
    return p;
}

static size_t ct_bytes(const pj_ctable *t) { return t->cap * (1 + t->vwords) * sizeof *t->slots; }

static int ct_grow(pj_ctable *t)
{
    size_t w = 1 + t->vwords, ncap = t->cap ? t->cap * 2 : CT_CAP_MIN;
    uint64_t *ns = ct_map(ncap * w * sizeof *ns);
    if (ns == NULL)
        return TL_ENOMEM;
    pj_ctable n = *t;
    n.slots = ns;
    n.cap = ncap;
    for (size_t i = 0; i < t->cap; i++) {
        const uint64_t *sl = t->slots + i * w;
        if (sl[0] != 0)
            memcpy(ct_find(&n, sl[0] & CT_KEY), sl, w * sizeof *sl);
    }
    if (t->slots != NULL)
        munmap(t->slots, ct_bytes(t));
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

/* Empties t and gives its memory back (slots are made again on the next insert). */
static void ctable_clear(pj_ctable *t)
{
    if (t->slots != NULL)
        munmap(t->slots, ct_bytes(t));
    t->slots = NULL;
    t->cap = t->count = 0;
    t->complete = false;
}

int pj_inst_ctable(pj_inst *in, pj_ctable *t, size_t vsize, size_t max_entries, void *ctx,
                   int (*step)(pj_inst *, void *, void *, bool *, const pj_event *, tl_error *))
{
    if (in->ntables == PJ_TABLES_MAX || vsize > PJ_CTABLE_VALUE_MAX)
        abort(); /* a fold's build error: raise the limit */
    memset(t, 0, sizeof *t);
    t->vwords = (vsize + 7) / 8;
    t->max_entries = max_entries;
    t->complete = in->fresh;
    t->ctx = ctx;
    t->step = step;
    in->tables[in->ntables].t = NULL;
    in->tables[in->ntables++].c = t;
    return 0;
}

void pj_inst_ctables_reserve(pj_inst *in, uint64_t n)
{
    for (size_t i = 0; i < in->ntables; i++) {
        pj_ctable *t = in->tables[i].c;
        if (t == NULL || t->count != 0)
            continue;
        size_t w = 1 + t->vwords, most = CT_BYTES_MAX / (w * sizeof *t->slots);
        size_t cap = n / 3 * 4 + 4 > most ? most : (size_t)(n / 3 * 4 + 4); /* n fit under 3/4 */
        if (cap < CT_CAP_MIN)
            cap = CT_CAP_MIN;
        if (cap <= t->cap)
            continue;
        uint64_t *ns = ct_map(cap * w * sizeof *ns);
        if (ns == NULL)
            continue; /* only a hint: the table grows as it needs */
        if (t->slots != NULL)
            munmap(t->slots, ct_bytes(t));
        t->slots = ns;
        t->cap = cap;
    }
}

/* The slot of key, made (as "no such contract", value zeroed) when absent; NULL on ENOMEM. */
static uint64_t *ct_slot(pj_ctable *t, uint64_t key, bool *made)
{
    if (t->cap == 0 && ct_grow(t) != 0)
        return NULL;
    uint64_t *sl = ct_find(t, key);
    *made = sl[0] == 0;
    if (!*made)
        return sl;
    if ((t->count + 1) * 4 > t->cap * 3) {
        if (2 * ct_bytes(t) > CT_BYTES_MAX)
            ctable_clear(t);
        if (ct_grow(t) != 0)
            return NULL;
        sl = ct_find(t, key);
    }
    sl[0] = key;
    memset(sl + 1, 0, t->vwords * sizeof *sl);
    t->count++;
    return sl;
}

typedef struct contract_refold {
    pj_ctable *t;
    pj_inst *in;
    uint64_t key;
    void *val;
    bool found;
} contract_refold;

static int refold_event(void *ctx, const pj_event *ev, tl_error *err)
{
    contract_refold *r = ctx;
    if (ev->type == TL_EV_CONTRACT_REGISTERED) {
        const uint8_t *id;
        size_t idn;
        uint64_t key;
        if (!pj_str(ev, "reg_no", &id, &idn) || !pj_reg_no_key(id, idn, &key) || key != r->key)
            return 0; /* as the fold: a registration makes the contract its reg_no names */
    }
    return r->t->step(r->in, r->t->ctx, r->val, &r->found, ev, err);
}

int pj_ctable_get(pj_inst *in, pj_ctable *t, uint64_t key, void **val, tl_error *err)
{
    bool made;
    uint64_t *sl = ct_slot(t, key, &made);
    if (sl == NULL)
        return pj_nomem(err);
    *val = NULL;
    if (made && !(t->complete && in->fresh)) {
        /* Folded into a copy: a step may look up other contracts of t, which moves slots. */
        uint64_t v[PJ_CTABLE_VALUE_MAX / 8] = {0};
        contract_refold r = {t, in, key, v, false};
        char stream[TL_REG_NO_LEN + 16];
        size_t n = contract_stream(stream, key);
        int rc = pj_inst_stream(in, stream, n, refold_event, &r, err);
        sl = ct_find(t, key);
        if (rc != 0)
            return rc;
        memcpy(sl + 1, v, t->vwords * sizeof *sl);
        if (r.found)
            sl[0] |= CT_PRESENT;
    }
    if (sl[0] & CT_PRESENT)
        *val = sl + 1;
    return 0;
}

int pj_ctable_create(pj_ctable *t, uint64_t key, void **val, tl_error *err)
{
    bool made;
    uint64_t *sl = ct_slot(t, key, &made);
    if (sl == NULL)
        return pj_nomem(err);
    memset(sl + 1, 0, t->vwords * sizeof *sl);
    sl[0] |= CT_PRESENT;
    *val = sl + 1;
    return 0;
}

/* After a batch: a live generation's cache goes when it holds too many contracts. */
static void ctable_flush(pj_ctable *t)
{
    if (t->count > t->max_entries)
        ctable_clear(t);
}

typedef struct stream_walk {
    uint64_t before;
    pj_event ev;
    int (*fn)(void *ctx, const pj_event *ev, tl_error *err);
    void *ctx;
    tl_error *err;
    int rc;
} stream_walk;

#define STREAM_WALK_STOP 1

static int stream_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    stream_walk *w = ctx;
    if (seq >= w->before)
        return STREAM_WALK_STOP;
    int rc = pj_decode(&w->ev, rec, len, w->err);
    if (rc == 0) {
        w->ev.seq = seq;
        rc = w->ev.type >= 0 ? w->fn(w->ctx, &w->ev, w->err) : 0;
    }
    if (rc != 0) {
        w->rc = rc;
        return STREAM_WALK_STOP;
    }
    return 0;
}

int pj_inst_stream(pj_inst *in, const char *stream, size_t len,
                   int (*fn)(void *ctx, const pj_event *ev, tl_error *err), void *ctx, tl_error *err)
{
    stream_walk *w = calloc(1, sizeof *w); /* a pj_event is a kilobyte: not on a fold's stack */
    if (w == NULL)
        return pj_nomem(err);
    w->before = in->next;
    w->fn = fn;
    w->ctx = ctx;
    w->err = err;
    w->rc = 0;
    int rc = tl_ledger_stream_scan(in->ledger, stream, len, 0, 0, stream_record, w, err);
    if (rc == STREAM_WALK_STOP)
        rc = w->rc;
    free(w);
    return rc;
}

void pj_inst_tables_free(pj_inst *in)
{
    for (size_t i = 0; i < in->ntables; i++) {
        if (in->tables[i].t != NULL)
            pj_map_free(&in->tables[i].t->map);
        else
            ctable_clear(in->tables[i].c);
    }
    in->ntables = 0;
}

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

static int table_flush(pj_inst *in, pj_table *t, tl_error *err)
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

int pj_inst_flush(pj_inst *in, tl_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < in->ntables && rc == 0; i++)
        if (in->tables[i].t != NULL)
            rc = table_flush(in, in->tables[i].t, err);
        else
            ctable_flush(in->tables[i].c);
    if (rc == 0 && in->def->flush != NULL)
        rc = in->def->flush(in, err);
    return rc;
}

void pj_inst_tables_reset(pj_inst *in)
{
    for (size_t i = 0; i < in->ntables; i++) {
        if (in->tables[i].t != NULL) {
            pj_map_clear(&in->tables[i].t->map);
            in->tables[i].t->complete = false;
        } else {
            ctable_clear(in->tables[i].c);
        }
    }
    if (in->def->reset != NULL)
        in->def->reset(in);
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
    pthread_rwlock_rdlock(&rd->store->read_lock);
    rd->locked = true;
    if (!rd->store->follow) {
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
        pthread_rwlock_unlock(&rd->store->read_lock);
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
