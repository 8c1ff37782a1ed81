/*
 * test_store.c - the SQLite store: every field and the exact raw bytes come
 * back; list filters and orders; state changes, deletion, purge and
 * statistics; schema migration and refusal of a newer schema; parallel
 * writers on one file; a full disk, a read-only database and a missing
 * directory fail cleanly;
 * the database is created 0660; release tokens work once; a message stored
 * again after an MTA retry is recognised.
 */
#include "store.h"
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh database in a private directory. */
struct fixture {
    char *dir;
    char *path;
    struct sg_store *store;
};

/* setup - open a new database */
static int
setup(void **state)
{
    struct fixture *fx = sg_xcalloc(1, sizeof(*fx));
    char *error = NULL;
    fx->dir = tu_tempdir();
    fx->path = sg_xasprintf("%s/sendguard.db", fx->dir);
    if (sg_store_open(fx->path, 0, &fx->store, &error) != SG_OK) {
        fprintf(stderr, "%s\n", error);
        free(error);
        return -1;
    }
    *state = fx;
    return 0;
}

/* teardown - close and remove */
static int
teardown(void **state)
{
    struct fixture *fx = *state;
    sg_store_close(&fx->store);
    tu_rmtree(fx->dir);
    free(fx->dir);
    free(fx->path);
    free(fx);
    return 0;
}

/* sample - a message with every field set; raw is 8-bit with NULs, raw_len bytes */
static struct sg_quarantined
sample(long long time, const char *env_from, const char *rcpt, const char *reason, size_t raw_len)
{
    struct sg_quarantined q = {0};
    q.time = time;
    q.queue_id = "4XyZ1abc";
    q.client_addr = "192.0.2.7";
    q.env_from = (char *)env_from;
    q.rcpts = sg_xcalloc(2, sizeof(*q.rcpts));
    q.rcpts[0] = (char *)rcpt;
    q.rcpts[1] = "second@example.org";
    q.nrcpts = 2;
    q.from_header = "\"Boekhouding\" <factuur@example.nl>";
    q.subject = "URGENT: factuur \xc3\xa9\xc3\xa9n";
    q.score = 9.5;
    q.reason = (char *)reason;
    q.verdict_json = "{\"action\": \"quarantine\", \"score\": 9.5}";
    unsigned char *raw = sg_xmalloc(raw_len ? raw_len : 1);
    for (size_t i = 0; i < raw_len; i++)
        raw[i] = (unsigned char)(i * 131 + i / 251);
    if (raw_len > 3) {
        raw[1] = 0;
        raw[2] = 0xff;
    }
    q.raw = raw;
    q.raw_len = raw_len;
    return q;
}

/* sample_free - what sample allocated */
static void
sample_free(struct sg_quarantined *q)
{
    free(q->raw);
    free(q->rcpts);
}

/* put_ok - store q or fail the test; returns the id */
static long long
put_ok(struct sg_store *store, const struct sg_quarantined *q)
{
    long long id = -1;
    char *error = NULL;
    enum sg_rc rc = sg_store_quarantine_put(store, q, &id, NULL, &error);
    if (rc != SG_OK)
        fail_msg("put: %s", error);
    return id;
}

/* test_round_trip - get returns every field and the exact bytes, also for 2 MB */
static void
test_round_trip(void **state)
{
    struct fixture *fx = *state;
    static const size_t sizes[] = {0, 5, 70 * 1000, 2 * 1024 * 1024};
    for (size_t k = 0; k < SG_NELEM(sizes); k++) {
        struct sg_quarantined in = sample(1000 + (long long)k, "bounce@example.nl",
                                          "klant@example.com", "urgency", sizes[k]);
        long long id = put_ok(fx->store, &in);
        struct sg_quarantined *out = NULL;
        char *error = NULL;
        assert_int_equal(sg_store_quarantine_get(fx->store, id, &out, &error), SG_OK);
        assert_int_equal(out->id, id);
        assert_int_equal(out->time, in.time);
        assert_string_equal(out->queue_id, in.queue_id);
        assert_string_equal(out->client_addr, in.client_addr);
        assert_string_equal(out->env_from, in.env_from);
        assert_int_equal(out->nrcpts, 2);
        assert_string_equal(out->rcpts[0], "klant@example.com");
        assert_string_equal(out->rcpts[1], "second@example.org");
        assert_string_equal(out->from_header, in.from_header);
        assert_string_equal(out->subject, in.subject);
        assert_true(out->score == 9.5);
        assert_string_equal(out->reason, "urgency");
        assert_string_equal(out->verdict_json, in.verdict_json);
        assert_string_equal(out->state, "held");
        assert_non_null(out->raw);
        assert_int_equal(out->raw_len, sizes[k]);
        if (sizes[k] > 0)
            assert_memory_equal(out->raw, in.raw, sizes[k]);
        sg_quarantined_free(&out);
        assert_null(out);
        sample_free(&in);
    }
}

