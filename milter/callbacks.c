/*
 * callbacks.c - libmilter glue.
 *
 * Round trips are what a milter costs Postfix (DESIGN.md): sendguard asks for
 * no reply at every stage but end of message, and for no HELO, DATA or
 * unknown commands, whenever the MTA offers that.  Decisions therefore all
 * happen at end of message.
 *
 * Contexts: struct conn lives from negotiate/connect to close (close can
 * come without connect); struct message from MAIL FROM to end of message or
 * abort.  Each holds its own reference to the runtime it started with, so a
 * reload never changes the rules under a message in flight.
 *
 * End of message, in order: strip any X-Sendguard-Release header from what
 * leaves and check its token (store), run the pipeline, add the tag or the
 * signatures, or store a held message (commit before discard), log, queue
 * the statistics row (recorder.c), reply.
 */
#include "callbacks.h"

#include "log.h"
#include "pipeline.h"
#include "quarantine.h"
#include "recorder.h"
#include "store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Protocol steps sendguard can do without. */
#define WANT_NOREPLY                                                                               \
    (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_DATA |               \
     SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)
#define WANT_NOSEND (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA)

struct message {
    struct sg_runtime *rt;
    struct sg_msg *msg;
    enum sg_origin origin;
    char *envfrom;
    char **rcpts; /* NULL-terminated, without angle brackets */
    size_t nrcpts, rcpts_cap;
    char *spool_error; /* set when the body could not be stored */
};

struct conn {
    unsigned long pflags;  /* protocol flags agreed with the MTA */
    unsigned long actions; /* modifications it allows (SMFIF_*) */
    char client_addr[INET6_ADDRSTRLEN + 8];
    char *daemon_name;
    struct message *m;
};

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_runtime *current_runtime;
/* The quarantine and statistics database: one handle, its calls serialised
 * inside store.c; set once before the first connection. */
static struct sg_store *store;

/* sg_callbacks_set_store - the database the callbacks use (borrowed) */
void
sg_callbacks_set_store(struct sg_store *s)
{
    store = s;
}

/* sg_callbacks_set_runtime - publish the runtime for new messages */
void
sg_callbacks_set_runtime(struct sg_runtime *rt)
{
    struct sg_runtime *old;
    pthread_mutex_lock(&runtime_lock);
    old = current_runtime;
    current_runtime = sg_runtime_ref(rt);
    pthread_mutex_unlock(&runtime_lock);
    sg_runtime_unref(&old);
}

/* runtime_get - a reference to the current runtime */
static struct sg_runtime *
runtime_get(void)
{
    struct sg_runtime *rt;
    pthread_mutex_lock(&runtime_lock);
    rt = current_runtime ? sg_runtime_ref(current_runtime) : NULL;
    pthread_mutex_unlock(&runtime_lock);
    return rt;
}

/* message_free - end of a message's life */
static void
message_free(struct message **mp)
{
    struct message *m = *mp;
    if (m == NULL)
        return;
    sg_msg_free(&m->msg);
    sg_runtime_unref(&m->rt);
    free(m->envfrom);
    sg_strv_free(m->rcpts);
    free(m->spool_error);
    free(m);
    *mp = NULL;
}

/* conn_get - the connection context, created on first use */
static struct conn *
conn_get(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c == NULL) {
        c = sg_xcalloc(1, sizeof(*c));
        smfi_setpriv(ctx, c);
    }
    return c;
}

