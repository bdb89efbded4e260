/*
 * fsbench: the same file operations, interleaved, against up to four cgroup trees — the kernel's
 * own cgroup2, the C libfuse floor, cgfs on each FUSE transport — printing p50/p99 latency per
 * operation and the ratios asked for. Interleaving (a batch on each target in turn, repeated,
 * the first target rotating each round so none gets the cold or the warm slot for good) makes
 * machine noise hit every side alike.
 *
 * usage: fsbench DIR... [SCALE]                   (SCALE 1 = 1k/10k siblings; tests use less)
 *        FSBENCH_LABELS=kernel,floor,...          names of the targets (default: the last path part)
 *        FSBENCH_RATIOS=cgfs/floor,cgfs/kernel    ratio columns, by label (default: 2nd/1st)
 *        fsbench --populate DIR N                 mkdir N cgroups under DIR/pop, printing mkdir,
 *                                                 read and rmdir latency at the start and at the end
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES 400000

typedef struct { double *v; int n; } samples;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void add(samples *s, double us) { if (s->n < MAX_SAMPLES) s->v[s->n++] = us; }

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(samples *s, double p) {
    if (s->n == 0) return 0;
    qsort(s->v, s->n, sizeof(double), cmp);
    int i = (int)(p * (s->n - 1));
    return s->v[i];
}

static samples mk(void) { samples s = { calloc(MAX_SAMPLES, sizeof(double)), 0 }; return s; }

static void die(const char *what, const char *path) {
    fprintf(stderr, "fsbench: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

typedef struct { const char *root; samples k[2]; } target;

enum { OP_MKDIR1K, OP_RMDIR1K, OP_MKDIR10K, OP_READDIR10K, OP_RMDIR10K, OP_CHAIN32, OP_STAT,
       OP_WRITE_LIMIT, OP_WRITE_INVALID, OP_READ_PROCS, OP_READ_LIMIT, OP_READ_T1, OP_READ_T2,
       OP_READ_T4, OP_COUNT };
static const char *names[OP_COUNT] = {
    "mkdir (1k siblings)", "rmdir (1k siblings)", "mkdir (10k siblings)", "readdir (10k children)",
    "rmdir (10k siblings)", "mkdir depth-32 chain", "stat", "open+write+close limit",
    "open+write+close invalid", "open+read+close cgroup.procs", "open+read+close limit",
    "read loop, 1 thread", "read loop, 2 threads", "read loop, 4 threads" };

#define MAX_TARGETS 6
static samples S[MAX_TARGETS][OP_COUNT];

static void siblings(int t, const char *root, int n, int op_mk, int op_rm, int op_readdir) {
    char path[512];
    snprintf(path, sizeof path, "%s/sib", root);
    if (mkdir(path, 0755) && errno != EEXIST) die("mkdir", path);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/sib/c%d", root, i);
        double t0 = now_us();
        if (mkdir(path, 0755)) die("mkdir", path);
        add(&S[t][op_mk], now_us() - t0);
    }
    if (op_readdir >= 0) {
        for (int r = 0; r < 5; r++) {
            snprintf(path, sizeof path, "%s/sib", root);
            double t0 = now_us();
            DIR *d = opendir(path);
            if (!d) die("opendir", path);
            int count = 0;
            while (readdir(d)) count++;
            closedir(d);
            add(&S[t][op_readdir], now_us() - t0);
            if (count < n) { fprintf(stderr, "fsbench: readdir saw %d < %d\n", count, n); exit(1); }
        }
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/sib/c%d", root, i);
        double t0 = now_us();
        if (rmdir(path)) die("rmdir", path);
        add(&S[t][op_rm], now_us() - t0);
    }
    snprintf(path, sizeof path, "%s/sib", root);
    rmdir(path);
}

static void chain(int t, const char *root) {
    char path[4096];
    int len = snprintf(path, sizeof path, "%s", root);
    for (int i = 0; i < 32; i++) {
        len += snprintf(path + len, sizeof path - len, "/d");
        double t0 = now_us();
        if (mkdir(path, 0755)) die("mkdir", path);
        add(&S[t][OP_CHAIN32], now_us() - t0);
    }
    for (int i = 0; i < 32; i++) {
        if (rmdir(path)) die("rmdir", path);
        *strrchr(path, '/') = 0;
    }
}

/* The limit file the file operations use: FSBENCH_LIMIT (default cgroup.max.depth); the C floor
 * (floorfs.c) has cgroup.max.descendants only. */
