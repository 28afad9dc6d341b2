/* The view reply cache (api/views.c), end to end: a stored reply is never served after the view
 * changed, ETags and If-None-Match (304 only while the view is unchanged), access levels never
 * share a reply, equivalent queries share one, concurrent requests agree, and the size bound
 * evicts. A real server on a loopback port over a real ledger and views. */
#include "http_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_server S;

static int setup(void **state)
{
    (void)state;
    th_start(&S, "api-cache");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_stop(&S);
    return 0;
}

/* One GET on its own connection, raw, so that the reply's headers can be read. */
typedef struct raw_reply {
    int status;
    char etag[64]; /* "" when none */
    char *body;    /* points into text */
    char *text;
} raw_reply;

static void raw_get(raw_reply *out, const char *path, const char *token, const char *if_none_match)
{
    char req[2048];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n", path);
    if (token != NULL)
        n += snprintf(req + n, sizeof req - (size_t)n, "Authorization: Bearer %s\r\n", token);
    if (if_none_match != NULL)
        n += snprintf(req + n, sizeof req - (size_t)n, "If-None-Match: %s\r\n", if_none_match);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    memset(out, 0, sizeof *out);
    out->text = th_raw(S.port, req, (size_t)n, 10000, &out->status);
    assert_non_null(out->text);
    char *end = strstr(out->text, "\r\n\r\n");
    assert_non_null(end);
    *end = '\0';
    out->body = end + 4;
    char *h = strstr(out->text, "\r\nETag: ");
    if (h != NULL) {
        h += 8;
        size_t len = strcspn(h, "\r");
        assert_true(len < sizeof out->etag);
        memcpy(out->etag, h, len);
        out->etag[len] = '\0';
    }
}

static void raw_free(raw_reply *r) { free(r->text); }

static void post_event(const tl_keypair *kp, const char *json)
{
    tl_buf env;
    th_envelope(&env, kp, json);
    th_resp r;
    th_post(S.port, env.data, env.len, &r);
    if (r.status != 201)
        fail_msg("expected 201, got %d: %s", r.status, r.body);
    th_resp_free(&r);
    tl_buf_free(&env);
    tl_error err;
    assert_int_equal(tl_views_sync(S.views, 0, 10000, &err), 0);
}

static void post_contract(const char *reg_no, unsigned long long total, const char *confidentiality)
{
    char json[2048];
    tl_test_contract_json(json, sizeof json, reg_no, total, total / 2, "2019-05-06");
    if (confidentiality != NULL) {
        char *close = strrchr(json, '}');
        *(close - 1) = '\0'; /* drop the data object's closing brace */
        char with[2200];
        snprintf(with, sizeof with, "%s,\"confidentiality\":\"%s\"}}", json, confidentiality);
        post_event(&S.t.registry, with);
    } else {
        post_event(&S.t.registry, json);
    }
}

static uint64_t metric(const char *name)
{
    th_resp r;
    th_get(S.port, "/metrics", &r);
    assert_int_equal(r.status, 200);
    char line[128]; /* a sample line, not the HELP text that names it */
    snprintf(line, sizeof line, "\n%s", name);
    const char *p = strstr(r.body, line);
    if (p == NULL)
        fail_msg("no metric %s", name);
    uint64_t v = strtoull(p + strlen(line), NULL, 10);
    th_resp_free(&r);
    return v;
}

#define HITS "techledger_view_cache_requests_total{result=\"hit\"} "
#define MISSES "techledger_view_cache_requests_total{result=\"miss\"} "
#define NOT_MODIFIED "techledger_view_cache_requests_total{result=\"not_modified\"} "
#define EVICTIONS "techledger_view_cache_evictions_total "

/* Query, change the view, query again: the new reply, a new ETag, and 304 only for the ETag of
 * the current state. */