/* step_reply - "no reply" where negotiated, else continue */
static sfsistat
step_reply(const struct conn *c, unsigned long nr_flag)
{
    return (c->pflags & nr_flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* on_negotiate - take the no-reply and no-send steps the MTA offers */
static sfsistat
on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2, unsigned long f3,
             unsigned long *pf0, unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    (void)f2;
    (void)f3;
    struct conn *c = conn_get(ctx);
    /* CHGHDRS removes the release header from a released message and
     * rewrites From; CHGFROM rewrites the envelope sender. */
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGFROM);
    *pf1 = f1 & (WANT_NOREPLY | WANT_NOSEND | SMFIP_HDR_LEADSPC);
    c->pflags = *pf1;
    c->actions = *pf0;
    *pf2 = 0;
    *pf3 = 0;
    static int warned;
    if (!(f0 & SMFIF_CHGFROM) && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        sg_warn("the MTA does not allow changing the envelope sender (Postfix: milter_protocol "
                "= 6): on_spf_fail = rewrite cannot rewrite it");
    if (!(f0 & SMFIF_ADDHDRS)) {
        sg_warn("the MTA does not allow adding headers: sendguard cannot sign");
        return SMFIS_REJECT;
    }
    return SMFIS_CONTINUE;
}

/* on_connect - remember the client address */
static sfsistat
on_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
    (void)hostname;
    struct conn *c = conn_get(ctx);
    c->client_addr[0] = '\0';
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->client_addr,
                  sizeof(c->client_addr));
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->client_addr,
                  sizeof(c->client_addr));
    else {
        const char *macro = smfi_getsymval(ctx, "{client_addr}");
        if (macro != NULL)
            sg_strlcpy(c->client_addr, macro, sizeof(c->client_addr));
    }
    const char *daemon = smfi_getsymval(ctx, "{daemon_name}");
    free(c->daemon_name);
    c->daemon_name = daemon ? sg_xstrdup(daemon) : NULL;
    return step_reply(c, SMFIP_NR_CONN);
}

/* address_of - an SMTP argument without the angle brackets of <addr> */
static char *
address_of(const char *arg)
{
    char *addr = sg_xstrdup(arg ? arg : "");
    size_t len = strlen(addr);
    if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>') {
        memmove(addr, addr + 1, len - 2);
        addr[len - 2] = '\0';
    }
    return addr;
}

/* on_envfrom - a new message: classify its origin */
static sfsistat
on_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn *c = conn_get(ctx);
    message_free(&c->m);
    struct sg_runtime *rt = runtime_get();
    if (rt == NULL)
        return step_reply(c, SMFIP_NR_MAIL);

    struct message *m = sg_xcalloc(1, sizeof(*m));
    m->rt = rt;
    m->msg = sg_msg_new(rt->cfg->spool_memory_limit, rt->cfg->spool_directory);
    m->envfrom = address_of(argv[0]);
    m->origin = sg_origin_classify(rt->cfg, c->client_addr[0] ? c->client_addr : NULL,
                                   smfi_getsymval(ctx, "{auth_authen}"), c->daemon_name);
    c->m = m;
    return step_reply(c, SMFIP_NR_MAIL);
}

/* on_envrcpt - keep the recipients (a quarantined message is released to them) */
static sfsistat
on_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn *c = conn_get(ctx);
    struct message *m = c->m;
    if (m != NULL) {
        if (m->nrcpts + 2 > m->rcpts_cap) { /* room for one more and the NULL */
            m->rcpts_cap = m->rcpts_cap ? 2 * m->rcpts_cap : 4;
            m->rcpts = sg_xrealloc(m->rcpts, m->rcpts_cap * sizeof(*m->rcpts));
        }
        m->rcpts[m->nrcpts++] = address_of(argv[0]);
        m->rcpts[m->nrcpts] = NULL;
    }
    return step_reply(c, SMFIP_NR_RCPT);
}

/* on_header - keep the field exactly as it will be sent */
static sfsistat
on_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn *c = conn_get(ctx);
    if (c->m != NULL && c->m->origin != SG_ORIGIN_INBOUND) {
        if (c->pflags & SMFIP_HDR_LEADSPC) {
            sg_msg_add_header(c->m->msg, name, value);
        } else {
            /* Without LEADSPC libmilter strips the space after the colon; put it back. */
            char *v = sg_xasprintf(" %s", value);
            sg_msg_add_header(c->m->msg, name, v);
            free(v);
        }
    }
    return step_reply(c, SMFIP_NR_HDR);
}

/* on_eoh - nothing to do until the body is complete */
static sfsistat
on_eoh(SMFICTX *ctx)
{
    return step_reply(conn_get(ctx), SMFIP_NR_EOH);
}

