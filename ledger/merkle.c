/*
 * Merkle tree algorithms of RFC 9162 section 2.1 over stored complete subtrees.
 *
 * The RFC defines everything by recursion on ranges of leaves: MTH(D[n]) splits at k, the
 * largest power of two below n. Every range that recursion visits starts at a multiple of the
 * largest power of two not above its length, so it is tiled, left to right, by one stored
 * node per set bit of its length, largest first; folding those from the right gives its MTH
 * (plan_hash). Proof generation walks the recursion iteratively from the root and collects
 * the sibling ranges top-down; the RFC lists them bottom-up, so the result is reversed. On a
 * walk, only a sibling that reaches the right edge of the tree can be incomplete, and once the
 * walk turns left every later range is complete, so a proof needs O(log n) nodes in all, and
 * the store is asked for all of them at once (see plan below).
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

/*
 * A root or proof first plans every stored node it needs, then asks the store for all of them
 * in one call (the ledger batches its reads), then folds. Range r of the plan is tiled by
 * nodes[first[r] .. first[r + 1]), left to right, largest first.
 *
 * Capacity: a proof has at most 65 ranges. Only a range that reaches the right edge of a tree
 * takes more than one node (at most 64): the first right sibling of a walk (it ends at the
 * tree's size) and, for a consistency proof, the last range (it ends at the old size). So
 * 64 + 64 + 63 nodes cover every plan.
 */
#define PLAN_NODES_MAX (3 * TL_MERKLE_LEVELS)

typedef struct plan {
    size_t n_nodes, n_ranges;
    tl_merkle_node nodes[PLAN_NODES_MAX];
    uint8_t hashes[PLAN_NODES_MAX][TL_HASH_BYTES];
    size_t first[TL_MERKLE_PROOF_MAX + 1]; /* first[n_ranges] == n_nodes */
} plan;

static void plan_init(plan *p)
{
    p->n_nodes = 0;
    p->n_ranges = 0;
    p->first[0] = 0;
}

static void plan_node(plan *p, const tl_merkle_store *s, unsigned level, uint64_t index)
{
    /* Only nodes that are complete in the stored tree are ever asked for. */
    assert(level < TL_MERKLE_LEVELS && index < (s->size >> level));
    assert(p->n_nodes < PLAN_NODES_MAX);
    (void)s;
    p->nodes[p->n_nodes++] = (tl_merkle_node){.level = level, .index = index};
}

/* Leaves [begin, end), a range of the RFC recursion (see the top of the file). */
static void plan_range(plan *p, const tl_merkle_store *s, uint64_t begin, uint64_t end)
{
    assert(begin < end && end <= s->size);
    assert(p->n_ranges < TL_MERKLE_PROOF_MAX);
    uint64_t len = end - begin;
    assert((begin & ((UINT64_C(1) << floor_log2(len)) - 1)) == 0);
    while (len != 0) {
        unsigned level = floor_log2(len);
        plan_node(p, s, level, begin >> level);
        begin += UINT64_C(1) << level;
        len &= ~(UINT64_C(1) << level);
    }
    p->first[++p->n_ranges] = p->n_nodes;
}

static int plan_read(plan *p, const tl_merkle_store *s, tl_error *err)
{
    if (p->n_nodes == 0)
        return 0;
    int rc = s->get(s->ctx, p->nodes, p->n_nodes, p->hashes, err);
    if (rc > 0)
        return tl_fail(err, TL_EIO, "merkle.read", "", "node reader returned %d for %zu nodes", rc,
                       p->n_nodes);
    return rc;
}

/* MTH of range r: its nodes folded from the right, smallest first. */
static void plan_hash(uint8_t out[TL_HASH_BYTES], const plan *p, size_t r)
{
    size_t i = p->first[r + 1] - 1;
    memcpy(out, p->hashes[i], TL_HASH_BYTES);
    while (i-- > p->first[r])
        fold_left(out, p->hashes[i]);
}

/* The proof of the planned ranges: the RFC lists them bottom-up, the walks plan them top-down. */
static void plan_proof(tl_merkle_proof *out, const plan *p)
{
    out->n = p->n_ranges;
    for (size_t r = 0; r < p->n_ranges; r++)
        plan_hash(out->hashes[p->n_ranges - 1 - r], p, r);
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
    plan p;
    plan_init(&p);
    plan_range(&p, store, 0, tree_size);
    rc = plan_read(&p, store, err);
    if (rc == 0)
        plan_hash(out, &p, 0);
    return rc;
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
    plan p;
    plan_init(&p);
    uint64_t begin = 0, end = tree_size;
    while (end - begin > 1) {
        uint64_t mid = begin + split_point(end - begin);
        if (leaf_index < mid) {
            plan_range(&p, store, mid, end);
            end = mid;
        } else {
            plan_range(&p, store, begin, mid);
            begin = mid;
        }
    }
    rc = plan_read(&p, store, err);
    if (rc == 0)
        plan_proof(out, &p);
    return rc;
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
    plan p;
    plan_init(&p);
    uint64_t begin = 0, end = to_size;
    bool whole = true;
    while (from_size != end) {
        uint64_t mid = begin + split_point(end - begin);
        if (from_size <= mid) {
            plan_range(&p, store, mid, end);
            end = mid;
        } else {
            plan_range(&p, store, begin, mid);
            begin = mid;
            whole = false;
        }
    }
    if (!whole)
        plan_range(&p, store, begin, end);
    rc = plan_read(&p, store, err);
    if (rc == 0)
        plan_proof(out, &p);
    return rc;
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
    /* One node per set bit of the size, read in one call; from the largest, as plan_range. */
    plan p;
    plan_init(&p);
    if (store->size != 0)
        plan_range(&p, store, 0, store->size);
    int rc = plan_read(&p, store, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < p.n_nodes; i++)
        memcpy(f->hashes[p.nodes[i].level], p.hashes[i], TL_HASH_BYTES);
    f->size = store->size;
    return 0;
}
