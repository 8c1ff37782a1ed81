/*
 * store_backend.h - what a store backend (store_sqlite.c, later PostgreSQL)
 * implements: the struct of operations and the handle every backend embeds
 * first.  Only store.c and the backends include this; callers use store.h.
 */
#ifndef SG_STORE_BACKEND_H
#define SG_STORE_BACKEND_H

#include "store.h"

#include <pthread.h>

struct sg_store_ops {
    void (*close)(struct sg_store *store);
    enum sg_rc (*quarantine_put)(struct sg_store *store, const struct sg_quarantined *q,
                                 long long *id_r, bool *duplicate_r, char **error_r);
    enum sg_rc (*quarantine_get)(struct sg_store *store, long long id, struct sg_quarantined **q_r,
                                 char **error_r);
    enum sg_rc (*quarantine_list)(struct sg_store *store, const struct sg_store_filter *f,
                                  struct sg_quarantined ***list_r, size_t *n_r, char **error_r);
    enum sg_rc (*quarantine_set_state)(struct sg_store *store, long long id, const char *state,
                                       char **error_r);
    enum sg_rc (*quarantine_delete)(struct sg_store *store, long long id, char **error_r);
    enum sg_rc (*purge)(struct sg_store *store, long long older_than, size_t *nq_r, size_t *nv_r,
                        char **error_r);
    enum sg_rc (*verdicts_put)(struct sg_store *store, const struct sg_verdict_row *rows,
                               size_t n, char **error_r);
    enum sg_rc (*release_begin)(struct sg_store *store, long long id, const char *token,
                                const char *body_hash, long long now, long long expires,
                                bool force, char **error_r);
    enum sg_rc (*release_take)(struct sg_store *store, const char *token, const char *body_hash,
                               long long now, long long *id_r, char **error_r);
    enum sg_rc (*release_end)(struct sg_store *store, long long id, const char *token,
                              enum sg_release_outcome outcome, bool *unused_r, char **error_r);
    enum sg_rc (*stats)(struct sg_store *store, long long since, struct sg_store_stats *s,
                        char **error_r);
};

/* Every backend's handle starts with this. */
struct sg_store {
    const struct sg_store_ops *ops;
    char *path;
    pthread_mutex_t lock; /* one call at a time per handle */
};

/* sg_store_backend_init - fill the common part of a new handle */
void sg_store_backend_init(struct sg_store *store, const struct sg_store_ops *ops,
                           const char *path);

/* sg_store_backend_fini - release the common part */
void sg_store_backend_fini(struct sg_store *store);

#endif
