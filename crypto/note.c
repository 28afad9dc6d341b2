/*
 * C2SP signed notes and verifier keys (the format is described in tl_note.h).
 *
 * Parsing follows the reference implementation (golang.org/x/mod/sumdb/note) where the spec
 * leaves room, and is stricter where strictness costs nobody anything: the whole note is
 * checked for UTF-8 and control characters before anything else; the text ends at the last
 * blank line; every signature line must be well-formed (name valid, base64 canonical, at
 * least a key hash and one byte), including lines of keys we do not know, which are otherwise
 * ignored as the spec requires. Unlike the reference, which checks only the first of several
 * lines from the same key, every line of our key must verify. Verifier keys must use lowercase
 * hex and canonical base64 and name a valid Ed25519 point, so each key has one spelling.
 */
#include "tl_note.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SIG_PREFIX[] = "\xe2\x80\x94 "; /* em dash U+2014, space */
#define SIG_PREFIX_BYTES (sizeof SIG_PREFIX - 1)
#define B64_KEY_BYTES 44 /* base64 of 0x01 || 32-byte key */

/* libsodium 1.0.18's base64 decoder reads every byte >= 0x80 as '/', so a changed byte could
 * decode to the same value; only the standard alphabet and padding may reach it. */
static int b64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *b64, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = b64[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return TL_EINVAL;
    }
    return tl_base64_decode(out, cap, out_len, b64, len);
}

/* Decodes one UTF-8 sequence at s[*i]; -1 for an invalid, overlong or surrogate sequence. */
static int utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
    unsigned char c = s[*i];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        (*i)++;
        return 0;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2;
        v = c & 0x1fu;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        v = c & 0x0fu;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        v = c & 0x07u;
        min = 0x10000;
    } else {
        return -1;
    }
    if (len - *i < n)
        return -1;
    for (size_t k = 1; k < n; k++) {
        if ((s[*i + k] & 0xc0) != 0x80)
            return -1;
        v = (v << 6) | (s[*i + k] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return -1;
    *cp = v;
    *i += n;
    return 0;
}

/* Unicode White_Space, as Go's unicode.IsSpace, which the reference uses for key names. */
static bool is_unicode_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

int tl_note_text_check(const char *s, size_t len, tl_error *err)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t at = i;
        uint32_t cp;
        if (utf8_next(u, len, &i, &cp) != 0)
            return tl_fail(err, TL_EINVAL, "note.utf8", "", "byte %zu is not valid UTF-8", at);
        if (cp < 0x20 && cp != '\n')
            return tl_fail(err, TL_EINVAL, "note.control", "",
                           "byte %zu is the control character 0x%02x", at, (unsigned)cp);
    }
    return 0;
}

int tl_note_name_check(const char *name, size_t len, tl_error *err)
{
    if (len == 0)
        return tl_fail(err, TL_EINVAL, "note.name", "name", "the key name is empty");
    if (len > TL_NOTE_NAME_BYTES_MAX)
        return tl_fail(err, TL_EINVAL, "note.name", "name",
                       "the key name has %zu bytes; at most %d are allowed", len,
                       TL_NOTE_NAME_BYTES_MAX);
    const unsigned char *u = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        size_t at = i;
        uint32_t cp;
        if (utf8_next(u, len, &i, &cp) != 0)
            return tl_fail(err, TL_EINVAL, "note.name", "name",
                           "byte %zu of the key name is not valid UTF-8", at);
        /* Spaces would break the signature line apart, '+' the verifier key, and control
         * characters may not appear in a note at all. */
        if (is_unicode_space(cp) || cp == '+' || cp < 0x20)
            return tl_fail(err, TL_EINVAL, "note.name", "name",
                           "the key name holds a space, '+' or control character at byte %zu", at);
    }
    return 0;
}

