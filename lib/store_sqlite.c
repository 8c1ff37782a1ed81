/*
 * store_sqlite.c - the store (store.h) on SQLite, the only user of sqlite3.
 *
 * The backend-independent part (dispatch, checks, the handle's mutex) is in
 * store.c; the struct of operations in store_backend.h.
 *
 * SQLite: WAL journal, synchronous=FULL (NORMAL for a statistics-only
 * handle, SG_STORE_LAZY_SYNC), foreign keys, a 5 s busy
 * timeout, prepared statements with bound values only.  The schema is
 * versioned with PRAGMA user_version; on open, the migrations from the
 * database's version up to SG_STORE_SCHEMA run in one transaction.  The
 * raw message lives in its own table so that listing never reads it.
 */
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- SQLite backend ---- */

#define SG_STORE_BUSY_MS 5000

/* Migration i takes the schema from version i to i + 1.  Add version 2 as
 * one more entry; never edit an entry that has shipped. */
static const char *const sg_store_migrations[] = {
    /* 1: quarantine and verdict tables */
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
    "CREATE INDEX verdict_time ON verdict(time);",
    /* 2: one-time release tokens; a fingerprint to recognise a message
     * stored again after the MTA retried it (the daemon died between
     * commit and reply) */
    "CREATE TABLE release_token ("
    " token TEXT PRIMARY KEY,"
    " quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,"
    " expires INTEGER NOT NULL);"
    "CREATE INDEX release_token_qid ON release_token(quarantine_id);"
    "ALTER TABLE quarantine ADD COLUMN fingerprint TEXT;"
    "CREATE INDEX quarantine_fingerprint ON quarantine(fingerprint);",
    /* 3: a token releases only the message it was made for */
    "ALTER TABLE release_token ADD COLUMN body_hash TEXT;",
};

#define SG_STORE_SCHEMA ((int)SG_NELEM(sg_store_migrations))

struct sqlite_store {
    struct sg_store base; /* first: the handle callers hold */
    sqlite3 *db;
};

/* rc_of - an SQLite result code as sg_rc */
static enum sg_rc
rc_of(int code)
{
    switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return SG_TEMP;
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return SG_PERM;
    default: /* CORRUPT, NOTADB, MISUSE, ERROR, SCHEMA, INTERNAL... */
        return SG_INTERNAL;
    }
}

/* db_fail - the error of the last call on the handle as sg_rc and message:
 * SQLite's message, for I/O with the system's reason ("File too large") or,
 * when SQLite kept none, the extended result code (778: a write failed) */
static enum sg_rc
db_fail(struct sqlite_store *s, int code, const char *what, char **error_r)
{
    int primary = code & 0xff;
    int err = sqlite3_system_errno(s->db);
    if (primary != SQLITE_IOERR && primary != SQLITE_FULL && primary != SQLITE_CANTOPEN)
        *error_r = sg_xasprintf("%s: cannot %s: %s", s->base.path, what, sqlite3_errmsg(s->db));
    else if (err != 0)
        *error_r = sg_xasprintf("%s: cannot %s: %s (%s)", s->base.path, what, sqlite3_errmsg(s->db),
                                strerror(err));
    else
        *error_r = sg_xasprintf("%s: cannot %s: %s (SQLite code %d)", s->base.path, what,
                                sqlite3_errmsg(s->db), code);
    return rc_of(code);
}

/* prepare - one statement from constant SQL */
static enum sg_rc
prepare(struct sqlite_store *s, const char *sql, const char *what, sqlite3_stmt **st_r,
        char **error_r)
{
    int code = sqlite3_prepare_v2(s->db, sql, -1, st_r, NULL);
    if (code != SQLITE_OK)
        return db_fail(s, code, what, error_r);
    return SG_OK;
}

/* run_script - run constant SQL, possibly several statements, none with parameters */
static enum sg_rc
run_script(struct sqlite_store *s, const char *sql, const char *what, char **error_r)
{
    while (*sql != '\0') {
        sqlite3_stmt *st = NULL;
        const char *tail = NULL;
        int code = sqlite3_prepare_v2(s->db, sql, -1, &st, &tail);
        if (code != SQLITE_OK)
            return db_fail(s, code, what, error_r);
        if (st == NULL) /* only white space or comments left */
            break;
        while ((code = sqlite3_step(st)) == SQLITE_ROW)
            ;
        sqlite3_finalize(st);
        if (code != SQLITE_DONE)
            return db_fail(s, code, what, error_r);
        sql = tail;
    }
    return SG_OK;
}

