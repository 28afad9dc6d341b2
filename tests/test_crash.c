/*
 * kill -9 in the middle of work, many times over (BRIEF.md, reliability: "kill -9 at any
 * moment loses no acknowledged event and leaves no partial record").
 *
 * The writer runs in a child process: fork() + exec of this same binary with --child, so the
 * child starts with a clean RocksDB environment (a plain fork of a process that has used
 * RocksDB inherits a thread pool whose threads do not exist in the child). The child opens the
 * ledger and runs several submitter threads that append signed events. After each append is
 * acknowledged it writes one fixed-size ack (event id, seq, version, the envelope) to a pipe;
 * one write() of at most PIPE_BUF bytes is atomic, so the parent knows exactly what was
 * acknowledged and no ack is ever torn. The parent kills the child with SIGKILL at a random
 * moment (seed logged; TL_CRASH_SEED=N replays a run), sometimes while the child is still
 * opening (recovery of the previous kill), usually in the middle of the appends; checkpoints
 * are issued every few dozen records so that kills also land during checkpoint issuance.
 *
 * After each kill the parent reopens the ledger and proves:
 *   - every event acknowledged in any round so far is there: tl_ledger_find_event gives its
 *     acked seq, the record at that seq holds exactly the acked body, key and signature with
 *     the acked version, and resubmitting the envelope is an idempotent duplicate;
 *   - no partial record: tl_ledger_scan over 0..size decodes every record, seqs are dense,
 *     every body parses and its signature verifies;
 *   - the Merkle root recomputed here from the records (naive RFC 6962 over tl_leaf_hash)
 *     equals tl_ledger_root, and every checkpoint issued since the last round verifies against
 *     ledger.vkey and names the recomputed root of its size;
 *   - appends continue at seq = size.
 * A second test kills tl_ledger_create at random moments and checks that what is left is
 * either a whole ledger or something tl_ledger_create can start again on.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CRASH_ROUNDS 25
#define CRASH_ELAPSED_MAX_S 60    /* no new round after this: bounds the run on a loaded machine */
#define CRASH_THREADS 4           /* submitter threads in the child */
#define CRASH_RUN_MS_MAX 350      /* a kill lands at most this long after the first ack */
#define CRASH_EARLY_EVERY 5       /* every 5th round kills while the child is still opening */
#define CRASH_CHILD_DEADLINE_S 20 /* a child that never acks is a failure, not a hang */
#define CREATE_ROUNDS 12
#define ACK_ENVELOPE_BYTES_MAX 960

/* One acknowledged append, as the child reports it. sizeof(ack) <= PIPE_BUF keeps each
 * write() atomic on a pipe. */
typedef struct ack {
    uint8_t id[TL_EVENT_ID_BYTES];
    uint64_t seq;
    uint64_t version;
    uint32_t env_len;
    uint8_t env[ACK_ENVELOPE_BYTES_MAX];
} ack;
_Static_assert(sizeof(ack) <= PIPE_BUF, "an ack must fit one atomic pipe write");

static const char *self_exe = "/proc/self/exe";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------- the child ------------- */

typedef struct child_ctx {
    tl_ledger *l;
    tl_keypair registry;
    int round;
    int thread;
    int fd;
} child_ctx;

static void child_die(const char *what, const tl_error *e)
{
    fprintf(stderr, "crash child: %s: %s at %s: %s\n", what, e ? e->rule : "", e ? e->path : "",
            e ? e->msg : "");
    _exit(3);
}

/* Builds, appends and acks one event; the JSON is built without cmocka (no longjmp here). */
static void child_append(child_ctx *c, const char *json)
{
    json_error_t jerr;
    json_t *ev = json_loads(json, 0, &jerr);
    if (ev == NULL)
        child_die("bad JSON", NULL);
    tl_buf env;
    tl_buf_init(&env);
    tl_error err;
    if (tl_json_envelope(&env, ev, &c->registry, wall_ms(), &err) != 0)
        child_die("envelope", &err);
    json_decref(ev);
    if (env.len > ACK_ENVELOPE_BYTES_MAX)
        child_die("envelope too large for an ack", NULL);
    tl_append_result res;
    int rc = tl_ledger_append(c->l, env.data, env.len, &res);
    if (rc != 0 || res.status != TL_APPEND_CREATED)
        child_die("append", &res.err);
    ack a;
    memset(&a, 0, sizeof a);
    tl_event e;
    if (tl_envelope_decode(&e, env.data, env.len, &err) != 0)
        child_die("decode", &err);
    memcpy(a.id, e.id, sizeof a.id);
    tl_event_free(&e);
    a.seq = res.seq;
    a.version = res.version;
    a.env_len = (uint32_t)env.len;
    memcpy(a.env, env.data, env.len);
    tl_buf_free(&env);
    if (write(c->fd, &a, sizeof a) != (ssize_t)sizeof a)
        _exit(4); /* the parent went away */
}