static void key_hash(uint8_t out[TL_NOTE_KEY_HASH_BYTES], const char *name, size_t name_len,
                     const uint8_t pk[TL_PUBKEY_BYTES])
{
    static const uint8_t sep[2] = {'\n', TL_NOTE_ALG_ED25519};
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)name, name_len);
    crypto_hash_sha256_update(&st, sep, sizeof sep);
    crypto_hash_sha256_update(&st, pk, TL_PUBKEY_BYTES);
    crypto_hash_sha256_final(&st, h);
    memcpy(out, h, TL_NOTE_KEY_HASH_BYTES);
}

void tl_note_key_hash(uint8_t out[TL_NOTE_KEY_HASH_BYTES], const char *name,
                      const uint8_t pk[TL_PUBKEY_BYTES])
{
    key_hash(out, name, strlen(name), pk);
}

static int verifier_set(tl_note_verifier *out, const char *name, size_t name_len,
                        const uint8_t pk[TL_PUBKEY_BYTES], tl_error *err)
{
    int rc = tl_note_name_check(name, name_len, err);
    if (rc != 0)
        return rc;
    /* Small-order and non-canonical encodings would verify forged or ambiguous signatures
     * under some implementations; refuse them here, once. */
    if (crypto_core_ed25519_is_valid_point(pk) != 1)
        return tl_fail(err, TL_EINVAL, "note.key", "key",
                       "the public key is not a valid Ed25519 point");
    memset(out, 0, sizeof *out);
    memcpy(out->name, name, name_len);
    memcpy(out->pk, pk, TL_PUBKEY_BYTES);
    key_hash(out->key_hash, name, name_len, pk);
    return 0;
}

int tl_note_verifier_init(tl_note_verifier *out, const char *name,
                          const uint8_t pk[TL_PUBKEY_BYTES], tl_error *err)
{
    return verifier_set(out, name, strlen(name), pk, err);
}

void tl_note_vkey_format(char out[TL_NOTE_VKEY_BYTES_MAX], const tl_note_verifier *v)
{
    uint8_t typed[1 + TL_PUBKEY_BYTES];
    typed[0] = TL_NOTE_ALG_ED25519;
    memcpy(typed + 1, v->pk, TL_PUBKEY_BYTES);
    char hex[2 * TL_NOTE_KEY_HASH_BYTES + 1], b64[B64_KEY_BYTES + 1];
    tl_hex_encode(hex, v->key_hash, TL_NOTE_KEY_HASH_BYTES);
    tl_base64_encode(b64, typed, sizeof typed);
    snprintf(out, TL_NOTE_VKEY_BYTES_MAX, "%s+%s+%s", v->name, hex, b64);
}

