/*
 * recorder.c - statistics rows and the retention purge, in a thread of
 * their own (recorder.h).
 */
#include "recorder.h"

#include "log.h"
#include "store.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLUSH_INTERVAL 1    /* seconds between writes of queued rows */
#define PURGE_INTERVAL 3600 /* seconds between retention purges */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static bool stopping, running;
static pthread_t thread;
static struct sg_verdict_row *queue; /* rows waiting, under lock */
static size_t nqueue, capqueue;
static unsigned long long dropped; /* rows not queued since the last write, under lock */
static const struct sg_config *config;
static struct sg_store *db;

/* rows_free - free the strings of n rows and the array */
static void
rows_free(struct sg_verdict_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].queue_id);
        free(rows[i].action);
        free(rows[i].top_rule);
    }
    free(rows);
}

/* sg_recorder_add - append under the lock */
void
sg_recorder_add(long long time, const char *queue_id, const char *action, double score,
                const char *top_rule)
{
    pthread_mutex_lock(&lock);
    if (!running || nqueue >= SG_RECORDER_MAX_QUEUE) {
        dropped++;
        pthread_mutex_unlock(&lock);
        return;
    }
    if (nqueue == capqueue) {
        capqueue = capqueue ? capqueue * 2 : 256;
        queue = sg_xrealloc(queue, capqueue * sizeof(*queue));
    }
    struct sg_verdict_row *r = &queue[nqueue++];
    r->time = time;
    r->queue_id = queue_id ? sg_xstrdup(queue_id) : NULL;
    r->action = sg_xstrdup(action);
    r->score = score;
    r->top_rule = top_rule ? sg_xstrdup(top_rule) : NULL;
    pthread_mutex_unlock(&lock);
}

/* flush - write the queued rows; when the database refuses (locked, full),
 * they go back to the front of the queue for the next try */
static void
flush(void)
{
    pthread_mutex_lock(&lock);
    struct sg_verdict_row *rows = queue;
    size_t n = nqueue;
    unsigned long long lost = dropped;
    queue = NULL;
    nqueue = capqueue = 0;
    dropped = 0;
    pthread_mutex_unlock(&lock);
    if (lost > 0)
        sg_warn("statistics: %llu verdict row(s) dropped (the queue was full)", lost);
    char *error = NULL;
    if (n == 0 || sg_store_verdicts_put(db, rows, n, &error) == SG_OK) {
        rows_free(rows, n);
        return;
    }
    sg_warn("statistics: %zu verdict row(s) not written yet (retried): %s", n, error);
    free(error);
    pthread_mutex_lock(&lock);
    /* Older rows first; what does not fit in the bound is dropped, newest first. */
    size_t room = nqueue >= SG_RECORDER_MAX_QUEUE ? 0 : SG_RECORDER_MAX_QUEUE - nqueue;
    size_t keep = n < room ? n : room;
    struct sg_verdict_row *merged = sg_xmalloc((keep + nqueue + 1) * sizeof(*merged));
    memcpy(merged, rows, keep * sizeof(*rows));
    if (nqueue > 0)
        memcpy(merged + keep, queue, nqueue * sizeof(*queue));
    dropped += n - keep;
    free(queue);
    queue = merged;
    nqueue += keep;
    capqueue = nqueue + 1;
    pthread_mutex_unlock(&lock);
    /* The rows that did not fit (none unless the queue is full): their strings. */
    for (size_t i = keep; i < n; i++) {
        free(rows[i].queue_id);
        free(rows[i].action);
        free(rows[i].top_rule);
    }
    free(rows);
}

/* purge - remove what is older than the retention */
static void
purge(void)
{
    size_t nq = 0, nv = 0;
    char *error = NULL;
    long long before = (long long)time(NULL) - config->retention;
    if (sg_store_purge(db, before, &nq, &nv, &error) != SG_OK) {
        sg_warn("retention purge failed (retried in an hour): %s", error);
        free(error);
    } else if (nq > 0 || nv > 0) {
        sg_info("retention purge: removed %zu quarantined message(s) and %zu verdict row(s) "
                "older than %lld s",
                nq, nv, config->retention);
    }
}

/* run - write every second, purge every hour, until stopping */
static void *
run(void *arg)
{
    (void)arg;
    time_t next_purge = 0;
    pthread_mutex_lock(&lock);
    for (;;) {
        bool stop = stopping;
        pthread_mutex_unlock(&lock);
        flush();
        if (stop)
            break;
        if (config->retention > 0 && time(NULL) >= next_purge) {
            purge();
            next_purge = time(NULL) + PURGE_INTERVAL;
        }
        pthread_mutex_lock(&lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += FLUSH_INTERVAL;
        while (!stopping && pthread_cond_timedwait(&wake, &lock, &until) == 0)
            ;
    }
    return NULL;
}

/* sg_recorder_start - handle, then thread */
bool
sg_recorder_start(const struct sg_config *cfg, char **error_r)
{
    config = cfg;
    if (sg_store_open(cfg->database, SG_STORE_MUST_EXIST | SG_STORE_LAZY_SYNC, &db, error_r) !=
        SG_OK)
        return false;
    /* libmilter turns SIGTERM, SIGINT and SIGHUP into an orderly stop by
     * blocking them in every thread but its own signal thread; a thread
     * started before smfi_main must block them too, or a SIGTERM landing
     * there kills the process. */
    sigset_t stop_signals, old;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
    pthread_mutex_lock(&lock);
    running = pthread_create(&thread, NULL, run, NULL) == 0;
    pthread_mutex_unlock(&lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!running) {
        *error_r = sg_xstrdup("cannot start the statistics thread");
        sg_store_close(&db);
        return false;
    }
    return true;
}

/* sg_recorder_stop - last write, join, close */
void
sg_recorder_stop(void)
{
    pthread_mutex_lock(&lock);
    if (!running) {
        pthread_mutex_unlock(&lock);
        return;
    }
    stopping = true;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(thread, NULL);
    pthread_mutex_lock(&lock);
    running = false;
    pthread_mutex_unlock(&lock);
    flush(); /* rows added while the thread finished */
    pthread_mutex_lock(&lock);
    if (nqueue > 0)
        sg_warn("statistics: %zu verdict row(s) lost at exit (the database refused them)",
                nqueue);
    rows_free(queue, nqueue);
    queue = NULL;
    nqueue = capqueue = 0;
    pthread_mutex_unlock(&lock);
    sg_store_close(&db);
}
