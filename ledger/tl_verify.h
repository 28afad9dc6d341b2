/*
 * The full offline audit of a log (FORMAT.md section 8), run by `techledger verify`.
 *
 * One code path judges an audit bundle and a ledger directory: both are a tl_verify_source
 * that hands over the trust anchors (the checkpoint verifier key line and the genesis
 * administrator key), the checkpoints, and the records in seq order. The audit checks, in
 * this order, stopping at the first failure:
 *
 *   1. the trust anchors: ledger.vkey parses (tl_note_vkey_parse); admin.pub is a key;
 *   2. every checkpoint: the signature and origin against ledger.vkey (tl_checkpoint_open) and
 *      that it is filed under the size it signs; there is at least one;
 *   3. every record, in seq order:
 *        canonical decode (tl_record_decode, tl_event_from_parts), seq = position,
 *        the event signature and schema (tl_event_check),
 *        `recorded` never decreases,
 *        the sequencing and domain rules replayed through tl_admit over an in-memory state,
 *        exactly the code the sequencer ran at append time (so signers' keys and roles as of
 *        that point of the log, stream versions, `expect`, references; an event id that
 *        repeats an earlier one is a failure here, where the sequencer would have answered
 *        "duplicate" and stored nothing),
 *        the stored version equals the version tl_admit assigns,
 *        record 0 is signed by the administrator key and names the verifier key's origin,
 *        and, when the running tree reaches a checkpoint's size, the recomputed Merkle root
 *        equals the signed one;
 *      for a ledger directory, also every stored Merkle node as it is recomputed and the
 *      stored root at each checkpoint size (so a damaged node is caught even where no proof
 *      has read it yet);
 *   4. no checkpoint signs a tree larger than the log (a truncated log).
 *
 * Records after the last checkpoint pass every check except the root, which nothing signs
 * yet; the report counts them (`uncovered`).
 *
 * Speed: signature checks dominate and are independent per record, so a reader thread cuts
 * the records into chunks, worker threads decode, verify and hash chunks in parallel, and one
 * worker at a time replays finished chunks in order (tl_admit, Merkle). Memory: the chunks in
 * flight are bounded; the replayed state grows with the log: every event id (about 32 bytes
 * each in the replay's own id table, verify.c), every stream head and the domain rules'
 * records (contracts, participants, keys) in a tl_mem_state; about 210 bytes per event for a
 * log of mostly contract registrations.
 */
#ifndef TL_VERIFY_H
#define TL_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_checkpoint.h"
#include "tl_crypto.h"
#include "tl_ledger.h"
#include "tl_note.h"

#define TL_VERIFY_THREADS_MAX 64u
#define TL_VERIFY_NO_SEQ UINT64_MAX
#define TL_VERIFY_WHERE_BYTES 64u
#define TL_VERIFY_VKEY_BYTES_MAX 4096u /* what is read of a ledger.vkey file */

/* Where an audit reads from. The callbacks run on the verifier's threads: scan on its reader
 * thread, stored_node and stored_root on whichever worker holds the replay (one at a time),
 * checkpoints on the calling thread. */
typedef struct tl_verify_source {
    const char *kind;          /* "bundle" or "ledger", for reports */
    const char *records_where; /* where records live, for failure reports ("records") */
    void *ctx;
    /* Trust anchors, filled when the source is opened. */
    char vkey[TL_VERIFY_VKEY_BYTES_MAX + 1]; /* the verifier key line as found (NUL-terminated) */
    size_t vkey_len;
    uint8_t admin[TL_PUBKEY_BYTES];
    /* Progress hints: the expected record count and record bytes (0 = unknown). */
    uint64_t records_hint;
    uint64_t bytes_hint;
    /* Visits every record, seq 0 first, until fn returns nonzero (which is returned). */
    int (*scan)(void *ctx, tl_record_fn fn, void *fn_ctx, tl_error *err);
    /* Visits every checkpoint (in any order). */
    int (*checkpoints)(void *ctx, tl_checkpoint_fn fn, void *fn_ctx, tl_error *err);
    /* Optional (NULL for a bundle): a stored Merkle node of level >= 1 (TL_ENOTFOUND when the
     * store keeps no nodes of that level: it is then never asked about lower ones) and the
     * root the store gives for a size. */
    int (*stored_node)(void *ctx, unsigned level, uint64_t index, uint8_t out[TL_HASH_BYTES],
                       tl_error *err);
    int (*stored_root)(void *ctx, uint64_t size, uint8_t out[TL_HASH_BYTES], tl_error *err);
    void (*close)(void *ctx); /* may be NULL */
} tl_verify_source;

