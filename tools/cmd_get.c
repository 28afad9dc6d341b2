/* techledger get (DIR | --server URL) (SEQ | --stream STREAM): records as JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tl_api.h"
#include "tl_cmd.h"
#include "tl_http_client.h"

static const char get_help[] =
    "usage: techledger get DIR (SEQ | --stream STREAM) [--proof SIZE]\n"
    "       techledger get --server URL (SEQ | --stream STREAM) [--proof SIZE] [--token TOKEN]\n\n"
    "Prints records as JSON, one per line, as GET /v1/events/SEQ shows them: seq, recorded, stream,\n"
    "version, type, leaf_hash, key, record (base64 of the stored bytes) and event (the body).\n\n"
    "  SEQ              the record with this sequence number\n"
    "  --stream STREAM  every record of a stream, e.g. contract/2019110108000123, in version order\n"
    "  --proof SIZE     add the inclusion proof of each record in the tree of SIZE records\n"
    "  DIR              read the ledger directory directly (read-only; works while it is served),\n"
    "                   showing every record in full\n"
    "  --server URL     ask a running server; what it shows depends on the token (default: public,\n"
    "                   where non-public records appear as their leaf hash only)\n"
    "  --token TOKEN    bearer token for the server (or the environment variable TECHLEDGER_TOKEN)\n\n"
    "Exit status: 0 found, 1 no such record or stream, 2 bad command line, 3 cannot read the ledger\n"
    "or reach the server.\n";

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s)
        printf("%s\n", s);
    free(s);
}

typedef struct print_ctx {
    tl_ledger *l;
    uint64_t proof;
    int rc;
    tl_error err;
} print_ctx;

static int print_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq;
    print_ctx *p = ctx;
    json_t *j;
    p->rc = tl_api_record_json(&j, p->l, NULL, TL_ACCESS_AUDITOR, rec, len, p->proof, &p->err);
    if (p->rc != 0)
        return 1;
    print_json(j);
    json_decref(j);
    return 0;
}

static int get_dir(const char *dir, bool by_seq, uint64_t seq, const char *stream, uint64_t proof)
{
    tl_ledger *l;
    tl_error err;
    char msg[512];
    tl_ledger_options ro = {.mode = TL_OPEN_READ_ONLY};
    if (tl_ledger_open(&l, dir, &ro, &err) != 0) {
        fprintf(stderr, "techledger get: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    print_ctx p = {.l = l, .proof = proof};
    int code = TL_EXIT_OK;
    if (by_seq) {
        tl_buf rec;
        tl_buf_init(&rec);
        int rc = tl_ledger_read(l, seq, &rec, &p.err);
        if (rc == 0)
            print_record(&p, seq, rec.data, rec.len);
        else
            p.rc = rc;
        tl_buf_free(&rec);
    } else {
        uint64_t version = 0;
        p.rc = tl_ledger_stream_version(l, stream, strlen(stream), &version, &p.err);
        if (p.rc == 0 && version == 0)
            p.rc = tl_fail(&p.err, TL_ENOTFOUND, "stream.not_found", "stream", "no stream '%s'", stream);
        if (p.rc == 0) {
            int rc = tl_ledger_stream_scan(l, stream, strlen(stream), 0, 0, print_record, &p, &p.err);
            if (p.rc == 0 && rc < 0)
                p.rc = rc;
        }
    }
    if (p.rc != 0) {
        fprintf(stderr, "techledger get: %s\n", tl_error_format(&p.err, msg, sizeof msg));
        code = p.rc == TL_ENOTFOUND || p.rc == TL_EINVAL ? TL_EXIT_FAILURE : TL_EXIT_IO;
    }
    tl_ledger_close(l);
    return code;
}

/* Percent-encodes a stream for a URL path ('/' stays: the route takes the rest of the path). */
static void path_escape(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~/:", c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static int get_server(const char *url_text, bool by_seq, uint64_t seq, const char *stream, uint64_t proof,
                      const char *token)
{
    tl_http_url url;
    tl_http_client *c;
    tl_error err;
    char msg[512];
    if (tl_http_url_parse(&url, url_text, &err) != 0) {
        fprintf(stderr, "techledger get: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_USAGE;
    }
    if (tl_http_client_open(&c, &url, 0, &err) != 0) {
        fprintf(stderr, "techledger get: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    char auth[1200];
    const char *headers[3] = {"Accept: application/json", NULL, NULL};
    if (token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[1] = auth;
    }
    tl_http_response resp;
    tl_http_response_init(&resp);
    int code = TL_EXIT_OK;
    uint64_t after = 0;
    bool more = true;
    while (more) {
        char path[1024], esc[512], q[64] = "";
        if (proof > 0)
            snprintf(q, sizeof q, "proof=%llu", (unsigned long long)proof);
        if (by_seq) {
            snprintf(path, sizeof path, "/v1/events/%llu%s%s", (unsigned long long)seq, q[0] ? "?" : "", q);
        } else {
            path_escape(esc, sizeof esc, stream);
            snprintf(path, sizeof path, "/v1/streams/%s?limit=%u&after=%llu%s%s", esc, TL_API_LIST_MAX,
                     (unsigned long long)after, q[0] ? "&" : "", q);
        }
        if (tl_http_request(c, "GET", path, headers, NULL, 0, &resp, &err) != 0) {
            fprintf(stderr, "techledger get: %s\n", tl_error_format(&err, msg, sizeof msg));
            code = TL_EXIT_IO;
            break;
        }
        json_error_t jerr;
        json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &jerr);
        if (resp.status != 200 || j == NULL) {
            const char *rule = json_string_value(json_object_get(j, "error"));
            const char *m = json_string_value(json_object_get(j, "message"));
            fprintf(stderr, "techledger get: HTTP %d %s%s%s\n", resp.status, rule ? rule : "", m ? ": " : "",
                    m ? m : "");
            code = resp.status == 404 || resp.status == 400 ? TL_EXIT_FAILURE : TL_EXIT_IO;
            json_decref(j);
            break;
        }
        if (by_seq) {
            print_json(j);
            more = false;
        } else {
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(j, "events"), i, e) print_json(e);
            more = json_is_true(json_object_get(j, "more"));
            after = (uint64_t)json_integer_value(json_object_get(j, "next"));
        }
        json_decref(j);
    }
    tl_http_response_free(&resp);
    tl_http_client_close(c);
    return code;
}

int tl_cmd_get(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(get_help, stdout);
        return TL_EXIT_OK;
    }
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"stream", required_argument, NULL, 'S'},
                                         {"proof", required_argument, NULL, 'p'},
                                         {"token", required_argument, NULL, 't'},
                                         {0, 0, 0, 0}};
    const char *server = NULL, *stream = NULL, *token = getenv("TECHLEDGER_TOKEN");
    uint64_t proof = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's': server = optarg; break;
        case 'S': stream = optarg; break;
        case 't': token = optarg; break;
        case 'p':
            proof = strtoull(optarg, &end, 10);
            if (*end != '\0' || proof == 0 || optarg[0] == '-') {
                fprintf(stderr, "techledger get: --proof must be a tree size of at least 1\n");
                return TL_EXIT_USAGE;
            }
            break;
        default: fputs(get_help, stderr); return TL_EXIT_USAGE;
        }
    }
    const char *dir = NULL;
    if (server == NULL) {
        if (optind >= argc) {
            fputs(get_help, stderr);
            return TL_EXIT_USAGE;
        }
        dir = argv[optind++];
    }
    uint64_t seq = 0;
    bool by_seq = stream == NULL;
    if (by_seq) {
        char *end;
        if (optind != argc - 1 || argv[optind][0] == '-' ||
            (seq = strtoull(argv[optind], &end, 10), *end != '\0' || argv[optind][0] == '\0')) {
            fputs(get_help, stderr);
            return TL_EXIT_USAGE;
        }
    } else if (optind != argc || !tl_api_stream_valid(stream)) {
        if (optind == argc)
            fprintf(stderr, "techledger get: a stream is 1..%u bytes of [a-z0-9._:/-]\n", TL_STREAM_BYTES_MAX);
        else
            fputs(get_help, stderr);
        return TL_EXIT_USAGE;
    }
    return server ? get_server(server, by_seq, seq, stream, proof, token)
                  : get_dir(dir, by_seq, seq, stream, proof);
}