static void *child_submitter(void *arg)
{
    child_ctx *c = arg;
    char json[2048], reg[24];
    /* Contracts, and every third event an amendment of the previous one (expect = 1), so
     * kills also land between events that depend on each other's state. */
    for (unsigned i = 0;; i++) {
        if (i % 3 == 2) {
            snprintf(json, sizeof json,
                     "{\"type\":\"contract.amended\",\"stream\":\"contract/%s\",\"expect\":1,\"data\":{"
                     "\"total_fen\":%u,\"tech_fen\":100,\"amended_on\":\"2021-05-01\",\"reason\":\"re-scoped\"}}",
                     reg, 1000 + i);
        } else {
            snprintf(reg, sizeof reg, "%02d%02d%012u", c->round % 100, c->thread, i);
            tl_test_contract_json(json, sizeof json, reg, 100000 + i, 50000, "2021-03-01");
        }
        child_append(c, json);
    }
    return NULL;
}

/* test_crash --child DIR ROUND FD REGISTRY_SEED_HEX: appends until killed. */
static int child_main(char **argv)
{
    if (tl_crypto_init() != 0)
        _exit(3);
    const char *dir = argv[2];
    int round = atoi(argv[3]);
    int fd = atoi(argv[4]);
    uint8_t seed[TL_SEED_BYTES];
    if (tl_hex_decode(seed, sizeof seed, argv[5], strlen(argv[5])) != 0)
        _exit(3);
    tl_ledger_options opt = {.mode = TL_OPEN_WRITE, .checkpoint_every_records = 40, .checkpoint_every_ms = 50};
    tl_ledger *l;
    tl_error err;
    if (tl_ledger_open(&l, dir, &opt, &err) != 0)
        child_die("open", &err);
    child_ctx ctx[CRASH_THREADS];
    pthread_t th[CRASH_THREADS];
    for (int i = 0; i < CRASH_THREADS; i++) {
        ctx[i] = (child_ctx){.l = l, .round = round, .thread = i, .fd = fd};
        tl_keypair_from_seed(&ctx[i].registry, seed);
        if (pthread_create(&th[i], NULL, child_submitter, &ctx[i]) != 0)
            _exit(3);
    }
    for (int i = 0; i < CRASH_THREADS; i++)
        pthread_join(th[i], NULL); /* never returns: the parent kills us */
    _exit(0);
}

/* test_crash --create DIR ADMIN_SEED_HEX: creates a ledger, then sits still. */
static int create_main(char **argv)
{
    if (tl_crypto_init() != 0)
        _exit(3);
    uint8_t seed[TL_SEED_BYTES];
    if (tl_hex_decode(seed, sizeof seed, argv[3], strlen(argv[3])) != 0)
        _exit(3);
    tl_keypair admin;
    tl_keypair_from_seed(&admin, seed);
    tl_error err;
    if (tl_ledger_create(argv[2], "crash.example/ledger", &admin, NULL, &err) != 0)
        child_die("create", &err);
    _exit(0);
}

/* ---------------------------------------------------------------- the parent ------------ */

typedef struct acks {
    ack *v;
    size_t n, cap;
} acks;

static void acks_push(acks *a, const ack *x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 1024;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        assert_non_null(a->v);
    }
    a->v[a->n++] = *x;
}

/* Reads whole acks from fd until the deadline (or EOF when deadline < 0). Returns false on EOF. */
static bool read_acks(int fd, acks *out, double deadline, size_t *partial_len, ack *partial)
{
    for (;;) {
        int timeout_ms = -1;
        if (deadline >= 0) {
            double left = deadline - now_s();
            if (left <= 0)
                return true;
            timeout_ms = (int)(left * 1000) + 1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, timeout_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        assert_true(pr >= 0);
        if (pr == 0)
            continue;
        ssize_t n = read(fd, (uint8_t *)partial + *partial_len, sizeof *partial - *partial_len);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0) {
            /* writes are atomic: the child can never leave half an ack behind */
            assert_int_equal(*partial_len, 0);
            return false;
        }
        *partial_len += (size_t)n;
        if (*partial_len == sizeof *partial) {
            acks_push(out, partial);
            *partial_len = 0;
        }
    }
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execv(self_exe, argv);
        _exit(127);
    }
    return pid;
}

