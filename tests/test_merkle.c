/*
 * Merkle tree: every vector of tests/rfc6962-vectors.json, a randomised comparison against a
 * literal transcription of the RFC's recursive definitions, 64-bit extremes, and the ledger's
 * own node store (stored, in-memory and recomputed levels).
 */
#include "testutil.h"

#include <jansson.h>
#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_crypto.h"
#include "tl_merkle.h"

#define VECTORS TL_TEST_DATA_DIR "/rfc6962-vectors.json"
#define MEM_LEAVES_MAX 128u

/* ---------------------------------------------------------------------------------------- */
/* An in-memory node table filled by the frontier's emit callback. */

typedef struct mem_tree {
    uint8_t nodes[8][MEM_LEAVES_MAX][TL_HASH_BYTES]; /* 2^7 = MEM_LEAVES_MAX */
    bool present[8][MEM_LEAVES_MAX];
    unsigned reads; /* nodes read */
    unsigned calls; /* calls of the reader: one per root, proof or frontier load */
} mem_tree;

static void mem_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[TL_HASH_BYTES])
{
    mem_tree *t = ctx;
    assert_true(level < 8 && index < ((unsigned)MEM_LEAVES_MAX >> level));
    assert_false(t->present[level][index]); /* each node is completed exactly once */
    memcpy(t->nodes[level][index], hash, TL_HASH_BYTES);
    t->present[level][index] = true;
}

static int mem_get(void *ctx, const tl_merkle_node *nodes, size_t n, uint8_t (*out)[TL_HASH_BYTES],
                   tl_error *err)
{
    mem_tree *t = ctx;
    t->calls++;
    for (size_t i = 0; i < n; i++) {
        unsigned level = nodes[i].level;
        uint64_t index = nodes[i].index;
        t->reads++;
        if (level >= 8 || index >= ((unsigned)MEM_LEAVES_MAX >> level) ||
            !t->present[level][index])
            return tl_fail(err, TL_ENOTFOUND, "test.node", "", "no node (%u, %llu)", level,
                           (unsigned long long)index);
        memcpy(out[i], t->nodes[level][index], TL_HASH_BYTES);
    }
    return 0;
}

static tl_merkle_store mem_store(mem_tree *t, uint64_t size)
{
    return (tl_merkle_store){.get = mem_get, .ctx = t, .size = size};
}

/* ---------------------------------------------------------------------------------------- */
/* The RFC's definitions, transcribed literally (RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1). */

