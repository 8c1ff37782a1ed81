/*
 * message.c - header fields in arrival order plus a body spool.
 */
#include "message.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sg_header {
    char *name;
    char *value;
};

struct sg_msg {
    struct sg_header *headers;
    size_t nheaders, cap;
    size_t header_bytes;
    bool header_overflow;
    struct sg_spool *body;
};

/* sg_msg_new - an empty message */
struct sg_msg *
sg_msg_new(size_t mem_limit, const char *spool_dir)
{
    struct sg_msg *m = sg_xcalloc(1, sizeof(*m));
    m->body = sg_spool_new(mem_limit, spool_dir);
    return m;
}

/* sg_msg_free - free fields and spool */
void
sg_msg_free(struct sg_msg **mp)
{
    struct sg_msg *m = *mp;
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nheaders; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
    }
    free(m->headers);
    sg_spool_free(&m->body);
    free(m);
    *mp = NULL;
}

/* sg_msg_add_header - append a field, within the memory bound */
void
sg_msg_add_header(struct sg_msg *m, const char *name, const char *value)
{
    size_t bytes = strlen(name) + strlen(value) + 3;
    if (m->header_overflow || m->header_bytes + bytes > SG_MSG_MAX_HEADER_BYTES) {
        m->header_overflow = true;
        return;
    }
    m->header_bytes += bytes;
    if (m->nheaders == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->headers = sg_xrealloc(m->headers, m->cap * sizeof(*m->headers));
    }
    m->headers[m->nheaders].name = sg_xstrdup(name);
    m->headers[m->nheaders].value = sg_xstrdup(value);
    m->nheaders++;
}

/* sg_msg_header_replace - new value for the first field of that name */
bool
sg_msg_header_replace(struct sg_msg *m, const char *name, const char *value)
{
    for (size_t i = 0; i < m->nheaders; i++) {
        if (strcasecmp(m->headers[i].name, name) != 0)
            continue;
        m->header_bytes += strlen(value);
        m->header_bytes -= strlen(m->headers[i].value);
        free(m->headers[i].value);
        m->headers[i].value = sg_xstrdup(value);
        /* The MTA writes the name it is given ("FROM:" becomes "From:"). */
        free(m->headers[i].name);
        m->headers[i].name = sg_xstrdup(name);
        return true;
    }
    return false;
}

/* sg_msg_header_overflow - fields dropped? */
bool
sg_msg_header_overflow(const struct sg_msg *m)
{
    return m->header_overflow;
}

/* sg_msg_header_count - number of fields */
size_t
sg_msg_header_count(const struct sg_msg *m)
{
    return m->nheaders;
}

/* sg_msg_header_name - name of field i */
const char *
sg_msg_header_name(const struct sg_msg *m, size_t i)
{
    return m->headers[i].name;
}

/* sg_msg_header_value - value of field i */
const char *
sg_msg_header_value(const struct sg_msg *m, size_t i)
{
    return m->headers[i].value;
}

/* sg_msg_header_find - first value by name, and how many there are */
const char *
sg_msg_header_find(const struct sg_msg *m, const char *name, size_t *count_r)
{
    const char *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < m->nheaders; i++) {
        if (strcasecmp(m->headers[i].name, name) == 0) {
            if (first == NULL)
                first = m->headers[i].value;
            n++;
        }
    }
    if (count_r != NULL)
        *count_r = n;
    return first;
}

/* sg_msg_add_body - append to the spool */
enum sg_rc
sg_msg_add_body(struct sg_msg *m, const void *data, size_t len, char **error_r)
{
    return sg_spool_append(m->body, data, len, error_r);
}

/* sg_msg_body - the spool */
struct sg_spool *
sg_msg_body(struct sg_msg *m)
{
    return m->body;
}

/* line_end - index just past the line starting at p (CRLF or LF), and the content length */
static size_t
line_end(const char *data, size_t len, size_t p, size_t *content_r)
{
    size_t e = p;
    while (e < len && data[e] != '\n')
        e++;
    size_t content = e;
    if (content > p && data[content - 1] == '\r')
        content--;
    *content_r = content - p;
    return e < len ? e + 1 : e;
}

/* sg_msg_parse - fields up to the first empty line, then the body with CRLF line ends */
enum sg_rc
sg_msg_parse(struct sg_msg *m, const char *data, size_t len, char **error_r)
{
    size_t p = 0, clen;
    char *name = NULL, *value = NULL;
    size_t vlen = 0;

    while (p < len) {
        size_t next = line_end(data, len, p, &clen);
        const char *line = data + p;
        if (clen == 0) { /* end of header */
            p = next;
            break;
        }
        if ((line[0] == ' ' || line[0] == '\t') && name != NULL) {
            /* Continuation: keep the folding as the MTA would send it (LF). */
            value = sg_xrealloc(value, vlen + 1 + clen + 1);
            value[vlen++] = '\n';
            memcpy(value + vlen, line, clen);
            vlen += clen;
            value[vlen] = '\0';
        } else {
            const char *colon = memchr(line, ':', clen);
            if (colon == NULL) {
                /* Not a header line: treat the rest as body, as MTAs do. */
                break;
            }
            if (name != NULL)
                sg_msg_add_header(m, name, value);
            free(name);
            free(value);
            name = sg_xstrndup(line, (size_t)(colon - line));
            vlen = clen - (size_t)(colon - line) - 1;
            value = sg_xstrndup(colon + 1, vlen);
        }
        p = next;
    }
    if (name != NULL)
        sg_msg_add_header(m, name, value);
    free(name);
    free(value);

    /* The body, with every line ending as CRLF, as an MTA hands it over. */
    while (p < len) {
        size_t next = line_end(data, len, p, &clen);
        bool terminated = next > p + clen; /* the line ended in LF or CRLF */
        enum sg_rc rc = sg_msg_add_body(m, data + p, clen, error_r);
        if (rc == SG_OK && terminated)
            rc = sg_msg_add_body(m, "\r\n", 2, error_r);
        if (rc != SG_OK)
            return rc;
        p = next;
    }
    return SG_OK;
}
