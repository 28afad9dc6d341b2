/* A small blocking HTTP/1.1 client; see tl_http_client.h. */
#include "tl_http_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define READ_CHUNK 65536u

struct tl_http_client {
    tl_http_url url;
    int timeout_ms;
    int fd;
    uint8_t *buf; /* bytes read and not yet consumed: buf[pos..len) */
    size_t pos, len, cap;
};

int tl_http_url_parse(tl_http_url *out, const char *url, tl_error *err)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "http://", 7) != 0)
        return tl_fail(err, TL_EINVAL, "http.url", "url", "expected http://HOST[:PORT], not '%s'", url);
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hostport = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = NULL;
    const char *host = h;
    size_t hl = hostport;
    if (h[0] == '[') {
        const char *close = memchr(h, ']', hostport);
        if (close == NULL)
            return tl_fail(err, TL_EINVAL, "http.url", "url", "unterminated [IPv6] host in '%s'", url);
        host = h + 1;
        hl = (size_t)(close - h - 1);
        if (close + 1 < h + hostport) {
            if (close[1] != ':')
                return tl_fail(err, TL_EINVAL, "http.url", "url", "bad host in '%s'", url);
            colon = close + 1;
        }
    } else {
        colon = memchr(h, ':', hostport);
        if (colon)
            hl = (size_t)(colon - h);
    }
    if (hl == 0 || hl >= sizeof out->host)
        return tl_fail(err, TL_EINVAL, "http.url", "url", "no host in '%s'", url);
    memcpy(out->host, host, hl);
    if (colon) {
        size_t pl = (size_t)(h + hostport - colon - 1);
        if (pl == 0 || pl >= sizeof out->port)
            return tl_fail(err, TL_EINVAL, "http.url", "url", "bad port in '%s'", url);
        memcpy(out->port, colon + 1, pl);
        if (strspn(out->port, "0123456789") != pl)
            return tl_fail(err, TL_EINVAL, "http.url", "url", "bad port in '%s'", url);
    } else {
        strcpy(out->port, "80");
    }
    if (slash) {
        size_t pl = strlen(slash);
        while (pl > 0 && slash[pl - 1] == '/')
            pl--;
        if (pl >= sizeof out->prefix)
            return tl_fail(err, TL_EINVAL, "http.url", "url", "path too long in '%s'", url);
        memcpy(out->prefix, slash, pl);
    }
    return 0;
}

void tl_http_response_init(tl_http_response *r)
{
    memset(r, 0, sizeof *r);
    tl_buf_init(&r->body);
}

void tl_http_response_free(tl_http_response *r)
{
    tl_buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

static void disconnect(tl_http_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->pos = c->len = 0;
}

static int do_connect(tl_http_client *c, tl_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(c->url.host, c->url.port, &hints, &res);
    if (g != 0)
        return tl_fail(err, TL_EIO, "http.connect", "url", "cannot resolve %s: %s", c->url.host, gai_strerror(g));
    int saved = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            c->fd = fd;
            freeaddrinfo(res);
            return 0;
        }
        saved = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return tl_fail(err, TL_EIO, "http.connect", "url", "cannot connect to %s:%s: %s", c->url.host, c->url.port,
                   strerror(saved));
}

