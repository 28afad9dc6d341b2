/*
 * Events, envelopes, batches and records: the byte forms of FORMAT.md sections 3-5.
 *
 *   body     = canonical map {data, expect?, id (bin 16), stream, time, type}   (<= 64 KiB)
 *   envelope = [1, body (bin), key (bin 32), sig (bin 64)]
 *   batch    = [envelope, ...]                                (<= 1 MiB, <= 10,000 envelopes)
 *   record   = [1, seq, recorded, version, body (bin), key (bin 32), sig (bin 64)]
 *
 * Decoding is strict: every structure goes through the canonical reader (tl_mp.h), so a
 * rejected input names the rule and the path. The body bytes are never re-encoded: what the
 * submitter signed is what the ledger stores and hashes.
 */
#ifndef TL_EVENT_H
#define TL_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_crypto.h"
#include "tl_mp.h"

#define TL_FORMAT_VERSION 1
#define TL_BODY_BYTES_MAX 65536u
#define TL_BATCH_BYTES_MAX (1u << 20)
#define TL_BATCH_EVENTS_MAX 10000u
#define TL_STREAM_BYTES_MAX 128u
#define TL_TYPE_BYTES_MAX 64u
#define TL_EVENT_ID_BYTES 16u
/* A record adds a fixed header to the body; this bounds any record the ledger can store. */
#define TL_RECORD_BYTES_MAX (TL_BODY_BYTES_MAX + 256u)

/* One event, decoded. Owns a copy of its body bytes (or borrows the caller's, see
 * tl_event_borrow_parts); the parsed document points into them. */
typedef struct tl_event {
    uint8_t *body; /* owned unless body_borrowed */
    size_t body_len;
    bool body_borrowed;
    uint8_t key[TL_PUBKEY_BYTES];
    uint8_t sig[TL_SIG_BYTES];
    tl_mp_doc doc; /* the parsed body; doc.nodes[0] is the body map */
    uint32_t data; /* node index of body.data (a map) */
    uint8_t id[TL_EVENT_ID_BYTES];
    char stream[TL_STREAM_BYTES_MAX + 1];
    size_t stream_len;
    char type[TL_TYPE_BYTES_MAX + 1];
    uint64_t time_ms;
    bool has_expect;
    uint64_t expect;
} tl_event;

/* Decodes one envelope (canonical) and its body. Does not check the signature or the schema.
 * On success ev owns its memory (tl_event_free); on failure it holds nothing. */
int tl_envelope_decode(tl_event *ev, const uint8_t *buf, size_t len, tl_error *err)
    __attribute__((warn_unused_result));

/* Decodes a body with its key and signature (as found in a record). */
int tl_event_from_parts(tl_event *ev, const uint8_t *body, size_t body_len,
                        const uint8_t key[TL_PUBKEY_BYTES], const uint8_t sig[TL_SIG_BYTES],
                        tl_error *err) __attribute__((warn_unused_result));

/* Like tl_event_from_parts, but the event points at the caller's body bytes instead of a copy,
 * and its parsed body fills the caller's array of cap nodes first (NULL: none; a larger body
 * allocates, see tl_mp_parse_into). Both must stay untouched until tl_event_free; afterwards
 * ev->doc.borrowed says whether the nodes array holds the body (ev->doc.count nodes of it).
 * For a reader that holds the records anyway and drops the events first (the audit's chunks),
 * it saves two allocations and a copy per event. */
int tl_event_borrow_parts(tl_event *ev, const uint8_t *body, size_t body_len,
                          const uint8_t key[TL_PUBKEY_BYTES], const uint8_t sig[TL_SIG_BYTES],
                          tl_mp_node *nodes, uint32_t cap, tl_error *err) __attribute__((warn_unused_result));

/* The stateless checks: the signature over the body, then the event schema (tl_schema.h). */
int tl_event_check(const tl_event *ev, tl_error *err) __attribute__((warn_unused_result));

/* decode + check, the work a submitter's thread does before the sequencer sees the event. */
int tl_event_prepare(tl_event *ev, const uint8_t *envelope, size_t len, tl_error *err)
    __attribute__((warn_unused_result));

/* Like tl_event_prepare, but the event borrows instead of copying: its body points into the
 * envelope's bytes and its parsed body fills the caller's array of cap nodes first (a larger
 * body allocates, see tl_mp_parse_into). Both must stay untouched until tl_event_free (for an
 * event handed to the ledger: until its callback has run). For the server, whose request
 * bodies outlive their events anyway: it saves two allocations and a copy per event, and the
 * sequencer thread frees nothing of the submitter's. */
int tl_event_prepare_borrow(tl_event *ev, const uint8_t *envelope, size_t len, tl_mp_node *nodes, uint32_t cap,
                            tl_error *err) __attribute__((warn_unused_result));

void tl_event_free(tl_event *ev);

/* A byte range inside a caller's buffer. */
typedef struct tl_span {
    const uint8_t *ptr;
    size_t len;
} tl_span;

/* Splits a submission into envelopes. A single envelope ([1, ...]) gives one span and
 * *is_batch = false; a batch ([[1, ...], ...]) gives one span per envelope. Each span is a
 * whole envelope's bytes; envelopes are judged one by one later, so a malformed envelope
 * inside a well-formed batch array does not fail the split. *spans is malloc'd (caller
 * frees). */
int tl_submission_split(tl_span **spans, size_t *n, bool *is_batch, const uint8_t *buf, size_t len,
                        tl_error *err) __attribute__((warn_unused_result));

/* A record, decoded; pointers refer into the buffer it was decoded from. */
typedef struct tl_record {
    uint64_t seq;
    uint64_t recorded_ms;
    uint64_t version;
    const uint8_t *body;
    size_t body_len;
    const uint8_t *key; /* 32 bytes */
    const uint8_t *sig; /* 64 bytes */
} tl_record;

/* Canonical decode of a record's outer array (the body is not parsed here). */
int tl_record_decode(tl_record *out, const uint8_t *buf, size_t len, tl_error *err)
    __attribute__((warn_unused_result));
/* Appends the record's canonical bytes to out. */
int tl_record_encode(tl_buf *out, const tl_record *r) __attribute__((warn_unused_result));

/* Builds a signed envelope: the body from its parts (data is an already-canonical map) and the
 * signature with kp. Used by `techledger sign`, the demo and tests. */
typedef struct tl_event_draft {
    const char *type;
    const char *stream;
    uint8_t id[TL_EVENT_ID_BYTES];
    uint64_t time_ms;
    bool has_expect;
    uint64_t expect;
    const uint8_t *data; /* canonical MessagePack map */
    size_t data_len;
} tl_event_draft;

int tl_body_encode(tl_buf *out, const tl_event_draft *d) __attribute__((warn_unused_result));
int tl_envelope_build(tl_buf *out, const tl_event_draft *d, const tl_keypair *kp)
    __attribute__((warn_unused_result));
/* Wraps already-signed parts into an envelope. */
int tl_envelope_wrap(tl_buf *out, const uint8_t *body, size_t body_len,
                     const uint8_t key[TL_PUBKEY_BYTES], const uint8_t sig[TL_SIG_BYTES])
    __attribute__((warn_unused_result));

#endif
