/* `techledger bench`: a smoke run on tiny sizes (--quick) checks that every measurement runs
 * and that the report has its shape (never its numbers: timing is not asserted in tests), that
 * the bench cleans up after itself, and that bad command lines are refused with the rule. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_BYTES (1u << 20)

/* Runs a shell command with TMPDIR=tmp; returns its exit status, its stdout in out and its
 * stderr in err_out (either may be NULL). */
static int run(const char *tmp, char *out, char *err_out, const char *args)
{
    char cmd[4096], errfile[1024];
    snprintf(errfile, sizeof errfile, "%s.stderr", tmp);
    snprintf(cmd, sizeof cmd, "TMPDIR='%s' %s bench %s 2>'%s'", tmp, TL_TECHLEDGER_BIN, args, errfile);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *sink = out ? out : malloc(OUT_BYTES);
    assert_non_null(sink);
    size_t n = fread(sink, 1, OUT_BYTES - 1, p);
    sink[n] = '\0';
    if (out == NULL)
        free(sink);
    int st = pclose(p);
    if (err_out != NULL) {
        FILE *f = fopen(errfile, "r");
        assert_non_null(f);
        size_t m = fread(err_out, 1, OUT_BYTES - 1, f);
        err_out[m] = '\0';
        fclose(f);
    }
    unlink(errfile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t count_char(const char *s, size_t len, char c)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == c;
    return n;
}

/* True when some process still has path in its command line (a server left running). */
static bool process_mentions(const char *path)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    struct dirent *de;
    bool found = false;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char p[300], buf[8192];
        snprintf(p, sizeof p, "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(p, "r");
        if (f == NULL)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n] = '\0';
        found = strstr(buf, path) != NULL;
    }
    closedir(d);
    return found;
}

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    bool empty = true;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, ".."))
            empty = false;
    closedir(d);
    return empty;
}

static void test_quick_report(void **state)
{
    (void)state;
    char *tmp = tl_test_tmpdir("bench-tmp");
    char *outdir = tl_test_tmpdir("bench-out");
    /* PostgreSQL and nginx's workers run as unprivileged users: they must be able to enter */
    assert_int_equal(chmod(tmp, 0711), 0);
    char *out = malloc(OUT_BYTES), *err = malloc(OUT_BYTES);
    assert_non_null(out);
    assert_non_null(err);
    char args[2048];
    snprintf(args, sizeof args, "--quick --out '%s'", outdir);
    int code = run(tmp, out, err, args);
    if (code != 0)
        fail_msg("bench --quick exited %d\nstderr:\n%s", code, err);

    /* progress went to stderr, the report to stdout and to OUT/<date>-quick.md, the same bytes */
    assert_non_null(strstr(err, "bench: generating"));
    DIR *d = opendir(outdir);
    assert_non_null(d);
    struct dirent *de;
    char report[1024] = "";
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n == 19 && strcmp(de->d_name + 10, "-quick.md") == 0) /* YYYY-MM-DD-quick.md */
            snprintf(report, sizeof report, "%s/%s", outdir, de->d_name);
    }
    closedir(d);
    assert_true(report[0] != '\0');
    uint8_t *text;
    size_t len;
    tl_error e;
    assert_int_equal(tl_file_read(report, OUT_BYTES, &text, &len, &e), 0);
    assert_int_equal(len, strlen(out));
    assert_memory_equal(text, out, len);
    const char *t = (const char *)text;

    assert_true(strncmp(t, "# techledger benchmark, ", 24) == 0);
    assert_non_null(strstr(t, "NOT A MEASUREMENT"));
    assert_non_null(strstr(t, "load average"));
    assert_non_null(strstr(t, "| # | measure | result | baseline (same run) | ratio | target | status |"));
    /* every measurement has its row */
    static const char *const rows[] = {"| 1 | Ed25519 verify ceiling",
                                       "| 2a | durable ingest, bulk",
                                       "| 2b | durable ingest, one event per request",
                                       "| 2b | latency, one event per request",
                                       "| 3 | rebuild of every view",
                                       "| 4 | full audit of the bundle",
                                       "| 5 | view over HTTP: turnover",
                                       "| 5 | view over HTTP: one institution",
                                       "| 6 | inclusion proof, in-process",
                                       "| 6 | consistency proof, in-process",
                                       "| 6 | GET /v1/events/SEQ?proof=SIZE",
                                       "| 6 | GET /v1/proofs/consistency",
                                       "| 7 | server peak RSS",
                                       "| 7 | disk: DIR/db per record"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (strstr(t, rows[i]) == NULL)
            fail_msg("the report has no row '%s':\n%s", rows[i], t);
    /* the PostgreSQL comparison ran, or says why not */
    assert_true(strstr(t, "vs PostgreSQL") != NULL || strstr(t, "PostgreSQL baseline | | | | | skipped") != NULL);
    /* every row of the results table has seven cells, and its status is one of the known words */
    size_t table_rows = 0;
    const char *table = strstr(t, "| # | measure |");
    for (const char *line = table; line != NULL && *line == '|';
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        size_t ll = strcspn(line, "\n");
        table_rows++;
        if (count_char(line, ll, '|') != 8)
            fail_msg("a table row without seven cells: %.*s", (int)ll, line);
        if (table_rows <= 2)
            continue; /* header and rule */
        char row[2048];
        snprintf(row, sizeof row, "%.*s", (int)ll, line);
        assert_true(strstr(row, "| met |") || strstr(row, "| **MISSED** |") || strstr(row, "| info |") ||
                    strstr(row, "| met at this size") || strstr(row, "| not run |") || strstr(row, "| skipped"));
    }
    assert_true(table_rows >= 2 + sizeof rows / sizeof rows[0]);
    /* the commands behind the figures */
    assert_non_null(strstr(t, "serve "));
    assert_non_null(strstr(t, " --views off"));
    assert_non_null(strstr(t, " rebuild "));
    assert_non_null(strstr(t, " verify "));
    assert_non_null(strstr(t, " export "));
    /* how busy the machine was with other work, phase by phase */
    assert_non_null(strstr(t, "| phase | wall s | machine busy CPU-s |"));
    assert_non_null(strstr(t, "| ingest | "));
    assert_non_null(strstr(t, "Rate over each tenth of the events"));
    free(text);

    /* nothing left behind: no temporary directory, no server */
    assert_true(dir_is_empty(tmp));
    assert_false(process_mentions(tmp));

    tl_test_rmdir(tmp);
    tl_test_rmdir(outdir);
    free(tmp);
    free(outdir);
    free(out);
    free(err);
}

