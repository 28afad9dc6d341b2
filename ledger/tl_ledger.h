/*
 * The ledger: an append-only log of signed events in RocksDB, sequenced by one writer thread
 * with group commit, hashed into an RFC 6962 Merkle tree, with signed checkpoints.
 * The storage layout is described at the top of log.c.
 *
 * Threads: tl_ledger_submit may be called from any thread. The writer thread judges queued
 * events in order, writes a whole batch of accepted ones in one synced WriteBatch, and only
 * then calls each submitter's callback. Readers (tl_ledger_read, scans, proofs) may run on any
 * thread at any time and see only durable records.
 *
 * Ownership: every pointer passed in is borrowed for the call unless a comment says otherwise;
 * every buffer filled for the caller (tl_buf) belongs to the caller.
 */
#ifndef TL_LEDGER_H
#define TL_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_crypto.h"
#include "tl_event.h"
#include "tl_merkle.h"
#include "tl_mp.h"

#define TL_QUEUE_EVENTS_MAX 65536u        /* events waiting for the sequencer */
#define TL_COMMIT_EVENTS_MAX 8192u        /* events in one group commit */
#define TL_COMMIT_FILL_EVENTS 512u        /* a lingering group commit waits for this many */
#define TL_COMMIT_LINGER_US 3000u         /* or at most this long (tl_ledger_expect) */
#define TL_CHECKPOINT_EVERY_RECORDS 1000u /* FORMAT.md section 7 */
#define TL_CHECKPOINT_EVERY_MS 1000u
#define TL_LISTENERS_MAX 16u
#define TL_ORIGIN_BYTES_MAX 128u

typedef struct tl_ledger tl_ledger;

/* Milliseconds since the Unix epoch. */
typedef uint64_t (*tl_clock_fn)(void *ctx);

typedef enum tl_open_mode {
    TL_OPEN_WRITE = 0, /* the one writer: runs the sequencer */
    TL_OPEN_READ_ONLY, /* a snapshot of a ledger no one is writing */
    TL_OPEN_SECONDARY  /* follows a running writer; call tl_ledger_refresh to catch up */
} tl_open_mode;

typedef struct tl_ledger_options {
    tl_open_mode mode;
    /* The ledger's clock for `recorded`. NULL = the real clock. Another clock is for
     * demonstrations only (a simulated walk through past years). */
    tl_clock_fn clock;
    void *clock_ctx;
    uint32_t checkpoint_every_records; /* 0 = TL_CHECKPOINT_EVERY_RECORDS */
    uint32_t checkpoint_every_ms;      /* 0 = TL_CHECKPOINT_EVERY_MS */
    size_t block_cache_bytes;          /* 0 = a default sized for RSS <= 256 MiB */
    size_t merkle_cache_bytes;         /* upper Merkle levels kept for proofs; 0 = 16 MiB */
    uint32_t commit_linger_us;         /* 0 = TL_COMMIT_LINGER_US (see tl_ledger_expect) */
} tl_ledger_options;

/* Creates DIR (which must not hold a ledger), the ledger's own checkpoint key inside it, and
 * record 0, the genesis event signed with admin (recorded with opt's clock). */
int tl_ledger_create(const char *dir, const char *origin, const tl_keypair *admin,
                     const tl_ledger_options *opt, tl_error *err) __attribute__((warn_unused_result));

/* Opens an existing ledger. opt may be NULL (write mode, real clock). */
int tl_ledger_open(tl_ledger **out, const char *dir, const tl_ledger_options *opt, tl_error *err)
    __attribute__((warn_unused_result));

/* Finishes every queued submission, writes a final checkpoint (write mode), stops the writer
 * and closes the store. NULL is a no-op. */
void tl_ledger_close(tl_ledger *l);

/* The number of durable records (the next seq). */
uint64_t tl_ledger_size(tl_ledger *l);
/* The ledger's name, fixed at create (static for the life of l). */
const char *tl_ledger_origin(const tl_ledger *l);
/* The genesis administrator's public key. */
void tl_ledger_admin_key(const tl_ledger *l, uint8_t out[TL_PUBKEY_BYTES]);
/* The directory the ledger lives in (static for the life of l). */
const char *tl_ledger_dir(const tl_ledger *l);

