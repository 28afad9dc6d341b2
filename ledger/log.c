/*
 * The log store and its sequencer.
 *
 * STORAGE. A ledger directory holds:
 *   db/              RocksDB, the log and everything derived from it at append time
 *   checkpoint.key   the ledger's own Ed25519 seed for signing checkpoints (hex, 0600)
 *   ledger.vkey      the checkpoint verifier key line (FORMAT.md section 7)
 *   views/           projection state (owned by projections/, a separate RocksDB)
 *
 * Column families of db/ (all keys big-endian so that byte order is numeric order):
 *   default      meta: "format" -> "techledger/1", "origin" -> origin, "admin" -> public key,
 *                "merkle_level_min" -> one byte, the lowest level of the merkle family (below)
 *   records      seq (8) -> record bytes, exactly as hashed and exported (FORMAT.md section 5)
 *                (stored uncompressed: see configure)
 *   streams      stream || 0x00 || version (8) -> seq (8) for every version of a stream but
 *                its latest, whose seq is kept with the stream head (below); streams never
 *                contain 0x00
 *   merkle       level (1) || index (8) -> hash (32): every complete aligned subtree of
 *                2^L or more leaves (RFC 6962; see merkle.c), L being the ledger's
 *                "merkle_level_min". Smaller subtrees are recomputed from their records when a
 *                proof needs them (a leaf's neighbours in its aligned block of 2^L, and the
 *                block at the tree's right edge). Ledgers are created with L = 2
 *                (MERKLE_STORED_LEVEL_MIN): 1/4 + 1/8 more nodes per record than L = 4 (15-20
 *                bytes of disk and about half a microsecond of the writer's time), and in
 *                exchange an inclusion proof reads and hashes at most 3 records instead of 15.
 *                (L = 1 was measured too: 25 more bytes of disk per record, 1.22x the raw
 *                record bytes instead of 1.18x, and no faster proofs once merkle_upper keeps
 *                the levels above 2-3 in memory: a record read replaces a node read.)
 *                Ledgers written before the key existed have none and L = 4; they keep it,
 *                since both sides of the tree follow the ledger's own L. Readers keep the
 *                upper levels in memory for proofs (see merkle_upper); a root or proof reads
 *                the rest of its nodes with one multi-get per column family.
 *   state        the sequencer's state (tl_state.h): idempotency index, stream heads, key
 *                registry and whatever the domain rules keep. A stream head is stored as
 *                version (8) || seq (8) || entity state: the seq of that latest version, and
 *                the state the rules keep with the stream's entity (a contract's, rules.c;
 *                empty for most). Most streams have one event (a registration), and keeping
 *                its seq here instead of in `streams`, and its entity's state here instead
 *                of under a key of its own, saves two randomly placed keys per event, the
 *                sequencer's dearest kind of write (a skip-list insert into a large memtable,
 *                later flushed and compacted). When a stream gets its next version the
 *                previous seq moves to `streams`. The rules see version || entity state
 *                (overlay_get strips the seq). A head of 8 bytes (ledgers written before
 *                the seq moved here) has every version, the latest included, in `streams`;
 *                a head of 8 or 16 bytes holds no entity state (ledgers written before it
 *                moved here keep a contract's under its 'C' key, which the rules still read).
 *                Every form reads correctly.
 *   checkpoints  tree size (8) -> signed checkpoint note, every one ever issued
 *
 * DURABILITY. One writer thread owns appends. It takes up to TL_COMMIT_EVENTS_MAX queued
 * events, judges each in order against the state (tl_admit) through an in-memory overlay,
 * and puts every accepted event's record, stream index entry, Merkle nodes and state changes
 * into ONE WriteBatch written with sync=true. Only after that write returns are submitters
 * told: nothing acknowledged can be lost, and since the batch is atomic no record exists
 * without its index, nodes and state. If the write fails (disk full, I/O error) the overlay
 * and the in-memory Merkle frontier are discarded, every event of the batch is answered with
 * the error, and the next batch starts from the last durable state. Concurrent submitters
 * share one fsync per batch instead of queueing behind each other's.
 *
 * LINGER. A group commit costs about 190 us of the writer's CPU whatever its size (the synced
 * write's kernel work, the batched lookups, the wake-ups), so small groups are dear. When a
 * producer has announced events that are still being verified (tl_ledger_expect: a large batch
 * on the API's worker pool), the writer waits up to TL_COMMIT_LINGER_US for the group to reach
 * TL_COMMIT_FILL_EVENTS instead of writing each verified chunk on its own. It was measured
 * with `techledger bench --events 1000000 --only ingest`: groups of ~108 events became ~325, and
 * the server's CPU per bulk event fell from 57.4-59.2 to 56.9-57.3 us. With nothing announced
 * (single submissions) the writer never waits.
 *
 * The size of the log is not stored separately: it is one past the last key of `records`.
 *
 * OPENING. RocksDB forgives a MANIFEST that ends in a torn record (a crash while it was being
 * written) by ignoring it and whatever follows; a damaged length byte earlier in the file
 * looks the same to it and silently loses table files. check_manifest refuses that case
 * before RocksDB opens the database (storage.corrupt).
 *
 * CREATION. tl_ledger_create builds the database as db.creating/ (metadata, record 0, the first
 * checkpoint), closes it and only then renames it to db/ and syncs the directory. So a ledger
 * directory holds a whole ledger or none: a creation killed half way leaves no db/, and the
 * next create discards its leftovers (checkpoint.key, ledger.vkey, db.creating/) and starts over.
 */
#include "tl_ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tl_checkpoint.h"
#include "tl_note.h"
#include "tl_rules.h"
#include "tl_state.h"

#define FORMAT_TAG "techledger/1"
#define DB_CREATING_NAME "db.creating" /* db/ while tl_ledger_create builds it */
#define MERKLE_STORED_LEVEL_MIN 2u /* L of a new ledger (see the merkle family above) */
#define MERKLE_STORED_LEVEL_MIN_LEGACY 4u /* L of a ledger without "merkle_level_min" */
#define MERKLE_RECOMPUTED_LEVELS_MAX 4u /* the largest L this code reads and writes */
#define MERKLE_CACHED_BYTES_DEFAULT (16u << 20) /* merkle_upper's budget */
#define DEFAULT_CACHE_BYTES (64u << 20)
#define BACKGROUND_WRITE_BYTES_PER_S (64ll << 20) /* RocksDB's flushes and compactions (configure) */
#define CHECKPOINT_FAILURE_LOG_MS 60000u /* failed checkpoints are logged at most this often */
#define HEAD_BYTES 16u /* a stored stream head: version (8) || seq (8), then entity state */

enum { CF_DEFAULT, CF_RECORDS, CF_STREAMS, CF_MERKLE, CF_STATE, CF_CHECKPOINTS, CF_COUNT };
static const char *const cf_names[CF_COUNT] = {"default", "records", "streams",
                                               "merkle",  "state",   "checkpoints"};

typedef struct item {
    tl_event ev;
    tl_append_cb cb;
    void *ctx;
    struct item *next;
    tl_append_result res;
    size_t record_at, record_len; /* the encoded record in l->records, while its batch is committed */
} item;

/* The sequencer's view of the state: this batch's changes (map) over a cache of committed
 * values (cache) over the committed column family. The writer thread is the only writer of
 * the state, so the cache never goes stale: it is filled on reads and refreshed from the
 * overlay after each durable commit. Event ids ('i') are not cached: each is read once. */
#define STATE_CACHE_ENTRIES_MAX (1u << 18) /* ~20 MiB: the registry and live entities */
typedef struct overlay_state {
    tl_state base;
    struct tl_ledger *l;
    tl_map *map;
    tl_map *cache;
    tl_map *prefetched;
} overlay_state;

/* Merkle nodes of the levels >= level_min, copied from the merkle column family when a proof
 * first needs them: nodes never change, and these are the top of every proof's path, so a
 * proof asks RocksDB only for its few lower nodes (each key RocksDB looks up costs a proof
 * 2-3 us of CPU). The levels >= c of a log of n leaves take about 2n / 2^c hashes, so
 * level_min is the lowest stored level whose levels fit in bytes_max: with the default 16 MiB,
 * 3 at 1.1M records (8.8 MB), 6 at 10M (10 MB). It rises as the log grows, and the levels
 * below it are dropped. Only proofs fill it, so a writer that serves none keeps nothing here.
 * hash[level][0 .. count[level]) are held; guarded by mu. */
typedef struct merkle_upper {
    pthread_mutex_t mu;
    size_t bytes_max;
    unsigned level_min;
    uint64_t count[TL_MERKLE_LEVELS];
    uint64_t cap[TL_MERKLE_LEVELS];
    uint8_t (*hash[TL_MERKLE_LEVELS])[TL_HASH_BYTES];
} merkle_upper;

struct tl_ledger {
    char *dir;
    char origin[TL_ORIGIN_BYTES_MAX + 1];
    uint8_t admin[TL_PUBKEY_BYTES];
    tl_open_mode mode;
    tl_clock_fn clock;
    void *clock_ctx;
    uint32_t cp_every_records;
    uint32_t cp_every_ms;
    uint32_t commit_linger_us; /* see tl_ledger_expect */
    unsigned stored_level_min; /* the ledger's L: its merkle family holds levels >= L */

    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_options_t *state_opts; /* the state CF: point lookups, many of them misses */
    rocksdb_options_t *records_opts; /* the records CF: not compressed, no filter */
    rocksdb_options_t *merkle_opts;  /* the merkle CF: no filter on the last level */
    rocksdb_block_based_table_options_t *table;
    rocksdb_block_based_table_options_t *records_table;
    rocksdb_cache_t *cache;
    rocksdb_column_family_handle_t *cf[CF_COUNT];
    rocksdb_writeoptions_t *wsync;
    rocksdb_readoptions_t *ropts;
    char *secondary_dir;
    const char *db_name; /* "db", or DB_CREATING_NAME while tl_ledger_create builds it */

    _Atomic uint64_t size;

    /* Writer thread and its queue, guarded by mu. */
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t mu;
    pthread_cond_t work; /* signalled when items arrive or on stop */
    item *head, *tail;
    size_t queue_len;
    long expected;  /* events producers announced (tl_ledger_expect) */
    bool lingering; /* the writer waits for a group commit to fill */
    bool stopping;

    /* Owned by the writer thread. */
    tl_merkle_frontier frontier;
    uint64_t last_recorded_ms;
    overlay_state overlay;
    tl_map *stream_index; /* this batch's streams-CF entries, written sorted */
    tl_map *heads;        /* the seq of each stream head this batch wrote: 's' || stream -> seq */
    rocksdb_writebatch_t *batch;
    struct kv *sort;      /* put_sorted's entries, kept from batch to batch */
    size_t sort_cap;
    tl_buf stored_heads;  /* put_sorted's stream heads in their stored form */
    tl_buf records;       /* the batch's encoded records, one after another */

    /* Checkpoints: the key, and the latest issued (guarded by cp_mu). */
    tl_keypair cp_key;
    pthread_mutex_t cp_mu;
    uint64_t cp_size;
    uint64_t cp_issued_mono_ms;
    uint64_t cp_failures;          /* attempts failed in a row (writer thread) */
    uint64_t cp_failure_logged_ms; /* when the last of them was logged */

    pthread_mutex_t listen_mu;
    struct {
        tl_commit_fn fn;
        void *ctx;
    } listeners[TL_LISTENERS_MAX];

    pthread_mutex_t stats_mu;
    tl_ledger_stats stats;

    merkle_upper upper; /* read side: roots and proofs */
};

/* ---------- small helpers ---------- */

static uint64_t real_clock_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Maps a RocksDB error string to a code and frees it. */
static int db_fail(tl_error *err, char **dberr, const char *what)
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

static void seq_key(uint8_t out[8], uint64_t seq) { tl_be64_put(out, seq); }

/* ---------- overlay state ---------- */

/* Values fetched for the whole batch ahead of judging it: tag byte 1 and the value, or tag
 * byte 0 for a key known to be absent. */
static const uint8_t *prefetched_get(const overlay_state *o, const uint8_t *key, size_t klen, size_t *vlen)
{
    return tl_map_get(o->prefetched, key, klen, vlen);
}

/* The cache holds a stored stream head (version || seq || entity state) as varint(version) ||
 * seq || entity state (9 bytes for most heads without entity state): a head then fits inside
 * its map entry (state.c) instead of costing an allocation. Never 8 bytes, so an older head
 * (the version alone) stays distinct. */
#define HEAD_COMPACT_BYTES_MAX (HEAD_BYTES + 2 + TL_STATE_VALUE_BYTES_MAX)

