/*
 * psl.h - organisational ("registrable") domains through the Public Suffix
 * List (libpsl, with Debian's list), so that mail.example.co.uk and
 * www.example.co.uk count as one organisation.  The only user of libpsl.
 * Thread-safe after sg_psl_init.
 */
#ifndef SG_PSL_H
#define SG_PSL_H

#include "common.h"

/* sg_psl_init - load the list once per process (before threads start) */
void sg_psl_init(void);

/* sg_psl_org_domain - the registrable domain of a host name, lower case
 * (caller frees); the host itself when it has none (a bare suffix, an IP) */
char *sg_psl_org_domain(const char *host);

/* sg_psl_known_suffix - does the host end in a suffix the list knows (nl,
 * co.uk, com...)?  "factuur.pdf" does not: pdf is no top-level domain. */
bool sg_psl_known_suffix(const char *host);

#endif