/* ---------- writing ---------- */

typedef enum tl_append_status {
    TL_APPEND_REJECTED = 0,
    TL_APPEND_CREATED = 1,  /* appended now: HTTP 201 */
    TL_APPEND_DUPLICATE = 2 /* the same signed event was already in the log: HTTP 200 */
} tl_append_status;

typedef struct tl_append_result {
    int status; /* tl_append_status */
    uint64_t seq;
    uint64_t version;
    char stream[TL_STREAM_BYTES_MAX + 1];
    tl_error err; /* when rejected */
} tl_append_result;

/* Called on the writer thread once the event is durable (or rejected). Must not block and
 * must not call back into the ledger's writing functions. */
typedef void (*tl_append_cb)(void *ctx, const tl_append_result *res);

/* Queues a prepared event (tl_event_prepare has passed). Returns 0 when queued: the ledger
 * then owns the event (the caller's struct is emptied) and will call cb exactly once.
 * An event whose body is borrowed (tl_event_prepare_borrow) is never read after its cb
 * returns, so the submitter may release the body's bytes in cb. Otherwise TL_ESTATE
 * (closing, read-only), TL_ETOOBIG (queue full: retry later) or TL_ENOMEM, cb is never
 * called and the event stays with the caller (to retry or free). */
int tl_ledger_submit(tl_ledger *l, tl_event *ev, tl_append_cb cb, void *ctx, tl_error *err)
    __attribute__((warn_unused_result));

/* Announces events a producer will submit shortly (delta > 0) or no longer will (delta < 0:
 * they were submitted or dropped; every announced event must be taken back exactly once).
 * While announced events are on their way, the writer lets a group commit fill up to
 * TL_COMMIT_FILL_EVENTS events for at most TL_COMMIT_LINGER_US before writing it: a large
 * batch verified chunk by chunk then shares a few synced writes instead of one per chunk.
 * A writer that knows of no coming events commits at once; an event queued while others are
 * announced waits with them, at most TL_COMMIT_LINGER_US. */
void tl_ledger_expect(tl_ledger *l, long delta);

/* Convenience for tools and tests: prepare + submit + wait for durability. Returns 0 when the
 * event was created or was a duplicate, else the rejection code; *res is filled either way. */
int tl_ledger_append(tl_ledger *l, const uint8_t *envelope, size_t len, tl_append_result *res);

/* Listeners run on the writer thread after each durable commit, with the new size.
 * They must be quick (wake a thread, set a flag). Returns a handle >= 0 or TL_ETOOBIG. */
typedef void (*tl_commit_fn)(void *ctx, uint64_t new_size);
int tl_ledger_listen(tl_ledger *l, tl_commit_fn fn, void *ctx);
void tl_ledger_unlisten(tl_ledger *l, int handle);

/* ---------- reading ---------- */

/* The record bytes at seq into out (replacing its contents). TL_ENOTFOUND past the end. */
int tl_ledger_read(tl_ledger *l, uint64_t seq, tl_buf *out, tl_error *err)
    __attribute__((warn_unused_result));

/* Visits records from..to-1 in order (to is clamped to the size). The record pointer is valid
 * during the call only. A nonzero return from fn stops the scan and is returned. */
typedef int (*tl_record_fn)(void *ctx, uint64_t seq, const uint8_t *rec, size_t len);
int tl_ledger_scan(tl_ledger *l, uint64_t from, uint64_t to, tl_record_fn fn, void *ctx, tl_error *err);

/* The current version of a stream (0 when it does not exist). */
int tl_ledger_stream_version(tl_ledger *l, const char *stream, size_t len, uint64_t *version,
                             tl_error *err) __attribute__((warn_unused_result));
/* Visits the records of a stream with version > after_version, in version order, at most
 * limit of them (0 = no limit). */
int tl_ledger_stream_scan(tl_ledger *l, const char *stream, size_t len, uint64_t after_version,
                          size_t limit, tl_record_fn fn, void *ctx, tl_error *err);
/* The seq of an event id, TL_ENOTFOUND if it is not in the log. */
int tl_ledger_find_event(tl_ledger *l, const uint8_t id[TL_EVENT_ID_BYTES], uint64_t *seq,
                         tl_error *err) __attribute__((warn_unused_result));

