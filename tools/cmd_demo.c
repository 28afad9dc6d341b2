/*
 * techledger demo DIR: a ledger holding a calibrated synthetic economy (see demo.h).
 *
 * Every event is signed with the key of the party the rules name and goes through the
 * ledger's ordinary path (tl_event_prepare, then tl_ledger_submit with many events in
 * flight): the demo has no back door, so whatever the rules refuse, the demo cannot write.
 *
 * The ledger records on a simulated clock that walks from 2016-01-01 to the end of June 2025,
 * so `recorded` times and vintages (as_of) look like a decade of use. That option exists for
 * demonstrations only; the command says so, and a production ledger always records with the
 * real clock. Each event is recorded at its planned moment: the ledger reads its clock once
 * for each record it creates, in sequence order (log.c), and the sequencer takes events in the
 * order they were submitted, so the simulated clock hands out the planned times in that same
 * order from a queue the submitting thread fills. When the queue is empty (genesis) the clock
 * repeats the last time it gave. If the ledger ever read its clock differently the records
 * would still be in order, and tests/test_demo.c, which checks that every registration is
 * recorded on its registration day, would say so.
 *
 * Besides the ledger (db/, checkpoint.key, ledger.vkey), DIR receives:
 *   keys/admin.key, keys/admin.pub      the administrator's key pair (FORMAT.md section 9)
 *   keys/<id>.key, keys/<id>.pub        one pair per participant, <id> its participant id: the
 *                                       key it signs with now
 *   keys/<id>.revoked.key, .revoked.pub the key a participant that rotated its key (a registry
 *                                       office and a bank do) was registered with; revoked
 *   keys/parties.tsv                    one line per key: id, kind, roles (comma-separated),
 *                                       region, public key (hex), name; a '#' header line
 *   demo.txt                            the parameters and the turnover summary, written last:
 *                                       a DIR with db/ and keys/ but no demo.txt was interrupted
 * Secret key files are created exclusively with mode 0600 (tl_secret_key_write).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "demo.h"
#include "tl_cmd.h"
#include "tl_ledger.h"

#define DEMO_INFLIGHT_MAX 16384u /* well under TL_QUEUE_EVENTS_MAX: submit never finds it full */
#define DEMO_ORIGIN_DEFAULT "demo.techledger.example/national"
#define DEMO_SEED_DEFAULT 20160421u /* the date of 国办发〔2016〕28号; any seed works */

static const char demo_help[] =
    "usage: techledger demo DIR [--scale S] [--seed N] [--origin ORIGIN] [--quiet]\n"
    "\n"
    "Creates a new ledger in DIR holding a synthetic technology-transfer economy, 2016-2025:\n"
    "a registry office per province, universities, research institutes, enterprises, transfer\n"
    "agencies and banks; the national guidance fund, its sub-funds with commitments, calls,\n"
    "investments and co-investments; loans with defaults and risk compensation; achievements\n"
    "(some commercial or state secrets); contracts of every class with amendments,\n"
    "cancellations and payments; demonstration institutions, zones and training.\n"
    "\n"
    "National turnover by year (contracts registered that year, not cancelled, latest amounts)\n"
    "equals data/national-turnover.csv exactly for 2016-2024; the 2-trillion-yuan target is\n"
    "crossed in 2019. Provincial figures quoted in data/README.md are matched exactly as well.\n"
    "\n"
    "Every event is signed by the key the rules require and appended through the normal,\n"
    "validated path. The administrator's and every participant's secret keys are written to\n"
    "DIR/keys/ (mode 0600; DIR/keys/parties.tsv lists them) so you can sign more events;\n"
    "two parties rotate their key on the way (the old one is kept as <id>.revoked.key).\n"
    "DIR/demo.txt keeps the summary; it is written last, so its absence marks an interrupted run.\n"
    "\n"
    "DEMONSTRATION ONLY: this ledger records on a simulated clock that walks through\n"
    "2016-01-01 .. 2025-06-30, so that vintages (as_of) show real revisions. A production\n"
    "ledger (techledger init) always records with the real clock.\n"
    "\n"
    "options:\n"
    "  --scale S       fraction of the real national contract counts (default 0.01, a few\n"
    "                  thousand contracts a year; 1 = the real counts, for benchmarks)\n"
    "  --seed N        seed of the generator: one seed, one economy (keys are always fresh)\n"
    "  --origin ORIGIN the ledger's name (default " DEMO_ORIGIN_DEFAULT ")\n"
    "  --quiet         no progress on stderr\n"
    "\n"
    "exit status: 0 done, 1 an event was rejected (DIR then holds a partial ledger),\n"
    "2 bad arguments, 3 DIR cannot be created or already holds a ledger.\n";

