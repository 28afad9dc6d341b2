/*
 * Writes the seed corpus of the fuzz targets: gen_corpus OUTDIR creates OUTDIR/<target>/<name>
 * for every target (mp, envelope, record, note, json, bundle, http). Everything is deterministic (fixed keys
 * from fuzz.h, fixed ids and clocks), so rerunning it reproduces fuzz/corpus/ byte for byte.
 * The seeds are valid inputs: a fuzzer starting from them reaches the checks behind the
 * parsers (schema, signatures, canonical rewrites) instead of stalling on the first byte.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "gen_corpus.h"
#include "tl_checkpoint.h"
#include "tl_json_event.h"
#include "tl_merkle.h"
#include "tl_note.h"

#define GEN_TIME_MS 1577836800000ull /* 2020-01-01T00:00:00Z */

static const char *outdir;

void gen_die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s\n", what);
    exit(1);
}

void gen_put(const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        gen_die(path);
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        gen_die(path);
}

/* JSON events signed by `signer` (a FUZZ_KEY_...). Ids and times are fixed. */
typedef struct seed_event {
    const char *name;
    int signer;
    const char *json;
} seed_event;

static const seed_event events[] = {
    {"genesis", FUZZ_KEY_ADMIN,
     "{\"type\":\"ledger.genesis\",\"stream\":\"ledger\",\"id\":\"00000000000000000000000000000001\","
     "\"time\":1577836800000,\"data\":{\"origin\":\"fuzz.example/ledger\",\"admin\":\"@ADMIN@\"}}"},
    {"participant", FUZZ_KEY_ADMIN,
     "{\"type\":\"participant.registered\",\"stream\":\"participant/registry-bj\","
     "\"id\":\"00000000000000000000000000000002\",\"time\":1577836800001,\"data\":{\"id\":\"registry-bj\","
     "\"name\":\"北京技术市场管理办公室\",\"kind\":\"registry\",\"region\":\"110000\","
     "\"roles\":[\"registry\"],\"keys\":[\"@REGISTRY@\"],\"credit_code\":\"91350100M000100Y43\"}}"},
    {"contract", FUZZ_KEY_REGISTRY,
     "{\"type\":\"contract.registered\",\"stream\":\"contract/2019110108000123\","
     "\"id\":\"00000000000000000000000000000003\",\"time\":1577836800002,\"expect\":0,\"data\":{"
     "\"reg_no\":\"2019110108000123\",\"class\":\"transfer\",\"subtype\":\"patent\",\"seller\":\"tsinghua\","
     "\"buyer\":\"acme\",\"seller_region\":\"110108\",\"buyer_region\":\"310000\","
     "\"field\":\"electronic_information\",\"signed_on\":\"2019-03-01\",\"registered_on\":\"2019-03-02\","
     "\"total_fen\":100000000,\"tech_fen\":80000000,\"achievements\":[\"a1\",\"a2\"],"
     "\"confidentiality\":\"commercial_secret\",\"title\":\"激光雷达专利转让\"}}"},
    {"amended", FUZZ_KEY_REGISTRY,
     "{\"type\":\"contract.amended\",\"stream\":\"contract/2019110108000123\","
     "\"id\":\"00000000000000000000000000000004\",\"time\":1577836800003,\"expect\":1,\"data\":{"
     "\"total_fen\":120000000,\"tech_fen\":90000000,\"amended_on\":\"2019-05-01\",\"reason\":\"scope\"}}"},
    {"achievement", FUZZ_KEY_REGISTRY,
     "{\"type\":\"achievement.registered\",\"stream\":\"achievement/a1\","
     "\"id\":\"00000000000000000000000000000005\",\"time\":1577836800004,\"data\":{\"id\":\"a1\","
     "\"title\":\"高效光伏电池\",\"owner\":\"tsinghua\",\"field\":\"new_energy\",\"fiscal_funded\":true,"
     "\"confidentiality\":\"public\",\"ip\":\"ZL201910000000.1\"}}"},
    {"fund", FUZZ_KEY_ADMIN,
     "{\"type\":\"fund.established\",\"stream\":\"fund/sub-1\","
     "\"id\":\"00000000000000000000000000000006\",\"time\":1577836800005,\"data\":{\"id\":\"sub-1\","
     "\"name\":\"成果转化子基金\",\"kind\":\"sub_fund\",\"level\":\"national\",\"region\":\"110000\","
     "\"manager\":\"fm\",\"parent\":\"guide\",\"size_fen\":1000000000000}}"},
    {"equity", FUZZ_KEY_REGISTRY,
     "{\"type\":\"equity.recorded\",\"stream\":\"equity/e1\",\"id\":\"00000000000000000000000000000007\","
     "\"time\":1577836800006,\"data\":{\"id\":\"e1\",\"achievement\":\"a1\",\"company\":\"acme\","
     "\"valuation_fen\":5000000,\"shares_ppm\":100000,\"inventor_share_ppm\":700000,\"dated\":\"2020-02-02\"}}"},
    {"loan", FUZZ_KEY_REGISTRY,
     "{\"type\":\"loan.issued\",\"stream\":\"loan/l1\",\"id\":\"00000000000000000000000000000008\","
     "\"time\":1577836800007,\"data\":{\"id\":\"l1\",\"bank\":\"icbc\",\"borrower\":\"acme\","
     "\"amount_fen\":300000000,\"term_months\":36,\"dated\":\"2020-03-03\",\"pool\":\"pool-1\"}}"},
    {"payment", FUZZ_KEY_REGISTRY,
     "{\"type\":\"payment.received\",\"stream\":\"contract/2019110108000123\","
     "\"id\":\"00000000000000000000000000000009\",\"time\":1577836800008,\"data\":{"
     "\"amount_fen\":5000,\"received_on\":\"2019-06-01\"}}"},
    {"bad-schema", FUZZ_KEY_REGISTRY, /* tech above total: passes JSON, fails the schema */
     "{\"type\":\"contract.amended\",\"stream\":\"contract/2019110108000123\","
     "\"id\":\"0000000000000000000000000000000a\",\"time\":1577836800009,\"data\":{"
     "\"total_fen\":1,\"tech_fen\":2,\"amended_on\":\"2019-05-01\",\"reason\":\"x\"}}"},
};