/* test_nulls - NULL strings and no recipients come back as NULL and none */
static void
test_nulls(void **state)
{
    struct fixture *fx = *state;
    struct sg_quarantined in = {.time = 5, .score = -1.25};
    struct sg_quarantined *out = NULL;
    char *error = NULL;
    long long id = put_ok(fx->store, &in);
    assert_int_equal(sg_store_quarantine_get(fx->store, id, &out, &error), SG_OK);
    assert_null(out->queue_id);
    assert_null(out->env_from);
    assert_null(out->subject);
    assert_null(out->reason);
    assert_int_equal(out->nrcpts, 0);
    assert_int_equal(out->raw_len, 0);
    assert_true(out->score == -1.25);
    sg_quarantined_free(&out);
}

/* expect_ids - list with f gives exactly these ids, in this order */
static void
expect_ids(struct sg_store *store, const struct sg_store_filter *f, const long long *ids, size_t n)
{
    struct sg_quarantined **list = NULL;
    size_t got = 0;
    char *error = NULL;
    if (sg_store_quarantine_list(store, f, &list, &got, &error) != SG_OK)
        fail_msg("list: %s", error);
    if (got != n)
        fail_msg("list: %zu messages, not %zu (sender %s, recipient %s, reason %s, state %s)", got,
                 n, f && f->sender ? f->sender : "-", f && f->recipient ? f->recipient : "-",
                 f && f->reason ? f->reason : "-", f && f->state ? f->state : "-");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(list[i]->id, ids[i]);
        assert_null(list[i]->raw);
        assert_int_equal(list[i]->nrcpts, 2);
    }
    sg_quarantined_list_free(&list, got);
    assert_null(list);
}

/* test_list - newest first, each filter alone and combined */
static void
test_list(void **state)
{
    struct fixture *fx = *state;
    struct sg_quarantined a = sample(100, "alice@Example.NL", "x@one.test", "urgency", 10);
    struct sg_quarantined b = sample(300, "bob@example.com", "y@two.test", "payment-change", 10);
    struct sg_quarantined c = sample(200, "carol@example.nl", "Z@Two.test", "urgency", 10);
    b.from_header = "Bob <bob@example.com>";
    long long ia = put_ok(fx->store, &a), ib = put_ok(fx->store, &b), ic = put_ok(fx->store, &c);
    char *error = NULL;
    assert_int_equal(sg_store_quarantine_set_state(fx->store, ic, "released", &error), SG_OK);

    expect_ids(fx->store, NULL, (long long[]){ib, ic, ia}, 3);
    struct sg_store_filter f = {.sender = "example.nl"};
    expect_ids(fx->store, &f, (long long[]){ic, ia}, 2);
    f = (struct sg_store_filter){.sender = "BOEKHOUDING"}; /* From: header, any case */
    expect_ids(fx->store, &f, (long long[]){ic, ia}, 2);
    f = (struct sg_store_filter){.sender = "%"}; /* no LIKE wildcards */
    expect_ids(fx->store, &f, NULL, 0);
    f = (struct sg_store_filter){.recipient = "two.TEST"};
    expect_ids(fx->store, &f, (long long[]){ib, ic}, 2);
    f = (struct sg_store_filter){.recipient = "second@"};
    expect_ids(fx->store, &f, (long long[]){ib, ic, ia}, 3);
    f = (struct sg_store_filter){.reason = "urgency"};
    expect_ids(fx->store, &f, (long long[]){ic, ia}, 2);
    f = (struct sg_store_filter){.since = 200};
    expect_ids(fx->store, &f, (long long[]){ib, ic}, 2);
    f = (struct sg_store_filter){.state = "held"};
    expect_ids(fx->store, &f, (long long[]){ib, ia}, 2);
    f = (struct sg_store_filter){.state = "released", .reason = "urgency", .sender = "carol"};
    expect_ids(fx->store, &f, (long long[]){ic}, 1);
    f = (struct sg_store_filter){.limit = 2};
    expect_ids(fx->store, &f, (long long[]){ib, ic}, 2);
    sample_free(&a);
    sample_free(&b);
    sample_free(&c);
}