/* ---- The simulated clock ------------------------------------------------------------------- */

/* A single-producer, single-consumer queue of planned times: the submitting thread pushes
 * before each tl_ledger_submit, the ledger's writer pops as it creates each record. It never
 * holds more than the events in flight. */
#define SIM_CLOCK_SLOTS (2u * DEMO_INFLIGHT_MAX) /* a power of two above the events in flight */

typedef struct sim_clock {
    uint64_t slot[SIM_CLOCK_SLOTS];
    _Atomic size_t head; /* next to pop (writer thread) */
    _Atomic size_t tail; /* next to push (submitting thread) */
    _Atomic uint64_t last_ms;
} sim_clock;

static uint64_t sim_clock_now(void *ctx)
{
    sim_clock *c = ctx;
    size_t h = atomic_load_explicit(&c->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&c->tail, memory_order_acquire))
        return atomic_load(&c->last_ms);
    uint64_t t = c->slot[h % SIM_CLOCK_SLOTS];
    atomic_store(&c->last_ms, t);
    atomic_store_explicit(&c->head, h + 1, memory_order_release);
    return t;
}

static void sim_clock_push(sim_clock *c, uint64_t t_ms)
{
    size_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
    c->slot[t % SIM_CLOCK_SLOTS] = t_ms;
    atomic_store_explicit(&c->tail, t + 1, memory_order_release);
}

/* Planned times not yet used: 0 once every submitted event has been recorded. */
static size_t sim_clock_pending(sim_clock *c)
{
    return atomic_load(&c->tail) - atomic_load(&c->head);
}

/* ---- Submissions in flight ----------------------------------------------------------------- */

typedef struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t inflight;
    uint64_t created, duplicates;
    bool failed;
    tl_append_result first; /* the first rejection */
} sink;

