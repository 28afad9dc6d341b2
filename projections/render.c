/*
 * One entry point for every view (tl_view_query: the HTTP API's /v1/views/<path>?... and
 * `techledger report`), and the renderers: CSV (RFC 4180) and aligned text tables.
 *
 * Tabular results carry "rows" (flat objects) and "columns" (their keys in order, so an empty
 * result still has a CSV header). A contract's history renders its "events"; any other object
 * renders as key/value lines, nested keys joined with dots.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pj_internal.h"

__extension__ typedef unsigned __int128 pj_u128;

/* ---------- numbers and JSON helpers ---------- */

uint64_t pj_ppm(uint64_t num, uint64_t den)
{
    if (den == 0)
        return 0;
    pj_u128 q = (pj_u128)num * 1000000u / den;
    return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

void pj_ratio_str(char *out, size_t cap, uint64_t num, uint64_t den, unsigned places)
{
    if (den == 0) {
        snprintf(out, cap, "%s", "");
        return;
    }
    uint64_t ip = num / den;
    pj_u128 rem = num % den;
    char frac[24];
    unsigned k = 0;
    for (; k < places && k < sizeof frac - 1; k++) {
        rem *= 10u;
        frac[k] = (char)('0' + (unsigned)(rem / den));
        rem %= den;
    }
    frac[k] = '\0';
    snprintf(out, cap, k ? "%" PRIu64 ".%s" : "%" PRIu64 "%s", ip, frac);
}

json_t *pj_json_strn(const void *p, size_t len)
{
    json_t *s = json_stringn((const char *)p, len);
    return s ? s : json_null(); /* not UTF-8: the log's canonical check makes this unreachable */
}

json_t *pj_mp_to_json(const tl_mp_doc *doc, uint32_t i)
{
    const tl_mp_node *n = &doc->nodes[i];
    switch (n->type) {
    case TL_MP_UINT:
        if (n->v.u > INT64_MAX) {
            char b[24];
            snprintf(b, sizeof b, "%" PRIu64, n->v.u);
            return json_string(b);
        }
        return json_integer((json_int_t)n->v.u);
    case TL_MP_INT: return json_integer((json_int_t)n->v.i);
    case TL_MP_BOOL: return json_boolean(n->v.b);
    case TL_MP_STR: return pj_json_strn(n->v.s.ptr, n->v.s.len);
    case TL_MP_BIN: {
        char *b = malloc(tl_base64_len(n->v.s.len));
        if (b == NULL)
            return NULL;
        tl_base64_encode(b, n->v.s.ptr, n->v.s.len);
        json_t *s = json_string(b);
        free(b);
        return s;
    }
    case TL_MP_ARRAY: {
        json_t *a = json_array();
        uint32_t c = tl_mp_first(i);
        for (uint32_t k = 0; k < n->count; k++, c = tl_mp_next(doc, c))
            json_array_append_new(a, pj_mp_to_json(doc, c));
        return a;
    }
    case TL_MP_MAP: {
        json_t *o = json_object();
        uint32_t c = tl_mp_first(i);
        for (uint32_t k = 0; k < n->count; k++) {
            uint32_t val = tl_mp_next(doc, c);
            const tl_mp_node *key = &doc->nodes[c];
            char kb[TL_ERROR_PATH_BYTES];
            size_t kl = key->v.s.len < sizeof kb - 1 ? key->v.s.len : sizeof kb - 1;
            memcpy(kb, key->v.s.ptr, kl);
            kb[kl] = '\0';
            json_object_set_new(o, kb, pj_mp_to_json(doc, val));
            c = tl_mp_next(doc, val);
        }
        return o;
    }
    default: return json_null();
    }
}

/* ---------- access ---------- */

static const char *const access_names[] = {"public", "auditor", "statistics", "fund_manager"};

int tl_access_parse(tl_access *out, const char *s)
{
    for (int i = 0; i < 4; i++) {
        if (s != NULL && strcmp(s, access_names[i]) == 0) {
            *out = (tl_access)i;
            return 0;
        }
    }
    return TL_EINVAL;
}

const char *tl_access_name(tl_access a) { return (unsigned)a < 4 ? access_names[a] : "public"; }

/* ---------- parameters ---------- */

static const struct {
    const char *name;
    unsigned bit;
} dim_names[] = {{"year", TL_DIM_YEAR},   {"seller_province", TL_DIM_SELLER_PROVINCE},
                 {"buyer_province", TL_DIM_BUYER_PROVINCE}, {"class", TL_DIM_CLASS},
                 {"field", TL_DIM_FIELD}, {"seller_kind", TL_DIM_SELLER_KIND}};

int tl_turnover_dims_parse(unsigned *out, const char *by, tl_error *err)
{
    *out = 0;
    if (by == NULL || by[0] == '\0')
        return 0;
    const char *p = by;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        bool found = false;
        for (size_t i = 0; i < sizeof dim_names / sizeof dim_names[0]; i++) {
            if (strlen(dim_names[i].name) == n && memcmp(dim_names[i].name, p, n) == 0) {
                *out |= dim_names[i].bit;
                found = true;
            }
        }
        if (!found)
            return tl_fail(err, TL_EINVAL, "view.param", "by",
                           "'%.*s' is not a dimension (year, seller_province, buyer_province, class, field, "
                           "seller_kind)",
                           (int)(n > 64 ? 64 : n), p);
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int parse_uint(uint64_t *out, const char *s, uint64_t max)
{
    if (s == NULL || *s == '\0' || strlen(s) > 19)
        return TL_EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return TL_EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max)
        return TL_EINVAL;
    *out = v;
    return 0;
}

typedef struct params {
    const tl_view_param *p;
    size_t n;
} params;

/* The value of key, or NULL. Every key must be in `allowed` (plus "format", the caller's). */
static int check_params(const params *ps, const char *const *allowed, tl_error *err)
{
    for (size_t i = 0; i < ps->n; i++) {
        const char *k = ps->p[i].key;
        if (k == NULL || strcmp(k, "format") == 0 || strcmp(k, "access") == 0)
            continue;
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || strcmp(*a, k) == 0;
        if (!ok)
            return tl_fail(err, TL_EINVAL, "view.param", k, "this view takes no parameter '%s'", k);
        for (size_t j = 0; j < i; j++)
            if (ps->p[j].key && strcmp(ps->p[j].key, k) == 0)
                return tl_fail(err, TL_EINVAL, "view.param", k, "'%s' is given twice", k);
    }
    return 0;
}

static const char *param(const params *ps, const char *key)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->p[i].key && strcmp(ps->p[i].key, key) == 0)
            return ps->p[i].value ? ps->p[i].value : "";
    return NULL;
}

