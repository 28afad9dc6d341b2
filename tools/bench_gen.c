/*
 * `techledger bench`: the signed events of a run, generated before anything is timed.
 *
 * The ledger is set up the way a real one is: the administrator registers BENCH_REGISTRIES
 * registry offices (each with its own key and the registry role) and BENCH_PARTIES sellers and
 * buyers (no keys), and the registries register a few base contracts. The timed events are
 * then, out of every 20: 18 new contract registrations (each its own stream), one amendment
 * and one payment on a base contract, signed by the registries in turn. No timed event
 * depends on another timed event, so they may arrive in any order over many connections and
 * every one is accepted.
 *
 * Every event goes through tl_json_envelope, the same path as `techledger sign`; the bodies
 * are about 600 bytes, like a real registration with a title.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bench_common.h"
#include "tl_event.h"
#include "tl_json_event.h"

#define GEN_HEADER_ROOM 5u /* the largest array header: 0xdd and 4 bytes */
#define GEN_SETUP_BATCH 1000u
#define GEN_THREADS_MAX 16u
#define GEN_PERIOD 20u

static const char *const provinces[] = {"110000", "120000", "130000", "140000", "150000", "210000", "220000",
                                        "230000", "310000", "320000", "330000", "340000", "350000", "360000",
                                        "370000", "410000", "420000", "430000", "440000", "450000", "460000",
                                        "500000", "510000", "520000", "530000", "540000", "610000", "620000",
                                        "630000", "640000", "650000"};
#define PROVINCES (sizeof provinces / sizeof provinces[0])

static const char *const kinds[] = {"university", "enterprise", "research_institute", "enterprise",
                                    "tech_transfer_agency", "enterprise"};
static const char *const fields[] = {"electronic_information", "advanced_manufacturing", "aerospace",
                                     "modern_transport", "agriculture", "new_materials", "new_energy",
                                     "environment", "biomedicine", "nuclear", "urban_social"};
static const struct {
    const char *cls, *sub;
} classes[] = {{"development", "commissioned"}, {"development", "cooperative"}, {"transfer", "patent"},
               {"transfer", "technical_secret"}, {"license", "patent_license"}, {"consulting", "assessment"},
               {"service", "general"}, {"service", "intermediary"}};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void party_id(char *out, size_t cap, size_t k) { snprintf(out, cap, "bench-party-%03zu", k % BENCH_PARTIES); }
static const char *party_region(size_t k) { return provinces[(k % BENCH_PARTIES) % PROVINCES]; }
static void base_reg_no(char *out, size_t cap, size_t b) { snprintf(out, cap, "2016%012zu", (size_t)900000000000u + b); }

/* Appends one signed envelope of a JSON event to out. */
static int add_event(tl_buf *out, json_t *ev, const tl_keypair *kp, tl_error *err)
{
    if (ev == NULL)
        return tl_fail(err, TL_ENOMEM, "bench.generate", "", "cannot build a JSON event");
    int rc = tl_json_envelope(out, ev, kp, now_ms(), err);
    json_decref(ev);
    return rc;
}

static json_t *contract_json(const char *reg_no, size_t k, int year)
{
    char stream[64], seller[32], buyer[32], signed_on[16], registered_on[16], title[160];
    snprintf(stream, sizeof stream, "contract/%s", reg_no);
    size_t s = (k * 31u) % BENCH_PARTIES, b = (k * 17u + 5u) % BENCH_PARTIES;
    if (b == s)
        b = (b + 1) % BENCH_PARTIES;
    party_id(seller, sizeof seller, s);
    party_id(buyer, sizeof buyer, b);
    unsigned month = 1u + (unsigned)(k % 12u), day = 1u + (unsigned)(k % 26u);
    snprintf(signed_on, sizeof signed_on, "%04d-%02u-%02u", year, month, day);
    snprintf(registered_on, sizeof registered_on, "%04d-%02u-%02u", year, month, day + 2u);
    snprintf(title, sizeof title, "一种高效钙钛矿太阳能电池的制备方法及其应用 第%zu号技术合同", k);
    uint64_t total = 100000u + (uint64_t)(k * 7919u % 1000000000u);
    const char *cls = classes[k % (sizeof classes / sizeof classes[0])].cls;
    const char *sub = classes[k % (sizeof classes / sizeof classes[0])].sub;
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:s}}", "type",
                     "contract.registered", "stream", stream, "data", "reg_no", reg_no, "class", cls, "subtype", sub,
                     "seller", seller, "buyer", buyer, "seller_region", party_region(s), "buyer_region",
                     party_region(b), "field", fields[k % (sizeof fields / sizeof fields[0])], "signed_on",
                     signed_on, "registered_on", registered_on, "total_fen", (json_int_t)total, "tech_fen",
                     (json_int_t)(total / 5u * 4u), "title", title);
}