static void test_changed_view_is_never_served_stale(void **state)
{
    (void)state;
    post_contract("2019000000000101", 1000000, NULL);
    static const char *const path = "/v1/views/turnover?by=year";
    raw_reply a, b, c;
    raw_get(&a, path, NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_true(a.etag[0] == '"');
    uint64_t hits = metric(HITS);
    raw_get(&b, path, NULL, NULL); /* from the cache: the same bytes and tag */
    assert_int_equal(b.status, 200);
    assert_string_equal(b.body, a.body);
    assert_string_equal(b.etag, a.etag);
    assert_true(metric(HITS) > hits);
    raw_free(&b);
    raw_get(&b, path, NULL, a.etag);
    assert_int_equal(b.status, 304);
    assert_string_equal(b.etag, a.etag);
    assert_string_equal(b.body, "");
    raw_free(&b);
    char weak[96];
    snprintf(weak, sizeof weak, "\"0000000000000000\", W/%s", a.etag);
    raw_get(&b, path, NULL, weak); /* a list, and the weak form, compare too */
    assert_int_equal(b.status, 304);
    raw_free(&b);
    raw_get(&b, path, NULL, "\"0000000000000000\"");
    assert_int_equal(b.status, 200);
    assert_string_equal(b.body, a.body);
    raw_free(&b);

    /* the view changes: the next reply shows it at once */
    post_contract("2019000000000102", 2500000, NULL);
    raw_get(&b, path, NULL, NULL);
    assert_int_equal(b.status, 200);
    assert_string_not_equal(b.body, a.body);
    assert_string_not_equal(b.etag, a.etag);
    json_error_t jerr;
    json_t *ja = json_loads(a.body, 0, &jerr), *jb = json_loads(b.body, 0, &jerr);
    assert_non_null(ja);
    assert_non_null(jb);
    json_int_t ta = json_integer_value(json_object_get(json_array_get(json_object_get(ja, "rows"), 0), "total_fen"));
    json_int_t tb = json_integer_value(json_object_get(json_array_get(json_object_get(jb, "rows"), 0), "total_fen"));
    assert_int_equal(tb - ta, 2500000);
    json_decref(ja);
    json_decref(jb);
    raw_get(&c, path, NULL, a.etag); /* the old tag no longer matches */
    assert_int_equal(c.status, 200);
    assert_string_equal(c.body, b.body);
    assert_string_equal(c.etag, b.etag);
    raw_free(&c);
    raw_get(&c, path, NULL, b.etag);
    assert_int_equal(c.status, 304);
    raw_free(&c);

    /* any record moves the projections, so even an unrelated event ends the tag's validity */
    post_event(&S.t.admin, "{\"type\":\"programme.training_completed\",\"stream\":\"programme/t-1\",\"data\":"
                           "{\"id\":\"t-1\",\"name\":\"course\",\"dated\":\"2019-06-01\",\"count\":3}}");
    raw_get(&c, path, NULL, b.etag);
    assert_int_equal(c.status, 200);
    assert_string_not_equal(c.etag, b.etag);
    raw_free(&c);

    /* CSV is a different reply of the same view: its own tag */
    raw_get(&c, "/v1/views/turnover?by=year&format=csv", NULL, NULL);
    assert_int_equal(c.status, 200);
    assert_true(strncmp(c.body, "year,", 5) == 0);
    raw_reply d;
    raw_get(&d, "/v1/views/turnover?by=year", NULL, c.etag);
    assert_int_equal(d.status, 200);
    raw_free(&d);
    raw_free(&c);
    raw_free(&a);
    raw_free(&b);
}

/* A reply rendered for an auditor is never given to a public reader, in either order, and an
 * auditor's ETag does not make a public request 304. */
static void test_access_levels_never_share(void **state)
{
    (void)state;
    post_event(&S.t.registry,
               "{\"type\":\"achievement.registered\",\"stream\":\"achievement/secret-alloy\",\"data\":{"
               "\"id\":\"secret-alloy\",\"title\":\"A secret alloy\",\"owner\":\"tsinghua\",\"field\":"
               "\"new_materials\",\"fiscal_funded\":true,\"confidentiality\":\"commercial_secret\"}}");
    post_contract("2019000000000201", 7777777, "state_secret");

    static const char *const paths[] = {"/v1/views/achievements", "/v1/views/institutions/tsinghua"};
    static const char *const secrets[] = {"A secret alloy", "7777777"};
    for (size_t i = 0; i < 2; i++) {
        /* the auditor first: its reply is in the cache when the public reader asks */
        raw_reply au, pub, again;
        raw_get(&au, paths[i], TH_AUDITOR_TOKEN, NULL);
        assert_int_equal(au.status, 200);
        if (i == 0)
            assert_non_null(strstr(au.body, secrets[i]));
        raw_get(&again, paths[i], TH_AUDITOR_TOKEN, NULL);
        assert_string_equal(again.body, au.body);
        raw_free(&again);
        raw_get(&pub, paths[i], NULL, NULL);
        assert_int_equal(pub.status, 200);
        assert_null(strstr(pub.body, "A secret alloy"));
        assert_string_not_equal(pub.body, au.body);
        assert_string_not_equal(pub.etag, au.etag);
        raw_get(&again, paths[i], NULL, au.etag);
        assert_int_equal(again.status, 200);
        assert_string_equal(again.body, pub.body);
        raw_free(&again);
        /* the public reader's tag means nothing to the auditor either */
        raw_get(&again, paths[i], TH_AUDITOR_TOKEN, pub.etag);
        assert_int_equal(again.status, 200);
        assert_string_equal(again.body, au.body);
        raw_free(&again);
        /* statistics sees everything as well, under its own key */
        raw_get(&again, paths[i], TH_STATS_TOKEN, au.etag);
        assert_int_equal(again.status, 200);
        raw_free(&again);
        raw_free(&au);
        raw_free(&pub);
    }
    /* the institution's figures: a public reader's leave the secret contract out */
    th_resp pr, ar;
    th_get(S.port, "/v1/views/institutions/tsinghua", &pr);
    th_get_auth(S.port, "/v1/views/institutions/tsinghua", TH_AUDITOR_TOKEN, &ar);
    json_int_t pt = json_integer_value(json_object_get(json_object_get(pr.json, "sold"), "total_fen"));
    json_int_t at = json_integer_value(json_object_get(json_object_get(ar.json, "sold"), "total_fen"));
    assert_int_equal(at - pt, 7777777);
    th_resp_free(&pr);
    th_resp_free(&ar);
}

/* Equivalent queries (parameter order, an explicit format=json) share one stored reply. */
static void test_equivalent_queries_share(void **state)
{
    (void)state;
    post_contract("2019000000000301", 300000, NULL);
    raw_reply a, b, c;
    raw_get(&a, "/v1/views/turnover?by=year,seller_province&year=2019", NULL, NULL);
    uint64_t misses = metric(MISSES);
    raw_get(&b, "/v1/views/turnover?year=2019&by=year,seller_province", NULL, NULL);
    raw_get(&c, "/v1/views/turnover?format=json&year=2019&by=year,seller_province", NULL, a.etag);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    assert_string_equal(b.body, a.body);
    assert_string_equal(b.etag, a.etag);
    assert_int_equal(c.status, 304);
    assert_int_equal(metric(MISSES), misses);
    raw_free(&a);
    raw_free(&b);
    raw_free(&c);
    /* errors are answered, never stored */
    th_resp r;
    for (int i = 0; i < 2; i++) {
        th_get(S.port, "/v1/views/institutions/nobody-at-all", &r);
        th_assert_error(&r, 404, "view.not_found", NULL);
        th_resp_free(&r);
    }
}

/* Many clients at once on one view: every reply is the same 200, rendered a handful of times. */
typedef struct reader_arg {
    int ok;
    char first[256];
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    tl_http_url url;
    tl_error err;
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%u", (unsigned)S.port);
    tl_http_client *c;
    if (tl_http_url_parse(&url, u, &err) != 0 || tl_http_client_open(&c, &url, 20000, &err) != 0)
        return NULL;
    tl_http_response resp;
    tl_http_response_init(&resp);
    for (int i = 0; i < 100; i++) {
        if (tl_http_request(c, "GET", "/v1/views/turnover?by=year,buyer_province", NULL, NULL, 0, &resp, &err) != 0 ||
            resp.status != 200)
            break;
        if (i == 0)
            snprintf(a->first, sizeof a->first, "%.*s", (int)resp.body.len, (const char *)resp.body.data);
        else if (strncmp(a->first, (const char *)resp.body.data, strlen(a->first)) != 0)
            break;
        a->ok++;
    }
    tl_http_response_free(&resp);
    tl_http_client_close(c);
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    post_contract("2019000000000401", 400000, NULL);
    uint64_t renders = metric("techledger_view_renders_total ");
    enum { N = 8 };
    pthread_t th[N];
    reader_arg args[N];
    memset(args, 0, sizeof args);
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &args[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(args[i].ok, 100);
        assert_string_equal(args[i].first, args[0].first);
    }
    /* the view did not change: one render, or one per loop that raced it */
    assert_true(metric("techledger_view_renders_total ") - renders <= 2);
}

/* A small bound: old replies are evicted, and every reply stays right. */
static void test_bound_evicts(void **state)
{
    (void)state;
    tl_error err;
    assert_int_equal(tl_views_sync(S.views, 0, 10000, &err), 0); /* the participants are in the views */
    tl_server_free(S.srv);
    tl_server_options o = {.listen = "127.0.0.1:0", .loops = 2, .workers = 2, .access_log_fd = -1,
                           .view_cache_bytes = 4096};
    if (tl_server_start(&S.srv, S.t.l, S.views, &o, &err) != 0)
        fail_msg("server: %s", err.msg);
    S.port = tl_server_port(S.srv);
    enum { N = 12 };
    static const char *const paths[N] = {
        "/v1/views/institutions/tsinghua", "/v1/views/institutions/acme",  "/v1/views/targets",
        "/v1/views/turnover?by=class",     "/v1/views/turnover?by=field",  "/v1/views/turnover?by=seller_kind",
        "/v1/views/turnover?by=year",      "/v1/views/turnover",           "/v1/views/turnover?by=buyer_province",
        "/v1/views/turnover?by=year,class", "/v1/views/funds",             "/v1/views/loans"};
    th_resp first[N], r;
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < N; i++) {
            th_get(S.port, paths[i], round == 0 ? &first[i] : &r);
            if (round == 0) {
                if (first[i].status != 200)
                    fail_msg("%s: %d %s", paths[i], first[i].status, first[i].body);
                continue;
            }
            assert_int_equal(r.status, 200);
            assert_string_equal(r.body, first[i].body);
            th_resp_free(&r);
        }
    for (size_t i = 0; i < N; i++)
        th_resp_free(&first[i]);
    assert_true(metric(EVICTIONS) > 0);
    assert_true(metric("techledger_view_cache_bytes ") <= 4096);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_changed_view_is_never_served_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_levels_never_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equivalent_queries_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound_evicts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
