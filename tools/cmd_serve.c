/* techledger serve DIR [--listen HOST:PORT] ...: the HTTP API (api/tl_api.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tl_api.h"
#include "tl_cmd.h"

static const char serve_help[] =
    "usage: techledger serve DIR [--listen HOST:PORT] [--tokens FILE] [--access-log FILE|-|off]\n"
    "                        [--views run|follow|off] [--loops N] [--workers N] [--max-connections N]\n"
    "                        [--view-cache-mb N]\n\n"
    "Serves the ledger in DIR over HTTP (see docs/openapi.yaml):\n"
    "  POST /v1/events                      submit signed MessagePack envelopes (one or a batch)\n"
    "  GET  /v1/events, /v1/events/SEQ      records, with ?proof=SIZE an inclusion proof\n"
    "  GET  /v1/streams/STREAM              a stream's records\n"
    "  GET  /v1/checkpoint                  the latest signed checkpoint, as signed\n"
    "  GET  /v1/proofs/consistency          ?from=M&to=N\n"
    "  GET  /v1/views/...                   turnover, funds, loans, contracts/REG_NO, institutions/ID,\n"
    "                                       achievements, targets (?format=csv)\n"
    "  GET  /v1/subscribe?after=SEQ         server-sent events: catch up, then follow\n"
    "  GET  /healthz, /metrics, /           health, Prometheus metrics, the dashboard\n\n"
    "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8080; port 0 picks a free one)\n"
    "  --tokens FILE        bearer tokens for auditor, statistics and fund_manager readers: lines\n"
    "                       \"role sha256hex-of-token\" (default DIR/tokens when it exists; make a hash\n"
    "                       with: printf %%s \"$TOKEN\" | sha256sum). Without tokens every reader is public.\n"
    "  --access-log FILE    one JSON line per request, appended to FILE; '-' is stderr (the default),\n"
    "                       'off' writes none\n"
    "  --views MODE         run: fold the views in this process (default; falls back to follow when\n"
    "                       `techledger project` already runs them); follow: read views another\n"
    "                       process maintains; off: no view routes\n"
    "  --loops N            event loops (default: one per CPU)\n"
    "  --workers N          signature-verifying threads (default: one per CPU)\n"
    "  --max-connections N  open connections before new ones get 503 (default 4096)\n"
    "  --view-cache-mb N    memory for rendered view replies, reused until the views change\n"
    "                       (default 32)\n\n"
    "Prints \"listening on http://HOST:PORT\" once it answers. SIGTERM or SIGINT stops it cleanly:\n"
    "it stops accepting, answers every submission already accepted, writes a final checkpoint\n"
    "covering every acknowledged event, and exits 0.\n";

static int parse_count(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int tl_cmd_serve(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(serve_help, stdout);
        return TL_EXIT_OK;
    }
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"tokens", required_argument, NULL, 't'},
                                         {"access-log", required_argument, NULL, 'a'},
                                         {"views", required_argument, NULL, 'v'},
                                         {"loops", required_argument, NULL, 'L'},
                                         {"workers", required_argument, NULL, 'W'},
                                         {"max-connections", required_argument, NULL, 'C'},
                                         {"view-cache-mb", required_argument, NULL, 'M'},
                                         {0, 0, 0, 0}};
    tl_server_options so = {.access_log_fd = STDERR_FILENO};
    const char *access_log = "-", *views_mode = "run";
    unsigned conns = 0, cache_mb = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l': so.listen = optarg; break;
        case 't': so.tokens_path = optarg; break;
        case 'a': access_log = optarg; break;
        case 'v': views_mode = optarg; break;
        case 'L':
            if (parse_count(optarg, TL_API_LOOPS_MAX, &so.loops) != 0) {
                fprintf(stderr, "techledger serve: --loops must be 1..%u\n", TL_API_LOOPS_MAX);
                return TL_EXIT_USAGE;
            }
            break;
        case 'W':
            if (parse_count(optarg, TL_API_WORKERS_MAX, &so.workers) != 0) {
                fprintf(stderr, "techledger serve: --workers must be 1..%u\n", TL_API_WORKERS_MAX);
                return TL_EXIT_USAGE;
            }
            break;
        case 'C':
            if (parse_count(optarg, 1000000, &conns) != 0) {
                fprintf(stderr, "techledger serve: --max-connections must be 1..1000000\n");
                return TL_EXIT_USAGE;
            }
            so.connections_max = conns;
            break;
        case 'M':
            if (parse_count(optarg, 65536, &cache_mb) != 0) {
                fprintf(stderr, "techledger serve: --view-cache-mb must be 1..65536\n");
                return TL_EXIT_USAGE;
            }
            so.view_cache_bytes = (size_t)cache_mb << 20;
            break;
        default: fputs(serve_help, stderr); return TL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(serve_help, stderr);
        return TL_EXIT_USAGE;
    }
    if (strcmp(views_mode, "run") != 0 && strcmp(views_mode, "follow") != 0 && strcmp(views_mode, "off") != 0) {
        fprintf(stderr, "techledger serve: --views is run, follow or off, not '%s'\n", views_mode);
        return TL_EXIT_USAGE;
    }
    const char *dir = argv[optind];
    char tokens_default[4096];
    struct stat st;
    if (so.tokens_path == NULL) {
        snprintf(tokens_default, sizeof tokens_default, "%s/tokens", dir);
        if (stat(tokens_default, &st) == 0)
            so.tokens_path = tokens_default;
    }
    int log_fd = -1;
    if (strcmp(access_log, "off") == 0) {
        so.access_log_fd = -1;
    } else if (strcmp(access_log, "-") != 0) {
        log_fd = open(access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (log_fd < 0) {
            fprintf(stderr, "techledger serve: cannot open the access log %s: %s\n", access_log, strerror(errno));
            return TL_EXIT_IO;
        }
        so.access_log_fd = log_fd;
    }

    /* Signals are taken by sigwait in this thread; every thread started below inherits the
     * mask, so none of them is interrupted. A peer that resets a connection must not kill us. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    tl_error err;
    tl_error_clear(&err);
    char msg[512];
    int code = TL_EXIT_OK;
    tl_ledger *l = NULL;
    tl_views *views = NULL;
    tl_server *srv = NULL;
    if (tl_ledger_open(&l, dir, NULL, &err) != 0) {
        fprintf(stderr, "techledger serve: %s\n", tl_error_format(&err, msg, sizeof msg));
        code = TL_EXIT_IO;
        goto done;
    }
    if (strcmp(views_mode, "off") != 0) {
        tl_views_options vo = {.mode = strcmp(views_mode, "follow") == 0 ? TL_VIEWS_FOLLOW : TL_VIEWS_RUN};
        int rc = tl_views_open(&views, l, &vo, &err);
        if (rc != 0 && vo.mode == TL_VIEWS_RUN && strcmp(err.rule, "views.locked") == 0) {
            fprintf(stderr, "techledger serve: another process runs the projections; following its views\n");
            vo.mode = TL_VIEWS_FOLLOW;
            rc = tl_views_open(&views, l, &vo, &err);
        }
        if (rc != 0) {
            fprintf(stderr, "techledger serve: views unavailable (view routes answer 503): %s\n",
                    tl_error_format(&err, msg, sizeof msg));
            views = NULL;
        }
    }
    if (tl_server_start(&srv, l, views, &so, &err) != 0) {
        fprintf(stderr, "techledger serve: %s\n", tl_error_format(&err, msg, sizeof msg));
        code = strcmp(err.rule, "listen.address") == 0 || strcmp(err.rule, "tokens.line") == 0 ||
                       strcmp(err.rule, "tokens.role") == 0
                   ? TL_EXIT_USAGE
                   : TL_EXIT_IO;
        goto done;
    }
    const char *shown = so.listen ? so.listen : TL_API_LISTEN_DEFAULT;
    char host[300];
    snprintf(host, sizeof host, "%s", shown);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    printf("listening on http://%s:%u\n", host, (unsigned)tl_server_port(srv));
    fflush(stdout);
    fprintf(stderr, "techledger serve: %s, %llu records, %s tokens%s\n", tl_ledger_origin(l),
            (unsigned long long)tl_ledger_size(l), so.tokens_path ? so.tokens_path : "no",
            views ? "" : ", no views");

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0) {
    }
    fprintf(stderr, "techledger serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");

done:
    tl_server_free(srv);
    tl_views_close(views);
    if (l != NULL) {
        uint64_t size = tl_ledger_size(l);
        tl_ledger_close(l); /* finishes the queue and writes the final checkpoint */
        if (code == TL_EXIT_OK)
            fprintf(stderr, "techledger serve: stopped; final checkpoint at size %llu\n", (unsigned long long)size);
    }
    if (log_fd >= 0)
        close(log_fd);
    return code;
}
