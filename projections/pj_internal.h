/*
 * Internals shared by the projection engine (engine.c), the store (store.c), the folds
 * (pj_turnover.c, pj_institutions.c, pj_funds.c, pj_catalogue.c) and the renderers (render.c).
 * Not part of the public interface (tl_views.h).
 */
#ifndef PJ_INTERNAL_H
#define PJ_INTERNAL_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tl_domain.h"
#include "tl_schema.h"
#include "tl_views.h"

/* ---------- decoded records (decode.c) ---------- */

#define PJ_FIELDS_MAX 24 /* data fields of one event; the catalogue's largest type has 15 */
#define PJ_BEIJING_OFFSET_MS (8ull * 3600u * 1000u)
#define PJ_DAY_MS (86400ull * 1000u)

typedef struct pj_val {
    uint8_t type; /* tl_mp_type */
    uint64_t u;   /* UINT */
    bool b;       /* BOOL */
    const uint8_t *p; /* STR, BIN: into the record */
    uint32_t len;
} pj_val;

/* A str field: pointer into the record and length; p is NULL when absent or not a str. */
typedef struct pj_strv {
    const uint8_t *p;
    uint32_t len;
} pj_strv;

/*
 * What the contract folds (turnover, institutions) read of an event of a contract's stream,
 * found by pj_decode in one pass over the fields: each fold looking the fields up by name
 * (a dozen scans, three code parses, the reg_no parsed twice) cost more than decoding them.
 * Codes are -1 when absent or unknown, uints have_* false when absent or not a uint (each fold
 * applies its own default).
 */
typedef struct pj_contract_ev {
    bool keyed;   /* key is valid: the registration's reg_no, or else the stream's id, is 16 digits */
    uint64_t key; /* pj_reg_no_key */
    int cls, field, conf;
    bool has_total, has_tech;
    uint64_t total, tech;
    pj_strv seller, buyer, seller_region, buyer_region, registered_on;
} pj_contract_ev;

/* The type of the last record decoded into a pj_event, compared first for the next one. */
typedef struct pj_type_memo {
    const char *name; /* the schema's type name; NULL: none yet */
    uint32_t len;
    int type;
} pj_type_memo;

/* One record, walked without copies. The log was verified at append, so this reader checks
 * bounds (it never reads past the record) but not canonical form or the signature.
 * Zero a pj_event before its first pj_decode (its memo carries over from record to record). */
typedef struct pj_event {
    uint64_t seq;
    uint64_t recorded_ms;
    uint64_t version;
    uint32_t recorded_day; /* Beijing (UTC+8) calendar day of recorded, days since 1970-01-01 */
    int type;              /* tl_event_type, or -1 for a type this build does not know */
    const uint8_t *stream;
    uint32_t stream_len;
    uint32_t nfields;
    struct {
        const uint8_t *key;
        uint32_t klen;
        pj_val v;
    } f[PJ_FIELDS_MAX];
    pj_contract_ev con; /* filled for the types on a contract's stream only */
    pj_type_memo memo;
} pj_event;

int pj_decode(pj_event *ev, const uint8_t *rec, size_t len, tl_error *err);
/* The value of data field name, or NULL when absent. Inline, so that the length of a constant
 * name is folded and the lookups (a few per event and fold) stay cheap. */