/* test_state_delete - set_state changes the state; delete removes; unknown ids are SG_PERM */
static void
test_state_delete(void **state)
{
    struct fixture *fx = *state;
    struct sg_quarantined in = sample(10, "a@example.nl", "b@example.nl", "urgency", 100);
    long long id = put_ok(fx->store, &in);
    struct sg_quarantined *out = NULL;
    char *error = NULL;

    assert_int_equal(sg_store_quarantine_set_state(fx->store, id, "deleted", &error), SG_OK);
    assert_int_equal(sg_store_quarantine_get(fx->store, id, &out, &error), SG_OK);
    assert_string_equal(out->state, "deleted");
    sg_quarantined_free(&out);

    assert_int_equal(sg_store_quarantine_set_state(fx->store, id, "gone", &error), SG_PERM);
    assert_non_null(strstr(error, "unknown state \"gone\""));
    free(error);
    error = NULL;

    assert_int_equal(sg_store_quarantine_delete(fx->store, id, &error), SG_OK);
    assert_int_equal(sg_store_quarantine_get(fx->store, id, &out, &error), SG_PERM);
    assert_null(out);
    char *want = sg_xasprintf("%s: no quarantined message %lld", fx->path, id);
    assert_string_equal(error, want);
    free(want);
    free(error);
    error = NULL;
    assert_int_equal(sg_store_quarantine_delete(fx->store, id, &error), SG_PERM);
    assert_non_null(strstr(error, "no quarantined message"));
    free(error);
    error = NULL;
    assert_int_equal(sg_store_quarantine_set_state(fx->store, 9999, "held", &error), SG_PERM);
    assert_non_null(strstr(error, "no quarantined message 9999"));
    free(error);
    error = NULL;
    assert_int_equal(sg_store_quarantine_get(fx->store, 12345, &out, &error), SG_PERM);
    assert_non_null(strstr(error, "no quarantined message 12345"));
    free(error);
    sample_free(&in);
}

/* count - rows in a table, read behind the store's back */
static long long
count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* test_purge - old rows of both tables go, with their recipients and raw bytes */
static void
test_purge(void **state)
{
    struct fixture *fx = *state;
    char *error = NULL;
    for (long long t = 1; t <= 10; t++) {
        struct sg_quarantined in = sample(t * 100, "a@example.nl", "b@example.nl", "urgency", 50);
        put_ok(fx->store, &in);
        sample_free(&in);
        assert_int_equal(
            sg_store_verdict_put(fx->store, t * 100, "QID", "accept", 1.0, NULL, &error), SG_OK);
    }
    size_t nq = 99, nv = 99;
    assert_int_equal(sg_store_purge(fx->store, 450, &nq, &nv, &error), SG_OK);
    assert_int_equal(nq, 4);
    assert_int_equal(nv, 4);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine"), 6);
    assert_int_equal(count(fx->path, "SELECT min(time) FROM quarantine"), 500);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine_rcpt"), 12);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine_raw"), 6);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM verdict"), 6);
    assert_int_equal(count(fx->path, "SELECT min(time) FROM verdict"), 500);
    assert_int_equal(sg_store_purge(fx->store, 450, NULL, NULL, &error), SG_OK);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM verdict"), 6);
}

/* test_stats - counts per action and the top 10 rules, since a time */
static void
test_stats(void **state)
{
    struct fixture *fx = *state;
    char *error = NULL;
    /* rule r<k> is the top rule of k messages, k = 1..12; all "tag" */
    for (int k = 1; k <= 12; k++)
        for (int i = 0; i < k; i++) {
            char rule[16];
            snprintf(rule, sizeof(rule), "r%02d", k);
            assert_int_equal(sg_store_verdict_put(fx->store, 1000, "QID", "tag", 5.0, rule, &error),
                             SG_OK);
        }
    for (int i = 0; i < 100; i++)
        assert_int_equal(sg_store_verdict_put(fx->store, 1000 + i, NULL, "accept", 0, NULL, &error),
                         SG_OK);
    assert_int_equal(sg_store_verdict_put(fx->store, 10, NULL, "reject", 20, "old", &error), SG_OK);

    struct sg_store_stats s;
    assert_int_equal(sg_store_stats(fx->store, 1000, &s, &error), SG_OK);
    assert_int_equal(s.total, 78 + 100);
    assert_int_equal(s.nactions, 2);
    assert_string_equal(s.actions[0].name, "accept");
    assert_int_equal(s.actions[0].n, 100);
    assert_string_equal(s.actions[1].name, "tag");
    assert_int_equal(s.actions[1].n, 78);
    assert_int_equal(s.nrules, SG_STORE_STATS_TOP);
    assert_string_equal(s.rules[0].name, "r12");
    assert_int_equal(s.rules[0].n, 12);
    assert_string_equal(s.rules[9].name, "r03");
    assert_int_equal(s.rules[9].n, 3);
    sg_store_stats_clear(&s);
    assert_null(s.actions);

    assert_int_equal(sg_store_stats(fx->store, 0, &s, &error), SG_OK);
    assert_int_equal(s.nactions, 3);
    assert_string_equal(s.actions[2].name, "reject");
    sg_store_stats_clear(&s);

    assert_int_equal(sg_store_stats(fx->store, 5000, &s, &error), SG_OK);
    assert_int_equal(s.total, 0);
    assert_int_equal(s.nactions, 0);
    assert_int_equal(s.nrules, 0);
    sg_store_stats_clear(&s);
}