static json_t *columns_of(const json_t *rows, const char *const *fallback)
{
    json_t *cols = json_array();
    const json_t *first = json_array_get(rows, 0);
    if (first != NULL) {
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)first, k, val)
        {
            (void)val;
            json_array_append_new(cols, json_string(k));
        }
    } else {
        for (const char *const *f = fallback; f && *f; f++)
            json_array_append_new(cols, json_string(*f));
    }
    return cols;
}

static void add_columns(json_t *res, const char *const *fallback)
{
    json_t *rows = json_object_get(res, "rows");
    if (rows != NULL && json_object_get(res, "columns") == NULL)
        json_object_set_new(res, "columns", columns_of(rows, fallback));
}

static const char *const cols_funds[] = {"fund", "kind", "parent", "size_fen", "guidance_committed_fen",
                                         "committed_fen", "committed_local_government_fen", "committed_social_fen",
                                         "committed_bank_fen", "paid_in_fen", "guidance_paid_in_fen",
                                         "invested_fen", "qualifying_invested_fen", "co_investment_fen",
                                         "guidance_share_ppm", "l1_committed", "l1_paid_in", "l2",
                                         "directed_multiple", NULL};
static const char *const cols_loans[] = {"pool", "bank", "year", "loans", "lent_fen", "defaults", "defaulted_fen",
                                         "compensated_fen", "bank_year_lent_fen", "bank_year_compensated_fen",
                                         "cap_fen", "cap_used_ppm", NULL};
static const char *const cols_ach[] = {"id", "title", "owner", "field", "fiscal_funded", "confidentiality",
                                       "ip", "recorded_on", NULL};
static const char *const cols_targets[] = {"indicator", "target", "actual", "year", "progress_ppm",
                                           "reached_year", NULL};