static size_t head_compact(uint8_t *out, const uint8_t version[8], const uint8_t seq[8], const uint8_t *entity,
                           size_t n)
{
    size_t at = 0;
    for (uint64_t v = tl_be64_get(version); ; v >>= 7) {
        out[at++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
        if (v < 0x80)
            break;
    }
    memcpy(out + at, seq, 8);
    memcpy(out + at + 8, entity, n);
    return at + 8 + n;
}

/* The stored form of a cached head into out. */
static int head_expand(tl_buf *out, const uint8_t *c, size_t n)
{
    uint64_t v = 0;
    size_t i = 0;
    for (unsigned shift = 0; i < n && shift < 64; shift += 7) {
        v |= (uint64_t)(c[i] & 0x7f) << shift;
        if ((c[i++] & 0x80) == 0)
            break;
    }
    if (i + 8 > n)
        return TL_EIO; /* cannot happen: the cache holds what head_compact encoded */
    uint8_t v8[8];
    tl_be64_put(v8, v);
    tl_buf_reset(out);
    int rc = tl_buf_append(out, v8, 8);
    return rc == 0 ? tl_buf_append(out, c + i, n - i) : rc;
}

static void cache_put(overlay_state *o, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    if (tl_map_count(o->cache) >= STATE_CACHE_ENTRIES_MAX)
        tl_map_clear(o->cache); /* crude but bounded: it refills with what is hot */
    if (tl_map_put(o->cache, key, klen, val, vlen) != 0)
        tl_map_clear(o->cache); /* out of memory: the cache is only an accelerator */
}

/* Caches a stored head, given as its parts. */
static void cache_put_head(overlay_state *o, const uint8_t *key, size_t klen, const uint8_t version[8],
                           const uint8_t seq[8], const uint8_t *entity, size_t n)
{
    uint8_t compact[HEAD_COMPACT_BYTES_MAX];
    if (n > TL_STATE_VALUE_BYTES_MAX)
        return;
    cache_put(o, key, klen, compact, head_compact(compact, version, seq, entity, n));
}

/* A committed value as stored: from the batch's prefetch, the cache or the column family.
 * 0 with the value in out, TL_ENOTFOUND or TL_EIO. */
static int stored_get(overlay_state *o, const uint8_t *key, size_t klen, tl_buf *out)
{
    size_t vlen;
    const uint8_t *v = NULL;
    if (key[0] == 'i' || key[0] == 's') /* the only keys prefetch fetches */
        v = prefetched_get(o, key, klen, &vlen);
    if (v != NULL) {
        if (v[0] == 0)
            return TL_ENOTFOUND;
        tl_buf_reset(out);
        return tl_buf_append(out, v + 1, vlen - 1);
    }
    if (key[0] != 'i') /* ids are never cached */
        v = tl_map_get(o->cache, key, klen, &vlen);
    if (v != NULL && key[0] == 's' && vlen > 8)
        return head_expand(out, v, vlen);
    if (v != NULL) {
        tl_buf_reset(out);
        return tl_buf_append(out, v, vlen);
    }
    char *dberr = NULL;
    size_t n = 0;
    char *val = rocksdb_get_cf(o->l->db, o->l->ropts, o->l->cf[CF_STATE], (const char *)key, klen, &n, &dberr);
    if (dberr != NULL) {
        rocksdb_free(dberr);
        return TL_EIO;
    }
    if (val == NULL)
        return TL_ENOTFOUND;
    tl_buf_reset(out);
    int rc = tl_buf_append(out, val, n);
    const uint8_t *u = (const uint8_t *)val;
    if (rc == 0 && key[0] == 's' && n >= HEAD_BYTES)
        cache_put_head(o, key, klen, u, u + 8, u + HEAD_BYTES, n - HEAD_BYTES);
    else if (rc == 0 && key[0] != 'i' && (key[0] != 's' || n == 8)) /* a damaged head is not cached */
        cache_put(o, key, klen, u, n);
    rocksdb_free(val);
    return rc;
}

/* The rules' view: this batch's writes over the committed state, stream heads without the seq
 * stored with them (see the layout above). */
static int overlay_get(tl_state *base, const uint8_t *key, size_t klen, tl_buf *out)
{
    overlay_state *o = (overlay_state *)base;
    size_t vlen;
    const uint8_t *v = tl_map_get(o->map, key, klen, &vlen);
    if (v != NULL) {
        tl_buf_reset(out);
        return tl_buf_append(out, v, vlen);
    }
    int rc = stored_get(o, key, klen, out);
    if (rc == 0 && key[0] == 's' && out->len >= HEAD_BYTES) {
        memmove(out->data + 8, out->data + HEAD_BYTES, out->len - HEAD_BYTES);
        out->len -= 8;
    }
    return rc;
}

static int overlay_put(tl_state *base, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    overlay_state *o = (overlay_state *)base;
    if (klen > TL_STATE_KEY_BYTES_MAX || vlen > TL_STATE_VALUE_BYTES_MAX)
        return TL_ETOOBIG;
    return tl_map_put(o->map, key, klen, val, vlen);
}

/* ---------- opening ---------- */

static int make_path(char **out, const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    *out = malloc(n);
    if (*out == NULL)
        return TL_ENOMEM;
    snprintf(*out, n, "%s/%s", dir, name);
    return 0;
}

/* The block-based table format of every column family: blocks, index and filter share one
 * cache. Point reads of existing keys (records, Merkle nodes, stream heads) find their entry
 * in a data block through its hash index instead of a binary search and a scan of the
 * restart interval. */
static rocksdb_block_based_table_options_t *table_options(rocksdb_cache_t *cache, bool filter)
{
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(t, cache);
    if (filter)
        rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
    rocksdb_block_based_options_set_data_block_index_type(
        t, rocksdb_block_based_table_data_block_index_type_binary_search_and_hash);
    return t;
}

static void configure(tl_ledger *l, const tl_ledger_options *opt)
{
    l->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(l->opts, 0);
    rocksdb_options_set_compression(l->opts, rocksdb_lz4_compression);
    rocksdb_options_set_write_buffer_size(l->opts, 16u << 20);
    rocksdb_options_set_max_write_buffer_number(l->opts, 3);
    /* A WAL file is kept until every column family that wrote into it has flushed. The small
     * families (checkpoints, meta) rarely fill a memtable, so without a cap the WAL grows with
     * the log (it was 1.3x the record bytes at 1M records). The cap forces those flushes.
     * The total memtable budget bounds RSS whatever the number of column families. */
    rocksdb_options_set_max_total_wal_size(l->opts, 64u << 20);
    rocksdb_options_set_db_write_buffer_size(l->opts, 64u << 20);
    rocksdb_options_set_max_background_jobs(l->opts, 2);
    rocksdb_options_set_keep_log_file_num(l->opts, 4);
    /* Only the header (the options, at open) goes to RocksDB's info LOG. Debian's librocksdb 7.8
     * is built with assertions: once a write to the LOG file has failed for lack of space, the
     * next line written to it trips assert(sync_without_flush_called_) in WritableFileWriter and
     * aborts the process, and a full disk makes RocksDB log several error lines. With nothing
     * logged after open, a full disk is an error (storage.full), never a crash; RocksDB's own
     * recovery then resumes writes: its SstFileManager checks every 5 s for at least one write
     * buffer (16 MiB) of free space (tests/test_diskfull.c). */
    rocksdb_options_set_info_log_level(l->opts, 5 /* HEADER_LEVEL */);
    /* Flushes and compactions write at most BACKGROUND_WRITE_BYTES_PER_S. Unpaced, a compaction
     * of the state family (random keys: each one rewrites the whole of level 1, ~50 MB at 1M
     * records) took one of the two cores for most of a second, and submissions on the loops
     * sharing it waited: with 64 clients sending one event per request, p99 was 8.4-9.4 ms (8
     * runs), and 5.8-8.7 ms (7 runs, bench/README.md) with the pace. Bulk ingest (~40 MB/s of
     * flushes and compactions at 1M records) was not slowed (70-72% of the verify ceiling
     * either way); at 10M records it leaves a backlog that clears in seconds afterwards. */
    rocksdb_ratelimiter_t *pace = rocksdb_ratelimiter_create(BACKGROUND_WRITE_BYTES_PER_S, 20000 /* us refill */,
                                                             10 /* fairness */);
    rocksdb_options_set_ratelimiter(l->opts, pace);
    rocksdb_ratelimiter_destroy(pace); /* the options keep their own reference */
    /* A damaged WAL record must stop the open (storage.corrupt). RocksDB's default recovery
     * (point in time) stops replaying at the first bad record and opens a shorter log without
     * a word, silently dropping acknowledged events after it. Tolerating only an incomplete
     * last record still lets a ledger killed in the middle of a WAL write open again.
     * It rules out recycling WAL files (recycle_log_file_num: overwriting a sized file syncs
     * faster than appending): a recycled file's old tail looks like a damaged record, so
     * RocksDB silently turns recycling off in this mode (SanitizeOptions). */
    rocksdb_options_set_wal_recovery_mode(l->opts, 0 /* kTolerateCorruptedTailRecords */);
    /* Few shards: with the default 64 shards of 1 MiB, a bloom filter block larger than a
     * shard is never kept, and the sequencer's lookups re-read filters from disk. */
    rocksdb_lru_cache_options_t *co = rocksdb_lru_cache_options_create();
    rocksdb_lru_cache_options_set_capacity(co, opt && opt->block_cache_bytes ? opt->block_cache_bytes
                                                                               : DEFAULT_CACHE_BYTES);
    rocksdb_lru_cache_options_set_num_shard_bits(co, 2);
    l->cache = rocksdb_cache_create_lru_opts(co);
    rocksdb_lru_cache_options_destroy(co);
    l->table = table_options(l->cache, true);
    rocksdb_options_set_block_based_table_factory(l->opts, l->table);
    if (opt && opt->mode == TL_OPEN_SECONDARY)
        rocksdb_options_set_max_open_files(l->opts, -1);
    /* Most sequencer lookups are for ids and streams that do not exist yet: a memtable bloom
     * filter answers those without walking the skip list. */
    l->state_opts = rocksdb_options_create_copy(l->opts);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(l->state_opts, 0.1);
    rocksdb_options_set_memtable_whole_key_filtering(l->state_opts, 1);
    /* Records are signed msgpack; LZ4 halves them (0.52x at 1M records), but every scan and
     * every point read then decompresses whole blocks: a quarter of the instructions a rebuild
     * spends reading the log. Stored plain, the ledger's files take 1.2x the raw record bytes
     * (0.7x with LZ4; the target is at most 1.5x). */
    l->records_opts = rocksdb_options_create_copy(l->opts);
    rocksdb_options_set_compression(l->records_opts, rocksdb_no_compression);
    /* No filter for records: every read is of a seq below the size, so its key exists, and
     * since seqs are appended in order the table files hold disjoint ranges, so RocksDB finds
     * the one file by its key range. A filter could only say yes: it cost a probe per read and
     * 1.25 bytes of block cache per record (12 MiB at 10M records). */
    l->records_table = table_options(l->cache, false);
    rocksdb_options_set_block_based_table_factory(l->records_opts, l->records_table);
    /* Merkle nodes are read only where they exist, but every table file of the family spans
     * all levels (a flush holds nodes of each level), so the filters of the L0 files spare a
     * read per file. The last level's filter could only say yes: it is not built. */
    l->merkle_opts = rocksdb_options_create_copy(l->opts);
    rocksdb_options_set_optimize_filters_for_hits(l->merkle_opts, 1);
    l->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(l->wsync, 1);
    l->ropts = rocksdb_readoptions_create();
}

/* ---------- the MANIFEST's own check ---------- */

/* RocksDB reads its MANIFEST (the list of live table files, a log of 32 KiB blocks of records
 * [masked crc32c (4) | length (2) | type (1) | payload]) the way it reads a WAL that may end
 * in a torn write: a record whose length runs past its block, or a zero type, ends the log,
 * and everything after it is ignored without a word. A crash can only tear the last record,
 * but a single damaged length byte in an earlier one drops every later edit: the database
 * opens without the table files those edits added, whose WAL is already deleted, and serves
 * a state with events missing (tests/test_corruption.c found one). So before RocksDB opens a
 * MANIFEST, this walks it the same way and, where the walk ends early, looks for an intact
 * record after that point: finding one means damage, not a torn write. */
#define LOG_BLOCK 32768u
#define LOG_HEADER 7u

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc32c_table[i] = c;
    }
}

