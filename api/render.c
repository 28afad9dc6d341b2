/*
 * Records, proofs and errors as JSON, and the rule that decides what a public reader may see.
 *
 * Confidentiality is fixed when an entity is registered (achievement.registered always carries
 * it; contract.registered may, absent meaning public) and no later event changes it, so the
 * verdict for a stream can be cached for the life of the server.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "tl_json_event.h"
#include "tl_state.h"

/* Entries kept before the cache starts over (each is a stream name and one byte). */
#define SECRETS_CACHE_MAX 65536u

struct tl_api_secrets {
    pthread_mutex_t mu;
    tl_map *map;
};

tl_api_secrets *tl_api_secrets_new(void)
{
    tl_api_secrets *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->map = tl_map_new();
    if (s->map == NULL) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void tl_api_secrets_free(tl_api_secrets *s)
{
    if (s == NULL)
        return;
    tl_map_free(s->map);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int tl_api_status_for(int code)
{
    switch (code) {
    case TL_EINVAL:
    case TL_ESIG:
        return 400;
    case TL_EDENIED:
        return 403;
    case TL_ENOTFOUND:
        return 404;
    case TL_ECONFLICT:
        return 409;
    case TL_ETOOBIG:
        return 413;
    case TL_EREF:
        return 422;
    case TL_ESTATE:
    case TL_ENOMEM:
        return 503;
    case TL_ENOSPC:
        return 507;
    default:
        return 500;
    }
}

/* The confidentiality of a registration event: true when present and not "public". */
static bool registration_secret(const tl_event *ev)
{
    uint32_t c = tl_mp_map_get(&ev->doc, ev->data, "confidentiality");
    return c != 0 && !tl_mp_str_eq(&ev->doc, c, "public");
}

static bool is_registration(const tl_event *ev)
{
    return strcmp(ev->type, "contract.registered") == 0 || strcmp(ev->type, "achievement.registered") == 0;
}

typedef struct first_ctx {
    bool found;
    bool secret;
    int rc;
    tl_error *err;
} first_ctx;

static int first_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    (void)seq;
    first_ctx *f = ctx;
    tl_record r;
    tl_event ev;
    f->rc = tl_record_decode(&r, rec, len, f->err);
    if (f->rc == 0)
        f->rc = tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, f->err);
    if (f->rc != 0)
        return 1;
    f->found = true;
    f->secret = is_registration(&ev) && registration_secret(&ev);
    tl_event_free(&ev);
    return 1; /* only the first */
}

/* Is the entity registered on stream (len bytes) one the public may not see? */
static int stream_secret(bool *secret, tl_api_secrets *cache, tl_ledger *l, const char *stream, size_t len,
                         tl_error *err)
{
    if (cache != NULL) {
        pthread_mutex_lock(&cache->mu);
        size_t vlen = 0;
        const uint8_t *v = tl_map_get(cache->map, (const uint8_t *)stream, len, &vlen);
        bool hit = v != NULL && vlen == 1;
        if (hit)
            *secret = v[0] != 0;
        pthread_mutex_unlock(&cache->mu);
        if (hit)
            return 0;
    }
    first_ctx f = {.err = err};
    int rc = tl_ledger_stream_scan(l, stream, len, 0, 1, first_record, &f, err);
    if (f.rc != 0)
        return f.rc;
    if (rc < 0)
        return rc;
    *secret = f.found && f.secret;
    if (cache != NULL && f.found) {
        uint8_t b = *secret ? 1 : 0;
        pthread_mutex_lock(&cache->mu);
        if (tl_map_count(cache->map) >= SECRETS_CACHE_MAX)
            tl_map_clear(cache->map);
        if (tl_map_put(cache->map, (const uint8_t *)stream, len, &b, 1) != 0) {
            /* only a cache: the next lookup reads the stream again */
        }
        pthread_mutex_unlock(&cache->mu);
    }
    return 0;
}

