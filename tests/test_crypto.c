/* Keys, key files, hashing and event signatures. */
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tl_crypto.h"

static void test_event_signature(void **state)
{
    (void)state;
    tl_keypair kp, other;
    tl_keypair_generate(&kp);
    tl_keypair_generate(&other);
    const uint8_t body[] = {0x81, 0xa1, 'a', 0x01};
    uint8_t sig[TL_SIG_BYTES];
    tl_event_sign(sig, body, sizeof body, &kp);
    assert_true(tl_event_verify(sig, body, sizeof body, kp.pk));
    /* wrong key */
    assert_false(tl_event_verify(sig, body, sizeof body, other.pk));
    /* every flipped bit of the signature or the body is caught */
    for (size_t i = 0; i < sizeof sig * 8; i += 7) {
        sig[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_false(tl_event_verify(sig, body, sizeof body, kp.pk));
        sig[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    uint8_t flipped[sizeof body];
    memcpy(flipped, body, sizeof body);
    flipped[3] ^= 1;
    assert_false(tl_event_verify(sig, flipped, sizeof flipped, kp.pk));
    /* the context string is part of the message: a plain signature over the body fails */
    uint8_t plain[TL_SIG_BYTES];
    tl_sign(plain, body, sizeof body, &kp);
    assert_false(tl_event_verify(plain, body, sizeof body, kp.pk));
    /* and a signature under another context fails */
    uint8_t msg[64];
    const char other_ctx[] = "techledger/event/v2";
    memcpy(msg, other_ctx, sizeof other_ctx);
    memcpy(msg + sizeof other_ctx, body, sizeof body);
    tl_sign(plain, msg, sizeof other_ctx + sizeof body, &kp);
    assert_false(tl_event_verify(plain, body, sizeof body, kp.pk));
    /* the message signed is exactly context || 0x00 || body */
    memcpy(msg, TL_EVENT_SIG_CONTEXT, sizeof TL_EVENT_SIG_CONTEXT);
    memcpy(msg + sizeof TL_EVENT_SIG_CONTEXT, body, sizeof body);
    assert_true(tl_verify(sig, msg, sizeof TL_EVENT_SIG_CONTEXT + sizeof body, kp.pk));
}

static void test_rfc8032_vector(void **state)
{
    (void)state;
    /* RFC 8032 section 7.1, TEST 1 (empty message). */
    uint8_t seed[32], pk[32], sig[64];
    assert_int_equal(tl_hex_decode(seed, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", 64), 0);
    assert_int_equal(tl_hex_decode(pk, 32, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", 64), 0);
    tl_keypair kp;
    tl_keypair_from_seed(&kp, seed);
    assert_memory_equal(kp.pk, pk, 32);
    tl_sign(sig, "", 0, &kp);
    uint8_t want[64];
    assert_int_equal(tl_hex_decode(want, 64,
                                   "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                                   "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
                                   128),
                     0);
    assert_memory_equal(sig, want, 64);
}

static void test_hashes(void **state)
{
    (void)state;
    uint8_t h[32], want[32];
    tl_sha256(h, "", 0);
    assert_int_equal(tl_hex_decode(want, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 64), 0);
    assert_memory_equal(h, want, 32);
    /* RFC 6962 leaf hash of the empty leaf */
    tl_leaf_hash(h, "", 0);
    assert_int_equal(tl_hex_decode(want, 32, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", 64), 0);
    assert_memory_equal(h, want, 32);
}

/* The hashes come from libcrypto; libsodium's portable SHA-256 is the reference they must
 * match at every length around the block boundaries and for multi-block inputs. */
static void test_hashes_match_reference(void **state)
{
    (void)state;
    static uint8_t data[1 + 4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 131u + 7u);
    for (size_t len = 0; len <= 4096; len = len < 300 ? len + 1 : len * 2 - 1) {
        uint8_t got[32], want[32];
        tl_sha256(got, data + 1, len);
        crypto_hash_sha256(want, data + 1, len);
        assert_memory_equal(got, want, 32);
        /* the leaf hash is SHA-256(0x00 || data) */
        data[0] = 0x00;
        tl_leaf_hash(got, data + 1, len);
        crypto_hash_sha256(want, data, len + 1);
        assert_memory_equal(got, want, 32);
    }
    uint8_t left[32], right[32], buf[65], got[32], want[32];
    for (int i = 0; i < 32; i++) {
        left[i] = (uint8_t)i;
        right[i] = (uint8_t)(0xff - i);
    }
    buf[0] = 0x01;
    memcpy(buf + 1, left, 32);
    memcpy(buf + 33, right, 32);
    tl_node_hash(got, left, right);
    crypto_hash_sha256(want, buf, sizeof buf);
    assert_memory_equal(got, want, 32);
    /* the output may alias an input: the Merkle code hashes a node into its own child */
    tl_node_hash(left, left, right);
    assert_memory_equal(left, want, 32);
}

static void test_key_files(void **state)
{
    (void)state;
    char *dir = tl_test_tmpdir("crypto");
    char key[512], pub[512];
    snprintf(key, sizeof key, "%s/a.key", dir);
    snprintf(pub, sizeof pub, "%s/a.pub", dir);
    tl_keypair kp, back;
    tl_keypair_generate(&kp);
    tl_error err;
    assert_int_equal(tl_secret_key_write(key, &kp, &err), 0);
    assert_int_equal(tl_public_key_write(pub, kp.pk, &err), 0);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    /* never replaces an existing key */
    assert_int_equal(tl_secret_key_write(key, &kp, &err), TL_ESTATE);
    assert_int_equal(tl_secret_key_read(key, &back, &err), 0);
    assert_memory_equal(back.pk, kp.pk, 32);
    uint8_t pk[32];
    assert_int_equal(tl_public_key_read(pub, pk, &err), 0);
    assert_memory_equal(pk, kp.pk, 32);
    /* file content is the seed in lowercase hex and a newline */
    uint8_t *text;
    size_t len;
    assert_int_equal(tl_file_read(key, 1024, &text, &len, &err), 0);
    char hex[65];
    uint8_t seed[32];
    tl_keypair_seed(seed, &kp);
    tl_hex_encode(hex, seed, 32);
    assert_int_equal(len, 65);
    assert_memory_equal(text, hex, 64);
    assert_int_equal(text[64], '\n');
    free(text);
    /* a secret key readable by others is refused */
    chmod(key, 0644);
    assert_int_equal(tl_secret_key_read(key, &back, &err), TL_EDENIED);
    assert_string_equal(err.rule, "keyfile.mode");
    /* malformed content is refused */
    FILE *f = fopen(pub, "w");
    fputs("zz\n", f);
    fclose(f);
    assert_int_equal(tl_public_key_read(pub, pk, &err), TL_EINVAL);
    assert_string_equal(err.rule, "keyfile.format");
    tl_test_rmdir(dir);
    free(dir);
}

static void test_base64(void **state)
{
    (void)state;
    char out[64];
    tl_base64_encode(out, (const uint8_t *)"foobar", 6);
    assert_string_equal(out, "Zm9vYmFy");
    uint8_t back[16];
    size_t n;
    assert_int_equal(tl_base64_decode(back, sizeof back, &n, "Zm9vYg==", 8), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(back, "foob", 4);
    assert_int_equal(tl_base64_decode(back, sizeof back, &n, "Zm9v!", 5), TL_EINVAL);
    /* bytes >= 0x80 are not an alias of "/" */
    assert_int_equal(tl_base64_decode(back, sizeof back, &n, "Zm9v", 4), 0);
    assert_int_equal(tl_base64_decode(back, sizeof back, &n, "Zm9\x80", 4), TL_EINVAL);
    assert_int_equal(tl_base64_decode(back, sizeof back, &n, "Zg=a", 4), TL_EINVAL);
}

int main(void)
{
    assert_int_equal(tl_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_signature), cmocka_unit_test(test_rfc8032_vector),
        cmocka_unit_test(test_hashes),          cmocka_unit_test(test_hashes_match_reference),
        cmocka_unit_test(test_key_files),       cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