/* RocksDB's record checksum: crc32c of the type byte and the payload, masked. */
static uint32_t record_crc(uint8_t type, const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    c = crc32c_table[(c ^ type) & 0xff] ^ (c >> 8);
    for (size_t i = 0; i < n; i++)
        c = crc32c_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    c = ~c;
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* Is there a whole record (one of the four fragment types, inside its block, checksum right)
 * at offset at of the n bytes of m? */
static bool intact_record_at(const uint8_t *m, size_t n, size_t at)
{
    size_t block_end = (at / LOG_BLOCK + 1) * LOG_BLOCK;
    if (block_end > n)
        block_end = n;
    if (at + LOG_HEADER > block_end)
        return false;
    size_t len = (size_t)m[at + 4] | (size_t)m[at + 5] << 8;
    uint8_t type = m[at + 6];
    if (type < 1 || type > 4 || at + LOG_HEADER + len > block_end)
        return false;
    uint32_t stored = (uint32_t)m[at] | (uint32_t)m[at + 1] << 8 | (uint32_t)m[at + 2] << 16 | (uint32_t)m[at + 3] << 24;
    return record_crc(type, m + at + LOG_HEADER, len) == stored;
}

static int check_manifest(const char *dbpath, tl_error *err)
{
    char path[4096], name[256];
    snprintf(path, sizeof path, "%s/CURRENT", dbpath);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0; /* RocksDB reports a missing CURRENT itself */
    size_t got = fread(name, 1, sizeof name - 1, f);
    fclose(f);
    name[got] = '\0';
    name[strcspn(name, "\n")] = '\0';
    if (strncmp(name, "MANIFEST-", 9) != 0 || strchr(name, '/') != NULL)
        return 0; /* so is a damaged CURRENT */
    snprintf(path, sizeof path, "%s/%s", dbpath, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    uint8_t *m = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (n == cap) {
            uint8_t *p = realloc(m, cap = cap ? cap * 2 : 1u << 16);
            if (p == NULL) {
                rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory reading %s", name);
                break;
            }
            m = p;
        }
        size_t r = fread(m + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    bool read_error = ferror(f) != 0;
    fclose(f);
    if (rc == 0 && read_error)
        rc = tl_fail(err, TL_EIO, "storage.io", "", "cannot read %s", name);
    pthread_once(&crc32c_once, crc32c_init);
    size_t at = 0;
    while (rc == 0 && at < n) {
        size_t block_end = (at / LOG_BLOCK + 1) * LOG_BLOCK;
        if (block_end - at < LOG_HEADER) { /* a block's zero trailer */
            at = block_end;
            continue;
        }
        if (at + LOG_HEADER > n)
            break; /* a torn header: nothing can follow it */
        size_t len = (size_t)m[at + 4] | (size_t)m[at + 5] << 8;
        uint8_t type = m[at + 6];
        if (type == 0 && len == 0) { /* preallocated space: RocksDB skips the rest of the block */
            at = block_end;
            continue;
        }
        if (type != 0 && at + LOG_HEADER + len <= block_end && at + LOG_HEADER + len <= n) {
            at += LOG_HEADER + len; /* RocksDB checks this record's checksum itself */
            continue;
        }
        /* RocksDB stops here as at a torn tail: nothing intact may follow. */
        for (size_t q = at + 1; q + LOG_HEADER <= n; q++)
            if (intact_record_at(m, n, q)) {
                rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "",
                             "%s is damaged at byte %zu: RocksDB would drop the records after it", name, at);
                break;
            }
        break;
    }
    free(m);
    return rc;
}

static int open_db(tl_ledger *l, bool create, tl_error *err)
{
    char *path = NULL;
    if (make_path(&path, l->dir, l->db_name) != 0)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    const char *names[CF_COUNT];
    const rocksdb_options_t *cfopts[CF_COUNT];
    for (int i = 0; i < CF_COUNT; i++) {
        names[i] = cf_names[i];
        cfopts[i] = i == CF_STATE     ? l->state_opts
                    : i == CF_RECORDS ? l->records_opts
                    : i == CF_MERKLE  ? l->merkle_opts
                                      : l->opts;
    }
    char *dberr = NULL;
    int rc = 0;
    if (create) {
        rocksdb_options_set_create_if_missing(l->opts, 1);
        rocksdb_options_set_create_missing_column_families(l->opts, 1);
        rocksdb_options_set_error_if_exists(l->opts, 1);
    } else {
        if ((rc = check_manifest(path, err)) != 0) {
            free(path);
            return rc;
        }
        /* Every column family that exists must be opened; a ledger has exactly ours. */
        size_t n = 0;
        char **existing = rocksdb_list_column_families(l->opts, path, &n, &dberr);
        if (dberr != NULL) {
            /* A missing file is a missing ledger only when there is no db/CURRENT; when CURRENT
             * is there, it names a MANIFEST that is gone or damaged. */
            char current[4096];
            struct stat cst;
            snprintf(current, sizeof current, "%s/CURRENT", path);
            bool missing = strstr(dberr, "No such file") || strstr(dberr, "does not exist");
            rc = missing && stat(current, &cst) != 0
                     ? tl_fail(err, TL_ENOTFOUND, "ledger.missing", "", "%s is not a techledger directory (%s)",
                               l->dir, dberr)
                 : missing ? tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "%s/db is damaged: %s", l->dir, dberr)
                           : db_fail(err, &dberr, "cannot read the ledger's column families");
            if (dberr != NULL)
                rocksdb_free(dberr);
            rocksdb_list_column_families_destroy(existing, n); /* allocated even on failure */
            free(path);
            return rc;
        }
        bool ok = n == CF_COUNT;
        for (size_t i = 0; ok && i < n; i++) {
            bool found = false;
            for (int k = 0; k < CF_COUNT; k++)
                found = found || strcmp(existing[i], cf_names[k]) == 0;
            ok = found;
        }
        rocksdb_list_column_families_destroy(existing, n);
        if (!ok) {
            free(path);
            return tl_fail(err, TL_ECORRUPT, "ledger.layout", "", "%s/db has unexpected column families", l->dir);
        }
    }
    switch (l->mode) {
    case TL_OPEN_WRITE:
        l->db = rocksdb_open_column_families(l->opts, path, CF_COUNT, names, cfopts, l->cf, &dberr);
        break;
    case TL_OPEN_READ_ONLY:
        l->db = rocksdb_open_for_read_only_column_families(l->opts, path, CF_COUNT, names, cfopts, l->cf, 0,
                                                            &dberr);
        break;
    case TL_OPEN_SECONDARY: {
        size_t n = strlen(l->dir) + 64;
        l->secondary_dir = malloc(n);
        if (l->secondary_dir == NULL) {
            free(path);
            return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        }
        snprintf(l->secondary_dir, n, "%s/secondary-%ld", l->dir, (long)getpid());
        l->db = rocksdb_open_as_secondary_column_families(l->opts, path, l->secondary_dir, CF_COUNT, names,
                                                          cfopts, l->cf, &dberr);
        break;
    }
    }
    free(path);
    if (dberr != NULL) {
        l->db = NULL;
        /* RocksDB's words for a held LOCK file; a bare "lock" would also match "block
         * checksum mismatch" and report a damaged file as a busy ledger. */
        if (strstr(dberr, "While lock file") != NULL || strstr(dberr, "lock hold by current process") != NULL) {
            rc = tl_fail(err, TL_ESTATE, "ledger.locked", "",
                         "%s is in use by another process (a running server?): %s", l->dir, dberr);
            rocksdb_free(dberr);
            return rc;
        }
        return db_fail(err, &dberr, "cannot open the ledger database");
    }
    return 0;
}

static int meta_get(tl_ledger *l, const char *key, char **val, size_t *len, tl_error *err)
{
    char *dberr = NULL;
    *val = rocksdb_get_cf(l->db, l->ropts, l->cf[CF_DEFAULT], key, strlen(key), len, &dberr);
    if (dberr != NULL)
        return db_fail(err, &dberr, "cannot read ledger metadata");
    if (*val == NULL)
        return tl_fail(err, TL_ECORRUPT, "ledger.meta", "", "ledger metadata '%s' is missing", key);
    return 0;
}

static int load_meta(tl_ledger *l, tl_error *err)
{
    char *v;
    size_t n;
    int rc = meta_get(l, "format", &v, &n, err);
    if (rc != 0)
        return rc;
    bool ok = n == strlen(FORMAT_TAG) && memcmp(v, FORMAT_TAG, n) == 0;
    rocksdb_free(v);
    if (!ok)
        return tl_fail(err, TL_ECORRUPT, "ledger.format", "", "unsupported ledger format");
    if ((rc = meta_get(l, "origin", &v, &n, err)) != 0)
        return rc;
    if (n == 0 || n > TL_ORIGIN_BYTES_MAX) {
        rocksdb_free(v);
        return tl_fail(err, TL_ECORRUPT, "ledger.meta", "", "bad origin");
    }
    memcpy(l->origin, v, n);
    l->origin[n] = '\0';
    rocksdb_free(v);
    if ((rc = meta_get(l, "admin", &v, &n, err)) != 0)
        return rc;
    if (n != TL_PUBKEY_BYTES) {
        rocksdb_free(v);
        return tl_fail(err, TL_ECORRUPT, "ledger.meta", "", "bad admin key");
    }
    memcpy(l->admin, v, n);
    rocksdb_free(v);

    char *dberr = NULL;
    v = rocksdb_get_cf(l->db, l->ropts, l->cf[CF_DEFAULT], "merkle_level_min", 16, &n, &dberr);
    if (dberr != NULL)
        return db_fail(err, &dberr, "cannot read ledger metadata");
    l->stored_level_min = MERKLE_STORED_LEVEL_MIN_LEGACY;
    if (v != NULL) {
        ok = n == 1 && (uint8_t)v[0] <= MERKLE_RECOMPUTED_LEVELS_MAX;
        if (ok)
            l->stored_level_min = (uint8_t)v[0];
        rocksdb_free(v);
        if (!ok)
            return tl_fail(err, TL_ECORRUPT, "ledger.meta", "", "bad merkle_level_min");
    }
    return 0;
}

/* Size = one past the last key in `records`; also reads the last record's clock. */
static int load_size(tl_ledger *l, tl_error *err)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, l->ropts, l->cf[CF_RECORDS]);
    rocksdb_iter_seek_to_last(it);
    uint64_t size = 0;
    int rc = 0;
    if (rocksdb_iter_valid(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        tl_record r;
        if (klen != 8 || tl_record_decode(&r, (const uint8_t *)v, vlen, err) != 0 ||
            r.seq != tl_be64_get((const uint8_t *)k)) {
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "the last stored record is damaged");
        } else {
            size = r.seq + 1;
            l->last_recorded_ms = r.recorded_ms;
        }
    } else {
        char *dberr = NULL;
        rocksdb_iter_get_error(it, &dberr);
        if (dberr != NULL)
            rc = db_fail(err, &dberr, "cannot scan records");
    }
    rocksdb_iter_destroy(it);
    atomic_store(&l->size, size);
    return rc;
}

/* The key of Merkle node (level, index) in the merkle column family. */
static void node_key(uint8_t key[9], unsigned level, uint64_t index)
{
    key[0] = (uint8_t)level;
    tl_be64_put(key + 1, index);
}

static int bad_node(tl_error *err, unsigned level, uint64_t index)
{
    return tl_fail(err, TL_ECORRUPT, "storage.merkle_node", "",
                   "Merkle node (level %u, index %" PRIu64 ") is missing or damaged", level, index);
}

/* Stored node (level, index), read straight from the merkle column family. */
static int stored_node(tl_ledger *l, unsigned level, uint64_t index, uint8_t out[TL_HASH_BYTES], tl_error *err)
{
    uint8_t key[9];
    node_key(key, level, index);
    char *dberr = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(l->db, l->ropts, l->cf[CF_MERKLE], (const char *)key, sizeof key, &n, &dberr);
    if (dberr != NULL)
        return db_fail(err, &dberr, "cannot read a Merkle node");
    if (v == NULL || n != TL_HASH_BYTES) {
        rocksdb_free(v);
        return bad_node(err, level, index);
    }
    memcpy(out, v, TL_HASH_BYTES);
    rocksdb_free(v);
    return 0;
}

/* Brings each cached level up to want[level] nodes: for each level that is behind, one seek and
 * a sequential read of the nodes it lacks. Called with l->upper.mu held. */
static int upper_fill(tl_ledger *l, const uint64_t want[TL_MERKLE_LEVELS], tl_error *err)
{
    merkle_upper *u = &l->upper;
    rocksdb_iterator_t *it = NULL;
    int rc = 0;
    for (unsigned level = u->level_min; rc == 0 && level < TL_MERKLE_LEVELS; level++) {
        if (want[level] <= u->count[level])
            continue;
        if (want[level] > u->cap[level]) {
            uint64_t cap = u->cap[level] ? u->cap[level] : 64;
            while (cap < want[level])
                cap *= 2;
            void *p = realloc(u->hash[level], cap * TL_HASH_BYTES);
            if (p == NULL) {
                rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
                break;
            }
            u->hash[level] = p;
            u->cap[level] = cap;
        }
        if (it == NULL)
            it = rocksdb_create_iterator_cf(l->db, l->ropts, l->cf[CF_MERKLE]);
        uint8_t key[9];
        node_key(key, level, u->count[level]);
        rocksdb_iter_seek(it, (const char *)key, sizeof key);
        for (; u->count[level] < want[level]; rocksdb_iter_next(it)) {
            uint64_t index = u->count[level];
            size_t klen = 0, vlen = 0;
            const char *k = rocksdb_iter_valid(it) ? rocksdb_iter_key(it, &klen) : NULL;
            const char *v = k != NULL ? rocksdb_iter_value(it, &vlen) : NULL;
            node_key(key, level, index);
            if (k == NULL || klen != sizeof key || memcmp(k, key, sizeof key) != 0 || vlen != TL_HASH_BYTES) {
                char *dberr = NULL;
                rocksdb_iter_get_error(it, &dberr);
                rc = dberr != NULL ? db_fail(err, &dberr, "cannot read a Merkle node") : bad_node(err, level, index);
                break;
            }
            memcpy(u->hash[level][index], v, TL_HASH_BYTES);
            u->count[level] = index + 1;
        }
    }
    if (it != NULL)
        rocksdb_iter_destroy(it);
    return rc;
}