static uint64_t ref_k(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static void ref_mth(uint8_t out[TL_HASH_BYTES], const uint8_t (*leaves)[TL_HASH_BYTES], uint64_t n)
{
    if (n == 0) {
        tl_sha256(out, "", 0);
    } else if (n == 1) {
        memcpy(out, leaves[0], TL_HASH_BYTES);
    } else {
        uint64_t k = ref_k(n);
        uint8_t l[TL_HASH_BYTES], r[TL_HASH_BYTES];
        ref_mth(l, leaves, k);
        ref_mth(r, leaves + k, n - k);
        tl_node_hash(out, l, r);
    }
}

static void ref_push(tl_merkle_proof *p, const uint8_t (*leaves)[TL_HASH_BYTES], uint64_t n)
{
    assert_true(p->n < TL_MERKLE_PROOF_MAX);
    ref_mth(p->hashes[p->n++], leaves, n);
}

static void ref_path(tl_merkle_proof *p, uint64_t m, const uint8_t (*leaves)[TL_HASH_BYTES],
                     uint64_t n)
{
    if (n <= 1)
        return;
    uint64_t k = ref_k(n);
    if (m < k) {
        ref_path(p, m, leaves, k);
        ref_push(p, leaves + k, n - k);
    } else {
        ref_path(p, m - k, leaves + k, n - k);
        ref_push(p, leaves, k);
    }
}

static void ref_subproof(tl_merkle_proof *p, uint64_t m, const uint8_t (*leaves)[TL_HASH_BYTES],
                         uint64_t n, bool b)
{
    if (m == n) {
        if (!b)
            ref_push(p, leaves, n);
        return;
    }
    uint64_t k = ref_k(n);
    if (m <= k) {
        ref_subproof(p, m, leaves, k, b);
        ref_push(p, leaves + k, n - k);
    } else {
        ref_subproof(p, m - k, leaves + k, n - k, false);
        ref_push(p, leaves, k);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Reading the vectors. */

static json_t *vectors; /* loaded once for the whole group, so a failing test leaks nothing */

static int load_vectors(void **state)
{
    (void)state;
    /* jansson keeps integers as long long and refuses 2^64 - 1, which two probes use as a
     * leaf index (0 - 1, wrapped). Reading numbers as doubles keeps every other integer in the
     * file exact (all are far below 2^53); json_u64 maps that one back. */
    json_error_t jerr;
    vectors = json_load_file(VECTORS, JSON_DECODE_INT_AS_REAL, &jerr);
    if (vectors == NULL) {
        fprintf(stderr, "%s:%d: %s\n", VECTORS, jerr.line, jerr.text);
        return -1;
    }
    return 0;
}

static int free_vectors(void **state)
{
    (void)state;
    json_decref(vectors);
    return 0;
}

static uint64_t json_u64(const json_t *v)
{
    assert_true(json_is_number(v));
    double d = json_number_value(v);
    assert_true(d >= 0);
    if (d >= 18446744073709551615.0) /* that literal is 2^64 as a double: the wrapped -1 */
        return UINT64_MAX;
    assert_true(d < 9007199254740992.0 && d == (double)(uint64_t)d); /* exact */
    return (uint64_t)d;
}

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static uint64_t jnum(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    return json_u64(v);
}

/* Hex of any length into out (cap bytes); returns the byte count. */
static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
    size_t len = strlen(hex);
    assert_true(len % 2 == 0 && len / 2 <= cap);
    assert_int_equal(tl_hex_decode(out, len / 2, hex, len), 0);
    return len / 2;
}

static void unhex32(uint8_t out[TL_HASH_BYTES], const char *hex)
{
    assert_int_equal(unhex(out, TL_HASH_BYTES, hex), TL_HASH_BYTES);
}

/*
 * Probe values. The verifiers take hashes as 32-byte arrays, so a probe value of another
 * length ("" or a short string such as "WrongLeaf") cannot reach them as it stands. We do what
 * the probes' source (transparency-dev/merkle) does with such values: a leaf hash or proof
 * hash of the wrong size is an error there before any hashing, as it is for any caller of ours
 * when it decodes one into a tl_merkle_proof, so the probe counts as rejected at decoding; a
 * root is compared there as an opaque string, so here it is zero-padded, which keeps equal
 * values equal and unequal ones unequal (no real hash in the file ends in zeros).
 */
static bool probe_hash(uint8_t out[TL_HASH_BYTES], const char *hex, bool pad)
{
    memset(out, 0, TL_HASH_BYTES);
    return unhex(out, TL_HASH_BYTES, hex) == TL_HASH_BYTES || pad;
}

static bool probe_proof(tl_merkle_proof *p, const json_t *arr)
{
    assert_true(json_is_array(arr) && json_array_size(arr) <= TL_MERKLE_PROOF_MAX);
    p->n = json_array_size(arr);
    bool ok = true;
    for (size_t i = 0; i < p->n; i++)
        ok &= probe_hash(p->hashes[i], json_string_value(json_array_get(arr, i)), false);
    return ok;
}

static void exact_proof(tl_merkle_proof *p, const json_t *arr)
{
    assert_true(json_is_array(arr) && json_array_size(arr) <= TL_MERKLE_PROOF_MAX);
    p->n = json_array_size(arr);
    for (size_t i = 0; i < p->n; i++)
        unhex32(p->hashes[i], json_string_value(json_array_get(arr, i)));
}

static void assert_proof_equal(const tl_merkle_proof *a, const tl_merkle_proof *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_memory_equal(a->hashes[i], b->hashes[i], TL_HASH_BYTES);
}

/* The 8-leaf tree of the vectors, built with the frontier. */
static void vector_tree(mem_tree *t, const json_t *root, uint8_t leaf_hashes[8][TL_HASH_BYTES])
{
    memset(t, 0, sizeof *t);
    const json_t *leaves = json_object_get(root, "leaves");
    assert_int_equal(json_array_size(leaves), 8);
    tl_merkle_frontier f;
    tl_merkle_frontier_init(&f);
    for (size_t i = 0; i < 8; i++) {
        uint8_t data[64];
        size_t n = unhex(data, sizeof data, json_string_value(json_array_get(leaves, i)));
        tl_leaf_hash(leaf_hashes[i], data, n);
        tl_merkle_frontier_append(&f, leaf_hashes[i], mem_emit, t);
    }
}

/* ---------------------------------------------------------------------------------------- */

static void test_hasher_kats(void **state)
{
    (void)state;
    const json_t *root = vectors;
    const json_t *kats = json_object_get(root, "hasher_kats");
    assert_true(json_array_size(kats) > 0);
    for (size_t i = 0; i < json_array_size(kats); i++) {
        const json_t *k = json_array_get(kats, i);
        const char *op = jstr(k, "op");
        uint8_t want[TL_HASH_BYTES], got[TL_HASH_BYTES];
        unhex32(want, jstr(k, "want"));
        if (strcmp(op, "empty_root") == 0) {
            tl_merkle_frontier f;
            tl_merkle_frontier_init(&f);
            tl_merkle_frontier_root(got, &f);
            assert_memory_equal(got, want, TL_HASH_BYTES);
            tl_merkle_store none = {.get = mem_get, .ctx = NULL, .size = 0};
            memset(got, 0, sizeof got);
            assert_int_equal(tl_merkle_root(got, &none, 0, NULL), 0);
        } else if (strcmp(op, "leaf") == 0) {
            uint8_t in[64];
            size_t n = unhex(in, sizeof in, jstr(k, "input"));
            tl_leaf_hash(got, in, n);
        } else {
            assert_string_equal(op, "node");
            uint8_t l[32], r[32], buf[1 + 64];
            size_t nl = unhex(l, sizeof l, jstr(k, "left"));
            size_t nr = unhex(r, sizeof r, jstr(k, "right"));
            if (nl == 32 && nr == 32) {
                tl_node_hash(got, l, r);
            } else {
                /* tl_node_hash takes 32-byte children only; the Go KAT hashes short strings,
                 * so check the same definition by hand. */
                buf[0] = 0x01;
                memcpy(buf + 1, l, nl);
                memcpy(buf + 1 + nl, r, nr);
                tl_sha256(got, buf, 1 + nl + nr);
            }
        }
        assert_memory_equal(got, want, TL_HASH_BYTES);
    }
}

static void test_vector_tree(void **state)
{
    (void)state;
    const json_t *root = vectors;
    static mem_tree t;
    uint8_t leaf_hashes[8][TL_HASH_BYTES];
    vector_tree(&t, root, leaf_hashes);

    /* node_hashes[level][index] are exactly the nodes the frontier emitted, and no others. */
    const json_t *levels = json_object_get(root, "node_hashes");
    assert_int_equal(json_array_size(levels), 4);
    for (unsigned level = 0; level < 8; level++) {
        const json_t *row = json_array_get(levels, level); /* NULL past level 3 */
        for (size_t i = 0; i < ((unsigned)MEM_LEAVES_MAX >> level); i++) {
            bool want = row != NULL && i < json_array_size(row);
            assert_int_equal(t.present[level][i], want);
            if (want) {
                uint8_t h[TL_HASH_BYTES];
                unhex32(h, json_string_value(json_array_get(row, i)));
                assert_memory_equal(t.nodes[level][i], h, TL_HASH_BYTES);
            }
        }
    }

    /* roots[n] is the root of the first n leaves: from stored nodes, from a frontier grown to
     * n, and from a frontier reloaded at n. */
    const json_t *roots = json_object_get(root, "roots");
    assert_int_equal(json_array_size(roots), 9);
    tl_merkle_store store = mem_store(&t, 8);
    tl_merkle_frontier grown;
    tl_merkle_frontier_init(&grown);
    for (uint64_t n = 0; n <= 8; n++) {
        uint8_t want[TL_HASH_BYTES], got[TL_HASH_BYTES];
        unhex32(want, json_string_value(json_array_get(roots, n)));
        assert_int_equal(tl_merkle_root(got, &store, n, NULL), 0);
        assert_memory_equal(got, want, TL_HASH_BYTES);
        tl_merkle_frontier_root(got, &grown);
        assert_memory_equal(got, want, TL_HASH_BYTES);
        tl_merkle_frontier loaded;
        tl_merkle_store at_n = mem_store(&t, n);
        assert_int_equal(tl_merkle_frontier_load(&loaded, &at_n, NULL), 0);
        tl_merkle_frontier_root(got, &loaded);
        assert_memory_equal(got, want, TL_HASH_BYTES);
        if (n < 8)
            tl_merkle_frontier_append(&grown, leaf_hashes[n], NULL, NULL);
    }
}

static void test_inclusion_vectors(void **state)
{
    (void)state;
    const json_t *root = vectors;
    static mem_tree t;
    uint8_t leaf_hashes[8][TL_HASH_BYTES];
    vector_tree(&t, root, leaf_hashes);
    tl_merkle_store store = mem_store(&t, 8);
    const json_t *vs = json_object_get(root, "inclusion");
    assert_true(json_array_size(vs) > 0);
    for (size_t i = 0; i < json_array_size(vs); i++) {
        const json_t *v = json_array_get(vs, i);
        uint64_t index = jnum(v, "leaf_index"), size = jnum(v, "tree_size");
        uint8_t leaf[TL_HASH_BYTES], want_root[TL_HASH_BYTES], got_root[TL_HASH_BYTES];
        unhex32(leaf, jstr(v, "leaf_hash"));
        unhex32(want_root, jstr(v, "root"));
        assert_memory_equal(leaf, leaf_hashes[index], TL_HASH_BYTES);
        tl_merkle_proof want, got;
        exact_proof(&want, json_object_get(v, "proof"));
        assert_int_equal(tl_merkle_inclusion_proof(&got, &store, index, size, NULL), 0);
        assert_proof_equal(&got, &want);
        assert_int_equal(tl_merkle_root(got_root, &store, size, NULL), 0);
        assert_memory_equal(got_root, want_root, TL_HASH_BYTES);
        assert_int_equal(tl_merkle_verify_inclusion(leaf, index, size, &want, want_root, NULL), 0);
    }
}

static void test_consistency_vectors(void **state)
{
    (void)state;
    const json_t *root = vectors;
    static mem_tree t;
    uint8_t leaf_hashes[8][TL_HASH_BYTES];
    vector_tree(&t, root, leaf_hashes);
    tl_merkle_store store = mem_store(&t, 8);
    const json_t *vs = json_object_get(root, "consistency");
    assert_true(json_array_size(vs) > 0);
    for (size_t i = 0; i < json_array_size(vs); i++) {
        const json_t *v = json_array_get(vs, i);
        uint64_t m = jnum(v, "size1"), n = jnum(v, "size2");
        uint8_t r1[TL_HASH_BYTES], r2[TL_HASH_BYTES], got_root[TL_HASH_BYTES];
        unhex32(r1, jstr(v, "root1"));
        unhex32(r2, jstr(v, "root2"));
        tl_merkle_proof want, got;
        exact_proof(&want, json_object_get(v, "proof"));
        assert_int_equal(tl_merkle_consistency_proof(&got, &store, m, n, NULL), 0);
        assert_proof_equal(&got, &want);
        assert_int_equal(tl_merkle_root(got_root, &store, m, NULL), 0);
        assert_memory_equal(got_root, r1, TL_HASH_BYTES);
        assert_int_equal(tl_merkle_root(got_root, &store, n, NULL), 0);
        assert_memory_equal(got_root, r2, TL_HASH_BYTES);
        assert_int_equal(tl_merkle_verify_consistency(m, n, &want, r1, r2, NULL), 0);
    }
}

static void test_real_log_inclusion(void **state)
{
    (void)state;
    const json_t *root = vectors;
    const json_t *v = json_object_get(root, "real_log_inclusion");
    const char *input_hex = jstr(v, "leaf_input");
    size_t cap = strlen(input_hex) / 2;
    uint8_t *input = malloc(cap + 1);
    assert_non_null(input);
    size_t len = unhex(input, cap, input_hex);
    uint8_t leaf[TL_HASH_BYTES], want_leaf[TL_HASH_BYTES], want_root[TL_HASH_BYTES];
    tl_leaf_hash(leaf, input, len);
    free(input);
    unhex32(want_leaf, jstr(v, "leaf_hash"));
    assert_memory_equal(leaf, want_leaf, TL_HASH_BYTES);
    unhex32(want_root, jstr(v, "root"));
    tl_merkle_proof proof;
    exact_proof(&proof, json_object_get(v, "proof"));
    uint64_t index = jnum(v, "leaf_index"), size = jnum(v, "tree_size");
    assert_int_equal(tl_merkle_verify_inclusion(leaf, index, size, &proof, want_root, NULL), 0);
    /* and a neighbouring index or size does not verify */
    assert_int_not_equal(tl_merkle_verify_inclusion(leaf, index + 1, size, &proof, want_root, NULL),
                         0);
    assert_int_not_equal(tl_merkle_verify_inclusion(leaf, index, size * 2, &proof, want_root, NULL),
                         0);
}

/* Checks one probe's outcome; returns whether the verifier itself rejected it. */
static bool probe_outcome(const json_t *p, bool decoded, int rc, const tl_error *err)
{
    bool want_err = json_is_true(json_object_get(p, "want_err"));
    bool got_err = !decoded || rc != 0;
    if (got_err != want_err)
        fail_msg("%s (%s): decoded %d, rc %d, want_err %d", jstr(p, "file"), jstr(p, "desc"),
                 decoded, rc, want_err);
    if (decoded && rc != 0) {
        assert_int_equal(err->code, rc);
        assert_true(rc == TL_EINVAL || rc == TL_ECORRUPT);
        assert_true(err->rule[0] != '\0' && err->msg[0] != '\0');
    }
    return decoded && rc != 0;
}

static void test_inclusion_probes(void **state)
{
    (void)state;
    const json_t *ps = json_object_get(vectors, "inclusion_probes");
    assert_true(json_array_size(ps) > 0);
    size_t by_verifier = 0;
    for (size_t i = 0; i < json_array_size(ps); i++) {
        const json_t *p = json_array_get(ps, i);
        uint8_t leaf[TL_HASH_BYTES], r[TL_HASH_BYTES];
        tl_merkle_proof proof;
        bool decoded = probe_hash(leaf, jstr(p, "leaf_hash"), false);
        decoded &= probe_hash(r, jstr(p, "root"), true);
        decoded &= probe_proof(&proof, json_object_get(p, "proof"));
        tl_error err;
        tl_error_clear(&err);
        int rc = decoded ? tl_merkle_verify_inclusion(leaf, jnum(p, "leaf_index"),
                                                      jnum(p, "tree_size"), &proof, r, &err)
                         : 0;
        by_verifier += probe_outcome(p, decoded, rc, &err);
    }
    print_message("%zu of %zu inclusion probes rejected by the verifier\n", by_verifier,
                  json_array_size(ps));
}

static void test_consistency_probes(void **state)
{
    (void)state;
    const json_t *ps = json_object_get(vectors, "consistency_probes");
    assert_true(json_array_size(ps) > 0);
    size_t by_verifier = 0;
    for (size_t i = 0; i < json_array_size(ps); i++) {
        const json_t *p = json_array_get(ps, i);
        uint8_t r1[TL_HASH_BYTES], r2[TL_HASH_BYTES];
        tl_merkle_proof proof;
        bool decoded = probe_hash(r1, jstr(p, "root1"), true);
        decoded &= probe_hash(r2, jstr(p, "root2"), true);
        decoded &= probe_proof(&proof, json_object_get(p, "proof"));
        tl_error err;
        tl_error_clear(&err);
        int rc = decoded ? tl_merkle_verify_consistency(jnum(p, "size1"), jnum(p, "size2"), &proof,
                                                        r1, r2, &err)
                         : 0;
        by_verifier += probe_outcome(p, decoded, rc, &err);
    }
    print_message("%zu of %zu consistency probes rejected by the verifier\n", by_verifier,
                  json_array_size(ps));
}

/* ---------------------------------------------------------------------------------------- */
/* Randomised: a frontier-built tree against the reference, for every size up to N. */

#define RANDOM_LEAVES 70

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    /* xorshift64*: a fixed seed keeps failures reproducible. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

/* log2 bound on reads for one root or proof: at most two per level. */
static unsigned read_bound(uint64_t n)
{
    unsigned d = 1;
    while ((UINT64_C(1) << d) < n)
        d++;
    return 2 * d + 2;
}

static void flip_each(const tl_merkle_proof *good, bool inclusion, const uint8_t leaf[32],
                      uint64_t a, uint64_t b, const uint8_t r1[32], const uint8_t r2[32])
{
    for (size_t i = 0; i < good->n; i++) {
        tl_merkle_proof bad = *good;
        bad.hashes[i][rng() % TL_HASH_BYTES] ^= (uint8_t)(1u << (rng() % 8));
        int rc = inclusion ? tl_merkle_verify_inclusion(leaf, a, b, &bad, r2, NULL)
                           : tl_merkle_verify_consistency(a, b, &bad, r1, r2, NULL);
        assert_int_equal(rc, TL_ECORRUPT);
    }
    /* one hash too few or too many */
    if (good->n > 0) {
        tl_merkle_proof bad = *good;
        bad.n--;
        int rc = inclusion ? tl_merkle_verify_inclusion(leaf, a, b, &bad, r2, NULL)
                           : tl_merkle_verify_consistency(a, b, &bad, r1, r2, NULL);
        assert_int_not_equal(rc, 0);
    }
    tl_merkle_proof bad = *good;
    memcpy(bad.hashes[bad.n++], r2, TL_HASH_BYTES);
    int rc = inclusion ? tl_merkle_verify_inclusion(leaf, a, b, &bad, r2, NULL)
                       : tl_merkle_verify_consistency(a, b, &bad, r1, r2, NULL);
    assert_int_not_equal(rc, 0);
}

static void test_random_against_reference(void **state)
{
    (void)state;
    static mem_tree t;
    memset(&t, 0, sizeof t);
    uint8_t leaves[RANDOM_LEAVES][TL_HASH_BYTES];
    uint8_t roots[RANDOM_LEAVES + 1][TL_HASH_BYTES];
    tl_merkle_frontier f;
    tl_merkle_frontier_init(&f);
    for (size_t i = 0; i < RANDOM_LEAVES; i++) {
        uint8_t data[40];
        size_t len = rng() % sizeof data;
        for (size_t j = 0; j < len; j++)
            data[j] = (uint8_t)rng();
        tl_leaf_hash(leaves[i], data, len);
        ref_mth(roots[i], (const uint8_t(*)[TL_HASH_BYTES])leaves, i);
        uint8_t got[TL_HASH_BYTES];
        tl_merkle_frontier_root(got, &f);
        assert_memory_equal(got, roots[i], TL_HASH_BYTES);
        tl_merkle_frontier_append(&f, leaves[i], mem_emit, &t);
    }
    ref_mth(roots[RANDOM_LEAVES], (const uint8_t(*)[TL_HASH_BYTES])leaves, RANDOM_LEAVES);
    tl_merkle_store store = mem_store(&t, RANDOM_LEAVES);
    const uint8_t(*lv)[TL_HASH_BYTES] = (const uint8_t(*)[TL_HASH_BYTES])leaves;

    for (uint64_t n = 1; n <= RANDOM_LEAVES; n++) {
        uint8_t got[TL_HASH_BYTES];
        t.reads = 0;
        t.calls = 0;
        assert_int_equal(tl_merkle_root(got, &store, n, NULL), 0);
        assert_memory_equal(got, roots[n], TL_HASH_BYTES);
        assert_true(t.reads <= read_bound(n));
        assert_int_equal(t.calls, 1); /* every node in one batch */

        /* Reloading the frontier at n and appending the rest gives the same tree. */
        tl_merkle_frontier g;
        tl_merkle_store at_n = mem_store(&t, n);
        assert_int_equal(tl_merkle_frontier_load(&g, &at_n, NULL), 0);
        assert_int_equal(g.size, n);
        for (uint64_t i = n; i < RANDOM_LEAVES; i++)
            tl_merkle_frontier_append(&g, leaves[i], NULL, NULL);
        tl_merkle_frontier_root(got, &g);
        assert_memory_equal(got, roots[RANDOM_LEAVES], TL_HASH_BYTES);

        for (uint64_t m = 0; m < n; m++) {
            tl_merkle_proof want = {0}, proof;
            ref_path(&want, m, lv, n);
            t.reads = 0;
            t.calls = 0;
            assert_int_equal(tl_merkle_inclusion_proof(&proof, &store, m, n, NULL), 0);
            assert_true(t.reads <= read_bound(n));
            assert_int_equal(t.calls, n > 1 ? 1 : 0);
            assert_proof_equal(&proof, &want);
            assert_int_equal(tl_merkle_verify_inclusion(leaves[m], m, n, &proof, roots[n], NULL),
                             0);
            /* the wrong leaf, index or size */
            if (n > 1) {
                assert_int_not_equal(
                    tl_merkle_verify_inclusion(leaves[(m + 1) % n], m, n, &proof, roots[n], NULL),
                    0);
                assert_int_not_equal(
                    tl_merkle_verify_inclusion(leaves[m], (m + 1) % n, n, &proof, roots[n], NULL),
                    0);
            }
            if (n < RANDOM_LEAVES)
                assert_int_not_equal(
                    tl_merkle_verify_inclusion(leaves[m], m, n + 1, &proof, roots[n + 1], NULL), 0);
            flip_each(&proof, true, leaves[m], m, n, NULL, roots[n]);
        }

        for (uint64_t m = 1; m <= n; m++) {
            tl_merkle_proof want = {0}, proof;
            ref_subproof(&want, m, lv, n, true);
            t.reads = 0;
            t.calls = 0;
            assert_int_equal(tl_merkle_consistency_proof(&proof, &store, m, n, NULL), 0);
            assert_true(t.reads <= 2 * read_bound(n));
            assert_int_equal(t.calls, m < n ? 1 : 0);
            assert_proof_equal(&proof, &want);
            assert_int_equal(tl_merkle_verify_consistency(m, n, &proof, roots[m], roots[n], NULL),
                             0);
            /* swapped or wrong roots */
            if (m < n) {
                assert_int_not_equal(
                    tl_merkle_verify_consistency(m, n, &proof, roots[n], roots[m], NULL), 0);
                assert_int_not_equal(
                    tl_merkle_verify_consistency(m, n, &proof, roots[m - 1], roots[n], NULL), 0);
            }
            flip_each(&proof, false, NULL, m, n, roots[m], roots[n]);
        }
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    static mem_tree t;
    memset(&t, 0, sizeof t);
    tl_merkle_frontier f;
    tl_merkle_frontier_init(&f);
    uint8_t leaf[TL_HASH_BYTES];
    for (int i = 0; i < 5; i++) {
        tl_leaf_hash(leaf, &i, sizeof i);
        tl_merkle_frontier_append(&f, leaf, mem_emit, &t);
    }
    tl_merkle_store store = mem_store(&t, 5);
    tl_merkle_proof proof;
    uint8_t root[TL_HASH_BYTES];
    tl_error err;

    assert_int_equal(tl_merkle_root(root, &store, 6, &err), TL_EINVAL);
    assert_string_equal(err.rule, "merkle.size");
    assert_int_equal(tl_merkle_inclusion_proof(&proof, &store, 5, 5, &err), TL_EINVAL);
    assert_string_equal(err.rule, "merkle.leaf_index");
    assert_int_equal(tl_merkle_inclusion_proof(&proof, &store, 0, 0, &err), TL_EINVAL);
    assert_int_equal(tl_merkle_inclusion_proof(&proof, &store, 0, 6, &err), TL_EINVAL);
    assert_string_equal(err.rule, "merkle.size");
    assert_int_equal(tl_merkle_consistency_proof(&proof, &store, 3, 2, &err), TL_EINVAL);
    assert_string_equal(err.rule, "merkle.consistency_order");
    assert_int_equal(tl_merkle_consistency_proof(&proof, &store, 0, 2, &err), TL_EINVAL);
    assert_string_equal(err.rule, "merkle.consistency_from");
    assert_int_equal(tl_merkle_consistency_proof(&proof, &store, 2, 6, &err), TL_EINVAL);
    assert_string_equal(err.rule, "merkle.size");
    assert_int_equal(tl_merkle_consistency_proof(&proof, &store, 5, 5, &err), 0);
    assert_int_equal(proof.n, 0);

    proof.n = TL_MERKLE_PROOF_MAX + 1;
    assert_int_equal(tl_merkle_verify_inclusion(leaf, 0, 5, &proof, root, &err), TL_ETOOBIG);
    assert_int_equal(tl_merkle_verify_consistency(1, 5, &proof, root, root, &err), TL_ETOOBIG);

    /* A node the store has lost: the reader's error comes back unchanged. */
    t.present[0][4] = false;
    assert_int_equal(tl_merkle_root(root, &store, 5, &err), TL_ENOTFOUND);
    assert_string_equal(err.rule, "test.node");
    assert_int_equal(tl_merkle_frontier_load(&f, &store, &err), TL_ENOTFOUND);
    assert_int_equal(f.size, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* 64-bit extremes. A tree whose leaves are all equal has one hash per level, so a store can
 * answer for trees of up to 2^64 - 1 leaves and its proofs still verify. */

typedef struct flat_tree {
    uint8_t level_hash[TL_MERKLE_LEVELS][TL_HASH_BYTES];
    uint64_t size;
    unsigned reads;
} flat_tree;

static int flat_get(void *ctx, const tl_merkle_node *nodes, size_t n,
                    uint8_t (*out)[TL_HASH_BYTES], tl_error *err)
{
    flat_tree *t = ctx;
    for (size_t i = 0; i < n; i++) {
        unsigned level = nodes[i].level;
        uint64_t index = nodes[i].index;
        t->reads++;
        /* only complete nodes of the stored tree may be asked for */
        if (level >= TL_MERKLE_LEVELS || index >= (t->size >> level))
            return tl_fail(err, TL_ENOTFOUND, "test.node", "", "no node (%u, %llu)", level,
                           (unsigned long long)index);
        memcpy(out[i], t->level_hash[level], TL_HASH_BYTES);
    }
    return 0;
}

static void test_huge_trees(void **state)
{
    (void)state;
    static flat_tree t;
    tl_leaf_hash(t.level_hash[0], "x", 1);
    for (unsigned l = 1; l < TL_MERKLE_LEVELS; l++)
        tl_node_hash(t.level_hash[l], t.level_hash[l - 1], t.level_hash[l - 1]);
    t.size = UINT64_MAX;
    tl_merkle_store store = {.get = flat_get, .ctx = &t, .size = UINT64_MAX};

    const uint64_t sizes[] = {1,
                              2,
                              3,
                              UINT64_C(1) << 32,
                              (UINT64_C(1) << 32) + 1,
                              (UINT64_C(1) << 63) - 1,
                              UINT64_C(1) << 63,
                              (UINT64_C(1) << 63) + 1,
                              UINT64_MAX - 1,
                              UINT64_MAX};
    const size_t n_sizes = sizeof sizes / sizeof sizes[0];
    uint8_t roots[sizeof sizes / sizeof sizes[0]][TL_HASH_BYTES];
    size_t longest = 0;
    for (size_t i = 0; i < n_sizes; i++) {
        t.reads = 0;
        assert_int_equal(tl_merkle_root(roots[i], &store, sizes[i], NULL), 0);
        assert_true(t.reads <= 64);
        /* the frontier reloaded at that size agrees */
        tl_merkle_frontier f;
        tl_merkle_store at = store;
        at.size = sizes[i];
        assert_int_equal(tl_merkle_frontier_load(&f, &at, NULL), 0);
        uint8_t got[TL_HASH_BYTES];
        tl_merkle_frontier_root(got, &f);
        assert_memory_equal(got, roots[i], TL_HASH_BYTES);

        const uint64_t idx[] = {0, sizes[i] / 2, sizes[i] - 1, rng() % sizes[i]};
        for (size_t k = 0; k < 4; k++) {
            tl_merkle_proof p;
            t.reads = 0;
            assert_int_equal(tl_merkle_inclusion_proof(&p, &store, idx[k], sizes[i], NULL), 0);
            assert_true(t.reads <= 2 * 64 + 2);
            assert_true(p.n <= 64);
            assert_int_equal(
                tl_merkle_verify_inclusion(t.level_hash[0], idx[k], sizes[i], &p, roots[i], NULL),
                0);
        }
    }
    for (size_t i = 0; i < n_sizes; i++) {
        for (size_t j = i; j < n_sizes; j++) {
            tl_merkle_proof p;
            t.reads = 0;
            assert_int_equal(tl_merkle_consistency_proof(&p, &store, sizes[i], sizes[j], NULL), 0);
            assert_true(t.reads <= 4 * 64 + 4);
            if (p.n > longest)
                longest = p.n;
            assert_int_equal(
                tl_merkle_verify_consistency(sizes[i], sizes[j], &p, roots[i], roots[j], NULL), 0);
        }
    }
    assert_true(longest <= 65);
}

/* ---------------------------------------------------------------------------------------- */
/* The ledger's node store (ledger/log.c): stored levels, the in-memory upper levels and the
 * small subtrees recomputed from records, across sizes where each of them is needed. */

typedef uint8_t leaf_hash[TL_HASH_BYTES];

/* Appends contracts until the log has n records; returns the leaf hashes of all records (in
 * leaves, reallocated). */
static leaf_hash *grow_ledger(tl_test_ledger *t, uint64_t n, leaf_hash *leaves)
{
    char json[2048];
    tl_append_result res;
    for (uint64_t i = tl_ledger_size(t->l); i < n; i++) {
        char reg[17];
        snprintf(reg, sizeof reg, "2024%012u", (unsigned)i);
        tl_test_contract_json(json, sizeof json, reg, 7, 7, "2024-02-02");
        assert_int_equal(tl_test_append(t->l, &t->registry, json, &res), 0);
    }
    assert_int_equal(tl_ledger_size(t->l), n);
    leaves = realloc(leaves, n * TL_HASH_BYTES);
    assert_non_null(leaves);
    tl_buf rec;
    tl_buf_init(&rec);
    tl_error err;
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(tl_ledger_read(t->l, i, &rec, &err), 0);
        tl_leaf_hash(leaves[i], rec.data, rec.len);
    }
    tl_buf_free(&rec);
    return leaves;
}

/* Roots and proofs served by l at sizes around every power of two up to n, checked against
 * the reference: every leaf's inclusion proof and every old size's consistency proof. */
static void check_ledger_proofs(tl_ledger *l, const uint8_t (*leaves)[TL_HASH_BYTES], uint64_t n)
{
    uint64_t sizes[64];
    size_t k = 0;
    for (uint64_t p = 1; p <= n; p *= 2)
        for (uint64_t s = p > 1 ? p - 1 : p; s <= p + 1 && s <= n; s++)
            if (k == 0 || s > sizes[k - 1])
                sizes[k++] = s;
    if (sizes[k - 1] != n)
        sizes[k++] = n;
    uint8_t *roots = malloc((n + 1) * TL_HASH_BYTES);
    assert_non_null(roots);
    for (uint64_t s = 1; s <= n; s++)
        ref_mth(roots + s * TL_HASH_BYTES, leaves, s);
    tl_error err;
    tl_merkle_proof proof;
    for (size_t i = 0; i < k; i++) {
        uint64_t size = sizes[i];
        const uint8_t *root = roots + size * TL_HASH_BYTES;
        uint8_t got[TL_HASH_BYTES];
        assert_int_equal(tl_ledger_root(l, size, got, &err), 0);
        assert_memory_equal(got, root, TL_HASH_BYTES);
        for (uint64_t m = 0; m < size; m++) {
            assert_int_equal(tl_ledger_inclusion_proof(l, m, size, &proof, &err), 0);
            assert_int_equal(tl_merkle_verify_inclusion(leaves[m], m, size, &proof, root, &err), 0);
        }
        for (uint64_t from = 1; from <= size; from++) {
            assert_int_equal(tl_ledger_consistency_proof(l, from, size, &proof, &err), 0);
            const uint8_t *from_root = roots + from * TL_HASH_BYTES;
            assert_int_equal(
                tl_merkle_verify_consistency(from, size, &proof, from_root, root, &err), 0);
        }
    }
    /* exactly the reference's hashes, for a leaf whose path crosses every kind of node */
    tl_merkle_proof want = {0};
    ref_path(&want, n / 3, leaves, n);
    assert_int_equal(tl_ledger_inclusion_proof(l, n / 3, n, &proof, &err), 0);
    assert_proof_equal(&proof, &want);
    free(roots);
}

/* A ledger's RocksDB opened directly, to damage it or rewrite it into an older layout. */
typedef struct raw_db {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *w;
    char **names;
    size_t ncf;
    rocksdb_column_family_handle_t *cf[8];
} raw_db;

static void raw_open(raw_db *x, const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/db", dir);
    char *e = NULL;
    x->opts = rocksdb_options_create();
    x->names = rocksdb_list_column_families(x->opts, path, &x->ncf, &e);
    assert_null(e);
    assert_true(x->ncf <= 8);
    const rocksdb_options_t *o[8];
    for (size_t i = 0; i < x->ncf; i++)
        o[i] = x->opts;
    x->db = rocksdb_open_column_families(x->opts, path, (int)x->ncf, (const char *const *)x->names, o, x->cf, &e);
    assert_null(e);
    x->w = rocksdb_writeoptions_create();
}

static rocksdb_column_family_handle_t *raw_cf(raw_db *x, const char *name)
{
    for (size_t i = 0; i < x->ncf; i++)
        if (strcmp(x->names[i], name) == 0)
            return x->cf[i];
    fail_msg("no column family %s", name);
    return NULL;
}

static void raw_close(raw_db *x)
{
    rocksdb_writeoptions_destroy(x->w);
    for (size_t i = 0; i < x->ncf; i++)
        rocksdb_column_family_handle_destroy(x->cf[i]);
    rocksdb_close(x->db);
    rocksdb_list_column_families_destroy(x->names, x->ncf);
    rocksdb_options_destroy(x->opts);
}

static void node_key(uint8_t key[9], unsigned level, uint64_t index)
{
    key[0] = (uint8_t)level;
    for (int i = 0; i < 8; i++)
        key[1 + i] = (uint8_t)(index >> (56 - 8 * i));
}

static void delete_node(const char *dir, unsigned level, uint64_t index)
{
    raw_db x;
    raw_open(&x, dir);
    uint8_t key[9];
    node_key(key, level, index);
    char *e = NULL;
    rocksdb_delete_cf(x.db, x.w, raw_cf(&x, "merkle"), (const char *)key, sizeof key, &e);
    assert_null(e);
    raw_close(&x);
}

/* The stored nodes of each level below 8 (count[level]); with drop_below, deletes those of
 * the levels below it as it goes. */
static void scan_nodes(const char *dir, unsigned count[8], unsigned drop_below)
{
    raw_db x;
    raw_open(&x, dir);
    memset(count, 0, 8 * sizeof count[0]);
    rocksdb_readoptions_t *r = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(x.db, r, raw_cf(&x, "merkle"));
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        assert_int_equal(klen, 9);
        unsigned level = (uint8_t)k[0];
        if (level < 8)
            count[level]++;
        char *e = NULL;
        if (level < drop_below)
            rocksdb_delete_cf(x.db, x.w, raw_cf(&x, "merkle"), k, klen, &e);
        assert_null(e);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(r);
    raw_close(&x);
}

/* Sets the ledger's merkle_level_min meta value (NULL: deletes it, as before the key existed). */
static void set_level_min(const char *dir, const char *val)
{
    raw_db x;
    raw_open(&x, dir);
    char *e = NULL;
    if (val == NULL)
        rocksdb_delete_cf(x.db, x.w, raw_cf(&x, "default"), "merkle_level_min", 16, &e);
    else
        rocksdb_put_cf(x.db, x.w, raw_cf(&x, "default"), "merkle_level_min", 16, val, strlen(val), &e);
    assert_null(e);
    raw_close(&x);
}

static void test_ledger_node_store(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "merkle-store");
    /* Past one node of 256 leaves, the first level kept in memory; then past 512 while the
     * writer's copy of the upper levels is filled already, so it has to catch up. */
    leaf_hash *leaves = grow_ledger(&t, 300, NULL);
    check_ledger_proofs(t.l, (const uint8_t(*)[TL_HASH_BYTES])leaves, 300);
    leaves = grow_ledger(&t, 530, leaves);
    check_ledger_proofs(t.l, (const uint8_t(*)[TL_HASH_BYTES])leaves, 530);
    /* A new ledger stores the subtrees of 4 leaves and up, and recomputes smaller ones. */
    tl_error err;
    uint8_t node[TL_HASH_BYTES], want[TL_HASH_BYTES];
    assert_int_equal(tl_ledger_merkle_node(t.l, 2, 131, node, &err), 0);
    ref_mth(want, (const uint8_t(*)[TL_HASH_BYTES])leaves + 524, 4);
    assert_memory_equal(node, want, TL_HASH_BYTES);
    assert_int_equal(tl_ledger_merkle_node(t.l, 1, 0, node, &err), TL_ENOTFOUND);

    /* A reader of its own, starting with nothing in memory. */
    tl_ledger_close(t.l);
    t.l = NULL;
    unsigned count[8];
    scan_nodes(t.dir, count, 0);
    for (unsigned level = 0; level < 8; level++)
        assert_int_equal(count[level], level < 2 ? 0 : 530u >> level);
    tl_ledger *r;
    tl_ledger_options ro = {.mode = TL_OPEN_READ_ONLY};
    assert_int_equal(tl_ledger_open(&r, t.dir, &ro, &err), 0);
    check_ledger_proofs(r, (const uint8_t(*)[TL_HASH_BYTES])leaves, 530);
    tl_ledger_close(r);

    /* A lost node of a level kept in memory: what needs it fails as damaged storage, what
     * lies before it is still served. */
    delete_node(t.dir, 8, 1);
    assert_int_equal(tl_ledger_open(&r, t.dir, &ro, &err), 0);
    uint8_t root[TL_HASH_BYTES];
    tl_merkle_proof proof;
    assert_int_equal(tl_ledger_inclusion_proof(r, 10, 530, &proof, &err), TL_ECORRUPT);
    assert_string_equal(err.rule, "storage.merkle_node");
    ref_mth(want, (const uint8_t(*)[TL_HASH_BYTES])leaves, 530);
    assert_int_equal(tl_ledger_root(r, 530, root, &err), 0); /* from (9, 0), above the gap */
    assert_memory_equal(root, want, TL_HASH_BYTES);
    ref_mth(want, (const uint8_t(*)[TL_HASH_BYTES])leaves, 300);
    assert_int_equal(tl_ledger_root(r, 300, root, &err), 0);
    assert_memory_equal(root, want, TL_HASH_BYTES);
    tl_ledger_close(r);
    /* and lost nodes of lower levels */
    delete_node(t.dir, 4, 2);
    delete_node(t.dir, 2, 5);
    assert_int_equal(tl_ledger_open(&r, t.dir, &ro, &err), 0);
    assert_int_equal(tl_ledger_inclusion_proof(r, 50, 64, &proof, &err), TL_ECORRUPT);
    assert_string_equal(err.rule, "storage.merkle_node");
    assert_int_equal(tl_ledger_inclusion_proof(r, 16, 64, &proof, &err), TL_ECORRUPT);
    assert_string_equal(err.rule, "storage.merkle_node");
    assert_int_equal(tl_ledger_inclusion_proof(r, 20, 64, &proof, &err), 0);
    tl_ledger_close(r);
    /* A level the ledger cannot hold is damage, not a layout. */
    set_level_min(t.dir, "\x09");
    assert_int_equal(tl_ledger_open(&r, t.dir, &ro, &err), TL_ECORRUPT);
    assert_string_equal(err.rule, "ledger.meta");

    free(leaves);
    tl_test_ledger_destroy(&t);
}

/* A ledger written before merkle_level_min existed (no such key, nodes of 16 leaves and up)
 * is served and extended in its own layout. */
static void test_ledger_old_layout(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "merkle-old");
    leaf_hash *leaves = grow_ledger(&t, 100, NULL);
    tl_ledger_close(t.l);
    t.l = NULL;
    unsigned count[8];
    set_level_min(t.dir, NULL);
    scan_nodes(t.dir, count, 4);
    assert_int_equal(count[2], 25);
    assert_int_equal(count[3], 12);
    tl_test_ledger_reopen(&t);
    check_ledger_proofs(t.l, (const uint8_t(*)[TL_HASH_BYTES])leaves, 100);
    leaves = grow_ledger(&t, 300, leaves);
    check_ledger_proofs(t.l, (const uint8_t(*)[TL_HASH_BYTES])leaves, 300);
    tl_error err;
    uint8_t node[TL_HASH_BYTES];
    assert_int_equal(tl_ledger_merkle_node(t.l, 3, 30, node, &err), TL_ENOTFOUND);
    assert_int_equal(tl_ledger_merkle_node(t.l, 4, 17, node, &err), 0);
    tl_ledger_close(t.l);
    t.l = NULL;
    /* the writer added no node below level 4 either */
    scan_nodes(t.dir, count, 0);
    for (unsigned level = 0; level < 8; level++)
        assert_int_equal(count[level], level < 4 ? 0 : 300u >> level);
    free(leaves);
    tl_test_ledger_destroy(&t);
}

/* A proof cache too small for every stored level: the cached levels start higher, and rise
 * as the log grows, while proofs and roots stay right. */
static void test_ledger_upper_budget(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "merkle-budget");
    tl_ledger_close(t.l);
    tl_error err;
    /* room for 10 hashes: the levels >= 6 of 300 leaves (7 nodes), >= 7 of 530 (7 nodes) */
    tl_ledger_options o = {.merkle_cache_bytes = 10 * TL_HASH_BYTES};
    assert_int_equal(tl_ledger_open(&t.l, t.dir, &o, &err), 0);
    leaf_hash *leaves = grow_ledger(&t, 300, NULL);
    check_ledger_proofs(t.l, (const uint8_t(*)[TL_HASH_BYTES])leaves, 300);
    leaves = grow_ledger(&t, 530, leaves);
    check_ledger_proofs(t.l, (const uint8_t(*)[TL_HASH_BYTES])leaves, 530);
    tl_ledger_close(t.l);
    t.l = NULL;
    /* A lost node (6, 1). The proof of leaf 10 needs it; that of leaf 200 needs (6, 2) only.
     * A reader keeping level 6 in memory fills it from its start, through the gap, and fails
     * both; one whose budget leaves level 6 in RocksDB reads (6, 2) alone. */
    delete_node(t.dir, 6, 1);
    tl_ledger *r;
    tl_merkle_proof proof;
    tl_ledger_options ro = {.mode = TL_OPEN_READ_ONLY};
    assert_int_equal(tl_ledger_open(&r, t.dir, &ro, &err), 0);
    assert_int_equal(tl_ledger_inclusion_proof(r, 200, 530, &proof, &err), TL_ECORRUPT);
    assert_string_equal(err.rule, "storage.merkle_node");
    tl_ledger_close(r);
    ro.merkle_cache_bytes = 10 * TL_HASH_BYTES;
    assert_int_equal(tl_ledger_open(&r, t.dir, &ro, &err), 0);
    assert_int_equal(tl_ledger_inclusion_proof(r, 10, 530, &proof, &err), TL_ECORRUPT);
    assert_string_equal(err.rule, "storage.merkle_node");
    assert_int_equal(tl_ledger_inclusion_proof(r, 200, 530, &proof, &err), 0);
    uint8_t root[TL_HASH_BYTES];
    ref_mth(root, (const uint8_t(*)[TL_HASH_BYTES])leaves, 530);
    assert_int_equal(tl_merkle_verify_inclusion(leaves[200], 200, 530, &proof, root, &err), 0);
    tl_ledger_close(r);
    free(leaves);
    tl_test_ledger_destroy(&t);
}

int main(void)
{
    assert_int_equal(tl_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hasher_kats),        cmocka_unit_test(test_vector_tree),
        cmocka_unit_test(test_inclusion_vectors),  cmocka_unit_test(test_consistency_vectors),
        cmocka_unit_test(test_real_log_inclusion), cmocka_unit_test(test_inclusion_probes),
        cmocka_unit_test(test_consistency_probes), cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_bad_arguments),      cmocka_unit_test(test_huge_trees),
        cmocka_unit_test(test_ledger_node_store),  cmocka_unit_test(test_ledger_old_layout),
        cmocka_unit_test(test_ledger_upper_budget),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
