/*
 * The catalogue projection: the achievement catalogue and the action plan's programme counts
 * (demonstration institutions, demonstration zones, professionals trained), which with the
 * turnover projection make up the targets view.
 *
 * STORED (sub-keys after the generation prefix, store.c):
 *   'A' || achievement id -> field (1) || fiscal_funded (1) || confidentiality (1) ||
 *                            recorded day (8) || owner (str) || title (text) || ip (text)
 *   'N'                   -> per field: registered (8) || of them public (8)
 *   'G'                   -> per programme kind (institution, zone, training) and year
 *                            1949..2099 of `dated`: count (8)
 * 'N' and 'G' are small and live in memory; they are written whole with each batch that
 * changed them. An achievement is written once, at its registration (the sequencer refuses a
 * second registration of the same id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pj_internal.h"

#define CATALOGUE_VERSION 1u
#define YEARS (TL_DATE_YEAR_MAX - TL_DATE_YEAR_MIN + 1)
enum { PROG_INSTITUTION, PROG_ZONE, PROG_TRAINING, PROGS };

typedef struct cat_state {
    bool loaded, dirty;
    int64_t fields[TL_FIELD_COUNT][2];
    int64_t prog[PROGS][YEARS];
    tl_buf buf;
} cat_state;

static int c_init(pj_inst *in)
{
    cat_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return TL_ENOMEM;
    tl_buf_init(&s->buf);
    s->loaded = in->fresh;
    in->state = s;
    return 0;
}

static void c_destroy(pj_inst *in)
{
    cat_state *s = in->state;
    tl_buf_free(&s->buf);
    free(s);
    in->state = NULL;
}

static void c_reset(pj_inst *in)
{
    cat_state *s = in->state;
    memset(s->fields, 0, sizeof s->fields);
    memset(s->prog, 0, sizeof s->prog);
    s->loaded = false;
    s->dirty = false;
}

static int decode_counts(int64_t *out, size_t n, const uint8_t *p, size_t len)
{
    if (len != n * 8)
        return TL_ECORRUPT;
    for (size_t i = 0; i < n; i++)
        out[i] = (int64_t)pj_be64_get(p + 8 * i);
    return 0;
}

static int load(pj_inst *in, cat_state *s, tl_error *err)
{
    if (s->loaded)
        return 0;
    uint8_t tag = 'N';
    int rc = pj_inst_get(in, &tag, 1, &s->buf, err);
    if (rc == 0 && decode_counts(&s->fields[0][0], TL_FIELD_COUNT * 2, s->buf.data, s->buf.len) != 0)
        rc = TL_ECORRUPT;
    if (rc == 0 || rc == TL_ENOTFOUND) {
        tag = 'G';
        rc = pj_inst_get(in, &tag, 1, &s->buf, err);
        if (rc == 0 && decode_counts(&s->prog[0][0], PROGS * YEARS, s->buf.data, s->buf.len) != 0)
            rc = TL_ECORRUPT;
    }
    if (rc == TL_ECORRUPT)
        return tl_fail(err, rc, "storage.corrupt", "", "damaged catalogue counts");
    if (rc != 0 && rc != TL_ENOTFOUND)
        return rc;
    s->loaded = true;
    return 0;
}

static int put_counts(pj_inst *in, uint8_t tag, const int64_t *v, size_t n)
{
    uint8_t *buf = malloc(n * 8);
    if (buf == NULL)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        pj_be64_put(buf + 8 * i, (uint64_t)v[i]);
    pj_inst_put(in, &tag, 1, buf, n * 8);
    free(buf);
    return 0;
}

static int c_flush(pj_inst *in, tl_error *err)
{
    cat_state *s = in->state;
    if (!s->dirty)
        return 0;
    if (put_counts(in, 'N', &s->fields[0][0], TL_FIELD_COUNT * 2) != 0 ||
        put_counts(in, 'G', &s->prog[0][0], PROGS * YEARS) != 0)
        return pj_nomem(err);
    s->dirty = false;
    return 0;
}

static int c_apply(pj_inst *in, const pj_event *ev, tl_error *err)
{
    cat_state *s = in->state;
    int prog = -1;
    switch (ev->type) {
    case TL_EV_ACHIEVEMENT_REGISTERED: break;
    case TL_EV_PROGRAMME_INSTITUTION_DESIGNATED: prog = PROG_INSTITUTION; break;
    case TL_EV_PROGRAMME_ZONE_DESIGNATED: prog = PROG_ZONE; break;
    case TL_EV_PROGRAMME_TRAINING_COMPLETED: prog = PROG_TRAINING; break;
    default: return 0;
    }
    int rc = load(in, s, err);
    if (rc != 0)
        return rc;
    if (prog >= 0) {
        int32_t day;
        if (!pj_date(ev, "dated", &day))
            return 0;
        int y = tl_date_year(day) - TL_DATE_YEAR_MIN;
        if (y < 0 || y >= YEARS)
            return 0;
        if (tl_amount_add(&s->prog[prog][y], (int64_t)pj_uint(ev, "count", 1)) != 0)
            return tl_fail(err, TL_ETOOBIG, "view.overflow", "", "a programme count would overflow");
        s->dirty = true;
        return 0;
    }
    const uint8_t *id, *owner, *title, *ip = (const uint8_t *)"";
    size_t idn, on, tn, ipn = 0;
    if (!pj_str(ev, "id", &id, &idn) || !pj_str(ev, "owner", &owner, &on) || !pj_str(ev, "title", &title, &tn))
        return 0;
    (void)pj_str(ev, "ip", &ip, &ipn);
    int field = pj_code(ev, "field", &tl_codes_field, 0);
    int conf = pj_code(ev, "confidentiality", &tl_codes_confidentiality, TL_CONF_STATE_SECRET);
    tl_buf *b = &s->buf;
    tl_buf_reset(b);
    rc = pj_w_u8(b, (uint8_t)field);
    rc = rc ? rc : pj_w_u8(b, pj_bool(ev, "fiscal_funded", false) ? 1 : 0);
    rc = rc ? rc : pj_w_u8(b, (uint8_t)conf);
    rc = rc ? rc : pj_w_u64(b, ev->recorded_day);
    rc = rc ? rc : pj_w_str(b, owner, on);
    rc = rc ? rc : pj_w_text(b, title, tn);
    rc = rc ? rc : pj_w_text(b, ip, ipn);
    if (rc != 0)
        return pj_nomem(err);
    uint8_t sub[1 + TL_ID_BYTES_MAX];
    if (idn > TL_ID_BYTES_MAX)
        return 0;
    sub[0] = 'A';
    memcpy(sub + 1, id, idn);
    pj_inst_put(in, sub, idn + 1, b->data, b->len);
    s->fields[field][0]++;
    if (conf == TL_CONF_PUBLIC)
        s->fields[field][1]++;
    s->dirty = true;
    return 0;
}

const pj_def pj_def_catalogue = {.name = "catalogue",
                                 .id = 4,
                                 .version = CATALOGUE_VERSION,
                                 .init = c_init,
                                 .destroy = c_destroy,
                                 .apply = c_apply,
                                 .flush = c_flush,
                                 .reset = c_reset};

/* ---------- reading ---------- */

