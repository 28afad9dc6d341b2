/* techledger rebuild DIR [--projection NAME]: refold views from record 0, beside the live ones. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tl_cmd.h"
#include "tl_views.h"

static const char rebuild_help[] =
    "usage: techledger rebuild DIR [--projection NAME]\n\n"
    "Rebuilds the views of the ledger in DIR from record 0 (all projections, or NAME: turnover,\n"
    "institutions, funds, catalogue). The new state is built beside the live one, which keeps\n"
    "answering and following the log; when the new state has caught up it replaces the old one\n"
    "in one atomic write. Ingest never stops.\n\n"
    "When another process runs the projections (`techledger serve` or `techledger project`),\n"
    "this command asks that process to rebuild (it writes DIR/views.rebuild, which the process\n"
    "picks up within a second) and returns; watch the progress in its /metrics.\n\n"
    "Prints progress, then the rebuild's throughput in records per second.\n"
    "exit status: 0 ok, 1 the rebuild failed, 2 bad arguments, 3 cannot open the ledger or views\n";

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Asks the process holding DIR/views to rebuild: the request file, written atomically. */
static int request(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 64;
    char *path = malloc(n), *tmp = malloc(n);
    int rc = TL_EXIT_IO;
    if (path == NULL || tmp == NULL)
        goto out;
    snprintf(path, n, "%s/views.rebuild", dir);
    snprintf(tmp, n, "%s/views.rebuild.%ld", dir, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "techledger rebuild: cannot write %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    fprintf(f, "%s\n", name ? name : "*");
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "techledger rebuild: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    printf("another process runs the projections of %s; asked it to rebuild %s (%s)\n", dir,
           name ? name : "every projection", path);
    rc = TL_EXIT_OK;
out:
    free(path);
    free(tmp);
    return rc;
}

int tl_cmd_rebuild(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(rebuild_help, stdout);
        return TL_EXIT_OK;
    }
    const char *dir = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--projection") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (argv[i][0] != '-' && dir == NULL) {
            dir = argv[i];
        } else {
            fprintf(stderr, "techledger rebuild: unexpected argument '%s'\n\n%s", argv[i], rebuild_help);
            return TL_EXIT_USAGE;
        }
    }
    if (dir == NULL) {
        fputs(rebuild_help, stderr);
        return TL_EXIT_USAGE;
    }
    if (name != NULL) {
        const char *names[TL_VIEWS_PROJECTIONS_MAX];
        size_t n = tl_views_projection_names(names, TL_VIEWS_PROJECTIONS_MAX);
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known = known || strcmp(names[i], name) == 0;
        if (!known) {
            fprintf(stderr, "techledger rebuild: view.unknown at projection: no projection named '%s'\n", name);
            return TL_EXIT_USAGE;
        }
    }
    tl_error err;
    tl_error_clear(&err);
    char msg[512];
    tl_ledger *l = NULL;
    tl_views *v = NULL;
    tl_ledger_options lo = {.mode = TL_OPEN_SECONDARY};
    if (tl_ledger_open(&l, dir, &lo, &err) != 0) {
        fprintf(stderr, "techledger rebuild: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    int code = TL_EXIT_OK;
    tl_views_options vo = {.mode = TL_VIEWS_RUN};
    if (tl_views_open(&v, l, &vo, &err) != 0) {
        if (strcmp(err.rule, "views.locked") == 0)
            code = request(dir, name);
        else {
            fprintf(stderr, "techledger rebuild: %s\n", tl_error_format(&err, msg, sizeof msg));
            code = TL_EXIT_IO;
        }
        tl_ledger_close(l);
        return code;
    }
    uint64_t size = tl_ledger_size(l);
    uint64_t t0 = mono_ms();
    if (tl_views_rebuild(v, name, &err) != 0) {
        fprintf(stderr, "techledger rebuild: %s\n", tl_error_format(&err, msg, sizeof msg));
        code = TL_EXIT_FAILURE;
        goto done;
    }
    for (;;) {
        int rc = tl_views_rebuild_wait(v, 2000, &err);
        if (rc == 0)
            break;
        if (strcmp(err.rule, "views.timeout") != 0) {
            fprintf(stderr, "techledger rebuild: %s\n", tl_error_format(&err, msg, sizeof msg));
            code = TL_EXIT_FAILURE;
            goto done;
        }
        tl_projection_stats st[TL_VIEWS_PROJECTIONS_MAX];
        size_t n = tl_views_stats(v, st, TL_VIEWS_PROJECTIONS_MAX);
        fprintf(stderr, "rebuilding:");
        for (size_t i = 0; i < n && i < TL_VIEWS_PROJECTIONS_MAX; i++)
            if (st[i].rebuilding)
                fprintf(stderr, " %s %" PRIu64 "/%" PRIu64, st[i].name, st[i].rebuild_position, st[i].ledger_size);
        fputc('\n', stderr);
    }
    uint64_t ms = mono_ms() - t0;
    /* A projection whose fold failed keeps its old state: say so. */
    tl_projection_stats st[TL_VIEWS_PROJECTIONS_MAX];
    size_t n = tl_views_stats(v, st, TL_VIEWS_PROJECTIONS_MAX);
    for (size_t i = 0; i < n && i < TL_VIEWS_PROJECTIONS_MAX; i++) {
        if ((name == NULL || strcmp(st[i].name, name) == 0) && !st[i].ready) {
            fprintf(stderr, "techledger rebuild: the %s projection did not rebuild\n", st[i].name);
            code = TL_EXIT_FAILURE;
        }
    }
    if (code == TL_EXIT_OK)
        printf("rebuilt %s: %" PRIu64 " records in %.3f s (%.0f records/s)\n", name ? name : "every projection",
               size, (double)ms / 1000.0, ms ? (double)size * 1000.0 / (double)ms : 0.0);
done:
    tl_views_close(v);
    tl_ledger_close(l);
    return code;
}
