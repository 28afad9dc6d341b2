/* `techledger bench`: clocks, progress, temporary directories, disk usage, percentiles. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

bool bench_quiet = false;

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_progress(const char *fmt, ...)
{
    if (bench_quiet)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "bench: %s\n", line);
}

int bench_tmpdir(char *out, size_t cap, const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int n = snprintf(out, cap, "%s/tl-bench-%s-XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(out) != NULL ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int bench_rmrf(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

static bench_du *du_acc;

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int du_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    uint64_t alloc = (uint64_t)st->st_blocks * 512u;
    du_acc->allocated += alloc;
    du_acc->apparent += (uint64_t)st->st_size;
    du_acc->files++;
    if (ends_with(path, ".sst"))
        du_acc->sst += alloc;
    else if (ends_with(path, ".log"))
        du_acc->wal += alloc;
    else
        du_acc->other += alloc;
    return 0;
}

int bench_disk_usage(bench_du *out, const char *path)
{
    memset(out, 0, sizeof *out);
    du_acc = out; /* nftw has no context argument; the bench measures on one thread */
    int rc = nftw(path, du_entry, 32, FTW_PHYS);
    du_acc = NULL;
    return rc;
}

const char *bench_fs_type(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) != 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    default: return "other";
    }
}

bool bench_path_traversable(const char *path, char *blocker, size_t cap)
{
    char buf[BENCH_PATH_BYTES];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *slash = strrchr(buf, '/'); slash != NULL; slash = strrchr(buf, '/')) {
        *slash = '\0';
        const char *dir = buf[0] ? buf : "/";
        struct stat st;
        if (stat(dir, &st) != 0 || !(st.st_mode & S_IXOTH)) {
            snprintf(blocker, cap, "%s", dir);
            return false;
        }
        if (buf[0] == '\0')
            break;
    }
    return true;
}

uint16_t bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile: the smallest sample with at least q of them at or below it. */
static double rank(const double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

void bench_dist_of(bench_dist *out, double *samples, size_t n)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return;
    qsort(samples, n, sizeof *samples, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += samples[i];
    out->n = n;
    out->p50 = rank(samples, n, 0.50);
    out->p90 = rank(samples, n, 0.90);
    out->p99 = rank(samples, n, 0.99);
    out->max = samples[n - 1];
    out->mean = sum / (double)n;
}

int bench_samples_add(bench_samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        double *v = realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

void bench_samples_free(bench_samples *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

double bench_cpu_seconds(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec * 1e-6 + (double)ru->ru_stime.tv_sec +
           (double)ru->ru_stime.tv_usec * 1e-6;
}
