/* Test helpers for the HTTP API; see http_client.h. */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void write_tokens(const char *dir)
{
    char path[512], line[256], hex[65];
    uint8_t h[32];
    snprintf(path, sizeof path, "%s/tokens", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# test tokens\n");
    tl_sha256(h, TH_AUDITOR_TOKEN, strlen(TH_AUDITOR_TOKEN));
    tl_hex_encode(hex, h, 32);
    snprintf(line, sizeof line, "auditor %s\n", hex);
    fputs(line, f);
    tl_sha256(h, TH_STATS_TOKEN, strlen(TH_STATS_TOKEN));
    tl_hex_encode(hex, h, 32);
    snprintf(line, sizeof line, "statistics %s\n", hex);
    fputs(line, f);
    fclose(f);
}

void th_start(th_server *s, const char *tag) { th_start_capped(s, tag, 0); }

void th_start_capped(th_server *s, const char *tag, unsigned connections_max)
{
    signal(SIGPIPE, SIG_IGN); /* as `techledger serve` does: a vanished client is not fatal */
    memset(s, 0, sizeof *s);
    tl_test_ledger_create(&s->t, tag);
    tl_error err;
    tl_error_clear(&err);
    if (tl_views_open(&s->views, s->t.l, NULL, &err) != 0)
        fail_msg("views: %s: %s", err.rule, err.msg);
    write_tokens(s->t.dir);
    char tokens[512];
    snprintf(tokens, sizeof tokens, "%s/tokens", s->t.dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/access.log", s->t.dir);
    s->log_fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(s->log_fd >= 0);
    tl_server_options o = {.listen = "127.0.0.1:0", .loops = 2, .workers = 2, .tokens_path = tokens,
                           .access_log_fd = s->log_fd, .connections_max = connections_max};
    if (tl_server_start(&s->srv, s->t.l, s->views, &o, &err) != 0)
        fail_msg("server: %s: %s", err.rule, err.msg);
    s->port = tl_server_port(s->srv);
    assert_true(s->port > 0);
}

void th_stop(th_server *s)
{
    tl_server_free(s->srv);
    tl_views_close(s->views);
    close(s->log_fd);
    tl_test_ledger_destroy(&s->t);
    memset(s, 0, sizeof *s);
}

void th_request(uint16_t port, const char *method, const char *path, const char *const *headers, const void *body,
                size_t len, th_resp *r)
{
    memset(r, 0, sizeof *r);
    tl_http_url url;
    tl_error err;
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%u", (unsigned)port);
    assert_int_equal(tl_http_url_parse(&url, u, &err), 0);
    tl_http_client *c;
    if (tl_http_client_open(&c, &url, 20000, &err) != 0)
        fail_msg("connect: %s", err.msg);
    tl_http_response resp;
    tl_http_response_init(&resp);
    if (tl_http_request(c, method, path, headers, body, len, &resp, &err) != 0)
        fail_msg("%s %s: %s: %s", method, path, err.rule, err.msg);
    tl_http_client_close(c);
    r->status = resp.status;
    snprintf(r->content_type, sizeof r->content_type, "%s", resp.content_type);
    r->body = malloc(resp.body.len + 1);
    assert_non_null(r->body);
    if (resp.body.len)
        memcpy(r->body, resp.body.data, resp.body.len);
    r->body[resp.body.len] = '\0';
    r->len = resp.body.len;
    tl_http_response_free(&resp);
    if (strncmp(r->content_type, "application/json", 16) == 0 && r->len > 0) {
        json_error_t jerr;
        r->json = json_loadb(r->body, r->len, 0, &jerr);
        if (r->json == NULL)
            fail_msg("%s %s: invalid JSON (%s): %s", method, path, jerr.text, r->body);
    }
}

void th_get(uint16_t port, const char *path, th_resp *r) { th_request(port, "GET", path, NULL, NULL, 0, r); }

void th_get_auth(uint16_t port, const char *path, const char *token, th_resp *r)
{
    char h[512];
    snprintf(h, sizeof h, "Authorization: Bearer %s", token);
    const char *headers[] = {h, NULL};
    th_request(port, "GET", path, headers, NULL, 0, r);
}

void th_post(uint16_t port, const void *body, size_t len, th_resp *r)
{
    static const char *const headers[] = {"Content-Type: application/msgpack", NULL};
    th_request(port, "POST", "/v1/events", headers, body, len, r);
}

void th_resp_free(th_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void th_assert_error(const th_resp *r, int status, const char *rule, const char *path)
{
    if (r->status != status || r->json == NULL)
        fail_msg("expected %d %s, got %d: %s", status, rule, r->status, r->body);
    const char *got = json_string_value(json_object_get(r->json, "error"));
    if (got == NULL || strcmp(got, rule) != 0)
        fail_msg("expected error %s, got: %s", rule, r->body);
    assert_non_null(json_object_get(r->json, "message"));
    if (path != NULL) {
        const char *p = json_string_value(json_object_get(r->json, "path"));
        if (p == NULL || strcmp(p, path) != 0)
            fail_msg("expected path %s, got: %s", path, r->body);
    }
}

static int connect_local(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect: %s", strerror(errno));
    return fd;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *raw_exchange(uint16_t port, const void *bytes, size_t len, int timeout_ms, bool half_close,
                          size_t *out_len)
{
    int fd = connect_local(port);
    const uint8_t *p = bytes;
    size_t left = len;
    while (left > 0) {
        ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close early (that is what some tests check) */
        p += n;
        left -= (size_t)n;
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    size_t cap = 65536, got = 0;
    char *out = malloc(cap + 1);
    assert_non_null(out);
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
            break;
        if (got == cap) {
            cap *= 2;
            out = realloc(out, cap + 1);
            assert_non_null(out);
        }
        ssize_t n = recv(fd, out + got, cap - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    out[got] = '\0';
    *out_len = got;
    return out;
}

char *th_raw(uint16_t port, const void *bytes, size_t len, int timeout_ms, int *status)
{
    size_t got;
    char *out = raw_exchange(port, bytes, len, timeout_ms, false, &got);
    if (sscanf(out, "HTTP/1.%*d %d", status) != 1)
        *status = 0;
    return out;
}

char *th_raw_half_closed(uint16_t port, const void *bytes, size_t len, int timeout_ms, size_t *out_len)
{
    return raw_exchange(port, bytes, len, timeout_ms, true, out_len);
}

/* ---------- server-sent events ---------- */

struct th_sse {
    int fd;
    char raw[1 << 16]; /* bytes from the socket, chunk framing included */
    size_t raw_len;
    char *data; /* decoded event-stream text */
    size_t data_len, data_cap;
};

static bool sse_fill(th_sse *s, uint64_t deadline)
{
    uint64_t now = mono_ms();
    if (now >= deadline)
        return false;
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
    if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
        return false;
    ssize_t n = recv(s->fd, s->raw + s->raw_len, sizeof s->raw - s->raw_len, 0);
    if (n <= 0)
        return false;
    s->raw_len += (size_t)n;
    return true;
}

/* Moves whole chunks from raw to data. */
static void sse_dechunk(th_sse *s)
{
    for (;;) {
        char *crlf = memmem(s->raw, s->raw_len, "\r\n", 2);
        if (crlf == NULL)
            return;
        unsigned long size = strtoul(s->raw, NULL, 16);
        size_t head = (size_t)(crlf - s->raw) + 2;
        if (s->raw_len < head + size + 2)
            return;
        if (s->data_len + size + 1 > s->data_cap) {
            s->data_cap = (s->data_len + size + 1) * 2;
            s->data = realloc(s->data, s->data_cap);
            assert_non_null(s->data);
        }
        memcpy(s->data + s->data_len, s->raw + head, size);
        s->data_len += size;
        s->data[s->data_len] = '\0';
        memmove(s->raw, s->raw + head + size + 2, s->raw_len - head - size - 2);
        s->raw_len -= head + size + 2;
    }
}

th_sse *th_sse_open(uint16_t port, const char *path, const char *header)
{
    th_sse *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->fd = connect_local(port);
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s%s\r\n",
                     path, header ? header : "", header ? "\r\n" : "");
    assert_int_equal(send(s->fd, req, (size_t)n, MSG_NOSIGNAL), n);
    uint64_t deadline = mono_ms() + 10000;
    char *end;
    while ((end = memmem(s->raw, s->raw_len, "\r\n\r\n", 4)) == NULL)
        if (!sse_fill(s, deadline))
            fail_msg("no reply headers to GET %s", path);
    *end = '\0';
    if (strncmp(s->raw, "HTTP/1.1 200", 12) != 0 || strstr(s->raw, "text/event-stream") == NULL ||
        strstr(s->raw, "chunked") == NULL)
        fail_msg("not an event stream: %s", s->raw);
    size_t head = (size_t)(end - s->raw) + 4;
    memmove(s->raw, s->raw + head, s->raw_len - head);
    s->raw_len -= head;
    return s;
}

bool th_sse_next(th_sse *s, char *data, size_t cap, uint64_t *id, int timeout_ms)
{
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        sse_dechunk(s);
        char *blank = s->data ? strstr(s->data, "\n\n") : NULL;
        if (blank != NULL) {
            size_t ev_len = (size_t)(blank - s->data) + 2;
            bool found = false;
            *id = 0;
            data[0] = '\0';
            for (char *line = s->data; line < blank;) {
                char *nl = strchr(line, '\n');
                *nl = '\0';
                if (strncmp(line, "data: ", 6) == 0) {
                    snprintf(data, cap, "%s", line + 6);
                    found = true;
                } else if (strncmp(line, "id: ", 4) == 0) {
                    *id = strtoull(line + 4, NULL, 10);
                }
                line = nl + 1;
            }
            memmove(s->data, s->data + ev_len, s->data_len - ev_len + 1);
            s->data_len -= ev_len;
            if (found)
                return true;
            continue; /* a comment or retry line */
        }
        if (!sse_fill(s, deadline))
            return false;
    }
}

void th_sse_close(th_sse *s)
{
    close(s->fd);
    free(s->data);
    free(s);
}

void th_envelope(tl_buf *env, const tl_keypair *kp, const char *json) { tl_test_envelope(env, kp, json); }

void th_batch(tl_buf *out, const tl_buf *envs, size_t n)
{
    tl_buf_init(out);
    tl_mp_writer w;
    tl_mp_writer_init(&w, out);
    tl_mp_array(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tl_buf_append(out, envs[i].data, envs[i].len), 0);
}
