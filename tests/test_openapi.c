/* docs/openapi.yaml and the server agree: every path it documents is answered (never with
 * route.not_found), and the operations it lists exist. Paths are read simply: the lines of the
 * paths: section that look like "  /...:", and the method lines under each. */
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATHS_MAX 64

typedef struct doc_path {
    char path[256];
    bool get, post;
} doc_path;

static size_t read_paths(doc_path *out, size_t cap)
{
    char file[1024];
    snprintf(file, sizeof file, "%s/docs/openapi.yaml", TL_SOURCE_DIR);
    FILE *f = fopen(file, "r");
    if (f == NULL)
        fail_msg("cannot open %s", file);
    char line[1024];
    bool in_paths = false;
    size_t n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strcmp(line, "paths:\n") == 0) {
            in_paths = true;
            continue;
        }
        if (!in_paths)
            continue;
        if (line[0] != ' ' && line[0] != '\n')
            break; /* the next top-level key */
        size_t len = strlen(line);
        if (strncmp(line, "  /", 3) == 0 && len > 4 && line[len - 2] == ':') {
            assert_true(n < cap);
            memset(&out[n], 0, sizeof out[n]);
            snprintf(out[n].path, sizeof out[n].path, "%.*s", (int)(len - 4), line + 2);
            n++;
        } else if (n > 0 && strcmp(line, "    get:\n") == 0) {
            out[n - 1].get = true;
        } else if (n > 0 && strcmp(line, "    post:\n") == 0) {
            out[n - 1].post = true;
        }
    }
    fclose(f);
    return n;
}

/* Replaces {name} placeholders with values that exist in the test ledger. */
static void fill(char *out, size_t cap, const char *tmpl)
{
    static const struct {
        const char *name, *value;
    } vals[] = {{"{seq}", "1"},
                {"{stream}", "contract/2019000000000077"},
                {"{reg_no}", "2019000000000077"},
                {"{id}", "tsinghua"}};
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < cap;) {
        bool replaced = false;
        for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
            size_t k = strlen(vals[i].name);
            if (strncmp(p, vals[i].name, k) == 0) {
                o += (size_t)snprintf(out + o, cap - o, "%s", vals[i].value);
                p += k;
                replaced = true;
                break;
            }
        }
        if (!replaced)
            out[o++] = *p++;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static void test_every_documented_path_is_served(void **state)
{
    (void)state;
    th_server s;
    th_start(&s, "openapi");
    char json[2048];
    tl_test_contract_json(json, sizeof json, "2019000000000077", 1000, 600, "2019-08-01");
    tl_buf env;
    th_envelope(&env, &s.t.registry, json);
    /* the entity the path placeholders name */
    th_resp r;
    th_post(s.port, env.data, env.len, &r);
    assert_int_equal(r.status, 201);
    th_resp_free(&r);
    tl_error err;
    assert_int_equal(tl_views_sync(s.views, 0, 10000, &err), 0);

    doc_path paths[PATHS_MAX];
    size_t n = read_paths(paths, PATHS_MAX);
    assert_true(n >= 15);
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        char path[512];
        fill(path, sizeof path, paths[i].path);
        assert_true(paths[i].get || paths[i].post);
        if (paths[i].post) {
            assert_string_equal(path, "/v1/events");
            th_post(s.port, env.data, env.len, &r); /* the same event again: a duplicate */
            if (r.status != 200)
                fail_msg("POST %s: %d %s", path, r.status, r.body);
            th_resp_free(&r);
            checked++;
        }
        if (!paths[i].get)
            continue;
        if (strcmp(path, "/v1/subscribe") == 0) {
            th_sse *sse = th_sse_open(s.port, path, NULL); /* asserts 200 text/event-stream */
            th_sse_close(sse);
            checked++;
            continue;
        }
        th_get(s.port, path, &r);
        const char *rule = r.json ? json_string_value(json_object_get(r.json, "error")) : NULL;
        if (rule != NULL && strcmp(rule, "route.not_found") == 0)
            fail_msg("GET %s is documented but not served", path);
        /* Without parameters every documented GET succeeds, except those with required ones. */
        if (r.status != 200 && !(r.status == 400 && rule != NULL && strcmp(rule, "query.required") == 0))
            fail_msg("GET %s: %d %s", path, r.status, r.body);
        th_resp_free(&r);
        checked++;
    }
    assert_true(checked > n);
    /* and the check means something: an undocumented path is not served */
    th_get(s.port, "/v1/not-in-the-document", &r);
    th_assert_error(&r, 404, "route.not_found", "path");
    th_resp_free(&r);
    tl_buf_free(&env);
    th_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_documented_path_is_served),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