static const char *limit_file = "cgroup.max.depth";

static void file_ops(int t, const char *root, int n) {
    char cg[512], f[600];
    snprintf(cg, sizeof cg, "%s/ops", root);
    if (mkdir(cg, 0755) && errno != EEXIST) die("mkdir", cg);
    char buf[4096];
    struct stat st;
    for (int i = 0; i < n; i++) {
        snprintf(f, sizeof f, "%s/%s", cg, limit_file);
        double t0 = now_us();
        if (stat(f, &st)) die("stat", f);
        add(&S[t][OP_STAT], now_us() - t0);

        t0 = now_us();
        int fd = open(f, O_WRONLY);
        if (fd < 0 || write(fd, "5\n", 2) != 2) die("write", f);
        close(fd);
        add(&S[t][OP_WRITE_LIMIT], now_us() - t0);

        t0 = now_us();
        fd = open(f, O_WRONLY);
        if (fd < 0 || write(fd, "x\n", 2) != -1 || errno != EINVAL) die("invalid write", f);
        close(fd);
        add(&S[t][OP_WRITE_INVALID], now_us() - t0);

        t0 = now_us();
        fd = open(f, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) <= 0) die("read", f);
        close(fd);
        add(&S[t][OP_READ_LIMIT], now_us() - t0);

        snprintf(f, sizeof f, "%s/cgroup.procs", cg);
        t0 = now_us();
        fd = open(f, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) < 0) die("read", f);
        close(fd);
        add(&S[t][OP_READ_PROCS], now_us() - t0);
    }
    rmdir(cg);
}

typedef struct { const char *file; int n; samples *out; pthread_mutex_t *lock; } loop_arg;

static void *read_loop(void *p) {
    loop_arg *a = p;
    char buf[256];
    double *local = calloc(a->n, sizeof(double));
    for (int i = 0; i < a->n; i++) {
        double t0 = now_us();
        int fd = open(a->file, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) <= 0) die("read", a->file);
        close(fd);
        local[i] = now_us() - t0;
    }
    pthread_mutex_lock(a->lock);
    for (int i = 0; i < a->n; i++) add(a->out, local[i]);
    pthread_mutex_unlock(a->lock);
    free(local);
    return NULL;
}

static void threads(int t, const char *root, int nthreads, int op, int n) {
    char f[512];
    snprintf(f, sizeof f, "%s/%s", root, limit_file);
    pthread_t th[8];
    loop_arg a = { f, n, &S[t][op], &(pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER };
    for (int i = 0; i < nthreads; i++) pthread_create(&th[i], NULL, read_loop, &a);
    for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
}

/* mkdir N siblings; latency of the first and last 1000 mkdirs, of reads with N present, and of
 * 1000 rmdirs at full size: flat numbers mean per-cgroup cost does not grow with the count.
 * Leaves the cgroups in place (the caller measures memory), removing them on the second call. */
static int populate(const char *dir, int n, int remove_after) {
    char path[512];
    snprintf(path, sizeof path, "%s/pop", dir);
    if (mkdir(path, 0755) && errno != EEXIST) die("mkdir", path);
    samples first = mk(), last = mk(), reads = mk(), rms = mk();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/pop/c%d", dir, i);
        double t0 = now_us();
        if (mkdir(path, 0755)) die("mkdir", path);
        double us = now_us() - t0;
        if (i < 1000) add(&first, us);
        if (i >= n - 1000) add(&last, us);
    }
    char buf[256];
    for (int i = 0; i < 2000; i++) {
        snprintf(path, sizeof path, "%s/pop/c%d/cgroup.max.depth", dir, (i * 7919) % n);
        double t0 = now_us();
        int fd = open(path, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) <= 0) die("read", path);
        close(fd);
        add(&reads, now_us() - t0);
    }
    printf("cgroups %d: mkdir p50 first 1k %.1f µs, last 1k %.1f µs; open+read+close p50 %.1f µs\n",
           n, pct(&first, .5), pct(&last, .5), pct(&reads, .5));
    fflush(stdout);
    if (!remove_after) return 0;
    for (int i = n - 1; i >= 0; i--) {
        snprintf(path, sizeof path, "%s/pop/c%d", dir, i);
        double t0 = now_us();
        if (rmdir(path)) die("rmdir", path);
        if (i >= n - 1000) add(&rms, now_us() - t0);
    }
    printf("cgroups %d: rmdir p50 of the first 1k removals %.1f µs\n", n, pct(&rms, .5));
    snprintf(path, sizeof path, "%s/pop", dir);
    rmdir(path);
    return 0;
}

