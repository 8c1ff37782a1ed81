/*
 * quarantine.c - quarantine rows from messages, and release bytes from rows
 * (quarantine.h).  The fingerprint uses GLib's SHA-256.
 */
#include "quarantine.h"

#include "json.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

/* A growing byte buffer. */
struct buf {
    unsigned char *data;
    size_t len, cap;
};

/* buf_add - append n bytes */
static void
buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 4096;
        b->data = sg_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* buf_add_crlf - append text, every bare LF (and bare CR) made CRLF */
static void
buf_add_crlf(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\r' && s[1] == '\n') {
            buf_add(b, "\r\n", 2);
            s++;
        } else if (*s == '\n' || *s == '\r') {
            buf_add(b, "\r\n", 2);
        } else {
            buf_add(b, s, 1);
        }
    }
}

/* add_body - sg_spool_read callback: raw and checksum */
struct body_sink {
    struct buf *raw;
    GChecksum *sum;
};

static bool
add_body(const void *data, size_t len, void *arg)
{
    struct body_sink *sink = arg;
    buf_add(sink->raw, data, len);
    g_checksum_update(sink->sum, data, (gssize)len);
    return true;
}

/* sum_str - a string and its terminating NUL into the checksum */
static void
sum_str(GChecksum *sum, const char *s)
{
    g_checksum_update(sum, (const guchar *)(s ? s : ""), (gssize)strlen(s ? s : "") + 1);
}

/* sg_quarantine_record - the row for msg */
enum sg_rc
sg_quarantine_record(struct sg_msg *msg, const struct sg_verdict *v, const struct sg_envelope *env,
                     time_t now, struct sg_quarantined *q, char **error_r)
{
    memset(q, 0, sizeof(*q));
    struct buf raw = {0};
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    sum_str(sum, env->env_from);
    for (size_t i = 0; i < env->nrcpts; i++)
        sum_str(sum, env->rcpts[i]);
    sum_str(sum, "");
    for (size_t i = 0; i < sg_msg_header_count(msg); i++) {
        const char *name = sg_msg_header_name(msg, i), *value = sg_msg_header_value(msg, i);
        buf_add(&raw, name, strlen(name));
        buf_add(&raw, ":", 1);
        buf_add_crlf(&raw, value);
        buf_add(&raw, "\r\n", 2);
        /* The MTA's own Received field names a new queue id on every attempt. */
        if (strcasecmp(name, "Received") != 0) {
            sum_str(sum, name);
            sum_str(sum, value);
        }
    }
    buf_add(&raw, "\r\n", 2);
    struct body_sink sink = {&raw, sum};
    enum sg_rc rc = sg_spool_read(sg_msg_body(msg), add_body, &sink, error_r);
    if (rc != SG_OK) {
        g_checksum_free(sum);
        free(raw.data);
        return rc;
    }

    q->time = (long long)now;
    q->queue_id = env->queue_id ? sg_xstrdup(env->queue_id) : NULL;
    q->client_addr = env->client_addr ? sg_xstrdup(env->client_addr) : NULL;
    q->env_from = sg_xstrdup(env->env_from ? env->env_from : "");
    q->rcpts = sg_xcalloc(env->nrcpts + 1, sizeof(*q->rcpts));
    for (size_t i = 0; i < env->nrcpts; i++)
        q->rcpts[i] = sg_xstrdup(env->rcpts[i]);
    q->nrcpts = env->nrcpts;
    const char *from = sg_msg_header_find(msg, "From", NULL);
    if (from != NULL) {
        q->from_header = sg_xstrdup(from + strspn(from, " \t"));
        for (char *p = q->from_header; *p; p++) /* one line in a listing */
            if (*p == '\r' || *p == '\n' || *p == '\t')
                *p = ' ';
    }
    q->subject = v->subject ? sg_xstrdup(v->subject) : NULL;
    q->score = v->score.total;
    const char *top = sg_verdict_top_rule(v);
    q->reason = top ? sg_xstrdup(top) : NULL;
    q->verdict_json = sg_json_verdict(v, NULL);
    q->state = sg_xstrdup("held");
    q->fingerprint = sg_xstrdup(g_checksum_get_string(sum));
    g_checksum_free(sum);
    q->raw = raw.data ? raw.data : sg_xcalloc(1, 1);
    q->raw_len = raw.len;
    return SG_OK;
}

/* sg_quarantine_record_clear - the strings and bytes */
void
sg_quarantine_record_clear(struct sg_quarantined *q)
{
    free(q->queue_id);
    free(q->client_addr);
    free(q->env_from);
    sg_strv_free(q->rcpts);
    free(q->from_header);
    free(q->subject);
    free(q->reason);
    free(q->verdict_json);
    free(q->state);
    free(q->fingerprint);
    free(q->raw);
    memset(q, 0, sizeof(*q));
}

/* sg_release_token - 32 random bytes as hex */
char *
sg_release_token(char **error_r)
{
    unsigned char bytes[32];
    size_t got = 0;
    while (got < sizeof(bytes)) {
        ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *error_r = sg_xasprintf("cannot get random bytes for a release token: %s",
                                    strerror(errno));
            return NULL;
        }
        got += (size_t)n;
    }
    char *token = sg_xmalloc(2 * sizeof(bytes) + 1);
    for (size_t i = 0; i < sizeof(bytes); i++)
        snprintf(token + 2 * i, 3, "%02x", bytes[i]);
    return token;
}

/* sg_release_message - release header plus raw, with the line ends asked for */
char *
sg_release_message(const unsigned char *raw, size_t raw_len, const char *token, bool crlf,
                   size_t *len_r)
{
    struct buf b = {0};
    const char *eol = crlf ? "\r\n" : "\n";
    buf_add(&b, SG_RELEASE_HEADER ": ", strlen(SG_RELEASE_HEADER) + 2);
    buf_add(&b, token, strlen(token));
    buf_add(&b, eol, strlen(eol));
    for (size_t i = 0; i < raw_len; i++) {
        if (raw[i] == '\r' && i + 1 < raw_len && raw[i + 1] == '\n') {
            buf_add(&b, eol, strlen(eol));
            i++;
        } else if (raw[i] == '\n') {
            buf_add(&b, eol, strlen(eol));
        } else {
            buf_add(&b, &raw[i], 1);
        }
    }
    *len_r = b.len;
    return (char *)(b.data ? b.data : sg_xcalloc(1, 1));
}
