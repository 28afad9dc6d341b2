/*
 * The HTTP API: `techledger serve` (BRIEF.md "Interface", FORMAT.md sections 10-11).
 *
 * Threads. evhttp is not thread-safe, so the server runs N event loops, each with its own
 * event_base and evhttp, each accepting from its own listening socket on the same port
 * (SO_REUSEPORT: the kernel spreads new connections evenly over the loops). A connection stays
 * on the loop that accepted it.
 * Reads (records, proofs, checkpoints) are answered on that loop: each is a handful of
 * RocksDB point reads with bounded output. A view is answered on the loop only from the reply
 * cache; a miss runs the view query on a render thread (a view may fold many entries), so a
 * long query never holds up the loop (api/views.c). Submissions are not answered on the loop either: the loop only checks the
 * request's shape and hands the body to a pool of worker threads, which decode and verify
 * every envelope (tl_event_prepare, the Ed25519 work, spread over all cores) and queue the
 * events to the sequencer in request order. The sequencer's callback runs on the ledger's
 * writer thread after the group commit is durable; it puts the finished request on its loop's
 * completion queue and wakes the loop (event_active), which sends the reply. No loop ever waits
 * for an fsync, a signature check or another thread.
 *
 * Every request ends in exactly one reply. Errors are JSON {"error": "<stable rule>",
 * "message": "...", "path": "..."}; the rule names are those of tl_error (tl_schema.h,
 * tl_mp.h, ...) plus the API's own: route.not_found, route.method, request.too_large,
 * request.uri_too_long, request.content_type, request.empty, request.version (not HTTP/1.0
 * or 1.1; a later 1.x is served as 1.1), query.unknown, query.duplicate, query.invalid,
 * query.encoding, query.required, path.invalid, auth.scheme, auth.invalid_token,
 * record.not_found, stream.not_found, server.busy, server.stopping, server.connections,
 * views.unavailable, and for what evhttp refuses before our handler sees the request:
 * request.malformed (400: a request line or headers it cannot parse, or headers beyond
 * TL_API_HEADERS_BYTES_MAX), request.too_large (413: a body beyond TL_API_BODY_BACKSTOP_BYTES)
 * and request.method (501 for a method it does not know, as RFC 9110 section 9.1 asks). Those
 * three close the connection; server.c replaces libevent's evhttp_send_error, whose HTML page
 * libevent 2.1 offers no hook to change.
 *
 * Connections: the cap counts connections from their first request to their close (evhttp
 * 2.1 does not report a connection before it sends a request); connections that never send
 * one are closed by the read timeout. Access to the ledger from the loops is read-only.
 *
 * Access. Writes are authorised by event signatures alone. Readers are public unless they send
 * "Authorization: Bearer <token>" with a token configured for the server: the tokens file has
 * one "role sha256hex" line per token (role: auditor, statistics, fund_manager), so the file
 * never holds a usable secret; a presented token is hashed and compared with every entry in
 * constant time. A public reader sees a record of an achievement or contract that is not
 * public (and the events on such a contract, and equity deals on such an achievement) only as
 * its seq and leaf hash, which still verifies against every checkpoint.
 *
 * Ownership: the server borrows the ledger and the views; both must stay open until
 * tl_server_free returns. The process should ignore SIGPIPE (a client that vanishes while a
 * reply is written must not end it); `techledger serve` does.
 */
#ifndef TL_API_H
#define TL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tl_error.h"
#include "tl_ledger.h"
#include "tl_views.h"

#define TL_API_LISTEN_DEFAULT "127.0.0.1:8080"
/* A submission holds at most TL_BATCH_BYTES_MAX; the requests we accept are that plus a little
 * (headers are counted separately). evhttp's own limit sits above ours, so that a body a bit
 * too large still gets our JSON 413; only a body beyond the backstop gets evhttp's plain one. */