/* --throughput DIR... : open+read+close of the limit file by 1, 2, 4 and 8 threads for 1 s each,
 * targets interleaved per thread count; prints operations per second. */
typedef struct { const char *file; volatile int *stop; long ops; } tp_arg;

static void *tp_worker(void *p) {
    tp_arg *a = p;
    char buf[256];
    while (!*a->stop) {
        int fd = open(a->file, O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) <= 0) die("read", a->file);
        close(fd);
        a->ops++;
    }
    return NULL;
}

static double tp_run(const char *root, int n) {
    char file[600];
    snprintf(file, sizeof file, "%s/%s", root, limit_file);
    volatile int stop = 0;
    pthread_t th[8];
    tp_arg args[8];
    for (int i = 0; i < n; i++) {
        args[i] = (tp_arg){ file, &stop, 0 };
        pthread_create(&th[i], NULL, tp_worker, &args[i]);
    }
    double t0 = now_us();
    usleep(1000000);
    stop = 1;
    long ops = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        ops += args[i].ops;
    }
    return ops / ((now_us() - t0) / 1e6);
}

static int throughput(int count, char **roots) {
    printf("%-10s", "threads");
    for (int t = 0; t < count; t++)
        printf(" %14s", strrchr(roots[t], '/') ? strrchr(roots[t], '/') + 1 : roots[t]);
    printf("   (open+read+close per second)\n");
    for (int n = 1; n <= 8; n *= 2) {
        printf("%-10d", n);
        for (int t = 0; t < count; t++)
            printf(" %14.0f", tp_run(roots[t], n));
        printf("\n");
    }
    return 0;
}

/* The interleaved run: each batch on every target in turn, the first target rotating each round. */
static void run_rounds(int n, const char **roots, double scale) {
    for (int t = 0; t < n; t++)
        for (int o = 0; o < OP_COUNT; o++) S[t][o] = mk();
    int rounds = 6;
    for (int r = 0; r < rounds; r++) {
#define EACH for (int i = 0, t = r % n; i < n; i++, t = (r + i) % n)
        EACH siblings(t, roots[t], (int)(1000 * scale / rounds), OP_MKDIR1K, OP_RMDIR1K, -1);
        EACH chain(t, roots[t]);
        EACH file_ops(t, roots[t], (int)(2000 * scale / rounds));
        EACH threads(t, roots[t], 1, OP_READ_T1, (int)(2000 * scale / rounds));
        EACH threads(t, roots[t], 2, OP_READ_T2, (int)(1000 * scale / rounds));
        EACH threads(t, roots[t], 4, OP_READ_T4, (int)(500 * scale / rounds));
#undef EACH
    }
    for (int t = 0; t < n; t++) siblings(t, roots[t], (int)(10000 * scale), OP_MKDIR10K, OP_RMDIR10K, OP_READDIR10K);
}

