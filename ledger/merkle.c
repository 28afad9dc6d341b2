/*
 * Merkle tree algorithms of RFC 9162 section 2.1 over stored complete subtrees.
 *
 * The RFC defines everything by recursion on ranges of leaves: MTH(D[n]) splits at k, the
 * largest power of two below n. Every range that recursion visits starts at a multiple of the
 * largest power of two not above its length, so it is tiled, left to right, by one stored
 * node per set bit of its length, largest first; folding those from the right gives its MTH
 * (range_hash). Proof generation walks the recursion iteratively from the root and collects
 * the sibling ranges top-down; the RFC lists them bottom-up, so the result is reversed. On a
 * walk, only a sibling that reaches the right edge of the tree can be incomplete, and once the
 * walk turns left every later range is complete, so a proof costs O(log n) reads in all.
 *
 * Verification follows the RFC's iterative algorithms step by step; see the section numbers.
 */
#include "tl_merkle.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

static unsigned floor_log2(uint64_t x)
{
    assert(x != 0);
    return 63u - (unsigned)__builtin_clzll(x);
}

/* The RFC's k for a range of n > 1 leaves: the largest power of two smaller than n. */
static uint64_t split_point(uint64_t n)
{
    assert(n > 1);
    return UINT64_C(1) << floor_log2(n - 1);
}

