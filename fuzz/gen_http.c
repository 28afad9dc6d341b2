/*
 * The seeds of fuzz_http: the bytes of one TCP connection each, against the ledger that
 * fuzz_http.c serves (fuzz_http.h). One valid request for every route and method of
 * docs/openapi.yaml, with each route's query parameters, the views also as CSV and with an
 * ETag; submissions of a signed envelope (created on the first run, a duplicate after), of a
 * batch, and of the same envelope sent chunked and after "Expect: 100-continue"; the access
 * levels (the auditor token, a wrong one, another scheme); several requests kept alive on one
 * connection; HTTP/1.0; and the malformed requests a client gets wrong (a bad query, an
 * unknown route, a method a route does not take, a body that is not MessagePack, a length
 * beyond every limit, a request line that is not HTTP). Every seed is well under 4 KiB, so
 * that the smoke driver's truncations and bit flips of all of them take seconds.
 *
 * A subscription (GET /v1/subscribe) is included: it never ends, and fuzz_http hangs up once
 * its head has arrived. Deterministic: fixed keys, ids and times.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_http.h"
#include "gen_corpus.h"
#include "tl_json_event.h"

#define GEN_HTTP_TIME_MS 1577836800000ull /* 2020-01-01T00:00:00Z */
#define SEED_BYTES_MAX 4096u

static void put(const char *name, const void *data, size_t len)
{
    if (len > SEED_BYTES_MAX)
        gen_die("an http seed is larger than 4 KiB");
    gen_put("http", name, data, len);
}

static void put_text(const char *name, const char *text) { put(name, text, strlen(text)); }

/* GET path with the usual Host header, then extra header lines (each ending in CRLF). */
static void put_get(const char *name, const char *path, const char *headers)
{
    char req[SEED_BYTES_MAX];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: fuzz\r\n%s\r\n", path, headers);
    if (n < 0 || (size_t)n >= sizeof req)
        gen_die("an http seed is larger than 4 KiB");
    put(name, req, (size_t)n);
}

/* A signed envelope for a JSON event (see tl_json_event.h). */
static void envelope(tl_buf *out, int signer, const char *json)
{
    json_error_t jerr;
    json_t *ev = json_loads(json, 0, &jerr);
    if (ev == NULL)
        gen_die(jerr.text);
    tl_keypair kp;
    fuzz_keypair(&kp, signer);
    tl_error err;
    if (tl_json_envelope(out, ev, &kp, GEN_HTTP_TIME_MS, &err) != 0)
        gen_die(err.msg);
    json_decref(ev);
}

/* A POST of body with the given head lines (request line included, each ending in CRLF). */
static void put_post(const char *name, const char *head, const void *body, size_t len)
{
    char req[SEED_BYTES_MAX];
    size_t hl = strlen(head);
    if (hl + len > sizeof req)
        gen_die("an http seed is larger than 4 KiB");
    memcpy(req, head, hl);
    memcpy(req + hl, body, len);
    put(name, req, hl + len);
}

static void put_submission(const char *name, const void *body, size_t len)
{
    char head[256];
    snprintf(head, sizeof head,
             "POST /v1/events HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/msgpack\r\n"
             "Content-Length: %zu\r\n\r\n",
             len);
    put_post(name, head, body, len);
}

/* The events the seeds submit; none of them is in the served ledger at first. */
static const char posted_contract[] =
    "{\"type\":\"contract.registered\",\"stream\":\"contract/" FUZZ_HTTP_CONTRACT_POSTED "\","
    "\"id\":\"00000000000000000000000000000201\",\"time\":1577836800000,\"expect\":0,\"data\":{"
    "\"reg_no\":\"" FUZZ_HTTP_CONTRACT_POSTED "\",\"class\":\"license\",\"subtype\":\"patent_license\","
    "\"seller\":\"tsinghua\",\"buyer\":\"acme\",\"seller_region\":\"110108\",\"buyer_region\":\"310000\","
    "\"field\":\"new_energy\",\"signed_on\":\"2020-01-01\",\"registered_on\":\"2020-01-02\","
    "\"total_fen\":3000000,\"tech_fen\":2000000,\"achievements\":[\"a1\"],\"title\":\"光伏专利许可\"}}";
static const char posted_payment[] =
    "{\"type\":\"payment.received\",\"stream\":\"contract/" FUZZ_HTTP_CONTRACT_SECRET "\","
    "\"id\":\"00000000000000000000000000000202\",\"time\":1577836800000,\"data\":{"
    "\"amount_fen\":5000,\"received_on\":\"2019-06-01\"}}";