static void on_done(void *ctx, const tl_append_result *res)
{
    sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    if (res->status == TL_APPEND_CREATED)
        s->created++;
    else if (res->status == TL_APPEND_DUPLICATE)
        s->duplicates++;
    else if (!s->failed) {
        s->failed = true;
        s->first = *res;
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits until at most `limit` events are in flight. */
static void sink_wait(sink *s, size_t limit)
{
    pthread_mutex_lock(&s->mu);
    while (s->inflight > limit)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static bool sink_failed(sink *s)
{
    pthread_mutex_lock(&s->mu);
    bool f = s->failed;
    pthread_mutex_unlock(&s->mu);
    return f;
}

/* ---- Helpers -------------------------------------------------------------------------------- */

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "22,398.40" for an amount in fen shown in 亿元. */
static const char *yi(char out[32], uint64_t fen)
{
    uint64_t cents_of_yi = (fen + DEMO_FEN_PER_CYI / 2) / DEMO_FEN_PER_CYI;
    uint64_t whole = cents_of_yi / 100, frac = cents_of_yi % 100;
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRIu64, whole);
    size_t n = strlen(digits), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    snprintf(out + k, 32 - k, ".%02" PRIu64, frac);
    return out;
}

static int write_keys(const char *dir, const demo_economy *e, tl_error *err)
{
    size_t cap = strlen(dir) + 64 + DEMO_ID_BYTES;
    char *path = malloc(cap);
    tl_buf index;
    tl_buf_init(&index);
    if (path == NULL)
        return tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    snprintf(path, cap, "%s/keys", dir);
    int rc = 0;
    if (mkdir(path, 0700) != 0) {
        rc = tl_fail(err, errno == EEXIST ? TL_ESTATE : TL_EIO, "demo.keys", "", "cannot create %s: %s", path,
                     strerror(errno));
        goto done;
    }
    static const char header[] = "# id\tkind\troles\tregion\tpublic_key\tname\n";
    if ((rc = tl_buf_append(&index, header, sizeof header - 1)) != 0)
        goto done;
    char hex[2 * TL_PUBKEY_BYTES + 1], line[512];
    snprintf(path, cap, "%s/keys/admin.key", dir);
    if ((rc = tl_secret_key_write(path, &e->admin, err)) != 0)
        goto done;
    snprintf(path, cap, "%s/keys/admin.pub", dir);
    if ((rc = tl_public_key_write(path, e->admin.pk, err)) != 0)
        goto done;
    tl_hex_encode(hex, e->admin.pk, TL_PUBKEY_BYTES);
    snprintf(line, sizeof line, "admin\t-\tadmin\t-\t%s\tthe ledger's administrator (genesis)\n", hex);
    if ((rc = tl_buf_append(&index, line, strlen(line))) != 0)
        goto done;
    for (size_t i = 0; i < demo_party_count(e); i++) {
        const demo_party *p = demo_party_at(e, i);
        snprintf(path, cap, "%s/keys/%s.key", dir, p->id);
        if ((rc = tl_secret_key_write(path, &p->kp, err)) != 0)
            goto done;
        snprintf(path, cap, "%s/keys/%s.pub", dir, p->id);
        if ((rc = tl_public_key_write(path, p->kp.pk, err)) != 0)
            goto done;
        char roles[64] = "";
        for (int r = 0; r < TL_ROLE_COUNT; r++)
            if ((p->roles >> r) & 1u) {
                if (roles[0])
                    strcat(roles, ",");
                strcat(roles, tl_code_name(&tl_codes_role, r));
            }
        tl_hex_encode(hex, p->kp.pk, TL_PUBKEY_BYTES);
        snprintf(line, sizeof line, "%s\t%s\t%s\t%06u\t%s\t%s\n", p->id, tl_code_name(&tl_codes_participant_kind, p->kind),
                 roles, (unsigned)p->region, hex, p->name);
        if ((rc = tl_buf_append(&index, line, strlen(line))) != 0)
            goto done;
        if (p->rotated_ms != 0) {
            /* the key it was registered with, revoked the day after the rotation */
            snprintf(path, cap, "%s/keys/%s.revoked.key", dir, p->id);
            if ((rc = tl_secret_key_write(path, &p->kp_old, err)) != 0)
                goto done;
            snprintf(path, cap, "%s/keys/%s.revoked.pub", dir, p->id);
            if ((rc = tl_public_key_write(path, p->kp_old.pk, err)) != 0)
                goto done;
            char day[TL_DATE_LEN + 1];
            tl_date_format(day, (int32_t)((p->rotated_ms + 8 * 3600000ull) / 86400000ull) + 1);
            tl_hex_encode(hex, p->kp_old.pk, TL_PUBKEY_BYTES);
            snprintf(line, sizeof line, "%s.revoked\t%s\t(revoked on %s)\t%06u\t%s\t%s\n", p->id,
                     tl_code_name(&tl_codes_participant_kind, p->kind), day, (unsigned)p->region, hex, p->name);
            if ((rc = tl_buf_append(&index, line, strlen(line))) != 0)
                goto done;
        }
    }
    snprintf(path, cap, "%s/keys/parties.tsv", dir);
    rc = tl_file_write_atomic(path, index.data, index.len, 0644, err);
done:
    if (rc == TL_ENOMEM)
        tl_fail(err, TL_ENOMEM, "memory", "", "out of memory");
    tl_buf_free(&index);
    free(path);
    return rc;
}

/* ---- The command ---------------------------------------------------------------------------- */

typedef struct demo_args {
    const char *dir;
    double scale;
    uint64_t seed;
    const char *origin;
    bool quiet;
} demo_args;

/* Fills a from the command line, or err with the rule ("args.*") and the option at fault. */
static int parse_args(demo_args *a, int argc, char **argv, tl_error *err)
{
    a->dir = NULL;
    a->scale = DEMO_SCALE_DEFAULT;
    a->seed = DEMO_SEED_DEFAULT;
    a->origin = DEMO_ORIGIN_DEFAULT;
    a->quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--quiet") == 0) {
            a->quiet = true;
        } else if (strcmp(arg, "--scale") == 0 || strcmp(arg, "--seed") == 0 || strcmp(arg, "--origin") == 0) {
            if (i + 1 >= argc)
                return tl_fail(err, TL_EINVAL, "args.missing_value", arg, "%s needs a value", arg);
            const char *v = argv[++i];
            char *end = NULL;
            errno = 0;
            if (strcmp(arg, "--scale") == 0) {
                a->scale = strtod(v, &end);
                if (errno != 0 || end == v || *end != '\0' || !(a->scale >= DEMO_SCALE_MIN && a->scale <= DEMO_SCALE_MAX))
                    return tl_fail(err, TL_EINVAL, "args.scale", "--scale", "\"%s\" is not a number from %g to %g", v,
                                   DEMO_SCALE_MIN, DEMO_SCALE_MAX);
            } else if (strcmp(arg, "--seed") == 0) {
                unsigned long long seed = strtoull(v, &end, 10);
                if (errno != 0 || end == v || *end != '\0' || v[0] == '-')
                    return tl_fail(err, TL_EINVAL, "args.seed", "--seed", "\"%s\" is not an integer from 0 to %llu", v,
                                   (unsigned long long)UINT64_MAX);
                a->seed = seed;
            } else {
                a->origin = v;
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return tl_fail(err, TL_EINVAL, "args.unknown_option", arg, "no such option");
        } else if (a->dir == NULL) {
            a->dir = arg;
        } else {
            return tl_fail(err, TL_EINVAL, "args.extra", arg, "one DIR only (already have \"%s\")", a->dir);
        }
    }
    if (a->dir == NULL)
        return tl_fail(err, TL_EINVAL, "args.missing", "DIR", "DIR is required: the directory to create the ledger in");
    return 0;
}

/* The ledger and the keys must both be new: the demo never mixes with what is already there. */
static int check_fresh(const char *dir, tl_error *err)
{
    static const char *const parts[] = {"db", "keys"};
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, parts[i]);
        if (stat(path, &st) == 0)
            return tl_fail(err, TL_ESTATE, i == 0 ? "ledger.exists" : "demo.keys_exist", "DIR",
                           i == 0 ? "%s already holds a ledger; choose a new directory"
                                  : "%s already holds keys/; choose a new directory",
                           dir);
    }
    return 0;
}

