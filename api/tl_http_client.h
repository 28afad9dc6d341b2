/*
 * A small blocking HTTP/1.1 client for `techledger submit --server`, `techledger get --server`
 * and the tests: one keep-alive connection, requests one after another, responses with
 * Content-Length, chunked transfer coding, or a body that ends with the connection.
 *
 * Not a general client: no TLS, no redirects, no proxies; URLs are http://HOST[:PORT][/PREFIX].
 * Errors: "http.url" (TL_EINVAL), "http.connect", "http.io", "http.timeout" (TL_EIO),
 * "http.protocol" (TL_EINVAL: the server's reply is not HTTP/1.x we can read),
 * "http.too_large" (TL_ETOOBIG).
 */
#ifndef TL_HTTP_CLIENT_H
#define TL_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "tl_error.h"
#include "tl_mp.h"

#define TL_HTTP_RESPONSE_BYTES_MAX (256u << 20)
#define TL_HTTP_HEADER_BYTES_MAX (64u * 1024u)
#define TL_HTTP_TIMEOUT_MS_DEFAULT 30000

typedef struct tl_http_url {
    char host[256];
    char port[8];
    char prefix[256]; /* path prefix without a trailing '/', "" for none */
} tl_http_url;

int tl_http_url_parse(tl_http_url *out, const char *url, tl_error *err) __attribute__((warn_unused_result));

typedef struct tl_http_response {
    int status;
    char content_type[128];
    char retry_after[16];
    tl_buf body;
} tl_http_response;

void tl_http_response_init(tl_http_response *r);
void tl_http_response_free(tl_http_response *r);

typedef struct tl_http_client tl_http_client;

/* Connects (lazily reconnects later when the server has closed the connection). */
int tl_http_client_open(tl_http_client **out, const tl_http_url *url, int timeout_ms, tl_error *err)
    __attribute__((warn_unused_result));
void tl_http_client_close(tl_http_client *c);

/* Sends one request and reads the whole response. path starts with '/' and is appended to
 * the URL's prefix. headers: NULL or a NULL-terminated list of "Name: value" lines. A request
 * that finds the kept-alive connection closed by the server before any reply byte is sent once
 * more on a new connection. Any HTTP status is a success here: look at resp->status. */
int tl_http_request(tl_http_client *c, const char *method, const char *path, const char *const *headers,
                    const void *body, size_t len, tl_http_response *resp, tl_error *err)
    __attribute__((warn_unused_result));

#endif
