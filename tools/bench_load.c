/*
 * `techledger bench`: an HTTP/1.1 load generator for loopback servers.
 *
 * Each connection is kept alive and carries one request at a time (no pipelining): the
 * client measures what a caller waiting for its reply sees. Connections are spread over a few
 * epoll threads (edge-triggered: each socket is registered once for reading and writing and
 * drained until EAGAIN). Every latency is kept, so percentiles are exact rather than read off
 * a histogram. Replies must carry Content-Length (evhttp and nginx both send it for these
 * routes); a chunked reply counts as a failure.
 *
 * The same generator drives techledger and nginx in the view comparison, with the same
 * connections and duration, so the two figures differ only in the server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench_common.h"

#define LOAD_HEAD_BYTES 2048u
#define LOAD_REPLY_HEADERS_MAX (64u * 1024u)
#define LOAD_REPLY_BYTES_MAX (64u << 20)
#define LOAD_READ_BYTES 65536u
#define LOAD_CONNECTIONS_MAX 4096u
#define LOAD_THREADS_MAX 16u
#define LOAD_EVENTS_MAX 256
#define LOAD_POLL_MS 5
#define LOAD_TIMEOUT_DEFAULT_S 30.0

typedef struct lconn {
    int fd;
    bool busy;
    bool dead;
    bench_request req;
    char head[LOAD_HEAD_BYTES];
    size_t head_len;
    size_t sent; /* bytes of head and body sent */
    uint8_t *in;
    size_t in_len, in_cap;
    size_t hdr_len; /* 0 until the reply's headers are complete */
    size_t want;    /* total reply bytes once known */
    int status;
    bool close_after;
    double t0;
} lconn;

typedef struct load_shared {
    const bench_load_options *opt;
    pthread_mutex_t mu;
    bool exhausted;
    double end_at; /* 0 = no deadline */
    bench_load_result *res;
    double first_start, last_done;
} load_shared;

typedef struct load_thread {
    load_shared *sh;
    lconn *conns;
    unsigned n;
    int ep;
    bench_samples lat;
    double cpu_s;
    pthread_t tid;
} load_thread;

static void note_failure(load_shared *sh, const char *what, const char *detail)
{
    pthread_mutex_lock(&sh->mu);
    sh->res->failures++;
    if (sh->res->first_failure[0] == '\0')
        snprintf(sh->res->first_failure, sizeof sh->res->first_failure, "%s%s%s", what, detail[0] ? ": " : "",
                 detail);
    pthread_mutex_unlock(&sh->mu);
}

static void conn_close(lconn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* closing removes it from the epoll set */
    c->fd = -1;
    c->busy = false;
}

