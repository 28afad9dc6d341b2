/* techledger submit (DIR | --server URL) [FILE...]: append signed envelopes, print each result. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tl_api.h"
#include "tl_cmd.h"
#include "tl_http_client.h"

#define SUBMIT_INPUT_BYTES_MAX (1u << 30) /* one input file */
#define SUBMIT_BATCH_DEFAULT 1000u
#define SUBMIT_BUSY_RETRIES 30           /* 503 server.busy: retry this often before giving up */

static const char submit_help[] =
    "usage: techledger submit DIR [FILE...]\n"
    "       techledger submit --server URL [--batch N] [FILE...]\n\n"
    "Appends signed events (MessagePack envelopes, as `techledger sign` writes them) and prints\n"
    "one JSON line per envelope, in input order:\n"
    "  {\"input\":\"FILE#I\",\"status\":\"created\",\"seq\":S,\"stream\":\"...\",\"version\":V}\n"
    "  {\"input\":\"FILE#I\",\"status\":\"duplicate\",...}      (already in the log: nothing changed)\n"
    "  {\"input\":\"FILE#I\",\"status\":\"rejected\",\"error\":RULE,\"message\":...,\"path\":FIELD}\n\n"
    "Each FILE ('-' or none: standard input) holds envelopes, batches (arrays of envelopes), or\n"
    "several of either one after another.\n\n"
    "  DIR           open the ledger directly (it must not be served at the same time)\n"
    "  --server URL  submit to a running server instead (POST URL/v1/events)\n"
    "  --batch N     envelopes per request to the server, 1..10000 (default 1000)\n"
    "  --quiet       print rejected envelopes only\n\n"
    "Every accepted event is durable when its line is printed. Exit status: 0 when every envelope\n"
    "was created or a duplicate, 1 when any was rejected, 2 for a bad command line, 3 when an input\n"
    "cannot be read or the ledger or server cannot be reached.\n";

typedef struct envelope {
    const uint8_t *ptr;
    size_t len;
    char input[96];
    /* the result */
    int status; /* tl_append_status */
    uint64_t seq, version;
    char stream[TL_STREAM_BYTES_MAX + 1];
    tl_error err;
} envelope;

typedef struct inputs {
    uint8_t **bufs;
    size_t nbufs;
    envelope *env;
    size_t n, cap;
    int bad; /* inputs that were not MessagePack envelopes */
} inputs;

static envelope *add_envelope(inputs *in, const uint8_t *p, size_t len, const char *name, size_t index)
{
    if (in->n == in->cap) {
        size_t ncap = in->cap ? in->cap * 2 : 256;
        envelope *ne = realloc(in->env, ncap * sizeof *ne);
        if (ne == NULL)
            return NULL;
        in->env = ne;
        in->cap = ncap;
    }
    envelope *e = &in->env[in->n++];
    memset(e, 0, sizeof *e);
    e->ptr = p;
    e->len = len;
    snprintf(e->input, sizeof e->input, "%s#%zu", name, index);
    return e;
}