static inline const pj_val *pj_field(const pj_event *ev, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < ev->nfields; i++)
        if (ev->f[i].klen == n && ev->f[i].key[0] == (uint8_t)name[0] && memcmp(ev->f[i].key, name, n) == 0)
            return &ev->f[i].v;
    return NULL;
}
/* A str field as pointer and length; false when absent or not a str. */
static inline bool pj_str(const pj_event *ev, const char *name, const uint8_t **p, size_t *len)
{
    const pj_val *v = pj_field(ev, name);
    if (v == NULL || v->type != TL_MP_STR)
        return false;
    *p = v->p;
    *len = v->len;
    return true;
}
/* A uint field; def when absent. */
static inline uint64_t pj_uint(const pj_event *ev, const char *name, uint64_t def)
{
    const pj_val *v = pj_field(ev, name);
    return v != NULL && v->type == TL_MP_UINT ? v->u : def;
}
static inline bool pj_bool(const pj_event *ev, const char *name, bool def)
{
    const pj_val *v = pj_field(ev, name);
    return v != NULL && v->type == TL_MP_BOOL ? v->b : def;
}
/* A code field parsed against list; def when absent or unknown. */
static inline int pj_code(const pj_event *ev, const char *name, const tl_codelist *list, int def)
{
    const uint8_t *p;
    size_t n;
    if (!pj_str(ev, name, &p, &n))
        return def;
    int c = tl_code_parse(list, (const char *)p, n);
    return c < 0 ? def : c;
}
/* acc += delta, refusing to wrap (tl_amount_add, inline: the folds add a few per record). */
static inline int pj_amount_add(int64_t *acc, int64_t delta)
{
    int64_t sum;
    if (__builtin_add_overflow(*acc, delta, &sum))
        return TL_ETOOBIG;
    *acc = sum;
    return 0;
}
/* A date field as a day number; false when absent or invalid. */
bool pj_date(const pj_event *ev, const char *name, int32_t *day);
/* The part of the stream after the first '/', e.g. the reg_no of contract/<reg_no>. */
bool pj_stream_id(const pj_event *ev, const uint8_t **p, size_t *len);
/* The Beijing calendar day of a recorded time. */
uint32_t pj_beijing_day(uint64_t recorded_ms);

/* ---------- byte helpers ---------- */

static inline void pj_be32_put(uint8_t *o, uint32_t v)
{
    o[0] = (uint8_t)(v >> 24);
    o[1] = (uint8_t)(v >> 16);
    o[2] = (uint8_t)(v >> 8);
    o[3] = (uint8_t)v;
}
static inline uint32_t pj_be32_get(const uint8_t *i)
{
    return (uint32_t)i[0] << 24 | (uint32_t)i[1] << 16 | (uint32_t)i[2] << 8 | i[3];
}
void pj_be64_put(uint8_t *o, uint64_t v);
uint64_t pj_be64_get(const uint8_t *i);

/* A write cursor over a tl_buf and a bounded read cursor: the value encodings of store.c. */
typedef struct pj_rd {
    const uint8_t *p, *end;
    bool bad; /* sticky: a read ran past the end */
} pj_rd;
int pj_w_u8(tl_buf *b, uint8_t v);
int pj_w_u64(tl_buf *b, uint64_t v);
int pj_w_counters(tl_buf *b, const int64_t *c, size_t n); /* n signed counters, 8 bytes each */
int pj_w_str(tl_buf *b, const void *s, size_t len); /* 1-byte length (<= 255) then bytes */
int pj_w_text(tl_buf *b, const void *s, size_t len); /* 2-byte length, for text fields */
uint8_t pj_r_u8(pj_rd *r);
/* Reads a pj_w_text string into out (cap bytes incl. NUL); too long for out is an error. */
void pj_r_text(pj_rd *r, char *out, size_t cap);
uint64_t pj_r_u64(pj_rd *r);
void pj_r_counters(pj_rd *r, int64_t *c, size_t n); /* reads what pj_w_counters wrote */
/* Copies a pj_w_str string into out (cap bytes incl. NUL); truncates safely. */
void pj_r_str(pj_rd *r, char *out, size_t cap);

/* ---------- an in-memory hash map with dirty tracking (store.c) ---------- */

typedef struct pj_entry {
    uint64_t h;
    uint32_t klen;
    uint32_t vlen;
    bool dirty;
    bool present;   /* false: a cached "not in the store" */
    uint8_t *key;   /* points into the same allocation */
    uint8_t val[];  /* vlen bytes, 8-aligned */
} pj_entry;

