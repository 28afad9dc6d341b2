/* Signed notes, verifier keys and checkpoint bodies (FORMAT.md section 7). */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_checkpoint.h"
#include "tl_crypto.h"
#include "tl_note.h"

#define ORIGIN "techledger.example/national"
#define EM_DASH "\xe2\x80\x94"

/*
 * The worked example of golang.org/x/mod/sumdb/note (package documentation and
 * note_test.go), an independent implementation. The signer key is "PRIVATE+KEY+<name>+<hash>+"
 * and base64(0x01 || Ed25519 seed); Ed25519 is deterministic, so signing the text with that
 * seed must give the published note byte for byte.
 */
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_SKEY_B64 "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_TEXT                                                                                    \
    "If you think cryptography is the answer to your problem,\n"                                   \
    "then you don't know what your problem is.\n"
#define GO_NOTE                                                                                    \
    GO_TEXT                                                                                        \
        "\n" EM_DASH " PeterNeumann "                                                              \
        "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6Ryy"    \
        "BwJnAM=\n"

static void keypair_from_byte(tl_keypair *kp, uint8_t b)
{
    uint8_t seed[TL_SEED_BYTES];
    memset(seed, b, sizeof seed);
    tl_keypair_from_seed(kp, seed);
}

/* The key hash as FORMAT.md section 7 states it, computed here without tl_note. */
static void reference_key_hash(uint8_t out[4], const char *name, const uint8_t pk[32])
{
    uint8_t buf[512], h[32];
    size_t n = strlen(name);
    assert_true(n + 2 + 32 <= sizeof buf);
    memcpy(buf, name, n);
    buf[n] = 0x0a;
    buf[n + 1] = 0x01;
    memcpy(buf + n + 2, pk, 32);
    tl_sha256(h, buf, n + 2 + 32);
    memcpy(out, h, 4);
}

/* A signed checkpoint for size and a root derived from it; *note is malloc'd. */
static void signed_checkpoint(char **note, size_t *len, const tl_keypair *kp, uint64_t size)
{
    tl_checkpoint cp;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", ORIGIN);
    cp.size = size;
    tl_sha256(cp.root, &size, sizeof size);
    char text[TL_CHECKPOINT_TEXT_BYTES_MAX];
    size_t text_len;
    assert_int_equal(tl_checkpoint_format(text, &text_len, &cp, NULL), 0);
    assert_int_equal(tl_note_sign(note, len, text, text_len, ORIGIN, kp, NULL), 0);
}

static void test_key_hash_kat(void **state)
{
    (void)state;
    /* Our formula against the reference key of the Go implementation. */
    tl_note_verifier v;
    assert_int_equal(tl_note_vkey_parse(&v, GO_VKEY, strlen(GO_VKEY), NULL), 0);
    uint8_t want[4] = {0xc7, 0x4f, 0x20, 0xa3}, got[4];
    assert_memory_equal(v.key_hash, want, 4);
    tl_note_key_hash(got, "PeterNeumann", v.pk);
    assert_memory_equal(got, want, 4);
    reference_key_hash(got, "PeterNeumann", v.pk);
    assert_memory_equal(got, want, 4);

    /* And against the formula computed here, for several names and keys. */
    const char *names[] = {ORIGIN, "a", "example.com/log", "\xe4\xb8\xad\xe5\x9b\xbd/ledger"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tl_keypair kp;
        keypair_from_byte(&kp, (uint8_t)(i + 1));
        uint8_t mine[4];
        reference_key_hash(want, names[i], kp.pk);
        tl_note_key_hash(mine, names[i], kp.pk);
        assert_memory_equal(mine, want, 4);
        assert_int_equal(tl_note_verifier_init(&v, names[i], kp.pk, NULL), 0);
        assert_memory_equal(v.key_hash, want, 4);
        /* the vkey line is name + 8 lowercase hex + base64(0x01 || pk), and parses back */
        char line[TL_NOTE_VKEY_BYTES_MAX], expect[TL_NOTE_VKEY_BYTES_MAX], hex[9], b64[45];
        uint8_t typed[33] = {0x01};
        memcpy(typed + 1, kp.pk, 32);
        tl_hex_encode(hex, want, 4);
        tl_base64_encode(b64, typed, sizeof typed);
        snprintf(expect, sizeof expect, "%s+%s+%s", names[i], hex, b64);
        tl_note_vkey_format(line, &v);
        assert_string_equal(line, expect);
        tl_note_verifier back;
        assert_int_equal(tl_note_vkey_parse(&back, line, strlen(line), NULL), 0);
        assert_memory_equal(&back, &v, sizeof v);
    }
}