/* Everything the header comment promises after a kill. Returns the new size. */
static uint64_t verify_after_kill(tl_test_ledger *t, const acks *all, uint64_t *cp_verified, unsigned *cps)
{
    tl_error err;
    if (tl_ledger_open(&t->l, t->dir, NULL, &err) != 0)
        fail_msg("reopen after kill -9: %s: %s", err.rule, err.msg);
    uint64_t size = tl_ledger_size(t->l);

    /* every acknowledged event, by id and by bytes */
    tl_buf rec;
    tl_buf_init(&rec);
    for (size_t i = 0; i < all->n; i++) {
        const ack *a = &all->v[i];
        uint64_t seq;
        if (tl_ledger_find_event(t->l, a->id, &seq, &err) != 0)
            fail_msg("acknowledged event (seq %" PRIu64 ") is gone: %s", a->seq, err.msg);
        assert_int_equal(seq, a->seq);
        assert_true(seq < size);
        assert_int_equal(tl_ledger_read(t->l, seq, &rec, &err), 0);
        tl_record r;
        assert_int_equal(tl_record_decode(&r, rec.data, rec.len, &err), 0);
        tl_event ev;
        assert_int_equal(tl_envelope_decode(&ev, a->env, a->env_len, &err), 0);
        assert_int_equal(r.version, a->version);
        assert_int_equal(r.body_len, ev.body_len);
        assert_memory_equal(r.body, ev.body, ev.body_len);
        assert_memory_equal(r.key, ev.key, TL_PUBKEY_BYTES);
        assert_memory_equal(r.sig, ev.sig, TL_SIG_BYTES);
        tl_event_free(&ev);
    }
    /* idempotency survived too: a sample of acked envelopes resubmitted are duplicates */
    for (size_t i = 0; i < all->n; i += 97) {
        tl_append_result res;
        assert_int_equal(tl_ledger_append(t->l, all->v[i].env, all->v[i].env_len, &res), 0);
        assert_int_equal(res.status, TL_APPEND_DUPLICATE);
        assert_int_equal(res.seq, all->v[i].seq);
    }
    tl_buf_free(&rec);

    /* no partial record; the naive root equals the ledger's; the checkpoints issued since the
     * last check (some of them interrupted by the kill) name it */
    tl_test_log_check c;
    tl_test_check_log(t->l, *cp_verified, &c);
    assert_int_equal(c.size, size);
    *cps += c.checkpoints;

    /* appends continue where the log ends */
    char json[2048], reg[24];
    snprintf(reg, sizeof reg, "99%014" PRIu64, size);
    tl_test_contract_json(json, sizeof json, reg, 7, 7, "2021-06-01");
    tl_append_result res;
    if (tl_test_append(t->l, &t->registry, json, &res) != 0)
        fail_msg("append after recovery: %s: %s", res.err.rule, res.err.msg);
    assert_int_equal(res.seq, size);
    tl_ledger_close(t->l); /* issues a checkpoint at size + 1, checked next round */
    t->l = NULL;
    *cp_verified = c.newest;
    return size + 1;
}

static unsigned crash_seed(void)
{
    const char *e = getenv("TL_CRASH_SEED");
    unsigned seed = e && *e ? (unsigned)strtoul(e, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "test_crash: seed %u (replay with TL_CRASH_SEED=%u)\n", seed, seed);
    srand(seed);
    return seed;
}

static void test_kill_during_appends(void **state)
{
    (void)state;
    crash_seed();
    tl_test_ledger t;
    tl_test_ledger_create(&t, "crash");
    tl_ledger_close(t.l); /* the parent holds no ledger (and no RocksDB threads) while a child runs */
    t.l = NULL;
    uint8_t seed[TL_SEED_BYTES];
    char seed_hex[2 * TL_SEED_BYTES + 1];
    tl_keypair_seed(seed, &t.registry);
    tl_hex_encode(seed_hex, seed, sizeof seed);

    acks all = {0};
    uint64_t cp_verified = 0;
    unsigned cps = 0, early = 0;
    double start = now_s();
    int rounds = 0;
    for (int round = 0; round < CRASH_ROUNDS && now_s() - start < CRASH_ELAPSED_MAX_S; round++, rounds++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        char round_s[16], fd_s[16];
        snprintf(round_s, sizeof round_s, "%d", round);
        snprintf(fd_s, sizeof fd_s, "%d", fds[1]);
        char *argv[] = {"test_crash", "--child", t.dir, round_s, fd_s, seed_hex, NULL};
        fcntl(fds[0], F_SETFD, FD_CLOEXEC);
        pid_t pid = spawn(argv);
        close(fds[1]);
        size_t before = all.n, partial_len = 0;
        ack partial;
        bool kill_early = round % CRASH_EARLY_EVERY == CRASH_EARLY_EVERY - 1;
        double deadline;
        if (kill_early) {
            /* while the child execs, opens and recovers from the previous kill */
            deadline = now_s() + (double)(rand() % 60) / 1000.0;
            early++;
        } else {
            /* wait for the first ack, then let it run a random while */
            double give_up = now_s() + CRASH_CHILD_DEADLINE_S;
            while (all.n == before && now_s() < give_up)
                if (!read_acks(fds[0], &all, now_s() + 0.01, &partial_len, &partial))
                    break;
            if (all.n == before) {
                int status;
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                fail_msg("round %d: the child acknowledged nothing (status %d)", round, status);
            }
            deadline = now_s() + (double)(rand() % CRASH_RUN_MS_MAX) / 1000.0;
        }
        read_acks(fds[0], &all, deadline, &partial_len, &partial);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("round %d: the child ended by itself (status %d) before the kill", round, status);
        read_acks(fds[0], &all, -1, &partial_len, &partial); /* what it acked before dying */
        close(fds[0]);
        uint64_t size = verify_after_kill(&t, &all, &cp_verified, &cps);
        fprintf(stderr, "round %2d: %s, %zu acked (%zu in all), log size %" PRIu64 "\n", round,
                kill_early ? "killed while opening" : "killed while appending", all.n - before, all.n, size);
    }
    fprintf(stderr, "test_crash: %d rounds (%u killed while opening), %zu acknowledged events, %u checkpoints "
                    "verified, %.1f s\n",
            rounds, early, all.n, cps, now_s() - start);
    assert_true(all.n > 0);
    assert_true(cps > 0);
    free(all.v);
    tl_test_ledger_reopen(&t);
    tl_test_ledger_destroy(&t);
}

