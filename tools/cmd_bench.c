/*
 * techledger bench: the performance targets of BRIEF.md, measured in one run as ratios.
 *
 * Each figure is set against a baseline measured in the same run on the same machine, so the
 * ratio means something on any machine and any day:
 *
 *   1. the Ed25519 verify ceiling: tl_event_verify over the run's own event bodies on every
 *      core; the baseline of ingest (2) and audit (4);
 *   2. durable ingest over HTTP through the real `techledger serve` (a child process):
 *      (a) bulk, batches of envelopes from a few connections; (b) one event per request from
 *      64 keep-alive connections, with latency; both against the ceiling and against
 *      PostgreSQL inserting the same envelopes with pgbench (fsync and synchronous_commit on);
 *   3. `techledger rebuild` of every view, per CPU-second, against a plain scan of the log;
 *   4. `techledger verify` of the exported audit bundle against the ceiling;
 *   5. view queries over HTTP against nginx serving the same bytes as a static file, with the
 *      same client, connections and duration;
 *   6. inclusion and consistency proofs, in-process (tl_ledger_*_proof) and over HTTP, against
 *      reading one record;
 *   7. the server's peak RSS (VmHWM) during ingest and the disk bytes of DIR/db per record
 *      against the raw record bytes.
 *
 * Order: events are generated and signed first (not timed); the ceiling is measured while
 * nothing else runs; then ingest builds the ledger that every later phase uses. All servers
 * listen on 127.0.0.1, are children of this process with a parent-death signal, and are
 * stopped before the bench returns; temporary directories are removed unless --keep.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_common.h"
#include "tl_cmd.h"
#include "tl_event.h"
#include "tl_http_client.h"
#include "tl_ledger.h"

volatile sig_atomic_t bench_stop = 0;

static const char bench_help[] =
    "usage: techledger bench [--quick | --events N | --full] [--only NAME[,NAME...]] [--out DIR]\n"
    "                        [--keep] [--verbose]\n\n"
    "Measures the performance targets of BRIEF.md on this machine, each as a ratio against a\n"
    "baseline measured in the same run, and prints a Markdown report (raw numbers, ratios, the\n"
    "exact commands):\n"
    "  verify     Ed25519 verify ceiling: tl_event_verify on every core over the run's events\n"
    "             (the baseline of ingest and audit)\n"
    "  ingest     durable ingest over HTTP (`techledger serve`): bulk batches from a few clients,\n"
    "             and one event per request from 64 keep-alive clients with p50/p99 latency\n"
    "  postgres   PostgreSQL (fsync=on, synchronous_commit=on) inserting the same envelopes with\n"
    "             pgbench, one row per transaction from 64 clients and in batches\n"
    "  rebuild    `techledger rebuild` of every view, records per CPU-second\n"
    "  audit      `techledger verify` of the exported audit bundle\n"
    "  views      view queries over HTTP against nginx serving the same bytes as a file\n"
    "  proofs     inclusion and consistency proofs, in-process and over HTTP\n"
    "  resources  the server's peak RSS during ingest; disk bytes per record against the raw bytes\n\n"
    "Events are generated and signed before anything is timed. The ledger that ingest builds is\n"
    "used by every later measurement, so ingest always runs when anything but verify is asked.\n\n"
    "  --events N     events ingested in bulk (default 1,000,000); one-event requests add N/10\n"
    "                 (at most 100,000)\n"
    "  --full         10,000,000 events (the size the memory target names; takes many minutes)\n"
    "  --quick        tiny sizes and short runs: checks that every part works, measures nothing\n"
    "  --only LIST    only these measurements (comma-separated names from the list above)\n"
    "  --out DIR      also write the report to DIR/YYYY-MM-DD.md (other sizes and --only subsets:\n"
    "                 DIR/YYYY-MM-DD-full.md, ...-quick.md, ...-N.md, ...-only-NAME.md)\n"
    "  --keep         keep the temporary directories (ledger, bundle, PostgreSQL, nginx)\n"
    "  --verbose      the servers' own logs on stderr\n\n"
    "Needs PostgreSQL and nginx for their baselines (`make bench` installs them); without them\n"
    "those rows say skipped. Build with -DCMAKE_BUILD_TYPE=Release and no sanitizers: the report\n"
    "says when the binary is not an optimized build. Run it on an otherwise idle machine: the\n"
    "report records the load average before and after.\n\n"
    "exit status: 0 the bench ran (whether or not targets were met), 1 a measurement failed\n"
    "(a server did not start, events were rejected), 2 bad arguments, 3 cannot write files\n";

/* ---------- configuration ---------- */

enum {
    ONLY_VERIFY = 1u << 0,
    ONLY_INGEST = 1u << 1,
    ONLY_POSTGRES = 1u << 2,
    ONLY_REBUILD = 1u << 3,
    ONLY_AUDIT = 1u << 4,
    ONLY_VIEWS = 1u << 5,
    ONLY_PROOFS = 1u << 6,
    ONLY_RESOURCES = 1u << 7,
    ONLY_ALL = (1u << 8) - 1
};
static const struct {
    const char *name;
    unsigned bit;
} only_names[] = {{"verify", ONLY_VERIFY},   {"ingest", ONLY_INGEST}, {"postgres", ONLY_POSTGRES},
                  {"rebuild", ONLY_REBUILD}, {"audit", ONLY_AUDIT},   {"views", ONLY_VIEWS},
                  {"proofs", ONLY_PROOFS},   {"resources", ONLY_RESOURCES}};

#define BENCH_EVENTS_DEFAULT 1000000u
#define BENCH_EVENTS_FULL 10000000u
#define BENCH_EVENTS_MAX 100000000u
#define BENCH_SINGLE_MAX 100000u
#define BENCH_BATCH 1000u
#define BENCH_BULK_CLIENTS 4u
#define BENCH_SINGLE_CLIENTS 64u
#define BENCH_PG_BULK_MAX 200000u
#define BENCH_VIEW_CONNECTIONS 16u
#define BENCH_CEILING_SAMPLE 20000u
#define BENCH_CEILING_THREADS_MAX 64u
#define BENCH_CEILING_RUNS 3
#define BENCH_SERVER_START_S 120.0
#define BENCH_SERVER_STOP_S 600.0
#define BENCH_CHILD_TIMEOUT_S 7200.0
#define BENCH_VIEWS_SYNC_S 3600.0
#define BENCH_PROOF_RANDOM_SEED 0x7465636864676572ull
#define BENCH_ORIGIN "bench.techledger.example/ledger"
#define BENCH_TARGET_INGEST_RATIO 0.80
#define BENCH_TARGET_PG_RATIO 2.0
#define BENCH_TARGET_SINGLE_P99_US 5000.0
#define BENCH_TARGET_REBUILD_PER_CORE 1000000.0
#define BENCH_TARGET_AUDIT_RATIO 0.90
#define BENCH_TARGET_VIEW_RATIO 0.50
#define BENCH_TARGET_VIEW_P99_US 2000.0
#define BENCH_TARGET_PROOF_US 50.0
#define BENCH_TARGET_RSS_BYTES (256ull << 20)
#define BENCH_TARGET_DISK_RATIO 1.5

typedef struct bench_cfg {
    size_t events;        /* bulk-ingested events (N) */
    size_t single;        /* one-per-request events (M), a multiple of single_clients */
    size_t batch;
    unsigned bulk_clients;
    unsigned single_clients;
    size_t pg_bulk;       /* events PostgreSQL inserts in batches */
    size_t base_contracts;
    double ceiling_s;     /* how long each verify-ceiling run lasts */
    double view_s;        /* how long each view load lasts */
    unsigned view_conns;
    size_t proof_samples; /* in-process calls per proof kind */
    size_t http_samples;  /* HTTP requests per proof kind */
    unsigned cpus;
    unsigned only;
    bool quick, full, keep, verbose;
    const char *out_dir;
} bench_cfg;

/* ---------- results ---------- */

typedef struct ingest_figure {
    bool ran;
    double events_per_s;
    uint64_t created;
    uint64_t requests;
    double seconds;
    bench_dist latency_us;
    double server_cpu_s;
    double client_cpu_s;
    double commits;         /* group commits during the run */
    double events_per_commit;
    double fsync_mean_ms;
    double fsync_over_3ms, fsync_over_6ms; /* synced writes longer than 3.2 and 6.4 ms */
    double sequencer_cpu_s; /* the ledger's writer thread (from /metrics; 0 if the server does not say) */
    double stage_ms[3];     /* server-side mean per request: prepare, durable, reply (from /metrics) */
    double settle_s;        /* waited before the run for the server's flushes and compactions */
    bool settled;           /* ... and they did finish (else the run started after SETTLE_MAX_S) */
    double tenth_per_s[10]; /* the rate over each tenth of the events: does it hold as the log grows? */
    uint64_t tenth_rss[10]; /* the server's VmRSS at the end of each tenth */
    char failure[256];
} ingest_figure;

typedef struct http_figure {
    bool ran;
    double req_per_s;
    bench_dist latency_us;
    uint64_t requests, failures;
    size_t body_bytes;
    double server_cpu_s;
    double client_cpu_s;
    char failure[256];
} http_figure;

typedef struct wrk_figure {
    bool ran;
    double req_per_s;
    double p50_us, p99_us;
} wrk_figure;

#define BENCH_PHASES_MAX 12

typedef struct phase_usage {
    const char *name;
    bench_usage start, end;
} phase_usage;

typedef struct bench_ctx {
    bench_cfg cfg;
    phase_usage phases[BENCH_PHASES_MAX];
    size_t nphases;
    char self[BENCH_PATH_BYTES];
    char work[BENCH_DIR_BYTES];      /* the run's temporary directory */
    char ledger[BENCH_SUBDIR_BYTES]; /* work/ledger */
    char bundle[BENCH_SUBDIR_BYTES]; /* work/bundle */
    bench_events ev;
    bool failed;
    char load_before[64], load_after[64];
    double started;

    /* 1 */
    bool ceiling_ran;
    double ceiling_1, ceiling_n; /* verifications per second on 1 thread and on cpus threads */
    unsigned ceiling_threads;
    size_t ceiling_sample;
    double ceiling_body_mean;
    /* 2 */
    char serve_cmd[BENCH_CMD_BYTES];
    ingest_figure bulk, single;
    bench_pg_result pg;
    /* 3 */
    bool rebuild_ran;
    double rebuild_wall_s, rebuild_cpu_s;
    char rebuild_cmd[BENCH_CMD_BYTES], rebuild_out[256];
    double scan_per_s;
    /* 4 */
    bool audit_ran;
    double audit_wall_s, audit_cpu_s;
    uint64_t audit_records;
    char audit_cmd[BENCH_CMD_BYTES], export_cmd[BENCH_CMD_BYTES], audit_out[256];
    /* 5 */
    char view_serve_cmd[BENCH_CMD_BYTES];
    char nginx_version[64], nginx_skipped[256];
    struct {
        const char *name;
        char path[256];
        http_figure tl, ngx;
        wrk_figure wrk_tl, wrk_ngx; /* the same comparison measured by wrk, when installed */
    } views[2];
    char wrk_version[64];
    char wrk_cmd[BENCH_CMD_BYTES];
    /* 6 */
    bool proofs_ran;
    bench_dist read_us, incl_us, cons_us;
    unsigned incl_hashes_max, cons_hashes_max;
    http_figure http_read, http_incl, http_cons;
    /* 7 */
    uint64_t size;       /* records in the ledger */
    uint64_t raw_bytes;  /* sum of record sizes */
    uint64_t rss_hwm, rss_hwm_views;
    bench_du du;
    bool du_ran;
} bench_ctx;

static void on_signal(int sig)
{
    (void)sig;
    bench_stop = 1;
}

static bool want(const bench_ctx *c, unsigned bits) { return (c->cfg.only & bits) != 0; }

static void load_average(char *out, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, d = 0;
    if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &d) != 3)
        snprintf(out, cap, "unknown");
    else
        snprintf(out, cap, "%.2f, %.2f, %.2f", a, b, d);
    if (f != NULL)
        fclose(f);
}