static void test_go_reference_note(void **state)
{
    (void)state;
    tl_note_verifier v;
    assert_int_equal(tl_note_vkey_parse(&v, GO_VKEY, strlen(GO_VKEY), NULL), 0);
    assert_string_equal(v.name, "PeterNeumann");
    char line[TL_NOTE_VKEY_BYTES_MAX];
    tl_note_vkey_format(line, &v);
    assert_string_equal(line, GO_VKEY);

    /* The published note verifies, and its text is the signed prefix. */
    size_t text_len = 0;
    assert_int_equal(tl_note_verify(&text_len, GO_NOTE, strlen(GO_NOTE), &v, NULL), 0);
    assert_int_equal(text_len, strlen(GO_TEXT));

    /* Signing the same text with the same seed gives the same bytes. */
    uint8_t typed[33];
    size_t typed_len = 0;
    assert_int_equal(
        tl_base64_decode(typed, sizeof typed, &typed_len, GO_SKEY_B64, strlen(GO_SKEY_B64)), 0);
    assert_int_equal(typed_len, 33);
    assert_int_equal(typed[0], 0x01);
    tl_keypair kp;
    tl_keypair_from_seed(&kp, typed + 1);
    assert_memory_equal(kp.pk, v.pk, 32);
    char *note = NULL;
    size_t note_len = 0;
    assert_int_equal(
        tl_note_sign(&note, &note_len, GO_TEXT, strlen(GO_TEXT), "PeterNeumann", &kp, NULL), 0);
    assert_int_equal(note_len, strlen(GO_NOTE));
    assert_string_equal(note, GO_NOTE);
    free(note);
    tl_keypair_wipe(&kp);
}

static void test_round_trip(void **state)
{
    (void)state;
    tl_keypair kp;
    tl_keypair_generate(&kp);
    tl_note_verifier v;
    assert_int_equal(tl_note_verifier_init(&v, ORIGIN, kp.pk, NULL), 0);
    const uint64_t sizes[] = {0, 1, 1000, UINT64_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *note;
        size_t len;
        signed_checkpoint(&note, &len, &kp, sizes[i]);
        assert_int_equal(strlen(note), len);
        /* the layout of FORMAT.md section 7 */
        char expect_head[128];
        uint8_t root[32];
        char root_b64[45];
        tl_sha256(root, &sizes[i], sizeof sizes[i]);
        tl_base64_encode(root_b64, root, 32);
        snprintf(expect_head, sizeof expect_head, "%s\n%llu\n%s\n\n" EM_DASH " %s ", ORIGIN,
                 (unsigned long long)sizes[i], root_b64, ORIGIN);
        assert_true(strncmp(note, expect_head, strlen(expect_head)) == 0);
        assert_int_equal(note[len - 1], '\n');
        /* the signature blob is key hash || a signature over the text */
        const char *b64 = note + strlen(expect_head);
        uint8_t blob[68];
        size_t blob_len = 0;
        assert_int_equal(
            tl_base64_decode(blob, sizeof blob, &blob_len, b64, len - strlen(expect_head) - 1), 0);
        assert_int_equal(blob_len, 68);
        assert_memory_equal(blob, v.key_hash, 4);
        size_t text_len = strlen(expect_head) - strlen("\n" EM_DASH " " ORIGIN " ");
        assert_true(tl_verify(blob + 4, note, text_len, kp.pk));

        size_t got_len = 0;
        assert_int_equal(tl_note_verify(&got_len, note, len, &v, NULL), 0);
        assert_int_equal(got_len, text_len);
        tl_checkpoint cp;
        assert_int_equal(tl_checkpoint_open(&cp, note, len, &v, NULL), 0);
        assert_string_equal(cp.origin, ORIGIN);
        assert_int_equal(cp.size, sizes[i]);
        assert_memory_equal(cp.root, root, 32);
        free(note);
    }
    tl_keypair_wipe(&kp);
}

