/*
 * The byte-string hash map and the in-memory state; see tl_state.h.
 *
 * A compact dict: a dense array of 72-byte entries in insertion order, and an open-addressing
 * index (linear probing, power of two, grown at 70% load) of 8-byte slots, each the hash tag
 * and the entry's position. An entry holds its key and value inline when together they fit
 * in ENTRY_INLINE_BYTES; the keys the ledger uses most ('i' || id -> seq, 25 bytes; a
 * contract's head 's' || "contract/" || reg_no -> version || flags, dates and seller, about
 * 60 bytes, or in the sequencer's cache varint(version) || seq || the same) do, so an insert
 * allocates nothing (the old layout spent a malloc and a free per entry). Larger entries live
 * in one heap block [key][value] the entry points to. Probing compares tags in the index
 * without touching entries, and the index stays 8 bytes a slot, so a large replay state costs
 * about 85 bytes an entry. There is no delete: the overlay is
 * cleared wholesale after each batch, and replay state only grows.
 *
 * The hash is SipHash-1-3 under a per-map random key: keyed, so hostile keys cannot be
 * chosen to collide (the keys come from signed events, but anyone with a key can sign), with
 * half the rounds of libsodium's SipHash-2-4, ample for a hash table (Rust's standard
 * HashMap uses it) and cheaper on the sequencer's hot path.
 */
#include "tl_state.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void tl_be64_put(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

uint64_t tl_be64_get(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

#define ENTRY_INLINE_BYTES 64u
#define MAP_INITIAL_SLOTS 64u
#define MAP_ENTRIES_MAX UINT32_MAX /* positions are 32-bit in the index */

typedef struct entry {
    uint32_t tag; /* the key's hash tag, never 0 */
    uint16_t klen;
    uint16_t vlen;
    union {
        uint8_t bytes[ENTRY_INLINE_BYTES]; /* key then value, when they fit */
        uint8_t *heap;                     /* otherwise: malloc'd key then value */
    } u;
} entry;

typedef struct islot {
    uint32_t tag; /* 0 marks an empty slot */
    uint32_t pos; /* index into entries */
} islot;

struct tl_map {
    islot *index;
    size_t cap; /* index slots, a power of two */
    entry *entries;
    size_t count; /* entries in use, all of entries[0, count) */
    size_t entries_cap;
    size_t heap_entries; /* entries using u.heap: clear must free them */
    uint64_t k0, k1;     /* the SipHash key */
};

static inline int fits_inline(size_t klen, size_t vlen) { return klen + vlen <= ENTRY_INLINE_BYTES; }

static inline uint8_t *entry_bytes(entry *e) { return fits_inline(e->klen, e->vlen) ? e->u.bytes : e->u.heap; }

/* ---------- SipHash-1-3 ---------- */

static inline uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define SIPROUND                                                                                                       \
    do {                                                                                                               \
        v0 += v1;                                                                                                      \
        v1 = rotl64(v1, 13);                                                                                           \
        v1 ^= v0;                                                                                                      \
        v0 = rotl64(v0, 32);                                                                                           \
        v2 += v3;                                                                                                      \
        v3 = rotl64(v3, 16);                                                                                           \
        v3 ^= v2;                                                                                                      \
        v0 += v3;                                                                                                      \
        v3 = rotl64(v3, 21);                                                                                           \
        v3 ^= v0;                                                                                                      \
        v2 += v1;                                                                                                      \
        v1 = rotl64(v1, 17);                                                                                           \
        v1 ^= v2;                                                                                                      \
        v2 = rotl64(v2, 32);                                                                                           \
    } while (0)

static uint64_t siphash13(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load_le64(in + i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint32_t map_tag(const tl_map *m, const uint8_t *key, size_t klen)
{
    uint32_t t = (uint32_t)(siphash13(m->k0, m->k1, key, klen) >> 32);
    return t ? t : 1;
}

/* ---------- the map ---------- */

tl_map *tl_map_new(void)
{
    tl_map *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->cap = MAP_INITIAL_SLOTS;
    m->index = calloc(m->cap, sizeof *m->index);
    if (m->index == NULL) {
        free(m);
        return NULL;
    }
    randombytes_buf(&m->k0, sizeof m->k0);
    randombytes_buf(&m->k1, sizeof m->k1);
    return m;
}

void tl_map_clear(tl_map *m)
{
    if (m->heap_entries > 0)
        for (size_t i = 0; i < m->count; i++)
            if (!fits_inline(m->entries[i].klen, m->entries[i].vlen))
                free(m->entries[i].u.heap);
    if (m->count > 0)
        memset(m->index, 0, m->cap * sizeof *m->index);
    m->count = 0;
    m->heap_entries = 0;
}

void tl_map_free(tl_map *m)
{
    if (m == NULL)
        return;
    tl_map_clear(m);
    free(m->index);
    free(m->entries);
    free(m);
}

size_t tl_map_count(const tl_map *m) { return m->count; }

/* The index slot holding key, or the empty slot where it would go. */
static size_t find_slot(const tl_map *m, uint32_t tag, const uint8_t *key, size_t klen)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)tag & mask;; i = (i + 1) & mask) {
        const islot *s = &m->index[i];
        if (s->tag == 0)
            return i;
        if (s->tag == tag) {
            entry *e = &m->entries[s->pos];
            if (e->klen == klen && (klen == 0 || memcmp(entry_bytes(e), key, klen) == 0))
                return i;
        }
    }
}