/* The lowest level merkle_upper keeps for a log of size leaves (see there). */
static unsigned upper_level_min(const tl_ledger *l, uint64_t size)
{
    unsigned level = l->stored_level_min;
    while (level < TL_MERKLE_LEVELS - 1 && (size >> level) > l->upper.bytes_max / (2 * TL_HASH_BYTES))
        level++;
    return level;
}

/* Which nodes of one read came from memory: those of the levels >= level_min below held. */
typedef struct upper_view {
    unsigned level_min;
    uint64_t held[TL_MERKLE_LEVELS];
} upper_view;

static bool in_view(const upper_view *v, const tl_merkle_node *node)
{
    return node->level >= v->level_min && node->index < v->held[node->level];
}

/* The nodes among nodes[0..n) that memory holds, into out; v says which. A proof (fill) first
 * brings each cached level up to the nodes it needs. A root does not: its few nodes lie on the
 * right edge, and filling a level up to there would keep all of it in a writer that only
 * issues checkpoints. */
static int upper_get(tl_ledger *l, bool fill, const tl_merkle_node *nodes, size_t n, uint8_t (*out)[TL_HASH_BYTES],
                     upper_view *v, tl_error *err)
{
    merkle_upper *u = &l->upper;
    int rc = 0;
    pthread_mutex_lock(&u->mu);
    unsigned level_min = upper_level_min(l, atomic_load(&l->size));
    for (; u->level_min < level_min; u->level_min++) {
        free(u->hash[u->level_min]);
        u->hash[u->level_min] = NULL;
        u->count[u->level_min] = u->cap[u->level_min] = 0;
    }
    if (fill) {
        uint64_t want[TL_MERKLE_LEVELS] = {0};
        for (size_t i = 0; i < n; i++)
            if (nodes[i].level >= u->level_min && nodes[i].index >= want[nodes[i].level])
                want[nodes[i].level] = nodes[i].index + 1;
        rc = upper_fill(l, want, err);
    }
    v->level_min = u->level_min;
    memcpy(v->held, u->count, sizeof v->held);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (in_view(v, &nodes[i]))
            memcpy(out[i], u->hash[nodes[i].level][nodes[i].index], TL_HASH_BYTES);
    pthread_mutex_unlock(&u->mu);
    return rc;
}

/* One batched multi-get of n keys (of up to 9 bytes) in one column family. */
typedef struct multi_get {
    size_t n;
    uint8_t (*keys)[9];
    const char **key_ptrs;
    size_t *key_lens;
    rocksdb_pinnableslice_t **vals;
    char **errs;
} multi_get;

static int multi_get_init(multi_get *g, size_t n, tl_error *err)
{
    /* One allocation: the pointer arrays, then the lengths, then the keys. */
    void **mem = calloc(n, 3 * sizeof(void *) + sizeof(size_t) + 9);
    if (mem == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    g->n = n;
    g->key_ptrs = (const char **)mem;
    g->vals = (rocksdb_pinnableslice_t **)(mem + n);
    g->errs = (char **)(mem + 2 * n);
    g->key_lens = (size_t *)(mem + 3 * n);
    g->keys = (uint8_t(*)[9])(g->key_lens + n);
    for (size_t k = 0; k < n; k++)
        g->key_ptrs[k] = (const char *)g->keys[k];
    return 0;
}

static void multi_get_run(tl_ledger *l, int cf, multi_get *g)
{
    rocksdb_batched_multi_get_cf(l->db, l->ropts, l->cf[cf], g->n, g->key_ptrs, g->key_lens, g->vals, g->errs, false);
}

/* Value k (NULL when absent) or, after a read error, 0 with *rc set from err. */
static const char *multi_get_value(multi_get *g, size_t k, size_t *len, int *rc, const char *what, tl_error *err)
{
    *len = 0;
    if (g->errs[k] != NULL) {
        *rc = db_fail(err, &g->errs[k], what);
        return NULL;
    }
    return g->vals[k] != NULL ? rocksdb_pinnableslice_value(g->vals[k], len) : NULL;
}

static void multi_get_free(multi_get *g)
{
    for (size_t k = 0; k < g->n; k++) {
        if (g->vals[k] != NULL)
            rocksdb_pinnableslice_destroy(g->vals[k]);
        rocksdb_free(g->errs[k]);
    }
    free((void *)g->key_ptrs);
}

/* Is this node read from the merkle family (stored, and not found in memory)? */
static bool is_middle(const tl_ledger *l, const upper_view *mem, const tl_merkle_node *node)
{
    return node->level >= l->stored_level_min && !in_view(mem, node);
}

/* Stored nodes among nodes[0..n) that memory did not hold, into out. */
static int middle_get(tl_ledger *l, const upper_view *mem, const tl_merkle_node *nodes, size_t n,
                      uint8_t (*out)[TL_HASH_BYTES], tl_error *err)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += is_middle(l, mem, &nodes[i]);
    if (m == 0)
        return 0;
    multi_get g = {0};
    int rc = multi_get_init(&g, m, err);
    if (rc != 0)
        return rc;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (is_middle(l, mem, &nodes[i])) {
            node_key(g.keys[k], nodes[i].level, nodes[i].index);
            g.key_lens[k++] = 9;
        }
    multi_get_run(l, CF_MERKLE, &g);
    k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!is_middle(l, mem, &nodes[i]))
            continue;
        size_t len;
        const char *v = multi_get_value(&g, k++, &len, &rc, "cannot read a Merkle node", err);
        if (rc == 0 && (v == NULL || len != TL_HASH_BYTES))
            rc = bad_node(err, nodes[i].level, nodes[i].index);
        if (rc == 0)
            memcpy(out[i], v, TL_HASH_BYTES);
    }
    multi_get_free(&g);
    return rc;
}

/* Nodes below the ledger's L among nodes[0..n), into out: each hashed from the records
 * it covers, all the records read with one multi-get (a proof's small nodes are mostly
 * neighbours, in the same block or two). */
static int small_get(tl_ledger *l, const tl_merkle_node *nodes, size_t n, uint8_t (*out)[TL_HASH_BYTES], tl_error *err)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].level < l->stored_level_min)
            m += (size_t)1 << nodes[i].level;
    if (m == 0)
        return 0;
    multi_get g = {0};
    int rc = multi_get_init(&g, m, err);
    if (rc != 0)
        return rc;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (nodes[i].level < l->stored_level_min)
            for (uint64_t s = nodes[i].index << nodes[i].level, e = s + (UINT64_C(1) << nodes[i].level); s < e; s++) {
                seq_key(g.keys[k], s);
                g.key_lens[k++] = 8;
            }
    multi_get_run(l, CF_RECORDS, &g);
    k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (nodes[i].level >= l->stored_level_min)
            continue;
        /* the leaves, then pairs folded level by level */
        uint8_t h[1u << (MERKLE_RECOMPUTED_LEVELS_MAX - 1)][TL_HASH_BYTES];
        size_t width = (size_t)1 << nodes[i].level;
        for (size_t j = 0; rc == 0 && j < width; j++) {
            size_t len;
            const char *v = multi_get_value(&g, k++, &len, &rc, "cannot read records", err);
            if (rc == 0 && v == NULL)
                rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "record %" PRIu64 " is missing",
                             (nodes[i].index << nodes[i].level) + j);
            if (rc == 0)
                tl_leaf_hash(h[j], v, len);
        }
        if (rc != 0)
            break;
        for (; width > 1; width /= 2)
            for (size_t j = 0; j < width / 2; j++)
                tl_node_hash(h[j], h[2 * j], h[2 * j + 1]);
        memcpy(out[i], h[0], TL_HASH_BYTES);
    }
    multi_get_free(&g);
    return rc;
}

/* Reads nodes for a root or a proof: the upper levels from memory, the stored ones below them
 * with one multi-get, the small ones from their records with another. */
static int read_nodes(tl_ledger *l, bool fill, const tl_merkle_node *nodes, size_t n, uint8_t (*out)[TL_HASH_BYTES],
                      tl_error *err)
{
    upper_view v;
    int rc = upper_get(l, fill, nodes, n, out, &v, err);
    if (rc == 0)
        rc = middle_get(l, &v, nodes, n, out, err);
    if (rc == 0)
        rc = small_get(l, nodes, n, out, err);
    return rc;
}

/* tl_merkle_get_fn of roots (and of the frontier, at open). */
static int root_nodes(void *ctx, const tl_merkle_node *nodes, size_t n, uint8_t (*out)[TL_HASH_BYTES], tl_error *err)
{
    return read_nodes(ctx, false, nodes, n, out, err);
}

/* tl_merkle_get_fn of proofs. */
static int proof_nodes(void *ctx, const tl_merkle_node *nodes, size_t n, uint8_t (*out)[TL_HASH_BYTES], tl_error *err)
{
    return read_nodes(ctx, true, nodes, n, out, err);
}

static tl_merkle_store merkle_store(tl_ledger *l, uint64_t size)
{
    return (tl_merkle_store){.get = root_nodes, .ctx = l, .size = size};
}

static tl_merkle_store proof_store(tl_ledger *l, uint64_t size)
{
    return (tl_merkle_store){.get = proof_nodes, .ctx = l, .size = size};
}

static int load_latest_checkpoint_size(tl_ledger *l, tl_error *err)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, l->ropts, l->cf[CF_CHECKPOINTS]);
    rocksdb_iter_seek_to_last(it);
    int rc = 0;
    l->cp_size = 0;
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen == 8)
            l->cp_size = tl_be64_get((const uint8_t *)k);
    } else {
        char *dberr = NULL;
        rocksdb_iter_get_error(it, &dberr);
        if (dberr != NULL)
            rc = db_fail(err, &dberr, "cannot scan checkpoints");
    }
    rocksdb_iter_destroy(it);
    l->cp_issued_mono_ms = mono_ms();
    return rc;
}

static void *writer_main(void *arg);

static void free_ledger(tl_ledger *l)
{
    if (l->db != NULL) {
        for (int i = 0; i < CF_COUNT; i++)
            if (l->cf[i] != NULL)
                rocksdb_column_family_handle_destroy(l->cf[i]);
        rocksdb_close(l->db);
    }
    if (l->secondary_dir != NULL) {
        /* The secondary's own files are scratch; remove them. */
        char cmd_path[4096];
        snprintf(cmd_path, sizeof cmd_path, "%s", l->secondary_dir);
        /* best effort: RocksDB leaves a handful of files here */
        rocksdb_options_t *o = rocksdb_options_create();
        char *dberr = NULL;
        rocksdb_destroy_db(o, cmd_path, &dberr);
        if (dberr != NULL)
            rocksdb_free(dberr);
        rocksdb_options_destroy(o);
        rmdir(cmd_path);
        free(l->secondary_dir);
    }
    if (l->wsync)
        rocksdb_writeoptions_destroy(l->wsync);
    if (l->ropts)
        rocksdb_readoptions_destroy(l->ropts);
    if (l->opts)
        rocksdb_options_destroy(l->opts);
    if (l->state_opts)
        rocksdb_options_destroy(l->state_opts);
    if (l->records_opts)
        rocksdb_options_destroy(l->records_opts);
    if (l->merkle_opts)
        rocksdb_options_destroy(l->merkle_opts);
    if (l->table)
        rocksdb_block_based_options_destroy(l->table);
    if (l->records_table)
        rocksdb_block_based_options_destroy(l->records_table);
    if (l->cache)
        rocksdb_cache_destroy(l->cache);
    if (l->batch)
        rocksdb_writebatch_destroy(l->batch);
    tl_map_free(l->overlay.map);
    tl_map_free(l->overlay.cache);
    tl_map_free(l->overlay.prefetched);
    tl_map_free(l->stream_index);
    tl_map_free(l->heads);
    free(l->sort);
    tl_buf_free(&l->stored_heads);
    tl_buf_free(&l->records);
    tl_keypair_wipe(&l->cp_key);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_mutex_destroy(&l->cp_mu);
    pthread_mutex_destroy(&l->listen_mu);
    pthread_mutex_destroy(&l->stats_mu);
    pthread_mutex_destroy(&l->upper.mu);
    for (unsigned level = 0; level < TL_MERKLE_LEVELS; level++)
        free(l->upper.hash[level]);
    free(l->dir);
    free(l);
}