/* ---------- the verify ceiling ---------- */

typedef struct ceiling_sample {
    uint8_t *bodies;
    size_t *off, *len;
    uint8_t (*key)[TL_PUBKEY_BYTES];
    uint8_t (*sig)[TL_SIG_BYTES];
    size_t n;
} ceiling_sample;

typedef struct ceiling_job {
    const ceiling_sample *s;
    size_t start;
    double until;
    uint64_t count;
    bool bad;
    pthread_t tid;
} ceiling_job;

static void *ceiling_thread(void *arg)
{
    ceiling_job *j = arg;
    const ceiling_sample *s = j->s;
    size_t i = j->start;
    while (!bench_stop) {
        /* the clock is read once per 64 verifications, which cost far more than the read */
        for (int k = 0; k < 64; k++) {
            if (!tl_event_verify(s->sig[i], s->bodies + s->off[i], s->len[i], s->key[i]))
                j->bad = true;
            j->count++;
            if (++i == s->n)
                i = 0;
        }
        if (bench_now() >= j->until)
            break;
    }
    return NULL;
}

static double ceiling_run(const ceiling_sample *s, unsigned threads, double seconds, bool *bad)
{
    ceiling_job jobs[BENCH_CEILING_THREADS_MAX];
    double t0 = bench_now();
    unsigned started = 0;
    for (unsigned t = 0; t < threads; t++) {
        jobs[t] = (ceiling_job){.s = s, .start = s->n * t / threads, .until = t0 + seconds};
        if (pthread_create(&jobs[t].tid, NULL, ceiling_thread, &jobs[t]) != 0)
            break;
        started++;
    }
    uint64_t total = 0;
    for (unsigned t = 0; t < started; t++) {
        pthread_join(jobs[t].tid, NULL);
        total += jobs[t].count;
        *bad = *bad || jobs[t].bad;
    }
    double dt = bench_now() - t0;
    return dt > 0 ? (double)total / dt : 0;
}

static int phase_ceiling(bench_ctx *c)
{
    size_t n = c->ev.n < BENCH_CEILING_SAMPLE ? c->ev.n : BENCH_CEILING_SAMPLE;
    ceiling_sample s = {0};
    s.off = calloc(n, sizeof *s.off);
    s.len = calloc(n, sizeof *s.len);
    s.key = calloc(n, sizeof *s.key);
    s.sig = calloc(n, sizeof *s.sig);
    tl_buf bodies;
    tl_buf_init(&bodies);
    int rc = s.off && s.len && s.key && s.sig ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        tl_event ev;
        tl_error err;
        if (tl_envelope_decode(&ev, c->ev.ev[i], c->ev.len[i], &err) != 0) {
            rc = -1;
            break;
        }
        s.off[i] = bodies.len;
        s.len[i] = ev.body_len;
        memcpy(s.key[i], ev.key, TL_PUBKEY_BYTES);
        memcpy(s.sig[i], ev.sig, TL_SIG_BYTES);
        rc = tl_buf_append(&bodies, ev.body, ev.body_len);
        tl_event_free(&ev);
    }
    s.bodies = bodies.data;
    s.n = n;
    if (rc == 0 && n > 0) {
        bool bad = false;
        c->ceiling_threads = c->cfg.cpus < BENCH_CEILING_THREADS_MAX ? c->cfg.cpus : BENCH_CEILING_THREADS_MAX;
        bench_progress("verify ceiling: tl_event_verify over %zu event bodies, 1 thread and %u threads, %.1f s each, "
                       "best of %d",
                       n, c->ceiling_threads, c->cfg.ceiling_s, BENCH_CEILING_RUNS);
        /* The best of a few runs: a ceiling is what the machine can do, and another process
         * taking a core for a moment should not lower it (and so flatter every ratio). */
        for (int k = 0; k < BENCH_CEILING_RUNS; k++) {
            double one = ceiling_run(&s, 1, c->cfg.ceiling_s, &bad);
            double all = ceiling_run(&s, c->ceiling_threads, c->cfg.ceiling_s, &bad);
            c->ceiling_1 = one > c->ceiling_1 ? one : c->ceiling_1;
            c->ceiling_n = all > c->ceiling_n ? all : c->ceiling_n;
        }
        c->ceiling_sample = n;
        c->ceiling_body_mean = (double)bodies.len / (double)n;
        if (bad) {
            fprintf(stderr, "bench: a generated event does not verify\n");
            rc = -1;
        } else {
            c->ceiling_ran = true;
            bench_progress("verify ceiling: %.0f/s on 1 thread, %.0f/s on %u threads", c->ceiling_1, c->ceiling_n,
                           c->ceiling_threads);
        }
    }
    tl_buf_free(&bodies);
    free(s.off);
    free(s.len);
    free(s.key);
    free(s.sig);
    return rc;
}

/* ---------- servers ---------- */

typedef struct server {
    bench_proc p;
    uint16_t port;
    char log[BENCH_PATH_BYTES];
} server;

static int serve_start(bench_ctx *c, server *s, const char *views, const char *tag, char *cmd, size_t cmd_cap)
{
    char *argv[] = {c->self, "serve", c->ledger, "--listen", "127.0.0.1:0", "--access-log", "off", "--views",
                    (char *)views, NULL};
    bench_argv_string(cmd, cmd_cap, argv);
    snprintf(s->log, sizeof s->log, "%s/serve-%s.log", c->work, tag);
    bench_spawn_options so = {.log_path = c->cfg.verbose ? "/dev/stderr" : s->log, .capture_stdout = true};
    if (bench_spawn(&s->p, "techledger serve", argv, &so) != 0)
        return -1;
    char line[256];
    if (bench_proc_read_line(&s->p, "listening on http://", line, sizeof line, BENCH_SERVER_START_S) != 0) {
        fprintf(stderr, "bench: techledger serve did not start\n");
        bench_proc_stop(&s->p, SIGKILL, 10, NULL, NULL);
        bench_show_log(s->log, 3000);
        return -1;
    }
    const char *colon = strrchr(line, ':');
    s->port = colon ? (uint16_t)atoi(colon + 1) : 0;
    return s->port ? 0 : -1;
}

static int serve_stop(server *s)
{
    int st = 0;
    int rc = bench_proc_stop(&s->p, SIGTERM, BENCH_SERVER_STOP_S, NULL, &st);
    if (rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: techledger serve did not stop cleanly\n");
        bench_show_log(s->log, 3000);
        return -1;
    }
    return 0;
}

static int http_open(tl_http_client **hc, uint16_t port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)port);
    tl_http_url u;
    tl_error err;
    if (tl_http_url_parse(&u, url, &err) != 0 || tl_http_client_open(hc, &u, 60000, &err) != 0) {
        fprintf(stderr, "bench: cannot reach %s: %s\n", url, err.msg);
        return -1;
    }
    return 0;
}

static int http_get(uint16_t port, const char *path, tl_http_response *resp)
{
    tl_http_client *hc;
    if (http_open(&hc, port) != 0)
        return -1;
    tl_error err;
    tl_http_response_init(resp);
    int rc = tl_http_request(hc, "GET", path, NULL, NULL, 0, resp, &err);
    tl_http_client_close(hc);
    if (rc != 0)
        fprintf(stderr, "bench: GET %s: %s\n", path, err.msg);
    return rc;
}

/* A value from the Prometheus text of /metrics (0 when absent). */
static double metric(const tl_buf *text, const char *name)
{
    if (text->data == NULL)
        return 0;
    size_t nl = strlen(name);
    const char *p = (const char *)text->data, *end = p + text->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtod(p + nl + 1, NULL);
        p = eol + 1;
    }
    return 0;
}

static void metrics_get(uint16_t port, tl_buf *out)
{
    tl_http_response r;
    tl_buf_init(out);
    if (http_get(port, "/metrics", &r) == 0 && r.status == 200) {
        *out = r.body;
        tl_buf_init(&r.body);
        if (tl_buf_append(out, "", 1) == 0)
            out->len--;
    }
    tl_http_response_free(&r);
}

/* ---------- ingest ---------- */

typedef struct ingest_run {
    bench_ctx *c;
    bool bulk;
    size_t next, end;      /* batches (bulk) or events (single) still to send */
    uint64_t created;
    uint64_t bad;          /* replies that were not all-created */
    char first_bad[200];
    uint64_t total;        /* events this run should create */
    double tenth_at[11];   /* when created first reached k tenths of total */
    uint64_t tenth_rss[11];
    unsigned tenths;
    pid_t server;
} ingest_run;

static bool ingest_next(void *ctx, bench_request *out)
{
    ingest_run *r = ctx;
    if (r->next >= r->end)
        return false;
    size_t i = r->next++;
    const bench_events *e = &r->c->ev;
    *out = (bench_request){.method = "POST", .path = "/v1/events", .content_type = "application/msgpack", .tag = i};
    if (r->bulk) {
        out->body = e->batch_buf[i] + e->batch_body_off[i];
        out->body_len = e->batch_body_len[i];
    } else {
        out->body = e->ev[i];
        out->body_len = e->len[i];
    }
    return true;
}

static void ingest_done(void *ctx, const bench_request *req, int status, const uint8_t *body, size_t len)
{
    ingest_run *r = ctx;
    const bench_events *e = &r->c->ev;
    uint64_t created = 0, expected = 1;
    if (r->bulk) {
        size_t first = req->tag * e->batch_events;
        expected = first + e->batch_events <= e->n ? e->batch_events : e->n - first;
        const uint8_t *p = len > 10 ? memmem(body, len, "\"created\":", 10) : NULL;
        if (status == 200 && p != NULL)
            created = strtoull((const char *)p + 10, NULL, 10);
    } else {
        created = status == 201;
    }
    r->created += created;
    while (r->tenths <= 10 && r->created * 10 >= r->total * r->tenths) {
        r->tenth_rss[r->tenths] = bench_proc_rss_bytes(r->server);
        r->tenth_at[r->tenths++] = bench_now();
    }
    if (created != expected) {
        r->bad++;
        if (r->first_bad[0] == '\0')
            snprintf(r->first_bad, sizeof r->first_bad, "HTTP %d: %.*s", status, (int)(len < 150 ? len : 150),
                     (const char *)body);
    }
}