static void test_every_byte_flip(void **state)
{
    (void)state;
    tl_keypair kp;
    keypair_from_byte(&kp, 7);
    tl_note_verifier v;
    assert_int_equal(tl_note_verifier_init(&v, ORIGIN, kp.pk, NULL), 0);
    char *note;
    size_t len;
    signed_checkpoint(&note, &len, &kp, 123456789);
    size_t text_len;
    assert_int_equal(tl_note_verify(&text_len, note, len, &v, NULL), 0);
    /* every other value of every byte */
    for (size_t i = 0; i < len; i++) {
        char orig = note[i];
        for (int b = 0; b < 256; b++) {
            if ((char)b == orig)
                continue;
            note[i] = (char)b;
            tl_error err;
            tl_error_clear(&err);
            int rc = tl_note_verify(&text_len, note, len, &v, &err);
            if (rc == 0)
                fail_msg("byte %zu set to 0x%02x still verifies", i, b);
            assert_int_equal(err.code, rc);
            tl_checkpoint cp;
            assert_int_not_equal(tl_checkpoint_open(&cp, note, len, &v, NULL), 0);
        }
        note[i] = orig;
    }
    /* and every truncation */
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(tl_note_verify(&text_len, note, n, &v, NULL), 0);
    free(note);
}

static void test_wrong_key(void **state)
{
    (void)state;
    tl_keypair kp, other;
    keypair_from_byte(&kp, 1);
    keypair_from_byte(&other, 2);
    char *note;
    size_t len, text_len;
    signed_checkpoint(&note, &len, &kp, 42);
    tl_note_verifier v;
    tl_error err;

    /* another key under the same name: its key hash differs, so no line is its */
    assert_int_equal(tl_note_verifier_init(&v, ORIGIN, other.pk, NULL), 0);
    assert_int_equal(tl_note_verify(&text_len, note, len, &v, &err), TL_ESIG);
    assert_string_equal(err.rule, "note.unsigned");

    /* the right key under another name */
    assert_int_equal(tl_note_verifier_init(&v, "techledger.example/other", kp.pk, NULL), 0);
    assert_int_equal(tl_note_verify(&text_len, note, len, &v, &err), TL_ESIG);
    assert_string_equal(err.rule, "note.unsigned");

    /* a verifier claiming the name and key hash but holding another key: the line is judged
     * as its own, and the signature fails */
    assert_int_equal(tl_note_verifier_init(&v, ORIGIN, kp.pk, NULL), 0);
    memcpy(v.pk, other.pk, 32);
    assert_int_equal(tl_note_verify(&text_len, note, len, &v, &err), TL_ESIG);
    assert_string_equal(err.rule, "note.signature");
    assert_string_equal(err.path, "signatures[0]");

    /* a checkpoint whose origin is not the key name */
    free(note);
    tl_checkpoint cp;
    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "someone.else/log");
    char text[TL_CHECKPOINT_TEXT_BYTES_MAX];
    size_t n;
    assert_int_equal(tl_checkpoint_format(text, &n, &cp, NULL), 0);
    assert_int_equal(tl_note_sign(&note, &len, text, n, ORIGIN, &kp, NULL), 0);
    assert_int_equal(tl_note_verifier_init(&v, ORIGIN, kp.pk, NULL), 0);
    assert_int_equal(tl_note_verify(&text_len, note, len, &v, NULL), 0);
    assert_int_equal(tl_checkpoint_open(&cp, note, len, &v, &err), TL_EINVAL);
    assert_string_equal(err.rule, "checkpoint.origin");
    free(note);
}