#define TL_API_BODY_BYTES_MAX ((size_t)TL_BATCH_BYTES_MAX)
#define TL_API_BODY_BACKSTOP_BYTES ((size_t)TL_BATCH_BYTES_MAX + 64u * 1024u)
#define TL_API_HEADERS_BYTES_MAX (16u * 1024u) /* request line and headers together */
#define TL_API_URI_BYTES_MAX 4096u
#define TL_API_TIMEOUT_S 30                  /* read and write timeout per connection */
#define TL_API_CONNECTIONS_MAX 4096u         /* open connections over all loops */
#define TL_API_LOOPS_MAX 16u
#define TL_API_WORKERS_MAX 16u
/* Bytes of submissions accepted but not yet answered; beyond it a POST gets 503 server.busy.
 * Bounds the memory held by decoded events waiting for the sequencer. */
#define TL_API_INFLIGHT_BYTES_MAX (32u << 20)
/* Events queued to the sequencer and not yet answered; kept below TL_QUEUE_EVENTS_MAX so the
 * sequencer never refuses one of ours as busy (workers wait for room instead). */
#define TL_API_LEDGER_INFLIGHT_MAX (TL_QUEUE_EVENTS_MAX / 2u)
#define TL_API_CHUNK_EVENTS 64u          /* envelopes one worker verifies before looking up */
#define TL_API_LIST_DEFAULT 100u         /* records in one page of /v1/events, /v1/streams */
#define TL_API_LIST_MAX 1000u
#define TL_API_SUBSCRIBERS_MAX 1024u     /* open /v1/subscribe streams over all loops */
#define TL_API_SSE_BATCH_RECORDS 256u    /* records per chunk while a subscriber catches up */
#define TL_API_SSE_HEARTBEAT_S 15        /* comment line that keeps idle proxies open */
#define TL_API_TOKENS_MAX 256u
/* The view reply cache (api/views.c): bytes of stored replies and keys, evicted least recently
 * used first; a reply larger than an eighth of it is rendered but not stored. */
#define TL_API_VIEW_CACHE_BYTES_DEFAULT (32u << 20)
#define TL_API_RENDERERS_MAX 16u         /* threads that run view queries off the loops */
#define TL_API_DRAIN_POLL_MS 10u         /* how often a stopping loop looks for in-flight work */
#define TL_API_DRAIN_FLUSH_MS 2000u      /* a stopping loop waits this long for replies to be sent */
/* Access log lines waiting for the logger thread; beyond it lines are dropped (and counted in
 * /metrics), so a stalled log reader can never stall a loop. */
#define TL_API_ACCESS_LOG_BUFFER_BYTES (1u << 20)

typedef struct tl_server tl_server;

typedef struct tl_server_options {
    const char *listen;       /* "HOST:PORT" (IPv4, or [IPv6]:PORT); NULL = TL_API_LISTEN_DEFAULT;
                                 port 0 picks a free port (tl_server_port tells which) */
    unsigned loops;           /* event loops; 0 = one per CPU */
    unsigned workers;         /* verifying threads; 0 = one per CPU */
    const char *tokens_path;  /* bearer tokens file; NULL = no tokens (every reader is public) */
    int access_log_fd;        /* one JSON line per request; -1 = no access log */
    unsigned connections_max; /* 0 = TL_API_CONNECTIONS_MAX */
    size_t view_cache_bytes;  /* 0 = TL_API_VIEW_CACHE_BYTES_DEFAULT */
} tl_server_options;

/* Binds, loads the tokens and starts the loops and workers: the server is answering when this
 * returns 0. views may be NULL (view routes answer 503 views.unavailable). Errors: "listen.address"
 * (TL_EINVAL), "listen.bind" (TL_EIO), the tokens file's rules (see tl_api_tokens_load). */
int tl_server_start(tl_server **out, tl_ledger *l, tl_views *views, const tl_server_options *opt,
                    tl_error *err) __attribute__((warn_unused_result));

/* The bound port (useful with port 0). */
uint16_t tl_server_port(const tl_server *s);