typedef struct pj_slot {
    uint64_t h; /* the entry's hash, so probes and growth need not visit the entry */
    pj_entry *e;
} pj_slot;

typedef struct pj_map {
    pj_slot *slots;
    size_t cap; /* power of two */
    size_t count;
    uint64_t seed;
    pj_entry **dirty; /* entries marked dirty since the last flush */
    size_t ndirty, dcap;
    /* Entries are carved from chunks (never freed one by one, only all at once by clear):
     * a rebuild creates millions, and a malloc and free each showed in its profile. */
    uint8_t *chunk; /* the newest chunk; each starts with a pointer to the previous one */
    size_t chunk_used, chunk_cap;
    /* Counts clears. An entry stays where it is until the next clear, so a holder of entry
     * pointers may keep them while this is unchanged. */
    uint64_t clears;
} pj_map;

int pj_map_init(pj_map *m);
void pj_map_free(pj_map *m);
void pj_map_clear(pj_map *m);
pj_entry *pj_map_find(pj_map *m, const uint8_t *key, size_t klen);
/* The entry for key, created (value zeroed, present = false) when absent. NULL on ENOMEM. */
pj_entry *pj_map_upsert(pj_map *m, const uint8_t *key, size_t klen, size_t vlen);
void pj_map_mark(pj_map *m, pj_entry *e);

/* ---------- the store (store.c) ---------- */

typedef struct pj_store {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    char *dir;
    char *secondary_dir; /* follow mode */
    bool follow;
    /* Readers hold it shared for a whole query; exclusive for a follow-mode catch-up and for
     * dropping an old generation's files (both would pull data from under a reader). */
    pthread_rwlock_t read_lock;
    _Atomic uint64_t last_catchup_ms;
} pj_store;

#define PJ_PREFIX_BYTES 5 /* projection id (1) || generation (4) */
#define PJ_KEY_BYTES_MAX 256u

int pj_store_open(pj_store *s, const char *dir, bool follow, tl_error *err);
void pj_store_close(pj_store *s);
/* Follow mode: catch up with the process writing the views (rate-limited). */
int pj_store_catch_up(pj_store *s, tl_error *err);
int pj_store_fail(tl_error *err, char **dberr, const char *what);
/* Deletes the table files holding only keys of generations gen_lo .. gen_hi - 1 of proj, whose
 * range was deleted already (a range deletion alone leaves them on disk until a compaction
 * reaches their level, and then reads them key by key). Returns false when a reader is
 * active: try again later. */
bool pj_store_drop_files(pj_store *s, uint8_t proj, uint32_t gen_lo, uint32_t gen_hi);

/* Meta records (key 0x00 || tag || projection id). */
typedef struct pj_meta {
    bool present;
    uint32_t version;
    uint32_t gen;
} pj_meta;
int pj_meta_get(pj_store *s, const rocksdb_readoptions_t *ro, char tag, uint8_t proj, pj_meta *out,
                tl_error *err);
void pj_meta_put(rocksdb_writebatch_t *wb, char tag, uint8_t proj, uint32_t version, uint32_t gen);
void pj_meta_delete(rocksdb_writebatch_t *wb, char tag, uint8_t proj);
int pj_pos_get(pj_store *s, const rocksdb_readoptions_t *ro, const uint8_t prefix[PJ_PREFIX_BYTES],
               uint64_t *pos, tl_error *err);
void pj_prefix(uint8_t out[PJ_PREFIX_BYTES], uint8_t proj, uint32_t gen);

/* ---------- projection instances ---------- */

typedef struct pj_inst pj_inst;
typedef struct pj_table pj_table;
typedef struct pj_ctable pj_ctable;

/*
 * A fold. Its tables are registered with the instance (pj_inst_table, pj_inst_ctable, from
 * init) and the engine flushes, resets and frees them; the hooks below cover only state kept
 * elsewhere.
 */
