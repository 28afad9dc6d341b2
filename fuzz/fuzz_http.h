/*
 * What fuzz_http.c (the target) and gen_http.c (its seeds) must agree on: the ledger the
 * target serves holds these streams, and the seeds ask for them, so that a seed reaches the
 * handlers' success paths instead of stopping at "not found".
 */
#ifndef TL_FUZZ_HTTP_H
#define TL_FUZZ_HTTP_H

/* The one bearer token of the target's tokens file (role auditor). */
#define FUZZ_HTTP_AUDITOR_TOKEN "fuzz-auditor-token-0123456789abcdef"

/* Contracts in the served ledger: one public, one a commercial secret (a public reader sees
 * its records redacted). Both are registered by registry-bj (FUZZ_KEY_REGISTRY). */
#define FUZZ_HTTP_CONTRACT_PUBLIC "2019110108000123"
#define FUZZ_HTTP_CONTRACT_SECRET "2019110108000124"
/* The served ledger's size before any submission, which its one checkpoint covers. */
#define FUZZ_HTTP_CHECKPOINT_SIZE "10"
/* The contract the POST seed registers: absent at first, a duplicate on every later run. */
#define FUZZ_HTTP_CONTRACT_POSTED "2020110108000777"

#endif
