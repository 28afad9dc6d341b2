/* techledger: one command, many subcommands. */
#include <stdio.h>
#include <string.h>

#include "tl_cmd.h"
#include "tl_crypto.h"

static const tl_cmd commands[] = {
    {"init", "create a ledger: checkpoint key and genesis record", tl_cmd_init},
    {"keygen", "write a new Ed25519 key pair NAME.key and NAME.pub", tl_cmd_keygen},
    {"sign", "sign JSON events into MessagePack envelopes", tl_cmd_sign},
    {"schema", "print the event catalogue (JSON, or --markdown: docs/events.md)", tl_cmd_schema},
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
