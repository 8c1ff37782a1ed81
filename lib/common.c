/*
 * common.c - result names and allocation that aborts on failure.
 */
#include "common.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sg_rc_str - the name of a result */
const char *
sg_rc_str(enum sg_rc rc)
{
    switch (rc) {
    case SG_OK:
        return "ok";
    case SG_TEMP:
        return "temporary failure";
    case SG_PERM:
        return "permanent failure";
    case SG_INTERNAL:
        return "internal error";
    }
    return "unknown";
}

/* oom - no memory left: nothing sensible can go on */
static void
oom(size_t n)
{
    fprintf(stderr, "sendguard: out of memory allocating %zu bytes\n", n);
    abort();
}

/* sg_xmalloc - malloc or abort */
void *
sg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

/* sg_xcalloc - calloc or abort */
void *
sg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

/* sg_xrealloc - realloc or abort */
void *
sg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

/* sg_xstrdup - strdup or abort */
char *
sg_xstrdup(const char *s)
{
    return sg_xstrndup(s, strlen(s));
}

/* sg_xstrndup - strndup or abort */
char *
sg_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = sg_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* sg_xasprintf - formatted new string or abort */
char *
sg_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        oom(strlen(fmt));
    va_end(ap);
    return s;
}

/* sg_strv_free - free each string, then the array */
void
sg_strv_free(char **list)
{
    if (list == NULL)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

/* sg_strlcpy - bounded copy, always terminated */
size_t
sg_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

/* sg_addr_plain - dot-atom@labels, ASCII */
bool
sg_addr_plain(const char *addr)
{
    const char *at = strchr(addr, '@');
    if (at == NULL || at == addr || strchr(at + 1, '@') != NULL)
        return false;
    /* local part: atext and single dots, not first or last */
    for (const char *p = addr; p < at; p++) {
        bool dot = *p == '.';
        if (dot && (p == addr || p + 1 == at || p[1] == '.'))
            return false;
        if (!dot && !isalnum((unsigned char)*p) && strchr("!#$%&'*+/=?^_`{|}~-", *p) == NULL)
            return false;
        if ((unsigned char)*p >= 0x80)
            return false;
    }
    /* domain: labels of letters, digits and hyphens, at least two */
    size_t labels = 0, len = 0;
    for (const char *p = at + 1;; p++) {
        if (*p == '.' || *p == '\0') {
            if (len == 0 || len > 63)
                return false;
            labels++;
            len = 0;
            if (*p == '\0')
                break;
        } else if (isalnum((unsigned char)*p) && (unsigned char)*p < 0x80) {
            len++;
        } else if (*p == '-' && len > 0) {
            len++;
        } else {
            return false;
        }
    }
    return labels >= 2;
}

/* sg_str_lower - ASCII lower case in place */
char *
sg_str_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}