/* on_body - spool the body of outgoing mail */
static sfsistat
on_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
    struct conn *c = conn_get(ctx);
    struct message *m = c->m;
    if (m != NULL && m->origin != SG_ORIGIN_INBOUND && m->spool_error == NULL) {
        char *error = NULL;
        if (sg_msg_add_body(m->msg, data, len, &error) != SG_OK)
            m->spool_error = error;
    }
    return step_reply(c, SMFIP_NR_BODY);
}

/* header_value - a value as libmilter wants it: with its leading space only
 * when the MTA takes the space from us (SMFIP_HDR_LEADSPC) */
static char *
header_value(const struct conn *c, const char *value)
{
    if (!(c->pflags & SMFIP_HDR_LEADSPC) && value[0] == ' ')
        value++; /* the MTA adds the space itself */
    return (char *)value;
}

/* add_tag - the configured tag header with the score and the heaviest rules */
static bool
add_tag(SMFICTX *ctx, const struct conn *c, const struct sg_config *cfg, const struct sg_verdict *v)
{
    char *value = sg_verdict_tag_value(v);
    char *field = (c->pflags & SMFIP_HDR_LEADSPC) ? sg_xasprintf(" %s", value) : sg_xstrdup(value);
    /* Added at the end; it is not in sign_headers, so it is not signed. */
    int ret = smfi_addheader(ctx, cfg->tag_header, field);
    free(field);
    free(value);
    return ret == MI_SUCCESS;
}

/* add_missing - the header fields the pipeline added before signing, at the end */
static bool
add_missing(SMFICTX *ctx, const struct conn *c, const struct sg_verdict *v)
{
    for (size_t i = 0; i < v->nadded; i++)
        if (smfi_addheader(ctx, v->added_names[i], header_value(c, v->added_values[i])) !=
            MI_SUCCESS)
            return false;
    return true;
}

/* rewrite - the envelope sender, From and Reply-To as the pipeline rewrote
 * and signed them; before add_missing (the same order as in the pipeline) */
static bool
rewrite(SMFICTX *ctx, const struct conn *c, const struct sg_verdict *v)
{
    if (v->new_mail_from != NULL) {
        char *addr = sg_xasprintf("<%s>", v->new_mail_from);
        int ret = smfi_chgfrom(ctx, addr, NULL);
        free(addr);
        if (ret != MI_SUCCESS)
            return false;
    }
    if (v->new_from != NULL && smfi_chgheader(ctx, "From", 1, header_value(c, v->new_from)) !=
                                   MI_SUCCESS)
        return false;
    if (v->reply_to != NULL &&
        smfi_addheader(ctx, "Reply-To", header_value(c, v->reply_to)) != MI_SUCCESS)
        return false;
    return true;
}

/* add_signatures - insert the DKIM-Signature fields at the top */
static bool
add_signatures(SMFICTX *ctx, const struct conn *c, const struct sg_verdict *v)
{
    /* Insert the last first, so the first ends up on top. */
    for (size_t i = v->nsignatures; i-- > 0;) {
        char *value = (c->pflags & SMFIP_HDR_LEADSPC) ? sg_xasprintf(" %s", v->signatures[i])
                                                      : sg_xstrdup(v->signatures[i]);
        int ret = smfi_insheader(ctx, 0, "DKIM-Signature", value);
        free(value);
        if (ret != MI_SUCCESS)
            return false;
    }
    return true;
}

/* strip_release - remove every release header from the message as it
 * leaves (a token must never go out, nor survive a failure); *count_r is
 * how many there were.  false when the MTA refused. */
static bool
strip_release(SMFICTX *ctx, struct message *m, size_t *count_r, char **error_r)
{
    size_t count = 0;
    (void)sg_msg_header_find(m->msg, SG_RELEASE_HEADER, &count);
    *count_r = count;
    for (size_t i = count; i > 0; i--) {
        if (smfi_chgheader(ctx, SG_RELEASE_HEADER, (int)i, NULL) != MI_SUCCESS) {
            *error_r = sg_xstrdup("the MTA refused to remove the " SG_RELEASE_HEADER " header");
            return false;
        }
    }
    return true;
}

/* take_release - the quarantine id the message's release token releases (0:
 * none, or a forged, used or expired token, or one made for another
 * message: that buys nothing).  false when the database failed (tempfail). */
