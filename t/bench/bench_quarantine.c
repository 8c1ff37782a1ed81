/*
 * bench_quarantine.c - what holding a message and recording statistics
 * cost, in process, on the real SQLite store in a temporary directory on the
 * same disk as /var/tmp:
 *   - quarantine puts per second (each one committed with an fsync, as the
 *     milter does before it answers discard), for a 5 KB and a 1 MB message,
 *     from 1 and from 4 threads (each with its own handle) - the fsync bounds
 *     it, so these are the figures to compare with the mail rate you expect
 *     to hold back;
 *   - verdict rows per second written in batches of 500 on a lazily synced
 *     handle, as the milter's background thread does.
 * Prints figures; exits non-zero only when the measurement cannot run.
 * Usage: bench_quarantine [-s SECONDS] [-d DIR]
 */
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* now - monotonic seconds */
static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
    const char *path;
    size_t size;
    double seconds;
    unsigned long long done;
    char *error;
};

/* putter - quarantine puts for job->seconds on a handle of its own */
static void *
putter(void *arg)
{
    struct job *j = arg;
    struct sg_store *store = NULL;
    if (sg_store_open(j->path, 0, &store, &j->error) != SG_OK)
        return NULL;
    unsigned char *raw = sg_xmalloc(j->size);
    for (size_t i = 0; i < j->size; i++)
        raw[i] = (unsigned char)("abcdefghijklmnopqrstuvwxyz\r\n"[i % 28]);
    char *rcpts[] = {"klant@example.com", NULL};
    struct sg_quarantined q = {.queue_id = "4XyZ1abc",
                               .client_addr = "127.0.0.1",
                               .env_from = "factuur@example.nl",
                               .rcpts = rcpts,
                               .nrcpts = 1,
                               .from_header = "Boekhouding <factuur@example.nl>",
                               .subject = "Factuur 2026-0042",
                               .score = 9.5,
                               .reason = "link_mismatch",
                               .verdict_json = "{\"action\": \"quarantine\"}",
                               .raw = raw,
                               .raw_len = j->size};
    double end = now() + j->seconds;
    while (now() < end) {
        q.time = (long long)time(NULL);
        if (sg_store_quarantine_put(store, &q, NULL, NULL, &j->error) != SG_OK)
            break;
        j->done++;
    }
    free(raw);
    sg_store_close(&store);
    return NULL;
}

/* run_puts - threads putters of size bytes; puts per second, or -1 */
static double
run_puts(const char *dir, size_t size, int threads, double seconds)
{
    char *path = sg_xasprintf("%s/bench-%zu-%d.db", dir, size, threads);
    struct sg_store *init = NULL;
    char *error = NULL;
    if (sg_store_open(path, 0, &init, &error) != SG_OK) { /* create and migrate once */
        fprintf(stderr, "bench_quarantine: %s\n", error);
        return -1;
    }
    struct job jobs[8];
    pthread_t tids[8];
    double start = now();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (struct job){.path = path, .size = size, .seconds = seconds};
        pthread_create(&tids[t], NULL, putter, &jobs[t]);
    }
    unsigned long long total = 0;
    bool failed = false;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        total += jobs[t].done;
        if (jobs[t].error != NULL) {
            fprintf(stderr, "bench_quarantine: %s\n", jobs[t].error);
            free(jobs[t].error);
            failed = true;
        }
    }
    double elapsed = now() - start;
    sg_store_close(&init);
    for (const char *suffix = ""; suffix != NULL; suffix = *suffix ? NULL : "-wal") {
        char *p = sg_xasprintf("%s%s", path, suffix);
        unlink(p);
        free(p);
    }
    char *shm = sg_xasprintf("%s-shm", path);
    unlink(shm);
    free(shm);
    free(path);
    return failed || total == 0 ? -1 : (double)total / elapsed;
}

/* run_verdicts - batches of 500 rows on a lazily synced handle; rows per second, or -1 */
static double
run_verdicts(const char *dir, double seconds)
{
    char *path = sg_xasprintf("%s/bench-verdicts.db", dir);
    struct sg_store *store = NULL;
    char *error = NULL;
    double rate = -1;
    if (sg_store_open(path, SG_STORE_LAZY_SYNC, &store, &error) == SG_OK) {
        struct sg_verdict_row rows[500];
        for (size_t i = 0; i < SG_NELEM(rows); i++)
            rows[i] = (struct sg_verdict_row){.time = 1, .queue_id = "4XyZ1abc",
                                              .action = "accept", .score = 1.5,
                                              .top_rule = i % 4 ? NULL : "invoice"};
        unsigned long long n = 0;
        double start = now(), end = start + seconds;
        while (now() < end && sg_store_verdicts_put(store, rows, SG_NELEM(rows), &error) == SG_OK)
            n += SG_NELEM(rows);
        if (error == NULL && n > 0)
            rate = (double)n / (now() - start);
        sg_store_close(&store);
    }
    if (error != NULL) {
        fprintf(stderr, "bench_quarantine: %s\n", error);
        free(error);
    }
    char *p = sg_xasprintf("%s", path);
    unlink(p);
    free(p);
    p = sg_xasprintf("%s-wal", path);
    unlink(p);
    free(p);
    p = sg_xasprintf("%s-shm", path);
    unlink(p);
    free(p);
    free(path);
    return rate;
}

int
main(int argc, char **argv)
{
    double seconds = 3;
    const char *base = "/var/tmp";
    int ch;
    while ((ch = getopt(argc, argv, "s:d:")) != -1) {
        if (ch == 's')
            seconds = atof(optarg);
        else if (ch == 'd')
            base = optarg;
        else {
            fprintf(stderr, "usage: bench_quarantine [-s SECONDS] [-d DIR]\n");
            return 64;
        }
    }
    char *dir = sg_xasprintf("%s/sg-bench-quarantine.XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror("bench_quarantine: mkdtemp");
        return 1;
    }
    printf("sendguard bench_quarantine: the SQLite store in %s, %.0f s per row\n\n", base,
           seconds);
    printf("  %-44s %12s\n", "what", "per second");
    static const struct {
        size_t size;
        int threads;
    } cases[] = {{5 * 1024, 1}, {5 * 1024, 4}, {1024 * 1024, 1}, {1024 * 1024, 4}};
    int status = 0;
    for (size_t i = 0; i < SG_NELEM(cases); i++) {
        double rate = run_puts(dir, cases[i].size, cases[i].threads, seconds);
        char what[64];
        snprintf(what, sizeof(what), "quarantine %s message, %d thread%s",
                 cases[i].size > 100000 ? "1 MB" : "5 KB", cases[i].threads,
                 cases[i].threads > 1 ? "s" : "");
        if (rate < 0)
            status = 1;
        printf("  %-44s %12.0f\n", what, rate);
    }
    double rows = run_verdicts(dir, seconds);
    if (rows < 0)
        status = 1;
    printf("  %-44s %12.0f\n", "verdict rows (batches of 500, no fsync)", rows);
    rmdir(dir);
    free(dir);
    return status;
}
