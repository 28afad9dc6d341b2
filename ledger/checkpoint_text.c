/*
 * Checkpoint bodies: formatting and strict parsing (the format is described in
 * tl_checkpoint.h). Signing and storing checkpoints live elsewhere; this file only turns a
 * tree head into its one text and back.
 */
#include "tl_checkpoint.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ROOT_B64_BYTES 44  /* base64 of 32 bytes, with one '=' */
#define SIZE_DIGITS_MAX 20 /* UINT64_MAX = 18446744073709551615 */

static int origin_check(const char *origin, size_t len, tl_error *err)
{
    if (len == 0)
        return tl_fail(err, TL_EINVAL, "checkpoint.origin", "origin", "the origin is empty");
    if (len > TL_CHECKPOINT_ORIGIN_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "checkpoint.origin", "origin",
                       "the origin has %zu bytes; at most %d", len, TL_CHECKPOINT_ORIGIN_BYTES_MAX);
    if (memchr(origin, '\n', len) != NULL)
        return tl_fail(err, TL_EINVAL, "checkpoint.origin", "origin", "the origin holds a newline");
    int rc = tl_note_text_check(origin, len, err);
    if (rc != 0 && err != NULL)
        snprintf(err->path, sizeof err->path, "origin");
    return rc;
}

int tl_checkpoint_format(char out[TL_CHECKPOINT_TEXT_BYTES_MAX], size_t *out_len,
                         const tl_checkpoint *cp, tl_error *err)
{
    *out_len = 0;
    out[0] = '\0';
    size_t origin_len = strnlen(cp->origin, sizeof cp->origin);
    int rc = origin_check(cp->origin, origin_len, err);
    if (rc != 0)
        return rc;
    char b64[ROOT_B64_BYTES + 1];
    tl_base64_encode(b64, cp->root, TL_HASH_BYTES);
    int n = snprintf(out, TL_CHECKPOINT_TEXT_BYTES_MAX, "%.*s\n%llu\n%s\n", (int)origin_len,
                     cp->origin, (unsigned long long)cp->size, b64);
    /* The buffer is sized for the longest origin and size; anything else is a bug here. */
    if (n < 0 || (size_t)n >= TL_CHECKPOINT_TEXT_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "checkpoint.format", "", "checkpoint text overflow");
    *out_len = (size_t)n;
    return 0;
}

/* The next line of text[*pos, len) without its newline; false when no newline is left. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line,
                      size_t *line_len)
{
    const char *nl = memchr(text + *pos, '\n', len - *pos);
    if (nl == NULL)
        return false;
    *line = text + *pos;
    *line_len = (size_t)(nl - *line);
    *pos = (size_t)(nl - text) + 1;
    return true;
}

static int parse_size(uint64_t *out, const char *s, size_t len, tl_error *err)
{
    if (len == 0 || len > SIZE_DIGITS_MAX)
        return tl_fail(err, TL_EINVAL, "checkpoint.size", "size",
                       "the tree size must be 1 to %d decimal digits", SIZE_DIGITS_MAX);
    if (s[0] == '0' && len > 1)
        return tl_fail(err, TL_EINVAL, "checkpoint.size", "size",
                       "the tree size has a leading zero");
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return tl_fail(err, TL_EINVAL, "checkpoint.size", "size",
                           "the tree size holds a character other than a digit");
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return tl_fail(err, TL_EINVAL, "checkpoint.size", "size",
                           "the tree size does not fit in 64 bits");
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Only the standard alphabet and padding: libsodium 1.0.18's decoder would read any byte
 * >= 0x80 as '/', letting a changed byte decode to the same root. */
static bool b64_alphabet(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return false;
    }
    return true;
}

int tl_checkpoint_parse(tl_checkpoint *out, const char *text, size_t len, tl_error *err)
{
    memset(out, 0, sizeof *out);
    tl_checkpoint cp;
    memset(&cp, 0, sizeof cp);
    if (len >= TL_CHECKPOINT_TEXT_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "checkpoint.length", "",
                       "a checkpoint body has at most %d bytes", TL_CHECKPOINT_TEXT_BYTES_MAX - 1);
    size_t pos = 0;
    const char *origin, *size, *root;
    size_t origin_len, size_len, root_len;
    if (!next_line(text, len, &pos, &origin, &origin_len) ||
        !next_line(text, len, &pos, &size, &size_len) ||
        !next_line(text, len, &pos, &root, &root_len))
        return tl_fail(err, TL_EINVAL, "checkpoint.lines", "",
                       "expected three lines, each ending in a newline: origin, size, root");
    if (pos != len)
        return tl_fail(err, TL_EINVAL, "checkpoint.lines", "",
                       "text follows the root line (a techledger checkpoint has no extensions)");
    int rc = origin_check(origin, origin_len, err);
    if (rc != 0)
        return rc;
    memcpy(cp.origin, origin, origin_len);
    rc = parse_size(&cp.size, size, size_len, err);
    if (rc != 0)
        return rc;
    size_t root_bytes = 0;
    uint8_t buf[TL_HASH_BYTES + 1]; /* one spare byte: a longer value must not fit */
    if (root_len != ROOT_B64_BYTES || !b64_alphabet(root, root_len) ||
        tl_base64_decode(buf, sizeof buf, &root_bytes, root, root_len) != 0 ||
        root_bytes != TL_HASH_BYTES)
        return tl_fail(err, TL_EINVAL, "checkpoint.root", "root",
                       "the root must be canonical standard base64 of 32 bytes");
    memcpy(cp.root, buf, TL_HASH_BYTES);
    *out = cp;
    return 0;
}

int tl_checkpoint_open(tl_checkpoint *out, const char *note, size_t len, const tl_note_verifier *v,
                       tl_error *err)
{
    memset(out, 0, sizeof *out);
    size_t text_len = 0;
    int rc = tl_note_verify(&text_len, note, len, v, err);
    if (rc != 0)
        return rc;
    tl_checkpoint cp;
    rc = tl_checkpoint_parse(&cp, note, text_len, err);
    if (rc != 0)
        return rc;
    if (strcmp(cp.origin, v->name) != 0)
        return tl_fail(err, TL_EINVAL, "checkpoint.origin", "origin",
                       "the origin '%s' is not the key name '%s'", cp.origin, v->name);
    *out = cp;
    return 0;
}
