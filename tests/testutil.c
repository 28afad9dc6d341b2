#include "testutil.h"

#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tl_checkpoint.h"
#include "tl_note.h"
#include "tl_schema.h"
#include "tl_verify.h"

char *tl_test_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    size_t n = strlen(base) + strlen(tag) + 32;
    char *path = malloc(n);
    assert_non_null(path);
    snprintf(path, n, "%s/tl-%s-XXXXXX", base, tag);
    assert_non_null(mkdtemp(path));
    return path;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tl_test_rmdir(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tl_test_envelope(tl_buf *env, const tl_keypair *kp, const char *json)
{
    json_error_t jerr;
    json_t *ev = json_loads(json, 0, &jerr);
    if (ev == NULL)
        fail_msg("bad test JSON (%s): %s", jerr.text, json);
    tl_buf_init(env);
    tl_error err;
    tl_error_clear(&err);
    if (tl_json_envelope(env, ev, kp, now_ms(), &err) != 0)
        fail_msg("cannot build envelope: %s at %s: %s", err.rule, err.path, err.msg);
    json_decref(ev);
}

int tl_test_append(tl_ledger *l, const tl_keypair *kp, const char *json, tl_append_result *res)
{
    tl_buf env;
    tl_test_envelope(&env, kp, json);
    int rc = tl_ledger_append(l, env.data, env.len, res);
    tl_buf_free(&env);
    return rc;
}

static void must_append(tl_ledger *l, const tl_keypair *kp, const char *json)
{
    tl_append_result res;
    if (tl_test_append(l, kp, json, &res) != 0)
        fail_msg("append failed: %s at %s: %s\n%s", res.err.rule, res.err.path, res.err.msg, json);
}

void tl_test_ledger_create(tl_test_ledger *t, const char *tag)
{
    assert_int_equal(tl_crypto_init(), 0);
    memset(t, 0, sizeof *t);
    t->dir = tl_test_tmpdir(tag);
    tl_keypair_generate(&t->admin);
    tl_keypair_generate(&t->registry);
    tl_error err;
    tl_error_clear(&err);
    if (tl_ledger_create(t->dir, "test.example/ledger", &t->admin, NULL, &err) != 0)
        fail_msg("create: %s: %s", err.rule, err.msg);
    if (tl_ledger_open(&t->l, t->dir, NULL, &err) != 0)
        fail_msg("open: %s: %s", err.rule, err.msg);
    char hex[65], json[1024];
    tl_hex_encode(hex, t->registry.pk, 32);
    snprintf(json, sizeof json,
             "{\"type\":\"participant.registered\",\"stream\":\"participant/registry-bj\",\"data\":{"
             "\"id\":\"registry-bj\",\"name\":\"北京技术市场管理办公室\",\"kind\":\"registry\","
             "\"region\":\"110000\",\"roles\":[\"registry\"],\"keys\":[\"%s\"]}}",
             hex);
    must_append(t->l, &t->admin, json);
    must_append(t->l, &t->admin,
                "{\"type\":\"participant.registered\",\"stream\":\"participant/tsinghua\",\"data\":{"
                "\"id\":\"tsinghua\",\"name\":\"清华大学\",\"kind\":\"university\",\"region\":\"110108\","
                "\"roles\":[\"member\"],\"keys\":[]}}");
    must_append(t->l, &t->admin,
                "{\"type\":\"participant.registered\",\"stream\":\"participant/acme\",\"data\":{"
                "\"id\":\"acme\",\"name\":\"Acme 科技有限公司\",\"kind\":\"enterprise\",\"region\":\"310000\","
                "\"roles\":[\"member\"],\"keys\":[]}}");
}

void tl_test_ledger_reopen(tl_test_ledger *t)
{
    tl_ledger_close(t->l);
    t->l = NULL;
    tl_error err;
    if (tl_ledger_open(&t->l, t->dir, NULL, &err) != 0)
        fail_msg("reopen: %s: %s", err.rule, err.msg);
}

void tl_test_ledger_destroy(tl_test_ledger *t)
{
    tl_ledger_close(t->l);
    tl_test_rmdir(t->dir);
    free(t->dir);
    memset(t, 0, sizeof *t);
}

void tl_test_contract_json(char *out, size_t cap, const char *reg_no, unsigned long long total_fen,
                           unsigned long long tech_fen, const char *registered_on)
{
    snprintf(out, cap,
             "{\"type\":\"contract.registered\",\"stream\":\"contract/%s\",\"data\":{"
             "\"reg_no\":\"%s\",\"class\":\"transfer\",\"subtype\":\"patent\",\"seller\":\"tsinghua\","
             "\"buyer\":\"acme\",\"seller_region\":\"110108\",\"buyer_region\":\"310000\","
             "\"field\":\"electronic_information\",\"signed_on\":\"%s\",\"registered_on\":\"%s\","
             "\"total_fen\":%llu,\"tech_fen\":%llu}}",
             reg_no, reg_no, registered_on, registered_on, total_fen, tech_fen);
}

static int vsh(const char *dir, char *out, size_t cap, const char *fmt, va_list ap)
{
    char cmd[4096], full[8192];
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    if (dir != NULL)
        snprintf(full, sizeof full, "cd '%s' && %s 2>&1", dir, cmd);
    else
        snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tl_test_sh(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vsh(NULL, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

int tl_test_sh_in(const char *dir, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vsh(dir, out, cap, fmt, ap);
    va_end(ap);
    return rc;
}

typedef struct submit_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t pending;
    tl_test_submitted *out;
} submit_wait;

static void on_submitted(void *ctx, const tl_append_result *res)
{
    submit_wait *w = ctx;
    pthread_mutex_lock(&w->mu);
    if (res->status == TL_APPEND_CREATED) {
        w->out->created++;
    } else if (res->status == TL_APPEND_DUPLICATE) {
        w->out->duplicate++;
    } else {
        w->out->rejected++;
        snprintf(w->out->why, sizeof w->out->why, "%s at %s: %s", res->err.rule, res->err.path, res->err.msg);
    }
    w->pending--;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void tl_test_submit_all(tl_ledger *l, const tl_buf *envs, size_t n, tl_test_submitted *out)
{
    memset(out, 0, sizeof *out);
    submit_wait w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, out};
    for (size_t i = 0; i < n; i++) {
        tl_event ev;
        tl_error err;
        if (tl_event_prepare(&ev, envs[i].data, envs[i].len, &err) != 0)
            fail_msg("prepare: %s at %s: %s", err.rule, err.path, err.msg);
        pthread_mutex_lock(&w.mu);
        w.pending++;
        pthread_mutex_unlock(&w.mu);
        for (;;) {
            int rc = tl_ledger_submit(l, &ev, on_submitted, &w, &err);
            if (rc == 0)
                break;
            if (rc != TL_ETOOBIG)
                fail_msg("submit: %s: %s", err.rule, err.msg);
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_lock(&w.mu);
    while (w.pending > 0)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

tl_keypair tl_test_key(uint8_t b)
{
    uint8_t seed[TL_SEED_BYTES];
    memset(seed, b, sizeof seed);
    tl_keypair kp;
    tl_keypair_from_seed(&kp, seed);
    return kp;
}

tl_ledger *tl_test_example_ledger(const char *dir, uint32_t checkpoint_every, size_t count)
{
    assert_int_equal(tl_crypto_init(), 0);
    tl_keypair admin = tl_test_key(0x01);
    tl_ledger_options opt = {.checkpoint_every_records = checkpoint_every};
    tl_error err;
    tl_error_clear(&err);
    if (tl_ledger_create(dir, TL_SCHEMA_EXAMPLE_ORIGIN, &admin, &opt, &err) != 0)
        fail_msg("create: %s: %s", err.rule, err.msg);
    tl_ledger *l;
    if (tl_ledger_open(&l, dir, &opt, &err) != 0)
        fail_msg("open: %s: %s", err.rule, err.msg);
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    if (count == 0 || count > n)
        count = n;
    for (size_t i = 1; i < count; i++) { /* ex[0] is the genesis, written by create */
        char json[4096];
        snprintf(json, sizeof json, "{\"type\":\"%s\",\"stream\":\"%s\",\"data\":%s}", ex[i].type, ex[i].stream,
                 ex[i].data);
        tl_keypair kp = tl_test_key(ex[i].seed);
        tl_append_result res;
        if (tl_test_append(l, &kp, json, &res) != 0)
            fail_msg("example %zu (%s) refused: %s at %s: %s", i, ex[i].type, res.err.rule, res.err.path, res.err.msg);
    }
    return l;
}

void tl_test_export(const char *dir, const char *out, tl_bundle_summary *sum)
{
    tl_bundle_summary ignored;
    tl_ledger *l;
    tl_error err;
    assert_int_equal(tl_verify_open_ledger(&l, dir, &err), 0);
    if (tl_bundle_export(sum ? sum : &ignored, l, out, NULL, NULL, &err) != 0)
        fail_msg("export: %s: %s", err.rule, err.msg);
    tl_ledger_close(l);
}

void tl_test_naive_root(uint8_t out[TL_HASH_BYTES], const uint8_t (*leaves)[TL_HASH_BYTES], uint64_t n)
{
    if (n == 0) {
        tl_sha256(out, "", 0);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[0], TL_HASH_BYTES);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[TL_HASH_BYTES], r[TL_HASH_BYTES];
    tl_test_naive_root(l, leaves, k);
    tl_test_naive_root(r, leaves + k, n - k);
    tl_node_hash(out, l, r);
}

typedef struct log_leaves {
    uint8_t (*h)[TL_HASH_BYTES];
    uint64_t n, cap;
} log_leaves;

static int check_record(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    log_leaves *lv = ctx;
    tl_record r;
    tl_error err;
    if (tl_record_decode(&r, rec, len, &err) != 0)
        fail_msg("record %" PRIu64 " does not decode: %s: %s", seq, err.rule, err.msg);
    if (r.seq != seq || seq != lv->n)
        fail_msg("record %" PRIu64 " holds seq %" PRIu64 " (expected %" PRIu64 ")", seq, r.seq, lv->n);
    tl_event ev;
    if (tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err) != 0)
        fail_msg("record %" PRIu64 " has a damaged body: %s: %s", seq, err.rule, err.msg);
    if (!tl_event_verify(ev.sig, ev.body, ev.body_len, ev.key))
        fail_msg("record %" PRIu64 " carries a signature that does not verify", seq);
    tl_event_free(&ev);
    if (lv->n == lv->cap) {
        lv->cap = lv->cap ? 2 * lv->cap : 4096;
        lv->h = realloc(lv->h, lv->cap * sizeof *lv->h);
        assert_non_null(lv->h);
    }
    tl_leaf_hash(lv->h[lv->n++], rec, len);
    return 0;
}

typedef struct log_checkpoints {
    const tl_note_verifier *v;
    const log_leaves *lv;
    uint64_t checked_up_to;
    tl_test_log_check *out;
} log_checkpoints;

static int check_checkpoint(void *ctx, uint64_t size, const uint8_t *note, size_t len)
{
    log_checkpoints *c = ctx;
    if (size > c->out->newest)
        c->out->newest = size;
    if (size <= c->checked_up_to)
        return 0;
    tl_checkpoint cp;
    tl_error err;
    if (tl_checkpoint_open(&cp, (const char *)note, len, c->v, &err) != 0)
        fail_msg("checkpoint %" PRIu64 " does not verify: %s: %s", size, err.rule, err.msg);
    assert_int_equal(cp.size, size);
    if (size > c->lv->n)
        fail_msg("checkpoint at %" PRIu64 " is beyond the log's %" PRIu64 " records", size, c->lv->n);
    uint8_t root[TL_HASH_BYTES];
    tl_test_naive_root(root, (const uint8_t(*)[TL_HASH_BYTES])c->lv->h, size);
    if (memcmp(root, cp.root, TL_HASH_BYTES) != 0)
        fail_msg("checkpoint at %" PRIu64 " names a root that is not the records' root", size);
    c->out->checkpoints++;
    return 0;
}

void tl_test_check_log(tl_ledger *l, uint64_t checked_up_to, tl_test_log_check *out)
{
    memset(out, 0, sizeof *out);
    out->size = tl_ledger_size(l);
    tl_error err;
    log_leaves lv = {0};
    assert_int_equal(tl_ledger_scan(l, 0, out->size, check_record, &lv, &err), 0);
    assert_int_equal(lv.n, out->size);
    uint8_t mine[TL_HASH_BYTES], theirs[TL_HASH_BYTES];
    tl_test_naive_root(mine, (const uint8_t(*)[TL_HASH_BYTES])lv.h, out->size);
    assert_int_equal(tl_ledger_root(l, out->size, theirs, &err), 0);
    assert_memory_equal(mine, theirs, TL_HASH_BYTES);

    char vkey[TL_NOTE_VKEY_BYTES_MAX + 2];
    assert_int_equal(tl_ledger_vkey(l, vkey, sizeof vkey), 0);
    tl_note_verifier v;
    assert_int_equal(tl_note_vkey_parse(&v, vkey, strlen(vkey), &err), 0);
    log_checkpoints c = {.v = &v, .lv = &lv, .checked_up_to = checked_up_to, .out = out};
    assert_int_equal(tl_ledger_checkpoint_scan(l, check_checkpoint, &c, &err), 0);
    free(lv.h);
}
