/*
 * HTTP requests as a client sends them, to the real server (tl_server_start: evhttp, the
 * router, every handler, the submission pipeline, the view renderers), running in this process
 * over a small ledger that the first input creates in a fresh temporary directory: the
 * participants and contracts of fuzz_http.h (one contract public, one secret), an achievement
 * and a fund, so that reads have records, streams, views and checkpoints to serve, and a tokens
 * file with one auditor token. Each input is the bytes of one TCP connection: all of them are
 * written (any number of pipelined requests, or one cut short), then the connection is
 * half-closed, so that evhttp sees the end of a truncated request instead of waiting for it,
 * and the replies are read until the server closes.
 *
 * A real server rather than the handlers called directly: the bugs worth finding here lie
 * between the parts (evhttp's parsing and our routing, a deferred reply and a connection that
 * goes away, the reply cache and the access level, what a worker thread frees while the loop
 * still looks), and only the whole server has them. Coverage from its threads counts too.
 *
 * Invariants:
 *   - the server answers within HTTP_WAIT_MS and then closes (a hang is a finding);
 *   - the replies parse, in order: a status line "HTTP/1.1 NNN" or "HTTP/1.0 NNN", headers,
 *     and exactly Content-Length bytes of body (none for a reply to HEAD, a 1xx, 204 or 304;
 *     a reply without a length runs to the close);
 *   - every reply is in HTTP/1.1 or HTTP/1.0, even what evhttp refuses before our handler
 *     sees the request (server.c answers those too, tl_api.h);
 *   - no status is 5xx except 503, and the 501 RFC 9110 asks for a method the server does not
 *     implement (untrusted bytes are the client's fault: a 4xx);
 *   - every error reply (status >= 400) is application/json: an object with a string "error";
 *     every application/json body is JSON;
 *   - the ledger grows by exactly the number of events the replies say were created (201, or
 *     a batch's "created"): nothing is appended behind a client's back, and no append that
 *     was answered is missing.
 * An event stream (GET /v1/subscribe) never ends on its own: its head is checked, then the
 * target hangs up, and nothing after it on the connection is read (evhttp serves requests on
 * a connection in order, so nothing after it is served either).
 *
 * The server stays up for the whole process (libFuzzer never returns from its loop); an
 * atexit handler stops it and removes the directory, so that a replay ends clean.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_http.h"
#include "tl_api.h"
#include "tl_json_event.h"

#define HTTP_WAIT_MS 5000 /* for the whole exchange; libFuzzer's -timeout is 10 s */
#define HTTP_TIME_MS 1577836800000ull /* the served events' time: 2020-01-01T00:00:00Z */

static struct {
    char dir[256];
    tl_ledger *l;
    tl_views *views;
    tl_server *srv;
    uint16_t port;
    const uint8_t *out; /* the input being sent */
    size_t out_len;
    tl_buf in;          /* the replies to it; kept, so that most inputs allocate nothing here */
} S;

/* ---------- the served ledger ---------- */