/* ---- Preparing events on every core ---------------------------------------------------------
 *
 * Signing and the submit-side checks (tl_event_prepare verifies the signature again, as every
 * submitter's thread does) are most of the demo's work, and independent per event. The events
 * of a chunk are prepared by all preparers at once (the calling thread is one of them); the
 * calling thread then submits the chunk in order, while the ledger's writer commits. */

#define DEMO_CHUNK 2048u     /* events prepared between two submission passes */
#define DEMO_PREPARERS_MAX 4 /* threads that sign and prepare, the calling one included */

typedef struct prep_slot {
    tl_event ev;
    int rc;
    tl_error err;
    const char *type;
    char stream[TL_STREAM_BYTES_MAX + 1];
} prep_slot;

typedef struct preparer_pool {
    const demo_economy *e;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    /* the current chunk */
    const demo_ev *evs;
    prep_slot *slots;
    size_t n;
    _Atomic size_t next;
    uint64_t generation; /* bumped for each chunk */
    unsigned busy;       /* helpers still working on it */
    bool stop;
    pthread_t helpers[DEMO_PREPARERS_MAX - 1];
    unsigned n_helpers;
} preparer_pool;

/* Prepares slots of the current chunk until none is left. */
static void prepare_some(preparer_pool *p, tl_buf *data, tl_buf *env)
{
    for (;;) {
        size_t k = atomic_fetch_add(&p->next, 1);
        if (k >= p->n)
            return;
        prep_slot *slot = &p->slots[k];
        const demo_ev *ev = &p->evs[k];
        const tl_keypair *signer = NULL;
        slot->type = NULL;
        slot->stream[0] = '\0';
        tl_error_clear(&slot->err);
        slot->rc = demo_encode(p->e, ev, slot->stream, data, &signer, &slot->type);
        tl_event_draft d = {.type = slot->type, .stream = slot->stream, .time_ms = ev->t_ms, .data = data->data,
                            .data_len = data->len};
        tl_random_bytes(d.id, sizeof d.id);
        tl_buf_reset(env); /* tl_envelope_build appends */
        if (slot->rc == 0)
            slot->rc = tl_envelope_build(env, &d, signer);
        if (slot->rc == 0)
            slot->rc = tl_event_prepare(&slot->ev, env->data, env->len, &slot->err);
    }
}