/* Replaces @ADMIN@ and @REGISTRY@ by the fixed keys in hex. */
static char *fill_keys(const char *json)
{
    tl_keypair a, r;
    fuzz_keypair(&a, FUZZ_KEY_ADMIN);
    fuzz_keypair(&r, FUZZ_KEY_REGISTRY);
    char ahex[65], rhex[65];
    tl_hex_encode(ahex, a.pk, 32);
    tl_hex_encode(rhex, r.pk, 32);
    size_t cap = strlen(json) + 256;
    char *out = malloc(cap);
    if (out == NULL)
        gen_die("out of memory");
    out[0] = '\0';
    for (const char *p = json; *p;) {
        if (strncmp(p, "@ADMIN@", 7) == 0) {
            strcat(out, ahex);
            p += 7;
        } else if (strncmp(p, "@REGISTRY@", 10) == 0) {
            strcat(out, rhex);
            p += 10;
        } else {
            size_t n = strlen(out);
            out[n] = *p++;
            out[n + 1] = '\0';
        }
    }
    return out;
}

static void append_or_die(tl_buf *b, const void *data, size_t len)
{
    if (tl_buf_append(b, data, len) != 0)
        gen_die("out of memory");
}

/* One section of a fuzz_bundle input: tag, length (2 bytes, little-endian), bytes. */
static void section(tl_buf *out, char tag, const void *data, size_t len)
{
    if (len > 0xffff)
        gen_die("bundle section too long");
    uint8_t head[3] = {(uint8_t)tag, (uint8_t)(len & 0xff), (uint8_t)(len >> 8)};
    append_or_die(out, head, sizeof head);
    append_or_die(out, data, len);
}

