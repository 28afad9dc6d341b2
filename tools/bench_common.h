/*
 * `techledger bench`: the pieces the benchmark driver (cmd_bench.c) is built from.
 *
 *   bench_util.c  clocks, progress lines, temporary directories, disk usage, percentiles
 *   bench_proc.c  child processes: the real `techledger serve`, nginx, PostgreSQL, pgbench,
 *                 each started with a parent-death signal so none outlives the bench
 *   bench_load.c  an HTTP/1.1 load generator: keep-alive connections on epoll, one request in
 *                 flight per connection, every latency kept (exact percentiles)
 *   bench_gen.c   the signed events, generated before anything is timed
 *   bench_pg.c    PostgreSQL in a temporary directory, loaded with pgbench
 *
 * Nothing here is a library API: these are the bench's internals, shared between its files.
 * Every server the bench starts listens on 127.0.0.1 only.
 */
#ifndef TL_BENCH_COMMON_H
#define TL_BENCH_COMMON_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "tl_crypto.h"
#include "tl_mp.h"

/* Names come in three sizes so that composing one from another can never truncate: a base
 * directory (a temporary directory, PostgreSQL's bin), a directory inside one, and a file. */
#define BENCH_DIR_BYTES 1024u
#define BENCH_SUBDIR_BYTES 2048u
#define BENCH_PATH_BYTES 4096u
#define BENCH_CMD_BYTES 2048u

/* ---------- bench_util.c ---------- */

/* Monotonic seconds. */
double bench_now(void);
/* One progress line on stderr, prefixed "bench: " (silenced by bench_quiet). */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool bench_quiet;
/* Set by SIGINT and SIGTERM (cmd_bench.c): long loops stop early and the bench cleans up. */
extern volatile sig_atomic_t bench_stop;

/* A fresh directory under $TMPDIR (or /tmp) into out; 0 or -1 (errno set). */
int bench_tmpdir(char *out, size_t cap, const char *tag);
/* rm -rf; 0 or -1. */
int bench_rmrf(const char *path);
/* Bytes allocated on disk (st_blocks * 512) and apparent bytes (st_size) under path,
 * split by kind: RocksDB table files (*.sst), write-ahead logs (*.log), everything else. */
typedef struct bench_du {
    uint64_t allocated;
    uint64_t apparent;
    uint64_t sst;
    uint64_t wal;
    uint64_t other;
    uint64_t files;
} bench_du;
int bench_disk_usage(bench_du *out, const char *path);
/* The file system type name of path ("ext4", "tmpfs", ...). */
const char *bench_fs_type(const char *path);
/* True when every directory above path lets others through (o+x): a server that runs as an
 * unprivileged user (PostgreSQL, nginx's workers) can reach it. The first one that does not
 * goes to blocker. */
bool bench_path_traversable(const char *path, char *blocker, size_t cap);
/* A TCP port on 127.0.0.1 that was free a moment ago. 0 on failure. */
uint16_t bench_free_port(void);

/* Exact percentiles of n samples (sorted in place). q in [0, 1]. */
typedef struct bench_dist {
    uint64_t n;
    double p50, p90, p99, max, mean;
} bench_dist;
void bench_dist_of(bench_dist *out, double *samples, size_t n);

/* A growable array of doubles. */
typedef struct bench_samples {
    double *v;
    size_t n;
    size_t cap;
} bench_samples;
int bench_samples_add(bench_samples *s, double x);
void bench_samples_free(bench_samples *s);

/* CPU seconds (user + system) in a rusage. */
double bench_cpu_seconds(const struct rusage *ru);

/* ---------- bench_proc.c ---------- */

typedef struct bench_proc {
    pid_t pid;
    int out_fd;                 /* the child's stdout when captured, else -1 */
    char log[BENCH_PATH_BYTES]; /* where its stderr (and stdout when not captured) goes */
    char name[64];
} bench_proc;

typedef struct bench_spawn_options {
    const char *user;      /* run as this user when we are root (NULL = as we are) */
    const char *log_path;  /* stderr, and stdout unless captured (NULL = /dev/null) */
    bool capture_stdout;   /* a pipe readable with bench_proc_read_line */
    bool stdin_pipe;       /* *stdin_fd receives the write end of a pipe to the child's stdin */
    int *stdin_fd;
    int death_signal;      /* sent to the child if the bench dies first (0 = SIGTERM) */
    const char *cwd;       /* NULL = ours */
} bench_spawn_options;

/* Starts argv[0] (a path) with argv. 0 or -1 (message on stderr). */
int bench_spawn(bench_proc *p, const char *name, char *const argv[], const bench_spawn_options *opt);
/* Reads the child's stdout until a line starting with prefix; the line (without newline) goes
 * to line. 0, or -1 on timeout, EOF or error. */
int bench_proc_read_line(bench_proc *p, const char *prefix, char *line, size_t cap, double timeout_s);
/* Peak resident set (VmHWM) and current (VmRSS) of a live process, in bytes; 0 when unknown. */
uint64_t bench_proc_hwm_bytes(pid_t pid);
uint64_t bench_proc_rss_bytes(pid_t pid);
/* CPU seconds (user + system, all threads) a live process and its direct children (nginx's
 * workers) have used so far; -1 when unknown. */
double bench_proc_cpu_seconds(pid_t pid);
/* Sends sig (0 = no signal: just wait) and waits at most timeout_s, then SIGKILL. Fills ru (may
 * be NULL) and *status (may be NULL: wait status). 0, or -1 when it had to be killed. */
int bench_proc_stop(bench_proc *p, int sig, double timeout_s, struct rusage *ru, int *status);
/* Runs argv to completion (at most timeout_s), capturing stdout into out (may be NULL).
 * Fills the wall time, the child's rusage and its exit code (-1 when it did not exit). */
