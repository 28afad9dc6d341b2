/*
 * Canonical MessagePack reader and writer; the rules are in tl_mp.h.
 *
 * The reader is an explicit-stack walk (no recursion on attacker-controlled depth beyond
 * TL_MP_DEPTH_MAX). For each container it remembers how many children are still expected,
 * whether it is a map, and for maps the previous key so that key order is checked as keys
 * arrive. Paths for error messages are rebuilt from that stack only when an error occurs.
 */
#include "tl_mp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- buffers ---------- */

void tl_buf_init(tl_buf *b) { memset(b, 0, sizeof *b); }

void tl_buf_free(tl_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void tl_buf_reset(tl_buf *b) { b->len = 0; }

int tl_buf_append(tl_buf *b, const void *data, size_t len)
{
    if (len > SIZE_MAX / 2 - b->len)
        return TL_ENOMEM;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *nd = realloc(b->data, cap);
        if (nd == NULL)
            return TL_ENOMEM;
        b->data = nd;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

/* ---------- reader ---------- */

typedef struct frame {
    uint32_t node;      /* index of the container node */
    uint32_t remaining; /* children still to read (maps: keys and values counted separately, so
                           the next child of a map is a key when this is even) */
    bool is_map;
    const uint8_t *last_key; /* previous key of a map, for order */
    uint32_t last_key_len;
} frame;

typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
    tl_mp_doc *doc;
    frame stack[TL_MP_DEPTH_MAX];
    int depth;
    const char *prefix;
    tl_error *err;
} reader;

static void append_path(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append_path(char *out, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(out);
    if (used >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + used, cap - used, fmt, ap);
    va_end(ap);
}

/* The path of the value being read: map keys joined by '.', array positions as [i]. */
static void current_path(const reader *r, char *out, size_t cap)
{
    out[0] = '\0';
    if (r->prefix != NULL)
        append_path(out, cap, "%s", r->prefix);
    for (int d = 0; d < r->depth; d++) {
        const frame *f = &r->stack[d];
        if (f->is_map) {
            /* position counts keys and values; the key being (or last) read names the path */
            if (f->last_key != NULL) {
                char key[64];
                uint32_t n = f->last_key_len < sizeof key - 1 ? f->last_key_len : (uint32_t)sizeof key - 1;
                for (uint32_t i = 0; i < n; i++) {
                    uint8_t c = f->last_key[i];
                    key[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
                }
                key[n] = '\0';
                append_path(out, cap, "%s%s", out[0] ? "." : "", key);
            }
        } else {
            append_path(out, cap, "[%u]", r->doc->nodes[f->node].count - f->remaining);
        }
    }
}

static int fail(reader *r, const char *rule, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(reader *r, const char *rule, const char *fmt, ...)
{
    if (r->err == NULL)
        return TL_EINVAL;
    char path[TL_ERROR_PATH_BYTES];
    current_path(r, path, sizeof path);
    char msg[TL_ERROR_MSG_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tl_fail(r->err, TL_EINVAL, rule, path, "%s", msg);
}

static size_t remaining(const reader *r) { return (size_t)(r->end - r->p); }

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    /* Most text is short and ASCII (keys, ids, codes, dates): whole words first, the last
     * one overlapping the one before, so no byte is looked at on its own. */
    size_t i = 0;
    uint64_t word;
    if (n >= 8) {
        while (n - i > 8 && (memcpy(&word, s + i, 8), (word & 0x8080808080808080ull) == 0))
            i += 8;
        if (n - i <= 8 && (memcpy(&word, s + n - 8, 8), (word & 0x8080808080808080ull) == 0))
            return true;
    } else {
        uint8_t any = 0;
        for (size_t k = 0; k < n; k++)
            any |= s[k];
        if (any < 0x80)
            return true;
    }
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            /* Eight ASCII bytes at a time: the text in events is mostly ASCII... */
            if (n - i >= 8 && (memcpy(&word, s + i, 8), (word & 0x8080808080808080ull) == 0))
                i += 8;
            else
                i++;
            continue;
        }
        /* ... or Chinese: with a lead byte e1..ec or ee..ef any two continuation bytes make a
         * valid character (neither overlong, which needs e0, nor a surrogate, which needs ed).
         * Such characters come in runs: a loop of their own. */
        size_t from = i;
        while (n - i >= 3 && (uint8_t)(s[i] - 0xe1) <= 0xef - 0xe1 && s[i] != 0xed && (s[i + 1] & 0xc0) == 0x80 &&
               (s[i + 2] & 0xc0) == 0x80)
            i += 3;
        if (i != from)
            continue;
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Every node consumes at least one input byte, so the array never outgrows the input. The
 * first allocation is sized for a whole event body (about 40 nodes) so that parsing one
 * allocates once. */
#define NODES_INITIAL 64u

static int grow_nodes(reader *r)
{
    tl_mp_doc *d = r->doc;
    size_t left = remaining(r); /* + 1: at least one slot, even for empty input */
    uint32_t cap = d->cap               ? d->cap * 2
                   : left < NODES_INITIAL ? (uint32_t)left + 1
                                          : NODES_INITIAL;
    tl_mp_node *nn = realloc(d->borrowed ? NULL : d->nodes, (size_t)cap * sizeof *nn);
    if (nn == NULL)
        return tl_fail(r->err, TL_ENOMEM, "memory", "", "out of memory parsing MessagePack");
    if (d->borrowed)
        memcpy(nn, d->nodes, (size_t)d->count * sizeof *nn);
    d->nodes = nn;
    d->cap = cap;
    d->borrowed = false;
    return 0;
}

/* Reads the header of one value and fills node i; for str/bin it also consumes the payload. */
static int read_value(reader *r, tl_mp_node *n)
{
    if (remaining(r) < 1)
        return fail(r, "canonical.truncated", "input ends inside a value");
    uint8_t t = *r->p++;
    uint64_t len = 0;
    int hdr = 0;
    if (t <= 0x7f) {
        n->type = TL_MP_UINT;
        n->v.u = t;
        return 0;
    }
    if (t >= 0xe0) {
        n->type = TL_MP_INT;
        n->v.i = (int8_t)t;
        return 0;
    }
    if (t >= 0x80 && t <= 0x8f) {
        n->type = TL_MP_MAP;
        n->count = t & 0x0f;
        return 0;
    }
    if (t >= 0x90 && t <= 0x9f) {
        n->type = TL_MP_ARRAY;
        n->count = t & 0x0f;
        return 0;
    }
    if (t >= 0xa0 && t <= 0xbf) {
        n->type = TL_MP_STR;
        len = t & 0x1f;
        goto payload;
    }
    switch (t) {
    case 0xc0:
        return fail(r, "canonical.nil", "nil is not allowed");
    case 0xc1:
        return fail(r, "canonical.invalid_byte", "0xc1 is never valid MessagePack");
    case 0xc2:
    case 0xc3:
        n->type = TL_MP_BOOL;
        n->v.b = t == 0xc3;
        return 0;
    case 0xc4: case 0xc5: case 0xc6:
        hdr = 1 << (t - 0xc4);
        n->type = TL_MP_BIN;
        break;
    case 0xc7: case 0xc8: case 0xc9:
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        return fail(r, "canonical.ext", "ext types are not allowed");
    case 0xca: case 0xcb:
        return fail(r, "canonical.float", "floats are not allowed");
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        int w = 1 << (t - 0xcc);
        if (remaining(r) < (size_t)w)
            return fail(r, "canonical.truncated", "input ends inside an integer");
        uint64_t v = be(r->p, w);
        r->p += w;
        static const uint64_t min[4] = {0x80, 0x100, 0x10000, 0x100000000ull};
        if (v < min[t - 0xcc])
            return fail(r, "canonical.shortest", "not the shortest encoding");
        n->type = TL_MP_UINT;
        n->v.u = v;
        return 0;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        int w = 1 << (t - 0xd0);
        if (remaining(r) < (size_t)w)
            return fail(r, "canonical.truncated", "input ends inside an integer");
        uint64_t raw = be(r->p, w);
        r->p += w;
        int64_t v;
        int shift = 64 - 8 * w;
        v = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
        if (v >= 0)
            return fail(r, "canonical.int_family", "non-negative integer in the int family; use uint");
        static const int64_t lo[4] = {-32, -128, -32768, -2147483648ll};
        if (v >= lo[t - 0xd0])
            return fail(r, "canonical.shortest", "not the shortest encoding");
        n->type = TL_MP_INT;
        n->v.i = v;
        return 0;
    }
    case 0xd9: case 0xda: case 0xdb:
        hdr = 1 << (t - 0xd9);
        n->type = TL_MP_STR;
        break;
    case 0xdc: case 0xdd: case 0xde: case 0xdf: {
        int w = (t == 0xdc || t == 0xde) ? 2 : 4;
        if (remaining(r) < (size_t)w)
            return fail(r, "canonical.truncated", "input ends inside a header");
        uint64_t c = be(r->p, w);
        r->p += w;
        if ((w == 2 && c < 16) || (w == 4 && c < 0x10000))
            return fail(r, "canonical.shortest", "not the shortest encoding");
        n->type = (t <= 0xdd) ? TL_MP_ARRAY : TL_MP_MAP;
        /* Each element needs at least one byte (two per map pair): check before trusting. */
        uint64_t need = n->type == TL_MP_MAP ? 2 * c : c;
        if (need > remaining(r))
            return fail(r, "canonical.truncated", "announces %llu elements but only %zu bytes remain",
                        (unsigned long long)c, remaining(r));
        n->count = (uint32_t)c;
        return 0;
    }
    default:
        return fail(r, "canonical.invalid_byte", "invalid type byte 0x%02x", t);
    }
    /* str8/16/32 and bin8/16/32: length header of hdr bytes */
    if (remaining(r) < (size_t)hdr)
        return fail(r, "canonical.truncated", "input ends inside a header");
    len = be(r->p, hdr);
    r->p += hdr;
    if (n->type == TL_MP_STR) {
        static const uint64_t smin[3] = {32, 0x100, 0x10000};
        if (len < smin[hdr == 1 ? 0 : hdr == 2 ? 1 : 2])
            return fail(r, "canonical.shortest", "not the shortest encoding");
    } else {
        if ((hdr == 2 && len < 0x100) || (hdr == 4 && len < 0x10000))
            return fail(r, "canonical.shortest", "not the shortest encoding");
    }
payload:
    if (len > remaining(r))
        return fail(r, "canonical.truncated", "announces %llu bytes but only %zu remain",
                    (unsigned long long)len, remaining(r));
    n->v.s.ptr = r->p;
    n->v.s.len = (uint32_t)len;
    r->p += len;
    if (n->type == TL_MP_STR && !utf8_valid(n->v.s.ptr, (size_t)len))
        return fail(r, "canonical.utf8", "text is not valid UTF-8");
    return 0;
}

/* Keys are short and most pairs differ within a few bytes: a loop here beats a call. */
static int key_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    uint32_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    if (i < n)
        return a[i] < b[i] ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int tl_mp_parse(tl_mp_doc *doc, const uint8_t *buf, size_t len, const char *path_prefix, tl_error *err)
{
    return tl_mp_parse_into(doc, NULL, 0, buf, len, path_prefix, err);
}

int tl_mp_parse_into(tl_mp_doc *doc, tl_mp_node *nodes, uint32_t cap, const uint8_t *buf,
                     size_t len, const char *path_prefix, tl_error *err)
{
    *doc = (tl_mp_doc){.nodes = nodes, .cap = nodes != NULL ? cap : 0, .borrowed = nodes != NULL};
    if (len > UINT32_MAX)
        return tl_fail(err, TL_ETOOBIG, "canonical.size", path_prefix, "input too large");
    /* Not an initializer: that would clear the whole stack of frames for every document. */
    reader r;
    r.p = buf;
    r.end = buf + len;
    r.doc = doc;
    r.depth = 0;
    r.prefix = path_prefix;
    r.err = err;
    frame *top = NULL; /* the innermost open container, r.stack[r.depth - 1] */
    int rc;
    for (;;) {
        if (doc->count == doc->cap && (rc = grow_nodes(&r)) != 0)
            goto fail;
        uint32_t idx = doc->count++;
        tl_mp_node *node = &doc->nodes[idx];
        memset(node, 0, sizeof *node);
        if ((rc = read_value(&r, node)) != 0)
            goto fail;
        node->end = idx + 1;
        if (top != NULL && top->is_map && top->remaining % 2 == 0) {
            if (node->type != TL_MP_STR) {
                rc = fail(&r, "canonical.key_type", "map keys must be str");
                goto fail;
            }
            const uint8_t *prev = top->last_key;
            uint32_t prev_len = top->last_key_len;
            top->last_key = node->v.s.ptr;
            top->last_key_len = node->v.s.len;
            if (prev != NULL) {
                int c = key_cmp(prev, prev_len, node->v.s.ptr, node->v.s.len);
                if (c == 0) {
                    rc = fail(&r, "canonical.duplicate_key", "duplicate map key");
                    goto fail;
                }
                if (c > 0) {
                    rc = fail(&r, "canonical.key_order", "map keys are not sorted bytewise");
                    goto fail;
                }
            }
        }
        if ((node->type == TL_MP_MAP || node->type == TL_MP_ARRAY) && node->count > 0) {
            if (r.depth == TL_MP_DEPTH_MAX) {
                rc = fail(&r, "canonical.depth", "nested deeper than %d levels", TL_MP_DEPTH_MAX);
                goto fail;
            }
            uint64_t children = node->type == TL_MP_MAP ? 2ull * node->count : node->count;
            if (children > UINT32_MAX) {
                rc = fail(&r, "canonical.size", "too many elements");
                goto fail;
            }
            top = &r.stack[r.depth++];
            *top = (frame){.node = idx, .remaining = (uint32_t)children, .is_map = node->type == TL_MP_MAP};
            continue;
        }
        /* The value is complete, and so is every container it was the last child of. */
        while (top != NULL && --top->remaining == 0) {
            doc->nodes[top->node].end = doc->count;
            top = --r.depth > 0 ? top - 1 : NULL;
        }
        if (top == NULL)
            break;
    }
    if (r.p != r.end) {
        rc = tl_fail(err, TL_EINVAL, "canonical.trailing_bytes", path_prefix ? path_prefix : "",
                     "%zu bytes follow the top-level object", remaining(&r));
        goto fail;
    }
    return 0;
fail:
    tl_mp_doc_free(doc);
    return rc;
}

void tl_mp_doc_free(tl_mp_doc *doc)
{
    if (!doc->borrowed)
        free(doc->nodes);
    memset(doc, 0, sizeof *doc);
}

uint32_t tl_mp_map_get_n(const tl_mp_doc *doc, uint32_t map, const char *key, size_t klen)
{
    const tl_mp_node *m = &doc->nodes[map];
    if (m->type != TL_MP_MAP)
        return 0;
    uint32_t c = map + 1;
    for (uint32_t k = 0; k < m->count; k++) {
        const tl_mp_node *kn = &doc->nodes[c];
        uint32_t v = kn->end;
        /* The first byte before memcmp: most keys of a map differ there. */
        if (kn->v.s.len == klen && (klen == 0 || (kn->v.s.ptr[0] == (uint8_t)key[0] &&
                                                   memcmp(kn->v.s.ptr, key, klen) == 0)))
            return v;
        c = doc->nodes[v].end;
    }
    return 0;
}

bool tl_mp_str_eq(const tl_mp_doc *doc, uint32_t i, const char *s)
{
    const tl_mp_node *n = &doc->nodes[i];
    size_t len = strlen(s);
    return (n->type == TL_MP_STR || n->type == TL_MP_BIN) && n->v.s.len == len &&
           memcmp(n->v.s.ptr, s, len) == 0;
}

size_t tl_mp_object_len(const uint8_t *buf, size_t len)
{
    /* Count of values still to skip; containers add their children. Bounded by len. */
    const uint8_t *p = buf, *end = buf + len;
    uint64_t pending = 1;
    while (pending > 0) {
        if (p >= end)
            return 0;
        uint8_t t = *p++;
        pending--;
        uint64_t skip = 0, add = 0;
        int hdr = 0;
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
            continue;
        else if (t >= 0x80 && t <= 0x8f)
            add = 2ull * (t & 0x0f);
        else if (t >= 0x90 && t <= 0x9f)
            add = t & 0x0f;
        else if (t >= 0xa0 && t <= 0xbf)
            skip = t & 0x1f;
        else {
            switch (t) {
            case 0xc4: case 0xd9: hdr = 1; break;
            case 0xc5: case 0xda: hdr = 2; break;
            case 0xc6: case 0xdb: hdr = 4; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: case 0xca: skip = 4; break;
            case 0xcf: case 0xd3: case 0xcb: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xc7: case 0xc8: case 0xc9:
                hdr = t == 0xc7 ? 1 : t == 0xc8 ? 2 : 4;
                if ((size_t)(end - p) < (size_t)hdr + 1)
                    return 0;
                skip = be(p, hdr) + 1;
                p += hdr;
                hdr = 0;
                break;
            case 0xdc: case 0xdd: case 0xde: case 0xdf: {
                int w = (t == 0xdc || t == 0xde) ? 2 : 4;
                if ((size_t)(end - p) < (size_t)w)
                    return 0;
                uint64_t c = be(p, w);
                p += w;
                add = t >= 0xde ? 2 * c : c;
                break;
            }
            default:
                return 0;
            }
        }
        if (hdr) {
            if ((size_t)(end - p) < (size_t)hdr)
                return 0;
            skip = be(p, hdr);
            p += hdr;
        }
        if (skip > (uint64_t)(end - p))
            return 0;
        p += skip;
        if (add > (uint64_t)(end - p))
            return 0; /* each pending value needs at least one byte */
        pending += add;
    }
    return (size_t)(p - buf);
}

/* ---------- writer ---------- */

static int buf_write(void *data, const char *bytes, size_t len)
{
    tl_mp_writer *w = data;
    if (tl_buf_append(w->buf, bytes, len) != 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

void tl_mp_writer_init(tl_mp_writer *w, tl_buf *buf)
{
    w->buf = buf;
    w->failed = 0;
    msgpack_packer_init(&w->pk, w, buf_write);
}

void tl_mp_uint(tl_mp_writer *w, uint64_t v) { msgpack_pack_uint64(&w->pk, v); }
void tl_mp_bool(tl_mp_writer *w, bool v)
{
    if (v)
        msgpack_pack_true(&w->pk);
    else
        msgpack_pack_false(&w->pk);
}
void tl_mp_strn(tl_mp_writer *w, const void *s, size_t len)
{
    msgpack_pack_str(&w->pk, len);
    msgpack_pack_str_body(&w->pk, s, len);
}
void tl_mp_str(tl_mp_writer *w, const char *s) { tl_mp_strn(w, s, strlen(s)); }
void tl_mp_key(tl_mp_writer *w, const char *key) { tl_mp_str(w, key); }
void tl_mp_bin(tl_mp_writer *w, const void *data, size_t len)
{
    msgpack_pack_bin(&w->pk, len);
    msgpack_pack_bin_body(&w->pk, data, len);
}
void tl_mp_array(tl_mp_writer *w, uint32_t n) { msgpack_pack_array(&w->pk, n); }
void tl_mp_map(tl_mp_writer *w, uint32_t n) { msgpack_pack_map(&w->pk, n); }
