/*
 * pipeline.c - analyse, decide, sign for one message.
 */
#include "pipeline.h"

#include "mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sg_action_name - action word */
const char *
sg_action_name(enum sg_action a)
{
    static const char *const names[] = {"accept",     "tag",    "rewrite",
                                        "quarantine", "reject", "tempfail"};
    return names[a];
}

/* sg_dkim_outcome_name - outcome word for logs */
const char *
sg_dkim_outcome_name(enum sg_dkim_outcome o)
{
    static const char *const names[] = {"signed",        "not-outgoing", "no-from",
                                        "multiple-from", "no-key",       "error"};
    return names[o];
}

/* analyse_from - exactly one From field with exactly one address */
static void
analyse_from(struct sg_msg *msg, struct sg_verdict *v)
{
    size_t nfrom;
    const char *from = sg_msg_header_find(msg, "From", &nfrom);
    if (nfrom > 1) {
        v->dkim = SG_DKIM_MULTIPLE_FROM;
        return;
    }
    if (from == NULL) {
        v->dkim = SG_DKIM_NO_FROM;
        return;
    }
    char *addr;
    switch (sg_mime_from(from, &addr)) {
    case SG_FROM_ONE:
        v->from_domain = sg_addr_domain(addr);
        if (v->from_domain == NULL) {
            free(addr);
            v->dkim = SG_DKIM_NO_FROM;
            return;
        }
        v->from_addr = addr;
        return;
    case SG_FROM_MULTIPLE:
        v->dkim = SG_DKIM_MULTIPLE_FROM;
        return;
    case SG_FROM_NONE:
        v->dkim = SG_DKIM_NO_FROM;
        return;
    }
}

/* decide - the action for what was found; internal failures follow on_internal_error */
static enum sg_action
decide(const struct sg_config *cfg, const struct sg_verdict *v)
{
    if (v->dkim == SG_DKIM_ERROR)
        return cfg->on_internal_error == SG_ON_ERROR_ACCEPT ? SG_ACTION_ACCEPT : SG_ACTION_TEMPFAIL;
    return SG_ACTION_ACCEPT;
}

/* sign - choose the keys by From domain and sign */
static void
sign(struct sg_runtime *rt, struct sg_msg *msg, struct sg_verdict *v)
{
    const struct sg_signing_key *keys;
    const char *d;
    size_t n = sg_keyring_select(rt->keys, v->from_domain, rt->cfg->sign_subdomains, &keys, &d);
    if (n == 0) {
        v->dkim = SG_DKIM_NO_KEY;
        return;
    }
    char *error = NULL;
    char **sigs;
    if (sg_dkim_sign(rt->dkim, msg, d, keys, n, &sigs, &error) != SG_OK) {
        v->dkim = SG_DKIM_ERROR;
        v->error = error;
        return;
    }
    v->dkim = SG_DKIM_SIGNED;
    v->d = sg_xstrdup(d);
    v->signatures = sigs;
    v->nsignatures = n;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(keys[i].selector) + 1;
    v->selectors = sg_xcalloc(1, len + 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(v->selectors, ",");
        strcat(v->selectors, keys[i].selector);
    }
}

/* sg_pipeline_run - one message, start to verdict */
void
sg_pipeline_run(struct sg_runtime *rt, struct sg_msg *msg, enum sg_origin origin,
                struct sg_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->origin = origin;
    v->dkim = SG_DKIM_SIGNED; /* until analysis says otherwise */
    analyse_from(msg, v);
    if (origin == SG_ORIGIN_INBOUND) {
        v->dkim = SG_DKIM_NOT_OUTGOING;
    } else if (sg_msg_header_overflow(msg)) {
        /* Part of the header is missing: a signature over it would be wrong. */
        v->dkim = SG_DKIM_ERROR;
        v->error = sg_xasprintf("header section larger than %zu bytes", SG_MSG_MAX_HEADER_BYTES);
    } else if (v->dkim == SG_DKIM_SIGNED) {
        sign(rt, msg, v);
    }
    v->action = decide(rt->cfg, v);
}

/* sg_verdict_fail - an internal failure decides the verdict */
void
sg_verdict_fail(const struct sg_config *cfg, struct sg_verdict *v, char *error)
{
    for (size_t i = 0; i < v->nsignatures; i++)
        free(v->signatures[i]);
    free(v->signatures);
    v->signatures = NULL;
    v->nsignatures = 0;
    free(v->error);
    v->error = error;
    v->dkim = SG_DKIM_ERROR;
    v->action = decide(cfg, v);
}

/* sg_verdict_clear - release a verdict */
void
sg_verdict_clear(struct sg_verdict *v)
{
    free(v->from_addr);
    free(v->from_domain);
    free(v->d);
    free(v->selectors);
    for (size_t i = 0; i < v->nsignatures; i++)
        free(v->signatures[i]);
    free(v->signatures);
    free(v->error);
    memset(v, 0, sizeof(*v));
}

/* sg_verdict_log_line - key=value fields, values without spaces */
char *
sg_verdict_log_line(const struct sg_verdict *v, const char *envfrom, size_t nrcpts)
{
    char *dkim;
    if (v->dkim == SG_DKIM_SIGNED)
        dkim = sg_xasprintf("dkim=signed d=%s s=%s", v->d, v->selectors);
    else if (v->dkim == SG_DKIM_ERROR)
        dkim = sg_xasprintf("dkim=error reason=\"%s\"", v->error ? v->error : "unknown");
    else
        dkim = sg_xasprintf("dkim=unsigned reason=%s", sg_dkim_outcome_name(v->dkim));
    char *line =
        sg_xasprintf("from=<%s> rcpts=%zu origin=%s from_domain=%s %s action=%s",
                     envfrom ? envfrom : "", nrcpts, sg_origin_name(v->origin),
                     v->from_domain ? v->from_domain : "-", dkim, sg_action_name(v->action));
    free(dkim);
    return line;
}
