/*
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, as FORMAT.md section 7
 * uses them for checkpoints.
 *
 * A signed note is a text, a blank line, and one or more signature lines:
 *
 *     <text: one or more lines, each ending in "\n">
 *     \n
 *     — <key name> <base64(key hash (4 bytes, big-endian) || signature)>\n
 *
 * The em dash is U+2014 (E2 80 94). The whole note is valid UTF-8 with no ASCII control
 * character other than "\n"; the text ends at the last blank line. An Ed25519 signature is
 * over the text, including its final newline. Key names are non-empty and hold no Unicode
 * space and no '+'.
 *
 *     key hash = first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key)
 *
 * A verifier key is published as one line, "<name>+<key hash, 8 lowercase hex>+<base64(0x01 ||
 * public key)>". A note verifies against it when some signature line carries its name and
 * key hash and every such line holds a valid signature; lines of other keys are skipped as
 * the spec requires, but they must still be well-formed.
 */
#ifndef TL_NOTE_H
#define TL_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "tl_crypto.h"
#include "tl_error.h"

#define TL_NOTE_KEY_HASH_BYTES 4
#define TL_NOTE_ALG_ED25519 0x01
#define TL_NOTE_NAME_BYTES_MAX 255
/* Bounds on what tl_note_verify reads: the spec asks verifiers to accept at least 16
 * signatures, and post-quantum ones may take nearly 5 kB each. */
#define TL_NOTE_BYTES_MAX (1024 * 1024)
#define TL_NOTE_SIGS_MAX 100
#define TL_NOTE_SIG_BYTES_MAX 8192
/* "<name>+<8 hex>+<44 base64>" and a NUL. */
#define TL_NOTE_VKEY_BYTES_MAX (TL_NOTE_NAME_BYTES_MAX + 1 + 8 + 1 + 44 + 1)

/* What a note is checked against: one Ed25519 key and its name. */
typedef struct tl_note_verifier {
    char name[TL_NOTE_NAME_BYTES_MAX + 1]; /* NUL-terminated */
    uint8_t key_hash[TL_NOTE_KEY_HASH_BYTES];
    uint8_t pk[TL_PUBKEY_BYTES];
} tl_note_verifier;

/* 0 when name (len bytes) is a valid key name of at most TL_NOTE_NAME_BYTES_MAX bytes;
 * TL_EINVAL otherwise. */
int tl_note_name_check(const char *name, size_t len, tl_error *err) TL_WUR;

/* 0 when s (len bytes) may appear in a note: valid UTF-8 without ASCII control characters
 * other than "\n". TL_EINVAL otherwise, with the byte offset in the message. */
int tl_note_text_check(const char *s, size_t len, tl_error *err) TL_WUR;

/* The key hash of an Ed25519 key under name (NUL-terminated; not checked). */
void tl_note_key_hash(uint8_t out[TL_NOTE_KEY_HASH_BYTES], const char *name,
                      const uint8_t pk[TL_PUBKEY_BYTES]);

/* A verifier for pk under name (NUL-terminated). TL_EINVAL when the name is not valid. */
int tl_note_verifier_init(tl_note_verifier *out, const char *name,
                          const uint8_t pk[TL_PUBKEY_BYTES], tl_error *err) TL_WUR;

/* Writes v's verifier key line, NUL-terminated and without a newline, into out (room for
 * TL_NOTE_VKEY_BYTES_MAX bytes is always enough). */
void tl_note_vkey_format(char out[TL_NOTE_VKEY_BYTES_MAX], const tl_note_verifier *v);

/* Parses a verifier key line (len bytes; one trailing "\n" is allowed, so a file holding the
 * line can be passed whole). Strict: lowercase hex, canonical base64, an Ed25519 key of 32
 * bytes, and a key hash that matches the name and key. TL_EINVAL otherwise, naming the part
 * that failed. */
int tl_note_vkey_parse(tl_note_verifier *out, const char *line, size_t len, tl_error *err) TL_WUR;

/* Signs text (text_len bytes: a valid note text, ending in "\n") with kp under name (a valid
 * key name). On success *out is a malloc'd, NUL-terminated signed note of *out_len bytes
 * (the caller frees it); on failure *out is NULL. TL_EINVAL for a bad text or name,
 * TL_ENOMEM. */
int tl_note_sign(char **out, size_t *out_len, const char *text, size_t text_len, const char *name,
                 const tl_keypair *kp, tl_error *err) TL_WUR;

/* Verifies a signed note (note_len bytes) against v. On success *text_len is the length of
 * the signed text, a prefix of note. TL_EINVAL for a malformed note, TL_ETOOBIG beyond the
 * limits above, TL_ESIG when no line carries v's name and key hash ("note.unsigned") or one
 * that does holds a bad signature ("note.signature"). */
int tl_note_verify(size_t *text_len, const char *note, size_t note_len, const tl_note_verifier *v,
                   tl_error *err) TL_WUR;

#endif
