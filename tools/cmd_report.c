/* techledger report DIR VIEW: a view as a table, CSV or JSON, straight from the ledger directory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tl_cmd.h"
#include "tl_views.h"

#define REPORT_TIMEOUT_S_DEFAULT 600u
#define REPORT_PARAMS_MAX 8

static const char report_help[] =
    "usage: techledger report DIR VIEW [options]\n\n"
    "Prints a view of the ledger in DIR. The views are brought up to date first (the\n"
    "projection state lives in DIR/views); when another process runs the projections\n"
    "(`techledger serve` or `techledger project`), its views are read as they stand.\n\n"
    "VIEW: turnover, funds, loans, contracts/<reg_no>, institutions/<id>, achievements, targets\n\n"
    "options:\n"
    "  --by DIMS        turnover: comma-separated dimensions: year, seller_province,\n"
    "                   buyer_province, class, field, seller_kind (default: year)\n"
    "  --year Y         turnover: only contracts registered in year Y\n"
    "  --as-of DATE     turnover: as recorded up to the end of DATE (YYYY-MM-DD, Beijing time)\n"
    "  --fund ID        funds: only this fund and its sub-funds\n"
    "  --pool ID        loans: only this risk-compensation pool\n"
    "  --field F        achievements: only this technical field\n"
    "  --owner ID       achievements: only this owner\n"
    "  --after ID       achievements: the page after this id\n"
    "  --limit N        achievements: at most N rows (default 100)\n"
    "  --access ROLE    public, auditor, statistics or fund_manager (default auditor: whoever\n"
    "                   can read DIR can read everything in it; use public to see what the\n"
    "                   public is shown)\n"
    "  --format FMT     table (default), csv or json\n"
    "  --timeout SEC    how long to wait for the views to catch up (default 600)\n\n"
    "exit status: 0 ok, 1 no such entity, 2 bad arguments, 3 cannot read the ledger or views\n";

static const struct {
    const char *flag;
    const char *param;
} flags[] = {{"--by", "by"},       {"--year", "year"},   {"--as-of", "as_of"}, {"--fund", "fund"},
             {"--pool", "pool"},   {"--field", "field"}, {"--owner", "owner"}, {"--after", "after"},
             {"--limit", "limit"}};

static int fail(const char *what, const tl_error *err, int code)
{
    char msg[512];
    fprintf(stderr, "techledger report: %s%s\n", what, tl_error_format(err, msg, sizeof msg));
    return code;
}

/* Waits for the views, telling the user what is happening when it takes a while. */
static int catch_up(tl_views *v, uint32_t timeout_s, tl_error *err)
{
    time_t start = time(NULL);
    for (;;) {
        int rc = tl_views_sync(v, 0, 1000, err);
        if (rc == 0 || strcmp(err->rule, "views.timeout") != 0)
            return rc;
        if ((uint32_t)(time(NULL) - start) >= timeout_s)
            return rc;
        tl_projection_stats st[TL_VIEWS_PROJECTIONS_MAX];
        size_t n = tl_views_stats(v, st, TL_VIEWS_PROJECTIONS_MAX);
        fprintf(stderr, "techledger report: bringing the views up to date:");
        for (size_t i = 0; i < n && i < TL_VIEWS_PROJECTIONS_MAX; i++)
            fprintf(stderr, " %s %" PRIu64 "/%" PRIu64, st[i].name,
                    st[i].rebuilding ? st[i].rebuild_position : st[i].position, st[i].ledger_size);
        fputc('\n', stderr);
    }
}

