/*
 * common.h - what every sendguard module shares: the one return type for
 * fallible calls, and allocation that cannot fail (it aborts on OOM, so
 * callers carry no dead out-of-memory branches).
 */
#ifndef SG_COMMON_H
#define SG_COMMON_H

#include <stdbool.h>
#include <stddef.h>

/* Result of every fallible call.  TEMP maps to a tempfail: the MTA keeps the mail. */
enum sg_rc {
    SG_OK = 0,   /* done */
    SG_TEMP,     /* transient: retry later (DNS timeout, disk full) */
    SG_PERM,     /* the input is wrong and will stay wrong */
    SG_INTERNAL, /* sendguard or a library misbehaved */
};

/* sg_rc_str - the name of a result, for logs ("ok", "temporary", ...) */
const char *sg_rc_str(enum sg_rc rc);

/* sg_xmalloc and friends - allocate or abort; never return NULL */
void *sg_xmalloc(size_t n);
void *sg_xcalloc(size_t n, size_t size);
void *sg_xrealloc(void *p, size_t n);
char *sg_xstrdup(const char *s);
char *sg_xstrndup(const char *s, size_t n);
/* sg_xasprintf - printf into a new string, caller frees */
char *sg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* sg_strv_free - free a NULL-terminated array of strings and the array (NULL-safe) */
void sg_strv_free(char **list);

/* sg_strlcpy - copy with truncation, always NUL-terminated; returns strlen(src) */
size_t sg_strlcpy(char *dst, const char *src, size_t size);

/* sg_addr_plain - is addr a plain ASCII local@domain (a dot-atom local
 * part, letter/digit/hyphen labels, at least two), usable as an envelope
 * sender as it is? */
bool sg_addr_plain(const char *addr);

/* sg_str_lower - lower-case ASCII in place; returns s */
char *sg_str_lower(char *s);

#define SG_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