/* The events after the genesis. "@REGISTRY@" stands for the registry key in hex. */
static const struct {
    int signer;
    const char *json;
} served[] = {
    {FUZZ_KEY_ADMIN,
     "{\"type\":\"participant.registered\",\"stream\":\"participant/registry-bj\","
     "\"id\":\"00000000000000000000000000000101\",\"time\":1577836800000,\"data\":{"
     "\"id\":\"registry-bj\",\"name\":\"北京技术市场管理办公室\",\"kind\":\"registry\","
     "\"region\":\"110000\",\"roles\":[\"registry\"],\"keys\":[\"@REGISTRY@\"]}}"},
    {FUZZ_KEY_ADMIN,
     "{\"type\":\"participant.registered\",\"stream\":\"participant/tsinghua\","
     "\"id\":\"00000000000000000000000000000102\",\"time\":1577836800000,\"data\":{"
     "\"id\":\"tsinghua\",\"name\":\"清华大学\",\"kind\":\"university\","
     "\"region\":\"110108\",\"roles\":[\"member\"],\"keys\":[]}}"},
    {FUZZ_KEY_ADMIN,
     "{\"type\":\"participant.registered\",\"stream\":\"participant/acme\","
     "\"id\":\"00000000000000000000000000000103\",\"time\":1577836800000,\"data\":{"
     "\"id\":\"acme\",\"name\":\"Acme 科技有限公司\",\"kind\":\"enterprise\","
     "\"region\":\"310000\",\"roles\":[\"member\"],\"keys\":[]}}"},
    {FUZZ_KEY_REGISTRY,
     "{\"type\":\"achievement.registered\",\"stream\":\"achievement/a1\","
     "\"id\":\"00000000000000000000000000000104\",\"time\":1577836800000,\"data\":{"
     "\"id\":\"a1\",\"title\":\"高效光伏电池\",\"owner\":\"tsinghua\",\"field\":\"new_energy\","
     "\"fiscal_funded\":true,\"confidentiality\":\"public\",\"ip\":\"ZL201910000000.1\"}}"},
    {FUZZ_KEY_REGISTRY,
     "{\"type\":\"contract.registered\",\"stream\":\"contract/" FUZZ_HTTP_CONTRACT_PUBLIC "\","
     "\"id\":\"00000000000000000000000000000105\",\"time\":1577836800000,\"data\":{"
     "\"reg_no\":\"" FUZZ_HTTP_CONTRACT_PUBLIC "\",\"class\":\"transfer\",\"subtype\":\"patent\","
     "\"seller\":\"tsinghua\",\"buyer\":\"acme\",\"seller_region\":\"110108\",\"buyer_region\":\"310000\","
     "\"field\":\"electronic_information\",\"signed_on\":\"2019-03-01\",\"registered_on\":\"2019-03-02\","
     "\"total_fen\":100000000,\"tech_fen\":80000000,\"achievements\":[\"a1\"],"
     "\"confidentiality\":\"public\",\"title\":\"激光雷达专利转让\"}}"},
    {FUZZ_KEY_REGISTRY,
     "{\"type\":\"contract.registered\",\"stream\":\"contract/" FUZZ_HTTP_CONTRACT_SECRET "\","
     "\"id\":\"00000000000000000000000000000106\",\"time\":1577836800000,\"data\":{"
     "\"reg_no\":\"" FUZZ_HTTP_CONTRACT_SECRET "\",\"class\":\"development\",\"subtype\":\"commissioned\","
     "\"seller\":\"tsinghua\",\"buyer\":\"acme\",\"seller_region\":\"110108\",\"buyer_region\":\"310000\","
     "\"field\":\"new_energy\",\"signed_on\":\"2019-04-01\",\"registered_on\":\"2019-04-02\","
     "\"total_fen\":50000000,\"tech_fen\":40000000,\"confidentiality\":\"commercial_secret\"}}"},
    {FUZZ_KEY_REGISTRY,
     "{\"type\":\"contract.amended\",\"stream\":\"contract/" FUZZ_HTTP_CONTRACT_PUBLIC "\","
     "\"id\":\"00000000000000000000000000000107\",\"time\":1577836800000,\"data\":{"
     "\"total_fen\":120000000,\"tech_fen\":90000000,\"amended_on\":\"2019-05-01\",\"reason\":\"scope\"}}"},
    {FUZZ_KEY_ADMIN,
     "{\"type\":\"participant.registered\",\"stream\":\"participant/fm\","
     "\"id\":\"00000000000000000000000000000108\",\"time\":1577836800000,\"data\":{"
     "\"id\":\"fm\",\"name\":\"引导基金管理机构\",\"kind\":\"fund\",\"region\":\"110000\","
     "\"roles\":[\"fund_manager\"],\"keys\":[]}}"},
    {FUZZ_KEY_ADMIN,
     "{\"type\":\"fund.established\",\"stream\":\"fund/guide\","
     "\"id\":\"00000000000000000000000000000109\",\"time\":1577836800000,\"data\":{"
     "\"id\":\"guide\",\"name\":\"国家科技成果转化引导基金\",\"kind\":\"guidance\",\"level\":\"national\","
     "\"region\":\"110000\",\"manager\":\"fm\"}}"},
};

static void setup_die(const char *what, const tl_error *err)
{
    fprintf(stderr, "fuzz_http: %s: %s: %s\n", what, err->rule, err->msg);
    abort();
}

