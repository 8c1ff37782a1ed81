/*
 * pipeline.h - what sendguard does with one message at end of message:
 * analyse (From address, MIME content, rule hits) -> decide (action) ->
 * sign.  Pure with respect to the milter: given a runtime, a message and its
 * origin, fill a verdict.  The milter and `sendguardctl score` call the same
 * analysis (sg_pipeline_analyse): one code path.
 */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include "alignment.h"
#include "message.h"
#include "origin.h"
#include "runtime.h"
#include "score.h"

#include <time.h>

/* Actions, weakest first: the strongest finding wins. */
enum sg_action {
    SG_ACTION_ACCEPT,
    SG_ACTION_TAG,
    SG_ACTION_REWRITE,
    SG_ACTION_QUARANTINE,
    SG_ACTION_REJECT,
    SG_ACTION_TEMPFAIL,
};

/* Why a message was or was not signed. */
enum sg_dkim_outcome {
    SG_DKIM_SIGNED,
    SG_DKIM_NOT_OUTGOING,
    SG_DKIM_NO_FROM,
    SG_DKIM_MULTIPLE_FROM,
    SG_DKIM_NO_KEY,
    SG_DKIM_ERROR,
    SG_DKIM_NOT_SENT, /* rejected: nothing leaves, so nothing is signed */
    SG_DKIM_PENDING,  /* analysed, not signed yet (what sg_pipeline_analyse leaves) */
};

struct sg_verdict {
    enum sg_origin origin;
    char *from_addr;   /* NULL when there is not exactly one */
    char *from_domain; /* NULL likewise */
    enum sg_dkim_outcome dkim;
    char *d;           /* signing domain when signed */
    char *selectors;   /* "s2026,e2026" when signed */
    char **signatures; /* DKIM-Signature values, newest first to insert */
    size_t nsignatures;
    struct sg_score score; /* content rule hits; empty for mail that is not outgoing */
    enum sg_action action;
    char *error;   /* what failed, for SG_DKIM_ERROR */
    char *subject; /* decoded Subject (UTF-8) when the content was analysed, else NULL */
    long long released;      /* quarantine id a valid release token let through, 0 = none */
    long long quarantine_id; /* where the message was quarantined, 0 = not */
    bool quarantine_duplicate; /* it was already held (an MTA retry) */
    struct sg_alignment align; /* SPF/DMARC prediction (align.checked false when not made) */
    /* Header fields sendguard added to the message before signing (Date,
     * Message-ID), names and values (value with its leading space), for the
     * MTA to add at the end as well */
    char *added_names[2];
    char *added_values[2];
    size_t nadded;
    /* The rewrites made before signing (alignment { on_dmarc_fail = "rewrite",
     * on_spf_fail = "rewrite" }), for the MTA to make as well; values with
     * their leading space.  NULL = not rewritten. */
    char *new_from;      /* the first From field's new value */
    char *reply_to;      /* a Reply-To field added with it (NULL: the message had one) */
    char *new_mail_from; /* the envelope sender */
};

/* sg_pipeline_analyse - analyse and decide, without signing: the From
 * address, the content score and the action (rules may be NULL: no content
 * rules).  Always fills *v (free with sg_verdict_clear); the rules must
 * outlive the verdict. */
void sg_pipeline_analyse(const struct sg_config *cfg, const struct sg_rules *rules,
                         struct sg_msg *msg, enum sg_origin origin, time_t now,
                         struct sg_verdict *v);

/* sg_pipeline_align - predict SPF and DMARC (when dns is not NULL and the
 * configuration names egress IPs) for the envelope sender mail_from and the
 * d= keys will sign with, and let the findings strengthen v->action */
void sg_pipeline_align(const struct sg_config *cfg, struct sg_spf *dns,
                       const struct sg_keyring *keys, const char *mail_from,
                       unsigned can_rewrite, struct sg_verdict *v);

/* sg_pipeline_run - analyse, predict alignment, decide, rewrite and sign what
 * leaves; always fills *v (free with sg_verdict_clear).  mail_from: the
 * envelope sender ("" = null sender).  released: the quarantine id whose
 * release token the message carried (0 = none): the content and alignment
 * are still analysed and logged, but tag, quarantine and reject become
 * accept, once.  can_rewrite: what the MTA lets sendguard rewrite
 * (SG_REWRITE_*, alignment.h). */
void sg_pipeline_run(struct sg_runtime *rt, struct sg_msg *msg, enum sg_origin origin,
                     const char *mail_from, long long released, unsigned can_rewrite,
                     struct sg_verdict *v);

/* sg_verdict_fail - mark a verdict as an internal failure (the spool could
 * not be written, the MTA refused a header...), taking ownership of error,
 * and decide the action for it (on_internal_error; tempfail when the From
 * was rewritten: it must not leave unsigned).  Signatures are dropped. */
void sg_verdict_fail(const struct sg_config *cfg, struct sg_verdict *v, char *error);

/* sg_verdict_clear - free what a verdict holds and zero it */
void sg_verdict_clear(struct sg_verdict *v);

/* sg_verdict_reject_text - one line for the SMTP rejection: what is wrong and
 * what to change, short enough for an accounting program to show (caller frees) */
char *sg_verdict_reject_text(const struct sg_verdict *v);

/* sg_verdict_tagged - does the message leave with the tag header: its
 * action is tag, or a rewrite that the score would have tagged */
bool sg_verdict_tagged(const struct sg_config *cfg, const struct sg_verdict *v);

/* sg_verdict_tag_value - the value of the tag header: "score=9.5 rules=a,b" (caller frees) */
char *sg_verdict_tag_value(const struct sg_verdict *v);

/* sg_verdict_top_rule - the id of the heaviest rule hit with a positive
 * weight (borrowed), or NULL */
const char *sg_verdict_top_rule(const struct sg_verdict *v);

/* sg_action_name - "accept", "tag", ..., "tempfail" */
const char *sg_action_name(enum sg_action action);

/* sg_dkim_outcome_name - "signed", "not-outgoing", "no-from", "multiple-from", "no-key",
 * "error", "not-sent", "pending" */
const char *sg_dkim_outcome_name(enum sg_dkim_outcome outcome);

/* sg_verdict_log_line - the key=value part of the per-message log line
 * (caller frees); envfrom may be NULL.  Includes score= and hits= (the ids
 * of the heaviest rule hits), and rewrite=from,envelope when rewritten. */
char *sg_verdict_log_line(const struct sg_verdict *v, const char *envfrom, size_t nrcpts);

#endif
