/*
 * techledger schema [--markdown] [TYPE...]: the event catalogue, generated from the tables the
 * ledger itself judges events by (ledger/schema.c: fields, streams, signers, examples;
 * ledger/rules.c: the rules that need the log). The JSON form is for programs; the Markdown
 * form is docs/events.md, which a test regenerates and compares so the document cannot drift
 * from the code.
 *
 * The worked examples are built exactly as a submitter would: the data object through
 * tl_json_event_data (canonical MessagePack), the body through tl_body_encode with a fixed id
 * and time, and the signature with the example key named in the catalogue (its seed is 32
 * bytes of one value), so every hex dump below is reproducible by an independent
 * implementation.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_cmd.h"
#include "tl_crypto.h"
#include "tl_event.h"
#include "tl_json_event.h"
#include "tl_rules.h"
#include "tl_schema.h"

/* Examples carry a fixed time so the documented bytes never change: 2020-01-01T00:00:00Z,
 * plus one minute per position in the example history. */
#define EXAMPLE_TIME_MS 1577836800000ull
#define EXAMPLE_TIME_STEP_MS 60000ull
#define HEX_LINE_BYTES 32 /* bytes per line of a hex dump */

static const char schema_help[] =
    "usage: techledger schema [--markdown] [TYPE...]\n\n"
    "Prints the event catalogue: every event type with its stream, who signs it, its fields\n"
    "(type, bounds, code lists), the rules it is judged by (stateless and against the log)\n"
    "and a worked example with the hex of its canonical body and signature.\n\n"
    "  (default)    JSON, for programs\n"
    "  --markdown   Markdown: the reference document docs/events.md\n"
    "  TYPE...      only these event types (e.g. contract.registered)\n\n"
    "Exit status: 0 ok, 2 bad command line (unknown option or type), 1 an example failed to\n"
    "build (a bug: the catalogue and its examples disagree).\n";

static const char *code_name(int code)
{
    switch (code) {
    case TL_EINVAL: return "EINVAL";
    case TL_ESIG: return "ESIG";
    case TL_EDENIED: return "EDENIED";
    case TL_ECONFLICT: return "ECONFLICT";
    case TL_ENOTFOUND: return "ENOTFOUND";
    case TL_ETOOBIG: return "ETOOBIG";
    case TL_ESTATE: return "ESTATE";
    case TL_EREF: return "EREF";
    default: return "E?";
    }
}

/* ---- Building the worked examples ------------------------------------------------------- */

typedef struct built {
    const tl_schema_example *ex;
    size_t index; /* position in the example history */
    uint8_t id[TL_EVENT_ID_BYTES];
    uint64_t time_ms;
    tl_buf body;
    uint8_t pk[TL_PUBKEY_BYTES];
    uint8_t sig[TL_SIG_BYTES];
} built;

static int build_example(built *out, const tl_schema_example *ex, size_t index, tl_error *err)
{
    memset(out, 0, sizeof *out);
    out->ex = ex;
    out->index = index;
    tl_buf_init(&out->body);
    /* The id is 15 zero bytes and the position in the history, plus one. */
    out->id[TL_EVENT_ID_BYTES - 1] = (uint8_t)(index + 1);
    out->time_ms = EXAMPLE_TIME_MS + index * EXAMPLE_TIME_STEP_MS;
    json_error_t jerr;
    json_t *data = json_loads(ex->data, 0, &jerr);
    if (data == NULL)
        return tl_fail(err, TL_EINVAL, "example.json", "data", "%s: %s", ex->type, jerr.text);
    tl_buf mp;
    tl_buf_init(&mp);
    int rc = tl_json_event_data(&mp, ex->type, data, err);
    json_decref(data);
    tl_event_draft d = {.type = ex->type, .stream = ex->stream, .time_ms = out->time_ms,
                        .data = mp.data, .data_len = mp.len};
    memcpy(d.id, out->id, sizeof d.id);
    if (rc == 0)
        rc = tl_body_encode(&out->body, &d);
    tl_buf env;
    tl_buf_init(&env);
    uint8_t seed[TL_SEED_BYTES];
    memset(seed, ex->seed, sizeof seed);
    tl_keypair kp;
    tl_keypair_from_seed(&kp, seed);
    if (rc == 0)
        rc = tl_envelope_build(&env, &d, &kp);
    /* Decoding and checking the envelope proves the example passes the stateless rules. */
    tl_event ev;
    if (rc == 0 && (rc = tl_event_prepare(&ev, env.data, env.len, err)) == 0) {
        memcpy(out->pk, ev.key, sizeof out->pk);
        memcpy(out->sig, ev.sig, sizeof out->sig);
        if (ev.body_len != out->body.len || memcmp(ev.body, out->body.data, ev.body_len) != 0)
            rc = tl_fail(err, TL_ECORRUPT, "example.body", "", "%s: body changed in the envelope",
                         ex->type);
        tl_event_free(&ev);
    }
    tl_keypair_wipe(&kp);
    tl_buf_free(&env);
    tl_buf_free(&mp);
    return rc;
}