static void append_served(const char *json, int signer)
{
    tl_keypair kp, reg;
    fuzz_keypair(&kp, signer);
    fuzz_keypair(&reg, FUZZ_KEY_REGISTRY);
    char hex[2 * TL_PUBKEY_BYTES + 1];
    tl_hex_encode(hex, reg.pk, TL_PUBKEY_BYTES);
    char text[2048];
    const char *at = strstr(json, "@REGISTRY@");
    if (at != NULL)
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - json), json, hex, at + 10);
    else
        snprintf(text, sizeof text, "%s", json);
    json_error_t jerr;
    json_t *ev = json_loads(text, 0, &jerr);
    FUZZ_CHECK(ev != NULL, "a served event is JSON");
    tl_buf env;
    tl_buf_init(&env);
    tl_error err;
    tl_error_clear(&err);
    if (tl_json_envelope(&env, ev, &kp, HTTP_TIME_MS, &err) != 0)
        setup_die("served event", &err);
    tl_append_result res;
    if (tl_ledger_append(S.l, env.data, env.len, &res) != 0)
        setup_die("append", &res.err);
    tl_buf_free(&env);
    json_decref(ev);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void stop_server(void)
{
    tl_server_free(S.srv);
    tl_views_close(S.views);
    tl_ledger_close(S.l);
    nftw(S.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tl_buf_free(&S.in);
    memset(&S, 0, sizeof S);
}

static void start_server(void)
{
    signal(SIGPIPE, SIG_IGN); /* as `techledger serve` does: a vanished client is not fatal */
    /* libFuzzer's -timeout timer (SIGALRM) is for this thread. The ledger's, the views' and the
     * server's threads inherit the mask made here, so they never see it (nor does a server in
     * production), and no system call of theirs is cut short by it. */
    sigset_t alarm, mask;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm, &mask);
    const char *tmp = getenv("TMPDIR");
    snprintf(S.dir, sizeof S.dir, "%s/tl-fuzz-http-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(S.dir) != NULL, "a temporary directory");
    char ledger_dir[300];
    snprintf(ledger_dir, sizeof ledger_dir, "%s/ledger", S.dir);
    tl_keypair admin;
    fuzz_keypair(&admin, FUZZ_KEY_ADMIN);
    tl_error err;
    tl_error_clear(&err);
    if (tl_ledger_create(ledger_dir, FUZZ_ORIGIN, &admin, NULL, &err) != 0)
        setup_die("create", &err);
    if (tl_ledger_open(&S.l, ledger_dir, NULL, &err) != 0)
        setup_die("open", &err);
    for (size_t i = 0; i < sizeof served / sizeof served[0]; i++)
        append_served(served[i].json, served[i].signer);
    /* Closing writes the final checkpoint: one at a size the seeds can name, whatever the
     * timer did meanwhile. */
    tl_ledger_close(S.l);
    if (tl_ledger_open(&S.l, ledger_dir, NULL, &err) != 0)
        setup_die("reopen", &err);
    char size[24];
    snprintf(size, sizeof size, "%llu", (unsigned long long)tl_ledger_size(S.l));
    FUZZ_CHECK(strcmp(size, FUZZ_HTTP_CHECKPOINT_SIZE) == 0, "the served ledger has the size fuzz_http.h says");
    if (tl_views_open(&S.views, S.l, NULL, &err) != 0 || tl_views_sync(S.views, 0, 60000, &err) != 0)
        setup_die("views", &err);

    char tokens[300], hex[65];
    uint8_t h[32];
    snprintf(tokens, sizeof tokens, "%s/tokens", S.dir);
    tl_sha256(h, FUZZ_HTTP_AUDITOR_TOKEN, strlen(FUZZ_HTTP_AUDITOR_TOKEN));
    tl_hex_encode(hex, h, 32);
    FILE *f = fopen(tokens, "w");
    FUZZ_CHECK(f != NULL && fprintf(f, "auditor %s\n", hex) > 0 && fclose(f) == 0, "the tokens file");

    tl_server_options o = {.listen = "127.0.0.1:0", .loops = 1, .workers = 1, .tokens_path = tokens,
                           .access_log_fd = -1};
    if (tl_server_start(&S.srv, S.l, S.views, &o, &err) != 0)
        setup_die("server", &err);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    S.port = tl_server_port(S.srv);
    tl_buf_init(&S.in);
    atexit(stop_server);
}

/* ---------- the replies ---------- */

/* A broken invariant about the replies shows the request and the replies (their first 4 KiB)
 * before aborting: the smoke driver does not say which of its variants of a seed failed. */
#define REPLY_CHECK(cond, what)                                                                   \
    do {                                                                                          \
        if (!(cond))                                                                              \
            show_exchange();                                                                      \
        FUZZ_CHECK(cond, what);                                                                   \
    } while (0)

static void show_exchange(void)
{
    fprintf(stderr, "request (%zu bytes):\n%.*s\nreplies (%zu bytes):\n%.*s\n", S.out_len,
            (int)(S.out_len > 4096 ? 4096 : S.out_len), (const char *)S.out, S.in.len,
            (int)(S.in.len > 4096 ? 4096 : S.in.len), (const char *)S.in.data);
}

typedef struct replies {
    uint64_t created; /* events the replies say were appended */
} replies;

enum { SCAN_MORE, SCAN_DONE, SCAN_STREAM };

static bool has_prefix_ci(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(s, prefix, k) == 0;
}

/* A header's value (after optional spaces) within the head [p, end), or NULL. */
static const char *header(const char *p, const char *end, const char *name, size_t *len)
{
    size_t k = strlen(name);
    for (const char *line = memmem(p, (size_t)(end - p), "\r\n", 2); line != NULL && line + 2 < end;) {
        line += 2;
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - line) > k && strncasecmp(line, name, k) == 0 && line[k] == ':') {
            const char *v = line + k + 1;
            while (v < eol && *v == ' ')
                v++;
            *len = (size_t)(eol - v);
            return v;
        }
        line = eol;
    }
    return NULL;
}

