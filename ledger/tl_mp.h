/*
 * Canonical MessagePack: a bounded reader for untrusted bytes, and a writer over msgpack-c.
 *
 * The ledger accepts exactly one byte form per logical value (FORMAT.md section 1):
 *   1. integers in the shortest form; non-negative values only in the uint family
 *      (positive fixint, uint8..uint64); the int family only for negative values;
 *   2. str is valid UTF-8 with the shortest header; bin with the shortest header;
 *   3. maps have str keys, no duplicates, sorted bytewise (a prefix sorts first);
 *   4. arrays use the shortest header;
 *   5. no float, ext or nil (0xc1 is never valid);
 *   6. nothing follows the top-level object.
 *
 * tl_mp_parse walks the input once, checks every rule and builds a flat preorder array of
 * nodes that point into the input (no copies). Every announced length or element count is
 * checked against the bytes that remain before anything is trusted, and nesting depth and
 * node count are bounded, so no input can make it allocate more than a few words per input
 * byte. We do not use msgpack-c's unpacker on untrusted data: it allocates what a header
 * announces (a 5-byte `dd 04 00 00 00` asks for gigabytes) and does not check canonical form.
 *
 * Errors name the rule ("canonical.shortest", "canonical.key_order", ...) and the path
 * ("data.total_fen", "data.keys[2]").
 */
#ifndef TL_MP_H
#define TL_MP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <msgpack.h>

#include "tl_error.h"

#define TL_MP_DEPTH_MAX 16

typedef enum tl_mp_type {
    TL_MP_UINT = 1,
    TL_MP_INT, /* negative integers only */
    TL_MP_BOOL,
    TL_MP_STR,
    TL_MP_BIN,
    TL_MP_ARRAY,
    TL_MP_MAP
} tl_mp_type;

typedef struct tl_mp_node {
    uint8_t type;   /* tl_mp_type */
    uint32_t count; /* ARRAY: elements; MAP: pairs (children are key, value, key, value...) */
    uint32_t end;   /* index of the first node after this node's subtree */
    union {
        uint64_t u;
        int64_t i;
        bool b;
        struct {
            const uint8_t *ptr; /* into the parsed input */
            uint32_t len;
        } s; /* STR and BIN */
    } v;
} tl_mp_node;

/* A parsed document. Nodes point into the input buffer, which must outlive the document. */
typedef struct tl_mp_doc {
    tl_mp_node *nodes; /* nodes[0] is the top-level object */
    uint32_t count;
    uint32_t cap;
    bool borrowed; /* nodes is the caller's array (tl_mp_parse_into), not malloc'd */
} tl_mp_doc;

/* Parses and checks buf. On success doc owns a malloc'd node array: release it with
 * tl_mp_doc_free. path_prefix (may be NULL or "") is prepended to error paths. On failure doc
 * holds nothing. */
int tl_mp_parse(tl_mp_doc *doc, const uint8_t *buf, size_t len, const char *path_prefix,
                tl_error *err) __attribute__((warn_unused_result));
/* Like tl_mp_parse, but fills the caller's array of cap nodes first and allocates only for a
 * document with more nodes, so a small document that is read and dropped (a record's outer
 * array) costs no allocation. The array must outlive the document; tl_mp_doc_free still
 * releases whatever was allocated. */
int tl_mp_parse_into(tl_mp_doc *doc, tl_mp_node *nodes, uint32_t cap, const uint8_t *buf,
                     size_t len, const char *path_prefix, tl_error *err)
    __attribute__((warn_unused_result));
void tl_mp_doc_free(tl_mp_doc *doc);

/* Index of the value for the klen-byte key in the MAP node at index map, or 0 when absent (0
 * is never a map value). */
uint32_t tl_mp_map_get_n(const tl_mp_doc *doc, uint32_t map, const char *key, size_t klen);
/* The same for a NUL-terminated key; inline so that a literal key's length is known when
 * compiling (the rules and the schema look fields up by literal names for every event). */
static inline uint32_t tl_mp_map_get(const tl_mp_doc *doc, uint32_t map, const char *key)
{
    return tl_mp_map_get_n(doc, map, key, strlen(key));
}

/* Index of the first child of a container node (valid only when count > 0) and the index of
 * the sibling that follows node i. Iterate an array with
 *   for (uint32_t c = tl_mp_first(i), k = 0; k < n->count; k++, c = tl_mp_next(doc, c)) */
static inline uint32_t tl_mp_first(uint32_t i) { return i + 1; }
static inline uint32_t tl_mp_next(const tl_mp_doc *doc, uint32_t i) { return doc->nodes[i].end; }

/* True when the STR or BIN node i holds exactly the NUL-terminated text s. */
bool tl_mp_str_eq(const tl_mp_doc *doc, uint32_t i, const char *s);

/* Length of the canonical encoding of one complete object at the start of buf, without
 * checking canonical form beyond what is needed to find its end; 0 when buf does not hold one
 * whole object. Used to split concatenated records (audit bundles). */
size_t tl_mp_object_len(const uint8_t *buf, size_t len);

/*
 * Writer. A growable buffer plus msgpack-c's packer, which already emits the shortest form of
 * every header and uses the uint family for non-negative integers. The caller writes map keys
 * in sorted order (tl_mp_key makes that explicit at each call site).
 */
typedef struct tl_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} tl_buf;

void tl_buf_init(tl_buf *b);
void tl_buf_free(tl_buf *b);
void tl_buf_reset(tl_buf *b);
int tl_buf_append(tl_buf *b, const void *data, size_t len) __attribute__((warn_unused_result));

typedef struct tl_mp_writer {
    msgpack_packer pk;
    tl_buf *buf;
    int failed; /* sticky: set when an allocation failed; check once at the end */
} tl_mp_writer;

void tl_mp_writer_init(tl_mp_writer *w, tl_buf *buf);
void tl_mp_uint(tl_mp_writer *w, uint64_t v);
void tl_mp_bool(tl_mp_writer *w, bool v);
void tl_mp_str(tl_mp_writer *w, const char *s);
void tl_mp_strn(tl_mp_writer *w, const void *s, size_t len);
void tl_mp_bin(tl_mp_writer *w, const void *data, size_t len);
void tl_mp_array(tl_mp_writer *w, uint32_t n);
void tl_mp_map(tl_mp_writer *w, uint32_t n);
/* A map key: the same as tl_mp_str, named for readability at call sites. */
void tl_mp_key(tl_mp_writer *w, const char *key);

#endif
