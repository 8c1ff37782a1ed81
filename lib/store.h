/*
 * store.h - the persistent store: quarantined messages (metadata, the
 * verdict as JSON and the exact raw bytes) and one verdict row per message
 * seen, for statistics.  Callers see an opaque handle; inside, a struct of
 * operations picks the backend (SQLite now, in store_sqlite.c; PostgreSQL
 * can be added as another set of operations without touching callers).
 *
 * Threads: every call on one handle is serialised by a mutex in the handle,
 * so a handle may be shared; for parallel writers give each thread its own
 * handle on the same database (the backend waits up to 5 s for a lock
 * before it gives up with SG_TEMP).
 *
 * Errors: every fallible call returns enum sg_rc and, unless SG_OK, a
 * message in *error_r (caller frees) that names the database and what
 * failed.  SG_TEMP: locked, disk full, I/O error (tempfail, the MTA keeps
 * the mail); SG_PERM: unknown id, bad argument, a database newer than this
 * code; SG_INTERNAL: corruption or misuse.
 */
#ifndef SG_STORE_H
#define SG_STORE_H

#include "common.h"

struct sg_store; /* opaque */

/* One quarantined message, as stored.  All strings may be NULL (stored as
 * NULL) except state; a returned one is owned by it (sg_quarantined_free). */
struct sg_quarantined {
    long long id;   /* assigned by put */
    long long time; /* seconds since the epoch */
    char *queue_id;
    char *client_addr;
    char *env_from; /* "" for the null sender */
    char **rcpts;
    size_t nrcpts;
    char *from_header;
    char *subject;
    double score;
    char *reason;       /* id of the heaviest rule hit */
    char *verdict_json; /* sg_json_verdict() */
    char *state;        /* "held" | "released" | "deleted"; NULL on put means "held" */
    char *fingerprint;  /* identifies the message across MTA retries (NULL: none) */
    unsigned char *raw; /* filled by get (NULL in list results); for put, raw or raw_read */
    size_t raw_len;
    /* put only: when set, the raw_len bytes are read with it piece by piece
     * (offset, buffer, length; false on a read error) instead of from raw, so
     * a large message is never held in memory whole */
    bool (*raw_read)(void *arg, size_t offset, void *buf, size_t len);
    void *raw_arg;
};

/* What sg_store_quarantine_list returns; a NULL or 0 field does not filter. */
struct sg_store_filter {
    const char *sender;    /* substring of env_from or from_header, ASCII case-insensitive */
    const char *recipient; /* substring of any recipient, ASCII case-insensitive */
    const char *reason;    /* exact top rule id */
    const char *state;     /* exact state */
    long long since;       /* only messages with time >= since (now - max age) */
    size_t limit;          /* at most this many, newest first */
};

/* One count in the statistics. */
struct sg_store_count {
    char *name; /* action or rule id */
    unsigned long long n;
};

#define SG_STORE_STATS_TOP 10

/* A put whose fingerprint matches a message held less than this many
 * seconds ago returns that message instead of storing a second copy. */
#define SG_STORE_DUPLICATE_WINDOW (24 * 3600)

/* Verdict statistics since a time; free with sg_store_stats_clear. */
struct sg_store_stats {
    unsigned long long total;       /* verdict rows */
    struct sg_store_count *actions; /* every action seen, most frequent first */
    size_t nactions;
    struct sg_store_count *rules; /* top SG_STORE_STATS_TOP rules, most frequent first */
    size_t nrules;
};

/* Flags of sg_store_open. */
#define SG_STORE_MUST_EXIST 1u /* never create the file (tools) */
#define SG_STORE_LAZY_SYNC 2u  /* commits are not fsynced (statistics only: a
                                  power cut may lose the last ones; anything
                                  written durably on another handle syncs them) */

/* sg_store_open - open the SQLite database at path, creating it (mode 0660,
 * whatever the umask) when missing unless SG_STORE_MUST_EXIST, and bring its
 * schema up to date.  The directory must exist and is not changed.  A
 * database with a newer schema than this code knows is refused (SG_PERM).
 * Without SG_STORE_LAZY_SYNC every commit is durable (synchronous=FULL). */
enum sg_rc sg_store_open(const char *path, unsigned flags, struct sg_store **store_r,
                         char **error_r);

/* sg_store_close - close and free; NULL-safe, sets *store to NULL */
void sg_store_close(struct sg_store **store);

/* sg_store_path - the database the handle was opened on (borrowed) */
const char *sg_store_path(const struct sg_store *store);

/* sg_store_quarantine_put - store q (q->id is ignored) and return its new id
 * in *id_r (may be NULL).  Durable on SG_OK: the transaction is committed
 * with synchronous=FULL.  When q->fingerprint matches a message still held
 * and stored within SG_STORE_DUPLICATE_WINDOW of q->time, nothing is stored,
 * *id_r is that message's id and *duplicate_r (may be NULL) is set. */
enum sg_rc sg_store_quarantine_put(struct sg_store *store, const struct sg_quarantined *q,
                                   long long *id_r, bool *duplicate_r, char **error_r);

/* sg_store_quarantine_get - one message with its raw bytes (caller frees
 * with sg_quarantined_free); SG_PERM "no quarantined message N" when unknown */
