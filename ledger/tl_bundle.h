/*
 * The audit bundle (FORMAT.md section 8): a directory that verifies on its own, with no server
 * and no project code.
 *
 *     records             every record, seq 0 to n-1, concatenated MessagePack objects
 *     checkpoints/<size>  one file per issued checkpoint, named by its decimal tree size (no
 *                         leading zeros), holding the signed note exactly as issued
 *     ledger.vkey         the checkpoint verifier key line and a newline
 *     admin.pub           the genesis administrator's public key: 64 hex digits and a newline
 *
 * Writing is all-or-nothing: the bundle is built in a fresh sibling directory
 * "<OUT>.tmp-XXXXXX", flushed to disk, and renamed to OUT only when complete, so a crash
 * leaves at worst a directory whose name says it is unfinished, never an OUT that looks whole.
 *
 * Reading never trusts the bundle: names, sizes and framing are checked, every record is
 * bounded by TL_RECORD_BYTES_MAX before it is handed on, and the rest of the judgement is
 * tl_verify's.
 */
#ifndef TL_BUNDLE_H
#define TL_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "tl_crypto.h"
#include "tl_ledger.h"

#define TL_BUNDLE_RECORDS "records"
#define TL_BUNDLE_CHECKPOINTS "checkpoints"
#define TL_BUNDLE_VKEY "ledger.vkey"
#define TL_BUNDLE_ADMIN "admin.pub"
#define TL_BUNDLE_CHECKPOINTS_MAX (1u << 24) /* files read from checkpoints/ */
/* Read buffer for the records file: small enough to stay in a core's cache between the read
 * and the copy out of it (4 MiB streamed through the cache the workers share with the reader,
 * evicting theirs). */
#define TL_BUNDLE_READ_BYTES (128u << 10)

/* ---------- writing ---------- */

/* Progress during an export: records written so far out of total. */
typedef void (*tl_bundle_progress_fn)(void *ctx, uint64_t records, uint64_t total, double seconds);

typedef struct tl_bundle_summary {
    uint64_t records;
    uint64_t record_bytes;
    uint64_t checkpoints;
    uint64_t checkpoint_size; /* the largest checkpoint exported */
} tl_bundle_summary;

/* Writes the bundle of l's records 0..size-1 (size as the export starts) and every
 * checkpoint of at most that size to the directory out, which must not exist (TL_ESTATE,
 * "bundle.exists"). progress may be NULL. On failure nothing is left at out. */
int tl_bundle_export(tl_bundle_summary *sum, tl_ledger *l, const char *out,
                     tl_bundle_progress_fn progress, void *progress_ctx, tl_error *err) TL_WUR;

/* ---------- reading ---------- */

typedef struct tl_bundle tl_bundle;

/* Opens the bundle in dir: checks that its parts exist and reads the verifier key line (raw,
 * not parsed) and admin.pub. On failure *where names the part at fault ("records",
 * "ledger.vkey", "admin.pub", ...; room for 64 bytes). */
int tl_bundle_open(tl_bundle **out, const char *dir, char *where, size_t where_cap, tl_error *err) TL_WUR;
void tl_bundle_close(tl_bundle *b);

/* The verifier key line as found in ledger.vkey (static for the life of b, NUL-terminated). */
const char *tl_bundle_vkey(const tl_bundle *b, size_t *len);
void tl_bundle_admin_key(const tl_bundle *b, uint8_t out[TL_PUBKEY_BYTES]);
/* The size of the records file in bytes. */
uint64_t tl_bundle_records_bytes(const tl_bundle *b);

/* Visits the records in file order, passing each one's position as its seq; fn's pointer is
 * valid during the call only. Stops when fn returns nonzero and returns that value. A file
 * that does not split into whole records is TL_ECORRUPT ("bundle.framing"). */
int tl_bundle_scan(tl_bundle *b, tl_record_fn fn, void *ctx, tl_error *err);

/* Visits every file of checkpoints/ in size order. A name that is not a plain decimal size is
 * TL_ECORRUPT ("bundle.checkpoint_name", path = the name). */
int tl_bundle_checkpoint_scan(tl_bundle *b, tl_checkpoint_fn fn, void *ctx, tl_error *err);

#endif
