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
#include <unistd.h>

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

/* add_body - sg_spool_read callback: the body into the checksum */
static bool
add_body(const void *data, size_t len, void *arg)
{
    g_checksum_update(arg, data, (gssize)len);
    return true;
}

/* sum_str - a string and its terminating NUL into the checksum */
static void
sum_str(GChecksum *sum, const char *s)
{
    g_checksum_update(sum, (const guchar *)(s ? s : ""), (gssize)strlen(s ? s : "") + 1);
}

/* Where the raw bytes come from: the header section, built in memory
 * (at most SG_MSG_MAX_HEADER_BYTES and its line ends), then the body spool. */
struct raw_source {
    struct buf head;
    struct sg_spool *body;
};

/* read_raw - q->raw_read: len bytes at offset */
static bool
read_raw(void *arg, size_t offset, void *buf, size_t len)
{
    struct raw_source *src = arg;
    unsigned char *out = buf;
    if (offset < src->head.len) {
        size_t n = src->head.len - offset < len ? src->head.len - offset : len;
        memcpy(out, src->head.data + offset, n);
        out += n;
        len -= n;
        offset += n;
    }
    if (len == 0)
        return true;
    size_t boff = offset - src->head.len, mem_len;
    const unsigned char *mem = sg_spool_memory(src->body, &mem_len);
    if (mem != NULL) {
        if (boff + len > mem_len)
            return false;
        memcpy(out, mem + boff, len);
        return true;
    }
    int fd = sg_spool_fd(src->body);
    while (len > 0) {
        ssize_t n = pread(fd, out, len, (off_t)boff);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        out += n;
        boff += (size_t)n;
        len -= (size_t)n;
    }
    return true;
}

/* sg_quarantine_record - the row for msg */
enum sg_rc
sg_quarantine_record(struct sg_msg *msg, const struct sg_verdict *v, const struct sg_envelope *env,
                     time_t now, struct sg_quarantined *q, char **error_r)
{
    memset(q, 0, sizeof(*q));
    struct raw_source *src = sg_xcalloc(1, sizeof(*src));
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    sum_str(sum, env->env_from);
    for (size_t i = 0; i < env->nrcpts; i++)
        sum_str(sum, env->rcpts[i]);
    sum_str(sum, "");
    for (size_t i = 0; i < sg_msg_header_count(msg); i++) {
        const char *name = sg_msg_header_name(msg, i), *value = sg_msg_header_value(msg, i);
        /* The milter removed it from what leaves; a stored one would spoil
         * every later release of this message (two headers are no release). */
        if (strcasecmp(name, SG_RELEASE_HEADER) == 0)
            continue;
        buf_add(&src->head, name, strlen(name));
        buf_add(&src->head, ":", 1);
        buf_add_crlf(&src->head, value);
        buf_add(&src->head, "\r\n", 2);
        /* The MTA's own Received field names a new queue id on every attempt. */
        if (strcasecmp(name, "Received") != 0) {
            sum_str(sum, name);
            sum_str(sum, value);
        }
    }
    buf_add(&src->head, "\r\n", 2);
    src->body = sg_msg_body(msg);
    enum sg_rc rc = sg_spool_read(src->body, add_body, sum, error_r);
    if (rc != SG_OK) {
        g_checksum_free(sum);
        free(src->head.data);
        free(src);
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
    q->raw_len = src->head.len + sg_spool_size(src->body);
    q->raw_read = read_raw;
    q->raw_arg = src;
    return SG_OK;
}

/* The body as a release token sees it: without CRs (SMTP and sendmail
 * differ there) and without empty lines at the end (a client may add one
 * when it ends the data; DKIM ignores them too). */
struct body_sum {
    GChecksum *sum;
    size_t newlines; /* LFs not yet hashed: hashed once something follows */
};

/* sum_body - sg_spool_read callback: the body, normalised, into the checksum */
static bool
sum_body(const void *data, size_t len, void *arg)
{
    struct body_sum *b = arg;
    const char *p = data, *end = p + len;
    while (p < end) {
        if (*p == '\r') {
            p++;
        } else if (*p == '\n') {
            b->newlines++;
            p++;
        } else {
            for (; b->newlines > 0; b->newlines--)
                g_checksum_update(b->sum, (const guchar *)"\n", 1);
            const char *stop = p;
            while (stop < end && *stop != '\r' && *stop != '\n')
                stop++;
            g_checksum_update(b->sum, (const guchar *)p, (gssize)(stop - p));
            p = stop;
        }
    }
    return true;
}

/* sg_quarantine_body_hash - of the message's body */
char *
sg_quarantine_body_hash(struct sg_msg *msg, char **error_r)
{
    struct body_sum b = {g_checksum_new(G_CHECKSUM_SHA256), 0};
    char *hash = NULL;
    if (sg_spool_read(sg_msg_body(msg), sum_body, &b, error_r) == SG_OK)
        hash = sg_xstrdup(g_checksum_get_string(b.sum));
    g_checksum_free(b.sum);
    return hash;
}

/* sg_quarantine_raw_body_hash - of the body of a stored raw message */
char *
sg_quarantine_raw_body_hash(const unsigned char *raw, size_t len)
{
    const unsigned char *body = raw + len;
    for (size_t i = 0; i + 1 < len; i++) {
        if (raw[i] == '\n' && raw[i + 1] == '\n') {
            body = raw + i + 2;
            break;
        }
        if (raw[i] == '\n' && raw[i + 1] == '\r' && i + 2 < len && raw[i + 2] == '\n') {
            body = raw + i + 3;
            break;
        }
    }
    struct body_sum b = {g_checksum_new(G_CHECKSUM_SHA256), 0};
    sum_body(body, (size_t)(raw + len - body), &b);
    char *hash = sg_xstrdup(g_checksum_get_string(b.sum));
    g_checksum_free(b.sum);
    return hash;
}

/* sg_quarantine_record_clear - the strings and bytes */
void
sg_quarantine_record_clear(struct sg_quarantined *q)
{
    struct raw_source *src = q->raw_arg;
    if (src != NULL) {
        free(src->head.data);
        free(src);
    }
    sg_quarantined_clear(q); /* q->raw: NULL unless a caller read the bytes into it */
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