static int grow_index(tl_map *m)
{
    size_t ncap = m->cap * 2;
    islot *ni = calloc(ncap, sizeof *ni);
    if (ni == NULL)
        return TL_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->index[i].tag == 0)
            continue;
        size_t j = (size_t)m->index[i].tag & (ncap - 1);
        while (ni[j].tag != 0)
            j = (j + 1) & (ncap - 1);
        ni[j] = m->index[i];
    }
    free(m->index);
    m->index = ni;
    m->cap = ncap;
    return 0;
}

static int grow_entries(tl_map *m)
{
    size_t ncap = m->entries_cap ? m->entries_cap * 2 : MAP_INITIAL_SLOTS;
    if (ncap > MAP_ENTRIES_MAX)
        ncap = MAP_ENTRIES_MAX;
    if (ncap <= m->count)
        return TL_ENOMEM;
    entry *ne = realloc(m->entries, ncap * sizeof *ne);
    if (ne == NULL)
        return TL_ENOMEM;
    m->entries = ne;
    m->entries_cap = ncap;
    return 0;
}

/* Stores key and value into e, which is empty or holds the same key. The old contents stay
 * intact on failure. key may point at e's own stored key (hence memmove). */
static int entry_set(tl_map *m, entry *e, bool was_heap, const uint8_t *key, size_t klen, const uint8_t *val,
                     size_t vlen)
{
    if (fits_inline(klen, vlen)) {
        uint8_t *old = was_heap ? e->u.heap : NULL;
        if (klen)
            memmove(e->u.bytes, key, klen);
        if (vlen)
            memmove(e->u.bytes + klen, val, vlen);
        if (old != NULL) {
            free(old);
            m->heap_entries--;
        }
    } else {
        uint8_t *blk = malloc(klen + vlen);
        if (blk == NULL)
            return TL_ENOMEM;
        if (klen)
            memcpy(blk, key, klen);
        if (vlen)
            memcpy(blk + klen, val, vlen);
        if (was_heap)
            free(e->u.heap);
        else
            m->heap_entries++;
        e->u.heap = blk;
    }
    e->klen = (uint16_t)klen;
    e->vlen = (uint16_t)vlen;
    return 0;
}

int tl_map_put(tl_map *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    if (klen > TL_MAP_BYTES_MAX || vlen > TL_MAP_BYTES_MAX)
        return TL_ETOOBIG;
    uint32_t tag = map_tag(m, key, klen);
    size_t i = find_slot(m, tag, key, klen);
    if (m->index[i].tag != 0) { /* replace */
        entry *e = &m->entries[m->index[i].pos];
        return entry_set(m, e, !fits_inline(e->klen, e->vlen), key, klen, val, vlen);
    }
    if (m->count == m->entries_cap && grow_entries(m) != 0)
        return TL_ENOMEM;
    if ((m->count + 1) * 10 > m->cap * 7) {
        if (grow_index(m) != 0)
            return TL_ENOMEM;
        i = find_slot(m, tag, key, klen);
    }
    entry *e = &m->entries[m->count];
    e->tag = tag;
    int rc = entry_set(m, e, false, key, klen, val, vlen);
    if (rc != 0)
        return rc;
    m->index[i].tag = tag;
    m->index[i].pos = (uint32_t)m->count;
    m->count++;
    return 0;
}

const uint8_t *tl_map_get(const tl_map *m, const uint8_t *key, size_t klen, size_t *vlen)
{
    if (klen > TL_MAP_BYTES_MAX)
        return NULL;
    const islot *s = &m->index[find_slot(m, map_tag(m, key, klen), key, klen)];
    if (s->tag == 0)
        return NULL;
    entry *e = &m->entries[s->pos];
    *vlen = e->vlen;
    return entry_bytes(e) + e->klen;
}

void tl_map_prefetch(const tl_map *m, const uint8_t *key, size_t klen)
{
    if (klen <= TL_MAP_BYTES_MAX)
        __builtin_prefetch(&m->index[(size_t)map_tag(m, key, klen) & (m->cap - 1)]);
}

int tl_map_next(const tl_map *m, size_t *cursor, const uint8_t **key, size_t *klen, const uint8_t **val,
                size_t *vlen)
{
    if (*cursor >= m->count) {
        *cursor = m->count;
        return 0;
    }
    entry *e = &m->entries[(*cursor)++];
    *key = entry_bytes(e);
    *klen = e->klen;
    *val = *key + e->klen;
    *vlen = e->vlen;
    return 1;
}

static int mem_get(tl_state *base, const uint8_t *key, size_t klen, tl_buf *out)
{
    tl_mem_state *st = (tl_mem_state *)base;
    size_t vlen;
    const uint8_t *v = tl_map_get(st->map, key, klen, &vlen);
    if (v == NULL)
        return TL_ENOTFOUND;
    tl_buf_reset(out);
    return tl_buf_append(out, v, vlen);
}

static int mem_put(tl_state *base, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    tl_mem_state *st = (tl_mem_state *)base;
    return tl_map_put(st->map, key, klen, val, vlen);
}

int tl_mem_state_init(tl_mem_state *st)
{
    st->base.get = mem_get;
    st->base.put = mem_put;
    st->map = tl_map_new();
    return st->map ? 0 : TL_ENOMEM;
}

void tl_mem_state_free(tl_mem_state *st)
{
    tl_map_free(st->map);
    st->map = NULL;
}
