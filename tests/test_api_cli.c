/* `techledger submit` and `techledger get`, against a ledger directory and against a server:
 * one JSON line per envelope in input order, exit codes, errors naming rule and field. */
#include "http_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

typedef struct run_result {
    int code;
    char out[1 << 16];
    size_t lines;
    json_t *line[64];
} run_result;

/* Runs "techledger ARGS" (a shell fragment), capturing stdout and parsing each line as JSON. */
static void run(run_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run(run_result *r, const char *fmt, ...)
{
    char args[4096], cmd[4600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", TL_TECHLEDGER_BIN, args);
    memset(r, 0, sizeof *r);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    for (char *line = r->out, *nl; (nl = strchr(line, '\n')) != NULL && r->lines < 64; line = nl + 1) {
        json_error_t jerr;
        r->line[r->lines] = json_loadb(line, (size_t)(nl - line), 0, &jerr);
        if (r->line[r->lines] == NULL)
            fail_msg("not a JSON line from `techledger %s`: %.*s", args, (int)(nl - line), line);
        r->lines++;
    }
}

static void run_free(run_result *r)
{
    for (size_t i = 0; i < r->lines; i++)
        json_decref(r->line[i]);
    r->lines = 0;
}

static const char *str(const json_t *j, const char *key) { return json_string_value(json_object_get(j, key)); }

static void write_file(const char *path, const tl_buf *parts, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fwrite(parts[i].data, 1, parts[i].len, f), parts[i].len);
    fclose(f);
}

/* Envelopes: [0] register a contract, [1] amend it, [2] another contract with a bad signature. */
static void make_envelopes(tl_test_ledger *t, tl_buf env[3], const char *reg)
{
    char json[2048];
    tl_test_contract_json(json, sizeof json, reg, 1000, 500, "2019-05-06");
    th_envelope(&env[0], &t->registry, json);
    snprintf(json, sizeof json,
             "{\"type\":\"contract.amended\",\"stream\":\"contract/%s\",\"data\":{\"total_fen\":900,\"tech_fen\":400,"
             "\"amended_on\":\"2019-06-01\",\"reason\":\"less\"}}",
             reg);
    th_envelope(&env[1], &t->registry, json);
    char reg2[17];
    snprintf(reg2, sizeof reg2, "%.15s9", reg);
    tl_test_contract_json(json, sizeof json, reg2, 1000, 500, "2019-05-06");
    th_envelope(&env[2], &t->registry, json);
    env[2].data[env[2].len - 1] ^= 1;
}

static void check_results(run_result *r, uint64_t first_seq, const char *bad_input)
{
    assert_int_equal(r->lines, 3);
    assert_string_equal(str(r->line[0], "status"), "created");
    assert_int_equal(json_integer_value(json_object_get(r->line[0], "seq")), first_seq);
    assert_string_equal(str(r->line[1], "status"), "created");
    assert_int_equal(json_integer_value(json_object_get(r->line[1], "version")), 2);
    assert_string_equal(str(r->line[2], "status"), "rejected");
    assert_string_equal(str(r->line[2], "error"), "signature.invalid");
    assert_string_equal(str(r->line[2], "path"), "sig");
    assert_non_null(strstr(str(r->line[2], "input"), bad_input));
}

static void test_submit_and_get_directory(void **state)
{
    (void)state;
    tl_test_ledger t;
    tl_test_ledger_create(&t, "api-cli");
    uint64_t size = tl_ledger_size(t.l);
    tl_buf env[3];
    make_envelopes(&t, env, "2019000000000101");
    tl_ledger_close(t.l);
    t.l = NULL;
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/a.mp", t.dir);
    snprintf(b, sizeof b, "%s/b.mp", t.dir);
    write_file(a, env, 2); /* two envelopes one after another */
    write_file(b, &env[2], 1);
    run_result r;
    run(&r, "submit %s %s %s", t.dir, a, b);
    assert_int_equal(r.code, 1); /* one rejected */
    check_results(&r, size, "b.mp#0");
    run_free(&r);
    /* again, from standard input: duplicates, nothing new */
    run(&r, "submit %s < %s", t.dir, a);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.lines, 2);
    assert_string_equal(str(r.line[0], "status"), "duplicate");
    assert_int_equal(json_integer_value(json_object_get(r.line[0], "seq")), size);
    run_free(&r);
    /* truncated input is a rejection naming the rule */
    FILE *f = fopen(b, "wb");
    fwrite(env[0].data, 1, env[0].len - 3, f);
    fclose(f);
    run(&r, "submit --quiet %s %s", t.dir, b);
    assert_int_equal(r.code, 1);
    assert_int_equal(r.lines, 1);
    assert_string_equal(str(r.line[0], "error"), "canonical.truncated");
    run_free(&r);

    /* get: one record, a stream, proofs, and what is not there */
    run(&r, "get %s %llu --proof %llu", t.dir, (unsigned long long)size, (unsigned long long)(size + 2));
    assert_int_equal(r.code, 0);
    assert_int_equal(r.lines, 1);
    assert_string_equal(str(r.line[0], "type"), "contract.registered");
    assert_non_null(json_object_get(r.line[0], "proof"));
    run_free(&r);
    run(&r, "get %s --stream contract/2019000000000101", t.dir);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.lines, 2);
    assert_string_equal(str(r.line[1], "type"), "contract.amended");
    run_free(&r);
    run(&r, "get %s 99999", t.dir);
    assert_int_equal(r.code, 1);
    run(&r, "get %s --stream contract/0000000000000000", t.dir);
    assert_int_equal(r.code, 1);
    run(&r, "get %s --stream Bad!", t.dir);
    assert_int_equal(r.code, 2);
    run(&r, "get %s", t.dir);
    assert_int_equal(r.code, 2);
    run(&r, "get %s/missing 0", t.dir);
    assert_int_equal(r.code, 3);
    run(&r, "submit --batch 0 %s %s", t.dir, a);
    assert_int_equal(r.code, 2);
    run(&r, "submit %s %s/missing.mp", t.dir, t.dir);
    assert_int_equal(r.code, 3);
    for (int i = 0; i < 3; i++)
        tl_buf_free(&env[i]);
    tl_test_ledger_reopen(&t);
    tl_test_ledger_destroy(&t);
}