int tl_view_query(json_t **out, tl_views *v, tl_access access, const char *path, const tl_view_param *pv,
                  size_t n_params, tl_error *err)
{
    *out = NULL;
    if (path == NULL)
        path = "";
    if (n_params > TL_VIEWS_PARAMS_MAX)
        return tl_fail(err, TL_ETOOBIG, "view.param", "", "at most %u parameters", TL_VIEWS_PARAMS_MAX);
    params ps = {pv, n_params};
    int rc;
    if (strcmp(path, "turnover") == 0) {
        static const char *const allowed[] = {"by", "year", "as_of", NULL};
        if ((rc = check_params(&ps, allowed, err)) != 0)
            return rc;
        tl_turnover_query q = {0};
        const char *by = param(&ps, "by"), *year = param(&ps, "year"), *as_of = param(&ps, "as_of");
        if ((rc = tl_turnover_dims_parse(&q.by, by ? by : "year", err)) != 0)
            return rc;
        if (year != NULL) {
            uint64_t y;
            if (parse_uint(&y, year, TL_DATE_YEAR_MAX) != 0 || y < TL_DATE_YEAR_MIN)
                return tl_fail(err, TL_EINVAL, "view.param", "year", "year must be %d..%d", TL_DATE_YEAR_MIN,
                               TL_DATE_YEAR_MAX);
            q.year = (int)y;
        }
        if (as_of != NULL) {
            if (tl_date_parse(&q.as_of_day, as_of, strlen(as_of)) != 0)
                return tl_fail(err, TL_EINVAL, "view.param", "as_of", "as_of must be a date YYYY-MM-DD");
            q.has_as_of = true;
        }
        if ((rc = tl_view_turnover(out, v, access, &q, err)) != 0)
            return rc;
        /* columns in row order: the requested dimensions, then the sums */
        json_t *cols = json_array();
        for (size_t i = 0; i < sizeof dim_names / sizeof dim_names[0]; i++)
            if (q.by & dim_names[i].bit)
                json_array_append_new(cols, json_string(dim_names[i].name));
        json_array_append_new(cols, json_string("contracts"));
        json_array_append_new(cols, json_string("total_fen"));
        json_array_append_new(cols, json_string("tech_fen"));
        json_object_set_new(*out, "columns", cols);
        return 0;
    }
    if (strcmp(path, "funds") == 0 || strcmp(path, "loans") == 0) {
        bool loans = path[0] == 'l';
        static const char *const af[] = {"fund", NULL}, *const al[] = {"pool", NULL};
        if ((rc = check_params(&ps, loans ? al : af, err)) != 0)
            return rc;
        rc = loans ? tl_view_loans(out, v, access, param(&ps, "pool"), err)
                   : tl_view_funds(out, v, access, param(&ps, "fund"), err);
        if (rc == 0)
            add_columns(*out, loans ? cols_loans : cols_funds);
        return rc;
    }
    if (strncmp(path, "contracts/", 10) == 0) {
        static const char *const allowed[] = {NULL};
        if ((rc = check_params(&ps, allowed, err)) != 0)
            return rc;
        return tl_view_contract(out, v, access, path + 10, err);
    }
    if (strncmp(path, "institutions/", 13) == 0) {
        static const char *const allowed[] = {NULL};
        if ((rc = check_params(&ps, allowed, err)) != 0)
            return rc;
        return tl_view_institution(out, v, access, path + 13, err);
    }
    if (strcmp(path, "achievements") == 0) {
        static const char *const allowed[] = {"field", "owner", "after", "limit", NULL};
        if ((rc = check_params(&ps, allowed, err)) != 0)
            return rc;
        tl_achievements_query q = {.field = param(&ps, "field"), .owner = param(&ps, "owner"),
                                   .after = param(&ps, "after")};
        const char *limit = param(&ps, "limit");
        if (limit != NULL) {
            uint64_t lim;
            if (parse_uint(&lim, limit, TL_VIEWS_ROWS_MAX) != 0 || lim == 0)
                return tl_fail(err, TL_EINVAL, "view.param", "limit", "limit must be 1..%u", TL_VIEWS_ROWS_MAX);
            q.limit = (uint32_t)lim;
        }
        rc = tl_view_achievements(out, v, access, &q, err);
        if (rc == 0)
            add_columns(*out, cols_ach);
        return rc;
    }
    if (strcmp(path, "targets") == 0) {
        static const char *const allowed[] = {NULL};
        if ((rc = check_params(&ps, allowed, err)) != 0)
            return rc;
        rc = tl_view_targets(out, v, access, err);
        if (rc == 0)
            add_columns(*out, cols_targets);
        return rc;
    }
    return tl_fail(err, TL_ENOTFOUND, "view.unknown", "view",
                   "no view '%.64s' (turnover, funds, loans, contracts/<reg_no>, institutions/<id>, "
                   "achievements, targets)",
                   path);
}