static bool
take_release(const char *qid, struct message *m, long long *released_r, char **error_r)
{
    size_t count = 0;
    const char *value = sg_msg_header_find(m->msg, SG_RELEASE_HEADER, &count);
    *released_r = 0;
    if (count == 0)
        return true;
    if (count > 1 || store == NULL) {
        sg_warn("%s: %zu %s header(s) removed; not a release", qid, count, SG_RELEASE_HEADER);
        return true;
    }
    char *body_hash = sg_quarantine_body_hash(m->msg, error_r);
    if (body_hash == NULL)
        return false;
    char *token = sg_xstrdup(value + strspn(value, " \t"));
    token[strcspn(token, " \t\r\n")] = '\0';
    char *error = NULL;
    enum sg_rc rc = sg_store_release_take(store, token, body_hash, (long long)time(NULL),
                                          released_r, &error);
    free(token);
    free(body_hash);
    if (rc == SG_PERM) {
        sg_warn("%s: %s header with an unknown, used or expired token, or one made for another "
                "message: analysed as usual",
                qid, SG_RELEASE_HEADER);
        free(error);
        return true;
    }
    if (rc != SG_OK) {
        *error_r = error;
        return false;
    }
    return true;
}

/* quarantine - store the message durably; false (and *error_r) when that
 * fails, and then the MTA must keep it */
static bool
quarantine(struct message *m, const struct conn *c, const char *qid, struct sg_verdict *v,
           char **error_r)
{
    if (store == NULL) {
        *error_r = sg_xstrdup("no quarantine database is open");
        return false;
    }
    struct sg_envelope env = {
        .queue_id = qid,
        .client_addr = c->client_addr[0] ? c->client_addr : NULL,
        .env_from = m->envfrom,
        .rcpts = m->rcpts,
        .nrcpts = m->nrcpts,
    };
    struct sg_quarantined q;
    enum sg_rc rc = sg_quarantine_record(m->msg, v, &env, time(NULL), &q, error_r);
    if (rc == SG_OK)
        rc = sg_store_quarantine_put(store, &q, &v->quarantine_id, &v->quarantine_duplicate,
                                     error_r);
    sg_quarantine_record_clear(&q);
    return rc == SG_OK;
}

/* record_verdict - one statistics row per message, written in the background */
static void
record_verdict(const char *qid, const struct sg_verdict *v)
{
    /* Releases are counted apart from what passed on its own. */
    const char *action = v->origin == SG_ORIGIN_INBOUND ? "inbound"
                         : v->released > 0 &&
                                 (v->action == SG_ACTION_ACCEPT || v->action == SG_ACTION_REWRITE)
                             ? "released"
                             : sg_action_name(v->action);
    sg_recorder_add((long long)time(NULL), qid, action, v->score.total, sg_verdict_top_rule(v));
}

