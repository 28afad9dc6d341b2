#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