/* The example shown for type t (and its position in the history), or NULL. */
static const tl_schema_example *shown_example(tl_event_type t, size_t *index)
{
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    const tl_event_spec *spec = tl_schema_event(t);
    for (size_t i = 0; i < n; i++)
        if (ex[i].shown && strcmp(ex[i].type, spec->type) == 0) {
            *index = i;
            return &ex[i];
        }
    return NULL;
}

/* The example as the JSON a submitter would give `techledger sign`. */
static json_t *example_event_json(const built *b)
{
    char idhex[2 * TL_EVENT_ID_BYTES + 1];
    tl_hex_encode(idhex, b->id, sizeof b->id);
    json_t *ev = json_object();
    json_object_set_new(ev, "type", json_string(b->ex->type));
    json_object_set_new(ev, "stream", json_string(b->ex->stream));
    json_object_set_new(ev, "id", json_string(idhex));
    json_object_set_new(ev, "time", json_integer((json_int_t)b->time_ms));
    json_object_set_new(ev, "data", json_loads(b->ex->data, 0, NULL));
    return ev;
}

static void print_hex_block(FILE *out, const uint8_t *p, size_t n)
{
    char line[2 * HEX_LINE_BYTES + 1];
    fputs("```\n", out);
    for (size_t i = 0; i < n; i += HEX_LINE_BYTES) {
        size_t k = n - i < HEX_LINE_BYTES ? n - i : HEX_LINE_BYTES;
        tl_hex_encode(line, p + i, k);
        fprintf(out, "%s\n", line);
    }
    fputs("```\n", out);
}

/* ---- Field descriptions ------------------------------------------------------------------ */

static void field_type_text(char *out, size_t cap, const tl_field_spec *f)
{
    char base[96];
    tl_field_type t = (tl_field_type)f->type;
    switch (t) {
    case TL_FT_TEXT:
        snprintf(base, sizeof base, "text (%llu..%llu bytes)", (unsigned long long)f->min,
                 (unsigned long long)f->max);
        break;
    case TL_FT_UINT:
        snprintf(base, sizeof base, "uint %llu..%llu", (unsigned long long)f->min,
                 (unsigned long long)f->max);
        break;
    case TL_FT_FEN:
        snprintf(base, sizeof base, "uint fen (%s..10^15)", (f->flags & TL_FIELD_POSITIVE) ? "1" : "0");
        break;
    case TL_FT_CODE:
        snprintf(base, sizeof base, "code: %s", f->codes->name);
        break;
    case TL_FT_ORIGIN:
        snprintf(base, sizeof base, "origin (1..%llu bytes)", (unsigned long long)f->max);
        break;
    default:
        snprintf(base, sizeof base, "%s", tl_field_type_name(t));
    }
    if (f->flags & TL_FIELD_ARRAY)
        snprintf(out, cap, "array of %s, %llu..%llu, no duplicates", base, (unsigned long long)f->min,
                 (unsigned long long)f->max);
    else
        snprintf(out, cap, "%s", base);
}