static void *preparer_main(void *arg)
{
    preparer_pool *p = arg;
    tl_buf data, env;
    tl_buf_init(&data);
    tl_buf_init(&env);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        prepare_some(p, &data, &env);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    tl_buf_free(&data);
    tl_buf_free(&env);
    return NULL;
}

static void pool_start(preparer_pool *p, const demo_economy *e)
{
    memset(p, 0, sizeof *p);
    p->e = e;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = cpus > 1 ? (unsigned)(cpus - 1) : 0;
    if (want > DEMO_PREPARERS_MAX - 1)
        want = DEMO_PREPARERS_MAX - 1;
    for (unsigned i = 0; i < want; i++)
        if (pthread_create(&p->helpers[p->n_helpers], NULL, preparer_main, p) == 0)
            p->n_helpers++;
}

/* Prepares evs[0..n) into slots[0..n) on every preparer; returns when all are done. */
static void pool_run(preparer_pool *p, const demo_ev *evs, prep_slot *slots, size_t n, tl_buf *data, tl_buf *env)
{
    pthread_mutex_lock(&p->mu);
    p->evs = evs;
    p->slots = slots;
    p->n = n;
    atomic_store(&p->next, 0);
    p->busy = p->n_helpers;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    prepare_some(p, data, env);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void pool_stop(preparer_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_helpers; i++)
        pthread_join(p->helpers[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
}

/* Submits a prepared chunk in order. Returns 0, or TL_EXIT_FAILURE after saying why. */
static int submit_chunk(tl_ledger *l, const demo_ev *evs, prep_slot *slots, size_t n, sim_clock *clk, sink *s,
                        uint64_t *events)
{
    char msg[512];
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        prep_slot *slot = &slots[k];
        if (rc != 0 || slot->rc != 0) {
            if (rc == 0) {
                fprintf(stderr, "techledger demo: cannot build %s on %s: %s\n", slot->type ? slot->type : "?",
                        slot->stream, slot->err.rule[0] ? tl_error_format(&slot->err, msg, sizeof msg) : tl_strerror(slot->rc));
                rc = TL_EXIT_FAILURE;
            }
            if (slot->rc == 0)
                tl_event_free(&slot->ev);
            continue;
        }
        sink_wait(s, DEMO_INFLIGHT_MAX - 1);
        pthread_mutex_lock(&s->mu);
        s->inflight++;
        pthread_mutex_unlock(&s->mu);
        sim_clock_push(clk, evs[k].t_ms);
        tl_error err;
        if (tl_ledger_submit(l, &slot->ev, on_done, s, &err) != 0) {
            pthread_mutex_lock(&s->mu);
            s->inflight--;
            pthread_mutex_unlock(&s->mu);
            fprintf(stderr, "techledger demo: cannot submit %s on %s: %s\n", slot->type, slot->stream,
                    tl_error_format(&err, msg, sizeof msg));
            rc = TL_EXIT_FAILURE;
            continue;
        }
        (*events)++;
    }
    return rc;
}

static int submit_all(tl_ledger *l, demo_economy *e, sim_clock *clk, sink *s, bool quiet, double t0,
                      uint64_t *events)
{
    tl_buf data, env;
    tl_buf_init(&data);
    tl_buf_init(&env);
    char msg[512];
    prep_slot *slots = calloc(DEMO_CHUNK, sizeof *slots);
    if (slots == NULL) {
        fprintf(stderr, "techledger demo: out of memory\n");
        return TL_EXIT_IO;
    }
    preparer_pool pool;
    pool_start(&pool, e);
    int rc = 0;
    for (int year = DEMO_YEAR_FIRST; year <= DEMO_SIM_END_YEAR && rc == 0; year++) {
        const demo_ev *evs;
        size_t n;
        if ((rc = demo_economy_year(e, year, &evs, &n)) != 0) {
            fprintf(stderr, "techledger demo: cannot plan %d: %s\n", year,
                    rc == TL_ENOMEM ? "out of memory" : "the calibration does not add up (a bug)");
            rc = TL_EXIT_FAILURE;
            break;
        }
        for (size_t i = 0; i < n && rc == 0 && !sink_failed(s); i += DEMO_CHUNK) {
            size_t m = n - i < DEMO_CHUNK ? n - i : DEMO_CHUNK;
            pool_run(&pool, evs + i, slots, m, &data, &env);
            rc = submit_chunk(l, evs + i, slots, m, clk, s, events);
        }
        sink_wait(s, 0);
        if (sink_failed(s)) {
            fprintf(stderr, "techledger demo: the ledger rejected an event on %s: %s\n", s->first.stream,
                    tl_error_format(&s->first.err, msg, sizeof msg));
            rc = TL_EXIT_FAILURE;
        } else if (rc == 0 && sim_clock_pending(clk) != 0) {
            fprintf(stderr, "techledger demo: the ledger read its clock fewer times than it created records; "
                            "recorded times would be wrong (a bug)\n");
            rc = TL_EXIT_FAILURE;
        }
        if (!quiet && rc == 0) {
            double dt = mono_seconds() - t0;
            const demo_year_stats *st = demo_economy_stats(e, year);
            char a[32];
            if (st != NULL)
                fprintf(stderr, "  %d: %8" PRIu64 " contracts, turnover %14s 亿元   (%" PRIu64 " events, %.1f s, %.0f events/s)\n",
                        year, st->contracts, yi(a, st->final_total_fen), *events, dt, (double)*events / (dt > 0 ? dt : 1));
            else
                fprintf(stderr, "  %d: follow-ups to the end of June          (%" PRIu64 " events, %.1f s, %.0f events/s)\n",
                        year, *events, dt, (double)*events / (dt > 0 ? dt : 1));
        }
    }
    pool_stop(&pool);
    free(slots);
    tl_buf_free(&data);
    tl_buf_free(&env);
    return rc;
}

static void bprintf(tl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(tl_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0 && tl_buf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) != 0)
        return; /* out of memory: the summary is shorter, nothing else is affected */
}