static const char posted_achievement[] =
    "{\"type\":\"achievement.registered\",\"stream\":\"achievement/a2\",\"id\":\"00000000000000000000000000000203\","
    "\"time\":1577836800000,\"data\":{\"id\":\"a2\",\"title\":\"固态电池电解质\",\"owner\":\"tsinghua\","
    "\"field\":\"new_energy\",\"fiscal_funded\":false,\"confidentiality\":\"commercial_secret\"}}";

static void submissions(void)
{
    tl_buf one, batch;
    tl_buf_init(&one);
    tl_buf_init(&batch);
    envelope(&one, FUZZ_KEY_REGISTRY, posted_contract);
    put_submission("post-contract", one.data, one.len);

    /* a batch is a MessagePack array of envelopes */
    uint8_t two = 0x92;
    if (tl_buf_append(&batch, &two, 1) != 0)
        gen_die("out of memory");
    envelope(&batch, FUZZ_KEY_REGISTRY, posted_payment);
    envelope(&batch, FUZZ_KEY_REGISTRY, posted_achievement);
    put_submission("post-batch", batch.data, batch.len);

    /* the contract again, its body in two chunks */
    char head[SEED_BYTES_MAX];
    size_t half = one.len / 2;
    int n = snprintf(head, sizeof head,
                     "POST /v1/events HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/msgpack\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%zx\r\n",
                     half);
    tl_buf chunked;
    tl_buf_init(&chunked);
    char mid[32], end[] = "\r\n0\r\n\r\n";
    int m = snprintf(mid, sizeof mid, "\r\n%zx\r\n", one.len - half);
    if (tl_buf_append(&chunked, head, (size_t)n) != 0 || tl_buf_append(&chunked, one.data, half) != 0 ||
        tl_buf_append(&chunked, mid, (size_t)m) != 0 ||
        tl_buf_append(&chunked, one.data + half, one.len - half) != 0 ||
        tl_buf_append(&chunked, end, sizeof end - 1) != 0)
        gen_die("out of memory");
    put("post-chunked", chunked.data, chunked.len);
    tl_buf_free(&chunked);

    snprintf(head, sizeof head,
             "POST /v1/events HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/msgpack\r\n"
             "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n",
             one.len);
    put_post("post-expect-continue", head, one.data, one.len);

    /* refusals: JSON instead of MessagePack, no body, a body that is no envelope, a query,
     * a length beyond every limit (evhttp's own 413) */
    put_post("post-json", "POST /v1/events HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
                          "Content-Length: 2\r\n\r\n", "{}", 2);
    put_text("post-empty", "POST /v1/events HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/msgpack\r\n"
                           "Content-Length: 0\r\n\r\n");
    put_post("post-not-an-envelope", "POST /v1/events HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/msgpack\r\n"
                                     "Content-Length: 5\r\n\r\n", "\x94\x01\xc0\xc0\xc0", 5);
    put_post("post-query", "POST /v1/events?after=1 HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/msgpack\r\n"
                           "Content-Length: 1\r\n\r\n", "\x90", 1);
    put_text("post-huge-length", "POST /v1/events HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/msgpack\r\n"
                                 "Content-Length: 99999999999\r\n\r\n\x91");
    tl_buf_free(&one);
    tl_buf_free(&batch);
}