static int read_stdin(uint8_t **out, size_t *out_len)
{
    size_t cap = 65536, len = 0;
    uint8_t *b = malloc(cap);
    if (b == NULL)
        return -1;
    for (;;) {
        if (len == cap) {
            if (cap >= SUBMIT_INPUT_BYTES_MAX) {
                free(b);
                return -1;
            }
            uint8_t *nb = realloc(b, cap * 2);
            if (nb == NULL) {
                free(b);
                return -1;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t n = read(STDIN_FILENO, b + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(b);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = b;
    *out_len = len;
    return 0;
}

/* Splits one input into envelopes; malformed objects become rejected entries. */
static int load_input(inputs *in, const char *name)
{
    uint8_t *data = NULL;
    size_t len = 0;
    tl_error err;
    char msg[512];
    if (strcmp(name, "-") == 0) {
        if (read_stdin(&data, &len) != 0) {
            fprintf(stderr, "techledger submit: cannot read standard input\n");
            return TL_EXIT_IO;
        }
        name = "stdin";
    } else if (tl_file_read(name, SUBMIT_INPUT_BYTES_MAX, &data, &len, &err) != 0) {
        fprintf(stderr, "techledger submit: %s: %s\n", name, tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    uint8_t **nb = realloc(in->bufs, (in->nbufs + 1) * sizeof *nb);
    if (nb == NULL) {
        free(data);
        return TL_EXIT_IO;
    }
    in->bufs = nb;
    in->bufs[in->nbufs++] = data;
    size_t pos = 0, index = 0;
    while (pos < len) {
        size_t ol = tl_mp_object_len(data + pos, len - pos);
        tl_span *spans = NULL;
        size_t n = 0;
        bool is_batch;
        int rc = ol == 0 ? tl_fail(&err, TL_EINVAL, "canonical.truncated", "", "the input ends inside an object")
                         : tl_submission_split(&spans, &n, &is_batch, data + pos, ol, &err);
        if (rc != 0) {
            envelope *e = add_envelope(in, NULL, 0, name, index++);
            if (e == NULL)
                return TL_EXIT_IO;
            e->err = err;
            in->bad++;
            if (ol == 0)
                break;
        }
        for (size_t i = 0; i < n; i++)
            if (add_envelope(in, spans[i].ptr, spans[i].len, name, index++) == NULL) {
                free(spans);
                return TL_EXIT_IO;
            }
        free(spans);
        pos += ol;
    }
    return TL_EXIT_OK;
}

static void print_result(const envelope *e, bool quiet)
{
    if (quiet && e->status != TL_APPEND_REJECTED)
        return;
    json_t *j;
    if (e->status == TL_APPEND_REJECTED)
        j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "input", e->input, "status", "rejected", "error",
                      e->err.rule[0] ? e->err.rule : "internal", "message", e->err.msg, "path", e->err.path);
    else
        j = json_pack("{s:s,s:s,s:I,s:s,s:I}", "input", e->input, "status",
                      e->status == TL_APPEND_CREATED ? "created" : "duplicate", "seq", (json_int_t)e->seq, "stream",
                      e->stream, "version", (json_int_t)e->version);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

/* ---------- into a ledger directory ---------- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t outstanding;
} waiter;

typedef struct slot {
    envelope *e;
    waiter *w;
} slot;

static void on_appended(void *ctx, const tl_append_result *res)
{
    slot *s = ctx;
    envelope *e = s->e;
    e->status = res->status;
    e->seq = res->seq;
    e->version = res->version;
    snprintf(e->stream, sizeof e->stream, "%s", res->stream);
    if (res->status == TL_APPEND_REJECTED)
        e->err = res->err;
    pthread_mutex_lock(&s->w->mu);
    if (--s->w->outstanding == 0)
        pthread_cond_signal(&s->w->cv);
    pthread_mutex_unlock(&s->w->mu);
}

static int submit_dir(inputs *in, const char *dir)
{
    tl_ledger *l;
    tl_error err;
    char msg[512];
    if (tl_ledger_open(&l, dir, NULL, &err) != 0) {
        fprintf(stderr, "techledger submit: %s%s\n", tl_error_format(&err, msg, sizeof msg),
                err.code == TL_EIO ? " (is it being served? then use --server)" : "");
        return TL_EXIT_IO;
    }
    waiter w = {.outstanding = 1};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    slot *slots = calloc(in->n ? in->n : 1, sizeof *slots);
    if (slots == NULL) {
        tl_ledger_close(l);
        return TL_EXIT_IO;
    }
    /* Everything is queued in input order and shares group commits; the sequencer judges the
     * events in that order, so a later event may depend on an earlier one. */
    for (size_t i = 0; i < in->n; i++) {
        envelope *e = &in->env[i];
        if (e->ptr == NULL)
            continue; /* rejected while splitting */
        tl_event ev;
        if (tl_event_prepare(&ev, e->ptr, e->len, &e->err) != 0) {
            e->status = TL_APPEND_REJECTED;
            continue;
        }
        slots[i] = (slot){.e = e, .w = &w};
        pthread_mutex_lock(&w.mu);
        w.outstanding++;
        pthread_mutex_unlock(&w.mu);
        for (;;) {
            int rc = tl_ledger_submit(l, &ev, on_appended, &slots[i], &err);
            if (rc == 0)
                break;
            if (rc == TL_ETOOBIG && tl_event_prepare(&ev, e->ptr, e->len, &e->err) == 0) {
                usleep(1000); /* the queue is full: let the sequencer catch up */
                continue;
            }
            e->status = TL_APPEND_REJECTED;
            e->err = err;
            pthread_mutex_lock(&w.mu);
            w.outstanding--;
            pthread_mutex_unlock(&w.mu);
            break;
        }
    }
    pthread_mutex_lock(&w.mu);
    w.outstanding--;
    while (w.outstanding > 0)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    tl_ledger_close(l);
    free(slots);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return TL_EXIT_OK;
}

/* ---------- to a server ---------- */

static const char *str_or_empty(const json_t *j) { return json_is_string(j) ? json_string_value(j) : ""; }

static void result_from_json(envelope *e, const json_t *r, int http_status)
{
    const char *rule = json_string_value(json_object_get(r, "error"));
    if (rule != NULL) {
        e->status = TL_APPEND_REJECTED;
        tl_fail(&e->err, TL_EINVAL, rule, str_or_empty(json_object_get(r, "path")), "%s",
                str_or_empty(json_object_get(r, "message")));
        return;
    }
    json_int_t st = json_integer_value(json_object_get(r, "status"));
    if (st == 0)
        st = http_status;
    e->status = st == 201 ? TL_APPEND_CREATED : TL_APPEND_DUPLICATE;
    e->seq = (uint64_t)json_integer_value(json_object_get(r, "seq"));
    e->version = (uint64_t)json_integer_value(json_object_get(r, "version"));
    snprintf(e->stream, sizeof e->stream, "%s", str_or_empty(json_object_get(r, "stream")));
}

static int post(tl_http_client *c, const uint8_t *body, size_t len, tl_http_response *resp, tl_error *err)
{
    static const char *const headers[] = {"Content-Type: application/msgpack", "Accept: application/json", NULL};
    for (int attempt = 0;; attempt++) {
        int rc = tl_http_request(c, "POST", "/v1/events", headers, body, len, resp, err);
        if (rc != 0 || resp->status != 503 || attempt >= SUBMIT_BUSY_RETRIES)
            return rc;
        int wait_s = atoi(resp->retry_after);
        sleep((unsigned)(wait_s > 0 && wait_s < 30 ? wait_s : 1));
    }
}

static int submit_server(inputs *in, const char *url_text, size_t batch)
{
    tl_http_url url;
    tl_http_client *c;
    tl_error err;
    char msg[512];
    if (tl_http_url_parse(&url, url_text, &err) != 0) {
        fprintf(stderr, "techledger submit: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_USAGE;
    }
    if (tl_http_client_open(&c, &url, 0, &err) != 0) {
        fprintf(stderr, "techledger submit: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    tl_http_response resp;
    tl_http_response_init(&resp);
    tl_buf body;
    tl_buf_init(&body);
    int code = TL_EXIT_OK;
    size_t i = 0;
    while (i < in->n && code == TL_EXIT_OK) {
        if (in->env[i].ptr == NULL) {
            i++;
            continue;
        }
        /* The next run of envelopes, within the server's limits. */
        size_t j = i, bytes = 5;
        while (j < in->n && in->env[j].ptr != NULL && j - i < batch && bytes + in->env[j].len <= TL_BATCH_BYTES_MAX) {
            bytes += in->env[j].len;
            j++;
        }
        if (j == i)
            j = i + 1; /* one envelope alone over the limit: the server will say so */
        tl_buf_reset(&body);
        bool single = j - i == 1;
        if (!single) {
            tl_mp_writer w;
            tl_mp_writer_init(&w, &body);
            tl_mp_array(&w, (uint32_t)(j - i));
        }
        for (size_t k = i; k < j; k++)
            if (tl_buf_append(&body, in->env[k].ptr, in->env[k].len) != 0) {
                code = TL_EXIT_IO;
                break;
            }
        if (code != TL_EXIT_OK)
            break;
        if (post(c, body.data, body.len, &resp, &err) != 0) {
            fprintf(stderr, "techledger submit: %s\n", tl_error_format(&err, msg, sizeof msg));
            code = TL_EXIT_IO;
            break;
        }
        json_error_t jerr;
        json_t *reply = json_loadb((const char *)resp.body.data, resp.body.len, 0, &jerr);
        json_t *results = json_object_get(reply, "results");
        if (reply == NULL || (!single && !json_is_array(results)) ||
            (!single && json_array_size(results) != j - i && resp.status == 200)) {
            fprintf(stderr, "techledger submit: unexpected reply (HTTP %d): %.200s\n", resp.status,
                    resp.body.len ? (const char *)resp.body.data : "");
            json_decref(reply);
            code = TL_EXIT_IO;
            break;
        }
        for (size_t k = i; k < j; k++) {
            if (single || resp.status != 200)
                result_from_json(&in->env[k], reply, resp.status);
            else
                result_from_json(&in->env[k], json_array_get(results, k - i), 200);
        }
        json_decref(reply);
        i = j;
    }
    tl_buf_free(&body);
    tl_http_response_free(&resp);
    tl_http_client_close(c);
    return code;
}

int tl_cmd_submit(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(submit_help, stdout);
        return TL_EXIT_OK;
    }
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {0, 0, 0, 0}};
    const char *server = NULL;
    size_t batch = SUBMIT_BATCH_DEFAULT;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
        if (c == 's') {
            server = optarg;
        } else if (c == 'b') {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v == 0 || v > TL_BATCH_EVENTS_MAX) {
                fprintf(stderr, "techledger submit: --batch must be 1..%u\n", TL_BATCH_EVENTS_MAX);
                return TL_EXIT_USAGE;
            }
            batch = v;
        } else if (c == 'q') {
            quiet = true;
        } else {
            fputs(submit_help, stderr);
            return TL_EXIT_USAGE;
        }
    }
    const char *dir = NULL;
    if (server == NULL) {
        if (optind >= argc) {
            fputs(submit_help, stderr);
            return TL_EXIT_USAGE;
        }
        dir = argv[optind++];
    }
    inputs in = {0};
    int code = TL_EXIT_OK;
    if (optind == argc)
        code = load_input(&in, "-");
    for (int i = optind; i < argc && code == TL_EXIT_OK; i++)
        code = load_input(&in, argv[i]);
    if (code == TL_EXIT_OK)
        code = server ? submit_server(&in, server, batch) : submit_dir(&in, dir);
    size_t created = 0, dup = 0, rejected = 0;
    for (size_t i = 0; i < in.n; i++) {
        envelope *e = &in.env[i];
        if (code != TL_EXIT_OK && e->status == 0 && e->err.rule[0] == '\0')
            continue; /* never sent */
        print_result(e, quiet);
        created += e->status == TL_APPEND_CREATED;
        dup += e->status == TL_APPEND_DUPLICATE;
        rejected += e->status == TL_APPEND_REJECTED;
    }
    fflush(stdout);
    fprintf(stderr, "techledger submit: %zu created, %zu duplicates, %zu rejected\n", created, dup, rejected);
    for (size_t i = 0; i < in.nbufs; i++)
        free(in.bufs[i]);
    free(in.bufs);
    free(in.env);
    if (code != TL_EXIT_OK)
        return code;
    return rejected > 0 ? TL_EXIT_FAILURE : TL_EXIT_OK;
}