int tl_cmd_report(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(report_help, stdout);
        return TL_EXIT_OK;
    }
    const char *pos[2] = {NULL, NULL};
    size_t npos = 0;
    tl_view_param params[REPORT_PARAMS_MAX];
    size_t np = 0;
    const char *format = "table", *access_s = "auditor";
    uint32_t timeout_s = REPORT_TIMEOUT_S_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (npos == 2) {
                fprintf(stderr, "techledger report: unexpected argument '%s'\n\n%s", a, report_help);
                return TL_EXIT_USAGE;
            }
            pos[npos++] = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "techledger report: %s needs a value\n", a);
            return TL_EXIT_USAGE;
        }
        const char *val = argv[++i];
        if (strcmp(a, "--format") == 0) {
            format = val;
        } else if (strcmp(a, "--access") == 0) {
            access_s = val;
        } else if (strcmp(a, "--timeout") == 0) {
            char *end;
            unsigned long t = strtoul(val, &end, 10);
            if (*end != '\0' || t == 0 || t > 86400) {
                fprintf(stderr, "techledger report: --timeout must be 1..86400 seconds\n");
                return TL_EXIT_USAGE;
            }
            timeout_s = (uint32_t)t;
        } else {
            size_t k = 0;
            while (k < sizeof flags / sizeof flags[0] && strcmp(flags[k].flag, a) != 0)
                k++;
            if (k == sizeof flags / sizeof flags[0] || np == REPORT_PARAMS_MAX) {
                fprintf(stderr, "techledger report: unknown option '%s'\n\n%s", a, report_help);
                return TL_EXIT_USAGE;
            }
            params[np].key = flags[k].param;
            params[np].value = val;
            np++;
        }
    }
    if (npos != 2) {
        fputs(report_help, stderr);
        return TL_EXIT_USAGE;
    }
    if (strcmp(format, "table") != 0 && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "techledger report: --format must be table, csv or json\n");
        return TL_EXIT_USAGE;
    }
    tl_access access;
    if (tl_access_parse(&access, access_s) != 0) {
        fprintf(stderr, "techledger report: --access must be public, auditor, statistics or fund_manager\n");
        return TL_EXIT_USAGE;
    }

    tl_error err;
    tl_error_clear(&err);
    tl_ledger *l = NULL;
    tl_views *v = NULL;
    int code = TL_EXIT_OK;
    /* A secondary instance works whether or not a server is writing the ledger. */
    tl_ledger_options lo = {.mode = TL_OPEN_SECONDARY};
    if (tl_ledger_open(&l, pos[0], &lo, &err) != 0)
        return fail("", &err, TL_EXIT_IO);
    tl_views_options vo = {.mode = TL_VIEWS_RUN};
    int rc = tl_views_open(&v, l, &vo, &err);
    bool follow = false;
    if (rc != 0 && strcmp(err.rule, "views.locked") == 0) {
        vo.mode = TL_VIEWS_FOLLOW;
        follow = true;
        rc = tl_views_open(&v, l, &vo, &err);
    }
    if (rc != 0) {
        code = fail("", &err, TL_EXIT_IO);
        goto done;
    }
    if (!follow && (rc = catch_up(v, timeout_s, &err)) != 0) {
        code = fail("the views could not catch up: ", &err, TL_EXIT_IO);
        goto done;
    }
    json_t *res = NULL;
    rc = tl_view_query(&res, v, access, pos[1], params, np, &err);
    if (rc != 0) {
        code = fail("", &err,
                    rc == TL_EINVAL ? TL_EXIT_USAGE
                    : rc == TL_ENOTFOUND && strcmp(err.rule, "view.not_found") == 0 ? TL_EXIT_FAILURE
                    : rc == TL_ENOTFOUND ? TL_EXIT_USAGE
                                         : TL_EXIT_IO);
        goto done;
    }
    if (strcmp(format, "json") == 0) {
        char *s = json_dumps(res, JSON_INDENT(2));
        if (s != NULL)
            printf("%s\n", s);
        free(s);
    } else {
        tl_buf out;
        tl_buf_init(&out);
        rc = format[0] == 'c' ? tl_view_csv(&out, res, &err) : tl_view_table(&out, res, &err);
        if (rc == 0)
            fwrite(out.data, 1, out.len, stdout);
        else
            code = fail("", &err, TL_EXIT_FAILURE);
        tl_buf_free(&out);
    }
    json_decref(res);
    if (fflush(stdout) != 0)
        code = TL_EXIT_IO;
done:
    tl_views_close(v);
    tl_ledger_close(l);
    return code;
}