int tl_http_client_open(tl_http_client **out, const tl_http_url *url, int timeout_ms, tl_error *err)
{
    *out = NULL;
    tl_http_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    c->url = *url;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : TL_HTTP_TIMEOUT_MS_DEFAULT;
    c->fd = -1;
    int rc = do_connect(c, err);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void tl_http_client_close(tl_http_client *c)
{
    if (c == NULL)
        return;
    disconnect(c);
    free(c->buf);
    free(c);
}

static int send_all(tl_http_client *c, const void *data, size_t len, tl_error *err)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return tl_fail(err, TL_EIO, errno == EAGAIN || errno == EWOULDBLOCK ? "http.timeout" : "http.io", "",
                           "cannot send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into the buffer. 0, or TL_EIO; *eof set on a clean end of stream. */
static int fill(tl_http_client *c, bool *eof, tl_error *err)
{
    *eof = false;
    if (c->pos > 0 && c->pos == c->len)
        c->pos = c->len = 0;
    if (c->cap - c->len < READ_CHUNK) {
        if (c->pos > 0) {
            memmove(c->buf, c->buf + c->pos, c->len - c->pos);
            c->len -= c->pos;
            c->pos = 0;
        }
        if (c->cap - c->len < READ_CHUNK) {
            size_t ncap = c->cap ? c->cap * 2 : 2 * READ_CHUNK;
            uint8_t *nb = realloc(c->buf, ncap);
            if (nb == NULL)
                return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
            c->buf = nb;
            c->cap = ncap;
        }
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tl_fail(err, TL_EIO, errno == EAGAIN || errno == EWOULDBLOCK ? "http.timeout" : "http.io", "",
                           "cannot read the reply: %s", strerror(errno));
        if (n == 0)
            *eof = true;
        c->len += (size_t)n;
        return 0;
    }
}

/* One line (CRLF or LF) into out, without the line end. */
static int read_line(tl_http_client *c, char *out, size_t cap, bool *eof_before_any, tl_error *err)
{
    size_t scanned = 0;
    if (eof_before_any)
        *eof_before_any = false;
    for (;;) {
        uint8_t *nl = c->len > c->pos + scanned ? memchr(c->buf + c->pos + scanned, '\n', c->len - c->pos - scanned)
                                                : NULL;
        if (nl != NULL) {
            size_t n = (size_t)(nl - (c->buf + c->pos));
            size_t m = n > 0 && c->buf[c->pos + n - 1] == '\r' ? n - 1 : n;
            if (m >= cap)
                return tl_fail(err, TL_EINVAL, "http.protocol", "", "a header line is too long");
            memcpy(out, c->buf + c->pos, m);
            out[m] = '\0';
            c->pos += n + 1;
            return 0;
        }
        scanned = c->len - c->pos;
        if (scanned > TL_HTTP_HEADER_BYTES_MAX)
            return tl_fail(err, TL_EINVAL, "http.protocol", "", "a header line is too long");
        bool eof;
        int rc = fill(c, &eof, err);
        if (rc != 0)
            return rc;
        if (eof) {
            if (eof_before_any && c->len == c->pos)
                *eof_before_any = true;
            return tl_fail(err, TL_EIO, "http.io", "", "the server closed the connection");
        }
    }
}

static int read_exact(tl_http_client *c, tl_buf *out, size_t n, tl_error *err)
{
    while (n > 0) {
        if (c->len == c->pos) {
            bool eof;
            int rc = fill(c, &eof, err);
            if (rc != 0)
                return rc;
            if (eof)
                return tl_fail(err, TL_EIO, "http.io", "", "the reply ended early");
        }
        size_t take = c->len - c->pos < n ? c->len - c->pos : n;
        if (out->len + take > TL_HTTP_RESPONSE_BYTES_MAX)
            return tl_fail(err, TL_ETOOBIG, "http.too_large", "", "the reply is too large");
        if (tl_buf_append(out, c->buf + c->pos, take) != 0)
            return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        c->pos += take;
        n -= take;
    }
    return 0;
}

static int read_response(tl_http_client *c, const char *method, tl_http_response *resp, bool *retryable, tl_error *err)
{
    char line[8192];
    bool eof_first = false;
    *retryable = false;
    int rc = read_line(c, line, sizeof line, &eof_first, err);
    if (rc != 0) {
        *retryable = eof_first;
        return rc;
    }
    int minor = 0, status = 0;
    if (sscanf(line, "HTTP/1.%d %3d", &minor, &status) != 2 || status < 100 || status > 999)
        return tl_fail(err, TL_EINVAL, "http.protocol", "", "not an HTTP/1.x status line: %.60s", line);
    resp->status = status;
    long long content_length = -1;
    bool chunked = false, close_after = minor == 0;
    for (;;) {
        rc = read_line(c, line, sizeof line, NULL, err);
        if (rc != 0)
            return rc;
        if (line[0] == '\0')
            break;
        char *colon = strchr(line, ':');
        if (colon == NULL)
            return tl_fail(err, TL_EINVAL, "http.protocol", "", "malformed header: %.60s", line);
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Length") == 0) {
            char *end;
            content_length = strtoll(v, &end, 10);
            if (content_length < 0 || *end != '\0')
                return tl_fail(err, TL_EINVAL, "http.protocol", "", "bad Content-Length");
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            chunked = strcasecmp(v, "chunked") == 0;
        } else if (strcasecmp(line, "Connection") == 0) {
            close_after = strcasecmp(v, "close") == 0;
        } else if (strcasecmp(line, "Content-Type") == 0) {
            snprintf(resp->content_type, sizeof resp->content_type, "%s", v);
        } else if (strcasecmp(line, "Retry-After") == 0) {
            snprintf(resp->retry_after, sizeof resp->retry_after, "%s", v);
        }
    }
    bool no_body = strcmp(method, "HEAD") == 0 || status == 204 || status == 304 || status < 200;
    if (no_body) {
    } else if (chunked) {
        for (;;) {
            rc = read_line(c, line, sizeof line, NULL, err);
            if (rc != 0)
                return rc;
            char *end;
            unsigned long long n = strtoull(line, &end, 16);
            if (end == line)
                return tl_fail(err, TL_EINVAL, "http.protocol", "", "bad chunk size");
            if (n > TL_HTTP_RESPONSE_BYTES_MAX)
                return tl_fail(err, TL_ETOOBIG, "http.too_large", "", "the reply is too large");
            if (n == 0) {
                do { /* trailers, up to the blank line */
                    rc = read_line(c, line, sizeof line, NULL, err);
                    if (rc != 0)
                        return rc;
                } while (line[0] != '\0');
                break;
            }
            rc = read_exact(c, &resp->body, (size_t)n, err);
            if (rc == 0)
                rc = read_line(c, line, sizeof line, NULL, err);
            if (rc != 0)
                return rc;
        }
    } else if (content_length >= 0) {
        if ((unsigned long long)content_length > TL_HTTP_RESPONSE_BYTES_MAX)
            return tl_fail(err, TL_ETOOBIG, "http.too_large", "", "the reply is too large");
        rc = read_exact(c, &resp->body, (size_t)content_length, err);
        if (rc != 0)
            return rc;
    } else {
        for (;;) { /* until the server closes */
            if (c->len > c->pos) {
                if (resp->body.len + (c->len - c->pos) > TL_HTTP_RESPONSE_BYTES_MAX)
                    return tl_fail(err, TL_ETOOBIG, "http.too_large", "", "the reply is too large");
                if (tl_buf_append(&resp->body, c->buf + c->pos, c->len - c->pos) != 0)
                    return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
                c->pos = c->len;
            }
            bool eof;
            rc = fill(c, &eof, err);
            if (rc != 0)
                return rc;
            if (eof)
                break;
        }
        close_after = true;
    }
    if (close_after)
        disconnect(c);
    return 0;
}

int tl_http_request(tl_http_client *c, const char *method, const char *path, const char *const *headers,
                    const void *body, size_t len, tl_http_response *resp, tl_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        tl_buf_reset(&resp->body);
        resp->status = 0;
        resp->content_type[0] = '\0';
        resp->retry_after[0] = '\0';
        int rc = 0;
        if (c->fd < 0)
            rc = do_connect(c, err);
        if (rc != 0)
            return rc;
        tl_buf req;
        tl_buf_init(&req);
        char head[512];
        bool ok = tl_buf_append(&req, method, strlen(method)) == 0 && tl_buf_append(&req, " ", 1) == 0 &&
                  tl_buf_append(&req, c->url.prefix, strlen(c->url.prefix)) == 0 &&
                  tl_buf_append(&req, path, strlen(path)) == 0;
        int n = snprintf(head, sizeof head, " HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: techledger\r\n", c->url.host,
                         c->url.port);
        ok = ok && n > 0 && (size_t)n < sizeof head && tl_buf_append(&req, head, (size_t)n) == 0;
        for (const char *const *h = headers; ok && h != NULL && *h != NULL; h++)
            ok = tl_buf_append(&req, *h, strlen(*h)) == 0 && tl_buf_append(&req, "\r\n", 2) == 0;
        if (ok && (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)) {
            n = snprintf(head, sizeof head, "Content-Length: %zu\r\n", len);
            ok = tl_buf_append(&req, head, (size_t)n) == 0;
        }
        ok = ok && tl_buf_append(&req, "\r\n", 2) == 0;
        if (ok && len > 0)
            ok = tl_buf_append(&req, body, len) == 0;
        if (!ok) {
            tl_buf_free(&req);
            return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
        }
        rc = send_all(c, req.data, req.len, err);
        tl_buf_free(&req);
        bool retryable = rc != 0 && attempt == 0; /* a kept-alive connection the server had closed */
        if (rc == 0) {
            rc = read_response(c, method, resp, &retryable, err);
            retryable = retryable && attempt == 0;
        }
        if (rc == 0)
            return 0;
        disconnect(c);
        if (!retryable)
            return rc;
    }
    return tl_fail(err, TL_EIO, "http.io", "", "the server closed the connection");
}
