/*
 * pipeline.c - analyse, decide, sign for one message.
 */
#include "pipeline.h"

#include "content.h"
#include "mime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* sg_action_name - action word */
const char *
sg_action_name(enum sg_action a)
{
    static const char *const names[] = {"accept",     "tag",    "rewrite",
                                        "quarantine", "reject", "tempfail"};
    return (size_t)a < SG_NELEM(names) ? names[a] : "?";
}

/* sg_dkim_outcome_name - outcome word for logs */
const char *
sg_dkim_outcome_name(enum sg_dkim_outcome o)
{
    static const char *const names[] = {"signed", "not-outgoing", "no-from",  "multiple-from",
                                        "no-key", "error",        "not-sent", "pending"};
    return (size_t)o < SG_NELEM(names) ? names[o] : "?";
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

/* decide - the strongest action of what was found: internal failures follow
 * on_internal_error, the score its thresholds (0 = never) */
static enum sg_action
decide(const struct sg_config *cfg, const struct sg_verdict *v)
{
    if (v->dkim == SG_DKIM_ERROR)
        return cfg->on_internal_error == SG_ON_ERROR_ACCEPT ? SG_ACTION_ACCEPT : SG_ACTION_TEMPFAIL;
    double score = v->score.total;
    if (cfg->reject_at > 0 && score >= cfg->reject_at)
        return SG_ACTION_REJECT;
    if (cfg->quarantine_at > 0 && score >= cfg->quarantine_at)
        return SG_ACTION_QUARANTINE;
    if (cfg->tag_at > 0 && score >= cfg->tag_at)
        return SG_ACTION_TAG;
    return SG_ACTION_ACCEPT;
}

/* analyse_content - MIME analysis and rule hits; false (and v->error) when the spool fails */
static bool
analyse_content(const struct sg_rules *rules, struct sg_msg *msg, time_t now, struct sg_verdict *v)
{
    struct sg_content *content = NULL;
    char *error = NULL;
    if (sg_mime_analyse(msg, &content, &error) != SG_OK) {
        v->error = error;
        return false;
    }
    sg_score_content(rules, content, now, &v->score);
    if (content->subject != NULL)
        v->subject = sg_xstrdup(content->subject);
    sg_content_free(&content);
    return true;
}

/* add_missing - Date and Message-ID when the message has none (RFC 5322
 * requires Date; receivers distrust mail without either), appended to msg
 * so that the signature covers them, and listed in v for the MTA */
static void
add_missing(struct sg_msg *msg, const char *domain, struct sg_verdict *v)
{
    size_t n = 0;
    if (sg_msg_header_find(msg, "Date", &n) == NULL) {
        char date[64];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof(date), " %a, %d %b %Y %H:%M:%S +0000", &tm);
        v->added_names[v->nadded] = sg_xstrdup("Date");
        v->added_values[v->nadded++] = sg_xstrdup(date);
    }
    if (sg_msg_header_find(msg, "Message-ID", &n) == NULL) {
        unsigned char rnd[12];
        char hex[25];
        if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
            for (size_t i = 0; i < sizeof(rnd); i++) /* no entropy yet: unique enough */
                rnd[i] = (unsigned char)(random() >> 8);
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
        v->added_names[v->nadded] = sg_xstrdup("Message-ID");
        v->added_values[v->nadded++] =
            sg_xasprintf(" <%lld.%s@%s>", (long long)time(NULL), hex, domain);
    }
    for (size_t i = 0; i < v->nadded; i++)
        sg_msg_add_header(msg, v->added_names[i], v->added_values[i]);
}