/* A checkpoint file of the bundle: its name and the note at size over the first size leaves. */
static void checkpoint_section(tl_buf *out, uint8_t (*leaves)[TL_HASH_BYTES], uint64_t size,
                               const tl_keypair *cpk)
{
    tl_merkle_frontier f;
    tl_merkle_frontier_init(&f);
    for (uint64_t i = 0; i < size; i++)
        tl_merkle_frontier_append(&f, leaves[i], NULL, NULL);
    tl_checkpoint cp = {.size = size};
    snprintf(cp.origin, sizeof cp.origin, "%s", FUZZ_ORIGIN);
    tl_merkle_frontier_root(cp.root, &f);
    char text[TL_CHECKPOINT_TEXT_BYTES_MAX], name[24];
    size_t text_len;
    tl_error err;
    char *note;
    size_t note_len;
    if (tl_checkpoint_format(text, &text_len, &cp, &err) != 0 ||
        tl_note_sign(&note, &note_len, text, text_len, FUZZ_ORIGIN, cpk, &err) != 0)
        gen_die(err.msg);
    snprintf(name, sizeof name, "%llu", (unsigned long long)size);
    section(out, 'N', name, strlen(name));
    section(out, 'C', note, note_len);
    free(note);
}

/* fuzz_bundle's seeds: whole bundles that verify (see fuzz_bundle.c for the input format). */
static void gen_bundle_seeds(const uint8_t *records, size_t records_len, uint8_t (*leaves)[TL_HASH_BYTES],
                             const char *vkey_line, const tl_keypair *cpk)
{
    tl_keypair admin;
    fuzz_keypair(&admin, FUZZ_KEY_ADMIN);
    char admin_hex[2 * TL_PUBKEY_BYTES + 2];
    tl_hex_encode(admin_hex, admin.pk, TL_PUBKEY_BYTES);
    strcat(admin_hex, "\n");
    tl_buf b;
    tl_buf_init(&b);
    /* every record covered: checkpoints after the genesis and at the end */
    section(&b, 'R', records, records_len);
    section(&b, 'V', vkey_line, strlen(vkey_line));
    section(&b, 'A', admin_hex, strlen(admin_hex));
    checkpoint_section(&b, leaves, 1, cpk);
    checkpoint_section(&b, leaves, 2, cpk);
    gen_put("bundle", "covered", b.data, b.len);
    /* a record after the only checkpoint (a bundle exported between two checkpoints) */
    tl_buf_reset(&b);
    section(&b, 'R', records, records_len);
    section(&b, 'V', vkey_line, strlen(vkey_line));
    section(&b, 'A', admin_hex, strlen(admin_hex));
    checkpoint_section(&b, leaves, 1, cpk);
    gen_put("bundle", "uncovered", b.data, b.len);
    tl_buf_free(&b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
        gen_die(outdir);
    fuzz_init();

    tl_buf batch, records;
    tl_buf_init(&batch);
    tl_buf_init(&records);
    size_t n_events = sizeof events / sizeof events[0];
    uint8_t leaves[2][TL_HASH_BYTES]; /* of the first two records */
    size_t valid_len = 0;             /* their bytes at the start of records */
    tl_mp_writer bw;
    tl_mp_writer_init(&bw, &batch);
    tl_mp_array(&bw, 3);
    for (size_t i = 0; i < n_events; i++) {
        char *json = fill_keys(events[i].json);
        gen_put("json", events[i].name, json, strlen(json));
        json_error_t jerr;
        json_t *ev = json_loads(json, 0, &jerr);
        if (ev == NULL)
            gen_die(jerr.text);
        tl_keypair kp;
        fuzz_keypair(&kp, events[i].signer);
        tl_buf env;
        tl_buf_init(&env);
        tl_error err;
        if (tl_json_envelope(&env, ev, &kp, GEN_TIME_MS, &err) != 0)
            gen_die(err.msg);
        gen_put("envelope", events[i].name, env.data, env.len);
        if (i < 3)
            append_or_die(&batch, env.data, env.len);
        tl_event e;
        if (tl_envelope_decode(&e, env.data, env.len, &err) != 0)
            gen_die(err.msg);
        gen_put("mp", events[i].name, e.body, e.body_len);
        tl_record r = {.seq = i, .recorded_ms = GEN_TIME_MS + 1000 * i, .version = 1, .body = e.body,
                       .body_len = e.body_len, .key = e.key, .sig = e.sig};
        tl_buf rec;
        tl_buf_init(&rec);
        if (tl_record_encode(&rec, &r) != 0)
            gen_die("record");
        gen_put("record", events[i].name, rec.data, rec.len);
        if (i < 3)
            append_or_die(&records, rec.data, rec.len);
        if (i < 2) { /* genesis and the registry: a log that verifies on its own */
            tl_leaf_hash(leaves[i], rec.data, rec.len);
            valid_len = records.len;
        }
        tl_buf_free(&rec);
        tl_event_free(&e);
        tl_buf_free(&env);
        json_decref(ev);
        free(json);
    }
    gen_put("envelope", "batch-of-3", batch.data, batch.len);
    gen_put("record", "records-file-of-3", records.data, records.len);
    gen_put("mp", "batch-of-3", batch.data, batch.len);

    /* Small canonical documents covering every node type and header width. */
    tl_buf doc;
    tl_buf_init(&doc);
    tl_mp_writer w;
    tl_mp_writer_init(&w, &doc);
    tl_mp_map(&w, 4);
    tl_mp_key(&w, "a");
    tl_mp_array(&w, 6);
    tl_mp_uint(&w, 0);
    tl_mp_uint(&w, 200);
    tl_mp_uint(&w, 70000);
    tl_mp_uint(&w, UINT64_MAX);
    msgpack_pack_int64(&w.pk, -1);
    msgpack_pack_int64(&w.pk, INT64_MIN);
    tl_mp_key(&w, "ab");
    tl_mp_bool(&w, true);
    tl_mp_key(&w, "b");
    uint8_t bytes[300];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)i;
    tl_mp_bin(&w, bytes, sizeof bytes);
    tl_mp_key(&w, "c");
    tl_mp_map(&w, 1);
    tl_mp_key(&w, "d");
    tl_mp_str(&w, "技术合同 with a longer text to need a str8 header");
    if (w.failed)
        gen_die("out of memory");
    gen_put("mp", "all-types", doc.data, doc.len);
    tl_buf_reset(&doc);
    for (int i = 0; i < TL_MP_DEPTH_MAX - 1; i++)
        tl_mp_array(&w, 1);
    tl_mp_uint(&w, 1);
    gen_put("mp", "deep", doc.data, doc.len);
    tl_buf_free(&doc);

    /* Checkpoints: the body, a signed note, a cosigned note, the verifier key line. */
    tl_keypair cpk, other;
    fuzz_keypair(&cpk, FUZZ_KEY_CHECKPOINT);
    fuzz_keypair(&other, FUZZ_KEY_ADMIN);
    tl_checkpoint cp = {.size = 12345};
    snprintf(cp.origin, sizeof cp.origin, "%s", FUZZ_ORIGIN);
    tl_sha256(cp.root, "fuzz", 4);
    char text[TL_CHECKPOINT_TEXT_BYTES_MAX];
    size_t text_len;
    tl_error err;
    if (tl_checkpoint_format(text, &text_len, &cp, &err) != 0)
        gen_die(err.msg);
    gen_put("note", "checkpoint-body", text, text_len);
    char *note, *note2;
    size_t note_len, note2_len;
    if (tl_note_sign(&note, &note_len, text, text_len, FUZZ_ORIGIN, &cpk, &err) != 0 ||
        tl_note_sign(&note2, &note2_len, text, text_len, "witness.example", &other, &err) != 0)
        gen_die(err.msg);
    gen_put("note", "checkpoint-note", note, note_len);
    /* cosigned: our note plus the witness's signature line */
    tl_buf co;
    tl_buf_init(&co);
    append_or_die(&co, note, note_len);
    append_or_die(&co, note2 + text_len + 1, note2_len - text_len - 1);
    gen_put("note", "checkpoint-cosigned", co.data, co.len);
    tl_buf_free(&co);
    free(note);
    free(note2);
    tl_note_verifier v;
    if (tl_note_verifier_init(&v, FUZZ_ORIGIN, cpk.pk, &err) != 0)
        gen_die(err.msg);
    char line[TL_NOTE_VKEY_BYTES_MAX + 1];
    tl_note_vkey_format(line, &v);
    strcat(line, "\n");
    gen_put("note", "vkey", line, strlen(line));
    gen_bundle_seeds(records.data, valid_len, leaves, line, &cpk);
    tl_buf_free(&batch);
    tl_buf_free(&records);
    gen_http_seeds();
    return 0;
}