enum sg_rc sg_store_quarantine_get(struct sg_store *store, long long id,
                                   struct sg_quarantined **q_r, char **error_r);

/* sg_store_quarantine_list - the messages matching f (may be NULL), newest
 * first, without raw bytes (caller frees with sg_quarantined_list_free) */
enum sg_rc sg_store_quarantine_list(struct sg_store *store, const struct sg_store_filter *f,
                                    struct sg_quarantined ***list_r, size_t *n_r, char **error_r);

/* sg_store_quarantine_set_state - "held", "released" or "deleted"; SG_PERM
 * for an unknown id or state */
enum sg_rc sg_store_quarantine_set_state(struct sg_store *store, long long id, const char *state,
                                         char **error_r);

/* sg_store_quarantine_delete - remove a message for good; SG_PERM when unknown */
enum sg_rc sg_store_quarantine_delete(struct sg_store *store, long long id, char **error_r);

/* sg_store_purge - remove quarantined messages (any state) and verdict rows
 * with time < older_than; the numbers removed go to the counters (may be
 * NULL).  Deletes in small transactions, so that the milter's writes wait
 * for one batch at most, never for the whole purge. */
enum sg_rc sg_store_purge(struct sg_store *store, long long older_than, size_t *nquarantined_r,
                          size_t *nverdicts_r, char **error_r);

/* One statistics row: a message seen (queue_id and top_rule may be NULL). */
struct sg_verdict_row {
    long long time;
    char *queue_id;
    char *action;
    double score;
    char *top_rule;
};

/* sg_store_verdict_put - one row per message seen (queue_id and top_rule may be NULL) */
enum sg_rc sg_store_verdict_put(struct sg_store *store, long long time, const char *queue_id,
                                const char *action, double score, const char *top_rule,
                                char **error_r);

/* sg_store_verdicts_put - n rows in one transaction (all or none) */
enum sg_rc sg_store_verdicts_put(struct sg_store *store, const struct sg_verdict_row *rows,
                                 size_t n, char **error_r);

/* Releasing a quarantined message: sendguardctl calls begin (a fresh
 * random token, valid until expires, bound to the hash of the message's
 * body), re-injects the message with the token in a header, then end.  The
 * milter, seeing the header, calls take with the hash of the body it got:
 * the token is consumed and the message marked released in one
 * transaction, so a replayed or forged token, or a live token on another
 * message, finds nothing. */

/* sg_store_release_begin - attach token (for a body with body_hash, NULL =
 * any) to message id; SG_PERM when the message is unknown, not held, or has
 * a live token already (a release in progress; force drops it) */
enum sg_rc sg_store_release_begin(struct sg_store *store, long long id, const char *token,
                                  const char *body_hash, long long now, long long expires,
                                  bool force, char **error_r);

/* sg_store_release_take - consume a token that has not expired at now and
 * was made for a body with body_hash, mark its message released and return
 * its id; SG_PERM when unknown, used, expired or made for another message */
enum sg_rc sg_store_release_take(struct sg_store *store, const char *token,
                                 const char *body_hash, long long now, long long *id_r,
                                 char **error_r);

/* How a re-injection ended. */
enum sg_release_outcome {
    SG_RELEASE_REFUSED,  /* the MTA did not take it: the message is held again */
    SG_RELEASE_ACCEPTED, /* taken after passing the milter (SMTP: the milter
                            answers before the MTA does): an unused token
                            means it did not pass sendguard */
    SG_RELEASE_QUEUED,   /* handed to a queue the milter reads later
                            (sendmail's maildrop): the token stays valid
                            until the milter takes it or it expires */
    SG_RELEASE_UNKNOWN,  /* sent, but the MTA never answered: the milter
                            decides - token taken, released (it passed
                            sendguard and the MTA most likely queued it);
                            still there, held */
};

/* sg_store_release_end - after the re-injection: leave the message released
 * (accepted or queued) or held (refused), as the outcome says; remove the
 * token unless queued, and say in *unused_r (may be NULL) whether it was
 * still there */
enum sg_rc sg_store_release_end(struct sg_store *store, long long id, const char *token,
                                enum sg_release_outcome outcome, bool *unused_r, char **error_r);

/* sg_store_stats - counts per action and per top rule of the verdict rows
 * with time >= since; fills *s (free with sg_store_stats_clear) */
enum sg_rc sg_store_stats(struct sg_store *store, long long since, struct sg_store_stats *s,
                          char **error_r);

/* sg_store_stats_clear - free what s holds and zero it */
void sg_store_stats_clear(struct sg_store_stats *s);

/* sg_quarantined_clear - free the strings, recipients and raw bytes of q
 * (not raw_arg, which belongs to whoever set raw_read) and zero it */
void sg_quarantined_clear(struct sg_quarantined *q);

/* sg_quarantined_free - NULL-safe, sets *q to NULL */
void sg_quarantined_free(struct sg_quarantined **q);

/* sg_quarantined_list_free - free a list and its n entries; NULL-safe, sets *list to NULL */
void sg_quarantined_list_free(struct sg_quarantined ***list, size_t n);

#endif