/* The summary, printed and kept as DIR/demo.txt: its presence also tells scripts/run.sh that
 * the demo finished (a ledger without it was interrupted). */
static int write_summary(const demo_economy *e, const demo_args *a, uint64_t records, double seconds, tl_error *err)
{
    tl_buf b;
    tl_buf_init(&b);
    char x[32], y[32];
    bprintf(&b, "techledger demo: DEMONSTRATION DATA recorded on a simulated clock (2016-01-01 .. 2025-06-30)\n");
    bprintf(&b, "scale %g, seed %" PRIu64 ", origin %s, %zu participants, %" PRIu64 " records\n", a->scale, a->seed,
            a->origin, demo_party_count(e), records);
    bprintf(&b, "\nNational technology-contract turnover (全国技术合同成交额), as finally recorded:\n");
    bprintf(&b, "  year  contracts  amended  cancelled        turnover 亿元   vs 2万亿 target\n");
    int crossed = 0;
    for (int yr = DEMO_YEAR_FIRST; yr <= DEMO_YEAR_LAST; yr++) {
        const demo_year_stats *st = demo_economy_stats(e, yr);
        bool over = st->final_total_fen >= DEMO_TARGET_FEN;
        if (over && crossed == 0)
            crossed = yr;
        uint64_t pct10 = st->final_total_fen * 1000 / DEMO_TARGET_FEN;
        bprintf(&b, "  %d %10" PRIu64 " %8" PRIu64 " %10" PRIu64 " %20s   %3" PRIu64 ".%" PRIu64 "%%%s\n", yr,
                st->counted, st->amended, st->cancelled, yi(x, st->final_total_fen), pct10 / 10, pct10 % 10,
                over && crossed == yr ? "  <- target crossed" : "");
    }
    if (crossed)
        bprintf(&b, "  The 2-trillion-yuan target (%s 亿元) was first reached in %d.\n", yi(y, DEMO_TARGET_FEN), crossed);
    bprintf(&b, "\nKeys: %s/keys/ (admin.key signs as the administrator; parties.tsv lists the rest).\n", a->dir);
    bprintf(&b, "Serve it with: techledger serve %s --listen 127.0.0.1:8080\n", a->dir);
    fwrite(b.data, 1, b.len, stdout);
    printf("\n%" PRIu64 " records in %.1f s (%.0f records/s).\n", records, seconds,
           (double)records / (seconds > 0 ? seconds : 1));
    size_t cap = strlen(a->dir) + 16;
    char *path = malloc(cap);
    int rc = path == NULL ? tl_fail(err, TL_ENOMEM, "memory", "", "out of memory") : 0;
    if (rc == 0) {
        snprintf(path, cap, "%s/demo.txt", a->dir);
        rc = tl_file_write_atomic(path, b.data, b.len, 0644, err);
    }
    free(path);
    tl_buf_free(&b);
    return rc;
}