/* Timed event i. */
static json_t *timed_json(size_t i, size_t base_contracts)
{
    char reg_no[48], stream[80];
    size_t slot = i % GEN_PERIOD;
    if (slot == 0 || slot == 1) {
        base_reg_no(reg_no, sizeof reg_no, (i / GEN_PERIOD) % base_contracts);
        snprintf(stream, sizeof stream, "contract/%s", reg_no);
        uint64_t amount = 500000u + (uint64_t)(i * 131u % 100000000u);
        if (slot == 0)
            return json_pack("{s:s,s:s,s:{s:I,s:I,s:s,s:s}}", "type", "contract.amended", "stream", stream, "data",
                             "total_fen", (json_int_t)(amount * 2u), "tech_fen", (json_int_t)amount, "amended_on",
                             "2017-06-01", "reason", "范围扩大到中试生产 (scope extended to pilot production)");
        return json_pack("{s:s,s:s,s:{s:I,s:s}}", "type", "payment.received", "stream", stream, "data", "amount_fen",
                         (json_int_t)amount, "received_on", "2017-03-01");
    }
    int year = 2016 + (int)(i % 10u);
    snprintf(reg_no, sizeof reg_no, "%04d%012zu", year, i % 1000000000000u);
    return contract_json(reg_no, i, year);
}

static void frame(uint8_t *buf, size_t count, size_t *body_off)
{
    uint8_t h[GEN_HEADER_ROOM];
    size_t hl;
    if (count < 16) {
        h[0] = (uint8_t)(0x90u | count);
        hl = 1;
    } else if (count < 65536) {
        h[0] = 0xdc;
        h[1] = (uint8_t)(count >> 8);
        h[2] = (uint8_t)count;
        hl = 3;
    } else {
        h[0] = 0xdd;
        for (int k = 0; k < 4; k++)
            h[1 + k] = (uint8_t)(count >> (24 - 8 * k));
        hl = 5;
    }
    memcpy(buf + GEN_HEADER_ROOM - hl, h, hl);
    *body_off = GEN_HEADER_ROOM - hl;
}

typedef struct gen_job {
    bench_events *e;
    size_t base_contracts;
    unsigned thread, threads;
    uint32_t *off; /* event i's offset in its batch buffer */
    tl_error err;
    int rc;
} gen_job;

static void *gen_thread(void *arg)
{
    gen_job *j = arg;
    bench_events *e = j->e;
    tl_buf b;
    size_t done = 0;
    double last = bench_now();
    for (size_t bi = j->thread; bi < e->batches && j->rc == 0 && !bench_stop; bi += j->threads) {
        tl_buf_init(&b);
        uint8_t room[GEN_HEADER_ROOM] = {0};
        if (tl_buf_append(&b, room, sizeof room) != 0) {
            j->rc = tl_fail(&j->err, TL_ENOMEM, "bench.generate", "", "out of memory");
            break;
        }
        size_t first = bi * e->batch_events, last_i = first + e->batch_events;
        if (last_i > e->n)
            last_i = e->n;
        for (size_t i = first; i < last_i && j->rc == 0; i++) {
            size_t start = b.len;
            j->rc = add_event(&b, timed_json(i, j->base_contracts), &e->registry[i % BENCH_REGISTRIES], &j->err);
            j->off[i] = (uint32_t)start;
            e->len[i] = (uint32_t)(b.len - start);
        }
        frame(b.data, last_i - first, &e->batch_body_off[bi]);
        e->batch_body_len[bi] = b.len - e->batch_body_off[bi];
        e->batch_buf[bi] = b.data; /* owned by e now */
        done += last_i - first;
        if (j->thread == 0 && bench_now() - last > 5.0) {
            last = bench_now();
            bench_progress("generating: about %zu of %zu events signed", done * j->threads, e->n);
        }
    }
    return NULL;
}

