/*
 * `techledger bench`: child processes.
 *
 * Every server the bench starts (techledger serve, nginx, postgres) is its direct child and
 * gets a parent-death signal (prctl PR_SET_PDEATHSIG), set after any change of user because
 * the kernel clears it on a credential change: if the bench is killed, its servers stop too.
 * As root, PostgreSQL refuses to run, so servers that need it run as an unprivileged user; the
 * switch happens in the child between fork and exec (nothing that allocates runs there).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

#define READ_CHUNK_BYTES 65536u
#define STOP_POLL_US 10000u

/* The children alive now, so that their CPU can be counted as the bench's own (bench_usage_now). */
#define LIVE_MAX 32
static pid_t live[LIVE_MAX];

static void live_add(pid_t pid)
{
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i] == 0) {
            live[i] = pid;
            return;
        }
}

static void live_remove(pid_t pid)
{
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i] == pid)
            live[i] = 0;
}

int bench_spawn(bench_proc *p, const char *name, char *const argv[], const bench_spawn_options *opt)
{
    static const bench_spawn_options none = {0};
    if (opt == NULL)
        opt = &none;
    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->out_fd = -1;
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->log, sizeof p->log, "%s", opt->log_path ? opt->log_path : "/dev/null");

    uid_t uid = 0;
    gid_t gid = 0;
    bool switch_user = false;
    if (opt->user != NULL && geteuid() == 0) {
        struct passwd *pw = getpwnam(opt->user);
        if (pw == NULL) {
            fprintf(stderr, "bench: no user '%s' to run %s as\n", opt->user, name);
            return -1;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        switch_user = true;
    }
    int out_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1};
    if (opt->capture_stdout && pipe2(out_pipe, O_CLOEXEC) != 0)
        return -1;
    if (opt->stdin_pipe && pipe2(in_pipe, O_CLOEXEC) != 0) {
        if (out_pipe[0] >= 0) {
            close(out_pipe[0]);
            close(out_pipe[1]);
        }
        return -1;
    }
    int log_fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "bench: cannot open %s: %s\n", p->log, strerror(errno));
        return -1;
    }
    if (switch_user && strcmp(p->log, "/dev/null") != 0 && fchown(log_fd, uid, gid) != 0) {
        /* the child writes through the inherited descriptor anyway */
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    int death = opt->death_signal ? opt->death_signal : SIGTERM;
    pid_t pid = fork();
    if (pid < 0) {
        close(log_fd);
        close(null_fd);
        return -1;
    }
    if (pid == 0) {
        int in = opt->stdin_pipe ? in_pipe[0] : null_fd;
        int out = opt->capture_stdout ? out_pipe[1] : log_fd;
        if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
            _exit(127);
        setpgid(0, 0); /* a terminal's ^C reaches the bench, which stops its children in order */
        if (switch_user && (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
            _exit(126);
        if (prctl(PR_SET_PDEATHSIG, death) != 0 || getppid() != parent)
            _exit(125);
        if (opt->cwd != NULL && chdir(opt->cwd) != 0)
            _exit(124);
        sigset_t none_blocked;
        sigemptyset(&none_blocked);
        sigprocmask(SIG_SETMASK, &none_blocked, NULL);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        _exit(127);
    }
    close(log_fd);
    close(null_fd);
    if (opt->capture_stdout) {
        close(out_pipe[1]);
        p->out_fd = out_pipe[0];
    }
    if (opt->stdin_pipe) {
        close(in_pipe[0]);
        *opt->stdin_fd = in_pipe[1];
    }
    p->pid = pid;
    live_add(pid);
    return 0;
}

int bench_proc_read_line(bench_proc *p, const char *prefix, char *line, size_t cap, double timeout_s)
{
    if (p->out_fd < 0 || cap == 0)
        return -1;
    double deadline = bench_now() + timeout_s;
    size_t n = 0;
    for (;;) {
        double left = deadline - bench_now();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        char c;
        ssize_t r = read(p->out_fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (c == '\n') {
            line[n < cap ? n : cap - 1] = '\0';
            if (strncmp(line, prefix, strlen(prefix)) == 0)
                return 0;
            n = 0;
            continue;
        }
        if (n + 1 < cap)
            line[n++] = c;
    }
}

static uint64_t status_kib(pid_t pid, const char *field)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    uint64_t kib = 0;
    size_t flen = strlen(field);
    while (fgets(buf, sizeof buf, f) != NULL) {
        if (strncmp(buf, field, flen) == 0 && buf[flen] == ':') {
            kib = strtoull(buf + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib * 1024u;
}

uint64_t bench_proc_hwm_bytes(pid_t pid) { return status_kib(pid, "VmHWM"); }
uint64_t bench_proc_rss_bytes(pid_t pid) { return status_kib(pid, "VmRSS"); }

/* utime + stime (clock ticks) and the parent of /proc/<pid>/stat; -1 when unreadable. */
static int stat_ticks(const char *path, unsigned long long *ticks, long *ppid)
{
    char buf[2048];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the fields after the command name, which may hold spaces and parentheses */
    const char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ppid, &utime, &stime) != 3)
        return -1;
    *ticks = utime + stime;
    return 0;
}

double bench_proc_cpu_seconds(pid_t pid)
{
    char path[64];
    unsigned long long total = 0, t;
    long ppid;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (stat_ticks(path, &total, &ppid) != 0)
        return -1;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char p2[300];
        snprintf(p2, sizeof p2, "/proc/%s/stat", de->d_name);
        if (stat_ticks(p2, &t, &ppid) == 0 && ppid == (long)pid)
            total += t;
    }
    if (d != NULL)
        closedir(d);
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)total / (double)hz : -1;
}

int bench_proc_stop(bench_proc *p, int sig, double timeout_s, struct rusage *ru, int *status)
{
    if (p->pid <= 0)
        return 0;
    if (sig != 0)
        kill(p->pid, sig);
    double deadline = bench_now() + timeout_s;
    int st = 0, rc = 0;
    struct rusage r;
    memset(&r, 0, sizeof r);
    for (;;) {
        pid_t w = wait4(p->pid, &st, WNOHANG, &r);
        if (w == p->pid)
            break;
        if (w < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        if (bench_now() > deadline) {
            fprintf(stderr, "bench: %s (pid %ld) did not stop within %.0f s: killing it\n", p->name, (long)p->pid,
                    timeout_s);
            kill(p->pid, SIGKILL);
            wait4(p->pid, &st, 0, &r);
            rc = -1;
            break;
        }
        usleep(STOP_POLL_US);
    }
    live_remove(p->pid);
    if (ru != NULL)
        *ru = r;
    if (status != NULL)
        *status = st;
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
    p->pid = -1;
    return rc;
}

int bench_run(bench_run_result *res, const char *name, char *const argv[], const bench_spawn_options *opt,
              tl_buf *out, double timeout_s)
{
    bench_spawn_options o = opt ? *opt : (bench_spawn_options){0};
    o.capture_stdout = true;
    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    bench_proc p;
    double t0 = bench_now();
    if (bench_spawn(&p, name, argv, &o) != 0)
        return -1;
    double deadline = t0 + timeout_s;
    uint8_t *chunk = malloc(READ_CHUNK_BYTES);
    int rc = chunk != NULL ? 0 : -1;
    while (rc == 0) {
        double left = deadline - bench_now();
        if (left <= 0) {
            fprintf(stderr, "bench: %s did not finish within %.0f s\n", name, timeout_s);
            rc = -1;
            break;
        }
        struct pollfd pfd = {.fd = p.out_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t r = read(p.out_fd, chunk, READ_CHUNK_BYTES);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (out != NULL && tl_buf_append(out, chunk, (size_t)r) != 0)
            rc = -1;
    }
    free(chunk);
    int st = 0;
    if (bench_proc_stop(&p, rc == 0 ? 0 : SIGKILL, rc == 0 ? timeout_s : 5.0, &res->ru, &st) != 0)
        rc = -1;
    res->wall_s = bench_now() - t0;
    if (WIFEXITED(st))
        res->exit_code = WEXITSTATUS(st);
    if (out != NULL && tl_buf_append(out, "", 1) == 0)
        out->len--; /* NUL-terminated for string searches, not counted */
    return rc;
}

void bench_show_log(const char *path, size_t max_bytes)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > (long)max_bytes)
            fseek(f, size - (long)max_bytes, SEEK_SET);
        else
            fseek(f, 0, SEEK_SET);
    }
    char buf[1024];
    fprintf(stderr, "---- last lines of %s ----\n", path);
    while (fgets(buf, sizeof buf, f) != NULL)
        fputs(buf, stderr);
    fprintf(stderr, "----\n");
    fclose(f);
}

void bench_argv_string(char *out, size_t cap, char *const argv[])
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; argv[i] != NULL && n + 1 < cap; i++) {
        const char *a = argv[i];
        bool plain = a[0] != '\0' && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                               "-_./:=,+@%") == strlen(a);
        int w = snprintf(out + n, cap - n, plain ? "%s%s" : "%s'%s'", i ? " " : "", a);
        if (w < 0)
            break;
        n += (size_t)w;
        if (n >= cap) {
            n = cap - 1;
            break;
        }
    }
}

void bench_usage_now(bench_usage *out)
{
    memset(out, 0, sizeof *out);
    out->wall = bench_now();
    long hz = sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[10] = {0};
    if (f != NULL) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) == 8 &&
            hz > 0)
            /* user nice system [idle iowait] irq softirq steal */
            out->busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;
        fclose(f);
    }
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    out->own = bench_cpu_seconds(&self) + bench_cpu_seconds(&kids);
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] == 0)
            continue;
        double c = bench_proc_cpu_seconds(live[i]);
        if (c > 0)
            out->own += c;
    }
}