static tl_ledger *alloc_ledger(const char *dir, const tl_ledger_options *opt)
{
    tl_ledger *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->dir = strdup(dir);
    l->db_name = "db";
    l->mode = opt ? opt->mode : TL_OPEN_WRITE;
    l->clock = opt && opt->clock ? opt->clock : real_clock_ms;
    l->clock_ctx = opt ? opt->clock_ctx : NULL;
    l->cp_every_records = opt && opt->checkpoint_every_records ? opt->checkpoint_every_records
                                                               : TL_CHECKPOINT_EVERY_RECORDS;
    l->cp_every_ms = opt && opt->checkpoint_every_ms ? opt->checkpoint_every_ms : TL_CHECKPOINT_EVERY_MS;
    l->commit_linger_us = opt && opt->commit_linger_us ? opt->commit_linger_us : TL_COMMIT_LINGER_US;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&l->cp_mu, NULL);
    pthread_mutex_init(&l->listen_mu, NULL);
    pthread_mutex_init(&l->stats_mu, NULL);
    pthread_mutex_init(&l->upper.mu, NULL);
    l->upper.bytes_max = opt && opt->merkle_cache_bytes ? opt->merkle_cache_bytes : MERKLE_CACHED_BYTES_DEFAULT;
    l->overlay.base.get = overlay_get;
    l->overlay.base.put = overlay_put;
    l->overlay.l = l;
    l->overlay.map = tl_map_new();
    l->overlay.cache = tl_map_new();
    l->overlay.prefetched = tl_map_new();
    l->stream_index = tl_map_new();
    l->heads = tl_map_new();
    tl_buf_init(&l->stored_heads);
    tl_buf_init(&l->records);
    if (l->dir == NULL || l->overlay.map == NULL || l->overlay.cache == NULL || l->overlay.prefetched == NULL ||
        l->stream_index == NULL || l->heads == NULL) {
        free_ledger(l);
        return NULL;
    }
    return l;
}

static int load_checkpoint_key(tl_ledger *l, tl_error *err)
{
    char *path;
    if (make_path(&path, l->dir, "checkpoint.key") != 0)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    int rc = tl_secret_key_read(path, &l->cp_key, err);
    free(path);
    return rc;
}

