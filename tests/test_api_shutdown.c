/* `techledger serve` stops cleanly on SIGTERM and SIGINT while clients are submitting: it exits
 * 0, and the final checkpoint covers every event that was acknowledged (201) before it stopped. */
#include "http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tl_checkpoint.h"
#include "tl_note.h"

#define CLIENTS 8
#define PER_CLIENT_MAX 400

typedef struct served {
    pid_t pid;
    uint16_t port;
} served;

/* Starts build/techledger serve DIR on a free port and reads the port it prints. */
static served spawn_server(const char *dir)
{
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        execl(TL_TECHLEDGER_BIN, "techledger", "serve", dir, "--listen", "127.0.0.1:0", "--access-log", "off",
              "--views", "off", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[256];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t k = read(out[0], line + n, 1);
        if (k <= 0)
            break;
        if (line[n++] == '\n')
            break;
    }
    line[n] = '\0';
    close(out[0]);
    unsigned port = 0;
    const char *colon = strrchr(line, ':');
    if (strncmp(line, "listening on http://", 20) != 0 || colon == NULL || sscanf(colon + 1, "%u", &port) != 1)
        fail_msg("unexpected first line from serve: '%s'", line);
    return (served){pid, (uint16_t)port};
}

typedef struct acked {
    uint64_t seq;
    char stream[64];
} acked;

typedef struct client {
    tl_test_ledger *t;
    uint16_t port;
    int index;
    acked acks[PER_CLIENT_MAX];
    int n_acked;
    _Atomic int *total;
} client;

static void *client_main(void *p)
{
    client *c = p;
    tl_http_url url;
    tl_error err;
    char u[64];
    snprintf(u, sizeof u, "http://127.0.0.1:%u", (unsigned)c->port);
    if (tl_http_url_parse(&url, u, &err) != 0)
        return NULL;
    tl_http_client *hc;
    if (tl_http_client_open(&hc, &url, 10000, &err) != 0)
        return NULL;
    static const char *const headers[] = {"Content-Type: application/msgpack", NULL};
    tl_http_response resp;
    tl_http_response_init(&resp);
    for (int i = 0; i < PER_CLIENT_MAX; i++) {
        char json[2048], reg[32]; /* 16 digits: index < 10^4, i < 10^8 */
        snprintf(reg, sizeof reg, "2023%04d%08d", c->index % 10000, i % 100000000);
        tl_test_contract_json(json, sizeof json, reg, 100, 50, "2023-01-05");
        tl_buf env;
        tl_test_envelope(&env, &c->t->registry, json);
        int rc = tl_http_request(hc, "POST", "/v1/events", headers, env.data, env.len, &resp, &err);
        tl_buf_free(&env);
        if (rc != 0)
            break; /* the server has gone */
        if (resp.status == 201) {
            json_error_t jerr;
            json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &jerr);
            c->acks[c->n_acked].seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
            snprintf(c->acks[c->n_acked].stream, sizeof c->acks[c->n_acked].stream, "contract/%s", reg);
            c->n_acked++;
            atomic_fetch_add(c->total, 1);
            json_decref(j);
        } else if (resp.status != 503) {
            fail_msg("unexpected status %d: %.*s", resp.status, (int)resp.body.len, (const char *)resp.body.data);
        } else {
            break; /* server.stopping */
        }
    }
    tl_http_response_free(&resp);
    tl_http_client_close(hc);
    return NULL;
}

static void run_stop(int sig)
{
    tl_test_ledger t;
    tl_test_ledger_create(&t, "api-stop");
    tl_ledger_close(t.l); /* the server process owns it now */
    t.l = NULL;
    served sv = spawn_server(t.dir);

    _Atomic int total = 0;
    pthread_t th[CLIENTS];
    client *cl = calloc(CLIENTS, sizeof *cl);
    assert_non_null(cl);
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (client){.t = &t, .port = sv.port, .index = i, .total = &total};
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
    }
    /* Stop while the clients are in full flow. */
    while (atomic_load(&total) < 200)
        usleep(1000);
    assert_int_equal(kill(sv.pid, sig), 0);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    int status = 0;
    assert_int_equal(waitpid(sv.pid, &status, 0), sv.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    tl_test_ledger_reopen(&t);
    uint64_t size = tl_ledger_size(t.l);
    tl_buf note, rec;
    tl_buf_init(&note);
    tl_buf_init(&rec);
    uint64_t cp_size;
    tl_error err;
    assert_int_equal(tl_ledger_checkpoint_latest(t.l, &note, &cp_size, &err), 0);
    assert_int_equal(cp_size, size); /* the final checkpoint covers the whole log */
    char vkey[512];
    assert_int_equal(tl_ledger_vkey(t.l, vkey, sizeof vkey), 0);
    tl_note_verifier v;
    assert_int_equal(tl_note_vkey_parse(&v, vkey, strlen(vkey), &err), 0);
    tl_checkpoint cp;
    assert_int_equal(tl_checkpoint_open(&cp, (const char *)note.data, note.len, &v, &err), 0);
    uint8_t root[32];
    assert_int_equal(tl_ledger_root(t.l, size, root, &err), 0);
    assert_memory_equal(cp.root, root, 32);
    /* every acknowledged event is in the log, at the seq it was given */
    int checked = 0;
    for (int i = 0; i < CLIENTS; i++)
        for (int k = 0; k < cl[i].n_acked; k++) {
            assert_true(cl[i].acks[k].seq < cp_size);
            assert_int_equal(tl_ledger_read(t.l, cl[i].acks[k].seq, &rec, &err), 0);
            tl_record r;
            assert_int_equal(tl_record_decode(&r, rec.data, rec.len, &err), 0);
            tl_event ev;
            assert_int_equal(tl_event_from_parts(&ev, r.body, r.body_len, r.key, r.sig, &err), 0);
            assert_string_equal(ev.stream, cl[i].acks[k].stream);
            tl_event_free(&ev);
            checked++;
        }
    assert_true(checked >= 200);
    tl_buf_free(&note);
    tl_buf_free(&rec);
    free(cl);
    tl_test_ledger_destroy(&t);
}

static void test_sigterm_while_submitting(void **state)
{
    (void)state;
    run_stop(SIGTERM);
}

static void test_sigint_while_submitting(void **state)
{
    (void)state;
    run_stop(SIGINT);
}

static void test_usage_errors(void **state)
{
    (void)state;
    /* a bad listen address is a usage error that names the option, before anything starts */
    tl_test_ledger t;
    tl_test_ledger_create(&t, "api-usage");
    tl_ledger_close(t.l);
    t.l = NULL;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s serve %s --listen nonsense --access-log off 2>/dev/null", TL_TECHLEDGER_BIN, t.dir);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    snprintf(cmd, sizeof cmd, "%s serve %s/missing --listen 127.0.0.1:0 2>/dev/null", TL_TECHLEDGER_BIN, t.dir);
    st = system(cmd);
    assert_int_equal(WEXITSTATUS(st), 3);
    snprintf(cmd, sizeof cmd, "%s serve --help >/dev/null", TL_TECHLEDGER_BIN);
    st = system(cmd);
    assert_int_equal(WEXITSTATUS(st), 0);
    tl_test_ledger_reopen(&t);
    tl_test_ledger_destroy(&t);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_while_submitting),
        cmocka_unit_test(test_sigint_while_submitting),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
