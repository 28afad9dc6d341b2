/*
 * `techledger bench`: the PostgreSQL baseline.
 *
 * Debian's PostgreSQL runs from its own binaries in a fresh temporary cluster (initdb), as the
 * unprivileged "postgres" user when the bench runs as root, listening on 127.0.0.1 at a free
 * port, with durability left on: fsync=on, synchronous_commit=on (its defaults, set
 * explicitly). The table is the plain equivalent of the ledger's records:
 *
 *     records(seq bigserial primary key, id bytea unique, stream text, body bytea)
 *
 * and the rows are the same envelopes the ledger ingests (the bench's generated events): id
 * is the event id, stream its stream, body the whole signed envelope. They are first copied
 * into unlogged staging tables (not timed), then pgbench, Debian's own client, inserts them:
 * each transaction takes its rows from staging by a sequence number, so every row is inserted
 * once. One script inserts one row per transaction from many clients (the shape of one event
 * per request); the other inserts a batch per transaction (the shape of bulk submissions).
 * Latencies come from pgbench's per-transaction log (-l).
 */
#include <errno.h>
#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "tl_event.h"

#define PG_START_TIMEOUT_S 60.0
#define PG_RUN_TIMEOUT_S 3600.0
#define PG_USER "postgres"
#define PG_DB_USER "bench"
#define PG_SHARED_BUFFERS "256MB"

typedef struct pg_ctx {
    char bindir[BENCH_DIR_BYTES];
    char dir[BENCH_DIR_BYTES];
    char port[8];
    const char *user; /* NULL when not root */
    bench_proc server;
} pg_ctx;

static void bin(char *out, size_t cap, const pg_ctx *c, const char *name)
{
    snprintf(out, cap, "%s/%s", c->bindir, name);
}

/* The newest /usr/lib/postgresql/<version>/bin with a postgres binary. */
static int find_bindir(char *out, size_t cap)
{
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        globfree(&g);
        return -1;
    }
    const char *best = NULL;
    long best_v = -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
        if (v > best_v) {
            best_v = v;
            best = g.gl_pathv[i];
        }
    }
    snprintf(out, cap, "%s", best);
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    globfree(&g);
    return 0;
}

static int psql(pg_ctx *c, const char *sql, tl_buf *out)
{
    char exe[BENCH_PATH_BYTES], log[BENCH_PATH_BYTES];
    bin(exe, sizeof exe, c, "psql");
    snprintf(log, sizeof log, "%s/psql.log", c->dir);
    char *argv[] = {exe, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", c->port, "-U",
                    PG_DB_USER, "-d", "postgres", "-c", (char *)sql, NULL};
    bench_spawn_options so = {.log_path = log};
    bench_run_result rr;
    if (bench_run(&rr, "psql", argv, &so, out, PG_RUN_TIMEOUT_S) != 0 || rr.exit_code != 0) {
        fprintf(stderr, "bench: psql failed: %s\n", sql);
        bench_show_log(log, 2000);
        return -1;
    }
    return 0;
}

/* COPY the envelopes [from, from+n) into table, numbered first.. */
static int load_staging(pg_ctx *c, const bench_events *e, const char *table, size_t from, size_t n, size_t first)
{
    char exe[BENCH_PATH_BYTES], log[BENCH_PATH_BYTES], sql[256];
    bin(exe, sizeof exe, c, "psql");
    snprintf(log, sizeof log, "%s/copy.log", c->dir);
    snprintf(sql, sizeof sql, "COPY %s (n, id, stream, body) FROM STDIN", table);
    char *argv[] = {exe, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", c->port, "-U", PG_DB_USER,
                    "-d", "postgres", "-c", sql, NULL};
    int in_fd = -1;
    bench_spawn_options so = {.log_path = log, .stdin_pipe = true, .stdin_fd = &in_fd};
    bench_proc p;
    if (bench_spawn(&p, "psql COPY", argv, &so) != 0)
        return -1;
    FILE *f = fdopen(in_fd, "w");
    int rc = f != NULL ? 0 : -1;
    char *hex = malloc(2u * TL_RECORD_BYTES_MAX + 1);
    if (hex == NULL)
        rc = -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint8_t id[16];
        char stream[TL_STREAM_BYTES_MAX + 1], idhex[33];
        if (bench_event_parts(e, from + i, id, stream, sizeof stream) != 0) {
            rc = -1;
            break;
        }
        tl_hex_encode(idhex, id, sizeof id);
        tl_hex_encode(hex, e->ev[from + i], e->len[from + i]);
        if (fprintf(f, "%zu\t\\\\x%s\t%s\t\\\\x%s\n", first + i, idhex, stream, hex) < 0)
            rc = -1;
    }
    free(hex);
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    else if (f == NULL)
        close(in_fd);
    int st = 0;
    if (bench_proc_stop(&p, 0, PG_RUN_TIMEOUT_S, NULL, &st) != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "bench: loading %s into PostgreSQL failed\n", table);
        bench_show_log(log, 2000);
    }
    return rc;
}