static int open_ledger(tl_ledger **out, const char *dir, const char *db_name, const tl_ledger_options *opt,
                       tl_error *err)
{
    *out = NULL;
    tl_ledger *l = alloc_ledger(dir, opt);
    if (l == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    l->db_name = db_name;
    configure(l, opt);
    int rc = open_db(l, false, err);
    if (rc == 0)
        rc = load_meta(l, err);
    if (rc == 0)
        rc = load_size(l, err);
    if (rc == 0)
        rc = load_latest_checkpoint_size(l, err);
    if (rc == 0 && l->mode == TL_OPEN_WRITE) {
        rc = load_checkpoint_key(l, err);
        if (rc == 0) {
            tl_merkle_store ms = merkle_store(l, atomic_load(&l->size));
            rc = tl_merkle_frontier_load(&l->frontier, &ms, err);
        }
        if (rc == 0) {
            l->batch = rocksdb_writebatch_create();
            if (pthread_create(&l->writer, NULL, writer_main, l) != 0)
                rc = tl_fail(err, TL_EIO, "thread", "", "cannot start the writer thread");
            else
                l->writer_started = true;
        }
    }
    if (rc != 0) {
        free_ledger(l);
        return rc;
    }
    *out = l;
    return 0;
}

int tl_ledger_open(tl_ledger **out, const char *dir, const tl_ledger_options *opt, tl_error *err)
{
    return open_ledger(out, dir, "db", opt, err);
}

/* fsync of a directory, so that a rename in it is durable. */
static int sync_dir(const char *dir, tl_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return tl_fail(err, e == ENOSPC ? TL_ENOSPC : TL_EIO, e == ENOSPC ? "storage.full" : "io", "",
                       "cannot sync %s: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

int tl_ledger_create(const char *dir, const char *origin, const tl_keypair *admin, const tl_ledger_options *opt,
                     tl_error *err)
{
    size_t olen = strlen(origin);
    if (olen == 0 || olen > TL_ORIGIN_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "ledger.origin", "origin", "the origin must be 1..%u bytes",
                       TL_ORIGIN_BYTES_MAX);
    for (size_t i = 0; i < olen; i++)
        if (origin[i] <= 0x20 || origin[i] >= 0x7f || origin[i] == '+')
            return tl_fail(err, TL_EINVAL, "ledger.origin", "origin",
                           "the origin may hold printable ASCII without spaces or '+' (it names the checkpoint key)");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return tl_fail(err, TL_EIO, "io", "", "cannot create %s: %s", dir, strerror(errno));
    char *dbpath = NULL, *keypath = NULL, *vkeypath = NULL, *stagepath = NULL;
    if (make_path(&dbpath, dir, "db") != 0 || make_path(&keypath, dir, "checkpoint.key") != 0 ||
        make_path(&vkeypath, dir, "ledger.vkey") != 0 || make_path(&stagepath, dir, DB_CREATING_NAME) != 0) {
        free(dbpath);
        free(keypath);
        free(vkeypath);
        free(stagepath);
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    }
    int rc = 0;
    struct stat st;
    if (stat(dbpath, &st) == 0) {
        rc = tl_fail(err, TL_ESTATE, "ledger.exists", "", "%s already holds a ledger", dir);
        goto out;
    }
    /* No db/ means no ledger was ever completed here: whatever an interrupted creation left
     * (its keys, a half-built DB_CREATING_NAME) signed nothing anyone has seen. Start over. */
    if ((unlink(keypath) != 0 && errno != ENOENT) || (unlink(vkeypath) != 0 && errno != ENOENT)) {
        rc = tl_fail(err, TL_EIO, "io", "", "cannot remove the leftovers of an interrupted creation in %s: %s", dir,
                     strerror(errno));
        goto out;
    }
    if (stat(stagepath, &st) == 0) {
        rocksdb_options_t *o = rocksdb_options_create();
        char *dberr = NULL;
        rocksdb_destroy_db(o, stagepath, &dberr);
        rocksdb_options_destroy(o);
        if (dberr != NULL) {
            rc = db_fail(err, &dberr, "cannot remove an interrupted creation");
            goto out;
        }
        rmdir(stagepath); /* DestroyDB may leave the empty directory */
    }
    /* The checkpoint key first: a ledger without it could never sign a checkpoint. */
    tl_keypair cp;
    tl_keypair_generate(&cp);
    rc = tl_secret_key_write(keypath, &cp, err);
    if (rc == 0) {
        tl_note_verifier v;
        rc = tl_note_verifier_init(&v, origin, cp.pk, err);
        if (rc == 0) {
            char line[TL_NOTE_VKEY_BYTES_MAX + 1];
            tl_note_vkey_format(line, &v);
            strcat(line, "\n");
            rc = tl_file_write_atomic(vkeypath, line, strlen(line), 0644, err);
        }
    }
    tl_keypair_wipe(&cp);
    if (rc != 0)
        goto out;

    tl_ledger_options wopt = opt ? *opt : (tl_ledger_options){0};
    wopt.mode = TL_OPEN_WRITE;
    tl_ledger *l = alloc_ledger(dir, &wopt);
    if (l == NULL) {
        rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        goto out;
    }
    l->db_name = DB_CREATING_NAME;
    configure(l, &wopt);
    if ((rc = open_db(l, true, err)) != 0) {
        free_ledger(l);
        goto out;
    }
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, l->cf[CF_DEFAULT], "format", 6, FORMAT_TAG, strlen(FORMAT_TAG));
    rocksdb_writebatch_put_cf(wb, l->cf[CF_DEFAULT], "origin", 6, origin, olen);
    rocksdb_writebatch_put_cf(wb, l->cf[CF_DEFAULT], "admin", 5, (const char *)admin->pk, TL_PUBKEY_BYTES);
    const char level_min = (char)MERKLE_STORED_LEVEL_MIN;
    rocksdb_writebatch_put_cf(wb, l->cf[CF_DEFAULT], "merkle_level_min", 16, &level_min, 1);
    char *dberr = NULL;
    rocksdb_write(l->db, l->wsync, wb, &dberr);
    rocksdb_writebatch_destroy(wb);
    free_ledger(l);
    if (dberr != NULL) {
        rc = db_fail(err, &dberr, "cannot write ledger metadata");
        goto out;
    }

    /* Record 0 goes through the normal path: the same rules judge it as any other. */
    if ((rc = open_ledger(&l, dir, DB_CREATING_NAME, &wopt, err)) != 0)
        goto out;
    tl_buf data, env;
    tl_buf_init(&data);
    tl_buf_init(&env);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &data);
    tl_mp_map(&w, 2);
    tl_mp_key(&w, "admin");
    tl_mp_bin(&w, admin->pk, TL_PUBKEY_BYTES);
    tl_mp_key(&w, "origin");
    tl_mp_str(&w, origin);
    tl_event_draft d = {.type = "ledger.genesis", .stream = "ledger", .time_ms = l->clock(l->clock_ctx),
                        .data = data.data, .data_len = data.len};
    tl_random_bytes(d.id, sizeof d.id);
    rc = w.failed ? TL_ENOMEM : tl_envelope_build(&env, &d, admin);
    if (rc == 0) {
        tl_append_result res;
        rc = tl_ledger_append(l, env.data, env.len, &res);
        if (rc != 0 && err != NULL)
            *err = res.err;
    }
    tl_buf_free(&data);
    tl_buf_free(&env);
    tl_ledger_close(l);
    /* The commit point of creation: db/ appears whole (genesis and its checkpoint durable) or
     * not at all. A closed RocksDB directory holds no absolute paths, so it can be renamed. */
    if (rc == 0 && rename(stagepath, dbpath) != 0)
        rc = tl_fail(err, TL_EIO, "io", "", "cannot rename %s to %s: %s", stagepath, dbpath, strerror(errno));
    if (rc == 0)
        rc = sync_dir(dir, err);
out:
    free(dbpath);
    free(keypath);
    free(vkeypath);
    free(stagepath);
    return rc;
}

/* ---------- submitting ---------- */

int tl_ledger_submit(tl_ledger *l, tl_event *ev, tl_append_cb cb, void *ctx, tl_error *err)
{
    item *it = calloc(1, sizeof *it);
    if (it == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    it->ev = *ev;
    it->cb = cb;
    it->ctx = ctx;
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (l->mode != TL_OPEN_WRITE || l->stopping)
        rc = tl_fail(err, TL_ESTATE, "ledger.closed", "", "the ledger is not accepting events");
    else if (l->queue_len >= TL_QUEUE_EVENTS_MAX)
        rc = tl_fail(err, TL_ETOOBIG, "ledger.busy", "", "the sequencer queue is full; retry");
    if (rc == 0) {
        if (l->tail)
            l->tail->next = it;
        else
            l->head = it;
        l->tail = it;
        l->queue_len++;
        /* A lingering writer is woken only when its group is full: not once per event. */
        if (!l->lingering || l->queue_len >= TL_COMMIT_FILL_EVENTS)
            pthread_cond_signal(&l->work);
    }
    pthread_mutex_unlock(&l->mu);
    if (rc != 0)
        free(it); /* the event stays with the caller, who may retry or free it */
    else
        memset(ev, 0, sizeof *ev);
    return rc;
}

void tl_ledger_expect(tl_ledger *l, long delta)
{
    pthread_mutex_lock(&l->mu);
    l->expected += delta;
    if (l->expected <= 0 && l->lingering)
        pthread_cond_signal(&l->work);
    pthread_mutex_unlock(&l->mu);
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    tl_append_result *res;
} waiter;

static void wake_waiter(void *ctx, const tl_append_result *res)
{
    waiter *w = ctx;
    pthread_mutex_lock(&w->mu);
    *w->res = *res;
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int tl_ledger_append(tl_ledger *l, const uint8_t *envelope, size_t len, tl_append_result *res)
{
    memset(res, 0, sizeof *res);
    tl_event ev;
    int rc = tl_event_prepare(&ev, envelope, len, &res->err);
    if (rc != 0)
        return rc;
    snprintf(res->stream, sizeof res->stream, "%s", ev.stream);
    waiter w = {.done = false, .res = res};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    rc = tl_ledger_submit(l, &ev, wake_waiter, &w, &res->err);
    if (rc != 0)
        tl_event_free(&ev);
    if (rc == 0) {
        pthread_mutex_lock(&w.mu);
        while (!w.done)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = res->status == TL_APPEND_REJECTED ? (res->err.code ? res->err.code : TL_EIO) : 0;
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

int tl_ledger_listen(tl_ledger *l, tl_commit_fn fn, void *ctx)
{
    pthread_mutex_lock(&l->listen_mu);
    int h = TL_ETOOBIG;
    for (unsigned i = 0; i < TL_LISTENERS_MAX; i++) {
        if (l->listeners[i].fn == NULL) {
            l->listeners[i].fn = fn;
            l->listeners[i].ctx = ctx;
            h = (int)i;
            break;
        }
    }
    pthread_mutex_unlock(&l->listen_mu);
    return h;
}

void tl_ledger_unlisten(tl_ledger *l, int handle)
{
    if (handle < 0 || handle >= (int)TL_LISTENERS_MAX)
        return;
    pthread_mutex_lock(&l->listen_mu);
    l->listeners[handle].fn = NULL;
    l->listeners[handle].ctx = NULL;
    pthread_mutex_unlock(&l->listen_mu);
}

/* ---------- the writer ---------- */

static void emit_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[TL_HASH_BYTES])
{
    tl_ledger *l = ctx;
    if (level < l->stored_level_min)
        return; /* recomputed from records (see the layout above) */
    uint8_t key[9];
    key[0] = (uint8_t)level;
    tl_be64_put(key + 1, index);
    rocksdb_writebatch_put_cf(l->batch, l->cf[CF_MERKLE], (const char *)key, sizeof key, (const char *)hash,
                              TL_HASH_BYTES);
}

/* Is the record rec the same signed event as ev? On a match *version is the record's version. */
static bool same_event(const tl_event *ev, const uint8_t *rec, size_t len, uint64_t *version)
{
    tl_record r;
    tl_error e;
    if (tl_record_decode(&r, rec, len, &e) != 0)
        return false;
    *version = r.version;
    return r.body_len == ev->body_len && memcmp(r.body, ev->body, ev->body_len) == 0 &&
           memcmp(r.key, ev->key, TL_PUBKEY_BYTES) == 0 && memcmp(r.sig, ev->sig, TL_SIG_BYTES) == 0;
}

/* Judges one duplicate: identical bytes are an idempotent resubmission, anything else reuses
 * an id and is refused. The original may be durable or earlier in this very batch. */
static void judge_duplicate(tl_ledger *l, item *it, uint64_t original, item *batch_first, uint64_t base)
{
    bool same = false;
    uint64_t version = 0;
    if (original >= base) {
        for (item *p = batch_first; p != it; p = p->next)
            if (p->res.status == TL_APPEND_CREATED && p->res.seq == original) {
                same = same_event(&it->ev, l->records.data + p->record_at, p->record_len, &version);
                break;
            }
    } else {
        tl_buf rec;
        tl_buf_init(&rec);
        tl_error e;
        same = tl_ledger_read(l, original, &rec, &e) == 0 && same_event(&it->ev, rec.data, rec.len, &version);
        tl_buf_free(&rec);
    }
    if (same) {
        it->res.status = TL_APPEND_DUPLICATE;
        it->res.seq = original;
        it->res.version = version;
    } else {
        tl_fail(&it->res.err, TL_ECONFLICT, "event.id_reused", "id",
                "event id already used by record %" PRIu64 " with different content", original);
    }
}

typedef struct kv {
    const uint8_t *k, *v;
    size_t klen, vlen;
    size_t stored_at; /* a stream head's stored form: its offset in l->stored_heads */
} kv;

static int kv_cmp(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->k, y->k, n);
    return c != 0 ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Makes seq the head of ev's stream at version (tl_admit has put the version in the overlay;
 * the seq goes to l->heads). The seq of the previous version, when a head held it, moves to
 * the streams column family. */
static int advance_head(tl_ledger *l, const tl_event *ev, uint64_t version, uint64_t seq, tl_error *err)
{
    uint8_t hkey[1 + TL_STREAM_BYTES_MAX];
    size_t hlen = 1 + ev->stream_len;
    hkey[0] = 's';
    memcpy(hkey + 1, ev->stream, ev->stream_len);
    uint8_t prev[HEAD_BYTES];
    size_t plen = 0;
    const uint8_t *in_batch = tl_map_get(l->heads, hkey, hlen, &plen);
    int rc = 0;
    if (in_batch != NULL) { /* version - 1 came earlier in this batch */
        tl_be64_put(prev, version - 1);
        memcpy(prev + 8, in_batch, 8);
        plen = HEAD_BYTES;
    } else if (version > 1) {
        tl_buf stored;
        tl_buf_init(&stored);
        rc = stored_get(&l->overlay, hkey, hlen, &stored);
        plen = stored.len >= HEAD_BYTES ? HEAD_BYTES : stored.len; /* the entity state is not needed */
        if (rc == 0 && (plen == 8 || plen == HEAD_BYTES)) /* 8: every version is in `streams` */
            memcpy(prev, stored.data, plen);
        tl_buf_free(&stored);
        if (rc == TL_EIO)
            return tl_fail(err, TL_EIO, "storage.io", "", "cannot read the head of stream %s", ev->stream);
        if (rc != 0 || (plen != 8 && plen != HEAD_BYTES) || tl_be64_get(prev) + 1 != version)
            return tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "the head of stream %s is damaged", ev->stream);
    }
    if (plen == HEAD_BYTES) {
        uint8_t skey[TL_STREAM_BYTES_MAX + 9];
        memcpy(skey, ev->stream, ev->stream_len);
        skey[ev->stream_len] = 0;
        memcpy(skey + ev->stream_len + 1, prev, 8);
        rc = tl_map_put(l->stream_index, skey, ev->stream_len + 9, prev + 8, 8);
    }
    uint8_t s8[8];
    tl_be64_put(s8, seq);
    if (rc == 0)
        rc = tl_map_put(l->heads, hkey, hlen, s8, 8);
    return rc == 0 ? 0 : tl_fail(err, TL_ENOMEM, "memory", "", "out of memory indexing a stream");
}

/* The seq of a head this batch wrote (from heads), or NULL: only tl_admit writes heads, and
 * only for an event it admitted (advance_head). The head's version and entity state are its
 * value in the overlay. */
static const uint8_t *head_seq(const tl_ledger *l, const uint8_t *key, size_t klen, size_t vlen)
{
    size_t n;
    const uint8_t *seq = tl_map_get(l->heads, key, klen, &n);
    return seq != NULL && n == 8 && vlen >= 8 ? seq : NULL;
}

/* Puts a map's entries into the batch in key order. RocksDB's skip-list memtable inserts a
 * run of ascending keys far faster than the same keys in hash order (each insert starts from
 * the previous one's position), and these inserts were most of the sequencer's CPU time.
 * In the state, stream heads are written as stored: version || seq || entity state. */
static int put_sorted(tl_ledger *l, int cf, const tl_map *m)
{
    size_t n = tl_map_count(m);
    if (n == 0)
        return 0;
    if (n > l->sort_cap) {
        kv *all = realloc(l->sort, n * sizeof *all);
        if (all == NULL)
            return TL_ENOMEM;
        l->sort = all;
        l->sort_cap = n;
    }
    kv *all = l->sort;
    tl_buf *stored = &l->stored_heads;
    tl_buf_reset(stored);
    size_t cursor = 0, i = 0;
    while (i < n && tl_map_next(m, &cursor, &all[i].k, &all[i].klen, &all[i].v, &all[i].vlen)) {
        all[i].stored_at = SIZE_MAX;
        if (cf == CF_STATE && all[i].k[0] == 's') {
            const uint8_t *seq = head_seq(l, all[i].k, all[i].klen, all[i].vlen);
            if (seq == NULL)
                return TL_ESTATE;
            all[i].stored_at = stored->len;
            if (tl_buf_append(stored, all[i].v, 8) != 0 || tl_buf_append(stored, seq, 8) != 0 ||
                tl_buf_append(stored, all[i].v + 8, all[i].vlen - 8) != 0)
                return TL_ENOMEM;
            all[i].vlen += 8;
        }
        i++;
    }
    for (size_t j = 0; j < i; j++) /* stored only now grows no more */
        if (all[j].stored_at != SIZE_MAX)
            all[j].v = stored->data + all[j].stored_at;
    qsort(all, i, sizeof *all, kv_cmp);
    for (size_t j = 0; j < i; j++)
        rocksdb_writebatch_put_cf(l->batch, l->cf[cf], (const char *)all[j].k, all[j].klen, (const char *)all[j].v,
                                  all[j].vlen);
    return 0;
}

static void record_fsync(tl_ledger *l, double seconds, size_t events, bool ok)
{
    pthread_mutex_lock(&l->stats_mu);
    if (ok) {
        l->stats.commits++;
        l->stats.batch_events_sum += events;
        l->stats.fsync_seconds_sum += seconds;
        double bound = 0.0001;
        for (int k = 0; k < TL_FSYNC_BUCKETS; k++, bound *= 2)
            if (seconds <= bound)
                l->stats.fsync_le[k]++;
        l->stats.fsync_le[TL_FSYNC_BUCKETS]++;
    } else {
        l->stats.commit_failures++;
    }
    pthread_mutex_unlock(&l->stats_mu);
}

/* Every event reads its id and its stream head: fetch all of them for the batch with one
 * batched MultiGet (far cheaper per key than single Gets, most of which miss). Keys already
 * in the cache need no fetch. Failures are ignored here: the normal read path reports them. */
static void prefetch(tl_ledger *l, item *first)
{
    tl_map_clear(l->overlay.prefetched);
    size_t n = 0;
    for (item *it = first; it != NULL; it = it->next)
        n += 2;
    uint8_t *keybuf = malloc(n * (1 + TL_STREAM_BYTES_MAX));
    const char **keys = malloc(n * sizeof *keys);
    size_t *sizes = malloc(n * sizeof *sizes);
    rocksdb_pinnableslice_t **vals = calloc(n, sizeof *vals);
    char **errs = calloc(n, sizeof *errs);
    if (keybuf == NULL || keys == NULL || sizes == NULL || vals == NULL || errs == NULL)
        goto done;
    size_t m = 0;
    for (item *it = first; it != NULL; it = it->next) {
        uint8_t *k = keybuf + m * (1 + TL_STREAM_BYTES_MAX);
        k[0] = 'i';
        memcpy(k + 1, it->ev.id, TL_EVENT_ID_BYTES);
        keys[m] = (const char *)k;
        sizes[m++] = 1 + TL_EVENT_ID_BYTES;
        k = keybuf + m * (1 + TL_STREAM_BYTES_MAX);
        k[0] = 's';
        memcpy(k + 1, it->ev.stream, it->ev.stream_len);
        size_t vlen;
        if (tl_map_get(l->overlay.cache, k, 1 + it->ev.stream_len, &vlen) != NULL)
            continue;
        keys[m] = (const char *)k;
        sizes[m++] = 1 + it->ev.stream_len;
    }
    rocksdb_batched_multi_get_cf(l->db, l->ropts, l->cf[CF_STATE], m, keys, sizes, vals, errs, false);
    uint8_t tagged[1 + TL_STATE_VALUE_BYTES_MAX];
    for (size_t i = 0; i < m; i++) {
        if (errs[i] != NULL) {
            rocksdb_free(errs[i]);
            continue;
        }
        size_t vlen = 0;
        const char *v = vals[i] ? rocksdb_pinnableslice_value(vals[i], &vlen) : NULL;
        tagged[0] = v != NULL;
        if (v != NULL && vlen > TL_STATE_VALUE_BYTES_MAX)
            continue;
        if (v != NULL)
            memcpy(tagged + 1, v, vlen);
        if (tl_map_put(l->overlay.prefetched, (const uint8_t *)keys[i], sizes[i], tagged, v ? 1 + vlen : 1) != 0)
            break;
    }
    for (size_t i = 0; i < m; i++)
        if (vals[i] != NULL)
            rocksdb_pinnableslice_destroy(vals[i]);
done:
    free(keybuf);
    free(keys);
    free(sizes);
    free(vals);
    free(errs);
}

/* The events were parsed on other threads, often on the other core: the rules' field lookups
 * in one (a linear walk of its nodes) missed the cache at every step. Loading the next
 * event's nodes and body while the current one is judged hides that. */
static void prefetch_event(const tl_event *ev)
{
    const char *nodes = (const char *)ev->doc.nodes, *body = (const char *)ev->body;
    for (size_t off = 0; off < (size_t)ev->doc.count * sizeof *ev->doc.nodes; off += 64)
        __builtin_prefetch(nodes + off);
    for (size_t off = 0; off < ev->body_len; off += 64)
        __builtin_prefetch(body + off);
}

#define RECORDS_BUFFER_KEPT (4u << 20) /* a larger batch's record buffer is not kept */

static void commit_batch(tl_ledger *l, item *first)
{
    prefetch(l, first);
    uint64_t base = atomic_load(&l->size);
    uint64_t next = base;
    tl_merkle_frontier saved = l->frontier;
    uint64_t saved_recorded = l->last_recorded_ms;
    tl_map_clear(l->overlay.map);
    tl_map_clear(l->stream_index);
    tl_map_clear(l->heads);
    tl_buf_reset(&l->records);
    rocksdb_writebatch_clear(l->batch);
    size_t created = 0, duplicates = 0, rejected = 0;
    bool abort_batch = false;
    tl_error abort_err;
    tl_error_clear(&abort_err);

    prefetch_event(&first->ev);
    for (item *it = first; it != NULL && !abort_batch; it = it->next) {
        if (it->next != NULL)
            prefetch_event(&it->next->ev);
        snprintf(it->res.stream, sizeof it->res.stream, "%s", it->ev.stream);
        tl_admission adm;
        int rc = tl_admit(&l->overlay.base, &it->ev, next, &adm, &it->res.err);
        if (rc != 0) {
            /* A failure to read or write the state is the store's fault, not the event's. */
            if (strncmp(it->res.err.rule, "state.", 6) == 0) {
                abort_batch = true;
                abort_err = it->res.err;
            }
            rejected++;
            continue;
        }
        if (adm.duplicate) {
            judge_duplicate(l, it, adm.original_seq, first, base);
            if (it->res.status == TL_APPEND_DUPLICATE)
                duplicates++;
            else
                rejected++;
            continue;
        }
        uint64_t now = l->clock(l->clock_ctx);
        if (now < l->last_recorded_ms) /* the ledger's clock never runs backwards */
            now = l->last_recorded_ms;
        l->last_recorded_ms = now;
        tl_record r = {.seq = next, .recorded_ms = now, .version = adm.version, .body = it->ev.body,
                       .body_len = it->ev.body_len, .key = it->ev.key, .sig = it->ev.sig};
        it->record_at = l->records.len;
        if (tl_record_encode(&l->records, &r) != 0) {
            abort_batch = true;
            tl_fail(&abort_err, TL_ENOMEM, "memory", "", "out of memory encoding a record");
            break;
        }
        uint8_t k8[8];
        seq_key(k8, next);
        it->record_len = l->records.len - it->record_at;
        const uint8_t *record = l->records.data + it->record_at;
        rocksdb_writebatch_put_cf(l->batch, l->cf[CF_RECORDS], (const char *)k8, 8, (const char *)record,
                                  it->record_len);
        if (advance_head(l, &it->ev, adm.version, next, &abort_err) != 0) {
            abort_batch = true;
            break;
        }
        uint8_t leaf[TL_HASH_BYTES];
        tl_leaf_hash(leaf, record, it->record_len);
        tl_merkle_frontier_append(&l->frontier, leaf, emit_node, l);
        it->res.status = TL_APPEND_CREATED;
        it->res.seq = next;
        it->res.version = adm.version;
        next++;
        created++;
    }

    int write_rc = 0;
    double t0 = 0, t1 = 0;
    if (!abort_batch && created > 0) {
        int prc = put_sorted(l, CF_STATE, l->overlay.map);
        if (prc == 0)
            prc = put_sorted(l, CF_STREAMS, l->stream_index);
        if (prc != 0) {
            abort_batch = true;
            if (prc == TL_ENOMEM)
                tl_fail(&abort_err, TL_ENOMEM, "memory", "", "out of memory sorting the batch");
            else
                tl_fail(&abort_err, TL_ESTATE, "state.write", "", "a stream head was written without its event");
        }
    }
    if (!abort_batch && created > 0) {
        char *dberr = NULL;
        t0 = mono_seconds();
        rocksdb_write(l->db, l->wsync, l->batch, &dberr);
        t1 = mono_seconds();
        if (dberr != NULL)
            write_rc = db_fail(&abort_err, &dberr, "cannot write the batch");
        record_fsync(l, t1 - t0, created, write_rc == 0);
    }
    if (abort_batch || write_rc != 0) {
        /* Nothing of this batch is durable: forget it and answer every event with the cause. */
        l->frontier = saved;
        l->last_recorded_ms = saved_recorded;
        for (item *it = first; it != NULL; it = it->next)
            if (it->res.status != TL_APPEND_REJECTED || strncmp(it->res.err.rule, "state.", 6) == 0 ||
                it->res.err.code == 0) {
                it->res.status = TL_APPEND_REJECTED;
                it->res.err = abort_err;
            }
        created = 0;
        next = base;
    }
    if (created > 0) {
        /* A stream's first version is not cached: most streams are registrations that get no
         * second event, and caching each new head cost a put into a large map and pushed
         * the hot entries out. A stream that gets a second event is cached from then on. */
        size_t cursor = 0, klen, vlen;
        const uint8_t *k, *v, *seq;
        while (tl_map_next(l->overlay.map, &cursor, &k, &klen, &v, &vlen)) {
            if (k[0] != 's' && k[0] != 'i')
                cache_put(&l->overlay, k, klen, v, vlen);
            else if (k[0] == 's' && (seq = head_seq(l, k, klen, vlen)) != NULL && tl_be64_get(v) > 1)
                cache_put_head(&l->overlay, k, klen, v, seq, v + 8, vlen - 8);
        }
    }
    tl_map_clear(l->overlay.map);
    tl_map_clear(l->stream_index);
    tl_map_clear(l->heads);
    rocksdb_writebatch_clear(l->batch);
    if (l->records.cap > RECORDS_BUFFER_KEPT)
        tl_buf_free(&l->records);
    if (created > 0)
        atomic_store(&l->size, next);

    pthread_mutex_lock(&l->stats_mu);
    l->stats.appended += created;
    l->stats.duplicates += duplicates;
    l->stats.rejected += rejected;
    pthread_mutex_unlock(&l->stats_mu);

    if (created > 0) {
        pthread_mutex_lock(&l->listen_mu);
        for (unsigned i = 0; i < TL_LISTENERS_MAX; i++)
            if (l->listeners[i].fn != NULL)
                l->listeners[i].fn(l->listeners[i].ctx, next);
        pthread_mutex_unlock(&l->listen_mu);
    }
    for (item *it = first; it != NULL;) {
        item *n = it->next;
        if (it->cb != NULL)
            it->cb(it->ctx, &it->res);
        tl_event_free(&it->ev);
        free(it);
        it = n;
    }
}

static int issue_checkpoint(tl_ledger *l, uint64_t size, tl_error *err)
{
    uint8_t root[TL_HASH_BYTES];
    tl_merkle_store ms = merkle_store(l, size);
    int rc = tl_merkle_root(root, &ms, size, err);
    if (rc != 0)
        return rc;
    tl_checkpoint cp = {.size = size};
    snprintf(cp.origin, sizeof cp.origin, "%s", l->origin);
    memcpy(cp.root, root, TL_HASH_BYTES);
    char text[TL_CHECKPOINT_TEXT_BYTES_MAX];
    size_t text_len;
    rc = tl_checkpoint_format(text, &text_len, &cp, err);
    if (rc != 0)
        return rc;
    char *note = NULL;
    size_t note_len = 0;
    rc = tl_note_sign(&note, &note_len, text, text_len, l->origin, &l->cp_key, err);
    if (rc != 0)
        return rc;
    uint8_t k8[8];
    tl_be64_put(k8, size);
    char *dberr = NULL;
    rocksdb_put_cf(l->db, l->wsync, l->cf[CF_CHECKPOINTS], (const char *)k8, 8, note, note_len, &dberr);
    free(note);
    if (dberr != NULL)
        return db_fail(err, &dberr, "cannot store a checkpoint");
    pthread_mutex_lock(&l->cp_mu);
    l->cp_size = size;
    l->cp_issued_mono_ms = mono_ms();
    pthread_mutex_unlock(&l->cp_mu);
    pthread_mutex_lock(&l->stats_mu);
    l->stats.checkpoints++;
    pthread_mutex_unlock(&l->stats_mu);
    return 0;
}

static void maybe_checkpoint(tl_ledger *l, bool force)
{
    uint64_t size = atomic_load(&l->size);
    pthread_mutex_lock(&l->cp_mu);
    uint64_t cp = l->cp_size, at = l->cp_issued_mono_ms;
    pthread_mutex_unlock(&l->cp_mu);
    if (size == cp)
        return;
    if (force || size - cp >= l->cp_every_records || mono_ms() - at >= l->cp_every_ms) {
        tl_error e;
        if (issue_checkpoint(l, size, &e) == 0) {
            if (l->cp_failures != 0)
                fprintf(stderr, "techledger: checkpoint at size %" PRIu64 " issued after %" PRIu64 " failed attempts\n",
                        size, l->cp_failures);
            l->cp_failures = 0;
            return;
        }
        /* A full disk fails every attempt (one per wait of the writer): say so at the first,
         * then at most once a minute, with the count, so the log does not fill up as well. */
        uint64_t now = mono_ms();
        char msg[512];
        if (++l->cp_failures == 1) {
            fprintf(stderr, "techledger: checkpoint at size %" PRIu64 " failed (retrying; logged once a minute): %s\n",
                    size, tl_error_format(&e, msg, sizeof msg));
            l->cp_failure_logged_ms = now;
        } else if (now - l->cp_failure_logged_ms >= CHECKPOINT_FAILURE_LOG_MS) {
            fprintf(stderr, "techledger: checkpoint at size %" PRIu64 " still failing, %" PRIu64 " attempts in a row: "
                    "%s\n", size, l->cp_failures, tl_error_format(&e, msg, sizeof msg));
            l->cp_failure_logged_ms = now;
        }
    }
}

static void *writer_main(void *arg)
{
    tl_ledger *l = arg;
    pthread_setname_np(pthread_self(), "tl-sequencer"); /* for top -H, perf and gdb */
    /* Nothing reads RocksDB's perf context, and counting into it (thread-local, on by default)
     * cost the sequencer 4% of its time in TLS lookups. */
    rocksdb_set_perf_level(1 /* kDisable */);
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (l->head == NULL && !l->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 0;
            ts.tv_nsec += (long)l->cp_every_ms * 1000000L / 2;
            while (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            int w = pthread_cond_timedwait(&l->work, &l->mu, &ts);
            if (w == ETIMEDOUT && l->head == NULL) {
                pthread_mutex_unlock(&l->mu);
                maybe_checkpoint(l, false);
                pthread_mutex_lock(&l->mu);
            }
        }
        if (l->head == NULL && l->stopping) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        /* Events announced and not yet queued: let the group fill (tl_ledger_expect). */
        if (l->expected > 0 && l->queue_len < TL_COMMIT_FILL_EVENTS && !l->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += l->commit_linger_us / 1000000u;
            until.tv_nsec += (long)(l->commit_linger_us % 1000000u) * 1000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            l->lingering = true;
            while (l->expected > 0 && l->queue_len < TL_COMMIT_FILL_EVENTS && !l->stopping)
                if (pthread_cond_timedwait(&l->work, &l->mu, &until) == ETIMEDOUT)
                    break;
            l->lingering = false;
        }
        /* Take up to TL_COMMIT_EVENTS_MAX items off the queue. */
        item *first = l->head, *last = first;
        size_t n = 1;
        while (last->next != NULL && n < TL_COMMIT_EVENTS_MAX) {
            last = last->next;
            n++;
        }
        l->head = last->next;
        if (l->head == NULL)
            l->tail = NULL;
        last->next = NULL;
        l->queue_len -= n;
        pthread_mutex_unlock(&l->mu);
        commit_batch(l, first);
        maybe_checkpoint(l, false);
        struct timespec cpu;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
        pthread_mutex_lock(&l->stats_mu);
        l->stats.writer_cpu_seconds = (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9;
        pthread_mutex_unlock(&l->stats_mu);
    }
    maybe_checkpoint(l, true);
    return NULL;
}

void tl_ledger_close(tl_ledger *l)
{
    if (l == NULL)
        return;
    if (l->writer_started) {
        pthread_mutex_lock(&l->mu);
        l->stopping = true;
        pthread_cond_signal(&l->work);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->writer, NULL);
    }
    if (l->mode == TL_OPEN_WRITE && l->db != NULL) {
        /* Every later open (a reader, a secondary, `rebuild`, the next writer) replays whatever
         * WAL is left into memtables first: up to max_total_wal_size, 1.5 G instructions at 1M
         * records. Flushing here leaves an empty WAL behind a clean stop. A failed flush (a
         * full disk) loses nothing: the WAL still holds every record and the next open replays
         * it, as after a crash. */
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(fo, 1);
        for (int i = 0; i < CF_COUNT; i++) {
            char *dberr = NULL;
            rocksdb_flush_cf(l->db, fo, l->cf[i], &dberr);
            if (dberr != NULL) {
                rocksdb_free(dberr);
                break;
            }
        }
        rocksdb_flushoptions_destroy(fo);
    }
    free_ledger(l);
}

/* ---------- reading ---------- */

uint64_t tl_ledger_size(tl_ledger *l) { return atomic_load(&l->size); }
const char *tl_ledger_origin(const tl_ledger *l) { return l->origin; }
const char *tl_ledger_dir(const tl_ledger *l) { return l->dir; }
void tl_ledger_admin_key(const tl_ledger *l, uint8_t out[TL_PUBKEY_BYTES]) { memcpy(out, l->admin, TL_PUBKEY_BYTES); }

int tl_ledger_read(tl_ledger *l, uint64_t seq, tl_buf *out, tl_error *err)
{
    if (seq >= atomic_load(&l->size))
        return tl_fail(err, TL_ENOTFOUND, "record.not_found", "seq", "no record %" PRIu64 " (the log has %" PRIu64 ")",
                       seq, atomic_load(&l->size));
    uint8_t k8[8];
    seq_key(k8, seq);
    char *dberr = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(l->db, l->ropts, l->cf[CF_RECORDS], (const char *)k8, 8, &n, &dberr);
    if (dberr != NULL)
        return db_fail(err, &dberr, "cannot read a record");
    if (v == NULL)
        return tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "record %" PRIu64 " is missing", seq);
    tl_buf_reset(out);
    int rc = tl_buf_append(out, v, n);
    rocksdb_free(v);
    return rc == 0 ? 0 : tl_fail(err, rc, "memory", "", "out of memory");
}

/* Records a scan must span to bypass the block cache: some thousands of blocks. */
#define SCAN_UNCACHED_RECORDS 65536u

int tl_ledger_scan(tl_ledger *l, uint64_t from, uint64_t to, tl_record_fn fn, void *ctx, tl_error *err)
{
    uint64_t size = atomic_load(&l->size);
    if (to > size)
        to = size;
    if (from >= to)
        return 0;
    uint8_t lo[8], hi[8];
    seq_key(lo, from);
    seq_key(hi, to);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, 8); /* hi outlives the iterator */
    rocksdb_readoptions_set_readahead_size(ro, 1u << 20);
    /* A long scan (a rebuild, an export, an audit) reads each block once: putting it in the
     * block cache costs a copy and an insert per block and evicts the blocks the sequencer and
     * the proofs keep hot. Short scans (followers at the tail) keep using the cache, where
     * their blocks are read again and again. */
    if (to - from >= SCAN_UNCACHED_RECORDS) {
        rocksdb_readoptions_set_fill_cache(ro, 0);
        /* As on the writer thread: nothing reads RocksDB's perf context, whose per-step
         * counters (thread-local) cost a rebuild's scan 4% of its time. The level is the
         * calling thread's, and stays off for it. */
        rocksdb_set_perf_level(1 /* kDisable */);
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, ro, l->cf[CF_RECORDS]);
    int rc = 0;
    uint64_t expect = from;
    for (rocksdb_iter_seek(it, (const char *)lo, 8); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        if (klen != 8 || tl_be64_get((const uint8_t *)k) != expect) {
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "record %" PRIu64 " is missing", expect);
            break;
        }
        rc = fn(ctx, expect, (const uint8_t *)v, vlen);
        if (rc != 0)
            break;
        expect++;
    }
    if (rc == 0) {
        char *dberr = NULL;
        rocksdb_iter_get_error(it, &dberr);
        if (dberr != NULL)
            rc = db_fail(err, &dberr, "cannot scan records");
        else if (expect != to)
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "record %" PRIu64 " is missing", expect);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