/* make_db - a database made by hand with the given user_version and no tables */
static void
make_db(const char *path, int version)
{
    sqlite3 *db = NULL;
    char sql[64];
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* test_migration - version 0 is brought up to date; a future version is refused */
static void
test_migration(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *old = sg_xasprintf("%s/old.db", dir);
    char *future = sg_xasprintf("%s/future.db", dir);
    struct sg_store *store = NULL;
    char *error = NULL;

    make_db(old, 0);
    assert_int_equal(sg_store_open(old, 0, &store, &error), SG_OK);
    struct sg_quarantined in = sample(1, "a@example.nl", "b@example.nl", "urgency", 10);
    put_ok(store, &in);
    sample_free(&in);
    sg_store_close(&store);
    assert_null(store);
    assert_int_equal(count(old, "PRAGMA user_version"), 3);
    assert_int_equal(count(old, "SELECT count(*) FROM quarantine"), 1);
    /* Opening again migrates nothing and keeps the data. */
    assert_int_equal(sg_store_open(old, 0, &store, &error), SG_OK);
    sg_store_close(&store);
    assert_int_equal(count(old, "SELECT count(*) FROM quarantine"), 1);

    make_db(future, 99);
    assert_int_equal(sg_store_open(future, 0, &store, &error), SG_PERM);
    assert_null(store);
    assert_non_null(strstr(error, future));
    assert_non_null(strstr(error, "schema version 99 is newer"));
    free(error);
    assert_int_equal(count(future, "PRAGMA user_version"), 99);

    free(old);
    free(future);
    tu_rmtree(dir);
    free(dir);
}

/* Parallel writers */
#define SG_T_THREADS 4
#define SG_T_PER_THREAD 200

struct writer {
    const char *path;
    int n;
    enum sg_rc rc;
    char *error;
};

/* writer - its own handle; SG_T_PER_THREAD messages and verdicts */
static void *
writer(void *arg)
{
    struct writer *w = arg;
    struct sg_store *store = NULL;
    w->rc = sg_store_open(w->path, 0, &store, &w->error);
    for (int i = 0; i < SG_T_PER_THREAD && w->rc == SG_OK; i++) {
        struct sg_quarantined q = {
            .time = i, .env_from = "t@example.nl", .raw = (void *)"x", .raw_len = 1, .score = w->n};
        w->rc = sg_store_quarantine_put(store, &q, NULL, NULL, &w->error);
        if (w->rc == SG_OK)
            w->rc = sg_store_verdict_put(store, i, "QID", "quarantine", w->n, "r", &w->error);
    }
    sg_store_close(&store);
    return NULL;
}

/* test_concurrent - 4 threads with their own handles: every row arrives */
static void
test_concurrent(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = sg_xasprintf("%s/shared.db", dir);
    pthread_t t[SG_T_THREADS];
    struct writer w[SG_T_THREADS];
    for (int i = 0; i < SG_T_THREADS; i++) {
        w[i] = (struct writer){.path = path, .n = i};
        assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
    }
    for (int i = 0; i < SG_T_THREADS; i++) {
        pthread_join(t[i], NULL);
        if (w[i].rc != SG_OK)
            fail_msg("writer %d: %s", i, w[i].error);
    }
    assert_int_equal(count(path, "SELECT count(*) FROM quarantine"),
                     SG_T_THREADS * SG_T_PER_THREAD);
    assert_int_equal(count(path, "SELECT count(*) FROM verdict"), SG_T_THREADS * SG_T_PER_THREAD);
    assert_int_equal(count(path, "SELECT count(DISTINCT score) FROM verdict"), SG_T_THREADS);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

/* test_shared_handle - one handle used by several threads at once */
static void *
shared_writer(void *arg)
{
    struct sg_store *store = arg;
    char *error = NULL;
    for (int i = 0; i < 50; i++) {
        if (sg_store_verdict_put(store, i, NULL, "accept", 0, NULL, &error) != SG_OK) {
            free(error);
            return (void *)1;
        }
    }
    return NULL;
}

/* test_shared_handle - the handle's mutex makes sharing safe */
static void
test_shared_handle(void **state)
{
    struct fixture *fx = *state;
    pthread_t t[SG_T_THREADS];
    for (int i = 0; i < SG_T_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, shared_writer, fx->store), 0);
    for (int i = 0; i < SG_T_THREADS; i++) {
        void *ret = NULL;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    assert_int_equal(count(fx->path, "SELECT count(*) FROM verdict"), SG_T_THREADS * 50);
}

/* test_missing_dir - an error naming the path, nothing created */
static void
test_missing_dir(void **state)
{
    (void)state;
    struct sg_store *store = NULL;
    char *error = NULL;
    const char *path = "/nonexistent-sendguard-dir/q.db";
    assert_int_equal(sg_store_open(path, 0, &store, &error), SG_TEMP);
    assert_null(store);
    assert_non_null(strstr(error, path));
    assert_non_null(strstr(error, "No such file or directory"));
    free(error);
}

/* test_read_only - a database this process may not write (a read-only
 * file or disk; as root the test drops to nobody, which root's permission
 * bypass would otherwise hide) is an error naming it, not a crash, and the
 * data stays */
static void
test_read_only(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = sg_xasprintf("%s/ro.db", dir);
    struct sg_store *store = NULL;
    char *error = NULL;
    assert_int_equal(sg_store_open(path, 0, &store, &error), SG_OK);
    struct sg_quarantined in = sample(1, "a@example.nl", "b@example.nl", "urgency", 10);
    put_ok(store, &in);
    sg_store_close(&store); /* the last connection removes -wal and -shm */
    assert_int_equal(chmod(dir, 0555), 0);
    assert_int_equal(chmod(path, 0444), 0);
    uid_t uid = geteuid();
    if (uid == 0)
        assert_int_equal(seteuid(65534), 0);
    enum sg_rc rc = sg_store_open(path, SG_STORE_MUST_EXIST, &store, &error);
    if (rc == SG_OK) /* SQLite may open it read-only: then the first write fails */
        rc = sg_store_quarantine_put(store, &in, NULL, NULL, &error);
    if (uid == 0)
        assert_int_equal(seteuid(0), 0);
    sg_store_close(&store);
    assert_int_equal(rc, SG_TEMP);
    assert_non_null(strstr(error, path));
    free(error);
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(count(path, "SELECT count(*) FROM quarantine"), 1);
    sample_free(&in);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

/* test_not_a_database - a file that is not SQLite is refused, not overwritten */
static void
test_not_a_database(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_write(dir, "junk.db",
                          "this is not a database, it is a text file that is long "
                          "enough to have a header of one hundred bytes or more...",
                          0640);
    struct sg_store *store = NULL;
    char *error = NULL;
    assert_int_equal(sg_store_open(path, 0, &store, &error), SG_INTERNAL);
    assert_non_null(strstr(error, path));
    free(error);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

/* test_full_disk - a write that fails (file size limit, like a full disk)
 * returns SG_TEMP with the reason; the store stays usable afterwards */
static void
test_full_disk(void **state)
{
    struct fixture *fx = *state;
    struct rlimit old, small;
    char *error = NULL;
    struct sg_quarantined in = sample(1, "a@example.nl", "b@example.nl", "urgency", 1024 * 1024);

    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    /* Lower only the soft limit, so that it can be raised again. */
    small.rlim_cur = 256 * 1024;
    small.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    enum sg_rc rc = sg_store_quarantine_put(fx->store, &in, NULL, NULL, &error);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, SG_TEMP);
    assert_non_null(strstr(error, fx->path));
    assert_non_null(strstr(error, "cannot quarantine message"));
    free(error);
    error = NULL;

    /* Nothing half-stored, and the next put works. */
    struct sg_quarantined **list = NULL;
    size_t n = 9;
    assert_int_equal(sg_store_quarantine_list(fx->store, NULL, &list, &n, &error), SG_OK);
    assert_int_equal(n, 0);
    sg_quarantined_list_free(&list, n);
    long long id = put_ok(fx->store, &in);
    struct sg_quarantined *out = NULL;
    assert_int_equal(sg_store_quarantine_get(fx->store, id, &out, &error), SG_OK);
    assert_int_equal(out->raw_len, in.raw_len);
    assert_memory_equal(out->raw, in.raw, in.raw_len);
    sg_quarantined_free(&out);
    sample_free(&in);
}

/* Schema version 1 as it shipped, frozen here to test the migration from it. */
static const char schema_v1[] =
    "CREATE TABLE quarantine ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time INTEGER NOT NULL,"
    " queue_id TEXT, client_addr TEXT, env_from TEXT,"
    " from_header TEXT, subject TEXT,"
    " score REAL NOT NULL, reason TEXT, verdict_json TEXT,"
    " state TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'released', 'deleted')));"
    "CREATE INDEX quarantine_time ON quarantine(time);"
    "CREATE TABLE quarantine_rcpt ("
    " quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,"
    " pos INTEGER NOT NULL, addr TEXT NOT NULL,"
    " PRIMARY KEY (quarantine_id, pos));"
    "CREATE TABLE quarantine_raw ("
    " quarantine_id INTEGER PRIMARY KEY REFERENCES quarantine(id) ON DELETE CASCADE,"
    " raw BLOB NOT NULL);"
    "CREATE TABLE verdict ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL, queue_id TEXT, action TEXT NOT NULL,"
    " score REAL NOT NULL, top_rule TEXT);"
    "CREATE INDEX verdict_time ON verdict(time);"
    "INSERT INTO quarantine (time, env_from, score, reason) VALUES (100, 'old@example.nl', 9, 'r');"
    "INSERT INTO quarantine_raw VALUES (1, x'4142');"
    "INSERT INTO verdict (time, action, score) VALUES (100, 'quarantine', 9);"
    "PRAGMA user_version = 1;";

/* test_migration_v1 - a version 1 database with data is migrated to the
 * current version, keeps its rows and can release them */
static void
test_migration_v1(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = sg_xasprintf("%s/v1.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    struct sg_store *store = NULL;
    char *error = NULL;
    assert_int_equal(sg_store_open(path, SG_STORE_MUST_EXIST, &store, &error), SG_OK);
    assert_int_equal(count(path, "PRAGMA user_version"), 3);
    struct sg_quarantined *q = NULL;
    assert_int_equal(sg_store_quarantine_get(store, 1, &q, &error), SG_OK);
    assert_string_equal(q->env_from, "old@example.nl");
    assert_null(q->fingerprint);
    assert_int_equal(q->raw_len, 2);
    assert_memory_equal(q->raw, "AB", 2);
    sg_quarantined_free(&q);
    assert_int_equal(sg_store_release_begin(store, 1, "tok", NULL, 200, 300, false, &error), SG_OK);
    long long id = 0;
    assert_int_equal(sg_store_release_take(store, "tok", NULL, 250, &id, &error), SG_OK);
    assert_int_equal(id, 1);
    sg_store_close(&store);
    assert_int_equal(count(path, "SELECT count(*) FROM verdict"), 1);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

/* test_open_must_exist - tools never create a database */
static void
test_open_must_exist(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = sg_xasprintf("%s/none.db", dir);
    struct sg_store *store = NULL;
    char *error = NULL;
    assert_int_not_equal(sg_store_open(path, SG_STORE_MUST_EXIST, &store, &error), SG_OK);
    assert_null(store);
    assert_non_null(strstr(error, path));
    free(error);
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

/* test_release - a token releases its message once; a replayed, forged or
 * expired token does nothing; a refused re-injection leaves the message held */
static void
test_release(void **state)
{
    struct fixture *fx = *state;
    char *error = NULL;
    long long got = 0;
    bool unused = false;
    struct sg_quarantined in = sample(1000, "a@example.nl", "b@example.nl", "urgency", 10);
    long long id = put_ok(fx->store, &in);
    long long other = put_ok(fx->store, &in);
    sample_free(&in);

    /* Unknown message: refused. */
    assert_int_equal(sg_store_release_begin(fx->store, 999, "t0", NULL, 1000, 1600, false, &error), SG_PERM);
    assert_non_null(strstr(error, "no quarantined message 999"));
    free(error);
    error = NULL;

    assert_int_equal(sg_store_release_begin(fx->store, id, "t1", NULL, 1000, 1600, false, &error), SG_OK);
    /* A second release while the first is in progress: refused. */
    assert_int_equal(sg_store_release_begin(fx->store, id, "t2", NULL, 1010, 1610, false, &error), SG_PERM);
    assert_non_null(strstr(error, "being released"));
    free(error);
    error = NULL;
    /* A forged token: nothing. */
    assert_int_equal(sg_store_release_take(fx->store, "forged", NULL, 1020, &got, &error), SG_PERM);
    free(error);
    error = NULL;
    /* The real one, once. */
    assert_int_equal(sg_store_release_take(fx->store, "t1", NULL, 1020, &got, &error), SG_OK);
    assert_int_equal(got, id);
    assert_int_equal(sg_store_release_take(fx->store, "t1", NULL, 1021, &got, &error), SG_PERM);
    free(error);
    error = NULL;
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine WHERE state = 'released'"),
                     1);
    assert_int_equal(sg_store_release_end(fx->store, id, "t1", SG_RELEASE_ACCEPTED, &unused, &error), SG_OK);
    assert_false(unused);
    /* Released: a second release is refused. */
    assert_int_equal(sg_store_release_begin(fx->store, id, "t3", NULL, 1030, 1630, false, &error), SG_PERM);
    assert_non_null(strstr(error, "already released"));
    free(error);
    error = NULL;

    /* Expired token: nothing; the message can be released again afterwards. */
    assert_int_equal(sg_store_release_begin(fx->store, other, "t4", NULL, 1000, 1100, false, &error), SG_OK);
    assert_int_equal(sg_store_release_take(fx->store, "t4", NULL, 1101, &got, &error), SG_PERM);
    free(error);
    error = NULL;
    assert_int_equal(sg_store_release_begin(fx->store, other, "t5", NULL, 1200, 1800, false, &error), SG_OK);
    /* The MTA took it but refused it later: the message is held again. */
    assert_int_equal(sg_store_release_take(fx->store, "t5", NULL, 1201, &got, &error), SG_OK);
    assert_int_equal(sg_store_release_end(fx->store, other, "t5", SG_RELEASE_REFUSED, &unused, &error), SG_OK);
    assert_false(unused);
    struct sg_quarantined *q = NULL;
    assert_int_equal(sg_store_quarantine_get(fx->store, other, &q, &error), SG_OK);
    assert_string_equal(q->state, "held");
    sg_quarantined_free(&q);
    /* Delivered without passing the milter: released, and the token reported unused. */
    assert_int_equal(sg_store_release_begin(fx->store, other, "t6", NULL, 1300, 1900, false, &error), SG_OK);
    assert_int_equal(
        sg_store_release_end(fx->store, other, "t6", SG_RELEASE_ACCEPTED, &unused, &error), SG_OK);
    assert_true(unused);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM release_token"), 0);

    /* Queued (sendmail): released at once, and the token waits for the milter. */
    long long third = put_ok(fx->store, &(struct sg_quarantined){.time = 1000, .score = 9});
    assert_int_equal(sg_store_release_begin(fx->store, third, "t7", NULL, 1400, 1900, false, &error), SG_OK);
    assert_int_equal(
        sg_store_release_end(fx->store, third, "t7", SG_RELEASE_QUEUED, &unused, &error), SG_OK);
    assert_true(unused);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine WHERE state = 'released'"),
                     3);
    assert_int_equal(sg_store_release_take(fx->store, "t7", NULL, 1450, &got, &error), SG_OK);
    assert_int_equal(got, third);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM release_token"), 0);
}

/* test_release_binding - a token releases only the body it was made for;
 * --force replaces a live token; a release whose answer never came is
 * decided by whether the milter took the token */
static void
test_release_binding(void **state)
{
    struct fixture *fx = *state;
    char *error = NULL;
    long long got = 0;
    bool unused = false;
    struct sg_quarantined in = sample(1000, "a@example.nl", "b@example.nl", "urgency", 10);
    long long id = put_ok(fx->store, &in);
    long long id2 = put_ok(fx->store, &in);
    sample_free(&in);

    assert_int_equal(
        sg_store_release_begin(fx->store, id, "tk", "hash-a", 1000, 1600, false, &error), SG_OK);
    /* Another message carrying the live token: nothing, and the token stays. */
    assert_int_equal(sg_store_release_take(fx->store, "tk", "hash-b", 1010, &got, &error),
                     SG_PERM);
    assert_non_null(strstr(error, "another message"));
    free(error);
    error = NULL;
    assert_int_equal(count(fx->path, "SELECT count(*) FROM release_token"), 1);
    assert_int_equal(sg_store_release_take(fx->store, "tk", "hash-a", 1020, &got, &error), SG_OK);
    assert_int_equal(got, id);

    /* An interrupted release blocks the next one, unless forced. */
    assert_int_equal(
        sg_store_release_begin(fx->store, id2, "s1", "h", 1000, 1600, false, &error), SG_OK);
    assert_int_equal(
        sg_store_release_begin(fx->store, id2, "s2", "h", 1001, 1601, false, &error), SG_PERM);
    assert_non_null(strstr(error, "--force"));
    free(error);
    error = NULL;
    assert_int_equal(
        sg_store_release_begin(fx->store, id2, "s2", "h", 1001, 1601, true, &error), SG_OK);
    assert_int_equal(sg_store_release_take(fx->store, "s1", "h", 1002, &got, &error), SG_PERM);
    free(error);
    error = NULL;

    /* No answer after the data, and the milter never took the token: held. */
    assert_int_equal(
        sg_store_release_end(fx->store, id2, "s2", SG_RELEASE_UNKNOWN, &unused, &error), SG_OK);
    assert_true(unused);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine WHERE state = 'held'"), 1);
    /* No answer, but the milter took it: released. */
    assert_int_equal(
        sg_store_release_begin(fx->store, id2, "s3", "h", 1100, 1700, false, &error), SG_OK);
    assert_int_equal(sg_store_release_take(fx->store, "s3", "h", 1101, &got, &error), SG_OK);
    assert_int_equal(
        sg_store_release_end(fx->store, id2, "s3", SG_RELEASE_UNKNOWN, &unused, &error), SG_OK);
    assert_false(unused);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine WHERE state = 'held'"), 0);
}

/* test_verdicts_batch - many rows in one call, all kept; a bad row stores none */
static void
test_verdicts_batch(void **state)
{
    struct fixture *fx = *state;
    char *error = NULL;
    struct sg_verdict_row rows[300];
    for (size_t i = 0; i < SG_NELEM(rows); i++)
        rows[i] = (struct sg_verdict_row){.time = 100 + (long long)i,
                                          .queue_id = "Q",
                                          .action = i % 3 ? "accept" : "quarantine",
                                          .score = 1,
                                          .top_rule = i % 3 ? NULL : "urgency"};
    assert_int_equal(sg_store_verdicts_put(fx->store, rows, SG_NELEM(rows), &error), SG_OK);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM verdict"), 300);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM verdict WHERE action = 'quarantine'"),
                     100);
    rows[7].action = NULL;
    assert_int_equal(sg_store_verdicts_put(fx->store, rows, SG_NELEM(rows), &error), SG_PERM);
    free(error);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM verdict"), 300);

    /* A purge larger than one batch removes every old row and counts them all. */
    size_t nq = 0, nv = 0;
    assert_int_equal(sg_store_purge(fx->store, 350, &nq, &nv, &error), SG_OK);
    assert_int_equal(nv, 250);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM verdict"), 50);
    struct sg_verdict_row many[1200];
    for (size_t i = 0; i < SG_NELEM(many); i++)
        many[i] = (struct sg_verdict_row){.time = 10, .action = "accept"};
    assert_int_equal(sg_store_verdicts_put(fx->store, many, SG_NELEM(many), &error), SG_OK);
    assert_int_equal(sg_store_purge(fx->store, 11, &nq, &nv, &error), SG_OK);
    assert_int_equal(nv, 1200);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM verdict"), 50);
}

/* test_duplicate - a message stored again with the same fingerprint (the
 * MTA retried after the daemon died before replying) is not stored twice;
 * without a fingerprint, or once released or old, it is */
static void
test_duplicate(void **state)
{
    struct fixture *fx = *state;
    char *error = NULL;
    bool dup = true;
    long long id1 = 0, id2 = 0;
    struct sg_quarantined in = sample(1000, "a@example.nl", "b@example.nl", "urgency", 10);
    in.fingerprint = "fp1";
    assert_int_equal(sg_store_quarantine_put(fx->store, &in, &id1, &dup, &error), SG_OK);
    assert_false(dup);
    in.time = 1060;
    assert_int_equal(sg_store_quarantine_put(fx->store, &in, &id2, &dup, &error), SG_OK);
    assert_true(dup);
    assert_int_equal(id2, id1);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine"), 1);
    /* Outside the window: a new message. */
    in.time = 1000 + SG_STORE_DUPLICATE_WINDOW + 1;
    assert_int_equal(sg_store_quarantine_put(fx->store, &in, &id2, &dup, &error), SG_OK);
    assert_false(dup);
    assert_int_not_equal(id2, id1);
    /* No fingerprint: never a duplicate. */
    in.fingerprint = NULL;
    assert_int_equal(sg_store_quarantine_put(fx->store, &in, &id2, &dup, &error), SG_OK);
    assert_false(dup);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine"), 3);
    sample_free(&in);
}

/* A raw source for put: bytes i * 7 + 3, failing from fail_at on. */
struct source {
    size_t fail_at;
    size_t reads;
};

static bool
source_read(void *arg, size_t offset, void *buf, size_t len)
{
    struct source *src = arg;
    src->reads++;
    if (offset + len > src->fail_at)
        return false;
    for (size_t i = 0; i < len; i++)
        ((unsigned char *)buf)[i] = (unsigned char)((offset + i) * 7 + 3);
    return true;
}

/* test_streamed_put - raw bytes read piece by piece (a large message never
 * whole in memory) arrive exactly; a read error stores nothing */
static void
test_streamed_put(void **state)
{
    struct fixture *fx = *state;
    char *error = NULL;
    struct sg_quarantined in = sample(1, "a@example.nl", "b@example.nl", "urgency", 0);
    struct source src = {.fail_at = (size_t)-1};
    in.raw_len = 3 * 1024 * 1024 + 5;
    in.raw_read = source_read;
    in.raw_arg = &src;
    long long id = put_ok(fx->store, &in);
    assert_true(src.reads > 1);
    struct sg_quarantined *out = NULL;
    assert_int_equal(sg_store_quarantine_get(fx->store, id, &out, &error), SG_OK);
    assert_int_equal(out->raw_len, in.raw_len);
    for (size_t i = 0; i < out->raw_len; i++)
        if (out->raw[i] != (unsigned char)(i * 7 + 3))
            fail_msg("byte %zu differs", i);
    sg_quarantined_free(&out);

    src.fail_at = 1024 * 1024;
    assert_int_equal(sg_store_quarantine_put(fx->store, &in, NULL, NULL, &error), SG_TEMP);
    assert_non_null(strstr(error, "reading the message failed"));
    free(error);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine"), 1);
    assert_int_equal(count(fx->path, "SELECT count(*) FROM quarantine_raw"), 1);
    sample_free(&in);
}

/* test_mode - the database file is created 0660 whatever the umask */
static void
test_mode(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = sg_xasprintf("%s/mode.db", dir);
    struct sg_store *store = NULL;
    char *error = NULL;
    struct stat st;
    mode_t old = umask(077);
    enum sg_rc rc = sg_store_open(path, 0, &store, &error);
    umask(old);
    assert_int_equal(rc, SG_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    char *wal = sg_xasprintf("%s-wal", path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700); /* the directory is left alone */
    sg_store_close(&store);
    free(wal);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test(test_migration),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test_setup_teardown(test_shared_handle, setup, teardown),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_not_a_database),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
        cmocka_unit_test(test_mode),
        cmocka_unit_test(test_migration_v1),
        cmocka_unit_test(test_open_must_exist),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streamed_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verdicts_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
