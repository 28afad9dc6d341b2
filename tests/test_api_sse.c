/* GET /v1/subscribe: server-sent events that catch up from a seq and then follow the log live. */
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_server S;

static int setup(void **state)
{
    (void)state;
    th_start(&S, "api-sse");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_stop(&S);
    return 0;
}

static uint64_t post_contract(int n)
{
    char json[2048], reg[17];
    snprintf(reg, sizeof reg, "2022%012d", n);
    tl_test_contract_json(json, sizeof json, reg, 1000, 500, "2022-03-04");
    tl_buf env;
    th_envelope(&env, &S.t.registry, json);
    th_resp r;
    th_post(S.port, env.data, env.len, &r);
    if (r.status != 201)
        fail_msg("expected 201, got %d: %s", r.status, r.body);
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(r.json, "seq"));
    th_resp_free(&r);
    tl_buf_free(&env);
    return seq;
}

/* The next record event: checks its id against the JSON's seq and returns the JSON. */
static json_t *next_record(th_sse *s, uint64_t expect_seq)
{
    static char data[1 << 16];
    uint64_t id;
    if (!th_sse_next(s, data, sizeof data, &id, 10000))
        fail_msg("no event for seq %llu", (unsigned long long)expect_seq);
    json_error_t jerr;
    json_t *j = json_loads(data, 0, &jerr);
    if (j == NULL)
        fail_msg("event data is not JSON: %s", data);
    assert_int_equal(id, expect_seq);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), expect_seq);
    return j;
}

static void test_follows_events_appended_after_connecting(void **state)
{
    (void)state;
    post_contract(1);
    uint64_t size = tl_ledger_size(S.t.l);
    char path[64];
    snprintf(path, sizeof path, "/v1/subscribe?after=%llu", (unsigned long long)(size - 1));
    th_sse *s = th_sse_open(S.port, path, NULL);
    uint64_t seqs[3];
    for (int i = 0; i < 3; i++)
        seqs[i] = post_contract(10 + i);
    for (int i = 0; i < 3; i++) {
        json_t *j = next_record(s, seqs[i]);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "contract.registered");
        char stream[64];
        snprintf(stream, sizeof stream, "contract/2022%012d", 10 + i);
        assert_string_equal(json_string_value(json_object_get(j, "stream")), stream);
        json_decref(j);
    }
    th_sse_close(s);
}

static void test_catches_up_then_follows(void **state)
{
    (void)state;
    uint64_t size = tl_ledger_size(S.t.l);
    th_sse *s = th_sse_open(S.port, "/v1/subscribe?after=0", NULL);
    for (uint64_t seq = 1; seq < size; seq++)
        json_decref(next_record(s, seq));
    uint64_t live = post_contract(20);
    json_decref(next_record(s, live));
    th_sse_close(s);
    /* a browser reconnecting with Last-Event-ID resumes after it */
    s = th_sse_open(S.port, "/v1/subscribe", "Last-Event-ID: 2");
    json_decref(next_record(s, 3));
    th_sse_close(s);
}

static void test_without_after_only_new_records(void **state)
{
    (void)state;
    th_sse *s = th_sse_open(S.port, "/v1/subscribe", NULL);
    uint64_t seq = post_contract(30);
    json_decref(next_record(s, seq));
    th_sse_close(s);
}

static void test_stop_ends_streams(void **state)
{
    (void)state;
    th_sse *s = th_sse_open(S.port, "/v1/subscribe", NULL);
    tl_server_stop(S.srv);
    tl_server_wait(S.srv);
    char data[256];
    uint64_t id;
    assert_false(th_sse_next(s, data, sizeof data, &id, 5000));
    th_sse_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follows_events_appended_after_connecting),
        cmocka_unit_test(test_catches_up_then_follows),
        cmocka_unit_test(test_without_after_only_new_records),
        cmocka_unit_test(test_stop_ends_streams),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
