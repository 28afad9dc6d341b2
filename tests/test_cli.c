/* The techledger command: keygen, init and sign as a user runs them, and their errors. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tl_event.h"

/* Runs a shell command in dir; returns its exit status and its combined output in out. */
static void test_keygen_init_sign(void **state)
{
    (void)state;
    char *dir = tl_test_tmpdir("cli");
    char out[8192];
    const char *bin = TL_TECHLEDGER_BIN;
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out, "%s keygen admin", bin), 0);
    struct stat st;
    char path[1024];
    snprintf(path, sizeof path, "%s/admin.key", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* keygen never overwrites */
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out, "%s keygen admin", bin), 3);
    assert_non_null(strstr(out, "keyfile.exists"));

    assert_int_equal(tl_test_sh_in(dir, out, sizeof out, "%s init L --origin cli.example/test --admin-key admin.key", bin), 0);
    assert_non_null(strstr(out, "cli.example/test+"));
    /* the vkey printed equals the file */
    snprintf(path, sizeof path, "%s/L/ledger.vkey", dir);
    uint8_t *vkey;
    size_t vlen;
    tl_error err;
    assert_int_equal(tl_file_read(path, 4096, &vkey, &vlen, &err), 0);
    vkey[vlen - 1] = '\0';
    assert_non_null(strstr(out, (char *)vkey));
    free(vkey);
    /* a second init refuses to touch the ledger */
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out, "%s init L --origin cli.example/test --admin-key admin.key", bin), 1);
    assert_non_null(strstr(out, "ledger.exists"));
    /* a bad origin is refused and names the rule */
    assert_int_not_equal(tl_test_sh_in(dir, out, sizeof out, "%s init M --origin 'has space' --admin-key admin.key", bin), 0);
    assert_non_null(strstr(out, "ledger.origin"));
    /* missing arguments are a usage error */
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out, "%s init L2", bin), 2);

    /* sign: one event gives one envelope that decodes and verifies */
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out,
                         "echo '{\"type\":\"participant.registered\",\"stream\":\"participant/p1\",\"data\":{\"id\":"
                         "\"p1\",\"name\":\"P\",\"kind\":\"enterprise\",\"region\":\"110000\",\"roles\":[\"member\"],"
                         "\"keys\":[]}}' | %s sign --key admin.key -o one.mp",
                         bin),
                     0);
    snprintf(path, sizeof path, "%s/one.mp", dir);
    uint8_t *env;
    size_t elen;
    assert_int_equal(tl_file_read(path, 1 << 20, &env, &elen, &err), 0);
    tl_event ev;
    assert_int_equal(tl_event_prepare(&ev, env, elen, &err), 0);
    assert_string_equal(ev.type, "participant.registered");
    tl_event_free(&ev);
    free(env);
    /* two events give a batch */
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out,
                         "printf '%%s\\n%%s\\n' '{\"type\":\"x.y\",\"stream\":\"a\",\"data\":{}}' "
                         "'{\"type\":\"x.z\",\"stream\":\"b\",\"data\":{}}' | %s sign --key admin.key -o two.mp",
                         bin),
                     0);
    snprintf(path, sizeof path, "%s/two.mp", dir);
    assert_int_equal(tl_file_read(path, 1 << 20, &env, &elen, &err), 0);
    tl_span *spans;
    size_t n;
    bool is_batch;
    assert_int_equal(tl_submission_split(&spans, &n, &is_batch, env, elen, &err), 0);
    assert_true(is_batch);
    assert_int_equal(n, 2);
    free(spans);
    free(env);
    /* bad JSON and floats are refused with a reason */
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out, "echo '{nope' | %s sign --key admin.key", bin), 1);
    assert_non_null(strstr(out, "invalid JSON"));
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out,
                         "echo '{\"type\":\"payment.received\",\"stream\":\"contract/1\",\"data\":{\"amount_fen\":1.5}}' | "
                         "%s sign --key admin.key",
                         bin),
                     1);
    assert_non_null(strstr(out, "json.real at data.amount_fen"));
    /* every command answers --help */
    assert_int_equal(tl_test_sh_in(dir, out, sizeof out, "%s --help", bin), 0);
    char *cmds = strdup(out);
    for (char *line = strtok(cmds, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char name[64];
        if (strncmp(line, "  ", 2) != 0 || sscanf(line, " %63s", name) != 1)
            continue;
        char sub[8192];
        if (tl_test_sh_in(dir, sub, sizeof sub, "%s %s --help", bin, name) != 0 || strstr(sub, "usage:") == NULL)
            fail_msg("'techledger %s --help' does not print usage:\n%s", name, sub);
    }
    free(cmds);
    tl_test_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_keygen_init_sign)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