/* Progress, reported on the calling thread about twice a second. */
typedef struct tl_verify_progress {
    uint64_t records;       /* replayed so far */
    uint64_t bytes;         /* their record bytes */
    uint64_t records_total; /* the source's hints (0 = unknown) */
    uint64_t bytes_total;
    double seconds; /* since the audit started */
} tl_verify_progress;
typedef void (*tl_verify_progress_fn)(void *ctx, const tl_verify_progress *p);

typedef struct tl_verify_options {
    unsigned threads; /* worker threads; 0 = one per online CPU (at most TL_VERIFY_THREADS_MAX) */
    tl_verify_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} tl_verify_options;

typedef struct tl_verify_report {
    /* How far the audit got (all of it on success). */
    uint64_t records;         /* records that passed every check */
    uint64_t record_bytes;
    uint64_t streams;         /* distinct streams among them */
    uint64_t checkpoints;     /* checkpoints whose signature and root both matched */
    uint64_t checkpoint_size; /* the largest of those sizes */
    uint64_t uncovered;       /* records after the last checkpoint */
    uint64_t stored_nodes;    /* stored Merkle nodes compared (ledger directories) */
    uint8_t root[TL_HASH_BYTES]; /* the Merkle root of all records checked */
    char origin[TL_NOTE_NAME_BYTES_MAX + 1];
    double seconds;
    unsigned threads;
    /* The first failure, when the audit failed (the error itself is in err). */
    bool failed;
    uint64_t seq;                       /* the record, or TL_VERIFY_NO_SEQ */
    char where[TL_VERIFY_WHERE_BYTES]; /* "records", "checkpoints/1000", "ledger.vkey", ... */
} tl_verify_report;

/* Runs the audit over src (borrowed; not closed). Returns 0 when everything verifies. Else
 * the code of the first failure with err naming its rule, path and detail: report->failed is
 * true when the data failed a check (a verdict) and false when the audit could not run
 * (TL_EIO, TL_ENOMEM: no verdict). opt may be NULL. */
int tl_verify_run(tl_verify_report *report, tl_verify_source *src, const tl_verify_options *opt,
                  tl_error *err) TL_WUR;

/* A source over an audit bundle directory (tl_bundle.h). On failure report says where (the
 * bundle may be missing a file or hold a bad admin.pub: a verdict, report->failed). */
int tl_verify_source_bundle(tl_verify_source *out, const char *dir, tl_verify_report *report,
                            tl_error *err) TL_WUR;

/* A source over an open ledger (borrowed: it must stay open until the source is closed). */
int tl_verify_source_ledger(tl_verify_source *out, tl_ledger *l, tl_verify_report *report,
                            tl_error *err) TL_WUR;

/* Closes a source opened by one of the two functions above (NULL-safe on an emptied one). */
void tl_verify_source_close(tl_verify_source *src);

/* Opens the ledger in dir for reading: read-only, or as a secondary instance when a running
 * writer holds it. For verify, export and the read-only subcommands. */
int tl_verify_open_ledger(tl_ledger **out, const char *dir, tl_error *err) TL_WUR;

/* The whole audit of path: a ledger directory (it holds db/) or an audit bundle (it holds
 * `records`). The same checks either way; report->where names the part that failed. */
int tl_verify_path(tl_verify_report *report, const char *path, const tl_verify_options *opt,
                   tl_error *err) TL_WUR;

#endif