/* Per-transaction latencies from pgbench's logs prefix.* (the 3rd field, microseconds). */
static int read_pgbench_logs(const char *prefix, bench_dist *out)
{
    char pattern[BENCH_PATH_BYTES];
    snprintf(pattern, sizeof pattern, "%.*s.*", (int)(sizeof pattern - 8), prefix);
    glob_t g;
    bench_samples s = {0};
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            FILE *f = fopen(g.gl_pathv[i], "r");
            if (f == NULL)
                continue;
            long client, tx, script;
            double us;
            char line[256];
            while (fgets(line, sizeof line, f) != NULL)
                if (sscanf(line, "%ld %ld %lf %ld", &client, &tx, &us, &script) == 4)
                    bench_samples_add(&s, us);
            fclose(f);
        }
    }
    globfree(&g);
    bench_dist_of(out, s.v, s.n);
    bench_samples_free(&s);
    return out->n > 0 ? 0 : -1;
}

/* Runs one pgbench script; fills the transactions per second and the latency distribution. */
static int pgbench(pg_ctx *c, const char *tag, const char *script, unsigned clients, size_t per_client, double *tps,
                   bench_dist *lat, char *cmd, size_t cmd_cap)
{
    char exe[BENCH_PATH_BYTES], file[BENCH_PATH_BYTES], prefix[BENCH_SUBDIR_BYTES], log[BENCH_PATH_BYTES];
    char clients_s[16], tx_s[32], prefix_opt[BENCH_PATH_BYTES + 16];
    bin(exe, sizeof exe, c, "pgbench");
    snprintf(file, sizeof file, "%s/%s.sql", c->dir, tag);
    snprintf(prefix, sizeof prefix, "%s/%s-log", c->dir, tag);
    snprintf(prefix_opt, sizeof prefix_opt, "--log-prefix=%s", prefix);
    snprintf(log, sizeof log, "%s/pgbench-%s.log", c->dir, tag);
    snprintf(clients_s, sizeof clients_s, "%u", clients);
    snprintf(tx_s, sizeof tx_s, "%zu", per_client);
    FILE *f = fopen(file, "w");
    if (f == NULL || fputs(script, f) < 0 || fclose(f) != 0)
        return -1;
    char *argv[] = {exe, "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", c->port, "-U", PG_DB_USER, "-c",
                    clients_s, "-j", "2", "-t", tx_s, "-f", file, "-l", prefix_opt, "postgres", NULL};
    bench_argv_string(cmd, cmd_cap, argv);
    tl_buf out;
    tl_buf_init(&out);
    bench_spawn_options so = {.log_path = log};
    bench_run_result rr;
    int rc = bench_run(&rr, "pgbench", argv, &so, &out, PG_RUN_TIMEOUT_S);
    const char *t = out.data ? strstr((const char *)out.data, "tps = ") : NULL;
    if (rc != 0 || rr.exit_code != 0 || t == NULL) {
        fprintf(stderr, "bench: pgbench %s failed (exit %d)\n%s", tag, rr.exit_code, out.data ? (char *)out.data : "");
        bench_show_log(log, 2000);
        tl_buf_free(&out);
        return -1;
    }
    *tps = strtod(t + 6, NULL);
    tl_buf_free(&out);
    return read_pgbench_logs(prefix, lat);
}

static void pg_stop(pg_ctx *c)
{
    if (c->server.pid > 0)
        bench_proc_stop(&c->server, SIGINT, 60.0, NULL, NULL); /* fast shutdown */
}

