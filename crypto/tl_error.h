/*
 * Error codes and the error record shared by every techledger module.
 *
 * It lives in crypto/ because that is the bottom library that every other one links; nothing
 * in it is cryptographic. Functions return 0 on success or a negative TL_E... code; when the
 * caller passes a tl_error, it also receives a stable rule name (machine-readable, used as the
 * HTTP "error" code), the path of the offending field ("data.total_fen") and a human message.
 */
#ifndef TL_ERROR_H
#define TL_ERROR_H

#include <stddef.h>

enum {
    TL_OK = 0,
    TL_EINVAL = -1,    /* malformed input: encoding, schema, arguments */
    TL_ESIG = -2,      /* a signature does not verify */
    TL_EDENIED = -3,   /* key unknown, revoked, or its participant lacks the role */
    TL_ECONFLICT = -4, /* expect mismatch, event id reused with other bytes, duplicate entity */
    TL_ENOTFOUND = -5, /* no such record, stream, key, file */
    TL_ETOOBIG = -6,   /* a named limit was exceeded */
    TL_EIO = -7,       /* storage or operating-system failure */
    TL_ENOSPC = -8,    /* the disk is full; nothing was written */
    TL_ENOMEM = -9,
    TL_ECORRUPT = -10, /* stored or exported data fails a check */
    TL_ESTATE = -11,   /* not possible in the object's state (closed, already exists, read-only) */
    TL_EREF = -12      /* a reference names something not in the log */
};

#define TL_ERROR_RULE_BYTES 64
#define TL_ERROR_PATH_BYTES 128
#define TL_ERROR_MSG_BYTES 256

typedef struct tl_error {
    int code;                       /* TL_E... */
    char rule[TL_ERROR_RULE_BYTES]; /* stable name of the rule that failed, e.g. "canonical.shortest" */
    char path[TL_ERROR_PATH_BYTES]; /* field path, e.g. "data.total_fen"; "" when not about a field */
    char msg[TL_ERROR_MSG_BYTES];   /* human-readable detail */
} tl_error;

/* Static text for a code; never NULL. */
const char *tl_strerror(int code);

/* Fills err (if not NULL) and returns code, so callers can write `return tl_fail(...)`. */
int tl_fail(tl_error *err, int code, const char *rule, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Clears err to "no error". */
void tl_error_clear(tl_error *err);

/* Formats "rule at path: msg" (or "rule: msg") into buf. Returns buf. */
const char *tl_error_format(const tl_error *err, char *buf, size_t size);

#endif