int tl_note_vkey_parse(tl_note_verifier *out, const char *line, size_t len, tl_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > 0 && line[len - 1] == '\n')
        len--;
    /* The base64 may itself hold '+', so only the first two separate fields. */
    const char *plus = memchr(line, '+', len);
    if (plus == NULL)
        return tl_fail(err, TL_EINVAL, "note.vkey", "", "expected <name>+<hash>+<key>");
    size_t name_len = (size_t)(plus - line);
    const char *hash_hex = plus + 1;
    size_t rest = len - name_len - 1;
    if (rest < 2 * TL_NOTE_KEY_HASH_BYTES + 1 || hash_hex[2 * TL_NOTE_KEY_HASH_BYTES] != '+')
        return tl_fail(err, TL_EINVAL, "note.vkey", "hash",
                       "expected 8 hex digits and '+' after the name");
    for (size_t i = 0; i < 2 * TL_NOTE_KEY_HASH_BYTES; i++) {
        char c = hash_hex[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return tl_fail(err, TL_EINVAL, "note.vkey", "hash",
                           "the key hash must be 8 lowercase hex digits");
    }
    uint8_t hash[TL_NOTE_KEY_HASH_BYTES];
    if (tl_hex_decode(hash, sizeof hash, hash_hex, 2 * TL_NOTE_KEY_HASH_BYTES) != 0)
        return tl_fail(err, TL_EINVAL, "note.vkey", "hash", "the key hash is not hex");
    const char *b64 = hash_hex + 2 * TL_NOTE_KEY_HASH_BYTES + 1;
    size_t b64_len = rest - 2 * TL_NOTE_KEY_HASH_BYTES - 1;
    uint8_t typed[1 + TL_PUBKEY_BYTES + 1]; /* one spare byte: a longer key must not fit */
    size_t typed_len = 0;
    if (b64_decode(typed, sizeof typed, &typed_len, b64, b64_len) != 0)
        return tl_fail(err, TL_EINVAL, "note.vkey", "key",
                       "the key is not canonical standard base64 of 33 bytes");
    if (typed_len != 1 + TL_PUBKEY_BYTES || typed[0] != TL_NOTE_ALG_ED25519)
        return tl_fail(err, TL_EINVAL, "note.vkey", "key",
                       "the key is not 0x01 and a 32-byte Ed25519 public key");
    int rc = verifier_set(out, line, name_len, typed + 1, err);
    if (rc != 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    if (memcmp(out->key_hash, hash, sizeof hash) != 0) {
        char want[2 * TL_NOTE_KEY_HASH_BYTES + 1];
        tl_hex_encode(want, out->key_hash, TL_NOTE_KEY_HASH_BYTES);
        memset(out, 0, sizeof *out);
        return tl_fail(err, TL_EINVAL, "note.vkey_hash", "hash",
                       "the key hash is %.8s but the name and key give %s", hash_hex, want);
    }
    return 0;
}

int tl_note_sign(char **out, size_t *out_len, const char *text, size_t text_len, const char *name,
                 const tl_keypair *kp, tl_error *err)
{
    *out = NULL;
    *out_len = 0;
    size_t name_len = strlen(name);
    int rc = tl_note_name_check(name, name_len, err);
    if (rc != 0)
        return rc;
    if (text_len == 0 || text[text_len - 1] != '\n')
        return tl_fail(err, TL_EINVAL, "note.text", "text", "a note text must end in a newline");
    /* Half the note limit leaves the rest for this and later cosignatures. */
    if (text_len > TL_NOTE_BYTES_MAX / 2)
        return tl_fail(err, TL_ETOOBIG, "note.size", "text", "the text has %zu bytes; at most %d",
                       text_len, TL_NOTE_BYTES_MAX / 2);
    rc = tl_note_text_check(text, text_len, err);
    if (rc != 0)
        return rc;

    uint8_t blob[TL_NOTE_KEY_HASH_BYTES + TL_SIG_BYTES];
    key_hash(blob, name, name_len, kp->pk);
    tl_sign(blob + TL_NOTE_KEY_HASH_BYTES, text, text_len, kp);
    char b64[(TL_NOTE_KEY_HASH_BYTES + TL_SIG_BYTES + 2) / 3 * 4 + 1];
    tl_base64_encode(b64, blob, sizeof blob);
    size_t b64_len = strlen(b64);

    /* text, blank line, "— name sig\n" and a NUL */
    size_t len = text_len + 1 + SIG_PREFIX_BYTES + name_len + 1 + b64_len + 1;
    char *note = malloc(len + 1);
    if (note == NULL)
        return tl_fail(err, TL_ENOMEM, "note.alloc", "", "out of memory for a %zu-byte note", len);
    int n = snprintf(note, len + 1, "%.*s\n%s%s %s\n", (int)text_len, text, SIG_PREFIX, name, b64);
    if (n < 0 || (size_t)n != len) { /* text_len is bounded above, so %.*s cannot truncate */
        free(note);
        return tl_fail(err, TL_EINVAL, "note.format", "", "note formatting failed");
    }
    *out = note;
    *out_len = len;
    return 0;
}

/* Finds the start of the last "\n\n" in s[0, len), or returns false. */
static bool last_blank_line(const char *s, size_t len, size_t *at)
{
    for (size_t i = len; i >= 2; i--) {
        if (s[i - 1] == '\n' && s[i - 2] == '\n') {
            *at = i - 2;
            return true;
        }
    }
    return false;
}

int tl_note_verify(size_t *text_len, const char *note, size_t note_len, const tl_note_verifier *v,
                   tl_error *err)
{
    *text_len = 0;
    if (note_len > TL_NOTE_BYTES_MAX)
        return tl_fail(err, TL_ETOOBIG, "note.size", "", "the note has %zu bytes; at most %d",
                       note_len, TL_NOTE_BYTES_MAX);
    int rc = tl_note_text_check(note, note_len, err);
    if (rc != 0)
        return rc;
    size_t split;
    if (!last_blank_line(note, note_len, &split))
        return tl_fail(err, TL_EINVAL, "note.blank_line", "",
                       "no blank line separates the text from the signatures");
    size_t text_end = split + 1; /* the text keeps its final newline */
    const char *sigs = note + split + 2;
    const char *end = note + note_len;
    if (sigs == end || end[-1] != '\n')
        return tl_fail(err, TL_EINVAL, "note.signature_line", "",
                       "the signature block is empty or does not end in a newline");

    size_t n_lines = 0, n_ours = 0, our_name_len = strlen(v->name);
    uint8_t blob[TL_NOTE_SIG_BYTES_MAX];
    for (const char *line = sigs; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line)); /* found: end[-1] is '\n' */
        char path[32];
        snprintf(path, sizeof path, "signatures[%zu]", n_lines);
        if (++n_lines > TL_NOTE_SIGS_MAX)
            return tl_fail(err, TL_ETOOBIG, "note.signature_count", "",
                           "more than %d signature lines", TL_NOTE_SIGS_MAX);
        size_t line_len = (size_t)(nl - line);
        if (line_len < SIG_PREFIX_BYTES || memcmp(line, SIG_PREFIX, SIG_PREFIX_BYTES) != 0)
            return tl_fail(err, TL_EINVAL, "note.signature_line", path,
                           "a signature line must start with an em dash and a space");
        const char *name = line + SIG_PREFIX_BYTES;
        const char *space = memchr(name, ' ', (size_t)(nl - name));
        if (space == NULL)
            return tl_fail(err, TL_EINVAL, "note.signature_line", path,
                           "expected '\xe2\x80\x94 <name> <base64 signature>'");
        size_t name_len = (size_t)(space - name);
        rc = tl_note_name_check(name, name_len, err);
        if (rc != 0) {
            if (err != NULL)
                snprintf(err->path, sizeof err->path, "%s", path);
            return rc;
        }
        const char *b64 = space + 1;
        size_t b64_len = (size_t)(nl - b64), blob_len = 0;
        if (b64_len > (sizeof blob / 3) * 4)
            return tl_fail(err, TL_ETOOBIG, "note.signature_size", path,
                           "the signature has %zu base64 characters; at most %zu", b64_len,
                           (sizeof blob / 3) * 4);
        if (b64_decode(blob, sizeof blob, &blob_len, b64, b64_len) != 0 ||
            blob_len <= TL_NOTE_KEY_HASH_BYTES)
            return tl_fail(err, TL_EINVAL, "note.signature_base64", path,
                           "the signature is not canonical base64 of a key hash and a signature");
        line = nl + 1;
        if (name_len != our_name_len || memcmp(name, v->name, name_len) != 0 ||
            memcmp(blob, v->key_hash, TL_NOTE_KEY_HASH_BYTES) != 0)
            continue; /* another key's signature: not ours to judge */
        n_ours++;
        if (blob_len != TL_NOTE_KEY_HASH_BYTES + TL_SIG_BYTES ||
            !tl_verify(blob + TL_NOTE_KEY_HASH_BYTES, note, text_end, v->pk))
            return tl_fail(err, TL_ESIG, "note.signature", path,
                           "the signature by %s does not verify", v->name);
    }
    if (n_ours == 0) {
        char hex[2 * TL_NOTE_KEY_HASH_BYTES + 1];
        tl_hex_encode(hex, v->key_hash, TL_NOTE_KEY_HASH_BYTES);
        return tl_fail(err, TL_ESIG, "note.unsigned", "", "no signature line by %s (key hash %s)",
                       v->name, hex);
    }
    *text_len = text_end;
    return 0;
}