/* Code lists named by any field, each once, in catalogue order. */
#define CODELISTS_MAX 16
static size_t collect_codelists(const tl_codelist **lists)
{
    size_t n = 0;
    for (int t = 0; t < TL_EV_COUNT; t++) {
        const tl_event_spec *spec = tl_schema_event((tl_event_type)t);
        for (size_t i = 0; i < spec->field_count; i++) {
            const tl_codelist *c = spec->fields[i].codes;
            if (spec->fields[i].type != TL_FT_CODE || c == NULL)
                continue;
            bool have = false;
            for (size_t k = 0; k < n; k++)
                have = have || lists[k] == c;
            if (!have && n < CODELISTS_MAX)
                lists[n++] = c;
        }
    }
    return n;
}

/* Rules of the table that apply to every event type alike are printed once, up front; the
 * rest are listed under each type they apply to. */
static bool rule_is_generic(const tl_rule_doc *r)
{
    uint32_t all = (1u << TL_EV_COUNT) - 1u;
    uint32_t signed_types = all & ~(1u << TL_EV_LEDGER_GENESIS);
    return r->types == all || r->types == signed_types;
}

/* "<reg_no>" for contract/..., "<id>" for other families, "" for the fixed stream "ledger". */
static const char *stream_suffix(const tl_event_spec *spec)
{
    if (spec->stream[strlen(spec->stream) - 1] != '/')
        return "";
    return strcmp(spec->stream, "contract/") == 0 ? "<reg_no>" : "<id>";
}

/* ---- Markdown ----------------------------------------------------------------------------- */

/* Table cells: a '|' would end the cell, so it is escaped. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void md_rule_row(FILE *out, const tl_rule_doc *r)
{
    fprintf(out, "| `%s` | `%s` | %s | ", r->rule, r->path, code_name(r->code));
    md_cell(out, r->text);
    fputs(" |\n", out);
}

static void md_rule_rows(FILE *out, const tl_rule_doc *rules, size_t n, bool generic, int type)
{
    fputs("| rule | path | code | meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < n; i++) {
        const tl_rule_doc *r = &rules[i];
        if (generic ? !rule_is_generic(r)
                    : (rule_is_generic(r) || !tl_rule_doc_applies(r, (tl_event_type)type)))
            continue;
        md_rule_row(out, r);
    }
}

/* The catalogue's one-line docs start in lower case; as a sentence they start in upper case. */
static void md_sentence(FILE *out, const char *s)
{
    if (s[0] >= 'a' && s[0] <= 'z') {
        fputc(s[0] - 'a' + 'A', out);
        s++;
    }
    fprintf(out, "%s.\n", s);
}