/* rollback - end a failed transaction, keeping the first error */
static void
rollback(struct sqlite_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* bind_text - a C string or NULL */
static int
bind_text(sqlite3_stmt *st, int i, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
}

/* column_text - a copy of a text column, NULL for NULL */
static char *
column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (t == NULL)
        return NULL;
    return sg_xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

/* step_done - run a statement that returns no rows, then finalize it */
static enum sg_rc
step_done(struct sqlite_store *s, sqlite3_stmt *st, const char *what, char **error_r)
{
    int code = sqlite3_step(st);
    enum sg_rc rc = SG_OK;
    if (code != SQLITE_DONE)
        rc = db_fail(s, code, what, error_r);
    sqlite3_finalize(st);
    return rc;
}

/* migrate - bring the schema to SG_STORE_SCHEMA, or refuse a newer one */
static enum sg_rc
migrate(struct sqlite_store *s, char **error_r)
{
    /* IMMEDIATE: two processes opening a new database do not both migrate. */
    enum sg_rc rc = run_script(s, "BEGIN IMMEDIATE", "start the schema migration", error_r);
    if (rc != SG_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = prepare(s, "PRAGMA user_version", "read the schema version", &st, error_r);
    if (rc != SG_OK)
        goto out;
    int code = sqlite3_step(st);
    int version = code == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (code != SQLITE_ROW) {
        rc = db_fail(s, code, "read the schema version", error_r);
        goto out;
    }
    if (version > SG_STORE_SCHEMA || version < 0) {
        *error_r = sg_xasprintf("%s: schema version %d is newer than this sendguard knows (%d); "
                                "upgrade sendguard or use another database",
                                s->base.path, version, SG_STORE_SCHEMA);
        rc = SG_PERM;
        goto out;
    }
    for (; version < SG_STORE_SCHEMA; version++) {
        char *what = sg_xasprintf("migrate the schema to version %d", version + 1);
        rc = run_script(s, sg_store_migrations[version], what, error_r);
        if (rc == SG_OK) {
            /* PRAGMA takes no parameters; the number is ours, not data. */
            char *sql = sg_xasprintf("PRAGMA user_version = %d", version + 1);
            rc = run_script(s, sql, what, error_r);
            free(sql);
        }
        free(what);
        if (rc != SG_OK)
            goto out;
    }
    rc = run_script(s, "COMMIT", "commit the schema migration", error_r);
out:
    if (rc != SG_OK)
        rollback(s);
    return rc;
}

/* create_file - create path with mode 0660 whatever the umask, unless it
 * exists: the daemon's user and the admin group (the directory's group,
 * inherited through its set-group-id bit) may read and change it */
static enum sg_rc
create_file(const char *path, char **error_r)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0660);
    if (fd < 0) {
        if (errno == EEXIST)
            return SG_OK;
        *error_r = sg_xasprintf("%s: cannot create database: %s", path, strerror(errno));
        return SG_TEMP;
    }
    /* The umask may have taken group read away; SQLite gives -wal and -shm this mode. */
    if (fchmod(fd, 0660) < 0) {
        *error_r = sg_xasprintf("%s: cannot set mode 0660: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return SG_TEMP;
    }
    close(fd);
    return SG_OK;
}

/* set_wal - switch to the WAL journal.  When several connections open a
 * new database at once, the switch can fail with SQLITE_BUSY without the
 * busy handler being asked, so retry for as long as the busy timeout. */
static enum sg_rc
set_wal(struct sqlite_store *s, char **error_r)
{
    const char *what = "switch the database to WAL mode";
    for (int waited = 0;; waited += 10) {
        sqlite3_stmt *st = NULL;
        enum sg_rc rc = prepare(s, "PRAGMA journal_mode = WAL", what, &st, error_r);
        if (rc != SG_OK)
            return rc;
        int code = sqlite3_step(st);
        if (code == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            if (mode == NULL || strcmp(mode, "wal") != 0) {
                *error_r = sg_xasprintf("%s: cannot %s: the journal mode stays \"%s\"",
                                        s->base.path, what, mode ? mode : "");
                rc = SG_TEMP;
            }
        } else if ((code & 0xff) == SQLITE_BUSY && waited < SG_STORE_BUSY_MS) {
            sqlite3_finalize(st);
            usleep(10 * 1000);
            continue;
        } else
            rc = db_fail(s, code, what, error_r);
        sqlite3_finalize(st);
        return rc;
    }
}

static const struct sg_store_ops sqlite_ops;

/* sg_store_open - create if missing (unless must_exist), configure, migrate */
enum sg_rc
sg_store_open(const char *path, unsigned flags, struct sg_store **store_r, char **error_r)
{
    *store_r = NULL;
    enum sg_rc rc = (flags & SG_STORE_MUST_EXIST) ? SG_OK : create_file(path, error_r);
    if (rc != SG_OK)
        return rc;
    struct sqlite_store *s = sg_xcalloc(1, sizeof(*s));
    sg_store_backend_init(&s->base, &sqlite_ops, path);
    /* Our own mutex serialises a handle; SQLite needs none of its own. */
    int code = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (code != SQLITE_OK) {
        if (s->db == NULL) /* SQLite could not allocate its handle */
            abort();
        rc = db_fail(s, code, "open database", error_r);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, SG_STORE_BUSY_MS);
    rc = set_wal(s, error_r);
    if (rc == SG_OK)
        rc = run_script(s,
                        (flags & SG_STORE_LAZY_SYNC) ? "PRAGMA synchronous = NORMAL;"
                                                       "PRAGMA foreign_keys = ON;"
                                                     : "PRAGMA synchronous = FULL;"
                                                       "PRAGMA foreign_keys = ON;",
                        "configure the database", error_r);
    if (rc == SG_OK)
        rc = migrate(s, error_r);
    if (rc != SG_OK)
        goto fail;
    *store_r = &s->base;
    return SG_OK;
fail:
    sqlite3_close(s->db);
    sg_store_backend_fini(&s->base);
    free(s);
    return rc;
}

/* sqlite_close - close the connection and free the handle */
static void
sqlite_close(struct sg_store *store)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    /* Every statement is finalized after use, so close cannot find one open. */
    sqlite3_close(s->db);
    sg_store_backend_fini(&s->base);
    free(s);
}