/* Asks the server to stop: stop accepting, answer new requests on open connections with 503
 * server.stopping, end subscriptions, wait for every accepted submission to be answered.
 * Callable from any thread (not from a signal handler: use sigwait). Returns at once. */
void tl_server_stop(tl_server *s);

/* Waits until the server has stopped (after tl_server_stop) and every thread has ended. */
void tl_server_wait(tl_server *s);

/* Stops if needed, waits, and frees. NULL is a no-op. The ledger is not closed. */
void tl_server_free(tl_server *s);

/* Open connections over all loops (for tests and /metrics). */
size_t tl_server_connections(tl_server *s);

/* ---------- tokens ---------- */

typedef struct tl_api_token {
    tl_access access;
    uint8_t hash[32]; /* SHA-256 of the token's bytes */
} tl_api_token;

typedef struct tl_api_tokens {
    size_t n;
    tl_api_token t[TL_API_TOKENS_MAX];
} tl_api_tokens;

/* Parses a tokens file: lines "role sha256hex", '#' comments and blank lines allowed. Rules:
 * "tokens.line" (TL_EINVAL, path "line N") for a malformed line, "tokens.role" for a role other
 * than auditor, statistics, fund_manager, "tokens.count" beyond TL_API_TOKENS_MAX, I/O errors. */
int tl_api_tokens_load(tl_api_tokens *out, const char *path, tl_error *err)
    __attribute__((warn_unused_result));
int tl_api_tokens_parse(tl_api_tokens *out, const char *text, size_t len, tl_error *err)
    __attribute__((warn_unused_result));

/* The access level of an Authorization header value (NULL = none: public). Compares against
 * every entry in constant time. TL_EDENIED with "auth.scheme" (not "Bearer <token>") or
 * "auth.invalid_token" (no such token). */
int tl_api_authorize(tl_access *out, const tl_api_tokens *tokens, const char *authorization,
                     tl_error *err) __attribute__((warn_unused_result));

/* ---------- records as JSON (shared with `techledger get`) ---------- */

/* Remembers which contract and achievement streams are not public; thread-safe. */
typedef struct tl_api_secrets tl_api_secrets;
tl_api_secrets *tl_api_secrets_new(void);
void tl_api_secrets_free(tl_api_secrets *s);

/* Is the event one a public reader may not see in full? achievement.registered and
 * contract.registered with a confidentiality other than public; the later events of such a
 * contract; equity.recorded on such an achievement. Reads the stream's first record when
 * needed. cache may be NULL. */
int tl_api_event_secret(bool *secret, tl_api_secrets *cache, tl_ledger *l, const tl_event *ev,
                        tl_error *err) __attribute__((warn_unused_result));

/* The JSON of one record (FORMAT.md section 11):
 *   {"seq", "recorded", "stream", "version", "type", "leaf_hash", "key", "record", "event"}
 * or, when the reader may not see it, {"seq", "redacted": true, "leaf_hash"}. With
 * proof_size > 0 adds "proof": {"tree_size", "leaf_hash", "hashes"}. *out is a new reference. */
int tl_api_record_json(json_t **out, tl_ledger *l, tl_api_secrets *cache, tl_access access,
                       const uint8_t *rec, size_t len, uint64_t proof_size, tl_error *err)
    __attribute__((warn_unused_result));

/* The inclusion proof of seq in the tree of size records as JSON. */
int tl_api_proof_json(json_t **out, tl_ledger *l, uint64_t seq, uint64_t size,
                      const uint8_t leaf_hash[TL_HASH_BYTES], tl_error *err)
    __attribute__((warn_unused_result));

/* 1..TL_STREAM_BYTES_MAX bytes of [a-z0-9._:/-] (FORMAT.md section 3). */
bool tl_api_stream_valid(const char *s);

/* The HTTP status for a tl_error code (400 malformed, 403 denied, 409 conflict, ...). */
int tl_api_status_for(int code);

#endif