/* Secondary and read-only modes: catch up with the writer. */
int tl_ledger_refresh(tl_ledger *l, tl_error *err) __attribute__((warn_unused_result));

/* ---------- Merkle tree and checkpoints ---------- */

/* The Merkle root of the first size records. */
int tl_ledger_root(tl_ledger *l, uint64_t size, uint8_t out[TL_HASH_BYTES], tl_error *err)
    __attribute__((warn_unused_result));
/* The stored Merkle node (level, index) (tl_merkle.h numbering), for audits that compare the
 * stored tree with one recomputed from the records. TL_ENOTFOUND for a level the ledger does
 * not store (the lowest levels are recomputed from records), TL_EINVAL for a node not complete
 * at the current size. */
int tl_ledger_merkle_node(tl_ledger *l, unsigned level, uint64_t index, uint8_t out[TL_HASH_BYTES],
                          tl_error *err) __attribute__((warn_unused_result));
/* RFC 9162 inclusion proof of record seq in the tree of size records. */
int tl_ledger_inclusion_proof(tl_ledger *l, uint64_t seq, uint64_t size, tl_merkle_proof *out,
                              tl_error *err) __attribute__((warn_unused_result));
/* RFC 9162 consistency proof between the trees of from and to records. */
int tl_ledger_consistency_proof(tl_ledger *l, uint64_t from, uint64_t to, tl_merkle_proof *out,
                                tl_error *err) __attribute__((warn_unused_result));

/* The latest checkpoint note (FORMAT.md section 7) into out; TL_ENOTFOUND if none yet. */
int tl_ledger_checkpoint_latest(tl_ledger *l, tl_buf *out, uint64_t *size, tl_error *err)
    __attribute__((warn_unused_result));
/* The checkpoint issued at exactly this tree size. */
int tl_ledger_checkpoint_get(tl_ledger *l, uint64_t size, tl_buf *out, tl_error *err)
    __attribute__((warn_unused_result));
/* Visits every checkpoint in size order: fn(ctx, size, note, note_len). */
typedef int (*tl_checkpoint_fn)(void *ctx, uint64_t size, const uint8_t *note, size_t len);
int tl_ledger_checkpoint_scan(tl_ledger *l, tl_checkpoint_fn fn, void *ctx, tl_error *err);
/* Issues a checkpoint for the current size now (if it differs from the latest one). */
int tl_ledger_checkpoint_now(tl_ledger *l, tl_error *err) __attribute__((warn_unused_result));
/* The verifier key line `<origin>+<hash>+<base64>` (NUL-terminated). */
int tl_ledger_vkey(tl_ledger *l, char *out, size_t cap) __attribute__((warn_unused_result));

/* ---------- operations ---------- */

#define TL_FSYNC_BUCKETS 12 /* fsync latency histogram: <= 2^k * 0.1 ms for k = 0..11, then +Inf */

typedef struct tl_ledger_stats {
    uint64_t size;
    uint64_t appended;       /* events created since open */
    uint64_t duplicates;     /* idempotent resubmissions */
    uint64_t rejected;       /* events refused by the sequencer's rules */
    uint64_t commits;        /* group commits */
    uint64_t commit_failures;
    uint64_t queue_depth;
    uint64_t checkpoints;    /* issued since open */
    uint64_t fsync_le[TL_FSYNC_BUCKETS + 1]; /* cumulative counts per bucket, last = +Inf */
    double fsync_seconds_sum;
    uint64_t batch_events_sum; /* events per commit, summed (mean = sum / commits) */
    double writer_cpu_seconds; /* CPU time of the sequencer thread: its cost per event */
    /* RocksDB's background work, read from its properties when the stats are taken: flushes
     * (full memtables written to table files) and compactions (table files merged) running
     * now, memtables waiting for a flush, column families with a compaction due, and the bytes
     * compaction still has to rewrite (an estimate, over every column family). Appends compete
     * with this work for the CPU. */
    uint64_t storage_flushes_running;
    uint64_t storage_compactions_running;
    uint64_t storage_flushes_pending;
    uint64_t storage_compactions_pending;
    uint64_t storage_compaction_pending_bytes;
} tl_ledger_stats;

void tl_ledger_get_stats(tl_ledger *l, tl_ledger_stats *out);

#endif