typedef struct ach_rec {
    uint8_t field, fiscal, conf;
    uint64_t day;
    char owner[TL_ID_BYTES_MAX + 1];
    char title[TL_SCHEMA_TEXT_BYTES_MAX + 1];
    char ip[TL_SCHEMA_TEXT_BYTES_MAX + 1];
} ach_rec;

static int dec_ach(ach_rec *a, const uint8_t *p, size_t n)
{
    pj_rd r = {p, p + n, false};
    a->field = pj_r_u8(&r);
    a->fiscal = pj_r_u8(&r);
    a->conf = pj_r_u8(&r);
    a->day = pj_r_u64(&r);
    pj_r_str(&r, a->owner, sizeof a->owner);
    pj_r_text(&r, a->title, sizeof a->title);
    pj_r_text(&r, a->ip, sizeof a->ip);
    return r.bad ? TL_ECORRUPT : 0;
}

static bool sees_secrets(tl_access a) { return a == TL_ACCESS_AUDITOR || a == TL_ACCESS_STATISTICS; }

int tl_view_achievements(json_t **out, tl_views *v, tl_access access, const tl_achievements_query *q,
                         tl_error *err)
{
    *out = NULL;
    tl_achievements_query dq = {0};
    if (q == NULL)
        q = &dq;
    int field = -1;
    if (q->field != NULL && (field = tl_code_parse(&tl_codes_field, q->field, strlen(q->field))) < 0)
        return tl_fail(err, TL_EINVAL, "view.param", "field", "'%s' is not a technical field", q->field);
    if (q->owner != NULL && !tl_id_valid(q->owner, strlen(q->owner)))
        return tl_fail(err, TL_EINVAL, "view.param", "owner", "not a participant id");
    if (q->after != NULL && !tl_id_valid(q->after, strlen(q->after)))
        return tl_fail(err, TL_EINVAL, "view.param", "after", "not an achievement id");
    if (q->limit > TL_VIEWS_ROWS_MAX)
        return tl_fail(err, TL_EINVAL, "view.param", "limit", "at most %u rows", TL_VIEWS_ROWS_MAX);
    uint32_t limit = q->limit ? q->limit : TL_VIEWS_PAGE_DEFAULT;
    pj_read rd;
    int rc = pj_read_begin(&rd, v, err);
    if (rc != 0)
        return rc;
    uint8_t prefix[PJ_PREFIX_BYTES];
    uint64_t pos = 0;
    json_t *rows = json_array();
    json_t *next = json_null();
    int64_t fields[TL_FIELD_COUNT][2];
    memset(fields, 0, sizeof fields);
    rc = pj_read_proj(&rd, &pj_def_catalogue, prefix, &pos, err);
    if (rc == 0) {
        tl_buf b;
        tl_buf_init(&b);
        uint8_t tag = 'N';
        rc = pj_read_get(&rd, prefix, &tag, 1, &b, err);
        if (rc == 0 && decode_counts(&fields[0][0], TL_FIELD_COUNT * 2, b.data, b.len) != 0)
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged catalogue counts");
        if (rc == TL_ENOTFOUND)
            rc = 0;
        tl_buf_free(&b);
    }
    if (rc == 0) {
        uint8_t bound[PJ_KEY_BYTES_MAX];
        rocksdb_readoptions_t *ro;
        uint8_t tag = 'A';
        rocksdb_iterator_t *it = pj_read_iter(&rd, prefix, &tag, 1, bound, &ro);
        if (q->after != NULL) {
            uint8_t start[PJ_KEY_BYTES_MAX];
            size_t an = strlen(q->after);
            memcpy(start, prefix, PJ_PREFIX_BYTES);
            start[PJ_PREFIX_BYTES] = 'A';
            memcpy(start + PJ_PREFIX_BYTES + 1, q->after, an);
            start[PJ_PREFIX_BYTES + 1 + an] = 0; /* just past `after` itself */
            rocksdb_iter_seek(it, (const char *)start, PJ_PREFIX_BYTES + 2 + an);
        }
        ach_rec *a = malloc(sizeof *a);
        if (a == NULL)
            rc = pj_nomem(err);
        for (; rc == 0 && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t kn, vn;
            const uint8_t *k = (const uint8_t *)rocksdb_iter_key(it, &kn);
            const uint8_t *val = (const uint8_t *)rocksdb_iter_value(it, &vn);
            if (dec_ach(a, val, vn) != 0) {
                rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged achievement record");
                break;
            }
            if (a->conf != TL_CONF_PUBLIC && !sees_secrets(access))
                continue;
            if ((field >= 0 && a->field != field) || (q->owner != NULL && strcmp(a->owner, q->owner) != 0))
                continue;
            char id[TL_ID_BYTES_MAX + 1];
            size_t idn = kn - PJ_PREFIX_BYTES - 1;
            if (idn > TL_ID_BYTES_MAX)
                continue;
            memcpy(id, k + PJ_PREFIX_BYTES + 1, idn);
            id[idn] = '\0';
            if (json_array_size(rows) == limit) {
                /* one more matching entry exists: the page continues after the last shown */
                json_t *last = json_array_get(rows, limit - 1);
                json_decref(next);
                next = json_copy(json_object_get(last, "id"));
                break;
            }
            char date[TL_DATE_LEN + 1];
            tl_date_format(date, (int32_t)a->day);
            json_t *r = json_object();
            json_object_set_new(r, "id", json_string(id));
            json_object_set_new(r, "title", json_string(a->title));
            json_object_set_new(r, "owner", json_string(a->owner));
            json_object_set_new(r, "field", json_string(tl_code_name(&tl_codes_field, a->field)));
            json_object_set_new(r, "fiscal_funded", json_string(a->fiscal ? "true" : "false"));
            json_object_set_new(r, "confidentiality",
                                json_string(tl_code_name(&tl_codes_confidentiality, a->conf)));
            json_object_set_new(r, "ip", json_string(a->ip));
            json_object_set_new(r, "recorded_on", json_string(date));
            json_array_append_new(rows, r);
        }
        free(a);
        int rc2 = pj_iter_done(it, ro, err);
        if (rc == 0)
            rc = rc2;
    }
    pj_read_end(&rd);
    if (rc != 0) {
        json_decref(rows);
        json_decref(next);
        return rc;
    }
    json_t *byf = json_array();
    for (int f = 0; f < TL_FIELD_COUNT; f++) {
        if (fields[f][0] == 0)
            continue;
        json_array_append_new(byf, json_pack("{s:s,s:I,s:I}", "field", tl_code_name(&tl_codes_field, f), "total",
                                             (json_int_t)fields[f][0], "public", (json_int_t)fields[f][1]));
    }
    json_t *res = json_object();
    json_object_set_new(res, "rows", rows);
    json_object_set_new(res, "next", next);
    json_object_set_new(res, "by_field", byf);
    json_object_set_new(res, "position", json_integer((json_int_t)pos));
    *out = res;
    return 0;
}