/* FSBENCH_RATIOS "a/b,..." by label into index pairs; default: 2nd/1st. Returns the count. */
static int parse_ratios(int n, const char **labels, int *ra, int *rb) {
    char *spec = getenv("FSBENCH_RATIOS") ? strdup(getenv("FSBENCH_RATIOS")) : NULL;
    int nr = 0;
    if (!spec) { ra[0] = 1; rb[0] = 0; return n > 1; }
    for (char *tok; (tok = strsep(&spec, ",")) && nr < 8;) {
        char *slash = strchr(tok, '/');
        if (!slash) continue;
        *slash = 0;
        int a = -1, b = -1;
        for (int t = 0; t < n; t++) {
            if (!strcmp(labels[t], tok)) a = t;
            if (!strcmp(labels[t], slash + 1)) b = t;
        }
        if (a >= 0 && b >= 0) { ra[nr] = a; rb[nr] = b; nr++; }
    }
    return nr;
}

static void print_table(int n, const char **labels, int nr, const int *ra, const int *rb) {
    printf("%-30s", "operation (µs: p50 p99)");
    for (int t = 0; t < n; t++) printf(" %17s", labels[t]);
    printf("  |");
    for (int k = 0; k < nr; k++) {
        char h[64];
        snprintf(h, sizeof h, "%s/%s", labels[ra[k]], labels[rb[k]]);
        printf(" %17s", h);
    }
    printf("\n");
    double logsum[8][2] = { { 0 } };
    for (int o = 0; o < OP_COUNT; o++) {
        double p50[MAX_TARGETS], p99[MAX_TARGETS];
        printf("%-30s", names[o]);
        for (int t = 0; t < n; t++) {
            p50[t] = pct(&S[t][o], .5);
            p99[t] = pct(&S[t][o], .99);
            printf(" %8.1f %8.1f", p50[t], p99[t]);
        }
        printf("  |");
        for (int k = 0; k < nr; k++) {
            double x = p50[rb[k]] > 0 ? p50[ra[k]] / p50[rb[k]] : 0, y = p99[rb[k]] > 0 ? p99[ra[k]] / p99[rb[k]] : 0;
            printf("  %7.2fx %7.2fx", x, y);
            if (x > 0 && y > 0) { logsum[k][0] += log(x); logsum[k][1] += log(y); }
        }
        printf("\n");
    }
    printf("%-30s", "geomean of the ratios");
    for (int t = 0; t < n; t++) printf(" %17s", "");
    printf("  |");
    for (int k = 0; k < nr; k++) printf("  %7.2fx %7.2fx", exp(logsum[k][0] / OP_COUNT), exp(logsum[k][1] / OP_COUNT));
    printf("\n");
}

int main(int argc, char **argv) {
    if (getenv("FSBENCH_LIMIT"))
        limit_file = getenv("FSBENCH_LIMIT");
    if (argc >= 3 && !strcmp(argv[1], "--throughput"))
        return throughput(argc - 2, argv + 2);
    if (argc == 4 && !strcmp(argv[1], "--populate"))
        return populate(argv[2], atoi(argv[3]), 0);
    if (argc == 4 && !strcmp(argv[1], "--populate-and-remove"))
        return populate(argv[2], atoi(argv[3]), 1);
    if (argc < 2) {
        fprintf(stderr, "usage: fsbench DIR... [SCALE]\n");
        return 2;
    }
    char *end;
    double scale = strtod(argv[argc - 1], &end);
    int n = *end == 0 ? argc - 2 : argc - 1;
    if (*end != 0) scale = 1.0;
    if (n < 1 || n > MAX_TARGETS) { fprintf(stderr, "fsbench: 1 to %d targets\n", MAX_TARGETS); return 2; }
    const char **roots = (const char **)argv + 1;
    const char *labels[MAX_TARGETS];
    char *given = getenv("FSBENCH_LABELS") ? strdup(getenv("FSBENCH_LABELS")) : NULL;
    for (int t = 0; t < n; t++) {
        char *l = given ? strsep(&given, ",") : NULL;
        labels[t] = l && *l ? l : (strrchr(roots[t], '/') ? strrchr(roots[t], '/') + 1 : roots[t]);
    }
    run_rounds(n, roots, scale);
    int ra[8], rb[8];
    int nr = parse_ratios(n, labels, ra, rb);
    print_table(n, labels, nr, ra, rb);
    return 0;
}