/* ---------- rendering ---------- */

/* A cell as text: strings as they are, integers in decimal, other values as compact JSON. */
static char *cell_text(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return strdup("");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        char b[32];
        snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(b);
    }
    if (json_is_true(v))
        return strdup("true");
    if (json_is_false(v))
        return strdup("false");
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

static int put(tl_buf *out, const char *s) { return tl_buf_append(out, s, strlen(s)); }

static int csv_field(tl_buf *out, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL || (s[0] != '\0' && (s[0] == ' ' || s[strlen(s) - 1] == ' '));
    if (!quote)
        return put(out, s);
    int rc = put(out, "\"");
    for (const char *p = s; *p && rc == 0; p++)
        rc = *p == '"' ? put(out, "\"\"") : tl_buf_append(out, p, 1);
    return rc ? rc : put(out, "\"");
}

/* The rows and columns a result renders as: rows/columns, events, or key/value pairs (*flat). */
static int tabulate(const json_t *res, json_t **rows, json_t **cols)
{
    json_t *r = json_object_get(res, "rows");
    if (json_is_array(r)) {
        *rows = json_incref(r);
        json_t *c = json_object_get(res, "columns");
        *cols = json_is_array(c) ? json_incref(c) : columns_of(r, NULL);
        return 0;
    }
    json_t *ev = json_object_get(res, "events");
    if (json_is_array(ev)) {
        *rows = json_incref(ev);
        *cols = json_array();
        static const char *const ec[] = {"seq", "version", "recorded", "type", "data"};
        for (size_t i = 0; i < 5; i++)
            json_array_append_new(*cols, json_string(ec[i]));
        json_t *first = json_array_get(ev, 0);
        if (first != NULL && json_object_get(first, "redacted") != NULL)
            json_array_set_new(*cols, 4, json_string("redacted"));
        return 0;
    }
    /* key/value pairs, nested objects flattened with dots */
    *rows = json_array();
    *cols = json_pack("[s,s]", "key", "value");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)res, k, v)
    {
        if (json_is_object(v)) {
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                char name[128];
                snprintf(name, sizeof name, "%s.%s", k, k2);
                json_array_append_new(*rows, json_pack("{s:s,s:O}", "key", name, "value", v2));
            }
        } else {
            json_array_append_new(*rows, json_pack("{s:s,s:O}", "key", k, "value", v));
        }
    }
    return 0;
}

int tl_view_csv(tl_buf *out, const json_t *result, tl_error *err)
{
    if (!json_is_object(result))
        return tl_fail(err, TL_EINVAL, "view.not_tabular", "", "not a view result");
    json_t *rows, *cols;
    tabulate(result, &rows, &cols);
    int rc = 0;
    size_t i, j;
    json_t *c, *row;
    json_array_foreach(cols, j, c)
    {
        if (j > 0)
            rc = rc ? rc : put(out, ",");
        rc = rc ? rc : csv_field(out, json_string_value(c));
    }
    rc = rc ? rc : put(out, "\n");
    json_array_foreach(rows, i, row)
    {
        json_array_foreach(cols, j, c)
        {
            char *t = cell_text(json_object_get(row, json_string_value(c)));
            if (t == NULL) {
                rc = TL_ENOMEM;
                break;
            }
            if (j > 0)
                rc = rc ? rc : put(out, ",");
            rc = rc ? rc : csv_field(out, t);
            free(t);
        }
        rc = rc ? rc : put(out, "\n");
    }
    json_decref(rows);
    json_decref(cols);
    return rc ? pj_nomem(err) : 0;
}