int bench_pg_run(bench_pg_result *res, const bench_pg_options *opt)
{
    memset(res, 0, sizeof *res);
    pg_ctx c;
    memset(&c, 0, sizeof c);
    c.server.pid = -1;
    if (find_bindir(c.bindir, sizeof c.bindir) != 0) {
        snprintf(res->skipped, sizeof res->skipped,
                 "PostgreSQL is not installed (`make bench` installs it: scripts/deps.sh postgresql)");
        return 0;
    }
    char exe[BENCH_PATH_BYTES];
    bin(exe, sizeof exe, &c, "pgbench");
    if (access(exe, X_OK) != 0) {
        snprintf(res->skipped, sizeof res->skipped, "pgbench is not installed in %.200s", c.bindir);
        return 0;
    }
    if (geteuid() == 0) {
        c.user = getpwnam(PG_USER) ? PG_USER : "nobody";
    }
    if (bench_tmpdir(c.dir, sizeof c.dir, "pg") != 0) {
        fprintf(stderr, "bench: cannot create a temporary directory: %s\n", strerror(errno));
        return -1;
    }
    int rc = -1;
    char blocker[BENCH_DIR_BYTES];
    if (c.user != NULL && !bench_path_traversable(c.dir, blocker, sizeof blocker)) {
        snprintf(res->skipped, sizeof res->skipped,
                 "PostgreSQL runs as %s, which cannot enter %.120s (mode without o+x): set TMPDIR elsewhere", c.user,
                 blocker);
        rc = 0;
        goto out;
    }
    if (c.user != NULL) {
        struct passwd *pw = getpwnam(c.user);
        if (pw == NULL || chown(c.dir, pw->pw_uid, pw->pw_gid) != 0) {
            fprintf(stderr, "bench: cannot give %s to %s\n", c.dir, c.user);
            goto out;
        }
    }
    uint16_t port = bench_free_port();
    snprintf(c.port, sizeof c.port, "%u", (unsigned)port);
    char data[BENCH_SUBDIR_BYTES], log[BENCH_PATH_BYTES];
    snprintf(data, sizeof data, "%s/data", c.dir);

    /* the cluster */
    snprintf(log, sizeof log, "%s/initdb.log", c.dir);
    bin(exe, sizeof exe, &c, "initdb");
    char *init_argv[] = {exe, "-D", data, "-A", "trust", "-U", PG_DB_USER, "-E", "UTF8", NULL};
    bench_spawn_options so = {.user = c.user, .log_path = log, .cwd = c.dir};
    bench_run_result rr;
    bench_progress("postgres: initdb in %s (as %s)", c.dir, c.user ? c.user : "this user");
    if (bench_run(&rr, "initdb", init_argv, &so, NULL, PG_START_TIMEOUT_S) != 0 || rr.exit_code != 0) {
        fprintf(stderr, "bench: initdb failed\n");
        bench_show_log(log, 3000);
        goto out;
    }
    char version[64] = "";
    {
        bin(exe, sizeof exe, &c, "postgres");
        char *v_argv[] = {exe, "--version", NULL};
        tl_buf v;
        tl_buf_init(&v);
        if (bench_run(&rr, "postgres --version", v_argv, NULL, &v, 30) == 0 && v.data != NULL) {
            snprintf(version, sizeof version, "%s", (char *)v.data);
            version[strcspn(version, "\n")] = '\0';
        }
        tl_buf_free(&v);
    }
    snprintf(res->version, sizeof res->version, "%s", version);
    snprintf(log, sizeof log, "%s/postgres.log", c.dir);
    bin(exe, sizeof exe, &c, "postgres");
    char *srv_argv[] = {exe,  "-D", data, "-k", c.dir, "-h", "127.0.0.1", "-p", c.port, "-c", "fsync=on", "-c",
                        "synchronous_commit=on", "-c", "max_connections=100", "-c",
                        "shared_buffers=" PG_SHARED_BUFFERS, NULL};
    bench_spawn_options sso = {.user = c.user, .log_path = log, .death_signal = SIGINT, .cwd = c.dir};
    if (bench_spawn(&c.server, "postgres", srv_argv, &sso) != 0)
        goto out;
    /* ready when psql can connect */
    double t0 = bench_now();
    for (;;) {
        tl_buf o;
        tl_buf_init(&o);
        char ready[BENCH_PATH_BYTES];
        bin(ready, sizeof ready, &c, "pg_isready");
        char *r_argv[] = {ready, "-q", "-h", "127.0.0.1", "-p", c.port, NULL};
        int ok = bench_run(&rr, "pg_isready", r_argv, NULL, &o, 10) == 0 && rr.exit_code == 0;
        tl_buf_free(&o);
        if (ok)
            break;
        if (bench_now() - t0 > PG_START_TIMEOUT_S || bench_stop) {
            fprintf(stderr, "bench: PostgreSQL did not start\n");
            bench_show_log(log, 3000);
            goto out;
        }
        usleep(100000);
    }
    if (psql(&c, "CREATE TABLE records (seq bigserial PRIMARY KEY, id bytea UNIQUE NOT NULL, "
                 "stream text NOT NULL, body bytea NOT NULL);"
                 "CREATE UNLOGGED TABLE staging_single (n bigint PRIMARY KEY, id bytea, stream text, body bytea);"
                 "CREATE UNLOGGED TABLE staging_bulk (n bigint PRIMARY KEY, id bytea, stream text, body bytea);"
                 "CREATE SEQUENCE pick_single; CREATE SEQUENCE pick_bulk MINVALUE 0 START 0;",
             NULL) != 0)
        goto out;
    bench_progress("postgres: loading %zu + %zu envelopes into staging tables (not timed)", opt->bulk_n,
                   opt->single_n);
    if (load_staging(&c, opt->events, "staging_bulk", opt->bulk_from, opt->bulk_n, 0) != 0 ||
        load_staging(&c, opt->events, "staging_single", opt->single_from, opt->single_n, 1) != 0 ||
        psql(&c, "VACUUM ANALYZE staging_single", NULL) != 0 || psql(&c, "VACUUM ANALYZE staging_bulk", NULL) != 0 ||
        psql(&c, "CHECKPOINT", NULL) != 0)
        goto out;
    tl_buf settings;
    tl_buf_init(&settings);
    if (psql(&c,
             "SELECT 'fsync=' || current_setting('fsync') || ', synchronous_commit=' || "
             "current_setting('synchronous_commit') || ', wal_sync_method=' || current_setting('wal_sync_method') || "
             "', full_page_writes=' || current_setting('full_page_writes') || ', shared_buffers=' || "
             "current_setting('shared_buffers')",
             &settings) == 0 &&
        settings.data != NULL) {
        snprintf(res->settings, sizeof res->settings, "%s", (char *)settings.data);
        res->settings[strcspn(res->settings, "\n")] = '\0';
    }
    tl_buf_free(&settings);

    /* bulk: batches of bulk_batch rows per transaction */
    char script[1024];
    snprintf(script, sizeof script,
             "BEGIN;\n"
             "SELECT nextval('pick_bulk') AS b \\gset\n"
             "INSERT INTO records (id, stream, body) SELECT id, stream, body FROM staging_bulk "
             "WHERE n >= :b * %zu AND n < (:b + 1) * %zu;\n"
             "COMMIT;\n",
             opt->bulk_batch, opt->bulk_batch);
    size_t bulk_tx = opt->bulk_n / opt->bulk_batch / opt->bulk_clients;
    bench_progress("postgres: bulk: %u clients, %zu transactions of %zu rows each", opt->bulk_clients, bulk_tx,
                   opt->bulk_batch);
    double tps = 0;
    if (pgbench(&c, "bulk", script, opt->bulk_clients, bulk_tx, &tps, &res->bulk_latency_us, res->bulk_cmd,
                sizeof res->bulk_cmd) != 0)
        goto out;
    res->bulk_rows = bulk_tx * opt->bulk_clients * opt->bulk_batch;
    res->bulk_rows_per_s = tps * (double)opt->bulk_batch;

    /* single: one row per transaction */
    snprintf(script, sizeof script,
             "INSERT INTO records (id, stream, body) SELECT id, stream, body FROM staging_single "
             "WHERE n = (SELECT nextval('pick_single'));\n");
    size_t single_tx = opt->single_n / opt->single_clients;
    bench_progress("postgres: single: %u clients, %zu one-row transactions each", opt->single_clients, single_tx);
    if (pgbench(&c, "single", script, opt->single_clients, single_tx, &res->single_tps, &res->single_latency_us,
                res->single_cmd, sizeof res->single_cmd) != 0)
        goto out;
    res->single_rows = single_tx * opt->single_clients;

    /* every row went in exactly once */
    tl_buf count;
    tl_buf_init(&count);
    if (psql(&c, "SELECT count(*) FROM records", &count) != 0 || count.data == NULL ||
        strtoull((char *)count.data, NULL, 10) != res->bulk_rows + res->single_rows) {
        fprintf(stderr, "bench: PostgreSQL holds %s rows, expected %llu\n", count.data ? (char *)count.data : "?",
                (unsigned long long)(res->bulk_rows + res->single_rows));
        tl_buf_free(&count);
        goto out;
    }
    tl_buf_free(&count);
    res->ran = true;
    rc = 0;
out:
    pg_stop(&c);
    if (!opt->keep)
        bench_rmrf(c.dir);
    else
        bench_progress("postgres: kept %s", c.dir);
    return rc;
}