/* Verifies a note given as a C string; returns the code and leaves the rule in err. */
static int verify_str(const char *note, const tl_note_verifier *v, tl_error *err)
{
    size_t text_len;
    tl_error_clear(err);
    return tl_note_verify(&text_len, note, strlen(note), v, err);
}

static void test_malformed_notes(void **state)
{
    (void)state;
    tl_keypair kp, other;
    keypair_from_byte(&kp, 3);
    keypair_from_byte(&other, 4);
    tl_note_verifier v;
    assert_int_equal(tl_note_verifier_init(&v, "k", kp.pk, NULL), 0);
    char *good, *foreign;
    size_t good_len, foreign_len;
    assert_int_equal(tl_note_sign(&good, &good_len, "a\nb\n", 4, "k", &kp, NULL), 0);
    assert_int_equal(tl_note_sign(&foreign, &foreign_len, "a\nb\n", 4, "x", &other, NULL), 0);
    const char *our_line = good + 5;      /* "— k <sig>\n" */
    const char *their_line = foreign + 5; /* "— x <sig>\n" */
    char buf[1024];
    tl_error err;

    assert_int_equal(verify_str(good, &v, &err), 0);

    /* Another key's well-formed line is ignored, before or after ours. */
    snprintf(buf, sizeof buf, "a\nb\n\n%s%s", their_line, our_line);
    assert_int_equal(verify_str(buf, &v, &err), 0);
    snprintf(buf, sizeof buf, "a\nb\n\n%s%s", our_line, their_line);
    assert_int_equal(verify_str(buf, &v, &err), 0);
    /* but a note signed only by it is not ours */
    assert_int_equal(verify_str(foreign, &v, &err), TL_ESIG);
    assert_string_equal(err.rule, "note.unsigned");

    /* The text may hold blank lines: it ends at the last one. */
    char *blank;
    size_t blank_len, text_len;
    assert_int_equal(tl_note_sign(&blank, &blank_len, "a\n\nb\n", 5, "k", &kp, NULL), 0);
    assert_int_equal(tl_note_verify(&text_len, blank, blank_len, &v, NULL), 0);
    assert_int_equal(text_len, 5);
    free(blank);

    struct {
        const char *desc, *note, *rule;
        int code;
    } cases[] = {
        {"no blank line", "a\nb\n" EM_DASH " k AAAA\n", "note.blank_line", TL_EINVAL},
        {"empty", "", "note.blank_line", TL_EINVAL},
        {"no signatures", "a\nb\n\n", "note.signature_line", TL_EINVAL},
        {"no final newline", "a\n\n" EM_DASH " k AAAAAAAA", "note.signature_line", TL_EINVAL},
        {"hyphen for em dash", "a\n\n- k AAAAAAAA\n", "note.signature_line", TL_EINVAL},
        {"no space after dash", "a\n\n" EM_DASH "k AAAAAAAA\n", "note.signature_line", TL_EINVAL},
        {"no signature", "a\n\n" EM_DASH " k\n", "note.signature_line", TL_EINVAL},
        {"empty name", "a\n\n" EM_DASH "  AAAAAAAA\n", "note.name", TL_EINVAL},
        {"plus in name", "a\n\n" EM_DASH " k+1 AAAAAAAA\n", "note.name", TL_EINVAL},
        {"nbsp in name", "a\n\n" EM_DASH " k\xc2\xa0j AAAAAAAA\n", "note.name", TL_EINVAL},
        {"empty signature", "a\n\n" EM_DASH " k \n", "note.signature_base64", TL_EINVAL},
        {"only a key hash", "a\n\n" EM_DASH " k AAAAAA==\n", "note.signature_base64", TL_EINVAL},
        {"bad base64", "a\n\n" EM_DASH " k AAAA*AAA\n", "note.signature_base64", TL_EINVAL},
        {"unpadded base64", "a\n\n" EM_DASH " k AAAAAAA\n", "note.signature_base64", TL_EINVAL},
        {"non-canonical base64", "a\n\n" EM_DASH " k AAAAAAB=\n", "note.signature_base64",
         TL_EINVAL},
        {"two spaces", "a\n\n" EM_DASH " k  AAAAAAAA\n", "note.signature_base64", TL_EINVAL},
        {"carriage return", "a\r\n\n" EM_DASH " k AAAAAAAA\n", "note.control", TL_EINVAL},
        {"tab", "a\tb\n\n" EM_DASH " k AAAAAAAA\n", "note.control", TL_EINVAL},
        {"invalid UTF-8", "a\xff\n\n" EM_DASH " k AAAAAAAA\n", "note.utf8", TL_EINVAL},
        {"overlong UTF-8", "a\xc0\xaf\n\n" EM_DASH " k AAAAAAAA\n", "note.utf8", TL_EINVAL},
        {"surrogate", "a\xed\xa0\x80\n\n" EM_DASH " k AAAAAAAA\n", "note.utf8", TL_EINVAL},
        {"truncated UTF-8", "a\n\n" EM_DASH " k AAAAAAAA\n\xe2\x80", "note.utf8", TL_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = verify_str(cases[i].note, &v, &err);
        if (rc != cases[i].code || strcmp(err.rule, cases[i].rule) != 0)
            fail_msg("%s: rc %d rule %s, want %d %s", cases[i].desc, rc, err.rule, cases[i].code,
                     cases[i].rule);
    }
    /* A NUL is a control character too (the string functions above would stop at it). */
    memcpy(buf, good, good_len);
    buf[1] = '\0';
    assert_int_equal(tl_note_verify(&text_len, buf, good_len, &v, &err), TL_EINVAL);
    assert_string_equal(err.rule, "note.control");

    /* A line of ours with the right key hash but a short signature. */
    uint8_t blob[4 + 63];
    memcpy(blob, v.key_hash, 4);
    memset(blob + 4, 0x11, 63);
    char b64[128];
    tl_base64_encode(b64, blob, sizeof blob);
    snprintf(buf, sizeof buf, "a\nb\n\n" EM_DASH " k %s\n", b64);
    assert_int_equal(verify_str(buf, &v, &err), TL_ESIG);
    assert_string_equal(err.rule, "note.signature");

    /* A second line of ours that does not verify spoils a good one. */
    uint8_t sig_blob[68];
    memcpy(sig_blob, v.key_hash, 4);
    memset(sig_blob + 4, 0x22, 64);
    tl_base64_encode(b64, sig_blob, sizeof sig_blob);
    snprintf(buf, sizeof buf, "a\nb\n\n%s" EM_DASH " k %s\n", our_line, b64);
    assert_int_equal(verify_str(buf, &v, &err), TL_ESIG);
    assert_string_equal(err.path, "signatures[1]");

    /* Our signature over another text. */
    snprintf(buf, sizeof buf, "a\nc\n\n%s", our_line);
    assert_int_equal(verify_str(buf, &v, &err), TL_ESIG);
    assert_string_equal(err.rule, "note.signature");

    /* Too many signature lines. */
    char *many = malloc(64 * 1024);
    assert_non_null(many);
    size_t n = (size_t)snprintf(many, 64 * 1024, "a\nb\n\n");
    for (int i = 0; i <= TL_NOTE_SIGS_MAX; i++)
        n += (size_t)snprintf(many + n, 64 * 1024 - n, "%s", their_line);
    n += (size_t)snprintf(many + n, 64 * 1024 - n, "%s", our_line);
    assert_int_equal(tl_note_verify(&text_len, many, n, &v, &err), TL_ETOOBIG);
    free(many);

    free(good);
    free(foreign);
}

static void test_sign_errors(void **state)
{
    (void)state;
    tl_keypair kp;
    keypair_from_byte(&kp, 5);
    char *note = (char *)1;
    size_t len = 1;
    tl_error err;
    assert_int_equal(tl_note_sign(&note, &len, "abc", 3, "k", &kp, &err), TL_EINVAL);
    assert_null(note);
    assert_int_equal(len, 0);
    assert_int_equal(tl_note_sign(&note, &len, "", 0, "k", &kp, &err), TL_EINVAL);
    assert_int_equal(tl_note_sign(&note, &len, "a\rb\n", 4, "k", &kp, &err), TL_EINVAL);
    assert_string_equal(err.rule, "note.control");
    assert_int_equal(tl_note_sign(&note, &len, "a\n", 2, "", &kp, &err), TL_EINVAL);
    assert_int_equal(tl_note_sign(&note, &len, "a\n", 2, "a b", &kp, &err), TL_EINVAL);
    assert_int_equal(tl_note_sign(&note, &len, "a\n", 2, "a+b", &kp, &err), TL_EINVAL);
    assert_int_equal(tl_note_sign(&note, &len, "a\n", 2, "a\343\200\200b", &kp, &err),
                     TL_EINVAL); /* U+3000 ideographic space */
    char long_name[TL_NOTE_NAME_BYTES_MAX + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(tl_note_sign(&note, &len, "a\n", 2, long_name, &kp, &err), TL_EINVAL);
    long_name[TL_NOTE_NAME_BYTES_MAX] = '\0';
    assert_int_equal(tl_note_sign(&note, &len, "a\n", 2, long_name, &kp, &err), 0);
    free(note);
}

static void test_vkey_parse_errors(void **state)
{
    (void)state;
    tl_keypair kp;
    keypair_from_byte(&kp, 6);
    tl_note_verifier v;
    assert_int_equal(tl_note_verifier_init(&v, ORIGIN, kp.pk, NULL), 0);
    char good[TL_NOTE_VKEY_BYTES_MAX];
    tl_note_vkey_format(good, &v);
    tl_note_verifier got;
    tl_error err;

    /* one trailing newline is allowed, as when the line is read from ledger.vkey */
    char buf[512];
    snprintf(buf, sizeof buf, "%s\n", good);
    assert_int_equal(tl_note_vkey_parse(&got, buf, strlen(buf), NULL), 0);
    assert_memory_equal(&got, &v, sizeof v);
    snprintf(buf, sizeof buf, "%s\n\n", good);
    assert_int_equal(tl_note_vkey_parse(&got, buf, strlen(buf), &err), TL_EINVAL);

    /* every truncation and every single-byte change is refused */
    size_t len = strlen(good);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(tl_note_vkey_parse(&got, good, n, NULL), TL_EINVAL);
    for (size_t i = 0; i < len; i++) {
        char orig = good[i];
        for (int b = 0; b < 256; b++) {
            if ((char)b == orig)
                continue;
            good[i] = (char)b;
            if (tl_note_vkey_parse(&got, good, len, &err) == 0)
                fail_msg("byte %zu set to 0x%02x still parses", i, b);
        }
        good[i] = orig;
    }

    /* uppercase hex, though the same number */
    char hex[9];
    tl_hex_encode(hex, v.key_hash, 4);
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    char typed_b64[64];
    uint8_t typed[34] = {0x01};
    memcpy(typed + 1, kp.pk, 32);
    tl_base64_encode(typed_b64, typed, 33);
    snprintf(buf, sizeof buf, "%s+%s+%s", ORIGIN, hex, typed_b64);
    if (strcmp(buf, good) != 0) /* only when the hash has a letter in it */
        assert_int_equal(tl_note_vkey_parse(&got, buf, strlen(buf), &err), TL_EINVAL);

    /* another algorithm byte, or a key of the wrong length, with a hash that would match */
    struct {
        uint8_t alg;
        size_t key_len;
    } shapes[] = {{0x02, 32}, {0x04, 32}, {0x01, 31}, {0x01, 33}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        typed[0] = shapes[i].alg;
        memcpy(typed + 1, kp.pk, 32);
        typed[33] = 0x55;
        tl_base64_encode(typed_b64, typed, 1 + shapes[i].key_len);
        uint8_t h[32], pre[300];
        size_t n = strlen(ORIGIN);
        memcpy(pre, ORIGIN, n);
        pre[n] = '\n';
        memcpy(pre + n + 1, typed, 1 + shapes[i].key_len);
        tl_sha256(h, pre, n + 2 + shapes[i].key_len);
        tl_hex_encode(hex, h, 4);
        snprintf(buf, sizeof buf, "%s+%s+%s", ORIGIN, hex, typed_b64);
        assert_int_equal(tl_note_vkey_parse(&got, buf, strlen(buf), &err), TL_EINVAL);
        assert_string_equal(err.rule, "note.vkey");
    }

    /* a small-order point, with its correct key hash */
    uint8_t zero[32] = {0};
    uint8_t zh[4];
    reference_key_hash(zh, ORIGIN, zero);
    tl_hex_encode(hex, zh, 4);
    typed[0] = 0x01;
    memcpy(typed + 1, zero, 32);
    tl_base64_encode(typed_b64, typed, 33);
    snprintf(buf, sizeof buf, "%s+%s+%s", ORIGIN, hex, typed_b64);
    assert_int_equal(tl_note_vkey_parse(&got, buf, strlen(buf), &err), TL_EINVAL);
    assert_string_equal(err.rule, "note.key");
    assert_int_equal(tl_note_verifier_init(&got, ORIGIN, zero, &err), TL_EINVAL);

    /* a hash for another name */
    reference_key_hash(zh, "other", kp.pk);
    tl_hex_encode(hex, zh, 4);
    memcpy(typed + 1, kp.pk, 32);
    tl_base64_encode(typed_b64, typed, 33);
    snprintf(buf, sizeof buf, "%s+%s+%s", ORIGIN, hex, typed_b64);
    assert_int_equal(tl_note_vkey_parse(&got, buf, strlen(buf), &err), TL_EINVAL);
    assert_string_equal(err.rule, "note.vkey_hash");

    /* the vkey parser keeps '+' in the base64 part */
    const char *plus_key = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";
    assert_int_equal(tl_note_vkey_parse(&got, plus_key, strlen(plus_key), NULL), 0);
    assert_string_equal(got.name, "TEST");
}

static void test_checkpoint_text(void **state)
{
    (void)state;
    const char *root_b64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; /* SHA-256("") */
    uint8_t empty[32];
    tl_sha256(empty, "", 0);
    char text[512];
    tl_checkpoint cp;
    tl_error err;

    snprintf(text, sizeof text, "%s\n0\n%s\n", ORIGIN, root_b64);
    assert_int_equal(tl_checkpoint_parse(&cp, text, strlen(text), NULL), 0);
    assert_string_equal(cp.origin, ORIGIN);
    assert_int_equal(cp.size, 0);
    assert_memory_equal(cp.root, empty, 32);
    char out[TL_CHECKPOINT_TEXT_BYTES_MAX];
    size_t out_len;
    assert_int_equal(tl_checkpoint_format(out, &out_len, &cp, NULL), 0);
    assert_int_equal(out_len, strlen(text));
    assert_string_equal(out, text);

    snprintf(text, sizeof text, "%s\n18446744073709551615\n%s\n", ORIGIN, root_b64);
    assert_int_equal(tl_checkpoint_parse(&cp, text, strlen(text), NULL), 0);
    assert_true(cp.size == UINT64_MAX);

    /* The longest origin fits the text buffer. */
    memset(cp.origin, 'o', TL_CHECKPOINT_ORIGIN_BYTES_MAX);
    cp.origin[TL_CHECKPOINT_ORIGIN_BYTES_MAX] = '\0';
    assert_int_equal(tl_checkpoint_format(out, &out_len, &cp, NULL), 0);
    tl_checkpoint back;
    assert_int_equal(tl_checkpoint_parse(&back, out, out_len, NULL), 0);
    assert_memory_equal(&back, &cp, sizeof cp);

    struct {
        const char *desc, *size, *root, *rule;
    } cases[] = {
        {"leading zero", "01", NULL, "checkpoint.size"},
        {"double zero", "00", NULL, "checkpoint.size"},
        {"plus sign", "+1", NULL, "checkpoint.size"},
        {"minus sign", "-1", NULL, "checkpoint.size"},
        {"space", " 1", NULL, "checkpoint.size"},
        {"trailing space", "1 ", NULL, "checkpoint.size"},
        {"empty size", "", NULL, "checkpoint.size"},
        {"hex size", "0x10", NULL, "checkpoint.size"},
        {"overflow", "18446744073709551616", NULL, "checkpoint.size"},
        {"21 digits", "100000000000000000000", NULL, "checkpoint.size"},
        {"short root", "1", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuF=", "checkpoint.root"},
        {"unpadded root", "1", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "checkpoint.root"},
        {"non-canonical root", "1",
         "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", "checkpoint.root"},
        {"url-safe root", "1", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=", "checkpoint.root"},
        {"33-byte root", "1", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA", "checkpoint.root"},
        {"empty root", "1", "", "checkpoint.root"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "%s\n%s\n%s\n", ORIGIN, cases[i].size,
                 cases[i].root ? cases[i].root : root_b64);
        tl_error_clear(&err);
        int rc = tl_checkpoint_parse(&cp, text, strlen(text), &err);
        if (rc != TL_EINVAL || strcmp(err.rule, cases[i].rule) != 0)
            fail_msg("%s: rc %d rule %s", cases[i].desc, rc, err.rule);
    }

    const char *bodies[] = {
        "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",      /* empty origin */
        "a\tb\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",  /* control char */
        "a\xff\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", /* bad UTF-8 */
        "a\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",       /* no final newline */
        "a\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nx\n",  /* extension line */
        "a\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",   /* blank line */
        "a\r\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",   /* CRLF */
        "a\n1\n",                                                   /* two lines */
        "",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        assert_int_equal(tl_checkpoint_parse(&cp, bodies[i], strlen(bodies[i]), NULL), TL_EINVAL);

    /* One checkpoint has one text: every other value of every byte either fails to parse or
     * parses to another checkpoint. */
    snprintf(text, sizeof text, "%s\n1234\n%s\n", ORIGIN, root_b64);
    tl_checkpoint orig;
    assert_int_equal(tl_checkpoint_parse(&orig, text, strlen(text), NULL), 0);
    size_t text_len = strlen(text);
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];
        for (int b = 0; b < 256; b++) {
            if ((char)b == c)
                continue;
            text[i] = (char)b;
            if (tl_checkpoint_parse(&cp, text, text_len, NULL) == 0 &&
                memcmp(&cp, &orig, sizeof cp) == 0)
                fail_msg("byte %zu set to 0x%02x parses to the same checkpoint", i, b);
        }
        text[i] = c;
    }

    /* Formatting refuses an origin that could not be parsed back. */
    memset(&cp, 0, sizeof cp);
    assert_int_equal(tl_checkpoint_format(out, &out_len, &cp, &err), TL_EINVAL);
    snprintf(cp.origin, sizeof cp.origin, "a\nb");
    assert_int_equal(tl_checkpoint_format(out, &out_len, &cp, &err), TL_EINVAL);
    assert_string_equal(err.rule, "checkpoint.origin");
}

int main(void)
{
    assert_int_equal(tl_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_hash_kat),    cmocka_unit_test(test_go_reference_note),
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_every_byte_flip),
        cmocka_unit_test(test_wrong_key),       cmocka_unit_test(test_malformed_notes),
        cmocka_unit_test(test_sign_errors),     cmocka_unit_test(test_vkey_parse_errors),
        cmocka_unit_test(test_checkpoint_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
