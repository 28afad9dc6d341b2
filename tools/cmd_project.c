/* techledger project DIR: the projection workers as a process of their own. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tl_cmd.h"
#include "tl_views.h"

#define STATUS_EVERY_S_DEFAULT 10

static const char project_help[] =
    "usage: techledger project DIR [--status-every SECONDS]\n\n"
    "Runs the projection workers of the ledger in DIR in this process, so heavy views need\n"
    "not share the writer's process. It follows the ledger through a RocksDB secondary\n"
    "instance (the writer, `techledger serve`, keeps running) and keeps DIR/views current.\n\n"
    "Only one process may run the projections of a ledger at a time: DIR/views is locked by\n"
    "whoever writes it. Start the server with `--views follow` (or let it fall back to\n"
    "following) so it reads the views this process writes.\n\n"
    "Prints each projection's position and lag every SECONDS (default 10; 0 = never) on\n"
    "standard error. Stops cleanly on SIGINT or SIGTERM.\n"
    "exit status: 0 stopped by a signal, 2 bad arguments, 3 cannot open the ledger or views\n";

static void status(tl_views *v)
{
    tl_projection_stats st[TL_VIEWS_PROJECTIONS_MAX];
    size_t n = tl_views_stats(v, st, TL_VIEWS_PROJECTIONS_MAX);
    fprintf(stderr, "project:");
    for (size_t i = 0; i < n && i < TL_VIEWS_PROJECTIONS_MAX; i++) {
        fprintf(stderr, " %s=%" PRIu64 "/%" PRIu64 " lag %" PRIu64 " (%" PRIu64 " ms)%s%s", st[i].name,
                st[i].position, st[i].ledger_size, st[i].lag_records, st[i].lag_ms, st[i].ready ? "" : " NOT READY",
                st[i].rebuilding ? " rebuilding" : "");
    }
    fputc('\n', stderr);
}

int tl_cmd_project(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(project_help, stdout);
        return TL_EXIT_OK;
    }
    const char *dir = NULL;
    long every = STATUS_EVERY_S_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--status-every") == 0 && i + 1 < argc) {
            char *end;
            every = strtol(argv[++i], &end, 10);
            if (*end != '\0' || every < 0 || every > 86400) {
                fprintf(stderr, "techledger project: --status-every must be 0..86400 seconds\n");
                return TL_EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && dir == NULL) {
            dir = argv[i];
        } else {
            fprintf(stderr, "techledger project: unexpected argument '%s'\n\n%s", argv[i], project_help);
            return TL_EXIT_USAGE;
        }
    }
    if (dir == NULL) {
        fputs(project_help, stderr);
        return TL_EXIT_USAGE;
    }
    /* Block the stop signals in every thread; this one waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    tl_error err;
    tl_error_clear(&err);
    char msg[512];
    tl_ledger *l = NULL;
    tl_views *v = NULL;
    tl_ledger_options lo = {.mode = TL_OPEN_SECONDARY};
    if (tl_ledger_open(&l, dir, &lo, &err) != 0) {
        fprintf(stderr, "techledger project: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    tl_views_options vo = {.mode = TL_VIEWS_RUN};
    if (tl_views_open(&v, l, &vo, &err) != 0) {
        fprintf(stderr, "techledger project: %s\n", tl_error_format(&err, msg, sizeof msg));
        tl_ledger_close(l);
        return TL_EXIT_IO;
    }
    fprintf(stderr, "techledger project: running the projections of %s (stop with SIGINT or SIGTERM)\n", dir);
    for (;;) {
        struct timespec ts = {every > 0 ? every : 3600, 0};
        int sig = sigtimedwait(&stop, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (every > 0)
            status(v);
    }
    status(v);
    tl_views_close(v);
    tl_ledger_close(l);
    return TL_EXIT_OK;
}
