/* techledger export DIR --audit OUT: the audit bundle of FORMAT.md section 8. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tl_bundle.h"
#include "tl_cmd.h"
#include "tl_ledger.h"
#include "tl_verify.h"

static const char export_help[] =
    "usage: techledger export DIR --audit OUT [--progress]\n\n"
    "Writes the audit bundle of the ledger in DIR to the new directory OUT (FORMAT.md section 8):\n"
    "  OUT/records             every record, seq 0 to n-1, concatenated MessagePack, where n\n"
    "                          is the size of the latest checkpoint (so each record is covered\n"
    "                          by a signed tree head)\n"
    "  OUT/checkpoints/<size>  every checkpoint the ledger issued, as signed\n"
    "  OUT/ledger.vkey         the checkpoint verifier key line\n"
    "  OUT/admin.pub           the genesis administrator's public key\n\n"
    "An auditor checks it with `techledger verify OUT` or with tools of their own. OUT must not\n"
    "exist; the bundle is built beside it and renamed into place only once complete and on\n"
    "disk, so an interrupted export never leaves an OUT that looks whole.\n\n"
    "The ledger is opened read-only, or as a follower when a running server holds it; records\n"
    "appended during the export are left for the next one.\n\n"
    "  --progress   report progress on standard error (the default when it is a terminal)\n";

typedef struct progress_ctx {
    bool tty;
} progress_ctx;

static void show_progress(void *ctx, uint64_t records, uint64_t total, double seconds)
{
    const progress_ctx *p = ctx;
    double pct = total > 0 ? 100.0 * (double)records / (double)total : 100.0;
    double rate = seconds > 0 ? (double)records / seconds : 0;
    fprintf(stderr, "%sexport: %" PRIu64 " of %" PRIu64 " records (%.0f%%), %.0f records/s%s", p->tty ? "\r" : "",
            records, total, pct, rate, p->tty ? "   " : "\n");
}

int tl_cmd_export(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(export_help, stdout);
        return TL_EXIT_OK;
    }
    static const struct option opts[] = {
        {"audit", required_argument, NULL, 'a'}, {"progress", no_argument, NULL, 'p'}, {0, 0, 0, 0}};
    const char *out = NULL;
    bool progress = isatty(STDERR_FILENO) != 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "a:", opts, NULL)) != -1) {
        if (c == 'a')
            out = optarg;
        else if (c == 'p')
            progress = true;
        else {
            fputs(export_help, stderr);
            return TL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || out == NULL) {
        fputs(export_help, stderr);
        return TL_EXIT_USAGE;
    }
    const char *dir = argv[optind];
    tl_error err;
    tl_error_clear(&err);
    char msg[512];
    tl_ledger *l;
    if (tl_verify_open_ledger(&l, dir, &err) != 0) {
        fprintf(stderr, "techledger export: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    progress_ctx pc = {.tty = isatty(STDERR_FILENO) != 0};
    tl_bundle_summary sum;
    int rc = tl_bundle_export(&sum, l, out, progress ? show_progress : NULL, &pc, &err);
    tl_ledger_close(l);
    if (progress && pc.tty)
        fputs("\n", stderr);
    if (rc != 0) {
        fprintf(stderr, "techledger export: %s\n", tl_error_format(&err, msg, sizeof msg));
        return rc == TL_ESTATE || rc == TL_EINVAL ? TL_EXIT_FAILURE : TL_EXIT_IO;
    }
    printf("exported %" PRIu64 " records (%" PRIu64 " bytes) and %" PRIu64 " checkpoints to %s\n", sum.records,
           sum.record_bytes, sum.checkpoints, out);
    if (sum.checkpoint_size < sum.records)
        printf("note: the last %" PRIu64 " records come after the latest checkpoint (size %" PRIu64
               "); no signed root covers them yet\n",
               sum.records - sum.checkpoint_size, sum.checkpoint_size);
    return TL_EXIT_OK;
}