static int ingest_load(bench_ctx *c, server *s, bool bulk, size_t from, size_t to, ingest_figure *f)
{
    ingest_run r = {.c = c, .bulk = bulk, .next = from, .end = to};
    r.server = s->p.pid;
    r.total = bulk ? (uint64_t)(to - from) * c->ev.batch_events : (uint64_t)(to - from);
    bench_load_options lo = {.port = s->port,
                             .connections = bulk ? c->cfg.bulk_clients : c->cfg.single_clients,
                             .threads = 1,
                             .next = ingest_next,
                             .done = ingest_done,
                             .ctx = &r};
    tl_buf m0, m1;
    metrics_get(s->port, &m0);
    double cpu0 = bench_proc_cpu_seconds(s->p.pid);
    bench_load_result lr;
    r.tenth_at[0] = bench_now();
    r.tenths = 1;
    int rc = bench_load_run(&lr, &lo);
    double cpu1 = bench_proc_cpu_seconds(s->p.pid);
    for (unsigned k = 1; k < r.tenths && k <= 10; k++) {
        double dt = r.tenth_at[k] - r.tenth_at[k - 1];
        f->tenth_per_s[k - 1] = dt > 0 ? (double)r.total / 10.0 / dt : 0;
        f->tenth_rss[k - 1] = r.tenth_rss[k];
    }
    metrics_get(s->port, &m1);
    f->created = r.created;
    f->requests = lr.requests;
    f->seconds = lr.seconds;
    f->latency_us = lr.latency_us;
    f->events_per_s = lr.seconds > 0 ? (double)r.created / lr.seconds : 0;
    f->server_cpu_s = cpu1 - cpu0;
    f->client_cpu_s = lr.client_cpu_s;
    f->commits = metric(&m1, "techledger_commits_total") - metric(&m0, "techledger_commits_total");
    double ev = metric(&m1, "techledger_commit_batch_events_sum") - metric(&m0, "techledger_commit_batch_events_sum");
    f->events_per_commit = f->commits > 0 ? ev / f->commits : 0;
    double fs = metric(&m1, "techledger_fsync_seconds_sum") - metric(&m0, "techledger_fsync_seconds_sum");
    double fn = metric(&m1, "techledger_fsync_seconds_count") - metric(&m0, "techledger_fsync_seconds_count");
    f->fsync_mean_ms = fn > 0 ? fs / fn * 1000.0 : 0;
    f->fsync_over_3ms = fn - (metric(&m1, "techledger_fsync_seconds_bucket{le=\"0.0032\"}") -
                              metric(&m0, "techledger_fsync_seconds_bucket{le=\"0.0032\"}"));
    f->fsync_over_6ms = fn - (metric(&m1, "techledger_fsync_seconds_bucket{le=\"0.0064\"}") -
                              metric(&m0, "techledger_fsync_seconds_bucket{le=\"0.0064\"}"));
    static const char *const stages[3] = {"techledger_ingest_stage_seconds_total{stage=\"prepare\"}",
                                          "techledger_ingest_stage_seconds_total{stage=\"durable\"}",
                                          "techledger_ingest_stage_seconds_total{stage=\"reply\"}"};
    double timed = metric(&m1, "techledger_ingest_submissions_timed_total") -
                   metric(&m0, "techledger_ingest_submissions_timed_total");
    for (int k = 0; k < 3; k++)
        f->stage_ms[k] = timed > 0 ? (metric(&m1, stages[k]) - metric(&m0, stages[k])) / timed * 1000.0 : 0;
    f->sequencer_cpu_s = metric(&m1, "techledger_sequencer_cpu_seconds_total") -
                         metric(&m0, "techledger_sequencer_cpu_seconds_total");
    tl_buf_free(&m0);
    tl_buf_free(&m1);
    if (rc != 0 || lr.failures > 0 || r.bad > 0 || bench_stop) {
        snprintf(f->failure, sizeof f->failure, "%llu failures (%.60s), %llu replies not all created (%.100s)",
                 (unsigned long long)lr.failures, lr.first_failure, (unsigned long long)r.bad, r.first_bad);
        fprintf(stderr, "bench: ingest failed: %s\n", f->failure);
        return -1;
    }
    f->ran = true;
    return 0;
}

/* The setup batches, one after another (participants before the contracts naming them). */
static int ingest_setup(bench_ctx *c, server *s)
{
    tl_http_client *hc;
    if (http_open(&hc, s->port) != 0)
        return -1;
    static const char *const headers[] = {"Content-Type: application/msgpack", NULL};
    int rc = 0;
    for (size_t b = 0; b < c->ev.setup_batches && rc == 0; b++) {
        tl_http_response r;
        tl_http_response_init(&r);
        tl_error err;
        rc = tl_http_request(hc, "POST", "/v1/events", headers, c->ev.setup[b].data, c->ev.setup[b].len, &r, &err);
        const char *body = r.body.data ? (const char *)r.body.data : "";
        if (rc == 0 && (r.status != 200 || strstr(body, "\"rejected\":0}") == NULL)) {
            fprintf(stderr, "bench: setup batch %zu refused (HTTP %d): %.300s\n", b, r.status, body);
            rc = -1;
        }
        tl_http_response_free(&r);
    }
    tl_http_client_close(hc);
    return rc;
}

/* Waits until the server's RocksDB has had no flush or compaction running, due or pending for
 * SETTLE_QUIET_S in a row (from /metrics), at most SETTLE_MAX_S, so that a run starts from a
 * quiet store and pays only for the flushes and compactions its own writes cause (a finishing
 * flush can start a compaction, so one quiet reading is not enough). It does not smooth the
 * run itself: after a bulk load of 600,000 events, the one-event-per-request run's first flush
 * still started a compaction that took one core for ~0.7 s, during which that run went at
 * 12,000 events/s with p50 5 ms instead of 22,000 with p50 2.7 ms (bench/README.md). */