/* A kill during tl_ledger_create leaves either a whole ledger (open works; record 0 is the
 * genesis and a checkpoint covers it) or something create can start over on. */
static void test_kill_during_create(void **state)
{
    (void)state;
    crash_seed();
    assert_int_equal(tl_crypto_init(), 0);
    tl_keypair admin;
    tl_keypair_generate(&admin);
    uint8_t seed[TL_SEED_BYTES];
    char seed_hex[2 * TL_SEED_BYTES + 1];
    tl_keypair_seed(seed, &admin);
    tl_hex_encode(seed_hex, seed, sizeof seed);
    char *base = tl_test_tmpdir("crash-create");

    /* how long a creation takes here, to aim the kills inside it */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/timing", base);
    char *argv[] = {"test_crash", "--create", dir, seed_hex, NULL};
    double t0 = now_s();
    pid_t pid = spawn(argv);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    double took = now_s() - t0;
    fprintf(stderr, "test_crash: a creation takes %.0f ms here\n", took * 1000);

    unsigned whole = 0, restarted = 0, untouched = 0;
    for (int round = 0; round < CREATE_ROUNDS; round++) {
        snprintf(dir, sizeof dir, "%s/r%d", base, round);
        pid = spawn(argv);
        /* up to 1.3x the measured time, so that some kills come after the end */
        double delay_s = (double)(rand() % 1300) / 1000.0 * took;
        struct timespec d = {(time_t)delay_s, (long)((delay_s - (double)(time_t)delay_s) * 1e9)};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        tl_ledger *l = NULL;
        tl_error err;
        int rc = tl_ledger_open(&l, dir, NULL, &err);
        if (rc == 0 && tl_ledger_size(l) > 0) {
            /* a whole ledger: genesis at 0, covered by a checkpoint */
            tl_buf rec;
            tl_buf_init(&rec);
            assert_int_equal(tl_ledger_read(l, 0, &rec, &err), 0);
            tl_record r;
            assert_int_equal(tl_record_decode(&r, rec.data, rec.len, &err), 0);
            assert_memory_equal(r.key, admin.pk, TL_PUBKEY_BYTES);
            uint64_t cp_size;
            assert_int_equal(tl_ledger_checkpoint_latest(l, &rec, &cp_size, &err), 0);
            tl_buf_free(&rec);
            tl_ledger_close(l);
            whole++;
            continue;
        }
        tl_ledger_close(l);
        struct stat st;
        if (stat(dir, &st) != 0) {
            untouched++;
            continue;
        }
        /* interrupted: creating again must work and give a whole ledger */
        rc = tl_ledger_create(dir, "crash.example/ledger", &admin, NULL, &err);
        if (rc != 0)
            fail_msg("round %d: a kill during create left %s unusable: create says %s: %s", round, dir, err.rule,
                     err.msg);
        assert_int_equal(tl_ledger_open(&l, dir, NULL, &err), 0);
        assert_int_equal(tl_ledger_size(l), 1);
        tl_ledger_close(l);
        restarted++;
    }
    fprintf(stderr, "test_crash: create killed %d times: %u whole, %u created again, %u before mkdir\n",
            CREATE_ROUNDS, whole, restarted, untouched);
    tl_test_rmdir(base);
    free(base);
}

int main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "--child") == 0)
        return child_main(argv);
    if (argc >= 4 && strcmp(argv[1], "--create") == 0)
        return create_main(argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_appends),
        cmocka_unit_test(test_kill_during_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