/* Checks one JSON body; adds what it says was created. */
static void check_json(int status, const char *body, size_t len, replies *out)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    REPLY_CHECK(j != NULL, "an application/json body is JSON");
    if (status >= 400)
        REPLY_CHECK(json_is_object(j) && json_is_string(json_object_get(j, "error")),
                    "an error reply names its rule in \"error\"");
    if (status == 201) {
        out->created++;
    } else if (status == 200 && json_is_object(j) && json_is_array(json_object_get(j, "results"))) {
        json_t *c = json_object_get(j, "created");
        REPLY_CHECK(json_is_integer(c) && json_integer_value(c) >= 0, "a batch reply counts what it created");
        out->created += (uint64_t)json_integer_value(c);
    }
    json_decref(j);
}

/*
 * Walks the replies in buf. SCAN_MORE: the last one is not whole yet (at eof that is a
 * finding); SCAN_STREAM: an event stream has begun, which never ends on its own.
 */
static int scan_replies(const char *buf, size_t len, bool eof, replies *out)
{
    memset(out, 0, sizeof *out);
    size_t at = 0;
    while (at < len) {
        const char *p = buf + at;
        size_t left = len - at;
        const char *head_end = memmem(p, left, "\r\n\r\n", 4);
        if (head_end == NULL) {
            REPLY_CHECK(!eof, "a reply's head is whole");
            return SCAN_MORE;
        }
        head_end += 4;
        size_t head = (size_t)(head_end - p);
        /* "HTTP/" version SP three digits (SP reason) CRLF */
        size_t line = (size_t)((const char *)memmem(p, head, "\r\n", 2) - p);
        const char *sp = memchr(p, ' ', line);
        REPLY_CHECK(line >= 5 && memcmp(p, "HTTP/", 5) == 0 && sp != NULL && p + line - sp >= 4 &&
                        sp[1] >= '1' && sp[1] <= '5' && sp[2] >= '0' && sp[2] <= '9' && sp[3] >= '0' &&
                        sp[3] <= '9' && (sp[4] == ' ' || sp[4] == '\r'),
                    "a reply starts with a status line");
        int status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        size_t ctl = 0, cll = 0;
        const char *ct = header(p, head_end - 2, "Content-Type", &ctl);
        const char *cl = header(p, head_end - 2, "Content-Length", &cll);
        REPLY_CHECK(sp - p == 8 && (memcmp(p, "HTTP/1.1", 8) == 0 || memcmp(p, "HTTP/1.0", 8) == 0),
                    "a reply is in HTTP/1.1 or HTTP/1.0");
        REPLY_CHECK(status < 500 || status == 503 || status == 501,
                    "no 5xx but 503 and 501 (an unknown method): bad input is the client's fault");
        REPLY_CHECK(status < 400 || (ct != NULL && has_prefix_ci(ct, ctl, "application/json")),
                    "an error reply is JSON");
        if (ct != NULL && has_prefix_ci(ct, ctl, "text/event-stream"))
            return SCAN_STREAM;
        size_t body = 0;
        if (status < 200 || status == 204 || status == 304) {
            /* no body, whatever the headers say */
        } else if (cl == NULL) {
            /* A reply without a length (to HTTP/1.0) runs to the close. */
            body = left - head;
            if (!eof)
                return SCAN_MORE;
        } else {
            char num[24];
            REPLY_CHECK(cll > 0 && cll < sizeof num, "a Content-Length is a number");
            memcpy(num, cl, cll);
            num[cll] = '\0';
            char *e;
            unsigned long long n = strtoull(num, &e, 10);
            REPLY_CHECK(*e == '\0', "a Content-Length is a number");
            /* No body in a reply to HEAD (which carries the length a GET would have had): the
             * next reply, or the close, follows its head at once. */
            bool bodiless = (left - head >= 7 && memcmp(head_end, "HTTP/1.", 7) == 0) || (eof && left == head);
            if (!bodiless) {
                if (left - head < n) {
                    REPLY_CHECK(!eof, "a reply's body is whole");
                    return SCAN_MORE;
                }
                body = (size_t)n;
            }
        }
        if (body > 0 && ct != NULL && has_prefix_ci(ct, ctl, "application/json"))
            check_json(status, head_end, body, out);
        at += head + body;
    }
    return eof ? SCAN_DONE : SCAN_MORE;
}