/* on_eom - run the pipeline and act on its verdict */
static sfsistat
on_eom(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    struct message *m = c->m;
    const char *qid = smfi_getsymval(ctx, "i");
    if (m == NULL) {
        /* End of message without MAIL FROM: the MTA broke the protocol.  Keep the mail. */
        sg_error("%s: end of message without a message: tempfail", qid ? qid : "NOQUEUE");
        return SMFIS_TEMPFAIL;
    }
    if (qid == NULL)
        qid = "NOQUEUE";
    const struct sg_config *cfg = m->rt->cfg;
    struct sg_verdict v;
    sfsistat ret;
    long long released = 0;
    char *error = NULL;

    size_t nrelease = 0;
    if (m->origin != SG_ORIGIN_INBOUND && !strip_release(ctx, m, &nrelease, &error)) {
        /* A token could leave with the message: it must not leave. */
        memset(&v, 0, sizeof(v));
        v.origin = m->origin;
        sg_verdict_fail(cfg, &v, error);
        v.action = SG_ACTION_TEMPFAIL;
    } else if (m->spool_error != NULL) {
        memset(&v, 0, sizeof(v));
        v.origin = m->origin;
        sg_verdict_fail(cfg, &v, sg_xasprintf("cannot spool the message: %s", m->spool_error));
    } else if (nrelease > 0 && !take_release(qid, m, &released, &error)) {
        /* Whatever on_internal_error says: unchecked, it must not leave. */
        memset(&v, 0, sizeof(v));
        v.origin = m->origin;
        sg_verdict_fail(cfg, &v, error);
        v.action = SG_ACTION_TEMPFAIL;
    } else {
        unsigned can_rewrite = ((c->actions & SMFIF_CHGFROM) ? SG_REWRITE_ENVELOPE : 0) |
                               ((c->actions & SMFIF_CHGHDRS) ? SG_REWRITE_FROM : 0);
        sg_pipeline_run(m->rt, m->msg, m->origin, m->envfrom, released, can_rewrite, &v);
        if ((v.new_mail_from || v.new_from) && !rewrite(ctx, c, &v))
            sg_verdict_fail(cfg, &v,
                            sg_xstrdup("the MTA refused to rewrite From or the envelope sender"));
        else if (v.nadded > 0 && !add_missing(ctx, c, &v))
            sg_verdict_fail(cfg, &v, sg_xstrdup("the MTA refused to add a missing Date or "
                                                "Message-ID header"));
        else if (sg_verdict_tagged(cfg, &v) && !add_tag(ctx, c, cfg, &v))
            sg_verdict_fail(cfg, &v,
                            sg_xasprintf("the MTA refused the %s header", cfg->tag_header));
        else if (v.nsignatures > 0 && !add_signatures(ctx, c, &v))
            sg_verdict_fail(cfg, &v, sg_xstrdup("the MTA refused the DKIM-Signature header"));
        else if (v.action == SG_ACTION_QUARANTINE && !quarantine(m, c, qid, &v, &error)) {
            /* Never let through what the policy holds: the MTA keeps it and retries. */
            sg_verdict_fail(cfg, &v, sg_xasprintf("cannot quarantine: %s", error));
            v.action = SG_ACTION_TEMPFAIL;
            free(error);
        }
    }

    char *line = sg_verdict_log_line(&v, m->envfrom, m->nrcpts);
    if (v.dkim == SG_DKIM_ERROR)
        sg_error("%s: %s", qid, line);
    else
        sg_info("%s: %s", qid, line);
    free(line);
    record_verdict(qid, &v);

    switch (v.action) {
    case SG_ACTION_ACCEPT:
    case SG_ACTION_TAG:
    case SG_ACTION_REWRITE:
        ret = SMFIS_ACCEPT;
        break;
    case SG_ACTION_QUARANTINE:
        /* Committed to the database: the MTA may forget it.  The client sees success. */
        ret = SMFIS_DISCARD;
        break;
    case SG_ACTION_REJECT: {
        char *text = sg_verdict_reject_text(&v);
        smfi_setreply(ctx, "550", "5.7.1", text);
        free(text);
        ret = SMFIS_REJECT;
        break;
    }
    case SG_ACTION_TEMPFAIL:
    default:
        smfi_setreply(ctx, "451", "4.3.0",
                      "sendguard: temporary internal error, please try again later");
        ret = SMFIS_TEMPFAIL;
        break;
    }
    sg_verdict_clear(&v);
    message_free(&c->m);
    return ret;
}

/* on_abort - the message is gone; the connection may go on */
static sfsistat
on_abort(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c != NULL)
        message_free(&c->m);
    return SMFIS_CONTINUE;
}

/* on_close - the end of a connection (may come without connect) */
static sfsistat
on_close(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c != NULL) {
        message_free(&c->m);
        free(c->daemon_name);
        free(c);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

static struct smfiDesc descriptor = {
    .xxfi_name = "sendguard",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGFROM,
    .xxfi_connect = on_connect,
    .xxfi_helo = NULL,
    .xxfi_envfrom = on_envfrom,
    .xxfi_envrcpt = on_envrcpt,
    .xxfi_header = on_header,
    .xxfi_eoh = on_eoh,
    .xxfi_body = on_body,
    .xxfi_eom = on_eom,
    .xxfi_abort = on_abort,
    .xxfi_close = on_close,
    .xxfi_unknown = NULL,
    .xxfi_data = NULL,
    .xxfi_negotiate = on_negotiate,
};

/* sg_callbacks_descriptor - for smfi_register */
struct smfiDesc *
sg_callbacks_descriptor(void)
{
    return &descriptor;
}