int tl_api_event_secret(bool *secret, tl_api_secrets *cache, tl_ledger *l, const tl_event *ev, tl_error *err)
{
    *secret = false;
    if (is_registration(ev)) {
        *secret = registration_secret(ev);
        return 0;
    }
    if (strncmp(ev->stream, "contract/", 9) == 0)
        return stream_secret(secret, cache, l, ev->stream, ev->stream_len, err);
    if (strcmp(ev->type, "equity.recorded") == 0) {
        uint32_t a = tl_mp_map_get(&ev->doc, ev->data, "achievement");
        if (a == 0 || ev->doc.nodes[a].type != TL_MP_STR || ev->doc.nodes[a].v.s.len > TL_STREAM_BYTES_MAX - 12)
            return 0;
        char s[TL_STREAM_BYTES_MAX + 1];
        int n = snprintf(s, sizeof s, "achievement/%.*s", (int)ev->doc.nodes[a].v.s.len,
                         (const char *)ev->doc.nodes[a].v.s.ptr);
        return stream_secret(secret, cache, l, s, (size_t)n, err);
    }
    return 0;
}

static json_t *b64(const uint8_t *data, size_t len)
{
    size_t n = tl_base64_len(len);
    char stackbuf[128];
    char *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (buf == NULL)
        return NULL;
    tl_base64_encode(buf, data, len);
    json_t *s = json_string(buf);
    if (buf != stackbuf)
        free(buf);
    return s;
}

int tl_api_proof_json(json_t **out, tl_ledger *l, uint64_t seq, uint64_t size, const uint8_t leaf_hash[TL_HASH_BYTES],
                      tl_error *err)
{
    *out = NULL;
    tl_merkle_proof *p = malloc(sizeof *p);
    if (p == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    int rc = tl_ledger_inclusion_proof(l, seq, size, p, err);
    if (rc == 0) {
        json_t *hashes = json_array();
        for (size_t i = 0; hashes != NULL && i < p->n; i++)
            json_array_append_new(hashes, b64(p->hashes[i], TL_HASH_BYTES));
        *out = json_pack("{s:I,s:o,s:o}", "tree_size", (json_int_t)size, "leaf_hash", b64(leaf_hash, TL_HASH_BYTES),
                         "hashes", hashes);
        if (*out == NULL)
            rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    }
    free(p);
    return rc;
}

int tl_api_record_json(json_t **out, tl_ledger *l, tl_api_secrets *cache, tl_access access, const uint8_t *rec,
                       size_t len, uint64_t proof_size, tl_error *err)
{
    *out = NULL;
    tl_record r;
    int rc = tl_record_decode(&r, rec, len, err);
    if (rc != 0)
        return rc;
    tl_event ev;
    rc = tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, err);
    if (rc != 0)
        return rc;
    uint8_t leaf[TL_HASH_BYTES];
    tl_leaf_hash(leaf, rec, len);
    bool secret = false;
    if (access == TL_ACCESS_PUBLIC || access == TL_ACCESS_FUND_MANAGER)
        rc = tl_api_event_secret(&secret, cache, l, &ev, err);
    json_t *j = NULL;
    if (rc == 0 && secret) {
        j = json_pack("{s:I,s:b,s:o}", "seq", (json_int_t)r.seq, "redacted", 1, "leaf_hash", b64(leaf, TL_HASH_BYTES));
    } else if (rc == 0) {
        j = json_pack("{s:I,s:I,s:s,s:I,s:s,s:o,s:o,s:o,s:o}", "seq", (json_int_t)r.seq, "recorded",
                      (json_int_t)r.recorded_ms, "stream", ev.stream, "version", (json_int_t)r.version, "type", ev.type,
                      "leaf_hash", b64(leaf, TL_HASH_BYTES), "key", b64(r.key, TL_PUBKEY_BYTES), "record",
                      b64(rec, len), "event", tl_mp_to_json(&ev.doc, 0));
    }
    if (rc == 0 && j == NULL)
        rc = tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    if (rc == 0 && proof_size > 0) {
        json_t *proof;
        rc = tl_api_proof_json(&proof, l, r.seq, proof_size, leaf, err);
        if (rc == 0)
            json_object_set_new(j, "proof", proof);
    }
    tl_event_free(&ev);
    if (rc != 0) {
        json_decref(j);
        return rc;
    }
    *out = j;
    return 0;
}
