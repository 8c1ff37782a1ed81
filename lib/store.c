/*
 * store.c - the backend-independent part of the store (store.h): argument
 * checks, one call at a time per handle (its mutex), dispatch to the
 * backend's operations, and freeing results.  Backends: store_sqlite.c.
 */
#include "store_backend.h"

#include <stdlib.h>
#include <string.h>

static const char *const sg_store_states[] = {"held", "released", "deleted"};

/* valid_state - one of sg_store_states */
static bool
valid_state(const char *state)
{
    for (size_t i = 0; i < SG_NELEM(sg_store_states); i++)
        if (state != NULL && strcmp(state, sg_store_states[i]) == 0)
            return true;
    return false;
}

/* sg_store_backend_init - fill the common part of a new handle */
void
sg_store_backend_init(struct sg_store *store, const struct sg_store_ops *ops, const char *path)
{
    store->ops = ops;
    store->path = sg_xstrdup(path);
    pthread_mutex_init(&store->lock, NULL);
}

/* sg_store_backend_fini - release the common part */
void
sg_store_backend_fini(struct sg_store *store)
{
    pthread_mutex_destroy(&store->lock);
    free(store->path);
}

/* sg_store_close - close and free */
void
sg_store_close(struct sg_store **sp)
{
    struct sg_store *store = *sp;
    if (store == NULL)
        return;
    store->ops->close(store);
    *sp = NULL;
}

/* sg_store_path - the database path */
const char *
sg_store_path(const struct sg_store *store)
{
    return store->path;
}

/* sg_store_quarantine_put - check the state, then store */
enum sg_rc
sg_store_quarantine_put(struct sg_store *store, const struct sg_quarantined *q, long long *id_r,
                        bool *duplicate_r, char **error_r)
{
    bool duplicate = false;
    if (q->state != NULL && !valid_state(q->state)) {
        *error_r =
            sg_xasprintf("%s: cannot quarantine: unknown state \"%s\"", store->path, q->state);
        return SG_PERM;
    }
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->quarantine_put(store, q, id_r, &duplicate, error_r);
    pthread_mutex_unlock(&store->lock);
    if (duplicate_r != NULL)
        *duplicate_r = rc == SG_OK && duplicate;
    return rc;
}