/* Frames a setup batch in place: its header, then the envelopes, from byte 0. */
static void frame_setup(tl_buf *b, size_t count)
{
    size_t off;
    frame(b->data, count, &off);
    memmove(b->data, b->data + off, b->len - off);
    b->len -= off;
}

static int setup_events(bench_events *e, size_t base_contracts, tl_error *err)
{
    size_t batches = 1 + (base_contracts + GEN_SETUP_BATCH - 1) / GEN_SETUP_BATCH;
    e->setup = calloc(batches, sizeof *e->setup);
    if (e->setup == NULL)
        return tl_fail(err, TL_ENOMEM, "bench.generate", "", "out of memory");
    e->setup_batches = batches;
    for (size_t i = 0; i < batches; i++)
        tl_buf_init(&e->setup[i]);
    /* batch 0: the participants */
    tl_buf *b = &e->setup[0];
    int rc = 0;
    uint8_t room[GEN_HEADER_ROOM] = {0};
    size_t count = 0;
    rc = tl_buf_append(b, room, sizeof room);
    for (unsigned r = 0; r < BENCH_REGISTRIES && rc == 0; r++) {
        char id[32], stream[64], hex[65], name[64];
        snprintf(id, sizeof id, "bench-registry-%02u", r);
        snprintf(stream, sizeof stream, "participant/%s", id);
        snprintf(name, sizeof name, "技术市场管理办公室 %u", r);
        tl_hex_encode(hex, e->registry[r].pk, TL_PUBKEY_BYTES);
        rc = add_event(b,
                       json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:[s],s:[s]}}", "type", "participant.registered",
                                 "stream", stream, "data", "id", id, "name", name, "kind", "registry", "region",
                                 provinces[r % PROVINCES], "roles", "registry", "keys", hex),
                       &e->admin, err);
        count++;
    }
    for (size_t p = 0; p < BENCH_PARTIES && rc == 0; p++) {
        char id[32], stream[64], name[64];
        party_id(id, sizeof id, p);
        snprintf(stream, sizeof stream, "participant/%s", id);
        snprintf(name, sizeof name, "基准测试单位 %zu", p);
        rc = add_event(b,
                       json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:[s],s:[]}}", "type", "participant.registered", "stream",
                                 stream, "data", "id", id, "name", name, "kind", kinds[p % (sizeof kinds / sizeof kinds[0])],
                                 "region", party_region(p), "roles", "member", "keys"),
                       &e->admin, err);
        count++;
    }
    if (rc == 0)
        frame_setup(b, count);
    e->setup_events = count;
    /* then the base contracts, registered in 2016 */
    for (size_t k = 0; k < base_contracts && rc == 0; k++) {
        b = &e->setup[1 + k / GEN_SETUP_BATCH];
        if (b->len == 0)
            rc = tl_buf_append(b, room, sizeof room);
        char reg_no[24];
        base_reg_no(reg_no, sizeof reg_no, k);
        if (rc == 0)
            rc = add_event(b, contract_json(reg_no, k, 2016), &e->registry[k % BENCH_REGISTRIES], err);
        e->setup_events++;
        if (rc == 0 && ((k + 1) % GEN_SETUP_BATCH == 0 || k + 1 == base_contracts))
            frame_setup(b, (k % GEN_SETUP_BATCH) + 1);
    }
    return rc;
}

