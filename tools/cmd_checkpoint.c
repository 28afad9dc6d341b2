/* techledger checkpoint DIR, techledger vkey DIR: the ledger's latest signed tree head and the
 * key that verifies it, for auditors who fetch them out of band. */
#include <stdio.h>
#include <string.h>

#include "tl_cmd.h"
#include "tl_ledger.h"
#include "tl_verify.h"

static const char checkpoint_help[] =
    "usage: techledger checkpoint DIR\n\n"
    "Prints the ledger's latest checkpoint (FORMAT.md section 7), byte for byte as it was\n"
    "signed: origin, tree size, root hash, a blank line and the signature line. Check it with\n"
    "the verifier key that `techledger vkey DIR` prints.\n\n"
    "The ledger is opened read-only, or as a follower when a running server holds it.\n";

static const char vkey_help[] =
    "usage: techledger vkey DIR\n\n"
    "Prints the ledger's checkpoint verifier key line, <origin>+<key hash>+<base64 key>\n"
    "(FORMAT.md section 7). Publish it where auditors can find it: everything `verify`\n"
    "concludes about checkpoints rests on it.\n\n"
    "The ledger is opened read-only, or as a follower when a running server holds it.\n";

#define HANDLED (-1) /* --help was answered: exit 0 */

/* Parses "NAME DIR" and opens DIR for reading. 0, HANDLED or an exit code. */
static int open_dir(tl_ledger **l, const char *name, int argc, char **argv, const char *help)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(help, stdout);
        return HANDLED;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fputs(help, stderr);
        return TL_EXIT_USAGE;
    }
    tl_error err;
    tl_error_clear(&err);
    if (tl_verify_open_ledger(l, argv[1], &err) != 0) {
        char msg[512];
        fprintf(stderr, "techledger %s: %s\n", name, tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    return 0;
}

int tl_cmd_checkpoint(int argc, char **argv)
{
    tl_ledger *l = NULL;
    int rc = open_dir(&l, "checkpoint", argc, argv, checkpoint_help);
    if (rc != 0)
        return rc == HANDLED ? TL_EXIT_OK : rc;
    tl_buf note;
    tl_buf_init(&note);
    uint64_t size = 0;
    tl_error err;
    tl_error_clear(&err);
    int exit_code = TL_EXIT_OK;
    rc = tl_ledger_checkpoint_latest(l, &note, &size, &err);
    if (rc != 0) {
        char msg[512];
        fprintf(stderr, "techledger checkpoint: %s\n", tl_error_format(&err, msg, sizeof msg));
        exit_code = rc == TL_ENOTFOUND ? TL_EXIT_FAILURE : TL_EXIT_IO;
    } else if (fwrite(note.data, 1, note.len, stdout) != note.len || fflush(stdout) != 0) {
        fprintf(stderr, "techledger checkpoint: cannot write to standard output\n");
        exit_code = TL_EXIT_IO;
    }
    tl_buf_free(&note);
    tl_ledger_close(l);
    return exit_code;
}

int tl_cmd_vkey(int argc, char **argv)
{
    tl_ledger *l = NULL;
    int rc = open_dir(&l, "vkey", argc, argv, vkey_help);
    if (rc != 0)
        return rc == HANDLED ? TL_EXIT_OK : rc;
    char line[TL_NOTE_VKEY_BYTES_MAX + 1];
    int exit_code = TL_EXIT_OK;
    rc = tl_ledger_vkey(l, line, sizeof line);
    if (rc != 0) {
        fprintf(stderr, "techledger vkey: ledger.vkey: cannot read %s/ledger.vkey: %s\n", argv[1], tl_strerror(rc));
        exit_code = TL_EXIT_IO;
    } else if (printf("%s\n", line) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "techledger vkey: cannot write to standard output\n");
        exit_code = TL_EXIT_IO;
    }
    tl_ledger_close(l);
    return exit_code;
}