/* Display width of UTF-8 text: CJK and other wide characters take two columns. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if ((*p & 0xe0) == 0xc0) {
            cp = *p & 0x1fu;
            n = 2;
        } else if ((*p & 0xf0) == 0xe0) {
            cp = *p & 0x0fu;
            n = 3;
        } else {
            cp = *p & 0x07u;
            n = 4;
        }
        for (int k = 1; k < n && p[k]; k++)
            cp = cp << 6 | (p[k] & 0x3fu);
        for (int k = 0; k < n && *p; k++)
            p++;
        w += (cp >= 0x1100 && (cp <= 0x115f || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
                               (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
                               (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6)))
                 ? 2
                 : 1;
    }
    return w;
}

static int pad(tl_buf *out, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put(out, " ");
    return rc;
}

int tl_view_table(tl_buf *out, const json_t *result, tl_error *err)
{
    if (!json_is_object(result))
        return tl_fail(err, TL_EINVAL, "view.not_tabular", "", "not a view result");
    json_t *rows, *cols;
    tabulate(result, &rows, &cols);
    size_t nc = json_array_size(cols), nr = json_array_size(rows);
    size_t *w = calloc(nc ? nc : 1, sizeof *w);
    bool *num = calloc(nc ? nc : 1, sizeof *num);
    char **cells = calloc((nr + 1) * (nc ? nc : 1), sizeof *cells);
    int rc = (w && num && cells) ? 0 : TL_ENOMEM;
    for (size_t j = 0; j < nc && rc == 0; j++) {
        const char *h = json_string_value(json_array_get(cols, j));
        cells[j] = strdup(h ? h : "");
        num[j] = nr > 0;
    }
    for (size_t i = 0; i < nr && rc == 0; i++) {
        json_t *row = json_array_get(rows, i);
        for (size_t j = 0; j < nc; j++) {
            json_t *v = json_object_get(row, json_string_value(json_array_get(cols, j)));
            num[j] = num[j] && json_is_integer(v);
            cells[(i + 1) * nc + j] = cell_text(v);
        }
    }
    for (size_t k = 0; k < (nr + 1) * nc && rc == 0; k++)
        if (cells[k] == NULL)
            rc = TL_ENOMEM;
    for (size_t k = 0; k < (nr + 1) * nc && rc == 0; k++) {
        size_t cw = width(cells[k]);
        if (cw > w[k % nc])
            w[k % nc] = cw;
    }
    for (size_t i = 0; i <= nr && rc == 0; i++) {
        for (size_t j = 0; j < nc && rc == 0; j++) {
            const char *t = cells[i * nc + j];
            size_t fill = w[j] - width(t);
            if (j > 0)
                rc = put(out, "  ");
            if (num[j] && rc == 0)
                rc = pad(out, fill);
            rc = rc ? rc : put(out, t);
            if (!num[j] && j + 1 < nc && rc == 0)
                rc = pad(out, fill);
        }
        rc = rc ? rc : put(out, "\n");
    }
    /* What does not fit the table: the target, findings, paging and position. */
    json_t *target = json_object_get(result, "target");
    if (rc == 0 && json_is_object(target)) {
        char line[256];
        json_t *reached = json_object_get(target, "reached_year");
        snprintf(line, sizeof line, "\ntarget: %" JSON_INTEGER_FORMAT " fen by %" JSON_INTEGER_FORMAT "; %s%s\n",
                 json_integer_value(json_object_get(target, "target_fen")),
                 json_integer_value(json_object_get(target, "target_year")),
                 json_is_string(reached) ? "first reached in " : "not reached yet",
                 json_is_string(reached) ? json_string_value(reached) : "");
        rc = put(out, line);
    }
    json_t *findings = json_object_get(result, "findings");
    if (rc == 0 && json_array_size(findings) > 0) {
        rc = put(out, "\nfindings:\n");
        size_t i;
        json_t *f;
        json_array_foreach(findings, i, f)
        {
            json_t *who = json_object_get(f, "fund") ? json_object_get(f, "fund") : json_object_get(f, "bank");
            char line[512];
            snprintf(line, sizeof line, "  %s %s: %s\n", json_string_value(json_object_get(f, "rule")),
                     json_is_string(who) ? json_string_value(who) : "",
                     json_string_value(json_object_get(f, "detail")));
            rc = rc ? rc : put(out, line);
        }
    }
    json_t *next = json_object_get(result, "next");
    if (rc == 0 && json_is_string(next)) {
        char line[128];
        snprintf(line, sizeof line, "\nmore: --after %s\n", json_string_value(next));
        rc = put(out, line);
    }
    for (size_t k = 0; cells && k < (nr + 1) * nc; k++)
        free(cells[k]);
    free(cells);
    free(w);
    free(num);
    json_decref(rows);
    json_decref(cols);
    return rc ? pj_nomem(err) : 0;
}