typedef struct pj_def {
    const char *name;
    uint8_t id;       /* key prefix byte, >= 1, never reused */
    uint32_t version; /* bump when the fold or its stored format changes: forces a rebuild */
    int (*init)(pj_inst *in);
    /* Frees in->state (the registered tables are already freed). */
    void (*destroy)(pj_inst *in);
    int (*apply)(pj_inst *in, const pj_event *ev, tl_error *err);
    /* Optional: starts loading what apply will touch of ev (a hint: it changes nothing). The
     * engine calls it one record ahead, before it applies the previous record to any
     * projection, so that their cache misses (a random slot of a table of every contract, for
     * each contract fold) are hidden behind that work instead of stalling apply. */
    void (*prefetch)(pj_inst *in, const pj_event *ev);
    /* Optional: stages every dirty value held outside the registered tables. */
    int (*flush)(pj_inst *in, tl_error *err);
    /* Optional: after a failed write, forgets state held outside the registered tables. */
    void (*reset)(pj_inst *in);
} pj_def;

#define PJ_TABLES_MAX 8u

struct pj_inst {
    const pj_def *def;
    pj_store *store;
    tl_ledger *ledger;
    uint32_t gen;
    uint8_t prefix[PJ_PREFIX_BYTES];
    uint64_t pos;  /* the next seq to apply: stored, unless building (then `stored` is) */
    uint64_t next; /* within a batch: the next seq this instance expects */
    bool fresh;    /* started at 0 in this process: the caches hold everything written */
    bool failed;
    tl_error fail_err;
    rocksdb_writebatch_t *wb;
    /* This batch's puts, staged so they can enter the WriteBatch in key order: a memtable
     * takes sorted inserts several times faster than random ones. */
    tl_buf staged;        /* [sublen (2)][vlen (4)][sub][val]... */
    uint32_t *staged_off; /* offsets of the entries in staged */
    size_t nstaged, staged_cap;
    bool staged_failed;
    rocksdb_iterator_t *it; /* lazily made for cache misses; dropped at each flush */
    rocksdb_readoptions_t *it_ro;
    void *state;
    struct {
        pj_table *t; /* one of the two */
        pj_ctable *c;
    } tables[PJ_TABLES_MAX]; /* the fold's tables, in flush order */
    size_t ntables;
    /* A rebuild not yet handed over folds in memory only: nothing is written until it nears
     * the log's end, when its whole state goes into the store as one ingested file (store.c).
     * pos is then how far it has folded; stored is the position its stored state has. */
    bool building;
    uint64_t stored;
    /* statistics (guarded by the engine's mutex when read from outside) */
    uint64_t applied;
    uint64_t batches;
    uint64_t apply_ns;
};

/* Store access from folds: full key = prefix || sub. */
int pj_inst_get(pj_inst *in, const uint8_t *sub, size_t sublen, tl_buf *out, tl_error *err);
void pj_inst_put(pj_inst *in, const uint8_t *sub, size_t sublen, const uint8_t *val, size_t vlen);
/* Moves the staged puts into in->wb in key order (later puts of a key win). */
int pj_inst_stage_commit(pj_inst *in, tl_error *err);
/* Writes the staged puts and position pos into one table file and ingests it into the store
 * (one atomic step, like a WriteBatch, without the memtable, its flush and compactions). */
int pj_inst_ingest(pj_inst *in, uint64_t pos, tl_error *err);
/* Removes what a process killed during pj_inst_ingest may have left of its file. */
void pj_store_remove_ingest(pj_store *s, uint8_t proj);
void pj_inst_stage_clear(pj_inst *in);
/* The last stored key under prefix || sub_lo .. sub_hi inclusive (SeekForPrev sub_hi):
 * returns 0 and fills key/value, or TL_ENOTFOUND. Uses in->it. */
int pj_inst_last_at_or_before(pj_inst *in, const uint8_t *sub_lo, size_t lolen, const uint8_t *sub_hi,
                              size_t hilen, tl_buf *key, tl_buf *val, tl_error *err);