int bench_events_generate(bench_events *e, size_t n, size_t batch_events, size_t base_contracts, unsigned threads,
                          tl_error *err)
{
    memset(e, 0, sizeof *e);
    if (batch_events == 0 || batch_events > TL_BATCH_EVENTS_MAX || base_contracts == 0)
        return tl_fail(err, TL_EINVAL, "bench.generate", "batch", "batch size 1..%u", TL_BATCH_EVENTS_MAX);
    if (threads == 0)
        threads = 1;
    if (threads > GEN_THREADS_MAX)
        threads = GEN_THREADS_MAX;
    tl_keypair_generate(&e->admin);
    for (unsigned r = 0; r < BENCH_REGISTRIES; r++)
        tl_keypair_generate(&e->registry[r]);
    int rc = setup_events(e, base_contracts, err);
    if (rc != 0)
        return rc;
    e->n = n;
    e->batch_events = batch_events;
    e->batches = (n + batch_events - 1) / batch_events;
    e->batch_buf = calloc(e->batches ? e->batches : 1, sizeof *e->batch_buf);
    e->batch_body_off = calloc(e->batches ? e->batches : 1, sizeof *e->batch_body_off);
    e->batch_body_len = calloc(e->batches ? e->batches : 1, sizeof *e->batch_body_len);
    e->ev = calloc(n ? n : 1, sizeof *e->ev);
    e->len = calloc(n ? n : 1, sizeof *e->len);
    uint32_t *off = calloc(n ? n : 1, sizeof *off);
    gen_job jobs[GEN_THREADS_MAX];
    pthread_t tids[GEN_THREADS_MAX];
    if (e->batch_buf == NULL || e->batch_body_off == NULL || e->batch_body_len == NULL || e->ev == NULL ||
        e->len == NULL || off == NULL) {
        free(off);
        return tl_fail(err, TL_ENOMEM, "bench.generate", "", "out of memory for %zu events", n);
    }
    unsigned started = 0;
    for (unsigned t = 0; t < threads; t++) {
        jobs[t] = (gen_job){.e = e, .base_contracts = base_contracts, .thread = t, .threads = threads, .off = off};
        if (pthread_create(&tids[t], NULL, gen_thread, &jobs[t]) != 0)
            break;
        started++;
    }
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    for (unsigned t = 0; t < started && rc == 0; t++) {
        if (jobs[t].rc != 0) {
            *err = jobs[t].err;
            rc = jobs[t].rc;
        }
    }
    if (rc == 0 && started < threads)
        rc = tl_fail(err, TL_ENOMEM, "bench.generate", "", "cannot start a thread");
    if (rc == 0 && bench_stop)
        rc = tl_fail(err, TL_ESTATE, "bench.interrupted", "", "interrupted");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        e->ev[i] = e->batch_buf[i / batch_events] + off[i];
        e->bytes += e->len[i];
    }
    free(off);
    return rc;
}

void bench_events_free(bench_events *e)
{
    for (size_t i = 0; i < e->setup_batches; i++)
        tl_buf_free(&e->setup[i]);
    free(e->setup);
    for (size_t b = 0; b < e->batches && e->batch_buf != NULL; b++)
        free(e->batch_buf[b]);
    free(e->batch_buf);
    free(e->batch_body_off);
    free(e->batch_body_len);
    free(e->ev);
    free(e->len);
    tl_keypair_wipe(&e->admin);
    for (unsigned r = 0; r < BENCH_REGISTRIES; r++)
        tl_keypair_wipe(&e->registry[r]);
    memset(e, 0, sizeof *e);
}

int bench_event_parts(const bench_events *e, size_t i, uint8_t id[16], char *stream, size_t cap)
{
    tl_event ev;
    tl_error err;
    if (i >= e->n || tl_envelope_decode(&ev, e->ev[i], e->len[i], &err) != 0)
        return -1;
    memcpy(id, ev.id, TL_EVENT_ID_BYTES);
    snprintf(stream, cap, "%s", ev.stream);
    tl_event_free(&ev);
    return 0;
}