/* write_raw - fill the zero blob of message id from q->raw_read, a piece at
 * a time (inside the caller's transaction) */
static enum sg_rc
write_raw(struct sqlite_store *s, long long id, const struct sg_quarantined *q, const char *what,
          char **error_r)
{
    sqlite3_blob *blob = NULL;
    int code = sqlite3_blob_open(s->db, "main", "quarantine_raw", "raw", id, 1, &blob);
    if (code != SQLITE_OK)
        return db_fail(s, code, what, error_r);
    enum { PIECE = 256 * 1024 };
    unsigned char *buf = sg_xmalloc(PIECE);
    enum sg_rc rc = SG_OK;
    for (size_t off = 0; off < q->raw_len && rc == SG_OK; off += PIECE) {
        size_t n = q->raw_len - off < PIECE ? q->raw_len - off : PIECE;
        if (!q->raw_read(q->raw_arg, off, buf, n)) {
            *error_r = sg_xasprintf("%s: cannot %s: reading the message failed at byte %zu",
                                    s->base.path, what, off);
            rc = SG_TEMP;
        } else if ((code = sqlite3_blob_write(blob, buf, (int)n, (int)off)) != SQLITE_OK) {
            rc = db_fail(s, code, what, error_r);
        }
    }
    free(buf);
    sqlite3_blob_close(blob);
    return rc;
}