static int conn_open(load_thread *t, lconn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(t->sh->opt->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* A blocking connect: on loopback it completes at once, and it keeps the state machine to
     * requests and replies. */
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto fail;
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        goto fail;
    return 0;
fail:
    close(c->fd);
    c->fd = -1;
    return -1;
}

/* Sends what remains of the request; 0 (done or would block) or -1. */
static int conn_send(lconn *c)
{
    size_t total = c->head_len + c->req.body_len;
    while (c->sent < total) {
        struct iovec iov[2];
        int n = 0;
        if (c->sent < c->head_len) {
            iov[n].iov_base = c->head + c->sent;
            iov[n].iov_len = c->head_len - c->sent;
            n++;
            if (c->req.body_len > 0) {
                iov[n].iov_base = (void *)c->req.body;
                iov[n].iov_len = c->req.body_len;
                n++;
            }
        } else {
            size_t off = c->sent - c->head_len;
            iov[n].iov_base = (void *)(c->req.body + off);
            iov[n].iov_len = c->req.body_len - off;
            n++;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->sent += (size_t)w;
    }
    return 0;
}

/* Starts the next request on an idle connection: false when there is none to start. */
static bool conn_start(load_thread *t, lconn *c, double now)
{
    load_shared *sh = t->sh;
    if (bench_stop || (sh->end_at > 0 && now >= sh->end_at))
        return false;
    pthread_mutex_lock(&sh->mu);
    bool got = !sh->exhausted && sh->opt->next(sh->opt->ctx, &c->req);
    if (!got)
        sh->exhausted = true;
    pthread_mutex_unlock(&sh->mu);
    if (!got)
        return false;
    if (c->fd < 0 && conn_open(t, c) != 0) {
        note_failure(sh, "connect", strerror(errno));
        c->dead = true;
        return false;
    }
    int n;
    if (c->req.content_type != NULL)
        n = snprintf(c->head, sizeof c->head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     c->req.method, c->req.path, (unsigned)sh->opt->port, c->req.content_type, c->req.body_len);
    else
        n = snprintf(c->head, sizeof c->head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", c->req.method,
                     c->req.path, (unsigned)sh->opt->port);
    if (n < 0 || (size_t)n >= sizeof c->head) {
        note_failure(sh, "request line too long", c->req.path);
        c->dead = true;
        return false;
    }
    c->head_len = (size_t)n;
    c->sent = 0;
    c->in_len = 0;
    c->hdr_len = 0;
    c->want = 0;
    c->status = 0;
    c->close_after = false;
    c->busy = true;
    c->t0 = now;
    if (conn_send(c) != 0) {
        note_failure(sh, "send", strerror(errno));
        conn_close(c);
        return true; /* it was started and has failed: the caller may start another */
    }
    return true;
}

/* Parses the reply's status line and headers once they are complete. 0, or -1 malformed. */
static int parse_headers(lconn *c, const char **why)
{
    uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (c->in_len > LOAD_REPLY_HEADERS_MAX) {
            *why = "reply headers too long";
            return -1;
        }
        return 0;
    }
    c->hdr_len = (size_t)(end - c->in) + 4;
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0) {
        *why = "not an HTTP/1.x reply";
        return -1;
    }
    c->status = atoi((const char *)c->in + 9);
    long long length = -1;
    const char *p = memchr(c->in, '\n', c->hdr_len);
    while (p != NULL && (const uint8_t *)p + 1 < c->in + c->hdr_len) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)((const char *)c->in + c->hdr_len - line));
        if (eol == NULL)
            break;
        size_t len = (size_t)(eol - line);
        if (len > 15 && strncasecmp(line, "content-length:", 15) == 0)
            length = atoll(line + 15);
        else if (len > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0) {
            *why = "chunked reply (not supported by the bench client)";
            return -1;
        } else if (len >= 17 && strncasecmp(line, "connection: close", 17) == 0)
            c->close_after = true;
        p = eol;
    }
    if (length < 0 || (unsigned long long)length > LOAD_REPLY_BYTES_MAX) {
        *why = "reply without a usable Content-Length";
        return -1;
    }
    c->want = c->hdr_len + (size_t)length;
    return 0;
}

static void conn_finish(load_thread *t, lconn *c, double now)
{
    load_shared *sh = t->sh;
    bench_samples_add(&t->lat, (now - c->t0) * 1e6);
    pthread_mutex_lock(&sh->mu);
    bench_load_result *r = sh->res;
    r->requests++;
    r->bytes_in += c->want;
    if (c->status >= 100 && c->status < 600)
        r->statuses[c->status / 100]++;
    if (c->status >= 200 && c->status < 300)
        r->ok++;
    if (sh->opt->done)
        sh->opt->done(sh->opt->ctx, &c->req, c->status, c->in + c->hdr_len, c->want - c->hdr_len);
    if (now > sh->last_done)
        sh->last_done = now;
    pthread_mutex_unlock(&sh->mu);
    c->busy = false;
    if (c->close_after)
        conn_close(c);
}

/* Reads what has arrived; completes the request when the reply is whole. */
static void conn_read(load_thread *t, lconn *c, double now)
{
    for (;;) {
        if (c->in_cap - c->in_len < LOAD_READ_BYTES) {
            size_t cap = c->in_cap ? c->in_cap * 2 : LOAD_READ_BYTES * 2;
            uint8_t *in = realloc(c->in, cap);
            if (in == NULL) {
                note_failure(t->sh, "out of memory", "");
                conn_close(c);
                return;
            }
            c->in = in;
            c->in_cap = cap;
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            if (c->busy)
                note_failure(t->sh, "connection closed by the server", r < 0 ? strerror(errno) : "");
            conn_close(c);
            return;
        }
        if (!c->busy) { /* bytes nobody asked for */
            note_failure(t->sh, "unexpected bytes from the server", "");
            conn_close(c);
            return;
        }
        c->in_len += (size_t)r;
        const char *why = NULL;
        if (c->hdr_len == 0 && parse_headers(c, &why) != 0) {
            note_failure(t->sh, why, c->req.path);
            conn_close(c);
            return;
        }
        if (c->hdr_len > 0 && c->in_len >= c->want) {
            if (c->in_len > c->want) {
                note_failure(t->sh, "reply longer than its Content-Length", c->req.path);
                conn_close(c);
                return;
            }
            conn_finish(t, c, now);
            if (c->fd < 0 || !conn_start(t, c, bench_now()))
                return;
        }
    }
}