/* sg_store_quarantine_get - dispatch */
enum sg_rc
sg_store_quarantine_get(struct sg_store *store, long long id, struct sg_quarantined **q_r,
                        char **error_r)
{
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->quarantine_get(store, id, q_r, error_r);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* sg_store_quarantine_list - dispatch; a NULL filter lists everything */
enum sg_rc
sg_store_quarantine_list(struct sg_store *store, const struct sg_store_filter *f,
                         struct sg_quarantined ***list_r, size_t *n_r, char **error_r)
{
    static const struct sg_store_filter all;
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->quarantine_list(store, f ? f : &all, list_r, n_r, error_r);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* sg_store_quarantine_set_state - check the state, then dispatch */
enum sg_rc
sg_store_quarantine_set_state(struct sg_store *store, long long id, const char *state,
                              char **error_r)
{
    if (!valid_state(state)) {
        *error_r = sg_xasprintf("%s: cannot change quarantined message %lld: unknown state \"%s\"",
                                store->path, id, state ? state : "(null)");
        return SG_PERM;
    }
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->quarantine_set_state(store, id, state, error_r);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* sg_store_quarantine_delete - dispatch */
enum sg_rc
sg_store_quarantine_delete(struct sg_store *store, long long id, char **error_r)
{
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->quarantine_delete(store, id, error_r);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* sg_store_purge - dispatch */
enum sg_rc
sg_store_purge(struct sg_store *store, long long older_than, size_t *nq_r, size_t *nv_r,
               char **error_r)
{
    size_t nq = 0, nv = 0;
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->purge(store, older_than, &nq, &nv, error_r);
    pthread_mutex_unlock(&store->lock);
    if (nq_r != NULL)
        *nq_r = nq;
    if (nv_r != NULL)
        *nv_r = nv;
    return rc;
}

/* sg_store_verdict_put - one row */
enum sg_rc
sg_store_verdict_put(struct sg_store *store, long long time, const char *queue_id,
                     const char *action, double score, const char *top_rule, char **error_r)
{
    struct sg_verdict_row row = {.time = time,
                                 .queue_id = (char *)queue_id,
                                 .action = (char *)action,
                                 .score = score,
                                 .top_rule = (char *)top_rule};
    return sg_store_verdicts_put(store, &row, 1, error_r);
}

/* sg_store_verdicts_put - check the actions, then dispatch */
enum sg_rc
sg_store_verdicts_put(struct sg_store *store, const struct sg_verdict_row *rows, size_t n,
                      char **error_r)
{
    for (size_t i = 0; i < n; i++) {
        if (rows[i].action == NULL) {
            *error_r = sg_xasprintf("%s: cannot record verdict: no action", store->path);
            return SG_PERM;
        }
    }
    if (n == 0)
        return SG_OK;
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->verdicts_put(store, rows, n, error_r);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* sg_store_release_begin - check the token, then dispatch */
enum sg_rc
sg_store_release_begin(struct sg_store *store, long long id, const char *token,
                       const char *body_hash, long long now, long long expires, bool force,
                       char **error_r)
{
    if (token == NULL || token[0] == '\0') {
        *error_r = sg_xasprintf("%s: cannot release: empty token", store->path);
        return SG_PERM;
    }
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->release_begin(store, id, token, body_hash, now, expires, force,
                                              error_r);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* sg_store_release_take - dispatch */
enum sg_rc
sg_store_release_take(struct sg_store *store, const char *token, const char *body_hash,
                      long long now, long long *id_r, char **error_r)
{
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->release_take(store, token, body_hash, now, id_r, error_r);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* sg_store_release_end - dispatch */
enum sg_rc
sg_store_release_end(struct sg_store *store, long long id, const char *token,
                     enum sg_release_outcome outcome, bool *unused_r, char **error_r)
{
    bool unused = false;
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->release_end(store, id, token, outcome, &unused, error_r);
    pthread_mutex_unlock(&store->lock);
    if (unused_r != NULL)
        *unused_r = unused;
    return rc;
}

/* sg_store_stats - dispatch into a zeroed *s */
enum sg_rc
sg_store_stats(struct sg_store *store, long long since, struct sg_store_stats *s, char **error_r)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_lock(&store->lock);
    enum sg_rc rc = store->ops->stats(store, since, s, error_r);
    pthread_mutex_unlock(&store->lock);
    if (rc != SG_OK)
        sg_store_stats_clear(s);
    return rc;
}

/* sg_store_stats_clear - free the counts */
void
sg_store_stats_clear(struct sg_store_stats *s)
{
    for (size_t i = 0; i < s->nactions; i++)
        free(s->actions[i].name);
    for (size_t i = 0; i < s->nrules; i++)
        free(s->rules[i].name);
    free(s->actions);
    free(s->rules);
    memset(s, 0, sizeof(*s));
}

/* sg_quarantined_clear - free the fields of one message and zero it */
void
sg_quarantined_clear(struct sg_quarantined *q)
{
    free(q->queue_id);
    free(q->client_addr);
    free(q->env_from);
    for (size_t i = 0; i < q->nrcpts; i++)
        free(q->rcpts[i]);
    free(q->rcpts);
    free(q->from_header);
    free(q->subject);
    free(q->reason);
    free(q->verdict_json);
    free(q->state);
    free(q->fingerprint);
    free(q->raw);
    memset(q, 0, sizeof(*q));
}

/* sg_quarantined_free - free one message */
void
sg_quarantined_free(struct sg_quarantined **qp)
{
    struct sg_quarantined *q = *qp;
    if (q == NULL)
        return;
    sg_quarantined_clear(q);
    free(q);
    *qp = NULL;
}

/* sg_quarantined_list_free - free a list */
void
sg_quarantined_list_free(struct sg_quarantined ***listp, size_t n)
{
    struct sg_quarantined **list = *listp;
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        sg_quarantined_free(&list[i]);
    free(list);
    *listp = NULL;
}