#define SETTLE_MAX_S 60.0
#define SETTLE_QUIET_S 1.0
#define SETTLE_POLL_S 0.05
static void ingest_settle(server *s, ingest_figure *f)
{
    double t0 = bench_now(), quiet_since = -1;
    for (;;) {
        tl_buf m;
        metrics_get(s->port, &m);
        bool idle = m.data != NULL && metric(&m, "techledger_storage_flushes_running") == 0 &&
                    metric(&m, "techledger_storage_compactions_running") == 0 &&
                    metric(&m, "techledger_storage_flushes_pending") == 0 &&
                    metric(&m, "techledger_storage_compactions_pending") == 0 &&
                    metric(&m, "techledger_storage_compaction_pending_bytes") == 0;
        tl_buf_free(&m);
        double now = bench_now();
        if (!idle)
            quiet_since = -1;
        else if (quiet_since < 0)
            quiet_since = now;
        f->settle_s = now - t0;
        f->settled = quiet_since >= 0 && now - quiet_since >= SETTLE_QUIET_S;
        if (f->settled || f->settle_s >= SETTLE_MAX_S || bench_stop)
            return;
        struct timespec ts = {0, (long)(SETTLE_POLL_S * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int phase_ingest(bench_ctx *c)
{
    tl_error err;
    char msg[512];
    if (tl_ledger_create(c->ledger, BENCH_ORIGIN, &c->ev.admin, NULL, &err) != 0) {
        fprintf(stderr, "bench: cannot create the ledger: %s\n", tl_error_format(&err, msg, sizeof msg));
        return -1;
    }
    server s;
    if (serve_start(c, &s, "off", "ingest", c->serve_cmd, sizeof c->serve_cmd) != 0)
        return -1;
    int rc = -1;
    bench_progress("ingest: setup (%zu participants and base contracts, not timed)", c->ev.setup_events);
    if (ingest_setup(c, &s) != 0)
        goto out;
    size_t bulk_batches = c->cfg.events / c->cfg.batch;
    bench_progress("ingest (a) bulk: %zu events in batches of %zu from %u connections", c->cfg.events, c->cfg.batch,
                   c->cfg.bulk_clients);
    if (ingest_load(c, &s, true, 0, bulk_batches, &c->bulk) != 0)
        goto out;
    bench_progress("ingest (a) bulk: %.0f events/s, p99 %.1f ms per batch", c->bulk.events_per_s,
                   c->bulk.latency_us.p99 / 1000.0);
    if (want(c, ONLY_INGEST | ONLY_POSTGRES | ONLY_RESOURCES)) {
        bench_progress("ingest (b): waiting for the bulk run's flushes and compactions to finish");
        ingest_settle(&s, &c->single);
        bench_progress("ingest (b) one event per request: %zu events from %u connections", c->cfg.single,
                       c->cfg.single_clients);
        if (ingest_load(c, &s, false, c->cfg.events, c->cfg.events + c->cfg.single, &c->single) != 0)
            goto out;
        bench_progress("ingest (b): %.0f events/s, p50 %.2f ms, p99 %.2f ms", c->single.events_per_s,
                       c->single.latency_us.p50 / 1000.0, c->single.latency_us.p99 / 1000.0);
    }
    c->rss_hwm = bench_proc_hwm_bytes(s.p.pid);
    rc = 0;
out:
    if (serve_stop(&s) != 0)
        rc = -1;
    return rc;
}

/* ---------- the log scan and in-process proofs ---------- */

static uint64_t rnd_state = BENCH_PROOF_RANDOM_SEED;
static uint64_t rnd(void)
{
    /* xorshift64*: reproducible request mixes, nothing cryptographic */
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return rnd_state * 2685821657736338717ull;
}

typedef struct scan_acc {
    uint64_t records, bytes;
} scan_acc;

static int scan_one(void *ctx, uint64_t seq, const uint8_t *rec, size_t len)
{
    scan_acc *a = ctx;
    tl_record r;
    tl_error err;
    if (tl_record_decode(&r, rec, len, &err) != 0 || r.seq != seq)
        return TL_ECORRUPT;
    a->records++;
    a->bytes += len;
    return 0;
}

static int phase_scan_proofs(bench_ctx *c)
{
    tl_ledger *l;
    tl_error err;
    char msg[512];
    tl_ledger_options lo = {.mode = TL_OPEN_READ_ONLY};
    if (tl_ledger_open(&l, c->ledger, &lo, &err) != 0) {
        fprintf(stderr, "bench: cannot open the ledger: %s\n", tl_error_format(&err, msg, sizeof msg));
        return -1;
    }
    int rc = 0;
    c->size = tl_ledger_size(l);
    scan_acc a = {0};
    double t0 = bench_now();
    if (tl_ledger_scan(l, 0, c->size, scan_one, &a, &err) != 0 || a.records != c->size) {
        fprintf(stderr, "bench: the log scan failed: %s\n", tl_error_format(&err, msg, sizeof msg));
        rc = -1;
        goto out;
    }
    double dt = bench_now() - t0;
    c->raw_bytes = a.bytes;
    c->scan_per_s = dt > 0 ? (double)a.records / dt : 0;
    bench_progress("log scan: %" PRIu64 " records (%" PRIu64 " bytes) in %.2f s, %.0f records/s", a.records, a.bytes,
                   dt, c->scan_per_s);
    if (!want(c, ONLY_PROOFS))
        goto out;
    size_t n = c->cfg.proof_samples;
    bench_samples sr = {0}, si = {0}, sc = {0};
    tl_buf rec;
    tl_buf_init(&rec);
    tl_merkle_proof *proof = malloc(sizeof *proof);
    if (proof == NULL) {
        rc = -1;
        goto out;
    }
    bench_progress("proofs in-process: %zu record reads, inclusion and consistency proofs at size %" PRIu64, n, c->size);
    /* a warm-up pass of each, so the figures are of a running server's warm caches */
    for (size_t k = 0; k < 2 * n && rc == 0; k++) {
        bool keep = k >= n;
        uint64_t seq = rnd() % c->size;
        double t = bench_now();
        if (tl_ledger_read(l, seq, &rec, &err) != 0)
            rc = -1;
        double t1 = bench_now();
        if (keep)
            bench_samples_add(&sr, (t1 - t) * 1e6);
        seq = rnd() % c->size;
        t = bench_now();
        if (rc == 0 && tl_ledger_inclusion_proof(l, seq, c->size, proof, &err) != 0)
            rc = -1;
        t1 = bench_now();
        if (keep) {
            bench_samples_add(&si, (t1 - t) * 1e6);
            if (proof->n > c->incl_hashes_max)
                c->incl_hashes_max = (unsigned)proof->n;
        }
        uint64_t from = 1 + rnd() % (c->size - 1);
        t = bench_now();
        if (rc == 0 && tl_ledger_consistency_proof(l, from, c->size, proof, &err) != 0)
            rc = -1;
        t1 = bench_now();
        if (keep) {
            bench_samples_add(&sc, (t1 - t) * 1e6);
            if (proof->n > c->cons_hashes_max)
                c->cons_hashes_max = (unsigned)proof->n;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "bench: a proof failed: %s\n", tl_error_format(&err, msg, sizeof msg));
    } else {
        bench_dist_of(&c->read_us, sr.v, sr.n);
        bench_dist_of(&c->incl_us, si.v, si.n);
        bench_dist_of(&c->cons_us, sc.v, sc.n);
        c->proofs_ran = true;
        bench_progress("proofs in-process: read p50 %.1f us, inclusion p50 %.1f p99 %.1f us, consistency p50 %.1f p99 "
                       "%.1f us",
                       c->read_us.p50, c->incl_us.p50, c->incl_us.p99, c->cons_us.p50, c->cons_us.p99);
    }
    free(proof);
    tl_buf_free(&rec);
    bench_samples_free(&sr);
    bench_samples_free(&si);
    bench_samples_free(&sc);
out:
    tl_ledger_close(l);
    return rc;
}

/* ---------- rebuild and audit (the real commands, as child processes) ---------- */

static int run_tool(bench_ctx *c, const char *name, char *const argv[], bench_run_result *rr, tl_buf *out,
                    char *cmd, size_t cmd_cap)
{
    char log[BENCH_PATH_BYTES];
    snprintf(log, sizeof log, "%s/%s.log", c->work, name);
    if (cmd != NULL)
        bench_argv_string(cmd, cmd_cap, argv);
    bench_spawn_options so = {.log_path = c->cfg.verbose ? "/dev/stderr" : log};
    tl_buf_init(out);
    if (bench_run(rr, name, argv, &so, out, BENCH_CHILD_TIMEOUT_S) != 0 || rr->exit_code != 0) {
        fprintf(stderr, "bench: techledger %s failed (exit %d)\n%s", name, rr->exit_code,
                out->data ? (char *)out->data : "");
        bench_show_log(log, 3000);
        return -1;
    }
    return 0;
}

static void first_line(char *out, size_t cap, const tl_buf *b, const char *prefix)
{
    out[0] = '\0';
    const char *p = b->data ? strstr((const char *)b->data, prefix) : NULL;
    if (p != NULL) {
        snprintf(out, cap, "%s", p);
        out[strcspn(out, "\n")] = '\0';
    }
}

static int phase_rebuild(bench_ctx *c)
{
    char *argv[] = {c->self, "rebuild", c->ledger, NULL};
    bench_run_result rr;
    tl_buf out;
    /* The first run creates the views and folds the log once (opening them starts the
     * catch-up); the second is the measured one: a rebuild of views that are up to date. */
    bench_progress("rebuild: first run, creating the views (not timed)");
    if (run_tool(c, "rebuild", argv, &rr, &out, NULL, 0) != 0) {
        tl_buf_free(&out);
        return -1;
    }
    tl_buf_free(&out);
    bench_progress("rebuild: timed run over %" PRIu64 " records", c->size);
    if (run_tool(c, "rebuild", argv, &rr, &out, c->rebuild_cmd, sizeof c->rebuild_cmd) != 0) {
        tl_buf_free(&out);
        return -1;
    }
    first_line(c->rebuild_out, sizeof c->rebuild_out, &out, "rebuilt");
    tl_buf_free(&out);
    c->rebuild_wall_s = rr.wall_s;
    c->rebuild_cpu_s = bench_cpu_seconds(&rr.ru);
    c->rebuild_ran = true;
    bench_progress("rebuild: %.2f s wall, %.2f CPU-s: %.0f records per CPU-second", c->rebuild_wall_s,
                   c->rebuild_cpu_s, (double)c->size / c->rebuild_cpu_s);
    return 0;
}

static int phase_audit(bench_ctx *c)
{
    char *exp_argv[] = {c->self, "export", c->ledger, "--audit", c->bundle, NULL};
    bench_run_result rr;
    tl_buf out;
    bench_progress("audit: exporting the bundle (not timed)");
    if (run_tool(c, "export", exp_argv, &rr, &out, c->export_cmd, sizeof c->export_cmd) != 0) {
        tl_buf_free(&out);
        return -1;
    }
    /* the bundle ends at the latest checkpoint: verify must check exactly what was exported */
    const char *ex = out.data ? strstr((const char *)out.data, "exported ") : NULL;
    uint64_t exported = ex ? strtoull(ex + 9, NULL, 10) : c->size;
    tl_buf_free(&out);
    char *argv[] = {c->self, "verify", c->bundle, NULL};
    bench_progress("audit: techledger verify of the bundle (%" PRIu64 " records)", c->size);
    if (run_tool(c, "verify", argv, &rr, &out, c->audit_cmd, sizeof c->audit_cmd) != 0) {
        tl_buf_free(&out);
        return -1;
    }
    const char *p = out.data ? strstr((const char *)out.data, "records ") : NULL;
    c->audit_records = p ? strtoull(p + 8 + strspn(p + 8, " "), NULL, 10) : 0;
    first_line(c->audit_out, sizeof c->audit_out, &out, "time");
    tl_buf_free(&out);
    c->audit_wall_s = rr.wall_s;
    c->audit_cpu_s = bench_cpu_seconds(&rr.ru);
    if (c->audit_records != exported || exported == 0) {
        fprintf(stderr, "bench: verify checked %" PRIu64 " records, the bundle holds %" PRIu64 "\n", c->audit_records,
                exported);
        return -1;
    }
    c->audit_ran = true;
    bench_progress("audit: %.2f s, %.0f records/s", c->audit_wall_s, (double)c->audit_records / c->audit_wall_s);
    return 0;
}

/* ---------- views against nginx, proofs over HTTP ---------- */

typedef struct get_run {
    char **paths; /* NULL-terminated list cycled through, or one path */
    size_t n, next;
    size_t limit; /* requests to issue (0 = until the duration ends) */
    size_t issued;
} get_run;

static bool get_next(void *ctx, bench_request *out)
{
    get_run *g = ctx;
    if (g->limit > 0 && g->issued >= g->limit)
        return false;
    g->issued++;
    *out = (bench_request){.method = "GET", .path = g->paths[g->next]};
    g->next = (g->next + 1) % g->n;
    return true;
}

static int http_load(uint16_t port, pid_t server_pid, char **paths, size_t n, size_t limit, double duration,
                     unsigned conns, http_figure *f)
{
    get_run g = {.paths = paths, .n = n, .limit = limit};
    bench_load_options lo = {.port = port, .connections = conns, .threads = 1, .duration_s = duration,
                             .next = get_next, .ctx = &g};
    double cpu0 = bench_proc_cpu_seconds(server_pid);
    bench_load_result lr;
    int rc = bench_load_run(&lr, &lo);
    f->server_cpu_s = bench_proc_cpu_seconds(server_pid) - cpu0;
    f->client_cpu_s = lr.client_cpu_s;
    f->requests = lr.requests;
    f->failures = lr.failures + (lr.requests - lr.ok);
    f->latency_us = lr.latency_us;
    f->req_per_s = lr.seconds > 0 ? (double)lr.ok / lr.seconds : 0;
    if (rc != 0 || f->failures > 0 || lr.requests == 0) {
        snprintf(f->failure, sizeof f->failure, "%llu failures of %llu requests (%s; %llu non-2xx)",
                 (unsigned long long)f->failures, (unsigned long long)lr.requests, lr.first_failure,
                 (unsigned long long)(lr.requests - lr.ok));
        fprintf(stderr, "bench: GET %s: %s\n", paths[0], f->failure);
        return -1;
    }
    f->ran = true;
    return 0;
}

/* Waits until every projection has caught up with the log. */
static int views_sync(uint16_t port, uint64_t size)
{
    double t0 = bench_now(), last = t0;
    while (!bench_stop && bench_now() - t0 < BENCH_VIEWS_SYNC_S) {
        tl_http_response r;
        bool ok = false;
        uint64_t behind = 0;
        if (http_get(port, "/healthz", &r) == 0 && r.status == 200) {
            json_t *j = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
            json_t *projs = json_object_get(j, "projections");
            size_t i;
            json_t *p;
            ok = json_array_size(projs) > 0;
            json_array_foreach(projs, i, p)
            {
                json_int_t pos = json_integer_value(json_object_get(p, "position"));
                if (!json_is_true(json_object_get(p, "ready")) || json_is_true(json_object_get(p, "rebuilding")) ||
                    (uint64_t)pos < size) {
                    ok = false;
                    behind = size - (uint64_t)pos;
                }
            }
            json_decref(j);
        }
        tl_http_response_free(&r);
        if (ok)
            return 0;
        if (bench_now() - last > 5.0) {
            last = bench_now();
            bench_progress("views: waiting for the projections (%" PRIu64 " records behind)", behind);
        }
        usleep(100000);
    }
    fprintf(stderr, "bench: the views did not catch up with the log\n");
    return -1;
}

typedef struct nginx {
    bench_proc p;
    uint16_t port;
    char dir[BENCH_SUBDIR_BYTES];
} nginx;

static const char *nginx_bin(void)
{
    static const char *const paths[] = {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* Writes DIR/nginx.conf serving DIR/www on a free loopback port. */
static int nginx_conf(nginx *n)
{
    char path[BENCH_PATH_BYTES];
    snprintf(path, sizeof path, "%s/nginx.conf", n->dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    const char *d = n->dir;
    /* As root the master keeps root and the workers drop to nobody; as another user the user
     * line is not allowed. Keep-alive without a request limit, like our client expects. */
    if (geteuid() == 0)
        fprintf(f, "user nobody nogroup;\n");
    fprintf(f,
            "daemon off;\nmaster_process on;\nworker_processes 2;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n"
            "  keepalive_timeout 65;\n  keepalive_requests 100000000;\n"
            "  client_body_temp_path %s/tmp/body;\n  proxy_temp_path %s/tmp/proxy;\n"
            "  fastcgi_temp_path %s/tmp/fastcgi;\n  uwsgi_temp_path %s/tmp/uwsgi;\n  scgi_temp_path %s/tmp/scgi;\n"
            "  types { application/json json; }\n  default_type application/json;\n"
            "  server {\n    listen 127.0.0.1:%u;\n    root %s/www;\n    location / { }\n  }\n}\n",
            d, d, d, d, d, d, d, (unsigned)n->port, d);
    return fclose(f);
}

static int nginx_start(bench_ctx *c, nginx *n, char **files, const tl_buf *bodies, size_t count)
{
    const char *exe = nginx_bin();
    if (exe == NULL) {
        snprintf(c->nginx_skipped, sizeof c->nginx_skipped,
                 "nginx is not installed (`make bench` installs it: scripts/deps.sh nginx)");
        return 1;
    }
    char blocker[BENCH_DIR_BYTES];
    if (geteuid() == 0 && !bench_path_traversable(c->work, blocker, sizeof blocker)) {
        snprintf(c->nginx_skipped, sizeof c->nginx_skipped,
                 "nginx's workers run as nobody, who cannot enter %.120s (no o+x): set TMPDIR elsewhere", blocker);
        return 1;
    }
    snprintf(n->dir, sizeof n->dir, "%s/nginx", c->work);
    char www[BENCH_PATH_BYTES], tmp[BENCH_PATH_BYTES], path[BENCH_PATH_BYTES * 2];
    snprintf(www, sizeof www, "%s/www", n->dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", n->dir);
    if (mkdir(n->dir, 0755) != 0 || mkdir(www, 0755) != 0 || mkdir(tmp, 0755) != 0 || chmod(c->work, 0755) != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s%s", www, files[i]);
        FILE *f = fopen(path, "w");
        if (f == NULL || fwrite(bodies[i].data, 1, bodies[i].len, f) != bodies[i].len || fclose(f) != 0)
            return -1;
        chmod(path, 0644);
    }
    n->port = bench_free_port();
    if (nginx_conf(n) != 0)
        return -1;
    char conf[BENCH_PATH_BYTES], log[BENCH_PATH_BYTES], prefix[BENCH_PATH_BYTES], elog[BENCH_PATH_BYTES];
    snprintf(conf, sizeof conf, "%s/nginx.conf", n->dir);
    snprintf(log, sizeof log, "%s/stderr.log", n->dir);
    snprintf(prefix, sizeof prefix, "%s/", n->dir);
    snprintf(elog, sizeof elog, "%s/error.log", n->dir);
    {
        char *v_argv[] = {(char *)exe, "-v", NULL};
        tl_buf out;
        bench_run_result rr;
        tl_buf_init(&out);
        /* nginx prints its version on stderr: read it from the log */
        char vlog[BENCH_PATH_BYTES];
        snprintf(vlog, sizeof vlog, "%s/version.log", n->dir);
        bench_spawn_options so = {.log_path = vlog};
        if (bench_run(&rr, "nginx -v", v_argv, &so, &out, 30) == 0) {
            FILE *f = fopen(vlog, "r");
            if (f != NULL) {
                if (fgets(c->nginx_version, sizeof c->nginx_version, f) != NULL)
                    c->nginx_version[strcspn(c->nginx_version, "\n")] = '\0';
                fclose(f);
            }
        }
        tl_buf_free(&out);
    }
    char *argv[] = {(char *)exe, "-p", prefix, "-c", conf, "-e", elog, NULL};
    bench_spawn_options so = {.log_path = log};
    if (bench_spawn(&n->p, "nginx", argv, &so) != 0)
        return -1;
    /* ready when it answers */
    double t0 = bench_now();
    for (;;) {
        tl_http_response r;
        tl_http_response_init(&r);
        tl_http_client *hc;
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)n->port);
        tl_http_url u;
        tl_error err;
        int ok = 0;
        if (tl_http_url_parse(&u, url, &err) == 0 && tl_http_client_open(&hc, &u, 2000, &err) == 0) {
            ok = tl_http_request(hc, "GET", files[0], NULL, NULL, 0, &r, &err) == 0 && r.status == 200 &&
                 r.body.len == bodies[0].len && memcmp(r.body.data, bodies[0].data, r.body.len) == 0;
            tl_http_client_close(hc);
        }
        tl_http_response_free(&r);
        if (ok)
            return 0;
        if (bench_now() - t0 > 20 || bench_stop) {
            fprintf(stderr, "bench: nginx did not start\n");
            bench_show_log(log, 2000);
            bench_show_log(elog, 2000);
            bench_proc_stop(&n->p, SIGTERM, 10, NULL, NULL);
            return -1;
        }
        usleep(50000);
    }
}

static const char *wrk_bin(void)
{
    static const char *const paths[] = {"/usr/bin/wrk", "/usr/local/bin/wrk"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* A wrk latency like "1.23ms", "850.00us" or "1.05s" in microseconds. */
static double wrk_time_us(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (strncmp(end, "us", 2) == 0)
        return v;
    if (strncmp(end, "ms", 2) == 0)
        return v * 1e3;
    if (end[0] == 's')
        return v * 1e6;
    if (strncmp(end, "m", 1) == 0)
        return v * 6e7;
    return v;
}

/* wrk with the same connections and duration as our client, one thread like ours. */
static int wrk_run(bench_ctx *c, uint16_t port, const char *path, wrk_figure *f)
{
    const char *exe = wrk_bin();
    if (exe == NULL)
        return 1;
    char conns[16], dur[32], url[512];
    snprintf(conns, sizeof conns, "%u", c->cfg.view_conns);
    snprintf(dur, sizeof dur, "%.0fs", c->cfg.view_s < 1 ? 1.0 : c->cfg.view_s);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    char *argv[] = {(char *)exe, "-t1", "-c", conns, "-d", dur, "--latency", url, NULL};
    char shown[BENCH_CMD_BYTES];
    bench_argv_string(shown, sizeof shown, argv);
    /* the command without the port, which differs between servers */
    snprintf(c->wrk_cmd, sizeof c->wrk_cmd, "%s -t1 -c %s -d %s --latency URL", exe, conns, dur);
    bench_run_result rr;
    tl_buf out;
    tl_buf_init(&out);
    int rc = bench_run(&rr, "wrk", argv, NULL, &out, 600);
    const char *t = out.data ? (const char *)out.data : "";
    const char *rps = strstr(t, "Requests/sec:"), *p50 = strstr(t, "     50%"), *p99 = strstr(t, "     99%");
    if (rc != 0 || rr.exit_code != 0 || rps == NULL || p50 == NULL || p99 == NULL ||
        strstr(t, "Non-2xx") != NULL || strstr(t, "Socket errors") != NULL) {
        fprintf(stderr, "bench: %s failed:\n%s\n", shown, t);
        tl_buf_free(&out);
        return -1;
    }
    f->req_per_s = strtod(rps + strlen("Requests/sec:"), NULL);
    f->p50_us = wrk_time_us(p50 + 8 + strspn(p50 + 8, " "));
    f->p99_us = wrk_time_us(p99 + 8 + strspn(p99 + 8, " "));
    f->ran = true;
    tl_buf_free(&out);
    return 0;
}

static int phase_views(bench_ctx *c)
{
    server s;
    int rc = -1;
    if (serve_start(c, &s, "run", "views", c->view_serve_cmd, sizeof c->view_serve_cmd) != 0)
        return -1;
    bench_progress("views: waiting for the projections to be current");
    if (views_sync(s.port, c->size) != 0)
        goto out;
    nginx n = {.p = {.pid = -1}};
    bool nginx_up = false;
    size_t nviews = sizeof c->views / sizeof c->views[0];
    c->views[0].name = "turnover by year and seller province";
    snprintf(c->views[0].path, sizeof c->views[0].path, "/v1/views/turnover?by=year,seller_province");
    c->views[1].name = "one institution";
    snprintf(c->views[1].path, sizeof c->views[1].path, "/v1/views/institutions/bench-party-007");
    tl_buf bodies[2];
    char *files[2] = {"/turnover.json", "/institution.json"};
    for (size_t i = 0; i < nviews; i++) {
        tl_http_response r;
        if (http_get(s.port, c->views[i].path, &r) != 0 || r.status != 200) {
            fprintf(stderr, "bench: GET %s answered %d\n", c->views[i].path, r.status);
            tl_http_response_free(&r);
            for (size_t k = 0; k < i; k++)
                tl_buf_free(&bodies[k]);
            goto out;
        }
        bodies[i] = r.body;
        tl_buf_init(&r.body);
        tl_http_response_free(&r);
        c->views[i].tl.body_bytes = c->views[i].ngx.body_bytes = bodies[i].len;
    }
    if (want(c, ONLY_VIEWS)) {
        int nr = nginx_start(c, &n, files, bodies, nviews);
        if (nr < 0) {
            rc = -1;
            goto views_done;
        }
        nginx_up = nr == 0;
        for (size_t i = 0; i < nviews && !bench_stop; i++) {
            char *tp[] = {c->views[i].path}, *np[] = {files[i]};
            bench_progress("views: %s: techledger, %u connections, %.1f s", c->views[i].name, c->cfg.view_conns,
                           c->cfg.view_s);
            if (http_load(s.port, s.p.pid, tp, 1, 0, c->cfg.view_s, c->cfg.view_conns, &c->views[i].tl) != 0)
                goto views_done;
            if (nginx_up) {
                bench_progress("views: %s: nginx, the same %zu bytes as a file", c->views[i].name, bodies[i].len);
                if (http_load(n.port, n.p.pid, np, 1, 0, c->cfg.view_s, c->cfg.view_conns, &c->views[i].ngx) != 0)
                    goto views_done;
            }
            bench_progress("views: %s: techledger %.0f req/s (p99 %.2f ms), nginx %.0f req/s (p99 %.2f ms)",
                           c->views[i].name, c->views[i].tl.req_per_s, c->views[i].tl.latency_us.p99 / 1000.0,
                           c->views[i].ngx.req_per_s, c->views[i].ngx.latency_us.p99 / 1000.0);
            if (nginx_up && wrk_bin() != NULL) {
                bench_progress("views: %s: the same comparison with wrk", c->views[i].name);
                if (wrk_run(c, s.port, c->views[i].path, &c->views[i].wrk_tl) != 0 ||
                    wrk_run(c, n.port, files[i], &c->views[i].wrk_ngx) != 0)
                    goto views_done;
            }
        }
    }
    if (want(c, ONLY_PROOFS)) {
        size_t k = c->cfg.http_samples;
        char **pr = calloc(k, sizeof *pr), **pi = calloc(k, sizeof *pi), **pc = calloc(k, sizeof *pc);
        bool ok = pr && pi && pc;
        for (size_t i = 0; i < k && ok; i++) {
            pr[i] = malloc(96);
            pi[i] = malloc(96);
            pc[i] = malloc(96);
            ok = pr[i] && pi[i] && pc[i];
            if (ok) {
                snprintf(pr[i], 96, "/v1/events/%" PRIu64, rnd() % c->size);
                snprintf(pi[i], 96, "/v1/events/%" PRIu64 "?proof=%" PRIu64, rnd() % c->size, c->size);
                snprintf(pc[i], 96, "/v1/proofs/consistency?from=%" PRIu64 "&to=%" PRIu64, 1 + rnd() % (c->size - 1),
                         c->size);
            }
        }
        bench_progress("proofs over HTTP: %zu requests each, one connection", k);
        if (ok && http_load(s.port, s.p.pid, pr, k, k, 0, 1, &c->http_read) == 0 &&
            http_load(s.port, s.p.pid, pi, k, k, 0, 1, &c->http_incl) == 0 &&
            http_load(s.port, s.p.pid, pc, k, k, 0, 1, &c->http_cons) == 0)
            bench_progress("proofs over HTTP: record p50 %.0f us, inclusion p50 %.0f us, consistency p50 %.0f us",
                           c->http_read.latency_us.p50, c->http_incl.latency_us.p50, c->http_cons.latency_us.p50);
        else
            ok = false;
        for (size_t i = 0; i < k; i++) {
            if (pr)
                free(pr[i]);
            if (pi)
                free(pi[i]);
            if (pc)
                free(pc[i]);
        }
        free(pr);
        free(pi);
        free(pc);
        if (!ok)
            goto views_done;
    }
    c->rss_hwm_views = bench_proc_hwm_bytes(s.p.pid);
    rc = 0;
views_done:
    if (nginx_up && bench_proc_stop(&n.p, SIGTERM, 30, NULL, NULL) != 0)
        rc = -1;
    for (size_t i = 0; i < nviews; i++)
        tl_buf_free(&bodies[i]);
out:
    if (serve_stop(&s) != 0)
        rc = -1;
    return rc;
}

/* ---------- the report ---------- */

typedef struct report {
    tl_buf b;
} report;

static void rp(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rp(report *r, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0 && tl_buf_append(&r->b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) != 0)
        return;
}

/* An integer with thousands separators, into one of a few rotating buffers. */
static const char *num(double v)
{
    static char bufs[16][32];
    static unsigned k;
    char *out = bufs[k++ % 16];
    char digits[32];
    bool neg = v < 0;
    snprintf(digits, sizeof digits, "%.0f", neg ? -v : v);
    size_t n = strlen(digits), o = 0;
    if (neg)
        out[o++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return out;
}

static const char *status_word(bool ran, bool met) { return !ran ? "not run" : met ? "met" : "**MISSED**"; }

static const char *mib(uint64_t bytes)
{
    static char bufs[4][32];
    static unsigned k;
    char *out = bufs[k++ % 4];
    snprintf(out, 32, "%.1f MiB", (double)bytes / 1048576.0);
    return out;
}

static void report_write(bench_ctx *c, report *r)
{
    char date[32], when[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm);
    struct utsname un;
    uname(&un);
    char cpu[128] = "unknown";
    FILE *cf = fopen("/proc/cpuinfo", "r");
    if (cf != NULL) {
        char line[512];
        while (fgets(line, sizeof line, cf) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                const char *p = strchr(line, ':');
                snprintf(cpu, sizeof cpu, "%.100s", p ? p + 2 : line);
                cpu[strcspn(cpu, "\n")] = '\0';
                break;
            }
        }
        fclose(cf);
    }
#if defined(__OPTIMIZE__)
    const bool optimized = true;
#else
    const bool optimized = false;
#endif
#if defined(__SANITIZE_ADDRESS__)
    const bool sanitized = true;
#else
    const bool sanitized = false;
#endif
    const bench_cfg *g = &c->cfg;
    rp(r, "# techledger benchmark, %s\n\n", date);
    if (g->quick || !optimized || sanitized)
        rp(r, "> **NOT A MEASUREMENT**: %s. The figures below only show that every part of the bench works.\n\n",
           g->quick ? "--quick run on tiny sizes" : sanitized ? "sanitizer build" : "unoptimized build");
    rp(r, "- when: %s (took %.0f s)\n", when, bench_now() - c->started);
    rp(r, "- machine: %u CPUs (%s), %s %s; temporary files on %s (%s)\n", g->cpus, cpu, un.sysname, un.release,
       c->work, bench_fs_type(c->work));
    rp(r, "- load average (1, 5, 15 min): %s before, %s after\n", c->load_before, c->load_after);
    rp(r, "- binary: %s, %s, %s\n", c->self, optimized ? "optimized" : "NOT optimized",
       sanitized ? "WITH sanitizers" : "no sanitizers");
    rp(r, "- events: %s signed envelopes (%s bytes, %.0f bytes each on average) generated up front by `tl_json_envelope`,"
          " signed by %u registry keys: 90%% contract registrations, 5%% amendments, 5%% payments; ledger of %s records "
          "after setup\n",
       num((double)c->ev.n), num((double)c->ev.bytes), c->ev.n ? (double)c->ev.bytes / (double)c->ev.n : 0.0,
       BENCH_REGISTRIES, num((double)c->size));
    rp(r, "- the client: the bench's own HTTP/1.1 load generator (keep-alive connections, one request in flight each, "
          "one epoll thread), on the same machine as the servers\n\n");

    double ceil_v = c->ceiling_n;
    char ceil_cell[64];
    if (c->ceiling_ran)
        snprintf(ceil_cell, sizeof ceil_cell, "verify ceiling %s/s", num(ceil_v));
    else
        snprintf(ceil_cell, sizeof ceil_cell, "verify ceiling not measured");
    rp(r, "| # | measure | result | baseline (same run) | ratio | target | status |\n");
    rp(r, "|---|---|---|---|---|---|---|\n");
    if (c->ceiling_ran)
        rp(r, "| 1 | Ed25519 verify ceiling, %u threads | %s verifications/s | 1 thread: %s/s | %.2fx scaling | (baseline "
              "of 2 and 4) | info |\n",
           c->ceiling_threads, num(c->ceiling_n), num(c->ceiling_1), c->ceiling_1 > 0 ? c->ceiling_n / c->ceiling_1 : 0);
    if (c->bulk.ran) {
        double ratio = ceil_v > 0 ? c->bulk.events_per_s / ceil_v : 0;
        rp(r, "| 2a | durable ingest, bulk (%u connections, batches of %zu) | %s events/s | %s | %.0f%% | "
              ">= 80%% | %s |\n",
           g->bulk_clients, g->batch, num(c->bulk.events_per_s), ceil_cell, ratio * 100,
           status_word(c->ceiling_ran, ratio >= BENCH_TARGET_INGEST_RATIO));
        if (c->pg.ran) {
            /* The target's baseline: PostgreSQL's plain synchronous inserts, one row per
             * transaction from as many clients as (b). Batched inserts are shown beside it. */
            double pr = c->pg.single_tps > 0 ? c->bulk.events_per_s / c->pg.single_tps : 0;
            rp(r, "| 2a | bulk ingest vs PostgreSQL plain inserts (%u clients, one row per transaction) | %s events/s | "
                  "PostgreSQL %s rows/s | %.2fx | >= 2x | %s |\n",
               g->single_clients, num(c->bulk.events_per_s), num(c->pg.single_tps), pr,
               status_word(true, pr >= BENCH_TARGET_PG_RATIO));
            double pb = c->pg.bulk_rows_per_s > 0 ? c->bulk.events_per_s / c->pg.bulk_rows_per_s : 0;
            rp(r, "| 2a | bulk ingest vs PostgreSQL batched inserts (%u clients, %zu rows per transaction) | %s events/s "
                  "| PostgreSQL %s rows/s | %.2fx | | info |\n",
               g->bulk_clients, g->batch, num(c->bulk.events_per_s), num(c->pg.bulk_rows_per_s), pb);
        }
    }
    if (c->single.ran) {
        double ratio = ceil_v > 0 ? c->single.events_per_s / ceil_v : 0;
        rp(r, "| 2b | durable ingest, one event per request (%u connections) | %s events/s | %s | "
              "%.0f%% | >= 80%% | %s |\n",
           g->single_clients, num(c->single.events_per_s), ceil_cell, ratio * 100,
           status_word(c->ceiling_ran, ratio >= BENCH_TARGET_INGEST_RATIO));
        rp(r, "| 2b | latency, one event per request | p50 %.2f ms, p99 %.2f ms, max %.2f ms | | | p99 <= 5 ms | %s |\n",
           c->single.latency_us.p50 / 1000, c->single.latency_us.p99 / 1000, c->single.latency_us.max / 1000,
           status_word(true, c->single.latency_us.p99 <= BENCH_TARGET_SINGLE_P99_US));
        if (c->pg.ran) {
            double pr = c->pg.single_tps > 0 ? c->single.events_per_s / c->pg.single_tps : 0;
            rp(r, "| 2b | one event per request vs PostgreSQL plain inserts (%u clients, one row per transaction) | %s events/s | "
                  "PostgreSQL %s rows/s (p50 %.2f ms, p99 %.2f ms) | %.2fx | >= 2x | %s |\n",
               g->single_clients, num(c->single.events_per_s), num(c->pg.single_tps),
               c->pg.single_latency_us.p50 / 1000, c->pg.single_latency_us.p99 / 1000, pr,
               status_word(true, pr >= BENCH_TARGET_PG_RATIO));
        }
    }
    if (want(c, ONLY_POSTGRES) && !c->pg.ran)
        rp(r, "| 2 | PostgreSQL baseline | | | | | skipped: %s |\n", c->pg.skipped[0] ? c->pg.skipped : "failed");
    if (c->rebuild_ran) {
        double per_core = c->rebuild_cpu_s > 0 ? (double)c->size / c->rebuild_cpu_s : 0;
        rp(r, "| 3 | rebuild of every view | %s records per CPU-second (%s/s wall, %.2f cores busy) | log scan %s "
              "records/s on 1 core | %.2fx of scan; %.2fx of target | >= 1,000,000/s per core | %s |\n",
           num(per_core), num((double)c->size / c->rebuild_wall_s), c->rebuild_cpu_s / c->rebuild_wall_s,
           num(c->scan_per_s), c->scan_per_s > 0 ? per_core / c->scan_per_s : 0,
           per_core / BENCH_TARGET_REBUILD_PER_CORE, status_word(true, per_core >= BENCH_TARGET_REBUILD_PER_CORE));
    }
    if (c->audit_ran) {
        double rate = (double)c->audit_records / c->audit_wall_s, ratio = ceil_v > 0 ? rate / ceil_v : 0;
        rp(r, "| 4 | full audit of the bundle (`techledger verify`) | %s records/s | %s | %.0f%% | "
              ">= 90%% | %s |\n",
           num(rate), ceil_cell, ratio * 100, status_word(c->ceiling_ran, ratio >= BENCH_TARGET_AUDIT_RATIO));
    }
    for (size_t i = 0; i < sizeof c->views / sizeof c->views[0]; i++) {
        if (!c->views[i].tl.ran)
            continue;
        const http_figure *t = &c->views[i].tl, *n = &c->views[i].ngx;
        if (n->ran) {
            double ratio = t->req_per_s / n->req_per_s;
            bool met = ratio >= BENCH_TARGET_VIEW_RATIO && t->latency_us.p99 <= BENCH_TARGET_VIEW_P99_US;
            rp(r, "| 5 | view over HTTP: %s (%zu bytes, %u connections) | %s req/s, p50 %.2f ms, p99 %.2f ms | nginx "
                  "%s req/s, p99 %.2f ms | %.0f%% | >= 50%%, p99 <= 2 ms | %s |\n",
               c->views[i].name, t->body_bytes, g->view_conns, num(t->req_per_s), t->latency_us.p50 / 1000,
               t->latency_us.p99 / 1000, num(n->req_per_s), n->latency_us.p99 / 1000, ratio * 100,
               status_word(true, met));
            const wrk_figure *wt = &c->views[i].wrk_tl, *wn = &c->views[i].wrk_ngx;
            if (wt->ran && wn->ran)
                rp(r, "| 5 | the same, measured by wrk (-t1, %u connections) | %s req/s, p50 %.2f ms, p99 %.2f ms | nginx "
                      "%s req/s, p99 %.2f ms | %.0f%% | | info |\n",
                   g->view_conns, num(wt->req_per_s), wt->p50_us / 1000, wt->p99_us / 1000, num(wn->req_per_s),
                   wn->p99_us / 1000, wn->req_per_s > 0 ? wt->req_per_s / wn->req_per_s * 100 : 0);
        } else {
            rp(r, "| 5 | view over HTTP: %s (%zu bytes, %u connections) | %s req/s, p99 %.2f ms | nginx: skipped (%s) | "
                  "| >= 50%%, p99 <= 2 ms | not run |\n",
               c->views[i].name, t->body_bytes, g->view_conns, num(t->req_per_s), t->latency_us.p99 / 1000,
               c->nginx_skipped);
        }
    }
    if (c->proofs_ran) {
        rp(r, "| 6 | inclusion proof, in-process (`tl_ledger_inclusion_proof`, up to %u hashes) | p50 %.1f us, p99 %.1f "
              "us | record read p50 %.1f us, p99 %.1f us | %.1fx of a read (p50) | <= 50 us | %s |\n",
           c->incl_hashes_max, c->incl_us.p50, c->incl_us.p99, c->read_us.p50, c->read_us.p99,
           c->read_us.p50 > 0 ? c->incl_us.p50 / c->read_us.p50 : 0,
           status_word(true, c->incl_us.p99 <= BENCH_TARGET_PROOF_US));
        rp(r, "| 6 | consistency proof, in-process (`tl_ledger_consistency_proof`, up to %u hashes) | p50 %.1f us, p99 "
              "%.1f us | record read p50 %.1f us | %.1fx of a read (p50) | <= 50 us | %s |\n",
           c->cons_hashes_max, c->cons_us.p50, c->cons_us.p99, c->read_us.p50,
           c->read_us.p50 > 0 ? c->cons_us.p50 / c->read_us.p50 : 0,
           status_word(true, c->cons_us.p99 <= BENCH_TARGET_PROOF_US));
    }
    if (c->http_incl.ran) {
        rp(r, "| 6 | GET /v1/events/SEQ?proof=SIZE (1 connection) | p50 %.0f us, p99 %.0f us | GET /v1/events/SEQ p50 "
              "%.0f us, p99 %.0f us | %.2fx (p50) | | info |\n",
           c->http_incl.latency_us.p50, c->http_incl.latency_us.p99, c->http_read.latency_us.p50,
           c->http_read.latency_us.p99,
           c->http_read.latency_us.p50 > 0 ? c->http_incl.latency_us.p50 / c->http_read.latency_us.p50 : 0);
        rp(r, "| 6 | GET /v1/proofs/consistency (1 connection) | p50 %.0f us, p99 %.0f us | GET /v1/events/SEQ p50 %.0f "
              "us | %.2fx (p50) | | info |\n",
           c->http_cons.latency_us.p50, c->http_cons.latency_us.p99, c->http_read.latency_us.p50,
           c->http_read.latency_us.p50 > 0 ? c->http_cons.latency_us.p50 / c->http_read.latency_us.p50 : 0);
    }
    if (want(c, ONLY_RESOURCES) && c->rss_hwm > 0) {
        rp(r, "| 7 | server peak RSS (VmHWM) during ingest, %s records | %s | target %s | %.2fx | <= 256 MiB at 10M | "
              "%s |\n",
           num((double)c->size), mib(c->rss_hwm), mib(BENCH_TARGET_RSS_BYTES),
           (double)c->rss_hwm / (double)BENCH_TARGET_RSS_BYTES,
           c->size >= BENCH_EVENTS_FULL ? status_word(true, c->rss_hwm <= BENCH_TARGET_RSS_BYTES)
                                        : (c->rss_hwm <= BENCH_TARGET_RSS_BYTES ? "met at this size (10M: --full)"
                                                                               : "**MISSED**"));
    }
    if (want(c, ONLY_RESOURCES) && c->du_ran && c->raw_bytes > 0) {
        double ratio = (double)c->du.allocated / (double)c->raw_bytes;
        rp(r, "| 7 | disk: DIR/db per record | %.0f bytes (%s in all) | raw record %.0f bytes (%s) | %.2fx | <= 1.5x | "
              "%s |\n",
           (double)c->du.allocated / (double)c->size, num((double)c->du.allocated),
           (double)c->raw_bytes / (double)c->size, num((double)c->raw_bytes), ratio,
           status_word(true, ratio <= BENCH_TARGET_DISK_RATIO));
    }

    rp(r, "\n## How each figure was measured\n\n");
    char only[160] = "";
    if (g->only != ONLY_ALL) {
        size_t ol = (size_t)snprintf(only, sizeof only, " --only ");
        for (size_t i = 0, k = 0; i < sizeof only_names / sizeof only_names[0] && ol < sizeof only; i++)
            if (g->only & only_names[i].bit)
                ol += (size_t)snprintf(only + ol, sizeof only - ol, "%s%s", k++ ? "," : "", only_names[i].name);
    }
    char size_opt[48] = "";
    if (g->quick || g->full)
        snprintf(size_opt, sizeof size_opt, " --%s", g->quick ? "quick" : "full");
    else if (g->events != BENCH_EVENTS_DEFAULT)
        snprintf(size_opt, sizeof size_opt, " --events %zu", g->events);
    rp(r, "The whole run: `techledger bench%s%s` (%s bulk events, %s one-per-request events).\n\n", size_opt, only,
       num((double)g->events), num((double)g->single));
    if (c->ceiling_ran)
        rp(r, "**1. Verify ceiling.** `tl_event_verify` (libsodium `crypto_sign_verify_detached` over "
              "\"techledger/event/v1\" || 0x00 || body) on %u threads, cycling over the bodies, keys and "
              "signatures of the first %s generated events (%.0f bytes per body), and on 1 thread; each run %.1f s, "
              "the best of %d runs: %s and %s verifications/s.\n\n",
           c->ceiling_threads, num((double)c->ceiling_sample), c->ceiling_body_mean, g->ceiling_s, BENCH_CEILING_RUNS,
           num(c->ceiling_n), num(c->ceiling_1));
    if (c->bulk.ran) {
        rp(r, "**2. Ingest.** Server: `%s` (a child process; every reply comes after the group commit's synced write). "
              "Before timing, the participants and %zu base contracts are posted.\n\n",
           c->serve_cmd, g->base_contracts);
        const ingest_figure *fs[2] = {&c->bulk, &c->single};
        const char *names[2] = {"(a) bulk", "(b) one event per request"};
        for (int k = 0; k < 2; k++) {
            const ingest_figure *f = fs[k];
            if (!f->ran)
                continue;
            rp(r, "- %s: %s `POST /v1/events` (Content-Type: application/msgpack) from %u keep-alive connections: "
                  "%s events created in %.2f s = **%s events/s**; request latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, "
                  "max %.2f ms. Server CPU %.1f s (%.2f cores, %.1f us per event); client CPU %.1f s. Group commits: %s "
                  "(%.1f events each), mean synced write %.2f ms (over 3.2 ms: %s, over 6.4 ms: %s).\n",
               names[k], num((double)f->requests), k == 0 ? g->bulk_clients : g->single_clients, num((double)f->created),
               f->seconds, num(f->events_per_s), f->latency_us.p50 / 1000, f->latency_us.p90 / 1000,
               f->latency_us.p99 / 1000, f->latency_us.max / 1000, f->server_cpu_s,
               f->seconds > 0 ? f->server_cpu_s / f->seconds : 0,
               f->created ? f->server_cpu_s * 1e6 / (double)f->created : 0, f->client_cpu_s, num(f->commits),
               f->events_per_commit, f->fsync_mean_ms, num(f->fsync_over_3ms), num(f->fsync_over_6ms));
            if (k == 1)
                rp(r, "  Before it, the bench waited %.1f s for the server's flushes and compactions to finish%s (`ingest_settle`: "
                      "the bulk run's backlog is not charged to this run; the flushes and compactions of its own "
                      "writes are).\n",
                   f->settle_s, f->settled ? "" : ", and started anyway: they had not finished");
            if (f->stage_ms[0] + f->stage_ms[1] + f->stage_ms[2] > 0) {
                double server_ms = f->stage_ms[0] + f->stage_ms[1] + f->stage_ms[2];
                rp(r, "  Where a request's time went (the server's `techledger_ingest_stage_seconds_total`, mean per "
                      "request): prepare %.2f ms (decode, schema, signature; for a batch, also waiting for a worker), durable %.2f ms (queued to the sequencer "
                      "until its group commit's synced write), reply %.2f ms (waiting for the event loop to send it); "
                      "the other %.2f ms of the client's mean latency (%.2f ms) the request spent before the server "
                      "read it (waiting for an event loop busy with other requests) and on the wire.\n",
                   f->stage_ms[0], f->stage_ms[1], f->stage_ms[2],
                   f->latency_us.mean / 1000 > server_ms ? f->latency_us.mean / 1000 - server_ms : 0,
                   f->latency_us.mean / 1000);
            }
            if (f->sequencer_cpu_s > 0)
                rp(r, "  The sequencer thread used %.1f CPU-s of it (%.1f us per event, %.0f%% of the wall time).\n",
                   f->sequencer_cpu_s, f->created ? f->sequencer_cpu_s * 1e6 / (double)f->created : 0,
                   f->seconds > 0 ? f->sequencer_cpu_s / f->seconds * 100 : 0);
            rp(r, "  Rate over each tenth of the events, first to last (events/s):");
            for (int t = 0; t < 10; t++)
                rp(r, "%s %s", t ? "," : "", num(f->tenth_per_s[t]));
            rp(r, ". Server VmRSS at the end of each tenth (MiB):");
            for (int t = 0; t < 10; t++)
                rp(r, "%s %.0f", t ? "," : "", (double)f->tenth_rss[t] / 1048576.0);
            rp(r, ".\n");
        }
        rp(r, "\n");
    }
    if (c->pg.ran) {
        rp(r, "**2. PostgreSQL.** %s in a temporary cluster (initdb, run as an unprivileged user, 127.0.0.1 only): %s. "
              "Table `records(seq bigserial primary key, id bytea unique, stream text, body bytea)`; the same envelopes "
              "(body = the whole signed envelope, id = its event id) staged in unlogged tables first (not timed).\n",
           c->pg.version, c->pg.settings);
        rp(r, "- bulk: `%s` (script: BEGIN; take the next batch number; INSERT ... SELECT %zu staged rows; COMMIT): %s "
              "rows in %s transactions, **%s rows/s**; transaction latency p50 %.2f ms, p99 %.2f ms.\n",
           c->pg.bulk_cmd, g->batch, num((double)c->pg.bulk_rows), num((double)(c->pg.bulk_rows / g->batch)),
           num(c->pg.bulk_rows_per_s), c->pg.bulk_latency_us.p50 / 1000, c->pg.bulk_latency_us.p99 / 1000);
        rp(r, "- one row per transaction: `%s` (script: INSERT INTO records (id, stream, body) SELECT ... FROM staging "
              "WHERE n = (SELECT nextval(...))): %s rows, **%s rows/s**; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms.\n\n",
           c->pg.single_cmd, num((double)c->pg.single_rows), num(c->pg.single_tps), c->pg.single_latency_us.p50 / 1000,
           c->pg.single_latency_us.p90 / 1000, c->pg.single_latency_us.p99 / 1000);
    } else if (want(c, ONLY_POSTGRES)) {
        rp(r, "**2. PostgreSQL.** Skipped: %s.\n\n", c->pg.skipped[0] ? c->pg.skipped : "it failed (see stderr)");
    }
    if (c->rebuild_ran)
        rp(r, "**3. Rebuild.** `%s`, run twice; the second run is timed (the first creates the views): %.2f s wall, "
              "%.2f CPU-seconds (user + system of the process) for %s records. The command said: \"%s\". Baseline: one "
              "thread scanning the whole log in-process (`tl_ledger_scan` + `tl_record_decode`): %s records/s.\n\n",
           c->rebuild_cmd, c->rebuild_wall_s, c->rebuild_cpu_s, num((double)c->size), c->rebuild_out,
           num(c->scan_per_s));
    if (c->audit_ran)
        rp(r, "**4. Audit.** `%s` (not timed), then `%s`: %.2f s wall (%.2f CPU-seconds) for %s records; verify said "
              "\"%s\".\n\n",
           c->export_cmd, c->audit_cmd, c->audit_wall_s, c->audit_cpu_s, num((double)c->audit_records), c->audit_out);
    if (c->views[0].tl.ran) {
        rp(r, "**5. Views.** Server: `%s`, views current with the log. Each view's JSON was fetched once and written to "
              "a file that nginx (%s, `worker_processes 2`, keep-alive, access log off) serves from a temporary "
              "directory; both are loaded by the same client with %u connections for %.1f s.\n",
           c->view_serve_cmd, c->nginx_version[0] ? c->nginx_version : "not run", g->view_conns, g->view_s);
        for (size_t i = 0; i < sizeof c->views / sizeof c->views[0]; i++) {
            const http_figure *t = &c->views[i].tl, *n = &c->views[i].ngx;
            if (!t->ran)
                continue;
            rp(r, "- `GET %s` (%zu bytes): techledger %s requests, %s req/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms "
                  "(server CPU %.1f s, client CPU %.1f s)",
               c->views[i].path, t->body_bytes, num((double)t->requests), num(t->req_per_s), t->latency_us.p50 / 1000,
               t->latency_us.p90 / 1000, t->latency_us.p99 / 1000, t->server_cpu_s, t->client_cpu_s);
            if (n->ran)
                rp(r, "; nginx %s requests, %s req/s, p50 %.2f ms, p99 %.2f ms (server CPU %.1f s, client CPU %.1f s)",
                   num((double)n->requests), num(n->req_per_s), n->latency_us.p50 / 1000, n->latency_us.p99 / 1000,
                   n->server_cpu_s, n->client_cpu_s);
            rp(r, ".\n");
        }
        if (c->views[0].wrk_tl.ran)
            rp(r, "- cross-check with wrk (Debian's): `%s` against each server and view.\n", c->wrk_cmd);
        rp(r, "\n");
    }
    if (c->proofs_ran || c->http_incl.ran) {
        rp(r, "**6. Proofs.** In-process: the ledger opened read-only, %s calls of each kind after as many warm-up "
              "calls, random seq (inclusion) or random old size (consistency) against the full size %s. Over HTTP: "
              "the views server above, one connection, %s requests of each kind with random seq / sizes",
           num((double)g->proof_samples), num((double)c->size), num((double)g->http_samples));
        if (c->http_incl.ran)
            rp(r, " (consistency p99 %.0f us; record p99 %.0f us)", c->http_cons.latency_us.p99,
               c->http_read.latency_us.p99);
        rp(r, ".\n\n");
    }
    if (want(c, ONLY_RESOURCES)) {
        rp(r, "**7. Memory and disk.** VmHWM of the ingest server (`%s`) read from /proc after both ingest runs: %s "
              "(the views server afterwards: %s). Disk: st_blocks of every file under DIR/db after a clean stop: %s "
              "bytes (table files %s, write-ahead log %s, other %s; apparent size %s) for %s records whose raw bytes "
              "(the sum of record sizes) are %s.\n\n",
           c->serve_cmd, mib(c->rss_hwm), c->rss_hwm_views ? mib(c->rss_hwm_views) : "not run",
           num((double)c->du.allocated), num((double)c->du.sst), num((double)c->du.wal), num((double)c->du.other),
           num((double)c->du.apparent), num((double)c->size), num((double)c->raw_bytes));
    }
    if (c->nphases > 0) {
        rp(r, "**Other load.** CPU the machine spent busy (/proc/stat, steal included) during each phase, and how much "
              "of it was not the bench or the servers it started (other users' work on this shared machine). A phase "
              "where others used much of the %u CPUs measured less than the machine can do.\n\n",
           g->cpus);
        rp(r, "| phase | wall s | machine busy CPU-s | bench and its servers | others | others, share of the machine |\n");
        rp(r, "|---|---|---|---|---|---|\n");
        for (size_t i = 0; i < c->nphases; i++) {
            const phase_usage *pu = &c->phases[i];
            double wall = pu->end.wall - pu->start.wall, busy = pu->end.busy - pu->start.busy;
            double own = pu->end.own - pu->start.own, others = busy > own ? busy - own : 0;
            rp(r, "| %s | %.1f | %.1f | %.1f | %.1f | %.0f%% |\n", pu->name, wall, busy, own, others,
               wall > 0 ? others / (wall * g->cpus) * 100 : 0);
        }
        rp(r, "\n");
    }
    if (c->failed)
        rp(r, "**Some measurements failed**: see the bench's stderr.\n");
}

/* ---------- the run ---------- */

static int parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_only(const char *list, unsigned *out)
{
    *out = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        bool found = false;
        for (size_t i = 0; i < sizeof only_names / sizeof only_names[0]; i++) {
            if (strcmp(t, only_names[i].name) == 0) {
                *out |= only_names[i].bit;
                found = true;
            }
        }
        if (!found) {
            fprintf(stderr, "techledger bench: bench.only at --only: no measurement named '%s' (verify, ingest, "
                            "postgres, rebuild, audit, views, proofs, resources)\n",
                    t);
            return -1;
        }
    }
    return *out ? 0 : -1;
}

static void sizes(bench_cfg *g, bool events_given)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    g->cpus = cpus > 0 ? (unsigned)cpus : 1;
    g->bulk_clients = BENCH_BULK_CLIENTS;
    g->single_clients = BENCH_SINGLE_CLIENTS;
    g->view_conns = BENCH_VIEW_CONNECTIONS;
    if (g->quick) {
        if (!events_given)
            g->events = 2000;
        g->batch = 100;
        g->ceiling_s = 0.1;
        g->view_s = 0.3;
        g->proof_samples = 200;
        g->http_samples = 100;
    } else {
        if (!events_given)
            g->events = g->full ? BENCH_EVENTS_FULL : BENCH_EVENTS_DEFAULT;
        g->batch = BENCH_BATCH;
        g->ceiling_s = 2.0;
        g->view_s = 5.0;
        g->proof_samples = 20000;
        g->http_samples = 5000;
    }
    if (g->events < g->batch)
        g->batch = g->events;
    g->events -= g->events % g->batch; /* whole batches */
    size_t single = g->events / 10;
    if (single > BENCH_SINGLE_MAX)
        single = BENCH_SINGLE_MAX;
    single -= single % g->single_clients;
    if (single < g->single_clients)
        single = g->single_clients;
    g->single = single;
    size_t pg = g->events < BENCH_PG_BULK_MAX ? g->events : BENCH_PG_BULK_MAX;
    g->pg_bulk = pg - pg % (g->batch * g->bulk_clients);
    if (g->pg_bulk == 0)
        g->pg_bulk = g->batch * g->bulk_clients <= g->events ? g->batch * g->bulk_clients : 0;
    g->base_contracts = g->events / 100 < 10 ? 10 : g->events / 100 > 1000 ? 1000 : g->events / 100;
}

int tl_cmd_bench(int argc, char **argv)
{
    if (tl_cmd_wants_help(argc, argv)) {
        fputs(bench_help, stdout);
        return TL_EXIT_OK;
    }
    static const struct option opts[] = {{"quick", no_argument, NULL, 'q'},      {"events", required_argument, NULL, 'n'},
                                         {"full", no_argument, NULL, 'F'},       {"only", required_argument, NULL, 'o'},
                                         {"out", required_argument, NULL, 'O'},  {"keep", no_argument, NULL, 'k'},
                                         {"verbose", no_argument, NULL, 'v'},    {0, 0, 0, 0}};
    bench_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return TL_EXIT_IO;
    bench_cfg *g = &c->cfg;
    g->only = ONLY_ALL;
    bool events_given = false;
    int opt, code = TL_EXIT_OK;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'q': g->quick = true; break;
        case 'F': g->full = true; break;
        case 'k': g->keep = true; break;
        case 'v': g->verbose = true; break;
        case 'O': g->out_dir = optarg; break;
        case 'n':
            if (parse_size(optarg, 1000, BENCH_EVENTS_MAX, &g->events) != 0) {
                fprintf(stderr, "techledger bench: bench.events at --events: a count from 1000 to %u, not '%s'\n",
                        BENCH_EVENTS_MAX, optarg);
                free(c);
                return TL_EXIT_USAGE;
            }
            events_given = true;
            break;
        case 'o':
            if (parse_only(optarg, &g->only) != 0) {
                free(c);
                return TL_EXIT_USAGE;
            }
            break;
        default:
            fputs(bench_help, stderr);
            free(c);
            return TL_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "techledger bench: unexpected argument '%s'\n\n%s", argv[optind], bench_help);
        free(c);
        return TL_EXIT_USAGE;
    }
    if ((g->quick && g->full) || (events_given && g->full)) {
        fprintf(stderr, "techledger bench: bench.size: --quick, --full and --events choose the size: give one\n");
        free(c);
        return TL_EXIT_USAGE;
    }
    sizes(g, events_given);
    if (g->out_dir != NULL) {
        struct stat st;
        if (stat(g->out_dir, &st) != 0 && mkdir(g->out_dir, 0755) != 0) {
            fprintf(stderr, "techledger bench: cannot create %s: %s\n", g->out_dir, strerror(errno));
            free(c);
            return TL_EXIT_IO;
        }
    }
    ssize_t sl = readlink("/proc/self/exe", c->self, sizeof c->self - 1);
    if (sl <= 0) {
        fprintf(stderr, "techledger bench: cannot find this program's path: %s\n", strerror(errno));
        free(c);
        return TL_EXIT_IO;
    }
    c->self[sl] = '\0';
    if (bench_tmpdir(c->work, sizeof c->work, "run") != 0) {
        fprintf(stderr, "techledger bench: cannot create a temporary directory: %s\n", strerror(errno));
        free(c);
        return TL_EXIT_IO;
    }
    snprintf(c->ledger, sizeof c->ledger, "%s/ledger", c->work);
    snprintf(c->bundle, sizeof c->bundle, "%s/bundle", c->work);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    c->started = bench_now();
    load_average(c->load_before, sizeof c->load_before);
    bench_progress("load average %s; working in %s (%s)", c->load_before, c->work, bench_fs_type(c->work));
#if !defined(__OPTIMIZE__) || defined(__SANITIZE_ADDRESS__)
    if (!g->quick)
        bench_progress("WARNING: this binary is not an optimized build without sanitizers: the figures mean little");
#endif

    bool need_ledger = want(c, ONLY_ALL & ~ONLY_VERIFY);
    bool need_ceiling = want(c, ONLY_VERIFY | ONLY_INGEST | ONLY_AUDIT);
    size_t timed = need_ledger ? g->events + g->single : (g->events < BENCH_CEILING_SAMPLE ? g->events : BENCH_CEILING_SAMPLE);
    tl_error err;
    char msg[512];
    bench_progress("generating %s signed events (not timed)", num((double)timed));
    double t0 = bench_now();
    if (bench_events_generate(&c->ev, timed, g->batch, g->base_contracts, g->cpus, &err) != 0) {
        fprintf(stderr, "techledger bench: cannot generate events: %s\n", tl_error_format(&err, msg, sizeof msg));
        code = TL_EXIT_FAILURE;
        goto done;
    }
    bench_progress("generated %s events, %s bytes, in %.1f s", num((double)c->ev.n), num((double)c->ev.bytes),
                   bench_now() - t0);
#define STEP(label, cond, call)                                                                                       \
    do {                                                                                                              \
        if (!bench_stop && (cond)) {                                                                                  \
            phase_usage *pu = c->nphases < BENCH_PHASES_MAX ? &c->phases[c->nphases++] : NULL;                        \
            if (pu != NULL) {                                                                                         \
                pu->name = (label);                                                                                   \
                bench_usage_now(&pu->start);                                                                          \
            }                                                                                                         \
            if ((call) != 0)                                                                                          \
                c->failed = true;                                                                                     \
            if (pu != NULL)                                                                                           \
                bench_usage_now(&pu->end);                                                                            \
        }                                                                                                             \
    } while (0)
    STEP("verify ceiling", need_ceiling, phase_ceiling(c));
    bool ingest_failed = false;
    STEP("ingest", need_ledger, (ingest_failed = phase_ingest(c) != 0) ? -1 : 0);
    if (need_ledger && !bench_stop) {
        if (ingest_failed) {
            /* nothing later can run without the ledger */
        } else {
            if (want(c, ONLY_POSTGRES)) {
                bench_pg_options po = {.events = &c->ev,
                                       .single_from = g->events,
                                       .single_n = g->single,
                                       .single_clients = g->single_clients,
                                       .bulk_from = 0,
                                       .bulk_n = g->pg_bulk,
                                       .bulk_batch = g->batch,
                                       .bulk_clients = g->bulk_clients,
                                       .keep = g->keep};
                STEP("postgres", true, bench_pg_run(&c->pg, &po));
            }
            if (want(c, ONLY_RESOURCES)) {
                char db[BENCH_PATH_BYTES + 8];
                snprintf(db, sizeof db, "%s/db", c->ledger);
                c->du_ran = bench_disk_usage(&c->du, db) == 0;
            }
            STEP("log scan, proofs in-process", true, phase_scan_proofs(c));
            STEP("rebuild", want(c, ONLY_REBUILD), phase_rebuild(c));
            STEP("audit", want(c, ONLY_AUDIT), phase_audit(c));
            STEP("views, proofs over HTTP", want(c, ONLY_VIEWS | ONLY_PROOFS), phase_views(c));
        }
    }
#undef STEP
    if (bench_stop) {
        fprintf(stderr, "techledger bench: interrupted\n");
        c->failed = true;
    }
    load_average(c->load_after, sizeof c->load_after);
    report r;
    tl_buf_init(&r.b);
    report_write(c, &r);
    fwrite(r.b.data, 1, r.b.len, stdout);
    fflush(stdout);
    if (g->out_dir != NULL) {
        char path[BENCH_PATH_BYTES], date[16];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        /* A default run is the day's report; other sizes and subsets get names of their own so
         * that they never replace it. */
        char variant[160] = "";
        size_t vl = 0;
        if (g->quick || g->full)
            vl += (size_t)snprintf(variant + vl, sizeof variant - vl, "-%s", g->quick ? "quick" : "full");
        else if (events_given && g->events != BENCH_EVENTS_DEFAULT)
            vl += (size_t)snprintf(variant + vl, sizeof variant - vl, "-%zu", g->events);
        if (g->only != ONLY_ALL) {
            vl += (size_t)snprintf(variant + vl, sizeof variant - vl, "-only");
            for (size_t i = 0; i < sizeof only_names / sizeof only_names[0] && vl < sizeof variant; i++)
                if (g->only & only_names[i].bit)
                    vl += (size_t)snprintf(variant + vl, sizeof variant - vl, "-%s", only_names[i].name);
        }
        snprintf(path, sizeof path, "%s/%s%s.md", g->out_dir, date, variant);
        if (tl_file_write_atomic(path, r.b.data, r.b.len, 0644, &err) != 0) {
            fprintf(stderr, "techledger bench: cannot write %s: %s\n", path, tl_error_format(&err, msg, sizeof msg));
            code = TL_EXIT_IO;
        } else {
            bench_progress("report written to %s", path);
        }
    }
    tl_buf_free(&r.b);
    if (c->failed && code == TL_EXIT_OK)
        code = TL_EXIT_FAILURE;
done:
    bench_events_free(&c->ev);
    if (g->keep)
        bench_progress("kept %s", c->work);
    else
        bench_rmrf(c->work);
    free(c);
    return code;
}
