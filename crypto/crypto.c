/*
 * Hashes, Ed25519 and encodings over libsodium; see tl_crypto.h.
 *
 * SHA-256 is OpenSSL's libcrypto: libsodium's SHA-256 is portable C, while libcrypto uses the
 * CPU's SHA extensions, 4x faster on a record-sized leaf (0.33 us against 1.41 us for 531
 * bytes here) and 4x on a tree node. An audit hashes every record and the tree nodes above
 * it, so this was most of its CPU besides the signatures. It uses the SHA256_Init family,
 * deprecated since OpenSSL 3.0 in favour of EVP but still part of every 3.x release: EVP
 * would load libcrypto's providers and configuration, 2.2 MB more resident memory in every
 * process (the server has a memory target), and costs 20% more per small hash (a context to
 * allocate, the algorithm to look up). These calls cannot fail (they only return 1).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "tl_crypto.h"

#include <openssl/sha.h>
#include <sodium.h>
#include <string.h>

int tl_crypto_init(void)
{
    return sodium_init() < 0 ? TL_EIO : 0;
}

void tl_sha256(uint8_t out[TL_HASH_BYTES], const void *data, size_t len)
{
    SHA256_CTX st;
    SHA256_Init(&st);
    SHA256_Update(&st, data, len);
    SHA256_Final(out, &st);
}

void tl_leaf_hash(uint8_t out[TL_HASH_BYTES], const void *data, size_t len)
{
    static const uint8_t prefix = 0x00;
    SHA256_CTX st;
    SHA256_Init(&st);
    SHA256_Update(&st, &prefix, 1);
    SHA256_Update(&st, data, len);
    SHA256_Final(out, &st);
}

void tl_node_hash(uint8_t out[TL_HASH_BYTES], const uint8_t left[TL_HASH_BYTES],
                  const uint8_t right[TL_HASH_BYTES])
{
    uint8_t buf[1 + 2 * TL_HASH_BYTES];
    buf[0] = 0x01;
    memcpy(buf + 1, left, TL_HASH_BYTES);
    memcpy(buf + 1 + TL_HASH_BYTES, right, TL_HASH_BYTES);
    tl_sha256(out, buf, sizeof buf);
}

void tl_random_bytes(void *out, size_t n)
{
    randombytes_buf(out, n);
}

void tl_keypair_generate(tl_keypair *out)
{
    crypto_sign_keypair(out->pk, out->sk);
}

void tl_keypair_from_seed(tl_keypair *out, const uint8_t seed[TL_SEED_BYTES])
{
    crypto_sign_seed_keypair(out->pk, out->sk, seed);
}

void tl_keypair_seed(uint8_t out[TL_SEED_BYTES], const tl_keypair *kp)
{
    crypto_sign_ed25519_sk_to_seed(out, kp->sk);
}

void tl_keypair_wipe(tl_keypair *kp)
{
    sodium_memzero(kp, sizeof *kp);
}

void tl_sign(uint8_t sig[TL_SIG_BYTES], const void *msg, size_t len, const tl_keypair *kp)
{
    crypto_sign_detached(sig, NULL, msg, len, kp->sk);
}

bool tl_verify(const uint8_t sig[TL_SIG_BYTES], const void *msg, size_t len,
               const uint8_t pk[TL_PUBKEY_BYTES])
{
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

/* The signed message is context || 0x00 || body. Bodies are at most 64 KiB, so the message is
 * assembled on the stack; the streaming ed25519ph API would sign a different message. */
#define EVENT_MSG_MAX (sizeof TL_EVENT_SIG_CONTEXT + 65536)

static size_t event_message(uint8_t *msg, const uint8_t *body, size_t body_len)
{
    size_t ctx_len = sizeof TL_EVENT_SIG_CONTEXT; /* includes the NUL, which is the 0x00 */
    memcpy(msg, TL_EVENT_SIG_CONTEXT, ctx_len);
    memcpy(msg + ctx_len, body, body_len);
    return ctx_len + body_len;
}

void tl_event_sign(uint8_t sig[TL_SIG_BYTES], const uint8_t *body, size_t body_len,
                   const tl_keypair *kp)
{
    static _Thread_local uint8_t msg[EVENT_MSG_MAX];
    if (body_len > 65536) { /* callers bound bodies; a signature that cannot verify is safe */
        memset(sig, 0, TL_SIG_BYTES);
        return;
    }
    tl_sign(sig, msg, event_message(msg, body, body_len), kp);
}

bool tl_event_verify(const uint8_t sig[TL_SIG_BYTES], const uint8_t *body, size_t body_len,
                     const uint8_t pk[TL_PUBKEY_BYTES])
{
    static _Thread_local uint8_t msg[EVENT_MSG_MAX];
    if (body_len > 65536)
        return false;
    return tl_verify(sig, msg, event_message(msg, body, body_len), pk);
}

void tl_hex_encode(char *out, const uint8_t *in, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

int tl_hex_decode(uint8_t *out, size_t n, const char *hex, size_t hex_len)
{
    size_t got = 0;
    const char *end = NULL;
    if (hex_len != 2 * n)
        return TL_EINVAL;
    if (sodium_hex2bin(out, n, hex, hex_len, NULL, &got, &end) != 0 || got != n ||
        end != hex + hex_len)
        return TL_EINVAL;
    return 0;
}

size_t tl_base64_len(size_t n)
{
    return sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
}

void tl_base64_encode(char *out, const uint8_t *in, size_t n)
{
    sodium_bin2base64(out, tl_base64_len(n), in, n, sodium_base64_VARIANT_ORIGINAL);
}

/* libsodium 1.0.18 treats every byte >= 0x80 as '/', so the alphabet is checked here: one
 * byte string must have exactly one accepted text. */
static bool base64_alphabet(const char *s, size_t len)
{
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=') {
            pad++;
            continue;
        }
        if (!ok || pad > 0) /* nothing but padding after padding */
            return false;
    }
    return pad <= 2 && len % 4 == 0;
}

int tl_base64_decode(uint8_t *out, size_t cap, size_t *out_len, const char *b64, size_t len)
{
    const char *end = NULL;
    if (!base64_alphabet(b64, len))
        return TL_EINVAL;
    if (sodium_base642bin(out, cap, b64, len, NULL, out_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + len)
        return TL_EINVAL;
    return 0;
}