static const char md_intro[] =
    "# techledger event catalogue\n"
    "\n"
    "<!-- Generated by `techledger schema --markdown` from ledger/schema.c and ledger/rules.c.\n"
    "     Do not edit: change the tables and regenerate; test_rules fails while this file differs. -->\n"
    "\n"
    "Every change to the ledger is one signed event. This page lists every event type: its\n"
    "stream, who signs it, its fields, the rules it is judged by, and a worked example with its\n"
    "exact bytes. The wire format itself is fixed by `spec/FORMAT.md`; in short:\n"
    "\n"
    "- **Canonical MessagePack** (FORMAT.md section 1). One logical event has exactly one byte\n"
    "  form: shortest integer, string, array and map headers; non-negative integers in the uint\n"
    "  family; text as `str` (UTF-8), bytes as `bin`; map keys are `str`, unique and sorted\n"
    "  bytewise; no float, ext or nil (an absent optional field is left out); nothing after the\n"
    "  top-level object. Anything else is refused with a `canonical.*` rule and the path.\n"
    "- **Body** (section 3): the map `{data, expect?, id, stream, time, type}` (canonical key\n"
    "  order). `id` is 16 bytes chosen by the submitter (resubmitting the same signed event is\n"
    "  idempotent), `time` the submitter's clock in ms since the epoch, `expect` the stream\n"
    "  version the stream must be at (0: it must not exist yet). At most 64 KiB.\n"
    "- **Signature** (section 2): Ed25519 (RFC 8032) over\n"
    "  `\"techledger/event/v1\" || 0x00 || body`, the body's exact bytes. A key is named by its\n"
    "  32-byte public key.\n"
    "- **Envelope** (section 4): the array `[1, body (bin), key (bin 32), sig (bin 64)]`; a batch\n"
    "  is an array of envelopes. The ledger stores the body as signed and never re-encodes it.\n"
    "- **Record** (section 5): the ledger adds `seq`, its own clock and the event's version in\n"
    "  its stream, and hashes the record into the Merkle tree (section 6).\n"
    "\n"
    "## Who may sign\n"
    "\n"
    "A key signs only while it is active (listed in `participant.registered` or added by\n"
    "`participant.key_added`, and not revoked) as of the event's place in the log. \"admin\"\n"
    "and \"registry\" in the signer column mean any active key of a participant holding that\n"
    "role (the genesis key holds the admin role); other signers are named per entity (\"a key of\n"
    "the fund's manager\" is a key of the participant named `manager` when the fund was\n"
    "established). A participant's roles are fixed when it is registered. Keys are never shared\n"
    "between participants and never reused, even after revocation.\n"
    "\n"
    "## Errors\n"
    "\n"
    "Every rejection names the rule that failed and the field (`tl_error.rule` and `.path`; the\n"
    "HTTP API returns them as `{\"error\": rule, \"path\": ...}`), and a rejected event changes\n"
    "nothing. The code column gives the `TL_E...` class: EINVAL malformed, ESIG bad signature,\n"
    "EDENIED the signer may not, ECONFLICT contradicts the log, EREF names something not in\n"
    "the log, ESTATE not possible in the entity's state. In paths, `F` stands for any field and\n"
    "`[i]` for any index.\n"
    "\n"
    "Not rejections: the guidance-fund rules (guidance share 10%-30% of a sub-fund and not its\n"
    "largest investor; investment in qualifying firms at least 3x the guidance money and 50% of\n"
    "the sub-fund's size; loan compensation at most 2% of the bank's eligible lending in a year)\n"
    "and payments reconciling with registered amounts are findings the views compute over the\n"
    "whole history. An event that makes a fund break them is still a true record and is\n"
    "accepted.\n";

static void md_types_and_codes(FILE *out)
{
    fputs("\n## Field types\n\n"
          "| type | wire | rule |\n|---|---|---|\n"
          "| id | str | 1..64 bytes of `[a-z0-9._-]`, not `.` or `..` |\n"
          "| reg_no | str | 技术合同登记编号: exactly 16 digits |\n"
          "| region | str | six digits naming a province (`XX0000`), city (`XXXX00`) or county in "
          "the GB/T 2260 tables |\n"
          "| date | str | `YYYY-MM-DD`, a day that exists, years 1949..2099 |\n"
          "| uint fen | uint | money in fen (1 yuan = 100 fen), at most 10^15 (10万亿元); flows of "
          "money at least 1 |\n"
          "| text | str | UTF-8 without control, line-separator or bidirectional-override "
          "characters |\n"
          "| bin 32 | bin | an Ed25519 public key; in JSON, 64 hex digits or base64 |\n"
          "| credit code | str | 统一社会信用代码, 18 characters with a valid check character "
          "(GB 32100-2015) |\n"
          "| origin | str | the ledger's name: printable ASCII without space or `+` |\n"
          "| code | str | a name from the code list named |\n",
          out);
    const tl_codelist *lists[CODELISTS_MAX];
    size_t n = collect_codelists(lists);
    fputs("\n## Code lists\n", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "\n**%s**: ", lists[i]->name);
        for (size_t k = 0; k < lists[i]->count; k++) {
            const tl_code *c = &lists[i]->codes[k];
            fprintf(out, "%s`%s`", k ? ", " : "", c->name);
            if (c->name_zh != NULL && c->name_zh[0] != '\0')
                fprintf(out, " %s", c->name_zh);
        }
        fputs("\n", out);
    }
    fputs("\nA contract's `subtype` must be one of its `class`: development (commissioned, "
          "cooperative); transfer (patent, patent_application, technical_secret, other_ip); "
          "license (patent_license, secret_license, other_license); consulting (feasibility, "
          "forecast, survey, assessment, other); service (general, training, intermediary).\n",
          out);
}