static bool is_pow2(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* acc = node hash of (left, acc): folding right to left. */
static void fold_left(uint8_t acc[TL_HASH_BYTES], const uint8_t left[TL_HASH_BYTES])
{
    uint8_t t[TL_HASH_BYTES];
    tl_node_hash(t, left, acc);
    memcpy(acc, t, TL_HASH_BYTES);
}

static void empty_root(uint8_t out[TL_HASH_BYTES]) { tl_sha256(out, "", 0); }

static int read_node(uint8_t out[TL_HASH_BYTES], const tl_merkle_store *s, unsigned level,
                     uint64_t index, tl_error *err)
{
    /* Callers only ask for nodes that are complete in the stored tree. */
    assert(level < TL_MERKLE_LEVELS && index < (s->size >> level));
    int rc = s->get(s->ctx, level, index, out, err);
    if (rc > 0)
        return tl_fail(err, TL_EIO, "merkle.read", "", "node reader returned %d for (%u, %llu)", rc,
                       level, (unsigned long long)index);
    return rc;
}

/* MTH of leaves [begin, end), a range of the RFC recursion (see the top of the file). */
static int range_hash(uint8_t out[TL_HASH_BYTES], const tl_merkle_store *s, uint64_t begin,
                      uint64_t end, tl_error *err)
{
    assert(begin < end && end <= s->size);
    uint64_t len = end - begin;
    assert((begin & ((UINT64_C(1) << floor_log2(len)) - 1)) == 0);
    uint64_t right = end;
    bool first = true;
    while (len != 0) {
        unsigned level = (unsigned)__builtin_ctzll(len); /* smallest piece is rightmost */
        uint64_t start = right - (UINT64_C(1) << level);
        uint8_t node[TL_HASH_BYTES];
        int rc = read_node(first ? out : node, s, level, start >> level, err);
        if (rc != 0)
            return rc;
        if (!first)
            fold_left(out, node);
        first = false;
        right = start;
        len &= len - 1;
    }
    return 0;
}

static void reverse(tl_merkle_proof *p)
{
    for (size_t i = 0, j = p->n; i + 1 < j; i++, j--) {
        uint8_t t[TL_HASH_BYTES];
        memcpy(t, p->hashes[i], TL_HASH_BYTES);
        memcpy(p->hashes[i], p->hashes[j - 1], TL_HASH_BYTES);
        memcpy(p->hashes[j - 1], t, TL_HASH_BYTES);
    }
}

static int push_range(tl_merkle_proof *p, const tl_merkle_store *s, uint64_t begin, uint64_t end,
                      tl_error *err)
{
    assert(p->n < TL_MERKLE_PROOF_MAX); /* the depth of a 64-bit tree bounds every proof */
    int rc = range_hash(p->hashes[p->n], s, begin, end, err);
    if (rc == 0)
        p->n++;
    return rc;
}

static int check_size(const tl_merkle_store *s, uint64_t tree_size, const char *what, tl_error *err)
{
    if (tree_size > s->size)
        return tl_fail(err, TL_EINVAL, "merkle.size", what,
                       "tree size %llu is beyond the log's %llu records",
                       (unsigned long long)tree_size, (unsigned long long)s->size);
    return 0;
}

int tl_merkle_root(uint8_t out[TL_HASH_BYTES], const tl_merkle_store *store, uint64_t tree_size,
                   tl_error *err)
{
    int rc = check_size(store, tree_size, "tree_size", err);
    if (rc != 0)
        return rc;
    if (tree_size == 0) {
        empty_root(out);
        return 0;
    }
    return range_hash(out, store, 0, tree_size, err);
}

int tl_merkle_inclusion_proof(tl_merkle_proof *out, const tl_merkle_store *store,
                              uint64_t leaf_index, uint64_t tree_size, tl_error *err)
{
    out->n = 0;
    int rc = check_size(store, tree_size, "tree_size", err);
    if (rc != 0)
        return rc;
    if (leaf_index >= tree_size)
        return tl_fail(err, TL_EINVAL, "merkle.leaf_index", "leaf_index",
                       "leaf %llu is not in a tree of %llu leaves", (unsigned long long)leaf_index,
                       (unsigned long long)tree_size);
    /* PATH(m, D[n]): descend towards the leaf, keeping the sibling of each step. */
    uint64_t begin = 0, end = tree_size;
    while (end - begin > 1) {
        uint64_t mid = begin + split_point(end - begin);
        if (leaf_index < mid) {
            rc = push_range(out, store, mid, end, err);
            end = mid;
        } else {
            rc = push_range(out, store, begin, mid, err);
            begin = mid;
        }
        if (rc != 0) {
            out->n = 0;
            return rc;
        }
    }
    reverse(out);
    return 0;
}

int tl_merkle_consistency_proof(tl_merkle_proof *out, const tl_merkle_store *store,
                                uint64_t from_size, uint64_t to_size, tl_error *err)
{
    out->n = 0;
    int rc = check_size(store, to_size, "to", err);
    if (rc != 0)
        return rc;
    if (from_size == 0)
        return tl_fail(err, TL_EINVAL, "merkle.consistency_from", "from",
                       "a consistency proof from the empty tree proves nothing");
    if (from_size > to_size)
        return tl_fail(err, TL_EINVAL, "merkle.consistency_order", "from",
                       "from %llu is larger than to %llu", (unsigned long long)from_size,
                       (unsigned long long)to_size);
    /* SUBPROOF(m, D[begin:end], whole): from_size always lies in (begin, end]. `whole` stays
     * true while the range is a prefix of the new tree whose old part the verifier already
     * knows as from_root, so that range needs no hash of its own. */
    uint64_t begin = 0, end = to_size;
    bool whole = true;
    while (rc == 0) {
        if (from_size == end) {
            if (!whole)
                rc = push_range(out, store, begin, end, err);
            break;
        }
        uint64_t mid = begin + split_point(end - begin);
        if (from_size <= mid) {
            rc = push_range(out, store, mid, end, err);
            end = mid;
        } else {
            rc = push_range(out, store, begin, mid, err);
            begin = mid;
            whole = false;
        }
    }
    if (rc != 0) {
        out->n = 0;
        return rc;
    }
    reverse(out);
    return 0;
}

int tl_merkle_verify_inclusion(const uint8_t leaf_hash[TL_HASH_BYTES], uint64_t leaf_index,
                               uint64_t tree_size, const tl_merkle_proof *proof,
                               const uint8_t root[TL_HASH_BYTES], tl_error *err)
{
    if (leaf_index >= tree_size)
        return tl_fail(err, TL_EINVAL, "merkle.leaf_index", "leaf_index",
                       "leaf %llu is not in a tree of %llu leaves", (unsigned long long)leaf_index,
                       (unsigned long long)tree_size);
    if (proof->n > TL_MERKLE_PROOF_MAX)
        return tl_fail(err, TL_ETOOBIG, "merkle.proof_length", "hashes",
                       "%zu hashes; no proof has more than %d", proof->n, TL_MERKLE_PROOF_MAX);
    /* 2.1.3.2: fn walks the leaf's position up the tree and sn the last leaf's; where they meet
     * or fn is a right child, the proof hash is the left sibling. */
    uint64_t fn = leaf_index, sn = tree_size - 1;
    uint8_t r[TL_HASH_BYTES], t[TL_HASH_BYTES];
    memcpy(r, leaf_hash, TL_HASH_BYTES);
    for (size_t i = 0; i < proof->n; i++) {
        if (sn == 0)
            return tl_fail(err, TL_ECORRUPT, "merkle.proof_length", "hashes",
                           "%llu hashes is too many for a tree of %llu leaves",
                           (unsigned long long)proof->n, (unsigned long long)tree_size);
        if ((fn & 1) != 0 || fn == sn) {
            tl_node_hash(t, proof->hashes[i], r);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            tl_node_hash(t, r, proof->hashes[i]);
        }
        memcpy(r, t, TL_HASH_BYTES);
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return tl_fail(err, TL_ECORRUPT, "merkle.proof_length", "hashes",
                       "%llu hashes is too few for a tree of %llu leaves",
                       (unsigned long long)proof->n, (unsigned long long)tree_size);
    if (memcmp(r, root, TL_HASH_BYTES) != 0)
        return tl_fail(err, TL_ECORRUPT, "merkle.inclusion", "hashes",
                       "leaf %llu does not lead to the root of %llu",
                       (unsigned long long)leaf_index, (unsigned long long)tree_size);
    return 0;
}

int tl_merkle_verify_consistency(uint64_t from_size, uint64_t to_size, const tl_merkle_proof *proof,
                                 const uint8_t from_root[TL_HASH_BYTES],
                                 const uint8_t to_root[TL_HASH_BYTES], tl_error *err)
{
    if (from_size == 0)
        return tl_fail(err, TL_EINVAL, "merkle.consistency_from", "from",
                       "a consistency proof from the empty tree proves nothing");
    if (from_size > to_size)
        return tl_fail(err, TL_EINVAL, "merkle.consistency_order", "from",
                       "from %llu is larger than to %llu", (unsigned long long)from_size,
                       (unsigned long long)to_size);
    if (proof->n > TL_MERKLE_PROOF_MAX)
        return tl_fail(err, TL_ETOOBIG, "merkle.proof_length", "hashes",
                       "%zu hashes; no proof has more than %d", proof->n, TL_MERKLE_PROOF_MAX);
    if (from_size == to_size) {
        if (proof->n != 0)
            return tl_fail(err, TL_ECORRUPT, "merkle.proof_length", "hashes",
                           "trees of equal size %llu take an empty proof, not %llu hashes",
                           (unsigned long long)from_size, (unsigned long long)proof->n);
        if (memcmp(from_root, to_root, TL_HASH_BYTES) != 0)
            return tl_fail(err, TL_ECORRUPT, "merkle.consistency", "hashes",
                           "trees of equal size %llu and %llu have different roots",
                           (unsigned long long)from_size, (unsigned long long)to_size);
        return 0;
    }
    /* 2.1.4.2 step 1. */
    if (proof->n == 0)
        return tl_fail(err, TL_ECORRUPT, "merkle.proof_length", "hashes",
                       "an empty proof cannot link %llu to %llu", (unsigned long long)from_size,
                       (unsigned long long)to_size);
    /* Step 2: when the old tree is a complete subtree of the new one, its root is the first
     * hash of the path and the proof leaves it out. */
    const uint8_t *first = from_root;
    size_t i = 0;
    if (!is_pow2(from_size))
        first = proof->hashes[i++];
    /* Steps 3 and 4. */
    uint64_t fn = from_size - 1, sn = to_size - 1;
    while ((fn & 1) != 0) {
        fn >>= 1;
        sn >>= 1;
    }
    /* Step 5: fr rebuilds the old root, sr the new one, from the same path. */
    uint8_t fr[TL_HASH_BYTES], sr[TL_HASH_BYTES], t[TL_HASH_BYTES];
    memcpy(fr, first, TL_HASH_BYTES);
    memcpy(sr, first, TL_HASH_BYTES);
    /* Step 6. */
    for (; i < proof->n; i++) {
        const uint8_t *c = proof->hashes[i];
        if (sn == 0)
            return tl_fail(err, TL_ECORRUPT, "merkle.proof_length", "hashes",
                           "too many hashes to link %llu to %llu", (unsigned long long)from_size,
                           (unsigned long long)to_size);
        if ((fn & 1) != 0 || fn == sn) {
            tl_node_hash(t, c, fr);
            memcpy(fr, t, TL_HASH_BYTES);
            tl_node_hash(t, c, sr);
            memcpy(sr, t, TL_HASH_BYTES);
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            tl_node_hash(t, sr, c);
            memcpy(sr, t, TL_HASH_BYTES);
        }
        fn >>= 1;
        sn >>= 1;
    }
    /* Step 7. */
    if (sn != 0)
        return tl_fail(err, TL_ECORRUPT, "merkle.proof_length", "hashes",
                       "too few hashes to link %llu to %llu", (unsigned long long)from_size,
                       (unsigned long long)to_size);
    if (memcmp(fr, from_root, TL_HASH_BYTES) != 0)
        return tl_fail(err, TL_ECORRUPT, "merkle.consistency", "hashes",
                       "the proof does not lead to the root of %llu (linking to %llu)",
                       (unsigned long long)from_size, (unsigned long long)to_size);
    if (memcmp(sr, to_root, TL_HASH_BYTES) != 0)
        return tl_fail(err, TL_ECORRUPT, "merkle.consistency", "hashes",
                       "the proof does not lead to the root of %llu (linking from %llu)",
                       (unsigned long long)to_size, (unsigned long long)from_size);
    return 0;
}

void tl_merkle_frontier_init(tl_merkle_frontier *f) { memset(f, 0, sizeof *f); }

void tl_merkle_frontier_append(tl_merkle_frontier *f, const uint8_t leaf_hash[TL_HASH_BYTES],
                               tl_merkle_emit_fn emit, void *ctx)
{
    /* 2^64 - 1 leaves would take millennia to reach; the assert keeps the level in range. */
    assert(f->size != UINT64_MAX);
    uint64_t old = f->size;
    uint8_t h[TL_HASH_BYTES];
    memcpy(h, leaf_hash, TL_HASH_BYTES);
    if (emit != NULL)
        emit(ctx, 0, old, h);
    /* Each trailing one of the old size is a complete subtree of the same size as h, just to
     * its left: merge and carry. Level l + 1's new node is number old >> (l + 1). */
    unsigned level = 0;
    while (((old >> level) & 1) != 0) {
        fold_left(h, f->hashes[level]);
        level++;
        if (emit != NULL)
            emit(ctx, level, old >> level, h);
    }
    memcpy(f->hashes[level], h, TL_HASH_BYTES);
    f->size = old + 1;
}

void tl_merkle_frontier_root(uint8_t out[TL_HASH_BYTES], const tl_merkle_frontier *f)
{
    if (f->size == 0) {
        empty_root(out);
        return;
    }
    /* The same fold as range_hash over [0, size): smallest subtree first. */
    unsigned level = (unsigned)__builtin_ctzll(f->size);
    memcpy(out, f->hashes[level], TL_HASH_BYTES);
    for (level++; level < TL_MERKLE_LEVELS; level++)
        if (((f->size >> level) & 1) != 0)
            fold_left(out, f->hashes[level]);
}

int tl_merkle_frontier_load(tl_merkle_frontier *f, const tl_merkle_store *store, tl_error *err)
{
    tl_merkle_frontier_init(f);
    for (unsigned level = 0; level < TL_MERKLE_LEVELS; level++) {
        if (((store->size >> level) & 1) == 0)
            continue;
        int rc = read_node(f->hashes[level], store, level, (store->size >> level) - 1, err);
        if (rc != 0) {
            tl_merkle_frontier_init(f);
            return rc;
        }
    }
    f->size = store->size;
    return 0;
}
