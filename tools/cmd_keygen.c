/* techledger keygen NAME: writes NAME.key (secret seed, 0600) and NAME.pub. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_cmd.h"
#include "tl_crypto.h"

static const char keygen_help[] =
    "usage: techledger keygen NAME\n\n"
    "Writes a new Ed25519 key pair: NAME.key holds the 32-byte secret seed as 64 hex digits\n"
    "(mode 0600), NAME.pub the public key. Existing files are never replaced.\n";

int tl_cmd_keygen(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(keygen_help, stdout);
        return TL_EXIT_OK;
    }
    if (argc != 2) {
        fputs(keygen_help, stderr);
        return TL_EXIT_USAGE;
    }
    size_t n = strlen(argv[1]) + 5;
    char *key_path = malloc(n), *pub_path = malloc(n);
    if (key_path == NULL || pub_path == NULL) {
        free(key_path);
        free(pub_path);
        return TL_EXIT_IO;
    }
    snprintf(key_path, n, "%s.key", argv[1]);
    snprintf(pub_path, n, "%s.pub", argv[1]);
    tl_keypair kp;
    tl_keypair_generate(&kp);
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_secret_key_write(key_path, &kp, &err);
    if (rc == 0) {
        rc = tl_public_key_write(pub_path, kp.pk, &err);
        if (rc != 0)
            remove(key_path);
    }
    tl_keypair_wipe(&kp);
    char msg[512];
    if (rc != 0)
        fprintf(stderr, "techledger keygen: %s\n", tl_error_format(&err, msg, sizeof msg));
    else
        printf("wrote %s and %s\n", key_path, pub_path);
    free(key_path);
    free(pub_path);
    return rc == 0 ? TL_EXIT_OK : TL_EXIT_IO;
}