void pj_inst_drop_iter(pj_inst *in);

/*
 * A cached table of one fold: tag byte || key -> value, with a host-form value of fixed size
 * in the cache (vsize bytes) and an explicit byte encoding in the store.
 */
struct pj_table {
    pj_map map;
    uint8_t tag;
    size_t vsize;
    size_t max_entries; /* after a flush the cache is dropped when it holds more than this */
    bool complete;      /* every stored value is in the cache (fresh instance, never dropped) */
    int (*enc)(tl_buf *out, const void *val);
    int (*dec)(void *val, const uint8_t *p, size_t len); /* 0 or TL_ECORRUPT */
};

/* Sets up t (inside in->state) and registers it with in: from then on the engine flushes,
 * resets and frees it. Returns 0 or TL_ENOMEM (then t is registered and freed like the rest). */
int pj_inst_table(pj_inst *in, pj_table *t, uint8_t tag, size_t vsize, size_t max_entries,
                  int (*enc)(tl_buf *, const void *), int (*dec)(void *, const uint8_t *, size_t));
/*
 * Per-contract fold state: 'tag' || reg_no (16 digits) -> a host-form value of vsize bytes,
 * held in memory only, as one flat slot per contract (the reg_no packed into 64 bits, the
 * value inline). It is NOT written to the store: the log's stream index is its backing store.
 * On a miss, the contract's own stream "contract/<reg_no>" up to the record being applied is
 * folded again with step (pj_inst_stream), so the value is exactly what the fold of records
 * 0..next-1 left. A rebuild holds
 * every contract in memory (writing them as entries cost more than all the rest of a rebuild);
 * a live generation drops them when there are more than max_entries.
 */
#define PJ_CTABLE_VALUE_MAX 56u
struct pj_ctable {
    uint64_t *slots; /* cap slots of 1 + vwords words: key, then the value; key 0 = empty */
    size_t cap, count, vwords;
    size_t max_entries;
    bool complete;
    void *ctx;
    /* Folds one event of the contract's stream into val (zeroed at first); *found says the
     * contract exists (its registration was seen). Registrations of other reg_nos are skipped. */
    int (*step)(pj_inst *in, void *ctx, void *val, bool *found, const pj_event *ev, tl_error *err);
};
/* The packed key of a reg_no; false when it is not 16 digits (no contract can have it). */
bool pj_reg_no_key(const uint8_t *p, size_t n, uint64_t *key);
int pj_inst_ctable(pj_inst *in, pj_ctable *t, size_t vsize, size_t max_entries, void *ctx,
                   int (*step)(pj_inst *, void *, void *, bool *, const pj_event *, tl_error *));
/* The value of contract key (loaded on a miss), NULL when there is none. The pointer is valid
 * until the next get or create on t; changes to it need no further call. */
int pj_ctable_get(pj_inst *in, pj_ctable *t, uint64_t key, void **val, tl_error *err);
/* Sizes in's empty contract tables for up to n contracts (within their bound), at once:
 * a rebuild from record 0 of a log of n records. Growing there by doubling zeroed twice the
 * final size in fresh pages and rehashed every slot along the way (a quarter of a rebuild's
 * time went to the kernel clearing the huge pages). */
void pj_inst_ctables_reserve(pj_inst *in, uint64_t n);
/* Starts loading the slot where key's probe begins (see pj_def.prefetch). */
void pj_ctable_prefetch(const pj_ctable *t, uint64_t key);
/* A new contract (a registration: the sequencer refuses a second one): a zeroed value. */
int pj_ctable_create(pj_ctable *t, uint64_t key, void **val, tl_error *err);
/* Visits the records of stream with seq < in->next, decoded, in order: fn's nonzero return
 * stops the walk and is returned. */
int pj_inst_stream(pj_inst *in, const char *stream, size_t len,
                   int (*fn)(void *ctx, const pj_event *ev, tl_error *err), void *ctx, tl_error *err);

