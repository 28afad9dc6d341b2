/*
 * The canonical MessagePack reader (tl_mp_parse) on arbitrary bytes.
 *
 * Invariants: an accepted input is one whole object (tl_mp_object_len agrees), its node tree
 * is consistent, and writing the tree back with the writer gives exactly the input bytes,
 * since canonical form allows one encoding per value. A refused input names a rule.
 */
#include <string.h>

#include "fuzz.h"
#include "tl_mp.h"

/* Writes node i (and its subtree) with the writer; returns the index after it. */
static uint32_t rewrite(tl_mp_writer *w, const tl_mp_doc *d, uint32_t i)
{
    FUZZ_CHECK(i < d->count, "node index inside the document");
    const tl_mp_node *n = &d->nodes[i];
    switch (n->type) {
    case TL_MP_UINT:
        tl_mp_uint(w, n->v.u);
        break;
    case TL_MP_INT:
        FUZZ_CHECK(n->v.i < 0, "the int family holds negative values only");
        msgpack_pack_int64(&w->pk, n->v.i);
        break;
    case TL_MP_BOOL:
        tl_mp_bool(w, n->v.b);
        break;
    case TL_MP_STR:
        tl_mp_strn(w, n->v.s.ptr, n->v.s.len);
        break;
    case TL_MP_BIN:
        tl_mp_bin(w, n->v.s.ptr, n->v.s.len);
        break;
    case TL_MP_ARRAY:
    case TL_MP_MAP: {
        uint32_t children = n->type == TL_MP_MAP ? 2 * n->count : n->count;
        if (n->type == TL_MP_MAP)
            tl_mp_map(w, n->count);
        else
            tl_mp_array(w, n->count);
        uint32_t c = tl_mp_first(i);
        for (uint32_t k = 0; k < children; k++) {
            if (n->type == TL_MP_MAP && k % 2 == 0)
                FUZZ_CHECK(d->nodes[c].type == TL_MP_STR, "map keys are str");
            c = rewrite(w, d, c);
        }
        FUZZ_CHECK(c == n->end, "a container's end follows its last child");
        return n->end;
    }
    default:
        FUZZ_CHECK(0, "known node type");
    }
    FUZZ_CHECK(n->end == i + 1, "a scalar's end is the next node");
    return n->end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size > FUZZ_INPUT_BYTES_MAX)
        return 0;
    tl_mp_doc doc;
    tl_error err;
    tl_error_clear(&err);
    int rc = tl_mp_parse(&doc, data, size, "x", &err);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && err.code == rc, "a refusal fills the error with its code");
        FUZZ_CHECK(err.rule[0] != '\0', "a refusal names a rule");
        return 0;
    }
    FUZZ_CHECK(doc.count >= 1 && doc.nodes[0].end == doc.count, "the top object spans the document");
    FUZZ_CHECK(tl_mp_object_len(data, size) == size, "tl_mp_object_len finds the whole object");
    tl_buf out;
    tl_buf_init(&out);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &out);
    FUZZ_CHECK(rewrite(&w, &doc, 0) == doc.count, "the rewrite covers every node");
    FUZZ_CHECK(!w.failed, "the writer did not fail");
    FUZZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0,
               "canonical input re-encodes to the same bytes");
    /* map lookups on the top node must stay in bounds */
    if (doc.nodes[0].type == TL_MP_MAP) {
        uint32_t v = tl_mp_map_get(&doc, 0, "data");
        FUZZ_CHECK(v < doc.count, "tl_mp_map_get stays inside the document");
    }
    tl_buf_free(&out);
    tl_mp_doc_free(&doc);
    return 0;
}