#define TURNOVER_YEARS_MAX YEARS

static json_t *indicator(const char *name, uint64_t target, int64_t actual, const char *year, const char *reached)
{
    json_t *r = json_object();
    json_object_set_new(r, "indicator", json_string(name));
    json_object_set_new(r, "target", json_integer((json_int_t)target));
    json_object_set_new(r, "actual", json_integer(actual));
    json_object_set_new(r, "year", json_string(year));
    json_object_set_new(r, "progress_ppm", json_integer((json_int_t)pj_ppm(actual > 0 ? (uint64_t)actual : 0, target)));
    json_object_set_new(r, "reached_year", json_string(reached));
    return r;
}

int tl_view_targets(json_t **out, tl_views *v, tl_access access, tl_error *err)
{
    (void)access; /* aggregates only */
    *out = NULL;
    pj_read rd;
    int rc = pj_read_begin(&rd, v, err);
    if (rc != 0)
        return rc;
    pj_year_total years[TURNOVER_YEARS_MAX];
    size_t ny = 0;
    uint64_t pos_t = 0, pos_c = 0;
    int64_t prog[PROGS][YEARS];
    memset(prog, 0, sizeof prog);
    rc = pj_turnover_years(&rd, UINT32_MAX, years, TURNOVER_YEARS_MAX, &ny, &pos_t, err);
    if (rc == 0) {
        uint8_t prefix[PJ_PREFIX_BYTES];
        rc = pj_read_proj(&rd, &pj_def_catalogue, prefix, &pos_c, err);
        tl_buf b;
        tl_buf_init(&b);
        uint8_t tag = 'G';
        if (rc == 0)
            rc = pj_read_get(&rd, prefix, &tag, 1, &b, err);
        if (rc == 0 && decode_counts(&prog[0][0], PROGS * YEARS, b.data, b.len) != 0)
            rc = tl_fail(err, TL_ECORRUPT, "storage.corrupt", "", "damaged programme counts");
        if (rc == TL_ENOTFOUND)
            rc = 0;
        tl_buf_free(&b);
    }
    pj_read_end(&rd);
    if (rc != 0)
        return rc;
    json_t *rows = json_array();
    uint64_t target = pj_views_target_fen(v);
    char year[8] = "", reached[8] = "";
    int64_t actual = 0;
    for (size_t i = 0; i < ny; i++) {
        if (years[i].total_fen >= 0 && (uint64_t)years[i].total_fen >= target && reached[0] == '\0')
            snprintf(reached, sizeof reached, "%d", years[i].year);
    }
    if (ny > 0) {
        actual = years[ny - 1].total_fen;
        snprintf(year, sizeof year, "%d", years[ny - 1].year);
    }
    json_array_append_new(rows, indicator("turnover_fen", target, actual, year, reached));
    static const struct {
        const char *name;
        uint64_t target;
    } progs[PROGS] = {{"demonstration_institutions", 100}, {"demonstration_zones", 10},
                      {"trained_professionals", 10000}};
    for (int p = 0; p < PROGS; p++) {
        int64_t sum = 0;
        char r[8] = "", last[8] = "";
        for (int y = 0; y < YEARS; y++) {
            if (prog[p][y] == 0)
                continue;
            if (tl_amount_add(&sum, prog[p][y]) != 0)
                sum = INT64_MAX;
            snprintf(last, sizeof last, "%d", y + TL_DATE_YEAR_MIN);
            if (r[0] == '\0' && (uint64_t)sum >= progs[p].target)
                snprintf(r, sizeof r, "%d", y + TL_DATE_YEAR_MIN);
        }
        json_array_append_new(rows, indicator(progs[p].name, progs[p].target, sum, last, r));
    }
    json_t *res = json_object();
    json_object_set_new(res, "rows", rows);
    json_object_set_new(res, "position", json_integer((json_int_t)(pos_t < pos_c ? pos_t : pos_c)));
    *out = res;
    return 0;
}