static void md_generic_rules(FILE *out)
{
    size_t n;
    const tl_rule_doc *rules = tl_rules_doc(&n);
    fputs("\n## Rules for every event\n\nIn the order they are checked: the envelope and "
          "signature, the schema of the body (stateless), then against the log.\n\n"
          "Stateless (the schema tables below):\n\n",
          out);
    size_t sn;
    const tl_rule_doc *srules = tl_schema_rules_doc(&sn);
    fputs("| rule | path | code | meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < sn; i++)
        md_rule_row(out, &srules[i]);
    fputs("\nThe signature, the sequencing of the log and the key registry, for every event type "
          "(rules that apply to some types only are listed under each type):\n\n",
          out);
    md_rule_rows(out, rules, n, true, -1);
}

static int md_event(FILE *out, tl_event_type t, tl_error *err)
{
    const tl_event_spec *spec = tl_schema_event(t);
    fprintf(out, "\n### `%s`\n\n", spec->type);
    md_sentence(out, spec->doc);
    fputs("\n", out);
    fprintf(out, "- stream: `%s%s`%s\n", spec->stream, stream_suffix(spec),
            spec->stream_field == NULL && spec->stream[strlen(spec->stream) - 1] == '/'
                ? " (an entity already in the log)"
                : "");
    fprintf(out, "- signed by: %s\n", spec->signer);
    if (spec->rules[0] != '\0')
        fprintf(out, "- checks within the event: %s\n", spec->rules);
    fputs("\n| field | type | required | meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < spec->field_count; i++) {
        const tl_field_spec *f = &spec->fields[i];
        char type[160];
        field_type_text(type, sizeof type, f);
        fprintf(out, "| `%s` | %s | %s | ", f->name, type, (f->flags & TL_FIELD_OPTIONAL) ? "no" : "yes");
        md_cell(out, f->doc);
        fputs(" |\n", out);
    }
    size_t n;
    const tl_rule_doc *rules = tl_rules_doc(&n);
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any = any || (!rule_is_generic(&rules[i]) && tl_rule_doc_applies(&rules[i], t));
    if (any) {
        fputs("\nRules against the log:\n\n", out);
        md_rule_rows(out, rules, n, false, (int)t);
    }

    size_t index;
    const tl_schema_example *ex = shown_example(t, &index);
    if (ex == NULL)
        return tl_fail(err, TL_EINVAL, "example.missing", "", "%s has no shown example", spec->type);
    built b;
    int rc = build_example(&b, ex, index, err);
    if (rc != 0) {
        tl_buf_free(&b.body);
        return rc;
    }
    json_t *ev = example_event_json(&b);
    char *text = json_dumps(ev, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(ev);
    char pkhex[2 * TL_PUBKEY_BYTES + 1];
    tl_hex_encode(pkhex, b.pk, sizeof b.pk);
    fprintf(out, "\nExample (event %zu of the example history), signed by %s (key seed 32 x 0x%02x, "
                 "public key `%s`):\n\n```json\n%s\n```\n\nCanonical body, %zu bytes:\n\n",
            index, ex->signer, ex->seed, pkhex, text != NULL ? text : "", b.body.len);
    free(text);
    print_hex_block(out, b.body.data, b.body.len);
    fputs("\nSignature:\n\n", out);
    print_hex_block(out, b.sig, sizeof b.sig);
    tl_buf_free(&b.body);
    return 0;
}

static int print_markdown(FILE *out, const bool *want, tl_error *err)
{
    fputs(md_intro, out);
    md_types_and_codes(out);
    md_generic_rules(out);
    fputs("\n## Event types\n\n| type | stream | signed by |\n|---|---|---|\n", out);
    for (int t = 0; t < TL_EV_COUNT; t++) {
        const tl_event_spec *spec = tl_schema_event((tl_event_type)t);
        if (!want[t])
            continue;
        fprintf(out, "| `%s` | `%s%s` | ", spec->type, spec->stream, stream_suffix(spec));
        md_cell(out, spec->signer);
        fputs(" |\n", out);
    }
    size_t n;
    const tl_schema_example *ex = tl_schema_examples(&n);
    fputs("\nThe examples form one history, in this order, that the ledger accepts from an "
          "empty log (the tests replay it): the genesis, then\n",
          out);
    for (size_t i = 1; i < n; i++)
        fprintf(out, "%s`%s` on `%s` by %s", i > 1 ? ",\n" : "", ex[i].type, ex[i].stream, ex[i].signer);
    fputs(".\nEach event's id is 15 zero bytes followed by its position in the history plus one, "
          "its time 2020-01-01T00:00:00Z plus one minute per position. The signing keys are "
          "derived from seeds of 32 equal bytes: 0x01 admin, 0x02 registry-bj, 0x03 tsinghua, "
          "0x04 kjcg-mgmt, 0x05 icbc-bj, 0x06 a spare key of registry-bj, 0x07 zgc-capital. "
          "The events not shown below are:\n\n",
          out);
    for (size_t i = 1; i < n; i++)
        if (!ex[i].shown)
            fprintf(out, "- `%s` on `%s` by %s: `%s`\n", ex[i].type, ex[i].stream, ex[i].signer,
                    ex[i].data);
    for (int t = 0; t < TL_EV_COUNT; t++) {
        if (!want[t])
            continue;
        int rc = md_event(out, (tl_event_type)t, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static json_t *rule_json(const tl_rule_doc *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "rule", json_string(r->rule));
    json_object_set_new(o, "path", json_string(r->path));
    json_object_set_new(o, "code", json_string(code_name(r->code)));
    json_object_set_new(o, "text", json_string(r->text));
    return o;
}

static int print_json(FILE *out, const bool *want, tl_error *err)
{
    json_t *root = json_object(), *types = json_array(), *generic = json_array(), *stateless = json_array();
    size_t n, sn;
    const tl_rule_doc *rules = tl_rules_doc(&n);
    const tl_rule_doc *srules = tl_schema_rules_doc(&sn);
    for (size_t i = 0; i < n; i++)
        if (rule_is_generic(&rules[i]))
            json_array_append_new(generic, rule_json(&rules[i]));
    for (size_t i = 0; i < sn; i++)
        json_array_append_new(stateless, rule_json(&srules[i]));
    int rc = 0;
    for (int t = 0; t < TL_EV_COUNT && rc == 0; t++) {
        if (!want[t])
            continue;
        const tl_event_spec *spec = tl_schema_event((tl_event_type)t);
        json_t *o = json_object(), *fields = json_array(), *log_rules = json_array();
        json_object_set_new(o, "type", json_string(spec->type));
        json_object_set_new(o, "stream", json_string(spec->stream));
        json_object_set_new(o, "stream_field", spec->stream_field ? json_string(spec->stream_field) : json_null());
        json_object_set_new(o, "signer", json_string(spec->signer));
        json_object_set_new(o, "doc", json_string(spec->doc));
        json_object_set_new(o, "checks", json_string(spec->rules));
        for (size_t i = 0; i < spec->field_count; i++) {
            const tl_field_spec *f = &spec->fields[i];
            json_t *fo = json_object();
            json_object_set_new(fo, "name", json_string(f->name));
            json_object_set_new(fo, "type", json_string(tl_field_type_name((tl_field_type)f->type)));
            json_object_set_new(fo, "required", json_boolean(!(f->flags & TL_FIELD_OPTIONAL)));
            json_object_set_new(fo, "array", json_boolean(f->flags & TL_FIELD_ARRAY));
            if (f->type == TL_FT_TEXT || f->type == TL_FT_UINT || (f->flags & TL_FIELD_ARRAY)) {
                json_object_set_new(fo, "min", json_integer((json_int_t)f->min));
                json_object_set_new(fo, "max", json_integer((json_int_t)f->max));
            }
            if (f->type == TL_FT_FEN)
                json_object_set_new(fo, "min", json_integer((f->flags & TL_FIELD_POSITIVE) ? 1 : 0));
            if (f->type == TL_FT_CODE && f->codes != NULL) {
                json_t *codes = json_array();
                for (size_t k = 0; k < f->codes->count; k++)
                    json_array_append_new(codes, json_string(f->codes->codes[k].name));
                json_object_set_new(fo, "codes", codes);
            }
            json_object_set_new(fo, "doc", json_string(f->doc));
            json_array_append_new(fields, fo);
        }
        json_object_set_new(o, "fields", fields);
        for (size_t i = 0; i < n; i++)
            if (!rule_is_generic(&rules[i]) && tl_rule_doc_applies(&rules[i], (tl_event_type)t))
                json_array_append_new(log_rules, rule_json(&rules[i]));
        json_object_set_new(o, "rules", log_rules);
        size_t index;
        const tl_schema_example *ex = shown_example((tl_event_type)t, &index);
        if (ex != NULL) {
            built b;
            rc = build_example(&b, ex, index, err);
            if (rc == 0) {
                json_t *e = example_event_json(&b);
                char *hex = malloc(2 * b.body.len + 1);
                char sig[2 * TL_SIG_BYTES + 1];
                if (hex != NULL) {
                    tl_hex_encode(hex, b.body.data, b.body.len);
                    json_object_set_new(e, "body_hex", json_string(hex));
                }
                tl_hex_encode(sig, b.sig, sizeof b.sig);
                json_object_set_new(e, "sig_hex", json_string(sig));
                json_object_set_new(e, "signer", json_string(ex->signer));
                free(hex);
                json_object_set_new(o, "example", e);
            }
            tl_buf_free(&b.body);
        }
        json_array_append_new(types, o);
    }
    json_object_set_new(root, "format", json_integer(TL_FORMAT_VERSION));
    json_object_set_new(root, "stateless_rules", stateless);
    json_object_set_new(root, "rules", generic);
    json_object_set_new(root, "types", types);
    if (rc == 0) {
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text != NULL)
            fprintf(out, "%s\n", text);
        free(text);
    }
    json_decref(root);
    return rc;
}

int tl_cmd_schema(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(schema_help, stdout);
        return TL_EXIT_OK;
    }
    bool markdown = false, filtered = false, want[TL_EV_COUNT];
    memset(want, 0, sizeof want);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") == 0) {
            markdown = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "techledger schema: unknown option '%s'\n\n%s", argv[i], schema_help);
            return TL_EXIT_USAGE;
        } else {
            const tl_event_spec *spec = tl_schema_for_type(argv[i], strlen(argv[i]));
            if (spec == NULL) {
                fprintf(stderr, "techledger schema: schema.type at type: '%s' is not an event type "
                                "(see 'techledger schema --markdown')\n",
                        argv[i]);
                return TL_EXIT_USAGE;
            }
            want[spec->id] = true;
            filtered = true;
        }
    }
    if (!filtered)
        memset(want, 1, sizeof want);
    tl_error err;
    tl_error_clear(&err);
    int rc = markdown ? print_markdown(stdout, want, &err) : print_json(stdout, want, &err);
    if (rc != 0) {
        char msg[512];
        fprintf(stderr, "techledger schema: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_FAILURE;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "techledger schema: cannot write the output\n");
        return TL_EXIT_IO;
    }
    return TL_EXIT_OK;
}
