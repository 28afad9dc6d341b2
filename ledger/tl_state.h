/*
 * The state the ledger consults while it sequences events, as key-value pairs.
 *
 * One mechanism serves both places the log is judged: the live sequencer (an overlay for the
 * batch being built over the "state" column family in RocksDB; the overlay goes into the same
 * WriteBatch as the records, so state and log never disagree) and `verify`, which replays an
 * audit bundle into a purely in-memory state. Because the rules only ever see this interface,
 * the exact same code accepts events at append time and re-checks them at audit time.
 *
 * Key namespaces (first byte):
 *   'i' || event id (16)   -> seq (8, big-endian)      idempotency index
 *   's' || stream          -> version (8, big-endian) || entity state   stream heads
 *        The entity state is owned by the domain rules (empty for most streams; a contract's
 *        flags, dates and seller, rules.c): tl_admit reads the head of every event's stream
 *        anyway, so state kept there costs the sequencer no key of its own. tl_admit carries
 *        it over to each new version and lets tl_rules_apply replace it.
 *   other letters          -> owned by the domain rules (rules.c documents them)
 */
#ifndef TL_STATE_H
#define TL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "tl_error.h"
#include "tl_mp.h"

#define TL_STATE_KEY_BYTES_MAX 256u
#define TL_STATE_VALUE_BYTES_MAX 4096u

typedef struct tl_state tl_state;
struct tl_state {
    /* Copies the value of key into out (replacing its contents). 0, TL_ENOTFOUND or an error. */
    int (*get)(tl_state *st, const uint8_t *key, size_t klen, tl_buf *out);
    /* Sets key to value. 0 or an error. */
    int (*put)(tl_state *st, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);
};

static inline int tl_state_get(tl_state *st, const uint8_t *key, size_t klen, tl_buf *out)
{
    return st->get(st, key, klen, out);
}
static inline int tl_state_put(tl_state *st, const uint8_t *key, size_t klen, const uint8_t *val,
                               size_t vlen)
{
    return st->put(st, key, klen, val, vlen);
}

/* Big-endian helpers for integer values and keys. */
void tl_be64_put(uint8_t out[8], uint64_t v);
uint64_t tl_be64_get(const uint8_t in[8]);

/*
 * A hash map of byte strings, the building block of the in-memory state and the overlay.
 * Keys are hashed with a keyed hash (SipHash-1-3) under a random per-map key so hostile
 * inputs cannot force collisions. Small entries are stored inside the map's own arrays (no
 * allocation per entry; state.c describes the layout), so a pointer the map returns is valid
 * only until the next put to or clear of the map, and the key and value passed to
 * tl_map_put must not point into the same map.
 */
#define TL_MAP_BYTES_MAX 65535u /* per key and per value */
typedef struct tl_map tl_map;
tl_map *tl_map_new(void);
void tl_map_free(tl_map *m);
void tl_map_clear(tl_map *m);
size_t tl_map_count(const tl_map *m);
int tl_map_put(tl_map *m, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
    __attribute__((warn_unused_result));
/* The stored value (valid until the next put to or clear of the map), or NULL when absent. */
const uint8_t *tl_map_get(const tl_map *m, const uint8_t *key, size_t klen, size_t *vlen);
/* A hint that key is about to be looked up: starts loading the memory its probe will touch
 * first, so a caller that knows its next keys can overlap those cache misses with work. */
void tl_map_prefetch(const tl_map *m, const uint8_t *key, size_t klen);
/* Iteration: start with *cursor = 0; returns 0 when there is no further entry. */
int tl_map_next(const tl_map *m, size_t *cursor, const uint8_t **key, size_t *klen,
                const uint8_t **val, size_t *vlen);

/* A state held entirely in memory (for replaying a bundle). */
typedef struct tl_mem_state {
    tl_state base;
    tl_map *map;
} tl_mem_state;
int tl_mem_state_init(tl_mem_state *st) __attribute__((warn_unused_result));
void tl_mem_state_free(tl_mem_state *st);

#endif