typedef struct bench_run_result {
    double wall_s;
    struct rusage ru;
    int exit_code;
} bench_run_result;
int bench_run(bench_run_result *res, const char *name, char *const argv[], const bench_spawn_options *opt,
              tl_buf *out, double timeout_s);
/* The last lines of a log file on stderr, to explain a failure. */
void bench_show_log(const char *path, size_t max_bytes);
/* The command line as one shell-quoted string. */
void bench_argv_string(char *out, size_t cap, char *const argv[]);

/* Whether anything else used the machine during a phase: the CPU the whole machine spent
 * busy (/proc/stat, steal included) minus what the bench and every process it started spent. */
typedef struct bench_usage {
    double wall;
    double busy; /* machine CPU-seconds not idle */
    double own;  /* the bench and its children */
} bench_usage;
void bench_usage_now(bench_usage *out);

/* ---------- bench_load.c ---------- */

typedef struct bench_request {
    const char *method;       /* "GET", "POST" */
    const char *path;         /* origin-form, "/v1/events" */
    const char *content_type; /* NULL: none */
    const uint8_t *body;      /* may be NULL */
    size_t body_len;
    uint64_t tag;             /* the caller's, handed back to done */
} bench_request;

/* Gives the next request; false when there are no more. Called from the load threads (with a
 * lock held: it needs no locking of its own). */
typedef bool (*bench_next_fn)(void *ctx, bench_request *out);
/* Sees each reply (with the lock held). */
typedef void (*bench_done_fn)(void *ctx, const bench_request *req, int status, const uint8_t *body, size_t len);

typedef struct bench_load_options {
    uint16_t port;        /* on 127.0.0.1 */
    unsigned connections; /* kept alive; one request in flight on each */
    unsigned threads;     /* epoll threads the connections are spread over (0 = 1) */
    double duration_s;    /* stop issuing after this long (0 = until next says no more) */
    double timeout_s;     /* a reply slower than this is a failure (0 = 30 s) */
    bench_next_fn next;
    bench_done_fn done;   /* may be NULL */
    void *ctx;
} bench_load_options;

typedef struct bench_load_result {
    uint64_t requests; /* answered with an HTTP status */
    uint64_t ok;       /* 2xx */
    uint64_t failures; /* connection errors, timeouts, unreadable replies */
    uint64_t bytes_in;
    uint64_t statuses[6]; /* by class: [1] 1xx .. [5] 5xx */
    double seconds;    /* from the first request to the last reply */
    bench_dist latency_us;
    double client_cpu_s;
    char first_failure[160];
} bench_load_result;

int bench_load_run(bench_load_result *out, const bench_load_options *opt);

/* ---------- bench_gen.c ---------- */

#define BENCH_REGISTRIES 8u   /* registry offices, each with its own signing key */
#define BENCH_PARTIES 240u    /* sellers and buyers (no keys) */

/* The signed events of a run, generated up front. Event i is envelopes + off[i], len[i] bytes;
 * events are grouped in batches of batch_events, each batch's envelopes contiguous and
 * preceded by room for the batch's array header, so batch b is one POST body. */
typedef struct bench_events {
    tl_keypair admin;
    tl_keypair registry[BENCH_REGISTRIES];
    /* setup: participants and the base contracts the timed events refer to (one batch each
     * of at most TL_BATCH_EVENTS_MAX, already framed) */
    tl_buf *setup;
    size_t setup_batches;
    size_t setup_events;
    /* timed events */
    size_t n;
    size_t batch_events;
    size_t batches;
    uint8_t **batch_buf;     /* batch b: header room + envelopes */
    const uint8_t **ev;      /* event i's envelope */
    uint32_t *len;           /* its length */
    size_t *batch_body_off;  /* where batch b's framed body starts in batch_buf[b] */
    size_t *batch_body_len;
    uint64_t bytes;          /* envelope bytes of the timed events */
} bench_events;

/* Generates setup events and n timed events (contract registrations, amendments and payments
 * on base contracts) signed by the registries, on threads threads. */
int bench_events_generate(bench_events *out, size_t n, size_t batch_events, size_t base_contracts,
                          unsigned threads, tl_error *err);
void bench_events_free(bench_events *e);
/* The id (16 bytes) and stream of event i, for loading the same envelopes into PostgreSQL. */
int bench_event_parts(const bench_events *e, size_t i, uint8_t id[16], char *stream, size_t cap);

/* ---------- bench_pg.c ---------- */

typedef struct bench_pg_result {
    bool ran;
    char skipped[256];     /* why it did not run */
    char version[64];
    /* one row per transaction, many clients */
    double single_tps;
    bench_dist single_latency_us;
    uint64_t single_rows;
    char single_cmd[BENCH_CMD_BYTES];
    /* batch_events rows per transaction */
    double bulk_rows_per_s;
    bench_dist bulk_latency_us;
    uint64_t bulk_rows;
    char bulk_cmd[BENCH_CMD_BYTES];
    char settings[256];
} bench_pg_result;

typedef struct bench_pg_options {
    const bench_events *events;
    size_t single_from, single_n; /* events for the one-row transactions */
    unsigned single_clients;
    size_t bulk_from, bulk_n;     /* events for the batch transactions */
    size_t bulk_batch;
    unsigned bulk_clients;
    bool keep;                    /* keep the temporary directory */
} bench_pg_options;

/* Starts PostgreSQL in a temporary directory, loads the envelopes into a staging table (not
 * timed) and times pgbench inserting them into a records table. Returns 0 when it ran or was
 * skipped (res->skipped says why: no PostgreSQL installed), -1 on failure. */
int bench_pg_run(bench_pg_result *res, const bench_pg_options *opt);

#endif