/* sqlite_quarantine_put - the message, its recipients and raw bytes in one transaction */
static enum sg_rc
sqlite_quarantine_put(struct sg_store *store, const struct sg_quarantined *q, long long *id_r,
                      bool *duplicate_r, char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    const char *what = "quarantine message";
    sqlite3_stmt *st = NULL;
    *duplicate_r = false;
    /* SQLite's largest value (1e9 bytes unless compiled otherwise); blob
     * offsets are ints.  No MTA is set to accept such a message. */
    long long limit = sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, -1);
    if (q->raw_len > (size_t)limit || q->raw_len > INT_MAX) {
        *error_r = sg_xasprintf("%s: cannot quarantine a message of %zu bytes: the database "
                                "takes at most %lld",
                                s->base.path, q->raw_len, limit);
        return SG_PERM;
    }
    enum sg_rc rc = run_script(s, "BEGIN IMMEDIATE", what, error_r);
    if (rc != SG_OK)
        return rc;
    if (q->fingerprint != NULL) {
        rc = prepare(s,
                     "SELECT id FROM quarantine WHERE fingerprint = ?1 AND state = 'held'"
                     " AND time >= ?2 ORDER BY id LIMIT 1",
                     what, &st, error_r);
        if (rc != SG_OK)
            goto out;
        bind_text(st, 1, q->fingerprint);
        sqlite3_bind_int64(st, 2, q->time - SG_STORE_DUPLICATE_WINDOW);
        int code = sqlite3_step(st);
        if (code == SQLITE_ROW) {
            *duplicate_r = true;
            if (id_r != NULL)
                *id_r = sqlite3_column_int64(st, 0);
        } else if (code != SQLITE_DONE)
            rc = db_fail(s, code, what, error_r);
        sqlite3_finalize(st);
        if (rc != SG_OK || *duplicate_r)
            goto out;
    }
    rc = prepare(s,
                 "INSERT INTO quarantine (time, queue_id, client_addr, env_from, from_header,"
                 " subject, score, reason, verdict_json, state, fingerprint)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                 what, &st, error_r);
    if (rc != SG_OK)
        goto out;
    sqlite3_bind_int64(st, 1, q->time);
    bind_text(st, 2, q->queue_id);
    bind_text(st, 3, q->client_addr);
    bind_text(st, 4, q->env_from);
    bind_text(st, 5, q->from_header);
    bind_text(st, 6, q->subject);
    sqlite3_bind_double(st, 7, q->score);
    bind_text(st, 8, q->reason);
    bind_text(st, 9, q->verdict_json);
    bind_text(st, 10, q->state ? q->state : "held");
    bind_text(st, 11, q->fingerprint);
    rc = step_done(s, st, what, error_r);
    if (rc != SG_OK)
        goto out;
    long long id = sqlite3_last_insert_rowid(s->db);

    rc = prepare(s, "INSERT INTO quarantine_rcpt (quarantine_id, pos, addr) VALUES (?1, ?2, ?3)",
                 what, &st, error_r);
    if (rc != SG_OK)
        goto out;
    for (size_t i = 0; i < q->nrcpts && rc == SG_OK; i++) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        bind_text(st, 3, q->rcpts[i] ? q->rcpts[i] : "");
        int code = sqlite3_step(st);
        if (code != SQLITE_DONE)
            rc = db_fail(s, code, what, error_r);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc != SG_OK)
        goto out;

    rc = prepare(s, "INSERT INTO quarantine_raw (quarantine_id, raw) VALUES (?1, ?2)", what, &st,
                 error_r);
    if (rc != SG_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    /* A NULL pointer would bind NULL, not an empty blob. */
    int code = (q->raw_len == 0 || q->raw_read != NULL)
                   ? sqlite3_bind_zeroblob64(st, 2, q->raw_len)
                   : sqlite3_bind_blob64(st, 2, q->raw, q->raw_len, SQLITE_STATIC);
    if (code != SQLITE_OK) {
        sqlite3_finalize(st);
        rc = db_fail(s, code, what, error_r);
        goto out;
    }
    rc = step_done(s, st, what, error_r);
    if (rc == SG_OK && q->raw_read != NULL && q->raw_len > 0)
        rc = write_raw(s, id, q, what, error_r);
    if (rc != SG_OK)
        goto out;
    rc = run_script(s, "COMMIT", what, error_r);
    if (rc == SG_OK && id_r != NULL)
        *id_r = id;
out:
    if (rc != SG_OK || *duplicate_r)
        rollback(s); /* a duplicate changed nothing */
    return rc;
}

/* The columns of a quarantine row, in the order row_fill reads them. */
#define SG_QUARANTINE_COLUMNS                                                                      \
    "q.id, q.time, q.queue_id, q.client_addr, q.env_from, q.from_header, q.subject, q.score,"      \
    " q.reason, q.verdict_json, q.state, q.fingerprint"

/* row_fill - a new message from a row of SG_QUARANTINE_COLUMNS */
static struct sg_quarantined *
row_fill(sqlite3_stmt *st)
{
    struct sg_quarantined *q = sg_xcalloc(1, sizeof(*q));
    q->id = sqlite3_column_int64(st, 0);
    q->time = sqlite3_column_int64(st, 1);
    q->queue_id = column_text(st, 2);
    q->client_addr = column_text(st, 3);
    q->env_from = column_text(st, 4);
    q->from_header = column_text(st, 5);
    q->subject = column_text(st, 6);
    q->score = sqlite3_column_double(st, 7);
    q->reason = column_text(st, 8);
    q->verdict_json = column_text(st, 9);
    q->state = column_text(st, 10);
    q->fingerprint = column_text(st, 11);
    return q;
}

/* load_rcpts - the recipients of q, using a prepared statement with ?1 = id */
static enum sg_rc
load_rcpts(struct sqlite_store *s, sqlite3_stmt *st, struct sg_quarantined *q, const char *what,
           char **error_r)
{
    int code;
    size_t cap = 0;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, q->id);
    while ((code = sqlite3_step(st)) == SQLITE_ROW) {
        if (q->nrcpts == cap) {
            cap = cap ? cap * 2 : 4;
            q->rcpts = sg_xrealloc(q->rcpts, cap * sizeof(*q->rcpts));
        }
        q->rcpts[q->nrcpts++] = column_text(st, 0);
    }
    if (code != SQLITE_DONE)
        return db_fail(s, code, what, error_r);
    return SG_OK;
}