/* sign - choose the keys by the From domain as it leaves, and sign */
static void
sign(struct sg_runtime *rt, struct sg_msg *msg, const char *from_domain, struct sg_verdict *v)
{
    const struct sg_signing_key *keys;
    const char *d;
    size_t n = sg_keyring_select(rt->keys, from_domain, rt->cfg->sign_subdomains, &keys, &d);
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

/* sg_pipeline_analyse - From, content and action */
void
sg_pipeline_analyse(const struct sg_config *cfg, const struct sg_rules *rules, struct sg_msg *msg,
                    enum sg_origin origin, time_t now, struct sg_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->origin = origin;
    v->dkim = SG_DKIM_PENDING; /* signable, unless analysis says otherwise */
    analyse_from(msg, v);
    if (origin == SG_ORIGIN_INBOUND) {
        v->dkim = SG_DKIM_NOT_OUTGOING;
    } else if (sg_msg_header_overflow(msg)) {
        /* Part of the header is missing: neither a score nor a signature would be right. */
        v->dkim = SG_DKIM_ERROR;
        v->error = sg_xasprintf("header section larger than %zu bytes", SG_MSG_MAX_HEADER_BYTES);
    } else if (rules != NULL && !analyse_content(rules, msg, now, v)) {
        v->dkim = SG_DKIM_ERROR;
    }
    v->action = decide(cfg, v);
}

_Static_assert((int)SG_CONFIG_ACCEPT == (int)SG_ACTION_ACCEPT &&
                   (int)SG_CONFIG_TAG == (int)SG_ACTION_TAG &&
                   (int)SG_CONFIG_REWRITE == (int)SG_ACTION_REWRITE &&
                   (int)SG_CONFIG_QUARANTINE == (int)SG_ACTION_QUARANTINE &&
                   (int)SG_CONFIG_REJECT == (int)SG_ACTION_REJECT,
               "enum sg_config_action must match enum sg_action");

/* sg_pipeline_align - SPF/DMARC findings strengthen the action */
void
sg_pipeline_align(const struct sg_config *cfg, struct sg_spf *dns, const struct sg_keyring *keys,
                  const char *mail_from, unsigned can_rewrite, struct sg_verdict *v)
{
    /* Only outgoing mail that nothing else failed on. */
    if (dns == NULL || v->origin == SG_ORIGIN_INBOUND || v->dkim == SG_DKIM_ERROR)
        return;
    if (v->dkim == SG_DKIM_NO_FROM || v->dkim == SG_DKIM_MULTIPLE_FROM) {
        sg_alignment_bad_from(cfg, v->dkim == SG_DKIM_NO_FROM ? 0 : 2, &v->align);
        if ((int)v->align.action > (int)v->action)
            v->action = (enum sg_action)v->align.action;
        return;
    }
    if (v->from_domain == NULL)
        return;
    const struct sg_signing_key *selected = NULL;
    const char *d = NULL, *relay_d = NULL;
    if (keys == NULL ||
        sg_keyring_select(keys, v->from_domain, cfg->sign_subdomains, &selected, &d) == 0)
        d = NULL;
    char *relay = cfg->rewrite_from[0] ? sg_addr_domain(cfg->rewrite_from) : NULL;
    if (keys == NULL || relay == NULL ||
        sg_keyring_select(keys, relay, false, &selected, &relay_d) == 0)
        relay_d = NULL;
    free(relay);
    /* The relay domain's own key: a parent's d= fails adkim=s. */
    sg_alignment_check(cfg, dns, mail_from ? mail_from : "", v->from_addr, v->from_domain, d,
                       relay_d, can_rewrite, &v->align);
    if ((int)v->align.action > (int)v->action)
        v->action = (enum sg_action)v->align.action;
}

/* without_cr - a header value with its folding as the MTA writes it (LF,
 * which Postfix turns into CRLF; a folded value stays within its lines) */
static char *
without_cr(const char *value)
{
    char *out = sg_xstrdup(value);
    char *w = out;
    for (const char *r = value; *r; r++)
        if (*r != '\r')
            *w++ = *r;
    *w = '\0';
    return out;
}

/* rewrite - the rewrites alignment planned, made on msg before it is signed;
 * returns the From domain the message leaves with (borrowed) */
static const char *
rewrite(const struct sg_config *cfg, struct sg_msg *msg, struct sg_verdict *v)
{
    if (v->align.rewrite_envelope)
        v->new_mail_from = sg_xstrdup(v->align.envelope);
    if (!v->align.rewrite_from)
        return v->from_domain;
    size_t n = 0;
    const char *from = sg_msg_header_find(msg, "From", &n);
    const char *at = strrchr(cfg->rewrite_from, '@');
    char *relay_domain = sg_addr_domain(cfg->rewrite_from);
    v->new_from = sg_mime_from_via(from, cfg->rewrite_from, relay_domain);
    free(relay_domain);
    if (v->new_from == NULL) /* analyse_from found exactly one mailbox: cannot happen */
        return v->from_domain;
    /* Replies still reach the author. */
    if (sg_msg_header_find(msg, "Reply-To", &n) == NULL) {
        v->reply_to = without_cr(from);
        sg_msg_add_header(msg, "Reply-To", v->reply_to);
    }
    sg_msg_header_replace(msg, "From", v->new_from);
    return at + 1;
}

/* sg_pipeline_run - one message, start to verdict */
void
sg_pipeline_run(struct sg_runtime *rt, struct sg_msg *msg, enum sg_origin origin,
                const char *mail_from, long long released, unsigned can_rewrite,
                struct sg_verdict *v)
{
    sg_pipeline_analyse(rt->cfg, rt->rules, msg, origin, time(NULL), v);
    sg_pipeline_align(rt->cfg, rt->spf, rt->keys, mail_from, can_rewrite, v);
    if (released > 0) {
        /* An administrator looked at it and let it go: the content decides nothing. */
        v->released = released;
        if (v->action == SG_ACTION_TAG || v->action == SG_ACTION_QUARANTINE ||
            v->action == SG_ACTION_REJECT)
            v->action = v->align.rewrite_from || v->align.rewrite_envelope ? SG_ACTION_REWRITE
                                                                            : SG_ACTION_ACCEPT;
    }
    /* What leaves is rewritten as planned, then signed. */
    bool leaves = v->action == SG_ACTION_ACCEPT || v->action == SG_ACTION_TAG ||
                  v->action == SG_ACTION_REWRITE;
    if (v->dkim != SG_DKIM_PENDING) /* not signable, or not outgoing */
        return;
    if (!leaves) {
        v->dkim = SG_DKIM_NOT_SENT;
        return;
    }
    const char *from_domain = rewrite(rt->cfg, msg, v);
    if (rt->cfg->add_missing_headers) {
        const struct sg_signing_key *keys;
        const char *d = NULL;
        if (sg_keyring_select(rt->keys, from_domain, rt->cfg->sign_subdomains, &keys, &d) == 0)
            d = from_domain;
        add_missing(msg, d, v);
    }
    sign(rt, msg, from_domain, v);
    if (v->dkim == SG_DKIM_ERROR) {
        /* Unsigned, a relay From fails DMARC for the relay: keep the author's. */
        free(v->new_from);
        free(v->reply_to);
        v->new_from = v->reply_to = NULL;
        v->action = decide(rt->cfg, v);
    }
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
    /* A From rewritten to the relay fails DMARC unsigned, whatever
     * on_internal_error says: the MTA keeps it instead. */
    if (v->new_from != NULL)
        v->action = SG_ACTION_TEMPFAIL;
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
    free(v->subject);
    for (size_t i = 0; i < v->nadded; i++) {
        free(v->added_names[i]);
        free(v->added_values[i]);
    }
    free(v->new_from);
    free(v->reply_to);
    free(v->new_mail_from);
    sg_alignment_clear(&v->align);
    sg_score_clear(&v->score);
    memset(v, 0, sizeof(*v));
}

/* sg_verdict_top_rule - the heaviest positive hit (hits are sorted heaviest first) */
const char *
sg_verdict_top_rule(const struct sg_verdict *v)
{
    if (v->score.nhits > 0 && v->score.hits[0].weight > 0)
        return v->score.hits[0].rule;
    return NULL;
}

/* top_rules - comma-separated ids of the heaviest positive hits, at most n (caller frees) */
static char *
top_rules(const struct sg_verdict *v, size_t n)
{
    char buf[256] = "";
    size_t shown = 0;
    for (size_t i = 0; i < v->score.nhits && shown < n; i++) {
        if (v->score.hits[i].weight <= 0)
            continue;
        size_t used = strlen(buf);
        snprintf(buf + used, sizeof(buf) - used, "%s%s", shown ? "," : "", v->score.hits[i].rule);
        shown++;
    }
    return sg_xstrdup(shown ? buf : "-");
}

/* sg_verdict_reject_text - the heaviest reasons, explained */
char *
sg_verdict_reject_text(const struct sg_verdict *v)
{
    /* SMTP replies are short: the two heaviest reasons, each with its snippet. */
    char buf[400];
    if (v->align.finding != NULL && v->align.action == SG_CONFIG_REJECT) {
        /* The receiver would refuse it whatever the content: say why and what to change. */
        snprintf(buf, sizeof(buf), "Not sent: %s", v->align.finding);
        for (char *p = buf; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
                *p = '?';
        return sg_xstrdup(buf);
    }
    size_t n = (size_t)snprintf(buf, sizeof(buf),
                                "Not sent: the message looks like spam or phishing to "
                                "receivers (sendguard score %.1f).",
                                v->score.total);
    for (size_t i = 0, shown = 0; i < v->score.nhits && shown < 2 && n < sizeof(buf); i++) {
        const struct sg_hit *h = &v->score.hits[i];
        if (h->weight <= 0)
            continue;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %s [%s: %.60s]", h->explain, h->rule,
                              h->snippet);
        shown++;
    }
    /* SMTP text is one line of printable ASCII: replace anything else. */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    return sg_xstrdup(buf);
}

/* sg_verdict_tagged - tag, or a rewrite with a score at tag_at (not when
 * released: an administrator let the content go) */
bool
sg_verdict_tagged(const struct sg_config *cfg, const struct sg_verdict *v)
{
    if (cfg->tag_header[0] == '\0')
        return false;
    return v->action == SG_ACTION_TAG ||
           (v->action == SG_ACTION_REWRITE && v->released == 0 && cfg->tag_at > 0 &&
            v->score.total >= cfg->tag_at);
}

/* sg_verdict_tag_value - score and rule ids for the tag header */
char *
sg_verdict_tag_value(const struct sg_verdict *v)
{
    char *rules = top_rules(v, 5);
    char *value = sg_xasprintf("score=%.1f rules=%s", v->score.total, rules);
    free(rules);
    return value;
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
    char *hits = top_rules(v, 3);
    char extra[96] = "";
    if (v->quarantine_id > 0)
        snprintf(extra, sizeof(extra), " quarantine_id=%lld%s", v->quarantine_id,
                 v->quarantine_duplicate ? " duplicate=yes" : "");
    else if (v->released > 0)
        snprintf(extra, sizeof(extra), " released=%lld", v->released);
    char *align = sg_alignment_log(&v->align);
    const char *rewritten = v->new_from && v->new_mail_from ? " rewrite=from,envelope"
                            : v->new_from                   ? " rewrite=from"
                            : v->new_mail_from              ? " rewrite=envelope"
                                                            : "";
    char *line = sg_xasprintf("from=<%s> rcpts=%zu origin=%s from_domain=%s %s%s%s score=%.1f "
                              "hits=%s action=%s%s",
                              envfrom ? envfrom : "", nrcpts, sg_origin_name(v->origin),
                              v->from_domain ? v->from_domain : "-", dkim, align, rewritten,
                              v->score.total, hits, sg_action_name(v->action), extra);
    free(align);
    free(hits);
    free(dkim);
    return line;
}
