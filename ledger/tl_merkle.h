/*
 * RFC 6962 / RFC 9162 (section 2.1) Merkle tree over the log's records (FORMAT.md section 6).
 *
 *     leaf hash = SHA-256(0x00 || record bytes)
 *     node hash = SHA-256(0x01 || left || right)
 *     root of the empty tree = SHA-256("")
 *
 * The module does not store anything. The ledger keeps the hashes of complete, aligned
 * subtrees: node (level, index) covers leaves [index << level, (index + 1) << level), and
 * level 0 holds the leaf hashes. For a tree of n leaves every such node with
 * (index + 1) << level <= n exists and never changes again, since later leaves only add nodes
 * to the right. A tree whose size is not a power of two has a right edge that is not a stored
 * node; roots and proofs compose it from the O(log n) stored subtrees that tile it, so no
 * operation reads more than O(log n) nodes.
 *
 * The frontier is the other half: the hashes of the complete subtrees on the right edge (one
 * per set bit of the size). Appending a leaf merges it with them, as a binary counter carries,
 * and reports every node that became complete so the ledger can store it in the same batch as
 * the record.
 */
#ifndef TL_MERKLE_H
#define TL_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "tl_crypto.h"
#include "tl_error.h"

/* Room for any proof in a tree of up to 2^64 - 1 leaves (an inclusion proof has at most 64
 * hashes, a consistency proof at most 65); longer proofs are rejected unread. */
#define TL_MERKLE_PROOF_MAX 128
/* Levels of the frontier: a size is a 64-bit number. */
#define TL_MERKLE_LEVELS 64

/* A stored node: the complete aligned subtree (level, index). */
typedef struct tl_merkle_node {
    unsigned level;
    uint64_t index;
} tl_merkle_node;

/* Reads the n stored nodes nodes[i] into out[i]. A root or a proof asks once for every node
 * it needs (O(log n) of them, each complete in the stored tree, in no particular order), so
 * the store can batch its reads. Returns 0, or a TL_E... code after filling err (TL_ENOTFOUND
 * for a node that should exist but does not, TL_EIO, ...). */
typedef int (*tl_merkle_get_fn)(void *ctx, const tl_merkle_node *nodes, size_t n,
                                uint8_t (*out)[TL_HASH_BYTES], tl_error *err);

/* Where proofs and roots read nodes from: the reader and how many leaves it holds. A request
 * about a tree larger than `size` is refused before anything is read. */
typedef struct tl_merkle_store {
    tl_merkle_get_fn get;
    void *ctx;
    uint64_t size;
} tl_merkle_store;

/* An inclusion or consistency proof: n hashes, in RFC 9162 order. */
typedef struct tl_merkle_proof {
    size_t n;
    uint8_t hashes[TL_MERKLE_PROOF_MAX][TL_HASH_BYTES];
} tl_merkle_proof;

/* Root of the tree of the first tree_size leaves (tree_size <= store->size). */
int tl_merkle_root(uint8_t out[TL_HASH_BYTES], const tl_merkle_store *store, uint64_t tree_size,
                   tl_error *err) TL_WUR;

/* RFC 9162 2.1.3.1 inclusion proof of leaf leaf_index in the tree of tree_size leaves
 * (leaf_index < tree_size <= store->size). */
int tl_merkle_inclusion_proof(tl_merkle_proof *out, const tl_merkle_store *store,
                              uint64_t leaf_index, uint64_t tree_size, tl_error *err) TL_WUR;

/* RFC 9162 2.1.4.1 consistency proof between the trees of from_size and to_size leaves
 * (0 < from_size <= to_size <= store->size; equal sizes give the empty proof). A proof from
 * the empty tree is refused: it would prove nothing. */
int tl_merkle_consistency_proof(tl_merkle_proof *out, const tl_merkle_store *store,
                                uint64_t from_size, uint64_t to_size, tl_error *err) TL_WUR;

/* RFC 9162 2.1.3.2. 0 when the proof shows leaf_hash at leaf_index in the tree of tree_size
 * leaves with this root; TL_EINVAL when leaf_index >= tree_size; TL_ETOOBIG for more than
 * TL_MERKLE_PROOF_MAX hashes; TL_ECORRUPT when the proof does not prove it (a hash is wrong,
 * or the proof has the wrong length for this leaf and size). */
int tl_merkle_verify_inclusion(const uint8_t leaf_hash[TL_HASH_BYTES], uint64_t leaf_index,
                               uint64_t tree_size, const tl_merkle_proof *proof,
                               const uint8_t root[TL_HASH_BYTES], tl_error *err) TL_WUR;

/* RFC 9162 2.1.4.2, plus the case from_size == to_size (empty proof, equal roots). The RFC
 * defines proofs only for 0 < from_size, so from_size == 0 is TL_EINVAL. Codes as for
 * tl_merkle_verify_inclusion. */
int tl_merkle_verify_consistency(uint64_t from_size, uint64_t to_size, const tl_merkle_proof *proof,
                                 const uint8_t from_root[TL_HASH_BYTES],
                                 const uint8_t to_root[TL_HASH_BYTES], tl_error *err) TL_WUR;

/*
 * Incremental append. hashes[l] is valid exactly when bit l of size is set: it is the stored
 * node (l, (size >> l) - 1), the complete subtree of 2^l leaves that this bit stands for.
 */
typedef struct tl_merkle_frontier {
    uint64_t size;
    uint8_t hashes[TL_MERKLE_LEVELS][TL_HASH_BYTES];
} tl_merkle_frontier;

/* Told about each node that becomes complete, leaf first, then upwards. */
typedef void (*tl_merkle_emit_fn)(void *ctx, unsigned level, uint64_t index,
                                  const uint8_t hash[TL_HASH_BYTES]);

/* The empty tree. */
void tl_merkle_frontier_init(tl_merkle_frontier *f);
/* Adds a leaf. emit (may be NULL) receives (0, size, leaf_hash) and every node the leaf
 * completes: at most 1 + trailing ones of the old size, O(1) amortised. */
void tl_merkle_frontier_append(tl_merkle_frontier *f, const uint8_t leaf_hash[TL_HASH_BYTES],
                               tl_merkle_emit_fn emit, void *ctx);
/* Root of the tree the frontier describes. */
void tl_merkle_frontier_root(uint8_t out[TL_HASH_BYTES], const tl_merkle_frontier *f);
/* Rebuilds the frontier of the tree of store->size leaves from its stored nodes (one per set
 * bit of the size, in one call), as when the ledger opens. On failure f is the empty tree. */
int tl_merkle_frontier_load(tl_merkle_frontier *f, const tl_merkle_store *store,
                            tl_error *err) TL_WUR;

#endif
