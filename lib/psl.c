/*
 * psl.c - libpsl wrapper.  psl_latest() reads the distribution's list
 * (/usr/share/publicsuffix) and falls back to the list built into libpsl.
 */
#include "psl.h"

#include <libpsl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *psl_ctx;

/* load - the list, once */
static void
load(void)
{
    psl_ctx = psl_latest(NULL);
    if (psl_ctx == NULL)
        psl_ctx = psl_builtin();
}

/* sg_psl_init - load the list */
void
sg_psl_init(void)
{
    pthread_once(&psl_once, load);
}

/* sg_psl_org_domain - registrable domain, or the host itself */
char *
sg_psl_org_domain(const char *host)
{
    sg_psl_init();
    char *lower = sg_str_lower(sg_xstrdup(host));
    size_t len = strlen(lower);
    while (len > 0 && lower[len - 1] == '.')
        lower[--len] = '\0';
    const char *reg = psl_ctx ? psl_registrable_domain(psl_ctx, lower) : NULL;
    char *out = sg_xstrdup(reg ? reg : lower);
    free(lower);
    return out;
}

/* sg_psl_known_suffix - the last label is a public suffix of the list itself
 * (not only by the list's "*" default rule) */
bool
sg_psl_known_suffix(const char *host)
{
    sg_psl_init();
    const char *dot = strrchr(host, '.');
    const char *tld = dot ? dot + 1 : host;
    if (psl_ctx == NULL || *tld == '\0')
        return false;
    char *lower = sg_str_lower(sg_xstrdup(tld));
    bool known = psl_is_public_suffix2(psl_ctx, lower, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0;
    free(lower);
    return known;
}
