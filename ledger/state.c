/*
 * The byte-string hash map and the in-memory state; see tl_state.h.
 *
 * Open addressing with linear probing over a power-of-two slot array, grown at 70% load.
 * Each entry is one allocation: [klen u32][vlen u32][key][value]. There is no delete: the
 * overlay is cleared wholesale after each batch, and replay state only grows.
 */
#include "tl_state.h"

#include <sodium.h>
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

typedef struct entry {
    uint32_t klen;
    uint32_t vlen;
    uint64_t hash;
    uint8_t bytes[]; /* key then value */
} entry;

struct tl_map {
    entry **slots;
    size_t cap; /* power of two */
    size_t count;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

static uint64_t map_hash(const tl_map *m, const uint8_t *key, size_t klen)
{
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, key, klen, m->hash_key);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

tl_map *tl_map_new(void)
{
    tl_map *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (m->slots == NULL) {
        free(m);
        return NULL;
    }
    randombytes_buf(m->hash_key, sizeof m->hash_key);
    return m;
}

void tl_map_clear(tl_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i]);
        m->slots[i] = NULL;
    }
    m->count = 0;
}

void tl_map_free(tl_map *m)
{
    if (m == NULL)
        return;
    tl_map_clear(m);
    free(m->slots);
    free(m);
}

size_t tl_map_count(const tl_map *m) { return m->count; }

static size_t find_slot(const tl_map *m, uint64_t h, const uint8_t *key, size_t klen)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        entry *e = m->slots[i];
        if (e == NULL || (e->hash == h && e->klen == klen && memcmp(e->bytes, key, klen) == 0))
            return i;
    }
}

static int grow(tl_map *m)
{
    size_t ncap = m->cap * 2;
    entry **ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
        return TL_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        entry *e = m->slots[i];
        if (e == NULL)
            continue;
        size_t j = (size_t)e->hash & (ncap - 1);
        while (ns[j] != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = e;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int tl_map_put(tl_map *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    if (klen > UINT32_MAX || vlen > UINT32_MAX)
        return TL_ETOOBIG;
    if ((m->count + 1) * 10 > m->cap * 7 && grow(m) != 0)
        return TL_ENOMEM;
    uint64_t h = map_hash(m, key, klen);
    size_t i = find_slot(m, h, key, klen);
    entry *e = malloc(sizeof *e + klen + vlen);
    if (e == NULL)
        return TL_ENOMEM;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->hash = h;
    memcpy(e->bytes, key, klen);
    if (vlen)
        memcpy(e->bytes + klen, val, vlen);
    if (m->slots[i] == NULL)
        m->count++;
    else
        free(m->slots[i]);
    m->slots[i] = e;
    return 0;
}

const uint8_t *tl_map_get(const tl_map *m, const uint8_t *key, size_t klen, size_t *vlen)
{
    entry *e = m->slots[find_slot(m, map_hash(m, key, klen), key, klen)];
    if (e == NULL)
        return NULL;
    *vlen = e->vlen;
    return e->bytes + e->klen;
}

int tl_map_next(const tl_map *m, size_t *cursor, const uint8_t **key, size_t *klen, const uint8_t **val,
                size_t *vlen)
{
    for (size_t i = *cursor; i < m->cap; i++) {
        entry *e = m->slots[i];
        if (e == NULL)
            continue;
        *key = e->bytes;
        *klen = e->klen;
        *val = e->bytes + e->klen;
        *vlen = e->vlen;
        *cursor = i + 1;
        return 1;
    }
    *cursor = m->cap;
    return 0;
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
