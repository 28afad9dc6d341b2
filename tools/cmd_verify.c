/* techledger verify DIR|BUNDLE: the full offline audit (ledger/tl_verify.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tl_cmd.h"
#include "tl_verify.h"

static const char verify_help[] =
    "usage: techledger verify DIR|BUNDLE [--progress] [--threads N]\n\n"
    "Audits a ledger directory or an audit bundle (`techledger export --audit`) offline, with\n"
    "the same checks either way:\n"
    "  - every checkpoint's signature and origin against the verifier key (ledger.vkey);\n"
    "  - every record: canonical MessagePack, seq 0..n-1 without gaps, the event signature,\n"
    "    the event schema, `recorded` never decreasing;\n"
    "  - the log replayed through the sequencer's own rules: each signer entitled to its event\n"
    "    type at that point of the log, stream versions and `expect`, references, no event id\n"
    "    twice; record 0 the genesis signed by the administrator key (admin.pub);\n"
    "  - the Merkle root recomputed at every checkpoint's size and compared with the signed one;\n"
    "  - for a ledger directory, also every stored Merkle node and root.\n\n"
    "Prints a summary and exits 0 when everything verifies. Otherwise reports the first failure\n"
    "(the record's seq, the part of the ledger or bundle, the rule and the field) and exits 1;\n"
    "exits 3 when the input cannot be read at all.\n\n"
    "A ledger directory is opened read-only, or as a follower when a running server holds it.\n\n"
    "  --progress    report progress on standard error (the default when it is a terminal)\n"
    "  --threads N   signature-checking threads (default: one per CPU)\n";

typedef struct progress_ctx {
    bool tty;
    bool shown;
} progress_ctx;

static void show_progress(void *ctx, const tl_verify_progress *p)
{
    progress_ctx *pc = ctx;
    double rate = p->seconds > 0 ? (double)p->records / p->seconds : 0;
    char pct[32] = "";
    if (p->records_total > 0)
        snprintf(pct, sizeof pct, " of %" PRIu64 " (%.0f%%)", p->records_total,
                 100.0 * (double)p->records / (double)p->records_total);
    else if (p->bytes_total > 0)
        snprintf(pct, sizeof pct, " (%.0f%%)", 100.0 * (double)p->bytes / (double)p->bytes_total);
    fprintf(stderr, "%sverify: %" PRIu64 " records%s, %.0f records/s%s", pc->tty ? "\r" : "", p->records, pct, rate,
            pc->tty ? "   " : "\n");
    pc->shown = true;
}

static void print_summary(const char *path, const tl_verify_report *r)
{
    char root[64];
    tl_base64_encode(root, r->root, TL_HASH_BYTES);
    printf("verified %s (origin %s)\n", path, r->origin);
    printf("  records      %" PRIu64 " (%" PRIu64 " bytes) in %" PRIu64 " streams\n", r->records, r->record_bytes,
           r->streams);
    printf("  checkpoints  %" PRIu64 " verified, the latest at size %" PRIu64 "\n", r->checkpoints, r->checkpoint_size);
    if (r->uncovered > 0)
        printf("  note         the last %" PRIu64 " records come after the latest checkpoint: they passed every\n"
               "               check, but no signed root covers them yet\n",
               r->uncovered);
    if (r->stored_nodes > 0)
        printf("  stored tree  %" PRIu64 " Merkle nodes match the records\n", r->stored_nodes);
    printf("  root         %s (all %" PRIu64 " records)\n", root, r->records);
    printf("  time         %.2f s, %.0f records/s on %u threads\n", r->seconds,
           r->seconds > 0 ? (double)r->records / r->seconds : 0.0, r->threads);
    printf("OK\n");
}

int tl_cmd_verify(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(verify_help, stdout);
        return TL_EXIT_OK;
    }
    static const struct option opts[] = {
        {"progress", no_argument, NULL, 'p'}, {"threads", required_argument, NULL, 't'}, {0, 0, 0, 0}};
    progress_ctx pc = {.tty = isatty(STDERR_FILENO) != 0};
    bool progress = pc.tty;
    tl_verify_options opt = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'p') {
            progress = true;
        } else if (c == 't') {
            char *end;
            errno = 0;
            unsigned long n = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] == '-' || n < 1 || n > TL_VERIFY_THREADS_MAX) {
                fprintf(stderr, "techledger verify: --threads must be 1..%u\n", TL_VERIFY_THREADS_MAX);
                return TL_EXIT_USAGE;
            }
            opt.threads = (unsigned)n;
        } else {
            fputs(verify_help, stderr);
            return TL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(verify_help, stderr);
        return TL_EXIT_USAGE;
    }
    const char *path = argv[optind];
    if (progress) {
        opt.progress = show_progress;
        opt.progress_ctx = &pc;
    }
    tl_verify_report rep;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_verify_path(&rep, path, &opt, &err);
    if (pc.shown && pc.tty)
        fputs("\n", stderr);
    if (rc == 0) {
        print_summary(path, &rep);
        return TL_EXIT_OK;
    }
    char at[96] = "";
    if (rep.seq != TL_VERIFY_NO_SEQ)
        snprintf(at, sizeof at, " at seq %" PRIu64, rep.seq);
    char in[TL_VERIFY_WHERE_BYTES + 8] = "";
    if (rep.where[0] != '\0')
        snprintf(in, sizeof in, " in %s", rep.where);
    char field[TL_ERROR_PATH_BYTES + 16] = "";
    if (err.path[0] != '\0')
        snprintf(field, sizeof field, ", field %s", err.path);
    fprintf(stderr, "techledger verify: %s%s%s: rule %s%s: %s\n", rep.failed ? "FAILED" : "cannot verify", at, in,
            err.rule[0] ? err.rule : "unknown", field, err.msg);
    if (rep.failed)
        fprintf(stderr, "techledger verify: %" PRIu64 " records and %" PRIu64 " checkpoints verified before it\n",
                rep.records, rep.checkpoints);
    return rep.failed ? TL_EXIT_FAILURE : TL_EXIT_IO;
}