/* The stored head of a stream: its version (0: no such stream) and, when the head holds it,
 * the seq of that version (*has_seq). */
static int read_head(tl_ledger *l, const char *stream, size_t len, uint64_t *version, uint64_t *seq, bool *has_seq,
                     tl_error *err)
{
    *version = *seq = 0;
    *has_seq = false;
    uint8_t key[1 + TL_STREAM_BYTES_MAX];
    key[0] = 's';
    memcpy(key + 1, stream, len);
    char *dberr = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(l->db, l->ropts, l->cf[CF_STATE], (const char *)key, 1 + len, &n, &dberr);
    if (dberr != NULL)
        return db_fail(err, &dberr, "cannot read a stream head");
    int rc = 0;
    if (v != NULL && (n == 8 || n >= HEAD_BYTES)) {
        *version = tl_be64_get((const uint8_t *)v);
        *has_seq = n >= HEAD_BYTES;
        if (*has_seq)
            *seq = tl_be64_get((const uint8_t *)v + 8);
    } else if (v != NULL) {
        rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged stream head");
    }
    rocksdb_free(v);
    return rc;
}

int tl_ledger_stream_version(tl_ledger *l, const char *stream, size_t len, uint64_t *version, tl_error *err)
{
    *version = 0;
    if (len == 0 || len > TL_STREAM_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "body.stream", "stream", "stream must be 1..%u bytes", TL_STREAM_BYTES_MAX);
    uint64_t seq;
    bool has_seq;
    return read_head(l, stream, len, version, &seq, &has_seq, err);
}

