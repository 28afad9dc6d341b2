/* Helpers shared by the tests: temporary directories, key fixtures, event building and
 * submission, shell commands, the example history and its bundle, a log checked from its bytes. */
#ifndef TL_TESTUTIL_H
#define TL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A fresh empty directory under $TMPDIR (or /tmp); the returned string is malloc'd. */
char *tl_test_tmpdir(const char *tag);
/* rm -rf of a directory made by tl_test_tmpdir. */
void tl_test_rmdir(const char *path);

#include "tl_bundle.h"
#include "tl_json_event.h"
#include "tl_ledger.h"

/* A ledger in a fresh temporary directory with an admin, and a registry office
 * "registry-bj" (role registry, key registry), seller "tsinghua" and buyer "acme" (no keys). */
typedef struct tl_test_ledger {
    char *dir;
    tl_ledger *l;
    tl_keypair admin;
    tl_keypair registry;
} tl_test_ledger;

void tl_test_ledger_create(tl_test_ledger *t, const char *tag);
/* Opens again after a close (the same directory and keys). */
void tl_test_ledger_reopen(tl_test_ledger *t);
void tl_test_ledger_destroy(tl_test_ledger *t);

/* Signs the JSON event (see tl_json_event.h) with kp into env (caller frees env->data). */
void tl_test_envelope(tl_buf *env, const tl_keypair *kp, const char *json);
/* Signs and appends; returns the append code and fills *res. */
int tl_test_append(tl_ledger *l, const tl_keypair *kp, const char *json, tl_append_result *res);
/* A valid contract.registered event as JSON (reg_no, amounts in fen, registered_on). */
void tl_test_contract_json(char *out, size_t cap, const char *reg_no, unsigned long long total_fen,
                           unsigned long long tech_fen, const char *registered_on);

/* Runs a shell command; returns its exit status, with what it printed (standard output and
 * error together) in out, cut at cap - 1 bytes. */
int tl_test_sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, run in directory dir. */
int tl_test_sh_in(const char *dir, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Submits the envelopes in order without waiting for each commit (so that they share group
 * commits; a full queue is waited out), then waits for every answer. */
typedef struct tl_test_submitted {
    size_t created, duplicate, rejected;
    char why[512]; /* the last rejection: rule at path: message */
} tl_test_submitted;
void tl_test_submit_all(tl_ledger *l, const tl_buf *envs, size_t n, tl_test_submitted *out);

/* ---- the documented example history (tl_schema_examples) ---- */

/* The key pair whose seed is 32 bytes of b: how the example history names its signers. */
tl_keypair tl_test_key(uint8_t b);
/* Creates a ledger in dir holding the first count events of the example history (every event
 * type; all of them when count is 0; the genesis counts), with a checkpoint every
 * checkpoint_every records, and returns it open with the same options. */
tl_ledger *tl_test_example_ledger(const char *dir, uint32_t checkpoint_every, size_t count);
/* Exports the ledger in dir (not open for writing here) to the bundle out; fills *sum unless
 * sum is NULL. */
void tl_test_export(const char *dir, const char *out, tl_bundle_summary *sum);

/* ---- a log checked from its bytes alone ---- */

/* RFC 6962 section 2.1 exactly as written, independent of ledger/merkle.c: MTH(D[n]) =
 * SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two below n. */
void tl_test_naive_root(uint8_t out[TL_HASH_BYTES], const uint8_t (*leaves)[TL_HASH_BYTES], uint64_t n);

typedef struct tl_test_log_check {
    uint64_t size;        /* records checked */
    unsigned checkpoints; /* checkpoints verified (those above checked_up_to) */
    uint64_t newest;      /* the size of the latest checkpoint */
} tl_test_log_check;
/* Fails the test unless every record of l is whole (it decodes, holds its own seq, dense from
 * 0, a body that parses and a signature that verifies), the root recomputed here by
 * tl_test_naive_root equals tl_ledger_root, and every checkpoint of a size above
 * checked_up_to verifies against the ledger's vkey and names the recomputed root of its size. */
void tl_test_check_log(tl_ledger *l, uint64_t checked_up_to, tl_test_log_check *out);

#endif