static void *load_thread_main(void *arg)
{
    load_thread *t = arg;
    load_shared *sh = t->sh;
    double timeout = sh->opt->timeout_s > 0 ? sh->opt->timeout_s : LOAD_TIMEOUT_DEFAULT_S;
    struct epoll_event evs[LOAD_EVENTS_MAX];
    for (;;) {
        double now = bench_now();
        unsigned busy = 0;
        for (unsigned i = 0; i < t->n; i++) {
            lconn *c = &t->conns[i];
            if (c->dead)
                continue;
            if (!c->busy)
                while (conn_start(t, c, now) && c->fd < 0)
                    ; /* a request that failed at once: try the next one */
            if (c->busy && now - c->t0 > timeout) {
                note_failure(sh, "timeout", c->req.path);
                conn_close(c);
            }
            busy += c->busy;
        }
        if (busy == 0)
            break;
        int n = epoll_wait(t->ep, evs, LOAD_EVENTS_MAX, LOAD_POLL_MS);
        now = bench_now();
        for (int i = 0; i < n; i++) {
            lconn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if ((evs[i].events & EPOLLOUT) && c->busy && c->sent < c->head_len + c->req.body_len &&
                conn_send(c) != 0) {
                note_failure(sh, "send", strerror(errno));
                conn_close(c);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                conn_read(t, c, now);
        }
    }
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) == 0)
        t->cpu_s = bench_cpu_seconds(&ru);
    return NULL;
}

int bench_load_run(bench_load_result *out, const bench_load_options *opt)
{
    memset(out, 0, sizeof *out);
    unsigned nconn = opt->connections, nthr = opt->threads ? opt->threads : 1;
    if (nconn == 0 || nconn > LOAD_CONNECTIONS_MAX || nthr > LOAD_THREADS_MAX || opt->next == NULL)
        return -1;
    if (nthr > nconn)
        nthr = nconn;
    load_shared sh = {.opt = opt, .res = out};
    pthread_mutex_init(&sh.mu, NULL);
    lconn *conns = calloc(nconn, sizeof *conns);
    load_thread *th = calloc(nthr, sizeof *th);
    int rc = 0;
    if (conns == NULL || th == NULL) {
        rc = -1;
        goto done;
    }
    unsigned next = 0;
    for (unsigned i = 0; i < nthr; i++) {
        th[i].sh = &sh;
        th[i].conns = conns + next;
        th[i].n = nconn / nthr + (i < nconn % nthr);
        next += th[i].n;
        th[i].ep = epoll_create1(EPOLL_CLOEXEC);
        if (th[i].ep < 0) {
            rc = -1;
            goto done;
        }
        for (unsigned k = 0; k < th[i].n; k++) {
            th[i].conns[k].fd = -1;
            if (conn_open(&th[i], &th[i].conns[k]) != 0) {
                fprintf(stderr, "bench: cannot connect to 127.0.0.1:%u: %s\n", (unsigned)opt->port, strerror(errno));
                rc = -1;
                goto done;
            }
        }
    }
    sh.first_start = bench_now();
    sh.last_done = sh.first_start;
    sh.end_at = opt->duration_s > 0 ? sh.first_start + opt->duration_s : 0;
    unsigned started = 0;
    for (unsigned i = 0; i < nthr; i++) {
        if (pthread_create(&th[i].tid, NULL, load_thread_main, &th[i]) != 0) {
            rc = -1;
            break;
        }
        started++;
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i].tid, NULL);
    out->seconds = sh.last_done - sh.first_start;
    size_t total = 0;
    for (unsigned i = 0; i < nthr; i++)
        total += th[i].lat.n;
    double *all = malloc((total ? total : 1) * sizeof *all);
    if (all == NULL) {
        rc = -1;
        goto done;
    }
    size_t k = 0;
    for (unsigned i = 0; i < nthr; i++) {
        memcpy(all + k, th[i].lat.v, th[i].lat.n * sizeof *all);
        k += th[i].lat.n;
        out->client_cpu_s += th[i].cpu_s;
    }
    bench_dist_of(&out->latency_us, all, total);
    free(all);
done:
    if (conns != NULL) {
        for (unsigned i = 0; i < nconn; i++) {
            if (conns[i].fd >= 0)
                close(conns[i].fd);
            free(conns[i].in);
        }
    }
    if (th != NULL) {
        for (unsigned i = 0; i < nthr; i++) {
            if (th[i].ep > 0)
                close(th[i].ep);
            bench_samples_free(&th[i].lat);
        }
    }
    free(conns);
    free(th);
    pthread_mutex_destroy(&sh.mu);
    return rc;
}
