/* techledger init DIR --origin ORIGIN --admin-key FILE */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tl_cmd.h"
#include "tl_crypto.h"
#include "tl_ledger.h"

static const char init_help[] =
    "usage: techledger init DIR --origin ORIGIN --admin-key FILE\n\n"
    "Creates a ledger in DIR (which must not hold one):\n"
    "  - its own checkpoint signing key, DIR/checkpoint.key (mode 0600),\n"
    "  - the checkpoint verifier key line, DIR/ledger.vkey, printed on success,\n"
    "  - record 0, the ledger.genesis event naming ORIGIN and the administrator,\n"
    "    signed with the secret key in FILE (see `techledger keygen`).\n\n"
    "ORIGIN names the ledger in every checkpoint, e.g. techledger.example/national.\n";

int tl_cmd_init(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(init_help, stdout);
        return TL_EXIT_OK;
    }
    static const struct option opts[] = {
        {"origin", required_argument, NULL, 'o'}, {"admin-key", required_argument, NULL, 'k'}, {0, 0, 0, 0}};
    const char *origin = NULL, *key_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:k:", opts, NULL)) != -1) {
        if (c == 'o')
            origin = optarg;
        else if (c == 'k')
            key_path = optarg;
        else {
            fputs(init_help, stderr);
            return TL_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || origin == NULL || key_path == NULL) {
        fputs(init_help, stderr);
        return TL_EXIT_USAGE;
    }
    const char *dir = argv[optind];
    tl_error err;
    tl_error_clear(&err);
    char msg[512];
    tl_keypair admin;
    if (tl_secret_key_read(key_path, &admin, &err) != 0) {
        fprintf(stderr, "techledger init: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    int rc = tl_ledger_create(dir, origin, &admin, NULL, &err);
    tl_keypair_wipe(&admin);
    if (rc != 0) {
        fprintf(stderr, "techledger init: %s\n", tl_error_format(&err, msg, sizeof msg));
        return rc == TL_EINVAL || rc == TL_ESTATE ? TL_EXIT_FAILURE : TL_EXIT_IO;
    }
    tl_ledger *l;
    tl_ledger_options ro = {.mode = TL_OPEN_READ_ONLY};
    if (tl_ledger_open(&l, dir, &ro, &err) != 0) {
        fprintf(stderr, "techledger init: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    char vkey[512];
    if (tl_ledger_vkey(l, vkey, sizeof vkey) == 0) {
        printf("created ledger %s in %s\n", origin, dir);
        printf("checkpoint verifier key (also in %s/ledger.vkey):\n%s\n", dir, vkey);
    }
    tl_ledger_close(l);
    return TL_EXIT_OK;
}
