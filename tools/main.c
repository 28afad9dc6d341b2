/* techledger: one command, many subcommands. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "tl_cmd.h"
#include "tl_crypto.h"

static const tl_cmd commands[] = {
    {"init", "create a ledger: checkpoint key and genesis record", tl_cmd_init},
    {"keygen", "write a new Ed25519 key pair NAME.key and NAME.pub", tl_cmd_keygen},
    {"sign", "sign JSON events into MessagePack envelopes", tl_cmd_sign},
    {"submit", "append signed envelopes to a ledger directory or a server (--server URL)", tl_cmd_submit},
    {"get", "print records of a ledger or a server as JSON (SEQ or --stream S)", tl_cmd_get},
    {"serve", "serve a ledger over HTTP: the API, views and the dashboard", tl_cmd_serve},
    {"checkpoint", "print the latest signed checkpoint of a ledger", tl_cmd_checkpoint},
    {"vkey", "print a ledger's checkpoint verifier key line", tl_cmd_vkey},
    {"export", "write the audit bundle of a ledger (--audit OUT)", tl_cmd_export},
    {"verify", "audit a ledger directory or an audit bundle offline", tl_cmd_verify},
    {"schema", "print the event catalogue (JSON, or --markdown: docs/events.md)", tl_cmd_schema},
    {"demo", "create a demonstration ledger: a calibrated synthetic economy, 2016-2025", tl_cmd_demo},
    {"report", "print a view (turnover, funds, loans, ...) as a table, CSV or JSON", tl_cmd_report},
    {"rebuild", "rebuild the views from record 0 beside the live ones, then switch", tl_cmd_rebuild},
    {"project", "run the projection workers as a process of their own", tl_cmd_project},
    {"bench", "measure the performance targets as ratios against same-run baselines", tl_cmd_bench},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: techledger COMMAND [ARGS...]\n\n"
                 "An event-sourced, tamper-evident ledger for technology contracts and fund flows.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'techledger COMMAND --help' describes one command.\n");
}

bool tl_cmd_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return TL_EXIT_OK;
    }
    /* Blocks of 128 KiB and more get a mapping of their own, returned to the system when
     * freed. glibc's default raises that threshold to the largest block freed so far, so once
     * RocksDB drops a large index or filter block (0.1-2 MiB) or a memtable's arena blocks
     * (2 MiB), later ones are carved from the heap, whose holes kept a server's RSS growing
     * with the log past its bounded caches: peak 205 MiB at 3M records, 175 MiB with this
     * (`bench --events 3000000 --only resources`; the 10M run had reached 280 MiB). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    if (tl_crypto_init() != 0) {
        fprintf(stderr, "techledger: cannot initialise libsodium\n");
        return TL_EXIT_IO;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "techledger: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return TL_EXIT_USAGE;
}