int tl_ledger_stream_scan(tl_ledger *l, const char *stream, size_t len, uint64_t after_version, size_t limit,
                          tl_record_fn fn, void *ctx, tl_error *err)
{
    if (len == 0 || len > TL_STREAM_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "body.stream", "stream", "stream must be 1..%u bytes", TL_STREAM_BYTES_MAX);
    uint64_t size = atomic_load(&l->size);
    /* The head first: the index entries below it were written with it or before, so the
     * iterator (created after) holds every one of them; versions newer than this head are
     * left out, like records beyond size. */
    uint64_t head, head_seq;
    bool has_seq;
    int rc = read_head(l, stream, len, &head, &head_seq, &has_seq, err);
    if (rc != 0 || head <= after_version)
        return rc;
    uint8_t lo[TL_STREAM_BYTES_MAX + 9], hi[TL_STREAM_BYTES_MAX + 9];
    memcpy(lo, stream, len);
    lo[len] = 0;
    tl_be64_put(lo + len + 1, after_version + 1);
    memcpy(hi, stream, len + 1);
    tl_be64_put(hi + len + 1, has_seq ? head : head + 1); /* the index ends below the head */
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, len + 9);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, ro, l->cf[CF_STREAMS]);
    size_t seen = 0;
    tl_buf rec;
    tl_buf_init(&rec);
    for (rocksdb_iter_seek(it, (const char *)lo, len + 9); rocksdb_iter_valid(it) && (limit == 0 || seen < limit);
         rocksdb_iter_next(it)) {
        size_t vlen;
        const char *v = rocksdb_iter_value(it, &vlen);
        if (vlen != 8) {
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged stream index");
            break;
        }
        uint64_t seq = tl_be64_get((const uint8_t *)v);
        if (seq >= size) /* written by a batch newer than our view of the size */
            break;
        if ((rc = tl_ledger_read(l, seq, &rec, err)) != 0)
            break;
        if ((rc = fn(ctx, seq, rec.data, rec.len)) != 0)
            break;
        seen++;
    }
    if (rc == 0) {
        char *dberr = NULL;
        rocksdb_iter_get_error(it, &dberr);
        if (dberr != NULL)
            rc = db_fail(err, &dberr, "cannot scan a stream");
    }
    if (rc == 0 && has_seq && (limit == 0 || seen < limit) && head_seq < size &&
        (rc = tl_ledger_read(l, head_seq, &rec, err)) == 0)
        rc = fn(ctx, head_seq, rec.data, rec.len);
    tl_buf_free(&rec);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

int tl_ledger_find_event(tl_ledger *l, const uint8_t id[TL_EVENT_ID_BYTES], uint64_t *seq, tl_error *err)
{
    uint8_t key[1 + TL_EVENT_ID_BYTES];
    key[0] = 'i';
    memcpy(key + 1, id, TL_EVENT_ID_BYTES);
    char *dberr = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(l->db, l->ropts, l->cf[CF_STATE], (const char *)key, sizeof key, &n, &dberr);
    if (dberr != NULL)
        return db_fail(err, &dberr, "cannot read the event index");
    int rc = 0;
    if (v == NULL || n != 8)
        rc = tl_fail(err, TL_ENOTFOUND, "event.not_found", "id", "no event with this id");
    else
        *seq = tl_be64_get((const uint8_t *)v);
    rocksdb_free(v);
    return rc;
}

int tl_ledger_refresh(tl_ledger *l, tl_error *err)
{
    if (l->mode == TL_OPEN_SECONDARY) {
        char *dberr = NULL;
        rocksdb_try_catch_up_with_primary(l->db, &dberr);
        if (dberr != NULL)
            return db_fail(err, &dberr, "cannot catch up with the writer");
    }
    if (l->mode == TL_OPEN_WRITE)
        return 0;
    int rc = load_size(l, err);
    return rc == 0 ? load_latest_checkpoint_size(l, err) : rc;
}

/* ---------- Merkle tree and checkpoints ---------- */

static int check_size(tl_ledger *l, uint64_t size, const char *field, tl_error *err)
{
    uint64_t now = atomic_load(&l->size);
    if (size > now)
        return tl_fail(err, TL_EINVAL, "proof.size", field, "tree size %" PRIu64 " is beyond the log's %" PRIu64, size,
                       now);
    return 0;
}

int tl_ledger_root(tl_ledger *l, uint64_t size, uint8_t out[TL_HASH_BYTES], tl_error *err)
{
    int rc = check_size(l, size, "size", err);
    if (rc != 0)
        return rc;
    tl_merkle_store ms = merkle_store(l, atomic_load(&l->size));
    return tl_merkle_root(out, &ms, size, err);
}

int tl_ledger_merkle_node(tl_ledger *l, unsigned level, uint64_t index, uint8_t out[TL_HASH_BYTES], tl_error *err)
{
    uint64_t size = atomic_load(&l->size);
    if (level >= TL_MERKLE_LEVELS || index >= (size >> level))
        return tl_fail(err, TL_EINVAL, "merkle.node", "", "no complete node (level %u, index %" PRIu64
                       ") in a tree of %" PRIu64, level, index, size);
    if (level < l->stored_level_min)
        return tl_fail(err, TL_ENOTFOUND, "merkle.not_stored", "", "nodes below level %u are not stored",
                       l->stored_level_min);
    return stored_node(l, level, index, out, err);
}

int tl_ledger_inclusion_proof(tl_ledger *l, uint64_t seq, uint64_t size, tl_merkle_proof *out, tl_error *err)
{
    int rc = check_size(l, size, "proof", err);
    if (rc != 0)
        return rc;
    tl_merkle_store ms = proof_store(l, atomic_load(&l->size));
    return tl_merkle_inclusion_proof(out, &ms, seq, size, err);
}

int tl_ledger_consistency_proof(tl_ledger *l, uint64_t from, uint64_t to, tl_merkle_proof *out, tl_error *err)
{
    int rc = check_size(l, to, "to", err);
    if (rc != 0)
        return rc;
    tl_merkle_store ms = proof_store(l, atomic_load(&l->size));
    return tl_merkle_consistency_proof(out, &ms, from, to, err);
}

int tl_ledger_checkpoint_get(tl_ledger *l, uint64_t size, tl_buf *out, tl_error *err)
{
    uint8_t k8[8];
    tl_be64_put(k8, size);
    char *dberr = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(l->db, l->ropts, l->cf[CF_CHECKPOINTS], (const char *)k8, 8, &n, &dberr);
    if (dberr != NULL)
        return db_fail(err, &dberr, "cannot read a checkpoint");
    if (v == NULL)
        return tl_fail(err, TL_ENOTFOUND, "checkpoint.not_found", "size", "no checkpoint at size %" PRIu64, size);
    tl_buf_reset(out);
    int rc = tl_buf_append(out, v, n);
    rocksdb_free(v);
    return rc;
}

int tl_ledger_checkpoint_latest(tl_ledger *l, tl_buf *out, uint64_t *size, tl_error *err)
{
    pthread_mutex_lock(&l->cp_mu);
    uint64_t cp = l->cp_size;
    pthread_mutex_unlock(&l->cp_mu);
    if (cp == 0)
        return tl_fail(err, TL_ENOTFOUND, "checkpoint.not_found", "", "no checkpoint has been issued yet");
    *size = cp;
    return tl_ledger_checkpoint_get(l, cp, out, err);
}

int tl_ledger_checkpoint_scan(tl_ledger *l, tl_checkpoint_fn fn, void *ctx, tl_error *err)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(l->db, l->ropts, l->cf[CF_CHECKPOINTS]);
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        if (klen != 8) {
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged checkpoint key");
            break;
        }
        if ((rc = fn(ctx, tl_be64_get((const uint8_t *)k), (const uint8_t *)v, vlen)) != 0)
            break;
    }
    if (rc == 0) {
        char *dberr = NULL;
        rocksdb_iter_get_error(it, &dberr);
        if (dberr != NULL)
            rc = db_fail(err, &dberr, "cannot scan checkpoints");
    }
    rocksdb_iter_destroy(it);
    return rc;
}

int tl_ledger_checkpoint_now(tl_ledger *l, tl_error *err)
{
    if (l->mode != TL_OPEN_WRITE)
        return tl_fail(err, TL_ESTATE, "ledger.read_only", "", "checkpoints are issued by the writer");
    uint64_t size = atomic_load(&l->size);
    pthread_mutex_lock(&l->cp_mu);
    bool same = l->cp_size == size;
    pthread_mutex_unlock(&l->cp_mu);
    return same ? 0 : issue_checkpoint(l, size, err);
}

int tl_ledger_vkey(tl_ledger *l, char *out, size_t cap)
{
    char *path;
    if (make_path(&path, l->dir, "ledger.vkey") != 0)
        return TL_ENOMEM;
    uint8_t *text;
    size_t len;
    tl_error e;
    int rc = tl_file_read(path, 4096, &text, &len, &e);
    free(path);
    if (rc != 0)
        return rc;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len + 1 > cap) {
        free(text);
        return TL_ETOOBIG;
    }
    memcpy(out, text, len);
    out[len] = '\0';
    free(text);
    return 0;
}

void tl_ledger_get_stats(tl_ledger *l, tl_ledger_stats *out)
{
    pthread_mutex_lock(&l->stats_mu);
    *out = l->stats;
    pthread_mutex_unlock(&l->stats_mu);
    out->size = atomic_load(&l->size);
    pthread_mutex_lock(&l->mu);
    out->queue_depth = l->queue_len;
    pthread_mutex_unlock(&l->mu);
    uint64_t v = 0;
    if (rocksdb_property_int(l->db, "rocksdb.num-running-flushes", &v) == 0)
        out->storage_flushes_running = v;
    if (rocksdb_property_int(l->db, "rocksdb.num-running-compactions", &v) == 0)
        out->storage_compactions_running = v;
    for (int i = 0; i < CF_COUNT; i++) {
        if (rocksdb_property_int_cf(l->db, l->cf[i], "rocksdb.mem-table-flush-pending", &v) == 0)
            out->storage_flushes_pending += v;
        if (rocksdb_property_int_cf(l->db, l->cf[i], "rocksdb.compaction-pending", &v) == 0)
            out->storage_compactions_pending += v;
        if (rocksdb_property_int_cf(l->db, l->cf[i], "rocksdb.estimate-pending-compaction-bytes", &v) == 0)
            out->storage_compaction_pending_bytes += v;
    }
}