static void test_only_subset(void **state)
{
    (void)state;
    char *tmp = tl_test_tmpdir("bench-only");
    char *out = malloc(OUT_BYTES), *err = malloc(OUT_BYTES);
    assert_non_null(out);
    assert_non_null(err);
    int code = run(tmp, out, err, "--quick --only verify");
    if (code != 0)
        fail_msg("bench --quick --only verify exited %d\n%s", code, err);
    assert_non_null(strstr(out, "| 1 | Ed25519 verify ceiling"));
    assert_null(strstr(out, "| 2a |"));
    assert_null(strstr(out, "| 3 |"));
    assert_null(strstr(out, "| 7 |"));
    assert_true(dir_is_empty(tmp));
    tl_test_rmdir(tmp);
    free(tmp);
    free(out);
    free(err);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char *tmp = tl_test_tmpdir("bench-args");
    char *err = malloc(OUT_BYTES);
    assert_non_null(err);
    assert_int_equal(run(tmp, NULL, err, "--only nonsense"), 2);
    assert_non_null(strstr(err, "bench.only"));
    assert_non_null(strstr(err, "--only"));
    assert_non_null(strstr(err, "nonsense"));
    assert_int_equal(run(tmp, NULL, err, "--events 5"), 2);
    assert_non_null(strstr(err, "bench.events"));
    assert_int_equal(run(tmp, NULL, err, "--events many"), 2);
    assert_non_null(strstr(err, "bench.events"));
    assert_int_equal(run(tmp, NULL, err, "--quick --full"), 2);
    assert_non_null(strstr(err, "bench.size"));
    assert_int_equal(run(tmp, NULL, err, "--bogus"), 2);
    assert_int_equal(run(tmp, NULL, err, "extra"), 2);
    /* nothing was started or created for a refused command line */
    assert_true(dir_is_empty(tmp));
    char *out = malloc(OUT_BYTES);
    assert_non_null(out);
    assert_int_equal(run(tmp, out, NULL, "--help"), 0);
    assert_non_null(strstr(out, "usage: techledger bench"));
    assert_non_null(strstr(out, "--quick"));
    free(out);
    tl_test_rmdir(tmp);
    free(tmp);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_only_subset),
        cmocka_unit_test(test_quick_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