int tl_cmd_demo(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(demo_help, stdout);
        return TL_EXIT_OK;
    }
    demo_args a;
    tl_error err;
    tl_error_clear(&err);
    char msg[512];
    if (parse_args(&a, argc, argv, &err) != 0) {
        fprintf(stderr, "techledger demo: %s\n"
                        "usage: techledger demo DIR [--scale S] [--seed N] [--origin ORIGIN] [--quiet]\n",
                tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_USAGE;
    }
    fprintf(stderr,
            "techledger demo: NOTICE: demonstration data, recorded on a SIMULATED clock (2016-01-01 .. "
            "2025-06-30).\n"
            "  This is for demonstrations only; a production ledger always records with the real clock.\n");
    double t0 = mono_seconds();
    if (check_fresh(a.dir, &err) != 0) {
        fprintf(stderr, "techledger demo: %s\n", tl_error_format(&err, msg, sizeof msg));
        return TL_EXIT_IO;
    }
    demo_economy *e = demo_economy_new(a.scale, a.seed);
    if (e == NULL) {
        fprintf(stderr, "techledger demo: out of memory planning the economy\n");
        return TL_EXIT_IO;
    }
    if (!a.quiet)
        fprintf(stderr, "techledger demo: scale %g, seed %" PRIu64 ", %zu participants; creating %s\n", a.scale,
                a.seed, demo_party_count(e), a.dir);

    sim_clock *clk = calloc(1, sizeof *clk);
    if (clk == NULL) {
        demo_economy_free(e);
        fprintf(stderr, "techledger demo: out of memory\n");
        return TL_EXIT_IO;
    }
    atomic_init(&clk->head, 0);
    atomic_init(&clk->tail, 0);
    atomic_init(&clk->last_ms, demo_year_start_ms(DEMO_YEAR_FIRST)); /* genesis: 2016-01-01 00:00 */
    tl_ledger_options opt = {.mode = TL_OPEN_WRITE, .clock = sim_clock_now, .clock_ctx = clk};
    int rc = tl_ledger_create(a.dir, a.origin, &e->admin, &opt, &err);
    if (rc == 0)
        rc = write_keys(a.dir, e, &err);
    tl_ledger *l = NULL;
    if (rc == 0)
        rc = tl_ledger_open(&l, a.dir, &opt, &err);
    if (rc != 0) {
        fprintf(stderr, "techledger demo: %s\n", tl_error_format(&err, msg, sizeof msg));
        demo_economy_free(e);
        free(clk);
        return rc == TL_EINVAL ? TL_EXIT_USAGE : TL_EXIT_IO;
    }

    sink s = {.inflight = 0};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    uint64_t events = 1; /* genesis */
    int exit_code = submit_all(l, e, clk, &s, a.quiet, t0, &events);
    sink_wait(&s, 0);
    if (exit_code == 0 && tl_ledger_checkpoint_now(l, &err) != 0) {
        fprintf(stderr, "techledger demo: cannot issue the final checkpoint: %s\n", tl_error_format(&err, msg, sizeof msg));
        exit_code = TL_EXIT_IO;
    }
    uint64_t size = tl_ledger_size(l);
    tl_ledger_close(l);
    free(clk); /* after the close: the writer reads it until then */
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    if (exit_code == 0 && write_summary(e, &a, size, mono_seconds() - t0, &err) != 0) {
        fprintf(stderr, "techledger demo: cannot write %s/demo.txt: %s\n", a.dir, tl_error_format(&err, msg, sizeof msg));
        exit_code = TL_EXIT_IO;
    }
    if (exit_code != 0) {
        fprintf(stderr, "techledger demo: %s holds a partial ledger (%" PRIu64 " records); remove it before trying again\n",
                a.dir, size);
    }
    demo_economy_free(e);
    return exit_code;
}
