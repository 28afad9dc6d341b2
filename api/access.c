/*
 * Bearer tokens for the readers that see more than the public (tl_api.h).
 *
 * The tokens file holds one line per token:
 *
 *     # role   SHA-256 of the token, 64 hex digits
 *     auditor      9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *     statistics   ...
 *
 * Only hashes are stored, so reading the file (or a backup of it) gives no usable credential.
 * Make one with: printf %s "$TOKEN" | sha256sum. A request's token is hashed once and compared
 * with every entry using a constant-time comparison, and the loop does not stop at a match, so
 * the time taken says nothing about which bytes or which entry matched.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

#define TOKENS_FILE_BYTES_MAX (64u * 1024u)
#define TOKEN_BYTES_MAX 1024u

/* The roles a token may carry (the public needs none). */
static int role_parse(tl_access *out, const char *s)
{
    if (strcmp(s, "auditor") == 0)
        *out = TL_ACCESS_AUDITOR;
    else if (strcmp(s, "statistics") == 0)
        *out = TL_ACCESS_STATISTICS;
    else if (strcmp(s, "fund_manager") == 0)
        *out = TL_ACCESS_FUND_MANAGER;
    else
        return TL_EINVAL;
    return 0;
}

const char *api_access_name(tl_access a)
{
    switch (a) {
    case TL_ACCESS_AUDITOR:
        return "auditor";
    case TL_ACCESS_STATISTICS:
        return "statistics";
    case TL_ACCESS_FUND_MANAGER:
        return "fund_manager";
    default:
        return "public";
    }
}

int tl_api_tokens_parse(tl_api_tokens *out, const char *text, size_t len, tl_error *err)
{
    memset(out, 0, sizeof *out);
    size_t line_no = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line_no++;
        char line[256];
        size_t ll = (size_t)(le - p);
        char where[32];
        snprintf(where, sizeof where, "line %zu", line_no);
        if (ll >= sizeof line)
            return tl_fail(err, TL_EINVAL, "tokens.line", where, "line longer than %zu bytes", sizeof line - 1);
        memcpy(line, p, ll);
        line[ll] = '\0';
        if (ll > 0 && line[ll - 1] == '\r')
            line[--ll] = '\0';
        p = nl ? nl + 1 : end;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        char role[32], hex[80], extra[8];
        int n = sscanf(s, "%31s %79s %7s", role, hex, extra);
        if (n != 2)
            return tl_fail(err, TL_EINVAL, "tokens.line", where, "expected \"role sha256hex\"");
        tl_access a;
        if (role_parse(&a, role) != 0)
            return tl_fail(err, TL_EINVAL, "tokens.role", where,
                           "unknown role '%s' (auditor, statistics or fund_manager)", role);
        if (out->n == TL_API_TOKENS_MAX)
            return tl_fail(err, TL_ETOOBIG, "tokens.count", where, "more than %u tokens", TL_API_TOKENS_MAX);
        if (strlen(hex) != 64 || tl_hex_decode(out->t[out->n].hash, 32, hex, 64) != 0)
            return tl_fail(err, TL_EINVAL, "tokens.line", where, "the hash must be 64 hex digits (SHA-256)");
        out->t[out->n].access = a;
        out->n++;
    }
    return 0;
}

int tl_api_tokens_load(tl_api_tokens *out, const char *path, tl_error *err)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = tl_file_read(path, TOKENS_FILE_BYTES_MAX, &data, &len, err);
    if (rc != 0)
        return rc;
    rc = tl_api_tokens_parse(out, (const char *)data, len, err);
    free(data);
    return rc;
}

int tl_api_authorize(tl_access *out, const tl_api_tokens *tokens, const char *authorization, tl_error *err)
{
    *out = TL_ACCESS_PUBLIC;
    if (authorization == NULL)
        return 0;
    const char *s = authorization;
    while (*s == ' ')
        s++;
    if (strncasecmp(s, "Bearer ", 7) != 0)
        return tl_fail(err, TL_EDENIED, "auth.scheme", "Authorization", "expected \"Bearer <token>\"");
    s += 7;
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        n--;
    if (n == 0 || n > TOKEN_BYTES_MAX)
        return tl_fail(err, TL_EDENIED, "auth.invalid_token", "Authorization", "the token is not valid");
    uint8_t h[32];
    tl_sha256(h, s, n);
    int found = -1;
    for (size_t i = 0; i < tokens->n; i++) {
        /* crypto_verify_32 runs in constant time; keep going after a match. */
        int match = crypto_verify_32(h, tokens->t[i].hash) == 0;
        found = match && found < 0 ? (int)i : found;
    }
    sodium_memzero(h, sizeof h);
    if (found < 0)
        return tl_fail(err, TL_EDENIED, "auth.invalid_token", "Authorization", "the token is not valid");
    *out = tokens->t[found].access;
    return 0;
}
