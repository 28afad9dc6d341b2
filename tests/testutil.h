/* Helpers shared by the tests: temporary directories, key fixtures, event building. */
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

#endif

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