/* Every registered table, then def->flush / def->reset / freeing every registered table. */
int pj_inst_flush(pj_inst *in, tl_error *err);
void pj_inst_tables_reset(pj_inst *in);
void pj_inst_tables_free(pj_inst *in);
/* The entry of key (loading it from the store on a miss). *out is NULL when the key has no
 * value. The entry's value may be changed in place; then call pj_table_touch. */
int pj_table_get(pj_inst *in, pj_table *t, const void *key, size_t klen, pj_entry **out, tl_error *err);
/* Like get, but creates a zeroed value when absent (*created tells). */
int pj_table_upsert(pj_inst *in, pj_table *t, const void *key, size_t klen, pj_entry **out,
                    bool *created, tl_error *err);
/* A new entity the sequencer guarantees is not stored yet (a registration): a zeroed value,
 * without looking in the store. */
int pj_table_create(pj_inst *in, pj_table *t, const void *key, size_t klen, pj_entry **out, tl_error *err);
void pj_table_touch(pj_table *t, pj_entry *e);

/* ---------- reading views ---------- */

typedef struct pj_read {
    tl_views *v;
    pj_store *store;
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro;
    bool locked;
} pj_read;

int pj_read_begin(pj_read *rd, tl_views *v, tl_error *err);
void pj_read_end(pj_read *rd);
/* The live generation of def: its prefix and position. TL_ESTATE "view.rebuilding" when
 * the stored version is not the code's (a rebuild is under way) or nothing is built yet. */
int pj_read_proj(pj_read *rd, const pj_def *def, uint8_t prefix[PJ_PREFIX_BYTES], uint64_t *pos,
                 tl_error *err);
/* Point read of prefix || sub: 0, TL_ENOTFOUND or an error. */
int pj_read_get(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], const uint8_t *sub, size_t sublen,
                tl_buf *out, tl_error *err);
/* An iterator bounded to keys starting with prefix || sub (the caller destroys it;
 * bound must outlive it: at least PJ_KEY_BYTES_MAX bytes). */
rocksdb_iterator_t *pj_read_iter(pj_read *rd, const uint8_t prefix[PJ_PREFIX_BYTES], const uint8_t *sub,
                                 size_t sublen, uint8_t *bound, rocksdb_readoptions_t **ro_out);
int pj_iter_done(rocksdb_iterator_t *it, rocksdb_readoptions_t *ro, tl_error *err);

/* ---------- the engine (engine.c) ---------- */

pj_store *pj_views_store(tl_views *v);
tl_ledger *pj_views_ledger(tl_views *v);
uint64_t pj_views_target_fen(tl_views *v);
int pj_views_target_year(tl_views *v);

/* ---------- the folds ---------- */

extern const pj_def pj_def_turnover;
extern const pj_def pj_def_institutions;
extern const pj_def pj_def_funds;
extern const pj_def pj_def_catalogue;

/* Turnover rows by year (national, no other dimension), for targets: years[i] total. */
typedef struct pj_year_total {
    int year;
    int64_t contracts, total_fen, tech_fen;
} pj_year_total;
int pj_turnover_years(pj_read *rd, uint32_t as_of_day, pj_year_total *out, size_t cap, size_t *n,
                      uint64_t *pos, tl_error *err);

/* ---------- JSON helpers (render.c) ---------- */

/* num / den as a decimal string with `places` decimals (truncated); "" when den == 0. */
void pj_ratio_str(char *out, size_t cap, uint64_t num, uint64_t den, unsigned places);
/* floor(num * 10^6 / den), saturating; 0 when den == 0. */
uint64_t pj_ppm(uint64_t num, uint64_t den);
json_t *pj_json_strn(const void *p, size_t len);
/* The MessagePack value at node i as JSON (bin as base64). */
json_t *pj_mp_to_json(const tl_mp_doc *doc, uint32_t i);
int pj_nomem(tl_error *err);
uint64_t pj_mono_ns(void);

#endif
