/*
 * Hashes, Ed25519 keys and signatures, key files.
 *
 * Key files (FORMAT.md section 9): a secret key file holds the 32-byte Ed25519 seed as 64
 * lowercase hex digits and a newline, mode 0600; a public key file holds the 32-byte public
 * key the same way. Event signatures are pure Ed25519 over
 *     "techledger/event/v1" || 0x00 || body
 * Secret material is never logged and is wiped from memory when no longer needed.
 */
#ifndef TL_CRYPTO_H
#define TL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tl_error.h"

#define TL_HASH_BYTES 32
#define TL_PUBKEY_BYTES 32
#define TL_SEED_BYTES 32
#define TL_SECRETKEY_BYTES 64 /* libsodium's seed || public key form */
#define TL_SIG_BYTES 64
#define TL_EVENT_SIG_CONTEXT "techledger/event/v1"

#define TL_WUR __attribute__((warn_unused_result))

/* Must be called once before anything else; safe to call again. Returns 0 or TL_EIO. */
int tl_crypto_init(void) TL_WUR;

typedef struct tl_keypair {
    uint8_t pk[TL_PUBKEY_BYTES];
    uint8_t sk[TL_SECRETKEY_BYTES];
} tl_keypair;

void tl_sha256(uint8_t out[TL_HASH_BYTES], const void *data, size_t len);
/* RFC 6962 leaf hash: SHA-256(0x00 || data). */
void tl_leaf_hash(uint8_t out[TL_HASH_BYTES], const void *data, size_t len);
/* RFC 6962 node hash: SHA-256(0x01 || left || right). */
void tl_node_hash(uint8_t out[TL_HASH_BYTES], const uint8_t left[TL_HASH_BYTES],
                  const uint8_t right[TL_HASH_BYTES]);

/* Cryptographically secure random bytes. */
void tl_random_bytes(void *out, size_t n);

/* A fresh random key pair. */
void tl_keypair_generate(tl_keypair *out);
/* The key pair derived from a 32-byte seed. */
void tl_keypair_from_seed(tl_keypair *out, const uint8_t seed[TL_SEED_BYTES]);
/* The seed of a key pair (the first 32 bytes of sk). */
void tl_keypair_seed(uint8_t out[TL_SEED_BYTES], const tl_keypair *kp);
/* Wipes a key pair. */
void tl_keypair_wipe(tl_keypair *kp);

/* Detached Ed25519 over msg. */
void tl_sign(uint8_t sig[TL_SIG_BYTES], const void *msg, size_t len, const tl_keypair *kp);
bool tl_verify(const uint8_t sig[TL_SIG_BYTES], const void *msg, size_t len,
               const uint8_t pk[TL_PUBKEY_BYTES]) TL_WUR;

/* Event signature over the context string, a zero byte and the body. */
void tl_event_sign(uint8_t sig[TL_SIG_BYTES], const uint8_t *body, size_t body_len,
                   const tl_keypair *kp);
bool tl_event_verify(const uint8_t sig[TL_SIG_BYTES], const uint8_t *body, size_t body_len,
                     const uint8_t pk[TL_PUBKEY_BYTES]) TL_WUR;

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void tl_hex_encode(char *out, const uint8_t *in, size_t n);
/* Exactly 2n hex digits (either case) into n bytes. Returns 0 or TL_EINVAL. */
int tl_hex_decode(uint8_t *out, size_t n, const char *hex, size_t hex_len) TL_WUR;
/* Standard base64 with padding; out needs tl_base64_len(n) bytes (includes the NUL). */
size_t tl_base64_len(size_t n);
void tl_base64_encode(char *out, const uint8_t *in, size_t n);
/* Decodes standard base64 with padding; *out_len receives the byte count. 0 or TL_EINVAL. */
int tl_base64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *b64, size_t len) TL_WUR;

/* Writes the seed as NAME (mode 0600, created exclusively: an existing file is not replaced). */
int tl_secret_key_write(const char *path, const tl_keypair *kp, tl_error *err) TL_WUR;
int tl_public_key_write(const char *path, const uint8_t pk[TL_PUBKEY_BYTES], tl_error *err) TL_WUR;
/* Reads a secret key file; refuses files readable by group or others. */
int tl_secret_key_read(const char *path, tl_keypair *out, tl_error *err) TL_WUR;
int tl_public_key_read(const char *path, uint8_t pk[TL_PUBKEY_BYTES], tl_error *err) TL_WUR;

/* Writes len bytes to path atomically (temporary file, fsync, rename, fsync of the directory). */
int tl_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         tl_error *err) TL_WUR;
/* Reads a whole file of at most max_bytes into a malloc'd buffer (NUL-terminated; caller frees). */
int tl_file_read(const char *path, size_t max_bytes, uint8_t **out, size_t *out_len,
                 tl_error *err) TL_WUR;

#endif
