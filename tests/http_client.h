/*
 * Test helpers for the HTTP API: a real server on an ephemeral loopback port (in-process, on
 * its own threads, over a real ledger and views in a temporary directory), blocking requests,
 * raw bytes for malformed HTTP, and a server-sent-events reader. No mocks.
 */
#ifndef TL_TEST_HTTP_CLIENT_H
#define TL_TEST_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "testutil.h"
#include "tl_api.h"
#include "tl_http_client.h"
#include "tl_views.h"

/* The token and role lines the test server is configured with (tokens file in the ledger
 * directory). */
#define TH_AUDITOR_TOKEN "auditor-secret-token-1"
#define TH_STATS_TOKEN "statistics-secret-token-2"

typedef struct th_server {
    tl_test_ledger t;
    tl_views *views;
    tl_server *srv;
    uint16_t port;
    int log_fd; /* the access log, a file in the ledger directory */
    char log_path[512];
} th_server;

/* Creates a ledger (testutil's participants), opens its views, writes a tokens file and starts
 * a server on 127.0.0.1:0 with 2 loops and 2 workers. */
void th_start(th_server *s, const char *tag);
/* The same with a cap on open connections (0 = the default). */
void th_start_capped(th_server *s, const char *tag, unsigned connections_max);
/* Stops the server, closes views and ledger, removes the directory. */
void th_stop(th_server *s);

typedef struct th_resp {
    int status;
    char content_type[128];
    char *body; /* NUL-terminated */
    size_t len;
    json_t *json; /* parsed when the body is JSON, else NULL */
} th_resp;

/* One request on a fresh connection. headers: NULL or NULL-terminated "Name: value" lines. */
void th_request(uint16_t port, const char *method, const char *path, const char *const *headers, const void *body,
                size_t len, th_resp *r);
void th_get(uint16_t port, const char *path, th_resp *r);
/* GET with "Authorization: Bearer token". */
void th_get_auth(uint16_t port, const char *path, const char *token, th_resp *r);
/* POST with Content-Type: application/msgpack. */
void th_post(uint16_t port, const void *body, size_t len, th_resp *r);
void th_resp_free(th_resp *r);

/* Asserts a JSON error reply: status, "error" == rule, and when path is not NULL "path" == path. */
void th_assert_error(const th_resp *r, int status, const char *rule, const char *path);

/* Sends raw bytes and reads until the server closes or timeout_ms passes; returns the bytes read
 * (malloc'd, NUL-terminated) and fills *status from the first status line (0 when none). */
char *th_raw(uint16_t port, const void *bytes, size_t len, int timeout_ms, int *status);
/* The same, but half-closes the connection (shutdown SHUT_WR) once the bytes are sent, as a
 * client may after its last request; *out_len is the length of what was read. */
char *th_raw_half_closed(uint16_t port, const void *bytes, size_t len, int timeout_ms, size_t *out_len);

/* Server-sent events: opens GET path (with optional extra header line), checks the 200 and
 * text/event-stream, and returns a reader. */
typedef struct th_sse th_sse;
th_sse *th_sse_open(uint16_t port, const char *path, const char *header);
/* The next event's "data:" line (without the prefix) and its "id:"; comments are skipped.
 * Returns false on timeout or end of stream. */
bool th_sse_next(th_sse *s, char *data, size_t cap, uint64_t *id, int timeout_ms);
void th_sse_close(th_sse *s);

/* Builds a signed envelope for a JSON event (testutil's tl_test_envelope). */
void th_envelope(tl_buf *env, const tl_keypair *kp, const char *json);
/* A batch (MessagePack array) of the given envelopes. */
void th_batch(tl_buf *out, const tl_buf *envs, size_t n);

#endif