/* ---------- one connection ---------- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A non-blocking socket connected to the server by the deadline. The connect itself does not
 * block, so libFuzzer's timer signal (SIGALRM, for -timeout) cannot cut it short. */
static int connect_server(uint64_t deadline)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    FUZZ_CHECK(fd >= 0, "a socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(S.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int e = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    while (e == EINPROGRESS || e == EINTR) {
        uint64_t now = mono_ms();
        FUZZ_CHECK(now < deadline, "the server accepts a connection within HTTP_WAIT_MS");
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, (int)(deadline - now)) == 1) {
            socklen_t len = sizeof e;
            FUZZ_CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0, "the socket's state");
        }
    }
    if (e != 0)
        fprintf(stderr, "connect to 127.0.0.1:%u: %s\n", (unsigned)S.port, strerror(e));
    FUZZ_CHECK(e == 0, "the server accepts a connection");
    return fd;
}

/* Writes data and reads the replies into S.in, both at once (a server that answers before it
 * has read everything must not deadlock us), and checks them. */
static void exchange(const uint8_t *data, size_t size, replies *out)
{
    uint64_t deadline = mono_ms() + HTTP_WAIT_MS;
    int fd = connect_server(deadline);
    S.out = data;
    S.out_len = size;
    tl_buf_reset(&S.in);
    size_t sent = 0;
    if (size == 0)
        shutdown(fd, SHUT_WR);
    bool eof = false;
    while (!eof) {
        uint64_t now = mono_ms();
        REPLY_CHECK(now < deadline, "the server answers and closes within HTTP_WAIT_MS");
        struct pollfd pfd = {.fd = fd, .events = (short)(POLLIN | (sent < size ? POLLOUT : 0))};
        if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
            continue;
        if (sent < size && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sent = size; /* the server has closed: the rest is not wanted */
            if (sent == size)
                shutdown(fd, SHUT_WR);
        }
        if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
            uint8_t chunk[65536];
            ssize_t n = recv(fd, chunk, sizeof chunk, 0);
            if (n > 0)
                FUZZ_CHECK(tl_buf_append(&S.in, chunk, (size_t)n) == 0, "memory for the replies");
            else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                eof = true; /* a close, or a reset after it */
            if (scan_replies((const char *)S.in.data, S.in.len, eof, out) == SCAN_STREAM)
                break;
        }
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size > FUZZ_INPUT_BYTES_MAX)
        return 0;
    if (S.srv == NULL)
        start_server();
    uint64_t before = tl_ledger_size(S.l);
    replies r;
    exchange(data, size, &r);
    uint64_t after = tl_ledger_size(S.l);
    REPLY_CHECK(after >= before && after - before == r.created,
                "the ledger grows by exactly the events the replies say were created");
    return 0;
}