static void reads(void)
{
    put_get("get-healthz", "/healthz", "");
    put_get("get-metrics", "/metrics", "");
    put_get("get-dashboard", "/", "");
    put_get("get-index-html", "/index.html", "");
    put_get("get-app-js", "/app.js", "");
    put_get("get-style-css", "/style.css", "");
    put_get("get-checkpoint", "/v1/checkpoint", "");
    put_get("get-checkpoint-size", "/v1/checkpoint?size=" FUZZ_HTTP_CHECKPOINT_SIZE, "");
    put_get("get-events", "/v1/events?after=1&limit=3", "");
    put_get("get-event-proof", "/v1/events/5?proof=8", "");
    put_get("get-stream", "/v1/streams/contract/" FUZZ_HTTP_CONTRACT_PUBLIC "?after=0&limit=2&proof=8", "");
    put_get("get-stream-secret", "/v1/streams/contract/" FUZZ_HTTP_CONTRACT_SECRET, "");
    put_get("get-consistency", "/v1/proofs/consistency?from=3&to=8", "");
    put_get("get-subscribe", "/v1/subscribe?after=7", "");
    put_get("get-subscribe-last-id", "/v1/subscribe", "Last-Event-ID: 8\r\n");

    put_get("view-turnover", "/v1/views/turnover?by=year,seller_province,class&year=2019&as_of=2020-01-01", "");
    put_get("view-turnover-csv", "/v1/views/turnover?by=field,buyer_province,seller_kind&format=csv", "");
    put_get("view-turnover-etag", "/v1/views/turnover", "If-None-Match: \"0123456789abcdef\"\r\n");
    /* "*" matches whatever is current: a 304, which has no body, then the next reply */
    put_text("view-turnover-304", "GET /v1/views/turnover?by=year HTTP/1.1\r\nHost: fuzz\r\nIf-None-Match: *\r\n\r\n"
                                  "GET /v1/views/targets HTTP/1.1\r\nHost: fuzz\r\nIf-None-Match: W/\"x\", *\r\n\r\n"
                                  "GET /healthz HTTP/1.1\r\nHost: fuzz\r\n\r\n");
    put_get("view-funds", "/v1/views/funds?fund=guide", "");
    put_get("view-funds-csv", "/v1/views/funds?format=csv", "");
    put_get("view-loans", "/v1/views/loans?pool=pool-1&format=json", "");
    put_get("view-contract", "/v1/views/contracts/" FUZZ_HTTP_CONTRACT_PUBLIC "?proof=" FUZZ_HTTP_CHECKPOINT_SIZE, "");
    put_get("view-institution", "/v1/views/institutions/tsinghua", "");
    put_get("view-achievements", "/v1/views/achievements?field=new_energy&owner=tsinghua&limit=5", "");
    put_get("view-achievements-csv", "/v1/views/achievements?after=a0&format=csv", "");
    put_get("view-targets", "/v1/views/targets?format=csv", "");

    /* access levels: the secret contract's record, as the auditor, with a wrong token, with
     * another scheme */
    put_get("auth-auditor", "/v1/events/6", "Authorization: Bearer " FUZZ_HTTP_AUDITOR_TOKEN "\r\n");
    put_get("auth-auditor-view", "/v1/views/institutions/acme",
            "Authorization: Bearer " FUZZ_HTTP_AUDITOR_TOKEN "\r\n");
    put_get("auth-bad-token", "/v1/events/6", "Authorization: Bearer not-the-token\r\n");
    put_get("auth-basic", "/v1/events/6", "Authorization: Basic ZnV6ejpmdXp6\r\n");
}

static void connections(void)
{
    put_text("keep-alive", "GET /v1/events/6 HTTP/1.1\r\nHost: fuzz\r\n\r\n"
                           "GET /v1/streams/participant/registry-bj?limit=1 HTTP/1.1\r\nHost: fuzz\r\n\r\n"
                           "HEAD /v1/checkpoint HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n");
    put_text("http-1.0", "GET /v1/events?limit=2 HTTP/1.0\r\n\r\n");
    put_text("http-1.0-keep-alive", "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                    "GET /v1/checkpoint HTTP/1.0\r\n\r\n");
    put_text("absolute-uri", "GET http://fuzz/v1/events/1 HTTP/1.1\r\nHost: fuzz\r\n\r\n");

    put_get("bad-query", "/v1/events?limit=%zz&limit=2&x", "");
    put_get("bad-proof", "/v1/proofs/consistency?from=9&to=3", "");
    put_get("bad-seq", "/v1/events/99999999999999999999", "");
    put_get("bad-view", "/v1/views/turnover?by=planet&format=xml", "");
    put_get("unknown-route", "/v2/events", "");
    put_text("wrong-method", "DELETE /v1/events HTTP/1.1\r\nHost: fuzz\r\n\r\n"
                             "POST /v1/checkpoint HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 0\r\n\r\n"
                             "PUT /v1/subscribe HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 0\r\n\r\n");
    static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"; /* a TLS hello */
    put("not-http", tls, sizeof tls - 1);

    /* what fuzzing found (see the list in fuzz.h) */
    put_text("regress-http-version", "GET /healthz HTTP/1.7\r\n\r\nGET /healthz HTTP/0.1\r\n\r\n");
    put_text("regress-head-body", "HEAD /healthz HTTP/1.1\r\nHost: fuzz\r\n\r\nGET /v1/checkpoint HTTP/1.1\r\n\r\n");
    put_text("regress-utf8-path", "GET /v1/\xe8nope/%F0%9F HTTP/1.1\r\nHost: fuzz\r\n\r\n");
}

void gen_http_seeds(void)
{
    submissions();
    reads();
    connections();
}