static void test_submit_and_get_server(void **state)
{
    (void)state;
    th_server s;
    th_start(&s, "api-cli-srv");
    uint64_t size = tl_ledger_size(s.t.l);
    tl_buf env[3];
    make_envelopes(&s.t, env, "2019000000000201");
    char a[600];
    snprintf(a, sizeof a, "%s/a.mp", s.t.dir);
    write_file(a, env, 3);
    run_result r;
    /* batches of 2: the first request carries [register, amend], the second the bad one */
    run(&r, "submit --server http://127.0.0.1:%u --batch 2 %s", (unsigned)s.port, a);
    assert_int_equal(r.code, 1);
    check_results(&r, size, "a.mp#2");
    run_free(&r);
    run(&r, "submit --server http://127.0.0.1:%u --batch 1 %s", (unsigned)s.port, a);
    assert_int_equal(r.code, 1);
    assert_string_equal(str(r.line[0], "status"), "duplicate");
    assert_string_equal(str(r.line[2], "error"), "signature.invalid");
    run_free(&r);

    run(&r, "get --server http://127.0.0.1:%u %llu", (unsigned)s.port, (unsigned long long)size);
    assert_int_equal(r.code, 0);
    assert_string_equal(str(r.line[0], "stream"), "contract/2019000000000201");
    run_free(&r);
    run(&r, "get --server http://127.0.0.1:%u --stream contract/2019000000000201 --proof %llu", (unsigned)s.port,
        (unsigned long long)tl_ledger_size(s.t.l));
    assert_int_equal(r.code, 0);
    assert_int_equal(r.lines, 2);
    assert_non_null(json_object_get(r.line[1], "proof"));
    run_free(&r);
    run(&r, "get --server http://127.0.0.1:%u 99999", (unsigned)s.port);
    assert_int_equal(r.code, 1);
    /* the directory of a served ledger can still be read */
    run(&r, "get %s %llu", s.t.dir, (unsigned long long)size);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.lines, 1);
    run_free(&r);
    /* a token shows what the public may not see */
    tl_buf sec;
    th_envelope(&sec, &s.t.registry,
                "{\"type\":\"achievement.registered\",\"stream\":\"achievement/hidden\",\"data\":{\"id\":\"hidden\","
                "\"title\":\"Hidden\",\"owner\":\"tsinghua\",\"field\":\"nuclear\",\"fiscal_funded\":false,"
                "\"confidentiality\":\"state_secret\"}}");
    th_resp hr;
    th_post(s.port, sec.data, sec.len, &hr);
    assert_int_equal(hr.status, 201);
    th_resp_free(&hr);
    tl_buf_free(&sec);
    run(&r, "get --server http://127.0.0.1:%u --stream achievement/hidden", (unsigned)s.port);
    assert_int_equal(r.code, 0);
    assert_true(json_is_true(json_object_get(r.line[0], "redacted")));
    run_free(&r);
    run(&r, "get --server http://127.0.0.1:%u --stream achievement/hidden --token %s", (unsigned)s.port,
        TH_AUDITOR_TOKEN);
    assert_int_equal(r.code, 0);
    assert_string_equal(str(r.line[0], "type"), "achievement.registered");
    run_free(&r);
    for (int i = 0; i < 3; i++)
        tl_buf_free(&env[i]);
    unsigned port = s.port;
    th_stop(&s);
    /* nobody listening any more */
    run(&r, "submit --server http://127.0.0.1:%u %s", port, a);
    assert_int_equal(r.code, 3);
    run(&r, "get --server http://127.0.0.1:1 0");
    assert_int_equal(r.code, 3);
    run(&r, "get --server ftp://x 0");
    assert_int_equal(r.code, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_and_get_directory),
        cmocka_unit_test(test_submit_and_get_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