/* sqlite_quarantine_get - one message, its recipients and raw bytes, from one snapshot */
static enum sg_rc
sqlite_quarantine_get(struct sg_store *store, long long id, struct sg_quarantined **q_r,
                      char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    char *what = sg_xasprintf("read quarantined message %lld", id);
    struct sg_quarantined *q = NULL;
    sqlite3_stmt *st = NULL;
    int code;
    *q_r = NULL;
    enum sg_rc rc = run_script(s, "BEGIN", what, error_r);
    if (rc != SG_OK)
        goto out;
    rc = prepare(s, "SELECT " SG_QUARANTINE_COLUMNS " FROM quarantine q WHERE q.id = ?1", what, &st,
                 error_r);
    if (rc != SG_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    code = sqlite3_step(st);
    if (code == SQLITE_ROW)
        q = row_fill(st);
    else if (code == SQLITE_DONE) {
        *error_r = sg_xasprintf("%s: no quarantined message %lld", s->base.path, id);
        rc = SG_PERM;
    } else
        rc = db_fail(s, code, what, error_r);
    sqlite3_finalize(st);
    if (rc != SG_OK)
        goto out;

    rc = prepare(s, "SELECT addr FROM quarantine_rcpt WHERE quarantine_id = ?1 ORDER BY pos", what,
                 &st, error_r);
    if (rc != SG_OK)
        goto out;
    rc = load_rcpts(s, st, q, what, error_r);
    sqlite3_finalize(st);
    if (rc != SG_OK)
        goto out;

    rc = prepare(s, "SELECT raw FROM quarantine_raw WHERE quarantine_id = ?1", what, &st, error_r);
    if (rc != SG_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    code = sqlite3_step(st);
    if (code == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        const void *raw = sqlite3_column_blob(st, 0);
        /* Never NULL, even for an empty message: get always fills raw. */
        q->raw = sg_xmalloc(len ? len : 1);
        if (len > 0)
            memcpy(q->raw, raw, len);
        q->raw_len = len;
    } else if (code == SQLITE_DONE) {
        *error_r =
            sg_xasprintf("%s: quarantined message %lld has no raw message", s->base.path, id);
        rc = SG_INTERNAL;
    } else
        rc = db_fail(s, code, what, error_r);
    sqlite3_finalize(st);
    if (rc == SG_OK)
        rc = run_script(s, "COMMIT", what, error_r);
out:
    if (rc != SG_OK) {
        rollback(s);
        sg_quarantined_free(&q);
    }
    *q_r = q;
    free(what);
    return rc;
}

/* sqlite_quarantine_list - the matching messages, newest first, without raw bytes */
static enum sg_rc
sqlite_quarantine_list(struct sg_store *store, const struct sg_store_filter *f,
                       struct sg_quarantined ***list_r, size_t *n_r, char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    const char *what = "list quarantined messages";
    struct sg_quarantined **list = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st = NULL, *rst = NULL;
    int code;
    *list_r = NULL;
    *n_r = 0;
    enum sg_rc rc = run_script(s, "BEGIN", what, error_r);
    if (rc != SG_OK)
        return rc;
    /* A NULL parameter switches its condition off; instr(lower()) is a
     * substring match, case-insensitive for ASCII, with no LIKE wildcards. */
    rc = prepare(s,
                 "SELECT " SG_QUARANTINE_COLUMNS " FROM quarantine q WHERE"
                 " (?1 IS NULL OR instr(lower(coalesce(q.env_from, '')), lower(?1)) > 0"
                 "  OR instr(lower(coalesce(q.from_header, '')), lower(?1)) > 0)"
                 " AND (?2 IS NULL OR EXISTS (SELECT 1 FROM quarantine_rcpt r"
                 "  WHERE r.quarantine_id = q.id AND instr(lower(r.addr), lower(?2)) > 0))"
                 " AND (?3 IS NULL OR q.reason = ?3)"
                 " AND (?4 IS NULL OR q.state = ?4)"
                 " AND q.time >= ?5"
                 " ORDER BY q.time DESC, q.id DESC LIMIT ?6",
                 what, &st, error_r);
    if (rc != SG_OK)
        goto out;
    rc = prepare(s, "SELECT addr FROM quarantine_rcpt WHERE quarantine_id = ?1 ORDER BY pos", what,
                 &rst, error_r);
    if (rc != SG_OK)
        goto out;
    bind_text(st, 1, f->sender);
    bind_text(st, 2, f->recipient);
    bind_text(st, 3, f->reason);
    bind_text(st, 4, f->state);
    sqlite3_bind_int64(st, 5, f->since > 0 ? f->since : (long long)INT64_MIN);
    /* LIMIT -1: no limit */
    sqlite3_bind_int64(st, 6, f->limit > 0 && f->limit < INT64_MAX ? (sqlite3_int64)f->limit : -1);
    while ((code = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            list = sg_xrealloc(list, cap * sizeof(*list));
        }
        list[n] = row_fill(st);
        rc = load_rcpts(s, rst, list[n++], what, error_r);
        if (rc != SG_OK)
            goto out;
    }
    if (code != SQLITE_DONE) {
        rc = db_fail(s, code, what, error_r);
        goto out;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(rst);
    st = rst = NULL;
    rc = run_script(s, "COMMIT", what, error_r);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(rst);
    if (rc != SG_OK) {
        rollback(s);
        sg_quarantined_list_free(&list, n);
        return rc;
    }
    *list_r = list;
    *n_r = n;
    return SG_OK;
}

/* change_one - run an UPDATE or DELETE with ?1 = id (and ?2 = text); SG_PERM
 * when no row has that id */
static enum sg_rc
change_one(struct sqlite_store *s, const char *sql, long long id, const char *text,
           const char *what, char **error_r)
{
    sqlite3_stmt *st = NULL;
    enum sg_rc rc = prepare(s, sql, what, &st, error_r);
    if (rc != SG_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if (text != NULL)
        bind_text(st, 2, text);
    rc = step_done(s, st, what, error_r);
    if (rc == SG_OK && sqlite3_changes(s->db) == 0) {
        *error_r = sg_xasprintf("%s: no quarantined message %lld", s->base.path, id);
        rc = SG_PERM;
    }
    return rc;
}

/* sqlite_quarantine_set_state - update one row */
static enum sg_rc
sqlite_quarantine_set_state(struct sg_store *store, long long id, const char *state, char **error_r)
{
    char *what = sg_xasprintf("set the state of quarantined message %lld", id);
    enum sg_rc rc =
        change_one((struct sqlite_store *)store, "UPDATE quarantine SET state = ?2 WHERE id = ?1",
                   id, state, what, error_r);
    free(what);
    return rc;
}

/* sqlite_quarantine_delete - delete one row; recipients and raw bytes follow by cascade */
static enum sg_rc
sqlite_quarantine_delete(struct sg_store *store, long long id, char **error_r)
{
    char *what = sg_xasprintf("delete quarantined message %lld", id);
    enum sg_rc rc = change_one((struct sqlite_store *)store, "DELETE FROM quarantine WHERE id = ?1",
                               id, NULL, what, error_r);
    free(what);
    return rc;
}

/* Rows deleted per transaction by a purge. */
#define SG_STORE_PURGE_BATCH 500

/* delete_older - run a batched DELETE (?1 = time, ?2 = batch size) until
 * it deletes nothing, one transaction per batch, counting the rows */
static enum sg_rc
delete_older(struct sqlite_store *s, const char *sql, long long older_than, size_t *n_r,
             char **error_r)
{
    *n_r = 0;
    for (;;) {
        sqlite3_stmt *st = NULL;
        enum sg_rc rc = run_script(s, "BEGIN IMMEDIATE", "purge", error_r);
        if (rc == SG_OK)
            rc = prepare(s, sql, "purge", &st, error_r);
        if (rc == SG_OK) {
            sqlite3_bind_int64(st, 1, older_than);
            sqlite3_bind_int(st, 2, SG_STORE_PURGE_BATCH);
            rc = step_done(s, st, "purge", error_r);
        }
        size_t n = rc == SG_OK ? (size_t)sqlite3_changes64(s->db) : 0;
        if (rc == SG_OK)
            rc = run_script(s, "COMMIT", "purge", error_r);
        if (rc != SG_OK) {
            rollback(s);
            return rc;
        }
        *n_r += n;
        if (n == 0)
            return SG_OK;
    }
}

/* sqlite_purge - old quarantined messages (recipients, raw bytes and tokens
 * by cascade), then old verdict rows; what was purged before an error stays purged */
static enum sg_rc
sqlite_purge(struct sg_store *store, long long older_than, size_t *nq_r, size_t *nv_r,
             char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    enum sg_rc rc = delete_older(s,
                                 "DELETE FROM quarantine WHERE id IN"
                                 " (SELECT id FROM quarantine WHERE time < ?1 LIMIT ?2)",
                                 older_than, nq_r, error_r);
    if (rc == SG_OK)
        rc = delete_older(s,
                          "DELETE FROM verdict WHERE id IN"
                          " (SELECT id FROM verdict WHERE time < ?1 LIMIT ?2)",
                          older_than, nv_r, error_r);
    return rc;
}

/* sqlite_verdicts_put - the rows in one transaction */
static enum sg_rc
sqlite_verdicts_put(struct sg_store *store, const struct sg_verdict_row *rows, size_t n,
                    char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    const char *what = "record verdicts";
    sqlite3_stmt *st = NULL;
    enum sg_rc rc = run_script(s, "BEGIN IMMEDIATE", what, error_r);
    if (rc != SG_OK)
        return rc;
    rc = prepare(s,
                 "INSERT INTO verdict (time, queue_id, action, score, top_rule)"
                 " VALUES (?1, ?2, ?3, ?4, ?5)",
                 what, &st, error_r);
    for (size_t i = 0; rc == SG_OK && i < n; i++) {
        sqlite3_bind_int64(st, 1, rows[i].time);
        bind_text(st, 2, rows[i].queue_id);
        bind_text(st, 3, rows[i].action);
        sqlite3_bind_double(st, 4, rows[i].score);
        bind_text(st, 5, rows[i].top_rule);
        int code = sqlite3_step(st);
        if (code != SQLITE_DONE)
            rc = db_fail(s, code, what, error_r);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == SG_OK)
        rc = run_script(s, "COMMIT", what, error_r);
    if (rc != SG_OK)
        rollback(s);
    return rc;
}

/* sqlite_release_begin - a token for a held message without a live one */
static enum sg_rc
sqlite_release_begin(struct sg_store *store, long long id, const char *token,
                     const char *body_hash, long long now, long long expires, bool force,
                     char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    char *what = sg_xasprintf("start releasing quarantined message %lld", id);
    sqlite3_stmt *st = NULL;
    enum sg_rc rc = run_script(s, "BEGIN IMMEDIATE", what, error_r);
    if (rc != SG_OK)
        goto out;
    rc = prepare(s,
                 "SELECT q.state, (SELECT max(expires) FROM release_token t"
                 " WHERE t.quarantine_id = q.id AND t.expires >= ?2)"
                 " FROM quarantine q WHERE q.id = ?1",
                 what, &st, error_r);
    if (rc != SG_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    int code = sqlite3_step(st);
    if (code == SQLITE_DONE) {
        *error_r = sg_xasprintf("%s: no quarantined message %lld", s->base.path, id);
        rc = SG_PERM;
    } else if (code != SQLITE_ROW) {
        rc = db_fail(s, code, what, error_r);
    } else if (strcmp((const char *)sqlite3_column_text(st, 0), "held") != 0) {
        *error_r = sg_xasprintf("quarantined message %lld was already %s", id,
                                (const char *)sqlite3_column_text(st, 0));
        rc = SG_PERM;
    } else if (sqlite3_column_type(st, 1) != SQLITE_NULL && !force) {
        *error_r = sg_xasprintf("quarantined message %lld is being released (its token is "
                                "valid for %lld more seconds); if that release is known to "
                                "have failed, release again with --force",
                                id, (long long)sqlite3_column_int64(st, 1) - now);
        rc = SG_PERM;
    }
    sqlite3_finalize(st);
    if (rc != SG_OK)
        goto out;
    rc = prepare(s, "DELETE FROM release_token WHERE quarantine_id = ?1", what, &st, error_r);
    if (rc == SG_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = step_done(s, st, what, error_r);
    }
    if (rc == SG_OK)
        rc = prepare(s,
                     "INSERT INTO release_token (token, quarantine_id, expires, body_hash)"
                     " VALUES (?1, ?2, ?3, ?4)",
                     what, &st, error_r);
    if (rc == SG_OK) {
        bind_text(st, 1, token);
        sqlite3_bind_int64(st, 2, id);
        sqlite3_bind_int64(st, 3, expires);
        bind_text(st, 4, body_hash);
        rc = step_done(s, st, what, error_r);
    }
    if (rc == SG_OK)
        rc = run_script(s, "COMMIT", what, error_r);
out:
    if (rc != SG_OK)
        rollback(s);
    free(what);
    return rc;
}

/* sqlite_release_take - consume a live token and mark its message released */
static enum sg_rc
sqlite_release_take(struct sg_store *store, const char *token, const char *body_hash,
                    long long now, long long *id_r, char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    const char *what = "check a release token";
    sqlite3_stmt *st = NULL;
    long long id = 0;
    enum sg_rc rc = run_script(s, "BEGIN IMMEDIATE", what, error_r);
    if (rc != SG_OK)
        return rc;
    rc = prepare(s,
                 "DELETE FROM release_token WHERE token = ?1 AND expires >= ?2"
                 " AND (body_hash IS NULL OR body_hash = ?3)"
                 " RETURNING quarantine_id",
                 what, &st, error_r);
    if (rc != SG_OK)
        goto out;
    bind_text(st, 1, token);
    sqlite3_bind_int64(st, 2, now);
    bind_text(st, 3, body_hash);
    int code = sqlite3_step(st);
    if (code == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        code = sqlite3_step(st);
    } else if (code == SQLITE_DONE) {
        *error_r = sg_xstrdup("unknown, used or expired release token, or one made for "
                              "another message");
        rc = SG_PERM;
    }
    if (rc == SG_OK && code != SQLITE_DONE)
        rc = db_fail(s, code, what, error_r);
    sqlite3_finalize(st);
    if (rc == SG_OK)
        rc = change_one(s, "UPDATE quarantine SET state = 'released' WHERE id = ?1", id, NULL,
                        what, error_r);
    if (rc == SG_OK)
        rc = run_script(s, "COMMIT", what, error_r);
out:
    if (rc != SG_OK)
        rollback(s);
    else
        *id_r = id;
    return rc;
}

/* sqlite_release_end - drop the token unless queued, set the final state */
static enum sg_rc
sqlite_release_end(struct sg_store *store, long long id, const char *token,
                   enum sg_release_outcome outcome, bool *unused_r, char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    char *what = sg_xasprintf("finish releasing quarantined message %lld", id);
    sqlite3_stmt *st = NULL;
    enum sg_rc rc = run_script(s, "BEGIN IMMEDIATE", what, error_r);
    if (rc != SG_OK)
        goto out;
    rc = prepare(s,
                 outcome == SG_RELEASE_QUEUED
                     ? "SELECT 1 FROM release_token WHERE token = ?1"
                     : "DELETE FROM release_token WHERE token = ?1 RETURNING 1",
                 what, &st, error_r);
    if (rc != SG_OK)
        goto out;
    bind_text(st, 1, token);
    int code = sqlite3_step(st);
    *unused_r = code == SQLITE_ROW;
    if (code == SQLITE_ROW)
        code = sqlite3_step(st);
    if (code != SQLITE_DONE)
        rc = db_fail(s, code, what, error_r);
    sqlite3_finalize(st);
    if (rc != SG_OK)
        goto out;
    /* Taken: released, whether or not the milter saw the token yet.
     * Refused: held again, even if the milter took the token. */
    bool held = outcome == SG_RELEASE_REFUSED || (outcome == SG_RELEASE_UNKNOWN && *unused_r);
    rc = change_one(s, "UPDATE quarantine SET state = ?2 WHERE id = ?1", id,
                    held ? "held" : "released", what, error_r);
    if (rc == SG_OK)
        rc = run_script(s, "COMMIT", what, error_r);
out:
    if (rc != SG_OK)
        rollback(s);
    free(what);
    return rc;
}

/* count_rows - run a (name, count) query with ?1 = since, ?2 = limit (-1:
 * none) into a new array */
static enum sg_rc
count_rows(struct sqlite_store *s, const char *sql, long long since, int limit,
           struct sg_store_count **counts_r, size_t *n_r, unsigned long long *total_r,
           char **error_r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int code;
    enum sg_rc rc = prepare(s, sql, "count verdicts", &st, error_r);
    if (rc != SG_OK)
        return rc;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int(st, 2, limit);
    while ((code = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n_r == cap) {
            cap = cap ? cap * 2 : 8;
            *counts_r = sg_xrealloc(*counts_r, cap * sizeof(**counts_r));
        }
        struct sg_store_count *c = &(*counts_r)[(*n_r)++];
        c->name = column_text(st, 0);
        if (c->name == NULL)
            c->name = sg_xstrdup("");
        c->n = (unsigned long long)sqlite3_column_int64(st, 1);
        if (total_r != NULL)
            *total_r += c->n;
    }
    if (code != SQLITE_DONE)
        rc = db_fail(s, code, "count verdicts", error_r);
    sqlite3_finalize(st);
    return rc;
}

/* sqlite_stats - counts per action and top rule from one snapshot */
static enum sg_rc
sqlite_stats(struct sg_store *store, long long since, struct sg_store_stats *out, char **error_r)
{
    struct sqlite_store *s = (struct sqlite_store *)store;
    enum sg_rc rc = run_script(s, "BEGIN", "count verdicts", error_r);
    if (rc == SG_OK)
        rc = count_rows(s,
                        "SELECT action, count(*) FROM verdict WHERE time >= ?1"
                        " GROUP BY action ORDER BY 2 DESC, 1 LIMIT ?2",
                        since, -1, &out->actions, &out->nactions, &out->total, error_r);
    if (rc == SG_OK)
        rc = count_rows(s,
                        "SELECT top_rule, count(*) FROM verdict"
                        " WHERE time >= ?1 AND top_rule IS NOT NULL"
                        " GROUP BY top_rule ORDER BY 2 DESC, 1 LIMIT ?2",
                        since, SG_STORE_STATS_TOP, &out->rules, &out->nrules, NULL, error_r);
    if (rc == SG_OK)
        rc = run_script(s, "COMMIT", "count verdicts", error_r);
    if (rc != SG_OK)
        rollback(s);
    return rc;
}

static const struct sg_store_ops sqlite_ops = {
    .close = sqlite_close,
    .quarantine_put = sqlite_quarantine_put,
    .quarantine_get = sqlite_quarantine_get,
    .quarantine_list = sqlite_quarantine_list,
    .quarantine_set_state = sqlite_quarantine_set_state,
    .quarantine_delete = sqlite_quarantine_delete,
    .purge = sqlite_purge,
    .verdicts_put = sqlite_verdicts_put,
    .release_begin = sqlite_release_begin,
    .release_take = sqlite_release_take,
    .release_end = sqlite_release_end,
    .stats = sqlite_stats,
};
