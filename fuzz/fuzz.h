/*
 * Shared pieces of the libFuzzer targets in fuzz/.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput and nothing else with external linkage.
 * Built with -DTL_FUZZ=ON (clang), a target links libFuzzer and explores on its own
 * (scripts/fuzz.sh). In the ordinary build the same file links driver.c instead, which
 * replays fuzz/corpus/<name>/ plus deterministic truncations and bit flips of every file, so
 * ctest exercises the bodies on every run (label unit).
 *
 * A target does two things with each input: it must not crash, leak or trip a sanitizer, and
 * whatever a decoder accepts must obey the format's invariants (canonical input re-encodes to
 * the same bytes; a failure names a rule). FUZZ_CHECK aborts on a broken invariant, which both
 * libFuzzer and the driver report as a failure together with the input.
 *
 * The generator (gen_corpus.c) and the targets share the fixed keys below, so that seed inputs
 * carry valid signatures and checkpoints the targets can verify. Files named regress-* in a
 * corpus are inputs that once found a bug; they stay, so the smoke test guards the fix:
 *   json/regress-no-data-leak  an event without "data" leaked the {} that tl_json_envelope
 *                              made for it (api/json_event.c; found by fuzz_json).
 *   http/regress-http-version  evhttp answered in whatever version the request claimed
 *                              ("HTTP/0.1 200 OK", no length); now 1.x is served as 1.1
 *                              and the rest refused (api/server.c on_request).
 *   http/regress-head-body     a reply to HEAD carried the GET's body, without a length, so
 *                              the next reply on the connection was lost (api_send).
 *   http/regress-utf8-path     a path that is not UTF-8 was echoed into the error's JSON,
 *                              which then was no JSON (api_json_string).
 *   http/get-app-js            (a seed, not a regress file) a client's half-close cut every
 *                              reply beyond 16 KiB (api/server.c hold_reading).
 * All found by fuzz_http; tests/test_api.c has a test for each.
 */
#ifndef TL_FUZZ_H
#define TL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tl_crypto.h"
#include "tl_event.h"

/* Checkpoint origin (and note key name) of the seed checkpoints. */
#define FUZZ_ORIGIN "fuzz.example/ledger"
/* Inputs above this are cut: every decoder under test refuses far smaller inputs anyway
 * (TL_BATCH_BYTES_MAX is the largest limit), and shorter runs explore more. */
#define FUZZ_INPUT_BYTES_MAX (TL_BATCH_BYTES_MAX + 16u)

#define FUZZ_CHECK(cond, what)                                                                    \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", __FILE__, __LINE__, what);     \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed key pairs: the seed of key k is 32 bytes of value k+1. 0 = checkpoint key,
 * 1 = admin, 2 = registry. */
enum { FUZZ_KEY_CHECKPOINT = 0, FUZZ_KEY_ADMIN = 1, FUZZ_KEY_REGISTRY = 2 };
static inline void fuzz_keypair(tl_keypair *out, int k)
{
    uint8_t seed[TL_SEED_BYTES];
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)(k + 1);
    tl_keypair_from_seed(out, seed);
}

/* libsodium must be initialised once; every target calls this first. */
static inline void fuzz_init(void)
{
    static int done;
    if (!done) {
        if (tl_crypto_init() != 0)
            abort();
        done = 1;
    }
}

#endif
